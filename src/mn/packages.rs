//! The MN's package manager, its installed xCAT packages and xCAT version.
//!
//! Everything is read from under the root: dpkg's status file is parsed
//! directly (streamed, it can be megabytes), the rpm database is queried with
//! `rpm --root R --dbpath …` because its format (bdb, ndb, sqlite) depends on
//! the distro release. On a live MN (`--root /` with xCAT installed) `lsxcatd
//! -v` is asked first, as the spec prefers it, with the package database as
//! the fallback when xcatd is down.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::mn::distro::{Distro, Family};
use crate::mn::root::{RelPath, Root};

/// Where `lsxcatd` lives on an MN.
pub const LSXCATD: &str = "opt/xcat/bin/lsxcatd";

/// Places an rpm database may be in, newest layout last.
const RPM_DB_DIRS: &[&str] = &["var/lib/rpm", "usr/lib/sysimage/rpm"];
/// Files that mark a directory as holding an rpm database (bdb, ndb, sqlite).
const RPM_DB_FILES: &[&str] = &["Packages", "Packages.db", "rpmdb.sqlite"];
/// dpkg's database of installed packages.
const DPKG_STATUS: &str = "var/lib/dpkg/status";

/// The package manager an MN uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    Dnf,
    Yum,
    Zypper,
    Apt,
}

/// The package format under a package manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    Rpm,
    Deb,
}

impl PackageManager {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Dnf => "dnf",
            PackageManager::Yum => "yum",
            PackageManager::Zypper => "zypper",
            PackageManager::Apt => "apt",
        }
    }

    pub fn format(self) -> PackageFormat {
        match self {
            PackageManager::Apt => PackageFormat::Deb,
            _ => PackageFormat::Rpm,
        }
    }

    /// The package manager of the MN under `root`. The family decides
    /// between rpm and deb worlds; on RHEL-likes the files present decide
    /// between dnf and yum (RHEL 8+ ships `yum` as a link to dnf, so dnf is
    /// looked for first), and the major version when neither is there.
    pub fn detect(root: &Root, distro: &Distro) -> Result<PackageManager> {
        Ok(match distro.family {
            Family::Sles => PackageManager::Zypper,
            Family::Ubuntu => PackageManager::Apt,
            Family::Rhel => {
                if any_exists(
                    root,
                    &[
                        "usr/bin/dnf",
                        "usr/bin/dnf-3",
                        "usr/bin/dnf5",
                        "etc/dnf/dnf.conf",
                    ],
                )? {
                    PackageManager::Dnf
                } else if any_exists(root, &["usr/bin/yum", "etc/yum.conf"])? {
                    PackageManager::Yum
                } else if distro.major >= 8 {
                    PackageManager::Dnf
                } else {
                    PackageManager::Yum
                }
            }
        })
    }
}

impl fmt::Display for PackageManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub name: String,
    /// Full version as the package manager writes it: `[epoch:]version-release`.
    pub version: String,
    pub arch: String,
}

/// True for the packages a snapshot records: xCAT's own and its companions
/// from xcat-dep (spec §3.1).
pub fn is_xcat_related(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.contains("xcat") || matches!(lower.as_str(), "goconserver" | "xnba-undi")
}

/// Installed packages whose names `keep` accepts, from the MN's own
/// package database, sorted by name.
pub fn installed(
    root: &Root,
    format: PackageFormat,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<InstalledPackage>> {
    let mut out = match format {
        PackageFormat::Deb => dpkg_installed(root, keep)?,
        PackageFormat::Rpm => rpm_installed(root, keep)?,
    };
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.arch.cmp(&b.arch)));
    Ok(out)
}

/// Installed packages from `var/lib/dpkg/status`, read as a stream. A
/// missing status file means nothing is installed.
pub fn dpkg_installed(root: &Root, keep: impl Fn(&str) -> bool) -> Result<Vec<InstalledPackage>> {
    let path = root.resolve(&RelPath::new(DPKG_STATUS)?)?;
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(path, e)),
    };
    parse_dpkg_status(BufReader::new(file), &path, keep)
}

/// Parses dpkg status paragraphs; only packages whose `Status` ends in
/// `installed` count (not `config-files`, `half-installed`, …).
pub fn parse_dpkg_status(
    mut r: impl BufRead,
    path: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<InstalledPackage>> {
    #[derive(Default)]
    struct Para {
        name: Option<String>,
        version: Option<String>,
        arch: Option<String>,
        installed: bool,
        start: u64,
    }
    let mut out = Vec::new();
    let mut para = Para::default();
    let mut finish = |p: &mut Para| -> Result<()> {
        let p = std::mem::take(p);
        if let (Some(name), true) = (p.name, p.installed) {
            if keep(&name) {
                let version = p.version.ok_or_else(|| {
                    Error::format(
                        path,
                        p.start,
                        format!("installed package {name} has no Version"),
                    )
                })?;
                out.push(InstalledPackage {
                    name,
                    version,
                    arch: p.arch.unwrap_or_default(),
                });
            }
        }
        Ok(())
    };
    let mut buf = Vec::new();
    let mut lineno = 0u64;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).at(path)?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let line = trim_eol(&buf);
        if line.is_empty() {
            finish(&mut para)?;
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue; // continuation of a multi-line field (Description, Conffiles)
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(Error::format(path, lineno, "expected \"Field: value\""));
        };
        if para.start == 0 {
            para.start = lineno;
        }
        let field = &line[..colon];
        let value = || -> Result<String> {
            std::str::from_utf8(&line[colon + 1..])
                .map(|v| v.trim().to_string())
                .map_err(|_| Error::format(path, lineno, "value is not UTF-8"))
        };
        match field {
            b"Package" => para.name = Some(value()?),
            b"Version" => para.version = Some(value()?),
            b"Architecture" => para.arch = Some(value()?),
            b"Status" => para.installed = value()?.split_whitespace().nth(2) == Some("installed"),
            _ => {}
        }
    }
    finish(&mut para)?;
    Ok(out)
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The rpm database directory under the root, as a host path, if any.
pub fn rpm_db_dir(root: &Root) -> Result<Option<PathBuf>> {
    for dir in RPM_DB_DIRS {
        let d = root.resolve(&RelPath::new(dir)?)?;
        for f in RPM_DB_FILES {
            if d.join(f).is_file() {
                return Ok(Some(d));
            }
        }
    }
    Ok(None)
}

/// Installed packages from the rpm database under the root, through `rpm`.
/// No database means nothing is installed; a database without an `rpm`
/// binary on this machine is an error that says so.
pub fn rpm_installed(root: &Root, keep: impl Fn(&str) -> bool) -> Result<Vec<InstalledPackage>> {
    let Some(db) = rpm_db_dir(root)? else {
        return Ok(vec![]);
    };
    // rpm prefixes --dbpath with --root itself; give it the path inside the
    // root that `resolve` found, so symlinks were followed our way.
    let dbpath = root.relativize(&db)?.to_absolute();
    let args: Vec<std::ffi::OsString> = vec![
        "--root".into(),
        root.path().into(),
        "--dbpath".into(),
        dbpath.into(),
        "-qa".into(),
        "--qf".into(),
        "%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n".into(),
    ];
    let shown = format!("rpm --root {} -qa", root.path().display());
    let out = duct::cmd("rpm", &args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::Command {
            command: shown.clone(),
            detail: if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "rpm is not installed on this machine, but {} holds an rpm database",
                    db.display()
                )
            } else {
                e.to_string()
            },
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: shown,
            detail: one_line(&out.stderr),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pkgs = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [name, epoch, version, release, arch] = f[..] else {
            return Err(Error::Command {
                command: shown,
                detail: format!("unexpected output line {line:?}"),
            });
        };
        if !keep(name) || name == "gpg-pubkey" {
            continue;
        }
        let epoch = if epoch == "(none)" || epoch.is_empty() {
            String::new()
        } else {
            format!("{epoch}:")
        };
        pkgs.push(InstalledPackage {
            name: name.to_string(),
            version: format!("{epoch}{version}-{release}"),
            arch: arch.to_string(),
        });
    }
    Ok(pkgs)
}

fn one_line(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if s.is_empty() {
        "failed with no message".to_string()
    } else {
        s.join("; ")
    }
}

fn any_exists(root: &Root, files: &[&str]) -> Result<bool> {
    for f in files {
        if root.resolve(&RelPath::new(f)?)?.exists() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// An xCAT version: `2.16.5`, with whatever build tag came with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XcatVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// `snap202301011200`, `git commit …, built …`, a package release; not
    /// part of the comparison.
    pub build: Option<String>,
}

impl XcatVersion {
    /// `x.y` or `x.y.z` (a missing patch level is 0).
    pub fn parse_number(s: &str) -> Option<XcatVersion> {
        let mut parts = s.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(XcatVersion {
            major,
            minor,
            patch,
            build: None,
        })
    }

    /// The first line of `lsxcatd -v`:
    /// `Version 2.16.5 (git commit 7c3b…, built Tue Mar 14 06:03:22 EDT 2023)`.
    pub fn parse_lsxcatd(output: &str) -> Option<XcatVersion> {
        let line = output
            .lines()
            .find(|l| l.trim_start().starts_with("Version "))?;
        let rest = line.trim_start().strip_prefix("Version ")?.trim();
        let (number, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut v = XcatVersion::parse_number(number)?;
        let tail = tail
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        v.build = (!tail.is_empty()).then(|| tail.to_string());
        Some(v)
    }

    /// A package version: `2.16.5-snap202301011200`, `4:2.16.5-1`, `2.17.0`.
    pub fn parse_package(version: &str) -> Option<XcatVersion> {
        let no_epoch = match version.split_once(':') {
            Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => rest,
            _ => version,
        };
        let (number, release) = match no_epoch.split_once('-') {
            Some((n, r)) => (n, Some(r)),
            None => (no_epoch, None),
        };
        let mut v = XcatVersion::parse_number(number)?;
        v.build = release.filter(|r| !r.is_empty()).map(str::to_string);
        Some(v)
    }

    /// Design rule: the same x.y.z is the same xCAT, whatever the build.
    pub fn same_release(&self, other: &XcatVersion) -> bool {
        (self.major, self.minor, self.patch) == (other.major, other.minor, other.patch)
    }

    /// `2.16.5`, without the build.
    pub fn release(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl fmt::Display for XcatVersion {
    /// `2.16.5` or `2.16.5 (snap202301011200)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.release())?;
        if let Some(b) = &self.build {
            write!(f, " ({b})")?;
        }
        Ok(())
    }
}

/// xCAT as installed on an MN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XcatInstall {
    pub version: XcatVersion,
    /// How the version was found: `lsxcatd -v`, `rpm xCAT`, `dpkg xcat`, …
    pub source: String,
    /// Every xCAT-related package installed (see [`is_xcat_related`]).
    pub packages: Vec<InstalledPackage>,
}

/// Packages whose version is xCAT's version, most telling first.
const VERSION_PACKAGES: &[&str] = &[
    "xCAT",
    "xcat",
    "xCAT-server",
    "xcat-server",
    "perl-xCAT",
    "perl-xcat",
];

impl XcatInstall {
    /// xCAT on the MN under `root`, or `None` when it is not installed.
    pub fn detect(root: &Root, format: PackageFormat) -> Result<Option<XcatInstall>> {
        let packages = installed(root, format, is_xcat_related)?;
        if let Some(v) = live_lsxcatd(root) {
            return Ok(Some(XcatInstall {
                version: v,
                source: "lsxcatd -v".to_string(),
                packages,
            }));
        }
        let tool = match format {
            PackageFormat::Rpm => "rpm",
            PackageFormat::Deb => "dpkg",
        };
        for want in VERSION_PACKAGES {
            if let Some(p) = packages.iter().find(|p| p.name == *want) {
                let version = XcatVersion::parse_package(&p.version).ok_or_else(|| {
                    Error::Refused(format!(
                        "{}: package {} has version {:?}, which is not an xCAT version x.y.z",
                        root.path().display(),
                        p.name,
                        p.version
                    ))
                })?;
                return Ok(Some(XcatInstall {
                    version,
                    source: format!("{tool} {}", p.name),
                    packages,
                }));
            }
        }
        Ok(None)
    }
}

/// `lsxcatd -v` on a live MN; `None` when this is not one or xcatd does not
/// answer (then the package database decides).
fn live_lsxcatd(root: &Root) -> Option<XcatVersion> {
    if !root.is_host_root() {
        return None;
    }
    let bin = root.join(&RelPath::new(LSXCATD).ok()?);
    if !bin.is_file() {
        return None;
    }
    let out = duct::cmd(&bin, ["-v"])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    XcatVersion::parse_lsxcatd(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsxcatd_line() {
        let v = XcatVersion::parse_lsxcatd(
            "Version 2.8.5 (git commit 0d4888af5a7a96ed521c1c6e3a3c8b6a13e3d2e4, built Tue Jul 29 02:22:47 EDT 2014)\n",
        )
        .unwrap();
        assert_eq!(v.release(), "2.8.5");
        assert_eq!(
            v.build.as_deref(),
            Some("git commit 0d4888af5a7a96ed521c1c6e3a3c8b6a13e3d2e4, built Tue Jul 29 02:22:47 EDT 2014")
        );
        assert_eq!(
            XcatVersion::parse_lsxcatd("Version 2.17.0\n")
                .unwrap()
                .release(),
            "2.17.0"
        );
        assert!(XcatVersion::parse_lsxcatd("lsxcatd: cannot connect to xcatd\n").is_none());
    }

    #[test]
    fn package_versions() {
        let v = XcatVersion::parse_package("2.16.5-snap202301011200").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (2, 16, 5));
        assert_eq!(v.build.as_deref(), Some("snap202301011200"));
        assert_eq!(v.to_string(), "2.16.5 (snap202301011200)");
        let v = XcatVersion::parse_package("4:2.17.0-1.el8").unwrap();
        assert_eq!(
            (v.release().as_str(), v.build.as_deref()),
            ("2.17.0", Some("1.el8"))
        );
        assert_eq!(
            XcatVersion::parse_package("2.9").unwrap().release(),
            "2.9.0"
        );
        for bad in ["", "abc", "2", "2.x.1", "1.2.3.4-1", "x:2.16.5"] {
            assert!(XcatVersion::parse_package(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn same_release_ignores_build() {
        let a = XcatVersion::parse_package("2.16.5-snap202301011200").unwrap();
        let b = XcatVersion::parse_lsxcatd("Version 2.16.5 (git commit abc, built x)").unwrap();
        let c = XcatVersion::parse_package("2.16.4-snap202301011200").unwrap();
        let d = XcatVersion::parse_package("2.17.5").unwrap();
        assert!(a.same_release(&b));
        assert!(!a.same_release(&c));
        assert!(!a.same_release(&d));
    }

    #[test]
    fn dpkg_status_paragraphs() {
        let status = b"Package: xcat\nStatus: install ok installed\nVersion: 2.16.5-snap202304201112\nArchitecture: amd64\nDescription: meta\n multi line\n .\n\nPackage: xcat-client\nStatus: deinstall ok config-files\nVersion: 2.16.4-snap1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\nPackage: perl-xcat\nStatus: hold ok installed\nArchitecture: all\nVersion: 2.16.5-snap202304201112\n";
        let got = parse_dpkg_status(&status[..], Path::new("/s"), is_xcat_related).unwrap();
        assert_eq!(
            got,
            vec![
                InstalledPackage {
                    name: "xcat".into(),
                    version: "2.16.5-snap202304201112".into(),
                    arch: "amd64".into()
                },
                InstalledPackage {
                    name: "perl-xcat".into(),
                    version: "2.16.5-snap202304201112".into(),
                    arch: "all".into()
                },
            ]
        );
    }

    #[test]
    fn dpkg_status_garbage_names_file_and_line() {
        let e = parse_dpkg_status(
            &b"Package: a\nStatus: install ok installed\nnonsense\n"[..],
            Path::new("/r/var/lib/dpkg/status"),
            |_| true,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/r/var/lib/dpkg/status:3: expected \"Field: value\""
        );
        let e = parse_dpkg_status(
            &b"\nPackage: a\nStatus: install ok installed\n"[..],
            Path::new("/s"),
            |_| true,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "/s:2: installed package a has no Version");
    }
}
