//! The session engine: one running session of any kind, and the loop every policy shares.
//!
//! A [`Session`] owns what a running session shares between its steps: the record, the
//! journal and transcript, git for its own work tree (and the lock on it), the model, the
//! usage so far, the observer that watches it and a cancellation token. It takes all of it
//! as values (no borrowed context, no process-wide working directory), so a program can
//! spawn many sessions, each on its own work tree, each cancellable through a child token.
//!
//! [`drive`] is the one loop: baseline, then attempts until the [`Policy`] says stop, then
//! [`Session::finish`]. An attempt is checkpointed on disk before the first edit, runs the
//! policy (what to ask, whether to keep), and is committed or rolled back exactly; Ctrl+C
//! (the token) rolls it back. Inside an attempt, [`Session::edit_until_green`] is the one
//! verified change every policy shares: the model edits through the confined tools until
//! it stops, the work is kept reachable (`refs/mmm/wip/...`), the project's checks run,
//! and failures go back to the model for a few fix rounds; it never commits or rolls back
//! (the attempt does, once the policy has decided). The engine never prints: everything
//! goes out as events.
//!
//! The checks run code the model wrote, so they may not change the rules: the files of
//! [`Rules`] (git's hooks and configuration, mmm's settings) are put back after every run
//! that changed them, and such an iteration fails. A commit runs with the hooks the session
//! started with, and a roll back also puts back files git does not track that the tools
//! wrote ([`Originals`]). A change kept by the checks is first compared with the
//! iteration's start for what it did to the checks themselves ([`super::integrity`]): a
//! flagged change is committed with its flags in the record and the commit message.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::events::{Envelope, Event, Observer, Summary};
use super::recovery::{self, Checkpoint};
use super::retries::{Fallback, ModelReason, Switch};
use super::rules::{Rules, RulesSnapshot};
use super::stop::{self, Progress, StopReason};
use super::transcript::Transcript;
use super::{PriceFn, checks, prompts, setup};
use crate::agent::{self, Conversation, Ended, Hooks, ToolReply};
use crate::exec::CommandResult;
use crate::git::{Git, Snapshot};
use crate::llm::{LlmError, MessagesRequest, MessagesResponse, Model, Usage};
use crate::redact::redact;
use crate::secrets::SecretFiles;
use crate::state::journal::Journal;
use crate::state::lock::WorkTreeLock;
use crate::state::session::{IterationRecord, Outcome, SessionKind, SessionRecord, SessionStatus, SpecRecord};
use crate::state::summary::ProjectState;
use crate::state::{self, Layout};
use crate::tools::{EditorForm, Originals, Tools, Workspace};

/// The analysis the prompts are built from.
#[derive(Debug, Clone)]
pub struct Project {
    pub summary: String,
    pub repo_map: String,
    /// The analysis's map with its graph, to rank toward an iteration's issues.
    pub map: Vec<crate::analyzer::MapFile>,
    /// Token budget of the map ranked toward an iteration's issues (0: none).
    pub related_map_tokens: usize,
    pub checks: Vec<String>,
    /// How long the analysis took (a cache hit is quick), for the profile.
    pub analysis_ms: u64,
}

/// What a session is given besides its record: everything as values.
#[derive(Clone)]
pub struct Env {
    pub git: Git,
    pub model: Arc<dyn Model>,
    pub observer: Arc<dyn Observer>,
    pub cancel: CancellationToken,
    /// Extra patterns of secret files (settings), on top of the built-in ones.
    pub secret_files: Vec<String>,
    /// Patterns of files the tools may not edit because they define the checks (`protect`).
    pub protect: Vec<String>,
    /// The prompt cache's time to live, when it is refreshed during long checks
    /// ([`Session::checks_keeping_cache`]); `None`: never.
    pub cache_refresh: Option<Duration>,
    /// The user's command tools (`[tools.<name>]`), offered in editing conversations.
    pub command_tools: Vec<crate::settings::extensions::ToolDef>,
    /// Where the `[mcp.<name>]` plugin servers are read from, at each iteration boundary.
    pub mcp: crate::settings::mcp::McpSource,
    /// Set when the session is one worker of a parallel run ([`super::parallel`]).
    pub shared: Option<Shared>,
}

impl Env {
    /// A session's surroundings for one work tree: the settings' parts from `config`, not a
    /// parallel worker (`shared` is set by the parallel run).
    pub fn new(
        git: Git,
        model: Arc<dyn Model>,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
        config: &crate::settings::session::SessionConfig,
    ) -> Self {
        Self {
            git,
            model,
            observer,
            cancel,
            secret_files: config.secret_files.clone(),
            protect: config.protect.clone(),
            cache_refresh: config.cache_refresh,
            command_tools: config.command_tools.clone(),
            mcp: config.mcp.clone(),
            shared: None,
        }
    }
}

/// What a parallel worker shares with the run it belongs to: the records live in the main
/// work tree's `.mmm/` (the worker's own tree is removed when it ends; only its lock is
/// its own), the run's base branch (the worker's tree starts detached), and one budget.
#[derive(Clone)]
pub struct Shared {
    pub layout: Layout,
    pub base_branch: Option<String>,
    pub spend: Arc<Spend>,
    /// The session's id, chosen by the run (its work tree is named after it).
    pub id: String,
    /// The files of the other workers' issues, which this worker's tools may not write.
    pub reserved: Vec<String>,
}

/// What every session of a run has cost so far, together: `--budget-usd` is their total.
#[derive(Debug, Default)]
pub struct Spend {
    /// Spent before any worker started (the run's one review).
    before: f64,
    by_session: Mutex<BTreeMap<String, f64>>,
}

impl Spend {
    pub fn new(before: f64) -> Self {
        Self { before, by_session: Mutex::default() }
    }

    /// `session` has cost `cost` so far (earlier runs included).
    pub fn set(&self, session: &str, cost: f64) {
        self.by_session.lock().unwrap_or_else(|p| p.into_inner()).insert(session.to_string(), cost);
    }

    /// The run's cost so far.
    pub fn total(&self) -> f64 {
        self.before + self.by_session.lock().unwrap_or_else(|p| p.into_inner()).values().sum::<f64>()
    }
}

/// What a new session is.
pub struct NewSession {
    pub kind: SessionKind,
    /// `improve` → branches named `mmm/improve-<timestamp>`.
    pub branch_prefix: String,
    pub settings: crate::state::session::SessionSettings,
    /// The user's uncommitted changes, committed first as a snapshot (`--allow-dirty`).
    pub dirty: Vec<String>,
    pub spec: Option<SpecRecord>,
    pub price: PriceFn,
}

/// A running session.
pub struct Session {
    pub record: SessionRecord,
    pub git: Git,
    pub layout: Layout,
    pub model: Arc<dyn Model>,
    pub project: Project,
    pub cancel: CancellationToken,
    /// The checks as they stand: the baseline, then the last green run of a kept change.
    pub checks_now: Vec<CommandResult>,
    /// The branch that was checked out before the session made its own.
    pub base_branch: Option<String>,
    observer: Arc<dyn Observer>,
    secret_files: Vec<String>,
    protect: Vec<String>,
    cache_refresh: Option<Duration>,
    command_tools: Vec<crate::settings::extensions::ToolDef>,
    /// Cache refreshes sent by this run ([`Session::checks_keeping_cache`]).
    refreshes: std::sync::atomic::AtomicU32,
    refreshes_before: u32,
    /// The prefix the next review will start with, while it is worth keeping warm.
    next_review: Mutex<Option<WarmPrefix>>,
    journal: Journal,
    transcript: Transcript,
    price: PriceFn,
    /// Usage (by model) and requests of this run so far, updated by every response (so a
    /// cancelled step still counts what it spent).
    live: Mutex<Live>,
    /// The model as the settings gave it, without the fallback: cache refreshes go here.
    direct_model: Arc<dyn Model>,
    /// Set once requests for the session's model go to `fallback_model` ([`Fallback`]).
    switched: Option<Arc<AtomicBool>>,
    /// Switches of model or focus of this run, until the record takes them.
    switches: Mutex<Vec<Switch>>,
    /// Earlier runs' cost, and whether they used more than the session's model.
    cost_before: Option<f64>,
    mixed_before: bool,
    /// The files the tools created or modified in the current attempt, relative to the root.
    edited: Mutex<std::collections::BTreeSet<String>>,
    usage_before: Usage,
    requests_before: u32,
    started: Instant,
    elapsed_before: u64,
    /// The files that set the rules, and the hooks as the session started with them.
    rules: Rules,
    hooks_at_start: RulesSnapshot,
    /// What the tools' writes of the current attempt replaced.
    originals: Originals,
    /// The index's submodules, read once: no tool can add one, so they cannot change
    /// during the session (listing a large index every iteration would cost more than
    /// everything else mmm does per iteration).
    submodules: Vec<String>,
    /// The score of the current attempt's review, once reported: an attempt cut off after
    /// it (Ctrl+C while editing) still records the score it measured.
    reviewed: Mutex<Option<f64>>,
    /// The current attempt's start and its last saved work in progress.
    wip: Mutex<Wip>,
    /// The plugin servers of this work tree, brought in line with the settings files at
    /// each iteration boundary ([`Session::tools`]).
    plugins: crate::plugins::Plugins,
    /// Set for a parallel worker: the run's shared budget.
    spend: Option<Arc<Spend>>,
    /// The files other parallel workers change ([`Shared::reserved`]).
    reserved: Vec<String>,
    /// Journal events written by this process (for the crash sweep).
    _lock: WorkTreeLock,
}

/// The current attempt's work in progress: the commit it starts from, and the last one
/// saved under `refs/mmm/wip/...`.
#[derive(Debug, Default)]
struct Wip {
    base: Option<String>,
    saved: Option<SavedWip>,
}

/// A saved work in progress and what its files held then (contents and, on Unix, modes),
/// so a later reader can tell whether it still holds the work tree's edits.
#[derive(Debug)]
struct SavedWip {
    commit: String,
    files: Vec<(String, Option<FileState>)>,
}

/// A file's bytes (a symlink's target) and mode.
type FileState = (Vec<u8>, u32);

/// A work in progress larger than this is not kept in memory to be compared later.
const WIP_KEPT_BYTES: usize = 8 << 20;

impl SavedWip {
    fn read(root: &std::path::Path, commit: String, paths: &[String]) -> Option<Self> {
        let mut size = 0;
        let mut files = Vec::new();
        for path in paths {
            let state = file_state(&root.join(path));
            size += state.as_ref().map_or(0, |(bytes, _)| bytes.len());
            if size > WIP_KEPT_BYTES {
                return None;
            }
            files.push((path.clone(), state));
        }
        Some(SavedWip { commit, files })
    }

    /// Whether every one of `paths` was saved, and is on disk now as it was then.
    fn holds(&self, root: &std::path::Path, paths: &[String]) -> bool {
        paths
            .iter()
            .all(|path| self.files.iter().any(|(saved, state)| saved == path && *state == file_state(&root.join(path))))
    }
}

/// A file's bytes and mode; `None` when it is not a readable file.
fn file_state(path: &std::path::Path) -> Option<FileState> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
    #[cfg(not(unix))]
    let mode = 0;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).ok()?;
        return Some((target.to_string_lossy().into_owned().into_bytes(), mode));
    }
    Some((std::fs::read(path).ok()?, mode))
}

/// What this run has used so far: usage by the model that answered, and requests.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub by_model: BTreeMap<String, Usage>,
    pub requests: u32,
}

impl Live {
    /// The usage of every model together.
    pub fn usage(&self) -> Usage {
        let mut total = Usage::default();
        for usage in self.by_model.values() {
            total += *usage;
        }
        total
    }

    /// The cost of what was used since `before`, priced per model (`model` prices an
    /// interval that used nothing); `None` when a price is unknown.
    pub fn since(&self, before: &Live, model: &str, price: impl Fn(&str, &Usage) -> Option<f64>) -> Option<f64> {
        let mut used = Vec::new();
        for (name, usage) in &self.by_model {
            let mut usage = *usage;
            if let Some(earlier) = before.by_model.get(name) {
                usage -= *earlier;
            }
            if usage != Usage::default() {
                used.push((name.as_str(), usage));
            }
        }
        if used.is_empty() {
            return price(model, &Usage::default());
        }
        used.into_iter().map(|(name, usage)| price(name, &usage)).sum()
    }
}

/// How a policy's attempt ended.
pub enum Attempt {
    /// Keep the change: commit `paths` with `message`. `checks` are its green checks.
    Keep { it: Box<IterationRecord>, paths: Vec<String>, message: String, checks: Vec<CommandResult> },
    /// Undo every edit of the attempt.
    Undo { it: Box<IterationRecord> },
    /// A stop rule fired before anything was edited (after a review of `score`); no
    /// iteration is recorded.
    Stop { reason: StopReason, score: Option<f64> },
    /// A failure no retry can fix: the edits are undone and the session ends with it.
    Fatal { error: anyhow::Error },
}

/// What drives a session: what to ask the model, when a change is kept, when to stop.
pub trait Policy: Send {
    /// Checked before every attempt: a reason to stop, or `None` to go on.
    fn before_attempt(&mut self, session: &Session) -> Option<StopReason>;

    /// One attempt, on a clean tree at the checkpoint: ask, edit, check, and say what to
    /// keep. `index` is the iteration's number. Dropped midway when the session is cancelled.
    fn attempt(&mut self, session: &Session, index: u32) -> impl Future<Output = anyhow::Result<Attempt>> + Send;

    /// After an attempt's iteration is recorded (kept or undone): a reason to stop now.
    fn after_attempt(&mut self, _record: &mut SessionRecord) -> Option<StopReason> {
        None
    }

    /// The session has stopped (its record is final but not yet saved): the policy's own
    /// bookkeeping and events.
    fn finished(&mut self, _session: &Session, _reason: &StopReason) -> anyhow::Result<()> {
        Ok(())
    }
}

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
    /// The checks changed the files that set the rules (git's hooks or configuration,
    /// mmm's settings); they were put back.
    RulesChanged,
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
            let rules = self.rules.snapshot()?;
            // A fix round would continue this conversation: its prefix is known.
            let fix_may_follow = change.rounds < settings.fix_rounds;
            change.results = self.checks_keeping_cache(index, conversation, fix_may_follow).await;
            let changed_rules = self.rules.put_back(&rules)?;
            self.activity(None);
            let passed = checks::passed(&settings.checks, &change.results);
            self.emit(&Event::Validation {
                iteration: index,
                round: change.rounds,
                passed,
                checks: checks::records(&change.results),
            });
            if !changed_rules.is_empty() {
                let files = changed_rules.join(", ");
                self.warn(&format!(
                    "iteration {index}: the checks changed files that set the rules ({files}); mmm put them back and rolls the iteration back"
                ));
                let error = format!("the checks changed files that set the rules ({files}); mmm put them back");
                return Ok(change.fail(ChangeKind::RulesChanged, &error));
            }
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

/// The most cache refreshes during one run of the checks: past about eleven, refreshing
/// (each a read at 0.1× the input price) costs more than writing the prefix again (1.25×
/// instead of a 0.1× read) would.
const MAX_REFRESHES: u32 = 10;

/// A cached prefix worth keeping alive while the checks run: the request that reads it
/// again (ending with a user message, `max_tokens: 1`), when it was last read, and the
/// conversation it belongs to (`review-2`, `implement-2`), for the events.
#[derive(Debug, Clone)]
pub struct WarmPrefix {
    pub label: String,
    pub request: MessagesRequest,
    pub sent: Instant,
}

impl Session {
    /// Remembers the stable prefix of `request`, a review sent at `sent`, as the prefix the
    /// next iteration's review will start with: [`Session::checks_keeping_cache`] keeps it
    /// alive. Nothing is remembered when the prefix is too short to be cached.
    pub fn remember_review_prefix(&self, label: String, request: &MessagesRequest, sent: Instant) {
        let mut prefix = request.clone();
        prefix.messages.truncate(1);
        if let Some(first) = prefix.messages.first_mut() {
            first.content.truncate(1);
        }
        prefix.max_tokens = 1;
        crate::llm::cache::place_breakpoints(&mut prefix, &crate::llm::cache::CachePlan::one_call(1));
        let warm = crate::llm::cache::has_breakpoints(&prefix).then_some(WarmPrefix { label, request: prefix, sent });
        *self.next_review.lock().unwrap_or_else(|p| p.into_inner()) = warm;
    }

    /// Runs the checks. Meanwhile, when `cache_refresh` is on, the prefixes the next
    /// request may start with are kept in the cache, each refreshed a tenth of the TTL
    /// before it would expire: the editing conversation so far when `fix_may_follow` (a
    /// fix round would continue it), and the reviews' stable prefix when another iteration
    /// may follow. Each refresh is priced and counted like any request (`usage` and
    /// `cache_refresh` events); a failed one is a warning, and that prefix's refreshes stop.
    async fn checks_keeping_cache(
        &self,
        index: u32,
        conversation: &Conversation,
        fix_may_follow: bool,
    ) -> Vec<CommandResult> {
        let settings = &self.record.settings;
        let timeout = Duration::from_secs(settings.check_timeout_secs);
        let checks = checks::run(&settings.checks, self.git.root(), timeout, &settings.pass_env);
        let Some(ttl) = self.cache_refresh else { return checks.await };
        let editing = match (fix_may_follow, conversation.last_sent, refresh_request(conversation)) {
            (true, Some(sent), Some(request)) => {
                Some(WarmPrefix { label: format!("implement-{index}"), request, sent })
            }
            _ => None,
        };
        let review = (index < settings.limits.max_iterations)
            .then(|| self.next_review.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .flatten();
        if editing.is_none() && review.is_none() {
            return checks.await;
        }
        let done = CancellationToken::new();
        let checks = async {
            let results = checks.await;
            done.cancel();
            results
        };
        let keep = |warm: Option<WarmPrefix>| {
            let done = &done;
            async move {
                match warm {
                    Some(warm) => Some(self.keep_warm(index, warm, ttl, done).await),
                    None => None,
                }
            }
        };
        let (results, _, review) = tokio::join!(checks, keep(editing), keep(review));
        if let Some(review) = review {
            *self.next_review.lock().unwrap_or_else(|p| p.into_inner()) = Some(review);
        }
        results
    }

    /// Refreshes `warm` before each expiry until `done` (at most [`MAX_REFRESHES`] times,
    /// and never once it has expired); returns it with the time it was last read.
    async fn keep_warm(&self, index: u32, mut warm: WarmPrefix, ttl: Duration, done: &CancellationToken) -> WarmPrefix {
        for _ in 0..MAX_REFRESHES {
            tokio::select! {
                _ = done.cancelled() => break,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(warm.sent + ttl - ttl / 10)) => {}
            }
            let started = Instant::now();
            if started >= warm.sent + ttl {
                // Expired already (the model edited longer than the TTL): a refresh would
                // write the prefix, which the next request can do as well.
                break;
            }
            if self.switched.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                // Requests go to the fallback model now: the prefix cached for the
                // session's model will not be read again.
                break;
            }
            match self.direct_model.send(&warm.request, &|_| {}).await {
                Ok(response) => {
                    let cost_usd = self.count(&warm.request.model, &response.usage);
                    self.refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let usage = response.usage;
                    let conversation = warm.label.clone();
                    let duration_ms = started.elapsed().as_millis() as u64;
                    let event = Event::Usage {
                        iteration: index,
                        conversation: conversation.clone(),
                        usage,
                        cost_usd,
                        duration_ms,
                    };
                    self.emit(&event);
                    self.emit(&Event::CacheRefresh {
                        iteration: index,
                        conversation,
                        cache_read_input_tokens: usage.cache_read_input_tokens,
                        cost_usd,
                    });
                    warm.sent = started;
                }
                Err(e) => {
                    self.warn(&format!("iteration {index}: could not refresh the prompt cache: {e}"));
                    break;
                }
            }
        }
        warm
    }
}

/// The request that refreshes `conversation`'s cache entries: its last request, cut after
/// its last user message (a request may not end with the model's turn), with the same
/// breakpoints and `max_tokens: 1`. `None` before the first request, and when nothing in it
/// is long enough to be cached.
fn refresh_request(conversation: &Conversation) -> Option<MessagesRequest> {
    let mut request = conversation.request.clone();
    let last_user = request.messages.iter().rposition(|m| m.role == crate::llm::Role::User)?;
    request.messages.truncate(last_user + 1);
    request.max_tokens = 1;
    crate::llm::cache::place_breakpoints(&mut request, &conversation.cache);
    crate::llm::cache::has_breakpoints(&request).then_some(request)
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

/// How a session ended: its record, and the error that ended it, kept with its type (an
/// API failure keeps its own hint).
pub struct Finished {
    pub record: SessionRecord,
    pub error: Option<anyhow::Error>,
}

impl Session {
    /// Starts a session: the work-tree lock, its branch (unless in place), the journal and
    /// transcript, the `--allow-dirty` snapshot, `session.json` and `state.json`, and the
    /// `session_started` event.
    pub fn start(env: Env, project: Project, new: NewSession) -> anyhow::Result<Session> {
        let git = env.git.clone();
        let layout = state_layout(&env);
        let id = env.shared.as_ref().map_or_else(session_id, |s| s.id.clone());
        let lock = WorkTreeLock::acquire(&Layout::new(git.root()).lock_file(), &id)?;
        let base_branch = match &env.shared {
            Some(shared) => shared.base_branch.clone(),
            None => git.current_branch()?,
        };
        let worker = env.shared.is_some();
        let branch = if new.settings.in_place {
            base_branch.clone().unwrap_or_else(|| "HEAD".into())
        } else {
            let base = format!("mmm/{}-{}", new.branch_prefix, jiff::Zoned::now().strftime("%Y%m%d-%H%M%S"));
            let name = free_branch_name(&git, &base)?;
            git.create_branch_and_switch(&name)?;
            name
        };
        layout.ensure_gitignore()?;

        let mut snapshot_event = None;
        if !new.dirty.is_empty() {
            // The user's changes go in a commit of their own; secret files and mmm's own
            // directory stay out of git.
            let secrets = SecretFiles::new(git.root(), &env.secret_files)?;
            let mut keep_out: Vec<&str> = new
                .dirty
                .iter()
                .map(String::as_str)
                .filter(|p| secrets.is_secret(std::path::Path::new(p), false))
                .collect();
            keep_out.push(crate::settings::MMM_DIR);
            // Build output of earlier checks is not the user's work.
            let outputs = setup::check_outputs(&git);
            keep_out.extend(outputs.iter().map(String::as_str));
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
            base_branch: base_branch.clone(),
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
            cache_refreshes: 0,
            scores: Vec::new(),
            spec: new.spec,
            undone: None,
            switches: Vec::new(),
        };
        let session = Session::open(env, project, layout, record, new.price, lock, base_branch)?;
        session.save()?;
        // A worker is resumed with its run (`--parallel --resume`), never as the last session.
        if !worker {
            ProjectState::update(&session.layout.state_file(), |s| s.last_session = Some(id.clone()))?;
        }
        session.emit_started(false, None);
        if let Some(event) = snapshot_event {
            session.emit(&event);
        }
        session.warn_uncommitted_settings()?;
        Ok(session)
    }

    /// Reopens a stopped or crashed session for `--resume` (the work-tree lock is taken
    /// first): a crash's cut-off iteration is put right ([`recovery::recover`]), the tree
    /// must then be clean, its branch is checked out, and it runs again. `previous_model` is
    /// the model the record named before this run changed it ([`super::setup::switch_model`]).
    pub fn resume(
        env: Env,
        project: Project,
        mut record: SessionRecord,
        price: PriceFn,
        previous_model: Option<String>,
    ) -> anyhow::Result<Session> {
        let git = env.git.clone();
        let layout = state_layout(&env);
        let lock = WorkTreeLock::acquire(&Layout::new(git.root()).lock_file(), &record.id)?;
        let worker = env.shared.is_some();
        let recovered = recovery::recover(&git, &layout, &mut record, &price)?;
        let dirty = super::setup::user_changes(&git)?;
        if !dirty.is_empty() {
            return Err(crate::CliError::usage(format!(
                "the working tree has uncommitted changes: {}",
                dirty.join(", ")
            ))
            .with_hint("commit or stash them, then resume")
            .into());
        }
        if git.current_branch()?.as_deref() != Some(record.branch.as_str()) {
            git.switch(&record.branch)
                .with_context(|| format!("switching to the session's branch {}", record.branch))?;
        }
        record.status = SessionStatus::Running;
        record.ended_at = None;
        record.stop_reason = None;
        let base_branch = env.shared.as_ref().and_then(|s| s.base_branch.clone());
        let session = Session::open(env, project, layout, record, price, lock, base_branch)?;
        session.save()?;
        let id = session.record.id.clone();
        if !worker {
            ProjectState::update(&session.layout.state_file(), |s| s.last_session = Some(id))?;
        }
        session.emit_started(true, previous_model);
        for event in recovered {
            session.emit(&event);
        }
        session.warn_uncommitted_settings()?;
        Ok(session)
    }

    fn open(
        env: Env,
        project: Project,
        layout: Layout,
        record: SessionRecord,
        price: PriceFn,
        lock: WorkTreeLock,
        base_branch: Option<String>,
    ) -> anyhow::Result<Session> {
        let dir = layout.session_dir(&record.id);
        let journal = Journal::open(&dir.join("events.jsonl"))?;
        let transcript = Transcript::open(&dir.join("transcript.jsonl"))?;
        let rules = Rules::new(&env.git)?;
        let submodules = env.git.submodules()?;
        let hooks_at_start = rules.hooks_snapshot()?;
        let originals = Originals::on_disk(recovery::originals_dir(&layout, &record.id));
        let direct_model = env.model.clone();
        let plugins = crate::plugins::Plugins::new(
            env.mcp.clone(),
            env.git.root(),
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
        );
        let (spend, reserved) = match env.shared {
            Some(shared) => (Some(shared.spend), shared.reserved),
            None => (None, Vec::new()),
        };
        let (model, switched): (Arc<dyn Model>, _) = match &record.settings.fallback_model {
            Some(fallback) if *fallback != record.settings.model => {
                let wrapped = Fallback::new(env.model, record.settings.model.clone(), fallback.clone());
                let switched = wrapped.switched();
                (Arc::new(wrapped), Some(switched))
            }
            _ => (env.model, None),
        };
        Ok(Session {
            cost_before: record.cost_usd,
            mixed_before: record.switches.iter().any(|s| matches!(s, Switch::Model { .. })),
            usage_before: record.usage,
            requests_before: record.requests,
            refreshes_before: record.cache_refreshes,
            elapsed_before: record.elapsed_secs,
            record,
            git: env.git,
            layout,
            model,
            direct_model,
            switched,
            switches: Mutex::default(),
            project,
            cancel: env.cancel,
            checks_now: Vec::new(),
            base_branch,
            observer: env.observer,
            secret_files: env.secret_files,
            protect: env.protect,
            cache_refresh: env.cache_refresh,
            command_tools: env.command_tools,
            refreshes: std::sync::atomic::AtomicU32::new(0),
            next_review: Mutex::new(None),
            journal,
            transcript,
            price,
            live: Mutex::default(),
            edited: Mutex::default(),
            started: Instant::now(),
            rules,
            hooks_at_start,
            originals,
            reviewed: Mutex::new(None),
            wip: Mutex::default(),
            submodules,
            plugins,
            spend,
            reserved,
            _lock: lock,
        })
    }

    /// Says so when a settings file under `.mmm/` differs from its committed version: the
    /// session runs with settings git has not recorded (and a check may have written).
    fn warn_uncommitted_settings(&self) -> anyhow::Result<()> {
        for name in ["config.toml", "policy.toml"] {
            let path = format!("{}/{name}", crate::settings::MMM_DIR);
            match self.git.path_status(&path)?.as_deref() {
                None => {}
                Some("??") => {
                    self.warn(&format!("{path} is not committed: this session runs with settings git has no record of"))
                }
                Some(_) => self.warn(&format!(
                    "{path} differs from the committed version: this session runs with the uncommitted settings"
                )),
            }
        }
        Ok(())
    }

    fn emit_started(&self, resumed: bool, previous_model: Option<String>) {
        self.emit(&Event::SessionStarted {
            kind: self.record.kind,
            branch: self.record.branch.clone(),
            start_commit: self.record.start_commit.clone(),
            model: self.record.settings.model.clone(),
            checks: self.record.settings.checks.clone(),
            resumed,
            previous_model,
            analysis_ms: self.project.analysis_ms,
            sandbox: crate::sandbox::enforcement_now(),
        });
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    fn session_file(&self) -> PathBuf {
        self.layout.session_dir(&self.record.id).join("session.json")
    }

    /// Writes `session.json` (atomically).
    pub fn save(&self) -> anyhow::Result<()> {
        self.record.save(&self.session_file())
    }

    /// Journals an event, then hands it to the observer. A journal failure is reported once
    /// as a warning rather than ending the session.
    pub fn emit(&self, event: &Event) {
        if let Event::Review { score, .. } = event {
            *self.reviewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(*score);
        }
        let envelope = Envelope { session: &self.record.id, event };
        if let Err(e) = self.journal.append(&envelope) {
            self.observer.warn(&self.record.id, &format!("could not write the journal: {e:#}"));
        }
        #[cfg(debug_assertions)]
        recovery::abort_point();
        self.observer.event(&self.record.id, event);
    }

    /// What the session is busy with, for live views (`None`: nothing).
    pub fn activity(&self, what: Option<String>) {
        self.observer.activity(&self.record.id, what);
    }

    pub fn warn(&self, message: &str) {
        self.observer.warn(&self.record.id, message);
    }

    /// The confined tools for an editing conversation, the editor in the form the model's
    /// endpoint takes, and the plugins' tools: the `[mcp]` tables are read again first and
    /// the servers brought in line with them (a server that cannot start is a warning).
    pub async fn tools(&self) -> anyhow::Result<Tools> {
        match self.plugins.reload().await {
            Ok(reloaded) => {
                for (name, why) in &reloaded.failed {
                    self.warn(&format!("plugin `{name}` is not available this iteration: {why}"));
                }
            }
            Err(e) => self.warn(&format!("the `[mcp]` settings were not reloaded, the plugins stay as they were: {e}")),
        }
        let root = self.git.root();
        let workspace = Workspace::new(root, SecretFiles::new(root, &self.secret_files)?)?
            .with_submodules(self.submodules.clone())
            .with_protected(&self.protect)?
            .with_reserved(&self.reserved);
        let editor = if self.model.builtin_tools() { EditorForm::Builtin } else { EditorForm::Schema };
        let tools = Tools::keeping(workspace, self.originals.clone())
            .with_editor(editor)
            .with_commands(self.command_tools.clone());
        Ok(tools.with_plugins(self.plugins.clone()))
    }

    /// The cost of `usage` of `model`, when its price is known.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        (self.price)(model, usage)
    }

    /// Counts a response of `requested` (the model its request named) in the account, and
    /// returns its cost.
    fn count(&self, requested: &str, usage: &Usage) -> Option<f64> {
        let model = self.sent_to(requested);
        {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            *live.by_model.entry(model.clone()).or_default() += *usage;
            live.requests += 1;
        }
        if let Some(spend) = &self.spend {
            spend.set(&self.record.id, self.total_cost().unwrap_or(0.0));
        }
        self.cost(&model, usage)
    }

    /// The model a request naming `requested` goes to: the fallback once the session
    /// switched to it, else itself.
    fn sent_to(&self, requested: &str) -> String {
        match (&self.switched, &self.record.settings.fallback_model) {
            (Some(switched), Some(fallback))
                if switched.load(Ordering::SeqCst) && requested == self.record.settings.model =>
            {
                fallback.clone()
            }
            _ => requested.to_string(),
        }
    }

    /// The model new conversations of the session name: `model`, or `fallback_model`
    /// once the session switched to it.
    pub fn model_name(&self) -> String {
        self.sent_to(&self.record.settings.model)
    }

    /// Records a switch of model or focus: an event now, the record and the summary later.
    /// One an earlier run recorded already (an attempt cut off and run again) is not repeated.
    pub fn switch(&self, switch: Switch) {
        if self.record.switches.contains(&switch) {
            return;
        }
        self.emit(&Event::Switch(switch.clone()));
        self.switches.lock().unwrap_or_else(|p| p.into_inner()).push(switch);
    }

    /// Usage and requests of this run so far.
    pub fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Everything the session has used, earlier runs included.
    pub fn total_usage(&self) -> Usage {
        let mut total = self.usage_before;
        total += self.live().usage();
        total
    }

    /// What the session has cost, earlier runs included, when every price is known. A
    /// session on one model is priced on its whole usage; one that used several models
    /// adds up each model's share.
    pub fn total_cost(&self) -> Option<f64> {
        let live = self.live();
        let model = &self.record.settings.model;
        if !self.mixed_before && live.by_model.keys().all(|m| m == model) {
            return self.cost(model, &self.total_usage());
        }
        let mut total = self.cost_before?;
        for (model, usage) in &live.by_model {
            total += self.cost(model, usage)?;
        }
        Some(total)
    }

    pub fn elapsed_secs(&self) -> u64 {
        self.elapsed_before + self.started.elapsed().as_secs()
    }

    /// Copies the usage, cost, requests and time so far into the record.
    pub fn sync_usage(&mut self) {
        self.record.usage = self.total_usage();
        self.record.cost_usd = self.total_cost();
        self.record.requests = self.requests_before + self.live().requests;
        let switches = std::mem::take(&mut *self.switches.lock().unwrap_or_else(|p| p.into_inner()));
        self.record.switches.extend(switches);
        self.record.cache_refreshes = self.refreshes_before + self.refreshes.load(std::sync::atomic::Ordering::Relaxed);
        self.record.elapsed_secs = self.elapsed_secs();
    }

    /// What the session has done so far, for the stop rules.
    pub fn progress(&self) -> Progress {
        let usage = self.total_usage();
        let iterations = &self.record.iterations;
        let streak = |f: fn(Outcome) -> bool| iterations.iter().rev().take_while(|i| f(i.outcome)).count() as u32;
        Progress {
            iterations: iterations.len() as u32,
            cost_usd: self.budget_spent(),
            tokens: usage.total(),
            elapsed: Duration::from_secs(self.elapsed_secs()),
            stalled_streak: streak(|o| o != Outcome::Committed),
            failure_streak: streak(|o| o == Outcome::Failed),
        }
    }

    /// Whether a budget or token limit is spent (checked between model turns).
    pub fn over_budget(&self) -> bool {
        let usage = self.total_usage();
        stop::over_budget(&self.record.settings.limits, self.budget_spent(), usage.total())
    }

    /// What counts against `budget_usd`: this session's cost, or, for a parallel worker,
    /// the whole run's.
    fn budget_spent(&self) -> f64 {
        let own = self.total_cost().unwrap_or(0.0);
        match &self.spend {
            Some(spend) => {
                spend.set(&self.record.id, own);
                spend.total()
            }
            None => own,
        }
    }

    /// Hooks for one conversation, labelled for the transcript (`review-3`, `implement-3`).
    /// Tool calls are reported as events only for editing conversations.
    pub fn hooks(&self, iteration: u32, label: &str, report_tools: bool) -> SessionHooks<'_> {
        SessionHooks {
            session: self,
            iteration,
            label: format!("{label}-{iteration}"),
            report_tools,
            requested: Mutex::new(self.record.settings.model.clone()),
            sent: Mutex::new(None),
        }
    }

    /// An empty record for iteration `index`, started now.
    pub fn new_iteration(&self, index: u32) -> IterationRecord {
        IterationRecord::new(index, state::now())
    }

    /// Keeps the attempt's work reachable (`refs/mmm/wip/<session>`) after an edit round,
    /// so a crash can never lose it; a failure is a warning, not the end of the session.
    pub fn save_wip(&self, index: u32, changed: &[String]) {
        let message = format!("mmm: work in progress of iteration {index}\n\nMmm-Session: {}\n", self.record.id);
        let mut wip = self.wip.lock().unwrap_or_else(|p| p.into_inner());
        wip.saved = None;
        let Some(base) = wip.base.clone() else { return };
        match self.git.save_wip(&self.wip_ref(), &base, changed, &message) {
            Ok(commit) => wip.saved = SavedWip::read(self.git.root(), commit, changed),
            Err(e) => self.warn(&format!("could not save the work in progress: {e:#}")),
        }
    }

    fn wip_ref(&self) -> String {
        format!("refs/mmm/wip/{}", self.record.id)
    }

    /// Runs the checks (the baseline) unless cancelled first; records and reports them.
    /// `None` when cancelled.
    pub async fn baseline(&mut self) -> anyhow::Result<Option<()>> {
        let settings = &self.record.settings;
        let timeout = Duration::from_secs(settings.check_timeout_secs);
        self.activity(Some("running the checks (baseline)".into()));
        let untracked_before = self.git.untracked_entries();
        let rules = self.rules.snapshot()?;
        // Checks that passed on this very tree are not run again.
        let tree = super::reuse::clean_tree(&self.git);
        let green = super::reuse::GreenChecks::load(&self.layout);
        let reused: Vec<bool> = settings
            .checks
            .iter()
            .map(|c| tree.as_deref().is_some_and(|t| green.passed(c, t, &settings.pass_env)))
            .collect();
        let results = tokio::select! {
            r = checks::run_reusing(&settings.checks, &reused, self.git.root(), timeout, &settings.pass_env) => Some(r),
            _ = self.cancel.cancelled() => None,
        };
        let changed_rules = self.rules.put_back(&rules)?;
        if !changed_rules.is_empty() {
            self.warn(&format!(
                "the baseline checks changed files that set the rules ({}); mmm put them back",
                changed_rules.join(", ")
            ));
        }
        self.activity(None);
        let Some(results) = results else { return Ok(None) };
        if let Ok(before) = untracked_before {
            self.note_check_outputs(&before)?;
        }
        let passed = checks::passed(&self.record.settings.checks, &results);
        let mut records = checks::records(&results);
        for (record, reused) in records.iter_mut().zip(&reused) {
            record.reused = *reused;
        }
        if let Some(tree) = &tree {
            let ran_green = results.iter().zip(&records).filter(|(r, rec)| r.passed() && !rec.reused);
            let settings = &self.record.settings;
            super::reuse::GreenChecks::record(
                &self.layout,
                tree,
                &settings.pass_env,
                ran_green.map(|(r, _)| r.command.as_str()),
            );
        }
        if self.record.baseline.is_empty() {
            self.record.baseline = records.clone();
        }
        self.emit(&Event::Baseline { passed, checks: records });
        self.checks_now = results;
        self.save()?;
        Ok(Some(()))
    }

    /// Records what the baseline checks created (untracked entries that were not there
    /// before) as build output in `state.json`, so it never blocks a later session and is
    /// never committed; says once, for each, that no ignore rule covers it.
    fn note_check_outputs(&self, before: &std::collections::BTreeSet<String>) -> anyhow::Result<()> {
        let after = self.git.untracked_entries()?;
        let created: Vec<String> = after.difference(before).filter(|p| !setup::is_mmm_path(p)).cloned().collect();
        if created.is_empty() {
            return Ok(());
        }
        let new = ProjectState::update(&self.layout.state_file(), |s| {
            let new: Vec<String> = created.into_iter().filter(|p| !s.check_outputs.contains(p)).collect();
            s.check_outputs.extend(new.iter().cloned());
            s.check_outputs.sort();
            new
        })?;
        for path in new {
            let dir = self.git.root().join(&path).is_dir();
            let line = if dir { format!("/{path}/") } else { format!("/{path}") };
            self.warn(&format!(
                "the checks created `{path}`, which no .gitignore rule covers; mmm treats it as build output, \
                 never commits it and never counts it as your changes (add `{line}` to .gitignore to say so for git too)"
            ));
        }
        Ok(())
    }

    /// One attempt: a checkpoint on disk, the policy's attempt (cancel-safe), then commit
    /// or roll back exactly, and the iteration recorded. `Err(reason)` when the session
    /// must stop (cancelled, a stop rule, a fatal error).
    async fn attempt<P: Policy>(&mut self, policy: &mut P) -> anyhow::Result<Result<(), Stop>> {
        let index = self.record.iterations.len() as u32 + 1;
        let snapshot = self.git.snapshot()?;
        let checkpoint = Checkpoint::new(index, snapshot.clone());
        checkpoint.save(&self.layout, &self.record.id)?;
        let live_before = self.live();
        let rules = self.rules.snapshot()?;
        self.originals.clear()?;
        *self.reviewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.edited.lock().unwrap_or_else(|p| p.into_inner()).clear();
        *self.wip.lock().unwrap_or_else(|p| p.into_inner()) = Wip { base: Some(snapshot.head.clone()), saved: None };
        let outcome = tokio::select! {
            a = policy.attempt(self, index) => Some(a),
            _ = self.cancel.cancelled() => None,
        };
        self.activity(None);
        let attempt = match outcome {
            Some(Ok(attempt)) => attempt,
            None => {
                // Checks cut off by Ctrl+C did not get to be compared with the rules.
                let changed_rules = self.rules.put_back(&rules)?;
                if !changed_rules.is_empty() {
                    self.warn(&format!(
                        "iteration {index}: the interrupted checks changed files that set the rules ({}); mmm put them back",
                        changed_rules.join(", ")
                    ));
                }
                self.roll_back(&snapshot).context("rolling back the interrupted iteration")?;
                Checkpoint::clear(&self.layout, &self.record.id)?;
                // The review, if it came, measured the tree as it is again now.
                let reviewed = self.reviewed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                self.record_score(reviewed);
                return Ok(Err(Stop::Reason(StopReason::Interrupted)));
            }
            Some(Err(error)) => {
                // mmm's own failure (git, the disk): undo what the attempt did, and end the
                // session with it on record.
                self.roll_back(&snapshot).context("rolling back after the iteration failed")?;
                Checkpoint::clear(&self.layout, &self.record.id)?;
                return Ok(Err(Stop::Fatal(error)));
            }
        };
        let (mut it, score, green) = match attempt {
            Attempt::Stop { reason, score } => {
                self.record_score(score);
                Checkpoint::clear(&self.layout, &self.record.id)?;
                return Ok(Err(Stop::Reason(reason)));
            }
            Attempt::Fatal { error } => {
                self.roll_back(&snapshot).context("rolling back the iteration")?;
                Checkpoint::clear(&self.layout, &self.record.id)?;
                return Ok(Err(Stop::Fatal(error)));
            }
            Attempt::Keep { mut it, paths, message, checks } => {
                // Green, but perhaps by weakening the checks: said, never silent.
                it.integrity = super::integrity::flags(&self.git, &snapshot.head, &paths)?;
                let message = super::integrity::with_section(&message, &it.integrity);
                let git_began = Instant::now();
                let committed = self.commit_or_roll_back(&snapshot, &message, &paths);
                it.git_ms = Some(git_began.elapsed().as_millis() as u64);
                match committed {
                    Ok((sha, files)) => {
                        it.files_changed = files;
                        it.commit = Some(sha);
                        it.outcome = Outcome::Committed;
                    }
                    Err(refused) => {
                        it.outcome = Outcome::Failed;
                        it.error = Some(format!("git refused the commit: {refused:#}"));
                    }
                }
                let green = (it.outcome == Outcome::Committed).then_some(checks);
                let score = it.score_before;
                (it, score, green)
            }
            Attempt::Undo { mut it } => {
                if it.files_changed.is_empty() {
                    it.files_changed = self.edited_since(&snapshot);
                }
                let git_began = Instant::now();
                self.roll_back(&snapshot).context("rolling back the iteration")?;
                it.git_ms = Some(git_began.elapsed().as_millis() as u64);
                let score = it.score_before;
                (it, score, None)
            }
        };
        let live_now = self.live();
        let mut usage = live_now.usage();
        usage -= live_before.usage();
        it.usage = usage;
        it.requests = live_now.requests - live_before.requests;
        it.cost_usd = live_now.since(&live_before, &self.record.settings.model, |model, usage| self.cost(model, usage));
        it.ended_at = state::now();
        self.record_score(score);
        if let Some(results) = green {
            self.checks_now = results;
        }
        self.emit(&Event::Iteration(it.clone()));
        self.record.iterations.push(*it);
        let stop = policy.after_attempt(&mut self.record);
        self.sync_usage();
        self.save()?;
        Checkpoint::clear(&self.layout, &self.record.id)?;
        Ok(stop.map_or(Ok(()), |reason| Err(Stop::Reason(reason))))
    }

    /// Puts the work tree back exactly as it was at `snapshot`: git's roll back, then the
    /// files git does not track that the tools wrote.
    fn roll_back(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        self.git.roll_back_to(snapshot)?;
        self.originals.restore().context("putting back the files the tools wrote that git does not track")
    }

    /// Commits exactly `paths` with `message` and returns the commit with its files' line
    /// counts. The commit runs with the hooks the session started with: when the hooks
    /// changed since, git is pointed at a copy of those (and the change is reported). If
    /// git refuses the commit (a hook, a missing identity), the tree is rolled back to
    /// `snapshot` first, so nothing half-done stays behind, and the refusal is the error.
    fn commit_or_roll_back(
        &self,
        snapshot: &Snapshot,
        message: &str,
        paths: &[String],
    ) -> anyhow::Result<(String, Vec<crate::state::session::FileChangeRecord>)> {
        let hooks = self.rules.hooks_as_at(&self.hooks_at_start)?;
        if let Some((_, changed)) = &hooks {
            self.warn(&format!(
                "the git hooks changed since the session started ({}); mmm commits with the hooks it started with",
                changed.join(", ")
            ));
        }
        let hooks = hooks.as_ref().map(|(dir, _)| dir.path());
        let committed = self.git.commit_paths_counted(message, paths, hooks, &snapshot.head);
        let (sha, files) = match committed {
            Ok(done) => done,
            Err(refused) => {
                self.roll_back(snapshot).context("rolling back after git refused the commit")?;
                return Err(refused);
            }
        };
        self.originals.clear()?;
        let files = files
            .into_iter()
            .map(|f| crate::state::session::FileChangeRecord { path: f.path, added: f.added, removed: f.removed })
            .collect();
        Ok((sha, files))
    }

    /// What the attempt's edits changed since `snapshot`, file by file (read before they
    /// are rolled back, so the record of an undone iteration says what it had edited).
    fn edited_since(&self, snapshot: &Snapshot) -> Vec<crate::state::session::FileChangeRecord> {
        let edited: Vec<String> = self.edited.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        if edited.is_empty() {
            return Vec::new();
        }
        let counted = match self.wip.lock().unwrap_or_else(|p| p.into_inner()).saved.as_ref() {
            // The last work in progress saved holds the edits as they are now: its diff
            // says the same, without building the tree again.
            Some(saved) if saved.holds(self.git.root(), &edited) => self
                .git
                .diff_numstat(&snapshot.head, &saved.commit)
                .map(|files| files.into_iter().filter(|f| edited.contains(&f.path)).collect()),
            _ => self.git.changes_since(&snapshot.head, &edited),
        };
        match counted {
            Ok(files) => files
                .into_iter()
                .map(|f| crate::state::session::FileChangeRecord { path: f.path, added: f.added, removed: f.removed })
                .collect(),
            Err(e) => {
                self.warn(&format!("could not count the lines the iteration had changed: {e:#}"));
                Vec::new()
            }
        }
    }

    /// A review's score: the session's latest, and the previous iteration's "after".
    pub fn record_score(&mut self, score: Option<f64>) {
        if let Some(score) = score {
            self.record.scores.push(score);
            let len = self.record.iterations.len();
            if let Some(prev) = self.record.iterations.get_mut(len.wrapping_sub(1)) {
                prev.score_after = Some(score);
            }
        }
    }

    /// Records the end of the session: status, the policy's bookkeeping, `state.json`, the
    /// `stopped` and `summary` events, and last the record itself (so a crash before it
    /// leaves a session that `--resume` runs again).
    fn finish<P: Policy>(
        mut self,
        policy: &mut P,
        reason: StopReason,
        error: Option<anyhow::Error>,
    ) -> anyhow::Result<Finished> {
        self.sync_usage();
        self.record.status = match &reason {
            StopReason::Interrupted => SessionStatus::Interrupted,
            StopReason::Error { .. } | StopReason::Failing { .. } => SessionStatus::Failed,
            // Measured, not claimed: iterations ran and none was kept.
            _ if !self.record.iterations.is_empty() && self.record.commits().next().is_none() => {
                SessionStatus::NothingKept
            }
            _ => SessionStatus::Completed,
        };
        self.record.ended_at = Some(state::now());
        self.record.stop_reason = Some(reason.clone());
        if self.record.status != SessionStatus::Interrupted {
            self.git.delete_ref(&self.wip_ref())?;
        }
        let score = self.record.score_now();
        ProjectState::update(&self.layout.state_file(), |s| s.current_score = score.or(s.current_score))?;
        let message = reason.to_string();
        self.emit(&Event::Stopped { reason: reason.clone(), message: message.clone() });
        policy.finished(&self, &reason)?;
        let summary = Summary::of(&self.record, self.base_branch.as_deref(), reason, message);
        self.emit(&Event::Summary(Box::new(summary)));
        self.save()?;
        self.observer.ended(&self.record);
        Ok(Finished { record: self.record, error })
    }
}

/// Why the loop ends.
enum Stop {
    Reason(StopReason),
    Fatal(anyhow::Error),
}

/// Drives a session with a policy: the baseline, attempts until the policy (or Ctrl+C)
/// stops it, then the record, the state and the summary. Every kind of session runs here.
pub async fn drive<P: Policy>(mut session: Session, mut policy: P) -> anyhow::Result<Finished> {
    if session.baseline().await?.is_none() {
        return session.finish(&mut policy, StopReason::Interrupted, None);
    }
    let stop = loop {
        if let Some(reason) = policy.before_attempt(&session) {
            break Stop::Reason(reason);
        }
        match session.attempt(&mut policy).await? {
            Ok(()) => {}
            Err(stop) => break stop,
        }
    };
    match stop {
        Stop::Reason(reason) => session.finish(&mut policy, reason, None),
        Stop::Fatal(error) => {
            let reason = StopReason::Error { message: format!("{error:#}") };
            session.finish(&mut policy, reason, Some(error))
        }
    }
}

/// Where a session keeps its records: its own work tree's `.mmm/`, or for a parallel
/// worker the run's.
fn state_layout(env: &Env) -> Layout {
    match &env.shared {
        Some(shared) => shared.layout.clone(),
        None => Layout::new(env.git.root()),
    }
}

/// `base`, or `base-2`, `base-3`, ... when a branch of that name exists (two sessions
/// started in the same second). Existing branches are never reused.
pub fn free_branch_name(git: &Git, base: &str) -> anyhow::Result<String> {
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

/// The agent hooks of one conversation: every request and response goes to the
/// transcript, every response's usage to the account and the journal, and (for editing
/// conversations) every tool call to the journal.
pub struct SessionHooks<'a> {
    session: &'a Session,
    iteration: u32,
    label: String,
    report_tools: bool,
    /// The model the request on its way was sent to (for its price).
    requested: Mutex<String>,
    /// When the request on its way was sent.
    sent: Mutex<Option<Instant>>,
}

impl Hooks for SessionHooks<'_> {
    fn on_request(&self, request: &MessagesRequest) {
        *self.requested.lock().unwrap_or_else(|p| p.into_inner()) = request.model.clone();
        *self.sent.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if let Err(e) = self.session.transcript.request(&self.label, request) {
            tracing::warn!("could not write the transcript: {e:#}");
        }
    }

    fn on_response(&self, response: &MessagesResponse) {
        if let Err(e) = self.session.transcript.response(&self.label, response) {
            tracing::warn!("could not write the transcript: {e:#}");
        }
        let requested = self.requested.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cost_usd = self.session.count(&requested, &response.usage);
        let sent = self.sent.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.session.emit(&Event::Usage {
            iteration: self.iteration,
            conversation: self.label.clone(),
            usage: response.usage,
            cost_usd,
            duration_ms: sent.map_or(0, |t| t.elapsed().as_millis() as u64),
        });
        for block in &response.content {
            if let crate::llm::ContentBlock::Text(text) = block
                && !text.text.trim().is_empty()
            {
                self.session.observer.text(&self.session.record.id, &text.text);
            }
        }
    }

    fn on_retry(&self, attempt: u32, max: u32, delay: Duration, error: &LlmError) {
        self.session.emit(&Event::Retry {
            iteration: self.iteration,
            conversation: self.label.clone(),
            attempt,
            max_retries: max,
            wait_ms: delay.as_millis() as u64,
            reason: error.brief(),
            error: redact(&error.to_string()).into_owned(),
        });
    }

    fn on_model_switch(&self, from: &str, to: &str, error: &LlmError) {
        tracing::info!("{}: {from} gave up ({}); sent again on {to}", self.label, error.brief());
        *self.requested.lock().unwrap_or_else(|p| p.into_inner()) = to.to_string();
        self.session.switch(Switch::Model {
            iteration: self.iteration,
            from: from.to_string(),
            to: to.to_string(),
            reason: ModelReason::Overloaded,
        });
    }

    fn on_tool(&self, name: &str, input: &Value, reply: &ToolReply) {
        if !self.report_tools {
            return;
        }
        if let Some(changed) = &reply.changed {
            self.session
                .edited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(changed.to_string_lossy().into_owned());
        }
        self.session.emit(&Event::Tool {
            iteration: self.iteration,
            tool: name.to_string(),
            command: input.get("command").and_then(Value::as_str).map(str::to_string),
            path: input.get("path").and_then(Value::as_str).map(str::to_string),
            changed: reply.changed.as_ref().map(|p| p.to_string_lossy().into_owned()),
            pattern: input.get("pattern").and_then(Value::as_str).map(str::to_string),
            added: reply.lines.map(|l| l.added),
            removed: reply.lines.map(|l| l.removed),
            hits: reply.hits.map(|h| h.count),
            hits_capped: reply.hits.is_some_and(|h| h.capped),
            is_error: reply.is_error,
        });
    }

    fn over_budget(&self, _conversation: &Conversation) -> bool {
        self.session.over_budget()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::cache::CachePlan;
    use crate::llm::{ContentBlock, Message, Role};

    #[test]
    fn an_interval_is_priced_per_model_and_an_idle_one_at_the_session_model() {
        let usage = |input| Usage { input_tokens: input, ..Usage::default() };
        let price = |model: &str, u: &Usage| match model {
            "a" => Some(u.input_tokens as f64),
            "b" => Some(10.0 * u.input_tokens as f64),
            _ => None,
        };
        let before = Live { by_model: BTreeMap::from([("a".to_string(), usage(5))]), requests: 1 };
        let now =
            Live { by_model: BTreeMap::from([("a".to_string(), usage(7)), ("b".to_string(), usage(3))]), requests: 3 };
        assert_eq!(now.since(&before, "a", price), Some(2.0 + 30.0));
        assert_eq!(now.usage(), usage(10));
        assert_eq!(before.since(&before, "a", price), Some(0.0));
        assert_eq!(before.since(&before, "unpriced", price), None);
        let unpriced = Live { by_model: BTreeMap::from([("c".to_string(), usage(1))]), requests: 1 };
        assert_eq!(unpriced.since(&Live::default(), "a", price), None);
    }

    #[test]
    fn a_saved_work_in_progress_holds_the_edits_only_while_the_files_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "edited\n").unwrap();
        let paths = vec!["a.txt".to_string(), "gone.txt".to_string()];
        let saved = SavedWip::read(dir.path(), "c0ffee".into(), &paths).unwrap();
        assert!(saved.holds(dir.path(), &paths));
        assert!(saved.holds(dir.path(), &paths[..1]));
        assert!(!saved.holds(dir.path(), &["other.txt".to_string()]), "a file it did not save");
        std::fs::write(dir.path().join("a.txt"), "changed by the checks\n").unwrap();
        assert!(!saved.holds(dir.path(), &paths));
    }

    #[test]
    fn a_refresh_is_the_last_request_cut_after_its_last_user_message_asking_for_one_token() {
        let mut request = MessagesRequest::new("claude-sonnet-5", 16000);
        let stable = "the project and its map ".repeat(300);
        request.messages = vec![
            Message::user(vec![ContentBlock::text(&stable), ContentBlock::text("fix issue 1")]),
            Message { role: Role::Assistant, content: vec![ContentBlock::text("viewing")] },
            Message::user(vec![ContentBlock::tool_result("t1", "1: x", false)]),
        ];
        let mut conversation = Conversation::laid_out(request, CachePlan::growing(1));
        assert_eq!(refresh_request(&conversation).map(|r| r.max_tokens), Some(1));
        // The model's final turn is left out: a request may not end with it.
        crate::llm::cache::place_breakpoints(&mut conversation.request, &conversation.cache);
        let sent = conversation.request.clone();
        conversation
            .request
            .messages
            .push(Message { role: Role::Assistant, content: vec![ContentBlock::text("Done")] });
        let refresh = refresh_request(&conversation).unwrap();
        assert_eq!(refresh, MessagesRequest { max_tokens: 1, ..sent });
        assert_eq!(refresh_request(&Conversation::new(MessagesRequest::new("m", 1))), None);
    }
}
