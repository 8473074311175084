//! The `xcatexport` command: plan → check the target → write → verify →
//! finalize, then a one-screen summary (or JSON). With `--encrypt` the key
//! is obtained before anything is planned or written, and the written
//! secret stream is decrypted again to verify it when the key allows.

use crate::cli::ExportArgs;
use crate::db::DumpOptions;
use crate::mn::packages::PackageFormat;
use crate::mn::{MnFacts, Root};
use crate::plan::{self, Plan, Profile, Rules, Vars};
use crate::snapshot::volume::{self, Split};
use crate::snapshot::{self, Codec, DbDumpSource, LiveDb, SourceFacts, Verified};
use crate::target::{self, Target};
use crate::{progress, Error, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What an export did (also the `--json` output).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub target: PathBuf,
    pub dry_run: bool,
    pub plan: plan::Summary,
    pub filesystem: target::FsInfo,
    pub needed_bytes: u64,
    pub fits: bool,
    pub import_binary: Option<PathBuf>,
    pub entries: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    /// Where the verifying re-read read from (none on a dry run).
    pub reread: Option<target::ReRead>,
    pub warnings: Vec<String>,
}

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ExportArgs) -> Result<()> {
    let root = Root::open(&args.common.root)?;
    if root.is_host_root() && !nix::unistd::geteuid().is_root() {
        return Err(Error::Refused(
            "exporting / needs root: the snapshot holds private keys and the database that only root can read; run it as root (sudo xcatexport …), or use --root DIR for a tree you can read".into(),
        ));
    }
    let mut facts = MnFacts::probe(&root)?;
    let mut db = LiveDb::open(root.path(), &DumpOptions::default())?;
    let vars = db.site_vars()?;
    facts.installdir = vars.installdir.clone();
    facts.tftpdir = vars.tftpdir.clone();
    let outcome = run_with(args, &mut db, SourceFacts::from(&facts), &vars)?;
    if args.common.json {
        let text = serde_json::to_string_pretty(&outcome)
            .map_err(|e| Error::Refused(format!("cannot print JSON: {e}")))?;
        println!("{text}");
    } else if outcome.dry_run {
        print!("{}", plan::report::render(&outcome.plan));
        println!(
            "\ntarget {} ({}): needs about {}, {} free: {}",
            outcome.target.display(),
            outcome.filesystem.name,
            plan::report::human(outcome.needed_bytes),
            plan::report::human(outcome.filesystem.free),
            if outcome.fits { "fits" } else { "DOES NOT FIT" }
        );
        match &outcome.import_binary {
            Some(p) => println!("xcatimport: {}", p.display()),
            None => println!("xcatimport: not found (see --import-binary)"),
        }
        println!("dry run: nothing written");
    } else {
        let ratio = if outcome.bytes_out > 0 {
            outcome.bytes_in as f64 / outcome.bytes_out as f64
        } else {
            0.0
        };
        let verified = match outcome.reread {
            Some(target::ReRead::Media) => "verified (read back from the media)",
            _ => "verified (re-read through the page cache)",
        };
        println!(
            "snapshot written to {}: {} entries, {} in, {} out (ratio {ratio:.2}), {:.1} s; {verified}",
            outcome.target.display(),
            outcome.entries,
            plan::report::human(outcome.bytes_in),
            plan::report::human(outcome.bytes_out),
            outcome.seconds
        );
    }
    Ok(())
}

/// The export with its database source, source facts and site variables
/// injected (tests and the merged db layer call this).
pub fn run_with(
    args: &ExportArgs,
    db: &mut dyn DbDumpSource,
    facts: SourceFacts,
    vars: &Vars,
) -> Result<Outcome> {
    let started = Instant::now();
    let lock = if args.encrypt {
        let keys = super::keys::ExportKeys {
            passphrase_file: args.passphrase_file.as_deref(),
            recipients: &args.recipient,
            recipients_files: &args.recipients_file,
        };
        super::keys::export_lock(&keys, !args.dry_run)?
    } else {
        None
    };
    let root = &args.common.root;
    let profile = Profile::load(&args.profile)?;
    let family = plan::family_of(root);
    let rules = Rules::compile(&profile, vars, &family, &args.include, &args.exclude)?;
    let codec = Codec::new(args.compress, args.level)?;
    let split = match &args.split {
        Some(s) => Some(volume::parse_size(s)?),
        None => None,
    };
    let plan = Plan::build(root, rules, &*progress::bar("planning"))?;
    let target = Target::check(&args.target, &plan.exported_trees(), args.force)?;
    let binary = target::binary::locate(args.import_binary.as_deref());
    let binary_size = binary
        .as_ref()
        .ok()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let (files, dirs, bytes) = plan.summary.totals();
    let found = find_repos(root, &facts, vars, &args.rpms)?;
    let repos = found.repos;
    let rpm_bytes: u64 = repos
        .iter()
        .flat_map(|r| &r.files)
        .filter_map(|f| std::fs::metadata(&f.source).ok())
        .map(|m| m.len())
        .sum();
    // Worst case: nothing compresses; tar headers 1 KiB per entry; 1 MiB of slack.
    let needed = bytes + rpm_bytes + (files + dirs) * 1024 + binary_size + (1 << 20);
    let mut outcome = Outcome {
        target: args.target.clone(),
        dry_run: args.dry_run,
        plan: plan.summary.clone(),
        filesystem: target.fs.clone(),
        needed_bytes: needed,
        fits: needed <= target.fs.free,
        import_binary: binary.as_ref().ok().cloned(),
        entries: 0,
        bytes_in: 0,
        bytes_out: 0,
        seconds: 0.0,
        reread: None,
        warnings: Vec::new(),
    };
    if !found.not_offered.is_empty() {
        let list: Vec<String> = found
            .not_offered
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.arch))
            .collect();
        let w = format!(
            "no local package repository holds these installed optional xCAT packages: {}; the restore will ask the admin to install them (or pass their directory with --rpms DIR)",
            list.join(", ")
        );
        eprintln!("warning: {w}");
        outcome.warnings.push(w);
    }
    if target.fs.fat && !args.encrypt {
        let w = "the target is FAT/exFAT: secret files lose their 0600 modes on it; --encrypt is recommended".to_string();
        eprintln!("warning: {w}");
        outcome.warnings.push(w);
    }
    if args.dry_run {
        outcome.seconds = started.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    let binary = binary?;
    if args.verify_media {
        target.check_media_reread()?;
    }
    target.check_room(needed)?;
    let split = match (split, target.fs.fat) {
        (Some(n), _) => Split::Always(n),
        (None, true) => Split::IfLarger(volume::FAT_MAX_FILE),
        (None, false) => Split::None,
    };
    let opts = snapshot::WriteOptions {
        codec,
        split,
        source: facts,
        repos,
        installed: found.recorded,
    };
    let reread = if args.verify_media {
        target::ReRead::Media
    } else {
        target::ReRead::PageCache
    };
    let staging = target.stage()?;
    let bar = progress::bar("writing");
    let report = match &lock {
        Some(lock) => snapshot::writer::write_encrypted_snapshot(
            staging.path(),
            &plan,
            db,
            &binary,
            &opts,
            lock,
            &*bar,
        )?,
        None => snapshot::write_snapshot(staging.path(), &plan, db, &binary, &opts, &*bar)?,
    };
    drop(bar);
    let written = (&lock, &report.head.secrets, &report.secrets_plain_sha256);
    if let (Some(lock), Some(record), Some(sha)) = written {
        match lock.unlock() {
            Some(key) => snapshot::crypt::verify_plaintext(staging.path(), record, &key, sha)?,
            None => outcome.warnings.push(format!(
                "{}: checked against SHA256SUMS only; encrypted to public keys, it can be decrypted only with their identities (xcatimport --verify --identity FILE checks it)",
                snapshot::SECRETS
            )),
        }
    }
    let verified: Verified =
        staging.finalize(&report.readback, reread, &*progress::bar("reading back"))?;
    outcome.reread = Some(reread);
    outcome.plan = report.head.plan.clone();
    let secrets = verified.head.secrets.as_ref();
    outcome.entries = verified.head.data.entries + secrets.map_or(0, |s| s.entries);
    outcome.bytes_in = verified.head.data.bytes_in + secrets.map_or(0, |s| s.bytes_in);
    outcome.bytes_out = verified.head.data.bytes_out + secrets.map_or(0, |s| s.bytes_out);
    outcome.seconds = started.elapsed().as_secs_f64();
    Ok(outcome)
}

/// The xCAT package repos of the MN plus `--rpms`, checked to hold the
/// installed xCAT packages at their installed versions, and the installed
/// packages to record.
fn find_repos(
    root: &Path,
    facts: &SourceFacts,
    vars: &Vars,
    rpms: &[String],
) -> Result<crate::repo::Found> {
    let format = if facts.package_manager == "apt" {
        PackageFormat::Deb
    } else {
        PackageFormat::Rpm
    };
    let sources = crate::repo::Sources {
        rpms: rpms.to_vec(),
        installdir: vars.installdir.clone(),
    };
    crate::repo::find_all(&Root::open(root)?, format, &sources)
}
