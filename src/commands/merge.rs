//! `mmm merge`: its flags, Ctrl+C as a cancellation token, the report and the exit. The
//! merging itself is [`crate::session::merge`].

use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::cli::MergeArgs;
use crate::git::Git;
use crate::session::merge::{self, MergeOptions};
use crate::settings::session::SessionConfig;

pub fn exec(ctx: &Ctx<'_>, args: &MergeArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let config = SessionConfig::resolve(&ctx.settings);
    let opts = MergeOptions {
        sessions: args.sessions.clone(),
        branches: args.branches.clone(),
        into: args.into.clone(),
        remote: args.remote.clone(),
        push: args.push,
    };
    let report = super::block_on(async {
        let cancel = CancellationToken::new();
        let watch = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                watch.cancel();
            }
        });
        merge::run(&git, &config, &opts, &cancel).await
    })??;
    ctx.printer.report(&report)?;
    report.exit()
}
