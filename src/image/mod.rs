//! Per-image core: collect an osimage's files, manifest.xml, the .tgz bundle
//! and its import. Used by imgexport/imgimport and by the snapshot planner.
