//! A fake OpenAI-compatible Chat Completions server on loopback: the [`FakeApi`] server
//! (scripted FIFO replies, every request recorded) with a validator that refuses what a
//! real server would (or that only Anthropic's API takes), and replies built from a
//! [`Chat`] as a stream of `data:` chunks ending in `[DONE]`.
//!
//! Point mmm at it with `provider = "openai"` and `base_url = <FakeApi::url>/v1`. The model
//! check (`GET /v1/models/{id}`) is answered by the shared server as a known model.

#![allow(dead_code)]

use serde_json::{Value, json};

use super::fake_api::{FakeApi, Recorded, Reply};

/// The key the tests set in OPENAI_API_KEY; it appears nowhere but the request headers.
pub const OPENAI_TEST_KEY: &str = "sk-proj-test-key-0123456789-wxyz";

/// A validating server with these replies queued.
pub fn server(replies: impl IntoIterator<Item = Reply>) -> FakeApi {
    FakeApi::with(replies).validating(validate)
}

/// The `base_url` for `server`.
pub fn base_url(server: &FakeApi) -> String {
    format!("{}/v1", server.url())
}

/// An OpenAI error body: `{"error":{"message","type","code"}}`.
pub fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, &json!({"error": {"message": message, "type": "server_error", "param": null, "code": code}}))
}

/// One assistant turn, built piece by piece, streamed as Chat Completions chunks.
#[derive(Debug, Clone)]
pub struct Chat {
    text: String,
    calls: Vec<(String, String, Value)>,
    finish: Option<String>,
    usage: Value,
}

impl Default for Chat {
    fn default() -> Self {
        Self::new()
    }
}

impl Chat {
    /// An empty turn that used 10 prompt tokens (none cached) and 5 completion tokens.
    pub fn new() -> Self {
        Self { text: String::new(), calls: Vec::new(), finish: None, usage: usage(10, 5, 0) }
    }

    pub fn text(mut self, text: &str) -> Self {
        self.text.push_str(text);
        self
    }

    /// A tool call; the finish reason becomes `tool_calls` unless set.
    pub fn tool_call(mut self, id: &str, name: &str, input: Value) -> Self {
        self.calls.push((id.into(), name.into(), input));
        self
    }

    pub fn finish(mut self, reason: &str) -> Self {
        self.finish = Some(reason.into());
        self
    }

    pub fn usage(mut self, usage: Value) -> Self {
        self.usage = usage;
        self
    }

    /// The chunks: the role, the text word by word, each call's start then its arguments
    /// in 7-character pieces, the finish reason, the usage (no choices), and `[DONE]`.
    pub fn stream(&self) -> Reply {
        let chunk = |delta: Value, finish: Option<&str>| {
            json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_790_000_000,
                   "model": "gpt-test", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        chunks.extend(self.text.split_inclusive(' ').map(|word| chunk(json!({"content": word}), None)));
        for (index, (id, name, input)) in self.calls.iter().enumerate() {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            let arguments: Vec<char> = input.to_string().chars().collect();
            for piece in arguments.chunks(7) {
                let piece: String = piece.iter().collect();
                chunks.push(chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), None));
            }
        }
        let finish =
            self.finish.clone().unwrap_or_else(|| if self.calls.is_empty() { "stop" } else { "tool_calls" }.into());
        chunks.push(chunk(json!({}), Some(&finish)));
        chunks.push(json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "gpt-test",
                           "choices": [], "usage": self.usage}));
        let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        body.push_str("data: [DONE]\n\n");
        Reply::raw(200, "text/event-stream", body)
    }
}

/// A `usage` object: `cached` of the `prompt` tokens read from the cache.
pub fn usage(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
           "prompt_tokens_details": {"cached_tokens": cached}})
}

/// Fields only Anthropic's Messages API takes: never in a Chat Completions request.
const ANTHROPIC_ONLY: &[&str] =
    &["system", "thinking", "top_k", "stop_sequences", "metadata", "anthropic_version", "cache_control"];

/// What a Chat Completions server requires, and nothing Anthropic's: `POST
/// /v1/chat/completions` with a bearer key and no Anthropic header; `model`, a positive
/// `max_tokens`, `stream` with `stream_options.include_usage`; messages of known roles, a
/// system message only first, a user message before any answer, every assistant
/// `tool_calls` id answered by one `tool` message right after it (and no `tool` message
/// answering anything else); `function` tools with a JSON-schema object as `parameters`;
/// no `cache_control` or other Anthropic-only field anywhere.
pub fn validate(request: &Recorded) -> Result<(), String> {
    if request.method != "POST" {
        return Ok(()); // GET /v1/models: nothing to check but the key
    }
    if request.path() != "/v1/chat/completions" {
        return Err(format!("POST to {}, not /v1/chat/completions", request.path()));
    }
    match request.header("authorization") {
        Some(value) if value.starts_with("Bearer ") && value.len() > 7 => {}
        other => return Err(format!("no bearer key: authorization = {other:?}")),
    }
    for header in ["x-api-key", "anthropic-version", "anthropic-beta"] {
        if request.header(header).is_some() {
            return Err(format!("an Anthropic header was sent: {header}"));
        }
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(fields) = body.as_object() else { return Err("the body is not an object".into()) };
    if let Some(key) = ANTHROPIC_ONLY.iter().find(|k| fields.contains_key(**k)) {
        return Err(format!("an Anthropic-only field: `{key}`"));
    }
    if body.to_string().contains("\"cache_control\"") {
        return Err("`cache_control` inside the request".into());
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("no `model`".into());
    }
    if body["max_tokens"].as_u64().or(body["max_completion_tokens"].as_u64()).is_none_or(|n| n == 0) {
        return Err("no positive `max_tokens`".into());
    }
    if body["stream"] != json!(true) || body["stream_options"]["include_usage"] != json!(true) {
        return Err("not streamed with `stream_options.include_usage`".into());
    }
    validate_messages(body["messages"].as_array().ok_or("no `messages` list")?)?;
    if let Some(tools) = fields.get("tools") {
        for tool in tools.as_array().ok_or("`tools` is not a list")? {
            let function = &tool["function"];
            let valid = tool["type"] == "function"
                && function["name"].as_str().is_some_and(|n| {
                    !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
                })
                && function["parameters"]["type"] == "object"
                && tool.as_object().is_some_and(|t| t.len() == 2);
            if !valid {
                return Err(format!("not a function tool with a JSON schema: {tool}"));
            }
        }
    }
    Ok(())
}

fn validate_messages(messages: &[Value]) -> Result<(), String> {
    if messages.is_empty() {
        return Err("`messages` is empty".into());
    }
    // Tool call ids of the last assistant message still waiting for their `tool` message.
    let mut waiting: Vec<String> = Vec::new();
    let mut seen_user = false;
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or_default();
        if role != "tool" && !waiting.is_empty() {
            return Err(format!("message {i} ({role}) comes before tool calls {waiting:?} were answered"));
        }
        match role {
            "system" if i == 0 => {}
            "system" => return Err(format!("a system message at {i}, not first")),
            "user" => {
                if !message["content"].is_string() || message["content"] == "" {
                    return Err(format!("user message {i} has no text content"));
                }
                seen_user = true;
            }
            "assistant" => {
                if !seen_user {
                    return Err(format!("assistant message {i} before any user message"));
                }
                let calls = message.get("tool_calls").and_then(Value::as_array);
                for call in calls.into_iter().flatten() {
                    let id = call["id"].as_str().filter(|id| !id.is_empty()).ok_or("a tool call without an id")?;
                    let arguments = call["function"]["arguments"].as_str().ok_or("arguments that are not a string")?;
                    if call["type"] != "function" || call["function"]["name"].as_str().is_none() {
                        return Err(format!("a malformed tool call: {call}"));
                    }
                    if serde_json::from_str::<Value>(arguments).is_err() {
                        return Err(format!("tool call {id} has arguments that are not JSON: {arguments}"));
                    }
                    waiting.push(id.to_string());
                }
                if calls.is_none_or(|c| c.is_empty()) && !message["content"].is_string() {
                    return Err(format!("assistant message {i} has neither content nor tool calls"));
                }
            }
            "tool" => {
                let id = message["tool_call_id"].as_str().unwrap_or_default();
                let Some(at) = waiting.iter().position(|w| w == id) else {
                    return Err(format!("tool message {i} answers `{id}`, which no waiting tool call has"));
                };
                waiting.remove(at);
                if !message["content"].is_string() {
                    return Err(format!("tool message {i} has no text content"));
                }
            }
            other => return Err(format!("message {i} has the unknown role `{other}`")),
        }
    }
    if !waiting.is_empty() {
        return Err(format!("tool calls {waiting:?} were never answered"));
    }
    match messages.last().and_then(|m| m["role"].as_str()) {
        Some("user" | "tool") => Ok(()),
        other => Err(format!("the last message is {other:?}, not the user's or a tool result")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(body: Value) -> Recorded {
        Recorded {
            method: "POST".into(),
            target: "/v1/chat/completions".into(),
            headers: vec![("authorization".into(), "Bearer k".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn body(messages: Value) -> Value {
        json!({"model": "m", "max_tokens": 10, "stream": true, "stream_options": {"include_usage": true},
               "messages": messages})
    }

    /// The validator refuses what it must: a test of the test server.
    #[test]
    fn the_validator_catches_broken_requests() {
        let call = json!({"role": "assistant", "content": null,
                          "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
        let ok = body(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, call,
                             {"role": "tool", "tool_call_id": "c1", "content": "r"}]));
        assert_eq!(validate(&recorded(ok.clone())), Ok(()));
        let cases = [
            (body(json!([{"role": "user", "content": "u"}, call])), "tool calls [\"c1\"] were never answered"),
            (
                body(json!([{"role": "user", "content": "u"}, call, {"role": "user", "content": "x"}])),
                "message 2 (user) comes before tool calls [\"c1\"] were answered",
            ),
            (
                body(json!([{"role": "user", "content": "u"}, {"role": "tool", "tool_call_id": "c9", "content": "r"}])),
                "tool message 1 answers `c9`, which no waiting tool call has",
            ),
            (
                body(json!([{"role": "user", "content": "u"}, {"role": "system", "content": "s"}])),
                "a system message at 1, not first",
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(validate(&recorded(request)), Err(expected.to_string()));
        }
        let mut anthropic = ok.clone();
        anthropic["system"] = json!("s");
        assert_eq!(validate(&recorded(anthropic)), Err("an Anthropic-only field: `system`".into()));
        let mut marked = ok.clone();
        marked["messages"][1]["cache_control"] = json!({"type": "ephemeral"});
        assert_eq!(validate(&recorded(marked)), Err("`cache_control` inside the request".into()));
        let mut builtin = ok;
        builtin["tools"] = json!([{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]);
        assert!(validate(&recorded(builtin)).unwrap_err().starts_with("not a function tool"));
    }
}
