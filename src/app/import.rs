//! The `xcatimport` command: preflight (every check, all problems at once,
//! nothing changed) → plan → journaled steps, or `--verify`, `--dry-run`,
//! `--resume`, `--rollback`; then a summary of what was restored and what
//! the admin must still do (or the same as JSON).
//!
//! Whether every step that would run is available is decided before the
//! journal exists, so an unavailable step stops the restore before it
//! starts, never half-way.
//!
//! Test hook: `XCATPORT_TEST_FAIL_AFTER_ENTRIES=N` kills the process with
//! SIGKILL just before the files step extracts entry N (0-based), leaving the
//! journal exactly as a crash would. Only the files step reads it.

use crate::cli::ImportArgs;
use crate::mn::{Arch, Family, MnFacts, RelPath, Root, XcatVersion};
use crate::plan::report::human;
use crate::restore::live::{self, Carried, RegenPaths, RegenerateStep, Site};
use crate::restore::meta::{apply_dir_meta, DirMeta};
use crate::restore::packages::{self as pkgs, PackageChoice, PackagesStep, ReposStep};
use crate::restore::services::{
    Daemons, DhcpBackend, QuiesceStep, ServiceManager, ServicesStep, Systemctl, XCAT_SBIN,
};
use crate::restore::steps::{Action, RestoreOptions};
use crate::restore::{self, Executor, Journal, Outcome, RestorePlan, Step};
use crate::snapshot::{self, ManifestHead, Verified, MANIFEST, RPMS};
use crate::{progress, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Environment variable of the files-step crash hook (tests only).
pub const FAIL_AFTER_ENTRIES: &str = "XCATPORT_TEST_FAIL_AFTER_ENTRIES";

/// One preflight check and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// One step as planned or as run.
#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    pub step: String,
    /// `run`, `skip`, `done`, `skipped`, `already done`.
    pub result: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// What the command did (the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub source: PathBuf,
    pub root: PathBuf,
    /// `restore`, `resume`, `verify`, `dry-run`, `rollback`.
    pub mode: String,
    pub checks: Vec<Check>,
    pub steps: Vec<StepLine>,
    pub warnings: Vec<String>,
    /// What the admin must still do.
    pub todo: Vec<String>,
}

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ImportArgs) -> Result<()> {
    let root = Root::open(&args.common.root)?;
    let changes_root = !(args.verify || args.dry_run);
    if changes_root && root.is_host_root() && !nix::unistd::geteuid().is_root() {
        return Err(Error::Refused(
            "restoring onto / needs root: it installs packages, writes /etc and starts daemons; run it as root (sudo xcatimport …), or --verify / --dry-run to only check".into(),
        ));
    }
    if args.rollback {
        let report = rollback(&root)?;
        return emit(args, &report);
    }
    let source = source_dir(args.source.as_deref())?;
    let mode = if args.verify {
        "verify"
    } else if args.dry_run {
        "dry-run"
    } else if args.resume {
        "resume"
    } else {
        "restore"
    };
    let pre = preflight(args, &root, &source);
    let mut report = ImportReport {
        source: source.clone(),
        root: root.path().to_path_buf(),
        mode: mode.to_string(),
        checks: pre.checks.clone(),
        steps: Vec::new(),
        warnings: pre.warnings.clone(),
        todo: Vec::new(),
    };
    let problems = pre.problems();
    let plan = pre.head.as_ref().map(|h| plan_for(args, h, pre.live));
    if let (Some(plan), Some(head)) = (&plan, &pre.head) {
        report.steps = planned_lines(plan, head, pre.packages.as_ref());
    }
    if args.verify || args.dry_run {
        emit(args, &report)?;
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "preflight failed: {}",
                problems.join("; ")
            )))
        };
    }
    if !problems.is_empty() {
        return Err(Error::Refused(format!(
            "preflight failed, nothing was changed: {}",
            problems.join("; ")
        )));
    }
    let Some(plan) = plan else {
        return Err(Error::Refused(
            "preflight failed, nothing was changed: the snapshot could not be read".into(),
        ));
    };
    execute(args, &root, &plan, &pre, &mut report)?;
    if let Some(head) = &pre.head {
        record_source(&root, &head.source)?;
    }
    report.todo = todo(args, &root, &pre);
    emit(args, &report)
}

/// Where a finished restore records what the snapshot's MN was, so that
/// `xcatreconfig` knows the old hostname after this machine kept its own.
pub const SOURCE_RECORD: &str = "var/lib/xcatport/source.json";

fn record_source(root: &Root, source: &crate::snapshot::SourceFacts) -> Result<()> {
    use crate::error::IoContext;
    let path = root.for_write(&crate::mn::RelPath::new(SOURCE_RECORD)?)?;
    let json =
        serde_json::to_vec_pretty(source).map_err(|e| Error::format(&path, 0, e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).at(&tmp)?;
    std::fs::rename(&tmp, &path).at(&path)
}

/// SOURCE, or the directory holding the running binary (the stick).
fn source_dir(given: Option<&Path>) -> Result<PathBuf> {
    let dir = match given {
        Some(d) => d.to_path_buf(),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| Error::io("/proc/self/exe", e))?
                .canonicalize()
                .map_err(|e| Error::io("/proc/self/exe", e))?;
            exe.parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| Error::Refused(format!("{}: no parent", exe.display())))?
        }
    };
    dir.canonicalize().map_err(|e| Error::io(&dir, e))
}

/// Everything preflight found.
struct Preflight {
    checks: Vec<Check>,
    warnings: Vec<String>,
    verified: Option<Verified>,
    head: Option<ManifestHead>,
    facts: Option<MnFacts>,
    /// What the packages step installs (None: skipped or refused).
    packages: Option<PackageChoice>,
    /// The snapshot's site table (from the DB dump on the stick).
    site: Site,
    /// A live xCAT is (or, after the packages step, will be) managed here.
    live: bool,
    /// Restored trees get SELinux labels from this machine's policy.
    selinux: bool,
    /// Which generated files and trees the snapshot carries.
    carried: Carried,
    /// The key of an encrypted snapshot's secret stream, checked to decrypt it.
    unlock: Option<snapshot::Unlock>,
}

impl Preflight {
    fn problems(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
        });
    }

    /// A mismatch that `--force-distro` (or `--force`) turns into a warning.
    fn forcible(&mut self, name: &str, forced: bool, flag: &str, detail: String) {
        if forced {
            self.warnings
                .push(format!("{name}: {detail} (accepted by {flag})"));
            self.pass(name, format!("{detail}; accepted by {flag}"));
        } else {
            self.fail(name, format!("{detail}; {flag} overrides"));
        }
    }
}

/// Every check, each recorded whether it passes or not; reads only.
fn preflight(args: &ImportArgs, root: &Root, source: &Path) -> Preflight {
    let mut pre = Preflight {
        checks: Vec::new(),
        warnings: Vec::new(),
        verified: None,
        head: None,
        facts: None,
        packages: None,
        site: Site::new(),
        live: false,
        selinux: false,
        carried: Carried::default(),
        unlock: None,
    };
    match snapshot::verify_reporting(source, &*progress::bar("checking")) {
        Ok(v) => {
            let vols = v.data_volumes.len() + v.rpms_volumes.len() + v.secrets_volumes.len();
            pre.pass(
                "snapshot",
                format!("{vols} volume(s) match SHA256SUMS and MANIFEST.json"),
            );
            pre.head = Some(v.head.clone());
            pre.verified = Some(v);
        }
        Err(e) => {
            pre.fail("snapshot", e.to_string());
            // The facts can still be compared when only a volume is bad.
            pre.head = snapshot::manifest::read_head(&source.join(MANIFEST)).ok();
        }
    }
    match MnFacts::probe(root) {
        Ok(f) => pre.facts = Some(f),
        Err(e) => pre.fail("target", e.to_string()),
    }
    check_secrets(&mut pre, args);
    if let Some(v) = &pre.verified {
        // Without the key (--verify, --dry-run) an encrypted dump stays unread.
        if v.head.secrets.is_none() || pre.unlock.is_some() {
            match live::site_from_stick(v, pre.unlock.as_ref()) {
                Ok(site) => pre.site = site,
                Err(e) => pre.fail("site", e.to_string()),
            }
        }
    }
    if let (Some(head), Some(facts)) = (pre.head.clone(), pre.facts.clone()) {
        check_distro(&mut pre, args, &head, &facts);
        if !args.resume {
            check_space(&mut pre, root, &head);
            check_xcat(&mut pre, args, root, &head, &facts);
            check_db_server(&mut pre, args, root, &head);
        }
        if !args.resume {
            check_links(&mut pre, root, source);
        }
        check_packages(&mut pre, args, root, &head, &facts);
        check_live(&mut pre, args, root, source, &head, &facts);
        check_master(&mut pre, root);
    }
    check_journal(&mut pre, args, root);
    pre
}

/// An encrypted snapshot: the key from --passphrase-file or --identity (or
/// typed at a terminal when restoring), and the secret stream decrypted and
/// scanned in full now, so that a missing or wrong key or a corrupted stream
/// stops the restore before anything is changed. --verify and --dry-run
/// without a key only report that the stream is encrypted.
fn check_secrets(pre: &mut Preflight, args: &ImportArgs) {
    let Some(v) = &pre.verified else { return };
    let Some(sec) = v.head.secrets.clone() else {
        return;
    };
    let file = v.dir.join(&sec.name);
    let restoring = !(args.verify || args.dry_run);
    let prompt = restoring && sec.key == snapshot::KeyKind::Passphrase;
    let flag = sec.key.import_flag();
    let kind = match sec.key {
        snapshot::KeyKind::Passphrase => "a passphrase",
        snapshot::KeyKind::X25519 => "age public keys",
    };
    let key = match super::keys::import_unlock(
        args.passphrase_file.as_deref(),
        &args.identity,
        prompt,
    ) {
        Ok(Some(k)) => k,
        Ok(None) if !restoring => {
            return pre.pass(
                "secrets",
                format!(
                    "{}: encrypted to {kind}, not decrypted (give {flag} to check it)",
                    file.display()
                ),
            )
        }
        Ok(None) => {
            let typed = if sec.key == snapshot::KeyKind::Passphrase {
                " (or run xcatimport on a terminal to type the passphrase)"
            } else {
                ""
            };
            return pre.fail(
                "secrets",
                format!(
                    "{}: the secret files and the database dump are encrypted to {kind}; give {flag}{typed}",
                    file.display()
                ),
            );
        }
        Err(e) => return pre.fail("secrets", e.to_string()),
    };
    let scanned =
        snapshot::reader::open_secrets(v, &key).and_then(|r| restore::scan::scan(r, false));
    match scanned {
        Ok(r) => {
            pre.pass(
                "secrets",
                format!(
                    "{}: decrypts; {} entries, {} checked",
                    file.display(),
                    r.entries,
                    human(r.bytes)
                ),
            );
            pre.unlock = Some(key);
        }
        Err(e) => pre.fail("secrets", e.to_string()),
    }
}

/// The snapshot's xCAT version (`2.16.5` or `2.16.5 (snap…)` in MANIFEST.json).
fn wanted_version(head: &ManifestHead) -> Option<XcatVersion> {
    head.source.xcat_version.as_deref().and_then(parse_version)
}

/// Without --skip-packages the stick's repos must install the snapshot's
/// xCAT here, decided now so that the restore never stops half-way.
fn check_packages(
    pre: &mut Preflight,
    args: &ImportArgs,
    root: &Root,
    head: &ManifestHead,
    facts: &MnFacts,
) {
    if args.skip_packages {
        return;
    }
    let want = wanted_version(head);
    let shown_version = want
        .as_ref()
        .map_or("of the snapshot's version".to_string(), |v| v.release());
    let advice = format!(
        "install xCAT {shown_version} from your xCAT repos, then rerun with --skip-packages"
    );
    if !head.packages.collected {
        pre.fail(
            "packages",
            format!(
                "the snapshot carries no xCAT package repos ({}); {advice}",
                head.packages.note.trim_end_matches('.')
            ),
        );
        return;
    }
    let Some(v) = &pre.verified else {
        return; // the snapshot check already failed
    };
    let index = snapshot::reader::open_rpms(v).and_then(|r| pkgs::read_index(r, &v.dir.join(RPMS)));
    let index = match index {
        Ok(i) => i,
        Err(e) => return pre.fail("packages", format!("{e}; {advice}")),
    };
    let choice = match pkgs::choose(
        &index,
        facts.distro.family,
        facts.package_manager,
        want.as_ref(),
    ) {
        Ok(c) => c.with_recorded(&index, &head.packages.installed),
        Err(why) => return pre.fail("packages", format!("{why}; {advice}")),
    };
    let tool = match (facts.package_manager, root.is_host_root()) {
        (crate::mn::PackageManager::Apt, true) => "apt-get",
        (crate::mn::PackageManager::Apt, false) => "dpkg",
        (m, _) => m.as_str(),
    };
    if let Some(missing) = Some(tool).filter(|t| find_program(t).is_none()) {
        return pre.fail(
            "packages",
            format!(
                "{missing} is not installed on this machine; it is needed to install xCAT into {}",
                root.path().display()
            ),
        );
    }
    pre.pass(
        "packages",
        format!(
            "{} {} from the stick's repos with {}{}",
            choice.packages.join(" "),
            choice.version,
            choice.manager,
            choice.recorded_note()
        ),
    );
    pre.packages = Some(choice);
}

/// The files step writes the snapshot's members through the target's own
/// links; one that leads out of the root or to no directory is refused now,
/// before any step changes something.
fn check_links(pre: &mut Preflight, root: &Root, source: &Path) {
    let found = crate::restore::links::MemberDirs::from_manifest(&source.join(MANIFEST))
        .and_then(|dirs| crate::restore::links::unusable_links(root.path(), &dirs));
    match found {
        Ok(bad) if bad.is_empty() => {}
        Ok(bad) => pre.fail("links", bad.join("; ")),
        Err(e) => pre.fail("links", e.to_string()),
    }
}

/// A program on PATH.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A PostgreSQL or MySQL source needs the same kind of database set up by
/// xCAT's own command first; xcatimport does not create database servers.
fn check_db_server(pre: &mut Preflight, args: &ImportArgs, root: &Root, head: &ManifestHead) {
    if args.skip_db {
        return;
    }
    let (name, setup) = match head.source.database.to_ascii_lowercase().as_str() {
        "postgresql" | "pg" => ("PostgreSQL", "pgsqlsetup -i"),
        "mysql" | "mariadb" => ("MySQL/MariaDB", "mysqlsetup -i"),
        _ => return,
    };
    if crate::restore::cfgloc::keeps_target_cfgloc(root, &head.source.database) {
        pre.pass(
            "db-server",
            format!("/etc/xcat/cfgloc names a {name} database, as the snapshot's xCAT used; this MN's cfgloc is kept"),
        );
    } else {
        pre.fail(
            "db-server",
            format!(
                "the snapshot's xCAT used {name}: install xCAT, run `{setup}` on this MN to set up that database, then rerun with --skip-packages"
            ),
        );
    }
}

/// Decides whether the daemons of a live xCAT are managed, reads what the
/// snapshot carries for the make* commands and relabelling, and checks
/// restorecon where SELinux enforces.
fn check_live(
    pre: &mut Preflight,
    args: &ImportArgs,
    root: &Root,
    source: &Path,
    head: &ManifestHead,
    facts: &MnFacts,
) {
    let xcat_here =
        Path::new(XCAT_SBIN).join("xcatd").exists() || Systemctl::host().has_unit("xcatd");
    pre.live = root.is_host_root() && (xcat_here || pre.packages.is_some());
    pre.selinux = live::selinux_enforcing(root.is_host_root());
    if pre.selinux && find_program("restorecon").is_none() {
        pre.fail(
            "selinux",
            "SELinux enforces here but restorecon is not installed (policycoreutils): the restored files would keep foreign labels",
        );
    }
    if !pre.live && !pre.selinux {
        return;
    }
    let dhcp = DhcpBackend::from_site(
        pre.site.get("dhcpbackend").map(String::as_str),
        facts.distro.family,
        facts.distro.major,
    );
    let tftpdir = tftpdir(head);
    let watch = RegenPaths::new(facts.distro.family, dhcp, &tftpdir).watch();
    match Carried::scan(&source.join(MANIFEST), &watch) {
        Ok(c) => pre.carried = c,
        Err(e) => pre.fail("snapshot", e.to_string()),
    }
    if root.is_host_root() && !pre.live && args.skip_packages {
        pre.warnings.push(
            "--skip-packages and no xCAT here: xcatd is neither stopped, regenerated nor started"
                .into(),
        );
    }
}

fn tftpdir(head: &ManifestHead) -> String {
    head.variables
        .get("TFTPDIR")
        .cloned()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| crate::mn::facts::DEFAULT_TFTPDIR.to_string())
}

/// Warns when this MN does not own site.master's address: DHCP and DNS
/// would hand the nodes an address nobody answers on.
fn check_master(pre: &mut Preflight, root: &Root) {
    let Some(master) = pre.site.get("master").cloned() else {
        return;
    };
    if !root.is_host_root() {
        pre.pass(
            "master",
            format!("site.master {master} not compared: --root is not this machine"),
        );
        return;
    }
    let owned = live::local_addresses()
        .map_err(|e| e.to_string())
        .and_then(|a| live::owns_master(&master, &a));
    match owned {
        Ok(true) => pre.pass("master", format!("this MN owns site.master {master}")),
        Ok(false) => {
            let w = format!(
                "this MN does not own site.master {master}: DHCP and DNS would serve the wrong address; configure it or run xcatreconfig after the restore"
            );
            pre.warnings.push(w.clone());
            pre.pass("master", w);
        }
        Err(why) => {
            pre.warnings.push(why.clone());
            pre.pass("master", why);
        }
    }
}

fn check_distro(pre: &mut Preflight, args: &ImportArgs, head: &ManifestHead, facts: &MnFacts) {
    let src = &head.source;
    let family = Family::from_id(&src.distro_id);
    let major = leading_number(&src.distro_version);
    let here = &facts.distro;
    match (family, major) {
        (Some(f), Some(m)) if f == here.family && m == here.major => pre.pass(
            "distro",
            format!("{} {} matches the snapshot's {} {}", here.id, here.version, src.distro_id, src.distro_version),
        ),
        (Some(_), Some(_)) => pre.forcible(
            "distro",
            args.force_distro,
            "--force-distro",
            format!(
                "the snapshot is from {} {} ({} family), this MN runs {} {} ({} family)",
                src.distro_id,
                src.distro_version,
                family.map_or("?", Family::as_str),
                here.id,
                here.version,
                here.family
            ),
        ),
        _ => pre.forcible(
            "distro",
            args.force_distro,
            "--force-distro",
            format!(
                "MANIFEST.json records distro {:?} version {:?}, which this xcatimport cannot compare",
                src.distro_id, src.distro_version
            ),
        ),
    }
    match Arch::parse(&src.arch) {
        Some(a) if a == facts.arch => pre.pass("arch", format!("{a} matches the snapshot")),
        _ => pre.forcible(
            "arch",
            args.force_distro,
            "--force-distro",
            format!(
                "the snapshot is from a {} MN, this MN is {}",
                src.arch, facts.arch
            ),
        ),
    }
}

fn leading_number(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Room for the data: its content bytes plus a block per entry.
fn needed_bytes(head: &ManifestHead) -> u64 {
    let (secret_bytes, secret_entries) = head
        .secrets
        .as_ref()
        .map_or((0, 0), |s| (s.bytes_in, s.entries));
    head.data
        .bytes_in
        .saturating_add(secret_bytes)
        .saturating_add((head.data.entries.saturating_add(secret_entries)).saturating_mul(4096))
}

fn check_space(pre: &mut Preflight, root: &Root, head: &ManifestHead) {
    let needed = needed_bytes(head);
    match crate::target::fs::inspect(root.path()) {
        Ok(fs) if fs.free >= needed => pre.pass(
            "space",
            format!("{} free, about {} needed", human(fs.free), human(needed)),
        ),
        Ok(fs) => pre.fail(
            "space",
            format!(
                "{}: only {} free, the snapshot's data needs about {}",
                root.path().display(),
                human(fs.free),
                human(needed)
            ),
        ),
        Err(e) => pre.fail("space", e.to_string()),
    }
}

/// An installed xCAT or an existing xCAT database is refused unless
/// `--force`; with `--skip-packages`/`--skip-db` the snapshot's own version
/// is accepted (and its default database with it).
fn check_xcat(
    pre: &mut Preflight,
    args: &ImportArgs,
    root: &Root,
    head: &ManifestHead,
    facts: &MnFacts,
) {
    let wanted = head.source.xcat_version.as_deref().and_then(parse_version);
    let mut accepted = false;
    match (&facts.xcat, &wanted) {
        (None, _) if args.skip_packages => pre.warnings.push(
            "--skip-packages: xCAT is not installed here; only files and the database are restored"
                .into(),
        ),
        (None, _) => {}
        (Some(have), Some(want)) if args.skip_packages || args.skip_db => {
            if have.version.same_release(want) {
                accepted = true;
                pre.pass(
                    "xcat",
                    format!(
                        "xCAT {} installed ({}), the snapshot's version",
                        have.version, have.source
                    ),
                );
            } else {
                pre.forcible(
                    "xcat",
                    args.force,
                    "--force",
                    format!(
                        "xCAT {} is installed ({}), the snapshot is from xCAT {}",
                        have.version, have.source, want
                    ),
                );
                accepted = args.force;
            }
        }
        (Some(have), None) if args.skip_packages || args.skip_db => {
            accepted = true;
            pre.warnings.push(format!(
                "MANIFEST.json does not record the source's xCAT version; cannot check the installed xCAT {}",
                have.version
            ));
        }
        (Some(have), _) => {
            pre.forcible(
                "xcat",
                args.force,
                "--force",
                format!(
                    "xCAT {} is already installed here ({}); a restore would overwrite it",
                    have.version, have.source
                ),
            );
            accepted = args.force;
        }
    }
    let dbs = existing_db(root);
    if !dbs.is_empty() && !accepted {
        pre.forcible(
            "database",
            args.force,
            "--force",
            format!("an xCAT database already exists here: {}", dbs.join(", ")),
        );
    }
}

fn parse_version(text: &str) -> Option<XcatVersion> {
    XcatVersion::parse_number(text)
        .or_else(|| XcatVersion::parse_package(text))
        .or_else(|| XcatVersion::parse_lsxcatd(text))
        // MANIFEST.json writes `2.16.5 (snap…)`, as lsxcatd does after "Version".
        .or_else(|| XcatVersion::parse_lsxcatd(&format!("Version {text}")))
}

/// `etc/xcat/cfgloc` and `etc/xcat/*.sqlite` present under the root.
fn existing_db(root: &Root) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(dir) = RelPath::new("etc/xcat").and_then(|r| root.resolve(&r)) else {
        return found;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return found;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n == "cfgloc" || n.ends_with(".sqlite"))
        .collect();
    names.sort();
    for n in names {
        found.push(format!("/etc/xcat/{n}"));
    }
    found
}

fn check_journal(pre: &mut Preflight, args: &ImportArgs, root: &Root) {
    let dir = Journal::default_dir(root.path());
    let exists = dir.join("journal.json").exists();
    if args.resume {
        match Journal::open(&dir) {
            Ok(j) if j.is_rolled_back() => pre.fail(
                "journal",
                format!(
                    "{}: that restore was rolled back; start a new one",
                    dir.display()
                ),
            ),
            Ok(j) if j.is_complete() => pre.fail(
                "journal",
                format!(
                    "{}: that restore is finished; nothing to resume",
                    dir.display()
                ),
            ),
            Ok(_) => pre.pass(
                "journal",
                format!("resuming the restore recorded in {}", dir.display()),
            ),
            Err(e) => pre.fail("journal", e.to_string()),
        }
    } else if exists {
        let detail = match Journal::open(&dir) {
            Ok(j) if j.is_rolled_back() || j.is_complete() => format!(
                "{}: the journal of an earlier {} restore is here; remove that directory to restore again",
                dir.display(),
                if j.is_rolled_back() { "rolled-back" } else { "finished" }
            ),
            _ => format!(
                "{}: an unfinished restore is recorded here; run xcatimport --resume to continue it or --rollback to undo it",
                dir.display()
            ),
        };
        pre.fail("journal", detail);
    }
}

/// The restore plan for these options and this snapshot.
fn plan_for(args: &ImportArgs, head: &ManifestHead, live: bool) -> RestorePlan {
    let mut plan = restore::plan(&RestoreOptions {
        skip_packages: args.skip_packages,
        skip_db: args.skip_db,
        no_regen: args.no_regen,
        no_start: args.no_start,
        live,
    });
    for p in &mut plan.steps {
        match p.step {
            Step::Repos if args.skip_packages => {
                p.action =
                    Action::Skip("--skip-packages: no packages are installed from the stick".into())
            }
            Step::Database if p.action == Action::Run && head.database.is_empty() => {
                p.action = Action::Skip("the snapshot carries no database dump".into())
            }
            _ => {}
        }
    }
    plan
}

/// What each step would do, from the plan and the manifest.
fn planned_lines(
    plan: &RestorePlan,
    head: &ManifestHead,
    packages: Option<&PackageChoice>,
) -> Vec<StepLine> {
    plan.steps
        .iter()
        .map(|p| {
            let (result, detail) = match &p.action {
                Action::Skip(why) => ("skip", why.clone()),
                Action::Run => ("run", step_detail(p.step, head, packages)),
            };
            StepLine {
                step: p.step.name().to_string(),
                result: result.to_string(),
                detail,
                seconds: None,
            }
        })
        .collect()
}

fn step_detail(step: Step, head: &ManifestHead, packages: Option<&PackageChoice>) -> String {
    match step {
        Step::Files => {
            let (files, dirs, bytes) = head.plan.totals();
            let secrets = head
                .secrets
                .as_ref()
                .map(|s| format!(" and {} from {} (decrypted)", s.entries, s.name))
                .unwrap_or_default();
            format!(
                "extract {} entries ({files} files, {dirs} directories, {}) from {}{secrets}; DB dump to /var/lib/xcatport/db",
                head.data.entries,
                human(bytes),
                head.data.name
            )
        }
        Step::Database => {
            let tables: Vec<&str> = head.database.iter().map(|t| t.table.as_str()).collect();
            format!("restore {} tables: {}", tables.len(), tables.join(", "))
        }
        Step::Packages => match packages {
            Some(c) => format!(
                "install {} {} with {}{}",
                c.packages.join(" "),
                c.version,
                c.manager,
                c.recorded_note()
            ),
            None => format!("{} ({})", step.describe(), head.packages.note),
        },
        Step::Repos => format!("{} ({})", step.describe(), head.packages.note),
        other => other.describe().to_string(),
    }
}

fn execute(
    args: &ImportArgs,
    root: &Root,
    plan: &RestorePlan,
    pre: &Preflight,
    report: &mut ImportReport,
) -> Result<()> {
    let (Some(verified), Some(head), Some(facts)) = (&pre.verified, &pre.head, &pre.facts) else {
        return Err(Error::Refused(
            "preflight failed, nothing was changed: the snapshot could not be read".into(),
        ));
    };
    let bar = progress::bar("restoring");
    bar.set_length(head.data.bytes_in);
    let data = verified.clone();
    let mut ex = Executor::new(root.path(), &*bar).data(move || snapshot::reader::open_data(&data));
    match (&head.secrets, &pre.unlock) {
        (None, _) => {}
        (Some(_), Some(key)) => {
            let (v, key) = (verified.clone(), key.clone());
            ex = ex.secrets(move || snapshot::reader::open_secrets(&v, &key));
        }
        (Some(sec), None) => {
            return Err(Error::Refused(format!(
                "preflight failed, nothing was changed: {} needs {}",
                verified.dir.join(&sec.name).display(),
                sec.key.import_flag()
            )))
        }
    }
    let family = facts.distro.family;
    ex = ex.action(
        Step::Repos,
        ReposStep {
            rpms: verified.dir.join(RPMS),
            family,
        },
    );
    ex = ex.action(
        Step::Packages,
        PackagesStep {
            choice: pre.packages.clone(),
            want: wanted_version(head),
        },
    );
    let daemons = Daemons {
        family,
        dhcp: DhcpBackend::from_site(
            pre.site.get("dhcpbackend").map(String::as_str),
            family,
            facts.distro.major,
        ),
        site_console: pre.site.get("consoleservice").cloned(),
    };
    let host = || Box::new(Systemctl::host()) as Box<dyn ServiceManager>;
    ex = ex.action(
        Step::Quiesce,
        QuiesceStep {
            daemons: Some(daemons.clone()),
            sm: host(),
        },
    );
    ex = ex.action(
        Step::Database,
        DatabaseStep {
            live: pre.live.then(host),
        },
    );
    ex = ex.action(
        Step::Regenerate,
        RegenerateStep {
            arch: facts.arch,
            family,
            major: facts.distro.major,
            tftpdir: tftpdir(head),
            carried: pre.carried.clone(),
            console: None,
            sm: host(),
        },
    );
    ex = ex.action(
        Step::Services,
        ServicesStep {
            daemons: Some(daemons),
            sm: host(),
        },
    );
    // The admin's pgsqlsetup/mysqlsetup cfgloc names this MN's server.
    ex = ex.keep_existing(crate::restore::cfgloc::kept_files(
        root,
        &head.source.database,
    ));
    if pre.selinux {
        let trees = pre.carried.trees.clone();
        let mut sm = Systemctl::host();
        ex = ex.after(Step::Files, move |r: &Path| {
            live::relabel(r, &trees, &mut sm)
        });
    }
    for c in &pre.checks {
        // Already run above, all passed: recorded so the journal counts them.
        ex = ex.check(&c.name, |_| Ok(()));
    }
    if let Some(n) = fail_after_entries() {
        ex = ex.entry_hook(move |index, _| {
            if index >= n {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
            Ok(())
        });
    }
    let result = if args.resume {
        ex.resume(plan)
    } else {
        ex.run(plan)
    };
    drop(ex);
    drop(bar);
    let done = result.map_err(|e| stopped(e, root))?;
    report.warnings.extend(done.warnings.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    report.steps = done
        .steps
        .iter()
        // run() reports preflight itself, then again as already done
        .filter(|s| seen.insert(s.step))
        .map(|s| {
            let (result, detail) = match &s.outcome {
                Outcome::Done(d) => ("done", d.clone()),
                Outcome::Skipped(why) => ("skipped", why.clone()),
                Outcome::AlreadyDone => ("already done", "by the interrupted run".to_string()),
            };
            StepLine {
                step: s.step.name().to_string(),
                result: result.to_string(),
                detail,
                seconds: Some(s.elapsed.as_secs_f64()),
            }
        })
        .collect();
    Ok(())
}

fn fail_after_entries() -> Option<u64> {
    std::env::var(FAIL_AFTER_ENTRIES).ok()?.parse().ok()
}

/// A failure after the journal exists: say how to go on.
fn stopped(e: Error, root: &Root) -> Error {
    let dir = Journal::default_dir(root.path());
    if !dir.join("journal.json").exists() {
        return e;
    }
    match e {
        Error::NotAvailable(_) => e,
        other => Error::Refused(format!(
            "{other}; the restore stopped part-way and is recorded in {}: fix the cause and run xcatimport --resume, or undo it with --rollback",
            dir.display()
        )),
    }
}

/// What the admin must still do after this restore.
fn todo(args: &ImportArgs, root: &Root, pre: &Preflight) -> Vec<String> {
    let (head, facts) = (&pre.head, &pre.facts);
    let mut out = Vec::new();
    let Some(head) = head else { return out };
    for m in head.plan.media.iter().filter(|m| m.excluded) {
        out.push(format!(
            "the {} profile left out the OS media {}: run copycds with the distro ISO",
            head.profile, m.path
        ));
    }
    let here = facts.as_ref().and_then(|f| f.hostname.clone());
    if let Some(here) = here {
        if !head.source.hostname.is_empty() && here != head.source.hostname {
            out.push(format!(
                "this MN is {here}, the snapshot is from {}: run xcatreconfig to change xCAT's hostname and addresses",
                head.source.hostname
            ));
        }
    }
    if let Some(c) = pre.packages.as_ref().filter(|c| !c.missing.is_empty()) {
        out.push(format!(
            "install yourself these packages the source MN had, which the stick's repos do not offer: {}",
            c.missing.join(", ")
        ));
    }
    if args.skip_db && !head.database.is_empty() {
        out.push("--skip-db: the database dump is in /var/lib/xcatport/db; restore it with `xcatdb restore -p /var/lib/xcatport/db` when needed".into());
    }
    if !root.is_host_root() {
        out.push(format!(
            "restored under --root {}: no live xCAT there, so no daemons were stopped, regenerated or started",
            root.path().display()
        ));
    } else if pre.live {
        if args.no_regen {
            out.push("--no-regen: run makehosts, makenetworks, makedhcp -n, makedns -n, makeconservercf yourself".into());
        }
        if args.no_start {
            out.push("--no-start: enable and start xcatd, DHCP, DNS, HTTP, NFS and the console server yourself".into());
        }
        out.push("run nodeset for the nodes to be provisioned, so their boot configuration matches the restored database".into());
    }
    out
}

/// Rolls back the journaled restore under the root (idempotent).
fn rollback(root: &Root) -> Result<ImportReport> {
    let bar = progress::bar("rolling back");
    let live = root.is_host_root();
    let host = || Box::new(Systemctl::host()) as Box<dyn ServiceManager>;
    let mut ex = Executor::new(root.path(), &*bar)
        .action(
            Step::Repos,
            ReposStep {
                rpms: PathBuf::new(),
                family: Family::Rhel, // not used by undo
            },
        )
        .action(
            Step::Packages,
            PackagesStep {
                choice: None,
                want: None,
            },
        )
        .action(
            Step::Database,
            DatabaseStep {
                live: live.then(host),
            },
        );
    if live {
        ex = ex
            .action(
                Step::Quiesce,
                QuiesceStep {
                    daemons: None,
                    sm: host(),
                },
            )
            .action(
                Step::Services,
                ServicesStep {
                    daemons: None,
                    sm: host(),
                },
            );
    }
    let r = ex.rollback()?;
    drop(ex);
    drop(bar);
    let mut steps = vec![StepLine {
        step: "files".into(),
        result: "rolled back".into(),
        detail: format!(
            "{} replaced entries put back, {} created entries removed, {} created directories removed",
            r.restored, r.removed, r.directories
        ),
        seconds: None,
    }];
    steps.extend(r.steps.iter().map(|(step, detail)| StepLine {
        step: step.clone(),
        result: "rolled back".into(),
        detail: detail.clone(),
        seconds: None,
    }));
    let mut report = ImportReport {
        source: PathBuf::new(),
        root: root.path().to_path_buf(),
        mode: "rollback".into(),
        checks: Vec::new(),
        steps,
        warnings: r.warnings,
        todo: Vec::new(),
    };
    report.todo.push(format!(
        "the journal stays in {} (it makes --rollback repeatable); remove it before a new restore",
        Journal::default_dir(root.path()).display()
    ));
    Ok(report)
}

/// Prints the report as text or JSON.
fn emit(args: &ImportArgs, report: &ImportReport) -> Result<()> {
    if args.common.json {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| Error::Refused(format!("cannot print JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", render(report));
    Ok(())
}

/// The text form of a report.
pub fn render(r: &ImportReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if !r.checks.is_empty() {
        let _ = writeln!(s, "preflight ({}):", r.source.display());
        for c in &r.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            let _ = writeln!(s, "  {mark} {:<9} {}", c.name, c.detail);
        }
    }
    if !r.steps.is_empty() {
        let title = match r.mode.as_str() {
            "verify" | "dry-run" => "plan (nothing changed):",
            _ => "steps:",
        };
        let _ = writeln!(s, "{title}");
        for (i, l) in r.steps.iter().enumerate() {
            let time = l
                .seconds
                .map(|t| format!(" [{t:.1} s]"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {}. {:<10} {}: {}{time}",
                i + 1,
                l.step,
                l.result,
                l.detail
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    if !r.todo.is_empty() {
        let _ = writeln!(s, "still to do:");
        for t in &r.todo {
            let _ = writeln!(s, "  - {t}");
        }
    }
    if r.mode == "restore" || r.mode == "resume" {
        let _ = writeln!(s, "restore of {} complete", r.root.display());
    }
    s
}

/// The database step: the db layer's native restore from the dump the files
/// step extracted, all tables exactly as dumped; on a live MN through the
/// running xcatd instead (see [`live::restore_through_xcatd`]). SQLite
/// files it replaces are first copied into the journal so that rollback
/// can put them back.
struct DatabaseStep {
    /// The host's service manager on a live MN.
    live: Option<Box<dyn ServiceManager>>,
}

const DB_BACKUP: &str = "db-backup";
const DB_DIR_META: &str = "db-dir-meta.json";

impl DatabaseStep {
    fn sqlite_dir(root: &Path) -> Result<Option<PathBuf>> {
        Ok(match crate::db::cfgloc::locate(root)? {
            crate::db::cfgloc::Location::Sqlite(dir) => Some(dir),
            _ => None,
        })
    }

    /// The SQLite directory's metadata as the files step left it, recorded
    /// in the journal by the first run of this step.
    fn saved_dir_meta(dir: &Path, journal: &Path) -> Result<DirMeta> {
        use crate::error::IoContext;
        let record = journal.join(DB_DIR_META);
        match std::fs::read(&record) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::format(&record, 0, format!("unreadable journal record: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = DirMeta::read(dir)?;
                let json = serde_json::to_vec(&meta)
                    .map_err(|e| Error::format(&record, 0, e.to_string()))?;
                let tmp = record.with_extension("tmp");
                std::fs::write(&tmp, json).at(&tmp)?;
                std::fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .at(&tmp)?;
                std::fs::rename(&tmp, &record).at(&record)?;
                Ok(meta)
            }
            Err(e) => Err(Error::io(record, e)),
        }
    }

    /// Copies the existing `*.sqlite` once (a resumed run keeps the first copy).
    fn backup(dir: &Path, journal: &Path) -> Result<()> {
        use crate::error::IoContext;
        let done = journal.join(DB_BACKUP);
        if done.exists() {
            return Ok(());
        }
        let tmp = journal.join(format!("{DB_BACKUP}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).at(&tmp)?;
        for name in sqlite_files(dir)? {
            let from = dir.join(&name);
            std::fs::copy(&from, tmp.join(&name)).at(&from)?;
        }
        std::fs::rename(&tmp, &done).at(&done)
    }
}

fn sqlite_files(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    use crate::error::IoContext;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.at(dir)?;
        let name = e.file_name();
        if name.to_string_lossy().ends_with(".sqlite") && e.file_type().at(dir)?.is_file() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

impl restore::StepAction for DatabaseStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let journal = Journal::default_dir(root);
        let dump = journal.join("db");
        if !dump.is_dir() {
            return Err(Error::Refused(format!(
                "{}: the files step extracted no database dump",
                dump.display()
            )));
        }
        let sqlite = Self::sqlite_dir(root)?;
        if let Some(dir) = &sqlite {
            Self::backup(dir, &journal)?;
        }
        // The directory as the files step restored it: writing the tables
        // must not leave it with today's mtime. Saved once in the journal,
        // so a run resumed after a kill mid-write does not take the
        // half-written state for the original.
        let saved = match &sqlite {
            Some(dir) if dir.is_dir() => Some(Self::saved_dir_meta(dir, &journal)?),
            _ => None,
        };
        let restorexcatdb = Path::new(XCAT_SBIN).join("restorexCATdb");
        if let (Some(sm), true) = (self.live.as_mut(), restorexcatdb.is_file()) {
            return live::restore_through_xcatd(root, &dump, sm.as_mut());
        }
        let opts = crate::db::RestoreOptions {
            all: true,
            exact: true,
        };
        let stats = crate::db::restore_from_dir(root, &dump, &opts)?;
        if let (Some(dir), Some(saved)) = (&sqlite, &saved) {
            apply_dir_meta(dir, saved)?;
        }
        let rows: u64 = stats.tables.iter().map(|t| t.rows).sum();
        Ok(format!(
            "{} tables, {rows} rows restored ({})",
            stats.tables.len(),
            stats.method
        ))
    }

    fn undo(&mut self, root: &Path) -> Result<String> {
        use crate::error::IoContext;
        let Some(dir) = Self::sqlite_dir(root)? else {
            return Ok("the database is on a server: not rolled back".into());
        };
        let backup = Journal::default_dir(root).join(DB_BACKUP);
        if !backup.is_dir() {
            return Ok("no database change to undo".into());
        }
        if let Some(sm) = self.live.as_mut() {
            // xcatd holds the tables open; quiesce's undo starts it again.
            sm.stop("xcatd")?;
        }
        let kept = sqlite_files(&backup)?;
        // Tables staged by a restore killed mid-write (`.<table>.sqlite.xcatport-new`,
        // with SQLite's journal beside it); a rollback repeated after the
        // files step's undo finds no directory.
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok("no database change to undo".into())
            }
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in entries {
            let name = entry.at(&dir)?.file_name();
            let text = name.to_string_lossy();
            if crate::db::sqlite::is_staged_name(&text) {
                let p = dir.join(&name);
                std::fs::remove_file(&p).at(&p)?;
            }
        }
        for name in sqlite_files(&dir)? {
            if !kept.contains(&name) {
                let p = dir.join(&name);
                std::fs::remove_file(&p).at(&p)?;
            }
        }
        for name in &kept {
            let from = backup.join(name);
            std::fs::copy(&from, dir.join(name)).at(&from)?;
        }
        Ok(format!("{} SQLite tables put back", kept.len()))
    }
}
