//! The project's checks (validation commands) as the session uses them: run in order,
//! stopping at the first failure; recorded; described for the model and for the user.
//! The commands come from settings or the analyzer, never from the model.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::exec::{self, CommandResult};
use crate::state::session::CheckRecord;

/// Runs `commands` in `dir` one after another, stopping at the first that fails. They see
/// none of mmm's credentials except those named in `pass_env`.
pub async fn run(commands: &[String], dir: &Path, timeout: Duration, pass_env: &[String]) -> Vec<CommandResult> {
    run_reusing(commands, &[], dir, timeout, pass_env).await
}

/// [`run`], except that the commands whose `reused` flag is set are not run: each counts as
/// passed in no time (they passed on this same tree before).
pub async fn run_reusing(
    commands: &[String],
    reused: &[bool],
    dir: &Path,
    timeout: Duration,
    pass_env: &[String],
) -> Vec<CommandResult> {
    let mut results = Vec::with_capacity(commands.len());
    for (i, command) in commands.iter().enumerate() {
        if reused.get(i).copied().unwrap_or(false) {
            results.push(CommandResult {
                command: command.clone(),
                exit_code: Some(0),
                timed_out: false,
                duration: Duration::ZERO,
                output: String::new(),
                resources: None,
            });
            continue;
        }
        // A command that cannot even start (no shell, no directory) counts as a failure
        // whose output says why, so the user and the model see it like any other.
        let result = exec::run(command, dir, timeout, pass_env).await.unwrap_or_else(|e| CommandResult {
            command: command.clone(),
            exit_code: None,
            timed_out: false,
            duration: Duration::ZERO,
            output: format!("mmm could not start the command: {e:#}"),
            resources: None,
        });
        let failed = !result.passed();
        results.push(result);
        if failed {
            break;
        }
    }
    results
}

/// Whether every command ran and passed.
pub fn passed(commands: &[String], results: &[CommandResult]) -> bool {
    results.len() == commands.len() && results.iter().all(CommandResult::passed)
}

/// Lines of a failed check's output kept in the record.
const RECORDED_LINES: usize = 100;

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The results as recorded in `session.json` (with the end of a failed check's output).
pub fn records(results: &[CommandResult]) -> Vec<CheckRecord> {
    results
        .iter()
        .map(|r| CheckRecord {
            command: r.command.clone(),
            exit_code: r.exit_code,
            passed: r.passed(),
            timed_out: r.timed_out,
            duration_ms: r.duration.as_millis() as u64,
            output: (!r.passed()).then(|| tail(&r.output, RECORDED_LINES)),
            reused: false,
            cpu_ms: r.resources.map(|u| u.cpu_ms),
            peak_rss_kb: r.resources.map(|u| u.peak_rss_kb),
        })
        .collect()
}

/// One line per command (`- \`cargo test\` passed (1.2s)`), then the output of the one
/// that failed, for a prompt. Commands not run because an earlier one failed say so.
pub fn describe(commands: &[String], results: &[CommandResult]) -> String {
    let mut s = String::new();
    for (i, command) in commands.iter().enumerate() {
        match results.get(i) {
            Some(r) => {
                let _ = writeln!(s, "- `{command}` {} ({:.1}s)", status_word(r), r.duration.as_secs_f64());
            }
            None => {
                let _ = writeln!(s, "- `{command}` not run (an earlier check failed)");
            }
        }
    }
    if let Some(failed) = results.iter().find(|r| !r.passed()) {
        let _ = write!(s, "\nOutput of `{}`:\n```\n{}\n```\n", failed.command, failed.output.trim_end());
    }
    s
}

fn status_word(r: &CommandResult) -> String {
    match (r.timed_out, r.exit_code) {
        (true, _) => "timed out".to_string(),
        (false, Some(0)) => "passed".to_string(),
        // The shell's answer for a program it cannot find or run: not a failing test.
        (false, Some(127)) => "COULD NOT RUN: command not found (exit 127)".to_string(),
        (false, Some(126)) => "COULD NOT RUN: not executable (exit 126)".to_string(),
        (false, Some(code)) => format!("FAILED (exit {code})"),
        (false, None) => "FAILED (killed or could not start)".to_string(),
    }
}

/// A short description for the user: `3/3 passed` or `cargo test failed (exit 101)`.
pub fn brief(commands: &[String], results: &[CommandResult]) -> String {
    match results.iter().find(|r| !r.passed()) {
        Some(failed) => format!("`{}` {}", failed.command, status_word(failed).to_lowercase()),
        None => format!("{}/{} passed", results.len(), commands.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(command: &str, code: Option<i32>, output: &str) -> CommandResult {
        CommandResult {
            command: command.into(),
            exit_code: code,
            timed_out: false,
            duration: Duration::from_millis(1500),
            output: output.into(),
            resources: None,
        }
    }

    #[test]
    fn the_description_shows_each_check_and_the_failing_output() {
        let commands = vec!["build".to_string(), "test".to_string(), "lint".to_string()];
        let results = vec![result("build", Some(0), "ok"), result("test", Some(101), "assertion failed\n")];
        assert!(!passed(&commands, &results));
        assert_eq!(
            describe(&commands, &results),
            "- `build` passed (1.5s)\n- `test` FAILED (exit 101) (1.5s)\n- `lint` not run (an earlier check failed)\n\
             \nOutput of `test`:\n```\nassertion failed\n```\n"
        );
        assert_eq!(brief(&commands, &results), "`test` failed (exit 101)");
        assert!(!records(&results)[1].passed);
        let missing = vec![result("lint", Some(127), "sh: 1: flake8: not found\n")];
        assert_eq!(brief(&commands[2..], &missing), "`lint` could not run: command not found (exit 127)");
    }

    #[tokio::test]
    async fn checks_stop_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let commands = vec!["true".to_string(), "exit 3".to_string(), "touch ran".to_string()];
        let results = run(&commands, dir.path(), Duration::from_secs(30), &[]).await;
        assert_eq!(results.iter().map(|r| r.exit_code).collect::<Vec<_>>(), vec![Some(0), Some(3)]);
        assert!(!dir.path().join("ran").exists());
        assert!(passed(&commands[..1], &results[..1]));
    }
}
