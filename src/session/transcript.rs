//! `transcript.jsonl`: every conversation of a session, each message written once.
//!
//! A request repeats the whole conversation so far, so writing requests whole would grow
//! the file with the square of the conversation. Instead the first request of a
//! conversation is written whole (model, system prompt, tools, messages), each later one
//! only with the messages not yet written (`after`: how many came before), and each
//! response with the assistant message it returned, its stop reason and usage. Replaying
//! the lines of a conversation in order rebuilds it as first sent (redacted as sent:
//! requests are redacted before they are built); a tool result later replaced by a stub
//! ([`crate::agent::compact`]) keeps its original text here, since only new messages are
//! written. This module never writes a key: the request's headers are not part of it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::{Message, MessagesRequest, MessagesResponse, Usage};
use crate::state::journal::Journal;

/// One line of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Request {
        conversation: String,
        /// Messages of the conversation written before these.
        after: usize,
        /// The request without its messages, on the conversation's first request only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<Value>,
        messages: Vec<Message>,
    },
    Response {
        conversation: String,
        message: Message,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<String>,
        usage: Usage,
    },
}

/// The transcript writer of a running session.
#[derive(Debug)]
pub struct Transcript {
    journal: Journal,
    /// Messages already written, by conversation.
    written: Mutex<HashMap<String, usize>>,
}

impl Transcript {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self { journal: Journal::open(path)?, written: Mutex::new(HashMap::new()) })
    }

    /// Writes the messages of `request` not written yet.
    pub fn request(&self, conversation: &str, request: &MessagesRequest) -> anyhow::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let seen = written.get(conversation).copied();
        let after = seen.unwrap_or(0).min(request.messages.len());
        let head = match seen {
            Some(_) => None,
            None => {
                let mut value = serde_json::to_value(MessagesRequest { messages: Vec::new(), ..request.clone() })?;
                if let Some(map) = value.as_object_mut() {
                    map.remove("messages");
                }
                Some(value)
            }
        };
        let entry = Entry::Request {
            conversation: conversation.to_string(),
            after,
            request: head,
            messages: request.messages[after..].to_vec(),
        };
        self.journal.append(&entry)?;
        written.insert(conversation.to_string(), request.messages.len());
        Ok(())
    }

    /// Writes a response; its message is the next one of the conversation.
    pub fn response(&self, conversation: &str, response: &MessagesResponse) -> anyhow::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let entry = Entry::Response {
            conversation: conversation.to_string(),
            message: response.to_message(),
            stop_reason: response.stop_reason.as_ref().map(|r| r.as_str().to_string()),
            usage: response.usage,
        };
        self.journal.append(&entry)?;
        *written.entry(conversation.to_string()).or_default() += 1;
        Ok(())
    }
}

/// A conversation rebuilt from a transcript.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    pub label: String,
    pub messages: Vec<Message>,
    pub usage: Usage,
}

/// Rebuilds the conversations of a transcript's lines, in the order they began. Lines that
/// are not entries (an older format) are skipped.
pub fn replay(text: &str) -> Vec<Conversation> {
    let mut conversations: Vec<Conversation> = Vec::new();
    let find = |label: &str, conversations: &mut Vec<Conversation>| -> usize {
        match conversations.iter().position(|c| c.label == label) {
            Some(i) => i,
            None => {
                conversations.push(Conversation {
                    label: label.to_string(),
                    messages: Vec::new(),
                    usage: Usage::default(),
                });
                conversations.len() - 1
            }
        }
    };
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Entry>(line) else { continue };
        match entry {
            Entry::Request { conversation, after, messages, .. } => {
                let i = find(&conversation, &mut conversations);
                let c = &mut conversations[i];
                c.messages.truncate(after);
                c.messages.extend(messages);
            }
            Entry::Response { conversation, message, usage, .. } => {
                let i = find(&conversation, &mut conversations);
                conversations[i].messages.push(message);
                conversations[i].usage += usage;
            }
        }
    }
    conversations
}

impl Conversation {
    /// The iteration a conversation belongs to: `implement-3` → 3.
    pub fn iteration(&self) -> Option<u32> {
        self.label.rsplit_once('-').and_then(|(_, n)| n.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{ContentBlock, StopReason};

    fn response(text: &str) -> MessagesResponse {
        serde_json::from_value(serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}
        }))
        .unwrap()
    }

    #[test]
    fn each_message_is_written_once_and_the_conversation_replays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transcript.jsonl");
        let t = Transcript::open(&path).unwrap();
        let mut request = MessagesRequest::new("m", 100);
        request.messages.push(Message::user_text("first"));
        let mut expected = request.messages.clone();
        for turn in 0..20 {
            t.request("implement-1", &request).unwrap();
            let answer = response(&format!("answer {turn}"));
            t.response("implement-1", &answer).unwrap();
            request.messages.push(answer.to_message());
            request.messages.push(Message::user_text(format!("more {turn}")));
            expected = request.messages.clone();
        }
        expected.pop();
        let text = std::fs::read_to_string(&path).unwrap();
        // Linear: every line holds at most the two newest messages.
        assert!(text.lines().all(|l| l.len() < 400), "{text}");
        assert_eq!(text.lines().count(), 40);
        let replayed = replay(&text);
        assert_eq!(replayed.len(), 1);
        assert_eq!(replayed[0].messages, expected);
        assert_eq!(replayed[0].usage.input_tokens, 200);
        assert_eq!(StopReason::EndTurn.as_str(), "end_turn");
        assert!(matches!(&replayed[0].messages[1].content[0], ContentBlock::Text(_)));
    }
}
