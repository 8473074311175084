//! A gzip writer that compresses on every core.
//!
//! Input is cut into fixed-size blocks; each block becomes one complete gzip
//! member, compressed on a worker thread, and members are written in input
//! order. A sequence of gzip members is itself a valid gzip stream (RFC 1952
//! §2.2), which gzip, GNU tar and xCAT's `tar zxf` read as one file. Blocks
//! do not share a dictionary, which costs well under 1 % at 1 MiB blocks.
//!
//! The level can change between blocks: data that is already compressed
//! (a rootimg.cpio.gz is most of a netboot bundle) gains nothing from level 6
//! and is stored (level 0), which costs nothing but the CRC.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Input bytes per gzip member.
pub const DEFAULT_BLOCK: usize = 1 << 20;

type Done = io::Result<Vec<u8>>;
struct Job {
    data: Vec<u8>,
    level: u32,
    reply: SyncSender<Done>,
}

/// Parallel gzip compressor; call [`ParallelGzWriter::finish`] to complete the stream.
pub struct ParallelGzWriter<W: Write> {
    /// `None` only after `finish`.
    inner: Option<W>,
    buf: Vec<u8>,
    block: usize,
    level: u32,
    jobs: Option<SyncSender<Job>>,
    pending: VecDeque<Receiver<Done>>,
    max_pending: usize,
    workers: Vec<JoinHandle<()>>,
    wrote_member: bool,
}

impl<W: Write> ParallelGzWriter<W> {
    /// `threads` workers (0 = all cores), gzip `level` 0..=9.
    pub fn new(inner: W, level: u32, threads: usize) -> Self {
        Self::with_block_size(inner, level, threads, DEFAULT_BLOCK)
    }

    pub fn with_block_size(inner: W, level: u32, threads: usize, block: usize) -> Self {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        let (tx, rx) = mpsc::sync_channel::<Job>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || loop {
                    // The lock is held only to take the next job.
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let _ = job.reply.send(compress(&job.data, job.level));
                })
            })
            .collect();
        ParallelGzWriter {
            inner: Some(inner),
            buf: Vec::with_capacity(block),
            block: block.max(1),
            level: level.min(9),
            jobs: Some(tx),
            pending: VecDeque::new(),
            max_pending: threads * 2,
            workers,
            wrote_member: false,
        }
    }

    /// Level for the data written from now on (applies from the next block
    /// boundary; the block being filled is cut here so the change is exact).
    pub fn set_level(&mut self, level: u32) -> io::Result<()> {
        let level = level.min(9);
        if level != self.level {
            self.dispatch()?;
            self.level = level;
        }
        Ok(())
    }

    /// Compresses what is buffered, writes every member, returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || !self.wrote_member && self.pending.is_empty() {
            // An empty input still yields one (empty) member: a valid gzip file.
            let data = std::mem::take(&mut self.buf);
            self.send(data)?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let mut inner = self.inner.take().ok_or_else(worker_gone)?;
        inner.flush()?;
        Ok(inner)
    }

    fn dispatch(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.block));
        self.send(data)
    }

    fn send(&mut self, data: Vec<u8>) -> io::Result<()> {
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            data,
            level: self.level,
            reply,
        };
        let jobs = self.jobs.as_ref().ok_or_else(worker_gone)?;
        jobs.send(job).map_err(|_| worker_gone())?;
        self.pending.push_back(result);
        while self.pending.len() > self.max_pending {
            self.write_oldest()?;
        }
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let member = rx.recv().map_err(|_| worker_gone())??;
            self.inner
                .as_mut()
                .ok_or_else(worker_gone)?
                .write_all(&member)?;
            self.wrote_member = true;
        }
        Ok(())
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("gzip worker thread stopped")
}

/// One gzip member of `data`. zlib-rs's level 1 uses static Huffman
/// trees only, which grow incompressible data (a rootimg.cpio.gz) by about
/// 6 %; such a block is stored instead, which costs a few bytes per 64 KiB.
fn compress(data: &[u8], level: u32) -> Done {
    let member = deflate(data, level)?;
    if level > 0 && member.len() > data.len() + data.len() / 1000 + 64 {
        return deflate(data, 0);
    }
    Ok(member)
}

fn deflate(data: &[u8], level: u32) -> Done {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::new(level),
    );
    enc.write_all(data)?;
    enc.finish()
}

impl<W: Write> Write for ParallelGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.block - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.block {
            self.dispatch()?;
        }
        Ok(n)
    }

    /// Flushing does not cut a block: members stay full-sized.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ParallelGzWriter<W> {
    fn drop(&mut self) {
        // Abandoned (an error upstream): stop the workers, write nothing.
        self.jobs = None;
        self.pending.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use std::io::Read;

    fn roundtrip(data: &[u8], block: usize, threads: usize) -> Vec<u8> {
        let mut w = ParallelGzWriter::with_block_size(Vec::new(), 6, threads, block);
        for chunk in data.chunks(777) {
            w.write_all(chunk).unwrap();
        }
        let gz = w.finish().unwrap();
        let mut out = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn many_members_decode_to_the_input_in_order() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(roundtrip(&data, 4096, 3), data);
        assert_eq!(roundtrip(&data, 1 << 20, 1), data);
    }

    #[test]
    fn incompressible_blocks_are_stored_not_grown() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let gz = compress(&data, 1).unwrap();
        assert!(
            gz.len() <= data.len() + data.len() / 1000 + 64,
            "{}",
            gz.len()
        );
        let mut out = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn empty_input_is_a_valid_gzip_file() {
        let gz = ParallelGzWriter::new(Vec::new(), 6, 2).finish().unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut out = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn level_changes_cut_blocks_and_still_decode() {
        let mut w = ParallelGzWriter::with_block_size(Vec::new(), 6, 2, 1000);
        w.write_all(&[b'a'; 1500]).unwrap();
        w.set_level(1).unwrap();
        w.write_all(&[b'b'; 10]).unwrap();
        w.set_level(0).unwrap();
        w.write_all(&[b'c'; 10]).unwrap();
        let gz = w.finish().unwrap();
        let mut out = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 1520);
        assert!(out[1500..1510].iter().all(|&b| b == b'b'));
        // Four members: 1000 a, 500 a, 10 b, 10 c.
        let members = gz.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
        assert!(members >= 4, "{members}");
    }
}
