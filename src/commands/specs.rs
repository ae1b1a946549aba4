//! `mmm specs` (the specs with their status, from the files and `.mmm/state.json`) and
//! `mmm spec new` (a numbered skeleton). Neither talks to the model.

use std::path::PathBuf;

use serde::Serialize;

use super::Ctx;
use crate::cli::{SpecNewArgs, SpecsArgs};
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::spec;
use crate::state::Layout;
use crate::state::summary::{ProjectState, SpecStatus};

/// The repository root (or the working directory outside a repository) and the spec
/// directory: `dir` as given, else `specs/` at the root.
fn locate(ctx: &Ctx<'_>, dir: Option<&PathBuf>) -> (PathBuf, PathBuf) {
    let root = Git::open(&ctx.cwd).map(|g| g.root().to_path_buf()).unwrap_or_else(|_| ctx.cwd.clone());
    let dir = match dir {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => ctx.cwd.join(d),
        // Relative when run at the root, so paths read as the user would type them.
        None if root == ctx.cwd => PathBuf::from("specs"),
        None => root.join("specs"),
    };
    (root, dir)
}

#[derive(Serialize)]
struct SpecLine {
    r#type: &'static str,
    id: String,
    title: String,
    path: String,
    status: SpecStatus,
    depends_on: Vec<String>,
    criteria: usize,
    last_run: Option<String>,
    session: Option<String>,
}

#[derive(Serialize)]
#[serde(transparent)]
struct SpecList(Vec<SpecLine>);

impl Report for SpecList {
    fn human(&self, s: &Styles) -> String {
        if self.0.is_empty() {
            return "No specs yet: write one with `mmm spec new \"Title\"`.".into();
        }
        let width = self.0.iter().map(|l| l.id.len()).max().unwrap_or(2).max(2);
        let mut lines = vec![s.bold(format!("{:width$}  {:8}  {:17}  {}", "ID", "STATUS", "LAST RUN", "TITLE"))];
        for l in &self.0 {
            let status = match l.status {
                SpecStatus::Done => s.green(format!("{:8}", "done")),
                SpecStatus::Failed => s.red(format!("{:8}", "failed")),
                SpecStatus::Pending => format!("{:8}", "pending"),
            };
            let last = l.last_run.as_deref().map(|t| t.get(..16).unwrap_or(t).replace('T', " ")).unwrap_or("—".into());
            let mut line = format!("{:width$}  {status}  {last:17}  {}", l.id, l.title);
            if !l.depends_on.is_empty() {
                line.push_str(&s.dim(format!("  (after {})", l.depends_on.join(", "))));
            }
            lines.push(line);
        }
        lines.join("\n")
    }
}

pub fn list(ctx: &Ctx<'_>, args: &SpecsArgs) -> anyhow::Result<()> {
    let (root, dir) = locate(ctx, args.dir.as_ref());
    let specs = if dir.is_dir() || args.dir.is_some() { spec::load_dir(&dir)? } else { Vec::new() };
    let state = ProjectState::load_or_default(&Layout::new(&root).state_file())?;
    let lines: Vec<SpecLine> = specs
        .into_iter()
        .map(|spec| {
            let known = state.specs.get(&spec.id).cloned().unwrap_or_default();
            SpecLine {
                r#type: "spec",
                path: spec.path.strip_prefix(&root).unwrap_or(&spec.path).to_string_lossy().into_owned(),
                criteria: spec.criteria.len(),
                id: spec.id,
                title: spec.title,
                status: known.status,
                depends_on: spec.depends_on,
                last_run: known.last_run,
                session: known.session,
            }
        })
        .collect();
    if ctx.printer.is_json() {
        return lines.iter().try_for_each(|l| ctx.printer.json(l));
    }
    ctx.printer.report(&SpecList(lines))
}

pub fn new(ctx: &Ctx<'_>, args: &SpecNewArgs) -> anyhow::Result<()> {
    let (_, dir) = locate(ctx, args.dir.as_ref());
    let path = spec::create(&dir, &args.title)?;
    let shown = path.strip_prefix(&ctx.cwd).unwrap_or(&path).display().to_string();
    if ctx.printer.is_json() {
        return ctx.printer.json(&serde_json::json!({"type": "spec_created", "path": shown}));
    }
    ctx.printer.line(format!("Wrote {shown}: describe the goal, list the acceptance criteria, then `mmm run {shown}`"))
}
