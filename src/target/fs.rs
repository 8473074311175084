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
    (MSDOS, "vfat"),
    (EXFAT, "exfat"),
    (0x6969, "nfs"),
    (0x6573_5546, "fuseblk"),
    (0x2fc1_2fc1, "zfs"),
    (0x5346_544e, "ntfs"),
    (0x794c_7630, "overlay"),
];

/// statfs of `dir`.
pub fn inspect(dir: &Path) -> Result<FsInfo> {
    let st = nix::sys::statfs::statfs(dir).map_err(|e| Error::io(dir, e.into()))?;
    let magic = st.filesystem_type().0 as i64;
    let name = NAMES
        .iter()
        .find(|(m, _)| *m == magic)
        .map_or_else(|| format!("0x{magic:x}"), |(_, n)| n.to_string());
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
    }
}
