//! Package repositories: found on the source MN, packed onto the stick
//! (`xcat-rpms.tar`), registered on the new MN and installed from with the
//! distro's own package manager (dnf/yum, zypper, apt), also into a --root.
//!
//! - [`definition`]: `.repo`, `.list` and `.sources` files.
//! - [`metadata`]: what a repo offers, from repomd/primary or `Packages`.
//! - [`find`]: the local repos xCAT was installed from, checked against the
//!   installed xCAT packages.
//! - [`pack`]: `xcat-rpms.tar`, streamed, with the `xcatport-repos.json` index.
//! - [`register`]: copy the repos to the new MN's disk and register them.
//! - [`install`]: run the package manager, on `/` or into a root.

pub mod definition;
pub mod find;
pub mod install;
pub mod metadata;
pub mod pack;
pub mod register;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use definition::DebSource;
pub use find::{find, find_all, Found, Sources};
pub use install::install;
pub use metadata::RepoPackage;
pub use pack::{pack, INDEX_MEMBER};
pub use register::{register, Registered, RegisteredRepo};

/// Where restored repos live on the new MN (copied off the stick).
pub const REPOS_DIR: &str = "var/lib/xcatport/repos";
/// Where their keys live on the new MN.
pub const KEYS_DIR: &str = "var/lib/xcatport/repo-keys";
/// Version of the `xcatport-repos.json` index format.
pub const INDEX_FORMAT: u32 = 1;

/// The kind of a repository, which decides the package manager that reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepoKind {
    /// yum/dnf/zypper repo with `repodata/`.
    RpmMd,
    /// apt repo: `dists/…` or a flat `Packages` index.
    Deb,
}

/// A GPG key a repo definition names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoKey {
    /// As written in the source definition: `file:///…`, a path, or a URL.
    pub url: String,
    /// Member of `xcat-rpms.tar` holding the key; `None` for a remote key
    /// URL, which is carried over as written.
    pub member: Option<String>,
}

/// A file of a repo and where it comes from on the source MN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoFile {
    /// Member path in `xcat-rpms.tar`: `repos/<name>/<path in repo>` or
    /// `keys/<name>/<file>`.
    pub member: String,
    /// Host path to read it from.
    pub source: PathBuf,
}

/// A package repository on its way from the source MN to the new one; the
/// serialized part is one entry of `xcatport-repos.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    /// Unique among the snapshot's repos; `[A-Za-z0-9._-]` only.
    pub name: String,
    pub kind: RepoKind,
    /// Where it was found: the MN path of its definition file, `--rpms`, or
    /// the otherpkgs directory.
    pub found_in: String,
    /// The base URL as written there.
    pub baseurl: String,
    /// `enabled` on the source (the restored copy is always enabled).
    pub enabled: bool,
    pub gpgcheck: Option<bool>,
    pub repo_gpgcheck: Option<bool>,
    pub pkg_gpgcheck: Option<bool>,
    pub gpgkeys: Vec<RepoKey>,
    /// Suite, components and options of an apt source.
    pub deb: Option<DebSource>,
    /// Packages the repo offers (whose files are in it).
    pub packages: Vec<RepoPackage>,
    /// Files to carry; not part of the index.
    #[serde(skip)]
    pub files: Vec<RepoFile>,
}

/// The `xcatport-repos.json` index member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoIndex {
    pub format: u32,
    pub repos: Vec<Repo>,
}

/// `[A-Za-z0-9._-]`, everything else becomes `-`; never empty, never
/// starting with a dot (a repo name is a directory and a file name).
pub fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with('.') {
        out.remove(0);
    }
    if out.is_empty() {
        out.push_str("repo");
    }
    out
}

/// True for a name `sanitize_name` would return unchanged.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && sanitize_name(s) == s
}

/// First line of a command's stderr worth showing, for error messages.
pub(crate) fn stderr_summary(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.is_empty() {
        return "failed with no message".to_string();
    }
    // The last lines carry the reason; earlier ones are usually progress.
    let tail = &lines[lines.len().saturating_sub(3)..];
    tail.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(sanitize_name("xcat-core"), "xcat-core");
        assert_eq!(sanitize_name("../x y"), "-x-y");
        assert_eq!(sanitize_name("..."), "repo");
        assert!(is_valid_name("xcat-dep_1.0"));
        assert!(!is_valid_name("a/b"));
        assert!(!is_valid_name(".hidden"));
    }

    #[test]
    fn stderr_tail() {
        assert_eq!(stderr_summary(b""), "failed with no message");
        assert_eq!(
            stderr_summary(b"progress\n\nError: a\n b\nc\n"),
            "Error: a; b; c"
        );
    }
}
