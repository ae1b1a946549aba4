//! `mmm run`: its flags (those that are settings go through the settings' flag layer, as
//! for `mmm improve`), what the spec sessions are given, and what the finished sessions
//! leave for a pipeline.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::improve::{model, watch_interrupts};
use crate::cli::RunArgs;
use crate::git::Git;
use crate::hooks::HookRunner;
use crate::llm::Pricing;
use crate::session::spec::{self, RunOptions, Runtime};
use crate::settings::session::SessionConfig;
use crate::state::Layout;
use crate::state::session::SessionRecord;

pub fn exec(ctx: &Ctx<'_>, args: &RunArgs) -> anyhow::Result<()> {
    let opts = RunOptions {
        path: args.path.clone(),
        only: args.only.clone(),
        keep_going: args.keep_going,
        force: args.force,
        allow_dirty: args.session.allow_dirty,
        resume: args.resume.clone(),
    };
    let git = Git::open(&ctx.cwd)?;
    let config = SessionConfig::resolve(&ctx.settings);
    let pricing = Pricing::from_settings(&ctx.settings)?;
    let make_model = || model(ctx);
    let outcome = super::block_on(async {
        let (rt, hooks) = runtime(ctx, &git, &make_model);
        let outcome = spec::run(&rt, &config, &pricing, &opts).await;
        let hooked = hooks.finish().await;
        outcome.and_then(|o| hooked.map(|()| o))
    })??;
    if !outcome.sessions.is_empty() {
        let layout = Layout::new(git.root());
        let records = outcome
            .sessions
            .iter()
            .map(|id| SessionRecord::load(&layout.session_dir(id).join("session.json")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let env: Vec<(String, String)> = std::env::vars().collect();
        crate::ci::publish::publish(ctx.printer, &git, &records, "mmm run", &args.results, &env)?;
    }
    outcome.exit
}

/// What sessions run with from a command: its directory, the work tree, the terminal as
/// observer (with the hooks, whose [`HookRunner::finish`] the caller awaits at the end),
/// Ctrl+C as the cancellation token (watched from now on), and the model. Inside the async
/// runtime.
pub fn runtime<'a>(
    ctx: &Ctx<'_>,
    git: &Git,
    model: &'a (dyn Fn() -> anyhow::Result<Arc<dyn crate::llm::Model>> + Sync),
) -> (Runtime<'a>, Arc<HookRunner>) {
    let cancel = CancellationToken::new();
    tokio::spawn(watch_interrupts(cancel.clone(), ctx.printer.clone()));
    let hooks = observer(ctx, git, &cancel);
    let rt = Runtime { cwd: ctx.cwd.clone(), git: git.clone(), observer: hooks.clone(), cancel, model };
    (rt, hooks)
}

/// The terminal as observer, wrapped by the settings' hooks (which cancel `cancel` when a
/// required one fails).
pub fn observer(ctx: &Ctx<'_>, git: &Git, cancel: &CancellationToken) -> Arc<HookRunner> {
    HookRunner::new(
        super::watch::observer(ctx, git),
        ctx.settings.hooks.clone(),
        git.root().to_path_buf(),
        cancel.clone(),
    )
}
