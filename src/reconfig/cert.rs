//! xcatd's server certificate names the MN (subject CN and SANs, as xCAT's
//! setup-server-cert.sh writes it). When the name changes, a new key and
//! certificate are issued by the MN's own CA, which is kept: its key is only
//! read by openssl, never written, and its index and serial files are left
//! alone (the serial is random), so every certificate the CA issued before
//! (service nodes, users, conserver) stays valid. Without openssl, or when
//! the certificate cannot be read, the step becomes a to-do for the admin.

use crate::error::IoContext;
use crate::mn::{RelPath, Root};
use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

pub const SERVER_CERT: &str = "etc/xcat/cert/server-cert.pem";
pub const SERVER_KEY: &str = "etc/xcat/cert/server-key.pem";
pub const SERVER_CRED: &str = "etc/xcat/cert/server-cred.pem";
pub const CA_CERT: &str = "etc/xcat/ca/ca-cert.pem";
pub const CA_KEY: &str = "etc/xcat/ca/private/ca-key.pem";

/// What happens to the server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertPlan {
    /// Nothing to do, and why.
    Keep(String),
    /// Issue a new one for `fqdn` (SANs `fqdn`, `short`) from the kept CA;
    /// `old` is what the current one names.
    Regenerate {
        old: String,
        fqdn: String,
        short: String,
    },
    /// The admin must do it; the text says how.
    Todo(String),
}

fn todo_text(why: &str, fqdn: &str) -> String {
    format!(
        "{why}: issue a new xcatd server certificate for {fqdn} from the existing CA \
         (xCAT: /opt/xcat/share/xcat/scripts/setup-server-cert.sh {fqdn}), keep /etc/xcat/ca, \
         then restart xcatd and goconserver"
    )
}

/// Decides what to do with the certificate when the MN's names change from
/// `old_names` (lower case) to `fqdn`/`short`.
pub fn plan(root: &Root, old_names: &[String], fqdn: &str, short: &str) -> Result<CertPlan> {
    let cert = root.resolve(&RelPath::new(SERVER_CERT)?)?;
    if !cert.is_file() {
        return Ok(CertPlan::Keep(format!("/{SERVER_CERT} does not exist")));
    }
    for needed in [CA_CERT, CA_KEY] {
        if !root.resolve(&RelPath::new(needed)?)?.is_file() {
            return Ok(CertPlan::Todo(todo_text(
                &format!("/{needed} is missing, so xcatreconfig cannot issue a certificate"),
                fqdn,
            )));
        }
    }
    let out = match duct::cmd!(
        "openssl",
        "x509",
        "-in",
        &cert,
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName"
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    {
        Ok(o) => o,
        Err(_) => {
            return Ok(CertPlan::Todo(todo_text(
                "openssl is not installed here",
                fqdn,
            )))
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // openssl names the host path; the MN path says the same, root-free.
        let first = err
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .replace(&cert.display().to_string(), &format!("/{SERVER_CERT}"));
        return Ok(CertPlan::Todo(todo_text(
            &format!("/{SERVER_CERT} cannot be read by openssl ({first})"),
            fqdn,
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .filter(|t| !t.is_empty())
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let summary = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if names.iter().any(|n| old_names.contains(n)) {
        Ok(CertPlan::Regenerate {
            old: summary,
            fqdn: fqdn.to_string(),
            short: short.to_string(),
        })
    } else {
        Ok(CertPlan::Keep(format!(
            "/{SERVER_CERT} does not name the old hostname ({summary})"
        )))
    }
}

/// Issues the new key and certificate into `work` (server-key.pem,
/// server-cert.pem, server-cred.pem) from the CA under `root`.
pub fn issue(root: &Root, work: &Path, fqdn: &str, short: &str) -> Result<()> {
    let ca_cert = root.resolve(&RelPath::new(CA_CERT)?)?;
    let ca_key = root.resolve(&RelPath::new(CA_KEY)?)?;
    let key = work.join("server-key.pem");
    let csr = work.join("server-req.pem");
    let cert = work.join("server-cert.pem");
    let ext = work.join("server.ext");
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:{fqdn},DNS:{short}\n"
        ),
    )
    .at(&ext)?;
    let subject = format!("/CN={fqdn}");
    let serial = format!("0x{}", random_hex(16)?);
    run_openssl(&[
        "genrsa".into(),
        "-out".into(),
        key.clone().into(),
        "2048".into(),
    ])?;
    run_openssl(&[
        "req".into(),
        "-new".into(),
        "-key".into(),
        key.clone().into(),
        "-subj".into(),
        subject.into(),
        "-out".into(),
        csr.clone().into(),
    ])?;
    run_openssl(&[
        "x509".into(),
        "-req".into(),
        "-sha256".into(),
        "-days".into(),
        "7300".into(),
        "-in".into(),
        csr.into(),
        "-CA".into(),
        ca_cert.into(),
        "-CAkey".into(),
        ca_key.into(),
        "-set_serial".into(),
        serial.into(),
        "-extfile".into(),
        ext.into(),
        "-out".into(),
        cert.clone().into(),
    ])?;
    let mut cred = std::fs::read(&cert).at(&cert)?;
    cred.extend(std::fs::read(&key).at(&key)?);
    let cred_path = work.join("server-cred.pem");
    std::fs::write(&cred_path, cred).at(&cred_path)
}

fn run_openssl(args: &[std::ffi::OsString]) -> Result<()> {
    let out = duct::cmd("openssl", args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::Command {
            command: "openssl".into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Command {
            command: format!(
                "openssl {}",
                args.first()
                    .map(|a| a.to_string_lossy())
                    .unwrap_or_default()
            ),
            detail: err.lines().next().unwrap_or("").trim().to_string(),
        });
    }
    Ok(())
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    let path = Path::new("/dev/urandom");
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .at(path)?;
    // A positive serial: clear the top bit.
    buf[0] &= 0x7f;
    Ok(hex::encode(buf))
}
