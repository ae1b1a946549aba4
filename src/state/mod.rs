//! mmm's files under `.mmm/`: where they live and how they are written and read.
//!
//! Every write goes to a temporary file in the same directory, is flushed to disk, and is
//! renamed over the target, so a crash at any instant leaves either the old file or the new
//! one, never a torn one. Journals are append-only. Every JSON file carries a `version`:
//! an older one is migrated on load, a newer one is refused with a message saying to
//! upgrade mmm. Nothing here ever writes a secret.

pub mod journal;
pub mod lock;
pub mod profile;
pub mod session;
pub mod summary;
pub mod workflow_run;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::CliError;

/// The layout of `.mmm/` in a project.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout for the project rooted at `root`.
    pub fn new(root: &Path) -> Self {
        Self { dir: root.join(crate::settings::MMM_DIR) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `.mmm/state.json`: the small summary of every session.
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `.mmm/sessions/`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.dir.join("sessions")
    }

    /// `.mmm/sessions/<id>/`.
    pub fn session_dir(&self, id: &str) -> PathBuf {
        self.sessions_dir().join(id)
    }

    /// `.mmm/lock`: held while a session runs in this work tree.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Makes sure `.mmm/.gitignore` keeps runtime files out of git, writing it if missing.
    /// Returns true when it was written.
    pub fn ensure_gitignore(&self) -> anyhow::Result<bool> {
        let path = self.dir.join(".gitignore");
        if path.exists() {
            return Ok(false);
        }
        write_atomic(&path, GITIGNORE.as_bytes())?;
        Ok(true)
    }
}

/// What `.mmm/.gitignore` holds: everything mmm writes at run time, and itself.
/// `config.toml` is meant to be committed.
pub const GITIGNORE: &str = "\
# mmm's runtime files; config.toml is meant to be committed. This file ignores itself,
# so mmm never leaves an untracked file behind (it writes it again when it is missing).
.gitignore
sessions/
cache/
worktrees/
parallel/
state.json
state.lock
lock
plugins/
*.tmp
";

/// Writes `bytes` to `path` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::blocking::call(|| write_atomic_now(path, bytes))
}

fn write_atomic_now(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".mmm-write-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Writes a versioned value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).context("serialising state")?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON file written by [`write_json`], checking its `version` against `current`:
/// a newer version is refused; an older one goes through `migrate` (which receives the
/// version found and returns the value in the current layout).
pub fn read_json<T: DeserializeOwned>(
    path: &Path,
    current: u32,
    migrate: impl FnOnce(u32, serde_json::Value) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0) as u32;
    if version > current {
        return Err(CliError::usage(format!(
            "{} was written by a newer mmm (format version {version}; this mmm reads up to {current})",
            path.display()
        ))
        .with_hint("upgrade mmm (`cargo install --locked --path .` in a fresh clone)")
        .into());
    }
    if version < current {
        value =
            migrate(version, value).with_context(|| format!("migrating {} from version {version}", path.display()))?;
    }
    serde_json::from_value(value).with_context(|| format!("{} does not have the expected fields", path.display()))
}

/// A timestamp for records: RFC 3339 in UTC, to the millisecond.
pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec!["state.json"]);
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Doc {
        version: u32,
        name: String,
    }

    #[test]
    fn versioned_json_round_trips_migrates_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_json(&path, &Doc { version: 2, name: "a".into() }).unwrap();
        let doc: Doc = read_json(&path, 2, |_, _| unreachable!("current version needs no migration")).unwrap();
        assert_eq!(doc.name, "a");

        std::fs::write(&path, r#"{"version": 1, "title": "old"}"#).unwrap();
        let doc: Doc = read_json(&path, 2, |from, v| {
            assert_eq!(from, 1);
            Ok(serde_json::json!({"version": 2, "name": v["title"]}))
        })
        .unwrap();
        assert_eq!(doc, Doc { version: 2, name: "old".into() });

        std::fs::write(&path, r#"{"version": 3, "name": "future"}"#).unwrap();
        let err = read_json::<Doc>(&path, 2, |_, v| Ok(v)).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert!(cli.to_string().ends_with("was written by a newer mmm (format version 3; this mmm reads up to 2)"));
    }
}
