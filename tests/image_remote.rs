//! `imgexport -R` / `imgimport -R`: the bundle travels with `scp -B`.
//!
//! No network here: a stand-in `scp` put first in PATH records its
//! arguments and copies local files, a path's `host:` part mapped to a
//! directory playing the remote host. That tests our side exactly — the
//! argv we hand to scp, the messages, the exit status, "Done!" only after
//! the copy, and that no temporary file survives — which is all of the
//! feature that is ours; scp itself is OpenSSH's.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use xcatport::fixture::{self, Family, Scale, Spec};
use xcatport::image::{BundleReader, Packing};

const NETBOOT: &str = "rhels8.6-x86_64-netboot-compute";

/// Records argv (one per line) in $SCP_LOG; `-B SRC DST`, where a `host:`
/// path means `$FAKE_REMOTE/<path>`.
const FAKE_SCP: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$SCP_LOG"
[ "$#" = 3 ] && [ "$1" = -B ] || exit 64
map() { case "$1" in *:*) echo "$FAKE_REMOTE/${1#*:}" ;; *) echo "$1" ;; esac; }
exec cp "$(map "$2")" "$(map "$3")"
"#;

const FAILING_SCP: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$SCP_LOG"
echo "ssh: connect to host mn2 port 22: Connection refused" >&2
exit 1
"#;

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cwd: PathBuf,
    remote: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

impl World {
    fn new(full_mn: bool, scp: &str) -> World {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let base = dir.path().to_path_buf();
        let root = base.join("mn");
        let mut spec = Spec::new(Scale::Small, Family::Rhel, 7);
        spec.arch = "x86_64".into();
        if full_mn {
            fixture::build(&root, &spec).unwrap();
        } else {
            fixture::build_bare(&root, &spec).unwrap();
        }
        let (cwd, remote, bin) = (base.join("cwd"), base.join("remote"), base.join("bin"));
        for d in [&cwd, &remote, &bin] {
            fs::create_dir_all(d).unwrap();
        }
        let scp_path = bin.join("scp");
        fs::write(&scp_path, scp).unwrap();
        fs::set_permissions(&scp_path, fs::Permissions::from_mode(0o755)).unwrap();
        World {
            log: base.join("scp.log"),
            _dir: dir,
            root,
            cwd,
            remote,
            bin,
        }
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        let exe = match bin {
            "imgexport" => env!("CARGO_BIN_EXE_imgexport"),
            _ => env!("CARGO_BIN_EXE_imgimport"),
        };
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(exe)
            .current_dir(&self.cwd)
            .env("PATH", path)
            .env("SCP_LOG", &self.log)
            .env("FAKE_REMOTE", &self.remote)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .output()
            .unwrap()
    }

    fn scp_args(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// What is left in the working directory (temp dirs must be gone).
    fn cwd_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.cwd)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn members(bundle: &Path) -> Vec<String> {
    let r = BundleReader::open(bundle, Packing::Gzip).unwrap();
    r.listing().members.iter().map(|m| m.name.clone()).collect()
}

#[test]
fn export_builds_locally_then_copies_with_scp_batch_mode() {
    let w = World::new(true, FAKE_SCP);
    fs::create_dir_all(w.remote.join("srv/bundles")).unwrap();
    let o = w.run(
        "imgexport",
        &[NETBOOT, "/srv/bundles/nb.tgz", "-R", "root@mn2"],
    );
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let args = w.scp_args();
    assert_eq!(args.len(), 3, "{args:?}");
    assert_eq!(args[0], "-B");
    // The local bundle was in a private temp dir of the working directory.
    let local = Path::new(&args[1]);
    assert_eq!(local.file_name().unwrap(), "nb.tgz");
    let tmp = local.parent().unwrap();
    assert_eq!(tmp.parent().unwrap(), w.cwd);
    assert!(tmp
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("imgexport."));
    assert_eq!(args[2], "root@mn2:/srv/bundles/nb.tgz");
    assert!(stdout.starts_with(&format!("Exporting {NETBOOT} to root@mn2...\n")));
    assert!(
        stdout.ends_with(
            "Moving the image bundle to the remote system location root@mn2:/srv/bundles/nb.tgz\nDone!\n"
        ),
        "{stdout}"
    );
    let copied = w.remote.join("srv/bundles/nb.tgz");
    assert!(members(&copied).contains(&format!("./{NETBOOT}/manifest.xml")));
    assert!(w.cwd_entries().is_empty(), "{:?}", w.cwd_entries());
}

#[test]
fn export_without_dest_goes_to_the_remote_home_as_image_tgz() {
    let w = World::new(true, FAKE_SCP);
    let o = w.run("imgexport", &["-R", "admin@mn2", NETBOOT]);
    assert!(o.status.success(), "{:?}", out(&o));
    assert_eq!(w.scp_args()[2], format!("admin@mn2:{NETBOOT}.tgz"));
    assert!(w.remote.join(format!("{NETBOOT}.tgz")).is_file());
    assert!(w.cwd_entries().is_empty());
}

#[test]
fn export_scp_failure_is_reported_without_done_and_cleans_up() {
    let w = World::new(true, FAILING_SCP);
    let o = w.run("imgexport", &[NETBOOT, "-R", "root@mn2"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("Unable to copy the image bundle {NETBOOT}.tgz to the remote host (Maybe passwordless ssh was not setup?)\n")),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!stdout.contains("Done!"), "{stdout}");
    assert_eq!(w.scp_args()[0], "-B");
    assert!(w.cwd_entries().is_empty(), "{:?}", w.cwd_entries());
}

/// A small netboot bundle made by the real exporter of a full MN.
fn exported_bundle(to: &Path) {
    let w = World::new(true, FAKE_SCP);
    let o = w.run("imgexport", &[NETBOOT, "b.tgz"]);
    assert!(o.status.success(), "{:?}", out(&o));
    fs::copy(w.cwd.join("b.tgz"), to).unwrap();
}

#[test]
fn import_fetches_with_scp_into_a_private_temp_dir() {
    let w = World::new(false, FAKE_SCP);
    fs::create_dir_all(w.remote.join("bundles")).unwrap();
    exported_bundle(&w.remote.join("bundles/b.tgz"));
    let o = w.run("imgimport", &["-R", "root@mn2", "bundles/b.tgz"]);
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let args = w.scp_args();
    assert_eq!(args.len(), 3, "{args:?}");
    assert_eq!(args[..2], ["-B", "root@mn2:bundles/b.tgz"]);
    let local = Path::new(&args[2]);
    assert_eq!(local.file_name().unwrap(), "b.tgz");
    assert_eq!(local.parent().unwrap().parent().unwrap(), w.cwd);
    assert!(stdout.starts_with(
        "Obtaining the image bundle from the remote system root@mn2:bundles/b.tgz\nUnbundling image...\n"
    ));
    assert!(
        stdout.ends_with(&format!("Successfully imported the image {NETBOOT}.\n")),
        "{stdout}"
    );
    assert!(w
        .root
        .join("install/netboot/rhels8.6/x86_64/compute/kernel")
        .is_file());
    assert!(w.cwd_entries().is_empty(), "{:?}", w.cwd_entries());
    // The remote copy is left where it was.
    assert!(w.remote.join("bundles/b.tgz").is_file());
}

#[test]
fn import_scp_failure_is_reported_and_nothing_is_imported() {
    let w = World::new(false, FAILING_SCP);
    let o = w.run("imgimport", &["-R", "root@mn2", "/srv/b.tgz"]);
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("Unable to copy the image bundle /srv/b.tgz from the remote host (Maybe passwordless ssh was not setup?)\n"),
        "{stderr}"
    );
    assert!(!stdout.contains("Unbundling"), "{stdout}");
    assert!(!w.root.join("install/netboot").exists());
    assert!(w.cwd_entries().is_empty(), "{:?}", w.cwd_entries());
}

#[test]
fn a_host_scp_would_read_as_an_option_is_refused_before_scp_runs() {
    let w = World::new(false, FAKE_SCP);
    for (bin, args) in [
        ("imgimport", ["--remotehost=-oProxyCommand=true", "b.tgz"]),
        ("imgexport", ["--remotehost=-oProxyCommand=true", NETBOOT]),
    ] {
        let o = w.run(bin, &args);
        let (stdout, stderr) = out(&o);
        assert_eq!(o.status.code(), Some(1), "{bin}: {stdout}{stderr}");
        assert!(stderr.contains("expected user@host or host"), "{stderr}");
        assert!(!w.log.exists(), "{bin} ran scp");
    }
}
