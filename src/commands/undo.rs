//! `mmm undo`: takes a session's work back out. A session on a branch of its own loses that
//! branch (after a switch back to the branch it started from); an `--in-place` session's
//! commits are reverted by new commits, newest first. The record says it was undone, so a
//! second undo is refused.
//!
//! It never rewrites history: a branch that was merged or pushed, or that holds commits
//! that are not the session's, is kept unless `--force`; a revert that would conflict is
//! refused before anything is touched. It holds the work-tree lock, so it never runs while
//! a session does.

use serde::Serialize;

use super::Ctx;
use crate::cli::UndoArgs;
use crate::error::CliError;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::session::setup::user_changes;
use crate::state::lock::WorkTreeLock;
use crate::state::session::{SessionRecord, Undo};
use crate::state::{self, Layout};

#[derive(Serialize)]
struct UndoReport {
    r#type: &'static str,
    session: String,
    undone: Undo,
    /// The branch checked out before the session's branch was deleted.
    switched_to: Option<String>,
}

impl Report for UndoReport {
    fn human(&self, s: &Styles) -> String {
        match &self.undone {
            Undo::BranchDeleted { branch, head, .. } => {
                let mut lines = vec![format!("{} {}: {}.", s.bold("Undid session"), self.session, self.undone)];
                if let Some(base) = &self.switched_to {
                    lines.push(format!("Switched back to {}.", s.cyan(base)));
                }
                lines.push(format!("To get the branch back: git branch {branch} {head}"));
                lines.join("\n")
            }
            Undo::Reverted { branch, reverts, .. } if reverts.is_empty() => {
                format!(
                    "{} {}: it made no commit on {branch}, so nothing was reverted.",
                    s.bold("Undid session"),
                    self.session
                )
            }
            Undo::Reverted { .. } => format!("{} {}: {}.", s.bold("Undid session"), self.session, self.undone),
        }
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &UndoArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    let record = SessionRecord::find(&layout, args.session.as_deref())?;
    let id = record.id.clone();
    undo(ctx, &git, &layout, record, args.force).map_err(|e| crate::error::in_session(e, &id))
}

/// Undoes the session `record`: its branch deleted, or its in-place commits reverted.
fn undo(ctx: &Ctx<'_>, git: &Git, layout: &Layout, mut record: SessionRecord, force: bool) -> anyhow::Result<()> {
    let id = record.id.clone();
    if let Some(undo) = &record.undone {
        return Err(CliError::usage(format!("session {id} was already undone at {}: {undo}", undo.at()))
            .with_hint("there is nothing left to undo; `mmm history` lists the other sessions")
            .into());
    }
    // A running session holds the lock: undo waits for no one and never runs beside it.
    let _lock = WorkTreeLock::acquire(&layout.lock_file(), &format!("undo of {id}"))?;
    let (undone, switched_to) = if record.settings.in_place {
        (revert_in_place(git, &record)?, None)
    } else {
        delete_session_branch(git, &record, force)?
    };
    git.delete_ref(&format!("refs/mmm/wip/{id}"))?;
    record.undone = Some(undone.clone());
    record.save_in(layout)?;
    ctx.printer.report(&UndoReport { r#type: "undo", session: id, undone, switched_to })
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// Refuses a tree with uncommitted changes (mmm's own `.mmm/` aside), saying why it matters.
fn require_clean(git: &Git, why: &str) -> anyhow::Result<()> {
    let dirty = user_changes(git)?;
    if dirty.is_empty() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "the working tree has uncommitted changes:\n{}",
        dirty.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
    ))
    .with_hint(format!("commit or stash them first: {why}"))
    .into())
}

/// Deletes the session's own branch, switching back to its base branch first when it is
/// checked out. Returns what was done and the branch switched to.
fn delete_session_branch(git: &Git, record: &SessionRecord, force: bool) -> anyhow::Result<(Undo, Option<String>)> {
    let (id, branch) = (&record.id, &record.branch);
    if !git.branch_exists(branch)? {
        return Err(CliError::usage(format!("the branch {branch} of session {id} no longer exists"))
            .with_hint("it was deleted outside mmm; there is nothing left to undo")
            .into());
    }
    let head = git.branch_head(branch)?;
    if !force {
        refuse_if_shared(git, record)?;
    }
    let mut switched_to = None;
    if git.current_branch()?.as_deref() == Some(branch.as_str()) {
        let Some(base) = &record.base_branch else {
            return Err(CliError::usage(format!(
                "{branch} is checked out and session {id} does not record the branch it started from"
            ))
            .with_hint(format!("switch to another branch (`git switch main`), then run `mmm undo {id}` again"))
            .into());
        };
        require_clean(git, &format!("undo switches back to {base} before deleting {branch}"))?;
        git.switch(base).map_err(|e| {
            CliError::failure(format!("could not switch back to {base}: {e:#}"))
                .with_hint(format!("switch to another branch yourself, then run `mmm undo {id}` again"))
        })?;
        switched_to = Some(base.clone());
    }
    if git.checked_out_branches()?.contains(branch) {
        return Err(CliError::usage(format!("{branch} is checked out in another work tree"))
            .with_hint("`git worktree list` shows where; remove that work tree or switch it to another branch first")
            .into());
    }
    git.delete_branch(branch)?;
    Ok((Undo::BranchDeleted { at: state::now(), branch: branch.clone(), head, forced: force }, switched_to))
}

/// Refuses to delete a branch whose commits live on elsewhere (merged into a local branch,
/// pushed) or that holds commits the session did not make (a `--allow-dirty` snapshot, the
/// user's own commits on top): deleting it would mislead or lose work.
fn refuse_if_shared(git: &Git, record: &SessionRecord) -> anyhow::Result<()> {
    let (id, branch) = (&record.id, &record.branch);
    let own = format!("refs/heads/{branch}");
    let mut remotes = Vec::new();
    let mut locals = Vec::new();
    for commit in record.commits() {
        for r in git.refs_containing(commit)? {
            if let Some(name) = r.strip_prefix("refs/remotes/") {
                remotes.push(name.to_string());
            } else if r != own
                && let Some(name) = r.strip_prefix("refs/heads/")
            {
                locals.push(name.to_string());
            }
        }
    }
    let list = |mut names: Vec<String>| {
        names.sort();
        names.dedup();
        names.join(", ")
    };
    if !remotes.is_empty() {
        return Err(CliError::usage(format!(
            "refusing to undo session {id}: its branch {branch} was pushed ({})",
            list(remotes)
        ))
        .with_hint(format!(
            "deleting the local branch would not remove the pushed one; `mmm undo {id} --force` deletes the local branch anyway"
        ))
        .into());
    }
    if !locals.is_empty() {
        return Err(CliError::usage(format!(
            "refusing to undo session {id}: its commits were merged into {}",
            list(locals)
        ))
        .with_hint(format!(
            "they are part of that branch now (take them out there with `git revert`); `mmm undo {id} --force` deletes {branch} anyway"
        ))
        .into());
    }
    let session_commits: Vec<&str> = record.commits().collect();
    let foreign: Vec<String> = git
        .commits_only_on(branch)?
        .into_iter()
        .filter(|c| !session_commits.contains(&c.as_str()))
        .map(|c| Ok(format!("  {} {}", short(&c), git.subject(&c)?)))
        .collect::<anyhow::Result<_>>()?;
    if !foreign.is_empty() {
        return Err(CliError::usage(format!(
            "refusing to undo session {id}: {branch} holds commits that are not the session's:\n{}",
            foreign.join("\n")
        ))
        .with_hint(format!(
            "deleting the branch would lose them; put them on another branch first, or pass --force (`mmm undo {id} --force`)"
        ))
        .into());
    }
    Ok(())
}

/// Reverts an in-place session's commits on its branch, newest first, each by a new
/// commit. Refused, with nothing touched, when a revert would conflict.
fn revert_in_place(git: &Git, record: &SessionRecord) -> anyhow::Result<Undo> {
    let (id, branch) = (&record.id, &record.branch);
    let current = git.current_branch()?;
    if current.as_deref() != Some(branch.as_str()) {
        return Err(CliError::usage(format!(
            "session {id} committed on {branch}, but {} is checked out",
            current.as_deref().unwrap_or("a detached HEAD")
        ))
        .with_hint(format!("switch to it (`git switch {branch}`), then run `mmm undo {id}` again"))
        .into());
    }
    let mut commits: Vec<String> = record.commits().map(str::to_string).collect();
    commits.reverse();
    if commits.is_empty() {
        return Ok(Undo::Reverted { at: state::now(), branch: branch.clone(), reverts: Vec::new() });
    }
    require_clean(git, &format!("the reverts are new commits on {branch}"))?;
    let head = git.head()?.unwrap_or_default();
    for commit in &commits {
        if !git.is_ancestor(commit, &head)? {
            return Err(CliError::usage(format!(
                "commit {} of session {id} is no longer in the history of {branch}",
                short(commit)
            ))
            .with_hint("nothing was changed; revert what is left by hand with `git revert`")
            .into());
        }
    }
    if let Some((commit, files)) = git.revert_conflict(&commits)? {
        return Err(CliError::usage(format!(
            "refusing to undo session {id}: reverting {} ({}) conflicts with later changes to {}",
            short(&commit),
            git.subject(&commit)?,
            files.join(", ")
        ))
        .with_hint(format!(
            "nothing was changed; revert it by hand (`git revert {}`) and resolve the conflict",
            short(&commit)
        ))
        .into());
    }
    let mut reverts = Vec::new();
    for commit in &commits {
        match git.revert(commit) {
            Ok(sha) => reverts.push(sha),
            Err(e) if reverts.is_empty() => return Err(e),
            Err(e) => {
                let made = reverts.iter().map(|r| short(r)).collect::<Vec<_>>().join(", ");
                return Err(CliError::failure(format!(
                    "the undo of session {id} stopped part way: {e:#}; the revert commits made so far are {made}"
                ))
                .with_hint(format!("revert the rest by hand with `git revert`, or drop those commits from {branch}"))
                .into());
            }
        }
    }
    Ok(Undo::Reverted { at: state::now(), branch: branch.clone(), reverts })
}
