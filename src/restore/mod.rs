//! Restore: preflight → repos → packages → quiesce → files → database →
//! regenerate → services, as a journaled list of steps that can resume or
//! roll back.
//!
//! [`steps::plan`] turns options into a [`steps::RestorePlan`] without side
//! effects (`--dry-run` prints it); [`executor::Executor`] runs it, recording
//! each step in the [`journal::Journal`]. The files step is ours
//! ([`extract`]); the others are injected by the caller, which wires the
//! package, database and service layers: [`packages`] (repos, packages),
//! [`services`] (quiesce, services) and [`live`] (database through xcatd,
//! regenerate, SELinux, site facts).

pub mod cfgloc;
pub mod executor;
pub mod extract;
pub mod journal;
pub mod links;
pub mod live;
pub mod meta;
pub mod packages;
pub mod scan;
pub mod services;
pub mod steps;
pub mod writers;

pub use executor::{Executor, Outcome, Report, StepAction, StepReport};
pub use journal::{Journal, RollbackReport};
pub use steps::{plan, RestoreOptions, RestorePlan, Step};
