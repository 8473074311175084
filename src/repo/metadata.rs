//! What a repository offers, read from its own metadata as the package
//! manager would: `repodata/repomd.xml` and the primary list for rpm-md
//! repos, `Packages` indexes for apt repos. Both are streamed (a primary
//! list can be tens of megabytes uncompressed).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// A package a repository offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoPackage {
    pub name: String,
    /// `[epoch:]version-release` for rpm (epoch only when not 0), the
    /// Debian version for debs.
    pub version: String,
    pub arch: String,
    /// Path of the package file relative to the repo's base directory.
    pub file: String,
    /// Debs only: names this package depends on (`Pre-Depends`, `Depends`;
    /// every alternative), for resolving an install into a root.
    #[serde(skip)]
    pub depends: Vec<Vec<String>>,
}

/// The metadata of an rpm-md repo: files to carry and packages offered.
#[derive(Debug, Default)]
pub struct RpmMd {
    /// `repodata/repomd.xml`, its signature/key if present, and every data
    /// file it lists, relative to the repo base.
    pub metadata_files: Vec<String>,
    pub packages: Vec<RepoPackage>,
}

/// Opens a possibly compressed metadata file by its extension.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).at(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).at(path)?)
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(BufReader::new(file)))
    } else if name.ends_with(".bz2") {
        return Err(Error::format(
            path,
            0,
            "bzip2-compressed metadata is not supported; regenerate the repo with createrepo_c",
        ));
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::new(reader)))
}

fn xml_err(file: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(file, 0, format!("malformed XML: {e}"))
}

/// Reads `repodata/repomd.xml` under `base` and the primary list it names.
pub fn read_rpm_md(base: &Path) -> Result<RpmMd> {
    let repomd = base.join("repodata/repomd.xml");
    let mut md = RpmMd {
        metadata_files: vec!["repodata/repomd.xml".to_string()],
        ..RpmMd::default()
    };
    for extra in ["repodata/repomd.xml.asc", "repodata/repomd.xml.key"] {
        if base.join(extra).is_file() {
            md.metadata_files.push(extra.to_string());
        }
    }
    let mut primary = None;
    let mut reader =
        quick_xml::Reader::from_reader(BufReader::new(File::open(&repomd).at(&repomd)?));
    let mut buf = Vec::new();
    let mut data_type: Option<String> = None;
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(&repomd, e))?
        {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"data" => {
                    data_type = attr(&e, b"type", &repomd)?;
                }
                b"location" => {
                    let href = attr(&e, b"href", &repomd)?
                        .ok_or_else(|| Error::format(&repomd, 0, "<location> without href"))?;
                    check_relative(&href, &repomd)?;
                    if data_type.as_deref() == Some("primary") {
                        primary = Some(href.clone());
                    }
                    md.metadata_files.push(href);
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let primary = primary.ok_or_else(|| Error::format(&repomd, 0, "no primary metadata listed"))?;
    md.packages = read_primary(&base.join(&primary))?;
    Ok(md)
}

fn attr(e: &quick_xml::events::BytesStart, name: &[u8], file: &Path) -> Result<Option<String>> {
    match e.try_get_attribute(name).map_err(|x| xml_err(file, x))? {
        Some(a) => Ok(Some(
            a.unescape_value()
                .map_err(|x| xml_err(file, x))?
                .into_owned(),
        )),
        None => Ok(None),
    }
}

/// A metadata path must stay inside the repo: it is copied onto the stick
/// by that name and extracted by it on the new MN.
fn check_relative(href: &str, file: &Path) -> Result<()> {
    let p = Path::new(href);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::format(
            file,
            0,
            format!("location {href:?} leaves the repository"),
        ));
    }
    Ok(())
}

/// Packages in a primary.xml(.gz/.zst/.xz). Packages whose location has an
/// `xml:base` live elsewhere (a remote base) and are left out.
pub fn read_primary(path: &Path) -> Result<Vec<RepoPackage>> {
    let mut reader = quick_xml::Reader::from_reader(open_decompressed(path)?);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    #[derive(Default)]
    struct Cur {
        name: String,
        arch: String,
        version: String,
        file: Option<String>,
    }
    let mut cur = Cur::default();
    loop {
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_err(path, e))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let local = e.local_name().as_ref().to_vec();
                if stack.len() == 2 && stack[1] == b"package" {
                    match local.as_slice() {
                        b"version" => {
                            let epoch = attr(e, b"epoch", path)?.unwrap_or_default();
                            let ver = attr(e, b"ver", path)?.unwrap_or_default();
                            let rel = attr(e, b"rel", path)?.unwrap_or_default();
                            cur.version = rpm_evr(&epoch, &ver, &rel);
                        }
                        b"location" => {
                            let remote = e
                                .try_get_attribute(b"xml:base")
                                .map_err(|x| xml_err(path, x))?
                                .is_some();
                            let href = attr(e, b"href", path)?.ok_or_else(|| {
                                Error::format(path, 0, "package <location> without href")
                            })?;
                            check_relative(&href, path)?;
                            cur.file = (!remote).then_some(href);
                        }
                        _ => {}
                    }
                }
                if matches!(ev, Event::Start(_)) {
                    stack.push(local);
                }
            }
            Event::Text(t) if stack.len() == 3 && stack[1] == b"package" => {
                let text = t.unescape().map_err(|x| xml_err(path, x))?;
                match stack[2].as_slice() {
                    b"name" => cur.name.push_str(text.trim()),
                    b"arch" => cur.arch.push_str(text.trim()),
                    _ => {}
                }
            }
            Event::End(_) => {
                let closed = stack.pop();
                if closed.as_deref() == Some(b"package") && stack.len() == 1 {
                    let c = std::mem::take(&mut cur);
                    if let Some(file) = c.file {
                        out.push(RepoPackage {
                            name: c.name,
                            version: c.version,
                            arch: c.arch,
                            file,
                            depends: vec![],
                        });
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// `[epoch:]version-release`, the epoch left out when 0 or empty, as
/// `mn::packages` writes installed versions.
pub fn rpm_evr(epoch: &str, ver: &str, rel: &str) -> String {
    let epoch = epoch.trim();
    if epoch.is_empty() || epoch == "0" || epoch == "(none)" {
        format!("{ver}-{rel}")
    } else {
        format!("{epoch}:{ver}-{rel}")
    }
}

/// The first `Packages` index present in `dir` (plain, .gz, .xz), if any.
pub fn packages_index(dir: &Path) -> Option<PathBuf> {
    ["Packages", "Packages.gz", "Packages.xz"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Packages listed in an apt `Packages` index, streamed.
pub fn read_deb_packages(path: &Path) -> Result<Vec<RepoPackage>> {
    let mut r = open_decompressed(path)?;
    let mut out = Vec::new();
    let mut fields: [Option<String>; 4] = Default::default();
    let mut depends: Vec<Vec<String>> = Vec::new();
    let mut line = String::new();
    let mut lineno = 0u64;
    let mut para_start = 0u64;
    let mut finish =
        |f: &mut [Option<String>; 4], deps: &mut Vec<Vec<String>>, at: u64| -> Result<()> {
            let depends = std::mem::take(deps);
            if f.iter().all(Option::is_none) {
                return Ok(());
            }
            let [Some(name), Some(version), arch, Some(file)] = std::mem::take(f) else {
                return Err(Error::format(
                    path,
                    at,
                    "package paragraph needs Package, Version and Filename",
                ));
            };
            check_relative(file.trim_start_matches("./"), path)?;
            out.push(RepoPackage {
                name,
                version,
                arch: arch.unwrap_or_default(),
                file: file.trim_start_matches("./").to_string(),
                depends,
            });
            Ok(())
        };
    loop {
        line.clear();
        if r.read_line(&mut line).at(path)? == 0 {
            break;
        }
        lineno += 1;
        let l = line.trim_end_matches(['\n', '\r']);
        if l.trim().is_empty() {
            finish(&mut fields, &mut depends, para_start)?;
            para_start = 0;
            continue;
        }
        if l.starts_with([' ', '\t']) {
            continue;
        }
        if para_start == 0 {
            para_start = lineno;
        }
        let Some((k, v)) = l.split_once(':') else {
            return Err(Error::format(path, lineno, "expected \"Field: value\""));
        };
        if k == "Depends" || k == "Pre-Depends" {
            depends.extend(parse_depends(v));
            continue;
        }
        let slot = match k {
            "Package" => 0,
            "Version" => 1,
            "Architecture" => 2,
            "Filename" => 3,
            _ => continue,
        };
        fields[slot] = Some(v.trim().to_string());
    }
    finish(&mut fields, &mut depends, para_start)?;
    Ok(out)
}

/// `a (>= 1) | b, c:any` → `[[a, b], [c]]`: names only, versions and
/// architecture qualifiers dropped.
fn parse_depends(v: &str) -> Vec<Vec<String>> {
    v.split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let name = alt.trim().split([' ', '(', '[']).next()?.trim();
                    let name = name.split(':').next().unwrap_or(name);
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_like_installed() {
        assert_eq!(rpm_evr("0", "2.16.5", "1"), "2.16.5-1");
        assert_eq!(rpm_evr("4", "2.16.5", "snap1"), "4:2.16.5-snap1");
        assert_eq!(rpm_evr("", "1", "2"), "1-2");
    }

    #[test]
    fn primary_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("primary.xml");
        std::fs::write(
            &p,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>xCAT</name><arch>noarch</arch><version epoch="4" ver="2.16.5" rel="snap1"/>
<location href="xCAT-2.16.5-snap1.noarch.rpm"/><format><rpm:requires><rpm:entry name="perl"/></rpm:requires><file>/opt/xcat/name</file></format></package>
<package type="rpm"><name>remote</name><arch>x86_64</arch><version epoch="0" ver="1" rel="1"/>
<location xml:base="http://x/" href="remote.rpm"/></package>
</metadata>"#,
        )
        .unwrap();
        let pk = read_primary(&p).unwrap();
        assert_eq!(
            pk,
            vec![RepoPackage {
                name: "xCAT".into(),
                version: "4:2.16.5-snap1".into(),
                arch: "noarch".into(),
                file: "xCAT-2.16.5-snap1.noarch.rpm".into(),
                depends: vec![],
            }]
        );
    }

    #[test]
    fn primary_escape_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("primary.xml");
        std::fs::write(&p, r#"<metadata><package><name>a</name><location href="../../etc/shadow"/></package></metadata>"#).unwrap();
        let e = read_primary(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("location \"../../etc/shadow\" leaves the repository"),
            "{e}"
        );
    }

    #[test]
    fn deb_packages_index() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("Packages");
        std::fs::write(&p, "Package: xcat\nVersion: 2.16.5-snap1\nArchitecture: all\nDepends: perl-xcat (= 2.16.5-snap1)\nFilename: ./xcat_2.16.5-snap1_all.deb\nDescription: x\n more\n\nPackage: broken\nVersion: 1\n").unwrap();
        let e = read_deb_packages(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("Packages:9: package paragraph needs Package, Version and Filename"),
            "{e}"
        );
        std::fs::write(&p, "Package: xcat\nVersion: 2.16.5-snap1\nArchitecture: all\nFilename: ./xcat_2.16.5-snap1_all.deb\n").unwrap();
        assert_eq!(
            read_deb_packages(&p).unwrap(),
            vec![RepoPackage {
                name: "xcat".into(),
                version: "2.16.5-snap1".into(),
                arch: "all".into(),
                file: "xcat_2.16.5-snap1_all.deb".into(),
                depends: vec![],
            }]
        );
        assert_eq!(
            parse_depends("perl-xcat (= 2.1), a | b:any (>= 2) , c [amd64]"),
            vec![
                vec!["perl-xcat".to_string()],
                vec!["a".into(), "b".into()],
                vec!["c".into()]
            ]
        );
    }
}
