//! `mmm workflow check` (the file and every workflow it runs, each problem at file:line:col,
//! exit 2) and `mmm workflow run` (its inputs typed, then the steps on the session engine
//! through `session::workflow`, with Ctrl+C as a cancellation token).

use serde::Serialize;
use std::path::{Path, PathBuf};

use super::Ctx;
use super::improve::model;
use crate::cli::{WorkflowCheckArgs, WorkflowRunArgs};
use crate::error::CliError;
use crate::git::Git;
use crate::llm::Pricing;
use crate::printer::{Report, Styles};
use crate::session::workflow::{self as runner, Runtime};
use crate::settings::session::SessionConfig;
use crate::workflow::{self, Workflow, check};

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
    let inputs = runner::inputs_for(&workflow, &given).map_err(|e| {
        CliError::usage(e).with_hint(format!("`mmm workflow check {}` lists the inputs", args.workflow))
    })?;
    let config = SessionConfig::resolve(&ctx.settings);
    let pricing = Pricing::from_settings(&ctx.settings)?;
    let make_model = || model(ctx);
    super::block_on(async {
        let rt = Runtime { base: super::run::runtime(ctx, &git, &make_model), config, pricing };
        runner::run(&rt, &workflow, inputs).await
    })?
}
