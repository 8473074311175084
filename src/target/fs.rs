//! The target's filesystem: type (statfs magic) and free space.

use crate::{Error, Result};
use std::path::Path;

/// What statfs says about a directory's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsInfo {
    pub name: String,
    /// Bytes available to an unprivileged writer... and to root, conservatively.
    pub free: u64,
    /// FAT/exFAT: files up to 4 GiB − 1 (FAT32), no Unix modes or owners.
    pub fat: bool,
}

const MSDOS: i64 = 0x4d44;
const EXFAT: i64 = 0x2011_bab0;
const NAMES: &[(i64, &str)] = &[
    (0xef53, "ext4"),
    (0x5846_5342, "xfs"),
    (0x9123_683e, "btrfs"),
    (0x0102_1994, "tmpfs"),
    (0x8584_58f6, "ramfs"),
    (MSDOS, "vfat"),
    (EXFAT, "exfat"),
    (0x6969, "nfs"),
    (0x6573_5546, "fuseblk"),
    (0x2fc1_2fc1, "zfs"),
    (0x5346_544e, "ntfs"),
    (0x794c_7630, "overlay"),
];

/// The magic as a plain number: nix's named constants are partly gated
/// off on musl (XFS among them), and the static xcatimport is built there.
fn magic_of(st: &nix::sys::statfs::Statfs) -> i64 {
    #[allow(clippy::unnecessary_cast)]
    let magic = st.filesystem_type().0 as i64;
    magic
}

fn known_name(magic: i64) -> Option<&'static str> {
    NAMES.iter().find(|(m, _)| *m == magic).map(|(_, n)| *n)
}

/// The type name of the filesystem an open file lies on ("ext4", "xfs",
/// ...), or None when statfs fails or the type is not one we know.
pub fn name_of_file(file: &std::fs::File) -> Option<&'static str> {
    let st = nix::sys::statfs::fstatfs(file).ok()?;
    known_name(magic_of(&st))
}

/// statfs of `dir`.
pub fn inspect(dir: &Path) -> Result<FsInfo> {
    let st = nix::sys::statfs::statfs(dir).map_err(|e| Error::io(dir, e.into()))?;
    let magic = magic_of(&st);
    let name = known_name(magic).map_or_else(|| format!("0x{magic:x}"), str::to_string);
    Ok(FsInfo {
        name,
        free: st.blocks_available() * st.block_size() as u64,
        fat: magic == MSDOS || magic == EXFAT,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_directory_has_a_type_and_free_space() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let fs = super::inspect(dir.path()).unwrap();
        assert!(fs.free > 0);
        assert!(!fs.fat);
        assert!(!fs.name.is_empty());
        let file = std::fs::File::create(dir.path().join("f")).unwrap();
        if let Some(name) = super::name_of_file(&file) {
            assert_eq!(name, fs.name, "statfs and fstatfs agree");
        }
    }
}
