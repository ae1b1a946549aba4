//! The scripted model and the sample project the session tests share: a repository whose
//! check passes unless `src/app.txt` contains `BUG`, the replies a model sends (reviews,
//! edits, verdicts, closing text), and readers for what a session leaves in `.mmm/`.

// Shared by the improve, run and CI tests; not each uses every helper.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Value, json};

use super::Project;
use super::fake_api::{FakeApi, Msg, Reply, TEST_KEY};

/// Passes unless `src/app.txt` says `BUG`.
pub const CHECK: &str = "! grep -q BUG src/app.txt";
pub const EDITOR: &str = "str_replace_based_edit_tool";

/// A repository with `src/app.txt` and `.mmm/config.toml` naming `check`, committed.
pub fn project_with_check(check: &str) -> Project {
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    p.write(".gitignore", ".env\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{check:?}]\n"));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "project"]);
    p
}

/// `mmm <command>` in the project, with the test key and the fake server.
pub fn mmm_with(p: &Project, server: &FakeApi, command: &str) -> assert_cmd::Command {
    let mut cmd = p.mmm();
    cmd.env("ANTHROPIC_API_KEY", TEST_KEY).env("ANTHROPIC_BASE_URL", server.url()).arg(command);
    cmd
}

/// `mmm improve` started in the background against `server`, its output discarded: for a
/// test that watches or kills a running session.
pub fn spawn_improve(p: &Project, server: &FakeApi) -> std::process::Child {
    super::mmm_std(&p.root, &p.home)
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .arg("improve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mmm starts")
}

/// One committed iteration (the greeting shortened to "hi"), then a review at the target.
pub fn shorten_then_target() -> FakeApi {
    FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ])
}

/// The one issue the scripted reviews report.
pub fn issue() -> Value {
    json!([{"severity": "high", "file": "src/app.txt", "description": "the greeting is curt"}])
}

pub fn review(score: f64, issues: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(
        "toolu_review",
        "submit_review",
        json!({"score": score, "summary": "A tiny project.", "issues": issues}),
    ))
}

pub fn edit(id: &str, input: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(id, EDITOR, input))
}

pub fn replace(id: &str, old: &str, new: &str) -> Reply {
    edit(id, json!({"command": "str_replace", "path": "src/app.txt", "old_str": old, "new_str": new}))
}

pub fn create(id: &str, path: &str) -> Reply {
    edit(id, json!({"command": "create", "path": path, "file_text": "made\n"}))
}

pub fn done(text: &str) -> Reply {
    Reply::stream(&Msg::new().text(text))
}

/// A `submit_verdict` call judging criterion i+1 met when `met[i]`.
pub fn verdict(met: &[bool]) -> Reply {
    let criteria: Vec<Value> = met
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"index": i + 1, "met": m, "evidence": if *m { "src/app.txt" } else { "no farewell" }}))
        .collect();
    Reply::stream(&Msg::new().tool_use("toolu_verdict", "submit_verdict", json!({ "criteria": criteria })))
}

pub fn state(p: &Project) -> Value {
    serde_json::from_str(&p.read(".mmm/state.json")).unwrap()
}

/// The directory of the project's last session.
pub fn session_dir(p: &Project) -> PathBuf {
    p.root.join(".mmm/sessions").join(state(p)["last_session"].as_str().unwrap())
}

/// The last session's `session.json`.
pub fn session(p: &Project) -> Value {
    serde_json::from_str(&std::fs::read_to_string(session_dir(p).join("session.json")).unwrap()).unwrap()
}

/// The last session's journal, each line (but for its `ts`) checked against the documented
/// event schema like every printed line.
pub fn events(p: &Project) -> Vec<Value> {
    std::fs::read_to_string(session_dir(p).join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let value: Value = serde_json::from_str(l).unwrap();
            let mut printed = value.clone();
            printed.as_object_mut().expect("a journal line is an object").remove("ts");
            if let Err(e) = super::schema::check(&printed) {
                panic!("a journal line that docs/events.schema.json does not describe:\n{l}\n{e}");
            }
            value
        })
        .collect()
}

/// The last message of the `i`-th recorded request.
pub fn last_message(server: &FakeApi, i: usize) -> Value {
    let body = server.request(i).json();
    body["messages"].as_array().unwrap().last().unwrap().clone()
}

/// The text blocks of the last message of the `i`-th request.
pub fn last_message_text(server: &FakeApi, i: usize) -> String {
    let last = last_message(server, i);
    last["content"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n")
}
