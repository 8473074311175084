//! One streaming pass that writes a snapshot into a (staging) directory:
//! `xcatimport`, `xcat-rpms.tar`, `xcat-data.tar.*` (DB dump first, then the
//! plan's entries), `MANIFEST.json`, `README.txt`, and `SHA256SUMS` last.
//!
//! With `--encrypt` a second stream is written in the same pass,
//! `xcat-secrets.tar.zst.age`: the DB dump and every non-directory entry the
//! plan marks secret (plus any other name of a hardlinked secret file, so
//! that its content never reaches the plain stream). Directories stay in the
//! data stream: the restore extracts the secret stream first and the data
//! stream's directory metadata is applied last.

use super::compress::{Codec, Encoder};
use super::crypt::Lock;
use super::db::{check_table_name, DbDumpSource};
use super::hash::{file_sha256, HashingWriter};
use super::manifest::{
    self, DataRecord, ManifestHead, ManifestWriter, PackagesRecord, SecretsRecord, SourceFacts,
    TableRecord,
};
use super::readback::ReadBack;
use super::tarball::{SourceError, TarWriter};
use super::volume::{FailedPath, Split, VolumeWriter};
use super::{sums, DATA_BASE, DB_DIR_IN_TAR, IMPORT_BINARY, MANIFEST, README, RPMS, SECRETS};
use crate::cli::Compression;
use crate::error::IoContext;
use crate::mn::accounts::Accounts;
use crate::plan::{Plan, Section};
use crate::progress::Progress;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How to write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub codec: Codec,
    pub split: Split,
    pub source: SourceFacts,
    /// The package repos to put into xcat-rpms.tar.
    pub repos: Vec<crate::repo::Repo>,
    /// The source's installed packages to record (see [`crate::repo::Found`]).
    pub installed: Vec<crate::mn::packages::InstalledPackage>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub head: ManifestHead,
    /// `(file name, sha256)` in SHA256SUMS order.
    pub files: Vec<(String, String)>,
    /// SHA-256 of the secret stream's plaintext tar (only with `--encrypt`):
    /// kept out of the stick, for verifying the written stream by decrypting it.
    pub secrets_plain_sha256: Option<String>,
    /// What was written into the large files, for the verifying re-read.
    pub readback: ReadBack,
}

/// Writes a complete snapshot into `dir` (which must be empty).
pub fn write_snapshot(
    dir: &Path,
    plan: &Plan,
    db: &mut dyn DbDumpSource,
    import_binary: &Path,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<WriteReport> {
    write_any(dir, plan, db, import_binary, opts, None, progress)
}

/// Writes a complete snapshot whose secret files and DB dump are encrypted
/// with `lock` into `xcat-secrets.tar.zst.age`.
pub fn write_encrypted_snapshot(
    dir: &Path,
    plan: &Plan,
    db: &mut dyn DbDumpSource,
    import_binary: &Path,
    opts: &WriteOptions,
    lock: &Lock,
    progress: &dyn Progress,
) -> Result<WriteReport> {
    write_any(dir, plan, db, import_binary, opts, Some(lock), progress)
}

fn write_any(
    dir: &Path,
    plan: &Plan,
    db: &mut dyn DbDumpSource,
    import_binary: &Path,
    opts: &WriteOptions,
    lock: Option<&Lock>,
    progress: &dyn Progress,
) -> Result<WriteReport> {
    let mut listed = Vec::new();
    let mut readback = ReadBack::default();
    let (sha, check) = copy_binary(import_binary, &dir.join(IMPORT_BINARY))?;
    listed.push((IMPORT_BINARY.to_string(), sha));
    readback.insert(IMPORT_BINARY, check);

    let (rpm_volumes, rpm_readback, mut packages) = write_rpms(dir, &opts.repos, opts.split)?;
    readback.extend(rpm_readback);
    packages.installed = opts.installed.clone();
    listed.extend(
        rpm_volumes
            .iter()
            .map(|v| (v.name.clone(), v.sha256.clone())),
    );

    let mut summary = plan.summary.clone();
    let (_, _, planned_bytes) = summary.totals();
    progress.set_length(planned_bytes);
    progress.set_message("writing");
    let mut mw = ManifestWriter::create(&dir.join(".manifest-files.tmp"))?;
    let written = write_data(dir, plan, db, opts, lock, &mut mw, progress)?;
    let (data, database, secrets) = (written.data, written.database, written.secrets);
    readback.extend(written.readback);
    progress.finish();
    listed.extend(
        data.volumes
            .iter()
            .chain(secrets.iter().flat_map(|(s, _)| &s.volumes))
            .map(|v| (v.name.clone(), v.sha256.clone())),
    );
    let db_stats = summary.section_mut(Section::Database);
    db_stats.files = database.len() as u64;
    db_stats.bytes = database.iter().map(|t| t.size).sum();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut variables = BTreeMap::new();
    variables.insert("INSTALLDIR".to_string(), plan.rules.vars.installdir.clone());
    variables.insert("TFTPDIR".to_string(), plan.rules.vars.tftpdir.clone());
    let (secrets, secrets_plain_sha256) = match secrets {
        Some((record, sha)) => (Some(record), Some(sha)),
        None => (None, None),
    };
    let head = ManifestHead {
        format: if secrets.is_some() {
            manifest::FORMAT_ENCRYPTED
        } else {
            manifest::FORMAT
        },
        xcatport: crate::version::LONG.to_string(),
        created: manifest::rfc3339_utc(now),
        source: opts.source.clone(),
        profile: plan.rules.profile.clone(),
        variables,
        plan: summary,
        data,
        database,
        packages,
        secrets,
    };
    let manifest_path = dir.join(MANIFEST);
    mw.finish(&head, &manifest_path)?;
    listed.push((MANIFEST.to_string(), file_sha256(&manifest_path)?.0));

    let readme_path = dir.join(README);
    std::fs::write(&readme_path, readme(&head)).at(&readme_path)?;
    listed.push((README.to_string(), file_sha256(&readme_path)?.0));

    sums::write(&dir.join(super::SUMS), &listed)?;
    Ok(WriteReport {
        head,
        files: listed,
        secrets_plain_sha256,
        readback,
    })
}

fn copy_binary(from: &Path, to: &Path) -> Result<(String, super::hash::WrittenCheck)> {
    let mut src = std::fs::File::open(from).at(from)?;
    let dst = std::fs::File::create_new(to).at(to)?;
    let mut w = HashingWriter::with_check(io::BufWriter::new(dst));
    io::copy(&mut src, &mut w).map_err(|e| classify(e, None, to))?;
    let (buf, sha, check) = w.finish_checked();
    let file = buf
        .into_inner()
        .map_err(|e| Error::io(to, e.into_error()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
        .at(to)?;
    Ok((sha, check))
}

/// Writes `xcat-rpms.tar`: the package repos the MN's xCAT came from (found
/// and checked against the installed versions by [`crate::repo::find`]).
fn write_rpms(
    dir: &Path,
    repos: &[crate::repo::Repo],
    split: Split,
) -> Result<(Vec<manifest::VolumeRecord>, ReadBack, PackagesRecord)> {
    let mut vw = VolumeWriter::new(dir, RPMS, split);
    crate::repo::pack(repos, &mut vw)?;
    let (volumes, readback) = vw.finish()?;
    let packages = if repos.is_empty() {
        PackagesRecord {
            collected: false,
            note: "no xCAT package repos found on the MN: configure the xCAT repos on the new MN, or restore with --skip-packages".into(),
            installed: Vec::new(),
        }
    } else {
        let count: usize = repos.iter().map(|r| r.packages.len()).sum();
        PackagesRecord {
            collected: true,
            note: format!(
                "{count} packages in repos {}",
                repos
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.found_in))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            installed: Vec::new(),
        }
    };
    Ok((volumes, readback, packages))
}

/// What [`write_data`] wrote.
struct Written {
    data: DataRecord,
    database: Vec<TableRecord>,
    /// The secret stream and the SHA-256 of its plaintext tar.
    secrets: Option<(SecretsRecord, String)>,
    readback: ReadBack,
}

/// The secret stream being written: tar → (hash) → zstd → age → volumes.
type SecretTar = TarWriter<HashingWriter<Encoder<age::stream::StreamWriter<VolumeWriter>>>>;

struct SecretStream {
    tar: SecretTar,
    failed: FailedPath,
    path: PathBuf,
    lock: Lock,
    /// (dev, ino) of secret files with several names: their other names go
    /// into this stream too.
    linked: HashSet<(u64, u64)>,
}

impl SecretStream {
    fn open(dir: &Path, lock: &Lock, split: Split, plan: &Plan, names: Accounts) -> Result<Self> {
        let vw = VolumeWriter::new(dir, SECRETS, split);
        let failed = vw.failed_path();
        let path = dir.join(SECRETS);
        let wrap = |e| classify(e, Some(&failed), &path);
        let sealed = lock.wrap(vw).map_err(wrap)?;
        let enc = Codec::new(Compression::Zstd, None)?
            .encoder(sealed)
            .map_err(wrap)?;
        let tar = TarWriter::new(HashingWriter::new(enc), names);
        // A pass over the plan's metadata (only with --encrypt): a file
        // hardlinked from a secret and a plain path must not reach the plain
        // stream under its plain name, whichever name the walk meets first.
        let mut linked = HashSet::new();
        for entry in plan.entries() {
            let entry = entry?;
            if entry.section == Section::Secrets && entry.meta.is_file() && entry.meta.nlink() > 1 {
                linked.insert((entry.meta.dev(), entry.meta.ino()));
            }
        }
        Ok(SecretStream {
            tar,
            failed,
            path,
            lock: lock.clone(),
            linked,
        })
    }

    fn takes(&self, entry: &crate::plan::Entry) -> bool {
        let m = &entry.meta;
        !m.is_dir()
            && (entry.section == Section::Secrets
                || (m.is_file() && m.nlink() > 1 && self.linked.contains(&(m.dev(), m.ino()))))
    }

    fn err(&self, e: io::Error) -> Error {
        classify(e, Some(&self.failed), &self.path)
    }

    fn finish(self) -> Result<(SecretsRecord, String, ReadBack)> {
        let (entries, bytes_in) = (self.tar.entries, self.tar.bytes_in);
        let failed = self.failed.clone();
        let path = self.path.clone();
        let err = |e| classify(e, Some(&failed), &path);
        let hashing = self.tar.finish().map_err(err)?;
        let (mut enc, plain_sha, _) = hashing.finish();
        enc.flush().map_err(err)?;
        let sealed = enc.finish().map_err(err)?;
        let vw = sealed.finish().map_err(err)?;
        let (volumes, readback) = vw.finish()?;
        let bytes_out = volumes.iter().map(|v| v.size).sum();
        Ok((
            SecretsRecord {
                name: SECRETS.to_string(),
                encryption: "age".to_string(),
                key: self.lock.kind(),
                recipients: self.lock.recipients(),
                volumes,
                entries,
                bytes_in,
                bytes_out,
            },
            plain_sha,
            readback,
        ))
    }
}

fn write_data(
    dir: &Path,
    plan: &Plan,
    db: &mut dyn DbDumpSource,
    opts: &WriteOptions,
    lock: Option<&Lock>,
    mw: &mut ManifestWriter,
    progress: &dyn Progress,
) -> Result<Written> {
    let name = format!("{DATA_BASE}{}", opts.codec.suffix());
    let vw = VolumeWriter::new(dir, &name, opts.split);
    let failed = vw.failed_path();
    let stream_path = dir.join(&name);
    let feed = opts
        .codec
        .pipeline(vw)
        .map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let names = Accounts::load(&plan.root)?;
    let mut secret = match lock {
        Some(lock) => Some(SecretStream::open(
            dir,
            lock,
            opts.split,
            plan,
            names.clone(),
        )?),
        None => None,
    };
    let mut tar = TarWriter::new(feed, names);

    let database = match secret.as_mut() {
        Some(s) => {
            let (tar, failed, path) = (&mut s.tar, &s.failed, &s.path);
            // The plaintext dump is spooled off the stick: flash keeps
            // deleted blocks, and this is what the encryption protects.
            let spool_dir = std::env::temp_dir();
            let mut tables = write_dump(&spool_dir, db, tar, &|e| classify(e, Some(failed), path))?;
            // Kept out of the readable manifest (see SecretsRecord).
            tables.iter_mut().for_each(|t| t.sha256.clear());
            tables
        }
        None => write_dump(dir, db, &mut tar, &|e| {
            classify(e, Some(&failed), &stream_path)
        })?,
    };

    for entry in plan.entries() {
        let entry = entry?;
        let record = match secret.as_mut().filter(|s| s.takes(&entry)) {
            Some(s) => {
                let mut record = s.tar.append_entry(&entry).map_err(|e| s.err(e))?;
                record.sha256 = None; // see SecretsRecord
                record
            }
            None => tar
                .append_entry(&entry)
                .map_err(|e| classify(e, Some(&failed), &stream_path))?,
        };
        if entry.meta.is_file() {
            progress.inc(entry.meta.len());
        }
        mw.add(&record)?;
    }
    let (entries, bytes_in) = (tar.entries, tar.bytes_in);
    let vw = tar
        .finish()
        .and_then(|feed| feed.finish())
        .map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let (volumes, mut readback) = vw.finish()?;
    let bytes_out = volumes.iter().map(|v| v.size).sum();
    let secrets = match secret.map(SecretStream::finish).transpose()? {
        Some((record, plain_sha, secret_readback)) => {
            readback.extend(secret_readback);
            Some((record, plain_sha))
        }
        None => None,
    };
    Ok(Written {
        data: DataRecord {
            name,
            compression: opts.codec,
            volumes,
            entries,
            bytes_in,
            bytes_out,
        },
        database,
        secrets,
        readback,
    })
}

/// Writes the DB dump as the first members of `tar`: each table spooled to
/// an unnamed (O_TMPFILE, owner-only) temp file in `spool_dir`, as its size
/// must precede it in the tar.
fn write_dump<W: Write>(
    spool_dir: &Path,
    db: &mut dyn DbDumpSource,
    tar: &mut TarWriter<W>,
    err: &dyn Fn(io::Error) -> Error,
) -> Result<Vec<TableRecord>> {
    let tables = db.tables()?;
    let mut database = Vec::new();
    if !tables.is_empty() {
        for d in [".xcatport/", ".xcatport/db/"] {
            tar.append_generated(d, 0o700, 0, io::empty())
                .map_err(err)?;
        }
    }
    for table in tables {
        check_table_name(&table)?;
        let spool_path = spool_dir.join(format!(".db-{table}.tmp"));
        let spool = tempfile::tempfile_in(spool_dir).at(&spool_path)?;
        let mut w = HashingWriter::new(io::BufWriter::new(spool));
        db.dump_table(&table, &mut w)?;
        let (buf, sha256, size) = w.finish();
        let mut spool = buf
            .into_inner()
            .map_err(|e| Error::io(&spool_path, e.into_error()))?;
        spool.rewind().at(&spool_path)?;
        let member = format!("{DB_DIR_IN_TAR}/{table}.csv");
        tar.append_generated(&member, 0o600, size, io::BufReader::new(spool))
            .map_err(err)?;
        database.push(TableRecord {
            table,
            member,
            size,
            sha256,
        });
    }
    Ok(database)
}

/// Names the file an I/O error belongs to: a source file, the volume being
/// written, or else `fallback`.
fn classify(e: io::Error, failed: Option<&FailedPath>, fallback: &Path) -> Error {
    if let Some(src) = e.get_ref().and_then(|r| r.downcast_ref::<SourceError>()) {
        return Error::io(
            &src.path,
            io::Error::new(src.error.kind(), src.error.to_string()),
        );
    }
    let volume = failed.and_then(|f| f.lock().ok().and_then(|p| p.clone()));
    let hint = if e.raw_os_error() == Some(libc::ENOSPC) {
        " (the target is full; nothing valid was left on it)"
    } else {
        ""
    };
    let path = volume.unwrap_or_else(|| fallback.to_path_buf());
    Error::io(path, io::Error::new(e.kind(), format!("{e}{hint}")))
}

fn readme(head: &ManifestHead) -> String {
    let decompress = match head.data.compression.kind {
        crate::cli::Compression::Zstd => "zstd -dc | ",
        crate::cli::Compression::Xz => "xz -dc | ",
        crate::cli::Compression::None => "",
    };
    let unpack = if head.secrets.is_some() {
        "(tar -x -C / to unpack; the secret files and the database are not in it, see below)"
    } else {
        "(tar -x -C / to unpack; the database is .xcatport/db/*.csv, load it with tabrestore)"
    };
    let mut text = format!(
        "To restore this xCAT management node ({host}, {distro} {version} {arch}) on a fresh {distro} {version} {arch}: mount this stick and run ./xcatimport from it (./xcatimport --dry-run first shows what it will do).\n\
         Check the stick with: sha256sum -c SHA256SUMS    Without xcatimport, list or unpack the data with: cat {data}* | {decompress}tar -tv   {unpack}.\n\
         MANIFEST.json records the source MN, the plan and every file's size and SHA-256; SHA256SUMS is written last: a stick without it is an interrupted export.\n",
        host = head.source.hostname,
        distro = head.source.distro_id,
        version = head.source.distro_version,
        arch = head.source.arch,
        data = head.data.name,
    );
    if let Some(sec) = &head.secrets {
        let (flag, age_flag) = match sec.key {
            super::crypt::KeyKind::Passphrase => {
                ("--passphrase-file FILE (or type it when asked)", "")
            }
            super::crypt::KeyKind::X25519 => ("--identity KEYFILE", "-i KEYFILE "),
        };
        text.push_str(&format!(
            "ENCRYPTED: the secret files (keys, certificates, cfgloc) and the database dump are only in {name}, encrypted with age to a {kind}; ./xcatimport needs {flag}.\n\
             With standard tools: cat {name}* | age -d {age_flag}| zstd -dc | tar -tv   (the database is .xcatport/db/*.csv in it).\n",
            name = sec.name,
            kind = match sec.key {
                super::crypt::KeyKind::Passphrase => "passphrase",
                super::crypt::KeyKind::X25519 => "recipient public key",
            },
        ));
    }
    text
}
