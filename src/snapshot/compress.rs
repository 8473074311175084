//! Compression of the data stream: multithreaded zstd (default), multithreaded
//! xz, or none. Decoders for the reader are here too, so both sides agree.

use super::background::BackgroundWriter;
use super::frames::ZstdFrames;
use crate::cli::Compression;
use crate::{Error, Result};
use std::io::{self, Read, Write};

/// A chosen codec with its level and worker count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Codec {
    pub kind: Compression,
    pub level: i32,
    #[serde(skip)]
    pub workers: u32,
}

impl Codec {
    /// Default level per codec (zstd 3, xz 6), one worker per core.
    pub fn new(kind: Compression, level: Option<i32>) -> Result<Codec> {
        let level = match (kind, level) {
            (Compression::Zstd, None) => 3,
            (Compression::Xz, None) => 6,
            (Compression::None, _) => 0,
            (Compression::Zstd, Some(l)) if (1..=19).contains(&l) => l,
            (Compression::Xz, Some(l)) if (0..=9).contains(&l) => l,
            (_, Some(l)) => {
                return Err(Error::Refused(format!(
                    "--level {l}: zstd takes 1-19, xz 0-9"
                )))
            }
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        Ok(Codec {
            kind,
            level,
            workers,
        })
    }

    /// File name suffix after `.tar`.
    pub fn suffix(&self) -> &'static str {
        match self.kind {
            Compression::Zstd => ".zst",
            Compression::Xz => ".xz",
            Compression::None => "",
        }
    }

    /// Wraps `inner` in this codec's encoder.
    pub fn encoder<W: Write + Send + 'static>(&self, inner: W) -> io::Result<Encoder<W>> {
        Ok(match self.kind {
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, self.level)?;
                if self.workers > 1 {
                    enc.multithread(self.workers)?;
                    // zstd's default job (4 windows, 8 MiB at level 3) keeps
                    // ~16 MiB per worker in flight once the input arrives
                    // faster than it compresses; 4 MiB halves that for a
                    // ratio loss in the fifth digit.
                    enc.set_parameter(zstd::zstd_safe::CParameter::JobSize(ZSTD_JOB))?;
                }
                enc.include_checksum(true)?;
                Encoder::Zstd(enc)
            }
            Compression::Xz => {
                let stream = liblzma::stream::MtStreamBuilder::new()
                    .threads(self.workers.max(1))
                    .preset(self.level as u32)
                    .check(liblzma::stream::Check::Crc64)
                    .encoder()
                    .map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(inner, stream))
            }
            Compression::None => Encoder::Plain(inner),
        })
    }

    /// The whole compression stage for a large stream into `inner`, with
    /// threads of its own so that the caller only reads and hashes: zstd as
    /// independent frames on every core ([`ZstdFrames`]), or the encoder
    /// between two background writers.
    pub fn pipeline<W: Write + Send + 'static>(&self, inner: W) -> io::Result<Pipeline<W>> {
        if self.kind == Compression::Zstd && self.workers > 1 {
            return Ok(Pipeline::Frames(ZstdFrames::spawn(
                inner,
                self.level,
                self.workers,
            )?));
        }
        let out = BackgroundWriter::spawn(inner)?;
        Ok(Pipeline::Staged(BackgroundWriter::spawn(
            self.encoder(out)?,
        )?))
    }

    /// A decoder reading this codec's stream from `inner`.
    pub fn decoder<'a, R: Read + 'a>(
        kind: Compression,
        inner: R,
    ) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match kind {
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
            Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(inner)),
            Compression::None => Box::new(inner),
        })
    }
}

/// Bytes per multithreaded zstd job.
const ZSTD_JOB: u32 = 4 << 20;

/// The encoder side; `finish` flushes the codec's trailer and returns the inner writer.
pub enum Encoder<W: Write> {
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
    Plain(W),
}

impl<W: Write> Encoder<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Zstd(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
            Encoder::Plain(mut w) => {
                w.flush()?;
                Ok(w)
            }
        }
    }
}

/// See [`Codec::pipeline`]; `finish` returns the inner writer once every
/// byte is compressed and written.
pub enum Pipeline<W: Write + Send + 'static> {
    Frames(ZstdFrames<W>),
    Staged(BackgroundWriter<Encoder<BackgroundWriter<W>>>),
}

impl<W: Write + Send + 'static> Pipeline<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Pipeline::Frames(f) => f.finish(),
            Pipeline::Staged(s) => s.finish()?.finish()?.finish(),
        }
    }
}

impl<W: Write + Send + 'static> Write for Pipeline<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Pipeline::Frames(f) => f.write(buf),
            Pipeline::Staged(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Pipeline::Frames(f) => f.flush(),
            Pipeline::Staged(s) => s.flush(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Plain(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Plain(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 13) as u8).collect();
        for kind in [Compression::Zstd, Compression::Xz, Compression::None] {
            let codec = Codec::new(kind, None).unwrap();
            let mut enc = codec.encoder(Vec::new()).unwrap();
            enc.write_all(&data).unwrap();
            let out = enc.finish().unwrap();
            let mut back = Vec::new();
            Codec::decoder(kind, &out[..])
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{kind:?}");
        }
    }

    #[test]
    fn levels_out_of_range_are_refused() {
        assert!(Codec::new(Compression::Zstd, Some(20)).is_err());
        assert!(Codec::new(Compression::Xz, Some(10)).is_err());
        assert_eq!(Codec::new(Compression::Xz, None).unwrap().level, 6);
    }
}
