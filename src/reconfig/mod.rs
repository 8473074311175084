//! xcatreconfig: retarget a restored management node to a new hostname,
//! domain and addresses (seed 004's "separate utility", issue 11).
//!
//! [`Request::parse`] checks the options on their own; [`plan()`] reads the
//! MN (database through `crate::db`, service files through the root) and
//! returns the [`ChangeSet`] — every row and file that changes — refusing
//! anything that does not fit this MN before a byte is written;
//! [`listing::render`] prints it for `--dry-run`; [`apply::apply`] writes it
//! under a journal and [`apply::rollback`] undoes it.

pub mod apply;
pub mod cert;
pub mod files;
pub mod listing;
pub mod net;
pub mod plan;
pub mod request;
pub mod rewrite;
pub mod tables;

pub use plan::{plan, ChangeSet, Identity};
pub use request::Request;
