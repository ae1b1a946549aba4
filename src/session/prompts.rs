//! The words mmm says to the model: system prompts and the messages that carry the
//! project, the issues and the check results. Kept in one place so they read as a whole
//! and tests can assert what the model is told. Nothing here may contain a secret: callers
//! pass text that has already been redacted.
//!
//! Laid out cache-first: a first message is two texts, what stays the same for the whole
//! session ([`project_context`], the spec) and then what changes per iteration (focus,
//! checks, history, issues), so the stable part is a prefix the prompt cache can keep.

use std::fmt::Write;

use super::review::Issue;

/// The reviewer's instructions.
pub const REVIEW_SYSTEM: &str = "\
You are a senior software engineer reviewing a repository so that it can be improved in small, \
verified steps. Another engineer will fix the issues you name, one focused change at a time, and \
every change must keep the project's own build, lint and tests passing.

Judge the code by correctness, error handling, tests, clarity and maintainability, security and \
performance, in that order. You see a summary of the project, a map of its files and symbols, the \
results of its checks and what earlier iterations did; you do not see every file, so name issues \
you can support from what you see.

Answer by calling the `submit_review` tool exactly once, with:
- score: 0 (broken) to 10 (exemplary). 5 is working code with clear problems; 8 is solid code \
with only minor issues left. Failing checks cap the score at 4.
- summary: two or three sentences on the state of the code.
- issues: at most 8 concrete, fixable issues, worst first, each small enough for one focused \
change, with the file when it is in one file. If the checks fail, fixing them comes first. An \
empty list means nothing is worth changing.";

/// The editing engineer's instructions; `checks` lists the commands mmm will run. With
/// `declare`, the conversation also offers `submit_change` (the issues are numbered).
pub fn implement_system(checks: &[String], declare: bool) -> String {
    let mut s =
        String::from("You are a careful software engineer making one focused improvement to this repository.\n\n");
    if declare {
        s.push_str(
            "You have three tools: `str_replace_based_edit_tool` to view, create and edit files, `search` \
             to find code by regular expression, and `submit_change` to declare your change once it is complete. ",
        );
    } else {
        s.push_str(
            "You have two tools: `str_replace_based_edit_tool` to view, create and edit files, and \
             `search` to find code by regular expression. ",
        );
    }
    s.push_str(
        "Paths are relative to the repository root. \
         You cannot run commands: when you stop calling tools, mmm runs the project's checks",
    );
    if checks.is_empty() {
        s.push_str(".\n");
    } else {
        s.push_str(":\n");
        for check in checks {
            let _ = writeln!(s, "- `{check}`");
        }
    }
    s.push_str(
        "If they fail, you will see the output and get a chance to fix it; if they still fail, \
         the whole change is rolled back.\n\n\
         Rules:\n\
         - Address the issues you are given, nothing else. Keep the change small and complete.\n\
         - View a file before editing it; keep its style. Keep the code compiling.\n\
         - Add or update tests where the change warrants it. Never delete, skip or weaken a test, \
         or edit how the checks are run, to make the checks pass: mmm flags such changes.\n\
         - Never edit generated files, lock files, vendored code, secrets, `.git/` or `.mmm/`.\n",
    );
    if declare {
        s.push_str(
            "- When the change is complete, call `submit_change` once with its one-line summary and the \
             numbers of the issues it addresses. List only the issues the change actually addresses: the \
             commit names exactly those.\n",
        );
    }
    s.push_str(
        "- When you are done, stop calling tools and reply with a one-line summary of the change \
         in the imperative mood (at most 72 characters), then a blank line and a short explanation.",
    );
    s
}

/// The context both conversations start from.
pub struct ProjectContext<'a> {
    pub summary: &'a str,
    pub repo_map: &'a str,
}

/// The part of a first message that stays the same for the whole session: the project
/// summary and the repository map (left out when `repo_map_tokens = 0` makes it empty).
pub fn project_context(project: &ProjectContext<'_>) -> String {
    match project.repo_map.trim() {
        "" => format!("# Project\n\n{}\n", project.summary.trim()),
        map => format!("# Project\n\n{}\n\n# Repository map\n\n{map}\n", project.summary.trim()),
    }
}

/// The review request's per-iteration text, after [`project_context`].
pub fn review_request(focus: Option<&str>, checks: &str, history: &[String]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "# Focus\n\n{}\n\n",
        focus.unwrap_or("Whatever matters most: correctness, error handling, tests, clarity.")
    );
    let _ = write!(s, "# Checks\n\n{}\n\n", checks.trim());
    if !history.is_empty() {
        s.push_str("# Earlier iterations of this session\n\n");
        for (i, line) in history.iter().enumerate() {
            let _ = writeln!(s, "{}. {line}", i + 1);
        }
        s.push('\n');
    }
    s.push_str("Review the repository now and call `submit_review`.");
    s
}

/// The reminder sent when a review came back without a `submit_review` call.
pub const REVIEW_NUDGE: &str =
    "You did not call `submit_review`. Call it now, exactly once, with the score, summary and issues.";

/// The editing conversation's per-iteration text, after [`project_context`]: the issues, the
/// reviewer's summary and, when given, the repository map ranked toward what the issues name
/// (`related`, see [`issue_targets`]). The map stays out of the stable first block, which the
/// review shares and the prompt cache keeps.
pub fn implement_request(issues: &[Issue], review_summary: &str, related: Option<&str>) -> String {
    let mut s = String::from("Fix these issues from the latest review, worst first:\n\n");
    for (i, issue) in issues.iter().enumerate() {
        let _ = writeln!(s, "{}. {issue}", i + 1);
    }
    let _ = write!(s, "\nThe reviewer's summary: {}\n", review_summary.trim());
    if let Some(map) = related.map(str::trim).filter(|m| !m.is_empty()) {
        let _ = write!(s, "\n# The code these issues touch, most related first\n\n{map}\n");
    }
    s
}

/// The editing conversation's per-iteration text when it is narrowed to one issue that
/// failed `failures` times: that issue alone, and its file alone when it names one.
pub fn narrowed_request(issue: &Issue, failures: u32) -> String {
    let mut s = format!(
        "Earlier iterations failed {failures} times on this issue. Work on it alone this time, \
         in a smaller, careful step:\n\n1. {issue}\n"
    );
    if let Some(file) = &issue.file {
        let _ = write!(s, "\nChange only `{file}`.\n");
    }
    s
}

/// The review's focus when the iteration is narrowed to one issue.
pub fn narrowed_focus(issue: &Issue, failures: u32) -> String {
    let place = issue.file.as_deref().map(|f| format!(" in `{f}`")).unwrap_or_default();
    format!("Only this issue{place}, which failed {failures} times: {issue}. Score the repository as usual.")
}

/// What the reviewer is told about issues set aside after failed attempts.
pub fn set_aside_note(issues: &[&Issue]) -> String {
    let mut s = String::from("Set aside after failed attempts (mmm will not try them again this session):\n");
    for issue in issues {
        let _ = writeln!(s, "- {issue}");
    }
    s.truncate(s.trim_end().len());
    s
}

/// What the issues point at, for ranking the repository map toward them: each issue's file,
/// and the words of its description that look like code (`in backticks`, `snake_case`,
/// `camelCase`, `Type::method`, `path/to/file.rs`), in order, without repeats.
pub fn issue_targets(issues: &[Issue]) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    let mut add = |t: &str| {
        let t = t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_'));
        if t.len() >= 3 && !targets.iter().any(|x| x == t) {
            targets.push(t.to_string());
        }
    };
    for issue in issues {
        if let Some(file) = &issue.file {
            add(file);
        }
        let mut quoted = false;
        for part in issue.description.split('`') {
            for word in part.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
                let w = word.trim_end_matches(['.', ':', ')']).trim_start_matches('(');
                let inner_upper =
                    w.chars().skip(1).any(|c| c.is_ascii_uppercase()) && w.chars().any(|c| c.is_ascii_lowercase());
                if quoted || w.contains(['_', '/']) || w.contains("::") || w.ends_with("()") || inner_upper {
                    add(w);
                }
            }
            quoted = !quoted;
        }
    }
    targets
}

/// The message that feeds failing checks back into the editing conversation.
pub fn fix_request(round: u32, rounds: u32, failures: &str) -> String {
    format!(
        "The checks failed after your change (fix round {round} of {rounds}). Fix the cause; keep the \
         change focused. When you are done, stop calling tools and reply with the one-line summary \
         and explanation again.\n\n{}",
        failures.trim()
    )
}

/// The verifier's instructions.
pub const VERIFY_SYSTEM: &str = "\
You are a strict reviewer checking whether a change implements a specification. You see the \
specification, its numbered acceptance criteria, the change (a diff, and new files in full) and \
the checks that passed. Judge each criterion on what the change shows, not on what it claims: a \
criterion is met only when the code (or its tests) plainly makes it true. Answer by calling the \
`submit_verdict` tool exactly once, with every criterion by its number, `met` true or false, and \
the evidence: where it is met, or what is missing.";

/// The reminder sent when a verification came back without a `submit_verdict` call.
pub const VERDICT_NUDGE: &str =
    "You did not call `submit_verdict`. Call it now, exactly once, judging every criterion by its number.";

/// The spec as the model reads it: title, body and numbered criteria.
pub fn spec_text(title: &str, body: &str, criteria: &[String]) -> String {
    let mut s = format!("# Specification: {}\n\n{}\n", title.trim(), body.trim());
    if !criteria.is_empty() {
        s.push_str("\n# Acceptance criteria (numbered)\n\n");
        for (i, c) in criteria.iter().enumerate() {
            let _ = writeln!(s, "{}. {c}", i + 1);
        }
    }
    s
}

/// The instruction of a spec's editing conversation, after [`project_context`] and the
/// spec ([`spec_text`]).
pub const SPEC_REQUEST: &str = "Implement this specification in the repository, completely, so that every acceptance \
criterion holds and the checks pass. Touch only what it needs.";

/// The verification request's per-round text, after the spec ([`spec_text`]).
pub fn verify_request(change: &str, checks: &str) -> String {
    format!(
        "# The change\n\n{}\n\n# Checks\n\n{}\n\nJudge every criterion now and call `submit_verdict`.",
        change.trim(),
        checks.trim()
    )
}

/// The message that sends unmet criteria back into the editing conversation.
pub fn unmet_request(round: u32, rounds: u32, unmet: &[(u32, &str, &str)]) -> String {
    let mut s = format!(
        "The checks pass, but a reviewer found that these criteria are not met yet (round {round} of {rounds}):\n\n"
    );
    for (index, text, evidence) in unmet {
        let _ = writeln!(s, "{index}. {text} — {evidence}");
    }
    s.push_str(
        "\nChange the code so they hold; keep everything that already works. When you are done, stop \
         calling tools and reply with the one-line summary and explanation again.",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::review::Severity;

    #[test]
    fn the_review_request_carries_every_part() {
        let ctx = ProjectContext { summary: "A Rust CLI.", repo_map: "src/main.rs: fn main" };
        assert_eq!(project_context(&ctx), "# Project\n\nA Rust CLI.\n\n# Repository map\n\nsrc/main.rs: fn main\n");
        let without_map = ProjectContext { summary: "A Rust CLI.", repo_map: "" };
        assert_eq!(project_context(&without_map), "# Project\n\nA Rust CLI.\n");
        let text = review_request(Some("tests"), "- `cargo test` passed", &["committed: add tests (score 6.0)".into()]);
        assert_eq!(
            text,
            "# Focus\n\ntests\n\n# Checks\n\n- `cargo test` passed\n\n# Earlier iterations of this session\n\n\
             1. committed: add tests (score 6.0)\n\nReview the repository now and call `submit_review`."
        );
    }

    #[test]
    fn issue_targets_are_files_and_code_words() {
        let issues = [
            Issue {
                severity: Severity::High,
                file: Some("src/config.rs".into()),
                description: "`load` panics on a missing file; see Config::parse and read_all() in src/io.rs.".into(),
            },
            Issue { severity: Severity::Low, file: None, description: "The parseArgs helper repeats read_all.".into() },
        ];
        assert_eq!(
            issue_targets(&issues),
            ["src/config.rs", "load", "Config::parse", "read_all", "src/io.rs", "parseArgs"]
        );
    }

    #[test]
    fn the_implement_prompts_name_issues_and_checks() {
        let system = implement_system(&["cargo test".into()], false);
        assert!(system.contains("mmm runs the project's checks:\n- `cargo test`\n"), "{system}");
        assert!(system.contains("You have two tools:") && !system.contains("submit_change"), "{system}");
        let system = implement_system(&[], true);
        assert!(system.contains("You have three tools:"), "{system}");
        assert!(
            system.contains(
                "- When the change is complete, call `submit_change` once with its one-line summary and the numbers \
                 of the issues it addresses. List only the issues the change actually addresses: the commit names \
                 exactly those.\n- When you are done,"
            ),
            "{system}"
        );
        let issue = Issue { severity: Severity::High, file: Some("a.rs".into()), description: "d".into() };
        assert_eq!(
            implement_request(std::slice::from_ref(&issue), "ok", None),
            "Fix these issues from the latest review, worst first:\n\n1. [high] a.rs: d\n\nThe reviewer's summary: ok\n"
        );
        assert_eq!(
            implement_request(&[issue], "ok", Some("src/a.rs (3 lines)\n  fn a:1\n")),
            "Fix these issues from the latest review, worst first:\n\n1. [high] a.rs: d\n\nThe reviewer's summary: ok\n\
             \n# The code these issues touch, most related first\n\nsrc/a.rs (3 lines)\n  fn a:1\n"
        );
        assert_eq!(
            spec_text("T", "Body\n", &["a".into(), "b".into()]),
            "# Specification: T\n\nBody\n\n# Acceptance criteria (numbered)\n\n1. a\n2. b\n"
        );
        assert_eq!(
            unmet_request(1, 3, &[(2, "b", "no test")]),
            "The checks pass, but a reviewer found that these criteria are not met yet (round 1 of 3):\n\n\
             2. b — no test\n\nChange the code so they hold; keep everything that already works. When you are \
             done, stop calling tools and reply with the one-line summary and explanation again."
        );
        assert!(fix_request(2, 3, "boom\n").ends_with("(fix round 2 of 3). Fix the cause; keep the change focused. When you are done, stop calling tools and reply with the one-line summary and explanation again.\n\nboom"));
    }
}
