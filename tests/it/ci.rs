//! `mmm improve` as a CI job step: unattended, never blocking on stdin, a Markdown report,
//! GitHub's output and summary files, annotations, exit codes for gates, and `--push`.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::{Project, json_lines, stderr, stdout};

/// The project's check fails, printing a cargo-style error, when `src/app.txt` says `BUG`.
const CHECK: &str = "if grep -q BUG src/app.txt; then echo 'error[E0308]: mismatched types'; \
                     echo '  --> src/app.txt:1:12'; exit 1; fi";
const EDITOR: &str = "str_replace_based_edit_tool";

fn project() -> Project {
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n"));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "project"]);
    p
}

fn review(score: f64, issues: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(
        "toolu_review",
        "submit_review",
        json!({"score": score, "summary": "s", "issues": issues}),
    ))
}

fn issue() -> Value {
    json!([{"severity": "high", "file": "src/app.txt", "description": "the greeting is curt"}])
}

fn replace(old: &str, new: &str) -> Reply {
    Reply::stream(&Msg::new().tool_use(
        "toolu_e",
        EDITOR,
        json!({"command": "str_replace", "path": "src/app.txt", "old_str": old, "new_str": new}),
    ))
}

fn done(text: &str) -> Reply {
    Reply::stream(&Msg::new().text(text))
}

/// Iteration 1 committed, iteration 2 rolled back (its fix never works), iteration 3
/// failed (no review, twice), then the iteration limit.
fn three_outcomes() -> FakeApi {
    FakeApi::with([
        review(6.0, issue()),
        replace("hello", "hello there"),
        done("Extend the greeting"),
        review(7.0, issue()),
        replace("there", "BUG"),
        done("Break it"),
        done("I cannot fix it"),
        Reply::stream(&Msg::new().text("No review today")),
        Reply::stream(&Msg::new().text("Still no review")),
    ])
}

fn ci_improve(p: &Project, server: &FakeApi) -> assert_cmd::Command {
    let mut cmd = p.mmm();
    cmd.env("ANTHROPIC_API_KEY", TEST_KEY).env("ANTHROPIC_BASE_URL", server.url()).env("CI", "true").arg("improve");
    cmd
}

#[test]
fn the_report_and_github_files_describe_every_outcome() {
    let p = project();
    let server = three_outcomes();
    let outputs = p.root.join("../github_output");
    let step_summary = p.root.join("../step_summary.md");
    let report = p.root.join("../report.md");
    let out = ci_improve(&p, &server)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .args(["--max-iterations", "3", "-c", "fix_rounds=1", "--summary-file"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let markdown = std::fs::read_to_string(&report).unwrap();
    assert_eq!(std::fs::read_to_string(&step_summary).unwrap(), markdown, "the job summary is the same report");
    assert!(markdown.starts_with("## mmm improve: completed\n"), "{markdown}");
    let rows: Vec<&str> =
        markdown.lines().filter(|l| l.starts_with("| ") && l[2..].starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 3, "{markdown}");
    assert!(rows[0].contains("committed") && rows[0].contains("Extend the greeting"), "{}", rows[0]);
    assert!(rows[1].contains("rolled back") || rows[1].contains("rolled_back"), "{}", rows[1]);
    assert!(rows[2].contains("failed"), "{}", rows[2]);
    assert!(markdown.contains("<details>") && markdown.contains("error[E0308]: mismatched types"), "{markdown}");
    assert!(markdown.contains("iteration limit reached (3)"), "{markdown}");

    let s: Value = serde_json::from_str(&p.read(&format!(".mmm/sessions/{}/session.json", session_id(&p)))).unwrap();
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert_eq!(
        written,
        format!(
            "branch={}\ncommits=1\nscore=7.0\ncost_usd={:.4}\nsession={}\n",
            s["branch"].as_str().unwrap(),
            s["cost_usd"].as_f64().unwrap(),
            s["id"].as_str().unwrap()
        )
    );

    // The rolled-back iteration's failure is annotated on the line the tool named.
    let text = stdout(&out);
    let annotations: Vec<&str> = text.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations.len(), 1, "{}", stdout(&out));
    assert!(annotations[0].starts_with("::error file=src/app.txt,line=1,col=12,title="), "{}", annotations[0]);
    assert!(
        annotations[0].ends_with("::error[E0308]: mismatched types%0A  --> src/app.txt:1:12"),
        "{}",
        annotations[0]
    );
    // Nothing but workflow commands on stdout; progress is on stderr, every line timestamped.
    assert!(stdout(&out).lines().all(|l| l.starts_with("::")), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.lines().all(|l| l.len() > 22 && l.as_bytes()[4] == b'-' && l[20..].starts_with(" mmm: ")), "{err}");
}

fn session_id(p: &Project) -> String {
    let state: Value = serde_json::from_str(&p.read(".mmm/state.json")).unwrap();
    state["last_session"].as_str().unwrap().to_string()
}

#[test]
fn ci_mode_never_waits_on_standard_input() {
    for stdin_open in [false, true] {
        let p = project();
        let server = FakeApi::with([review(9.0, json!([]))]);
        let mut child = crate::common::mmm_std(&p.root, &p.home)
            .env("ANTHROPIC_API_KEY", TEST_KEY)
            .env("ANTHROPIC_BASE_URL", server.url())
            .env("CI", "true")
            .arg("improve")
            .stdin(if stdin_open { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // An open pipe that never ends: written to, never closed while mmm runs.
        let mut pipe = child.stdin.take();
        if let Some(pipe) = pipe.as_mut() {
            pipe.write_all(b"y\n").unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "mmm blocked with stdin {}", if stdin_open { "open" } else { "closed" });
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "stdin open: {stdin_open}");
        drop(pipe);
    }
}

#[test]
fn exit_codes_let_a_pipeline_gate() {
    // 0: completed, even below the target, without --fail-under.
    let p = project();
    let server = FakeApi::with([review(6.0, json!([]))]);
    assert_eq!(ci_improve(&p, &server).output().unwrap().status.code(), Some(0));

    // 3: completed below --fail-under.
    let p = project();
    let server = FakeApi::with([review(6.0, json!([]))]);
    let out = ci_improve(&p, &server).args(["--fail-under", "7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: the session ended with score 6.0, below --fail-under 7.0"),
        "{}",
        stderr(&out)
    );
    // ... and 0 at or above it.
    let p = project();
    let server = FakeApi::with([review(7.0, json!([]))]);
    assert_eq!(ci_improve(&p, &server).args(["--fail-under", "7"]).output().unwrap().status.code(), Some(0));

    // 1: the run failed (failed iterations in a row).
    let p = project();
    let server = FakeApi::with([done("no review"), done("still none")]);
    let out = ci_improve(&p, &server).args(["-c", "max_failures=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: 1 failed iterations in a row"), "{}", stderr(&out));

    // 1: an API error no retry can fix ends the session.
    let p = project();
    let server = FakeApi::with([Reply::error(401, "authentication_error", "invalid x-api-key")]);
    let out = ci_improve(&p, &server).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // 2: bad usage or configuration; nothing is attempted.
    let p = project();
    let out = ci_improve(&p, &FakeApi::start()).args(["--fail-under", "11"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ci_improve(&p, &FakeApi::start()).args(["--max-iterations", "none"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--max-iterations: `max_iterations` must be a whole number, found `none`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn push_sends_the_branch_to_origin_without_forcing() {
    let p = project();
    let remote = p.bare_origin();
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("hello", "hello there"),
        done("Extend the greeting"),
        review(9.0, json!([])),
    ]);
    let out = ci_improve(&p, &server).args(["--push", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let branch = json_lines(&out).last().unwrap()["branch"].as_str().unwrap().to_string();
    assert_eq!(crate::common::branch_head(remote.path(), &branch), p.run_git(&["rev-parse", "HEAD"]));

    // A session with nothing committed pushes nothing.
    let server = FakeApi::with([review(9.0, json!([]))]);
    p.run_git(&["switch", "-q", "main"]);
    let out = ci_improve(&p, &server).arg("--push").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let heads =
        std::process::Command::new("git").arg("-C").arg(remote.path()).args(["branch", "--list"]).output().unwrap();
    assert_eq!(String::from_utf8(heads.stdout).unwrap().lines().count(), 1);
}

#[test]
fn json_mode_carries_annotations_as_events() {
    let p = project();
    let server = FakeApi::with([review(5.0, issue()), replace("hello", "BUG"), done("Break it"), done("Cannot fix")]);
    let out = ci_improve(&p, &server)
        .env("GITHUB_ACTIONS", "true")
        .args(["--output", "json", "--max-iterations", "1", "-c", "fix_rounds=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    let annotation = lines.iter().find(|l| l["type"] == "annotation").expect("an annotation event");
    assert_eq!((annotation["file"].as_str(), annotation["line"].as_u64()), (Some("src/app.txt"), Some(1)));
    assert!(annotation["command"].as_str().unwrap().starts_with("::error file=src/app.txt,line=1,col=12,"));
}
