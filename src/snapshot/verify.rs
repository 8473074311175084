//! Checking a snapshot directory: every file in SHA256SUMS present, of the
//! size MANIFEST.json records, with the recorded hash; nothing extra. This is
//! the only way to obtain a [`Verified`] snapshot.
//!
//! The export's own re-read ([`verify_written`]) makes the same checks but
//! compares the content of the files it wrote with what it wrote (see
//! [`super::readback`]) instead of computing their SHA-256 again.

use super::hash::{WrittenCheck, CHECK_SEGMENT};
use super::manifest::{self, ManifestHead, VolumeRecord};
use super::readback::ReadBack;
use super::reread::{read_range, ReRead};
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
    verify_written(dir, &ReadBack::default(), ReRead::PageCache, progress)
}

/// Verifies the snapshot an export just wrote into `dir`: the files in
/// `written` are compared with what was written into them, the others with
/// their SHA-256. `via` says where the bytes are read from.
pub fn verify_written(
    dir: &Path,
    written: &ReadBack,
    via: ReRead,
    progress: &dyn Progress,
) -> Result<Verified> {
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
    check_hash(&manifest_path, expected[MANIFEST], via, &mut |_| {})?;
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
    check_hashes(&to_hash, via, progress)?;
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

/// Reads the files back, a large volume in segments; the error names the
/// first bad file in SHA256SUMS order, as a sequential check would. From
/// the page cache the work is shared out on all cores. From the media one
/// reader goes through in order: a stick reads fastest sequentially.
/// Nothing after a failed task is read, so a bad stick fails early.
fn check_hashes(files: &[(PathBuf, Expected)], via: ReRead, progress: &dyn Progress) -> Result<()> {
    let tasks = tasks(files);
    progress.set_length(tasks.iter().map(Task::bytes).sum());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = match via {
        ReRead::PageCache => cores,
        ReRead::Media => 1,
    }
    .min(tasks.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let first_failed = AtomicUsize::new(usize::MAX);
    let results: Vec<Mutex<Option<Result<()>>>> = tasks.iter().map(|_| Mutex::new(None)).collect();
    let panicked = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else {
                        break;
                    };
                    if i > first_failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let outcome = task.check(via, &mut |n| progress.inc(n));
                    if outcome.is_err() {
                        first_failed.fetch_min(i, Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(outcome);
                    }
                })
            })
            .collect();
        handles.into_iter().any(|h| h.join().is_err())
    });
    progress.finish();
    for (result, task) in results.into_iter().zip(&tasks) {
        match result.into_inner() {
            Ok(Some(outcome)) => outcome?,
            _ if panicked => {
                return Err(refuse(
                    task.path(),
                    "was not checked (a hashing thread failed)",
                ))
            }
            _ => {}
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

    /// Runs the check, reporting bytes as they are read.
    fn check(&self, via: ReRead, read: &mut dyn FnMut(u64)) -> Result<()> {
        match *self {
            Task::Sha256(path, sha) => check_hash(path, sha, via, read),
            Task::Size(path, size) => check_size(path, size),
            Task::Segment(path, offset, len, xxh3) => {
                check_segment(path, (offset, len), xxh3, via, read)
            }
        }
    }
}

fn check_hash(path: &Path, expected: &str, via: ReRead, read: &mut dyn FnMut(u64)) -> Result<()> {
    use sha2::{Digest, Sha256};
    let mut sha = Sha256::new();
    read_range(path, 0, None, via, &mut |piece| {
        sha.update(piece);
        read(piece.len() as u64);
    })
    .at(path)?;
    if hex::encode(sha.finalize()) != expected {
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

fn check_segment(
    path: &Path,
    (offset, len): (u64, u64),
    written: u128,
    via: ReRead,
    read: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut xxh3 = xxhash_rust::xxh3::Xxh3::new();
    let got = read_range(path, offset, Some(len), via, &mut |piece| {
        xxh3.update(piece);
        read(piece.len() as u64);
    })
    .at(path)?;
    if got < len {
        return Err(refuse(path, "ended early on re-read: the target lost data"));
    }
    if xxh3.digest128() != written {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::hash::HashingWriter;
    use std::io::Write;
    use std::sync::atomic::AtomicU64;

    /// Counts the bytes reported read.
    #[derive(Default)]
    struct Counted(AtomicU64);

    impl Progress for Counted {
        fn set_length(&self, _: u64) {}
        fn set_message(&self, _: &str) {}
        fn inc(&self, delta: u64) {
            self.0.fetch_add(delta, Ordering::Relaxed);
        }
        fn finish(&self) {}
    }

    #[test]
    fn a_bad_segment_stops_the_media_reread_and_names_its_bytes() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let path = dir.path().join("xcat-data.tar.zst");
        let seg = CHECK_SEGMENT as usize;
        let mut w = HashingWriter::with_check(std::fs::File::create(&path).unwrap());
        let piece: Vec<u8> = (0..1 << 20).map(|i| (i % 253) as u8).collect();
        for _ in 0..(2 * seg + seg / 4) / piece.len() {
            w.write_all(&piece).unwrap();
        }
        let (_, _, check) = w.finish_checked();
        let files = [(path.clone(), Expected::Written(&check))];

        let all = Counted::default();
        check_hashes(&files, ReRead::Media, &all).unwrap();
        assert_eq!(all.0.load(Ordering::Relaxed), check.size);

        // One byte changed in the first segment: the error names it, and
        // the reader stops there instead of reading the rest of the stick.
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0xff], 1000).unwrap();
        file.sync_all().unwrap();
        let read = Counted::default();
        let err = check_hashes(&files, ReRead::Media, &read)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("bytes 0..{seg}")) && err.contains("xcat-data.tar.zst"),
            "{err}"
        );
        assert_eq!(read.0.load(Ordering::Relaxed), CHECK_SEGMENT);
    }
}
