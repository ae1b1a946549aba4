//! `.mmm/state.json`: the small summary of a project's sessions — the last session, the
//! current score and where each spec stands — read by `mmm status`, `mmm specs` and
//! `--resume`.
//!
//! Several sessions may end at the same instant (two worktrees, two processes), so the file
//! is only ever changed by [`ProjectState::update`], a read-modify-write under an exclusive
//! lock on `state.lock`: no update is lost. Totals are not stored at all: they are derived
//! from the session records ([`Totals::of`]), which are the truth, so a crash can never
//! leave them behind.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::session::SessionRecord;
use crate::llm::Usage;

/// The current format version of `state.json`.
pub const VERSION: u32 = 2;

/// Totals over every session of a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub sessions: u32,
    pub iterations: u32,
    pub commits: u32,
    pub usage: Usage,
    pub cost_usd: f64,
}

impl Totals {
    /// The totals of these sessions (sessions whose price is unknown add no cost).
    pub fn of<'a>(records: impl IntoIterator<Item = &'a SessionRecord>) -> Self {
        let mut t = Totals::default();
        for r in records {
            t.sessions += 1;
            t.iterations += r.iterations.len() as u32;
            t.commits += r.commits().count() as u32;
            t.usage += r.usage;
            t.cost_usd += r.cost_usd.unwrap_or(0.0);
        }
        t
    }
}

/// The summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectState {
    pub version: u32,
    pub last_session: Option<String>,
    pub current_score: Option<f64>,
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
        Self { version: VERSION, last_session: None, current_score: None, specs: BTreeMap::new() }
    }
}

impl ProjectState {
    /// Loads `state.json`, or an empty state when there is none yet. Version 1 kept running
    /// totals, which are now derived: they are dropped.
    pub fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        super::read_json(path, VERSION, |from, mut value| match from {
            1 => {
                if let Some(map) = value.as_object_mut() {
                    map.remove("totals");
                    map.insert("version".into(), VERSION.into());
                }
                Ok(value)
            }
            _ => anyhow::bail!("no migration from version {from} exists"),
        })
    }

    /// Changes `state.json` with `change`, under an exclusive lock held from the read to
    /// the rename of the new file, so concurrent sessions never lose each other's updates.
    pub fn update<R>(path: &Path, change: impl FnOnce(&mut ProjectState) -> R) -> anyhow::Result<R> {
        let lock_path = path.with_extension("lock");
        crate::blocking::call(|| -> anyhow::Result<R> {
            if let Some(dir) = lock_path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .with_context(|| format!("opening {}", lock_path.display()))?;
            lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
            let mut state = Self::load_or_default(path)?;
            let result = change(&mut state);
            state.save(path)?;
            Ok(result)
        })
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        super::write_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_updates_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..10 {
                        ProjectState::update(path, |st| {
                            st.specs.insert(format!("{t}-{i}"), SpecState::default());
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(ProjectState::load_or_default(&path).unwrap().specs.len(), 80);
    }

    #[test]
    fn version_one_loses_its_stored_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(
            &path,
            r#"{"version": 1, "last_session": "s1", "current_score": 7.0, "totals": {"sessions": 3}}"#,
        )
        .unwrap();
        assert_eq!(
            ProjectState::load_or_default(&path).unwrap(),
            ProjectState { last_session: Some("s1".into()), current_score: Some(7.0), ..ProjectState::default() }
        );
    }
}
