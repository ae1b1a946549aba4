//! `mmm init`: the files it writes, and that running it again changes nothing.

use crate::common::{Project, json_lines, stdout};

#[test]
fn init_writes_both_files_at_the_repository_root() {
    let p = Project::git();
    std::fs::create_dir_all(p.root.join("src")).unwrap();
    let out = p.mmm().current_dir(p.root.join("src")).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "created   .mmm/config.toml\ncreated   .mmm/.gitignore\n\
         Edit .mmm/config.toml to change a setting; `mmm config show` shows the result.\n"
    );
    assert_eq!(p.read(".mmm/.gitignore"), mmm::state::GITIGNORE);
    let config = p.read(".mmm/config.toml");
    assert!(
        config
            .contains("\n# Review score (0-10) at which `mmm improve` stops, once the checks pass.\n# target = 8.0\n"),
        "{config}"
    );
    assert!(config.contains("\n[validate]\n"), "{config}");
    assert!(!config.contains("api_key ="), "secrets never get a line");
    // git sees config.toml but none of the runtime files (nor the ignore file itself).
    p.write(".mmm/sessions/x/session.json", "{}");
    p.write(".mmm/state.json", "{}");
    let status = p.run_git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "?? .mmm/config.toml\n");
}

#[test]
fn running_init_again_changes_nothing_and_says_so() {
    let p = Project::git();
    p.mmm().arg("init").assert().success();
    p.write(".mmm/config.toml", "target = 9.0\n");
    let out = p.mmm().arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        format!(
            "Nothing changed: {} already has .mmm/config.toml and .mmm/.gitignore (use --force to rewrite them).\n",
            p.root.display()
        )
    );
    assert_eq!(p.read(".mmm/config.toml"), "target = 9.0\n");
}

#[test]
fn init_creates_only_the_missing_file_and_force_rewrites() {
    let p = Project::git();
    p.write(".mmm/config.toml", "target = 9.0\n");
    let out = p.mmm().args(["--output", "json", "init"]).output().unwrap();
    let lines = json_lines(&out);
    assert_eq!(
        lines[0]["files"],
        serde_json::json!([
            {"path": ".mmm/config.toml", "action": "unchanged"},
            {"path": ".mmm/.gitignore", "action": "created"},
        ])
    );
    let out = p.mmm().args(["init", "--force"]).output().unwrap();
    assert!(stdout(&out).starts_with("rewritten .mmm/config.toml\nrewritten .mmm/.gitignore\n"), "{}", stdout(&out));
    assert!(p.read(".mmm/config.toml").starts_with("# mmm settings for this project."));
}

#[test]
fn init_outside_a_repository_works_and_says_git_is_needed_later() {
    let p = Project::new();
    let out = p.mmm().arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).ends_with("note: this directory is not a git repository: run `git init` before `mmm improve`.\n")
    );
    assert!(p.root.join(".mmm/config.toml").is_file());
}
