//! A dry pass over the data stream before anything is written: every
//! member is checked with the rules the extraction enforces (confined
//! names, hardlinks only to members already seen, no path through a
//! symlink of the archive, no device nodes unless allowed, bodies as long
//! as declared, the DB dump's tables well-formed tabdump CSV), so a hostile snapshot whose checksums are consistent is
//! refused while the root is still untouched. The extraction keeps its own
//! checks: this pass is the early refusal, not the only guard.

use super::extract::confine;
use crate::db::{csv, schema, schema::Table};
use crate::{Error, Result};
use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use tar::EntryType;

/// What the scan saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub entries: u64,
    pub bytes: u64,
}

/// Where the DB dump's tables sit in the data stream.
const DUMP_DIR: &str = ".xcatport/db";

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::Escape {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads the whole tar stream and checks every header; the error names the
/// first offending member.
pub fn scan<R: Read>(reader: R, allow_special: bool) -> Result<ScanReport> {
    scan_streams(std::iter::once(reader), allow_special)
}

/// Scans several tar streams that are extracted as one (an encrypted
/// snapshot's secret stream, then its data stream): a hardlink may name a
/// member of an earlier stream, and a symlink of an earlier stream counts.
pub fn scan_streams<R: Read>(
    readers: impl IntoIterator<Item = R>,
    allow_special: bool,
) -> Result<ScanReport> {
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut symlinks: HashSet<PathBuf> = HashSet::new();
    let mut report = ScanReport::default();
    for reader in readers {
        scan_one(reader, allow_special, &mut seen, &mut symlinks, &mut report)?;
    }
    Ok(report)
}

fn scan_one<R: Read>(
    reader: R,
    allow_special: bool,
    seen: &mut HashSet<PathBuf>,
    symlinks: &mut HashSet<PathBuf>,
    report: &mut ScanReport,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let stream = Path::new("data stream");
    let entries = archive.entries().map_err(|e| Error::io(stream, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::io(stream, e))?;
        let rel = confine(&entry.path_bytes())?;
        if let Some(through) = rel.ancestors().skip(1).find(|a| symlinks.contains(*a)) {
            return Err(bad(
                &rel,
                format!(
                    "leads through {}, a symlink of this archive",
                    through.display()
                ),
            ));
        }
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::GNUSparse
            | EntryType::Directory => {}
            EntryType::Symlink => {
                symlinks.insert(rel.clone());
            }
            EntryType::Link => {
                let raw = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::format(&rel, 0, "hardlink without a target"))?;
                let target = confine(&raw).map_err(|e| match e {
                    Error::Escape { reason, .. } => bad(&rel, format!("hardlink target {reason}")),
                    other => other,
                })?;
                if !seen.contains(&target) {
                    return Err(bad(
                        &rel,
                        format!(
                            "hardlink target {} was not extracted before it by this archive",
                            target.display()
                        ),
                    ));
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo if allow_special => {}
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                return Err(Error::Refused(format!(
                    "{}: device nodes and fifos are refused in this archive",
                    rel.display()
                )))
            }
            other => {
                return Err(Error::format(
                    &rel,
                    0,
                    format!("unsupported tar entry type {:?}", other.as_byte() as char),
                ))
            }
        }
        let declared = entry.size();
        // Reading the body proves it is there; a short stream is an error.
        let got = match dump_table(&rel, kind) {
            Some(table) => check_dump(&mut entry, &rel, table)?,
            None => {
                std::io::copy(&mut entry, &mut std::io::sink()).map_err(|e| Error::io(&rel, e))?
            }
        };
        if got != declared {
            return Err(Error::Refused(format!(
                "{}: archive truncated: the member declares {declared} bytes but only {got} could be read",
                rel.display()
            )));
        }
        report.entries += 1;
        report.bytes += got;
        seen.insert(rel);
    }
    Ok(())
}

/// The schema table whose tabdump CSV `rel` is, for members of the DB dump.
fn dump_table(rel: &Path, kind: EntryType) -> Option<&'static Table> {
    if !matches!(kind, EntryType::Regular | EntryType::Continuous) {
        return None;
    }
    let name = rel
        .strip_prefix(DUMP_DIR)
        .ok()?
        .to_str()?
        .strip_suffix(".csv")?;
    schema::table(name)
}

/// Parses a dump member as the database step will, so a malformed CSV is
/// refused with its file and line before the files step writes anything.
/// Returns the body's length.
fn check_dump(body: &mut dyn Read, rel: &Path, table: &Table) -> Result<u64> {
    let mut counted = Counted {
        inner: body,
        bytes: 0,
    };
    {
        let mut reader = csv::Reader::new(BufReader::new(&mut counted), rel, table)?;
        while reader.next_record()?.is_some() {}
    }
    Ok(counted.bytes)
}

struct Counted<'a> {
    inner: &'a mut dyn Read,
    bytes: u64,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body).unwrap();
    }

    #[test]
    fn a_clean_stream_passes_with_counts() {
        let t = tar(|b| {
            file(b, "a/x", b"12345");
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(EntryType::Link);
            b.append_link(&mut h, "a/y", "a/x").unwrap();
        });
        assert_eq!(
            scan(&t[..], false).unwrap(),
            ScanReport {
                entries: 2,
                bytes: 5
            }
        );
    }

    #[test]
    fn symlink_then_member_through_it_is_refused() {
        let t = tar(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(EntryType::Symlink);
            b.append_link(&mut h, "etc/evil", "/etc").unwrap();
            file(b, "etc/evil/passwd", b"x");
        });
        let e = scan(&t[..], false).unwrap_err().to_string();
        assert!(
            e.contains("etc/evil/passwd") && e.contains("symlink"),
            "{e}"
        );
    }

    #[test]
    fn forward_hardlink_and_fifo_are_refused() {
        let t = tar(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(EntryType::Link);
            b.append_link(&mut h, "a/y", "a/x").unwrap();
        });
        assert!(scan(&t[..], false).unwrap_err().to_string().contains("a/y"));
        let t = tar(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_entry_type(EntryType::Fifo);
            b.append_data(&mut h, "run/fifo", &[][..]).unwrap();
        });
        assert!(scan(&t[..], false)
            .unwrap_err()
            .to_string()
            .contains("run/fifo"));
        assert!(scan(&t[..], true).is_ok());
    }

    #[test]
    fn malformed_dump_table_is_refused_with_file_and_line() {
        let t = tar(|b| {
            file(
                b,
                ".xcatport/db/site.csv",
                b"#key,value\n\"a\",\"b\"\n\"c\"x,\"d\"\n",
            );
        });
        let e = scan(&t[..], false).unwrap_err().to_string();
        assert!(e.starts_with(".xcatport/db/site.csv:3: "), "{e}");
        // Well-formed, and a non-table file in the same directory, pass.
        let t = tar(|b| {
            file(b, ".xcatport/db/site.csv", b"#key,value\n\"a\",\"b\"\n");
            file(b, ".xcatport/db/notes.txt", b"\"");
        });
        assert_eq!(scan(&t[..], false).unwrap().bytes, 20);
    }
}
