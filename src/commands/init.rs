//! `mmm init`: writes `.mmm/config.toml` (every key commented out, with its default and
//! what it does) and `.mmm/.gitignore` (mmm's runtime files). An existing file is never
//! touched without `--force`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use crate::cli::InitArgs;
use crate::printer::{Report, Styles};
use crate::settings::keys::{self, Kind};
use crate::settings::{KEYS, MMM_DIR, Value};
use crate::state::{self, GITIGNORE};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Created,
    Rewritten,
    Unchanged,
}

#[derive(Serialize)]
struct FileResult {
    path: PathBuf,
    action: Action,
}

#[derive(Serialize)]
struct InitReport {
    r#type: &'static str,
    dir: PathBuf,
    files: Vec<FileResult>,
    in_git_repository: bool,
}

impl Report for InitReport {
    fn human(&self, s: &Styles) -> String {
        if self.files.iter().all(|f| f.action == Action::Unchanged) {
            return format!(
                "Nothing changed: {} already has .mmm/config.toml and .mmm/.gitignore (use --force to rewrite them).",
                self.dir.display()
            );
        }
        let mut lines: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                let action = match f.action {
                    Action::Created => s.green("created  "),
                    Action::Rewritten => s.yellow("rewritten"),
                    Action::Unchanged => s.dim("unchanged"),
                };
                format!("{action} {}", f.path.display())
            })
            .collect();
        lines.push(format!(
            "Edit {} to change a setting; `mmm config show` shows the result.",
            s.bold(".mmm/config.toml")
        ));
        if !self.in_git_repository {
            lines.push(format!(
                "{} this directory is not a git repository: run `git init` before `mmm improve`.",
                s.yellow("note:")
            ));
        }
        lines.join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &InitArgs) -> anyhow::Result<()> {
    let root = ctx.settings.project_root(&ctx.cwd).to_path_buf();
    let files = [("config.toml", config_template()), (".gitignore", GITIGNORE.to_string())]
        .into_iter()
        .map(|(name, content)| write_file(&root, name, &content, args.force))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = InitReport { r#type: "init", dir: root, files, in_git_repository: ctx.settings.repo_root.is_some() };
    ctx.printer.report(&report)
}

fn write_file(root: &Path, name: &str, content: &str, force: bool) -> anyhow::Result<FileResult> {
    let relative = Path::new(MMM_DIR).join(name);
    let path = root.join(&relative);
    let action = match (path.exists(), force) {
        (true, false) => Action::Unchanged,
        (existed, _) => {
            state::write_atomic(&path, content.as_bytes())?;
            if existed { Action::Rewritten } else { Action::Created }
        }
    };
    Ok(FileResult { path: relative, action })
}

/// The commented settings file: every key with its documentation and default, top-level
/// keys first, then one section per table. Secrets are named but never given a line.
pub fn config_template() -> String {
    let mut out = String::from(
        "# mmm settings for this project. Every key is shown commented out with its default;\n\
         # uncomment a line to change it. Precedence, lowest to highest: built-in defaults,\n\
         # the global file (~/.config/mmm/config.toml), this file, MMM_* environment variables,\n\
         # command-line flags. `mmm config show` prints the result and where each value came from.\n",
    );
    let mut current_table = "";
    let mut keys: Vec<&keys::KeyDef> = KEYS.iter().filter(|k| !k.secret).collect();
    keys.sort_by_key(|k| k.name.contains('.'));
    for key in keys {
        let (table, short) = key.name.split_once('.').unwrap_or(("", key.name));
        if table != current_table {
            out.push_str(&format!("\n[{table}]\n"));
            current_table = table;
        }
        let value = Value::from(key.default);
        let line = match value {
            Value::Unset => format!("# {short} = {}    # not set by default", example(key.kind)),
            value => format!("# {short} = {}", value.to_toml()),
        };
        out.push_str(&format!("\n# {}\n{line}\n", key.doc));
    }
    out.push_str(
        "\n# The API key is read from ANTHROPIC_API_KEY (or a token from ANTHROPIC_AUTH_TOKEN),\n\
         # with the `openai` provider from OPENAI_API_KEY (or the variable api_key_env names),\n\
         # and is never accepted from a file: this file is meant to be committed.\n",
    );
    out
}

fn example(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "\"\"",
        // A share (0 to 1) takes a share.
        Kind::Float { max, .. } if max < 5.0 => "0.5",
        Kind::Float { .. } => "5.0",
        Kind::Int { .. } => "2000000",
        Kind::Bool => "false",
        Kind::List => "[]",
        Kind::Duration => "\"1h\"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Inputs, Settings, Source};

    fn load_with(template: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        state::write_atomic(&dir.path().join(".mmm/config.toml"), template.as_bytes()).unwrap();
        Settings::load(&Inputs { cwd: dir.path().to_path_buf(), ..Inputs::default() }).unwrap()
    }

    #[test]
    fn the_template_loads_and_changes_nothing() {
        let s = load_with(&config_template());
        assert!(s.entries().iter().all(|e| e.source == Source::Default));
    }

    #[test]
    fn every_commented_line_is_valid_once_uncommented() {
        let uncommented: String = config_template()
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") => rest.to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let s = load_with(&uncommented);
        for entry in s.entries().iter().filter(|e| !e.def.secret) {
            assert!(matches!(entry.source, Source::ProjectFile { .. }), "{} not in the template", entry.def.name);
            if !matches!(entry.def.default, keys::Default::Unset) {
                assert_eq!(entry.value, Value::from(entry.def.default), "{}", entry.def.name);
            }
        }
    }
}
