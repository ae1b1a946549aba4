//! The Messages API request and response, as typed values.
//!
//! Everything here serialises to exactly what goes over the wire (so a session can write it
//! to a transcript) and deserialises what the API sends without losing anything: fields
//! mmm does not model land in an `extra` map, content blocks of a type mmm does not know
//! are kept verbatim as [`ContentBlock::Unknown`], and thinking blocks keep their text and
//! signature untouched, because the API rejects an assistant turn whose thinking was
//! altered. Credentials never appear in these types: they travel in headers only.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The `type` of the Anthropic-defined text editor tool this version of mmm speaks.
pub const TEXT_EDITOR_TYPE: &str = "text_editor_20250728";
/// The `name` the API requires for [`TEXT_EDITOR_TYPE`].
pub const TEXT_EDITOR_NAME: &str = "str_replace_based_edit_tool";

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A prompt-cache breakpoint: the prefix up to and including the block carrying it is
/// written to (or read from) the cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CacheControl {
    Ephemeral {
        /// `"5m"` (the API's default when absent) or `"1h"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
    },
}

impl CacheControl {
    /// The default five-minute breakpoint.
    pub fn ephemeral() -> Self {
        CacheControl::Ephemeral { ttl: None }
    }
}

/// A `text` block of the system prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemBlock {
    #[serde(rename = "type")]
    kind: SystemBlockType,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SystemBlockType {
    Text,
}

impl SystemBlock {
    pub fn text(text: impl Into<String>) -> Self {
        Self { kind: SystemBlockType::Text, text: text.into(), cache_control: None }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message of one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self { role: Role::User, content: vec![ContentBlock::text(text)] }
    }

    /// A user message from blocks (tool results first, then any text: the API's rule).
    pub fn user(content: Vec<ContentBlock>) -> Self {
        Self { role: Role::User, content }
    }
}

/// A `text` block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextBlock {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
    /// Fields mmm does not model (`citations`, ...), kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `tool_use` block: the model asks mmm to run a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlock {
    /// `toolu_...`; the matching `tool_result` names it.
    pub id: String,
    pub name: String,
    /// Always a JSON object once the response is complete.
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a tool returned: plain text, or content blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<ContentBlock>),
}

/// A `tool_result` block: mmm's answer to a `tool_use`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ToolResultContent>,
    /// The tool failed; the content says why, for the model to read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `thinking` block. Sent back exactly as received: the signature covers the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkingBlock {
    pub thinking: String,
    pub signature: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `redacted_thinking` block: encrypted thinking, sent back exactly as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedThinkingBlock {
    pub data: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A block of message content, tagged by `type` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text(TextBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    Thinking(ThinkingBlock),
    RedactedThinking(RedactedThinkingBlock),
    /// Any other block (`image`, `server_tool_use`, types added after this version),
    /// kept as the JSON object it arrived as, `type` included.
    #[serde(untagged)]
    Unknown(Value),
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = Map::deserialize(deserializer)?;
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            _ => return Err(D::Error::custom("content block without a string `type`")),
        };
        if !KNOWN_BLOCKS.contains(&kind.as_str()) {
            return Ok(ContentBlock::Unknown(Value::Object(object)));
        }
        object.remove("type");
        let fields = Value::Object(object);
        let bad = |e: serde_json::Error| D::Error::custom(format!("`{kind}` block: {e}"));
        Ok(match kind.as_str() {
            "text" => ContentBlock::Text(serde_json::from_value(fields).map_err(bad)?),
            "tool_use" => ContentBlock::ToolUse(serde_json::from_value(fields).map_err(bad)?),
            "tool_result" => ContentBlock::ToolResult(serde_json::from_value(fields).map_err(bad)?),
            "thinking" => ContentBlock::Thinking(serde_json::from_value(fields).map_err(bad)?),
            _ => ContentBlock::RedactedThinking(serde_json::from_value(fields).map_err(bad)?),
        })
    }
}

/// The block types with a variant of their own in [`ContentBlock`].
const KNOWN_BLOCKS: &[&str] = &["text", "tool_use", "tool_result", "thinking", "redacted_thinking"];

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text(TextBlock { text: text.into(), cache_control: None, extra: Map::new() })
    }

    /// A tool result: `content` is what the model reads, `is_error` marks a failed call.
    pub fn tool_result(tool_use_id: impl Into<String>, content: impl Into<String>, is_error: bool) -> Self {
        ContentBlock::ToolResult(ToolResultBlock {
            tool_use_id: tool_use_id.into(),
            content: Some(ToolResultContent::Text(content.into())),
            is_error,
            cache_control: None,
            extra: Map::new(),
        })
    }

    /// The block's `type` on the wire.
    pub fn kind(&self) -> &str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::ToolUse(_) => "tool_use",
            ContentBlock::ToolResult(_) => "tool_result",
            ContentBlock::Thinking(_) => "thinking",
            ContentBlock::RedactedThinking(_) => "redacted_thinking",
            ContentBlock::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or("unknown"),
        }
    }

    /// The block's cache breakpoint slot, or `None` for a block that may not carry one:
    /// thinking blocks, empty text, and blocks mmm does not know.
    pub fn cache_control_mut(&mut self) -> Option<&mut Option<CacheControl>> {
        match self {
            ContentBlock::Text(b) if !b.text.is_empty() => Some(&mut b.cache_control),
            ContentBlock::ToolUse(b) => Some(&mut b.cache_control),
            ContentBlock::ToolResult(b) => Some(&mut b.cache_control),
            _ => None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Tool {
    /// A tool mmm defines: a name, what it does, and the JSON schema of its input.
    Custom {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        input_schema: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// An Anthropic-defined client tool (the text editor): `type` and `name`, no schema;
    /// mmm still runs every call.
    Builtin {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
        /// Tool options such as `max_characters`.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

impl Tool {
    /// A custom tool.
    pub fn custom(name: impl Into<String>, description: impl Into<String>, input_schema: Value) -> Self {
        Tool::Custom { name: name.into(), description: Some(description.into()), input_schema, cache_control: None }
    }

    /// The text editor tool (`view`, `create`, `str_replace`, `insert`), current version.
    pub fn text_editor() -> Self {
        Tool::Builtin {
            kind: TEXT_EDITOR_TYPE.to_string(),
            name: TEXT_EDITOR_NAME.to_string(),
            cache_control: None,
            extra: Map::new(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Tool::Custom { name, .. } | Tool::Builtin { name, .. } => name,
        }
    }

    pub fn cache_control_mut(&mut self) -> &mut Option<CacheControl> {
        match self {
            Tool::Custom { cache_control, .. } | Tool::Builtin { cache_control, .. } => cache_control,
        }
    }
}

/// How the model must use tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call the named tool.
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool calls.
    None,
}

/// Extended thinking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Thinking {
    /// A fixed budget (older models; rejected by the newest ones).
    Enabled {
        budget_tokens: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    /// The model decides how much to think (4.6 and later).
    Adaptive {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display: Option<String>,
    },
    Disabled,
}

/// A `POST /v1/messages` body, without `stream` (the client adds it).
///
/// Optional fields are left out of the JSON when unset: newer models and API versions
/// reject sampling parameters they no longer support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Any other body field (`output_config`, `metadata`, `service_tier`, ...), sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesRequest {
    /// A request with no system prompt, messages or tools yet.
    pub fn new(model: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            model: model.into(),
            max_tokens,
            system: Vec::new(),
            messages: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            thinking: None,
            temperature: None,
            top_p: None,
            top_k: None,
            stop_sequences: Vec::new(),
            extra: Map::new(),
        }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    /// The model wants tools run; answer with `tool_result` blocks.
    ToolUse,
    /// A long turn was paused: send the response back as it is to continue.
    PauseTurn,
    Refusal,
    ModelContextWindowExceeded,
    /// A reason added after this version of mmm.
    Other(String),
}

impl StopReason {
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ToolUse => "tool_use",
            StopReason::PauseTurn => "pause_turn",
            StopReason::Refusal => "refusal",
            StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
            StopReason::Other(s) => s,
        }
    }
}

impl From<&str> for StopReason {
    fn from(s: &str) -> Self {
        match s {
            "end_turn" => StopReason::EndTurn,
            "max_tokens" => StopReason::MaxTokens,
            "stop_sequence" => StopReason::StopSequence,
            "tool_use" => StopReason::ToolUse,
            "pause_turn" => StopReason::PauseTurn,
            "refusal" => StopReason::Refusal,
            "model_context_window_exceeded" => StopReason::ModelContextWindowExceeded,
            other => StopReason::Other(other.to_string()),
        }
    }
}

impl Serialize for StopReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(StopReason::from(s.as_ref()))
    }
}

/// Tokens a request used. Summing is `+=`; a conversation or session total is one fold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input after the last cache breakpoint (neither written to nor read from the cache).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub input_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub output_tokens: u64,
    /// Input written to the cache (all TTLs).
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cache_creation_input_tokens: u64,
    /// Input read from the cache.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub cache_read_input_tokens: u64,
    /// How the cache writes split between the 5-minute and 1-hour TTLs, when reported.
    #[serde(default, skip_serializing_if = "CacheCreation::is_zero", deserialize_with = "null_as_default")]
    pub cache_creation: CacheCreation,
}

/// The TTL split of [`Usage::cache_creation_input_tokens`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCreation {
    #[serde(default, deserialize_with = "null_as_zero")]
    pub ephemeral_5m_input_tokens: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub ephemeral_1h_input_tokens: u64,
}

impl CacheCreation {
    fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

impl Usage {
    /// Every token counted: input (cached or not) and output.
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_input_tokens += other.cache_creation_input_tokens;
        self.cache_read_input_tokens += other.cache_read_input_tokens;
        self.cache_creation.ephemeral_5m_input_tokens += other.cache_creation.ephemeral_5m_input_tokens;
        self.cache_creation.ephemeral_1h_input_tokens += other.cache_creation.ephemeral_1h_input_tokens;
    }
}

impl std::ops::SubAssign for Usage {
    /// What was used since an earlier reading of a running total (saturating).
    fn sub_assign(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_sub(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_sub(other.output_tokens);
        self.cache_creation_input_tokens =
            self.cache_creation_input_tokens.saturating_sub(other.cache_creation_input_tokens);
        self.cache_read_input_tokens = self.cache_read_input_tokens.saturating_sub(other.cache_read_input_tokens);
        let (mine, theirs) = (&mut self.cache_creation, other.cache_creation);
        mine.ephemeral_5m_input_tokens =
            mine.ephemeral_5m_input_tokens.saturating_sub(theirs.ephemeral_5m_input_tokens);
        mine.ephemeral_1h_input_tokens =
            mine.ephemeral_1h_input_tokens.saturating_sub(theirs.ephemeral_1h_input_tokens);
    }
}

impl std::iter::Sum for Usage {
    fn sum<I: Iterator<Item = Usage>>(iter: I) -> Usage {
        iter.fold(Usage::default(), |mut acc, u| {
            acc += u;
            acc
        })
    }
}

fn null_as_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The model's reply: one assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// `msg_...`.
    pub id: String,
    pub role: Role,
    pub model: String,
    pub content: Vec<ContentBlock>,
    /// Always set on a complete response.
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    #[serde(default)]
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: Usage,
    /// The `request-id` response header (not part of the API's body; kept for transcripts
    /// and error reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Other fields (`type`, `stop_details`, `container`, ...), kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesResponse {
    /// The assistant turn to append to the conversation: every block, unchanged.
    pub fn to_message(&self) -> Message {
        Message { role: Role::Assistant, content: self.content.clone() }
    }

    /// The text blocks joined, in order.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tools the model asked to run, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUseBlock> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: Value) -> Value {
        let block: ContentBlock = serde_json::from_value(v).unwrap();
        serde_json::to_value(&block).unwrap()
    }

    #[test]
    fn every_block_type_survives_a_round_trip() {
        for v in [
            json!({"type": "text", "text": "hi", "citations": [{"cited_text": "x"}]}),
            json!({"type": "tool_use", "id": "toolu_1", "name": "t", "input": {"a": 1}, "caller": {"type": "direct"}}),
            json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "boom", "is_error": true}),
            json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]}),
            json!({"type": "thinking", "thinking": "Let me see\u{2026} \"quoted\"", "signature": "EqQBCkYI+/=="}),
            json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}),
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": "x"}}),
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}),
        ] {
            assert_eq!(round_trip(v.clone()), v);
        }
    }

    #[test]
    fn known_blocks_parse_to_their_variant_and_unknown_ones_keep_their_type() {
        let b: ContentBlock =
            serde_json::from_value(json!({"type": "thinking", "thinking": "t", "signature": "s"})).unwrap();
        assert!(matches!(&b, ContentBlock::Thinking(t) if t.thinking == "t" && t.signature == "s"));
        let b: ContentBlock = serde_json::from_value(json!({"type": "mystery_block", "x": 1})).unwrap();
        assert_eq!(b.kind(), "mystery_block");
        let err = serde_json::from_value::<ContentBlock>(json!({"type": "tool_use", "id": "x"})).unwrap_err();
        assert!(err.to_string().contains("`tool_use` block: missing field `name`"), "{err}");
        assert!(serde_json::from_value::<ContentBlock>(json!({"text": "no type"})).is_err());
    }

    #[test]
    fn a_request_leaves_out_unset_fields() {
        let mut req = MessagesRequest::new("claude-sonnet-5", 1024);
        req.messages.push(Message::user_text("hello"));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"model": "claude-sonnet-5", "max_tokens": 1024,
                   "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]})
        );
        req.system.push(SystemBlock::text("be brief"));
        req.tools = vec![Tool::text_editor(), Tool::custom("search", "Search the code", json!({"type": "object"}))];
        req.tool_choice = Some(ToolChoice::Auto { disable_parallel_tool_use: None });
        req.thinking = Some(Thinking::Adaptive { display: None });
        req.temperature = Some(0.2);
        req.extra.insert("output_config".into(), json!({"effort": "high"}));
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["system"], json!([{"type": "text", "text": "be brief"}]));
        assert_eq!(
            v["tools"],
            json!([{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
                   {"name": "search", "description": "Search the code", "input_schema": {"type": "object"}}])
        );
        assert_eq!(v["tool_choice"], json!({"type": "auto"}));
        assert_eq!(v["thinking"], json!({"type": "adaptive"}));
        assert_eq!((v["temperature"].clone(), v["output_config"].clone()), (json!(0.2), json!({"effort": "high"})));
        let back: MessagesRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn tool_choice_forms() {
        let forms = [
            (
                ToolChoice::Any { disable_parallel_tool_use: Some(true) },
                json!({"type": "any", "disable_parallel_tool_use": true}),
            ),
            (
                ToolChoice::Tool { name: "x".into(), disable_parallel_tool_use: None },
                json!({"type": "tool", "name": "x"}),
            ),
            (ToolChoice::None, json!({"type": "none"})),
        ];
        for (choice, expected) in forms {
            assert_eq!(serde_json::to_value(&choice).unwrap(), expected);
        }
    }

    #[test]
    fn stop_reasons_include_unknown_ones() {
        let r: StopReason = serde_json::from_value(json!("pause_turn")).unwrap();
        assert_eq!(r, StopReason::PauseTurn);
        let r: StopReason = serde_json::from_value(json!("brand_new_reason")).unwrap();
        assert_eq!(r, StopReason::Other("brand_new_reason".into()));
        assert_eq!(serde_json::to_value(&r).unwrap(), json!("brand_new_reason"));
    }

    #[test]
    fn usage_sums_and_reads_nulls_as_zero() {
        let u: Usage = serde_json::from_value(json!({"input_tokens": 10, "output_tokens": 5,
            "cache_creation_input_tokens": null, "cache_read_input_tokens": 100}))
        .unwrap();
        assert_eq!(u.total(), 115);
        let mut sum = u;
        sum += Usage { cache_creation_input_tokens: 7, ..Usage::default() };
        assert_eq!(sum.total(), 122);
        assert_eq!([u, u].into_iter().sum::<Usage>().input_tokens, 20);
        assert_eq!(
            serde_json::to_value(u).unwrap(),
            json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100})
        );
    }

    #[test]
    fn a_response_keeps_unmodelled_fields_and_turns_into_the_assistant_message() {
        let v = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "t1", "name": "n", "input": {}}],
            "stop_reason": "tool_use", "stop_sequence": null, "stop_details": {"x": 1},
            "usage": {"input_tokens": 1, "output_tokens": 2}});
        let r: MessagesResponse = serde_json::from_value(v).unwrap();
        assert_eq!(r.text(), "a");
        assert_eq!(r.tool_uses().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["t1"]);
        assert_eq!(r.to_message().role, Role::Assistant);
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!((back["type"].clone(), back["stop_details"].clone()), (json!("message"), json!({"x": 1})));
    }
}
