//! `mmm workflow run --dry-run`: what each step would do, worked out without running
//! anything or sending anything. Each condition is evaluated with the names it reads;
//! each step that would run shows its command and the environment it would get, or its
//! rendered prompt, focus, spec path or nested inputs. A step that would run is assumed to
//! succeed unless `--assume STEP=failure` says otherwise; what it would expose besides its
//! outcome cannot be known before it runs, so those fields are none (a template shows
//! `none`, and nothing for what is inside one).

use std::collections::BTreeMap;

use serde::Serialize;

use super::expr::{self, Context, Outcome, StepResult};
use super::{InputValue, StepKind, Workflow};

/// One step of a dry run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explained {
    pub r#type: &'static str,
    pub workflow: String,
    pub step: String,
    pub kind: &'static str,
    pub condition: String,
    /// The names the condition reads, with their values in this dry run.
    pub reads: BTreeMap<String, serde_json::Value>,
    /// Whether the condition is true (the step would run).
    pub runs: bool,
    /// The outcome the rest of the dry run assumes for it.
    pub assumed: Outcome,
    /// A shell step's command, as it would run (never rendered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The environment variables a shell step would get from mmm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// A claude step's prompt, an improve step's focus, a nested workflow's inputs, rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<BTreeMap<String, String>>,
    /// A spec step's path, a nested workflow's file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why a condition or template could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every step of `workflow` as a run with `inputs` would take it, each step that runs
/// assumed to end as `assume` says (default: success).
pub fn explain(
    workflow: &Workflow,
    inputs: BTreeMap<String, InputValue>,
    assume: &BTreeMap<String, Outcome>,
) -> Vec<Explained> {
    let mut ctx = Context { inputs, ..Context::default() };
    ctx.run.cost_usd = None;
    let mut out = Vec::new();
    for step in &workflow.steps {
        let label = step.label();
        let condition = step.when.as_ref().map_or(expr::DEFAULT_WHEN, |w| w.value.as_str()).to_string();
        let reads = reads_of(&condition, &ctx);
        let mut explained = Explained {
            r#type: "explain_step",
            workflow: workflow.name.clone(),
            step: label.clone(),
            kind: step.kind.name(),
            condition: condition.clone(),
            reads,
            runs: false,
            assumed: Outcome::Skipped,
            command: None,
            env: None,
            rendered: None,
            target: None,
            error: None,
        };
        match expr::condition(&condition, &ctx) {
            Ok(runs) => explained.runs = runs,
            Err(e) => explained.error = Some(format!("the condition failed: {e}")),
        }
        if explained.runs {
            explained.assumed = assume.get(&label).copied().unwrap_or(Outcome::Success);
            describe(step, &ctx, &mut explained);
        } else if explained.error.is_some() {
            explained.assumed = Outcome::Failure;
        }
        if explained.assumed == Outcome::Failure && !step.continue_on_error && !ctx.run.failed {
            ctx.run.failed = true;
            ctx.run.failed_step = Some(label.clone());
        }
        if let Some(id) = &step.id {
            ctx.steps.insert(id.value.clone(), StepResult { cost_usd: None, ..StepResult::new(explained.assumed) });
        }
        out.push(explained);
    }
    out
}

/// What the step would be given: its command and environment, or its rendered templates.
fn describe(step: &super::Step, ctx: &Context, explained: &mut Explained) {
    let mut rendered = BTreeMap::new();
    let mut render = |name: &str, source: &str| match expr::render_unknowns_empty(source, ctx) {
        Ok(text) => {
            rendered.insert(name.to_string(), text);
        }
        Err(e) => explained.error = Some(format!("`{name}` could not be rendered: {e}")),
    };
    match &step.kind {
        StepKind::Shell(command) => {
            let mut env: BTreeMap<String, String> = expr::shell_env(ctx).into_iter().collect();
            for (name, value) in &step.env {
                match expr::render_unknowns_empty(&value.value, ctx) {
                    Ok(text) => {
                        env.insert(name.clone(), text);
                    }
                    Err(e) => explained.error = Some(format!("`{name}` could not be rendered: {e}")),
                }
            }
            explained.command = Some(command.value.clone());
            explained.env = Some(env);
        }
        StepKind::Improve(improve) => {
            if let Some(focus) = &improve.focus {
                render("focus", &focus.value);
            }
        }
        StepKind::Spec(path) => explained.target = Some(path.value.clone()),
        StepKind::Claude(claude) => render("prompt", &claude.prompt.value),
        StepKind::Workflow(nested) => {
            explained.target = Some(nested.path.value.clone());
            for (name, value) in &nested.inputs {
                render(&format!("inputs.{name}"), &value.value);
            }
        }
    }
    if !rendered.is_empty() {
        explained.rendered = Some(rendered);
    }
}

/// The dotted names a condition reads and their values now (`null` for none).
fn reads_of(condition: &str, ctx: &Context) -> BTreeMap<String, serde_json::Value> {
    let Ok(reads) = expr::check_expression(condition) else { return BTreeMap::new() };
    let context = serde_json::to_value(ctx).unwrap_or_default();
    let mut names: Vec<String> = reads.paths.iter().cloned().collect();
    for (id, field) in reads.steps(condition) {
        names.push(match field {
            Some(field) => format!("steps.{id}.{field}"),
            None => format!("steps.{id}"),
        });
    }
    names
        .into_iter()
        .filter(|name| name.contains('.'))
        .map(|name| {
            let value = name.split('.').try_fold(&context, |v, part| v.get(part)).cloned().unwrap_or_default();
            (name, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_follow_the_assumed_outcomes() {
        let text = "name: x\ninputs:\n  who: {type: string, default: you}\nsteps:\n  - id: lint\n    shell: make lint\n  - id: fix\n    when: steps.lint.outcome == 'failure'\n    improve: {focus: \"for {{ inputs.who }}\"}\n  - id: report\n    when: run.failed\n    shell: echo \"$MMM_FAILED_STEP\"\n";
        let w = super::super::parse(std::path::Path::new("x.yml"), text).unwrap();
        let inputs = BTreeMap::from([("who".to_string(), InputValue::String("you".into()))]);
        let plain = explain(&w, inputs.clone(), &BTreeMap::new());
        assert_eq!(
            plain.iter().map(|e| (e.step.as_str(), e.runs, e.assumed)).collect::<Vec<_>>(),
            [("lint", true, Outcome::Success), ("fix", false, Outcome::Skipped), ("report", false, Outcome::Skipped)]
        );
        let failing = explain(&w, inputs, &BTreeMap::from([("lint".to_string(), Outcome::Failure)]));
        assert_eq!(
            failing.iter().map(|e| (e.step.as_str(), e.runs, e.assumed)).collect::<Vec<_>>(),
            [("lint", true, Outcome::Failure), ("fix", true, Outcome::Success), ("report", true, Outcome::Success)]
        );
        assert_eq!(failing[1].rendered, Some(BTreeMap::from([("focus".to_string(), "for you".to_string())])));
        assert_eq!(
            failing[1].reads,
            BTreeMap::from([("steps.lint.outcome".to_string(), serde_json::json!("failure"))])
        );
        let env = failing[2].env.as_ref().unwrap();
        assert_eq!(env.get("MMM_FAILED_STEP").map(String::as_str), Some("lint"));
        assert_eq!(env.get("MMM_INPUT_WHO").map(String::as_str), Some("you"));
    }
}
