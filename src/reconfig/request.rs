//! What the admin asked for, checked on its own (syntax and conflicts
//! between the options) before the MN is even looked at.

use super::net::{parse_ip, Net};
use crate::error::IoContext;
use crate::{Error, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The options of one reconfiguration, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The new hostname as given (short or fully qualified), lower case.
    pub hostname: Option<String>,
    /// The new DNS domain, lower case.
    pub domain: Option<String>,
    /// Explicit address replacements, in the order given.
    pub ips: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Network moves, in the order given.
    pub networks: Vec<(Net, Net)>,
    /// `--map FILE` entries.
    pub map: Vec<MapEntry>,
    /// The `--map` file, for messages.
    pub map_file: Option<PathBuf>,
}

/// One `node,ip` line of a `--map` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub node: String,
    pub ip: Ipv4Addr,
    pub line: u64,
}

impl Request {
    /// Parses the raw option values; every message names the option and value.
    pub fn parse(
        hostname: Option<&str>,
        ips: &[String],
        networks: &[String],
        domain: Option<&str>,
        map: Option<&Path>,
    ) -> Result<Request> {
        let mut req = Request::default();
        if let Some(h) = hostname {
            if !is_hostname(h) {
                return Err(refused(format!(
                    "--hostname {h}: not a valid hostname (labels of letters, digits and '-', 1-63 characters each, not starting or ending with '-')"
                )));
            }
            req.hostname = Some(h.trim_end_matches('.').to_ascii_lowercase());
        }
        if let Some(d) = domain {
            if !is_hostname(d) {
                return Err(refused(format!("--domain {d}: not a valid domain name")));
            }
            req.domain = Some(d.trim_end_matches('.').to_ascii_lowercase());
        }
        for raw in ips {
            let (old, new) = raw.split_once('=').ok_or_else(|| {
                refused(format!("--ip {raw}: expected OLD=NEW (two IPv4 addresses)"))
            })?;
            let parse = |t: &str| {
                parse_ip(t)
                    .ok_or_else(|| refused(format!("--ip {raw}: {t} is not an IPv4 address")))
            };
            let (old, new) = (parse(old)?, parse(new)?);
            if old == new {
                return Err(refused(format!(
                    "--ip {raw}: the old and the new address are the same"
                )));
            }
            if let Some((_, other)) = req.ips.iter().find(|(o, _)| *o == old) {
                return Err(refused(format!(
                    "--ip {old} is given twice: to {other} and to {new}"
                )));
            }
            if let Some((other, _)) = req.ips.iter().find(|(_, n)| *n == new) {
                return Err(refused(format!(
                    "--ip {other}={new} and --ip {old}={new} map two addresses to the same new address"
                )));
            }
            req.ips.push((old, new));
        }
        for raw in networks {
            let (old, new) = raw.split_once('=').ok_or_else(|| {
                refused(format!(
                    "--network {raw}: expected OLD_CIDR=NEW_CIDR (e.g. 10.0.0.0/16=172.20.0.0/16)"
                ))
            })?;
            let parse = |t: &str| {
                Net::parse_cidr(t).map_err(|why| refused(format!("--network {raw}: {why}")))
            };
            let (old, new) = (parse(old)?, parse(new)?);
            if old == new {
                return Err(refused(format!(
                    "--network {raw}: the old and the new network are the same"
                )));
            }
            for (o, n) in &req.networks {
                if o.overlaps(&old) {
                    return Err(refused(format!(
                        "--network {o}={n} and --network {raw}: the old networks {o} and {old} overlap"
                    )));
                }
                if n.overlaps(&new) {
                    return Err(refused(format!(
                        "--network {o}={n} and --network {raw}: the new networks {n} and {new} overlap"
                    )));
                }
            }
            req.networks.push((old, new));
        }
        if let Some(file) = map {
            req.map = read_map(file)?;
            req.map_file = Some(file.to_path_buf());
        }
        if req.hostname.is_none()
            && req.domain.is_none()
            && req.ips.is_empty()
            && req.networks.is_empty()
            && req.map.is_empty()
        {
            return Err(refused(
                "nothing to change: give --hostname, --domain, --ip, --network or --map".into(),
            ));
        }
        Ok(req)
    }
}

fn refused(message: String) -> Error {
    Error::Refused(message)
}

/// RFC 1123 host or domain name (no trailing dot needed, one allowed).
pub fn is_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Reads a `node,ip` file: blank lines and lines starting with `#` are
/// skipped, fields may be double-quoted; every problem names file and line.
pub fn read_map(file: &Path) -> Result<Vec<MapEntry>> {
    let handle = std::fs::File::open(file).at(file)?;
    let mut entries: Vec<MapEntry> = Vec::new();
    let mut by_node: HashMap<String, u64> = HashMap::new();
    let mut by_ip: HashMap<Ipv4Addr, u64> = HashMap::new();
    for (index, line) in BufReader::new(handle).lines().enumerate() {
        let number = index as u64 + 1;
        let line = line.at(file)?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(|f| unquote(f.trim())).collect();
        if fields.len() != 2 || fields[0].is_empty() {
            return Err(Error::format(
                file,
                number,
                format!("expected node,ip, found {text:?}"),
            ));
        }
        let (node, ip) = (fields[0], fields[1]);
        let ip = parse_ip(ip)
            .ok_or_else(|| Error::format(file, number, format!("{ip:?} is not an IPv4 address")))?;
        if let Some(first) = by_node.get(node) {
            return Err(Error::format(
                file,
                number,
                format!("node {node} is already mapped on line {first}"),
            ));
        }
        if let Some(first) = by_ip.get(&ip) {
            return Err(Error::format(
                file,
                number,
                format!("address {ip} is already given to a node on line {first}"),
            ));
        }
        by_node.insert(node.to_string(), number);
        by_ip.insert(ip, number);
        entries.push(MapEntry {
            node: node.to_string(),
            ip,
            line: number,
        });
    }
    Ok(entries)
}

fn unquote(field: &str) -> &str {
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ips(ips: &[&str]) -> Result<Request> {
        let ips: Vec<String> = ips.iter().map(|s| s.to_string()).collect();
        Request::parse(None, &ips, &[], None, None)
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("mn02"));
        assert!(is_hostname("mn02.site.example.org"));
        assert!(!is_hostname("mn_02"));
        assert!(!is_hostname("-mn"));
        assert!(!is_hostname("a..b"));
    }

    #[test]
    fn ip_mappings_are_checked_against_each_other() {
        let r = parse_ips(&["10.0.0.1=172.20.0.1"]).unwrap();
        assert_eq!(r.ips.len(), 1);
        let e = parse_ips(&["10.0.0.1=1.1.1.1", "10.0.0.1=2.2.2.2"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ip 10.0.0.1 is given twice: to 1.1.1.1 and to 2.2.2.2"
        );
        let e = parse_ips(&["10.0.0.1"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--ip 10.0.0.1: expected OLD=NEW (two IPv4 addresses)"
        );
    }

    #[test]
    fn map_lines_are_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("map.csv");
        std::fs::write(&f, "#node,ip\n\"n01\",\"10.1.0.1\"\nn02,10.1.0.2\n").unwrap();
        let m = read_map(&f).unwrap();
        assert_eq!(m[1].node, "n02");
        assert_eq!(m[1].line, 3);
        std::fs::write(&f, "n01,10.1.0.1\nn02\n").unwrap();
        let e = read_map(&f).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}:2: expected node,ip, found \"n02\"", f.display())
        );
    }
}
