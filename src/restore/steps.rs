//! The restore's steps as data, and the plan: which run and which are
//! skipped, decided from the options alone (no side effects), so that
//! `--dry-run` prints exactly what a real run would do.

use std::fmt;

/// One step of a restore, in the order they run (see design.md,
/// "Restore order on a live MN").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    Preflight,
    Repos,
    Packages,
    Quiesce,
    Files,
    Database,
    Regenerate,
    Services,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Preflight,
        Step::Repos,
        Step::Packages,
        Step::Quiesce,
        Step::Files,
        Step::Database,
        Step::Regenerate,
        Step::Services,
    ];

    /// Stable name, as recorded in the journal.
    pub fn name(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::Repos => "repos",
            Step::Packages => "packages",
            Step::Quiesce => "quiesce",
            Step::Files => "files",
            Step::Database => "database",
            Step::Regenerate => "regenerate",
            Step::Services => "services",
        }
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What the step does, for `--dry-run` and the summary.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Preflight => {
                "check checksums, distro, arch, xCAT version, free space; change nothing"
            }
            Step::Repos => {
                "copy the package repos from the snapshot to local disk and register them"
            }
            Step::Packages => "install the xCAT packages with the distro's package manager",
            Step::Quiesce => "stop the xCAT daemons the packages started",
            Step::Files => "extract the snapshot's files, keeping backups of what they replace",
            Step::Database => "restore the xCAT database from the snapshot's dump",
            Step::Regenerate => "run the make* commands that rebuild generated configuration",
            Step::Services => "enable and start the daemons",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What the plan says about a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Run,
    /// Skipped, with the reason (the option or fact that skips it).
    Skip(String),
}

/// The options that shape a restore plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreOptions {
    pub skip_packages: bool,
    pub skip_db: bool,
    pub no_regen: bool,
    pub no_start: bool,
    /// A live xCAT is managed here (root `/`); without one (tests, another
    /// `--root`) daemons are neither stopped, regenerated nor started.
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub step: Step,
    pub action: Action,
}

/// The ordered steps of one restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    pub steps: Vec<PlannedStep>,
}

impl RestorePlan {
    /// Steps that will run.
    pub fn running(&self) -> impl Iterator<Item = Step> + '_ {
        self.steps
            .iter()
            .filter(|p| p.action == Action::Run)
            .map(|p| p.step)
    }
}

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.steps.iter().enumerate() {
            match &p.action {
                Action::Run => writeln!(f, "{}. {:<10} {}", i + 1, p.step, p.step.describe())?,
                Action::Skip(why) => writeln!(f, "{}. {:<10} skipped: {why}", i + 1, p.step)?,
            }
        }
        Ok(())
    }
}

/// The plan for these options. Pure: reads nothing, changes nothing.
pub fn plan(opts: &RestoreOptions) -> RestorePlan {
    let not_live = || Action::Skip("no live xCAT under this --root".to_string());
    let steps = Step::ALL
        .into_iter()
        .map(|step| {
            let action = match step {
                Step::Packages if opts.skip_packages => Action::Skip("--skip-packages".into()),
                Step::Database if opts.skip_db => Action::Skip("--skip-db".into()),
                Step::Regenerate if opts.no_regen => Action::Skip("--no-regen".into()),
                Step::Services if opts.no_start => Action::Skip("--no-start".into()),
                Step::Quiesce | Step::Regenerate | Step::Services if !opts.live => not_live(),
                _ => Action::Run,
            };
            PlannedStep { step, action }
        })
        .collect();
    RestorePlan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_live_plan_runs_every_step_in_order() {
        let p = plan(&RestoreOptions {
            live: true,
            ..Default::default()
        });
        assert_eq!(p.running().collect::<Vec<_>>(), Step::ALL.to_vec());
    }

    #[test]
    fn options_skip_steps_and_the_plan_prints_why() {
        let p = plan(&RestoreOptions {
            skip_db: true,
            skip_packages: true,
            live: false,
            ..Default::default()
        });
        assert_eq!(
            p.to_string(),
            "1. preflight  check checksums, distro, arch, xCAT version, free space; change nothing\n\
             2. repos      copy the package repos from the snapshot to local disk and register them\n\
             3. packages   skipped: --skip-packages\n\
             4. quiesce    skipped: no live xCAT under this --root\n\
             5. files      extract the snapshot's files, keeping backups of what they replace\n\
             6. database   skipped: --skip-db\n\
             7. regenerate skipped: no live xCAT under this --root\n\
             8. services   skipped: no live xCAT under this --root\n"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in Step::ALL {
            assert_eq!(Step::from_name(s.name()), Some(s));
        }
        assert_eq!(Step::from_name("nope"), None);
    }
}
