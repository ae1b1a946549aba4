//! `mmm plugins import`: the stdio servers of a Claude Code `.mcp.json` as `[mcp.<name>]`
//! tables.
//!
//! `.mcp.json` gives each server `command`, `args` and `env` as values; mmm passes
//! variables through by *name* only, so a value that is `${NAME}` for the same name is
//! kept as a name, and any other value is left out and said so (never written into the
//! settings file, where a token would end up in git). Remote (`http`, `sse`) servers are
//! skipped with a note: mmm runs stdio servers only. Nothing here writes a file.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What an import makes of a `.mcp.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// The `[mcp.<name>]` tables to add, as TOML.
    pub tables: String,
    pub added: Vec<String>,
    /// What was left out, one line each, for the user.
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct McpJson {
    #[serde(rename = "mcpServers", default)]
    servers: BTreeMap<String, McpJsonServer>,
}

/// `server` as mmm runs it: `(command, args, env names)`, or `None` (with a note) for one
/// mmm cannot run. A variable is kept, by name, only when its value is `${NAME}` for the
/// same name; any other value is left out with a note.
pub fn stdio_server(
    name: &str,
    server: McpJsonServer,
    notes: &mut Vec<String>,
) -> Option<(String, Vec<String>, Vec<String>)> {
    let command = match (server.kind.as_deref(), server.command) {
        (None | Some("stdio"), Some(command)) => command,
        (kind, _) => {
            let kind = kind.unwrap_or("without a command");
            notes.push(format!("`{name}`: skipped, a {kind} server (mmm runs stdio servers only)"));
            return None;
        }
    };
    let mut env = Vec::new();
    for (var, value) in server.env {
        let reference = value.strip_prefix("${").and_then(|v| v.strip_suffix('}'));
        if reference.map(|r| r.split(":-").next().unwrap_or(r)) == Some(var.as_str()) {
            env.push(var);
        } else {
            notes.push(format!(
                "`{name}`: `{var}` is given a value in .mcp.json; mmm passes variables by name only: set `{var}` in \
                 your environment and add it to `env`"
            ));
        }
    }
    Some((command, server.args, env))
}

/// A server as `.mcp.json` (and a Claude Code plugin's `mcpServers`) gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct McpJsonServer {
    #[serde(rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// The tables for `text` (a `.mcp.json`), leaving out servers named in `existing`.
pub fn from_mcp_json(text: &str, existing: &[String]) -> Result<Imported, String> {
    let parsed: McpJson = serde_json::from_str(text).map_err(|e| format!("not a valid .mcp.json: {e}"))?;
    let mut imported = Imported::default();
    let mut tables = toml::Table::new();
    for (name, server) in parsed.servers {
        if existing.contains(&name) {
            imported.notes.push(format!("`{name}`: already configured, left as it is"));
            continue;
        }
        if !crate::settings::mcp::valid_name(&name) {
            imported.notes.push(format!("`{name}`: skipped, a server's name takes only letters, digits, `-` and `_`"));
            continue;
        }
        let (command, args, env) = match stdio_server(&name, server, &mut imported.notes) {
            Some(server) => server,
            None => continue,
        };
        let mut table = toml::Table::new();
        table.insert("command".into(), toml::Value::String(command));
        table.insert("args".into(), toml::Value::Array(args.into_iter().map(toml::Value::String).collect()));
        table.insert("env".into(), toml::Value::Array(env.into_iter().map(toml::Value::String).collect()));
        tables.insert(name.clone(), toml::Value::Table(table));
        imported.added.push(name);
    }
    if !tables.is_empty() {
        let mut root = toml::Table::new();
        root.insert("mcp".into(), toml::Value::Table(tables));
        imported.tables = toml::to_string(&root).map_err(|e| format!("writing the tables: {e}"))?;
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_servers_become_tables_and_values_are_never_copied() {
        let text = r#"{"mcpServers": {
            "github": {"command": "docker", "args": ["run", "-i", "ghcr.io/github/github-mcp-server"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PERSONAL_ACCESS_TOKEN}", "TOKEN": "ghp_abc"}},
            "remote": {"type": "http", "url": "https://example.invalid/mcp"},
            "old": {"command": "x"}
        }}"#;
        let imported = from_mcp_json(text, &["old".to_string()]).unwrap();
        assert_eq!(imported.added, ["github"]);
        assert_eq!(
            imported.tables,
            "[mcp.github]\nargs = [\"run\", \"-i\", \"ghcr.io/github/github-mcp-server\"]\ncommand = \"docker\"\nenv = \
             [\"GITHUB_PERSONAL_ACCESS_TOKEN\"]\n"
        );
        assert_eq!(
            imported.notes,
            [
                "`github`: `TOKEN` is given a value in .mcp.json; mmm passes variables by name only: set `TOKEN` in your \
             environment and add it to `env`",
                "`old`: already configured, left as it is",
                "`remote`: skipped, a http server (mmm runs stdio servers only)",
            ]
        );
        let parsed = crate::settings::mcp::parse(&imported.tables, std::path::Path::new("c.toml")).unwrap();
        assert_eq!(parsed[0].env, ["GITHUB_PERSONAL_ACCESS_TOKEN"]);
        assert!(from_mcp_json("{", &[]).unwrap_err().starts_with("not a valid .mcp.json"));
    }
}
