//! xcatport: snapshot an xCAT management node onto a stick or directory and
//! restore it elsewhere; xCAT-compatible per-image export and import.
//!
//! Data flows one way: [`mn`] + [`plan`] profiles → [`snapshot`] writer →
//! [`target`]; and back: [`target`] → [`snapshot`] reader → [`restore`] → [`mn`].
//! [`image`] is the per-image core shared by `imgexport` and the planner.
//! Binaries in `src/bin/` only parse arguments (see [`cli`]) and call in here.

pub mod app;
pub mod cli;
pub mod db;
pub mod error;
pub mod fixture;
pub mod image;
pub mod mn;
pub mod plan;
pub mod progress;
pub mod reconfig;
pub mod repo;
pub mod restore;
pub mod snapshot;
pub mod target;
pub mod version;

pub use error::{Error, Result};
