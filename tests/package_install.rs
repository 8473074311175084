//! The RPM and the DEB that scripts/package builds, installed into fresh
//! roots with rpm and dpkg: the exact file list, modes and owners, man pages
//! and completions that cover every option under the installed names, the
//! installed binaries' --version, and xcatexport run from the installed tree
//! finding the static xcatimport in ../libexec/xcatport.
//!
//! `XCATPORT_PACKAGE_DIR` may point at a directory holding prebuilt packages;
//! otherwise scripts/package builds them once for this test binary (it reuses
//! the release build that scripts/test made before `cargo test`).

use flate2::read::GzDecoder;
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use xcatport::cli::docs;

const TOP: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Packages {
    rpm: PathBuf,
    deb: PathBuf,
}

/// The packages, built at most once per test binary.
fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let dir = match std::env::var_os("XCATPORT_PACKAGE_DIR").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => {
                let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packages");
                let _ = std::fs::remove_dir_all(&out);
                let status = Command::new(Path::new(TOP).join("scripts/package"))
                    .arg("--out")
                    .arg(&out)
                    .current_dir(TOP)
                    .status()
                    .unwrap();
                assert!(status.success(), "scripts/package failed: {status}");
                out
            }
        };
        let find = |ext: &str| {
            let found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect();
            assert_eq!(found.len(), 1, "one .{ext} in {}: {found:?}", dir.display());
            found[0].clone()
        };
        Packages {
            rpm: find("rpm"),
            deb: find("deb"),
        }
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fresh_root(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The name a command is installed under: xCAT's own imgexport/imgimport
/// live in /opt/xcat/bin, so ours carry a prefix.
fn installed(name: &str) -> String {
    match name {
        "imgexport" | "imgimport" => format!("xcatport-{name}"),
        other => other.to_string(),
    }
}

/// Every file the package must install, and nothing else.
fn expected_files(zsh_dir: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for cmd in docs::commands() {
        let name = installed(cmd.get_name());
        files.insert(format!("usr/bin/{name}"));
        files.insert(format!("usr/share/man/man1/{name}.1.gz"));
        for sub in cmd.get_subcommands() {
            files.insert(format!("usr/share/man/man1/{name}-{}.1.gz", sub.get_name()));
        }
        files.insert(format!("usr/share/bash-completion/completions/{name}"));
        files.insert(format!("{zsh_dir}/_{name}"));
        files.insert(format!("usr/share/fish/vendor_completions.d/{name}.fish"));
    }
    files.insert("usr/libexec/xcatport/xcatimport".into());
    for entry in std::fs::read_dir(Path::new(TOP).join("profiles")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".toml") {
            files.insert(format!("usr/share/xcatport/profiles/{name}"));
        }
    }
    files.insert("usr/share/doc/xcatport/README.md".into());
    files.insert("usr/share/doc/xcatport/LICENSE".into());
    files
}

/// Files under `root/usr`, relative to `root` (none when dpkg removed
/// the emptied `usr` too).
fn installed_files(root: &Path) -> BTreeSet<String> {
    if !root.join("usr").exists() {
        return BTreeSet::new();
    }
    walkdir::WalkDir::new(root.join("usr"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn gunzip(path: &Path) -> String {
    let mut text = String::new();
    GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// roff spelling of an option as clap_mangen writes it: `\-\-no\-db`.
fn roff(option: &str) -> String {
    option.replace('-', "\\-")
}

/// Everything a package installs, checked in the root it was installed into.
fn check_installed(root: &Path, zsh_dir: &str) {
    assert_eq!(installed_files(root), expected_files(zsh_dir), "file list");

    for rel in expected_files(zsh_dir) {
        let meta = std::fs::symlink_metadata(root.join(&rel)).unwrap();
        let want = if rel.starts_with("usr/bin/") || rel.starts_with("usr/libexec/") {
            0o100755
        } else {
            0o100644
        };
        assert_eq!(meta.mode(), want, "{rel}: mode {:o}", meta.mode());
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{rel}: owner");
    }
    for dir in ["usr/libexec/xcatport", "usr/share/xcatport/profiles"] {
        let meta = std::fs::metadata(root.join(dir)).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o755, "{dir}");
    }
    xcatport::target::binary::check_static(&root.join("usr/libexec/xcatport/xcatimport")).unwrap();
    assert_eq!(
        std::fs::read(root.join("usr/share/doc/xcatport/LICENSE")).unwrap(),
        std::fs::read(Path::new(TOP).join("LICENSE")).unwrap()
    );

    check_docs(root, zsh_dir);
    check_versions(root);
    check_dry_run_finds_static_import(root);
}

/// Man pages and completions name the installed command and every option.
fn check_docs(root: &Path, zsh_dir: &str) {
    for cmd in docs::commands() {
        let name = installed(cmd.get_name());
        let mut pages = vec![(name.clone(), cmd.clone())];
        for sub in cmd.get_subcommands() {
            pages.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        for (page, page_cmd) in &pages {
            let text = gunzip(&root.join(format!("usr/share/man/man1/{page}.1.gz")));
            assert!(
                text.contains(&format!(".TH {page} 1 ")),
                "{page}.1 title: {}",
                text.lines().find(|l| l.starts_with(".TH")).unwrap_or("")
            );
            for arg in page_cmd.get_arguments() {
                if let Some(long) = arg.get_long() {
                    let want = format!("\\fB\\-\\-{}\\fR", roff(long));
                    assert!(text.contains(&want), "{page}.1 lacks --{long}");
                }
                if let Some(short) = arg.get_short() {
                    let want = format!("\\fB\\-{short}\\fR");
                    assert!(text.contains(&want), "{page}.1 lacks -{short}");
                }
            }
        }
        let bash = root.join(format!("usr/share/bash-completion/completions/{name}"));
        let zsh = root.join(format!("{zsh_dir}/_{name}"));
        let fish = root.join(format!("usr/share/fish/vendor_completions.d/{name}.fish"));
        let zsh_text = std::fs::read_to_string(&zsh).unwrap();
        assert!(
            zsh_text.starts_with(&format!("#compdef {name}\n")),
            "{}",
            zsh.display()
        );
        let fish_text = std::fs::read_to_string(&fish).unwrap();
        assert!(
            fish_text.contains(&format!("complete -c {name} ")),
            "{}",
            fish.display()
        );
        let bash_text = std::fs::read_to_string(&bash).unwrap();
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    bash_text.contains(&format!("--{long}")),
                    "{name}: bash lacks --{long}"
                );
                assert!(
                    zsh_text.contains(&format!("--{long}")),
                    "{name}: zsh lacks --{long}"
                );
                assert!(
                    fish_text.contains(&format!("-l {long}")),
                    "{name}: fish lacks --{long}"
                );
            }
        }
        // Loaded by a real bash, the completion is registered for the installed name.
        let spec = run(Command::new("bash").arg("-c").arg(format!(
            "source '{}' && complete -p '{name}'",
            bash.display()
        )));
        assert!(
            spec.trim_end().ends_with(&format!(" {name}")),
            "{name}: {spec}"
        );
    }
}

/// Every installed binary prints `<name> <version> (<commit>)`.
fn check_versions(root: &Path) {
    for cmd in docs::commands() {
        let bin = root.join("usr/bin").join(installed(cmd.get_name()));
        let out = run(Command::new(&bin).arg("--version"));
        let prefix = format!("{} {VERSION} (", cmd.get_name());
        let commit = out
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(")\n"))
            .unwrap_or_else(|| panic!("{}: {out:?}", bin.display()));
        assert!(
            commit == "unknown"
                || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{}: commit {commit:?}",
            bin.display()
        );
    }
}

/// xcatexport run from `root/usr/bin` picks `root/usr/libexec/xcatport/xcatimport`.
fn check_dry_run_finds_static_import(root: &Path) {
    let work = fresh_root("pkg-mn");
    let mn = work.path().join("mn");
    let stick = work.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_xcatport-mkfixture")).arg(&mn));
    let out = run(Command::new(root.join("usr/bin/xcatexport"))
        .env_remove("XCATPORT_IMPORT_BINARY")
        .arg("--root")
        .arg(&mn)
        .arg("--dry-run")
        .arg(&stick));
    let used = out
        .lines()
        .find_map(|l| l.strip_prefix("xcatimport: "))
        .unwrap_or_else(|| panic!("no xcatimport line in:\n{out}"));
    assert_eq!(
        std::fs::canonicalize(used).unwrap(),
        std::fs::canonicalize(root.join("usr/libexec/xcatport/xcatimport")).unwrap(),
        "{out}"
    );
    assert!(out.ends_with("dry run: nothing written\n"), "{out}");
    assert_eq!(
        std::fs::read_dir(&stick).unwrap().count(),
        0,
        "dry run wrote"
    );
}

#[test]
fn rpm_installs_into_a_fresh_root() {
    let pkgs = packages();
    let root = fresh_root("pkg-rpm");
    let r = root.path();
    let rpm = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.arg("--root")
            .arg(r)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args);
        c
    };
    run(rpm(&["-i", "--nodeps"]).arg(&pkgs.rpm));
    let arch = run(Command::new("uname").arg("-m"));
    assert_eq!(
        run(&mut rpm(&["-q", "xcatport"])).trim_end(),
        format!("xcatport-{VERSION}-1.{}", arch.trim())
    );
    // rpm checks sizes, digests, modes and owners against its database.
    run(&mut rpm(&["-V", "--nodeps", "xcatport"]));
    check_installed(r, "usr/share/zsh/site-functions");

    run(&mut rpm(&["-e", "--nodeps", "xcatport"]));
    assert_eq!(installed_files(r), BTreeSet::new(), "rpm -e leaves files");
}

#[test]
fn deb_installs_into_a_fresh_root() {
    let pkgs = packages();
    let root = fresh_root("pkg-deb");
    let r = root.path();
    let admin = r.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    let dpkg = |args: &[&str]| {
        let mut c = Command::new("dpkg");
        c.arg("--root").arg(r).args(args);
        c
    };
    run(dpkg(&["--force-depends", "-i"]).arg(&pkgs.deb));
    let arch = run(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        run(Command::new("dpkg-query")
            .arg("--admindir")
            .arg(&admin)
            .args([
                "-W",
                "-f",
                "${Status} ${Version} ${Architecture}",
                "xcatport"
            ])),
        format!("install ok installed {VERSION}-1 {}", arch.trim())
    );
    // dpkg compares every installed file with the package's md5sums.
    assert_eq!(run(&mut dpkg(&["--verify", "xcatport"])), "");
    check_installed(r, "usr/share/zsh/vendor-completions");

    run(&mut dpkg(&["--force-depends", "-r", "xcatport"]));
    assert_eq!(installed_files(r), BTreeSet::new(), "dpkg -r leaves files");
}
