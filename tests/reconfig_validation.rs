//! Every input xcatreconfig refuses: its exact message, exit code 1 (2 for
//! usage errors, which clap reports), and a root left exactly as it was.
//! The tests share one synthetic MN, which none of them may change.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use xcatport::fixture::{self, listing::listing, Family, Scale, Spec};

const BIN: &str = env!("CARGO_BIN_EXE_xcatreconfig");

struct Mn {
    dir: PathBuf,
    root: PathBuf,
    listing: Vec<String>,
}

fn mn() -> &'static Mn {
    static MN: OnceLock<Mn> = OnceLock::new();
    MN.get_or_init(|| {
        // One fixed place, rebuilt per run, so nothing is left in /var/tmp.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reconfig_validation");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("mn");
        fixture::build(&root, &Spec::new(Scale::Small, Family::Rhel, 11)).unwrap();
        let listing = listing(&root).unwrap();
        Mn { dir, root, listing }
    })
}

/// Runs with `args`, expects exit `code` and exactly `message` on stderr,
/// and checks that nothing under the root changed.
fn refused(args: &[&str], code: i32, message: &str) {
    let mn = mn();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(&mn.root)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    if code == 1 {
        assert_eq!(stderr, format!("xcatreconfig: error: {message}\n"));
    } else {
        assert!(stderr.contains(message), "{stderr}");
    }
    assert_eq!(listing(&mn.root).unwrap(), mn.listing, "the root changed");
}

fn map_file(name: &str, body: &str) -> String {
    let path = mn().dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn malformed_ip() {
    refused(
        &["--ip", "10.0.0.1=10.0.0.300"],
        1,
        "--ip 10.0.0.1=10.0.0.300: 10.0.0.300 is not an IPv4 address",
    );
}

#[test]
fn ip_without_equals() {
    refused(
        &["--ip", "10.0.0.1"],
        1,
        "--ip 10.0.0.1: expected OLD=NEW (two IPv4 addresses)",
    );
}

#[test]
fn malformed_cidr() {
    refused(
        &["--network", "10.0.0.0/33=172.20.0.0/16"],
        1,
        "--network 10.0.0.0/33=172.20.0.0/16: 10.0.0.0/33 is not a network in CIDR form (a.b.c.d/len, len 0-32)",
    );
}

#[test]
fn cidr_with_host_bits() {
    refused(
        &["--network", "10.0.0.0/16=172.20.0.5/16"],
        1,
        "--network 10.0.0.0/16=172.20.0.5/16: 172.20.0.5/16 has host bits set; the network is 172.20.0.0/16",
    );
}

#[test]
fn same_old_ip_twice() {
    refused(
        &["--ip", "10.0.0.1=172.20.0.1", "--ip", "10.0.0.1=172.20.0.2"],
        1,
        "--ip 10.0.0.1 is given twice: to 172.20.0.1 and to 172.20.0.2",
    );
}

#[test]
fn two_ips_to_one() {
    refused(
        &["--ip", "10.0.0.1=172.20.0.1", "--ip", "10.0.1.1=172.20.0.1"],
        1,
        "--ip 10.0.0.1=172.20.0.1 and --ip 10.0.1.1=172.20.0.1 map two addresses to the same new address",
    );
}

#[test]
fn overlapping_old_networks() {
    refused(
        &["--network", "10.0.0.0/16=172.20.0.0/16", "--network", "10.0.0.0/8=11.0.0.0/8"],
        1,
        "--network 10.0.0.0/16=172.20.0.0/16 and --network 10.0.0.0/8=11.0.0.0/8: the old networks 10.0.0.0/16 and 10.0.0.0/8 overlap",
    );
}

#[test]
fn overlapping_new_networks() {
    refused(
        &["--network", "10.0.0.0/16=172.20.0.0/16", "--network", "172.16.0.0/16=172.20.0.0/24"],
        1,
        "--network 10.0.0.0/16=172.20.0.0/16 and --network 172.16.0.0/16=172.20.0.0/24: the new networks 172.20.0.0/16 and 172.20.0.0/24 overlap",
    );
}

#[test]
fn new_network_too_small_for_the_nodes() {
    refused(
        &["--network", "10.0.0.0/16=172.20.0.0/24"],
        1,
        "--network 10.0.0.0/16=172.20.0.0/24: 10.0.1.1 (hosts node=n01 ip) is at offset 257 in 10.0.0.0/16, beyond the 256 addresses of 172.20.0.0/24",
    );
}

#[test]
fn new_network_overlaps_one_that_stays() {
    refused(
        &["--network", "10.0.0.0/16=192.168.0.0/16"],
        1,
        "--network 10.0.0.0/16=192.168.0.0/16: the new network overlaps the network 192.168.122.0/24 (networks row 192_168_122_0-255_255_255_0), which stays",
    );
}

#[test]
fn unknown_network() {
    refused(
        &["--network", "10.9.0.0/16=172.20.0.0/16"],
        1,
        "--network 10.9.0.0/16=172.20.0.0/16: no row of the networks table is the network 10.9.0.0/16 (it has 10.0.0.0/16, 192.168.122.0/24, 172.16.0.0/16)",
    );
}

#[test]
fn unknown_address() {
    refused(
        &["--ip", "10.9.9.9=172.20.0.1"],
        1,
        "--ip 10.9.9.9=172.20.0.1: 10.9.9.9 appears nowhere in the database or the service files",
    );
}

#[test]
fn address_collides_with_one_that_stays() {
    refused(
        &["--ip", "10.0.1.1=10.0.1.2"],
        1,
        "10.0.1.1 (hosts node=n01 ip, --ip 10.0.1.1=10.0.1.2) and 10.0.1.2 (hosts node=n02 ip, unchanged) would both become 10.0.1.2",
    );
}

#[test]
fn invalid_hostname() {
    refused(
        &["--hostname", "mn_02"],
        1,
        "--hostname mn_02: not a valid hostname (labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-')",
    );
}

#[test]
fn hostname_outside_the_domain() {
    refused(
        &["--hostname", "mn02.other.org"],
        1,
        "--hostname mn02.other.org is not in the domain cluster.example.com; give --domain other.org to change the cluster's domain as well",
    );
}

#[test]
fn invalid_domain() {
    refused(
        &["--domain", "site..org"],
        1,
        "--domain site..org: not a valid domain name",
    );
}

#[test]
fn nothing_to_change() {
    refused(
        &[],
        1,
        "nothing to change: give --hostname, --domain, --ip, --network or --map",
    );
}

#[test]
fn map_with_a_bad_line() {
    let f = map_file("bad-line.csv", "n01,172.20.9.1\nn02;172.20.9.2\n");
    refused(
        &["--map", &f],
        1,
        &format!("{f}:2: expected node,ip, found \"n02;172.20.9.2\""),
    );
}

#[test]
fn map_with_a_bad_address() {
    let f = map_file("bad-ip.csv", "#node,ip\nn01,172.20.9\n");
    refused(
        &["--map", &f],
        1,
        &format!("{f}:2: \"172.20.9\" is not an IPv4 address"),
    );
}

#[test]
fn map_with_an_unknown_node() {
    let f = map_file("unknown.csv", "n01,172.20.9.1\nn99,172.20.9.2\n");
    refused(
        &["--map", &f],
        1,
        &format!("{f}:2: node n99 is not in the nodelist table"),
    );
}

#[test]
fn map_with_a_node_twice() {
    let f = map_file("twice.csv", "n01,172.20.9.1\nn01,172.20.9.2\n");
    refused(
        &["--map", &f],
        1,
        &format!("{f}:2: node n01 is already mapped on line 1"),
    );
}

#[test]
fn map_missing() {
    let f = mn().dir.join("absent.csv");
    let f = f.to_str().unwrap();
    refused(
        &["--map", f],
        1,
        &format!("{f}: No such file or directory (os error 2)"),
    );
}

#[test]
fn not_applied_without_yes_when_not_on_a_terminal() {
    refused(
        &["--hostname", "mn02"],
        1,
        "not applied: review the changes with --dry-run, then run again with --yes",
    );
}

#[test]
fn rollback_without_a_journal() {
    let mn = mn();
    refused(
        &["--rollback"],
        1,
        &format!(
            "{}: no reconfiguration is recorded here; nothing to roll back",
            // The tool names paths under the canonical root.
            mn.root
                .canonicalize()
                .unwrap()
                .join("var/lib/xcatport/reconfig")
                .display()
        ),
    );
}

#[test]
fn rollback_with_change_options() {
    refused(
        &["--rollback", "--hostname", "mn02"],
        1,
        "--rollback undoes the last reconfiguration and takes no change options or --dry-run",
    );
}

#[test]
fn usage_errors_exit_2() {
    refused(&["--ip"], 2, "a value is required for '--ip <OLD=NEW>'");
    refused(&["--bogus"], 2, "unexpected argument '--bogus'");
}

#[test]
fn missing_root() {
    let out = Command::new(BIN)
        .args(["--root", "/nonexistent/xcatreconfig", "--hostname", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "xcatreconfig: error: /nonexistent/xcatreconfig: No such file or directory (os error 2)\n"
    );
}
