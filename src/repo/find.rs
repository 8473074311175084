//! The local repositories xCAT was installed from, on the source MN.
//!
//! Candidates come from the package managers' own definitions (yum/dnf,
//! zypper, apt), from `INSTALLDIR/post/otherpkgs/…` and from `--rpms DIR`.
//! Each is read through its metadata, as the new MN's package manager will
//! read it, and kept when it offers an installed xCAT-related package at the
//! installed version (or when the user named it). xCAT's core packages
//! (meta, server, client, perl library) must be offered by a kept repo, or
//! the export stops with the list of what is missing: a stick that cannot
//! reinstall xCAT at the same version is worse than no stick. An optional
//! xCAT package no local repo offers (a site may have installed it from a
//! download) is reported, and the restore tells the admin to install it.
//!
//! What the source had installed is recorded too: every xCAT-related
//! package plus every installed package a kept repo offers (xcat-dep's perl
//! modules, boot loaders); packages only the distro's repos offer are not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::mn::packages::{installed, is_xcat_related, InstalledPackage, PackageFormat};
use crate::mn::root::{RelPath, Root};
use crate::mn::{Arch, Distro};
use crate::repo::definition::{
    is_remote, local_path, parse_apt_list, parse_apt_sources, parse_rpm_repo_file, DebSource,
    RpmRepoDef,
};
use crate::repo::metadata::{packages_index, read_deb_packages, read_rpm_md};
use crate::repo::{sanitize_name, Repo, RepoFile, RepoKey, RepoKind, RepoPackage};

/// Where to look besides the package managers' definitions.
#[derive(Clone, Debug)]
pub struct Sources {
    /// `--rpms DIR|URL`, repeatable: always packed. URLs are not available yet.
    pub rpms: Vec<String>,
    /// `site.installdir` (MN path), for `INSTALLDIR/post/otherpkgs`.
    pub installdir: String,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            rpms: vec![],
            installdir: crate::mn::facts::DEFAULT_INSTALLDIR.to_string(),
        }
    }
}

/// How deep under `post/otherpkgs` repos are looked for
/// (`<os>/<arch>/xcat/xcat-core` is 4).
const OTHERPKGS_DEPTH: usize = 6;

/// Why a candidate was considered, which decides whether it is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Definition,
    UserGiven,
    OtherPkgs,
}

/// xCAT itself: without these at the installed version the stick cannot
/// reinstall xCAT, so the export refuses.
const CORE_PACKAGES: &[&str] = &[
    "xCAT",
    "xcat",
    "xCAT-server",
    "xcat-server",
    "xCAT-client",
    "xcat-client",
    "perl-xCAT",
    "perl-xcat",
];

/// The repos to pack and what the source MN has installed from them.
#[derive(Clone, Debug)]
pub struct Found {
    pub repos: Vec<Repo>,
    /// Installed xCAT-related packages plus installed packages the kept
    /// repos offer by name, sorted by name: what the restore reinstalls.
    pub recorded: Vec<InstalledPackage>,
    /// Recorded xCAT-related packages no kept repo offers at their
    /// installed version (optional ones; missing core ones are an error).
    pub not_offered: Vec<InstalledPackage>,
}

/// Finds the repos to pack for the MN under `root`, whose packages are of
/// `format`; fails with a list of xCAT's core packages that no local repo
/// offers at their installed version.
pub fn find(root: &Root, format: PackageFormat, sources: &Sources) -> Result<Vec<Repo>> {
    Ok(find_all(root, format, sources)?.repos)
}

/// [`find`], plus the source's installed packages to record in the
/// snapshot and the optional ones the repos lack.
pub fn find_all(root: &Root, format: PackageFormat, sources: &Sources) -> Result<Found> {
    let all = installed(root, format, |_| true)?;
    let needed: Vec<InstalledPackage> = all
        .iter()
        .filter(|p| is_xcat_related(&p.name))
        .cloned()
        .collect();
    let vars = Vars::probe(root);
    let mut candidates: Vec<(Origin, Repo)> = Vec::new();
    let mut remote: Vec<String> = Vec::new();

    for dir in &sources.rpms {
        if is_remote(dir) {
            return Err(Error::NotAvailable(format!(
                "--rpms with a URL ({dir}); download the repo and pass its directory"
            )));
        }
        let path = local_path(dir).unwrap_or_else(|| PathBuf::from(dir));
        let host = std::path::absolute(&path).at(&path)?;
        candidates.push((Origin::UserGiven, user_repo(&host, format, dir)?));
    }
    match format {
        PackageFormat::Rpm => {
            for defs_dir in ["etc/yum.repos.d", "etc/zypp/repos.d"] {
                for file in files_with_ext(root, defs_dir, &["repo"])? {
                    let text = read_text(root, &file)?;
                    for def in parse_rpm_repo_file(&text, &file.to_absolute())? {
                        match rpm_from_definition(root, &def, &file, &vars)? {
                            Some(repo) => candidates.push((Origin::Definition, repo)),
                            None => remote.push(format!(
                                "{} in {file}: {}",
                                def.id,
                                def.baseurls.join(" ")
                            )),
                        }
                    }
                }
            }
        }
        PackageFormat::Deb => {
            let mut lists = Vec::new();
            if root
                .resolve(&RelPath::new("etc/apt/sources.list")?)?
                .is_file()
            {
                lists.push(RelPath::new("etc/apt/sources.list")?);
            }
            lists.extend(files_with_ext(
                root,
                "etc/apt/sources.list.d",
                &["list", "sources"],
            )?);
            for file in lists {
                let text = read_text(root, &file)?;
                let shown = file.to_absolute();
                let srcs = if file.as_path().extension().is_some_and(|e| e == "sources") {
                    parse_apt_sources(&text, &shown)?
                } else {
                    parse_apt_list(&text, &shown)?
                };
                let stem = file
                    .as_path()
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let many = srcs.len() > 1;
                for (i, src) in srcs.into_iter().enumerate() {
                    let name = if many {
                        format!("{stem}-{}", i + 1)
                    } else {
                        stem.clone()
                    };
                    match deb_from_source(root, &name, src.clone(), &file.to_string(), &vars)? {
                        Some(repo) => candidates.push((Origin::Definition, repo)),
                        None => remote.push(format!("{} in {file}: {}", name, src.uri)),
                    }
                }
            }
        }
    }
    for repo in otherpkgs(root, format, &sources.installdir)? {
        candidates.push((Origin::OtherPkgs, repo));
    }
    let (repos, not_offered) = select(candidates, &needed, &remote)?;
    let offered: BTreeSet<&str> = repos
        .iter()
        .flat_map(|r| &r.packages)
        .map(|p| p.name.as_str())
        .collect();
    let recorded = all
        .iter()
        .filter(|p| is_xcat_related(&p.name) || offered.contains(p.name.as_str()))
        .cloned()
        .collect();
    Ok(Found {
        repos,
        recorded,
        not_offered,
    })
}

/// Keeps the user's repos, the defined repos offering a needed package, and
/// otherpkgs repos for what is still missing; then checks no core package
/// is, and returns the optional ones that are.
fn select(
    candidates: Vec<(Origin, Repo)>,
    needed: &[InstalledPackage],
    remote: &[String],
) -> Result<(Vec<Repo>, Vec<InstalledPackage>)> {
    let want: BTreeSet<(String, String, String)> = needed.iter().map(key_installed).collect();
    let mut covered: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut kept: Vec<Repo> = Vec::new();
    let mut seen_dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for pass in [Origin::UserGiven, Origin::Definition, Origin::OtherPkgs] {
        for (origin, repo) in candidates.iter().filter(|(o, _)| *o == pass) {
            let offers: BTreeSet<_> = repo
                .packages
                .iter()
                .map(key_offered)
                .filter(|k| want.contains(k))
                .collect();
            let useful = match origin {
                Origin::UserGiven => true,
                Origin::Definition => !offers.is_empty(),
                Origin::OtherPkgs => offers.iter().any(|k| !covered.contains(k)),
            };
            // The same directory defined twice (yum and zypper, or a copy
            // under otherpkgs reached through a link) is packed once.
            let dir = repo.files.first().map(|f| f.source.clone());
            if !useful || dir.as_ref().is_some_and(|d| seen_dirs.contains(d)) {
                continue;
            }
            seen_dirs.extend(dir);
            covered.extend(offers);
            kept.push(repo.clone());
        }
    }
    let (missing, optional): (Vec<&InstalledPackage>, Vec<&InstalledPackage>) = needed
        .iter()
        .filter(|p| !covered.contains(&key_installed(p)))
        .partition(|p| CORE_PACKAGES.contains(&p.name.as_str()));
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.arch))
            .collect();
        let mut msg = format!(
            "no local package repository holds these installed packages at their installed version: {}",
            list.join(", ")
        );
        if !remote.is_empty() {
            msg.push_str(&format!(
                "; remote repos are not read by this version: {}",
                remote.join("; ")
            ));
        }
        msg.push_str("; pass the directory that holds them with --rpms DIR");
        return Err(Error::Refused(msg));
    }
    uniquify_names(&mut kept);
    Ok((kept, optional.into_iter().cloned().collect()))
}

fn key_installed(p: &InstalledPackage) -> (String, String, String) {
    (p.name.clone(), norm_version(&p.version), p.arch.clone())
}

fn key_offered(p: &RepoPackage) -> (String, String, String) {
    (p.name.clone(), norm_version(&p.version), p.arch.clone())
}

/// An explicit epoch 0 is the same version as none (rpm and dpkg agree).
fn norm_version(v: &str) -> String {
    v.strip_prefix("0:").unwrap_or(v).to_string()
}

/// Repo names become directory and file names on the new MN: make them
/// unique, renaming member paths to match.
fn uniquify_names(repos: &mut [Repo]) {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for repo in repos.iter_mut() {
        let base = repo.name.clone();
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            let new = format!("{base}-{n}");
            rename(repo, &new);
        }
    }
}

fn rename(repo: &mut Repo, new: &str) {
    let old_repo = format!("repos/{}/", repo.name);
    let old_keys = format!("keys/{}/", repo.name);
    let fix = |m: &str| {
        if let Some(rest) = m.strip_prefix(&old_repo) {
            format!("repos/{new}/{rest}")
        } else if let Some(rest) = m.strip_prefix(&old_keys) {
            format!("keys/{new}/{rest}")
        } else {
            m.to_string()
        }
    };
    for f in &mut repo.files {
        f.member = fix(&f.member);
    }
    for k in &mut repo.gpgkeys {
        k.member = k.member.as_deref().map(fix);
    }
    repo.name = new.to_string();
}

/// `$basearch`, `$arch` and `$releasever` as yum expands them in baseurl.
struct Vars {
    arch: Option<String>,
    releasever: Option<String>,
}

impl Vars {
    fn probe(root: &Root) -> Vars {
        Vars {
            arch: Arch::detect(root).ok().map(|a| a.as_str().to_string()),
            releasever: Distro::detect(root).ok().map(|d| d.major.to_string()),
        }
    }

    fn expand(&self, s: &str) -> String {
        let mut out = s.to_string();
        if let Some(a) = &self.arch {
            out = out.replace("$basearch", a).replace("$arch", a);
        }
        if let Some(r) = &self.releasever {
            out = out.replace("$releasever", r);
        }
        out
    }
}

fn rpm_from_definition(
    root: &Root,
    def: &RpmRepoDef,
    file: &RelPath,
    vars: &Vars,
) -> Result<Option<Repo>> {
    let Some((url, base)) = def
        .baseurls
        .iter()
        .find_map(|u| local_path(&vars.expand(u)).map(|p| (u.clone(), p)))
    else {
        return Ok(None);
    };
    let base_rel = RelPath::new(&base)?;
    if !root
        .resolve(&base_rel.join("repodata/repomd.xml")?)?
        .is_file()
    {
        return Ok(None);
    }
    let mut repo = rpm_repo(root, &sanitize_name(&def.id), &base_rel)?;
    repo.found_in = file.to_string();
    repo.baseurl = url;
    repo.enabled = def.enabled;
    repo.gpgcheck = def.gpgcheck;
    repo.repo_gpgcheck = def.repo_gpgcheck;
    repo.pkg_gpgcheck = def.pkg_gpgcheck;
    for k in &def.gpgkeys {
        let key = add_key(root, &mut repo, &base_rel, &vars.expand(k), k, file)?;
        repo.gpgkeys.push(key);
    }
    Ok(Some(repo))
}

/// Reads an rpm-md repo at `base` (an MN path) into a [`Repo`] with its
/// metadata and package files; packages whose file is absent are dropped.
fn rpm_repo(root: &Root, name: &str, base: &RelPath) -> Result<Repo> {
    let host = root.resolve(base)?;
    let md = read_rpm_md(&host)?;
    let mut repo = empty_repo(name, RepoKind::RpmMd, base);
    for rel in &md.metadata_files {
        push_file(root, &mut repo, base, rel, true)?;
    }
    for p in md.packages {
        if push_file(root, &mut repo, base, &p.file, false)? {
            repo.packages.push(p);
        }
    }
    Ok(repo)
}

fn empty_repo(name: &str, kind: RepoKind, base: &RelPath) -> Repo {
    Repo {
        name: name.to_string(),
        kind,
        found_in: String::new(),
        baseurl: format!("file://{base}"),
        enabled: true,
        gpgcheck: None,
        repo_gpgcheck: None,
        pkg_gpgcheck: None,
        gpgkeys: vec![],
        deb: None,
        packages: vec![],
        files: vec![],
    }
}

/// Adds `base/rel` as a repo file; `required` files must exist, others
/// are skipped when absent (returns whether it was added).
fn push_file(
    root: &Root,
    repo: &mut Repo,
    base: &RelPath,
    rel: &str,
    required: bool,
) -> Result<bool> {
    let rel = rel.trim_start_matches("./");
    let mn = base.join(rel)?;
    let host = root.resolve(&mn)?;
    if !host.is_file() {
        if required {
            return Err(Error::io(
                &host,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("listed in the metadata of repo {} but missing", repo.name),
                ),
            ));
        }
        return Ok(false);
    }
    let member = format!(
        "repos/{}/{}",
        repo.name,
        RelPath::new(rel)?.as_path().display()
    );
    if !repo.files.iter().any(|f| f.member == member) {
        repo.files.push(RepoFile {
            member,
            source: host,
        });
    }
    Ok(true)
}

/// A key named by a definition: inside the repo it is a repo file, outside
/// it travels under `keys/<name>/`; a remote key URL is kept as written.
fn add_key(
    root: &Root,
    repo: &mut Repo,
    base: &RelPath,
    expanded: &str,
    written: &str,
    defined_in: &RelPath,
) -> Result<RepoKey> {
    let Some(path) = local_path(expanded) else {
        return Ok(RepoKey {
            url: written.to_string(),
            member: None,
        });
    };
    let rel = RelPath::new(&path)?;
    let host = root.resolve(&rel)?;
    if !host.is_file() {
        return Err(Error::Refused(format!(
            "{defined_in}: repo {} names GPG key {} which does not exist under {}",
            repo.name,
            path.display(),
            root.path().display()
        )));
    }
    if let Ok(inside) = rel.as_path().strip_prefix(base.as_path()) {
        push_file(root, repo, base, &inside.to_string_lossy(), true)?;
        return Ok(RepoKey {
            url: written.to_string(),
            member: Some(format!("repos/{}/{}", repo.name, inside.display())),
        });
    }
    let file_name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_string());
    let member = format!("keys/{}/{}", repo.name, sanitize_name(&file_name));
    if !repo.files.iter().any(|f| f.member == member) {
        repo.files.push(RepoFile {
            member: member.clone(),
            source: host,
        });
    }
    Ok(RepoKey {
        url: written.to_string(),
        member: Some(member),
    })
}

fn deb_from_source(
    root: &Root,
    name: &str,
    src: DebSource,
    file: &str,
    vars: &Vars,
) -> Result<Option<Repo>> {
    let Some(base) = local_path(&src.uri) else {
        return Ok(None);
    };
    let base_rel = RelPath::new(&base)?;
    let name = sanitize_name(name);
    let Some(mut repo) = deb_repo(root, &name, &base_rel, &src)? else {
        return Ok(None);
    };
    repo.found_in = file.to_string();
    repo.baseurl = src.uri.clone();
    repo.gpgcheck = src.option("trusted").map(|t| t != "yes");
    let defined_in = RelPath::new(file)?;
    if let Some(signed_by) = src.option("signed-by") {
        if signed_by.contains("BEGIN PGP") {
            return Err(Error::NotAvailable(format!(
                "an inline Signed-By key ({file})"
            )));
        }
        for k in signed_by
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            let key = add_key(root, &mut repo, &base_rel, &vars.expand(k), k, &defined_in)?;
            repo.gpgkeys.push(key);
        }
    } else if repo.gpgcheck != Some(false) {
        // apt-key style: the key is in the global keyrings; carry the xCAT
        // ones (and the legacy keyring, which may hold it) as this repo's.
        let mut keys: Vec<RelPath> =
            files_with_ext(root, "etc/apt/trusted.gpg.d", &["gpg", "asc"])?
                .into_iter()
                .filter(|k| k.to_string().to_ascii_lowercase().contains("xcat"))
                .collect();
        let legacy = RelPath::new("etc/apt/trusted.gpg")?;
        if keys.is_empty() && root.resolve(&legacy)?.is_file() {
            keys.push(legacy);
        }
        for k in keys {
            let shown = k.to_string();
            let key = add_key(root, &mut repo, &base_rel, &shown, &shown, &defined_in)?;
            repo.gpgkeys.push(key);
        }
    }
    repo.deb = Some(src);
    Ok(Some(repo))
}

/// Reads an apt repo at `base`: flat (`Packages` in `base/suite`) or with
/// `dists/<suite>/<component>/binary-*/Packages`. `None` when it has no index.
fn deb_repo(root: &Root, name: &str, base: &RelPath, src: &DebSource) -> Result<Option<Repo>> {
    let mut repo = empty_repo(name, RepoKind::Deb, base);
    let mut indexes: Vec<String> = Vec::new();
    if src.is_flat() {
        let dir = src.suite.trim_start_matches("./").trim_end_matches('/');
        let dir_rel = if dir.is_empty() {
            base.clone()
        } else {
            base.join(dir)?
        };
        let host = root.resolve(&dir_rel)?;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        for f in [
            "Release",
            "Release.gpg",
            "InRelease",
            "Packages",
            "Packages.gz",
            "Packages.xz",
        ] {
            if host.join(f).is_file() {
                push_file(root, &mut repo, base, &format!("{prefix}{f}"), true)?;
            }
        }
        if let Some(idx) = packages_index(&host) {
            indexes.push(format!("{prefix}{}", file_name(&idx)));
        }
    } else {
        let dists = base.join(format!("dists/{}", src.suite))?;
        let host = root.resolve(&dists)?;
        if !host.is_dir() {
            return Ok(None);
        }
        for entry in walkdir::WalkDir::new(&host).sort_by_file_name() {
            let entry = entry.map_err(|e| walk_err(&host, e))?;
            if entry.file_type().is_file() {
                let rel = entry
                    .path()
                    .strip_prefix(root.resolve(base)?)
                    .unwrap_or(entry.path());
                push_file(root, &mut repo, base, &rel.to_string_lossy(), true)?;
            }
        }
        for comp in &src.components {
            let comp_dir = host.join(comp);
            let Ok(rd) = std::fs::read_dir(&comp_dir) else {
                continue;
            };
            let mut arch_dirs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| file_name(p).starts_with("binary-"))
                .collect();
            arch_dirs.sort();
            for d in arch_dirs {
                if let Some(idx) = packages_index(&d) {
                    indexes.push(format!(
                        "dists/{}/{comp}/{}/{}",
                        src.suite,
                        file_name(&d),
                        file_name(&idx)
                    ));
                }
            }
        }
    }
    if indexes.is_empty() {
        return Ok(None);
    }
    for idx in indexes {
        let host = root.resolve(&base.join(&idx)?)?;
        for p in read_deb_packages(&host)? {
            if !repo.packages.iter().any(|q| q.file == p.file)
                && push_file(root, &mut repo, base, &p.file, false)?
            {
                repo.packages.push(p);
            }
        }
    }
    Ok(Some(repo))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn walk_err(dir: &Path, e: walkdir::Error) -> Error {
    let path = e.path().unwrap_or(dir).to_path_buf();
    Error::io(path, e.into())
}

/// A `--rpms DIR`: a host directory (not under the root: the user named it
/// on this machine's command line) holding a repo with its metadata.
fn user_repo(host: &Path, format: PackageFormat, given: &str) -> Result<Repo> {
    // The directory is read as its own root so the same confined code applies.
    let dir_root = Root::open(host)?;
    let name = format!("rpms-{}", sanitize_name(&file_name(host)));
    let mut repo = match format {
        PackageFormat::Rpm => {
            if !host.join("repodata/repomd.xml").is_file() {
                return Err(Error::Refused(format!(
                    "--rpms {given}: no repodata/repomd.xml; run createrepo_c {} first",
                    host.display()
                )));
            }
            rpm_repo(&dir_root, &name, &RelPath::root())?
        }
        PackageFormat::Deb => {
            let flat = DebSource {
                uri: format!("file:{}", host.display()),
                suite: "./".to_string(),
                components: vec![],
                options: vec![],
                line: 0,
            };
            let Some(mut repo) = deb_repo(&dir_root, &name, &RelPath::root(), &flat)? else {
                return Err(Error::Refused(format!(
                    "--rpms {given}: no Packages index; run dpkg-scanpackages . > Packages in {} first",
                    host.display()
                )));
            };
            repo.deb = Some(flat);
            repo
        }
    };
    repo.found_in = "--rpms".to_string();
    repo.baseurl = given.to_string();
    Ok(repo)
}

/// Repos under `INSTALLDIR/post/otherpkgs` (copies of xcat-core and
/// xcat-dep for service nodes and images).
fn otherpkgs(root: &Root, format: PackageFormat, installdir: &str) -> Result<Vec<Repo>> {
    let top = RelPath::new(installdir)?.join("post/otherpkgs")?;
    let host_top = root.resolve(&top)?;
    if !host_top.is_dir() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    let mut walk = walkdir::WalkDir::new(&host_top)
        .max_depth(OTHERPKGS_DEPTH)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| walk_err(&host_top, e))?;
        if !entry.file_type().is_dir() {
            continue;
        }
        let rel = top.join(
            entry
                .path()
                .strip_prefix(&host_top)
                .unwrap_or(Path::new("")),
        )?;
        let name = format!(
            "otherpkgs-{}",
            sanitize_name(
                &rel.as_path()
                    .strip_prefix(top.as_path())
                    .unwrap_or(Path::new(""))
                    .to_string_lossy()
                    .replace('/', "-")
            )
        );
        let repo = match format {
            PackageFormat::Rpm if entry.path().join("repodata/repomd.xml").is_file() => {
                Some(rpm_repo(root, &name, &rel)?)
            }
            PackageFormat::Deb if packages_index(entry.path()).is_some() => {
                let flat = DebSource {
                    uri: format!("file://{rel}"),
                    suite: "./".to_string(),
                    components: vec![],
                    options: vec![],
                    line: 0,
                };
                deb_repo(root, &name, &rel, &flat)?.map(|mut r| {
                    r.deb = Some(flat);
                    r
                })
            }
            _ => None,
        };
        if let Some(mut repo) = repo {
            repo.found_in = top.to_string();
            out.push(repo);
            walk.skip_current_dir();
        }
    }
    Ok(out)
}

/// Files directly in an MN directory with one of the extensions, sorted.
fn files_with_ext(root: &Root, dir: &str, exts: &[&str]) -> Result<Vec<RelPath>> {
    let rel = RelPath::new(dir)?;
    let host = root.resolve(&rel)?;
    let rd = match std::fs::read_dir(&host) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(host, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.at(&host)?;
        let name = entry.file_name();
        let p = Path::new(&name);
        if p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)) {
            out.push(rel.join(p)?);
        }
    }
    out.sort();
    Ok(out)
}

fn read_text(root: &Root, file: &RelPath) -> Result<String> {
    let host = root.resolve(file)?;
    let bytes = std::fs::read(&host).at(&host)?;
    String::from_utf8(bytes).map_err(|_| Error::format(file.to_absolute(), 0, "not UTF-8 text"))
}
