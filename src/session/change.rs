//! One verified change: the editing conversation, the checks, and the fix rounds.
//!
//! [`Session::edit_until_green`] is shared by every policy: it lets the model edit through
//! the confined tools until it stops, keeps the work reachable (`refs/mmm/wip/...`), runs
//! the project's checks, feeds failures back for up to `fix_rounds` more rounds, and
//! reports what happened. It never commits or rolls back: the engine does, once the
//! policy has decided what to keep.

use super::engine::Session;
use super::events::Event;
use super::{checks, prompts};
use crate::agent::{self, Conversation, Ended};
use crate::exec::CommandResult;
use crate::llm::LlmError;
use crate::redact::redact;
use crate::tools::Tools;

/// How an editing round ended.
#[derive(Debug)]
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
    /// The API failed after its retries, and a later request might succeed.
    ApiFailed,
    /// A failure no later request can get past: a bad key, no such model, a bad request,
    /// or a tool failure of mmm's own. It ends the session.
    Fatal(anyhow::Error),
}

/// What [`Session::edit_until_green`] did.
#[derive(Debug)]
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

impl Session {
    /// Runs the conversation (already holding its first request) until its change passes
    /// the checks, the fix rounds run out, or it fails. The conversation and tools keep
    /// their state, so a caller may push another message and call this again.
    pub async fn edit_until_green(
        &self,
        index: u32,
        conversation: &mut Conversation,
        tools: &mut Tools,
    ) -> anyhow::Result<Change> {
        let settings = &self.record.settings;
        let timeout = std::time::Duration::from_secs(settings.check_timeout_secs);
        let hooks = self.hooks(index, "implement", true);
        let mut change = Change {
            kind: ChangeKind::NoChange,
            final_text: String::new(),
            rounds: 0,
            changed: Vec::new(),
            results: Vec::new(),
            error: None,
        };
        loop {
            self.activity(Some(if change.rounds == 0 {
                format!("#{index} editing")
            } else {
                format!("#{index} fixing (round {} of {})", change.rounds, settings.fix_rounds)
            }));
            let ended = agent::run_turns(self.model.as_ref(), conversation, tools, settings.max_turns, &hooks).await;
            self.activity(None);
            match ended {
                Ok(Ended::Done { text }) => change.final_text = text,
                Ok(Ended::Refusal { .. }) => {
                    return Ok(change.fail(ChangeKind::Declined, "the model declined to make the change"));
                }
                Ok(Ended::ToolFailed { message }) => {
                    let error = anyhow::anyhow!("a tool failed: {message}");
                    return Ok(change.fail(ChangeKind::Fatal(error), &format!("a tool failed: {message}")));
                }
                Ok(other) => tracing::info!("iteration {index}: {other:?}; checking what was changed"),
                Err(e) => {
                    let message = format!("the editing request failed: {e}");
                    return Ok(change.fail(api_failure(e), &message));
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
            self.save_wip(index, &change.changed);
            self.activity(Some(format!("#{index} running the checks")));
            change.results = checks::run(&settings.checks, self.git.root(), timeout).await;
            self.activity(None);
            let passed = checks::passed(&settings.checks, &change.results);
            self.emit(&Event::Validation {
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
            if change.rounds >= settings.fix_rounds || self.over_budget() {
                let error = format!(
                    "checks still failing after {} fix round(s): {}",
                    change.rounds,
                    checks::brief(&settings.checks, &change.results)
                );
                return Ok(change.fail(ChangeKind::StillFailing, &error));
            }
            change.rounds += 1;
            let failures = redact(&checks::describe(&settings.checks, &change.results)).into_owned();
            conversation.push_user_text(prompts::fix_request(change.rounds, settings.fix_rounds, &failures));
        }
    }
}

impl Change {
    fn fail(mut self, kind: ChangeKind, error: &str) -> Self {
        self.kind = kind;
        self.error = Some(error.to_string());
        self
    }
}

/// An API failure as a change's end: fatal (keeping the error, with its hint) when no
/// later request can succeed either.
pub fn api_failure(e: LlmError) -> ChangeKind {
    if e.is_retryable() { ChangeKind::ApiFailed } else { ChangeKind::Fatal(e.into()) }
}
