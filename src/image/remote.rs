//! `-R user@host` of imgexport/imgimport: the bundle travels with
//! `scp -B` (batch mode: no password prompt), run from PATH with an argv,
//! never through a shell (D1b).

use super::collect::under_root;
use super::db::ImageDb;
use crate::{Error, Result};
use std::path::Path;
use std::process::Command;

/// Refuses a remote host that scp could read as an option or a path
/// (`-oProxyCommand=…`, `a:b`, spaces).
pub fn check_host(host: &str) -> Result<()> {
    let bad = host.is_empty()
        || host.starts_with('-')
        || host
            .chars()
            .any(|c| c == ':' || c == '/' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::Refused(format!(
            "-R {host:?}: expected user@host or host"
        )));
    }
    Ok(())
}

/// A private directory for the bundle's local copy, named `PREFIX.XXXXXX`
/// as xCAT names it: in site.tmpdir (under the root) when that is a
/// directory, else in `cwd`.
pub fn workdir(
    db: &dyn ImageDb,
    root: &Path,
    cwd: &Path,
    prefix: &str,
) -> Result<tempfile::TempDir> {
    let dir = db
        .site("tmpdir")?
        .map(|t| under_root(root, &t))
        .filter(|t| t.is_dir())
        .unwrap_or_else(|| cwd.to_path_buf());
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&dir)
        .map_err(|e| Error::io(&dir, e))
}

/// `scp -B <local> <host>:<remote>`.
pub fn send(local: &Path, host: &str, remote: &str) -> Result<()> {
    let mut cmd = Command::new("scp");
    cmd.arg("-B").arg(local).arg(format!("{host}:{remote}"));
    run(cmd)
}

/// `scp -B <host>:<remote> <local>`.
pub fn fetch(host: &str, remote: &str, local: &Path) -> Result<()> {
    let mut cmd = Command::new("scp");
    cmd.arg("-B").arg(format!("{host}:{remote}")).arg(local);
    run(cmd)
}

fn run(mut cmd: Command) -> Result<()> {
    // scp's own messages (host key, permission denied) reach the user as they are.
    let shown = format!("{cmd:?}");
    let failed = |detail: String| Error::Command {
        command: shown.clone(),
        detail,
    };
    let status = cmd.status().map_err(|e| failed(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(status.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_scp_would_misread_are_refused() {
        for ok in ["root@mn2", "mn2", "admin@10.0.0.2"] {
            check_host(ok).unwrap();
        }
        for bad in ["", "-oProxyCommand=x", "a:b", "a b", "a/b", "a\nb"] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }
}
