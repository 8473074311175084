//! The plan as a readable table for `--dry-run`.

use super::{Section, Summary};

/// `12.3 MiB` style sizes.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The plan table: sections, exclusions (rule, reason, counts), media, missing roots.
pub fn render(s: &Summary) -> String {
    let mut out = format!(
        "profile {} · family {} · INSTALLDIR={} · TFTPDIR={}\n\n",
        s.profile, s.family, s.installdir, s.tftpdir
    );
    out.push_str(&format!(
        "{:<15} {:>10} {:>8} {:>12}\n",
        "section", "files", "dirs", "size"
    ));
    for sec in Section::ALL {
        let st = s.section(sec);
        out.push_str(&format!(
            "{:<15} {:>10} {:>8} {:>12}\n",
            sec.name(),
            st.files,
            st.dirs,
            human(st.bytes)
        ));
    }
    let (f, d, b) = s.totals();
    out.push_str(&format!(
        "{:<15} {:>10} {:>8} {:>12}\n",
        "total",
        f,
        d,
        human(b)
    ));
    out.push_str("\nexcluded\n");
    for ex in &s.exclusions {
        if ex.files + ex.dirs == 0 {
            continue;
        }
        out.push_str(&format!(
            "  {:<40} {:>8} files {:>10}  {}\n",
            ex.rule,
            ex.files,
            human(ex.bytes),
            ex.reason
        ));
    }
    if !s.media.is_empty() {
        out.push_str("\ncopycds media\n");
        for m in &s.media {
            let what = if m.excluded {
                "left out: copy it again with copycds after the restore"
            } else {
                "included"
            };
            out.push_str(&format!("  {:<40} {what}\n", m.path));
        }
    }
    if !s.missing.is_empty() {
        // Most profiles name files of every service; an MN runs a few of them.
        let shown: Vec<&str> = s.missing.iter().take(6).map(String::as_str).collect();
        let more = s.missing.len() - shown.len();
        out.push_str(&format!(
            "\nnot present on this MN ({}): {}{}\n",
            s.missing.len(),
            shown.join(" "),
            if more > 0 {
                format!(" … and {more} more (--json lists all)")
            } else {
                String::new()
            }
        ));
    }
    out
}
