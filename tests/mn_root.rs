//! Root confinement: every way out of `--root` is refused, each in its own test.

use std::os::unix::fs::symlink;
use std::path::Path;

use xcatport::mn::{RelPath, Root};
use xcatport::Error;

/// A root with a fake `etc/shadow`, inside a temp dir that also holds a
/// secret file next to (outside) the root.
struct World {
    _tmp: tempfile::TempDir,
    outside: std::path::PathBuf,
    root: Root,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("mn");
    std::fs::create_dir_all(base.join("etc")).unwrap();
    std::fs::write(base.join("etc/shadow"), "root:inside-the-root:\n").unwrap();
    let outside = tmp.path().join("secret");
    std::fs::write(&outside, "HOST SECRET\n").unwrap();
    let root = Root::open(&base).unwrap();
    World {
        _tmp: tmp,
        outside,
        root,
    }
}

fn rel(p: &str) -> RelPath {
    RelPath::new(p).unwrap()
}

fn assert_escape(e: Error, names: &[&str]) {
    let msg = e.to_string();
    assert!(matches!(e, Error::Escape { .. }), "not an escape: {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    for n in names {
        assert!(msg.contains(n), "{msg:?} should name {n:?}");
    }
}

#[test]
fn dotdot_in_request_is_refused() {
    let e = RelPath::new("etc/../../secret").unwrap_err();
    assert_escape(e, &["etc/../../secret", ".."]);
    let e = RelPath::new("../secret").unwrap_err();
    assert_escape(e, &["../secret"]);
}

#[test]
fn dotdot_via_relative_symlink_is_refused() {
    let w = world();
    symlink("../../secret", w.root.path().join("etc/leak")).unwrap();
    let e = w.root.resolve(&rel("etc/leak")).unwrap_err();
    assert_escape(e, &["etc/leak -> ../../secret", "climbs above the root"]);
    // Also as a directory on the way, not only as the last component.
    symlink("../..", w.root.path().join("etc/up")).unwrap();
    let e = w.root.resolve(&rel("etc/up/secret")).unwrap_err();
    assert_escape(e, &["etc/up -> ../..", "etc/up/secret"]);
}

#[test]
fn relative_dotdot_that_stays_inside_is_followed() {
    let w = world();
    std::fs::create_dir_all(w.root.path().join("usr/lib")).unwrap();
    std::fs::write(w.root.path().join("usr/lib/os-release"), "ID=rocky\n").unwrap();
    symlink(
        "../usr/lib/os-release",
        w.root.path().join("etc/os-release"),
    )
    .unwrap();
    let p = w.root.resolve(&rel("/etc/os-release")).unwrap();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "ID=rocky\n");
}

#[test]
fn absolute_symlink_is_rerooted_never_reaching_the_host() {
    let w = world();
    symlink("/etc/shadow", w.root.path().join("etc/shadow-link")).unwrap();
    let p = w.root.resolve(&rel("etc/shadow-link")).unwrap();
    assert_eq!(p, w.root.path().join("etc/shadow"));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "root:inside-the-root:\n"
    );
    // Without a fake one inside, the link dangles: the host's /etc/shadow
    // (which exists on this machine) is never what gets opened.
    std::fs::remove_file(w.root.path().join("etc/shadow")).unwrap();
    assert!(Path::new("/etc/shadow").exists());
    let p = w.root.resolve(&rel("etc/shadow-link")).unwrap();
    assert_eq!(p, w.root.path().join("etc/shadow"));
    assert_eq!(
        std::fs::read(&p).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    // A link to the absolute host path of a file outside the root lands on
    // the same path *inside* the root, which does not exist there.
    symlink(&w.outside, w.root.path().join("etc/abs-out")).unwrap();
    let p = w.root.resolve(&rel("etc/abs-out")).unwrap();
    assert!(p.starts_with(w.root.path()), "{}", p.display());
    assert_eq!(p, w.root.path().join(w.outside.strip_prefix("/").unwrap()));
    assert!(std::fs::read(&p).is_err(), "must not read the host secret");
}

#[test]
fn absolute_symlink_with_dotdot_past_the_top_is_refused() {
    let w = world();
    symlink("/../../secret", w.root.path().join("etc/abs-dotdot")).unwrap();
    let e = w.root.resolve(&rel("etc/abs-dotdot")).unwrap_err();
    assert_escape(e, &["etc/abs-dotdot -> /../../secret"]);
}

#[test]
fn symlink_chain_escaping_at_the_end_is_refused() {
    let w = world();
    let b = w.root.path();
    std::fs::create_dir_all(b.join("a/b/c")).unwrap();
    // etc/one -> /a/b/c/two (absolute, inside) -> ../three (relative, inside)
    // -> ../../../../secret (climbs out).
    symlink("/a/b/c/two", b.join("etc/one")).unwrap();
    symlink("../three", b.join("a/b/c/two")).unwrap();
    symlink("../../../../secret", b.join("a/b/three")).unwrap();
    let e = w.root.resolve(&rel("etc/one")).unwrap_err();
    assert_escape(e, &["a/b/three -> ../../../../secret", "etc/one"]);
}

#[test]
fn symlink_chain_that_stays_inside_is_followed() {
    let w = world();
    let b = w.root.path();
    std::fs::create_dir_all(b.join("a/b/c")).unwrap();
    symlink("/a/b/c/two", b.join("etc/one")).unwrap();
    symlink("../three", b.join("a/b/c/two")).unwrap();
    symlink("../../etc/shadow", b.join("a/b/three")).unwrap();
    let p = w.root.resolve(&rel("etc/one")).unwrap();
    assert_eq!(p, b.join("etc/shadow"));
}

#[test]
fn symlink_loop_is_refused() {
    let w = world();
    symlink("b", w.root.path().join("etc/a")).unwrap();
    symlink("/etc/a", w.root.path().join("etc/b")).unwrap();
    let e = w.root.resolve(&rel("etc/a/x")).unwrap_err();
    assert_escape(e, &["more than 40 symbolic links", "etc/a/x"]);
    symlink("self", w.root.path().join("etc/self")).unwrap();
    assert_escape(w.root.resolve(&rel("etc/self")).unwrap_err(), &["a loop?"]);
}

#[test]
fn for_write_refuses_a_symlinked_parent_even_inside_the_root() {
    let w = world();
    let b = w.root.path();
    std::fs::create_dir(b.join("real")).unwrap();
    symlink("/real", b.join("planted")).unwrap();
    let e = w.root.for_write(&rel("planted/file")).unwrap_err();
    assert_escape(
        e,
        &["planted", "symbolic link", "refusing to write through it"],
    );
    assert!(!b.join("real/file").exists());
    // A planted link pointing outside is refused too and nothing is created.
    symlink(w.outside.parent().unwrap(), b.join("out")).unwrap();
    let e = w.root.for_write(&rel("out/new/deeper/file")).unwrap_err();
    assert_escape(e, &["out"]);
    assert!(!w.outside.parent().unwrap().join("new").exists());
}

#[test]
fn for_write_under_a_symlinked_grandparent_is_refused() {
    let w = world();
    let b = w.root.path();
    std::fs::create_dir_all(b.join("real/sub")).unwrap();
    symlink("real", b.join("link")).unwrap();
    let e = w.root.for_write(&rel("link/sub/file")).unwrap_err();
    assert_escape(e, &["link"]);
}

#[test]
fn root_of_a_missing_dir_names_it() {
    let e = Root::open(Path::new("/nonexistent/xcatport-root")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/xcatport-root"), "{e}");
}
