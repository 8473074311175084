//! Hostile imgimport bundles run through the whole import, not only the
//! bundle reader (tests/image_bundle.rs covers the reader member by
//! member): names smuggled in GNU long-name and PAX records, huge declared
//! sizes, cut gzip streams, and manifest.xml files with bad encodings,
//! entity bombs, deep nesting or a huge size. Each is refused with an error
//! naming the problem, the MN tree (every entry, with modes and contents)
//! is unchanged, no row is written, no staging directory is left, and
//! nothing appears outside the MN.

use clap::Parser;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tar::{EntryType, Header};
use xcatport::cli::ImgImportArgs;
use xcatport::image::{BackendDb, ImageDb, RowChange};

/// A work dir holding `mn/` (the MN root) and `outside/` (must stay empty).
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("hostile-bundle-")
            .tempdir_in("/var/tmp")
            .unwrap();
        fs::create_dir_all(dir.path().join("mn/install/postscripts")).unwrap();
        fs::create_dir_all(dir.path().join("mn/etc")).unwrap();
        fs::write(
            dir.path().join("mn/etc/passwd"),
            b"root:x:0:0::/root:/bin/sh\n",
        )
        .unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        Work { dir }
    }
    fn mn(&self) -> PathBuf {
        self.dir.path().join("mn")
    }
    /// `imgimport BUNDLE` into this MN: the result, stdout and stderr.
    fn import(
        &self,
        db: &mut BackendDb,
        bundle: &Path,
    ) -> (xcatport::Result<Vec<String>>, String, String) {
        let args = ImgImportArgs::parse_from(["imgimport", bundle.to_str().unwrap()]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let r = xcatport::app::imgimport::import(
            db,
            &self.mn(),
            Path::new("/"),
            &args,
            &mut out,
            &mut err,
        );
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (r, text(out), text(err))
    }
    /// The MN's real SQLite database, holding site.installdir.
    fn db(&self) -> BackendDb {
        fs::create_dir_all(self.mn().join("etc/xcat")).unwrap();
        let mut db = BackendDb::open(&self.mn()).unwrap();
        let pair = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        db.apply(&[RowChange {
            table: "site".into(),
            key: pair("key", "installdir"),
            values: pair("value", "/install"),
        }])
        .unwrap();
        db
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
}

/// Every entry under `dir`: path, kind, mode, size and content hash.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let m = e.path().symlink_metadata().unwrap();
            let body = if m.is_file() {
                hex::encode(Sha256::digest(fs::read(e.path()).unwrap()))
            } else if m.file_type().is_symlink() {
                fs::read_link(e.path()).unwrap().display().to_string()
            } else {
                String::new()
            };
            format!(
                "{} {:o} {} {}",
                e.path().strip_prefix(dir).unwrap().display(),
                m.mode(),
                m.len(),
                body
            )
        })
        .collect();
    v.sort();
    v
}

fn header(kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

/// Appends a member whose name (and link target) go in as raw header bytes,
/// past the tar crate's own refusals.
fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: EntryType, body: &[u8], link: &str) {
    let mut h = header(kind, body.len() as u64);
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, body).unwrap();
}

fn netboot_manifest() -> String {
    "<?xml version=\"1.0\"?>\n<xcatimage>\n  <kernel>/install/netboot/e/kernel</kernel>\n  \
     <linuximage>\n    <imagename>evil</imagename>\n  </linuximage>\n  <osimage>\n    \
     <imagename>evil</imagename>\n    <osarch>x86_64</osarch>\n    <osvers>rhels8.6</osvers>\n    \
     <profile>compute</profile>\n    <provmethod>netboot</provmethod>\n  </osimage>\n  \
     <ramdisk>/install/netboot/e/initrd-stateless.gz</ramdisk>\n  \
     <rootimg>/install/netboot/e/rootimg.cpio.gz</rootimg>\n</xcatimage>\n"
        .to_string()
}

/// A well-formed image directory (manifest and the three files it names),
/// then whatever `evil` appends; the tar bytes, not yet compressed.
fn image_tar(manifest: &[u8], evil: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    raw(&mut b, "img/", EntryType::Directory, b"", "");
    raw(&mut b, "img/manifest.xml", EntryType::Regular, manifest, "");
    for name in ["kernel", "initrd-stateless.gz", "rootimg.cpio.gz"] {
        raw(&mut b, &format!("img/{name}"), EntryType::Regular, b"x", "");
    }
    evil(&mut b);
    b.into_inner().unwrap()
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Default::default());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// Imports `bundle_bytes` into the work's MN and checks the refusal.
fn refused(name: &str, bundle_bytes: &[u8], expect: &str) -> Result<(), String> {
    let w = Work::new();
    let bundle = w.dir.path().join(format!("{name}.tgz"));
    fs::write(&bundle, bundle_bytes).unwrap();
    // The database file lives in the MN tree: the listing covers its bytes.
    let mut db = w.db();
    let before = listing(&w.mn());
    let (r, out, err) = w.import(&mut db, &bundle);
    let said = format!("{r:?} / {out} / {err}");
    let mut problems = Vec::new();
    if r.is_ok() {
        problems.push("accepted".to_string());
    }
    if !said.contains(expect) {
        problems.push(format!("message lacks {expect:?}"));
    }
    if listing(&w.mn()) != before {
        problems.push(format!("MN tree changed: {:?}", listing(&w.mn())));
    }
    if !db.rows("osimage").unwrap().is_empty() || !db.rows("linuximage").unwrap().is_empty() {
        problems.push("rows written".into());
    }
    if fs::read_dir(w.outside()).unwrap().count() != 0 {
        problems.push("written outside the MN".into());
    }
    let beside: Vec<_> = fs::read_dir(w.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if beside.len() != 3 {
        problems.push(format!("work dir holds {beside:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{name}: {} ({said})", problems.join("; ")))
    }
}

fn check_all(cases: Vec<(&str, Vec<u8>, &str)>) {
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, bytes, expect)| refused(name, &bytes, expect).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A GNU long-name record naming the next member.
fn long_name(b: &mut tar::Builder<Vec<u8>>, name: &str) {
    let mut body = name.as_bytes().to_vec();
    body.push(0);
    raw(b, "././@LongLink", EntryType::GNULongName, &body, "");
}

/// A PAX extended header giving the next member's path.
fn pax_path(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let record = |len: usize| format!("{len} path={path}\n");
    let mut len = record(0).len();
    while record(len).len() != len {
        len = record(len).len();
    }
    raw(
        b,
        "PaxHeaders/x",
        EntryType::XHeader,
        record(len).as_bytes(),
        "",
    );
}

#[test]
fn hidden_and_oversized_members_are_refused_before_any_write() {
    let w = Work::new(); // only for the shape of the outside path
    let outside_abs = format!("{}/abs", w.outside().display());
    let long_dotdot = format!("img/{}/../../../../outside/x", "d".repeat(120));
    let manifest = netboot_manifest();
    let m = manifest.as_bytes();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "gnu-long-name-dotdot",
            gzip(&image_tar(m, |b| {
                long_name(b, &long_dotdot);
                raw(b, "img/placeholder", EntryType::Regular, b"evil", "");
            })),
            "..",
        ),
        (
            "pax-path-absolute",
            gzip(&image_tar(m, |b| {
                pax_path(b, &outside_abs);
                raw(b, "img/placeholder", EntryType::Regular, b"evil", "");
            })),
            "absolute",
        ),
        (
            "pax-path-dotdot",
            gzip(&image_tar(m, |b| {
                pax_path(b, "img/../../outside/x");
                raw(b, "img/placeholder", EntryType::Regular, b"evil", "");
            })),
            "..",
        ),
        (
            "hardlink-dotdot",
            gzip(&image_tar(m, |b| {
                raw(b, "img/h", EntryType::Link, b"", "img/../../etc/passwd")
            })),
            "..",
        ),
        (
            "huge-declared-size",
            {
                let mut t = image_tar(m, |b| {
                    let mut h = header(EntryType::Regular, 1 << 40);
                    h.as_old_mut().name[..8].copy_from_slice(b"img/huge");
                    h.set_cksum();
                    b.append(&h, &b"short"[..]).ok();
                });
                t.truncate(t.len() - 1024);
                gzip(&t)
            },
            "huge-declared-size.tgz",
        ),
        (
            "gzip-cut",
            {
                let g = gzip(&image_tar(m, |_| {}));
                g[..g.len() - 12].to_vec()
            },
            "gzip-cut.tgz",
        ),
        (
            "not-gzip",
            b"\x1f\x8b\x08\x00garbage after a gzip magic".to_vec(),
            "not-gzip.tgz",
        ),
    ];
    check_all(cases);
}

#[test]
fn hostile_manifest_xml_is_refused_before_any_write() {
    let bomb = {
        let mut x =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE x [\n<!ENTITY a \"aaaaaaaaaa\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "a".to_string()
            } else {
                format!("a{}", i - 1)
            };
            x.push_str(&format!(
                "<!ENTITY a{i} \"{}\">\n",
                format!("&{prev};").repeat(10)
            ));
        }
        x.push_str("]>\n<xcatimage><osimage><imagename>&a9;</imagename></osimage></xcatimage>\n");
        x
    };
    let deep = {
        let mut x = String::from("<xcatimage>");
        x.push_str(&"<osimage>".repeat(100_000));
        x
    };
    let huge = {
        let mut x = netboot_manifest().replace("</xcatimage>", "");
        x.push_str("<!--");
        x.push_str(&"x".repeat(5 << 20));
        x.push_str("-->\n</xcatimage>\n");
        x
    };
    // "café" in ISO-8859-1: not UTF-8, which the XML declaration implies.
    let mut latin1 = netboot_manifest()
        .replacen("<profile>compute", "<profile>caf@", 1)
        .into_bytes();
    let at = latin1.iter().position(|&b| b == b'@').unwrap();
    latin1[at] = 0xe9;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("latin1", gzip(&image_tar(&latin1, |_| {})), "manifest.xml"),
        (
            "entity-bomb",
            gzip(&image_tar(bomb.as_bytes(), |_| {})),
            "manifest.xml",
        ),
        (
            "deep",
            gzip(&image_tar(deep.as_bytes(), |_| {})),
            "manifest.xml",
        ),
        (
            "huge-manifest",
            gzip(&image_tar(huge.as_bytes(), |_| {})),
            "manifest.xml",
        ),
        (
            "not-xml",
            gzip(&image_tar(b"\0\0\0\xff\xfe", |_| {})),
            "manifest.xml",
        ),
        (
            "wrong-root",
            gzip(&image_tar(b"<?xml version=\"1.0\"?><html/>", |_| {})),
            "manifest.xml",
        ),
    ];
    check_all(cases);
}

/// The sample bundle still imports with this harness: the refusals above
/// are about the hostile parts, not the scaffolding.
#[test]
fn the_scaffolding_alone_imports() {
    let w = Work::new();
    let bundle = w.dir.path().join("good.tgz");
    fs::write(
        &bundle,
        gzip(&image_tar(netboot_manifest().as_bytes(), |_| {})),
    )
    .unwrap();
    let mut db = w.db();
    let (r, _, err) = w.import(&mut db, &bundle);
    assert!(r.is_ok(), "{r:?} {err}");
    assert_eq!(
        fs::read(w.mn().join("install/netboot/e/kernel")).unwrap(),
        b"x"
    );
    assert_eq!(db.rows("osimage").unwrap().len(), 1);
}
