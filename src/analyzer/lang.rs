//! Languages: which language a file is in (by file name, extension or shebang), what kind of
//! language it is, and which syntax its lines are counted with (`lines`, on tokei's tables in
//! `comments`). Nothing here reads a file.

use serde::{Serialize, Serializer};

use super::comments;
use super::lines::LineSyntax;

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
    /// How its lines count (tokei's syntax for the same language).
    pub lines: LineSyntax,
    pub extensions: &'static [&'static str],
    /// Exact file names (case-sensitive), e.g. `Makefile`.
    pub names: &'static [&'static str],
    /// Interpreter names that mark a script in its shebang line.
    pub interpreters: &'static [&'static str],
}

macro_rules! lang {
    ($name:expr, $kind:ident, $syntax:ident, $lines:expr, ext: $ext:expr, names: $names:expr, interp: $interp:expr) => {
        LangDef {
            name: $name,
            kind: Kind::$kind,
            syntax: Syntax::$syntax,
            lines: $lines,
            extensions: $ext,
            names: $names,
            interpreters: $interp,
        }
    };
    ($name:expr, $kind:ident, $syntax:ident, $lines:expr, ext: $ext:expr) => {
        lang!($name, $kind, $syntax, $lines, ext: $ext, names: &[], interp: &[])
    };
}

/// Every language mmm recognises. Order matters only for the first match on a name.
pub static LANGS: &[LangDef] = &[
    lang!("Rust", Programming, Rust, comments::RUST, ext: &["rs"]),
    lang!("Python", Programming, Python, comments::PYTHON, ext: &["py", "pyi", "pyw"], names: &["SConstruct", "SConscript"], interp: &["python", "python2", "python3"]),
    lang!("JavaScript", Programming, JavaScript, comments::JAVASCRIPT, ext: &["js", "mjs", "cjs", "jsx"],
        names: &[], interp: &["node", "nodejs", "deno", "bun"]),
    lang!("TypeScript", Programming, TypeScript, comments::TYPESCRIPT, ext: &["ts", "tsx", "mts", "cts"]),
    lang!("Go", Programming, Go, comments::GO, ext: &["go"]),
    lang!("Java", Programming, Java, comments::JAVA, ext: &["java"]),
    lang!("Kotlin", Programming, Kotlin, comments::KOTLIN, ext: &["kt", "kts"]),
    lang!("Scala", Programming, Scala, comments::SCALA, ext: &["scala", "sc", "sbt"]),
    lang!("Groovy", Programming, Java, comments::GROOVY, ext: &["groovy", "gradle", "gvy"],
        names: &["Jenkinsfile"], interp: &["groovy"]),
    lang!("C", Programming, C, comments::C, ext: &["c", "h"]),
    lang!("C++", Programming, Cpp, comments::CPP, ext: &["cpp", "cc", "cxx", "c++", "hpp", "hh", "hxx", "h++", "ipp", "tpp"]),
    lang!("C#", Programming, CSharp, comments::CSHARP, ext: &["cs", "csx"]),
    lang!("F#", Programming, None, comments::FSHARP, ext: &["fs", "fsi", "fsx"]),
    lang!("Visual Basic", Programming, None, comments::VISUAL_BASIC, ext: &["vb", "vbs"]),
    lang!("Objective-C", Programming, C, comments::OBJECTIVE_C, ext: &["m", "mm"]),
    lang!("Swift", Programming, Swift, comments::SWIFT, ext: &["swift"]),
    lang!("Dart", Programming, Dart, comments::DART, ext: &["dart"]),
    lang!("Ruby", Programming, Ruby, comments::RUBY, ext: &["rb", "rake", "gemspec", "ru"],
        names: &["Rakefile", "Gemfile", "Vagrantfile", "Podfile", "Guardfile", "Fastfile"], interp: &["ruby"]),
    lang!("PHP", Programming, Php, comments::PHP, ext: &["php", "phtml"], names: &[], interp: &["php"]),
    lang!("Perl", Programming, None, comments::PERL, ext: &["pl", "pm", "t"],
        names: &[], interp: &["perl"]),
    lang!("Lua", Programming, Lua, comments::LUA, ext: &["lua"], names: &[], interp: &["lua"]),
    lang!("R", Programming, None, comments::R, ext: &["r", "rmd"], names: &[], interp: &["Rscript"]),
    lang!("Elixir", Programming, Elixir, comments::ELIXIR, ext: &["ex", "exs"], names: &[], interp: &["elixir"]),
    lang!("Erlang", Programming, None, comments::ERLANG, ext: &["erl", "hrl"]),
    lang!("Haskell", Programming, None, comments::HASKELL, ext: &["hs", "lhs"]),
    lang!("OCaml", Programming, None, comments::OCAML, ext: &["ml", "mli"]),
    lang!("Clojure", Programming, None, comments::CLOJURE, ext: &["clj", "cljs", "cljc", "edn"]),
    lang!("Julia", Programming, None, comments::JULIA, ext: &["jl"], names: &[], interp: &["julia"]),
    lang!("Zig", Programming, None, comments::ZIG, ext: &["zig"]),
    lang!("Nim", Programming, None, comments::NIM, ext: &["nim", "nims"]),
    lang!("Elm", Programming, None, comments::ELM, ext: &["elm"]),
    lang!("Solidity", Programming, None, comments::SOLIDITY, ext: &["sol"]),
    lang!("Shell", Programming, Shell, comments::SHELL, ext: &["sh", "bash", "zsh", "ksh", "bats"],
        names: &[".bashrc", ".zshrc", ".profile", ".bash_profile", "PKGBUILD"], interp: &["sh", "bash", "zsh", "ksh", "dash"]),
    lang!("Fish", Programming, None, comments::FISH, ext: &["fish"], names: &[], interp: &["fish"]),
    lang!("PowerShell", Programming, None, comments::POWERSHELL, ext: &["ps1", "psm1", "psd1"],
        names: &[], interp: &["pwsh", "powershell"]),
    lang!("Batch", Programming, None, comments::BATCH, ext: &["bat", "cmd"]),
    lang!("SQL", Programming, None, comments::SQL, ext: &["sql"]),
    lang!("Vue", Programming, TypeScript, comments::VUE, ext: &["vue"]),
    lang!("Svelte", Programming, TypeScript, comments::SVELTE, ext: &["svelte"]),
    lang!("Assembly", Programming, None, comments::ASSEMBLY, ext: &["asm", "nasm"]),
    lang!("GNU Assembly", Programming, None, comments::GNU_ASSEMBLY, ext: &["s"]),
    lang!("Terraform", Programming, None, comments::TERRAFORM, ext: &["tf", "hcl"]),
    lang!("Nix", Programming, None, comments::NIX, ext: &["nix"]),
    lang!("Starlark", Programming, Python, comments::STARLARK, ext: &["bzl", "star"],
        names: &["BUILD", "BUILD.bazel", "WORKSPACE", "WORKSPACE.bazel", "MODULE.bazel"], interp: &[]),
    lang!("Makefile", Build, None, comments::MAKEFILE, ext: &["mk", "mak"],
        names: &["Makefile", "makefile", "GNUmakefile"], interp: &["make"]),
    lang!("CMake", Build, None, comments::CMAKE, ext: &["cmake"], names: &["CMakeLists.txt"], interp: &[]),
    lang!("Dockerfile", Build, None, comments::DOCKERFILE, ext: &["dockerfile"],
        names: &["Dockerfile", "Containerfile"], interp: &[]),
    lang!("Just", Build, None, comments::JUST, ext: &["just"], names: &["justfile", "Justfile", ".justfile"], interp: &[]),
    lang!("Protocol Buffers", Programming, None, comments::PROTOCOL_BUFFERS, ext: &["proto"]),
    lang!("GraphQL", Programming, None, comments::GRAPHQL, ext: &["graphql", "gql"]),
    lang!("HTML", Markup, None, comments::HTML, ext: &["html", "htm", "xhtml"]),
    lang!("CSS", Markup, None, comments::CSS, ext: &["css"]),
    lang!("SCSS", Markup, None, comments::SCSS, ext: &["scss", "sass", "less"]),
    lang!("XML", Markup, None, comments::XML, ext: &["xml", "xsd", "xsl", "svg", "csproj", "fsproj", "vbproj", "props", "targets", "plist"]),
    lang!("Markdown", Prose, None, comments::MARKDOWN, ext: &["md", "markdown", "mdx"]),
    lang!("reStructuredText", Prose, None, comments::RESTRUCTUREDTEXT, ext: &["rst"]),
    lang!("Text", Prose, None, comments::TEXT, ext: &["txt"]),
    lang!("JSON", Data, None, comments::JSON, ext: &["json", "jsonc", "json5", "ipynb"]),
    lang!("YAML", Data, None, comments::YAML, ext: &["yml", "yaml"]),
    lang!("TOML", Data, None, comments::TOML, ext: &["toml"]),
    lang!("INI", Data, None, comments::INI, ext: &["ini", "cfg", "conf", "properties", "editorconfig"]),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
