//! `mmm workflow run`: the workflow policy over the session engine. It walks a checked
//! [`Workflow`]'s steps in order, evaluates each condition, and runs the step: a `shell`
//! step through [`exec`] like a check (timeout, capture, redaction, no credentials), its
//! values only as environment variables; an `improve` or `spec` step as a session of the
//! one engine through its policy ([`super::improve::run`], [`super::spec::run`]); a `claude`
//! step as one request without tools whose answer must match its JSON Schema; a `workflow`
//! step by running the nested workflow. Retries, timeouts, `continue_on_error`, the run's
//! budget and Ctrl+C are kept here; what a step exposes goes into the [`Context`] the next
//! conditions and templates read.
//!
//! Sessions of a run commit to one branch (`mmm/workflow-<name>-<timestamp>`, made once
//! before the first step, unless `--in-place`). Nothing here prints: everything is an
//! event to the observer. A shell step never gets a value spliced into its command.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::engine::Env;
use super::events::{Envelope, Event, Observer, WorkflowOutcome};
use super::improve::{self, ImproveOptions};
use super::spec::{self, RunOptions};
use super::{exit_result, setup};
use crate::error::CliError;
use crate::exec;
use crate::llm::{Message, MessagesRequest, Model, Pricing, SystemBlock};
use crate::redact::redact;
use crate::settings::session::SessionConfig;
use crate::state::Layout;
use crate::state::journal::Journal;
use crate::state::lock::WorkTreeLock;
use crate::state::session::{SessionRecord, StopReason};
use crate::state::workflow_run::{RunRecord, RunStatus, StepState, state_of};
use crate::workflow::expr::{self, Context, Outcome, StepResult};
use crate::workflow::{ClaudeStep, ImproveStep, InputValue, NestedStep, Step, StepKind, Workflow};

/// Longest value of one environment variable a shell step gets; a longer value is cut
/// there and given whole in a file named by `<NAME>_FILE` (one argument or variable may not
/// exceed 128 KiB on Linux).
pub const MAX_ENV_VALUE: usize = 64 * 1024;

/// The system prompt of a `claude` step; the schema follows it.
const CLAUDE_SYSTEM: &str = "Answer with one JSON value and nothing else: no prose, no Markdown fence. \
It must match this JSON Schema:";

/// Where and with what a workflow runs: what spec runs are given (the directory relative
/// workflow paths are resolved against, the work tree, the observer, Ctrl+C's token, and the
/// model, made when a step first needs one: a run of shell steps needs no key), and the
/// run's settings (its model, its one budget, the sessions' settings) and prices.
pub struct Runtime<'a> {
    pub base: spec::Runtime<'a>,
    pub config: SessionConfig,
    pub pricing: Pricing,
}

/// What the whole run has done so far, across nested workflows.
struct RunState {
    /// Spent so far; `None` once a cost was unknown.
    spent: Option<f64>,
    /// Whether sessions work on the branch that is checked out (the run's own, or the
    /// user's with `--in-place`).
    sessions_in_place: bool,
    model: Option<Arc<dyn Model>>,
    /// The step label and session `--resume` continues, until that step takes it.
    resume: Option<(String, String)>,
}

impl RunState {
    fn add(&mut self, cost: Option<f64>) {
        self.spent = self.spent.zip(cost).map(|(a, b)| a + b);
    }
}

/// How a workflow ended.
pub struct Ended {
    pub outcome: WorkflowOutcome,
    /// The step that failed the run, and why.
    pub failed: Option<(String, String)>,
}

/// How a run starts: afresh, continuing a recorded run (`--resume`), or at a step
/// (`--from`) or with one step alone (`--only`), earlier steps' results taken from the
/// workflow's last recorded run.
#[derive(Debug, Default, Clone)]
pub struct Start {
    /// `Some(None)`: the workflow's last run that did not succeed; `Some(Some(id))`: that run.
    pub resume: Option<Option<String>>,
    pub from: Option<String>,
    pub only: Option<String>,
}

/// Where a run starts: the results of the steps it does not run, the first step that
/// runs, and the session an interrupted improve step resumes.
struct Plan {
    /// Results of the steps before `first` (and, with `only`, the others), by label, and
    /// the run each came from.
    restored: BTreeMap<String, (StepResult, String)>,
    /// Index of the first step that runs.
    first: usize,
    /// With `--only`: the one step that runs.
    only: Option<String>,
    /// The session an interrupted improve step resumes, and that step's label.
    resume_session: Option<(String, String)>,
}

/// What the top-level workflow of a run carries besides its steps: its record (saved
/// before and after each step) and its [`Plan`].
struct Top {
    layout: Layout,
    record: Arc<Mutex<RunRecord>>,
    plan: Plan,
}

impl Top {
    fn save(&self) {
        let record = self.record.lock().unwrap_or_else(|p| p.into_inner());
        // A failed save loses only what `--resume` knows; the run itself goes on.
        let _ = record.save(&self.layout);
    }

    fn update(&self, f: impl FnOnce(&mut RunRecord)) {
        f(&mut self.record.lock().unwrap_or_else(|p| p.into_inner()));
        self.save();
    }
}

/// The observer of a run: journals the workflow's own events in the run's
/// `events.jsonl` (sessions journal theirs), and notes in the run's record each session a
/// step starts, so an interrupted improve step resumes its session. Then hands every
/// event on.
struct RunObserver {
    inner: Arc<dyn Observer>,
    journal: Journal,
    layout: Layout,
    record: Arc<Mutex<RunRecord>>,
}

impl Observer for RunObserver {
    fn event(&self, session: &str, event: &Event) {
        if session.is_empty() {
            let envelope = Envelope { session, event };
            if let Err(e) = self.journal.append(&envelope) {
                self.inner.warn(session, &format!("could not write the run's journal: {e:#}"));
            }
        } else if let Event::SessionStarted { .. } = event {
            let mut record = self.record.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(step) = record.steps.iter_mut().rev().find(|s| s.state == StepState::Running)
                && !step.sessions.iter().any(|s| s == session)
            {
                step.sessions.push(session.to_string());
                let _ = record.save(&self.layout);
            }
        }
        self.inner.event(session, event);
    }
    fn activity(&self, session: &str, what: Option<String>) {
        self.inner.activity(session, what);
    }
    fn text(&self, session: &str, block: &str) {
        self.inner.text(session, block);
    }
    fn warn(&self, session: &str, message: &str) {
        self.inner.warn(session, message);
    }
}

/// Runs `workflow` (checked) with `inputs` (typed, defaults filled in) to its end, as
/// `start` says. An `Err` means it could not start (a dirty tree, an unpriced budget, no
/// run to resume); how it ended is the exit.
pub async fn run(
    rt: &Runtime<'_>,
    workflow: &Workflow,
    inputs: BTreeMap<String, InputValue>,
    start: &Start,
) -> anyhow::Result<()> {
    setup::refuse_unpriced_budget_of(&rt.pricing, &rt.config.model, rt.config.budget_usd)?;
    let root = rt.base.git.root().to_path_buf();
    let layout = Layout::new(&root);
    let name = &workflow.name;
    let (record, plan, _lock) = match &start.resume {
        Some(id) => resumed(rt, &layout, workflow, id.as_deref())?,
        None => fresh(rt, &layout, workflow, inputs, start)?,
    };
    let resumed = start.resume.is_some();
    let run_id = record.id.clone();
    let inputs = record.inputs.clone();
    let branch = record.branch.clone();
    let record = Arc::new(Mutex::new(record));
    let top = Top { layout: layout.clone(), record: record.clone(), plan };
    top.update(|r| r.status = RunStatus::Running);
    let journal = Journal::open(&layout.session_dir(&run_id).join("events.jsonl"))?;
    let observer = Arc::new(RunObserver { inner: rt.base.observer.clone(), journal, layout, record });
    let rt = Runtime {
        base: spec::Runtime {
            cwd: rt.base.cwd.clone(),
            git: rt.base.git.clone(),
            observer,
            cancel: rt.base.cancel.clone(),
            model: rt.base.model,
        },
        config: rt.config.clone(),
        pricing: rt.pricing.clone(),
    };
    let mut state =
        RunState { spent: Some(0.0), sessions_in_place: true, model: None, resume: top.plan.resume_session.clone() };
    let begin = Begin { branch, run: Some(run_id.clone()), resumed, top: Some(&top) };
    let ended = run_workflow(&rt, &mut state, workflow, inputs, begin).await?;
    top.update(|r| {
        r.status = match ended.outcome {
            WorkflowOutcome::Success => RunStatus::Success,
            WorkflowOutcome::Failure => RunStatus::Failure,
            WorkflowOutcome::Interrupted => RunStatus::Interrupted,
        }
    });
    let again = format!("`mmm workflow run {} --resume`", workflow.path.display());
    match (ended.outcome, ended.failed) {
        (WorkflowOutcome::Success, _) => Ok(()),
        (WorkflowOutcome::Interrupted, _) => {
            Err(CliError::interrupted(format!("interrupted: workflow `{name}` stopped"))
                .with_hint(format!(
                    "a session cut off by Ctrl+C was rolled back; continue from the step it was on with {again}"
                ))
                .into())
        }
        (WorkflowOutcome::Failure, failed) => {
            let (step, error) = failed.unwrap_or_default();
            Err(CliError::failure(format!("workflow `{name}` failed at step `{step}`: {error}"))
                .with_hint(format!(
                    "the step lines above say what failed; fix the cause, then continue from that step with {again}"
                ))
                .into())
        }
    }
}

/// A new run: its branch (when it runs sessions), its record, and with `--from` or
/// `--only` the earlier steps' results from the workflow's last recorded run.
fn fresh(
    rt: &Runtime<'_>,
    layout: &Layout,
    workflow: &Workflow,
    inputs: BTreeMap<String, InputValue>,
    start: &Start,
) -> anyhow::Result<(RunRecord, Plan, WorkTreeLock)> {
    let labels: Vec<String> = workflow.steps.iter().map(Step::label).collect();
    let position = |flag: &str, step: &str| -> anyhow::Result<usize> {
        labels.iter().position(|l| l == step).ok_or_else(|| {
            CliError::usage(format!("`--{flag} {step}`: the workflow `{}` has no step `{step}`", workflow.name))
                .with_hint(format!("its steps: {}", labels.join(", ")))
                .into()
        })
    };
    let first = match (&start.from, &start.only) {
        (Some(step), _) => position("from", step)?,
        (None, Some(step)) => position("only", step)?,
        (None, None) => 0,
    };
    let root = rt.base.git.root();
    let mut record =
        RunRecord::new(super::engine::session_id(), workflow.name.clone(), workflow.path.display().to_string(), inputs);
    let mut restored = BTreeMap::new();
    if (start.from.is_some() || start.only.is_some())
        && let Some(last) = RunRecord::all_of(layout, &workflow.name).pop()
    {
        for (label, result) in last.done_results() {
            restored.insert(label, (result, last.id.clone()));
        }
        record.based_on = Some(last.id);
    }
    layout.ensure_gitignore()?;
    if runs_sessions(&rt.base.cwd, root, workflow)? {
        let dirty = setup::user_changes(&rt.base.git)?;
        setup::preflight(&rt.base.git, &dirty, false, rt.config.in_place)?;
        if !rt.config.in_place {
            let base = format!(
                "mmm/workflow-{}-{}",
                branch_word(&workflow.name),
                jiff::Zoned::now().strftime("%Y%m%d-%H%M%S")
            );
            let name = super::engine::free_branch_name(&rt.base.git, &base)?;
            rt.base.git.create_branch_and_switch(&name)?;
            record.branch = Some(name);
        } else {
            record.branch = rt.base.git.current_branch()?;
        }
    }
    let lock = WorkTreeLock::acquire(&layout.session_dir(&record.id).join("lock"), &record.id)?;
    record.save(layout)?;
    let plan = Plan { restored, first, only: start.only.clone(), resume_session: None };
    Ok((record, plan, lock))
}

/// `--resume`: the run `id` names (or the workflow's last one that did not succeed), on
/// its branch, from the first step that is not done; the steps before it keep their
/// results, and an improve step cut off mid-session resumes that session (the engine's
/// recovery puts its work tree right).
fn resumed(
    rt: &Runtime<'_>,
    layout: &Layout,
    workflow: &Workflow,
    id: Option<&str>,
) -> anyhow::Result<(RunRecord, Plan, WorkTreeLock)> {
    let name = &workflow.name;
    let record = match id {
        Some(id) => {
            let file = RunRecord::file(layout, id);
            if !file.exists() {
                return Err(CliError::usage(format!("no workflow run `{id}` in {}", layout.sessions_dir().display()))
                    .with_hint(format!("`mmm workflow show {name}` names the last run"))
                    .into());
            }
            let record = RunRecord::load(&file)?;
            if record.workflow != *name {
                return Err(CliError::usage(format!(
                    "run {id} is a run of the workflow `{}`, not `{name}`",
                    record.workflow
                ))
                .with_hint(format!("resume it with `mmm workflow run {} --resume {id}`", record.path))
                .into());
            }
            record
        }
        None => match RunRecord::all_of(layout, name).pop() {
            Some(record) => record,
            None => {
                return Err(CliError::usage(format!("the workflow `{name}` has no run to resume"))
                    .with_hint(format!("start one with `mmm workflow run {}`", workflow.path.display()))
                    .into());
            }
        },
    };
    if record.status == RunStatus::Success {
        return Err(CliError::usage(format!("run {} of `{name}` already succeeded", record.id))
            .with_hint(format!(
                "start a new run with `mmm workflow run {}` (`--from STEP` starts at a step)",
                workflow.path.display()
            ))
            .into());
    }
    let lock = WorkTreeLock::acquire(&layout.session_dir(&record.id).join("lock"), &record.id)?;
    let mut restored = BTreeMap::new();
    let mut first = workflow.steps.len();
    for (i, step) in workflow.steps.iter().enumerate() {
        let label = step.label();
        match record.step(&label).filter(|s| s.is_done()).and_then(|s| s.result.clone()) {
            Some(result) => {
                restored.insert(label, (result, record.id.clone()));
            }
            None => {
                first = i;
                break;
            }
        }
    }
    let resume_session = workflow.steps.get(first).and_then(|step| {
        let label = step.label();
        let cut = record.step(&label).filter(|s| matches!(s.state, StepState::Running | StepState::Interrupted))?;
        let id = cut.sessions.last()?;
        let session = SessionRecord::load(&layout.session_dir(id).join("session.json")).ok()?;
        let resumable = matches!(step.kind, StepKind::Improve(_))
            && !session.status.is_finished()
            && session.undone.is_none()
            && matches!(session.stop_reason, None | Some(StopReason::Interrupted));
        resumable.then(|| (label, id.clone()))
    });
    if let Some(branch) = &record.branch
        && rt.base.git.current_branch()?.as_deref() != Some(branch.as_str())
    {
        let dirty = setup::user_changes(&rt.base.git)?;
        setup::preflight(&rt.base.git, &dirty, false, false)?;
        rt.base.git.switch(branch)?;
    }
    let plan = Plan { restored, first, only: None, resume_session };
    Ok((record, plan, lock))
}

/// Whether the workflow (or one it runs) has a step that commits: an improve or spec step.
fn runs_sessions(cwd: &Path, root: &Path, workflow: &Workflow) -> anyhow::Result<bool> {
    for step in &workflow.steps {
        match &step.kind {
            StepKind::Improve(_) | StepKind::Spec(_) => return Ok(true),
            StepKind::Workflow(nested) => {
                let path = crate::workflow::nested_path(cwd, &workflow.path, root, &nested.path.value);
                // Checked before the run, so it parses and has no cycle.
                if let Ok(inner) = crate::workflow::load_in(cwd, &path)?
                    && runs_sessions(cwd, root, &inner)?
                {
                    return Ok(true);
                }
            }
            StepKind::Shell(_) | StepKind::Claude(_) => {}
        }
    }
    Ok(false)
}

/// A workflow name as a word of a branch name.
fn branch_word(name: &str) -> String {
    let word: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    word.trim_matches('-').chars().take(40).collect()
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// How a workflow begins: the branch its sessions commit to, and for the top-level
/// workflow of a run its id, whether it is resumed, and its [`Top`].
struct Begin<'t> {
    branch: Option<String>,
    run: Option<String>,
    resumed: bool,
    top: Option<&'t Top>,
}

/// One workflow, nested or not: its steps in order, each condition, each step's tries.
fn run_workflow<'a>(
    rt: &'a Runtime<'_>,
    state: &'a mut RunState,
    workflow: &'a Workflow,
    inputs: BTreeMap<String, InputValue>,
    begin: Begin<'a>,
) -> Boxed<'a, anyhow::Result<Ended>> {
    Box::pin(async move {
        let started = Instant::now();
        let name = workflow.name.clone();
        let top = begin.top;
        rt.base.observer.event(
            "",
            &Event::WorkflowStarted {
                workflow: name.clone(),
                path: workflow.path.display().to_string(),
                steps: workflow.steps.iter().map(Step::label).collect(),
                branch: begin.branch,
                run: begin.run,
                resumed: begin.resumed,
            },
        );
        let mut ctx = Context { inputs, ..Context::default() };
        ctx.run.cost_usd = state.spent;
        let (mut succeeded, mut failed, mut skipped) = (0, 0, 0);
        let mut failure = None;
        let mut interrupted = false;
        for (index, step) in workflow.steps.iter().enumerate() {
            if rt.base.cancel.is_cancelled() {
                interrupted = true;
                break;
            }
            if let Some(top) = top {
                let plan = &top.plan;
                let runs = match &plan.only {
                    Some(only) => *only == step.label(),
                    None => index >= plan.first,
                };
                if !runs {
                    if plan.only.is_some() && index > plan.first {
                        break;
                    }
                    let label = step.label();
                    let (result, from_run) = match plan.restored.get(&label) {
                        Some((result, run)) => (result.clone(), Some(run.clone())),
                        None => (StepResult::new(Outcome::Skipped), None),
                    };
                    let event = Event::StepRestored {
                        workflow: name.clone(),
                        step: label.clone(),
                        outcome: result.outcome,
                        from_run,
                    };
                    rt.base.observer.event("", &event);
                    top.update(|r| {
                        let i = r.begin(label);
                        r.steps[i].state = state_of(result.outcome);
                        r.steps[i].continued = result.outcome == Outcome::Failure;
                        r.steps[i].result = Some(result.clone());
                    });
                    if let Some(id) = &step.id {
                        ctx.steps.insert(id.value.clone(), result);
                    }
                    continue;
                }
                top.update(|r| {
                    r.begin(step.label());
                });
            }
            let condition = step.when.as_ref().map_or(expr::DEFAULT_WHEN, |w| w.value.as_str()).to_string();
            let finished =
                |outcome, attempts, duration: Duration, result: &StepResult, error: Option<String>, continued| {
                    Event::StepFinished {
                        workflow: name.clone(),
                        step: step.label(),
                        kind: step.kind.name().to_string(),
                        outcome,
                        condition: condition.clone(),
                        attempts,
                        duration_ms: duration.as_millis() as u64,
                        exit_code: result.exit_code,
                        cost_usd: result.cost_usd,
                        commits: result.commits.clone(),
                        summary: result.summary.clone(),
                        error,
                        continued,
                    }
                };
            let run_it = match expr::condition(&condition, &ctx) {
                Ok(value) => Ok(value),
                Err(e) => Err(format!("its condition `{condition}` failed: {e}")),
            };
            let (result, error, attempts, duration) = match run_it {
                Ok(false) => {
                    let result = StepResult::new(Outcome::Skipped);
                    rt.base.observer.event("", &finished(Outcome::Skipped, 0, Duration::ZERO, &result, None, false));
                    record_step(top, step, StepState::Skipped, &result, 0, Duration::ZERO, None, false);
                    skipped += 1;
                    if let Some(id) = &step.id {
                        ctx.steps.insert(id.value.clone(), result);
                    }
                    continue;
                }
                Err(error) => (StepResult::new(Outcome::Failure), Some(error), 0, Duration::ZERO),
                Ok(true) => {
                    let began = Instant::now();
                    let (tried, attempts) = tries(rt, state, workflow, step, &ctx).await?;
                    if tried.interrupted {
                        interrupted = true;
                        let result = tried.result;
                        let event = finished(
                            Outcome::Failure,
                            attempts,
                            began.elapsed(),
                            &result,
                            Some("interrupted".into()),
                            false,
                        );
                        rt.base.observer.event("", &event);
                        let error = Some("interrupted".to_string());
                        record_step(
                            top,
                            step,
                            StepState::Interrupted,
                            &result,
                            attempts,
                            began.elapsed(),
                            error,
                            false,
                        );
                        failed += 1;
                        break;
                    }
                    (tried.result, tried.error, attempts, began.elapsed())
                }
            };
            ctx.run.cost_usd = state.spent;
            let outcome = result.outcome;
            let continued = outcome == Outcome::Failure && step.continue_on_error;
            rt.base.observer.event("", &finished(outcome, attempts, duration, &result, error.clone(), continued));
            record_step(top, step, state_of(outcome), &result, attempts, duration, error.clone(), continued);
            if outcome == Outcome::Failure {
                failed += 1;
                if !continued && !ctx.run.failed {
                    ctx.run.failed = true;
                    ctx.run.failed_step = Some(step.label());
                    failure = Some((step.label(), error.unwrap_or_default()));
                }
            } else {
                succeeded += 1;
            }
            if let Some(id) = &step.id {
                ctx.steps.insert(id.value.clone(), result);
            }
        }
        let outcome = match (interrupted, &failure) {
            (true, _) => WorkflowOutcome::Interrupted,
            (false, Some(_)) => WorkflowOutcome::Failure,
            (false, None) => WorkflowOutcome::Success,
        };
        rt.base.observer.event(
            "",
            &Event::WorkflowFinished {
                workflow: name,
                outcome,
                failed_step: failure.as_ref().map(|(step, _)| step.clone()),
                succeeded,
                failed,
                skipped,
                cost_usd: state.spent,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
        );
        Ok(Ended { outcome, failed: failure })
    })
}

/// Notes how a top-level step ended in the run's record.
#[allow(clippy::too_many_arguments)]
fn record_step(
    top: Option<&Top>,
    step: &Step,
    state: StepState,
    result: &StepResult,
    attempts: u32,
    duration: Duration,
    error: Option<String>,
    continued: bool,
) {
    let Some(top) = top else { return };
    let label = step.label();
    top.update(|r| {
        let i = match r.steps.iter().rposition(|s| s.step == label) {
            Some(i) => i,
            None => r.begin(label),
        };
        let s = &mut r.steps[i];
        s.state = state;
        s.result = Some(result.clone());
        s.attempts = attempts;
        s.duration_ms = duration.as_millis() as u64;
        s.error = error;
        s.continued = continued;
    });
}

/// What one try of a step did.
struct Tried {
    result: StepResult,
    error: Option<String>,
    /// Ctrl+C stopped it.
    interrupted: bool,
}

impl Tried {
    fn failed(error: impl Into<String>) -> Self {
        Self { result: StepResult::new(Outcome::Failure), error: Some(error.into()), interrupted: false }
    }
}

/// A step's tries: until one succeeds, `retry.attempts` are used, or Ctrl+C; the waits
/// between them double from `retry.backoff_secs`. Every try's cost counts.
async fn tries(
    rt: &Runtime<'_>,
    state: &mut RunState,
    workflow: &Workflow,
    step: &Step,
    ctx: &Context,
) -> anyhow::Result<(Tried, u32)> {
    let attempts = step.retry.attempts;
    let mut cost = Some(0.0);
    let mut commits = Vec::new();
    for attempt in 1..=attempts {
        rt.base.observer.event(
            "",
            &Event::StepStarted {
                workflow: workflow.name.clone(),
                step: step.label(),
                kind: step.kind.name().to_string(),
                attempt,
            },
        );
        // The spinner on a terminal (a session inside the step shows its own while it runs).
        let tries = if attempts > 1 { format!(", try {attempt} of {attempts}") } else { String::new() };
        let what = format!("{}: step {} ({}{tries})", workflow.name, step.label(), step.kind.name());
        rt.base.observer.activity("", Some(what));
        let tried = once(rt, state, workflow, step, ctx).await;
        rt.base.observer.activity("", None);
        let mut tried = tried?;
        // A nested workflow's steps count their own costs in the run's as they go.
        if !matches!(step.kind, StepKind::Workflow(_)) {
            state.add(tried.result.cost_usd);
        }
        cost = cost.zip(tried.result.cost_usd).map(|(a, b)| a + b);
        commits.extend(tried.result.commits.iter().cloned());
        let last = attempt == attempts || tried.result.outcome == Outcome::Success || tried.interrupted;
        if last {
            tried.result.cost_usd = cost;
            tried.result.commits = commits;
            return Ok((tried, attempt));
        }
        let wait = step.retry.wait_before(attempt + 1);
        rt.base.observer.event(
            "",
            &Event::StepRetry {
                workflow: workflow.name.clone(),
                step: step.label(),
                attempt,
                attempts,
                wait_ms: wait.as_millis() as u64,
                error: tried.error.clone().unwrap_or_default(),
            },
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = rt.base.cancel.cancelled() => {
                tried.interrupted = true;
                tried.result.cost_usd = cost;
                tried.result.commits = commits;
                return Ok((tried, attempt));
            }
        }
    }
    unreachable!("the last try returns")
}

/// One try of a step. `Err` only for mmm's own failures (git, the disk).
async fn once(
    rt: &Runtime<'_>,
    state: &mut RunState,
    workflow: &Workflow,
    step: &Step,
    ctx: &Context,
) -> anyhow::Result<Tried> {
    Ok(match &step.kind {
        StepKind::Shell(command) => shell(rt, step, &command.value, ctx).await?,
        StepKind::Improve(improve) => improve_step(rt, state, step, improve, ctx).await?,
        StepKind::Spec(path) => spec_step(rt, state, step, &path.value).await?,
        StepKind::Claude(claude) => claude_step(rt, state, step, claude, ctx).await,
        StepKind::Workflow(nested) => nested_step(rt, state, workflow, nested, ctx).await?,
    })
}

/// A shell step: the command as written, at the repository root, with the context as
/// environment variables (and the step's own `env:`, rendered), like a check.
async fn shell(rt: &Runtime<'_>, step: &Step, command: &str, ctx: &Context) -> anyhow::Result<Tried> {
    let mut env = expr::shell_env(ctx);
    for (name, value) in &step.env {
        match expr::render(&value.value, ctx) {
            Ok(text) => env.push((name.clone(), text)),
            Err(e) => return Ok(Tried::failed(format!("the value of `{name}` could not be rendered: {e}"))),
        }
    }
    let files = tempfile::Builder::new().prefix("mmm-step-").tempdir()?;
    let env = capped(env, files.path())?;
    let timeout = step.timeout.unwrap_or(rt.config.check_timeout);
    let ran = tokio::select! {
        r = exec::run_with_env(command, rt.base.git.root(), timeout, &rt.config.pass_env, &env) => r,
        _ = rt.base.cancel.cancelled() => {
            return Ok(Tried { interrupted: true, ..Tried::failed("interrupted") });
        }
    };
    let ran = match ran {
        Ok(ran) => ran,
        Err(e) => return Ok(Tried::failed(format!("{e:#}"))),
    };
    let outcome = if ran.passed() { Outcome::Success } else { Outcome::Failure };
    let error = match (ran.timed_out, ran.exit_code) {
        _ if ran.passed() => None,
        (true, _) => Some(format!("timed out after {}", crate::settings::value::format_duration(timeout))),
        (false, Some(code)) => Some(format!("exited with {code}")),
        (false, None) => Some("killed by a signal".to_string()),
    };
    let mut result = StepResult::new(outcome);
    result.exit_code = ran.exit_code;
    result.cost_usd = Some(0.0);
    result.output = Some(ran.output);
    Ok(Tried { result, error, interrupted: false })
}

/// Each value at most [`MAX_ENV_VALUE`] bytes; a longer one is cut (on a character
/// boundary) and written whole to a file in `dir`, named by `<NAME>_FILE`. NUL, which no
/// environment value can hold, becomes U+FFFD.
fn capped(env: Vec<(String, String)>, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(env.len());
    for (name, value) in env {
        let value = if value.contains('\0') { value.replace('\0', "\u{FFFD}") } else { value };
        if value.len() <= MAX_ENV_VALUE {
            out.push((name, value));
            continue;
        }
        let file = dir.join(&name);
        std::fs::write(&file, &value)?;
        let cut = (0..=MAX_ENV_VALUE).rev().find(|&i| value.is_char_boundary(i)).unwrap_or(0);
        out.push((format!("{name}_FILE"), file.display().to_string()));
        out.push((name, value[..cut].to_string()));
    }
    Ok(out)
}

/// The run's budget left, when it has one.
fn budget_left(rt: &Runtime<'_>, state: &RunState) -> Option<f64> {
    rt.config.budget_usd.map(|budget| budget - state.spent.unwrap_or(0.0))
}

/// A model for the run, made once.
fn model(rt: &Runtime<'_>, state: &mut RunState) -> anyhow::Result<Arc<dyn Model>> {
    if let Some(model) = &state.model {
        return Ok(model.clone());
    }
    let model = (rt.base.model)()?;
    state.model = Some(model.clone());
    Ok(model)
}

/// The settings a step's session runs with: the run's, on the run's branch, within what
/// is left of the run's budget.
fn session_config(rt: &Runtime<'_>, state: &RunState) -> Result<SessionConfig, String> {
    let mut config = rt.config.clone();
    config.in_place = state.sessions_in_place;
    if let Some(left) = budget_left(rt, state) {
        if left <= 0.0 {
            return Err(format!("the run's budget of ${} is spent", rt.config.budget_usd.unwrap_or(0.0)));
        }
        config.budget_usd = Some(left);
    }
    Ok(config)
}

/// A cancellation token for one step's session: cancelled by Ctrl+C (the run's token) or
/// when the step's timeout passes. Returns the token and whether the timeout fired.
fn step_token(rt: &Runtime<'_>, step: &Step) -> (CancellationToken, Arc<std::sync::atomic::AtomicBool>) {
    let token = rt.base.cancel.child_token();
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(timeout) = step.timeout {
        let (token, fired) = (token.clone(), fired.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {
                    fired.store(true, std::sync::atomic::Ordering::SeqCst);
                    token.cancel();
                }
                _ = token.cancelled() => {}
            }
        });
    }
    (token, fired)
}

/// How a step's sessions ended, as a try: Ctrl+C, the step's timeout, or the session's own
/// exit (success, or the error `mmm improve` / `mmm run` would exit with).
fn session_try(
    rt: &Runtime<'_>,
    step: &Step,
    fired: &std::sync::atomic::AtomicBool,
    exit: anyhow::Result<()>,
    mut result: StepResult,
) -> Tried {
    if fired.load(std::sync::atomic::Ordering::SeqCst) {
        let timeout = step.timeout.map(crate::settings::value::format_duration).unwrap_or_default();
        result.outcome = Outcome::Failure;
        return Tried {
            result,
            error: Some(format!("timed out after {timeout}; its session was rolled back")),
            interrupted: false,
        };
    }
    if rt.base.cancel.is_cancelled() {
        result.outcome = Outcome::Failure;
        return Tried { result, error: Some("interrupted".into()), interrupted: true };
    }
    match exit {
        Ok(()) => {
            result.outcome = Outcome::Success;
            Tried { result, error: None, interrupted: false }
        }
        Err(e) => {
            result.outcome = Outcome::Failure;
            Tried { result, error: Some(format!("{e:#}")), interrupted: false }
        }
    }
}

/// What a finished session exposes: its score, commits, cost, and a line of what it did.
fn session_result(record: &SessionRecord) -> StepResult {
    let mut result = StepResult::new(Outcome::Failure);
    result.score = record.score_now();
    result.commits = record.commits().map(str::to_string).collect();
    result.cost_usd = record.cost_usd;
    let kept: Vec<&str> =
        record.iterations.iter().filter(|i| i.commit.is_some()).filter_map(|i| i.summary.as_deref()).collect();
    result.summary = Some(match (kept.as_slice(), &record.stop_reason) {
        ([], Some(reason)) => reason.to_string(),
        ([], None) => "nothing was kept".to_string(),
        (kept, _) => kept.join("; "),
    });
    result
}

/// An improve step: a session of the improve policy on the run's branch.
async fn improve_step(
    rt: &Runtime<'_>,
    state: &mut RunState,
    step: &Step,
    improve: &ImproveStep,
    ctx: &Context,
) -> anyhow::Result<Tried> {
    let mut config = match session_config(rt, state) {
        Ok(config) => config,
        Err(e) => return Ok(Tried::failed(e)),
    };
    let focus = match &improve.focus {
        Some(focus) => match expr::render(&focus.value, ctx) {
            Ok(text) => Some(text),
            Err(e) => return Ok(Tried::failed(format!("the focus could not be rendered: {e}"))),
        },
        None => None,
    };
    if let Some(n) = improve.max_iterations {
        config.max_iterations = n;
    }
    if let Some(target) = improve.target {
        config.target = target;
    }
    if let Some(model) = &improve.model {
        config.model = model.clone();
    }
    if let Some(budget) = improve.budget_usd {
        config.budget_usd = Some(config.budget_usd.map_or(budget, |left| left.min(budget)));
    }
    let model = match model(rt, state) {
        Ok(model) => model,
        Err(e) => return Ok(Tried::failed(format!("{e:#}"))),
    };
    let (cancel, fired) = step_token(rt, step);
    let env = Env::new(rt.base.git.clone(), model, rt.base.observer.clone(), cancel.clone(), &config);
    let resume = state.resume.take().filter(|(label, _)| *label == step.label()).map(|(_, id)| Some(id));
    let opts = ImproveOptions { focus, allow_dirty: false, resume, use_cache: true };
    let finished = improve::run(env, &config, &rt.pricing, &opts).await;
    cancel.cancel();
    Ok(match finished {
        Err(e) => session_try(rt, step, &fired, Err(e), StepResult::new(Outcome::Failure)),
        Ok(finished) => {
            let result = session_result(&finished.record);
            session_try(rt, step, &fired, exit_result(finished, "improve", None), result)
        }
    })
}

/// A spec step: `mmm run <path>` on the run's branch, one spec session per pending spec.
async fn spec_step(rt: &Runtime<'_>, state: &mut RunState, step: &Step, path: &str) -> anyhow::Result<Tried> {
    let config = match session_config(rt, state) {
        Ok(config) => config,
        Err(e) => return Ok(Tried::failed(e)),
    };
    let model = match model(rt, state) {
        Ok(model) => model,
        Err(e) => return Ok(Tried::failed(format!("{e:#}"))),
    };
    let (cancel, fired) = step_token(rt, step);
    let make_model = move || Ok(model.clone());
    let spec_rt = spec::Runtime {
        cwd: rt.base.git.root().to_path_buf(),
        git: rt.base.git.clone(),
        observer: rt.base.observer.clone(),
        cancel: cancel.clone(),
        model: &make_model,
    };
    let opts = RunOptions { path: Some(PathBuf::from(path)), ..RunOptions::default() };
    let ran = spec::run(&spec_rt, &config, &rt.pricing, &opts).await;
    cancel.cancel();
    let outcome = match ran {
        Err(e) => return Ok(session_try(rt, step, &fired, Err(e), StepResult::new(Outcome::Failure))),
        Ok(outcome) => outcome,
    };
    let layout = crate::state::Layout::new(rt.base.git.root());
    let mut result = StepResult::new(Outcome::Failure);
    result.cost_usd = Some(0.0);
    let mut summaries = Vec::new();
    for id in &outcome.sessions {
        let record = SessionRecord::load(&layout.session_dir(id).join("session.json"))?;
        let one = session_result(&record);
        result.commits.extend(one.commits);
        result.cost_usd = result.cost_usd.zip(one.cost_usd).map(|(a, b)| a + b);
        summaries.extend(one.summary);
    }
    result.summary = Some(match summaries.len() {
        0 => "no spec needed running".to_string(),
        _ => summaries.join("; "),
    });
    Ok(session_try(rt, step, &fired, outcome.exit, result))
}

/// A `claude` step: one request without tools; its answer must be JSON matching the
/// step's schema, else the try fails (and is retried per `retry`).
async fn claude_step(rt: &Runtime<'_>, state: &mut RunState, step: &Step, claude: &ClaudeStep, ctx: &Context) -> Tried {
    let prompt = match expr::render(&claude.prompt.value, ctx) {
        Ok(prompt) => prompt,
        Err(e) => return Tried::failed(format!("the prompt could not be rendered: {e}")),
    };
    if budget_left(rt, state).is_some_and(|left| left <= 0.0) {
        return Tried::failed(format!("the run's budget of ${} is spent", rt.config.budget_usd.unwrap_or(0.0)));
    }
    let name = claude.model.clone().unwrap_or_else(|| rt.config.model.clone());
    let pricing = setup::pricing_for(&rt.pricing, &name);
    if rt.config.budget_usd.is_some() && pricing.price.is_none() {
        return Tried::failed(format!("the run has a budget, but mmm does not know the price of `{name}`"));
    }
    let model = match model(rt, state) {
        Ok(model) => model,
        Err(e) => return Tried::failed(format!("{e:#}")),
    };
    let schema_text = serde_json::to_string_pretty(&claude.schema.value).unwrap_or_default();
    let mut request = MessagesRequest::new(name, claude.max_tokens.unwrap_or(rt.config.max_output_tokens));
    request.system = vec![SystemBlock::text(format!("{CLAUDE_SYSTEM}\n{schema_text}"))];
    request.messages = vec![Message::user_text(redact(&prompt).into_owned())];
    let timeout = step.timeout.unwrap_or(Duration::from_secs(24 * 3600));
    let sent = tokio::select! {
        r = tokio::time::timeout(timeout, model.send(&request, &|_| {})) => r,
        _ = rt.base.cancel.cancelled() => return Tried { interrupted: true, ..Tried::failed("interrupted") },
    };
    let response = match sent {
        Err(_) => {
            let timeout = crate::settings::value::format_duration(timeout);
            return Tried::failed(format!("timed out after {timeout}"));
        }
        Ok(Err(e)) => return Tried::failed(format!("the request failed: {e}")),
        Ok(Ok(response)) => response,
    };
    let mut result = StepResult::new(Outcome::Failure);
    result.cost_usd = pricing.cost(&response.usage);
    let answer = response.text();
    let outcome = answer_json(&answer).and_then(|json| {
        let (schemas, index) = crate::workflow::check::compile_schema(&claude.schema.value)?;
        schemas.validate(&json, index).map_err(|e| format!("the answer does not match the schema: {e}"))?;
        Ok(json)
    });
    match outcome {
        Ok(json) => {
            result.outcome = Outcome::Success;
            let line = json.to_string();
            result.summary = Some(if line.chars().count() > 100 {
                format!("{}…", line.chars().take(99).collect::<String>())
            } else {
                line
            });
            result.json = Some(json);
            Tried { result, error: None, interrupted: false }
        }
        Err(error) => {
            result.output = Some(redact(&answer).into_owned());
            Tried { result, error: Some(error), interrupted: false }
        }
    }
}

/// The JSON value of an answer: the text, or the inside of one Markdown code fence.
fn answer_json(text: &str) -> Result<serde_json::Value, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(inner.trim()).map_err(|e| format!("the answer is not JSON ({e})"))
}

/// A `workflow` step: the nested workflow, with its inputs rendered and typed.
async fn nested_step(
    rt: &Runtime<'_>,
    state: &mut RunState,
    workflow: &Workflow,
    nested: &NestedStep,
    ctx: &Context,
) -> anyhow::Result<Tried> {
    let root = rt.base.git.root().to_path_buf();
    let path = crate::workflow::nested_path(&rt.base.cwd, &workflow.path, &root, &nested.path.value);
    let inner = match crate::workflow::check::load(&rt.base.cwd, &root, &path)? {
        Ok(inner) => inner,
        Err(problems) => return Ok(Tried::failed(crate::workflow::problems_error(&problems).to_string())),
    };
    let mut given = Vec::new();
    for (name, value) in &nested.inputs {
        match expr::render(&value.value, ctx) {
            Ok(text) => given.push((name.clone(), text)),
            Err(e) => return Ok(Tried::failed(format!("the input `{name}` could not be rendered: {e}"))),
        }
    }
    let inputs = match inputs_for(&inner, &given) {
        Ok(inputs) => inputs,
        Err(e) => return Ok(Tried::failed(e)),
    };
    let spent_before = state.spent;
    let begin = Begin { branch: None, run: None, resumed: false, top: None };
    let ended = run_workflow(rt, state, &inner, inputs, begin).await?;
    let mut result = StepResult::new(Outcome::Failure);
    // The nested steps counted their costs in the run's as they went.
    result.cost_usd = state.spent.zip(spent_before).map(|(now, before)| now - before);
    Ok(match ended.outcome {
        WorkflowOutcome::Success => {
            result.outcome = Outcome::Success;
            result.summary = Some(format!("workflow `{}` succeeded", inner.name));
            Tried { result, error: None, interrupted: false }
        }
        WorkflowOutcome::Interrupted => Tried { result, error: Some("interrupted".into()), interrupted: true },
        WorkflowOutcome::Failure => {
            let (step, error) = ended.failed.unwrap_or_default();
            Tried {
                result,
                error: Some(format!("workflow `{}` failed at step `{step}`: {error}", inner.name)),
                interrupted: false,
            }
        }
    })
}

/// A workflow's inputs from `given` (`name`, text) and its defaults, typed; every input it
/// has no default for must be given, and nothing else.
pub fn inputs_for(workflow: &Workflow, given: &[(String, String)]) -> Result<BTreeMap<String, InputValue>, String> {
    let mut inputs = BTreeMap::new();
    for (name, text) in given {
        let Some(input) = workflow.inputs.iter().find(|i| &i.name == name) else {
            let known: Vec<&str> = workflow.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "the workflow `{}` has no input `{name}` (it has: {})",
                workflow.name,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
        };
        let value = input.kind.parse(text).map_err(|e| format!("input `{name}`: {e}"))?;
        inputs.insert(name.clone(), value);
    }
    for input in &workflow.inputs {
        if inputs.contains_key(&input.name) {
            continue;
        }
        match &input.default {
            Some(value) => {
                inputs.insert(input.name.clone(), value.clone());
            }
            None => {
                return Err(format!(
                    "the workflow `{}` needs the input `{}` ({}), which has no default",
                    workflow.name,
                    input.name,
                    input.kind.as_str()
                ));
            }
        }
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_given_whole_in_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let long = "é".repeat(40_000);
        let env = capped(vec![("A".into(), "short\0".into()), ("B".into(), long.clone())], dir.path()).unwrap();
        let file = dir.path().join("B");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), long);
        assert_eq!(
            env,
            [
                ("A".to_string(), "short\u{FFFD}".to_string()),
                ("B_FILE".to_string(), file.display().to_string()),
                ("B".to_string(), "é".repeat(MAX_ENV_VALUE / 2)),
            ]
        );
    }

    #[test]
    fn answers_are_json_bare_or_fenced() {
        assert_eq!(answer_json(" {\"a\": 1} "), Ok(serde_json::json!({"a": 1})));
        assert_eq!(answer_json("```json\n{\"a\": 1}\n```"), Ok(serde_json::json!({"a": 1})));
        assert!(answer_json("Here it is: {}").unwrap_err().starts_with("the answer is not JSON"));
    }

    #[test]
    fn branch_words_are_safe() {
        assert_eq!(branch_word("tidy and test!"), "tidy-and-test");
    }
}
