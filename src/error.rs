//! The library's error policy.
//!
//! Each module has its own `thiserror` enum naming what went wrong and where
//! (a path, a file and line). They convert into this crate-level [`Error`] so
//! that callers can match on the broad kind; binaries wrap it in `anyhow` and
//! pick the exit code from [`Error::exit_code`] in one place (`cli::exit`).

use std::path::PathBuf;

/// Crate-level error: every public function returns this.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named path.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path that would leave the root it must stay under.
    #[error("{}: {reason}", path.display())]
    Escape { path: PathBuf, reason: String },
    /// Malformed input: which file, which line (1-based, 0 = whole file) and what is wrong.
    #[error("{}{}: {message}", file.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Format {
        file: PathBuf,
        line: u64,
        message: String,
    },
    /// The tool refuses to proceed (preflight, a safety check); the message says why.
    #[error("{0}")]
    Refused(String),
    /// An option whose work lands in a later release.
    #[error("{0} is not available yet in this version of xcatport")]
    NotAvailable(String),
    /// A database backend failure.
    #[error("{0}")]
    Db(String),
    /// An external command failed.
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A format error at a file and line.
    pub fn format(file: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        Error::Format {
            file: file.into(),
            line,
            message: message.into(),
        }
    }

    /// Exit code for this error: 2 for things the caller asked wrongly or that
    /// do not exist yet (as clap does for usage errors), 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotAvailable(_) => 2,
            _ => 1,
        }
    }
}

/// Adds a path to an `io::Result`, the most common context in this crate.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
