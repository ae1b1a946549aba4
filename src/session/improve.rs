//! `mmm improve`: the verified improvement loop.
//!
//! Preflight (a git repository, a clean tree or `--allow-dirty`, a key, checks to run), a
//! branch of its own, a baseline run of the checks, then iterations until a stop rule
//! fires. Each iteration: a fresh review (`submit_review`), an editing conversation with
//! the confined tools, the checks (failures fed back for a few fix rounds), then a commit
//! if they pass or a rollback to exactly the iteration's start if not, and a record of it
//! all. Ctrl+C rolls back the current iteration, saves the state and exits 130; `--resume`
//! continues from the last completed iteration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::change::{ChangeKind, CheckPlan, Workbench, is_fatal};
use super::checks;
use super::events::{Event, Summary};
use super::prompts::{self, ProjectContext};
use super::review::{self, Issue, Review, SUBMIT_REVIEW};
use super::stop::{self, Limits, Progress, StopReason};
use super::{Cancel, Runner};
use crate::agent::{self, Conversation, Ended, ToolReply, ToolRunner};
use crate::analyzer;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::exec::CommandResult;
use crate::git::{Git, Snapshot};
use crate::llm::{AnthropicClient, Message, MessagesRequest, Model, Pricing, SystemBlock, Tool, ToolChoice, Usage};
use crate::redact::redact;
use crate::secrets::SecretFiles;
use crate::settings::{MMM_DIR, Settings};
use crate::state::journal::Journal;
use crate::state::session::{
    FileChangeRecord, IterationRecord, Outcome, SessionKind, SessionRecord, SessionSettings, SessionStatus,
};
use crate::state::summary::ProjectState;
use crate::state::{self, Layout};
use crate::tools::{Tools, Workspace};

/// How many of the review's issues one iteration addresses.
const ISSUES_PER_ITERATION: usize = 3;
/// Token budget of the repository map in prompts.
const REPO_MAP_TOKENS: usize = 6_000;

/// What `mmm improve` was asked to do, beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct ImproveOptions {
    pub focus: Option<String>,
    pub allow_dirty: bool,
    pub dry_run: bool,
    /// `Some(None)`: resume the last session; `Some(Some(id))`: that one.
    pub resume: Option<Option<String>>,
    pub use_cache: bool,
    pub verbose: bool,
}

/// Runs `mmm improve`.
/// Runs `mmm improve`: the finished session's record, or `None` for `--dry-run`. How the
/// session ended decides the exit code ([`super::exit_result`]), after the caller has
/// written any CI outputs.
pub async fn run(ctx: &Ctx<'_>, opts: &ImproveOptions, cancel: Cancel) -> anyhow::Result<Option<SessionRecord>> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    if let Some(id) = &opts.resume {
        return resume(ctx, opts, git, layout, id.as_deref(), cancel).await;
    }

    let has_key = ctx.settings.str("api_key").is_some() || ctx.settings.str("auth_token").is_some();
    let model: Option<Arc<dyn Model>> =
        if opts.dry_run && !has_key { None } else { Some(Arc::new(AnthropicClient::from_settings(&ctx.settings)?)) };

    let dirty = user_changes(&git)?;
    if !dirty.is_empty() && !opts.allow_dirty && !opts.dry_run {
        return Err(CliError::usage(format!(
            "the working tree has uncommitted changes:\n{}",
            dirty.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
        ))
        .with_hint("commit or stash them first, or pass --allow-dirty to commit them as a separate \"snapshot before mmm\" commit")
        .into());
    }
    if git.head()?.is_none() {
        return Err(CliError::usage("the repository has no commits yet")
            .with_hint("commit your files first: git add -A && git commit -m \"initial\"")
            .into());
    }

    let project = analyze(ctx, git.root(), opts.use_cache).await?;
    let settings = session_settings(&ctx.settings, opts, &project)?;
    let price = price_fn(&ctx.settings, &settings)?;

    if opts.dry_run {
        return dry_run(ctx, opts, &git, &project, &settings, model.as_deref()).await.map(|()| None);
    }
    let Some(model) = model else {
        anyhow::bail!("no API client was set up for a session that edits (outside --dry-run)");
    };

    let base_branch = git.current_branch()?;
    let branch = if settings.in_place {
        base_branch.clone().unwrap_or_else(|| "HEAD".into())
    } else {
        let name = free_branch_name(&git, &format!("mmm/improve-{}", jiff::Zoned::now().strftime("%Y%m%d-%H%M%S")))?;
        git.create_branch_and_switch(&name)?;
        name
    };
    layout.ensure_gitignore()?;

    let id = session_id();
    let session_dir = layout.session_dir(&id);
    let journal = Journal::open(&session_dir.join("events.jsonl"))?;
    let transcript = Journal::open(&session_dir.join("transcript.jsonl"))?;

    let mut snapshot_event = None;
    if !dirty.is_empty() {
        // The user's changes go in a commit of their own; secret files and mmm's own
        // directory stay out of git.
        let secrets = SecretFiles::new(git.root(), ctx.settings.list("secret_files"))?;
        let mut keep_out: Vec<&str> =
            dirty.iter().map(String::as_str).filter(|p| secrets.is_secret(Path::new(p), false)).collect();
        keep_out.push(MMM_DIR);
        let message = "mmm: snapshot before mmm\n\nUncommitted changes found when the session started.";
        if let Some(sha) = git.snapshot_dirty(message, &keep_out)? {
            let files = dirty.iter().filter(|p| !keep_out.contains(&p.as_str())).cloned().collect();
            snapshot_event = Some(Event::Snapshot { commit: sha, files });
        }
    }
    let start_commit = git.head()?.context("reading HEAD")?;

    let record = SessionRecord {
        version: state::session::VERSION,
        id: id.clone(),
        kind: SessionKind::Improve,
        status: SessionStatus::Running,
        branch,
        start_commit,
        started_at: state::now(),
        ended_at: None,
        elapsed_secs: 0,
        stop_reason: None,
        settings,
        baseline: Vec::new(),
        iterations: Vec::new(),
        usage: Usage::default(),
        cost_usd: Some(0.0),
        requests: 0,
        scores: Vec::new(),
    };
    record.save(&session_dir.join("session.json"))?;
    let mut project_state = ProjectState::load_or_default(&layout.state_file())?;
    project_state.last_session = Some(id.clone());
    project_state.totals.sessions += 1;
    project_state.save(&layout.state_file())?;

    let runner = Runner::new(ctx.printer, opts.verbose, &record, Some(journal), Some(transcript), price);
    runner.emit(&Event::SessionStarted {
        session: id,
        branch: record.branch.clone(),
        start_commit: record.start_commit.clone(),
        model: record.settings.model.clone(),
        checks: record.settings.checks.clone(),
        resumed: false,
    });
    if let Some(event) = snapshot_event {
        runner.emit(&event);
    }
    let engine = Engine { ctx, runner, git, layout, model, project, base_branch };
    engine.drive(record, project_state, cancel).await.map(Some)
}

/// `mmm improve --resume [ID]`: continue a stopped session on its branch.
async fn resume(
    ctx: &Ctx<'_>,
    opts: &ImproveOptions,
    git: Git,
    layout: Layout,
    id: Option<&str>,
    cancel: Cancel,
) -> anyhow::Result<Option<SessionRecord>> {
    let mut project_state = ProjectState::load_or_default(&layout.state_file())?;
    let id = match id.map(str::to_string).or_else(|| project_state.last_session.clone()) {
        Some(id) => id,
        None => {
            return Err(CliError::usage("there is no session to resume in this repository")
                .with_hint("start one with `mmm improve`")
                .into());
        }
    };
    let path = layout.session_dir(&id).join("session.json");
    if !path.exists() {
        return Err(CliError::usage(format!("no session `{id}` in {}", layout.sessions_dir().display()))
            .with_hint("`mmm history` lists the sessions")
            .into());
    }
    let mut record = SessionRecord::load(&path)?;
    if record.status == SessionStatus::Completed {
        let reason = record.stop_reason.as_ref().map(|r| r.to_string()).unwrap_or_default();
        return Err(CliError::usage(format!("session {id} already completed ({reason})"))
            .with_hint("start a new session with `mmm improve`")
            .into());
    }
    let dirty = user_changes(&git)?;
    if !dirty.is_empty() {
        return Err(CliError::usage(format!("the working tree has uncommitted changes: {}", dirty.join(", ")))
            .with_hint("commit or stash them, then resume")
            .into());
    }
    if git.current_branch()?.as_deref() != Some(record.branch.as_str()) {
        git.switch(&record.branch).with_context(|| format!("switching to the session's branch {}", record.branch))?;
    }
    let model: Arc<dyn Model> = Arc::new(AnthropicClient::from_settings(&ctx.settings)?);
    let project = analyze(ctx, git.root(), opts.use_cache).await?;
    let price = price_fn(&ctx.settings, &record.settings)?;
    let session_dir = layout.session_dir(&id);
    let journal = Journal::open(&session_dir.join("events.jsonl"))?;
    let transcript = Journal::open(&session_dir.join("transcript.jsonl"))?;

    record.status = SessionStatus::Running;
    record.ended_at = None;
    record.stop_reason = None;
    record.save(&path)?;
    project_state.last_session = Some(id.clone());
    project_state.save(&layout.state_file())?;

    let runner = Runner::new(ctx.printer, opts.verbose, &record, Some(journal), Some(transcript), price);
    runner.emit(&Event::SessionStarted {
        session: id,
        branch: record.branch.clone(),
        start_commit: record.start_commit.clone(),
        model: record.settings.model.clone(),
        checks: record.settings.checks.clone(),
        resumed: true,
    });
    let engine = Engine { ctx, runner, git, layout, model, project, base_branch: None };
    engine.drive(record, project_state, cancel).await.map(Some)
}

/// The analysis the prompts are built from.
struct Project {
    summary: String,
    repo_map: String,
    checks: Vec<String>,
}

async fn analyze(ctx: &Ctx<'_>, root: &Path, use_cache: bool) -> anyhow::Result<Project> {
    let spinner = ctx.printer.spinner("analyzing the project");
    let root = root.to_path_buf();
    let options = analyzer::Options { secret_files: ctx.settings.list("secret_files").to_vec(), ..Default::default() };
    let analysis = tokio::task::spawn_blocking(move || analyzer::load_or_analyze(&root, &options, use_cache))
        .await
        .context("the analysis task failed")??
        .0;
    spinner.finish();
    Ok(Project {
        summary: redact(&analysis.prompt_summary()).into_owned(),
        repo_map: redact(&analysis.repo_map(REPO_MAP_TOKENS)).into_owned(),
        checks: analysis.validation_commands(),
    })
}

/// The settings the session runs with: flags and settings, checks from settings or the analysis.
fn session_settings(settings: &Settings, opts: &ImproveOptions, project: &Project) -> anyhow::Result<SessionSettings> {
    let configured = settings.list("validate.commands");
    let checks = if configured.is_empty() { project.checks.clone() } else { configured.to_vec() };
    if checks.is_empty() {
        return Err(CliError::usage("mmm found no build, lint or test command to check changes with")
            .with_hint("set the checks in .mmm/config.toml, e.g. `[validate] commands = [\"make test\"]`")
            .into());
    }
    let int = |key: &str| settings.int(key).unwrap_or(0);
    Ok(SessionSettings {
        model: settings.str("model").unwrap_or_default().to_string(),
        limits: Limits {
            target: settings.float("target").unwrap_or(8.0),
            max_iterations: int("max_iterations") as u32,
            budget_usd: settings.float("budget_usd"),
            max_tokens: settings.int("max_tokens"),
            time_limit: settings.duration("time_limit"),
            max_stalled: int("max_stalled") as u32,
            max_failures: int("max_failures") as u32,
        },
        fix_rounds: int("fix_rounds") as u32,
        max_turns: int("max_turns") as u32,
        max_output_tokens: int("max_output_tokens").min(u64::from(u32::MAX)) as u32,
        checks,
        check_timeout_secs: settings.duration("validate.timeout").map_or(600, |d| d.as_secs()),
        focus: opts.focus.clone(),
        in_place: settings.bool("in_place"),
    })
}

/// The pricing of the session's model. A budget needs a known price.
fn price_fn(settings: &Settings, session: &SessionSettings) -> anyhow::Result<super::PriceFn> {
    let configured = Pricing::from_settings(settings)?;
    // A resumed session keeps its model, which the settings may no longer name.
    let pricing = if configured.model == session.model { configured } else { Pricing::for_model(&session.model) };
    if pricing.price.is_none() && session.limits.budget_usd.is_some() {
        return Err(CliError::usage(format!(
            "budget_usd is set, but mmm does not know the price of `{}`, so it cannot keep to the budget",
            session.model
        ))
        .with_hint("set `[pricing] input = ...` and `output = ...` (USD per million tokens) in .mmm/config.toml")
        .into());
    }
    Ok(Box::new(move |usage: &Usage| pricing.cost(usage)))
}

/// Uncommitted changes of the user's, leaving out mmm's own `.mmm/` directory.
fn user_changes(git: &Git) -> anyhow::Result<Vec<String>> {
    Ok(git.status()?.into_iter().map(|e| e.path).filter(|p| !is_mmm_path(p)).collect())
}

fn is_mmm_path(path: &str) -> bool {
    path == ".mmm" || path.starts_with(".mmm/")
}

/// `base`, or `base-2`, `base-3`, ... when a branch of that name exists (two sessions
/// started in the same second). Existing branches are never reused.
fn free_branch_name(git: &Git, base: &str) -> anyhow::Result<String> {
    let exists = |name: &str| git.run(&["rev-parse", "--verify", "--quiet", &format!("refs/heads/{name}")]).is_ok();
    let mut name = base.to_string();
    let mut n = 1;
    while exists(&name) {
        n += 1;
        name = format!("{base}-{n}");
    }
    Ok(name)
}

/// `20261124-061500-3f2a`: sortable, unique enough for one repository.
fn session_id() -> String {
    format!("{}-{:04x}", jiff::Zoned::now().strftime("%Y%m%d-%H%M%S"), fastrand::u16(..))
}

/// `--dry-run`: analysis, baseline, the review when a key is set, and the plan. No edits,
/// no branch, no state.
async fn dry_run(
    ctx: &Ctx<'_>,
    opts: &ImproveOptions,
    git: &Git,
    project: &Project,
    settings: &SessionSettings,
    model: Option<&dyn Model>,
) -> anyhow::Result<()> {
    let printer = ctx.printer;
    let timeout = Duration::from_secs(settings.check_timeout_secs);
    let spinner = printer.spinner("running the checks");
    let baseline = checks::run(&settings.checks, git.root(), timeout).await;
    spinner.finish();
    let passed = checks::passed(&settings.checks, &baseline);
    let review = match model {
        Some(model) => {
            let runner = Runner::new(printer, opts.verbose, &dry_record(settings), None, None, Box::new(|_| None));
            let focus = focus_for(settings.focus.as_deref(), passed);
            let checks_text = redact(&checks::describe(&settings.checks, &baseline)).into_owned();
            let request = review_request(settings, project, focus.as_deref(), &checks_text, &[]);
            Some(run_review(model, &runner, 1, request).await.map_err(|e| anyhow::anyhow!(e.message))?.0)
        }
        None => None,
    };
    #[derive(serde::Serialize)]
    struct Plan<'a> {
        r#type: &'static str,
        branch: String,
        checks: &'a [String],
        baseline_passed: bool,
        review: Option<&'a Review>,
        would_address: Vec<&'a Issue>,
    }
    let branch = if settings.in_place {
        git.current_branch()?.unwrap_or_else(|| "HEAD".into())
    } else {
        "mmm/improve-<timestamp> (new)".to_string()
    };
    let plan = Plan {
        r#type: "plan",
        branch,
        checks: &settings.checks,
        baseline_passed: passed,
        would_address: review.as_ref().map(|r| r.top_issues(ISSUES_PER_ITERATION).iter().collect()).unwrap_or_default(),
        review: review.as_ref(),
    };
    if printer.is_json() {
        return printer.json(&plan);
    }
    let s = printer.styles();
    let mut lines = vec![
        format!("{} nothing will be edited, committed or recorded", s.bold("Dry run:")),
        format!("  branch   {}", plan.branch),
        format!("  checks   {}", settings.checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
        format!("  baseline {}", checks::brief(&settings.checks, &baseline)),
    ];
    match &review {
        Some(r) => {
            lines.push(format!("  score    {:.1} — {}", r.score, r.summary));
            lines.push("  the first iteration would address:".into());
            lines.extend(plan.would_address.iter().map(|i| format!("    - {i}")));
        }
        None => lines.push("  review   skipped: no ANTHROPIC_API_KEY set".into()),
    }
    printer.line(lines.join("\n"))
}

fn dry_record(settings: &SessionSettings) -> SessionRecord {
    SessionRecord {
        version: state::session::VERSION,
        id: "dry-run".into(),
        kind: SessionKind::Improve,
        status: SessionStatus::Running,
        branch: String::new(),
        start_commit: String::new(),
        started_at: state::now(),
        ended_at: None,
        elapsed_secs: 0,
        stop_reason: None,
        settings: settings.clone(),
        baseline: Vec::new(),
        iterations: Vec::new(),
        usage: Usage::default(),
        cost_usd: None,
        requests: 0,
        scores: Vec::new(),
    }
}

/// The focus of a review: the user's, with the failing checks put first.
fn focus_for(user: Option<&str>, checks_green: bool) -> Option<String> {
    match (checks_green, user) {
        (true, focus) => focus.map(str::to_string),
        (false, Some(focus)) => Some(format!("First get the failing checks green. Then: {focus}")),
        (false, None) => Some("The project's checks fail: getting them green comes first.".into()),
    }
}

fn review_request(
    settings: &SessionSettings,
    project: &Project,
    focus: Option<&str>,
    checks_text: &str,
    history: &[String],
) -> MessagesRequest {
    let mut request = MessagesRequest::new(settings.model.clone(), settings.max_output_tokens);
    request.system = vec![SystemBlock::text(prompts::REVIEW_SYSTEM)];
    request.tools = vec![tool_from_json(review::submit_review_tool())];
    request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
    let context = ProjectContext { summary: &project.summary, repo_map: &project.repo_map };
    let text = prompts::review_request(&context, focus, checks_text, history);
    request.messages = vec![Message::user_text(redact(&text).into_owned())];
    request
}

/// A tool definition (custom or Anthropic-defined) as the request type holds it.
fn tool_from_json(definition: serde_json::Value) -> Tool {
    serde_json::from_value(definition).expect("mmm's own tool definitions are valid")
}

/// Why a review produced no usable result.
struct ReviewFailure {
    message: String,
    usage: Usage,
    requests: u32,
    fatal: bool,
}

/// Captures the `submit_review` call.
#[derive(Default)]
struct ReviewSink {
    review: Option<Review>,
}

impl ToolRunner for ReviewSink {
    fn run(&mut self, name: &str, input: &serde_json::Value) -> ToolReply {
        if name != SUBMIT_REVIEW {
            return ToolReply {
                content: format!("Error: unknown tool `{name}`; call `{SUBMIT_REVIEW}`."),
                is_error: true,
            };
        }
        match review::parse_review(input) {
            Ok(review) => {
                self.review = Some(review);
                ToolReply { content: "Review recorded.".into(), is_error: false }
            }
            Err(e) => ToolReply {
                content: format!("Error: {e}. Call `{SUBMIT_REVIEW}` again with corrected input."),
                is_error: true,
            },
        }
    }
}

/// Sends the review request; asks once more if no valid `submit_review` call came back.
async fn run_review(
    model: &dyn Model,
    runner: &Runner<'_>,
    iteration: u32,
    request: MessagesRequest,
) -> Result<(Review, Usage, u32), ReviewFailure> {
    let mut conversation = Conversation::new(request);
    let mut sink = ReviewSink::default();
    let hooks = runner.hooks(iteration, "review", false);
    for attempt in 0..2 {
        let ended = agent::run_turns(model, &mut conversation, &mut sink, 1, &hooks).await;
        let fail = |message: String, fatal: bool| ReviewFailure {
            message,
            usage: conversation.usage,
            requests: conversation.requests,
            fatal,
        };
        match ended {
            Err(e) => return Err(fail(format!("the review request failed: {e}"), is_fatal(&e))),
            Ok(_) if sink.review.is_some() => break,
            Ok(Ended::Refusal { .. }) => return Err(fail("the model declined to review the repository".into(), false)),
            Ok(Ended::Done { .. }) if attempt == 0 => conversation.push_user_text(prompts::REVIEW_NUDGE),
            Ok(_) => {}
        }
    }
    match sink.review {
        Some(review) => Ok((review, conversation.usage, conversation.requests)),
        None => Err(ReviewFailure {
            message: format!("the model did not call `{SUBMIT_REVIEW}` with a valid review (asked twice)"),
            usage: conversation.usage,
            requests: conversation.requests,
            fatal: false,
        }),
    }
}

impl ToolRunner for Tools {
    fn run(&mut self, name: &str, input: &serde_json::Value) -> ToolReply {
        let outcome = self.execute(name, input);
        ToolReply { content: outcome.content, is_error: outcome.is_error }
    }
}

/// How one iteration went.
enum Step {
    /// An iteration ran to its end (whatever its outcome).
    Done { record: Box<IterationRecord>, score: Option<f64>, checks: Option<Vec<CommandResult>> },
    /// A stop rule fired after the review; no iteration was recorded.
    Stop { reason: StopReason, score: f64 },
    /// An API error no retry can fix: the session ends (its usage is in the runner).
    Fatal { message: String },
}

/// A running improve session.
struct Engine<'a> {
    ctx: &'a Ctx<'a>,
    runner: Runner<'a>,
    git: Git,
    layout: Layout,
    model: Arc<dyn Model>,
    project: Project,
    base_branch: Option<String>,
}

impl Engine<'_> {
    fn session_file(&self, record: &SessionRecord) -> PathBuf {
        self.layout.session_dir(&record.id).join("session.json")
    }

    /// Baseline, then iterations until a stop rule fires; then the summary.
    async fn drive(
        &self,
        mut record: SessionRecord,
        mut project_state: ProjectState,
        cancel: Cancel,
    ) -> anyhow::Result<SessionRecord> {
        let settings = record.settings.clone();
        let timeout = Duration::from_secs(settings.check_timeout_secs);
        let iterations_before = record.iterations.len();

        let spinner = self.ctx.printer.spinner("running the checks (baseline)");
        let baseline = tokio::select! {
            r = checks::run(&settings.checks, self.git.root(), timeout) => Some(r),
            _ = cancel.cancelled() => None,
        };
        spinner.finish();
        let mut current_checks = match baseline {
            Some(results) => results,
            None => return self.finish(record, &mut project_state, iterations_before, StopReason::Interrupted),
        };
        let baseline_passed = checks::passed(&settings.checks, &current_checks);
        if record.baseline.is_empty() {
            record.baseline = checks::records(&current_checks);
        }
        self.runner.emit(&Event::Baseline { passed: baseline_passed, checks: checks::records(&current_checks) });
        record.save(&self.session_file(&record))?;

        let reason = loop {
            let progress = self.progress(&record);
            if let Some(reason) = stop::before_iteration(&settings.limits, &progress) {
                break reason;
            }
            let index = record.iterations.len() as u32 + 1;
            let snapshot = self.git.snapshot()?;
            let step = tokio::select! {
                step = self.iterate(&record, index, &snapshot, &current_checks) => step?,
                _ = cancel.cancelled() => {
                    self.git.roll_back_to(&snapshot).context("rolling back the interrupted iteration")?;
                    break StopReason::Interrupted;
                }
            };
            match step {
                Step::Done { record: it, score, checks } => {
                    if let Some(score) = score {
                        record.scores.push(score);
                        if let Some(prev) = record.iterations.last_mut() {
                            prev.score_after = Some(score);
                        }
                    }
                    if let Some(results) = checks {
                        current_checks = results;
                    }
                    self.runner.emit(&Event::Iteration(it.clone()));
                    record.iterations.push(*it);
                    self.sync_usage(&mut record);
                    record.save(&self.session_file(&record))?;
                }
                Step::Stop { reason, score } => {
                    record.scores.push(score);
                    if let Some(prev) = record.iterations.last_mut() {
                        prev.score_after = Some(score);
                    }
                    break reason;
                }
                Step::Fatal { message } => break StopReason::Error { message },
            }
        };
        self.finish(record, &mut project_state, iterations_before, reason)
    }

    /// What the session has done so far, for the stop rules.
    fn progress(&self, record: &SessionRecord) -> Progress {
        let usage = self.runner.total_usage();
        let streak =
            |f: fn(Outcome) -> bool| record.iterations.iter().rev().take_while(|i| f(i.outcome)).count() as u32;
        Progress {
            iterations: record.iterations.len() as u32,
            cost_usd: (self.runner.price)(&usage).unwrap_or(0.0),
            tokens: usage.total(),
            elapsed: Duration::from_secs(self.runner.elapsed_secs()),
            stalled_streak: streak(|o| o != Outcome::Committed),
            failure_streak: streak(|o| o == Outcome::Failed),
        }
    }

    fn sync_usage(&self, record: &mut SessionRecord) {
        record.usage = self.runner.total_usage();
        record.cost_usd = (self.runner.price)(&record.usage);
        record.requests = self.runner.total_requests();
        record.elapsed_secs = self.runner.elapsed_secs();
    }

    /// One iteration: review, implement, check (with fix rounds), keep or undo.
    async fn iterate(
        &self,
        record: &SessionRecord,
        index: u32,
        snapshot: &Snapshot,
        current_checks: &[CommandResult],
    ) -> anyhow::Result<Step> {
        let settings = &record.settings;
        let started_at = state::now();
        let checks_green = checks::passed(&settings.checks, current_checks);
        let history: Vec<String> = record.iterations.iter().map(history_line).collect();
        let checks_text = redact(&checks::describe(&settings.checks, current_checks)).into_owned();
        let focus = focus_for(settings.focus.as_deref(), checks_green);

        let spinner = self.ctx.printer.spinner(format!("#{index} reviewing"));
        let request = review_request(settings, &self.project, focus.as_deref(), &checks_text, &history);
        let reviewed = run_review(self.model.as_ref(), &self.runner, index, request).await;
        spinner.finish();
        let (review, mut usage, mut requests) = match reviewed {
            Ok(ok) => ok,
            Err(failure) if failure.fatal => {
                return Ok(Step::Fatal { message: failure.message });
            }
            Err(failure) => {
                let mut it = self.empty_record(index, started_at, None, Vec::new());
                it.outcome = Outcome::Failed;
                it.error = Some(failure.message);
                it.usage = failure.usage;
                it.requests = failure.requests;
                it.cost_usd = (self.runner.price)(&it.usage);
                return Ok(Step::Done { record: Box::new(it), score: None, checks: None });
            }
        };
        self.runner.emit(&Event::Review {
            iteration: index,
            score: review.score,
            summary: review.summary.clone(),
            issues: review.issues.clone(),
        });
        if let Some(reason) = stop::after_review(&settings.limits, review.score, review.issues.len(), checks_green) {
            return Ok(Step::Stop { reason, score: review.score });
        }

        let issues = review.top_issues(ISSUES_PER_ITERATION).to_vec();
        let mut it = self.empty_record(index, started_at, Some(review.score), issues.clone());
        let workspace = Workspace::new(
            self.git.root(),
            SecretFiles::new(self.git.root(), self.ctx.settings.list("secret_files"))?,
        )?;
        let mut tools = Tools::new(workspace);
        let mut conversation = Conversation::new(self.implement_request(settings, &issues, &review.summary, &tools));

        let workbench =
            Workbench { printer: self.ctx.printer, runner: &self.runner, git: &self.git, model: self.model.as_ref() };
        let change = workbench.edit_until_green(index, &mut conversation, &mut tools, &check_plan(settings)).await?;
        let outcome = match change.kind {
            ChangeKind::Green => Outcome::Committed,
            ChangeKind::StillFailing => Outcome::RolledBack,
            ChangeKind::NoChange => Outcome::NoChange,
            ChangeKind::Declined | ChangeKind::ApiFailed { fatal: false } => Outcome::Failed,
            ChangeKind::ApiFailed { fatal: true } => {
                self.git.roll_back_to(snapshot)?;
                return Ok(Step::Fatal { message: change.error.unwrap_or_default() });
            }
        };
        if !change.results.is_empty() {
            it.validation = checks::records(&change.results);
        }
        it.error = change.error.clone().filter(|_| outcome != Outcome::NoChange);
        it.fix_rounds = change.rounds;
        it.summary = summary_line(&change.final_text);
        usage += conversation.usage;
        requests += conversation.requests;
        it.usage = usage;
        it.requests = requests;
        it.cost_usd = (self.runner.price)(&usage);
        it.outcome = outcome;
        let final_text = change.final_text;
        let changed = change.changed;
        let checks_after = (outcome == Outcome::Committed).then_some(change.results);
        if outcome == Outcome::Committed {
            let subject = it.summary.clone().unwrap_or_else(|| first_line(&issues[0].description));
            let message = commit_message(&subject, &final_text, &issues, &record.id);
            let sha = self.git.commit_paths(&message, &changed)?;
            it.files_changed = self
                .git
                .diff_numstat(&snapshot.head, &sha)?
                .into_iter()
                .map(|f| FileChangeRecord { path: f.path, added: f.added, removed: f.removed })
                .collect();
            it.commit = Some(sha);
        } else {
            self.git.roll_back_to(snapshot).context("rolling back the iteration")?;
        }
        it.ended_at = state::now();
        Ok(Step::Done { record: Box::new(it), score: Some(review.score), checks: checks_after })
    }

    fn implement_request(
        &self,
        settings: &SessionSettings,
        issues: &[Issue],
        review_summary: &str,
        tools: &Tools,
    ) -> MessagesRequest {
        let mut request = MessagesRequest::new(settings.model.clone(), settings.max_output_tokens);
        request.system = vec![SystemBlock::text(prompts::implement_system(&settings.checks))];
        request.tools = tools.definitions().into_iter().map(tool_from_json).collect();
        let context = ProjectContext { summary: &self.project.summary, repo_map: &self.project.repo_map };
        let text = prompts::implement_request(&context, issues, review_summary);
        request.messages = vec![Message::user_text(redact(&text).into_owned())];
        request
    }

    fn empty_record(&self, index: u32, started_at: String, score: Option<f64>, issues: Vec<Issue>) -> IterationRecord {
        IterationRecord {
            index,
            started_at,
            ended_at: state::now(),
            score_before: score,
            score_after: None,
            issues,
            outcome: Outcome::NoChange,
            summary: None,
            commit: None,
            files_changed: Vec::new(),
            validation: Vec::new(),
            fix_rounds: 0,
            usage: Usage::default(),
            cost_usd: Some(0.0),
            requests: 0,
            error: None,
        }
    }

    /// Records the end of the session, prints the summary, and returns the exit.
    fn finish(
        &self,
        mut record: SessionRecord,
        project_state: &mut ProjectState,
        iterations_before: usize,
        reason: StopReason,
    ) -> anyhow::Result<SessionRecord> {
        self.sync_usage(&mut record);
        record.status = match &reason {
            StopReason::Interrupted => SessionStatus::Interrupted,
            StopReason::Error { .. } | StopReason::Failing { .. } => SessionStatus::Failed,
            _ => SessionStatus::Completed,
        };
        record.ended_at = Some(state::now());
        record.stop_reason = Some(reason.clone());
        record.save(&self.session_file(&record))?;

        let new = &record.iterations[iterations_before..];
        let (usage_now, _) = self.runner.live();
        project_state.totals.iterations += new.len() as u32;
        project_state.totals.commits += new.iter().filter(|i| i.commit.is_some()).count() as u32;
        project_state.totals.usage += usage_now;
        project_state.totals.cost_usd += (self.runner.price)(&usage_now).unwrap_or(0.0);
        project_state.current_score = record.score_now().or(project_state.current_score);
        project_state.save(&self.layout.state_file())?;

        let message = reason.to_string();
        self.runner.emit(&Event::Stopped { reason: reason.clone(), message: message.clone() });
        let summary = self.summary(&record, reason.clone(), message);
        self.runner.emit(&Event::Summary(Box::new(summary)));

        Ok(record)
    }

    fn summary(&self, record: &SessionRecord, reason: StopReason, message: String) -> Summary {
        let files: std::collections::BTreeSet<&str> =
            record.iterations.iter().flat_map(|i| i.files_changed.iter().map(|f| f.path.as_str())).collect();
        let input =
            record.usage.input_tokens + record.usage.cache_creation_input_tokens + record.usage.cache_read_input_tokens;
        let commits: Vec<String> = record.commits().map(str::to_string).collect();
        let next = match (commits.is_empty(), &self.base_branch) {
            (true, _) => format!("nothing was kept; `mmm history {}` shows what was tried", record.id),
            (false, Some(base)) if !record.settings.in_place => {
                format!("review with `git log --stat {base}..{}`, then merge the branch", record.branch)
            }
            (false, _) => format!("review the commits on {} with `git log --stat`", record.branch),
        };
        Summary {
            session: record.id.clone(),
            branch: record.branch.clone(),
            score_before: record.score_before(),
            score_after: record.score_now(),
            iterations: record.iterations.len() as u32,
            commits,
            files_changed: files.len(),
            lines_added: record.iterations.iter().flat_map(|i| &i.files_changed).map(|f| f.added).sum(),
            lines_removed: record.iterations.iter().flat_map(|i| &i.files_changed).map(|f| f.removed).sum(),
            usage: record.usage,
            cache_hit_ratio: if input == 0 { 0.0 } else { record.usage.cache_read_input_tokens as f64 / input as f64 },
            cost_usd: record.cost_usd,
            requests: record.requests,
            elapsed_secs: record.elapsed_secs,
            stop_reason: reason,
            stop_message: message,
            next,
        }
    }
}

/// The checks and conversation limits of the session's settings.
pub fn check_plan(settings: &SessionSettings) -> CheckPlan {
    CheckPlan {
        commands: settings.checks.clone(),
        timeout: Duration::from_secs(settings.check_timeout_secs),
        fix_rounds: settings.fix_rounds,
        max_turns: settings.max_turns,
    }
}

/// One line per earlier iteration, for the reviewer.
fn history_line(it: &IterationRecord) -> String {
    let score = it.score_before.map(|s| format!(" (score {s:.1})")).unwrap_or_default();
    match it.outcome {
        Outcome::Committed => format!("committed: {}{score}", it.summary.as_deref().unwrap_or("a change")),
        Outcome::RolledBack => format!(
            "rolled back: {} — {}{score}",
            it.summary.as_deref().unwrap_or("a change"),
            it.error.as_deref().unwrap_or("checks failed")
        ),
        Outcome::NoChange => format!("no change made{score}"),
        Outcome::Failed => format!("failed: {}{score}", it.error.as_deref().unwrap_or("unknown error")),
    }
}

fn first_line(text: &str) -> String {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_string()
}

/// The model's one-line summary: the first non-empty line of its final text, without
/// markdown decoration, at most 72 characters.
fn summary_line(text: &str) -> Option<String> {
    let line = first_line(text);
    let line = line.trim_start_matches(['#', '*', '-', ' ']).trim_end_matches('*').trim();
    let line = line.strip_prefix("Summary:").map(str::trim).unwrap_or(line);
    if line.is_empty() {
        return None;
    }
    Some(if line.chars().count() > 72 {
        format!("{}…", line.chars().take(71).collect::<String>())
    } else {
        line.to_string()
    })
}

/// `mmm: <subject>`, the explanation, the issues addressed, and the session trailer.
fn commit_message(subject: &str, final_text: &str, issues: &[Issue], session: &str) -> String {
    let explanation: String =
        final_text.lines().skip_while(|l| l.trim().is_empty()).skip(1).collect::<Vec<_>>().join("\n");
    let mut message = format!("mmm: {subject}\n\n");
    if !explanation.trim().is_empty() {
        message.push_str(explanation.trim());
        message.push_str("\n\n");
    }
    message.push_str("Issues addressed:\n");
    for issue in issues {
        message.push_str(&format!("- {issue}\n"));
    }
    message.push_str(&format!("\nMmm-Session: {session}\n"));
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::review::Severity;

    #[test]
    fn the_summary_line_is_the_first_plain_line() {
        assert_eq!(summary_line("\n**Add input validation**\n\nMore text"), Some("Add input validation".into()));
        assert_eq!(summary_line("Summary: Fix the parser"), Some("Fix the parser".into()));
        assert_eq!(summary_line("  \n"), None);
        assert_eq!(summary_line(&"x".repeat(100)).unwrap().chars().count(), 72);
    }

    #[test]
    fn commit_messages_carry_issues_and_the_trailer() {
        let issues =
            vec![Issue { severity: Severity::High, file: Some("src/a.rs".into()), description: "panics".into() }];
        assert_eq!(
            commit_message("Handle empty input", "Handle empty input\n\nReturn an error instead.", &issues, "s1"),
            "mmm: Handle empty input\n\nReturn an error instead.\n\nIssues addressed:\n- [high] src/a.rs: panics\n\nMmm-Session: s1\n"
        );
    }

    #[test]
    fn failing_checks_come_first_in_the_focus() {
        assert_eq!(focus_for(Some("docs"), true).as_deref(), Some("docs"));
        assert_eq!(focus_for(None, true), None);
        assert_eq!(focus_for(Some("docs"), false).as_deref(), Some("First get the failing checks green. Then: docs"));
    }

    #[test]
    fn mmm_paths_are_recognised() {
        assert!(is_mmm_path(".mmm/state.json") && is_mmm_path(".mmm"));
        assert!(!is_mmm_path(".mmmx") && !is_mmm_path("src/.mmm"));
    }
}
