//! The second [`Model`]: OpenAI-compatible Chat Completions endpoints (OpenAI, vLLM,
//! LM Studio, llama.cpp's server, Ollama's `/v1`), behind the same request and response
//! types as the Anthropic client, so the session never knows which one it talks to.
//!
//! `POST {base_url}/chat/completions` with `Authorization: Bearer <key>`, streamed
//! (`stream: true`, `stream_options.include_usage`). [`chat_request`] writes the body from a
//! [`MessagesRequest`]: the system blocks become one `system` message, tool results become
//! `tool` messages answering their `tool_call_id`, tool calls go back as the assistant's
//! `tool_calls`, tools as `function` tools with their JSON schema. Only fields every such
//! server reads are sent: no Anthropic field (cache marks, thinking, `top_k`, `metadata`),
//! and no OpenAI-only one but `max_completion_tokens`, which OpenAI's own API requires
//! instead of `max_tokens` (sent to `api.openai.com` only). An Anthropic built-in tool type
//! has no form here and is refused; the session sends the editor as a JSON-schema tool
//! (see [`Model::builtin_tools`]).
//!
//! [`ChunkAssembler`] builds the assistant turn from the stream's `data:` chunks: text
//! from `choices[0].delta.content`, tool calls from `delta.tool_calls` pieces joined by
//! `index`, the finish reason, usage (`prompt_tokens_details.cached_tokens` counted as cache
//! reads), `[DONE]`, and an `error` chunk as an API error. Timeouts and retries are the
//! shared [`Transport`]'s. This module knows nothing of git, tools or sessions; the key is a
//! sensitive header, never logged or written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{ApiError, LlmError, Provider, openai_error};
use super::http::{Limits, Transport, secret_header};
use super::models::{ModelInfo, path_segment};
use super::retry::Sleeper;
use super::sse::{SseEvent, snippet};
use super::types::{
    ContentBlock, Message, MessagesRequest, MessagesResponse, Role, StopReason, Tool, ToolChoice, ToolResultContent,
    ToolUseBlock, Usage,
};
use super::{CheckFuture, Model, SendFuture, StreamUpdate};
use crate::error::CliError;
use crate::settings::{Settings, Source};

/// OpenAI's own API, the default `base_url` for `provider = "openai"`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Everything the client needs; [`OpenAiConfig::from_settings`] reads it from settings.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Up to and including the version path (`https://api.openai.com/v1`,
    /// `http://localhost:11434/v1`).
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    pub limits: Limits,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<hidden>")
            .field("model", &self.model)
            .field("limits", &self.limits)
            .finish()
    }
}

impl OpenAiConfig {
    /// Reads `base_url` (OpenAI's unless set in a file, `MMM_BASE_URL` or a flag: the
    /// Anthropic SDK's `ANTHROPIC_BASE_URL` is not for this API), the key from the variable
    /// `api_key_env` names, `model` (which must be set, and not by `ANTHROPIC_MODEL`: the
    /// default is a Claude model) and the limits. No key, or no model, is a usage error with a hint.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let var = settings.str("api_key_env").unwrap_or("OPENAI_API_KEY");
        let Some(api_key) = settings.str("openai_api_key") else {
            return Err(CliError::usage(format!("no API key for provider = \"openai\": {var} is not set"))
                .with_hint(format!(
                    "export {var}=<your key>; a local server that needs no key (Ollama, llama.cpp) takes any value, \
                     e.g. {var}=none; `api_key_env` names another variable"
                ))
                .into());
        };
        // The Anthropic SDK's variables name Claude's model and address, not this API's.
        let anthropic_env = |source: &Source, name: &str| matches!(source, Source::Env { var } if var == name);
        let model = settings.entry("model");
        if model.source == Source::Default || anthropic_env(&model.source, "ANTHROPIC_MODEL") {
            return Err(CliError::usage("provider = \"openai\" needs a model: `model` is not set")
                .with_hint("set `model` in .mmm/config.toml to the id the server serves (`mmm models` lists them)")
                .into());
        }
        let base_url = settings.entry("base_url");
        let base_url = if base_url.source == Source::Default || anthropic_env(&base_url.source, "ANTHROPIC_BASE_URL") {
            DEFAULT_BASE_URL.to_string()
        } else {
            settings.str("base_url").unwrap_or(DEFAULT_BASE_URL).to_string()
        };
        Ok(Self {
            base_url,
            api_key: api_key.to_string(),
            model: settings.str("model").unwrap_or_default().to_string(),
            limits: Limits::from_settings(settings),
        })
    }
}

/// An OpenAI-compatible Chat Completions client.
pub struct OpenAiClient {
    transport: Transport,
    model: String,
    /// `max_completion_tokens` for OpenAI's own API, `max_tokens` for every other server.
    max_tokens_field: &'static str,
}

impl std::fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiClient").field("transport", &self.transport).field("model", &self.model).finish()
    }
}

impl OpenAiClient {
    /// A client for `config`; a bad base URL or a key that cannot be a header is a usage error.
    pub fn new(config: OpenAiConfig) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", secret_header(&format!("Bearer {}", config.api_key), "the API key variable")?);
        let transport = Transport::new(Provider::OpenAi, &config.base_url, DEFAULT_BASE_URL, headers, &config.limits)?;
        let openai = reqwest::Url::parse(&transport.base_url).is_ok_and(|u| u.host_str() == Some("api.openai.com"));
        let max_tokens_field = if openai { "max_completion_tokens" } else { "max_tokens" };
        Ok(Self { transport, model: config.model, max_tokens_field })
    }

    /// A client configured from settings (see [`OpenAiConfig::from_settings`]).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Self::new(OpenAiConfig::from_settings(settings)?)
    }

    /// Replaces how the client waits between retries (tests record instead of sleeping).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
        self
    }

    /// The configured model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sends one request as a Chat Completion, retrying per the policy, and returns the
    /// whole assistant turn.
    pub async fn chat(
        &self,
        request: &MessagesRequest,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        let body = chat_request(request, self.max_tokens_field)?;
        let body = serde_json::to_vec(&body).map_err(|e| LlmError::Request(format!("encoding the request: {e}")))?;
        self.transport
            .post("/chat/completions", &body, on_event, |response, request_id| {
                self.read_response(response, request_id, on_event)
            })
            .await
    }

    async fn read_response(
        &self,
        response: reqwest::Response,
        request_id: Option<String>,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        let mut assembler = ChunkAssembler::new(&self.model, request_id.clone());
        if Transport::is_stream(&response) {
            self.transport
                .read_events(response, &request_id, |event| {
                    assembler.apply(event, on_event)?;
                    Ok(assembler.is_done())
                })
                .await?;
        } else {
            let completion: Value = self.transport.read_json(response, request_id).await?;
            assembler.apply_completion(&completion, on_event)?;
        }
        assembler.finish()
    }

    /// One model: `GET {base_url}/models/{model}`.
    pub async fn model_info(&self, model: &str) -> Result<ModelInfo, LlmError> {
        let model: ListedModel = self.transport.get_json(&format!("/models/{}", path_segment(model)), &[]).await?;
        Ok(model.into())
    }

    /// The models the server lists: `GET {base_url}/models` (one page: the API has no more).
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        #[derive(Deserialize)]
        struct List {
            data: Vec<ListedModel>,
        }
        let list: List = self.transport.get_json("/models", &[]).await?;
        Ok(list.data.into_iter().map(ModelInfo::from).collect())
    }
}

impl Model for OpenAiClient {
    fn name(&self) -> &str {
        &self.model
    }

    fn send<'a>(
        &'a self,
        request: &'a MessagesRequest,
        on_event: &'a (dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> SendFuture<'a> {
        Box::pin(self.chat(request, on_event))
    }

    fn builtin_tools(&self) -> bool {
        false
    }

    /// `GET /models/{model}`: a refused key fails; OpenAI's `model_not_found` fails; a
    /// server that does not describe single models (vLLM, llama.cpp: a 404 or 405 of
    /// another kind) has nothing to say, so that passes.
    fn check<'a>(&'a self, model: &'a str) -> CheckFuture<'a> {
        Box::pin(async move { super::checked(self.model_info(model).await, "model_not_found") })
    }
}

/// A model as `GET /models` lists it: `{"id", "object": "model", "created", "owned_by"}`.
#[derive(Deserialize)]
struct ListedModel {
    id: String,
    /// Unix seconds, when the server says.
    #[serde(default)]
    created: Option<i64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl From<ListedModel> for ModelInfo {
    fn from(m: ListedModel) -> Self {
        let created_at = m
            .created
            .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
            .map(|t| t.to_string())
            .unwrap_or_default();
        ModelInfo {
            id: m.id,
            display_name: String::new(),
            created_at,
            max_input_tokens: None,
            max_tokens: None,
            extra: m.extra,
        }
    }
}

/// The Chat Completions body for `request`: see the module comment for what maps to what.
/// `max_tokens_field` names the output limit (`max_tokens` or `max_completion_tokens`).
pub fn chat_request(request: &MessagesRequest, max_tokens_field: &str) -> Result<Value, LlmError> {
    let mut messages = Vec::new();
    let system: Vec<&str> = request.system.iter().map(|b| b.text.as_str()).filter(|t| !t.is_empty()).collect();
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system.join("\n\n")}));
    }
    for message in &request.messages {
        wire_messages(message, &mut messages)?;
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert(max_tokens_field.into(), json!(request.max_tokens));
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(wire_tool).collect::<Result<Vec<_>, _>>()?;
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let (choice, no_parallel) = match choice {
            ToolChoice::Auto { disable_parallel_tool_use } => (json!("auto"), *disable_parallel_tool_use),
            ToolChoice::Any { disable_parallel_tool_use } => (json!("required"), *disable_parallel_tool_use),
            ToolChoice::Tool { name, disable_parallel_tool_use } => {
                (json!({"type": "function", "function": {"name": name}}), *disable_parallel_tool_use)
            }
            ToolChoice::None => (json!("none"), None),
        };
        body.insert("tool_choice".into(), choice);
        if no_parallel == Some(true) {
            body.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop_sequences.is_empty() {
        body.insert("stop".into(), json!(request.stop_sequences));
    }
    Ok(Value::Object(body))
}

/// One conversation message as Chat Completions messages: a user message's tool results
/// become `tool` messages (first, as the API requires them right after the call), its text
/// one `user` message; an assistant message its text and `tool_calls` (thinking has no
/// form here and is left out).
fn wire_messages(message: &Message, out: &mut Vec<Value>) -> Result<(), LlmError> {
    let mut text = Vec::new();
    let mut calls = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text(b) => text.push(b.text.as_str()),
            ContentBlock::ToolResult(result) => {
                let content = match &result.content {
                    None => String::new(),
                    Some(ToolResultContent::Text(t)) => t.clone(),
                    Some(ToolResultContent::Blocks(blocks)) => blocks
                        .iter()
                        .filter_map(|b| match b {
                            ContentBlock::Text(t) => Some(t.text.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                };
                out.push(json!({"role": "tool", "tool_call_id": result.tool_use_id, "content": content}));
            }
            ContentBlock::ToolUse(call) => {
                let arguments = match &call.input {
                    // Arguments that were not JSON go back exactly as the model wrote them.
                    Value::String(raw) => raw.clone(),
                    input => input.to_string(),
                };
                calls.push(json!({"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": arguments}}));
            }
            ContentBlock::Thinking(_) | ContentBlock::RedactedThinking(_) => {}
            ContentBlock::Unknown(_) => {
                return Err(LlmError::Request(format!(
                    "a `{}` content block has no form in an OpenAI-compatible request",
                    block.kind()
                )));
            }
        }
    }
    let text = text.into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>().join("\n\n");
    match message.role {
        Role::User if !text.is_empty() => out.push(json!({"role": "user", "content": text})),
        Role::User => {}
        Role::Assistant if calls.is_empty() => out.push(json!({"role": "assistant", "content": text})),
        Role::Assistant => {
            let content = if text.is_empty() { Value::Null } else { json!(text) };
            out.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
        }
    }
    Ok(())
}

fn wire_tool(tool: &Tool) -> Result<Value, LlmError> {
    match tool {
        Tool::Custom { name, description, input_schema, .. } => {
            let mut function = json!({"name": name, "parameters": input_schema});
            if let Some(description) = description {
                function["description"] = json!(description);
            }
            Ok(json!({"type": "function", "function": function}))
        }
        Tool::Builtin { kind, name, .. } => Err(LlmError::Request(format!(
            "the tool `{name}` is Anthropic's built-in type `{kind}`, which an OpenAI-compatible endpoint does not take; \
             only JSON-schema tools can be sent"
        ))),
    }
}

/// Ids for tool calls a server sent without one, unique in the process.
static CALL_IDS: AtomicU64 = AtomicU64::new(1);

/// One tool call being assembled.
#[derive(Debug, Default)]
struct CallParts {
    id: String,
    name: String,
    arguments: String,
    announced: bool,
}

/// Builds one assistant turn from a Chat Completions stream (or a whole completion).
#[derive(Debug)]
pub struct ChunkAssembler {
    id: Option<String>,
    model: String,
    text: String,
    calls: Vec<CallParts>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
    request_id: Option<String>,
}

impl ChunkAssembler {
    /// An assembler for a response to a request for `model` with this request id.
    pub fn new(model: &str, request_id: Option<String>) -> Self {
        Self {
            id: None,
            model: model.to_string(),
            text: String::new(),
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
            done: false,
            request_id,
        }
    }

    /// Whether `[DONE]` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Applies one server-sent event (`data: {chunk}` or `data: [DONE]`), forwarding text,
    /// reasoning and tool call starts as they arrive.
    pub fn apply(
        &mut self,
        event: &SseEvent,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| self.malformed(format!("a stream chunk is not JSON ({e}): {}", snippet(data))))?;
        self.apply_chunk(&chunk, "delta", on_event)
    }

    /// Applies a whole (non-streamed) completion; the response is then complete.
    pub fn apply_completion(
        &mut self,
        completion: &Value,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        self.apply_chunk(completion, "message", on_event)?;
        self.done = true;
        Ok(())
    }

    /// A chunk (or completion): its id, usage, an `error`, and the first choice's `part`
    /// (`delta` or `message`) and finish reason.
    fn apply_chunk(
        &mut self,
        chunk: &Value,
        part: &str,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        let Some(fields) = chunk.as_object() else {
            return Err(self.malformed(format!("a chunk that is not a JSON object: {}", snippet(&chunk.to_string()))));
        };
        if let Some(error) = fields.get("error").filter(|e| !e.is_null()) {
            let (kind, message, _) = openai_error(error).unwrap_or_else(|| ("error".into(), error.to_string(), None));
            return Err(LlmError::Api(ApiError {
                status: None,
                kind,
                message,
                request_id: self.request_id.clone(),
                retry_after: None,
                should_retry: None,
                provider: Provider::OpenAi,
            }));
        }
        if let (None, Some(Value::String(id))) = (&self.id, fields.get("id")) {
            self.id = Some(id.clone());
        }
        if let Some(usage) = fields.get("usage").filter(|u| !u.is_null()) {
            let usage: WireUsage = serde_json::from_value(usage.clone())
                .map_err(|e| self.malformed(format!("`usage` ({e}): {}", snippet(&usage.to_string()))))?;
            self.usage = Some(usage.into());
        }
        let choices = match fields.get("choices") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(choices)) => choices,
            Some(other) => {
                return Err(self.malformed(format!("`choices` is not a list: {}", snippet(&other.to_string()))));
            }
        };
        // mmm asks for one choice; a server that sends more has the first one read.
        let Some(choice) = choices.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0) else {
            return Ok(());
        };
        if let Some(delta) = choice.get(part).filter(|d| !d.is_null()) {
            self.apply_delta(delta, on_event)?;
        }
        if let Some(Value::String(reason)) = choice.get("finish_reason") {
            self.finish_reason = Some(reason.clone());
        }
        Ok(())
    }

    fn apply_delta(
        &mut self,
        delta: &Value,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        if let Some(Value::String(text)) = delta.get("content")
            && !text.is_empty()
        {
            on_event(StreamUpdate::Text(text));
            self.text.push_str(text);
        }
        // Reasoning servers (vLLM, Ollama, DeepSeek) stream their thinking apart; it is shown
        // live but not kept: the API takes no thinking back.
        for key in ["reasoning_content", "reasoning"] {
            if let Some(Value::String(thinking)) = delta.get(key)
                && !thinking.is_empty()
            {
                on_event(StreamUpdate::Thinking(thinking));
            }
        }
        let calls = match delta.get("tool_calls") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(calls)) => calls,
            Some(other) => {
                return Err(self.malformed(format!("`tool_calls` is not a list: {}", snippet(&other.to_string()))));
            }
        };
        for (position, call) in calls.iter().enumerate() {
            let index = self.call_index(call, position)?;
            if self.calls.len() <= index {
                self.calls.resize_with(index + 1, CallParts::default);
            }
            let parts = &mut self.calls[index];
            if let Some(Value::String(id)) = call.get("id")
                && parts.id.is_empty()
            {
                parts.id = id.clone();
            }
            let function = call.get("function").unwrap_or(&Value::Null);
            if let Some(Value::String(name)) = function.get("name")
                && *name != parts.name
            {
                // Sent whole by most servers (and again by some); in pieces by a few.
                parts.name.push_str(name);
            }
            match function.get("arguments") {
                Some(Value::String(piece)) => parts.arguments.push_str(piece),
                // A few servers send the arguments as an object, whole.
                Some(object @ Value::Object(_)) => parts.arguments = object.to_string(),
                _ => {}
            }
            if !parts.announced && !parts.name.is_empty() {
                parts.announced = true;
                on_event(StreamUpdate::ToolUse { id: &parts.id, name: &parts.name });
            }
        }
        Ok(())
    }

    /// Which call a `tool_calls` piece continues: its `index`; without one (a whole
    /// completion, a lax server) a piece with a new id starts a call and one without an id
    /// continues the last.
    fn call_index(&self, call: &Value, position: usize) -> Result<usize, LlmError> {
        match call.get("index") {
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|i| *i < 128)
                .ok_or_else(|| self.malformed(format!("tool call index {n} is out of range"))),
            Some(Value::Null) | None => {
                let id = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty());
                Ok(match (id, self.calls.last()) {
                    (Some(id), Some(last)) if last.id == id => self.calls.len() - 1,
                    (Some(_), _) => self.calls.len().max(position),
                    (None, _) => self.calls.len().saturating_sub(1),
                })
            }
            Some(other) => Err(self.malformed(format!("tool call index `{other}` is not a number"))),
        }
    }

    /// The finished turn. A stream that ended with neither `[DONE]` nor a finish reason is
    /// [`LlmError::Incomplete`]; a tool call without a name is malformed. Arguments that are
    /// not JSON are kept as the text the model wrote (a string input), for the tool to
    /// refuse and the model to correct.
    pub fn finish(self) -> Result<MessagesResponse, LlmError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(LlmError::Incomplete { request_id: self.request_id });
        }
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(ContentBlock::text(self.text.clone()));
        }
        for (index, call) in self.calls.iter().enumerate() {
            if call.name.is_empty() {
                return Err(self.malformed(format!("tool call {index} has no function name")));
            }
            let input = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments).unwrap_or_else(|_| Value::String(call.arguments.clone()))
            };
            let id = if call.id.is_empty() {
                format!("call_mmm_{}", CALL_IDS.fetch_add(1, Ordering::Relaxed))
            } else {
                call.id.clone()
            };
            content.push(ContentBlock::ToolUse(ToolUseBlock {
                id,
                name: call.name.clone(),
                input,
                cache_control: None,
                extra: Map::new(),
            }));
        }
        let stop_reason = match self.finish_reason.as_deref() {
            Some("length") => StopReason::MaxTokens,
            Some("content_filter") => StopReason::Refusal,
            // Some servers say `stop` after tool calls: the calls decide.
            _ if !self.calls.is_empty() => StopReason::ToolUse,
            Some("stop") | None => StopReason::EndTurn,
            Some("tool_calls" | "function_call") => StopReason::EndTurn,
            Some(other) => StopReason::Other(other.to_string()),
        };
        let usage = self.usage.unwrap_or_else(|| {
            warn_no_usage();
            Usage::default()
        });
        Ok(MessagesResponse {
            id: self.id.unwrap_or_else(|| "chatcmpl".to_string()),
            role: Role::Assistant,
            model: self.model,
            content,
            stop_reason: Some(stop_reason),
            stop_sequence: None,
            usage,
            request_id: self.request_id,
            extra: Map::new(),
        })
    }

    fn malformed(&self, detail: String) -> LlmError {
        LlmError::Malformed { detail, request_id: self.request_id.clone() }
    }
}

/// The `usage` of a completion.
#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl From<WireUsage> for Usage {
    /// `prompt_tokens` counts cached tokens too; here they are apart, as the Messages API
    /// reports them.
    fn from(u: WireUsage) -> Self {
        let prompt = u.prompt_tokens.unwrap_or(0);
        let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens).unwrap_or(0).min(prompt);
        Usage {
            input_tokens: prompt - cached,
            output_tokens: u.completion_tokens.unwrap_or(0),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: cached,
            cache_creation: Default::default(),
        }
    }
}

/// Once per process: a server that reports no usage cannot have its tokens counted.
fn warn_no_usage() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "the endpoint reported no token usage for a response: its tokens (and cost) are not counted; \
             a server that honours `stream_options.include_usage` reports them"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::sse::SseParser;
    use crate::llm::types::SystemBlock;
    use std::sync::Mutex;

    /// Feeds `body` to a parser and an assembler in pieces cut at `cuts`, returning the
    /// turn and what was forwarded live.
    fn assemble(body: &str, cuts: &[usize]) -> (Result<MessagesResponse, LlmError>, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let on_event = |u: StreamUpdate<'_>| {
            let line = match u {
                StreamUpdate::Text(t) => format!("text {t}"),
                StreamUpdate::Thinking(t) => format!("thinking {t}"),
                StreamUpdate::ToolUse { id, name } => format!("tool {id} {name}"),
                StreamUpdate::Retry { .. } | StreamUpdate::ModelSwitch { .. } => "retry".into(),
            };
            seen.lock().unwrap().push(line);
        };
        let mut parser = SseParser::default();
        let mut assembler = ChunkAssembler::new("m", Some("req_1".into()));
        let mut from = 0;
        let bytes = body.as_bytes();
        let result = (|| {
            for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
                for event in parser.push(&bytes[from..cut]).unwrap() {
                    assembler.apply(&event, &on_event)?;
                }
                from = cut;
            }
            Ok(())
        })();
        let turn = result.and_then(|()| assembler.finish());
        (turn, seen.into_inner().unwrap())
    }

    fn sse(chunks: &[Value]) -> String {
        let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        body.push_str("data: [DONE]\n\n");
        body
    }

    fn chunk(delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// Text, then two interleaved tool calls whose arguments arrive in pieces, then usage.
    fn two_calls() -> String {
        sse(&[
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": "Let me "}), None),
            chunk(json!({"reasoning_content": "hmm"}), None),
            chunk(json!({"content": "look."}), None),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                          "function": {"name": "search", "arguments": ""}}]}),
                None,
            ),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"pat"}}]}), None),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                          "function": {"name": "str_replace_based_edit_tool", "arguments": "{\"command\":"}}]}),
                None,
            ),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "tern\": \"é\"}"}}]}), None),
            chunk(
                json!({"tool_calls": [{"index": 1, "function": {"arguments": " \"view\", \"path\": \"a\"}"}}]}),
                None,
            ),
            chunk(json!({}), Some("tool_calls")),
            json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 120, "completion_tokens": 30,
                   "total_tokens": 150, "prompt_tokens_details": {"cached_tokens": 100}}}),
        ])
    }

    #[test]
    fn a_stream_split_anywhere_builds_text_and_tool_calls_by_index() {
        let body = two_calls();
        let (whole, seen) = assemble(&body, &[]);
        let turn = whole.unwrap();
        assert_eq!(turn.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(turn.text(), "Let me look.");
        let calls: Vec<(String, String, Value)> =
            turn.tool_uses().map(|c| (c.id.clone(), c.name.clone(), c.input.clone())).collect();
        assert_eq!(
            calls,
            [
                ("call_a".into(), "search".into(), json!({"pattern": "é"})),
                ("call_b".into(), "str_replace_based_edit_tool".into(), json!({"command": "view", "path": "a"})),
            ]
        );
        assert_eq!(
            turn.usage,
            Usage { input_tokens: 20, output_tokens: 30, cache_read_input_tokens: 100, ..Usage::default() }
        );
        assert_eq!((turn.id.as_str(), turn.request_id.as_deref()), ("chatcmpl-1", Some("req_1")));
        assert_eq!(
            seen,
            [
                "text Let me ",
                "thinking hmm",
                "text look.",
                "tool call_a search",
                "tool call_b str_replace_based_edit_tool"
            ]
        );
        for cut in 1..body.len() {
            if !body.is_char_boundary(cut) {
                continue;
            }
            let (split, _) = assemble(&body, &[cut]);
            assert_eq!(split.unwrap(), turn, "cut at {cut}");
        }
        let every_byte: Vec<usize> = (1..body.len()).collect();
        assert_eq!(assemble(&body, &every_byte).0.unwrap(), turn);
    }

    #[test]
    fn finish_reasons_map_and_tool_calls_decide_over_stop() {
        let ended = |finish: &str, call: bool| {
            let mut chunks = vec![chunk(json!({"content": "x"}), None)];
            if call {
                chunks.push(chunk(
                    json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "search", "arguments": "{}"}}]}),
                    None,
                ));
            }
            chunks.push(chunk(json!({}), Some(finish)));
            assemble(&sse(&chunks), &[]).0.unwrap().stop_reason.unwrap()
        };
        assert_eq!(ended("stop", false), StopReason::EndTurn);
        assert_eq!(ended("stop", true), StopReason::ToolUse, "Ollama says stop after tool calls");
        assert_eq!(ended("length", true), StopReason::MaxTokens);
        assert_eq!(ended("content_filter", false), StopReason::Refusal);
        assert_eq!(ended("eos", false), StopReason::Other("eos".into()));
    }

    #[test]
    fn broken_streams_are_malformed_incomplete_or_api_errors() {
        let err = |body: &str| assemble(body, &[]).0.unwrap_err();
        let e = err("data: {\"choices\": [\n\n");
        assert!(
            matches!(&e, LlmError::Malformed { detail, .. } if detail.starts_with("a stream chunk is not JSON")),
            "{e}"
        );
        let e = err(&format!("data: {}\n\n", json!({"choices": {"delta": {}}})));
        assert_eq!(
            e.to_string(),
            "malformed response from the API: `choices` is not a list: {\"delta\":{}} (request-id req_1)"
        );
        let e = err(&sse(&[chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
            Some("tool_calls"),
        )]));
        assert_eq!(
            e.to_string(),
            "malformed response from the API: tool call 0 has no function name (request-id req_1)"
        );
        let e = err(&sse(&[chunk(json!({"tool_calls": [{"index": -1}]}), None)]));
        assert!(e.to_string().contains("tool call index -1 is out of range"), "{e}");
        // Cut before any finish reason or [DONE]: worth another attempt.
        let e = err(&format!("data: {}\n\n", chunk(json!({"content": "par"}), None)));
        assert!(matches!(e, LlmError::Incomplete { .. }) && e.is_retryable(), "{e}");
        // An error chunk mid-stream, as vLLM and OpenAI send them.
        let e = err(&format!(
            "data: {}\n\ndata: {}\n\n",
            chunk(json!({"content": "a"}), None),
            json!({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded_error"}})
        ));
        assert_eq!(
            e.to_string(),
            "OpenAI-compatible API error overloaded_error in the response stream: overloaded (request-id req_1)"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn arguments_that_are_not_json_reach_the_tool_as_written_and_go_back_unchanged() {
        let body = sse(&[chunk(
            json!({"tool_calls": [{"index": 0, "function": {"name": "search", "arguments": "{pattern: x"}}]}),
            Some("tool_calls"),
        )]);
        let turn = assemble(&body, &[]).0.unwrap();
        let call = turn.tool_uses().next().unwrap().clone();
        assert_eq!(call.input, json!("{pattern: x"));
        assert!(call.id.starts_with("call_mmm_"), "{}", call.id);
        let mut request = MessagesRequest::new("m", 10);
        request.messages = vec![Message::user_text("go"), turn.to_message()];
        let wire = chat_request(&request, "max_tokens").unwrap();
        assert_eq!(wire["messages"][1]["tool_calls"][0]["function"]["arguments"], "{pattern: x");
    }

    #[test]
    fn a_whole_completion_reads_like_a_stream() {
        let completion = json!({"id": "chatcmpl-9", "object": "chat.completion", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"pattern\":\"a\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": {"pattern": "b"}}}]},
            "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}});
        let mut assembler = ChunkAssembler::new("m", None);
        assembler.apply_completion(&completion, &|_| {}).unwrap();
        let turn = assembler.finish().unwrap();
        let inputs: Vec<Value> = turn.tool_uses().map(|c| c.input.clone()).collect();
        assert_eq!(inputs, [json!({"pattern": "a"}), json!({"pattern": "b"})]);
        assert_eq!(turn.usage, Usage { input_tokens: 7, output_tokens: 3, ..Usage::default() });
        assert_eq!(turn.stop_reason, Some(StopReason::ToolUse));
    }

    #[test]
    fn the_request_maps_system_tools_results_and_choice_and_nothing_anthropic() {
        let mut request = MessagesRequest::new("gpt-x", 500);
        request.system = vec![SystemBlock::text("rules"), SystemBlock::text(""), SystemBlock::text("map")];
        request.tools = vec![Tool::custom("search", "find", json!({"type": "object"}))];
        request.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: Some(true) });
        request.temperature = Some(0.5);
        request.top_k = Some(3);
        request.thinking = Some(crate::llm::types::Thinking::Adaptive { display: None });
        request.extra.insert("metadata".into(), json!({"user_id": "u"}));
        let thinking: ContentBlock =
            serde_json::from_value(json!({"type": "thinking", "thinking": "t", "signature": "s"})).unwrap();
        let call = ContentBlock::ToolUse(ToolUseBlock {
            id: "call_1".into(),
            name: "search".into(),
            input: json!({"pattern": "x"}),
            cache_control: Some(crate::llm::types::CacheControl::ephemeral()),
            extra: Map::new(),
        });
        request.messages = vec![
            Message::user_text("improve"),
            Message { role: Role::Assistant, content: vec![thinking, call] },
            Message::user(vec![ContentBlock::tool_result("call_1", "no match", true), ContentBlock::text("go on")]),
        ];
        crate::llm::cache::place_breakpoints(&mut request, &crate::llm::cache::CachePlan::growing(0));
        let wire = chat_request(&request, "max_tokens").unwrap();
        assert_eq!(
            wire,
            json!({
                "model": "gpt-x",
                "max_tokens": 500,
                "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [
                    {"role": "system", "content": "rules\n\nmap"},
                    {"role": "user", "content": "improve"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"pattern\":\"x\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "no match"},
                    {"role": "user", "content": "go on"}
                ],
                "tools": [{"type": "function", "function": {"name": "search", "description": "find",
                           "parameters": {"type": "object"}}}],
                "tool_choice": "auto",
                "parallel_tool_calls": false,
                "temperature": 0.5
            })
        );
        assert_eq!(chat_request(&request, "max_completion_tokens").unwrap()["max_completion_tokens"], 500);

        request.tools.push(Tool::text_editor());
        let err = chat_request(&request, "max_tokens").unwrap_err();
        assert!(err.to_string().contains("Anthropic's built-in type `text_editor_20250728`"), "{err}");
    }

    fn config(env: &[(&str, &str)]) -> anyhow::Result<OpenAiConfig> {
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("MMM_PROVIDER".into(), "openai".into()));
        let inputs = crate::settings::Inputs { cwd: dir.path().to_path_buf(), env, ..Default::default() };
        OpenAiConfig::from_settings(&Settings::load(&inputs)?)
    }

    fn usage_error(result: anyhow::Result<OpenAiConfig>) -> (String, Option<String>) {
        let err = result.unwrap_err();
        let cli = err.downcast_ref::<CliError>().expect("a usage error");
        assert_eq!(cli.exit(), crate::error::Exit::Usage);
        (cli.to_string(), cli.hint().map(str::to_string))
    }

    #[test]
    fn settings_give_openais_address_unless_one_is_set_and_the_key_from_the_named_variable() {
        let c = config(&[("OPENAI_API_KEY", "sk-1"), ("MMM_MODEL", "gpt-x"), ("ANTHROPIC_BASE_URL", "http://a:1")]);
        let c = c.unwrap();
        assert_eq!((c.base_url.as_str(), c.api_key.as_str(), c.model.as_str()), (DEFAULT_BASE_URL, "sk-1", "gpt-x"));
        assert!(!format!("{c:?}").contains("sk-1"), "the key is hidden: {c:?}");
        let c = config(&[
            ("OPENAI_API_KEY", "sk-1"),
            ("MY_KEY", "sk-2"),
            ("MMM_API_KEY_ENV", "MY_KEY"),
            ("MMM_MODEL", "gpt-x"),
            ("MMM_BASE_URL", "http://localhost:11434/v1/"),
        ]);
        let c = c.unwrap();
        assert_eq!((c.base_url.as_str(), c.api_key.as_str()), ("http://localhost:11434/v1/", "sk-2"));
        let (message, _) =
            usage_error(config(&[("OPENAI_API_KEY", "sk-1"), ("MMM_API_KEY_ENV", "MY_KEY"), ("MMM_MODEL", "m")]));
        assert_eq!(
            message, "no API key for provider = \"openai\": MY_KEY is not set",
            "OPENAI_API_KEY is not read then"
        );
        for env in
            [&[("OPENAI_API_KEY", "sk-1")][..], &[("OPENAI_API_KEY", "sk-1"), ("ANTHROPIC_MODEL", "claude-opus-5")]]
        {
            assert_eq!(
                usage_error(config(env)),
                (
                    "provider = \"openai\" needs a model: `model` is not set".to_string(),
                    Some(
                        "set `model` in .mmm/config.toml to the id the server serves (`mmm models` lists them)".into()
                    )
                )
            );
        }
    }

    #[test]
    fn openais_own_api_gets_max_completion_tokens_every_other_server_max_tokens() {
        let client = |url: &str| {
            let c = config(&[("OPENAI_API_KEY", "k"), ("MMM_MODEL", "m")]).unwrap();
            OpenAiClient::new(OpenAiConfig { base_url: url.into(), ..c })
        };
        assert_eq!(client("https://api.openai.com/v1").unwrap().max_tokens_field, "max_completion_tokens");
        assert_eq!(client("http://localhost:8000/v1").unwrap().max_tokens_field, "max_tokens");
        assert_eq!(
            client("localhost:8000").unwrap_err().to_string(),
            "base_url `localhost:8000` is not an http(s) URL"
        );
    }

    #[test]
    fn openai_error_bodies_read_their_code_type_and_message() {
        let read = |body: Value| Provider::OpenAi.read_error(body.to_string().as_bytes());
        assert_eq!(
            read(json!({"error": {"message": "nope", "type": "invalid_request_error", "code": "model_not_found"}})),
            Some(("model_not_found".into(), "nope".into(), None))
        );
        assert_eq!(
            read(json!({"error": {"message": "slow down", "type": "requests", "code": null}})),
            Some(("requests".into(), "slow down".into(), None))
        );
        assert_eq!(
            read(json!({"error": "model 'x' not found"})),
            Some(("error".into(), "model 'x' not found".into(), None))
        );
        assert_eq!(read(json!({"detail": "Not Found"})), None);
    }
}
