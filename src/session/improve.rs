//! `mmm improve`: the verified improvement loop.
//!
//! Preflight (a git repository, a clean tree or `--allow-dirty`, a key, checks to run), a
//! branch of its own, a baseline run of the checks, then iterations until a stop rule
//! fires. Each iteration: a fresh review (`submit_review`), an editing conversation with
//! the confined tools, the checks (failures fed back for a few fix rounds), then a commit
//! if they pass or a rollback to exactly the iteration's start if not, and a record of it
//! all. Ctrl+C rolls back the current iteration, saves the state and exits 130; `--resume`
//! continues from the last completed iteration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::change::{ChangeKind, CheckPlan, Workbench, commit_or_roll_back};
use super::checks;
use super::events::{Event, Summary};
use super::prompts::{self, ProjectContext};
use super::review::{self, Issue, Review, SUBMIT_REVIEW};
use super::setup::{self, AskFailure, NewSession, OneCall, Project, Started};
use super::stop::{self, Progress, StopReason};
use super::{Cancel, Runner};
use crate::agent::Conversation;
use crate::commands::Ctx;
use crate::exec::CommandResult;
use crate::git::{Git, Snapshot};
use crate::llm::{Message, MessagesRequest, Model, SystemBlock, ToolChoice, Usage};
use crate::redact::redact;
use crate::secrets::SecretFiles;
use crate::state::session::{IterationRecord, Outcome, SessionKind, SessionRecord, SessionSettings, SessionStatus};
use crate::state::summary::ProjectState;
use crate::state::{self, Layout};
use crate::tools::{Tools, Workspace};

/// How many of the review's issues one iteration addresses.
const ISSUES_PER_ITERATION: usize = 3;

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
        if opts.dry_run && !has_key { None } else { Some(setup::model(&ctx.settings)?) };

    let dirty = setup::user_changes(&git)?;
    setup::preflight(&git, &dirty, opts.allow_dirty || opts.dry_run)?;

    let project = setup::analyze(ctx, git.root(), opts.use_cache).await?;
    let settings = setup::session_settings(&ctx.settings, opts.focus.clone(), &project)?;
    let price = setup::price_fn(&ctx.settings, &settings)?;

    if opts.dry_run {
        return dry_run(ctx, opts, &git, &project, &settings, model.as_deref()).await.map(|()| None);
    }
    let Some(model) = model else {
        anyhow::bail!("no API client was set up for a session that edits (outside --dry-run)");
    };
    let new = NewSession { kind: SessionKind::Improve, branch_prefix: "improve".into(), settings, dirty, spec: None };
    let started = setup::start(ctx, &git, &layout, new, opts.verbose, price)?;
    let Started { record, runner, project_state, base_branch } = started;
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
    let (mut record, mut project_state) = setup::load_for_resume(&git, &layout, id, SessionKind::Improve)?;
    let model = setup::model(&ctx.settings)?;
    let project = setup::analyze(ctx, git.root(), opts.use_cache).await?;
    let runner = setup::reopen(ctx, &layout, &mut record, &mut project_state, opts.verbose)?;
    let engine = Engine { ctx, runner, git, layout, model, project, base_branch: None };
    engine.drive(record, project_state, cancel).await.map(Some)
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
        spec: None,
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
    request.tools = vec![setup::tool_from_json(review::submit_review_tool())];
    request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
    let context = ProjectContext { summary: &project.summary, repo_map: &project.repo_map };
    let text = prompts::review_request(&context, focus, checks_text, history);
    request.messages = vec![Message::user_text(redact(&text).into_owned())];
    request
}

/// Sends the review request; asks once more if no valid `submit_review` call came back.
async fn run_review(
    model: &dyn Model,
    runner: &Runner<'_>,
    iteration: u32,
    request: MessagesRequest,
) -> Result<(Review, Usage, u32), AskFailure> {
    let call = OneCall {
        tool: SUBMIT_REVIEW,
        purpose: "review the repository",
        parse: &review::parse_review,
        nudge: prompts::REVIEW_NUDGE,
    };
    setup::ask_for_tool(model, runner, iteration, "review", request, &call).await
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
        self.runner.sync_usage(record);
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
            match commit_or_roll_back(&self.git, snapshot, &message, &changed) {
                Ok((sha, files)) => {
                    it.files_changed = files;
                    it.commit = Some(sha);
                }
                Err(refused) => {
                    it.outcome = Outcome::Failed;
                    it.error = Some(format!("git refused the commit: {refused:#}"));
                }
            }
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
        request.tools = tools.definitions().into_iter().map(setup::tool_from_json).collect();
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
pub(super) fn summary_line(text: &str) -> Option<String> {
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
}
