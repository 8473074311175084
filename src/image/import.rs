//! Importing one image from an extracted bundle: verify the manifest, apply
//! `-f`, plan where every file goes, check everything, then place files by
//! rename and write the database rows in one transaction, rolling the files
//! back if that fails (spec §6, defects D1, D3, D5, D12, D16, D17).

use super::collect::under_root;
use super::db::{ImageDb, RowChange};
use super::manifest::{Columns, Manifest};
use crate::error::IoContext;
use crate::{Error, Result};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// How a placement puts its file in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// Rename the staged file or tree to its destination.
    Move,
    /// `from` is a rootimgtree.gz whose `rootimg/` tree becomes `to`.
    Unpack,
    /// Copy the staged file with this mode (kit other_files and plugins,
    /// whose kit directory is moved as a whole too).
    Copy(u32),
    /// A symlink to this MN path (D15: otherpkgdir → kit repo).
    Link(String),
}

impl How {
    /// Execution order: the tree first (the longest, most failure-prone
    /// step), copies before the kit directories they come from are moved.
    fn order(&self) -> u8 {
        match self {
            How::Unpack => 0,
            How::Copy(_) => 1,
            How::Move => 2,
            How::Link(_) => 3,
        }
    }
}

/// One file to put in place: bundle file → MN path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// File or directory inside the staging image directory (for a link,
    /// the staging image directory itself).
    pub from: PathBuf,
    /// Absolute MN path.
    pub to: String,
    pub how: How,
}

/// Where xcatd loads its plugins from (xCAT's xcatroot is fixed).
pub const PLUGIN_DIR: &str = "/opt/xcat/lib/perl/xCAT_plugin";

/// What importing one image will do; built without side effects.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub image: String,
    /// Kit plugins this plan installs into [`PLUGIN_DIR`] (xcatd must restart).
    pub plugins: Vec<String>,
    pub manifest: Manifest,
    pub placements: Vec<Placement>,
    pub rows: Vec<RowChange>,
}

/// spec §6.1 step 4, with the corrected install-template message (D13).
pub fn verify(m: &Manifest) -> Result<()> {
    let mut problems = Vec::new();
    for f in ["imagename", "provmethod", "profile", "osvers", "osarch"] {
        if m.osimage.get(f).map_or(true, |v| v.trim().is_empty()) {
            problems.push(format!("The '{f}' field is not defined in manifest.xml."));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(problems.join("\n")));
    }
    let get = |k: &str| m.osimage.get(k).map(|v| v.trim()).unwrap_or("");
    let (method, arch, osvers) = (get("provmethod"), get("osarch"), get("osvers"));
    let known = ["install", "netboot", "statelite", "sysclone", "raw"];
    if !known.iter().any(|k| method.contains(k)) {
        return Err(Error::Refused(format!(
            "Importing images with 'provmethod' {method} is not supported. Hint: install, netboot, statelite, sysclone or raw"
        )));
    }
    if method.contains("sysclone") && arch != "s390x" {
        return Err(Error::Refused(format!(
            "Importing images with 'provmethod' sysclone is not supported for osarch '{arch}'"
        )));
    }
    let need = |ok: bool, what: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::Refused(format!(
                "The '{what}' field is not defined in manifest.xml."
            )))
        }
    };
    if method.contains("install") {
        need(m.linuximage.contains_key("template"), "template")?;
    } else if osvers.starts_with("esx") {
    } else if arch == "s390x" && (method.contains("netboot") || method.contains("sysclone")) {
        match &m.rawimagefiles {
            None => {
                return Err(Error::Refused(
                    "The 'rawimagefiles' section is not defined in manifest.xml.".into(),
                ))
            }
            Some(f) if f.is_empty() => {
                return Err(Error::Refused(
                    "'files' were not specified in the 'rawimagefiles' section of manifest.xml."
                        .into(),
                ))
            }
            Some(_) => {}
        }
    } else if method.contains("netboot") {
        need(m.ramdisk.is_some(), "ramdisk")?;
        need(m.kernel.is_some(), "kernel")?;
        need(m.rootimg.is_some(), "rootimg")?;
    } else if method.contains("statelite") {
        need(m.kernel.is_some(), "kernel")?;
        need(m.ramdisk.is_some(), "ramdisk")?;
        need(m.rootimgtree.is_some(), "rootimgtree")?;
    }
    Ok(())
}

fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

fn dirname(p: &str) -> &str {
    match p.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/",
        Some((d, _)) => d,
        None => ".",
    }
}

/// `-f PROFILE` (spec §6.3), with D3 and D16 fixed: every image artefact
/// moves to the new profile's rootimgdir (derived when unset), names are
/// replaced literally, never as regexes.
pub fn change_profile(m: &mut Manifest, new: &str, installroot: &str) {
    let old = m.osimage.get("profile").cloned().unwrap_or_default();
    if old == new {
        return;
    }
    let get = |k: &str| m.osimage.get(k).cloned().unwrap_or_default();
    let (osvers, arch, method) = (get("osvers"), get("osarch"), get("provmethod"));
    m.osimage.insert("profile".into(), new.into());
    let base = if arch == "s390x" && (method == "raw" || method == "sysclone") {
        method.clone()
    } else {
        "netboot".into()
    };
    let rootimgdir = format!("{installroot}/{base}/{osvers}/{arch}/{new}");
    if method != "install" {
        m.linuximage.insert("rootimgdir".into(), rootimgdir.clone());
        for p in [
            &mut m.kernel,
            &mut m.ramdisk,
            &mut m.rootimg,
            &mut m.rootimgtree,
            &mut m.litefile,
        ]
        .into_iter()
        .flatten()
        {
            *p = format!("{rootimgdir}/{}", basename(p));
        }
    }
    let prov = if method == "install" {
        "install"
    } else {
        "netboot"
    };
    let platform = platform_of(&osvers);
    let rename = |path: &str| -> String {
        let dir = dirname(path);
        let dir = if dir.contains("/opt/xcat/share/xcat") {
            format!("{installroot}/custom/{prov}/{platform}")
        } else {
            dir.to_string()
        };
        let name = basename(path);
        let name = if !old.is_empty() && name.contains(&old) {
            name.replacen(&old, new, 1)
        } else {
            format!("{new}.{name}")
        };
        format!("{dir}/{name}")
    };
    for (table, key) in [
        ("linuximage", "template"),
        ("linuximage", "pkglist"),
        ("osimage", "synclists"),
        ("linuximage", "otherpkglist"),
        ("linuximage", "postinstall"),
        ("linuximage", "exlist"),
    ] {
        let cols = if table == "osimage" {
            &mut m.osimage
        } else {
            &mut m.linuximage
        };
        if let Some(v) = cols.get(key).cloned() {
            let renamed: Vec<String> = v
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| rename(p.trim()))
                .collect();
            cols.insert(key.into(), renamed.join(","));
        }
    }
    let name = format!("{osvers}-{arch}-{method}-{new}");
    m.osimage.insert("imagename".into(), name.clone());
    m.linuximage.insert("imagename".into(), name);
}

fn platform_of(osvers: &str) -> &'static str {
    for (prefix, p) in [
        ("rh", "rh"),
        ("centos", "centos"),
        ("alma", "alma"),
        ("rocky", "rocky"),
        ("fedora", "fedora"),
        ("sles", "sles"),
        ("SL", "SL"),
    ] {
        if osvers.starts_with(prefix) {
            return p;
        }
    }
    if osvers.contains("win") {
        "windows"
    } else if osvers.contains("ubuntu") {
        "ubuntu"
    } else {
        ""
    }
}

/// Checks an MN destination path (D1): absolute, Normal components only,
/// under the install root; files shipped in /opt/xcat/share/xcat are
/// redirected to `<installroot>/custom/` (D17).
pub fn safe_destination(path: &str, installroot: &str) -> Result<String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(Error::Refused(format!(
            "manifest.xml names {path:?}, which is not an absolute path"
        )));
    }
    if p.components()
        .skip(1)
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::Refused(format!(
            "manifest.xml names {path:?}, which contains `..` or `.`"
        )));
    }
    if let Some(rest) = path.strip_prefix("/opt/xcat/share/xcat/") {
        return Ok(format!("{installroot}/custom/{rest}"));
    }
    let root = installroot.trim_end_matches('/');
    if path.starts_with(&format!("{root}/")) && path.len() > root.len() + 1 {
        return Ok(path.to_string());
    }
    Err(Error::Refused(format!(
        "manifest.xml would write {path:?}, outside {root}/; refusing"
    )))
}

/// Builds the plan for the image in `image_dir` (extracted in staging).
/// Kit plugins (code xcatd runs as root) are refused unless
/// `allow_kit_plugins`.
pub fn plan(
    image_dir: &Path,
    mut m: Manifest,
    installroot: &str,
    new_profile: Option<&str>,
    allow_kit_plugins: bool,
) -> Result<ImportPlan> {
    verify(&m)?;
    for k in ["imagename", "provmethod", "profile", "osvers", "osarch"] {
        if let Some(v) = m.osimage.get_mut(k) {
            *v = v.trim().to_string();
        }
    }
    let original = m.clone();
    if let Some(p) = new_profile {
        change_profile(&mut m, p, installroot);
    }
    let image = m.osimage.get("imagename").cloned().unwrap_or_default();
    let mut placements = Vec::new();
    let mut place = |src_name: &str, dest: &str| -> Result<String> {
        let to = safe_destination(dest, installroot)?;
        let from = image_dir.join(src_name);
        if fs::symlink_metadata(&from).is_err() {
            return Err(Error::Refused(format!(
                "the bundle has no {src_name:?} for {dest} named in manifest.xml"
            )));
        }
        placements.push(Placement {
            from,
            to: to.clone(),
            how: How::Move,
        });
        Ok(to)
    };
    // Top-level artefacts: the bundle file is named by the *original* basename.
    let pairs = [
        (&original.kernel, &mut m.kernel),
        (&original.ramdisk, &mut m.ramdisk),
        (&original.rootimg, &mut m.rootimg),
    ];
    for (orig, new) in pairs {
        if let (Some(o), Some(n)) = (orig, new.as_mut()) {
            *n = place(basename(o), n)?;
        }
    }
    let mut tree_to: Option<String> = None;
    // statelite: the tree is unpacked to `<dir of rootimgtree>/rootimg`
    // (upstream unpacks there and deletes the .gz), and litefile.csv goes
    // where the manifest says, as upstream moves it.
    if let (Some(orig), Some(tree)) = (&original.rootimgtree, &m.rootimgtree) {
        let rootimg = format!("{}/rootimg", dirname(tree));
        let to = place(basename(orig), &rootimg)?;
        tree_to = Some(to.clone());
        m.rootimgtree = Some(format!("{}/{}", dirname(&to), basename(tree)));
    }
    if let (Some(orig), Some(lite)) = (&original.litefile, m.litefile.as_mut()) {
        if image_dir.join(basename(orig)).is_file() {
            *lite = place(basename(orig), lite)?;
        }
    }
    for (table, key) in [
        ("linuximage", "template"),
        ("linuximage", "pkglist"),
        ("linuximage", "otherpkglist"),
        ("linuximage", "postinstall"),
        ("linuximage", "exlist"),
        ("osimage", "synclists"),
    ] {
        let (orig_cols, cols) = if table == "osimage" {
            (&original.osimage, &mut m.osimage)
        } else {
            (&original.linuximage, &mut m.linuximage)
        };
        let (Some(o), Some(n)) = (orig_cols.get(key), cols.get(key).cloned()) else {
            continue;
        };
        let olds: Vec<&str> = o.split(',').filter(|s| !s.trim().is_empty()).collect();
        let news: Vec<&str> = n.split(',').filter(|s| !s.trim().is_empty()).collect();
        let mut placed = Vec::new();
        for (old, new) in olds.iter().zip(&news) {
            placed.push(place(basename(old.trim()), new.trim())?);
        }
        cols.insert(key.into(), placed.join(","));
    }
    // `#INCLUDE:` targets of the lists, by the member the exporter stored:
    // a relative target goes beside the list (where it will look), an
    // absolute one where it says.
    let mut lists: Vec<(String, String)> = Vec::new();
    for key in ["pkglist", "otherpkglist", "exlist"] {
        let (Some(o), Some(n)) = (original.linuximage.get(key), m.linuximage.get(key)) else {
            continue;
        };
        for (old, new) in o.split(',').zip(n.split(',')) {
            lists.push((basename(old.trim()).to_string(), new.trim().to_string()));
        }
    }
    let mut i = 0;
    while i < lists.len() {
        let (member, dest) = lists[i].clone();
        i += 1;
        let Ok(text) = fs::read_to_string(image_dir.join(&member)) else {
            continue;
        };
        for inc in super::collect::includes(&text) {
            let inc_member = basename(&inc).to_string();
            let to = super::collect::resolve_include(&dest, &inc);
            if !image_dir.join(&inc_member).is_file() || lists.iter().any(|(_, d)| *d == to) {
                continue;
            }
            place(&inc_member, &to)?;
            lists.push((inc_member, to));
        }
    }
    // D9: the partition file travels too; an `s:`/`d:` prefix marks a script.
    if let Some(v) = m.linuximage.get("partitionfile").cloned() {
        let (prefix, path) = match v.get(..2) {
            Some(p @ ("s:" | "d:")) => (p, &v[2..]),
            _ => ("", v.as_str()),
        };
        if image_dir.join(basename(path)).is_file() {
            let to = place(basename(path), path)?;
            m.linuximage
                .insert("partitionfile".into(), format!("{prefix}{to}"));
        }
    }
    let mut kit_dirs = Vec::new();
    for kit in &m.kits {
        if let Some(dir) = kit.columns.get("kitdir") {
            place(basename(dir), &format!("{}/{}", dirname(dir), kit.name))?;
            kit_dirs.push((kit.name.clone(), image_dir.join(basename(dir))));
        }
    }
    for e in &m.extras {
        let is_dir = image_dir
            .join("extra")
            .join(e.src.trim_start_matches('/'))
            .is_dir();
        if is_dir {
            place(&format!("extra/{}", e.src.trim_start_matches('/')), &e.dest)?;
        } else {
            let dest = format!("{}/{}", e.dest.trim_end_matches('/'), basename(&e.src));
            place(&format!("extra/{}", basename(&e.src)), &dest)?;
        }
    }
    for p in placements.iter_mut() {
        if tree_to.as_deref() == Some(p.to.as_str()) {
            p.how = How::Unpack;
        }
    }
    let mut plugins = Vec::new();
    for (kit, dir) in &kit_dirs {
        placements.extend(kit_other_files(kit, dir, installroot)?);
        let found = kit_plugins(kit, dir)?;
        if !found.is_empty() && !allow_kit_plugins {
            let names: Vec<String> = found.iter().map(|p| basename(&p.to).to_string()).collect();
            return Err(Error::Refused(format!(
                "kit {kit} ships xCAT plugins ({}), code xcatd runs as root; refusing to install them into {PLUGIN_DIR} without --allow-kit-plugins",
                names.join(", ")
            )));
        }
        plugins.extend(found.iter().map(|p| p.to.clone()));
        placements.extend(found);
    }
    placements.extend(kit_repo_links(&m, image_dir, installroot)?);
    let mut seen = std::collections::HashSet::new();
    if let Some(p) = placements.iter().find(|p| !seen.insert(p.to.clone())) {
        return Err(Error::Refused(format!(
            "manifest.xml places two files at {}",
            p.to
        )));
    }
    placements.sort_by_key(|p| p.how.order());
    let rows = rows_of(&m);
    Ok(ImportPlan {
        image,
        plugins,
        manifest: m,
        placements,
        rows,
    })
}

/// The entries of a kit's `sub` directory in the bundle, by name, sorted;
/// each must be a regular file (a symlink could leak any host file).
fn kit_files(kit: &str, kit_dir: &Path, sub: &str) -> Result<Vec<(String, PathBuf)>> {
    let dir = kit_dir.join(sub);
    match fs::symlink_metadata(&dir) {
        Err(_) => return Ok(Vec::new()),
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Refused(format!(
                "kit {kit}: {sub} in the bundle is not a directory; refusing"
            )))
        }
    }
    let mut files = Vec::new();
    for e in fs::read_dir(&dir).at(&dir)? {
        let e = e.at(&dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if !fs::symlink_metadata(&path).at(&path)?.is_file() {
            return Err(Error::Refused(format!(
                "kit {kit}: {sub}/{name} in the bundle is not a regular file; refusing"
            )));
        }
        files.push((name, path));
    }
    files.sort();
    Ok(files)
}

/// spec §6.2: `<kit>/other_files/*` except dotfiles, `*.exlist` and `*.env`
/// become postscripts, mode 0755.
fn kit_other_files(kit: &str, kit_dir: &Path, installroot: &str) -> Result<Vec<Placement>> {
    let root = installroot.trim_end_matches('/');
    let mut out = Vec::new();
    for (name, from) in kit_files(kit, kit_dir, "other_files")? {
        if name.ends_with(".exlist") || name.ends_with(".env") {
            continue;
        }
        let to = safe_destination(&format!("{root}/postscripts/{name}"), installroot)?;
        out.push(Placement {
            from,
            to,
            how: How::Copy(0o755),
        });
    }
    Ok(out)
}

/// spec §6.2: `<kit>/plugins/*` go to xcatd's plugin directory.
fn kit_plugins(kit: &str, kit_dir: &Path) -> Result<Vec<Placement>> {
    Ok(kit_files(kit, kit_dir, "plugins")?
        .into_iter()
        .map(|(name, from)| Placement {
            from,
            to: format!("{PLUGIN_DIR}/{name}"),
            how: How::Copy(0o644),
        })
        .collect())
}

/// D15: `<otherpkgdir>/<kitreponame>` → `<kitrepodir>` for the kit repos the
/// image's kit components use (every kit repo of the bundle when the
/// components do not say), as xCAT's addkitcomp makes them.
fn kit_repo_links(m: &Manifest, image_dir: &Path, installroot: &str) -> Result<Vec<Placement>> {
    let Some(otherpkgdir) = m
        .linuximage
        .get("otherpkgdir")
        .and_then(|v| v.split(',').map(str::trim).find(|d| d.starts_with('/')))
    else {
        return Ok(Vec::new());
    };
    let components: Vec<&str> = m
        .osimage
        .get("kitcomponents")
        .map(|v| v.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let used: Vec<&str> = m
        .kitcomps
        .iter()
        .filter(|c| components.contains(&c.name.as_str()))
        .filter_map(|c| c.columns.get("kitreponame").map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for repo in &m.kitrepos {
        if !used.is_empty() && !used.contains(&repo.name.as_str()) {
            continue;
        }
        let Some(target) = repo.columns.get("kitrepodir") else {
            continue;
        };
        if repo.name.is_empty() || repo.name.contains('/') || repo.name.starts_with('.') {
            return Err(Error::Refused(format!(
                "manifest.xml names kit repo {:?}, which is not a plain name",
                repo.name
            )));
        }
        if !safe_destination(target, installroot).is_ok_and(|t| t == *target) {
            return Err(Error::Refused(format!(
                "manifest.xml names kit repo directory {target:?}, which is not a plain path inside {}/; refusing",
                installroot.trim_end_matches('/')
            )));
        }
        let to = safe_destination(
            &format!("{}/{}", otherpkgdir.trim_end_matches('/'), repo.name),
            installroot,
        )?;
        out.push(Placement {
            from: image_dir.to_path_buf(),
            to,
            how: How::Link(target.clone()),
        });
    }
    Ok(out)
}

fn rows_of(m: &Manifest) -> Vec<RowChange> {
    let key = |k: &str, v: &str| -> Columns { [(k.to_string(), v.to_string())].into() };
    let split = |cols: &Columns, k: &str| -> (Columns, Columns) {
        let mut values = cols.clone();
        let keyval = values.remove(k).unwrap_or_default();
        (key(k, &keyval), values)
    };
    let mut rows = Vec::new();
    for (table, cols, k) in [
        ("osimage", &m.osimage, "imagename"),
        ("linuximage", &m.linuximage, "imagename"),
    ] {
        let (key, values) = split(cols, k);
        rows.push(RowChange {
            table: table.into(),
            key,
            values,
        });
    }
    for (table, list, k) in [
        ("kit", &m.kits, "kitname"),
        ("kitrepo", &m.kitrepos, "kitreponame"),
        ("kitcomponent", &m.kitcomps, "kitcompname"),
    ] {
        for r in list {
            let mut values = r.columns.clone();
            values.remove(k);
            rows.push(RowChange {
                table: table.into(),
                key: key(k, &r.name),
                values,
            });
        }
    }
    rows
}

/// Lines printed while placing files.
pub trait Report {
    fn line(&mut self, text: &str);
}

impl<F: FnMut(&str)> Report for F {
    fn line(&mut self, text: &str) {
        self(text)
    }
}

/// Places the plan's files under `root` and writes its rows; on any
/// failure, files already placed are removed and `.ORIG` backups restored.
pub fn execute(
    plan: &ImportPlan,
    root: &Path,
    db: &mut dyn ImageDb,
    report: &mut dyn Report,
) -> Result<()> {
    // Check every destination's parents before touching anything.
    for p in &plan.placements {
        check_parents(root, &p.to)?;
    }
    let mut done: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        for p in &plan.placements {
            let dst = under_root(root, &p.to);
            if let Some(parent) = dst.parent() {
                // Remember the directories made, to remove them on rollback.
                let mut missing: Vec<PathBuf> = parent
                    .ancestors()
                    .take_while(|a| a.starts_with(root) && fs::symlink_metadata(a).is_err())
                    .map(Path::to_path_buf)
                    .collect();
                fs::create_dir_all(parent).at(parent)?;
                missing.reverse();
                made_dirs.extend(missing);
            }
            if let How::Link(target) = &p.how {
                let same = fs::read_link(&dst).is_ok_and(|t| t == Path::new(target));
                if same {
                    report.line(&p.to);
                    continue;
                }
            }
            // Copies and links are made beside the destination first, so
            // that what replaces an existing file is complete.
            let parent = dst.parent().unwrap_or(root).to_path_buf();
            let ready = match &p.how {
                How::Copy(mode) => Some(staged_copy(&p.from, &parent, *mode)?),
                How::Link(target) => Some(staged_link(target, &parent)?),
                How::Move | How::Unpack => None,
            };
            let mut backup = None;
            if fs::symlink_metadata(&dst).is_ok() {
                let orig = PathBuf::from(format!("{}.ORIG", dst.display()));
                report.line(&format!("  Moving old {} to {}.ORIG.", p.to, p.to));
                if fs::symlink_metadata(&orig).is_ok_and(|m| m.is_dir()) {
                    fs::remove_dir_all(&orig).at(&orig)?;
                }
                fs::rename(&dst, &orig).at(&dst)?;
                backup = Some(orig);
            }
            if let Some(ready) = ready {
                done.push((dst.clone(), backup));
                ready.persist(&dst).map_err(|e| Error::io(&dst, e.error))?;
            } else if p.how == How::Unpack {
                report.line("Extracting rootimgtree.gz. It will take a while.");
                // Unpacked beside its destination, so that placing is a rename.
                let tmp = tempfile::Builder::new()
                    .prefix(".rootimg.xcatport-")
                    .tempdir_in(&parent)
                    .at(&parent)?;
                let file = fs::File::open(&p.from).at(&p.from)?;
                let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(
                    1 << 20,
                    file,
                ));
                let mut stream = std::io::BufReader::with_capacity(1 << 20, &mut gz);
                super::cpio::unpack(&mut stream, &p.from, tmp.path())?;
                done.push((dst.clone(), backup));
                let tree = tmp.path().join(super::cpio::TREE);
                fs::rename(&tree, &dst).at(&dst)?;
            } else {
                done.push((dst.clone(), backup));
                fs::rename(&p.from, &dst).at(&dst)?;
            }
            report.line(&p.to);
        }
        db.apply(&plan.rows)
    })();
    if result.is_err() {
        for (dst, backup) in done.into_iter().rev() {
            if fs::symlink_metadata(&dst).is_ok_and(|m| m.is_dir()) {
                let _ = fs::remove_dir_all(&dst);
            } else {
                let _ = fs::remove_file(&dst);
            }
            if let Some(b) = backup {
                let _ = fs::rename(b, &dst);
            }
        }
        for d in made_dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
    result
}

/// A copy of `from` with `mode`, under a temporary name in `dir`.
fn staged_copy(from: &Path, dir: &Path, mode: u32) -> Result<tempfile::TempPath> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::Builder::new()
        .prefix(".xcatport-copy.")
        .tempfile_in(dir)
        .at(dir)?;
    let mut src = fs::File::open(from).at(from)?;
    std::io::copy(&mut src, tmp.as_file_mut()).at(tmp.path())?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).at(tmp.path())?;
    Ok(tmp.into_temp_path())
}

/// A symlink to `target` under a temporary name in `dir`.
fn staged_link(target: &str, dir: &Path) -> Result<tempfile::TempPath> {
    // A fresh unique name: make a temp file, then put the link in its place.
    let tmp = tempfile::Builder::new()
        .prefix(".xcatport-link.")
        .tempfile_in(dir)
        .at(dir)?
        .into_temp_path();
    fs::remove_file(&tmp).at(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp).at(&tmp)?;
    Ok(tmp)
}

/// Every existing ancestor of an MN path under `root` must be a real directory.
fn check_parents(root: &Path, path: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    let rel = Path::new(path.trim_start_matches('/'));
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::Escape {
                        path: cur,
                        reason: format!("is not a directory; refusing to place {path}"),
                    })
                }
                Err(_) => break,
            }
        }
    }
    Ok(())
}

/// The litefile rows of a statelite bundle's litefile.csv (spec §5): read
/// in the tabdump grammar, with our header or without one as upstream
/// writes it; every row belongs to `image`; a row that repeats an `ALL`
/// row exactly (same file and options) is left out, as xCAT does.
pub fn litefile_rows(file: &Path, image: &str, db: &dyn ImageDb) -> Result<Vec<RowChange>> {
    use std::io::{BufRead, Read};
    let table = crate::db::schema::table("litefile")
        .ok_or_else(|| Error::Db("table litefile is not in xCAT's schema".into()))?;
    let mut input = std::io::BufReader::new(fs::File::open(file).at(file)?);
    let has_header = input.fill_buf().at(file)?.first() == Some(&b'#');
    let header: &[u8] = if has_header {
        b""
    } else {
        b"#image,file,options,comments,disable\n"
    };
    let chained = std::io::BufReader::new(header.chain(input));
    let mut reader = crate::db::csv::Reader::new(chained, file, table)?;
    let col = |name: &str| table.column_index(name).unwrap_or(usize::MAX);
    let (file_col, opt_col) = (col("file"), col("options"));
    let all = db.rows_where("litefile", "image", "ALL")?;
    let mut rows: Vec<RowChange> = Vec::new();
    while let Some(rec) = reader.next_record()? {
        let get = |i: usize| rec.values.get(i).cloned().flatten().unwrap_or_default();
        let (path, options) = (get(file_col), get(opt_col));
        if path.is_empty() {
            continue;
        }
        let same_as_all = all.iter().any(|r| {
            r.get("file") == Some(&path) && r.get("options").cloned().unwrap_or_default() == options
        });
        if same_as_all {
            continue;
        }
        let key: Columns = [
            ("image".to_string(), image.to_string()),
            ("file".to_string(), path),
        ]
        .into();
        rows.retain(|r| r.key != key);
        rows.push(RowChange {
            table: "litefile".into(),
            key,
            values: [("options".to_string(), options)].into(),
        });
    }
    Ok(rows)
}

/// `imgimport -p NODES` (spec §6.4): the bundle's postscripts and
/// postbootscripts, less what the current `xcatdefaults` row already runs,
/// replace the lists of every node named or in a named group. Returns the
/// rows and the names that are neither nodes nor groups (a warning, D14).
pub fn postscript_rows(
    m: &Manifest,
    noderange: &str,
    db: &dyn ImageDb,
) -> Result<(Vec<RowChange>, Vec<String>)> {
    let mut nodes: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    let mut all_nodes: Option<Vec<Columns>> = None;
    for item in noderange
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if db.row("nodelist", "node", item)?.is_some() {
            if !nodes.iter().any(|n| n == item) {
                nodes.push(item.to_string());
            }
            continue;
        }
        let list = match &all_nodes {
            Some(l) => l,
            None => all_nodes.insert(db.rows("nodelist")?),
        };
        let members: Vec<String> = list
            .iter()
            .filter(|r| {
                r.get("groups")
                    .is_some_and(|g| g.split(',').any(|x| x.trim() == item))
            })
            .filter_map(|r| r.get("node").cloned())
            .collect();
        if members.is_empty() {
            unknown.push(item.to_string());
        }
        for n in members {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
    }
    if nodes.is_empty() {
        return Err(Error::Refused(format!(
            "The nodes {noderange} are not defined in xCAT DB."
        )));
    }
    let defaults = db.row("postscripts", "node", "xcatdefaults")?;
    let keep = |list: &Option<String>, column: &str| -> String {
        let have: Vec<&str> = defaults
            .as_ref()
            .and_then(|d| d.get(column))
            .map(|v| v.split(',').map(str::trim).collect())
            .unwrap_or_default();
        list.as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !have.contains(s))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ps = keep(&m.postscripts, "postscripts");
    let pbs = keep(&m.postbootscripts, "postbootscripts");
    if ps.is_empty() && pbs.is_empty() {
        return Ok((Vec::new(), unknown));
    }
    let rows = nodes
        .into_iter()
        .map(|n| RowChange {
            table: "postscripts".into(),
            key: [("node".to_string(), n)].into(),
            values: [
                ("postscripts".to_string(), ps.clone()),
                ("postbootscripts".to_string(), pbs.clone()),
            ]
            .into(),
        })
        .collect();
    Ok((rows, unknown))
}
