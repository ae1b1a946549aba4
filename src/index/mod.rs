//! The global index: one SQLite database (`$XDG_DATA_HOME/mmm/mmm.db`) of the registered
//! projects and of every session they ran, with its iterations and check runs, so `mmm
//! stats`, `mmm report` and alerts can answer across sessions and projects.
//!
//! It is never the source of truth: each repository's `.mmm/` JSON files are, and
//! [`Index::reindex`] rebuilds a project's rows from them. Every write is one transaction
//! that replaces a session's rows whole, so a crash leaves the old rows or the new ones.
//! The database runs in WAL mode with a busy timeout and takes its write lock up front
//! (`BEGIN IMMEDIATE`), so several sessions ending at once wait their turn instead of
//! failing with "database is locked". It must never hold a secret: it stores what the
//! session records hold (which are redacted), nothing from the settings.

pub mod observer;
pub mod stats;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::error::CliError;
use crate::state::session::{CheckRecord, Outcome, SessionKind, SessionRecord};

/// The schema this mmm writes; `PRAGMA user_version` holds the database's.
pub const SCHEMA_VERSION: i64 = 2;

/// How long a writer waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Migrations, in order: `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    root TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    origin TEXT,
    last_head TEXT,
    added_at TEXT NOT NULL
);
CREATE TABLE sessions (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    stop_reason TEXT,
    branch TEXT NOT NULL,
    model TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    day TEXT NOT NULL,
    ended_at TEXT,
    elapsed_secs INTEGER NOT NULL,
    score_before REAL,
    score_after REAL,
    iterations INTEGER NOT NULL,
    commits INTEGER NOT NULL,
    rollbacks INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    iteration_ms INTEGER NOT NULL,
    check_runs INTEGER NOT NULL,
    check_ms INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd REAL,
    cache_savings_usd REAL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (project_id, id)
);
CREATE INDEX sessions_started ON sessions(started_ms);
CREATE TABLE iterations (
    project_id INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    score_before REAL,
    score_after REAL,
    commit_id TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cost_usd REAL,
    PRIMARY KEY (project_id, session_id, idx),
    FOREIGN KEY (project_id, session_id) REFERENCES sessions(project_id, id) ON DELETE CASCADE
);
CREATE TABLE check_runs (
    project_id INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    iteration INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    command TEXT NOT NULL,
    exit_code INTEGER,
    passed INTEGER NOT NULL,
    timed_out INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    cpu_ms INTEGER,
    peak_rss_kb INTEGER,
    PRIMARY KEY (project_id, session_id, iteration, seq),
    FOREIGN KEY (project_id, session_id) REFERENCES sessions(project_id, id) ON DELETE CASCADE
);
",
    r"
CREATE TABLE alerts_sent (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
",
];

/// A registered project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub root: String,
    pub name: String,
    pub origin: Option<String>,
    pub last_head: Option<String>,
    pub added_at: String,
    /// Sessions the index holds for it.
    pub sessions: u64,
}

/// The open index.
pub struct Index {
    conn: Connection,
}

/// Where the index lives: `$XDG_DATA_HOME/mmm/mmm.db` when that is an absolute path, else
/// the platform's data directory (`~/.local/share` on Linux).
pub fn default_path(env: &[(String, String)]) -> Option<PathBuf> {
    env.iter()
        .find(|(k, _)| k == "XDG_DATA_HOME")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute())
        .or_else(dirs::data_dir)
        .map(|dir| dir.join("mmm").join("mmm.db"))
}

/// The index path for this process, or a usage error saying why there is none.
pub fn path_from_env() -> anyhow::Result<PathBuf> {
    let env: Vec<(String, String)> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    default_path(&env).ok_or_else(|| {
        CliError::usage("there is no data directory for the index")
            .with_hint("set XDG_DATA_HOME to an absolute path")
            .into()
    })
}

impl Index {
    /// Opens (creating it and its directory if needed) the index at `path`, migrating an
    /// older schema and refusing a newer one.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening the index {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching to WAL needs a moment of exclusive access: the busy timeout covers it.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("the index {} runs in {mode} mode, not WAL", path.display());
        }
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")?;
        let mut index = Self { conn };
        index.migrate().with_context(|| format!("preparing the index {}", path.display()))?;
        Ok(index)
    }

    fn migrate(&mut self) -> anyhow::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(CliError::usage(format!(
                "the index has schema version {version}, newer than this mmm knows ({SCHEMA_VERSION})"
            ))
            .with_hint("upgrade mmm, or move the database away and rebuild it with `mmm projects reindex PATH...`")
            .into());
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql).with_context(|| format!("migrating the schema from version {from}"))?;
        }
        if version < SCHEMA_VERSION {
            tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Registers the project at `root` (or refreshes its origin and HEAD); returns its row id.
    pub fn register(&mut self, root: &Path, origin: Option<&str>, head: Option<&str>) -> anyhow::Result<i64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = upsert_project(&tx, root, origin, head)?;
        tx.commit()?;
        Ok(id)
    }

    /// Replaces what the index holds of `record`, a session of the project at `root`
    /// (registered on the way when it is not yet).
    pub fn record_session(&mut self, root: &Path, record: &SessionRecord) -> anyhow::Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = record.commits().last().unwrap_or(&record.start_commit).to_string();
        let project = upsert_project(&tx, root, None, Some(&head))?;
        insert_session(&tx, project, record)?;
        tx.commit()?;
        Ok(())
    }

    /// Rebuilds the rows of the project at `root` from its `.mmm/sessions/`: returns how
    /// many sessions it indexed and the session files it could not read.
    pub fn reindex(
        &mut self,
        root: &Path,
        origin: Option<&str>,
        head: Option<&str>,
    ) -> anyhow::Result<(usize, Vec<(PathBuf, anyhow::Error)>)> {
        let (records, unreadable) = SessionRecord::load_all(&crate::state::Layout::new(root).sessions_dir());
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let project = upsert_project(&tx, root, origin, head)?;
        tx.execute("DELETE FROM sessions WHERE project_id = ?1", [project])?;
        for record in &records {
            insert_session(&tx, project, record)?;
        }
        tx.commit()?;
        Ok((records.len(), unreadable))
    }

    /// Every registered project, by name.
    pub fn projects(&self) -> anyhow::Result<Vec<Project>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.root, p.name, p.origin, p.last_head, p.added_at, \
             (SELECT COUNT(*) FROM sessions s WHERE s.project_id = p.id) \
             FROM projects p ORDER BY p.name, p.root",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Project {
                root: r.get(0)?,
                name: r.get(1)?,
                origin: r.get(2)?,
                last_head: r.get(3)?,
                added_at: r.get(4)?,
                sessions: r.get::<_, i64>(5)?.max(0) as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets the project whose root is `root` or, failing that, whose name is `root`
    /// (when one project has it), with its sessions. Returns the project removed, if any.
    pub fn remove(&mut self, root_or_name: &str) -> anyhow::Result<Option<Project>> {
        let projects = self.projects()?;
        let by_root: Vec<&Project> = projects.iter().filter(|p| p.root == root_or_name).collect();
        let matches: Vec<&Project> =
            if by_root.is_empty() { projects.iter().filter(|p| p.name == root_or_name).collect() } else { by_root };
        match matches.as_slice() {
            [] => Ok(None),
            [one] => {
                self.conn.execute("DELETE FROM projects WHERE root = ?1", [&one.root])?;
                Ok(Some((*one).clone()))
            }
            many => Err(CliError::usage(format!(
                "{} registered projects are named `{root_or_name}`: {}",
                many.len(),
                many.iter().map(|p| p.root.as_str()).collect::<Vec<_>>().join(", ")
            ))
            .with_hint("name the project by its root path")
            .into()),
        }
    }

    /// Claims the alert `kind` for `key` (a session, a day, a project): true the first
    /// time, false once it is claimed.
    pub fn claim_alert(&self, kind: &str, key: &str) -> anyhow::Result<bool> {
        let added = self.conn.execute(
            "INSERT OR IGNORE INTO alerts_sent (kind, key, sent_at) VALUES (?1, ?2, ?3)",
            params![kind, key, crate::state::now()],
        )?;
        Ok(added == 1)
    }

    /// Lets the alert `kind` for `key` be claimed again (its condition has cleared).
    pub fn release_alert(&self, kind: &str, key: &str) -> anyhow::Result<()> {
        self.conn.execute("DELETE FROM alerts_sent WHERE kind = ?1 AND key = ?2", params![kind, key])?;
        Ok(())
    }

    /// What the sessions of the UTC day `day` (`2026-12-01`) cost, across projects.
    pub fn day_cost(&self, day: &str) -> anyhow::Result<f64> {
        Ok(self.conn.query_row("SELECT TOTAL(cost_usd) FROM sessions WHERE day = ?1", [day], |r| r.get(0))?)
    }

    /// The share of the project's latest `window` iterations (or all, while it has fewer)
    /// that failed, crashed or were rolled back, and how many that is of; `None` before any.
    pub fn failure_rate(&self, root: &Path, window: u64) -> anyhow::Result<Option<(f64, u64)>> {
        let (bad, n): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(outcome IN ('failed', 'crashed', 'rolled_back')), 0), COUNT(*) FROM ( \
             SELECT i.outcome FROM iterations i JOIN projects p ON p.id = i.project_id WHERE p.root = ?1 \
             ORDER BY i.started_at DESC, i.session_id DESC, i.idx DESC LIMIT ?2)",
            params![root.to_string_lossy(), window as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n > 0).then(|| (bad as f64 / n as f64, n as u64)))
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The project row for `root`, created when missing; `origin` and `head` replace what it
/// had when given.
fn upsert_project(tx: &Connection, root: &Path, origin: Option<&str>, head: Option<&str>) -> anyhow::Result<i64> {
    let root_text = root.to_string_lossy();
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| root_text.to_string());
    tx.execute(
        "INSERT INTO projects (root, name, origin, last_head, added_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(root) DO UPDATE SET origin = COALESCE(?3, origin), last_head = COALESCE(?4, last_head)",
        params![root_text, name, origin, head, crate::state::now()],
    )?;
    let id = tx.query_row("SELECT id FROM projects WHERE root = ?1", [&root_text], |r| r.get(0)).optional()?;
    id.context("the project row vanished while it was written")
}

/// What the command line calls a session's kind (`mmm stats --by command`).
pub fn command_of(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Improve => "improve",
        SessionKind::Spec => "run",
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (0 when it does not parse).
fn epoch_ms(time: &str) -> i64 {
    time.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).unwrap_or(0)
}

/// The UTC day (`2026-12-01`) of an RFC 3339 time.
pub fn day_of(time: &str) -> String {
    jiff::Timestamp::from_millisecond(epoch_ms(time))
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Replaces the rows of one session (its iterations and checks go with it).
fn insert_session(tx: &Connection, project: i64, r: &SessionRecord) -> anyhow::Result<()> {
    tx.execute("DELETE FROM sessions WHERE project_id = ?1 AND id = ?2", params![project, r.id])?;
    let count = |o: &[Outcome]| r.iterations.iter().filter(|i| o.contains(&i.outcome)).count() as i64;
    let duration = |start: &str, end: &str| (epoch_ms(end) - epoch_ms(start)).max(0);
    let iteration_ms: i64 = r.iterations.iter().map(|i| duration(&i.started_at, &i.ended_at)).sum();
    let checks: Vec<(u32, usize, &CheckRecord)> = r
        .baseline
        .iter()
        .enumerate()
        .map(|(n, c)| (0, n, c))
        .chain(r.iterations.iter().flat_map(|i| i.validation.iter().enumerate().map(move |(n, c)| (i.index, n, c))))
        .collect();
    let check_ms: i64 = checks.iter().map(|(_, _, c)| c.duration_ms as i64).sum();
    let started_ms = epoch_ms(&r.started_at);
    let day = day_of(&r.started_at);
    let u = &r.usage;
    tx.execute(
        "INSERT INTO sessions (project_id, id, kind, status, stop_reason, branch, model, started_at, started_ms, day, \
         ended_at, elapsed_secs, score_before, score_after, iterations, commits, rollbacks, failures, iteration_ms, \
         check_runs, check_ms, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_usd, \
         cache_savings_usd, requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
         ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)",
        params![
            project,
            r.id,
            command_of(r.kind),
            r.status.as_str(),
            r.stop_reason.as_ref().map(|s| s.to_string()),
            r.branch,
            r.settings.model,
            r.started_at,
            started_ms,
            day,
            r.ended_at,
            r.elapsed_secs as i64,
            r.score_before(),
            // A change of score needs two reviews.
            (r.scores.len() >= 2).then(|| r.score_now()).flatten(),
            r.iterations.len() as i64,
            count(&[Outcome::Committed]),
            count(&[Outcome::RolledBack]),
            count(&[Outcome::Failed, Outcome::Crashed]),
            iteration_ms,
            checks.len() as i64,
            check_ms,
            u.input_tokens as i64,
            u.output_tokens as i64,
            u.cache_creation_input_tokens as i64,
            u.cache_read_input_tokens as i64,
            r.cost_usd,
            cache_savings(&r.settings.model, u.cache_read_input_tokens),
            r.requests as i64,
        ],
    )?;
    let mut it = tx.prepare_cached(
        "INSERT INTO iterations (project_id, session_id, idx, started_at, ended_at, duration_ms, outcome, \
         score_before, score_after, commit_id, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, \
         cost_usd) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for i in &r.iterations {
        it.execute(params![
            project,
            r.id,
            i.index,
            i.started_at,
            i.ended_at,
            duration(&i.started_at, &i.ended_at),
            i.outcome.as_str(),
            i.score_before,
            i.score_after,
            i.commit,
            i.usage.input_tokens as i64,
            i.usage.output_tokens as i64,
            i.usage.cache_creation_input_tokens as i64,
            i.usage.cache_read_input_tokens as i64,
            i.cost_usd,
        ])?;
    }
    let mut check = tx.prepare_cached(
        "INSERT INTO check_runs (project_id, session_id, iteration, seq, command, exit_code, passed, timed_out, \
         duration_ms, cpu_ms, peak_rss_kb) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (iteration, seq, c) in checks {
        check.execute(params![
            project,
            r.id,
            iteration,
            seq as i64,
            c.command,
            c.exit_code,
            c.passed,
            c.timed_out,
            c.duration_ms as i64,
            c.cpu_ms.map(|v| v as i64),
            c.peak_rss_kb.map(|v| v as i64),
        ])?;
    }
    Ok(())
}

/// What reading `cache_read` tokens from the prompt cache saved over sending them as plain
/// input, at the price table's rates for `model`; `None` when the table has no price.
pub fn cache_savings(model: &str, cache_read: u64) -> Option<f64> {
    let price = crate::llm::pricing::table_price(model)?;
    Some(cache_read as f64 * (price.input - price.cache_read) / 1_000_000.0)
}

#[cfg(test)]
mod tests;
