//! One streaming pass that writes a snapshot into a (staging) directory:
//! `xcatimport`, `xcat-rpms.tar`, `xcat-data.tar.*` (DB dump first, then the
//! plan's entries), `MANIFEST.json`, `README.txt`, and `SHA256SUMS` last.

use super::background::BackgroundWriter;
use super::compress::Codec;
use super::db::{check_table_name, DbDumpSource};
use super::hash::{file_sha256, HashingWriter};
use super::manifest::{
    self, DataRecord, ManifestHead, ManifestWriter, PackagesRecord, SourceFacts, TableRecord,
};
use super::tarball::{SourceError, TarWriter};
use super::volume::{FailedPath, Split, VolumeWriter};
use super::{sums, DATA_BASE, DB_DIR_IN_TAR, IMPORT_BINARY, MANIFEST, README, RPMS};
use crate::error::IoContext;
use crate::mn::accounts::Accounts;
use crate::plan::{Plan, Section};
use crate::progress::Progress;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::{self, Seek};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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
    let mut listed = Vec::new();
    listed.push((
        IMPORT_BINARY.to_string(),
        copy_binary(import_binary, &dir.join(IMPORT_BINARY))?,
    ));

    let (rpm_volumes, mut packages) = write_rpms(dir, &opts.repos, opts.split)?;
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
    let (data, database) = write_data(dir, plan, db, opts, &mut mw, progress)?;
    progress.finish();
    listed.extend(
        data.volumes
            .iter()
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
    let head = ManifestHead {
        format: manifest::FORMAT,
        xcatport: crate::version::LONG.to_string(),
        created: manifest::rfc3339_utc(now),
        source: opts.source.clone(),
        profile: plan.rules.profile.clone(),
        variables,
        plan: summary,
        data,
        database,
        packages,
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
    })
}

fn copy_binary(from: &Path, to: &Path) -> Result<String> {
    let mut src = std::fs::File::open(from).at(from)?;
    let dst = std::fs::File::create_new(to).at(to)?;
    let mut w = HashingWriter::new(io::BufWriter::new(dst));
    io::copy(&mut src, &mut w).map_err(|e| classify(e, None, to))?;
    let (buf, sha, _) = w.finish();
    let file = buf
        .into_inner()
        .map_err(|e| Error::io(to, e.into_error()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
        .at(to)?;
    Ok(sha)
}

/// Writes `xcat-rpms.tar`: the package repos the MN's xCAT came from (found
/// and checked against the installed versions by [`crate::repo::find`]).
fn write_rpms(
    dir: &Path,
    repos: &[crate::repo::Repo],
    split: Split,
) -> Result<(Vec<manifest::VolumeRecord>, PackagesRecord)> {
    let mut vw = VolumeWriter::new(dir, RPMS, split);
    crate::repo::pack(repos, &mut vw)?;
    let volumes = vw.finish()?;
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
    Ok((volumes, packages))
}

fn write_data(
    dir: &Path,
    plan: &Plan,
    db: &mut dyn DbDumpSource,
    opts: &WriteOptions,
    mw: &mut ManifestWriter,
    progress: &dyn Progress,
) -> Result<(DataRecord, Vec<TableRecord>)> {
    let name = format!("{DATA_BASE}{}", opts.codec.suffix());
    let vw = VolumeWriter::new(dir, &name, opts.split);
    let failed = vw.failed_path();
    let stream_path = dir.join(&name);
    let out = BackgroundWriter::spawn(vw).map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let enc = opts
        .codec
        .encoder(out)
        .map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let names = Accounts::load(&plan.root)?;
    // Two hand-overs keep the reading-and-hashing thread free of the
    // compressor's input copies and of the volumes' hashing and writes.
    let feed =
        BackgroundWriter::spawn(enc).map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let mut tar = TarWriter::new(feed, names);

    let tables = db.tables()?;
    let mut database = Vec::new();
    if !tables.is_empty() {
        for d in [".xcatport/", ".xcatport/db/"] {
            tar.append_generated(d, 0o700, 0, io::empty())
                .map_err(|e| classify(e, Some(&failed), &stream_path))?;
        }
    }
    for table in tables {
        check_table_name(&table)?;
        let spool_path = dir.join(format!(".db-{table}.tmp"));
        let spool = tempfile::tempfile_in(dir).at(&spool_path)?;
        let mut w = HashingWriter::new(io::BufWriter::new(spool));
        db.dump_table(&table, &mut w)?;
        let (buf, sha256, size) = w.finish();
        let mut spool = buf
            .into_inner()
            .map_err(|e| Error::io(&spool_path, e.into_error()))?;
        spool.rewind().at(&spool_path)?;
        let member = format!("{DB_DIR_IN_TAR}/{table}.csv");
        tar.append_generated(&member, 0o600, size, io::BufReader::new(spool))
            .map_err(|e| classify(e, Some(&failed), &stream_path))?;
        database.push(TableRecord {
            table,
            member,
            size,
            sha256,
        });
    }

    for entry in plan.entries() {
        let entry = entry?;
        let record = tar
            .append_entry(&entry)
            .map_err(|e| classify(e, Some(&failed), &stream_path))?;
        if entry.meta.is_file() {
            progress.inc(entry.meta.len());
        }
        mw.add(&record)?;
    }
    let (entries, bytes_in) = (tar.entries, tar.bytes_in);
    let enc = tar
        .finish()
        .and_then(BackgroundWriter::finish)
        .map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let vw = enc
        .finish()
        .and_then(BackgroundWriter::finish)
        .map_err(|e| classify(e, Some(&failed), &stream_path))?;
    let volumes = vw.finish()?;
    let bytes_out = volumes.iter().map(|v| v.size).sum();
    Ok((
        DataRecord {
            name,
            compression: opts.codec,
            volumes,
            entries,
            bytes_in,
            bytes_out,
        },
        database,
    ))
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
    format!(
        "To restore this xCAT management node ({host}, {distro} {version} {arch}) on a fresh {distro} {version} {arch}: mount this stick and run ./xcatimport from it (./xcatimport --dry-run first shows what it will do).\n\
         Check the stick with: sha256sum -c SHA256SUMS    Without xcatimport, list or unpack the data with: cat {data}* | {decompress}tar -tv   (tar -x -C / to unpack; the database is .xcatport/db/*.csv, load it with tabrestore).\n\
         MANIFEST.json records the source MN, the plan and every file's size and SHA-256; SHA256SUMS is written last: a stick without it is an interrupted export.\n",
        host = head.source.hostname,
        distro = head.source.distro_id,
        version = head.source.distro_version,
        arch = head.source.arch,
        data = head.data.name,
    )
}
