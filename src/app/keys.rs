//! The keys of an encrypted snapshot as the commands obtain them: from the
//! key-file flags, or typed at the terminal (echo off) when none is given
//! and stdin is a terminal. Never from the environment or the command line
//! itself (both are visible to other users through /proc).

use crate::snapshot::crypt::{self, Lock, Unlock};
use crate::{Error, Result};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The export's key sources, as given on the command line.
pub struct ExportKeys<'a> {
    pub passphrase_file: Option<&'a Path>,
    pub recipients: &'a [String],
    pub recipients_files: &'a [PathBuf],
}

/// The lock for `xcatexport --encrypt`: exactly one kind of key source, or
/// a passphrase typed twice when none is given and stdin is a terminal
/// (`prompt` false: a dry run, which only checks the sources).
pub fn export_lock(keys: &ExportKeys<'_>, prompt: bool) -> Result<Option<Lock>> {
    let has_recipients = !keys.recipients.is_empty() || !keys.recipients_files.is_empty();
    match (keys.passphrase_file, has_recipients) {
        (Some(_), true) => Err(Error::Refused(
            "--encrypt takes one kind of key: --passphrase-file, or --recipient/--recipients-file, not both".into(),
        )),
        (Some(file), false) => Ok(Some(Lock::Passphrase(Arc::new(
            crypt::read_passphrase_file(file)?,
        )))),
        (None, true) => {
            let mut list = Vec::new();
            for (i, r) in keys.recipients.iter().enumerate() {
                list.push(crypt::parse_recipient(r, &format!("--recipient #{}", i + 1))?);
            }
            for file in keys.recipients_files {
                list.extend(crypt::read_recipients_file(file)?);
            }
            Ok(Some(Lock::Recipients(Arc::new(list))))
        }
        (None, false) if !std::io::stdin().is_terminal() => Err(Error::Refused(
            "--encrypt needs a key: --passphrase-file FILE, --recipient AGE1… or --recipients-file FILE (a passphrase is asked for only when stdin is a terminal)".into(),
        )),
        (None, false) if !prompt => Ok(None),
        (None, false) => {
            let first = crypt::passphrase(ask("passphrase for the snapshot's secrets: ")?)?;
            let again = crypt::passphrase(ask("the same passphrase again: ")?)?;
            if !crypt::same_passphrase(&first, &again) {
                return Err(Error::Refused(
                    "the two passphrases differ; nothing was written".into(),
                ));
            }
            Ok(Some(Lock::Passphrase(Arc::new(first))))
        }
    }
}

/// The key for an encrypted stick at import: `--passphrase-file` or
/// `--identity` files, else typed at the terminal when `prompt` and stdin is
/// one. `None` when there is none (the caller says what is missing).
pub fn import_unlock(
    passphrase_file: Option<&Path>,
    identities: &[PathBuf],
    prompt: bool,
) -> Result<Option<Unlock>> {
    match (passphrase_file, identities.is_empty()) {
        (Some(_), false) => Err(Error::Refused(
            "give --passphrase-file or --identity, not both".into(),
        )),
        (Some(file), true) => Ok(Some(Unlock::Passphrase(Arc::new(
            crypt::read_passphrase_file(file)?,
        )))),
        (None, false) => {
            let mut list = Vec::new();
            for file in identities {
                list.extend(crypt::read_identity_file(file)?);
            }
            Ok(Some(Unlock::Identities(Arc::new(list))))
        }
        (None, true) if prompt && std::io::stdin().is_terminal() => {
            Ok(Some(Unlock::Passphrase(Arc::new(crypt::passphrase(ask(
                "passphrase of the snapshot's secrets: ",
            )?)?))))
        }
        (None, true) => Ok(None),
    }
}

/// Reads one line from the terminal with echo off; echo is restored even
/// when reading fails.
fn ask(prompt: &str) -> Result<String> {
    let tty_path = Path::new("/dev/tty");
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tty_path)
        .map_err(|e| Error::io(tty_path, e))?;
    tty.write_all(prompt.as_bytes())
        .and_then(|()| tty.flush())
        .map_err(|e| Error::io(tty_path, e))?;
    let fd = tty.as_raw_fd();
    let saved = echo_off(fd);
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    if let Some(saved) = saved {
        // SAFETY: fd is open (tty lives until the end of this function) and
        // `saved` came from tcgetattr on it.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    let _ = tty.write_all(b"\n");
    read.map_err(|e| Error::io(tty_path, e))?;
    let text = line.trim_end_matches(['\n', '\r']).to_string();
    // Overwrite the buffer's copy; `text` moves into a SecretString.
    let mut bytes = line.into_bytes();
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&bytes);
    Ok(text)
}

/// Turns echo off on the terminal `fd`, returning the settings to restore.
fn echo_off(fd: i32) -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
        return None;
    }
    let saved = t;
    t.c_lflag &= !(libc::ECHO | libc::ECHONL);
    t.c_lflag |= libc::ICANON;
    // SAFETY: fd is a terminal (tcgetattr succeeded) and t is valid settings.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) } != 0 {
        return None;
    }
    Some(saved)
}
