//! Errors that decide how mmm exits.
//!
//! Most code returns `anyhow::Error` with context. Where an error must end the process with
//! a particular exit code, or carry a `hint:` telling the user what to do next, it is (or
//! wraps) a [`CliError`]. `main` finds it in the cause chain; everything else exits 1.
//! An error that belongs to a session names it ([`CliError::in_session`], [`InSession`]),
//! so the final `{"type":"error"}` line of `--output json` ([`ErrorLine`]) can say which.
//! This module never prints: the printing is `main`'s, once.

use std::fmt;

/// The exit codes mmm documents. Pipelines act on these, so they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success = 0,
    /// The run failed: an API error, a failed iteration that ends the session, an I/O error.
    Failure = 1,
    /// Bad usage, configuration or input: nothing was attempted.
    Usage = 2,
    /// The run completed, but below the score `--fail-under` asked for.
    TargetNotReached = 3,
    /// The session ran iterations but kept none of them.
    NothingKept = 4,
    /// Interrupted by the user (Ctrl+C).
    Interrupted = 130,
}

impl Exit {
    /// Every exit code, in order.
    pub const ALL: [Exit; 6] =
        [Exit::Success, Exit::Failure, Exit::Usage, Exit::TargetNotReached, Exit::NothingKept, Exit::Interrupted];

    /// The process exit code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// What the code means, as the README, `docs/ci.md` and `mmm --help` say it.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success: the session kept its changes, or nothing needed doing",
            Exit::Failure => "the run failed: an API error retries could not fix, repeated failures, git, I/O",
            Exit::Usage => "bad usage, configuration or input: nothing was attempted",
            Exit::TargetNotReached => "the session kept changes, but its final score is below `--fail-under`",
            Exit::NothingKept => "the session ran iterations but kept none (rolled back, failed, no change)",
            Exit::Interrupted => "interrupted (Ctrl+C); `--resume` continues",
        }
    }

    /// The exit codes as a Markdown table (the README's and `docs/ci.md`'s).
    pub fn markdown_table() -> String {
        let mut table = String::from("| code | meaning |\n| --- | --- |\n");
        for exit in Exit::ALL {
            table.push_str(&format!("| {} | {} |\n", exit.code(), exit.meaning()));
        }
        table
    }

    /// The exit codes as `--help` text.
    pub fn help_text() -> String {
        let mut text = String::from("Exit codes:\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {:<5} {}\n", exit.code(), exit.meaning()));
        }
        text.trim_end().to_string()
    }
}

/// An error with an exit code and an optional hint, shown as `error: …` then `hint: …`.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
    hint: Option<String>,
    session: Option<String>,
}

impl CliError {
    /// A usage, configuration or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { exit: Exit::Usage, message: message.into(), hint: None, session: None }
    }

    /// A failed run (exit 1).
    pub fn failure(message: impl Into<String>) -> Self {
        Self { exit: Exit::Failure, message: message.into(), hint: None, session: None }
    }

    /// The run completed below the `--fail-under` score (exit 3).
    pub fn target_not_reached(message: impl Into<String>) -> Self {
        Self { exit: Exit::TargetNotReached, message: message.into(), hint: None, session: None }
    }

    /// The session kept no change (exit 4).
    pub fn nothing_kept(message: impl Into<String>) -> Self {
        Self { exit: Exit::NothingKept, message: message.into(), hint: None, session: None }
    }

    /// The user interrupted the run (exit 130).
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self { exit: Exit::Interrupted, message: message.into(), hint: None, session: None }
    }

    /// Adds the line printed after the error, saying what to do next.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Names the session the error belongs to (for the JSON error line).
    pub fn in_session(mut self, id: impl Into<String>) -> Self {
        self.session = Some(id.into());
        self
    }

    pub fn exit(&self) -> Exit {
        self.exit
    }

    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The exit code and hint for an error: those of the first [`CliError`] in its chain, or
/// exit 1 with the hint of an API failure ([`crate::llm::LlmError`], which keeps its type to
/// the edge), else exit 1 with no hint.
pub fn classify(err: &anyhow::Error) -> (Exit, Option<&str>) {
    err.chain()
        .find_map(|cause| {
            if let Some(e) = cause.downcast_ref::<CliError>() {
                return Some((e.exit, e.hint()));
            }
            cause.downcast_ref::<crate::llm::LlmError>().map(|e| (Exit::Failure, e.hint()))
        })
        .unwrap_or((Exit::Failure, None))
}

/// Context for an error that ended a session: reads as `text`, and names the session for
/// the JSON error line without changing what a person reads.
#[derive(Debug)]
pub struct InSession {
    pub session: String,
    pub text: String,
}

impl fmt::Display for InSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `err`, marked as belonging to session `id` when it is a [`CliError`] that names none
/// yet (a refusal of `mmm undo <id>`, say); any other error is returned as it is.
pub fn in_session(err: anyhow::Error, id: &str) -> anyhow::Error {
    match err.downcast::<CliError>() {
        Ok(cli) if cli.session.is_none() => cli.in_session(id).into(),
        Ok(cli) => cli.into(),
        Err(err) => err,
    }
}

/// The session an error belongs to: that of the first [`CliError`] in its chain that names
/// one, else that of an [`InSession`] context.
pub fn session_of(err: &anyhow::Error) -> Option<&str> {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<CliError>().and_then(|e| e.session.as_deref()))
        .or_else(|| err.downcast_ref::<InSession>().map(|c| c.session.as_str()))
}

/// The last line `--output json` prints when a command fails (docs/events.md, `error`);
/// stderr gets the same facts as text.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct ErrorLine {
    /// Left out when the error belongs to no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub r#type: &'static str,
    /// The error itself (the first line a person reads after `error:`).
    pub message: String,
    /// What led to it, outermost first (the `caused by:` lines).
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub exit_code: i32,
}

impl ErrorLine {
    /// The line for an error that ends the process with `exit` and `hint`.
    pub fn new(err: &anyhow::Error, exit: Exit, hint: Option<&str>) -> Self {
        Self {
            session: session_of(err).map(str::to_string),
            r#type: "error",
            message: err.to_string(),
            causes: err.chain().skip(1).map(ToString::to_string).collect(),
            hint: hint.map(str::to_string),
            exit_code: exit.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_plain_error_exits_one_without_hint() {
        let err = anyhow::anyhow!("disk full");
        assert_eq!(classify(&err), (Exit::Failure, None));
    }

    #[test]
    fn a_cli_error_under_context_keeps_its_code_and_hint() {
        let err = Err::<(), _>(CliError::usage("bad key").with_hint("fix it")).context("loading settings").unwrap_err();
        assert_eq!(classify(&err), (Exit::Usage, Some("fix it")));
    }

    #[test]
    fn an_error_line_names_the_session_of_its_context() {
        let err = Err::<(), _>(anyhow::anyhow!("API down"))
            .context(InSession { session: "s1".into(), text: "session s1 stopped".into() })
            .context("improving")
            .unwrap_err();
        assert_eq!(
            ErrorLine::new(&err, Exit::Failure, Some("retry")),
            ErrorLine {
                session: Some("s1".into()),
                r#type: "error",
                message: "improving".into(),
                causes: vec!["session s1 stopped".into(), "API down".into()],
                hint: Some("retry".into()),
                exit_code: 1,
            }
        );
    }

    #[test]
    fn a_cli_error_names_its_session() {
        let err: anyhow::Error = CliError::nothing_kept("kept nothing").in_session("s2").into();
        assert_eq!((session_of(&err), classify(&err)), (Some("s2"), (Exit::NothingKept, None)));
    }

    #[test]
    fn an_error_is_marked_as_a_sessions_only_when_it_names_none_yet() {
        let marked = in_session(CliError::usage("refused").into(), "s1");
        assert_eq!((session_of(&marked), marked.to_string()), (Some("s1"), "refused".to_string()));
        let kept = in_session(CliError::usage("refused").in_session("s0").into(), "s1");
        assert_eq!(session_of(&kept), Some("s0"));
        let other = in_session(anyhow::anyhow!("disk full"), "s1");
        assert_eq!((session_of(&other), other.to_string()), (None, "disk full".to_string()));
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let codes: Vec<i32> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 130]);
    }
}
