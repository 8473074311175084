//! The `--dry-run` listing: a unified-diff-like text of every row and file
//! that changes. Rows are shown as their tabdump CSV lines under their key;
//! files as hunks of changed lines (a rewrite never adds or removes lines,
//! so old and new line numbers agree). The passwd table is never read,
//! so no secret can appear here.

use super::cert::CertPlan;
use super::plan::ChangeSet;
use super::tables::{csv_line, key_text};
use std::fmt::Write;

/// The whole listing.
pub fn render(set: &ChangeSet) -> String {
    let mut s = String::new();
    for line in &set.summary {
        let _ = writeln!(s, "# {line}");
    }
    for t in &set.tables {
        let _ = writeln!(s, "--- table {}", t.table.name);
        let _ = writeln!(s, "+++ table {}", t.table.name);
        for r in &t.rows {
            let _ = writeln!(s, "@@ {} @@", key_text(t.table, &r.before));
            let _ = writeln!(s, "-{}", csv_line(&r.before));
            let _ = writeln!(s, "+{}", csv_line(&r.after));
        }
    }
    for f in &set.files {
        let new = f.new_path.as_ref().unwrap_or(&f.path);
        let _ = writeln!(s, "--- {}", f.path);
        let _ = writeln!(s, "+++ {new}");
        file_hunks(&mut s, &f.before, &f.after);
    }
    match &set.cert {
        CertPlan::Regenerate { old, fqdn, short } => {
            let _ = writeln!(
                s,
                "certificate /{}: new key and certificate for {fqdn} (SANs {fqdn}, {short}) issued by the kept CA /etc/xcat/ca; now: {old}",
                super::cert::SERVER_CERT
            );
        }
        CertPlan::Todo(t) => {
            let _ = writeln!(s, "certificate: TODO: {t}");
        }
        CertPlan::Keep(_) => {}
    }
    s
}

fn file_hunks(s: &mut String, before: &str, after: &str) {
    let old: Vec<&str> = before.split('\n').collect();
    let new: Vec<&str> = after.split('\n').collect();
    let mut i = 0;
    while i < old.len().max(new.len()) {
        if old.get(i) == new.get(i) {
            i += 1;
            continue;
        }
        let start = i;
        while i < old.len().max(new.len()) && old.get(i) != new.get(i) {
            i += 1;
        }
        let n = i - start;
        let _ = writeln!(s, "@@ -{},{n} +{},{n} @@", start + 1, start + 1);
        for l in old.iter().take(i).skip(start) {
            let _ = writeln!(s, "-{l}");
        }
        for l in new.iter().take(i).skip(start) {
            let _ = writeln!(s, "+{l}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_group_consecutive_lines() {
        let mut s = String::new();
        file_hunks(&mut s, "a\nb\nc\nd\n", "a\nB\nC\nd\n");
        assert_eq!(s, "@@ -2,2 +2,2 @@\n-b\n-c\n+B\n+C\n");
    }
}
