//! The `xcatreconfig` command.

use crate::cli::ReconfigArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ReconfigArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("xcatreconfig".into()))
}
