//! Users and groups of the MN, read from `<root>/etc/passwd` and `group`
//! (never NSS: a static xcatimport must not call getpwnam).
