//! `mmm improve` end to end: the real binary in a temporary repository against the fake
//! Anthropic server. The project's "check" passes unless `src/app.txt` contains `BUG`, so
//! the scripted model can break and fix it with the editor tool.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::{
    CHECK, EDITOR, done, events, issue, last_message, mmm_with, project_with_check, replace, review, session,
    session_dir, shorten_then_target, state,
};
use crate::common::{Project, json_lines, stderr, stdout};

/// A repository whose check passes, with `.mmm/config.toml` naming the check.
fn project() -> Project {
    project_with_check(CHECK)
}

fn improve(p: &Project, server: &FakeApi) -> assert_cmd::Command {
    mmm_with(p, server, "improve")
}

#[test]
fn a_good_change_is_committed_and_recorded_then_the_target_stops_the_session() {
    let p = project();
    let start = p.run_git(&["rev-parse", "HEAD"]);
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hello, and welcome"),
        done("Make the greeting friendlier\n\nThe greeting now welcomes the reader."),
        review(9.0, json!([])),
    ]);
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(p.read("src/app.txt"), "greeting = hello, and welcome\n");
    let branch = p.run_git(&["branch", "--show-current"]);
    assert!(branch.starts_with("mmm/improve-"), "{branch}");
    assert_eq!(p.run_git(&["rev-parse", "main"]), start, "the user's branch never moves");
    let s = session(&p);
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        p.run_git(&["log", "-1", "--format=%B"]),
        format!(
            "mmm: Make the greeting friendlier\n\nThe greeting now welcomes the reader.\n\n\
             Issues given (the change did not say which it addresses):\n\
             - [high] src/app.txt: the greeting is curt\n\nMmm-Session: {id}\n\n"
        )
    );
    assert_eq!(p.run_git(&["status", "--porcelain"]), "", "nothing left uncommitted");

    let it = &s["iterations"][0];
    assert_eq!(s["iterations"].as_array().unwrap().len(), 1);
    assert_eq!(it["outcome"], "committed");
    assert_eq!((it["score_before"].as_f64(), it["score_after"].as_f64()), (Some(6.0), Some(9.0)));
    assert_eq!(it["commit"].as_str().unwrap(), p.run_git(&["rev-parse", "HEAD"]).trim());
    assert_eq!(it["files_changed"], json!([{"path": "src/app.txt", "added": 1, "removed": 1}]));
    assert_eq!(it["validation"][0]["command"], CHECK);
    assert_eq!(
        (it["validation"][0]["exit_code"].as_i64(), it["validation"][0]["passed"].as_bool()),
        (Some(0), Some(true))
    );
    assert_eq!((it["fix_rounds"].as_u64(), it["requests"].as_u64()), (Some(0), Some(3)));
    assert_eq!(
        it["usage"],
        json!({"input_tokens": 30, "output_tokens": 15, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    );
    assert_eq!(it["issues"], issue());
    assert_eq!(s["stop_reason"], json!({"kind": "target_reached", "score": 9.0, "target": 8.0}));
    assert_eq!((s["status"].as_str(), s["requests"].as_u64()), (Some("completed"), Some(4)));
    assert_eq!(s["baseline"][0]["passed"], true);

    let state: Value = serde_json::from_str(&p.read(".mmm/state.json")).unwrap();
    assert_eq!(state, json!({"version": 2, "last_session": id, "current_score": 9.0}));
    let status = &json_lines(&p.mmm().args(["status", "--output", "json"]).output().unwrap())[0];
    assert_eq!(
        status["totals"],
        json!({"sessions": 1, "iterations": 1, "commits": 1, "cost_usd": 0.00028,
               "usage": {"input_tokens": 40, "output_tokens": 20, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0}})
    );

    let types: Vec<String> = events(&p).iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        types,
        [
            "session_started",
            "baseline",
            "usage",
            "review",
            "usage",
            "tool",
            "usage",
            "validation",
            "iteration",
            "usage",
            "review",
            "stopped",
            "summary"
        ]
    );
    let transcript = std::fs::read_to_string(session_dir(&p).join("transcript.jsonl")).unwrap();
    assert_eq!(transcript.lines().count(), 8, "4 requests and 4 responses");
    assert!(!transcript.contains(TEST_KEY));

    let text = stdout(&out);
    assert!(
        text.contains("#1 review: score 6.0 — 1 issue(s), worst: [high] src/app.txt: the greeting is curt"),
        "{text}"
    );
    assert!(
        text.contains("Session ") && text.contains("target reached: score 9.0 ≥ 8.0 with the checks passing"),
        "{text}"
    );
    assert!(text.contains("  score       6.0 → 9.0\n"), "{text}");
}

#[test]
fn a_broken_build_is_fed_back_and_fixed() {
    let p = project();
    let server = FakeApi::with([
        review(5.0, issue()),
        replace("toolu_1", "hello", "hello BUG"),
        done("Change the greeting"),
        replace("toolu_2", "BUG", "friend"),
        done("Greet the friend"),
        review(8.5, json!([])),
    ]);
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fix = last_message(&server, 3);
    assert_eq!(fix["role"], "user");
    let text = fix["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("The checks failed after your change (fix round 1 of 3)."), "{text}");
    assert!(text.contains(&format!("- `{CHECK}` FAILED (exit 1)")), "{text}");
    let it = &session(&p)["iterations"][0];
    assert_eq!((it["outcome"].as_str(), it["fix_rounds"].as_u64()), (Some("committed"), Some(1)));
    assert_eq!(it["summary"], "Greet the friend");
    assert_eq!(p.read("src/app.txt"), "greeting = hello friend\n");
}

#[test]
fn a_change_never_fixed_is_rolled_back_to_the_exact_start() {
    let p = project();
    p.write("notes.txt", "the user's untracked notes\n");
    let before = p.run_git(&["rev-parse", "HEAD"]);
    let both = Msg::new()
        .tool_use("toolu_1", EDITOR, json!({"command": "create", "path": "src/new/extra.txt", "file_text": "new\n"}))
        .tool_use(
            "toolu_2",
            EDITOR,
            json!({"command": "str_replace", "path": "src/app.txt", "old_str": "hello", "new_str": "BUG"}),
        );
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&both), done("Try"), done("Still trying")]);
    let out =
        improve(&p, &server).args(["--max-iterations", "1", "-c", "fix_rounds=1", "--allow-dirty"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert!(!p.root.join("src/new").exists(), "created files and directories are gone");
    assert_eq!(p.read("notes.txt"), "the user's untracked notes\n", "the user's files are kept");
    let s = session(&p);
    let it = &s["iterations"][0];
    assert_eq!((it["outcome"].as_str(), it["commit"].as_str()), (Some("rolled_back"), None));
    assert_eq!(it["error"], format!("checks still failing after 1 fix round(s): `{CHECK}` failed (exit 1)"));
    assert_eq!(s["stop_reason"], json!({"kind": "iteration_limit", "iterations": 1}));
    assert_eq!(s["status"], "nothing_kept", "a session that kept nothing does not read as completed");
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        stderr(&out).lines().rev().take(2).collect::<Vec<_>>(),
        [
            format!("hint: `mmm history {id}` shows what was tried and why it was not kept").as_str(),
            "error: the session kept no change: 1 iteration(s), none committed"
        ]
    );
    // Only the --allow-dirty snapshot was committed on top of the start.
    assert_eq!(p.run_git(&["rev-parse", "HEAD~1"]), before);
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
}

#[test]
fn a_model_that_changes_nothing_ends_with_no_change() {
    let p = project();
    let server = FakeApi::with([review(5.0, issue()), done("Nothing needs changing")]);
    let out = improve(&p, &server).args(["--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(session(&p)["iterations"][0]["outcome"], "no_change");
    assert!(stdout(&out).contains("#1 no change   score 5.0  0 file(s) +0 -0"), "{}", stdout(&out));
}

#[test]
fn a_review_at_the_target_stops_before_any_edit() {
    let p = project();
    let server = FakeApi::with([review(8.0, issue())]);
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = session(&p);
    assert_eq!(s["iterations"], json!([]));
    assert_eq!(s["stop_reason"]["kind"], "target_reached");
    assert_eq!(s["scores"], json!([8.0]), "the score that stopped the session is recorded");
    let state: Value = serde_json::from_str(&p.read(".mmm/state.json")).unwrap();
    assert_eq!(state["current_score"], 8.0);

    let p = project();
    let server = FakeApi::with([review(6.0, json!([]))]);
    improve(&p, &server).assert().success();
    assert_eq!(session(&p)["stop_reason"], json!({"kind": "no_issues", "score": 6.0}));
}

#[test]
fn the_budget_stops_the_session() {
    let p = project();
    let costly = Msg::new()
        .tool_use("toolu_review", "submit_review", json!({"score": 5, "summary": "s", "issues": issue()}))
        .usage(json!({"input_tokens": 100_000, "output_tokens": 1_000}));
    let server = FakeApi::with([Reply::stream(&costly)]);
    let out = improve(&p, &server).args(["--budget-usd", "0.1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let s = session(&p);
    // $2 per million input and $10 per million output tokens for claude-sonnet-5.
    assert_eq!(s["stop_reason"], json!({"kind": "budget", "spent_usd": 0.21, "budget_usd": 0.1}));
    assert_eq!(s["cost_usd"], 0.21);
    assert_eq!(s["iterations"][0]["outcome"], "no_change");
}

#[test]
fn paths_outside_the_repository_and_secrets_are_refused() {
    let p = project();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim.txt"), "outside\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), p.root.join("escape")).unwrap();
    p.run_git(&["add", "escape"]);
    p.run_git(&["commit", "-q", "-m", "a link out of the repository"]);
    p.write(".env", "API_TOKEN=hunter2-very-secret\n");
    let calls = Msg::new()
        .tool_use("t1", EDITOR, json!({"command": "view", "path": "../outside.txt"}))
        .tool_use("t2", EDITOR, json!({"command": "create", "path": outside.path().join("x.txt"), "file_text": "x"}))
        .tool_use("t3", EDITOR, json!({"command": "str_replace", "path": "escape/victim.txt", "old_str": "outside", "new_str": "owned"}))
        .tool_use("t4", EDITOR, json!({"command": "create", "path": ".git/config", "file_text": "[core]\n"}))
        .tool_use("t5", EDITOR, json!({"command": "view", "path": ".env"}))
        .tool_use("t6", "search", json!({"pattern": "API_TOKEN"}))
        .tool_use("t7", EDITOR, json!({"command": "create", "path": ".mmm/config.toml", "file_text": "[validate]\ncommands = [\"true\"]\n"}));
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&calls), done("Gave up")]);
    let out = improve(&p, &server).args(["--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let results = &last_message(&server, 2)["content"];
    let errors: Vec<(bool, &str)> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["is_error"].as_bool().unwrap_or(false), r["content"].as_str().unwrap_or("")))
        .collect();
    for (i, (is_error, _)) in errors.iter().enumerate().take(5) {
        assert!(is_error, "call t{} should be refused: {errors:?}", i + 1);
    }
    assert_eq!(errors[5], (false, "No matches found for `API_TOKEN`."), "search never looks in a secret file");
    assert!(errors[6].0, "the model cannot rewrite mmm's own settings: {errors:?}");
    assert_eq!(std::fs::read_to_string(outside.path().join("victim.txt")).unwrap(), "outside\n");
    assert!(!outside.path().join("x.txt").exists());
    assert!(p.read(".mmm/config.toml").contains(CHECK));
    for request in server.requests() {
        let body = String::from_utf8_lossy(&request.body).to_string();
        assert!(!body.contains("very-secret"), "the secret reached the model");
        assert!(!body.contains(TEST_KEY), "the key reached a request body");
    }
}

#[test]
fn requests_place_cache_breakpoints_and_keep_thinking_blocks() {
    let p = project();
    let thinking = Msg::new().thinking("Let me look at the file first.", "sig-Zm9vYmFy==").tool_use(
        "toolu_1",
        EDITOR,
        json!({"command": "view", "path": "src/app.txt"}),
    );
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&thinking), done("Looked")]);
    improve(&p, &server).args(["--max-iterations", "1"]).assert().code(4);
    let second = server.request(2).json();
    let assistant = &second["messages"][1];
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking", "thinking": "Let me look at the file first.", "signature": "sig-Zm9vYmFy=="})
    );
    // Cache-first: no mark where the prefix is under claude-sonnet-5's 1,024 tokens (the tools,
    // the system prompt and this tiny project's stable block); the whole conversation so far
    // is over it, so the latest user turn is written for the next turn to read.
    let tools = second["tools"].as_array().unwrap();
    assert_eq!(tools.last().unwrap().get("cache_control"), None);
    assert_eq!(second["system"].as_array().unwrap().last().unwrap().get("cache_control"), None);
    assert_eq!(second["messages"][0]["content"][0].get("cache_control"), None);
    let last_user = second["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last_user["content"].as_array().unwrap().last().unwrap()["cache_control"], json!({"type": "ephemeral"}));
    let marks = second.to_string().matches("\"cache_control\"").count();
    assert!(marks <= 4, "at most four breakpoints, found {marks}");
    assert_eq!(last_user["content"][0]["content"], "1: greeting = hello");
}

#[test]
fn json_output_is_one_event_per_line_ending_with_the_summary() {
    let p = project();
    let server = shorten_then_target();
    let out = improve(&p, &server).args(["--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "session_started",
            "baseline",
            "usage",
            "review",
            "usage",
            "tool",
            "usage",
            "validation",
            "iteration",
            "usage",
            "review",
            "stopped",
            "summary"
        ]
    );
    let summary = lines.last().unwrap();
    assert_eq!((summary["score_before"].as_f64(), summary["score_after"].as_f64()), (Some(6.0), Some(9.0)));
    assert_eq!((summary["iterations"].as_u64(), summary["files_changed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(summary["commits"].as_array().unwrap().len(), 1);
    assert_eq!(summary["stop_reason"]["kind"], "target_reached");
    let id = session(&p)["id"].clone();
    assert!(lines.iter().all(|l| l["session"] == id), "every event names its session: {lines:?}");
    assert_eq!(
        lines[5],
        json!({"session": id, "type": "tool", "iteration": 1, "tool": EDITOR, "command": "str_replace",
               "path": "src/app.txt", "changed": "src/app.txt", "added": 1, "removed": 1, "is_error": false})
    );
    // claude-sonnet-5: $2 per million input tokens, $10 per million output tokens. The
    // request's duration varies from run to run.
    let mut usage = lines[4].clone();
    assert!(usage.as_object_mut().unwrap().remove("duration_ms").unwrap().is_u64());
    assert_eq!(
        usage,
        json!({"session": id, "type": "usage", "iteration": 1, "conversation": "implement-1",
               "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0},
               "cost_usd": 0.00007})
    );
}

#[test]
fn a_dirty_tree_is_refused_and_allow_dirty_snapshots_it() {
    let p = project();
    p.write("README.md", "# changed by the user\n");
    p.write("wip.txt", "work in progress\n");
    let server = FakeApi::start();
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: the working tree has uncommitted changes:\n  README.md\n  wip.txt\n\
         hint: commit or stash them first, or pass --allow-dirty to commit them as a separate \"snapshot before mmm\" commit\n"
    );
    drop(server);

    p.write(".env.local", "SECRET=1\n");
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = improve(&p, &server).arg("--allow-dirty").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.run_git(&["log", "-1", "--format=%s"]), "mmm: snapshot before mmm\n");
    assert_eq!(p.run_git(&["show", "--name-only", "--format=", "HEAD"]), "README.md\nwip.txt\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? .env.local\n", "secret files stay out of git");
}

#[test]
fn ctrl_c_rolls_back_and_resume_finishes_the_session() {
    let p = project();
    let stalled = Reply::stream(&Msg::new().text("I am still thinking about this")).stall_after(120);
    let server = FakeApi::with([review(5.0, issue()), replace("toolu_1", "hello", "hello BUG"), stalled]);
    let child = crate::common::mmm_std(&p.root, &p.home)
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .arg("improve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().len() < 3 {
        assert!(Instant::now() < deadline, "mmm never reached the editing step");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.read("src/app.txt"), "greeting = hello BUG\n", "the edit was made before the interrupt");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n", "the iteration was rolled back");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    let s = session(&p);
    assert_eq!((s["status"].as_str(), s["stop_reason"]["kind"].as_str()), (Some("interrupted"), Some("interrupted")));
    assert_eq!(s["scores"], json!([5.0]), "the review before the interrupt is on record");
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(summary.lines().any(|l| l == "  score       5.0 → 5.0"), "{summary}");
    let err = stderr(&out);
    assert!(err.contains(&format!("hint: resume with `mmm improve --resume {}`", s["id"].as_str().unwrap())), "{err}");
    drop(server);

    let server = FakeApi::with([
        review(5.0, issue()),
        replace("toolu_1", "hello", "hello there"),
        done("Extend the greeting"),
        review(9.0, json!([])),
    ]);
    let out = improve(&p, &server).arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let resumed = session(&p);
    assert_eq!(resumed["id"], s["id"]);
    assert_eq!((resumed["status"].as_str(), resumed["iterations"].as_array().unwrap().len()), (Some("completed"), 1));
    assert_eq!(p.read("src/app.txt"), "greeting = hello there\n");
    assert!(stdout(&out).starts_with("Resuming session"), "{}", stdout(&out));
}

#[test]
fn preflight_errors_say_what_to_do() {
    let plain = Project::new();
    let out = plain.mmm().env("ANTHROPIC_API_KEY", TEST_KEY).arg("improve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .ends_with("hint: run `git init` (and commit your files) first, or use -C to point at a repository\n"),
        "{}",
        stderr(&out)
    );

    let p = project();
    let out = p.mmm().arg("improve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .starts_with("error: no Anthropic API key: ANTHROPIC_API_KEY is not set\nhint: export ANTHROPIC_API_KEY="),
        "{}",
        stderr(&out)
    );

    let out = improve(&p, &FakeApi::start()).arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: there is no session to resume in this repository\nhint: start one with `mmm improve`\n"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let p = project();
    let head = p.run_git(&["rev-parse", "HEAD"]);
    let out = p.mmm().args(["improve", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Dry run: nothing will be edited, committed or recorded\n"), "{text}");
    assert!(text.contains("  review   skipped: no API key set"), "{text}");
    assert!(text.contains("  baseline 1/1 passed"), "{text}");

    let server = FakeApi::with([review(6.0, issue())]);
    let out = improve(&p, &server).args(["--dry-run", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = &json_lines(&out)[0];
    assert_eq!((plan["type"].as_str(), plan["baseline_passed"].as_bool()), (Some("plan"), Some(true)));
    assert_eq!(plan["would_address"], issue());
    assert_eq!(p.run_git(&["rev-parse", "HEAD"]), head);
    assert_eq!(p.run_git(&["branch", "--show-current"]), "main\n");
    assert!(!p.root.join(".mmm/sessions").exists() && !Path::new(&p.root.join(".mmm/state.json")).exists());
}

#[test]
fn status_and_history_show_the_sessions() {
    let p = project();
    let out = p.mmm().arg("status").output().unwrap();
    assert_eq!(stdout(&out), "No mmm sessions in this repository yet: start one with `mmm improve`.\n");
    let server = shorten_then_target();
    improve(&p, &server).assert().success();
    let id = session(&p)["id"].as_str().unwrap().to_string();

    let text = stdout(&p.mmm().arg("status").output().unwrap());
    assert!(text.starts_with(&format!("Last session {id}\n  status      completed — target reached")), "{text}");
    assert!(text.contains("  score       6.0 → 9.0\n  iterations  1 (1 committed)\n"), "{text}");

    let text = stdout(&p.mmm().arg("history").output().unwrap());
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..7], [id.as_str(), "completed", "1", "1", "6.0", "→", "9.0"]);

    let text = stdout(&p.mmm().args(["history", &id]).output().unwrap());
    assert!(
        text.contains("#1 committed   score 6.0 → 9.0  1 file(s) +1 -1  45 tokens  $0.00  Shorten the greeting"),
        "{text}"
    );
    let out = p.mmm().args(["history", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json = json_lines(&p.mmm().args(["--output", "json", "history"]).output().unwrap());
    assert_eq!(json[0]["sessions"][0]["id"], id);
}

#[test]
fn build_output_left_by_the_checks_is_never_committed() {
    let p = project();
    p.write(
        ".mmm/config.toml",
        &format!("[validate]\ncommands = [{:?}]\n", format!("{CHECK} && mkdir -p out && echo built > out/artifact")),
    );
    p.run_git(&["commit", "-qam", "checks that build"]);
    let server = shorten_then_target();
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warning = "warning: the checks created `out`, which no .gitignore rule covers; mmm treats it as build output, \
                   never commits it and never counts it as your changes (add `/out/` to .gitignore to say so for git too)";
    assert_eq!(stderr(&out).lines().filter(|l| l.starts_with("warning:")).collect::<Vec<_>>(), [warning]);
    assert_eq!(p.run_git(&["show", "--name-only", "--format=", "HEAD"]), "src/app.txt\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? out/\n", "the build output is the project's, left as it is");
    assert_eq!(state(&p)["check_outputs"], json!(["out"]));

    // The next session is not blocked by it, and says nothing more about it.
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));

    // With --allow-dirty, the user's change is snapshotted and the build output is not.
    p.write("notes.txt", "mine\n");
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = improve(&p, &server).arg("--allow-dirty").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.run_git(&["show", "--name-only", "--format=%s", "HEAD"]), "mmm: snapshot before mmm\n\nnotes.txt\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? out/\n");
}

#[test]
fn a_dirty_tree_error_lists_a_screenful_of_paths_and_a_count() {
    let p = project();
    for i in 0..25 {
        p.write(&format!("new/file{i:02}.txt"), "x\n");
    }
    let server = FakeApi::start();
    let out = improve(&p, &server).output().unwrap();
    let listed: String = (0..20).map(|i| format!("  new/file{i:02}.txt\n")).collect();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            format!(
                "error: the working tree has uncommitted changes:\n{listed}  ... and 5 more\nhint: commit or stash them \
                 first, or pass --allow-dirty to commit them as a separate \"snapshot before mmm\" commit\n"
            )
        )
    );
}

#[test]
fn verbose_mode_shows_the_model_thinking_aloud() {
    let said = "   │ Nothing to change here, the greeting is fine";
    let p = project();
    let server = FakeApi::with([review(5.0, issue()), done("Nothing to change here, the greeting is fine")]);
    let out = improve(&p, &server).args(["-v", "--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l == said), "{}", stdout(&out));
    let quiet = project();
    let server = FakeApi::with([review(5.0, issue()), done("Nothing to change here, the greeting is fine")]);
    let out = improve(&quiet, &server).args(["--max-iterations", "1"]).output().unwrap();
    assert!(!stdout(&out).lines().any(|l| l == said), "only -v shows the text: {}", stdout(&out));
    assert!(!stderr(&out).contains("the greeting is fine"), "only -v shows the text");
}

#[test]
fn a_commit_refused_by_a_hook_rolls_the_iteration_back() {
    let p = project();
    let hook = p.root.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    // It refuses only a change to src/app.txt, so preflight's empty test commit passes.
    std::fs::write(
        &hook,
        "#!/bin/sh\nif git diff --cached --name-only | grep -q app.txt; then echo 'no commits today' >&2; exit 1; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = FakeApi::with([review(6.0, issue()), replace("toolu_1", "hello", "hi"), done("Shorten the greeting")]);
    let out = improve(&p, &server).args(["--max-iterations", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n", "nothing half-done stays behind");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    let it = &session(&p)["iterations"][0];
    assert_eq!((it["outcome"].as_str(), it["commit"].as_str()), (Some("failed"), None));
    assert!(it["error"].as_str().unwrap().contains("no commits today"), "{}", it["error"]);
}

#[test]
fn failing_checks_cap_the_review_score_whatever_the_reviewer_says() {
    let p = project();
    p.write("src/app.txt", "greeting = BUG\n");
    p.run_git(&["commit", "-qam", "a bug"]);
    let server = FakeApi::with([
        review(9.5, issue()),
        replace("toolu_1", "BUG", "hello"),
        done("Fix the greeting"),
        review(9.5, json!([])),
    ]);
    let out = improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = session(&p);
    // 9.5 with the checks failing is recorded as 4.0; after the fix, the checks pass.
    assert_eq!(s["scores"], json!([4.0, 9.5]));
    assert_eq!(s["stop_reason"], json!({"kind": "target_reached", "score": 9.5, "target": 8.0}));
    let reviews: Vec<Value> =
        events(&p).into_iter().filter(|e| e["type"] == "review").map(|e| e["score"].clone()).collect();
    assert_eq!(reviews, [json!(4.0), json!(9.5)]);
}

/// `mmm improve` refused in preflight: exit 2 with exactly `expected` on stderr, no
/// request to the model, no branch and no state left behind.
fn refused_before_any_request(p: &Project, expected: &str) {
    let server = FakeApi::start();
    let out = improve(p, &server).output().unwrap();
    assert_eq!((out.status.code(), stderr(&out).as_str()), (Some(2), expected));
    assert!(server.requests().is_empty(), "no request was made");
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "", "no branch was left behind");
    assert!(!p.root.join(".mmm/sessions").exists(), "no session was recorded");
}

#[test]
fn a_hook_that_rejects_every_commit_is_found_before_any_money_is_spent() {
    let p = project();
    let hook = p.root.join(".git/hooks/commit-msg");
    std::fs::write(&hook, "#!/bin/sh\necho 'commit messages must name a ticket' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    refused_before_any_request(
        &p,
        "error: git would refuse mmm's commits: the commit-msg hook rejects commits: commit messages must name a ticket\n\
         hint: mmm commits every change it keeps: set an identity (`git config user.name` and `git config user.email`) \
         or fix the hook in .git/hooks, then run again\n",
    );
    assert_eq!(p.run_git(&["status", "--porcelain"]), "", "the hook check left nothing behind");
}

#[test]
fn a_repository_without_a_git_identity_is_refused_before_any_request() {
    let p = project();
    p.run_git(&["config", "--unset", "user.email"]);
    p.run_git(&["config", "--unset", "user.name"]);
    p.run_git(&["config", "user.useConfigOnly", "true"]);
    let server = FakeApi::start();
    let out = improve(&p, &server).env_remove("EMAIL").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let first = stderr(&out).lines().next().unwrap().to_string();
    assert!(
        first.starts_with("error: git would refuse mmm's commits: git has no identity to commit with: "),
        "{first}"
    );
    assert!(server.requests().is_empty());
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "");
}

#[test]
fn a_check_whose_program_is_not_installed_is_refused_naming_it() {
    let p = project_with_check("flake8-not-installed-here . && ! grep -q BUG src/app.txt");
    refused_before_any_request(
        &p,
        "error: the check `flake8-not-installed-here . && ! grep -q BUG src/app.txt` runs `flake8-not-installed-here`, \
         which is not installed (not on PATH)\n\
         hint: install `flake8-not-installed-here`, or set the checks mmm runs in .mmm/config.toml: \
         [validate] commands = [\"...\"]\n",
    );
}

/// `cargo` as the user has it, although the test's `HOME` is a temporary one.
fn with_the_users_cargo(mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    let home = std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    for (name, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
        cmd.env(name, std::env::var_os(name).unwrap_or_else(|| home.join(default).into_os_string()));
    }
    cmd.env_remove("CARGO_TARGET_DIR");
    cmd
}

#[test]
fn the_official_example_runs_twice_in_a_row_cleanly() {
    let p = Project::git();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wordfreq");
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs", "src/main.rs"] {
        p.write(file, &std::fs::read_to_string(example.join(file)).unwrap());
    }
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "wordfreq as found"]);
    // Its detected checks (build, clippy with -D warnings, test) fail on two lints; the
    // model fixes them, the checks build `target/`, and the session reaches the target.
    let fix = Msg::new()
        .tool_use(
            "t1",
            EDITOR,
            json!({"command": "str_replace", "path": "src/lib.rs", "old_str": "w.len() == 0", "new_str": "w.is_empty()"}),
        )
        .tool_use(
            "t2",
            EDITOR,
            json!({"command": "str_replace", "path": "src/lib.rs", "old_str": "v.sort_by(|a, b| b.1.cmp(&a.1));",
                   "new_str": "v.sort_by_key(|b| std::cmp::Reverse(b.1));"}),
        );
    let server =
        FakeApi::with([review(3.0, issue()), Reply::stream(&fix), done("Make clippy clean"), review(8.5, json!([]))]);
    let out = with_the_users_cargo(improve(&p, &server)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.run_git(&["show", "--name-only", "--format=", "HEAD"]), "src/lib.rs\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? target/\n");

    // The second run starts cleanly: `target/` is the checks' build output, not the user's work.
    let server = FakeApi::with([review(8.5, json!([]))]);
    let out = with_the_users_cargo(improve(&p, &server)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(session(&p)["stop_reason"], json!({"kind": "target_reached", "score": 8.5, "target": 8.0}));
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? target/\n");
}
