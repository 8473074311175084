//! `SHA256SUMS` in the format `sha256sum -c` reads: `<hex>  <name>`.

use crate::error::IoContext;
use crate::{Error, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

/// Writes the lines for `(name, sha256)` pairs, in the order given.
pub fn write(path: &Path, entries: &[(String, String)]) -> Result<()> {
    let mut text = String::new();
    for (name, sha) in entries {
        if name.contains('\n') || name.contains('\\') {
            return Err(Error::Refused(format!(
                "{name:?}: a stick file name must not contain a newline or backslash"
            )));
        }
        text.push_str(&format!("{sha}  {name}\n"));
    }
    let mut f = std::fs::File::create_new(path).at(path)?;
    f.write_all(text.as_bytes()).at(path)?;
    Ok(())
}

/// Parses the file into `(name, sha256)` pairs; a malformed line is an error with its number.
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let f = std::fs::File::open(path).at(path)?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.at(path)?;
        let lineno = i as u64 + 1;
        let Some((sha, name)) = line.split_once("  ").or_else(|| line.split_once(" *")) else {
            return Err(Error::format(
                path,
                lineno,
                "expected `<sha256>  <file name>`",
            ));
        };
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::format(
                path,
                lineno,
                format!("{sha:?} is not a SHA-256 digest"),
            ));
        }
        if name.is_empty() || name.contains('/') {
            return Err(Error::format(
                path,
                lineno,
                format!("{name:?} is not a file name on the stick"),
            ));
        }
        out.push((name.to_string(), sha.to_ascii_lowercase()));
    }
    Ok(out)
}
