//! Profiles (TOML), include/exclude globs and the walk that turns an MN into a Plan.
//!
//! [`Plan::build`] walks once to count what each section holds and what each
//! exclusion rule leaves out; [`Plan::entries`] walks again for the writer,
//! so memory stays flat whatever the file count.

pub mod profile;
pub mod report;
pub mod rules;
pub mod tally;
pub mod walk;

pub use profile::Profile;
pub use rules::{Rules, Vars};

use crate::progress::Progress;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The parts of a snapshot, as shown in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Packages,
    Database,
    Trees,
    Configuration,
    Secrets,
    Images,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Packages,
        Section::Database,
        Section::Trees,
        Section::Configuration,
        Section::Secrets,
        Section::Images,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Packages => "packages",
            Section::Database => "database",
            Section::Trees => "trees",
            Section::Configuration => "configuration",
            Section::Secrets => "secrets",
            Section::Images => "images",
        }
    }
}

/// One file, directory or link to write.
#[derive(Debug)]
pub struct Entry {
    /// Relative to the root, no leading `/`.
    pub rel: PathBuf,
    /// Absolute path to read.
    pub path: PathBuf,
    pub section: Section,
    /// lstat of the entry at walk time.
    pub meta: std::fs::Metadata,
}

/// Counts for one section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionStats {
    pub section: Option<Section>,
    /// Non-directory entries (files, links; DB tables for `database`).
    pub files: u64,
    pub dirs: u64,
    /// Content bytes (regular files; hardlinked content counted per name).
    pub bytes: u64,
}

/// What one exclusion rule left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusionStats {
    pub rule: String,
    pub reason: String,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

/// A copycds media tree found under INSTALLDIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    pub path: String,
    pub excluded: bool,
}

/// The printable, countable part of a plan (also stored in MANIFEST.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub profile: String,
    pub family: String,
    pub installdir: String,
    pub tftpdir: String,
    pub sections: Vec<SectionStats>,
    pub exclusions: Vec<ExclusionStats>,
    pub media: Vec<MediaRecord>,
    /// Include roots that do not exist on this MN.
    pub missing: Vec<String>,
}

impl Summary {
    pub fn section(&self, s: Section) -> &SectionStats {
        self.sections
            .iter()
            .find(|x| x.section == Some(s))
            .unwrap_or(&EMPTY_STATS)
    }

    pub fn section_mut(&mut self, s: Section) -> &mut SectionStats {
        let i = self
            .sections
            .iter()
            .position(|x| x.section == Some(s))
            .unwrap_or_else(|| {
                self.sections.push(SectionStats {
                    section: Some(s),
                    ..Default::default()
                });
                self.sections.len() - 1
            });
        &mut self.sections[i]
    }

    pub fn exclusion(&self, rule: &str) -> Option<&ExclusionStats> {
        self.exclusions.iter().find(|e| e.rule == rule)
    }

    /// Entries and content bytes over all sections.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.sections.iter().fold((0, 0, 0), |(f, d, b), s| {
            (f + s.files, d + s.dirs, b + s.bytes)
        })
    }
}

static EMPTY_STATS: SectionStats = SectionStats {
    section: None,
    files: 0,
    dirs: 0,
    bytes: 0,
};

/// Rules plus what they select on this MN.
#[derive(Debug, Clone)]
pub struct Plan {
    pub root: PathBuf,
    pub rules: Rules,
    pub summary: Summary,
}

impl Plan {
    /// Walks `root` once and counts every section and exclusion.
    pub fn build(root: &Path, rules: Rules, progress: &dyn Progress) -> Result<Plan> {
        let mut summary = Summary {
            profile: rules.profile.clone(),
            family: rules.family.clone(),
            installdir: rules.vars.installdir.clone(),
            tftpdir: rules.vars.tftpdir.clone(),
            sections: Section::ALL
                .iter()
                .map(|&s| SectionStats {
                    section: Some(s),
                    ..Default::default()
                })
                .collect(),
            exclusions: rules
                .excludes
                .iter()
                .map(|r| ExclusionStats {
                    rule: r.rule.clone(),
                    reason: r.reason.clone(),
                    files: 0,
                    dirs: 0,
                    bytes: 0,
                })
                .collect(),
            media: Vec::new(),
            missing: Vec::new(),
        };
        progress.set_message("walking");
        let rule_count = summary.exclusions.len();
        let ((), excluded_trees) = tally::while_walking(rule_count, |trees| {
            for item in walk::Walk::new(root, &rules, true) {
                match item? {
                    walk::Item::Included(e) => {
                        let st = summary.section_mut(e.section);
                        if e.meta.is_dir() {
                            st.dirs += 1;
                        } else {
                            st.files += 1;
                        }
                        if e.meta.is_file() {
                            st.bytes += e.meta.len();
                            progress.inc(e.meta.len());
                        }
                    }
                    walk::Item::Excluded {
                        rule,
                        is_dir,
                        bytes,
                        tree,
                    } => {
                        let ex = &mut summary.exclusions[rule];
                        if is_dir {
                            ex.dirs += 1;
                        } else {
                            ex.files += 1;
                        }
                        ex.bytes += bytes;
                        if let Some(dir) = tree {
                            trees.add(rule, dir);
                        }
                    }
                    walk::Item::Missing(rel) => summary.missing.push(format!("/{}", rel.display())),
                    walk::Item::Media { rel, excluded } => summary.media.push(MediaRecord {
                        path: format!("/{}", rel.display()),
                        excluded,
                    }),
                }
            }
            Ok(())
        })?;
        for (ex, under) in summary.exclusions.iter_mut().zip(excluded_trees) {
            ex.files += under.files;
            ex.dirs += under.dirs;
            ex.bytes += under.bytes;
        }
        progress.finish();
        Ok(Plan {
            root: root.to_path_buf(),
            rules,
            summary,
        })
    }

    /// The included entries in write order (a fresh walk).
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry>> + '_ {
        walk::entries(&self.root, &self.rules)
    }

    /// Absolute paths of the exported include roots that exist (for the target check).
    pub fn exported_trees(&self) -> Vec<PathBuf> {
        self.rules
            .walk_roots()
            .into_iter()
            .map(|r| self.root.join(r))
            .filter(|p| p.exists())
            .collect()
    }
}

/// The distro family of the MN under `root`, from `etc/os-release` (`unknown` if unreadable).
pub fn family_of(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("etc/os-release")).unwrap_or_default();
    let mut words = Vec::new();
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("ID=")
            .or_else(|| line.strip_prefix("ID_LIKE="))
        {
            words.extend(v.trim_matches('"').split_whitespace().map(str::to_string));
        }
    }
    for w in &words {
        match w.as_str() {
            "rhel" | "centos" | "rocky" | "almalinux" | "fedora" | "ol" => return "rhel".into(),
            "sles" | "suse" | "opensuse" | "opensuse-leap" => return "sles".into(),
            "ubuntu" | "debian" => return "ubuntu".into(),
            _ => {}
        }
    }
    "unknown".into()
}
