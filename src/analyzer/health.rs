//! Health: the signals (tests, smells, documentation, long functions, large files, tooling and
//! to-do markers), a deterministic score from 0 to 10 with its breakdown, and the focus areas
//! ranked from it. The same inputs always give the same score; the weights are written down
//! once, in [`assess`], and in `docs/analysis-schema.md`.

use serde::{Deserialize, Serialize};

use super::lang::Kind;
use super::projects::{Check, Project};
use super::scan::TodoKind;
use super::structure::{Structure, is_support_path};
use super::syntax;
use super::walk::{FileEntry, Status};

/// Functions longer than this count as long.
pub const LONG_FUNCTION: u32 = 50;
/// Files with more code lines than this count as large.
pub const LARGE_FILE: u64 = 1000;
const TOP: usize = 10;
const MAX_TODO_ITEMS: usize = 50;

/// One part of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// `tests`, `error_handling`, `documentation`, `complexity`, `tooling` or `maintenance`.
    pub name: String,
    pub score: f64,
    pub max: f64,
    /// Why, in numbers.
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestStats {
    pub test_files: u64,
    pub test_code_lines: u64,
    pub source_code_lines: u64,
    /// Test code lines per source code line.
    pub ratio: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocStats {
    /// `none`, `minimal`, `basic` or `good`.
    pub level: String,
    /// Comment lines / (code + comment lines) of non-test source.
    pub comment_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    pub path: String,
    pub line: u32,
    pub kind: TodoKind,
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoStats {
    pub total: u64,
    pub todo: u64,
    pub fixme: u64,
    pub hack: u64,
    /// The first markers by path and line (at most 50).
    pub items: Vec<TodoItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub path: String,
    pub line: u32,
    /// Occurrences in this file.
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmellStat {
    pub id: String,
    pub label: String,
    pub language: String,
    pub count: u64,
    /// The files with the most occurrences (at most 5), each with its first line.
    pub locations: Vec<Location>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSize {
    pub path: String,
    pub code_lines: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionSize {
    pub path: String,
    pub name: String,
    pub line: u32,
    /// Approximate length in lines.
    pub lines: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionStats {
    pub total: u64,
    pub over_50_lines: u64,
    pub over_100_lines: u64,
}

/// Everything about the project's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// 0 to 10, one decimal: the sum of the breakdown.
    pub score: f64,
    pub breakdown: Vec<Component>,
    pub tests: TestStats,
    pub documentation: DocStats,
    pub todos: TodoStats,
    /// Smells outside tests, most frequent first.
    pub smells: Vec<SmellStat>,
    /// Largest non-test source files by code lines.
    pub largest_files: Vec<FileSize>,
    /// Longest non-test functions (approximate lengths).
    pub longest_functions: Vec<FunctionSize>,
    pub functions: FunctionStats,
    /// Direct dependencies declared by all projects, development ones included.
    pub dependencies: u64,
}

/// A weak area, most urgent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FocusArea {
    /// The breakdown component it comes from.
    pub area: String,
    pub reason: String,
}

/// Keeps the first `n` items in `cmp` order, sorted, without sorting the rest.
fn top<T>(items: &mut Vec<T>, n: usize, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    if items.len() > n {
        items.select_nth_unstable_by(n, &cmp);
        items.truncate(n);
    }
    items.sort_by(cmp);
}

/// The project's own code and its tests: not generated, not examples, benchmarks or build helpers.
fn is_source(f: &FileEntry) -> bool {
    f.status == Status::Scanned
        && f.lang.is_some_and(|l| l.def().kind == Kind::Programming)
        && (f.is_test || !is_support_path(&f.path))
}

fn round(x: f64, decimals: i32) -> f64 {
    let p = 10f64.powi(decimals);
    (x * p).round() / p
}

use crate::printer::thousands;

/// Computes the health of the tree.
pub fn assess(files: &[FileEntry], structure: &Structure, projects: &[Project], checks: &[Check]) -> Health {
    let mut h = Health::default();
    let (mut comment_lines, mut source_files, mut large_files) = (0u64, 0u64, 0u64);
    let mut functions = Vec::new();
    let mut largest: Vec<(u64, &str)> = Vec::new();
    // Per smell: its definition, language, total, and (count, path, first line) per file.
    type Hits<'f> = Vec<(u32, &'f str, u32)>;
    let mut smells: Vec<(&syntax::SmellDef, &str, u64, Hits<'_>)> = Vec::new();
    let mut todo_items = Vec::new();
    for f in files.iter().filter(|f| is_source(f)) {
        let code = f.scan.lines.code;
        h.tests.test_code_lines += f.scan.test_code + f.scan.doc_test;
        h.tests.source_code_lines += code - f.scan.test_code;
        if f.is_test {
            h.tests.test_files += 1;
        } else {
            comment_lines += f.scan.lines.comment;
            source_files += 1;
            if code - f.scan.test_code > LARGE_FILE {
                large_files += 1;
            }
            largest.push((code - f.scan.test_code, &f.path));
            for (sym, name) in f.scan.symbols.iter().filter(|(s, _)| s.kind.is_function()) {
                h.functions.total += 1;
                h.functions.over_50_lines += u64::from(sym.lines > LONG_FUNCTION);
                h.functions.over_100_lines += u64::from(sym.lines > 100);
                functions.push((sym.lines, &*f.path, name, sym.line));
            }
        }
        let lang = f.lang.map(|l| l.def());
        for hit in &f.scan.smells {
            let Some(def) = lang.and_then(|l| syntax::smells(l.syntax).get(hit.smell as usize)) else { continue };
            let location = (hit.count, &*f.path, hit.first_line);
            match smells.iter_mut().find(|s| s.0.id == def.id) {
                Some(s) => {
                    s.2 += u64::from(hit.count);
                    s.3.push(location);
                }
                None => smells.push((def, lang.map_or("", |l| l.name), u64::from(hit.count), vec![location])),
            }
        }
    }
    for f in files.iter().filter(|f| f.status == Status::Scanned) {
        let [todo, fixme, hack] = f.scan.todo_counts.map(u64::from);
        h.todos.todo += todo;
        h.todos.fixme += fixme;
        h.todos.hack += hack;
        h.todos.total += todo + fixme + hack;
        for t in &f.scan.todos {
            if todo_items.len() < MAX_TODO_ITEMS {
                todo_items.push(TodoItem {
                    path: f.path.to_string(),
                    line: t.line,
                    kind: t.kind,
                    text: t.text.to_string(),
                });
            }
        }
    }
    h.todos.items = todo_items;
    h.smells = smells
        .into_iter()
        .map(|(def, language, count, mut hits)| {
            top(&mut hits, 5, |a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let locations =
                hits.into_iter().map(|(count, path, line)| Location { path: path.into(), line, count }).collect();
            SmellStat { id: def.id.into(), label: def.label.into(), language: language.into(), count, locations }
        })
        .collect();
    h.smells.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    top(&mut largest, TOP, |a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    h.largest_files =
        largest.into_iter().map(|(code_lines, path)| FileSize { path: path.into(), code_lines }).collect();
    top(&mut functions, TOP, |a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.3.cmp(&b.3)));
    h.longest_functions = functions
        .into_iter()
        .map(|(lines, path, name, line)| FunctionSize { path: path.into(), name: name.into(), line, lines })
        .collect();
    h.dependencies = projects.iter().map(|p| u64::from(p.dependencies.runtime + p.dependencies.dev)).sum();

    let source = h.tests.source_code_lines;
    h.tests.ratio = if source == 0 { 0.0 } else { round(h.tests.test_code_lines as f64 / source as f64, 2) };
    let comment_ratio =
        if source + comment_lines == 0 { 0.0 } else { comment_lines as f64 / (source + comment_lines) as f64 };
    h.documentation.comment_ratio = round(comment_ratio, 3);

    let docs = &structure.docs;
    let readme = docs.readme.is_some();
    h.documentation.level = match (readme, docs.readme_lines >= 30, comment_ratio >= 0.1, docs.docs_files > 0) {
        (false, _, false, false) => "none",
        (true, true, true, _) | (true, true, _, true) => "good",
        (true, true, _, _) | (true, _, true, _) => "basic",
        _ => "minimal",
    }
    .to_string();

    if source == 0 {
        h.breakdown = WEIGHTS
            .iter()
            .map(|&(name, max)| Component { name: name.into(), score: 0.0, max, detail: "no source code found".into() })
            .collect();
        return h;
    }
    let per_k = |n: u64| n as f64 * 1000.0 / source as f64;
    let smell_count: u64 = h.smells.iter().map(|s| s.count).sum();
    let fraction = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    let long_share = fraction(h.functions.over_50_lines, h.functions.total);
    let large_share = fraction(large_files, source_files);
    let lint = checks.iter().any(|c| c.name.starts_with("lint")) || !structure.linters.is_empty();
    let runs = checks.iter().any(|c| c.name.starts_with("test")) || checks.iter().any(|c| c.name.starts_with("build"));

    let scores = [
        (2.5 * (h.tests.ratio / 0.4).min(1.0), tests_detail(&h.tests)),
        (
            // Full marks lost at one smell per 50 source lines.
            2.0 * (1.0 - per_k(smell_count) / 20.0).max(0.0),
            format!(
                "{} smell{} in {} source lines ({:.1} per 1,000)",
                thousands(smell_count),
                plural(smell_count),
                thousands(source),
                per_k(smell_count)
            ),
        ),
        (
            0.6 * (docs.readme_lines as f64 / 30.0).min(1.0)
                + 0.6 * (comment_ratio / 0.15).min(1.0)
                + if docs.docs_files > 0 { 0.3 } else { 0.0 },
            docs_detail(docs, comment_ratio),
        ),
        (
            (1.0 - long_share / 0.15).max(0.0) + (1.0 - large_share / 0.15).max(0.0),
            format!(
                "{} of {} function{} over {LONG_FUNCTION} lines, {} of {} source file{} over {LARGE_FILE} lines",
                thousands(h.functions.over_50_lines),
                thousands(h.functions.total),
                plural(h.functions.total),
                thousands(large_files),
                thousands(source_files),
                plural(source_files)
            ),
        ),
        (
            if structure.ci.is_empty() { 0.0 } else { 0.4 }
                + if lint { 0.3 } else { 0.0 }
                + if runs { 0.3 } else { 0.0 },
            format!(
                "CI: {}; linter: {}; build/test commands: {}",
                if structure.ci.is_empty() { "none".to_string() } else { structure.ci.join(", ") },
                if lint { "yes" } else { "none" },
                if runs { "yes" } else { "none" }
            ),
        ),
        (
            (1.0 - per_k(h.todos.total) / 5.0).max(0.0),
            format!(
                "{} TODO/FIXME/HACK marker{} ({:.1} per 1,000 source lines)",
                thousands(h.todos.total),
                plural(h.todos.total),
                per_k(h.todos.total)
            ),
        ),
    ];
    h.breakdown = WEIGHTS
        .iter()
        .zip(scores)
        .map(|(&(name, max), (score, detail))| Component {
            name: name.into(),
            score: round(score.min(max), 2),
            max,
            detail,
        })
        .collect();
    h.score = round(h.breakdown.iter().map(|c| c.score).sum(), 1);
    h
}

/// The score's components and their maximum points (they add up to 10).
pub const WEIGHTS: [(&str, f64); 6] = [
    ("tests", 2.5),
    ("error_handling", 2.0),
    ("documentation", 1.5),
    ("complexity", 2.0),
    ("tooling", 1.0),
    ("maintenance", 1.0),
];

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn tests_detail(t: &TestStats) -> String {
    if t.test_code_lines == 0 {
        return "no test code found".into();
    }
    format!(
        "test/source code ratio {:.2} ({} test lines in {} test file{}, {} source lines)",
        t.ratio,
        thousands(t.test_code_lines),
        thousands(t.test_files),
        plural(t.test_files),
        thousands(t.source_code_lines)
    )
}

fn docs_detail(docs: &super::structure::Docs, comment_ratio: f64) -> String {
    let readme = match &docs.readme {
        Some(name) => format!("{name} {} line{}", docs.readme_lines, plural(docs.readme_lines)),
        None => "no README".into(),
    };
    let dir = match &docs.docs_dir {
        Some(dir) => format!(", {dir}/ {} file{}", docs.docs_files, plural(docs.docs_files)),
        None => String::new(),
    };
    format!("{readme}, comments {:.0}% of source lines{dir}", comment_ratio * 100.0)
}

/// Focus areas: components that lost at least a quarter of their points, most points lost
/// first, each with the concrete reason to start from.
pub fn focus(h: &Health, structure: &Structure, checks: &[Check]) -> Vec<FocusArea> {
    let mut weak: Vec<&Component> = h.breakdown.iter().filter(|c| c.max - c.score >= c.max * 0.25).collect();
    weak.sort_by(|a, b| (b.max - b.score).total_cmp(&(a.max - a.score)));
    weak.iter()
        .map(|c| {
            let reason = match c.name.as_str() {
                _ if h.tests.source_code_lines == 0 => "no source code found".to_string(),
                "tests" => {
                    let mut r = format!("add tests: {}", tests_detail(&h.tests));
                    if !checks.iter().any(|c| c.name.starts_with("test")) {
                        r.push_str("; no test command found");
                    }
                    r
                }
                "error_handling" => match h.smells.first() {
                    Some(s) => format!(
                        "{} {} ({}), most in {}",
                        thousands(s.count),
                        s.label,
                        s.language,
                        s.locations.first().map_or("", |l| l.path.as_str())
                    ),
                    None => c.detail.clone(),
                },
                "documentation" => {
                    let mut gaps = Vec::new();
                    if structure.docs.readme.is_none() {
                        gaps.push("no README".to_string());
                    } else if structure.docs.readme_lines < 30 {
                        let n = structure.docs.readme_lines;
                        gaps.push(format!("README is only {n} line{}", plural(n)));
                    }
                    if h.documentation.comment_ratio < 0.1 {
                        gaps.push(format!("few comments ({:.0}% of lines)", h.documentation.comment_ratio * 100.0));
                    }
                    if gaps.is_empty() { c.detail.clone() } else { gaps.join(", ") }
                }
                "complexity" => match (h.longest_functions.first(), h.largest_files.first()) {
                    (Some(f), _) if f.lines > LONG_FUNCTION => {
                        format!(
                            "split long functions, starting with {} in {}:{} ({} lines)",
                            f.name, f.path, f.line, f.lines
                        )
                    }
                    (_, Some(f)) => {
                        format!("split large files, starting with {} ({} code lines)", f.path, thousands(f.code_lines))
                    }
                    _ => c.detail.clone(),
                },
                "tooling" => {
                    let mut gaps = Vec::new();
                    if structure.ci.is_empty() {
                        gaps.push("no CI configured");
                    }
                    if !checks.iter().any(|c| c.name.starts_with("lint")) && structure.linters.is_empty() {
                        gaps.push("no linter configured");
                    }
                    if checks.iter().all(|c| c.name.starts_with("lint")) {
                        gaps.push("no build or test command found");
                    }
                    gaps.join(", ")
                }
                "maintenance" => {
                    let top =
                        h.todos.items.first().map(|t| format!(", first at {}:{}", t.path, t.line)).unwrap_or_default();
                    format!("resolve {} TODO/FIXME/HACK marker{}{top}", thousands(h.todos.total), plural(h.todos.total))
                }
                _ => c.detail.clone(),
            };
            FocusArea { area: c.name.clone(), reason }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!([0, 999, 1000, 1234567].map(thousands), ["0", "999", "1,000", "1,234,567"]);
    }

    #[test]
    fn weights_add_up_to_ten() {
        assert_eq!(WEIGHTS.iter().map(|w| w.1).sum::<f64>(), 10.0);
    }

    #[test]
    fn no_source_scores_zero_everywhere() {
        let h = assess(&[], &Structure::default(), &[], &[]);
        assert_eq!(h.score, 0.0);
        assert!(h.breakdown.iter().all(|c| c.score == 0.0 && c.detail == "no source code found"));
        assert_eq!(h.documentation.level, "none");
    }
}
