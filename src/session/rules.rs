//! The files that set the rules a session runs by, kept out of reach of the checks.
//!
//! The checks are the project's own commands, and after an edit they run code the model
//! wrote. Such code could rewrite what decides how mmm validates and commits: git's hooks
//! (which run during mmm's own commits), git's configuration, and mmm's project settings
//! (`.mmm/config.toml`, `.mmm/policy.toml`, `.mmm/workflows/`). A [`Rules`] takes a
//! [`RulesSnapshot`] of those files (their bytes, modes and link targets: a handful of
//! small files) before every run of the checks; after it, any difference is put back
//! exactly and reported, and the engine fails the iteration. The hooks as they were when
//! the session started are kept too, so a commit can run with exactly those.
//!
//! This module never decides what happens to an iteration (the engine does) and never
//! touches a file outside the paths it lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::git::Git;
use crate::settings::MMM_DIR;

/// The project settings files under `.mmm/` that set rules (the workflows directory is
/// listed whole).
const MMM_RULE_FILES: [&str; 3] = ["config.toml", "policy.toml", "workflows"];

/// Where the rule files of one work tree are.
#[derive(Debug, Clone)]
pub struct Rules {
    root: PathBuf,
    hooks: PathBuf,
    /// The files and directories watched, hooks first.
    watched: Vec<PathBuf>,
}

/// What one entry was: a file's bytes and mode, a symbolic link's target, or a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, mode: u32 },
    Link(PathBuf),
    Dir,
}

/// The rule files at one moment, by absolute path. Absent files have no entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesSnapshot {
    entries: BTreeMap<PathBuf, Entry>,
}

impl Rules {
    /// The rule files of `git`'s work tree: its hooks directory and configuration (where
    /// git says they are) and mmm's settings files.
    pub fn new(git: &Git) -> anyhow::Result<Self> {
        let hooks = git.git_path("hooks")?;
        let config = git.git_path("config")?;
        let mmm = git.root().join(MMM_DIR);
        let mut watched = vec![hooks.clone(), config];
        watched.extend(MMM_RULE_FILES.iter().map(|name| mmm.join(name)));
        Ok(Self { root: git.root().to_path_buf(), hooks, watched })
    }

    /// Every watched file as it is now.
    pub fn snapshot(&self) -> anyhow::Result<RulesSnapshot> {
        let mut snapshot = RulesSnapshot::default();
        for path in &self.watched {
            snapshot.add(path)?;
        }
        Ok(snapshot)
    }

    /// The hooks directory as it is now.
    pub fn hooks_snapshot(&self) -> anyhow::Result<RulesSnapshot> {
        let mut snapshot = RulesSnapshot::default();
        snapshot.add(&self.hooks)?;
        Ok(snapshot)
    }

    /// Compares the files with `before`: when something changed, puts `before` back
    /// exactly (changed and deleted files written again, new ones removed) and returns what
    /// changed, as [`Rules::show`] names it, sorted. Empty when nothing changed.
    pub fn put_back(&self, before: &RulesSnapshot) -> anyhow::Result<Vec<String>> {
        let now = self.snapshot()?;
        let changed = before.differences(&now);
        if !changed.is_empty() {
            before.restore(&now)?;
        }
        Ok(changed.iter().map(|p| self.show(p)).collect())
    }

    /// A directory holding the hooks of `start` (for `core.hooksPath`) when the hooks
    /// differ from them now, with the names of the hooks that differ; `None` when they are
    /// the same.
    pub fn hooks_as_at(&self, start: &RulesSnapshot) -> anyhow::Result<Option<(tempfile::TempDir, Vec<String>)>> {
        let now = self.hooks_snapshot()?;
        let changed = start.differences(&now);
        if changed.is_empty() {
            return Ok(None);
        }
        let dir = tempfile::tempdir().context("creating a directory for the session's hooks")?;
        let moved = RulesSnapshot {
            entries: start
                .entries
                .iter()
                .filter_map(|(path, entry)| {
                    let rel = path.strip_prefix(&self.hooks).ok()?;
                    Some((dir.path().join(rel), entry.clone()))
                })
                .collect(),
        };
        moved.restore(&RulesSnapshot::default())?;
        Ok(Some((dir, changed.iter().map(|p| self.show(p)).collect())))
    }

    /// `path` relative to the work tree (`.git/hooks/post-commit`) when it is inside it,
    /// else as it is.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().into_owned()
    }
}

impl RulesSnapshot {
    /// Adds `path` and, for a directory, everything under it.
    fn add(&mut self, path: &Path) -> anyhow::Result<()> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let entry = if meta.file_type().is_symlink() {
            Entry::Link(std::fs::read_link(path).with_context(|| format!("reading the link {}", path.display()))?)
        } else if meta.is_dir() {
            let mut children = Vec::new();
            for child in std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
                children.push(child.with_context(|| format!("listing {}", path.display()))?.path());
            }
            for child in children {
                self.add(&child)?;
            }
            Entry::Dir
        } else {
            let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Entry::File { bytes, mode: mode(&meta) & 0o7777 }
        };
        self.entries.insert(path.to_path_buf(), entry);
        Ok(())
    }

    /// The paths that differ between `self` and `now` (added, removed or changed), sorted.
    fn differences(&self, now: &RulesSnapshot) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|(path, entry)| now.entries.get(*path) != Some(entry))
            .map(|(path, _)| path.clone())
            .chain(now.entries.keys().filter(|path| !self.entries.contains_key(*path)).cloned())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Makes the files as `self` has them, given that they are as `now` has them: what is
    /// new is removed (deepest first), what changed or went is written again.
    fn restore(&self, now: &RulesSnapshot) -> anyhow::Result<()> {
        for (path, entry) in now.entries.iter().rev() {
            if self.entries.get(path) == Some(entry) {
                continue;
            }
            let removed = match entry {
                Entry::Dir if matches!(self.entries.get(path), Some(Entry::Dir)) => continue,
                Entry::Dir => std::fs::remove_dir_all(path),
                Entry::File { .. } | Entry::Link(_) => std::fs::remove_file(path),
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", path.display()));
                }
                _ => {}
            }
        }
        for (path, entry) in &self.entries {
            if now.entries.get(path) == Some(entry) {
                continue;
            }
            match entry {
                Entry::Dir => std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?,
                Entry::File { bytes, mode } => write_file(path, bytes, *mode)?,
                Entry::Link(target) => link(target, path)?,
            }
        }
        Ok(())
    }
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, mode)
}

#[cfg(unix)]
fn mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode()
}

#[cfg(not(unix))]
fn mode(meta: &std::fs::Metadata) -> u32 {
    u32::from(meta.permissions().readonly())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_readonly(mode == 1);
    std::fs::set_permissions(path, permissions)
        .with_context(|| format!("setting the permissions of {}", path.display()))
}

#[cfg(unix)]
fn link(target: &Path, path: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(target, path).with_context(|| format!("linking {}", path.display()))
}

#[cfg(not(unix))]
fn link(target: &Path, path: &Path) -> anyhow::Result<()> {
    anyhow::bail!("cannot restore the symbolic link {} to {}", path.display(), target.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Git) {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("git").arg("-C").arg(dir.path()).args(["init", "-q"]).status().unwrap();
        assert!(ok.success());
        let git = Git::open(dir.path()).unwrap();
        (dir, git)
    }

    #[cfg(unix)]
    #[test]
    fn changed_rule_files_are_named_and_put_back_exactly() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, git) = repo();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".mmm/workflows")).unwrap();
        std::fs::write(root.join(".mmm/config.toml"), "[validate]\ncommands = [\"make test\"]\n").unwrap();
        std::fs::write(root.join(".mmm/workflows/ci.yml"), "steps: []\n").unwrap();
        std::fs::write(root.join(".git/hooks/pre-commit"), "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(root.join(".git/hooks/pre-commit"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let rules = Rules::new(&git).unwrap();
        let before = rules.snapshot().unwrap();
        let config = std::fs::read(root.join(".git/config")).unwrap();

        assert_eq!(rules.put_back(&before).unwrap(), Vec::<String>::new());
        std::fs::write(root.join(".mmm/config.toml"), "[validate]\ncommands = [\"true\"]\n").unwrap();
        std::fs::write(root.join(".git/hooks/post-commit"), "#!/bin/sh\ntouch ran\n").unwrap();
        std::fs::create_dir_all(root.join(".git/hooks/post-commit.d")).unwrap();
        std::fs::write(root.join(".git/hooks/post-commit.d/more"), "x\n").unwrap();
        std::fs::set_permissions(root.join(".git/hooks/pre-commit"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n\thooksPath = /tmp/elsewhere\n").unwrap();
        std::fs::remove_file(root.join(".mmm/workflows/ci.yml")).unwrap();
        std::fs::write(root.join(".mmm/policy.toml"), "x = 1\n").unwrap();

        assert_eq!(
            rules.put_back(&before).unwrap(),
            [
                ".git/config",
                ".git/hooks/post-commit",
                ".git/hooks/post-commit.d",
                ".git/hooks/post-commit.d/more",
                ".git/hooks/pre-commit",
                ".mmm/config.toml",
                ".mmm/policy.toml",
                ".mmm/workflows/ci.yml",
            ]
        );
        assert_eq!(rules.snapshot().unwrap(), before);
        assert_eq!(std::fs::read(root.join(".git/config")).unwrap(), config);
        assert!(!root.join(".git/hooks/post-commit").exists() && !root.join(".mmm/policy.toml").exists());
        let mode = std::fs::metadata(root.join(".git/hooks/pre-commit")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(std::fs::read_to_string(root.join(".mmm/workflows/ci.yml")).unwrap(), "steps: []\n");
    }

    #[test]
    fn the_hooks_of_the_start_are_copied_only_when_they_changed() {
        let (dir, git) = repo();
        let root = dir.path();
        std::fs::write(root.join(".git/hooks/commit-msg"), "#!/bin/sh\n").unwrap();
        let rules = Rules::new(&git).unwrap();
        let start = rules.hooks_snapshot().unwrap();
        assert!(rules.hooks_as_at(&start).unwrap().is_none());
        std::fs::write(root.join(".git/hooks/post-commit"), "#!/bin/sh\ntouch ran\n").unwrap();
        let (copy, changed) = rules.hooks_as_at(&start).unwrap().unwrap();
        assert_eq!(changed, [".git/hooks/post-commit"]);
        assert_eq!(std::fs::read_to_string(copy.path().join("commit-msg")).unwrap(), "#!/bin/sh\n");
        assert!(!copy.path().join("post-commit").exists());
        assert!(root.join(".git/hooks/post-commit").exists(), "the hooks directory itself is left alone");
    }
}
