//! The target's own links that the snapshot's members would be written
//! through are judged in preflight: one that climbs out of the root, or one
//! that leads to no directory where the snapshot has no directory of its
//! own (there the snapshot's directory replaces the link), stops the restore before any step runs, naming the link and its
//! target; the root (journal included) is left exactly as it was.

mod import_support;

use import_support::*;
use std::path::Path;

fn work() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-imp-links-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// Runs xcatimport, expects a preflight refusal containing `needle` and
/// the root byte-for-byte as before (no journal either).
fn refused_in_preflight(stick: &Path, new: &Tree, needle: &str) {
    let before = listing(new.root());
    let out = import(stick, new.root(), &["--skip-packages"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("preflight failed, nothing was changed: "),
        "{err}"
    );
    assert!(err.contains(needle), "{err}");
    assert_eq!(listing(new.root()), before, "root changed");
    assert!(!new.path("var/lib/xcatport").exists());
}

#[test]
fn a_link_climbing_out_of_the_root_stops_preflight_with_the_root_unchanged() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(UBUNTU, host_machine());
    let outside = w.path().join("etc");
    std::fs::create_dir(&outside).unwrap();
    new.symlink("install", "/../../etc");
    let root = new.root().display();
    refused_in_preflight(
        &stick,
        &new,
        &format!(
            "links: the symbolic link {root}/install -> /../../etc leads outside the root {root}; \
             refusing to write through it"
        ),
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);

    // --dry-run shows the same failed check, and --verify exits 1 on it
    let out = import(&stick, new.root(), &["--skip-packages", "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "FAIL links     the symbolic link {root}/install -> /../../etc leads outside the root"
        )),
        "{stdout}"
    );
}

#[test]
fn a_deeper_relative_link_out_of_the_root_is_named_too() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(UBUNTU, host_machine());
    new.dir("install/custom/keep");
    std::fs::remove_dir_all(new.path("install/custom")).unwrap();
    new.symlink("install/custom", "../../../../outside");
    let root = new.root().display();
    refused_in_preflight(
        &stick,
        &new,
        &format!(
            "links: the symbolic link {root}/install/custom -> ../../../../outside leads outside \
             the root {root}; refusing to write through it"
        ),
    );
}

#[test]
fn a_dangling_link_under_which_members_go_is_refused_unless_replaced() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    // /root holds members (root/.ssh) but is not one: a dangling link there
    // cannot be written through
    let new = fresh_root(UBUNTU, host_machine());
    std::fs::remove_dir(new.path("root")).unwrap();
    new.symlink("root", "/srv/root");
    let root = new.root().display();
    refused_in_preflight(
        &stick,
        &new,
        &format!(
            "links: the symbolic link {root}/root -> /srv/root does not lead to a \
             directory inside the root {root}; refusing to write through it"
        ),
    );
    // once the link leads to a directory, the restore goes through
    new.dir("srv/root");
    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(new.path("srv/root/.ssh/id_rsa")).unwrap(),
        "PRIVATE\n"
    );
}
