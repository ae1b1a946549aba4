//! `mmm improve`: its flags (those that are settings go through the settings' flag layer,
//! so they are checked and shown like any other value), what the session is given (typed
//! settings, the model, the terminal as observer, Ctrl+C as a cancellation token), and
//! what the finished session leaves for a pipeline.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::cli::ImproveArgs;
use crate::git::Git;
use crate::llm::{AnthropicClient, Model, OpenAiClient, Pricing};
use crate::session::engine::Env;
use crate::session::exit_result;
use crate::session::improve::{self, ImproveOptions};
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
    let finished = super::block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(watch_interrupts(cancel.clone(), ctx.printer.clone()));
        let hooks = super::run::observer(ctx, &git, &cancel);
        let env = Env {
            git: git.clone(),
            model,
            observer: hooks.clone(),
            cancel,
            secret_files: config.secret_files.clone(),
            protect: config.protect.clone(),
            cache_refresh: config.cache_refresh,
            command_tools: config.command_tools.clone(),
            mcp: config.mcp.clone(),
        };
        let finished = improve::run(env, &config, &pricing, &opts).await;
        let hooked = hooks.finish().await;
        finished.and_then(|f| hooked.map(|()| f))
    })??;
    let env: Vec<(String, String)> = std::env::vars().collect();
    let records = std::slice::from_ref(&finished.record);
    crate::ci::publish::publish(ctx.printer, &git, records, "mmm improve", &args.results, &env)?;
    exit_result(finished, "improve", args.fail_under)
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
