//! The management node seen through a root directory: confined paths,
//! distro/arch/xCAT detection, package manager, accounts, services.

pub mod accounts;
