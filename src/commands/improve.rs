//! `mmm improve`: its flags (those that are settings go through the settings' flag layer,
//! so they are checked and shown like any other value), Ctrl+C handling around the engine
//! in `session::improve`, and what the finished session leaves for a pipeline.

use super::Ctx;
use crate::cli::ImproveArgs;
use crate::git::Git;
use crate::session::improve::{self, ImproveOptions};
use crate::session::{Cancel, CancelHandle, exit_result};

pub fn exec(ctx: &Ctx<'_>, args: &ImproveArgs) -> anyhow::Result<()> {
    let opts = ImproveOptions {
        focus: args.focus.clone(),
        allow_dirty: args.session.allow_dirty,
        dry_run: args.dry_run,
        resume: args.resume.clone(),
        use_cache: !args.no_cache,
        verbose: ctx.verbose > 0,
    };
    let finished = super::block_on(async {
        let (handle, cancel) = Cancel::new();
        tokio::spawn(watch_interrupts(handle, ctx.printer.clone()));
        improve::run(ctx, &opts, cancel).await
    })??;
    let Some(record) = finished else { return Ok(()) };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let records = std::slice::from_ref(&record);
    crate::ci::publish::publish(ctx.printer, &Git::open(&ctx.cwd)?, records, "mmm improve", &args.results, &env)?;
    exit_result(&record, "improve", args.fail_under)
}

/// First Ctrl+C: ask the session to roll back and stop. Second: exit at once (every state
/// file on disk is still whole: they are written by rename).
pub async fn watch_interrupts(handle: CancelHandle, printer: crate::printer::Printer) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    printer
        .warn("interrupted: rolling back the current iteration and saving the session (Ctrl+C again to quit at once)");
    handle.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("interrupted again: exiting now");
        std::process::exit(crate::Exit::Interrupted.code());
    }
}
