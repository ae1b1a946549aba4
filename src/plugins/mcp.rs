//! One MCP server as a child process, through the official Rust SDK (`rmcp`).
//!
//! This is the only module that names `rmcp`: its major version moves, and everything mmm
//! needs from it is here, in plain types (tools and results as JSON, errors as text). A
//! server is started with a cleared environment (only `PATH`, `HOME` and the names its
//! table lists, never a credential of mmm's), in the work tree, speaking MCP over its
//! stdin and stdout; its stderr is discarded. It must never be given the API key, and
//! nothing here decides what the model sees: [`super`] filters, names and bounds.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;

use crate::settings::mcp::McpServerConfig;

/// How long a server may take to start and answer `initialize`.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopping server gets to exit after its stdin closes, before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Variables every server gets from mmm's environment, besides those its table names: a
/// server started through `npx` or a script's `#!/usr/bin/env` needs `PATH` to run at all.
pub const BASE_ENV: &[&str] = &["PATH", "HOME"];

/// A tool as a server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerTool {
    pub name: String,
    pub description: Option<String>,
    /// The JSON schema of its input (`{"type": "object"}` when the server gave none).
    pub input_schema: Value,
}

/// What a call returned: the text for the model, and whether the server said it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResult {
    pub text: String,
    pub is_error: bool,
}

/// Sees a server's notifications: `notifications/tools/list_changed` marks its tools stale.
struct Listener {
    stale: Arc<AtomicBool>,
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.stale.store(true, Ordering::SeqCst);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("mmm", env!("CARGO_PKG_VERSION")))
    }
}

/// A running server.
pub struct Server {
    service: RunningService<RoleClient, Listener>,
    stale: Arc<AtomicBool>,
}

/// The environment a server gets from `env` (mmm's): [`BASE_ENV`] and the names its table
/// lists, less any credential of mmm's whatever the table says.
pub fn server_env(config: &McpServerConfig, env: &[(String, String)]) -> Vec<(String, String)> {
    let wanted = |name: &str| BASE_ENV.contains(&name) || config.env.iter().any(|n| n == name);
    env.iter().filter(|(name, _)| wanted(name) && !crate::exec::is_credential(name)).cloned().collect()
}

impl Server {
    /// Starts the server in `dir` with exactly the environment `env`, and completes the
    /// MCP handshake.
    pub async fn start(config: &McpServerConfig, dir: &Path, env: Vec<(String, String)>) -> Result<Self, String> {
        let mut command = tokio::process::Command::new(&config.command);
        command.args(&config.args).current_dir(dir).env_clear().envs(env).kill_on_drop(true);
        let (transport, _) = TokioChildProcess::builder(command)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start `{}`: {e}", config.command))?;
        let stale = Arc::new(AtomicBool::new(false));
        let listener = Listener { stale: stale.clone() };
        match tokio::time::timeout(START_TIMEOUT, listener.serve(transport)).await {
            Ok(Ok(service)) => Ok(Self { service, stale }),
            Ok(Err(e)) => Err(format!("`{}` did not complete the MCP handshake: {e}", config.command)),
            Err(_) => Err(format!(
                "`{}` did not answer the MCP handshake within {}s",
                config.command,
                START_TIMEOUT.as_secs()
            )),
        }
    }

    /// Whether the server said its tools changed since the last [`Server::tools`].
    pub fn tools_stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }

    /// The server's tools, every page.
    pub async fn tools(&self, timeout: Duration) -> Result<Vec<ServerTool>, String> {
        self.stale.store(false, Ordering::SeqCst);
        let listed = match tokio::time::timeout(timeout, self.service.peer().list_all_tools()).await {
            Ok(Ok(tools)) => tools,
            Ok(Err(e)) => return Err(format!("listing its tools failed: {e}")),
            Err(_) => return Err(format!("listing its tools took longer than {}s", timeout.as_secs())),
        };
        Ok(listed
            .into_iter()
            .map(|tool| {
                let schema = Value::Object((*tool.input_schema).clone());
                ServerTool {
                    name: tool.name.to_string(),
                    description: tool.description.map(|d| d.to_string()),
                    input_schema: schema,
                }
            })
            .collect())
    }

    /// Calls `tool` with `arguments` (a JSON object), waiting at most `timeout`.
    pub async fn call(&self, tool: &str, arguments: &Value, timeout: Duration) -> Result<CallResult, String> {
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = match arguments {
            Value::Object(map) => Some(map.clone()),
            Value::Null => None,
            _ => return Err("the input must be a JSON object".into()),
        };
        let result = match tokio::time::timeout(timeout, self.service.peer().call_tool(params)).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => return Err(format!("the call failed: {e}")),
            Err(_) => return Err(format!("no answer within {}s (the call's timeout)", timeout.as_secs())),
        };
        let json = serde_json::to_value(&result).map_err(|e| format!("its result could not be read: {e}"))?;
        Ok(CallResult { text: result_text(&json), is_error: json["isError"] == Value::Bool(true) })
    }

    /// Whether the connection to the server is gone (it exited, or its output broke the
    /// protocol).
    pub fn is_closed(&self) -> bool {
        self.service.peer().is_transport_closed()
    }

    /// Stops the server: its stdin is closed, then it is killed if it has not exited.
    pub async fn stop(mut self) {
        let _ = self.service.close_with_timeout(STOP_TIMEOUT).await;
    }
}

/// A call's result as text: its text blocks in order, an embedded text resource's text,
/// a placeholder for what text cannot carry, and the structured result when there is
/// nothing else.
fn result_text(result: &Value) -> String {
    let mut parts = Vec::new();
    for block in result["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => parts.push(block["text"].as_str().unwrap_or_default().to_string()),
            Some("resource") => match block["resource"]["text"].as_str() {
                Some(text) => parts.push(text.to_string()),
                None => parts.push("[a binary resource, not shown]".into()),
            },
            Some("resource_link") => parts.push(format!("[resource {}]", block["uri"].as_str().unwrap_or("?"))),
            Some(other) => parts.push(format!("[{other} content, not shown]")),
            None => {}
        }
    }
    if parts.is_empty()
        && let Some(structured) = result.get("structuredContent")
    {
        parts.push(structured.to_string());
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_read_as_text() {
        let result = json!({"content": [
            {"type": "text", "text": "one"},
            {"type": "image", "data": "AAA", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "two"}},
        ]});
        assert_eq!(result_text(&result), "one\n[image content, not shown]\ntwo");
        assert_eq!(result_text(&json!({"content": [], "structuredContent": {"n": 1}})), "{\"n\":1}");
        assert_eq!(result_text(&json!({})), "");
    }

    #[test]
    fn a_server_gets_only_the_base_names_and_those_its_table_lists() {
        let config = McpServerConfig {
            name: "s".into(),
            command: "s".into(),
            args: vec![],
            env: vec!["GITHUB_TOKEN".into(), "OPENAI_API_KEY".into()],
            allow_tools: None,
            deny_tools: vec![],
            phases: vec!["edit".into()],
            timeout: Duration::from_secs(1),
            file: "c.toml".into(),
        };
        let env: Vec<(String, String)> =
            [("PATH", "/bin"), ("ANTHROPIC_API_KEY", "sk"), ("GITHUB_TOKEN", "t"), ("OPENAI_API_KEY", "o"), ("X", "x")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(
            server_env(&config, &env),
            vec![("PATH".into(), "/bin".into()), ("GITHUB_TOKEN".into(), "t".into())]
        );
    }
}
