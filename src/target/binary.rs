//! Finding the standalone `xcatimport` to put on the stick, and making sure
//! it is statically linked (no PT_INTERP program header), so it runs on a
//! bare distro.

use crate::error::IoContext;
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Environment variable naming the binary.
pub const ENV: &str = "XCATPORT_IMPORT_BINARY";

/// Candidates in order: `--import-binary`, `$XCATPORT_IMPORT_BINARY`,
/// `<own dir>/xcatimport-static`, `<own dir>/../libexec/xcatport/xcatimport`.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        out.push(PathBuf::from(p));
    }
    if let Some(own) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(own.join("xcatimport-static"));
        out.push(own.join("../libexec/xcatport/xcatimport"));
    }
    out
}

/// The first existing candidate, checked to be a static ELF executable.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    let list = candidates(explicit);
    let found = if explicit.is_some() {
        list.first().cloned()
    } else {
        list.iter().find(|p| p.is_file()).cloned()
    };
    let Some(path) = found else {
        let searched: Vec<_> = list.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Refused(format!(
            "no static xcatimport found (searched: --import-binary, ${ENV}, {}); build it with scripts/build or pass --import-binary PATH",
            searched.join(", ")
        )));
    };
    check_static(&path)?;
    Ok(path)
}

/// Refuses anything that is not an ELF executable without an interpreter.
pub fn check_static(path: &Path) -> Result<()> {
    let mut f = std::fs::File::open(path).at(path)?;
    let mut head = vec![0u8; 64];
    let n = f.read(&mut head).at(path)?;
    let bad = |what: &str| Error::Refused(format!("{}: {what}", path.display()));
    if n < 52 || &head[..4] != b"\x7fELF" {
        return Err(bad("not an ELF executable"));
    }
    let is64 = head[4] == 2;
    let le = head[5] == 1;
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        u64::from(if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        u64::from(if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        })
    };
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(&head, 32), u16_at(&head, 54), u16_at(&head, 56))
    } else {
        (u32_at(&head, 28), u16_at(&head, 42), u16_at(&head, 44))
    };
    let table_len = phentsize
        .checked_mul(phnum)
        .filter(|&l| l <= 1 << 20 && phentsize >= 4);
    let Some(table_len) = table_len else {
        return Err(bad("malformed ELF program header table"));
    };
    let mut table = vec![0u8; table_len as usize];
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(phoff)).at(path)?;
    f.read_exact(&mut table)
        .map_err(|_| bad("truncated ELF program header table"))?;
    const PT_INTERP: u64 = 3;
    for i in 0..phnum as usize {
        if u32_at(&table, i * phentsize as usize) == PT_INTERP {
            return Err(bad(
                "dynamically linked (it has an ELF interpreter); the stick needs a static xcatimport (musl or static glibc) that runs on a bare distro",
            ));
        }
    }
    Ok(())
}

/// A minimal static ELF64 little-endian executable header with one PT_LOAD,
/// for tests elsewhere in the crate.
pub fn tiny_static_elf() -> Vec<u8> {
    let mut b = vec![0u8; 64 + 56];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2; // 64-bit
    b[5] = 1; // little endian
    b[6] = 1;
    b[16] = 2; // ET_EXEC
    b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    b[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_elf_passes_and_a_dynamic_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("xi");
        std::fs::write(&p, tiny_static_elf()).unwrap();
        check_static(&p).unwrap();
        let err = check_static(Path::new("/bin/ls")).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        std::fs::write(&p, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(check_static(&p)
            .unwrap_err()
            .to_string()
            .contains("not an ELF"));
    }

    #[test]
    fn a_missing_binary_names_the_places_searched() {
        let err = locate(Some(Path::new("/nonexistent/xi")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/xi"), "{err}");
    }
}
