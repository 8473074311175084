//! Errors to exit codes, in one place for every binary.
//!
//! 0 success, 1 failure, 2 usage errors and options that are not available
//! yet (clap already uses 2 for usage), and a broken pipe on stdout exits 0
//! as other Unix tools do when their reader goes away.

use crate::Error;

/// Runs `body`, prints its error as one line prefixed by the program name and
/// returns the process exit code.
pub fn run(program: &str, body: impl FnOnce() -> anyhow::Result<()>) -> i32 {
    // `println!` panics when stdout's reader has gone (`xcatexport --json |
    // head`): that is a broken pipe too, and exits 0 without a message.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_pipe_panic(info.payload()) {
            default_hook(info)
        }
    }));
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) if is_pipe_panic(payload.as_ref()) => return 0,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            if is_broken_pipe(&err) {
                return 0;
            }
            eprintln!("{program}: error: {}", one_line(&err));
            code_for(&err)
        }
    }
}

/// The exit code for an error chain.
pub fn code_for(err: &anyhow::Error) -> i32 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map(Error::exit_code)
        .unwrap_or(1)
}

/// The whole context chain on one line: `outer: inner: root cause`.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        // thiserror's `{source}` already embeds the cause; skip repeats.
        if parts.last().is_some_and(|p| p.ends_with(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

fn is_pipe_panic(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.starts_with("failed printing to stdout") && text.contains("Broken pipe")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_available_exits_2_and_others_1() {
        let na = anyhow::Error::new(Error::NotAvailable("the mysql backend".into()));
        assert_eq!(code_for(&na), 2);
        let refused = anyhow::Error::new(Error::Refused("no".into())).context("export");
        assert_eq!(code_for(&refused), 1);
        assert_eq!(code_for(&anyhow::anyhow!("plain")), 1);
    }

    #[test]
    fn one_line_joins_context_without_newlines() {
        let err = anyhow::Error::new(Error::format("/x/site.csv", 3, "unterminated\nquote"))
            .context("restoring database");
        assert_eq!(
            one_line(&err),
            "restoring database: /x/site.csv:3: unterminated quote"
        );
    }
}
