//! Runs a [`RestorePlan`], recording every step in the journal.
//!
//! Preflight checks run first and all of them (so the admin sees every
//! problem at once); the journal is created only when they pass, so a
//! refused restore leaves the root untouched. The files step is ours; the
//! other steps call actions injected by the caller (packages, database,
//! services live in other layers). Each step ends with `syncfs`.
//! `resume` redoes the interrupted step and continues; `rollback` undoes
//! the files step from its change log and calls the other steps' undo.

use super::extract::{extract_streams, EntryHook, ExtractOptions};
use super::journal::{sync_filesystem, Journal, RollbackReport, StepState};
use super::steps::{Action, RestorePlan, Step};
use crate::mn::accounts::Accounts;
use crate::progress::Progress;
use crate::{Error, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A step's work, injected by the caller.
pub trait StepAction {
    /// Does the step under `root`; returns a one-line result.
    fn run(&mut self, root: &Path) -> Result<String>;
    /// Undoes it for `--rollback`; returns a one-line result.
    fn undo(&mut self, _root: &Path) -> Result<String> {
        Ok("nothing to undo".to_string())
    }
}

impl<F: FnMut(&Path) -> Result<String>> StepAction for F {
    fn run(&mut self, root: &Path) -> Result<String> {
        self(root)
    }
}

type Check<'a> = Box<dyn Fn(&Path) -> Result<()> + 'a>;
type OpenData<'a> = Box<dyn FnMut() -> Result<Box<dyn Read + 'a>> + 'a>;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Skipped(String),
    /// Done by an earlier run (resume).
    AlreadyDone,
}

#[derive(Debug, Clone)]
pub struct StepReport {
    pub step: Step,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub steps: Vec<StepReport>,
    /// Metadata that could not be set, names that could not be mapped.
    pub warnings: Vec<String>,
}

/// Runs plans against one root.
pub struct Executor<'a> {
    root: PathBuf,
    journal_dir: PathBuf,
    checks: Vec<(String, Check<'a>)>,
    actions: HashMap<Step, Box<dyn StepAction + 'a>>,
    after: HashMap<Step, Box<dyn StepAction + 'a>>,
    open_data: Option<OpenData<'a>>,
    open_secrets: Option<OpenData<'a>>,
    entry_hook: Option<EntryHook<'a>>,
    allow_special: bool,
    keep_existing: Vec<PathBuf>,
    progress: &'a dyn Progress,
}

impl<'a> Executor<'a> {
    /// An executor for `root` with the journal in its default place.
    pub fn new(root: &Path, progress: &'a dyn Progress) -> Executor<'a> {
        Executor {
            root: root.to_path_buf(),
            journal_dir: Journal::default_dir(root),
            checks: Vec::new(),
            actions: HashMap::new(),
            after: HashMap::new(),
            open_data: None,
            open_secrets: None,
            entry_hook: None,
            // The writer never exports device nodes or fifos, so a snapshot
            // holding one was crafted: refused unless a caller opts in.
            allow_special: false,
            keep_existing: Vec::new(),
            progress,
        }
    }

    /// Keeps the journal elsewhere (tests comparing whole roots).
    pub fn journal_dir(mut self, dir: &Path) -> Self {
        self.journal_dir = dir.to_path_buf();
        self
    }

    /// Adds a preflight check; its error message says what is wrong.
    pub fn check(mut self, name: &str, check: impl Fn(&Path) -> Result<()> + 'a) -> Self {
        self.checks.push((name.to_string(), Box::new(check)));
        self
    }

    /// Sets the work of a step other than preflight and files.
    pub fn action(mut self, step: Step, action: impl StepAction + 'a) -> Self {
        self.actions.insert(step, Box::new(action));
        self
    }

    /// Work run at the end of `step`, within it (e.g. relabelling the
    /// files just extracted); its result is appended to the step's.
    pub fn after(mut self, step: Step, action: impl StepAction + 'a) -> Self {
        self.after.insert(step, Box::new(action));
        self
    }

    /// How to open the decompressed data tar (again, on resume).
    pub fn data(mut self, open: impl FnMut() -> Result<Box<dyn Read + 'a>> + 'a) -> Self {
        self.open_data = Some(Box::new(open));
        self
    }

    /// How to open the decrypted secret tar of an encrypted snapshot; it is
    /// scanned and extracted before the data tar, in the same files step.
    pub fn secrets(mut self, open: impl FnMut() -> Result<Box<dyn Read + 'a>> + 'a) -> Self {
        self.open_secrets = Some(Box::new(open));
        self
    }

    /// The tar streams of the files step, in extraction order.
    fn open_streams(&mut self) -> Result<Vec<Box<dyn Read + 'a>>> {
        let mut streams = Vec::new();
        if let Some(open) = self.open_secrets.as_mut() {
            streams.push(open()?);
        }
        if let Some(open) = self.open_data.as_mut() {
            streams.push(open()?);
        }
        Ok(streams)
    }

    /// Called before each extracted entry (fault injection, cancellation).
    pub fn entry_hook(mut self, hook: impl FnMut(u64, &Path) -> Result<()> + 'a) -> Self {
        self.entry_hook = Some(Box::new(hook));
        self
    }

    /// Whether device nodes and fifos may be created (default: yes, a
    /// snapshot of an MN may carry them).
    pub fn allow_special(mut self, allow: bool) -> Self {
        self.allow_special = allow;
        self
    }

    /// Files (relative to the root) that the files step leaves as they are
    /// when the root already has them, instead of the snapshot's copy.
    pub fn keep_existing(mut self, paths: Vec<PathBuf>) -> Self {
        self.keep_existing = paths;
        self
    }

    /// Runs the plan from the start. Refuses when a journal exists.
    pub fn run(&mut self, plan: &RestorePlan) -> Result<Report> {
        let mut report = Report::default();
        let started = Instant::now();
        if plan_runs(plan, Step::Preflight) {
            self.preflight()?;
        }
        if plan_runs(plan, Step::Files) {
            self.scan_data()?;
        }
        let names: Vec<&str> = plan.steps.iter().map(|p| p.step.name()).collect();
        let mut journal = Journal::create(&self.journal_dir, &names)?;
        let preflight = match plan_action(plan, Step::Preflight) {
            Action::Run => {
                let detail = format!("{} checks passed", self.checks.len());
                journal.finish("preflight", StepState::Done, &detail)?;
                Outcome::Done(detail)
            }
            Action::Skip(why) => {
                journal.finish("preflight", StepState::Skipped, &why)?;
                Outcome::Skipped(why)
            }
        };
        report.steps.push(StepReport {
            step: Step::Preflight,
            outcome: preflight,
            elapsed: started.elapsed(),
        });
        self.steps(plan, &mut journal, &mut report)?;
        Ok(report)
    }

    /// Continues the restore recorded in the journal: finished steps are
    /// kept, the interrupted one is redone, the rest run.
    pub fn resume(&mut self, plan: &RestorePlan) -> Result<Report> {
        let mut journal = Journal::open(&self.journal_dir)?;
        if journal.is_rolled_back() {
            return Err(Error::Refused(format!(
                "{}: this restore was rolled back; start a new one instead of resuming",
                self.journal_dir.display()
            )));
        }
        let mut report = Report::default();
        self.steps(plan, &mut journal, &mut report)?;
        Ok(report)
    }

    /// Undoes the recorded restore, newest step first. Idempotent. The
    /// files step is undone from its change log even when never recorded
    /// as started: a crash between `begin` and its first record leaves
    /// nothing, and an empty change log undoes nothing.
    pub fn rollback(&mut self) -> Result<RollbackReport> {
        let journal = Journal::open(&self.journal_dir)?;
        let mut total = RollbackReport::default();
        let started: Vec<Step> = journal
            .steps()
            .iter()
            .filter(|s| matches!(s.state, StepState::Done | StepState::Running))
            .filter_map(|s| Step::from_name(&s.name))
            .filter(|s| *s != Step::Files)
            .collect();
        // Steps after the files (database, daemons) are undone before the
        // files are put back, the ones before it (packages, repos) after.
        let (later, earlier): (Vec<Step>, Vec<Step>) =
            started.into_iter().rev().partition(|s| *s > Step::Files);
        self.undo_steps(&later, &mut total)?;
        let mut journal = journal;
        let files = journal.rollback_files(&self.root)?;
        total.removed += files.removed;
        total.restored += files.restored;
        total.directories += files.directories;
        total.warnings.extend(files.warnings);
        self.undo_steps(&earlier, &mut total)?;
        Ok(total)
    }

    fn undo_steps(&mut self, steps: &[Step], total: &mut RollbackReport) -> Result<()> {
        for step in steps {
            if let Some(action) = self.actions.get_mut(step) {
                let detail = action.undo(&self.root)?;
                total.steps.push((step.name().to_string(), detail));
            }
        }
        Ok(())
    }

    /// Reads the data stream once before the journal exists, so a hostile
    /// member is refused while nothing under the root has changed.
    fn scan_data(&mut self) -> Result<()> {
        if self.open_data.is_none() {
            return Ok(());
        }
        let streams = self.open_streams()?;
        super::scan::scan_streams(streams, self.allow_special)
            .map(|_| ())
            .map_err(|e| {
                Error::Refused(format!(
                    "preflight failed, nothing was changed: the data stream: {e}"
                ))
            })
    }

    fn preflight(&self) -> Result<()> {
        let failures: Vec<String> = self
            .checks
            .iter()
            .filter_map(|(name, check)| check(&self.root).err().map(|e| format!("{name}: {e}")))
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "preflight failed, nothing was changed: {}",
                failures.join("; ")
            )))
        }
    }

    fn steps(
        &mut self,
        plan: &RestorePlan,
        journal: &mut Journal,
        report: &mut Report,
    ) -> Result<()> {
        for planned in &plan.steps {
            let step = planned.step;
            let started = Instant::now();
            let name = step.name();
            let outcome = match (journal.state_of(name), &planned.action) {
                (Some(StepState::Done | StepState::Skipped), _) => Outcome::AlreadyDone,
                (None, _) => {
                    return Err(Error::Refused(format!(
                        "{}: the journal has no step {name}; it was written for another plan",
                        journal.dir().display()
                    )))
                }
                (_, Action::Skip(why)) => {
                    journal.finish(name, StepState::Skipped, why)?;
                    Outcome::Skipped(why.clone())
                }
                (_, Action::Run) => {
                    journal.begin(name)?;
                    let mut detail = self.one(step, journal, report)?;
                    if let Some(after) = self.after.get_mut(&step) {
                        let more = after.run(&self.root)?;
                        detail = format!("{detail}; {more}");
                    }
                    self.sync()?;
                    journal.finish(name, StepState::Done, &detail)?;
                    Outcome::Done(detail)
                }
            };
            report.steps.push(StepReport {
                step,
                outcome,
                elapsed: started.elapsed(),
            });
        }
        Ok(())
    }

    fn one(&mut self, step: Step, journal: &mut Journal, report: &mut Report) -> Result<String> {
        match step {
            // preflight ran before the journal existed; on resume it is done
            Step::Preflight => Ok("checked".to_string()),
            Step::Files => self.files(journal, report),
            other => match self.actions.get_mut(&other) {
                Some(action) => action.run(&self.root),
                None => Err(Error::NotAvailable(format!("the {other} step"))),
            },
        }
    }

    fn files(&mut self, journal: &mut Journal, report: &mut Report) -> Result<String> {
        if self.open_data.is_none() {
            return Err(Error::NotAvailable(
                "the files step without a data stream".into(),
            ));
        }
        let streams = self.open_streams()?;
        // Loaded now, after the packages step created its users and groups.
        let accounts = Accounts::load(&self.root)?;
        for skipped in accounts.skipped_lines() {
            report.warnings.push(skipped.to_string());
        }
        let hook = self.entry_hook.as_mut();
        let opts = ExtractOptions {
            allow_special: self.allow_special,
            dump_dir: Some(PathBuf::from("var/lib/xcatport")),
            before_entry: hook.map(|h| Box::new(move |i: u64, p: &Path| h(i, p)) as EntryHook<'_>),
            keep_existing: self.keep_existing.clone(),
            ..Default::default()
        };
        let changes = journal.changes()?;
        let done = extract_streams(streams, &self.root, &accounts, changes, opts, self.progress)?;
        report.warnings.extend(done.warnings);
        let mut detail = format!(
            "{} entries, {} bytes, {} replaced (kept for rollback)",
            done.entries, done.bytes, done.replaced
        );
        for kept in &done.kept {
            detail.push_str(&format!(
                "; kept this MN's own /{} instead of the snapshot's",
                kept.display()
            ));
        }
        Ok(detail)
    }

    fn sync(&self) -> Result<()> {
        sync_filesystem(&self.root)?;
        if same_device(&self.root, &self.journal_dir) == Some(false) {
            sync_filesystem(&self.journal_dir)?;
        }
        Ok(())
    }
}

fn plan_action(plan: &RestorePlan, step: Step) -> Action {
    plan.steps
        .iter()
        .find(|p| p.step == step)
        .map(|p| p.action.clone())
        .unwrap_or(Action::Skip("not in the plan".into()))
}

fn plan_runs(plan: &RestorePlan, step: Step) -> bool {
    plan_action(plan, step) == Action::Run
}

fn same_device(a: &Path, b: &Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    Some(std::fs::metadata(a).ok()?.dev() == std::fs::metadata(b).ok()?.dev())
}
