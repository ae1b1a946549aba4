//! The settings that are lists of things rather than keys: `[[hooks]]` (commands run on a
//! session's events) and `[tools.<name>]` (command tools the model may call). Read from the
//! same files as every other setting, checked here (unknown fields, empty commands, bad
//! names, schemas that are not objects) with the file and line, and typed for
//! [`crate::hooks`] and [`crate::tools::command`]. Never from the environment or flags.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::CliError;

/// The events a hook may be run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookOn {
    SessionStart,
    IterationCommitted,
    IterationRolledBack,
    SessionEnd,
}

/// One `[[hooks]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookDef {
    pub on: HookOn,
    /// The program and its arguments (no shell unless the user names one).
    pub command: Vec<String>,
    /// A failing required hook fails the mmm command (and cancels the session); others are
    /// only reported.
    #[serde(default)]
    pub required: bool,
    /// This hook may reach the network (a webhook); other sandbox limits stay.
    #[serde(default)]
    pub network: bool,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// One `[tools.<name>]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    pub command: Vec<String>,
    /// The JSON Schema of the tool's input (an object schema), shown to the model.
    pub input_schema: serde_json::Value,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    60
}

/// Names the model's own tools take: a command tool cannot shadow them.
const RESERVED: &[&str] = &[crate::tools::EDITOR_TOOL_NAME, crate::tools::SEARCH_TOOL_NAME, "submit_change"];

#[derive(Debug, Default, Deserialize)]
struct Extensions {
    #[serde(default)]
    hooks: Vec<HookDef>,
    #[serde(default)]
    tools: BTreeMap<String, ToolDef>,
}

/// The hooks and tools of the settings file `path` (whose text is `text`), checked.
pub fn read(path: &Path, text: &str) -> Result<(Vec<HookDef>, Vec<ToolDef>), CliError> {
    let error = |e: &dyn std::fmt::Display, offset: Option<usize>, hint: &str| {
        let line = offset.map_or(1, |o| text[..o.min(text.len())].matches('\n').count() + 1);
        CliError::usage(format!("{}:{line}: {}", path.display(), e.to_string().lines().last().unwrap_or("").trim()))
            .with_hint(hint.to_string())
    };
    let hooks_hint = "a hook is `[[hooks]]` with `on = \"session_start\" | \"iteration_committed\" | \
                      \"iteration_rolled_back\" | \"session_end\"`, `command = [\"program\", \"arg\"]`, and optionally \
                      `required`, `network`, `timeout_secs`";
    let tools_hint = "a command tool is `[tools.<name>]` with `description`, `command = [\"program\", \"arg\"]`, \
                      `input_schema = { type = \"object\", ... }` and optionally `timeout_secs`";
    let parsed: Extensions = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start);
        let before = offset.map_or("", |o| &text[..o.min(text.len())]);
        let hint = if before.rfind("[tools").unwrap_or(0) > before.rfind("[[hooks").unwrap_or(0) {
            tools_hint
        } else {
            hooks_hint
        };
        error(&e.message(), offset, hint)
    })?;
    let at = |needle: &str| text.find(needle);
    for hook in &parsed.hooks {
        if hook.command.first().is_none_or(|c| c.trim().is_empty()) {
            return Err(error(&"a hook's `command` is empty", at("[[hooks]]"), hooks_hint));
        }
    }
    let mut tools = Vec::new();
    for (name, mut tool) in parsed.tools {
        let here = at(&format!("[tools.{name}]"));
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !name.starts_with("mcp__");
        if !valid_name || RESERVED.contains(&name.as_str()) {
            return Err(error(
                &format!(
                    "`tools.{name}`: a tool name is 1 to 64 letters, digits, `_` or `-`, not `mcp__…` and not one of mmm's own tools"
                ),
                here,
                tools_hint,
            ));
        }
        if tool.command.first().is_none_or(|c| c.trim().is_empty()) {
            return Err(error(&format!("`tools.{name}.command` is empty"), here, tools_hint));
        }
        if tool.input_schema.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(error(
                &format!("`tools.{name}.input_schema` must be an object schema (`type = \"object\"`)"),
                here,
                tools_hint,
            ));
        }
        if let Err(e) = crate::tools::command::compile_schema(&tool.input_schema) {
            return Err(error(
                &format!("`tools.{name}.input_schema` is not a valid JSON Schema: {e}"),
                here,
                tools_hint,
            ));
        }
        tool.name = name;
        tools.push(tool);
    }
    Ok((parsed.hooks, tools))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<(Vec<HookDef>, Vec<ToolDef>), String> {
        read(Path::new("c.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn hooks_and_tools_are_read_with_their_defaults() {
        let (hooks, tools) = read_text(
            "model = \"x\"\n[[hooks]]\non = \"iteration_committed\"\ncommand = [\"./notify\", \"a b\"]\n\n\
             [tools.headers]\ndescription = \"d\"\ncommand = [\"check\"]\ninput_schema = { type = \"object\" }\n",
        )
        .unwrap();
        assert_eq!(
            hooks,
            [HookDef {
                on: HookOn::IterationCommitted,
                command: vec!["./notify".into(), "a b".into()],
                required: false,
                network: false,
                timeout_secs: 60
            }]
        );
        assert_eq!(tools.len(), 1);
        assert_eq!((tools[0].name.as_str(), tools[0].timeout_secs), ("headers", 60));
    }

    #[test]
    fn mistakes_name_the_line() {
        assert_eq!(
            read_text("\n[[hooks]]\non = \"iteration_done\"\ncommand = [\"x\"]\n").unwrap_err(),
            "c.toml:3: unknown variant `iteration_done`, expected one of `session_start`, `iteration_committed`, \
             `iteration_rolled_back`, `session_end`"
        );
        assert_eq!(
            read_text("[[hooks]]\non = \"session_end\"\ncommand = []\n").unwrap_err(),
            "c.toml:1: a hook's `command` is empty"
        );
        assert!(
            read_text("[tools.search]\ndescription = \"d\"\ncommand = [\"x\"]\ninput_schema = { type = \"object\" }\n")
                .unwrap_err()
                .starts_with("c.toml:1: `tools.search`: a tool name is")
        );
        assert_eq!(
            read_text("[tools.t]\ndescription = \"d\"\ncommand = [\"x\"]\ninput_schema = { type = \"string\" }\n")
                .unwrap_err(),
            "c.toml:1: `tools.t.input_schema` must be an object schema (`type = \"object\"`)"
        );
        assert!(read_text("[tools.t]\ndescription = \"d\"\ncommand = [\"x\"]\n").unwrap_err().contains("input_schema"));
    }
}
