//! `mmm workflow list` (the files in `.mmm/workflows/`, each checked, or the templates),
//! `mmm workflow new` (a template written into `.mmm/workflows/`), `mmm workflow check`
//! (the file and every workflow it runs, each problem at file:line:col, exit 2) and
//! `mmm workflow run` (its inputs typed, then the steps on the session engine
//! through `session::workflow`, with Ctrl+C as a cancellation token).

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::Ctx;
use super::improve::model;
use crate::cli::{
    WorkflowAddArgs, WorkflowCheckArgs, WorkflowListArgs, WorkflowNewArgs, WorkflowRunArgs, WorkflowShowArgs,
};
use crate::error::CliError;
use crate::git::Git;
use crate::llm::Pricing;
use crate::printer::{Report, Styles};
use crate::session::workflow::{self as runner, Runtime};
use crate::settings::session::SessionConfig;
use crate::state::workflow_run::{RunRecord, RunStatus, StepRecord, StepState};
use crate::workflow::expr::Outcome;
use crate::workflow::{self, Step, Workflow, check, explain};

/// The repository root, or the working directory outside a repository.
fn root(ctx: &Ctx<'_>) -> PathBuf {
    Git::open(&ctx.cwd).map(|g| g.root().to_path_buf()).unwrap_or_else(|_| ctx.cwd.clone())
}

/// The named workflow, read and checked; its problems are a usage error (exit 2).
fn load(cwd: &Path, root: &Path, name: &str) -> anyhow::Result<Workflow> {
    let path = workflow::resolve(cwd, root, name)?;
    check::load(cwd, root, &path)?.map_err(|problems| workflow::problems_error(&problems).into())
}

#[derive(Serialize)]
struct Checked {
    r#type: &'static str,
    workflow: String,
    path: String,
    steps: Vec<String>,
    inputs: Vec<String>,
}

impl Report for Checked {
    fn human(&self, s: &Styles) -> String {
        let inputs =
            if self.inputs.is_empty() { String::new() } else { format!("; inputs: {}", self.inputs.join(", ")) };
        format!("{} {}: workflow `{}`, {} step(s){inputs}", s.green("✓"), self.path, self.workflow, self.steps.len())
    }
}

pub fn check(ctx: &Ctx<'_>, args: &WorkflowCheckArgs) -> anyhow::Result<()> {
    let workflow = load(&ctx.cwd, &root(ctx), &args.workflow)?;
    ctx.printer.report(&Checked {
        r#type: "workflow_check",
        path: workflow.path.display().to_string(),
        steps: workflow.steps.iter().map(workflow::Step::label).collect(),
        inputs: workflow.inputs.iter().map(|i| i.name.clone()).collect(),
        workflow: workflow.name,
    })
}

#[derive(Serialize)]
struct Listed {
    r#type: &'static str,
    /// The name `mmm workflow run` takes: the file's stem.
    name: String,
    path: String,
    /// The workflow's own `name`, when it parses.
    workflow: Option<String>,
    description: Option<String>,
    steps: usize,
    /// Each problem `mmm workflow check` would report; empty when it checks.
    problems: Vec<String>,
}

#[derive(Serialize)]
#[serde(transparent)]
struct List(Vec<Listed>);

impl Report for List {
    fn human(&self, s: &Styles) -> String {
        if self.0.is_empty() {
            return format!("No workflows in {}/ yet: see docs/workflows.md for the format.", workflow::WORKFLOW_DIR);
        }
        let width = self.0.iter().map(|l| l.name.len()).max().unwrap_or(4).max(4);
        let mut lines = vec![s.bold(format!("{:width$}  {:5}  DESCRIPTION", "NAME", "STEPS"))];
        for l in &self.0 {
            let about = match l.problems.first() {
                Some(problem) => s.red(format!("{} problem(s), first: {problem}", l.problems.len())),
                None => l.description.clone().unwrap_or_default(),
            };
            lines.push(format!("{:width$}  {:5}  {about}", l.name, l.steps));
        }
        lines.join("\n")
    }
}

#[derive(Serialize)]
struct TemplateLine {
    r#type: &'static str,
    name: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
#[serde(transparent)]
struct TemplateList(Vec<TemplateLine>);

impl Report for TemplateList {
    fn human(&self, s: &Styles) -> String {
        let width = self.0.iter().map(|t| t.name.len()).max().unwrap_or(8).max(8);
        let mut lines = vec![s.bold(format!("{:width$}  DESCRIPTION", "TEMPLATE"))];
        lines.extend(self.0.iter().map(|t| format!("{:width$}  {}", t.name, t.description)));
        lines.push(String::new());
        lines.push("Write one to edit with `mmm workflow new NAME --from TEMPLATE`.".into());
        lines.join("\n")
    }
}

pub fn list(ctx: &Ctx<'_>, args: &WorkflowListArgs) -> anyhow::Result<()> {
    if args.templates {
        let lines: Vec<TemplateLine> = workflow::templates::TEMPLATES
            .iter()
            .map(|t| TemplateLine { r#type: "workflow_template", name: t.name, description: t.description() })
            .collect();
        if ctx.printer.is_json() {
            return lines.iter().try_for_each(|l| ctx.printer.json(l));
        }
        return ctx.printer.report(&TemplateList(lines));
    }
    let root = root(ctx);
    let dir = root.join(workflow::WORKFLOW_DIR);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", dir.display()))),
    };
    files.sort();
    let mut listed = Vec::new();
    for file in files {
        let path = file.strip_prefix(&ctx.cwd).map(Path::to_path_buf).unwrap_or_else(|_| file.clone());
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let parsed = workflow::load_in(&ctx.cwd, &path)?;
        let checked = check::load(&ctx.cwd, &root, &path)?;
        let problems = checked.err().unwrap_or_default().iter().map(ToString::to_string).collect();
        let (workflow, description, steps) = match parsed {
            Ok(w) => (Some(w.name), w.description, w.steps.len()),
            Err(_) => (None, None, 0),
        };
        let path = path.display().to_string();
        listed.push(Listed { r#type: "workflow", name, path, workflow, description, steps, problems });
    }
    if ctx.printer.is_json() {
        return listed.iter().try_for_each(|l| ctx.printer.json(l));
    }
    ctx.printer.report(&List(listed))
}

pub fn new(ctx: &Ctx<'_>, args: &WorkflowNewArgs) -> anyhow::Result<()> {
    let Some(template) = workflow::templates::find(&args.from) else {
        let names: Vec<&str> = workflow::templates::TEMPLATES.iter().map(|t| t.name).collect();
        return Err(CliError::usage(format!("no template `{}`", args.from))
            .with_hint(format!(
                "the templates: {} (`mmm workflow list --templates` says what each does)",
                names.join(", ")
            ))
            .into());
    };
    if !workflow::check::is_name(&args.name) {
        return Err(CliError::usage(format!("`{}` is not a workflow name", args.name))
            .with_hint("use letters, digits, `-` and `_`, starting with a letter")
            .into());
    }
    let root = root(ctx);
    let file = root.join(workflow::WORKFLOW_DIR).join(format!("{}.yml", args.name));
    let shown = file.strip_prefix(&ctx.cwd).unwrap_or(&file).display().to_string();
    if file.exists() {
        return Err(CliError::usage(format!("{shown} exists already"))
            .with_hint("edit it, or choose another name")
            .into());
    }
    std::fs::create_dir_all(root.join(workflow::WORKFLOW_DIR))?;
    crate::state::write_atomic(&file, template.named(&args.name).as_bytes())?;
    if ctx.printer.is_json() {
        return ctx
            .printer
            .json(&serde_json::json!({"type": "workflow_created", "path": shown, "template": template.name}));
    }
    ctx.printer.line(format!(
        "Wrote {shown} from the template `{}`: edit it, then `mmm workflow check {}` and `mmm workflow run {} --dry-run`",
        template.name, args.name, args.name
    ))
}

pub fn run(ctx: &Ctx<'_>, args: &WorkflowRunArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let workflow = load(&ctx.cwd, git.root(), &args.workflow)?;
    let mut given = Vec::new();
    for pair in &args.inputs {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(CliError::usage(format!("`--input {pair}` is not NAME=VALUE"))
                .with_hint("give each input as --input name=value")
                .into());
        };
        given.push((name.trim().to_string(), value.to_string()));
    }
    // A resumed run keeps the inputs it was started with.
    let inputs = match args.resume {
        Some(_) => Default::default(),
        None => runner::inputs_for(&workflow, &given).map_err(|e| {
            CliError::usage(e).with_hint(format!("`mmm workflow check {}` lists the inputs", args.workflow))
        })?,
    };
    if args.dry_run {
        return dry_run(ctx, &workflow, inputs, &args.assume);
    }
    let config = SessionConfig::resolve(&ctx.settings);
    let pricing = Pricing::from_settings(&ctx.settings)?;
    let make_model = || model(ctx);
    super::block_on(async {
        let (base, hooks) = super::run::runtime(ctx, &git, &make_model);
        let rt = Runtime { base, config, pricing };
        let start = runner::Start { resume: args.resume.clone(), from: args.from.clone(), only: args.only.clone() };
        let outcome = runner::run(&rt, &workflow, inputs, &start).await;
        let hooked = hooks.finish().await;
        outcome.and_then(|o| hooked.map(|()| o))
    })?
}

/// `--dry-run`: every step as the run would take it, with the outcomes `--assume` gives.
fn dry_run(
    ctx: &Ctx<'_>,
    workflow: &Workflow,
    inputs: std::collections::BTreeMap<String, workflow::InputValue>,
    assume: &[String],
) -> anyhow::Result<()> {
    let mut assumed = std::collections::BTreeMap::new();
    for pair in assume {
        let outcome = match pair.split_once('=') {
            Some((step, "success")) => Some((step, Outcome::Success)),
            Some((step, "failure")) => Some((step, Outcome::Failure)),
            _ => None,
        };
        let Some((step, outcome)) = outcome else {
            return Err(CliError::usage(format!("`--assume {pair}` is not STEP=success or STEP=failure"))
                .with_hint("e.g. --assume lint=failure")
                .into());
        };
        if !workflow.steps.iter().any(|s| s.label() == step) {
            return Err(CliError::usage(format!("`--assume {pair}`: the workflow has no step `{step}`"))
                .with_hint(format!(
                    "its steps: {}",
                    workflow.steps.iter().map(Step::label).collect::<Vec<_>>().join(", ")
                ))
                .into());
        }
        assumed.insert(step.to_string(), outcome);
    }
    let explained = explain::explain(workflow, inputs, &assumed);
    if ctx.printer.is_json() {
        return explained.iter().try_for_each(|e| ctx.printer.json(e));
    }
    ctx.printer.report(&Explanation { workflow: workflow.name.clone(), steps: explained })
}

#[derive(Serialize)]
struct Explanation {
    workflow: String,
    steps: Vec<explain::Explained>,
}

impl Report for Explanation {
    fn human(&self, s: &Styles) -> String {
        let mut lines =
            vec![format!("{} workflow {}: nothing runs, nothing is sent", s.bold("Dry run:"), self.workflow)];
        for e in &self.steps {
            let reads: Vec<String> = e.reads.iter().map(|(name, value)| format!("{name} = {value}")).collect();
            let reads = if reads.is_empty() { String::new() } else { format!(" ({})", reads.join(", ")) };
            let verdict = if e.runs { s.green("runs") } else { s.dim("skipped") };
            let assumed = match (e.runs, e.assumed) {
                (true, Outcome::Failure) => s.yellow(" — assumed to fail"),
                _ => String::new(),
            };
            lines.push(format!("{} {}  {}: `{}` is {}{reads}{assumed}", verdict, e.step, e.kind, e.condition, e.runs));
            if let Some(command) = &e.command {
                lines.push(format!("    command: {command}"));
            }
            for (name, value) in e.env.iter().flatten() {
                lines.push(format!("    env {name}={}", value.lines().next().unwrap_or_default()));
            }
            for (name, value) in e.rendered.iter().flatten() {
                lines.push(format!("    {name}: {value}"));
            }
            if let Some(target) = &e.target {
                lines.push(format!("    {}: {target}", if e.kind == "spec" { "spec" } else { "workflow" }));
            }
            if let Some(error) = &e.error {
                lines.push(format!("    {} {error}", s.red("error:")));
            }
        }
        lines.join("\n")
    }
}

#[derive(Serialize)]
struct ShownInput {
    name: String,
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<workflow::InputValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Serialize)]
struct ShownStep {
    step: String,
    kind: &'static str,
    /// The condition as written, or the default.
    when: String,
    /// What it runs, in a line: the command, the focus, the spec path, the prompt, the workflow.
    what: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_secs: Option<f64>,
    continue_on_error: bool,
    /// The step in the last recorded run, when it got to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<StepRecord>,
}

#[derive(Serialize)]
struct LastRun {
    id: String,
    status: RunStatus,
    started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
}

#[derive(Serialize)]
struct Shown {
    r#type: &'static str,
    workflow: String,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    inputs: Vec<ShownInput>,
    steps: Vec<ShownStep>,
    last_run: Option<LastRun>,
}

impl Report for Shown {
    fn human(&self, s: &Styles) -> String {
        let mut lines = vec![s.bold(format!("Workflow {} ({})", self.workflow, self.path))];
        if let Some(description) = &self.description {
            lines.push(format!("  {description}"));
        }
        if !self.inputs.is_empty() {
            lines.push(String::new());
            lines.push(s.bold("Inputs"));
            for i in &self.inputs {
                let default = match &i.default {
                    None => "required".to_string(),
                    Some(workflow::InputValue::String(text)) => format!("default {text:?}"),
                    Some(value) => format!("default {value}"),
                };
                let about = i.description.as_ref().map(|d| format!(" — {d}")).unwrap_or_default();
                lines.push(format!("  {} ({}, {default}){about}", i.name, i.r#type));
            }
        }
        lines.push(String::new());
        lines.push(s.bold(match &self.last_run {
            Some(run) => format!("Steps (last run {}: {}, started {})", run.id, run.status.as_str(), run.started_at),
            None => "Steps (never run)".to_string(),
        }));
        for (n, step) in self.steps.iter().enumerate() {
            let mut extra = Vec::new();
            if step.attempts > 1 {
                extra.push(format!("{} tries", step.attempts));
            }
            if let Some(t) = step.timeout_secs {
                extra.push(format!("timeout {t}s"));
            }
            if step.continue_on_error {
                extra.push("continue_on_error".into());
            }
            let extra = if extra.is_empty() { String::new() } else { format!(" [{}]", extra.join(", ")) };
            lines.push(format!("  {}. {} ({}) when `{}`{extra}", n + 1, s.bold(&step.step), step.kind, step.when));
            lines.push(format!("     {}", step.what));
            if let Some(last) = &step.last {
                let cost = last.result.as_ref().and_then(|r| r.cost_usd);
                let state = match last.state {
                    StepState::Success => s.green("success"),
                    StepState::Failure | StepState::Interrupted => s.red(last.state.as_str()),
                    StepState::Skipped | StepState::Running => s.dim(last.state.as_str()),
                };
                let mut line = format!(
                    "     last run: {state}, {:.1}s, {}",
                    last.duration_ms as f64 / 1e3,
                    crate::session::events::cost(cost)
                );
                if let Some(error) = &last.error {
                    line.push_str(&format!(" — {error}"));
                }
                lines.push(line);
            }
        }
        lines.join("\n")
    }
}

/// A step's work in a line.
fn what(step: &Step) -> String {
    use workflow::StepKind;
    let line = |text: &str| text.lines().next().unwrap_or_default().to_string();
    match &step.kind {
        StepKind::Shell(command) => format!("$ {}", line(&command.value)),
        StepKind::Improve(improve) => match &improve.focus {
            Some(focus) => format!("improve, focus: {}", line(&focus.value)),
            None => "improve".to_string(),
        },
        StepKind::Spec(path) => format!("spec {}", path.value),
        StepKind::Claude(claude) => format!("prompt: {}", line(&claude.prompt.value)),
        StepKind::Workflow(nested) => format!("workflow {}", nested.path.value),
    }
}

pub fn show(ctx: &Ctx<'_>, args: &WorkflowShowArgs) -> anyhow::Result<()> {
    let root = root(ctx);
    let workflow = load(&ctx.cwd, &root, &args.workflow)?;
    let last = RunRecord::all_of(&crate::state::Layout::new(&root), &workflow.name).pop();
    let steps = workflow
        .steps
        .iter()
        .map(|step| ShownStep {
            step: step.label(),
            kind: step.kind.name(),
            when: step.when.as_ref().map_or(crate::workflow::expr::DEFAULT_WHEN, |w| w.value.as_str()).to_string(),
            what: what(step),
            attempts: step.retry.attempts,
            timeout_secs: step.timeout.map(|t| t.as_secs_f64()),
            continue_on_error: step.continue_on_error,
            last: last.as_ref().and_then(|r| r.step(&step.label()).cloned()),
        })
        .collect();
    let inputs = workflow
        .inputs
        .iter()
        .map(|i| ShownInput {
            name: i.name.clone(),
            r#type: i.kind.as_str(),
            default: i.default.clone(),
            description: i.description.clone(),
        })
        .collect();
    ctx.printer.report(&Shown {
        r#type: "workflow_show",
        path: workflow.path.display().to_string(),
        description: workflow.description,
        inputs,
        steps,
        last_run: last.map(|r| LastRun { id: r.id, status: r.status, started_at: r.started_at, branch: r.branch }),
        workflow: workflow.name,
    })
}

/// Where a community workflow named `name` may be in a directory or repository, in order.
fn candidates(name: &str) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in ["", workflow::WORKFLOW_DIR, "workflows"] {
        for ext in ["yml", "yaml"] {
            paths.push(Path::new(dir).join(format!("{name}.{ext}")));
        }
    }
    paths
}

#[derive(Serialize)]
struct Added {
    r#type: &'static str,
    path: String,
    source: String,
    /// The commit a git source was pinned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

pub fn add(ctx: &Ctx<'_>, args: &WorkflowAddArgs) -> anyhow::Result<()> {
    let Some((source, name)) = args.source.rsplit_once('#').filter(|(s, n)| !s.is_empty() && !n.is_empty()) else {
        return Err(CliError::usage(format!("`{}` does not name a workflow", args.source))
            .with_hint("give SOURCE#NAME: a directory or git URL, `#`, and the workflow's file name without .yml")
            .into());
    };
    let target = args.name.as_deref().unwrap_or(name);
    if !workflow::check::is_name(target) || !workflow::check::is_name(name) {
        return Err(CliError::usage(format!("`{target}` is not a workflow name"))
            .with_hint("use letters, digits, `-` and `_`, starting with a letter")
            .into());
    }
    let root = root(ctx);
    let dir = root.join(workflow::WORKFLOW_DIR);
    let file = dir.join(format!("{target}.yml"));
    let shown = file.strip_prefix(&ctx.cwd).unwrap_or(&file).display().to_string();
    if file.exists() {
        return Err(CliError::usage(format!("{shown} exists already"))
            .with_hint("remove it first, or add this one under another name with --name")
            .into());
    }
    // A directory on disk is read as it is; anything else is a git URL, cloned and pinned.
    let local = ctx.cwd.join(source);
    let clone = tempfile::Builder::new().prefix("mmm-workflow-add-").tempdir()?;
    let (from, commit) = if args.rev.is_none() && local.is_dir() {
        (local, None)
    } else {
        let sha = crate::git::clone_at(source, args.rev.as_deref(), &clone.path().join("repo"))?;
        (clone.path().join("repo"), Some(sha))
    };
    let Some(found) = candidates(name).into_iter().find(|p| from.join(p).is_file()) else {
        let looked: Vec<String> = candidates(name).iter().map(|p| p.display().to_string()).collect();
        return Err(CliError::usage(format!("{source} has no workflow `{name}`"))
            .with_hint(format!("looked for {}", looked.join(", ")))
            .into());
    };
    let text = std::fs::read_to_string(from.join(&found))
        .map_err(|e| anyhow::Error::new(e).context(format!("reading {} in {source}", found.display())))?;
    let pin = match &commit {
        Some(sha) => format!("# at commit {sha}\n"),
        None => String::new(),
    };
    let header = format!("# Added by `mmm workflow add` from {source}#{name} ({})\n{pin}", found.display());
    // Checked where it will live (nested workflows resolve from there) before it is written.
    std::fs::create_dir_all(&dir)?;
    let staged = tempfile::Builder::new().prefix(".add-").suffix(".yml").tempfile_in(&dir)?;
    std::fs::write(staged.path(), format!("{header}{text}"))?;
    if let Err(problems) = check::load(&ctx.cwd, &root, staged.path())? {
        let problems: Vec<String> = problems
            .iter()
            .map(|p| p.to_string().replace(&staged.path().display().to_string(), &format!("{source}#{name}")))
            .collect();
        return Err(CliError::usage(format!(
            "the workflow `{name}` from {source} does not check; nothing was written:\n  {}",
            problems.join("\n  ")
        ))
        .with_hint("fix it at its source, or pick another revision with --rev")
        .into());
    }
    staged.persist(&file).map_err(|e| anyhow::Error::new(e.error).context(format!("writing {shown}")))?;
    let added = Added { r#type: "workflow_added", path: shown.clone(), source: format!("{source}#{name}"), commit };
    if ctx.printer.is_json() {
        return ctx.printer.json(&added);
    }
    let at = added.commit.as_ref().map(|c| format!(" at commit {}", &c[..12.min(c.len())])).unwrap_or_default();
    ctx.printer.line(format!(
        "Added {shown} from {}{at}. Read its shell steps before you run it: `mmm workflow show {target}`, then `mmm workflow run {target} --dry-run`",
        added.source
    ))
}
