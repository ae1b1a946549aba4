//! The project analyzer: what a repository is, how to build and test it, and what is weakest.
//!
//! [`analyze`] walks the tree once (see `walk`), reading each file at most once, and turns
//! the per-file summaries into an [`Analysis`]: languages, projects with their commands,
//! structure, health score with its breakdown, focus areas and a repo map. The improve loop
//! takes its default checks from [`Analysis::checks`] and feeds [`Analysis::prompt_summary`]
//! and [`Analysis::repo_map`] to the model. [`load_or_analyze`] reuses the result from
//! `.mmm/cache/analysis.json` while HEAD and the dirty files are unchanged.
//!
//! The analyzer knows nothing of the model and never runs project commands. It never reads,
//! lists or summarises secret files (`.env*`, keys, the `secret_files` setting). The JSON
//! schema is documented in `docs/analysis-schema.md`; [`SCHEMA_VERSION`] changes whenever a
//! field changes meaning or disappears.

mod cache;
mod comments;
mod health;
mod lang;
mod lines;
mod parse;
mod projects;
mod render;
mod repomap;
mod scan;
mod structure;
mod syntax;
mod walk;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cache::{CacheStatus, load_or_analyze};
pub use health::{Component, FocusArea, Health};
pub use projects::{Check, Commands, Dependencies, Project};
pub use repomap::{CHARS_PER_TOKEN, Link, MapFile, MapSymbol, render_for as render_map_for};
pub use scan::LineCounts;
pub use structure::{DirCount, Docs, Structure};
pub use walk::Skipped;

use crate::error::CliError;
use crate::secrets::SecretFiles;
use crate::settings::Settings;

/// The version of the [`Analysis`] JSON schema.
pub const SCHEMA_VERSION: u32 = 3;

/// How to analyze.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Options {
    /// Extra secret-file patterns (the `secret_files` setting), on top of the built-in list.
    pub secret_files: Vec<String>,
    /// Files larger than this (bytes) are counted as skipped, not read.
    pub max_file_size: u64,
    /// Walker threads; 0 uses one per CPU.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { secret_files: Vec::new(), max_file_size: 1024 * 1024, threads: 0 }
    }
}

impl Options {
    /// The options the settings ask for.
    pub fn from_settings(settings: &Settings) -> Self {
        Self { secret_files: settings.list("secret_files").to_vec(), ..Self::default() }
    }
}

/// Files and lines of one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageStat {
    pub name: String,
    pub files: u64,
    #[serde(flatten)]
    pub lines: LineCounts,
    /// Of `files`, those generated or data (lock files, minified, tables): counted, not analysed.
    pub generated_files: u64,
    /// Of the code lines, those in generated files.
    pub generated_code: u64,
}

/// File totals of the walk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTotals {
    /// Files listed (secret files excluded).
    pub total: u64,
    /// Files read and counted in a language.
    pub scanned: u64,
    /// Bytes of the files read.
    pub bytes: u64,
    pub skipped: Skipped,
    /// Paths mmm does not count where a line counter such as tokei would: pruned directories
    /// (ending in `/`) and files over the size limit, sorted, at most 100 of each; a comparison
    /// excludes them from the other counter.
    pub excluded: Vec<String>,
}

/// Everything the analyzer learnt about a project. See `docs/analysis-schema.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Always [`SCHEMA_VERSION`].
    pub version: u32,
    /// The analyzed directory (absolute).
    pub root: PathBuf,
    pub files: FileTotals,
    /// Languages by code lines, most first.
    pub languages: Vec<LanguageStat>,
    /// The programming language with the most code lines.
    pub primary_language: Option<String>,
    pub projects: Vec<Project>,
    /// The validation commands with their directories: build, lint, then test.
    pub checks: Vec<Check>,
    pub structure: Structure,
    pub health: Health,
    pub focus_areas: Vec<FocusArea>,
    /// The most central files with their symbols (see [`Analysis::repo_map`]).
    pub map: Vec<MapFile>,
    /// Manifests that could not be parsed, and similar notes.
    pub warnings: Vec<String>,
}

/// Analyzes the directory `root`: one walk, then everything else from its summaries.
pub fn analyze(root: &Path, opts: &Options) -> anyhow::Result<Analysis> {
    let root = canonical_dir(root)?;
    let secrets = SecretFiles::new(&root, &opts.secret_files)?;
    let started = std::time::Instant::now();
    let walked =
        walk::walk(&root, secrets, &walk::WalkOptions { max_file_size: opts.max_file_size, threads: opts.threads });
    tracing::debug!("walked {} files in {:?}", walked.files.len(), started.elapsed());
    let (projects, warnings) = projects::detect(&walked.manifests, &walked.files);
    let checks = projects::checks(&projects);
    tracing::debug!("projects after {:?}", started.elapsed());
    let structure = structure::analyze(&walked.files);
    tracing::debug!("structure after {:?}", started.elapsed());
    let health = health::assess(&walked.files, &structure, &projects, &checks);
    let focus_areas = health::focus(&health, &structure, &checks);
    tracing::debug!("health after {:?}", started.elapsed());
    let map = repomap::build(&walked.files, &structure.entry_points);
    tracing::debug!("repo map after {:?}", started.elapsed());
    let languages = languages(&walked.files);
    let primary_language = primary_language(&languages, &projects);
    let counted = || walked.files.iter().filter(|f| f.status.is_counted());
    let files = FileTotals {
        total: walked.files.len() as u64,
        scanned: counted().count() as u64,
        bytes: counted().map(|f| f.bytes).sum(),
        skipped: walked.skipped,
        excluded: excluded(&walked),
    };
    Ok(Analysis {
        version: SCHEMA_VERSION,
        root,
        files,
        languages,
        primary_language,
        projects,
        checks,
        structure,
        health,
        focus_areas,
        map,
        warnings,
    })
}

/// The absolute, symlink-free form of `root`, which must be a directory.
fn canonical_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let canonical = root.canonicalize().map_err(|e| {
        CliError::usage(format!("cannot analyze {}: {e}", root.display()))
            .with_hint("pass an existing directory, e.g. `mmm analyze .`")
    })?;
    if !canonical.is_dir() {
        return Err(CliError::usage(format!("cannot analyze {}: not a directory", root.display()))
            .with_hint("pass the project's directory, not a file")
            .into());
    }
    Ok(canonical)
}

fn excluded(walked: &walk::Walked) -> Vec<String> {
    let too_large = walked.files.iter().filter(|f| f.status == walk::Status::TooLarge).map(|f| f.path.to_string());
    let mut out: Vec<String> = walked.pruned.iter().cloned().chain(too_large.take(walk::MAX_PRUNED_LISTED)).collect();
    out.sort_unstable();
    out
}

/// The programming language with the most code lines outside generated files (ring's
/// pregenerated assembly says nothing of what it is written in), except that the language of
/// the project at the root wins while it has at least a quarter of those lines: ring's Perl
/// assembly generators do not make a Rust crate a Perl project.
fn primary_language(languages: &[LanguageStat], projects: &[Project]) -> Option<String> {
    let own_code = |l: &LanguageStat| l.lines.code - l.generated_code;
    let programming: Vec<&LanguageStat> = languages
        .iter()
        .filter(|l| lang::Lang::by_name(&l.name).is_some_and(|l| l.def().kind == lang::Kind::Programming))
        .filter(|l| own_code(l) > 0)
        .collect();
    let top = programming.iter().max_by_key(|l| own_code(l))?;
    let root = projects.iter().find(|p| p.dir == ".").map(|p| p.language.as_str());
    let root = root.and_then(|name| programming.iter().find(|l| l.name == name));
    Some(match root {
        Some(r) if own_code(r) * 4 >= own_code(top) => r.name.clone(),
        _ => top.name.clone(),
    })
}

fn languages(files: &[walk::FileEntry]) -> Vec<LanguageStat> {
    let mut by_lang: Vec<(lang::Lang, LanguageStat)> = Vec::new();
    for f in files.iter().filter(|f| f.status.is_counted()) {
        let Some(l) = f.lang else { continue };
        let i = match by_lang.iter().position(|(x, _)| *x == l) {
            Some(i) => i,
            None => {
                let empty = LanguageStat {
                    name: l.name().into(),
                    files: 0,
                    lines: LineCounts::default(),
                    generated_files: 0,
                    generated_code: 0,
                };
                by_lang.push((l, empty));
                by_lang.len() - 1
            }
        };
        let stat = &mut by_lang[i].1;
        stat.files += 1;
        stat.lines.add(&f.scan.lines);
        if f.status == walk::Status::Generated {
            stat.generated_files += 1;
            stat.generated_code += f.scan.lines.code;
        }
    }
    let mut out: Vec<LanguageStat> = by_lang.into_iter().map(|(_, stat)| stat).collect();
    out.sort_by(|a, b| b.lines.code.cmp(&a.lines.code).then(a.name.cmp(&b.name)));
    out
}

impl Analysis {
    /// The validation checks: each a command and the directory (relative to [`Analysis::root`])
    /// to run it in, build first, then lint, then test. Empty when no project has any.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The checks as command lines to run from the root: `cargo test`, or
    /// `cd web && npm test` for a project in a subdirectory. Prefer [`Analysis::checks`]
    /// when the caller can set the working directory itself.
    pub fn validation_commands(&self) -> Vec<String> {
        self.checks
            .iter()
            .map(|c| if c.dir == "." { c.command.clone() } else { format!("cd {} && {}", c.dir, c.command) })
            .collect()
    }

    /// A compact, readable summary for a prompt: languages, projects and their commands,
    /// frameworks, structure, the health score with its breakdown, the top smells and TODO
    /// counts, and the focus areas.
    pub fn prompt_summary(&self) -> String {
        render::prompt_summary(self)
    }

    /// The repo map as text, cut to about `token_budget` tokens (at [`CHARS_PER_TOKEN`]
    /// characters per token): files with their top-level symbols, most central first.
    pub fn repo_map(&self, token_budget: usize) -> String {
        repomap::render(&self.map, token_budget)
    }

    /// The repo map ranked toward what an issue or a spec names (`targets`: paths such as
    /// `src/a.rs` or `src/a.rs:12`, or names such as `load_config`), by personalised PageRank
    /// over the map's graph, cut to about `token_budget` tokens. The plain [`Analysis::repo_map`]
    /// when no target is a file or a symbol of the map.
    pub fn repo_map_for(&self, targets: &[&str], token_budget: usize) -> String {
        repomap::render_for(&self.map, targets, token_budget).unwrap_or_else(|| self.repo_map(token_budget))
    }

    /// The human report (used by `mmm analyze`).
    pub fn human(&self, styles: &crate::printer::Styles) -> String {
        render::human(self, styles)
    }
}

/// The definitions in one file's text, in order, as `(line, "keyword name")` (members
/// indented by two spaces), for the outline of a file too long to show whole. Empty for a
/// language without symbol rules. `name` is the file's name or path.
pub fn outline(name: &str, text: &str) -> Vec<(u32, String)> {
    let file_name = name.rsplit('/').next().unwrap_or(name);
    let Some(lang) = lang::Lang::from_file_name(file_name) else { return Vec::new() };
    let mut scanner = scan::Scanner::default();
    let mut scan = scanner.scan(text.as_bytes(), lang, false);
    if let Some(grammar) = parse::Grammar::for_file(lang, file_name) {
        scanner.refine(text.as_bytes(), grammar, false, &mut scan);
    }
    scan.symbols
        .iter()
        .map(|(s, symbol)| {
            (s.line, format!("{}{} {symbol}", if s.parent.is_some() { "  " } else { "" }, s.kind.keyword()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_repo_map_puts_entry_points_then_the_most_referenced_files_first() {
        let dir = tree(&[
            ("Cargo.toml", "[package]\nname = \"app\"\n"),
            ("src/main.rs", "mod config;\nfn main() {\n    let c = config::Config::load();\n    run::run(c);\n}\n"),
            (
                "src/config.rs",
                "pub struct Config;\n\nimpl Config {\n    pub fn load() -> Config {\n        Config\n    }\n}\n",
            ),
            ("src/run.rs", "use crate::config::Config;\n\npub fn run(c: Config) {}\n"),
            ("src/util.rs", "pub fn helper() {}\n"),
        ]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        assert_eq!(
            a.repo_map(1000),
            "src/main.rs (entry point, 5 lines)\n  fn main:2\n\
             src/config.rs (6 lines, 2 refs)\n  struct Config:1\n  impl Config:3\n    fn load:4\n\
             src/run.rs (2 lines, 1 ref)\n  fn run:3\n\
             src/util.rs (1 line)\n  fn helper:1\n"
        );
        assert_eq!(a.repo_map(22), "src/main.rs (entry point, 5 lines)\n  fn main:2\n… 3 more files not shown\n");
        assert_eq!(
            a.validation_commands(),
            ["cargo build --all-targets", "cargo clippy --all-targets -- -D warnings", "cargo test"]
        );
    }

    #[test]
    fn the_repo_map_ranks_by_pagerank_and_personalises_toward_what_an_issue_names() {
        let dir = tree(&[
            ("src/a.rs", "pub fn alpha_handler() {\n    shared_state();\n}\n"),
            ("src/b.rs", "pub fn beta_handler() {\n    shared_state();\n}\n"),
            ("src/c.rs", "pub fn shared_state() {}\n"),
            ("src/d.rs", "pub fn delta_helper() {\n    beta_handler();\n}\n"),
        ]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        let order = |map: &str| map.lines().filter(|l| !l.starts_with(' ')).map(str::to_string).collect::<Vec<_>>();
        // c is used by a and b, b by d; a and d by nobody (equal rank: by path).
        assert_eq!(
            order(&a.repo_map(1000)),
            ["src/c.rs (1 line, 2 refs)", "src/b.rs (3 lines, 1 ref)", "src/a.rs (3 lines)", "src/d.rs (3 lines)"]
        );
        // Toward d: d, then what d uses (b), then what b uses (c); a is unrelated.
        assert_eq!(
            order(&a.repo_map_for(&["src/d.rs"], 1000)),
            ["src/d.rs (3 lines)", "src/b.rs (3 lines, 1 ref)", "src/c.rs (1 line, 2 refs)", "src/a.rs (3 lines)"]
        );
        // Toward a name: the file defining it, then what it uses; the rest by path.
        assert_eq!(
            order(&a.repo_map_for(&["alpha_handler()"], 1000)),
            ["src/a.rs (3 lines)", "src/c.rs (1 line, 2 refs)", "src/b.rs (3 lines, 1 ref)", "src/d.rs (3 lines)"]
        );
        // Nothing the map knows: the plain map.
        assert_eq!(a.repo_map_for(&["nothing_here", "x.py"], 1000), a.repo_map(1000));
        assert_eq!(
            a.repo_map_for(&["d.rs:2"], 20),
            "src/d.rs (3 lines)\n  fn delta_helper:1\n… 3 more files not shown\n"
        );
    }

    #[test]
    fn commands_of_projects_in_subdirectories_name_their_directory() {
        let dir = tree(&[
            ("api/Cargo.toml", "[package]\nname = \"api\"\n"),
            ("api/src/lib.rs", "pub fn api() {}\n"),
            ("web/package.json", r#"{"scripts":{"test":"jest"}}"#),
        ]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        assert_eq!(
            a.validation_commands(),
            [
                "cd api && cargo build --all-targets",
                "cd api && cargo clippy --all-targets -- -D warnings",
                "cd api && cargo test",
                "cd web && npm test",
            ]
        );
        assert_eq!(a.checks()[3], Check { name: "test (web)".into(), dir: "web".into(), command: "npm test".into() });
        let summary = a.prompt_summary();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(lines[0], "Project analysis (mmm analyzer, schema v3)");
        assert_eq!(lines[1], "Files: 3 (3 read); primary language: Rust");
        assert_eq!(
            lines[2],
            "Languages: TOML 2 code lines in 1 file, JSON 1 code lines in 1 file, Rust 1 code lines in 1 file"
        );
        assert_eq!(lines[3], "Projects:");
        assert_eq!(
            lines[4],
            "- api cargo (Rust) api; tests: cargo test; build: cargo build --all-targets; \
             lint: cargo clippy --all-targets -- -D warnings; test: cargo test; format: cargo fmt --all"
        );
        assert_eq!(lines[5], "- web npm (JavaScript); test: npm test");
        assert_eq!(
            lines[6],
            "Validation checks mmm runs: (in api) cargo build --all-targets; \
             (in api) cargo clippy --all-targets -- -D warnings; (in api) cargo test; (in web) npm test"
        );
        assert!(lines[8].starts_with("Health score: "), "{summary}");
        assert!(summary.contains("\n- tests 0.00/2.5: no test code found\n"), "{summary}");
        assert!(
            summary.ends_with(
                "\nFocus areas, most urgent first:\n1. tests: add tests: no test code found\n\
                 2. documentation: no README, few comments (0% of lines)\n3. tooling: no CI configured\n"
            ),
            "{summary}"
        );
    }

    #[test]
    fn a_build_script_is_no_entry_point_and_a_lint_check_is_a_linter() {
        let dir = tree(&[
            ("Cargo.toml", "[package]\nname = \"app\"\n"),
            ("build.rs", "fn main() {\n    println!(\"cargo:rerun-if-changed=build.rs\");\n}\n"),
            ("src/main.rs", "fn main() {}\n"),
        ]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        assert_eq!(a.structure.entry_points, ["src/main.rs"]);
        let summary = a.prompt_summary();
        let structure = summary.lines().find(|l| l.starts_with("Structure: ")).unwrap();
        assert_eq!(
            structure,
            "Structure: source: . (1 file), src (1 file); tests: none found; entry points: src/main.rs; \
             CI: none found; linters: cargo clippy --all-targets -- -D warnings (lint check, no config file); \
             docs: no README; documentation none"
        );
    }

    #[test]
    fn generated_files_and_data_tables_are_counted_but_never_analysed() {
        let long_fn = format!("fn generated() {{\n{}}}\n", "    let x = compute();\n".repeat(120));
        let table = format!(
            "static const uint32_t TABLE[] = {{\n{}}};\nint alignas(void) {{\n    return 0;\n}}\n",
            "    {TOBN(0x18a9143c, 0x79e730d4), TOBN(0x3ba6dc29, 0xa2d6afde)},\n".repeat(80)
        );
        let asm = "mov eax, 1\nret\n".repeat(300);
        let dir = tree(&[
            ("Cargo.toml", "# THIS FILE IS AUTOMATICALLY GENERATED BY CARGO\n[package]\nname = \"app\"\n"),
            ("src/lib.rs", "pub fn real() -> u32 {\n    1\n}\n"),
            ("src/proto.rs", &format!("// Code generated by protoc-gen-rust. DO NOT EDIT.\n{long_fn}")),
            ("crypto/table.h", &table),
            ("pregenerated/x86.asm", &asm),
            ("web/app.min.js", "function a(){return 1}\n"),
            ("web/package-lock.json", "{\n  \"lockfileVersion\": 3\n}\n"),
        ]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        let langs: Vec<(&str, u64, u64, u64, u64)> = a
            .languages
            .iter()
            .map(|l| (l.name.as_str(), l.files, l.lines.code, l.generated_files, l.generated_code))
            .collect();
        assert_eq!(
            langs,
            vec![
                ("Assembly", 1, 600, 1, 600),
                ("Rust", 2, 125, 1, 122),
                ("C", 1, 85, 1, 85),
                ("JSON", 1, 3, 1, 3),
                ("TOML", 1, 2, 1, 2),
                ("JavaScript", 1, 1, 1, 1),
            ]
        );
        assert_eq!(a.primary_language.as_deref(), Some("Rust"));
        // crates.io's normalized manifest carries a generated marker and is still the project's.
        let projects: Vec<(&str, &str)> = a.projects.iter().map(|p| (p.dir.as_str(), p.tool.as_str())).collect();
        assert_eq!(projects, [(".", "cargo")]);
        assert_eq!(a.files.skipped.generated, 6);
        let longest: Vec<&str> = a.health.longest_functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(longest, ["real"]);
        let largest: Vec<&str> = a.health.largest_files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(largest, ["src/lib.rs"]);
        let mapped: Vec<&str> = a.map.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(mapped, ["src/lib.rs"]);
        let focus: Vec<(&str, &str)> = a.focus_areas.iter().map(|f| (f.area.as_str(), f.reason.as_str())).collect();
        // No complexity focus from the 120-line generated function or the table.
        assert_eq!(
            focus,
            [
                ("tests", "add tests: no test code found"),
                ("documentation", "no README, few comments (0% of lines)"),
                ("tooling", "no CI configured")
            ]
        );
    }

    #[test]
    fn a_deliberately_poor_project_scores_at_most_4() {
        // No tests, no CI, no README, a 500-line function with bare excepts.
        let body = "    try:\n        x = compute()\n    except:\n        pass\n".repeat(125);
        let dir = tree(&[("app.py", &format!("def main():\n{body}\n\nmain()\n"))]);
        let a = analyze(dir.path(), &Options::default()).unwrap();
        let breakdown: Vec<(&str, f64)> = a.health.breakdown.iter().map(|c| (c.name.as_str(), c.score)).collect();
        assert_eq!(
            breakdown,
            [
                ("tests", 0.0),
                ("error_handling", 0.0),
                ("documentation", 0.0),
                ("complexity", 1.0),
                ("tooling", 0.0),
                ("maintenance", 1.0)
            ]
        );
        assert_eq!(a.health.score, 2.0);
    }

    #[test]
    fn a_missing_directory_is_a_usage_error() {
        let err = analyze(Path::new("/no/such/dir"), &Options::default()).unwrap_err();
        assert_eq!(crate::error::classify(&err).0, crate::Exit::Usage);
    }
}
