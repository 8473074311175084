//! Per-image core: collect an osimage's files, manifest.xml, the .tgz bundle
//! and its import. Used by imgexport/imgimport and by the snapshot planner.

pub mod bundle;
pub mod collect;
pub mod columns;
pub mod cpio;
pub mod db;
pub mod import;
pub mod manifest;
pub mod pack;
pub mod pgzip;
pub mod remote;

pub use bundle::{BundleReader, BundleWriter, GzOptions, Listing, Member, MemberKind, Packing};
pub use collect::{collect, CollectOptions, Collected, Entry, Role, Source};
pub use db::{BackendDb, ImageDb, RowChange};
pub use manifest::{Columns, Extra, Manifest, Record};
