//! age encryption of the secret stream `xcat-secrets.tar.zst.age`: the keys
//! that lock it at export ([`Lock`]: a passphrase or X25519 recipients), the
//! keys that unlock it at import ([`Unlock`]: the passphrase or X25519
//! identities), and reading them from files.
//!
//! Integrity of the secret stream rests on age itself: every 64 KiB chunk is
//! authenticated (ChaCha20-Poly1305) and the last chunk is marked, so a
//! flipped bit, a cut or a swapped chunk fails to decrypt. SHA256SUMS covers
//! the ciphertext for checking without a key.

use crate::error::IoContext;
use crate::{Error, Result};
use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which kind of key the stream was encrypted to (recorded in MANIFEST.json;
/// never the key itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Passphrase,
    X25519,
}

impl KeyKind {
    /// The import flag that supplies this kind of key.
    pub fn import_flag(self) -> &'static str {
        match self {
            KeyKind::Passphrase => "--passphrase-file FILE",
            KeyKind::X25519 => "--identity FILE",
        }
    }
}

/// What encrypts: a passphrase or one or more X25519 recipients.
#[derive(Clone)]
pub enum Lock {
    Passphrase(Arc<SecretString>),
    Recipients(Arc<Vec<x25519::Recipient>>),
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Lock::Passphrase(_) => f.write_str("Lock(passphrase)"),
            Lock::Recipients(r) => write!(f, "Lock({} x25519 recipients)", r.len()),
        }
    }
}

impl Lock {
    pub fn kind(&self) -> KeyKind {
        match self {
            Lock::Passphrase(_) => KeyKind::Passphrase,
            Lock::Recipients(_) => KeyKind::X25519,
        }
    }

    /// Number of recipients (1 for a passphrase).
    pub fn recipients(&self) -> usize {
        match self {
            Lock::Passphrase(_) => 1,
            Lock::Recipients(r) => r.len(),
        }
    }

    /// The key that opens what this lock closed, when the exporting side
    /// holds it (a passphrase; X25519 recipients are public keys only).
    pub fn unlock(&self) -> Option<Unlock> {
        match self {
            Lock::Passphrase(p) => Some(Unlock::Passphrase(Arc::clone(p))),
            Lock::Recipients(_) => None,
        }
    }

    /// Wraps `out` so that what is written is encrypted; `finish` must be
    /// called on the result.
    pub fn wrap<W: Write>(&self, out: W) -> io::Result<age::stream::StreamWriter<W>> {
        let encryptor = match self {
            Lock::Passphrase(p) => age::Encryptor::with_user_passphrase(SecretString::clone(p)),
            Lock::Recipients(list) => {
                age::Encryptor::with_recipients(list.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(format!("age: {e}")))?
            }
        };
        encryptor.wrap_output(out)
    }
}

/// What decrypts: the passphrase or X25519 identities.
#[derive(Clone)]
pub enum Unlock {
    Passphrase(Arc<SecretString>),
    Identities(Arc<Vec<x25519::Identity>>),
}

impl fmt::Debug for Unlock {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Unlock::Passphrase(_) => f.write_str("Unlock(passphrase)"),
            Unlock::Identities(i) => write!(f, "Unlock({} x25519 identities)", i.len()),
        }
    }
}

impl Unlock {
    fn what(&self) -> &'static str {
        match self {
            Unlock::Passphrase(_) => "the passphrase",
            Unlock::Identities(_) => "the identity",
        }
    }

    /// A reader of the plaintext of the age file read from `input`; `shown`
    /// names that file in every error, including those of later reads.
    pub fn decrypt<R: Read>(&self, input: R, shown: &Path) -> Result<Named<impl Read>> {
        let refuse = |why: String| Error::Refused(format!("{}: {why}", shown.display()));
        let decryptor = age::Decryptor::new(input).map_err(|e| {
            refuse(format!(
                "not a readable age file ({e}): truncated or corrupted"
            ))
        })?;
        let reader = match self {
            Unlock::Passphrase(p) => {
                if !decryptor.is_scrypt() {
                    return Err(refuse(
                        "encrypted to X25519 recipients, not to a passphrase: give --identity FILE"
                            .into(),
                    ));
                }
                let id = age::scrypt::Identity::new(SecretString::clone(p));
                decryptor.decrypt(std::iter::once(&id as &dyn age::Identity))
            }
            Unlock::Identities(ids) => {
                if decryptor.is_scrypt() {
                    return Err(refuse(
                        "encrypted to a passphrase, not to X25519 recipients: give --passphrase-file FILE"
                            .into(),
                    ));
                }
                decryptor.decrypt(ids.iter().map(|i| i as &dyn age::Identity))
            }
        };
        let reader = reader.map_err(|e| match e {
            age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
                refuse(format!("{} does not decrypt it (wrong key)", self.what()))
            }
            age::DecryptError::KeyDecryptionFailed => refuse(format!(
                "{} does not decrypt it (wrong passphrase)",
                self.what()
            )),
            other => refuse(format!("cannot decrypt: {other}")),
        })?;
        Ok(Named {
            path: shown.to_path_buf(),
            inner: reader,
        })
    }
}

/// A reader whose errors name the file the bytes come from.
pub struct Named<R> {
    path: PathBuf,
    inner: R,
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: does not decrypt cleanly ({e}): truncated or corrupted",
                    self.path.display()
                ),
            )
        })
    }
}

/// Decrypts the secret stream written into `dir` in full and checks that
/// its plaintext tar hashes to `expected` (export verification, when the
/// exporter holds the key; the ciphertext is checked against SHA256SUMS by
/// [`super::verify`]).
pub fn verify_plaintext(
    dir: &Path,
    record: &super::SecretsRecord,
    key: &Unlock,
    expected: &str,
) -> Result<()> {
    let shown = dir.join(&record.name);
    let volumes = record.volumes.iter().map(|v| dir.join(&v.name)).collect();
    let plain = super::reader::decrypt_volumes(&shown, volumes, key)?;
    let mut hashing = super::hash::HashingReader::new(plain);
    io::copy(&mut hashing, &mut io::sink()).at(&shown)?;
    if hashing.finish() != expected {
        return Err(Error::Refused(format!(
            "{}: decrypts, but not to the stream that was written (corrupted while writing)",
            shown.display()
        )));
    }
    Ok(())
}

/// Parses one `age1…` recipient; `origin` says where it came from.
pub fn parse_recipient(text: &str, origin: &str) -> Result<x25519::Recipient> {
    text.trim().parse::<x25519::Recipient>().map_err(|e| {
        Error::Refused(format!(
            "{origin}: {:?} is not an age X25519 recipient (age1…): {e}",
            text.trim()
        ))
    })
}

/// Lines of a key file that carry something: not blank, not `#` comments.
fn key_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let file = std::fs::File::open(path).at(path)?;
    let mut out = Vec::new();
    // Key files are a few lines; the cap stops a wrong path (a disk image) early.
    for (i, line) in BufReader::new(file.take(1 << 20)).lines().enumerate() {
        let line = line.at(path)?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            out.push((i + 1, t.to_string()));
        }
    }
    Ok(out)
}

/// Reads an age recipients file: one `age1…` per line, `#` comments.
pub fn read_recipients_file(path: &Path) -> Result<Vec<x25519::Recipient>> {
    let mut out = Vec::new();
    for (line, text) in key_lines(path)? {
        out.push(parse_recipient(
            &text,
            &format!("{}:{line}", path.display()),
        )?);
    }
    if out.is_empty() {
        return Err(Error::Refused(format!(
            "{}: holds no age recipient (age1…)",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments, as
/// `age-keygen` writes it). Errors name the line, never its content.
pub fn read_identity_file(path: &Path) -> Result<Vec<x25519::Identity>> {
    let mut out = Vec::new();
    for (line, text) in key_lines(path)? {
        match text.parse::<x25519::Identity>() {
            Ok(id) => out.push(id),
            Err(_) => {
                return Err(Error::Refused(format!(
                    "{}:{line}: not an age identity (AGE-SECRET-KEY-1…)",
                    path.display()
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Refused(format!(
            "{}: holds no age identity (AGE-SECRET-KEY-1…)",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads a passphrase: the first line of the file, its line end stripped.
pub fn read_passphrase_file(path: &Path) -> Result<SecretString> {
    let file = std::fs::File::open(path).at(path)?;
    let mut first = Vec::new();
    BufReader::new(file.take(64 << 10))
        .read_until(b'\n', &mut first)
        .at(path)?;
    let text = String::from_utf8(first)
        .map_err(|_| Error::Refused(format!("{}: the passphrase is not UTF-8", path.display())))?;
    let pass = text.trim_end_matches(['\n', '\r']);
    if pass.is_empty() {
        return Err(Error::Refused(format!(
            "{}: the passphrase (its first line) is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(pass.to_string()))
}

/// A passphrase typed by the user, checked not to be empty.
pub fn passphrase(text: String) -> Result<SecretString> {
    if text.is_empty() {
        return Err(Error::Refused("an empty passphrase is refused".into()));
    }
    Ok(SecretString::from(text))
}

/// Whether `a` and `b` hold the same passphrase (the prompt asks twice).
pub fn same_passphrase(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn round_trip(lock: &Lock, unlock: &Unlock) -> Result<Vec<u8>> {
        let mut w = lock.wrap(Vec::new()).unwrap();
        w.write_all(b"top secret").unwrap();
        let out = w.finish().unwrap();
        let mut back = Vec::new();
        unlock
            .decrypt(&out[..], Path::new("/stick/s.age"))?
            .read_to_end(&mut back)
            .at("/stick/s.age")?;
        Ok(back)
    }

    #[test]
    fn x25519_round_trips_and_a_wrong_identity_is_named() {
        let id = x25519::Identity::generate();
        let lock = Lock::Recipients(Arc::new(vec![id.to_public()]));
        let good = Unlock::Identities(Arc::new(vec![id]));
        assert_eq!(round_trip(&lock, &good).unwrap(), b"top secret");
        let bad = Unlock::Identities(Arc::new(vec![x25519::Identity::generate()]));
        let err = round_trip(&lock, &bad).unwrap_err().to_string();
        assert!(
            err.contains("/stick/s.age") && err.contains("wrong key"),
            "{err}"
        );
        let pass = Unlock::Passphrase(Arc::new(SecretString::from("x")));
        let err = round_trip(&lock, &pass).unwrap_err().to_string();
        assert!(err.contains("--identity"), "{err}");
    }

    #[test]
    fn key_files_parse_and_refuse_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let id = x25519::Identity::generate();
        let idf = dir.path().join("key.txt");
        std::fs::write(
            &idf,
            format!(
                "# created: now\n# public key: {}\n{}\n",
                id.to_public(),
                id.to_string().expose_secret()
            ),
        )
        .unwrap();
        assert_eq!(read_identity_file(&idf).unwrap().len(), 1);
        let rf = dir.path().join("r.txt");
        std::fs::write(&rf, format!("{}\n\n# x\n", id.to_public())).unwrap();
        assert_eq!(read_recipients_file(&rf).unwrap(), vec![id.to_public()]);
        std::fs::write(&rf, "age1nope\n").unwrap();
        let err = read_recipients_file(&rf).unwrap_err().to_string();
        assert!(err.contains("r.txt:1"), "{err}");
        std::fs::write(&idf, "AGE-SECRET-KEY-1BROKEN\n").unwrap();
        let err = read_identity_file(&idf).err().unwrap().to_string();
        assert!(
            err.contains("key.txt:1") && !err.contains("BROKEN"),
            "{err}"
        );
        let pf = dir.path().join("pass");
        std::fs::write(&pf, "correct horse\r\nsecond line\n").unwrap();
        assert_eq!(
            read_passphrase_file(&pf).unwrap().expose_secret(),
            "correct horse"
        );
        std::fs::write(&pf, "\n").unwrap();
        let err = read_passphrase_file(&pf).unwrap_err().to_string();
        assert!(err.contains("pass") && err.contains("empty"), "{err}");
    }
}
