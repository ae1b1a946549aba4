//! `.mmm/state.json`: the small summary of a project's sessions — the last session, the
//! current score, running totals and where each spec stands — read by `mmm status`,
//! `mmm specs` and `--resume`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::llm::Usage;

/// The current format version of `state.json`.
pub const VERSION: u32 = 1;

/// Running totals over every session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub sessions: u32,
    pub iterations: u32,
    pub commits: u32,
    pub usage: Usage,
    pub cost_usd: f64,
}

/// The summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    pub version: u32,
    pub last_session: Option<String>,
    pub current_score: Option<f64>,
    pub totals: Totals,
    /// Where each spec `mmm run` has run stands, by spec id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub specs: BTreeMap<String, SpecState>,
}

/// Where a spec stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecStatus {
    #[default]
    Pending,
    Done,
    Failed,
}

impl SpecStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecStatus::Pending => "pending",
            SpecStatus::Done => "done",
            SpecStatus::Failed => "failed",
        }
    }
}

/// The last run of a spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpecState {
    pub status: SpecStatus,
    pub last_run: Option<String>,
    pub session: Option<String>,
}

impl Default for ProjectState {
    fn default() -> Self {
        Self {
            version: VERSION,
            last_session: None,
            current_score: None,
            totals: Totals::default(),
            specs: BTreeMap::new(),
        }
    }
}

impl ProjectState {
    /// Loads `state.json`, or an empty state when there is none yet.
    pub fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        super::read_json(path, VERSION, |from, _| anyhow::bail!("no migration from version {from} exists"))
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        super::write_json(path, self)
    }
}
