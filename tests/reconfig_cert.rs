//! The xcatd server certificate when the MN is renamed: a real CA and
//! server certificate replace the fixture's stand-ins, then xcatreconfig
//! must issue a new one for the new name from the same CA, leave the CA
//! untouched, and roll back to the old one byte for byte.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use xcatport::fixture::{self, Family, Scale, Spec};

const BIN: &str = env!("CARGO_BIN_EXE_xcatreconfig");

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(root: &Path, rel: &str) -> String {
    root.join(rel).to_str().unwrap().to_string()
}

/// A real CA and a server certificate for mn01, as setup-server-cert.sh leaves them.
fn real_certificates(root: &Path, work: &Path) {
    let ca_key = p(root, "etc/xcat/ca/private/ca-key.pem");
    let ca_cert = p(root, "etc/xcat/ca/ca-cert.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca_cert,
        "-subj",
        "/CN=xCAT CA",
        "-days",
        "3650",
    ]);
    let key = p(root, "etc/xcat/cert/server-key.pem");
    let csr = work.join("req.pem");
    let ext = work.join("ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:mn01.cluster.example.com,DNS:mn01\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        "/CN=mn01.cluster.example.com",
    ]);
    let cert = p(root, "etc/xcat/cert/server-cert.pem");
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        &ca_cert,
        "-CAkey",
        &ca_key,
        "-set_serial",
        "1",
        "-extfile",
        ext.to_str().unwrap(),
        "-out",
        &cert,
    ]);
    let mut cred = std::fs::read(&cert).unwrap();
    cred.extend(std::fs::read(&key).unwrap());
    std::fs::write(p(root, "etc/xcat/cert/server-cred.pem"), cred).unwrap();
    for (rel, mode) in [
        ("etc/xcat/cert/server-key.pem", 0o600),
        ("etc/xcat/ca/private/ca-key.pem", 0o600),
    ] {
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn renamed_mn_gets_a_new_server_certificate_from_the_kept_ca() {
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path().join("mn");
    fixture::build(&root, &Spec::new(Scale::Small, Family::Rhel, 3)).unwrap();
    real_certificates(&root, dir.path());
    let read = |rel: &str| std::fs::read(root.join(rel)).unwrap();
    let kept = [
        "etc/xcat/ca/private/ca-key.pem",
        "etc/xcat/ca/ca-cert.pem",
        "etc/xcat/ca/index",
        "etc/xcat/ca/serial",
        "etc/xcat/cert/ca.pem",
    ];
    let ca_before: Vec<Vec<u8>> = kept.iter().map(|r| read(r)).collect();
    let server = [
        "etc/xcat/cert/server-key.pem",
        "etc/xcat/cert/server-cert.pem",
        "etc/xcat/cert/server-cred.pem",
    ];
    let server_before: Vec<Vec<u8>> = server.iter().map(|r| read(r)).collect();

    let dry = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .args(["--dry-run", "--hostname", "mn02"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&dry.stdout);
    assert!(s.contains("certificate /etc/xcat/cert/server-cert.pem: new key and certificate for mn02.cluster.example.com (SANs mn02.cluster.example.com, mn02) issued by the kept CA /etc/xcat/ca; now: subject=CN = mn01.cluster.example.com"), "{s}");

    let out = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .args(["--yes", "--hostname", "mn02"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("  certificate  new server certificate for mn02.cluster.example.com issued by the kept CA\n"), "{s}");

    for (rel, before) in kept.iter().zip(&ca_before) {
        assert_eq!(&read(rel), before, "{rel} must not change");
    }
    let cert = p(&root, "etc/xcat/cert/server-cert.pem");
    let info = openssl(&[
        "x509",
        "-in",
        &cert,
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
    ]);
    assert!(
        info.contains("subject=CN = mn02.cluster.example.com"),
        "{info}"
    );
    assert!(
        info.contains("DNS:mn02.cluster.example.com, DNS:mn02"),
        "{info}"
    );
    let verified = openssl(&[
        "verify",
        "-CAfile",
        &p(&root, "etc/xcat/ca/ca-cert.pem"),
        &cert,
    ]);
    assert_eq!(verified, format!("{cert}: OK\n"));
    let key = p(&root, "etc/xcat/cert/server-key.pem");
    assert_eq!(
        openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", &key, "-pubout"])
    );
    let mut cred = read("etc/xcat/cert/server-cert.pem");
    cred.extend(read("etc/xcat/cert/server-key.pem"));
    assert_eq!(read("etc/xcat/cert/server-cred.pem"), cred);
    for (rel, mode) in [(server[0], 0o600), (server[1], 0o644), (server[2], 0o600)] {
        let m = std::fs::metadata(root.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(m, mode, "{rel}");
    }

    let back = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .arg("--rollback")
        .output()
        .unwrap();
    assert_eq!(
        back.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    for (rel, before) in server.iter().zip(&server_before) {
        assert_eq!(&read(rel), before, "{rel} after rollback");
    }
}
