//! The shape of a repository from its file list: source and test directories, entry points,
//! configuration, documentation, CI systems and linter/formatter configs. Everything here
//! works on paths the walk produced (secret files never among them); nothing reads a file.

use serde::{Deserialize, Serialize};

use super::lang::Kind;
use super::walk::{FileEntry, Status};

/// Directory names whose files are tests.
const TEST_DIRS: &[&str] = &[
    "test",
    "tests",
    "__tests__",
    "spec",
    "specs",
    "e2e",
    "integration_tests",
    "integration-tests",
    "androidTest",
    "testing",
];

/// Directories of code that supports a project without being it: examples, benchmarks, fuzz
/// targets and build helpers. Their smells and long functions say nothing of the product.
const SUPPORT_DIRS: &[&str] = &["examples", "example", "benches", "bench", "benchmarks", "fuzz", "xtask"];

/// True for support code by its path (see [`SUPPORT_DIRS`]; a Cargo `build.rs` too).
pub fn is_support_path(path: &str) -> bool {
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    name == "build.rs" || dirs.split('/').any(|d| SUPPORT_DIRS.contains(&d))
}

/// True for a test file by its path: inside a test directory, or named like one
/// (`test_x.py`, `x_test.go`, `x.spec.ts`, `XTest.java`, `x_spec.rb`, ...).
pub fn is_test_path(path: &str) -> bool {
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    if dirs.split('/').any(|d| TEST_DIRS.contains(&d)) {
        return true;
    }
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    match ext {
        "py" => stem.starts_with("test_") || stem.ends_with("_test") || stem == "conftest",
        "go" => stem.ends_with("_test"),
        "js" | "jsx" | "ts" | "tsx" | "mjs" | "cjs" | "mts" | "cts" => {
            stem.ends_with(".test") || stem.ends_with(".spec")
        }
        "java" | "kt" | "scala" | "groovy" | "cs" | "swift" | "php" => {
            stem.ends_with("Test") || stem.ends_with("Tests") || stem.ends_with("Spec")
        }
        "rb" => stem.ends_with("_spec") || stem.ends_with("_test"),
        "exs" => stem.ends_with("_test"),
        "c" | "cc" | "cpp" | "cxx" | "rs" => {
            stem.ends_with("_test") || stem.ends_with("_unittest") || stem.starts_with("test_")
        }
        "dart" => stem.ends_with("_test"),
        _ => false,
    }
}

/// A directory and how many code files it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirCount {
    pub path: String,
    pub files: u64,
}

/// Documentation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Docs {
    /// The README at the root, if any.
    pub readme: Option<String>,
    pub readme_lines: u64,
    /// A `docs/` (or `doc/`, `documentation/`) directory at the root.
    pub docs_dir: Option<String>,
    /// Files under the docs directory.
    pub docs_files: u64,
    pub license: bool,
    pub changelog: bool,
    pub contributing: bool,
}

/// The shape of the repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    /// Top-level directories with non-test code, most files first (`.` is the root itself).
    pub source_dirs: Vec<DirCount>,
    /// Test directories (up to the first test-named component), most files first.
    pub test_dirs: Vec<DirCount>,
    /// Test files living beside the code (`x_test.go`, `test_x.py` outside a test directory).
    pub test_files_beside_code: u64,
    /// Files that start a program: `main` functions, `__main__` guards, conventional names.
    pub entry_points: Vec<String>,
    /// Build, container, editor and tool configuration files near the root.
    pub config_files: Vec<String>,
    pub docs: Docs,
    /// CI systems configured.
    pub ci: Vec<String>,
    /// Linters and formatters configured.
    pub linters: Vec<String>,
}

const MAX_LISTED: usize = 20;

/// Conventional entry-point file names (matched on the path's end).
const ENTRY_NAMES: &[&str] = &[
    "src/main.rs",
    "__main__.py",
    "manage.py",
    "wsgi.py",
    "asgi.py",
    "app.py",
    "main.py",
    "main.go",
    "index.js",
    "index.ts",
    "server.js",
    "server.ts",
    "src/main.ts",
    "src/main.tsx",
    "src/main.js",
    "src/index.ts",
    "src/index.tsx",
    "src/index.js",
    "src/index.jsx",
    "src/App.tsx",
    "src/App.jsx",
    "src/App.vue",
    "Program.cs",
    "config.ru",
    "bin/rails",
    "artisan",
    "public/index.php",
    "lib/main.dart",
];

/// CI systems by a path or path prefix.
const CI: &[(&str, &str)] = &[
    (".github/workflows/", "GitHub Actions"),
    (".gitlab-ci.yml", "GitLab CI"),
    (".circleci/", "CircleCI"),
    ("Jenkinsfile", "Jenkins"),
    ("azure-pipelines.yml", "Azure Pipelines"),
    ("azure-pipelines.yaml", "Azure Pipelines"),
    (".azure-pipelines/", "Azure Pipelines"),
    (".travis.yml", "Travis CI"),
    ("bitbucket-pipelines.yml", "Bitbucket Pipelines"),
    (".drone.yml", "Drone"),
    (".buildkite/", "Buildkite"),
    ("appveyor.yml", "AppVeyor"),
    (".appveyor.yml", "AppVeyor"),
    (".woodpecker.yml", "Woodpecker"),
    (".woodpecker/", "Woodpecker"),
    ("cloudbuild.yaml", "Google Cloud Build"),
    (".semaphore/", "Semaphore"),
    ("buildspec.yml", "AWS CodeBuild"),
    (".teamcity/", "TeamCity"),
];

/// Linters and formatters by file name (a trailing `*` matches any suffix).
const LINTERS: &[(&str, &str)] = &[
    ("rustfmt.toml", "rustfmt"),
    (".rustfmt.toml", "rustfmt"),
    ("clippy.toml", "Clippy"),
    (".clippy.toml", "Clippy"),
    (".eslintrc*", "ESLint"),
    ("eslint.config.*", "ESLint"),
    (".prettierrc*", "Prettier"),
    ("prettier.config.*", "Prettier"),
    ("biome.json", "Biome"),
    ("biome.jsonc", "Biome"),
    ("ruff.toml", "Ruff"),
    (".ruff.toml", "Ruff"),
    (".flake8", "Flake8"),
    (".pylintrc", "Pylint"),
    ("pylintrc", "Pylint"),
    ("mypy.ini", "mypy"),
    (".mypy.ini", "mypy"),
    (".isort.cfg", "isort"),
    (".golangci.*", "golangci-lint"),
    (".rubocop.yml", "RuboCop"),
    (".stylelintrc*", "Stylelint"),
    (".clang-format", "clang-format"),
    (".clang-tidy", "clang-tidy"),
    (".swiftlint.yml", "SwiftLint"),
    (".swiftformat", "SwiftFormat"),
    ("phpstan.neon*", "PHPStan"),
    ("psalm.xml", "Psalm"),
    (".php-cs-fixer*", "PHP-CS-Fixer"),
    ("pint.json", "Pint"),
    (".credo.exs", "Credo"),
    (".formatter.exs", "mix format"),
    ("checkstyle.xml", "Checkstyle"),
    (".scalafmt.conf", "scalafmt"),
    ("detekt.yml", "detekt"),
    (".editorconfig", "EditorConfig"),
    (".markdownlint*", "markdownlint"),
    (".shellcheckrc", "ShellCheck"),
    (".hadolint.yaml", "hadolint"),
    (".yamllint*", "yamllint"),
    (".pre-commit-config.yaml", "pre-commit"),
];

/// Configuration files worth knowing about (a trailing `*` matches any suffix).
const CONFIGS: &[&str] = &[
    "tsconfig.json",
    "jsconfig.json",
    "vite.config.*",
    "webpack.config.*",
    "next.config.*",
    "nuxt.config.*",
    "svelte.config.*",
    "astro.config.*",
    "angular.json",
    "babel.config.*",
    ".babelrc",
    "jest.config.*",
    "vitest.config.*",
    "playwright.config.*",
    "cypress.config.*",
    "tailwind.config.*",
    "postcss.config.*",
    "Dockerfile",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yml",
    "compose.yaml",
    "Procfile",
    "rust-toolchain",
    "rust-toolchain.toml",
    ".cargo/config.toml",
    "deny.toml",
    ".nvmrc",
    ".node-version",
    ".python-version",
    ".tool-versions",
    "tox.ini",
    "noxfile.py",
    "pytest.ini",
    "conftest.py",
    "setup.cfg",
    "netlify.toml",
    "vercel.json",
    "fly.toml",
    "renovate.json",
    ".github/dependabot.yml",
    "Vagrantfile",
    "flake.nix",
    "shell.nix",
    "default.nix",
    "mkdocs.yml",
    ".readthedocs.yaml",
    "codecov.yml",
    "sonar-project.properties",
];

fn matches(pattern: &str, name: &str) -> bool {
    if pattern.as_bytes()[0] != name.as_bytes().first().copied().unwrap_or(0) {
        return false;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn is_code(f: &FileEntry) -> bool {
    f.status == Status::Scanned && f.lang.is_some_and(|l| l.def().kind == Kind::Programming) && f.scan.lines.code > 0
}

/// Counts per key, most first then by name, at most `MAX_LISTED`.
fn ranked(mut counts: Vec<DirCount>) -> Vec<DirCount> {
    counts.sort_by(|a, b| b.files.cmp(&a.files).then(a.path.cmp(&b.path)));
    counts.truncate(MAX_LISTED);
    counts
}

fn bump(counts: &mut Vec<DirCount>, path: &str) {
    match counts.iter_mut().find(|c| c.path == path) {
        Some(c) => c.files += 1,
        None => counts.push(DirCount { path: path.to_string(), files: 1 }),
    }
}

/// The structure of the tree from its files (sorted by path).
pub fn analyze(files: &[FileEntry]) -> Structure {
    let mut s = Structure::default();
    let mut sources = Vec::new();
    let mut tests = Vec::new();
    for f in files.iter().filter(|f| is_code(f)) {
        if f.is_test {
            let comps: Vec<&str> = f.path.split('/').collect();
            match comps[..comps.len() - 1].iter().position(|c| TEST_DIRS.contains(c)) {
                Some(i) => bump(&mut tests, &comps[..=i].join("/")),
                None => s.test_files_beside_code += 1,
            }
        } else {
            bump(&mut sources, f.path.split_once('/').map_or(".", |(top, _)| top));
        }
    }
    s.source_dirs = ranked(sources);
    s.test_dirs = ranked(tests);

    let is_entry_name = |f: &FileEntry| {
        let name = f.name();
        ENTRY_NAMES.iter().any(|e| {
            e.len() >= name.len()
                && e.as_bytes()[e.len() - name.len()..] == *name.as_bytes()
                && f.path.ends_with(e)
                && (f.path.len() == e.len() || f.path.as_bytes()[f.path.len() - e.len() - 1] == b'/')
        })
    };
    let mut entries: Vec<&str> = files
        .iter()
        // A Cargo build script has a `main` but is run by the build, not by a user.
        .filter(|f| !f.is_test && f.status == Status::Scanned && f.name() != "build.rs")
        .filter(|f| f.scan.has_main || is_entry_name(f) || (f.path.starts_with("src/bin/") && f.path.ends_with(".rs")))
        .map(|f| &*f.path)
        .collect();
    entries.sort_by_key(|p| (p.matches('/').count(), *p));
    entries.truncate(MAX_LISTED);
    s.entry_points = entries.into_iter().map(String::from).collect();

    for f in files {
        let name = f.name();
        let depth = f.path.bytes().filter(|&b| b == b'/').count();
        if depth > 2 {
            continue;
        }
        for &(prefix, system) in CI {
            let hit = if prefix.ends_with('/') { f.path.starts_with(prefix) } else { *f.path == *prefix };
            if hit && !s.ci.iter().any(|c| c == system) {
                s.ci.push(system.to_string());
            }
        }
        // Every linter and config file name starts with a dot, a lower-case letter or one of
        // D/P/V (Dockerfile, Procfile, Vagrantfile): most source files are ruled out by that.
        if name.starts_with(|c: char| c == '.' || c.is_ascii_lowercase() || "DPV".contains(c)) {
            if let Some(&(_, tool)) = LINTERS.iter().find(|(p, _)| matches(p, name))
                && !s.linters.iter().any(|l| l == tool)
            {
                s.linters.push(tool.to_string());
            }
            if (CONFIGS.iter().any(|p| matches(p, name)) || CONFIGS.contains(&&*f.path))
                && s.config_files.len() < MAX_LISTED
            {
                s.config_files.push(f.path.to_string());
            }
        }
        if depth == 0 {
            let upper = name.to_ascii_uppercase();
            if upper.starts_with("README") && s.docs.readme.is_none() {
                s.docs.readme = Some(name.to_string());
                s.docs.readme_lines = f.scan.lines.total();
            }
            s.docs.license |=
                upper.starts_with("LICENSE") || upper.starts_with("LICENCE") || upper.starts_with("COPYING");
            s.docs.changelog |= ["CHANGELOG", "CHANGES", "HISTORY", "NEWS"].iter().any(|p| upper.starts_with(p));
            s.docs.contributing |= upper.starts_with("CONTRIBUTING");
        }
    }
    for dir in ["docs", "doc", "documentation"] {
        let prefix = format!("{dir}/");
        let start = files.partition_point(|f| *f.path < *prefix);
        let n = files[start..].iter().take_while(|f| f.path.starts_with(&prefix)).count() as u64;
        if n > 0 {
            s.docs.docs_dir = Some(dir.to_string());
            s.docs.docs_files = n;
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_paths_by_directory_and_name() {
        let tests = [
            "tests/it/main.rs",
            "src/__tests__/a.js",
            "pkg/server_test.go",
            "test_app.py",
            "app/foo_test.py",
            "src/Button.test.tsx",
            "src/api.spec.ts",
            "src/test/java/AppTest.java",
            "spec/models/user_spec.rb",
            "Tests/AppTests.swift",
            "conftest.py",
            "test/hello_test.exs",
        ];
        let not_tests =
            ["src/main.rs", "src/testing_utils.py", "src/contest.py", "latest/x.go", "src/attest.ts", "spectrum/a.c"];
        for t in tests {
            assert!(is_test_path(t), "{t}");
        }
        for t in not_tests {
            assert!(!is_test_path(t), "{t}");
        }
    }
}
