//! The engines that sequence everything else: `mmm improve` and `mmm run`.
//!
//! This is the one module that talks to the analyzer, the model, the tools, the checks,
//! git and the state; none of those know of each other. [`Runner`] holds what a running
//! session shares between its steps (the record, the journal and transcript, the model,
//! the usage so far) and implements the agent's hooks, so every request, response and tool
//! call is recorded, priced and shown in one place.

pub mod change;
pub mod checks;
pub mod events;
pub mod improve;
pub mod prompts;
pub mod review;
pub mod setup;
pub mod spec;
pub mod stop;
pub mod verdict;

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::agent::{Conversation, Hooks, ToolReply};
use crate::error::CliError;
use crate::llm::{MessagesRequest, MessagesResponse, Usage};
use crate::printer::Printer;
use crate::state::journal::Journal;
use crate::state::session::SessionRecord;
use events::Event;
use stop::StopReason;

/// The exit a finished session maps to: success, 1 for a failing or broken run, 130 for an
/// interrupted one, and 3 when `fail_under` is given and the final score is below it. The
/// hints name the session, so the next step is one command.
pub fn exit_result(record: &SessionRecord, command: &str, fail_under: Option<f64>) -> anyhow::Result<()> {
    let id = &record.id;
    match &record.stop_reason {
        Some(StopReason::Interrupted) => {
            Err(CliError::interrupted("interrupted: the current iteration was rolled back")
                .with_hint(format!("resume with `mmm {command} --resume {id}`"))
                .into())
        }
        Some(StopReason::Error { message }) => Err(CliError::failure(message.clone())
            .with_hint(format!("fix the cause, then `mmm {command} --resume {id}`"))
            .into()),
        Some(StopReason::Failing { iterations }) => {
            Err(CliError::failure(format!("{iterations} failed iterations in a row"))
                .with_hint(format!("see `mmm history {id}` for what went wrong"))
                .into())
        }
        _ => match (fail_under, record.score_now()) {
            (Some(threshold), score) if score.is_none_or(|s| s < threshold) => {
                let got = score.map_or_else(|| "no score".to_string(), |s| format!("score {s:.1}"));
                Err(CliError::target_not_reached(format!(
                    "the session ended with {got}, below --fail-under {threshold:.1}"
                ))
                .with_hint(format!("`mmm history {id}` shows each iteration"))
                .into())
            }
            _ => Ok(()),
        },
    }
}

/// Tells a running session that the user pressed Ctrl+C.
#[derive(Debug, Clone)]
pub struct Cancel(watch::Receiver<bool>);

/// The sending side of [`Cancel`].
#[derive(Debug)]
pub struct CancelHandle(watch::Sender<bool>);

impl Cancel {
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(false);
        (CancelHandle(tx), Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancelled (never, if the handle is dropped without cancelling).
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl CancelHandle {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

/// The cost of a usage for a model, when its price is known.
pub type PriceFn = Box<dyn Fn(&Usage) -> Option<f64> + Send + Sync>;

/// What the steps of a running session share.
pub struct Runner<'a> {
    pub printer: &'a Printer,
    pub verbose: bool,
    /// `None` in `--dry-run`, which records nothing.
    pub journal: Option<Journal>,
    pub transcript: Option<Journal>,
    pub price: PriceFn,
    /// Usage and requests of this run so far, updated by every response (so a cancelled
    /// step still counts what it spent).
    live: Mutex<(Usage, u32)>,
    /// Usage and requests recorded before this run (a resumed session's earlier runs).
    pub usage_before: Usage,
    pub requests_before: u32,
    pub started: Instant,
    pub elapsed_before: u64,
    pub limits: stop::Limits,
}

impl<'a> Runner<'a> {
    pub fn new(
        printer: &'a Printer,
        verbose: bool,
        record: &SessionRecord,
        journal: Option<Journal>,
        transcript: Option<Journal>,
        price: PriceFn,
    ) -> Self {
        Self {
            printer,
            verbose,
            journal,
            transcript,
            price,
            live: Mutex::new((Usage::default(), 0)),
            usage_before: record.usage,
            requests_before: record.requests,
            started: Instant::now(),
            elapsed_before: record.elapsed_secs,
            limits: record.settings.limits.clone(),
        }
    }

    /// Journals, prints (JSON line or human line) an event. A journal failure is reported
    /// once as a warning rather than ending the session.
    pub fn emit(&self, event: &Event) {
        if let Some(Err(e)) = self.journal.as_ref().map(|j| j.append(event)) {
            self.printer.warn(format!("could not write the journal: {e:#}"));
        }
        if self.printer.is_json() {
            let _ = self.printer.json(event);
        } else if let Some(line) = event.human(&self.printer.styles(), self.verbose) {
            let _ = self.printer.line(line);
        }
        if self.printer.github_annotations() {
            self.annotate(event);
        }
    }

    /// GitHub annotations for a check failure that stands: a failing baseline, or the last
    /// failing check of an iteration that was rolled back.
    fn annotate(&self, event: &Event) {
        let failed = match event {
            Event::Baseline { passed: false, checks } => checks.iter().find(|c| !c.passed),
            Event::Iteration(it) if it.outcome == crate::state::session::Outcome::RolledBack => {
                it.validation.iter().find(|c| !c.passed)
            }
            _ => None,
        };
        let Some(check) = failed else { return };
        let output = check.output.as_deref().unwrap_or("");
        for annotation in
            crate::ci::annotations::annotations(&check.command, output, crate::ci::annotations::MAX_ANNOTATIONS)
        {
            let _ = if self.printer.is_json() {
                self.printer.json(&serde_json::json!({
                    "type": "annotation",
                    "level": annotation.level.to_string(),
                    "file": annotation.file,
                    "line": annotation.line,
                    "message": annotation.message,
                    "command": annotation.to_string(),
                }))
            } else {
                self.printer.workflow_command(&annotation)
            };
        }
    }

    /// Usage and requests of this run so far.
    pub fn live(&self) -> (Usage, u32) {
        *self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests the session has made, earlier runs included.
    pub fn total_requests(&self) -> u32 {
        self.requests_before + self.live().1
    }

    /// Everything the session has used, earlier runs included.
    pub fn total_usage(&self) -> Usage {
        let mut total = self.usage_before;
        total += self.live().0;
        total
    }

    pub fn elapsed_secs(&self) -> u64 {
        self.elapsed_before + self.started.elapsed().as_secs()
    }

    /// Copies the usage, cost, requests and time so far into the session's record.
    pub fn sync_usage(&self, record: &mut SessionRecord) {
        record.usage = self.total_usage();
        record.cost_usd = (self.price)(&record.usage);
        record.requests = self.total_requests();
        record.elapsed_secs = self.elapsed_secs();
    }

    /// Hooks for one conversation, labelled for the transcript (`review-3`, `implement-3`).
    /// Tool calls are reported as events only for editing conversations (a review's one
    /// call is its `review` event).
    pub fn hooks(&'a self, iteration: u32, label: &str, report_tools: bool) -> RunnerHooks<'a> {
        RunnerHooks { runner: self, iteration, label: format!("{label}-{iteration}"), report_tools }
    }

    fn record_transcript<T: Serialize>(&self, kind: &str, conversation: &str, body: &T) {
        #[derive(Serialize)]
        struct Entry<'b, T: Serialize> {
            kind: &'b str,
            conversation: &'b str,
            body: &'b T,
        }
        if let Some(Err(e)) = self.transcript.as_ref().map(|t| t.append(&Entry { kind, conversation, body })) {
            tracing::warn!("could not write the transcript: {e:#}");
        }
    }
}

/// The agent hooks of one conversation.
pub struct RunnerHooks<'a> {
    runner: &'a Runner<'a>,
    iteration: u32,
    label: String,
    report_tools: bool,
}

impl Hooks for RunnerHooks<'_> {
    fn on_request(&self, request: &MessagesRequest) {
        self.runner.record_transcript("request", &self.label, request);
    }

    fn on_response(&self, response: &MessagesResponse) {
        self.runner.record_transcript("response", &self.label, response);
        let mut live = self.runner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.0 += response.usage;
        live.1 += 1;
    }

    fn on_tool(&self, name: &str, input: &Value, reply: &ToolReply) {
        if !self.report_tools {
            return;
        }
        self.runner.emit(&Event::Tool {
            iteration: self.iteration,
            tool: name.to_string(),
            command: input.get("command").and_then(Value::as_str).map(str::to_string),
            path: input.get("path").and_then(Value::as_str).map(str::to_string),
            is_error: reply.is_error,
        });
    }

    fn on_text(&self, delta: &str) {
        if self.runner.verbose && !self.runner.printer.is_json() {
            eprint!("{}", self.runner.printer.stderr_styles().dim(delta));
        }
    }

    fn over_budget(&self, _conversation: &Conversation) -> bool {
        let usage = self.runner.total_usage();
        let cost = (self.runner.price)(&usage).unwrap_or(0.0);
        stop::over_budget(&self.runner.limits, cost, usage.total())
    }
}
