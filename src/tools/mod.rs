//! The tools the model calls while it implements a change, executed by mmm.
//!
//! Two tools: Anthropic's text editor (`view`, `create`, `str_replace`, `insert`; see
//! [`editor`]) and a read-only regex [`search`]. Both are confined to the [`Workspace`]:
//! every path goes through [`Workspace::resolve`]. The model never gets a shell; the
//! validation commands are mmm's ([`crate::exec`]).
//!
//! [`Tools::execute`] is the router. A tool that fails (a bad path, a missing match, a
//! malformed input) returns an error *result* for the model to read and correct; it is
//! never a Rust error that ends the run. Text from files reaches the model only through
//! [`crate::redact`]. The router remembers which files it changed in the iteration.

pub mod editor;
pub mod search;
pub mod workspace;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

pub use workspace::{Intent, ToolError, Workspace};

/// The name the text editor tool must have for the `text_editor_20250728` type.
pub const EDITOR_TOOL_NAME: &str = "str_replace_based_edit_tool";
/// The Anthropic-defined text editor tool type (Claude 4 and later).
pub const EDITOR_TOOL_TYPE: &str = "text_editor_20250728";
/// The name of the read-only search tool.
pub const SEARCH_TOOL_NAME: &str = "search";

/// The result of one tool call, ready to become a `tool_result` block (a
/// [`ToolError::Fatal`] ends the conversation instead: see [`ToolReply::fatal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolReply {
    /// The text for the model (already redacted).
    pub content: String,
    /// True when the call failed or was refused; sent as `is_error`.
    pub is_error: bool,
    /// The path the call was about, relative to the root, for the journal.
    pub path: Option<String>,
    /// The file the call created or modified, relative to the root.
    pub changed: Option<PathBuf>,
    /// Set when mmm itself failed ([`ToolError::Fatal`]): the conversation ends with this
    /// message instead of sending `content` back.
    pub fatal: Option<String>,
    /// For a call that changed a file: the lines it added and removed.
    pub lines: Option<LineCounts>,
    /// For a search: the matching lines found.
    pub hits: Option<Hits>,
}

/// Lines a change added and removed: the lines that differ once the lines both versions
/// start and end with are set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LineCounts {
    pub added: u64,
    pub removed: u64,
}

impl LineCounts {
    /// What changed from `before` to `after`, line by line.
    pub fn between(before: &str, after: &str) -> Self {
        let (old, new): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
        let head = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
        let tail = old[head..].iter().rev().zip(new[head..].iter().rev()).take_while(|(a, b)| a == b).count();
        Self { added: (new.len() - head - tail) as u64, removed: (old.len() - head - tail) as u64 }
    }
}

/// How many matching lines a search found; `capped` when it stopped at its limit with
/// more left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hits {
    pub count: u64,
    pub capped: bool,
}

impl ToolReply {
    /// A successful result.
    pub fn ok(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: false,
            path: None,
            changed: None,
            fatal: None,
            lines: None,
            hits: None,
        }
    }

    /// A failed or refused call, worded for the model.
    pub fn error(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            is_error: true,
            path: None,
            changed: None,
            fatal: None,
            lines: None,
            hits: None,
        }
    }

    /// Records the path the call was about.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl From<ToolError> for ToolReply {
    fn from(err: ToolError) -> Self {
        match err {
            ToolError::RespondToModel(message) => Self::error(message),
            ToolError::Fatal(message) => Self { fatal: Some(message.clone()), ..Self::error(message) },
        }
    }
}

/// The tool router for one workspace. It is `Send + Sync`: share it in an [`Arc`] and run
/// calls on the blocking pool with [`Tools::execute_async`].
#[derive(Debug)]
pub struct Tools {
    workspace: Workspace,
    changed: Mutex<BTreeSet<PathBuf>>,
}

impl Tools {
    pub fn new(workspace: Workspace) -> Self {
        Self { workspace, changed: Mutex::new(BTreeSet::new()) }
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The tool definitions for the request's `tools` array: the text editor (schema-less,
    /// Anthropic-defined) and the search tool (a custom tool with its input schema).
    pub fn definitions(&self) -> Vec<Value> {
        vec![serde_json::json!({"type": EDITOR_TOOL_TYPE, "name": EDITOR_TOOL_NAME}), search::definition()]
    }

    /// Runs the tool `name` with the model's `input`. Does blocking file I/O: from async
    /// code use [`Tools::execute_async`].
    pub fn execute(&self, name: &str, input: &Value) -> ToolReply {
        let outcome = match name {
            EDITOR_TOOL_NAME => editor::execute(&self.workspace, input),
            SEARCH_TOOL_NAME => search::execute(&self.workspace, input),
            _ => ToolReply::error(format!(
                "Error: Unknown tool `{name}`. The available tools are `{EDITOR_TOOL_NAME}` and `{SEARCH_TOOL_NAME}`."
            )),
        };
        if let Some(changed) = &outcome.changed {
            self.changed.lock().unwrap_or_else(PoisonError::into_inner).insert(changed.clone());
        }
        outcome
    }

    /// [`Tools::execute`] on tokio's blocking pool, so file I/O never stalls the runtime.
    pub async fn execute_async(self: &Arc<Self>, name: &str, input: &Value) -> ToolReply {
        let (tools, name_owned, input) = (Arc::clone(self), name.to_string(), input.clone());
        match tokio::task::spawn_blocking(move || tools.execute(&name_owned, &input)).await {
            Ok(outcome) => outcome,
            Err(err) => ToolReply::error(format!("Error: The tool `{name}` failed unexpectedly: {err}")),
        }
    }

    /// The files created or modified since the last [`Tools::take_changed_files`], relative
    /// to the root, sorted.
    pub fn changed_files(&self) -> Vec<PathBuf> {
        self.changed.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    /// Returns the changed files and starts a new record (at the start of an iteration).
    pub fn take_changed_files(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(PoisonError::into_inner)).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> (tempfile::TempDir, Tools) {
        let (dir, ws) = workspace::tests::workspace();
        (dir, Tools::new(ws))
    }

    #[test]
    fn definitions_name_the_editor_and_the_search_tool() {
        let (_dir, tools) = tools();
        let defs = tools.definitions();
        assert_eq!(defs[0], json!({"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}));
        assert_eq!(defs[1]["name"], "search");
        assert_eq!(defs[1]["input_schema"]["required"], json!(["pattern"]));
        assert_eq!(defs.len(), 2);
    }

    #[test]
    fn line_counts_set_aside_the_lines_both_versions_share() {
        let counts = |a: &str, b: &str| {
            let c = LineCounts::between(a, b);
            (c.added, c.removed)
        };
        assert_eq!(counts("a\nb\nc\n", "a\nB\nB2\nc\n"), (2, 1));
        assert_eq!(counts("", "x\ny\n"), (2, 0));
        assert_eq!(counts("a\na\n", "a\n"), (0, 1));
        assert_eq!(counts("same\n", "same\n"), (0, 0));
    }

    #[test]
    fn unknown_tools_are_error_results() {
        let (_dir, tools) = tools();
        assert_eq!(
            tools.execute("bash", &json!({"command": "rm -rf /"})),
            ToolReply::error(
                "Error: Unknown tool `bash`. The available tools are `str_replace_based_edit_tool` and `search`."
            )
        );
    }

    #[test]
    fn changed_files_track_edits_until_taken() {
        let (_dir, tools) = tools();
        let edit = |input: Value| tools.execute(EDITOR_TOOL_NAME, &input);
        assert!(!edit(json!({"command": "create", "path": "b.txt", "file_text": "b\n"})).is_error);
        assert!(
            !edit(json!({"command": "str_replace", "path": "src/main.rs", "old_str": "{}", "new_str": "{ }"})).is_error
        );
        assert!(!edit(json!({"command": "view", "path": "src/main.rs"})).is_error);
        assert!(edit(json!({"command": "create", "path": ".env", "file_text": "x"})).is_error);
        assert_eq!(tools.changed_files(), vec![PathBuf::from("b.txt"), PathBuf::from("src/main.rs")]);
        assert_eq!(tools.take_changed_files().len(), 2);
        assert!(tools.changed_files().is_empty());
    }

    #[tokio::test]
    async fn execute_async_runs_on_the_blocking_pool() {
        let (_dir, tools) = tools();
        let tools = Arc::new(tools);
        let outcome = tools.execute_async(EDITOR_TOOL_NAME, &json!({"command": "view", "path": "src/main.rs"})).await;
        assert_eq!(outcome, ToolReply::ok("1: fn main() {}").with_path("src/main.rs"));
    }
}
