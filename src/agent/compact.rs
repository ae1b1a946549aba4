//! Half the context: tool results the model no longer needs leave the editing conversation.
//!
//! An editing conversation re-sends every earlier tool result on every turn. [`Context`]
//! remembers what each result was (a view of which lines of which file, a write, a search)
//! and does two things with it:
//! - [`Context::answer`]: a view whose text is exactly what an earlier, still visible view
//!   of the same lines showed is answered "unchanged since your last view (turn N)";
//! - [`Context::compact`], at a turn boundary: results superseded since (a view of lines
//!   viewed again or of a file edited since; a search from [`SEARCH_KEEP_TURNS`] turns ago)
//!   are replaced by a stub saying what was there and how to get it again.
//!
//! Compaction changes earlier messages, so the cached prefix after the first stub must be
//! written again. It therefore happens in batches, only when the superseded text is both at
//! least [`MIN_BATCH_TOKENS`] and a third of what would be rewritten; between batches the
//! conversation only grows and every turn reads the turn before from cache. After a batch,
//! [`CachePlan::reread`] marks the last unchanged user message so its cache entry is read.
//! This module never changes a result the model has not read yet or that nothing has
//! superseded, an error result,
//! an assistant message (thinking blocks must go back unchanged), or the stable prefix.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use crate::llm::cache::{CachePlan, estimate_tokens};
use crate::llm::{ContentBlock, MessagesRequest, Role, ToolResultContent};
use crate::tools::{EDITOR_TOOL_NAME, SEARCH_TOOL_NAME, ToolReply};

/// A search result is stubbed once this many turns have passed since it was made.
pub const SEARCH_KEEP_TURNS: u32 = 3;
/// The least superseded text (estimated tokens) worth rewriting the cache for.
pub const MIN_BATCH_TOKENS: usize = 2_048;

/// What one tool call did, as far as compaction cares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Lines `first..=last` of `path`, shown in full; `hash` of the text shown.
    View {
        path: String,
        first: usize,
        last: usize,
        hash: u64,
    },
    /// A successful write to `path`.
    Write {
        path: String,
    },
    Search {
        pattern: String,
        hits: u64,
    },
    /// Anything else (an error, an outline, "unchanged", a listing, `submit_change`).
    Other,
}

#[derive(Debug, Clone)]
struct Call {
    id: String,
    /// The request (1-based) whose response made the call.
    turn: u32,
    kind: Kind,
    stubbed: bool,
}

/// What the conversation's tool results were, for answering and compacting.
#[derive(Debug, Clone, Default)]
pub struct Context {
    calls: Vec<Call>,
}

impl Context {
    /// The text the model gets for `reply` to call `id` of `name` with `input`, made in
    /// `turn`: the reply's own, or, for a view showing exactly what an earlier visible view
    /// of the same lines showed, a pointer to that view. Records the call.
    pub fn answer(&mut self, turn: u32, id: &str, name: &str, input: &Value, reply: &ToolReply) -> String {
        let mut kind = kind_of(name, input, reply);
        let mut content = reply.content.clone();
        if let Kind::View { path, first, last, hash } = &kind {
            // The latest visible view of the same lines, if nothing has superseded it (a
            // superseded one is about to become a stub, so it cannot be pointed at).
            let same = (0..self.calls.len()).rev().find(|&j| {
                let c = &self.calls[j];
                !c.stubbed
                    && matches!(&c.kind, Kind::View { path: p, first: f, last: l, .. } if p == path && f == first && l == last)
            });
            if let Some(j) = same
                && self.superseded(j, turn).is_none()
                && let Call { turn: seen, kind: Kind::View { hash: h, .. }, .. } = &self.calls[j]
                && h == hash
            {
                content = format!(
                    "Lines {first}-{last} of `{path}` are unchanged since your last view (turn {seen}); that result \
                     is still above in this conversation."
                );
                kind = Kind::Other;
            }
        }
        self.calls.push(Call { id: id.to_string(), turn, kind, stubbed: false });
        content
    }

    /// Replaces the results superseded by `turn` (the request about to be sent, 1-based)
    /// with stubs, when that is worth a rewrite of the cache (see the module docs); sets
    /// `plan.reread` to the last user message left as it was. Returns how many results
    /// were stubbed.
    pub fn compact(&mut self, request: &mut MessagesRequest, plan: &mut CachePlan, turn: u32) -> usize {
        // Only results the model has read: those of the latest response go out for the
        // first time now.
        let superseded: Vec<usize> = (0..self.calls.len())
            .filter(|&i| {
                let call = &self.calls[i];
                !call.stubbed && call.turn + 1 < turn && self.superseded(i, turn).is_some()
            })
            .collect();
        if superseded.is_empty() {
            return 0;
        }
        let located: Vec<(usize, usize, usize, usize)> = superseded
            .iter()
            .filter_map(|&i| {
                let (m, b) = locate(request, &self.calls[i].id)?;
                Some((i, m, b, estimate_tokens(&request.messages[m].content[b])))
            })
            .collect();
        let Some(first) = located.iter().map(|&(_, m, _, _)| m).min() else { return 0 };
        let saved: usize = located.iter().map(|&(.., t)| t).sum();
        let rewritten: usize = request.messages[first..].iter().map(|m| estimate_tokens(&m.content)).sum();
        if saved < MIN_BATCH_TOKENS || saved * 3 < rewritten {
            return 0;
        }
        for &(i, m, b, _) in &located {
            let stub = self.stub(i, turn);
            if let ContentBlock::ToolResult(result) = &mut request.messages[m].content[b] {
                result.content = Some(ToolResultContent::Text(stub));
            }
            self.calls[i].stubbed = true;
        }
        plan.reread = (0..first).rev().find(|&m| request.messages[m].role == Role::User);
        located.len()
    }

    /// The turn that superseded call `i`, if one did by `turn`.
    fn superseded(&self, i: usize, turn: u32) -> Option<u32> {
        let call = &self.calls[i];
        match &call.kind {
            Kind::View { path, first, last, .. } => self.calls[i + 1..].iter().find_map(|later| match &later.kind {
                Kind::Write { path: p } if p == path => Some(later.turn),
                Kind::View { path: p, first: f, last: l, .. } if p == path && f <= first && l >= last => {
                    Some(later.turn)
                }
                _ => None,
            }),
            Kind::Search { .. } if turn >= call.turn + SEARCH_KEEP_TURNS => Some(turn),
            _ => None,
        }
    }

    fn stub(&self, i: usize, turn: u32) -> String {
        let call = &self.calls[i];
        let since = self.superseded(i, turn).unwrap_or(turn);
        match &call.kind {
            Kind::View { path, first, last, .. } => format!(
                "[Removed by mmm to save context: this result showed lines {first}-{last} of `{path}` (turn {}); the \
                 file was edited or viewed again at turn {since}. View it again if you need it.]",
                call.turn
            ),
            Kind::Search { pattern, hits } => format!(
                "[Removed by mmm to save context: this result listed {hits} matching line(s) for `{pattern}` (turn {}). \
                 Search again if you need them.]",
                call.turn
            ),
            _ => unreachable!("only views and searches are superseded"),
        }
    }
}

/// What a call was, from its name, input and reply.
fn kind_of(name: &str, input: &Value, reply: &ToolReply) -> Kind {
    if reply.is_error {
        return Kind::Other;
    }
    match name {
        EDITOR_TOOL_NAME => match (reply.viewed, &reply.changed, &reply.path) {
            (Some((first, last)), _, Some(path)) => {
                let mut hasher = DefaultHasher::new();
                reply.content.hash(&mut hasher);
                Kind::View { path: path.clone(), first, last, hash: hasher.finish() }
            }
            (_, Some(_), Some(path)) => Kind::Write { path: path.clone() },
            _ => Kind::Other,
        },
        SEARCH_TOOL_NAME => Kind::Search {
            pattern: input.get("pattern").and_then(Value::as_str).unwrap_or_default().to_string(),
            hits: reply.hits.map_or(0, |h| h.count),
        },
        _ => Kind::Other,
    }
}

/// The message and block of the result of call `id`.
fn locate(request: &MessagesRequest, id: &str) -> Option<(usize, usize)> {
    request.messages.iter().enumerate().rev().filter(|(_, m)| m.role == Role::User).find_map(|(m, message)| {
        message
            .content
            .iter()
            .position(|b| matches!(b, ContentBlock::ToolResult(r) if r.tool_use_id == id))
            .map(|b| (m, b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message, MessagesRequest};
    use crate::tools::Hits;
    use serde_json::json;

    fn view(path: &str, first: usize, last: usize, text: &str) -> ToolReply {
        ToolReply { viewed: Some((first, last)), ..ToolReply::ok(text).with_path(path) }
    }

    fn write(path: &str) -> ToolReply {
        ToolReply { changed: Some(path.into()), ..ToolReply::ok("The file has been edited.").with_path(path) }
    }

    fn search(count: u64) -> ToolReply {
        ToolReply { hits: Some(Hits { count, capped: false }), ..ToolReply::ok("a.rs:1: x").with_path(".") }
    }

    /// A conversation: a stable first message, then one turn per `(id, name, reply)`.
    struct Run {
        request: MessagesRequest,
        context: Context,
        turn: u32,
    }

    impl Run {
        fn new() -> Self {
            let mut request = MessagesRequest::new("claude-sonnet-5", 100);
            request.messages.push(Message::user_text("project and issues"));
            Self { request, context: Context::default(), turn: 0 }
        }

        /// One turn calling `name` with `input`; returns what the model read.
        fn call(&mut self, id: &str, name: &str, input: Value, reply: ToolReply) -> String {
            self.turn += 1;
            let tool_use = json!({"type": "tool_use", "id": id, "name": name, "input": input});
            let block: ContentBlock = serde_json::from_value(tool_use).unwrap();
            self.request.messages.push(Message { role: Role::Assistant, content: vec![block] });
            let text = self.context.answer(self.turn, id, name, &input, &reply);
            self.request.messages.push(Message::user(vec![ContentBlock::tool_result(id, text.clone(), false)]));
            text
        }

        fn result(&self, id: &str) -> String {
            let (m, b) = locate(&self.request, id).unwrap();
            match &self.request.messages[m].content[b] {
                ContentBlock::ToolResult(r) => match &r.content {
                    Some(ToolResultContent::Text(t)) => t.clone(),
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        }
    }

    fn big(n: usize) -> String {
        (1..=n).map(|i| format!("{i}: line number {i} of a long file\n")).collect()
    }

    #[test]
    fn a_repeated_view_of_unchanged_lines_points_at_the_earlier_one() {
        let mut run = Run::new();
        let input = json!({"command": "view", "path": "a.rs"});
        assert_eq!(
            run.call("t1", EDITOR_TOOL_NAME, input.clone(), view("a.rs", 1, 3, "1: a\n2: b\n3: c")),
            "1: a\n2: b\n3: c"
        );
        assert_eq!(
            run.call("t2", EDITOR_TOOL_NAME, input.clone(), view("a.rs", 1, 3, "1: a\n2: b\n3: c")),
            "Lines 1-3 of `a.rs` are unchanged since your last view (turn 1); that result is still above in this \
             conversation."
        );
        // Changed text is shown in full.
        assert_eq!(
            run.call("t3", EDITOR_TOOL_NAME, input.clone(), view("a.rs", 1, 3, "1: a\n2: B\n3: c")),
            "1: a\n2: B\n3: c"
        );
        // After an edit the earlier view is about to become a stub: the same text is shown again.
        run.call("t4", EDITOR_TOOL_NAME, json!({"command": "insert", "path": "a.rs"}), write("a.rs"));
        assert_eq!(run.call("t5", EDITOR_TOOL_NAME, input, view("a.rs", 1, 3, "1: a\n2: B\n3: c")), "1: a\n2: B\n3: c");
    }

    #[test]
    fn superseded_views_and_old_searches_are_stubbed_in_one_batch_and_the_rest_is_kept() {
        let mut run = Run::new();
        let whole = json!({"command": "view", "path": "a.rs"});
        run.call("t1", EDITOR_TOOL_NAME, whole.clone(), view("a.rs", 1, 400, &big(400)));
        run.call("t2", SEARCH_TOOL_NAME, json!({"pattern": "fn main"}), search(2));
        run.call("t3", EDITOR_TOOL_NAME, json!({"command": "view", "path": "b.rs"}), view("b.rs", 1, 300, &big(300)));
        let mut plan = CachePlan::growing(1);
        // Nothing is superseded yet (the search is only 1 turn old at turn 4).
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 4), 0);
        run.call("t4", EDITOR_TOOL_NAME, json!({"command": "str_replace", "path": "a.rs"}), write("a.rs"));
        let before = run.request.clone();
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 5), 2, "the view of a.rs and the search");
        assert_eq!(
            run.result("t1"),
            "[Removed by mmm to save context: this result showed lines 1-400 of `a.rs` (turn 1); the file was edited \
             or viewed again at turn 4. View it again if you need it.]"
        );
        assert_eq!(
            run.result("t2"),
            "[Removed by mmm to save context: this result listed 2 matching line(s) for `fn main` (turn 2). Search \
             again if you need them.]"
        );
        assert_eq!(run.result("t3"), big(300), "b.rs was not viewed again or edited");
        // Everything before the first stub is byte-identical, and nothing after it but the stubs changed.
        assert_eq!(run.request.messages[..2], before.messages[..2]);
        assert!(run.request.messages[3] == before.messages[3] && run.request.messages[5..] == before.messages[5..]);
        assert_eq!(plan.reread, Some(0), "the first stub is in the first result: the first message is unchanged");
        // Stubbed once: nothing more to do.
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 6), 0);
    }

    #[test]
    fn a_result_is_never_stubbed_before_the_model_has_read_it() {
        let mut run = Run::new();
        // One turn views 400 lines and edits the same file: the view goes out whole once.
        run.turn += 1;
        let calls = json!([
            {"type": "tool_use", "id": "t1", "name": EDITOR_TOOL_NAME, "input": {"command": "view", "path": "a.rs"}},
            {"type": "tool_use", "id": "t2", "name": EDITOR_TOOL_NAME, "input": {"command": "insert", "path": "a.rs"}}
        ]);
        let content: Vec<ContentBlock> = serde_json::from_value(calls).unwrap();
        run.request.messages.push(Message { role: Role::Assistant, content });
        let shown = run.context.answer(1, "t1", EDITOR_TOOL_NAME, &json!({}), &view("a.rs", 1, 400, &big(400)));
        let wrote = run.context.answer(1, "t2", EDITOR_TOOL_NAME, &json!({}), &write("a.rs"));
        run.request.messages.push(Message::user(vec![
            ContentBlock::tool_result("t1", shown, false),
            ContentBlock::tool_result("t2", wrote, false),
        ]));
        let mut plan = CachePlan::growing(1);
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 2), 0);
        assert_eq!(run.result("t1"), big(400));
        // Once read, the superseded view goes at the next boundary.
        run.call("t3", EDITOR_TOOL_NAME, json!({"command": "view", "path": "b.rs"}), view("b.rs", 1, 2, "1: a\n2: b"));
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 3), 1);
    }

    #[test]
    fn a_small_or_recent_saving_waits_for_a_batch_and_the_unchanged_prefix_is_reread() {
        let mut run = Run::new();
        let range = |p: &str, a: i64, b: i64| json!({"command": "view", "path": p, "view_range": [a, b]});
        run.call("t1", EDITOR_TOOL_NAME, range("a.rs", 1, 300), view("a.rs", 1, 300, &big(300)));
        run.call("t2", EDITOR_TOOL_NAME, range("b.rs", 1, 10), view("b.rs", 1, 10, &big(10)));
        run.call("t3", EDITOR_TOOL_NAME, range("b.rs", 1, 20), view("b.rs", 1, 20, &big(20)));
        let mut plan = CachePlan::growing(1);
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 4), 0, "10 lines are not worth a cache rewrite");
        run.call("t4", EDITOR_TOOL_NAME, range("b.rs", 1, 400), view("b.rs", 1, 400, &big(400)));
        run.call(
            "t5",
            EDITOR_TOOL_NAME,
            range("b.rs", 1, 400),
            view("b.rs", 1, 400, &big(400).replace("long", "wide")),
        );
        assert_eq!(run.context.compact(&mut run.request, &mut plan, 6), 3, "b.rs 1-10, 1-20 and the first 1-400");
        assert_eq!(run.result("t1"), big(300), "a range of another file is kept");
        assert_eq!(plan.reread, Some(2), "the message holding t1's result is unchanged and read from cache");
    }
}
