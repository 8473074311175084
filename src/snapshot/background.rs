//! A writer that hands its bytes to a thread of its own.
//!
//! The compressed stream's last stage — hashing each volume and the write
//! syscalls — costs as much CPU as reading and hashing the source. On the
//! caller's thread it would serialise with the reading; here it overlaps
//! with it. Bytes are batched into large blocks and passed through a short
//! bounded queue; the thread hands emptied blocks back for reuse, so memory
//! stays at a few blocks however large the stream (and no allocator arena
//! fills up with blocks freed on the other thread).

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes gathered before a block is handed over.
const BLOCK: usize = 1 << 20;
/// Blocks in flight: enough to ride out a slow write, few enough to stay small.
const QUEUE: usize = 4;

/// Writes into `W` on a background thread; [`BackgroundWriter::finish`]
/// returns `W` or the first error the thread met.
pub struct BackgroundWriter<W: Write + Send + 'static> {
    block: Vec<u8>,
    queue: Option<SyncSender<Vec<u8>>>,
    emptied: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> BackgroundWriter<W> {
    pub fn spawn(inner: W) -> io::Result<BackgroundWriter<W>> {
        let (queue, blocks) = sync_channel::<Vec<u8>>(QUEUE);
        // Never more blocks than the queue, the one being written and the
        // one being filled: the thread's returns never block.
        let (give_back, emptied) = sync_channel::<Vec<u8>>(QUEUE + 2);
        let worker = std::thread::Builder::new()
            .name("xcatport-writer".into())
            .spawn(move || drain(inner, blocks, give_back))?;
        Ok(BackgroundWriter {
            block: Vec::with_capacity(BLOCK),
            queue: Some(queue),
            emptied,
            worker: Some(worker),
        })
    }

    /// Writes what is left, waits for the thread, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.hand_over()?;
        self.queue = None;
        self.join()
    }

    fn hand_over(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let fresh = match self.emptied.try_recv() {
            Ok(mut reused) => {
                reused.clear();
                reused
            }
            Err(_) => Vec::with_capacity(BLOCK),
        };
        let block = std::mem::replace(&mut self.block, fresh);
        let sent = match &self.queue {
            Some(queue) => queue.send(block).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread stopped: it holds the reason.
        self.queue = None;
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the background writer stopped early")),
        }
    }

    fn join(&mut self) -> io::Result<W> {
        match self.worker.take() {
            Some(worker) => worker
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the background writer panicked"))),
            None => Err(io::Error::other("the background writer already stopped")),
        }
    }
}

fn drain<W: Write>(
    mut inner: W,
    blocks: Receiver<Vec<u8>>,
    give_back: SyncSender<Vec<u8>>,
) -> io::Result<W> {
    for block in blocks {
        inner.write_all(&block)?;
        // Only oversized blocks are not worth keeping.
        if block.capacity() <= BLOCK {
            let _ = give_back.try_send(block);
        }
    }
    inner.flush()?;
    Ok(inner)
}

impl<W: Write + Send + 'static> Write for BackgroundWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.block.is_empty() && self.block.len() + buf.len() > BLOCK {
            self.hand_over()?;
        }
        self.block.extend_from_slice(buf);
        if self.block.len() >= BLOCK {
            self.hand_over()?;
        }
        Ok(buf.len())
    }

    /// Hands the gathered bytes over; durability is the caller's `syncfs`.
    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()
    }
}

impl<W: Write + Send + 'static> Drop for BackgroundWriter<W> {
    fn drop(&mut self) {
        // Dropped without finish (an error elsewhere): stop the thread and
        // wait, so no write lands after the caller has moved on.
        self.queue = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::test_io::FailsAfter;

    #[test]
    fn every_byte_arrives_in_order() {
        let mut w = BackgroundWriter::spawn(Vec::new()).unwrap();
        let mut expected = Vec::new();
        for i in 0..5000u32 {
            let piece: Vec<u8> = (0..(i % 977)).map(|b| (b ^ i) as u8).collect();
            w.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
        }
        let big = vec![7u8; 3 * BLOCK + 5];
        w.write_all(&big).unwrap();
        expected.extend_from_slice(&big);
        assert_eq!(w.finish().unwrap(), expected);
    }

    #[test]
    fn the_threads_error_reaches_the_caller_with_its_kind() {
        let mut w = BackgroundWriter::spawn(FailsAfter(BLOCK)).unwrap();
        let chunk = vec![1u8; 64 << 10];
        let mut err = None;
        for _ in 0..(BLOCK * (QUEUE + 4) / chunk.len()) {
            if let Err(e) = w.write_all(&chunk) {
                err = Some(e);
                break;
            }
        }
        let err = match err {
            Some(e) => e,
            None => w.finish().expect_err("finish reports the failure"),
        };
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn an_error_in_the_last_block_is_reported_by_finish() {
        let mut w = BackgroundWriter::spawn(FailsAfter(10)).unwrap();
        w.write_all(b"more than ten bytes").unwrap();
        let err = w.finish().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }
}
