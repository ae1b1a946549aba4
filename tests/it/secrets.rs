//! No secret reaches the model, and nothing mmm starts sees its credentials: the planted
//! formats of `tests/fixtures/planted-secrets.tsv` in a file the model views and searches
//! and in a check's output, an environment password a check prints, the API key in the
//! environment of checks and git hooks, and a check that must die with a killed mmm.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::*;
use crate::common::{Project, json_lines, stderr};

/// Every marked secret of the fixture (each line of a multi-line one), and the fixture's
/// lines with the marks removed.
fn planted() -> (Vec<String>, String) {
    let fixture = include_str!("../fixtures/planted-secrets.tsv");
    let mut secrets = Vec::new();
    let mut text = String::new();
    for line in fixture.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let marked = line.split_once('\t').unwrap().1.replace("\\n", "\n");
        for secret in marked.split('⟦').skip(1).map(|s| s.split('⟧').next().unwrap()) {
            secrets.extend(secret.lines().filter(|l| l.len() >= 8 && !l.starts_with("-----")).map(str::to_string));
        }
        text.push_str(&marked.replace(['⟦', '⟧'], ""));
        text.push('\n');
    }
    (secrets, text)
}

const ENV_PASSWORD: &str = "env-Pa55word-from-CI";

#[test]
fn no_planted_secret_reaches_the_model_or_the_session_files() {
    let (secrets, text) = planted();
    assert_eq!(secrets.len(), 31, "30 formats, the private key's two body lines");
    // The check prints the planted file and an environment password, then fails, so both
    // reach the review and the editing conversation as check output.
    let p = project_with_check("cat src/config.txt; echo \"db: $DB_PASSWORD\"; exit 1");
    p.write("src/config.txt", &text);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "config"]);
    let calls = Msg::new()
        .tool_use("t1", EDITOR, json!({"command": "view", "path": "src/config.txt"}))
        .tool_use("t2", "search", json!({"pattern": "password|secret|key|token", "case_insensitive": true}))
        .tool_use("t3", "search", json!({"pattern": ".", "glob": "**"}));
    let server = FakeApi::with([review(5.0, issue()), Reply::stream(&calls), done("Looked around")]);
    let out = mmm_with(&p, &server, "improve")
        .env("DB_PASSWORD", ENV_PASSWORD)
        .args(["--max-iterations", "1", "-c", "fix_rounds=0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // The secrets were there to leak: the view result carries the file, redacted.
    let view = &last_message(&server, 2)["content"][0]["content"];
    assert!(view.as_str().unwrap().contains("[REDACTED:stripe-key]"), "{view}");
    let mut sent: Vec<String> = requests.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    for file in ["session.json", "events.jsonl", "transcript.jsonl"] {
        sent.push(std::fs::read_to_string(session_dir(&p).join(file)).unwrap());
    }
    for secret in secrets.iter().map(String::as_str).chain([ENV_PASSWORD, TEST_KEY]) {
        for (i, body) in sent.iter().enumerate() {
            assert!(
                !body.contains(secret),
                "`{secret}` leaked into {}",
                ["request 1", "request 2", "request 3", "session.json", "events.jsonl", "transcript.jsonl"][i]
            );
        }
    }
}

/// Runs a committing session in a project whose check and pre-commit hook write the names
/// of the credentials they see to `check-env` and `hook-env` in `seen`; returns both.
fn credentials_seen(seen: &std::path::Path, pass_env: &str, env: &[(&str, &str)]) -> (String, String) {
    let log = |name: &str| seen.join(name).display().to_string();
    let probe =
        |file: &str| format!("env | grep -E '^ANTHROPIC_(API_KEY|AUTH_TOKEN)=' | cut -d= -f1 >> {}; true", log(file));
    let p = Project::git();
    p.write("src/app.txt", "greeting = hello\n");
    let check = format!("{} && {CHECK}", probe("check-env"));
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{check:?}]\npass_env = [{pass_env}]\n"));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "project"]);
    let hook = p.root.join(".git/hooks/pre-commit");
    std::fs::write(&hook, format!("#!/bin/sh\n{}\n", probe("hook-env"))).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").envs(env.iter().copied()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The record keeps `settings.pass_env` (only when it names some), as the schema says.
    let history = p.mmm().args(["history", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&history), [json!({"type": "history", "sessions": [session(&p)]})]);
    let read = |file: &str| {
        let text = std::fs::read_to_string(log(file)).unwrap_or_else(|e| panic!("{file} was not written: {e}"));
        std::fs::remove_file(log(file)).unwrap();
        text
    };
    (read("check-env"), read("hook-env"))
}

#[test]
fn checks_and_git_hooks_never_see_the_api_key_unless_passed_by_name() {
    let seen = tempfile::tempdir().unwrap();
    let token = [("ANTHROPIC_AUTH_TOKEN", "bearer-token-0123456789")];
    assert_eq!(credentials_seen(seen.path(), "", &token), (String::new(), String::new()));
    // Named in `validate.pass_env`, a credential reaches the checks, and only the checks:
    // the baseline and the iteration's run.
    assert_eq!(
        credentials_seen(seen.path(), "\"ANTHROPIC_API_KEY\"", &[]),
        ("ANTHROPIC_API_KEY\nANTHROPIC_API_KEY\n".to_string(), String::new())
    );
}

#[test]
fn a_check_dies_with_a_killed_mmm() {
    let marks = tempfile::tempdir().unwrap();
    let pid_file = marks.path().join("check.pid");
    let p = project_with_check(&format!("echo $$ > {}; exec sleep 30", pid_file.display()));
    let server = FakeApi::start();
    let mut mmm = spawn_improve(&p, &server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()) {
            break pid;
        }
        assert!(Instant::now() < deadline, "the baseline check never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(alive(pid), "the check runs");
    mmm.kill().unwrap(); // SIGKILL: mmm gets no chance to clean up
    mmm.wait().unwrap();
    // The watchdog acts as soon as the pipe closes; the bound allows for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "the check (pid {pid}) outlived mmm");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` is a running process (a zombie waiting for its reaper is not).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}
