//! The MN's CPU architecture, read from an ELF binary under its root.
//!
//! `uname` would describe the machine running xcatport, not the disk under
//! `--root`, and a 32-bit userland can run on a 64-bit kernel: the packages
//! that matter are the userland's. So the ELF header of the MN's own shell
//! (or another binary every distro has) decides.

use std::fmt;
use std::io::Read;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::mn::root::{RelPath, Root};

/// Binaries every supported distro has; the first one present decides.
pub const PROBES: &[&str] = &[
    "bin/sh",
    "usr/bin/sh",
    "usr/bin/env",
    "bin/ls",
    "usr/bin/ls",
    "sbin/init",
    "usr/lib/systemd/systemd",
    "lib/systemd/systemd",
];

/// An MN architecture, named as rpm and xCAT name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "ppc64le")]
    Ppc64le,
    /// Big-endian POWER, still found on old xCAT MNs.
    #[serde(rename = "ppc64")]
    Ppc64,
    #[serde(rename = "aarch64")]
    Aarch64,
    #[serde(rename = "s390x")]
    S390x,
    #[serde(rename = "i686")]
    I686,
    #[serde(rename = "riscv64")]
    Riscv64,
}

impl Arch {
    /// rpm/xCAT name: `x86_64`, `ppc64le`, `aarch64`, `s390x`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Ppc64le => "ppc64le",
            Arch::Ppc64 => "ppc64",
            Arch::Aarch64 => "aarch64",
            Arch::S390x => "s390x",
            Arch::I686 => "i686",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Debian/Ubuntu name: `amd64`, `ppc64el`, `arm64`, `s390x`.
    pub fn deb_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Ppc64le => "ppc64el",
            Arch::Ppc64 => "ppc64",
            Arch::Aarch64 => "arm64",
            Arch::S390x => "s390x",
            Arch::I686 => "i386",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Accepts either naming (`x86_64` or `amd64`, `ppc64le` or `ppc64el`, …).
    pub fn parse(name: &str) -> Option<Arch> {
        Some(match name {
            "x86_64" | "amd64" => Arch::X86_64,
            "ppc64le" | "ppc64el" => Arch::Ppc64le,
            "ppc64" => Arch::Ppc64,
            "aarch64" | "arm64" => Arch::Aarch64,
            "s390x" => Arch::S390x,
            "i686" | "i386" | "i586" => Arch::I686,
            "riscv64" => Arch::Riscv64,
            _ => return None,
        })
    }

    /// Reads the architecture of the MN under `root` from the first of
    /// [`PROBES`] that exists, following symlinks inside the root
    /// (`bin -> usr/bin`, `sh -> dash` or `-> bash`).
    pub fn detect(root: &Root) -> Result<Arch> {
        for probe in PROBES {
            let path = root.resolve(&RelPath::new(probe)?)?;
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if crate::mn::root::is_missing(&e) => continue,
                Err(e) => return Err(Error::io(path, e)),
            };
            let mut header = [0u8; 20];
            let n = read_up_to(&mut f, &mut header).at(&path)?;
            return Arch::from_elf_header(&header[..n]).map_err(|m| Error::format(&path, 0, m));
        }
        Err(Error::Refused(format!(
            "{}: none of {} exists: cannot tell the MN's architecture",
            root.path().display(),
            PROBES.join(", ")
        )))
    }

    /// The architecture from the first 20 bytes of an ELF file.
    pub fn from_elf_header(h: &[u8]) -> std::result::Result<Arch, String> {
        if h.len() < 20 || &h[..4] != b"\x7fELF" {
            return Err("not an ELF binary".to_string());
        }
        let wide = match h[4] {
            1 => false,
            2 => true,
            c => return Err(format!("unknown ELF class {c}")),
        };
        let little = match h[5] {
            1 => true,
            2 => false,
            d => return Err(format!("unknown ELF data encoding {d}")),
        };
        let machine = if little {
            u16::from_le_bytes([h[18], h[19]])
        } else {
            u16::from_be_bytes([h[18], h[19]])
        };
        // e_machine values from the System V ABI registry.
        let arch = match (machine, wide, little) {
            (62, true, _) => Arch::X86_64,
            (3, false, _) => Arch::I686,
            (21, true, true) => Arch::Ppc64le,
            (21, true, false) => Arch::Ppc64,
            (183, true, _) => Arch::Aarch64,
            (22, true, false) => Arch::S390x,
            (243, true, _) => Arch::Riscv64,
            _ => {
                return Err(format!(
                    "ELF machine {machine} ({}-bit, {} endian) is not an architecture xCAT runs on",
                    if wide { 64 } else { 32 },
                    if little { "little" } else { "big" }
                ))
            }
        };
        Ok(arch)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte ELF header prefix for (class, data, machine).
    pub(crate) fn header(wide: bool, little: bool, machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF".to_vec();
        h.push(if wide { 2 } else { 1 });
        h.push(if little { 1 } else { 2 });
        h.extend([1, 0]);
        h.extend([0; 8]);
        h.extend(if little { [2, 0] } else { [0, 2] });
        h.extend(if little {
            machine.to_le_bytes()
        } else {
            machine.to_be_bytes()
        });
        h
    }

    #[test]
    fn maps_every_supported_machine() {
        let cases = [
            (true, true, 62, Arch::X86_64),
            (true, true, 21, Arch::Ppc64le),
            (true, false, 21, Arch::Ppc64),
            (true, true, 183, Arch::Aarch64),
            (true, false, 22, Arch::S390x),
            (false, true, 3, Arch::I686),
            (true, true, 243, Arch::Riscv64),
        ];
        for (wide, little, m, want) in cases {
            assert_eq!(Arch::from_elf_header(&header(wide, little, m)), Ok(want));
        }
    }

    #[test]
    fn refuses_non_elf_and_unknown_machines() {
        assert_eq!(
            Arch::from_elf_header(b"#!/bin/sh\necho hi\n\n\n"),
            Err("not an ELF binary".to_string())
        );
        assert_eq!(
            Arch::from_elf_header(&header(false, true, 40)),
            Err(
                "ELF machine 40 (32-bit, little endian) is not an architecture xCAT runs on"
                    .to_string()
            )
        );
        assert!(Arch::from_elf_header(b"\x7fELF").is_err());
    }

    #[test]
    fn names_round_trip() {
        for a in [Arch::X86_64, Arch::Ppc64le, Arch::Aarch64, Arch::S390x] {
            assert_eq!(Arch::parse(a.as_str()), Some(a));
            assert_eq!(Arch::parse(a.deb_name()), Some(a));
        }
    }

    #[test]
    fn reads_this_machines_shell() {
        // The host's own /bin/sh, through a root at /: whatever this runs on.
        let a = Arch::detect(&Root::open("/").unwrap()).unwrap();
        let want = match (std::env::consts::ARCH, cfg!(target_endian = "little")) {
            ("powerpc64", true) => "ppc64le",
            ("powerpc64", false) => "ppc64",
            ("x86", _) => "i686",
            (other, _) => other,
        };
        assert_eq!(a.as_str(), want);
    }
}
