//! The `xcatport-mkfixture` binary: one summary line on success, a clear
//! refusal for a non-empty DIR, clap's usage errors for bad options.

use std::fs;
use std::process::Command;

fn mkfixture() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xcatport-mkfixture"))
}

#[test]
fn builds_and_prints_one_summary_line() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let dir = tmp.path().join("mn");
    let out = mkfixture()
        .arg(&dir)
        .args(["--scale", "small", "--distro", "sles", "--seed", "7"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let prefix = format!("mkfixture: {}: sles small seed 7: ", dir.display());
    assert!(stdout.starts_with(&prefix), "{stdout}");
    assert!(
        stdout.contains(" files, ") && stdout.trim_end().ends_with(" s"),
        "{stdout}"
    );
    assert!(fs::read_to_string(dir.join("etc/os-release"))
        .unwrap()
        .contains("ID=\"sles\""));
}

#[test]
fn refuses_a_non_empty_dir_and_leaves_it_alone() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let out = mkfixture().arg(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("xcatport-mkfixture: error: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&tmp.path().display().to_string()) && stderr.contains("not empty"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["keep.txt"]);
}

#[test]
fn unknown_distro_is_a_usage_error() {
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let out = mkfixture()
        .arg(tmp.path().join("mn"))
        .args(["--distro", "gentoo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("mn").exists());
}

#[test]
fn bare_builds_a_fresh_distro_root_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new-mn");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xcatport-mkfixture"))
        .arg(&dir)
        .arg("--bare")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bare rhel root"), "{stdout}");
    assert!(dir.join("etc/os-release").is_file());
    assert!(dir.join("etc/passwd").is_file());
    assert!(!dir.join("etc/xcat").exists(), "no xCAT on a bare root");
    assert!(!dir.join("install").exists(), "no /install on a bare root");
}
