//! Every binary: --help, --version, clap's usage errors (exit 2), and man
//! pages / completions that mention every option.

use std::process::Command;

const BINARIES: &[(&str, &str)] = &[
    ("xcatexport", env!("CARGO_BIN_EXE_xcatexport")),
    ("xcatimport", env!("CARGO_BIN_EXE_xcatimport")),
    ("imgexport", env!("CARGO_BIN_EXE_imgexport")),
    ("imgimport", env!("CARGO_BIN_EXE_imgimport")),
    ("xcatdb", env!("CARGO_BIN_EXE_xcatdb")),
    ("xcatreconfig", env!("CARGO_BIN_EXE_xcatreconfig")),
];

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_exits_zero_and_names_the_program() {
    for (name, bin) in BINARIES {
        let (code, stdout, _) = run(bin, &["--help"]);
        assert_eq!(code, 0, "{name} --help");
        assert!(stdout.contains("Usage:"), "{name} --help: {stdout}");
        assert!(stdout.contains(name), "{name} --help names itself");
    }
}

#[test]
fn version_prints_crate_version_and_commit() {
    for (name, bin) in BINARIES {
        let (code, stdout, _) = run(bin, &["--version"]);
        assert_eq!(code, 0, "{name} --version");
        assert!(
            stdout.starts_with(&format!("{name} {} (", env!("CARGO_PKG_VERSION"))),
            "{name} --version: {stdout}"
        );
    }
}

#[test]
fn lower_v_is_verbose_not_version_as_in_xcat() {
    // xCAT's -v means verbose; clap must not turn it into --version.
    let (_, stdout, _) = run(env!("CARGO_BIN_EXE_imgexport"), &["-v", "--help"]);
    assert!(stdout.contains("Usage:"));
    let (code, stdout, _) = run(env!("CARGO_BIN_EXE_imgexport"), &["-v"]);
    assert_eq!(code, 2, "missing IMAGE is a usage error even with -v");
    assert!(!stdout.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_option_is_a_usage_error() {
    for (name, bin) in BINARIES {
        let (code, _, stderr) = run(bin, &["--no-such-option"]);
        assert_eq!(code, 2, "{name}");
        assert!(
            stderr.contains("unexpected argument '--no-such-option'"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn missing_required_arguments_are_usage_errors() {
    for (name, bin, args) in [
        ("xcatexport", env!("CARGO_BIN_EXE_xcatexport"), vec![]),
        ("imgexport", env!("CARGO_BIN_EXE_imgexport"), vec![]),
        ("imgimport", env!("CARGO_BIN_EXE_imgimport"), vec![]),
        ("xcatdb", env!("CARGO_BIN_EXE_xcatdb"), vec![]),
        ("xcatdb", env!("CARGO_BIN_EXE_xcatdb"), vec!["dump"]),
    ] {
        let (code, _, stderr) = run(bin, &args);
        assert_eq!(code, 2, "{name} {args:?}: {stderr}");
        assert!(stderr.contains("Usage:"), "{name}: {stderr}");
    }
}

#[test]
fn encrypt_without_a_key_off_a_terminal_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("stick");
    let (code, _, stderr) = run(
        env!("CARGO_BIN_EXE_xcatexport"),
        &["--encrypt", "--dry-run", target.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--encrypt needs a key: --passphrase-file FILE"),
        "{stderr}"
    );
    assert!(!target.exists(), "nothing written for a refused option");
}

#[test]
fn man_pages_and_completions_mention_every_option() {
    let out = tempfile::tempdir().unwrap();
    let written = xcatport::cli::docs::write_all(out.path()).unwrap();
    for cmd in xcatport::cli::docs::commands() {
        let name = cmd.get_name().to_string();
        let mut pages = vec![(name.clone(), cmd.clone())];
        for sub in cmd.get_subcommands() {
            pages.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        for (page, page_cmd) in pages {
            let man = std::fs::read_to_string(out.path().join("man").join(format!("{page}.1")))
                .unwrap_or_else(|e| panic!("man page {page}.1: {e}"));
            for arg in page_cmd.get_arguments() {
                if let Some(long) = arg.get_long() {
                    // roff escapes '-' as '\-'
                    let needle = format!("\\-\\-{}", long.replace('-', "\\-"));
                    assert!(man.contains(&needle), "{page}.1 lacks --{long}");
                }
            }
        }
        let bash = std::fs::read_to_string(
            out.path()
                .join("completions/bash")
                .join(format!("{name}.bash")),
        )
        .unwrap();
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    bash.contains(&format!("--{long}")),
                    "bash completion of {name} lacks --{long}"
                );
            }
        }
    }
    assert!(written.len() >= 6 * 4, "a man page and 3 completions each");
}

#[test]
fn a_closed_stdout_is_a_broken_pipe_not_a_panic() {
    use std::process::Stdio;
    // xcatdb --help is long; the reader takes nothing and goes away.
    for (name, bin) in BINARIES {
        let mut child = Command::new(bin)
            .arg("--help")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}
