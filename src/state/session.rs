//! `.mmm/sessions/<id>/session.json`: the full record of one session — the settings it ran
//! with, the baseline checks, and every iteration with its scores, issues, outcome, commit,
//! files, checks, usage and cost. It is rewritten (atomically) after every step, so it is
//! always a complete, loadable record of what has happened so far, and it is what
//! `--resume`, `mmm status` and `mmm history` read.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::llm::Usage;
use crate::session::review::Issue;
use crate::session::stop::{Limits, StopReason};

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
    Completed,
    Interrupted,
    Failed,
}

/// The settings a session runs with, kept so `--resume` continues with the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSettings {
    pub model: String,
    pub limits: Limits,
    pub fix_rounds: u32,
    pub max_turns: u32,
    pub max_output_tokens: u32,
    pub checks: Vec<String>,
    pub check_timeout_secs: u64,
    pub focus: Option<String>,
    pub in_place: bool,
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
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::RolledBack => "rolled_back",
            Outcome::NoChange => "no_change",
            Outcome::Failed => "failed",
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
    pub outcome: Outcome,
    /// The model's one-line summary of its change, when it gave one.
    pub summary: Option<String>,
    pub commit: Option<String>,
    pub files_changed: Vec<FileChangeRecord>,
    /// The last run of the checks in this iteration.
    pub validation: Vec<CheckRecord>,
    pub fix_rounds: u32,
    pub usage: Usage,
    pub cost_usd: Option<f64>,
    pub requests: u32,
    /// What went wrong, for `failed` and `rolled_back`.
    pub error: Option<String>,
}

/// The whole record of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub version: u32,
    pub id: String,
    pub kind: SessionKind,
    pub status: SessionStatus,
    pub branch: String,
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
    /// Every review's score, in order, including one that ended the session before any
    /// iteration ran.
    #[serde(default)]
    pub scores: Vec<f64>,
    /// What a `mmm run` session implements, and how far it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SpecRecord>,
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

impl SessionRecord {
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

    /// Loads a session file, migrating older versions and refusing newer ones.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        super::read_json(path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists"))
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        super::write_json(path, self)
    }
}
