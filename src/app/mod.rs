//! One orchestration function per command: options in, plan, execute, report.
//! Binaries call these and nothing else.

pub mod export;
pub mod imgexport;
pub mod imgimport;
pub mod import;
pub mod keys;
pub mod mkfixture;
pub mod reconfig;
pub mod xcatdb;
