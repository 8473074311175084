//! The change set: from a [`Request`] and the MN under a root to every
//! table row and file that changes, with no side effects. Everything the
//! request gets wrong about this MN (an address that appears nowhere, a
//! network that is not in the networks table, a node that does not exist,
//! a new network too small for the addresses it must take, two addresses
//! that would become one) is refused here, before anything is written.

use super::cert::{self, CertPlan};
use super::files::{self, FileChange, Source};
use super::net::{parse_ip, Net};
use super::request::Request;
use super::rewrite::{addresses, Rewriter};
use super::tables::{self, key_text, TableChange};
use crate::db::{self, dump::site_value, schema, Backend};
use crate::mn::{RelPath, Root};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

/// The MN's names before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub old_fqdn: Option<String>,
    pub old_short: Option<String>,
    pub new_fqdn: Option<String>,
    pub new_short: Option<String>,
    pub old_domain: Option<String>,
    pub new_domain: Option<String>,
}

/// Everything a reconfiguration changes.
#[derive(Debug, Clone)]
pub struct ChangeSet {
    pub identity: Identity,
    /// One line per address, network and name replaced (`old -> new`).
    pub summary: Vec<String>,
    pub tables: Vec<TableChange>,
    pub files: Vec<FileChange>,
    pub cert: CertPlan,
    /// The make* commands the change needs, in order.
    pub commands: Vec<String>,
    /// Things the admin should know or still do.
    pub notes: Vec<String>,
    pub rewriter: Rewriter,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.files.is_empty()
            && !matches!(self.cert, CertPlan::Regenerate { .. })
    }

    pub fn row_count(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }
}

/// Where an address was first seen: `hosts node=n01 ip` or `/etc/hosts:4`.
type Places = BTreeMap<u32, String>;

/// Computes the change set of `req` on the MN under `root`.
pub fn plan(root: &Root, req: &Request) -> Result<ChangeSet> {
    let mut backend = db::open(root.path())?;
    let mut notes = Vec::new();
    let identity = identity(root, backend.as_mut(), req)?;
    let mut rw = Rewriter::default();
    let mut summary = Vec::new();
    name_rules(&identity, &mut rw, &mut summary);
    network_rules(backend.as_mut(), req, &mut rw, &mut summary)?;

    let sources = files::read_all(root, &mut notes)?;
    let places = scan(backend.as_mut(), &sources)?;
    let explicit = explicit_ips(backend.as_mut(), req, &places)?;
    resolve(req, &explicit, &places, &mut rw)?;
    let changed_ips = rw.ips.len();
    if changed_ips > 0 {
        summary.push(format!("{changed_ips} addresses change"));
    }

    let tables = tables::changes(backend.as_mut(), &rw)?;
    let files = files::changes(&sources, &rw)?;
    let cert = match (&identity.old_fqdn, &identity.new_fqdn, &identity.new_short) {
        (Some(old), Some(new), Some(short)) if old != new => {
            let mut old_names = vec![old.clone()];
            old_names.extend(identity.old_short.clone());
            cert::plan(root, &old_names, new, short)?
        }
        _ => CertPlan::Keep("the MN's name does not change".into()),
    };
    let commands = commands(&identity, &rw, &tables, &files);
    if identity.old_fqdn != identity.new_fqdn {
        if let Some(new) = &identity.new_fqdn {
            notes.push(format!(
                "the running system keeps its old name until you run `hostnamectl set-hostname {new}` (or reboot)"
            ));
        }
    }
    if !rw.ips.is_empty() {
        notes.push(
            "the MN's own network interfaces are not changed: give them their new addresses yourself".into(),
        );
    }
    Ok(ChangeSet {
        identity,
        summary,
        tables,
        files,
        cert,
        commands,
        notes,
        rewriter: rw,
    })
}

/// The MN's current names (from /etc/hostname, site.domain) and new ones.
fn identity(root: &Root, backend: &mut dyn Backend, req: &Request) -> Result<Identity> {
    let old_domain = site_value(backend, "domain")?
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let mut id = Identity {
        old_domain: old_domain.clone(),
        new_domain: req.domain.clone().or(old_domain.clone()),
        ..Identity::default()
    };
    if req.hostname.is_none() && req.domain.is_none() {
        return Ok(id);
    }
    if req.domain.is_some() && old_domain.is_none() {
        return Err(Error::Refused(
            "--domain: the site table has no domain to replace (site.domain is not set)".into(),
        ));
    }
    let hostname_file = root.resolve(&RelPath::new("etc/hostname")?)?;
    let current = std::fs::read_to_string(&hostname_file)
        .ok()
        .and_then(|t| t.lines().next().map(|l| l.trim().to_ascii_lowercase()))
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            Error::Refused(format!(
                "{}: missing or empty, so the MN's current hostname is unknown",
                hostname_file.display()
            ))
        })?;
    let (old_short, old_fqdn) = split_name(&current, old_domain.as_deref());
    let new_domain = id.new_domain.clone();
    let (new_short, new_fqdn) = match &req.hostname {
        Some(h) => {
            if let (Some((_, dom)), Some(nd)) = (h.split_once('.'), &new_domain) {
                if dom != nd {
                    return Err(Error::Refused(format!(
                        "--hostname {h} is not in the domain {nd}; give --domain {dom} to change the cluster's domain as well"
                    )));
                }
            }
            split_name(h, new_domain.as_deref())
        }
        None => split_name(&old_short, new_domain.as_deref()),
    };
    id.old_short = Some(old_short);
    id.old_fqdn = Some(old_fqdn);
    id.new_short = Some(new_short);
    id.new_fqdn = Some(new_fqdn);
    Ok(id)
}

/// (short, fqdn) of a name, completing a short one with `domain`.
fn split_name(name: &str, domain: Option<&str>) -> (String, String) {
    match name.split_once('.') {
        Some((short, _)) => (short.to_string(), name.to_string()),
        None => (
            name.to_string(),
            domain.map_or_else(|| name.to_string(), |d| format!("{name}.{d}")),
        ),
    }
}

fn name_rules(id: &Identity, rw: &mut Rewriter, summary: &mut Vec<String>) {
    if let (Some(o), Some(n)) = (&id.old_fqdn, &id.new_fqdn) {
        if o != n {
            rw.names.exact.insert(o.clone(), n.clone());
            summary.push(format!("hostname {o} -> {n}"));
        }
    }
    if let (Some(o), Some(n)) = (&id.old_short, &id.new_short) {
        if o != n {
            rw.names.exact.insert(o.clone(), n.clone());
            summary.push(format!("short hostname {o} -> {n}"));
        }
    }
    if let (Some(o), Some(n)) = (&id.old_domain, &id.new_domain) {
        if o != n {
            rw.names.domain = Some((o.clone(), n.clone()));
            summary.push(format!("domain {o} -> {n}"));
        }
    }
}

/// The networks table as (netname, network).
fn networks(backend: &mut dyn Backend) -> Result<Vec<(String, Net)>> {
    let table = schema::table("networks")
        .ok_or_else(|| Error::Db("schema has no networks table".into()))?;
    let (name, net, mask) = (
        table.column_index("netname"),
        table.column_index("net"),
        table.column_index("mask"),
    );
    let mut out = Vec::new();
    backend.dump_table(table, &mut |row| {
        let get = |i: Option<usize>| i.and_then(|i| row.get(i).cloned().flatten());
        if let (Some(a), Some(m)) = (
            get(net).and_then(|v| parse_ip(v.trim())),
            get(mask).and_then(|v| parse_ip(v.trim())),
        ) {
            if let Some(n) = Net::from_mask(a, m) {
                out.push((get(name).unwrap_or_default(), n));
            }
        }
        Ok(())
    })?;
    Ok(out)
}

fn network_rules(
    backend: &mut dyn Backend,
    req: &Request,
    rw: &mut Rewriter,
    summary: &mut Vec<String>,
) -> Result<()> {
    if req.networks.is_empty() {
        return Ok(());
    }
    let rows = networks(backend)?;
    for (old, new) in &req.networks {
        let flag = format!("--network {old}={new}");
        let Some((netname, _)) = rows.iter().find(|(_, n)| n == old) else {
            let known: Vec<String> = rows.iter().map(|(_, n)| n.to_string()).collect();
            return Err(Error::Refused(format!(
                "{flag}: no row of the networks table is the network {old} (it has {})",
                if known.is_empty() {
                    "no rows".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        let moved = |n: &Net| req.networks.iter().any(|(o, _)| o == n);
        if let Some((name, other)) = rows.iter().find(|(_, n)| !moved(n) && n.overlaps(new)) {
            return Err(Error::Refused(format!(
                "{flag}: the new network overlaps the network {other} (networks row {name}), which stays"
            )));
        }
        if netname.eq_ignore_ascii_case(&old.netname()) {
            rw.names
                .exact
                .insert(old.netname().to_ascii_lowercase(), new.netname());
        }
        rw.nets.push((*old, *new));
        summary.push(format!("network {old} -> {new}"));
    }
    Ok(())
}

/// Every address in the tables and files, with the first place it is seen.
fn scan(backend: &mut dyn Backend, sources: &[Source]) -> Result<Places> {
    let mut places = Places::new();
    for table in tables::tables() {
        backend.dump_table(table, &mut |row| {
            for (i, v) in row.iter().enumerate() {
                let Some(v) = v else { continue };
                for f in addresses(v) {
                    places.entry(f.ip).or_insert_with(|| {
                        format!(
                            "{} {} {}",
                            table.name,
                            key_text(table, &row),
                            table.columns[i]
                        )
                    });
                }
            }
            Ok(())
        })?;
    }
    for s in sources {
        for (n, line) in s.text.lines().enumerate() {
            for f in addresses(line) {
                places
                    .entry(f.ip)
                    .or_insert_with(|| format!("{}:{}", s.path, n + 1));
            }
        }
    }
    Ok(places)
}

/// `--ip` and `--map` as one address map, checked against the MN.
fn explicit_ips(
    backend: &mut dyn Backend,
    req: &Request,
    places: &Places,
) -> Result<HashMap<u32, (u32, String)>> {
    let mut out: HashMap<u32, (u32, String)> = HashMap::new();
    for (old, new) in &req.ips {
        if !places.contains_key(&u32::from(*old)) {
            return Err(Error::Refused(format!(
                "--ip {old}={new}: {old} appears nowhere in the database or the service files"
            )));
        }
        out.insert(
            u32::from(*old),
            (u32::from(*new), format!("--ip {old}={new}")),
        );
    }
    if req.map.is_empty() {
        return Ok(out);
    }
    let file = req.map_file.clone().unwrap_or_default();
    let nodes = column_values(backend, "nodelist", "node", None)?;
    let host_ips = column_values(backend, "hosts", "node", Some("ip"))?;
    for e in &req.map {
        if !nodes.contains_key(&e.node) {
            return Err(Error::format(
                &file,
                e.line,
                format!("node {} is not in the nodelist table", e.node),
            ));
        }
        let old = host_ips
            .get(&e.node)
            .and_then(|v| v.as_deref())
            .and_then(|v| parse_ip(v.trim()))
            .ok_or_else(|| {
                Error::format(
                    &file,
                    e.line,
                    format!(
                        "node {} has no address in the hosts table to replace",
                        e.node
                    ),
                )
            })?;
        if let Some((_, by)) = out.get(&u32::from(old)) {
            return Err(Error::format(
                &file,
                e.line,
                format!("node {}'s address {old} is also changed by {by}", e.node),
            ));
        }
        if old != e.ip {
            out.insert(
                u32::from(old),
                (
                    u32::from(e.ip),
                    format!("{}:{} (node {})", file.display(), e.line, e.node),
                ),
            );
        }
    }
    Ok(out)
}

/// `key -> value` of two columns of a table (value None for a key-only read).
fn column_values(
    backend: &mut dyn Backend,
    table: &str,
    key: &str,
    value: Option<&str>,
) -> Result<HashMap<String, Option<String>>> {
    let t =
        schema::table(table).ok_or_else(|| Error::Db(format!("schema has no {table} table")))?;
    let k = t.column_index(key);
    let v = value.and_then(|c| t.column_index(c));
    let mut out = HashMap::new();
    backend.dump_table(t, &mut |row| {
        if let Some(name) = k.and_then(|k| row.get(k).cloned().flatten()) {
            out.insert(name, v.and_then(|v| row.get(v).cloned().flatten()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// The final address map: explicit first, then the network offsets; every
/// address must fit its new network, and no two may become one.
fn resolve(
    req: &Request,
    explicit: &HashMap<u32, (u32, String)>,
    places: &Places,
    rw: &mut Rewriter,
) -> Result<()> {
    let mut target: BTreeMap<u32, u32> = BTreeMap::new();
    for (&ip, place) in places {
        let new = if let Some((new, _)) = explicit.get(&ip) {
            *new
        } else if let Some((old, new)) = req.networks.iter().find(|(o, _)| o.contains(ip)) {
            let offset = u64::from(ip - old.addr);
            match new.at(offset) {
                Some(a) => u32::from(a),
                None => {
                    return Err(Error::Refused(format!(
                        "--network {old}={new}: {} ({place}) is at offset {offset} in {old}, beyond the {} addresses of {new}",
                        Ipv4Addr::from(ip),
                        new.size()
                    )))
                }
            }
        } else {
            ip
        };
        target.insert(ip, new);
    }
    let mut owner: HashMap<u32, u32> = HashMap::new();
    for (&old, &new) in &target {
        if let Some(&first) = owner.get(&new) {
            let why = |ip: u32| {
                explicit
                    .get(&ip)
                    .map(|(_, by)| by.clone())
                    .or_else(|| {
                        req.networks
                            .iter()
                            .find(|(o, _)| o.contains(ip))
                            .map(|(o, n)| format!("--network {o}={n}"))
                    })
                    .unwrap_or_else(|| "unchanged".into())
            };
            return Err(Error::Refused(format!(
                "{} ({}, {}) and {} ({}, {}) would both become {}",
                Ipv4Addr::from(first),
                places.get(&first).map(String::as_str).unwrap_or("?"),
                why(first),
                Ipv4Addr::from(old),
                places.get(&old).map(String::as_str).unwrap_or("?"),
                why(old),
                Ipv4Addr::from(new)
            )));
        }
        owner.insert(new, old);
    }
    rw.ips = target.into_iter().filter(|(o, n)| o != n).collect();
    Ok(())
}

/// The make* commands that regenerate what the change touches.
fn commands(
    id: &Identity,
    rw: &Rewriter,
    tables: &[TableChange],
    files: &[FileChange],
) -> Vec<String> {
    if tables.is_empty() && files.is_empty() {
        return Vec::new();
    }
    let renamed = id.old_fqdn != id.new_fqdn;
    let readdressed = !rw.ips.is_empty() || !rw.nets.is_empty();
    let mut out = vec!["makehosts".to_string(), "makedns -n".to_string()];
    if readdressed || renamed {
        out.push("makedhcp -n".into());
        out.push("makedhcp -a".into());
    }
    out.push("makeconservercf".into());
    out
}
