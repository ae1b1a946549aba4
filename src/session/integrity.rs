//! Validation integrity: whether a change that passes its checks got there by weakening
//! them.
//!
//! The checks never come from the model, but the model can edit what they run. Before a
//! green change is committed, mmm compares each file it changed with the iteration's start
//! and flags, in words: a test file deleted or emptied, tests removed from a file (fewer
//! `#[test]`, `def test_`, `func Test`, `it(`/`test(` lines than before), skip markers added
//! (`#[ignore]`, `@pytest.mark.skip`, `t.Skip(`, `it.skip(`, ...), and edits to files that
//! define or can define the checks (CI workflows and test-runner configuration, which the
//! `protect` setting refuses by default, and mixed files such as `Makefile`, `package.json`,
//! `pyproject.toml` and `Cargo.toml`, which are only flagged). A flagged change is still
//! committed (it passed mmm's checks), but never silently: the flags go in the iteration
//! record, the output and a `Validation-Integrity:` section of the commit message. Counting
//! lines is a heuristic: it says what changed, never that the change is wrong.

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::git::Git;
use crate::settings::keys::DEFAULT_PROTECT;

/// Files (gitignore syntax) that hold tests.
const TEST_FILES: &[&str] = &[
    "tests/",
    "test/",
    "__tests__/",
    "spec/",
    "test_*.py",
    "*_test.py",
    "*_test.go",
    "*_test.rs",
    "*.test.*",
    "*.spec.*",
    "*_spec.rb",
    "*Test.java",
    "*Tests.java",
    "*Test.kt",
    "*Tests.cs",
];

/// Files that can define the checks among other things: edits are flagged, not refused.
const MIXED_CHECK_FILES: &[&str] = &[
    "Makefile",
    "makefile",
    "GNUmakefile",
    "*.mk",
    "justfile",
    "Justfile",
    "package.json",
    "pyproject.toml",
    "setup.cfg",
    "Cargo.toml",
    ".cargo/config.toml",
    "clippy.toml",
    ".clippy.toml",
    "build.gradle",
    "build.gradle.kts",
    "pom.xml",
    ".eslintrc*",
    "eslint.config.*",
    ".golangci.yml",
    ".golangci.yaml",
    ".flake8",
    "ruff.toml",
    ".ruff.toml",
    "mypy.ini",
    ".rubocop.yml",
    "tsconfig.json",
    ".pre-commit-config.yaml",
];

/// Lines that start a test, by their trimmed beginning.
const TEST_STARTS: &[&str] =
    &["#[test]", "#[tokio::test", "def test_", "async def test_", "func Test", "it(", "test(", "@Test"];

/// Text that skips a test wherever it appears in a line.
const SKIP_MARKERS: &[&str] = &[
    "#[ignore",
    "@pytest.mark.skip",
    "@unittest.skip",
    "pytest.skip(",
    "t.Skip",
    "it.skip(",
    "test.skip(",
    "describe.skip(",
    "xit(",
    "xtest(",
    "xdescribe(",
    "@Disabled",
    "@Ignore",
];

fn matcher(patterns: &[&str]) -> Gitignore {
    let mut builder = GitignoreBuilder::new("");
    for pattern in patterns {
        builder.add_line(None, pattern).expect("mmm's own patterns are valid");
    }
    builder.build().expect("mmm's own patterns are valid")
}

fn matches(matcher: &Gitignore, path: &str) -> bool {
    matcher.matched_path_or_any_parents(Path::new(path), false).is_ignore()
}

/// The flags for the files `paths` (relative to the root) changed since `base`.
pub fn flags(git: &Git, base: &str, paths: &[String]) -> anyhow::Result<Vec<String>> {
    let (tests, defining, mixed) = (matcher(TEST_FILES), matcher(DEFAULT_PROTECT), matcher(MIXED_CHECK_FILES));
    let mut flags = Vec::new();
    for path in paths {
        let before = git.file_at(base, path)?.map(|b| String::from_utf8_lossy(&b).into_owned());
        let after = std::fs::read(git.root().join(path)).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
        if before == after {
            continue;
        }
        let kind = if matches(&defining, path) {
            FileKind::DefinesChecks
        } else if matches(&mixed, path) {
            FileKind::MayDefineChecks
        } else if matches(&tests, path) {
            FileKind::Test
        } else {
            FileKind::Other
        };
        flags.extend(detect(path, kind, before.as_deref(), after.as_deref()));
    }
    Ok(flags)
}

/// What a file is, for [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Only defines how changes are checked (the default `protect` list).
    DefinesChecks,
    /// Can define the checks among other things (`Makefile`, `package.json`, ...).
    MayDefineChecks,
    /// Holds tests.
    Test,
    Other,
}

/// The flags for one changed file, `before` and `after` its change (`None`: absent).
pub fn detect(path: &str, kind: FileKind, before: Option<&str>, after: Option<&str>) -> Vec<String> {
    let blank = |text: Option<&str>| text.is_none_or(|t| t.trim().is_empty());
    match kind {
        FileKind::DefinesChecks => return vec![format!("changed `{path}`, which defines how changes are checked")],
        FileKind::MayDefineChecks => {
            return vec![format!("changed `{path}`, which can define how changes are checked")];
        }
        FileKind::Test if !blank(before) && blank(after) => {
            let what = if after.is_none() { "deleted" } else { "emptied" };
            return vec![format!("{what} the test file `{path}`")];
        }
        _ => {}
    }
    let mut flags = Vec::new();
    let count = |text: Option<&str>, hit: &dyn Fn(&str) -> bool| text.unwrap_or("").lines().filter(|l| hit(l)).count();
    let is_test = |line: &str| TEST_STARTS.iter().any(|start| line.trim_start().starts_with(start));
    let removed = count(before, &is_test).saturating_sub(count(after, &is_test));
    if removed > 0 {
        flags.push(format!("removed {removed} test(s) from `{path}`"));
    }
    let is_skip = |line: &str| SKIP_MARKERS.iter().any(|marker| line.contains(marker));
    let added = count(after, &is_skip).saturating_sub(count(before, &is_skip));
    if added > 0 {
        flags.push(format!("added {added} skip marker(s) to `{path}`"));
    }
    flags
}

/// `message` with a `Validation-Integrity:` section listing `flags`, placed before the
/// `Mmm-Session:` trailer (at the end when there is none); unchanged without flags.
pub fn with_section(message: &str, flags: &[String]) -> String {
    if flags.is_empty() {
        return message.to_string();
    }
    let mut section = String::from("Validation-Integrity:\n");
    for flag in flags {
        section.push_str(&format!("- {flag}\n"));
    }
    match message.rfind("\n\nMmm-Session:") {
        Some(at) => format!("{}\n\n{section}{}", &message[..at], &message[at + 1..]),
        None => format!("{}\n\n{section}", message.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(path: &str) -> FileKind {
        if matches(&matcher(DEFAULT_PROTECT), path) {
            FileKind::DefinesChecks
        } else if matches(&matcher(MIXED_CHECK_FILES), path) {
            FileKind::MayDefineChecks
        } else if matches(&matcher(TEST_FILES), path) {
            FileKind::Test
        } else {
            FileKind::Other
        }
    }

    #[test]
    fn files_are_told_apart_by_their_paths() {
        for (path, kind) in [
            (".github/workflows/ci.yml", FileKind::DefinesChecks),
            ("pytest.ini", FileKind::DefinesChecks),
            ("web/jest.config.js", FileKind::DefinesChecks),
            ("Makefile", FileKind::MayDefineChecks),
            ("web/package.json", FileKind::MayDefineChecks),
            ("Cargo.toml", FileKind::MayDefineChecks),
            ("pyproject.toml", FileKind::MayDefineChecks),
            ("tests/it/main.rs", FileKind::Test),
            ("pkg/parse_test.go", FileKind::Test),
            ("app/test_views.py", FileKind::Test),
            ("src/app.test.ts", FileKind::Test),
            ("spec/models/user_spec.rb", FileKind::Test),
            ("src/main.rs", FileKind::Other),
            ("src/testing.py", FileKind::Other),
            ("docs/.github/workflows/ci.yml", FileKind::Other),
        ] {
            assert_eq!(kind_of(path), kind, "{path}");
        }
    }

    #[test]
    fn deleted_and_emptied_test_files_are_flagged() {
        let t = FileKind::Test;
        assert_eq!(detect("tests/a.sh", t, Some("grep -q x a\n"), None), ["deleted the test file `tests/a.sh`"]);
        assert_eq!(detect("tests/a.sh", t, Some("grep -q x a\n"), Some("\n")), ["emptied the test file `tests/a.sh`"]);
        // A new test file, or one edited, is not a deletion.
        assert_eq!(detect("tests/a.sh", t, None, Some("x\n")), Vec::<String>::new());
        assert_eq!(detect("tests/a.sh", t, Some("x\n"), Some("y\n")), Vec::<String>::new());
    }

    #[test]
    fn removed_tests_are_counted_in_any_language() {
        let rust = "#[test]\nfn a() {}\n\n#[test]\nfn b() {}\n#[tokio::test]\nasync fn c() {}\n";
        assert_eq!(
            detect("src/lib.rs", FileKind::Other, Some(rust), Some("#[test]\nfn a() {}\n")),
            ["removed 2 test(s) from `src/lib.rs`"]
        );
        let python = "def test_a():\n    pass\n\nasync def test_b():\n    pass\n";
        assert_eq!(
            detect("test_x.py", FileKind::Test, Some(python), Some("def test_a():\n    pass\n")),
            ["removed 1 test(s) from `test_x.py`"]
        );
        let go = "func TestA(t *testing.T) {}\nfunc TestB(t *testing.T) {}\n";
        assert_eq!(
            detect("a_test.go", FileKind::Test, Some(go), Some("func TestA(t *testing.T) {}\n")),
            ["removed 1 test(s) from `a_test.go`"]
        );
        let js = "it('adds', () => {});\ntest('subtracts', () => {});\n";
        assert_eq!(
            detect("a.test.js", FileKind::Test, Some(js), Some("it('adds', () => {});\n")),
            ["removed 1 test(s) from `a.test.js`"]
        );
        // Renaming or moving a test is not removing it; adding one is fine.
        assert_eq!(
            detect("src/lib.rs", FileKind::Other, Some("#[test]\nfn a() {}\n"), Some("#[test]\nfn renamed() {}\n")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn added_skip_markers_are_flagged() {
        assert_eq!(
            detect(
                "src/lib.rs",
                FileKind::Other,
                Some("#[test]\nfn a() {}\n"),
                Some("#[test]\n#[ignore]\nfn a() {}\n")
            ),
            ["added 1 skip marker(s) to `src/lib.rs`"]
        );
        assert_eq!(
            detect(
                "test_a.py",
                FileKind::Test,
                Some("def test_a():\n    pass\n"),
                Some("@pytest.mark.skip(reason='flaky')\ndef test_a():\n    pass\n")
            ),
            ["added 1 skip marker(s) to `test_a.py`"]
        );
        assert_eq!(
            detect(
                "a_test.go",
                FileKind::Test,
                Some("func TestA(t *testing.T) {\n}\n"),
                Some("func TestA(t *testing.T) {\n\tt.Skip(\"later\")\n}\n")
            ),
            ["added 1 skip marker(s) to `a_test.go`"]
        );
        assert_eq!(
            detect("a.test.ts", FileKind::Test, Some("it('a', f);\n"), Some("it.skip('a', f);\n")),
            ["removed 1 test(s) from `a.test.ts`", "added 1 skip marker(s) to `a.test.ts`"]
        );
        // An iterator's `.skip(1)` is not a skipped test.
        assert_eq!(
            detect("src/lib.rs", FileKind::Other, Some("a\n"), Some("x.iter().skip(1)\n")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn files_that_define_the_checks_are_flagged_whatever_the_edit() {
        assert_eq!(
            detect(".github/workflows/ci.yml", FileKind::DefinesChecks, Some("a\n"), Some("b\n")),
            ["changed `.github/workflows/ci.yml`, which defines how changes are checked"]
        );
        assert_eq!(
            detect("Makefile", FileKind::MayDefineChecks, Some("test:\n\tcargo test\n"), Some("test:\n\ttrue\n")),
            ["changed `Makefile`, which can define how changes are checked"]
        );
    }

    #[test]
    fn the_section_goes_before_the_trailer() {
        let flags = vec!["emptied the test file `tests/a.sh`".to_string()];
        assert_eq!(
            with_section("mmm: x\n\nIssues addressed:\n- a\n\nMmm-Session: s1\n", &flags),
            "mmm: x\n\nIssues addressed:\n- a\n\nValidation-Integrity:\n- emptied the test file `tests/a.sh`\n\n\
             Mmm-Session: s1\n"
        );
        assert_eq!(
            with_section("mmm: x\n", &flags),
            "mmm: x\n\nValidation-Integrity:\n- emptied the test file `tests/a.sh`\n"
        );
        assert_eq!(with_section("mmm: x\n", &[]), "mmm: x\n");
    }
}
