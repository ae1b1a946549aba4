//! One verified change: the editing conversation, the checks, and the fix rounds.
//!
//! [`Workbench::edit_until_green`] is shared by every engine (`mmm improve` and the spec
//! runner): it lets the model edit through the confined tools until it stops, runs the
//! project's checks, feeds failures back for up to `fix_rounds` more rounds, and reports
//! what happened. It never commits or rolls back: the caller decides what to keep, because
//! the spec runner verifies criteria before keeping anything.

use std::time::Duration;

use anyhow::Context;

use super::events::Event;
use super::{Runner, checks, prompts, stop};
use crate::agent::{self, Conversation, Ended};
use crate::exec::CommandResult;
use crate::git::{Git, Snapshot};
use crate::llm::{LlmError, Model};
use crate::printer::Printer;
use crate::redact::redact;
use crate::state::session::FileChangeRecord;
use crate::tools::Tools;

/// The checks a change must pass and the limits of the conversation.
#[derive(Debug, Clone)]
pub struct CheckPlan {
    pub commands: Vec<String>,
    pub timeout: Duration,
    pub fix_rounds: u32,
    pub max_turns: u32,
}

/// How an editing round ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeKind {
    /// Files changed and every check passed.
    Green,
    /// Files changed, but the checks still failed after the last fix round (or the budget
    /// ran out first).
    StillFailing,
    /// The model changed nothing.
    NoChange,
    /// The model declined the request.
    Declined,
    /// The API failed after its retries; `fatal` when no later request can succeed either
    /// (a bad key, an unknown model, an invalid request).
    ApiFailed { fatal: bool },
}

/// What [`Workbench::edit_until_green`] did.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    /// The model's last text: its summary of the change.
    pub final_text: String,
    /// Fix rounds used (0 when the first attempt passed).
    pub rounds: u32,
    /// Files the tools created or modified, relative to the root.
    pub changed: Vec<String>,
    /// The last run of the checks, if they ran.
    pub results: Vec<CommandResult>,
    /// What went wrong, in a sentence, for every kind but `Green`.
    pub error: Option<String>,
}

/// What an editing conversation works with.
pub struct Workbench<'a> {
    pub printer: &'a Printer,
    pub runner: &'a Runner<'a>,
    pub git: &'a Git,
    pub model: &'a dyn Model,
}

impl Workbench<'_> {
    /// Runs the conversation (already holding its first request) until its change passes
    /// the checks, the fix rounds run out, or it fails. The conversation and tools keep
    /// their state, so a caller may push another message and call this again.
    pub async fn edit_until_green(
        &self,
        index: u32,
        conversation: &mut Conversation,
        tools: &mut Tools,
        plan: &CheckPlan,
    ) -> anyhow::Result<Change> {
        let hooks = self.runner.hooks(index, "implement", true);
        let mut change = Change {
            kind: ChangeKind::NoChange,
            final_text: String::new(),
            rounds: 0,
            changed: Vec::new(),
            results: Vec::new(),
            error: None,
        };
        loop {
            let spinner = self.printer.spinner(if change.rounds == 0 {
                format!("#{index} editing")
            } else {
                format!("#{index} fixing (round {} of {})", change.rounds, plan.fix_rounds)
            });
            let ended = agent::run_turns(self.model, conversation, tools, plan.max_turns, &hooks).await;
            spinner.finish();
            match ended {
                Ok(Ended::Done { text }) => change.final_text = text,
                Ok(Ended::Refusal { .. }) => {
                    return Ok(change.fail(ChangeKind::Declined, "the model declined to make the change"));
                }
                Ok(other) => tracing::info!("iteration {index}: {other:?}; checking what was changed"),
                Err(e) => {
                    let kind = ChangeKind::ApiFailed { fatal: is_fatal(&e) };
                    return Ok(change.fail(kind, &format!("the editing request failed: {e}")));
                }
            }
            // What the model changed through its tools; build output the checks leave
            // behind is not part of the change.
            change.changed = tools.changed_files().iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if !self.git.paths_changed(&change.changed)? {
                change.kind = ChangeKind::NoChange;
                change.error = Some("the model changed nothing".into());
                return Ok(change);
            }
            let spinner = self.printer.spinner(format!("#{index} running the checks"));
            change.results = checks::run(&plan.commands, self.git.root(), plan.timeout).await;
            spinner.finish();
            let passed = checks::passed(&plan.commands, &change.results);
            self.runner.emit(&Event::Validation {
                iteration: index,
                round: change.rounds,
                passed,
                checks: checks::records(&change.results),
            });
            if passed {
                change.kind = ChangeKind::Green;
                change.error = None;
                return Ok(change);
            }
            if change.rounds >= plan.fix_rounds || self.over_budget() {
                let error = format!(
                    "checks still failing after {} fix round(s): {}",
                    change.rounds,
                    checks::brief(&plan.commands, &change.results)
                );
                return Ok(change.fail(ChangeKind::StillFailing, &error));
            }
            change.rounds += 1;
            let failures = redact(&checks::describe(&plan.commands, &change.results)).into_owned();
            conversation.push_user_text(prompts::fix_request(change.rounds, plan.fix_rounds, &failures));
        }
    }

    fn over_budget(&self) -> bool {
        let usage = self.runner.total_usage();
        stop::over_budget(&self.runner.limits, (self.runner.price)(&usage).unwrap_or(0.0), usage.total())
    }
}

impl Change {
    fn fail(mut self, kind: ChangeKind, error: &str) -> Self {
        self.kind = kind;
        self.error = Some(error.to_string());
        self
    }
}

/// Commits exactly `paths` with `message` and returns the commit with its files' line
/// counts. If git refuses the commit (a hook, a missing identity), the tree is rolled back
/// to `snapshot` first, so nothing half-done stays behind, and the refusal is the error.
pub fn commit_or_roll_back(
    git: &Git,
    snapshot: &Snapshot,
    message: &str,
    paths: &[String],
) -> anyhow::Result<(String, Vec<FileChangeRecord>)> {
    let sha = match git.commit_paths(message, paths) {
        Ok(sha) => sha,
        Err(refused) => {
            git.roll_back_to(snapshot).context("rolling back after git refused the commit")?;
            return Err(refused);
        }
    };
    let files = git
        .diff_numstat(&snapshot.head, &sha)?
        .into_iter()
        .map(|f| FileChangeRecord { path: f.path, added: f.added, removed: f.removed })
        .collect();
    Ok((sha, files))
}

/// API errors that no later request can get past: a bad key, no such model, a bad request.
pub fn is_fatal(e: &LlmError) -> bool {
    !e.is_retryable()
}
