//! Symbols, function spans, test areas and references from a real parser (tree-sitter) for
//! Rust, Python, JavaScript, TypeScript (and TSX), Go and Java.
//!
//! The line heuristics in `scan` guess where a function ends from indentation and closing
//! braces; a raw string, a docstring or an unusual layout can make them wrong by hundreds of
//! lines, and a wrong "longest function" becomes the model's focus. [`FileParser::parse`]
//! parses the bytes the walk already read (it never reads a file) and yields, per file:
//!
//! - definitions (kind, name, first line, length in lines, enclosing class/impl/trait),
//!   outside test areas and not nested in function bodies: what the repo map lists;
//! - whether the file defines `main` (or is a Python `__main__` script);
//! - test areas: Rust items under `#[test]`, `#[tokio::test]`, `#[cfg(test)]` in any `cfg`
//!   combination that requires `test` (and `#![cfg(test)]` modules), pytest `test_*`
//!   functions, `Test*` classes and unittest `TestCase` subclasses, Jest/Mocha
//!   `describe`/`it`/`test` calls, Go `TestXxx`/`BenchmarkXxx`/`FuzzXxx`/`ExampleXxx` in
//!   `_test.go` files, JUnit `@Test` methods;
//! - references: the hashes of the identifiers the file's code uses (never comments or
//!   strings), for the repo map's graph.
//!
//! It must never panic or hang on hostile input, and never return a half-right answer: a file
//! with a syntax error the grammar cannot place, or one that takes longer than
//! [`PARSE_TIME_LIMIT`], yields `None`, and the caller keeps the line heuristics' result.
//! The tree is walked with a cursor and explicit stacks (no recursion), so deep nesting costs
//! memory, not the call stack.

use std::time::{Duration, Instant};

use tree_sitter::{Language, Node, ParseOptions, Parser, TreeCursor};

use super::lang::Lang;
use super::scan::{MIN_IDENT, ident_hash, is_test_attribute};
use super::syntax::SymbolKind;

/// Longest a file may take to parse; past it the line heuristics stand.
pub const PARSE_TIME_LIMIT: Duration = Duration::from_millis(250);

/// Most definitions kept per file (as the line heuristics keep).
const MAX_DEFS: usize = 200;

/// A grammar mmm parses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
}

impl Grammar {
    /// The grammar for a file of `lang` named `name`, if mmm has one.
    pub fn for_file(lang: Lang, name: &str) -> Option<Grammar> {
        Some(match lang.name() {
            "Rust" => Grammar::Rust,
            "Python" => Grammar::Python,
            "JavaScript" => Grammar::JavaScript,
            "TypeScript" if name.ends_with(".tsx") => Grammar::Tsx,
            "TypeScript" => Grammar::TypeScript,
            "Go" => Grammar::Go,
            "Java" => Grammar::Java,
            _ => return None,
        })
    }

    fn language(self) -> Language {
        match self {
            Grammar::Rust => tree_sitter_rust::LANGUAGE.into(),
            Grammar::Python => tree_sitter_python::LANGUAGE.into(),
            Grammar::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Grammar::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Grammar::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Grammar::Go => tree_sitter_go::LANGUAGE.into(),
            Grammar::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }
}

/// One definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub kind: SymbolKind,
    /// The name; a Go method is `Receiver.Method`, a Rust impl `Trait for Type` or `Type`.
    pub name: String,
    /// First line (1-based): the line of the name.
    pub line: u32,
    /// Length in lines, from `line` to the definition's last line.
    pub lines: u32,
    /// Index in the same list of the enclosing class, impl, trait or interface.
    pub parent: Option<u16>,
}

/// One test area: a test function, a test module or class, a `describe` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestArea {
    /// The test's name: the function, module or class name, or a `describe`/`it` title.
    pub name: String,
    /// First and last line (1-based, inclusive), attributes and decorators included.
    pub first: u32,
    pub last: u32,
}

/// What a parse yields for one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub defs: Vec<Def>,
    pub has_main: bool,
    /// Outermost test areas, in file order (they never overlap).
    pub tests: Vec<TestArea>,
    /// Sorted, distinct [`ident_hash`]es of the identifiers the code uses (at least
    /// [`MIN_IDENT`] bytes long).
    pub refs: Vec<u32>,
}

/// A parser kept per walker thread, reused from file to file.
#[derive(Default)]
pub struct FileParser {
    parser: Option<(Parser, Grammar)>,
}

impl FileParser {
    /// Parses `buf` with `grammar`; `test_file` says the path is a test file (Go test
    /// functions count only in `_test.go` files). `None` when the grammar reports a syntax
    /// error or the parse exceeds [`PARSE_TIME_LIMIT`]: the caller keeps the heuristics.
    pub fn parse(&mut self, buf: &[u8], grammar: Grammar, test_file: bool) -> Option<Parsed> {
        let parser = match &mut self.parser {
            Some((parser, current)) if *current == grammar => parser,
            slot => {
                let mut parser = slot.take().map_or_else(Parser::new, |(p, _)| p);
                parser.set_language(&grammar.language()).ok()?;
                &mut slot.insert((parser, grammar)).0
            }
        };
        let started = Instant::now();
        let mut over_time = |_: &tree_sitter::ParseState| started.elapsed() > PARSE_TIME_LIMIT;
        let options = ParseOptions::new().progress_callback(&mut over_time);
        let len = buf.len();
        let tree = parser.parse_with_options(&mut |i, _| if i < len { &buf[i..] } else { &[] }, None, Some(options));
        let Some(tree) = tree else {
            // Cancelled: the parser must be reset before its next use.
            parser.reset();
            return None;
        };
        if tree.root_node().has_error() {
            return None;
        }
        Some(Walker::new(buf, grammar, test_file).run(tree.walk()))
    }
}

/// What an open node means for the nodes inside it.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// A class-like definition: the parent of definitions inside.
    Container(u16),
    /// A function body: definitions inside are not listed.
    Function,
    /// A test area: nothing inside is listed.
    Test,
}

struct Walker<'a> {
    buf: &'a [u8],
    grammar: Grammar,
    test_file: bool,
    out: Parsed,
    /// The open frames, each with the id of the node that opened it.
    frames: Vec<(usize, Frame)>,
    /// Node ids from the root to the current node's parent.
    ancestors: Vec<usize>,
    /// A Rust test attribute seen: the parent's node id and the attribute's first line.
    pending_test: Option<(usize, u32)>,
}

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8], grammar: Grammar, test_file: bool) -> Self {
        Walker {
            buf,
            grammar,
            test_file,
            out: Parsed::default(),
            frames: Vec::new(),
            ancestors: Vec::new(),
            pending_test: None,
        }
    }

    fn run(mut self, mut cursor: TreeCursor<'_>) -> Parsed {
        'walk: loop {
            let node = cursor.node();
            self.visit(node);
            if cursor.goto_first_child() {
                self.ancestors.push(node.id());
                continue;
            }
            loop {
                self.leave(cursor.node().id());
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
                self.ancestors.pop();
            }
        }
        self.out.refs.sort_unstable();
        self.out.refs.dedup();
        self.out.has_main |=
            self.out.defs.iter().any(|d| d.kind.is_function() && (d.name == "main" || d.name == "Main"));
        self.out
    }

    fn leave(&mut self, id: usize) {
        while self.frames.last().is_some_and(|&(open, _)| open == id) {
            self.frames.pop();
        }
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        std::str::from_utf8(&self.buf[node.byte_range()]).unwrap_or("")
    }

    fn field_text(&self, node: Node<'_>, field: &str) -> Option<&'a str> {
        node.child_by_field_name(field).map(|n| self.text(n)).filter(|t| !t.is_empty())
    }

    fn in_test(&self) -> bool {
        self.frames.iter().any(|(_, f)| matches!(f, Frame::Test))
    }

    fn in_function(&self) -> bool {
        self.frames.iter().any(|(_, f)| matches!(f, Frame::Function))
    }

    fn container(&self) -> Option<u16> {
        self.frames.iter().rev().find_map(|(_, f)| match f {
            Frame::Container(i) => Some(*i),
            _ => None,
        })
    }

    fn visit(&mut self, node: Node<'_>) {
        let kind = node.kind();
        if node.child_count() == 0 {
            if kind.ends_with("identifier") {
                let text = &self.buf[node.byte_range()];
                if text.len() >= MIN_IDENT {
                    self.out.refs.push(ident_hash(text));
                }
            }
            return;
        }
        if !node.is_named() || self.in_test() {
            return;
        }
        if let Some((name, first)) = self.test_area(node, kind) {
            let last = node.end_position().row as u32 + 1;
            self.out.tests.push(TestArea { name, first, last });
            self.frames.push((node.id(), Frame::Test));
            return;
        }
        if self.grammar == Grammar::Python && kind == "if_statement" && self.frames.is_empty() {
            let condition = self.field_text(node, "condition").unwrap_or("");
            self.out.has_main |= condition.contains("__name__") && condition.contains("__main__");
        }
        if self.in_function() {
            return;
        }
        let Some((kind, name, line)) = self.definition(node, kind) else { return };
        let parent = self.container();
        let kind = match kind {
            SymbolKind::Function if parent.is_some() => SymbolKind::Method,
            k => k,
        };
        let index = self.out.defs.len();
        if kind.is_function() {
            self.frames.push((node.id(), Frame::Function));
        } else if kind.holds_members() {
            match u16::try_from(index) {
                Ok(i) if index < MAX_DEFS => self.frames.push((node.id(), Frame::Container(i))),
                _ => self.frames.push((node.id(), Frame::Function)),
            }
        }
        if index < MAX_DEFS {
            let lines = (node.end_position().row as u32 + 1).saturating_sub(line) + 1;
            let lines = if kind.is_function() { lines } else { 0 };
            self.out.defs.push(Def { kind, name, line, lines, parent });
        }
    }

    /// The test area `node` opens: its name and first line.
    fn test_area(&mut self, node: Node<'_>, kind: &str) -> Option<(String, u32)> {
        let line = node.start_position().row as u32 + 1;
        match self.grammar {
            Grammar::Rust => self.rust_test(node, kind, line),
            Grammar::Python => {
                let name = self.field_text(node, "name")?;
                let first = match node.parent() {
                    Some(p) if p.kind() == "decorated_definition" => p.start_position().row as u32 + 1,
                    _ => line,
                };
                let is_test = match kind {
                    "function_definition" => name.starts_with("test"),
                    "class_definition" => {
                        name.starts_with("Test")
                            || self.field_text(node, "superclasses").is_some_and(|s| s.contains("TestCase"))
                    }
                    _ => false,
                };
                is_test.then(|| (name.to_string(), first))
            }
            Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx => {
                if kind != "expression_statement" {
                    return None;
                }
                let call = node.named_child(0).filter(|c| c.kind() == "call_expression")?;
                let callee = self.callee_root(call)?;
                const SUITES: &[&str] =
                    &["describe", "it", "test", "suite", "context", "specify", "fdescribe", "xdescribe", "fit", "xit"];
                if !SUITES.contains(&callee) {
                    return None;
                }
                let title = call
                    .child_by_field_name("arguments")
                    .and_then(|a| a.named_child(0))
                    .filter(|a| matches!(a.kind(), "string" | "template_string"))
                    .map(|a| self.text(a).trim_matches(['"', '\'', '`']).to_string());
                Some((title.unwrap_or_else(|| callee.to_string()), line))
            }
            Grammar::Go => {
                let name = self.field_text(node, "name")?;
                let is_test = kind == "function_declaration"
                    && self.test_file
                    && ["Test", "Benchmark", "Fuzz", "Example"].iter().any(|p| {
                        name.strip_prefix(p).is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_lowercase()))
                    });
                is_test.then(|| (name.to_string(), line))
            }
            Grammar::Java => {
                if kind != "method_declaration" {
                    return None;
                }
                let modifiers = (0..node.named_child_count())
                    .filter_map(|i| node.named_child(i))
                    .find(|c| c.kind() == "modifiers")?;
                const JUNIT: &[&str] = &["Test", "ParameterizedTest", "RepeatedTest", "TestFactory", "TestTemplate"];
                let annotated = (0..modifiers.named_child_count())
                    .filter_map(|i| modifiers.named_child(i))
                    .filter(|a| matches!(a.kind(), "marker_annotation" | "annotation"))
                    .filter_map(|a| self.field_text(a, "name"))
                    .any(|n| JUNIT.contains(&n.rsplit('.').next().unwrap_or(n)));
                annotated.then(|| (self.field_text(node, "name").unwrap_or("test").to_string(), line))
            }
        }
    }

    /// Rust: the item after a test attribute, or the module or file under `#![cfg(test)]`.
    fn rust_test(&mut self, node: Node<'_>, kind: &str, line: u32) -> Option<(String, u32)> {
        let parent = self.ancestors.last().copied().unwrap_or(usize::MAX);
        match kind {
            "attribute_item" => {
                if is_test_attribute(self.text(node).as_bytes()) && self.pending_test.is_none_or(|(p, _)| p != parent) {
                    self.pending_test = Some((parent, line));
                }
                None
            }
            "inner_attribute_item" => {
                let text = self.text(node).replacen("#![", "#[", 1);
                if is_test_attribute(text.as_bytes())
                    && let Some(&holder) = self.ancestors.last()
                {
                    // Everything after it in the enclosing module or file is test code.
                    self.frames.push((holder, Frame::Test));
                    let first = line;
                    let end = node.parent().map_or(line, |p| p.end_position().row as u32 + 1);
                    self.out.tests.push(TestArea { name: "cfg(test)".into(), first, last: end });
                }
                None
            }
            "line_comment" | "block_comment" => None,
            _ => {
                let (holder, first) = self.pending_test.filter(|&(p, _)| p == parent)?;
                let _ = holder;
                self.pending_test = None;
                let name = self.field_text(node, "name").unwrap_or(kind).to_string();
                Some((name, first))
            }
        }
    }

    /// The identifier a call's callee starts from: `describe` in `describe.each(t)(...)`.
    fn callee_root(&self, call: Node<'_>) -> Option<&'a str> {
        let mut f = call.child_by_field_name("function")?;
        loop {
            match f.kind() {
                "identifier" => return Some(self.text(f)),
                "member_expression" => f = f.child_by_field_name("object")?,
                "call_expression" => f = f.child_by_field_name("function")?,
                _ => return None,
            }
        }
    }

    /// The definition `node` is: its kind, name and first line.
    fn definition(&self, node: Node<'_>, kind: &str) -> Option<(SymbolKind, String, u32)> {
        use SymbolKind as K;
        let named = |k: SymbolKind| {
            let name = node.child_by_field_name("name")?;
            Some((k, self.text(name).to_string(), name.start_position().row as u32 + 1))
        };
        match (self.grammar, kind) {
            (Grammar::Rust, "function_item" | "function_signature_item") => named(K::Function),
            (Grammar::Rust, "struct_item" | "union_item") => named(K::Struct),
            (Grammar::Rust, "enum_item") => named(K::Enum),
            (Grammar::Rust, "trait_item") => named(K::Trait),
            (Grammar::Rust, "type_item") => named(K::Type),
            (Grammar::Rust, "const_item" | "static_item") => named(K::Constant),
            (Grammar::Rust, "macro_definition") => named(K::Macro),
            (Grammar::Rust, "mod_item") if node.child_by_field_name("body").is_some() => named(K::Module),
            (Grammar::Rust, "impl_item") => {
                let ty = self.field_text(node, "type")?;
                let name = match self.field_text(node, "trait") {
                    Some(tr) => format!("{tr} for {ty}"),
                    None => ty.to_string(),
                };
                Some((K::Impl, name, node.start_position().row as u32 + 1))
            }
            (Grammar::Python, "function_definition") => named(K::Function),
            (Grammar::Python, "class_definition") => named(K::Class),
            (Grammar::JavaScript | Grammar::TypeScript | Grammar::Tsx, k) => self.js_definition(node, k),
            (Grammar::Go, "function_declaration") => named(K::Function),
            (Grammar::Go, "method_declaration") => {
                let receiver = self.field_text(node, "receiver")?;
                let ty = receiver.trim_matches(['(', ')']).split([' ', '*', '\t']).rfind(|s| !s.is_empty())?;
                let ty = ty.split('[').next().unwrap_or(ty);
                let (_, name, line) = named(K::Method)?;
                Some((K::Method, format!("{ty}.{name}"), line))
            }
            (Grammar::Go, "type_spec" | "type_alias") => {
                let kind = match node.child_by_field_name("type").map(|t| t.kind()) {
                    Some("struct_type") => K::Struct,
                    Some("interface_type") => K::Interface,
                    _ => K::Type,
                };
                named(kind)
            }
            (Grammar::Java, "class_declaration" | "record_declaration") => named(K::Class),
            (Grammar::Java, "interface_declaration" | "annotation_type_declaration") => named(K::Interface),
            (Grammar::Java, "enum_declaration") => named(K::Enum),
            (Grammar::Java, "method_declaration" | "constructor_declaration" | "compact_constructor_declaration") => {
                named(K::Function)
            }
            _ => None,
        }
    }

    fn js_definition(&self, node: Node<'_>, kind: &str) -> Option<(SymbolKind, String, u32)> {
        use SymbolKind as K;
        let named = |k: SymbolKind| {
            let name = node.child_by_field_name("name")?;
            Some((k, self.text(name).to_string(), name.start_position().row as u32 + 1))
        };
        match kind {
            "function_declaration" | "generator_function_declaration" | "function_signature" => named(K::Function),
            "class_declaration" | "abstract_class_declaration" => named(K::Class),
            "method_definition" => named(K::Method),
            "interface_declaration" => named(K::Interface),
            "type_alias_declaration" => named(K::Type),
            "enum_declaration" => named(K::Enum),
            "internal_module" | "module" => named(K::Module),
            "variable_declarator" => {
                let name = node.child_by_field_name("name").filter(|n| n.kind() == "identifier")?;
                let line = name.start_position().row as u32 + 1;
                let name = self.text(name).to_string();
                let value = node.child_by_field_name("value").map(|v| v.kind());
                if matches!(value, Some("arrow_function" | "function_expression" | "function" | "generator_function")) {
                    return Some((K::Function, name, line));
                }
                // Exported constants: `export const LIMIT = 3`.
                let exported = node.parent().and_then(|d| d.parent()).is_some_and(|e| e.kind() == "export_statement");
                (exported && self.frames.is_empty()).then_some((K::Constant, name, line))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SymbolKind as K;

    fn parse(grammar: Grammar, text: &str, test_file: bool) -> Parsed {
        FileParser::default().parse(text.as_bytes(), grammar, test_file).expect("parses")
    }

    fn defs(p: &Parsed) -> Vec<(SymbolKind, &str, u32, u32, Option<u16>)> {
        p.defs.iter().map(|d| (d.kind, d.name.as_str(), d.line, d.lines, d.parent)).collect()
    }

    fn tests(p: &Parsed) -> Vec<(&str, u32, u32)> {
        p.tests.iter().map(|t| (t.name.as_str(), t.first, t.last)).collect()
    }

    #[test]
    fn rust_symbols_lengths_and_tests_in_any_cfg_combination() {
        let text = r####"//! Doc.
pub struct Thing {
    x: u32,
}

impl std::fmt::Display for Thing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = r#"/** not a comment"#;
        write!(f, "{s}")
    }
}

fn main() {
    fn inner() {}
    inner();
}

#[cfg(all(test, not(miri)))]
mod tests {
    #[test]
    fn works() {}
}

#[tokio::test(flavor = "multi_thread")]
async fn alone() {
    let _ = 1;
}
"####;
        let p = parse(Grammar::Rust, text, false);
        assert_eq!(
            defs(&p),
            vec![
                (K::Struct, "Thing", 2, 0, None),
                (K::Impl, "std::fmt::Display for Thing", 6, 0, None),
                (K::Method, "fmt", 7, 4, Some(1)),
                (K::Function, "main", 13, 4, None),
            ]
        );
        assert_eq!(tests(&p), vec![("tests", 18, 22), ("alone", 24, 27)]);
        assert!(p.has_main);
        assert!(p.refs.binary_search(&ident_hash(b"Thing")).is_ok());
        assert!(p.refs.binary_search(&ident_hash(b"inner")).is_ok());
        assert!(p.refs.binary_search(&ident_hash(b"comment")).is_err(), "inside a raw string");
        assert!(p.refs.binary_search(&ident_hash(b"Doc")).is_err(), "inside a comment");
    }

    #[test]
    fn rust_inner_cfg_test_makes_the_rest_of_the_module_a_test() {
        let p = parse(Grammar::Rust, "mod a {\n    #![cfg(test)]\n    fn t() {}\n}\nfn b() {}\n", false);
        assert_eq!(defs(&p), vec![(K::Module, "a", 1, 0, None), (K::Function, "b", 5, 1, None)]);
        assert_eq!(tests(&p), vec![("cfg(test)", 2, 4)]);
    }

    #[test]
    fn python_docstrings_do_not_swallow_functions_and_pytest_unittest_are_tests() {
        let text = r#"import unittest

class Session:
    def get(self, url):
        r"""Sends a GET \request.

        def fake(): pass
        """
        return self.request("GET", url)

    @property
    def size(self):
        return 1


def test_get():
    assert Session().get("x")


class TestSession(object):
    def test_size(self):
        pass


class SessionCase(unittest.TestCase):
    def test_it(self):
        pass


if __name__ == "__main__":
    unittest.main()
"#;
        let p = parse(Grammar::Python, text, false);
        assert_eq!(
            defs(&p),
            vec![
                (K::Class, "Session", 3, 0, None),
                (K::Method, "get", 4, 6, Some(0)),
                (K::Method, "size", 12, 2, Some(0))
            ]
        );
        assert_eq!(tests(&p), vec![("test_get", 16, 17), ("TestSession", 20, 22), ("SessionCase", 25, 27)]);
        assert!(p.has_main);
    }

    #[test]
    fn javascript_functions_classes_and_jest_blocks() {
        let text = "\
export const LIMIT = 3;
const add = (a, b) => {
  return a + b;
};
class Store {
  get(key) {
    return this.d[key];
  }
}
function main() {}
describe('Store', () => {
  it('gets', () => {
    expect(new Store().get('a')).toBe(1);
  });
});
test.each([1])('adds %i', (n) => {});
";
        let p = parse(Grammar::JavaScript, text, false);
        assert_eq!(
            defs(&p),
            vec![
                (K::Constant, "LIMIT", 1, 0, None),
                (K::Function, "add", 2, 3, None),
                (K::Class, "Store", 5, 0, None),
                (K::Method, "get", 6, 3, Some(2)),
                (K::Function, "main", 10, 1, None),
            ]
        );
        assert_eq!(tests(&p), vec![("Store", 11, 15), ("adds %i", 16, 16)]);
    }

    #[test]
    fn typescript_and_tsx_declarations() {
        let text = "\
export interface Props {
  value: number;
}
export type Id = string;
export enum Color { Red }
namespace NS {
  export function inner(): void {}
}
export abstract class Base {
  abstract run(): void;
  protected helper(x: number): number {
    return x;
  }
}
";
        let p = parse(Grammar::TypeScript, text, false);
        assert_eq!(
            defs(&p),
            vec![
                (K::Interface, "Props", 1, 0, None),
                (K::Type, "Id", 4, 0, None),
                (K::Enum, "Color", 5, 0, None),
                (K::Module, "NS", 6, 0, None),
                (K::Function, "inner", 7, 1, None),
                (K::Class, "Base", 9, 0, None),
                (K::Method, "helper", 11, 3, Some(5)),
            ]
        );
        let tsx = "export function App(): JSX.Element {\n  return <div className=\"a\">{1}</div>;\n}\n";
        assert_eq!(defs(&parse(Grammar::Tsx, tsx, false)), vec![(K::Function, "App", 1, 3, None)]);
        assert!(
            FileParser::default().parse(tsx.as_bytes(), Grammar::TypeScript, false).is_none(),
            "JSX is not TypeScript"
        );
    }

    #[test]
    fn go_methods_types_and_tests_in_test_files() {
        let text = "\
package server

type Server struct {
\tconn int
}

type Handler interface {
\tServe()
}

func (s *Server) Start() error {
\treturn nil
}

func TestStart(t *testing.T) {
\t_ = t
}

func Testify() {}
";
        let p = parse(Grammar::Go, text, true);
        assert_eq!(
            defs(&p),
            vec![
                (K::Struct, "Server", 3, 0, None),
                (K::Interface, "Handler", 7, 0, None),
                (K::Method, "Server.Start", 11, 3, None),
                (K::Function, "Testify", 19, 1, None),
            ]
        );
        assert_eq!(tests(&p), vec![("TestStart", 15, 17)]);
        let outside = parse(Grammar::Go, text, false);
        assert_eq!((outside.defs.len(), outside.tests.len()), (5, 0), "TestStart is a function outside _test.go");
    }

    #[test]
    fn java_classes_methods_and_junit_tests() {
        let text = "\
package p;

public class Store {
    private final int value;

    public Store(int value) {
        this.value = value;
    }

    @Override
    public String toString() {
        return \"s\";
    }

    @Test
    void works() {
        assertEquals(1, 1);
    }

    @org.junit.jupiter.params.ParameterizedTest
    void each(int x) {}

    public static void main(String[] args) {}
}
";
        let p = parse(Grammar::Java, text, false);
        assert_eq!(
            defs(&p),
            vec![
                (K::Class, "Store", 3, 0, None),
                (K::Method, "Store", 6, 3, Some(0)),
                (K::Method, "toString", 11, 3, Some(0)),
                (K::Method, "main", 23, 1, Some(0)),
            ]
        );
        assert_eq!(tests(&p), vec![("works", 15, 18), ("each", 20, 21)]);
        assert!(p.has_main);
    }

    #[test]
    fn hostile_input_never_panics_and_gives_up_on_errors() {
        let mut parser = FileParser::default();
        // Invalid syntax: the heuristics stand.
        assert_eq!(parser.parse(b"fn main( {\n    let x = ;\n", Grammar::Rust, false), None);
        assert_eq!(parser.parse(b"def f(:\n  pass\n", Grammar::Python, false), None);
        // Not UTF-8 and a NUL inside a string.
        assert!(parser.parse(b"fn a() { let s = \"\xff\x00\"; }\n", Grammar::Rust, false).is_some());
        // A 1 MB line.
        let long = format!("x = [{}]\n", "1, ".repeat(350_000));
        let p = parser.parse(long.as_bytes(), Grammar::Python, false);
        assert!(p.is_none_or(|p| p.defs.is_empty()));
        // Deep nesting: 100,000 nested blocks and brackets.
        let deep = format!("fn f() {{ {}{} }}\n", "{".repeat(100_000), "}".repeat(100_000));
        let _ = parser.parse(deep.as_bytes(), Grammar::Rust, false);
        let deep = format!("x = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let _ = parser.parse(deep.as_bytes(), Grammar::Python, false);
        let deep = format!("f({});\n", "(".repeat(100_000) + &")".repeat(100_000));
        let _ = parser.parse(deep.as_bytes(), Grammar::JavaScript, false);
        // The parser is still usable afterwards, for another grammar too.
        let p = parser.parse(b"package main\n\nfunc main() {}\n", Grammar::Go, false).unwrap();
        assert_eq!(defs(&p), vec![(K::Function, "main", 3, 1, None)]);
        assert!(p.has_main);
    }
}
