//! The daemons of a live MN: which units exist for each function on each
//! distro, stopping xCAT's daemons before the files step (quiesce), and
//! enabling and starting them at the end (services), each reported with its
//! state.
//!
//! Everything that touches the OS goes through [`ServiceManager`]; the
//! choices (which units, in which order) are plain functions over it, so
//! they are tested with a recording implementation. [`Systemctl`] is the
//! real one: systemd, or the `/etc/init.d` scripts where systemd is absent.

use crate::error::IoContext;
use crate::mn::Family;
use crate::restore::{Journal, StepAction};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The OS boundary of the live steps.
pub trait ServiceManager {
    /// Whether a unit (or init script) of this name is installed.
    fn has_unit(&self, unit: &str) -> bool;
    /// `active`, `inactive`, `failed`, … as `systemctl is-active` says.
    fn state(&mut self, unit: &str) -> String;
    fn start(&mut self, unit: &str) -> Result<()>;
    fn stop(&mut self, unit: &str) -> Result<()>;
    fn enable(&mut self, unit: &str) -> Result<()>;
    /// Runs an xCAT command (make*, restorexCATdb); returns stdout+stderr.
    fn command(&mut self, program: &str, args: &[&str]) -> Result<String>;
}

/// A function xCAT drives, whose unit name differs between distros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Xcatd,
    /// ISC dhcpd.
    Dhcp,
    /// Kea's DHCPv4 server (new xCAT backend).
    Kea,
    Named,
    Http,
    Nfs,
    Syslog,
    Goconserver,
    Conserver,
}

impl Daemon {
    /// Candidate unit names, the family's usual one first; the first that
    /// exists wins, as xCAT's `Utils::servicemap` decides.
    pub fn candidates(self, family: Family) -> &'static [&'static str] {
        use Family::*;
        match (self, family) {
            (Daemon::Xcatd, _) => &["xcatd"],
            (Daemon::Dhcp, Ubuntu) => &["isc-dhcp-server", "dhcpd", "dhcp3-server"],
            (Daemon::Dhcp, _) => &["dhcpd", "isc-dhcp-server", "dhcp3-server"],
            (Daemon::Kea, Ubuntu) => &["kea-dhcp4-server", "isc-kea-dhcp4-server", "kea-dhcp4"],
            (Daemon::Kea, _) => &["kea-dhcp4", "kea-dhcp4-server", "isc-kea-dhcp4-server"],
            (Daemon::Named, Ubuntu) => &["bind9", "named"],
            (Daemon::Named, _) => &["named", "bind9"],
            (Daemon::Http, Rhel) => &["httpd", "apache2"],
            (Daemon::Http, _) => &["apache2", "httpd"],
            (Daemon::Nfs, Ubuntu) => &["nfs-kernel-server", "nfs-server", "nfsserver", "nfs"],
            (Daemon::Nfs, Sles) => &["nfs-server", "nfsserver", "nfs"],
            (Daemon::Nfs, Rhel) => &["nfs-server", "nfs"],
            (Daemon::Syslog, _) => &["rsyslog", "syslog", "syslogd"],
            (Daemon::Goconserver, _) => &["goconserver"],
            (Daemon::Conserver, _) => &["conserver"],
        }
    }

    /// The installed unit for this function, if any.
    pub fn unit(self, family: Family, sm: &dyn ServiceManager) -> Option<&'static str> {
        self.candidates(family)
            .iter()
            .copied()
            .find(|u| sm.has_unit(u))
    }
}

/// Which DHCP server xCAT drives (`site.dhcpbackend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpBackend {
    Isc,
    Kea,
}

impl DhcpBackend {
    /// `kea`/`isc` as set; `auto` (or unset) is Kea on EL ≥ 10 and Ubuntu
    /// ≥ 22.04, ISC elsewhere, as xCAT's backend selection decides.
    pub fn from_site(value: Option<&str>, family: Family, major: u32) -> DhcpBackend {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("kea") => DhcpBackend::Kea,
            Some("isc") => DhcpBackend::Isc,
            _ => match family {
                Family::Rhel if major >= 10 => DhcpBackend::Kea,
                Family::Ubuntu if major >= 22 => DhcpBackend::Kea,
                _ => DhcpBackend::Isc,
            },
        }
    }

    fn daemon(self) -> Daemon {
        match self {
            DhcpBackend::Isc => Daemon::Dhcp,
            DhcpBackend::Kea => Daemon::Kea,
        }
    }
}

/// Which console server the MN uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Goconserver,
    Conserver,
    None,
}

impl Console {
    /// `site.consoleservice` when set, else goconserver when installed
    /// (xCAT requires it since 2018), else conserver when installed.
    pub fn choose(site: Option<&str>, family: Family, sm: &dyn ServiceManager) -> Console {
        match site.map(str::trim) {
            Some("conserver") => return Console::Conserver,
            Some("goconserver") => return Console::Goconserver,
            _ => {}
        }
        if Daemon::Goconserver.unit(family, sm).is_some() {
            Console::Goconserver
        } else if Daemon::Conserver.unit(family, sm).is_some() {
            Console::Conserver
        } else {
            Console::None
        }
    }

    fn daemon(self) -> Option<Daemon> {
        match self {
            Console::Goconserver => Some(Daemon::Goconserver),
            Console::Conserver => Some(Daemon::Conserver),
            Console::None => None,
        }
    }
}

/// What decides the daemons of this MN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceFacts {
    pub family: Family,
    pub dhcp: DhcpBackend,
    pub console: Console,
}

/// Units the quiesce step stops, in order: xcatd first (it spawns tftpd
/// and reconfigures the others), then what holds files the snapshot
/// replaces (consoles use the server certificate, DHCP rewrites its leases,
/// named its journals).
pub fn quiesce_units(f: &ServiceFacts, sm: &dyn ServiceManager) -> Vec<&'static str> {
    let mut daemons = vec![
        Daemon::Xcatd,
        Daemon::Goconserver,
        Daemon::Conserver,
        Daemon::Dhcp,
        Daemon::Kea,
        Daemon::Named,
    ];
    daemons.dedup();
    units(&daemons, f.family, sm)
}

/// Units the services step enables and starts, in order: xcatd first
/// (the rest are configured from its database), then the services it
/// drives for this distro, DHCP backend and console.
pub fn service_units(f: &ServiceFacts, sm: &dyn ServiceManager) -> Vec<&'static str> {
    let mut daemons = vec![
        Daemon::Xcatd,
        Daemon::Syslog,
        Daemon::Nfs,
        Daemon::Http,
        Daemon::Named,
        f.dhcp.daemon(),
    ];
    daemons.extend(f.console.daemon());
    units(&daemons, f.family, sm)
}

/// Functions this MN should run whose unit is not installed.
pub fn missing_services(f: &ServiceFacts, sm: &dyn ServiceManager) -> Vec<String> {
    let mut want = vec![Daemon::Xcatd, Daemon::Http, Daemon::Nfs, f.dhcp.daemon()];
    want.extend(f.console.daemon());
    want.into_iter()
        .filter(|d| d.unit(f.family, sm).is_none())
        .map(|d| d.candidates(f.family).join("/"))
        .collect()
}

fn units(daemons: &[Daemon], family: Family, sm: &dyn ServiceManager) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for d in daemons {
        if let Some(u) = d.unit(family, sm) {
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

/// What the live steps know before the packages are installed: the
/// console is chosen when they run, once its units exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemons {
    pub family: Family,
    pub dhcp: DhcpBackend,
    /// `site.consoleservice` from the snapshot.
    pub site_console: Option<String>,
}

impl Daemons {
    pub fn facts(&self, sm: &dyn ServiceManager) -> ServiceFacts {
        ServiceFacts {
            family: self.family,
            dhcp: self.dhcp,
            console: Console::choose(self.site_console.as_deref(), self.family, sm),
        }
    }
}

fn known(d: &Option<Daemons>, step: &str) -> Result<Daemons> {
    d.clone()
        .ok_or_else(|| Error::Refused(format!("the {step} step was set up for rollback only")))
}

/// Journal files naming the units a step changed, for rollback.
const STOPPED_RECORD: &str = "quiesce-stopped.json";
const STARTED_RECORD: &str = "services-started.json";

fn write_units(root: &Path, name: &str, units: &[String]) -> Result<()> {
    let file = Journal::default_dir(root).join(name);
    let text = serde_json::to_vec(units)
        .map_err(|e| Error::Refused(format!("{}: cannot encode: {e}", file.display())))?;
    std::fs::write(&file, text).at(&file)
}

fn read_units(root: &Path, name: &str) -> Result<Vec<String>> {
    let file = Journal::default_dir(root).join(name);
    match std::fs::read(&file) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::format(&file, 0, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(file, e)),
    }
}

/// Stops xCAT's daemons, which package post-install scripts started with
/// throw-away certificates and a default database.
pub struct QuiesceStep {
    /// `None` when set up for rollback only.
    pub daemons: Option<Daemons>,
    pub sm: Box<dyn ServiceManager>,
}

impl StepAction for QuiesceStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let facts = known(&self.daemons, "quiesce")?.facts(&*self.sm);
        let units = quiesce_units(&facts, &*self.sm);
        let active: Vec<String> = units
            .iter()
            .filter(|u| self.sm.state(u) == "active")
            .map(|u| u.to_string())
            .collect();
        // Recorded before stopping: a crash half-way still restarts them
        // on rollback. A resumed run keeps the first record.
        let mut record = read_units(root, STOPPED_RECORD)?;
        for u in &active {
            if !record.contains(u) {
                record.push(u.clone());
            }
        }
        write_units(root, STOPPED_RECORD, &record)?;
        for u in &units {
            self.sm.stop(u)?;
        }
        if units.is_empty() {
            return Ok("no xCAT daemon is installed".into());
        }
        Ok(format!(
            "stopped {} (were running: {})",
            units.join(", "),
            if active.is_empty() {
                "none".to_string()
            } else {
                active.join(", ")
            }
        ))
    }

    fn undo(&mut self, root: &Path) -> Result<String> {
        let units = read_units(root, STOPPED_RECORD)?;
        for u in &units {
            self.sm.start(u)?;
        }
        Ok(format!("started again: {}", join_or_none(&units)))
    }
}

/// Enables and starts the daemons; reports each one's state.
pub struct ServicesStep {
    /// `None` when set up for rollback only.
    pub daemons: Option<Daemons>,
    pub sm: Box<dyn ServiceManager>,
}

impl StepAction for ServicesStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let facts = known(&self.daemons, "services")?.facts(&*self.sm);
        let units = service_units(&facts, &*self.sm);
        let mut started = read_units(root, STARTED_RECORD)?;
        let newly: Vec<String> = units
            .iter()
            .filter(|u| self.sm.state(u) != "active" && !started.contains(&u.to_string()))
            .map(|u| u.to_string())
            .collect();
        started.extend(newly);
        write_units(root, STARTED_RECORD, &started)?;
        let mut states = Vec::new();
        for u in &units {
            self.sm.enable(u)?;
            // One daemon failing to start is reported, not fatal: the
            // others still start and the admin sees which one failed.
            let result = self.sm.start(u);
            let state = self.sm.state(u);
            match result {
                Ok(()) => states.push(format!("{u} {state}")),
                Err(e) => states.push(format!("{u} {state} ({e})")),
            }
        }
        let mut detail = format!("enabled and started: {}", join_or_none(&states));
        let missing = missing_services(&facts, &*self.sm);
        if !missing.is_empty() {
            detail.push_str(&format!("; not installed: {}", missing.join(", ")));
        }
        Ok(detail)
    }

    fn undo(&mut self, root: &Path) -> Result<String> {
        let units = read_units(root, STARTED_RECORD)?;
        for u in units.iter().rev() {
            self.sm.stop(u)?;
        }
        Ok(format!("stopped again: {}", join_or_none(&units)))
    }
}

fn join_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The real [`ServiceManager`]: systemd through `systemctl`, or the
/// `/etc/init.d` script of a unit where systemd is not running.
pub struct Systemctl {
    root: PathBuf,
}

/// Where xCAT's commands are.
pub const XCAT_SBIN: &str = "/opt/xcat/sbin";

impl Systemctl {
    /// The service manager of this machine (a live restore's root is `/`).
    pub fn host() -> Systemctl {
        Systemctl { root: "/".into() }
    }

    fn systemd(&self) -> bool {
        self.root.join("run/systemd/system").is_dir()
    }

    fn init_script(&self, unit: &str) -> PathBuf {
        self.root.join("etc/init.d").join(unit)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<std::process::Output> {
        let shown = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let path = std::env::var("PATH").unwrap_or_default();
        duct::cmd(program, args)
            .env("XCATROOT", "/opt/xcat")
            .env("PATH", format!("/opt/xcat/bin:{XCAT_SBIN}:{path}"))
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| Error::Command {
                command: shown,
                detail: e.to_string(),
            })
    }

    fn checked(&self, program: &str, args: &[&str]) -> Result<String> {
        let out = self.run(program, args)?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            let last = text
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or("no message");
            return Err(Error::Command {
                command: std::iter::once(program)
                    .chain(args.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" "),
                detail: format!("exit {}: {last}", out.status.code().unwrap_or(-1)),
            });
        }
        Ok(text)
    }

    fn script(&self, unit: &str, action: &str) -> Result<String> {
        let script = self.init_script(unit);
        self.checked(&script.to_string_lossy(), &[action])
    }
}

impl ServiceManager for Systemctl {
    fn has_unit(&self, unit: &str) -> bool {
        let file = format!("{unit}.service");
        [
            "usr/lib/systemd/system",
            "lib/systemd/system",
            "etc/systemd/system",
        ]
        .iter()
        .any(|d| self.root.join(d).join(&file).exists())
            || self.init_script(unit).is_file()
    }

    fn state(&mut self, unit: &str) -> String {
        if self.systemd() {
            return match self.run("systemctl", &["is-active", unit]) {
                Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_string(),
                Err(_) => "unknown".into(),
            };
        }
        match self.script(unit, "status") {
            Ok(_) => "active".into(),
            Err(_) => "inactive".into(),
        }
    }

    fn start(&mut self, unit: &str) -> Result<()> {
        if self.systemd() {
            return self.checked("systemctl", &["start", unit]).map(drop);
        }
        self.script(unit, "start").map(drop)
    }

    fn stop(&mut self, unit: &str) -> Result<()> {
        if self.systemd() {
            return self.checked("systemctl", &["stop", unit]).map(drop);
        }
        self.script(unit, "stop").map(drop)
    }

    fn enable(&mut self, unit: &str) -> Result<()> {
        if self.systemd() {
            return self.checked("systemctl", &["enable", unit]).map(drop);
        }
        if self.root.join("sbin/chkconfig").exists()
            || self.root.join("usr/sbin/chkconfig").exists()
        {
            return self.checked("chkconfig", &[unit, "on"]).map(drop);
        }
        self.checked("update-rc.d", &[unit, "defaults"]).map(drop)
    }

    fn command(&mut self, program: &str, args: &[&str]) -> Result<String> {
        self.checked(program, args)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A recording [`ServiceManager`] standing in for the OS boundary.
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::rc::Rc;

    #[derive(Clone, Default)]
    pub struct Recorder {
        pub units: BTreeSet<String>,
        pub active: Rc<RefCell<BTreeMap<String, bool>>>,
        pub calls: Rc<RefCell<Vec<String>>>,
        /// Units whose start fails.
        pub broken: BTreeSet<String>,
        /// Output of commands by program name.
        pub outputs: BTreeMap<String, String>,
    }

    impl Recorder {
        pub fn with(units: &[&str], active: &[&str]) -> Recorder {
            let r = Recorder {
                units: units.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            for u in active {
                r.active.borrow_mut().insert(u.to_string(), true);
            }
            r
        }

        pub fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl ServiceManager for Recorder {
        fn has_unit(&self, unit: &str) -> bool {
            self.units.contains(unit)
        }
        fn state(&mut self, unit: &str) -> String {
            let on = self.active.borrow().get(unit).copied().unwrap_or(false);
            if on { "active" } else { "inactive" }.into()
        }
        fn start(&mut self, unit: &str) -> Result<()> {
            self.calls.borrow_mut().push(format!("start {unit}"));
            if self.broken.contains(unit) {
                return Err(Error::Command {
                    command: format!("systemctl start {unit}"),
                    detail: "exit 1: Job failed".into(),
                });
            }
            self.active.borrow_mut().insert(unit.into(), true);
            Ok(())
        }
        fn stop(&mut self, unit: &str) -> Result<()> {
            self.calls.borrow_mut().push(format!("stop {unit}"));
            self.active.borrow_mut().insert(unit.into(), false);
            Ok(())
        }
        fn enable(&mut self, unit: &str) -> Result<()> {
            self.calls.borrow_mut().push(format!("enable {unit}"));
            Ok(())
        }
        fn command(&mut self, program: &str, args: &[&str]) -> Result<String> {
            let mut line = program.to_string();
            for a in args {
                line.push(' ');
                line.push_str(a);
            }
            self.calls.borrow_mut().push(line);
            let name = program.rsplit('/').next().unwrap_or(program);
            Ok(self.outputs.get(name).cloned().unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Recorder;
    use super::*;

    const EL9: &[&str] = &[
        "xcatd",
        "dhcpd",
        "named",
        "httpd",
        "nfs-server",
        "rsyslog",
        "goconserver",
    ];
    const UBUNTU22: &[&str] = &[
        "xcatd",
        "isc-dhcp-server",
        "kea-dhcp4-server",
        "bind9",
        "apache2",
        "nfs-kernel-server",
        "rsyslog",
        "conserver",
    ];

    fn facts(family: Family, dhcp: DhcpBackend, console: Console) -> ServiceFacts {
        ServiceFacts {
            family,
            dhcp,
            console,
        }
    }

    #[test]
    fn unit_names_follow_the_distro() {
        let el = Recorder::with(EL9, &[]);
        let f = facts(Family::Rhel, DhcpBackend::Isc, Console::Goconserver);
        assert_eq!(
            service_units(&f, &el),
            [
                "xcatd",
                "rsyslog",
                "nfs-server",
                "httpd",
                "named",
                "dhcpd",
                "goconserver"
            ]
        );
        let ub = Recorder::with(UBUNTU22, &[]);
        let f = facts(Family::Ubuntu, DhcpBackend::Kea, Console::Conserver);
        assert_eq!(
            service_units(&f, &ub),
            [
                "xcatd",
                "rsyslog",
                "nfs-kernel-server",
                "apache2",
                "bind9",
                "kea-dhcp4-server",
                "conserver"
            ]
        );
        let sles = Recorder::with(&["xcatd", "dhcpd", "named", "apache2", "nfsserver"], &[]);
        let f = facts(Family::Sles, DhcpBackend::Isc, Console::None);
        assert_eq!(
            service_units(&f, &sles),
            ["xcatd", "nfsserver", "apache2", "named", "dhcpd"]
        );
        assert_eq!(missing_services(&f, &sles), Vec::<String>::new());
        let bare = Recorder::with(&["xcatd"], &[]);
        assert_eq!(
            missing_services(&f, &bare),
            [
                "apache2/httpd",
                "nfs-server/nfsserver/nfs",
                "dhcpd/isc-dhcp-server/dhcp3-server"
            ]
        );
    }

    #[test]
    fn dhcp_backend_and_console_choice() {
        assert_eq!(
            DhcpBackend::from_site(None, Family::Rhel, 9),
            DhcpBackend::Isc
        );
        assert_eq!(
            DhcpBackend::from_site(Some("auto"), Family::Rhel, 10),
            DhcpBackend::Kea
        );
        assert_eq!(
            DhcpBackend::from_site(Some("isc"), Family::Rhel, 10),
            DhcpBackend::Isc
        );
        assert_eq!(
            DhcpBackend::from_site(Some("KEA"), Family::Sles, 15),
            DhcpBackend::Kea
        );
        assert_eq!(
            DhcpBackend::from_site(Some(""), Family::Ubuntu, 22),
            DhcpBackend::Kea
        );
        assert_eq!(
            DhcpBackend::from_site(None, Family::Ubuntu, 20),
            DhcpBackend::Isc
        );
        let el = Recorder::with(EL9, &[]);
        assert_eq!(
            Console::choose(None, Family::Rhel, &el),
            Console::Goconserver
        );
        assert_eq!(
            Console::choose(Some("conserver"), Family::Rhel, &el),
            Console::Conserver
        );
        let ub = Recorder::with(UBUNTU22, &[]);
        assert_eq!(
            Console::choose(None, Family::Ubuntu, &ub),
            Console::Conserver
        );
        assert_eq!(
            Console::choose(None, Family::Ubuntu, &Recorder::default()),
            Console::None
        );
    }

    fn daemons(family: Family, dhcp: DhcpBackend, console: Option<&str>) -> Daemons {
        Daemons {
            family,
            dhcp,
            site_console: console.map(str::to_string),
        }
    }

    fn journal_root() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(Journal::default_dir(t.path())).unwrap();
        t
    }

    #[test]
    fn quiesce_stops_xcat_first_and_rollback_restarts_what_ran() {
        let root = journal_root();
        let rec = Recorder::with(EL9, &["xcatd", "named", "httpd"]);
        let mut step = QuiesceStep {
            daemons: Some(daemons(Family::Rhel, DhcpBackend::Isc, None)),
            sm: Box::new(rec.clone()),
        };
        let detail = step.run(root.path()).unwrap();
        assert_eq!(
            detail,
            "stopped xcatd, goconserver, dhcpd, named (were running: xcatd, named)"
        );
        assert_eq!(
            rec.calls(),
            ["stop xcatd", "stop goconserver", "stop dhcpd", "stop named"]
        );
        // httpd serves files only: left running
        assert!(rec.active.borrow()["httpd"]);
        step.undo(root.path()).unwrap();
        assert_eq!(rec.calls()[4..], ["start xcatd", "start named"]);
    }

    #[test]
    fn services_enable_start_report_and_undo_stops_only_what_they_started() {
        let root = journal_root();
        let mut rec = Recorder::with(UBUNTU22, &["rsyslog", "apache2"]);
        rec.broken.insert("bind9".into());
        let mut step = ServicesStep {
            daemons: Some(daemons(Family::Ubuntu, DhcpBackend::Isc, Some("conserver"))),
            sm: Box::new(rec.clone()),
        };
        let detail = step.run(root.path()).unwrap();
        assert_eq!(
            detail,
            "enabled and started: xcatd active, rsyslog active, nfs-kernel-server active, \
             apache2 active, bind9 inactive (systemctl start bind9 failed: exit 1: Job failed), \
             isc-dhcp-server active, conserver active"
        );
        assert_eq!(
            rec.calls()[..3],
            ["enable xcatd", "start xcatd", "enable rsyslog"]
        );
        let before = rec.calls().len();
        let undone = step.undo(root.path()).unwrap();
        assert_eq!(
            undone,
            "stopped again: xcatd, nfs-kernel-server, bind9, isc-dhcp-server, conserver"
        );
        assert_eq!(
            rec.calls()[before..],
            [
                "stop conserver",
                "stop isc-dhcp-server",
                "stop bind9",
                "stop nfs-kernel-server",
                "stop xcatd"
            ]
        );
    }
}
