//! The `export` command.

use crate::cli::ExportArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ExportArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("export".into()))
}
