//! The one walk over a project: parallel, gitignore-aware, and reading each file at most once.
//!
//! It honours `.gitignore`, `.ignore` and `.git/info/exclude` (also outside a git repository),
//! prunes `.git`, vendored and generated directories (`node_modules`, `target`, `.venv`, ...)
//! and secret files and directories (they are neither read nor listed, only counted), skips
//! binary files (a NUL byte in the first 8 KiB) and files over the size limit, and never
//! follows symbolic links: a link is counted and left alone, so the walk cannot leave the
//! tree or loop. Files of an unknown type are listed but not read, except extensionless
//! ones, whose first line may be a shebang. Manifests (`Cargo.toml`, `package.json`, ...)
//! keep their text for the project detection; nothing else keeps file content.
//!
//! Generated files and data are counted in their language but never analysed as code to
//! improve (no smells, symbols, to-dos or entry points): lock files, `*.min.*` and minified
//! files (lines averaging over 300 bytes), files under a `generated`/`pregenerated` directory,
//! files whose first KiB carries a generated marker (`@generated`, `DO NOT EDIT`, `Code
//! generated`), and tables of numbers (most code lines mostly numeric literals).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};
use memchr::memmem::Finder;
use serde::{Deserialize, Serialize};

use super::lang::Lang;
use super::scan::{FileScan, IdentMap, Scanner};
use super::structure::is_test_path;
use crate::secrets::SecretFiles;

/// Directories never entered: version control, mmm's own state, dependencies, build output
/// and caches.
pub const PRUNED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".jj",
    ".mmm",
    "node_modules",
    "bower_components",
    "jspm_packages",
    "target",
    "dist",
    "build",
    "vendor",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".eggs",
    "site-packages",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".parcel-cache",
    ".turbo",
    ".angular",
    ".expo",
    ".cache",
    ".gradle",
    ".idea",
    ".vscode",
    ".vs",
    "coverage",
    "htmlcov",
    ".nyc_output",
    "Pods",
    "Carthage",
    "DerivedData",
    ".build",
    ".swiftpm",
    "_build",
    ".dart_tool",
    ".pub-cache",
    ".terraform",
    ".serverless",
    ".stack-work",
    "elm-stuff",
    "zig-cache",
    ".zig-cache",
    "zig-out",
    "obj",
    ".direnv",
    ".bundle",
    "__snapshots__",
];

/// Pruned directories that are not worth reporting as skipped.
const UNCOUNTED_DIRS: &[&str] = &[".git", ".hg", ".svn", ".jj", ".mmm"];

/// Files that only tools write: counted, never read.
const GENERATED_FILES: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "bun.lock",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pdm.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "mix.lock",
    "Package.resolved",
    "flake.lock",
    "gradle.lockfile",
    "packages.lock.json",
    "deno.lock",
];

/// Files whose text the project detection needs.
fn is_manifest(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "Cargo.toml",
        "package.json",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "Pipfile",
        "pytest.ini",
        "tox.ini",
        "go.mod",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "settings.gradle",
        "settings.gradle.kts",
        "Gemfile",
        "composer.json",
        "mix.exs",
        "Package.swift",
        "CMakeLists.txt",
        "Makefile",
        "makefile",
        "GNUmakefile",
        "justfile",
        "Justfile",
        ".justfile",
        "deno.json",
    ];
    NAMES.contains(&name)
        || (name.starts_with("requirements") && name.ends_with(".txt"))
        || [".csproj", ".fsproj", ".vbproj", ".sln"].iter().any(|e| name.ends_with(e))
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Read and counted.
    Scanned,
    /// Not a language mmm knows (not read unless extensionless).
    Unknown,
    /// A lock file or minified bundle: not read.
    Generated,
    Binary,
    TooLarge,
    Unreadable,
}

impl Status {
    /// Read and counted in a language (analysed or not).
    pub fn is_counted(self) -> bool {
        matches!(self, Status::Scanned | Status::Generated)
    }
}

/// One file of the tree (secret files never become one).
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Relative to the root, `/`-separated.
    pub path: Box<str>,
    pub lang: Option<Lang>,
    pub status: Status,
    /// Size in bytes, for files that were opened.
    pub bytes: u64,
    /// A test file by its path (`tests/`, `test_*.py`, `*.spec.ts`, ...).
    pub is_test: bool,
    pub scan: FileScan,
}

impl FileEntry {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// A manifest's text, read during the walk.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: Box<str>,
    pub text: String,
}

impl Manifest {
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn dir(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(d, _)| d)
    }
}

/// What the walk left out, by reason.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub binary: u64,
    pub too_large: u64,
    pub generated: u64,
    pub unreadable: u64,
    pub symlinks: u64,
    /// Secret files and directories: never read, never named.
    pub secret: u64,
    /// Pruned dependency, build and cache directories.
    pub vendored_dirs: u64,
}

/// Everything the walk produced, files sorted by path.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<FileEntry>,
    pub manifests: Vec<Manifest>,
    /// Identifier hash → number of files mentioning it.
    pub idents: IdentMap,
    pub skipped: Skipped,
    /// The pruned directories (relative, at most [`MAX_PRUNED_LISTED`]), sorted.
    pub pruned: Vec<String>,
}

/// Most pruned directories listed by path (all are counted).
pub const MAX_PRUNED_LISTED: usize = 100;

/// How the walk runs.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    pub max_file_size: u64,
    /// 0 picks the number of CPUs.
    pub threads: usize,
}

/// Walks `root` (an existing directory, absolute) and scans every file once.
pub fn walk(root: &Path, secrets: SecretFiles, opts: &WalkOptions) -> Walked {
    let pruned = Arc::new(AtomicU64::new(0));
    let pruned_paths = Arc::new(Mutex::new(Vec::new()));
    let secret = Arc::new(AtomicU64::new(0));
    let secrets = Arc::new(secrets);
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .ignore(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .threads(opts.threads);
    {
        let (pruned, pruned_paths, secret) = (pruned.clone(), pruned_paths.clone(), secret.clone());
        let root = root.to_path_buf();
        builder.filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if is_dir && is_pruned_dir(entry) {
                if !UNCOUNTED_DIRS.contains(&entry.file_name().to_str().unwrap_or("")) {
                    pruned.fetch_add(1, Ordering::Relaxed);
                    let mut paths = pruned_paths.lock().unwrap_or_else(|e| e.into_inner());
                    if paths.len() < MAX_PRUNED_LISTED
                        && let Ok(relative) = entry.path().strip_prefix(&root)
                    {
                        paths.push(format!("{}/", relative.to_string_lossy().replace('\\', "/")));
                    }
                }
                return false;
            }
            if secrets.is_secret(entry.path(), is_dir) {
                secret.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            true
        });
    }
    let parts = Mutex::new(Vec::new());
    let mut visitors = Visitors { root: root.to_path_buf(), max: opts.max_file_size, parts: &parts };
    builder.build_parallel().visit(&mut visitors);

    let mut out = Walked::default();
    for part in parts.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let Part { files, manifests, scanner, skipped, .. } = part;
        out.files.extend(files);
        out.manifests.extend(manifests);
        if out.idents.is_empty() {
            out.idents = scanner.idents;
        } else {
            for (h, n) in scanner.idents {
                *out.idents.entry(h).or_insert(0) += n;
            }
        }
        let s = &mut out.skipped;
        s.binary += skipped.binary;
        s.too_large += skipped.too_large;
        s.generated += skipped.generated;
        s.unreadable += skipped.unreadable;
        s.symlinks += skipped.symlinks;
    }
    out.skipped.vendored_dirs = pruned.load(Ordering::Relaxed);
    out.pruned = std::mem::take(&mut *pruned_paths.lock().unwrap_or_else(|e| e.into_inner()));
    out.pruned.sort_unstable();
    out.skipped.secret = secret.load(Ordering::Relaxed);
    out.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    out.manifests.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    out
}

fn is_pruned_dir(entry: &DirEntry) -> bool {
    let name = entry.file_name().to_str().unwrap_or("");
    if name.ends_with(".egg-info") {
        return true;
    }
    if !PRUNED_DIRS.contains(&name) {
        // A virtualenv under any name, and .NET's bin/ (next to obj/).
        return match name {
            "bin" => entry.path().with_file_name("obj").is_dir(),
            "deps" => entry.path().with_file_name("mix.exs").is_file(),
            "env" | ".env" => entry.path().join("pyvenv.cfg").is_file(),
            _ => false,
        };
    }
    true
}

/// What one walker thread gathered.
struct Part {
    files: Vec<FileEntry>,
    manifests: Vec<Manifest>,
    scanner: Scanner,
    skipped: Skipped,
    /// Scratch space for the generated-marker check.
    head: Vec<u8>,
}

struct Visitors<'a> {
    root: PathBuf,
    max: u64,
    parts: &'a Mutex<Vec<Part>>,
}

impl<'s> ParallelVisitorBuilder<'s> for Visitors<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        Box::new(Visitor {
            root: self.root.clone(),
            max: self.max,
            parts: self.parts,
            buf: Vec::new(),
            part: Some(Part {
                files: Vec::new(),
                manifests: Vec::new(),
                scanner: Scanner::default(),
                skipped: Skipped::default(),
                head: Vec::new(),
            }),
        })
    }
}

struct Visitor<'a> {
    root: PathBuf,
    max: u64,
    parts: &'a Mutex<Vec<Part>>,
    buf: Vec<u8>,
    part: Option<Part>,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        if let Some(part) = self.part.take() {
            self.parts.lock().unwrap_or_else(|e| e.into_inner()).push(part);
        }
    }
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let Some(part) = self.part.as_mut() else { return WalkState::Quit };
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                tracing::debug!("walk: {err}");
                part.skipped.unreadable += 1;
                return WalkState::Continue;
            }
        };
        let Some(kind) = entry.file_type() else { return WalkState::Continue };
        if kind.is_symlink() {
            part.skipped.symlinks += 1;
            return WalkState::Continue;
        }
        if !kind.is_file() {
            return WalkState::Continue;
        }
        let Ok(relative) = entry.path().strip_prefix(&self.root) else { return WalkState::Continue };
        let path: Box<str> = relative.to_string_lossy().replace('\\', "/").into_boxed_str();
        let name = path.rsplit('/').next().unwrap_or(&path);
        let lang = Lang::from_file_name(name);
        let is_test = is_test_path(&path);
        let mut file = FileEntry { path, lang, status: Status::Unknown, bytes: 0, is_test, scan: FileScan::default() };
        let name = file.name();
        if name == ".git" {
            return WalkState::Continue; // a worktree's or submodule's link to its repository
        }
        let manifest = is_manifest(name);
        let generated = GENERATED_FILES.contains(&name) || name.contains(".min.") || in_generated_dir(&file.path);
        if lang.is_some() || manifest || !name.contains('.') {
            file.status = read_and_scan(entry.path(), self.max, &mut self.buf, &mut file, part, generated);
            // A manifest stays a manifest when a tool wrote it (crates.io's normalized Cargo.toml).
            if manifest && matches!(file.status, Status::Scanned | Status::Unknown | Status::Generated) {
                part.manifests
                    .push(Manifest { path: file.path.clone(), text: String::from_utf8_lossy(&self.buf).into_owned() });
            }
        }
        part.files.push(file);
        WalkState::Continue
    }
}

/// Directories whose files are generated output (ring's `pregenerated/` assembly, say).
const GENERATED_DIRS: &[&str] = &["generated", "pregenerated", "__generated__", "_generated", "autogenerated"];

fn in_generated_dir(path: &str) -> bool {
    path.rsplit_once('/').is_some_and(|(dirs, _)| dirs.split('/').any(|d| GENERATED_DIRS.contains(&d)))
}

/// Markers a generator writes near the top of its output, compared in lower case.
const GENERATED_MARKERS: &[&str] = &[
    "@generated",
    "do not edit",
    "code generated",
    "auto-generated",
    "autogenerated",
    "automatically generated",
    "this file is generated",
    "this file was generated",
];

/// True when the first KiB carries a generator's marker (`head` is scratch space, reused).
fn has_generated_marker(buf: &[u8], head: &mut Vec<u8>) -> bool {
    static FINDERS: LazyLock<Vec<Finder<'static>>> =
        LazyLock::new(|| GENERATED_MARKERS.iter().map(|m| Finder::new(m.as_bytes())).collect());
    head.clear();
    head.extend(buf[..buf.len().min(1024)].iter().map(u8::to_ascii_lowercase));
    FINDERS.iter().any(|f| f.find(head).is_some())
}

/// Longest average line (bytes) of hand-written code; above it a file is minified.
const MINIFIED_LINE: u64 = 300;

/// True when the scan shows generated output or data rather than code: minified (long lines
/// on average), or a table of numbers (at least 50 code lines, most of them numeric literals).
fn looks_generated(scan: &FileScan, bytes: u64) -> bool {
    let lines = scan.lines.total().max(1);
    let code = scan.lines.code;
    (bytes > 4096 && bytes / lines > MINIFIED_LINE) || (code >= 50 && scan.data_lines * 2 > code)
}

/// Reads the file into `buf` (reused across files) and scans it; a generated file is only counted.
fn read_and_scan(
    path: &Path,
    max: u64,
    buf: &mut Vec<u8>,
    file: &mut FileEntry,
    part: &mut Part,
    generated: bool,
) -> Status {
    let opened = std::fs::File::open(path).and_then(|f| f.metadata().map(|m| (f, m.len())));
    let (handle, len) = match opened {
        Ok(x) => x,
        Err(err) => {
            tracing::debug!("cannot read {}: {err}", path.display());
            part.skipped.unreadable += 1;
            return Status::Unreadable;
        }
    };
    file.bytes = len;
    if len > max {
        part.skipped.too_large += 1;
        return Status::TooLarge;
    }
    buf.clear();
    if let Err(err) = handle.take(max + 1).read_to_end(buf) {
        tracing::debug!("cannot read {}: {err}", path.display());
        part.skipped.unreadable += 1;
        return Status::Unreadable;
    }
    file.bytes = buf.len() as u64;
    if memchr::memchr(0, &buf[..buf.len().min(8192)]).is_some() {
        part.skipped.binary += 1;
        return Status::Binary;
    }
    let lang = file.lang.or_else(|| {
        let first = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
        Lang::from_shebang(first)
    });
    let Some(lang) = lang else { return Status::Unknown };
    file.lang = Some(lang);
    if generated || has_generated_marker(buf, &mut part.head) {
        file.scan = FileScan { lines: part.scanner.count(buf, lang), ..FileScan::default() };
        part.skipped.generated += 1;
        return Status::Generated;
    }
    file.scan = part.scanner.scan(buf, lang, file.is_test);
    if looks_generated(&file.scan, file.bytes) {
        file.scan = FileScan { lines: file.scan.lines, ..FileScan::default() };
        part.skipped.generated += 1;
        return Status::Generated;
    }
    Status::Scanned
}
