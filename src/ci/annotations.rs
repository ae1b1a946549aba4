//! GitHub annotations from a failing check's output: `::error file=src/a.rs,line=3::...`
//! lines that GitHub shows on the job and beside the code in a pull request.
//!
//! The output is parsed, not trusted: each parser recognises one tool's way of naming a file
//! and line (rustc and cargo, Rust test panics, pytest, ESLint, tsc, go build, vet and test,
//! and the `file:line:col: message` form that gcc, clang and many linters share). Lines no
//! parser recognises are ignored; when none names a file and line, the tail of the output
//! becomes one warning, so a failure is never silent. This module only turns text into
//! annotations; it never runs anything and never writes them (the caller prints them).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// How many annotations to emit by default: GitHub shows at most 10 error annotations (and
/// 10 warnings) per step.
pub const MAX_ANNOTATIONS: usize = 10;

/// Non-empty lines of output in the warning used when no file and line were found.
const FALLBACK_LINES: usize = 20;

/// Lines of one diagnostic (a rustc error with its code frame, a test's assertion) kept in
/// its message.
const MAX_MESSAGE_LINES: usize = 20;

/// An annotation's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Error => "error",
            Level::Warning => "warning",
        })
    }
}

/// One GitHub annotation. Its [`Display`](fmt::Display) is the workflow command that
/// creates it, e.g. `::error file=src/a.rs,line=3,col=5,title=cargo test::mismatched types`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Annotation {
    pub level: Level,
    /// As the tool printed it, without a leading `./`. Relative paths are relative to the
    /// directory the check ran in; GitHub maps absolute paths inside the workspace itself.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub col: Option<u32>,
    /// The check's command.
    pub title: Option<String>,
    pub message: String,
}

impl fmt::Display for Annotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "::{}", self.level)?;
        let (line, col) = (self.line.map(|n| n.to_string()), self.col.map(|n| n.to_string()));
        let properties = [
            ("file", self.file.as_deref()),
            ("line", line.as_deref()),
            ("col", col.as_deref()),
            ("title", self.title.as_deref()),
        ];
        let mut separator = ' ';
        for (name, value) in properties {
            if let Some(value) = value {
                write!(f, "{separator}{name}={}", escape(value, true))?;
                separator = ',';
            }
        }
        write!(f, "::{}", escape(&self.message, false))
    }
}

/// Escapes text for a workflow command as GitHub's toolkit does: `%`, CR and LF always, and
/// `:` and `,` too in a property value.
fn escape(text: &str, property: bool) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '%' | '\r' | '\n') || (property && matches!(c, ':' | ','));
    if !text.contains(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The annotations for a failing check: `command` is what ran (it becomes each title) and
/// `output` what it printed. Terminal colours are ignored. Errors come before warnings,
/// each in the order the output shows them; identical annotations appear once; at most
/// `max` are returned (see [`MAX_ANNOTATIONS`]). When no parser finds a file in the output,
/// the result is one warning whose message is the last 20 non-empty lines.
///
/// Recognised forms:
/// - rustc and cargo: an `error[E0308]: ...` or `warning: ...` line followed by
///   `--> src/main.rs:3:5`; the message is the whole diagnostic, code frame included;
/// - Rust test panics: `thread 'tests::adds' panicked at src/lib.rs:10:5:` and the lines
///   after it (and the older `panicked at 'message', src/lib.rs:10:5`);
/// - pytest: per failure section, the deepest `tests/test_x.py:12: AssertionError` frame
///   in the project with the section's `E` lines, or a `--tb=line` line; and the
///   `FAILED tests/test_x.py::test_name - ...` summary for failures without a traceback
///   (those name a file but no line);
/// - ESLint: the stylish format (a path line, then `  12:5  error  Message  rule` lines),
///   the unix format (`file:12:5: Message [Error/rule]`) and the compact format
///   (`file: line 12, col 5, Error - Message (rule)`);
/// - tsc: `src/a.ts(12,5): error TS2322: ...` and `src/a.ts:12:5 - error TS2322: ...`,
///   with the indented lines that elaborate on it;
/// - go: `./main.go:12:5: undefined: x` from go build and vet, and `main_test.go:15: ...`
///   logged by a test that `--- FAIL`s (go test prints the file name only, relative to
///   the package directory);
/// - the common `file:line:col: message` form (gcc, clang and many linters), where a
///   message starting with `warning` is a warning and one starting with `note` is skipped.
pub fn annotations(command: &str, output: &str, max: usize) -> Vec<Annotation> {
    let output = super::strip_ansi(output);
    let lines: Vec<&str> = output.lines().map(str::trim_end).collect();
    let mut found = Found::default();
    for parse in [rust, pytest, eslint_stylish, tsc, go_test, colon_format] {
        parse(&lines, &mut found);
    }
    let title = Some(command.trim()).filter(|c| !c.is_empty()).map(str::to_string);
    if found.0.is_empty() {
        let fallback = Annotation {
            level: Level::Warning,
            file: None,
            line: None,
            col: None,
            title,
            message: tail(command, &lines),
        };
        return [fallback].into_iter().take(max).collect();
    }
    found.0.sort_by_key(|(at, a)| (a.level, *at));
    let mut kept: Vec<Annotation> = Vec::with_capacity(max.min(found.0.len()));
    for (_, mut annotation) in found.0 {
        if kept.len() == max {
            break;
        }
        annotation.title.clone_from(&title);
        if !kept.contains(&annotation) {
            kept.push(annotation);
        }
    }
    kept
}

/// What the parsers found: each annotation with the index of the output line it came from.
#[derive(Default)]
struct Found(Vec<(usize, Annotation)>);

impl Found {
    /// Records an annotation for `file` (as printed) at line `at` of the output. Line and
    /// column 0 mean "none" (ESLint reports file-level problems at 0:0).
    fn add(&mut self, at: usize, level: Level, file: &str, line: Option<&str>, col: Option<&str>, message: String) {
        let number = |n: Option<&str>| n.and_then(|n| n.parse::<u32>().ok()).filter(|&n| n > 0);
        let annotation =
            Annotation { level, file: Some(path(file)), line: number(line), col: number(col), title: None, message };
        self.0.push((at, annotation));
    }
}

/// A path as GitHub wants it: without a leading `./`, with `/` separators when relative.
/// Absolute paths are kept as they are: GitHub makes those inside the workspace relative.
fn path(raw: &str) -> String {
    let mut p = raw.trim();
    while let Some(rest) = p.strip_prefix("./").or_else(|| p.strip_prefix(".\\")) {
        p = rest;
    }
    if is_absolute(p) { p.to_string() } else { p.replace('\\', "/") }
}

/// `/src/a.rs`, `\\server\share\a.rs`, `C:\src\a.rs`, `C:/src/a.rs`.
fn is_absolute(p: &str) -> bool {
    let bytes = p.as_bytes();
    p.starts_with(['/', '\\']) || (bytes.len() > 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
}

/// The fallback message: the last non-empty lines of the output.
fn tail(command: &str, lines: &[&str]) -> String {
    let mut tail: Vec<&str> =
        lines.iter().rev().filter(|l| !l.trim().is_empty()).take(FALLBACK_LINES).copied().collect();
    if tail.is_empty() {
        return format!("`{}` failed without printing anything", command.trim());
    }
    tail.reverse();
    tail.join("\n")
}

/// `lines[from..]` up to (not including) the first line for which `part` is false, at most
/// [`MAX_MESSAGE_LINES`] lines.
fn run_of<'l, 'a>(lines: &'l [&'a str], from: usize, part: impl Fn(&str) -> bool) -> &'l [&'a str] {
    let rest = lines.get(from..).unwrap_or_default();
    let end = rest.iter().take(MAX_MESSAGE_LINES).position(|l| !part(l)).unwrap_or(rest.len().min(MAX_MESSAGE_LINES));
    &rest[..end]
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the annotation patterns are valid")
}

fn group<'t>(c: &Captures<'t>, i: usize) -> Option<&'t str> {
    c.get(i).map(|m| m.as_str())
}

// rustc, cargo and Rust tests.

static RUST_HEADER: LazyLock<Regex> = LazyLock::new(|| regex(r"^(error|warning)(?:\[[^\]]+\])?: \S"));
static RUST_ARROW: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*--> (.+):(\d+):(\d+)$"));
static RUST_PANIC: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^thread '([^']*)'(?: \(\d+\))? panicked at (.+):(\d+):(\d+):$"));
static RUST_PANIC_OLD: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^thread '([^']*)'(?: \(\d+\))? panicked at '(.*)', (.+):(\d+):(\d+)$"));

fn rust(lines: &[&str], found: &mut Found) {
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = RUST_HEADER.captures(line) {
            let Some(arrow) = lines.get(i + 1).and_then(|l| RUST_ARROW.captures(l)) else { continue };
            let level = if &c[1] == "error" { Level::Error } else { Level::Warning };
            let message = run_of(lines, i, |l| !l.is_empty()).join("\n");
            found.add(i, level, &arrow[1], group(&arrow, 2), group(&arrow, 3), message);
        } else if let Some(c) = RUST_PANIC.captures(line) {
            let body = run_of(lines, i + 1, |l| !l.is_empty() && !l.starts_with("note: ")).join("\n");
            let message =
                if body.is_empty() { format!("{} panicked", &c[1]) } else { format!("{} panicked: {body}", &c[1]) };
            found.add(i, Level::Error, &c[2], group(&c, 3), group(&c, 4), message);
        } else if let Some(c) = RUST_PANIC_OLD.captures(line) {
            found.add(i, Level::Error, &c[3], group(&c, 4), group(&c, 5), format!("{} panicked: {}", &c[1], &c[2]));
        }
    }
}

// pytest.

/// `____ test_name ____`: the start of one failure's report.
static PY_SECTION: LazyLock<Regex> = LazyLock::new(|| regex(r"^_{3,} (.+?) _{3,}$"));
/// `==== short test summary info ====` and the like: the end of the failure reports.
static PY_BANNER: LazyLock<Regex> = LazyLock::new(|| regex(r"^={3,}(?: .* )?={3,}$"));
/// `tests/test_x.py:12: AssertionError` (or `: in test_x` for an outer frame).
static PY_LOCATION: LazyLock<Regex> = LazyLock::new(|| regex(r"^(\S+\.py):(\d+):(?: (.*))?$"));
/// `E       AssertionError: assert 1 == 2`.
static PY_E: LazyLock<Regex> = LazyLock::new(|| regex(r"^E( +)(.*)$"));
/// `FAILED tests/test_x.py::TestX::test_y[1] - AssertionError: ...` and `ERROR tests/test_x.py`.
static PY_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:FAILED|ERROR) ([^\s:]+\.py)(?:::(.+?))?(?: - (.*))?$"));

fn pytest(lines: &[&str], found: &mut Found) {
    let mut sections: Vec<&str> = Vec::new();
    let mut open: Option<(&str, usize)> = None;
    let mut one_line_tracebacks = false;
    for (i, line) in lines.iter().enumerate() {
        let header = PY_SECTION.captures(line).map(|c| c.get(1).map_or("", |m| m.as_str()));
        if header.is_some() || PY_BANNER.is_match(line) {
            if let Some((name, start)) = open.take() {
                pytest_section(lines, name, start, i, found);
                sections.push(name);
            }
            open = header.map(|name| (name, i + 1));
        } else if open.is_none() {
            // `--tb=line`: one line per failure, outside any section.
            let Some(c) = PY_LOCATION.captures(line) else { continue };
            let Some(message) = group(&c, 3).filter(|m| !m.is_empty() && !m.starts_with("in ")) else { continue };
            found.add(i, Level::Error, &c[1], group(&c, 2), None, message.to_string());
            one_line_tracebacks = true;
        }
    }
    if let Some((name, start)) = open {
        pytest_section(lines, name, start, lines.len(), found);
        sections.push(name);
    }
    if one_line_tracebacks {
        // The summary names the same failures again, without their lines.
        return;
    }
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = PY_SUMMARY.captures(line) else { continue };
        let test = group(&c, 2).map(|t| t.replace("::", "."));
        let name = test.as_deref().unwrap_or(&c[1]);
        // A section is named for the test (`TestX.test_y`), or says what failed around it
        // (`ERROR at setup of test_y`, `ERROR collecting tests/test_x.py`).
        if sections.iter().any(|s| *s == name || s.strip_suffix(name).is_some_and(|s| s.ends_with(' '))) {
            continue;
        }
        let message = match group(&c, 3) {
            Some(reason) => format!("{name}: {reason}"),
            None => format!("{name} failed"),
        };
        found.add(i, Level::Error, &c[1], None, None, message);
    }
}

/// One failure section `lines[start..end]` named `name`: an annotation at its deepest frame
/// in the project (the last relative location; else the last location), with its `E` lines.
fn pytest_section(lines: &[&str], name: &str, start: usize, end: usize, found: &mut Found) {
    let locations: Vec<(usize, Captures<'_>)> =
        (start..end).filter_map(|i| PY_LOCATION.captures(lines[i]).map(|c| (i, c))).collect();
    let deepest = locations.iter().rev().find(|(_, c)| !is_absolute(&c[1])).or(locations.last());
    let Some((at, location)) = deepest else { return };
    let errors: Vec<(usize, &str)> = lines[start..end]
        .iter()
        .filter_map(|l| PY_E.captures(l).map(|c| (c[1].len(), c.get(2).map_or("", |m| m.as_str()))))
        .take(MAX_MESSAGE_LINES)
        .collect();
    let indent = errors.iter().map(|(n, _)| *n).min().unwrap_or(0);
    let body = if errors.is_empty() {
        group(location, 3).filter(|m| !m.is_empty()).unwrap_or("failed").to_string()
    } else {
        let lines: Vec<String> = errors.iter().map(|(n, text)| format!("{}{text}", " ".repeat(n - indent))).collect();
        lines.join("\n")
    };
    found.add(*at, Level::Error, &location[1], group(location, 2), None, format!("{name}: {body}"));
}

// ESLint's stylish format.

/// `  12:5  error  'x' is assigned a value but never used  no-unused-vars`.
static ESLINT_ENTRY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(\S+))?$"));
/// A line that is only a file path (stylish prints one before that file's problems).
static PATH_LINE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^[^\s✖✔⚠][^:]*\.[A-Za-z0-9]+$|^[A-Za-z]:[\\/].*\.[A-Za-z0-9]+$"));

fn eslint_stylish(lines: &[&str], found: &mut Found) {
    let mut file: Option<&str> = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = ESLINT_ENTRY.captures(line) {
            if let Some(file) = file {
                let level = if &c[3] == "error" { Level::Error } else { Level::Warning };
                found.add(i, level, file, group(&c, 1), group(&c, 2), with_rule(&c[4], group(&c, 5)));
            }
            continue;
        }
        file = PATH_LINE.is_match(line).then_some(*line);
    }
}

/// `Message (rule)`, the way ESLint's other formats show a rule.
fn with_rule(message: &str, rule: Option<&str>) -> String {
    match rule {
        Some(rule) => format!("{message} ({rule})"),
        None => message.to_string(),
    }
}

// tsc (and MSBuild-style compilers that print `file(line,col): error CODE: ...`).

static TSC_PAREN: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(.+?)\((\d+),(\d+)\): (error|warning) ([A-Z]+\d+): (.*)$"));
static TSC_PRETTY: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(.+?):(\d+):(\d+) - (error|warning) ([A-Z]+\d+): (.*)$"));

fn tsc(lines: &[&str], found: &mut Found) {
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = TSC_PAREN.captures(line).or_else(|| TSC_PRETTY.captures(line)) else { continue };
        let level = if &c[4] == "error" { Level::Error } else { Level::Warning };
        let mut message = format!("{}: {}", &c[5], &c[6]);
        for more in run_of(lines, i + 1, |l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
            message.push('\n');
            message.push_str(more.trim());
        }
        found.add(i, level, &c[1], group(&c, 2), group(&c, 3), message);
    }
}

// go test.

/// `--- FAIL: TestX (0.00s)`, indented for subtests.
static GO_VERDICT: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*--- (FAIL|PASS|SKIP): (\S+)"));
/// `=== RUN   TestX` (go test -v): what follows is that test's output.
static GO_RUN: LazyLock<Regex> = LazyLock::new(|| regex(r"^=== (?:RUN|CONT|NAME)\s+(\S+)"));
/// `    main_test.go:15: expected 1, got 2`: a test's `t.Error` or `t.Log`.
static GO_LOG: LazyLock<Regex> = LazyLock::new(|| regex(r"^(\s+)(\S+\.go):(\d+): (.*)$"));

/// Lines a test logs become annotations only when the test fails: `go test` prints them
/// after `--- FAIL`, `go test -v` before it (after `=== RUN`), so those wait for the verdict.
fn go_test(lines: &[&str], found: &mut Found) {
    enum Test<'a> {
        None,
        Running(&'a str),
        Failed(&'a str),
    }
    let mut test = Test::None;
    let mut waiting: HashMap<&str, Vec<(usize, Annotation)>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = GO_VERDICT.captures(line) {
            let name = c.get(2).map_or("", |m| m.as_str());
            let logged = waiting.remove(name).unwrap_or_default();
            if &c[1] == "FAIL" {
                found.0.extend(logged);
                test = Test::Failed(name);
            } else {
                test = Test::None;
            }
        } else if let Some(c) = GO_RUN.captures(line) {
            test = Test::Running(c.get(1).map_or("", |m| m.as_str()));
        } else if let Some(c) = GO_LOG.captures(line) {
            let name = match test {
                Test::Running(name) | Test::Failed(name) => name,
                Test::None => continue,
            };
            let indent = c[1].len();
            let more = run_of(lines, i + 1, |l| l.len() - l.trim_start().len() > indent && !GO_VERDICT.is_match(l));
            let mut message = format!("{name}: {}", &c[4]);
            for line in more {
                message.push('\n');
                message.push_str(line.trim());
            }
            let mut one = Found::default();
            one.add(i, Level::Error, &c[2], group(&c, 3), None, message);
            match test {
                Test::Failed(_) => found.0.extend(one.0),
                _ => waiting.entry(name).or_default().extend(one.0),
            }
        } else if !line.starts_with(char::is_whitespace) && matches!(test, Test::Failed(_)) {
            test = Test::None;
        }
    }
}

// `file:line:col: message`: go build and vet, gcc, clang, ESLint's unix and compact formats.

/// ESLint `-f unix`: `src/a.js:12:5: Message [Error/rule]`.
static ESLINT_UNIX: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(.+?):(\d+):(\d+): (.+) \[(Error|Warning)(?:/([^\]]+))?\]$"));
/// ESLint `-f compact`: `src/a.js: line 12, col 5, Error - Message (rule)`.
static ESLINT_COMPACT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(.+?): line (\d+), col (\d+), (Error|Warning) - (.+)$"));
/// `./main.go:12:5: undefined: x`, with go vet's occasional `vet: ` prefix.
static COLON: LazyLock<Regex> = LazyLock::new(|| regex(r"^(?:vet: )?(\S*?\.[A-Za-z0-9]+):(\d+):(\d+): (.+)$"));

fn colon_format(lines: &[&str], found: &mut Found) {
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = ESLINT_UNIX.captures(line) {
            let level = if &c[5] == "Error" { Level::Error } else { Level::Warning };
            found.add(i, level, &c[1], group(&c, 2), group(&c, 3), with_rule(&c[4], group(&c, 6)));
        } else if let Some(c) = ESLINT_COMPACT.captures(line) {
            let level = if &c[4] == "Error" { Level::Error } else { Level::Warning };
            found.add(i, level, &c[1], group(&c, 2), group(&c, 3), c[5].to_string());
        } else if let Some(c) = COLON.captures(line) {
            if c[1].contains("://") || c[4].starts_with("note:") {
                continue;
            }
            let level = if c[4].starts_with("warning") { Level::Warning } else { Level::Error };
            found.add(i, level, &c[1], group(&c, 2), group(&c, 3), c[4].to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(level: Level, title: &str, file: &str, line: u32, col: Option<u32>, message: &str) -> Annotation {
        Annotation {
            level,
            file: Some(file.to_string()),
            line: Some(line).filter(|&l| l > 0),
            col,
            title: Some(title.to_string()),
            message: message.to_string(),
        }
    }

    fn error(title: &str, file: &str, line: u32, col: Option<u32>, message: &str) -> Annotation {
        note(Level::Error, title, file, line, col, message)
    }

    fn warning(title: &str, file: &str, line: u32, col: Option<u32>, message: &str) -> Annotation {
        note(Level::Warning, title, file, line, col, message)
    }

    const CARGO_ERROR: &str = r#"   Compiling demo v0.1.0 (/home/runner/work/demo/demo)
error[E0308]: mismatched types
 --> src/main.rs:3:18
  |
3 |     let x: i32 = "hello";
  |            ---   ^^^^^^^ expected `i32`, found `&str`
  |            |
  |            expected due to this

For more information about this error, try `rustc --explain E0308`.
error: could not compile `demo` (bin "demo") due to 1 previous error
"#;

    #[test]
    fn a_cargo_error_becomes_one_annotation_with_its_whole_diagnostic() {
        let found = annotations("cargo build", CARGO_ERROR, MAX_ANNOTATIONS);
        let message = "error[E0308]: mismatched types\n --> src/main.rs:3:18\n  |\n3 |     let x: i32 = \"hello\";\n  |            ---   ^^^^^^^ expected `i32`, found `&str`\n  |            |\n  |            expected due to this";
        assert_eq!(found, [error("cargo build", "src/main.rs", 3, Some(18), message)]);
        assert_eq!(
            found[0].to_string(),
            "::error file=src/main.rs,line=3,col=18,title=cargo build::error[E0308]: mismatched types%0A --> src/main.rs:3:18%0A  |%0A3 |     let x: i32 = \"hello\";%0A  |            ---   ^^^^^^^ expected `i32`, found `&str`%0A  |            |%0A  |            expected due to this"
        );
    }

    #[test]
    fn rustc_warnings_come_after_errors_and_colours_are_ignored() {
        let output = "\x1b[0m\x1b[1m\x1b[33mwarning\x1b[0m\x1b[0m\x1b[1m: unused variable: `y`\x1b[0m
\x1b[0m \x1b[0m\x1b[0m\x1b[1m\x1b[38;5;12m--> \x1b[0m\x1b[0msrc/lib.rs:2:9\x1b[0m
  |
2 |     let y = 1;
  |         ^ help: if this is intentional, prefix it with an underscore: `_y`
  |
  = note: `#[warn(unused_variables)]` on by default

warning: `demo` (lib) generated 1 warning
error[E0425]: cannot find value `z` in this scope
  --> src/lib.rs:10:5
   |
10 |     z
   |     ^ not found in this scope

error: could not compile `demo` (lib) due to 1 previous error; 1 warning emitted
";
        let found = annotations("cargo clippy --all-targets", output, MAX_ANNOTATIONS);
        let title = "cargo clippy --all-targets";
        assert_eq!(
            found,
            [
                error(
                    title,
                    "src/lib.rs",
                    10,
                    Some(5),
                    "error[E0425]: cannot find value `z` in this scope\n  --> src/lib.rs:10:5\n   |\n10 |     z\n   |     ^ not found in this scope"
                ),
                warning(
                    title,
                    "src/lib.rs",
                    2,
                    Some(9),
                    "warning: unused variable: `y`\n --> src/lib.rs:2:9\n  |\n2 |     let y = 1;\n  |         ^ help: if this is intentional, prefix it with an underscore: `_y`\n  |\n  = note: `#[warn(unused_variables)]` on by default"
                ),
            ]
        );
        assert_eq!(annotations(title, output, 1), found[..1]);
    }

    #[test]
    fn a_rust_test_panic_names_the_test_and_its_assertion() {
        let output = "
running 2 tests
test tests::adds ... FAILED
test tests::parses ... ok

failures:

---- tests::adds stdout ----

thread 'tests::adds' panicked at src/lib.rs:10:5:
assertion `left == right` failed
  left: 4
 right: 5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::adds

test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
";
        assert_eq!(
            annotations("cargo test", output, MAX_ANNOTATIONS),
            [error(
                "cargo test",
                "src/lib.rs",
                10,
                Some(5),
                "tests::adds panicked: assertion `left == right` failed\n  left: 4\n right: 5"
            )]
        );
        // Recent Rust versions print the thread id too.
        let with_id = "thread 'tests::adds' (6484) panicked at src/lib.rs:10:5:\nexplicit panic\n";
        assert_eq!(
            annotations("cargo test", with_id, MAX_ANNOTATIONS),
            [error("cargo test", "src/lib.rs", 10, Some(5), "tests::adds panicked: explicit panic")]
        );
        let old = "thread 'tests::adds' panicked at 'assertion failed: `(left == right)`', src/lib.rs:10:5\n";
        assert_eq!(
            annotations("cargo test", old, MAX_ANNOTATIONS),
            [error(
                "cargo test",
                "src/lib.rs",
                10,
                Some(5),
                "tests::adds panicked: assertion failed: `(left == right)`"
            )]
        );
    }

    #[test]
    fn the_same_diagnostic_twice_is_annotated_once() {
        // `cargo test` builds the library and its tests, and both report the same error.
        let twice = format!("{CARGO_ERROR}{CARGO_ERROR}");
        assert_eq!(annotations("cargo test", &twice, MAX_ANNOTATIONS).len(), 1);
    }

    const PYTEST: &str = "============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.3.2, pluggy-1.5.0
rootdir: /home/runner/work/app/app
collected 4 items

tests/test_load.py .F                                                    [ 50%]
tests/test_parse.py F.                                                   [100%]

=================================== FAILURES ===================================
____________________________ TestLoad.test_missing _____________________________

self = <tests.test_load.TestLoad object at 0x7f0c2a1b3d10>

    def test_missing(self):
>       load(\"missing.toml\")

tests/test_load.py:8: 
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ 

path = 'missing.toml'

    def load(path):
>       with open(path) as f:
E       FileNotFoundError: [Errno 2] No such file or directory: 'missing.toml'

app/config.py:21: FileNotFoundError
__________________________________ test_parse __________________________________

    def test_parse():
>       assert parse(\"1\") == 2
E       AssertionError: assert 1 == 2
E        +  where 1 = parse('1')

tests/test_parse.py:12: AssertionError
=========================== short test summary info ============================
FAILED tests/test_load.py::TestLoad::test_missing - FileNotFoundError: [Errno 2] No such file or directory: 'missing.toml'
FAILED tests/test_parse.py::test_parse - AssertionError: assert 1 == 2
========================= 2 failed, 2 passed in 0.05s ==========================
";

    #[test]
    fn pytest_failures_point_at_the_deepest_frame_in_the_project() {
        assert_eq!(
            annotations("pytest", PYTEST, MAX_ANNOTATIONS),
            [
                error(
                    "pytest",
                    "app/config.py",
                    21,
                    None,
                    "TestLoad.test_missing: FileNotFoundError: [Errno 2] No such file or directory: 'missing.toml'"
                ),
                error(
                    "pytest",
                    "tests/test_parse.py",
                    12,
                    None,
                    "test_parse: AssertionError: assert 1 == 2\n +  where 1 = parse('1')"
                ),
            ]
        );
    }

    #[test]
    fn pytest_collection_errors_skip_frames_outside_the_project() {
        let output = "==================================== ERRORS ====================================
_____________________ ERROR collecting tests/test_api.py ______________________
ImportError while importing test module '/home/runner/work/app/app/tests/test_api.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/usr/lib/python3.12/importlib/__init__.py:90: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
tests/test_api.py:3: in <module>
    import requests
E   ModuleNotFoundError: No module named 'requests'
=========================== short test summary info ============================
ERROR tests/test_api.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!!
";
        assert_eq!(
            annotations("pytest -q", output, MAX_ANNOTATIONS),
            [error(
                "pytest -q",
                "tests/test_api.py",
                3,
                None,
                "ERROR collecting tests/test_api.py: ModuleNotFoundError: No module named 'requests'"
            )]
        );
    }

    #[test]
    fn pytest_summary_lines_stand_in_when_there_is_no_traceback() {
        let output = ".F.F                                                                     [100%]
=========================== short test summary info ============================
FAILED tests/test_parse.py::test_parse - AssertionError: assert 1 == 2
FAILED tests/test_load.py::TestLoad::test_missing[toml]
2 failed, 2 passed in 0.04s
";
        let file_only =
            |file: &str, message: &str| Annotation { line: None, ..error("pytest --tb=no", file, 0, None, message) };
        assert_eq!(
            annotations("pytest --tb=no", output, MAX_ANNOTATIONS),
            [
                file_only("tests/test_parse.py", "test_parse: AssertionError: assert 1 == 2"),
                file_only("tests/test_load.py", "TestLoad.test_missing[toml] failed"),
            ]
        );
        assert_eq!(
            annotations("pytest --tb=no", output, MAX_ANNOTATIONS)[1].to_string(),
            "::error file=tests/test_load.py,title=pytest --tb=no::TestLoad.test_missing[toml] failed"
        );
    }

    #[test]
    fn pytest_one_line_tracebacks() {
        let output = "=================================== FAILURES ===================================
/home/runner/work/app/app/tests/test_parse.py:12: AssertionError: assert 1 == 2
=========================== short test summary info ============================
FAILED tests/test_parse.py::test_parse - AssertionError: assert 1 == 2
";
        assert_eq!(
            annotations("pytest --tb=line", output, MAX_ANNOTATIONS),
            [error(
                "pytest --tb=line",
                "/home/runner/work/app/app/tests/test_parse.py",
                12,
                None,
                "AssertionError: assert 1 == 2"
            )]
        );
    }

    #[test]
    fn eslint_stylish() {
        let output = "
/home/runner/work/web/web/src/app.js
   3:7   error    'unused' is assigned a value but never used  no-unused-vars
  12:5   warning  Unexpected console statement                no-console

/home/runner/work/web/web/src/util/parse.ts
  1:10  error  Parsing error: Unexpected token

✖ 3 problems (2 errors, 1 warning)
  0 errors and 0 warnings potentially fixable with the `--fix` option.

";
        let app = "/home/runner/work/web/web/src/app.js";
        assert_eq!(
            annotations("npx eslint .", output, MAX_ANNOTATIONS),
            [
                error("npx eslint .", app, 3, Some(7), "'unused' is assigned a value but never used (no-unused-vars)"),
                error(
                    "npx eslint .",
                    "/home/runner/work/web/web/src/util/parse.ts",
                    1,
                    Some(10),
                    "Parsing error: Unexpected token"
                ),
                warning("npx eslint .", app, 12, Some(5), "Unexpected console statement (no-console)"),
            ]
        );
    }

    #[test]
    fn eslint_unix_and_compact() {
        let unix = "src/app.js:3:7: 'unused' is assigned a value but never used. [Error/no-unused-vars]
src/app.js:12:5: Unexpected console statement. [Warning/no-console]

2 problems
";
        assert_eq!(
            annotations("eslint -f unix src", unix, MAX_ANNOTATIONS),
            [
                error(
                    "eslint -f unix src",
                    "src/app.js",
                    3,
                    Some(7),
                    "'unused' is assigned a value but never used. (no-unused-vars)"
                ),
                warning("eslint -f unix src", "src/app.js", 12, Some(5), "Unexpected console statement. (no-console)"),
            ]
        );
        let compact = "/home/u/web/src/app.js: line 3, col 7, Error - 'unused' is assigned a value but never used. (no-unused-vars)

1 problem
";
        assert_eq!(
            annotations("eslint -f compact", compact, MAX_ANNOTATIONS),
            [error(
                "eslint -f compact",
                "/home/u/web/src/app.js",
                3,
                Some(7),
                "'unused' is assigned a value but never used. (no-unused-vars)"
            )]
        );
    }

    #[test]
    fn tsc_both_formats() {
        let plain = "src/api.ts(12,5): error TS2322: Type 'string' is not assignable to type 'number'.
src/api.ts(20,11): error TS2345: Argument of type '{ id: string; }' is not assignable to parameter of type 'User'.
  Property 'name' is missing in type '{ id: string; }' but required in type 'User'.
";
        assert_eq!(
            annotations("npx tsc --noEmit", plain, MAX_ANNOTATIONS),
            [
                error(
                    "npx tsc --noEmit",
                    "src/api.ts",
                    12,
                    Some(5),
                    "TS2322: Type 'string' is not assignable to type 'number'."
                ),
                error(
                    "npx tsc --noEmit",
                    "src/api.ts",
                    20,
                    Some(11),
                    "TS2345: Argument of type '{ id: string; }' is not assignable to parameter of type 'User'.\nProperty 'name' is missing in type '{ id: string; }' but required in type 'User'."
                ),
            ]
        );
        let pretty = "\x1b[96msrc/api.ts\x1b[0m:\x1b[93m12\x1b[0m:\x1b[93m5\x1b[0m - \x1b[91merror\x1b[0m\x1b[90m TS2322: \x1b[0mType 'string' is not assignable to type 'number'.

\x1b[7m12\x1b[0m     count = \"three\";
\x1b[7m  \x1b[0m \x1b[91m    ~~~~~\x1b[0m


Found 1 error in src/api.ts\x1b[90m:12\x1b[0m

";
        assert_eq!(
            annotations("npm run typecheck", pretty, MAX_ANNOTATIONS),
            [error(
                "npm run typecheck",
                "src/api.ts",
                12,
                Some(5),
                "TS2322: Type 'string' is not assignable to type 'number'."
            )]
        );
    }

    #[test]
    fn go_build_and_vet() {
        let build = "# example.com/shop
./cart.go:14:2: undefined: total
./cart.go:21:9: cannot use n (variable of type int) as string value in return statement
";
        assert_eq!(
            annotations("go build ./...", build, MAX_ANNOTATIONS),
            [
                error("go build ./...", "cart.go", 14, Some(2), "undefined: total"),
                error(
                    "go build ./...",
                    "cart.go",
                    21,
                    Some(9),
                    "cannot use n (variable of type int) as string value in return statement"
                ),
            ]
        );
        let vet = "# example.com/shop\n# [example.com/shop]\nvet: internal/tax/tax.go:30:2: fmt.Printf format %d has arg name of wrong type string\n";
        let found = annotations("go vet ./...", vet, MAX_ANNOTATIONS);
        assert_eq!(
            found,
            [error(
                "go vet ./...",
                "internal/tax/tax.go",
                30,
                Some(2),
                "fmt.Printf format %d has arg name of wrong type string"
            )]
        );
        assert_eq!(
            found[0].to_string(),
            "::error file=internal/tax/tax.go,line=30,col=2,title=go vet ./...::fmt.Printf format %25d has arg name of wrong type string"
        );
    }

    #[test]
    fn go_test_failures_with_subtests_and_multi_line_messages() {
        let output = "--- FAIL: TestTotal (0.00s)
    cart_test.go:15: Total() = 3, want 4
--- FAIL: TestParse (0.00s)
    --- FAIL: TestParse/empty (0.00s)
        parse_test.go:22: unexpected error:
            empty input
FAIL
FAIL\texample.com/shop\t0.004s
FAIL
";
        assert_eq!(
            annotations("go test ./...", output, MAX_ANNOTATIONS),
            [
                error("go test ./...", "cart_test.go", 15, None, "TestTotal: Total() = 3, want 4"),
                error("go test ./...", "parse_test.go", 22, None, "TestParse/empty: unexpected error:\nempty input"),
            ]
        );
    }

    #[test]
    fn go_test_verbose_annotates_only_the_tests_that_fail() {
        let output = "=== RUN   TestTotal
    cart_test.go:15: Total() = 3, want 4
--- FAIL: TestTotal (0.00s)
=== RUN   TestLog
    cart_test.go:30: just a log line
--- PASS: TestLog (0.00s)
=== RUN   TestTax
=== RUN   TestTax/zero
    tax_test.go:9: tax(0) = 1
=== RUN   TestTax/one
--- FAIL: TestTax (0.00s)
    --- FAIL: TestTax/zero (0.00s)
    --- PASS: TestTax/one (0.00s)
FAIL
exit status 1
FAIL\texample.com/shop\t0.003s
";
        assert_eq!(
            annotations("go test -v ./...", output, MAX_ANNOTATIONS),
            [
                error("go test -v ./...", "cart_test.go", 15, None, "TestTotal: Total() = 3, want 4"),
                error("go test -v ./...", "tax_test.go", 9, None, "TestTax/zero: tax(0) = 1"),
            ]
        );
    }

    #[test]
    fn gcc_style_lines_carry_their_level_and_notes_are_skipped() {
        let output = "src/buf.c:12:5: error: 'len' undeclared (first use in this function)
src/buf.c:12:5: note: each undeclared identifier is reported only once
src/buf.c:3:10: warning: unused parameter 'flags' [-Wunused-parameter]
https://gcc.gnu.org:443:1: not a file
";
        assert_eq!(
            annotations("make", output, MAX_ANNOTATIONS),
            [
                error("make", "src/buf.c", 12, Some(5), "error: 'len' undeclared (first use in this function)"),
                warning("make", "src/buf.c", 3, Some(10), "warning: unused parameter 'flags' [-Wunused-parameter]"),
            ]
        );
    }

    #[test]
    fn output_without_a_location_becomes_one_warning_with_its_tail() {
        let output = "\n> web@1.0.0 test\n> jest\n\nSegmentation fault (core dumped)\nnpm ERR! Test failed.  See above for more details.\n\n";
        let found = annotations("npm test", output, MAX_ANNOTATIONS);
        let expected = Annotation {
            level: Level::Warning,
            file: None,
            line: None,
            col: None,
            title: Some("npm test".into()),
            message: "> web@1.0.0 test\n> jest\nSegmentation fault (core dumped)\nnpm ERR! Test failed.  See above for more details."
                .into(),
        };
        assert_eq!(found, [expected]);
        assert_eq!(
            found[0].to_string(),
            "::warning title=npm test::> web@1.0.0 test%0A> jest%0ASegmentation fault (core dumped)%0Anpm ERR! Test failed.  See above for more details."
        );

        let long: String = (1..=30).map(|i| format!("step {i}\n\n")).collect();
        let found = annotations("./check.sh", &long, MAX_ANNOTATIONS);
        let tail: Vec<String> = (11..=30).map(|i| format!("step {i}")).collect();
        assert_eq!(found[0].message, tail.join("\n"));

        assert_eq!(annotations("make", "", MAX_ANNOTATIONS)[0].message, "`make` failed without printing anything");
        assert_eq!(annotations("make", "anything", 0), []);
    }

    #[test]
    fn at_most_max_annotations() {
        let output: String = (1..=15).map(|i| format!("./main.go:{i}:1: undefined: v{i}\n")).collect();
        let found = annotations("go build", &output, MAX_ANNOTATIONS);
        assert_eq!(found.len(), 10);
        assert_eq!((found[0].line, found[9].line), (Some(1), Some(10)));
    }

    #[test]
    fn paths_stay_relative_without_a_leading_dot() {
        assert_eq!(path("./src/a.rs"), "src/a.rs");
        assert_eq!(path("././src/a.rs"), "src/a.rs");
        assert_eq!(path(".\\src\\a.rs"), "src/a.rs");
        assert_eq!(path("src/a.rs"), "src/a.rs");
        assert_eq!(path("/home/runner/work/x/src/a.rs"), "/home/runner/work/x/src/a.rs");
        assert_eq!(path("C:\\work\\x\\a.rs"), "C:\\work\\x\\a.rs");
    }

    #[test]
    fn workflow_commands_escape_as_github_requires() {
        let a = Annotation {
            level: Level::Error,
            file: Some("src/a,b:c%.rs".into()),
            line: Some(3),
            col: None,
            title: Some("npm run lint:js, then test".into()),
            message: "100% wrong: a, b\r\nnext line".into(),
        };
        assert_eq!(
            a.to_string(),
            "::error file=src/a%2Cb%3Ac%25.rs,line=3,title=npm run lint%3Ajs%2C then test::100%25 wrong: a, b%0D%0Anext line"
        );
        let bare =
            Annotation { level: Level::Warning, file: None, line: None, col: None, title: None, message: "m".into() };
        assert_eq!(bare.to_string(), "::warning::m");
    }
}
