//! Per-image core: collect an osimage's files, manifest.xml, the .tgz bundle
//! and its import. Used by imgexport/imgimport and by the snapshot planner.

pub mod columns;
pub mod manifest;

pub use manifest::{Columns, Extra, Manifest, Record};
