//! Shared pieces of the fault, hostile-input and secrets tests: the real
//! binaries, a small synthetic MN from `xcatport::fixture`, seeded
//! pseudo-random numbers, kill helpers and listings that ignore the journal.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use xcatport::fixture::{self, Family, Scale, Spec};
use xcatport::snapshot::{self, manifest, FileRecord, ManifestHead};

#[path = "../command_support/mod.rs"]
mod command;
#[allow(unused_imports)] // each test binary uses a part
pub use command::{stderr, text};

pub const EXPORT: &str = env!("CARGO_BIN_EXE_xcatexport");
pub const IMPORT: &str = env!("CARGO_BIN_EXE_xcatimport");

/// A scratch directory under /var/tmp (xattrs need a real filesystem).
pub fn work(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The small synthetic MN (RHEL family, seed 1) under `dir/mn`.
pub fn mn(dir: &Path) -> PathBuf {
    let root = dir.join("mn");
    fixture::build(&root, &Spec::new(Scale::Small, Family::Rhel, 1)).unwrap();
    root
}

/// A freshly installed target of the same family under `dir/<name>`, with
/// the `var/lib` every distro has (the journal goes under it and stays
/// after a rollback).
pub fn bare(dir: &Path, name: &str) -> PathBuf {
    let root = dir.join(name);
    fixture::build_bare(&root, &Spec::new(Scale::Small, Family::Rhel, 1)).unwrap();
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    root
}

/// A file that passes xcatexport's static-binary check.
pub fn static_stub(dir: &Path) -> PathBuf {
    let p = dir.join("xcatimport-stub");
    if !p.exists() {
        std::fs::write(&p, xcatport::target::binary::tiny_static_elf()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

/// The xcatexport command for `root` → `target`, output captured.
pub fn export_cmd(root: &Path, target: &Path, stub: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(EXPORT);
    cmd.arg("--root")
        .arg(root)
        .arg("--import-binary")
        .arg(stub)
        .args(extra)
        .arg(target)
        .stdin(Stdio::null());
    cmd
}

pub fn import_cmd(stick: &Path, root: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(IMPORT);
    cmd.arg(stick)
        .arg("--root")
        .arg(root)
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to the end.
pub fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

/// A small deterministic generator (xorshift64*), so every failure names
/// its seed and can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Spawns `cmd` quietly (output discarded).
pub fn spawn_quiet(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// SIGKILLs `child` (if still running) and reaps it; true when the kill
/// landed before the process finished on its own.
pub fn kill9(child: &mut Child) -> bool {
    let finished = child.try_wait().unwrap().is_some();
    if !finished {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    !finished && status.signal() == Some(9)
}

/// Busy-polls `cond` until it holds (→ true) or `child` exits or 30 s pass.
pub fn wait_for(child: &mut Child, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return cond();
        }
        std::thread::yield_now();
    }
    false
}

/// The manifest head and file records of a stick.
pub fn records(stick: &Path) -> (ManifestHead, Vec<FileRecord>) {
    let mut v = Vec::new();
    let head = manifest::read(&stick.join(snapshot::MANIFEST), &mut |r| {
        v.push(r);
        Ok(())
    })
    .unwrap();
    (head, v)
}

/// The canonical listing of a root (xcatport::fixture::listing) without
/// the journal (`var/lib/xcatport`); the mtime of an entry is replaced by
/// `MTIME` where `keep_mtime` says no (creating the journal bumps
/// `var/lib`; entries that are not snapshot members keep the time they
/// were created at).
pub fn listing_masked(root: &Path, keep_mtime: &dyn Fn(&Path) -> bool) -> Vec<String> {
    use std::os::unix::ffi::OsStrExt;
    let lines = xcatport::fixture::listing::listing(root).unwrap();
    let paths: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(root).unwrap().to_path_buf())
        .collect();
    assert_eq!(lines.len(), paths.len());
    lines
        .into_iter()
        .zip(paths)
        .filter(|(_, p)| !p.starts_with("var/lib/xcatport"))
        .map(|(line, p)| {
            if keep_mtime(&p) && p != Path::new("var/lib") {
                return line;
            }
            let name = xcatport::fixture::listing::escape(p.as_os_str().as_bytes());
            let head = line.strip_suffix(&format!(" {name}")).unwrap();
            let (head, _mtime) = head.rsplit_once(' ').unwrap();
            format!("{head} MTIME {name}")
        })
        .collect()
}

/// The listing without the journal, every other mtime kept.
pub fn listing_without_journal(root: &Path) -> Vec<String> {
    listing_masked(root, &|_| true)
}

/// The step a journal shows as `state` (e.g. "running"), if any.
pub fn step_in(root: &Path, step: &str, state: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(root.join("var/lib/xcatport/journal.json")) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v["steps"].as_array().is_some_and(|steps| {
        steps
            .iter()
            .any(|s| s["name"] == step && s["state"] == state)
    })
}

/// Unmounts a mount point on drop (a test that panics leaves no mount).
pub struct Mount(pub PathBuf);

impl Mount {
    /// A tmpfs of `size` (e.g. `2m`) on `dir` (created).
    pub fn tmpfs(dir: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", dir.display());
        Mount(dir.to_path_buf())
    }

    /// Bind-mounts `from` onto `onto`.
    pub fn bind(from: &Path, onto: &Path) -> Mount {
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(onto)
            .status()
            .unwrap()
            .success();
        assert!(ok, "bind {} on {}", from.display(), onto.display());
        Mount(onto.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The real export of the fixture with `extra` export arguments, in
/// `<work>/base`, made once per work dir.
pub fn base_stick(work: &Path, extra: &[&str]) -> PathBuf {
    let stick = work.join("base");
    if !stick.exists() {
        let mn = mn(work);
        let out = run(export_cmd(&mn, &stick, &static_stub(work), extra));
        assert!(out.status.success(), "{}", text(&out));
        std::fs::remove_dir_all(&mn).unwrap();
    }
    stick
}

/// A copy of the stick `from` (a flat directory) at `to`.
pub fn copy_stick(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Forges a consistent stick: its data volume becomes `tar` compressed
/// with zstd (`xcat-data.tar.zst`), MANIFEST.json lists that volume and
/// gets `edit`'s further changes, and SHA256SUMS is rewritten to match.
pub fn replace_data(stick: &Path, tar: &[u8], edit: impl FnOnce(&mut serde_json::Value)) {
    use sha2::{Digest, Sha256};
    let name = "xcat-data.tar.zst";
    let data = zstd::encode_all(tar, 3).unwrap();
    std::fs::write(stick.join(name), &data).unwrap();
    let manifest = stick.join(snapshot::MANIFEST);
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["data"]["volumes"] = serde_json::json!([{
        "name": name,
        "size": data.len(),
        "sha256": hex::encode(Sha256::digest(&data)),
    }]);
    edit(&mut m);
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    resum(stick);
}

/// Rewrites SHA256SUMS over every other file of the stick.
pub fn resum(stick: &Path) {
    use sha2::{Digest, Sha256};
    let mut names: Vec<String> = std::fs::read_dir(stick)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort();
    let text: String = names
        .iter()
        .map(|n| {
            let sha = hex::encode(Sha256::digest(std::fs::read(stick.join(n)).unwrap()));
            format!("{sha}  {n}\n")
        })
        .collect();
    std::fs::write(stick.join("SHA256SUMS"), text).unwrap();
}
