//! Multithreaded zstd as a series of independent frames.
//!
//! The stream is cut into jobs of [`JOB`] bytes; each worker compresses a
//! whole job as one zstd frame, reading it where it lies, and a collector
//! thread writes the frames out in order. A zstd stream may hold any number
//! of frames, so `zstd -dc` and every decoder read the result as one stream.
//!
//! libzstd's own multithreading copies all input into buffers of its own on
//! the caller's thread, and its output passes through one more buffer on its
//! way out: on incompressible data (most of an MN's bytes: RPMs, images)
//! those copies cost more than the compression. Here the only copies are
//! the caller's bytes into a job and zstd's own into the frame. The price is
//! a few bytes of frame header and checksum per job, and matches that cannot
//! reach back across a job boundary.
//!
//! The collector is the last stage: it writes into the inner writer (the
//! volumes, which hash and write), so that work overlaps the compression.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use zstd::zstd_safe::{self, CCtx, CParameter};

/// Bytes per job, and so per frame.
pub const JOB: usize = 8 << 20;
/// Most workers: each holds two 8 MiB buffers, and 8 cores compress far
/// faster than any stick writes.
const MAX_WORKERS: u32 = 8;
/// Largest single write of a frame into the inner writer.
const WRITE_PIECE: usize = 1 << 20;

type Frame = (u64, io::Result<Vec<u8>>);

/// Compresses what is written into it on `workers` threads; [`ZstdFrames::finish`]
/// returns the inner writer, or the first error any thread met.
pub struct ZstdFrames<W: Write + Send + 'static> {
    job: Vec<u8>,
    seq: u64,
    jobs: Option<SyncSender<(u64, Vec<u8>)>>,
    /// One token per job that may be in flight; the collector returns them.
    free: Receiver<()>,
    /// Input buffers the workers are done with, for reuse.
    emptied: Receiver<Vec<u8>>,
    workers: Vec<JoinHandle<()>>,
    collector: Option<JoinHandle<io::Result<(W, u64)>>>,
}

impl<W: Write + Send + 'static> ZstdFrames<W> {
    pub fn spawn(inner: W, level: i32, workers: u32) -> io::Result<ZstdFrames<W>> {
        let workers = workers.clamp(1, MAX_WORKERS) as usize;
        // Rendezvous channels: a job waits in the caller until a worker takes
        // it, a frame in its worker until the collector does; memory stays at
        // about two buffers per worker whatever the stream's size.
        let (jobs, queue) = sync_channel::<(u64, Vec<u8>)>(0);
        let queue = Arc::new(Mutex::new(queue));
        let (frames, collected) = sync_channel::<Frame>(0);
        let (give_back, emptied) = sync_channel::<Vec<u8>>(workers + 1);
        let (written, reuse) = sync_channel::<Vec<u8>>(workers + 1);
        let reuse = Arc::new(Mutex::new(reuse));
        // A job takes a slot until its frame is written, so a worker that
        // stalls cannot let the others pile up frames behind it.
        let in_flight = workers + 1;
        let (slots, free) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = slots.try_send(());
        }
        let collector = std::thread::Builder::new()
            .name("xcatport-collect".into())
            .spawn(move || collect(inner, collected, written, slots))?;
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (queue, frames, give_back, reuse) = (
                Arc::clone(&queue),
                frames.clone(),
                give_back.clone(),
                Arc::clone(&reuse),
            );
            let handle = std::thread::Builder::new()
                .name("xcatport-zstd".into())
                .spawn(move || compress(level, &queue, &frames, &give_back, &reuse));
            match handle {
                Ok(h) => handles.push(h),
                Err(e) => return Err(e),
            }
        }
        Ok(ZstdFrames {
            job: Vec::with_capacity(JOB),
            seq: 0,
            jobs: Some(jobs),
            free,
            emptied,
            workers: handles,
            collector: Some(collector),
        })
    }

    /// Compresses what is left, waits for every thread, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        // An empty stream is still one (empty) frame.
        if !self.job.is_empty() || self.seq == 0 {
            self.send()?;
        }
        self.stop()
    }

    fn send(&mut self) -> io::Result<()> {
        let job = std::mem::take(&mut self.job);
        let sent = match &self.jobs {
            Some(jobs) => self.free.recv().is_ok() && jobs.send((self.seq, job)).is_ok(),
            None => false,
        };
        self.seq += 1;
        if !sent {
            // Every worker stopped: the collector holds the reason.
            return match self.stop() {
                Err(e) => Err(e),
                Ok(_) => Err(io::Error::other("the zstd workers stopped early")),
            };
        }
        // Taken after the wait for a slot, by when an earlier job's buffer
        // is usually back.
        self.job = match self.emptied.try_recv() {
            Ok(mut reused) => {
                reused.clear();
                reused
            }
            Err(_) => Vec::with_capacity(JOB),
        };
        Ok(())
    }

    fn stop(&mut self) -> io::Result<W> {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let (inner, written) = match self.collector.take() {
            Some(collector) => collector
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the zstd collector panicked")))?,
            None => return Err(io::Error::other("the zstd collector already stopped")),
        };
        if written != self.seq {
            return Err(lost(written));
        }
        Ok(inner)
    }
}

/// One worker: takes jobs until the queue closes, compresses each into a
/// frame buffer handed back by the collector, passes the frame on.
fn compress(
    level: i32,
    queue: &Mutex<Receiver<(u64, Vec<u8>)>>,
    frames: &SyncSender<Frame>,
    give_back: &SyncSender<Vec<u8>>,
    written: &Mutex<Receiver<Vec<u8>>>,
) {
    let mut cctx = CCtx::create();
    let set = cctx
        .set_parameter(CParameter::CompressionLevel(level))
        .and_then(|_| cctx.set_parameter(CParameter::ChecksumFlag(true)));
    let mut failed = set.err().map(zstd_error);
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok((seq, job)) = next else { return };
        let frame = match failed.take() {
            Some(e) => Err(e),
            None => {
                // Reused, not allocated: fresh memory costs a page fault
                // and a zeroed page per 4 KiB, more than the compression.
                let reused = written.lock().ok().and_then(|w| w.try_recv().ok());
                let mut out = reused.unwrap_or_default();
                out.clear();
                out.reserve(zstd_safe::compress_bound(job.len()));
                // A panic would leave the collector waiting for this frame.
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cctx.compress2(&mut out, &job)
                }));
                match done {
                    Ok(Ok(_)) => Ok(out),
                    Ok(Err(code)) => Err(zstd_error(code)),
                    Err(_) => Err(io::Error::other("zstd: a compression thread panicked")),
                }
            }
        };
        let _ = give_back.try_send(job);
        if frames.send((seq, frame)).is_err() {
            return;
        }
    }
}

fn zstd_error(code: usize) -> io::Error {
    io::Error::other(format!("zstd: {}", zstd_safe::get_error_name(code)))
}

/// Writes the frames in job order, whatever order they are finished in, and
/// hands each written frame's buffer back to the workers.
fn collect<W: Write>(
    mut inner: W,
    frames: Receiver<Frame>,
    written: SyncSender<Vec<u8>>,
    slots: SyncSender<()>,
) -> io::Result<(W, u64)> {
    let mut waiting: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut next = 0u64;
    for (seq, frame) in frames {
        waiting.insert(seq, frame?);
        while let Some(frame) = waiting.remove(&next) {
            // In pieces: one multi-MiB write() copies into the page cache
            // several times slower than the same bytes in 1 MiB writes.
            for piece in frame.chunks(WRITE_PIECE) {
                inner.write_all(piece)?;
            }
            let _ = slots.send(());
            let _ = written.try_send(frame);
            next += 1;
        }
    }
    if !waiting.is_empty() {
        return Err(lost(next));
    }
    inner.flush()?;
    Ok((inner, next))
}

fn lost(seq: u64) -> io::Error {
    io::Error::other(format!("zstd frame {seq} never arrived"))
}

impl<W: Write + Send + 'static> Write for ZstdFrames<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(JOB - self.job.len());
        self.job.extend_from_slice(&buf[..n]);
        if self.job.len() == JOB {
            self.send()?;
        }
        Ok(n)
    }

    /// Frames are cut at job boundaries only; durability is the caller's syncfs.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for ZstdFrames<W> {
    fn drop(&mut self) {
        // Dropped without finish (an error elsewhere): stop the threads and
        // wait, so no write lands after the caller has moved on.
        if self.collector.is_some() {
            let _ = self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::test_io::{write_in_odd_pieces, FailsAfter};
    use std::io::Read;

    /// Half compressible text, half noise, so frames hold both kinds of block.
    fn content(len: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|i| {
                if (i / 100_000) % 2 == 0 {
                    b"node01 compute rhels8.6 "[i % 24]
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
            })
            .collect()
    }

    fn decode(stream: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        zstd::stream::read::Decoder::new(stream)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        back
    }

    fn frame_count(mut stream: &[u8]) -> usize {
        let mut n = 0;
        while !stream.is_empty() {
            let len = zstd_safe::find_frame_compressed_size(stream).unwrap();
            stream = &stream[len..];
            n += 1;
        }
        n
    }

    #[test]
    fn odd_writes_come_back_byte_exact_one_frame_per_job() {
        let data = content(2 * JOB + JOB / 3);
        let mut w = ZstdFrames::spawn(Vec::new(), 3, 3).unwrap();
        write_in_odd_pieces(&mut w, &data, 3 << 20);
        let stream = w.finish().unwrap();
        assert_eq!(frame_count(&stream), 3);
        assert!(
            stream.len() < data.len() * 3 / 4,
            "the text half compresses"
        );
        assert!(decode(&stream) == data, "round trip differs");
    }

    #[test]
    fn an_empty_stream_is_one_empty_frame() {
        let stream = ZstdFrames::spawn(Vec::new(), 3, 2)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(frame_count(&stream), 1);
        assert!(decode(&stream).is_empty());
    }

    #[test]
    fn a_stream_of_exactly_one_job_is_one_frame() {
        let data = content(JOB);
        let mut w = ZstdFrames::spawn(Vec::new(), 1, 2).unwrap();
        w.write_all(&data).unwrap();
        let stream = w.finish().unwrap();
        assert_eq!(frame_count(&stream), 1);
        assert!(decode(&stream) == data);
    }

    #[test]
    fn the_inner_writers_error_reaches_the_caller_with_its_kind() {
        let data = content(6 * JOB);
        let mut w = ZstdFrames::spawn(FailsAfter(JOB), 3, 2).unwrap();
        let err = match w.write_all(&data) {
            Err(e) => e,
            Ok(()) => w.finish().expect_err("finish reports the failure"),
        };
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    }

    /// The writer behind is shared so the test can see what landed after
    /// the drop returned: nothing may.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn dropped_without_finish_it_stops_every_thread_before_returning() {
        let out = Shared::default();
        let mut w = ZstdFrames::spawn(out.clone(), 3, 2).unwrap();
        w.write_all(&content(3 * JOB + 5)).unwrap();
        drop(w);
        let landed = out.0.lock().unwrap().len();
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            out.0.lock().unwrap().len(),
            landed,
            "a write landed after the drop"
        );
        assert_eq!(
            Arc::strong_count(&out.0),
            1,
            "a thread still holds the writer"
        );
    }
}
