//! cargo-fuzz target: see `checks::tabdump_csv` for the properties checked.

#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::tabdump_csv(data));
