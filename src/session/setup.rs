//! What every engine does before and around its own loop: preflight (a clean tree, a
//! commit, a key), the analysis the prompts are built from, the session's settings and
//! price, starting a session (branch, journal, transcript, record, state) and reopening one
//! for `--resume`, and asking the model for exactly one tool call (the review, the spec
//! verdict). `mmm improve` and `mmm run` both call these; neither has a copy of its own.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;

use super::change::is_fatal;
use super::events::Event;
use super::stop::Limits;
use super::{PriceFn, Runner};
use crate::agent::{self, Conversation, Ended, ToolReply, ToolRunner};
use crate::analyzer;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::git::Git;
use crate::llm::{AnthropicClient, MessagesRequest, Model, Pricing, Tool, Usage};
use crate::redact::redact;
use crate::secrets::SecretFiles;
use crate::settings::{MMM_DIR, Settings};
use crate::state::journal::Journal;
use crate::state::session::{SessionKind, SessionRecord, SessionSettings, SessionStatus, SpecRecord};
use crate::state::summary::ProjectState;
use crate::state::{self, Layout};
use crate::tools::Tools;

/// Token budget of the repository map in prompts.
const REPO_MAP_TOKENS: usize = 6_000;

/// The analysis the prompts are built from.
pub struct Project {
    pub summary: String,
    pub repo_map: String,
    pub checks: Vec<String>,
}

pub async fn analyze(ctx: &Ctx<'_>, root: &Path, use_cache: bool) -> anyhow::Result<Project> {
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

/// The settings a session runs with: flags and settings, checks from settings or the analysis.
pub fn session_settings(
    settings: &Settings,
    focus: Option<String>,
    project: &Project,
) -> anyhow::Result<SessionSettings> {
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
        focus,
        in_place: settings.bool("in_place"),
    })
}

/// The pricing of the session's model. A budget needs a known price.
pub fn price_fn(settings: &Settings, session: &SessionSettings) -> anyhow::Result<PriceFn> {
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

/// The model client of the settings.
pub fn model(settings: &Settings) -> anyhow::Result<Arc<dyn Model>> {
    Ok(Arc::new(AnthropicClient::from_settings(settings)?))
}

/// Uncommitted changes of the user's, leaving out mmm's own `.mmm/` directory.
pub fn user_changes(git: &Git) -> anyhow::Result<Vec<String>> {
    Ok(git.status()?.into_iter().map(|e| e.path).filter(|p| !is_mmm_path(p)).collect())
}

pub fn is_mmm_path(path: &str) -> bool {
    path == ".mmm" || path.starts_with(".mmm/")
}

/// Refuses a tree with uncommitted changes (`dirty`, unless `allow_dirty`) or no commit.
pub fn preflight(git: &Git, dirty: &[String], allow_dirty: bool) -> anyhow::Result<()> {
    if !dirty.is_empty() && !allow_dirty {
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
    Ok(())
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
pub fn session_id() -> String {
    format!("{}-{:04x}", jiff::Zoned::now().strftime("%Y%m%d-%H%M%S"), fastrand::u16(..))
}

/// A tool definition (custom or Anthropic-defined) as the request type holds it.
pub fn tool_from_json(definition: Value) -> Tool {
    serde_json::from_value(definition).expect("mmm's own tool definitions are valid")
}

/// What a new session is.
pub struct NewSession {
    pub kind: SessionKind,
    /// `improve` → branches named `mmm/improve-<timestamp>`.
    pub branch_prefix: String,
    pub settings: SessionSettings,
    /// The user's uncommitted changes, committed first as a snapshot (`--allow-dirty`).
    pub dirty: Vec<String>,
    /// The spec a `mmm run` session implements.
    pub spec: Option<SpecRecord>,
}

/// A session that has started: its record (saved), the runner, and the branch it left.
pub struct Started<'a> {
    pub record: SessionRecord,
    pub runner: Runner<'a>,
    pub project_state: ProjectState,
    /// The branch that was checked out before the session made its own.
    pub base_branch: Option<String>,
}

/// Starts a session: its branch (unless in place), `.mmm/.gitignore`, the journal and
/// transcript, the `--allow-dirty` snapshot, `session.json` and `state.json`, and the
/// `session_started` event.
pub fn start<'a>(
    ctx: &'a Ctx<'a>,
    git: &Git,
    layout: &Layout,
    new: NewSession,
    verbose: bool,
    price: PriceFn,
) -> anyhow::Result<Started<'a>> {
    let base_branch = git.current_branch()?;
    let branch = if new.settings.in_place {
        base_branch.clone().unwrap_or_else(|| "HEAD".into())
    } else {
        let base = format!("mmm/{}-{}", new.branch_prefix, jiff::Zoned::now().strftime("%Y%m%d-%H%M%S"));
        let name = free_branch_name(git, &base)?;
        git.create_branch_and_switch(&name)?;
        name
    };
    layout.ensure_gitignore()?;

    let id = session_id();
    let session_dir = layout.session_dir(&id);
    let journal = Journal::open(&session_dir.join("events.jsonl"))?;
    let transcript = Journal::open(&session_dir.join("transcript.jsonl"))?;

    let mut snapshot_event = None;
    if !new.dirty.is_empty() {
        // The user's changes go in a commit of their own; secret files and mmm's own
        // directory stay out of git.
        let secrets = SecretFiles::new(git.root(), ctx.settings.list("secret_files"))?;
        let mut keep_out: Vec<&str> =
            new.dirty.iter().map(String::as_str).filter(|p| secrets.is_secret(Path::new(p), false)).collect();
        keep_out.push(MMM_DIR);
        let message = "mmm: snapshot before mmm\n\nUncommitted changes found when the session started.";
        if let Some(sha) = git.snapshot_dirty(message, &keep_out)? {
            let files = new.dirty.iter().filter(|p| !keep_out.contains(&p.as_str())).cloned().collect();
            snapshot_event = Some(Event::Snapshot { commit: sha, files });
        }
    }
    let start_commit = git.head()?.context("reading HEAD")?;

    let record = SessionRecord {
        version: state::session::VERSION,
        id: id.clone(),
        kind: new.kind,
        status: SessionStatus::Running,
        branch,
        start_commit,
        started_at: state::now(),
        ended_at: None,
        elapsed_secs: 0,
        stop_reason: None,
        settings: new.settings,
        baseline: Vec::new(),
        iterations: Vec::new(),
        usage: Usage::default(),
        cost_usd: Some(0.0),
        requests: 0,
        scores: Vec::new(),
        spec: new.spec,
    };
    record.save(&session_dir.join("session.json"))?;
    let mut project_state = ProjectState::load_or_default(&layout.state_file())?;
    project_state.last_session = Some(id.clone());
    project_state.totals.sessions += 1;
    project_state.save(&layout.state_file())?;

    let runner = Runner::new(ctx.printer, verbose, &record, Some(journal), Some(transcript), price);
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
    Ok(Started { record, runner, project_state, base_branch })
}

/// The session `--resume [ID]` names (the last one by default), loaded and checked: it
/// exists, it has not completed, and the tree is clean; then its branch is checked out.
/// A session of another `kind` is refused.
pub fn load_for_resume(
    git: &Git,
    layout: &Layout,
    id: Option<&str>,
    kind: SessionKind,
) -> anyhow::Result<(SessionRecord, ProjectState)> {
    let command = match kind {
        SessionKind::Improve => "mmm improve",
        SessionKind::Spec => "mmm run <spec>",
    };
    let project_state = ProjectState::load_or_default(&layout.state_file())?;
    let id = match id.map(str::to_string).or_else(|| project_state.last_session.clone()) {
        Some(id) => id,
        None => {
            return Err(CliError::usage("there is no session to resume in this repository")
                .with_hint(format!("start one with `{command}`"))
                .into());
        }
    };
    let path = layout.session_dir(&id).join("session.json");
    if !path.exists() {
        return Err(CliError::usage(format!("no session `{id}` in {}", layout.sessions_dir().display()))
            .with_hint("`mmm history` lists the sessions")
            .into());
    }
    let record = SessionRecord::load(&path)?;
    if record.kind != kind {
        let other = match record.kind {
            SessionKind::Improve => "mmm improve",
            SessionKind::Spec => "mmm run",
        };
        return Err(CliError::usage(format!("session {id} was not started by `{command}`"))
            .with_hint(format!("resume it with `{other} --resume {id}`"))
            .into());
    }
    if record.status == SessionStatus::Completed {
        let reason = record.stop_reason.as_ref().map(|r| r.to_string()).unwrap_or_default();
        return Err(CliError::usage(format!("session {id} already completed ({reason})"))
            .with_hint(format!("start a new session with `{command}`"))
            .into());
    }
    let dirty = user_changes(git)?;
    if !dirty.is_empty() {
        return Err(CliError::usage(format!("the working tree has uncommitted changes: {}", dirty.join(", ")))
            .with_hint("commit or stash them, then resume")
            .into());
    }
    if git.current_branch()?.as_deref() != Some(record.branch.as_str()) {
        git.switch(&record.branch).with_context(|| format!("switching to the session's branch {}", record.branch))?;
    }
    Ok((record, project_state))
}

/// Reopens a session loaded by [`load_for_resume`]: its journal and transcript,
/// marked running again, and the `session_started` event with `resumed: true`.
pub fn reopen<'a>(
    ctx: &'a Ctx<'a>,
    layout: &Layout,
    record: &mut SessionRecord,
    project_state: &mut ProjectState,
    verbose: bool,
) -> anyhow::Result<Runner<'a>> {
    let price = price_fn(&ctx.settings, &record.settings)?;
    let session_dir = layout.session_dir(&record.id);
    let journal = Journal::open(&session_dir.join("events.jsonl"))?;
    let transcript = Journal::open(&session_dir.join("transcript.jsonl"))?;

    record.status = SessionStatus::Running;
    record.ended_at = None;
    record.stop_reason = None;
    record.save(&session_dir.join("session.json"))?;
    project_state.last_session = Some(record.id.clone());
    project_state.save(&layout.state_file())?;

    let runner = Runner::new(ctx.printer, verbose, record, Some(journal), Some(transcript), price);
    runner.emit(&Event::SessionStarted {
        session: record.id.clone(),
        branch: record.branch.clone(),
        start_commit: record.start_commit.clone(),
        model: record.settings.model.clone(),
        checks: record.settings.checks.clone(),
        resumed: true,
    });
    Ok(runner)
}

/// Why a request for one tool call produced no usable result.
pub struct AskFailure {
    pub message: String,
    pub usage: Usage,
    pub requests: u32,
    pub fatal: bool,
}

/// What [`ask_for_tool`] asks for: the one tool, how to check its input, and the reminder
/// sent when the model answered without calling it.
pub struct OneCall<'f, T> {
    pub tool: &'static str,
    /// What the request is for, in the error texts: "review the repository".
    pub purpose: &'static str,
    pub parse: &'f dyn Fn(&Value) -> Result<T, String>,
    pub nudge: &'static str,
}

/// Captures the one tool call.
struct Sink<'f, T> {
    call: &'f OneCall<'f, T>,
    value: Option<T>,
}

impl<T> ToolRunner for Sink<'_, T> {
    fn run(&mut self, name: &str, input: &Value) -> ToolReply {
        let tool = self.call.tool;
        if name != tool {
            return ToolReply { content: format!("Error: unknown tool `{name}`; call `{tool}`."), is_error: true };
        }
        match (self.call.parse)(input) {
            Ok(value) => {
                self.value = Some(value);
                ToolReply { content: format!("`{tool}` recorded."), is_error: false }
            }
            Err(e) => {
                ToolReply { content: format!("Error: {e}. Call `{tool}` again with corrected input."), is_error: true }
            }
        }
    }
}

/// Sends `request` (a fresh conversation offering one tool); asks once more if no valid
/// call came back. Returns the parsed input with the usage and requests it took.
pub async fn ask_for_tool<T>(
    model: &dyn Model,
    runner: &Runner<'_>,
    iteration: u32,
    label: &str,
    request: MessagesRequest,
    call: &OneCall<'_, T>,
) -> Result<(T, Usage, u32), AskFailure> {
    let mut conversation = Conversation::new(request);
    let mut sink = Sink { call, value: None };
    let hooks = runner.hooks(iteration, label, false);
    for attempt in 0..2 {
        let ended = agent::run_turns(model, &mut conversation, &mut sink, 1, &hooks).await;
        let fail = |message: String, fatal: bool| AskFailure {
            message,
            usage: conversation.usage,
            requests: conversation.requests,
            fatal,
        };
        match ended {
            Err(e) => return Err(fail(format!("the {label} request failed: {e}"), is_fatal(&e))),
            Ok(_) if sink.value.is_some() => break,
            Ok(Ended::Refusal { .. }) => return Err(fail(format!("the model declined to {}", call.purpose), false)),
            Ok(Ended::Done { .. }) if attempt == 0 => conversation.push_user_text(call.nudge),
            Ok(_) => {}
        }
    }
    match sink.value {
        Some(value) => Ok((value, conversation.usage, conversation.requests)),
        None => Err(AskFailure {
            message: format!("the model did not call `{}` with a valid {label} (asked twice)", call.tool),
            usage: conversation.usage,
            requests: conversation.requests,
            fatal: false,
        }),
    }
}

impl ToolRunner for Tools {
    fn run(&mut self, name: &str, input: &Value) -> ToolReply {
        let outcome = self.execute(name, input);
        ToolReply { content: outcome.content, is_error: outcome.is_error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmm_paths_are_recognised() {
        assert!(is_mmm_path(".mmm/state.json") && is_mmm_path(".mmm"));
        assert!(!is_mmm_path(".mmmx") && !is_mmm_path("src/.mmm"));
    }
}
