//! The repo map: files with their symbols, most central first, so a model can find its way
//! without reading every file; and, for an issue or a spec, the files that matter for it first.
//!
//! Aider's approach: the files are the nodes of a graph, with an edge from a file that uses a
//! name to each file that defines it (definitions from `parse` for the languages it has a
//! grammar for and from the line heuristics for the others; references are the identifiers
//! each file's code mentions). An edge's weight follows aider: 1 for each shared name, ×10
//! for a long compound name (`load_config`, `RepoMap`, at least 8 characters), ×0.1 for a
//! private one (`_x`) and for a name defined in more than 5 files; a name defined in more than
//! [`MAX_DEFINERS`] files (`new`, `main`, `Error`) makes no edge. Files are ranked by
//! PageRank; the stored map keeps the [`MAX_FILES`] best with the edges among them, so that
//! [`render_for`] can rank them again with personalised PageRank toward the files and names
//! an issue mentions, without walking the tree again. Unlike aider, a reference is counted
//! once per file (not by the square root of its uses), and a mentioned name does not make its
//! edges heavier: it makes the files that define it a target of the personalisation.
//!
//! It never reads a file: everything comes from the walk's summaries.

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
/// A name defined in more files than this is too common to tell where a use points.
const MAX_DEFINERS: usize = 20;
/// PageRank's damping factor (the usual 0.85, as aider's networkx default).
const DAMPING: f64 = 0.85;
/// PageRank stops when an iteration moves the ranks by less than this in total (L1).
const TOLERANCE: f64 = 1e-9;
const MAX_ITERATIONS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSymbol {
    pub kind: SymbolKind,
    pub name: String,
    pub line: u32,
    /// Index (in this file's list) of the class/impl/trait it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u16>,
}

/// An edge of the graph between two files of the map: this file uses names `to` defines.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Index of the defining file in the map.
    pub to: u32,
    pub weight: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapFile {
    pub path: String,
    pub language: String,
    pub code_lines: u64,
    pub entry_point: bool,
    pub test: bool,
    /// Other files (anywhere in the tree) whose code uses a name this file defines.
    pub references: u64,
    /// The file's PageRank in the whole graph (all ranks add up to 1).
    #[serde(default)]
    pub rank: f64,
    /// Edges to the other files of the map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    pub symbols: Vec<MapSymbol>,
}

/// The map entries of the tree, most central first: entry points, then by rank, test files last.
pub fn build(files: &[FileEntry], entry_points: &[String]) -> Vec<MapFile> {
    let nodes: Vec<&FileEntry> = files
        .iter()
        .filter(|f| f.status == Status::Scanned && !(f.scan.symbols.is_empty() && f.scan.refs.is_empty()))
        .collect();
    let edges = edges(&nodes);
    let mut references = vec![0u64; nodes.len()];
    for out in &edges {
        for &(to, _) in out {
            references[to as usize] += 1;
        }
    }
    let rank = pagerank(&edges, &vec![1.0; nodes.len()]);
    // Files that only use names pass rank on; the map lists files that define something.
    let mut order: Vec<(bool, bool, usize)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.scan.symbols.is_empty())
        .map(|(i, f)| (f.is_test, !entry_points.iter().any(|e| **e == *f.path), i))
        .collect();
    let by_rank = |a: &(bool, bool, usize), b: &(bool, bool, usize)| {
        (a.0, a.1).cmp(&(b.0, b.1)).then(rank[b.2].total_cmp(&rank[a.2])).then(nodes[a.2].path.cmp(&nodes[b.2].path))
    };
    if order.len() > MAX_FILES {
        order.select_nth_unstable_by(MAX_FILES, by_rank);
        order.truncate(MAX_FILES);
    }
    order.sort_by(by_rank);
    let mut position = vec![u32::MAX; nodes.len()];
    for (at, &(_, _, i)) in order.iter().enumerate() {
        position[i] = at as u32;
    }
    order
        .iter()
        .map(|&(test, not_entry, i)| {
            let f = nodes[i];
            MapFile {
                path: f.path.to_string(),
                language: f.lang.map_or("", |l| l.name()).to_string(),
                code_lines: f.scan.lines.code,
                entry_point: !not_entry,
                test,
                references: references[i],
                rank: rank[i],
                links: edges[i]
                    .iter()
                    .filter(|&&(to, _)| position[to as usize] != u32::MAX)
                    .map(|&(to, weight)| Link { to: position[to as usize], weight: weight as f32 })
                    .collect(),
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
            }
        })
        .collect()
}

/// Aider's weight of an edge made by `name`, defined in `definers` files.
fn name_weight(name: &str, definers: usize) -> f64 {
    let mut weight = 1.0;
    let compound = name.contains('_')
        || (name.chars().any(|c| c.is_ascii_uppercase()) && name.chars().any(|c| c.is_ascii_lowercase()));
    if compound && name.len() >= 8 {
        weight *= 10.0;
    }
    if name.starts_with('_') {
        weight *= 0.1;
    }
    if definers > 5 {
        weight *= 0.1;
    }
    weight
}

/// For each node, its edges `(defining node, weight)`, sorted by node, one per pair.
fn edges(nodes: &[&FileEntry]) -> Vec<Vec<(u32, f64)>> {
    let mut definers: IdentMap<(&str, Vec<u32>)> = IdentMap::default();
    for (i, f) in nodes.iter().enumerate() {
        for (s, name) in f.scan.symbols.iter() {
            // A Go method `Server.Start` is used as `Start`; an impl defines no name of its own.
            let name = name.rsplit('.').next().unwrap_or(name);
            if s.kind == SymbolKind::Impl || name.len() < MIN_IDENT {
                continue;
            }
            let (_, files) = definers.entry(ident_hash(name.as_bytes())).or_insert((name, Vec::new()));
            if files.last() != Some(&(i as u32)) {
                files.push(i as u32);
            }
        }
    }
    let weights: IdentMap<(f64, Vec<u32>)> = definers
        .into_iter()
        .filter(|(_, (_, files))| files.len() <= MAX_DEFINERS)
        .map(|(h, (name, files))| (h, (name_weight(name, files.len()), files)))
        .collect();
    // Most identifiers a file mentions are defined nowhere in the tree (keywords, locals, the
    // standard library's names): a bit per hash, in a table that stays in the cache, answers
    // them without a probe of the (much larger) map.
    let mut defined = vec![0u64; DEFINED_BITS / 64];
    for h in weights.keys() {
        let bit = *h as usize % DEFINED_BITS;
        defined[bit / 64] |= 1 << (bit % 64);
    }
    let edges_of = |i: usize, f: &FileEntry| {
        let mut out: Vec<(u32, f64)> = Vec::new();
        for h in f.scan.refs.iter() {
            let bit = *h as usize % DEFINED_BITS;
            if defined[bit / 64] >> (bit % 64) & 1 == 0 {
                continue;
            }
            if let Some((weight, files)) = weights.get(h) {
                out.extend(files.iter().filter(|&&d| d as usize != i).map(|&d| (d, *weight)));
            }
        }
        out.sort_unstable_by_key(|e| e.0);
        out.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        out
    };
    // The lookups are independent per file: split across the cores, in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(nodes.len() / 1024).max(1);
    let chunk = nodes.len().div_ceil(threads).max(1);
    let edges_of = &edges_of;
    std::thread::scope(|scope| {
        let parts: Vec<_> = nodes
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope
                    .spawn(move || part.iter().enumerate().map(|(j, f)| edges_of(c * chunk + j, f)).collect::<Vec<_>>())
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// Bits of the table of defined names' hashes in [`edges`] (128 KiB).
const DEFINED_BITS: usize = 1 << 20;

/// PageRank over weighted edges with teleports (and the rank of files that use nothing)
/// distributed as `personal` (any non-negative weights, not all zero).
fn pagerank(edges: &[Vec<(u32, f64)>], personal: &[f64]) -> Vec<f64> {
    let n = edges.len();
    let total: f64 = personal.iter().sum();
    if n == 0 || total <= 0.0 {
        return vec![0.0; n];
    }
    let personal: Vec<f64> = personal.iter().map(|p| p / total).collect();
    let out_weight: Vec<f64> = edges.iter().map(|e| e.iter().map(|&(_, w)| w).sum()).collect();
    let mut rank = personal.clone();
    let mut next = vec![0.0; n];
    for _ in 0..MAX_ITERATIONS {
        next.iter_mut().for_each(|r| *r = 0.0);
        let mut dangling = 0.0;
        for (i, out) in edges.iter().enumerate() {
            if out_weight[i] > 0.0 {
                let share = DAMPING * rank[i] / out_weight[i];
                for &(to, w) in out {
                    next[to as usize] += share * w;
                }
            } else {
                dangling += rank[i];
            }
        }
        let spread = DAMPING * dangling + (1.0 - DAMPING);
        let mut moved = 0.0;
        for i in 0..n {
            next[i] += spread * personal[i];
            moved += (next[i] - rank[i]).abs();
        }
        std::mem::swap(&mut rank, &mut next);
        if moved < TOLERANCE {
            break;
        }
    }
    rank
}

/// The files of `map` the `targets` point at, with their personalisation weight: a target is
/// a path (`src/a.rs`, `a.rs`, `src/a.rs:12`) or a name some file defines (`load_config`,
/// `Config::load`, `Server.Start`).
fn targeted(map: &[MapFile], targets: &[&str]) -> Vec<f64> {
    let mut personal = vec![0.0; map.len()];
    for target in targets {
        let t = target.trim().trim_matches(['`', '\'', '"', '(', ')', ',', ':']).trim_start_matches("./");
        let path = t
            .split_once(':')
            .map_or(t, |(p, line)| if line.chars().all(|c| c.is_ascii_digit() || c == ':') { p } else { t });
        let by_path: Vec<usize> = (0..map.len())
            .filter(|&i| {
                let p = &map[i].path;
                p == path
                    || (path.contains(['.', '/']) && p.ends_with(path) && p[..p.len() - path.len()].ends_with('/'))
            })
            .collect();
        let hits = if by_path.is_empty() {
            let name = t.rsplit([':', '.']).next().unwrap_or(t).trim_end_matches("()");
            if name.len() < MIN_IDENT {
                continue;
            }
            (0..map.len()).filter(|&i| map[i].symbols.iter().any(|s| s.name.rsplit('.').next() == Some(name))).collect()
        } else {
            by_path
        };
        for &i in &hits {
            personal[i] += 1.0 / hits.len() as f64;
        }
    }
    personal
}

/// The order of `map` ranked toward `targets` (personalised PageRank over the map's edges):
/// `None` when no target names a file or symbol of the map.
pub fn order_for(map: &[MapFile], targets: &[&str]) -> Option<Vec<usize>> {
    let personal = targeted(map, targets);
    if personal.iter().all(|&p| p == 0.0) {
        return None;
    }
    let edges: Vec<Vec<(u32, f64)>> = map
        .iter()
        .map(|f| f.links.iter().filter(|l| (l.to as usize) < map.len()).map(|l| (l.to, f64::from(l.weight))).collect())
        .collect();
    let rank = pagerank(&edges, &personal);
    let mut order: Vec<usize> = (0..map.len()).collect();
    // Test files stay last unless the issue names them.
    let late = |i: usize| map[i].test && personal[i] == 0.0;
    order.sort_by(|&a, &b| late(a).cmp(&late(b)).then(rank[b].total_cmp(&rank[a])).then(map[a].path.cmp(&map[b].path)));
    Some(order)
}

/// The map ranked toward `targets` (see [`order_for`]) as text within `token_budget`; `None`
/// when no target is a file or a symbol of the map.
pub fn render_for(map: &[MapFile], targets: &[&str], token_budget: usize) -> Option<String> {
    let order = order_for(map, targets)?;
    Some(render(&order.into_iter().map(|i| map[i].clone()).collect::<Vec<_>>(), token_budget))
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
            rank: 0.0,
            links: Vec::new(),
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
