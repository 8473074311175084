//! The xcatport version string shown by `--version`: crate version and git commit.

/// `0.1.0 (abc1234)`; the commit is taken at build time by build.rs.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("XCATPORT_GIT_COMMIT"),
    ")"
);
