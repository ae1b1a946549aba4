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
mod health;
mod lang;
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
pub use repomap::{CHARS_PER_TOKEN, MapFile, MapSymbol};
pub use scan::LineCounts;
pub use structure::{DirCount, Docs, Structure};
pub use walk::Skipped;

use crate::error::CliError;
use crate::secrets::SecretFiles;
use crate::settings::Settings;

/// The version of the [`Analysis`] JSON schema.
pub const SCHEMA_VERSION: u32 = 1;

/// How to analyse.
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
}

/// Everything the analyzer learnt about a project. See `docs/analysis-schema.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Always [`SCHEMA_VERSION`].
    pub version: u32,
    /// The analysed directory (absolute).
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

/// Analyses the directory `root`: one walk, then everything else from its summaries.
pub fn analyze(root: &Path, opts: &Options) -> anyhow::Result<Analysis> {
    let root = canonical_dir(root)?;
    let secrets = SecretFiles::new(&root, &opts.secret_files)?;
    let walked =
        walk::walk(&root, secrets, &walk::WalkOptions { max_file_size: opts.max_file_size, threads: opts.threads });
    let (projects, warnings) = projects::detect(&walked.manifests, &walked.files);
    let checks = projects::checks(&projects);
    let structure = structure::analyze(&walked.files);
    let health = health::assess(&walked.files, &structure, &projects, &checks);
    let focus_areas = health::focus(&health, &structure, &checks);
    let map = repomap::build(&walked.files, &walked.idents, &structure.entry_points);
    let languages = languages(&walked.files);
    let primary_language = languages
        .iter()
        .find(|l| lang::Lang::by_name(&l.name).is_some_and(|l| l.def().kind == lang::Kind::Programming))
        .map(|l| l.name.clone());
    let files = FileTotals {
        total: walked.files.len() as u64,
        scanned: walked.files.iter().filter(|f| f.status == walk::Status::Scanned).count() as u64,
        bytes: walked.files.iter().filter(|f| f.status == walk::Status::Scanned).map(|f| f.bytes).sum(),
        skipped: walked.skipped,
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
        CliError::usage(format!("cannot analyse {}: {e}", root.display()))
            .with_hint("pass an existing directory, e.g. `mmm analyze .`")
    })?;
    if !canonical.is_dir() {
        return Err(CliError::usage(format!("cannot analyse {}: not a directory", root.display()))
            .with_hint("pass the project's directory, not a file")
            .into());
    }
    Ok(canonical)
}

fn languages(files: &[walk::FileEntry]) -> Vec<LanguageStat> {
    let mut by_lang: Vec<(lang::Lang, u64, LineCounts)> = Vec::new();
    for f in files.iter().filter(|f| f.status == walk::Status::Scanned) {
        let Some(l) = f.lang else { continue };
        match by_lang.iter_mut().find(|(x, _, _)| *x == l) {
            Some((_, n, lines)) => {
                *n += 1;
                lines.add(&f.scan.lines);
            }
            None => by_lang.push((l, 1, f.scan.lines)),
        }
    }
    let mut out: Vec<LanguageStat> =
        by_lang.into_iter().map(|(l, files, lines)| LanguageStat { name: l.name().into(), files, lines }).collect();
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

    /// The human report (used by `mmm analyze`).
    pub fn human(&self, styles: &crate::printer::Styles) -> String {
        render::human(self, styles)
    }
}
