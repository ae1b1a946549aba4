//! Honest commits: a change declares which of the issues it was given it addresses
//! (`submit_change`), and the commit and the record name only those.

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{
    CHECK, done, events, last_message, mmm_with, project_with_check, replace, review, session,
};
use crate::common::stderr;

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
