//! The `xcatreconfig` command: parse and check the options, plan the change
//! set (all refusals happen here, nothing changed), then print it
//! (`--dry-run`), or apply it under a journal (`--yes`, or a confirmation
//! on a terminal) and run or list the make* commands; `--rollback` undoes
//! the last reconfiguration.

use crate::cli::ReconfigArgs;
use crate::mn::Root;
use crate::reconfig::{self, apply, listing, Request};
use crate::{Error, Result};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};

/// What the command did (the `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct ReconfigReport {
    pub root: std::path::PathBuf,
    /// `dry-run`, `apply`, `rollback`.
    pub mode: String,
    pub summary: Vec<String>,
    pub rows: usize,
    pub files: Vec<String>,
    pub steps: Vec<(String, String)>,
    /// make* commands: run (live) or to run on the live MN.
    pub commands: Vec<String>,
    pub live: bool,
    pub notes: Vec<String>,
    /// The diff listing (dry run only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<String>,
}

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ReconfigArgs) -> Result<()> {
    let root = Root::open(&args.common.root)?;
    if args.rollback {
        let asked = args.hostname.is_some()
            || args.domain.is_some()
            || !args.ips.is_empty()
            || !args.networks.is_empty()
            || args.map.is_some()
            || args.dry_run;
        if asked {
            return Err(Error::Refused(
                "--rollback undoes the last reconfiguration and takes no change options or --dry-run".into(),
            ));
        }
        let r = apply::rollback(&root)?;
        let mut report = report(&root, "rollback");
        report.steps = vec![
            ("database".into(), r.database.clone()),
            (
                "files".into(),
                format!(
                    "{} files put back, {} created files removed",
                    r.files_restored, r.files_removed
                ),
            ),
        ];
        report.notes = r.warnings;
        return emit(args, &report);
    }
    let req = Request::parse(
        args.hostname.as_deref(),
        &args.ips,
        &args.networks,
        args.domain.as_deref(),
        args.map.as_deref(),
    )?;
    let set = reconfig::plan(&root, &req)?;
    let live = apply::is_live(&root);
    let mut rep = report(&root, if args.dry_run { "dry-run" } else { "apply" });
    rep.summary = set.summary.clone();
    rep.rows = set.row_count();
    rep.files = set.files.iter().map(|f| f.path.to_string()).collect();
    rep.commands = set.commands.clone();
    rep.live = live;
    rep.notes = set.notes.clone();
    if let reconfig::cert::CertPlan::Todo(t) = &set.cert {
        if !args.dry_run {
            rep.notes.push(t.clone());
        }
    }
    if args.dry_run {
        rep.listing = Some(listing::render(&set));
        return emit(args, &rep);
    }
    if set.is_empty() {
        rep.notes
            .push("nothing on this MN refers to what was asked to change".into());
        return emit(args, &rep);
    }
    if !args.yes {
        confirm(&root, &set)?;
    }
    let done = apply::apply(&root, &set, live).map_err(|e| stopped(e, &root))?;
    rep.steps = done.steps;
    emit(args, &rep)
}

fn report(root: &Root, mode: &str) -> ReconfigReport {
    ReconfigReport {
        root: root.path().to_path_buf(),
        mode: mode.into(),
        summary: Vec::new(),
        rows: 0,
        files: Vec::new(),
        steps: Vec::new(),
        commands: Vec::new(),
        live: false,
        notes: Vec::new(),
        listing: None,
    }
}

/// Asks on a terminal; refuses without one.
fn confirm(root: &Root, set: &reconfig::ChangeSet) -> Result<()> {
    let refuse = || {
        Error::Refused(
            "not applied: review the changes with --dry-run, then run again with --yes".into(),
        )
    };
    if !std::io::stdin().is_terminal() {
        return Err(refuse());
    }
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "{}apply {} row and {} file changes to {}? [y/N] ",
        set.summary
            .iter()
            .map(|s| format!("  {s}\n"))
            .collect::<String>(),
        set.row_count(),
        set.files.len(),
        root.path().display()
    );
    let _ = out.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("stdin", e))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// A failure once the journal exists: say how to undo it.
fn stopped(e: Error, root: &Root) -> Error {
    let dir = apply::journal_dir(root);
    match Journal::open(&dir) {
        Ok(j) if !j.is_complete() && !j.is_rolled_back() => Error::Refused(format!(
            "{e}; the reconfiguration stopped part-way and is recorded in {}: undo it with xcatreconfig --rollback",
            dir.display()
        )),
        _ => e,
    }
}

use crate::restore::Journal;

fn emit(args: &ReconfigArgs, r: &ReconfigReport) -> Result<()> {
    if args.common.json {
        let text = serde_json::to_string_pretty(r)
            .map_err(|e| Error::Refused(format!("cannot print JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", render(r));
    Ok(())
}

/// The text form of a report.
pub fn render(r: &ReconfigReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    match r.mode.as_str() {
        "dry-run" => {
            let _ = writeln!(
                s,
                "xcatreconfig --dry-run on {}: nothing changed; {} rows and {} files would change",
                r.root.display(),
                r.rows,
                r.files.len()
            );
            s.push_str(r.listing.as_deref().unwrap_or(""));
        }
        _ => {
            for line in &r.summary {
                let _ = writeln!(s, "{line}");
            }
            for (step, detail) in &r.steps {
                let _ = writeln!(s, "  {step:<12} {detail}");
            }
        }
    }
    if !r.commands.is_empty() && r.mode != "rollback" {
        let how = if r.live && r.mode == "apply" {
            "ran"
        } else if r.live {
            "would run"
        } else {
            "to run on the live MN"
        };
        let _ = writeln!(s, "make commands ({how}): {}", r.commands.join("; "));
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "notes:");
        for n in &r.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    match r.mode.as_str() {
        "apply" if !r.steps.is_empty() => {
            let _ = writeln!(
                s,
                "reconfiguration of {} complete; xcatreconfig --rollback undoes it",
                r.root.display()
            );
        }
        "rollback" => {
            let _ = writeln!(s, "rollback of {} complete", r.root.display());
        }
        _ => {}
    }
    s
}
