//! One file per command, each exposing an `exec` that takes the resolved context and the
//! command's own arguments. This file builds that context (working directory, settings)
//! once and dispatches.

mod analyze;
mod completions;
mod config;
mod init;
mod models;

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::error::CliError;
use crate::printer::Printer;
use crate::settings::{FlagValue, Inputs, Settings};

/// What every command gets: where it runs, the settings, and the printer.
pub struct Ctx<'a> {
    pub cwd: PathBuf,
    pub settings: Settings,
    pub printer: &'a Printer,
}

/// Runs the parsed command line.
pub fn exec(cli: Cli, printer: &Printer) -> anyhow::Result<()> {
    if let Some(dir) = &cli.global.directory {
        std::env::set_current_dir(dir).map_err(|e| {
            CliError::usage(format!("cannot run in {}: {e}", dir.display()))
                .with_hint("`-C` takes an existing directory")
        })?;
    }
    // Completion scripts need no settings, so a broken config file cannot stop them.
    if let Command::Completions(args) = &cli.command {
        return completions::exec(printer, args);
    }

    let flags = cli.global.overrides.iter().map(|s| FlagValue::parse_override(s)).collect::<Result<Vec<_>, _>>()?;
    let inputs = Inputs::from_process(flags)?;
    let settings = Settings::load(&inputs).context("resolving settings")?;
    for warning in &settings.warnings {
        printer.warn(warning);
    }
    let ctx = Ctx { cwd: inputs.cwd, settings, printer };

    match cli.command {
        Command::Analyze(args) => analyze::exec(&ctx, &args),
        Command::Config(ConfigCommand::Show) => config::show(&ctx),
        Command::Init(args) => init::exec(&ctx, &args),
        Command::Models => models::exec(&ctx),
        Command::Completions(_) => unreachable!("handled above"),
    }
}

/// Runs a command's async work (API calls) to completion on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}
