//! Which files make up an osimage (spec §3), decided from its database rows
//! and the MN's tree under a root.
//!
//! The result is the bundle's member list — `OnDisk` files and trees and
//! `Generated` bytes — together with the manifest describing them. imgexport
//! packs it; the snapshot planner uses the same list to know which kernel,
//! initrd and rootimg files belong to images.
//!
//! Paths from the database are absolute paths on the MN; they are resolved
//! under `root` lexically and recorded in the manifest unchanged.

use super::db::ImageDb;
use super::manifest::{Columns, Extra, Manifest, Record};
use crate::error::IoContext;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Where a member's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file (or, for kits and `-e` directories, a whole tree) on the MN:
    /// the path as the MN knows it (absolute, e.g. `/install/...`).
    OnDisk(PathBuf),
    /// Bytes made by the exporter (manifest.xml, litefile.csv).
    Generated(Vec<u8>),
    /// statelite: `<dir>/rootimg` packed as a gzip'd newc cpio (rootimgtree.gz).
    RootimgTree(PathBuf),
}

/// What a member is for (the planner decides exclusions by role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Manifest,
    Kernel,
    Ramdisk,
    RootImg,
    RootImgTree,
    Litefile,
    RawImage,
    /// template, pkglist, otherpkglist, postinstall, exlist, synclists, partitionfile
    Config,
    Kit,
    Extra,
}

/// One bundle member, relative to the image directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub member: String,
    pub source: Source,
    pub role: Role,
}

/// Options of imgexport that change what is collected.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// `-e SRC[:DIR]` arguments as given.
    pub extras: Vec<String>,
    /// `-p NODE`.
    pub postscripts_node: Option<String>,
}

/// An image ready to pack: its manifest, members and the non-fatal
/// problems met (each one of xCAT's warning lines).
#[derive(Debug, Clone)]
pub struct Collected {
    pub image: String,
    pub manifest: Manifest,
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
    /// Remarks that do not make the run fail (e.g. a missing `#INCLUDE:`).
    pub notes: Vec<String>,
}

impl Collected {
    /// The bundle's image directory name (whitespace runs → `_`, as xCAT).
    pub fn image_dir(&self) -> String {
        image_dir_name(&self.image)
    }
}

/// `imagename` with every run of whitespace replaced by `_` (spec §3.5).
pub fn image_dir_name(image: &str) -> String {
    let mut out = String::new();
    let mut in_ws = false;
    for c in image.chars() {
        if c.is_whitespace() {
            if !in_ws {
                out.push('_');
            }
            in_ws = true;
        } else {
            out.push(c);
            in_ws = false;
        }
    }
    out
}

/// `path` (absolute on the MN) as a path under `root`.
pub fn under_root(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn readable_file(root: &Path, path: &str) -> bool {
    std::fs::metadata(under_root(root, path)).is_ok_and(|m| m.is_file())
}

fn nonempty(cols: &Columns, key: &str) -> Option<String> {
    cols.get(key).filter(|v| !v.trim().is_empty()).cloned()
}

/// xCAT's `look_for_file` (spec §3.2): `dirs` are MN paths; returns an MN path.
pub fn look_for_file(
    root: &Path,
    dirs: &[String],
    osvers: &str,
    arch: &str,
    profile: &str,
    name: &str,
) -> Option<String> {
    for d in dirs {
        let mut dd: String = if osvers.contains("win") {
            "windows".into()
        } else {
            osvers.into()
        };
        while !dd.is_empty() && !under_root(root, &format!("{d}/{dd}")).is_dir() {
            dd.pop();
        }
        if dd.is_empty() {
            continue;
        }
        let base = format!("{d}/{dd}");
        let candidates: Vec<String> = if name == "tmpl" || name == "pkglist" {
            vec![
                format!("{base}/{profile}.{osvers}.{arch}.{name}"),
                format!("{base}/{profile}.{osvers}.{name}"),
                format!("{base}/{profile}.{arch}.{name}"),
                format!("{base}/{profile}.{name}"),
            ]
        } else {
            vec![format!("{base}/{arch}/{profile}/{name}")]
        };
        if let Some(hit) = candidates.into_iter().find(|c| readable_file(root, c)) {
            return Some(hit);
        }
    }
    None
}

const XCATROOT: &str = "/opt/xcat";

/// Collects osimage `image` for export.
pub fn collect(
    db: &dyn ImageDb,
    root: &Path,
    image: &str,
    opts: &CollectOptions,
) -> Result<Collected> {
    let refuse = |msg: String| Error::Refused(msg);
    let osimage = db.row("osimage", "imagename", image)?.ok_or_else(|| {
        refuse(format!(
            "Cannot find image '{image}' from the osimage table."
        ))
    })?;
    let mut problems = Vec::new();
    for field in ["provmethod", "profile", "osvers", "osarch"] {
        if nonempty(&osimage, field).is_none() {
            problems.push(format!(
                "The '{field}' field is not set for '{image}' in the osimage table."
            ));
        }
    }
    if !problems.is_empty() {
        return Err(refuse(problems.join("\n")));
    }
    let get = |k: &str| nonempty(&osimage, k).unwrap_or_default();
    let (provmethod, profile, osvers, arch) = (
        get("provmethod"),
        get("profile"),
        get("osvers"),
        get("osarch"),
    );
    let method = ["install", "netboot", "statelite", "raw", "sysclone"]
        .into_iter()
        .find(|m| provmethod.contains(m))
        .ok_or_else(|| {
            refuse(format!(
                "Exporting images with 'provmethod' {provmethod} is not supported. Hint: install, netboot, statelite, or raw"
            ))
        })?;
    if method == "sysclone" && arch != "s390x" {
        return Err(refuse(format!(
            "Exporting images with 'provmethod' sysclone is not supported for osarch '{arch}'"
        )));
    }
    let linuximage = db.row("linuximage", "imagename", image)?.ok_or_else(|| {
        refuse(format!(
            "Cannot find image '{image}' from the linuximage table."
        ))
    })?;
    let installroot = db.site("installdir")?.unwrap_or_else(|| "/install".into());

    let mut m = Manifest {
        osimage: strip_empty(osimage.clone()),
        linuximage: strip_empty(linuximage.clone()),
        ..Manifest::default()
    };
    let mut entries: Vec<Entry> = Vec::new();
    let mut warnings = Vec::new();

    collect_kits(db, &osimage, &mut m)?;

    let rootimgdir = nonempty(&linuximage, "rootimgdir");
    let s390x = arch == "s390x";
    let esx = osvers.starts_with("esx");
    match method {
        "install" => {
            if nonempty(&linuximage, "template").is_none() {
                let dirs = [
                    format!("{installroot}/custom/install"),
                    format!("{XCATROOT}/share/xcat/install"),
                ];
                let t = look_for_file(root, &dirs, &osvers, &arch, &profile, "tmpl")
                    .ok_or_else(|| refuse(format!("Couldn't find install template for {image}")))?;
                m.linuximage.insert("template".into(), t);
            }
            m.media = Some("required".into());
        }
        "netboot" | "statelite" if s390x && method == "netboot" => {
            m.rawimagefiles = Some(img_files(
                root,
                &format!("{installroot}/netboot/{osvers}/s390x/{profile}"),
            )?);
        }
        "netboot" | "statelite" if !esx => {
            if nonempty(&linuximage, "pkglist").is_none() {
                let dirs = [
                    format!("{installroot}/custom/netboot"),
                    format!("{XCATROOT}/share/xcat/netboot"),
                ];
                let p = look_for_file(root, &dirs, &osvers, &arch, &profile, "pkglist")
                    .ok_or_else(|| refuse(format!("Couldn't find pkglist file for {image}")))?;
                m.linuximage.insert("pkglist".into(), p);
            }
            let initrd = if method == "netboot" {
                "initrd-stateless.gz"
            } else {
                "initrd-statelite.gz"
            };
            let netboot_dirs = [format!("{installroot}/netboot")];
            let find = |name: &str| match &rootimgdir {
                Some(dir) => {
                    let p = format!("{dir}/{name}");
                    readable_file(root, &p).then_some(p)
                }
                None => look_for_file(root, &netboot_dirs, &osvers, &arch, &profile, name),
            };
            let ramdisk = find(initrd)
                .ok_or_else(|| refuse(format!("Couldn't find ramdisk ({initrd}) for  {image}")))?;
            let kernel = find("kernel")
                .ok_or_else(|| refuse(format!("Couldn't find kernel (kernel) for  {image}")))?;
            m.kernel = Some(kernel);
            m.ramdisk = Some(ramdisk);
            if method == "netboot" {
                // SvrUtils order with rootimgdir, look_for_file order without (spec §3.1).
                let order: &[&str] = if rootimgdir.is_some() {
                    &[
                        "rootimg.cpio.gz",
                        "rootimg.cpio.xz",
                        "rootimg.tar.gz",
                        "rootimg.tar.xz",
                        "rootimg.sfs",
                        "rootimg.gz",
                    ]
                } else {
                    &[
                        "rootimg.cpio.xz",
                        "rootimg.cpio.gz",
                        "rootimg.tar.xz",
                        "rootimg.tar.gz",
                        "rootimg.gz",
                    ]
                };
                let rootimg = order.iter().find_map(|n| find(n)).ok_or_else(|| {
                    refuse(format!("Couldn't find compressed rootimg for {image}"))
                })?;
                m.rootimg = Some(rootimg);
            } else {
                // D20: derive the default rootimgdir rather than refusing.
                let dir = rootimgdir
                    .clone()
                    .unwrap_or_else(|| format!("{installroot}/netboot/{osvers}/{arch}/{profile}"));
                let tree = format!("{dir}/rootimg");
                if !under_root(root, &tree).is_dir() {
                    return Err(refuse(format!(
                        "Couldn't locate the root image directory. {tree} does not exist"
                    )));
                }
                m.rootimgtree = Some(format!("{dir}/rootimgtree.gz"));
                m.litefile = Some(format!("{dir}/litefile.csv"));
                entries.push(Entry {
                    member: "rootimgtree.gz".into(),
                    source: Source::RootimgTree(PathBuf::from(tree)),
                    role: Role::RootImgTree,
                });
                entries.push(Entry {
                    member: "litefile.csv".into(),
                    source: Source::Generated(litefile_csv(db, image, &osimage)?),
                    role: Role::Litefile,
                });
            }
        }
        "raw" | "sysclone" if s390x => {
            m.rawimagefiles = Some(img_files(
                root,
                &format!("{installroot}/{method}/{osvers}/s390x/{profile}"),
            )?);
        }
        _ => {}
    }

    // Files named by the rows (spec §3.3), flat by basename.
    let mut wanted: Vec<(String, Role)> = Vec::new();
    let mut included: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for (v, role) in [
        (&m.kernel, Role::Kernel),
        (&m.ramdisk, Role::Ramdisk),
        (&m.rootimg, Role::RootImg),
    ] {
        if let Some(p) = v {
            wanted.push((p.clone(), role));
        }
    }
    for col in [
        "template",
        "pkglist",
        "otherpkglist",
        "postinstall",
        "exlist",
    ] {
        split_into(&mut wanted, m.linuximage.get(col), Role::Config);
    }
    split_into(&mut wanted, m.osimage.get("synclists"), Role::Config);
    // D9: the partition file travels too (an `s:`/`d:` prefix marks a script).
    if let Some(p) = m.linuximage.get("partitionfile") {
        let p = p
            .strip_prefix("s:")
            .or_else(|| p.strip_prefix("d:"))
            .unwrap_or(p);
        split_into(&mut wanted, Some(&p.to_string()), Role::Config);
    }
    // D9: files a list pulls in with `#INCLUDE:path#` travel with it.
    let mut i = 0;
    while i < wanted.len() {
        let (path, role) = wanted[i].clone();
        i += 1;
        if !is_list(&m, &path) && !included.contains(&path) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(under_root(root, &path)) else {
            continue;
        };
        for inc in includes(&text) {
            let inc = resolve_include(&path, &inc);
            // xCAT's own shipped lists exist on every MN with xCAT installed.
            if inc.starts_with(&format!("{XCATROOT}/share/xcat/")) {
                continue;
            }
            if !readable_file(root, &inc) {
                // Upstream never follows includes: a missing one is a note only.
                notes.push(format!(
                    "{path} includes {inc}, which does not exist; not exported"
                ));
                continue;
            }
            if !wanted.iter().any(|(q, _)| *q == inc) {
                included.push(inc.clone());
                wanted.push((inc, role));
            }
        }
    }
    for (path, role) in wanted {
        if !readable_file(root, &path) {
            warnings.push(format!("Couldn't find file {path} for {image}. Skip."));
            continue;
        }
        add_entry(
            &mut entries,
            basename(&path),
            Source::OnDisk(path.into()),
            role,
        )?;
    }
    if let Some(files) = &m.rawimagefiles {
        for f in files {
            add_entry(
                &mut entries,
                basename(f),
                Source::OnDisk(f.into()),
                Role::RawImage,
            )?;
        }
    }
    for kit in &m.kits {
        if let Some(dir) = kit.columns.get("kitdir").filter(|d| !d.is_empty()) {
            if !under_root(root, dir).is_dir() {
                return Err(refuse(format!(
                    "Couldn't find kit directory {dir} for {image}"
                )));
            }
            add_entry(
                &mut entries,
                basename(dir),
                Source::OnDisk(dir.into()),
                Role::Kit,
            )?;
        }
    }
    for arg in &opts.extras {
        let Some(extra) = parse_extra(root, arg) else {
            warnings.push(format!(
                "Can not find Extra file {arg}.  Argument will be ignored"
            ));
            continue;
        };
        let member = if under_root(root, &extra.src).is_dir() {
            format!(
                "extra/{}",
                extra.src.trim_start_matches('/').trim_end_matches('/')
            )
        } else {
            format!("extra/{}", basename(&extra.src))
        };
        add_entry(
            &mut entries,
            member,
            Source::OnDisk(extra.src.clone().into()),
            Role::Extra,
        )?;
        m.extras.push(extra);
    }
    if let Some(node) = &opts.postscripts_node {
        let (ps, pbs) = node_postscripts(db, node)?;
        m.postscripts = ps;
        m.postbootscripts = pbs;
    }
    let xml = m.to_xml()?;
    entries.insert(
        0,
        Entry {
            member: "manifest.xml".into(),
            source: Source::Generated(xml.into_bytes()),
            role: Role::Manifest,
        },
    );
    Ok(Collected {
        image: image.to_string(),
        manifest: m,
        entries,
        warnings,
        notes,
    })
}

/// Whether `path` is one of the image's package or exclude lists, whose
/// `#INCLUDE:` lines name further files.
fn is_list(m: &Manifest, path: &str) -> bool {
    ["pkglist", "otherpkglist", "exlist"].iter().any(|c| {
        m.linuximage
            .get(*c)
            .is_some_and(|v| v.split(',').any(|p| p.trim() == path))
    })
}

/// The targets of `#INCLUDE:path#` lines, as written.
pub fn includes(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("#INCLUDE:"))
        .map(|rest| rest.trim().trim_end_matches('#').trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// An include target as an MN path: absolute as is, else beside `list`.
pub fn resolve_include(list: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let dir = list.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{dir}/{target}")
}

fn strip_empty(mut cols: Columns) -> Columns {
    cols.retain(|_, v| !v.trim().is_empty());
    cols
}

fn basename(p: &str) -> String {
    p.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(p)
        .to_string()
}

fn split_into(out: &mut Vec<(String, Role)>, value: Option<&String>, role: Role) {
    for p in value.into_iter().flat_map(|v| v.split(',')) {
        let p = p.trim();
        if !p.is_empty() && !out.iter().any(|(q, _)| q == p) {
            out.push((p.to_string(), role));
        }
    }
}

/// D8: members are flat by basename; two different sources under one name
/// would overwrite each other in the bundle and on import.
fn add_entry(entries: &mut Vec<Entry>, member: String, source: Source, role: Role) -> Result<()> {
    if let Some(e) = entries.iter().find(|e| e.member == member) {
        if e.source == source {
            return Ok(());
        }
        return Err(Error::Refused(format!(
            "two files would share the bundle member {member:?}: {:?} and {:?}",
            e.source_display(),
            Entry {
                member: member.clone(),
                source,
                role
            }
            .source_display()
        )));
    }
    entries.push(Entry {
        member,
        source,
        role,
    });
    Ok(())
}

impl Entry {
    /// The source for messages: its MN path, or `(generated)`.
    pub fn source_display(&self) -> String {
        match &self.source {
            Source::OnDisk(p) | Source::RootimgTree(p) => p.display().to_string(),
            Source::Generated(_) => "(generated)".into(),
        }
    }
}

/// `-e SRC[:DIR]` (D18: split on the last `:` only when an absolute path follows).
fn parse_extra(root: &Path, arg: &str) -> Option<Extra> {
    let (src, dest) = match arg.rsplit_once(':') {
        Some((s, d)) if d.starts_with('/') && !s.is_empty() => (s.to_string(), Some(d.to_string())),
        _ => (arg.to_string(), None),
    };
    let meta = std::fs::metadata(under_root(root, &src)).ok()?;
    let dest = dest.unwrap_or_else(|| {
        if meta.is_dir() {
            src.clone()
        } else {
            match src.rsplit_once('/') {
                Some(("", _)) => "/".into(),
                Some((d, _)) => d.into(),
                None => ".".into(),
            }
        }
    });
    Some(Extra { src, dest })
}

/// Every regular `*.img` in an MN directory, sorted.
fn img_files(root: &Path, dir: &str) -> Result<Vec<String>> {
    let path = under_root(root, dir);
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&path) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(&path, e)),
    };
    for e in rd {
        let e = e.map_err(|err| Error::io(&path, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".img") && e.file_type().is_ok_and(|t| t.is_file()) {
            out.push(format!("{dir}/{name}"));
        }
    }
    out.sort();
    Ok(out)
}

fn collect_kits(db: &dyn ImageDb, osimage: &Columns, m: &mut Manifest) -> Result<()> {
    let Some(kcs) = nonempty(osimage, "kitcomponents") else {
        return Ok(());
    };
    let mut kitnames: Vec<String> = Vec::new();
    for kc in kcs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = db
            .row("kitcomponent", "kitcompname", kc)?
            .and_then(|r| nonempty(&r, "kitname"))
            .ok_or_else(|| {
                Error::Refused(format!(
                    "Cannot find kitname of '{kc}' from the kitcomponent table."
                ))
            })?;
        if !kitnames.contains(&name) {
            kitnames.push(name);
        }
    }
    for kit in kitnames {
        let row = db.row("kit", "kitname", &kit)?.ok_or_else(|| {
            Error::Refused(format!("Cannot find kit '{kit}' from the kit table."))
        })?;
        m.kits.push(Record {
            name: kit.clone(),
            columns: strip_empty(row),
        });
        for (table, key, list) in [
            ("kitrepo", "kitreponame", &mut m.kitrepos),
            ("kitcomponent", "kitcompname", &mut m.kitcomps),
        ] {
            for r in db.rows_where(table, "kitname", &kit)? {
                if let Some(name) = nonempty(&r, key) {
                    list.push(Record {
                        name,
                        columns: strip_empty(r),
                    });
                }
            }
        }
    }
    for list in [&mut m.kits, &mut m.kitrepos, &mut m.kitcomps] {
        list.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }
    Ok(())
}

/// `-p NODE`: xcatdefaults' lists, then the node's (spec §2).
fn node_postscripts(db: &dyn ImageDb, node: &str) -> Result<(Option<String>, Option<String>)> {
    if db.node_groups(node)?.is_none() {
        return Err(Error::Refused(format!(
            "Unable to get postscripts, {node} is not a valid node."
        )));
    }
    let defaults = db.row("postscripts", "node", "xcatdefaults")?;
    let mut out = Vec::new();
    for col in ["postscripts", "postbootscripts"] {
        let parts: Vec<String> = [
            defaults.as_ref().and_then(|r| nonempty(r, col)),
            db.node_attr("postscripts", node, col)?,
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push((!parts.is_empty()).then(|| parts.join(",")));
    }
    let pbs = out.pop().flatten();
    let ps = out.pop().flatten();
    Ok((ps, pbs))
}

/// litefile.csv for a statelite image (spec §5), in the tabdump grammar
/// with a header (D19): the image's own rows, the `ALL` or group rows and
/// the rows without an image, each under the exported image's name.
fn litefile_csv(db: &dyn ImageDb, image: &str, osimage: &Columns) -> Result<Vec<u8>> {
    let groups = nonempty(osimage, "groups");
    let selectors: Vec<String> = match &groups {
        Some(g) => vec![g.clone(), image.to_string()],
        None => vec!["ALL".into(), image.to_string()],
    };
    let name = image_dir_name(image);
    let columns = super::columns::of("litefile");
    let mut out = Vec::new();
    let memory = Path::new("litefile.csv");
    crate::db::csv::write_header(&mut out, columns).at(memory)?;
    for r in db.rows("litefile")? {
        let img = r.get("image").map(String::as_str).unwrap_or("");
        if !(img.is_empty() || selectors.iter().any(|s| s == img)) {
            continue;
        }
        let Some(file) = nonempty(&r, "file") else {
            continue;
        };
        let options = nonempty(&r, "options").unwrap_or_else(|| "tmpfs".into());
        let values: Vec<Option<String>> = columns
            .iter()
            .map(|c| match c.as_str() {
                "image" => Some(name.clone()),
                "file" => Some(file.clone()),
                "options" => Some(options.clone()),
                _ => None,
            })
            .collect();
        crate::db::csv::write_record(&mut out, &values).at(memory)?;
    }
    Ok(out)
}
