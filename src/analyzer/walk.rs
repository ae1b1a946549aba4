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

use super::health::LONG_FUNCTION;
use super::lang::Lang;
use super::parse::Grammar;
use super::scan::{FileScan, Scanner};
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
    let mut parse = Vec::new();
    for part in parts.into_inner().unwrap_or_else(|e| e.into_inner()) {
        let Part { files, manifests, skipped, candidates, .. } = part;
        out.files.extend(files);
        parse.extend(candidates);
        out.manifests.extend(manifests);
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
    let started = std::time::Instant::now();
    let threads =
        if opts.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { opts.threads };
    let read: u64 = out.files.iter().filter(|f| f.status.is_counted()).map(|f| f.bytes).sum();
    parse_focus(&mut out.files, parse, read / PARSE_SHARE, threads);
    tracing::debug!("parsed the focus files in {:?}", started.elapsed());
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
    candidates: Vec<Candidate>,
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
                candidates: Vec::new(),
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

/// Most files parsed per analysis (see [`parse_focus`]).
pub const MAX_PARSED_FILES: usize = 8;
/// Largest file parsed.
pub const MAX_PARSED_BYTES: usize = 96 * 1024;
/// The parse reads at most this share of the bytes the walk read (1/40): parsing a byte costs
/// about thirty times counting its line, and the whole analysis must stay within the time of
/// a line count (BENCHMARKS.md).
pub const PARSE_SHARE: u64 = 40;

/// A file kept for the parse after the walk: its longest function by the line heuristics,
/// its path and its bytes (the walk's one read).
struct Candidate {
    longest: u32,
    path: Box<str>,
    bytes: Vec<u8>,
}

/// The longest function of a file the parser could read better: a source file (not a
/// test file) of a language with a grammar, with a function the heuristics find longer
/// than [`LONG_FUNCTION`] lines, at most [`MAX_PARSED_BYTES`] long.
fn parse_candidate(file: &FileEntry, buf: &[u8]) -> Option<u32> {
    let lang = file.lang?;
    Grammar::for_file(lang, file.name())?;
    if file.is_test || buf.len() > MAX_PARSED_BYTES {
        return None;
    }
    let longest = file.scan.symbols.iter().filter(|(s, _)| s.kind.is_function()).map(|(s, _)| s.lines).max()?;
    (longest > LONG_FUNCTION).then_some(longest)
}

/// Keeps `file` among the thread's [`MAX_PARSED_FILES`] best candidates.
fn keep_candidate(candidates: &mut Vec<Candidate>, file: &FileEntry, buf: &[u8]) {
    let Some(longest) = parse_candidate(file, buf) else { return };
    let candidate = || Candidate { longest, path: file.path.clone(), bytes: buf.to_vec() };
    if candidates.len() < MAX_PARSED_FILES {
        return candidates.push(candidate());
    }
    // The worst kept: the shortest longest function, the last path among equals.
    fn rank(c: &Candidate) -> (u32, std::cmp::Reverse<&str>) {
        (c.longest, std::cmp::Reverse(&*c.path))
    }
    let worst = candidates.iter().enumerate().min_by(|(_, a), (_, b)| rank(a).cmp(&rank(b)));
    if let Some((i, w)) = worst
        && rank(w) < (longest, std::cmp::Reverse(&*file.path))
    {
        candidates[i] = candidate();
    }
}

/// Parses up to [`MAX_PARSED_FILES`] files whose functions the heuristics find longest (what
/// the focus and the longest-functions list show), longest first, skipping those that do not
/// fit in `budget` bytes, on `threads` threads, and replaces their symbols, function lengths,
/// test code and references with the parser's. A file the parser gives up on keeps the
/// heuristics' result. Parsing every file would cost several times the whole walk (see
/// BENCHMARKS.md).
fn parse_focus(files: &mut [FileEntry], mut candidates: Vec<Candidate>, budget: u64, threads: usize) {
    candidates.sort_by(|a, b| b.longest.cmp(&a.longest).then(a.path.cmp(&b.path)));
    let mut left = budget;
    candidates.retain(|c| {
        let fits = c.bytes.len() as u64 <= left;
        left -= if fits { c.bytes.len() as u64 } else { 0 };
        fits
    });
    candidates.truncate(MAX_PARSED_FILES);
    if candidates.is_empty() {
        return;
    }
    let threads = threads.clamp(1, candidates.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileScan)>> = Mutex::new(Vec::new());
    let files_ro: &[FileEntry] = files;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut scanner = Scanner::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(c) = candidates.get(n) else { break };
                    let Ok(at) = files_ro.binary_search_by(|f| f.path.cmp(&c.path)) else { continue };
                    let file = &files_ro[at];
                    let (Some(lang), false) = (file.lang, file.is_test) else { continue };
                    let Some(grammar) = Grammar::for_file(lang, file.name()) else { continue };
                    let mut scan = scanner.scan(&c.bytes, lang, false);
                    if scanner.refine(&c.bytes, grammar, false, &mut scan) {
                        results.lock().unwrap_or_else(|e| e.into_inner()).push((at, scan));
                    }
                }
            });
        }
    });
    for (at, scan) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        files[at].scan = scan;
    }
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
    keep_candidate(&mut part.candidates, file, buf);
    Status::Scanned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, text: &str) -> FileEntry {
        let lang = Lang::from_file_name(path.rsplit('/').next().unwrap());
        let scan = Scanner::default().scan(text.as_bytes(), lang.unwrap(), false);
        FileEntry { path: path.into(), lang, status: Status::Scanned, bytes: text.len() as u64, is_test: false, scan }
    }

    fn lengths(f: &FileEntry) -> Vec<(String, u32)> {
        f.scan.symbols.iter().map(|(s, n)| (n.to_string(), s.lines)).collect()
    }

    #[test]
    fn the_focus_files_are_parsed_within_the_budget_longest_first() {
        // A string at column 0 ends `f` early by indentation; the parser knows better.
        let text = "def f():\n    x = \"\"\"\ntext at column zero\n\"\"\"\n    return x\n\n\ndef g():\n    pass\n";
        let mut files = vec![entry("a.py", text), entry("b.py", text), entry("c.py", "def broken(:\n    pass\n")];
        assert_eq!(lengths(&files[0]), [("f".into(), 2), ("g".into(), 2)]);
        let candidate = |path: &str, longest: u32, text: &str| Candidate {
            longest,
            path: path.into(),
            bytes: text.as_bytes().to_vec(),
        };
        let candidates = vec![
            candidate("b.py", 90, text),
            candidate("a.py", 60, text),
            candidate("c.py", 80, "def broken(:\n    pass\n"),
        ];
        // Room for c.py and b.py (the longest), not a.py.
        let budget = (text.len() + 22) as u64;
        parse_focus(&mut files, candidates, budget, 2);
        assert_eq!(lengths(&files[0]), [("f".into(), 2), ("g".into(), 2)], "a.py: over the budget, not parsed");
        assert_eq!(lengths(&files[1]), [("f".into(), 5), ("g".into(), 2)], "b.py: parsed");
        assert_eq!((files[0].scan.parsed, files[1].scan.parsed, files[2].scan.parsed), (false, true, false));
        // c.py does not parse: the heuristics stand.
        assert_eq!(lengths(&files[2]), [("broken".into(), 2)]);
    }
}
