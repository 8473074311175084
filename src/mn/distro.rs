//! Which Linux distribution the MN runs, read from files under its root.
//!
//! `etc/os-release` (or `usr/lib/os-release`) is the source of truth; MNs old
//! enough to lack it are recognised by `etc/redhat-release`,
//! `etc/SuSE-release`, `etc/lsb-release` or `etc/debian_version`. xCAT cares
//! about the family (which package format, which service and config file
//! names) and the restore cares about the exact release, so both are kept.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::mn::root::{RelPath, Root};

/// The distro families xCAT supports on an MN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// RHEL and its rebuilds (Rocky, Alma, CentOS, Oracle): rpm with yum/dnf.
    Rhel,
    /// SLES and openSUSE: rpm with zypper.
    Sles,
    /// Ubuntu and Debian: deb with apt.
    Ubuntu,
}

impl Family {
    /// Lower-case name, as in MANIFEST.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Rhel => "rhel",
            Family::Sles => "sles",
            Family::Ubuntu => "ubuntu",
        }
    }

    /// The family of an os-release `ID` or `ID_LIKE` word, if known.
    pub fn from_id(id: &str) -> Option<Family> {
        match id {
            "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "fedora" | "scientific"
            | "redhat" => Some(Family::Rhel),
            "sles"
            | "sled"
            | "sles_sap"
            | "suse"
            | "opensuse"
            | "opensuse-leap"
            | "opensuse-tumbleweed" => Some(Family::Sles),
            "ubuntu" | "debian" => Some(Family::Ubuntu),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The distribution of an MN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Distro {
    pub family: Family,
    /// The exact `ID`, e.g. `rocky`, `sles`, `debian`.
    pub id: String,
    /// `ID_LIKE` words, in order.
    pub id_like: Vec<String>,
    /// `VERSION_ID`, e.g. `8.9`, `15.5`, `22.04`, `12`.
    pub version: String,
    /// Leading number of the version: 8, 15, 22, 12.
    pub major: u32,
    /// `PRETTY_NAME` (or the release file's first line), for messages.
    pub pretty_name: String,
    /// The MN path it was read from, e.g. `/etc/os-release`.
    pub source: String,
}

impl Distro {
    /// Reads the distro of the MN under `root`.
    pub fn detect(root: &Root) -> Result<Distro> {
        for file in ["etc/os-release", "usr/lib/os-release"] {
            if let Some(text) = read_optional(root, file)? {
                return Distro::from_os_release(&text, file);
            }
        }
        if let Some(text) = read_optional(root, "etc/redhat-release")? {
            return Distro::from_redhat_release(&text, "etc/redhat-release");
        }
        if let Some(text) = read_optional(root, "etc/SuSE-release")? {
            return Distro::from_suse_release(&text, "etc/SuSE-release");
        }
        if let Some(text) = read_optional(root, "etc/lsb-release")? {
            return Distro::from_os_release(&text, "etc/lsb-release");
        }
        if let Some(text) = read_optional(root, "etc/debian_version")? {
            return Distro::from_debian_version(&text, "etc/debian_version");
        }
        Err(Error::Refused(format!(
            "{}: no etc/os-release, usr/lib/os-release, etc/redhat-release, etc/SuSE-release, \
             etc/lsb-release or etc/debian_version: cannot tell which distro this MN runs",
            root.path().display()
        )))
    }

    /// Parses os-release text (`file` is the MN path, for messages). Also
    /// takes `lsb-release` (`DISTRIB_ID`, `DISTRIB_RELEASE`).
    pub fn from_os_release(text: &str, file: &str) -> Result<Distro> {
        let fields = parse_os_release(text);
        let get = |k: &str| fields.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let id = get("ID")
            .or_else(|| get("DISTRIB_ID"))
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| {
                Error::format(display(file), 0, "no ID= line: not an os-release file")
            })?;
        let id_like: Vec<String> = get("ID_LIKE")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let family = Family::from_id(&id)
            .or_else(|| id_like.iter().find_map(|w| Family::from_id(w)))
            .ok_or_else(|| {
                Error::format(
                    display(file),
                    0,
                    format!(
                        "ID={id} (ID_LIKE={}) is not a distro xCAT supports \
                         (RHEL-like, SLES/openSUSE, Ubuntu/Debian)",
                        id_like.join(" ")
                    ),
                )
            })?;
        let version = get("VERSION_ID")
            .or_else(|| get("DISTRIB_RELEASE"))
            .ok_or_else(|| {
                Error::format(
                    display(file),
                    0,
                    format!("ID={id} has no VERSION_ID: cannot tell the release"),
                )
            })?
            .to_string();
        let major = major_of(&version).ok_or_else(|| {
            Error::format(
                display(file),
                0,
                format!("VERSION_ID={version} does not start with a number"),
            )
        })?;
        let pretty_name = get("PRETTY_NAME")
            .or_else(|| get("DISTRIB_DESCRIPTION"))
            .or_else(|| get("NAME"))
            .unwrap_or(&id)
            .to_string();
        Ok(Distro {
            family,
            id,
            id_like,
            version,
            major,
            pretty_name,
            source: display(file),
        })
    }

    /// `Rocky Linux release 8.9 (Green Obsidian)`, `CentOS Linux release 7.9.2009 (Core)`,
    /// `Red Hat Enterprise Linux Server release 7.9 (Maipo)`.
    pub fn from_redhat_release(text: &str, file: &str) -> Result<Distro> {
        let line = text.lines().next().unwrap_or_default().trim();
        let bad = || {
            Error::format(
                display(file),
                1,
                format!("expected \"<name> release <version>\", found {line:?}"),
            )
        };
        let (name, rest) = line.split_once(" release ").ok_or_else(bad)?;
        let version = rest.split_whitespace().next().ok_or_else(bad)?.to_string();
        let major = major_of(&version).ok_or_else(bad)?;
        let id = if name.contains("Red Hat") {
            "rhel"
        } else if name.contains("CentOS") {
            "centos"
        } else if name.contains("Rocky") {
            "rocky"
        } else if name.contains("Alma") {
            "almalinux"
        } else if name.contains("Oracle") {
            "ol"
        } else if name.contains("Scientific") {
            "scientific"
        } else {
            "rhel"
        };
        Ok(Distro {
            family: Family::Rhel,
            id: id.to_string(),
            id_like: vec![],
            version,
            major,
            pretty_name: line.to_string(),
            source: display(file),
        })
    }

    /// `SUSE Linux Enterprise Server 12 (x86_64)` followed by `VERSION = 12`
    /// and `PATCHLEVEL = 5` lines; the version becomes `12.5`.
    pub fn from_suse_release(text: &str, file: &str) -> Result<Distro> {
        let mut lines = text.lines();
        let name = lines.next().unwrap_or_default().trim().to_string();
        let mut version = None;
        let mut patch = None;
        for l in lines {
            if let Some((k, v)) = l.split_once('=') {
                match k.trim() {
                    "VERSION" => version = Some(v.trim().to_string()),
                    "PATCHLEVEL" => patch = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let version =
            version.ok_or_else(|| Error::format(display(file), 0, "no \"VERSION = …\" line"))?;
        let version = match patch {
            Some(p) if !version.contains('.') => format!("{version}.{p}"),
            _ => version,
        };
        let major = major_of(&version).ok_or_else(|| {
            Error::format(
                display(file),
                0,
                format!("VERSION = {version} does not start with a number"),
            )
        })?;
        let id = if name.to_ascii_lowercase().contains("opensuse") {
            "opensuse"
        } else {
            "sles"
        };
        Ok(Distro {
            family: Family::Sles,
            id: id.to_string(),
            id_like: vec!["suse".to_string()],
            version,
            major,
            pretty_name: name,
            source: display(file),
        })
    }

    /// `12.5` → Debian 12 (os-release's VERSION_ID for Debian is the major only).
    pub fn from_debian_version(text: &str, file: &str) -> Result<Distro> {
        let v = text.trim();
        let major = major_of(v).ok_or_else(|| {
            Error::format(
                display(file),
                1,
                format!("{v:?} is not a released Debian version"),
            )
        })?;
        Ok(Distro {
            family: Family::Ubuntu,
            id: "debian".to_string(),
            id_like: vec![],
            version: major.to_string(),
            major,
            pretty_name: format!("Debian {v}"),
            source: display(file),
        })
    }

    /// What must be equal between the source and the restore target: family
    /// and major version, and for the apt family the ID and the whole version
    /// too (Ubuntu 22.04 and 22.10, or Debian and Ubuntu, do not share packages).
    /// Examples: `rhel:8`, `sles:15`, `ubuntu:22.04`, `debian:12`.
    pub fn release_key(&self) -> String {
        match self.family {
            Family::Rhel | Family::Sles => format!("{}:{}", self.family, self.major),
            Family::Ubuntu => format!("{}:{}", self.id, self.version),
        }
    }
}

/// Parses os-release syntax: `KEY=value` lines, `#` comments, values bare,
/// in double quotes (with `\` escapes) or in single quotes. Lines that are not
/// assignments are ignored, as systemd does.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        out.insert(key.to_string(), unquote(raw.trim()));
    }
    out
}

fn unquote(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some('"') => {
            let mut out = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    _ => out.push(c),
                }
            }
            out
        }
        Some('\'') => raw[1..].split('\'').next().unwrap_or_default().to_string(),
        _ => raw
            .split(" #")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn major_of(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn display(file: &str) -> String {
    Path::new("/").join(file).display().to_string()
}

/// The text of a small file under the root, or `None` if it does not exist.
/// Release files are a few hundred bytes; the read is capped regardless.
pub(crate) fn read_optional(root: &Root, file: &str) -> Result<Option<String>> {
    const CAP: u64 = 64 * 1024;
    let path = root.resolve(&RelPath::new(file)?)?;
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut text = String::new();
    f.take(CAP).read_to_string(&mut text).at(&path)?;
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quotes_comments_and_escapes() {
        let f = parse_os_release(
            "# comment\n\nNAME=\"A \\\"B\\\" C\"\nID=plain\nX='single q'\n  BAD LINE\nY=\"\"\nZ=v # trailing\n",
        );
        assert_eq!(f["NAME"], "A \"B\" C");
        assert_eq!(f["ID"], "plain");
        assert_eq!(f["X"], "single q");
        assert_eq!(f["Y"], "");
        assert_eq!(f["Z"], "v");
        assert_eq!(f.len(), 5);
    }

    #[test]
    fn id_like_decides_an_unknown_id() {
        let d = Distro::from_os_release(
            "ID=\"eurolinux\"\nID_LIKE=\"rhel fedora centos\"\nVERSION_ID=\"9.2\"\n",
            "etc/os-release",
        )
        .unwrap();
        assert_eq!(d.family, Family::Rhel);
        assert_eq!(d.id, "eurolinux");
        assert_eq!(d.major, 9);
        assert_eq!(d.pretty_name, "eurolinux");
    }

    #[test]
    fn unknown_distro_is_a_clear_error() {
        let e = Distro::from_os_release("ID=arch\nVERSION_ID=1\n", "etc/os-release").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/os-release: ID=arch (ID_LIKE=) is not a distro xCAT supports \
             (RHEL-like, SLES/openSUSE, Ubuntu/Debian)"
        );
        let e = Distro::from_os_release("ID=debian\n", "etc/os-release").unwrap_err();
        assert!(e.to_string().contains("no VERSION_ID"), "{e}");
        let e = Distro::from_os_release("NAME=x\n", "usr/lib/os-release").unwrap_err();
        assert!(
            e.to_string().starts_with("/usr/lib/os-release: no ID="),
            "{e}"
        );
    }

    #[test]
    fn redhat_release_lines() {
        let d = Distro::from_redhat_release(
            "CentOS Linux release 7.9.2009 (Core)\n",
            "etc/redhat-release",
        )
        .unwrap();
        assert_eq!(
            (d.id.as_str(), d.version.as_str(), d.major),
            ("centos", "7.9.2009", 7)
        );
        let d = Distro::from_redhat_release(
            "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
            "etc/redhat-release",
        )
        .unwrap();
        assert_eq!((d.id.as_str(), d.major), ("rhel", 7));
        assert!(Distro::from_redhat_release("garbage", "etc/redhat-release").is_err());
    }

    #[test]
    fn suse_release_with_patchlevel() {
        let d = Distro::from_suse_release(
            "SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 5\n",
            "etc/SuSE-release",
        )
        .unwrap();
        assert_eq!(
            (d.family, d.id.as_str(), d.version.as_str(), d.major),
            (Family::Sles, "sles", "12.5", 12)
        );
    }

    #[test]
    fn lsb_release_and_debian_version() {
        let d = Distro::from_os_release(
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\nDISTRIB_CODENAME=focal\n",
            "etc/lsb-release",
        )
        .unwrap();
        assert_eq!((d.id.as_str(), d.version.as_str()), ("ubuntu", "20.04"));
        let d = Distro::from_debian_version("11.9\n", "etc/debian_version").unwrap();
        assert_eq!(
            (d.id.as_str(), d.version.as_str(), d.major),
            ("debian", "11", 11)
        );
        assert!(Distro::from_debian_version("bookworm/sid\n", "etc/debian_version").is_err());
    }
}
