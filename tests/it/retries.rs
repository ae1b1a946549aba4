//! Smart retries end to end against the fake Anthropic server: a storm of 529s moves the
//! session to `fallback_model`; failed iterations on one issue narrow the next to it and then
//! move on; `escalate_model` edits exactly the retried iteration. Each switch is an event, in
//! `session.json` and in the summary.

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Reply};
use crate::common::script::{CHECK, done, events, mmm_with, project_with_check, replace, review, session};
use crate::common::{Project, json_lines, stderr, stdout};

const MODEL: &str = "claude-sonnet-5";

fn overloaded() -> Reply {
    Reply::error(529, "overloaded_error", "Overloaded").header("retry-after-ms", "1")
}

/// The `model` of every recorded Messages request, in order.
fn models(server: &FakeApi) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.path() == "/v1/messages")
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect()
}

/// The iteration's part of the first message of Messages request `i` (its second block:
/// the first is the project's stable context).
fn iteration_text(server: &FakeApi, i: usize) -> String {
    let messages = server.requests().into_iter().filter(|r| r.path() == "/v1/messages").nth(i).unwrap().json();
    messages["messages"][0]["content"][1]["text"].as_str().unwrap().to_string()
}

/// The `# Focus` section of a review request's text.
fn focus(review_text: &str) -> String {
    let rest = review_text.strip_prefix("# Focus\n\n").expect("a review starts with its focus");
    rest.split("\n\n# Checks").next().unwrap().to_string()
}

fn switches(lines: &[Value]) -> Vec<Value> {
    lines.iter().filter(|l| l["type"] == "switch").cloned().collect()
}

fn issue(description: &str) -> Value {
    json!({"severity": "high", "file": "src/app.txt", "description": description})
}

#[test]
fn a_storm_of_overload_errors_moves_the_session_to_the_fallback_model() {
    let run = |output: &[&str]| {
        let p = project_with_check(CHECK);
        let server = FakeApi::with([
            overloaded(),
            overloaded(),
            review(6.0, json!([issue("the greeting is curt")])),
            replace("toolu_1", "hello", "hello, and welcome"),
            done("Make the greeting friendlier"),
            review(9.0, json!([])),
        ]);
        let out = mmm_with(&p, &server, "improve")
            .args(["-c", "fallback_model=claude-haiku-4-5", "-c", "max_retries=1"])
            .args(output)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (p, server, out)
    };
    let (p, server, out) = run(&["--output", "json"]);
    // The review gave up on the session's model after its one retry and was sent again on
    // the fallback; everything after went there too.
    let haiku = "claude-haiku-4-5";
    assert_eq!(models(&server), [MODEL, MODEL, haiku, haiku, haiku, haiku]);
    let switch = json!({"kind": "model", "iteration": 1, "from": MODEL, "to": haiku, "reason": "overloaded"});
    let lines = json_lines(&out);
    let mut event = switch.clone();
    event["type"] = json!("switch");
    event["session"] = session(&p)["id"].clone();
    assert_eq!(switches(&lines), [event]);
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["switches"], json!([switch.clone()]));
    assert_eq!(session(&p)["switches"], json!([switch]));
    assert_eq!(session(&p)["iterations"][0]["outcome"], "committed");
    // Priced per model: two failed requests cost nothing, four answered at haiku's price
    // (10 input and 5 output tokens each at $1 and $5 per million).
    let costs: Vec<f64> =
        events(&p).iter().filter(|e| e["type"] == "usage").map(|e| e["cost_usd"].as_f64().unwrap()).collect();
    assert_eq!(costs.len(), 4);
    for cost in &costs {
        assert!((cost - 0.000035).abs() < 1e-12, "{costs:?}");
    }
    assert!((summary["cost_usd"].as_f64().unwrap() - 0.00014).abs() < 1e-12, "{summary}");

    // People see it where it happened and in the summary.
    let (_p, _server, out) = run(&[]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"   switched: model claude-sonnet-5 → claude-haiku-4-5 (the API was overloaded)"),
        "{text}"
    );
    assert!(
        lines.contains(&"  switched    #1: model claude-sonnet-5 → claude-haiku-4-5 (the API was overloaded)"),
        "{text}"
    );
}

#[test]
fn without_a_fallback_model_an_overload_storm_ends_the_session_as_before() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([overloaded(), overloaded()]);
    let out = mmm_with(&p, &server, "improve").args(["-c", "max_retries=1", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(models(&server), [MODEL, MODEL]);
    assert_eq!(switches(&json_lines(&out)), Vec::<Value>::new());
    assert_eq!(session(&p).get("switches"), None);
}

#[test]
fn an_unknown_or_unpriced_fallback_model_is_refused_before_anything_changes() {
    let p = project_with_check(CHECK);
    let server = FakeApi::start();
    let out = mmm_with(&p, &server, "improve")
        .args(["-c", "fallback_model=my-local-model", "--budget-usd", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: budget_usd is set, but mmm does not know the price of `my-local-model`, so it cannot keep to the budget\n\
         hint: give its price in .mmm/config.toml, in USD per million tokens: `[prices.\"my-local-model\"]` with \
         `input_per_mtok = ...` and `output_per_mtok = ...`\n"
    );
    assert_eq!(server.requests().len(), 0);
    assert_eq!(p.run_git(&["branch", "--show-current"]), "main\n");
}

#[test]
fn two_failures_on_one_issue_narrow_the_next_iteration_to_it_then_the_session_moves_on() {
    let p = project_with_check(CHECK);
    let curt = issue("the greeting is curt");
    let long = issue("the greeting is too long");
    let server = FakeApi::with([
        // 1 and 2: the same issue, broken each time (the check fails, no fix rounds).
        review(6.0, json!([curt.clone()])),
        replace("toolu_1", "hello", "BUG"),
        done("Try one"),
        review(6.0, json!([curt.clone()])),
        replace("toolu_2", "hello", "BUG"),
        done("Try two"),
        // 3: narrowed to it; fails again.
        review(6.0, json!([curt.clone(), long.clone()])),
        replace("toolu_3", "hello", "BUG"),
        done("Try three"),
        // 4: set aside; the next issue is worked on and kept.
        review(6.0, json!([curt.clone(), long.clone()])),
        replace("toolu_4", "hello", "hi"),
        done("Shorten the greeting"),
    ]);
    let out = mmm_with(&p, &server, "improve")
        .args(["-c", "fix_rounds=0", "-c", "max_stalled=5", "--max-iterations", "4", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = session(&p);
    let outcomes: Vec<&str> =
        s["iterations"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["rolled_back", "rolled_back", "rolled_back", "committed"]);
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");

    // Iteration 3 (requests 6 and 7): the review and the edit name only that issue and file.
    assert_eq!(
        focus(&iteration_text(&server, 6)),
        "Only this issue in `src/app.txt`, which failed 2 times: [high] src/app.txt: the greeting is curt. \
         Score the repository as usual."
    );
    assert_eq!(
        iteration_text(&server, 7),
        "Earlier iterations failed 2 times on this issue. Work on it alone this time, in a smaller, careful step:\n\n\
         1. [high] src/app.txt: the greeting is curt\n\nChange only `src/app.txt`.\n"
    );
    assert_eq!(s["iterations"][2]["issues"], json!([curt.clone()]));
    // Iteration 4 (requests 9 and 10): the reviewer hears it was set aside, the edit gets
    // only the next issue.
    assert_eq!(
        focus(&iteration_text(&server, 9)),
        "Set aside after failed attempts (mmm will not try them again this session):\n\
         - [high] src/app.txt: the greeting is curt"
    );
    assert_eq!(
        iteration_text(&server, 10),
        "Fix these issues from the latest review, worst first:\n\n\
         1. [high] src/app.txt: the greeting is too long\n\nThe reviewer's summary: A tiny project.\n"
    );
    assert_eq!(s["iterations"][3]["issues"], json!([long]));

    let narrowed = json!({"kind": "focus", "iteration": 3, "action": "narrowed", "issue": curt.clone(), "failures": 2});
    let moved_on = json!({"kind": "focus", "iteration": 4, "action": "moved_on", "issue": curt, "failures": 3});
    assert_eq!(s["switches"], json!([narrowed.clone(), moved_on.clone()]));
    let lines = json_lines(&out);
    let summary = lines.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(summary["switches"], json!([narrowed, moved_on]));
    assert_eq!(switches(&lines).len(), 2);
}

#[test]
fn when_every_issue_is_set_aside_the_session_stops_instead_of_trying_again() {
    let p = project_with_check(CHECK);
    let curt = issue("the greeting is curt");
    let mut replies = Vec::new();
    for (i, name) in ["a", "b"].iter().enumerate() {
        replies.extend([
            review(6.0, json!([curt.clone()])),
            replace(&format!("toolu_{i}"), "hello", "BUG"),
            done(name),
        ]);
    }
    replies.push(review(6.0, json!([curt.clone()])));
    let server = FakeApi::with(replies);
    let out = mmm_with(&p, &server, "improve")
        .args(["-c", "fix_rounds=0", "-c", "max_stalled=5", "-c", "narrow_after=1", "--output", "json"])
        .output()
        .unwrap();
    // Nothing was kept: exit 4 as for any session that kept nothing.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let s = session(&p);
    assert_eq!(s["stop_reason"], json!({"kind": "set_aside", "score": 6.0, "issues": 1}));
    assert_eq!(s["iterations"].as_array().unwrap().len(), 2);
    let stopped = json_lines(&out).into_iter().find(|l| l["type"] == "stopped").unwrap();
    assert_eq!(stopped["message"], "every issue the review found (1) was set aside after failed attempts (score 6.0)");
}

#[test]
fn escalation_edits_exactly_the_retried_iteration_with_the_stronger_model() {
    let p = project_with_check(CHECK);
    let curt = issue("the greeting is curt");
    let server = FakeApi::with([
        review(6.0, json!([curt.clone()])),
        replace("toolu_1", "hello", "BUG"),
        done("Break it"),
        review(6.0, json!([curt.clone()])),
        replace("toolu_2", "hello", "hello, and welcome"),
        done("Welcome the reader"),
        review(7.0, json!([issue("the greeting is too long")])),
        replace("toolu_3", "hello, and welcome", "welcome"),
        done("Shorten it"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve")
        .args(["-c", "escalate_model=claude-opus-5", "-c", "fix_rounds=0", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let opus = "claude-opus-5";
    assert_eq!(models(&server), [MODEL, MODEL, MODEL, MODEL, opus, opus, MODEL, MODEL, MODEL, MODEL]);
    let escalated = json!({"kind": "model", "iteration": 2, "from": MODEL, "to": opus, "reason": "escalated"});
    let ended = json!({"kind": "model", "iteration": 3, "from": opus, "to": MODEL, "reason": "escalation_ended"});
    assert_eq!(session(&p)["switches"], json!([escalated.clone(), ended.clone()]));
    let lines = json_lines(&out);
    assert_eq!(lines.iter().find(|l| l["type"] == "summary").unwrap()["switches"], json!([escalated, ended]));
    // The escalated iteration is priced at opus ($5 and $25 per million): two responses of
    // 10 input and 5 output tokens.
    let it2 = &session(&p)["iterations"][1];
    let review_cost = 10.0 * 2e-6 + 5.0 * 10e-6;
    let expected = review_cost + 2.0 * (10.0 * 5e-6 + 5.0 * 25e-6);
    assert!((it2["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12, "{it2}");
}

#[test]
fn the_retry_settings_are_checked_like_any_other() {
    let p = Project::git();
    let project = p.write(".mmm/config.toml", "fallback_model = \"claude-haiku-45\"\nnarrow_after = 0\n");
    let out = p.mmm().args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        format!(
            "project file {path}: 2 errors\n  \
             error: {path}:1: unknown model `claude-haiku-45`\n  \
             hint: did you mean `claude-haiku-4-5`? `mmm models` lists the models your key can use\n  \
             error: {path}:2: `narrow_after` must be a whole number of at least 1, found 0\n\
             environment: ok\nflags: ok\n",
            path = project.display()
        )
    );
}
