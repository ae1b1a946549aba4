//! Languages: which language a file is in (by file name, extension or shebang) and how each
//! line of it counts (code, comment or blank).
//!
//! Comment counting is line based and approximate, like most line counters: a block comment
//! is followed across lines, but comment markers inside string literals are taken at face
//! value and nested block comments (Rust, Haskell) end at the first closing marker. Python
//! docstrings count as comments when a line starts with one. Nothing here reads a file.

use serde::{Serialize, Serializer};

/// What a language is for; only programming languages count as source code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Programming,
    /// Build and container descriptions: Makefile, CMake, Dockerfile, Just.
    Build,
    /// HTML, XML, CSS and the like.
    Markup,
    /// JSON, YAML, TOML, INI.
    Data,
    /// Markdown, reStructuredText, plain text.
    Prose,
}

/// Which symbol and smell rules apply (see `syntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    None,
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Go,
    Java,
    Kotlin,
    CSharp,
    Scala,
    C,
    Cpp,
    Swift,
    Ruby,
    Php,
    Elixir,
    Dart,
    Shell,
    Lua,
}

/// One language: its name, kind and comment syntax.
#[derive(Debug)]
pub struct LangDef {
    pub name: &'static str,
    pub kind: Kind,
    pub syntax: Syntax,
    /// Line comment markers.
    pub line: &'static [&'static str],
    /// Block comment markers, anywhere on a line.
    pub block: &'static [(&'static str, &'static str)],
    /// Block markers that count as comments only at the start of a line (docstrings).
    pub doc: &'static [(&'static str, &'static str)],
    pub extensions: &'static [&'static str],
    /// Exact file names (case-sensitive), e.g. `Makefile`.
    pub names: &'static [&'static str],
    /// Interpreter names that mark a script in its shebang line.
    pub interpreters: &'static [&'static str],
}

const C_LINE: &[&str] = &["//"];
const C_BLOCK: &[(&str, &str)] = &[("/*", "*/")];
const HASH: &[&str] = &["#"];
const HTML_BLOCK: &[(&str, &str)] = &[("<!--", "-->")];
const NONE: &[&str] = &[];
const NO_BLOCK: &[(&str, &str)] = &[];

macro_rules! lang {
    ($name:expr, $kind:ident, $syntax:ident, $line:expr, $block:expr, $doc:expr, ext: $ext:expr, names: $names:expr, interp: $interp:expr) => {
        LangDef {
            name: $name,
            kind: Kind::$kind,
            syntax: Syntax::$syntax,
            line: $line,
            block: $block,
            doc: $doc,
            extensions: $ext,
            names: $names,
            interpreters: $interp,
        }
    };
    ($name:expr, $kind:ident, $syntax:ident, $line:expr, $block:expr, ext: $ext:expr) => {
        lang!($name, $kind, $syntax, $line, $block, NO_BLOCK, ext: $ext, names: &[], interp: &[])
    };
}

/// Every language mmm recognises. Order matters only for the first match on a name.
pub static LANGS: &[LangDef] = &[
    lang!("Rust", Programming, Rust, C_LINE, C_BLOCK, ext: &["rs"]),
    lang!("Python", Programming, Python, HASH, NO_BLOCK, &[("\"\"\"", "\"\"\""), ("'''", "'''")],
        ext: &["py", "pyi", "pyw"], names: &["SConstruct", "SConscript"], interp: &["python", "python2", "python3"]),
    lang!("JavaScript", Programming, JavaScript, C_LINE, C_BLOCK, NO_BLOCK, ext: &["js", "mjs", "cjs", "jsx"],
        names: &[], interp: &["node", "nodejs", "deno", "bun"]),
    lang!("TypeScript", Programming, TypeScript, C_LINE, C_BLOCK, ext: &["ts", "tsx", "mts", "cts"]),
    lang!("Go", Programming, Go, C_LINE, C_BLOCK, ext: &["go"]),
    lang!("Java", Programming, Java, C_LINE, C_BLOCK, ext: &["java"]),
    lang!("Kotlin", Programming, Kotlin, C_LINE, C_BLOCK, ext: &["kt", "kts"]),
    lang!("Scala", Programming, Scala, C_LINE, C_BLOCK, ext: &["scala", "sc", "sbt"]),
    lang!("Groovy", Programming, Java, C_LINE, C_BLOCK, NO_BLOCK, ext: &["groovy", "gradle", "gvy"],
        names: &["Jenkinsfile"], interp: &["groovy"]),
    lang!("C", Programming, C, C_LINE, C_BLOCK, ext: &["c", "h"]),
    lang!("C++", Programming, Cpp, C_LINE, C_BLOCK, ext: &["cpp", "cc", "cxx", "c++", "hpp", "hh", "hxx", "h++", "ipp", "tpp"]),
    lang!("C#", Programming, CSharp, C_LINE, C_BLOCK, ext: &["cs", "csx"]),
    lang!("F#", Programming, None, C_LINE, &[("(*", "*)")], ext: &["fs", "fsi", "fsx"]),
    lang!("Visual Basic", Programming, None, &["'"], NO_BLOCK, ext: &["vb", "vbs"]),
    lang!("Objective-C", Programming, C, C_LINE, C_BLOCK, ext: &["m", "mm"]),
    lang!("Swift", Programming, Swift, C_LINE, C_BLOCK, ext: &["swift"]),
    lang!("Dart", Programming, Dart, C_LINE, C_BLOCK, ext: &["dart"]),
    lang!("Ruby", Programming, Ruby, HASH, &[("=begin", "=end")], NO_BLOCK, ext: &["rb", "rake", "gemspec", "ru"],
        names: &["Rakefile", "Gemfile", "Vagrantfile", "Podfile", "Guardfile", "Fastfile"], interp: &["ruby"]),
    lang!("PHP", Programming, Php, &["//", "#"], C_BLOCK, NO_BLOCK, ext: &["php", "phtml"], names: &[], interp: &["php"]),
    lang!("Perl", Programming, None, HASH, &[("=pod", "=cut"), ("=head1", "=cut")], NO_BLOCK, ext: &["pl", "pm", "t"],
        names: &[], interp: &["perl"]),
    lang!("Lua", Programming, Lua, &["--"], &[("--[[", "]]")], NO_BLOCK, ext: &["lua"], names: &[], interp: &["lua"]),
    lang!("R", Programming, None, HASH, NO_BLOCK, NO_BLOCK, ext: &["r", "rmd"], names: &[], interp: &["Rscript"]),
    lang!("Elixir", Programming, Elixir, HASH, NO_BLOCK, &[("@moduledoc \"\"\"", "\"\"\""), ("@doc \"\"\"", "\"\"\"")],
        ext: &["ex", "exs"], names: &[], interp: &["elixir"]),
    lang!("Erlang", Programming, None, &["%"], NO_BLOCK, ext: &["erl", "hrl"]),
    lang!("Haskell", Programming, None, &["--"], &[("{-", "-}")], ext: &["hs", "lhs"]),
    lang!("OCaml", Programming, None, NONE, &[("(*", "*)")], ext: &["ml", "mli"]),
    lang!("Clojure", Programming, None, &[";"], NO_BLOCK, ext: &["clj", "cljs", "cljc", "edn"]),
    lang!("Julia", Programming, None, HASH, &[("#=", "=#")], NO_BLOCK, ext: &["jl"], names: &[], interp: &["julia"]),
    lang!("Zig", Programming, None, C_LINE, NO_BLOCK, ext: &["zig"]),
    lang!("Nim", Programming, None, HASH, &[("#[", "]#")], ext: &["nim", "nims"]),
    lang!("Elm", Programming, None, &["--"], &[("{-", "-}")], ext: &["elm"]),
    lang!("Solidity", Programming, None, C_LINE, C_BLOCK, ext: &["sol"]),
    lang!("Shell", Programming, Shell, HASH, NO_BLOCK, NO_BLOCK, ext: &["sh", "bash", "zsh", "ksh", "bats"],
        names: &[".bashrc", ".zshrc", ".profile", ".bash_profile", "PKGBUILD"], interp: &["sh", "bash", "zsh", "ksh", "dash"]),
    lang!("Fish", Programming, None, HASH, NO_BLOCK, NO_BLOCK, ext: &["fish"], names: &[], interp: &["fish"]),
    lang!("PowerShell", Programming, None, HASH, &[("<#", "#>")], NO_BLOCK, ext: &["ps1", "psm1", "psd1"],
        names: &[], interp: &["pwsh", "powershell"]),
    lang!("Batch", Programming, None, &["REM ", "rem ", "::"], NO_BLOCK, ext: &["bat", "cmd"]),
    lang!("SQL", Programming, None, &["--"], C_BLOCK, ext: &["sql"]),
    lang!("Vue", Programming, TypeScript, C_LINE, &[("/*", "*/"), ("<!--", "-->")], ext: &["vue"]),
    lang!("Svelte", Programming, TypeScript, C_LINE, &[("/*", "*/"), ("<!--", "-->")], ext: &["svelte"]),
    lang!("Assembly", Programming, None, &[";", "#"], C_BLOCK, ext: &["asm", "s", "nasm"]),
    lang!("Terraform", Programming, None, &["#", "//"], C_BLOCK, ext: &["tf", "hcl"]),
    lang!("Nix", Programming, None, HASH, C_BLOCK, ext: &["nix"]),
    lang!("Starlark", Programming, Python, HASH, NO_BLOCK, NO_BLOCK, ext: &["bzl", "star"],
        names: &["BUILD", "BUILD.bazel", "WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel"], interp: &[]),
    lang!("Makefile", Build, None, HASH, NO_BLOCK, NO_BLOCK, ext: &["mk", "mak"],
        names: &["Makefile", "makefile", "GNUmakefile"], interp: &["make"]),
    lang!("CMake", Build, None, HASH, &[("#[[", "]]")], NO_BLOCK, ext: &["cmake"], names: &["CMakeLists.txt"], interp: &[]),
    lang!("Dockerfile", Build, None, HASH, NO_BLOCK, NO_BLOCK, ext: &["dockerfile"],
        names: &["Dockerfile", "Containerfile"], interp: &[]),
    lang!("Just", Build, None, HASH, NO_BLOCK, NO_BLOCK, ext: &["just"], names: &["justfile", "Justfile", ".justfile"], interp: &[]),
    lang!("Protocol Buffers", Programming, None, C_LINE, C_BLOCK, ext: &["proto"]),
    lang!("GraphQL", Programming, None, HASH, NO_BLOCK, ext: &["graphql", "gql"]),
    lang!("HTML", Markup, None, NONE, HTML_BLOCK, ext: &["html", "htm", "xhtml"]),
    lang!("CSS", Markup, None, NONE, C_BLOCK, ext: &["css"]),
    lang!("SCSS", Markup, None, C_LINE, C_BLOCK, ext: &["scss", "sass", "less"]),
    lang!("XML", Markup, None, NONE, HTML_BLOCK, ext: &["xml", "xsd", "xsl", "svg", "csproj", "fsproj", "vbproj", "props", "targets", "plist"]),
    lang!("Markdown", Prose, None, NONE, HTML_BLOCK, ext: &["md", "markdown", "mdx"]),
    lang!("reStructuredText", Prose, None, NONE, NO_BLOCK, ext: &["rst"]),
    lang!("Text", Prose, None, NONE, NO_BLOCK, ext: &["txt"]),
    lang!("JSON", Data, None, NONE, NO_BLOCK, ext: &["json", "jsonc", "json5", "ipynb"]),
    lang!("YAML", Data, None, HASH, NO_BLOCK, ext: &["yml", "yaml"]),
    lang!("TOML", Data, None, HASH, NO_BLOCK, ext: &["toml"]),
    lang!("INI", Data, None, &[";", "#"], NO_BLOCK, ext: &["ini", "cfg", "conf", "properties", "editorconfig"]),
];

/// A language, as an index into [`LANGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang(u8);

impl Lang {
    pub fn def(self) -> &'static LangDef {
        &LANGS[self.0 as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The language called `name`, if mmm knows it.
    pub fn by_name(name: &str) -> Option<Lang> {
        LANGS.iter().position(|l| l.name == name).map(|i| Lang(i as u8))
    }

    /// The language of a file from its name alone (exact names first, then the
    /// extension, case-insensitive). `None` means "unknown" or "look at the shebang".
    pub fn from_file_name(name: &str) -> Option<Lang> {
        if let Some(i) = LANGS.iter().position(|l| l.names.contains(&name)) {
            return Some(Lang(i as u8));
        }
        if name.starts_with("Dockerfile.") || name.starts_with("Containerfile.") {
            return Lang::by_name("Dockerfile");
        }
        let (_, ext) = name.rsplit_once('.')?;
        if ext.is_empty() {
            return None;
        }
        let matches = |l: &LangDef| l.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext));
        LANGS.iter().position(matches).map(|i| Lang(i as u8))
    }

    /// The language a `#!` first line names (`#!/usr/bin/env python3`, `#!/bin/sh -e`).
    pub fn from_shebang(first_line: &[u8]) -> Option<Lang> {
        let rest = first_line.strip_prefix(b"#!")?;
        let text = std::str::from_utf8(rest).ok()?;
        let mut words = text.split_whitespace();
        let mut program = words.next()?.rsplit('/').next()?;
        if program == "env" {
            program = words.find(|w| !w.starts_with('-'))?;
        }
        // python3.12 → python3; node18 stays unknown on purpose.
        let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        LANGS
            .iter()
            .position(|l| l.interpreters.contains(&program) || l.interpreters.contains(&base))
            .map(|i| Lang(i as u8))
    }
}

impl Serialize for Lang {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// How one line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    Code,
}

/// The comment a line ends inside of, carried to the next line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommentState {
    /// The closing marker of the open block comment, if any.
    open: Option<&'static str>,
}

/// The line without leading and trailing ASCII whitespace.
pub fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

fn find(hay: &[u8], needle: &str) -> Option<usize> {
    memchr::memmem::find(hay, needle.as_bytes())
}

impl LangDef {
    /// Classifies one line (without its newline), updating the block-comment state.
    pub fn classify(&self, line: &[u8], state: &mut CommentState) -> LineKind {
        let t = trim(line);
        if let Some(end) = state.open {
            if t.is_empty() {
                return LineKind::Blank;
            }
            let Some(pos) = find(t, end) else { return LineKind::Comment };
            state.open = None;
            let rest = trim(&t[pos + end.len()..]);
            return if rest.is_empty() || self.starts_comment(rest, state) {
                LineKind::Comment
            } else {
                LineKind::Code
            };
        }
        if t.is_empty() {
            return LineKind::Blank;
        }
        if self.starts_comment(t, state) {
            return LineKind::Comment;
        }
        self.open_block_in_code(t, state);
        LineKind::Code
    }

    /// True when `t` (trimmed) is a comment from its start. Opens a block comment that does
    /// not close on this line; a block that closes with code after it is code.
    fn starts_comment(&self, t: &[u8], state: &mut CommentState) -> bool {
        // Blocks first: Lua's `--[[` also starts with the line marker `--`.
        for &(start, end) in self.block.iter().chain(self.doc) {
            if let Some(after) = t.strip_prefix(start.as_bytes()) {
                return match find(after, end) {
                    None => {
                        state.open = Some(end);
                        true
                    }
                    Some(pos) => {
                        let rest = trim(&after[pos + end.len()..]);
                        rest.is_empty() || self.starts_comment(rest, state)
                    }
                };
            }
        }
        self.line.iter().any(|m| t.starts_with(m.as_bytes()))
    }

    /// A code line may open a block comment that runs on (`x = 1; /* begin`).
    fn open_block_in_code(&self, t: &[u8], state: &mut CommentState) {
        for &(start, end) in self.block {
            let first = start.as_bytes()[0];
            if memchr::memchr(first, t).is_none() {
                continue;
            }
            let Some(pos) = find(t, start) else { continue };
            let before = &t[..pos];
            if self.line.iter().any(|m| find(before, m).is_some()) {
                continue;
            }
            if find(&t[pos + start.len()..], end).is_none() {
                state.open = Some(end);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(name: &str) -> Lang {
        Lang::by_name(name).unwrap()
    }

    fn detect(file: &str) -> Option<&'static str> {
        Lang::from_file_name(file).map(Lang::name)
    }

    #[test]
    fn there_are_at_least_25_programming_languages_with_unique_names() {
        let programming = LANGS.iter().filter(|l| l.kind == Kind::Programming).count();
        assert!(programming >= 25, "{programming}");
        let mut names: Vec<_> = LANGS.iter().map(|l| l.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), LANGS.len());
        assert!(LANGS.len() < 256);
    }

    #[test]
    fn languages_are_found_by_extension_and_file_name() {
        let found: Vec<_> = [
            "main.rs",
            "a.PY",
            "x.tsx",
            "y.mjs",
            "Makefile",
            "CMakeLists.txt",
            "Dockerfile",
            "Dockerfile.dev",
            "justfile",
            "Gemfile",
            "x.h",
            "x.hpp",
            "App.csproj",
            "notes.txt",
            "README",
            "archive.tar.gz",
            ".gitignore",
            "build.gradle",
            "Jenkinsfile",
            "BUILD.bazel",
            "x.",
        ]
        .iter()
        .map(|f| detect(f))
        .collect();
        assert_eq!(
            found,
            vec![
                Some("Rust"),
                Some("Python"),
                Some("TypeScript"),
                Some("JavaScript"),
                Some("Makefile"),
                Some("CMake"),
                Some("Dockerfile"),
                Some("Dockerfile"),
                Some("Just"),
                Some("Ruby"),
                Some("C"),
                Some("C++"),
                Some("XML"),
                Some("Text"),
                None,
                None,
                None,
                Some("Groovy"),
                Some("Groovy"),
                Some("Starlark"),
                None,
            ]
        );
    }

    #[test]
    fn shebangs_name_the_interpreter() {
        let found: Vec<_> = [
            &b"#!/usr/bin/env python3"[..],
            b"#!/bin/bash -e",
            b"#!/usr/bin/env -S node --harmony",
            b"#!/usr/bin/python3.12",
            b"#!/usr/bin/env ruby",
            b"#!/bin/sh",
            b"#!/usr/bin/env unknown-thing",
            b"# not a shebang",
        ]
        .iter()
        .map(|l| Lang::from_shebang(l).map(Lang::name))
        .collect();
        assert_eq!(
            found,
            vec![
                Some("Python"),
                Some("Shell"),
                Some("JavaScript"),
                Some("Python"),
                Some("Ruby"),
                Some("Shell"),
                None,
                None
            ]
        );
    }

    fn counts(name: &str, text: &str) -> Vec<LineKind> {
        let def = lang(name).def();
        let mut state = CommentState::default();
        text.lines().map(|l| def.classify(l.as_bytes(), &mut state)).collect()
    }

    use LineKind::{Blank as B, Code as X, Comment as C};

    #[test]
    fn c_style_line_and_block_comments() {
        let text = "// a\nfn x() {} // trailing\n\n/* one\n\n two */\n/* inline */ let y = 1;\nlet z = 2; /* opens\n closes */\n/** doc */\n";
        assert_eq!(counts("Rust", text), vec![C, X, B, C, B, C, X, X, C, C]);
    }

    #[test]
    fn a_block_closing_with_code_after_it_is_code() {
        assert_eq!(counts("C", "/* a\n b */ int x;\n"), vec![C, X]);
        assert_eq!(counts("Go", "x := 1 // has /* inside\ny := 2\n"), vec![X, X]);
    }

    #[test]
    fn python_hashes_and_docstrings() {
        let text = "# c\ndef f():\n    \"\"\"Doc.\"\"\"\n    \"\"\"\n    Long doc.\n    \"\"\"\n    x = \"\"\"not a comment\n    still string\"\"\"\n";
        assert_eq!(counts("Python", text), vec![C, X, C, C, C, C, X, X]);
    }

    #[test]
    fn other_comment_styles() {
        assert_eq!(counts("SQL", "-- c\nSELECT 1;\n/* b\n*/\n"), vec![C, X, C, C]);
        assert_eq!(counts("HTML", "<!-- a -->\n<p>\n<!--\nx\n-->\n"), vec![C, X, C, C, C]);
        assert_eq!(counts("Haskell", "{- a\n-}\nmain = 1 -- x\n-- y\n"), vec![C, C, X, C]);
        assert_eq!(counts("Ruby", "=begin\nx\n=end\nputs 1\n"), vec![C, C, C, X]);
        assert_eq!(counts("JSON", "{\n\n}\n"), vec![X, B, X]);
        assert_eq!(counts("Lua", "--[[ a\nb ]]\n-- c\nprint(1)\n"), vec![C, C, C, X]);
    }
}
