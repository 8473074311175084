//! cargo-fuzz target: see `checks::manifest_json` for the properties checked.

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::manifest_json(data));
