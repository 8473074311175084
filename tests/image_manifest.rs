//! manifest.xml against real xCAT output and the spec's examples, plus
//! round-trip properties over the model.

use proptest::prelude::*;
use std::path::Path;
use xcatport::image::{Columns, Extra, Manifest, Record};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/xcat-samples/bundles/netboot-p-e/manifest.xml"
);

#[test]
fn real_xcat_manifest_reads_and_writes_back_byte_identical() {
    let bytes = std::fs::read(SAMPLE).unwrap();
    let m = Manifest::parse(&bytes, Path::new(SAMPLE)).unwrap();
    assert_eq!(m.image_name(), Some("rhels8.6-x86_64-netboot-compute"));
    assert_eq!(m.osimage["provmethod"], "netboot");
    assert_eq!(m.linuximage["addkcmdline"], "console=ttyS0,115200");
    assert_eq!(
        m.extras,
        vec![Extra {
            src: "/install/postscripts/myscript1".into(),
            dest: "/install/postscripts".into()
        }]
    );
    assert_eq!(
        m.postscripts.as_deref(),
        Some("syslog,remoteshell,syncfiles,myscript1,setupntp")
    );
    assert_eq!(m.postbootscripts.as_deref(), Some("otherpkgs,mypostboot1"));
    assert_eq!(
        m.rootimg.as_deref(),
        Some("/install/netboot/rhels8.6/x86_64/compute/rootimg.cpio.gz")
    );
    assert!(m.kits.is_empty() && m.ignored.is_empty());
    assert_eq!(m.to_xml().unwrap().as_bytes(), &bytes[..]);
}

/// Spec §4.3, completed: the second kitcomp's elided columns filled in.
const SPEC_NETBOOT_KITS: &str = r#"<?xml version="1.0"?>
<xcatimage>
  <extra>
    <dest>/install/postscripts</dest>
    <src>/install/postscripts/myscript</src>
  </extra>
  <kernel>/install/netboot/rhels8.6/x86_64/compute/kernel</kernel>
  <kit>
    <name>mykit-1.0-1</name>
    <basename>mykit</basename>
    <kitdir>/install/kits/mykit-1.0-1</kitdir>
    <kitname>mykit-1.0-1</kitname>
  </kit>
  <kitcomp>
    <name>mykit_a-1.0-1-rhels-8-x86_64</name>
    <kitcompname>mykit_a-1.0-1-rhels-8-x86_64</kitcompname>
    <kitname>mykit-1.0-1</kitname>
  </kitcomp>
  <kitcomp>
    <name>mykit_b-1.0-1-rhels-8-x86_64</name>
    <kitcompname>mykit_b-1.0-1-rhels-8-x86_64</kitcompname>
    <kitname>mykit-1.0-1</kitname>
  </kitcomp>
  <kitrepo>
    <name>mykit-1.0-1-rhels-8-x86_64</name>
    <kitname>mykit-1.0-1</kitname>
    <kitrepodir>/install/kits/mykit-1.0-1/repos/mykit-1.0-1-rhels-8-x86_64</kitrepodir>
    <kitreponame>mykit-1.0-1-rhels-8-x86_64</kitreponame>
  </kitrepo>
  <linuximage>
    <exlist>/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.exlist</exlist>
    <imagename>rhels8.6-x86_64-netboot-compute</imagename>
    <pkglist>/opt/xcat/share/xcat/netboot/rh/compute.rhels8.x86_64.pkglist</pkglist>
    <rootimgdir>/install/netboot/rhels8.6/x86_64/compute</rootimgdir>
  </linuximage>
  <osimage>
    <imagename>rhels8.6-x86_64-netboot-compute</imagename>
    <imagetype>linux</imagetype>
    <kitcomponents>mykit_a-1.0-1-rhels-8-x86_64</kitcomponents>
    <osarch>x86_64</osarch>
    <osvers>rhels8.6</osvers>
    <profile>compute</profile>
    <provmethod>netboot</provmethod>
  </osimage>
  <postbootscripts>otherpkgs</postbootscripts>
  <postscripts>syslog,remoteshell,syncfiles,myscript</postscripts>
  <ramdisk>/install/netboot/rhels8.6/x86_64/compute/initrd-stateless.gz</ramdisk>
  <rootimg>/install/netboot/rhels8.6/x86_64/compute/rootimg.cpio.gz</rootimg>
</xcatimage>
"#;

fn cols(pairs: &[(&str, &str)]) -> Columns {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn netboot_with_kits_matches_spec_example() {
    let m = Manifest::parse(SPEC_NETBOOT_KITS.as_bytes(), Path::new("spec")).unwrap();
    assert_eq!(m.kitcomps.len(), 2);
    assert_eq!(m.kits[0].columns["kitdir"], "/install/kits/mykit-1.0-1");
    // Built from scratch, records out of order: the writer sorts them.
    let mut built = m.clone();
    built.kitcomps.reverse();
    assert_eq!(built.to_xml().unwrap(), SPEC_NETBOOT_KITS);
}

fn base(provmethod: &str, profile: &str) -> Manifest {
    let name = format!("rhels8.6-x86_64-{provmethod}-{profile}");
    Manifest {
        osimage: cols(&[
            ("imagename", &name),
            ("osarch", "x86_64"),
            ("osvers", "rhels8.6"),
            ("profile", profile),
            ("provmethod", provmethod),
        ]),
        linuximage: cols(&[("imagename", &name)]),
        ..Manifest::default()
    }
}

#[test]
fn install_manifest_golden() {
    let mut m = base("install", "compute");
    m.linuximage.insert(
        "template".into(),
        "/opt/xcat/share/xcat/install/rh/compute.rhels8.tmpl".into(),
    );
    m.media = Some("required".into());
    assert_eq!(
        m.to_xml().unwrap(),
        r#"<?xml version="1.0"?>
<xcatimage>
  <linuximage>
    <imagename>rhels8.6-x86_64-install-compute</imagename>
    <template>/opt/xcat/share/xcat/install/rh/compute.rhels8.tmpl</template>
  </linuximage>
  <media>required</media>
  <osimage>
    <imagename>rhels8.6-x86_64-install-compute</imagename>
    <osarch>x86_64</osarch>
    <osvers>rhels8.6</osvers>
    <profile>compute</profile>
    <provmethod>install</provmethod>
  </osimage>
</xcatimage>
"#
    );
}

#[test]
fn statelite_manifest_golden() {
    let mut m = base("statelite", "service");
    let dir = "/install/netboot/rhels8.6/x86_64/service";
    m.linuximage.insert("rootimgdir".into(), dir.into());
    m.kernel = Some(format!("{dir}/kernel"));
    m.ramdisk = Some(format!("{dir}/initrd-statelite.gz"));
    m.rootimgtree = Some(format!("{dir}/rootimgtree.gz"));
    m.litefile = Some(format!("{dir}/litefile.csv"));
    assert_eq!(
        m.to_xml().unwrap(),
        r#"<?xml version="1.0"?>
<xcatimage>
  <kernel>/install/netboot/rhels8.6/x86_64/service/kernel</kernel>
  <linuximage>
    <imagename>rhels8.6-x86_64-statelite-service</imagename>
    <rootimgdir>/install/netboot/rhels8.6/x86_64/service</rootimgdir>
  </linuximage>
  <litefile>/install/netboot/rhels8.6/x86_64/service/litefile.csv</litefile>
  <osimage>
    <imagename>rhels8.6-x86_64-statelite-service</imagename>
    <osarch>x86_64</osarch>
    <osvers>rhels8.6</osvers>
    <profile>service</profile>
    <provmethod>statelite</provmethod>
  </osimage>
  <ramdisk>/install/netboot/rhels8.6/x86_64/service/initrd-statelite.gz</ramdisk>
  <rootimgtree>/install/netboot/rhels8.6/x86_64/service/rootimgtree.gz</rootimgtree>
</xcatimage>
"#
    );
}

#[test]
fn s390x_raw_manifest_golden() {
    let mut m = base("raw", "compute");
    for (k, v) in [
        ("osarch", "s390x"),
        ("imagename", "sles15-s390x-raw-compute"),
    ] {
        m.osimage.insert(k.into(), v.into());
    }
    m.linuximage
        .insert("imagename".into(), "sles15-s390x-raw-compute".into());
    m.osimage.insert("osvers".into(), "sles15".into());
    m.rawimagefiles = Some(vec![
        "/install/raw/sles15/s390x/compute/0100.img".into(),
        "/install/raw/sles15/s390x/compute/0101.img".into(),
    ]);
    assert_eq!(
        m.to_xml().unwrap(),
        r#"<?xml version="1.0"?>
<xcatimage>
  <linuximage>
    <imagename>sles15-s390x-raw-compute</imagename>
  </linuximage>
  <osimage>
    <imagename>sles15-s390x-raw-compute</imagename>
    <osarch>s390x</osarch>
    <osvers>sles15</osvers>
    <profile>compute</profile>
    <provmethod>raw</provmethod>
  </osimage>
  <rawimagefiles>
    <files>/install/raw/sles15/s390x/compute/0100.img</files>
    <files>/install/raw/sles15/s390x/compute/0101.img</files>
  </rawimagefiles>
</xcatimage>
"#
    );
    let back = Manifest::parse(m.to_xml().unwrap().as_bytes(), Path::new("x")).unwrap();
    assert_eq!(back, m);
}

// ---------------------------------------------------------------------------
// Properties.

fn value() -> impl Strategy<Value = String> {
    // Anything XML can carry that XMLin reads back as a non-empty value.
    "[ -~\t\n\r&<>\"'äé€😀]{0,12}[!-~äé€]"
}

fn columns_of(table: &str) -> impl Strategy<Value = Columns> {
    let names: Vec<String> = xcatport::image::columns::of(table).to_vec();
    proptest::collection::btree_map(proptest::sample::select(names), value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn records(names: &'static str, key: &'static str) -> impl Strategy<Value = Vec<Record>> {
    proptest::collection::btree_map("[a-z][a-z0-9._-]{0,10}", columns_of(names), 0..4).prop_map(
        move |m| {
            m.into_iter()
                .map(|(name, mut columns)| {
                    columns.insert(key.to_string(), name.clone());
                    Record { name, columns }
                })
                .collect()
        },
    )
}

prop_compose! {
    fn manifest()(
        osimage in columns_of("osimage"),
        linuximage in columns_of("linuximage"),
        kits in records("kit", "kitname"),
        kitrepos in records("kitrepo", "kitreponame"),
        kitcomps in records("kitcomponent", "kitcompname"),
        extras in proptest::collection::vec((value(), value()), 0..3),
        scalars in proptest::collection::vec(proptest::option::of(value()), 8),
        raw in proptest::option::of(proptest::collection::vec(value(), 0..3)),
    ) -> Manifest {
        Manifest {
            osimage, linuximage, kits, kitrepos, kitcomps,
            extras: extras.into_iter().map(|(src, dest)| Extra { src, dest }).collect(),
            kernel: scalars[0].clone(), ramdisk: scalars[1].clone(),
            rootimg: scalars[2].clone(), rootimgtree: scalars[3].clone(),
            litefile: scalars[4].clone(), media: scalars[5].clone(),
            postscripts: scalars[6].clone(), postbootscripts: scalars[7].clone(),
            rawimagefiles: raw,
            ignored: Vec::new(),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn model_round_trips(m in manifest()) {
        let xml = m.to_xml().unwrap();
        let back = Manifest::parse(xml.as_bytes(), Path::new("p")).unwrap();
        prop_assert_eq!(&back, &m);
        // And the writer is a fixed point on its own output.
        prop_assert_eq!(back.to_xml().unwrap(), xml);
    }

    #[test]
    fn element_order_does_not_matter(m in manifest(), seed in any::<u64>()) {
        // Shuffle the root children's order; the reader relies on names only.
        let xml = m.to_xml().unwrap();
        let body = xml.trim_start_matches("<?xml version=\"1.0\"?>\n<xcatimage>\n")
            .trim_end_matches("</xcatimage>\n");
        let mut blocks: Vec<String> = Vec::new();
        for line in body.lines() {
            if line.starts_with("  ") && !line.starts_with("   ") && !line.starts_with("  </") {
                blocks.push(String::new());
            }
            let last = blocks.last_mut().unwrap();
            last.push_str(line);
            last.push('\n');
        }
        // <extra> records are a list: their relative order is data.
        let (extras, mut others): (Vec<String>, Vec<String>) =
            blocks.into_iter().partition(|b| b.starts_with("  <extra>"));
        let n = others.len().max(1);
        others.rotate_left((seed as usize) % n);
        others.extend(extras);
        let shuffled = format!("<xcatimage>\n{}</xcatimage>\n", others.concat());
        let back = Manifest::parse(shuffled.as_bytes(), Path::new("p")).unwrap();
        prop_assert_eq!(back.to_xml().unwrap(), xml);
    }
}
