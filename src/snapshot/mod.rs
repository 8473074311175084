//! The on-stick format: writer, reader, verification and split volumes.
//!
//! A snapshot directory holds `xcatimport`, the data stream `xcat-data.tar.*`
//! (possibly cut into `.000`, `.001` … byte slices), `MANIFEST.json`,
//! `README.txt` and `SHA256SUMS`, which is written last and is the commit
//! marker. The writer makes one streaming pass over the plan; [`verify`]
//! re-reads what was written and is the only way to obtain a [`Verified`]
//! snapshot, which [`reader`] turns back into a tar stream. With `--encrypt`
//! the secret files and the DB dump go into a second stream,
//! `xcat-secrets.tar.zst.age`, encrypted with age ([`crypt`]).

pub mod background;
pub mod compress;
pub mod crypt;
pub mod db;
pub mod frames;
pub mod hash;
pub mod manifest;
pub mod readahead;
pub mod readback;
pub mod reader;
pub mod reread;
pub mod sums;
pub mod tarball;
#[cfg(test)]
mod test_io;
pub mod verify;
pub mod volume;
pub mod writeback;
pub mod writer;

pub use compress::Codec;
pub use crypt::{KeyKind, Lock, Unlock};
pub use db::{DbDumpSource, DirDump, LiveDb, NoDatabase};
pub use manifest::{FileRecord, ManifestHead, SecretsRecord, SourceFacts, VolumeRecord};
pub use readback::ReadBack;
pub use verify::{verify, verify_reporting, verify_written, Verified};
pub use writer::{write_snapshot, WriteOptions, WriteReport};

/// File names on the stick.
pub const MANIFEST: &str = "MANIFEST.json";
pub const SUMS: &str = "SHA256SUMS";
pub const README: &str = "README.txt";
pub const IMPORT_BINARY: &str = "xcatimport";
pub const DATA_BASE: &str = "xcat-data.tar";
pub const RPMS: &str = "xcat-rpms.tar";
/// The encrypted secret stream (only with `--encrypt`): always zstd, then age.
pub const SECRETS: &str = "xcat-secrets.tar.zst.age";
/// Where the DB dump lives inside the data stream.
pub const DB_DIR_IN_TAR: &str = ".xcatport/db";
/// Names a target may contain without being "non-empty" (filesystem furniture).
pub const FURNITURE: &[&str] = &["lost+found", "System Volume Information"];
