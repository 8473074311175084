//! The journaled restore: rollback returns a pre-populated root to its
//! exact former listing, a restore interrupted after any entry and resumed
//! ends identical to an uninterrupted one, preflight failures change
//! nothing.

mod restore_support;

use restore_support::*;
use std::cell::Cell;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use xcatport::mn::accounts::Accounts;
use xcatport::progress::Hidden;
use xcatport::restore::{plan, Executor, Outcome, RestoreOptions, Step};
use xcatport::Error;

fn options() -> RestoreOptions {
    RestoreOptions {
        skip_packages: true,
        skip_db: true,
        ..Default::default()
    }
}

/// A target root that already holds things the archive overwrites: a file
/// with other bytes, a symlink where a file goes, a file where a directory
/// goes, an existing directory with another mode and an xattr.
fn prepopulated(b: &Path) -> Accounts {
    let acc = target_root(b);
    write(
        b,
        "etc/xcat/cfgloc",
        b"old cfgloc\n",
        0o644,
        (2002, 2004),
        1_500_000_000,
    );
    write(
        b,
        "etc/hosts",
        b"127.0.0.1 localhost\n",
        0o644,
        (0, 0),
        1_500_000_001,
    );
    mkdir(b, "install/postscripts", 0o700, (0, 0));
    xattr::set(b.join("install"), "user.old", b"1").unwrap();
    link(b, "install/postscripts/hi", "/bin/true");
    set_mtime(&b.join("install/postscripts/hi"), 1_500_000_002, 0);
    write(
        b,
        "opt",
        b"a file where the snapshot has a directory",
        0o600,
        (0, 0),
        1_500_000_003,
    );
    mkdir(b, "tftpboot", 0o755, (0, 0));
    write(
        b,
        "tftpboot/rel",
        b"plain file",
        0o644,
        (0, 0),
        1_500_000_004,
    );
    fs::set_permissions(b.join("etc/passwd"), fs::Permissions::from_mode(0o644)).unwrap();
    settle_dir_times(b, 1_400_000_000);
    acc
}

/// The archive of the source tree, and the listing a restore of it over
/// [`prepopulated`] must give: the source's entries, plus what only the
/// target had (etc/hosts; the xattr user.old that `install` already had —
/// extraction adds xattrs, it does not strip existing ones).
fn fixture() -> (tempfile::TempDir, Vec<u8>, Vec<String>) {
    let a = tempdir();
    let acc_a = source_tree(a.path());
    let archive = archive_of(a.path(), &acc_a, SKIP);
    let mut want = tree_listing(a.path(), &acc_a, SKIP);
    for line in want.iter_mut() {
        if line.starts_with("\"install\" dir") {
            *line = line.replace(
                "user.comment=68656c6c6f]",
                "user.comment=68656c6c6f,user.old=31]",
            );
        }
    }
    want.insert(
        1,
        "\"etc/hosts\" file 644 root:root size=20 sha256=081ef9d5367595d16e30b4b4549d9f43537320508b4ce0788963e10e4f808857 mtime=1500000001.123456789".to_string(),
    );
    (a, archive, want)
}

fn executor<'a>(root: &Path, journal: &Path, archive: &'a [u8]) -> Executor<'a> {
    Executor::new(root, &Hidden)
        .journal_dir(journal)
        .data(move || Ok(Box::new(Cursor::new(archive)) as Box<dyn std::io::Read>))
        .action(Step::Repos, |_: &Path| Ok("2 repos registered".to_string()))
}

fn rollback_restores_exactly(journal_parent: &Path) {
    let (_a, archive, want) = fixture();
    let b = tempdir();
    let acc_b = prepopulated(b.path());
    let before = tree_listing(b.path(), &acc_b, &[]);
    let jdir = journal_parent.join("journal");

    let report = executor(b.path(), &jdir, &archive)
        .run(&plan(&options()))
        .unwrap();
    assert_eq!(report.warnings, Vec::<String>::new());
    let files = report.steps.iter().find(|s| s.step == Step::Files).unwrap();
    assert_eq!(
        files.outcome,
        Outcome::Done("21 entries, 300065 bytes, 4 replaced (kept for rollback)".into())
    );
    assert_eq!(tree_listing(b.path(), &acc_b, SKIP), want);
    assert_eq!(
        fs::metadata(&jdir).unwrap().permissions().mode() & 0o7777,
        0o700
    );

    let undone = executor(b.path(), &jdir, &archive).rollback().unwrap();
    assert_eq!(
        (undone.restored, undone.warnings.clone()),
        (4, Vec::<String>::new())
    );
    assert_eq!(tree_listing(b.path(), &acc_b, &[]), before);
    // idempotent
    executor(b.path(), &jdir, &archive).rollback().unwrap();
    assert_eq!(tree_listing(b.path(), &acc_b, &[]), before);
}

#[test]
fn rollback_after_restore_over_a_populated_root_gives_the_original_tree() {
    let j = tempdir();
    rollback_restores_exactly(j.path());
}

#[test]
fn rollback_works_with_backups_copied_across_filesystems() {
    // /dev/shm is tmpfs: backups cannot be renamed there, they are copied
    let j = tempfile::tempdir_in("/dev/shm").unwrap();
    rollback_restores_exactly(j.path());
}

#[test]
fn restore_interrupted_after_any_entry_resumes_to_the_same_tree() {
    let (_a, archive, want) = fixture();
    let entries = tar::Archive::new(&archive[..]).entries().unwrap().count() as u64;
    assert!(entries > 20);
    for stop in 0..entries {
        let b = tempdir();
        let acc_b = prepopulated(b.path());
        let before = tree_listing(b.path(), &acc_b, &[]);
        let j = tempdir();
        let jdir = j.path().join("journal");
        let err = executor(b.path(), &jdir, &archive)
            .entry_hook(move |i, _| {
                if i == stop {
                    Err(Error::Refused(format!("simulated crash before entry {i}")))
                } else {
                    Ok(())
                }
            })
            .run(&plan(&options()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("simulated crash before entry {stop}")
        );

        let repos_runs = Cell::new(0);
        let report = executor(b.path(), &jdir, &archive)
            .action(Step::Repos, |_: &Path| {
                repos_runs.set(repos_runs.get() + 1);
                Ok("again".to_string())
            })
            .resume(&plan(&options()))
            .unwrap();
        assert_eq!(repos_runs.get(), 0, "a finished step is not redone");
        assert_eq!(report.steps[1].outcome, Outcome::AlreadyDone);
        assert_eq!(
            tree_listing(b.path(), &acc_b, SKIP),
            want,
            "stopped before entry {stop}"
        );

        executor(b.path(), &jdir, &archive).rollback().unwrap();
        assert_eq!(
            tree_listing(b.path(), &acc_b, &[]),
            before,
            "rollback after stop {stop}"
        );
    }
}

#[test]
fn failed_preflight_changes_nothing_and_names_every_failure() {
    let (_a, archive, _) = fixture();
    let b = tempdir();
    let acc_b = prepopulated(b.path());
    let before = tree_listing(b.path(), &acc_b, &[]);
    let ran = Cell::new(false);
    let err = Executor::new(b.path(), &Hidden)
        .data(|| Ok(Box::new(Cursor::new(&archive[..])) as Box<dyn std::io::Read>))
        .check("distro", |_| {
            Err(Error::Refused(
                "snapshot is rocky 9 x86_64, this is rocky 8 x86_64".into(),
            ))
        })
        .check("space", |_| Ok(()))
        .check("xcat", |_| {
            Err(Error::Refused(
                "xCAT 2.16.5 is already installed; use --force".into(),
            ))
        })
        .action(Step::Repos, |_: &Path| {
            ran.set(true);
            Ok(String::new())
        })
        .run(&plan(&options()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "preflight failed, nothing was changed: distro: snapshot is rocky 9 x86_64, this is \
         rocky 8 x86_64; xcat: xCAT 2.16.5 is already installed; use --force"
    );
    assert!(!ran.get());
    assert_eq!(tree_listing(b.path(), &acc_b, &[]), before);
}

#[test]
fn a_second_restore_is_refused_while_a_journal_exists_and_dump_lands_0700() {
    let mut builder = tar::Builder::new(Vec::new());
    raw_entry(
        &mut builder,
        b".xcatport/db/site.csv",
        tar::EntryType::Regular,
        None,
        b"#key\n",
    );
    let archive = builder.into_inner().unwrap();
    let b = tempdir();
    target_root(b.path());
    Executor::new(b.path(), &Hidden)
        .data(|| Ok(Box::new(Cursor::new(&archive[..])) as Box<dyn std::io::Read>))
        .action(Step::Repos, |_: &Path| Ok(String::new()))
        .run(&plan(&options()))
        .unwrap();
    let jdir = b.path().join("var/lib/xcatport");
    assert_eq!(
        fs::metadata(&jdir).unwrap().permissions().mode() & 0o7777,
        0o700
    );
    assert_eq!(fs::read(jdir.join("db/site.csv")).unwrap(), b"#key\n");
    let err = Executor::new(b.path(), &Hidden)
        .run(&plan(&options()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: a journal of an earlier restore exists; run with --resume or --rollback, or \
             remove {} if that restore is finished",
            jdir.join("journal.json").display(),
            jdir.display()
        )
    );
}
