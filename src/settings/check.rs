//! `mmm config check`: each settings file, the environment and the flags read on their own,
//! with every problem found (a run stops at the first), and every model name compared with
//! the models mmm knows. It reads only; nothing here changes a file.

use std::path::PathBuf;

use serde::Serialize;

use super::{Inputs, Value, apply_env, apply_file, apply_flags, defaults, find_project_file, find_repo_root, keys};
use crate::error::CliError;
use crate::settings::Source;

/// What was checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Checked {
    GlobalFile { path: PathBuf },
    ProjectFile { path: PathBuf },
    Environment,
    Flags,
}

/// One file (or the environment, or the flags) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    #[serde(flatten)]
    pub checked: Checked,
    pub problems: Vec<Problem>,
}

/// How bad a problem is: an error stops every command; a note is for the reader.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Error,
    Note,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub level: Level,
    /// Where and what: `path:line: ...`, `environment variable X: ...`, `-c k=v: ...`.
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn error(e: CliError) -> Self {
        Self { level: Level::Error, message: e.to_string(), hint: e.hint().map(str::to_string) }
    }
}

/// Checks every layer that can hold settings, lowest first: the global file and the project
/// file when they exist, then the environment and the flags.
pub fn check(inputs: &Inputs) -> Vec<Layer> {
    let mut entries = defaults();
    let mut applied = Vec::new();
    let mut prices = Vec::new();
    if let Some(path) = inputs.global_file.as_ref().filter(|p| p.is_file()) {
        let mut set = Vec::new();
        let problems = apply_file(&mut entries, path, |path| Source::GlobalFile { path }, &mut set, &mut prices);
        applied.push((Checked::GlobalFile { path: path.clone() }, problems, set));
    }
    if let Some(path) = find_project_file(&inputs.cwd, find_repo_root(&inputs.cwd).as_deref()) {
        let mut set = Vec::new();
        let problems = apply_file(&mut entries, &path, |path| Source::ProjectFile { path }, &mut set, &mut prices);
        applied.push((Checked::ProjectFile { path }, problems, set));
    }
    let mut set = Vec::new();
    let problems = apply_env(&mut entries, inputs, &mut set);
    applied.push((Checked::Environment, problems, set));
    let mut set = Vec::new();
    let problems = apply_flags(&mut entries, inputs, &mut set);
    applied.push((Checked::Flags, problems, set));
    // Model names are compared with Anthropic's list only when Anthropic is the provider,
    // and a model the settings give a price is known enough.
    let anthropic = super::entry_value(&entries, "provider") != Value::Str("openai".into());
    let priced: Vec<String> = prices.into_iter().map(|p| p.model).collect();
    applied
        .into_iter()
        .map(|(checked, problems, set)| {
            let environment = checked == Checked::Environment;
            let mut layer = layer(checked, problems, &set, anthropic, &priced);
            if environment {
                layer.problems.extend(super::unknown_env_warnings(inputs).into_iter().map(|message| Problem {
                    level: Level::Note,
                    message,
                    hint: Some(
                        "`mmm config show` lists every key; its variable is MMM_ and the key in capitals".into(),
                    ),
                }));
            }
            layer
        })
        .collect()
}

/// A layer's problems: those found applying it, then those of each model name it set
/// (`model`, `fallback_model`, `escalate_model`),
/// (when `anthropic` is the provider and the model is not one of the `priced`).
fn layer(
    checked: Checked,
    problems: Vec<CliError>,
    set: &[(String, String, Value)],
    anthropic: bool,
    priced: &[String],
) -> Layer {
    let mut problems: Vec<Problem> = problems.into_iter().map(Problem::error).collect();
    let names_a_model = |key: &str| matches!(key, "model" | "fallback_model" | "escalate_model");
    for (_, at, value) in set.iter().filter(|(key, _, _)| names_a_model(key) && anthropic) {
        if let Value::Str(model) = value
            && !priced.contains(model)
        {
            problems.extend(model_problem(at, model));
        }
    }
    // A file's problems in the order of its lines (`path:line: ...`).
    if let Checked::GlobalFile { path } | Checked::ProjectFile { path } = &checked {
        let prefix = format!("{}:", path.display());
        problems.sort_by_key(|p| {
            let rest = p.message.strip_prefix(&prefix).unwrap_or_default();
            rest.split(':').next().and_then(|line| line.parse::<usize>().ok()).unwrap_or(0)
        });
    }
    Layer { checked, problems }
}

/// A model name mmm does not know: an error when it is close to one it knows (a likely
/// typo), else a note (a newer model, or another endpoint's, may still work).
fn model_problem(at: &str, model: &str) -> Option<Problem> {
    if crate::llm::pricing::table_price(model).is_some() {
        return None;
    }
    Some(match keys::closest_among(model, crate::llm::pricing::known_models()) {
        Some(best) => Problem {
            level: Level::Error,
            message: format!("{at}: unknown model `{model}`"),
            hint: Some(format!("did you mean `{best}`? `mmm models` lists the models your key can use")),
        },
        None => Problem {
            level: Level::Note,
            message: format!("{at}: `{model}` is not a model mmm knows, so its cost is not counted"),
            hint: Some(
                "`mmm models` lists the models your key can use; `[prices.\"<model>\"]` (or `pricing.input` and `pricing.output`) gives its price"
                    .into(),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_model_or_its_snapshot_is_fine_a_typo_is_an_error_a_stranger_a_note() {
        assert_eq!(model_problem("x", "claude-sonnet-5"), None);
        assert_eq!(model_problem("x", "claude-opus-5-20270101"), None);
        assert_eq!(
            model_problem("f:1", "claude-sonet-5"),
            Some(Problem {
                level: Level::Error,
                message: "f:1: unknown model `claude-sonet-5`".into(),
                hint: Some("did you mean `claude-sonnet-5`? `mmm models` lists the models your key can use".into()),
            })
        );
        assert_eq!(model_problem("f:1", "my-local-model").map(|p| p.level), Some(Level::Note));
    }
}
