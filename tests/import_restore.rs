//! xcatimport end to end with the real binaries: a snapshot made by
//! xcatexport restored into a fresh root; preflight refusals leave the root
//! unchanged; a killed restore resumes to the same tree; rollback undoes it.

mod import_support;

use import_support::*;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

fn work() -> tempfile::TempDir {
    scratch("xcatport-imp-work-")
}

/// `source_mn()` exported with `extra` args; the stick lives in the
/// returned work dir.
fn source_stick(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let w = work();
    let stick = export(&source_mn(), w.path(), extra);
    (w, stick)
}

/// `xcatimport --rollback --root ROOT`: rollback needs no stick.
fn rollback_without_stick(root: &Path) -> std::process::Output {
    Command::new(IMPORT)
        .args(["--rollback", "--root"])
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn restore_reproduces_every_member_with_owners_by_name() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &[]);
    let new = fresh_root(UBUNTU, host_machine());
    let out = import_ok(&stick, new.root(), &["--skip-packages"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("files      done: "), "{stdout}");
    assert!(stdout.contains("restore of "), "{stdout}");

    let members = members(&stick);
    assert!(members.len() >= 15, "{members:?}");
    let before = listing(src.root());
    let after = listing(new.root());
    for m in &members {
        assert_eq!(after.get(m), before.get(m), "member {}", m.display());
    }
    // uids differ (1001 → 2001): mapped by name, not number
    let key = new.path("etc/xcat/ca/private/ca-key.pem");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (2001, 2002, 0o600)
    );
    // xattr values holding newlines travel as LIBARCHIVE.xattr (base64)
    let cert = new.path("etc/xcat/cert/server-cert.pem");
    assert_eq!(
        xattr::get(&cert, "user.note=with%odd name").unwrap(),
        Some(b"line one\nline two\n".to_vec())
    );
    assert_eq!(
        xattr::get(&cert, "user.origin").unwrap(),
        Some(b"mn01".to_vec())
    );
    // hardlink structure kept
    let a = std::fs::metadata(new.path("install/custom/netboot/compute.pkglist")).unwrap();
    let b = std::fs::metadata(new.path("install/custom/netboot/compute.pkglist.link")).unwrap();
    assert_eq!(a.ino(), b.ino());
    // the replaced etc/hosts was kept for rollback
    let journal = new.path("var/lib/xcatport/journal.json");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(journal).unwrap()).unwrap();
    let states: Vec<_> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        states,
        ["done", "skipped", "skipped", "skipped", "done", "done", "skipped", "skipped"]
    );
}

#[test]
fn split_volumes_restore_and_json_reports_steps() {
    let src = source_mn();
    let w = work();
    let stick = export(&src, w.path(), &["--split", "64K"]);
    assert!(stick.join("xcat-data.tar.zst.002").exists());
    let new = fresh_root(UBUNTU, host_machine());
    let out = import_ok(&stick, new.root(), &["--skip-packages", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "restore");
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[4]["step"], "files");
    assert_eq!(steps[4]["result"], "done");
    assert!(steps[4]["detail"].as_str().unwrap().contains("1 replaced"));
    assert!(v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    assert_eq!(
        std::fs::read(new.path("install/custom/big.bin")).unwrap(),
        noise(300 << 10, 7)
    );
}

/// Runs xcatimport and asserts it stops in preflight: exit 1, a one-line
/// error containing `needle`, and the root byte-for-byte as before.
fn refused(stick: &Path, new: &Tree, extra: &[&str], needle: &str) {
    let before = listing(new.root());
    let out = import(stick, new.root(), extra);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("preflight failed"), "{err}");
    assert!(err.contains(needle), "{err}");
    assert_eq!(
        listing(new.root()),
        before,
        "root changed by a refused restore"
    );
}

#[test]
fn a_flipped_byte_in_a_volume_stops_in_preflight() {
    let (_w, stick) = source_stick(&["--split", "64K"]);
    let vol = stick.join("xcat-data.tar.zst.001");
    let mut bytes = std::fs::read(&vol).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&vol, bytes).unwrap();
    let new = fresh_root(UBUNTU, host_machine());
    refused(
        &stick,
        &new,
        &["--skip-packages"],
        "xcat-data.tar.zst.001: checksum mismatch",
    );
}

#[test]
fn a_missing_volume_stops_in_preflight() {
    let (_w, stick) = source_stick(&["--split", "64K"]);
    std::fs::remove_file(stick.join("xcat-data.tar.zst.002")).unwrap();
    let new = fresh_root(UBUNTU, host_machine());
    refused(
        &stick,
        &new,
        &["--skip-packages"],
        "xcat-data.tar.zst.002: missing",
    );
}

#[test]
fn a_wrong_distro_stops_in_preflight_and_force_distro_warns() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(ROCKY, host_machine());
    refused(
        &stick,
        &new,
        &["--skip-packages"],
        "distro: the snapshot is from ubuntu 22.04",
    );
    let out = import_ok(&stick, new.root(), &["--skip-packages", "--force-distro"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning: distro: "));
}

#[test]
fn a_wrong_arch_stops_in_preflight() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(UBUNTU, other_machine());
    refused(
        &stick,
        &new,
        &["--skip-packages"],
        "arch: the snapshot is from a",
    );
}

#[test]
fn an_existing_xcat_stops_in_preflight_unless_forced() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(UBUNTU, host_machine());
    new.file(
        "var/lib/dpkg/status",
        "Package: xcat\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.16.5-1\n\n",
    )
    .file("etc/xcat/site.sqlite", "SQLite format 3\0");
    refused(
        &stick,
        &new,
        &[],
        "xcat: xCAT 2.16.5 (1) is already installed here",
    );

    let db_only = fresh_root(UBUNTU, host_machine());
    db_only.file("etc/xcat/cfgloc", "SQLite:/etc/xcat\n");
    refused(
        &stick,
        &db_only,
        &["--skip-packages"],
        "database: an xCAT database already exists here: /etc/xcat/cfgloc",
    );
    import_ok(&stick, db_only.root(), &["--skip-packages", "--force"]);
}

#[test]
fn problems_are_reported_together() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(ROCKY, other_machine());
    new.file("etc/xcat/cfgloc", "SQLite:/etc/xcat\n");
    let before = listing(new.root());
    let out = import(&stick, new.root(), &["--skip-packages"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for part in ["distro: ", "arch: ", "database: "] {
        assert!(err.contains(part), "{part} missing from {err}");
    }
    assert_eq!(listing(new.root()), before);
}

#[test]
fn verify_and_dry_run_change_nothing() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    import_ok(&stick, new.root(), &["--verify", "--skip-packages"]);
    let out = import_ok(&stick, new.root(), &["--dry-run", "--skip-packages"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("plan (nothing changed):"), "{stdout}");
    assert!(stdout.contains("5. files      run: extract "), "{stdout}");
    assert!(
        stdout.contains("4. quiesce    skip: no live xCAT under this --root"),
        "{stdout}"
    );
    assert_eq!(listing(new.root()), before);

    // without --skip-packages a stick without package repos is refused in
    // preflight (exit 1), naming what the admin must do; nothing changed
    refused(
        &stick,
        &new,
        &[],
        "packages: the snapshot carries no xCAT package repos (no xCAT package repos found on the MN: \
         configure the xCAT repos on the new MN, or restore with --skip-packages); \
         install xCAT of the snapshot's version from your xCAT repos, then rerun with --skip-packages",
    );
    assert_eq!(listing(new.root()), before);
}

#[test]
fn a_killed_restore_resumes_to_the_same_tree_and_refuses_a_fresh_run() {
    let (_w, stick) = source_stick(&[]);
    let members = members(&stick);

    let whole = fresh_root(UBUNTU, host_machine());
    import_ok(&stick, whole.root(), &["--skip-packages"]);

    for kill_at in [0u64, 7, 15] {
        let new = fresh_root(UBUNTU, host_machine());
        let n = kill_at.to_string();
        let out = import_env(
            &stick,
            new.root(),
            &["--skip-packages"],
            &[("XCATPORT_TEST_FAIL_AFTER_ENTRIES", &n)],
        );
        assert_eq!(out.status.signal(), Some(9), "{}", text(&out));

        let again = import(&stick, new.root(), &["--skip-packages"]);
        assert_eq!(again.status.code(), Some(1), "{}", text(&again));
        assert!(stderr(&again).contains("--resume"), "{}", text(&again));

        let out = import(&stick, new.root(), &["--skip-packages", "--resume"]);
        assert!(out.status.success(), "kill at {kill_at}: {}", text(&out));
        assert_eq!(
            comparable(listing(new.root()), &members),
            comparable(listing(whole.root()), &members),
            "kill at entry {kill_at}"
        );
        assert_eq!(
            db_dump(new.root()),
            db_dump(whole.root()),
            "kill at {kill_at}"
        );
    }
}

#[test]
fn rollback_returns_the_root_to_its_state_before_the_restore() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    import_ok(&stick, new.root(), &["--skip-packages"]);
    assert_ne!(without_journal(listing(new.root())), before);

    let out = rollback_without_stick(new.root());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 replaced entries put back"),
        "{}",
        text(&out)
    );
    assert_eq!(
        without_journal(listing(new.root())),
        without_journal(before.clone())
    );
    assert_eq!(
        std::fs::read_to_string(new.path("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n"
    );
    // again: nothing left to do, nothing changes
    let out = rollback_without_stick(new.root());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        without_journal(listing(new.root())),
        without_journal(before)
    );
}

#[test]
fn rollback_of_a_killed_restore_restores_the_root() {
    let (_w, stick) = source_stick(&[]);
    let new = fresh_root(UBUNTU, host_machine());
    let before = listing(new.root());
    let out = import_env(
        &stick,
        new.root(),
        &["--skip-packages"],
        &[("XCATPORT_TEST_FAIL_AFTER_ENTRIES", "12")],
    );
    assert_eq!(out.status.signal(), Some(9), "{}", text(&out));
    import_ok(&stick, new.root(), &["--rollback"]);
    assert_eq!(
        without_journal(listing(new.root())),
        without_journal(before)
    );
}

use std::process::Command;
