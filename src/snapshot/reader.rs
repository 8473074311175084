//! Reading a verified snapshot back: the volumes concatenated and decoded
//! into one tar stream (what `cat xcat-data.tar.zst.* | zstd -dc` gives),
//! and the secret stream decrypted (`cat xcat-secrets.tar.zst.age* | age -d |
//! zstd -dc`).

use super::compress::Codec;
use super::crypt::Unlock;
use super::readahead::ReadAhead;
use super::verify::Verified;
use crate::cli::Compression;
use crate::error::IoContext;
use crate::{Error, Result};
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

/// The decoded data tar stream (DB dump members first, then the files),
/// read and decoded a few blocks ahead on a thread of its own.
pub fn open_data(v: &Verified) -> Result<Box<dyn Read>> {
    let kind = v.head.data.compression.kind;
    let volumes = v.data_volumes.clone();
    let dir = v.dir.clone();
    let ahead = ReadAhead::spawn(move || {
        Codec::decoder(
            kind,
            io::BufReader::with_capacity(1 << 20, Concat::new(volumes)),
        )
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
    })
    .at(&v.dir)?;
    Ok(Box::new(ahead))
}

/// The package tar stream (uncompressed).
pub fn open_rpms(v: &Verified) -> Result<Box<dyn Read>> {
    Codec::decoder(Compression::None, Concat::new(v.rpms_volumes.clone())).at(&v.dir)
}

/// The decrypted secret tar stream of an encrypted snapshot (the DB dump
/// members first, then the secret files). A wrong key is refused here; a
/// corrupted chunk fails the read that reaches it, naming the file.
pub fn open_secrets(v: &Verified, key: &Unlock) -> Result<Box<dyn Read>> {
    let Some(sec) = &v.head.secrets else {
        return Err(Error::Refused(format!(
            "{}: this snapshot has no encrypted secret stream",
            v.dir.display()
        )));
    };
    decrypt_volumes(&v.dir.join(&sec.name), v.secrets_volumes.clone(), key)
}

/// The plaintext tar of the secret stream cut into `volumes` (`shown` names it).
pub fn decrypt_volumes(
    shown: &std::path::Path,
    volumes: Vec<PathBuf>,
    key: &Unlock,
) -> Result<Box<dyn Read>> {
    let cipher = io::BufReader::with_capacity(1 << 20, Concat::new(volumes));
    let plain = key.decrypt(cipher, shown)?;
    Codec::decoder(Compression::Zstd, io::BufReader::new(plain)).at(shown)
}

/// The tar stream that begins with the DB dump: the secret stream of an
/// encrypted snapshot (which needs `key`), else the data stream.
pub fn open_dump(v: &Verified, key: Option<&Unlock>) -> Result<Box<dyn Read>> {
    match (&v.head.secrets, key) {
        (None, _) => open_data(v),
        (Some(_), Some(key)) => open_secrets(v, key),
        (Some(sec), None) => Err(Error::Refused(format!(
            "{}: the DB dump is encrypted; {} is needed to read it",
            v.dir.join(&sec.name).display(),
            sec.key.import_flag()
        ))),
    }
}
