//! The prompt cache and the context, end to end: a session's reviews and editing
//! conversations start with the same stable prefix (tools, system prompt, project summary
//! and repo map), byte for byte, carrying its breakpoint; a result the model no longer needs
//! (a view of a file edited since) is replaced by a stub saying how to get it again; a view
//! of unchanged lines points at the earlier one; checks that outlive the cache have it
//! refreshed, paid for and counted, unless `cache_refresh = false`.

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{
    CHECK, EDITOR, done, edit, events, issue, mmm_with, project_with_check, replace, review, session,
};
use crate::common::{Project, stderr, stdout};

/// A project whose repo map is long enough to be cached (over 1,024 tokens with the tools
/// and system prompt), with a 400-line file to view.
fn project() -> Project {
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n"));
    for i in 0..40 {
        let functions: String = (0..5)
            .map(|j| format!("pub fn compute_value_{i}_{j}(input: u32) -> u32 {{\n    input + {j}\n}}\n\n"))
            .collect();
        p.write(&format!("src/part{i}.rs"), &functions);
    }
    let big: String = (1..=400).map(|n| format!("const LINE_{n}: u32 = {n}; // a long line\n")).collect();
    p.write("src/big.rs", &big);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "a project with a map"]);
    p
}

/// Paths of the `cache_control` marks in a request body.
fn marks(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "cache_control" {
                    out.push(path.to_string());
                } else {
                    marks(child, &format!("{path}/{k}"), out);
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, c)| marks(c, &format!("{path}/{i}"), out)),
        _ => {}
    }
}

fn marked(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    marks(body, "", &mut out);
    out.sort();
    out
}

/// `v` without its `cache_control` marks.
fn unmarked(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| *k != "cache_control").map(|(k, c)| (k.clone(), unmarked(c))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unmarked).collect()),
        other => other.clone(),
    }
}

/// The stable prefix of a request: tools, system prompt and the first message's first block.
fn stable(body: &Value) -> String {
    format!("{}{}{}", body["tools"], body["system"], body["messages"][0]["content"][0])
}

fn result_text(body: &Value, message: usize) -> Value {
    body["messages"][message]["content"][0]["content"].clone()
}

#[test]
fn reviews_and_edits_share_a_byte_identical_marked_prefix_and_superseded_results_are_stubbed() {
    let p = project();
    let server = FakeApi::with([
        // Iteration 1: view 400 lines of src/big.rs, edit it, done.
        review(6.0, issue()),
        edit("toolu_v", json!({"command": "view", "path": "src/big.rs", "view_range": [1, 400]})),
        edit(
            "toolu_e",
            json!({"command": "str_replace", "path": "src/big.rs", "old_str": "LINE_3: u32 = 3;", "new_str": "LINE_3: u32 = 30;"}),
        ),
        done("Change line 3"),
        // Iteration 2: view src/app.txt twice, edit it, done.
        review(6.0, issue()),
        edit("toolu_a", json!({"command": "view", "path": "src/app.txt"})),
        edit("toolu_b", json!({"command": "view", "path": "src/app.txt"})),
        replace("toolu_c", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.run_git(&["rev-list", "--count", "HEAD"]).trim(), "4", "two iterations committed");
    let bodies: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len(), 10);

    // Every review: the same tools, system prompt and project block, marked once at its end.
    let reviews = [&bodies[0], &bodies[4], &bodies[9]];
    for body in reviews {
        assert_eq!(stable(body), stable(reviews[0]));
        assert_eq!(marked(body), ["/messages/0/content/0"]);
        assert_eq!(body["messages"][0]["content"][0]["cache_control"], json!({"type": "ephemeral"}));
        assert!(body["messages"][0]["content"][0]["text"].as_str().unwrap().starts_with("# Project\n\n"));
    }
    assert_ne!(bodies[0]["messages"][0]["content"][1], bodies[4]["messages"][0]["content"][1], "history grew");

    // Both editing conversations start with the same marked prefix.
    assert_eq!(stable(&bodies[1]), stable(&bodies[5]));
    assert_eq!(marked(&bodies[1]), ["/messages/0/content/0", "/messages/0/content/1"]);

    // The view of src/big.rs is whole in the turn after it, a stub once the file was edited.
    let viewed = result_text(&bodies[2], 2);
    assert!(viewed.as_str().unwrap().starts_with("1: const LINE_1: u32 = 1; // a long line\n2: "), "{viewed}");
    assert_eq!(
        result_text(&bodies[3], 2),
        "[Removed by mmm to save context: this result showed lines 1-400 of `src/big.rs` (turn 1); the file was \
         edited or viewed again at turn 2. View it again if you need it.]"
    );
    // Everything before the stub is byte-identical (marks aside: they are not part of the
    // prefix); the stable prefix keeps its mark, and the first message's end, written by the
    // first request, is marked again to be read.
    let head = |b: &Value| unmarked(&json!([b["messages"][0], b["messages"][1]]));
    assert_eq!(head(&bodies[3]), head(&bodies[2]));
    let expected = ["/messages/0/content/0", "/messages/0/content/1", "/messages/2/content/0", "/messages/4/content/0"];
    assert_eq!(marked(&bodies[3]), expected);

    // A second view of the same unchanged lines points at the first.
    assert_eq!(result_text(&bodies[6], 2), "1: greeting = hello");
    assert_eq!(
        result_text(&bodies[7], 4),
        "Lines 1-1 of `src/app.txt` are unchanged since your last view (turn 1); that result is still above in \
         this conversation."
    );
    assert_eq!(bodies[7]["messages"][3]["content"][0]["name"], EDITOR);
}

/// The scripted replies in order, while a request with `max_tokens: 1` (a cache refresh,
/// however many the timing makes) gets a one-token answer.
fn refreshing_model(replies: Vec<Reply>) -> FakeApi {
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(replies));
    FakeApi::respond(move |request| {
        if request.json()["max_tokens"] == 1 {
            let usage = json!({"input_tokens": 3, "cache_read_input_tokens": 1500, "output_tokens": 1});
            return Reply::stream(&Msg::new().text("O").stop_reason("max_tokens").usage(usage));
        }
        queue.lock().unwrap().pop_front().expect("a scripted reply for every request but the refreshes")
    })
}

/// `p` with a check that takes 2 s and a prompt cache said to live 1 s.
fn slow(p: Project, extra_config: &str) -> Project {
    let check = "sleep 2; ! grep -q BUG src/app.txt";
    p.write(".mmm/config.toml", &format!("cache_ttl = \"1s\"\n{extra_config}[validate]\ncommands = [{check:?}]\n"));
    p.run_git(&["commit", "-qam", "a slow check and a short cache life"]);
    p
}

/// A tiny project (no prefix long enough to cache but the editing conversation's), slow.
fn slow_project(extra_config: &str) -> Project {
    slow(project_with_check(CHECK), extra_config)
}

/// One committed iteration (the greeting shortened) on a slow project, then the target.
fn shorten_slowly(p: &Project) -> (FakeApi, std::process::Output) {
    let server = refreshing_model(vec![
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (server, out)
}

#[test]
fn checks_longer_than_the_cache_lives_refresh_it_and_the_refresh_is_paid_and_counted() {
    let p = slow_project("");
    let (server, out) = shorten_slowly(&p);

    let bodies: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    let refreshes: Vec<&Value> = bodies.iter().filter(|b| b["max_tokens"] == 1).collect();
    assert!(!refreshes.is_empty(), "a 2 s check outlives a 1 s cache: at least one refresh");
    // Each refresh is the editing conversation's last request, cut after its last user
    // message (here: nothing to cut), marks and all, asking for one token.
    let last_edit = &bodies[2];
    for refresh in &refreshes {
        let mut expected = last_edit.clone();
        expected["max_tokens"] = json!(1);
        assert_eq!(**refresh, expected);
    }
    // Paid and counted: in the session's requests and usage, as events, in the summary.
    let n = refreshes.len() as u64;
    let s = session(&p);
    assert_eq!((s["requests"].as_u64(), s["cache_refreshes"].as_u64()), (Some(bodies.len() as u64), Some(n)));
    assert_eq!(s["usage"]["cache_read_input_tokens"].as_u64(), Some(1500 * n));
    let journaled = events(&p);
    let refreshed: Vec<&Value> = journaled.iter().filter(|e| e["type"] == "cache_refresh").collect();
    assert_eq!(refreshed.len() as u64, n);
    assert_eq!(
        (
            refreshed[0]["iteration"].clone(),
            refreshed[0]["conversation"].clone(),
            refreshed[0]["cache_read_input_tokens"].clone()
        ),
        (json!(1), json!("implement-1"), json!(1500))
    );
    // claude-sonnet-5 at $2 / $10 per million: 3 + 1500 × 0.1 input, 1 output.
    assert_eq!(refreshed[0]["cost_usd"], json!((3.0 * 2.0 + 150.0 * 2.0 + 10.0) / 1e6));
    let summary = journaled.iter().find(|e| e["type"] == "summary").unwrap();
    assert_eq!(summary["cache_refreshes"].as_u64(), Some(n));
    let text = stdout(&out);
    assert!(text.contains("   refreshed the prompt cache during the checks: 1.5k tokens read, $0.00\n"), "{text}");
    assert!(
        text.contains(&format!("% of input read from cache ({n} of them cache refreshes during long checks)\n")),
        "{text}"
    );
}

#[test]
fn cache_refresh_false_never_refreshes() {
    let p = slow_project("cache_refresh = false\n");
    let (server, _) = shorten_slowly(&p);
    assert_eq!(server.requests().len(), 4, "no request besides the scripted ones");
    assert_eq!(session(&p).get("cache_refreshes"), None);
    assert!(events(&p).iter().all(|e| e["type"] != "cache_refresh"));
}

#[test]
fn the_next_reviews_stable_prefix_is_kept_warm_during_the_checks_too() {
    let p = slow(project(), "");
    let (server, _) = shorten_slowly(&p);
    let bodies: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    let (reviews, edits): (Vec<&Value>, Vec<&Value>) =
        bodies.iter().filter(|b| b["max_tokens"] == 1).partition(|b| b["tools"][0]["name"] == "submit_review");
    assert!(!reviews.is_empty() && !edits.is_empty(), "both prefixes refreshed: {} and {}", reviews.len(), edits.len());
    // The review's refresh: its tools, system prompt and marked project block, nothing after.
    let mut expected = bodies[0].clone();
    expected["messages"] = json!([{"role": "user", "content": [bodies[0]["messages"][0]["content"][0]]}]);
    expected["max_tokens"] = json!(1);
    for refresh in &reviews {
        assert_eq!(**refresh, expected);
    }
    assert_eq!(stable(reviews[0]), stable(&bodies[0]), "the prefix the next review reads");
    let labels: std::collections::BTreeSet<String> = events(&p)
        .iter()
        .filter(|e| e["type"] == "cache_refresh")
        .map(|e| e["conversation"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["implement-1", "review-1"]);
}

#[test]
fn the_editing_request_carries_the_map_ranked_toward_the_issues_and_the_review_keeps_the_plain_one() {
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n"));
    p.write("src/a.rs", "pub fn alpha_handler() {\n    shared_state();\n}\n");
    p.write("src/b.rs", "pub fn beta_handler() {\n    shared_state();\n}\n");
    p.write("src/c.rs", "pub fn shared_state() {}\n");
    p.write("src/d.rs", "pub fn delta_helper() {\n    beta_handler();\n}\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "four files"]);
    let server = FakeApi::with([
        review(6.0, json!([{"severity": "high", "file": "src/d.rs", "description": "`delta_helper` hides errors"}])),
        done("Nothing to change"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    // The scripted edit changes nothing: a session that kept no change ends with 4.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let bodies: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    let plain = "# Repository map\n\nsrc/c.rs (1 line, 2 refs)\n  fn shared_state:1\nsrc/b.rs (3 lines, 1 ref)\n  \
                 fn beta_handler:1\nsrc/a.rs (3 lines)\n  fn alpha_handler:1\nsrc/d.rs (3 lines)\n  fn delta_helper:1\n";
    for body in [&bodies[0], &bodies[1]] {
        let context = body["messages"][0]["content"][0]["text"].as_str().unwrap();
        assert_eq!(
            &context[context.find("# Repository map").unwrap()..],
            plain,
            "the stable block keeps the plain map"
        );
    }
    assert_eq!(
        bodies[1]["messages"][0]["content"][1]["text"],
        "Fix these issues from the latest review, worst first:\n\n1. [high] src/d.rs: `delta_helper` hides errors\n\n\
         The reviewer's summary: A tiny project.\n\n# The code these issues touch, most related first\n\n\
         src/d.rs (3 lines)\n  fn delta_helper:1\nsrc/b.rs (3 lines, 1 ref)\n  fn beta_handler:1\n\
         src/c.rs (1 line, 2 refs)\n  fn shared_state:1\nsrc/a.rs (3 lines)\n  fn alpha_handler:1\n"
    );
}

#[test]
fn map_budgets_of_zero_leave_both_maps_out() {
    let p = Project::git();
    p.write(
        ".mmm/config.toml",
        &format!("repo_map_tokens = 0\nrelated_map_tokens = 0\n[validate]\ncommands = [{CHECK:?}]\n"),
    );
    p.write("src/c.rs", "pub fn shared_state() {}\n");
    p.write("src/d.rs", "pub fn delta_helper() {\n    shared_state();\n}\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "two files"]);
    let server = FakeApi::with([
        review(6.0, json!([{"severity": "high", "file": "src/d.rs", "description": "`delta_helper` hides errors"}])),
        done("Nothing to change"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let bodies: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    for body in [&bodies[0], &bodies[1]] {
        let context = body["messages"][0]["content"][0]["text"].as_str().unwrap();
        assert!(context.starts_with("# Project\n\n"), "{context}");
        assert_eq!(context.find("# Repository map"), None, "{context}");
    }
    assert_eq!(
        bodies[1]["messages"][0]["content"][1]["text"],
        "Fix these issues from the latest review, worst first:\n\n1. [high] src/d.rs: `delta_helper` hides errors\n\n\
         The reviewer's summary: A tiny project.\n"
    );
}
