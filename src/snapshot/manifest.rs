//! `MANIFEST.json`: source facts, the plan summary, volumes, the DB dump and
//! one record per file.
//!
//! The file list can hold millions of records, so it is never kept in memory:
//! the writer spools records (one JSON object per line) to a side file while
//! the tar is written, then emits the head followed by the spooled `files`
//! array; the reader walks `files` element by element through a callback.

use super::compress::Codec;
use crate::error::IoContext;
use crate::plan::{Section, Summary};
use crate::{Error, Result};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Format version of MANIFEST.json; bumped on incompatible changes.
pub const FORMAT: u32 = 1;
/// Format of snapshots with an encrypted secret stream: an xcatimport that
/// knows only [`FORMAT`] refuses them instead of restoring without secrets.
pub const FORMAT_ENCRYPTED: u32 = 2;

/// What the source MN was: what the restore side must match, and what it
/// reports. Never holds a secret (the cfgloc password stays out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFacts {
    pub distro_id: String,
    pub distro_version: String,
    /// `rhel`, `sles` or `ubuntu` (Debian counts as the apt family).
    #[serde(default)]
    pub family: String,
    /// What the restore side must share: `rhel:8`, `sles:15`, `ubuntu:22.04`.
    #[serde(default)]
    pub release_key: String,
    pub arch: String,
    pub xcat_version: Option<String>,
    pub hostname: String,
    /// `dnf`, `yum`, `zypper` or `apt`.
    #[serde(default)]
    pub package_manager: String,
    /// `sqlite`, `mysql` or `pg`.
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub installdir: String,
    #[serde(default)]
    pub tftpdir: String,
}

impl From<&crate::mn::MnFacts> for SourceFacts {
    fn from(f: &crate::mn::MnFacts) -> Self {
        SourceFacts {
            distro_id: f.distro.id.clone(),
            distro_version: f.distro.version.clone(),
            family: f.distro.family.to_string(),
            release_key: f.distro.release_key(),
            arch: f.arch.as_str().to_string(),
            xcat_version: f.xcat.as_ref().map(|x| x.version.to_string()),
            hostname: f.hostname.clone().unwrap_or_default(),
            package_manager: f.package_manager.to_string(),
            database: f.db.engine(),
            installdir: f.installdir.clone(),
            tftpdir: f.tftpdir.clone(),
        }
    }
}

/// One slice of the data stream as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The data stream: its base name and volumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRecord {
    /// `xcat-data.tar.zst`; volumes are this name or this name plus `.NNN`.
    pub name: String,
    pub compression: Codec,
    pub volumes: Vec<VolumeRecord>,
    /// Tar entries written (files, dirs, links, DB tables).
    pub entries: u64,
    /// Content bytes read from the source (file sizes, DB dump).
    pub bytes_in: u64,
    /// Bytes of the compressed stream (sum of volume sizes).
    pub bytes_out: u64,
}

/// One table of the DB dump, stored as `.xcatport/db/<table>.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRecord {
    pub table: String,
    pub member: String,
    pub size: u64,
    /// Empty in encrypted snapshots (see [`SecretsRecord`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
}

/// The encrypted secret stream `xcat-secrets.tar.zst.age` (only with
/// `--encrypt`): the secret files and the DB dump, as a zstd tar encrypted
/// with age.
///
/// No hash of plaintext is recorded for what it holds: the secret files'
/// records keep path, owner, mode and size but no `sha256`, and the tables
/// no `sha256`, because a SHA-256 of a short secret (a cfgloc or a passwd
/// table whose other fields are guessable) can be brute-forced offline from
/// this readable file. Integrity does not need them: age authenticates every
/// chunk of the stream, and SHA256SUMS covers the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsRecord {
    /// `xcat-secrets.tar.zst.age`; volumes are this name or this name plus `.NNN`.
    pub name: String,
    /// Always `age` (age-encryption.org/v1).
    pub encryption: String,
    /// `passphrase` or `x25519`: what `xcatimport` must be given.
    pub key: super::crypt::KeyKind,
    /// How many recipients can decrypt (1 for a passphrase).
    pub recipients: usize,
    pub volumes: Vec<VolumeRecord>,
    /// Tar entries in the stream (secret files, DB tables).
    pub entries: u64,
    /// Content bytes before compression and encryption.
    pub bytes_in: u64,
    /// Bytes of the encrypted stream (sum of volume sizes).
    pub bytes_out: u64,
}

/// The package repos on the stick (xcat-rpms.tar), or why there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagesRecord {
    pub collected: bool,
    pub note: String,
    /// The source's xCAT packages (and what else it installed from the
    /// xCAT repos): the restore reinstalls those the stick's repos offer
    /// and lists the others. Absent in snapshots of older versions.
    #[serde(default)]
    pub installed: Vec<crate::mn::packages::InstalledPackage>,
}

/// Everything in MANIFEST.json except the file list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestHead {
    pub format: u32,
    pub xcatport: String,
    /// UTC, RFC 3339.
    pub created: String,
    pub source: SourceFacts,
    pub profile: String,
    /// `INSTALLDIR`, `TFTPDIR` as used for this snapshot.
    pub variables: BTreeMap<String, String>,
    pub plan: Summary,
    pub data: DataRecord,
    pub database: Vec<TableRecord>,
    pub packages: PackagesRecord,
    /// The encrypted secret stream, only in snapshots made with `--encrypt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsRecord>,
}

/// Kind of a tar member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

/// One file, directory or link of the snapshot (DB tables are in `database`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the root; lossy if the name is not UTF-8 (see `path_hex`).
    pub path: String,
    /// The exact name bytes in hex, only for names that are not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hex: Option<String>,
    pub kind: Kind,
    pub section: Section,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Permission bits in octal, e.g. `0600`.
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub mtime: i64,
    /// Symlink target, or the first path of a hardlinked file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl FileRecord {
    /// The exact relative path, from `path_hex` when the name is not UTF-8.
    pub fn rel_path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        match self.path_hex.as_deref().and_then(|h| hex::decode(h).ok()) {
            Some(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
            None => PathBuf::from(&self.path),
        }
    }
}

/// Spools file records while the tar is written, then assembles MANIFEST.json.
pub struct ManifestWriter {
    spool_path: PathBuf,
    spool: BufWriter<File>,
    count: u64,
}

impl ManifestWriter {
    /// Spools into `spool_path` (a scratch file in the staging directory).
    pub fn create(spool_path: &Path) -> Result<ManifestWriter> {
        let file = File::create(spool_path).at(spool_path)?;
        Ok(ManifestWriter {
            spool_path: spool_path.to_path_buf(),
            spool: BufWriter::new(file),
            count: 0,
        })
    }

    pub fn add(&mut self, record: &FileRecord) -> Result<()> {
        serde_json::to_writer(&mut self.spool, record)
            .map_err(|e| Error::io(&self.spool_path, e.into()))?;
        self.spool.write_all(b"\n").at(&self.spool_path)?;
        self.count += 1;
        Ok(())
    }

    /// Writes `head` plus the spooled files to `out` and removes the spool.
    pub fn finish(self, head: &ManifestHead, out: &Path) -> Result<()> {
        let ManifestWriter {
            spool_path, spool, ..
        } = self;
        spool
            .into_inner()
            .map_err(|e| Error::io(&spool_path, e.into_error()))?;
        let head_text = serde_json::to_string_pretty(head)
            .map_err(|e| Error::format(out, 0, format!("cannot encode manifest: {e}")))?;
        let head_open = head_text.trim_end().strip_suffix('}').unwrap_or(&head_text);
        let mut w = BufWriter::new(File::create_new(out).at(out)?);
        w.write_all(head_open.trim_end().as_bytes()).at(out)?;
        w.write_all(b",\n  \"files\": [").at(out)?;
        let spool_in = BufReader::new(File::open(&spool_path).at(&spool_path)?);
        let mut first = true;
        for line in spool_in.lines() {
            let line = line.at(&spool_path)?;
            w.write_all(if first { b"\n    " } else { b",\n    " })
                .at(out)?;
            w.write_all(line.as_bytes()).at(out)?;
            first = false;
        }
        w.write_all(b"\n  ]\n}\n").at(out)?;
        w.into_inner().map_err(|e| Error::io(out, e.into_error()))?;
        std::fs::remove_file(&spool_path).at(&spool_path)?;
        Ok(())
    }
}

/// Reads MANIFEST.json, handing each file record to `on_file` as it is parsed.
pub fn read(
    path: &Path,
    on_file: &mut dyn FnMut(FileRecord) -> Result<()>,
) -> Result<ManifestHead> {
    let file = File::open(path).at(path)?;
    let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, file));
    let mut failure = None;
    let visitor = TopVisitor {
        on_file,
        failure: &mut failure,
    };
    let result = de::Deserializer::deserialize_map(&mut de, visitor);
    if let Some(err) = failure {
        return Err(err);
    }
    let head = result.map_err(|e| Error::format(path, e.line() as u64, e.to_string()))?;
    let known = match head.format {
        FORMAT => head.secrets.is_none(),
        FORMAT_ENCRYPTED => head.secrets.is_some(),
        _ => false,
    };
    if !known {
        return Err(Error::format(
            path,
            0,
            format!(
                "manifest format {} is not supported (this xcatport reads {FORMAT}, and {FORMAT_ENCRYPTED} with an encrypted secret stream)",
                head.format
            ),
        ));
    }
    Ok(head)
}

/// Reads only the head, skipping the file list.
pub fn read_head(path: &Path) -> Result<ManifestHead> {
    read(path, &mut |_| Ok(()))
}

struct TopVisitor<'a> {
    on_file: &'a mut dyn FnMut(FileRecord) -> Result<()>,
    failure: &'a mut Option<Error>,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = ManifestHead;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a manifest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ManifestHead, A::Error> {
        let mut head = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "files" {
                map.next_value_seed(FilesSeed {
                    on_file: &mut *self.on_file,
                    failure: &mut *self.failure,
                })?;
            } else {
                let value: serde_json::Value = map.next_value()?;
                head.insert(key, value);
            }
        }
        ManifestHead::deserialize(serde_json::Value::Object(head)).map_err(de::Error::custom)
    }
}

struct FilesSeed<'a> {
    on_file: &'a mut dyn FnMut(FileRecord) -> Result<()>,
    failure: &'a mut Option<Error>,
}

impl<'de> DeserializeSeed<'de> for FilesSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FilesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of file records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<FileRecord>()? {
            if let Err(e) = (self.on_file)(record) {
                *self.failure = Some(e);
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

/// Seconds since the epoch as RFC 3339 UTC (no time-zone database needed).
pub fn rfc3339_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formats_as_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn packages_records_of_older_snapshots_read_without_installed() {
        let old: PackagesRecord =
            serde_json::from_str(r#"{"collected":true,"note":"4 packages"}"#).unwrap();
        assert!(old.collected && old.installed.is_empty());
        let new: PackagesRecord = serde_json::from_str(
            r#"{"collected":true,"note":"","installed":[{"name":"xCAT-openbmc-py","version":"4:2.16.5-1","arch":"noarch"}]}"#,
        )
        .unwrap();
        assert_eq!(new.installed[0].name, "xCAT-openbmc-py");
        assert_eq!(new.installed[0].version, "4:2.16.5-1");
    }

    #[test]
    fn non_utf8_names_round_trip_through_path_hex() {
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"install/caf\xe9");
        let rec = FileRecord {
            path: raw.to_string_lossy().into_owned(),
            path_hex: Some(hex::encode(raw.as_bytes())),
            kind: Kind::File,
            section: Section::Trees,
            size: 0,
            sha256: None,
            mode: "0644".into(),
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime: 0,
            link: None,
        };
        let text = serde_json::to_string(&rec).unwrap();
        let back: FileRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back.rel_path().as_os_str(), raw);
    }
}
