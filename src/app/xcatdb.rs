//! The `xcatdb` command.

use crate::cli::DbArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &DbArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("xcatdb".into()))
}
