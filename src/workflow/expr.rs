//! The one expression language of workflows: `when:` conditions and `{{ }}` templates are
//! both minijinja, over the same context (`steps.<id>.*`, `inputs.*`, `run.*`).
//!
//! Templates are rendered only into text that is no program: prompts, an improve step's
//! focus, a nested workflow's inputs, and environment variable values. A shell step never
//! has a value spliced into its command: what it may read reaches it as environment
//! variables ([`shell_env`]). Undefined names are errors, at check time and at run time,
//! never an empty string. Nothing here runs a step.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::InputValue;

/// The condition of a step without `when:`.
pub const DEFAULT_WHEN: &str = "not run.failed";

/// What a step exposes as `steps.<id>.<field>`.
pub const STEP_FIELDS: &[&str] = &["outcome", "exit_code", "output", "json", "score", "commits", "cost_usd", "summary"];

/// What the run exposes as `run.<field>`.
pub const RUN_FIELDS: &[&str] = &["failed", "failed_step", "cost_usd"];

/// The names an expression may start with.
pub const ROOTS: &[&str] = &["steps", "inputs", "run"];

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// What a finished (or skipped) step exposes to the steps after it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StepResult {
    pub outcome: Outcome,
    /// A shell step's exit code (`None` when killed or timed out).
    pub exit_code: Option<i32>,
    /// A shell step's stdout and stderr as they arrived, capped (head and tail) and redacted.
    pub output: Option<String>,
    /// A `claude` step's answer.
    pub json: Option<serde_json::Value>,
    /// An improve step's last review score.
    pub score: Option<f64>,
    /// Commits the step's sessions made.
    pub commits: Vec<String>,
    pub cost_usd: Option<f64>,
    /// What the step did, in a line.
    pub summary: Option<String>,
}

impl StepResult {
    pub fn new(outcome: Outcome) -> Self {
        Self {
            outcome,
            exit_code: None,
            output: None,
            json: None,
            score: None,
            commits: Vec::new(),
            // Spent nothing, until a step that sends requests says what it spent.
            cost_usd: Some(0.0),
            summary: None,
        }
    }
}

/// `run.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunFacts {
    /// A step failed without `continue_on_error`.
    pub failed: bool,
    /// That step's label.
    pub failed_step: Option<String>,
    /// Spent so far (`None` once a cost was unknown).
    pub cost_usd: Option<f64>,
}

/// Everything conditions and templates can read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub steps: BTreeMap<String, StepResult>,
    pub inputs: BTreeMap<String, InputValue>,
    pub run: RunFacts,
}

/// The shared minijinja environment: undefined names are errors, nothing is escaped.
fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env
    })
}

/// An expression or template that does not compile: where in its text, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Byte offset into the source.
    pub offset: usize,
    pub message: String,
}

/// The names an expression or template reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reads {
    /// Top-level names (`steps`, `inputs`, `x`).
    pub roots: BTreeSet<String>,
    /// Dotted paths: `steps.lint.outcome`, `inputs.focus`, `run.failed`.
    pub paths: BTreeSet<String>,
}

impl Reads {
    /// `(step id, field)` for every step the source reads, dotted or by item
    /// (`steps['fix-lint'].summary`).
    pub fn steps(&self, source: &str) -> Vec<(String, Option<String>)> {
        let mut refs: Vec<(String, Option<String>)> = self
            .paths
            .iter()
            .filter_map(|p| p.strip_prefix("steps."))
            .map(|rest| {
                let mut parts = rest.splitn(3, '.');
                let id = parts.next().unwrap_or_default().to_string();
                (id, parts.next().map(str::to_string))
            })
            .collect();
        static ITEM: OnceLock<regex::Regex> = OnceLock::new();
        let item = ITEM.get_or_init(|| {
            regex::Regex::new(r#"\bsteps\s*\[\s*(?:'([^']*)'|"([^"]*)")\s*\](?:\s*\.\s*([A-Za-z_][A-Za-z0-9_]*))?"#)
                .expect("a valid pattern")
        });
        for c in item.captures_iter(source) {
            let id = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str()).to_string();
            refs.push((id, c.get(3).map(|m| m.as_str().to_string())));
        }
        refs
    }

    /// The second part of every dotted path under `root` (`inputs.focus` → `focus`).
    pub fn fields_of(&self, root: &str) -> Vec<String> {
        let prefix = format!("{root}.");
        self.paths
            .iter()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| rest.split('.').next().unwrap_or_default().to_string())
            .collect()
    }
}

fn syntax_error(e: &minijinja::Error) -> SyntaxError {
    SyntaxError {
        offset: e.range().map_or(0, |r| r.start),
        message: e.detail().map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind())),
    }
}

/// Compiles a condition and says what it reads.
pub fn check_expression(source: &str) -> Result<Reads, SyntaxError> {
    let expr = environment().compile_expression(source).map_err(|e| syntax_error(&e))?;
    Ok(Reads { roots: sorted(expr.undeclared_variables(false)), paths: sorted(expr.undeclared_variables(true)) })
}

/// Compiles a template and says what it reads.
pub fn check_template(source: &str) -> Result<Reads, SyntaxError> {
    let template = environment().template_from_str(source).map_err(|e| syntax_error(&e))?;
    Ok(Reads {
        roots: sorted(template.undeclared_variables(false)),
        paths: sorted(template.undeclared_variables(true)),
    })
}

fn sorted(names: std::collections::HashSet<String>) -> BTreeSet<String> {
    names.into_iter().collect()
}

/// The value of a condition: true or false by minijinja's truthiness. An undefined name
/// or a failing operation is an error.
pub fn condition(source: &str, ctx: &Context) -> Result<bool, String> {
    let expr = environment().compile_expression(source).map_err(|e| e.to_string())?;
    let value = expr.eval(Value::from(minijinja::value::Serde(ctx))).map_err(|e| e.to_string())?;
    Ok(value.is_true())
}

/// A template rendered with the context.
pub fn render(source: &str, ctx: &Context) -> Result<String, String> {
    environment().render_str(source, Value::from(minijinja::value::Serde(ctx))).map_err(|e| e.to_string())
}

/// A template rendered for a dry run, where the steps before have not produced their
/// values: what is inside a value that is none renders as nothing instead of failing.
pub fn render_unknowns_empty(source: &str, ctx: &Context) -> Result<String, String> {
    static LENIENT: OnceLock<Environment<'static>> = OnceLock::new();
    let env = LENIENT.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env
    });
    env.render_str(source, Value::from(minijinja::value::Serde(ctx))).map_err(|e| e.to_string())
}

/// `MMM_<PREFIX>_<NAME>`: the name upper-cased, every other character than a letter or
/// digit made `_` (`fix-lint` → `FIX_LINT`).
pub fn env_name(prefix: &str, name: &str) -> String {
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("MMM_{prefix}_{name}")
}

/// The environment a shell step gets from the context: `MMM_INPUT_<NAME>` per input,
/// `MMM_STEP_<ID>_<FIELD>` per field a finished step has (`OUTCOME`, `EXIT_CODE`, `OUTPUT`,
/// `JSON`, `SCORE`, `COMMITS` (space-separated), `COST_USD`, `SUMMARY`), `MMM_RUN_FAILED`,
/// `MMM_FAILED_STEP` once a step failed the run, and `MMM_RUN_COST_USD` when known.
pub fn shell_env(ctx: &Context) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        ctx.inputs.iter().map(|(name, value)| (env_name("INPUT", name), value.to_string())).collect();
    for (id, step) in &ctx.steps {
        let var = |field: &str| env_name("STEP", &format!("{id}_{field}"));
        env.push((var("OUTCOME"), step.outcome.as_str().to_string()));
        let fields = [
            ("EXIT_CODE", step.exit_code.map(|c| c.to_string())),
            ("OUTPUT", step.output.clone()),
            ("JSON", step.json.as_ref().map(|j| j.to_string())),
            ("SCORE", step.score.map(|s| s.to_string())),
            ("COMMITS", (!step.commits.is_empty()).then(|| step.commits.join(" "))),
            ("COST_USD", step.cost_usd.map(|c| c.to_string())),
            ("SUMMARY", step.summary.clone()),
        ];
        for (field, value) in fields {
            if let Some(value) = value {
                env.push((var(field), value));
            }
        }
    }
    env.push(("MMM_RUN_FAILED".into(), ctx.run.failed.to_string()));
    if let Some(step) = &ctx.run.failed_step {
        env.push(("MMM_FAILED_STEP".into(), step.clone()));
    }
    if let Some(cost) = ctx.run.cost_usd {
        env.push(("MMM_RUN_COST_USD".into(), cost.to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let mut lint = StepResult::new(Outcome::Failure);
        lint.exit_code = Some(1);
        lint.output = Some("warning: x".into());
        let mut notes = StepResult::new(Outcome::Success);
        notes.json = Some(serde_json::json!({"entry": "Fixed lints"}));
        let mut ctx = Context::default();
        ctx.steps.insert("lint".into(), lint);
        ctx.steps.insert("fix-lint".into(), notes);
        ctx.inputs.insert("focus".into(), InputValue::String("errors".into()));
        ctx
    }

    #[test]
    fn conditions_read_steps_inputs_and_the_run() {
        let ctx = ctx();
        assert_eq!(condition("steps.lint.outcome == \"failure\"", &ctx), Ok(true));
        assert_eq!(condition(DEFAULT_WHEN, &ctx), Ok(true));
        assert_eq!(condition("run.failed", &ctx), Ok(false));
        assert_eq!(condition("steps['fix-lint'].json.entry == 'Fixed lints'", &ctx), Ok(true));
        assert_eq!(condition("inputs.focus == 'errors' and steps.lint.exit_code == 1", &ctx), Ok(true));
        let err = condition("steps.lint.outcom == 'x'", &ctx).unwrap_err();
        assert!(err.starts_with("undefined value"), "{err}");
    }

    #[test]
    fn templates_render_and_undefined_names_are_errors() {
        let ctx = ctx();
        assert_eq!(
            render("Entry: {{ steps['fix-lint'].json.entry }} ({{ inputs.focus }})", &ctx).unwrap(),
            "Entry: Fixed lints (errors)"
        );
        assert!(render("{{ inputs.nope }}", &ctx).is_err());
    }

    #[test]
    fn reads_name_the_steps_and_fields() {
        let reads = check_expression("steps.lint.outcome == 'failure' and steps['fix-lint'].summary").unwrap();
        assert_eq!(reads.roots, BTreeSet::from(["steps".to_string()]));
        assert_eq!(
            reads.steps("steps.lint.outcome == 'failure' and steps['fix-lint'].summary"),
            [("lint".to_string(), Some("outcome".to_string())), ("fix-lint".to_string(), Some("summary".to_string()))]
        );
        let reads = check_template("{{ inputs.focus }} {% if run.failed %}{{ x }}{% endif %}").unwrap();
        assert_eq!(reads.roots, BTreeSet::from(["inputs".to_string(), "run".to_string(), "x".to_string()]));
        assert_eq!(reads.fields_of("inputs"), ["focus"]);
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = check_expression("steps.lint.outcome ==").unwrap_err();
        assert_eq!(
            e,
            SyntaxError { offset: 19, message: "syntax error: unexpected end of input, expected expression".into() }
        );
    }

    #[test]
    fn the_shell_environment_names_every_value() {
        let mut ctx = ctx();
        ctx.run = RunFacts { failed: true, failed_step: Some("lint".into()), cost_usd: Some(0.5) };
        assert_eq!(
            shell_env(&ctx),
            [
                ("MMM_INPUT_FOCUS".to_string(), "errors".to_string()),
                ("MMM_STEP_FIX_LINT_OUTCOME".into(), "success".into()),
                ("MMM_STEP_FIX_LINT_JSON".into(), "{\"entry\":\"Fixed lints\"}".into()),
                ("MMM_STEP_FIX_LINT_COST_USD".into(), "0".into()),
                ("MMM_STEP_LINT_OUTCOME".into(), "failure".into()),
                ("MMM_STEP_LINT_EXIT_CODE".into(), "1".into()),
                ("MMM_STEP_LINT_OUTPUT".into(), "warning: x".into()),
                ("MMM_STEP_LINT_COST_USD".into(), "0".into()),
                ("MMM_RUN_FAILED".into(), "true".into()),
                ("MMM_FAILED_STEP".into(), "lint".into()),
                ("MMM_RUN_COST_USD".into(), "0.5".into()),
            ]
        );
    }
}
