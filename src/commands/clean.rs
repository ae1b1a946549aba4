//! `mmm clean`: removes what sessions leave behind and nobody needs — `mmm/...` branches
//! of sessions that made no commit, parallel workers' trees under `.mmm/worktrees/` whose
//! worker is gone, stale git worktrees (`git worktree prune`), and the
//! work-in-progress refs (`refs/mmm/wip/<session>`) of sessions that are over.
//!
//! It never removes a branch with commits of its own (commits no other branch or remote
//! holds), a branch checked out in any work tree, or anything of a running session (the
//! holder of `.mmm/lock`, or a session whose crash `--resume` has yet to recover).
//! `--dry-run` lists what would go and changes nothing.

use serde::Serialize;

use super::Ctx;
use crate::cli::CleanArgs;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::state::Layout;
use crate::state::lock::WorkTreeLock;
use crate::state::session::{SessionRecord, SessionStatus};

/// One thing removed (or, with `--dry-run`, that would be).
#[derive(Serialize)]
struct Removed {
    /// `branch`, `worktree` or `ref`.
    kind: &'static str,
    name: String,
    reason: String,
}

#[derive(Serialize)]
struct CleanReport {
    r#type: &'static str,
    dry_run: bool,
    removed: Vec<Removed>,
    count: usize,
}

impl Report for CleanReport {
    fn human(&self, s: &Styles) -> String {
        if self.removed.is_empty() {
            return "Nothing to clean.".into();
        }
        let verb = if self.dry_run { "Would remove" } else { "Removed" };
        let mut lines: Vec<String> =
            self.removed.iter().map(|r| format!("{verb} {} {} ({})", r.kind, s.cyan(&r.name), r.reason)).collect();
        lines.push(if self.dry_run {
            format!("{} would be removed (dry run: nothing was changed).", self.count)
        } else {
            format!("{} removed.", self.count)
        });
        lines.join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &CleanArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    // Held while cleaning, so no session starts midway; if a session runs, its things stay.
    let (_lock, running) = match WorkTreeLock::try_acquire(&layout.lock_file(), "clean")? {
        Ok(lock) => (Some(lock), None),
        Err(holder) => (None, Some(holder.map(|h| h.session).unwrap_or_default())),
    };
    let (sessions, unreadable) = SessionRecord::load_all(&layout.sessions_dir());
    for (path, e) in unreadable {
        ctx.printer.warn(format!("skipping {}: {e:#}", path.display()));
    }
    // Sessions whose things stay: the running one, and crashed ones `--resume` recovers.
    let live = |id: &str| running.as_deref() == Some(id);
    let keep: Vec<&SessionRecord> =
        sessions.iter().filter(|r| live(&r.id) || r.status == SessionStatus::Running).collect();

    let mut removed = Vec::new();
    // Parallel workers' trees whose lock no process holds: their session ended or died
    // (its branch and commits stay; `--parallel --resume` makes a new tree).
    for tree in crate::session::parallel::sweep(&git, !args.dry_run)? {
        let name = tree.strip_prefix(git.root()).unwrap_or(&tree).display().to_string();
        removed.push(Removed { kind: "worktree", name, reason: "no running worker holds its lock".into() });
    }
    let checked_out = git.checked_out_branches()?;
    for full in git.refs_under("refs/heads/mmm/")? {
        let name = full.trim_start_matches("refs/heads/").to_string();
        let session = sessions.iter().find(|r| r.branch == name && !r.settings.in_place);
        // While another mmm holds the lock, a branch without a record may be its own.
        if checked_out.contains(&name)
            || keep.iter().any(|r| r.branch == name)
            || running.is_some() && session.is_none()
            || session.is_some_and(|r| r.commits().next().is_some())
            || !git.commits_only_on(&name)?.is_empty()
        {
            continue;
        }
        let reason = match session {
            Some(r) => format!("session {} made no commit", r.id),
            None => "no session of its own; no commit of its own".to_string(),
        };
        if !args.dry_run {
            git.delete_branch(&name)?;
        }
        removed.push(Removed { kind: "branch", name, reason });
    }
    for stale in git.prune_worktrees(!args.dry_run)? {
        let (name, reason) = stale.split_once(": ").unwrap_or((&stale, "stale"));
        let name = name.trim_start_matches("worktrees/").to_string();
        removed.push(Removed { kind: "worktree", name, reason: reason.to_string() });
    }
    for refname in git.refs_under("refs/mmm/wip/")? {
        let id = refname.trim_start_matches("refs/mmm/wip/");
        // While another mmm holds the lock, a ref without a record may be its own.
        if running.is_some() && !sessions.iter().any(|r| r.id == id) || keep.iter().any(|r| r.id == id) {
            continue;
        }
        let reason = match sessions.iter().find(|r| r.id == id) {
            Some(r) => format!("session {id} is {}", r.status.as_str()),
            None => format!("no session {id} in this repository"),
        };
        if !args.dry_run {
            git.delete_ref(&refname)?;
        }
        removed.push(Removed { kind: "ref", name: refname, reason });
    }
    let count = removed.len();
    ctx.printer.report(&CleanReport { r#type: "clean", dry_run: args.dry_run, removed, count })
}
