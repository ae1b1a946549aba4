//! Recovery from a crash at any instant.
//!
//! Before the first edit of an iteration the engine writes a [`Checkpoint`] (the iteration,
//! the commit, the branch and the untracked files at its start) and removes it once the
//! iteration is recorded. A checkpoint still on disk when `--resume` starts means mmm
//! stopped mid-iteration. [`recover`] then puts the tree right, never at the cost of the
//! user's work:
//!
//! - a commit made but not yet recorded (its `Mmm-Session:` trailer names the session, its
//!   parent is the checkpoint) is adopted, not repeated;
//! - if every uncommitted path is one the journal says mmm's tools changed, the tree is
//!   rolled back to the checkpoint (files git does not track that the tools wrote are put
//!   back from the session's `originals/`) and the iteration recorded as `crashed`;
//! - otherwise nothing is touched and resuming is refused, naming the files mmm did not
//!   change.
//!
//! What the session spent is read back from the journal (`usage` events), so tokens and
//! cost spent before a crash are never lost. In debug builds, [`abort_point`] lets a test
//! abort mmm right after its k-th journal event, to prove all of this at every k.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PriceFn;
use super::events::{Event, Recovery};
use crate::error::CliError;
use crate::git::{Git, Snapshot};
use crate::llm::Usage;
use crate::state::session::{CheckRecord, FileChangeRecord, Issue, IterationRecord, Outcome, SessionRecord};
use crate::state::{self, Layout};
use crate::tools::Originals;

/// Where a session keeps what the tools' writes of the running iteration replaced.
pub fn originals_dir(layout: &Layout, id: &str) -> PathBuf {
    layout.session_dir(id).join("originals")
}

/// The current format version of `checkpoint.json`.
const VERSION: u32 = 1;

/// Where an iteration started, on disk while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub iteration: u32,
    pub started_at: String,
    pub snapshot: Snapshot,
}

impl Checkpoint {
    pub fn new(iteration: u32, snapshot: Snapshot) -> Self {
        Self { version: VERSION, iteration, started_at: state::now(), snapshot }
    }

    fn path(layout: &Layout, session: &str) -> PathBuf {
        layout.session_dir(session).join("checkpoint.json")
    }

    /// Writes the checkpoint durably (temporary file, fsync, rename).
    pub fn save(&self, layout: &Layout, session: &str) -> anyhow::Result<()> {
        state::write_json(&Self::path(layout, session), self)
    }

    pub fn load(layout: &Layout, session: &str) -> anyhow::Result<Option<Self>> {
        let path = Self::path(layout, session);
        if !path.exists() {
            return Ok(None);
        }
        state::read_json(&path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists"))
            .map(Some)
            .map_err(|e| match e.root_cause().downcast_ref::<serde_json::Error>() {
                // Truncated, garbage, empty: the iteration's start is unknown, so nothing is
                // rolled back on a guess.
                Some(json) => crate::error::CliError::usage(format!("{} is damaged: {json}", path.display()))
                    .with_hint(format!(
                        "mmm cannot tell where the interrupted iteration started: check `git status` and `git diff`, \
                         put back or stash what should not stay, remove {}, then run `--resume` again",
                        path.display()
                    ))
                    .into(),
                None => e,
            })
    }

    /// Removes the checkpoint (the iteration is recorded).
    pub fn clear(layout: &Layout, session: &str) -> anyhow::Result<()> {
        let path = Self::path(layout, session);
        match crate::blocking::call(|| std::fs::remove_file(&path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// What a session's journal says: what it spent, and per iteration what the tools changed,
/// the review and the last checks.
#[derive(Debug, Default)]
pub struct JournalFacts {
    pub usage: Usage,
    pub requests: u32,
    /// Usage and requests by iteration.
    by_iteration: Vec<(u32, Usage, u32)>,
    changed: Vec<(u32, String)>,
    reviews: Vec<(u32, f64, Vec<Issue>)>,
    validations: Vec<(u32, Vec<CheckRecord>)>,
    /// Iterations reported as ended (their record may not have been saved).
    ended: Vec<IterationRecord>,
    /// The costs the usage events reported, in all and by iteration (`None` once one was
    /// unknown), and whether the session switched models: then its cost is their sum.
    costs: Option<f64>,
    costs_by_iteration: Vec<(u32, Option<f64>)>,
    switched_model: bool,
}

impl JournalFacts {
    /// Reads `events.jsonl`; a torn last line (a crash mid-write) is skipped.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut facts = JournalFacts { costs: Some(0.0), ..Default::default() };
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
            let iteration = event["iteration"].as_u64().unwrap_or(0) as u32;
            match event["type"].as_str() {
                Some("usage") => {
                    let usage: Usage = serde_json::from_value(event["usage"].clone()).unwrap_or_default();
                    let cost = event["cost_usd"].as_f64();
                    facts.costs = facts.costs.zip(cost).map(|(a, b)| a + b);
                    match facts.costs_by_iteration.iter_mut().find(|(i, _)| *i == iteration) {
                        Some((_, c)) => *c = c.zip(cost).map(|(a, b)| a + b),
                        None => facts.costs_by_iteration.push((iteration, cost)),
                    }
                    facts.usage += usage;
                    facts.requests += 1;
                    match facts.by_iteration.iter_mut().find(|(i, ..)| *i == iteration) {
                        Some((_, u, n)) => {
                            *u += usage;
                            *n += 1;
                        }
                        None => facts.by_iteration.push((iteration, usage, 1)),
                    }
                }
                Some("switch") if event["kind"] == "model" => facts.switched_model = true,
                Some("tool") => {
                    if let Some(path) = event["changed"].as_str() {
                        facts.changed.push((iteration, path.to_string()));
                    }
                }
                Some("review") => {
                    let issues = serde_json::from_value(event["issues"].clone()).unwrap_or_default();
                    facts.reviews.push((iteration, event["score"].as_f64().unwrap_or(0.0), issues));
                }
                Some("validation") => {
                    let checks = serde_json::from_value(event["checks"].clone()).unwrap_or_default();
                    facts.validations.push((iteration, checks));
                }
                Some("iteration") => {
                    if let Ok(it) = serde_json::from_value::<IterationRecord>(event) {
                        facts.ended.push(it);
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// Files mmm's tools created or modified in `iteration`.
    pub fn changed_in(&self, iteration: u32) -> BTreeSet<&str> {
        self.changed.iter().filter(|(i, _)| *i == iteration).map(|(_, p)| p.as_str()).collect()
    }

    fn usage_of(&self, iteration: u32) -> (Usage, u32) {
        self.by_iteration.iter().find(|(i, ..)| *i == iteration).map(|(_, u, n)| (*u, *n)).unwrap_or_default()
    }

    /// The session's cost: its usage at its model's price, or, once it switched models,
    /// the sum of what each response cost.
    fn cost(&self, record: &SessionRecord, price: &PriceFn) -> Option<f64> {
        if self.switched_model { self.costs } else { price(&record.settings.model, &record.usage) }
    }

    /// [`JournalFacts::cost`] for one iteration.
    fn cost_of(&self, iteration: u32, model: &str, price: &PriceFn) -> Option<f64> {
        if self.switched_model {
            self.costs_by_iteration.iter().find(|(i, _)| *i == iteration).map_or(Some(0.0), |(_, c)| *c)
        } else {
            price(model, &self.usage_of(iteration).0)
        }
    }
}

/// Lines added and removed per file between two commits, as recorded.
pub fn files_between(git: &Git, from: &str, to: &str) -> anyhow::Result<Vec<FileChangeRecord>> {
    Ok(git
        .diff_numstat(from, to)?
        .into_iter()
        .map(|f| FileChangeRecord { path: f.path, added: f.added, removed: f.removed })
        .collect())
}

/// Puts a crashed session right before it resumes (see the module comment): the usage
/// the journal saw, and the cut-off iteration adopted or rolled back and recorded. Returns
/// the events to report once the session is open.
pub fn recover(git: &Git, layout: &Layout, record: &mut SessionRecord, price: &PriceFn) -> anyhow::Result<Vec<Event>> {
    let facts = JournalFacts::read(&layout.session_dir(&record.id).join("events.jsonl"))?;
    if facts.requests >= record.requests {
        record.usage = facts.usage;
        record.requests = facts.requests;
        record.cost_usd = facts.cost(record, price);
    }
    let Some(checkpoint) = Checkpoint::load(layout, &record.id)? else { return Ok(Vec::new()) };
    let index = checkpoint.iteration;
    if record.iterations.iter().any(|it| it.index >= index) {
        // Recorded before the crash; only the checkpoint's removal was cut off.
        Checkpoint::clear(layout, &record.id)?;
        return Ok(Vec::new());
    }
    let start = &checkpoint.snapshot;
    if git.current_branch()? != start.branch {
        return Err(CliError::usage(format!(
            "session {} stopped mid-iteration on {}, but {} is checked out",
            record.id,
            start.branch.as_deref().unwrap_or("a detached HEAD"),
            git.current_branch()?.as_deref().unwrap_or("a detached HEAD")
        ))
        .with_hint(format!(
            "switch back with `git switch {}` (keeping any changes), then resume",
            start.branch.as_deref().unwrap_or("<branch>")
        ))
        .into());
    }

    let mut it = IterationRecord::new(index, checkpoint.started_at.clone());
    it.ended_at = state::now();
    it.outcome = Outcome::Crashed;
    it.error = Some("mmm stopped mid-iteration (a crash); `--resume` rolled its edits back".into());
    if let Some((_, score, issues)) = facts.reviews.iter().rev().find(|(i, ..)| *i == index) {
        it.score_before = Some(*score);
        it.issues = issues.clone();
    }
    (it.usage, it.requests) = facts.usage_of(index);
    it.cost_usd = facts.cost_of(index, &record.settings.model, price);
    // The iteration ended and was reported; only saving its record was cut off.
    let ended = facts.ended.iter().rev().find(|i| i.index == index).cloned();

    // A commit made but not journaled: keep it.
    let head = git.head()?.context("HEAD does not point at a commit")?;
    let mut base = start.clone();
    let mut adopted = None;
    if head != start.head {
        let trailer = format!("Mmm-Session: {}", record.id);
        let ours = git.parent(&head)?.as_deref() == Some(start.head.as_str())
            && git.message(&head)?.lines().any(|l| l.trim() == trailer);
        if !ours {
            return Err(CliError::usage(format!(
                "session {} stopped mid-iteration, and HEAD has moved to a commit mmm did not make",
                record.id
            ))
            .with_hint("mmm leaves the branch as it is; start a new session with `mmm improve`")
            .into());
        }
        let message = git.message(&head)?;
        it.summary = message.lines().next().map(|s| s.trim_start_matches("mmm: ").to_string());
        it.files_changed = files_between(git, &start.head, &head)?;
        it.commit = Some(head.clone());
        it.outcome = Outcome::Committed;
        it.error = None;
        it.validation =
            facts.validations.iter().rev().find(|(i, _)| *i == index).map(|(_, c)| c.clone()).unwrap_or_default();
        base.head = head.clone();
        adopted = Some(head);
    }
    if let Some(ended) = ended.filter(|e| e.commit == adopted) {
        it = ended;
    }

    // What is left uncommitted must all be mmm's own edits (a spec session also ticks its
    // spec file just before committing).
    let dirty = super::setup::user_changes(git)?;
    let originals = Originals::load(originals_dir(layout, &record.id))?;
    // Files the tools were about to write are kept before the write: mmm's, even when the
    // crash came before the journal event that records the write.
    let written = originals.paths_under(git.root());
    let mut ours = facts.changed_in(index);
    ours.extend(written.iter().map(String::as_str));
    if let Some(spec) = &record.spec {
        ours.insert(spec.path.as_str());
    }
    let mut foreign: Vec<&String> = dirty.iter().filter(|p| !ours.contains(p.as_str()) && !is_temporary(p)).collect();
    foreign.sort();
    if !foreign.is_empty() {
        return Err(CliError::usage(format!(
            "session {} stopped mid-iteration, and these uncommitted files were not changed by mmm: {}",
            record.id,
            foreign.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .with_hint("they may be your work: commit or stash them, then resume (mmm then rolls back only its own edits)")
        .into());
    }
    git.roll_back_to(&base).context("rolling back the iteration cut off by the crash")?;
    if adopted.is_some() {
        // The change was committed: what the tools wrote is the change.
        originals.clear()?;
    } else {
        originals.restore().context("putting back the files the tools wrote that git does not track")?;
    }
    let event = Event::Recovered {
        iteration: index,
        action: if adopted.is_some() { Recovery::Adopted } else { Recovery::RolledBack },
        files: if adopted.is_some() { it.files_changed.iter().map(|f| f.path.clone()).collect() } else { dirty },
        commit: adopted,
    };
    if let Some(score) = it.score_before {
        record.scores.push(score);
        if let Some(prev) = record.iterations.last_mut() {
            prev.score_after = Some(score);
        }
    }
    record.iterations.push(it);
    Checkpoint::clear(layout, &record.id)?;
    Ok(vec![event])
}

/// mmm's own temporary file of an atomic write cut off by the crash (`.mmm-write-*.tmp`).
fn is_temporary(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(".mmm-write-") && name.ends_with(".tmp")
}

/// Debug builds only: kills the process (SIGKILL: no cleanup, no core dump) right after
/// the k-th journal event it writes, when `MMM_DEBUG_ABORT_AFTER_EVENT=k` (the
/// crash-recovery sweep's kill point).
#[cfg(debug_assertions)]
pub fn abort_point() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static TARGET: OnceLock<Option<u64>> = OnceLock::new();
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| std::env::var("MMM_DEBUG_ABORT_AFTER_EVENT").ok()?.parse().ok());
    if let Some(k) = *target
        && WRITTEN.fetch_add(1, Ordering::SeqCst) + 1 == k
    {
        #[cfg(unix)]
        // SAFETY: raise() with a valid signal number has no memory-safety requirements.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::stop::Limits;
    use crate::state::session::{SessionKind, SessionSettings, SessionStatus};

    fn record() -> SessionRecord {
        let settings = SessionSettings {
            model: "a".into(),
            fallback_model: Some("b".into()),
            escalate_model: None,
            narrow_after: 2,
            limits: Limits {
                target: 8.0,
                max_iterations: 5,
                budget_usd: None,
                max_tokens: None,
                time_limit: None,
                max_stalled: 3,
                max_failures: 3,
            },
            fix_rounds: 1,
            max_turns: 5,
            max_output_tokens: 100,
            checks: vec!["true".into()],
            check_timeout_secs: 60,
            pass_env: Vec::new(),
            focus: None,
            in_place: false,
        };
        SessionRecord {
            version: crate::state::session::VERSION,
            id: "s".into(),
            kind: SessionKind::Improve,
            status: SessionStatus::Running,
            branch: "b".into(),
            base_branch: None,
            start_commit: "0".into(),
            started_at: "t".into(),
            ended_at: None,
            elapsed_secs: 0,
            stop_reason: None,
            settings,
            baseline: Vec::new(),
            iterations: Vec::new(),
            usage: Usage { input_tokens: 30, ..Usage::default() },
            cost_usd: None,
            requests: 3,
            cache_refreshes: 0,
            scores: Vec::new(),
            spec: None,
            undone: None,
            switches: Vec::new(),
        }
    }

    #[test]
    fn a_journal_that_switched_models_is_costed_by_what_each_response_cost() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("events.jsonl");
        let usage = |iteration: u32, cost: f64| {
            format!(
                r#"{{"type":"usage","iteration":{iteration},"conversation":"c","usage":{{"input_tokens":10,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},"cost_usd":{cost}}}"#
            )
        };
        let price: PriceFn =
            std::sync::Arc::new(|model: &str, u: &Usage| (model == "a").then_some(u.input_tokens as f64));
        let one_model = [usage(1, 10.0), usage(1, 10.0), usage(2, 10.0)].join("\n");
        std::fs::write(&journal, &one_model).unwrap();
        let facts = JournalFacts::read(&journal).unwrap();
        assert_eq!(facts.cost(&record(), &price), Some(30.0));
        assert_eq!(facts.cost_of(1, "a", &price), Some(20.0));
        let switch = r#"{"type":"switch","kind":"model","iteration":2,"from":"a","to":"b","reason":"overloaded"}"#;
        std::fs::write(&journal, [usage(1, 10.0), switch.to_string(), usage(2, 1.0), usage(2, 1.0)].join("\n"))
            .unwrap();
        let facts = JournalFacts::read(&journal).unwrap();
        assert_eq!(facts.cost(&record(), &price), Some(12.0));
        assert_eq!((facts.cost_of(1, "a", &price), facts.cost_of(2, "a", &price)), (Some(10.0), Some(2.0)));
        assert_eq!(facts.cost_of(3, "a", &price), Some(0.0));
    }
}
