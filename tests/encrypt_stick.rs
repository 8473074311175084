//! `xcatexport --encrypt` and the import of an encrypted stick, through the
//! real binaries on the small synthetic MN: the secret files and the DB dump
//! are only in `xcat-secrets.tar.zst.age` and nowhere in plaintext on the
//! stick; a restore with the key equals a restore of an unencrypted stick
//! (files, owners, modes, DB rows); a missing or wrong key and a corrupted
//! stream are refused in preflight with the root unchanged; --resume needs
//! the key again.

mod faults_support;

use age::secrecy::ExposeSecret;
use faults_support::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use xcatport::plan::Section;
use xcatport::snapshot::{self, manifest::Kind, KeyKind, SECRETS};

/// An age identity file and its public key.
fn identity(dir: &Path) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let path = dir.join("key.txt");
    std::fs::write(
        &path,
        format!(
            "# created by the test\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        ),
    )
    .unwrap();
    (path, id.to_public().to_string())
}

fn passphrase_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A synthetic MN sealed with `--encrypt` to a fresh X25519 key, in `w`.
struct Sealed {
    w: tempfile::TempDir,
    mn: PathBuf,
    stub: PathBuf,
    key: PathBuf,
    stick: PathBuf,
}

fn sealed_to_x25519(prefix: &str) -> Sealed {
    let w = work(prefix);
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let (key, public) = identity(w.path());
    let stick = w.path().join("stick");
    let out = run(export_cmd(
        &mn,
        &stick,
        &stub,
        &["--encrypt", "--recipient", &public],
    ));
    assert!(out.status.success(), "{}", text(&out));
    Sealed {
        w,
        mn,
        stub,
        key,
        stick,
    }
}

/// Every table of the database under `root`, as tabdump CSV text.
fn tables(root: &Path) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let opts = xcatport::db::DumpOptions {
        all: true,
        skip_tables: None,
    };
    xcatport::db::dump_to_dir(root, dir.path(), &opts).unwrap();
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Byte strings that only the secret files and the passwd table hold.
fn markers(mn: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for rel in ["etc/xcat/ca/private/ca-key.pem", "etc/ssh/ssh_host_rsa_key"] {
        let text = std::fs::read_to_string(mn.join(rel)).unwrap();
        // a base64 body line of the private key
        let line = text.lines().nth(2).unwrap();
        assert!(line.len() >= 40, "{rel}: {line}");
        out.push(line.as_bytes().to_vec());
    }
    out.push(b"PASSW0RD".to_vec());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The secret files of the snapshot's plan (regular files).
fn secret_files(stick: &Path) -> Vec<snapshot::FileRecord> {
    let (_, files) = records(stick);
    files
        .into_iter()
        .filter(|r| r.section == Section::Secrets && r.kind == Kind::File)
        .collect()
}

/// Secret files restored with the source's bytes, owner names and modes.
fn assert_secrets_restored(mn: &Path, root: &Path, secrets: &[snapshot::FileRecord]) {
    let src = xcatport::mn::accounts::Accounts::load(mn).unwrap();
    let dst = xcatport::mn::accounts::Accounts::load(root).unwrap();
    for r in secrets {
        let (a, b) = (mn.join(r.rel_path()), root.join(r.rel_path()));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{}",
            r.path
        );
        let (ma, mb) = (
            std::fs::symlink_metadata(&a).unwrap(),
            std::fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{}", r.path);
        assert_eq!(
            src.user_name(ma.uid()),
            dst.user_name(mb.uid()),
            "{}",
            r.path
        );
        assert_eq!(
            src.group_name(ma.gid()),
            dst.group_name(mb.gid()),
            "{}",
            r.path
        );
    }
}

/// Rewrites MANIFEST.json's record of the secret volume and SHA256SUMS so
/// that they match the (tampered) volume: only decryption can notice.
fn resign(stick: &Path) {
    let age_path = stick.join(SECRETS);
    let bytes = std::fs::read(&age_path).unwrap();
    let sha = sha256_hex(&bytes);
    let manifest_path = stick.join(snapshot::MANIFEST);
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    m["secrets"]["volumes"][0]["sha256"] = sha.clone().into();
    m["secrets"]["volumes"][0]["size"] = (bytes.len() as u64).into();
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let sums_path = stick.join(snapshot::SUMS);
    let sums: Vec<(String, String)> = snapshot::sums::read(&sums_path)
        .unwrap()
        .into_iter()
        .map(|(name, old)| {
            let new = match name.as_str() {
                SECRETS => sha.clone(),
                snapshot::MANIFEST => sha256_hex(&std::fs::read(&manifest_path).unwrap()),
                _ => old,
            };
            (name, new)
        })
        .collect();
    std::fs::remove_file(&sums_path).unwrap();
    snapshot::sums::write(&sums_path, &sums).unwrap();
}

/// The listing of a restored root: mtimes kept only for snapshot members
/// (the rest were made at restore time), sqlite files left to [`tables`].
fn restored(root: &Path, stick: &Path) -> Vec<String> {
    let (_, files) = records(stick);
    let members: std::collections::HashSet<PathBuf> = files.iter().map(|r| r.rel_path()).collect();
    listing_masked(root, &|p| members.contains(p))
        .into_iter()
        .filter(|l| !l.ends_with(".sqlite") && !l.ends_with(".sqlite-journal"))
        .collect()
}

/// Equal listings; on failure only the lines that differ are shown.
fn assert_same(a: &[String], b: &[String]) {
    let only_a: Vec<_> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_b: Vec<_> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "only in the first: {only_a:#?}\nonly in the second: {only_b:#?}"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A refused import: non-zero exit, the message names `needle`, and the
/// root is exactly as before.
fn assert_refused_unchanged(stick: &Path, root: &Path, extra: &[&str], needle: &str) {
    let before = listing_without_journal(root);
    let out = run(import_cmd(stick, root, extra));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains(needle), "{needle}: {}", text(&out));
    assert_eq!(listing_without_journal(root), before, "{}", text(&out));
    assert!(!root.join("var/lib/xcatport/journal.json").exists());
}

#[test]
fn x25519_stick_holds_no_plaintext_secret_and_restores_like_a_plain_one() {
    let Sealed {
        w,
        mn,
        stub,
        key,
        stick,
    } = sealed_to_x25519("xcatport-enc-x25519-");

    // MANIFEST.json: encrypted, to one X25519 key; no plaintext hashes of secrets.
    let (head, files) = records(&stick);
    assert_eq!(head.format, snapshot::manifest::FORMAT_ENCRYPTED);
    let sec = head.secrets.clone().expect("secrets record");
    assert_eq!(
        (
            sec.name.as_str(),
            sec.encryption.as_str(),
            sec.key,
            sec.recipients
        ),
        (SECRETS, "age", KeyKind::X25519, 1)
    );
    assert!(stick.join(SECRETS).is_file());
    let secrets = secret_files(&stick);
    assert!(secrets.len() >= 5, "{} secret files", secrets.len());
    assert!(secrets.iter().all(|r| r.sha256.is_none()));
    assert!(files
        .iter()
        .any(|r| r.section != Section::Secrets && r.sha256.is_some()));
    assert!(!head.database.is_empty());
    assert!(head.database.iter().all(|t| t.sha256.is_empty()));
    let readme = std::fs::read_to_string(stick.join(snapshot::README)).unwrap();
    assert!(readme.contains("age -d -i KEYFILE"), "{readme}");

    // No marker anywhere on the stick, nor in the decompressed data stream,
    // which holds neither the DB dump nor a secret file.
    let marks = markers(&mn);
    for entry in std::fs::read_dir(&stick).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        for m in &marks {
            assert!(!contains(&bytes, m), "{} holds a secret", p.display());
        }
    }
    let v = snapshot::verify(&stick).unwrap();
    let mut plain = Vec::new();
    snapshot::reader::open_data(&v)
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    for m in &marks {
        assert!(!contains(&plain, m), "the data stream holds a secret");
    }
    let mut tar = tar::Archive::new(&plain[..]);
    for e in tar.entries().unwrap() {
        let path = e.unwrap().path().unwrap().to_string_lossy().into_owned();
        assert!(!path.starts_with(".xcatport"), "{path} in the data stream");
        assert!(
            !secrets.iter().any(|r| r.path == path),
            "{path} in the data stream"
        );
    }

    // Restored with the identity: secrets as on the source, DB rows equal,
    // and the whole root equal to a restore of an unencrypted stick.
    let root = bare(w.path(), "new");
    let key_arg = key.to_str().unwrap();
    let out = run(import_cmd(
        &stick,
        &root,
        &["--skip-packages", "--identity", key_arg],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert_secrets_restored(&mn, &root, &secrets);
    assert_eq!(tables(&root), tables(&mn));
    let dump = root.join("var/lib/xcatport/db");
    assert_eq!(std::fs::metadata(&dump).unwrap().mode() & 0o777, 0o700);
    assert!(std::fs::read_to_string(dump.join("passwd.csv"))
        .unwrap()
        .contains("PASSW0RD"));

    let plain_stick = w.path().join("plain");
    let out = run(export_cmd(&mn, &plain_stick, &stub, &[]));
    assert!(out.status.success(), "{}", text(&out));
    let plain_root = bare(w.path(), "plain-root");
    let out = run(import_cmd(&plain_stick, &plain_root, &["--skip-packages"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_same(
        &restored(&root, &stick),
        &restored(&plain_root, &plain_stick),
    );
}

#[test]
fn passphrase_stick_round_trips_and_refuses_a_wrong_or_missing_passphrase_in_preflight() {
    let w = work("xcatport-enc-pass-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let good = passphrase_file(w.path(), "pass", "correct horse battery\n");
    let bad = passphrase_file(w.path(), "wrong", "incorrect horse\n");
    let stick = w.path().join("stick");
    let started = std::time::Instant::now();
    let out = run(export_cmd(
        &mn,
        &stick,
        &stub,
        &["--encrypt", "--passphrase-file", good.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let head = snapshot::manifest::read_head(&stick.join(snapshot::MANIFEST)).unwrap();
    assert_eq!(head.secrets.as_ref().unwrap().key, KeyKind::Passphrase);

    let root = bare(w.path(), "new");
    // No key and no terminal: refused, naming the file and the flag.
    assert_refused_unchanged(&stick, &root, &["--skip-packages"], SECRETS);
    assert_refused_unchanged(&stick, &root, &["--skip-packages"], "--passphrase-file");
    // A wrong passphrase, and an identity for a passphrase stick.
    let bad_arg = [
        "--skip-packages",
        "--passphrase-file",
        bad.to_str().unwrap(),
    ];
    assert_refused_unchanged(&stick, &root, &bad_arg, "wrong");
    let (key, _) = identity(w.path());
    let id_arg = ["--skip-packages", "--identity", key.to_str().unwrap()];
    assert_refused_unchanged(&stick, &root, &id_arg, "encrypted to a passphrase");

    // --verify: without a key it checks the ciphertext only; with it, decryption.
    let out = run(import_cmd(&stick, &root, &["--verify", "--skip-packages"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not decrypted"), "{}", text(&out));
    let good_arg = [
        "--skip-packages",
        "--passphrase-file",
        good.to_str().unwrap(),
    ];
    let mut verify = good_arg.to_vec();
    verify.push("--verify");
    let out = run(import_cmd(&stick, &root, &verify));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("decrypts"), "{}", text(&out));

    let out = run(import_cmd(&stick, &root, &good_arg));
    assert!(out.status.success(), "{}", text(&out));
    assert_secrets_restored(&mn, &root, &secret_files(&stick));
    assert_eq!(tables(&root), tables(&mn));
}

#[test]
fn a_corrupted_or_truncated_secret_stream_is_refused_in_preflight() {
    let Sealed { w, key, stick, .. } = sealed_to_x25519("xcatport-enc-corrupt-");
    let root = bare(w.path(), "new");
    let args = ["--skip-packages", "--identity", key.to_str().unwrap()];
    let age_path = stick.join(SECRETS);
    let original = std::fs::read(&age_path).unwrap();

    // A flipped byte: SHA256SUMS catches it without a key.
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&age_path, &flipped).unwrap();
    assert_refused_unchanged(&stick, &root, &args, SECRETS);
    // The same with SHA256SUMS and MANIFEST.json forged to match: age's
    // authentication refuses it.
    resign(&stick);
    assert_refused_unchanged(&stick, &root, &args, "does not decrypt cleanly");
    // Truncated (sums forged too).
    std::fs::write(&age_path, &original[..original.len() - 100]).unwrap();
    resign(&stick);
    assert_refused_unchanged(&stick, &root, &args, "does not decrypt cleanly");
    // Cut inside the header.
    std::fs::write(&age_path, &original[..40]).unwrap();
    resign(&stick);
    assert_refused_unchanged(&stick, &root, &args, "not a readable age file");
    // Put back, it restores.
    std::fs::write(&age_path, &original).unwrap();
    resign(&stick);
    let out = run(import_cmd(&stick, &root, &args));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn an_interrupted_restore_of_an_encrypted_stick_resumes_only_with_the_key() {
    let Sealed {
        w, mn, key, stick, ..
    } = sealed_to_x25519("xcatport-enc-resume-");
    let head = snapshot::manifest::read_head(&stick.join(snapshot::MANIFEST)).unwrap();
    let key_args = ["--skip-packages", "--identity", key.to_str().unwrap()];

    // Killed in the files step, inside the data stream (after the secrets).
    let root = bare(w.path(), "new");
    let kill_at = (head.secrets.unwrap().entries + 3).to_string();
    let mut cmd = import_cmd(&stick, &root, &key_args);
    cmd.env(xcatport::app::import::FAIL_AFTER_ENTRIES, &kill_at);
    let out = run(cmd);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(step_in(&root, "files", "running"));

    let mut resume = vec!["--resume", "--skip-packages"];
    let out = run(import_cmd(&stick, &root, &resume));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("--identity"), "{}", text(&out));
    resume.extend(["--identity", key.to_str().unwrap()]);
    let out = run(import_cmd(&stick, &root, &resume));
    assert!(out.status.success(), "{}", text(&out));

    let whole = bare(w.path(), "whole");
    let out = run(import_cmd(&stick, &whole, &key_args));
    assert!(out.status.success(), "{}", text(&out));
    assert_same(&restored(&root, &stick), &restored(&whole, &stick));
    assert_eq!(tables(&root), tables(&mn));
}

#[test]
fn export_key_sources_are_checked_before_anything_is_written() {
    let w = work("xcatport-enc-args-");
    let mn = mn(w.path());
    let stub = static_stub(w.path());
    let stick = w.path().join("stick");
    let empty = passphrase_file(w.path(), "empty-pass", "\n");
    let cases: [(&[&str], &str); 4] = [
        (&["--encrypt"], "--passphrase-file FILE, --recipient"),
        (
            &["--encrypt", "--passphrase-file", empty.to_str().unwrap()],
            "empty-pass: the passphrase (its first line) is empty",
        ),
        (
            &["--encrypt", "--recipient", "age1notakey"],
            "not an age X25519 recipient",
        ),
        (
            &["--encrypt", "--recipients-file", "/nonexistent/recipients"],
            "/nonexistent/recipients",
        ),
    ];
    for (extra, needle) in cases {
        let out = run(export_cmd(&mn, &stick, &stub, extra));
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", text(&out));
        assert!(stderr(&out).contains(needle), "{extra:?}: {}", text(&out));
        assert!(!stick.exists(), "{extra:?} wrote something");
    }
    // A key flag without --encrypt is a usage error.
    let pass = passphrase_file(w.path(), "pass", "x\n");
    let out = run(export_cmd(
        &mn,
        &stick,
        &stub,
        &["--passphrase-file", pass.to_str().unwrap()],
    ));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!stick.exists());
}
