//! Cargo packages and workspaces (`Cargo.toml`).

use anyhow::Context;

use super::{Commands, Family, Found, FrameworkTables, Tree, project};
use crate::analyzer::walk::Manifest;

static TABLES: FrameworkTables = FrameworkTables {
    frameworks: &[
        ("actix-web", "Actix"),
        ("axum", "Axum"),
        ("rocket", "Rocket"),
        ("tauri", "Tauri"),
        ("leptos", "Leptos"),
        ("yew", "Yew"),
        ("warp", "Warp"),
        ("poem", "Poem"),
        ("dioxus", "Dioxus"),
        ("bevy", "Bevy"),
        ("tokio", "Tokio"),
        ("clap", "clap"),
    ],
    test_frameworks: &[("proptest", "proptest"), ("rstest", "rstest"), ("insta", "insta"), ("criterion", "Criterion")],
};

pub(super) fn detect(m: &Manifest, _tree: Tree<'_>) -> anyhow::Result<Found> {
    let doc: toml::Table = toml::from_str(&m.text).context("invalid TOML")?;
    let dir = m.dir();
    let mut p = project(dir, "cargo", m, "Rust");
    p.name = doc.get("package").and_then(|t| t.get("name")).and_then(|n| n.as_str()).map(String::from);
    let workspace = doc.contains_key("workspace");
    let mut deps = Vec::new();
    let mut count = |table: Option<&toml::Value>, dev: bool, deps: &mut Vec<String>| {
        if let Some(t) = table.and_then(|t| t.as_table()) {
            deps.extend(t.keys().cloned());
            let n = t.len() as u32;
            if dev { p.dependencies.dev += n } else { p.dependencies.runtime += n }
        }
    };
    count(doc.get("dependencies"), false, &mut deps);
    count(doc.get("dev-dependencies"), true, &mut deps);
    count(doc.get("build-dependencies"), true, &mut deps);
    if let Some(targets) = doc.get("target").and_then(|t| t.as_table()) {
        for target in targets.values() {
            count(target.get("dependencies"), false, &mut deps);
            count(target.get("dev-dependencies"), true, &mut deps);
        }
    }
    if !doc.contains_key("package") {
        // A virtual workspace: its shared dependency table is what members use.
        count(doc.get("workspace").and_then(|w| w.get("dependencies")), false, &mut deps);
    }
    let all = if workspace { " --workspace" } else { "" };
    p.test_frameworks.push("cargo test".into());
    p.commands = Commands {
        build: Some(format!("cargo build{all} --all-targets")),
        lint: Some(format!("cargo clippy{all} --all-targets -- -D warnings")),
        test: Some(format!("cargo test{all}")),
        format: Some("cargo fmt --all".into()),
    };
    Ok(Found { project: p, family: Family::Cargo, workspace, deps, tables: Some(&TABLES) })
}

#[cfg(test)]
mod tests {
    use super::super::{Dependencies, Project, detect as detect_all};
    use crate::analyzer::walk::Manifest;

    fn manifest(path: &str, text: &str) -> Manifest {
        Manifest { path: path.into(), text: text.into() }
    }

    #[test]
    fn a_package_with_frameworks_and_dev_dependencies() {
        let m = manifest(
            "Cargo.toml",
            "[package]\nname = \"web\"\n[dependencies]\naxum = \"0.7\"\ntokio = { version = \"1\" }\n[dev-dependencies]\ninsta = \"1\"\n",
        );
        let (projects, warnings) = detect_all(&[m], &[]);
        assert!(warnings.is_empty());
        assert_eq!(
            projects,
            vec![Project {
                dir: ".".into(),
                tool: "cargo".into(),
                manifest: "Cargo.toml".into(),
                name: Some("web".into()),
                language: "Rust".into(),
                members: vec![],
                frameworks: vec!["Axum".into(), "Tokio".into()],
                test_frameworks: vec!["cargo test".into(), "insta".into()],
                dependencies: Dependencies { runtime: 2, dev: 1 },
                commands: super::Commands {
                    build: Some("cargo build --all-targets".into()),
                    lint: Some("cargo clippy --all-targets -- -D warnings".into()),
                    test: Some("cargo test".into()),
                    format: Some("cargo fmt --all".into()),
                },
            }]
        );
    }

    #[test]
    fn workspace_members_fold_into_the_workspace() {
        let ms = [
            manifest("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n[workspace.dependencies]\nserde = \"1\"\n"),
            manifest("crates/api/Cargo.toml", "[package]\nname = \"api\"\n[dependencies]\nactix-web = \"4\"\n"),
            manifest("crates/core/Cargo.toml", "[package]\nname = \"core\"\n"),
        ];
        let (projects, _) = detect_all(&ms, &[]);
        assert_eq!(projects.len(), 1);
        let p = &projects[0];
        assert_eq!(p.members, vec!["crates/api", "crates/core"]);
        assert_eq!(p.frameworks, vec!["Actix"]);
        assert_eq!(p.dependencies, Dependencies { runtime: 2, dev: 0 });
        assert_eq!(p.commands.test.as_deref(), Some("cargo test --workspace"));
        assert_eq!(p.commands.lint.as_deref(), Some("cargo clippy --workspace --all-targets -- -D warnings"));
    }

    #[test]
    fn invalid_toml_is_a_warning() {
        let (projects, warnings) = detect_all(&[manifest("x/Cargo.toml", "[package\n")], &[]);
        assert!(projects.is_empty());
        assert_eq!(warnings, vec!["x/Cargo.toml: invalid TOML"]);
    }
}
