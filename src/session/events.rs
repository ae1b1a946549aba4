//! What a session reports as it goes. Each event is written once to the journal
//! (`events.jsonl`), handed to the session's [`Observer`] (which prints it as one JSON line
//! in `--output json`, as a line of text for a person, as a GitHub annotation...), and
//! carries the session's id ([`Envelope`]) so interleaved sessions can be told apart. One
//! type serves all of them so they cannot drift. The engine never prints: whatever
//! watches a session is an observer.

use serde::Serialize;

use super::review::Issue;
use super::stop::StopReason;
use crate::llm::Usage;
use crate::printer::Styles;
use crate::state::session::{CheckRecord, CriterionRecord, IterationRecord, Outcome, SessionRecord, Switch};
use crate::state::summary::SpecStatus;

/// Whatever watches sessions: the terminal, JSON lines, CI annotations, a server's stream.
/// Every method has the session's id, so one observer can watch several sessions at once.
pub trait Observer: Send + Sync {
    /// An event, already written to the session's journal.
    fn event(&self, session: &str, event: &Event);
    /// What the session is busy with now (`Some("#2 editing")`), or `None` when it waits
    /// on nothing; for spinners and live views. Never journaled.
    fn activity(&self, _session: &str, _what: Option<String>) {}
    /// One block of the model's text, whole, once its response has arrived (`-v` shows
    /// them). Never journaled: the transcript holds every message.
    fn text(&self, _session: &str, _block: &str) {}
    /// Something the user should know that is not an event (a journal write failed).
    fn warn(&self, _session: &str, _message: &str) {}
    /// The session has ended and `record`, its final record, is saved: for watchers that
    /// keep their own account of sessions (the index, alerts). Called once per run, after
    /// the `summary` event.
    fn ended(&self, _record: &SessionRecord) {}
}

/// An event with the id of the session it belongs to: the form of every journal line and
/// every JSON line a session prints.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    /// Empty for the one event that belongs to no session (`spec_skipped`): left out.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub session: &'a str,
    #[serde(flatten)]
    pub event: &'a Event,
}

/// A step of a session.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SessionStarted {
        kind: crate::state::session::SessionKind,
        branch: String,
        start_commit: String,
        model: String,
        checks: Vec<String>,
        resumed: bool,
        /// The model a resumed session ran with until this run changed it (`--model`,
        /// `-c model=...`); left out when the model is unchanged.
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_model: Option<String>,
        /// How long the analysis before the session took, in milliseconds.
        analysis_ms: u64,
        /// What the sandbox enforces on the commands this run starts (checks, shell steps,
        /// hooks, command tools); left out when nothing installed a sandbox (a library caller).
        #[serde(skip_serializing_if = "Option::is_none")]
        sandbox: Option<crate::sandbox::Enforcement>,
    },
    /// `--allow-dirty` committed the user's uncommitted changes first.
    Snapshot {
        commit: String,
        files: Vec<String>,
    },
    Baseline {
        passed: bool,
        checks: Vec<CheckRecord>,
    },
    Review {
        iteration: u32,
        score: f64,
        summary: String,
        issues: Vec<Issue>,
    },
    Tool {
        iteration: u32,
        tool: String,
        command: Option<String>,
        path: Option<String>,
        /// The file the call created or modified, relative to the root: what a crash
        /// recovery may roll back.
        #[serde(skip_serializing_if = "Option::is_none")]
        changed: Option<String>,
        /// A search's pattern.
        #[serde(skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
        /// Lines the call added to and removed from `changed`.
        #[serde(skip_serializing_if = "Option::is_none")]
        added: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        removed: Option<u64>,
        /// A search's matching lines; `hits_capped` when it stopped at its limit.
        #[serde(skip_serializing_if = "Option::is_none")]
        hits: Option<u64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        hits_capped: bool,
        is_error: bool,
    },
    /// One model response and what it used (its cost, when the price is known): the
    /// journal's running account, so a crash never loses what was spent.
    Usage {
        iteration: u32,
        conversation: String,
        usage: Usage,
        cost_usd: Option<f64>,
        /// From the request's sending to its whole response (its retries' waits included).
        duration_ms: u64,
    },
    /// While the checks ran, a one-token request kept a prefix the next request will start
    /// with (the editing conversation, the reviews' stable prefix) from expiring in the
    /// prompt cache (`cache_refresh`); its usage is also in a `usage` event.
    CacheRefresh {
        iteration: u32,
        conversation: String,
        cache_read_input_tokens: u64,
        cost_usd: Option<f64>,
    },
    /// A model request failed and is sent again after a wait: retry `attempt` of at most
    /// `max_retries`. `reason` says what went wrong in a few words, `error` in full.
    Retry {
        iteration: u32,
        conversation: String,
        attempt: u32,
        max_retries: u32,
        wait_ms: u64,
        reason: String,
        error: String,
    },
    /// `--resume` found an iteration cut off by a crash and put it right: its edits rolled
    /// back to the checkpoint (`rolled_back`), or its commit kept (`adopted`).
    Recovered {
        iteration: u32,
        action: Recovery,
        files: Vec<String>,
        commit: Option<String>,
    },
    Validation {
        iteration: u32,
        round: u32,
        passed: bool,
        checks: Vec<CheckRecord>,
    },
    Iteration(Box<IterationRecord>),
    /// The session changed its model or its focus after failures (`fallback_model`,
    /// `escalate_model`, `narrow_after`; [`super::retries`]).
    Switch(Switch),
    Stopped {
        reason: StopReason,
        message: String,
    },
    Summary(Box<Summary>),
    /// `mmm run` begins implementing a spec.
    SpecStarted {
        spec: String,
        title: String,
        path: String,
        criteria: Vec<String>,
    },
    /// `mmm run` skips a spec that is already done (no session is started for it).
    SpecSkipped {
        spec: String,
        status: SpecStatus,
    },
    /// The verifier's judgement of the criteria after a green round.
    Verdict {
        iteration: u32,
        round: u32,
        criteria: Vec<CriterionRecord>,
    },
    /// A spec's run ended: done (committed) or failed (rolled back).
    SpecFinished {
        spec: String,
        status: SpecStatus,
        commit: Option<String>,
        unmet: Vec<String>,
        message: String,
        cost_usd: Option<f64>,
        requests: u32,
    },
    /// `mmm workflow run` began a workflow (a nested one too): its steps' labels, and the
    /// branch its sessions commit to (when it runs any).
    WorkflowStarted {
        workflow: String,
        path: String,
        steps: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        /// The run's id (`.mmm/sessions/<run>/workflow.json`); left out for a nested workflow.
        #[serde(skip_serializing_if = "Option::is_none")]
        run: Option<String>,
        /// `--resume` continues this run.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// A step that does not run in this run (`--resume`, `--from`, `--only`) exposes the
    /// result it had in the run `from_run`; `skipped` when no run recorded one.
    StepRestored {
        workflow: String,
        step: String,
        outcome: crate::workflow::expr::Outcome,
        #[serde(skip_serializing_if = "Option::is_none")]
        from_run: Option<String>,
    },
    /// A step's try `attempt` began.
    StepStarted {
        workflow: String,
        step: String,
        kind: String,
        attempt: u32,
    },
    /// Try `attempt` of `attempts` failed; the step is tried again after `wait_ms`.
    StepRetry {
        workflow: String,
        step: String,
        attempt: u32,
        attempts: u32,
        wait_ms: u64,
        error: String,
    },
    /// A step ended (`success`, `failure`) or was skipped because its condition was false.
    StepFinished {
        workflow: String,
        step: String,
        kind: String,
        outcome: crate::workflow::expr::Outcome,
        /// The condition that was evaluated (`not run.failed` when the step has none).
        condition: String,
        /// Tries made (0 when skipped).
        attempts: u32,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        cost_usd: Option<f64>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        commits: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// A failure that `continue_on_error` let the run go on past.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        continued: bool,
    },
    /// A workflow ended: how, the step that failed it, counts and what it spent.
    WorkflowFinished {
        workflow: String,
        outcome: WorkflowOutcome,
        failed_step: Option<String>,
        succeeded: u32,
        failed: u32,
        skipped: u32,
        cost_usd: Option<f64>,
        elapsed_ms: u64,
    },
}

/// How a workflow run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowOutcome {
    Success,
    Failure,
    Interrupted,
}

/// What a crash recovery did with a cut-off iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    RolledBack,
    Adopted,
}

/// The closing facts of a session (also the last JSON line).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub branch: String,
    pub score_before: Option<f64>,
    pub score_after: Option<f64>,
    pub iterations: u32,
    pub commits: Vec<String>,
    pub files_changed: usize,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub usage: Usage,
    /// Share of input tokens read from the prompt cache, 0 to 1.
    pub cache_hit_ratio: f64,
    /// Requests that only refreshed the prompt cache during long checks (their cost is in
    /// `cost_usd`).
    pub cache_refreshes: u32,
    pub cost_usd: Option<f64>,
    pub requests: u32,
    pub elapsed_secs: u64,
    pub stop_reason: StopReason,
    pub stop_message: String,
    pub next: String,
    /// What committed changes did to the checks themselves, `#<iteration>: <flag>`; left
    /// out when nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub integrity: Vec<String>,
    /// Every change of model or focus after failures, in order; left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<Switch>,
}

impl Summary {
    /// The closing facts of a finished session's record; `base_branch` is the branch it
    /// started from (for the review command it suggests).
    pub fn of(record: &SessionRecord, base_branch: Option<&str>, reason: StopReason, message: String) -> Self {
        // What was kept: a rolled-back iteration's record names the files it had edited.
        let kept: Vec<_> =
            record.iterations.iter().filter(|i| i.commit.is_some()).flat_map(|i| &i.files_changed).collect();
        let files: std::collections::BTreeSet<&str> = kept.iter().map(|f| f.path.as_str()).collect();
        let input =
            record.usage.input_tokens + record.usage.cache_creation_input_tokens + record.usage.cache_read_input_tokens;
        let commits: Vec<String> = record.commits().map(str::to_string).collect();
        let next = match (commits.is_empty(), base_branch) {
            (true, _) => format!("nothing was kept; `mmm history {}` shows what was tried", record.id),
            (false, Some(base)) if !record.settings.in_place => {
                format!("review with `git log --stat {base}..{}`, then merge the branch", record.branch)
            }
            (false, _) => format!("review the commits on {} with `git log --stat`", record.branch),
        };
        Summary {
            branch: record.branch.clone(),
            score_before: record.score_before(),
            score_after: record.score_now(),
            iterations: record.iterations.len() as u32,
            commits,
            files_changed: files.len(),
            lines_added: kept.iter().map(|f| f.added).sum(),
            lines_removed: kept.iter().map(|f| f.removed).sum(),
            usage: record.usage,
            cache_hit_ratio: if input == 0 { 0.0 } else { record.usage.cache_read_input_tokens as f64 / input as f64 },
            cache_refreshes: record.cache_refreshes,
            cost_usd: record.cost_usd,
            requests: record.requests,
            elapsed_secs: record.elapsed_secs,
            stop_reason: reason,
            stop_message: message,
            next,
            integrity: record
                .iterations
                .iter()
                .filter(|i| i.outcome == Outcome::Committed)
                .flat_map(|i| i.integrity.iter().map(move |flag| format!("#{}: {flag}", i.index)))
                .collect(),
            switches: record.switches.clone(),
        }
    }
}

impl Event {
    /// The line a person sees for this event, if any.
    pub fn human(&self, session: &str, s: &Styles) -> Option<String> {
        match self {
            Event::SessionStarted { branch, model, checks, resumed, previous_model, .. } => Some(format!(
                "{} session {} on branch {} with {model}{}\n  checks: {}",
                if *resumed { "Resuming" } else { "Starting" },
                s.bold(session),
                s.cyan(branch),
                previous_model.as_ref().map(|m| format!(" (changed from {m})")).unwrap_or_default(),
                checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
            )),
            Event::Snapshot { commit, files } => Some(format!(
                "Committed your {} uncommitted file(s) as {} (snapshot before mmm)",
                files.len(),
                short(commit)
            )),
            Event::Baseline { passed, checks } => Some(if *passed {
                let reused = checks.iter().filter(|c| c.reused).count();
                let reused = match reused {
                    0 => String::new(),
                    n => format!(" ({n} not run again: passed on this same tree before)"),
                };
                match checks.len() {
                    1 => format!("Baseline: {} the check passes{reused}", s.green("✓")),
                    n => format!("Baseline: {} all {n} checks pass{reused}", s.green("✓")),
                }
            } else {
                let failed = checks.iter().find(|c| !c.passed).map(|c| c.command.as_str()).unwrap_or("?");
                format!("Baseline: {} `{failed}` fails — nothing is kept until the checks pass", s.red("✗"))
            }),
            Event::Review { iteration, score, issues, .. } => Some(format!(
                "#{iteration} review: score {} — {} issue(s){}",
                s.bold(format!("{score:.1}")),
                issues.len(),
                issues.first().map(|i| format!(", worst: {}", truncate(&i.to_string(), 90))).unwrap_or_default()
            )),
            Event::Tool { .. } => Some(tool_line(self, s)),
            Event::Switch(switch) => Some(format!("   {}", s.yellow(format!("switched: {}", switch.describe())))),
            Event::Usage { .. } => None,
            Event::CacheRefresh { cache_read_input_tokens, cost_usd, .. } => Some(format!(
                "   refreshed the prompt cache during the checks: {} tokens read, {}",
                tokens(*cache_read_input_tokens),
                cost(*cost_usd)
            )),
            Event::Retry { attempt, max_retries, wait_ms, reason, .. } => Some(format!(
                "   {}",
                s.yellow(format!("{reason}, retrying in {} ({attempt}/{max_retries})", wait(*wait_ms)))
            )),
            Event::Recovered { iteration, action: Recovery::RolledBack, files, .. } => Some(format!(
                "Recovered #{iteration} after a crash: rolled back {} file(s) mmm had edited",
                files.len()
            )),
            Event::Recovered { iteration, action: Recovery::Adopted, commit, .. } => Some(format!(
                "Recovered #{iteration} after a crash: kept its commit {}",
                commit.as_deref().map(short).unwrap_or("?")
            )),
            Event::Validation { round, passed, checks, .. } => Some(format!(
                "   checks{}: {}",
                if *round > 0 { format!(" after fix round {round}") } else { String::new() },
                if *passed {
                    s.green(format!("{}/{} passed", checks.len(), checks.len()))
                } else {
                    let failed = checks.iter().find(|c| !c.passed).map(|c| c.command.as_str()).unwrap_or("?");
                    s.red(format!("`{failed}` failed"))
                }
            )),
            Event::Iteration(it) => Some(iteration_line(it, s)),
            // The summary that follows names the reason; JSON and the journal keep the event.
            Event::Stopped { .. } => None,
            Event::Summary(summary) => Some(summary_block(session, summary, s)),
            Event::SpecStarted { spec, title, criteria, .. } => {
                Some(format!("{} {} — {title} ({} criteria)", s.bold("Spec"), s.cyan(spec), criteria.len()))
            }
            Event::SpecSkipped { spec, status } => {
                Some(format!("Skipping {spec}: {} (use --force to run it again)", status.as_str()))
            }
            Event::Verdict { criteria, round, .. } => {
                let met = criteria.iter().filter(|c| c.met).count();
                let mut lines = vec![format!("   verdict (round {round}): {met}/{} criteria met", criteria.len())];
                lines.extend(
                    criteria.iter().filter(|c| !c.met).map(|c| format!("     {} {}. {}", s.red("✗"), c.index, c.text)),
                );
                Some(lines.join("\n"))
            }
            Event::SpecFinished { spec, status, commit, unmet, message, cost_usd, requests, .. } => {
                let mut line = match status {
                    SpecStatus::Done => format!(
                        "{} {spec} done: committed {}",
                        s.green("✓"),
                        commit.as_deref().map(short).unwrap_or("?")
                    ),
                    _ => format!("{} {spec} failed: {message}", s.red("✗")),
                };
                line.push_str(&format!("  ({} request(s), {})", requests, cost(*cost_usd)));
                for criterion in unmet {
                    line.push_str(&format!("\n   unmet: {criterion}"));
                }
                Some(line)
            }
            Event::WorkflowStarted { workflow, steps, branch, run, resumed, .. } => Some(format!(
                "{} {} ({} step(s)){}",
                s.bold(if *resumed { "Resuming workflow" } else { "Workflow" }),
                s.cyan(workflow),
                steps.len(),
                branch.as_ref().map(|b| format!(" on branch {}", s.cyan(b))).unwrap_or_default(),
            ))
            .map(|line| match (resumed, run) {
                (true, Some(run)) => format!("{line}, run {run}"),
                _ => line,
            }),
            Event::StepRestored { step, outcome, from_run, .. } => Some(match from_run {
                Some(run) => format!("{} {step}  {}", s.dim("↺"), s.dim(format!("{} in run {run}", outcome.as_str()))),
                None => format!("{} {step}  {}", s.dim("-"), s.dim("not run (no earlier result)")),
            }),
            Event::StepStarted { .. } => None,
            Event::StepRetry { step, attempt, attempts, wait_ms, error, .. } => Some(format!(
                "   {}",
                s.yellow(format!(
                    "{step} failed (try {attempt} of {attempts}): {}; trying again in {}",
                    truncate(error, 90),
                    wait(*wait_ms)
                ))
            )),
            Event::StepFinished { .. } => Some(step_line(self, s)),
            Event::WorkflowFinished {
                workflow,
                outcome,
                failed_step,
                succeeded,
                failed,
                skipped,
                cost_usd,
                elapsed_ms,
            } => {
                let how = match (outcome, failed_step) {
                    (WorkflowOutcome::Success, _) => s.green("succeeded"),
                    (WorkflowOutcome::Interrupted, _) => s.yellow("was interrupted"),
                    (WorkflowOutcome::Failure, Some(step)) => s.red(format!("failed at step {step}")),
                    (WorkflowOutcome::Failure, None) => s.red("failed"),
                };
                Some(format!(
                    "Workflow {workflow} {how}: {succeeded} succeeded, {failed} failed, {skipped} skipped · {} · {}",
                    cost(*cost_usd),
                    seconds(*elapsed_ms)
                ))
            }
        }
    }
}

/// One step: `✓ lint  shell  0.3s  $0.00  summary`, `✗ fix  improve  12.0s  error`,
/// `- report  skipped: \`run.failed\` is false`.
fn step_line(event: &Event, s: &Styles) -> String {
    let Event::StepFinished {
        step,
        kind,
        outcome,
        condition,
        attempts,
        duration_ms,
        exit_code,
        cost_usd,
        summary,
        error,
        continued,
        ..
    } = event
    else {
        return String::new();
    };
    use crate::workflow::expr::Outcome;
    if *outcome == Outcome::Skipped {
        return format!("{} {step}  {}", s.dim("-"), s.dim(format!("skipped: `{condition}` is false")));
    }
    let mark = if *outcome == Outcome::Success { s.green("✓") } else { s.red("✗") };
    let mut line = format!("{mark} {step}  {kind}  {}", seconds(*duration_ms));
    if let Some(code) = exit_code.filter(|c| *c != 0) {
        line.push_str(&format!("  exit {code}"));
    }
    if cost_usd.is_some_and(|c| c > 0.0) || (kind != "shell" && cost_usd.is_none()) {
        line.push_str(&format!("  {}", cost(*cost_usd)));
    }
    if *attempts > 1 {
        line.push_str(&format!("  ({attempts} tries)"));
    }
    match (error, summary) {
        (Some(error), _) => line.push_str(&format!("  {}", truncate(error, 100))),
        (None, Some(summary)) => line.push_str(&format!("  {}", truncate(summary, 100))),
        _ => {}
    }
    if *continued {
        line.push_str(&s.dim("  (continue_on_error: the run goes on)"));
    }
    line
}

/// `0.3s`, `12.0s`, `2m05s`.
fn seconds(ms: u64) -> String {
    match ms {
        0..60_000 => format!("{:.1}s", ms as f64 / 1e3),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60),
    }
}

/// One tool call: `view src/lib.rs`, `edit src/lib.rs +3 -1`, `search "fn top" (2 hits)`.
fn tool_line(event: &Event, s: &Styles) -> String {
    let Event::Tool { tool, command, path, pattern, added, removed, hits, hits_capped, is_error, .. } = event else {
        return String::new();
    };
    let path = path.as_deref().unwrap_or("");
    let line = match (command.as_deref(), pattern) {
        (Some("view"), _) => format!("view {path}"),
        (Some("create"), _) => format!("create {path}"),
        (Some("str_replace" | "insert"), _) => format!("edit {path}"),
        (Some(other), _) => format!("{tool} {other} {path}"),
        (None, Some(pattern)) => {
            let place = if path.is_empty() || path == "." { String::new() } else { format!(" in {path}") };
            format!("{tool} {pattern:?}{place}")
        }
        (None, None) => format!("{tool} {path}"),
    };
    let mut line = line.trim_end().to_string();
    if let (Some(added), Some(removed)) = (added, removed) {
        line.push_str(&format!(" +{added} -{removed}"));
    }
    if let Some(n) = hits {
        let more = if *hits_capped { "+" } else { "" };
        line.push_str(&format!(" ({n}{more} hit{})", if *n == 1 && !hits_capped { "" } else { "s" }));
    }
    if *is_error {
        line.push_str(&s.yellow(" (error)"));
    }
    format!("   {}", line)
}

/// `#2 committed   score 6.0  3 file(s) +40 -12  41.2k tokens  $0.08  Add error handling`;
/// an iteration that was not kept lists the files it had edited below, then a line per
/// validation-integrity flag.
pub fn iteration_line(it: &IterationRecord, s: &Styles) -> String {
    let outcome = match it.outcome {
        Outcome::Committed => s.green("committed  "),
        Outcome::RolledBack => s.yellow("rolled back"),
        Outcome::NoChange => s.dim("no change  "),
        Outcome::Failed => s.red("failed     "),
        Outcome::Crashed => s.red("crashed    "),
    };
    let added: u64 = it.files_changed.iter().map(|f| f.added).sum();
    let removed: u64 = it.files_changed.iter().map(|f| f.removed).sum();
    let detail = match (&it.summary, &it.error) {
        (_, Some(error)) if it.outcome != Outcome::Committed => error.clone(),
        (Some(summary), _) => summary.clone(),
        _ => String::new(),
    };
    let score = match (it.score_before, it.score_after) {
        (Some(before), Some(after)) => format!("score {before:.1} → {after:.1}"),
        (Some(before), None) => format!("score {before:.1}"),
        _ => "no review".to_string(),
    };
    let mut line = format!(
        "#{} {outcome} {score}  {} file(s) +{added} -{removed}  {} tokens  {}  {}",
        it.index,
        it.files_changed.len(),
        tokens(it.usage.total()),
        cost(it.cost_usd),
        truncate(&detail, 100)
    );
    // What an iteration that was not kept had edited, now undone.
    if it.commit.is_none() {
        for f in &it.files_changed {
            line.push_str(&format!("\n     undone {} +{} -{}", f.path, f.added, f.removed));
        }
    }
    for flag in &it.integrity {
        line.push_str(&format!("\n   {} validation integrity: {flag}", s.yellow("!")));
    }
    line
}

fn summary_block(session: &str, x: &Summary, s: &Styles) -> String {
    let score = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
    let mut lines = vec![
        String::new(),
        s.bold(format!("Session {session} — {}", x.stop_message)),
        format!("  score       {} → {}", score(x.score_before), score(x.score_after)),
        format!("  iterations  {} ({} committed)", x.iterations, x.commits.len()),
        format!("  changes     {} file(s), +{} -{}", x.files_changed, x.lines_added, x.lines_removed),
        format!(
            "  tokens      {} in {} request(s), {:.0}% of input read from cache{}",
            tokens(x.usage.total()),
            x.requests,
            x.cache_hit_ratio * 100.0,
            match x.cache_refreshes {
                0 => String::new(),
                n => format!(" ({n} of them cache refreshes during long checks)"),
            }
        ),
        format!("  cost        {}", cost(x.cost_usd)),
        format!(
            "  time        {}",
            match x.elapsed_secs {
                // Time is kept in whole seconds: less than one is not "0s".
                0 => "under 1s".to_string(),
                secs => crate::settings::value::format_duration(std::time::Duration::from_secs(secs)),
            }
        ),
        format!("  branch      {}", s.cyan(&x.branch)),
    ];
    for flag in &x.integrity {
        lines.push(format!("  {} {flag}", s.yellow("integrity  ")));
    }
    for switch in &x.switches {
        lines.push(format!("  switched    #{}: {}", switch.iteration(), switch.describe()));
    }
    lines.push(format!("Next: {}", x.next));
    lines.join("\n")
}

/// A wait before a retry: `0.5 s` under a second, else whole seconds (`4 s`).
fn wait(ms: u64) -> String {
    if ms < 1_000 { format!("{:.1} s", ms as f64 / 1e3) } else { format!("{} s", (ms + 500) / 1_000) }
}

/// `41.2k`, `1.3M`, `950`.
pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

pub use crate::printer::usd as cost;

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

fn truncate(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!((tokens(950), tokens(41_234), tokens(1_260_000)), ("950".into(), "41.2k".into(), "1.3M".into()));
        assert_eq!(truncate("abcdef\nsecond", 4), "abc…");
        assert_eq!((wait(250), wait(3_700), wait(60_000)), ("0.2 s".into(), "4 s".into(), "60 s".into()));
    }

    #[test]
    fn events_serialise_with_their_type() {
        let e = Event::Snapshot { commit: "abc".into(), files: vec!["a".into()] };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type": "snapshot", "commit": "abc", "files": ["a"]})
        );
    }
}
