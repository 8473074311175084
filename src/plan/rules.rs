//! A profile compiled for one MN: variables expanded, family applied, globs
//! built. Paths are relative to the root (no leading `/`).

use super::profile::{Origin, Profile};
use super::Section;
use crate::{Error, Result};
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use std::path::{Path, PathBuf};

/// Values of the profile variables, from the site table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vars {
    pub installdir: String,
    pub tftpdir: String,
}

impl Default for Vars {
    /// xCAT's defaults, used only when the site table does not say otherwise.
    fn default() -> Vars {
        Vars {
            installdir: "/install".into(),
            tftpdir: "/tftpboot".into(),
        }
    }
}

/// One include root.
#[derive(Debug, Clone)]
pub struct IncludeRule {
    pub rel: PathBuf,
    pub section: Section,
    /// Only entries matching this glob are taken (from `--include GLOB`).
    pub filter: Option<GlobMatcher>,
}

/// One exclusion as reported in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludeRule {
    /// The glob as written (after variable expansion), or a built-in rule's name.
    pub rule: String,
    pub reason: String,
}

/// Index of the rule for special files in [`Rules::excludes`].
pub const RULE_SPECIAL: usize = 0;
/// Index of the live database files rule.
pub const RULE_LIVE_DB: usize = 1;

/// Compiled rules for the walk.
#[derive(Debug, Clone)]
pub struct Rules {
    pub profile: String,
    pub family: String,
    pub vars: Vars,
    pub includes: Vec<IncludeRule>,
    pub excludes: Vec<ExcludeRule>,
    /// Matches exclude globs; index i of the set is `excludes[i + 1]`... see `exclude_index`.
    exclude_set: GlobSet,
    exclude_map: Vec<usize>,
    secret_set: GlobSet,
    /// Rule index for copycds media when the profile leaves them out.
    pub media_rule: Option<usize>,
    pub installdir: PathBuf,
}

impl Rules {
    /// Compiles `profile` for an MN of `family` with `vars`, plus command-line globs.
    pub fn compile(
        profile: &Profile,
        vars: &Vars,
        family: &str,
        extra_include: &[String],
        extra_exclude: &[String],
    ) -> Result<Rules> {
        let mut includes = Vec::new();
        for inc in &profile.includes {
            if !inc.family.is_empty()
                && family != "unknown"
                && !inc.family.iter().any(|f| f == family)
            {
                continue;
            }
            let path = expand(&inc.path, vars, &inc.origin)?;
            includes.push(IncludeRule {
                rel: rel_of(&path),
                section: inc.section,
                filter: None,
            });
        }
        for (i, text) in extra_include.iter().enumerate() {
            let origin = cli_origin("--include", i);
            let path = expand(text, vars, &origin)?;
            let (base, filter) = split_glob(&path, &origin)?;
            includes.push(IncludeRule {
                rel: base,
                section: Section::Trees,
                filter,
            });
        }
        let mut excludes = vec![
            ExcludeRule {
                rule: "special files".into(),
                reason: "sockets, fifos and device nodes are runtime objects".into(),
            },
            ExcludeRule {
                rule: "etc/xcat/*.sqlite".into(),
                reason: "live database files; the database travels as a consistent dump".into(),
            },
        ];
        let mut set = GlobSetBuilder::new();
        let mut exclude_map = Vec::new();
        let live_db = glob(
            &excludes[RULE_LIVE_DB].rule,
            &cli_origin("built-in rule", 0),
        )?;
        set.add(live_db);
        exclude_map.push(RULE_LIVE_DB);
        let profile_rules = profile
            .excludes
            .iter()
            .map(|e| (e.glob.as_str(), e.reason.clone(), e.origin.clone()));
        let cli_rules = extra_exclude.iter().enumerate().map(|(i, g)| {
            (
                g.as_str(),
                "excluded on the command line".to_string(),
                cli_origin("--exclude", i),
            )
        });
        for (text, reason, origin) in profile_rules.chain(cli_rules) {
            let expanded = expand(text, vars, &origin)?;
            let pattern = strip_root(&expanded);
            set.add(glob(&pattern, &origin)?);
            exclude_map.push(excludes.len());
            excludes.push(ExcludeRule {
                rule: pattern,
                reason,
            });
        }
        let exclude_set = set
            .build()
            .map_err(|e| Error::Refused(format!("exclude globs: {e}")))?;
        let mut secrets = GlobSetBuilder::new();
        for s in &profile.secrets {
            let expanded = expand(&s.glob, vars, &s.origin)?;
            secrets.add(glob(&strip_root(&expanded), &s.origin)?);
        }
        let secret_set = secrets
            .build()
            .map_err(|e| Error::Refused(format!("secret globs: {e}")))?;
        let media_rule = profile.exclude_media.as_ref().map(|reason| {
            excludes.push(ExcludeRule {
                rule: "copycds media".into(),
                reason: reason.clone(),
            });
            excludes.len() - 1
        });
        Ok(Rules {
            profile: profile.name.clone(),
            family: family.to_string(),
            installdir: rel_of(&vars.installdir),
            vars: vars.clone(),
            includes,
            excludes,
            exclude_set,
            exclude_map,
            secret_set,
            media_rule,
        })
    }

    /// The first exclude rule matching `rel`, as an index into `excludes`.
    pub fn excluded(&self, rel: &Path) -> Option<usize> {
        self.exclude_set
            .matches(rel)
            .into_iter()
            .map(|i| self.exclude_map[i])
            .min()
    }

    /// Section of an included entry: secrets win, then the most specific include root.
    /// `None` when no include root takes it (a filtered include that does not match).
    pub fn section(&self, rel: &Path, is_dir: bool) -> Option<Section> {
        let mut best: Option<&IncludeRule> = None;
        let mut accepted = false;
        for inc in &self.includes {
            if !rel.starts_with(&inc.rel) {
                continue;
            }
            let takes = is_dir || inc.filter.as_ref().map_or(true, |f| f.is_match(rel));
            accepted |= takes;
            if takes
                && best.map_or(true, |b| {
                    inc.rel.components().count() > b.rel.components().count()
                })
            {
                best = Some(inc);
            }
        }
        if !accepted {
            return None;
        }
        if self.secret_set.is_match(rel) {
            return Some(Section::Secrets);
        }
        best.map(|b| b.section)
    }

    /// Include roots to walk: sorted, none inside another.
    pub fn walk_roots(&self) -> Vec<PathBuf> {
        let mut roots: Vec<PathBuf> = self.includes.iter().map(|i| i.rel.clone()).collect();
        roots.sort();
        roots.dedup();
        let mut out: Vec<PathBuf> = Vec::new();
        for r in roots {
            if !out.iter().any(|o| r.starts_with(o)) {
                out.push(r);
            }
        }
        out
    }
}

fn cli_origin(what: &str, i: usize) -> Origin {
    Origin {
        file: PathBuf::from(format!("{what} #{}", i + 1)),
        line: 0,
    }
}

/// Expands `${INSTALLDIR}` and `${TFTPDIR}`; any other `${…}` is an error.
fn expand(text: &str, vars: &Vars, origin: &Origin) -> Result<String> {
    let out = text
        .replace("${INSTALLDIR}", &vars.installdir)
        .replace("${TFTPDIR}", &vars.tftpdir);
    if let Some(start) = out.find("${") {
        let var: String = out[start..].chars().take_while(|&c| c != '}').collect();
        return Err(Error::format(
            &origin.file,
            origin.line,
            format!("{var}}} is not a known variable (INSTALLDIR, TFTPDIR)"),
        ));
    }
    Ok(out)
}

fn strip_root(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

fn rel_of(path: &str) -> PathBuf {
    PathBuf::from(strip_root(path))
}

fn glob(pattern: &str, origin: &Origin) -> Result<Glob> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| {
            Error::format(
                &origin.file,
                origin.line,
                format!("bad glob {pattern:?}: {}", e.kind()),
            )
        })
}

/// `/srv/site/**/*.conf` → walk `srv/site`, keep matches of the whole glob.
fn split_glob(path: &str, origin: &Origin) -> Result<(PathBuf, Option<GlobMatcher>)> {
    let rel = strip_root(path);
    let is_meta = |s: &str| s.contains(['*', '?', '[', '{']);
    if !is_meta(&rel) {
        return Ok((PathBuf::from(rel), None));
    }
    let base: Vec<&str> = rel.split('/').take_while(|c| !is_meta(c)).collect();
    let matcher = glob(&rel, origin)?.compile_matcher();
    Ok((PathBuf::from(base.join("/")), Some(matcher)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> Profile {
        Profile::parse("t", Path::new("t.toml"), text, 0).unwrap()
    }

    #[test]
    fn variables_expand_and_unknown_ones_name_the_line() {
        let p = profile("[[include]]\npath = \"${INSTALLDIR}\"\nsection = \"trees\"\n");
        let vars = Vars {
            installdir: "/srv/install".into(),
            tftpdir: "/tftp".into(),
        };
        let r = Rules::compile(&p, &vars, "rhel", &[], &[]).unwrap();
        assert_eq!(r.includes[0].rel, Path::new("srv/install"));
        let p = profile("\n[[exclude]]\nglob = \"${SITEDIR}/x\"\nreason = \"r\"\n");
        let err = Rules::compile(&p, &vars, "rhel", &[], &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.toml:2: ${SITEDIR} is not a known variable (INSTALLDIR, TFTPDIR)"
        );
    }

    #[test]
    fn a_bad_glob_names_the_profile_line() {
        let p = profile("[[exclude]]\nglob = \"/a\"\nreason = \"r\"\n\n[[exclude]]\nglob = \"/b/[x\"\nreason = \"r\"\n");
        let err = Rules::compile(&p, &Vars::default(), "rhel", &[], &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml:5: bad glob \"b/[x\""), "{err}");
    }

    #[test]
    fn family_filters_includes_and_sections_pick_the_most_specific_root() {
        let p = profile(
            "[[include]]\npath = \"/etc/xcat\"\nsection = \"configuration\"\n\
             [[include]]\npath = \"/etc/xcat/ca\"\nsection = \"secrets\"\n\
             [[include]]\npath = \"/etc/bind\"\nsection = \"configuration\"\nfamily = [\"ubuntu\"]\n\
             [[secret]]\nglob = \"/etc/xcat/cfgloc*\"\n",
        );
        let r = Rules::compile(&p, &Vars::default(), "rhel", &[], &[]).unwrap();
        assert_eq!(r.walk_roots(), vec![PathBuf::from("etc/xcat")]);
        assert_eq!(
            r.section(Path::new("etc/xcat/site.conf"), false),
            Some(Section::Configuration)
        );
        assert_eq!(
            r.section(Path::new("etc/xcat/ca/key.pem"), false),
            Some(Section::Secrets)
        );
        assert_eq!(
            r.section(Path::new("etc/xcat/cfgloc"), false),
            Some(Section::Secrets)
        );
        assert_eq!(
            r.excluded(Path::new("etc/xcat/site.sqlite")),
            Some(RULE_LIVE_DB)
        );
    }

    #[test]
    fn cli_include_glob_walks_its_literal_base_and_filters() {
        let p = profile("");
        let r = Rules::compile(
            &p,
            &Vars::default(),
            "rhel",
            &["/srv/site/**/*.conf".into()],
            &["/srv/site/old/**".into()],
        )
        .unwrap();
        assert_eq!(r.walk_roots(), vec![PathBuf::from("srv/site")]);
        assert_eq!(
            r.section(Path::new("srv/site/a/b.conf"), false),
            Some(Section::Trees)
        );
        assert_eq!(r.section(Path::new("srv/site/a/b.txt"), false), None);
        let i = r.excluded(Path::new("srv/site/old/x.conf")).unwrap();
        assert_eq!(r.excludes[i].reason, "excluded on the command line");
    }
}
