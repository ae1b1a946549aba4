//! The Markdown report of a session, for `--summary-file` and GitHub's job summary: the
//! score before and after, a table of iterations, the stop reason, the branch, and the tail
//! of the output of each check that made an iteration fail.
//!
//! It renders a small view, [`ReportInput`], rather than the session record itself, so the
//! report depends on nothing but the facts it shows; the engine fills the view from its
//! record. Rendering is pure: no I/O, no clock, the same input always gives the same text.

use std::fmt::Write as _;
use std::time::Duration;

use crate::printer::{thousands, usd};
use crate::settings::value::format_duration;

/// Lines of a failing check's output shown in the report (its end, where the error is).
const OUTPUT_LINES: usize = 50;

/// What the report shows about a session. Filled from the session record in a few lines:
///
/// ```text
/// let stop = record.stop_reason.as_ref().map(ToString::to_string);
/// ReportInput {
///     command: "mmm improve",
///     status: "completed",                 // the record's status: completed, failed, interrupted
///     session: &record.id,
///     branch: &record.branch,
///     score_before: record.score_before(),
///     score_after: record.score_now(),
///     iterations: record.iterations.iter().map(|it| IterationRow { ... }).collect(),
///     commits: record.commits().collect(),
///     stop_reason: stop.as_deref(),
///     tokens: record.usage.total(),
///     cost_usd: record.cost_usd,
///     elapsed_secs: record.elapsed_secs,
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput<'a> {
    /// What ran, as the heading names it: `mmm improve`.
    pub command: &'a str,
    /// How the session ended, in a word: `completed`, `failed` or `interrupted`.
    pub status: &'a str,
    /// The session id.
    pub session: &'a str,
    /// The branch the session worked on.
    pub branch: &'a str,
    /// The first review's score.
    pub score_before: Option<f64>,
    /// The latest known score.
    pub score_after: Option<f64>,
    pub iterations: Vec<IterationRow<'a>>,
    /// The commits the session made, oldest first.
    pub commits: Vec<&'a str>,
    /// Why the session stopped (the stop reason's `Display`); `None` while it runs.
    pub stop_reason: Option<&'a str>,
    /// Tokens used by every request of the session.
    pub tokens: u64,
    /// `None` when the model's price is unknown.
    pub cost_usd: Option<f64>,
    pub elapsed_secs: u64,
}

/// One iteration's row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationRow<'a> {
    pub index: u32,
    /// How it ended, as the record's `Outcome::as_str()` says: `committed`, `rolled_back`,
    /// `no_change` or `failed`.
    pub outcome: &'a str,
    /// The score after the iteration (the next review's) when known, else its own review's.
    pub score: Option<f64>,
    pub files_changed: usize,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub cost_usd: Option<f64>,
    /// The model's one-line summary of its change.
    pub summary: Option<&'a str>,
    /// What went wrong, for a failed or rolled-back iteration.
    pub error: Option<&'a str>,
    /// The check that failed last in the iteration, with its output, when one did.
    pub failed_check: Option<FailedCheck<'a>>,
}

/// A check that failed, and what it printed (the tail is enough; the report shows the last
/// 50 lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedCheck<'a> {
    pub command: &'a str,
    pub output: &'a str,
}

/// The report as GitHub-flavoured Markdown.
pub fn markdown(input: &ReportInput<'_>) -> String {
    let mut md = String::with_capacity(1024);
    let commits = input.commits.len();
    let _ = writeln!(md, "## {}: {}\n", input.command, input.status);
    let _ = writeln!(
        md,
        "{} in {}, {}, {}\n",
        score_change(input.score_before, input.score_after),
        count(input.iterations.len(), "iteration"),
        count(commits, "commit"),
        usd(input.cost_usd)
    );
    if input.iterations.is_empty() {
        md.push_str("No iteration ran.\n\n");
    } else {
        md.push_str("| # | outcome | score | files | +/− | cost | summary |\n");
        md.push_str("| --: | --- | --: | --: | --- | --: | --- |\n");
        for it in &input.iterations {
            let detail: Vec<&str> = [it.summary, it.error].into_iter().flatten().collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | +{} −{} | {} | {} |",
                it.index,
                outcome(it.outcome),
                score(it.score),
                it.files_changed,
                it.lines_added,
                it.lines_removed,
                usd(it.cost_usd),
                cell(&detail.join(" — "))
            );
        }
        md.push('\n');
    }
    if let Some(reason) = input.stop_reason {
        let _ = writeln!(md, "- Stopped: {reason}");
    }
    let _ = writeln!(md, "- Branch: {}", code(input.branch));
    let hashes: Vec<String> = input.commits.iter().map(|c| code(&c[..c.len().min(10)])).collect();
    let _ = writeln!(md, "- Commits: {}", if hashes.is_empty() { "none".to_string() } else { hashes.join(", ") });
    let _ = writeln!(
        md,
        "- Session {}: {} tokens, {}, {}",
        code(input.session),
        thousands(input.tokens),
        usd(input.cost_usd),
        format_duration(Duration::from_secs(input.elapsed_secs))
    );
    for it in &input.iterations {
        if let Some(check) = &it.failed_check {
            failure(&mut md, it, check);
        }
    }
    md
}

/// A collapsed block with the end of a failing check's output.
fn failure(md: &mut String, it: &IterationRow<'_>, check: &FailedCheck<'_>) {
    let output = super::strip_ansi(check.output);
    let lines: Vec<&str> = output.trim_end().lines().map(str::trim_end).collect();
    let shown = &lines[lines.len().saturating_sub(OUTPUT_LINES)..];
    let text = shown.join("\n");
    let fence = fence(&text, 3);
    let _ = write!(
        md,
        "\n<details><summary>#{} {}: <code>{}</code> failed</summary>\n\n{fence}text\n",
        it.index,
        outcome(it.outcome),
        html(check.command)
    );
    if shown.len() < lines.len() {
        let _ = writeln!(md, "[… {} earlier lines not shown …]", lines.len() - shown.len());
    }
    if !text.is_empty() {
        md.push_str(&text);
        md.push('\n');
    }
    let _ = writeln!(md, "{fence}\n\n</details>");
}

/// `Score 6.0 → 7.5`, `Score 6.0`, or `No score` before the first review.
fn score_change(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) => format!("Score {b:.1} → {a:.1}"),
        (Some(s), None) | (None, Some(s)) => format!("Score {s:.1}"),
        (None, None) => "No score".to_string(),
    }
}

fn score(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_string(), |s| format!("{s:.1}"))
}

/// `rolled_back` → `rolled back`.
fn outcome(word: &str) -> String {
    word.replace('_', " ")
}

/// `1 iteration`, `3 iterations`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// Text for one table cell: its first line, pipes escaped.
fn cell(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().replace('|', "\\|")
}

/// Inline code that survives backticks in `text`.
fn code(text: &str) -> String {
    let ticks = fence(text, 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A run of backticks longer than any in `text`, and at least `min` long.
fn fence(text: &str, min: usize) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(min.max(longest + 1))
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session<'a>(iterations: Vec<IterationRow<'a>>, commits: Vec<&'a str>) -> ReportInput<'a> {
        ReportInput {
            command: "mmm improve",
            status: "completed",
            session: "20261124-061000",
            branch: "mmm/improve-20261124-061000",
            score_before: Some(6.0),
            score_after: Some(7.5),
            iterations,
            commits,
            stop_reason: Some("target reached: score 7.5 ≥ 7.0 with the checks passing"),
            tokens: 41_234,
            cost_usd: Some(0.42),
            elapsed_secs: 125,
        }
    }

    fn row(index: u32, outcome: &str) -> IterationRow<'_> {
        IterationRow {
            index,
            outcome,
            score: Some(7.5),
            files_changed: 3,
            lines_added: 40,
            lines_removed: 12,
            cost_usd: Some(0.21),
            summary: Some("Handle I/O errors in `load` instead of unwrapping"),
            error: None,
            failed_check: None,
        }
    }

    #[test]
    fn a_committed_iteration() {
        let input = session(vec![row(1, "committed")], vec!["0123456789abcdef0123456789abcdef01234567"]);
        assert_eq!(
            markdown(&input),
            "## mmm improve: completed

Score 6.0 → 7.5 in 1 iteration, 1 commit, $0.42

| # | outcome | score | files | +/− | cost | summary |
| --: | --- | --: | --: | --- | --: | --- |
| 1 | committed | 7.5 | 3 | +40 −12 | $0.21 | Handle I/O errors in `load` instead of unwrapping |

- Stopped: target reached: score 7.5 ≥ 7.0 with the checks passing
- Branch: `mmm/improve-20261124-061000`
- Commits: `0123456789`
- Session `20261124-061000`: 41,234 tokens, $0.42, 2m5s
"
        );
    }

    #[test]
    fn a_rolled_back_iteration_shows_the_end_of_the_failing_output() {
        let output = "\x1b[1m\x1b[31merror[E0308]\x1b[0m: mismatched types\n --> src/main.rs:3:18\n  |\n3 |     let x: i32 = \"a\";\n  |                  ^^^ expected `i32`, found `&str`\n\nsee ```rust``` docs\n\n";
        let mut rolled_back = row(2, "rolled_back");
        rolled_back.score = None;
        rolled_back.files_changed = 1;
        rolled_back.lines_removed = 0;
        rolled_back.summary = Some("Split parse | validate");
        rolled_back.error = Some("the checks still failed after 2 fix rounds");
        rolled_back.failed_check = Some(FailedCheck { command: "cargo build && cargo test <unit>", output });
        let mut input = session(vec![row(1, "committed"), rolled_back], vec!["abcdef1234567"]);
        input.stop_reason = Some("iteration limit reached (2)");
        assert_eq!(
            markdown(&input),
            "## mmm improve: completed

Score 6.0 → 7.5 in 2 iterations, 1 commit, $0.42

| # | outcome | score | files | +/− | cost | summary |
| --: | --- | --: | --: | --- | --: | --- |
| 1 | committed | 7.5 | 3 | +40 −12 | $0.21 | Handle I/O errors in `load` instead of unwrapping |
| 2 | rolled back | — | 1 | +40 −0 | $0.21 | Split parse \\| validate — the checks still failed after 2 fix rounds |

- Stopped: iteration limit reached (2)
- Branch: `mmm/improve-20261124-061000`
- Commits: `abcdef1234`
- Session `20261124-061000`: 41,234 tokens, $0.42, 2m5s

<details><summary>#2 rolled back: <code>cargo build &amp;&amp; cargo test &lt;unit&gt;</code> failed</summary>

````text
error[E0308]: mismatched types
 --> src/main.rs:3:18
  |
3 |     let x: i32 = \"a\";
  |                  ^^^ expected `i32`, found `&str`

see ```rust``` docs
````

</details>
"
        );
    }

    #[test]
    fn a_failed_iteration_and_a_long_output() {
        let output: String = (1..=60).map(|i| format!("line {i}\n")).collect();
        let failed = IterationRow {
            index: 1,
            outcome: "failed",
            score: None,
            files_changed: 0,
            lines_added: 0,
            lines_removed: 0,
            cost_usd: None,
            summary: None,
            error: Some("the API returned 529 overloaded | 3 retries"),
            failed_check: Some(FailedCheck { command: "make check", output: &output }),
        };
        let input = ReportInput {
            status: "failed",
            score_after: None,
            commits: vec![],
            stop_reason: Some("error: the API returned 529 overloaded"),
            cost_usd: None,
            ..session(vec![failed], vec![])
        };
        let tail: String = (11..=60).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            markdown(&input),
            format!(
                "## mmm improve: failed

Score 6.0 in 1 iteration, 0 commits, $?

| # | outcome | score | files | +/− | cost | summary |
| --: | --- | --: | --: | --- | --: | --- |
| 1 | failed | — | 0 | +0 −0 | $? | the API returned 529 overloaded \\| 3 retries |

- Stopped: error: the API returned 529 overloaded
- Branch: `mmm/improve-20261124-061000`
- Commits: none
- Session `20261124-061000`: 41,234 tokens, $?, 2m5s

<details><summary>#1 failed: <code>make check</code> failed</summary>

```text
[… 10 earlier lines not shown …]
{tail}```

</details>
"
            )
        );
    }

    #[test]
    fn an_empty_session() {
        let input = ReportInput {
            status: "interrupted",
            score_before: None,
            score_after: None,
            stop_reason: None,
            tokens: 0,
            cost_usd: Some(0.0),
            elapsed_secs: 0,
            ..session(vec![], vec![])
        };
        assert_eq!(
            markdown(&input),
            "## mmm improve: interrupted

No score in 0 iterations, 0 commits, $0.00

No iteration ran.

- Branch: `mmm/improve-20261124-061000`
- Commits: none
- Session `20261124-061000`: 0 tokens, $0.00, 0ms
"
        );
    }

    #[test]
    fn helpers_format_numbers_and_code() {
        assert_eq!([0, 999, 1_000, 41_234, 1_234_567].map(thousands), ["0", "999", "1,000", "41,234", "1,234,567"]);
        assert_eq!(code("mmm/x"), "`mmm/x`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(fence("no ticks", 3), "```");
        assert_eq!(fence("````", 3), "`````");
    }
}
