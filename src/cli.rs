//! The command line, as clap types. No logic lives here: commands read these values and
//! `settings` turns the ones that are settings into the flag layer.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::printer::{ColorChoice, OutputFormat};

const ABOUT: &str = "Improve a code base in verified steps with Claude";

const LONG_ABOUT: &str = "\
Improve a code base in verified steps with Claude.

mmm asks Claude what is weakest in a repository, lets it edit files through tools that mmm
runs inside the repository, runs the project's own build, lint and tests, and keeps a change
only when they pass. Settings come from defaults, ~/.config/mmm/config.toml, the project's
.mmm/config.toml, MMM_* environment variables and flags, in that order.";

const EXAMPLES: &str = "\
Examples:
  mmm init                          Write .mmm/config.toml with every setting explained
  mmm analyze                       What this project is, how to build and test it, what is weakest
  mmm config show                   Show every setting and where its value came from
  mmm models                        List the models your API key can use
  mmm -c model=claude-opus-5 config show
  mmm completions zsh > ~/.zfunc/_mmm";

#[derive(Debug, Parser)]
#[command(name = "mmm", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log detail on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Output format: readable text, or one JSON object per line on stdout
    #[arg(long, value_enum, default_value_t = OutputFormat::Human, global = true, value_name = "FORMAT")]
    pub output: OutputFormat,

    /// When to use colour (auto: on a terminal, unless NO_COLOR is set)
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Run as if mmm was started in DIR
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub directory: Option<PathBuf>,

    /// Set a setting for this run, above every other layer (repeatable): -c target=9
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse a project: languages, build/test commands, structure, health score
    #[command(after_help = "\
Examples:
  mmm analyze                       Analyse the current repository (cached by HEAD)
  mmm analyze ../other-project      Analyse another directory
  mmm analyze --no-cache            Analyse afresh, ignoring .mmm/cache/analysis.json
  mmm analyze --output json | jq .checks")]
    Analyze(AnalyzeArgs),

    /// Show and check settings
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Create .mmm/config.toml and .mmm/.gitignore in this project
    #[command(after_help = "\
Examples:
  mmm init            Create the files; an existing file is left as it is
  mmm init --force    Rewrite both files with the defaults")]
    Init(InitArgs),

    /// List the Claude models your API key can use
    #[command(after_help = "\
Examples:
  mmm models                          Table of model ids, names and release dates
  mmm models --output json            One JSON object per model
  mmm models --output json | jq -r .id")]
    Models,

    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  mmm completions bash > ~/.local/share/bash-completion/completions/mmm
  mmm completions zsh > ~/.zfunc/_mmm
  mmm completions fish > ~/.config/fish/completions/mmm.fish")]
    Completions(CompletionsArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting with its value and where it came from
    #[command(after_help = "\
Examples:
  mmm config show
  mmm config show --output json
  MMM_TARGET=9 mmm config show      See an environment variable take effect")]
    Show,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The project directory (default: the repository root, else the current directory)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Analyse afresh, without reading or writing .mmm/cache/analysis.json
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Rewrite the files even if they exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name());
                if sub.has_subcommands() {
                    walk(sub, &name);
                } else {
                    let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                    assert!(help.contains("Examples:"), "`{name}` has no example in its help");
                }
                assert!(sub.get_about().is_some(), "`{name}` has no summary");
            }
        }
        walk(&Cli::command(), "mmm");
    }
}
