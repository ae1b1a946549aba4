//! The append-only journal (`events.jsonl`) and transcript (`transcript.jsonl`) of a
//! session: one timestamped JSON object per line, appended with a single write so a crash
//! can at worst lose the line being written, never corrupt the ones before it. Lines are
//! small and go to the page cache, so appending from async code does not stall it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde::Serialize;

/// An append-only JSON Lines file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

#[derive(Serialize)]
struct Stamped<'a, T: Serialize> {
    ts: String,
    #[serde(flatten)]
    event: &'a T,
}

impl Journal {
    /// Opens `path` for appending, creating it (and its directory) if needed.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {} for appending", path.display()))?;
        Ok(Self { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    /// Appends `event` (an object) with a `ts` field added, as one line.
    pub fn append<T: Serialize>(&self, event: &T) -> anyhow::Result<()> {
        let mut line =
            serde_json::to_vec(&Stamped { ts: super::now(), event }).context("serialising a journal event")?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(&line).with_context(|| format!("appending to {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn events_are_appended_as_stamped_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/events.jsonl");
        let journal = Journal::open(&path).unwrap();
        journal.append(&json!({"type": "start"})).unwrap();
        drop(journal);
        Journal::open(&path).unwrap().append(&json!({"type": "stop", "n": 1})).unwrap();
        let lines: Vec<Value> =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0]["type"].as_str(), lines[1]["n"].as_u64()), (Some("start"), Some(1)));
        assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));
    }
}
