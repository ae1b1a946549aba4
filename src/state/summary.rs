//! `.mmm/state.json`: the small summary of a project's sessions — the last session, the
//! current score and where each spec stands — read by `mmm status`, `mmm specs` and
//! `--resume`.
//!
//! Several sessions may end at the same instant (two worktrees, two processes), so the file
//! is only ever changed by [`ProjectState::update`], a read-modify-write under an exclusive
//! lock on `state.lock`: no update is lost. Totals are not stored at all: they are derived
//! from the session records ([`Totals::of`]), which are the truth, so a crash can never
//! leave them behind.
//!
//! The whole file is derived data: a `state.json` that cannot be read (truncated, garbage,
//! empty, wrong types) never blocks a session. [`ProjectState::repair`] keeps it aside as
//! `state.json.corrupt-<timestamp>` and rebuilds it from `sessions/*/session.json`.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::session::{SessionKind, SessionRecord, StopReason};
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
    /// `None` when a session's cost is unknown (its model had no price): then so is the sum.
    pub cost_usd: Option<f64>,
}

impl Totals {
    /// The totals of these sessions. One session of unknown cost makes the total cost
    /// unknown: it is never counted as $0.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a SessionRecord>) -> Self {
        let mut t = Totals { cost_usd: Some(0.0), ..Totals::default() };
        for r in records {
            t.sessions += 1;
            t.iterations += r.iterations.len() as u32;
            t.commits += r.commits().count() as u32;
            t.usage += r.usage;
            t.cost_usd = t.cost_usd.zip(r.cost_usd).map(|(sum, cost)| sum + cost);
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
    /// Untracked files and directories the checks created (`target`, `out/report.xml`),
    /// as git lists them: build output, not the user's work. They never block a session
    /// and are never committed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_outputs: Vec<String>,
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
            specs: BTreeMap::new(),
            check_outputs: Vec::new(),
        }
    }
}

/// How reading `state.json` went.
enum Read {
    Whole(ProjectState),
    /// The file cannot be read as a state; why.
    Corrupt(String),
}

impl ProjectState {
    /// Loads `state.json`, or an empty state when there is none yet. Version 1 kept running
    /// totals, which are now derived: they are dropped. A corrupt file is repaired first
    /// ([`ProjectState::repair`]; the command that runs has said so already, this is a
    /// fallback that only logs).
    pub fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        match Self::read(path)? {
            Read::Whole(state) => Ok(state),
            Read::Corrupt(_) => {
                if let Some(message) = Self::repair(path)? {
                    tracing::warn!("{message}");
                }
                Self::load_or_default(path)
            }
        }
    }

    fn read(path: &Path) -> anyhow::Result<Read> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Whole(Self::default())),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(e) => return Ok(Read::Corrupt(format!("it is not valid JSON: {e}"))),
        };
        if value.get("version").and_then(serde_json::Value::as_u64).is_none_or(|v| v < 1) {
            return Ok(Read::Corrupt("it has no format version".into()));
        }
        let read = super::read_json(path, VERSION, |from, mut value| match from {
            1 => {
                if let Some(map) = value.as_object_mut() {
                    map.remove("totals");
                    map.insert("version".into(), VERSION.into());
                }
                Ok(value)
            }
            _ => anyhow::bail!("no migration from version {from} exists"),
        });
        match read {
            Ok(state) => Ok(Read::Whole(state)),
            Err(e) => match e.root_cause().downcast_ref::<serde_json::Error>() {
                Some(json) => Ok(Read::Corrupt(format!("it does not have the expected fields: {json}"))),
                None => Err(e),
            },
        }
    }

    /// When `state.json` cannot be read, moves it aside to `state.json.corrupt-<timestamp>`
    /// and writes it again from the session records, under the update lock. Returns the
    /// warning to show, or `None` when the file was fine (or missing). A file written by a
    /// newer mmm is not corrupt: it is refused, as ever.
    pub fn repair(path: &Path) -> anyhow::Result<Option<String>> {
        if let Read::Whole(_) = Self::read(path)? {
            return Ok(None);
        }
        Self::locked(path, |path| match Self::read(path)? {
            Read::Whole(_) => Ok(None),
            Read::Corrupt(reason) => Self::rebuild(path, &reason).map(Some),
        })
    }

    fn rebuild(path: &Path, reason: &str) -> anyhow::Result<String> {
        let stamp = jiff::Zoned::now().strftime("%Y%m%d-%H%M%S").to_string();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state.json");
        let mut aside = path.with_file_name(format!("{name}.corrupt-{stamp}"));
        for n in 2.. {
            if !aside.exists() {
                break;
            }
            aside = path.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
        }
        std::fs::rename(path, &aside)
            .with_context(|| format!("moving {} aside to {}", path.display(), aside.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let (records, _) = SessionRecord::load_all(&dir.join("sessions"));
        let state = Self::from_records(&records);
        state.save(path)?;
        let shown = |p: &Path| {
            let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("{}/{file}", crate::settings::MMM_DIR)
        };
        let n = records.len();
        Ok(format!(
            "{} could not be read ({reason}); kept it as {} and rebuilt it from {n} session record{}",
            shown(path),
            shown(&aside),
            if n == 1 { "" } else { "s" }
        ))
    }

    /// The state the session records imply: the last session started, the last score
    /// reviewed, and each spec's last finished run.
    pub fn from_records(records: &[SessionRecord]) -> Self {
        let mut ordered: Vec<&SessionRecord> = records.iter().collect();
        ordered.sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
        let mut state = Self::default();
        for record in ordered {
            state.last_session = Some(record.id.clone());
            state.current_score = record.score_now().or(state.current_score);
            let (Some(spec), SessionKind::Spec) = (&record.spec, record.kind) else { continue };
            let status = match &record.stop_reason {
                None | Some(StopReason::Interrupted) => continue,
                Some(StopReason::Implemented { .. }) => SpecStatus::Done,
                Some(_) => SpecStatus::Failed,
            };
            let run = SpecState { status, last_run: record.ended_at.clone(), session: Some(record.id.clone()) };
            state.specs.insert(spec.id.clone(), run);
        }
        state
    }

    /// Changes `state.json` with `change`, under an exclusive lock held from the read to
    /// the rename of the new file, so concurrent sessions never lose each other's updates.
    pub fn update<R>(path: &Path, change: impl FnOnce(&mut ProjectState) -> R) -> anyhow::Result<R> {
        Self::locked(path, |path| {
            let mut state = match Self::read(path)? {
                Read::Whole(state) => state,
                Read::Corrupt(reason) => {
                    tracing::warn!("{}", Self::rebuild(path, &reason)?);
                    Self::load_or_default(path)?
                }
            };
            let result = change(&mut state);
            state.save(path)?;
            Ok(result)
        })
    }

    /// Runs `f` holding the exclusive lock on `state.lock`.
    fn locked<R>(path: &Path, f: impl FnOnce(&Path) -> anyhow::Result<R>) -> anyhow::Result<R> {
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
            f(path)
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
    fn a_corrupt_file_is_kept_aside_and_rebuilt_from_the_session_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for (content, reason) in [
            ("", "it is not valid JSON: EOF while parsing a value at line 1 column 0"),
            ("{\"version\": 2, \"last_sess", "it is not valid JSON: EOF while parsing a string at line 1 column 25"),
            ("[1, 2]", "it has no format version"),
            (
                "{\"version\": 2, \"last_session\": 7, \"current_score\": null}",
                "it does not have the expected fields: invalid type: integer `7`, expected a string",
            ),
        ] {
            std::fs::write(&path, content).unwrap();
            let message = ProjectState::repair(&path).unwrap().unwrap();
            let aside: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.starts_with("state.json.corrupt-"))
                .collect();
            assert_eq!(aside.len(), 1, "{aside:?}");
            assert_eq!(
                message,
                format!(
                    ".mmm/state.json could not be read ({reason}); kept it as .mmm/{} and rebuilt it from 0 session records",
                    aside[0]
                )
            );
            assert_eq!(std::fs::read_to_string(dir.path().join(&aside[0])).unwrap(), content);
            assert_eq!(ProjectState::load_or_default(&path).unwrap(), ProjectState::default());
            assert_eq!(ProjectState::repair(&path).unwrap(), None, "repaired once");
            std::fs::remove_file(dir.path().join(&aside[0])).unwrap();
        }
        std::fs::write(&path, r#"{"version": 9}"#).unwrap();
        assert!(ProjectState::repair(&path).unwrap_err().to_string().contains("written by a newer mmm"));
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
