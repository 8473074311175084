//! Reading a verified snapshot back: the volumes concatenated and decoded
//! into one tar stream (what `cat xcat-data.tar.zst.* | zstd -dc` gives).

use super::compress::Codec;
use super::verify::Verified;
use crate::cli::Compression;
use crate::error::IoContext;
use crate::Result;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

/// Reads files one after another as one stream.
pub struct Concat {
    paths: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, File)>,
}

impl Concat {
    pub fn new(paths: Vec<PathBuf>) -> Concat {
        Concat {
            paths: paths.into_iter(),
            current: None,
        }
    }
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.paths.next() else {
                    return Ok(0);
                };
                let file = File::open(&path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                self.current = Some((path, file));
            }
            if let Some((_, file)) = self.current.as_mut() {
                let n = file.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
            }
            self.current = None;
        }
    }
}

/// The decoded data tar stream (DB dump members first, then the files).
pub fn open_data(v: &Verified) -> Result<Box<dyn Read>> {
    let kind = v.head.data.compression.kind;
    Codec::decoder(
        kind,
        io::BufReader::with_capacity(1 << 20, Concat::new(v.data_volumes.clone())),
    )
    .at(&v.dir)
}

/// The package tar stream (uncompressed).
pub fn open_rpms(v: &Verified) -> Result<Box<dyn Read>> {
    Codec::decoder(Compression::None, Concat::new(v.rpms_volumes.clone())).at(&v.dir)
}
