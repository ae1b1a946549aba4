//! The one event stream, documented: `docs/events.schema.json` is valid JSON Schema and
//! `docs/events.md` describes each of its types; every command's JSON output, on success
//! and on failure, is lines of those types (each validated by `json_lines`), a session's
//! lines end with its `summary`, and a failure ends with an `error` line that carries the
//! message, the hint, the exit code and, when the failure is a session's, its id.

use serde_json::{Value, json};

use crate::common::fake_api::FakeApi;
use crate::common::script::{
    CHECK, done, events, issue, mmm_with, project_with_check, replace, review, session, shorten_then_target, verdict,
};
use crate::common::{Project, json_lines, schema, stderr};

/// The `type` of each line.
fn types(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["type"].as_str().unwrap()).collect()
}

/// `mmm --output json <args>` in the project, with the fake server's key and address.
fn json(p: &Project, server: &FakeApi, command: &str, args: &[&str]) -> std::process::Output {
    mmm_with(p, server, command).args(args).args(["--output", "json"]).output().unwrap()
}

#[test]
fn the_schema_is_valid_json_schema_and_each_type_has_a_section_in_the_guide() {
    schema::check_schema().unwrap();
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md")).unwrap();
    let mut documented: Vec<String> = guide
        .lines()
        .filter_map(|l| l.strip_prefix("### `").and_then(|rest| rest.split('`').next()))
        .map(str::to_string)
        .collect();
    let mut types = schema::types().unwrap();
    documented.sort();
    types.sort();
    assert_eq!(documented, types);
    // The error line's exit codes are mmm's, success aside.
    let schema: Value = serde_json::from_str(&schema::text()).unwrap();
    let codes: Vec<i32> = mmm::Exit::ALL.iter().map(|e| e.code()).filter(|&c| c != 0).collect();
    assert_eq!(schema["$defs"]["error"]["properties"]["exit_code"]["enum"], json!(codes));
}

#[test]
fn lines_of_an_unknown_type_or_with_an_undocumented_field_are_refused() {
    assert!(
        schema::check(&json!({"type": "error", "message": "m", "causes": [], "hint": null, "exit_code": 2})).is_ok()
    );
    assert!(schema::check(&json!({"type": "celebration"})).is_err());
    let extra = json!({"type": "error", "message": "m", "causes": [], "hint": null, "exit_code": 2, "mood": "sad"});
    assert!(schema::check(&extra).is_err());
    assert!(schema::check(&json!({"type": "spec_created"})).is_err());
}

#[test]
fn an_improve_session_is_its_events_then_a_summary_and_every_reader_of_it_prints_documented_lines() {
    let p = project_with_check(CHECK);
    p.write("notes.txt", "uncommitted\n");
    let server = shorten_then_target();
    let out = json(&p, &server, "improve", &["--allow-dirty"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(
        types(&lines),
        vec![
            "session_started",
            "snapshot",
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
    let id = session(&p)["id"].as_str().unwrap().to_string();
    assert!(lines.iter().all(|l| l["session"] == id.as_str()), "every line names the session");
    // The journal holds the same lines, each with a time stamp.
    let journal: Vec<Value> = events(&p)
        .into_iter()
        .map(|mut e| {
            e.as_object_mut().unwrap().remove("ts").expect("a time stamp");
            e
        })
        .collect();
    assert_eq!(journal, lines);

    let reader = |args: &[&str]| {
        let out = p.mmm().args(args).args(["--output", "json"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        json_lines(&out)
    };
    assert_eq!(types(&reader(&["status"])), vec!["status"]);
    assert_eq!(types(&reader(&["history"])), vec!["history"]);
    assert_eq!(types(&reader(&["history", &id])), vec!["session"]);
    assert_eq!(types(&reader(&["history", &id, "--transcript"])), vec!["transcript"]);
    assert_eq!(types(&reader(&["analyze"])), vec!["analysis"]);
    assert_eq!(
        reader(&["spec", "new", "Say goodbye"]),
        vec![json!({"type": "spec_created", "path": "specs/001-say-goodbye.md"})]
    );
}

#[test]
fn a_run_ends_with_the_summary_of_its_session() {
    let p = project_with_check(CHECK);
    p.write(
        "specs/001-greet.md",
        "---\nid: 001-greet\n---\n# Greet\n\n## Acceptance Criteria\n\n- [ ] Says hello world\n",
    );
    let server = FakeApi::with([replace("toolu_1", "hello", "hello world"), done("Greet the world"), verdict(&[true])]);
    let out = json(&p, &server, "run", &["specs/001-greet.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(
        types(&lines),
        vec![
            "session_started",
            "spec_started",
            "baseline",
            "usage",
            "tool",
            "usage",
            "validation",
            "usage",
            "verdict",
            "iteration",
            "stopped",
            "spec_finished",
            "summary"
        ]
    );
}

#[test]
fn a_failed_run_ends_with_its_summary_then_an_error_line_naming_the_session() {
    let p = project_with_check(CHECK);
    p.write(
        "specs/001-greet.md",
        "---\nid: 001-greet\nmax_iterations: 1\n---\n# Greet\n\n## Acceptance Criteria\n\n- [ ] Says hello world\n",
    );
    let server = FakeApi::with([replace("toolu_1", "hello", "BUG"), done("Break it"), done("Cannot fix")]);
    let out = json(&p, &server, "run", &["specs/001-greet.md", "-c", "fix_rounds=1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = json_lines(&out);
    let id = session(&p)["id"].as_str().unwrap().to_string();
    let n = lines.len();
    assert_eq!(types(&lines[n - 2..]), vec!["summary", "error"]);
    let message = lines[n - 1]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("spec `001-greet` was not implemented: "), "{message}");
    assert_eq!(
        lines[n - 1],
        json!({"session": id, "type": "error", "message": message, "causes": [],
               "hint": format!("see `mmm history {id}`; edit the spec, then `mmm run` it again"), "exit_code": 1})
    );
    assert!(stderr(&out).contains(&format!("error: {message}\nhint: see `mmm history {id}`")), "{}", stderr(&out));
}

#[test]
fn a_session_that_keeps_nothing_ends_with_an_error_line_with_exit_code_4() {
    let p = project_with_check(CHECK);
    let server =
        FakeApi::with([review(5.0, issue()), replace("toolu_1", "hello", "BUG"), done("Break it"), done("No")]);
    let out = json(&p, &server, "improve", &["--max-iterations", "1", "-c", "fix_rounds=1"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    let id = session(&p)["id"].as_str().unwrap().to_string();
    assert_eq!(types(&lines[lines.len() - 2..]), vec!["summary", "error"]);
    assert_eq!(
        lines.last().unwrap(),
        &json!({"session": id, "type": "error",
                "message": "the session kept no change: 1 iteration(s), none committed", "causes": [],
                "hint": format!("`mmm history {id}` shows what was tried and why it was not kept"), "exit_code": 4})
    );
}

#[test]
fn a_crash_recovered_on_resume_is_a_line_of_its_own() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(6.0, issue()), replace("toolu_1", "hello", "hi"), review(9.0, json!([]))]);
    // The 6th journal event is the edit's `tool` event: the kill leaves the edit behind.
    let killed = mmm_with(&p, &server, "improve").env("MMM_DEBUG_ABORT_AFTER_EVENT", "6").output().unwrap();
    assert_eq!(killed.status.code(), None, "killed: {}", stderr(&killed));
    let out = json(&p, &server, "improve", &["--resume"]);
    // The crashed iteration was the only one: nothing was kept.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines(&out);
    let id = session(&p)["id"].as_str().unwrap().to_string();
    assert_eq!(
        lines.iter().find(|l| l["type"] == "recovered").expect("a recovered line"),
        &json!({"session": id, "type": "recovered", "iteration": 1, "action": "rolled_back",
                "files": ["src/app.txt"], "commit": null})
    );
    assert_eq!(types(&lines[lines.len() - 2..]), vec!["summary", "error"]);
}

#[test]
fn each_command_that_fails_in_json_mode_ends_with_an_error_line() {
    let p = project_with_check(CHECK);
    let no_key =
        |command: &str, args: &[&str]| p.mmm().arg(command).args(args).args(["--output", "json"]).output().unwrap();
    let ended = |out: &std::process::Output| (out.status.code(), json_lines(out));
    let hint = mmm::llm::client::NO_KEY_HINT;
    let error = |message: &str, hint: &str| {
        vec![json!({"type": "error", "message": message, "causes": [], "hint": hint, "exit_code": 2})]
    };
    let out = no_key("improve", &[]);
    assert_eq!(ended(&out), (Some(2), error("no Anthropic API key: ANTHROPIC_API_KEY is not set", hint)));
    assert_eq!(stderr(&out), format!("error: no Anthropic API key: ANTHROPIC_API_KEY is not set\nhint: {hint}\n"));

    p.write("specs/001-greet.md", "---\nid: 001-greet\n---\n# Greet\n\n## Acceptance Criteria\n\n- [ ] Says hello\n");
    assert_eq!(
        ended(&no_key("run", &["specs/001-greet.md"])),
        (Some(2), error("no Anthropic API key: ANTHROPIC_API_KEY is not set", hint))
    );
    assert_eq!(
        ended(&no_key("analyze", &["nowhere"])),
        (Some(2), error("nowhere does not exist", "pass the directory of a project, e.g. `mmm analyze .`"))
    );
    assert_eq!(
        ended(&no_key("history", &["no-such-session"])),
        (Some(2), error("no session `no-such-session` in this repository", "`mmm history` lists the sessions"))
    );
    let outside = Project::new();
    let out = outside.mmm().args(["status", "--output", "json"]).output().unwrap();
    let root = outside.root.canonicalize().unwrap();
    assert_eq!(
        ended(&out),
        (
            Some(2),
            error(
                &format!("{} is not inside a git repository", root.display()),
                "run `git init` (and commit your files) first, or use -C to point at a repository"
            )
        )
    );
    // A command line clap refuses: its own text on stderr, the line on stdout.
    let out = p.mmm().args(["--output", "json", "improve", "--no-such-flag"]).output().unwrap();
    assert_eq!(
        ended(&out),
        (Some(2), error("unexpected argument '--no-such-flag' found", "`mmm --help` lists the commands and options"))
    );
    assert!(stderr(&out).starts_with("error: unexpected argument '--no-such-flag' found"), "{}", stderr(&out));
}
