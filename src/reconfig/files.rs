//! The service files a reconfiguration rewrites (management-node.md §2.2):
//! identity and resolver, DHCP (ISC and Kea, configs and leases, whose
//! reservations hold node addresses), DNS (named.conf and the zone files),
//! consoles, httpd, NFS exports, NTP. Each distro family's paths are
//! candidates; only those present as regular files are read.

use super::rewrite::Rewriter;
use crate::error::IoContext;
use crate::mn::{RelPath, Root};
use crate::Result;
use std::path::Path;

/// Files xCAT or its services keep addresses and names in.
pub const CANDIDATES: &[&str] = &[
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/exports",
    "etc/dhcp/dhcpd.conf",
    "etc/dhcp/dhcpd6.conf",
    "etc/dhcpd.conf",
    "etc/dhcpd6.conf",
    "etc/dhcp3/dhcpd.conf",
    "etc/kea/kea-dhcp4.conf",
    "etc/kea/kea-dhcp6.conf",
    "etc/kea/kea-ctrl-agent.conf",
    "etc/kea/kea-dhcp-ddns.conf",
    "var/lib/dhcpd/dhcpd.leases",
    "var/lib/dhcp/db/dhcpd.leases",
    "var/lib/dhcp/dhcpd.leases",
    "var/lib/kea/kea-leases4.csv",
    "etc/named.conf",
    "etc/bind/named.conf",
    "etc/bind/named.conf.options",
    "etc/bind/named.conf.local",
    "etc/conserver.cf",
    "etc/goconserver/server.conf",
    "etc/httpd/conf.d/xcat.conf",
    "etc/httpd/conf.d/xcat-ws.conf",
    "etc/apache2/conf.d/xcat.conf",
    "etc/apache2/conf.d/xcat-ws.conf",
    "etc/apache2/conf-available/xcat.conf.apach24",
    "etc/apache2/conf-available/xcat-ws.conf",
    "etc/chrony.conf",
    "etc/chrony/chrony.conf",
    "etc/ntp.conf",
];

/// Where named keeps zone files, in xCAT's fallback order.
const ZONE_DIRS: &[&str] = &["var/named", "var/lib/named", "var/lib/bind"];

/// A file read for the rewrite.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: RelPath,
    pub text: String,
}

/// A file that changes; `new_path` is set when its name changes too (the
/// zone file of a renamed domain).
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: RelPath,
    pub new_path: Option<RelPath>,
    pub before: String,
    pub after: String,
}

/// Every candidate file present under the root, plus the zone files; notes
/// say what was passed over and why.
pub fn read_all(root: &Root, notes: &mut Vec<String>) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut paths: Vec<RelPath> = Vec::new();
    for c in CANDIDATES {
        paths.push(RelPath::new(c)?);
    }
    for dir in zone_dirs(root)? {
        let host = root.join(&dir);
        let Ok(entries) = std::fs::read_dir(&host) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("db.") && !n.ends_with(".jnl"))
            .collect();
        names.sort();
        for n in names {
            paths.push(dir.join(n)?);
        }
    }
    paths.dedup();
    for rel in paths {
        let host = root.resolve_no_follow(&rel)?;
        let meta = match std::fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::Error::io(&host, e)),
        };
        if meta.file_type().is_symlink() {
            notes.push(format!(
                "{rel} is a symbolic link: left as it is (its target is changed where it is one of the files xcatreconfig knows)"
            ));
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let bytes = std::fs::read(&host).at(&host)?;
        match String::from_utf8(bytes) {
            Ok(text) => out.push(Source { path: rel, text }),
            Err(_) => notes.push(format!("{rel} is not UTF-8 text: not changed")),
        }
    }
    Ok(out)
}

/// The zone directory named.conf names, then xCAT's fallbacks.
fn zone_dirs(root: &Root) -> Result<Vec<RelPath>> {
    let mut dirs = Vec::new();
    for conf in [
        "etc/named.conf",
        "etc/bind/named.conf",
        "etc/bind/named.conf.options",
    ] {
        let host = root.resolve(&RelPath::new(conf)?)?;
        if let Ok(text) = std::fs::read_to_string(&host) {
            if let Some(dir) = directory_option(&text) {
                dirs.push(RelPath::new(dir)?);
            }
        }
    }
    for d in ZONE_DIRS {
        dirs.push(RelPath::new(d)?);
    }
    let mut seen = Vec::new();
    dirs.retain(|d| {
        let new = !seen.contains(d);
        seen.push(d.clone());
        new
    });
    Ok(dirs)
}

/// The `directory "…";` of named's options.
fn directory_option(text: &str) -> Option<&str> {
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("directory") {
            let rest = rest.trim().trim_end_matches(';').trim();
            return rest.strip_prefix('"').and_then(|r| r.strip_suffix('"'));
        }
    }
    None
}

/// The files the rewrite changes (content or name).
pub fn changes(sources: &[Source], rw: &Rewriter) -> Result<Vec<FileChange>> {
    let mut out = Vec::new();
    for s in sources {
        let after = rw.text(&s.text);
        let new_path = renamed(&s.path, rw)?;
        if after != s.text || new_path.is_some() {
            out.push(FileChange {
                path: s.path.clone(),
                new_path,
                before: s.text.clone(),
                after,
            });
        }
    }
    Ok(out)
}

/// Zone files are named after their zone (`db.<domain>`): a renamed domain
/// renames the file, as named.conf's rewritten `file` line expects.
fn renamed(path: &RelPath, rw: &Rewriter) -> Result<Option<RelPath>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let in_zone_dir = path.parent().is_some_and(|p| {
        ZONE_DIRS.iter().any(|d| Path::new(d) == p.as_path()) || !p.as_path().starts_with("etc")
    });
    if !name.starts_with("db.") || !in_zone_dir {
        return Ok(None);
    }
    match rw.name(name) {
        Some(new) if new != name => {
            let parent = path.parent().unwrap_or_else(RelPath::root);
            Ok(Some(parent.join(new)?))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_named_directory() {
        let t = "options {\n\tdirectory \"/var/named\";\n};\n";
        assert_eq!(directory_option(t), Some("/var/named"));
        assert_eq!(directory_option("zone x {};"), None);
    }
}
