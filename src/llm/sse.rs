//! Server-sent events, and building a message from the Messages API's event stream.
//!
//! [`SseParser`] turns byte chunks, split anywhere, into events (lines end in `\n` or
//! `\r\n`; `data:` lines join with `\n`; `:` comments are skipped). [`MessageAssembler`]
//! applies the API's events to a [`MessagesResponse`]: text, thinking and signatures are
//! appended as they arrive, tool input is collected from its `partial_json` pieces and
//! parsed when its block stops, `message_delta` usage replaces (it is cumulative), `ping`
//! and event types it does not know are ignored, and `error` becomes an [`ApiError`].
//! It never retries or sleeps: that is the client's business.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::StreamUpdate;
use super::error::{ApiError, ErrorEnvelope, LlmError};
use super::types::{CacheCreation, ContentBlock, MessagesResponse, StopReason, Usage};

/// One dispatched event: its `event:` name (`message` when absent) and its data lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// An incremental SSE parser.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being received.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds a chunk and returns the events it completed. Bytes that are not UTF-8 are an
    /// error: the API only sends JSON.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, std::str::Utf8Error> {
        self.buf.extend_from_slice(chunk);
        let buf = std::mem::take(&mut self.buf);
        let mut events = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(pos) = buf[from..].iter().position(|&b| b == b'\n') {
            let end = from + pos;
            let line = buf[start..end].strip_suffix(b"\r").unwrap_or(&buf[start..end]);
            if let Err(e) = std::str::from_utf8(line).map(|line| self.line(line, &mut events)) {
                self.buf = buf[end + 1..].to_vec();
                self.scanned = 0;
                return Err(e);
            }
            start = end + 1;
            from = start;
        }
        self.buf = buf;
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        Ok(events)
    }

    fn line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() { "message".to_string() } else { std::mem::take(&mut self.event) };
                events.push(SseEvent { event, data: std::mem::take(&mut self.data) });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // `id`, `retry` and unknown fields mean nothing to this API.
        }
    }
}

/// The API's stream events, by their `type`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: MessagesResponse,
    },
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: Map<String, Value>,
        #[serde(default)]
        usage: Option<UsageUpdate>,
    },
    MessageStop,
    Error(ErrorEnvelope),
}

/// The event names [`StreamEvent`] reads; `ping` and anything else are skipped.
const HANDLED: &[&str] = &[
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
];

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
    #[serde(rename = "signature_delta")]
    Signature { signature: String },
    #[serde(rename = "citations_delta")]
    Citations { citation: Value },
    #[serde(other)]
    Other,
}

/// `message_delta` usage: each count present replaces the one so far.
#[derive(Deserialize)]
struct UsageUpdate {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation: Option<CacheCreation>,
}

impl UsageUpdate {
    fn apply(self, usage: &mut Usage) {
        let set = |slot: &mut u64, v: Option<u64>| *slot = v.unwrap_or(*slot);
        set(&mut usage.input_tokens, self.input_tokens);
        set(&mut usage.output_tokens, self.output_tokens);
        set(&mut usage.cache_creation_input_tokens, self.cache_creation_input_tokens);
        set(&mut usage.cache_read_input_tokens, self.cache_read_input_tokens);
        usage.cache_creation = self.cache_creation.unwrap_or(usage.cache_creation);
    }
}

/// Builds one response from a stream's events.
#[derive(Debug)]
pub struct MessageAssembler {
    message: Option<MessagesResponse>,
    /// The `partial_json` pieces of each block, by index (empty for non-tool blocks).
    partial_json: Vec<String>,
    done: bool,
    request_id: Option<String>,
}

impl MessageAssembler {
    /// An assembler for the response with this `request-id`.
    pub fn new(request_id: Option<String>) -> Self {
        Self { message: None, partial_json: Vec::new(), done: false, request_id }
    }

    /// Whether `message_stop` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Applies one event, forwarding text and thinking as they arrive.
    pub fn apply(
        &mut self,
        event: &SseEvent,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        let name = if event.event == "message" { event_type(&event.data) } else { Some(event.event.as_str()) };
        if !name.is_some_and(|n| HANDLED.contains(&n)) {
            tracing::trace!(event = %event.event, "skipping stream event");
            return Ok(());
        }
        let parsed: StreamEvent = serde_json::from_str(&event.data)
            .map_err(|e| self.malformed(format!("`{}` event: {e}: {}", event.event, snippet(&event.data))))?;
        match parsed {
            StreamEvent::MessageStart { message } => self.message = Some(message),
            StreamEvent::ContentBlockStart { index, content_block } => {
                let message = self.message_mut("content_block_start")?;
                if index != message.content.len() {
                    let detail = format!("content_block_start for block {index}, expected {}", message.content.len());
                    return Err(self.malformed(detail));
                }
                if let ContentBlock::ToolUse(tool) = &content_block {
                    on_event(StreamUpdate::ToolUse { id: &tool.id, name: &tool.name });
                }
                message.content.push(content_block);
                self.partial_json.push(String::new());
            }
            StreamEvent::ContentBlockDelta { index, delta } => self.apply_delta(index, delta, on_event)?,
            StreamEvent::ContentBlockStop { index } => {
                let json = self.partial_json.get_mut(index).map(std::mem::take).unwrap_or_default();
                let block = self.block_mut(index, "content_block_stop")?;
                if let ContentBlock::ToolUse(tool) = block
                    && !json.trim().is_empty()
                {
                    match serde_json::from_str(&json) {
                        Ok(input) => tool.input = input,
                        Err(e) => {
                            let detail = format!("tool input of block {index} is not JSON ({e}): {}", snippet(&json));
                            return Err(self.malformed(detail));
                        }
                    }
                }
            }
            StreamEvent::MessageDelta { mut delta, usage } => {
                let message = self.message_mut("message_delta")?;
                if let Some(Value::String(reason)) = delta.remove("stop_reason") {
                    message.stop_reason = Some(StopReason::from(reason.as_str()));
                }
                if let Some(sequence) = delta.remove("stop_sequence") {
                    message.stop_sequence = sequence.as_str().map(str::to_string);
                }
                message.extra.extend(delta);
                if let Some(usage) = usage {
                    usage.apply(&mut message.usage);
                }
            }
            StreamEvent::MessageStop => {
                self.message_mut("message_stop")?;
                self.done = true;
            }
            StreamEvent::Error(envelope) => {
                return Err(LlmError::Api(ApiError {
                    status: None,
                    kind: envelope.error.kind,
                    message: envelope.error.message,
                    request_id: envelope.request_id.or_else(|| self.request_id.clone()),
                    retry_after: None,
                    should_retry: None,
                    provider: super::error::Provider::Anthropic,
                }));
            }
        }
        Ok(())
    }

    fn apply_delta(
        &mut self,
        index: usize,
        delta: Delta,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<(), LlmError> {
        if let Delta::InputJson { partial_json } = &delta {
            self.block_mut(index, "input_json_delta")?;
            self.partial_json[index].push_str(partial_json);
            return Ok(());
        }
        let block = self.block_mut(index, "content_block_delta")?;
        let mismatch = match (block, delta) {
            (ContentBlock::Text(b), Delta::Text { text }) => {
                on_event(StreamUpdate::Text(&text));
                b.text.push_str(&text);
                None
            }
            (ContentBlock::Text(b), Delta::Citations { citation }) => {
                let list = b.extra.entry("citations").or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    items.push(citation);
                }
                None
            }
            (ContentBlock::Thinking(b), Delta::Thinking { thinking }) => {
                on_event(StreamUpdate::Thinking(&thinking));
                b.thinking.push_str(&thinking);
                None
            }
            (ContentBlock::Thinking(b), Delta::Signature { signature }) => {
                b.signature.push_str(&signature);
                None
            }
            (_, Delta::Other) | (ContentBlock::Unknown(_), _) => None,
            (b, _) => Some(format!("a delta that does not fit the `{}` block {index}", b.kind())),
        };
        match mismatch {
            Some(detail) => Err(self.malformed(detail)),
            None => Ok(()),
        }
    }

    /// The finished response, or an error if `message_stop` never came.
    pub fn finish(self) -> Result<MessagesResponse, LlmError> {
        match self.message {
            Some(mut message) if self.done => {
                message.request_id = self.request_id;
                Ok(message)
            }
            _ => Err(LlmError::Incomplete { request_id: self.request_id }),
        }
    }

    fn message_mut(&mut self, event: &str) -> Result<&mut MessagesResponse, LlmError> {
        if self.message.is_none() {
            return Err(self.malformed(format!("`{event}` before `message_start`")));
        }
        Ok(self.message.as_mut().expect("checked above"))
    }

    fn block_mut(&mut self, index: usize, event: &str) -> Result<&mut ContentBlock, LlmError> {
        let len = self.message_mut(event)?.content.len();
        if index >= len {
            return Err(self.malformed(format!("`{event}` for block {index}, which has not started")));
        }
        Ok(&mut self.message.as_mut().expect("checked above").content[index])
    }

    fn malformed(&self, detail: String) -> LlmError {
        LlmError::Malformed { detail, request_id: self.request_id.clone() }
    }
}

/// The `type` field of an event's data, for streams that send no `event:` lines.
fn event_type(data: &str) -> Option<&str> {
    #[derive(Deserialize)]
    struct Typed<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    serde_json::from_str::<Typed<'_>>(data).ok().map(|t| t.kind)
}

/// The start of a long text, for error messages.
pub(crate) fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        chunks.iter().flat_map(|c| p.push(c).unwrap()).collect()
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let text = b"event: ping\ndata: {}\n\n: a comment\r\nevent: a\r\ndata: line1\r\ndata:line2\r\nid: 7\r\n\r\ndata: x\n\n";
        let expected = vec![ev("ping", "{}"), ev("a", "line1\nline2"), ev("message", "x")];
        assert_eq!(parse_all(&[text]), expected);
        for cut in 0..text.len() {
            assert_eq!(parse_all(&[&text[..cut], &text[cut..]]), expected, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_all(&bytes), expected);
    }

    #[test]
    fn an_event_without_data_or_an_unfinished_event_is_not_dispatched() {
        assert_eq!(parse_all(&[b"event: lonely\n\nevent: a\ndata: half"]), vec![]);
        // A multi-byte character split between chunks is whole once its line is.
        assert_eq!(
            parse_all(&["data: é".as_bytes()[..7].as_ref(), &"data: é\n\n".as_bytes()[7..]]),
            vec![ev("message", "é")]
        );
        assert!(SseParser::default().push(b"data: \xff\n\n").is_err());
    }

    fn assemble(events: &[(&str, Value)]) -> (Result<MessagesResponse, LlmError>, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let on_event = |u: StreamUpdate<'_>| {
            let text = match u {
                StreamUpdate::Text(t) => format!("text:{t}"),
                StreamUpdate::Thinking(t) => format!("thinking:{t}"),
                StreamUpdate::ToolUse { name, .. } => format!("tool:{name}"),
                StreamUpdate::Retry { .. } | StreamUpdate::ModelSwitch { .. } => "retry".into(),
            };
            seen.lock().unwrap().push(text);
        };
        let mut asm = MessageAssembler::new(Some("req_1".into()));
        let mut result = Ok(());
        for (name, data) in events {
            result = asm.apply(&ev(name, &data.to_string()), &on_event);
            if result.is_err() {
                break;
            }
        }
        let response = result.and_then(|()| asm.finish());
        (response, seen.into_inner().unwrap())
    }

    fn start() -> (&'static str, Value) {
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "m", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 5}}}),
        )
    }

    fn delta(index: usize, delta: Value) -> (&'static str, Value) {
        ("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}))
    }

    #[test]
    fn a_stream_builds_text_thinking_and_tool_input() {
        let (r, seen) = assemble(&[
            start(),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            ),
            delta(0, json!({"type": "thinking_delta", "thinking": "Hmm, "})),
            delta(0, json!({"type": "thinking_delta", "thinking": "ok."})),
            delta(0, json!({"type": "signature_delta", "signature": "sig=="})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "text", "text": ""}}),
            ),
            delta(1, json!({"type": "text_delta", "text": "Hel"})),
            delta(1, json!({"type": "text_delta", "text": "lo"})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
            ),
            delta(2, json!({"type": "input_json_delta", "partial_json": ""})),
            delta(2, json!({"type": "input_json_delta", "partial_json": "{\"location\":"})),
            delta(2, json!({"type": "input_json_delta", "partial_json": " \"San"})),
            delta(2, json!({"type": "input_json_delta", "partial_json": " Francisco\"}"})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 2})),
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null, "stop_details": null},
                "usage": {"output_tokens": 89}}),
            ),
            ("brand_new_event", json!({"type": "brand_new_event", "x": 1})),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        let r = r.unwrap();
        assert_eq!(
            serde_json::to_value(&r.content).unwrap(),
            json!([{"type": "thinking", "thinking": "Hmm, ok.", "signature": "sig=="},
                   {"type": "text", "text": "Hello"},
                   {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "San Francisco"}}])
        );
        assert_eq!(r.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(
            r.usage,
            Usage { input_tokens: 10, output_tokens: 89, cache_read_input_tokens: 5, ..Usage::default() }
        );
        assert_eq!(r.request_id.as_deref(), Some("req_1"));
        assert_eq!(seen, ["thinking:Hmm, ", "thinking:ok.", "text:Hel", "text:lo", "tool:get_weather"]);
    }

    #[test]
    fn unknown_blocks_and_deltas_are_kept_and_skipped() {
        let (r, _) = assemble(&[
            start(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}}}),
            ),
            delta(0, json!({"type": "future_delta", "x": 1})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            (
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": "new_reason"}, "usage": {"output_tokens": 3}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        let r = r.unwrap();
        assert_eq!(r.content[0].kind(), "server_tool_use");
        assert_eq!(r.stop_reason, Some(StopReason::Other("new_reason".into())));
    }

    #[test]
    fn an_error_event_is_an_api_error() {
        let (r, _) = assemble(&[
            start(),
            ("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        ]);
        let err = r.unwrap_err();
        assert!(
            matches!(&err, LlmError::Api(e) if e.status.is_none() && e.kind == "overloaded_error" && e.message == "Overloaded")
        );
        assert_eq!(err.request_id(), Some("req_1"));
    }

    #[test]
    fn a_stream_without_message_stop_is_incomplete() {
        let (r, _) = assemble(&[start()]);
        assert!(matches!(r.unwrap_err(), LlmError::Incomplete { request_id: Some(_) }));
    }

    #[test]
    fn broken_events_are_malformed() {
        let (r, _) = assemble(&[start(), ("message_delta", json!("not an object"))]);
        assert!(matches!(r.unwrap_err(), LlmError::Malformed { .. }));
        let (r, _) = assemble(&[("content_block_stop", json!({"type": "content_block_stop", "index": 0}))]);
        assert!(r.unwrap_err().to_string().contains("`content_block_stop` before `message_start`"));
        let (r, _) = assemble(&[
            start(),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "n", "input": {}}}),
            ),
            delta(0, json!({"type": "input_json_delta", "partial_json": "{\"a\": "})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ]);
        assert!(r.unwrap_err().to_string().contains("tool input of block 0 is not JSON"));
    }
}
