//! `mmm run`: its flags (those that are settings go through the settings' flag layer, as
//! for `mmm improve`) and Ctrl+C handling around the spec engine in `session::spec`.

use super::Ctx;
use super::improve::watch_interrupts;
use crate::cli::RunArgs;
use crate::session::Cancel;
use crate::session::spec::{self, RunOptions};

pub fn exec(ctx: &Ctx<'_>, args: &RunArgs) -> anyhow::Result<()> {
    let opts = RunOptions {
        path: args.path.clone(),
        only: args.only.clone(),
        keep_going: args.keep_going,
        force: args.force,
        allow_dirty: args.allow_dirty,
        resume: args.resume.clone(),
        verbose: ctx.verbose > 0,
    };
    super::block_on(async {
        let (handle, cancel) = Cancel::new();
        tokio::spawn(watch_interrupts(handle, ctx.printer.clone()));
        spec::run(ctx, &opts, cancel).await
    })?
}
