//! The record of one `mmm workflow run` (`.mmm/sessions/<run>/workflow.json`): its inputs,
//! its branch, and each top-level step's state and result, saved atomically before and
//! after every step. It is what `--resume` continues from (finished steps' results are put
//! back into the context, the run starts again at the step it was on), what `--from` and
//! `--only` take earlier steps' results from, and what `workflow show` reports as the last
//! run. It records; it never decides what runs and never holds a secret (inputs are the
//! user's values, step outputs are redacted by the steps that made them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Layout;
use crate::workflow::InputValue;
use crate::workflow::expr::{Outcome, StepResult};

/// The current format version of `workflow.json`.
const VERSION: u32 = 1;

/// The file name of a run's record inside its directory under `.mmm/sessions/`.
pub const FILE: &str = "workflow.json";

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not ended: still running, or the process was killed.
    Running,
    Success,
    Failure,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Where one step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Begun and not ended (a crash leaves this).
    Running,
    Success,
    Failure,
    Skipped,
    /// Ctrl+C stopped it.
    Interrupted,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Success => "success",
            StepState::Failure => "failure",
            StepState::Skipped => "skipped",
            StepState::Interrupted => "interrupted",
        }
    }
}

/// One step of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's label (its id, else its name, else `#<index>`).
    pub step: String,
    pub state: StepState,
    pub started_at: String,
    pub attempts: u32,
    pub duration_ms: u64,
    /// What the step exposed, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<StepResult>,
    /// A failure `continue_on_error` let the run go on past.
    #[serde(default)]
    pub continued: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The sessions the step started (improve and spec steps), oldest first: an
    /// interrupted improve step resumes its last one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<String>,
}

impl StepRecord {
    /// Whether the step ended in a way a resumed run keeps: success, skipped, or a failure
    /// the run went on past.
    pub fn is_done(&self) -> bool {
        match self.state {
            StepState::Success | StepState::Skipped => self.result.is_some(),
            StepState::Failure => self.continued && self.result.is_some(),
            StepState::Running | StepState::Interrupted => false,
        }
    }
}

/// One run of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub version: u32,
    pub id: String,
    /// The workflow's `name`.
    pub workflow: String,
    /// The file it was read from.
    pub path: String,
    pub inputs: BTreeMap<String, InputValue>,
    /// The branch its sessions commit to, when it runs any.
    pub branch: Option<String>,
    pub started_at: String,
    pub status: RunStatus,
    /// The run this one continued (`--resume`) or took earlier results from (`--from`,
    /// `--only`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on: Option<String>,
    /// The top-level steps that began, in the order they began.
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    pub fn new(id: String, workflow: String, path: String, inputs: BTreeMap<String, InputValue>) -> Self {
        Self {
            version: VERSION,
            id,
            workflow,
            path,
            inputs,
            branch: None,
            started_at: super::now(),
            status: RunStatus::Running,
            based_on: None,
            steps: Vec::new(),
        }
    }

    pub fn file(layout: &Layout, id: &str) -> PathBuf {
        layout.session_dir(id).join(FILE)
    }

    /// Writes the record atomically.
    pub fn save(&self, layout: &Layout) -> anyhow::Result<()> {
        super::write_json(&Self::file(layout, &self.id), self)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        super::read_json(path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists"))
    }

    /// Every run of the workflow named `workflow` recorded under `.mmm/sessions/`, oldest
    /// first (by start, to the millisecond). Unreadable records are left out.
    pub fn all_of(layout: &Layout, workflow: &str) -> Vec<Self> {
        let mut runs: Vec<Self> = std::fs::read_dir(layout.sessions_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Self::load(&e.path().join(FILE)).ok())
            .filter(|r| r.workflow == workflow)
            .collect();
        runs.sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
        runs
    }

    /// The record of `step`, the latest when it began more than once.
    pub fn step(&self, step: &str) -> Option<&StepRecord> {
        self.steps.iter().rev().find(|s| s.step == step)
    }

    /// Records that `step` began (or began again), returning its index.
    pub fn begin(&mut self, step: String) -> usize {
        self.steps.retain(|s| s.step != step);
        self.steps.push(StepRecord {
            step,
            state: StepState::Running,
            started_at: super::now(),
            attempts: 0,
            duration_ms: 0,
            result: None,
            continued: false,
            error: None,
            sessions: Vec::new(),
        });
        self.steps.len() - 1
    }

    /// The results a later run may take over: every step that is done, by label.
    pub fn done_results(&self) -> BTreeMap<String, StepResult> {
        self.steps
            .iter()
            .filter(|s| s.is_done())
            .filter_map(|s| s.result.clone().map(|r| (s.step.clone(), r)))
            .collect()
    }
}

/// A step's ended state from its outcome.
pub fn state_of(outcome: Outcome) -> StepState {
    match outcome {
        Outcome::Success => StepState::Success,
        Outcome::Failure => StepState::Failure,
        Outcome::Skipped => StepState::Skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_keeps_only_done_steps_for_a_later_run() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut record = RunRecord::new("r1".into(), "tidy".into(), "tidy.yml".into(), BTreeMap::new());
        let i = record.begin("lint".into());
        record.steps[i].state = StepState::Failure;
        record.steps[i].continued = true;
        record.steps[i].result = Some(StepResult::new(Outcome::Failure));
        let i = record.begin("fix".into());
        record.steps[i].state = StepState::Success;
        record.steps[i].result = Some(StepResult::new(Outcome::Success));
        record.begin("notes".into());
        record.save(&layout).unwrap();
        let loaded = RunRecord::load(&RunRecord::file(&layout, "r1")).unwrap();
        assert_eq!(loaded, record);
        assert_eq!(loaded.done_results().keys().collect::<Vec<_>>(), ["fix", "lint"]);
        assert_eq!(RunRecord::all_of(&layout, "tidy").len(), 1);
        assert!(RunRecord::all_of(&layout, "other").is_empty());
    }

    #[test]
    fn beginning_a_step_again_replaces_its_record() {
        let mut record = RunRecord::new("r1".into(), "w".into(), "w.yml".into(), BTreeMap::new());
        record.begin("a".into());
        record.steps[0].state = StepState::Interrupted;
        record.begin("a".into());
        assert_eq!(record.steps.len(), 1);
        assert_eq!(record.step("a").unwrap().state, StepState::Running);
    }
}
