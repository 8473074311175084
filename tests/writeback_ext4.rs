//! The volume writer's allocation ahead on a real ext4 filesystem (a loop
//! mount): what was allocated past the last write is given back, and a
//! full filesystem is still reported by the write, not hidden.

mod import_support;
mod loopfs_support;

use import_support::noise;
use loopfs_support::LoopFs;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use xcatport::snapshot::writeback::Writeback;
use xxhash_rust::xxh3::Xxh3;

/// Writes `chunks` odd-sized chunks through a Writeback; returns the file,
/// the byte count and the XXH3-128 of what was written.
fn write_volume(path: &Path, chunks: usize, chunk: usize) -> std::io::Result<(File, u64, u128)> {
    let mut w = Writeback::new(File::create(path)?);
    let mut hash = Xxh3::new();
    let mut total = 0u64;
    let pieces: Vec<Vec<u8>> = (1..=3).map(|seed| noise(chunk, seed)).collect();
    for i in 0..chunks {
        let bytes = &pieces[i % pieces.len()];
        w.write_all(bytes)?;
        hash.update(bytes);
        total += bytes.len() as u64;
    }
    Ok((w.finish()?, total, hash.digest128()))
}

fn file_hash(path: &Path) -> u128 {
    let mut hash = Xxh3::new();
    let mut file = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hash.digest128();
        }
        hash.update(&buf[..n]);
    }
}

#[test]
fn allocation_ahead_is_given_back_and_the_content_is_exact() {
    // Into 1 GiB: a 100 MiB volume ends inside the stretch allocated ahead
    // (cut back at the end); a 600 MiB one runs the filesystem low enough
    // that allocating ahead stops part-way.
    let fs = LoopFs::ext4("1G");
    for (name, chunks) in [
        ("xcat-data.tar.zst.000", 100),
        ("xcat-data.tar.zst.001", 600),
    ] {
        let before = fs.free();
        let path = fs.mnt.join(name);
        let (file, written, hash) = write_volume(&path, chunks, (1 << 20) + 12345).unwrap();
        file.sync_all().unwrap();
        drop(file);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), written, "{name}");
        assert_eq!(file_hash(&path), hash, "{name}: content differs");
        let used = before - fs.free();
        let slack = 4 << 20; // extent tree and journal blocks
        assert!(
            used >= written && used <= written + slack,
            "{name}: {used} bytes used for {written} written: the allocation ahead was not given back"
        );
    }
}

#[test]
fn a_full_filesystem_fails_the_write_with_enospc() {
    let fs = LoopFs::ext4("64M");
    let path = fs.mnt.join("xcat-data.tar.zst");
    let err = write_volume(&path, 80, 1 << 20).expect_err("80 MiB cannot fit in 64 MiB");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
}

#[test]
fn ext4_is_allocated_ahead_of_the_writes() {
    // Only the outcome tests above would pass if allocating ahead silently
    // stopped (say, the filesystem type went unrecognised): this one looks
    // at the blocks held while the volume is still being written.
    use std::os::unix::fs::MetadataExt;
    let fs = LoopFs::ext4("1G");
    let path = fs.mnt.join("xcat-data.tar.zst");
    let mut w = Writeback::new(File::create(&path).unwrap());
    let written = 10 << 20;
    w.write_all(&noise(written, 7)).unwrap();
    let held = std::fs::metadata(&path).unwrap().blocks() * 512;
    assert!(
        held >= written as u64 + (32 << 20),
        "{held} bytes held after {written} written: nothing was allocated ahead on ext4"
    );
    let file = w.finish().unwrap();
    assert_eq!(file.metadata().unwrap().len(), written as u64);
}
