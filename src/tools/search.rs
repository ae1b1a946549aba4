//! The read-only `search` tool: a regular expression over the repository's files.
//!
//! The model finds code with it before viewing or editing. The walk honours `.gitignore`
//! (and `.ignore`) whatever the glob, skips `.git`, mmm's own `.mmm/` (sessions hold past
//! conversations), secret files, symbolic links, binary files and files over 1 MiB, and visits files in name order, so results are stable. At most 100 matching
//! lines are returned as `path:line: text`, long lines shortened, with a note when there
//! were more; the result is redacted. This tool never writes anything.

use std::path::Path;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::workspace::{Intent, ToolError, Workspace};
use super::{Hits, SEARCH_TOOL_NAME, ToolReply};
use crate::redact::redact;

/// The most matching lines returned.
const MAX_MATCHES: usize = 100;
/// Files larger than this are skipped.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A matching line is shortened to this many characters.
const MAX_LINE_CHARS: usize = 300;
/// Bound on the compiled regex, so a pathological pattern is an error, not a stall.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Deserialize)]
struct Input {
    pattern: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    glob: Option<String>,
    #[serde(default)]
    case_insensitive: Option<bool>,
}

/// The tool definition sent in the request's `tools` array.
pub fn definition() -> Value {
    json!({
        "name": SEARCH_TOOL_NAME,
        "description": "Search the repository's files for a regular expression (Rust regex syntax; `^` and `$` match \
            at line starts and ends). Returns matching lines as `path:line: text`, at most 100, in file name order. \
            Files ignored by .gitignore, the .git directory, secret files, binary files and files over 1 MiB are \
            skipped. Read-only: use it to find code before viewing or editing it.",
        "input_schema": {
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": "The regular expression to search for, e.g. `fn\\s+parse_` or `TODO|FIXME`."
                },
                "path": {
                    "type": "string",
                    "description": "A directory or file to search, relative to the repository root. Default: the whole repository."
                },
                "glob": {
                    "type": "string",
                    "description": "Only search files matching this glob, relative to `path`, e.g. `*.rs` or `src/**/*.ts`."
                },
                "case_insensitive": {
                    "type": "boolean",
                    "description": "Match without regard to case. Default: false."
                }
            },
            "required": ["pattern"]
        }
    })
}

/// Runs one search. Never panics on any input; failures are error results.
pub fn execute(ws: &Workspace, input: &Value) -> ToolReply {
    let input = match Input::deserialize(input) {
        Ok(input) => input,
        Err(err) => return ToolReply::error(format!("Error: Invalid input for {SEARCH_TOOL_NAME}: {err}.")),
    };
    let requested = input.path.as_deref().unwrap_or(".");
    let start = match ws.resolve(requested, Intent::Read) {
        Ok(start) => start,
        Err(err) => return ToolReply::from(err).with_path(requested),
    };
    let shown = ws.display(&start);
    match search(ws, &start, &input) {
        Ok((content, hits)) => ToolReply { hits: Some(hits), ..ToolReply::ok(content).with_path(shown) },
        Err(err) => ToolReply::from(err).with_path(shown),
    }
}

fn search(ws: &Workspace, start: &Path, input: &Input) -> Result<(String, Hits), ToolError> {
    if !start.exists() {
        return Err(ToolError::new(format!("Error: `{}` does not exist.", ws.display(start))));
    }
    let regex = RegexBuilder::new(&input.pattern)
        .multi_line(true)
        .case_insensitive(input.case_insensitive.unwrap_or(false))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|err| ToolError::new(format!("Error: Invalid regular expression `{}`: {err}", input.pattern)))?;
    let mut walk = ignore::WalkBuilder::new(start);
    walk.hidden(false).sort_by_file_name(|a, b| a.cmp(b));
    // The glob narrows the walk's files; it is not given to the walker as an override,
    // because an override's match would also re-admit gitignored files.
    let glob = match &input.glob {
        Some(glob) => {
            let mut builder = ignore::overrides::OverrideBuilder::new(start);
            builder.add(glob).map_err(|err| ToolError::new(format!("Error: Invalid glob `{glob}`: {err}")))?;
            Some(builder.build().map_err(|err| ToolError::new(format!("Error: Invalid glob `{glob}`: {err}")))?)
        }
        None => None,
    };
    let filter_ws = ws.clone();
    walk.filter_entry(move |entry| {
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        !filter_ws.is_hidden(entry.path(), is_dir) && !filter_ws.is_own_state(entry.path())
    });

    let mut results = Vec::new();
    let mut capped = false;
    for entry in walk.build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue; // directories, and symbolic links, which could lead anywhere
        }
        if glob.as_ref().is_some_and(|glob| !glob.matched(entry.path(), false).is_whitelist()) {
            continue;
        }
        if entry.metadata().map_or(true, |m| m.len() > MAX_FILE_BYTES) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        if bytes.contains(&0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        if !search_file(&regex, &text, &ws.display(entry.path()), &mut results) {
            capped = true;
            break;
        }
    }
    let hits = Hits { count: results.len() as u64, capped };
    if results.is_empty() {
        return Ok((format!("No matches found for `{}`.", input.pattern), hits));
    }
    let mut out = results.join("\n");
    if capped {
        out.push_str(&format!(
            "\n[... results capped at {MAX_MATCHES} matches; narrow the pattern, path or glob to see the rest ...]"
        ));
    }
    Ok((redact(&out).into_owned(), hits))
}

/// Appends one `path:line: text` per line of `text` with a match; false when the cap was
/// reached with more matches left.
fn search_file(regex: &Regex, text: &str, shown: &str, results: &mut Vec<String>) -> bool {
    let mut line_number = 1;
    let mut counted_to = 0;
    let mut last_line = 0;
    for found in regex.find_iter(text) {
        line_number += text[counted_to..found.start()].matches('\n').count();
        counted_to = found.start();
        if line_number == last_line {
            continue;
        }
        if results.len() == MAX_MATCHES {
            return false;
        }
        last_line = line_number;
        let line_start = text[..found.start()].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[found.start()..].find('\n').map_or(text.len(), |i| found.start() + i);
        let line = text[line_start..line_end].trim_end_matches('\r');
        let line = match line.char_indices().nth(MAX_LINE_CHARS) {
            Some((cut, _)) => format!("{} [... line shortened]", &line[..cut]),
            None => line.to_string(),
        };
        results.push(format!("{shown}:{line_number}: {line}"));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::workspace::tests::workspace;

    fn write(ws: &Workspace, rel: &str, text: &[u8]) {
        let path = ws.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn search_ok(ws: &Workspace, input: Value) -> String {
        let outcome = execute(ws, &input);
        assert!(!outcome.is_error, "{input}: {}", outcome.content);
        outcome.content
    }

    #[test]
    fn finds_matching_lines_in_name_order_skipping_what_must_not_be_seen() {
        let (_dir, ws) = workspace();
        write(&ws, ".gitignore", b"target/\n");
        write(&ws, "src/lib.rs", b"// token here\nfn token() {}\r\n");
        write(&ws, "target/out.rs", b"token in ignored output\n");
        write(&ws, "src/blob.bin", b"token\0binary");
        write(&ws, "config/.env.local", b"token=secret\n");
        write(&ws, "keys/deploy.pem", b"token\n");
        write(&ws, "big.txt", format!("token\n{}", "x".repeat(1024 * 1024)).as_bytes());
        write(&ws, ".git/COMMIT_EDITMSG", b"token\n");
        write(&ws, "docs/a.md", b"Token (capitalised)\n");
        write(&ws, ".mmm/sessions/s1/transcript.jsonl", b"{\"text\": \"token\"}\n");
        write(&ws, "deploy/.ENV", b"token=SECRET\n");
        write(&ws, "home/.ssh/config", b"token\n");
        assert_eq!(
            execute(&ws, &json!({"pattern": "token"})),
            ToolReply {
                hits: Some(Hits { count: 2, capped: false }),
                ..ToolReply::ok("src/lib.rs:1: // token here\nsrc/lib.rs:2: fn token() {}").with_path(".")
            }
        );
        assert_eq!(
            search_ok(&ws, json!({"pattern": "^token", "case_insensitive": true})),
            "docs/a.md:1: Token (capitalised)"
        );
        assert_eq!(
            search_ok(&ws, json!({"pattern": "fn \\w+", "path": "src"})),
            "src/lib.rs:2: fn token() {}\nsrc/main.rs:1: fn main() {}"
        );
        assert_eq!(search_ok(&ws, json!({"pattern": "token", "glob": "*.md"})), "No matches found for `token`.");
        assert_eq!(search_ok(&ws, json!({"pattern": "(?i)token", "glob": "*.md"})), "docs/a.md:1: Token (capitalised)");
        assert_eq!(search_ok(&ws, json!({"pattern": "token", "path": "src/lib.rs"})).lines().count(), 2);
        // A glob that matches everything still honours .gitignore, secrets and `.mmm/`.
        for glob in ["**", "**/*", "*", ".mmm/**", "target/*"] {
            assert_eq!(
                search_ok(&ws, json!({"pattern": "token", "glob": glob})),
                if glob.starts_with('*') {
                    "src/lib.rs:1: // token here\nsrc/lib.rs:2: fn token() {}"
                } else {
                    "No matches found for `token`."
                },
                "glob {glob}"
            );
        }
    }

    #[test]
    fn results_are_capped_shortened_and_redacted() {
        let (_dir, ws) = workspace();
        let many: String = (1..=150).map(|n| format!("hit {n}\n")).collect();
        write(&ws, "many.txt", many.as_bytes());
        let out = search_ok(&ws, json!({"pattern": "hit"}));
        assert_eq!(out.lines().count(), 101);
        assert!(out.starts_with("many.txt:1: hit 1\nmany.txt:2: hit 2\n"));
        assert!(out.ends_with(
            "many.txt:100: hit 100\n[... results capped at 100 matches; narrow the pattern, path or glob to see the rest ...]"
        ));
        write(
            &ws,
            "wide.txt",
            format!("needle {}\nneedle ghp_1234567890abcdefghijABCDEFGHIJ123456\n", "y".repeat(400)).as_bytes(),
        );
        assert_eq!(
            search_ok(&ws, json!({"pattern": "needle"})),
            format!(
                "wide.txt:1: needle {} [... line shortened]\nwide.txt:2: needle [REDACTED:github-token]",
                "y".repeat(293)
            )
        );
    }

    #[test]
    fn bad_input_and_forbidden_paths_are_error_results() {
        let (_dir, ws) = workspace();
        let error = |input: Value| {
            let outcome = execute(&ws, &input);
            assert!(outcome.is_error);
            outcome.content
        };
        assert_eq!(
            error(json!({"pattern": "("})),
            "Error: Invalid regular expression `(`: regex parse error:\n    (\n    ^\nerror: unclosed group"
        );
        assert_eq!(error(json!({})), "Error: Invalid input for search: missing field `pattern`.");
        assert_eq!(
            error(json!({"pattern": "x", "case_insensitive": "yes"})),
            "Error: Invalid input for search: invalid type: string \"yes\", expected a boolean."
        );
        assert_eq!(error(json!({"pattern": "x", "glob": "a{"})).split(':').next(), Some("Error"));
        assert_eq!(error(json!({"pattern": "x", "path": "nope"})), "Error: `nope` does not exist.");
        assert_eq!(
            error(json!({"pattern": "hunter2", "path": ".env"})),
            "Error: Permission denied. `.env` is a secret file and cannot be read or edited."
        );
        assert_eq!(
            error(json!({"pattern": "x", "path": "../"})),
            "Error: Permission denied. `../` is outside the repository."
        );
        assert!(error(json!({"pattern": "core", "path": ".git"})).contains("inside a `.git` directory"));
        assert_eq!(search_ok(&ws, json!({"pattern": "hunter2"})), "No matches found for `hunter2`.");
    }

    #[test]
    fn ignore_files_above_the_repository_do_not_apply() {
        let outer = tempfile::tempdir().unwrap();
        std::fs::write(outer.path().join(".gitignore"), "*.txt\n").unwrap();
        let root = outer.path().join("repo");
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".gitignore"), "skipped.txt\n").unwrap();
        std::fs::write(root.join("found.txt"), "needle\n").unwrap();
        std::fs::write(root.join("skipped.txt"), "needle\n").unwrap();
        let ws = Workspace::new(&root, crate::secrets::SecretFiles::new(&root, &[]).unwrap()).unwrap();
        assert_eq!(search_ok(&ws, json!({"pattern": "needle"})), "found.txt:1: needle");
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_not_followed() {
        let (_dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "needle outside\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.root().join("outdir")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), ws.root().join("out.txt")).unwrap();
        std::os::unix::fs::symlink(ws.root().join(".env"), ws.root().join("env-link")).unwrap();
        assert_eq!(search_ok(&ws, json!({"pattern": "needle|hunter2"})), "No matches found for `needle|hunter2`.");
        assert!(execute(&ws, &json!({"pattern": "needle", "path": "outdir"})).is_error);
    }

    #[test]
    fn the_definition_is_a_custom_tool_with_a_schema() {
        let def = definition();
        assert_eq!(def["name"], "search");
        assert!(def["description"].as_str().unwrap().len() > 50);
        assert_eq!(
            def["input_schema"]["properties"].as_object().unwrap().keys().collect::<Vec<_>>(),
            ["case_insensitive", "glob", "path", "pattern"]
        );
    }
}
