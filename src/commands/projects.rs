//! `mmm projects add|list|remove|reindex`: the projects the global index knows. Adding and
//! reindexing read a repository's `.mmm/` files; removing forgets the index's rows only and
//! never touches a repository.

use std::path::Path;

use serde::Serialize;

use super::Ctx;
use crate::cli::ProjectsCommand;
use crate::git::Git;
use crate::index::{self, Index, Project};
use crate::printer::{Report, Styles};

#[derive(Serialize)]
struct ProjectsReport {
    r#type: &'static str,
    /// `add`, `list`, `remove` or `reindex`.
    action: &'static str,
    /// The projects added, listed, removed or reindexed.
    projects: Vec<Project>,
}

impl Report for ProjectsReport {
    fn human(&self, s: &Styles) -> String {
        if self.projects.is_empty() {
            return match self.action {
                "list" => "No projects are registered: `mmm projects add` registers one.".into(),
                _ => "No projects.".into(),
            };
        }
        let verb = match self.action {
            "add" => "Registered ",
            "remove" => "Removed ",
            "reindex" => "Reindexed ",
            _ => "",
        };
        self.projects
            .iter()
            .map(|p| {
                let origin = p.origin.as_deref().map(|o| format!(" · {o}")).unwrap_or_default();
                format!("{verb}{} {} · {} session(s){origin}", s.bold(&p.name), s.dim(&p.root), p.sessions)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>, command: &ProjectsCommand) -> anyhow::Result<()> {
    let mut index = Index::open(&index::path_from_env()?)?;
    let (action, projects) = match command {
        ProjectsCommand::Add { path } => {
            let root = register(&mut index, &ctx.cwd.join(path.as_deref().unwrap_or(Path::new("."))), false)?;
            ("add", pick(&index, &[root])?)
        }
        ProjectsCommand::List => ("list", index.projects()?),
        ProjectsCommand::Remove { project } => match index.remove(project)? {
            Some(removed) => ("remove", vec![removed]),
            None => {
                return Err(crate::error::CliError::usage(format!("no registered project is named `{project}`"))
                    .with_hint("`mmm projects list` shows the names and roots")
                    .into());
            }
        },
        ProjectsCommand::Reindex { paths } => {
            let mut roots = Vec::new();
            for path in paths {
                roots.push(register(&mut index, &ctx.cwd.join(path), true)?);
            }
            for project in index.projects()? {
                if roots.contains(&project.root) {
                    continue;
                }
                if !Path::new(&project.root).is_dir() {
                    ctx.printer.warn(format!(
                        "skipping {}: the directory is gone (`mmm projects remove {}` forgets it)",
                        project.root, project.root
                    ));
                    continue;
                }
                roots.push(register(&mut index, Path::new(&project.root), true)?);
            }
            ("reindex", pick(&index, &roots)?)
        }
    };
    ctx.printer.report(&ProjectsReport { r#type: "projects", action, projects })
}

/// Registers the repository `dir` is in (reindexing its sessions when `reindex`, or when it
/// is new to the index); returns its root as the index names it.
fn register(index: &mut Index, dir: &Path, reindex: bool) -> anyhow::Result<String> {
    let git = Git::open(dir)?;
    let root = git.root().to_path_buf();
    let origin = git.run(&["config", "--get", "remote.origin.url"]).ok().map(|o| o.trim().to_string());
    let origin = origin.filter(|o| !o.is_empty());
    let head = git.head()?;
    let text = root.to_string_lossy().into_owned();
    let known = index.projects()?.iter().any(|p| p.root == text);
    if reindex || !known {
        let (_, unreadable) = index.reindex(&root, origin.as_deref(), head.as_deref())?;
        for (path, e) in unreadable {
            tracing::warn!("skipping {}: {e:#}", path.display());
        }
    } else {
        index.register(&root, origin.as_deref(), head.as_deref())?;
    }
    Ok(text)
}

/// The registered projects whose roots are `roots`, in that order.
fn pick(index: &Index, roots: &[String]) -> anyhow::Result<Vec<Project>> {
    let all = index.projects()?;
    Ok(roots.iter().filter_map(|r| all.iter().find(|p| &p.root == r).cloned()).collect())
}
