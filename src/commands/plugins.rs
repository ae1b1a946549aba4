//! `mmm plugins`: list the configured MCP servers, import them from a Claude Code
//! `.mcp.json`, and write their tools' documentation.
//!
//! `import` appends `[mcp.<name>]` tables to `.mmm/config.toml` (atomically, after checking
//! that the result still parses) and never copies a variable's value into it. `docs`
//! starts every configured server to ask for its tools, writes one Markdown page per
//! server and one for mmm's built-in tools, and stops them again.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Ctx;
use crate::cli::{PluginsAddArgs, PluginsDocsArgs, PluginsImportArgs, PluginsUpdateArgs};
use crate::error::CliError;
use crate::plugins::marketplace::{self, Installed};
use crate::plugins::{Plugins, docs, import};
use crate::printer::{Report, Styles};
use crate::settings::mcp::McpServerConfig;

#[derive(Serialize)]
struct ServerView {
    name: String,
    command: String,
    args: Vec<String>,
    env: Vec<String>,
    phases: Vec<String>,
    timeout_secs: u64,
    allow_tools: Option<Vec<String>>,
    deny_tools: Vec<String>,
    file: PathBuf,
}

impl From<&McpServerConfig> for ServerView {
    fn from(c: &McpServerConfig) -> Self {
        Self {
            name: c.name.clone(),
            command: c.command.clone(),
            args: c.args.clone(),
            env: c.env.clone(),
            phases: c.phases.clone(),
            timeout_secs: c.timeout.as_secs(),
            allow_tools: c.allow_tools.clone(),
            deny_tools: c.deny_tools.clone(),
            file: c.file.clone(),
        }
    }
}

#[derive(Serialize)]
struct ListReport {
    r#type: &'static str,
    servers: Vec<ServerView>,
    /// The marketplace plugins installed in `.mmm/plugins/`.
    installed: Vec<Installed>,
}

impl Report for ListReport {
    fn human(&self, s: &Styles) -> String {
        if self.servers.is_empty() && self.installed.is_empty() {
            return "No plugins configured.\nhint: add an `[mcp.<name>]` table to .mmm/config.toml, or run `mmm plugins \
                    import` to bring in a .mcp.json (see docs/plugins.md)"
                .into();
        }
        let mut lines = Vec::new();
        for server in &self.servers {
            let command = std::iter::once(server.command.as_str())
                .chain(server.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let offered = if server.phases.is_empty() { "off" } else { "edit" };
            lines.push(format!("{}  {command}  ({offered}, {}s per call)", s.cyan(&server.name), server.timeout_secs));
        }
        for plugin in &self.installed {
            lines.push(format!(
                "{} {}  from {} at {}{}",
                s.cyan(&plugin.name),
                plugin.version.as_deref().unwrap_or("(no version)"),
                plugin.source,
                &plugin.commit[..plugin.commit.len().min(12)],
                if plugin.enabled { "" } else { "  (disabled)" }
            ));
        }
        lines.join("\n")
    }
}

pub fn list(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let servers = ctx.settings.mcp.read()?;
    let installed = match &ctx.settings.repo_root {
        Some(root) => marketplace::load(root)?.plugins,
        None => Vec::new(),
    };
    ctx.printer.report(&ListReport {
        r#type: "plugins",
        servers: servers.iter().map(ServerView::from).collect(),
        installed,
    })
}

#[derive(Serialize)]
struct ImportReport {
    r#type: &'static str,
    from: PathBuf,
    to: PathBuf,
    added: Vec<String>,
    notes: Vec<String>,
}

impl Report for ImportReport {
    fn human(&self, s: &Styles) -> String {
        let mut lines: Vec<String> = self.notes.iter().map(|n| format!("note: {n}")).collect();
        lines.push(match self.added.len() {
            0 => format!("Nothing imported from {}.", self.from.display()),
            n => format!(
                "Imported {n} server{} into {}: {}",
                if n == 1 { "" } else { "s" },
                self.to.display(),
                self.added.iter().map(|a| s.cyan(a)).collect::<Vec<_>>().join(", ")
            ),
        });
        lines.join("\n")
    }
}

pub fn import(ctx: &Ctx<'_>, args: &PluginsImportArgs) -> anyhow::Result<()> {
    let root = ctx.settings.project_root(&ctx.cwd).to_path_buf();
    let from = args.file.clone().unwrap_or_else(|| root.join(".mcp.json"));
    let text = std::fs::read_to_string(&from).map_err(|e| {
        CliError::usage(format!("reading {}: {e}", from.display()))
            .with_hint("name the file: `mmm plugins import path/to/.mcp.json`")
    })?;
    let to = root.join(crate::settings::PROJECT_FILE);
    let existing: Vec<String> = ctx.settings.mcp.read()?.into_iter().map(|s| s.name).collect();
    let imported = import::from_mcp_json(&text, &existing).map_err(|e| {
        CliError::usage(format!("{}: {e}", from.display()))
            .with_hint("the file must be Claude Code's `.mcp.json` format")
    })?;
    if !imported.added.is_empty() {
        append_tables(&to, &imported.tables)?;
    }
    ctx.printer.report(&ImportReport {
        r#type: "plugins_import",
        from,
        to,
        added: imported.added,
        notes: imported.notes,
    })
}

/// Appends `tables` to the settings file `to` (created if missing), atomically, once the
/// whole file is known to parse.
fn append_tables(to: &Path, tables: &str) -> anyhow::Result<()> {
    let mut text = match std::fs::read_to_string(to) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(anyhow::Error::from(e).context(format!("reading {}", to.display()))),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(tables);
    crate::settings::mcp::parse(&text, to)?;
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::state::write_atomic(to, text.as_bytes())
}

#[derive(Serialize)]
struct DocsReport {
    r#type: &'static str,
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// Servers that could not be asked for their tools, with why.
    failed: Vec<Failed>,
}

#[derive(Serialize)]
struct Failed {
    server: String,
    error: String,
}

impl Report for DocsReport {
    fn human(&self, s: &Styles) -> String {
        let mut lines: Vec<String> =
            self.failed.iter().map(|f| format!("warning: plugin `{}`: {}", f.server, f.error)).collect();
        lines.extend(self.files.iter().map(|f| format!("Wrote {}", s.cyan(f.display()))));
        lines.join("\n")
    }
}

pub fn docs(ctx: &Ctx<'_>, args: &PluginsDocsArgs) -> anyhow::Result<()> {
    let root = ctx.settings.project_root(&ctx.cwd).to_path_buf();
    let servers = ctx.settings.mcp.read()?;
    let env: Vec<(String, String)> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    let plugins = Plugins::new(ctx.settings.mcp.clone(), &root, env);
    let (reloaded, offered) = super::block_on(async {
        let reloaded = plugins.apply(servers.clone()).await;
        let offered = plugins.tools();
        (reloaded, offered)
    })?;
    let reloaded = reloaded?;
    drop(plugins);
    let dir = ctx.cwd.join(&args.out);
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::usage(format!("creating {}: {e}", dir.display())).with_hint("choose another directory with `-o DIR`")
    })?;
    let mut files = Vec::new();
    let builtin = dir.join("builtin.md");
    crate::state::write_atomic(&builtin, docs::builtin_page().as_bytes())?;
    files.push(builtin);
    let mut failed = Vec::new();
    for server in &servers {
        let failure = reloaded.failed.iter().find(|(name, _)| *name == server.name).map(|(_, why)| why.as_str());
        if let Some(why) = failure {
            failed.push(Failed { server: server.name.clone(), error: why.to_string() });
        }
        let tools: Vec<_> = offered.iter().filter(|t| t.server == server.name).cloned().collect();
        let file = dir.join(format!("{}.md", server.name));
        crate::state::write_atomic(&file, docs::server_page(server, &tools, failure).as_bytes())?;
        files.push(file);
    }
    ctx.printer.report(&DocsReport { r#type: "plugins_docs", dir, files, failed })
}

/// The repository the marketplace commands work in.
fn repo_root(ctx: &Ctx<'_>) -> anyhow::Result<PathBuf> {
    Ok(crate::git::Git::open(&ctx.cwd)?.root().to_path_buf())
}

/// Asks on the terminal whether to go on, after `lines`; without a terminal, refuses with
/// `lines` in the error so that what was refused is on record.
fn confirm(ctx: &Ctx<'_>, question: &str, lines: &[String], flag_hint: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let listed: String = lines.iter().map(|l| format!("\n  - {l}")).collect();
    if !std::io::stdin().is_terminal() || ctx.printer.is_json() {
        return Err(CliError::usage(format!("{question}{listed}")).with_hint(flag_hint.to_string()).into());
    }
    let mut stderr = std::io::stderr();
    write!(stderr, "{question}{listed}\nProceed? [y/N] ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::usage("nothing was changed").with_hint(flag_hint.to_string()).into())
    }
}

#[derive(Serialize)]
struct AddReport {
    r#type: &'static str,
    plugin: Installed,
    permissions: Vec<String>,
    notes: Vec<String>,
}

impl Report for AddReport {
    fn human(&self, s: &Styles) -> String {
        let mut lines: Vec<String> = self.notes.iter().map(|n| format!("note: {n}")).collect();
        lines.push(format!(
            "Installed {} {} from {} at {}, enabled. It may:",
            s.cyan(&self.plugin.name),
            self.plugin.version.as_deref().unwrap_or("(no version)"),
            self.plugin.source,
            self.plugin.commit
        ));
        lines.extend(self.permissions.iter().map(|p| format!("  - {p}")));
        lines.join("\n")
    }
}

pub fn add(ctx: &Ctx<'_>, args: &PluginsAddArgs) -> anyhow::Result<()> {
    let root = repo_root(ctx)?;
    let (url, name) = marketplace::parse_spec(&args.spec)?;
    let fetched = marketplace::fetch(&root, &url, &name)?;
    let permissions = fetched.plugin.permissions();
    if !args.yes {
        let question = format!("The plugin `{name}` ({url} at {}) asks to:", fetched.plugin.commit);
        confirm(ctx, &question, &permissions, "run `mmm plugins add` again with --yes to accept these permissions")?;
    }
    let notes = fetched.notes.clone();
    let plugin = marketplace::install(&root, fetched)?;
    ctx.printer.report(&AddReport { r#type: "plugins_add", plugin, permissions, notes })
}

#[derive(Serialize)]
struct ChangeReport {
    r#type: &'static str,
    /// `removed`, `enabled`, `disabled`, `updated` or `up_to_date`.
    action: &'static str,
    name: String,
    commit: String,
    /// For an update: the commit and version it moved from, and the permission lines added
    /// and removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    update: Option<UpdateView>,
}

#[derive(Serialize)]
struct UpdateView {
    from_commit: String,
    from_version: Option<String>,
    version: Option<String>,
    added: Vec<String>,
    removed: Vec<String>,
}

impl Report for ChangeReport {
    fn human(&self, s: &Styles) -> String {
        let name = s.cyan(&self.name);
        match (self.action, &self.update) {
            ("updated", Some(u)) => {
                let mut lines = vec![format!(
                    "Updated {name}: {} → {} ({} → {})",
                    u.from_commit,
                    self.commit,
                    u.from_version.as_deref().unwrap_or("no version"),
                    u.version.as_deref().unwrap_or("no version")
                )];
                lines.extend(u.added.iter().map(|l| format!("  + {l}")));
                lines.extend(u.removed.iter().map(|l| format!("  - {l}")));
                lines.join("\n")
            }
            ("up_to_date", _) => format!("{name} is up to date at {}.", self.commit),
            (action, _) => format!("{} {name}.", capitalized(action)),
        }
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

pub fn remove(ctx: &Ctx<'_>, name: &str) -> anyhow::Result<()> {
    let removed = marketplace::remove(&repo_root(ctx)?, name)?;
    ctx.printer.report(&ChangeReport {
        r#type: "plugins_change",
        action: "removed",
        name: removed.name,
        commit: removed.commit,
        update: None,
    })
}

pub fn enable(ctx: &Ctx<'_>, name: &str, on: bool) -> anyhow::Result<()> {
    let root = repo_root(ctx)?;
    marketplace::set_enabled(&root, name, on)?;
    let commit = marketplace::load(&root)?.plugins.into_iter().find(|p| p.name == name).map(|p| p.commit);
    ctx.printer.report(&ChangeReport {
        r#type: "plugins_change",
        action: if on { "enabled" } else { "disabled" },
        name: name.to_string(),
        commit: commit.unwrap_or_default(),
        update: None,
    })
}

pub fn update(ctx: &Ctx<'_>, args: &PluginsUpdateArgs) -> anyhow::Result<()> {
    let root = repo_root(ctx)?;
    let update = marketplace::check_update(&root, &args.name)?;
    let view = UpdateView {
        from_commit: update.before.commit.clone(),
        from_version: update.before.version.clone(),
        version: update.after.version.clone(),
        added: update.added.clone(),
        removed: update.removed.clone(),
    };
    if update.after == update.before {
        return ctx.printer.report(&ChangeReport {
            r#type: "plugins_change",
            action: "up_to_date",
            name: args.name.clone(),
            commit: update.before.commit,
            update: None,
        });
    }
    if !args.yes {
        let mut lines = vec![format!(
            "commit {} → {}, version {} → {}",
            view.from_commit,
            update.after.commit,
            view.from_version.as_deref().unwrap_or("none"),
            view.version.as_deref().unwrap_or("none")
        )];
        lines.extend(view.added.iter().map(|l| format!("new permission: {l}")));
        lines.extend(view.removed.iter().map(|l| format!("permission dropped: {l}")));
        let question = format!("Updating the plugin `{}` changes:", args.name);
        confirm(ctx, &question, &lines, "run `mmm plugins update` again with --yes to apply it")?;
    }
    marketplace::apply_update(&root, &update)?;
    ctx.printer.report(&ChangeReport {
        r#type: "plugins_change",
        action: "updated",
        name: args.name.clone(),
        commit: update.after.commit.clone(),
        update: Some(view),
    })
}
