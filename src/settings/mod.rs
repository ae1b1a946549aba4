//! Settings, resolved in one place.
//!
//! Precedence, lowest to highest: built-in defaults; the global file
//! `<config dir>/mmm/config.toml`; the project file `.mmm/config.toml` nearest the working
//! directory (up to the repository root); environment variables (`MMM_<KEY>`, and the
//! Anthropic SDKs' `ANTHROPIC_*`); command-line flags. Every value remembers where it came
//! from, so `mmm config show` can say. Nothing else in mmm reads configuration files or
//! `MMM_*` variables: they ask [`Settings`]. Secrets are accepted only from the
//! environment and are never written anywhere by this module.

pub mod check;
pub mod extensions;
pub mod keys;
pub mod mcp;
pub mod session;
pub mod value;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use toml::de::{DeTable, DeValue};

use crate::error::CliError;
pub use keys::{KEYS, KeyDef, Kind};
pub use value::Value;

/// The name of mmm's directory in a project.
pub const MMM_DIR: &str = ".mmm";
/// The project settings file, relative to the project root.
pub const PROJECT_FILE: &str = ".mmm/config.toml";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Default,
    GlobalFile { path: PathBuf },
    ProjectFile { path: PathBuf },
    Env { var: String },
    Flag { flag: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::GlobalFile { path } => write!(f, "global file {}", path.display()),
            Source::ProjectFile { path } => write!(f, "project file {}", path.display()),
            Source::Env { var } => write!(f, "env {var}"),
            Source::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// One resolved key.
#[derive(Debug, Clone)]
pub struct Entry {
    pub def: &'static KeyDef,
    pub value: Value,
    pub source: Source,
}

impl Entry {
    /// The value as it may be shown: secrets masked.
    pub fn display_value(&self) -> Value {
        match (&self.value, self.def.secret) {
            (Value::Str(secret), true) => Value::Str(mask_secret(secret)),
            (value, _) => value.clone(),
        }
    }
}

/// A value given on the command line, to be checked against its key like any other layer.
#[derive(Debug, Clone)]
pub struct FlagValue {
    pub key: String,
    pub text: String,
    /// The flag as the user wrote it, for `config show` and errors: `--model`, `-c target=9`.
    pub flag: String,
}

impl FlagValue {
    /// Parses a `-c KEY=VALUE` override.
    pub fn parse_override(spec: &str) -> Result<Self, CliError> {
        let (key, text) = spec.split_once('=').ok_or_else(|| {
            CliError::usage(format!("`-c {spec}` is not KEY=VALUE"))
                .with_hint("write it like `-c target=9` or `-c model=claude-opus-5`")
        })?;
        Ok(Self { key: key.trim().to_string(), text: text.to_string(), flag: format!("-c {spec}") })
    }
}

/// What settings are resolved from. `main` fills it from the real process; tests fill it by hand.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub cwd: PathBuf,
    /// The global settings file, if the platform has a config directory.
    pub global_file: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub flags: Vec<FlagValue>,
}

impl Inputs {
    /// Inputs from this process: its working directory (or `dir` relative to it, for `-C`;
    /// the process's own directory is never changed), environment and the given flags.
    pub fn from_process(flags: Vec<FlagValue>, dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut cwd = std::env::current_dir().context("reading the current directory")?;
        if let Some(dir) = dir {
            cwd = cwd.join(dir);
            if !cwd.is_dir() {
                return Err(crate::error::CliError::usage(format!(
                    "cannot run in {}: no such directory",
                    dir.display()
                ))
                .with_hint("`-C` takes an existing directory")
                .into());
            }
        }
        let env: Vec<(String, String)> =
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
        let global_file = global_config_dir(&env).map(|dir| dir.join("mmm").join("config.toml"));
        Ok(Self { cwd, global_file, env, flags })
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The platform configuration directory: `$XDG_CONFIG_HOME` when set to an absolute path,
/// else what the `dirs` crate reports for this platform.
pub fn global_config_dir(env: &[(String, String)]) -> Option<PathBuf> {
    env.iter()
        .find(|(k, _)| k == "XDG_CONFIG_HOME")
        .map(|(_, v)| PathBuf::from(v))
        .filter(|p| p.is_absolute())
        .or_else(dirs::config_dir)
}

/// A model's price from a `[prices."<model id>"]` table of a settings file, in USD per
/// million tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    pub model: String,
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    pub source: Source,
}

/// The fields of a `[prices."<model id>"]` table, in [`ModelPrice`] order.
pub const PRICE_FIELDS: [&str; 4] =
    ["input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"];

impl ModelPrice {
    /// Each field that is set, with its name, in [`PRICE_FIELDS`] order.
    pub fn fields(&self) -> Vec<(&'static str, f64)> {
        let values = [Some(self.input), Some(self.output), self.cache_read, self.cache_write];
        PRICE_FIELDS.iter().zip(values).filter_map(|(name, v)| v.map(|v| (*name, v))).collect()
    }
}

/// Every key resolved, with where it came from.
#[derive(Debug, Clone)]
pub struct Settings {
    entries: Vec<Entry>,
    /// Prices per model from `[prices."<model id>"]` tables (files only; the project file's
    /// entry for a model replaces the global file's).
    pub prices: Vec<ModelPrice>,
    /// The repository root, when the working directory is inside one.
    pub repo_root: Option<PathBuf>,
    /// The project settings file that was read, if any.
    pub project_file: Option<PathBuf>,
    /// Warnings to show the user (unknown `MMM_*` variables, for example).
    pub warnings: Vec<String>,
    /// `[[hooks]]` of the global file, then the project file's.
    pub hooks: Vec<extensions::HookDef>,
    /// `[tools.<name>]` (the project file's tool replaces the global file's of that name).
    pub tools: Vec<extensions::ToolDef>,
    /// Where the `[mcp.<name>]` tables are read from, again at each iteration boundary.
    pub mcp: mcp::McpSource,
}

impl Settings {
    /// Resolves every key from the inputs. Errors are usage errors (exit 2) naming the file
    /// and line, the variable or the flag, and the closest valid key for a misspelt one.
    pub fn load(inputs: &Inputs) -> anyhow::Result<Self> {
        let mut entries = defaults();
        let repo_root = find_repo_root(&inputs.cwd);

        let first = |problems: Vec<CliError>| problems.into_iter().next().map_or(Ok(()), Err);
        let mut set = Vec::new();
        let mut prices = Vec::new();
        if let Some(path) = inputs.global_file.as_ref().filter(|p| p.is_file()) {
            first(apply_file(&mut entries, path, |path| Source::GlobalFile { path }, &mut set, &mut prices))?;
        }
        let project_file = find_project_file(&inputs.cwd, repo_root.as_deref());
        if let Some(path) = &project_file {
            first(apply_file(&mut entries, path, |path| Source::ProjectFile { path }, &mut set, &mut prices))?;
        }
        first(apply_env(&mut entries, inputs, &mut set))?;
        let warnings = unknown_env_warnings(inputs);
        first(apply_flags(&mut entries, inputs, &mut set))?;
        resolve_named_key(&mut entries, inputs);
        let (mut hooks, mut tools) = (Vec::new(), Vec::<extensions::ToolDef>::new());
        let files = [inputs.global_file.as_ref().filter(|p| p.is_file()), project_file.as_ref()];
        for path in files.into_iter().flatten() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("reading settings file {}: {e}", path.display())))?;
            let (file_hooks, file_tools) = extensions::read(path, &text)?;
            hooks.extend(file_hooks);
            for tool in file_tools {
                tools.retain(|t| t.name != tool.name);
                tools.push(tool);
            }
        }

        // Files created while a session runs count too: the tables are read again at each
        // iteration boundary.
        let project_path = project_file.clone().or_else(|| repo_root.as_ref().map(|r| r.join(PROJECT_FILE)));
        let mcp = mcp::McpSource {
            files: inputs.global_file.iter().chain(&project_path).cloned().collect(),
            plugins_index: repo_root.as_ref().map(|r| {
                r.join(crate::plugins::marketplace::PLUGINS_DIR).join(crate::plugins::marketplace::INDEX_FILE)
            }),
        };
        mcp.read()?;

        Ok(Self { entries, prices, repo_root, project_file, warnings, hooks, tools, mcp })
    }

    /// Every key, in registry order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry for a key of the registry.
    pub fn entry(&self, name: &str) -> &Entry {
        // Names come from the registry in code, and a test reads every one.
        self.entries.iter().find(|e| e.def.name == name).unwrap_or_else(|| panic!("no setting named {name}"))
    }

    pub fn value(&self, name: &str) -> &Value {
        &self.entry(name).value
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.value(name) {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        match self.value(name) {
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<u64> {
        match self.value(name) {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.value(name), Value::Bool(true))
    }

    pub fn list(&self, name: &str) -> &[String] {
        match self.value(name) {
            Value::List(items) => items,
            _ => &[],
        }
    }

    pub fn duration(&self, name: &str) -> Option<Duration> {
        match self.value(name) {
            Value::Duration(d) => Some(*d),
            _ => None,
        }
    }

    /// The directory that holds `.mmm/`: the repository root, else the working directory.
    pub fn project_root<'a>(&'a self, cwd: &'a Path) -> &'a Path {
        self.repo_root.as_deref().unwrap_or(cwd)
    }
}

/// `MMM_*` variables that are not settings keys, so no warning is given for them.
const NON_KEY_ENV: &[&str] = &[
    // Debug builds only: abort after the k-th journal event (the crash-recovery sweep).
    "MMM_DEBUG_ABORT_AFTER_EVENT",
];

/// Masks a secret for display: `sk-ant-api03-…abcd`-style, never more than the last four.
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "…".to_string();
    }
    let prefix: String = if secret.starts_with("sk-ant-") { "sk-ant-".into() } else { chars[..3].iter().collect() };
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}…{tail}")
}

/// The nearest directory at or above `start` holding `.git` (a directory, or a file in a
/// worktree or submodule).
pub fn find_repo_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| dir.join(".git").exists()).map(Path::to_path_buf)
}

fn find_project_file(cwd: &Path, repo_root: Option<&Path>) -> Option<PathBuf> {
    for dir in cwd.ancestors() {
        let candidate = dir.join(PROJECT_FILE);
        if candidate.is_file() {
            return Some(candidate);
        }
        if Some(dir) == repo_root || repo_root.is_none() {
            break;
        }
    }
    None
}

/// Every key at its default: the layers are applied onto this.
fn defaults() -> Vec<Entry> {
    KEYS.iter().map(|def| Entry { def, value: Value::from(def.default), source: Source::Default }).collect()
}

/// Applies a settings file, going on past a bad key: every problem is returned, in file
/// order (a file that cannot be read or parsed is one problem). Each key it sets is added
/// to `set` with where (`path:line`) and its value; each model price to `prices`.
fn apply_file(
    entries: &mut [Entry],
    path: &Path,
    source: impl Fn(PathBuf) -> Source,
    set: &mut Vec<(String, String, Value)>,
    prices: &mut Vec<ModelPrice>,
) -> Vec<CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return vec![
                CliError::usage(format!("reading settings file {}: {e}", path.display()))
                    .with_hint("check the file's permissions, or remove it"),
            ];
        }
    };
    let at = |offset: usize| format!("{}:{}", path.display(), line_of(&text, offset));
    let table = match DeTable::parse(&text) {
        Ok(table) => table,
        Err(e) => {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(&text, s.start));
            return vec![
                CliError::usage(format!("{}:{line}:{column}: malformed TOML: {}", path.display(), e.message().trim()))
                    .with_hint("fix the file, or run `mmm init --force` to write a fresh one"),
            ];
        }
    };
    let mut problems = Vec::new();
    let mut apply =
        |name: &str, value: &DeValue<'_>, at: String| match apply_value(entries, name, value, &at, &source, path) {
            Ok(()) => set.push((name.to_string(), at, entry_value(entries, name))),
            Err(e) => problems.push(e),
        };
    let mut price_problems = Vec::new();
    let mut extension_checked = false;
    for (key, value) in table.get_ref() {
        let name = key.get_ref().as_ref();
        match value.get_ref() {
            // Hooks and command tools are lists of things, read whole by `extensions`.
            _ if name == "hooks" || name == "tools" => {
                if !std::mem::replace(&mut extension_checked, true)
                    && let Err(e) = extensions::read(path, &text)
                {
                    price_problems.push(e);
                }
            }
            // Read by `mcp::McpSource`, at startup and at each iteration boundary.
            _ if name == "mcp" => {}
            _ if name == "prices" => {
                let at_key = at(key.span().start);
                let read = read_prices(value.get_ref(), &at_key, &at, &source(path.to_path_buf()));
                match read {
                    Ok(read) => {
                        for price in read {
                            prices.retain(|p| p.model != price.model);
                            prices.push(price);
                        }
                    }
                    Err(mut errors) => price_problems.append(&mut errors),
                }
            }
            DeValue::Table(inner) if keys::is_table(name) => {
                for (sub, sub_value) in inner {
                    apply(&format!("{name}.{}", sub.get_ref()), sub_value.get_ref(), at(sub.span().start));
                }
            }
            other => apply(name, other, at(key.span().start)),
        }
    }
    problems.append(&mut price_problems);
    problems
}

/// The `[prices."<model id>"]` tables: each a table of [`PRICE_FIELDS`], the input and
/// output prices required, every value a number of at least 0. `at` gives `path:line` of
/// an offset in the file.
fn read_prices(
    value: &DeValue<'_>,
    at_key: &str,
    at: &dyn Fn(usize) -> String,
    source: &Source,
) -> Result<Vec<ModelPrice>, Vec<CliError>> {
    let example = "write it like `[prices.\"my-model\"]` with `input_per_mtok = 3.0` and `output_per_mtok = 15.0` \
                   (USD per million tokens)";
    let DeValue::Table(models) = value else {
        return Err(vec![CliError::usage(format!("{at_key}: `prices` must be a table of models")).with_hint(example)]);
    };
    let mut prices = Vec::new();
    let mut problems = Vec::new();
    for (model_key, fields) in models {
        let model = model_key.get_ref().to_string();
        let at_model = at(model_key.span().start);
        let DeValue::Table(fields) = fields.get_ref() else {
            problems.push(CliError::usage(format!("{at_model}: `prices.{model}` must be a table")).with_hint(example));
            continue;
        };
        let mut values = [None; 4];
        for (field_key, field_value) in fields {
            let field = field_key.get_ref().as_ref();
            let name = format!("prices.{model}.{field}");
            let at_field = at(field_key.span().start);
            let Some(slot) = PRICE_FIELDS.iter().position(|f| *f == field) else {
                problems.push(
                    CliError::usage(format!("{at_field}: unknown key `{name}`"))
                        .with_hint(format!("a model's price takes {}", PRICE_FIELDS.join(", "))),
                );
                continue;
            };
            match value::from_toml(Kind::Float { min: 0.0, max: f64::MAX }, field_value.get_ref()) {
                Ok(Value::Float(x)) => values[slot] = Some(x),
                Ok(_) => {}
                Err(m) => problems.push(type_error(&at_field, &name, &m)),
            }
        }
        match values {
            [Some(input), Some(output), cache_read, cache_write] => {
                prices.push(ModelPrice { model, input, output, cache_read, cache_write, source: source.clone() })
            }
            _ => problems.push(
                CliError::usage(format!("{at_model}: `prices.{model}` needs input_per_mtok and output_per_mtok"))
                    .with_hint(example),
            ),
        }
    }
    if problems.is_empty() { Ok(prices) } else { Err(problems) }
}

/// Applies the environment's variables (`ANTHROPIC_*`, then `MMM_*`), returning every
/// problem; each key set is added to `set` with the variable that set it.
fn apply_env(entries: &mut [Entry], inputs: &Inputs, set: &mut Vec<(String, String, Value)>) -> Vec<CliError> {
    let mut problems = Vec::new();
    for entry in entries.iter_mut() {
        for var in entry.def.env_names() {
            if let Some(text) = inputs.var(&var).filter(|t| !t.is_empty()) {
                let at = format!("environment variable {var}");
                let parsed = value::from_text(entry.def.kind, text).map_err(|m| type_error(&at, entry.def.name, &m));
                match parsed.and_then(|value| check_value(&at, entry.def.name, &value).map(|()| value)) {
                    Ok(value) => {
                        set.push((entry.def.name.to_string(), at, value.clone()));
                        entry.value = value;
                        entry.source = Source::Env { var };
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    problems
}

/// `MMM_*` variables that name no setting: ignored, with a warning each.
fn unknown_env_warnings(inputs: &Inputs) -> Vec<String> {
    let known: Vec<String> = KEYS.iter().map(KeyDef::env_name).collect();
    inputs
        .env
        .iter()
        .filter(|(var, _)| var.starts_with("MMM_") && !known.contains(var) && !NON_KEY_ENV.contains(&var.as_str()))
        .map(|(var, _)| format!("ignoring environment variable {var}: mmm has no such setting"))
        .collect()
}

/// Applies the flags (`-c KEY=VALUE` and a command's own setting flags), returning every
/// problem; each key set is added to `set` with the flag that set it.
fn apply_flags(entries: &mut [Entry], inputs: &Inputs, set: &mut Vec<(String, String, Value)>) -> Vec<CliError> {
    let mut problems = Vec::new();
    for flag in &inputs.flags {
        let Some(entry) = entries.iter_mut().find(|e| e.def.name == flag.key) else {
            problems.push(unknown_key(&flag.flag, &flag.key));
            continue;
        };
        let parsed = value::from_text(entry.def.kind, &flag.text).map_err(|m| type_error(&flag.flag, &flag.key, &m));
        match parsed.and_then(|value| check_value(&flag.flag, &flag.key, &value).map(|()| value)) {
            Ok(value) => {
                set.push((flag.key.clone(), flag.flag.clone(), value.clone()));
                entry.value = value;
                entry.source = Source::Flag { flag: flag.flag.clone() };
            }
            Err(e) => problems.push(e),
        }
    }
    problems
}

/// The value a key has now.
fn entry_value(entries: &[Entry], name: &str) -> Value {
    entries.iter().find(|e| e.def.name == name).map(|e| e.value.clone()).unwrap_or(Value::Unset)
}

fn apply_value(
    entries: &mut [Entry],
    name: &str,
    value: &DeValue<'_>,
    at: &str,
    source: &impl Fn(PathBuf) -> Source,
    path: &Path,
) -> Result<(), CliError> {
    let entry = entries.iter_mut().find(|e| e.def.name == name).ok_or_else(|| unknown_key(at, name))?;
    if entry.def.secret {
        let var = entry.def.extra_env.first().copied().unwrap_or("the environment");
        return Err(CliError::usage(format!("{at}: `{name}` cannot be set in a file"))
            .with_hint(format!("set {var} in the environment instead: files get committed and shared")));
    }
    entry.value = value::from_toml(entry.def.kind, value).map_err(|m| type_error(at, name, &m))?;
    check_value(at, name, &entry.value)?;
    entry.source = source(path.to_path_buf());
    Ok(())
}

/// `openai_api_key` comes from the variable `api_key_env` names: when that is not
/// OPENAI_API_KEY, the key is that variable's value (or unset), never OPENAI_API_KEY's.
fn resolve_named_key(entries: &mut [Entry], inputs: &Inputs) {
    let var = match entry_value(entries, "api_key_env") {
        Value::Str(var) if var != "OPENAI_API_KEY" => var,
        _ => return,
    };
    let Some(entry) = entries.iter_mut().find(|e| e.def.name == "openai_api_key") else { return };
    match inputs.var(&var).filter(|v| !v.is_empty()) {
        Some(key) => {
            entry.value = Value::Str(key.to_string());
            entry.source = Source::Env { var };
        }
        None => {
            entry.value = Value::Unset;
            entry.source = Source::Default;
        }
    }
}

/// Values a key may take, when its type says too little.
const CHOICES: &[(&str, &[&str])] = &[
    ("provider", &["anthropic", "openai"]),
    ("editor_tool", &["builtin", "custom"]),
    ("sandbox.mode", &["required", "best-effort", "off"]),
];

/// What a value's type cannot say: a check command must say something to run; a provider
/// or editor tool is one of the known ones.
fn check_value(at: &str, name: &str, value: &Value) -> Result<(), CliError> {
    if let (Value::Str(text), Some((_, choices))) = (value, CHOICES.iter().find(|(key, _)| *key == name))
        && !choices.contains(&text.as_str())
    {
        let listed = choices.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" or ");
        return Err(CliError::usage(format!("{at}: `{name}` must be {listed}, found `{text}`"))
            .with_hint(format!("set `{name}` to {listed}")));
    }
    if let (Value::List(items), "validate.commands") = (value, name)
        && let Some(blank) = items.iter().position(|c| c.trim().is_empty())
    {
        return Err(CliError::usage(format!(
            "{at}: `{name}` has an empty command (item {} of {})",
            blank + 1,
            items.len()
        ))
        .with_hint(
            "remove it, or leave the list empty (`commands = []`) to use the detected build, lint and test commands",
        ));
    }
    Ok(())
}

fn unknown_key(at: &str, name: &str) -> CliError {
    let hint = match keys::closest(name) {
        Some(best) => format!("did you mean `{best}`? `mmm config show` lists every key"),
        None => "`mmm config show` lists every key".to_string(),
    };
    CliError::usage(format!("{at}: unknown key `{name}`")).with_hint(hint)
}

fn type_error(at: &str, name: &str, m: &value::TypeMismatch) -> CliError {
    CliError::usage(format!("{at}: `{name}` must be {}, found {}", m.expected, m.found))
}

fn line_of(text: &str, offset: usize) -> usize {
    line_col(text, offset).0
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> Inputs {
        Inputs { cwd: dir.to_path_buf(), ..Inputs::default() }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn err_text(r: anyhow::Result<Settings>) -> (String, Option<String>) {
        let e = r.unwrap_err();
        let cli = e.downcast_ref::<CliError>().expect("a CliError");
        (cli.to_string(), cli.hint().map(str::to_string))
    }

    #[test]
    fn every_registry_key_resolves_to_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(&inputs(dir.path())).unwrap();
        for def in KEYS {
            assert_eq!(s.entry(def.name).value, Value::from(def.default), "{}", def.name);
            assert_eq!(s.entry(def.name).source, Source::Default);
        }
        assert_eq!(s.float("target"), Some(8.0));
        assert_eq!(s.duration("validate.timeout"), Some(Duration::from_secs(600)));
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let global = dir.path().join("global/mmm/config.toml");
        write(&global, "target = 6\nmodel = \"from-global\"\nmax_iterations = 4\n");
        write(&dir.path().join("repo/.git/HEAD"), "");
        write(&dir.path().join("repo/.mmm/config.toml"), "target = 7\nmodel = \"from-project\"\n");
        let cwd = dir.path().join("repo/src/deep");
        std::fs::create_dir_all(&cwd).unwrap();
        let mut i = inputs(&cwd);
        i.global_file = Some(global.clone());
        i.env = vec![("MMM_TARGET".into(), "7.5".into())];
        i.flags = vec![FlagValue::parse_override("target=9").unwrap()];
        let s = Settings::load(&i).unwrap();
        assert_eq!(
            (s.float("target"), &s.entry("target").source),
            (Some(9.0), &Source::Flag { flag: "-c target=9".into() })
        );
        assert_eq!(s.str("model"), Some("from-project"));
        assert_eq!(s.entry("max_iterations").source, Source::GlobalFile { path: global });
        assert_eq!(s.repo_root.as_deref(), Some(dir.path().join("repo").as_path()));
    }

    #[test]
    fn the_project_file_is_not_looked_for_above_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join(".mmm/config.toml"), "target = 1\n");
        write(&dir.path().join("repo/.git/HEAD"), "");
        let s = Settings::load(&inputs(&dir.path().join("repo"))).unwrap();
        assert_eq!(s.project_file, None);
        assert_eq!(s.float("target"), Some(8.0));
    }

    #[test]
    fn misspelt_keys_name_the_line_and_the_closest_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".mmm/config.toml");
        write(&file, "model = \"x\"\n\n[validate]\ncomands = []\n");
        let (msg, hint) = err_text(Settings::load(&inputs(dir.path())));
        assert_eq!(msg, format!("{}:4: unknown key `validate.comands`", file.display()));
        assert_eq!(hint.as_deref(), Some("did you mean `validate.commands`? `mmm config show` lists every key"));
    }

    #[test]
    fn malformed_toml_and_wrong_types_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".mmm/config.toml");
        write(&file, "target = 8\nmodel = \n");
        let (msg, _) = err_text(Settings::load(&inputs(dir.path())));
        assert!(msg.starts_with(&format!("{}:2:", file.display())), "{msg}");
        assert!(msg.contains("malformed TOML"), "{msg}");

        write(&file, "target = \"high\"\n");
        let (msg, _) = err_text(Settings::load(&inputs(dir.path())));
        assert_eq!(msg, format!("{}:1: `target` must be a number, found string `\"high\"`", file.display()));
    }

    #[test]
    fn secrets_come_only_from_the_environment_and_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join(".mmm/config.toml"), "api_key = \"sk-ant-secret\"\n");
        let (msg, hint) = err_text(Settings::load(&inputs(dir.path())));
        assert!(msg.ends_with("`api_key` cannot be set in a file"), "{msg}");
        assert_eq!(
            hint.as_deref(),
            Some("set ANTHROPIC_API_KEY in the environment instead: files get committed and shared")
        );

        let clean = tempfile::tempdir().unwrap();
        let mut i = inputs(clean.path());
        i.env = vec![("ANTHROPIC_API_KEY".into(), "sk-ant-api03-0123456789abcdef".into())];
        let s = Settings::load(&i).unwrap();
        assert_eq!(s.entry("api_key").display_value(), Value::Str("sk-ant-…cdef".into()));
        assert_eq!(s.str("api_key"), Some("sk-ant-api03-0123456789abcdef"));
    }

    #[test]
    fn env_and_flag_type_errors_name_their_origin() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = inputs(dir.path());
        i.env = vec![("MMM_MAX_ITERATIONS".into(), "many".into())];
        let (msg, _) = err_text(Settings::load(&i));
        assert_eq!(
            msg,
            "environment variable MMM_MAX_ITERATIONS: `max_iterations` must be a whole number, found `many`"
        );

        let mut i = inputs(dir.path());
        i.flags = vec![FlagValue::parse_override("modle=x").unwrap()];
        let (msg, hint) = err_text(Settings::load(&i));
        assert_eq!(msg, "-c modle=x: unknown key `modle`");
        assert_eq!(hint.as_deref(), Some("did you mean `model`? `mmm config show` lists every key"));
        assert!(FlagValue::parse_override("model").is_err());
    }

    #[test]
    fn unknown_mmm_variables_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = inputs(dir.path());
        i.env = vec![("MMM_MODLE".into(), "x".into())];
        let s = Settings::load(&i).unwrap();
        assert_eq!(s.warnings, vec!["ignoring environment variable MMM_MODLE: mmm has no such setting"]);
    }

    #[test]
    fn masking_never_shows_more_than_four_characters() {
        assert_eq!(mask_secret("sk-ant-api03-abcdefghijklmnop"), "sk-ant-…mnop");
        assert_eq!(mask_secret("ghp_0123456789abcdefgh"), "ghp…efgh");
        assert_eq!(mask_secret("short"), "…");
    }

    #[test]
    fn model_prices_are_read_from_files_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(PROJECT_FILE);
        write(&file, "[prices.\"a/b:7b\"]\ninput_per_mtok = 1\noutput_per_mtok = 2.5\ncache_write_per_mtok = 3\n");
        let s = Settings::load(&inputs(dir.path())).unwrap();
        let source = Source::ProjectFile { path: file.clone() };
        assert_eq!(
            s.prices,
            [ModelPrice {
                model: "a/b:7b".into(),
                input: 1.0,
                output: 2.5,
                cache_read: None,
                cache_write: Some(3.0),
                source
            }]
        );
        let cases = [
            (
                "[prices.m]\ninput_per_mtok = 1\n",
                format!("{}:1: `prices.m` needs input_per_mtok and output_per_mtok", file.display()),
            ),
            (
                "[prices.m]\ninput_per_mtok = 1\noutput_per_mtok = 1\ninput = 2\n",
                format!("{}:4: unknown key `prices.m.input`", file.display()),
            ),
            (
                "[prices.m]\ninput_per_mtok = \"cheap\"\noutput_per_mtok = 1\n",
                format!("{}:2: `prices.m.input_per_mtok` must be a number, found string `\"cheap\"`", file.display()),
            ),
            ("prices = 3\n", format!("{}:1: `prices` must be a table of models", file.display())),
        ];
        for (text, expected) in cases {
            write(&file, text);
            assert_eq!(err_text(Settings::load(&inputs(dir.path()))).0, expected, "{text}");
        }
    }
}
