//! Users and groups of the MN, read from `<root>/etc/passwd` and `group`
//! (never NSS: a static xcatimport must not call getpwnam, and the accounts
//! that matter are those of the root being restored, not of the running host).
//!
//! Parsing is lenient the way glibc's files backend is: blank lines and `#`
//! comments are ignored, malformed lines are skipped — but remembered, so the
//! restore can warn about them instead of silently mapping an owner wrong.
//! When a name or id appears twice the first line wins, as with getpwnam.

use crate::error::IoContext;
use crate::Result;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::{Path, PathBuf};

/// A line of passwd or group that was skipped, kept for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    pub reason: String,
}

impl std::fmt::Display for SkippedLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: skipped: {}",
            self.file.display(),
            self.line,
            self.reason
        )
    }
}

/// Name ↔ id tables of one root's users and groups.
#[derive(Debug, Default, Clone)]
pub struct Accounts {
    uid_of: HashMap<String, u32>,
    user_of: HashMap<u32, String>,
    gid_of: HashMap<String, u32>,
    group_of: HashMap<u32, String>,
    skipped: Vec<SkippedLine>,
    missing: Vec<PathBuf>,
}

impl Accounts {
    /// Reads `<root_dir>/etc/passwd` and `<root_dir>/etc/group`. A missing
    /// file gives an empty table (listed by [`Accounts::missing_files`]);
    /// any other read failure is an error naming the file.
    pub fn load(root_dir: &Path) -> Result<Accounts> {
        let mut accounts = Accounts::default();
        let passwd = root_dir.join("etc/passwd");
        let group = root_dir.join("etc/group");
        accounts.read_table(&passwd, 7, |acc, name, id| {
            acc.uid_of.entry(name.to_string()).or_insert(id);
            acc.user_of.entry(id).or_insert_with(|| name.to_string());
        })?;
        accounts.read_table(&group, 4, |acc, name, id| {
            acc.gid_of.entry(name.to_string()).or_insert(id);
            acc.group_of.entry(id).or_insert_with(|| name.to_string());
        })?;
        Ok(accounts)
    }

    /// uid of user `name`, if the root knows it.
    pub fn uid_by_name(&self, name: &str) -> Option<u32> {
        self.uid_of.get(name).copied()
    }

    /// gid of group `name`, if the root knows it.
    pub fn gid_by_name(&self, name: &str) -> Option<u32> {
        self.gid_of.get(name).copied()
    }

    /// Name of the first user with `uid`.
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.user_of.get(&uid).map(String::as_str)
    }

    /// Name of the first group with `gid`.
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.group_of.get(&gid).map(String::as_str)
    }

    /// Malformed lines that were skipped while loading.
    pub fn skipped_lines(&self) -> &[SkippedLine] {
        &self.skipped
    }

    /// passwd/group files that did not exist under the root.
    pub fn missing_files(&self) -> &[PathBuf] {
        &self.missing
    }

    /// Streams one colon-separated table with at least `fields` fields,
    /// taking field 0 as the name and field 2 as the numeric id.
    fn read_table(
        &mut self,
        file: &Path,
        fields: usize,
        mut add: impl FnMut(&mut Accounts, &str, u32),
    ) -> Result<()> {
        let handle = match File::open(file) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.missing.push(file.to_path_buf());
                return Ok(());
            }
            Err(e) => return Err(crate::Error::io(file, e)),
        };
        let mut reader = BufReader::new(handle);
        let mut raw = Vec::new();
        let mut number = 0u64;
        loop {
            raw.clear();
            if reader.read_until(b'\n', &mut raw).at(file)? == 0 {
                break;
            }
            number += 1;
            let line = trim_line_end(&raw);
            match parse_line(line, fields) {
                Parsed::Ignore => {}
                Parsed::Entry(name, id) => add(self, name, id),
                Parsed::Bad(reason) => self.skipped.push(SkippedLine {
                    file: file.to_path_buf(),
                    line: number,
                    reason,
                }),
            }
        }
        Ok(())
    }
}

enum Parsed<'a> {
    Ignore,
    Entry(&'a str, u32),
    Bad(String),
}

fn trim_line_end(raw: &[u8]) -> &[u8] {
    let mut end = raw.len();
    while end > 0 && (raw[end - 1] == b'\n' || raw[end - 1] == b'\r') {
        end -= 1;
    }
    &raw[..end]
}

fn parse_line(line: &[u8], fields: usize) -> Parsed<'_> {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let trimmed = &line[start..];
    if trimmed.is_empty() || trimmed[0] == b'#' {
        return Parsed::Ignore;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Parsed::Bad("not valid UTF-8".into());
    };
    if text.starts_with('+') || text.starts_with('-') {
        return Parsed::Bad("NIS compat entry (+/-) is not supported".into());
    }
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() < fields {
        return Parsed::Bad(format!("{} fields, expected {fields}", parts.len()));
    }
    let name = parts[0];
    if name.is_empty() {
        return Parsed::Bad("empty name".into());
    }
    match parts[2].parse::<u32>() {
        Ok(id) => Parsed::Entry(name, id),
        Err(_) => Parsed::Bad(format!("id {:?} is not a number", parts[2])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn root_with(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    #[test]
    fn maps_names_and_ids_both_ways() {
        let dir = root_with(
            "root:x:0:0:root:/root:/bin/bash\napache:x:48:48::/usr/share/httpd:/sbin/nologin\n",
            "root:x:0:\napache:x:48:\nxcat:x:1001:apache,root\n",
        );
        let acc = Accounts::load(dir.path()).unwrap();
        assert_eq!(acc.uid_by_name("apache"), Some(48));
        assert_eq!(acc.uid_by_name("nobody"), None);
        assert_eq!(acc.user_name(0), Some("root"));
        assert_eq!(acc.gid_by_name("xcat"), Some(1001));
        assert_eq!(acc.group_name(48), Some("apache"));
        assert_eq!(acc.group_name(7), None);
        assert!(acc.skipped_lines().is_empty());
        assert!(acc.missing_files().is_empty());
    }

    #[test]
    fn skips_malformed_lines_and_remembers_them() {
        let dir = root_with(
            "# comment\n\nroot:x:0:0:root:/root:/bin/bash\r\nbroken:x:12\nbad:x:abc:1::/:/bin/sh\n+nis\nok:x:5:5::/:/bin/sh",
            "g1:x:10:\n",
        );
        let acc = Accounts::load(dir.path()).unwrap();
        assert_eq!(acc.uid_by_name("root"), Some(0));
        assert_eq!(acc.uid_by_name("ok"), Some(5));
        assert_eq!(acc.uid_by_name("broken"), None);
        assert_eq!(acc.uid_by_name("bad"), None);
        let lines: Vec<String> = acc.skipped_lines().iter().map(|s| s.to_string()).collect();
        let p = dir.path().join("etc/passwd");
        assert_eq!(
            lines,
            vec![
                format!("{}:4: skipped: 3 fields, expected 7", p.display()),
                format!("{}:5: skipped: id \"abc\" is not a number", p.display()),
                format!(
                    "{}:6: skipped: NIS compat entry (+/-) is not supported",
                    p.display()
                ),
            ]
        );
    }

    #[test]
    fn first_entry_wins_like_getpwnam() {
        let dir = root_with(
            "a:x:10:10::/:/bin/sh\na:x:11:11::/:/bin/sh\nb:x:10:10::/:/bin/sh\n",
            "",
        );
        let acc = Accounts::load(dir.path()).unwrap();
        assert_eq!(acc.uid_by_name("a"), Some(10));
        assert_eq!(acc.user_name(10), Some("a"));
        assert_eq!(acc.uid_by_name("b"), Some(10));
    }

    #[test]
    fn missing_files_give_empty_tables() {
        let dir = tempfile::tempdir().unwrap();
        let acc = Accounts::load(dir.path()).unwrap();
        assert_eq!(acc.uid_by_name("root"), None);
        assert_eq!(
            acc.missing_files(),
            &[dir.path().join("etc/passwd"), dir.path().join("etc/group")]
        );
    }

    #[test]
    fn unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/passwd")).unwrap();
        let err = Accounts::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.starts_with(&dir.path().join("etc/passwd").display().to_string()),
            "{err}"
        );
    }
}
