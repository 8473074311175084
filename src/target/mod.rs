//! Where a snapshot goes: a directory or mounted stick, its filesystem and
//! free space, staging and the atomic finalize, the standalone xcatimport.
