//! manifest.xml: the description of one osimage inside a bundle.
//!
//! The writer produces what xCAT's XML::Simple `XMLout(NoAttr)` produces:
//! `<?xml version="1.0"?>`, root `<xcatimage>`, two-space indentation, keys in
//! ASCII order at every level, kit records unfolded with their `<name>` first
//! and sorted by name, and `&`, `<`, `>`, `"` escaped. Empty (or blank)
//! values are left out, as xCAT's `getAttribs` leaves out NULL columns.
//! One deliberate difference keeps data: a carriage return is written as
//! `&#13;`, where XML::Simple writes it raw and every parser turns it into
//! a line feed.
//!
//! The reader follows spec §4.5: elements in any order, records always read
//! as lists, `<name>` as the record key, the legacy 2.7 flat form accepted,
//! empty elements read as NULL. It refuses what would make xCAT misbehave
//! (duplicated sections or values, nested values, unknown columns) and what a
//! safe parser must not process (DOCTYPE/entities, non-UTF-8 encodings,
//! attributes), naming the file and line.

use super::columns;
use crate::error::IoContext;
use crate::{Error, Result};
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Column name → value of one table row. An empty value means NULL.
pub type Columns = BTreeMap<String, String>;

/// The largest manifest.xml the reader accepts; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A kit, kitrepo or kitcomponent row, keyed by its name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The row's key (kitname, kitreponame or kitcompname).
    pub name: String,
    pub columns: Columns,
}

/// An `-e` extra: a source path on the exporting MN and the directory it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extra {
    pub src: String,
    pub dest: String,
}

/// Everything manifest.xml says about one image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub osimage: Columns,
    pub linuximage: Columns,
    /// Sorted by name (the order xCAT writes them in).
    pub kits: Vec<Record>,
    pub kitrepos: Vec<Record>,
    pub kitcomps: Vec<Record>,
    pub extras: Vec<Extra>,
    pub kernel: Option<String>,
    pub ramdisk: Option<String>,
    pub rootimg: Option<String>,
    pub rootimgtree: Option<String>,
    pub litefile: Option<String>,
    pub media: Option<String>,
    /// Root-level lists recorded by `imgexport -p` (not osimage.postscripts).
    pub postscripts: Option<String>,
    pub postbootscripts: Option<String>,
    /// `<rawimagefiles><files>…</files></rawimagefiles>` (s390x images).
    pub rawimagefiles: Option<Vec<String>>,
    /// Root elements the reader did not know (xCAT ignores them too).
    pub ignored: Vec<String>,
}

/// Which kind of kit record, with its element name, table columns and key column.
#[derive(Debug, Clone, Copy)]
enum RecordKind {
    Kit,
    KitRepo,
    KitComp,
}

impl RecordKind {
    fn element(self) -> &'static str {
        match self {
            RecordKind::Kit => "kit",
            RecordKind::KitRepo => "kitrepo",
            RecordKind::KitComp => "kitcomp",
        }
    }
    fn columns(self) -> &'static [String] {
        match self {
            RecordKind::Kit => columns::of("kit"),
            RecordKind::KitRepo => columns::of("kitrepo"),
            RecordKind::KitComp => columns::of("kitcomponent"),
        }
    }
    fn key_column(self) -> &'static str {
        match self {
            RecordKind::Kit => "kitname",
            RecordKind::KitRepo => "kitreponame",
            RecordKind::KitComp => "kitcompname",
        }
    }
}

/// Root elements holding one text value, with the field they fill.
const SCALARS: &[&str] = &[
    "kernel",
    "ramdisk",
    "rootimg",
    "rootimgtree",
    "litefile",
    "media",
    "postscripts",
    "postbootscripts",
];

impl Manifest {
    /// Reads and parses a manifest.xml file.
    pub fn read(path: &Path) -> Result<Manifest> {
        let file = std::fs::File::open(path).at(path)?;
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .at(path)?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(Error::format(
                path,
                0,
                format!("larger than {MAX_MANIFEST_BYTES} bytes, not a manifest.xml"),
            ));
        }
        Manifest::parse(&bytes, path)
    }

    /// Parses manifest.xml bytes; `file` names the source in errors.
    pub fn parse(bytes: &[u8], file: &Path) -> Result<Manifest> {
        let root = parse_tree(bytes, file)?;
        interpret(&root, file)
    }

    /// The scalar root value named `key` (e.g. "kernel").
    pub fn scalar(&self, key: &str) -> Option<&str> {
        match key {
            "kernel" => self.kernel.as_deref(),
            "ramdisk" => self.ramdisk.as_deref(),
            "rootimg" => self.rootimg.as_deref(),
            "rootimgtree" => self.rootimgtree.as_deref(),
            "litefile" => self.litefile.as_deref(),
            "media" => self.media.as_deref(),
            "postscripts" => self.postscripts.as_deref(),
            "postbootscripts" => self.postbootscripts.as_deref(),
            _ => None,
        }
    }

    fn scalar_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        match key {
            "kernel" => Some(&mut self.kernel),
            "ramdisk" => Some(&mut self.ramdisk),
            "rootimg" => Some(&mut self.rootimg),
            "rootimgtree" => Some(&mut self.rootimgtree),
            "litefile" => Some(&mut self.litefile),
            "media" => Some(&mut self.media),
            "postscripts" => Some(&mut self.postscripts),
            "postbootscripts" => Some(&mut self.postbootscripts),
            _ => None,
        }
    }

    /// The image name (`osimage.imagename`), if set.
    pub fn image_name(&self) -> Option<&str> {
        self.osimage.get("imagename").map(String::as_str)
    }

    /// The document xCAT would write for this manifest. Fails on a value
    /// that XML 1.0 cannot carry (control characters) or a column name
    /// that is not in the schema, since no reader could take either back.
    pub fn to_xml(&self) -> Result<String> {
        let mut w = XmlOut::default();
        w.out.push_str("<?xml version=\"1.0\"?>\n<xcatimage>\n");
        // Root keys in ASCII order, as XML::Simple sorts hash keys.
        for extra in &self.extras {
            w.open(1, "extra");
            w.leaf(2, "dest", &extra.dest)?;
            w.leaf(2, "src", &extra.src)?;
            w.close(1, "extra");
        }
        w.opt_leaf(1, "kernel", self.kernel.as_deref())?;
        w.records(RecordKind::Kit, &self.kits)?;
        w.records(RecordKind::KitComp, &self.kitcomps)?;
        w.records(RecordKind::KitRepo, &self.kitrepos)?;
        w.section("linuximage", columns::of("linuximage"), &self.linuximage)?;
        w.opt_leaf(1, "litefile", self.litefile.as_deref())?;
        w.opt_leaf(1, "media", self.media.as_deref())?;
        w.section("osimage", columns::of("osimage"), &self.osimage)?;
        w.opt_leaf(1, "postbootscripts", self.postbootscripts.as_deref())?;
        w.opt_leaf(1, "postscripts", self.postscripts.as_deref())?;
        w.opt_leaf(1, "ramdisk", self.ramdisk.as_deref())?;
        if let Some(files) = &self.rawimagefiles {
            w.open(1, "rawimagefiles");
            for f in files {
                w.leaf(2, "files", f)?;
            }
            w.close(1, "rawimagefiles");
        }
        w.opt_leaf(1, "rootimg", self.rootimg.as_deref())?;
        w.opt_leaf(1, "rootimgtree", self.rootimgtree.as_deref())?;
        w.out.push_str("</xcatimage>\n");
        Ok(w.out)
    }
}

/// A value XML::Simple would write and XMLin would read back as non-empty.
fn is_present(v: &str) -> bool {
    !v.chars().all(char::is_whitespace)
}

#[derive(Default)]
struct XmlOut {
    out: String,
}

impl XmlOut {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }
    fn open(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(">\n");
    }
    fn close(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }
    fn leaf(&mut self, level: usize, name: &str, value: &str) -> Result<()> {
        if !is_present(value) {
            return Ok(());
        }
        self.indent(level);
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, name, value)?;
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        Ok(())
    }
    fn opt_leaf(&mut self, level: usize, name: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(v) => self.leaf(level, name, v),
            None => Ok(()),
        }
    }
    fn section(&mut self, name: &str, allowed: &[String], cols: &Columns) -> Result<()> {
        check_columns(name, allowed, cols.keys())?;
        self.open(1, name);
        for (k, v) in cols {
            self.leaf(2, k, v)?;
        }
        self.close(1, name);
        Ok(())
    }
    fn records(&mut self, kind: RecordKind, records: &[Record]) -> Result<()> {
        let mut sorted: Vec<&Record> = records.iter().collect();
        sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        for r in sorted {
            let el = kind.element();
            check_columns(el, kind.columns(), r.columns.keys())?;
            if !is_present(&r.name) {
                return Err(Error::Refused(format!(
                    "manifest.xml: a <{el}> record has an empty name"
                )));
            }
            self.open(1, el);
            self.leaf(2, "name", &r.name)?;
            for (k, v) in &r.columns {
                self.leaf(2, k, v)?;
            }
            self.close(1, el);
        }
        Ok(())
    }
}

fn check_columns<'a>(
    section: &str,
    allowed: &[String],
    keys: impl Iterator<Item = &'a String>,
) -> Result<()> {
    for k in keys {
        if !allowed.iter().any(|a| a == k.as_str()) {
            return Err(Error::Refused(format!(
                "manifest.xml: <{section}> has no column named {k:?}"
            )));
        }
    }
    Ok(())
}

/// XML::Simple's escaping (`&`, `<`, `>`, `"`), plus `&#13;` for CR.
fn escape_into(out: &mut String, element: &str, value: &str) -> Result<()> {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            c => {
                return Err(Error::Refused(format!(
                    "manifest.xml: <{element}> value contains character U+{:04X}, which XML cannot carry",
                    c as u32
                )))
            }
        }
    }
    Ok(())
}

/// XML 1.0 `Char` production.
fn is_xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

// ---------------------------------------------------------------------------
// Reading: bytes → element tree → Manifest.

/// One element: its name, the line it starts on, its text and its children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    line: u64,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn has_text(&self) -> bool {
        is_present(&self.text)
    }
}

/// Deeper than any manifest goes (root → section → column is 3).
const MAX_DEPTH: usize = 16;

fn parse_tree(bytes: &[u8], file: &Path) -> Result<Node> {
    let fail = |line: u64, msg: String| Error::format(file, line, msg);
    if bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0xFF, 0xFE]) {
        return Err(fail(
            1,
            "UTF-16 manifests are not accepted (UTF-8 only)".into(),
        ));
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            return Err(fail(
                line_at(bytes, at),
                format!("not valid UTF-8 at byte {at}"),
            ));
        }
    };
    let line_of = |pos: u64| line_at(text.as_bytes(), pos as usize);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let before = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            fail(
                line_of(reader.error_position()),
                format!("invalid XML: {e}"),
            )
        })?;
        // quick-xml may report a position inside a skipped BOM: slice safely.
        let rest = text.get(before as usize..).unwrap_or("");
        let line = line_of(before + leading_ws(rest) as u64);
        match event {
            Event::Decl(decl) => {
                let version = decl
                    .version()
                    .map_err(|e| fail(line, format!("invalid XML declaration: {e}")))?;
                if version.as_ref() != b"1.0" {
                    return Err(fail(
                        line,
                        format!(
                            "XML version {} is not accepted (1.0 only)",
                            String::from_utf8_lossy(&version)
                        ),
                    ));
                }
                if let Some(enc) = decl.encoding() {
                    let enc =
                        enc.map_err(|e| fail(line, format!("invalid XML declaration: {e}")))?;
                    let name = String::from_utf8_lossy(&enc).to_ascii_lowercase();
                    if !matches!(name.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii") {
                        return Err(fail(
                            line,
                            format!("encoding {name:?} is not accepted (UTF-8 only)"),
                        ));
                    }
                }
            }
            Event::DocType(_) => {
                return Err(fail(
                    line,
                    "DOCTYPE declarations are not accepted in manifest.xml".into(),
                ))
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                return Err(fail(
                    line,
                    format!("element <{name}> after the root element"),
                ));
            }
            Event::Start(ref start) | Event::Empty(ref start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                if let Some(attr) = start.attributes().next() {
                    let attr = attr.map_err(|e| fail(line, format!("invalid attribute: {e}")))?;
                    return Err(fail(
                        line,
                        format!(
                            "<{name}> has attribute {:?}; manifest.xml carries no attributes",
                            String::from_utf8_lossy(attr.key.as_ref())
                        ),
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(line, format!("<{name}> is nested too deeply")));
                }
                let node = Node {
                    name,
                    line,
                    ..Node::default()
                };
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut root, node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                // check_end_names guarantees a matching open element.
                if let Some(node) = stack.pop() {
                    attach(&mut stack, &mut root, node);
                }
            }
            Event::Text(t) => {
                let raw = std::str::from_utf8(t.as_ref())
                    .map_err(|e| fail(line, format!("not valid UTF-8: {e}")))?;
                let normalised = normalise_newlines(raw);
                let value = quick_xml::escape::unescape(&normalised)
                    .map_err(|e| fail(line, format!("invalid character reference: {e}")))?;
                add_text(&mut stack, &value, line, file)?;
            }
            Event::CData(t) => {
                let raw = std::str::from_utf8(t.as_ref())
                    .map_err(|e| fail(line, format!("not valid UTF-8: {e}")))?;
                add_text(&mut stack, &normalise_newlines(raw), line, file)?;
            }
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(fail(
            line_of(reader.buffer_position()),
            format!("unexpected end of file inside <{}>", open.name),
        ));
    }
    root.ok_or_else(|| fail(0, "no root element".into()))
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn add_text(stack: &mut [Node], value: &str, line: u64, file: &Path) -> Result<()> {
    // XML 1.0 has no place for most control characters, raw or as `&#N;`;
    // accepting one would give a manifest that cannot be written back.
    if let Some(c) = value.chars().find(|&c| !is_xml_char(c)) {
        return Err(Error::format(
            file,
            line,
            format!("character U+{:04X} is not allowed in XML", c as u32),
        ));
    }
    match stack.last_mut() {
        Some(node) => node.text.push_str(value),
        None if !is_present(value) => {}
        None => return Err(Error::format(file, line, "text outside the root element")),
    }
    Ok(())
}

/// XML parsers hand CRLF and lone CR to applications as LF (XML 1.0 §2.11).
fn normalise_newlines(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n").into()
    } else {
        s.into()
    }
}

fn leading_ws(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

fn line_at(bytes: &[u8], pos: usize) -> u64 {
    let end = pos.min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

fn interpret(root: &Node, file: &Path) -> Result<Manifest> {
    let fail = |line: u64, msg: String| Error::format(file, line, msg);
    if root.name != "xcatimage" {
        return Err(fail(
            root.line,
            format!("root element is <{}>, expected <xcatimage>", root.name),
        ));
    }
    if root.has_text() {
        return Err(fail(root.line, "unexpected text inside <xcatimage>".into()));
    }
    let legacy = !root
        .children
        .iter()
        .any(|c| c.name == "osimage" || c.name == "linuximage");
    let mut m = Manifest::default();
    let mut seen_sections: Vec<&str> = Vec::new();
    let mut raw_seen = false;
    for child in &root.children {
        let name = child.name.as_str();
        match name {
            "osimage" | "linuximage" => {
                if seen_sections.contains(&name) {
                    return Err(fail(child.line, format!("<{name}> appears twice")));
                }
                seen_sections.push(name);
                let (allowed, target) = if name == "osimage" {
                    (columns::of("osimage"), &mut m.osimage)
                } else {
                    (columns::of("linuximage"), &mut m.linuximage)
                };
                *target = read_columns(child, name, allowed, file)?;
            }
            "kit" | "kitrepo" | "kitcomp" => {
                let kind = match name {
                    "kit" => RecordKind::Kit,
                    "kitrepo" => RecordKind::KitRepo,
                    _ => RecordKind::KitComp,
                };
                let record = read_record(child, kind, file)?;
                let list = match kind {
                    RecordKind::Kit => &mut m.kits,
                    RecordKind::KitRepo => &mut m.kitrepos,
                    RecordKind::KitComp => &mut m.kitcomps,
                };
                if list.iter().any(|r| r.name == record.name) {
                    return Err(fail(
                        child.line,
                        format!("two <{name}> records named {:?}", record.name),
                    ));
                }
                list.push(record);
            }
            "extra" => m.extras.push(read_extra(child, file)?),
            "rawimagefiles" => {
                if raw_seen {
                    return Err(fail(child.line, "<rawimagefiles> appears twice".into()));
                }
                raw_seen = true;
                if child.has_text() {
                    return Err(fail(
                        child.line,
                        "<rawimagefiles> holds text; expected <files> elements".into(),
                    ));
                }
                let mut files = Vec::new();
                for f in &child.children {
                    if f.name != "files" {
                        return Err(fail(
                            f.line,
                            format!("unexpected <{}> inside <rawimagefiles>", f.name),
                        ));
                    }
                    if let Some(v) = leaf_value(f, "rawimagefiles", file)? {
                        files.push(v);
                    }
                }
                m.rawimagefiles = Some(files);
            }
            _ if legacy && (columns::has("osimage", name) || columns::has("linuximage", name)) => {
                // xCAT 2.7 flat form: columns sit at the root (spec §4.4).
                let value = leaf_value(child, "xcatimage", file)?;
                for (cols, target) in [
                    (columns::of("osimage"), &mut m.osimage),
                    (columns::of("linuximage"), &mut m.linuximage),
                ] {
                    if cols.iter().any(|c| c == name) {
                        if target.contains_key(name) {
                            return Err(fail(child.line, format!("<{name}> appears twice")));
                        }
                        if let Some(v) = &value {
                            target.insert(name.to_string(), v.clone());
                        }
                    }
                }
            }
            _ if SCALARS.contains(&name) => {
                let value = leaf_value(child, "xcatimage", file)?;
                let slot = m
                    .scalar_mut(name)
                    .ok_or_else(|| fail(child.line, format!("<{name}> is not a root value")))?;
                if slot.is_some() {
                    return Err(fail(child.line, format!("<{name}> appears twice")));
                }
                *slot = value;
            }
            _ => m.ignored.push(name.to_string()),
        }
    }
    for list in [&mut m.kits, &mut m.kitrepos, &mut m.kitcomps] {
        list.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }
    Ok(m)
}

/// The text of an element that must not have children; `None` when empty.
fn leaf_value(node: &Node, parent: &str, file: &Path) -> Result<Option<String>> {
    if let Some(child) = node.children.first() {
        return Err(Error::format(
            file,
            child.line,
            format!(
                "unexpected element <{}> inside <{parent}><{}>; a value was expected",
                child.name, node.name
            ),
        ));
    }
    Ok(node.has_text().then(|| node.text.clone()))
}

fn read_columns(node: &Node, section: &str, allowed: &[String], file: &Path) -> Result<Columns> {
    if node.has_text() {
        return Err(Error::format(
            file,
            node.line,
            format!("<{section}> holds text; expected column elements"),
        ));
    }
    let mut cols = Columns::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in &node.children {
        if !allowed.contains(&c.name) {
            return Err(Error::format(
                file,
                c.line,
                format!("<{section}> has no column named <{}>", c.name),
            ));
        }
        if seen.contains(&c.name.as_str()) {
            return Err(Error::format(
                file,
                c.line,
                format!("<{section}><{}> appears twice", c.name),
            ));
        }
        seen.push(&c.name);
        if let Some(v) = leaf_value(c, section, file)? {
            cols.insert(c.name.clone(), v);
        }
    }
    Ok(cols)
}

fn read_record(node: &Node, kind: RecordKind, file: &Path) -> Result<Record> {
    let el = kind.element();
    let mut name_node = None;
    let mut rest = Node {
        name: node.name.clone(),
        line: node.line,
        text: node.text.clone(),
        children: Vec::new(),
    };
    for c in &node.children {
        if c.name == "name" {
            if name_node.is_some() {
                return Err(Error::format(
                    file,
                    c.line,
                    format!("<{el}><name> appears twice"),
                ));
            }
            name_node = Some(c);
        } else {
            rest.children.push(Node {
                name: c.name.clone(),
                line: c.line,
                text: c.text.clone(),
                children: Vec::new(),
            });
            if let Some(gc) = c.children.first() {
                return Err(Error::format(
                    file,
                    gc.line,
                    format!("unexpected element <{}> inside <{el}><{}>", gc.name, c.name),
                ));
            }
        }
    }
    let columns = read_columns(&rest, el, kind.columns(), file)?;
    let from_name = match name_node {
        Some(n) => leaf_value(n, el, file)?,
        None => None,
    };
    let from_column = columns.get(kind.key_column()).cloned();
    let name = match (from_name, from_column) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::format(
                file,
                node.line,
                format!(
                    "<{el}> has <name>{a}</name> but <{}>{b}</{}>",
                    kind.key_column(),
                    kind.key_column()
                ),
            ))
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => {
            return Err(Error::format(
                file,
                node.line,
                format!("<{el}> has neither <name> nor <{}>", kind.key_column()),
            ))
        }
    };
    Ok(Record { name, columns })
}

fn read_extra(node: &Node, file: &Path) -> Result<Extra> {
    if node.has_text() {
        return Err(Error::format(
            file,
            node.line,
            "<extra> holds text; expected <src> and <dest>",
        ));
    }
    let mut src = None;
    let mut dest = None;
    for c in &node.children {
        let slot = match c.name.as_str() {
            "src" => &mut src,
            "dest" => &mut dest,
            other => {
                return Err(Error::format(
                    file,
                    c.line,
                    format!("unexpected <{other}> inside <extra>"),
                ))
            }
        };
        if slot.is_some() {
            return Err(Error::format(
                file,
                c.line,
                format!("<extra><{}> appears twice", c.name),
            ));
        }
        *slot = Some(leaf_value(c, "extra", file)?.unwrap_or_default());
    }
    match (src, dest) {
        (Some(src), Some(dest)) if is_present(&src) && is_present(&dest) => Ok(Extra { src, dest }),
        _ => Err(Error::format(
            file,
            node.line,
            "<extra> needs both a non-empty <src> and <dest>",
        )),
    }
}

/// Where a manifest came from, for messages: `<bundle>:<image>/manifest.xml`.
pub fn display_name(bundle: &Path, image_dir: &str) -> PathBuf {
    PathBuf::from(format!("{}:{image_dir}/manifest.xml", bundle.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Manifest> {
        Manifest::parse(s.as_bytes(), Path::new("m.xml"))
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    const MIN: &str = "<?xml version=\"1.0\"?>\n<xcatimage>\n  <linuximage>\n    <imagename>i</imagename>\n  </linuximage>\n  <osimage>\n    <imagename>i</imagename>\n  </osimage>\n</xcatimage>\n";

    #[test]
    fn minimal_round_trips_byte_identical() {
        let m = parse(MIN).unwrap();
        assert_eq!(m.image_name(), Some("i"));
        assert_eq!(m.to_xml().unwrap(), MIN);
    }

    #[test]
    fn escapes_like_xml_simple_and_reads_back() {
        let mut m = parse(MIN).unwrap();
        m.osimage
            .insert("description".into(), "a&b <c> \"q\" 'x'\r\n".into());
        let xml = m.to_xml().unwrap();
        assert!(
            xml.contains("<description>a&amp;b &lt;c&gt; &quot;q&quot; 'x'&#13;\n</description>")
        );
        assert_eq!(parse(&xml).unwrap(), m);
    }

    #[test]
    fn raw_carriage_returns_read_as_line_feeds() {
        let m = parse(&MIN.replace("<osimage>\n", "<osimage>\n<comments>a\r\nb\rc</comments>"))
            .unwrap();
        assert_eq!(m.osimage["comments"], "a\nb\nc");
    }

    #[test]
    fn empty_and_blank_elements_are_null() {
        let m = parse(&MIN.replace(
            "<osimage>\n",
            "<osimage>\n<comments/><groups>  \n </groups>",
        ))
        .unwrap();
        assert!(!m.osimage.contains_key("comments"));
        assert!(!m.osimage.contains_key("groups"));
    }

    #[test]
    fn single_kit_is_a_list_keyed_by_name() {
        let m = parse(&MIN.replace(
            "<osimage>",
            "<kit><name>k-1</name><kitname>k-1</kitname><kitdir>/install/kits/k-1</kitdir></kit>\n<osimage>",
        ))
        .unwrap();
        assert_eq!(m.kits.len(), 1);
        assert_eq!(m.kits[0].name, "k-1");
        assert!(!m.kits[0].columns.contains_key("name"));
        assert_eq!(m.kits[0].columns["kitdir"], "/install/kits/k-1");
    }

    #[test]
    fn kit_name_mismatch_and_duplicates_refused() {
        let e = err(&MIN.replace(
            "<osimage>",
            "<kit><name>a</name><kitname>b</kitname></kit><osimage>",
        ));
        assert!(
            e.contains("<kit> has <name>a</name> but <kitname>b</kitname>"),
            "{e}"
        );
        let e = err(&MIN.replace(
            "<osimage>",
            "<kitrepo><name>r</name></kitrepo><kitrepo><kitreponame>r</kitreponame></kitrepo><osimage>",
        ));
        assert!(e.contains("two <kitrepo> records named \"r\""), "{e}");
    }

    #[test]
    fn duplicates_and_nesting_refused_with_file_and_line() {
        let e = err(&MIN.replace(
            "</xcatimage>",
            "<kernel>a</kernel>\n<kernel>b</kernel>\n</xcatimage>",
        ));
        assert_eq!(e, "m.xml:10: <kernel> appears twice");
        let e = err(&MIN.replace(
            "<imagename>i</imagename>\n  </osimage>",
            "<imagename>i</imagename><imagename>j</imagename></osimage>",
        ));
        assert!(
            e.starts_with("m.xml:7: <osimage><imagename> appears twice"),
            "{e}"
        );
        let e = err(&MIN.replace(
            "<imagename>i</imagename>\n  </osimage>",
            "<profile><x>1</x></profile></osimage>",
        ));
        assert!(
            e.contains("unexpected element <x> inside <osimage><profile>"),
            "{e}"
        );
        let e = err(&MIN.replace(
            "</osimage>",
            "</osimage><osimage><imagename>j</imagename></osimage>",
        ));
        assert!(e.contains("<osimage> appears twice"), "{e}");
    }

    #[test]
    fn unknown_column_refused_unknown_root_ignored() {
        let e = err(&MIN.replace("<osimage>\n", "<osimage>\n<bogus>1</bogus>"));
        assert_eq!(e, "m.xml:7: <osimage> has no column named <bogus>");
        let m = parse(&MIN.replace("</xcatimage>", "<future>1</future></xcatimage>")).unwrap();
        assert_eq!(m.ignored, vec!["future".to_string()]);
    }

    #[test]
    fn hostile_or_foreign_documents_refused() {
        let e = err("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"b\">]>\n<xcatimage/>");
        assert_eq!(
            e,
            "m.xml:2: DOCTYPE declarations are not accepted in manifest.xml"
        );
        let e = err("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><xcatimage/>");
        assert!(e.contains("encoding \"iso-8859-1\" is not accepted"), "{e}");
        let e = Manifest::parse(
            b"<xcatimage>\n<kernel>\xff</kernel></xcatimage>",
            Path::new("m.xml"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "m.xml:2: not valid UTF-8 at byte 20");
        let e = err("<xcatimage><kernel a=\"1\">k</kernel></xcatimage>");
        assert!(e.contains("<kernel> has attribute \"a\""), "{e}");
        let e = err("<image/>");
        assert!(e.contains("root element is <image>"), "{e}");
        let e = err("<xcatimage><kernel>k</kernel>");
        assert!(
            e.contains("unexpected end of file inside <xcatimage>"),
            "{e}"
        );
        let e = err("<xcatimage><kernel>&foo;</kernel></xcatimage>");
        assert!(e.contains("m.xml:1: "), "{e}");
        let e = err("<xcatimage></kernel></xcatimage>");
        assert!(e.contains("invalid XML"), "{e}");
    }

    #[test]
    fn legacy_flat_form_moves_columns_into_sections() {
        let m = parse(
            "<xcatimage><imagename>old</imagename><profile>c</profile><pkglist>/p</pkglist>\
             <postscripts>a,b</postscripts><kernel>/k</kernel></xcatimage>",
        )
        .unwrap();
        assert_eq!(m.osimage["imagename"], "old");
        assert_eq!(m.linuximage["imagename"], "old");
        assert_eq!(m.osimage["profile"], "c");
        assert_eq!(m.linuximage["pkglist"], "/p");
        assert_eq!(m.osimage["postscripts"], "a,b");
        assert_eq!(m.postscripts, None);
        assert_eq!(m.kernel.as_deref(), Some("/k"));
    }

    #[test]
    fn writer_refuses_unrepresentable_values() {
        let mut m = parse(MIN).unwrap();
        m.osimage.insert("comments".into(), "bell\u{7}".into());
        assert!(m.to_xml().unwrap_err().to_string().contains("U+0007"));
        let mut m = parse(MIN).unwrap();
        m.osimage.insert("nonsense".into(), "x".into());
        assert!(m.to_xml().is_err());
    }
}
