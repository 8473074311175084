//! The `imgimport` command.

use crate::cli::ImgImportArgs;
use crate::{Error, Result};

/// Runs the command; the binary maps the result to an exit code.
pub fn run(args: &ImgImportArgs) -> Result<()> {
    let _ = args;
    Err(Error::NotAvailable("imgimport".into()))
}
