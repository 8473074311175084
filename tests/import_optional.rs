//! The source's optional xCAT packages end to end: a Rocky source MN has
//! xCAT, xCAT-openbmc-py (in its xcat-core repo) and xCAT-SoftLayer (installed
//! from somewhere no local repo is) installed. xcatexport records all of
//! them in MANIFEST.json and warns about the one it cannot carry;
//! xcatimport installs xCAT and xCAT-openbmc-py with `dnf --installroot`
//! and tells the admin to install xCAT-SoftLayer, exiting 0.

mod import_support;

use import_support::rpm::*;
use import_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xcat-samples/dump/default/out"
);

fn work() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("xcatport-imp-opt-")
        .tempdir_in("/var/tmp")
        .unwrap()
}

/// The Rocky source MN with the optional packages installed.
fn rocky_source(w: &Path) -> Tree {
    let src = source_mn();
    src.file("etc/os-release", ROCKY);
    let mut rpms = build_all(w);
    rpms.core
        .push(build_rpm(w, "xCAT-openbmc-py", Some(4), XCAT_VERSION, &[]));
    add_xcat_repos(src.root(), &rpms);
    let softlayer = build_rpm(w, "xCAT-SoftLayer", Some(4), XCAT_VERSION, &[]);
    sh(Command::new("rpm")
        .arg("--root")
        .arg(src.root())
        .args(["--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps"])
        .arg(&softlayer));
    let opts = xcatport::db::RestoreOptions {
        all: true,
        exact: false,
    };
    xcatport::db::restore_from_dir(src.root(), Path::new(DUMP), &opts).unwrap();
    src
}

/// xcatexport with its output, for the warning.
fn export_with_output(src: &Tree, w: &Path) -> (PathBuf, String) {
    let stick = w.join("stick");
    let out = Command::new(env!("CARGO_BIN_EXE_xcatexport"))
        .arg("--root")
        .arg(src.root())
        .arg("--import-binary")
        .arg(static_stub(w))
        .arg(&stick)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    (stick, stderr(&out))
}

#[test]
fn recorded_packages_the_stick_offers_are_installed_the_others_reported() {
    let w = work();
    let src = rocky_source(w.path());
    let (stick, export_err) = export_with_output(&src, w.path());
    let softlayer = format!("xCAT-SoftLayer 4:{XCAT_VERSION}-{XCAT_RELEASE} noarch");
    assert_eq!(
        export_err,
        format!(
            "warning: no local package repository holds these installed optional xCAT packages: \
             {softlayer}; the restore will ask the admin to install them (or pass their directory \
             with --rpms DIR)\n"
        )
    );

    // MANIFEST.json records the source's xCAT packages with versions and arches
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stick.join("MANIFEST.json")).unwrap()).unwrap();
    let recorded: Vec<String> = manifest["packages"]["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {} {}", p["name"], p["version"], p["arch"]))
        .collect();
    let v = format!("{XCAT_VERSION}-{XCAT_RELEASE}");
    assert_eq!(
        recorded,
        [
            format!("\"perl-xCAT\" \"4:{v}\" \"noarch\""),
            format!("\"xCAT\" \"{v}\" \"noarch\""),
            format!("\"xCAT-SoftLayer\" \"4:{v}\" \"noarch\""),
            format!("\"xCAT-client\" \"4:{v}\" \"noarch\""),
            format!("\"xCAT-openbmc-py\" \"4:{v}\" \"noarch\""),
            format!("\"xCAT-server\" \"4:{v}\" \"noarch\""),
            format!("\"xcat-dep-stub\" \"1.0-{XCAT_RELEASE}\" \"noarch\""),
        ]
    );

    let new = fresh_root(ROCKY, host_machine());
    // --dry-run shows both lists and changes nothing
    let before = listing(new.root());
    let out = import(&stick, new.root(), &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let note = format!(
        "; with the source's perl-xCAT, xCAT-client, xCAT-openbmc-py, xCAT-server, xcat-dep-stub\
         ; not on the stick, install yourself: {softlayer}"
    );
    assert!(
        stdout.contains(&format!(
            "3. packages   run: install xCAT {v} with dnf{note}\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "ok   packages  xCAT {v} from the stick's repos with dnf{note}\n"
        )),
        "{stdout}"
    );
    assert_eq!(listing(new.root()), before);

    // the restore installs what the stick offers and exits 0
    let out = import(&stick, new.root(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "packages   done: dnf installed xCAT: xCAT {XCAT_VERSION} ({XCAT_RELEASE}) (rpm xCAT), \
             6 xCAT packages{note}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "still to do:\n  - install yourself these packages the source MN had, which the \
             stick's repos do not offer: {softlayer}\n"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("restore of "), "{stdout}");
    assert_eq!(rpm_q(new.root(), "xCAT-openbmc-py"), format!("4:{v}"));
    assert_eq!(rpm_q(new.root(), "xCAT-client"), format!("4:{v}"));
    assert_eq!(
        std::fs::read_to_string(new.path("opt/xcat-test/xCAT-openbmc-py")).unwrap(),
        format!("xCAT-openbmc-py {XCAT_VERSION}\n")
    );
    assert_eq!(
        rpm_q(new.root(), "xCAT-SoftLayer"),
        "package xCAT-SoftLayer is not installed\n"
    );
    assert!(!new.path("opt/xcat-test/xCAT-SoftLayer").exists());
}
