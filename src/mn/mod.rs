//! The management node seen through a root directory.
//!
//! - [`root`]: [`Root`] and [`RelPath`], the only way to reach an MN path;
//!   symlinks are followed inside the root, escapes are refused.
//! - [`distro`]: distro family, exact ID and version from `etc/os-release`
//!   (or the older release files).
//! - [`arch`]: the MN's architecture, read from an ELF binary under the root.
//! - [`packages`]: package manager, installed package versions (dpkg status,
//!   rpm database, `lsxcatd -v` on a live MN) and [`XcatVersion`].
//! - [`facts`]: [`MnFacts::probe`] gathers all of the above, plus hostname and
//!   database kind, for preflight checks and `MANIFEST.json`.
//! - [`accounts`]: users and groups of the MN from its own passwd/group files.

pub mod accounts;
pub mod arch;
pub mod distro;
pub mod facts;
pub mod packages;
pub mod root;

pub use arch::Arch;
pub use distro::{Distro, Family};
pub use facts::{Cfgloc, DbKind, MnFacts};
pub use packages::{PackageManager, XcatVersion};
pub use root::{RelPath, Root};
