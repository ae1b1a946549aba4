//! `mmm improve`: the improvement policy over the session engine.
//!
//! Each attempt: a fresh review (`submit_review`) of the project with the checks as they
//! stand and what earlier iterations did; stop when the review says the target is reached
//! (or nothing is left); else an editing conversation on the review's top issues through
//! [`Session::edit_until_green`]; keep the change when the checks pass. Everything else
//! (checkpoints, commits, rollbacks, Ctrl+C, limits, records) is the engine's.
//! `--dry-run` reviews without a session: nothing is edited, committed or recorded.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::checks;
use super::engine::{self, Attempt, ChangeKind, Env, Finished, NewSession, Policy, Project, Session};
use super::events::Event;
use super::prompts::{self, ProjectContext};
use super::retries::{self, FocusAction, IssueMemory, ModelReason, Switch};
use super::review::{self, Issue, Review, SUBMIT_REVIEW};
use super::setup::{self, AskFailure, OneCall};
use super::stop::{self, StopReason};
use crate::agent::Conversation;
use crate::git::Git;
use crate::llm::cache::CachePlan;
use crate::llm::{MessagesRequest, Model, Pricing, SystemBlock, ToolChoice};
use crate::printer::{Report, Styles};
use crate::redact::redact;
use crate::settings::session::SessionConfig;
use crate::state::Layout;
use crate::state::session::{IterationRecord, Outcome, SessionKind, SessionSettings};

/// How many of the review's issues one iteration addresses.
const ISSUES_PER_ITERATION: usize = 3;

/// What `mmm improve` was asked to do, beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct ImproveOptions {
    pub focus: Option<String>,
    pub allow_dirty: bool,
    /// `Some(None)`: resume the last session; `Some(Some(id))`: that one.
    pub resume: Option<Option<String>>,
    pub use_cache: bool,
}

/// Runs an improve session (a new one, or `--resume`) in the work tree `env.git` opens,
/// to its end. How it ended decides the exit ([`super::exit_result`]).
pub async fn run(
    env: Env,
    config: &SessionConfig,
    pricing: &Pricing,
    opts: &ImproveOptions,
) -> anyhow::Result<Finished> {
    let git = env.git.clone();
    // Trees of parallel workers that are gone (a crash) go at every start.
    super::parallel::sweep(&git, true)?;
    if let Some(id) = &opts.resume {
        let mut record = setup::load_for_resume(&Layout::new(git.root()), id.as_deref(), SessionKind::Improve)?;
        let previous_model = setup::switch_model(&mut record, config);
        let price = setup::price_fn(pricing, &record.settings)?;
        setup::check_resumed_models(env.model.as_ref(), &record.settings).await?;
        let project = setup::analyze(git.root(), config, opts.use_cache).await?;
        let session = Session::resume(env, project, record, price, previous_model)?;
        return engine::drive(session, Improve::default()).await;
    }
    let dirty = setup::user_changes(&git)?;
    setup::preflight(&git, &dirty, opts.allow_dirty, config.in_place)?;
    setup::check_models(env.model.as_ref(), pricing, config).await?;
    let project = setup::analyze(git.root(), config, opts.use_cache).await?;
    let settings = setup::session_settings(config, opts.focus.clone(), &project)?;
    setup::programs_resolve(&settings.checks)?;
    let price = setup::price_fn(pricing, &settings)?;
    let new =
        NewSession { kind: SessionKind::Improve, branch_prefix: "improve".into(), settings, dirty, spec: None, price };
    let session = Session::start(env, project, new)?;
    engine::drive(session, Improve::default()).await
}

/// The improvement policy: review, then edit the top issues; keep what passes the checks.
/// After failures it narrows, moves on and escalates as [`super::retries`] decides.
#[derive(Default)]
pub struct Improve {
    /// The model the last editing conversation ran on, when it was `escalate_model`.
    escalated: Option<String>,
}

impl Policy for Improve {
    fn before_attempt(&mut self, session: &Session) -> Option<StopReason> {
        stop::before_iteration(&session.record.settings.limits, &session.progress())
    }

    async fn attempt(&mut self, session: &Session, index: u32) -> anyhow::Result<Attempt> {
        let settings = &session.record.settings;
        let mut it = session.new_iteration(index);
        let checks_green = checks::passed(&settings.checks, &session.checks_now);
        let history: Vec<String> = session.record.iterations.iter().map(history_line).collect();
        let checks_text = redact(&checks::describe(&settings.checks, &session.checks_now)).into_owned();
        // What earlier failures say: the issues set aside (the session moves on from those
        // the last iteration set aside), and the issue this iteration narrows to.
        let (memory, narrowed) = remember_failures(session, index);
        let mut focus = match &narrowed {
            Some(failed) => Some(prompts::narrowed_focus(&failed.issue, failed.failures)),
            None => focus_for(settings.focus.as_deref(), checks_green),
        };
        let set_aside: Vec<&Issue> = memory.set_aside().map(|f| &f.issue).collect();
        if narrowed.is_none() && !set_aside.is_empty() {
            let note = prompts::set_aside_note(&set_aside);
            focus = Some(match focus {
                Some(focus) => format!("{focus}\n\n{note}"),
                None => note,
            });
        }

        session.activity(Some(format!("#{index} reviewing")));
        let model = session.model_name();
        let request = review_request(&model, settings, &session.project, focus.as_deref(), &checks_text, &history);
        session.remember_review_prefix(format!("review-{index}"), &request, std::time::Instant::now());
        let reviewed = session.ask_for_tool(index, "review", review_conversation(request), &review_call()).await;
        session.activity(None);
        let review = match reviewed {
            Ok(review) => review.capped(checks_green),
            Err(AskFailure { fatal: Some(error), .. }) => return Ok(Attempt::Fatal { error }),
            Err(AskFailure { message, .. }) => {
                it.outcome = Outcome::Failed;
                it.error = Some(message);
                return Ok(Attempt::Undo { it: Box::new(it) });
            }
        };
        session.emit(&Event::Review {
            iteration: index,
            score: review.score,
            summary: review.summary.clone(),
            issues: review.issues.clone(),
        });
        if let Some(reason) = stop::after_review(&settings.limits, review.score, review.issues.len(), checks_green) {
            return Ok(Attempt::Stop { reason, score: Some(review.score) });
        }

        let issues: Vec<Issue> = match &narrowed {
            Some(failed) => vec![failed.issue.clone()],
            None => {
                review.issues.iter().filter(|i| !memory.is_set_aside(i)).take(ISSUES_PER_ITERATION).cloned().collect()
            }
        };
        if issues.is_empty() {
            let reason = StopReason::SetAside { score: review.score, issues: review.issues.len() as u32 };
            return Ok(Attempt::Stop { reason, score: Some(review.score) });
        }
        it.score_before = Some(review.score);
        let retried = memory.failures(&issues[0]) > 0;
        let editing = self.editing_model(session, index, retried);
        edit_issues(session, index, it, issues, narrowed.as_ref(), &review.summary, &editing).await
    }
}

/// What earlier failures say at the start of iteration `index`: the memory of failed
/// issues, and the issue this iteration narrows to. The switches are reported: the issues
/// the last iteration set aside (the session moves on from them), and the narrowing.
pub(super) fn remember_failures(session: &Session, index: u32) -> (IssueMemory, Option<retries::Failed>) {
    let memory = IssueMemory::of(&session.record.iterations, session.record.settings.narrow_after);
    if let Some(last) = session.record.iterations.last() {
        for failed in memory.set_aside_by(last.index) {
            let (issue, failures) = (failed.issue.clone(), failed.failures);
            session.switch(Switch::Focus { iteration: index, action: FocusAction::MovedOn, issue, failures });
        }
    }
    let narrowed = memory.narrowed(session.record.settings.narrow_after).cloned();
    if let Some(failed) = &narrowed {
        let (issue, failures) = (failed.issue.clone(), failed.failures);
        session.switch(Switch::Focus { iteration: index, action: FocusAction::Narrowed, issue, failures });
    }
    (memory, narrowed)
}

/// The rest of an attempt once its issues are chosen (`narrowed`: the one failed issue it
/// narrows to): an editing conversation on `editing` until the checks pass, and what to
/// keep. The improve policy and the parallel workers share it.
pub(super) async fn edit_issues(
    session: &Session,
    index: u32,
    mut it: IterationRecord,
    issues: Vec<Issue>,
    narrowed: Option<&retries::Failed>,
    summary: &str,
    editing: &str,
) -> anyhow::Result<Attempt> {
    let settings = &session.record.settings;
    it.issues = issues.clone();
    let mut tools = session.tools().await?.declaring(issues.len());
    let text = match narrowed {
        Some(failed) => prompts::narrowed_request(&failed.issue, failed.failures),
        None => {
            let targets = prompts::issue_targets(&issues);
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            let budget = session.project.related_map_tokens;
            let related = (budget > 0)
                .then(|| crate::analyzer::render_map_for(&session.project.map, &targets, budget))
                .flatten()
                .map(|m| redact(&m).into_owned());
            prompts::implement_request(&issues, summary, related.as_deref())
        }
    };
    let request = implement_request(editing, settings, &session.project, &text, &tools);
    let mut conversation = Conversation::laid_out(request, CachePlan::growing(1));
    let change = session.edit_until_green(index, &mut conversation, &mut tools).await?;
    it.outcome = match change.kind {
        ChangeKind::Green => Outcome::Committed,
        ChangeKind::StillFailing => Outcome::RolledBack,
        ChangeKind::NoChange => Outcome::NoChange,
        ChangeKind::Declined | ChangeKind::ApiFailed | ChangeKind::RulesChanged => Outcome::Failed,
        ChangeKind::Fatal(error) => return Ok(Attempt::Fatal { error }),
    };
    if !change.results.is_empty() {
        it.validation = checks::records(&change.results);
    }
    it.error = change.error.filter(|_| it.outcome != Outcome::NoChange);
    it.fix_rounds = change.rounds;
    let declared = tools.declaration();
    it.summary = match &declared {
        Some(declared) => Some(declared.summary.clone()),
        None => summary_line(&change.final_text),
    };
    it.addressed = declared.map(|d| d.addressed).unwrap_or_default();
    if it.outcome != Outcome::Committed {
        return Ok(Attempt::Undo { it: Box::new(it) });
    }
    let subject = it.summary.clone().unwrap_or_else(|| first_line(&issues[0].description));
    let message = commit_message(&subject, &change.final_text, &issues, &it.addressed, session.id());
    Ok(Attempt::Keep { it: Box::new(it), paths: change.changed, message, checks: change.results })
}

impl Improve {
    /// The model this iteration edits with: `escalate_model` when it retries an issue that
    /// failed, else the session's; each change of it is a switch.
    pub(super) fn editing_model(&mut self, session: &Session, index: u32, retried: bool) -> String {
        let model = session.model_name();
        let escalate = session.record.settings.escalate_model.as_deref();
        let editing = retries::editing_model(&model, escalate, retried).to_string();
        if editing != model {
            session.switch(Switch::Model {
                iteration: index,
                from: model.clone(),
                to: editing.clone(),
                reason: ModelReason::Escalated,
            });
            self.escalated = Some(editing.clone());
        } else if let Some(stronger) = self.escalated.take() {
            session.switch(Switch::Model {
                iteration: index,
                from: stronger,
                to: model,
                reason: ModelReason::EscalationEnded,
            });
        }
        editing
    }
}

/// What `--dry-run` found: the branch a session would use, the baseline, and (with a key)
/// the review and what the first iteration would address.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub r#type: &'static str,
    pub branch: String,
    pub checks: Vec<String>,
    pub baseline_passed: bool,
    /// `✓ 2/2 pass` and the like, for people.
    #[serde(skip)]
    pub baseline: String,
    pub review: Option<Review>,
    pub would_address: Vec<Issue>,
}

/// `--dry-run`: analysis, baseline, the review when `model` is given, and the plan. No
/// edits, no branch, no state.
pub async fn dry_run(
    git: &Git,
    config: &SessionConfig,
    model: Option<Arc<dyn Model>>,
    opts: &ImproveOptions,
) -> anyhow::Result<Plan> {
    let dirty = setup::user_changes(git)?;
    setup::preflight(git, &dirty, true, config.in_place)?;
    let project = setup::analyze(git.root(), config, opts.use_cache).await?;
    let settings = setup::session_settings(config, opts.focus.clone(), &project)?;
    setup::programs_resolve(&settings.checks)?;
    let timeout = Duration::from_secs(settings.check_timeout_secs);
    let baseline = checks::run(&settings.checks, git.root(), timeout, &settings.pass_env).await;
    let passed = checks::passed(&settings.checks, &baseline);
    let review = match model {
        Some(model) => {
            Some(review_outside_session(model.as_ref(), &crate::agent::NoHooks, &settings, &project, &baseline).await?)
        }
        None => None,
    };
    let branch = if settings.in_place {
        git.current_branch()?.unwrap_or_else(|| "HEAD".into())
    } else {
        "mmm/improve-<timestamp> (new)".to_string()
    };
    Ok(Plan {
        r#type: "plan",
        branch,
        baseline: checks::brief(&settings.checks, &baseline),
        checks: settings.checks,
        baseline_passed: passed,
        would_address: review.as_ref().map(|r| r.top_issues(ISSUES_PER_ITERATION).to_vec()).unwrap_or_default(),
        review,
    })
}

/// One review of the project as it stands (the checks' `baseline` results), outside any
/// session: `--dry-run`, and the one review a parallel run splits among its workers.
pub(super) async fn review_outside_session(
    model: &dyn Model,
    hooks: &dyn crate::agent::Hooks,
    settings: &SessionSettings,
    project: &Project,
    baseline: &[crate::exec::CommandResult],
) -> anyhow::Result<Review> {
    let passed = checks::passed(&settings.checks, baseline);
    let focus = focus_for(settings.focus.as_deref(), passed);
    let checks_text = redact(&checks::describe(&settings.checks, baseline)).into_owned();
    let request = review_request(&settings.model, settings, project, focus.as_deref(), &checks_text, &[]);
    let reviewed = setup::ask_for_tool(model, hooks, "review", review_conversation(request), &review_call()).await;
    let review = reviewed.map_err(|failure| failure.fatal.unwrap_or_else(|| anyhow::anyhow!(failure.message)))?;
    Ok(review.capped(passed))
}

impl Report for Plan {
    fn human(&self, s: &Styles) -> String {
        let mut lines = vec![
            format!("{} nothing will be edited, committed or recorded", s.bold("Dry run:")),
            format!("  branch   {}", self.branch),
            format!("  checks   {}", self.checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
            format!("  baseline {}", self.baseline),
        ];
        match &self.review {
            Some(r) => {
                lines.push(format!("  score    {:.1} — {}", r.score, r.summary));
                lines.push("  the first iteration would address:".into());
                lines.extend(self.would_address.iter().map(|i| format!("    - {i}")));
            }
            None => lines.push("  review   skipped: no API key set".into()),
        }
        lines.join("\n")
    }
}

/// The review's one tool call.
fn review_call() -> OneCall<'static, Review> {
    OneCall {
        tool: SUBMIT_REVIEW,
        purpose: "review the repository",
        parse: &review::parse_review,
        nudge: prompts::REVIEW_NUDGE,
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
    model: &str,
    settings: &SessionSettings,
    project: &Project,
    focus: Option<&str>,
    checks_text: &str,
    history: &[String],
) -> MessagesRequest {
    let mut request = MessagesRequest::new(model, settings.max_output_tokens);
    request.system = vec![SystemBlock::text(prompts::REVIEW_SYSTEM)];
    request.tools = vec![setup::tool_from_json(review::submit_review_tool())];
    request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
    let context = ProjectContext { summary: &project.summary, repo_map: &project.repo_map };
    let text = prompts::review_request(focus, checks_text, history);
    request.messages = vec![setup::first_message(&prompts::project_context(&context), &text)];
    request
}

/// A review is one call after the stable project context.
fn review_conversation(request: MessagesRequest) -> Conversation {
    Conversation::laid_out(request, CachePlan::one_call(1))
}

/// The editing conversation's first request on `model`; `text` is the iteration's part
/// ([`prompts::implement_request`], [`prompts::narrowed_request`]).
fn implement_request(
    model: &str,
    settings: &SessionSettings,
    project: &Project,
    text: &str,
    tools: &crate::tools::Tools,
) -> MessagesRequest {
    let mut request = MessagesRequest::new(model, settings.max_output_tokens);
    request.system = vec![SystemBlock::text(prompts::implement_system(&settings.checks, true))];
    request.tools = tools.definitions().into_iter().map(setup::tool_from_json).collect();
    let context = ProjectContext { summary: &project.summary, repo_map: &project.repo_map };
    request.messages = vec![setup::first_message(&prompts::project_context(&context), text)];
    request
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
        Outcome::Crashed => format!("cut off by a crash and rolled back{score}"),
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

/// `mmm: <subject>`, the explanation, the issues, and the session trailer. The issues are
/// those the change declared it addresses (`addressed`: numbers into `issues`, from 1); when
/// it declared none, every issue it was given, under a heading that says so rather than
/// claiming them.
fn commit_message(subject: &str, final_text: &str, issues: &[Issue], addressed: &[u32], session: &str) -> String {
    let explanation: String =
        final_text.lines().skip_while(|l| l.trim().is_empty()).skip(1).collect::<Vec<_>>().join("\n");
    let mut message = format!("mmm: {subject}\n\n");
    if !explanation.trim().is_empty() {
        message.push_str(explanation.trim());
        message.push_str("\n\n");
    }
    if addressed.is_empty() {
        message.push_str("Issues given (the change did not say which it addresses):\n");
        for issue in issues {
            message.push_str(&format!("- {issue}\n"));
        }
    } else {
        message.push_str("Issues addressed:\n");
        for issue in addressed.iter().filter_map(|n| issues.get((*n as usize).wrapping_sub(1))) {
            message.push_str(&format!("- {issue}\n"));
        }
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
    fn commit_messages_list_only_the_declared_issues_and_carry_the_trailer() {
        let issues = vec![
            Issue { severity: Severity::High, file: Some("src/a.rs".into()), description: "panics".into() },
            Issue { severity: Severity::Low, file: None, description: "no docs".into() },
        ];
        let text = "Handle empty input\n\nReturn an error instead.";
        assert_eq!(
            commit_message("Handle empty input", text, &issues, &[1], "s1"),
            "mmm: Handle empty input\n\nReturn an error instead.\n\nIssues addressed:\n- [high] src/a.rs: panics\n\nMmm-Session: s1\n"
        );
        assert_eq!(
            commit_message("Add docs", "Add docs", &issues, &[2], "s1"),
            "mmm: Add docs\n\nIssues addressed:\n- [low] no docs\n\nMmm-Session: s1\n"
        );
    }

    #[test]
    fn an_undeclared_change_claims_no_issue() {
        let issues =
            vec![Issue { severity: Severity::High, file: Some("src/a.rs".into()), description: "panics".into() }];
        assert_eq!(
            commit_message("Handle empty input", "Handle empty input", &issues, &[], "s1"),
            "mmm: Handle empty input\n\nIssues given (the change did not say which it addresses):\n\
             - [high] src/a.rs: panics\n\nMmm-Session: s1\n"
        );
    }

    #[test]
    fn failing_checks_come_first_in_the_focus() {
        assert_eq!(focus_for(Some("docs"), true).as_deref(), Some("docs"));
        assert_eq!(focus_for(None, true), None);
        assert_eq!(focus_for(Some("docs"), false).as_deref(), Some("First get the failing checks green. Then: docs"));
    }
}
