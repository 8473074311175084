//! The `mkfixture` command.

use crate::cli::FixtureArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &FixtureArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("mkfixture".into()))
}
