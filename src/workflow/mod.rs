//! Workflow files: steps in YAML (`.mmm/workflows/<name>.yml`, or any path) that run shell
//! commands, improve and spec sessions, single `claude` requests and other workflows, with
//! conditions, retries and templates. See docs/workflows.md for the schema.
//!
//! This module owns the files: it parses them (every unknown key and type error names the
//! file, line and column), checks them ([`check`]: expressions, step references, inputs,
//! schemas, cycles between workflows) and holds the one expression language conditions and
//! templates share ([`expr`]). It never runs anything: `session::workflow` runs the steps,
//! on the session engine and through `exec`.

pub mod check;
pub mod explain;
pub mod expr;
pub mod templates;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::CliError;

/// Where workflows live in a project, by name: `.mmm/workflows/<name>.yml`.
pub const WORKFLOW_DIR: &str = ".mmm/workflows";

/// A place in a workflow file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: u32,
    pub column: u32,
}

impl Loc {
    fn of<T>(spanned: &Spanned<T>) -> Self {
        Self { line: spanned.referenced.line() as u32, column: spanned.referenced.column() as u32 }
    }
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub at: Loc,
}

impl<T> Located<T> {
    fn from(spanned: Spanned<T>) -> Self {
        let at = Loc::of(&spanned);
        Self { value: spanned.value, at }
    }
}

/// One thing wrong with a workflow file, at a place in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub at: Loc,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.at.line, self.at.column, self.message)
    }
}

/// The problems of a workflow as one usage error (exit 2): each on its own line.
pub fn problems_error(problems: &[Problem]) -> CliError {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let message = match lines.as_slice() {
        [one] => one.clone(),
        many => format!("{} problems in the workflow:\n  {}", many.len(), many.join("\n  ")),
    };
    CliError::usage(message).with_hint("fix the file, then `mmm workflow check` it; docs/workflows.md has the schema")
}

/// The type of a workflow input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Number,
    Boolean,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Boolean => "boolean",
        }
    }

    /// `text` as a value of this type (`--input budget=2.5`, a nested workflow's input).
    pub fn parse(self, text: &str) -> Result<InputValue, String> {
        match self {
            InputType::String => Ok(InputValue::String(text.to_string())),
            InputType::Number => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(InputValue::Number)
                .ok_or_else(|| format!("`{text}` is not a number")),
            InputType::Boolean => match text.trim() {
                "true" => Ok(InputValue::Boolean(true)),
                "false" => Ok(InputValue::Boolean(false)),
                _ => Err(format!("`{text}` is not a boolean (true or false)")),
            },
        }
    }
}

/// An input's value.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum InputValue {
    Boolean(bool),
    Number(f64),
    String(String),
}

impl InputValue {
    fn kind(&self) -> InputType {
        match self {
            InputValue::Boolean(_) => InputType::Boolean,
            InputValue::Number(_) => InputType::Number,
            InputValue::String(_) => InputType::String,
        }
    }
}

impl fmt::Display for InputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputValue::Boolean(b) => write!(f, "{b}"),
            InputValue::Number(n) => write!(f, "{n}"),
            InputValue::String(s) => f.write_str(s),
        }
    }
}

/// A declared input.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub kind: InputType,
    pub default: Option<InputValue>,
    pub description: Option<String>,
    pub at: Loc,
}

/// A parsed workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub description: Option<String>,
    /// The file, as it was named (relative paths stay relative).
    pub path: PathBuf,
    pub inputs: Vec<Input>,
    pub steps: Vec<Step>,
}

/// `retry: {attempts, backoff_secs}`: tries in all, and the wait before the first retry
/// (doubled before each further one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    pub backoff_secs: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Self { attempts: 1, backoff_secs: DEFAULT_BACKOFF_SECS }
    }
}

/// The wait before a step's first retry when `backoff_secs` is not given.
pub const DEFAULT_BACKOFF_SECS: f64 = 1.0;

impl Retry {
    /// The wait before try `next` (2, 3, ...): `backoff_secs`, doubled for each try after
    /// the second.
    pub fn wait_before(&self, next: u32) -> Duration {
        let factor = 2f64.powi(next.saturating_sub(2).min(30) as i32);
        Duration::from_secs_f64((self.backoff_secs * factor).clamp(0.0, 86_400.0))
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based position in the file.
    pub index: usize,
    pub id: Option<Located<String>>,
    pub name: Option<String>,
    pub kind: StepKind,
    /// The condition; `None` means the default, `not run.failed`.
    pub when: Option<Located<String>>,
    pub retry: Retry,
    pub timeout: Option<Duration>,
    pub continue_on_error: bool,
    /// Extra environment variables (values are templates) for the step's processes.
    pub env: Vec<(String, Located<String>)>,
    pub at: Loc,
}

impl Step {
    /// How the step is named in output: its id, else its name, else `#<index>`.
    pub fn label(&self) -> String {
        match (&self.id, &self.name) {
            (Some(id), _) => id.value.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => format!("#{}", self.index),
        }
    }
}

/// What a step does: exactly one kind.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// A command run by mmm like a check; values reach it only as environment variables.
    Shell(Located<String>),
    Improve(ImproveStep),
    /// A spec file or a directory of them, relative to the repository root.
    Spec(Located<String>),
    Claude(ClaudeStep),
    Workflow(NestedStep),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Shell(_) => "shell",
            StepKind::Improve(_) => "improve",
            StepKind::Spec(_) => "spec",
            StepKind::Claude(_) => "claude",
            StepKind::Workflow(_) => "workflow",
        }
    }
}

/// `improve: {...}`: an improve session with these settings over the run's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImproveStep {
    /// A template.
    pub focus: Option<Located<String>>,
    pub max_iterations: Option<u32>,
    pub target: Option<f64>,
    pub model: Option<String>,
    pub budget_usd: Option<f64>,
}

/// `claude: {prompt, schema}`: one request without tools; the answer must be JSON that
/// matches `schema`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeStep {
    /// A template.
    pub prompt: Located<String>,
    pub schema: Located<serde_json::Value>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
}

/// `workflow: {path, inputs}`: another workflow, by name or path, with inputs (templates).
#[derive(Debug, Clone, PartialEq)]
pub struct NestedStep {
    pub path: Located<String>,
    pub inputs: Vec<(String, Located<String>)>,
}

// The file as written. Every struct refuses unknown keys.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    description: Option<String>,
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<RawInput>>,
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    #[serde(rename = "type")]
    kind: InputType,
    default: Option<InputValue>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<Spanned<String>>,
    name: Option<String>,
    when: Option<Spanned<String>>,
    retry: Option<Spanned<RawRetry>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    continue_on_error: bool,
    #[serde(default)]
    env: BTreeMap<String, Spanned<String>>,
    shell: Option<Spanned<String>>,
    improve: Option<Spanned<RawImprove>>,
    spec: Option<Spanned<String>>,
    claude: Option<Spanned<RawClaude>>,
    workflow: Option<Spanned<RawNested>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: u32,
    backoff_secs: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImprove {
    focus: Option<Spanned<String>>,
    max_iterations: Option<u32>,
    target: Option<f64>,
    model: Option<String>,
    budget_usd: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaude {
    prompt: Spanned<String>,
    schema: Spanned<serde_json::Value>,
    model: Option<String>,
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNested {
    path: Spanned<String>,
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<String>>,
}

/// Reads and parses the workflow file at `path` (resolved against `base`; the workflow
/// keeps `path` as given, so problems name it as the user typed it).
pub fn load_in(base: &Path, path: &Path) -> anyhow::Result<Result<Workflow, Vec<Problem>>> {
    let text =
        std::fs::read_to_string(base.join(path)).with_context(|| format!("reading the workflow {}", path.display()))?;
    Ok(parse(path, &text))
}

/// Parses a workflow's text: the YAML (a syntax, type or unknown-key error is one
/// problem, where serde-saphyr found it) and the shape of each step (every problem).
pub fn parse(path: &Path, text: &str) -> Result<Workflow, Vec<Problem>> {
    let problem = |at: Loc, message: String| Problem { file: path.to_path_buf(), at, message };
    let raw: RawWorkflow = serde_saphyr::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map_or(Loc { line: 1, column: 1 }, |l| Loc { line: l.line() as u32, column: l.column() as u32 });
        let text = e.to_string();
        vec![problem(at, crate::spec::strip_location(text.lines().next().unwrap_or_default()).to_string())]
    })?;
    let mut problems = Vec::new();
    let mut inputs = Vec::new();
    for (name, spanned) in raw.inputs {
        let at = Loc::of(&spanned);
        let raw = spanned.value;
        if let Some(default) = &raw.default
            && default.kind() != raw.kind
            && !(raw.kind == InputType::String)
        {
            problems.push(problem(
                at,
                format!("the default of input `{name}` is a {}, not a {}", default.kind().as_str(), raw.kind.as_str()),
            ));
        }
        // A string input's default written as `2` or `true` is the text.
        let default = match (raw.kind, raw.default) {
            (InputType::String, Some(value)) => Some(InputValue::String(value.to_string())),
            (_, value) => value,
        };
        inputs.push(Input { name, kind: raw.kind, default, description: raw.description, at });
    }
    let mut steps = Vec::new();
    for (i, spanned) in raw.steps.into_iter().enumerate() {
        let at = Loc::of(&spanned);
        match step(i + 1, at, spanned.value) {
            Ok(step) => steps.push(step),
            Err(message) => problems.push(problem(at, message)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Workflow { name: raw.name, description: raw.description, path: path.to_path_buf(), inputs, steps })
}

/// One step as written → a step with exactly one kind.
fn step(index: usize, at: Loc, raw: RawStep) -> Result<Step, String> {
    let mut kinds = Vec::new();
    if let Some(shell) = raw.shell {
        kinds.push(StepKind::Shell(Located::from(shell)));
    }
    if let Some(improve) = raw.improve {
        let improve = improve.value;
        kinds.push(StepKind::Improve(ImproveStep {
            focus: improve.focus.map(Located::from),
            max_iterations: improve.max_iterations,
            target: improve.target,
            model: improve.model,
            budget_usd: improve.budget_usd,
        }));
    }
    if let Some(spec) = raw.spec {
        kinds.push(StepKind::Spec(Located::from(spec)));
    }
    if let Some(claude) = raw.claude {
        let claude = claude.value;
        kinds.push(StepKind::Claude(ClaudeStep {
            prompt: Located::from(claude.prompt),
            schema: Located::from(claude.schema),
            model: claude.model,
            max_tokens: claude.max_tokens,
        }));
    }
    if let Some(nested) = raw.workflow {
        let nested = nested.value;
        kinds.push(StepKind::Workflow(NestedStep {
            path: Located::from(nested.path),
            inputs: nested.inputs.into_iter().map(|(k, v)| (k, Located::from(v))).collect(),
        }));
    }
    let label = raw.id.as_ref().map_or_else(|| format!("step #{index}"), |id| format!("step `{}`", id.value));
    let kind = match kinds.len() {
        1 => kinds.pop().expect("one kind"),
        0 => return Err(format!("{label} has no kind: give exactly one of shell, improve, spec, claude, workflow")),
        _ => {
            let names: Vec<&str> = kinds.iter().map(StepKind::name).collect();
            return Err(format!("{label} has {} kinds ({}): give exactly one", names.len(), names.join(", ")));
        }
    };
    let timeout = match raw.timeout {
        None => None,
        Some(t) => match crate::settings::value::parse_duration(&t.value) {
            Some(d) if !d.is_zero() => Some(d),
            _ => return Err(format!("{label}: `timeout: {}` is not a duration like 90s, 10m or 1h", t.value)),
        },
    };
    let retry = match raw.retry {
        None => Retry::default(),
        Some(r) => {
            let r = r.value;
            if r.attempts == 0 {
                return Err(format!("{label}: `retry.attempts` is the number of tries in all, at least 1"));
            }
            let backoff_secs = r.backoff_secs.unwrap_or(DEFAULT_BACKOFF_SECS);
            if !(0.0..=3600.0).contains(&backoff_secs) {
                return Err(format!("{label}: `retry.backoff_secs` must be from 0 to 3600"));
            }
            Retry { attempts: r.attempts, backoff_secs }
        }
    };
    Ok(Step {
        index,
        id: raw.id.map(Located::from),
        name: raw.name,
        kind,
        when: raw.when.map(Located::from),
        retry,
        timeout,
        continue_on_error: raw.continue_on_error,
        env: raw.env.into_iter().map(|(k, v)| (k, Located::from(v))).collect(),
        at,
    })
}

/// The file a workflow argument names: an existing file as given (relative to `cwd`), else
/// `<root>/.mmm/workflows/<name>.yml` (or `.yaml`).
pub fn resolve(cwd: &Path, root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let as_path = Path::new(name);
    if cwd.join(as_path).is_file() {
        return Ok(as_path.to_path_buf());
    }
    if !name.contains(['/', '\\']) {
        for ext in ["yml", "yaml"] {
            let candidate = root.join(WORKFLOW_DIR).join(format!("{name}.{ext}"));
            if candidate.is_file() {
                return Ok(candidate.strip_prefix(cwd).map(Path::to_path_buf).unwrap_or(candidate));
            }
        }
    }
    Err(CliError::usage(format!("no workflow file `{name}`, and no {WORKFLOW_DIR}/{name}.yml"))
        .with_hint(format!("give the path of a workflow file, or the name of one in {WORKFLOW_DIR}/"))
        .into())
}

/// The file a `workflow:` step names, from the file it is written in: a bare name is one
/// in `<root>/.mmm/workflows/`, anything else a path relative to that file's directory.
/// Relative to `cwd` when it is inside it, as the user would type it.
pub fn nested_path(cwd: &Path, from: &Path, root: &Path, name: &str) -> PathBuf {
    let is_name = !name.contains(['/', '\\']) && !name.ends_with(".yml") && !name.ends_with(".yaml");
    let path = if is_name {
        root.join(WORKFLOW_DIR).join(format!("{name}.yml"))
    } else {
        from.parent().unwrap_or(Path::new("")).join(name)
    };
    match path.strip_prefix(cwd) {
        Ok(relative) if path.is_absolute() => relative.to_path_buf(),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse(Path::new("w.yml"), text).unwrap_err().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_issue_example_parses() {
        let text = "name: tidy\ninputs:\n  focus: {type: string, default: \"error handling\"}\n  budget: {type: number, default: 2.0}\nsteps:\n  - id: lint\n    shell: cargo clippy\n    continue_on_error: true\n  - id: fix-lint\n    when: steps.lint.outcome == \"failure\"\n    improve: {focus: \"make clippy clean\", max_iterations: 3}\n    retry: {attempts: 2}\n";
        let w = parse(Path::new("w.yml"), text).unwrap();
        assert_eq!(w.name, "tidy");
        assert_eq!(
            w.inputs.iter().map(|i| (i.name.as_str(), i.default.clone())).collect::<Vec<_>>(),
            [("budget", Some(InputValue::Number(2.0))), ("focus", Some(InputValue::String("error handling".into())))]
        );
        assert_eq!(w.steps.len(), 2);
        assert_eq!(
            w.steps[0].kind,
            StepKind::Shell(Located { value: "cargo clippy".into(), at: Loc { line: 7, column: 12 } })
        );
        assert!(w.steps[0].continue_on_error);
        assert_eq!(w.steps[1].retry, Retry { attempts: 2, backoff_secs: 1.0 });
        assert_eq!(w.steps[1].when.as_ref().unwrap().at, Loc { line: 10, column: 11 });
        let StepKind::Improve(improve) = &w.steps[1].kind else { panic!("an improve step") };
        assert_eq!(
            (improve.focus.as_ref().unwrap().value.as_str(), improve.max_iterations),
            ("make clippy clean", Some(3))
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_line_and_column() {
        assert_eq!(
            problems("name: a\nsteps:\n  - id: x\n    shell: echo\n    whn: y\n"),
            [
                "w.yml:5:5: unknown field `whn`, expected one of id, name, when, retry, timeout, continue_on_error, env, shell, improve, spec, claude, workflow"
            ]
        );
        assert_eq!(
            problems("name: a\nsteps:\n  - shell: echo\n    retry: {attempts: two}\n"),
            ["w.yml:4:23: invalid u32"]
        );
        assert_eq!(
            problems("name: a\ninputs:\n  n: {type: integer}\nsteps: []\n"),
            ["w.yml:3:13: unknown variant `integer`, expected one of string, number, boolean"]
        );
    }

    #[test]
    fn a_step_has_exactly_one_kind() {
        assert_eq!(
            problems("name: a\nsteps:\n  - id: x\n    shell: echo\n    spec: specs/\n  - name: nothing\n"),
            [
                "w.yml:3:5: step `x` has 2 kinds (shell, spec): give exactly one",
                "w.yml:6:5: step #2 has no kind: give exactly one of shell, improve, spec, claude, workflow"
            ]
        );
    }

    #[test]
    fn retries_wait_longer_each_time() {
        let retry = Retry { attempts: 4, backoff_secs: 0.5 };
        let waits: Vec<Duration> = (2..=4).map(|n| retry.wait_before(n)).collect();
        assert_eq!(waits, [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[test]
    fn input_values_are_typed() {
        assert_eq!(InputType::Number.parse("2.5"), Ok(InputValue::Number(2.5)));
        assert_eq!(InputType::Number.parse("x"), Err("`x` is not a number".into()));
        assert_eq!(InputType::Boolean.parse("true"), Ok(InputValue::Boolean(true)));
        assert_eq!(InputType::String.parse("$(x)"), Ok(InputValue::String("$(x)".into())));
    }
}
