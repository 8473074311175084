//! imgimport of kit-based images (spec §6.2 and D1c, D15): a kit's
//! other_files become postscripts, its plugins are refused unless allowed,
//! and the otherpkgdir → kit repo links are recreated. Crafted bundles are
//! imported through the real SQLite database of a bare MN.

use clap::Parser;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use xcatport::cli::ImgImportArgs;
use xcatport::fixture::{self, Family, Scale, Spec};
use xcatport::image::{BackendDb, ImageDb};

const IMAGE: &str = "rhels8.6-x86_64-netboot-compute";
const KITDIR: &str = "/install/kits/k-1";
const OTHERPKGDIR: &str = "/install/post/otherpkgs/rhels8.6/x86_64";

fn bare() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = d.path().join("mn");
    fixture::build_bare(&root, &Spec::new(Scale::Small, Family::Rhel, 1)).unwrap();
    (d, root)
}

/// A member of a crafted bundle.
enum M<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

/// A gzip'd tar of `members` under `./<IMAGE>/`.
fn bundle(dir: &Path, members: &[M]) -> PathBuf {
    let path = dir.join("b.tgz");
    let gz = flate2::write::GzEncoder::new(fs::File::create(&path).unwrap(), Default::default());
    let mut b = tar::Builder::new(gz);
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        match m {
            M::File(name, data) => {
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append_data(&mut h, format!("{IMAGE}/{name}"), *data)
                    .unwrap();
            }
            M::Link(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, format!("{IMAGE}/{name}"), target)
                    .unwrap();
            }
        }
    }
    b.into_inner().unwrap().finish().unwrap().flush().unwrap();
    path
}

/// A netboot manifest with kit k-1 (repos a and b, component c-1 from repo
/// a) and `otherpkgdir`.
fn manifest(otherpkgdir: &str, repo_a_dir: &str) -> String {
    let dir = "/install/netboot/rhels8.6/x86_64/compute";
    format!(
        r#"<?xml version="1.0"?>
<xcatimage>
  <kernel>{dir}/kernel</kernel>
  <kit>
    <name>k-1</name>
    <basename>k</basename>
    <kitdir>{KITDIR}</kitdir>
    <kitname>k-1</kitname>
  </kit>
  <kitcomp>
    <name>c-1</name>
    <kitcompname>c-1</kitcompname>
    <kitname>k-1</kitname>
    <kitreponame>k-1-repo-a</kitreponame>
  </kitcomp>
  <kitrepo>
    <name>k-1-repo-a</name>
    <kitname>k-1</kitname>
    <kitrepodir>{repo_a_dir}</kitrepodir>
    <kitreponame>k-1-repo-a</kitreponame>
  </kitrepo>
  <kitrepo>
    <name>k-1-repo-b</name>
    <kitname>k-1</kitname>
    <kitrepodir>{KITDIR}/repos/k-1-repo-b</kitrepodir>
    <kitreponame>k-1-repo-b</kitreponame>
  </kitrepo>
  <linuximage>
    <imagename>{IMAGE}</imagename>
    <otherpkgdir>{otherpkgdir}</otherpkgdir>
  </linuximage>
  <osimage>
    <imagename>{IMAGE}</imagename>
    <kitcomponents>c-1</kitcomponents>
    <osarch>x86_64</osarch>
    <osvers>rhels8.6</osvers>
    <profile>compute</profile>
    <provmethod>netboot</provmethod>
  </osimage>
  <ramdisk>{dir}/initrd-stateless.gz</ramdisk>
  <rootimg>{dir}/rootimg.cpio.gz</rootimg>
</xcatimage>
"#
    )
}

fn good_manifest() -> String {
    manifest(OTHERPKGDIR, &format!("{KITDIR}/repos/k-1-repo-a"))
}

fn base_members(xml: &str) -> Vec<M<'_>> {
    vec![
        M::File("manifest.xml", xml.as_bytes()),
        M::File("kernel", b"k"),
        M::File("initrd-stateless.gz", b"i"),
        M::File("rootimg.cpio.gz", b"r"),
        M::File("k-1/kit.conf", b"kit"),
        M::File("k-1/repos/k-1-repo-a/a.rpm", b"a"),
        M::File("k-1/other_files/c-1.postscript", b"#!/bin/sh\necho c\n"),
        M::File("k-1/other_files/c-1.exlist", b"./usr/share/doc*\n"),
        M::File("k-1/other_files/c-1.env", b"X=1\n"),
        M::File("k-1/other_files/.hidden", b"h"),
    ]
}

fn import(root: &Path, dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut argv = vec!["imgimport", "b.tgz"];
    argv.extend_from_slice(extra);
    let args = ImgImportArgs::parse_from(argv);
    let mut db = BackendDb::open(root).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let r = xcatport::app::imgimport::import(&mut db, root, dir, &args, &mut out, &mut err);
    if let Err(e) = &r {
        writeln!(err, "{e}").unwrap();
    }
    (
        r.is_ok(),
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Nothing of the image reached the MN: no kit dir, postscripts, links,
/// plugins, rows.
fn nothing_written(root: &Path) {
    assert!(!root.join("install/kits").exists());
    assert!(!root.join("install/post/otherpkgs").exists());
    assert!(!root.join("install/postscripts/c-1.postscript").exists());
    assert!(!root.join("opt/xcat/lib/perl/xCAT_plugin/k1.pm").exists());
    let db = BackendDb::open(root).unwrap();
    assert!(db
        .rows_where("osimage", "imagename", IMAGE)
        .unwrap()
        .is_empty());
    assert!(db.rows_where("kit", "kitname", "k-1").unwrap().is_empty());
}

#[test]
fn kit_other_files_become_postscripts_and_repo_links_are_made() {
    let (d, root) = bare();
    let xml = good_manifest();
    bundle(d.path(), &base_members(&xml));
    let (ok, out, err) = import(&root, d.path(), &[]);
    assert!(ok, "{out}{err}");
    let ps = root.join("install/postscripts");
    assert_eq!(
        fs::read(ps.join("c-1.postscript")).unwrap(),
        b"#!/bin/sh\necho c\n"
    );
    assert_eq!(mode(&ps.join("c-1.postscript")), 0o755);
    for skipped in ["c-1.exlist", "c-1.env", ".hidden"] {
        assert!(!ps.join(skipped).exists(), "{skipped} copied");
    }
    // The kit itself keeps its other_files.
    assert_eq!(
        fs::read(root.join("install/kits/k-1/other_files/c-1.exlist")).unwrap(),
        b"./usr/share/doc*\n"
    );
    // D15: only the repo the image's component uses.
    let link = root.join("install/post/otherpkgs/rhels8.6/x86_64/k-1-repo-a");
    assert_eq!(
        fs::read_link(&link).unwrap(),
        Path::new("/install/kits/k-1/repos/k-1-repo-a")
    );
    assert!(
        fs::symlink_metadata(root.join("install/post/otherpkgs/rhels8.6/x86_64/k-1-repo-b"))
            .is_err()
    );
    for line in [
        "/install/postscripts/c-1.postscript\n",
        "/install/post/otherpkgs/rhels8.6/x86_64/k-1-repo-a\n",
        "/install/kits/k-1\n",
    ] {
        assert!(out.contains(line), "{line} not in {out}");
    }
    assert!(out.ends_with(&format!("Successfully imported the image {IMAGE}.\n")));
    // No leftovers of the staged copies and links.
    let names: Vec<String> = fs::read_dir(&ps)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".xcatport")),
        "{names:?}"
    );

    // Again: the postscript is kept as .ORIG, the identical link is left alone.
    fs::write(ps.join("c-1.postscript"), b"local edit").unwrap();
    let (ok, out, err) = import(&root, d.path(), &[]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        fs::read(ps.join("c-1.postscript.ORIG")).unwrap(),
        b"local edit"
    );
    assert_eq!(
        fs::read(ps.join("c-1.postscript")).unwrap(),
        b"#!/bin/sh\necho c\n"
    );
    assert!(fs::symlink_metadata(link.with_extension("ORIG")).is_err());
    assert!(!out.contains("k-1-repo-a.ORIG"), "{out}");
    assert!(fs::read_link(&link).is_ok());
}

#[test]
fn kit_plugins_are_refused_unless_allowed() {
    let (d, root) = bare();
    let xml = good_manifest();
    let mut m = base_members(&xml);
    m.push(M::File(
        "k-1/plugins/k1.pm",
        b"package xCAT_plugin::k1; 1;\n",
    ));
    bundle(d.path(), &m);
    let (ok, out, err) = import(&root, d.path(), &[]);
    assert!(!ok);
    assert!(
        err.contains("kit k-1 ships xCAT plugins (k1.pm), code xcatd runs as root; refusing to install them into /opt/xcat/lib/perl/xCAT_plugin without --allow-kit-plugins"),
        "{err}"
    );
    assert!(!out.contains("Successfully"), "{out}");
    nothing_written(&root);

    let (ok, out, err) = import(&root, d.path(), &["--allow-kit-plugins"]);
    assert!(ok, "{out}{err}");
    let plugin = root.join("opt/xcat/lib/perl/xCAT_plugin/k1.pm");
    assert_eq!(fs::read(&plugin).unwrap(), b"package xCAT_plugin::k1; 1;\n");
    assert_eq!(mode(&plugin), 0o644);
    assert!(
        out.contains("/opt/xcat/lib/perl/xCAT_plugin/k1.pm\n"),
        "{out}"
    );
    // Not a live MN (the root is not /): no restart note.
    assert!(!out.contains("restart"), "{out}");
}

#[test]
fn kit_other_file_that_is_a_symlink_is_refused() {
    let (d, root) = bare();
    let xml = good_manifest();
    let mut m = base_members(&xml);
    m.push(M::Link("k-1/other_files/shadow", "/etc/shadow"));
    bundle(d.path(), &m);
    let (ok, _, err) = import(&root, d.path(), &[]);
    assert!(!ok);
    // The bundle reader or the kit check refuses it; either way, nothing lands.
    assert!(err.contains("shadow"), "{err}");
    nothing_written(&root);
}

#[test]
fn kit_plugin_that_is_a_symlink_is_refused_even_when_allowed() {
    let (d, root) = bare();
    let xml = good_manifest();
    let mut m = base_members(&xml);
    m.push(M::Link("k-1/plugins/evil.pm", "../kit.conf"));
    bundle(d.path(), &m);
    let (ok, _, err) = import(&root, d.path(), &["--allow-kit-plugins"]);
    assert!(!ok);
    assert!(
        err.contains("kit k-1: plugins/evil.pm in the bundle is not a regular file; refusing"),
        "{err}"
    );
    nothing_written(&root);
}

#[test]
fn repo_link_outside_the_install_tree_is_refused() {
    for (otherpkgdir, repo_dir, expect) in [
        (
            "/etc/yum.repos.d",
            "/install/kits/k-1/repos/k-1-repo-a",
            "outside /install/",
        ),
        (
            OTHERPKGDIR,
            "/etc",
            "kit repo directory \"/etc\", which is not a plain path inside /install/",
        ),
        (
            OTHERPKGDIR,
            "/install/../etc",
            "kit repo directory \"/install/../etc\", which is not a plain path",
        ),
    ] {
        let (d, root) = bare();
        let xml = manifest(otherpkgdir, repo_dir);
        bundle(d.path(), &base_members(&xml));
        let (ok, _, err) = import(&root, d.path(), &[]);
        assert!(!ok, "{otherpkgdir} {repo_dir}");
        assert!(err.contains(expect), "{expect} not in {err}");
        nothing_written(&root);
    }
}

#[test]
fn failed_database_write_removes_copied_postscripts_and_links() {
    let (d, root) = bare();
    // A kit row whose column the schema does not know makes the DB write fail
    // after every file was placed.
    let xml = good_manifest().replace(
        "    <kitname>k-1</kitname>\n  </kit>",
        "    <kitname>k-1</kitname>\n    <nosuchcolumn>x</nosuchcolumn>\n  </kit>",
    );
    bundle(d.path(), &base_members(&xml));
    let (ok, out, err) = import(&root, d.path(), &[]);
    assert!(!ok, "{out}");
    assert!(err.contains("nosuchcolumn"), "{err}");
    nothing_written(&root);
    assert!(
        fs::symlink_metadata(root.join("install/post/otherpkgs/rhels8.6/x86_64/k-1-repo-a"))
            .is_err()
    );
}
