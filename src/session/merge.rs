//! `mmm merge`: the branches of parallel workers (or CI shards) merged into one, by git,
//! without a work tree, then checked.
//!
//! Each branch is merged onto the result so far with `git merge-tree --write-tree` and
//! `git commit-tree` (a merge commit with both parents); a branch that conflicts is left
//! out and listed with its files, and the next one is tried. The result's tree is then
//! checked out in a temporary work tree under `.mmm/worktrees/` (locked while it is used,
//! removed after) where the project's checks run, because two green branches can merge
//! red. Only when they pass is the target branch moved (`git update-ref`, only from the
//! commit it was read at).
//!
//! This never checks out anything in the user's work tree, never touches the index, never
//! moves a branch checked out anywhere, never forces a push, and never asks the model:
//! a merge git cannot do is reported, not attempted.

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{checks, parallel, setup};
use crate::error::CliError;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::settings::session::SessionConfig;
use crate::state::Layout;
use crate::state::lock::WorkTreeLock;
use crate::state::session::CheckRecord;

/// What to merge, and where.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Session ids or parallel run ids; empty: the latest parallel run (unless `branches`).
    pub sessions: Vec<String>,
    /// A glob of branch names (`mmm/shard-<plan>-*`).
    pub branches: Option<String>,
    /// The branch to merge into; `None`: a new `mmm/merge-<timestamp>` from HEAD.
    pub into: Option<String>,
    /// Fetch the branches from this remote first (and take them from there).
    pub remote: Option<String>,
    /// Push the merged branch to the remote (`--remote`, else `origin`).
    pub push: bool,
}

/// A branch left out, with the files it conflicts in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub branch: String,
    pub files: Vec<String>,
}

/// What `mmm merge` did.
#[derive(Debug, Serialize)]
pub struct MergeReport {
    pub r#type: &'static str,
    /// The branch merged into, and whether it was moved to `commit`.
    pub into: String,
    pub updated: bool,
    /// The merge result (`None` when nothing merged).
    pub commit: Option<String>,
    pub merged: Vec<String>,
    /// Branches already in the target: nothing to merge.
    pub up_to_date: Vec<String>,
    pub conflicts: Vec<Conflict>,
    /// The checks on the merged tree (empty when nothing merged).
    pub checks: Vec<CheckRecord>,
    pub checks_passed: Option<bool>,
    pub pushed: Option<String>,
}

/// Merges, checks, moves the target branch and (with `push`) pushes it. The report says
/// what happened; [`MergeReport::exit`] maps it to the exit code.
pub async fn run(
    git: &Git,
    config: &SessionConfig,
    opts: &MergeOptions,
    cancel: &CancellationToken,
) -> anyhow::Result<MergeReport> {
    let layout = Layout::new(git.root());
    if let Some(remote) = &opts.remote {
        git.fetch(remote).with_context(|| format!("fetching the branches of `{remote}`"))?;
    }
    let branches = branches_to_merge(git, &layout, opts)?;
    let (into, base, old) = target(git, opts)?;
    let mut report = MergeReport {
        r#type: "merge",
        into: into.clone(),
        updated: false,
        commit: None,
        merged: Vec::new(),
        up_to_date: Vec::new(),
        conflicts: Vec::new(),
        checks: Vec::new(),
        checks_passed: None,
        pushed: None,
    };
    let mut current = base.clone();
    for branch in &branches {
        let tip = git.commit_of(branch)?;
        if git.is_ancestor(&tip, &current)? {
            report.up_to_date.push(branch.clone());
            continue;
        }
        match git.merge_tree(&current, &tip)? {
            Ok(tree) => {
                let message = format!("mmm: merge {branch}\n\nMerged by `mmm merge` with git merge-tree.\n");
                current = git.commit_tree(&tree, &[&current, &tip], &message)?;
                report.merged.push(branch.clone());
            }
            Err(files) => report.conflicts.push(Conflict { branch: branch.clone(), files }),
        }
    }
    if report.merged.is_empty() {
        return Ok(report);
    }
    report.commit = Some(current.clone());
    let (records, passed) = check(git, &layout, config, &current, cancel).await?;
    report.checks = records;
    report.checks_passed = Some(passed);
    if !passed {
        return Ok(report);
    }
    git.update_ref(&format!("refs/heads/{into}"), &current, old.as_deref())
        .with_context(|| format!("moving {into} to the merge (did it move meanwhile?)"))?;
    report.updated = true;
    if opts.push {
        let remote = opts.remote.clone().unwrap_or_else(|| "origin".into());
        git.push(&remote, &into)?;
        report.pushed = Some(remote);
    }
    Ok(report)
}

/// The branches to merge, as full ref names: those `--branches` matches (locally, or under
/// the remote's tracking refs), else those of the named sessions and parallel runs, else
/// the latest parallel run's.
fn branches_to_merge(git: &Git, layout: &Layout, opts: &MergeOptions) -> anyhow::Result<Vec<String>> {
    let found = if let Some(pattern) = &opts.branches {
        let prefix = match &opts.remote {
            Some(remote) => format!("refs/remotes/{remote}/"),
            None => "refs/heads/".to_string(),
        };
        git.refs_matching(&prefix, pattern)?
    } else {
        let mut names = Vec::new();
        let ids = if opts.sessions.is_empty() {
            vec![parallel::latest_run(layout)?.ok_or_else(|| {
                CliError::usage("nothing to merge: no sessions named, no --branches, and no parallel run here")
                    .with_hint("name the sessions (`mmm merge SESSION...`) or the branches (`--branches 'mmm/*'`)")
            })?]
        } else {
            opts.sessions.clone()
        };
        for id in ids {
            names.extend(parallel::branches_of(layout, &id)?.into_iter().map(|b| format!("refs/heads/{b}")));
        }
        names
    };
    if found.is_empty() {
        return Err(CliError::usage("no branch matches: nothing to merge")
            .with_hint("`git branch --list 'mmm/*'` (or `git branch -r`) lists the branches there are")
            .into());
    }
    Ok(found)
}

/// The branch to merge into, the commit to start from, and the commit it points at now
/// (`None`: it is made). A branch checked out in a work tree is refused: moving it would
/// leave that tree's files behind its branch.
fn target(git: &Git, opts: &MergeOptions) -> anyhow::Result<(String, String, Option<String>)> {
    let into = match &opts.into {
        Some(into) => into.clone(),
        None => super::engine::free_branch_name(
            git,
            &format!("mmm/merge-{}", jiff::Zoned::now().strftime("%Y%m%d-%H%M%S")),
        )?,
    };
    if git.checked_out_branches()?.contains(&into) {
        return Err(CliError::usage(format!("`{into}` is checked out in a work tree: mmm merge never moves it"))
            .with_hint(format!(
                "merge into a new branch (leave out --into), then bring it in with `git merge --ff-only <branch>` on {into}"
            ))
            .into());
    }
    if git.branch_exists(&into)? {
        let head = git.branch_head(&into)?;
        return Ok((into, head.clone(), Some(head)));
    }
    let head =
        git.head()?.ok_or_else(|| CliError::usage("the repository has no commits yet: nothing to merge into"))?;
    Ok((into, head, None))
}

/// Runs the checks on `commit` in a temporary work tree (removed after): the records and
/// whether every one passed.
async fn check(
    git: &Git,
    layout: &Layout,
    config: &SessionConfig,
    commit: &str,
    cancel: &CancellationToken,
) -> anyhow::Result<(Vec<CheckRecord>, bool)> {
    let path = parallel::worktrees_dir(layout).join(format!("merge-{}", super::engine::session_id()));
    let tree = git.add_worktree_detached(&path, commit).context("adding a work tree for the merge's checks")?;
    let checked = async {
        let lock = WorkTreeLock::acquire(&Layout::new(tree.root()).lock_file(), "merge")?;
        Layout::new(tree.root()).ensure_gitignore()?;
        let project = setup::analyze(tree.root(), config, false).await?;
        let settings = setup::session_settings(config, None, &project)?;
        let timeout = Duration::from_secs(settings.check_timeout_secs);
        let results = tokio::select! {
            r = checks::run(&settings.checks, tree.root(), timeout, &settings.pass_env) => r,
            _ = cancel.cancelled() => {
                return Err(CliError::interrupted("interrupted while the merge's checks ran: no branch was moved").into())
            }
        };
        drop(lock);
        anyhow::Ok((checks::records(&results), checks::passed(&settings.checks, &results)))
    }
    .await;
    git.remove_worktree(tree.root())?;
    checked
}

impl MergeReport {
    /// 0 when every branch merged and the checks pass; 1 when a branch conflicted (left
    /// out) or the merged tree fails the checks (no branch moved).
    pub fn exit(&self) -> anyhow::Result<()> {
        if self.checks_passed == Some(false) {
            return Err(CliError::failure("the merged tree fails the checks: no branch was moved")
                .with_hint("the merge is kept only when the checks pass; fix the branches, or merge fewer of them")
                .into());
        }
        if !self.conflicts.is_empty() {
            let names: Vec<&str> = self.conflicts.iter().map(|c| c.branch.as_str()).collect();
            return Err(CliError::failure(format!("left out, conflicting: {}", names.join(", ")))
                .with_hint("merge those by hand (`git merge <branch>`), or run their work again on the merged branch")
                .into());
        }
        Ok(())
    }
}

impl Report for MergeReport {
    fn human(&self, s: &Styles) -> String {
        let mut lines = Vec::new();
        for branch in &self.merged {
            lines.push(format!("merged      {}", s.cyan(branch)));
        }
        for branch in &self.up_to_date {
            lines.push(format!("up to date  {branch}"));
        }
        for conflict in &self.conflicts {
            lines.push(format!("conflict    {} in {}", s.cyan(&conflict.branch), conflict.files.join(", ")));
        }
        for check in &self.checks {
            let word = if check.passed { "passed" } else { "FAILED" };
            lines.push(format!("check       `{}` {word}", check.command));
        }
        match (&self.commit, self.updated) {
            (Some(commit), true) => lines.push(format!("{} {} is now {commit}", s.bold("Merged:"), self.into)),
            (Some(commit), false) => lines.push(format!(
                "{} {} was not moved (the merge {commit} fails the checks)",
                s.bold("Not merged:"),
                self.into
            )),
            (None, _) => lines.push(format!("{} nothing merged into {}", s.bold("Not merged:"), self.into)),
        }
        if let Some(remote) = &self.pushed {
            lines.push(format!("pushed      {} to {remote}", self.into));
        }
        lines.join("\n")
    }
}
