//! Targets whose admin made data directories symlinks (`/install ->
//! /data/install`, `/tftpboot -> ../srv/tftpboot`): links that were there
//! before the restore and lead to a directory inside the root are followed
//! (chroot-style), the files land behind them and the links stay; rollback
//! goes back through the same paths. A link that climbs out of the root is
//! refused in preflight naming it, and nothing changes.

mod import_support;

use import_support::*;
use std::path::{Path, PathBuf};

fn work() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-imp-targets-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The listing of `root`, with `from/…` entries renamed `to/…`.
fn moved(
    l: &std::collections::BTreeMap<PathBuf, Listed>,
    from: &str,
    to: &str,
) -> std::collections::BTreeMap<PathBuf, Listed> {
    l.iter()
        .filter_map(|(p, v)| {
            p.strip_prefix(from)
                .ok()
                .map(|rest| (Path::new(to).join(rest), v.clone()))
        })
        .collect()
}

#[test]
fn files_go_through_the_admins_links_inside_the_root_and_the_links_stay() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(UBUNTU, host_machine());
    new.dir("data/install/keep")
        .file("data/install/keep/note", "admin's\n")
        .dir("srv/tftpboot")
        .symlink("install", "/data/install")
        .symlink("tftpboot", "srv/tftpboot");
    let before = listing(new.root());

    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert!(out.status.success(), "{}", text(&out));

    // the links are untouched, the files are behind them
    let after = listing(new.root());
    assert_eq!(
        after.get(Path::new("install")),
        before.get(Path::new("install"))
    );
    assert_eq!(
        after.get(Path::new("tftpboot")),
        before.get(Path::new("tftpboot"))
    );
    assert_eq!(
        std::fs::read_link(new.path("install")).unwrap(),
        Path::new("/data/install")
    );
    let source = listing(src.root());
    let members = members(&stick);
    let mut compared = 0;
    for (from, to) in [("install", "data/install"), ("tftpboot", "srv/tftpboot")] {
        let want = moved(&source, from, to);
        for (p, v) in &want {
            let member = Path::new(from).join(p.strip_prefix(to).unwrap());
            if p == Path::new(to) || !members.contains(&member) {
                continue; // the directory itself: compared below
            }
            assert_eq!(after.get(p), Some(v), "{}", p.display());
            compared += 1;
        }
    }
    assert!(compared >= 10, "{compared}");
    // the snapshot's /install directory metadata went onto /data/install
    let d = &after[Path::new("data/install")];
    let s = &source[Path::new("install")];
    assert_eq!((d.mode, &d.owner, d.mtime), (s.mode, &s.owner, s.mtime));
    // what the admin had there stays
    assert_eq!(
        std::fs::read_to_string(new.path("data/install/keep/note")).unwrap(),
        "admin's\n"
    );

    // rollback goes back through the same paths to the prior tree
    let out = import(&stick, new.root(), &["--rollback"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        without_journal(listing(new.root())),
        without_journal(before)
    );
}

#[test]
fn a_link_that_climbs_out_of_the_root_is_refused_naming_it() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(UBUNTU, host_machine());
    // Outside the root, beside it: what the link would reach on the host.
    let outside = w.path().join("etc");
    std::fs::create_dir(&outside).unwrap();
    new.symlink("install", "/../../etc");
    let before = listing(new.root());

    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    let root = new.root().display();
    assert!(
        err.contains(&format!(
            "the symbolic link {root}/install -> /../../etc leads outside the root {root}; \
             refusing to write through it"
        )),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(
        std::fs::read_link(new.path("install")).unwrap(),
        Path::new("/../../etc")
    );
    // refused in preflight: nothing written, no journal to roll back
    assert!(
        err.contains("preflight failed, nothing was changed: links: "),
        "{err}"
    );
    assert_eq!(listing(new.root()), before);
}
