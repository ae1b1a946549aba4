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
  mmm diff                          What the last session changed
  mmm undo                          Take the last session's work back out
  mmm -c model=claude-opus-5 config show
  mmm completions zsh > ~/.zfunc/_mmm";

#[derive(Debug, Parser)]
#[command(name = "mmm", version = env!("VERSION_WITH_COMMIT"), about = ABOUT, long_about = LONG_ABOUT)]
#[command(after_help = format!("{EXAMPLES}\n\n{}", crate::error::Exit::help_text()))]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Sessions also show the model's text; more log detail on stderr (-v info, -vv debug, -vvv trace)
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

    /// Run unattended (also when CI=true): no spinners, timestamped progress on stderr
    #[arg(long, global = true)]
    pub ci: bool,

    /// Set a setting for this run, above every other layer (repeatable): -c target=9
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE", global = true)]
    pub overrides: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Improve the repository in verified steps: review, edit, check, commit or roll back
    #[command(after_help = "\
Examples:
  mmm improve                           Up to 10 iterations on a new mmm/improve-... branch
  mmm improve --target 9 --budget-usd 2 Stop at score 9 or after $2 of API use
  mmm improve --focus \"error handling\"  Steer the review
  mmm improve --dry-run                 Analyze, run the checks and review; change nothing
  mmm improve --resume                  Continue the last interrupted session
  mmm improve --parallel 4 --budget-usd 8
                                        Four workers on disjoint files, $8 in all
  mmm improve --parallel --resume       Continue every interrupted worker of the last parallel run
  mmm improve --ci --summary-file report.md --fail-under 7 --push
                                        Unattended, with a report, a gate and a branch to review")]
    Improve(Box<ImproveArgs>),

    /// Implement spec files until the checks pass and every criterion is met
    #[command(after_help = "\
Examples:
  mmm run specs/014-retry-budget.md     Implement one spec on a new mmm/spec-... branch, commit it
  mmm run specs/                        Every pending spec, in dependency order
  mmm run specs/ --only 014-retry-budget --force
  mmm run specs/ --keep-going --budget-usd 5
  mmm run --resume                      Run the last interrupted spec session again")]
    Run(RunArgs),

    /// List the specs with their status, dependencies and last run
    #[command(after_help = "\
Examples:
  mmm specs                  The specs in ./specs of this repository
  mmm specs docs/specs       Another directory
  mmm specs --output json    One JSON object per spec")]
    Specs(SpecsArgs),

    /// Write spec files
    #[command(
        subcommand,
        after_help = "\
Examples:
  mmm spec new \"Retry budget\"        Write specs/NNN-retry-budget.md to fill in"
    )]
    Spec(SpecCommand),

    /// Check and run workflows: steps in YAML with conditions, retries and templates
    #[command(
        subcommand,
        after_help = "\
Examples:
  mmm workflow new tidy --from tidy           Write .mmm/workflows/tidy.yml from a template to edit
  mmm workflow list                           The workflows in .mmm/workflows/
  mmm workflow check tidy                     Check .mmm/workflows/tidy.yml: exit 2 and file:line:col per problem
  mmm workflow run tidy --input focus=docs    Run it with an input
  mmm workflow run ci/release.yml --output json

A workflow is YAML: name, description, inputs, and steps, each with exactly one of
shell, improve, spec, claude or workflow. See docs/workflows.md."
    )]
    Workflow(WorkflowCommand),

    /// Show the last session and the totals so far
    #[command(after_help = "\
Examples:
  mmm status
  mmm status --output json")]
    Status,

    /// List past sessions, or show every iteration of one
    #[command(after_help = "\
Examples:
  mmm history                        One line per session
  mmm history 20261124-061500-3f2a   Every iteration of that session
  mmm history 20261124-061500-3f2a --transcript --iteration 2
                                     What the model was sent and answered in iteration 2
  mmm history 20261124-061500-3f2a --profile --trace-file trace.json
                                     Where the time and money went, slowest first; the trace
                                     opens in https://ui.perfetto.dev or chrome://tracing
The id of a workflow run (from `mmm workflow show`) works with --profile too: its steps and
their sessions.")]
    History(HistoryArgs),

    /// Show what a session changed: git's diff of its commits, or of one iteration's
    #[command(after_help = "\
Examples:
  mmm diff                           Everything the last session committed, as one diff
  mmm diff 20261124-061500-3f2a      Everything that session committed
  mmm diff 20261124-061500-3f2a --iteration 2
                                     Iteration 2's commit (git show)
  mmm diff --output json | jq -r .diff")]
    Diff(DiffArgs),

    /// Take a session's work back out: delete its branch, or revert its in-place commits
    #[command(after_help = "\
Examples:
  mmm undo                           Undo the last session (its mmm/... branch is deleted)
  mmm undo 20261124-061500-3f2a      Undo that session
  mmm undo --force                   Delete the branch even if it was merged or pushed

A session on a branch of its own loses that branch (mmm switches back to the branch it
started from first). An --in-place session's commits are reverted by new commits, newest
first; history is never rewritten.")]
    Undo(UndoArgs),

    /// Remove what sessions left behind: empty mmm/... branches, stale worktrees, WIP refs
    #[command(after_help = "\
Examples:
  mmm clean --dry-run                List what would be removed; change nothing
  mmm clean                          Remove it
  mmm clean --output json            One JSON object listing what was removed

A branch with commits of its own, the checked-out branch and a running session's branch
are never removed.")]
    Clean(CleanArgs),

    /// Merge session branches with git (no work tree touched), then check the result
    #[command(after_help = "\
Examples:
  mmm merge                              The last parallel run's branches, into a new mmm/merge-... branch
  mmm merge 20261202-171500-3f2a         That parallel run's (or that session's) branches
  mmm merge --branches 'mmm/improve-*' --into mmm/all
  mmm merge --remote origin --branches 'mmm/shard-<plan>-*' --push

Each branch is merged with `git merge-tree`; one that conflicts is left out and listed with its
files. The checks run on the merged tree in a temporary work tree; the target branch moves only
when they pass. Exit 0: everything merged and checked; 1: a branch conflicted or the checks fail.")]
    Merge(MergeArgs),

    /// Analyze a project: languages, build/test commands, structure, health score
    #[command(after_help = "\
Examples:
  mmm analyze                       Analyze the current repository (cached by HEAD)
  mmm analyze ../other-project      Analyze another directory
  mmm analyze --no-cache            Analyze afresh, ignoring .mmm/cache/analysis.json
  mmm analyze --output json | jq .checks")]
    Analyze(AnalyzeArgs),

    /// MCP servers as plugins: list them, import a .mcp.json, document their tools
    #[command(
        subcommand,
        after_help = "\
Examples:
  mmm plugins list                  The [mcp.<name>] servers the settings declare
  mmm plugins import                Add the stdio servers of ./.mcp.json to .mmm/config.toml
  mmm plugins docs -o docs/tools    One Markdown page per server's tools, and one for mmm's own
  mmm plugins add https://github.com/org/marketplace#github --yes
                                    Install a marketplace plugin, pinned to the commit
  mmm plugins update github         Show what changed upstream, then move the pin

A server's tools are offered to the model as mcp__<server>__<tool> while it edits, never
in reviews or verdicts. See docs/plugins.md."
    )]
    Plugins(PluginsCommand),

    /// Show and check settings
    #[command(
        subcommand,
        after_help = "\
Examples:
  mmm config show                   Every setting, its value and where it came from
  mmm config check                  Every problem in the settings files, environment and flags"
    )]
    Config(ConfigCommand),

    /// Create .mmm/config.toml and .mmm/.gitignore in this project
    #[command(after_help = "\
Examples:
  mmm init            Create the files; an existing file is left as it is
  mmm init --force    Rewrite both files with the defaults")]
    Init(InitArgs),

    /// Register projects in the global index, list, remove, reindex them
    #[command(
        subcommand,
        after_help = "\
Examples:
  mmm projects add                  Register the current repository
  mmm projects add ../other         Register another repository
  mmm projects list                 Every registered project and its sessions
  mmm projects remove other         Forget a project (by name or root); its .mmm/ stays
  mmm projects reindex              Rebuild the index from every project's .mmm/ files
  mmm projects reindex . ../other   The same, registering these repositories first

The index is $XDG_DATA_HOME/mmm/mmm.db (~/.local/share/mmm/mmm.db). A session registers its
repository when it ends."
    )]
    Projects(ProjectsCommand),

    /// Sessions, outcomes, tokens and cost across registered projects
    #[command(after_help = "\
Examples:
  mmm stats                         Totals over every indexed session
  mmm stats --since 2026-12-01      Sessions started on or after that day (UTC)
  mmm stats --by project            One row per project (also model, day, command, outcome)
  mmm stats --by day --output json  Daily figures as JSON; money in *_usd fields

Figures come from the index, which every session updates as it ends; `mmm projects reindex`
rebuilds it from the .mmm/ files.")]
    Stats(StatsArgs),

    /// Report sessions as one self-contained HTML page, or as Markdown
    #[command(after_help = "\
Examples:
  mmm report -o report.html         The last session as one HTML file (no script, no URL)
  mmm report 20261124-061500-3f2a -o s.html
  mmm report --since 2026-12-01 -o week.html
  mmm report --format md            The last session as Markdown on stdout (the CI report)")]
    Report(ReportArgs),

    /// List the Claude models your API key can use
    #[command(after_help = "\
Examples:
  mmm models                          Table of model ids, names and release dates
  mmm models --output json            One JSON object per model
  mmm models --output json | jq -r .id")]
    Models,

    /// Print the man page, or write one page per command to a directory
    #[command(after_help = "\
Examples:
  mmm man | man -l -                  Read the manual now
  mmm man > mmm.1                     The page for mmm and its options, in roff
  mmm man --dir ~/.local/share/man/man1
                                      Install mmm.1, mmm-improve.1, ... for `man mmm-improve`")]
    Man(ManArgs),

    /// Print a shell completion script
    #[command(after_help = "\
Examples:
  mmm completions bash > ~/.local/share/bash-completion/completions/mmm
  mmm completions zsh > ~/.zfunc/_mmm
  mmm completions fish > ~/.config/fish/completions/mmm.fish")]
    Completions(CompletionsArgs),

    /// Internal: confine this process (Landlock, seccomp), then exec the command. mmm starts
    /// its checks, hooks and command tools through it.
    #[command(
        name = "__sandbox",
        hide = true,
        after_help = "\
Examples:
  mmm __sandbox --write . -- sh -c 'cargo test'
                                      Run `cargo test` able to write only under . (and no network)"
    )]
    Sandbox(SandboxArgs),
}

/// `mmm __sandbox`: what the sandbox helper confines itself to before it execs.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// `required` fails when the file system cannot be confined; `best-effort` goes on.
    #[arg(long, default_value = "required")]
    pub mode: String,
    /// A directory (or file) the command may write under; repeatable.
    #[arg(long = "write", value_name = "PATH")]
    pub write: Vec<std::path::PathBuf>,
    /// Allow IPv4 and IPv6 sockets.
    #[arg(long)]
    pub network: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ImproveArgs {
    /// Stop once the review scores at least this (0-10) with the checks passing [setting: target]
    #[arg(long, value_name = "SCORE")]
    pub target: Option<String>,

    /// Most iterations to run [setting: max_iterations]
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<String>,

    /// What the review should concentrate on: an area or free text
    #[arg(long, value_name = "TEXT")]
    pub focus: Option<String>,

    /// Analyze, run the checks and review (if a key is set), then print the plan; change nothing
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,

    /// Continue a stopped session (the last one, or SESSION) on its branch, with its settings
    /// (`--model` or `-c model=NAME` switches its model)
    #[arg(long, value_name = "SESSION", num_args = 0..=1)]
    pub resume: Option<Option<String>>,

    /// Analyze the project afresh instead of reusing .mmm/cache/analysis.json
    #[arg(long)]
    pub no_cache: bool,

    /// Exit with code 3 when the final score is below SCORE
    #[arg(long, value_name = "SCORE", value_parser = parse_score)]
    pub fail_under: Option<f64>,

    /// Review once, split the issues by file among N workers, each in a work tree of its own
    /// under .mmm/worktrees/ on its own branch; with --resume, continue the last parallel run
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "0",
          value_parser = clap::value_parser!(u32).range(0..=64),
          conflicts_with_all = ["dry_run", "focus", "fail_under", "in_place", "allow_dirty"])]
    pub parallel: Option<u32>,

    #[command(flatten)]
    pub session: SessionArgs,

    #[command(flatten)]
    pub results: ResultArgs,
}

/// Options every session engine takes (`mmm improve`, `mmm run`).
#[derive(Debug, Args, Clone, Default)]
pub struct SessionArgs {
    /// The Claude model to use [setting: model]
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Stop once the API cost reaches this many US dollars [setting: budget_usd]
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<String>,

    /// Stop once this many tokens have been used [setting: max_tokens]
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<String>,

    /// Stop after this much time, e.g. 30m or 2h [setting: time_limit]
    #[arg(long, value_name = "DURATION")]
    pub time_limit: Option<String>,

    /// Commit uncommitted changes first, as a separate "snapshot before mmm" commit
    #[arg(long)]
    pub allow_dirty: bool,

    /// Work on the current branch instead of a new mmm/... branch [setting: in_place]
    #[arg(long)]
    pub in_place: bool,
}

/// What sessions leave for a pipeline: a report and a branch to review.
#[derive(Debug, Args, Clone, Default)]
pub struct ResultArgs {
    /// Write a Markdown report of the session(s) to PATH (also appended to $GITHUB_STEP_SUMMARY when set)
    #[arg(long, value_name = "PATH")]
    pub summary_file: Option<std::path::PathBuf>,

    /// Push each session branch that has commits to origin (never forced)
    #[arg(long)]
    pub push: bool,
}

fn parse_score(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| (0.0..=10.0).contains(s))
        .ok_or_else(|| format!("`{text}` is not a score from 0 to 10"))
}

impl ImproveArgs {
    /// The flags that are settings, as (key, value, flag) for the settings' flag layer.
    pub fn setting_flags(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut flags = self.session.setting_flags();
        flags.extend(set_flags([
            ("target", &self.target, "--target"),
            ("max_iterations", &self.max_iterations, "--max-iterations"),
        ]));
        flags
    }
}

impl SessionArgs {
    /// The flags that are settings, as (key, value, flag) for the settings' flag layer.
    pub fn setting_flags(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut flags = set_flags([
            ("model", &self.model, "--model"),
            ("budget_usd", &self.budget_usd, "--budget-usd"),
            ("max_tokens", &self.max_tokens, "--max-tokens"),
            ("time_limit", &self.time_limit, "--time-limit"),
        ]);
        if self.in_place {
            flags.push(("in_place", "true".into(), "--in-place"));
        }
        flags
    }
}

/// The `(key, value, flag)` triples whose flag was given.
fn set_flags<const N: usize>(
    flags: [(&'static str, &Option<String>, &'static str); N],
) -> Vec<(&'static str, String, &'static str)> {
    flags.into_iter().filter_map(|(key, value, flag)| value.clone().map(|v| (key, v, flag))).collect()
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A spec file, or a directory of them (run in dependency order)
    #[arg(value_name = "PATH", required_unless_present = "resume")]
    pub path: Option<PathBuf>,

    /// Run only the spec with this id (from a directory)
    #[arg(long, value_name = "ID")]
    pub only: Option<String>,

    /// Go on with the next spec after one fails (default: stop at the first failure)
    #[arg(long)]
    pub keep_going: bool,

    /// Run specs that are already done
    #[arg(long)]
    pub force: bool,

    /// Run a stopped spec session (the last one, or SESSION) again, on its branch
    /// (`--model` or `-c model=NAME` switches its model)
    #[arg(long, value_name = "SESSION", num_args = 0..=1, conflicts_with_all = ["path", "only"])]
    pub resume: Option<Option<String>>,

    #[command(flatten)]
    pub session: SessionArgs,

    #[command(flatten)]
    pub results: ResultArgs,
}

#[derive(Debug, Args)]
pub struct SpecsArgs {
    /// The spec directory (default: specs/ at the repository root)
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Write specs/NNN-<title>.md: front matter, the goal and an acceptance criteria list to fill in
    #[command(after_help = "\
Examples:
  mmm spec new \"Retry budget\"            Writes specs/001-retry-budget.md (the next free number)
  mmm spec new \"Top N errors\" --dir examples/specs

A spec is Markdown with optional YAML front matter between `---` lines:
  id, title, depends_on (list of ids), validate (extra check commands), max_iterations.
Its acceptance criteria are the `- [ ]` items under an \"Acceptance Criteria\" heading.")]
    New(SpecNewArgs),
}

#[derive(Debug, Args)]
pub struct SpecNewArgs {
    /// The spec's title
    pub title: String,

    /// Where to write it (default: specs/ at the repository root)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Check a workflow file and every workflow it runs; change nothing, send nothing
    #[command(after_help = "\
Examples:
  mmm workflow check tidy                      .mmm/workflows/tidy.yml
  mmm workflow check path/to/flow.yml
  mmm workflow check tidy --output json        One JSON object when it is valid

Checked: the schema (unknown keys, types, exactly one kind per step), step ids, every
condition and template (syntax, and each name it reads: a declared input, a field of an
earlier step, a field of run), shell commands with a template in them, JSON Schemas,
spec paths, nested workflows and cycles between them. Exit code 2 with file:line:col
for each problem.")]
    Check(WorkflowCheckArgs),

    /// List the workflows in .mmm/workflows/ (name, steps, description, problems), or the templates
    #[command(after_help = "\
Examples:
  mmm workflow list
  mmm workflow list --templates        The workflows mmm ships, for `mmm workflow new NAME --from TEMPLATE`
  mmm workflow list --output json      One JSON object per workflow file")]
    List(WorkflowListArgs),

    /// Show a workflow: its inputs with their defaults, its steps with their conditions, and how
    /// each step ended in the last recorded run
    #[command(after_help = "\
Examples:
  mmm workflow show tidy                       .mmm/workflows/tidy.yml
  mmm workflow show path/to/flow.yml --output json")]
    Show(WorkflowShowArgs),

    /// Copy a community workflow from a directory or a git repository (pinned to a commit)
    /// into .mmm/workflows/, checked before it is written
    #[command(after_help = "\
Examples:
  mmm workflow add ../shared-workflows#tidy    ../shared-workflows/tidy.yml (or workflows/, .mmm/workflows/)
  mmm workflow add https://github.com/org/flows.git#release --rev v1.2
                                               Cloned at tag v1.2; the commit is written in the file's header
  mmm workflow add file:///srv/flows#tidy --name tidy-shared

SOURCE#NAME: a directory on disk, or any URL git can clone (its default branch, or --rev).
The file is looked for as NAME.yml or NAME.yaml at the top, in .mmm/workflows/ and in
workflows/. It must pass `mmm workflow check` or nothing is written. A community workflow
runs shell commands of its own: read it (`mmm workflow show NAME`) before you run it.")]
    Add(WorkflowAddArgs),

    /// Write .mmm/workflows/NAME.yml from a template to edit
    #[command(after_help = "\
Examples:
  mmm workflow new tidy --from tidy            The lint-then-improve workflow, to edit
  mmm workflow new cover --from test-coverage
  mmm workflow new mine                        A small workflow of each kind of step (the `blank` template)
  mmm workflow list --templates                Every template with what it does")]
    New(WorkflowNewArgs),

    /// Run a workflow's steps in order: shell commands, improve and spec sessions, claude requests
    #[command(after_help = "\
Examples:
  mmm workflow run tidy                        .mmm/workflows/tidy.yml with its input defaults
  mmm workflow run tidy --input focus=\"error handling\" --input budget=2
  mmm workflow run flow.yml --budget-usd 3     One budget for every step of the run
  mmm workflow run tidy --dry-run --assume lint=failure
                                               What each step would do if lint failed; runs nothing
  mmm workflow run flow.yml --output json      One JSON object per event (docs/events.md)
  mmm workflow run tidy --resume               Continue the last stopped run from the step it was on
  mmm workflow run tidy --from fix-lint        A new run from fix-lint; earlier steps keep the last run's results
  mmm workflow run tidy --only notes           Only the notes step

Improve and spec steps commit to one new branch, mmm/workflow-<name>-<timestamp>
(--in-place: the current branch). A shell step gets inputs and earlier steps' results
only as environment variables (MMM_INPUT_<NAME>, MMM_STEP_<ID>_OUTCOME, ..._OUTPUT,
MMM_FAILED_STEP); nothing is ever spliced into its command. Each run is recorded in
.mmm/sessions/<run>/workflow.json (every step's state and result) and journaled in its
events.jsonl; an interrupted or killed run resumes with --resume.")]
    Run(WorkflowRunArgs),
}

#[derive(Debug, Args)]
pub struct WorkflowListArgs {
    /// List the templates mmm ships instead
    #[arg(long)]
    pub templates: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowNewArgs {
    /// The workflow's name: the file is .mmm/workflows/NAME.yml
    pub name: String,

    /// The template to start from (`mmm workflow list --templates`)
    #[arg(long, value_name = "TEMPLATE", default_value = "blank")]
    pub from: String,
}

#[derive(Debug, Args)]
pub struct WorkflowAddArgs {
    /// A directory or git URL, `#`, and the workflow's name (its file name without .yml)
    #[arg(value_name = "SOURCE#NAME")]
    pub source: String,

    /// The git revision (commit, tag, branch) to copy it from; default: the default branch
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,

    /// Write it as .mmm/workflows/NAME.yml instead of under its own name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkflowShowArgs {
    /// A workflow file, or the name of one in .mmm/workflows/
    #[arg(value_name = "NAME|PATH")]
    pub workflow: String,
}

#[derive(Debug, Args)]
pub struct WorkflowCheckArgs {
    /// A workflow file, or the name of one in .mmm/workflows/
    #[arg(value_name = "NAME|PATH")]
    pub workflow: String,
}

#[derive(Debug, Args)]
pub struct WorkflowRunArgs {
    /// A workflow file, or the name of one in .mmm/workflows/
    #[arg(value_name = "NAME|PATH")]
    pub workflow: String,

    /// Give an input a value (repeatable); typed as the workflow declares it
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// The model for steps that do not name one [setting: model]
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Stop spending once the whole run has cost this many US dollars [setting: budget_usd]
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<String>,

    /// Sessions commit to the current branch instead of a new mmm/workflow-... branch [setting: in_place]
    #[arg(long)]
    pub in_place: bool,

    /// Run nothing and send nothing: print each step as it would run (its condition with the
    /// values it read, the command and environment of a shell step, rendered prompts)
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: assume the step ends as OUTCOME (success or failure; default: success)
    #[arg(long, value_name = "STEP=OUTCOME", requires = "dry_run")]
    pub assume: Vec<String>,

    /// Continue a stopped run (the workflow's last one that did not succeed, or RUN) from the
    /// step it was on, with its inputs, on its branch; finished steps keep their results
    #[arg(long, value_name = "RUN", num_args = 0..=1, conflicts_with_all = ["inputs", "from", "only", "dry_run", "in_place"])]
    pub resume: Option<Option<String>>,

    /// Start a new run at STEP; earlier steps do not run and keep the results of the
    /// workflow's last recorded run (skipped when it has none)
    #[arg(long, value_name = "STEP", conflicts_with_all = ["only", "dry_run"])]
    pub from: Option<String>,

    /// Run STEP alone (when its condition holds); the other steps keep the results of the
    /// workflow's last recorded run (skipped when it has none)
    #[arg(long, value_name = "STEP", conflicts_with = "dry_run")]
    pub only: Option<String>,
}

impl WorkflowRunArgs {
    /// The flags that are settings, as (key, value, flag) for the settings' flag layer.
    pub fn setting_flags(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut flags =
            set_flags([("model", &self.model, "--model"), ("budget_usd", &self.budget_usd, "--budget-usd")]);
        if self.in_place {
            flags.push(("in_place", "true".into(), "--in-place"));
        }
        flags
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCommand {
    /// Register a repository (default: the current one)
    #[command(after_help = "\
Examples:
  mmm projects add                  Register the repository of the current directory
  mmm projects add ../other         Register another repository")]
    Add {
        /// A directory inside the repository
        path: Option<PathBuf>,
    },
    /// List the registered projects
    #[command(after_help = "\
Examples:
  mmm projects list
  mmm projects list --output json | jq -r '.projects[].root'")]
    List,
    /// Forget a project and its sessions in the index (its .mmm/ files are left alone)
    #[command(after_help = "\
Examples:
  mmm projects remove other         By name, when one project has it
  mmm projects remove /src/other    By root path")]
    Remove {
        /// The project's name or root path, as `mmm projects list` shows them
        project: String,
    },
    /// Rebuild the index from the .mmm/ files of every registered project (and of PATHs,
    /// registered first)
    #[command(after_help = "\
Examples:
  mmm projects reindex              Every registered project
  mmm projects reindex . ../other   These too (after the database was deleted, say)")]
    Reindex {
        /// Repositories to register and index too
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A session id (from `mmm history`); default: the last session
    #[arg(conflicts_with = "since")]
    pub session: Option<String>,
    /// Every session of this repository started on or after this day (`2026-12-01`, UTC)
    /// or time (RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// `html` (one self-contained page) or `md` (Markdown)
    #[arg(long, value_enum, default_value = "html")]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout (required with --output json)
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Html,
    Md,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only sessions started on or after this day (`2026-12-01`, UTC) or time (RFC 3339)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Also give the figures per project, model, day (UTC), command or outcome
    #[arg(long, value_enum, value_name = "GROUP")]
    pub by: Option<crate::index::stats::By>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A session id (from `mmm history`) to show iteration by iteration
    pub session: Option<String>,
    /// Print the session's conversations with the model: its text, its tool calls and
    /// their results, as sent (redacted)
    #[arg(long, requires = "session")]
    pub transcript: bool,
    /// With --transcript: only the conversations of this iteration
    #[arg(long, value_name = "N", requires = "transcript")]
    pub iteration: Option<u32>,
    /// Print where the session's (or workflow run's) time and money went: every model
    /// request, check, analysis and git operation (and workflow step), slowest first
    #[arg(long, requires = "session", conflicts_with = "transcript")]
    pub profile: bool,
    /// With --profile: also write them as Chrome trace-event JSON (Perfetto, chrome://tracing)
    #[arg(long, value_name = "FILE", requires = "profile")]
    pub trace_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// A session id (from `mmm history`); default: the last session
    pub session: Option<String>,
    /// Only this iteration's commit
    #[arg(long, value_name = "N")]
    pub iteration: Option<u32>,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// A session id (from `mmm history`); default: the last session
    pub session: Option<String>,
    /// Delete the session's branch even if it was merged, pushed or holds other commits
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Session ids or parallel run ids whose branches to merge (default: the last parallel run)
    #[arg(value_name = "SESSIONS", conflicts_with = "branches")]
    pub sessions: Vec<String>,

    /// Merge the branches whose names match GLOB (under the remote's with --remote)
    #[arg(long, value_name = "GLOB")]
    pub branches: Option<String>,

    /// The branch to merge into (made from HEAD if missing; never one checked out)
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,

    /// Fetch from REMOTE first and merge its branches
    #[arg(long, value_name = "REMOTE", requires = "branches")]
    pub remote: Option<String>,

    /// Push the merged branch (to --remote, else origin) once the checks pass
    #[arg(long)]
    pub push: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// List what would be removed without removing anything
    #[arg(long)]
    pub dry_run: bool,
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

    /// Check the settings files, environment and flags: every problem, not just the first
    #[command(after_help = "\
Examples:
  mmm config check                  Check ~/.config/mmm/config.toml, .mmm/config.toml, MMM_* and -c
  mmm config check --output json    One JSON object: what was checked and each problem
  mmm -c model=claude-opus-5 config check

Exit code 0 when nothing is wrong (notes do not count), 2 when something is. A model name
mmm does not know is an error when it looks like a typo of one it knows, else a note.")]
    Check,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the MCP servers the settings files declare
    #[command(after_help = "\
Examples:
  mmm plugins list
  mmm plugins list --output json")]
    List,

    /// Add the stdio servers of a Claude Code .mcp.json as [mcp.<name>] tables
    #[command(after_help = "\
Examples:
  mmm plugins import                    Read ./.mcp.json (at the repository root)
  mmm plugins import ~/work/.mcp.json   Read another file

Servers already configured are left as they are. Variables are passed through by name only:
a value written in .mcp.json is never copied; `${NAME}` for the same name is kept as NAME.")]
    Import(PluginsImportArgs),

    /// Write Markdown for every configured plugin's tools and for mmm's built-in tools
    #[command(after_help = "\
Examples:
  mmm plugins docs                  Into ./plugin-docs/
  mmm plugins docs -o docs/tools    Into docs/tools/

Each configured server is started to list its tools, then stopped. One page per server
(what it runs, the variables it gets, each tool's input as a table) and builtin.md.")]
    Docs(PluginsDocsArgs),

    /// Install a plugin from a marketplace (a git repository), pinned to its commit
    #[command(after_help = "\
Examples:
  mmm plugins add https://github.com/org/marketplace#github
  mmm plugins add ../my-marketplace#run-test --yes     Without asking (CI)

The marketplace is a git repository with .claude-plugin/marketplace.json (Claude Code's
format). The plugin's permissions (what its MCP servers run, the variables they read, the
tools they offer) are shown and must be accepted before it is enabled: interactively, or
with --yes. Installed plugins live in .mmm/plugins/.")]
    Add(PluginsAddArgs),

    /// Uninstall a plugin: its entry and its clone in .mmm/plugins/
    #[command(after_help = "\
Examples:
  mmm plugins remove github")]
    Remove(PluginNameArgs),

    /// Move a plugin to its marketplace's latest commit, showing what changed first
    #[command(after_help = "\
Examples:
  mmm plugins update github          Show the new commit, version and permissions; ask
  mmm plugins update github --yes    Apply without asking

Nothing changes unless the update is accepted; new permissions are listed line by line.")]
    Update(PluginsUpdateArgs),

    /// Offer an installed plugin's tools again
    #[command(after_help = "\
Examples:
  mmm plugins enable github")]
    Enable(PluginNameArgs),

    /// Stop offering an installed plugin's tools (it stays installed and pinned)
    #[command(after_help = "\
Examples:
  mmm plugins disable github")]
    Disable(PluginNameArgs),
}

#[derive(Debug, Args)]
pub struct PluginsAddArgs {
    /// <git-url>#<plugin>: the marketplace repository and the plugin's name in it
    #[arg(value_name = "GIT_URL#NAME")]
    pub spec: String,

    /// Accept the plugin's permissions without asking
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PluginsUpdateArgs {
    /// The installed plugin
    pub name: String,

    /// Apply the update without asking
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct PluginNameArgs {
    /// The installed plugin
    pub name: String,
}

#[derive(Debug, Args)]
pub struct PluginsImportArgs {
    /// The .mcp.json to read (default: .mcp.json at the repository root)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PluginsDocsArgs {
    /// The directory to write the pages to
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "plugin-docs")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The project directory (default: the repository root, else the current directory)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Analyze afresh, without reading or writing .mmm/cache/analysis.json
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
pub struct ManArgs {
    /// Write one page per command (mmm.1, mmm-improve.1, ...) into DIR instead of printing mmm.1
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
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
                }
                let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(help.contains("Examples:"), "`{name}` has no example in its help");
                assert!(sub.get_about().is_some(), "`{name}` has no summary");
            }
        }
        walk(&Cli::command(), "mmm");
    }
}
