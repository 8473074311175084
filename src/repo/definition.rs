//! Repository definitions as the package managers write them: yum/dnf and
//! zypper `.repo` files (INI), apt one-line `.list` files and deb822
//! `.sources` files. Only what a restore needs is kept: where the packages
//! are, and every trust setting (gpgcheck and keys) so it can be carried over
//! unchanged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One `[section]` of a yum/dnf or zypper `.repo` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmRepoDef {
    /// The repo id, e.g. `xcat-core`.
    pub id: String,
    /// Every URL of `baseurl` (yum allows several, on continuation lines).
    pub baseurls: Vec<String>,
    /// `enabled`, default true as in yum and zypper.
    pub enabled: bool,
    pub gpgcheck: Option<bool>,
    pub repo_gpgcheck: Option<bool>,
    pub pkg_gpgcheck: Option<bool>,
    /// `gpgkey` URLs, in order.
    pub gpgkeys: Vec<String>,
    /// 1-based line of the section header, for messages.
    pub line: u64,
}

/// One `deb` source from a `.list` line or a `.sources` paragraph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebSource {
    pub uri: String,
    /// The suite (`bookworm`) or, for a flat repo, a path ending in `/` (`./`).
    pub suite: String,
    /// Components; empty for a flat repo.
    pub components: Vec<String>,
    /// Options (`arch`, `signed-by`, `trusted`, …) as written, in order.
    pub options: Vec<(String, String)>,
    /// 1-based line of the source, for messages.
    pub line: u64,
}

impl DebSource {
    /// A flat repository: the suite is a path and there are no components.
    pub fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// The value of an option, case-insensitive on the name.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a yum/dnf or zypper `.repo` file (`file` names it in errors).
pub fn parse_rpm_repo_file(text: &str, file: &Path) -> Result<Vec<RpmRepoDef>> {
    let mut out: Vec<RpmRepoDef> = Vec::new();
    // The key whose value a continuation line extends (yum's multi-line baseurl).
    let mut last_key: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let id = header.strip_suffix(']').ok_or_else(|| {
                Error::format(file, lineno, "section header without a closing \"]\"")
            })?;
            out.push(RpmRepoDef {
                id: id.trim().to_string(),
                baseurls: vec![],
                enabled: true,
                gpgcheck: None,
                repo_gpgcheck: None,
                pkg_gpgcheck: None,
                gpgkeys: vec![],
                line: lineno,
            });
            last_key = None;
            continue;
        }
        let Some(repo) = out.last_mut() else {
            return Err(Error::format(
                file,
                lineno,
                "setting before the first [repo] section",
            ));
        };
        if raw.starts_with([' ', '\t']) {
            match last_key.as_deref() {
                Some("baseurl") => repo.baseurls.extend(split_urls(trimmed)),
                Some("gpgkey") => repo.gpgkeys.extend(split_urls(trimmed)),
                _ => {}
            }
            continue;
        }
        let (key, value) = trimmed
            .split_once('=')
            .ok_or_else(|| Error::format(file, lineno, "expected \"key=value\""))?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        let flag = || {
            parse_bool(value).ok_or_else(|| {
                Error::format(file, lineno, format!("{key}={value:?} is not a boolean"))
            })
        };
        match key.as_str() {
            "baseurl" => repo.baseurls.extend(split_urls(value)),
            "gpgkey" => repo.gpgkeys.extend(split_urls(value)),
            "enabled" => repo.enabled = flag()?,
            "gpgcheck" => repo.gpgcheck = Some(flag()?),
            "repo_gpgcheck" => repo.repo_gpgcheck = Some(flag()?),
            "pkg_gpgcheck" => repo.pkg_gpgcheck = Some(flag()?),
            _ => {}
        }
        last_key = Some(key);
    }
    Ok(out)
}

/// yum separates several URLs by spaces or commas.
fn split_urls(v: &str) -> Vec<String> {
    v.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Parses an apt one-line `.list` file; `deb-src` lines are skipped.
pub fn parse_apt_list(text: &str, file: &Path) -> Result<Vec<DebSource>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match kind {
            "deb" => {}
            "deb-src" => continue,
            _ => {
                return Err(Error::format(
                    file,
                    lineno,
                    format!("expected \"deb\" or \"deb-src\", found {kind:?}"),
                ))
            }
        }
        let mut rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(inner) = rest.strip_prefix('[') {
            let (opts, after) = inner
                .split_once(']')
                .ok_or_else(|| Error::format(file, lineno, "options without a closing \"]\""))?;
            for opt in opts.split_whitespace() {
                let (k, v) = opt.split_once('=').ok_or_else(|| {
                    Error::format(file, lineno, format!("option {opt:?} is not name=value"))
                })?;
                options.push((k.to_string(), v.to_string()));
            }
            rest = after;
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(Error::format(
                file,
                lineno,
                "a deb line needs a URI and a suite",
            ));
        };
        out.push(DebSource {
            uri: uri.to_string(),
            suite: suite.to_string(),
            components: words.map(str::to_string).collect(),
            options,
            line: lineno,
        });
    }
    Ok(out)
}

/// Parses a deb822 `.sources` file: one source per URI × suite of each
/// enabled paragraph whose `Types` include `deb`.
pub fn parse_apt_sources(text: &str, file: &Path) -> Result<Vec<DebSource>> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut start = 0u64;
    let mut flush = |fields: &mut Vec<(String, String)>, start: u64| -> Result<()> {
        if fields.is_empty() {
            return Ok(());
        }
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let enabled = get("Enabled").map_or(Some(true), |v| parse_bool(&v));
        let types = get("Types").unwrap_or_default();
        if enabled == Some(true) && types.split_whitespace().any(|t| t == "deb") {
            let uris =
                get("URIs").ok_or_else(|| Error::format(file, start, "paragraph without URIs"))?;
            let suites = get("Suites")
                .ok_or_else(|| Error::format(file, start, "paragraph without Suites"))?;
            let components: Vec<String> = get("Components")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            let options: Vec<(String, String)> = fields
                .iter()
                .filter(|(k, _)| {
                    !["types", "uris", "suites", "components", "enabled"]
                        .contains(&k.to_ascii_lowercase().as_str())
                })
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            for uri in uris.split_whitespace() {
                for suite in suites.split_whitespace() {
                    out.push(DebSource {
                        uri: uri.to_string(),
                        suite: suite.to_string(),
                        components: components.clone(),
                        options: options.clone(),
                        line: start,
                    });
                }
            }
        }
        fields.clear();
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let lineno = i as u64 + 1;
        if raw.trim().is_empty() {
            flush(&mut fields, start)?;
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            // A continuation (an inline Signed-By key): kept verbatim, one per line.
            if let Some((_, v)) = fields.last_mut() {
                v.push('\n');
                v.push_str(raw.trim());
            }
            continue;
        }
        let (k, v) = raw
            .split_once(':')
            .ok_or_else(|| Error::format(file, lineno, "expected \"Field: value\""))?;
        if fields.is_empty() {
            start = lineno;
        }
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    flush(&mut fields, start)?;
    Ok(out)
}

/// The local directory a repo URL names, as an MN path: `file:///x`,
/// `file:/x`, `dir:/x`, `copy:/x` or a plain `/x`. `None` for a remote URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    let rest = ["file://", "dir://", "copy://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .or_else(|| {
            ["file:", "dir:", "copy:"]
                .iter()
                .find_map(|p| url.strip_prefix(p))
        })
        .unwrap_or(url);
    // `file://localhost/x` is the same as `file:///x`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    rest.starts_with('/').then(|| PathBuf::from(rest))
}

/// True for a URL this version can only download, not read in place.
pub fn is_remote(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "ftp://"]
        .iter()
        .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xcat_core_repo_file() {
        let text = "[xcat-core]\nname=xCAT 2 Core packages\nbaseurl=file:///install/xcat/xcat-core\nenabled=1\ngpgcheck=1\ngpgkey=file:///install/xcat/xcat-core/repodata/repomd.xml.key\n\n[other]\nbaseurl=http://a/b\n        file:///c\nenabled=0\n";
        let defs = parse_rpm_repo_file(text, Path::new("/etc/yum.repos.d/x.repo")).unwrap();
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[0].id, "xcat-core");
        assert_eq!(defs[0].baseurls, vec!["file:///install/xcat/xcat-core"]);
        assert_eq!(defs[0].gpgcheck, Some(true));
        assert_eq!(defs[0].repo_gpgcheck, None);
        assert_eq!(
            defs[0].gpgkeys,
            vec!["file:///install/xcat/xcat-core/repodata/repomd.xml.key"]
        );
        assert_eq!(defs[1].baseurls, vec!["http://a/b", "file:///c"]);
        assert!(!defs[1].enabled);
        assert_eq!(defs[1].line, 8);
    }

    #[test]
    fn bad_repo_file_names_line() {
        let e = parse_rpm_repo_file("[a]\ngpgcheck=maybe\n", Path::new("/r.repo")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/r.repo:2: gpgcheck=\"maybe\" is not a boolean"
        );
        let e = parse_rpm_repo_file("baseurl=x\n", Path::new("/r.repo")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/r.repo:1: setting before the first [repo] section"
        );
    }

    #[test]
    fn apt_list_lines() {
        let text = "# xcat\ndeb [arch=amd64 signed-by=/usr/share/keyrings/xcat.gpg] file:///install/xcat/xcat-core bionic main\ndeb-src file:/x y z\ndeb [trusted=yes] file:/srv/flat ./\n";
        let s = parse_apt_list(text, Path::new("/l")).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "file:///install/xcat/xcat-core");
        assert_eq!(s[0].suite, "bionic");
        assert_eq!(s[0].components, vec!["main"]);
        assert_eq!(
            s[0].option("signed-by"),
            Some("/usr/share/keyrings/xcat.gpg")
        );
        assert!(!s[0].is_flat());
        assert!(s[1].is_flat());
        assert_eq!(s[1].option("trusted"), Some("yes"));
        assert_eq!(s[1].line, 4);
        let e = parse_apt_list("deb file:/x\n", Path::new("/l")).unwrap_err();
        assert_eq!(e.to_string(), "/l:1: a deb line needs a URI and a suite");
    }

    #[test]
    fn deb822_sources() {
        let text = "Types: deb deb-src\nURIs: file:/srv/xcat\nSuites: ./\nSigned-By: /etc/apt/keyrings/xcat.asc\n\nTypes: deb\nEnabled: no\nURIs: file:/off\nSuites: x\nComponents: main\n";
        let s = parse_apt_sources(text, Path::new("/s")).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].uri, "file:/srv/xcat");
        assert!(s[0].is_flat());
        assert_eq!(s[0].option("Signed-By"), Some("/etc/apt/keyrings/xcat.asc"));
    }

    #[test]
    fn local_paths() {
        assert_eq!(local_path("file:///install/x"), Some("/install/x".into()));
        assert_eq!(local_path("file:/install/x"), Some("/install/x".into()));
        assert_eq!(local_path("dir:///srv/r"), Some("/srv/r".into()));
        assert_eq!(local_path("file://localhost/a"), Some("/a".into()));
        assert_eq!(local_path("/plain"), Some("/plain".into()));
        assert_eq!(local_path("http://x/y"), None);
        assert!(is_remote("HTTPS://x"));
        assert!(!is_remote("file:///x"));
    }
}
