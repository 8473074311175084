//! Man pages (clap_mangen) and shell completions (clap_complete) generated
//! from the same clap definitions the binaries parse.

use crate::error::{IoContext, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The clap command of every user-facing binary.
pub fn commands() -> Vec<clap::Command> {
    vec![
        super::ExportArgs::command(),
        super::ImportArgs::command(),
        super::ImgExportArgs::command(),
        super::ImgImportArgs::command(),
        super::DbArgs::command(),
        super::ReconfigArgs::command(),
    ]
}

/// Writes `man/<cmd>.1` (and `<cmd>-<sub>.1` for subcommands) and
/// `completions/{bash,zsh,fish}/…` under `out`; returns the files written.
pub fn write_all(out: &Path) -> Result<Vec<PathBuf>> {
    let man_dir = out.join("man");
    std::fs::create_dir_all(&man_dir).at(&man_dir)?;
    let mut written = Vec::new();
    for cmd in commands() {
        let cmd = cmd.clone();
        let name = cmd.get_name().to_string();
        let mut pages = vec![(name.clone(), cmd.clone())];
        for sub in cmd.get_subcommands() {
            pages.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        for (page, page_cmd) in pages {
            let path = man_dir.join(format!("{page}.1"));
            let mut buf = Vec::new();
            clap_mangen::Man::new(page_cmd.name(page.clone()))
                .render(&mut buf)
                .at(&path)?;
            std::fs::write(&path, buf).at(&path)?;
            written.push(path);
        }
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let dir = out.join("completions").join(shell.to_string());
            std::fs::create_dir_all(&dir).at(&dir)?;
            let mut c = cmd.clone();
            let path = clap_complete::generate_to(shell, &mut c, &name, &dir).at(&dir)?;
            written.push(path);
        }
    }
    Ok(written)
}
