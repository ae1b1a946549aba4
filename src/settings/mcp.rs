//! `[mcp.<name>]` tables: the MCP servers a project plugs into the editing conversation.
//!
//! They are read here, from the same global and project files as every other setting, at
//! startup (so a bad table is a usage error naming the file) and again at each iteration
//! boundary ([`McpSource::read`]): a session picks up servers added, removed or changed
//! while it runs. A table names the program, its arguments, the *names* of the variables
//! passed through from mmm's environment (never values, never a credential of mmm's), the
//! tools offered (`allow_tools`, `deny_tools`), the conversations they are offered in
//! (`phases`, only `"edit"` today) and a timeout per call. This module never starts
//! anything: `crate::plugins` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::CliError;

/// A call to a server's tool that takes longer than this is answered with a timeout error.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// The only conversation plugin tools are offered in: the editing one.
pub const EDIT_PHASE: &str = "edit";

/// One `[mcp.<name>]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerConfig {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    /// Variables passed through by name from mmm's environment (besides `PATH` and `HOME`).
    pub env: Vec<String>,
    /// When set, only these tools are offered.
    pub allow_tools: Option<Vec<String>>,
    pub deny_tools: Vec<String>,
    /// The conversations the tools are offered in (`["edit"]`; `[]` turns the server off).
    pub phases: Vec<String>,
    pub timeout: Duration,
    /// The file that declared it.
    pub file: PathBuf,
}

impl McpServerConfig {
    /// Whether the tools are offered while editing (servers offered nowhere are not started).
    pub fn in_edit(&self) -> bool {
        self.phases.iter().any(|p| p == EDIT_PHASE)
    }

    /// Whether the server's tool `tool` may be offered.
    pub fn offers(&self, tool: &str) -> bool {
        self.allow_tools.as_ref().is_none_or(|allowed| allowed.iter().any(|a| a == tool))
            && !self.deny_tools.iter().any(|d| d == tool)
    }

    /// Whether a change to the table needs the server restarted (everything but the tool
    /// filters, the phases and the timeout, which apply without one).
    pub fn same_process(&self, other: &Self) -> bool {
        self.command == other.command && self.args == other.args && self.env == other.env
    }
}

/// Where `[mcp]` tables are read from: the global file, then the project file (a project
/// table replaces a global one of the same name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpSource {
    pub files: Vec<PathBuf>,
    /// The installed plugins' index (`.mmm/plugins/index.json`): its enabled plugins'
    /// servers come first, and a table of the same name in a file replaces one.
    pub plugins_index: Option<PathBuf>,
}

impl McpSource {
    /// The servers the files declare now, by name. A file that is gone declares none.
    pub fn read(&self) -> Result<Vec<McpServerConfig>, CliError> {
        let mut servers = BTreeMap::new();
        if let Some(index) = &self.plugins_index {
            for server in crate::plugins::marketplace::enabled_servers(index)? {
                servers.insert(server.name.clone(), server);
            }
        }
        for file in &self.files {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CliError::usage(format!("reading settings file {}: {e}", file.display()))
                        .with_hint("check the file's permissions"));
                }
            };
            for server in parse(&text, file)? {
                servers.insert(server.name.clone(), server);
            }
        }
        Ok(servers.into_values().collect())
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    mcp: BTreeMap<String, RawServer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    allow_tools: Option<Vec<String>>,
    #[serde(default)]
    deny_tools: Vec<String>,
    phases: Option<Vec<String>>,
    timeout_secs: Option<u64>,
}

/// Whether `name` can name a server or a plugin: letters, digits, `-` and `_` (it becomes
/// part of the tool names the model sees, and of a directory's name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

const EXAMPLE: &str = "write it like `[mcp.github]` with `command = \"github-mcp-server\"`, `args = [\"stdio\"]`, \
                       `env = [\"GITHUB_TOKEN\"]`; see docs/plugins.md";

/// The `[mcp.<name>]` tables of one settings file's text (`file` for the errors).
pub fn parse(text: &str, file: &Path) -> Result<Vec<McpServerConfig>, CliError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        CliError::usage(format!("{}: invalid `[mcp]` table: {}", file.display(), e.message().trim())).with_hint(EXAMPLE)
    })?;
    let bad = |name: &str, what: String| {
        CliError::usage(format!("{}: `[mcp.{name}]`: {what}", file.display())).with_hint(EXAMPLE)
    };
    let mut servers = Vec::new();
    for (name, raw) in raw.mcp {
        if !valid_name(&name) {
            return Err(bad(&name, "a server's name takes only letters, digits, `-` and `_`".into()));
        }
        if raw.command.trim().is_empty() {
            return Err(bad(&name, "`command` is empty".into()));
        }
        if let Some(var) = raw.env.iter().find(|v| crate::exec::is_credential(v)) {
            return Err(CliError::usage(format!(
                "{}: `[mcp.{name}]` passes `{var}` through: mmm's credentials never reach a plugin",
                file.display()
            ))
            .with_hint("remove it from `env`; a server that needs a key of its own reads it from another variable"));
        }
        let phases = raw.phases.unwrap_or_else(|| vec![EDIT_PHASE.to_string()]);
        if let Some(phase) = phases.iter().find(|p| *p != EDIT_PHASE) {
            return Err(bad(
                &name,
                format!("unknown phase `{phase}`: plugin tools are offered only while editing (`phases = [\"edit\"]`)"),
            ));
        }
        let timeout_secs = raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(bad(&name, "`timeout_secs` must be at least 1".into()));
        }
        servers.push(McpServerConfig {
            name,
            command: raw.command,
            args: raw.args,
            env: raw.env,
            allow_tools: raw.allow_tools,
            deny_tools: raw.deny_tools,
            phases,
            timeout: Duration::from_secs(timeout_secs),
            file: file.to_path_buf(),
        });
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Vec<McpServerConfig>, String> {
        parse(text, Path::new("c.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_table_is_read_with_its_defaults() {
        let servers = parsed(
            "model = \"x\"\n[mcp.gh]\ncommand = \"gh-mcp\"\nargs = [\"stdio\"]\nenv = [\"GITHUB_TOKEN\"]\n\
             deny_tools = [\"merge\"]\n[mcp.t]\ncommand = \"t\"\nphases = []\ntimeout_secs = 5\nallow_tools = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(
            servers[0],
            McpServerConfig {
                name: "gh".into(),
                command: "gh-mcp".into(),
                args: vec!["stdio".into()],
                env: vec!["GITHUB_TOKEN".into()],
                allow_tools: None,
                deny_tools: vec!["merge".into()],
                phases: vec!["edit".into()],
                timeout: Duration::from_secs(30),
                file: "c.toml".into(),
            }
        );
        assert!(servers[0].in_edit() && servers[0].offers("issues") && !servers[0].offers("merge"));
        assert!(!servers[1].in_edit() && servers[1].offers("a") && !servers[1].offers("b"));
        assert_eq!(servers[1].timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_tables_are_usage_errors_naming_the_file() {
        assert_eq!(
            parsed("[mcp.x]\ncommand = \"a\"\nenv = [\"ANTHROPIC_API_KEY\"]\n").unwrap_err(),
            "c.toml: `[mcp.x]` passes `ANTHROPIC_API_KEY` through: mmm's credentials never reach a plugin"
        );
        assert_eq!(
            parsed("[mcp.x]\ncommand = \"a\"\nphases = [\"review\"]\n").unwrap_err(),
            "c.toml: `[mcp.x]`: unknown phase `review`: plugin tools are offered only while editing (`phases = \
             [\"edit\"]`)"
        );
        assert_eq!(parsed("[mcp.\"a b\"]\ncommand = \"a\"\n").unwrap_err().split(": ").nth(1), Some("`[mcp.a b]`"));
        assert!(parsed("[mcp.x]\ncommand = \"a\"\ncomand = 1\n").unwrap_err().contains("unknown field `comand`"));
        assert!(parsed("[mcp.x]\nargs = []\n").unwrap_err().contains("missing field `command`"));
    }

    #[test]
    fn the_project_file_replaces_a_global_server_and_missing_files_declare_none() {
        let dir = tempfile::tempdir().unwrap();
        let global = dir.path().join("g.toml");
        let project = dir.path().join("p.toml");
        std::fs::write(&global, "[mcp.a]\ncommand = \"ga\"\n[mcp.b]\ncommand = \"gb\"\n").unwrap();
        std::fs::write(&project, "[mcp.a]\ncommand = \"pa\"\n").unwrap();
        let source = McpSource { files: vec![global, project, dir.path().join("gone.toml")], plugins_index: None };
        let read = source.read().unwrap();
        assert_eq!(
            read.iter().map(|s| (s.name.as_str(), s.command.as_str())).collect::<Vec<_>>(),
            [("a", "pa"), ("b", "gb")]
        );
    }
}
