//! A model of Anthropic's prompt-cache prefix rules, to measure a layout offline.
//!
//! Fed the request bodies a session sent, in order ([`Simulator::request`]), it says what
//! the API's rules would have read from and written to the cache: an entry is written at a
//! breakpoint whose prefix (`tools → system → messages`, block by block) reaches the model's
//! minimum ([`super::min_cacheable_tokens`]); a later request reads the longest entry whose
//! prefix is byte-identical to its own, found at one of its breakpoints or up to 19 blocks
//! before one (the 20-block lookback). Tokens are estimated from characters as elsewhere in
//! mmm; entries never expire (the requests are taken to come within the 5-minute TTL of each
//! other), and everything but the blocks (`tool_choice`, `thinking`) is assumed unchanged
//! between requests of the same model.
//!
//! The benchmark (`benches/cache_layout.rs`) and the layout tests use it. It is a model, not
//! a measurement: nothing mmm reports about a real session comes from here.

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use crate::llm::Usage;

/// Blocks before a breakpoint the API looks back through for an entry (the breakpoint's
/// own block included).
pub const LOOKBACK_BLOCKS: usize = 20;

/// The cache state over a sequence of requests.
#[derive(Debug, Default)]
pub struct Simulator {
    entries: HashSet<u64>,
    /// What every request so far would have used.
    pub total: Usage,
    pub requests: u32,
}

/// One block of a request's prefix: the hash of the prefix up to and including it, the
/// estimated tokens up to it, and whether it carries a breakpoint.
struct Block {
    prefix: u64,
    tokens: usize,
    marked: bool,
}

impl Simulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the rules to one request body (the JSON sent to `/v1/messages`) and returns
    /// its input usage (`output_tokens` 0); the cache learns what it wrote.
    pub fn request(&mut self, body: &Value) -> Usage {
        let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
        let min = super::min_cacheable_tokens(model);
        let blocks = blocks(body);
        let total = blocks.last().map_or(0, |b| b.tokens);
        let marked: Vec<usize> = (0..blocks.len()).filter(|&i| blocks[i].marked).collect();
        let read = marked
            .iter()
            .filter_map(|&b| {
                (b.saturating_sub(LOOKBACK_BLOCKS - 1)..=b)
                    .rev()
                    .find(|&j| self.entries.contains(&blocks[j].prefix))
                    .map(|j| blocks[j].tokens)
            })
            .max()
            .unwrap_or(0);
        let mut written = read;
        for &b in &marked {
            if blocks[b].tokens >= min {
                self.entries.insert(blocks[b].prefix);
                written = written.max(blocks[b].tokens);
            }
        }
        let usage = Usage {
            input_tokens: (total - written) as u64,
            cache_creation_input_tokens: (written - read) as u64,
            cache_read_input_tokens: read as u64,
            ..Usage::default()
        };
        self.total += usage;
        self.requests += 1;
        usage
    }
}

/// The share of input tokens read from the cache, 0 to 1.
pub fn read_share(usage: &Usage) -> f64 {
    let input = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
    if input == 0 { 0.0 } else { usage.cache_read_input_tokens as f64 / input as f64 }
}

/// What the input costs relative to sending it all uncached: writes (5-minute) at 1.25×,
/// reads at 0.1× the base input price.
pub fn relative_cost(usage: &Usage) -> f64 {
    let input = usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
    if input == 0 {
        return 0.0;
    }
    (usage.input_tokens as f64
        + 1.25 * usage.cache_creation_input_tokens as f64
        + 0.1 * usage.cache_read_input_tokens as f64)
        / input as f64
}

/// The request's blocks in prefix order, each hashed with everything before it.
fn blocks(body: &Value) -> Vec<Block> {
    let mut hasher = DefaultHasher::new();
    body.get("model").and_then(Value::as_str).unwrap_or_default().hash(&mut hasher);
    let mut tokens = 0usize;
    let mut out = Vec::new();
    let mut push = |block: &Value| {
        let mut bare = block.clone();
        let marked = bare.as_object_mut().and_then(|o| o.remove("cache_control")).is_some();
        let text = bare.to_string();
        text.hash(&mut hasher);
        tokens += text.len() / crate::analyzer::CHARS_PER_TOKEN;
        out.push(Block { prefix: hasher.finish(), tokens, marked });
    };
    for tool in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
        push(tool);
    }
    match body.get("system") {
        Some(Value::String(text)) => push(&serde_json::json!({"type": "text", "text": text})),
        Some(Value::Array(blocks)) => blocks.iter().for_each(&mut push),
        _ => {}
    }
    for message in body.get("messages").and_then(Value::as_array).into_iter().flatten() {
        // The role is part of the prefix: it goes into the hash before the message's blocks.
        let role = message.get("role").cloned().unwrap_or(Value::Null);
        match message.get("content") {
            Some(Value::String(text)) => push(&serde_json::json!({"role": role, "type": "text", "text": text})),
            Some(Value::Array(blocks)) => {
                for (i, block) in blocks.iter().enumerate() {
                    if i == 0 {
                        let mut first = block.clone();
                        if let Some(o) = first.as_object_mut() {
                            o.insert("role".into(), role.clone());
                        }
                        push(&first);
                    } else {
                        push(block);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MARK: &str = "cache_control";

    fn text(chars: usize, fill: char, marked: bool) -> Value {
        let mut block = json!({"type": "text", "text": fill.to_string().repeat(chars)});
        if marked {
            block[MARK] = json!({"type": "ephemeral"});
        }
        block
    }

    fn body(blocks: Vec<Value>) -> Value {
        json!({"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": blocks}]})
    }

    #[test]
    fn a_marked_prefix_is_written_once_and_read_by_the_next_identical_one() {
        let mut sim = Simulator::new();
        // 8,000 characters (about 2,000 tokens) marked, then 400 unmarked.
        let first = sim.request(&body(vec![text(8000, 'a', true), text(400, 'b', false)]));
        assert_eq!((first.cache_read_input_tokens, first.input_tokens > 0), (0, true));
        assert!(first.cache_creation_input_tokens >= 2000, "{first:?}");
        let second = sim.request(&body(vec![text(8000, 'a', true), text(400, 'c', false)]));
        assert_eq!(second.cache_read_input_tokens, first.cache_creation_input_tokens);
        assert_eq!(second.cache_creation_input_tokens, 0);
        // A different prefix reads nothing.
        let third = sim.request(&body(vec![text(8000, 'z', true)]));
        assert_eq!(third.cache_read_input_tokens, 0);
        assert!(read_share(&sim.total) > 0.0 && relative_cost(&sim.total) < 1.25);
    }

    #[test]
    fn nothing_under_the_minimum_is_cached_and_the_lookback_is_twenty_blocks() {
        let mut sim = Simulator::new();
        sim.request(&body(vec![text(400, 'a', true)]));
        assert_eq!(sim.request(&body(vec![text(400, 'a', true)])).cache_read_input_tokens, 0, "100 tokens < 1,024");

        let mut sim = Simulator::new();
        let head = text(8000, 'a', true);
        sim.request(&body(vec![head.clone()]));
        // 19 blocks later a mark still finds the entry; 20 later it does not.
        let mut near = vec![head.clone()];
        near.extend((0..19).map(|_| text(4, 'n', false)));
        near.last_mut().unwrap()[MARK] = json!({"type": "ephemeral"});
        near[0].as_object_mut().unwrap().remove(MARK);
        assert!(sim.request(&body(near)).cache_read_input_tokens >= 2000);
        let mut far = vec![head];
        far.extend((0..20).map(|_| text(4, 'f', false)));
        far.last_mut().unwrap()[MARK] = json!({"type": "ephemeral"});
        far[0].as_object_mut().unwrap().remove(MARK);
        assert_eq!(sim.request(&body(far)).cache_read_input_tokens, 0);
    }
}
