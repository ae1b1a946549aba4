//! The repo map: files with their top-level symbols, most central first, so a model can
//! find its way without reading every file.
//!
//! Centrality is approximate: a file's references are, for each of its top-level symbols,
//! the number of other files whose code mentions that name (names shared by more than a
//! quarter of the files, such as `new` or `main`, count for nothing). Entry points come
//! first, then the most referenced files, test files last.

use serde::{Deserialize, Serialize};

use super::scan::{IdentMap, MIN_IDENT, ident_hash};
use super::syntax::SymbolKind;
use super::walk::{FileEntry, Status};

/// Files kept in the map of an analysis (the most central ones).
pub const MAX_FILES: usize = 500;
/// Symbols kept per file.
pub const MAX_SYMBOLS: usize = 50;
/// Characters per token assumed when cutting to a token budget.
pub const CHARS_PER_TOKEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSymbol {
    pub kind: SymbolKind,
    pub name: String,
    pub line: u32,
    /// Index (in this file's list) of the class/impl/trait it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapFile {
    pub path: String,
    pub language: String,
    pub code_lines: u64,
    pub entry_point: bool,
    pub test: bool,
    /// Approximate number of references from other files.
    pub references: u64,
    pub symbols: Vec<MapSymbol>,
}

/// The map entries of the tree, most central first.
pub fn build(files: &[FileEntry], idents: &IdentMap, entry_points: &[String]) -> Vec<MapFile> {
    let mapped = |f: &&FileEntry| f.status == Status::Scanned && !f.scan.symbols.is_empty();
    let too_common = (files.iter().filter(mapped).count() as u32 / 4).max(20);
    // Rank every file cheaply, then build entries for the most central only.
    let mut ranked: Vec<(bool, bool, u64, &FileEntry)> = files
        .iter()
        .filter(mapped)
        .map(|f| {
            let entry_point = entry_points.iter().any(|e| **e == *f.path);
            (f.is_test, !entry_point, references(f, idents, too_common), f)
        })
        .collect();
    let order = |a: &(bool, bool, u64, &FileEntry), b: &(bool, bool, u64, &FileEntry)| {
        (a.0, a.1, std::cmp::Reverse(a.2), &a.3.path).cmp(&(b.0, b.1, std::cmp::Reverse(b.2), &b.3.path))
    };
    if ranked.len() > MAX_FILES {
        ranked.select_nth_unstable_by(MAX_FILES, order);
        ranked.truncate(MAX_FILES);
    }
    ranked.sort_by(order);
    ranked
        .into_iter()
        .map(|(test, not_entry, references, f)| MapFile {
            path: f.path.to_string(),
            language: f.lang.map_or("", |l| l.name()).to_string(),
            code_lines: f.scan.lines.code,
            entry_point: !not_entry,
            test,
            references,
            symbols: f
                .scan
                .symbols
                .iter()
                .take(MAX_SYMBOLS)
                .map(|(s, name)| MapSymbol {
                    kind: s.kind,
                    name: name.to_string(),
                    line: s.line,
                    parent: s.parent.filter(|&p| (p as usize) < MAX_SYMBOLS),
                })
                .collect(),
        })
        .collect()
}

/// How often other files mention the file's top-level symbols.
fn references(f: &FileEntry, idents: &IdentMap, too_common: u32) -> u64 {
    let mut references = 0u64;
    for (s, name) in f.scan.symbols.iter() {
        if s.parent.is_some() || matches!(s.kind, SymbolKind::Impl | SymbolKind::Method) || name.len() < MIN_IDENT {
            continue;
        }
        let mentions = idents.get(&ident_hash(name.as_bytes())).copied().unwrap_or(0);
        if mentions <= too_common {
            references += u64::from(mentions.saturating_sub(1));
        }
    }
    references
}

/// One file's block of the map.
fn render_file(f: &MapFile) -> Vec<String> {
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut notes = vec![plural(f.code_lines, "line")];
    if f.entry_point {
        notes.insert(0, "entry point".into());
    }
    if f.references > 0 {
        notes.push(plural(f.references, "ref"));
    }
    let mut lines = vec![format!("{} ({})", f.path, notes.join(", "))];
    for s in &f.symbols {
        let indent = if s.parent.is_some() { "    " } else { "  " };
        lines.push(format!("{indent}{} {}:{}", s.kind.keyword(), s.name, s.line));
    }
    lines
}

/// The map as text, cut to about `token_budget` tokens (at [`CHARS_PER_TOKEN`] characters a
/// token). A file that does not fit whole is shown with as many symbols as fit, and the
/// last line says how many files were left out.
pub fn render(map: &[MapFile], token_budget: usize) -> String {
    let budget = token_budget.saturating_mul(CHARS_PER_TOKEN);
    let mut out = String::new();
    let mut shown = 0;
    'files: for f in map {
        for (i, line) in render_file(f).into_iter().enumerate() {
            // Keep room for the closing note.
            if out.len() + line.len() + 1 + 40 > budget {
                if i > 0 {
                    shown += 1;
                }
                break 'files;
            }
            out.push_str(&line);
            out.push('\n');
        }
        shown += 1;
    }
    if shown < map.len() {
        out.push_str(&format!("… {} more files not shown\n", map.len() - shown));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, refs: u64, entry: bool, symbols: &[(&str, Option<u16>)]) -> MapFile {
        MapFile {
            path: path.into(),
            language: "Rust".into(),
            code_lines: 10,
            entry_point: entry,
            test: false,
            references: refs,
            symbols: symbols
                .iter()
                .enumerate()
                .map(|(i, (n, p))| MapSymbol {
                    kind: if p.is_some() { SymbolKind::Method } else { SymbolKind::Struct },
                    name: (*n).into(),
                    line: i as u32 + 1,
                    parent: *p,
                })
                .collect(),
        }
    }

    #[test]
    fn the_map_is_cut_to_the_budget() {
        let map = vec![
            file("src/main.rs", 0, true, &[("Cli", None)]),
            file("src/lib.rs", 5, false, &[("Thing", None), ("run", Some(0))]),
            file("src/other.rs", 1, false, &[("Other", None)]),
        ];
        assert_eq!(
            render(&map, 1000),
            "src/main.rs (entry point, 10 lines)\n  struct Cli:1\nsrc/lib.rs (10 lines, 5 refs)\n  struct Thing:1\n    fn run:2\n\
             src/other.rs (10 lines, 1 ref)\n  struct Other:1\n"
        );
        let small = render(&map, 25);
        assert_eq!(small, "src/main.rs (entry point, 10 lines)\n  struct Cli:1\n… 2 more files not shown\n");
        assert!(small.len() <= 25 * CHARS_PER_TOKEN);
        assert_eq!(render(&map, 0), "… 3 more files not shown\n");
    }
}
