//! Running mmm unattended in a CI job: deciding that we are in CI, plain timestamped log
//! lines, GitHub annotations from failing checks ([`annotations`]), the files GitHub Actions
//! hands a step ([`github`]) and the Markdown report of a session ([`report`]).
//!
//! Everything here is a pure function of its arguments: the caller passes the environment
//! in and decides where each piece goes, so nothing in this module reads the process
//! environment, prompts, or writes to stdout. The only writes are the appends to the files
//! GitHub names (in [`github`]), and nothing written ever contains a secret: the inputs are
//! check output (already redacted by `exec`) and session facts.

pub mod annotations;
pub mod github;
pub mod publish;
pub mod report;

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// True when mmm runs in CI: `CI` is `true` or `1` (set by GitHub Actions, GitLab, CircleCI,
/// Travis, Buildkite, ...) or `GITHUB_ACTIONS` is `true`. `env` is the process environment
/// as name/value pairs.
pub fn is_ci(env: &[(String, String)]) -> bool {
    let is =
        |name: &str, yes: &[&str]| env_var(env, name).is_some_and(|v| yes.iter().any(|y| v.eq_ignore_ascii_case(y)));
    is("CI", &["true", "1"]) || is("GITHUB_ACTIONS", &["true"])
}

/// A log line for unattended mode: `2026-11-24T06:10:00Z mmm: text`. Each line of a
/// multi-line `text` gets its own prefix, so every line of a CI log says when it was written.
/// `now` is a timestamp such as [`timestamp`] returns.
pub fn ci_line(now: &str, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + now.len() + 8);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(now);
        out.push_str(" mmm: ");
        out.push_str(line);
    }
    if out.is_empty() {
        out.push_str(now);
        out.push_str(" mmm:");
    }
    out
}

/// The current time in UTC to the second, as CI logs show it: `2026-11-24T06:10:00Z`.
pub fn timestamp() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now).to_string()
}

/// The value of `name` in `env`; an empty value counts as unset.
fn env_var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// Terminal escape sequences: CSI (colours, cursor movement), OSC (terminal hyperlinks, as
/// cargo prints them) and the two-character escapes.
static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
        .expect("the escape sequence pattern is valid")
});

/// `text` without terminal escape sequences; borrowed when it has none.
fn strip_ansi(text: &str) -> Cow<'_, str> {
    if text.contains('\x1b') { ANSI.replace_all(text, "") } else { Cow::Borrowed(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn ci_is_recognised_from_ci_or_github_actions() {
        for yes in [&[("CI", "true")][..], &[("CI", "TRUE")], &[("CI", "1")], &[("GITHUB_ACTIONS", "true")]] {
            assert!(is_ci(&env(yes)), "{yes:?}");
        }
        for no in [&[][..], &[("CI", "false")], &[("CI", "0")], &[("CI", "")], &[("GITHUB_ACTIONS", "false")]] {
            assert!(!is_ci(&env(no)), "{no:?}");
        }
        assert!(is_ci(&env(&[("CI", "false"), ("GITHUB_ACTIONS", "true")])));
    }

    #[test]
    fn ci_lines_are_timestamped_line_by_line() {
        let now = "2026-11-24T06:10:00Z";
        assert_eq!(ci_line(now, "iteration 1: committed"), "2026-11-24T06:10:00Z mmm: iteration 1: committed");
        assert_eq!(
            ci_line(now, "Session s1 stopped\n  score 6.0 → 7.5\n"),
            "2026-11-24T06:10:00Z mmm: Session s1 stopped\n2026-11-24T06:10:00Z mmm:   score 6.0 → 7.5"
        );
        assert_eq!(ci_line(now, ""), "2026-11-24T06:10:00Z mmm:");
    }

    #[test]
    fn timestamps_are_utc_to_the_second() {
        let stamp = timestamp();
        assert!(stamp.ends_with('Z') && !stamp.contains('.'), "{stamp}");
        assert!(stamp.parse::<jiff::Timestamp>().is_ok(), "{stamp}");
    }

    #[test]
    fn escape_sequences_are_stripped_and_plain_text_is_borrowed() {
        let coloured = "\x1b[1m\x1b[38;5;9merror[E0308]\x1b[0m\x1b[1m: mismatched types\x1b[0m";
        assert_eq!(strip_ansi(coloured), "error[E0308]: mismatched types");
        let link = "\x1b]8;;file:///src/a.rs\x1b\\src/a.rs\x1b]8;;\x1b\\:3:5";
        assert_eq!(strip_ansi(link), "src/a.rs:3:5");
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed("plain")));
    }
}
