//! `mmm plugins docs`: Markdown for the tools the model can be given, written from what
//! the servers themselves list (never from a description mmm keeps of its own).
//!
//! One page per configured server (what it runs, the variables it gets, its timeout and
//! each tool it offers, with its input schema as a table) and one for mmm's built-in
//! tools. Pure text: the command starts the servers and writes the files.

use std::fmt::Write as _;

use serde_json::Value;

use super::PluginTool;
use crate::settings::mcp::McpServerConfig;

/// A tool's section: its name, description and input as a table.
pub fn tool_section(name: &str, description: Option<&str>, schema: &Value) -> String {
    let mut s = format!("### `{name}`\n\n");
    if let Some(description) = description.map(str::trim).filter(|d| !d.is_empty()) {
        let _ = writeln!(s, "{description}\n");
    }
    let properties = schema["properties"].as_object();
    match properties.filter(|p| !p.is_empty()) {
        None => s.push_str("Input: none.\n"),
        Some(properties) => {
            let required: Vec<&str> =
                schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            s.push_str("| input | type | required | description |\n| --- | --- | --- | --- |\n");
            for (field, spec) in properties {
                let _ = writeln!(
                    s,
                    "| `{field}` | {} | {} | {} |",
                    type_of(spec),
                    if required.contains(&field.as_str()) { "yes" } else { "no" },
                    cell(spec["description"].as_str().unwrap_or(""))
                );
            }
        }
    }
    s
}

/// A schema's type in words: `string`, `array of integer`, `one of "a", "b"`.
fn type_of(spec: &Value) -> String {
    if let Some(values) = spec["enum"].as_array() {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return format!("one of {}", values.join(", "));
    }
    let kind = match &spec["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ if spec.get("anyOf").is_some() => "any of several".to_string(),
        _ => "any".to_string(),
    };
    if kind == "array" && spec.get("items").is_some() {
        return format!("array of {}", type_of(&spec["items"]));
    }
    kind
}

/// Text fit for one table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The page of one server: what it runs and gets, and its tools (or why there are none).
pub fn server_page(config: &McpServerConfig, tools: &[PluginTool], failure: Option<&str>) -> String {
    let mut s = format!("# Plugin `{}`\n\nAn MCP server declared in `{}`.\n\n", config.name, config.file.display());
    let command: Vec<&str> =
        std::iter::once(config.command.as_str()).chain(config.args.iter().map(String::as_str)).collect();
    let _ = writeln!(s, "- runs: `{}` (stdio), in the work tree", command.join(" "));
    let mut env: Vec<&str> = super::mcp::BASE_ENV.to_vec();
    env.extend(config.env.iter().map(String::as_str));
    let _ = writeln!(s, "- environment: {} (nothing else; never mmm's credentials)", backticked(&env));
    let _ = writeln!(s, "- offered in: {}", if config.in_edit() { "the editing conversation" } else { "nothing" });
    let _ = writeln!(s, "- timeout per call: {}s", config.timeout.as_secs());
    if let Some(allowed) = &config.allow_tools {
        let _ = writeln!(s, "- allowed tools: {}", backticked(allowed));
    }
    if !config.deny_tools.is_empty() {
        let _ = writeln!(s, "- denied tools: {}", backticked(&config.deny_tools));
    }
    s.push_str("\n## Tools\n\n");
    match failure {
        Some(failure) => {
            let _ = writeln!(s, "The server could not be asked for its tools: {failure}");
        }
        None if tools.is_empty() => s.push_str("The server offers no tools that mmm would offer the model.\n"),
        None => {
            for tool in tools {
                s.push_str(&tool_section(&tool.full_name, tool.description.as_deref(), &tool.input_schema));
                s.push('\n');
            }
        }
    }
    s
}

fn backticked<S: AsRef<str>>(items: &[S]) -> String {
    items.iter().map(|i| format!("`{}`", i.as_ref())).collect::<Vec<_>>().join(", ")
}

/// The page of mmm's built-in tools, from the definitions the model is sent.
pub fn builtin_page() -> String {
    let mut s = String::from(
        "# mmm's built-in tools\n\nThe tools of the editing conversation, confined to the work tree (never `.git/`, \
         `.mmm/`, secret files or protected check definitions). `submit_change` is offered when the request numbers \
         issues.\n\n",
    );
    for definition in
        [crate::tools::editor::definition(), crate::tools::search::definition(), crate::tools::submit::definition()]
    {
        let name = definition["name"].as_str().unwrap_or_default();
        s.push_str(&tool_section(name, definition["description"].as_str(), &definition["input_schema"]));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_tool_reads_as_a_table_of_its_inputs() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The test's name | exact"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "mode": {"enum": ["fast", "full"]},
            },
            "required": ["name"],
        });
        assert_eq!(
            tool_section("mcp__t__run", Some("Runs one test."), &schema),
            "### `mcp__t__run`\n\nRuns one test.\n\n| input | type | required | description |\n| --- | --- | --- | --- |\n\
             | `mode` | one of `\"fast\"`, `\"full\"` | no |  |\n| `name` | string | yes | The test's name \\| exact |\n\
             | `tags` | array of string | no |  |\n"
        );
        assert_eq!(tool_section("x", None, &json!({"type": "object"})), "### `x`\n\nInput: none.\n");
    }

    #[test]
    fn the_builtin_page_names_every_builtin_tool() {
        let page = builtin_page();
        for name in ["### `str_replace_based_edit_tool`", "### `search`", "### `submit_change`"] {
            assert!(page.contains(name), "{name}");
        }
    }
}
