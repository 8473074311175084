//! Command-line definitions for every binary, in one place so that `--help`,
//! man pages and shell completions come from the same clap structures, and
//! the mapping from errors to exit codes is decided once ([`exit`]).

pub mod args;
pub mod docs;
pub mod exit;

pub use args::*;
