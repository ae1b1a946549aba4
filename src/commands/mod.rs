//! One file per command, each exposing an `exec` that takes the resolved context and the
//! command's own arguments. This file builds that context (working directory, settings)
//! once and dispatches.

mod analyze;
mod clean;
mod completions;
mod config;
mod diff;
mod history;
mod improve;
mod init;
mod man;
mod merge;
mod models;
mod plugins;
mod projects;
mod report;
mod run;
mod specs;
mod stats;
mod status;
mod undo;
mod watch;
mod workflow;

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{Cli, Command, ConfigCommand, PluginsCommand, SpecCommand, WorkflowCommand};
use crate::printer::Printer;
use crate::settings::{FlagValue, Inputs, Settings};

/// What every command gets: where it runs, the settings, the printer and `-v`.
pub struct Ctx<'a> {
    pub cwd: PathBuf,
    pub settings: Settings,
    pub printer: &'a Printer,
    pub verbose: u8,
}

/// Runs the parsed command line.
pub fn exec(cli: Cli, printer: &Printer) -> anyhow::Result<()> {
    // The sandbox helper confines itself and execs its command: nothing else runs first.
    if let Command::Sandbox(args) = &cli.command {
        return crate::sandbox::helper::exec(args);
    }
    // Completion scripts need no settings, so a broken config file cannot stop them.
    if let Command::Completions(args) = &cli.command {
        return completions::exec(printer, args);
    }
    // Nor can it stop the manual.
    if let Command::Man(args) = &cli.command {
        let mut cwd = std::env::current_dir().context("reading the current directory")?;
        if let Some(dir) = &cli.global.directory {
            cwd = cwd.join(dir);
        }
        return man::exec(printer, &cwd, args);
    }

    let mut flags = cli.global.overrides.iter().map(|s| FlagValue::parse_override(s)).collect::<Result<Vec<_>, _>>()?;
    let setting_flags = match &cli.command {
        Command::Improve(args) => args.setting_flags(),
        Command::Run(args) => args.session.setting_flags(),
        Command::Workflow(WorkflowCommand::Run(args)) => args.setting_flags(),
        _ => Vec::new(),
    };
    flags.extend(setting_flags.into_iter().map(|(key, text, flag)| FlagValue {
        key: key.to_string(),
        text,
        flag: flag.to_string(),
    }));
    let inputs = Inputs::from_process(flags, cli.global.directory.as_deref())?;
    // Checking reports every problem of the settings, so it cannot need them resolved.
    if let Command::Config(ConfigCommand::Check) = &cli.command {
        return config::check(printer, &inputs);
    }
    let settings = Settings::load(&inputs).context("resolving settings")?;
    // Whatever the key is, it never reaches the model or a log, even if it appears in a
    // file the model reads or in a command's output.
    for secret in ["api_key", "auth_token", "openai_api_key"].into_iter().filter_map(|k| settings.str(k)) {
        crate::redact::add_secret(secret);
    }
    // Nor does any process mmm starts see the variable that holds it.
    if let Some(var) = settings.str("api_key_env") {
        crate::exec::hide_credential(var);
    }
    crate::redact::add_env_secrets(&inputs.env);
    for warning in &settings.warnings {
        printer.warn(warning);
    }
    // `state.json` is derived data: a corrupt one is rebuilt, with one warning, before any
    // command that reads it.
    let reads_state = matches!(
        cli.command,
        Command::Improve(_)
            | Command::Run(_)
            | Command::Workflow(WorkflowCommand::Run(_))
            | Command::Specs(_)
            | Command::Status
            | Command::History(_)
    );
    if let Some(root) = settings.repo_root.as_deref().filter(|_| reads_state) {
        let state_file = crate::state::Layout::new(root).state_file();
        if let Some(warning) = crate::state::summary::ProjectState::repair(&state_file)? {
            printer.warn(warning);
        }
    }
    // Whatever may run code the model wrote is confined (or refused, in `required` mode
    // without Landlock) before anything runs.
    let runs_checks =
        matches!(cli.command, Command::Improve(_) | Command::Run(_) | Command::Workflow(WorkflowCommand::Run(_)));
    if runs_checks && let Some(warning) = crate::sandbox::install(&settings, &inputs.env)? {
        printer.warn(warning);
    }
    let ctx = Ctx { cwd: inputs.cwd, settings, printer, verbose: cli.global.verbose };

    match cli.command {
        Command::Analyze(args) => analyze::exec(&ctx, &args),
        Command::Config(ConfigCommand::Show) => config::show(&ctx),
        Command::Config(ConfigCommand::Check) => unreachable!("handled above"),
        Command::Init(args) => init::exec(&ctx, &args),
        Command::Improve(args) => improve::exec(&ctx, &args),
        Command::Run(args) => run::exec(&ctx, &args),
        Command::Specs(args) => specs::list(&ctx, &args),
        Command::Spec(SpecCommand::New(args)) => specs::new(&ctx, &args),
        Command::Workflow(WorkflowCommand::Check(args)) => workflow::check(&ctx, &args),
        Command::Workflow(WorkflowCommand::List(args)) => workflow::list(&ctx, &args),
        Command::Workflow(WorkflowCommand::New(args)) => workflow::new(&ctx, &args),
        Command::Workflow(WorkflowCommand::Show(args)) => workflow::show(&ctx, &args),
        Command::Workflow(WorkflowCommand::Add(args)) => workflow::add(&ctx, &args),
        Command::Workflow(WorkflowCommand::Run(args)) => workflow::run(&ctx, &args),
        Command::Status => status::exec(&ctx),
        Command::History(args) => history::exec(&ctx, &args),
        Command::Diff(args) => diff::exec(&ctx, &args),
        Command::Undo(args) => undo::exec(&ctx, &args),
        Command::Clean(args) => clean::exec(&ctx, &args),
        Command::Merge(args) => merge::exec(&ctx, &args),
        Command::Models => models::exec(&ctx),
        Command::Projects(command) => projects::exec(&ctx, &command),
        Command::Stats(args) => stats::exec(&ctx, &args),
        Command::Report(args) => report::exec(&ctx, &args),
        Command::Plugins(PluginsCommand::List) => plugins::list(&ctx),
        Command::Plugins(PluginsCommand::Import(args)) => plugins::import(&ctx, &args),
        Command::Plugins(PluginsCommand::Docs(args)) => plugins::docs(&ctx, &args),
        Command::Plugins(PluginsCommand::Add(args)) => plugins::add(&ctx, &args),
        Command::Plugins(PluginsCommand::Remove(args)) => plugins::remove(&ctx, &args.name),
        Command::Plugins(PluginsCommand::Update(args)) => plugins::update(&ctx, &args),
        Command::Plugins(PluginsCommand::Enable(args)) => plugins::enable(&ctx, &args.name, true),
        Command::Plugins(PluginsCommand::Disable(args)) => plugins::enable(&ctx, &args.name, false),
        Command::Completions(_) | Command::Man(_) | Command::Sandbox(_) => unreachable!("handled above"),
    }
}

/// Runs a command's async work (API calls, checks) to completion on a runtime of its own.
/// Multi-threaded, so the agent can run a tool's blocking file I/O in place.
pub fn block_on<F: Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(future))
}
