//! Restore side, first half: copy the repos off the stick onto the new MN's
//! disk (the stick may be unplugged afterwards) and register them with the
//! package manager of its family, keeping the source's gpgcheck settings and
//! keys. The stick is hostile input: only `repos/<name>/…` and
//! `keys/<name>/…` members of names in the index are written, every path is
//! confined to the root and no parent may be a symlink.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::mn::root::{RelPath, Root};
use crate::mn::Family;
use crate::repo::{
    is_valid_name, Repo, RepoIndex, RepoKind, INDEX_FORMAT, INDEX_MEMBER, KEYS_DIR, REPOS_DIR,
};

/// One registered repo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredRepo {
    pub name: String,
    pub kind: RepoKind,
    /// The local copy, e.g. `/var/lib/xcatport/repos/xcat-core`.
    pub dir: RelPath,
    /// The definition written, e.g. `/etc/yum.repos.d/xcatport-xcat-core.repo`.
    pub definition: RelPath,
}

/// What [`register`] wrote, for the journal to roll back: remove `created`
/// in reverse order (directories recursively; they are xcatport's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    pub repos: Vec<RegisteredRepo>,
    pub created: Vec<RelPath>,
}

/// Copies the repos from `source` — `xcat-rpms.tar`, its split volumes
/// (`xcat-rpms.tar.000`, …, given as the unsplit name), or a directory
/// holding an unpacked copy — under `<root>/var/lib/xcatport/repos/` and
/// registers them for `family`'s package manager. Running it again
/// replaces what an earlier run wrote.
pub fn register(root: &Root, source: &Path, family: Family) -> Result<Registered> {
    let mut reg = Registered {
        repos: vec![],
        created: vec![],
    };
    let result = copy_and_define(root, source, family, &mut reg);
    if result.is_err() {
        // Leave nothing half-written: the caller gets no list to roll back.
        for rel in reg.created.iter().rev() {
            let _ = remove_ours(root, rel);
        }
    }
    result.map(|()| reg)
}

fn copy_and_define(root: &Root, source: &Path, family: Family, reg: &mut Registered) -> Result<()> {
    if source.is_dir() {
        let index_path = source.join(INDEX_MEMBER);
        let index = read_index(File::open(&index_path).at(&index_path)?, &index_path)?;
        prepare(root, &index, family, reg)?;
        for repo in &index.repos {
            for prefix in ["repos", "keys"] {
                let dir = source.join(prefix).join(&repo.name);
                if !dir.is_dir() {
                    continue;
                }
                for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
                    let entry = entry.map_err(|e| {
                        let p = e.path().unwrap_or(&dir).to_path_buf();
                        Error::io(p, e.into())
                    })?;
                    if !entry.file_type().is_file() {
                        continue;
                    }
                    let member = entry.path().strip_prefix(source).unwrap_or(entry.path());
                    let mut f = File::open(entry.path()).at(entry.path())?;
                    write_member(
                        root,
                        &index,
                        &member.to_string_lossy(),
                        &mut f,
                        entry.path(),
                    )?;
                }
            }
        }
        return finish(root, &index, family, reg);
    }
    let shown = source.to_path_buf();
    let reader = open_volumes(source)?;
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().at(&shown)?;
    let index = read_index_member(&mut entries, &shown)?;
    prepare(root, &index, family, reg)?;
    for entry in entries {
        let mut entry = entry.at(&shown)?;
        let name = entry.path().at(&shown)?.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => continue,
            other => {
                return Err(Error::format(
                    &shown,
                    0,
                    format!("member {name:?} is a {other:?}, only regular files are accepted"),
                ))
            }
        }
        write_member(root, &index, &name, &mut entry, &shown)?;
    }
    finish(root, &index, family, reg)
}

/// A reader over `path`, or over `path.000`, `path.001`, … in order when
/// the file was split for the stick's filesystem.
fn open_volumes(path: &Path) -> Result<Box<dyn Read>> {
    if path.is_file() {
        return Ok(Box::new(File::open(path).at(path)?));
    }
    let mut volumes: Vec<PathBuf> = Vec::new();
    for i in 0.. {
        let v = PathBuf::from(format!("{}.{i:03}", path.display()));
        if !v.is_file() {
            break;
        }
        volumes.push(v);
    }
    if volumes.is_empty() {
        return Err(Error::io(
            path,
            io::Error::new(
                io::ErrorKind::NotFound,
                "no such file, nor split volumes .000, .001, …",
            ),
        ));
    }
    let mut reader: Box<dyn Read> = Box::new(io::empty());
    for v in volumes {
        let f = File::open(&v).at(&v)?;
        reader = Box::new(reader.chain(f));
    }
    Ok(reader)
}

/// Reads the repo index, the first member of an `xcat-rpms.tar` stream,
/// from its `entries`, leaving the rest to be read; `shown` names the
/// stick's file in errors.
pub fn read_index_member<R: Read>(
    entries: &mut tar::Entries<'_, R>,
    shown: &Path,
) -> Result<RepoIndex> {
    let first = entries
        .next()
        .ok_or_else(|| Error::format(shown, 0, "empty archive: no repo index"))?
        .at(shown)?;
    let name = first.path().at(shown)?.to_string_lossy().into_owned();
    if name != INDEX_MEMBER {
        return Err(Error::format(
            shown,
            0,
            format!("first member is {name:?}, expected {INDEX_MEMBER}"),
        ));
    }
    read_index(first, shown)
}

/// Parses and checks a repo index of at most 64 MiB read from `r`.
fn read_index(r: impl Read, shown: &Path) -> Result<RepoIndex> {
    // The index is small; cap it so a hostile stick cannot make us read gigabytes.
    let mut text = Vec::new();
    r.take(64 << 20).read_to_end(&mut text).at(shown)?;
    let index: RepoIndex = serde_json::from_slice(&text)
        .map_err(|e| Error::format(shown, 0, format!("{INDEX_MEMBER}: {e}")))?;
    if index.format != INDEX_FORMAT {
        return Err(Error::format(
            shown,
            0,
            format!(
                "{INDEX_MEMBER} has format {}, this xcatport reads {INDEX_FORMAT}",
                index.format
            ),
        ));
    }
    for repo in &index.repos {
        if !is_valid_name(&repo.name) {
            return Err(Error::format(
                shown,
                0,
                format!(
                    "{INDEX_MEMBER}: repo name {:?} is not a plain name",
                    repo.name
                ),
            ));
        }
    }
    Ok(index)
}

/// Checks the kinds fit the family and clears what an earlier run left.
fn prepare(root: &Root, index: &RepoIndex, family: Family, reg: &mut Registered) -> Result<()> {
    let want = match family {
        Family::Rhel | Family::Sles => RepoKind::RpmMd,
        Family::Ubuntu => RepoKind::Deb,
    };
    for repo in &index.repos {
        if repo.kind != want {
            return Err(Error::Refused(format!(
                "repo {} is a {:?} repository; a {family} MN cannot use it",
                repo.name, repo.kind
            )));
        }
        for top in [REPOS_DIR, KEYS_DIR] {
            let dir = RelPath::new(top)?.join(&repo.name)?;
            remove_ours(root, &dir)?;
            // for_write creates the missing parents of "x", safely: the dir.
            root.for_write(&dir.join("x")?)?;
            reg.created.push(dir);
        }
    }
    Ok(())
}

/// Removes a directory xcatport created earlier, refusing a symlink there.
fn remove_ours(root: &Root, dir: &RelPath) -> Result<()> {
    let host = root.join(dir);
    match std::fs::symlink_metadata(&host) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Escape {
            path: host,
            reason: "is a symbolic link where xcatport keeps its repos; refusing".into(),
        }),
        Ok(m) if m.is_dir() => {
            root.for_write(dir)?; // checks no parent is a symlink
            std::fs::remove_dir_all(&host).at(&host)
        }
        Ok(_) => std::fs::remove_file(&host).at(&host),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(host, e)),
    }
}

/// Writes one member under the root, if its path is one the index allows.
fn write_member(
    root: &Root,
    index: &RepoIndex,
    member: &str,
    data: &mut dyn Read,
    shown: &Path,
) -> Result<()> {
    let rel = RelPath::new(member)?;
    let mut parts = rel.as_path().components();
    let top = parts
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let name = parts
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let rest = parts.as_path();
    let dest_top = match top.as_deref() {
        Some("repos") => REPOS_DIR,
        Some("keys") => KEYS_DIR,
        _ => {
            return Err(Error::format(
                shown,
                0,
                format!("unexpected member {member:?}: only repos/… and keys/… are accepted"),
            ))
        }
    };
    let Some(name) = name.filter(|n| index.repos.iter().any(|r| &r.name == n)) else {
        return Err(Error::format(
            shown,
            0,
            format!("member {member:?} belongs to no repo in {INDEX_MEMBER}"),
        ));
    };
    if rest.as_os_str().is_empty() {
        return Err(Error::format(
            shown,
            0,
            format!("member {member:?} is not a file path"),
        ));
    }
    let dest = RelPath::new(dest_top)?.join(&name)?.join(rest)?;
    let host = root.for_write(&dest)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&host)
        .at(&host)?;
    io::copy(data, &mut out).at(&host)?;
    out.flush().at(&host)?;
    Ok(())
}

/// Writes the index copy and the definitions.
fn finish(root: &Root, index: &RepoIndex, family: Family, reg: &mut Registered) -> Result<()> {
    let index_rel = RelPath::new(REPOS_DIR)?.join(INDEX_MEMBER)?;
    let json = serde_json::to_vec_pretty(index)
        .map_err(|e| Error::Refused(format!("cannot encode {INDEX_MEMBER}: {e}")))?;
    write_file(root, &index_rel, &json)?;
    reg.created.push(index_rel);
    for repo in &index.repos {
        let dir = RelPath::new(REPOS_DIR)?.join(&repo.name)?;
        let (definition, text) = match family {
            Family::Rhel => (
                RelPath::new(format!("etc/yum.repos.d/xcatport-{}.repo", repo.name))?,
                rpm_definition(repo, &dir, false),
            ),
            Family::Sles => (
                RelPath::new(format!("etc/zypp/repos.d/xcatport-{}.repo", repo.name))?,
                rpm_definition(repo, &dir, true),
            ),
            Family::Ubuntu => (
                RelPath::new(format!(
                    "etc/apt/sources.list.d/xcatport-{}.list",
                    repo.name
                ))?,
                apt_definition(repo, &dir)?,
            ),
        };
        write_file(root, &definition, text.as_bytes())?;
        reg.created.push(definition.clone());
        reg.repos.push(RegisteredRepo {
            name: repo.name.clone(),
            kind: repo.kind,
            dir,
            definition,
        });
    }
    Ok(())
}

/// Replaces a file of ours (never writing through a link).
fn write_file(root: &Root, rel: &RelPath, bytes: &[u8]) -> Result<()> {
    let host = root.for_write(rel)?;
    match std::fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => {
            return Err(Error::io(
                &host,
                io::Error::other("is a directory, expected a file"),
            ))
        }
        Ok(_) => std::fs::remove_file(&host).at(&host)?,
        Err(_) => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&host)
        .at(&host)?;
    f.write_all(bytes).at(&host)?;
    Ok(())
}

/// The MN path a key member is restored to.
pub fn key_path(member: &str) -> Result<PathBuf> {
    let rel = RelPath::new(member)?;
    let mut parts = rel.as_path().components();
    let top = parts.next().map(|c| c.as_os_str().to_owned());
    let base = if top.as_deref() == Some(std::ffi::OsStr::new("keys")) {
        KEYS_DIR
    } else {
        REPOS_DIR
    };
    Ok(Path::new("/").join(base).join(parts.as_path()))
}

/// A yum/dnf or zypper definition of the local copy, with the repo's
/// gpgcheck settings and keys as on the source, for the MN to read.
pub fn rpm_definition(repo: &Repo, dir: &RelPath, zypper: bool) -> String {
    rpm_definition_at(repo, &dir.to_absolute(), None, zypper)
}

/// As [`rpm_definition`], with the repo at `dir` and keys under `key_prefix`
/// (a host path prefix for installs into a root).
pub fn rpm_definition_at(
    repo: &Repo,
    dir: &Path,
    key_prefix: Option<&Path>,
    zypper: bool,
) -> String {
    let mut s = format!(
        "# Written by xcatport: {} from {} (baseurl {}).\n[xcatport-{}]\nname=xCAT packages: {} (restored by xcatport)\n",
        repo.name, repo.found_in, repo.baseurl, repo.name, repo.name
    );
    let scheme = if zypper { "dir://" } else { "file://" };
    s.push_str(&format!("baseurl={scheme}{}\nenabled=1\n", dir.display()));
    if zypper {
        s.push_str("autorefresh=0\ntype=rpm-md\nkeeppackages=0\n");
    }
    let flag = |b: bool| if b { "1" } else { "0" };
    if let Some(g) = repo.gpgcheck {
        s.push_str(&format!("gpgcheck={}\n", flag(g)));
    }
    if let Some(g) = repo.repo_gpgcheck {
        s.push_str(&format!("repo_gpgcheck={}\n", flag(g)));
    }
    if let (Some(g), true) = (repo.pkg_gpgcheck, zypper) {
        s.push_str(&format!("pkg_gpgcheck={}\n", flag(g)));
    }
    let keys: Vec<String> = repo
        .gpgkeys
        .iter()
        .map(|k| match &k.member {
            Some(m) => match key_path(m) {
                Ok(p) => {
                    let p = match key_prefix {
                        Some(prefix) => prefix.join(p.strip_prefix("/").unwrap_or(&p)),
                        None => p,
                    };
                    format!("file://{}", p.display())
                }
                Err(_) => k.url.clone(),
            },
            None => k.url.clone(),
        })
        .collect();
    if !keys.is_empty() {
        s.push_str(&format!("gpgkey={}\n", keys.join(" ")));
    }
    s
}

/// An apt one-line source for the local copy: the source's options, with
/// `signed-by` pointing at the restored keys.
fn apt_definition(repo: &Repo, dir: &RelPath) -> Result<String> {
    let src = repo.deb.as_ref().ok_or_else(|| {
        Error::Refused(format!(
            "repo {} is a deb repo without its apt source",
            repo.name
        ))
    })?;
    let mut opts: Vec<String> = src
        .options
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("signed-by"))
        .map(|(k, v)| format!("{}={v}", k.to_ascii_lowercase()))
        .collect();
    let mut keys = Vec::new();
    for k in &repo.gpgkeys {
        match &k.member {
            Some(m) => keys.push(key_path(m)?.display().to_string()),
            None => keys.push(k.url.clone()),
        }
    }
    if !keys.is_empty() {
        opts.push(format!("signed-by={}", keys.join(",")));
    }
    let opts = if opts.is_empty() {
        String::new()
    } else {
        format!("[{}] ", opts.join(" "))
    };
    let mut line = format!(
        "# Written by xcatport: {} from {} ({}).\ndeb {opts}file:{} {}",
        repo.name,
        repo.found_in,
        repo.baseurl,
        dir.to_absolute().display(),
        src.suite
    );
    for c in &src.components {
        line.push(' ');
        line.push_str(c);
    }
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries_of(tar: &[u8]) -> Result<RepoIndex> {
        let mut archive = tar::Archive::new(tar);
        let mut entries = archive.entries().unwrap();
        read_index_member(&mut entries, Path::new("/stick/xcat-rpms.tar"))
    }

    #[test]
    fn the_index_is_read_from_the_first_member_only() {
        let mut packed = Vec::new();
        crate::repo::pack(&[], &mut packed).unwrap();
        assert_eq!(entries_of(&packed).unwrap().format, INDEX_FORMAT);

        let e = entries_of(&[0u8; 1024]).unwrap_err().to_string();
        assert_eq!(
            e, "/stick/xcat-rpms.tar: empty archive: no repo index",
            "{e}"
        );

        let mut other = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_cksum();
        other
            .append_data(&mut header, "repos/x/a.rpm", &b"{}"[..])
            .unwrap();
        let e = entries_of(&other.into_inner().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("first member is \"repos/x/a.rpm\", expected xcatport-repos.json"),
            "{e}"
        );
    }
}
