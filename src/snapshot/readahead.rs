//! A reader that reads (and decompresses, decrypts) its stream on a thread
//! of its own, a few blocks ahead of the caller.
//!
//! A restore's extraction loop spends its time on paths, metadata and the
//! hand-over to the file writers; reading the stick and decoding the stream
//! on the same thread would serialise the two. The stream is built on the
//! thread itself (decoders need not be `Send`), blocks go back for reuse,
//! and the queue is short, so memory stays at a few blocks.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes per block handed over.
const BLOCK: usize = 1 << 20;
/// Blocks read ahead.
const QUEUE: usize = 4;

/// What the thread sends: a block and how much of it is filled, or the
/// error that ended the stream.
type Filled = io::Result<(Vec<u8>, usize)>;

/// Reads the stream `make` opens on a background thread.
pub struct ReadAhead {
    blocks: Option<Receiver<Filled>>,
    give_back: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    filled: usize,
    pos: usize,
    worker: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts the thread; `make` opens the stream on it (its error is the
    /// first read's error).
    pub fn spawn<F>(make: F) -> io::Result<ReadAhead>
    where
        F: FnOnce() -> io::Result<Box<dyn Read>> + Send + 'static,
    {
        let (send, blocks) = sync_channel::<Filled>(QUEUE);
        let (give_back, emptied) = sync_channel::<Vec<u8>>(QUEUE + 2);
        let worker = std::thread::Builder::new()
            .name("xcatport-reader".into())
            .spawn(move || pump(make, &send, &emptied))?;
        Ok(ReadAhead {
            blocks: Some(blocks),
            give_back,
            current: Vec::new(),
            filled: 0,
            pos: 0,
            worker: Some(worker),
        })
    }
}

fn pump<F>(make: F, send: &SyncSender<Filled>, emptied: &Receiver<Vec<u8>>)
where
    F: FnOnce() -> io::Result<Box<dyn Read>>,
{
    let mut stream = match make() {
        Ok(s) => s,
        Err(e) => {
            let _ = send.send(Err(e));
            return;
        }
    };
    loop {
        let mut block = emptied.try_recv().unwrap_or_else(|_| vec![0u8; BLOCK]);
        let mut filled = 0;
        while filled < block.len() {
            match stream.read(&mut block[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // What was read before the error is still delivered.
                    if filled > 0 && send.send(Ok((block, filled))).is_err() {
                        return;
                    }
                    let _ = send.send(Err(e));
                    return;
                }
            }
        }
        // An empty block is the end; the reader stopped listening is the end too.
        if filled == 0 || send.send(Ok((block, filled))).is_err() {
            return;
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.filled {
            let Some(blocks) = self.blocks.as_ref() else {
                return Ok(0);
            };
            match blocks.recv() {
                Ok(Ok((block, filled))) => {
                    let used = std::mem::replace(&mut self.current, block);
                    if !used.is_empty() {
                        let _ = self.give_back.try_send(used);
                    }
                    self.filled = filled;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.blocks = None;
                    return Err(e);
                }
                // The thread ended the stream, or died.
                Err(_) => {
                    self.blocks = None;
                    let died = self.worker.take().is_some_and(|w| w.join().is_err());
                    if died {
                        return Err(io::Error::other(
                            "the stream's reader thread stopped unexpectedly",
                        ));
                    }
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.filled - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing the queue stops the thread at its next block. It is not
        // waited for: a read hanging on a failing stick must not hold back
        // the error the caller is about to report.
        self.blocks = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_the_stream_byte_for_byte_in_any_read_sizes() {
        let data: Vec<u8> = (0..(3 * BLOCK + 12_345) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let source = data.clone();
        let mut r =
            ReadAhead::spawn(move || Ok(Box::new(io::Cursor::new(source)) as Box<dyn Read>))
                .unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 7_777];
        let mut sizes = [1usize, 512, 7_777, 100].into_iter().cycle();
        loop {
            let want = sizes.next().unwrap_or(1);
            let n = r.read(&mut buf[..want]).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }

    /// Gives `good` bytes, then fails.
    struct Failing {
        good: usize,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good == 0 {
                return Err(io::Error::other(
                    "/stick/xcat-data.tar.zst: Input/output error",
                ));
            }
            let n = buf.len().min(self.good);
            buf[..n].fill(b'x');
            self.good -= n;
            Ok(n)
        }
    }

    #[test]
    fn the_bytes_before_an_error_arrive_then_the_error_itself() {
        let mut r =
            ReadAhead::spawn(|| Ok(Box::new(Failing { good: 1000 }) as Box<dyn Read>)).unwrap();
        let mut got = Vec::new();
        let err = loop {
            let mut buf = [0u8; 300];
            match r.read(&mut buf) {
                Ok(0) => panic!("end of stream instead of the error"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got, vec![b'x'; 1000]);
        assert_eq!(
            err.to_string(),
            "/stick/xcat-data.tar.zst: Input/output error"
        );
    }

    #[test]
    fn an_error_opening_the_stream_is_the_first_read_error() {
        let mut r = ReadAhead::spawn(|| Err(io::Error::other("no such volume"))).unwrap();
        let err = r.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(err.to_string(), "no such volume");
    }

    /// An endless stream that counts the reads made from it.
    struct Counting(std::sync::Arc<std::sync::atomic::AtomicU64>);

    impl Read for Counting {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            buf.fill(7);
            Ok(buf.len())
        }
    }

    #[test]
    fn dropping_it_early_stops_the_thread() {
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = std::sync::Arc::clone(&reads);
        let r = ReadAhead::spawn(move || Ok(Box::new(Counting(counted)) as Box<dyn Read>)).unwrap();
        drop(r);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let settled = reads.load(std::sync::atomic::Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(
            reads.load(std::sync::atomic::Ordering::Relaxed),
            settled,
            "still reading"
        );
    }

    #[test]
    fn a_thread_that_dies_is_an_error_not_the_end_of_the_stream() {
        let mut r =
            ReadAhead::spawn(|| -> io::Result<Box<dyn Read>> { panic!("decoder bug") }).unwrap();
        let err = r.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the stream's reader thread stopped unexpectedly"
        );
    }
}
