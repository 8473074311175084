//! A small real ext4 filesystem in an image file, loop-mounted for
//! one test (needs root) and unmounted when dropped. The image stays
//! reachable: a test can change the bytes "on the device" behind the
//! mounted filesystem's page cache.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct LoopFs {
    pub mnt: PathBuf,
    pub image: PathBuf,
    _dir: tempfile::TempDir,
}

impl LoopFs {
    /// A fresh ext4 of `size` (as `truncate -s` reads it). The host
    /// kernel of the test machines has no FAT driver; the VM tests write
    /// to a FAT stick.
    pub fn ext4(size: &str) -> LoopFs {
        let dir = tempfile::Builder::new()
            .prefix("xcatport-loopfs-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let image = dir.path().join("image");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let made = Command::new("truncate")
            .args(["-s", size])
            .arg(&image)
            .status()
            .unwrap();
        assert!(made.success());
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F"])
            .arg(&image)
            .output()
            .unwrap();
        assert!(made.status.success(), "mkfs.ext4: {made:?}");
        let mounted = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(mounted.success(), "mount -o loop");
        LoopFs {
            mnt,
            image,
            _dir: dir,
        }
    }

    pub fn free(&self) -> u64 {
        let st = nix::sys::statvfs::statvfs(&self.mnt).unwrap();
        st.blocks_available() as u64 * st.fragment_size() as u64
    }

    /// Where `needle` lies in the image, if exactly once.
    pub fn find_in_image(&self, needle: &[u8]) -> Option<u64> {
        let image = std::fs::read(&self.image).unwrap();
        let mut found = image
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle)
            .map(|(i, _)| i as u64);
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Overwrites image bytes at `offset`: what a device that does not keep
    /// what it was given would return.
    pub fn change_image(&self, offset: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        let image = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.image)
            .unwrap();
        image.write_all_at(bytes, offset).unwrap();
    }

    /// Sectors (512 bytes) read from the loop device under the mount,
    /// from /sys/block/loopN/stat.
    pub fn sectors_read(&self) -> u64 {
        let out = Command::new("findmnt")
            .args(["-no", "SOURCE"])
            .arg(&self.mnt)
            .output()
            .unwrap();
        let source = String::from_utf8(out.stdout).unwrap();
        let device = source.trim().rsplit('/').next().unwrap().to_string();
        let stat = std::fs::read_to_string(format!("/sys/block/{device}/stat")).unwrap();
        stat.split_whitespace().nth(2).unwrap().parse().unwrap()
    }

    pub fn path(&self) -> &Path {
        &self.mnt
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
    }
}
