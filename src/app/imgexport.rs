//! The `imgexport` command.

use crate::cli::ImgExportArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ImgExportArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("imgexport".into()))
}
