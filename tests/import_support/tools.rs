//! Running the host's package tools and writing the files they read, for
//! the support modules that build packages, repos and package databases.

use std::path::Path;

pub use super::command::sh;

/// Writes `text` to `root/rel`, creating the missing parents.
pub fn write_file(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}
