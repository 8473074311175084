//! Helpers that `scripts/bench` needs and no shipped command offers:
//!
//! - `bench_support db ROOT NODES`: an xCAT SQLite database of NODES nodes
//!   under `ROOT/etc/xcat` (the fixture's tables, filled per node), for the
//!   xcatdb dump/restore scenario at 100,000 nodes;
//! - `bench_support import-stand-in PATH`: a minimal static ELF for
//!   `xcatexport --import-binary` when no static xcatimport has been built
//!   (the export only copies it to the stick).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["db", root, nodes] => populate(root, nodes),
        ["import-stand-in", path] => stand_in(path),
        _ => Err("usage: bench_support db ROOT NODES | bench_support import-stand-in PATH".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench_support: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn populate(root: &str, nodes: &str) -> Result<(), String> {
    let nodes: usize = nodes
        .parse()
        .map_err(|e| format!("node count {nodes:?}: {e}"))?;
    let root = PathBuf::from(root);
    let dir = root.join("etc/xcat");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    xcatport::fixture::db::populate(&root, nodes).map_err(|e| e.to_string())
}

fn stand_in(path: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = xcatport::target::binary::tiny_static_elf();
    std::fs::write(path, bytes).map_err(|e| format!("{path}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{path}: {e}"))
}
