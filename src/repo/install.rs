//! Restore side, second half: install packages with the distro's own
//! package manager from the registered repos.
//!
//! On `/` the package manager runs plainly and sees every repo the admin
//! configured plus ours. Into another root the package managers read
//! `file://` base URLs as host paths, not root paths, so they are handed a
//! temporary repo directory with host paths (same gpgcheck settings), and
//! librpm is told where the root's database is (Debian's rpm would put it
//! in `~/.rpmdb`). apt into a root resolves the debs from our repos itself
//! and installs them in one `dpkg --root -i`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::mn::packages::rpm_db_dir;
use crate::mn::root::{RelPath, Root};
use crate::mn::{Distro, PackageManager};
use crate::repo::metadata::{read_deb_packages, RepoPackage};
use crate::repo::register::rpm_definition_at;
use crate::repo::{stderr_summary, RepoIndex, RepoKind, INDEX_MEMBER, REPOS_DIR};

/// Installs `packages` (names) under `root` with `manager`, from the repos
/// [`crate::repo::register`] registered there (and, on `/`, the admin's).
pub fn install(root: &Root, manager: PackageManager, packages: &[String]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    if root.is_host_root() {
        return install_on_host(manager, packages);
    }
    let index = read_registered(root)?;
    match manager {
        PackageManager::Dnf | PackageManager::Yum | PackageManager::Zypper => {
            install_rpm(root, manager, &index, packages)
        }
        PackageManager::Apt => install_debs(root, &index, packages),
    }
}

fn install_on_host(manager: PackageManager, packages: &[String]) -> Result<()> {
    let pk = packages.iter().map(OsString::from);
    match manager {
        PackageManager::Dnf | PackageManager::Yum => run(
            manager.as_str(),
            ["-y", "install"]
                .map(OsString::from)
                .into_iter()
                .chain(pk)
                .collect(),
            &[],
        ),
        PackageManager::Zypper => run(
            "zypper",
            ["--non-interactive", "install"]
                .map(OsString::from)
                .into_iter()
                .chain(pk)
                .collect(),
            &[],
        ),
        PackageManager::Apt => {
            let env = [("DEBIAN_FRONTEND", OsString::from("noninteractive"))];
            run("apt-get", vec!["update".into()], &env)?;
            run(
                "apt-get",
                ["install", "-y"]
                    .map(OsString::from)
                    .into_iter()
                    .chain(pk)
                    .collect(),
                &env,
            )
        }
    }
}

/// The index [`crate::repo::register`] left under the root.
fn read_registered(root: &Root) -> Result<RepoIndex> {
    let rel = RelPath::new(REPOS_DIR)?.join(INDEX_MEMBER)?;
    let host = root.resolve(&rel)?;
    let bytes = match std::fs::read(&host) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Refused(format!(
                "{}: no repos registered under {} (the repos step comes first)",
                host.display(),
                root.path().display()
            )))
        }
        Err(e) => return Err(Error::io(host, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::format(&host, 0, e.to_string()))
}

fn install_rpm(
    root: &Root,
    manager: PackageManager,
    index: &RepoIndex,
    packages: &[String],
) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("xcatport-repos.")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let reposdir = tmp.path().join("repos.d");
    std::fs::create_dir(&reposdir).at(&reposdir)?;
    let zypper = manager == PackageManager::Zypper;
    for repo in index.repos.iter().filter(|r| r.kind == RepoKind::RpmMd) {
        let dir = root.resolve(&RelPath::new(REPOS_DIR)?.join(&repo.name)?)?;
        let text = rpm_definition_at(repo, &dir, Some(root.path()), zypper);
        let file = reposdir.join(format!("xcatport-{}.repo", repo.name));
        std::fs::write(&file, text).at(&file)?;
    }
    // librpm reads ~/.rpmmacros: the one place to set the database path
    // for dnf and zypper alike without touching the host's configuration.
    let dbpath = match rpm_db_dir(root)? {
        Some(d) => root.relativize(&d)?.to_absolute(),
        None => PathBuf::from("/var/lib/rpm"),
    };
    let macros = tmp.path().join(".rpmmacros");
    std::fs::write(&macros, format!("%_dbpath {}\n", dbpath.display())).at(&macros)?;
    let env = [("HOME", tmp.path().as_os_str().to_owned())];
    let mut args: Vec<OsString> = Vec::new();
    if zypper {
        args.push("--root".into());
        args.push(root.path().into());
        args.push("--reposd-dir".into());
        args.push(reposdir.into());
        args.push("--non-interactive".into());
        args.push("install".into());
    } else {
        let distro = Distro::detect(root)?;
        let mut a = OsString::from("--installroot=");
        a.push(root.path());
        args.push(a);
        let mut r = OsString::from("--setopt=reposdir=");
        r.push(&reposdir);
        args.push(r);
        args.push(format!("--releasever={}", distro.major).into());
        args.push("-y".into());
        args.push("install".into());
    }
    args.extend(packages.iter().map(OsString::from));
    run(manager.as_str(), args, &env)
}

/// Installs `packages` and what they depend on from our repos with one
/// `dpkg --root R -i`; dependencies our repos do not have must already be
/// installed in the root (dpkg says which are not).
fn install_debs(root: &Root, index: &RepoIndex, packages: &[String]) -> Result<()> {
    let arch = host_deb_arch()?;
    let mut offered: BTreeMap<String, (PathBuf, RepoPackage)> = BTreeMap::new();
    for repo in index.repos.iter().filter(|r| r.kind == RepoKind::Deb) {
        let dir = root.resolve(&RelPath::new(REPOS_DIR)?.join(&repo.name)?)?;
        for idx in package_indexes(&dir)? {
            for p in read_deb_packages(&idx)? {
                if p.arch == "all" || p.arch == arch || p.arch.is_empty() {
                    offered.entry(p.name.clone()).or_insert((dir.clone(), p));
                }
            }
        }
    }
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = packages.to_vec();
    while let Some(name) = todo.pop() {
        if chosen.contains(&name) {
            continue;
        }
        let Some((_, p)) = offered.get(&name) else {
            if packages.contains(&name) {
                return Err(Error::Refused(format!(
                    "package {name} is in none of the repos registered under {}",
                    root.path().display()
                )));
            }
            continue;
        };
        for group in &p.depends {
            if let Some(alt) = group.iter().find(|a| offered.contains_key(*a)) {
                todo.push(alt.clone());
            }
        }
        chosen.insert(name);
    }
    let mut args: Vec<OsString> = vec!["--root".into(), root.path().into(), "-i".into()];
    for name in &chosen {
        if let Some((dir, p)) = offered.get(name) {
            let file = root.resolve(&root.relativize(dir)?.join(&p.file)?)?;
            args.push(file.into());
        }
    }
    run("dpkg", args, &[])
}

/// `Packages` indexes anywhere in a local repo copy (flat or `dists/`).
fn package_indexes(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut by_dir: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let p = e.path().unwrap_or(dir).to_path_buf();
            Error::io(p, e.into())
        })?;
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_file()
            && matches!(name.as_ref(), "Packages" | "Packages.gz" | "Packages.xz")
        {
            let parent = entry.path().parent().unwrap_or(dir).to_path_buf();
            // One index per directory: the plain one sorts first.
            by_dir
                .entry(parent)
                .or_insert_with(|| entry.path().to_path_buf());
        }
    }
    Ok(by_dir.into_values().collect())
}

fn host_deb_arch() -> Result<String> {
    let out = duct::cmd("dpkg", ["--print-architecture"])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::Command {
            command: "dpkg --print-architecture".into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: "dpkg --print-architecture".into(),
            detail: stderr_summary(&out.stderr),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs a package manager; a failure names the command line and carries
/// the end of its stderr (or stdout, where zypper puts its reasons).
fn run(program: &str, args: Vec<OsString>, env: &[(&str, OsString)]) -> Result<()> {
    let shown = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = duct::cmd(program, &args)
        .stdout_capture()
        .stderr_capture()
        .unchecked();
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.run().map_err(|e| Error::Command {
        command: shown.clone(),
        detail: if e.kind() == std::io::ErrorKind::NotFound {
            format!("{program} is not installed on this machine")
        } else {
            e.to_string()
        },
    })?;
    if !out.status.success() {
        let detail = if out.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            stderr_summary(&out.stderr)
        } else {
            stderr_summary(&out.stdout)
        };
        return Err(Error::Command {
            command: shown,
            detail: format!("exit {}: {detail}", out.status.code().unwrap_or(-1)),
        });
    }
    Ok(())
}
