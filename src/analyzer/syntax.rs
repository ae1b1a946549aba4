//! Per-language rules that look at one line at a time: which lines define a symbol
//! (function, type, class, trait, ...) and which text is a smell (`unwrap()` outside tests in
//! Rust, a bare `except:` in Python, `any` in TypeScript, an ignored error in Go, ...).
//!
//! These are deliberately line-based heuristics, not parsers: they expect code formatted the
//! usual way (definitions starting a line) and can be fooled by unusual layouts. They never
//! allocate and never look beyond the line they are given.

use serde::{Deserialize, Serialize};

use super::lang::Syntax;

/// What a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    Function,
    Method,
    Class,
    Struct,
    Enum,
    Trait,
    Interface,
    Type,
    Module,
    Impl,
    Constant,
    Macro,
}

impl SymbolKind {
    pub fn is_function(self) -> bool {
        matches!(self, SymbolKind::Function | SymbolKind::Method)
    }

    /// Kinds whose body holds methods.
    pub fn holds_members(self) -> bool {
        matches!(
            self,
            SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Trait
                | SymbolKind::Interface
                | SymbolKind::Impl
        )
    }

    /// The word shown before the name in a repo map.
    pub fn keyword(self) -> &'static str {
        match self {
            SymbolKind::Function | SymbolKind::Method => "fn",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Trait => "trait",
            SymbolKind::Interface => "interface",
            SymbolKind::Type => "type",
            SymbolKind::Module => "mod",
            SymbolKind::Impl => "impl",
            SymbolKind::Constant => "const",
            SymbolKind::Macro => "macro",
        }
    }
}

/// A definition found on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Def<'a> {
    pub kind: SymbolKind,
    pub name: &'a [u8],
    /// The type a Go method is declared on (`func (s *Server) Start`).
    pub receiver: Option<&'a [u8]>,
}

/// True for bytes that can be part of an identifier.
pub fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// The identifier at the start of `s`.
fn ident(s: &[u8]) -> Option<&[u8]> {
    let n = s.iter().take_while(|&&b| is_ident(b)).count();
    (n > 0 && !s[0].is_ascii_digit()).then(|| &s[..n])
}

/// `s` without a leading `word` followed by whitespace (or by `extra`, e.g. `(`).
fn word<'a>(s: &'a [u8], word: &str) -> Option<&'a [u8]> {
    let rest = s.strip_prefix(word.as_bytes())?;
    match rest.first() {
        Some(b' ' | b'\t') => Some(rest.trim_ascii_start()),
        _ => None,
    }
}

/// `s` with any of `mods` (each followed by whitespace) removed from its start.
fn strip_words<'a>(mut s: &'a [u8], mods: &[&str]) -> &'a [u8] {
    'again: loop {
        for m in mods {
            if let Some(rest) = word(s, m) {
                s = rest;
                continue 'again;
            }
        }
        return s;
    }
}

/// The first keyword of `table` that starts `s`, with the identifier after it.
fn keyword_def<'a>(s: &'a [u8], table: &[(&str, SymbolKind)]) -> Option<Def<'a>> {
    table.iter().find_map(|&(kw, kind)| Some(Def { kind, name: ident(word(s, kw)?)?, receiver: None }))
}

/// The definition that starts the trimmed line `t`, if any. `member` says the line is
/// directly inside a class-like body, where method syntax without a keyword is allowed.
pub fn parse_def(syntax: Syntax, t: &[u8], member: bool) -> Option<Def<'_>> {
    use SymbolKind as K;
    match syntax {
        Syntax::Rust => rust(t),
        Syntax::Python => keyword_def(strip_words(t, &["async"]), &[("def", K::Function), ("class", K::Class)]),
        Syntax::JavaScript | Syntax::TypeScript => js(t, member),
        Syntax::Go => go(t),
        Syntax::Java | Syntax::CSharp | Syntax::Dart | Syntax::Kotlin | Syntax::Scala | Syntax::Swift => {
            jvm_like(syntax, t, member)
        }
        Syntax::C | Syntax::Cpp => {
            let s = strip_words(t, &["export", "template<typename", "inline", "static"]);
            keyword_def(s, &[("class", K::Class), ("struct", K::Struct), ("namespace", K::Module), ("enum", K::Enum)])
                .filter(|_| !t.ends_with(b";"))
                .or_else(|| c_like_function(t))
        }
        Syntax::Ruby => {
            let s = t.strip_prefix(b"def self.").or_else(|| word(t, "def"));
            match s {
                Some(rest) => Some(Def { kind: K::Function, name: ident(rest)?, receiver: None }),
                None => keyword_def(t, &[("class", K::Class), ("module", K::Module)]),
            }
        }
        Syntax::Php => keyword_def(
            strip_words(t, &["public", "private", "protected", "static", "abstract", "final", "readonly"]),
            &[
                ("function", K::Function),
                ("class", K::Class),
                ("interface", K::Interface),
                ("trait", K::Trait),
                ("enum", K::Enum),
            ],
        ),
        Syntax::Elixir => {
            let module = word(t, "defmodule").map(|rest| {
                let n = rest.iter().take_while(|&&b| is_ident(b) || b == b'.').count();
                Def { kind: K::Module, name: &rest[..n], receiver: None }
            });
            module.or_else(|| keyword_def(t, &[("def", K::Function), ("defp", K::Function), ("defmacro", K::Macro)]))
        }
        Syntax::Shell => {
            let s = word(t, "function").unwrap_or(t);
            let name = ident(s)?;
            let rest = s[name.len()..].trim_ascii_start();
            (rest.starts_with(b"()") || (s.len() != t.len() && rest.starts_with(b"{"))).then_some(Def {
                kind: K::Function,
                name,
                receiver: None,
            })
        }
        Syntax::Lua => {
            let s = strip_words(t, &["local"]);
            let rest = word(s, "function")?;
            let n = rest.iter().take_while(|&&b| is_ident(b) || b == b'.' || b == b':').count();
            (n > 0).then(|| Def { kind: K::Function, name: &rest[..n], receiver: None })
        }
        Syntax::None => None,
    }
}

fn rust(t: &[u8]) -> Option<Def<'_>> {
    use SymbolKind as K;
    let mut s = t;
    if let Some(rest) = s.strip_prefix(b"pub") {
        s = match rest.first() {
            Some(b'(') => rest[rest.iter().position(|&b| b == b')')? + 1..].trim_ascii_start(),
            Some(b' ') => rest.trim_ascii_start(),
            _ => return None,
        };
    }
    loop {
        let next = ["async", "unsafe", "default", "extern"]
            .iter()
            .find_map(|w| word(s, w))
            .or_else(|| word(s, "const").filter(|r| r.starts_with(b"fn ") || r.starts_with(b"unsafe ")));
        match next {
            Some(rest) => s = rest.strip_prefix(b"\"C\"").map_or(rest, <[u8]>::trim_ascii_start),
            None => break,
        }
    }
    if let Some(rest) = word(s, "impl").or_else(|| s.strip_prefix(b"impl<").map(|_| &s[4..])) {
        let end = memchr::memmem::find(rest, b" where").or_else(|| memchr::memchr(b'{', rest)).unwrap_or(rest.len());
        let name = rest[..end].trim_ascii();
        return (!name.is_empty()).then_some(Def { kind: K::Impl, name, receiver: None });
    }
    if let Some(rest) = s.strip_prefix(b"macro_rules!") {
        return Some(Def { kind: K::Macro, name: ident(rest.trim_ascii_start())?, receiver: None });
    }
    if t.ends_with(b";") && word(s, "mod").is_some() {
        return None; // `mod foo;` only declares a file
    }
    keyword_def(
        s,
        &[
            ("fn", K::Function),
            ("struct", K::Struct),
            ("enum", K::Enum),
            ("union", K::Struct),
            ("trait", K::Trait),
            ("type", K::Type),
            ("mod", K::Module),
            ("const", K::Constant),
            ("static", K::Constant),
        ],
    )
}

const JS_CONTROL: &[&[u8]] =
    &[b"if", b"for", b"while", b"switch", b"catch", b"return", b"function", b"with", b"await", b"typeof", b"new"];

fn js(t: &[u8], member: bool) -> Option<Def<'_>> {
    use SymbolKind as K;
    let exported = t.starts_with(b"export ");
    let s = strip_words(t, &["export", "default", "declare", "async", "abstract"]);
    if let Some(rest) = word(s, "function").or_else(|| s.strip_prefix(b"function*").map(<[u8]>::trim_ascii_start)) {
        return Some(Def { kind: K::Function, name: ident(rest)?, receiver: None });
    }
    let table = [
        ("class", K::Class),
        ("interface", K::Interface),
        ("type", K::Type),
        ("enum", K::Enum),
        ("namespace", K::Module),
        ("module", K::Module),
    ];
    if let Some(def) = keyword_def(s, &table) {
        return Some(def);
    }
    if let Some(rest) = ["const", "let", "var"].iter().find_map(|w| word(s, w)) {
        let name = ident(rest)?;
        let value = &rest[name.len()..];
        let is_fn = memchr::memmem::find(value, b"=>").is_some() || memchr::memmem::find(value, b"function").is_some();
        return match (is_fn, exported) {
            (true, _) => Some(Def { kind: K::Function, name, receiver: None }),
            (false, true) => Some(Def { kind: K::Constant, name, receiver: None }),
            (false, false) => None,
        };
    }
    if member {
        let s = strip_words(
            s,
            &["static", "async", "get", "set", "public", "private", "protected", "readonly", "override"],
        );
        let name = ident(s)?;
        let rest = &s[name.len()..];
        let opens = rest.starts_with(b"(") || rest.starts_with(b"<");
        if opens && t.ends_with(b"{") && !JS_CONTROL.contains(&name) {
            return Some(Def { kind: K::Method, name, receiver: None });
        }
    }
    None
}

fn go(t: &[u8]) -> Option<Def<'_>> {
    use SymbolKind as K;
    if let Some(rest) = word(t, "func") {
        if let Some(receiver) = rest.strip_prefix(b"(") {
            // A method: func (s *Server) Start(...); the receiver type is its parent.
            let close = memchr::memchr(b')', receiver)?;
            let parent = receiver[..close].rsplit(|&b| b == b' ' || b == b'*').next().and_then(ident)?;
            let name = ident(receiver[close + 1..].trim_ascii_start())?;
            return Some(Def { kind: K::Method, name, receiver: Some(parent) });
        }
        return Some(Def { kind: K::Function, name: ident(rest)?, receiver: None });
    }
    let rest = word(t, "type")?;
    let name = ident(rest)?;
    let body = rest[name.len()..].trim_ascii_start();
    let kind = if body.starts_with(b"struct") {
        K::Struct
    } else if body.starts_with(b"interface") {
        K::Interface
    } else {
        K::Type
    };
    Some(Def { kind, name, receiver: None })
}

const JVM_MODS: &[&str] = &[
    "public",
    "private",
    "protected",
    "internal",
    "static",
    "final",
    "abstract",
    "sealed",
    "open",
    "override",
    "virtual",
    "async",
    "partial",
    "readonly",
    "data",
    "inline",
    "suspend",
    "operator",
    "fileprivate",
    "unsafe",
    "synchronized",
    "native",
    "default",
    "extern",
    "external",
    "lateinit",
    "case",
    "implicit",
    "lazy",
    "required",
    "convenience",
    "mutating",
    "infix",
    "tailrec",
    "value",
    "enum",
    "annotation",
    "companion",
    "new",
];

fn jvm_like(syntax: Syntax, t: &[u8], member: bool) -> Option<Def<'_>> {
    use SymbolKind as K;
    if t.starts_with(b"@") || t.starts_with(b"[") {
        return None; // an annotation or attribute line
    }
    let s = strip_words(t, JVM_MODS);
    let table: &[(&str, SymbolKind)] = match syntax {
        Syntax::Kotlin => {
            &[("fun", K::Function), ("class", K::Class), ("interface", K::Interface), ("object", K::Class)]
        }
        Syntax::Scala => {
            &[("def", K::Function), ("class", K::Class), ("trait", K::Trait), ("object", K::Class), ("type", K::Type)]
        }
        Syntax::Swift => &[
            ("func", K::Function),
            ("class", K::Class),
            ("struct", K::Struct),
            ("enum", K::Enum),
            ("protocol", K::Interface),
            ("extension", K::Impl),
            ("actor", K::Class),
        ],
        _ => &[
            ("class", K::Class),
            ("interface", K::Interface),
            ("enum", K::Enum),
            ("record", K::Class),
            ("struct", K::Struct),
            ("namespace", K::Module),
            ("mixin", K::Class),
            ("extension", K::Impl),
        ],
    };
    if let Some(def) = keyword_def(s, table) {
        if def.kind == K::Module && t.ends_with(b";") {
            return None; // a file-scoped namespace adds no nesting
        }
        let kind = if def.kind == K::Function && member { K::Method } else { def.kind };
        return Some(Def { kind, ..def });
    }
    // Java, C# and Dart methods have no keyword: `Type name(...)`; require a modifier
    // or a member position so that statements are not taken for definitions.
    let explicit = matches!(syntax, Syntax::Kotlin | Syntax::Scala | Syntax::Swift);
    if explicit || !(member || s.len() != t.len()) {
        return None;
    }
    let def = c_like_function(s)?;
    Some(Def { kind: if member { K::Method } else { K::Function }, ..def })
}

const C_NOT_FUNCTIONS: &[&[u8]] = &[
    b"if", b"for", b"while", b"switch", b"return", b"else", b"do", b"case", b"catch", b"sizeof", b"new", b"delete",
    b"throw", b"using", b"typedef", b"define", b"include", b"goto",
];

/// `Type name(args)` not ending in `;` (a definition, not a declaration or a call).
fn c_like_function(t: &[u8]) -> Option<Def<'_>> {
    if t.ends_with(b";") || t.starts_with(b"#") || t.starts_with(b"}") {
        return None;
    }
    let paren = memchr::memchr(b'(', t)?;
    let head = t[..paren].trim_ascii_end();
    if head.contains(&b'=') || head.contains(&b'"') {
        return None;
    }
    let n = head.iter().rev().take_while(|&&b| is_ident(b) || b == b':' || b == b'~').count();
    let name = &head[head.len() - n..];
    let name = name.rsplit(|&b| b == b':').next()?;
    let first = head.split(|&b| b == b' ' || b == b'\t').next()?;
    if name.is_empty() || C_NOT_FUNCTIONS.contains(&name) || C_NOT_FUNCTIONS.contains(&first) {
        return None;
    }
    ident(name).filter(|i| i.len() == name.len())?;
    Some(Def { kind: SymbolKind::Function, name, receiver: None })
}

/// What closes a block at the indentation of its opening line.
pub fn closer(syntax: Syntax) -> Option<&'static [u8]> {
    match syntax {
        Syntax::Python | Syntax::None => None,
        Syntax::Ruby | Syntax::Elixir | Syntax::Lua => Some(b"end"),
        Syntax::Shell => Some(b"}"),
        _ => Some(b"}"),
    }
}

/// True when a line at a definition's own indentation continues its signature
/// (`) -> Result<()> {`, an Allman-style `{`, a `where` clause) instead of ending it.
pub fn continues_signature(t: &[u8]) -> bool {
    [&b")"[..], b"{", b"where", b"->", b":", b"]", b">", b"throws", b"do"].iter().any(|p| t.starts_with(p))
}

/// A smell: text that usually signals a problem in non-test code.
pub struct SmellDef {
    /// Stable identifier in the JSON output.
    pub id: &'static str,
    /// What the user reads.
    pub label: &'static str,
    pub patterns: &'static [&'static str],
    /// Whether a match at `at` in `line` really is the smell.
    pub check: fn(line: &[u8], at: usize, pattern: &[u8]) -> bool,
    /// A note that excuses the match when it is on the same line or one of the three above
    /// (`SAFETY:` before an `unsafe` block states why it is sound: that is the practice).
    pub excused_by: Option<&'static str>,
}

fn always(_: &[u8], _: usize, _: &[u8]) -> bool {
    true
}

/// The pattern starts a word (e.g. `gets(` but not `fgets(`).
fn word_start(line: &[u8], at: usize, _: &[u8]) -> bool {
    at == 0 || !is_ident(line[at - 1])
}

/// The pattern ends a word (`: any` but not `: anything`).
fn word_end(line: &[u8], at: usize, pattern: &[u8]) -> bool {
    line.get(at + pattern.len()).is_none_or(|&b| !is_ident(b))
}

/// The pattern starts the line.
fn line_start(line: &[u8], at: usize, _: &[u8]) -> bool {
    line[..at].iter().all(u8::is_ascii_whitespace)
}

/// An empty block follows on the same line: `catch (E e) {}`.
fn empty_block_after(line: &[u8], at: usize, pattern: &[u8]) -> bool {
    let rest = &line[at + pattern.len()..];
    let Some(open) = memchr::memchr(b'{', rest) else { return false };
    rest[open + 1..].trim_ascii_start().starts_with(b"}")
}

fn bare_type_ignore(line: &[u8], at: usize, pattern: &[u8]) -> bool {
    line.get(at + pattern.len()) != Some(&b'[')
}

fn wildcard_import(line: &[u8], at: usize, _: &[u8]) -> bool {
    line_start(line, at, b"") || line.trim_ascii_start().starts_with(b"from ")
}

/// The smells of a language, outside tests.
pub fn smells(syntax: Syntax) -> &'static [SmellDef] {
    match syntax {
        Syntax::Rust => &[
            SmellDef {
                id: "rust_unwrap",
                // `.expect("why")` states the invariant it relies on; a bare unwrap does not.
                label: "unwrap() outside tests",
                patterns: &[".unwrap()"],
                check: always,
                excused_by: None,
            },
            SmellDef {
                id: "rust_todo_macro",
                label: "todo!/unimplemented!",
                patterns: &["todo!(", "unimplemented!("],
                check: word_start,
                excused_by: None,
            },
            SmellDef {
                id: "rust_unsafe",
                // `unsafe fn` declares a contract for callers; only a block needs its reason.
                label: "unsafe block without a SAFETY comment",
                patterns: &["unsafe {"],
                check: word_start,
                excused_by: Some("SAFETY"),
            },
        ],
        Syntax::Python => &[
            SmellDef {
                id: "python_bare_except",
                label: "bare except:",
                patterns: &["except:"],
                check: line_start,
                excused_by: None,
            },
            SmellDef {
                id: "python_wildcard_import",
                label: "wildcard import",
                patterns: &["import *"],
                check: wildcard_import,
                excused_by: None,
            },
            SmellDef {
                id: "python_type_ignore",
                // `# type: ignore[code]` silences one named error, as mypy recommends.
                label: "bare # type: ignore",
                patterns: &["# type: ignore"],
                check: bare_type_ignore,
                excused_by: None,
            },
        ],
        Syntax::TypeScript => &[
            SmellDef {
                id: "ts_any",
                label: "explicit any",
                patterns: &[": any", "as any", "<any>", "any[]"],
                check: word_end,
                excused_by: None,
            },
            SmellDef {
                id: "ts_ignore",
                label: "@ts-ignore/@ts-nocheck",
                patterns: &["@ts-ignore", "@ts-nocheck"],
                check: always,
                excused_by: None,
            },
            SmellDef {
                id: "js_console_log",
                label: "console.log",
                patterns: &["console.log("],
                check: word_start,
                excused_by: None,
            },
        ],
        Syntax::JavaScript => &[
            SmellDef {
                id: "js_console_log",
                label: "console.log",
                patterns: &["console.log("],
                check: word_start,
                excused_by: None,
            },
            SmellDef {
                id: "js_eslint_disable",
                label: "eslint-disable",
                patterns: &["eslint-disable"],
                check: always,
                excused_by: None,
            },
        ],
        Syntax::Go => &[
            SmellDef {
                id: "go_ignored_error",
                label: "ignored error (approximate)",
                patterns: &["_ = ", ", _ := ", ", _ = "],
                check: go_ignored,
                excused_by: None,
            },
            SmellDef { id: "go_panic", label: "panic()", patterns: &["panic("], check: word_start, excused_by: None },
        ],
        Syntax::Java => &[
            SmellDef {
                id: "java_empty_catch",
                label: "empty catch block",
                patterns: &["catch ("],
                check: empty_block_after,
                excused_by: None,
            },
            SmellDef {
                id: "java_print_stack_trace",
                label: "printStackTrace()",
                patterns: &[".printStackTrace()"],
                check: always,
                excused_by: None,
            },
            SmellDef {
                id: "java_system_out",
                label: "System.out/err printing",
                patterns: &["System.out.print", "System.err.print"],
                check: word_start,
                excused_by: None,
            },
        ],
        Syntax::CSharp => &[SmellDef {
            id: "csharp_empty_catch",
            label: "empty catch block",
            patterns: &["catch"],
            check: csharp_catch,
            excused_by: None,
        }],
        Syntax::Kotlin => &[SmellDef {
            id: "kotlin_not_null",
            label: "!! assertion",
            patterns: &["!!"],
            check: always,
            excused_by: None,
        }],
        Syntax::Swift => &[SmellDef {
            id: "swift_force",
            label: "try!/as! force",
            patterns: &["try!", "as!"],
            check: word_start,
            excused_by: None,
        }],
        Syntax::Ruby => &[SmellDef {
            id: "ruby_rescue",
            label: "rescue nil / rescue Exception",
            patterns: &["rescue nil", "rescue Exception"],
            check: word_end,
            excused_by: None,
        }],
        Syntax::Php => &[SmellDef {
            id: "php_debug_output",
            label: "var_dump/print_r",
            patterns: &["var_dump(", "print_r("],
            check: word_start,
            excused_by: None,
        }],
        Syntax::C | Syntax::Cpp => &[SmellDef {
            id: "c_unsafe_string",
            label: "strcpy/strcat/sprintf/gets",
            patterns: &["strcpy(", "strcat(", "sprintf(", "gets("],
            check: word_start,
            excused_by: None,
        }],
        _ => &[],
    }
}

fn go_ignored(line: &[u8], at: usize, pattern: &[u8]) -> bool {
    if pattern == b"_ = " { line_start(line, at, pattern) } else { !line[..at].trim_ascii_start().starts_with(b"for ") }
}

fn csharp_catch(line: &[u8], at: usize, pattern: &[u8]) -> bool {
    word_start(line, at, pattern) && word_end(line, at, pattern) && empty_block_after(line, at, pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SymbolKind as K;

    fn def(syntax: Syntax, line: &str, member: bool) -> Option<(K, String)> {
        parse_def(syntax, line.as_bytes(), member).map(|d| (d.kind, String::from_utf8(d.name.to_vec()).unwrap()))
    }

    fn defs(syntax: Syntax, lines: &[&str], member: bool) -> Vec<Option<(K, String)>> {
        lines.iter().map(|l| def(syntax, l, member)).collect()
    }

    fn some(kind: K, name: &str) -> Option<(K, String)> {
        Some((kind, name.to_string()))
    }

    #[test]
    fn rust_definitions() {
        let found = defs(
            Syntax::Rust,
            &[
                "pub fn run(cli: Cli) -> Result<()> {",
                "pub(crate) async unsafe fn go() {",
                "const fn id() {}",
                "struct Point {",
                "pub enum Mode {",
                "pub trait Report: Serialize {",
                "impl<T: Clone> Display for Wrapper<T> where T: Debug {",
                "impl Foo {",
                "macro_rules! lang {",
                "pub const MAX: usize = 3;",
                "mod tests {",
                "mod walk;",
                "let x = 1;",
                "pub use crate::x;",
            ],
            false,
        );
        assert_eq!(
            found,
            vec![
                some(K::Function, "run"),
                some(K::Function, "go"),
                some(K::Function, "id"),
                some(K::Struct, "Point"),
                some(K::Enum, "Mode"),
                some(K::Trait, "Report"),
                some(K::Impl, "<T: Clone> Display for Wrapper<T>"),
                some(K::Impl, "Foo"),
                some(K::Macro, "lang"),
                some(K::Constant, "MAX"),
                some(K::Module, "tests"),
                None,
                None,
                None,
            ]
        );
    }

    #[test]
    fn python_javascript_and_go_definitions() {
        assert_eq!(
            defs(Syntax::Python, &["def main():", "async def fetch(url):", "class User(Base):", "x = 1"], false),
            vec![some(K::Function, "main"), some(K::Function, "fetch"), some(K::Class, "User"), None]
        );
        assert_eq!(
            defs(
                Syntax::TypeScript,
                &[
                    "export default async function handler(req) {",
                    "export const add = (a: number, b: number) => a + b;",
                    "const helper = function () {",
                    "export const LIMIT = 10;",
                    "const local = 3;",
                    "export interface Props {",
                    "type Id = string;",
                    "export abstract class Shape {",
                    "describe('x', () => {",
                ],
                false
            ),
            vec![
                some(K::Function, "handler"),
                some(K::Function, "add"),
                some(K::Function, "helper"),
                some(K::Constant, "LIMIT"),
                None,
                some(K::Interface, "Props"),
                some(K::Type, "Id"),
                some(K::Class, "Shape"),
                None,
            ]
        );
        assert_eq!(
            defs(Syntax::JavaScript, &["async render(props) {", "if (x) {", "static create<T>(a) {"], true),
            vec![some(K::Method, "render"), None, some(K::Method, "create")]
        );
        assert_eq!(
            defs(
                Syntax::Go,
                &[
                    "func main() {",
                    "func (s *Server) Start(ctx context.Context) error {",
                    "type Server struct {",
                    "type Store interface {",
                    "type ID string"
                ],
                false
            ),
            vec![
                some(K::Function, "main"),
                some(K::Method, "Start"),
                some(K::Struct, "Server"),
                some(K::Interface, "Store"),
                some(K::Type, "ID"),
            ]
        );
    }

    #[test]
    fn jvm_c_and_scripting_definitions() {
        assert_eq!(
            defs(
                Syntax::Java,
                &[
                    "public final class App {",
                    "@Override",
                    "public static void main(String[] args) {",
                    "return foo(x);"
                ],
                false
            ),
            vec![some(K::Class, "App"), None, some(K::Function, "main"), None]
        );
        assert_eq!(
            defs(Syntax::Java, &["List<String> names(int n) {", "int x = compute(y);", "if (ready) {"], true),
            vec![some(K::Method, "names"), None, None]
        );
        assert_eq!(
            defs(
                Syntax::Kotlin,
                &["data class User(val id: Int)", "suspend fun load(): User {", "fun main() {"],
                false
            ),
            vec![some(K::Class, "User"), some(K::Function, "load"), some(K::Function, "main")]
        );
        assert_eq!(
            defs(
                Syntax::C,
                &[
                    "int main(int argc, char **argv) {",
                    "static void helper(void)",
                    "int add(int a, int b);",
                    "struct node {",
                    "if (x) {"
                ],
                false
            ),
            vec![some(K::Function, "main"), some(K::Function, "helper"), None, some(K::Struct, "node"), None]
        );
        assert_eq!(def(Syntax::Cpp, "void Widget::draw() const {", false), some(K::Function, "draw"));
        assert_eq!(
            defs(
                Syntax::Ruby,
                &["def self.call(env)", "def index", "class UsersController < ApplicationController", "module Api"],
                false
            ),
            vec![
                some(K::Function, "call"),
                some(K::Function, "index"),
                some(K::Class, "UsersController"),
                some(K::Module, "Api")
            ]
        );
        assert_eq!(
            defs(Syntax::Shell, &["build() {", "function deploy {", "echo hi"], false),
            vec![some(K::Function, "build"), some(K::Function, "deploy"), None]
        );
        assert_eq!(def(Syntax::Elixir, "defmodule MyApp.Router do", false), some(K::Module, "MyApp.Router"));
        assert_eq!(
            def(Syntax::Php, "public static function create(array $a): self", true),
            some(K::Function, "create")
        );
        assert_eq!(def(Syntax::Swift, "public struct Point {", false), some(K::Struct, "Point"));
        assert_eq!(def(Syntax::CSharp, "namespace App.Core;", false), None);
    }

    fn smelly(syntax: Syntax, line: &str) -> Vec<&'static str> {
        let mut ids = Vec::new();
        for smell in smells(syntax) {
            for p in smell.patterns {
                if let Some(at) = memchr::memmem::find(line.as_bytes(), p.as_bytes())
                    && (smell.check)(line.as_bytes(), at, p.as_bytes())
                {
                    ids.push(smell.id);
                }
            }
        }
        ids
    }

    #[test]
    fn smells_are_checked_in_context() {
        assert_eq!(smelly(Syntax::Rust, "let x = y.unwrap();"), vec!["rust_unwrap"]);
        assert_eq!(smelly(Syntax::Rust, "let x = y.unwrap_or(1);"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::Python, "    except:"), vec!["python_bare_except"]);
        assert_eq!(smelly(Syntax::Python, "    except ValueError:"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::Python, "from os import *"), vec!["python_wildcard_import"]);
        assert_eq!(smelly(Syntax::TypeScript, "let a: any = 1;"), vec!["ts_any"]);
        assert_eq!(smelly(Syntax::TypeScript, "let a: anything = 1;"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::Go, "\t_ = f.Close()"), vec!["go_ignored_error"]);
        assert_eq!(smelly(Syntax::Go, "\tv, _ := strconv.Atoi(s)"), vec!["go_ignored_error"]);
        assert_eq!(smelly(Syntax::Go, "\tfor i, _ := range xs {"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::Java, "} catch (IOException e) {}"), vec!["java_empty_catch"]);
        assert_eq!(smelly(Syntax::Java, "} catch (IOException e) {"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::C, "fgets(buf, n, f);"), Vec::<&str>::new());
        assert_eq!(smelly(Syntax::C, "gets(buf);"), vec!["c_unsafe_string"]);
        assert_eq!(smelly(Syntax::CSharp, "catch { }"), vec!["csharp_empty_catch"]);
    }
}
