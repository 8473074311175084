//! Writers and write patterns shared by this module's unit tests.

use std::io::{self, Write};

/// Accepts this many bytes, then fails every write with ENOSPC.
#[derive(Debug)]
pub struct FailsAfter(pub usize);

impl Write for FailsAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0 < buf.len() {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `data` in pieces of changing, odd sizes up to `max` bytes, so
/// that buffer and segment boundaries fall everywhere.
pub fn write_in_odd_pieces(w: &mut impl Write, data: &[u8], max: usize) {
    let mut at = 0;
    let mut step = 1;
    while at < data.len() {
        let end = (at + step).min(data.len());
        w.write_all(&data[at..end]).unwrap();
        at = end;
        step = (step * 7 + 3) % max + 1;
    }
}
