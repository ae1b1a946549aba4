//! The single pass over one file's bytes: line counts (code, comment, blank, test code), the
//! to-do markers (TODO, FIXME, HACK) with their lines, smells outside tests, top-level symbols with
//! function lengths, whether the file is an entry point, and the identifiers it mentions
//! (for the repo map's graph).
//!
//! Everything comes from one read of the file; nothing of the content is kept beyond short
//! symbol names, TODO texts and identifier hashes. Function lengths follow indentation (a
//! function ends at the next line indented no deeper than its definition, or at its closing
//! `}`/`end`), so they are approximate for unusually formatted code. For the languages
//! `parse` has a grammar for, [`Scanner::refine`] replaces the symbols, function lengths,
//! test code and references with the parser's, on the same bytes.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

use super::lang::{Lang, LineKind, Syntax};
use super::lines::{LineCounter, trim};
use super::parse::{FileParser, Grammar, Parsed};
use super::syntax::{self, SymbolKind, is_ident};

/// Most symbols kept per file; the rest are counted in no map.
const MAX_SYMBOLS: usize = 200;
/// Most to-do markers kept per file (all are counted).
const MAX_TODOS: usize = 50;
/// Longest to-do text kept, in characters.
const TODO_TEXT: usize = 100;

/// Lines of one file or language.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    pub code: u64,
    pub comment: u64,
    pub blank: u64,
}

impl LineCounts {
    pub fn add(&mut self, other: &LineCounts) {
        self.code += other.code;
        self.comment += other.comment;
        self.blank += other.blank;
    }

    pub fn total(&self) -> u64 {
        self.code + self.comment + self.blank
    }
}

/// The three markers counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TodoKind {
    Todo,
    Fixme,
    Hack,
}

const TODO_MARKERS: [(&str, TodoKind); 3] =
    [("TODO", TodoKind::Todo), ("FIXME", TodoKind::Fixme), ("HACK", TodoKind::Hack)];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todo {
    pub kind: TodoKind,
    pub line: u32,
    pub text: Box<str>,
}

/// How often one smell occurs in a file, and its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmellHit {
    /// Index into `syntax::smells(..)` of the file's language.
    pub smell: u8,
    pub count: u32,
    pub first_line: u32,
}

/// One symbol; its name lives in [`Symbols`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    pub kind: SymbolKind,
    pub line: u32,
    /// Length in lines for functions and methods (approximate), else 0.
    pub lines: u32,
    /// Index of the enclosing class/impl/trait in the same list, if any.
    pub parent: Option<u16>,
    name_end: u32,
}

/// A file's symbols, compactly: one string with every name and a small record each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Symbols {
    names: Box<str>,
    items: Box<[Symbol]>,
}

impl Symbols {
    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &str)> {
        let mut start = 0;
        self.items.iter().map(move |s| {
            let name = &self.names[start..s.name_end as usize];
            start = s.name_end as usize;
            (s, name)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What the pass learns about one file.
#[derive(Debug, Default, Clone)]
pub struct FileScan {
    pub lines: LineCounts,
    /// Code lines that are tests: all of a test file, or a Rust file's `#[cfg(test)]` part.
    pub test_code: u64,
    /// The to-do markers in comments (at most [`MAX_TODOS`] kept).
    pub todos: Vec<Todo>,
    /// Markers found per kind (TODO, FIXME, HACK), kept or not.
    pub todo_counts: [u32; 3],
    pub smells: Vec<SmellHit>,
    pub symbols: Symbols,
    /// Defines `main` (or is a Python `__main__` script).
    pub has_main: bool,
    /// Code lines that are mostly numeric literals (a table of data rather than code).
    pub data_lines: u64,
    /// Lines of Rust doc-tests (code blocks in `///`/`//!` comments, which `cargo test` runs).
    pub doc_test: u64,
    /// Sorted, distinct hashes ([`ident_hash`]) of the identifiers the code mentions, for the
    /// repo map's graph.
    pub refs: Box<[u32]>,
    /// Symbols, function lengths, test code and references come from the parser (`parse`),
    /// not the line heuristics.
    pub parsed: bool,
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n);
    }
}

/// A map keyed by identifier hashes.
pub type IdentMap<V> = HashMap<u32, V, BuildHasherDefault<Prehashed>>;

/// FNV-1a of an identifier: what reference counting keys on.
pub fn ident_hash(name: &[u8]) -> u32 {
    name.iter().fold(0x811c_9dc5_u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Identifiers shorter than this are too common to say anything about references.
pub const MIN_IDENT: usize = 3;

enum Event {
    Todo(TodoKind),
    Smell(u8, u8),
}

struct Open {
    indent: u32,
    kind: SymbolKind,
    symbol: u16,
    /// Indentation of the first definition inside, once seen.
    child_indent: u32,
    start: u32,
}

static TODO_FINDERS: LazyLock<Vec<(Finder<'static>, TodoKind)>> =
    LazyLock::new(|| TODO_MARKERS.iter().map(|&(m, k)| (Finder::new(m), k)).collect());

type SmellFinders = Vec<(Finder<'static>, u8, u8)>;

fn smell_finders(syntax: Syntax) -> &'static SmellFinders {
    static ALL: LazyLock<Vec<SmellFinders>> = LazyLock::new(|| {
        (0..=Syntax::Lua as usize)
            .map(|i| {
                let syntax = SYNTAXES[i];
                let mut finders = Vec::new();
                for (si, smell) in syntax::smells(syntax).iter().enumerate() {
                    for (pi, p) in smell.patterns.iter().enumerate() {
                        finders.push((Finder::new(p.as_bytes()), si as u8, pi as u8));
                    }
                }
                finders
            })
            .collect()
    });
    &ALL[syntax as usize]
}

/// Every `Syntax`, in declaration order (so `SYNTAXES[s as usize] == s`).
const SYNTAXES: [Syntax; 19] = [
    Syntax::None,
    Syntax::Rust,
    Syntax::Python,
    Syntax::JavaScript,
    Syntax::TypeScript,
    Syntax::Go,
    Syntax::Java,
    Syntax::Kotlin,
    Syntax::CSharp,
    Syntax::Scala,
    Syntax::C,
    Syntax::Cpp,
    Syntax::Swift,
    Syntax::Ruby,
    Syntax::Php,
    Syntax::Elixir,
    Syntax::Dart,
    Syntax::Shell,
    Syntax::Lua,
];

/// Per-thread state reused from file to file.
#[derive(Default)]
pub struct Scanner {
    /// The identifiers of the file being scanned, each once, in the order first seen.
    seen: Vec<u32>,
    /// Which of them are in `seen` already (hashes are spread evenly: no hashing again).
    seen_set: HashSet<u32, BuildHasherDefault<Prehashed>>,
    events: Vec<(usize, Event)>,
    stack: Vec<Open>,
    lines: LineCounter,
    /// Bit `n` set: line `n` (0-based) of the last file scanned is code.
    code_lines: Vec<u64>,
    parser: FileParser,
}

struct Builder {
    names: String,
    items: Vec<Symbol>,
}

impl Scanner {
    /// Scans one file's bytes. `is_test` says the whole file is test code (by its path).
    pub fn scan(&mut self, buf: &[u8], lang: Lang, is_test: bool) -> FileScan {
        let def = lang.def();
        let syntax = def.syntax;
        let mut out = FileScan::default();
        self.collect_events(buf, lang, is_test);
        self.seen.clear();
        self.seen_set.clear();
        self.stack.clear();
        let mut symbols = Builder { names: String::new(), items: Vec::new() };
        let closer = syntax::closer(syntax);
        let has_comments = !def.lines.line.is_empty() || !def.lines.block.is_empty();
        self.lines.reset();
        self.code_lines.clear();
        let mut tests = TestItem::None;
        let mut doctest = false;
        let mut last_code = 0u32;
        let mut next_event = 0;
        let mut pos = 0;
        let mut line_no = 0u32;
        while pos < buf.len() {
            let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
            let raw = &buf[pos..end];
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            line_no += 1;
            let (kind, _) = self.lines.classify(&def.lines, buf, pos, end);
            match kind {
                LineKind::Blank => out.lines.blank += 1,
                LineKind::Comment => {
                    out.lines.comment += 1;
                    if syntax == Syntax::Rust {
                        doctest = doc_test_line(trim(line), doctest, &mut out.doc_test);
                    }
                }
                LineKind::Code => {
                    out.lines.code += 1;
                    let (word, bit) = ((line_no - 1) as usize / 64, (line_no - 1) % 64);
                    if self.code_lines.len() <= word {
                        self.code_lines.resize(word + 1, 0);
                    }
                    self.code_lines[word] |= 1 << bit;
                    let test_area = syntax == Syntax::Rust && {
                        let (inside, started) = tests.step(line);
                        if started {
                            self.close_from(indentation(line), &mut symbols, last_code);
                        }
                        inside
                    };
                    if is_test || test_area {
                        out.test_code += 1;
                    }
                    if syntax != Syntax::None {
                        if !test_area {
                            self.structure(line, line_no, syntax, closer, last_code, &mut symbols, &mut out);
                        }
                        if self.hash_idents(line) {
                            out.data_lines += 1;
                        }
                    }
                    last_code = line_no;
                }
            }
            while next_event < self.events.len() && self.events[next_event].0 < end {
                let (at, ev) = &self.events[next_event];
                let col = at - pos;
                match *ev {
                    Event::Todo(todo) if has_comments => {
                        if let Some(text) = todo_text(def, line, col, kind, TODO_MARKERS[todo as usize].0) {
                            out.todo_counts[todo as usize] += 1;
                            if out.todos.len() < MAX_TODOS {
                                out.todos.push(Todo { kind: todo, line: line_no, text });
                            }
                        }
                    }
                    Event::Todo(_) => {}
                    Event::Smell(smell, pattern) => {
                        let sd = &syntax::smells(syntax)[smell as usize];
                        let p = sd.patterns[pattern as usize].as_bytes();
                        if kind == LineKind::Code
                            && !tests.inside()
                            && col + p.len() <= line.len()
                            && !in_string_literal(line, col)
                            && (sd.check)(line, col, p)
                            && !sd.excused_by.is_some_and(|note| excused(buf, pos, end, note))
                        {
                            match out.smells.iter_mut().find(|h| h.smell == smell) {
                                Some(hit) => hit.count += 1,
                                None => out.smells.push(SmellHit { smell, count: 1, first_line: line_no }),
                            }
                        }
                    }
                }
                next_event += 1;
            }
            pos = end + 1;
        }
        self.close_all(&mut symbols, last_code);
        self.seen.sort_unstable();
        out.refs = self.seen.as_slice().into();
        out.has_main |= symbols.has_main();
        out.symbols = Symbols { names: symbols.names.into_boxed_str(), items: symbols.items.into_boxed_slice() };
        out
    }

    /// Replaces the line heuristics' symbols, `main`, test code and references in `out` (the
    /// result of [`Scanner::scan`] on the same `buf`, just before) with the parser's; false,
    /// leaving `out` as it is, when the parser gives up (syntax error, time limit).
    pub fn refine(&mut self, buf: &[u8], grammar: Grammar, is_test: bool, out: &mut FileScan) -> bool {
        let Some(parsed) = self.parser.parse(buf, grammar, is_test) else { return false };
        let Parsed { defs, has_main, tests, refs } = parsed;
        let mut names = String::new();
        let mut items = Vec::with_capacity(defs.len());
        for d in defs {
            names.push_str(&d.name);
            items.push(Symbol {
                kind: d.kind,
                line: d.line,
                lines: d.lines,
                parent: d.parent,
                name_end: names.len() as u32,
            });
        }
        out.symbols = Symbols { names: names.into_boxed_str(), items: items.into_boxed_slice() };
        out.has_main = has_main;
        if !is_test {
            out.test_code = tests.iter().map(|t| self.code_lines_between(t.first, t.last)).sum();
        }
        out.refs = refs.into_boxed_slice();
        out.parsed = true;
        true
    }

    /// Code lines from `first` to `last` (1-based, inclusive) of the file scanned last.
    fn code_lines_between(&self, first: u32, last: u32) -> u64 {
        (first.max(1)..=last)
            .map(|n| (n - 1) as usize)
            .filter(|&i| self.code_lines.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1))
            .count() as u64
    }

    /// Counts one file's lines without analysing it (generated files).
    pub fn count(&mut self, buf: &[u8], lang: Lang) -> LineCounts {
        let syntax = &lang.def().lines;
        self.lines.reset();
        let mut counts = LineCounts::default();
        let mut pos = 0;
        while pos < buf.len() {
            let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
            match self.lines.classify(syntax, buf, pos, end).0 {
                LineKind::Blank => counts.blank += 1,
                LineKind::Comment => counts.comment += 1,
                LineKind::Code => counts.code += 1,
            }
            pos = end + 1;
        }
        counts
    }

    fn collect_events(&mut self, buf: &[u8], lang: Lang, is_test: bool) {
        self.events.clear();
        for (finder, kind) in TODO_FINDERS.iter() {
            self.events.extend(finder.find_iter(buf).map(|at| (at, Event::Todo(*kind))));
        }
        if !is_test {
            for (finder, smell, pattern) in smell_finders(lang.def().syntax) {
                self.events.extend(finder.find_iter(buf).map(|at| (at, Event::Smell(*smell, *pattern))));
            }
        }
        self.events.sort_unstable_by_key(|e| e.0);
    }

    /// Records the line's identifiers; true when the line is mostly numeric literals (at least
    /// 8 bytes of numbers, twice the bytes of identifiers).
    fn hash_idents(&mut self, line: &[u8]) -> bool {
        let (mut number_bytes, mut ident_bytes) = (0, 0);
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if b.is_ascii_digit() {
                let start = i;
                while i < line.len() && (is_ident(line[i]) || line[i] == b'.') {
                    i += 1;
                }
                number_bytes += i - start;
            } else if b.is_ascii_alphabetic() || b == b'_' {
                let start = i;
                let mut h = 0x811c_9dc5_u32;
                while i < line.len() && is_ident(line[i]) {
                    h = (h ^ u32::from(line[i])).wrapping_mul(0x0100_0193);
                    i += 1;
                }
                ident_bytes += i - start;
                if i - start >= MIN_IDENT && self.seen_set.insert(h) {
                    self.seen.push(h);
                }
            } else {
                i += 1;
            }
        }
        number_bytes >= 8 && number_bytes >= 2 * ident_bytes
    }

    /// Tracks definitions and their extent on one code line.
    #[allow(clippy::too_many_arguments)]
    fn structure(
        &mut self,
        line: &[u8],
        line_no: u32,
        syntax: Syntax,
        closer: Option<&[u8]>,
        last_code: u32,
        symbols: &mut Builder,
        out: &mut FileScan,
    ) {
        let indent = indentation(line);
        let t = trim(line);
        while let Some(top) = self.stack.last() {
            if indent > top.indent {
                break;
            }
            if indent == top.indent {
                if syntax::continues_signature(t) {
                    return;
                }
                if let Some(c) = closer
                    && t.starts_with(c)
                    && t.get(c.len()).is_none_or(|&b| !is_ident(b))
                {
                    self.close_top(symbols, line_no);
                    return;
                }
            }
            self.close_top(symbols, last_code);
        }
        if syntax == Syntax::Python && indent == 0 && t.starts_with(b"if __name__") {
            out.has_main = true;
        }
        let parent = match self.stack.last() {
            None if indent == 0 => None,
            None => return,
            Some(top) if top.kind.is_function() => return,
            Some(top) if top.child_indent != 0 && top.child_indent != indent => return,
            Some(top) if top.kind.holds_members() => Some(top.symbol),
            Some(_) => None,
        };
        let Some(def) = syntax::parse_def(syntax, t, parent.is_some()) else { return };
        if let Some(top) = self.stack.last_mut() {
            top.child_indent = indent;
        }
        if symbols.items.len() >= MAX_SYMBOLS {
            return;
        }
        let kind = match def.kind {
            SymbolKind::Function if parent.is_some() => SymbolKind::Method,
            k => k,
        };
        if let Some(receiver) = def.receiver {
            symbols.names.push_str(&String::from_utf8_lossy(receiver));
            symbols.names.push('.');
        }
        symbols.names.push_str(&String::from_utf8_lossy(def.name));
        let index = symbols.items.len() as u16;
        symbols.items.push(Symbol { kind, line: line_no, lines: 0, parent, name_end: symbols.names.len() as u32 });
        if kind.is_function() || kind.holds_members() || kind == SymbolKind::Module {
            self.stack.push(Open { indent, kind, symbol: index, child_indent: 0, start: line_no });
        }
    }

    fn close_top(&mut self, symbols: &mut Builder, end: u32) {
        if let Some(open) = self.stack.pop()
            && open.kind.is_function()
        {
            symbols.items[open.symbol as usize].lines = end.saturating_sub(open.start) + 1;
        }
    }

    /// Closes the open definitions indented at least `indent` (a test item begins there).
    fn close_from(&mut self, indent: u32, symbols: &mut Builder, end: u32) {
        while self.stack.last().is_some_and(|top| top.indent >= indent) {
            self.close_top(symbols, end);
        }
    }

    fn close_all(&mut self, symbols: &mut Builder, end: u32) {
        while !self.stack.is_empty() {
            self.close_top(symbols, end);
        }
    }
}

impl Builder {
    fn has_main(&self) -> bool {
        let mut start = 0;
        self.items.iter().any(|s| {
            let name = &self.names[start..s.name_end as usize];
            start = s.name_end as usize;
            s.kind.is_function() && (name == "main" || name == "Main")
        })
    }
}

/// Where a Rust file's test code is: the item after a test attribute (`#[test]`,
/// `#[tokio::test]`, `#[cfg(test)]` in any combination that requires `test`), to its closing
/// brace at the attribute's indentation, or to its `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestItem {
    None,
    /// After the attribute(s), before the item's first line, at this indentation.
    Attributes(u32),
    /// Inside the item's body, which closes at this indentation.
    Body(u32),
}

impl TestItem {
    fn inside(self) -> bool {
        self != TestItem::None
    }

    /// Moves past one code line: whether the line is test code, and whether a test item
    /// starts on it.
    fn step(&mut self, line: &[u8]) -> (bool, bool) {
        let indent = indentation(line);
        let t = trim(line);
        match *self {
            TestItem::None if is_test_attribute(t) => {
                *self = TestItem::Attributes(indent);
                (true, true)
            }
            TestItem::None => (false, false),
            TestItem::Attributes(_) if t.starts_with(b"#[") => (true, false),
            TestItem::Attributes(k) => {
                *self = if t.ends_with(b";") { TestItem::None } else { TestItem::Body(k) };
                (true, false)
            }
            TestItem::Body(k) if indent < k => {
                *self = TestItem::None;
                self.step(line)
            }
            TestItem::Body(k) => {
                if indent == k && t.starts_with(b"}") {
                    *self = TestItem::None;
                }
                (true, false)
            }
        }
    }
}

/// `#[test]`, `#[tokio::test(...)]`, `#[rstest]`, `#[bench]`, or a `#[cfg(...)]` that holds only
/// where `test` is set (`all(test, not(miri))`, `any(test, feature = "x")`, but not `not(test)`).
pub(super) fn is_test_attribute(t: &[u8]) -> bool {
    let Some(inner) = t.strip_prefix(b"#[") else { return false };
    let end = inner.iter().position(|&b| !(is_ident(b) || b == b':')).unwrap_or(inner.len());
    let path = &inner[..end];
    let name = path.rsplit(|&b| b == b':').next().unwrap_or(path);
    match name {
        b"test" | b"rstest" | b"bench" | b"test_case" | b"quickcheck" => true,
        b"cfg" if path == b"cfg" => cfg_requires_test(&inner[end..]),
        _ => false,
    }
}

/// True when the bare predicate `test` occurs in a cfg expression under an even number of `not`s.
fn cfg_requires_test(expr: &[u8]) -> bool {
    let mut calls: Vec<bool> = Vec::new(); // for each open `(`: is it `not(`
    let mut i = 0;
    while i < expr.len() {
        let b = expr[i];
        if b == b'"' {
            i += memchr::memchr(b'"', &expr[i + 1..]).map_or(expr.len(), |j| j + 2);
            continue;
        }
        if is_ident(b) && (i == 0 || !is_ident(expr[i - 1])) {
            let end = expr[i..].iter().position(|&c| !is_ident(c)).map_or(expr.len(), |j| i + j);
            let word = &expr[i..end];
            let next = expr[end..].iter().find(|c| !c.is_ascii_whitespace());
            match next {
                Some(b'(') => {
                    calls.push(word == b"not");
                    i = end + expr[end..].iter().position(|&c| c == b'(').unwrap_or(0) + 1;
                    continue;
                }
                Some(b'=') => {}
                _ if word == b"test" && calls.iter().filter(|&&n| n).count() % 2 == 0 => {
                    return true;
                }
                _ => {}
            }
            i = end;
            continue;
        }
        match b {
            b'(' => calls.push(false),
            b')' => {
                calls.pop();
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Follows a Rust doc comment line through doc-test fences: whether the next line is inside
/// a doc-test, counting the lines inside one.
fn doc_test_line(t: &[u8], inside: bool, count: &mut u64) -> bool {
    let Some(text) = t.strip_prefix(b"///").or_else(|| t.strip_prefix(b"//!")) else { return inside };
    let Some(info) = text.trim_ascii().strip_prefix(b"```") else {
        *count += u64::from(inside);
        return inside;
    };
    if inside {
        return false;
    }
    // rustdoc runs a block with no info string or only Rust attributes; `text`, `ignore`,
    // `toml` and the like are not tests.
    const RUN: &[&[u8]] = &[b"rust", b"no_run", b"should_panic", b"compile_fail", b"test_harness"];
    info.split(|&b| b == b',' || b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .all(|w| RUN.contains(&w) || w.starts_with(b"edition"))
}

/// True when `note` (in any case: `SAFETY:`, `Safety:`) is on the line `buf[start..end]` or one
/// of the three lines above it.
fn excused(buf: &[u8], start: usize, end: usize, note: &str) -> bool {
    let mut from = start;
    for _ in 0..3 {
        match from.checked_sub(1).and_then(|nl| memchr::memrchr(b'\n', &buf[..nl])) {
            Some(i) => from = i + 1,
            None => {
                from = 0;
                break;
            }
        }
    }
    buf[from..end].windows(note.len()).any(|w| w.eq_ignore_ascii_case(note.as_bytes()))
}

/// Leading whitespace width, a tab counting as four.
fn indentation(line: &[u8]) -> u32 {
    let mut width = 0;
    for &b in line {
        match b {
            b' ' => width += 1,
            b'\t' => width += 4,
            _ => break,
        }
    }
    width
}

/// The text of a TODO marker at `col`, when it is a whole word inside a comment.
fn todo_text(def: &super::lang::LangDef, line: &[u8], col: usize, kind: LineKind, marker: &str) -> Option<Box<str>> {
    let end = col + marker.len();
    if end > line.len()
        || (col > 0 && is_ident(line[col - 1]))
        || line.get(end).is_some_and(|&b| is_ident(b) || b == b'-')
    {
        return None;
    }
    // A marker is followed by `:` or `(`, or is the first word of a comment (`// TODO fix`);
    // "the TODO list" in prose is not one.
    let before = line[..col].trim_ascii_end();
    let last_word = before.rsplit(|b| b.is_ascii_whitespace()).next().unwrap_or(&[]);
    let first_word = last_word.iter().all(|b| b"/*#!-;<%'".contains(b));
    if !matches!(line.get(end), Some(b':' | b'(')) && !first_word {
        return None;
    }
    if kind != LineKind::Comment {
        let before = &line[..col];
        let opens = |m: &str| memchr::memmem::find(before, m.as_bytes()).is_some();
        if !def.lines.line.iter().any(|m| opens(m)) && !def.lines.block.iter().any(|(s, _)| opens(s)) {
            return None;
        }
    }
    let mut rest = line[end..].trim_ascii();
    if rest.starts_with(b"(")
        && let Some(close) = memchr::memchr(b')', rest)
    {
        rest = &rest[close + 1..];
    }
    let rest = rest.trim_ascii_start().strip_prefix(b":").unwrap_or(rest).trim_ascii();
    let rest = rest.strip_suffix(b"*/").or_else(|| rest.strip_suffix(b"-->")).unwrap_or(rest).trim_ascii();
    let text = String::from_utf8_lossy(rest);
    Some(text.chars().take(TODO_TEXT).collect::<String>().into_boxed_str())
}

/// Whether byte `at` of `line` sits inside a double-quoted string literal opened on the
/// same line (an odd number of unescaped `"` before it). Approximate (single-quoted and
/// multi-line strings are not followed), and enough to keep a pattern table such as
/// `"unwrap()"` from counting as the smell it names.
fn in_string_literal(line: &[u8], at: usize) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for (i, &b) in line[..at].iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if inside => escaped = true,
            // A `'"'` character literal opens no string.
            b'"' if i > 0 && line[i - 1] == b'\'' && line.get(i + 1) == Some(&b'\'') => {}
            b'"' => inside = !inside,
            _ => {}
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(lang: &str, text: &str) -> FileScan {
        Scanner::default().scan(text.as_bytes(), Lang::by_name(lang).unwrap(), false)
    }

    fn symbols(scan: &FileScan) -> Vec<(SymbolKind, String, u32, u32, Option<u16>)> {
        scan.symbols.iter().map(|(s, n)| (s.kind, n.to_string(), s.line, s.lines, s.parent)).collect()
    }

    #[test]
    fn patterns_inside_string_literals_are_not_smells() {
        let s = scan("Rust", "fn f() {\n    let p = \"x.unwrap()\";\n    let q = \"a \\\" b\"; y.unwrap();\n}\n");
        assert_eq!(s.smells, vec![SmellHit { smell: 0, count: 1, first_line: 3 }]);
        assert!(in_string_literal(br#"a "b c"#, 4));
        assert!(!in_string_literal(br#"a "b" c"#, 6));
        assert!(in_string_literal(br#"a "b \" c"#, 8));
        assert!(!in_string_literal(br#"b'"' => x"#, 8));
    }

    #[test]
    fn documented_unsafe_expect_and_coded_type_ignores_are_no_smells_and_doc_tests_are_tests() {
        let text = "\
/// Adds.
///
/// ```
/// assert_eq!(add(1, 2), 3);
/// let x = 1;
/// ```
///
/// ```text
/// not run
/// ```
fn add(a: u32, b: u32) -> u32 {
    // SAFETY: the pointer is valid for the call.
    let _ = unsafe { f() };
    let _ = x.expect(\"checked above\");
    let y = 1;
    let z = 2;
    let _ = unsafe { g() };
    a + b
}
";
        let s = scan("Rust", text);
        assert_eq!(s.doc_test, 2);
        // Only the undocumented unsafe block.
        assert_eq!(s.smells, vec![SmellHit { smell: 2, count: 1, first_line: 17 }]);
        let s = scan("Python", "x = f()  # type: ignore[attr-defined]\ny = g()  # type: ignore\n");
        assert_eq!(s.smells, vec![SmellHit { smell: 2, count: 1, first_line: 2 }]);
    }

    #[test]
    fn test_attributes_in_any_cfg_combination() {
        let yes = [
            "#[test]",
            "#[tokio::test(flavor = \"multi_thread\")]",
            "#[cfg(test)]",
            "#[cfg(all(test, not(miri)))]",
            "#[cfg(any(test, feature = \"testing\"))]",
            "#[rstest]",
            "#[cfg(not(not(test)))]",
        ];
        let no = [
            "#[cfg(not(test))]",
            "#[cfg(feature = \"test\")]",
            "#[derive(Debug)]",
            "#[cfg(all(unix, not(test)))]",
            "#[testing]",
            "#[cfg(tests)]",
        ];
        assert_eq!(yes.iter().filter(|a| is_test_attribute(a.as_bytes())).count(), yes.len(), "{yes:?}");
        assert_eq!(no.iter().filter(|a| is_test_attribute(a.as_bytes())).count(), 0, "{no:?}");
    }

    #[test]
    fn test_items_end_at_their_closing_brace_and_hide_their_functions() {
        // rusqlite's tests sit under #[cfg(all(test, not(miri)))]; code after a test module is code.
        let text = "\
fn a() {
    1;
}
#[cfg(all(test, not(miri)))]
mod tests {
    fn long_helper() {
        2;
    }
}
#[cfg(test)]
use std::fmt;
fn b() {
    3;
}
impl X {
    #[tokio::test]
    async fn t() {
        4;
    }
    fn c() {
        5;
    }
}
";
        let s = scan("Rust", text);
        assert_eq!(s.test_code, 6 + 2 + 4);
        let names: Vec<(String, u32)> = s.symbols.iter().map(|(sym, n)| (n.to_string(), sym.lines)).collect();
        assert_eq!(names, vec![("a".into(), 3), ("b".into(), 3), ("X".into(), 0), ("c".into(), 3)]);
    }

    #[test]
    fn rust_file_in_one_pass() {
        let text = "\
//! Module doc.
use std::fmt;

/// A thing.
pub struct Thing {
    x: u32,
}

impl Thing {
    pub fn new() -> Self {
        // TODO: validate input
        Thing { x: 1 }
    }

    fn helper(
        &self,
    ) -> u32 {
        self.x.checked_add(1).unwrap()
    }
}

fn main() {
    let t = Thing::new(); /* FIXME(bob): later */
    let s = \"TODO not a comment\";
}

#[cfg(test)]
mod tests {
    #[test]
    fn works() {
        Some(1).unwrap();
    }
}
";
        let s = scan("Rust", text);
        assert_eq!(s.lines, LineCounts { code: 25, comment: 3, blank: 5 });
        assert_eq!(s.test_code, 7);
        assert_eq!(
            symbols(&s),
            vec![
                (SymbolKind::Struct, "Thing".into(), 5, 0, None),
                (SymbolKind::Impl, "Thing".into(), 9, 0, None),
                (SymbolKind::Method, "new".into(), 10, 4, Some(1)),
                (SymbolKind::Method, "helper".into(), 15, 5, Some(1)),
                (SymbolKind::Function, "main".into(), 22, 4, None),
            ]
        );
        assert_eq!(
            s.todos,
            vec![
                Todo { kind: TodoKind::Todo, line: 11, text: "validate input".into() },
                Todo { kind: TodoKind::Fixme, line: 23, text: "later".into() },
            ]
        );
        assert_eq!(s.todo_counts, [1, 1, 0]);
        assert_eq!(s.smells, vec![SmellHit { smell: 0, count: 1, first_line: 18 }]);
        assert!(s.has_main);
    }

    #[test]
    fn python_classes_methods_and_main_guard() {
        let text = "\
import os

class Store:
    \"\"\"Keeps things.\"\"\"

    def get(self, key):
        try:
            return self.d[key]
        except:
            return None

    @property
    def size(self):
        return 1


def main():
    # HACK around a bug
    print(Store().size)


if __name__ == \"__main__\":
    main()
";
        let s = scan("Python", text);
        assert_eq!(
            symbols(&s),
            vec![
                (SymbolKind::Class, "Store".into(), 3, 0, None),
                (SymbolKind::Method, "get".into(), 6, 5, Some(0)),
                (SymbolKind::Method, "size".into(), 13, 2, Some(0)),
                (SymbolKind::Function, "main".into(), 17, 3, None),
            ]
        );
        assert!(s.has_main);
        assert_eq!(s.todos, vec![Todo { kind: TodoKind::Hack, line: 18, text: "around a bug".into() }]);
        assert_eq!(s.smells, vec![SmellHit { smell: 0, count: 1, first_line: 9 }]);
    }

    #[test]
    fn go_methods_keep_their_receiver_and_test_files_have_no_smells() {
        let text = "package main\n\nfunc (s *Server) Start() error {\n\t_ = s.conn.Close()\n\treturn nil\n}\n";
        let s = scan("Go", text);
        assert_eq!(symbols(&s), vec![(SymbolKind::Method, "Server.Start".into(), 3, 4, None)]);
        assert_eq!(s.smells.len(), 1);
        let t = Scanner::default().scan(text.as_bytes(), Lang::by_name("Go").unwrap(), true);
        assert_eq!((t.smells.len(), t.test_code), (0, 5));
    }

    #[test]
    fn identifiers_are_kept_once_per_file_sorted() {
        let mut scanner = Scanner::default();
        let go = Lang::by_name("Go").unwrap();
        let first = scanner.scan(b"func a() { Thing(); Thing(); ab() }\n", go, false);
        let mut want = vec![ident_hash(b"func"), ident_hash(b"Thing")];
        want.sort_unstable();
        assert_eq!(*first.refs, *want, "once each; `a` and `ab` are too short");
        let second = scanner.scan(b"// Thing in a comment\nvar x = Thing\n", go, false);
        let mut want = vec![ident_hash(b"var"), ident_hash(b"Thing")];
        want.sort_unstable();
        assert_eq!(*second.refs, *want, "comments are not references");
    }

    #[test]
    fn non_utf8_and_crlf_content_is_counted() {
        let s = Scanner::default().scan(
            b"fn a() {\r\n  let s = \"\xff\xfe\";\r\n}\r\n// caf\xe9 TODO: \xff\r\n",
            Lang::by_name("Rust").unwrap(),
            false,
        );
        assert_eq!(s.lines, LineCounts { code: 3, comment: 1, blank: 0 });
        assert_eq!(symbols(&s), vec![(SymbolKind::Function, "a".into(), 1, 3, None)]);
        assert_eq!(&*s.todos[0].text, "\u{fffd}");
    }

    #[test]
    fn todo_markers_must_be_whole_words_in_comments() {
        let text = "// TODOS are plural\n// TODO-list\nconst TODO = 1; // FIXME: real\n/* HACK */\n// the TODO list\n/*\n * TODO later\n */\n";
        let s = scan("JavaScript", text);
        let found: Vec<_> = s.todos.iter().map(|t| (t.kind, t.line, t.text.to_string())).collect();
        assert_eq!(
            found,
            vec![
                (TodoKind::Fixme, 3, "real".into()),
                (TodoKind::Hack, 4, "".into()),
                (TodoKind::Todo, 7, "later".into())
            ]
        );
    }
}
