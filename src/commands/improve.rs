//! `mmm improve`: its flags (those that are settings go through the settings' flag layer,
//! so they are checked and shown like any other value), what the session is given (typed
//! settings, the model, the terminal as observer, Ctrl+C as a cancellation token), and
//! what the finished session leaves for a pipeline.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::cli::ImproveArgs;
use crate::git::Git;
use crate::hooks::HookRunner;
use crate::llm::{AnthropicClient, Model, OpenAiClient, Pricing};
use crate::session::engine::Env;
use crate::session::exit_result;
use crate::session::improve::{self, ImproveOptions};
use crate::session::parallel::ParallelOptions;
use crate::settings::session::SessionConfig;

pub fn exec(ctx: &Ctx<'_>, args: &ImproveArgs) -> anyhow::Result<()> {
    let opts = ImproveOptions {
        focus: args.focus.clone(),
        allow_dirty: args.session.allow_dirty,
        resume: args.resume.clone(),
        use_cache: !args.no_cache,
    };
    let git = Git::open(&ctx.cwd)?;
    let config = SessionConfig::resolve(&ctx.settings);
    if args.dry_run {
        let model = if config.has_credentials { Some(model(ctx)?) } else { None };
        let plan = super::block_on(improve::dry_run(&git, &config, model, &opts))??;
        return ctx.printer.report(&plan);
    }
    let model = model(ctx)?;
    let pricing = Pricing::from_settings(&ctx.settings)?;
    if let Some(workers) = args.parallel {
        return parallel(ctx, args, git, model, &config, &pricing, workers);
    }
    let finished = super::block_on(async {
        let (env, hooks) = session_env(ctx, &git, model, &config);
        let finished = improve::run(env, &config, &pricing, &opts).await;
        let hooked = hooks.finish().await;
        finished.and_then(|f| hooked.map(|()| f))
    })??;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let records = std::slice::from_ref(&finished.record);
    crate::ci::publish::publish(ctx.printer, &git, records, "mmm improve", &args.results, &env)?;
    exit_result(finished, "improve", args.fail_under)
}

/// What a run's sessions are given: the terminal (and the index, alerts and hooks) as
/// observer, and Ctrl+C as the token (watched from here on; call it inside the runtime). The
/// hook runner must be finished when the run ends.
fn session_env(ctx: &Ctx<'_>, git: &Git, model: Arc<dyn Model>, config: &SessionConfig) -> (Env, Arc<HookRunner>) {
    let cancel = CancellationToken::new();
    tokio::spawn(watch_interrupts(cancel.clone(), ctx.printer.clone()));
    let hooks = super::run::observer(ctx, git, &cancel);
    let env = Env::new(git.clone(), model, hooks.clone(), cancel, config);
    (env, hooks)
}

/// `--parallel N`: the run's workers share the terminal, the budget and Ctrl+C; one line
/// per worker at the end.
fn parallel(
    ctx: &Ctx<'_>,
    args: &ImproveArgs,
    git: Git,
    model: Arc<dyn Model>,
    config: &SessionConfig,
    pricing: &Pricing,
    workers: u32,
) -> anyhow::Result<()> {
    if workers == 0 && args.resume.is_none() {
        return Err(crate::CliError::usage("--parallel needs the number of workers: --parallel N")
            .with_hint("for example `mmm improve --parallel 4`; `--parallel --resume` continues the last parallel run")
            .into());
    }
    let opts = ParallelOptions {
        workers: workers as usize,
        resume: args.resume.clone(),
        use_cache: !args.no_cache,
        copy: config.parallel_copy.clone(),
    };
    let finished = super::block_on(async {
        let (env, hooks) = session_env(ctx, &git, model, config);
        let finished = crate::session::parallel::run(env, config, pricing, &opts).await;
        let hooked = hooks.finish().await;
        finished.and_then(|f| hooked.map(|()| f))
    })??;
    ctx.printer.report(&finished.report())?;
    finished.exit()
}

/// The model client the settings describe: the `provider`'s (a clear error without a key).
pub fn model(ctx: &Ctx<'_>) -> anyhow::Result<Arc<dyn Model>> {
    Ok(match ctx.settings.str("provider") {
        Some("openai") => Arc::new(OpenAiClient::from_settings(&ctx.settings)?),
        _ => Arc::new(AnthropicClient::from_settings(&ctx.settings)?),
    })
}

/// First Ctrl+C: cancel the sessions (each rolls back and stops). Second: exit at once
/// (every state file on disk is still whole: they are written by rename).
pub async fn watch_interrupts(cancel: CancellationToken, printer: crate::printer::Printer) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    printer
        .warn("interrupted: rolling back the current iteration and saving the session (Ctrl+C again to quit at once)");
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("interrupted again: exiting now");
        std::process::exit(crate::Exit::Interrupted.code());
    }
}
