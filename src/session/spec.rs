//! `mmm run`: implement spec files until their acceptance criteria hold.
//!
//! One spec is one session, started, recorded and resumed by `session::setup` exactly like
//! an improve session. The spec's editing conversation goes through the shared
//! [`Workbench::edit_until_green`]; once the checks (the project's, then the spec's own)
//! pass, a fresh request asks the model to judge every criterion (`submit_verdict`), and
//! unmet criteria go back into the same conversation for another round. Success is one
//! commit with the criteria ticked in the spec file; failure rolls back to the start.
//! Ctrl+C rolls back, saves the session and exits 130; `--resume` starts the spec afresh
//! in the same session.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::change::{Change, ChangeKind, Workbench, commit_or_roll_back};
use super::checks;
use super::events::Event;
use super::improve::{check_plan, summary_line};
use super::prompts::{self, ProjectContext};
use super::setup::{self, NewSession, OneCall, Project, Started};
use super::stop::{self, Progress, StopReason};
use super::verdict::{self, SUBMIT_VERDICT};
use super::{Cancel, Runner};
use crate::agent::Conversation;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::git::{Git, Snapshot};
use crate::llm::{Message, MessagesRequest, Model, SystemBlock, ToolChoice};
use crate::redact::redact;
use crate::secrets::SecretFiles;
use crate::spec::{self, Spec};
use crate::state::session::{
    CriterionRecord, IterationRecord, Outcome, SessionKind, SessionRecord, SessionSettings, SessionStatus, SpecRecord,
};
use crate::state::summary::{ProjectState, SpecState, SpecStatus};
use crate::state::{self, Layout};
use crate::tools::{Tools, Workspace};

/// Most characters of the change shown to the verifier.
const MAX_CHANGE_CHARS: usize = 60_000;

/// What `mmm run` was asked to do, beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A spec file or a directory of them.
    pub path: Option<PathBuf>,
    pub only: Option<String>,
    pub keep_going: bool,
    pub force: bool,
    pub allow_dirty: bool,
    /// `Some(None)`: resume the last session; `Some(Some(id))`: that one.
    pub resume: Option<Option<String>>,
    pub verbose: bool,
}

/// What a run did: the sessions it ran (for reports and pushes), and how it ends.
pub struct RunOutcome {
    pub sessions: Vec<String>,
    /// The exit: `Ok` when every spec run was implemented, else the error to report.
    pub exit: anyhow::Result<()>,
}

/// Runs `mmm run`. An `Err` means nothing ran (bad usage, a failed preflight); otherwise
/// the outcome lists the sessions, and its `exit` says how the run ends.
pub async fn run(ctx: &Ctx<'_>, opts: &RunOptions, cancel: Cancel) -> anyhow::Result<RunOutcome> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    if let Some(id) = &opts.resume {
        return resume(ctx, opts, &git, &layout, id.as_deref(), cancel).await;
    }
    let path = opts.path.clone().context("a spec path is required")?;
    // Relative paths stay as the user typed them (the process runs in `ctx.cwd`), so
    // errors name the file the way the user knows it.
    let specs = if path.is_dir() {
        spec::load_dir(&path)?
    } else if path.is_file() {
        vec![spec::load(&path)?]
    } else {
        return Err(CliError::usage(format!("no spec file or directory at {}", path.display()))
            .with_hint("`mmm specs` lists the specs; `mmm spec new \"Title\"` writes one")
            .into());
    };
    let ordered = if path.is_dir() { spec::order(&specs)? } else { specs.iter().collect() };
    if let Some(only) = &opts.only
        && !specs.iter().any(|s| &s.id == only)
    {
        return Err(CliError::usage(format!("no spec with the id `{only}` in {}", path.display()))
            .with_hint("`mmm specs` lists the ids")
            .into());
    }
    for spec in &specs {
        relative(&git, &spec.path)?;
    }

    let mut model: Option<Arc<dyn Model>> = None;
    let mut project_state = ProjectState::load_or_default(&layout.state_file())?;
    let mut failed = Vec::new();
    let mut sessions = Vec::new();
    for spec in ordered.into_iter().filter(|s| opts.only.as_ref().is_none_or(|only| only == &s.id)) {
        let status = project_state.specs.get(&spec.id).map(|s| s.status).unwrap_or_default();
        if status == SpecStatus::Done && !opts.force {
            if ctx.printer.is_json() {
                ctx.printer.json(&serde_json::json!({"type": "spec_skipped", "spec": spec.id, "status": "done"}))?;
            } else {
                ctx.printer.line(format!("Skipping {}: done (use --force to run it again)", spec.id))?;
            }
            continue;
        }
        let outcome = match waiting_on(spec, &project_state) {
            Some(message) if !opts.force => Finished::Failed { session: None, message },
            _ => {
                let model = match &model {
                    Some(m) => m.clone(),
                    None => model.insert(setup::model(&ctx.settings)?).clone(),
                };
                let dirty = dirty_besides(&git, &specs)?;
                setup::preflight(&git, &dirty, opts.allow_dirty)?;
                // Analysed afresh for each spec: the specs before it may have changed the code.
                let project = setup::analyze(ctx, git.root(), true).await?;
                let new = new_session(ctx, &git, &project, spec, dirty)?;
                let price = setup::price_fn(&ctx.settings, &new.settings)?;
                let Started { record, runner, .. } = setup::start(ctx, &git, &layout, new, opts.verbose, price)?;
                let engine = Engine { ctx, runner, git: &git, layout: &layout, model, project: &project, spec };
                let outcome = engine.drive(record, cancel.clone()).await?;
                project_state = ProjectState::load_or_default(&layout.state_file())?;
                outcome
            }
        };
        match outcome {
            Finished::Done { session } => sessions.push(session),
            Finished::Interrupted { session } => {
                let exit = Err(interrupted(&session));
                sessions.push(session);
                return Ok(RunOutcome { sessions, exit });
            }
            Finished::Failed { session, message } => {
                sessions.extend(session.clone());
                failed.push((spec.id.clone(), session, message));
                if !opts.keep_going {
                    break;
                }
            }
        }
    }
    Ok(RunOutcome { sessions, exit: failures(failed) })
}

/// Why `spec` cannot run yet: the dependencies that are not done.
fn waiting_on(spec: &Spec, state: &ProjectState) -> Option<String> {
    let waiting: Vec<String> = spec
        .depends_on
        .iter()
        .filter(|d| state.specs.get(*d).is_none_or(|s| s.status != SpecStatus::Done))
        .map(|d| format!("`{d}`"))
        .collect();
    (!waiting.is_empty()).then(|| {
        format!(
            "it depends on {}, which {} not done",
            waiting.join(", "),
            if waiting.len() == 1 { "is" } else { "are" }
        )
    })
}

/// The session for `spec`: the settings with its own checks and rounds, and its record.
fn new_session(
    ctx: &Ctx<'_>,
    git: &Git,
    project: &Project,
    spec: &Spec,
    dirty: Vec<String>,
) -> anyhow::Result<NewSession> {
    let mut settings = setup::session_settings(&ctx.settings, None, project)?;
    settings.checks.extend(spec.validate.iter().cloned());
    if let Some(n) = spec.max_iterations {
        settings.limits.max_iterations = n;
    }
    Ok(NewSession {
        kind: SessionKind::Spec,
        branch_prefix: format!("spec-{}", spec.id),
        settings,
        dirty,
        spec: Some(SpecRecord {
            id: spec.id.clone(),
            title: spec.title.clone(),
            path: relative(git, &spec.path)?,
            criteria: Vec::new(),
            last_check_output: None,
        }),
    })
}

/// `mmm run --resume [ID]`: run an interrupted or failed spec session's spec again, in the
/// same session (its usage and limits carry on).
async fn resume(
    ctx: &Ctx<'_>,
    opts: &RunOptions,
    git: &Git,
    layout: &Layout,
    id: Option<&str>,
    cancel: Cancel,
) -> anyhow::Result<RunOutcome> {
    let (mut record, mut project_state) = setup::load_for_resume(git, layout, id, SessionKind::Spec)?;
    let spec_path = record.spec.as_ref().map(|s| git.root().join(&s.path)).context("the session names no spec")?;
    let spec = spec::load(&spec_path)?;
    let model = setup::model(&ctx.settings)?;
    let project = setup::analyze(ctx, git.root(), true).await?;
    let runner = setup::reopen(ctx, layout, &mut record, &mut project_state, opts.verbose)?;
    let engine = Engine { ctx, runner, git, layout, model, project: &project, spec: &spec };
    let session = record.id.clone();
    let exit = match engine.drive(record, cancel).await? {
        Finished::Done { .. } => Ok(()),
        Finished::Interrupted { session } => Err(interrupted(&session)),
        Finished::Failed { session, message } => failures(vec![(spec.id.clone(), session, message)]),
    };
    Ok(RunOutcome { sessions: vec![session], exit })
}

fn interrupted(session: &str) -> anyhow::Error {
    CliError::interrupted("interrupted: the spec's changes were rolled back")
        .with_hint(format!("resume with `mmm run --resume {session}`"))
        .into()
}

fn failures(failed: Vec<(String, Option<String>, String)>) -> anyhow::Result<()> {
    match failed.as_slice() {
        [] => Ok(()),
        [(id, Some(session), message)] => Err(CliError::failure(format!("spec `{id}` was not implemented: {message}"))
            .with_hint(format!("see `mmm history {session}`; edit the spec, then `mmm run` it again"))
            .into()),
        [(id, None, message)] => Err(CliError::failure(format!("spec `{id}` was not run: {message}"))
            .with_hint("run its dependencies first (`mmm run specs/` runs them in order), or pass --force")
            .into()),
        many => Err(CliError::failure(format!(
            "{} specs were not implemented: {}",
            many.len(),
            many.iter().map(|(id, ..)| format!("`{id}`")).collect::<Vec<_>>().join(", ")
        ))
        .with_hint("`mmm specs` shows their status; `mmm history <session>` what went wrong")
        .into()),
    }
}

/// A spec's path relative to the repository root; a spec outside it is refused.
fn relative(git: &Git, path: &Path) -> anyhow::Result<String> {
    let absolute = path.canonicalize().with_context(|| format!("resolving {}", path.display()))?;
    let root = git.root().canonicalize().context("resolving the repository root")?;
    match absolute.strip_prefix(&root) {
        Ok(rel) => Ok(rel.to_string_lossy().into_owned()),
        Err(_) => Err(CliError::usage(format!("the spec {} is outside the repository", path.display()))
            .with_hint("specs live in the repository they change, e.g. in specs/")
            .into()),
    }
}

/// The user's uncommitted changes, leaving out the spec files themselves (a new spec may be
/// run before it is committed; the implementing commit then adds it).
fn dirty_besides(git: &Git, specs: &[Spec]) -> anyhow::Result<Vec<String>> {
    let spec_paths: Vec<String> = specs.iter().filter_map(|s| relative(git, &s.path).ok()).collect();
    Ok(setup::user_changes(git)?.into_iter().filter(|p| !spec_paths.contains(p)).collect())
}

/// How one spec's run ended.
enum Finished {
    Done {
        session: String,
    },
    /// `session` is `None` when the spec could not start (a dependency is not done).
    Failed {
        session: Option<String>,
        message: String,
    },
    Interrupted {
        session: String,
    },
}

/// How an attempt at a spec ended, before it is recorded.
enum Attempt {
    Done { change: Change, criteria: Vec<CriterionRecord> },
    Failed { change: Option<Change>, criteria: Vec<CriterionRecord>, message: String },
}

/// A running spec session.
struct Engine<'a> {
    ctx: &'a Ctx<'a>,
    runner: Runner<'a>,
    git: &'a Git,
    layout: &'a Layout,
    model: Arc<dyn Model>,
    project: &'a Project,
    spec: &'a Spec,
}

impl Engine<'_> {
    fn session_file(&self, record: &SessionRecord) -> PathBuf {
        self.layout.session_dir(&record.id).join("session.json")
    }

    fn criteria(&self) -> Vec<String> {
        self.spec.criteria.iter().map(|c| c.text.clone()).collect()
    }

    /// Baseline, the attempt (Ctrl+C rolls it back), then the record and the state.
    async fn drive(&self, mut record: SessionRecord, cancel: Cancel) -> anyhow::Result<Finished> {
        let settings = record.settings.clone();
        let path = record.spec.as_ref().map(|s| s.path.clone()).unwrap_or_default();
        if self.spec.criteria.is_empty() {
            self.ctx.printer.warn(format!(
                "{path} has no acceptance criteria: its goal is its title and text, checked by the checks alone"
            ));
        }
        self.runner.emit(&Event::SpecStarted {
            spec: self.spec.id.clone(),
            title: self.spec.title.clone(),
            path,
            criteria: self.criteria(),
        });
        let timeout = Duration::from_secs(settings.check_timeout_secs);
        let spinner = self.ctx.printer.spinner("running the checks (baseline)");
        let baseline = tokio::select! {
            r = checks::run(&settings.checks, self.git.root(), timeout) => Some(r),
            _ = cancel.cancelled() => None,
        };
        spinner.finish();
        let Some(baseline) = baseline else {
            return self.finish(record, StopReason::Interrupted);
        };
        if record.baseline.is_empty() {
            record.baseline = checks::records(&baseline);
        }
        self.runner.emit(&Event::Baseline {
            passed: checks::passed(&settings.checks, &baseline),
            checks: checks::records(&baseline),
        });
        record.save(&self.session_file(&record))?;

        let snapshot = self.git.snapshot()?;
        let index = record.iterations.len() as u32 + 1;
        let started_at = state::now();
        let attempt = tokio::select! {
            attempt = self.attempt(&record, index) => attempt?,
            _ = cancel.cancelled() => {
                self.git.roll_back_to(&snapshot).context("rolling back the interrupted spec")?;
                return self.finish(record, StopReason::Interrupted);
            }
        };
        let it = self.keep_or_undo(&mut record, attempt, index, started_at, &snapshot)?;
        let reason = match it.outcome {
            Outcome::Committed => StopReason::Implemented { spec: self.spec.id.clone() },
            _ => StopReason::Error { message: it.error.clone().unwrap_or_default() },
        };
        self.runner.emit(&Event::Iteration(Box::new(it.clone())));
        record.iterations.push(it);
        self.finish(record, reason)
    }

    /// The editing rounds and verdicts, until every criterion is met or the rounds run out.
    async fn attempt(&self, record: &SessionRecord, index: u32) -> anyhow::Result<Attempt> {
        let settings = &record.settings;
        let workspace = Workspace::new(
            self.git.root(),
            SecretFiles::new(self.git.root(), self.ctx.settings.list("secret_files"))?,
        )?;
        let mut tools = Tools::new(workspace);
        let criteria = self.criteria();
        let spec_text = redact(&prompts::spec_text(&self.spec.title, &self.spec.body, &criteria)).into_owned();
        let mut request = MessagesRequest::new(settings.model.clone(), settings.max_output_tokens);
        request.system = vec![SystemBlock::text(prompts::implement_system(&settings.checks))];
        request.tools = tools.definitions().into_iter().map(setup::tool_from_json).collect();
        let context = ProjectContext { summary: &self.project.summary, repo_map: &self.project.repo_map };
        request.messages = vec![Message::user_text(redact(&prompts::spec_request(&context, &spec_text)).into_owned())];
        let mut conversation = Conversation::new(request);

        let workbench =
            Workbench { printer: self.ctx.printer, runner: &self.runner, git: self.git, model: self.model.as_ref() };
        let plan = check_plan(settings);
        let rounds = settings.limits.max_iterations.max(1);
        let mut verdict = Vec::new();
        let mut round = 1;
        loop {
            if let Some(reason) = self.limit_reached(settings) {
                return Ok(Attempt::Failed { change: None, criteria: verdict, message: format!("{reason}") });
            }
            let change = workbench.edit_until_green(index, &mut conversation, &mut tools, &plan).await?;
            if change.kind != ChangeKind::Green {
                let message = change.error.clone().unwrap_or_else(|| "the change did not pass the checks".into());
                return Ok(Attempt::Failed { change: Some(change), criteria: verdict, message });
            }
            if criteria.is_empty() {
                return Ok(Attempt::Done { change, criteria: verdict });
            }
            if let Some(reason) = self.limit_reached(settings) {
                let message = format!("{reason} before the criteria were verified");
                return Ok(Attempt::Failed { change: Some(change), criteria: verdict, message });
            }
            verdict = match self.verify(settings, index, &spec_text, &criteria, &change).await? {
                Ok(v) => v,
                Err(message) => return Ok(Attempt::Failed { change: Some(change), criteria: verdict, message }),
            };
            self.runner.emit(&Event::Verdict { iteration: index, round, criteria: verdict.clone() });
            let unmet: Vec<(u32, &str, &str)> =
                verdict.iter().filter(|c| !c.met).map(|c| (c.index, c.text.as_str(), c.evidence.as_str())).collect();
            if unmet.is_empty() {
                return Ok(Attempt::Done { change, criteria: verdict });
            }
            if round == rounds {
                let message =
                    format!("{} of {} criteria still unmet after {rounds} round(s)", unmet.len(), criteria.len());
                return Ok(Attempt::Failed { change: Some(change), criteria: verdict, message });
            }
            conversation.push_user_text(redact(&prompts::unmet_request(round, rounds, &unmet)).into_owned());
            round += 1;
        }
    }

    /// A fresh request asking the model to judge every criterion against the change; the
    /// verdict, or why there is none.
    async fn verify(
        &self,
        settings: &SessionSettings,
        index: u32,
        spec_text: &str,
        criteria: &[String],
        change: &Change,
    ) -> anyhow::Result<Result<Vec<CriterionRecord>, String>> {
        let checks_text = redact(&checks::describe(&settings.checks, &change.results)).into_owned();
        let diff = redact(&self.describe_change(&change.changed)?).into_owned();
        let mut request = MessagesRequest::new(settings.model.clone(), settings.max_output_tokens);
        request.system = vec![SystemBlock::text(prompts::VERIFY_SYSTEM)];
        request.tools = vec![setup::tool_from_json(verdict::submit_verdict_tool())];
        request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
        request.messages = vec![Message::user_text(prompts::verify_request(spec_text, &diff, &checks_text))];
        let parse = |input: &serde_json::Value| verdict::parse_verdict(input, criteria);
        let call = OneCall {
            tool: SUBMIT_VERDICT,
            purpose: "judge the acceptance criteria",
            parse: &parse,
            nudge: prompts::VERDICT_NUDGE,
        };
        let spinner = self.ctx.printer.spinner(format!("#{index} verifying the criteria"));
        let judged = setup::ask_for_tool(self.model.as_ref(), &self.runner, index, "verdict", request, &call).await;
        spinner.finish();
        Ok(judged.map(|(verdict, ..)| verdict).map_err(|failure| failure.message))
    }

    /// The budget, token or time limit that has been reached, if any.
    fn limit_reached(&self, settings: &SessionSettings) -> Option<StopReason> {
        let usage = self.runner.total_usage();
        let progress = Progress {
            cost_usd: (self.runner.price)(&usage).unwrap_or(0.0),
            tokens: usage.total(),
            elapsed: Duration::from_secs(self.runner.elapsed_secs()),
            ..Progress::default()
        };
        stop::before_iteration(&settings.limits, &progress).filter(|r| {
            matches!(r, StopReason::Budget { .. } | StopReason::TokenLimit { .. } | StopReason::TimeLimit { .. })
        })
    }

    /// The change for the verifier: the diff of modified files, new files in full.
    fn describe_change(&self, changed: &[String]) -> anyhow::Result<String> {
        let mut args = vec!["diff", "HEAD", "--"];
        args.extend(changed.iter().map(String::as_str));
        let mut text = self.git.run(&args)?;
        let mut args = vec!["ls-files", "--others", "--exclude-standard", "-z", "--"];
        args.extend(changed.iter().map(String::as_str));
        for new in self.git.run(&args)?.split('\0').filter(|p| !p.is_empty()) {
            let content = std::fs::read_to_string(self.git.root().join(new)).unwrap_or_default();
            text.push_str(&format!("\nNew file {new}:\n```\n{}\n```\n", content.trim_end()));
        }
        if text.len() > MAX_CHANGE_CHARS {
            let cut = (0..=MAX_CHANGE_CHARS).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
            text.push_str("\n[… the rest of the change is cut]");
        }
        Ok(text)
    }

    /// Commits a done attempt (ticking the criteria) or rolls back a failed one; the record.
    fn keep_or_undo(
        &self,
        record: &mut SessionRecord,
        attempt: Attempt,
        index: u32,
        started_at: String,
        snapshot: &Snapshot,
    ) -> anyhow::Result<IterationRecord> {
        let (usage_now, requests_now) = self.runner.live();
        let mut it = IterationRecord {
            index,
            started_at,
            ended_at: String::new(),
            score_before: None,
            score_after: None,
            issues: Vec::new(),
            outcome: Outcome::Failed,
            summary: None,
            commit: None,
            files_changed: Vec::new(),
            validation: Vec::new(),
            fix_rounds: 0,
            usage: usage_now,
            cost_usd: (self.runner.price)(&usage_now),
            requests: requests_now,
            error: None,
        };
        let spec_record = record.spec.as_mut().context("a spec session records its spec")?;
        match attempt {
            Attempt::Done { change, criteria } => {
                let original = std::fs::read_to_string(&self.spec.path)
                    .with_context(|| format!("reading {}", self.spec.path.display()))?;
                // The spec as it is now: the change may have touched it.
                let current = spec::parse(&self.spec.path, &original).unwrap_or_else(|_| self.spec.clone());
                state::write_atomic(&self.spec.path, spec::tick(&original, &current).as_bytes())?;
                let mut paths = change.changed.clone();
                if !paths.contains(&spec_record.path) {
                    paths.push(spec_record.path.clone());
                }
                let message = format!(
                    "mmm: implement {} — {}\n\n{}\n\nMmm-Session: {}\n",
                    self.spec.id,
                    self.spec.title,
                    change.final_text.trim(),
                    record.id
                );
                // Nothing half-done stays behind: the change and the ticks go together.
                let (sha, files) = commit_or_roll_back(self.git, snapshot, &message, &paths)
                    .with_context(|| format!("committing the implementation of {}", self.spec.id))?;
                it.files_changed = files;
                it.commit = Some(sha);
                it.outcome = Outcome::Committed;
                it.validation = checks::records(&change.results);
                it.fix_rounds = change.rounds;
                it.summary = summary_line(&change.final_text).or_else(|| Some(format!("implement {}", self.spec.id)));
                spec_record.criteria = criteria;
            }
            Attempt::Failed { change, criteria, message } => {
                self.git.roll_back_to(snapshot).context("rolling back the spec's changes")?;
                it.outcome = if change.as_ref().is_some_and(|c| c.kind == ChangeKind::NoChange) {
                    Outcome::NoChange
                } else {
                    Outcome::RolledBack
                };
                if let Some(change) = &change {
                    it.summary = summary_line(&change.final_text);
                    it.validation = checks::records(&change.results);
                    it.fix_rounds = change.rounds;
                    spec_record.last_check_output = change.results.iter().find(|r| !r.passed()).map(|r| {
                        redact(&checks::describe(&record.settings.checks, std::slice::from_ref(r))).into_owned()
                    });
                }
                spec_record.criteria = criteria;
                it.error = Some(message);
            }
        }
        it.ended_at = state::now();
        Ok(it)
    }

    /// Records the end of the spec's session and its status, and reports it.
    fn finish(&self, mut record: SessionRecord, reason: StopReason) -> anyhow::Result<Finished> {
        self.runner.sync_usage(&mut record);
        let done = matches!(reason, StopReason::Implemented { .. });
        record.status = match &reason {
            StopReason::Interrupted => SessionStatus::Interrupted,
            _ if done => SessionStatus::Completed,
            _ => SessionStatus::Failed,
        };
        record.ended_at = Some(state::now());
        record.stop_reason = Some(reason.clone());
        record.save(&self.session_file(&record))?;

        let (usage_now, _) = self.runner.live();
        let mut project_state = ProjectState::load_or_default(&self.layout.state_file())?;
        let commit = record.iterations.last().and_then(|i| i.commit.clone());
        if reason != StopReason::Interrupted {
            project_state.totals.iterations += 1;
            project_state.totals.commits += u32::from(commit.is_some());
            let status = if done { SpecStatus::Done } else { SpecStatus::Failed };
            project_state.specs.insert(
                self.spec.id.clone(),
                SpecState { status, last_run: Some(state::now()), session: Some(record.id.clone()) },
            );
        }
        project_state.totals.usage += usage_now;
        project_state.totals.cost_usd += (self.runner.price)(&usage_now).unwrap_or(0.0);
        project_state.save(&self.layout.state_file())?;

        let message = reason.to_string();
        self.runner.emit(&Event::Stopped { reason: reason.clone(), message: message.clone() });
        if reason == StopReason::Interrupted {
            return Ok(Finished::Interrupted { session: record.id });
        }
        let unmet = record
            .spec
            .iter()
            .flat_map(|s| &s.criteria)
            .filter(|c| !c.met)
            .map(|c| format!("{}. {}", c.index, c.text))
            .collect();
        let error = record.iterations.last().and_then(|i| i.error.clone()).unwrap_or_default();
        self.runner.emit(&Event::SpecFinished {
            spec: self.spec.id.clone(),
            session: record.id.clone(),
            status: if done { SpecStatus::Done } else { SpecStatus::Failed },
            commit,
            unmet,
            message: if done { message } else { error.clone() },
            cost_usd: record.cost_usd,
            requests: record.requests,
        });
        Ok(if done {
            Finished::Done { session: record.id }
        } else {
            Finished::Failed { session: Some(record.id), message: error }
        })
    }
}
