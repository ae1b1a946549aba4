//! The plugin marketplace: plugins installed from git repositories, pinned to a commit.
//!
//! A marketplace is a git repository with `.claude-plugin/marketplace.json`, Claude Code's
//! index (`name`, `owner`, `plugins: [{name, source, description, version}]`), so existing
//! marketplaces can be read. A plugin is a directory of it with Claude Code's manifest,
//! `.claude-plugin/plugin.json` (`name`, `version`, `description`, `mcpServers`, or a
//! `.mcp.json` beside it). mmm uses a plugin's stdio MCP servers; what a server may do
//! (the program it runs, the variables it gets, the tools it offers) is its permissions,
//! shown before it is enabled.
//!
//! Installed plugins live in `.mmm/plugins/`: the marketplace's clone per plugin, checked
//! out at the pinned commit, and `index.json` (versioned, written atomically) recording
//! each plugin's source, commit, servers and whether it is enabled. The settings read the
//! enabled servers from it at each iteration boundary ([`enabled_servers`]). Only sources
//! inside the marketplace's own repository are installed; a clone never runs anything
//! (no hooks, `ext::` transports refused), and nothing here edits the user's settings.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::import::{McpJsonServer, stdio_server};
use crate::error::CliError;
use crate::settings::mcp::McpServerConfig;

/// The directory of installed plugins, relative to the repository root.
pub const PLUGINS_DIR: &str = ".mmm/plugins";
/// The record of installed plugins, in [`PLUGINS_DIR`].
pub const INDEX_FILE: &str = "index.json";
const INDEX_VERSION: u32 = 1;
/// The variable a plugin's server command may use for the plugin's directory (Claude Code's).
pub const PLUGIN_ROOT_VAR: &str = "${CLAUDE_PLUGIN_ROOT}";

/// `.mmm/plugins/index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub version: u32,
    pub plugins: Vec<Installed>,
}

impl Default for Index {
    fn default() -> Self {
        Self { version: INDEX_VERSION, plugins: Vec::new() }
    }
}

/// One installed plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    pub name: String,
    /// The marketplace's git URL.
    pub source: String,
    /// The commit it is pinned to.
    pub commit: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// The plugin's directory inside the clone, relative to it (`plugins/echo`).
    pub path: String,
    pub servers: Vec<PluginServer>,
}

/// A plugin's MCP server, as the manifest gives it (`${CLAUDE_PLUGIN_ROOT}` kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginServer {
    pub name: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
}

impl Installed {
    /// What the plugin may do, one line each: shown before it is enabled, and compared by
    /// `update`.
    pub fn permissions(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for server in &self.servers {
            let command: Vec<&str> =
                std::iter::once(server.command.as_str()).chain(server.args.iter().map(String::as_str)).collect();
            lines.push(format!("server `{}`: runs `{}` in the work tree (stdio)", server.name, command.join(" ")));
            let mut env: Vec<&str> = super::mcp::BASE_ENV.to_vec();
            env.extend(server.env.iter().map(String::as_str));
            lines.push(format!("server `{}`: reads {} from your environment", server.name, env.join(", ")));
            lines.push(format!(
                "server `{}`: offers tools to the model while it edits, as `mcp__{}__<tool>`",
                server.name, server.name
            ));
        }
        lines
    }
}

/// The index of `root` (a repository), empty when there is none.
pub fn load(root: &Path) -> anyhow::Result<Index> {
    let path = root.join(PLUGINS_DIR).join(INDEX_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let index: Index = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if index.version > INDEX_VERSION {
        return Err(CliError::usage(format!(
            "{} was written by a newer mmm (version {}; this one reads {INDEX_VERSION})",
            path.display(),
            index.version
        ))
        .with_hint("upgrade mmm")
        .into());
    }
    Ok(index)
}

fn save(root: &Path, index: &Index) -> anyhow::Result<()> {
    let path = root.join(PLUGINS_DIR).join(INDEX_FILE);
    crate::state::write_atomic(&path, format!("{}\n", serde_json::to_string_pretty(index)?).as_bytes())
}

/// The servers of the enabled plugins in the index at `index` (a path to `index.json`),
/// as `[mcp]` tables would give them, `${CLAUDE_PLUGIN_ROOT}` replaced.
pub fn enabled_servers(index: &Path) -> Result<Vec<McpServerConfig>, CliError> {
    let root = index.parent().and_then(Path::parent).and_then(Path::parent).unwrap_or(Path::new("."));
    let loaded = load(root).map_err(|e| {
        CliError::usage(format!("{e:#}")).with_hint("remove the plugin (`mmm plugins remove <name>`) and add it again")
    })?;
    let mut servers = Vec::new();
    for plugin in loaded.plugins.iter().filter(|p| p.enabled) {
        let dir = root.join(PLUGINS_DIR).join(&plugin.name).join(&plugin.path);
        let dir = dir.to_string_lossy();
        let expand = |text: &str| text.replace(PLUGIN_ROOT_VAR, &dir);
        for server in &plugin.servers {
            servers.push(McpServerConfig {
                name: server.name.clone(),
                command: expand(&server.command),
                args: server.args.iter().map(|a| expand(a)).collect(),
                env: server.env.clone(),
                allow_tools: None,
                deny_tools: Vec::new(),
                phases: vec![crate::settings::mcp::EDIT_PHASE.to_string()],
                timeout: Duration::from_secs(crate::settings::mcp::DEFAULT_TIMEOUT_SECS),
                file: index.to_path_buf(),
            });
        }
    }
    Ok(servers)
}

/// `<git-url>#<name>` split.
pub fn parse_spec(spec: &str) -> Result<(String, String), CliError> {
    match spec.rsplit_once('#') {
        Some((url, name)) if !url.is_empty() && !name.is_empty() => Ok((url.to_string(), name.to_string())),
        _ => Err(CliError::usage(format!("`{spec}` is not <git-url>#<plugin>"))
            .with_hint("write it like `mmm plugins add https://github.com/org/marketplace#github`")),
    }
}

#[derive(Deserialize)]
struct Marketplace {
    #[serde(default)]
    metadata: Option<Metadata>,
    plugins: Vec<Entry>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "pluginRoot")]
    plugin_root: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    source: serde_json::Value,
    description: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    description: Option<String>,
    #[serde(rename = "mcpServers")]
    mcp_servers: Option<serde_json::Value>,
}

/// Reads plugin `name` from the marketplace checked out at `clone`: its entry, its
/// manifest and its servers. Notes say what was left out.
fn read_plugin(clone: &Path, name: &str) -> anyhow::Result<(Installed, Vec<String>)> {
    let index_path = clone.join(".claude-plugin/marketplace.json");
    let text = std::fs::read_to_string(&index_path).map_err(|e| {
        CliError::usage(format!("the repository has no readable .claude-plugin/marketplace.json: {e}"))
            .with_hint("a marketplace is a git repository with .claude-plugin/marketplace.json (see docs/plugins.md)")
    })?;
    let market: Marketplace = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!(".claude-plugin/marketplace.json: {e}")).with_hint(MARKET_HINT))?;
    let names: Vec<&str> = market.plugins.iter().map(|p| p.name.as_str()).collect();
    let Some(entry) = market.plugins.iter().find(|p| p.name == name) else {
        return Err(CliError::usage(format!("the marketplace has no plugin `{name}`"))
            .with_hint(format!("it lists: {}", names.join(", ")))
            .into());
    };
    let Some(source) = entry.source.as_str() else {
        return Err(CliError::usage(format!("`{name}` comes from outside the marketplace's repository"))
            .with_hint("mmm installs plugins kept in the marketplace's own repository (a relative `source`)")
            .into());
    };
    let base = market.metadata.and_then(|m| m.plugin_root).unwrap_or_default();
    let relative = Path::new(&base).join(source);
    let inside = relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    let path: PathBuf = relative.components().filter(|c| matches!(c, Component::Normal(_))).collect();
    if !inside || !clone.join(&path).is_dir() {
        return Err(CliError::usage(format!("`{name}`'s source `{source}` is not a directory of the marketplace"))
            .with_hint(MARKET_HINT)
            .into());
    }
    let dir = clone.join(&path);
    let manifest_path = dir.join(".claude-plugin/plugin.json");
    let manifest: Manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!("`{name}`'s .claude-plugin/plugin.json: {e}")).with_hint(MARKET_HINT)
        })?,
        Err(_) => Manifest { name: None, version: None, description: None, mcp_servers: None },
    };
    if manifest.name.as_deref().is_some_and(|n| n != name) {
        return Err(CliError::usage(format!("`{name}`'s manifest names it `{}`", manifest.name.unwrap_or_default()))
            .with_hint("the marketplace entry and the plugin's manifest must agree on its name")
            .into());
    }
    let servers_json = match manifest.mcp_servers {
        Some(serde_json::Value::String(file)) => read_json(&dir, &file)?,
        Some(inline) => inline,
        None if dir.join(".mcp.json").is_file() => read_json(&dir, ".mcp.json")?,
        None => serde_json::Value::Null,
    };
    // Either `{"mcpServers": {...}}` (a .mcp.json) or the servers themselves.
    let servers_json = servers_json.get("mcpServers").cloned().unwrap_or(servers_json);
    let declared: BTreeMap<String, McpJsonServer> = match servers_json {
        serde_json::Value::Null => BTreeMap::new(),
        value => serde_json::from_value(value)
            .map_err(|e| CliError::usage(format!("`{name}`'s MCP servers: {e}")).with_hint(MARKET_HINT))?,
    };
    let mut notes = Vec::new();
    let mut servers = Vec::new();
    for (server, declared) in declared {
        if !crate::settings::mcp::valid_name(&server) {
            notes.push(format!("`{server}`: skipped, a server's name takes only letters, digits, `-` and `_`"));
            continue;
        }
        if let Some((command, args, env)) = stdio_server(&server, declared, &mut notes) {
            servers.push(PluginServer { name: server, command, args, env });
        }
    }
    if servers.is_empty() {
        return Err(CliError::usage(format!("`{name}` provides no stdio MCP server: nothing mmm can use"))
            .with_hint("mmm uses a plugin's MCP servers (`mcpServers` in .claude-plugin/plugin.json, or .mcp.json)")
            .into());
    }
    let installed = Installed {
        name: name.to_string(),
        source: String::new(),
        commit: String::new(),
        version: manifest.version.or_else(|| entry.version.clone()),
        description: manifest.description.or_else(|| entry.description.clone()),
        enabled: true,
        path: path.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
        servers,
    };
    Ok((installed, notes))
}

const MARKET_HINT: &str = "see Claude Code's marketplace format in docs/plugins.md";

fn read_json(dir: &Path, file: &str) -> anyhow::Result<serde_json::Value> {
    let relative = Path::new(file);
    if !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(CliError::usage(format!("`{file}` is outside the plugin's directory"))
            .with_hint(MARKET_HINT)
            .into());
    }
    let path = dir.join(relative);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Runs git in `dir` (never with mmm's credentials, never running a transport that
/// executes commands) and returns its stdout.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut command = std::process::Command::new("git");
    crate::exec::without_credentials(&mut command, &[]);
    let out = command
        .args(["-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running git: is it installed and on PATH?")?;
    if !out.status.success() {
        anyhow::bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A plugin fetched and read, not yet installed: what `add` shows before enabling it.
pub struct Fetched {
    pub plugin: Installed,
    pub notes: Vec<String>,
    clone: tempfile::TempDir,
}

/// Clones the marketplace at `url` (into `.mmm/plugins/`, so the move into place stays on
/// one file system) and reads plugin `name` at the commit its default branch points to.
pub fn fetch(root: &Path, url: &str, name: &str) -> anyhow::Result<Fetched> {
    if url.starts_with('-') {
        return Err(CliError::usage(format!("`{url}` is not a git URL")).with_hint("name a repository").into());
    }
    if !crate::settings::mcp::valid_name(name) {
        return Err(CliError::usage(format!("`{name}` is not a plugin name"))
            .with_hint("a plugin's name takes only letters, digits, `-` and `_`")
            .into());
    }
    let dir = root.join(PLUGINS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let clone = tempfile::Builder::new().prefix(".fetch-").tempdir_in(&dir)?;
    let target = clone.path().to_string_lossy().to_string();
    git(root, &["clone", "--quiet", "--", url, &target]).map_err(|e| {
        CliError::usage(format!("cloning {url}: {e:#}")).with_hint("check the URL, and that you can clone it with git")
    })?;
    let commit = git(clone.path(), &["rev-parse", "HEAD"])?;
    git(clone.path(), &["checkout", "--quiet", "--detach", &commit])?;
    let (mut plugin, notes) = read_plugin(clone.path(), name)?;
    plugin.source = url.to_string();
    plugin.commit = commit;
    Ok(Fetched { plugin, notes, clone })
}

/// Installs what [`fetch`] read: its clone moved to `.mmm/plugins/<name>/`, its entry in
/// the index, enabled.
pub fn install(root: &Path, fetched: Fetched) -> anyhow::Result<Installed> {
    let mut index = load(root)?;
    let name = fetched.plugin.name.clone();
    if index.plugins.iter().any(|p| p.name == name) {
        return Err(CliError::usage(format!("the plugin `{name}` is installed already"))
            .with_hint(format!("`mmm plugins update {name}` moves it to the marketplace's latest commit"))
            .into());
    }
    let dest = root.join(PLUGINS_DIR).join(&name);
    if dest.exists() {
        std::fs::remove_dir_all(&dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    let clone = fetched.clone.keep();
    std::fs::rename(&clone, &dest).with_context(|| format!("moving the plugin into {}", dest.display()))?;
    index.plugins.push(fetched.plugin.clone());
    save(root, &index)?;
    Ok(fetched.plugin)
}

/// The installed plugin `name`, or a usage error listing those there are.
fn find<'i>(index: &'i mut Index, name: &str) -> Result<&'i mut Installed, CliError> {
    let names: Vec<String> = index.plugins.iter().map(|p| p.name.clone()).collect();
    index.plugins.iter_mut().find(|p| p.name == name).ok_or_else(|| {
        CliError::usage(format!("no plugin `{name}` is installed")).with_hint(if names.is_empty() {
            "`mmm plugins add <git-url>#<name>` installs one".to_string()
        } else {
            format!("installed: {}", names.join(", "))
        })
    })
}

/// Turns plugin `name` on or off; returns whether it changed.
pub fn set_enabled(root: &Path, name: &str, enabled: bool) -> anyhow::Result<bool> {
    let mut index = load(root)?;
    let plugin = find(&mut index, name)?;
    let changed = plugin.enabled != enabled;
    plugin.enabled = enabled;
    save(root, &index)?;
    Ok(changed)
}

/// Removes plugin `name`: its entry, then its clone.
pub fn remove(root: &Path, name: &str) -> anyhow::Result<Installed> {
    let mut index = load(root)?;
    let removed = find(&mut index, name)?.clone();
    index.plugins.retain(|p| p.name != name);
    save(root, &index)?;
    let dir = root.join(PLUGINS_DIR).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(removed)
}

/// What an update would change: the plugin as it is, as it would be, and the lines of
/// its permissions added and removed.
pub struct Update {
    pub before: Installed,
    pub after: Installed,
    pub notes: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Fetches plugin `name`'s marketplace again and reads the plugin at its latest commit,
/// changing nothing yet.
pub fn check_update(root: &Path, name: &str) -> anyhow::Result<Update> {
    let mut index = load(root)?;
    let before = find(&mut index, name)?.clone();
    let clone = root.join(PLUGINS_DIR).join(name);
    git(&clone, &["fetch", "--quiet", "origin", "HEAD"])
        .map_err(|e| CliError::usage(format!("fetching {}: {e:#}", before.source)).with_hint("check the URL"))?;
    let latest = git(&clone, &["rev-parse", "FETCH_HEAD"])?;
    git(&clone, &["checkout", "--quiet", "--detach", &latest])?;
    let read = read_plugin(&clone, name);
    // Until the update is applied, the clone stays at the pinned commit.
    git(&clone, &["checkout", "--quiet", "--detach", &before.commit])?;
    let (mut after, notes) = read?;
    after.source = before.source.clone();
    after.commit = latest;
    after.enabled = before.enabled;
    let (old, new) = (before.permissions(), after.permissions());
    let added = new.iter().filter(|l| !old.contains(l)).cloned().collect();
    let removed = old.iter().filter(|l| !new.contains(l)).cloned().collect();
    Ok(Update { before, after, notes, added, removed })
}

/// Applies an update [`check_update`] read: the clone at the new commit, the index entry.
pub fn apply_update(root: &Path, update: &Update) -> anyhow::Result<()> {
    let clone = root.join(PLUGINS_DIR).join(&update.after.name);
    git(&clone, &["checkout", "--quiet", "--detach", &update.after.commit])?;
    let mut index = load(root)?;
    *find(&mut index, &update.after.name)? = update.after.clone();
    save(root, &index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_at_the_last_hash() {
        assert_eq!(parse_spec("/tmp/m#echo").unwrap(), ("/tmp/m".to_string(), "echo".to_string()));
        assert_eq!(parse_spec("https://h/x.git#a#b").unwrap(), ("https://h/x.git#a".to_string(), "b".to_string()));
        assert!(parse_spec("/tmp/m").is_err() && parse_spec("#x").is_err() && parse_spec("u#").is_err());
    }

    #[test]
    fn a_plugin_is_read_from_its_manifest_and_sources_outside_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |path: &str, text: &str| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            ".claude-plugin/marketplace.json",
            r#"{"name": "m", "owner": {"name": "o"}, "plugins": [
                {"name": "echo", "source": "./plugins/echo", "description": "from the index"},
                {"name": "far", "source": {"source": "github", "repo": "o/far"}},
                {"name": "up", "source": "../elsewhere"},
                {"name": "empty", "source": "./plugins/empty"}
            ]}"#,
        );
        write(
            "plugins/echo/.claude-plugin/plugin.json",
            r#"{"name": "echo", "version": "1.2.0", "mcpServers": {
                "echo": {"command": "python3", "args": ["${CLAUDE_PLUGIN_ROOT}/server.py"],
                         "env": {"TOKEN": "${TOKEN}"}}}}"#,
        );
        write("plugins/empty/README.md", "nothing\n");
        let (plugin, notes) = read_plugin(root, "echo").unwrap();
        assert_eq!(
            plugin,
            Installed {
                name: "echo".into(),
                source: String::new(),
                commit: String::new(),
                version: Some("1.2.0".into()),
                description: Some("from the index".into()),
                enabled: true,
                path: "plugins/echo".into(),
                servers: vec![PluginServer {
                    name: "echo".into(),
                    command: "python3".into(),
                    args: vec!["${CLAUDE_PLUGIN_ROOT}/server.py".into()],
                    env: vec!["TOKEN".into()],
                }],
            }
        );
        assert!(notes.is_empty());
        assert_eq!(
            plugin.permissions(),
            [
                "server `echo`: runs `python3 ${CLAUDE_PLUGIN_ROOT}/server.py` in the work tree (stdio)",
                "server `echo`: reads PATH, HOME, TOKEN from your environment",
                "server `echo`: offers tools to the model while it edits, as `mcp__echo__<tool>`",
            ]
        );
        let error = |name: &str| format!("{:#}", read_plugin(root, name).err().unwrap());
        assert_eq!(error("far"), "`far` comes from outside the marketplace's repository");
        assert_eq!(error("up"), "`up`'s source `../elsewhere` is not a directory of the marketplace");
        assert_eq!(error("empty"), "`empty` provides no stdio MCP server: nothing mmm can use");
        assert_eq!(error("none"), "the marketplace has no plugin `none`");
    }
}
