//! Projects: what builds the code, where, and with which commands.
//!
//! Each manifest found by the walk (`Cargo.toml`, `package.json`, `pyproject.toml`, `go.mod`,
//! `pom.xml`, a Makefile, ...) is parsed by its ecosystem's module into a [`Project`]: its
//! directory, tool, dependencies, frameworks (from dependencies, never from file names
//! alone), test frameworks, and the build/lint/test/format commands a developer of that
//! project runs. Only commands that exist are given: `npm test` only with a `test` script,
//! `pytest` only when pytest is configured or tests exist, a Makefile target only when the
//! Makefile has it. Workspace members fold into their workspace. This module never runs a
//! command and never reads a file: manifests come from the walk.

mod cargo;
mod jvm;
mod native;
mod node;
mod python;
mod scripting;
mod tasks;

use serde::{Deserialize, Serialize};

use super::walk::{FileEntry, Manifest};

/// One project found in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Directory relative to the root, `.` for the root itself.
    pub dir: String,
    /// The build tool: cargo, npm, yarn, pnpm, bun, poetry, uv, pipenv, pdm, hatch,
    /// setuptools, pip, go, maven, gradle, dotnet, bundler, composer, mix, swift, cmake,
    /// make, just.
    pub tool: String,
    /// The manifest the project was found by, relative to the root.
    pub manifest: String,
    pub name: Option<String>,
    pub language: String,
    /// Directories of workspace members folded into this project.
    pub members: Vec<String>,
    pub frameworks: Vec<String>,
    pub test_frameworks: Vec<String>,
    pub dependencies: Dependencies,
    pub commands: Commands,
}

/// Declared dependencies, direct only.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependencies {
    pub runtime: u32,
    pub dev: u32,
}

/// The commands a developer of the project runs, each only when it exists.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commands {
    pub build: Option<String>,
    pub lint: Option<String>,
    pub test: Option<String>,
    pub format: Option<String>,
}

impl Commands {
    pub fn is_empty(&self) -> bool {
        self.build.is_none() && self.lint.is_none() && self.test.is_none() && self.format.is_none()
    }

    /// The validation commands in order: build, lint, test.
    pub fn checks(&self) -> [(&'static str, Option<&String>); 3] {
        [("build", self.build.as_ref()), ("lint", self.lint.as_ref()), ("test", self.test.as_ref())]
    }
}

/// A validation command and the directory (relative to the root) to run it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `build`, `lint` or `test`, followed by ` (<dir>)` outside the root.
    pub name: String,
    /// Relative to the analyzed root; `.` for the root.
    pub dir: String,
    /// A command line as a developer types it (it may contain `&&`).
    pub command: String,
}

/// Ecosystems, for nesting: a project inside a workspace of the same family is a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Cargo,
    Node,
    Python,
    Go,
    Maven,
    Gradle,
    Dotnet,
    Ruby,
    Php,
    Elixir,
    Swift,
    CMake,
    /// Make and Just: task runners that wrap other tools.
    Tasks,
}

/// A project as an ecosystem module returns it.
pub(crate) struct Found {
    pub project: Project,
    pub family: Family,
    /// Holds members of its own family in subdirectories (a Cargo or npm workspace,
    /// a Maven parent, a Gradle build with settings, a .NET solution, any CMake project).
    pub workspace: bool,
    /// Dependency names, for frameworks found once members are folded in.
    pub deps: Vec<String>,
    /// Maps dependency names to frameworks and test frameworks for this family.
    pub tables: Option<&'static FrameworkTables>,
}

/// Which dependency means which framework. A pattern ending in `*` is a prefix.
pub(crate) struct FrameworkTables {
    pub frameworks: &'static [(&'static str, &'static str)],
    pub test_frameworks: &'static [(&'static str, &'static str)],
}

impl FrameworkTables {
    fn apply(&self, deps: &[String], project: &mut Project) {
        push_matches(self.frameworks, deps, &mut project.frameworks);
        push_matches(self.test_frameworks, deps, &mut project.test_frameworks);
    }
}

fn push_matches(table: &[(&str, &str)], deps: &[String], out: &mut Vec<String>) {
    for &(pattern, name) in table {
        let hit = match pattern.strip_suffix('*') {
            Some(prefix) => deps.iter().any(|d| d.starts_with(prefix)),
            None => deps.iter().any(|d| d == pattern),
        };
        if hit && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
}

/// The files of the tree, sorted by path, for questions about what exists.
#[derive(Clone, Copy)]
pub(crate) struct Tree<'a> {
    files: &'a [FileEntry],
}

impl<'a> Tree<'a> {
    pub fn new(files: &'a [FileEntry]) -> Self {
        Self { files }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.files.binary_search_by(|f| (*f.path).cmp(path)).is_ok()
    }

    /// True when `name` is in `dir` (`""` is the root).
    pub fn has(&self, dir: &str, name: &str) -> bool {
        self.exists(&join(dir, name))
    }

    /// Every file under `dir` (all files for the root).
    pub fn under(&self, dir: &str) -> &'a [FileEntry] {
        if dir.is_empty() {
            return self.files;
        }
        let prefix = format!("{dir}/");
        let start = self.files.partition_point(|f| *f.path < *prefix);
        let len = self.files[start..].iter().take_while(|f| f.path.starts_with(&prefix)).count();
        &self.files[start..start + len]
    }

    /// True when `name` is in `dir` or a directory above it.
    pub fn has_here_or_above(&self, dir: &str, name: &str) -> bool {
        ancestors(dir).any(|d| self.has(d, name))
    }
}

/// `dir/name`, or `name` at the root.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// `dir` and every directory above it, ending with the root (`""`).
fn ancestors(dir: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(dir);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current.is_empty() { None } else { Some(current.rsplit_once('/').map_or("", |(d, _)| d)) };
        Some(current)
    })
}

/// True when `inner` is strictly below `outer` (`""` is the root).
fn is_below(inner: &str, outer: &str) -> bool {
    inner != outer && (outer.is_empty() || inner.strip_prefix(outer).is_some_and(|r| r.starts_with('/')))
}

/// A new project record with no commands yet.
pub(crate) fn project(dir: &str, tool: &str, manifest: &Manifest, language: &str) -> Project {
    Project {
        dir: if dir.is_empty() { ".".into() } else { dir.into() },
        tool: tool.into(),
        manifest: manifest.path.to_string(),
        name: None,
        language: language.into(),
        members: Vec::new(),
        frameworks: Vec::new(),
        test_frameworks: Vec::new(),
        dependencies: Dependencies::default(),
        commands: Commands::default(),
    }
}

/// Every project in the tree, sorted by directory, plus warnings about manifests that
/// could not be parsed.
pub fn detect(manifests: &[Manifest], files: &[FileEntry]) -> (Vec<Project>, Vec<String>) {
    let tree = Tree::new(files);
    let mut warnings = Vec::new();
    let mut found: Vec<Found> = Vec::new();
    for m in manifests {
        let result = match m.name() {
            "Cargo.toml" => cargo::detect(m, tree).map(Some),
            "package.json" => node::detect(m, tree).map(Some),
            "go.mod" => Ok(Some(native::go(m, tree))),
            "pom.xml" => Ok(Some(jvm::maven(m, tree))),
            "build.gradle" | "build.gradle.kts" | "settings.gradle" | "settings.gradle.kts" => {
                Ok(jvm::gradle(m, manifests, tree))
            }
            "Gemfile" => Ok(Some(scripting::bundler(m, tree))),
            "composer.json" => scripting::composer(m, tree).map(Some),
            "mix.exs" => Ok(Some(scripting::mix(m, tree))),
            "Package.swift" => Ok(Some(native::swift(m, tree))),
            "CMakeLists.txt" => Ok(Some(native::cmake(m, tree))),
            "Makefile" | "makefile" | "GNUmakefile" => Ok(tasks::make(m, manifests)),
            "justfile" | "Justfile" | ".justfile" => Ok(tasks::just(m)),
            name if name.ends_with(".sln") || name.ends_with("proj") => Ok(native::dotnet(m, manifests, tree)),
            _ => Ok(None),
        };
        match result {
            Ok(Some(f)) => found.push(f),
            Ok(None) => {}
            Err(e) => warnings.push(format!("{}: {e}", m.path)),
        }
    }
    let (python, python_warnings) = python::detect(manifests, tree);
    found.extend(python);
    warnings.extend(python_warnings);
    (fold_members(found), warnings)
}

/// Folds members into their workspace and drops task runners nested in another project.
fn fold_members(mut found: Vec<Found>) -> Vec<Project> {
    found.sort_by(|a, b| a.project.dir.cmp(&b.project.dir).then(a.project.manifest.cmp(&b.project.manifest)));
    let key = |p: &Project| if p.dir == "." { String::new() } else { p.dir.clone() };
    let mut keep = vec![true; found.len()];
    for i in 0..found.len() {
        let dir = key(&found[i].project);
        // The outermost workspace of the same family that contains this project.
        let owner = (0..found.len()).find(|&j| {
            j != i
                && found[j].family == found[i].family
                && found[j].workspace
                && is_below(&dir, &key(&found[j].project))
        });
        let nested_task = found[i].family == Family::Tasks
            && found.iter().any(|o| o.family != Family::Tasks && is_below(&dir, &key(&o.project)));
        if let Some(j) = owner {
            keep[i] = false;
            let deps = std::mem::take(&mut found[i].deps);
            let member = found[i].project.clone();
            let w = &mut found[j];
            w.project.members.push(member.dir);
            w.deps.extend(deps);
            w.project.dependencies.runtime += member.dependencies.runtime;
            w.project.dependencies.dev += member.dependencies.dev;
            for (from, to) in [
                (member.frameworks, &mut w.project.frameworks),
                (member.test_frameworks, &mut w.project.test_frameworks),
            ] {
                for name in from {
                    if !to.contains(&name) {
                        to.push(name);
                    }
                }
            }
        } else if nested_task {
            keep[i] = false;
        }
    }
    found
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut f, _)| {
            if let Some(tables) = f.tables {
                f.deps.sort();
                f.deps.dedup();
                tables.apply(&f.deps, &mut f.project);
            }
            f.project
        })
        .collect()
}

/// Directories whose projects are examples or fixtures, not what the repository builds.
const NOT_ROOT_DIRS: &[&str] = &[
    "example",
    "examples",
    "fixture",
    "fixtures",
    "testdata",
    "test-fixtures",
    "sample",
    "samples",
    "doc",
    "docs",
    "benches",
    "test",
    "tests",
    "third_party",
    "third-party",
    "external",
    "e2e",
    "demo",
    "demos",
];

/// The validation checks: build, then lint, then test commands of the outermost projects
/// that have any (projects under example or fixture directories do not count). In one
/// directory, Make/Just targets only fill what the language tools there do not cover.
pub fn checks(projects: &[Project]) -> Vec<Check> {
    let candidates: Vec<&Project> = projects
        .iter()
        .filter(|p| !p.dir.split('/').any(|c| NOT_ROOT_DIRS.contains(&c)))
        .filter(|p| !p.commands.checks().iter().all(|(_, c)| c.is_none()))
        .collect();
    let key = |p: &Project| if p.dir == "." { String::new() } else { p.dir.clone() };
    let mut dirs: Vec<String> = Vec::new();
    for p in &candidates {
        let dir = key(p);
        if !dirs.iter().any(|d| *d == dir || is_below(&dir, d)) {
            dirs.push(dir);
        }
    }
    let mut out = Vec::new();
    for category in ["build", "lint", "test"] {
        for dir in &dirs {
            let here: Vec<&&Project> = candidates.iter().filter(|p| key(p) == *dir).collect();
            let primary: Vec<&&&Project> = here.iter().filter(|p| !is_task_runner(p)).collect();
            let mut commands: Vec<&String> = primary.iter().filter_map(|p| command(p, category)).collect();
            if commands.is_empty() {
                commands = here.iter().filter_map(|p| command(p, category)).take(1).collect();
            }
            for c in commands {
                let shown_dir = if dir.is_empty() { ".".to_string() } else { dir.clone() };
                let name = if dir.is_empty() { category.to_string() } else { format!("{category} ({dir})") };
                if !out.iter().any(|x: &Check| x.dir == shown_dir && x.command == *c) {
                    out.push(Check { name, dir: shown_dir, command: c.clone() });
                }
            }
        }
    }
    out
}

fn is_task_runner(p: &Project) -> bool {
    matches!(p.tool.as_str(), "make" | "just")
}

fn command<'p>(p: &'p Project, category: &str) -> Option<&'p String> {
    p.commands.checks().into_iter().find(|(c, _)| *c == category).and_then(|(_, cmd)| cmd)
}

/// A dependency name without version, extras or markers, lower-cased
/// (`Django>=4.2 ; python_version>"3"` → `django`).
pub(crate) fn normalize_dep(spec: &str) -> String {
    let end = spec.find(|c: char| " <>=!~;[(@,".contains(c)).unwrap_or(spec.len());
    spec[..end].trim().to_ascii_lowercase().replace('_', "-")
}

/// A file entry as the walk would make it, for the manifest parsers' tests.
#[cfg(test)]
fn test_file(path: &str) -> crate::analyzer::walk::FileEntry {
    crate::analyzer::walk::FileEntry {
        path: path.into(),
        lang: None,
        status: crate::analyzer::walk::Status::Unknown,
        bytes: 0,
        is_test: false,
        scan: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(dir: &str, tool: &str, build: Option<&str>, test: Option<&str>) -> Project {
        Project {
            dir: dir.into(),
            tool: tool.into(),
            manifest: String::new(),
            name: None,
            language: String::new(),
            members: vec![],
            frameworks: vec![],
            test_frameworks: vec![],
            dependencies: Dependencies::default(),
            commands: Commands { build: build.map(Into::into), lint: None, test: test.map(Into::into), format: None },
        }
    }

    fn check(name: &str, dir: &str, command: &str) -> Check {
        Check { name: name.into(), dir: dir.into(), command: command.into() }
    }

    #[test]
    fn checks_come_from_the_outermost_projects_build_first() {
        let projects = vec![
            p("backend", "cargo", Some("cargo build"), Some("cargo test")),
            p("backend/web", "npm", None, Some("npm test")),
            p("examples/demo", "npm", Some("npm run build"), None),
            p("frontend", "pnpm", Some("pnpm build"), Some("pnpm test")),
        ];
        assert_eq!(
            checks(&projects),
            vec![
                check("build (backend)", "backend", "cargo build"),
                check("build (frontend)", "frontend", "pnpm build"),
                check("test (backend)", "backend", "cargo test"),
                check("test (frontend)", "frontend", "pnpm test"),
            ]
        );
    }

    #[test]
    fn make_targets_only_fill_gaps_beside_a_language_tool() {
        let projects =
            vec![p(".", "go", Some("go build ./..."), None), p(".", "make", Some("make build"), Some("make test"))];
        assert_eq!(checks(&projects), vec![check("build", ".", "go build ./..."), check("test", ".", "make test")]);
    }

    #[test]
    fn dependency_names_are_normalized() {
        let names: Vec<_> =
            ["Django>=4.2", "requests[socks] ; python_version>'3'", "typing_extensions", "numpy", "flask (>=2)"]
                .iter()
                .map(|s| normalize_dep(s))
                .collect();
        assert_eq!(names, vec!["django", "requests", "typing-extensions", "numpy", "flask"]);
    }

    #[test]
    fn ancestors_and_nesting() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a/b/c", "a/b", "a", ""]);
        assert!(is_below("a/b", "a") && is_below("a", "") && !is_below("ab", "a") && !is_below("a", "a"));
    }
}
