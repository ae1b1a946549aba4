//! The documentation stays true: every setting is documented with its default.

use mmm::settings::{KEYS, Value};

#[test]
fn every_key_is_documented_with_its_default() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    for key in KEYS {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", key.name)))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{}`", key.name));
        let default = match Value::from(key.default) {
            Value::Unset => "unset".to_string(),
            Value::List(items) if items.is_empty() => "[]".to_string(),
            value => value.to_toml(),
        };
        assert!(row.contains(&format!("`{default}`")), "the row for `{}` lacks its default {default}: {row}", key.name);
        assert!(
            row.contains(key.doc.split(" (").next().unwrap().trim_end_matches('.')),
            "the row for `{}` lacks its doc",
            key.name
        );
    }
}

#[test]
fn every_builtin_secret_pattern_is_documented() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    for pattern in mmm::settings::keys::BUILTIN_SECRET_FILES {
        assert!(docs.contains(&format!("`{pattern}`")), "{pattern} is not in docs/configuration.md");
    }
}

#[test]
fn the_shipped_specs_are_valid_and_ordered() {
    for dir in ["specs", "examples/wordfreq-specs"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let specs = mmm::spec::load_dir(&dir).unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
        assert!(!specs.is_empty(), "{} has no specs", dir.display());
        assert_eq!(mmm::spec::order(&specs).unwrap().len(), specs.len());
        for spec in &specs {
            assert!(spec.criteria.len() >= 3, "{} needs real acceptance criteria", spec.path.display());
            assert!(spec.criteria.iter().all(|c| !c.done), "{} is not done yet", spec.path.display());
        }
    }
}

#[test]
fn the_exit_codes_read_the_same_in_the_readme_the_ci_guide_and_help() {
    let table = mmm::Exit::markdown_table();
    for doc in ["README.md", "docs/ci.md"] {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
        let section = &text[text.find("## Exit codes").unwrap_or_else(|| panic!("{doc} has no exit codes"))..];
        let start = section.find("| code |").unwrap();
        let rows: String =
            section[start..].lines().take_while(|l| l.starts_with('|')).map(|l| format!("{l}\n")).collect();
        assert_eq!(rows, table, "{doc}");
    }
    let help = crate::common::stdout(&crate::common::Project::new().mmm().arg("--help").output().unwrap());
    assert!(help.ends_with(&format!("{}\n", mmm::Exit::help_text())), "{help}");
}

#[test]
fn the_example_workflow_works_when_copied_into_another_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let workflow = std::fs::read_to_string(root.join("examples/github/improve.yml")).unwrap();
    let uses: Vec<&str> =
        workflow.lines().filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: ")).collect();
    // `./` would be the copying repository's own root, which has no action.yml.
    let repo = env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/");
    assert_eq!(uses, vec!["actions/checkout@v4".to_string(), format!("{repo}@main")]);
}

#[test]
fn the_examples_readme_names_its_branch_whatever_gits_default() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("examples/README.md")).unwrap();
    let init = readme.lines().find(|l| l.starts_with("git init")).expect("a git init line");
    assert!(readme.contains("git log --stat main.."), "{readme}");
    for default_branch in ["main", "master", "trunk"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lib.rs"), "").unwrap();
        let git_env = [
            ("GIT_CONFIG_COUNT", "1"),
            ("GIT_CONFIG_KEY_0", "init.defaultBranch"),
            ("GIT_CONFIG_VALUE_0", default_branch),
            ("GIT_AUTHOR_NAME", "mmm tests"),
            ("GIT_AUTHOR_EMAIL", "tests@mmm.invalid"),
            ("GIT_COMMITTER_NAME", "mmm tests"),
            ("GIT_COMMITTER_EMAIL", "tests@mmm.invalid"),
        ];
        let run = |script: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", script])
                .current_dir(dir.path())
                .envs(git_env)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            assert!(out.status.success(), "{script} ({default_branch}): {}", String::from_utf8_lossy(&out.stderr));
        };
        run(init);
        run("git log --stat main..");
    }
}
