//! The repos and packages steps: the stick's package repos are copied to
//! the new MN's disk and registered (the stick may be unplugged later), then
//! xCAT is installed from them with the distro's package manager.
//!
//! What gets installed is decided before anything changes ([`choose`]): the
//! repo index on the stick must offer xCAT's meta package (`xCAT` for rpm,
//! `xcat` for deb) at the snapshot's version x.y.z; the meta package pulls
//! in the server, client, perl library and xcat-dep companions. The other
//! packages MANIFEST.json records as installed on the source (optional
//! xCAT packages such as xCAT-openbmc-py) are installed with it when the
//! stick's repos offer them, and listed for the admin when they do not.

use crate::error::IoContext;
use crate::mn::packages::{InstalledPackage, PackageFormat, XcatInstall};
use crate::mn::root::{RelPath, Root};
use crate::mn::{Family, PackageManager, XcatVersion};
use crate::repo::{self, RepoIndex, RepoKind, KEYS_DIR, REPOS_DIR};
use crate::restore::{Journal, StepAction};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What the repos step created, for rollback (in the journal directory).
const REPOS_RECORD: &str = "repos-created.json";

/// Reads `xcatport-repos.json`, the first member of an `xcat-rpms.tar`
/// stream; `shown` names the stick's file in errors. The registration
/// reads it through the same checks, so a bad index stops the preflight.
pub fn read_index(rpms: impl Read, shown: &Path) -> Result<RepoIndex> {
    let mut archive = tar::Archive::new(rpms);
    let mut entries = archive.entries().at(shown)?;
    crate::repo::register::read_index_member(&mut entries, shown)
}

/// xCAT's meta package for a package format.
pub fn meta_package(format: PackageFormat) -> &'static str {
    match format {
        PackageFormat::Rpm => "xCAT",
        PackageFormat::Deb => "xcat",
    }
}

/// The packages to install and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageChoice {
    pub manager: PackageManager,
    /// Names (pinned `name-version` for rpm when the repos offer several).
    pub packages: Vec<String>,
    /// The offered version that will be installed, as the repo writes it.
    pub version: String,
    /// The source's other recorded packages the stick's repos offer,
    /// installed in the same transaction.
    pub extras: Vec<String>,
    /// Recorded packages the stick's repos lack: `name version arch`, for
    /// the admin to install.
    pub missing: Vec<String>,
}

impl PackageChoice {
    /// Adds the source's `recorded` packages: those `index` offers by name
    /// to the install (pinned to the recorded version when the repos offer
    /// several and that one among them), the rest to `missing`.
    pub fn with_recorded(mut self, index: &RepoIndex, recorded: &[InstalledPackage]) -> Self {
        let meta = meta_package(self.manager.format());
        for p in recorded.iter().filter(|p| p.name != meta) {
            let offered: Vec<&repo::RepoPackage> = index
                .repos
                .iter()
                .flat_map(|r| &r.packages)
                .filter(|o| o.name == p.name)
                .collect();
            if offered.is_empty() {
                self.missing
                    .push(format!("{} {} {}", p.name, p.version, p.arch));
                continue;
            }
            let several = offered.iter().any(|o| o.version != offered[0].version);
            let has_recorded = offered.iter().any(|o| o.version == p.version);
            let name = match (several && has_recorded, self.manager.format()) {
                (true, PackageFormat::Rpm) => format!("{}-{}", p.name, p.version),
                _ => p.name.clone(),
            };
            if !self.extras.contains(&name) {
                self.extras.push(name);
            }
        }
        self
    }

    /// `; with the source's a, b; not on the stick, install yourself: c 1 noarch`,
    /// or nothing when there are neither.
    pub fn recorded_note(&self) -> String {
        let mut s = String::new();
        if !self.extras.is_empty() {
            s.push_str(&format!("; with the source's {}", self.extras.join(", ")));
        }
        if !self.missing.is_empty() {
            s.push_str(&format!(
                "; not on the stick, install yourself: {}",
                self.missing.join(", ")
            ));
        }
        s
    }
}

/// Decides what the packages step installs from `index`, for an MN of
/// `family` using `manager`, at the snapshot's xCAT version `want`. The
/// error is one sentence saying what is wrong with the stick's repos.
pub fn choose(
    index: &RepoIndex,
    family: Family,
    manager: PackageManager,
    want: Option<&XcatVersion>,
) -> std::result::Result<PackageChoice, String> {
    let kind = match family {
        Family::Rhel | Family::Sles => RepoKind::RpmMd,
        Family::Ubuntu => RepoKind::Deb,
    };
    if let Some(r) = index.repos.iter().find(|r| r.kind != kind) {
        return Err(format!(
            "the stick's repo {} is a {:?} repository, which a {family} MN cannot install from",
            r.name, r.kind
        ));
    }
    let meta = meta_package(manager.format());
    let offered: Vec<&repo::RepoPackage> = index
        .repos
        .iter()
        .flat_map(|r| &r.packages)
        .filter(|p| p.name == meta)
        .collect();
    if offered.is_empty() {
        return Err(format!(
            "the stick's repos do not offer the {meta} package, so xCAT cannot be installed from them"
        ));
    }
    let fits = |p: &&&repo::RepoPackage| match want {
        None => true,
        Some(w) => XcatVersion::parse_package(&p.version).is_some_and(|v| v.same_release(w)),
    };
    let Some(chosen) = offered.iter().find(fits) else {
        let versions: Vec<&str> = offered.iter().map(|p| p.version.as_str()).collect();
        return Err(format!(
            "the stick's repos offer {meta} {}, but MANIFEST.json records xCAT {}",
            versions.join(", "),
            want.map_or("?".to_string(), XcatVersion::release)
        ));
    };
    let several = offered.iter().any(|p| p.version != chosen.version);
    let name = match (several, manager.format()) {
        // dnf, yum and zypper read name-[epoch:]version-release.
        (true, PackageFormat::Rpm) => format!("{meta}-{}", chosen.version),
        _ => meta.to_string(),
    };
    Ok(PackageChoice {
        manager,
        packages: vec![name],
        version: chosen.version.clone(),
        extras: Vec::new(),
        missing: Vec::new(),
    })
}

/// Copies the stick's repos under the root and registers them.
pub struct ReposStep {
    /// `xcat-rpms.tar` on the stick (split volumes are found by its name).
    pub rpms: PathBuf,
    pub family: Family,
}

impl StepAction for ReposStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let r = Root::open(root)?;
        let reg = repo::register(&r, &self.rpms, self.family)?;
        let created: Vec<String> = reg.created.iter().map(|c| c.to_string()).collect();
        let record = Journal::default_dir(root).join(REPOS_RECORD);
        let text = serde_json::to_vec_pretty(&created)
            .map_err(|e| Error::Refused(format!("{}: cannot encode: {e}", record.display())))?;
        std::fs::write(&record, text).at(&record)?;
        let defs: Vec<String> = reg.repos.iter().map(|r| r.definition.to_string()).collect();
        Ok(format!(
            "{} repo(s) copied to /{REPOS_DIR} and registered: {}",
            reg.repos.len(),
            defs.join(", ")
        ))
    }

    fn undo(&mut self, root: &Path) -> Result<String> {
        let r = Root::open(root)?;
        let record = Journal::default_dir(root).join(REPOS_RECORD);
        let created: Vec<String> = match std::fs::read(&record) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::format(&record, 0, e.to_string()))?,
            // Interrupted before the record was written: what register
            // writes carries xcatport's name, so it is found by that.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ours_by_name(&r)?,
            Err(e) => return Err(Error::io(record, e)),
        };
        let mut removed = 0;
        for rel in created.iter().rev() {
            if remove_ours(&r, &RelPath::new(rel)?)? {
                removed += 1;
            }
        }
        Ok(format!("{removed} repo copies and definitions removed"))
    }
}

/// The repo copies, keys and definitions xcatport writes, found by name.
fn ours_by_name(root: &Root) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for top in [REPOS_DIR, KEYS_DIR] {
        out.push(format!("/{top}"));
    }
    for (dir, exts) in [
        ("etc/yum.repos.d", &["repo"][..]),
        ("etc/zypp/repos.d", &["repo"][..]),
        ("etc/apt/sources.list.d", &["list", "sources"][..]),
    ] {
        let host = root.join(&RelPath::new(dir)?);
        let Ok(entries) = std::fs::read_dir(&host) else {
            continue;
        };
        for e in entries {
            let name = e.at(&host)?.file_name().to_string_lossy().into_owned();
            let ext_ok = exts.iter().any(|x| name.ends_with(&format!(".{x}")));
            if name.starts_with("xcatport-") && ext_ok {
                out.push(format!("/{dir}/{name}"));
            }
        }
    }
    Ok(out)
}

/// Removes a file or a directory tree xcatport wrote; a symlink is removed
/// itself, never followed. Returns whether something was there.
fn remove_ours(root: &Root, rel: &RelPath) -> Result<bool> {
    let host = root.join(rel);
    match std::fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => {
            root.for_write(rel)?; // no parent may be a symlink
            std::fs::remove_dir_all(&host).at(&host)?;
            Ok(true)
        }
        Ok(_) => {
            root.for_write(rel)?;
            std::fs::remove_file(&host).at(&host)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(host, e)),
    }
}

/// Installs the chosen packages and checks the xCAT that results.
pub struct PackagesStep {
    /// `None` when set up for rollback only.
    pub choice: Option<PackageChoice>,
    /// The snapshot's xCAT version.
    pub want: Option<XcatVersion>,
}

impl StepAction for PackagesStep {
    fn run(&mut self, root: &Path) -> Result<String> {
        let r = Root::open(root)?;
        let choice = self.choice.as_ref().ok_or_else(|| {
            Error::Refused("the packages step was set up for rollback only".into())
        })?;
        let manager = choice.manager;
        let all: Vec<String> = choice
            .packages
            .iter()
            .chain(&choice.extras)
            .cloned()
            .collect();
        repo::install(&r, manager, &all)?;
        let shown = choice.packages.join(" ");
        let Some(have) = XcatInstall::detect(&r, manager.format())? else {
            return Err(Error::Refused(format!(
                "{}: {manager} installed {shown}, yet no xCAT package is recorded as installed",
                root.display()
            )));
        };
        if let Some(want) = &self.want {
            if !have.version.same_release(want) {
                return Err(Error::Refused(format!(
                    "{}: {manager} installed xCAT {}, the snapshot is from xCAT {want}",
                    root.display(),
                    have.version
                )));
            }
        }
        Ok(format!(
            "{manager} installed {shown}: xCAT {} ({}), {} xCAT packages{}",
            have.version,
            have.source,
            have.packages.len(),
            choice.recorded_note()
        ))
    }

    fn undo(&mut self, _root: &Path) -> Result<String> {
        // Removing packages could take away what the admin installed or
        // configured since; the repos step's undo unregisters the source.
        Ok("packages left installed; remove xCAT with the package manager if wanted".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{Repo, RepoPackage, INDEX_FORMAT};

    fn index(kind: RepoKind, packages: &[(&str, &str)]) -> RepoIndex {
        RepoIndex {
            format: INDEX_FORMAT,
            repos: vec![Repo {
                name: "xcat-core".into(),
                kind,
                found_in: "/etc/yum.repos.d/xcat-core.repo".into(),
                baseurl: "file:///install/xcat".into(),
                enabled: true,
                gpgcheck: Some(true),
                repo_gpgcheck: None,
                pkg_gpgcheck: None,
                gpgkeys: vec![],
                deb: None,
                packages: packages
                    .iter()
                    .map(|(n, v)| RepoPackage {
                        name: n.to_string(),
                        version: v.to_string(),
                        arch: "noarch".into(),
                        file: format!("{n}-{v}.noarch.rpm"),
                        depends: vec![],
                    })
                    .collect(),
                files: vec![],
            }],
        }
    }

    fn v(s: &str) -> XcatVersion {
        XcatVersion::parse_number(s).unwrap()
    }

    #[test]
    fn the_meta_package_at_the_snapshots_version_is_chosen() {
        let i = index(
            RepoKind::RpmMd,
            &[("xCAT", "2.16.5-snap1"), ("xCAT-server", "4:2.16.5-snap1")],
        );
        let c = choose(&i, Family::Rhel, PackageManager::Dnf, Some(&v("2.16.5"))).unwrap();
        assert_eq!(c.packages, ["xCAT"]);
        assert_eq!(c.version, "2.16.5-snap1");
    }

    #[test]
    fn several_offered_versions_pin_the_matching_one() {
        let i = index(
            RepoKind::RpmMd,
            &[("xCAT", "2.16.4-snap1"), ("xCAT", "2.16.5-snap2")],
        );
        let c = choose(&i, Family::Sles, PackageManager::Zypper, Some(&v("2.16.5"))).unwrap();
        assert_eq!(c.packages, ["xCAT-2.16.5-snap2"]);
    }

    #[test]
    fn refusals_say_what_the_stick_lacks() {
        let i = index(RepoKind::RpmMd, &[("xCAT", "2.16.4-snap1")]);
        assert_eq!(
            choose(&i, Family::Rhel, PackageManager::Dnf, Some(&v("2.16.5"))).unwrap_err(),
            "the stick's repos offer xCAT 2.16.4-snap1, but MANIFEST.json records xCAT 2.16.5"
        );
        let i = index(RepoKind::RpmMd, &[("xCAT-client", "2.16.5-snap1")]);
        assert_eq!(
            choose(&i, Family::Rhel, PackageManager::Dnf, None).unwrap_err(),
            "the stick's repos do not offer the xCAT package, so xCAT cannot be installed from them"
        );
        let i = index(RepoKind::RpmMd, &[("xCAT", "2.16.5-snap1")]);
        assert_eq!(
            choose(&i, Family::Ubuntu, PackageManager::Apt, None).unwrap_err(),
            "the stick's repo xcat-core is a RpmMd repository, which a ubuntu MN cannot install from"
        );
        let i = index(RepoKind::Deb, &[("xcat", "2.16.5-snap1")]);
        let c = choose(&i, Family::Ubuntu, PackageManager::Apt, Some(&v("2.16.5"))).unwrap();
        assert_eq!(c.packages, ["xcat"]);
    }

    #[test]
    fn recorded_packages_are_installed_when_offered_and_listed_when_not() {
        let i = index(
            RepoKind::RpmMd,
            &[
                ("xCAT", "2.16.5-snap1"),
                ("xCAT-openbmc-py", "4:2.16.4-snap1"),
                ("xCAT-openbmc-py", "4:2.16.5-snap1"),
                ("goconserver", "0.3.3-1"),
            ],
        );
        let rec = |n: &str, v: &str| InstalledPackage {
            name: n.into(),
            version: v.into(),
            arch: "noarch".into(),
        };
        let recorded = [
            rec("goconserver", "0.3.2-1"),
            rec("xCAT", "2.16.5-snap1"),
            rec("xCAT-SoftLayer", "4:2.16.5-snap1"),
            rec("xCAT-openbmc-py", "4:2.16.5-snap1"),
        ];
        let c = choose(&i, Family::Rhel, PackageManager::Dnf, Some(&v("2.16.5")))
            .unwrap()
            .with_recorded(&i, &recorded);
        assert_eq!(c.packages, ["xCAT"]);
        // several offered versions: the recorded one is pinned; a single
        // other version is what the stick has, so it is taken by name
        assert_eq!(c.extras, ["goconserver", "xCAT-openbmc-py-4:2.16.5-snap1"]);
        assert_eq!(c.missing, ["xCAT-SoftLayer 4:2.16.5-snap1 noarch"]);
        assert_eq!(
            c.recorded_note(),
            "; with the source's goconserver, xCAT-openbmc-py-4:2.16.5-snap1\
             ; not on the stick, install yourself: xCAT-SoftLayer 4:2.16.5-snap1 noarch"
        );
        let none = choose(&i, Family::Rhel, PackageManager::Dnf, None)
            .unwrap()
            .with_recorded(&i, &[]);
        assert_eq!(none.recorded_note(), "");
    }

    #[test]
    fn the_index_is_the_first_member_of_the_tar() {
        let i = index(RepoKind::RpmMd, &[("xCAT", "2.16.5-snap1")]);
        let mut tar = Vec::new();
        crate::repo::pack(&i.repos, &mut tar).unwrap();
        let back = read_index(&tar[..], Path::new("/stick/xcat-rpms.tar")).unwrap();
        assert_eq!(back.repos[0].packages, i.repos[0].packages);
        let e = read_index(&b""[..], Path::new("/stick/xcat-rpms.tar")).unwrap_err();
        assert!(e.to_string().starts_with("/stick/xcat-rpms.tar"), "{e}");
    }
}
