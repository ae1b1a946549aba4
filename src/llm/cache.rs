//! Prompt-cache breakpoints, laid out cache-first.
//!
//! The API caches the prefix `tools → system → messages` up to each block marked with
//! `cache_control`, at most four marks per request, and only when that prefix is at least
//! the model's minimum ([`min_cacheable_tokens`]); a shorter prefix is silently not cached.
//! Requests are built so that everything stable for the session (tools, system prompt,
//! project summary, repo map, spec) comes first and the first user message's leading
//! [`CachePlan::stable_blocks`] hold the stable part; per-iteration text follows.
//!
//! [`place_breakpoints`] puts marks only where they create an entry a later request reads:
//! - the end of the stable prefix (read by every later request of the session that starts
//!   the same way: the next iteration's review reads what this one wrote);
//! - in a growing conversation, the last block of the latest user message (written now,
//!   read next turn) and of the user message before it (read now, even when the turn in
//!   between added more than the API's 20-block lookback);
//! - once, after the conversation was compacted ([`CachePlan::reread`]), the end of the last
//!   user message before the first changed block, so the unchanged part is still read.
//!
//! A mark whose prefix is under the minimum is left out (it would only take a slot). It
//! never marks thinking blocks, empty text or blocks it does not know, which the API
//! refuses. Token counts are estimated from characters, as the analyzer estimates them.

pub mod sim;

use super::types::{CacheControl, MessagesRequest, Role};

/// The most breakpoints one request may carry.
pub const MAX_BREAKPOINTS: usize = 4;

/// How a conversation's requests use the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePlan {
    /// How many leading blocks of the first user message are the same for the whole
    /// session (0: only the tools and the system prompt are).
    pub stable_blocks: usize,
    /// The conversation grows turn by turn (an editing conversation): its latest turns are
    /// marked to be read by the next. A one-call request (a review) marks only the stable
    /// prefix: nothing after it is ever sent again.
    pub grows: bool,
    /// For the next request only: a message whose last block is marked because a later
    /// message was compacted (the cache entry written there is still good).
    pub reread: Option<usize>,
}

impl CachePlan {
    /// A conversation that grows turn by turn, after `stable_blocks` stable blocks.
    pub fn growing(stable_blocks: usize) -> Self {
        Self { stable_blocks, grows: true, reread: None }
    }

    /// A request answered in one call, after `stable_blocks` stable blocks.
    pub fn one_call(stable_blocks: usize) -> Self {
        Self { stable_blocks, grows: false, reread: None }
    }
}

impl Default for CachePlan {
    fn default() -> Self {
        Self::growing(0)
    }
}

/// The smallest prefix, in tokens, the model caches (the API's late-2026 list; an unknown
/// model is taken to be 1,024, the most common value: a mark under its real minimum is
/// only a wasted slot, never an error).
pub fn min_cacheable_tokens(model: &str) -> usize {
    const TABLE: &[(&str, usize)] = &[
        ("claude-opus-4-8", 1024),
        ("claude-opus-4-7", 2048),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-opus-4-1", 1024),
        ("claude-opus-4", 1024),
        ("claude-opus-5", 512),
        ("claude-fable-5", 512),
        ("claude-mythos-5", 512),
        ("claude-mythos-preview", 2048),
        ("claude-sonnet-5", 1024),
        ("claude-sonnet-4", 1024),
        ("claude-haiku-4-5", 4096),
        ("claude-3-5-haiku", 2048),
        ("claude-haiku-3-5", 2048),
    ];
    TABLE.iter().find(|(prefix, _)| model.starts_with(prefix)).map_or(1024, |(_, min)| *min)
}

/// Estimated tokens of one JSON value as sent (its serialization, at
/// [`crate::analyzer::CHARS_PER_TOKEN`] characters a token).
pub fn estimate_tokens<T: serde::Serialize>(value: &T) -> usize {
    serde_json::to_string(value).map_or(0, |s| s.len()) / crate::analyzer::CHARS_PER_TOKEN
}

/// Where a mark can go: a tool, a system block, or block `block` of message `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Tool(usize),
    System(usize),
    Block { message: usize, block: usize },
}

/// Clears every breakpoint in `request` (and top-level automatic caching, which would
/// take a fifth slot) and places at most [`MAX_BREAKPOINTS`] new ones following `plan`.
/// Call it before each send; it is idempotent.
pub fn place_breakpoints(request: &mut MessagesRequest, plan: &CachePlan) {
    clear_breakpoints(request);
    let min = min_cacheable_tokens(&request.model);
    // Estimated tokens of the prefix up to and including each markable slot.
    let mut prefix = 0usize;
    let mut ends: Vec<(Slot, usize)> = Vec::new();
    for (i, tool) in request.tools.iter().enumerate() {
        prefix += estimate_tokens(tool);
        ends.push((Slot::Tool(i), prefix));
    }
    for (i, block) in request.system.iter().enumerate() {
        prefix += estimate_tokens(block);
        if !block.text.is_empty() {
            ends.push((Slot::System(i), prefix));
        }
    }
    for (m, message) in request.messages.iter_mut().enumerate() {
        for (b, block) in message.content.iter_mut().enumerate() {
            prefix += estimate_tokens(block);
            if block.cache_control_mut().is_some() {
                ends.push((Slot::Block { message: m, block: b }, prefix));
            }
        }
    }
    let cacheable = |slot: Slot| ends.iter().any(|(s, tokens)| *s == slot && *tokens >= min);
    let last_in = |message: usize| {
        ends.iter().rev().find_map(|(s, _)| match s {
            Slot::Block { message: m, .. } if *m == message => Some(*s),
            _ => None,
        })
    };

    let mut chosen: Vec<Slot> = Vec::new();
    // The end of the stable prefix: the last stable block of the first message, else the
    // end of the system prompt, else the last tool.
    let stable = match plan.stable_blocks {
        0 => ends.iter().rev().find(|(s, _)| !matches!(s, Slot::Block { .. })).map(|(s, _)| *s),
        n => ends
            .iter()
            .rev()
            .find(|(s, _)| matches!(s, Slot::Block { message: 0, block } if *block < n))
            .map(|(s, _)| *s),
    };
    chosen.extend(stable);
    if plan.grows {
        let users: Vec<usize> =
            (0..request.messages.len()).rev().filter(|&m| request.messages[m].role == Role::User).collect();
        for &m in users.iter().take(2) {
            chosen.extend(last_in(m));
        }
        if let Some(m) = plan.reread {
            chosen.extend(last_in(m));
        }
    }
    chosen.retain(|s| cacheable(*s));
    chosen.sort();
    chosen.dedup();
    // Four candidates at most (the stable prefix, two user turns, a reread); should there
    // ever be more, the stable prefix and the latest marks win.
    while chosen.len() > MAX_BREAKPOINTS {
        chosen.remove(1);
    }
    for slot in chosen {
        let mark = match slot {
            Slot::Tool(i) => request.tools[i].cache_control_mut(),
            Slot::System(i) => &mut request.system[i].cache_control,
            Slot::Block { message, block } => match request.messages[message].content[block].cache_control_mut() {
                Some(mark) => mark,
                None => continue,
            },
        };
        *mark = Some(CacheControl::ephemeral());
    }
}

/// Whether any block of `request` carries a breakpoint.
pub fn has_breakpoints(request: &MessagesRequest) -> bool {
    request.tools.iter().any(|t| match t {
        super::types::Tool::Custom { cache_control, .. } | super::types::Tool::Builtin { cache_control, .. } => {
            cache_control.is_some()
        }
    }) || request.system.iter().any(|b| b.cache_control.is_some())
        || request.messages.iter().flat_map(|m| &m.content).any(|b| match b {
            super::types::ContentBlock::Text(t) => t.cache_control.is_some(),
            super::types::ContentBlock::ToolUse(t) => t.cache_control.is_some(),
            super::types::ContentBlock::ToolResult(t) => t.cache_control.is_some(),
            _ => false,
        })
}

/// Removes every breakpoint (and top-level automatic caching) from `request`.
fn clear_breakpoints(request: &mut MessagesRequest) {
    request.extra.remove("cache_control");
    for tool in &mut request.tools {
        *tool.cache_control_mut() = None;
    }
    for block in &mut request.system {
        block.cache_control = None;
    }
    for message in &mut request.messages {
        for slot in message.content.iter_mut().filter_map(|b| b.cache_control_mut()) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::types::{ContentBlock, Message, SystemBlock, Tool};
    use serde_json::{Value, json};

    fn thinking() -> ContentBlock {
        serde_json::from_value(json!({"type": "thinking", "thinking": "t", "signature": "s"})).unwrap()
    }

    fn marked_paths(v: &Value, path: String, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if k == "cache_control" {
                        out.push(path.clone());
                    } else {
                        marked_paths(child, format!("{path}/{k}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    marked_paths(child, format!("{path}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn marks(req: &MessagesRequest) -> Vec<String> {
        let mut out = Vec::new();
        marked_paths(&serde_json::to_value(req).unwrap(), String::new(), &mut out);
        out.sort();
        out
    }

    /// Text of about `tokens` estimated tokens.
    fn text(tokens: usize) -> String {
        "x".repeat(tokens * crate::analyzer::CHARS_PER_TOKEN)
    }

    fn editing_request() -> MessagesRequest {
        let mut req = MessagesRequest::new("claude-sonnet-5", 100);
        req.tools = vec![Tool::text_editor(), Tool::custom("search", "s", json!({"type": "object"}))];
        req.system = vec![SystemBlock::text("rules"), SystemBlock::text("")];
        req.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
        req.messages = vec![
            Message::user(vec![ContentBlock::text(text(3000)), ContentBlock::text("fix issue 1")]),
            Message { role: Role::Assistant, content: vec![thinking(), ContentBlock::text("ok")] },
            Message::user(vec![ContentBlock::tool_result("t1", "file text", false)]),
            Message { role: Role::Assistant, content: vec![thinking()] },
            Message::user(vec![ContentBlock::tool_result("t2", "done", false), ContentBlock::text("")]),
        ];
        req
    }

    #[test]
    fn a_growing_conversation_marks_the_stable_prefix_and_the_last_two_user_turns() {
        let mut req = editing_request();
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req), ["/messages/0/content/0", "/messages/2/content/0", "/messages/4/content/0"]);

        // The next turn moves the message marks forward; the stable mark stays.
        req.messages.push(Message { role: Role::Assistant, content: vec![ContentBlock::text("more")] });
        req.messages.push(Message::user_text("go on"));
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req), ["/messages/0/content/0", "/messages/4/content/0", "/messages/6/content/0"]);
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req).len(), 3, "placing twice changes nothing");

        // A reread after compaction is a fourth mark, never a fifth.
        let plan = CachePlan { reread: Some(2), ..CachePlan::growing(1) };
        place_breakpoints(&mut req, &plan);
        let expected =
            ["/messages/0/content/0", "/messages/2/content/0", "/messages/4/content/0", "/messages/6/content/0"];
        assert_eq!(marks(&req), expected);
        req.messages.push(Message { role: Role::Assistant, content: vec![ContentBlock::text("more")] });
        req.messages.push(Message::user_text("again"));
        place_breakpoints(&mut req, &CachePlan { reread: Some(2), stable_blocks: 1, grows: true });
        let marked = marks(&req);
        assert_eq!(marked.len(), MAX_BREAKPOINTS, "{marked:?}");
        assert_eq!(marked[0], "/messages/0/content/0", "the stable prefix keeps its mark");
    }

    #[test]
    fn nothing_is_marked_below_the_models_minimum() {
        // Tools, system and a short first message: about 40 tokens, under 1,024.
        let mut req = editing_request();
        req.messages[0].content[0] = ContentBlock::text("a small project");
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req), Vec::<String>::new());
        // The growing conversation reaches the minimum: only the marks past it.
        req.messages.push(Message { role: Role::Assistant, content: vec![ContentBlock::text("viewing")] });
        req.messages.push(Message::user(vec![ContentBlock::tool_result("t3", text(1100), false)]));
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req), ["/messages/6/content/0"]);
        // Haiku 4.5 needs 4,096.
        req.model = "claude-haiku-4-5".into();
        place_breakpoints(&mut req, &CachePlan::growing(1));
        assert_eq!(marks(&req), Vec::<String>::new());
        assert_eq!(min_cacheable_tokens("claude-opus-5"), 512);
        assert_eq!(min_cacheable_tokens("claude-opus-4-7"), 2048);
        assert_eq!(min_cacheable_tokens("claude-sonnet-4-5-20250929"), 1024);
        assert_eq!(min_cacheable_tokens("local-llama"), 1024);
    }

    #[test]
    fn a_one_call_request_marks_only_its_stable_prefix() {
        let mut req = MessagesRequest::new("claude-sonnet-5", 100);
        req.tools = vec![Tool::custom("submit_review", "r", json!({"type": "object"}))];
        req.system = vec![SystemBlock::text("review")];
        req.messages = vec![Message::user(vec![ContentBlock::text(text(2000)), ContentBlock::text("focus, checks")])];
        place_breakpoints(&mut req, &CachePlan::one_call(1));
        assert_eq!(marks(&req), ["/messages/0/content/0"]);
        // Without stable message blocks, the stable prefix ends with the system prompt,
        // which is too short here.
        place_breakpoints(&mut req, &CachePlan::one_call(0));
        assert_eq!(marks(&req), Vec::<String>::new());
        req.system = vec![SystemBlock::text(text(1500))];
        place_breakpoints(&mut req, &CachePlan::one_call(0));
        assert_eq!(marks(&req), ["/system/0"]);
    }

    #[test]
    fn a_bare_request_gets_only_what_it_has() {
        let mut req = MessagesRequest::new("m", 100);
        req.messages = vec![Message { role: Role::User, content: vec![thinking()] }];
        place_breakpoints(&mut req, &CachePlan::default());
        assert_eq!(marks(&req), Vec::<String>::new());
        req.messages = vec![Message::user_text(text(1100))];
        place_breakpoints(&mut req, &CachePlan::default());
        assert_eq!(marks(&req), ["/messages/0/content/0"]);
    }
}
