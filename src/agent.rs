//! The tool-use conversation: send, run the tools the model asks for, send the results
//! back, until the model stops asking.
//!
//! [`run_turns`] is the whole loop. It knows nothing of git, checks or sessions: it gets a
//! model, a conversation, something that runs tools and hooks that see every request,
//! response and tool call (for the journal, the transcript, the budget and the screen).
//! A tool that fails is a result the model reads (`is_error`), never an error here, unless
//! the failure is mmm's own ([`ToolReply::fatal`]), which ends the loop
//! ([`Ended::ToolFailed`]); an API failure that survived its retries ends it with an `Err`.
//! Each request is laid out for the prompt cache ([`crate::llm::cache`]) and, in a growing
//! conversation, compacted first ([`compact`]): tool results the model no longer needs
//! become short stubs.

pub mod compact;

use serde_json::Value;

use crate::llm::cache::CachePlan;
use crate::llm::{ContentBlock, LlmError, Message, MessagesRequest, MessagesResponse, Model, Role, StopReason, Usage};
pub use crate::tools::ToolReply;

/// Runs the tools a conversation offers.
pub trait ToolRunner: Send {
    fn run(&mut self, name: &str, input: &Value) -> ToolReply;
    /// The tool definitions again, when they changed since the conversation was given them
    /// (a plugin's tool list changed): the next request offers these.
    fn refreshed_definitions(&mut self) -> Option<Vec<Value>> {
        None
    }
}

/// Sees everything the loop does, and can end it between turns.
pub trait Hooks: Sync {
    /// Before each request (the transcript records it).
    fn on_request(&self, _request: &MessagesRequest) {}
    /// After each response, with its usage already added to the conversation.
    fn on_response(&self, _response: &MessagesResponse) {}
    /// After each tool call.
    fn on_tool(&self, _name: &str, _input: &Value, _reply: &ToolReply) {}
    /// Live text from the model while a response streams.
    fn on_text(&self, _delta: &str) {}
    /// A request failed and will be sent again after `delay`: retry `attempt` of `max`.
    fn on_retry(&self, _attempt: u32, _max: u32, _delay: std::time::Duration, _error: &LlmError) {}
    /// A request gave up with `error` on model `from` and is being sent again on `to`.
    fn on_model_switch(&self, _from: &str, _to: &str, _error: &LlmError) {}
    /// Checked between turns: `true` ends the loop (a budget was spent).
    fn over_budget(&self, _conversation: &Conversation) -> bool {
        false
    }
}

/// Hooks that record nothing (a dry run's review).
pub struct NoHooks;

impl Hooks for NoHooks {}

/// A conversation in progress: the request that grows turn by turn, how it uses the
/// prompt cache, what its tool results were, and what it cost.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub request: MessagesRequest,
    pub usage: Usage,
    pub requests: u32,
    pub cache: CachePlan,
    pub context: compact::Context,
    /// When the latest request was sent (its cache entries live from then on).
    pub last_sent: Option<std::time::Instant>,
}

impl Conversation {
    /// A conversation that grows turn by turn, with nothing stable in its first message.
    pub fn new(request: MessagesRequest) -> Self {
        Self::laid_out(request, CachePlan::default())
    }

    /// A conversation whose requests use the cache as `cache` says.
    pub fn laid_out(request: MessagesRequest, cache: CachePlan) -> Self {
        Self {
            request,
            usage: Usage::default(),
            requests: 0,
            cache,
            context: compact::Context::default(),
            last_sent: None,
        }
    }

    /// Adds user text (a follow-up: check failures, a nudge): to the last message when it
    /// is the user's (after its tool results, as the API requires), else as a new message.
    pub fn push_user_text(&mut self, text: impl Into<String>) {
        match self.request.messages.last_mut() {
            Some(last) if last.role == Role::User => last.content.push(ContentBlock::text(text)),
            _ => self.request.messages.push(Message::user_text(text)),
        }
    }
}

/// Why [`run_turns`] returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The model stopped calling tools; its last text.
    Done { text: String },
    /// The per-call turn limit was reached.
    TurnLimit { turns: u32 },
    /// The model ran out of output tokens without finishing.
    MaxTokens,
    /// The model declined the request.
    Refusal { text: String },
    /// A budget was spent between turns.
    Budget,
    /// A tool failed in a way no answer of the model's can fix (the disk is full).
    ToolFailed { message: String },
}

/// Sends the conversation and runs the requested tools, turn after turn, until the model
/// ends its turn without tool calls, `max_turns` requests have been made, the output is
/// cut off, the model refuses, or `hooks.over_budget` says stop.
///
/// Before each request of a growing conversation, superseded tool results are compacted
/// ([`compact::Context::compact`]); then the prompt-cache breakpoints are placed again
/// ([`crate::llm::cache::place_breakpoints`]), so the stable prefix and the conversation so
/// far are read from cache on every later turn. Every assistant turn is
/// appended exactly as received (thinking blocks included), and all tool results of a turn
/// go back in one user message, in the order the calls were made.
pub async fn run_turns(
    model: &dyn Model,
    conversation: &mut Conversation,
    tools: &mut dyn ToolRunner,
    max_turns: u32,
    hooks: &dyn Hooks,
) -> Result<Ended, LlmError> {
    let mut turns = 0;
    loop {
        if hooks.over_budget(conversation) {
            return Ok(Ended::Budget);
        }
        if turns >= max_turns {
            return Ok(Ended::TurnLimit { turns });
        }
        turns += 1;
        if let Some(definitions) = crate::blocking::call(|| tools.refreshed_definitions()) {
            conversation.request.tools =
                definitions.into_iter().filter_map(|d| serde_json::from_value(d).ok()).collect();
        }
        if conversation.cache.grows {
            let next = conversation.requests + 1;
            conversation.context.compact(&mut conversation.request, &mut conversation.cache, next);
        }
        crate::llm::cache::place_breakpoints(&mut conversation.request, &conversation.cache);
        conversation.cache.reread = None;
        hooks.on_request(&conversation.request);
        let on_update = |update: crate::llm::StreamUpdate<'_>| match update {
            crate::llm::StreamUpdate::Text(delta) => hooks.on_text(delta),
            crate::llm::StreamUpdate::Retry { attempt, max, delay, error } => {
                hooks.on_retry(attempt, max, delay, error)
            }
            crate::llm::StreamUpdate::ModelSwitch { from, to, error } => hooks.on_model_switch(from, to, error),
            _ => {}
        };
        conversation.last_sent = Some(std::time::Instant::now());
        let response = model.send(&conversation.request, &on_update).await?;
        conversation.usage += response.usage;
        conversation.requests += 1;
        hooks.on_response(&response);
        conversation.request.messages.push(response.to_message());

        match response.stop_reason.clone().unwrap_or(StopReason::EndTurn) {
            StopReason::ToolUse => {
                let mut results = Vec::new();
                for call in response.tool_uses() {
                    let reply = crate::blocking::call(|| tools.run(&call.name, &call.input));
                    hooks.on_tool(&call.name, &call.input, &reply);
                    if let Some(message) = reply.fatal {
                        drop_unanswered_tool_uses(conversation);
                        return Ok(Ended::ToolFailed { message });
                    }
                    let turn = conversation.requests;
                    let content = conversation.context.answer(turn, &call.id, &call.name, &call.input, &reply);
                    results.push(ContentBlock::tool_result(&call.id, content, reply.is_error));
                }
                if results.is_empty() {
                    return Ok(Ended::Done { text: response.text() });
                }
                conversation.request.messages.push(Message::user(results));
            }
            // The server paused a long turn: send the conversation back as it is to continue.
            StopReason::PauseTurn => {}
            StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => {
                drop_unanswered_tool_uses(conversation);
                return Ok(Ended::MaxTokens);
            }
            StopReason::Refusal => return Ok(Ended::Refusal { text: response.text() }),
            _ => return Ok(Ended::Done { text: response.text() }),
        }
    }
}

/// A turn cut off by `max_tokens` may end in `tool_use` blocks that will get no result;
/// the API rejects a conversation that continues after them, so they are removed.
fn drop_unanswered_tool_uses(conversation: &mut Conversation) {
    if let Some(last) = conversation.request.messages.last_mut().filter(|m| m.role == Role::Assistant) {
        last.content.retain(|b| !matches!(b, ContentBlock::ToolUse(_)));
        if last.content.is_empty() {
            conversation.request.messages.pop();
        }
    }
}
