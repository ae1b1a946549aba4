//! Task runners: Make (`Makefile`) and Just (`justfile`). Their targets become commands only
//! when they exist: `make test` needs a `test` target.

use super::{Commands, Family, Found, project};
use crate::analyzer::walk::Manifest;

/// Target names defined in a Makefile (`name:` at the start of a line, not `name :=`).
fn make_targets(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some((head, rest)) = line.split_once(':') else { continue };
        if rest.starts_with('=') || head.contains('=') || head.contains('$') || head.contains('%') {
            continue;
        }
        out.extend(head.split_whitespace());
    }
    out
}

/// Recipe names in a justfile (`name args:` at the start of a line).
fn just_recipes(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.strip_prefix('@').unwrap_or(line);
        if !line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        let Some((head, rest)) = line.split_once(':') else { continue };
        if rest.starts_with('=') || head.contains('=') || head.starts_with("set ") || head.starts_with("export ") {
            continue;
        }
        if let Some(name) = head.split_whitespace().next() {
            out.push(name);
        }
    }
    out
}

/// Commands from target names: the first name present for each category.
fn commands(runner: &str, targets: &[&str]) -> Commands {
    let pick = |names: &[&str]| names.iter().find(|n| targets.contains(n)).map(|n| format!("{runner} {n}"));
    Commands {
        build: pick(&["build", "all"]),
        lint: pick(&["lint"]),
        test: pick(&["test", "tests", "check"]),
        format: pick(&["fmt", "format"]),
    }
}

/// A Makefile with at least one known target. GNUmakefile wins over Makefile in a directory,
/// as it does for make.
pub(super) fn make(m: &Manifest, manifests: &[Manifest]) -> Option<Found> {
    if m.name() != "GNUmakefile" && manifests.iter().any(|o| o.dir() == m.dir() && o.name() == "GNUmakefile") {
        return None;
    }
    found(m, "make", commands("make", &make_targets(&m.text)))
}

pub(super) fn just(m: &Manifest) -> Option<Found> {
    found(m, "just", commands("just", &just_recipes(&m.text)))
}

fn found(m: &Manifest, tool: &str, commands: Commands) -> Option<Found> {
    if commands.is_empty() {
        return None;
    }
    let mut p = project(m.dir(), tool, m, if tool == "make" { "Makefile" } else { "Just" });
    p.commands = commands;
    Some(Found { project: p, family: Family::Tasks, workspace: false, deps: Vec::new(), tables: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makefile_targets() {
        let text = "CC := gcc\nVERSION = 1\n.PHONY: all test\nall: app\n\t$(CC) -o app main.c\napp lib: main.o\ntest: all\n\t./run-tests\n%.o: %.c\n\t$(CC) -c $<\nfmt:\n";
        assert_eq!(make_targets(text), vec!["all", "app", "lib", "test", "fmt"]);
        assert_eq!(
            commands("make", &make_targets(text)),
            Commands {
                build: Some("make all".into()),
                lint: None,
                test: Some("make test".into()),
                format: Some("make fmt".into())
            }
        );
    }

    #[test]
    fn justfile_recipes() {
        let text = "set shell := [\"bash\", \"-c\"]\nversion := \"1\"\n\n# build it\nbuild:\n    cargo build\n@lint *args:\n    cargo clippy {{args}}\ntest: build\n    cargo test\n";
        assert_eq!(just_recipes(text), vec!["build", "lint", "test"]);
    }

    #[test]
    fn a_makefile_without_known_targets_is_no_project() {
        let m = Manifest { path: "docs/Makefile".into(), text: "help:\n\t@sphinx-build -M help\n".into() };
        assert!(make(&m, &[]).is_none());
    }
}
