//! What every policy needs around the engine: the analysis the prompts are built from,
//! the session's settings and price (from typed settings, never by key), preflight (a clean
//! tree, a commit), loading a session for `--resume`, and asking the model for exactly one
//! tool call (the review, the spec verdict).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::Value;

use super::PriceFn;
use super::engine::{Project, Session};
use super::stop::Limits;
use crate::agent::{self, Conversation, Ended, Hooks, ToolReply, ToolRunner};
use crate::analyzer;
use crate::error::CliError;
use crate::git::Git;
use crate::llm::{ContentBlock, Message, Model, Pricing, Tool, Usage};
use crate::redact::redact;
use crate::settings::session::SessionConfig;
use crate::state::Layout;
use crate::state::session::{SessionKind, SessionRecord, SessionSettings};
use crate::state::summary::ProjectState;
use crate::tools::Tools;

/// Analyzes the project at `root` (on the blocking pool: it walks the tree), with the
/// secret files and map budgets of `config`.
pub async fn analyze(root: &Path, config: &SessionConfig, use_cache: bool) -> anyhow::Result<Project> {
    let root = root.to_path_buf();
    let began = std::time::Instant::now();
    let options = analyzer::Options { secret_files: config.secret_files.clone(), ..Default::default() };
    let analysis = tokio::task::spawn_blocking(move || analyzer::load_or_analyze(&root, &options, use_cache))
        .await
        .context("the analysis task failed")??
        .0;
    Ok(Project {
        summary: redact(&analysis.prompt_summary()).into_owned(),
        repo_map: match config.repo_map_tokens {
            0 => String::new(),
            budget => redact(&analysis.repo_map(budget)).into_owned(),
        },
        related_map_tokens: config.related_map_tokens,
        checks: analysis.validation_commands(),
        analysis_ms: began.elapsed().as_millis() as u64,
        map: analysis.map,
    })
}

/// The settings a session runs with: the typed settings, checks from them or the analysis.
pub fn session_settings(
    config: &SessionConfig,
    focus: Option<String>,
    project: &Project,
) -> anyhow::Result<SessionSettings> {
    let checks = if config.checks.is_empty() { project.checks.clone() } else { config.checks.clone() };
    if checks.is_empty() {
        return Err(CliError::usage("mmm found no build, lint or test command to check changes with")
            .with_hint("set the checks in .mmm/config.toml, e.g. `[validate] commands = [\"make test\"]`")
            .into());
    }
    Ok(SessionSettings {
        model: config.model.clone(),
        fallback_model: config.fallback_model.clone(),
        escalate_model: config.escalate_model.clone(),
        narrow_after: config.narrow_after,
        limits: Limits {
            target: config.target,
            max_iterations: config.max_iterations,
            budget_usd: config.budget_usd,
            max_tokens: config.max_tokens,
            time_limit: config.time_limit,
            max_stalled: config.max_stalled,
            max_failures: config.max_failures,
        },
        fix_rounds: config.fix_rounds,
        max_turns: config.max_turns,
        max_output_tokens: config.max_output_tokens,
        checks,
        check_timeout_secs: config.check_timeout.as_secs(),
        pass_env: config.pass_env.clone(),
        focus,
        in_place: config.in_place,
    })
}

/// The pricing of the session's models (`configured` is the settings'): its model, and
/// the fallback and escalation models when set. A budget needs a known price for each.
pub fn price_fn(configured: &Pricing, session: &SessionSettings) -> anyhow::Result<PriceFn> {
    let models = models_of(&session.model, session.fallback_model.as_deref(), session.escalate_model.as_deref());
    let mut prices = Vec::new();
    for model in models {
        let pricing = pricing_for(configured, model);
        refuse_unpriced_budget(&pricing, session.limits.budget_usd)?;
        prices.push(pricing);
    }
    let other = configured.clone();
    Ok(Arc::new(move |model: &str, usage: &Usage| match prices.iter().find(|p| p.model == model) {
        Some(pricing) => pricing.cost(usage),
        None => pricing_for(&other, model).cost(usage),
    }))
}

/// The models a session may send to: `model`, then the fallback and escalation models
/// when set (each once).
pub fn models_of<'a>(model: &'a str, fallback: Option<&'a str>, escalate: Option<&'a str>) -> Vec<&'a str> {
    let mut models = vec![model];
    for other in [fallback, escalate].into_iter().flatten() {
        if !models.contains(&other) {
            models.push(other);
        }
    }
    models
}

/// Before anything is changed: every model the settings name ([`models_of`]) is accepted
/// by the API ([`check_api`]), and has a known price when a budget is set.
pub async fn check_models(model: &dyn Model, pricing: &Pricing, config: &SessionConfig) -> anyhow::Result<()> {
    let models = models_of(&config.model, config.fallback_model.as_deref(), config.escalate_model.as_deref());
    for name in &models {
        refuse_unpriced_budget_of(pricing, name, config.budget_usd)?;
    }
    for name in models {
        check_api(model, name).await?;
    }
    Ok(())
}

/// The price of `model`: the configured one's, else the table's (a resumed session keeps
/// its model, which the settings may no longer name).
pub fn pricing_for(configured: &Pricing, model: &str) -> Pricing {
    if configured.model == model { configured.clone() } else { configured.for_other(model) }
}

/// [`check_api`] for every model a resumed session's settings name (their prices were
/// checked by [`price_fn`]).
pub async fn check_resumed_models(model: &dyn Model, settings: &SessionSettings) -> anyhow::Result<()> {
    for name in models_of(&settings.model, settings.fallback_model.as_deref(), settings.escalate_model.as_deref()) {
        check_api(model, name).await?;
    }
    Ok(())
}

/// Refuses a budget for a model whose price mmm does not know: it could not keep to it.
/// Called before anything is asked of the API, and again by [`price_fn`].
pub fn refuse_unpriced_budget(pricing: &Pricing, budget_usd: Option<f64>) -> anyhow::Result<()> {
    if pricing.price.is_none() && budget_usd.is_some() {
        return Err(CliError::usage(format!(
            "budget_usd is set, but mmm does not know the price of `{}`, so it cannot keep to the budget",
            pricing.model
        ))
        .with_hint(format!(
            "give its price in .mmm/config.toml, in USD per million tokens: `[prices.\"{}\"]` with \
             `input_per_mtok = ...` and `output_per_mtok = ...`",
            pricing.model
        ))
        .into());
    }
    Ok(())
}

/// [`refuse_unpriced_budget`] for the model and budget a run is configured with.
pub fn refuse_unpriced_budget_of(configured: &Pricing, model: &str, budget_usd: Option<f64>) -> anyhow::Result<()> {
    refuse_unpriced_budget(&pricing_for(configured, model), budget_usd)
}

/// Uncommitted changes of the user's, leaving out mmm's own `.mmm/` directory.
pub fn user_changes(git: &Git) -> anyhow::Result<Vec<String>> {
    let outputs = check_outputs(git);
    Ok(git.status()?.into_iter().map(|e| e.path).filter(|p| !is_mmm_path(p) && !is_under(p, &outputs)).collect())
}

/// What earlier sessions' checks created (see [`ProjectState::check_outputs`]); none when
/// `state.json` cannot say.
pub fn check_outputs(git: &Git) -> Vec<String> {
    ProjectState::load_or_default(&Layout::new(git.root()).state_file()).map(|s| s.check_outputs).unwrap_or_default()
}

/// Whether `path` is one of `entries` or inside one.
fn is_under(path: &str, entries: &[String]) -> bool {
    entries.iter().any(|e| path == e || path.strip_prefix(e.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// Paths a dirty-tree error lists before it gives a count of the rest: a screenful.
const DIRTY_PATHS_SHOWN: usize = 20;

pub fn is_mmm_path(path: &str) -> bool {
    path == ".mmm" || path.starts_with(".mmm/")
}

/// Refuses a repository with no commit yet, a tree with uncommitted changes (`dirty`,
/// unless `allow_dirty`), and working `in_place` on a detached HEAD (there is no branch
/// to work on).
pub fn preflight(git: &Git, dirty: &[String], allow_dirty: bool, in_place: bool) -> anyhow::Result<()> {
    let Some(head) = git.head()? else {
        return Err(CliError::usage("the repository has no commits yet: mmm needs a commit to start from")
            .with_hint("make a first commit: git add -A && git commit -m \"initial\"")
            .into());
    };
    if !dirty.is_empty() && !allow_dirty {
        let mut listed: Vec<String> = dirty.iter().take(DIRTY_PATHS_SHOWN).map(|p| format!("  {p}")).collect();
        if dirty.len() > DIRTY_PATHS_SHOWN {
            listed.push(format!("  ... and {} more", dirty.len() - DIRTY_PATHS_SHOWN));
        }
        return Err(CliError::usage(format!("the working tree has uncommitted changes:\n{}", listed.join("\n")))
        .with_hint("commit or stash them first, or pass --allow-dirty to commit them as a separate \"snapshot before mmm\" commit")
        .into());
    }
    if in_place && git.current_branch()?.is_none() {
        let short = head.get(..12).unwrap_or(&head);
        return Err(CliError::usage(format!(
            "--in-place works on the current branch, but HEAD is detached (at {short})"
        ))
        .with_hint("check out a branch first (`git switch <branch>`, or `git switch -c <name>` to start one here), or leave out --in-place so mmm makes its own branch")
        .into());
    }
    // Before any money is spent: every kept iteration is a commit.
    if let Some(refusal) = git.commit_refusal()? {
        return Err(CliError::usage(format!("git would refuse mmm's commits: {refusal}"))
            .with_hint(
                "mmm commits every change it keeps: set an identity (`git config user.name` and `git config \
                 user.email`) or fix the hook in .git/hooks, then run again",
            )
            .into());
    }
    Ok(())
}

/// Refuses checks whose program is not on `PATH` (`flake8` not installed): they would
/// fail every iteration for a reason no edit can fix, after paid requests.
pub fn programs_resolve(checks: &[String]) -> anyhow::Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    for check in checks {
        if let Some(program) = programs(check).into_iter().find(|program| !on_path(program, &dirs)) {
            return Err(CliError::usage(format!(
                "the check `{check}` runs `{program}`, which is not installed (not on PATH)"
            ))
            .with_hint(format!(
                "install `{program}`, or set the checks mmm runs in .mmm/config.toml: [validate] commands = [\"...\"]"
            ))
            .into());
        }
    }
    Ok(())
}

/// Words before the program: keywords and wrappers whose next word is the command.
const PREFIXES: &[&str] =
    &["!", "if", "then", "else", "elif", "while", "until", "do", "time", "exec", "command", "env", "nice"];

/// Shell builtins and keywords that run no program (their arguments are not one either).
const BUILTINS: &[&str] = &[
    "fi", "done", "for", "case", "esac", "in", "function", "builtin", "cd", "test", "[", "[[", "true", "false", "exit",
    "echo", "printf", "export", "set", "unset", "read", "eval", "source", ".", ":", "ulimit", "umask", "trap", "wait",
    "shift", "return", "break", "continue", "local", "type", "hash", "alias", "pwd",
];

/// The programs a check command starts, as far as a plain reading of it tells: the first
/// plain word of each `&&`/`||`/`;`/`|` segment, after variable assignments and
/// [`PREFIXES`], unless it is one of the [`BUILTINS`]. Anything quoted, expanded or given as a path is left to the
/// shell, and so is every word of a command that changes `PATH`.
fn programs(check: &str) -> Vec<String> {
    if check.contains("PATH=") {
        return Vec::new();
    }
    let plain = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_alphanumeric())
            && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    // Quoted text is an argument (a pattern, a message), never a separator or a program:
    // blanked out, each quoted run becomes one word that is not plain.
    let mut unquoted = String::with_capacity(check.len());
    let mut quote = None;
    for c in check.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                unquoted.push('"');
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, c) => unquoted.push(c),
        }
    }
    unquoted
        .split(['&', '|', ';', '\n', '(', ')', '{', '}'])
        .filter_map(|segment| {
            let mut words = segment.split_whitespace().skip_while(|w| w.contains('=') || PREFIXES.contains(w));
            words.next().filter(|w| plain(w) && !BUILTINS.contains(w)).map(str::to_string)
        })
        .collect()
}

/// Whether `program` is an executable file in one of `dirs`.
fn on_path(program: &str, dirs: &[std::path::PathBuf]) -> bool {
    dirs.iter().any(|dir| {
        let candidate = dir.join(program);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            candidate.is_file() || candidate.with_extension("exe").is_file()
        }
    })
}

/// Checks that the API accepts the key and knows `model` ([`Model::check`]), before the
/// branch, the baseline checks or any record exist. A refusal that another try cannot
/// change (a bad key, an unknown model: 4xx) is a usage error (exit 2) with the API's
/// message and hint; anything else (no connection, retries spent) fails as it would later.
pub async fn check_api(model: &dyn Model, name: &str) -> anyhow::Result<()> {
    let Err(err) = model.check(name).await else { return Ok(()) };
    let refused = matches!(err.status(), Some(400..=499)) && !err.is_retryable();
    let hint = err.hint();
    let cli = if refused { CliError::usage(err.to_string()) } else { CliError::failure(err.to_string()) };
    Err(match hint {
        Some(hint) => cli.with_hint(hint),
        None => cli,
    }
    .into())
}

/// A tool definition (custom or Anthropic-defined) as the request type holds it.
pub fn tool_from_json(definition: Value) -> Tool {
    serde_json::from_value(definition).expect("mmm's own tool definitions are valid")
}

/// The session `--resume [ID]` names (the last one by default), loaded and checked: it
/// exists and has not completed. A session of another `kind` is refused.
pub fn load_for_resume(layout: &Layout, id: Option<&str>, kind: SessionKind) -> anyhow::Result<SessionRecord> {
    let command = match kind {
        SessionKind::Improve => "mmm improve",
        SessionKind::Spec => "mmm run <spec>",
    };
    let project_state = ProjectState::load_or_default(&layout.state_file())?;
    let id = match id.map(str::to_string).or_else(|| project_state.last_session.clone()) {
        Some(id) => id,
        None => {
            return Err(CliError::usage("there is no session to resume in this repository")
                .with_hint(format!("start one with `{command}`"))
                .into());
        }
    };
    let path = layout.session_dir(&id).join("session.json");
    if !path.exists() {
        return Err(CliError::usage(format!("no session `{id}` in {}", layout.sessions_dir().display()))
            .with_hint("`mmm history` lists the sessions")
            .into());
    }
    let record = SessionRecord::load(&path)?;
    if record.kind != kind {
        let other = match record.kind {
            SessionKind::Improve => "mmm improve",
            SessionKind::Spec => "mmm run",
        };
        return Err(CliError::usage(format!("session {id} was not started by `{command}`"))
            .with_hint(format!("resume it with `{other} --resume {id}`"))
            .into());
    }
    if let Some(undo) = &record.undone {
        return Err(CliError::usage(format!("session {id} was undone at {}: {undo}", undo.at()))
            .with_hint(format!("start a new session with `{command}`"))
            .into());
    }
    if record.status.is_finished() {
        let reason = record.stop_reason.as_ref().map(|r| r.to_string()).unwrap_or_default();
        return Err(CliError::usage(format!("session {id} already ended ({reason})"))
            .with_hint(format!("start a new session with `{command}`"))
            .into());
    }
    Ok(record)
}

/// A resumed session keeps the model it started with, unless this run names one on the
/// command line (`--model`, `-c model=...`): then that model continues the session, and
/// the model it replaces is returned (for the `session_started` event and the output).
pub fn switch_model(record: &mut SessionRecord, config: &SessionConfig) -> Option<String> {
    if !config.model_from_flag || config.model == record.settings.model {
        return None;
    }
    Some(std::mem::replace(&mut record.settings.model, config.model.clone()))
}

/// A first user message laid out cache-first: the text that stays the same for the whole
/// session, then the text of this iteration, as two blocks (each redacted), so the first is
/// a prefix the prompt cache keeps ([`crate::llm::cache::CachePlan::stable_blocks`]: 1).
pub fn first_message(stable: &str, rest: &str) -> Message {
    Message::user(vec![ContentBlock::text(redact(stable).into_owned()), ContentBlock::text(redact(rest).into_owned())])
}

/// Why a request for one tool call produced no usable result.
pub struct AskFailure {
    pub message: String,
    /// Set when no later request can succeed either (the API error, with its hint).
    pub fatal: Option<anyhow::Error>,
}

/// What [`ask_for_tool`] asks for: the one tool, how to check its input, and the reminder
/// sent when the model answered without calling it.
pub struct OneCall<'f, T> {
    pub tool: &'static str,
    /// What the request is for, in the error texts: "review the repository".
    pub purpose: &'static str,
    pub parse: &'f (dyn Fn(&Value) -> Result<T, String> + Sync),
    pub nudge: &'static str,
}

/// Captures the one tool call.
struct Sink<'f, T> {
    call: &'f OneCall<'f, T>,
    value: Option<T>,
}

impl<T: Send> ToolRunner for Sink<'_, T> {
    fn run(&mut self, name: &str, input: &Value) -> ToolReply {
        let tool = self.call.tool;
        if name != tool {
            return ToolReply::error(format!("Error: unknown tool `{name}`; call `{tool}`."));
        }
        match (self.call.parse)(input) {
            Ok(value) => {
                self.value = Some(value);
                ToolReply::ok(format!("`{tool}` recorded."))
            }
            Err(e) => ToolReply::error(format!("Error: {e}. Call `{tool}` again with corrected input.")),
        }
    }
}

impl Session {
    /// [`ask_for_tool`] as one of this session's conversations (recorded and priced).
    pub async fn ask_for_tool<T: Send>(
        &self,
        iteration: u32,
        label: &str,
        conversation: Conversation,
        call: &OneCall<'_, T>,
    ) -> Result<T, AskFailure> {
        ask_for_tool(self.model.as_ref(), &self.hooks(iteration, label, false), label, conversation, call).await
    }
}

/// Sends `conversation` (a fresh one offering one tool); asks once more if no valid call
/// came back. Returns the parsed input.
pub async fn ask_for_tool<T: Send>(
    model: &dyn Model,
    hooks: &dyn Hooks,
    label: &str,
    mut conversation: Conversation,
    call: &OneCall<'_, T>,
) -> Result<T, AskFailure> {
    let mut sink = Sink { call, value: None };
    for attempt in 0..2 {
        let ended = agent::run_turns(model, &mut conversation, &mut sink, 1, hooks).await;
        match ended {
            Err(e) => {
                let message = format!("the {label} request failed: {e}");
                let fatal = (!e.is_retryable()).then(|| anyhow::Error::from(e));
                return Err(AskFailure { message, fatal });
            }
            Ok(_) if sink.value.is_some() => break,
            Ok(Ended::Refusal { .. }) => {
                return Err(AskFailure { message: format!("the model declined to {}", call.purpose), fatal: None });
            }
            Ok(Ended::Done { .. }) if attempt == 0 => conversation.push_user_text(call.nudge),
            Ok(_) => {}
        }
    }
    sink.value.ok_or_else(|| AskFailure {
        message: format!("the model did not call `{}` with a valid {label} (asked twice)", call.tool),
        fatal: None,
    })
}

impl ToolRunner for Tools {
    fn run(&mut self, name: &str, input: &Value) -> ToolReply {
        self.execute(name, input)
    }

    fn refreshed_definitions(&mut self) -> Option<Vec<Value>> {
        Tools::refreshed_definitions(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_programs_of_a_check_are_read_plainly_and_anything_unclear_is_left_to_the_shell() {
        let cases: &[(&str, &[&str])] = &[
            ("cargo test", &["cargo"]),
            ("cargo build && cargo clippy -- -D warnings; make lint | tee out", &["cargo", "cargo", "make", "tee"]),
            ("! grep -q BUG src/app.txt", &["grep"]),
            ("RUST_LOG=debug FOO=1 cargo test", &["cargo"]),
            ("(cd web && npm test) || exit 1", &["npm"]),
            ("exec sleep 30", &["sleep"]),
            ("env CI=1 pytest -q", &["pytest"]),
            ("if test -f x; then flake8 .; fi", &["flake8"]),
            ("./gradlew check", &[]),
            ("\"$HOME/bin/lint\" src", &[]),
            ("$LINTER .", &[]),
            ("env | grep -E '^KEY_(A|B)=' | cut -d= -f1; true && ok", &["grep", "cut", "ok"]),
            ("echo \"a; b && c\" && sh -c 'x | y'", &["sh"]),
            ("PATH=$PATH:./bin mytool", &[]),
        ];
        for (check, expected) in cases {
            assert_eq!(super::programs(check), *expected, "{check}");
        }
    }

    use super::*;

    #[test]
    fn mmm_paths_are_recognised() {
        assert!(is_mmm_path(".mmm/state.json") && is_mmm_path(".mmm"));
        assert!(!is_mmm_path(".mmmx") && !is_mmm_path("src/.mmm"));
    }
}
