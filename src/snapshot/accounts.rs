//! uid/gid → name maps from `<root>/etc/passwd` and `<root>/etc/group`.
//!
//! TODO(merge): replace with `crate::mn::accounts::Accounts` once the restore
//! helper lands it; this private parser only exists so the writer can record
//! owner names without NSS (a static binary must not call getpwnam).

use crate::error::IoContext;
use crate::Result;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Names of the root's users and groups, by number.
#[derive(Debug, Default, Clone)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    /// Reads both files; a missing file gives an empty map (numbers only).
    pub fn load(root: &Path) -> Result<Names> {
        Ok(Names {
            users: read_map(&root.join("etc/passwd"))?,
            groups: read_map(&root.join("etc/group"))?,
        })
    }

    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// `name:x:ID:...` lines; the first name for an id wins, as NSS would return.
fn read_map(path: &Path) -> Result<HashMap<u32, String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(crate::Error::io(path, e)),
    };
    let mut map = HashMap::new();
    for line in BufReader::new(file).lines() {
        let line = line.at(path)?;
        if line.starts_with('#') {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if let Ok(id) = id.parse::<u32>() {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_name_per_id_wins_and_junk_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/bash\ntoor:x:0:0::/:/bin/sh\n# c\nbad\nxcat:x:1001:1001::/:/bin/sh\n",
        )
        .unwrap();
        let names = Names::load(dir.path()).unwrap();
        assert_eq!(names.user(0), Some("root"));
        assert_eq!(names.user(1001), Some("xcat"));
        assert_eq!(names.group(0), None);
    }
}
