//! Anthropic's text editor tool (`text_editor_20250728`, named `str_replace_based_edit_tool`),
//! executed by mmm inside the workspace.
//!
//! Commands: `view` (a file as numbered lines `N: text`, optionally a `view_range`; a
//! directory as a listing two levels deep), `create`, `str_replace` (the old text must
//! occur exactly once) and `insert` (after a line; the text in `insert_text` or the older
//! `new_str`). With no built-in tool types at the endpoint, the same tool goes as an
//! ordinary JSON-schema tool ([`definition`]). Edits keep the file's line endings (LF or CRLF), its trailing newline or
//! lack of one, and its permissions, and are written atomically. Every failure is an
//! `Error: …` result worded as Anthropic's documentation suggests, so the model can
//! correct itself; malformed input is one of them, never a crash. What the model sees of a
//! file is redacted. This module never touches a path that did not go through
//! [`Workspace::resolve`].

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::workspace::{Intent, ToolError, Workspace};
use super::{EDITOR_TOOL_NAME, LineCounts, ToolReply};
use crate::redact::redact;

/// Files larger than this are not viewed or edited (search them instead).
pub(crate) const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// A `view` shows at most this many lines and bytes; the rest is a range away.
const MAX_VIEW_LINES: usize = 2000;
const MAX_VIEW_BYTES: usize = 100_000;
/// A `view` of a whole file longer than this (lines or bytes) shows its outline instead and
/// asks for ranges: a large file read whole would stay in the conversation, re-sent on
/// every turn, when the change needs a few functions of it.
const OUTLINE_LINES: usize = 400;
const OUTLINE_BYTES: usize = 16_000;
/// An outline lists at most this many definitions, or this many head lines when the
/// language has no symbol rules.
const OUTLINE_ENTRIES: usize = 200;
const OUTLINE_HEAD_LINES: usize = 40;
/// Longer lines are shortened in what the model sees (never in the file).
const MAX_LINE_CHARS: usize = 2000;
/// A directory listing shows at most this many entries.
const MAX_LISTING_ENTRIES: usize = 1000;
/// Lines of context shown around an edit, and the most lines such an excerpt has.
const EXCERPT_CONTEXT: usize = 4;
const MAX_EXCERPT_LINES: usize = 60;

/// The editor as an ordinary JSON-schema tool, for endpoints without Anthropic's built-in
/// tool types (OpenAI-compatible servers, `editor_tool = "custom"`): the same name and the
/// same commands and fields as the built-in type, so [`execute`] runs either.
pub fn definition() -> Value {
    serde_json::json!({
        "name": EDITOR_TOOL_NAME,
        "description": "View, create and edit files of the repository (paths relative to its root). Commands: \
            `view` shows a file as numbered lines `N: text` (optionally only `view_range` [first, last]; last -1 is \
            the end) or a directory two levels deep; `create` writes `file_text` to a new or existing file; \
            `str_replace` replaces `old_str`, which must occur exactly once in the file, by `new_str`; `insert` \
            puts `insert_text` after line `insert_line` (0: at the start).",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert"],
                            "description": "What to do."},
                "path": {"type": "string", "description": "The file or directory, relative to the repository root."},
                "view_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                               "description": "For `view` of a file: the first and last line to show (1-based; -1: to the end)."},
                "file_text": {"type": "string", "description": "For `create`: the whole content of the file."},
                "old_str": {"type": "string", "description": "For `str_replace`: the exact text to replace, once in the file."},
                "new_str": {"type": "string", "description": "For `str_replace`: the text to put instead."},
                "insert_line": {"type": "integer", "description": "For `insert`: the line after which to insert (0: the start)."},
                "insert_text": {"type": "string", "description": "For `insert`: the text to insert."}
            },
            "required": ["command", "path"]
        }
    })
}

/// The tool's input, tagged by `command`.
#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
enum Command {
    View {
        path: String,
        #[serde(default)]
        view_range: Option<Vec<i64>>,
    },
    Create {
        path: String,
        file_text: String,
    },
    StrReplace {
        path: String,
        old_str: String,
        new_str: String,
    },
    Insert {
        path: String,
        insert_line: i64,
        /// The 2026 name of the text field.
        #[serde(default)]
        insert_text: Option<String>,
        /// The older name of the same field.
        #[serde(default)]
        new_str: Option<String>,
    },
}

impl Command {
    fn path(&self) -> &str {
        match self {
            Self::View { path, .. }
            | Self::Create { path, .. }
            | Self::StrReplace { path, .. }
            | Self::Insert { path, .. } => path,
        }
    }

    fn intent(&self) -> Intent {
        if matches!(self, Self::View { .. }) { Intent::Read } else { Intent::Write }
    }
}

/// What a successful command produced.
struct Done {
    content: String,
    /// For a write: the lines it added and removed.
    lines: Option<LineCounts>,
    /// For a view of a file: the first and last line shown in full.
    viewed: Option<(usize, usize)>,
}

impl Done {
    fn read(content: impl Into<String>) -> Self {
        Self { content: content.into(), lines: None, viewed: None }
    }

    /// A write that turned `before` into `after`.
    fn wrote(content: impl Into<String>, before: &str, after: &str) -> Self {
        Self { content: content.into(), lines: Some(LineCounts::between(before, after)), viewed: None }
    }
}

/// The file a call would write (canonical) and its name as the model sees it, when the
/// call is a valid write to a path the workspace allows; `None` for anything else.
pub fn write_target(ws: &Workspace, input: &Value) -> Option<(PathBuf, String)> {
    let command = Command::deserialize(input).ok()?;
    if command.intent() != Intent::Write {
        return None;
    }
    let full = ws.resolve(command.path(), Intent::Write).ok()?;
    let shown = ws.display(&full);
    Some((full, shown))
}

/// Runs one editor call. Never panics on any input; failures are error results.
pub fn execute(ws: &Workspace, input: &Value) -> ToolReply {
    let command = match Command::deserialize(input) {
        Ok(command) => command,
        Err(err) => return ToolReply::error(format!("Error: Invalid input for {EDITOR_TOOL_NAME}: {err}.")),
    };
    let full = match ws.resolve(command.path(), command.intent()) {
        Ok(full) => full,
        Err(err) => return ToolReply::from(err).with_path(command.path()),
    };
    let shown = ws.display(&full);
    let done = match command {
        Command::View { view_range, .. } => view(ws, &full, &shown, view_range.as_deref()),
        Command::Create { file_text, .. } => create(&full, &shown, file_text),
        Command::StrReplace { old_str, new_str, .. } => str_replace(&full, &shown, &old_str, &new_str),
        Command::Insert { insert_line, insert_text, new_str, .. } => match insert_text.or(new_str) {
            Some(text) => insert(&full, &shown, insert_line, &text),
            None => Err(ToolError::new(
                "Error: Invalid input for insert: missing field `insert_text` (the text to insert).",
            )),
        },
    };
    match done {
        Ok(done) => ToolReply {
            content: done.content,
            is_error: false,
            changed: done.lines.is_some().then(|| PathBuf::from(&shown)),
            path: Some(shown),
            fatal: None,
            lines: done.lines,
            hits: None,
            viewed: done.viewed,
        },
        Err(err) => ToolReply::from(err).with_path(shown),
    }
}

fn view(ws: &Workspace, full: &Path, shown: &str, view_range: Option<&[i64]>) -> Result<Done, ToolError> {
    if full.is_dir() {
        if view_range.is_some() {
            return Err(ToolError::new(
                "Error: `view_range` is not allowed when `path` is a directory; view a file to use it.",
            ));
        }
        return list_directory(ws, full, shown).map(Done::read);
    }
    let text = read_text(full, shown)?;
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return Ok(Done::read(format!("The file `{shown}` is empty.")));
    }
    if view_range.is_none() && (lines.len() > OUTLINE_LINES || text.len() > OUTLINE_BYTES) {
        return Ok(Done::read(redact(&outline(shown, &text, &lines)).into_owned()));
    }
    let (start, end, clamped) = match view_range {
        None => (1, lines.len(), false),
        Some(range) => view_bounds(range, lines.len())?,
    };
    let mut out = String::new();
    let mut last_shown = start - 1;
    for (number, line) in (start..=end).zip(&lines[start - 1..end]) {
        if number - start >= MAX_VIEW_LINES || out.len() >= MAX_VIEW_BYTES {
            break;
        }
        push_numbered(&mut out, number, line);
        last_shown = number;
    }
    if last_shown < end {
        out.push_str(&format!(
            "\n[... output truncated after line {last_shown} of {}; view a range starting at line {} to see more ...]",
            lines.len(),
            last_shown + 1
        ));
    } else if clamped {
        out.push_str(&format!("\n[the file ends at line {}]", lines.len()));
    }
    Ok(Done { viewed: Some((start, last_shown)), ..Done::read(redact(&out)) })
}

/// What a `view` of a whole large file shows: its size, its definitions with the lines they
/// start on (or its first lines when mmm knows no definitions in its language), and how to
/// see the rest.
fn outline(shown: &str, text: &str, lines: &[&str]) -> String {
    let mut out = format!(
        "`{shown}` has {} lines ({} bytes), too long to show whole. View the lines you need with `view_range`, \
         for example [1, 100].",
        lines.len(),
        text.len()
    );
    let defs = crate::analyzer::outline(shown, text);
    if defs.is_empty() {
        out.push_str(&format!("\nIts first {OUTLINE_HEAD_LINES} lines:\n"));
        let mut head = String::new();
        for (number, line) in (1..).zip(lines.iter().take(OUTLINE_HEAD_LINES)) {
            push_numbered(&mut head, number, line);
        }
        out.push_str(&head);
    } else {
        out.push_str("\nIts outline (each definition after the line it starts on):");
        for (line, def) in defs.iter().take(OUTLINE_ENTRIES) {
            out.push_str(&format!("\n{line}: {def}"));
        }
        if defs.len() > OUTLINE_ENTRIES {
            out.push_str(&format!("\n[... {} more definitions not shown ...]", defs.len() - OUTLINE_ENTRIES));
        }
    }
    out
}

/// The first and last line to show (1-based, inclusive) and whether the end was beyond
/// the file and cut to its last line.
fn view_bounds(range: &[i64], lines: usize) -> Result<(usize, usize, bool), ToolError> {
    let &[start, end] = range else {
        return Err(ToolError::new(
            "Error: Invalid `view_range`: it must be two integers [start, end], for example [10, 40] or [10, -1].",
        ));
    };
    let invalid = |why: String| ToolError::new(format!("Error: Invalid `view_range` [{start}, {end}]: {why}."));
    let first = usize::try_from(start)
        .ok()
        .filter(|s| (1..=lines).contains(s))
        .ok_or_else(|| invalid(format!("the start must be between 1 and {lines}, the number of lines in the file")))?;
    if end == -1 {
        return Ok((first, lines, false));
    }
    let last = usize::try_from(end)
        .ok()
        .filter(|e| *e >= first)
        .ok_or_else(|| invalid("the end must be -1 (the end of the file) or at least the start".to_string()))?;
    Ok((first, last.min(lines), last > lines))
}

fn list_directory(ws: &Workspace, full: &Path, shown: &str) -> Result<String, ToolError> {
    let filter_ws = ws.clone();
    let walk = ignore::WalkBuilder::new(full)
        .max_depth(Some(2))
        .hidden(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| !filter_ws.is_hidden(entry.path(), entry.file_type().is_some_and(|t| t.is_dir())))
        .build();
    let mut entries = Vec::new();
    let mut more = 0usize;
    for entry in walk.flatten().filter(|e| e.depth() > 0) {
        if entries.len() == MAX_LISTING_ENTRIES {
            more += 1;
            continue;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        entries.push(format!("{}{}", ws.display(entry.path()), if is_dir { "/" } else { "" }));
    }
    if entries.is_empty() {
        return Ok(format!("The directory `{shown}` is empty (or holds only ignored and secret files)."));
    }
    let mut out = format!(
        "Here are the files and directories up to 2 levels deep in `{shown}`, excluding ignored and secret files:\n{}",
        entries.join("\n")
    );
    if more > 0 {
        out.push_str(&format!("\n[... {more} more entries not shown; view a subdirectory to see them ...]"));
    }
    Ok(redact(&out).into_owned())
}

fn create(full: &Path, shown: &str, file_text: String) -> Result<Done, ToolError> {
    let existing = std::fs::metadata(full).ok();
    if existing.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(ToolError::new(format!("Error: `{shown}` is a directory; give the path of a file to create.")));
    }
    // Overwriting a CRLF file keeps it CRLF.
    let old = if existing.is_some() { read_text(full, shown).ok() } else { None };
    let crlf = old.as_deref().is_some_and(|old| LineEndings::of(old).crlf);
    let text = if crlf && !file_text.contains('\r') { file_text.replace('\n', "\r\n") } else { file_text };
    write_file(full, shown, &text)?;
    let message = if existing.is_some() {
        format!("The file `{shown}` has been overwritten.")
    } else {
        format!("File created successfully at: {shown}")
    };
    Ok(Done::wrote(message, old.as_deref().unwrap_or(""), &text))
}

fn str_replace(full: &Path, shown: &str, old_str: &str, new_str: &str) -> Result<Done, ToolError> {
    let raw = read_text(full, shown)?;
    let endings = LineEndings::of(&raw);
    let text = endings.to_lf(&raw);
    let (old, new) = (endings.to_lf(old_str), endings.to_lf(new_str));
    if old.is_empty() {
        return Err(ToolError::new(
            "Error: `old_str` is empty. Give the exact text to replace, with enough context to make it unique.",
        ));
    }
    let at = match text.match_indices(old.as_ref()).take(2).count() {
        0 => {
            return Err(ToolError::new("Error: No match found for replacement. Please check your text and try again."));
        }
        1 => text.find(old.as_ref()).expect("counted one match"),
        _ => {
            return Err(ToolError::new(format!(
                "Error: Found {} matches for replacement text. Please provide more context to make a unique match.",
                text.matches(old.as_ref()).count()
            )));
        }
    };
    if old == new {
        return Ok(Done::read(format!("The file `{shown}` was not changed: `old_str` and `new_str` are the same.")));
    }
    let edited = [&text[..at], new.as_ref(), &text[at + old.len()..]].concat();
    write_file(full, shown, &endings.restore(&edited))?;
    let first = text[..at].matches('\n').count() + 1;
    let last = first + new.trim_end_matches('\n').matches('\n').count();
    Ok(Done::wrote(format!("The file `{shown}` has been edited. {}", excerpt(&edited, first, last)), &text, &edited))
}

fn insert(full: &Path, shown: &str, insert_line: i64, insert_text: &str) -> Result<Done, ToolError> {
    let raw = read_text(full, shown)?;
    let endings = LineEndings::of(&raw);
    let text = endings.to_lf(&raw);
    let piece = endings.to_lf(insert_text);
    let lines = text.split_inclusive('\n').count();
    let after = usize::try_from(insert_line).ok().filter(|k| *k <= lines).ok_or_else(|| {
        ToolError::new(format!(
            "Error: Invalid `insert_line` {insert_line}: it must be between 0 (the start of the file) and {lines} (the number of lines in the file)."
        ))
    })?;
    let offset: usize = text.split_inclusive('\n').take(after).map(str::len).sum();
    let (before, rest) = text.split_at(offset);
    let edited = if !before.is_empty() && !before.ends_with('\n') {
        // After a last line without a newline: the file still ends without one.
        [before, "\n", piece.strip_suffix('\n').unwrap_or(&piece)].concat()
    } else if piece.ends_with('\n') {
        [before, piece.as_ref(), rest].concat()
    } else {
        [before, piece.as_ref(), "\n", rest].concat()
    };
    write_file(full, shown, &endings.restore(&edited))?;
    let first = after + 1;
    let last = after + piece.lines().count().max(1);
    Ok(Done::wrote(
        format!(
            "The file `{shown}` has been edited: the text was inserted after line {after}. {}",
            excerpt(&edited, first, last)
        ),
        &text,
        &edited,
    ))
}

/// The changed lines `first..=last` of `text` with a few lines around them, numbered and
/// redacted, introduced by a sentence saying which lines they are.
fn excerpt(text: &str, first: usize, last: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "The file is now empty.".to_string();
    }
    let from = first.saturating_sub(EXCERPT_CONTEXT).max(1);
    let to = (last + EXCERPT_CONTEXT).min(lines.len()).min(from + MAX_EXCERPT_LINES - 1);
    let mut out = format!("Lines {from}-{to} now read:\n");
    for (number, line) in (from..=to).zip(&lines[from - 1..to]) {
        if number > from {
            out.push('\n');
        }
        push_line(&mut out, number, line);
    }
    if to < last {
        out.push_str("\n[... more changed lines not shown ...]");
    }
    redact(&out).into_owned()
}

/// Appends `N: line` on a line of its own.
fn push_numbered(out: &mut String, number: usize, line: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    push_line(out, number, line);
}

fn push_line(out: &mut String, number: usize, line: &str) {
    out.push_str(&number.to_string());
    out.push_str(": ");
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((cut, _)) => {
            out.push_str(&line[..cut]);
            out.push_str(" [... line shortened]");
        }
        None => out.push_str(line),
    }
}

/// The text of a file, or why it cannot be viewed or edited.
fn read_text(full: &Path, shown: &str) -> Result<String, ToolError> {
    let meta = match std::fs::metadata(full) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ToolError::new("Error: File not found"));
        }
        Err(err) => return Err(ToolError::new(format!("Error: Cannot read `{shown}`: {err}"))),
    };
    if meta.is_dir() {
        return Err(ToolError::new(format!("Error: `{shown}` is a directory, not a file.")));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ToolError::new(format!(
            "Error: `{shown}` is too large for the editor ({} bytes; the limit is {MAX_FILE_BYTES}). Use the search tool to find what you need in it.",
            meta.len()
        )));
    }
    let bytes = std::fs::read(full).map_err(|err| ToolError::new(format!("Error: Cannot read `{shown}`: {err}")))?;
    if bytes[..bytes.len().min(8192)].contains(&0) {
        return Err(ToolError::new(format!("Error: `{shown}` is a binary file and cannot be viewed or edited.")));
    }
    String::from_utf8(bytes)
        .map_err(|_| ToolError::new(format!("Error: `{shown}` is not UTF-8 text and cannot be viewed or edited.")))
}

/// A failed write: the model's problem when the file or directory refuses it (permissions),
/// mmm's when the storage does (full, read-only, failing), which no other edit can fix.
fn write_error(shown: &str, err: &anyhow::Error) -> ToolError {
    use std::io::ErrorKind;
    let kind = err.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(std::io::Error::kind);
    match kind {
        Some(ErrorKind::StorageFull | ErrorKind::ReadOnlyFilesystem | ErrorKind::QuotaExceeded) => {
            ToolError::Fatal(format!("mmm could not write `{shown}`: {err:#}"))
        }
        _ => ToolError::new(format!("Error: Permission denied. Cannot write to file `{shown}`: {err:#}")),
    }
}

/// Writes `text` atomically, keeping an existing file's permissions (a new file gets the
/// usual `rw-r--r--`).
fn write_file(full: &Path, shown: &str, text: &str) -> Result<(), ToolError> {
    let permissions = std::fs::metadata(full).ok().map(|m| m.permissions());
    crate::state::write_atomic(full, text.as_bytes()).map_err(|err| write_error(shown, &err))?;
    // The temporary file was created private; give the file back its mode.
    #[cfg(unix)]
    let permissions = permissions.or_else(|| {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o644))
    });
    if let Some(permissions) = permissions {
        std::fs::set_permissions(full, permissions).map_err(|err| write_error(shown, &err.into()))?;
    }
    Ok(())
}

/// A file's line endings: CRLF when every newline is `\r\n`, else left as they are.
#[derive(Debug, Clone, Copy)]
struct LineEndings {
    crlf: bool,
}

impl LineEndings {
    fn of(text: &str) -> Self {
        let crlf = text.matches("\r\n").count();
        Self { crlf: crlf > 0 && crlf == text.matches('\n').count() }
    }

    /// `text` with CRLF turned into LF when the file is CRLF, so the model's `\n` match.
    fn to_lf<'a>(self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.crlf && text.contains('\r') { text.replace("\r\n", "\n").into() } else { text.into() }
    }

    /// `text` (LF) back in the file's endings.
    fn restore(self, text: &str) -> String {
        if self.crlf { text.replace('\n', "\r\n") } else { text.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::workspace::tests::workspace;
    use serde_json::json;

    fn run(ws: &Workspace, input: Value) -> ToolReply {
        execute(ws, &input)
    }

    fn ok(ws: &Workspace, input: Value) -> String {
        let outcome = run(ws, input.clone());
        assert!(!outcome.is_error, "{input} failed: {}", outcome.content);
        outcome.content
    }

    fn err(ws: &Workspace, input: Value) -> String {
        let outcome = run(ws, input.clone());
        assert!(outcome.is_error, "{input} succeeded: {}", outcome.content);
        outcome.content
    }

    fn read(ws: &Workspace, rel: &str) -> String {
        std::fs::read_to_string(ws.root().join(rel)).unwrap()
    }

    fn write(ws: &Workspace, rel: &str, text: &str) {
        let path = ws.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn view_numbers_lines_and_honours_ranges() {
        let (_dir, ws) = workspace();
        write(&ws, "a.txt", "one\ntwo\r\nthree\nfour\n");
        assert_eq!(
            run(&ws, json!({"command": "view", "path": "a.txt"})),
            ToolReply { viewed: Some((1, 4)), ..ToolReply::ok("1: one\n2: two\n3: three\n4: four").with_path("a.txt") }
        );
        assert_eq!(run(&ws, json!({"command": "view", "path": "a.txt", "view_range": [2, 3]})).viewed, Some((2, 3)));
        assert_eq!(ok(&ws, json!({"command": "view", "path": "a.txt", "view_range": [2, 3]})), "2: two\n3: three");
        assert_eq!(ok(&ws, json!({"command": "view", "path": "a.txt", "view_range": [3, -1]})), "3: three\n4: four");
        assert_eq!(
            ok(&ws, json!({"command": "view", "path": "a.txt", "view_range": [4, 10]})),
            "4: four\n[the file ends at line 4]"
        );
        write(&ws, "empty.txt", "");
        assert_eq!(ok(&ws, json!({"command": "view", "path": "empty.txt"})), "The file `empty.txt` is empty.");
    }

    #[test]
    fn view_rejects_bad_ranges_and_unreadable_files() {
        let (_dir, ws) = workspace();
        write(&ws, "a.txt", "one\ntwo\n");
        let view = |range: Value| err(&ws, json!({"command": "view", "path": "a.txt", "view_range": range}));
        assert_eq!(
            view(json!([0, 1])),
            "Error: Invalid `view_range` [0, 1]: the start must be between 1 and 2, the number of lines in the file."
        );
        assert_eq!(
            view(json!([3, -1])),
            "Error: Invalid `view_range` [3, -1]: the start must be between 1 and 2, the number of lines in the file."
        );
        assert_eq!(
            view(json!([2, 1])),
            "Error: Invalid `view_range` [2, 1]: the end must be -1 (the end of the file) or at least the start."
        );
        assert_eq!(
            view(json!([1])),
            "Error: Invalid `view_range`: it must be two integers [start, end], for example [10, 40] or [10, -1]."
        );
        assert_eq!(
            view(json!(["1", 2])),
            "Error: Invalid input for str_replace_based_edit_tool: invalid type: string \"1\", expected i64."
        );
        assert_eq!(err(&ws, json!({"command": "view", "path": "missing.txt"})), "Error: File not found");
        std::fs::write(ws.root().join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
        assert_eq!(
            err(&ws, json!({"command": "view", "path": "logo.png"})),
            "Error: `logo.png` is a binary file and cannot be viewed or edited."
        );
        std::fs::write(ws.root().join("latin1.txt"), [b'c', b'a', b'f', 0xe9]).unwrap();
        assert_eq!(
            err(&ws, json!({"command": "view", "path": "latin1.txt"})),
            "Error: `latin1.txt` is not UTF-8 text and cannot be viewed or edited."
        );
        assert_eq!(
            err(&ws, json!({"command": "view", "path": "src", "view_range": [1, 2]})),
            "Error: `view_range` is not allowed when `path` is a directory; view a file to use it."
        );
    }

    #[test]
    fn view_caps_long_files_and_long_lines_and_redacts_keys() {
        let (_dir, ws) = workspace();
        let text: String = (1..=2500).map(|n| format!("line {n}\n")).collect();
        write(&ws, "big.txt", &text);
        let out = ok(&ws, json!({"command": "view", "path": "big.txt", "view_range": [1, -1]}));
        assert!(out.starts_with("1: line 1\n2: line 2\n"));
        assert!(out.ends_with(
            "2000: line 2000\n[... output truncated after line 2000 of 2500; view a range starting at line 2001 to see more ...]"
        ));
        write(&ws, "wide.txt", &format!("{}\nkey = \"AKIAIOSFODNN7EXAMPLE\"\n", "é".repeat(2100)));
        assert_eq!(
            ok(&ws, json!({"command": "view", "path": "wide.txt"})),
            format!("1: {} [... line shortened]\n2: key = \"[REDACTED:aws-access-key-id]\"", "é".repeat(2000))
        );
    }

    #[test]
    fn a_whole_view_of_a_large_file_is_its_outline_and_asks_for_ranges() {
        let (_dir, ws) = workspace();
        let mut code = String::from("use std::fmt;\n\npub struct Parser {\n    pos: usize,\n}\n\nimpl Parser {\n");
        code.push_str("    pub fn parse(&self) -> usize {\n");
        code.push_str(&"        let x = 1;\n".repeat(450));
        code.push_str("        0\n    }\n}\n\nfn helper() {}\n");
        write(&ws, "src/parser.rs", &code);
        let reply = run(&ws, json!({"command": "view", "path": "src/parser.rs"}));
        assert_eq!(
            reply.content,
            "`src/parser.rs` has 463 lines (8687 bytes), too long to show whole. View the lines you need with \
             `view_range`, for example [1, 100].\nIts outline (each definition after the line it starts on):\n\
             3: struct Parser\n7: impl Parser\n8:   fn parse\n463: fn helper"
        );
        assert_eq!((reply.is_error, reply.viewed), (false, None), "an outline shows no lines in full");
        // A range of the same file is shown as asked.
        assert_eq!(
            ok(&ws, json!({"command": "view", "path": "src/parser.rs", "view_range": [3, 4]})),
            "3: pub struct Parser {\n4:     pos: usize,"
        );
        // A language mmm has no definitions for: the first lines.
        let notes: String = (1..=500).map(|n| format!("note {n}\n")).collect();
        write(&ws, "notes.txt", &notes);
        let out = ok(&ws, json!({"command": "view", "path": "notes.txt"}));
        assert!(
            out.starts_with(
                "`notes.txt` has 500 lines (4392 bytes), too long to show whole. View the lines you \
             need with `view_range`, for example [1, 100].\nIts first 40 lines:\n1: note 1\n2: note 2\n"
            ),
            "{out}"
        );
        assert!(out.ends_with("\n40: note 40"), "{out}");
        // Short files are shown whole.
        write(&ws, "short.rs", "fn a() {}\n");
        assert_eq!(ok(&ws, json!({"command": "view", "path": "short.rs"})), "1: fn a() {}");
    }

    #[test]
    fn view_lists_a_directory_two_levels_deep_without_ignored_git_or_secret_files() {
        let (_dir, ws) = workspace();
        write(&ws, ".gitignore", "target/\n");
        write(&ws, "target/debug/app", "binary");
        write(&ws, "src/deep/deeper/x.rs", "");
        write(&ws, "src/id_rsa", "secret");
        write(&ws, "config/.env.production", "secret");
        write(&ws, "config/app.toml", "");
        assert_eq!(
            ok(&ws, json!({"command": "view", "path": "."})),
            "Here are the files and directories up to 2 levels deep in `.`, excluding ignored and secret files:\n\
             .gitignore\n.mmm/\n.mmm/config.toml\nconfig/\nconfig/app.toml\nsrc/\nsrc/deep/\nsrc/main.rs"
        );
        assert_eq!(
            ok(&ws, json!({"command": "view", "path": "src/deep"})),
            "Here are the files and directories up to 2 levels deep in `src/deep`, excluding ignored and secret files:\n\
             src/deep/deeper/\nsrc/deep/deeper/x.rs"
        );
    }

    #[test]
    fn create_writes_new_files_with_parents_and_overwrites_keeping_crlf_and_mode() {
        let (_dir, ws) = workspace();
        assert_eq!(
            run(&ws, json!({"command": "create", "path": "new/dir/lib.rs", "file_text": "pub fn f() {}\n"})),
            ToolReply {
                content: "File created successfully at: new/dir/lib.rs".into(),
                is_error: false,
                path: Some("new/dir/lib.rs".into()),
                changed: Some(PathBuf::from("new/dir/lib.rs")),
                fatal: None,
                lines: Some(LineCounts { added: 1, removed: 0 }),
                hits: None,
                viewed: None,
            }
        );
        assert_eq!(read(&ws, "new/dir/lib.rs"), "pub fn f() {}\n");
        write(&ws, "win.txt", "a\r\nb\r\n");
        assert_eq!(
            ok(&ws, json!({"command": "create", "path": "win.txt", "file_text": "c\nd\n"})),
            "The file `win.txt` has been overwritten."
        );
        assert_eq!(read(&ws, "win.txt"), "c\r\nd\r\n");
        assert_eq!(
            err(&ws, json!({"command": "create", "path": "src", "file_text": "x"})),
            "Error: `src` is a directory; give the path of a file to create."
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |rel: &str| std::fs::metadata(ws.root().join(rel)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode("new/dir/lib.rs"), 0o644);
            write(&ws, "run.sh", "#!/bin/sh\n");
            std::fs::set_permissions(ws.root().join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
            ok(&ws, json!({"command": "str_replace", "path": "run.sh", "old_str": "sh", "new_str": "bash"}));
            assert_eq!(mode("run.sh"), 0o755);
        }
    }

    #[test]
    fn str_replace_needs_exactly_one_match() {
        let (_dir, ws) = workspace();
        write(&ws, "a.rs", "fn a() {}\nfn b() {}\nfn c() {}\n");
        assert_eq!(
            err(&ws, json!({"command": "str_replace", "path": "a.rs", "old_str": "fn d", "new_str": "x"})),
            "Error: No match found for replacement. Please check your text and try again."
        );
        assert_eq!(
            err(&ws, json!({"command": "str_replace", "path": "a.rs", "old_str": "() {}", "new_str": "x"})),
            "Error: Found 3 matches for replacement text. Please provide more context to make a unique match."
        );
        assert_eq!(
            err(&ws, json!({"command": "str_replace", "path": "a.rs", "old_str": "", "new_str": "x"})),
            "Error: `old_str` is empty. Give the exact text to replace, with enough context to make it unique."
        );
        assert_eq!(
            err(&ws, json!({"command": "str_replace", "path": "a.rs", "old_str": "fn a"})),
            "Error: Invalid input for str_replace_based_edit_tool: missing field `new_str`."
        );
        assert_eq!(read(&ws, "a.rs"), "fn a() {}\nfn b() {}\nfn c() {}\n");
        assert_eq!(
            ok(
                &ws,
                json!({"command": "str_replace", "path": "a.rs", "old_str": "fn b() {}\n", "new_str": "fn b() {\n    1\n}\n"})
            ),
            "The file `a.rs` has been edited. Lines 1-5 now read:\n1: fn a() {}\n2: fn b() {\n3:     1\n4: }\n5: fn c() {}"
        );
        assert_eq!(read(&ws, "a.rs"), "fn a() {}\nfn b() {\n    1\n}\nfn c() {}\n");
        assert_eq!(
            run(&ws, json!({"command": "str_replace", "path": "a.rs", "old_str": "fn a", "new_str": "fn a"})).changed,
            None
        );
    }

    #[test]
    fn str_replace_keeps_crlf_and_a_missing_final_newline() {
        let (_dir, ws) = workspace();
        write(&ws, "win.txt", "alpha\r\nbeta\r\ngamma");
        ok(
            &ws,
            json!({"command": "str_replace", "path": "win.txt", "old_str": "alpha\nbeta", "new_str": "alpha\nBETA\nextra"}),
        );
        assert_eq!(read(&ws, "win.txt"), "alpha\r\nBETA\r\nextra\r\ngamma");
        ok(&ws, json!({"command": "str_replace", "path": "win.txt", "old_str": "gamma", "new_str": "delta"}));
        assert_eq!(read(&ws, "win.txt"), "alpha\r\nBETA\r\nextra\r\ndelta");
    }

    #[test]
    fn insert_accepts_both_field_names_and_checks_the_line() {
        let (_dir, ws) = workspace();
        write(&ws, "a.txt", "one\ntwo\n");
        assert_eq!(
            ok(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": 0, "insert_text": "zero"})),
            "The file `a.txt` has been edited: the text was inserted after line 0. Lines 1-3 now read:\n1: zero\n2: one\n3: two"
        );
        ok(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": 3, "new_str": "three\nfour\n"}));
        assert_eq!(read(&ws, "a.txt"), "zero\none\ntwo\nthree\nfour\n");
        ok(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": 1, "insert_text": "half"}));
        assert_eq!(read(&ws, "a.txt"), "zero\nhalf\none\ntwo\nthree\nfour\n");
        assert_eq!(
            err(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": 7, "insert_text": "x"})),
            "Error: Invalid `insert_line` 7: it must be between 0 (the start of the file) and 6 (the number of lines in the file)."
        );
        assert_eq!(
            err(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": -1, "insert_text": "x"})),
            "Error: Invalid `insert_line` -1: it must be between 0 (the start of the file) and 6 (the number of lines in the file)."
        );
        assert_eq!(
            err(&ws, json!({"command": "insert", "path": "a.txt", "insert_line": 1})),
            "Error: Invalid input for insert: missing field `insert_text` (the text to insert)."
        );
        // After a last line without a newline, the file still ends without one; CRLF stays.
        write(&ws, "b.txt", "x\r\ny");
        ok(&ws, json!({"command": "insert", "path": "b.txt", "insert_line": 2, "insert_text": "z\n"}));
        assert_eq!(read(&ws, "b.txt"), "x\r\ny\r\nz");
        write(&ws, "empty.txt", "");
        ok(&ws, json!({"command": "insert", "path": "empty.txt", "insert_line": 0, "insert_text": "first"}));
        assert_eq!(read(&ws, "empty.txt"), "first\n");
    }

    #[test]
    fn malformed_input_is_an_error_result_naming_the_problem() {
        let (_dir, ws) = workspace();
        for (input, expected) in [
            (json!({"path": "a"}), "missing field `command`"),
            (
                json!({"command": "undo_edit", "path": "a"}),
                "unknown variant `undo_edit`, expected one of `view`, `create`, `str_replace`, `insert`",
            ),
            (json!({"command": "view"}), "missing field `path`"),
            (json!({"command": "view", "path": 5}), "invalid type: integer `5`, expected a string"),
            (json!({"command": "create", "path": "a"}), "missing field `file_text`"),
            (
                json!({"command": "insert", "path": "a", "insert_line": "1", "insert_text": "x"}),
                "invalid type: string \"1\", expected i64",
            ),
            (json!("view a.txt"), "invalid type: string \"view a.txt\", expected internally tagged enum Command"),
            (json!(null), "invalid type: null, expected internally tagged enum Command"),
        ] {
            assert_eq!(
                run(&ws, input),
                ToolReply::error(format!("Error: Invalid input for str_replace_based_edit_tool: {expected}."))
            );
        }
    }

    #[test]
    fn refused_paths_are_error_results_and_leave_files_alone() {
        let (_dir, ws) = workspace();
        for (input, expected) in [
            (
                json!({"command": "view", "path": ".env"}),
                "Error: Permission denied. `.env` is a secret file and cannot be read or edited.",
            ),
            (
                json!({"command": "str_replace", "path": ".env", "old_str": "hunter2", "new_str": "x"}),
                "Error: Permission denied. `.env` is a secret file and cannot be read or edited.",
            ),
            (
                json!({"command": "create", "path": "../escape.txt", "file_text": "x"}),
                "Error: Permission denied. `../escape.txt` is outside the repository.",
            ),
            (
                json!({"command": "insert", "path": ".git/config", "insert_line": 0, "insert_text": "x"}),
                "Error: Permission denied. `.git/config` is inside a `.git` directory, which the tools cannot read or edit.",
            ),
            (
                json!({"command": "view", "path": "sub/../.git/HEAD"}),
                "Error: Permission denied. `sub/../.git/HEAD` is inside a `.git` directory, which the tools cannot read or edit.",
            ),
        ] {
            let outcome = run(&ws, input.clone());
            assert_eq!(
                (outcome.content.as_str(), outcome.is_error, outcome.changed),
                (expected, true, None),
                "{input}"
            );
        }
        assert_eq!(read(&ws, ".env"), "API_KEY=hunter2-very-secret\n");
        assert_eq!(read(&ws, ".git/config"), "[core]\n");
        assert!(!ws.root().parent().unwrap().join("escape.txt").exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_workspace_are_refused_for_every_command() {
        let (_dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("target.txt"), "outside\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("target.txt"), ws.root().join("out.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.root().join("outdir")).unwrap();
        for input in [
            json!({"command": "view", "path": "out.txt"}),
            json!({"command": "str_replace", "path": "out.txt", "old_str": "outside", "new_str": "x"}),
            json!({"command": "create", "path": "outdir/new.txt", "file_text": "x"}),
            json!({"command": "view", "path": "outdir"}),
        ] {
            assert!(err(&ws, input).contains("leads outside the repository through a symbolic link"));
        }
        assert_eq!(std::fs::read_to_string(outside.path().join("target.txt")).unwrap(), "outside\n");
        assert!(!outside.path().join("new.txt").exists());
    }
}
