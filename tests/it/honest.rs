//! Honest commits: a change declares which of the issues it was given it addresses
//! (`submit_change`), and the commit and the record name only those; a change that passes
//! by weakening the checks (a test deleted, a check definition edited) is flagged in the
//! record, the output and the commit, and the files that only define the checks are
//! refused at the tool (`protect`).

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{
    CHECK, done, edit, events, issue, last_message, mmm_with, project_with_check, replace, review, session,
};
use crate::common::{Project, stderr, stdout};

fn two_issues() -> serde_json::Value {
    json!([
        {"severity": "high", "file": "src/app.txt", "description": "the greeting is curt"},
        {"severity": "low", "file": "src/app.txt", "description": "the greeting is long-winded"}
    ])
}

fn submit(id: &str, input: serde_json::Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(id, "submit_change", input))
}

#[test]
fn the_commit_lists_only_the_issues_the_change_declared_and_a_bad_declaration_is_read_by_the_model() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([
        review(6.0, two_issues()),
        replace("toolu_1", "hello", "hi"),
        submit("toolu_bad", json!({"summary": "Shorten the greeting", "addressed": [7]})),
        submit("toolu_good", json!({"summary": "Shorten the greeting", "addressed": [2]})),
        done("Shorten the greeting\n\nThe greeting is now one word."),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let first = server.request(1).json();
    let tools: Vec<&str> = first["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["str_replace_based_edit_tool", "search", "submit_change"]);
    // The whole message that carries each result back (the cache breakpoint sits on the last block).
    assert_eq!(
        last_message(&server, 3),
        json!({"role": "user", "content": [{
            "type": "tool_result",
            "tool_use_id": "toolu_bad",
            "content": "Error: `addressed` names 7, which is not an issue you were given (the issues are numbered 1 to 2).",
            "is_error": true,
            "cache_control": {"type": "ephemeral"}
        }]})
    );
    assert_eq!(
        last_message(&server, 4),
        json!({"role": "user", "content": [{
            "type": "tool_result",
            "tool_use_id": "toolu_good",
            "content": "Recorded: \"Shorten the greeting\", addressing issue(s) 2. If the change is complete, stop calling \
                        tools and reply with the summary and a short explanation.",
            "cache_control": {"type": "ephemeral"}
        }]})
    );

    let s = session(&p);
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        p.run_git(&["log", "-1", "--format=%B"]),
        format!(
            "mmm: Shorten the greeting\n\nThe greeting is now one word.\n\n\
             Issues addressed:\n- [low] src/app.txt: the greeting is long-winded\n\nMmm-Session: {id}\n\n"
        )
    );
    let it = &s["iterations"][0];
    assert_eq!(it["addressed"], json!([2]));
    assert_eq!(it["issues"], two_issues());
    assert_eq!(it["summary"], "Shorten the greeting");
    let journaled = events(&p);
    let iteration = journaled.iter().find(|e| e["type"] == "iteration").unwrap();
    assert_eq!(iteration["addressed"], json!([2]));
    let calls: Vec<(&str, bool)> = journaled
        .iter()
        .filter(|e| e["type"] == "tool")
        .map(|e| (e["tool"].as_str().unwrap(), e["is_error"].as_bool().unwrap()))
        .collect();
    assert_eq!(calls, [("str_replace_based_edit_tool", false), ("submit_change", true), ("submit_change", false)]);
}

#[test]
fn a_model_that_fixes_a_failing_test_by_emptying_it_is_flagged_never_silently_green() {
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    p.write("tests/check.sh", "grep -q 'greeting = hi' src/app.txt\n");
    p.write(".mmm/config.toml", "[validate]\ncommands = [\"sh tests/check.sh\"]\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "a project whose test fails"]);
    let server = FakeApi::with([
        review(3.0, issue()),
        edit("toolu_1", json!({"command": "create", "path": "tests/check.sh", "file_text": ""})),
        done("Make the checks pass\n\nThe check was in the way."),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s = session(&p);
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        p.run_git(&["log", "-1", "--format=%B"]),
        format!(
            "mmm: Make the checks pass\n\nThe check was in the way.\n\n\
             Issues given (the change did not say which it addresses):\n- [high] src/app.txt: the greeting is curt\n\n\
             Validation-Integrity:\n- emptied the test file `tests/check.sh`\n\nMmm-Session: {id}\n\n"
        )
    );
    let it = &s["iterations"][0];
    assert_eq!((it["outcome"].as_str(), it["validation"][0]["passed"].as_bool()), (Some("committed"), Some(true)));
    assert_eq!(it["integrity"], json!(["emptied the test file `tests/check.sh`"]));
    let journaled = events(&p);
    let summary = journaled.iter().find(|e| e["type"] == "summary").unwrap();
    assert_eq!(summary["integrity"], json!(["#1: emptied the test file `tests/check.sh`"]));

    let text = stdout(&out);
    let line = text.lines().position(|l| l.starts_with("#1 committed")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        text.lines().nth(line + 1),
        Some("   ! validation integrity: emptied the test file `tests/check.sh`"),
        "{text}"
    );
    assert!(text.contains("\n  integrity   #1: emptied the test file `tests/check.sh`\n"), "{text}");
}

/// The sample project with a CI workflow, committed; `config` replaces `.mmm/config.toml`.
fn project_with_workflow(config: &str) -> Project {
    let p = project_with_check(CHECK);
    p.write(".github/workflows/ci.yml", "jobs:\n  test:\n    steps:\n      - run: make test\n");
    p.write(".mmm/config.toml", config);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "a workflow"]);
    p
}

fn edit_workflow() -> Reply {
    edit(
        "toolu_ci",
        json!({"command": "str_replace", "path": ".github/workflows/ci.yml", "old_str": "make test", "new_str": "true"}),
    )
}

#[test]
fn a_workflow_is_protected_by_default_and_protect_empty_allows_it_flagged() {
    let config = format!("[validate]\ncommands = [{CHECK:?}]\n");
    let p = project_with_workflow(&config);
    let server = FakeApi::with([review(5.0, issue()), edit_workflow(), done("Gave up")]);
    let out = mmm_with(&p, &server, "improve").args(["--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(
        last_message(&server, 2),
        json!({"role": "user", "content": [{
            "type": "tool_result",
            "tool_use_id": "toolu_ci",
            "content": "Error: Permission denied. `.github/workflows/ci.yml` defines how changes are checked \
                        (protected by the `protect` setting) and cannot be edited.",
            "is_error": true,
            "cache_control": {"type": "ephemeral"}
        }]})
    );
    assert_eq!(p.read(".github/workflows/ci.yml"), "jobs:\n  test:\n    steps:\n      - run: make test\n");
    assert_eq!(session(&p)["iterations"][0]["outcome"], "no_change");

    let p = project_with_workflow(&format!("protect = []\n{config}"));
    let server =
        FakeApi::with([review(5.0, issue()), edit_workflow(), done("Simplify the CI step"), review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read(".github/workflows/ci.yml"), "jobs:\n  test:\n    steps:\n      - run: true\n");
    let it = &session(&p)["iterations"][0];
    assert_eq!(it["outcome"], "committed");
    assert_eq!(it["integrity"], json!(["changed `.github/workflows/ci.yml`, which defines how changes are checked"]));
    assert!(
        p.run_git(&["log", "-1", "--format=%B"]).contains(
            "\n\nValidation-Integrity:\n- changed `.github/workflows/ci.yml`, which defines how changes are checked\n\nMmm-Session: "
        )
    );
}
