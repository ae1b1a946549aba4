//! `.mmm/sessions/<id>/session.json`: the full record of one session — the settings it ran
//! with, the baseline checks, and every iteration with its scores, issues, outcome, commit,
//! files, checks, usage and cost. It is rewritten (atomically) after every step, so it is
//! always a complete, loadable record of what has happened so far, and it is what
//! `--resume`, `mmm status` and `mmm history` read.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::CliError;
use crate::llm::Usage;
use crate::settings::value::format_duration;

/// The current format version of `session.json`.
pub const VERSION: u32 = 1;

/// What kind of engine ran the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Improve,
    /// `mmm run`: one spec file implemented until its criteria hold.
    Spec,
}

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Running,
    /// Ended by a stop rule, having kept its changes (or with nothing to do).
    Completed,
    /// Ended by a stop rule after iterations of which none was kept.
    NothingKept,
    Interrupted,
    Failed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Completed => "completed",
            SessionStatus::NothingKept => "nothing_kept",
            SessionStatus::Interrupted => "interrupted",
            SessionStatus::Failed => "failed",
        }
    }

    /// Whether the session ran to a stop rule (so `--resume` has nothing to continue).
    pub fn is_finished(self) -> bool {
        matches!(self, SessionStatus::Completed | SessionStatus::NothingKept)
    }
}

/// The settings a session runs with, kept so `--resume` continues with the same ones (only
/// the model may change on resume, when the command line names one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    pub model: String,
    /// `fallback_model`: the model requests go to once `model` is overloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<String>,
    /// `escalate_model`: the editing model of an iteration retrying an issue that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_model: Option<String>,
    /// `narrow_after`: failed iterations on one issue before the next narrows to it.
    #[serde(default = "default_narrow_after")]
    pub narrow_after: u32,
    pub limits: Limits,
    pub fix_rounds: u32,
    pub max_turns: u32,
    pub max_output_tokens: u32,
    pub checks: Vec<String>,
    pub check_timeout_secs: u64,
    /// Credentials the checks may see (`validate.pass_env`); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_env: Vec<String>,
    pub focus: Option<String>,
    pub in_place: bool,
}

fn default_narrow_after() -> u32 {
    2
}

/// One validation command's result, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub command: String,
    /// `None` when the command was killed (timeout) or could not start.
    pub exit_code: Option<i32>,
    pub passed: bool,
    pub timed_out: bool,
    pub duration_ms: u64,
    /// The end of a failed check's output (redacted), for reports and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Not run: it passed on this same tree before ([`crate::session::reuse`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// CPU time (user + system) the command and the processes it waited for used, in
    /// milliseconds, from `wait4`'s rusage; left out where the platform does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// The largest resident set of the command or one of the processes it waited for, in KiB
    /// (`wait4`'s `ru_maxrss`); left out where the platform does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
}

/// A file an iteration changed, with its line counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChangeRecord {
    pub path: String,
    pub added: u64,
    pub removed: u64,
}

/// How an iteration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Checks passed and the change was committed.
    Committed,
    /// The checks kept failing; every edit was undone.
    RolledBack,
    /// The model changed nothing.
    NoChange,
    /// The iteration could not complete (no review, an API failure, ...); edits undone.
    Failed,
    /// mmm stopped mid-iteration (killed, a power cut); `--resume` rolled its edits back.
    Crashed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::RolledBack => "rolled_back",
            Outcome::NoChange => "no_change",
            Outcome::Failed => "failed",
            Outcome::Crashed => "crashed",
        }
    }
}

/// One iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationRecord {
    pub index: u32,
    pub started_at: String,
    pub ended_at: String,
    /// The score of this iteration's review.
    pub score_before: Option<f64>,
    /// The score of the next review, once there is one.
    pub score_after: Option<f64>,
    /// The issues this iteration was asked to address.
    pub issues: Vec<Issue>,
    /// The numbers (1-based, into `issues`) of the issues the change declared it addresses
    /// (`submit_change`); empty when it did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addressed: Vec<u32>,
    pub outcome: Outcome,
    /// The model's one-line summary of its change, when it gave one.
    pub summary: Option<String>,
    pub commit: Option<String>,
    pub files_changed: Vec<FileChangeRecord>,
    /// The last run of the checks in this iteration.
    pub validation: Vec<CheckRecord>,
    /// What a kept change did to the checks themselves (a test file deleted, tests removed or
    /// skipped, a file that defines the checks edited), in words; empty when nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub integrity: Vec<String>,
    pub fix_rounds: u32,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    pub requests: u32,
    /// What went wrong, for `failed` and `rolled_back`.
    pub error: Option<String>,
    /// Time git took to commit or roll back the iteration's change (it ended at `ended_at`);
    /// left out by older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ms: Option<u64>,
}

/// The whole record of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub version: u32,
    pub id: String,
    pub kind: SessionKind,
    pub status: SessionStatus,
    pub branch: String,
    /// The branch checked out when the session started (`None` on a detached HEAD, and in
    /// records written before mmm kept it): where `mmm undo` goes back to.
    #[serde(default)]
    pub base_branch: Option<String>,
    /// HEAD when the session started (after any `--allow-dirty` snapshot).
    pub start_commit: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// Seconds spent running, summed over every run of the session (resumes included).
    pub elapsed_secs: u64,
    pub stop_reason: Option<StopReason>,
    pub settings: SessionSettings,
    /// The checks as they stood before the first iteration.
    pub baseline: Vec<CheckRecord>,
    pub iterations: Vec<IterationRecord>,
    /// Usage of every request, iterations and reviews that ended no iteration included.
    pub usage: Usage,
    /// `None` when the model's price is unknown.
    pub cost_usd: Option<f64>,
    pub requests: u32,
    /// Requests that only refreshed the prompt cache during long checks (counted in
    /// `requests`, `usage` and `cost_usd` too).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_refreshes: u32,
    /// Every review's score, in order, including one that ended the session before any
    /// iteration ran.
    #[serde(default)]
    pub scores: Vec<f64>,
    /// What a `mmm run` session implements, and how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SpecRecord>,
    /// Set once `mmm undo` has taken the session's work back out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone: Option<Undo>,
    /// Changes of model or focus after failures ([`crate::session::retries`]), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<Switch>,
}

/// What `mmm undo` did to a session's work, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Undo {
    /// The session's own branch was deleted; `head` is the commit it pointed at (still
    /// reachable through the reflog until git collects it).
    BranchDeleted { at: String, branch: String, head: String, forced: bool },
    /// An `--in-place` session's commits were reverted by new commits, newest first.
    Reverted { at: String, branch: String, reverts: Vec<String> },
}

impl Undo {
    /// When the undo happened.
    pub fn at(&self) -> &str {
        match self {
            Undo::BranchDeleted { at, .. } | Undo::Reverted { at, .. } => at,
        }
    }
}

impl fmt::Display for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undo::BranchDeleted { branch, head, forced, .. } => {
                let short = head.get(..7).unwrap_or(head);
                write!(f, "branch {branch} deleted (it was at {short})")?;
                if *forced {
                    f.write_str(", with --force")?;
                }
                Ok(())
            }
            Undo::Reverted { branch, reverts, .. } => {
                write!(f, "{} commit(s) reverted on {branch} by new commits", reverts.len())
            }
        }
    }
}

/// A spec session's spec and the verdict on its criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecRecord {
    pub id: String,
    pub title: String,
    /// The spec file, relative to the repository root.
    pub path: String,
    /// The last verdict on each criterion (empty before the first verification).
    #[serde(default)]
    pub criteria: Vec<CriterionRecord>,
    /// The output of the last failing check, when the spec failed on its checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_output: Option<String>,
}

/// One acceptance criterion and whether the verifier found it met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriterionRecord {
    pub index: u32,
    pub text: String,
    pub met: bool,
    pub evidence: String,
}

impl IterationRecord {
    /// Iteration `index`, started at `started_at`, with nothing done yet (`no_change`).
    pub fn new(index: u32, started_at: String) -> Self {
        Self {
            index,
            started_at,
            ended_at: String::new(),
            score_before: None,
            score_after: None,
            issues: Vec::new(),
            addressed: Vec::new(),
            outcome: Outcome::NoChange,
            summary: None,
            commit: None,
            files_changed: Vec::new(),
            validation: Vec::new(),
            integrity: Vec::new(),
            fix_rounds: 0,
            usage: Usage::default(),
            cost_usd: Some(0.0),
            requests: 0,
            error: None,
            git_ms: None,
        }
    }
}

impl SessionRecord {
    /// Every session recorded under `dir` (`.mmm/sessions`), sorted by id, and the
    /// records that could not be read. A session directory without `session.json` yet is
    /// skipped quietly.
    pub fn load_all(dir: &Path) -> (Vec<SessionRecord>, Vec<(std::path::PathBuf, anyhow::Error)>) {
        let mut sessions = Vec::new();
        let mut unreadable = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path().join("session.json");
            match SessionRecord::load(&path) {
                Ok(record) => sessions.push(record),
                Err(e) if path.exists() => unreadable.push((path, e)),
                Err(_) => {}
            }
        }
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        (sessions, unreadable)
    }

    /// The first review's score.
    pub fn score_before(&self) -> Option<f64> {
        self.scores.first().copied()
    }

    /// The latest review's score.
    pub fn score_now(&self) -> Option<f64> {
        self.scores.last().copied()
    }

    pub fn commits(&self) -> impl Iterator<Item = &str> {
        self.iterations.iter().filter_map(|i| i.commit.as_deref())
    }

    /// The session `id` names, or the last one (from `state.json`) when `id` is `None`;
    /// an unknown id or a repository without sessions is a usage error with a hint.
    pub fn find(layout: &super::Layout, id: Option<&str>) -> anyhow::Result<Self> {
        let id = match id {
            Some(id) => id.to_string(),
            None => {
                super::summary::ProjectState::load_or_default(&layout.state_file())?.last_session.ok_or_else(|| {
                    crate::error::CliError::usage("there are no mmm sessions in this repository yet")
                        .with_hint("start one with `mmm improve`")
                })?
            }
        };
        let path = layout.session_dir(&id).join("session.json");
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') || !path.exists() {
            return Err(crate::error::CliError::usage(format!("no session `{id}` in this repository"))
                .with_hint("`mmm history` lists the sessions")
                .into());
        }
        Self::load(&path)
    }

    /// Saves the record where it lives: `.mmm/sessions/<id>/session.json`.
    pub fn save_in(&self, layout: &super::Layout) -> anyhow::Result<()> {
        self.save(&layout.session_dir(&self.id).join("session.json"))
    }

    /// Loads a session file, migrating older versions and refusing newer ones. A file that
    /// is not a session record (truncated, garbage, wrong types) is a usage error naming it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let damaged = |reason: String| -> anyhow::Error {
            CliError::usage(format!("{} is damaged: {reason}", path.display()))
                .with_hint(
                    "mmm cannot use this session: restore the file from a backup, or move its directory out of \
                     .mmm/sessions (the other sessions are unaffected)",
                )
                .into()
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| damaged(format!("it is not valid JSON: {e}")))?;
        if value.get("version").and_then(serde_json::Value::as_u64).is_none_or(|v| v < 1) {
            return Err(damaged("it has no format version".into()));
        }
        super::read_json(path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists")).map_err(
            |e| match e.root_cause().downcast_ref::<serde_json::Error>() {
                Some(json) => damaged(format!("it does not have the expected fields: {json}")),
                None => e,
            },
        )
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        super::write_json(path, self)
    }
}

/// How bad an issue is, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        })
    }
}

/// One issue the reviewer names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub description: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "[{}] {file}: {}", self.severity, self.description),
            None => write!(f, "[{}] {}", self.severity, self.description),
        }
    }
}

/// The limits a session runs under, from settings and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub target: f64,
    pub max_iterations: u32,
    pub budget_usd: Option<f64>,
    pub max_tokens: Option<u64>,
    #[serde(with = "opt_secs")]
    pub time_limit: Option<Duration>,
    pub max_stalled: u32,
    pub max_failures: u32,
}

/// A change of strategy, as an event and in the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Switch {
    /// Requests went from model `from` to model `to`.
    Model { iteration: u32, from: String, to: String, reason: ModelReason },
    /// The iteration's focus changed because of earlier failures on `issue`.
    Focus { iteration: u32, action: FocusAction, issue: Issue, failures: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelReason {
    /// A request gave up on overload: the session continues on `fallback_model`.
    Overloaded,
    /// The iteration retries an issue that failed: it edits with `escalate_model`.
    Escalated,
    /// The escalated iteration is over: back to the session's model.
    EscalationEnded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusAction {
    /// The iteration works on this one issue, in its file.
    Narrowed,
    /// The issue is set aside; the session goes on with the next one.
    MovedOn,
}

/// Why a session stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    TargetReached {
        score: f64,
        target: f64,
    },
    NoIssues {
        score: f64,
    },
    /// Every issue the review found was set aside after failed attempts (`narrow_after`).
    SetAside {
        score: f64,
        issues: u32,
    },
    /// A parallel worker worked on every issue of its group: each committed or set aside.
    GroupDone {
        issues: u32,
    },
    IterationLimit {
        iterations: u32,
    },
    Budget {
        spent_usd: f64,
        budget_usd: f64,
    },
    TokenLimit {
        used: u64,
        limit: u64,
    },
    TimeLimit {
        limit_secs: u64,
    },
    Stalled {
        iterations: u32,
    },
    Failing {
        iterations: u32,
    },
    Interrupted,
    Error {
        message: String,
    },
    /// `mmm run`: the spec's checks pass and every criterion is met.
    Implemented {
        spec: String,
    },
}

impl StopReason {
    /// Whether the session ended as it should (as opposed to failing or being cut off).
    pub fn is_success(&self) -> bool {
        !matches!(self, StopReason::Failing { .. } | StopReason::Interrupted | StopReason::Error { .. })
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TargetReached { score, target } => {
                write!(f, "target reached: score {score:.1} ≥ {target:.1} with the checks passing")
            }
            StopReason::NoIssues { score } => write!(f, "the review found nothing left to fix (score {score:.1})"),
            StopReason::SetAside { score, issues } => write!(
                f,
                "every issue the review found ({issues}) was set aside after failed attempts (score {score:.1})"
            ),
            StopReason::GroupDone { issues } => {
                write!(f, "every issue given to this worker ({issues}) was committed or set aside")
            }
            StopReason::IterationLimit { iterations } => write!(f, "iteration limit reached ({iterations})"),
            StopReason::Budget { spent_usd, budget_usd } => {
                write!(f, "budget spent: ${spent_usd:.2} of ${budget_usd:.2}")
            }
            StopReason::TokenLimit { used, limit } => write!(f, "token limit reached: {used} of {limit}"),
            StopReason::TimeLimit { limit_secs } => {
                write!(f, "time limit reached ({})", format_duration(Duration::from_secs(*limit_secs)))
            }
            StopReason::Stalled { iterations } => {
                write!(f, "{iterations} iterations in a row without a committed change")
            }
            StopReason::Failing { iterations } => write!(f, "{iterations} failed iterations in a row"),
            StopReason::Interrupted => f.write_str("interrupted"),
            StopReason::Error { message } => write!(f, "error: {message}"),
            StopReason::Implemented { spec } => {
                write!(f, "spec `{spec}` implemented: the checks pass and every criterion is met")
            }
        }
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
