//! Privileges: exporting or restoring the live `/` as an ordinary user is refused up
//! front with a clear message, before anything is read or written.

mod faults_support;

use faults_support::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn export_of_the_host_root_as_nobody_is_refused_clearly() {
    let w = work("xcatport-priv-");
    std::fs::set_permissions(w.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = w.path().join("xcatexport");
    std::fs::copy(EXPORT, &bin).unwrap();
    let target = w.path().join("stick");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("exporting / needs root"), "{err}");
    assert!(!target.exists());
}

#[test]
fn import_onto_the_host_root_as_nobody_is_refused_clearly() {
    let w = work("xcatport-priv-");
    std::fs::set_permissions(w.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = w.path().join("xcatimport");
    std::fs::copy(IMPORT, &bin).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("--yes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("restoring onto / needs root"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}
