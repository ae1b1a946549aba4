//! A typed wrapper over the `git` command line.
//!
//! mmm shells out to `git` rather than linking a git library so that the user's own
//! configuration, hooks and worktrees apply. Every call names the repository explicitly
//! (`git -C <root>`), never goes through a shell, and returns git's stderr in the error.
//! This module never rewrites existing history and never force-pushes.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::error::CliError;

/// A repository, by its top-level directory.
#[derive(Debug, Clone)]
pub struct Git {
    root: PathBuf,
}

/// One line of `git status`: a path and its two-letter code (`??`, ` M`, `A `, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    pub code: String,
    pub path: String,
}

impl Git {
    /// The repository containing `dir`. Not being in one is a usage error with a hint.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .context("running git: is it installed and on PATH?")?;
        if !out.status.success() {
            return Err(CliError::usage(format!("{} is not inside a git repository", dir.display()))
                .with_hint("run `git init` (and commit your files) first, or use -C to point at a repository")
                .into());
        }
        let root = String::from_utf8(out.stdout).context("git printed a non-UTF-8 path")?;
        Ok(Self { root: PathBuf::from(root.trim_end_matches(['\n', '\r'])) })
    }

    /// The repository's top-level directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs git with `args` in the repository and returns its stdout.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .output()
            .with_context(|| format!("running git {}", args.join(" ")))?;
        if !out.status.success() {
            bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        String::from_utf8(out.stdout).with_context(|| format!("git {} printed non-UTF-8 output", args.join(" ")))
    }

    /// The commit HEAD points at, or `None` in a repository without commits.
    pub fn head(&self) -> anyhow::Result<Option<String>> {
        match self.run(&["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) {
            Ok(sha) => Ok(Some(sha.trim().to_string())),
            Err(_) => Ok(None),
        }
    }

    /// Uncommitted changes, untracked files included, ignored files not.
    pub fn status(&self) -> anyhow::Result<Vec<StatusEntry>> {
        let out = self.run(&["status", "--porcelain=v1", "-z", "--untracked-files=all"])?;
        let mut entries = Vec::new();
        let mut fields = out.split('\0').filter(|f| !f.is_empty());
        while let Some(field) = fields.next() {
            let (code, path) = field.split_at(field.len().min(3));
            let code = code.get(..2).unwrap_or(code).to_string();
            // A rename or copy is followed by its source path, which we skip.
            if code.starts_with('R') || code.starts_with('C') {
                fields.next();
            }
            entries.push(StatusEntry { code, path: path.to_string() });
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Git) {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            assert!(Command::new("git").arg("-C").arg(dir.path()).args(args).status().unwrap().success())
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["config", "user.name", "t"]);
        git(&["config", "user.email", "t@t.invalid"]);
        let g = Git::open(dir.path()).unwrap();
        (dir, g)
    }

    #[test]
    fn open_refuses_a_plain_directory_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let err = Git::open(dir.path()).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.exit(), crate::Exit::Usage);
        assert!(cli.hint().unwrap().starts_with("run `git init`"));
    }

    #[test]
    fn head_is_none_before_the_first_commit_and_status_lists_changes() {
        let (dir, g) = repo();
        assert_eq!(g.head().unwrap(), None);
        std::fs::write(dir.path().join("a b.txt"), "x").unwrap();
        assert_eq!(g.status().unwrap(), vec![StatusEntry { code: "??".into(), path: "a b.txt".into() }]);
        g.run(&["add", "-A"]).unwrap();
        g.run(&["commit", "-qm", "one"]).unwrap();
        assert_eq!(g.head().unwrap().map(|h| h.len()), Some(40));
        assert_eq!(g.status().unwrap(), vec![]);
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(Git::open(&dir.path().join("sub")).unwrap().root(), g.root());
    }
}
