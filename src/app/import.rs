//! The `import` command.

use crate::cli::ImportArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ImportArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("import".into()))
}
