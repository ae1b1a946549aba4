//! The rules a session runs by hold against what it runs: checks that rewrite git's hooks
//! or mmm's settings fail their iteration and are put back, commits run with the hooks the
//! session started with, a session says when its settings are not the committed ones, and
//! a roll back puts back even files git ignores. The tools refuse submodules.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{
    CHECK, EDITOR, done, issue, last_message, mmm_with, project_with_check, replace, review, session,
};
use crate::common::{Project, stderr};

/// The lines of stderr that are warnings.
fn warnings(out: &std::process::Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("warning:")).map(str::to_string).collect()
}

/// Writes an executable hook that appends `name ran` to `hooks.log` in the work tree.
fn plant_hook(p: &Project, name: &str) {
    let path = p.write(&format!(".git/hooks/{name}"), &format!("#!/bin/sh\necho '{name} ran' >> hooks.log\n"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn checks_that_change_hooks_or_settings_fail_the_iteration_and_are_put_back() {
    // A check that, once the model's change says PLANT, installs a hook and turns mmm's
    // checks off, as a model-written test could.
    let p = project_with_check("sh check.sh");
    p.write(
        "check.sh",
        "if grep -q PLANT src/app.txt; then\n\
         printf '#!/bin/sh\\necho planted >> hooks.log\\n' > .git/hooks/post-commit\n\
         chmod +x .git/hooks/post-commit\n\
         printf '[validate]\\ncommands = [\"true\"]\\n' > .mmm/config.toml\n\
         fi\n\
         ! grep -q BUG src/app.txt\n",
    );
    p.run_git(&["add", "check.sh"]);
    p.run_git(&["commit", "-q", "-m", "check"]);
    let config = p.read(".mmm/config.toml");
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hello PLANT"),
        done("Plant"),
        review(6.0, issue()),
        replace("toolu_2", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s = session(&p);
    let first = &s["iterations"][0];
    assert_eq!((first["outcome"].as_str(), first["commit"].as_str()), (Some("failed"), None));
    assert_eq!(
        first["error"],
        "the checks changed files that set the rules (.git/hooks/post-commit, .mmm/config.toml); mmm put them back"
    );
    assert_eq!(first["validation"][0]["passed"], true, "the checks passed, and that is not enough");
    assert_eq!(s["iterations"][1]["outcome"], "committed");
    assert_eq!(
        warnings(&out),
        ["warning: iteration 1: the checks changed files that set the rules (.git/hooks/post-commit, \
             .mmm/config.toml); mmm put them back and rolls the iteration back"]
    );
    assert!(!p.root.join(".git/hooks/post-commit").exists(), "the planted hook is gone");
    assert!(!p.root.join("hooks.log").exists(), "the planted hook never ran");
    assert_eq!(p.read(".mmm/config.toml"), config);
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
}

#[test]
fn a_baseline_that_changes_the_rules_is_put_back_and_named() {
    let p = project_with_check("sh check.sh");
    p.write("check.sh", "printf '#!/bin/sh\\n' > .git/hooks/post-commit\nchmod +x .git/hooks/post-commit\n");
    p.run_git(&["add", "check.sh"]);
    p.run_git(&["commit", "-q", "-m", "a check that installs a hook"]);
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        warnings(&out),
        ["warning: the baseline checks changed files that set the rules (.git/hooks/post-commit); mmm put them back"]
    );
    assert!(!p.root.join(".git/hooks/post-commit").exists());
}

#[test]
fn a_commit_runs_with_the_hooks_the_session_started_with() {
    let p = project_with_check(CHECK);
    p.write(".gitignore", ".env\nhooks.log\n");
    p.run_git(&["commit", "-q", "-am", "ignore the hook log"]);
    plant_hook(&p, "post-commit");
    // While the model edits, a hook appears that would reject every commit and another
    // that would run after it (as a process a check left behind could install them).
    let root = p.root.clone();
    let replies =
        [review(6.0, issue()), replace("toolu_1", "hello", "hi"), done("Shorten the greeting"), review(9.0, json!([]))];
    let served = Arc::new(AtomicUsize::new(0));
    let server = FakeApi::respond(move |_| {
        let i = served.fetch_add(1, Ordering::SeqCst);
        if i == 1 {
            for (name, body) in [("pre-commit", "exit 1"), ("post-merge", "echo planted >> hooks.log")] {
                let path = root.join(".git/hooks").join(name);
                std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        replies[i.min(replies.len() - 1)].clone()
    });
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s = session(&p);
    assert_eq!(s["iterations"][0]["outcome"], "committed", "the planted pre-commit hook did not run");
    assert_eq!(s["iterations"][0]["commit"].as_str().unwrap(), p.run_git(&["rev-parse", "HEAD"]).trim());
    assert_eq!(p.read("hooks.log"), "post-commit ran\n", "the hook the session started with did run");
    assert_eq!(
        warnings(&out),
        ["warning: the git hooks changed since the session started (.git/hooks/post-merge, \
             .git/hooks/pre-commit); mmm commits with the hooks it started with"]
    );
}

#[test]
fn a_session_says_when_its_settings_are_not_the_committed_ones() {
    let p = project_with_check(CHECK);
    p.write(".mmm/config.toml", "[validate]\ncommands = [\"true\"]\n");
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        warnings(&out),
        ["warning: .mmm/config.toml differs from the committed version: this session runs with the uncommitted \
             settings"]
    );

    let p = project_with_check(CHECK);
    p.run_git(&["rm", "-q", "--cached", ".mmm/config.toml"]);
    p.run_git(&["commit", "-q", "-m", "untrack the settings"]);
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        warnings(&out),
        ["warning: .mmm/config.toml is not committed: this session runs with settings git has no record of"]
    );

    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!((out.status.code(), warnings(&out)), (Some(0), vec![]), "committed settings: nothing to say");
}

#[test]
fn a_roll_back_puts_back_ignored_files_the_model_edited_or_created() {
    // The check fails once the model's local settings say DEBUG = True.
    let p = project_with_check("! grep -q True local_settings.py");
    p.write(".gitignore", ".env\nlocal_settings.py\nbuild/\n");
    p.run_git(&["commit", "-q", "-am", "ignore local files"]);
    p.write("local_settings.py", "DEBUG = False\n");
    p.write("build/old.o", "object\n");
    let both = Msg::new()
        .tool_use(
            "toolu_1",
            EDITOR,
            json!({"command": "str_replace", "path": "local_settings.py", "old_str": "False", "new_str": "True"}),
        )
        .tool_use("toolu_2", EDITOR, json!({"command": "create", "path": "build/gen/gen.py", "file_text": "x = 1\n"}))
        .tool_use(
            "toolu_3",
            EDITOR,
            json!({"command": "str_replace", "path": "src/app.txt", "old_str": "hello", "new_str": "hi"}),
        );
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&both), done("Try"), done("Still trying")]);
    let out = mmm_with(&p, &server, "improve").args(["--max-iterations", "1", "-c", "fix_rounds=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let it = &session(&p)["iterations"][0];
    assert_eq!(it["outcome"], "rolled_back");
    assert_eq!(
        it["error"],
        "checks still failing after 1 fix round(s): `! grep -q True local_settings.py` failed (exit 1)"
    );
    assert_eq!(p.read("local_settings.py"), "DEBUG = False\n", "the ignored file is put back");
    assert!(!p.root.join("build/gen").exists(), "the file made in an ignored directory is gone, with its directory");
    assert_eq!(p.read("build/old.o"), "object\n", "what was there stays");
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert_eq!(
        p.run_git(&["status", "--porcelain", "--ignored", "--", ".", ":!.mmm"]),
        "!! build/\n!! local_settings.py\n"
    );
}

#[test]
fn a_resumed_session_puts_back_ignored_files_an_iteration_cut_off_by_a_crash_wrote() {
    let p = project_with_check(CHECK);
    p.write(".gitignore", ".env\nlocal_settings.py\nbuild/\n");
    p.run_git(&["commit", "-q", "-am", "ignore local files"]);
    p.write("local_settings.py", "DEBUG = False\n");
    let calls = Msg::new()
        .tool_use(
            "toolu_1",
            EDITOR,
            json!({"command": "str_replace", "path": "local_settings.py", "old_str": "False", "new_str": "True"}),
        )
        .tool_use("toolu_2", EDITOR, json!({"command": "create", "path": "build/gen.py", "file_text": "x = 1\n"}))
        .tool_use(
            "toolu_3",
            EDITOR,
            json!({"command": "str_replace", "path": "src/app.txt", "old_str": "hello", "new_str": "hi"}),
        );
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&calls)]);
    // Killed right after the journal records the third edit: session_started, baseline,
    // usage, review, usage, then the three tool events.
    let out = mmm_with(&p, &server, "improve")
        .args(["--max-iterations", "1"])
        .env("MMM_DEBUG_ABORT_AFTER_EVENT", "8")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    assert_eq!(p.read("local_settings.py"), "DEBUG = True\n");
    assert_eq!(p.read("build/gen.py"), "x = 1\n");

    let server = FakeApi::with([]);
    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(session(&p)["iterations"][0]["outcome"], "crashed");
    assert_eq!(p.read("local_settings.py"), "DEBUG = False\n");
    assert!(!p.root.join("build").exists());
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert_eq!(p.run_git(&["status", "--porcelain", "--ignored", "--", ".", ":!.mmm"]), "!! local_settings.py\n");
}

#[test]
fn edits_inside_a_submodule_are_refused_with_an_error_the_model_reads() {
    let p = project_with_check(CHECK);
    // A repository of its own, recorded in the project as a submodule (a gitlink).
    let lib = Project::git();
    lib.write("lib.txt", "library\n");
    lib.run_git(&["add", "-A"]);
    lib.run_git(&["commit", "-q", "-m", "library"]);
    let status = std::process::Command::new("git")
        .args(["-c", "protocol.file.allow=always", "submodule", "--quiet", "add"])
        .arg(&lib.root)
        .arg("vendor/lib")
        .current_dir(&p.root)
        .status()
        .unwrap();
    assert!(status.success());
    p.run_git(&["commit", "-q", "-m", "add a submodule"]);
    let calls = Msg::new()
        .tool_use(
            "t1",
            EDITOR,
            json!({"command": "str_replace", "path": "vendor/lib/lib.txt", "old_str": "library", "new_str": "changed"}),
        )
        .tool_use("t2", EDITOR, json!({"command": "create", "path": "vendor/lib/new.txt", "file_text": "new\n"}));
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&calls), done("Gave up")]);
    let out = mmm_with(&p, &server, "improve").args(["--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let refusal = |path: &str| {
        format!(
            "Error: Permission denied. `{path}` is inside `vendor/lib`, a git submodule or nested repository, which \
             the tools cannot edit; a change there belongs to that repository."
        )
    };
    let results = &last_message(&server, 2)["content"];
    assert_eq!(
        *results,
        json!([
            {"type": "tool_result", "tool_use_id": "t1", "content": refusal("vendor/lib/lib.txt"), "is_error": true},
            {"type": "tool_result", "tool_use_id": "t2", "content": refusal("vendor/lib/new.txt"), "is_error": true,
             "cache_control": {"type": "ephemeral"}},
        ])
    );
    assert_eq!(session(&p)["iterations"][0]["outcome"], "no_change");
    assert_eq!(p.read("vendor/lib/lib.txt"), "library\n");
    assert!(!p.root.join("vendor/lib/new.txt").exists());
}
