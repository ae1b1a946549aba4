//! Plugins: the MCP servers a project declares (`[mcp.<name>]`, [`crate::settings::mcp`]),
//! offered to the model as tools named `mcp__<server>__<tool>` in the editing
//! conversation, and nowhere else (reviews and verdicts offer only their own tool).
//!
//! [`Plugins`] owns the servers of one work tree. They run on a thread of their own with
//! its own small async runtime, so a tool call (which the agent loop makes synchronously)
//! and a server's notifications never depend on how the caller's runtime is built. At each
//! iteration boundary the session calls [`Plugins::reload`] with the tables as the files
//! say now: added servers start, removed ones stop, changed ones restart, and a server
//! that died is started again. Within an iteration, a server's
//! `notifications/tools/list_changed` makes the next request offer its new tools
//! ([`Plugins::generation`]).
//!
//! A plugin never ends a session: a server that cannot start is a warning, and a call to
//! one that crashed, hung past its timeout or answered garbage is an error *result* the
//! model reads (the server is then stopped until the next iteration). Results are bounded
//! and redacted like a check's output ([`crate::exec::bounded_output`]). A server never
//! gets mmm's credentials ([`mcp::server_env`]).

pub mod docs;
pub mod import;
pub mod marketplace;
pub mod mcp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::settings::mcp::{McpServerConfig, McpSource};
use crate::tools::ToolReply;

/// Every plugin tool's name starts with this.
pub const PREFIX: &str = "mcp__";
/// The longest tool name the Messages API takes.
const MAX_TOOL_NAME: usize = 64;
/// How long past a call's own timeout the caller waits for the plugin thread's answer.
const CALL_MARGIN: Duration = Duration::from_secs(10);

/// A tool a server offers, as the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginTool {
    /// `mcp__<server>__<tool>`.
    pub full_name: String,
    pub server: String,
    pub tool: String,
    pub description: Option<String>,
    pub input_schema: Value,
}

impl PluginTool {
    /// The tool's definition for a request's `tools` array.
    pub fn definition(&self) -> Value {
        let mut definition = json!({"name": self.full_name, "input_schema": self.input_schema});
        if let Some(description) = &self.description {
            definition["description"] = json!(crate::redact::redact(description));
        }
        definition
    }
}

/// The name the model sees for `server`'s `tool`, when the API can take it.
pub fn full_name(server: &str, tool: &str) -> Option<String> {
    let name = format!("{PREFIX}{server}__{tool}");
    let valid = name.len() <= MAX_TOOL_NAME && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then_some(name)
}

/// What a reload did, for the journal and the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    pub stopped: Vec<String>,
    /// Servers that could not start, with why.
    pub failed: Vec<(String, String)>,
}

enum Request {
    Reload { servers: Vec<McpServerConfig>, reply: oneshot::Sender<Reloaded> },
    Tools { reply: std::sync::mpsc::Sender<Vec<PluginTool>> },
    Call { name: String, input: Value, reply: std::sync::mpsc::Sender<ToolReply> },
}

/// The servers of one work tree. Cloning shares them; they stop when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").field("source", &self.inner.source).finish_non_exhaustive()
    }
}

struct Inner {
    source: McpSource,
    dir: PathBuf,
    /// mmm's environment, from which each server gets the names its table lists.
    env: Vec<(String, String)>,
    /// Bumped each time the tools offered may have changed.
    generation: Arc<AtomicU64>,
    /// The plugin thread, started with the first server.
    thread: OnceLock<PluginThread>,
}

/// The plugin thread: where requests go, and its handle (taken when it is joined).
type PluginThread = (mpsc::UnboundedSender<Request>, Mutex<Option<std::thread::JoinHandle<()>>>);

impl Plugins {
    /// The servers `source` declares, run in `dir` with names from `env` passed through.
    pub fn new(source: McpSource, dir: &Path, env: Vec<(String, String)>) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                dir: dir.to_path_buf(),
                env,
                generation: Arc::default(),
                thread: OnceLock::new(),
            }),
        }
    }

    /// No servers at all.
    pub fn none() -> Self {
        Self::new(McpSource::default(), Path::new("."), Vec::new())
    }

    /// Counts the changes to the tools offered: a [`crate::tools::Tools`] whose
    /// definitions were taken at an older generation offers them again.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    fn sender(&self) -> &mpsc::UnboundedSender<Request> {
        &self
            .inner
            .thread
            .get_or_init(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let host = Host {
                    dir: self.inner.dir.clone(),
                    env: self.inner.env.clone(),
                    servers: BTreeMap::new(),
                    generation: self.inner.generation.clone(),
                };
                let thread = std::thread::Builder::new()
                    .name("mmm-plugins".into())
                    .spawn(move || host.run(rx))
                    .expect("the plugin thread starts");
                (tx, Mutex::new(Some(thread)))
            })
            .0
    }

    /// Reads the `[mcp]` tables again and brings the running servers in line with them.
    /// A file that no longer parses leaves the servers as they are and is an `Err`.
    pub async fn reload(&self) -> Result<Reloaded, crate::error::CliError> {
        let servers = crate::blocking::call(|| self.inner.source.read())?;
        self.apply(servers.into_iter().filter(McpServerConfig::in_edit).collect()).await
    }

    /// Runs exactly `servers` (for `mmm plugins docs`, every server the files declare).
    pub async fn apply(&self, servers: Vec<McpServerConfig>) -> Result<Reloaded, crate::error::CliError> {
        if servers.is_empty() && self.inner.thread.get().is_none() {
            return Ok(Reloaded::default());
        }
        let (reply, answer) = oneshot::channel();
        if self.sender().send(Request::Reload { servers, reply }).is_err() {
            return Ok(Reloaded::default());
        }
        Ok(answer.await.unwrap_or_default())
    }

    /// The tools offered now (refreshing those of servers that said they changed). Blocks
    /// until the plugin thread answers, without stalling the caller's runtime
    /// ([`crate::blocking::call`]).
    pub fn tools(&self) -> Vec<PluginTool> {
        if self.inner.thread.get().is_none() {
            return Vec::new();
        }
        let (reply, answer) = std::sync::mpsc::channel();
        if self.sender().send(Request::Tools { reply }).is_err() {
            return Vec::new();
        }
        crate::blocking::call(|| answer.recv()).unwrap_or_default()
    }

    /// Calls the plugin tool `name` (`mcp__<server>__<tool>`) with the model's `input`.
    /// Blocks until it answers or times out; every failure is an error result.
    pub fn call(&self, name: &str, input: &Value) -> ToolReply {
        let unknown = || ToolReply::error(format!("Error: Unknown tool `{name}`: no plugin offers it now."));
        if self.inner.thread.get().is_none() {
            return unknown();
        }
        let (reply, answer) = std::sync::mpsc::channel();
        if self.sender().send(Request::Call { name: name.to_string(), input: input.clone(), reply }).is_err() {
            return unknown();
        }
        let longest = self.longest_timeout() + CALL_MARGIN;
        crate::blocking::call(|| answer.recv_timeout(longest)).unwrap_or_else(|_| {
            ToolReply::error(format!("Error: the plugin tool `{name}` did not answer; it is stopped."))
        })
    }

    fn longest_timeout(&self) -> Duration {
        self.inner.source.read().ok().into_iter().flatten().map(|s| s.timeout).max().unwrap_or_default()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.thread.take() {
            // Closing the channel ends the thread's loop; it stops every server first.
            drop(tx);
            if let Some(thread) = thread.into_inner().unwrap_or_else(PoisonError::into_inner) {
                crate::blocking::call(|| {
                    let _ = thread.join();
                });
            }
        }
    }
}

/// The plugin thread's state: the servers by name.
struct Host {
    dir: PathBuf,
    env: Vec<(String, String)>,
    servers: BTreeMap<String, Slot>,
    generation: Arc<AtomicU64>,
}

struct Slot {
    config: McpServerConfig,
    server: Option<mcp::Server>,
    tools: Vec<mcp::ServerTool>,
}

impl Host {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::warn!("the plugin thread could not start its runtime: {e}");
                return;
            }
        };
        runtime.block_on(async {
            while let Some(request) = rx.recv().await {
                match request {
                    Request::Reload { servers, reply } => {
                        let _ = reply.send(self.reload(servers).await);
                    }
                    Request::Tools { reply } => {
                        let _ = reply.send(self.tools().await);
                    }
                    Request::Call { name, input, reply } => {
                        let _ = reply.send(self.call(&name, &input).await);
                    }
                }
            }
            for (_, slot) in std::mem::take(&mut self.servers) {
                if let Some(server) = slot.server {
                    server.stop().await;
                }
            }
        });
    }

    async fn reload(&mut self, servers: Vec<McpServerConfig>) -> Reloaded {
        let mut reloaded = Reloaded::default();
        let wanted: BTreeMap<String, McpServerConfig> = servers.into_iter().map(|s| (s.name.clone(), s)).collect();
        let gone: Vec<String> = self.servers.keys().filter(|name| !wanted.contains_key(*name)).cloned().collect();
        for name in gone {
            if let Some(Slot { server: Some(server), .. }) = self.servers.remove(&name) {
                server.stop().await;
            }
            reloaded.stopped.push(name);
        }
        // Servers to start (or start again), started side by side: each may take seconds.
        let mut starting = Vec::new();
        for (name, config) in wanted {
            let running = self.servers.get_mut(&name).filter(|slot| {
                slot.config.same_process(&config) && slot.server.as_ref().is_some_and(|s| !s.is_closed())
            });
            if let Some(slot) = running {
                // Same process: the new filters and timeout apply as they are.
                slot.config = config;
                continue;
            }
            let restarted = match self.servers.remove(&name) {
                Some(Slot { server: Some(server), .. }) => {
                    server.stop().await;
                    true
                }
                Some(_) => true,
                None => false,
            };
            starting.push((restarted, config));
        }
        let started = futures_util::future::join_all(starting.into_iter().map(|(restarted, config)| {
            let env = mcp::server_env(&config, &self.env);
            let dir = self.dir.clone();
            async move {
                let outcome = match mcp::Server::start(&config, &dir, env).await {
                    Ok(server) => match server.tools(config.timeout).await {
                        Ok(tools) => Ok((server, tools)),
                        Err(e) => {
                            server.stop().await;
                            Err(e)
                        }
                    },
                    Err(e) => Err(e),
                };
                (restarted, config, outcome)
            }
        }))
        .await;
        for (restarted, config, outcome) in started {
            let name = config.name.clone();
            let mut slot = Slot { config, server: None, tools: Vec::new() };
            match outcome {
                Ok((server, tools)) => {
                    slot.server = Some(server);
                    slot.tools = tools;
                    if restarted { reloaded.restarted.push(name.clone()) } else { reloaded.started.push(name.clone()) }
                }
                Err(e) => reloaded.failed.push((name.clone(), e)),
            }
            self.servers.insert(name, slot);
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        reloaded
    }

    /// The tools offered, after asking again the servers whose tools changed.
    async fn tools(&mut self) -> Vec<PluginTool> {
        for slot in self.servers.values_mut() {
            let Some(server) = slot.server.as_ref().filter(|s| s.tools_stale()) else { continue };
            if let Ok(tools) = server.tools(slot.config.timeout).await
                && tools != slot.tools
            {
                slot.tools = tools;
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mut offered = Vec::new();
        for (name, slot) in &self.servers {
            for tool in slot.tools.iter().filter(|t| slot.config.offers(&t.name)) {
                match full_name(name, &tool.name) {
                    Some(full_name) => offered.push(PluginTool {
                        full_name,
                        server: name.clone(),
                        tool: tool.name.clone(),
                        description: tool.description.clone(),
                        input_schema: tool.input_schema.clone(),
                    }),
                    None => tracing::warn!("plugin `{name}`: the tool `{}` has a name the API cannot take", tool.name),
                }
            }
        }
        offered
    }

    async fn call(&mut self, name: &str, input: &Value) -> ToolReply {
        let found = self.tools().await.into_iter().find(|t| t.full_name == name);
        let Some(tool) = found else {
            return ToolReply::error(format!("Error: Unknown tool `{name}`: no plugin offers it now."));
        };
        let slot = self.servers.get_mut(&tool.server).expect("an offered tool's server is known");
        let Some(server) = slot.server.as_ref() else {
            return ToolReply::error(format!(
                "Error: the `{}` plugin is not running (it failed earlier in this iteration); do without `{name}`.",
                tool.server
            ));
        };
        match server.call(&tool.tool, input, slot.config.timeout).await {
            Ok(result) => {
                let text = if result.text.trim().is_empty() { "(no output)".to_string() } else { result.text };
                let text = crate::exec::bounded_output(&text);
                if result.is_error { ToolReply::error(text) } else { ToolReply::ok(text) }
            }
            Err(e) => {
                // A server that hung or broke the protocol is not trusted again this iteration.
                if let Some(server) = slot.server.take() {
                    server.stop().await;
                }
                ToolReply::error(
                    crate::redact::redact(&format!(
                        "Error: the `{}` plugin's tool `{}` failed: {e}. The plugin is stopped for the rest of this \
                     iteration.",
                        tool.server, tool.tool
                    ))
                    .into_owned(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_api_cannot_take_are_not_offered() {
        assert_eq!(full_name("gh", "list_issues").as_deref(), Some("mcp__gh__list_issues"));
        assert_eq!(full_name("gh", "list.issues"), None);
        assert_eq!(full_name("gh", &"x".repeat(60)), None);
    }

    #[test]
    fn no_servers_offer_nothing_and_start_no_thread() {
        let plugins = Plugins::none();
        assert_eq!(plugins.tools(), Vec::new());
        assert_eq!(
            plugins.call("mcp__a__b", &json!({})),
            ToolReply::error("Error: Unknown tool `mcp__a__b`: no plugin offers it now.")
        );
        assert!(plugins.inner.thread.get().is_none());
    }
}
