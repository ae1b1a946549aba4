//! `mmm workflow check`: everything that can be known about a workflow before it runs, each
//! problem at its file, line and column. Step ids and inputs, conditions and templates
//! (syntax, and every name they read: a declared input, a field of an earlier step with an
//! id, a field of `run`), shell commands with a template in them (templates are never
//! rendered into a shell command), environment names, JSON Schemas, spec paths, and nested
//! workflows (their own problems, their inputs, and cycles between them). It reads files
//! and nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::expr::{self, ROOTS, RUN_FIELDS, Reads, STEP_FIELDS, SyntaxError};
use super::{Loc, Problem, Step, StepKind, Workflow};

/// Reads, parses and checks the workflow at `path` (relative to `cwd`) and every workflow
/// it runs. `root` is the repository root (spec paths and workflow names are resolved
/// from it). `Err` holds every problem found.
pub fn load(cwd: &Path, root: &Path, path: &Path) -> anyhow::Result<Result<Workflow, Vec<Problem>>> {
    let mut stack = Vec::new();
    load_nested(cwd, root, path, &mut stack)
}

fn load_nested(
    cwd: &Path,
    root: &Path,
    path: &Path,
    stack: &mut Vec<(PathBuf, PathBuf)>,
) -> anyhow::Result<Result<Workflow, Vec<Problem>>> {
    let text = std::fs::read_to_string(cwd.join(path))
        .map_err(|e| anyhow::anyhow!("reading the workflow {}: {e}", path.display()))?;
    let workflow = match super::parse(path, &text) {
        Ok(w) => w,
        Err(problems) => return Ok(Err(problems)),
    };
    let canonical = cwd.join(path).canonicalize().unwrap_or_else(|_| cwd.join(path));
    stack.push((canonical, path.to_path_buf()));
    let mut checker = Checker { workflow: &workflow, text: &text, problems: Vec::new() };
    checker.ids_and_inputs();
    let mut earlier = BTreeSet::new();
    for step in &workflow.steps {
        checker.step(step, &earlier, cwd, root, stack)?;
        if let Some(id) = &step.id {
            earlier.insert(id.value.clone());
        }
    }
    stack.pop();
    let problems = checker.problems;
    Ok(if problems.is_empty() { Ok(workflow) } else { Err(problems) })
}

struct Checker<'a> {
    workflow: &'a Workflow,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, at: Loc, message: impl Into<String>) {
        self.problems.push(Problem { file: self.workflow.path.clone(), at, message: message.into() });
    }

    /// Ids are unique names of letters, digits, `-` and `_`, distinct as environment
    /// names too (`fix-lint` and `fix_lint` are both `MMM_STEP_FIX_LINT_*`); so are inputs.
    fn ids_and_inputs(&mut self) {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut ids = BTreeSet::new();
        for step in &self.workflow.steps {
            let Some(id) = &step.id else { continue };
            if !is_name(&id.value) {
                self.problem(
                    id.at,
                    format!("the step id `{}` must be letters, digits, `-` and `_`, starting with a letter", id.value),
                );
                continue;
            }
            if !ids.insert(id.value.clone()) {
                self.problem(id.at, format!("two steps have the id `{}`", id.value));
                continue;
            }
            let env = expr::env_name("STEP", &id.value);
            if let Some(other) = seen.get(&env) {
                let message =
                    format!("the step ids `{other}` and `{}` are the same as environment names ({env}_*)", id.value);
                self.problem(id.at, message);
            } else {
                seen.insert(env, id.value.clone());
            }
        }
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for input in &self.workflow.inputs {
            if !is_name(&input.name) {
                self.problem(
                    input.at,
                    format!(
                        "the input name `{}` must be letters, digits, `-` and `_`, starting with a letter",
                        input.name
                    ),
                );
                continue;
            }
            let env = expr::env_name("INPUT", &input.name);
            if let Some(other) = seen.insert(env.clone(), input.name.clone()) {
                self.problem(
                    input.at,
                    format!("the inputs `{other}` and `{}` are the same as environment names ({env})", input.name),
                );
            }
        }
    }

    fn step(
        &mut self,
        step: &Step,
        earlier: &BTreeSet<String>,
        cwd: &Path,
        root: &Path,
        stack: &mut Vec<(PathBuf, PathBuf)>,
    ) -> anyhow::Result<()> {
        if let Some(when) = &step.when {
            let reads = expr::check_expression(&when.value);
            self.reads(when.at, &when.value, reads, earlier, "condition");
        }
        if let (Some((_, first)), false) = (step.env.first(), matches!(step.kind, StepKind::Shell(_))) {
            self.problem(first.at, format!("`env` is for shell steps; this is a {} step", step.kind.name()));
        }
        for (name, value) in &step.env {
            if !is_env_name(name) {
                self.problem(
                    value.at,
                    format!("`{name}` is not an environment variable name (letters, digits and `_`)"),
                );
            } else if name.to_ascii_uppercase().starts_with("MMM_") {
                self.problem(value.at, format!("`{name}`: names starting with MMM_ are mmm's own"));
            }
            self.template(value.at, &value.value, earlier);
        }
        match &step.kind {
            StepKind::Shell(command) => {
                if command.value.contains("{{") || command.value.contains("{%") {
                    self.problem(
                        command.at,
                        "a shell command is run as written: templates are not rendered in it; read values from \
                         environment variables ($MMM_INPUT_<NAME>, $MMM_STEP_<ID>_OUTPUT, ...) or a step's `env:`",
                    );
                }
            }
            StepKind::Improve(improve) => {
                if let Some(focus) = &improve.focus {
                    self.template(focus.at, &focus.value, earlier);
                }
            }
            StepKind::Spec(path) => {
                if !root.join(&path.value).exists() {
                    self.problem(path.at, format!("no spec file or directory `{}` in the repository", path.value));
                }
            }
            StepKind::Claude(claude) => {
                self.template(claude.prompt.at, &claude.prompt.value, earlier);
                if let Err(e) = compile_schema(&claude.schema.value) {
                    self.problem(claude.schema.at, format!("the schema is not a valid JSON Schema: {e}"));
                }
            }
            StepKind::Workflow(nested) => {
                for (_, value) in &nested.inputs {
                    self.template(value.at, &value.value, earlier);
                }
                self.nested(step, nested, cwd, root, stack)?;
            }
        }
        Ok(())
    }

    /// The nested workflow: found, free of problems, given inputs it declares and every
    /// input it has no default for, and not one of the workflows that run it.
    fn nested(
        &mut self,
        step: &Step,
        nested: &super::NestedStep,
        cwd: &Path,
        root: &Path,
        stack: &mut Vec<(PathBuf, PathBuf)>,
    ) -> anyhow::Result<()> {
        let path = super::nested_path(cwd, &self.workflow.path, root, &nested.path.value);
        let at = nested.path.at;
        if !cwd.join(&path).is_file() {
            self.problem(at, format!("no workflow file {}", path.display()));
            return Ok(());
        }
        let canonical = cwd.join(&path).canonicalize()?;
        if let Some(start) = stack.iter().position(|(c, _)| *c == canonical) {
            let mut chain: Vec<String> = stack[start..].iter().map(|(_, shown)| shown.display().to_string()).collect();
            chain.push(path.display().to_string());
            self.problem(at, format!("workflow cycle: {}", chain.join(" → ")));
            return Ok(());
        }
        match load_nested(cwd, root, &path, stack)? {
            Err(problems) => self.problems.extend(problems),
            Ok(inner) => {
                for (name, value) in &nested.inputs {
                    if !inner.inputs.iter().any(|i| &i.name == name) {
                        self.problem(value.at, format!("the workflow `{}` has no input `{name}`", inner.name));
                    }
                }
                for input in inner.inputs.iter().filter(|i| i.default.is_none()) {
                    if !nested.inputs.iter().any(|(name, _)| name == &input.name) {
                        self.problem(
                            at,
                            format!(
                                "step `{}`: the workflow `{}` needs the input `{}`",
                                step.label(),
                                inner.name,
                                input.name
                            ),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn template(&mut self, at: Loc, source: &str, earlier: &BTreeSet<String>) {
        let reads = expr::check_template(source);
        self.reads(at, source, reads, earlier, "template");
    }

    /// A compiled condition or template: its syntax, and every name it reads.
    fn reads(
        &mut self,
        at: Loc,
        source: &str,
        reads: Result<Reads, SyntaxError>,
        earlier: &BTreeSet<String>,
        what: &str,
    ) {
        let reads = match reads {
            Ok(reads) => reads,
            Err(e) => {
                let point = point(self.text, at, source, e.offset);
                self.problem(point, format!("bad {what}: {}", e.message));
                return;
            }
        };
        for root in reads.roots.iter().filter(|r| !ROOTS.contains(&r.as_str())) {
            self.problem(
                at,
                format!("the {what} reads `{root}`, which is not defined (there are steps, inputs and run)"),
            );
        }
        for name in reads.fields_of("inputs") {
            if !self.workflow.inputs.iter().any(|i| i.name == name) {
                self.problem(at, format!("the {what} reads `inputs.{name}`, which is not a declared input"));
            }
        }
        for field in reads.fields_of("run") {
            if !RUN_FIELDS.contains(&field.as_str()) {
                self.problem(at, format!("the {what} reads `run.{field}`; run has {}", RUN_FIELDS.join(", ")));
            }
        }
        for (id, field) in reads.steps(source) {
            if !earlier.contains(&id) {
                let known = self.workflow.steps.iter().any(|s| s.id.as_ref().is_some_and(|i| i.value == id));
                let why = if known { "a step that runs later" } else { "no step with that id" };
                self.problem(at, format!("the {what} reads `steps.{id}`: {why}"));
            } else if let Some(field) = field.filter(|f| !STEP_FIELDS.contains(&f.as_str())) {
                self.problem(
                    at,
                    format!("the {what} reads `steps.{id}.{field}`; a step has {}", STEP_FIELDS.join(", ")),
                );
            }
        }
    }
}

/// Compiles a JSON Schema (draft 2020-12 unless it says otherwise).
pub fn compile_schema(schema: &serde_json::Value) -> Result<(boon::Schemas, boon::SchemaIndex), String> {
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.set_default_draft(boon::Draft::V2020_12);
    let url = "urn:mmm:workflow-step-schema";
    compiler.add_resource(url, schema.clone()).map_err(|e| e.to_string())?;
    let index = compiler.compile(url, &mut schemas).map_err(|e| format!("{e:#}"))?;
    Ok((schemas, index))
}

/// Where byte `offset` of an expression or template is in the file: exact when the value
/// is written on one line as it reads (plain or simply quoted), else where the value starts.
fn point(text: &str, at: Loc, source: &str, offset: usize) -> Loc {
    let Some(line) = text.lines().nth(at.line.saturating_sub(1) as usize) else { return at };
    let rest: String = line.chars().skip(at.column.saturating_sub(1) as usize).collect();
    let Some(before) = source.get(..offset.min(source.len())) else { return at };
    let shift = if rest.starts_with(source) {
        0
    } else if rest.starts_with(['\'', '"']) && rest[1..].starts_with(source) {
        1
    } else {
        return at;
    };
    Loc { line: at.line, column: at.column + shift + before.chars().count() as u32 }
}

/// A step id, input or workflow name: letters, digits, `-` and `_`, from a letter.
pub fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        match load(dir.path(), dir.path(), Path::new(files[0].0)).unwrap() {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_workflow_has_no_problem() {
        let text = "name: ok\ninputs:\n  focus: {type: string, default: x}\nsteps:\n  - id: lint\n    shell: make lint\n    continue_on_error: true\n  - id: notes\n    when: steps.lint.outcome == 'failure'\n    claude:\n      prompt: \"Summarise {{ steps.lint.output }} for {{ inputs.focus }}\"\n      schema: {type: object, required: [entry]}\n  - when: run.failed\n    shell: echo \"$MMM_FAILED_STEP\"\n";
        assert_eq!(problems(&[("w.yml", text)]), Vec::<String>::new());
    }

    #[test]
    fn conditions_and_templates_are_checked_name_by_name() {
        let text = "name: bad\ninputs:\n  focus: {type: string}\nsteps:\n  - id: a\n    when: steps.b.outcome == 'success'\n    shell: true\n  - id: b\n    when: steps.a.outcom == 1 or inputs.fokus or run.fialed or nope\n    shell: echo {{ inputs.focus }}\n  - id: c\n    when: steps.a.outcome ==\n    improve: {focus: \"{{ steps['zz'].summary }}\"}\n";
        assert_eq!(
            problems(&[("w.yml", text)]),
            [
                "w.yml:6:11: the condition reads `steps.b`: a step that runs later",
                "w.yml:9:11: the condition reads `nope`, which is not defined (there are steps, inputs and run)",
                "w.yml:9:11: the condition reads `inputs.fokus`, which is not a declared input",
                "w.yml:9:11: the condition reads `run.fialed`; run has failed, failed_step, cost_usd",
                "w.yml:9:11: the condition reads `steps.a.outcom`; a step has outcome, exit_code, output, json, score, commits, cost_usd, summary",
                "w.yml:10:12: a shell command is run as written: templates are not rendered in it; read values from environment variables ($MMM_INPUT_<NAME>, $MMM_STEP_<ID>_OUTPUT, ...) or a step's `env:`",
                // At the `==` with nothing after it; at the quote that opens the template.
                "w.yml:12:27: bad condition: syntax error: unexpected end of input, expected expression",
                "w.yml:13:22: the template reads `steps.zz`: no step with that id",
            ]
        );
    }

    #[test]
    fn ids_schemas_and_env_names_are_checked() {
        let text = "name: ids\nsteps:\n  - id: fix-lint\n    shell: true\n  - id: fix_lint\n    shell: true\n    env: {MMM_X: a, 'bad name': b}\n  - id: fix-lint\n    claude: {prompt: hi, schema: {type: 12}}\n";
        assert_eq!(
            problems(&[("w.yml", text)]),
            [
                "w.yml:5:9: the step ids `fix-lint` and `fix_lint` are the same as environment names (MMM_STEP_FIX_LINT_*)",
                "w.yml:8:9: two steps have the id `fix-lint`",
                "w.yml:7:18: `MMM_X`: names starting with MMM_ are mmm's own",
                "w.yml:7:33: `bad name` is not an environment variable name (letters, digits and `_`)",
                "w.yml:9:34: the schema is not a valid JSON Schema: urn:mmm:workflow-step-schema# is not valid against \
                 metaschema: jsonschema validation failed with https://json-schema.org/draft/2020-12/schema#\n\
                 - at '/type': anyOf failed\n  - at '/type': value must be one of 'array', 'boolean', 'integer', \
                 'null', 'number', 'object', 'string'\n  - at '/type': want array, but got number",
            ]
        );
    }

    #[test]
    fn nested_workflows_are_checked_and_cycles_refused() {
        let a = "name: a\nsteps:\n  - id: b\n    workflow: {path: b.yml, inputs: {what: x, extra: y}}\n";
        let b = "name: b\ninputs:\n  what: {type: string}\n  must: {type: number}\nsteps:\n  - shell: 'true'\n";
        assert_eq!(
            problems(&[("a.yml", a), ("b.yml", b)]),
            [
                "a.yml:4:54: the workflow `b` has no input `extra`",
                "a.yml:4:22: step `b`: the workflow `b` needs the input `must`"
            ]
        );
        let b = "name: b\nsteps:\n  - workflow: {path: c.yml}\n";
        let c = "name: c\nsteps:\n  - workflow: {path: a.yml}\n";
        let a = "name: a\nsteps:\n  - workflow: {path: b.yml}\n";
        assert_eq!(
            problems(&[("a.yml", a), ("b.yml", b), ("c.yml", c)]),
            ["c.yml:3:22: workflow cycle: a.yml → b.yml → c.yml → a.yml"]
        );
    }
}
