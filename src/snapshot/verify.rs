//! Checking a snapshot directory: every file in SHA256SUMS present, of the
//! size MANIFEST.json records, with the recorded hash; nothing extra. This is
//! the only way to obtain a [`Verified`] snapshot.
//!
//! The export's own re-read ([`verify_written`]) makes the same checks but
//! compares the content of the files it wrote with what it wrote (see
//! [`super::readback`]) instead of computing their SHA-256 again.

use super::hash::{file_sha256, segment_check, WrittenCheck, CHECK_SEGMENT};
use super::manifest::{self, ManifestHead, VolumeRecord};
use super::readback::ReadBack;
use super::{sums, FURNITURE, MANIFEST, RPMS, SECRETS, SUMS};
use crate::error::IoContext;
use crate::progress::Progress;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A snapshot whose files all matched their checksums.
#[derive(Debug, Clone)]
pub struct Verified {
    pub dir: PathBuf,
    pub head: ManifestHead,
    /// Data stream volumes in order.
    pub data_volumes: Vec<PathBuf>,
    /// Package tar volumes in order (may be empty for snapshots without one).
    pub rpms_volumes: Vec<PathBuf>,
    /// Encrypted secret stream volumes in order (empty unless `--encrypt`).
    pub secrets_volumes: Vec<PathBuf>,
}

fn refuse(path: &Path, what: &str) -> Error {
    Error::Refused(format!("{}: {what}", path.display()))
}

/// Verifies the snapshot in `dir`; the error names the first bad file.
pub fn verify(dir: &Path) -> Result<Verified> {
    verify_reporting(dir, &crate::progress::Hidden)
}

/// [`verify`], counting the bytes read on `progress`: a stick of tens of
/// gigabytes takes minutes to read.
pub fn verify_reporting(dir: &Path, progress: &dyn Progress) -> Result<Verified> {
    verify_written(dir, &ReadBack::default(), progress)
}

/// Verifies the snapshot an export just wrote into `dir`: the files in
/// `written` are compared with what was written into them, the others with
/// their SHA-256.
pub fn verify_written(dir: &Path, written: &ReadBack, progress: &dyn Progress) -> Result<Verified> {
    let sums_path = dir.join(SUMS);
    if !sums_path.exists() {
        return Err(refuse(
            dir,
            "not a complete snapshot: SHA256SUMS is missing (an interrupted export leaves none)",
        ));
    }
    let listed = sums::read(&sums_path)?;
    let expected: HashMap<&str, &str> = listed
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    if !expected.contains_key(MANIFEST) {
        return Err(refuse(&sums_path, "does not list MANIFEST.json"));
    }
    for (name, _) in &listed {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(refuse(&path, "missing (listed in SHA256SUMS)"));
        }
    }
    let known: HashSet<&str> = expected.keys().copied().collect();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == SUMS || FURNITURE.contains(&name.as_ref()) || known.contains(name.as_ref()) {
            continue;
        }
        return Err(refuse(
            &entry.path(),
            "not part of this snapshot (not listed in SHA256SUMS): a stray file or a volume from another export",
        ));
    }
    let manifest_path = dir.join(MANIFEST);
    check_hash(&manifest_path, expected[MANIFEST])?;
    let head = manifest::read_head(&manifest_path)?;
    let data = &head.data;
    check_sequence(&manifest_path, &data.name, &data.volumes)?;
    let mut rpm_names: Vec<&String> = listed
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with(RPMS))
        .collect();
    rpm_names.sort();
    let secrets = head.secrets.as_ref();
    if let Some(sec) = secrets {
        if sec.name != SECRETS {
            return Err(refuse(
                &manifest_path,
                &format!("names its secret stream {:?}, not {SECRETS}", sec.name),
            ));
        }
        check_sequence(&manifest_path, &sec.name, &sec.volumes)?;
    }
    let streams = std::iter::once(&data.volumes).chain(secrets.map(|s| &s.volumes));
    for v in streams.flatten() {
        check_volume(dir, v, &expected)?;
    }
    let to_hash: Vec<(PathBuf, Expected)> = listed
        .iter()
        .filter(|(name, _)| name != MANIFEST)
        .map(|(name, sha)| {
            let expected = match written.get(name) {
                Some(check) => Expected::Written(check),
                None => Expected::Sha256(sha.as_str()),
            };
            (dir.join(name), expected)
        })
        .collect();
    check_hashes(&to_hash, progress)?;
    Ok(Verified {
        dir: dir.to_path_buf(),
        data_volumes: data.volumes.iter().map(|v| dir.join(&v.name)).collect(),
        rpms_volumes: rpm_names.into_iter().map(|n| dir.join(n)).collect(),
        secrets_volumes: secrets
            .map(|s| s.volumes.iter().map(|v| dir.join(&v.name)).collect())
            .unwrap_or_default(),
        head,
    })
}

/// A volume MANIFEST.json lists: in SHA256SUMS with the same hash, of the recorded size.
fn check_volume(dir: &Path, v: &VolumeRecord, expected: &HashMap<&str, &str>) -> Result<()> {
    let path = dir.join(&v.name);
    match expected.get(v.name.as_str()) {
        None => {
            return Err(refuse(
                &path,
                "listed in MANIFEST.json but not in SHA256SUMS",
            ))
        }
        Some(sha) if *sha != v.sha256 => {
            return Err(refuse(
                &path,
                "SHA256SUMS and MANIFEST.json disagree on its checksum",
            ))
        }
        Some(_) => {}
    }
    let size = std::fs::metadata(&path).at(&path)?.len();
    if size != v.size {
        let how = if size < v.size {
            "truncated"
        } else {
            "longer than recorded"
        };
        return Err(refuse(
            &path,
            &format!("{how}: {size} bytes, MANIFEST.json records {}", v.size),
        ));
    }
    Ok(())
}

/// What a file's content must hash to.
#[derive(Clone)]
enum Expected<'a> {
    /// Its line in SHA256SUMS.
    Sha256(&'a str),
    /// What this process wrote into it.
    Written(&'a WrittenCheck),
}

/// One piece of the re-read, small enough to share out.
enum Task<'a> {
    /// A whole file against its line in SHA256SUMS.
    Sha256(&'a Path, &'a str),
    /// A written file's size.
    Size(&'a Path, u64),
    /// One segment of a written file (see [`WrittenCheck`]).
    Segment(&'a Path, u64, u64, u128),
}

fn tasks<'a>(files: &'a [(PathBuf, Expected<'a>)]) -> Vec<Task<'a>> {
    let mut tasks = Vec::new();
    for (path, expected) in files {
        match expected {
            Expected::Sha256(sha) => tasks.push(Task::Sha256(path, sha)),
            Expected::Written(check) => {
                tasks.push(Task::Size(path, check.size));
                let mut offset = 0;
                for &xxh3 in &check.segments {
                    let len = CHECK_SEGMENT.min(check.size.saturating_sub(offset));
                    tasks.push(Task::Segment(path, offset, len, xxh3));
                    offset += len;
                }
            }
        }
    }
    tasks
}

/// Reads the files back on all cores, a large volume in segments so that
/// it is not left to one core; the error names the first bad file in
/// SHA256SUMS order, as a sequential check would.
fn check_hashes(files: &[(PathBuf, Expected)], progress: &dyn Progress) -> Result<()> {
    let tasks = tasks(files);
    progress.set_length(tasks.iter().map(Task::bytes).sum());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tasks.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<()>>>> = tasks.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(task) = tasks.get(i) else {
                    break;
                };
                let outcome = match *task {
                    Task::Sha256(path, sha) => check_hash(path, sha),
                    Task::Size(path, size) => check_size(path, size),
                    Task::Segment(path, offset, len, xxh3) => {
                        check_segment(path, offset, len, xxh3)
                    }
                };
                progress.inc(task.bytes());
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(outcome);
                }
            });
        }
    });
    progress.finish();
    for (result, task) in results.into_iter().zip(&tasks) {
        match result.into_inner() {
            Ok(Some(outcome)) => outcome?,
            _ => {
                return Err(refuse(
                    task.path(),
                    "was not checked (a hashing thread failed)",
                ))
            }
        }
    }
    Ok(())
}

impl Task<'_> {
    fn path(&self) -> &Path {
        match *self {
            Task::Sha256(p, _) | Task::Size(p, _) | Task::Segment(p, ..) => p,
        }
    }

    /// Bytes the task reads, for progress (a whole file's size is looked
    /// up; a missing file counts nothing and fails in its check).
    fn bytes(&self) -> u64 {
        match *self {
            Task::Sha256(p, _) => std::fs::metadata(p).map_or(0, |m| m.len()),
            Task::Size(..) => 0,
            Task::Segment(_, _, len, _) => len,
        }
    }
}

fn check_hash(path: &Path, expected: &str) -> Result<()> {
    let (actual, _) = file_sha256(path)?;
    if actual != expected {
        return Err(refuse(
            path,
            "checksum mismatch against SHA256SUMS: corrupted, truncated or swapped",
        ));
    }
    Ok(())
}

fn check_size(path: &Path, written: u64) -> Result<()> {
    let size = std::fs::metadata(path).at(path)?.len();
    if size != written {
        return Err(refuse(
            path,
            &format!(
                "reads back {size} bytes, {written} were written: the target lost or changed data"
            ),
        ));
    }
    Ok(())
}

fn check_segment(path: &Path, offset: u64, len: u64, written: u128) -> Result<()> {
    let file = std::fs::File::open(path).at(path)?;
    let read = match segment_check(&file, offset, len) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(refuse(path, "ended early on re-read: the target lost data"))
        }
        other => other.at(path)?,
    };
    if read != written {
        return Err(refuse(
            path,
            &format!(
                "reads back different from what was written (bytes {offset}..{}): the target lost or changed data (failing media, or something else writing to it)",
                offset + len
            ),
        ));
    }
    Ok(())
}

/// Volumes must be `NAME` alone or `NAME.000`, `NAME.001` … in order.
fn check_sequence(manifest: &Path, base: &str, volumes: &[VolumeRecord]) -> Result<()> {
    let ok = match volumes {
        [] => false,
        [one] if one.name == base => true,
        many => many
            .iter()
            .enumerate()
            .all(|(i, v)| v.name == format!("{base}.{i:03}")),
    };
    if ok {
        Ok(())
    } else {
        Err(refuse(
            manifest,
            &format!("volumes of {base} are not NAME or NAME.000, NAME.001 … in order"),
        ))
    }
}
