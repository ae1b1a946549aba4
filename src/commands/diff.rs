//! `mmm diff`: what a session changed, as git shows it — the diff from its start commit
//! to its last commit, or one iteration's commit. It only reads; it never changes the
//! repository or the session's record.

use serde::Serialize;

use super::Ctx;
use crate::cli::DiffArgs;
use crate::error::CliError;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::state::Layout;
use crate::state::session::{Outcome, SessionRecord};

#[derive(Serialize)]
struct DiffReport {
    r#type: &'static str,
    session: String,
    /// The iteration shown, or `None` for the whole session.
    iteration: Option<u32>,
    /// The commit the diff starts from (`None` for one iteration: its parent).
    from: Option<String>,
    to: String,
    /// Git's output, uncoloured in JSON.
    diff: String,
}

impl Report for DiffReport {
    fn human(&self, _: &Styles) -> String {
        self.diff.trim_end_matches('\n').to_string()
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &DiffArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let record = SessionRecord::find(&Layout::new(git.root()), args.session.as_deref())?;
    let commits = match args.iteration {
        None => last_commit(&record).map(|to| (Some(record.start_commit.clone()), to)),
        Some(n) => iteration_commit(&record, n).map(|to| (None, to)),
    };
    let (from, to) = commits.map_err(|e| crate::error::in_session(e, &record.id))?;
    // Git colours its own output when mmm's stdout would be coloured (a terminal, no
    // NO_COLOR, or --color=always); JSON carries it plain.
    let color = !ctx.printer.is_json() && ctx.printer.styles().is_enabled();
    let diff = git.diff_text(from.as_deref(), &to, color)?;
    ctx.printer.report(&DiffReport { r#type: "diff", session: record.id, iteration: args.iteration, from, to, diff })
}

/// The session's last commit, or an error saying it made none.
fn last_commit(record: &SessionRecord) -> anyhow::Result<String> {
    record.commits().last().map(str::to_string).ok_or_else(|| {
        CliError::usage(format!(
            "session {} made no commit: {} iteration(s), none committed",
            record.id,
            record.iterations.len()
        ))
        .with_hint(format!("`mmm history {}` shows what each iteration did", record.id))
        .into()
    })
}

/// Iteration `n`'s commit, or an error saying why it has none.
fn iteration_commit(record: &SessionRecord, n: u32) -> anyhow::Result<String> {
    let id = &record.id;
    let Some(it) = record.iterations.iter().find(|i| i.index == n) else {
        return Err(CliError::usage(format!("session {id} has no iteration {n} (it ran {})", record.iterations.len()))
            .with_hint(format!("`mmm history {id}` lists its iterations"))
            .into());
    };
    if let Some(commit) = &it.commit {
        return Ok(commit.clone());
    }
    let why = match it.outcome {
        Outcome::RolledBack => "was rolled back",
        Outcome::NoChange => "changed nothing",
        Outcome::Failed => "failed",
        Outcome::Crashed => "was cut off by a crash and rolled back",
        Outcome::Committed => "is recorded without its commit",
    };
    let detail = it.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
    Err(CliError::usage(format!("iteration {n} of session {id} {why}, so it has no commit{detail}"))
        .with_hint(format!("`mmm history {id}` shows what each iteration did"))
        .into())
}
