//! Per-image core: collect an osimage's files, manifest.xml, the .tgz bundle
//! and its import. Used by imgexport/imgimport and by the snapshot planner.

pub mod bundle;
pub mod columns;
pub mod manifest;
pub mod pgzip;

pub use bundle::{BundleReader, BundleWriter, GzOptions, Listing, Member, MemberKind, Packing};
pub use manifest::{Columns, Extra, Manifest, Record};
