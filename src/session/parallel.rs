//! `mmm improve --parallel N`: one review, its issues split by file among N workers, each
//! worker a session of the engine in a git work tree of its own, all in one process.
//!
//! The run reviews once (in the first worker's tree, so the user's tree never runs a
//! check), splits the issues into disjoint groups by file ([`split`]), and starts one
//! session per group under `.mmm/worktrees/<session>`, each on its own `mmm/...` branch
//! from the user's HEAD. A worker's tools may not write the files of another worker's
//! issues, so no two workers change one file. The workers share one budget
//! ([`engine::Spend`]: `--budget-usd` is the total, the review included) and one
//! cancellation (each gets a child of the run's token: Ctrl+C rolls every one back). The
//! run is recorded in `.mmm/parallel/<run>.json`; `--parallel --resume` continues every
//! worker that did not finish. A worker's tree is removed when its session ends, and
//! [`sweep`] removes trees whose lock no process holds (a crash) at every start.
//!
//! This module never checks out, stages or writes anything in the user's own work tree:
//! only `.mmm/` (ignored) changes there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::engine::{self, Attempt, Env, Finished, NewSession, Policy, Session, Shared, Spend};
use super::improve::{self, Improve};
use super::review::Issue;
use super::setup;
use super::stop::{self, StopReason};
use super::{PriceFn, checks};
use crate::error::CliError;
use crate::git::Git;
use crate::llm::{MessagesRequest, MessagesResponse, Pricing};
use crate::printer::{Report, Styles};
use crate::settings::session::SessionConfig;
use crate::state::lock::WorkTreeLock;
use crate::state::session::{Outcome, SessionKind, SessionRecord, SessionStatus};
use crate::state::{self, Layout};

/// How many of a worker's issues one iteration addresses (as in `mmm improve`).
const ISSUES_PER_ITERATION: usize = 3;

/// The current format version of `.mmm/parallel/<run>.json`.
const VERSION: u32 = 1;

/// What `mmm improve --parallel` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct ParallelOptions {
    pub workers: usize,
    /// `Some(None)`: resume the last parallel run; `Some(Some(id))`: that one.
    pub resume: Option<Option<String>>,
    pub use_cache: bool,
    /// `[parallel] copy`: ignored files copied from the user's tree into each worker's.
    pub copy: Vec<String>,
}

/// A parallel run, on disk: what was split, and which session works on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub version: u32,
    pub id: String,
    pub base_commit: String,
    pub base_branch: Option<String>,
    pub started_at: String,
    /// The one review: its score, summary and cost.
    pub score: f64,
    pub summary: String,
    pub review_cost_usd: f64,
    pub workers: Vec<WorkerRecord>,
}

/// One worker: its session and branch, and the issues it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub session: String,
    pub branch: String,
    pub issues: Vec<Issue>,
}

impl RunRecord {
    fn path(layout: &Layout, id: &str) -> PathBuf {
        runs_dir(layout).join(format!("{id}.json"))
    }

    fn save(&self, layout: &Layout) -> anyhow::Result<()> {
        state::write_json(&Self::path(layout, &self.id), self)
    }

    /// The run `id`, or the latest one.
    fn load(layout: &Layout, id: Option<&str>) -> anyhow::Result<Self> {
        let id = match id {
            Some(id) => id.to_string(),
            None => latest_run(layout)?.ok_or_else(|| {
                CliError::usage("there is no parallel run to resume in this repository")
                    .with_hint("start one with `mmm improve --parallel N`")
            })?,
        };
        let path = Self::path(layout, &id);
        if !path.exists() {
            return Err(CliError::usage(format!("no parallel run `{id}` in {}", runs_dir(layout).display()))
                .with_hint("leave out the id to resume the latest parallel run")
                .into());
        }
        state::read_json(&path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists"))
    }
}

fn runs_dir(layout: &Layout) -> PathBuf {
    layout.dir().join("parallel")
}

/// `.mmm/worktrees/`: the workers' trees.
pub fn worktrees_dir(layout: &Layout) -> PathBuf {
    layout.dir().join("worktrees")
}

/// The id of the latest parallel run (ids sort by time).
pub fn latest_run(layout: &Layout) -> anyhow::Result<Option<String>> {
    let dir = runs_dir(layout);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut ids: Vec<String> =
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_string)).collect();
    ids.sort();
    Ok(ids.pop())
}

/// The branches `id` names: every worker's of the parallel run `id`, or the branch of the
/// session `id`.
pub fn branches_of(layout: &Layout, id: &str) -> anyhow::Result<Vec<String>> {
    if RunRecord::path(layout, id).exists() {
        return Ok(RunRecord::load(layout, Some(id))?.workers.into_iter().map(|w| w.branch).collect());
    }
    let path = layout.session_dir(id).join("session.json");
    if !path.exists() {
        return Err(CliError::usage(format!("no session or parallel run `{id}` in this repository"))
            .with_hint("`mmm history` lists the sessions; .mmm/parallel/ holds the parallel runs")
            .into());
    }
    Ok(vec![SessionRecord::load(&path)?.branch])
}

/// Splits `issues` (worst first) into at most `n` groups that share no file: every issue
/// of one file goes to one group; the files, largest first, each go to the group with the
/// fewest issues so far, and so does each issue that names no file. Within a group the
/// issues keep their order. Empty groups are left out.
pub fn split(issues: &[Issue], n: usize) -> Vec<Vec<Issue>> {
    let n = n.max(1);
    // Buckets in order of first appearance: one per file, one per issue without a file.
    let mut buckets: Vec<Vec<usize>> = Vec::new();
    let mut by_file: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, issue) in issues.iter().enumerate() {
        match issue.file.as_deref().filter(|f| !f.is_empty()) {
            Some(file) => match by_file.get(file) {
                Some(&b) => buckets[b].push(i),
                None => {
                    by_file.insert(file, buckets.len());
                    buckets.push(vec![i]);
                }
            },
            None => buckets.push(vec![i]),
        }
    }
    // Largest first; the sort is stable, so equal sizes keep their order (worst first).
    buckets.sort_by_key(|b| std::cmp::Reverse(b.len()));
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
    for bucket in buckets {
        let smallest = (0..n).min_by_key(|&g| (groups[g].len(), g)).unwrap_or(0);
        groups[smallest].extend(bucket);
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|mut g| {
            g.sort_unstable();
            g.into_iter().map(|i| issues[i].clone()).collect()
        })
        .collect()
}

/// The files the issues of `groups` other than `own` name: what worker `own` may not write.
fn reserved_for(groups: &[Vec<Issue>], own: usize) -> Vec<String> {
    let mut files: Vec<String> = groups
        .iter()
        .enumerate()
        .filter(|(g, _)| *g != own)
        .flat_map(|(_, issues)| issues.iter().filter_map(|i| i.file.clone()))
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Removes every worker tree under `.mmm/worktrees/` whose lock no process holds (its
/// session ended, or its process died), then prunes git's records of trees that are gone.
/// Returns the trees removed. A tree whose lock is held is left alone.
pub fn sweep(git: &Git, apply: bool) -> anyhow::Result<Vec<PathBuf>> {
    let dir = worktrees_dir(&Layout::new(git.root()));
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut removed = Vec::new();
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
    paths.sort();
    for path in paths {
        let lock = Layout::new(&path).lock_file();
        // Held (a running worker, of this process or another): it stays. No lock file:
        // no worker ever ran there.
        let free = !lock.exists()
            || match WorkTreeLock::try_acquire(&lock, "sweep") {
                Ok(Ok(lock)) => {
                    drop(lock);
                    true
                }
                Ok(Err(_)) => false,
                // No lock can be taken (the tree is half made): nobody works in it.
                Err(_) => true,
            };
        if free {
            if apply {
                git.remove_worktree(&path)?;
            }
            removed.push(path);
        }
    }
    if apply && !removed.is_empty() {
        git.prune_worktrees(true)?;
    }
    Ok(removed)
}

/// Copies the `[parallel] copy` paths (files or directories, relative to the root) that
/// exist in the user's tree into a worker's tree. Paths outside the tree, in `.git/` or
/// in `.mmm/` are refused.
fn copy_into(from: &Path, to: &Path, paths: &[String]) -> anyhow::Result<()> {
    for path in paths {
        let relative = Path::new(path);
        let plain = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        if !plain || matches!(first.as_deref(), Some(".git" | ".mmm") | None) {
            return Err(CliError::usage(format!("`{path}` in [parallel] copy is not a path inside the work tree"))
                .with_hint("list paths relative to the repository root, outside .git/ and .mmm/, such as \".env\"")
                .into());
        }
        let source = from.join(relative);
        if source.symlink_metadata().is_err() {
            continue;
        }
        copy_path(&source, &to.join(relative)).with_context(|| format!("copying {path} into {}", to.display()))?;
    }
    Ok(())
}

fn copy_path(source: &Path, target: &Path) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let meta = source.symlink_metadata()?;
    if meta.is_dir() {
        std::fs::create_dir_all(target)?;
        for entry in std::fs::read_dir(source)? {
            let entry = entry?;
            copy_path(&entry.path(), &target.join(entry.file_name()))?;
        }
        Ok(())
    } else if meta.file_type().is_symlink() {
        // A link is copied as a link, never followed out of the tree.
        #[cfg(unix)]
        {
            let _ = std::fs::remove_file(target);
            std::os::unix::fs::symlink(std::fs::read_link(source)?, target)
        }
        #[cfg(not(unix))]
        Ok(())
    } else {
        std::fs::copy(source, target).map(drop)
    }
}

/// The policy of one worker: no review of its own (the run reviewed once); each attempt
/// edits the next of its issues not yet committed or set aside, narrowing to one that
/// failed as `mmm improve` does. It stops when every issue is done.
pub struct Worker {
    issues: Vec<Issue>,
    summary: String,
    score: f64,
    improve: Improve,
}

impl Worker {
    pub fn new(issues: Vec<Issue>, summary: String, score: f64) -> Self {
        Self { issues, summary, score, improve: Improve::default() }
    }
}

impl Policy for Worker {
    fn before_attempt(&mut self, session: &Session) -> Option<StopReason> {
        stop::before_iteration(&session.record.settings.limits, &session.progress())
    }

    async fn attempt(&mut self, session: &Session, index: u32) -> anyhow::Result<Attempt> {
        let it = session.new_iteration(index);
        let (memory, narrowed) = improve::remember_failures(session, index);
        let committed = |issue: &Issue| {
            session
                .record
                .iterations
                .iter()
                .filter(|i| i.outcome == Outcome::Committed)
                .any(|i| i.issues.iter().any(|done| super::retries::same_issue(done, issue)))
        };
        let issues: Vec<Issue> = match &narrowed {
            Some(failed) => vec![failed.issue.clone()],
            None => self
                .issues
                .iter()
                .filter(|i| !committed(i) && !memory.is_set_aside(i))
                .take(ISSUES_PER_ITERATION)
                .cloned()
                .collect(),
        };
        if issues.is_empty() {
            let reason = StopReason::GroupDone { issues: self.issues.len() as u32 };
            return Ok(Attempt::Stop { reason, score: None });
        }
        let retried = memory.failures(&issues[0]) > 0;
        let editing = self.improve.editing_model(session, index, retried);
        let mut it = it;
        it.score_before = Some(self.score);
        improve::edit_issues(session, index, it, issues, narrowed.as_ref(), &self.summary, &editing).await
    }
}

/// Counts what the run's one review cost.
struct Counting {
    price: PriceFn,
    requested: Mutex<String>,
    cost: Mutex<f64>,
}

impl crate::agent::Hooks for Counting {
    fn on_request(&self, request: &MessagesRequest) {
        *self.requested.lock().unwrap_or_else(|p| p.into_inner()) = request.model.clone();
    }

    fn on_response(&self, response: &MessagesResponse) {
        let model = self.requested.lock().unwrap_or_else(|p| p.into_inner()).clone();
        *self.cost.lock().unwrap_or_else(|p| p.into_inner()) += (self.price)(&model, &response.usage).unwrap_or(0.0);
    }
}

/// How a parallel run ended: each worker's end (in the run's order), and the run.
pub struct ParallelFinished {
    pub run: RunRecord,
    pub workers: Vec<WorkerEnd>,
}

/// One worker's end: its finished session, or the error that stopped it before it could
/// finish (the record on disk says how far it got).
pub struct WorkerEnd {
    pub session: String,
    pub branch: String,
    pub finished: anyhow::Result<Finished>,
}

/// Runs `mmm improve --parallel N` (or resumes one) to its end. `env` is the run's: its
/// git is the user's tree (never changed), its token the one every worker's is a child of.
pub async fn run(
    env: Env,
    config: &SessionConfig,
    pricing: &Pricing,
    opts: &ParallelOptions,
) -> anyhow::Result<ParallelFinished> {
    // Every worker has a branch of its own, whatever `in_place` says.
    let config = &SessionConfig { in_place: false, ..config.clone() };
    let git = env.git.clone();
    let layout = Layout::new(git.root());
    layout.ensure_gitignore()?;
    for tree in sweep(&git, true)? {
        env.observer.warn("", &format!("removed the work tree of a worker that is gone: {}", tree.display()));
    }
    if let Some(id) = &opts.resume {
        return resume(env, config, pricing, opts, RunRecord::load(&layout, id.as_deref())?).await;
    }
    let dirty = setup::user_changes(&git)?;
    setup::preflight(&git, &dirty, false, false)?;
    setup::check_models(env.model.as_ref(), pricing, config).await?;
    let project = setup::analyze(git.root(), config, opts.use_cache).await?;
    let settings = setup::session_settings(config, None, &project)?;
    setup::programs_resolve(&settings.checks)?;
    let price = setup::price_fn(pricing, &settings)?;
    let (base_commit, base_branch) = git.head_and_branch()?;
    let run_id = engine::session_id();

    // The trees first: the review's baseline runs in the first one, not the user's.
    let mut trees: Vec<(String, Git, WorkTreeLock)> = Vec::new();
    let made = make_trees(&git, &layout, &base_commit, opts, &mut trees);
    let review = match made {
        Ok(()) => {
            let counting = Counting { price: price.clone(), requested: Mutex::default(), cost: Mutex::new(0.0) };
            let timeout = std::time::Duration::from_secs(settings.check_timeout_secs);
            let root = trees[0].1.root().to_path_buf();
            let baseline = tokio::select! {
                r = checks::run(&settings.checks, &root, timeout, &settings.pass_env) => Some(r),
                _ = env.cancel.cancelled() => None,
            };
            match baseline {
                None => Err(CliError::interrupted("interrupted before the review: nothing was changed").into()),
                Some(baseline) => {
                    improve::review_outside_session(env.model.as_ref(), &counting, &settings, &project, &baseline)
                        .await
                        .map(|review| (review, *counting.cost.lock().unwrap_or_else(|p| p.into_inner())))
                }
            }
        }
        Err(e) => Err(e),
    };
    let (review, review_cost) = match review {
        Ok(done) => done,
        Err(e) => {
            for (_, tree, lock) in trees {
                drop(lock);
                git.remove_worktree(tree.root())?;
            }
            return Err(e);
        }
    };
    let groups = split(&review.issues, opts.workers);
    // Trees beyond the number of groups (fewer files than workers) go at once.
    for (_, tree, lock) in trees.drain(groups.len()..) {
        drop(lock);
        git.remove_worktree(tree.root())?;
    }
    let spend = Arc::new(Spend::new(review_cost));
    let mut run = RunRecord {
        version: VERSION,
        id: run_id,
        base_commit,
        base_branch: base_branch.clone(),
        started_at: state::now(),
        score: review.score,
        summary: review.summary.clone(),
        review_cost_usd: review_cost,
        workers: Vec::new(),
    };
    let mut sessions = Vec::new();
    let mut trees = trees.into_iter();
    for (i, issues) in groups.iter().enumerate() {
        let Some((id, tree, lock)) = trees.next() else { break };
        // The session takes the tree's lock itself.
        drop(lock);
        let shared = Shared {
            layout: layout.clone(),
            base_branch: base_branch.clone(),
            spend: spend.clone(),
            id: id.clone(),
            reserved: reserved_for(&groups, i),
        };
        let worker_env =
            Env { git: tree.clone(), cancel: env.cancel.child_token(), shared: Some(shared), ..env.clone() };
        let new = NewSession {
            kind: SessionKind::Improve,
            branch_prefix: "improve".into(),
            settings: settings.clone(),
            dirty: Vec::new(),
            spec: None,
            price: price.clone(),
        };
        match Session::start(worker_env, project.clone(), new) {
            Ok(session) => {
                run.workers.push(WorkerRecord {
                    session: id,
                    branch: session.record.branch.clone(),
                    issues: issues.clone(),
                });
                sessions.push((session, Worker::new(issues.clone(), review.summary.clone(), review.score)));
            }
            Err(e) => {
                drop(sessions);
                for worker in &run.workers {
                    git.remove_worktree(&worktrees_dir(&layout).join(&worker.session))?;
                }
                git.remove_worktree(tree.root())?;
                for (_, rest, lock) in trees {
                    drop(lock);
                    git.remove_worktree(rest.root())?;
                }
                return Err(e.context("starting a parallel worker"));
            }
        }
    }
    run.save(&layout)?;
    let workers = drive_all(&git, sessions).await;
    Ok(ParallelFinished { run, workers })
}

/// Adds one detached tree per worker at the user's HEAD, with the `[parallel] copy` files;
/// each pushed to `trees` as soon as it exists (so a failure removes what was made), with
/// its lock held until its session takes it (so no [`sweep`] removes it meanwhile).
fn make_trees(
    git: &Git,
    layout: &Layout,
    base: &str,
    opts: &ParallelOptions,
    trees: &mut Vec<(String, Git, WorkTreeLock)>,
) -> anyhow::Result<()> {
    for _ in 0..opts.workers.max(1) {
        let mut id = engine::session_id();
        while trees.iter().any(|(other, ..)| *other == id) {
            id = engine::session_id();
        }
        let path = worktrees_dir(layout).join(&id);
        let tree = git.add_worktree_detached(&path, base).context("adding a work tree for a parallel worker")?;
        let lock = match WorkTreeLock::acquire(&Layout::new(tree.root()).lock_file(), &id) {
            Ok(lock) => lock,
            Err(e) => {
                git.remove_worktree(tree.root())?;
                return Err(e);
            }
        };
        trees.push((id, tree.clone(), lock));
        Layout::new(tree.root()).ensure_gitignore()?;
        copy_into(git.root(), tree.root(), &opts.copy)?;
    }
    Ok(())
}

/// Drives every worker at once, each on a task of its own; a worker's tree is removed as
/// soon as its session ends.
async fn drive_all(git: &Git, sessions: Vec<(Session, Worker)>) -> Vec<WorkerEnd> {
    let mut tasks = Vec::new();
    for (session, worker) in sessions {
        let id = session.record.id.clone();
        let branch = session.record.branch.clone();
        let tree = session.git.root().to_path_buf();
        let main = git.clone();
        let handle = tokio::spawn(async move {
            let finished = engine::drive(session, worker).await;
            let removed = main.remove_worktree(&tree);
            match (finished, removed) {
                (Ok(finished), Ok(())) => Ok(finished),
                (Ok(_), Err(e)) => Err(e.context("removing the worker's work tree")),
                (Err(e), _) => Err(e),
            }
        });
        tasks.push((id, branch, handle));
    }
    let mut ends = Vec::new();
    for (session, branch, handle) in tasks {
        let finished = match handle.await {
            Ok(finished) => finished,
            Err(e) => Err(anyhow::anyhow!("the worker's task failed: {e}")),
        };
        ends.push(WorkerEnd { session, branch, finished });
    }
    ends
}

/// `--parallel --resume`: every worker of `run` that has not finished continues in a new
/// tree on its branch; finished workers count in the budget as they are.
async fn resume(
    env: Env,
    config: &SessionConfig,
    pricing: &Pricing,
    opts: &ParallelOptions,
    run: RunRecord,
) -> anyhow::Result<ParallelFinished> {
    let git = env.git.clone();
    let layout = Layout::new(git.root());
    let mut before = run.review_cost_usd;
    let mut open = Vec::new();
    for worker in &run.workers {
        let record = SessionRecord::load(&layout.session_dir(&worker.session).join("session.json"))?;
        if record.status.is_finished() {
            before += record.cost_usd.unwrap_or(0.0);
        } else {
            open.push((worker.clone(), record));
        }
    }
    if open.is_empty() {
        return Err(CliError::usage(format!("every worker of parallel run {} has finished", run.id))
            .with_hint("start a new run with `mmm improve --parallel N`")
            .into());
    }
    let project = setup::analyze(git.root(), config, opts.use_cache).await?;
    let spend = Arc::new(Spend::new(before));
    let groups: Vec<Vec<Issue>> = run.workers.iter().map(|w| w.issues.clone()).collect();
    let mut sessions = Vec::new();
    for (worker, mut record) in open {
        let index = run.workers.iter().position(|w| w.session == worker.session).unwrap_or(0);
        let previous_model = setup::switch_model(&mut record, config);
        let price = setup::price_fn(pricing, &record.settings)?;
        setup::check_resumed_models(env.model.as_ref(), &record.settings).await?;
        let path = worktrees_dir(&layout).join(&worker.session);
        let tree = git.add_worktree_on(&path, &worker.branch).context("adding the worker's work tree again")?;
        Layout::new(tree.root()).ensure_gitignore()?;
        copy_into(git.root(), tree.root(), &opts.copy)?;
        let shared = Shared {
            layout: layout.clone(),
            base_branch: run.base_branch.clone(),
            spend: spend.clone(),
            id: worker.session.clone(),
            reserved: reserved_for(&groups, index),
        };
        let worker_env =
            Env { git: tree.clone(), cancel: env.cancel.child_token(), shared: Some(shared), ..env.clone() };
        match Session::resume(worker_env, project.clone(), record, price, previous_model) {
            Ok(session) => sessions.push((session, Worker::new(worker.issues.clone(), run.summary.clone(), run.score))),
            Err(e) => {
                drop(sessions);
                git.remove_worktree(tree.root())?;
                sweep(&git, true)?;
                return Err(e.context(format!("resuming worker {}", worker.session)));
            }
        }
    }
    let workers = drive_all(&git, sessions).await;
    Ok(ParallelFinished { run, workers })
}

/// One line per worker, for people and for `--output json`.
#[derive(Debug, Serialize)]
pub struct ParallelReport {
    pub r#type: &'static str,
    pub run: String,
    /// The run's one review.
    pub score: f64,
    pub summary: String,
    pub workers: Vec<WorkerLine>,
}

#[derive(Debug, Serialize)]
pub struct WorkerLine {
    pub session: String,
    pub branch: String,
    /// `completed`, `nothing_kept`, `interrupted`, `failed`, or `error` when the session
    /// could not finish.
    pub state: String,
    pub cost_usd: Option<f64>,
    pub commits: usize,
    pub issues: usize,
    pub stop_reason: Option<String>,
}

impl ParallelFinished {
    pub fn report(&self) -> ParallelReport {
        let workers = self
            .workers
            .iter()
            .map(|w| {
                let issues = self.run.workers.iter().find(|r| r.session == w.session).map_or(0, |r| r.issues.len());
                match &w.finished {
                    Ok(f) => WorkerLine {
                        session: w.session.clone(),
                        branch: w.branch.clone(),
                        state: f.record.status.as_str().into(),
                        cost_usd: f.record.cost_usd,
                        commits: f.record.commits().count(),
                        issues,
                        stop_reason: f.record.stop_reason.as_ref().map(|r| r.to_string()),
                    },
                    Err(e) => WorkerLine {
                        session: w.session.clone(),
                        branch: w.branch.clone(),
                        state: "error".into(),
                        cost_usd: None,
                        commits: 0,
                        issues,
                        stop_reason: Some(format!("{e:#}")),
                    },
                }
            })
            .collect();
        ParallelReport {
            r#type: "parallel",
            run: self.run.id.clone(),
            score: self.run.score,
            summary: self.run.summary.clone(),
            workers,
        }
    }

    /// The exit: 130 when a worker was interrupted (resume continues it), 1 when one
    /// failed, 4 when none kept a change, else success (also when the review found
    /// nothing to fix, so no worker ran).
    pub fn exit(self) -> anyhow::Result<()> {
        let run = self.run.id.clone();
        if self.workers.is_empty() {
            // The review found nothing to fix: no worker was needed.
            return Ok(());
        }
        let mut interrupted = false;
        let mut failed = Vec::new();
        let mut kept = false;
        for end in self.workers {
            match end.finished {
                Ok(f) => match f.record.status {
                    SessionStatus::Interrupted => interrupted = true,
                    SessionStatus::Failed => failed.push(end.session),
                    SessionStatus::Completed => kept |= f.record.commits().next().is_some(),
                    _ => {}
                },
                Err(_) => failed.push(end.session),
            }
        }
        if interrupted {
            return Err(CliError::interrupted("interrupted: every running worker rolled back its iteration")
                .with_hint(format!("resume every worker with `mmm improve --parallel --resume {run}`"))
                .into());
        }
        if !failed.is_empty() {
            return Err(CliError::failure(format!("worker(s) failed: {}", failed.join(", ")))
                .with_hint(format!(
                    "`mmm history <session>` shows what went wrong; `mmm improve --parallel --resume {run}` continues"
                ))
                .into());
        }
        if !kept {
            return Err(CliError::nothing_kept("no worker kept a change")
                .with_hint("`mmm history <session>` shows what each worker tried")
                .into());
        }
        Ok(())
    }
}

impl Report for ParallelReport {
    fn human(&self, s: &Styles) -> String {
        let mut lines =
            vec![format!("{} {} (review: {:.1} — {})", s.bold("Parallel run"), self.run, self.score, self.summary)];
        for w in &self.workers {
            let cost = w.cost_usd.map_or_else(|| "cost unknown".to_string(), |c| format!("${c:.4}"));
            let commits = if w.commits == 1 { "1 commit".to_string() } else { format!("{} commits", w.commits) };
            let why = w.stop_reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
            lines.push(format!("  {} {} {} · {cost} · {commits}{why}", w.session, s.cyan(&w.branch), w.state));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::review::Severity;

    fn issue(file: Option<&str>, description: &str) -> Issue {
        Issue { severity: Severity::High, file: file.map(str::to_string), description: description.into() }
    }

    #[test]
    fn issues_are_split_by_file_and_no_file_is_in_two_groups() {
        let issues = vec![
            issue(Some("a.rs"), "1"),
            issue(Some("b.rs"), "2"),
            issue(Some("a.rs"), "3"),
            issue(None, "4"),
            issue(Some("c.rs"), "5"),
        ];
        let groups = split(&issues, 2);
        let descriptions: Vec<Vec<&str>> =
            groups.iter().map(|g| g.iter().map(|i| i.description.as_str()).collect()).collect();
        // a.rs (two issues) first; then b.rs and the issue without a file to the smaller
        // group; c.rs to the first of two equal groups.
        assert_eq!(descriptions, vec![vec!["1", "3", "5"], vec!["2", "4"]]);
        assert_eq!(reserved_for(&groups, 0), vec!["b.rs".to_string()]);
        assert_eq!(reserved_for(&groups, 1), vec!["a.rs".to_string(), "c.rs".to_string()]);
        // More workers than files: only as many groups as there are.
        assert_eq!(split(&issues[..3], 5).len(), 2);
        assert!(split(&[], 3).is_empty());
        assert_eq!(split(&issues, 1), vec![issues.clone()]);
    }

    #[test]
    fn copy_refuses_paths_outside_the_tree_and_skips_missing_ones() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join(".env"), "KEY=1\n").unwrap();
        std::fs::create_dir_all(from.path().join("fixtures/deep")).unwrap();
        std::fs::write(from.path().join("fixtures/deep/x"), "x").unwrap();
        copy_into(from.path(), to.path(), &[".env".into(), "fixtures".into(), "missing".into()]).unwrap();
        assert_eq!(std::fs::read_to_string(to.path().join(".env")).unwrap(), "KEY=1\n");
        assert_eq!(std::fs::read_to_string(to.path().join("fixtures/deep/x")).unwrap(), "x");
        assert!(!to.path().join("missing").exists());
        for bad in ["../x", "/etc/passwd", ".git/config", ".mmm/state.json", ""] {
            assert!(copy_into(from.path(), to.path(), &[bad.into()]).is_err(), "{bad}");
        }
    }
}
