//! Whose `/etc/xcat/cfgloc` wins. A source that used PostgreSQL or MySQL
//! needs the same kind of server on the new MN, set up by the admin with
//! xCAT's `pgsqlsetup -i` / `mysqlsetup -i`, which writes a cfgloc naming
//! this MN's server, user and password. The snapshot's cfgloc names the
//! old server, so when the new MN already has a cfgloc of the same kind,
//! the files step keeps it and the database is restored into that server.

use crate::mn::facts::DbKind;
use crate::mn::root::Root;
use std::path::PathBuf;

/// The cfgloc, relative to the root.
pub const CFGLOC: &str = "etc/xcat/cfgloc";

/// A database engine as MANIFEST.json or a cfgloc driver names it, in one
/// spelling: `postgresql`, `mysql`, `sqlite`, or the name lowercased.
pub fn engine_kind(name: &str) -> String {
    match name.to_ascii_lowercase().as_str() {
        "pg" | "postgresql" | "postgres" => "postgresql".into(),
        "mysql" | "mariadb" => "mysql".into(),
        other => other.into(),
    }
}

/// The engine of the cfgloc already under `root`, if there is a readable one.
pub fn target_engine(root: &Root) -> Option<String> {
    match DbKind::detect(root) {
        Ok(DbKind::Cfgloc(c)) => Some(engine_kind(&c.engine())),
        _ => None,
    }
}

/// Whether the root's own cfgloc names a server of the kind the source
/// used (`source_database` as MANIFEST.json records it): then it is kept.
pub fn keeps_target_cfgloc(root: &Root, source_database: &str) -> bool {
    let source = engine_kind(source_database);
    source != "sqlite" && target_engine(root).is_some_and(|t| t == source)
}

/// What the files step must leave as it is under `root`.
pub fn kept_files(root: &Root, source_database: &str) -> Vec<PathBuf> {
    if keeps_target_cfgloc(root, source_database) {
        vec![PathBuf::from(CFGLOC)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(cfgloc: Option<&str>) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = cfgloc {
            std::fs::create_dir_all(dir.path().join("etc/xcat")).unwrap();
            std::fs::write(dir.path().join(CFGLOC), text).unwrap();
        }
        let root = Root::open(dir.path()).unwrap();
        (dir, root)
    }

    #[test]
    fn a_cfgloc_of_the_sources_kind_is_kept() {
        let (_d, r) = root_with(Some("Pg:dbname=xcatdb;host=127.0.0.1|xcatadm|pw\n"));
        assert!(keeps_target_cfgloc(&r, "postgresql"));
        assert_eq!(kept_files(&r, "PostgreSQL"), [PathBuf::from(CFGLOC)]);
        assert!(!keeps_target_cfgloc(&r, "mysql"));
        assert!(!keeps_target_cfgloc(&r, "sqlite"));
        let (_d, r) = root_with(Some("mysql:dbname=xcatdb;host=127.0.0.1|xcatadm|pw\n"));
        assert!(keeps_target_cfgloc(&r, "mariadb"));
        assert!(!keeps_target_cfgloc(&r, "postgresql"));
    }

    #[test]
    fn without_a_cfgloc_nothing_is_kept() {
        let (_d, r) = root_with(None);
        assert!(!keeps_target_cfgloc(&r, "postgresql"));
        assert!(kept_files(&r, "postgresql").is_empty());
        let (_d, r) = root_with(Some("\n"));
        assert!(!keeps_target_cfgloc(&r, "postgresql"));
    }
}
