//! `mmm run`: its flags (those that are settings go through the settings' flag layer, as
//! for `mmm improve`), Ctrl+C handling around the spec engine in `session::spec`, and what
//! the finished sessions leave for a pipeline.

use super::Ctx;
use super::improve::watch_interrupts;
use crate::cli::RunArgs;
use crate::git::Git;
use crate::session::Cancel;
use crate::session::spec::{self, RunOptions};

pub fn exec(ctx: &Ctx<'_>, args: &RunArgs) -> anyhow::Result<()> {
    let opts = RunOptions {
        path: args.path.clone(),
        only: args.only.clone(),
        keep_going: args.keep_going,
        force: args.force,
        allow_dirty: args.session.allow_dirty,
        resume: args.resume.clone(),
        verbose: ctx.verbose > 0,
    };
    let outcome = super::block_on(async {
        let (handle, cancel) = Cancel::new();
        tokio::spawn(watch_interrupts(handle, ctx.printer.clone()));
        spec::run(ctx, &opts, cancel).await
    })??;
    if !outcome.sessions.is_empty() {
        let git = Git::open(&ctx.cwd)?;
        let layout = crate::state::Layout::new(git.root());
        let records = outcome
            .sessions
            .iter()
            .map(|id| crate::state::session::SessionRecord::load(&layout.session_dir(id).join("session.json")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        crate::ci::publish::publish(ctx.printer, &git, &records, "mmm run", &args.results, &env)?;
    }
    outcome.exit
}
