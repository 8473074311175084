//! What the export wrote into each stick file, for its verifying re-read.
//!
//! Every stick file's SHA-256 is computed as it is written: SHA256SUMS
//! needs it. Re-reading the stick to compute the SHA-256 again would hash
//! the data a third time (after the source files and the volumes), on one
//! core for a single large volume: the largest single cost of an export.
//! The re-read instead compares an XXH3-128 of the bytes read back with
//! one of the bytes written. That shows what a re-read can show — the
//! target returns exactly the bytes written, so the SHA-256 computed from
//! them holds for the file — at memory speed. SHA256SUMS stays the only
//! checksum on the stick; these checks are never written anywhere.

use super::hash::WrittenCheck;
use std::collections::BTreeMap;

/// The [`WrittenCheck`] of each stick file (by name) that a writer recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBack(BTreeMap<String, WrittenCheck>);

impl ReadBack {
    pub fn insert(&mut self, name: &str, check: WrittenCheck) {
        self.0.insert(name.to_string(), check);
    }

    pub fn extend(&mut self, other: ReadBack) {
        self.0.extend(other.0);
    }

    pub fn get(&self, name: &str) -> Option<&WrittenCheck> {
        self.0.get(name)
    }

    /// Follows a file's rename (a single volume that keeps the plain name).
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(check) = self.0.remove(from) {
            self.0.insert(to.to_string(), check);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
