//! Profiles: what a snapshot includes and excludes, in TOML.
//!
//! A profile lists include trees and files (optionally per distro family),
//! secret globs, and exclude globs each with a reason; `extends` pulls in
//! another built-in profile first. Unknown keys are errors, and every error
//! names the profile file and line.

use crate::error::IoContext;
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

use super::Section;

/// Profiles shipped in the binary, by name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../profiles/default.toml")),
    ("no-media", include_str!("../../profiles/no-media.toml")),
];

/// Where a rule was written: for error messages and the plan report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A tree or file to include.
#[derive(Debug, Clone)]
pub struct Include {
    pub path: String,
    pub section: Section,
    /// Distro families this applies to; empty = all.
    pub family: Vec<String>,
    pub origin: Origin,
}

/// An exclude glob with its reason.
#[derive(Debug, Clone)]
pub struct Exclude {
    pub glob: String,
    pub reason: String,
    pub origin: Origin,
}

/// A glob whose matches go to the secrets section.
#[derive(Debug, Clone)]
pub struct Secret {
    pub glob: String,
    pub origin: Origin,
}

/// A loaded profile, `extends` already merged in.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub includes: Vec<Include>,
    pub excludes: Vec<Exclude>,
    pub secrets: Vec<Secret>,
    /// Leave out copycds OS media, with this reason.
    pub exclude_media: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    description: String,
    extends: Option<String>,
    #[serde(default)]
    include: Vec<Spanned<RawInclude>>,
    #[serde(default)]
    exclude: Vec<Spanned<RawExclude>>,
    #[serde(default)]
    secret: Vec<Spanned<RawSecret>>,
    media: Option<RawMedia>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInclude {
    path: String,
    section: Section,
    #[serde(default)]
    family: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclude {
    glob: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    glob: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMedia {
    exclude: bool,
    #[serde(default)]
    reason: String,
}

/// Known distro family names, for checking `family = [...]`.
pub const FAMILIES: &[&str] = &["rhel", "sles", "ubuntu"];

impl Profile {
    /// A built-in name (`default`, `no-media`) or a path to a TOML file.
    pub fn load(name_or_file: &str) -> Result<Profile> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_file) {
            return Profile::parse(name, Path::new(&format!("profiles/{name}.toml")), text, 0);
        }
        let path = Path::new(name_or_file);
        if !name_or_file.contains('/') && !name_or_file.ends_with(".toml") {
            let names: Vec<_> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(Error::Refused(format!(
                "--profile {name_or_file}: no such profile (built in: {}; or give a path to a .toml file)",
                names.join(", ")
            )));
        }
        let text = std::fs::read_to_string(path).at(path)?;
        let name = path.file_stem().map_or_else(
            || name_or_file.to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        Profile::parse(&name, path, &text, 0)
    }

    /// Parses `text` read from `file`; `depth` guards against `extends` loops.
    pub fn parse(name: &str, file: &Path, text: &str, depth: u32) -> Result<Profile> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            Error::format(file, line, e.message().trim().to_string())
        })?;
        let origin = |start: usize| Origin {
            file: file.to_path_buf(),
            line: line_of(text, start),
        };
        let mut profile = match &raw.extends {
            Some(base) if depth < 4 => {
                let (_, base_text) = BUILTIN.iter().find(|(n, _)| n == base).ok_or_else(|| {
                    Error::format(
                        file,
                        0,
                        format!("extends = {base:?}: not a built-in profile"),
                    )
                })?;
                let mut p = Profile::parse(
                    base,
                    Path::new(&format!("profiles/{base}.toml")),
                    base_text,
                    depth + 1,
                )?;
                p.name = name.to_string();
                p
            }
            Some(base) => {
                return Err(Error::format(
                    file,
                    0,
                    format!("extends = {base:?}: too deeply nested"),
                ))
            }
            None => Profile {
                name: name.to_string(),
                description: String::new(),
                includes: Vec::new(),
                excludes: Vec::new(),
                secrets: Vec::new(),
                exclude_media: None,
            },
        };
        if !raw.description.is_empty() {
            profile.description = raw.description;
        }
        for inc in raw.include {
            let o = origin(inc.span().start);
            let inc = inc.into_inner();
            if let Some(bad) = inc.family.iter().find(|f| !FAMILIES.contains(&f.as_str())) {
                return Err(Error::format(
                    &o.file,
                    o.line,
                    format!("family {bad:?} is not one of {}", FAMILIES.join(", ")),
                ));
            }
            profile.includes.push(Include {
                path: inc.path,
                section: inc.section,
                family: inc.family,
                origin: o,
            });
        }
        for exc in raw.exclude {
            let o = origin(exc.span().start);
            let exc = exc.into_inner();
            if exc.reason.trim().is_empty() {
                return Err(Error::format(
                    &o.file,
                    o.line,
                    "an exclude rule needs a reason",
                ));
            }
            profile.excludes.push(Exclude {
                glob: exc.glob,
                reason: exc.reason,
                origin: o,
            });
        }
        for sec in raw.secret {
            let o = origin(sec.span().start);
            profile.secrets.push(Secret {
                glob: sec.into_inner().glob,
                origin: o,
            });
        }
        if let Some(media) = raw.media {
            profile.exclude_media = media.exclude.then(|| {
                if media.reason.is_empty() {
                    "OS media copied by copycds: copy them again from the ISOs".to_string()
                } else {
                    media.reason
                }
            });
        }
        Ok(profile)
    }
}

/// 1-based line of byte offset `pos` in `text`.
pub fn line_of(text: &str, pos: usize) -> u64 {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse() {
        let d = Profile::load("default").unwrap();
        assert!(d.includes.iter().any(|i| i.path == "${INSTALLDIR}"));
        assert!(d.exclude_media.is_none());
        let n = Profile::load("no-media").unwrap();
        assert_eq!(n.name, "no-media");
        assert!(n.exclude_media.is_some());
        assert_eq!(n.includes.len(), d.includes.len());
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text =
            "description = \"x\"\n\n[[exclude]]\nglob = \"/a\"\nreason = \"r\"\ncolour = \"red\"\n";
        let err = Profile::parse("p", Path::new("/tmp/p.toml"), text, 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/tmp/p.toml:6: "), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn unknown_section_and_family_are_errors_with_lines() {
        let text = "[[include]]\npath = \"/x\"\nsection = \"misc\"\n";
        let err = Profile::parse("p", Path::new("p.toml"), text, 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:3: "), "{err}");
        let text = "\n[[include]]\npath = \"/x\"\nsection = \"trees\"\nfamily = [\"arch\"]\n";
        let err = Profile::parse("p", Path::new("p.toml"), text, 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:2: "), "{err}");
    }

    #[test]
    fn unknown_profile_name_lists_the_builtins() {
        let err = Profile::load("nosuch").unwrap_err().to_string();
        assert!(err.contains("default, no-media"), "{err}");
    }
}
