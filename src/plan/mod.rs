//! Profiles (TOML), include/exclude globs and the walk that turns an MN into a Plan.
