//! The tools the model calls while it implements a change, executed by mmm.
//!
//! Two tools: Anthropic's text editor (`view`, `create`, `str_replace`, `insert`; see
//! [`editor`]) and a read-only regex [`search`]. Both are confined to the [`Workspace`]:
//! every path goes through [`Workspace::resolve`]. The model never gets a shell; the
//! validation commands are mmm's ([`crate::exec`]). A conversation given numbered issues
//! also gets [`submit`] (`submit_change`, [`Tools::declaring`]): the model declares its
//! change's summary and which issues it addresses, and the router keeps the last valid
//! declaration ([`Tools::declaration`]).
//!
//! [`Tools::execute`] is the router. A tool that fails (a bad path, a missing match, a
//! malformed input) returns an error *result* for the model to read and correct; it is
//! never a Rust error that ends the run. Text from files reaches the model only through
//! [`crate::redact`]. The router remembers which files it changed in the iteration, and
//! ([`Originals`]) what each held before the tools first wrote it, so that a roll back can
//! put back even what git does not track (an ignored file, a file in an ignored directory).

pub mod command;
pub mod editor;
pub mod search;
pub mod submit;
pub mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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
    /// For a `view` that showed lines of a file in full: the first and last line shown
    /// (an outline, a listing or an error shows none).
    pub viewed: Option<(usize, usize)>,
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
            viewed: None,
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
            viewed: None,
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

/// The files the tools wrote, each with what it held before the first write (`None`: it
/// did not exist, with the directories the write created). Git puts back what it tracks;
/// [`Originals::restore`] puts back the rest exactly, ignored files included. Cloning
/// shares the record (the engine keeps one per session and hands it to each [`Tools`]).
/// Kept [`Originals::on_disk`], the record is written before each first write, so that a
/// session recovering from a crash can put the files back too ([`Originals::load`]).
#[derive(Debug, Clone, Default)]
pub struct Originals(Arc<OriginalsInner>);

#[derive(Debug, Default)]
struct OriginalsInner {
    kept: Mutex<BTreeMap<PathBuf, Original>>,
    /// Where the record is kept on disk, if anywhere.
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Original {
    /// The bytes before the first write; on disk, the name of the file holding them.
    #[serde(skip)]
    bytes: Option<Vec<u8>>,
    backup: Option<String>,
    /// Directories that did not exist before the write, deepest first.
    created_dirs: Vec<PathBuf>,
}

/// The record's index on disk: each file with its original.
const ORIGINALS_INDEX: &str = "index.json";

impl Originals {
    /// A record also written to `dir` (a session's `originals/`) as it grows.
    pub fn on_disk(dir: PathBuf) -> Self {
        Self(Arc::new(OriginalsInner { kept: Mutex::default(), dir: Some(dir) }))
    }

    /// The record a crashed session left in `dir` (empty when there is none), still kept
    /// there until [`Originals::restore`] or [`Originals::clear`].
    pub fn load(dir: PathBuf) -> anyhow::Result<Self> {
        use anyhow::Context;
        let index = dir.join(ORIGINALS_INDEX);
        let mut kept = BTreeMap::new();
        if index.exists() {
            let text = std::fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
            let entries: Vec<(PathBuf, Original)> =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", index.display()))?;
            for (path, mut original) in entries {
                if let Some(backup) = &original.backup {
                    let file = dir.join(backup);
                    original.bytes = Some(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
                }
                kept.insert(path, original);
            }
        }
        Ok(Self(Arc::new(OriginalsInner { kept: Mutex::new(kept), dir: Some(dir) })))
    }

    /// The files kept, relative to `root` (`/`-separated): every file the tools were about
    /// to write, recorded before the write, so a crash between a write and its journal event
    /// still leaves the file known as mmm's.
    pub fn paths_under(&self, root: &Path) -> Vec<String> {
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        let kept = self.0.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.keys()
            .filter_map(|p| p.strip_prefix(&root).ok())
            .map(|p| p.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"))
            .collect()
    }

    /// Keeps what `path` (canonical, inside the workspace root `root`) holds now, unless
    /// it was kept already. A file too large to keep is refused, so it is never written.
    fn keep(&self, root: &Path, path: &Path) -> Result<(), ToolError> {
        let mut kept = self.0.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.contains_key(path) {
            return Ok(());
        }
        let shown = path.strip_prefix(root).unwrap_or(path).display();
        let bytes = match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Ok(()),
            Ok(meta) if meta.len() > editor::MAX_FILE_BYTES => {
                return Err(ToolError::new(format!(
                    "Error: `{shown}` is larger than {} MiB, too large to edit.",
                    editor::MAX_FILE_BYTES / 1024 / 1024
                )));
            }
            Ok(_) => {
                Some(std::fs::read(path).map_err(|e| ToolError::new(format!("Error: Cannot read `{shown}`: {e}.")))?)
            }
            Err(_) => None,
        };
        let created_dirs = path
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(root) && *dir != root && dir.symlink_metadata().is_err())
            .map(Path::to_path_buf)
            .collect();
        let backup = bytes.as_ref().map(|_| format!("{}.orig", kept.len()));
        kept.insert(path.to_path_buf(), Original { bytes, backup, created_dirs });
        if let Some(dir) = &self.0.dir {
            Self::save(dir, &kept, path).map_err(|e| {
                ToolError::Fatal(format!("mmm could not keep a copy of `{shown}` before writing it: {e:#}"))
            })?;
        }
        Ok(())
    }

    /// Writes the backup of `added` and then the index, so the index never names a backup
    /// that is not there.
    fn save(dir: &Path, kept: &BTreeMap<PathBuf, Original>, added: &Path) -> anyhow::Result<()> {
        use anyhow::Context;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some(Original { bytes: Some(bytes), backup: Some(backup), .. }) = kept.get(added) {
            crate::state::write_atomic(&dir.join(backup), bytes)?;
        }
        let entries: Vec<(&PathBuf, &Original)> = kept.iter().collect();
        crate::state::write_atomic(&dir.join(ORIGINALS_INDEX), &serde_json::to_vec(&entries)?)
    }

    /// Puts every kept file back as it was before the tools wrote it: contents that differ
    /// written again, files that did not exist removed with the directories their writes
    /// created (when empty). Run after git's roll back; the record is emptied.
    pub fn restore(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        let kept = std::mem::take(&mut *self.0.kept.lock().unwrap_or_else(PoisonError::into_inner));
        for (path, original) in kept {
            match original.bytes {
                Some(bytes) => {
                    if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                        std::fs::write(&path, bytes).with_context(|| format!("putting back {}", path.display()))?;
                    }
                }
                None => {
                    if path.symlink_metadata().is_ok() {
                        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                    }
                    for dir in original.created_dirs {
                        // Gone already, or holding something else: left as it is.
                        let _ = std::fs::remove_dir(&dir);
                    }
                }
            }
        }
        self.remove_from_disk()
    }

    /// Forgets what was kept (the change was committed, or an attempt starts).
    pub fn clear(&self) -> anyhow::Result<()> {
        self.0.kept.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.remove_from_disk()
    }

    fn remove_from_disk(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        match &self.0.dir {
            Some(dir) => match std::fs::remove_dir_all(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("removing {}", dir.display()))
                }
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }
}

/// The tool router for one workspace. It is `Send + Sync`: share it in an [`Arc`] and run
/// calls on the blocking pool with [`Tools::execute_async`].
#[derive(Debug)]
pub struct Tools {
    workspace: Workspace,
    changed: Mutex<BTreeSet<PathBuf>>,
    originals: Originals,
    /// With `submit_change`: how many issues the conversation numbers, and the last valid
    /// declaration.
    declare: Option<(usize, Mutex<Option<submit::Declaration>>)>,
    /// How the editor is defined for the model.
    editor: EditorForm,
    /// The user's command tools (`[tools.<name>]`, [`command`]).
    commands: Vec<crate::settings::extensions::ToolDef>,
    /// The plugins' tools ([`crate::plugins`]), with the generation of the definitions the
    /// conversation was last given.
    plugins: Option<(crate::plugins::Plugins, std::sync::atomic::AtomicU64)>,
}

/// How the text editor is offered to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorForm {
    /// Anthropic's built-in type (`text_editor_20250728`): the model knows it already.
    Builtin,
    /// An ordinary tool with a JSON schema ([`editor::definition`]), for endpoints without
    /// Anthropic's built-in tool types.
    Schema,
}

impl Tools {
    pub fn new(workspace: Workspace) -> Self {
        Self::keeping(workspace, Originals::default())
    }

    /// Tools that keep the originals of the files they write in `originals`.
    pub fn keeping(workspace: Workspace, originals: Originals) -> Self {
        Self {
            workspace,
            changed: Mutex::new(BTreeSet::new()),
            originals,
            declare: None,
            editor: EditorForm::Builtin,
            commands: Vec::new(),
            plugins: None,
        }
    }

    /// Also offers the user's command tools.
    pub fn with_commands(mut self, commands: Vec<crate::settings::extensions::ToolDef>) -> Self {
        self.commands = commands;
        self
    }

    /// Also offers the tools the plugins offer (the editing conversation only).
    pub fn with_plugins(mut self, plugins: crate::plugins::Plugins) -> Self {
        self.plugins = Some((plugins, std::sync::atomic::AtomicU64::new(0)));
        self
    }

    /// Offers the editor in `form` (the built-in type by default).
    pub fn with_editor(mut self, form: EditorForm) -> Self {
        self.editor = form;
        self
    }

    /// Also offers `submit_change`, for a conversation that numbers `issues` issues (1 to
    /// `issues`).
    pub fn declaring(mut self, issues: usize) -> Self {
        self.declare = Some((issues, Mutex::new(None)));
        self
    }

    /// The last valid `submit_change` declaration, if the model made one.
    pub fn declaration(&self) -> Option<submit::Declaration> {
        let (_, declared) = self.declare.as_ref()?;
        declared.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The tool definitions for the request's `tools` array: the text editor (Anthropic's
    /// built-in type, or a JSON-schema tool: see [`EditorForm`]), the search tool (a custom
    /// tool with its input schema) and, when [`Tools::declaring`], `submit_change`.
    pub fn definitions(&self) -> Vec<Value> {
        let editor = match self.editor {
            EditorForm::Builtin => serde_json::json!({"type": EDITOR_TOOL_TYPE, "name": EDITOR_TOOL_NAME}),
            EditorForm::Schema => editor::definition(),
        };
        let mut definitions = vec![editor, search::definition()];
        if self.declare.is_some() {
            definitions.push(submit::definition());
        }
        definitions.extend(self.commands.iter().map(command::definition));
        if let Some((plugins, seen)) = &self.plugins {
            let offered = plugins.tools();
            seen.store(plugins.generation(), std::sync::atomic::Ordering::SeqCst);
            definitions.extend(offered.iter().map(crate::plugins::PluginTool::definition));
        }
        definitions
    }

    /// The definitions again when the plugins' tools changed since they were last given
    /// (a server said its list changed): the next request offers the new list.
    pub fn refreshed_definitions(&self) -> Option<Vec<Value>> {
        let (plugins, seen) = self.plugins.as_ref()?;
        plugins.tools();
        (plugins.generation() != seen.load(std::sync::atomic::Ordering::SeqCst)).then(|| self.definitions())
    }

    /// Runs the tool `name` with the model's `input`. Does blocking file I/O: from async
    /// code use [`Tools::execute_async`].
    pub fn execute(&self, name: &str, input: &Value) -> ToolReply {
        let outcome = match name {
            EDITOR_TOOL_NAME => match editor::write_target(&self.workspace, input) {
                Some((path, shown)) => match self.originals.keep(self.workspace.root(), &path) {
                    Ok(()) => editor::execute(&self.workspace, input),
                    Err(refused) => ToolReply::from(refused).with_path(shown),
                },
                None => editor::execute(&self.workspace, input),
            },
            SEARCH_TOOL_NAME => search::execute(&self.workspace, input),
            submit::SUBMIT_CHANGE_TOOL_NAME => self.declare_change(input),
            _ => match self.commands.iter().find(|c| c.name == name) {
                Some(tool) => command::execute(tool, self.workspace.root(), input),
                None => match &self.plugins {
                    Some((plugins, _)) if name.starts_with(crate::plugins::PREFIX) => plugins.call(name, input),
                    _ => self.unknown(name),
                },
            },
        };
        if let Some(changed) = &outcome.changed {
            self.changed.lock().unwrap_or_else(PoisonError::into_inner).insert(changed.clone());
        }
        outcome
    }

    /// The error for a tool this conversation does not offer.
    fn unknown(&self, name: &str) -> ToolReply {
        let mut names = vec![EDITOR_TOOL_NAME, SEARCH_TOOL_NAME];
        names.extend(self.declare.as_ref().map(|_| submit::SUBMIT_CHANGE_TOOL_NAME));
        names.extend(self.commands.iter().map(|c| c.name.as_str()));
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let available = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => quoted.join(""),
        };
        ToolReply::error(format!("Error: Unknown tool `{name}`. The available tools are {available}."))
    }

    /// `submit_change`: a valid declaration replaces the one before; an invalid one is an
    /// error result and changes nothing.
    fn declare_change(&self, input: &Value) -> ToolReply {
        let Some((issues, declared)) = &self.declare else {
            return self.unknown(submit::SUBMIT_CHANGE_TOOL_NAME);
        };
        match submit::parse(input, *issues) {
            Ok(declaration) => {
                let reply = ToolReply::ok(submit::confirmation(&declaration));
                *declared.lock().unwrap_or_else(PoisonError::into_inner) = Some(declaration);
                reply
            }
            Err(message) => ToolReply::error(message),
        }
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

        let defs = Tools::new(tools.workspace.clone()).with_editor(EditorForm::Schema).definitions();
        assert_eq!(defs[0], editor::definition());
        assert_eq!(defs[0]["name"], EDITOR_TOOL_NAME);
        assert_eq!(defs[0]["input_schema"]["required"], json!(["command", "path"]));
        assert_eq!(
            defs[0]["input_schema"]["properties"]["command"]["enum"],
            json!(["view", "create", "str_replace", "insert"])
        );
        assert!(defs[0].get("type").is_none(), "no built-in type");
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
    fn submit_change_is_offered_only_when_declaring_and_the_last_valid_call_wins() {
        let (_dir, tools) = tools();
        assert_eq!(
            tools.execute("submit_change", &json!({"summary": "S", "addressed": [1]})),
            ToolReply::error(
                "Error: Unknown tool `submit_change`. The available tools are `str_replace_based_edit_tool` and `search`."
            )
        );
        assert_eq!(tools.declaration(), None);

        let tools = tools.declaring(2);
        assert_eq!(tools.definitions()[2]["name"], "submit_change");
        assert_eq!(tools.definitions().len(), 3);
        assert_eq!(
            tools.execute("bash", &json!({})),
            ToolReply::error(
                "Error: Unknown tool `bash`. The available tools are `str_replace_based_edit_tool`, `search` and \
                 `submit_change`."
            )
        );
        let first = tools.execute("submit_change", &json!({"summary": "First", "addressed": [1, 2]}));
        assert!(!first.is_error, "{first:?}");
        let second = tools.execute("submit_change", &json!({"summary": "Second", "addressed": [2]}));
        assert!(!second.is_error, "{second:?}");
        // An invalid call is an error result and leaves the last declaration standing.
        assert_eq!(
            tools.execute("submit_change", &json!({"summary": "Third", "addressed": [3]})),
            ToolReply::error(
                "Error: `addressed` names 3, which is not an issue you were given (the issues are numbered 1 to 2)."
            )
        );
        assert_eq!(tools.declaration(), Some(submit::Declaration { summary: "Second".into(), addressed: vec![2] }));
        assert!(tools.changed_files().is_empty());
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

    #[test]
    fn originals_put_back_what_the_tools_wrote_and_nothing_else() {
        let (dir, ws) = workspace::tests::workspace();
        let originals = Originals::default();
        let tools = Tools::keeping(ws, originals.clone());
        let root = dir.path();
        std::fs::create_dir_all(root.join("build")).unwrap();
        std::fs::write(root.join("build/old.o"), "object\n").unwrap();
        let edit = |input: Value| tools.execute(EDITOR_TOOL_NAME, &input);
        assert!(
            !edit(json!({"command": "str_replace", "path": "src/main.rs", "old_str": "{}", "new_str": "{ 1; }"}))
                .is_error
        );
        assert!(!edit(json!({"command": "create", "path": "src/main.rs", "file_text": "fn main() { 2; }\n"})).is_error);
        assert!(!edit(json!({"command": "create", "path": "build/gen/deep/gen.py", "file_text": "x = 1\n"})).is_error);
        assert!(!edit(json!({"command": "create", "path": "notes.txt", "file_text": "n\n"})).is_error);
        // Refused writes keep nothing and change nothing.
        assert!(edit(json!({"command": "create", "path": ".git/config", "file_text": "x"})).is_error);
        // Something the tools did not write is not theirs to put back.
        std::fs::write(root.join("build/other.o"), "made by a check\n").unwrap();

        originals.restore().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("src/main.rs")).unwrap(), "fn main() {}\n");
        assert!(!root.join("build/gen").exists() && !root.join("notes.txt").exists());
        assert_eq!(std::fs::read_to_string(root.join("build/old.o")).unwrap(), "object\n");
        assert_eq!(std::fs::read_to_string(root.join("build/other.o")).unwrap(), "made by a check\n");
        assert_eq!(std::fs::read_to_string(root.join(".git/config")).unwrap(), "[core]\n");

        // After a commit (clear), the next restore puts back nothing.
        assert!(!edit(json!({"command": "create", "path": "kept.txt", "file_text": "k\n"})).is_error);
        originals.clear().unwrap();
        originals.restore().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("kept.txt")).unwrap(), "k\n");
    }

    #[tokio::test]
    async fn execute_async_runs_on_the_blocking_pool() {
        let (_dir, tools) = tools();
        let tools = Arc::new(tools);
        let outcome = tools.execute_async(EDITOR_TOOL_NAME, &json!({"command": "view", "path": "src/main.rs"})).await;
        assert_eq!(
            outcome,
            ToolReply { viewed: Some((1, 1)), ..ToolReply::ok("1: fn main() {}").with_path("src/main.rs") }
        );
    }
}
