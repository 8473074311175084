//! What a restore onto a live MN (`--root /` with xCAT installed) does
//! beyond the files: the database through the running xcatd, the make*
//! commands that rebuild generated configuration, SELinux labels, and the
//! facts these need from the snapshot (its site table, which paths it
//! carried).

use super::services::{Console, DhcpBackend, ServiceManager, XCAT_SBIN};
use crate::db::{self, schema, TableSource};
use crate::error::IoContext;
use crate::mn::{Arch, Family};
use crate::restore::{Journal, StepAction};
use crate::snapshot::{self, Verified};
use crate::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where the data stream keeps the DB dump.
const DUMP_PREFIX: &str = ".xcatport/db/";

/// The site table as key → value (disabled rows left out, as xCAT does).
pub type Site = BTreeMap<String, String>;

/// Reads a tabdump `site.csv`.
pub fn read_site_csv(input: impl BufRead, shown: &Path) -> Result<Site> {
    let table =
        schema::table("site").ok_or_else(|| Error::Db("schema has no site table".into()))?;
    let disable = table.column_index("disable");
    let mut reader = db::csv::Reader::new(input, shown, table)?;
    let mut site = Site::new();
    while let Some(rec) = reader.next_record()? {
        let off = disable
            .and_then(|i| rec.values.get(i).cloned().flatten())
            .is_some_and(|d| matches!(d.trim().to_ascii_lowercase().as_str(), "1" | "yes"));
        if let (false, Some(Some(k)), Some(Some(v))) = (off, rec.values.first(), rec.values.get(1))
        {
            site.insert(k.clone(), v.clone());
        }
    }
    Ok(site)
}

/// The site table of the snapshot, read from the head of the stream that
/// holds the DB dump (the data stream, or the secret stream of an encrypted
/// snapshot, which needs `key`); the dump comes first, so only its members
/// are decompressed.
pub fn site_from_stick(v: &Verified, key: Option<&snapshot::Unlock>) -> Result<Site> {
    let data = snapshot::reader::open_dump(v, key)?;
    let shown = match &v.head.secrets {
        Some(sec) => v.dir.join(&sec.name),
        None => v.dir.join(&v.head.data.name),
    };
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().at(&shown)? {
        let entry = entry.at(&shown)?;
        let name = entry.path().at(&shown)?.to_string_lossy().into_owned();
        if name == format!("{DUMP_PREFIX}site.csv") {
            return read_site_csv(BufReader::new(entry), &shown.join(&name));
        }
        if !name.starts_with(DUMP_PREFIX) && !name.starts_with(".xcatport") {
            break;
        }
    }
    Ok(Site::new())
}

/// The site table of the dump the files step extracted under the root.
pub fn site_from_dump(root: &Path) -> Result<Site> {
    let file = Journal::default_dir(root).join("db/site.csv");
    match std::fs::File::open(&file) {
        Ok(f) => read_site_csv(BufReader::new(f), &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Site::new()),
        Err(e) => Err(Error::io(file, e)),
    }
}

/// Which of some paths of interest the snapshot carries, and the trees it
/// restores (for relabelling), from one pass over MANIFEST.json.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    present: BTreeSet<String>,
    /// Paths of at most two components that hold restored entries.
    pub trees: BTreeSet<String>,
}

impl Carried {
    /// Scans the manifest's file list for `watch` (relative paths; a path
    /// counts as carried when it or anything under it is a member).
    pub fn scan(manifest: &Path, watch: &[String]) -> Result<Carried> {
        let mut c = Carried::default();
        snapshot::manifest::read(manifest, &mut |rec| {
            let p = rec.rel_path();
            for w in watch {
                if p.starts_with(w) {
                    c.present.insert(w.clone());
                }
            }
            let top: PathBuf = p.components().take(2).collect();
            if !top.as_os_str().is_empty() {
                c.trees.insert(top.to_string_lossy().into_owned());
            }
            Ok(())
        })?;
        Ok(c)
    }

    /// From a list of carried paths (tests).
    pub fn of(paths: &[&str]) -> Carried {
        Carried {
            present: paths.iter().map(|s| s.to_string()).collect(),
            trees: BTreeSet::new(),
        }
    }

    pub fn has(&self, path: &str) -> bool {
        self.present.contains(path)
    }
}

/// The generated files whose presence in the snapshot decides the make*
/// commands, per distro family and DHCP backend (spec §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegenPaths {
    pub hosts: &'static str,
    pub dns: &'static str,
    pub dhcp_conf: &'static str,
    /// `None` for Kea, whose reservations live in its JSON config.
    pub leases: Option<&'static str>,
    pub conserver: &'static str,
    pub goconserver: &'static str,
    /// `TFTPDIR/xcat`, where mknb puts genesis.
    pub genesis: String,
}

impl RegenPaths {
    pub fn new(family: Family, dhcp: DhcpBackend, tftpdir: &str) -> RegenPaths {
        let (dhcp_conf, leases) = match (dhcp, family) {
            (DhcpBackend::Kea, _) => ("etc/kea/kea-dhcp4.conf", None),
            (DhcpBackend::Isc, Family::Rhel) => {
                ("etc/dhcp/dhcpd.conf", Some("var/lib/dhcpd/dhcpd.leases"))
            }
            (DhcpBackend::Isc, Family::Sles) => {
                ("etc/dhcpd.conf", Some("var/lib/dhcp/db/dhcpd.leases"))
            }
            (DhcpBackend::Isc, Family::Ubuntu) => {
                ("etc/dhcp/dhcpd.conf", Some("var/lib/dhcp/dhcpd.leases"))
            }
        };
        RegenPaths {
            hosts: "etc/hosts",
            dns: match family {
                Family::Ubuntu => "etc/bind/named.conf",
                _ => "etc/named.conf",
            },
            dhcp_conf,
            leases,
            conserver: "etc/conserver.cf",
            goconserver: "var/lib/goconserver",
            genesis: format!("{}/xcat", tftpdir.trim_matches('/')),
        }
    }

    /// Every path to look for in the manifest.
    pub fn watch(&self) -> Vec<String> {
        let mut w: Vec<String> = [
            self.hosts,
            self.dns,
            self.dhcp_conf,
            self.conserver,
            self.goconserver,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        w.extend(self.leases.map(str::to_string));
        w.push(self.genesis.clone());
        w
    }
}

/// What decides the make* commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegenFacts {
    pub arch: Arch,
    pub dhcp: DhcpBackend,
    pub console: Console,
    pub paths: RegenPaths,
    /// Rows of the `networks` table in the restored dump.
    pub networks_rows: u64,
}

/// The make* commands a restore needs (spec §6): each rebuilds generated
/// configuration the snapshot did not carry. Programs are under
/// `/opt/xcat/sbin`; order matters (`makedns` reads `/etc/hosts`,
/// `makedhcp` reads `networks`).
pub fn regen_commands(f: &RegenFacts, carried: &Carried) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    if f.networks_rows == 0 {
        out.push(vec!["makenetworks"]);
    }
    if !carried.has(f.paths.hosts) {
        out.push(vec!["makehosts"]);
    }
    if !carried.has(f.paths.dns) {
        out.push(vec!["makedns", "-n"]);
    }
    let conf = carried.has(f.paths.dhcp_conf);
    let leases = f.paths.leases.is_none_or_has(carried);
    if !conf {
        out.push(vec!["makedhcp", "-n"]);
    }
    // ISC keeps node reservations in its leases file, Kea in its config.
    if !conf || !leases {
        out.push(vec!["makedhcp", "-a"]);
    }
    match f.console {
        Console::Conserver if !carried.has(f.paths.conserver) => {
            out.push(vec!["makeconservercf"]);
        }
        Console::Goconserver if !carried.has(f.paths.goconserver) => {
            out.push(vec!["makegocons"]);
        }
        _ => {}
    }
    let mknb_arch = match f.arch {
        Arch::Ppc64le => "ppc64",
        other => other.as_str(),
    };
    if !carried.has(&f.paths.genesis) {
        out.push(vec!["mknb", mknb_arch]);
    }
    out.into_iter()
        .map(|c| c.into_iter().map(str::to_string).collect())
        .collect()
}

trait LeasesCarried {
    fn is_none_or_has(&self, carried: &Carried) -> bool;
}

impl LeasesCarried for Option<&'static str> {
    fn is_none_or_has(&self, carried: &Carried) -> bool {
        match self {
            None => true,
            Some(p) => carried.has(p),
        }
    }
}

/// Rows of one table in the restored dump, 0 when it has no file.
fn dump_rows(root: &Path, table: &str) -> Result<u64> {
    let Some(t) = schema::table(table) else {
        return Ok(0);
    };
    let file = Journal::default_dir(root).join(format!("db/{table}.csv"));
    if !file.is_file() {
        return Ok(0);
    }
    db::dump::validate(&TableSource { table: t, file })
}

/// Runs the make* commands; a failing one is reported and the rest still
/// run (the admin reruns it once the cause is fixed).
pub struct RegenerateStep {
    pub arch: Arch,
    pub family: Family,
    pub major: u32,
    pub tftpdir: String,
    pub carried: Carried,
    pub console: Option<Console>,
    pub sm: Box<dyn ServiceManager>,
}

impl RegenerateStep {
    /// The facts, read once the files and the dump are in place.
    pub fn facts(&self, root: &Path) -> Result<RegenFacts> {
        let site = site_from_dump(root)?;
        let dhcp = DhcpBackend::from_site(
            site.get("dhcpbackend").map(String::as_str),
            self.family,
            self.major,
        );
        let console = self.console.unwrap_or_else(|| {
            Console::choose(
                site.get("consoleservice").map(String::as_str),
                self.family,
                &*self.sm,
            )
        });
        Ok(RegenFacts {
            arch: self.arch,
            dhcp,
            console,
            paths: RegenPaths::new(self.family, dhcp, &self.tftpdir),
            networks_rows: dump_rows(root, "networks")?,
        })
    }
}

impl StepAction for RegenerateStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let facts = self.facts(root)?;
        let commands = regen_commands(&facts, &self.carried);
        if commands.is_empty() {
            return Ok("the snapshot carried every generated file: nothing to run".into());
        }
        let mut results = Vec::new();
        for c in &commands {
            let program = format!("{XCAT_SBIN}/{}", c[0]);
            let args: Vec<&str> = c[1..].iter().map(String::as_str).collect();
            let shown = c.join(" ");
            match self.sm.command(&program, &args) {
                Ok(_) => results.push(format!("{shown} ok")),
                Err(e) => results.push(format!("{shown} FAILED ({e})")),
            }
        }
        Ok(results.join("; "))
    }

    fn undo(&mut self, _root: &Path) -> Result<String> {
        Ok("regenerated configuration is left; files the snapshot replaced are put back by the files step".into())
    }
}

/// How long xcatd may take to answer after a start.
const XCATD_WAIT_SECONDS: u32 = 60;

/// The database step on a live MN (design: "Restore order on a live MN"):
/// every CSV validated natively, xcatd started, `restorexCATdb -a -p DIR`
/// run through it, then the database dumped natively and compared with
/// the snapshot's dump table by table, because restorexCATdb exits 0 when
/// a table fails.
pub fn restore_through_xcatd(
    root: &Path,
    dump: &Path,
    sm: &mut dyn ServiceManager,
) -> Result<String> {
    let sources = dump_sources(dump)?;
    for s in &sources {
        db::dump::validate(s)?;
    }
    sm.start("xcatd")?;
    wait_for_xcatd(sm)?;
    let dir = dump.to_string_lossy().into_owned();
    let out = sm.command(&format!("{XCAT_SBIN}/restorexCATdb"), &["-a", "-p", &dir])?;
    if let Some(line) = out.lines().find(|l| l.trim_start().starts_with("Error")) {
        return Err(Error::Command {
            command: format!("{XCAT_SBIN}/restorexCATdb -a -p {dir}"),
            detail: line.trim().to_string(),
        });
    }
    let differ = compare_with_dump(root, &sources)?;
    if !differ.is_empty() {
        return Err(Error::Db(format!(
            "restorexCATdb reported success, but {} table(s) differ from the snapshot's dump in {dir}: {}",
            differ.len(),
            differ.join(", ")
        )));
    }
    let rows: u64 = sources
        .iter()
        .map(|s| db::dump::validate(s).unwrap_or(0))
        .sum();
    Ok(format!(
        "{} tables, {rows} rows restored (restorexCATdb through xcatd; dumped back and compared)",
        sources.len()
    ))
}

fn wait_for_xcatd(sm: &mut dyn ServiceManager) -> Result<()> {
    let lsxcatd = "/opt/xcat/bin/lsxcatd";
    let mut last = String::new();
    for attempt in 0..XCATD_WAIT_SECONDS {
        match sm.command(lsxcatd, &["-v"]) {
            Ok(out) if out.contains("Version") => return Ok(()),
            Ok(out) => last = out.trim().to_string(),
            Err(e) => last = e.to_string(),
        }
        if attempt + 1 < XCATD_WAIT_SECONDS {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    Err(Error::Command {
        command: format!("{lsxcatd} -v"),
        detail: format!("xcatd did not answer within {XCATD_WAIT_SECONDS} s: {last}"),
    })
}

/// The `<table>.csv` files of a dump directory, sorted by table.
fn dump_sources(dump: &Path) -> Result<Vec<TableSource>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dump).at(dump)? {
        let p = e.at(dump)?.path();
        let stem = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".csv"))
            .and_then(schema::table);
        if let Some(table) = stem {
            out.push(TableSource { table, file: p });
        }
    }
    out.sort_by(|a, b| a.table.name.cmp(&b.table.name));
    Ok(out)
}

/// Tables whose rows in the database differ from their dump file (as
/// multisets: the order of rows is the database's).
fn compare_with_dump(root: &Path, sources: &[TableSource]) -> Result<Vec<String>> {
    let mut backend = db::open(root)?;
    let mut differ = Vec::new();
    for s in sources {
        let mut want = Vec::new();
        db::backend::for_each_record(s, &mut |r| {
            want.push(db::backend::insert_values(s.table, r.values));
            Ok(())
        })?;
        let mut have = Vec::new();
        backend.dump_table(s.table, &mut |row| {
            have.push(row);
            Ok(())
        })?;
        normalise(&mut want);
        normalise(&mut have);
        if want != have {
            differ.push(format!(
                "{} ({} rows, expected {})",
                s.table.name,
                have.len(),
                want.len()
            ));
        }
    }
    Ok(differ)
}

/// `''` and NULL dump identically; compare them as equal, in any order.
fn normalise(rows: &mut [db::csv::Row]) {
    for row in rows.iter_mut() {
        for v in row.iter_mut() {
            if v.as_deref() == Some("") {
                *v = None;
            }
        }
    }
    rows.sort();
}

/// True on a root of `/` whose kernel enforces SELinux.
pub fn selinux_enforcing(host_root: bool) -> bool {
    host_root && std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok_and(|s| s.trim() == "1")
}

/// Relabels the restored trees to the policy's labels with `restorecon -R`
/// (a label recorded on another machine may not exist in this policy).
pub fn relabel(
    root: &Path,
    trees: &BTreeSet<String>,
    sm: &mut dyn ServiceManager,
) -> Result<String> {
    let paths: Vec<String> = trees
        .iter()
        .map(|t| root.join(t))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    for chunk in paths.chunks(200) {
        let mut args: Vec<&str> = vec!["-R"];
        args.extend(chunk.iter().map(String::as_str));
        sm.command("restorecon", &args)?;
    }
    Ok(format!(
        "SELinux labels reset with restorecon on {} paths",
        paths.len()
    ))
}

/// The addresses of this machine's interfaces.
pub fn local_addresses() -> Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; we only
    // read it in between.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(Error::io("getifaddrs", std::io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr whose family says its type.
            let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ));
            } else if family == libc::AF_INET6 {
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// Whether `master` (site.master) is one of `addresses`: `Ok(true/false)`,
/// or `Err(why)` when it cannot be compared (not an address).
pub fn owns_master(master: &str, addresses: &[IpAddr]) -> std::result::Result<bool, String> {
    match master.trim().parse::<IpAddr>() {
        Ok(ip) => Ok(addresses.contains(&ip)),
        Err(_) => Err(format!(
            "site.master is {master:?}, not an IP address; compare it with this MN's addresses yourself"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::services::testing::Recorder;
    use super::*;

    fn facts(family: Family, dhcp: DhcpBackend, console: Console, networks: u64) -> RegenFacts {
        RegenFacts {
            arch: Arch::X86_64,
            dhcp,
            console,
            paths: RegenPaths::new(family, dhcp, "/tftpboot"),
            networks_rows: networks,
        }
    }

    #[test]
    fn a_full_snapshot_needs_no_make_command() {
        let f = facts(Family::Rhel, DhcpBackend::Isc, Console::Goconserver, 3);
        let all: Vec<String> = f.paths.watch();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(
            regen_commands(&f, &Carried::of(&refs)),
            Vec::<Vec<String>>::new()
        );
    }

    #[test]
    fn missing_generated_files_pick_the_make_commands_per_distro_and_backend() {
        let cmds = |f: &RegenFacts, carried: &[&str]| -> Vec<String> {
            regen_commands(f, &Carried::of(carried))
                .iter()
                .map(|c| c.join(" "))
                .collect()
        };
        // EL, ISC: config carried but no leases → reservations re-added
        let f = facts(Family::Rhel, DhcpBackend::Isc, Console::Goconserver, 2);
        assert_eq!(
            cmds(
                &f,
                &[
                    "etc/hosts",
                    "etc/named.conf",
                    "etc/dhcp/dhcpd.conf",
                    "tftpboot/xcat"
                ]
            ),
            ["makedhcp -a", "makegocons"]
        );
        // Ubuntu names its DNS config differently
        let f = facts(Family::Ubuntu, DhcpBackend::Isc, Console::Conserver, 0);
        assert_eq!(
            cmds(&f, &["etc/named.conf", "var/lib/dhcp/dhcpd.leases"]),
            [
                "makenetworks",
                "makehosts",
                "makedns -n",
                "makedhcp -n",
                "makedhcp -a",
                "makeconservercf",
                "mknb x86_64"
            ]
        );
        // Kea keeps reservations in its config: no leases needed
        let f = facts(Family::Sles, DhcpBackend::Kea, Console::None, 1);
        assert_eq!(
            cmds(
                &f,
                &[
                    "etc/hosts",
                    "etc/named.conf",
                    "etc/kea/kea-dhcp4.conf",
                    "tftpboot/xcat"
                ]
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            RegenPaths::new(Family::Sles, DhcpBackend::Isc, "/srv/tftp/").leases,
            Some("var/lib/dhcp/db/dhcpd.leases")
        );
        let mut ppc = facts(Family::Rhel, DhcpBackend::Isc, Console::None, 1);
        ppc.arch = Arch::Ppc64le;
        assert_eq!(
            cmds(
                &ppc,
                &[
                    "etc/hosts",
                    "etc/named.conf",
                    "etc/dhcp/dhcpd.conf",
                    "var/lib/dhcpd/dhcpd.leases"
                ]
            ),
            ["mknb ppc64"]
        );
    }

    #[test]
    fn regenerate_step_runs_commands_and_reports_each() {
        let root = tempfile::tempdir().unwrap();
        let db = Journal::default_dir(root.path()).join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(
            db.join("site.csv"),
            "#key,value,comments,disable\n\"dhcpbackend\",\"kea\",,\n\"consoleservice\",\"conserver\",,\"1\"\n",
        )
        .unwrap();
        let rec = Recorder::with(&["goconserver"], &[]);
        let mut step = RegenerateStep {
            arch: Arch::Aarch64,
            family: Family::Rhel,
            major: 9,
            tftpdir: "/tftpboot".into(),
            carried: Carried::of(&["etc/hosts", "etc/named.conf", "var/lib/goconserver"]),
            console: None,
            sm: Box::new(rec.clone()),
        };
        let f = step.facts(root.path()).unwrap();
        assert_eq!(
            (f.dhcp, f.console),
            (DhcpBackend::Kea, Console::Goconserver)
        );
        let detail = step.run(root.path()).unwrap();
        assert_eq!(
            detail,
            "makenetworks ok; makedhcp -n ok; makedhcp -a ok; mknb aarch64 ok"
        );
        assert_eq!(
            rec.calls(),
            [
                "/opt/xcat/sbin/makenetworks",
                "/opt/xcat/sbin/makedhcp -n",
                "/opt/xcat/sbin/makedhcp -a",
                "/opt/xcat/sbin/mknb aarch64"
            ]
        );
    }

    #[test]
    fn live_database_starts_xcatd_then_restorexcatdb_and_catches_its_silent_failures() {
        let root = tempfile::tempdir().unwrap();
        let dump = root.path().join("dump");
        std::fs::create_dir(&dump).unwrap();
        std::fs::write(
            dump.join("site.csv"),
            "#key,value,comments,disable\n\"master\",\"10.0.0.1\",,\n",
        )
        .unwrap();
        let mut rec = Recorder::with(&["xcatd"], &[]);
        rec.outputs
            .insert("lsxcatd".into(), "Version 2.16.5\n".into());
        // restorexCATdb "succeeded" but wrote nothing: the compare sees it
        let e = restore_through_xcatd(root.path(), &dump, &mut rec.clone()).unwrap_err();
        assert!(
            e.to_string().starts_with("restorexCATdb reported success, but 1 table(s) differ from the snapshot's dump in "),
            "{e}"
        );
        assert!(
            e.to_string().ends_with(": site (0 rows, expected 1)"),
            "{e}"
        );
        assert_eq!(
            rec.calls(),
            [
                "start xcatd".to_string(),
                "/opt/xcat/bin/lsxcatd -v".to_string(),
                format!("/opt/xcat/sbin/restorexCATdb -a -p {}", dump.display())
            ]
        );
        // an Error line in its output is a failure even with exit 0
        rec.outputs.insert(
            "restorexCATdb".into(),
            "Error: cannot restore site\n".into(),
        );
        let e = restore_through_xcatd(root.path(), &dump, &mut rec.clone()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("failed: Error: cannot restore site"),
            "{e}"
        );
        // a bad CSV stops before xcatd is touched
        std::fs::write(dump.join("site.csv"), "#key,value,comments,disable\n\n").unwrap();
        let fresh = Recorder::with(&["xcatd"], &[]);
        assert!(restore_through_xcatd(root.path(), &dump, &mut fresh.clone()).is_err());
        assert!(fresh.calls().is_empty());
    }

    #[test]
    fn master_address_comparison() {
        let here: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        assert_eq!(owns_master("10.0.0.1", &here), Ok(true));
        assert_eq!(owns_master(" 10.0.0.2", &here), Ok(false));
        assert!(owns_master("mn01", &here)
            .unwrap_err()
            .contains("not an IP address"));
        assert!(local_addresses()
            .unwrap()
            .contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
    }

    #[test]
    fn relabel_runs_restorecon_on_existing_trees() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/xcat")).unwrap();
        let rec = Recorder::default();
        let trees: BTreeSet<String> = ["etc/xcat".to_string(), "gone".to_string()].into();
        let d = relabel(root.path(), &trees, &mut rec.clone()).unwrap();
        assert_eq!(d, "SELinux labels reset with restorecon on 1 paths");
        assert_eq!(
            rec.calls(),
            [format!(
                "restorecon -R {}",
                root.path().join("etc/xcat").display()
            )]
        );
    }
}
