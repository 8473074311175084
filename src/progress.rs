//! Progress reporting without a UI dependency in the library's core paths.
//!
//! Library code reports through [`Progress`]; binaries pick [`bar`], which
//! draws an indicatif bar on a terminal and stays silent otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use std::io::IsTerminal;

/// What long-running library code reports.
pub trait Progress: Send + Sync {
    fn set_length(&self, len: u64);
    fn set_message(&self, msg: &str);
    fn inc(&self, delta: u64);
    fn finish(&self);
}

/// Reports nothing (tests, `--json`, non-terminals).
pub struct Hidden;

impl Progress for Hidden {
    fn set_length(&self, _: u64) {}
    fn set_message(&self, _: &str) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

/// An indicatif byte bar, drawn only when stderr is a terminal.
pub struct Bar(ProgressBar);

impl Progress for Bar {
    fn set_length(&self, len: u64) {
        self.0.set_length(len)
    }
    fn set_message(&self, msg: &str) {
        self.0.set_message(msg.to_string())
    }
    fn inc(&self, delta: u64) {
        self.0.inc(delta)
    }
    fn finish(&self) {
        self.0.finish_and_clear()
    }
}

/// A byte-counting bar titled `title`, hidden when stderr is not a terminal.
pub fn bar(title: &str) -> Box<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Box::new(Hidden);
    }
    // Cleared however it ends: a bar left behind by an error would stand
    // above the error message, stuck at 0 B.
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
        .with_finish(ProgressFinish::AndClear);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {wide_msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(title.to_string());
    Box::new(Bar(pb))
}
