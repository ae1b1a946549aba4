//! What a person reads, asserted whole: the session's lines and summary, `status`,
//! `history`, `history <id>`, `history <id> --transcript` and `--dry-run`. Session ids,
//! branch timestamps, commit hashes and times are replaced by placeholders first.

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{CHECK, EDITOR, done, issue, mmm_with, project_with_check, replace, review, session};
use crate::common::{Project, stderr, stdout};

/// `text` with what changes from run to run replaced: the session id by `<id>`, branch
/// timestamps by `<time>`, commit hashes by `<sha>`, RFC 3339 times by `<when>`.
fn normalize(text: &str, id: &str) -> String {
    let text = text.replace(id, "<id>");
    let sha = regex::Regex::new(r"\b[0-9a-f]{40}\b|\b[0-9a-f]{10}\b").unwrap();
    let when = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").unwrap();
    let branch = regex::Regex::new(r"mmm/improve-\d{8}-\d{6}").unwrap();
    let text = sha.replace_all(&text, "<sha>");
    let text = when.replace_all(&text, "<when>");
    branch.replace_all(&text, "mmm/improve-<time>").into_owned()
}

/// One committed iteration, then a review at the target.
fn session_run() -> (Project, String, String) {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting\n\nShorter is friendlier."),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = session(&p)["id"].as_str().unwrap().to_string();
    let text = stdout(&out);
    (p, id, text)
}

#[test]
fn a_session_reads_as_its_steps_then_a_summary() {
    let (_p, id, text) = session_run();
    assert_eq!(
        normalize(&text, &id),
        "Starting session <id> on branch mmm/improve-<time> with claude-sonnet-5
  checks: `! grep -q BUG src/app.txt`
Baseline: ✓ the check passes
#1 review: score 6.0 — 1 issue(s), worst: [high] src/app.txt: the greeting is curt
   edit src/app.txt +1 -1
   checks: 1/1 passed
#1 committed   score 6.0  1 file(s) +1 -1  45 tokens  $0.00  Shorten the greeting
#2 review: score 9.0 — 0 issue(s)

Session <id> — target reached: score 9.0 ≥ 8.0 with the checks passing
  score       6.0 → 9.0
  iterations  1 (1 committed)
  changes     1 file(s), +1 -1
  tokens      60 in 4 request(s), 0% of input read from cache
  cost        $0.00
  time        under 1s
  branch      mmm/improve-<time>
Next: review with `git log --stat main..mmm/improve-<time>`, then merge the branch
"
    );
}

#[test]
fn tool_calls_and_retries_read_as_lines_and_piped_output_has_no_spinner() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([
        Reply::error(529, "overloaded_error", "Overloaded").header("retry-after-ms", "100"),
        review(6.0, issue()),
        Reply::stream(
            &Msg::new()
                .tool_use("toolu_v", EDITOR, json!({"command": "view", "path": "src/app.txt"}))
                .tool_use("toolu_s", "search", json!({"pattern": "greet"}))
                .tool_use("toolu_n", "search", json!({"pattern": "nowhere", "path": "src"})),
        ),
        Reply::stream(&Msg::new().tool_use(
            "toolu_c",
            EDITOR,
            json!({"command": "create", "path": "src/extra.txt", "file_text": "one\ntwo\n"}),
        )),
        replace("toolu_1", "hello", "hi"),
        replace("toolu_2", "nothing like this", "x"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = session(&p)["id"].as_str().unwrap().to_string();
    let text = normalize(&stdout(&out), &id);
    let steps: Vec<&str> = text.lines().skip(3).take(10).collect();
    assert_eq!(
        steps.join("\n"),
        "   overloaded, retrying in 0.1 s (1/8)
#1 review: score 6.0 — 1 issue(s), worst: [high] src/app.txt: the greeting is curt
   view src/app.txt
   search \"greet\" (1 hit)
   search \"nowhere\" in src (0 hits)
   create src/extra.txt +2 -0
   edit src/app.txt +1 -1
   edit src/app.txt (error)
   checks: 1/1 passed
#1 committed   score 6.0  2 file(s) +3 -1  90 tokens  $0.00  Shorten the greeting"
    );
    // Piped: no spinner, nothing on stderr.
    assert_eq!(stderr(&out), "");
    let retry = crate::common::script::events(&p).into_iter().find(|e| e["type"] == "retry").unwrap();
    assert_eq!(
        (&retry["conversation"], &retry["attempt"], &retry["max_retries"], &retry["wait_ms"], &retry["reason"]),
        (&json!("review-1"), &json!(1), &json!(8), &json!(100), &json!("overloaded"))
    );
}

#[test]
fn verbose_output_shows_each_text_block_of_the_model_on_its_own_lines() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([
        review(6.0, issue()),
        Reply::stream(&Msg::new().text("I will shorten it.").text("Starting with the greeting.").tool_use(
            "toolu_1",
            EDITOR,
            json!({"command": "str_replace", "path": "src/app.txt", "old_str": "hello", "new_str": "hi"}),
        )),
        done("Shorten the greeting\n\nShorter is friendlier."),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").arg("-v").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = session(&p)["id"].as_str().unwrap().to_string();
    let text = normalize(&stdout(&out), &id);
    let steps: Vec<&str> = text.lines().skip(3).take(9).collect();
    assert_eq!(
        steps.join("\n"),
        "#1 review: score 6.0 — 1 issue(s), worst: [high] src/app.txt: the greeting is curt
   │ I will shorten it.
   │ Starting with the greeting.
   edit src/app.txt +1 -1
   │ Shorten the greeting
   │
   │ Shorter is friendlier.
   checks: 1/1 passed
#1 committed   score 6.0  1 file(s) +1 -1  45 tokens  $0.00  Shorten the greeting"
    );
}

/// A check that prints the line it finds: `1:greeting = hello BUG`.
const LOUD_CHECK: &str = "! grep -n BUG src/app.txt";

#[test]
fn a_rolled_back_iteration_names_what_it_had_edited_and_history_shows_the_failing_check() {
    let p = project_with_check(LOUD_CHECK);
    let server = FakeApi::with([review(5.0, issue()), replace("toolu_1", "hello", "hello BUG"), done("Louder")]);
    let out = mmm_with(&p, &server, "improve").args(["--max-iterations", "1", "-c", "fix_rounds=0"]).output().unwrap();
    let id = session(&p)["id"].as_str().unwrap().to_string();
    assert_eq!(
        normalize(&stdout(&out), &id),
        "Starting session <id> on branch mmm/improve-<time> with claude-sonnet-5
  checks: `! grep -n BUG src/app.txt`
Baseline: ✓ the check passes
#1 review: score 5.0 — 1 issue(s), worst: [high] src/app.txt: the greeting is curt
   edit src/app.txt +1 -1
   checks: `! grep -n BUG src/app.txt` failed
#1 rolled back score 5.0  1 file(s) +1 -1  45 tokens  $0.00  checks still failing after 0 fix round(s): `! grep -n BUG src/app.txt` failed (exit 1)
     undone src/app.txt +1 -1

Session <id> — iteration limit reached (1)
  score       5.0 → 5.0
  iterations  1 (0 committed)
  changes     0 file(s), +0 -0
  tokens      45 in 3 request(s), 0% of input read from cache
  cost        $0.00
  time        under 1s
  branch      mmm/improve-<time>
Next: nothing was kept; `mmm history <id>` shows what was tried
"
    );
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n", "the edit was rolled back");
    let it = &session(&p)["iterations"][0];
    assert_eq!(
        (&it["outcome"], &it["files_changed"]),
        (&json!("rolled_back"), &json!([{"path": "src/app.txt", "added": 1, "removed": 1}]))
    );

    let detail = stdout(&p.mmm().args(["history", &id]).output().unwrap());
    assert_eq!(
        normalize(&detail, &id),
        "Session <id> on mmm/improve-<time>
  started <when>, model claude-sonnet-5
  checks  `! grep -n BUG src/app.txt`
  stopped iteration limit reached (1)

#1 rolled back score 5.0  1 file(s) +1 -1  45 tokens  $0.00  checks still failing after 0 fix round(s): `! grep -n BUG src/app.txt` failed (exit 1)
     undone src/app.txt +1 -1
     - [high] src/app.txt: the greeting is curt
     ✗ `! grep -n BUG src/app.txt` failed (exit 1):
       1:greeting = hello BUG

Total: 45 tokens in 3 requests, $0.00
"
    );
}

#[test]
fn status_and_history_read_whole() {
    let (p, id, _) = session_run();
    let status = stdout(&p.mmm().arg("status").output().unwrap());
    assert_eq!(
        normalize(&status, &id),
        "Last session <id>
  status      completed — target reached: score 9.0 ≥ 8.0 with the checks passing
  branch      mmm/improve-<time>
  score       6.0 → 9.0
  iterations  1 (1 committed)
  cost        $0.00 for 60 tokens

Totals (all sessions)
  sessions 1, iterations 1, commits 1
  60 tokens, $0.00
"
    );

    let history = stdout(&p.mmm().arg("history").output().unwrap());
    assert_eq!(
        normalize(&history, &id),
        "SESSION                STATUS       ITER COMMITS       SCORE   TOKENS     COST  STOPPED BECAUSE
<id>   completed       1       1   6.0 → 9.0       60    $0.00  target reached: score 9.0 ≥ 8.0 with the checks passing
"
    );

    let detail = stdout(&p.mmm().args(["history", &id]).output().unwrap());
    assert_eq!(
        normalize(&detail, &id),
        "Session <id> on mmm/improve-<time>
  started <when>, model claude-sonnet-5
  checks  `! grep -q BUG src/app.txt`
  stopped target reached: score 9.0 ≥ 8.0 with the checks passing

#1 committed   score 6.0 → 9.0  1 file(s) +1 -1  45 tokens  $0.00  Shorten the greeting
     commit <sha>
     - [high] src/app.txt: the greeting is curt

Total: 60 tokens in 4 requests, $0.00
"
    );
}

#[test]
fn the_transcript_of_an_iteration_reads_as_the_conversation() {
    let (p, id, _) = session_run();
    let out = p.mmm().args(["history", &id, "--transcript", "--iteration", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = normalize(&stdout(&out), &id);
    let lines: Vec<&str> = text.lines().collect();
    // The prompts are long; their first lines, the tool calls, results and answers whole.
    assert_eq!(lines[0], "── review-1 (2 message(s), 15 tokens) ──");
    assert_eq!(lines[1], "mmm: # Project");
    let model_lines: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("model: ")).collect();
    assert_eq!(
        model_lines,
        [
            r#"model: → submit_review {"issues":[{"description":"the greeting is curt","file":"src/app.txt","severity":"high"}],"score":6.0,"summary":"A tiny project."}"#,
            r#"model: → str_replace_based_edit_tool {"command":"str_replace","new_str":"hi","old_str":"hello","path":"src/app.txt"}"#,
            "model: Shorten the greeting\n\nShorter is friendlier.".lines().next().unwrap(),
        ]
    );
    let headers: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("── ")).collect();
    assert_eq!(headers, ["── review-1 (2 message(s), 15 tokens) ──", "── implement-1 (4 message(s), 30 tokens) ──"]);
    assert!(lines.contains(&"mmm: ← The file `src/app.txt` has been edited. Lines 1-1 now read:"), "{text}");

    // Only iteration 2: the closing review.
    let out = p.mmm().args(["history", &id, "--transcript", "--iteration", "2"]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("── review-2 (2 message(s), 15 tokens) ──"));
    assert_eq!(text.lines().filter(|l| l.starts_with("── ")).count(), 1);

    // The file holds each message once: it grows with the conversation, not its square.
    let transcript = std::fs::read_to_string(p.root.join(".mmm/sessions").join(&id).join("transcript.jsonl")).unwrap();
    assert_eq!(transcript.lines().count(), 8, "4 requests and 4 responses");
    let prompts = transcript.matches("# Project").count();
    assert_eq!(prompts, 3, "each conversation's first prompt is written once (2 reviews, 1 edit)");
}

#[test]
fn a_dry_run_reads_whole() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(6.0, issue())]);
    let out = mmm_with(&p, &server, "improve").arg("--dry-run").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Dry run: nothing will be edited, committed or recorded
  branch   mmm/improve-<timestamp> (new)
  checks   `! grep -q BUG src/app.txt`
  baseline 1/1 passed
  score    6.0 — A tiny project.
  the first iteration would address:
    - [high] src/app.txt: the greeting is curt
"
    );
}
