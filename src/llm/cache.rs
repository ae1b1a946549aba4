//! Prompt-cache breakpoints for a tool-use conversation.
//!
//! The API caches the prefix `tools → system → messages` up to each block marked with
//! `cache_control`, at most four marks per request. [`place_breakpoints`] puts them where a
//! growing conversation gains most: the last tool, the last system block, the last block
//! of the latest user message (written now, read next turn) and the last block of the
//! user message before it (read now, even when the turn in between added more than the
//! API's 20-block lookback). It never marks thinking blocks, empty text or blocks it does
//! not know, which the API refuses.

use super::types::{CacheControl, MessagesRequest, Role};

/// The most breakpoints one request may carry.
pub const MAX_BREAKPOINTS: usize = 4;

/// User messages, newest first, that get a breakpoint.
const USER_TURNS: usize = 2;

/// Clears every breakpoint in `request` (and top-level automatic caching, which would
/// take a fifth slot) and places at most [`MAX_BREAKPOINTS`] new ones. Call it before each
/// send; it is idempotent.
pub fn place_breakpoints(request: &mut MessagesRequest) {
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

    if let Some(tool) = request.tools.last_mut() {
        *tool.cache_control_mut() = Some(CacheControl::ephemeral());
    }
    if let Some(block) = request.system.iter_mut().rev().find(|b| !b.text.is_empty()) {
        block.cache_control = Some(CacheControl::ephemeral());
    }
    let user_messages = request.messages.iter_mut().rev().filter(|m| m.role == Role::User);
    for message in user_messages.take(USER_TURNS) {
        if let Some(slot) = message.content.iter_mut().rev().find_map(|b| b.cache_control_mut()) {
            *slot = Some(CacheControl::ephemeral());
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

    fn marks(req: &MessagesRequest) -> Vec<String> {
        let mut out = Vec::new();
        marked_paths(&serde_json::to_value(req).unwrap(), String::new(), &mut out);
        out.sort();
        out
    }

    #[test]
    fn breakpoints_go_on_tools_system_and_the_last_two_user_turns() {
        let mut req = MessagesRequest::new("m", 100);
        req.tools = vec![Tool::text_editor(), Tool::custom("search", "s", json!({"type": "object"}))];
        req.system = vec![SystemBlock::text("rules"), SystemBlock::text("repo map"), SystemBlock::text("")];
        req.extra.insert("cache_control".into(), json!({"type": "ephemeral"}));
        req.messages = vec![
            Message::user_text("improve it"),
            Message { role: Role::Assistant, content: vec![thinking(), ContentBlock::text("ok")] },
            Message::user(vec![ContentBlock::tool_result("t1", "file text", false)]),
            Message { role: Role::Assistant, content: vec![thinking()] },
            Message::user(vec![ContentBlock::tool_result("t2", "done", false), ContentBlock::text("")]),
        ];
        place_breakpoints(&mut req);
        let expected = ["/messages/2/content/0", "/messages/4/content/0", "/system/1", "/tools/1"];
        assert_eq!(marks(&req), expected);

        // The next turn moves the message marks forward and never exceeds four.
        req.messages.push(Message { role: Role::Assistant, content: vec![ContentBlock::text("more")] });
        req.messages.push(Message::user_text("go on"));
        place_breakpoints(&mut req);
        assert_eq!(marks(&req), ["/messages/4/content/0", "/messages/6/content/0", "/system/1", "/tools/1"]);
        assert!(marks(&req).len() <= MAX_BREAKPOINTS);
        place_breakpoints(&mut req);
        assert_eq!(marks(&req).len(), 4, "placing twice changes nothing");
    }

    #[test]
    fn a_bare_request_gets_only_what_it_has() {
        let mut req = MessagesRequest::new("m", 100);
        req.messages = vec![Message { role: Role::User, content: vec![thinking()] }];
        place_breakpoints(&mut req);
        assert_eq!(marks(&req), Vec::<String>::new());
        req.messages = vec![Message::user_text("hi")];
        place_breakpoints(&mut req);
        assert_eq!(marks(&req), ["/messages/0/content/0"]);
    }
}
