//! Every ```sh block of the user guide (docs/*.md) runs, in document order,
//! with `bash -euo pipefail` against synthetic management nodes, and must
//! exit 0 or the code a `# exit: N` line in the block names; each
//! `# expect: TEXT` line must appear in its output. So the examples cannot
//! rot. ```text blocks (commands that only make sense on a live MN, sample
//! output) are not run.
//!
//! The blocks see these variables (each page gets fresh ones):
//! `$MN` a synthetic xCAT MN (rhel), `$NEWROOT` a freshly installed rhel
//! root without xCAT, `$STANDBY` a second fresh rhel root,
//! `$UBUNTU` a fresh Ubuntu root, `$STICK` an absent directory for the
//! snapshot, `$WORK` an empty scratch directory (also the working
//! directory); PATH starts with the commands under their installed names.
//! The static xcatimport that xcatexport puts on the stick comes from
//! `$XCATPORT_IMPORT_BINARY` (scripts/test sets it) or the release build.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOP: &str = env!("CARGO_MANIFEST_DIR");

/// One ```sh block: where it starts, its text and what it must produce.
#[derive(Debug, PartialEq)]
struct Example {
    line: usize,
    script: String,
    exit: i32,
    expect: Vec<String>,
}

/// The ```sh blocks of a Markdown text, in order.
fn examples(markdown: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match open.take() {
            None if fence => {
                let lang = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some((lang, i + 1, String::new()));
            }
            None => {}
            // A closing fence; only sh blocks are kept.
            Some((lang, start, body)) if fence => {
                out.extend((lang == "sh").then(|| annotated(start, body)));
            }
            Some((lang, start, mut body)) => {
                body.push_str(line);
                body.push('\n');
                open = Some((lang, start, body));
            }
        }
    }
    assert!(open.is_none(), "unterminated code block");
    out
}

fn annotated(line: usize, script: String) -> Example {
    let mut exit = 0;
    let mut expect = Vec::new();
    for l in script.lines().map(str::trim) {
        if let Some(code) = l.strip_prefix("# exit:") {
            exit = code.trim().parse().expect("# exit: takes a number");
        } else if let Some(text) = l.strip_prefix("# expect:") {
            expect.push(text.trim().to_string());
        }
    }
    Example {
        line,
        script,
        exit,
        expect,
    }
}

/// The static xcatimport for the stick.
fn static_import() -> PathBuf {
    if let Some(p) = std::env::var_os("XCATPORT_IMPORT_BINARY").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    // <target>/debug/xcatexport → <target>/release/xcatimport-static
    let target = Path::new(env!("CARGO_BIN_EXE_xcatexport"))
        .parent()
        .and_then(Path::parent)
        .unwrap();
    let p = target.join("release/xcatimport-static");
    assert!(
        p.is_file(),
        "{}: missing; run scripts/build or set XCATPORT_IMPORT_BINARY",
        p.display()
    );
    p
}

fn mkfixture(dir: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_xcatport-mkfixture"))
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfixture {args:?}: {out:?}");
}

/// The prepared environment of one page.
struct Env {
    _dir: tempfile::TempDir,
    vars: Vec<(&'static str, PathBuf)>,
    path: String,
    work: PathBuf,
}

fn prepare() -> Env {
    let dir = tempfile::Builder::new()
        .prefix("docs-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let d = dir.path();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for (name, exe) in [
        ("xcatexport", env!("CARGO_BIN_EXE_xcatexport")),
        ("xcatimport", env!("CARGO_BIN_EXE_xcatimport")),
        ("xcatdb", env!("CARGO_BIN_EXE_xcatdb")),
        ("xcatreconfig", env!("CARGO_BIN_EXE_xcatreconfig")),
        ("xcatport-imgexport", env!("CARGO_BIN_EXE_imgexport")),
        ("xcatport-imgimport", env!("CARGO_BIN_EXE_imgimport")),
    ] {
        std::os::unix::fs::symlink(exe, bin.join(name)).unwrap();
    }
    mkfixture(&d.join("mn"), &[]);
    mkfixture(&d.join("newroot"), &["--bare"]);
    mkfixture(&d.join("standby"), &["--bare", "--seed", "2"]);
    mkfixture(&d.join("ubuntu"), &["--bare", "--distro", "ubuntu"]);
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    let vars = vec![
        ("MN", d.join("mn")),
        ("NEWROOT", d.join("newroot")),
        ("STANDBY", d.join("standby")),
        ("UBUNTU", d.join("ubuntu")),
        ("STICK", d.join("stick")),
        ("WORK", work.clone()),
        ("XCATPORT_IMPORT_BINARY", static_import()),
    ];
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Env {
        _dir: dir,
        vars,
        path,
        work,
    }
}

/// Runs every ```sh block of `page` in order; panics on the first mismatch.
fn run_page(page: &str) -> usize {
    let file = Path::new(TOP).join("docs").join(page);
    let text = std::fs::read_to_string(&file).unwrap();
    let list = examples(&text);
    assert!(!list.is_empty(), "{page}: no ```sh examples");
    let env = prepare();
    for ex in &list {
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-euo", "pipefail", "-c"])
            .arg(&ex.script)
            .current_dir(&env.work)
            .env("PATH", &env.path)
            .env("LC_ALL", "C");
        for (k, v) in &env.vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let code = out.status.code().unwrap_or(-1);
        assert_eq!(
            code, ex.exit,
            "{page}:{}: exit {code}, expected {}\n{}\n--- output:\n{output}",
            ex.line, ex.exit, ex.script
        );
        for want in &ex.expect {
            assert!(
                output.contains(want.as_str()),
                "{page}:{}: output lacks {want:?}\n{}\n--- output:\n{output}",
                ex.line,
                ex.script
            );
        }
    }
    list.len()
}

#[test]
fn the_extractor_finds_sh_blocks_and_their_annotations() {
    let md = "intro\n```sh\necho a\n```\n```text\nsystemctl start xcatd\n```\n\
              ````sh\nfalse # exit: 1\n# exit: 1\n# expect: boom\n````\n";
    let got = examples(md);
    assert_eq!(
        got,
        vec![
            Example {
                line: 2,
                script: "echo a\n".into(),
                exit: 0,
                expect: vec![]
            },
            Example {
                line: 8,
                script: "false # exit: 1\n# exit: 1\n# expect: boom\n".into(),
                exit: 1,
                expect: vec!["boom".into()]
            },
        ]
    );
}

#[test]
fn every_page_is_covered() {
    let mut pages: Vec<String> = std::fs::read_dir(Path::new(TOP).join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .collect();
    pages.sort();
    assert_eq!(
        pages, PAGES,
        "add new docs pages to PAGES and a test for them"
    );
}

const PAGES: &[&str] = &["guide.md", "troubleshooting.md"];

#[test]
fn guide_examples_run() {
    run_page("guide.md");
}

#[test]
fn troubleshooting_examples_run() {
    run_page("troubleshooting.md");
}
