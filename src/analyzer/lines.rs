//! Whether each line of a file is code, comment or blank, decided exactly as tokei decides it,
//! so that `mmm analyze` and tokei report the same code lines for the same files.
//!
//! This is tokei's own algorithm (its `SyntaxCounter`), line by line, on the syntax tables of
//! `comments.rs`, which are generated from tokei's `languages.json`: a line with none of the
//! language's important markers is decided from its start alone; any other line is stepped
//! through byte by byte, following strings (with tokei's escapes and verbatim strings), nested
//! or flat block comments and Python's doc strings (which tokei counts as code). A test compares
//! every language with the `tokei` crate on thousands of generated files.
//!
//! One deliberate difference, reported per line as `embedded`: tokei counts Rust's `///` and
//! `//!` blocks as Markdown inside Rust (and with them any line its lookahead attaches to such a
//! block); mmm counts those lines as Rust comments (or blanks), so documentation is seen.
//! Embedded languages of HTML, Vue, Svelte and Markdown (scripts, styles, fenced code) are
//! counted in the file's own language, where tokei counts them as children.
//!
//! Nothing here reads a file or allocates per line.

use super::lang::LineKind;

/// How one language writes comments and strings (tokei's fields of the same names).
#[derive(Debug, Clone, Copy)]
pub struct LineSyntax {
    pub line: &'static [&'static str],
    pub block: &'static [(&'static str, &'static str)],
    /// Block comments nest (`/* /* */ */` is one comment).
    pub nested: bool,
    pub quotes: &'static [(&'static str, &'static str)],
    /// Strings in which a backslash escapes nothing.
    pub verbatim: &'static [(&'static str, &'static str)],
    /// Doc strings (Python's `"""`), which are strings to tokei, hence code.
    pub doc: &'static [(&'static str, &'static str)],
    /// Further markers that send a line to the full analysis.
    pub important: &'static [&'static str],
    /// Every non-blank line is a comment (prose).
    pub literate: bool,
    /// Line-comment markers of documentation blocks tokei counts as another language.
    pub doc_blocks: &'static [&'static str],
    /// The distinct first bytes of `quotes`, `doc`, `block` and `important` openers.
    pub first_bytes: &'static [u8],
}

impl LineSyntax {
    /// True when the (trimmed) line holds a marker that needs the full analysis: one pass over
    /// the line for the markers' first bytes, then a look at each hit.
    fn has_important(&self, t: &[u8]) -> bool {
        let at = |i: usize| {
            let w = &t[i..];
            let openers = self.quotes.iter().chain(self.doc).chain(self.block).map(|p| p.0);
            openers.chain(self.important.iter().copied()).any(|m| starts(w, m))
        };
        match *self.first_bytes {
            [] => false,
            [a] => memchr::memchr_iter(a, t).any(at),
            [a, b] => memchr::memchr2_iter(a, b, t).any(at),
            [a, b, c] => memchr::memchr3_iter(a, b, c, t).any(at),
            _ => t.iter().enumerate().any(|(i, b)| self.first_bytes.contains(b) && at(i)),
        }
    }
}

/// tokei's whitespace: space and `\t` to `\r` (vertical tab included).
fn is_ws(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// The bytes without tokei's whitespace at either end.
pub fn trim(s: &[u8]) -> &[u8] {
    let Some(start) = s.iter().position(|&b| !is_ws(b)) else { return &[] };
    let end = s.iter().rposition(|&b| !is_ws(b)).map_or(s.len(), |e| e + 1);
    &s[start..end]
}

fn trim_start(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| !is_ws(b)).map_or(&[], |i| &s[i..])
}

/// `w.starts_with(m)`, deciding on the first byte before comparing the rest: this runs for
/// every byte of the lines that need the full analysis, and most first bytes differ.
#[inline]
fn starts(w: &[u8], m: &str) -> bool {
    let m = m.as_bytes();
    w.first() == m.first() && w.starts_with(m)
}

fn starts_with_any(s: &[u8], markers: &[&str]) -> bool {
    markers.iter().any(|m| starts(s, m))
}

/// The state carried from line to line within one file.
#[derive(Debug, Default)]
pub struct LineCounter {
    /// The closing marker of the open string.
    quote: Option<&'static str>,
    /// tokei never resets this when a string closes, so escapes stay off after a verbatim
    /// string until the next string opens; kept for the same counts.
    quote_is_verbatim: bool,
    /// Closing markers of the open block comments, innermost last.
    stack: Vec<&'static str>,
    /// Inside a documentation block that continues while lines start with this marker.
    doc_block: Option<&'static str>,
}

impl LineCounter {
    /// Forgets everything: call before each file.
    pub fn reset(&mut self) {
        self.quote = None;
        self.quote_is_verbatim = false;
        self.stack.clear();
        self.doc_block = None;
    }

    /// Classifies the line `buf[start..end]` (`end` is the index of its `\n`, or the end of
    /// the buffer). Returns the kind and whether tokei would count the line in an embedded
    /// language instead (see the module's note).
    pub fn classify(&mut self, syn: &LineSyntax, buf: &[u8], start: usize, end: usize) -> (LineKind, bool) {
        let t = trim(&buf[start..end]);
        if let Some(marker) = self.doc_block {
            if starts(trim_start(&buf[start..]), marker) {
                return (if t.is_empty() { LineKind::Blank } else { LineKind::Comment }, true);
            }
            self.doc_block = None;
        }
        let plain = self.quote.is_none() && self.stack.is_empty();
        if plain {
            if t.is_empty() {
                return (LineKind::Blank, false);
            }
            if !syn.has_important(t) {
                let comment = syn.literate || starts_with_any(t, syn.line);
                return (if comment { LineKind::Comment } else { LineKind::Code }, false);
            }
        }
        let started_in_comments = !self.stack.is_empty();
        // tokei steps over the line's terminator too: its lookahead for a doc block can start there.
        let stop = if end < buf.len() { end + 1 } else { end };
        let mut i = start;
        while i < stop {
            // Inside a string or a comment only a few bytes can change anything: jump to the next.
            match self.next_interesting(syn, &buf[i..stop]) {
                Some(skip) => i += skip,
                None => break,
            }
            let w = &buf[i..];
            if let Some(n) = self.end_of_quote(syn, w).or_else(|| self.end_of_block(w)) {
                i += n;
                continue;
            }
            if self.quote.is_some() {
                i += 1;
                continue;
            }
            if self.stack.is_empty()
                && !syn.doc_blocks.is_empty()
                && (is_ws(w[0]) || w[0] == b'/')
                && let Some(&marker) = syn.doc_blocks.iter().find(|m| starts(trim_start(w), m))
            {
                self.doc_block = Some(marker);
                return (if t.is_empty() { LineKind::Blank } else { LineKind::Comment }, true);
            }
            if let Some(n) = self.start_quote(syn, w).or_else(|| self.start_block(syn, w)) {
                i += n;
                continue;
            }
            if self.stack.is_empty() && starts_with_any(w, syn.line) {
                break;
            }
            i += 1;
        }
        let comment = syn.literate || self.line_is_comment(syn, t, started_in_comments);
        (if comment { LineKind::Comment } else { LineKind::Code }, false)
    }

    /// How far into `rest` the next byte is at which a check can fire, when inside a string
    /// (the string's closer or a backslash) or a comment (its closer, a backslash, a nested
    /// opener); `Some(0)` in plain text, where every byte is looked at; `None` when no such byte
    /// is left on the line.
    fn next_interesting(&self, syn: &LineSyntax, rest: &[u8]) -> Option<usize> {
        let escape = if self.quote_is_verbatim { None } else { Some(b'\\') };
        if let Some(q) = self.quote {
            let q = q.as_bytes()[0];
            return match escape {
                Some(e) => memchr::memchr2(q, e, rest),
                None => memchr::memchr(q, rest),
            };
        }
        let Some(end) = self.stack.last() else { return Some(0) };
        let end = end.as_bytes()[0];
        match (syn.block, escape) {
            ([(open, _)], Some(e)) => memchr::memchr3(end, e, open.as_bytes()[0], rest),
            ([(open, _)], None) => memchr::memchr2(end, open.as_bytes()[0], rest),
            _ => Some(0),
        }
    }

    fn end_of_quote(&mut self, syn: &LineSyntax, w: &[u8]) -> Option<usize> {
        if let Some(q) = self.quote
            && starts(w, q)
        {
            self.quote = None;
            return Some(q.len());
        }
        if self.quote_is_verbatim || w.first() != Some(&b'\\') {
            return None;
        }
        let escapes_quote = syn.quotes.iter().any(|(s, _)| starts(&w[1..], s));
        (w.get(1) == Some(&b'\\') || escapes_quote).then_some(2)
    }

    fn end_of_block(&mut self, w: &[u8]) -> Option<usize> {
        let end = *self.stack.last()?;
        starts(w, end).then(|| {
            self.stack.pop();
            end.len()
        })
    }

    fn start_quote(&mut self, syn: &LineSyntax, w: &[u8]) -> Option<usize> {
        if !self.stack.is_empty() {
            return None;
        }
        let find = |pairs: &'static [(&'static str, &'static str)]| pairs.iter().find(|(s, _)| starts(w, s));
        let (found, verbatim) = match find(syn.doc) {
            Some(p) => (p, false),
            None => match find(syn.verbatim) {
                Some(p) => (p, true),
                None => (find(syn.quotes)?, false),
            },
        };
        self.quote = Some(found.1);
        self.quote_is_verbatim = verbatim;
        Some(found.0.len())
    }

    fn start_block(&mut self, syn: &LineSyntax, w: &[u8]) -> Option<usize> {
        let &(start, end) = syn.block.iter().find(|(s, _)| starts(w, s))?;
        if self.stack.is_empty() || syn.nested {
            self.stack.push(end);
        }
        Some(start.len())
    }

    /// tokei's `line_is_comment`, for a line that needed the full analysis.
    fn line_is_comment(&self, syn: &LineSyntax, t: &[u8], started_in_comments: bool) -> bool {
        if self.quote.is_some() {
            return false;
        }
        let contains = |m: &str| memchr::memmem::find(t, m.as_bytes()).is_some();
        if started_in_comments && syn.doc.iter().any(|(_, e)| contains(e)) {
            return true;
        }
        let whole_line = || syn.block.iter().any(|(s, e)| t.starts_with(s.as_bytes()) && t.ends_with(e.as_bytes()));
        if starts_with_any(t, syn.line) || whole_line() || started_in_comments {
            return true;
        }
        self.stack.last().is_some_and(|q| syn.block.iter().any(|(s, e)| e == q && t.starts_with(s.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::comments;
    use super::*;
    use LineKind::{Blank as B, Code as X, Comment as C};

    /// Each line's kind, with `E` marking lines tokei counts in an embedded language.
    fn kinds(syn: &LineSyntax, text: &str) -> Vec<(LineKind, bool)> {
        let buf = text.as_bytes();
        let mut counter = LineCounter::default();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
            out.push(counter.classify(syn, buf, pos, end));
            pos = end + 1;
        }
        out
    }

    fn plain(syn: &LineSyntax, text: &str) -> Vec<LineKind> {
        kinds(syn, text).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_raw_string_holding_a_comment_opener_stays_code() {
        // ripgrep's flags/defs.rs: `/**` inside r"..." once turned the rest of the file into comments.
        let text = "let a = r\"/** not a comment\";\nlet b = 1;\nlet c = r#\"/* \"# ;\nlet d = 2;\n";
        assert_eq!(plain(&comments::RUST, text), vec![X, X, X, X]);
    }

    #[test]
    fn nested_rust_block_comments_end_at_their_own_closer() {
        let text = "/* a /* b */\nstill */\nlet x = 1;\n/* one */ let y = 2;\n";
        assert_eq!(plain(&comments::RUST, text), vec![C, C, X, X]);
    }

    #[test]
    fn blank_lines_inside_comments_and_strings_follow_tokei() {
        let text = "/*\n\n*/\nlet s = \"a\n\nb\";\n";
        assert_eq!(plain(&comments::RUST, text), vec![C, C, C, X, X, X]);
    }

    #[test]
    fn rust_doc_blocks_are_comments_marked_embedded() {
        let text = "/// Doc \"q\".\n///\nfn f() {}\n//! inner\n";
        assert_eq!(kinds(&comments::RUST, text), vec![(C, true), (C, true), (X, false), (C, true)]);
        // tokei's lookahead attaches a line that reaches its end in plain mode to a doc block
        // that follows; mmm counts it like tokei's Rust count does not: as an embedded comment.
        let text = "const S: &str = \"x\";\n\n/// Doc.\nfn f() {}\n";
        assert_eq!(kinds(&comments::RUST, text), vec![(C, true), (B, true), (C, true), (X, false)]);
    }

    #[test]
    fn python_doc_strings_are_code_as_in_tokei_and_raw_ones_end() {
        // requests' sessions.py: r"""...\""" once swallowed the functions after it.
        let text = "def f():\n    r\"\"\"Doc with \\ a backslash.\"\"\"\n    return 1\n# c\n\n'''\nx\n'''\n";
        assert_eq!(plain(&comments::PYTHON, text), vec![X, X, X, C, B, X, X, X]);
    }

    #[test]
    fn markdown_is_prose_and_json_is_code() {
        assert_eq!(plain(&comments::MARKDOWN, "# Title\n\ntext\n```rust\nfn x() {}\n```\n"), vec![C, B, C, C, C, C]);
        assert_eq!(plain(&comments::JSON, "{\n\n  \"a\": 1\n}\n"), vec![X, B, X, X]);
    }

    #[test]
    fn escapes_and_line_comments_in_strings() {
        let text = "let s = \"a \\\" // not\";\nlet t = \"\\\\\"; // c\n// whole\n";
        assert_eq!(plain(&comments::RUST, text), vec![X, X, C]);
        assert_eq!(plain(&comments::C, "/* a */ /* b */\n/* a */ x;\n"), vec![C, X]);
    }

    #[test]
    fn first_bytes_are_those_of_every_opener() {
        for def in super::super::lang::LANGS {
            let syn = &def.lines;
            let openers = syn.quotes.iter().chain(syn.doc).chain(syn.block).map(|p| p.0);
            let mut firsts: Vec<u8> = openers.chain(syn.important.iter().copied()).map(|m| m.as_bytes()[0]).collect();
            firsts.sort_unstable();
            firsts.dedup();
            assert_eq!(syn.first_bytes, &firsts[..], "{}", def.name);
        }
    }

    #[test]
    fn trimming_uses_tokei_whitespace() {
        assert_eq!(trim(b"\x0b x \r"), b"x");
        assert_eq!(trim(b" \t\r\n"), b"");
    }

    /// tokei's type for each language mmm knows; a language missing here fails the test below.
    fn tokei_type(name: &str) -> tokei::LanguageType {
        use tokei::LanguageType as T;
        match name {
            "Rust" => T::Rust,
            "Python" => T::Python,
            "JavaScript" => T::JavaScript,
            "TypeScript" => T::TypeScript,
            "Go" => T::Go,
            "Java" => T::Java,
            "Kotlin" => T::Kotlin,
            "Scala" => T::Scala,
            "Groovy" => T::Groovy,
            "C" => T::C,
            "C++" => T::Cpp,
            "C#" => T::CSharp,
            "F#" => T::FSharp,
            "Visual Basic" => T::VisualBasic,
            "Objective-C" => T::ObjectiveC,
            "Swift" => T::Swift,
            "Dart" => T::Dart,
            "Ruby" => T::Ruby,
            "PHP" => T::Php,
            "Perl" => T::Perl,
            "Lua" => T::Lua,
            "R" => T::R,
            "Elixir" => T::Elixir,
            "Erlang" => T::Erlang,
            "Haskell" => T::Haskell,
            "OCaml" => T::OCaml,
            "Clojure" => T::Clojure,
            "Julia" => T::Julia,
            "Zig" => T::Zig,
            "Nim" => T::Nim,
            "Elm" => T::Elm,
            "Solidity" => T::Solidity,
            "Shell" => T::Sh,
            "Fish" => T::Fish,
            "PowerShell" => T::PowerShell,
            "Batch" => T::Batch,
            "SQL" => T::Sql,
            "Vue" => T::Vue,
            "Svelte" => T::Svelte,
            "Assembly" => T::Assembly,
            "GNU Assembly" => T::AssemblyGAS,
            "Terraform" => T::Hcl,
            "Nix" => T::Nix,
            "Starlark" => T::Bazel,
            "Makefile" => T::Makefile,
            "CMake" => T::CMake,
            "Dockerfile" => T::Dockerfile,
            "Just" => T::Just,
            "Protocol Buffers" => T::Protobuf,
            "GraphQL" => T::Graphql,
            "HTML" => T::Html,
            "CSS" => T::Css,
            "SCSS" => T::Sass,
            "XML" => T::Xml,
            "Markdown" => T::Markdown,
            "reStructuredText" => T::ReStructuredText,
            "Text" => T::Text,
            "JSON" => T::Json,
            "YAML" => T::Yaml,
            "TOML" => T::Toml,
            "INI" => T::Ini,
            other => panic!("{other}: add tokei's type here and to scripts/tokei-syntax.py"),
        }
    }

    /// Counts as tokei would report them for the file's own language: mmm's lines without the
    /// ones tokei counts in an embedded language.
    fn own_counts(syn: &LineSyntax, text: &[u8]) -> (usize, usize, usize) {
        let mut counter = LineCounter::default();
        let (mut code, mut comments, mut blanks) = (0, 0, 0);
        let mut pos = 0;
        while pos < text.len() {
            let end = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |i| pos + i);
            match counter.classify(syn, text, pos, end) {
                (_, true) => {}
                (LineKind::Code, false) => code += 1,
                (LineKind::Comment, false) => comments += 1,
                (LineKind::Blank, false) => blanks += 1,
            }
            pos = end + 1;
        }
        (code, comments, blanks)
    }

    /// Random files made of each language's own markers, escapes, quotes, whitespace and words,
    /// counted by mmm and by the `tokei` crate: the counts must be equal for every file.
    #[test]
    fn every_language_counts_exactly_as_tokei_on_generated_files() {
        let config = tokei::Config::default();
        let mut rng = fastrand::Rng::with_seed(0x70ce1);
        let mut compared = 0;
        for def in super::super::lang::LANGS {
            let syn = &def.lines;
            let tokei = tokei_type(def.name);
            let mut pieces: Vec<&str> = vec![
                "\n", "\n", "\n", " ", "  ", "\t", "\r\n", "x", "foo", ";", "\\", "\\\\", "\"", "'", "`", "#", "/",
                "*", "r", "@", "(", ")", "=", "-", "{", "}", "[", "]", "!", "<", ">", "\n\n",
            ];
            pieces.extend(syn.line.iter().chain(syn.important.iter()));
            for pairs in [syn.block, syn.quotes, syn.verbatim, syn.doc] {
                pieces.extend(pairs.iter().flat_map(|(a, b)| [*a, *b]));
            }
            // Embedded scripts, styles and fenced code are counted as children by tokei (see the
            // module's note); the rest of these languages is compared like any other.
            let skip = ["<script", "<style", "<template", "```"];
            pieces.retain(|p| !skip.contains(p));
            let mut text = String::new();
            for case in 0..1500 {
                text.clear();
                for _ in 0..rng.usize(1..80) {
                    text.push_str(pieces[rng.usize(..pieces.len())]);
                }
                let theirs = tokei.parse_from_slice(text.as_bytes(), &config);
                let ours = own_counts(syn, text.as_bytes());
                assert_eq!(
                    ours,
                    (theirs.code, theirs.comments, theirs.blanks),
                    "{} case {case}: (code, comments, blanks) differ from tokei's on {text:?}",
                    def.name
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 1500 * super::super::lang::LANGS.len());
    }

    /// This repository's own files, counted by mmm and by tokei: real code, not only generated.
    #[test]
    fn this_repository_counts_exactly_as_tokei() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = tokei::Config::default();
        let mut compared = 0;
        for entry in ignore::Walk::new(root).flatten() {
            let name = entry.file_name().to_string_lossy();
            let Some(lang) = super::super::lang::Lang::from_file_name(&name) else { continue };
            let Ok(text) = std::fs::read(entry.path()) else { continue };
            let theirs = tokei_type(lang.name()).parse_from_slice(&text, &config);
            let skip = ["<script", "<style", "<template", "```"];
            if skip.iter().any(|s| memchr::memmem::find(&text, s.as_bytes()).is_some()) {
                assert_eq!(own_counts(&lang.def().lines, &text).0, theirs.code, "{}", entry.path().display());
            } else {
                let ours = own_counts(&lang.def().lines, &text);
                assert_eq!(ours, (theirs.code, theirs.comments, theirs.blanks), "{}", entry.path().display());
            }
            compared += 1;
        }
        assert!(compared > 100, "only {compared} files compared");
    }
}
