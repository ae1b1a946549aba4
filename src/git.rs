//! A typed wrapper over the `git` command line.
//!
//! mmm shells out to `git` rather than linking a git library so that the user's own
//! configuration, hooks and worktrees apply. Every call names the repository explicitly
//! (`git -C <root>`), never goes through a shell, and returns git's stderr in the error.
//! This module never rewrites existing history and never force-pushes, and git (with the
//! hooks it runs) never sees mmm's credentials.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::blocking;
use crate::error::CliError;

/// The last `n` non-empty lines of `text`, joined by `; ` (for one-line error messages).
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("; ")
}

/// `git`, with mmm's credentials removed from its environment: hooks are the project's
/// code, and may be the model's.
fn git_command() -> Command {
    let mut command = Command::new("git");
    crate::exec::without_credentials(&mut command, &[]);
    command
}

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

/// The state of the repository at the start of an iteration, to roll back to exactly:
/// the commit and branch checked out, and the untracked (not ignored) files and directories
/// that existed then, which a roll back must keep. Serialisable, so a checkpoint on disk
/// can roll back an iteration that a crash cut off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The commit HEAD pointed at.
    pub head: String,
    /// The branch checked out, `None` when HEAD was detached.
    pub branch: Option<String>,
    untracked_files: BTreeSet<String>,
    /// Every directory that existed at or under an untracked (or empty) directory, relative
    /// to the root: a roll back never removes these. (Directories holding tracked files are
    /// never empty after the reset, so they need no record.)
    untracked_dirs: BTreeSet<PathBuf>,
}

/// Lines added and removed in one file between two commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub added: u64,
    pub removed: u64,
    /// Binary files have no line counts; they show as 0/0 with this flag set.
    pub binary: bool,
}

/// Clones `url` into the new directory `dir` (no submodules, no checkout of anything but
/// the default branch), checks out `rev` when given, and returns the commit checked out:
/// what `mmm workflow add` pins a community workflow to. A failure names the URL.
pub fn clone_at(url: &str, rev: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    if url.starts_with('-') || rev.is_some_and(|r| r.starts_with('-')) {
        bail!("refusing `{url}`: a URL or revision cannot start with `-`");
    }
    let out = blocking::call(|| {
        git_command().args(["clone", "--quiet", "--no-recurse-submodules", "--", url]).arg(dir).output()
    })
    .context("running git: is it installed and on PATH?")?;
    if !out.status.success() {
        return Err(CliError::failure(format!(
            "git could not clone {url}: {}",
            last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        ))
        .with_hint("check the URL (and your access to it); a local directory can be given as a path")
        .into());
    }
    let repo = Git { root: dir.to_path_buf() };
    if let Some(rev) = rev {
        let out = repo.output(&["checkout", "--quiet", "--detach", rev])?;
        if !out.status.success() {
            return Err(CliError::usage(format!("{url} has no revision `{rev}`"))
                .with_hint("give --rev a commit, tag or branch of that repository")
                .into());
        }
    }
    repo.head()?.context("the cloned repository has no commit")
}

impl Git {
    /// The repository containing `dir`. Not being in one is a usage error with a hint.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let out = blocking::call(|| git_command().arg("-C").arg(dir).args(["rev-parse", "--show-toplevel"]).output())
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
        let out = self.output(args)?;
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

    /// True when there is nothing to commit: no change, no untracked file (ignored files
    /// do not count).
    pub fn is_clean(&self) -> anyhow::Result<bool> {
        Ok(self.status()?.is_empty())
    }

    /// The branch checked out, or `None` when HEAD is detached.
    pub fn current_branch(&self) -> anyhow::Result<Option<String>> {
        let out = self.output(&["symbolic-ref", "--quiet", "--short", "HEAD"])?;
        match out.status.code() {
            Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_string())),
            // --quiet: exit 1 without a message means HEAD is detached.
            Some(1) if out.stderr.is_empty() => Ok(None),
            _ => bail!("git symbolic-ref HEAD failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        }
    }

    /// The commit HEAD points at and the branch checked out (`None` when detached), read
    /// by one git process. An error when HEAD points at no commit.
    pub fn head_and_branch(&self) -> anyhow::Result<(String, Option<String>)> {
        let out = self
            .run(&["rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD"])
            .context("the repository has no commit yet; commit something first")?;
        let mut lines = out.lines();
        let (Some(head), Some(name)) = (lines.next(), lines.next()) else {
            bail!("unexpected output of git rev-parse HEAD: {out:?}");
        };
        let branch = match name {
            "HEAD" => None,
            full => Some(full.strip_prefix("refs/heads/").unwrap_or(full).to_string()),
        };
        Ok((head.to_string(), branch))
    }

    /// Creates branch `name` at HEAD and checks it out. An existing branch is never reused
    /// or moved: that is an error.
    pub fn create_branch_and_switch(&self, name: &str) -> anyhow::Result<()> {
        if !self.output(&["check-ref-format", "--branch", name])?.status.success() {
            return Err(CliError::usage(format!("`{name}` is not a valid branch name"))
                .with_hint("branch names cannot contain spaces, `..`, `~`, `^`, `:` or start with `-`")
                .into());
        }
        let full = format!("refs/heads/{name}");
        if self.output(&["show-ref", "--verify", "--quiet", &full])?.status.success() {
            return Err(CliError::usage(format!("branch `{name}` already exists"))
                .with_hint("choose another branch name, or delete the old branch if you no longer need it")
                .into());
        }
        self.run(&["switch", "--quiet", "--create", name])?;
        Ok(())
    }

    /// Stages every change (untracked files included, ignored ones not) except the paths in
    /// `keep_out` (files or directories, relative to the root: mmm's own `.mmm/`, secret
    /// files), and commits it with `message` (subject, body and trailers as given),
    /// returning the new commit. The user's identity, configuration and hooks apply; a hook
    /// that rejects the commit is an error. Nothing to commit is an error too.
    pub fn add_all_and_commit(&self, message: &str, keep_out: &[&str]) -> anyhow::Result<String> {
        let excludes: Vec<String> = keep_out.iter().map(|p| format!(":(exclude,literal){p}")).collect();
        let mut args = vec!["add", "--all", "--", "."];
        args.extend(excludes.iter().map(String::as_str));
        self.run(&args)?;
        self.commit_staged(message)
    }

    /// Whether any of `paths` (relative to the root) differs from HEAD: modified, deleted,
    /// or new and not ignored.
    pub fn paths_changed(&self, paths: &[String]) -> anyhow::Result<bool> {
        if paths.is_empty() {
            return Ok(false);
        }
        let literal: Vec<String> = paths.iter().map(|p| format!(":(literal){p}")).collect();
        let mut args = vec!["status", "--porcelain=v1", "--untracked-files=all", "--"];
        args.extend(literal.iter().map(String::as_str));
        Ok(!self.run(&args)?.trim().is_empty())
    }

    /// Stages exactly `paths` (new, modified or deleted) and commits them, as
    /// [`Git::add_all_and_commit`] does; anything else in the tree (build output the checks
    /// left, say) stays out of the commit.
    pub fn commit_paths(&self, message: &str, paths: &[String]) -> anyhow::Result<String> {
        self.commit_paths_with_hooks(message, paths, None)
    }

    /// [`Git::commit_paths`], with the hooks of `hooks` (a directory, as
    /// `core.hooksPath`) instead of the repository's when given: a session commits with the
    /// hooks it started with, never with ones that appeared while it ran.
    pub fn commit_paths_with_hooks(
        &self,
        message: &str,
        paths: &[String],
        hooks: Option<&Path>,
    ) -> anyhow::Result<String> {
        let literal: Vec<String> = paths.iter().map(|p| format!(":(literal){p}")).collect();
        let mut args = vec!["add", "--all", "--"];
        args.extend(literal.iter().map(String::as_str));
        self.run(&args)?;
        self.commit_staged_with(message, hooks)
    }

    /// Commits what is staged; nothing staged is an error.
    fn commit_staged(&self, message: &str) -> anyhow::Result<String> {
        self.commit_staged_with(message, None)
    }

    fn commit_staged_with(&self, message: &str, hooks: Option<&Path>) -> anyhow::Result<String> {
        self.commit_staged_only(message, hooks)?;
        self.head()?.context("HEAD does not point at a commit after committing")
    }

    /// Commits what is staged (nothing staged is an error), with the hooks of `hooks` when
    /// given, and without git's automatic maintenance (`gc --auto`, `maintenance run
    /// --auto`): a session commits often, and housekeeping is the user's to schedule.
    fn commit_staged_only(&self, message: &str, hooks: Option<&Path>) -> anyhow::Result<()> {
        let hooks_path = hooks.map(|dir| format!("core.hooksPath={}", dir.display()));
        let mut args = vec!["-c", "gc.auto=0", "-c", "maintenance.auto=false"];
        if let Some(setting) = &hooks_path {
            args.extend(["-c", setting.as_str()]);
        }
        args.extend(["commit", "--quiet", "--message", message]);
        let out = self.output(&args)?;
        if !out.status.success() {
            // Asked only when the commit failed: was there anything to commit at all?
            if self.output(&["diff", "--cached", "--quiet"])?.status.success() {
                bail!("nothing to commit: the work tree has no changes");
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            let err = if stderr.contains("Please tell me who you are") || stderr.contains("identity unknown") {
                CliError::failure(format!("git commit failed: {stderr}"))
                    .with_hint("set your identity with `git config --global user.name \"Your Name\"` and `git config --global user.email you@example.com`")
            } else {
                CliError::failure(format!("git commit failed: {stderr}"))
                    .with_hint("a commit hook or your git configuration rejected the commit; see the message above")
            };
            return Err(err.into());
        }
        Ok(())
    }

    /// [`Git::commit_paths_with_hooks`] on top of commit `parent` (HEAD at the iteration's
    /// start), returning the new commit and its lines added and removed per file since
    /// `parent`, read together with the commit by one git process. When git committed on
    /// top of another commit (something moved HEAD meanwhile), the counts are taken from
    /// `parent` all the same.
    pub fn commit_paths_counted(
        &self,
        message: &str,
        paths: &[String],
        hooks: Option<&Path>,
        parent: &str,
    ) -> anyhow::Result<(String, Vec<FileChange>)> {
        let literal: Vec<String> = paths.iter().map(|p| format!(":(literal){p}")).collect();
        let mut args = vec!["add", "--all", "--"];
        args.extend(literal.iter().map(String::as_str));
        self.run(&args)?;
        self.commit_staged_only(message, hooks)?;
        let out = self.run(&[
            "-c",
            "log.showSignature=false",
            "log",
            "-1",
            "-z",
            "--no-renames",
            "--numstat",
            "--format=%H%x00%P",
            "HEAD",
            "--",
        ])?;
        let mut fields = out.splitn(3, '\0');
        let (Some(sha), Some(parents)) = (fields.next(), fields.next()) else {
            bail!("unexpected output of git log after committing: {out:?}");
        };
        if parents != parent {
            return Ok((sha.to_string(), self.diff_numstat(parent, sha)?));
        }
        let numstat = fields.next().unwrap_or_default().trim_start_matches('\n');
        Ok((sha.to_string(), parse_numstat(numstat)?))
    }

    /// Why git would refuse a commit now, if it would: no identity to commit with, or a
    /// `pre-commit` or `commit-msg` hook that fails. The hooks run as for a commit of
    /// nothing new (a temporary index read from HEAD, a throwaway message file), so no
    /// commit, ref or index change is left behind. `None` when a commit can be made.
    pub fn commit_refusal(&self) -> anyhow::Result<Option<String>> {
        for var in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
            let out = self.output(&["var", var])?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Ok(Some(format!("git has no identity to commit with: {}", last_lines(&stderr, 5))));
            }
        }
        if self.head()?.is_none() {
            return Ok(None);
        }
        let dir = tempfile::tempdir().context("creating a temporary directory for the hook check")?;
        let index = dir.path().join("index");
        let message = dir.path().join("COMMIT_EDITMSG");
        std::fs::write(&message, "mmm: preflight\n").context("writing the hook check's message")?;
        let env = [("GIT_INDEX_FILE", index.as_path())];
        let read = self.output_with(&["read-tree", "HEAD"], &env)?;
        if !read.status.success() {
            bail!("git read-tree HEAD failed: {}", String::from_utf8_lossy(&read.stderr).trim());
        }
        let message_arg = message.to_string_lossy();
        for (hook, args) in [("pre-commit", vec![]), ("commit-msg", vec!["--", message_arg.as_ref()])] {
            let mut run = vec!["hook", "run", "--ignore-missing", hook];
            run.extend(args);
            let out = self.output_with(&run, &env)?;
            if !out.status.success() {
                let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                return Ok(Some(format!("the {hook} hook rejects commits: {}", last_lines(&said, 5))));
            }
        }
        Ok(None)
    }

    /// For `--allow-dirty`: commits the user's uncommitted changes as a commit of their own,
    /// so nothing of theirs is mixed into mmm's commits or lost. `None` when the tree was
    /// already clean.
    pub fn snapshot_dirty(&self, message: &str, keep_out: &[&str]) -> anyhow::Result<Option<String>> {
        let changed = self.status()?;
        let kept_out = |path: &str| keep_out.iter().any(|k| path == *k || path.starts_with(&format!("{k}/")));
        if changed.iter().all(|e| kept_out(&e.path)) {
            return Ok(None);
        }
        self.add_all_and_commit(message, keep_out).map(Some)
    }

    /// Checks out an existing branch (`git switch`); uncommitted changes make it fail.
    pub fn switch(&self, branch: &str) -> anyhow::Result<()> {
        if branch.starts_with('-') {
            bail!("refusing to switch to `{branch}`: not a branch name");
        }
        self.run(&["switch", "--quiet", branch]).map(drop)
    }

    /// Where git keeps `name` (`hooks`, `config`) for this work tree, as `git rev-parse
    /// --git-path` says: `core.hooksPath` and a linked work tree's common directory apply.
    pub fn git_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let out = self.run(&["rev-parse", "--git-path", name])?;
        let path = PathBuf::from(out.trim_end_matches(['\n', '\r']));
        Ok(if path.is_absolute() { path } else { self.root.join(path) })
    }

    /// The submodules (gitlinks, mode 160000 in the index), relative to the root.
    pub fn submodules(&self) -> anyhow::Result<Vec<String>> {
        let out = self.run(&["ls-files", "--stage", "-z"])?;
        Ok(out
            .split('\0')
            .filter_map(|entry| entry.strip_prefix("160000 "))
            .filter_map(|rest| rest.split_once('\t').map(|(_, path)| path.to_string()))
            .collect())
    }

    /// How `path` (relative to the root) stands against HEAD: `None` when it is committed
    /// and unchanged (or ignored, or absent from both), else git's two-letter status code
    /// (` M`, `??`, ` D`, ...).
    pub fn path_status(&self, path: &str) -> anyhow::Result<Option<String>> {
        let literal = format!(":(literal){path}");
        let out = self.run(&["status", "--porcelain=v1", "--untracked-files=all", "--", &literal])?;
        Ok(out.lines().next().and_then(|line| line.get(..2)).map(str::to_string))
    }

    /// Records what [`Git::roll_back_to`] restores. Taken at the start of an iteration, on a
    /// clean tree with at least one commit.
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let (head, branch) = self.head_and_branch()?;
        let (untracked_files, untracked_dirs) = self.untracked_at_start()?;
        Ok(Snapshot { head, branch, untracked_files, untracked_dirs })
    }

    /// Puts the work tree back exactly as it was at `start`: tracked files and the index
    /// restored to its commit, files created since removed, with the directories that held
    /// only them. Untracked files that existed at `start` and ignored files are kept.
    ///
    /// Only the current branch can move, and only back to `start.head` along its own
    /// history (dropping commits made after the snapshot); if the branch changed or HEAD no
    /// longer descends from `start.head`, nothing is touched and it is an error.
    pub fn roll_back_to(&self, start: &Snapshot) -> anyhow::Result<()> {
        let (head, branch) = self.head_and_branch().context("HEAD does not point at a commit")?;
        if branch != start.branch {
            bail!(
                "refusing to roll back: the checked-out branch changed from {} to {} during the iteration",
                start.branch.as_deref().unwrap_or("(detached HEAD)"),
                branch.as_deref().unwrap_or("(detached HEAD)")
            );
        }
        if head != start.head && !self.output(&["merge-base", "--is-ancestor", &start.head, &head])?.status.success() {
            bail!(
                "refusing to roll back: HEAD ({head}) no longer descends from the iteration's start ({})",
                start.head
            );
        }
        self.run(&["reset", "--quiet", "--hard", &start.head])?;
        for created in self.untracked(false)?.difference(&start.untracked_files) {
            let path = self.root.join(created.trim_end_matches('/'));
            let removed = if created.ends_with('/') {
                // A nested repository shows as one entry; it was created whole.
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.with_context(|| format!("removing {} created during the iteration", path.display()))?;
            self.prune_empty_parents(created.trim_end_matches('/'), start)?;
        }
        Ok(())
    }

    /// The bytes of the file `path` (relative to the root) in `commit`, or `None` when no
    /// file is there.
    pub fn file_at(&self, commit: &str, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let out = self.output(&["cat-file", "blob", &format!("{commit}:{path}")])?;
        Ok(out.status.success().then_some(out.stdout))
    }

    /// Lines added and removed per file between two commits (renames as delete + add).
    pub fn diff_numstat(&self, from: &str, to: &str) -> anyhow::Result<Vec<FileChange>> {
        let out = self.run(&["diff", "--numstat", "-z", "--no-renames", from, to, "--"])?;
        parse_numstat(&out)
    }

    /// Pushes `branch` to the branch of the same name on `remote`. Never forces: a remote
    /// that has moved on rejects the push, and that is an error.
    pub fn push(&self, remote: &str, branch: &str) -> anyhow::Result<()> {
        if remote.starts_with('-') || branch.starts_with('-') {
            bail!("refusing to push: remote `{remote}` and branch `{branch}` must not start with `-`");
        }
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        let out = self.unattended(&["push", "--quiet", remote, &refspec])?;
        if !out.status.success() {
            bail!("git push {remote} {branch} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Runs git for a remote, unattended: a remote that wants a password fails instead of
    /// waiting for one.
    fn unattended(&self, args: &[&str]) -> anyhow::Result<Output> {
        blocking::call(|| {
            git_command()
                .arg("-C")
                .arg(&self.root)
                .args(args)
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(std::process::Stdio::null())
                .output()
        })
        .with_context(|| format!("running git {}", args.first().copied().unwrap_or_default()))
    }

    /// Untracked, not ignored paths relative to the root (`/`-separated); with
    /// `directories`, a directory holding only such paths (or nothing) is one `dir/` entry.
    /// Untracked (not ignored) files and directories as git lists them, a wholly untracked
    /// directory as one entry (`target`, without its slash).
    pub fn untracked_entries(&self) -> anyhow::Result<BTreeSet<String>> {
        Ok(self.untracked(true)?.into_iter().map(|p| p.strip_suffix('/').map(str::to_string).unwrap_or(p)).collect())
    }

    fn untracked(&self, directories: bool) -> anyhow::Result<BTreeSet<String>> {
        let mut args = vec!["ls-files", "--others", "--exclude-standard", "-z"];
        if directories {
            args.push("--directory");
        }
        Ok(self.run(&args)?.split('\0').filter(|p| !p.is_empty()).map(str::to_string).collect())
    }

    /// What a roll back must keep, from one listing (`ls-files --others --directory`): the
    /// untracked files, and every directory at and under each untracked directory git
    /// lists (`dir/`, empty ones included), whose files are read from the disk. On the
    /// clean tree an iteration starts from these are few, so the walk is small. A nested
    /// repository is recorded as one `dir/` entry (as git lists it), not entered. Files
    /// under an untracked directory that git ignores are recorded too: they existed, so a
    /// roll back keeps them either way.
    fn untracked_at_start(&self) -> anyhow::Result<(BTreeSet<String>, BTreeSet<PathBuf>)> {
        let mut files = BTreeSet::new();
        let mut dirs = BTreeSet::new();
        let mut stack = Vec::new();
        for entry in self.untracked(true)? {
            match entry.strip_suffix('/') {
                Some(dir) => stack.push(dir.to_string()),
                None => {
                    files.insert(entry);
                }
            }
        }
        while let Some(rel) = stack.pop() {
            let path = self.root.join(&rel);
            if path.join(".git").exists() {
                files.insert(format!("{rel}/"));
            } else {
                let entries = std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?;
                for entry in entries {
                    let entry = entry.with_context(|| format!("listing {}", path.display()))?;
                    let name = entry.file_name();
                    let name =
                        name.to_str().with_context(|| format!("a file name in {} is not UTF-8", path.display()))?;
                    let child = format!("{rel}/{name}");
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(child);
                    } else {
                        files.insert(child);
                    }
                }
            }
            dirs.insert(PathBuf::from(rel));
        }
        Ok((files, dirs))
    }

    /// Removes the directories above `relative` that are empty now and did not exist at
    /// `start`, up to the first that is not empty, existed, or is the root.
    fn prune_empty_parents(&self, relative: &str, start: &Snapshot) -> anyhow::Result<()> {
        let mut dir = Path::new(relative).parent();
        while let Some(rel) = dir.filter(|d| !d.as_os_str().is_empty()) {
            let path = self.root.join(rel);
            let empty = std::fs::read_dir(&path).map(|mut entries| entries.next().is_none()).unwrap_or(false);
            if start.untracked_dirs.contains(rel) || !empty {
                break;
            }
            std::fs::remove_dir(&path).with_context(|| format!("removing empty directory {}", path.display()))?;
            dir = rel.parent();
        }
        Ok(())
    }

    /// Runs git with `args` and returns its raw output, whatever its exit status.
    fn output(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.output_with(args, &[])
    }

    fn output_with(&self, args: &[&str], env: &[(&str, &Path)]) -> anyhow::Result<Output> {
        blocking::call(|| {
            let mut command = git_command();
            command.arg("-C").arg(&self.root).args(args);
            for (key, value) in env {
                command.env(key, value);
            }
            command.output()
        })
        .with_context(|| format!("running git {}", args.join(" ")))
    }

    /// Keeps work in progress reachable: a commit on `head` (the iteration's start, which
    /// the caller knows) of its tree with `paths` (relative to the root) as they are now,
    /// under `refname` (`refs/mmm/wip/<session>`), so garbage
    /// collection never prunes it. The index, HEAD and the work tree are not touched (a
    /// temporary index is used). Returns the commit.
    pub fn save_wip(&self, refname: &str, head: &str, paths: &[String], message: &str) -> anyhow::Result<String> {
        let index = tempfile::NamedTempFile::new().context("creating a temporary index")?;
        let tree = self.tree_with(index.path(), head, paths)?;
        let commit = self.run_on_index(index.path(), &["commit-tree", &tree, "-p", head, "-m", message])?;
        self.run(&["update-ref", refname, &commit])?;
        Ok(commit)
    }

    /// Lines added and removed per file from commit `from` to `paths` (relative to the
    /// root) as they are in the work tree now, new and deleted files included. Nothing is
    /// touched: a temporary index is used.
    pub fn changes_since(&self, from: &str, paths: &[String]) -> anyhow::Result<Vec<FileChange>> {
        let index = tempfile::NamedTempFile::new().context("creating a temporary index")?;
        let tree = self.tree_with(index.path(), from, paths)?;
        self.diff_numstat(from, &tree)
    }

    /// The tree of commit `base` with `paths` as they are in the work tree, written
    /// through the (temporary) index file `index`.
    fn tree_with(&self, index: &Path, base: &str, paths: &[String]) -> anyhow::Result<String> {
        self.run_on_index(index, &["read-tree", base])?;
        if !paths.is_empty() {
            let literal: Vec<String> = paths.iter().map(|p| format!(":(literal){p}")).collect();
            let mut args = vec!["add", "--all", "--"];
            args.extend(literal.iter().map(String::as_str));
            self.run_on_index(index, &args)?;
        }
        self.run_on_index(index, &["write-tree"])
    }

    /// Runs git with `index` as its index file; its trimmed output.
    fn run_on_index(&self, index: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = self.output_with(args, &[("GIT_INDEX_FILE", index)])?;
        if !out.status.success() {
            bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Deletes a ref of mmm's own (`refs/mmm/...`); one that does not exist is no error.
    pub fn delete_ref(&self, refname: &str) -> anyhow::Result<()> {
        if !refname.starts_with("refs/mmm/") {
            bail!("refusing to delete `{refname}`: mmm deletes only its own refs");
        }
        let out = self.output(&["update-ref", "-d", refname])?;
        if !out.status.success() && self.output(&["rev-parse", "--verify", "--quiet", refname])?.status.success() {
            bail!("git update-ref -d {refname} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Whether the local branch `name` exists.
    pub fn branch_exists(&self, name: &str) -> anyhow::Result<bool> {
        let full = format!("refs/heads/{name}");
        Ok(self.output(&["show-ref", "--verify", "--quiet", &full])?.status.success())
    }

    /// The commit a local branch points at.
    pub fn branch_head(&self, name: &str) -> anyhow::Result<String> {
        let full = format!("refs/heads/{name}^{{commit}}");
        Ok(self.run(&["rev-parse", "--verify", "--quiet", &full])?.trim().to_string())
    }

    /// Every ref under `prefix` (`refs/heads/mmm/`), as full ref names, sorted.
    pub fn refs_under(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let out = self.run(&["for-each-ref", "--format=%(refname)", prefix])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The local branches (`refs/heads/...`) and remote-tracking refs (`refs/remotes/...`)
    /// whose history contains `commit`, as full ref names.
    pub fn refs_containing(&self, commit: &str) -> anyhow::Result<Vec<String>> {
        let out =
            self.run(&["for-each-ref", "--format=%(refname)", "--contains", commit, "refs/heads", "refs/remotes"])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Whether `ancestor` is in the history of `commit`.
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> anyhow::Result<bool> {
        Ok(self.output(&["merge-base", "--is-ancestor", ancestor, commit])?.status.success())
    }

    /// The commits only the local branch `name` holds: reachable from it but from no other
    /// local branch and no remote-tracking ref, newest first.
    pub fn commits_only_on(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let full = format!("refs/heads/{name}");
        let exclude = format!("--exclude={name}");
        let out = self.run(&["rev-list", &full, "--not", &exclude, "--branches", "--remotes"])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The branches checked out in any work tree of the repository (this one included).
    pub fn checked_out_branches(&self) -> anyhow::Result<BTreeSet<String>> {
        let out = self.run(&["worktree", "list", "--porcelain"])?;
        Ok(out.lines().filter_map(|l| l.strip_prefix("branch refs/heads/")).map(str::to_string).collect())
    }

    /// Deletes a local branch of mmm's own (`mmm/...`), merged or not. Only names under
    /// `mmm/` are accepted: a user's branch is never deleted. The caller decides whether
    /// the branch's commits may go; git refuses a branch checked out in a work tree.
    pub fn delete_branch(&self, name: &str) -> anyhow::Result<()> {
        if !name.starts_with("mmm/") {
            bail!("refusing to delete branch `{name}`: mmm deletes only its own mmm/... branches");
        }
        self.run(&["branch", "--quiet", "-D", name]).map(drop)
    }

    /// The stale work trees `git worktree prune` would remove (their directories are gone),
    /// as git describes them: `worktrees/<name>: <reason>`. With `apply`, removes them.
    pub fn prune_worktrees(&self, apply: bool) -> anyhow::Result<Vec<String>> {
        let out = self.output(&["worktree", "prune", "--dry-run", "--verbose"])?;
        if !out.status.success() {
            bail!("git worktree prune --dry-run failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let stale: Vec<String> =
            text.lines().filter_map(|l| l.strip_prefix("Removing ")).map(|l| l.trim().to_string()).collect();
        if apply && !stale.is_empty() {
            self.run(&["worktree", "prune"])?;
        }
        Ok(stale)
    }

    /// Adds a work tree at `path` with HEAD detached at `commit` (`git worktree add
    /// --detach`): nothing of the work tree this `Git` opens changes.
    pub fn add_worktree_detached(&self, path: &Path, commit: &str) -> anyhow::Result<Git> {
        let target = path.to_str().context("a work tree path that is not UTF-8")?;
        self.run(&["worktree", "add", "--quiet", "--detach", target, commit])?;
        Git::open(path)
    }

    /// Adds a work tree at `path` with the existing local branch `branch` checked out.
    pub fn add_worktree_on(&self, path: &Path, branch: &str) -> anyhow::Result<Git> {
        let target = path.to_str().context("a work tree path that is not UTF-8")?;
        self.run(&["worktree", "add", "--quiet", target, branch])?;
        Git::open(path)
    }

    /// Removes the work tree at `path` (`--force`: what it holds uncommitted goes; its
    /// branch and commits stay), then prunes git's record of it.
    pub fn remove_worktree(&self, path: &Path) -> anyhow::Result<()> {
        let target = path.to_str().context("a work tree path that is not UTF-8")?;
        let out = self.output(&["worktree", "remove", "--force", "--force", target])?;
        if !out.status.success() {
            // Not a registered work tree (any more): remove what is left on disk.
            if path.exists() {
                blocking::call(|| std::fs::remove_dir_all(path))
                    .with_context(|| format!("removing {}", path.display()))?;
            }
            self.run(&["worktree", "prune"])?;
        }
        Ok(())
    }

    /// Merges `theirs` into the commit `ours` without touching any work tree or index
    /// (`git merge-tree --write-tree`): `Ok(tree)` when it merges cleanly, `Err(files)`
    /// with the conflicting files when it does not.
    pub fn merge_tree(&self, ours: &str, theirs: &str) -> anyhow::Result<Result<String, Vec<String>>> {
        let out = self.output(&["merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        match out.status.code() {
            Some(0) => Ok(Ok(lines.next().unwrap_or_default().to_string())),
            Some(1) => {
                let files: BTreeSet<String> = lines.skip(1).filter(|l| !l.is_empty()).map(str::to_string).collect();
                Ok(Err(files.into_iter().collect()))
            }
            _ => bail!("git merge-tree {ours} {theirs} failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        }
    }

    /// A commit of `tree` with `parents` and `message` (`git commit-tree`); nothing else
    /// changes. The user's identity applies.
    pub fn commit_tree(&self, tree: &str, parents: &[&str], message: &str) -> anyhow::Result<String> {
        let mut args = vec!["commit-tree", tree];
        for parent in parents {
            args.extend(["-p", parent]);
        }
        args.extend(["-m", message]);
        Ok(self.run(&args)?.trim().to_string())
    }

    /// Points `refname` at `new`, only if it still points at `old` (`None`: only if it does
    /// not exist yet), so a ref that moved meanwhile is never overwritten.
    pub fn update_ref(&self, refname: &str, new: &str, old: Option<&str>) -> anyhow::Result<()> {
        let zero = "0".repeat(40);
        self.run(&["update-ref", refname, new, old.unwrap_or(&zero)]).map(drop)
    }

    /// Fetches every branch of `remote` into `refs/remotes/<remote>/` (never forced over a
    /// local branch; remote-tracking refs are git's own to move).
    pub fn fetch(&self, remote: &str) -> anyhow::Result<()> {
        if remote.starts_with('-') {
            bail!("refusing to fetch: remote `{remote}` must not start with `-`");
        }
        let out = self.unattended(&["fetch", "--quiet", "--prune", remote])?;
        if !out.status.success() {
            bail!("git fetch {remote} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// The refs under `prefix` whose name after it matches the glob `pattern`
    /// (`git for-each-ref` globbing: `*` stays within one path part), as full names, sorted.
    pub fn refs_matching(&self, prefix: &str, pattern: &str) -> anyhow::Result<Vec<String>> {
        let full = format!("{prefix}{pattern}");
        let out = self.run(&["for-each-ref", "--format=%(refname)", &full])?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The commit `rev` names.
    pub fn commit_of(&self, rev: &str) -> anyhow::Result<String> {
        let spec = format!("{rev}^{{commit}}");
        Ok(self
            .run(&["rev-parse", "--verify", "--quiet", &spec])
            .with_context(|| format!("no commit `{rev}`"))?
            .trim()
            .to_string())
    }

    /// Whether reverting `commits` (in the order given) on top of HEAD would go through
    /// without a conflict, computed with `git merge-tree` so that nothing is touched: `None`
    /// when every revert applies, else the commit whose revert conflicts and the files.
    pub fn revert_conflict(&self, commits: &[String]) -> anyhow::Result<Option<(String, Vec<String>)>> {
        let mut tree = self.run(&["rev-parse", "--verify", "HEAD^{tree}"])?.trim().to_string();
        for commit in commits {
            let parent = self.parent(commit)?.with_context(|| format!("{commit} has no parent to revert to"))?;
            let base = format!("--merge-base={commit}");
            let out =
                self.output(&["merge-tree", "--write-tree", "--name-only", "--no-messages", &base, &tree, &parent])?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut lines = text.lines();
            match out.status.code() {
                Some(0) => tree = lines.next().unwrap_or_default().to_string(),
                Some(1) => {
                    let files: BTreeSet<String> = lines.skip(1).filter(|l| !l.is_empty()).map(str::to_string).collect();
                    return Ok(Some((commit.clone(), files.into_iter().collect())));
                }
                _ => bail!("git merge-tree failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            }
        }
        Ok(None)
    }

    /// Reverts `commit` with a new commit on the current branch (`git revert --no-edit`)
    /// and returns the new commit. History is only added to. If git stops (a conflict, a
    /// hook), the revert is aborted, leaving HEAD, the index and the tree as they were.
    pub fn revert(&self, commit: &str) -> anyhow::Result<String> {
        let out = self.output(&["revert", "--no-edit", commit])?;
        if !out.status.success() {
            let _ = self.output(&["revert", "--abort"]);
            bail!("git revert {commit} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        self.head()?.context("HEAD does not point at a commit after reverting")
    }

    /// A commit's diff as git prints it: `git diff from to` for a range, or `git show
    /// commit` for one commit (`from` = `None`); coloured by git when `color`.
    pub fn diff_text(&self, from: Option<&str>, to: &str, color: bool) -> anyhow::Result<String> {
        let color = if color { "--color=always" } else { "--color=never" };
        match from {
            Some(from) => self.run(&["diff", color, from, to, "--"]),
            None => self.run(&["show", color, to, "--"]),
        }
    }

    /// The first line of a commit's message.
    pub fn subject(&self, commit: &str) -> anyhow::Result<String> {
        Ok(self.run(&["log", "-1", "--format=%s", commit, "--"])?.trim_end().to_string())
    }

    /// The full message of a commit.
    pub fn message(&self, commit: &str) -> anyhow::Result<String> {
        self.run(&["log", "-1", "--format=%B", commit, "--"])
    }

    /// The first parent of a commit, `None` for a root commit.
    pub fn parent(&self, commit: &str) -> anyhow::Result<Option<String>> {
        let spec = format!("{commit}^");
        match self.run(&["rev-parse", "--verify", "--quiet", &spec]) {
            Ok(sha) => Ok(Some(sha.trim().to_string())),
            Err(_) => Ok(None),
        }
    }
}

/// Records of `--numstat -z` output: `added<TAB>removed<TAB>path<NUL>` (`-` for binary files).
fn parse_numstat(out: &str) -> anyhow::Result<Vec<FileChange>> {
    out.split('\0')
        .filter(|record| !record.is_empty())
        .map(|record| {
            let mut fields = record.splitn(3, '\t');
            let (Some(added), Some(removed), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
                bail!("unexpected line in git diff --numstat: {record:?}");
            };
            let count =
                |n: &str| n.parse::<u64>().with_context(|| format!("bad count in git diff --numstat: {record:?}"));
            let binary = added == "-" && removed == "-";
            Ok(FileChange {
                path: path.to_string(),
                added: if binary { 0 } else { count(added)? },
                removed: if binary { 0 } else { count(removed)? },
                binary,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_in_progress_is_kept_under_a_ref_without_touching_the_tree() {
        let (dir, git) = repo();
        std::fs::write(dir.path().join("a.txt"), "one\n").unwrap();
        git.add_all_and_commit("initial", &[]).unwrap();
        std::fs::write(dir.path().join("a.txt"), "edited\n").unwrap();
        std::fs::write(dir.path().join("new.txt"), "new\n").unwrap();
        let before = git.status().unwrap();
        let head = git.head().unwrap().unwrap();
        let wip = git.save_wip("refs/mmm/wip/s1", &head, &["a.txt".into(), "new.txt".into()], "wip").unwrap();
        assert_eq!(git.status().unwrap(), before, "the index and the tree are untouched");
        assert_eq!(git.head().unwrap().unwrap(), head);
        assert_eq!(git.parent(&wip).unwrap(), Some(head));
        assert_eq!(git.run(&["show", "refs/mmm/wip/s1:new.txt"]).unwrap(), "new\n");
        assert_eq!(git.run(&["show", "refs/mmm/wip/s1:a.txt"]).unwrap(), "edited\n");
        git.delete_ref("refs/mmm/wip/s1").unwrap();
        git.delete_ref("refs/mmm/wip/s1").unwrap();
        assert!(git.run(&["rev-parse", "--verify", "--quiet", "refs/mmm/wip/s1"]).is_err());
        assert!(git.delete_ref("refs/heads/main").is_err());
    }

    #[test]
    fn only_mmm_branches_are_deleted_and_own_commits_are_found() {
        let (dir, g, first) = committed_repo();
        g.create_branch_and_switch("mmm/s").unwrap();
        assert_eq!(g.commits_only_on("mmm/s").unwrap(), Vec::<String>::new());
        write(dir.path(), "a.txt", "session\n");
        let own = g.add_all_and_commit("mmm: change", &[]).unwrap();
        assert_eq!(g.commits_only_on("mmm/s").unwrap(), vec![own.clone()]);
        assert_eq!(g.refs_containing(&own).unwrap(), vec!["refs/heads/mmm/s"]);
        assert!(g.is_ancestor(&first, &own).unwrap() && !g.is_ancestor(&own, &first).unwrap());
        g.switch("main").unwrap();
        let err = g.delete_branch("main").unwrap_err();
        assert_eq!(err.to_string(), "refusing to delete branch `main`: mmm deletes only its own mmm/... branches");
        g.delete_branch("mmm/s").unwrap();
        assert!(!g.branch_exists("mmm/s").unwrap() && g.branch_exists("main").unwrap());
    }

    #[test]
    fn a_revert_conflict_is_found_without_touching_anything() {
        let (dir, g, _) = committed_repo();
        write(dir.path(), "a.txt", "first\n");
        let one = g.add_all_and_commit("one", &[]).unwrap();
        write(dir.path(), "src/lib.rs", "pub fn g() {}\n");
        let two = g.add_all_and_commit("two", &[]).unwrap();
        assert_eq!(g.revert_conflict(&[two.clone(), one.clone()]).unwrap(), None);
        write(dir.path(), "a.txt", "later\n");
        let later = g.add_all_and_commit("later", &[]).unwrap();
        assert_eq!(g.revert_conflict(&[two, one.clone()]).unwrap(), Some((one.clone(), vec!["a.txt".to_string()])));
        assert_eq!((g.head().unwrap(), g.is_clean().unwrap()), (Some(later.clone()), true));
        assert!(g.revert(&one).unwrap_err().to_string().starts_with(&format!("git revert {one} failed")));
        assert_eq!((g.head().unwrap(), g.is_clean().unwrap()), (Some(later), true));
    }

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

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn changes_since_counts_edited_new_and_deleted_files_without_touching_the_index() {
        let (dir, g) = repo();
        write(dir.path(), "a.txt", "one\ntwo\n");
        write(dir.path(), "gone.txt", "x\n");
        g.add_all_and_commit("base", &[]).unwrap();
        let base = g.head().unwrap().unwrap();
        write(dir.path(), "a.txt", "one\nTWO\nthree\n");
        write(dir.path(), "new.txt", "n\n");
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        write(dir.path(), "other.txt", "not asked about\n");
        let paths = ["a.txt", "new.txt", "gone.txt"].map(String::from);
        let counts: Vec<(String, u64, u64)> =
            g.changes_since(&base, &paths).unwrap().into_iter().map(|f| (f.path, f.added, f.removed)).collect();
        assert_eq!(counts, [("a.txt".into(), 2, 1), ("gone.txt".into(), 0, 1), ("new.txt".into(), 1, 0)]);
        assert_eq!(g.run(&["diff", "--cached", "--name-only"]).unwrap(), "", "the index is untouched");
    }

    /// Every file and directory under `dir` except `.git`, with file contents.
    fn tree(dir: &Path) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if rel == ".git" {
                    continue;
                }
                if path.is_dir() {
                    out.push((format!("{rel}/"), None));
                    stack.push(path);
                } else {
                    out.push((rel, Some(std::fs::read_to_string(&path).unwrap())));
                }
            }
        }
        out.sort();
        out
    }

    fn committed_repo() -> (tempfile::TempDir, Git, String) {
        let (dir, g) = repo();
        write(dir.path(), ".gitignore", "target/\n*.log\n");
        write(dir.path(), "a.txt", "one\ntwo\n");
        write(dir.path(), "src/lib.rs", "pub fn f() {}\n");
        let sha = g.add_all_and_commit("initial", &[]).unwrap();
        (dir, g, sha)
    }

    #[test]
    fn commit_returns_the_new_head_and_keeps_body_and_trailer() {
        let (dir, g, first) = committed_repo();
        assert_eq!(g.head().unwrap().as_deref(), Some(first.as_str()));
        write(dir.path(), "a.txt", "changed\n");
        let message = "mmm: tidy a.txt\n\n# Issues addressed\n- high: a.txt was untidy\n\nMmm-Session: 20250101-000000";
        let second = g.add_all_and_commit(message, &[]).unwrap();
        assert_ne!(first, second);
        assert_eq!(g.head().unwrap(), Some(second.clone()));
        assert_eq!(g.run(&["log", "-1", "--format=%B"]).unwrap().trim_end(), message);
        assert_eq!(g.run(&["log", "-1", "--format=%an <%ae>"]).unwrap().trim(), "t <t@t.invalid>");
        assert!(g.is_clean().unwrap());
        let err = g.add_all_and_commit("again", &[]).unwrap_err();
        assert_eq!(err.to_string(), "nothing to commit: the work tree has no changes");
    }

    #[cfg(unix)]
    #[test]
    fn a_rejecting_hook_fails_the_commit_with_its_message() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, g, first) = committed_repo();
        let hook = dir.path().join(".git/hooks/pre-commit");
        std::fs::write(&hook, "#!/bin/sh\necho 'lint says no' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        write(dir.path(), "a.txt", "changed\n");
        let err = g.add_all_and_commit("mmm: change", &[]).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.to_string(), "git commit failed: lint says no");
        assert!(cli.hint().unwrap().contains("hook"));
        assert_eq!(g.head().unwrap(), Some(first));
    }

    #[cfg(unix)]
    #[test]
    fn a_commit_can_run_with_other_hooks_than_the_repository_has() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, g, _) = committed_repo();
        let hook = |dir: &Path, name: &str, marker: &str| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\necho ran >> {marker}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        hook(&dir.path().join(".git/hooks"), "post-commit", "repository-hook.log");
        let chosen = tempfile::tempdir().unwrap();
        hook(chosen.path(), "post-commit", "chosen-hook.log");
        write(dir.path(), "a.txt", "changed\n");
        g.commit_paths_with_hooks("change", &["a.txt".to_string()], Some(chosen.path())).unwrap();
        assert!(!dir.path().join("repository-hook.log").exists());
        assert_eq!(std::fs::read_to_string(dir.path().join("chosen-hook.log")).unwrap(), "ran\n");
        write(dir.path(), "a.txt", "again\n");
        g.commit_paths("again", &["a.txt".to_string()]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("repository-hook.log")).unwrap(), "ran\n");
    }

    #[test]
    fn submodules_and_the_status_of_one_path_are_read_from_git() {
        let (dir, g, _) = committed_repo();
        let sha = g.head().unwrap().unwrap();
        g.run(&["update-index", "--add", "--cacheinfo", &format!("160000,{sha},vendor/lib dir")]).unwrap();
        assert_eq!(g.submodules().unwrap(), ["vendor/lib dir"]);
        assert_eq!(g.path_status("a.txt").unwrap(), None);
        write(dir.path(), "a.txt", "changed\n");
        assert_eq!(g.path_status("a.txt").unwrap().as_deref(), Some(" M"));
        write(dir.path(), "new file.txt", "new\n");
        assert_eq!(g.path_status("new file.txt").unwrap().as_deref(), Some("??"));
        write(dir.path(), "build.log", "ignored\n");
        assert_eq!(g.path_status("build.log").unwrap(), None);
        assert_eq!(g.git_path("hooks").unwrap(), g.root().join(".git/hooks"));
    }

    #[test]
    fn roll_back_restores_the_exact_tree_and_keeps_what_existed() {
        let (dir, g, _) = committed_repo();
        let root = dir.path();
        // The user's own untracked and ignored things, present before the iteration.
        write(root, "notes.txt", "mine\n");
        write(root, "scratch/old.txt", "old\n");
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::create_dir_all(root.join("src/empty-too")).unwrap();
        write(root, "target/cache.bin", "build\n");
        let before = tree(root);
        let start = g.snapshot().unwrap();

        // What an iteration might do.
        write(root, "a.txt", "rewritten\n");
        std::fs::remove_file(root.join("src/lib.rs")).unwrap();
        write(root, "src/extra.rs", "new\n");
        write(root, "new/deep/file.rs", "new\n");
        write(root, "scratch/new.txt", "new\n");
        write(root, "empty/created.txt", "new\n");
        write(root, "src/empty-too/deeper/created.txt", "new\n");
        write(root, "staged.txt", "staged\n");
        g.run(&["add", "staged.txt"]).unwrap();
        write(root, "gen/out.log", "ignored output\n");
        write(root, "gen/code.rs", "generated\n");
        write(root, "target/more.bin", "ignored\n");

        g.roll_back_to(&start).unwrap();
        let mut expected = before;
        // Ignored files created during the iteration are not mmm's to delete.
        expected.extend([
            ("gen/".to_string(), None),
            ("gen/out.log".to_string(), Some("ignored output\n".to_string())),
            ("target/more.bin".to_string(), Some("ignored\n".to_string())),
        ]);
        expected.sort();
        assert_eq!(tree(root), expected);
        assert_eq!(g.head().unwrap(), Some(start.head.clone()));
        assert_eq!(
            g.status().unwrap(),
            vec![
                StatusEntry { code: "??".into(), path: "notes.txt".into() },
                StatusEntry { code: "??".into(), path: "scratch/old.txt".into() },
            ]
        );
    }

    #[test]
    fn roll_back_drops_commits_made_after_the_snapshot_only_on_the_same_branch() {
        let (dir, g, first) = committed_repo();
        let start = g.snapshot().unwrap();
        write(dir.path(), "a.txt", "iteration\n");
        g.add_all_and_commit("mmm: iteration", &[]).unwrap();
        g.roll_back_to(&start).unwrap();
        assert_eq!(g.head().unwrap(), Some(first.clone()));
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "one\ntwo\n");

        // Another branch checked out: nothing is touched.
        g.create_branch_and_switch("other").unwrap();
        write(dir.path(), "a.txt", "edit on other\n");
        let err = g.roll_back_to(&start).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to roll back: the checked-out branch changed from main to other during the iteration"
        );
        assert_eq!(std::fs::read_to_string(dir.path().join("a.txt")).unwrap(), "edit on other\n");

        // HEAD moved to a commit that does not descend from the start: refused.
        g.run(&["checkout", "-q", "main"]).unwrap();
        g.run(&["checkout", "-q", "--", "a.txt"]).unwrap();
        let unrelated = Snapshot { head: "0".repeat(40), ..start };
        assert!(g.roll_back_to(&unrelated).unwrap_err().to_string().starts_with("refusing to roll back: HEAD"));
        assert_eq!(g.head().unwrap(), Some(first));
    }

    #[test]
    fn branches_are_created_once_and_detached_head_has_none() {
        let (_dir, g, sha) = committed_repo();
        assert_eq!(g.current_branch().unwrap().as_deref(), Some("main"));
        g.create_branch_and_switch("mmm/improve-20250101-000000").unwrap();
        assert_eq!(g.current_branch().unwrap().as_deref(), Some("mmm/improve-20250101-000000"));
        let err = g.create_branch_and_switch("main").unwrap_err();
        assert_eq!(err.to_string(), "branch `main` already exists");
        let err = g.create_branch_and_switch("bad name..").unwrap_err();
        assert_eq!(err.to_string(), "`bad name..` is not a valid branch name");
        assert_eq!(g.current_branch().unwrap().as_deref(), Some("mmm/improve-20250101-000000"));
        g.run(&["checkout", "-q", "--detach", &sha]).unwrap();
        assert_eq!(g.current_branch().unwrap(), None);
    }

    #[test]
    fn head_and_branch_are_read_together_and_a_detached_head_has_no_branch() {
        let (_dir, g, sha) = committed_repo();
        assert_eq!(g.head_and_branch().unwrap(), (sha.clone(), Some("main".to_string())));
        g.create_branch_and_switch("mmm/improve-1").unwrap();
        assert_eq!(g.head_and_branch().unwrap(), (sha.clone(), Some("mmm/improve-1".to_string())));
        g.run(&["checkout", "-q", "--detach", &sha]).unwrap();
        assert_eq!(g.head_and_branch().unwrap(), (sha, None));
        let (_empty, fresh) = repo();
        assert!(fresh.head_and_branch().is_err());
    }

    #[test]
    fn a_counted_commit_says_what_it_changed_since_its_parent_or_since_the_start_given() {
        let (dir, g, first) = committed_repo();
        write(dir.path(), "a.txt", "one\nTWO\nthree\n");
        write(dir.path(), "new file.txt", "n\n");
        std::fs::write(dir.path().join("logo.png"), [0u8, 159, 146, 150, 0, 1]).unwrap();
        write(dir.path(), "left out.txt", "x\n");
        let paths = ["a.txt", "new file.txt", "logo.png"].map(String::from);
        let (sha, files) = g.commit_paths_counted("change", &paths, None, &first).unwrap();
        assert_eq!(g.head().unwrap().as_deref(), Some(sha.as_str()));
        assert_eq!(files, g.diff_numstat(&first, &sha).unwrap());
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["a.txt", "logo.png", "new file.txt"]);
        // Committed on top of something else: counted from the start given all the same.
        write(dir.path(), "a.txt", "again\n");
        let (third, files) = g.commit_paths_counted("again", &["a.txt".into()], None, &first).unwrap();
        assert_eq!(files, g.diff_numstat(&first, &third).unwrap());
        let err = g.commit_paths_counted("nothing", &["a.txt".into()], None, &third).unwrap_err();
        assert_eq!(err.to_string(), "nothing to commit: the work tree has no changes");
    }

    #[test]
    fn numstat_counts_lines_and_flags_binary_files() {
        let (dir, g, first) = committed_repo();
        write(dir.path(), "a.txt", "one\nTWO\nthree\n");
        std::fs::remove_file(dir.path().join("src/lib.rs")).unwrap();
        std::fs::write(dir.path().join("logo.png"), [0u8, 159, 146, 150, 0, 1]).unwrap();
        let second = g.add_all_and_commit("change", &[]).unwrap();
        assert_eq!(
            g.diff_numstat(&first, &second).unwrap(),
            vec![
                FileChange { path: "a.txt".into(), added: 2, removed: 1, binary: false },
                FileChange { path: "logo.png".into(), added: 0, removed: 0, binary: true },
                FileChange { path: "src/lib.rs".into(), added: 0, removed: 1, binary: false },
            ]
        );
        assert_eq!(g.diff_numstat(&second, &second).unwrap(), vec![]);
    }

    #[test]
    fn snapshot_dirty_commits_only_when_there_is_something() {
        let (dir, g, first) = committed_repo();
        assert_eq!(g.snapshot_dirty("snapshot before mmm", &[]).unwrap(), None);
        write(dir.path(), "wip.txt", "work in progress\n");
        let sha = g.snapshot_dirty("snapshot before mmm", &[]).unwrap().unwrap();
        assert_ne!(sha, first);
        assert!(g.is_clean().unwrap());
        assert_eq!(g.run(&["log", "-1", "--format=%s"]).unwrap().trim(), "snapshot before mmm");
    }

    #[test]
    fn only_the_named_paths_are_committed() {
        let (dir, g, first) = committed_repo();
        write(dir.path(), "a.txt", "changed\n");
        write(dir.path(), "new dir/b.txt", "new\n");
        write(dir.path(), "build/out", "build output\n");
        let paths = vec!["a.txt".to_string(), "new dir/b.txt".to_string()];
        assert!(g.paths_changed(&paths).unwrap());
        assert!(!g.paths_changed(&["src/lib.rs".to_string()]).unwrap());
        let sha = g.commit_paths("change", &paths).unwrap();
        assert_eq!(
            g.diff_numstat(&first, &sha).unwrap().into_iter().map(|f| f.path).collect::<Vec<_>>(),
            vec!["a.txt", "new dir/b.txt"]
        );
        assert_eq!(g.status().unwrap().into_iter().map(|e| e.path).collect::<Vec<_>>(), vec!["build/out"]);
        assert!(!g.paths_changed(&paths).unwrap());
    }

    #[test]
    fn kept_out_paths_stay_uncommitted() {
        let (dir, g, _) = committed_repo();
        write(dir.path(), ".env", "TOKEN=x\n");
        write(dir.path(), ".mmm/sessions/s/events.jsonl", "{}\n");
        assert_eq!(g.snapshot_dirty("snapshot", &[".env", ".mmm"]).unwrap(), None);
        write(dir.path(), "wip.txt", "work\n");
        g.snapshot_dirty("snapshot", &[".env", ".mmm"]).unwrap().unwrap();
        assert_eq!(g.run(&["show", "--name-only", "--format=", "HEAD"]).unwrap(), "wip.txt\n");
        let left: Vec<String> = g.status().unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(left, vec![".env", ".mmm/sessions/s/events.jsonl"]);
        g.switch("main").unwrap();
        assert!(g.switch("--orphan").is_err());
    }

    #[test]
    fn push_updates_the_remote_branch_and_never_forces() {
        let (dir, g, _) = committed_repo();
        let remote = tempfile::tempdir().unwrap();
        assert!(Command::new("git").args(["init", "-q", "--bare"]).arg(remote.path()).status().unwrap().success());
        g.run(&["remote", "add", "origin", remote.path().to_str().unwrap()]).unwrap();
        g.push("origin", "main").unwrap();
        let remote_head = |g: &Git| g.run(&["ls-remote", "origin", "refs/heads/main"]).unwrap();
        assert!(remote_head(&g).starts_with(&g.head().unwrap().unwrap()));

        // Rewrite the local branch: the remote rejects a non-fast-forward push.
        write(dir.path(), "a.txt", "diverged\n");
        g.run(&["commit", "-qam", "diverged", "--amend"]).unwrap();
        let err = g.push("origin", "main").unwrap_err();
        assert!(err.to_string().contains("rejected"), "{err}");
        assert!(g.push("--force", "main").is_err());
    }
}
