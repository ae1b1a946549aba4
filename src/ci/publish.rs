//! What a finished session leaves for a pipeline: the Markdown report (`--summary-file`,
//! `$GITHUB_STEP_SUMMARY`), the step outputs (`$GITHUB_OUTPUT`), and the pushed branch
//! (`--push`). The report view is filled from the session record here, once, for every
//! engine.

use std::path::Path;

use anyhow::Context;

use super::github::{self, Files};
use super::report::{self, FailedCheck, IterationRow, ReportInput};
use crate::cli::ResultArgs;
use crate::git::Git;
use crate::printer::Printer;
use crate::state::session::{SessionRecord, SessionStatus};

/// The report view of a session record.
pub fn report_input<'a>(record: &'a SessionRecord, command: &'a str, stop: Option<&'a str>) -> ReportInput<'a> {
    let iterations = record
        .iterations
        .iter()
        .map(|it| IterationRow {
            index: it.index,
            outcome: it.outcome.as_str(),
            score: it.score_after.or(it.score_before),
            files_changed: it.files_changed.len(),
            lines_added: it.files_changed.iter().map(|f| f.added).sum(),
            lines_removed: it.files_changed.iter().map(|f| f.removed).sum(),
            cost_usd: it.cost_usd,
            summary: it.summary.as_deref(),
            error: it.error.as_deref(),
            failed_check: it
                .validation
                .iter()
                .find(|c| !c.passed)
                .map(|c| FailedCheck { command: &c.command, output: c.output.as_deref().unwrap_or("") }),
        })
        .collect();
    ReportInput {
        command,
        status: record.status.as_str(),
        session: &record.id,
        branch: &record.branch,
        score_before: record.score_before(),
        score_after: record.score_now(),
        iterations,
        commits: record.commits().collect(),
        stop_reason: stop,
        tokens: record.usage.total(),
        cost_usd: record.cost_usd,
        elapsed_secs: record.elapsed_secs,
    }
}

/// Writes the report and outputs finished sessions leave (one for `mmm improve`, one per
/// spec for `mmm run`), and pushes their branches when asked: the report has a section per
/// session, the step outputs describe the last one. `env` is the process environment (for
/// the GitHub files).
pub fn publish(
    printer: &Printer,
    git: &Git,
    records: &[SessionRecord],
    command: &str,
    args: &ResultArgs,
    env: &[(String, String)],
) -> anyhow::Result<()> {
    let stops: Vec<Option<String>> = records.iter().map(|r| r.stop_reason.as_ref().map(ToString::to_string)).collect();
    let inputs: Vec<ReportInput<'_>> =
        records.iter().zip(&stops).map(|(record, stop)| report_input(record, command, stop.as_deref())).collect();
    let files = Files::from_env(env);
    if args.summary_file.is_some() || files.step_summary.is_some() {
        let markdown = inputs.iter().map(report::markdown).collect::<Vec<_>>().join("\n");
        if let Some(path) = &args.summary_file {
            write_report(path, &markdown)?;
        }
        if let Some(path) = &files.step_summary {
            github::append_step_summary(path, &markdown)?;
        }
    }
    if args.push {
        for (record, input) in records.iter().zip(&inputs) {
            if input.commits.is_empty() || record.status == SessionStatus::Interrupted {
                continue;
            }
            git.push("origin", &record.branch).with_context(|| {
                format!("pushing {} to origin (the session's work is safe on the local branch)", record.branch)
            })?;
            printer.line(format!("Pushed {} to origin", record.branch))?;
        }
    }
    if let (Some(path), Some(last)) = (&files.output, inputs.last()) {
        github::write_outputs(path, &github::outputs(last))?;
    }
    Ok(())
}

fn write_report(path: &Path, markdown: &str) -> anyhow::Result<()> {
    std::fs::write(path, markdown).with_context(|| format!("writing the report to {}", path.display()))
}
