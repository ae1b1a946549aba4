//! Issue #19, hardening: nothing hangs on a dead API, and bad input gets a clear answer
//! (an exit code, the file or setting at fault, and a `hint:`).

use std::time::{Duration, Instant};

use crate::common::fake_api::{FakeApi, Reply, SilentServer, TEST_KEY};
use crate::common::script::{CHECK, events, issue, mmm_with, project_with_check, review, session, state};
use crate::common::{Project, stderr, stdout};

#[test]
fn a_server_that_never_answers_fails_within_the_retry_budget_with_a_hint() {
    let server = SilentServer::start();
    let p = Project::git();
    let started = Instant::now();
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["-c", "first_byte_timeout=500ms", "-c", "retry_budget=2s", "models"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no response within 500ms of sending the request (first_byte_timeout) \
         (gave up after 2 attempts: the 2s retry_budget is spent)\n\
         hint: the server took the connection but did not answer: check `base_url`, try again later, \
         or raise `first_byte_timeout`\n"
    );
    assert_eq!((stdout(&out), server.connections()), (String::new(), 2));
}

#[test]
fn a_retry_after_beyond_the_budget_fails_at_once_saying_when_to_retry() {
    let server = FakeApi::with([Reply::error(429, "rate_limit_error", "Rate limited").header("retry-after", "600")]);
    let p = Project::git();
    let started = Instant::now();
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .arg("models")
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: Anthropic API error 429 rate_limit_error: Rate limited (request-id req_fake_1): \
         the API asks to wait 10m before trying again, more than the 2m retry_budget allows; try again in 10m\n\
         hint: run mmm again after that wait, or raise `retry_budget` to let mmm wait that long itself\n"
    );
    assert_eq!(server.requests().len(), 1);
}

/// The `state.json.corrupt-*` files next to `state.json`.
fn kept_aside(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(p.root.join(".mmm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("state.json.corrupt-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_corrupt_state_file_is_kept_aside_rebuilt_from_the_sessions_and_warned_about_once() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(8.0, issue()), review(8.5, issue())]);
    mmm_with(&p, &server, "improve").assert().success();
    let first = session(&p)["id"].as_str().unwrap().to_string();
    let whole = p.read(".mmm/state.json");

    for (content, reason) in [
        ("", "it is not valid JSON: EOF while parsing a value at line 1 column 0"),
        (&whole[..whole.len() / 2], "it is not valid JSON: EOF while parsing a string at line 3 column 24"),
        ("garbage\n", "it is not valid JSON: expected value at line 1 column 1"),
        (
            "{\"version\": 2, \"last_session\": [1], \"current_score\": \"high\"}",
            "it does not have the expected fields: invalid type: string \"high\", expected f64",
        ),
    ] {
        p.write(".mmm/state.json", content);
        let out = p.mmm().arg("status").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let aside = kept_aside(&p);
        assert_eq!(aside.len(), 1);
        assert_eq!(
            stderr(&out),
            format!(
                "warning: .mmm/state.json could not be read ({reason}); kept it as .mmm/{} and rebuilt it \
                 from 1 session record\n",
                aside[0]
            )
        );
        assert_eq!(p.read(&format!(".mmm/{}", aside[0])), content, "the corrupt file is kept as it was");
        assert_eq!(state(&p), serde_json::from_str::<serde_json::Value>(&whole).unwrap(), "rebuilt whole");
        let again = p.mmm().arg("status").output().unwrap();
        assert_eq!(stderr(&again), "", "warned once");
        std::fs::remove_file(p.root.join(".mmm").join(&aside[0])).unwrap();
    }

    // A corrupt file never blocks a new session.
    p.write(".mmm/state.json", "{\"version\": 2, \"last_se");
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let aside = kept_aside(&p);
    assert_eq!(
        stderr(&out),
        format!(
            "warning: .mmm/state.json could not be read (it is not valid JSON: EOF while parsing a string at line 1 \
             column 23); kept it as .mmm/{} and rebuilt it from 1 session record\n",
            aside[0]
        )
    );
    let second = state(&p)["last_session"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(state(&p)["current_score"], 8.5);
}

#[test]
fn a_corrupt_session_record_is_named_with_a_hint() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(8.0, issue())]);
    mmm_with(&p, &server, "improve").assert().success();
    let id = session(&p)["id"].as_str().unwrap().to_string();
    let file = std::fs::canonicalize(&p.root).unwrap().join(".mmm/sessions").join(&id).join("session.json");
    let hint = "hint: mmm cannot use this session: restore the file from a backup, or move its directory out of \
                .mmm/sessions (the other sessions are unaffected)\n";
    for (content, reason) in [
        ("{\"version\": 1, \"id\": ", "it is not valid JSON: EOF while parsing a value at line 1 column 21"),
        ("", "it is not valid JSON: EOF while parsing a value at line 1 column 0"),
        (
            "{\"version\": 1, \"id\": 5}",
            "it does not have the expected fields: invalid type: integer `5`, expected a string",
        ),
    ] {
        std::fs::write(&file, content).unwrap();
        let expected = format!("error: {} is damaged: {reason}\n{hint}", file.display());
        let out = p.mmm().args(["history", &id]).output().unwrap();
        assert_eq!((out.status.code(), stderr(&out)), (Some(2), expected.clone()), "history");
        let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
        assert_eq!((out.status.code(), stderr(&out)), (Some(2), expected), "--resume");
    }
}

#[test]
fn an_empty_check_command_is_a_configuration_error() {
    let p = project_with_check(CHECK);
    let server = FakeApi::start();
    let file = p.write(".mmm/config.toml", "target = 9\n\n[validate]\ncommands = [\"make test\", \"  \"]\n");
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    let hint = "hint: remove it, or leave the list empty (`commands = []`) to use the detected build, lint and \
                test commands\n";
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            format!(
                "error: resolving settings\n  caused by: {}:4: `validate.commands` has an empty command (item 2 of 2)\n\
                 {hint}",
                file.display()
            )
        )
    );
    std::fs::remove_file(&file).unwrap();
    let out = p.mmm().args(["-c", "validate.commands=[\"\"]", "config", "show"]).output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            format!(
                "error: resolving settings\n  caused by: -c validate.commands=[\"\"]: `validate.commands` has an empty \
                 command (item 1 of 1)\n{hint}"
            )
        )
    );
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn a_repository_without_commits_is_told_to_make_one() {
    let p = Project::new();
    p.run_git(&["init", "-q", "-b", "main"]);
    p.write("src/app.txt", "greeting = hello\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n"));
    let server = FakeApi::start();
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            "error: the repository has no commits yet: mmm needs a commit to start from\n\
             hint: make a first commit: git add -A && git commit -m \"initial\"\n"
                .to_string()
        )
    );
}

#[test]
fn in_place_on_a_detached_head_is_refused_before_anything_changes() {
    let p = project_with_check(CHECK);
    let head = p.run_git(&["rev-parse", "HEAD"]);
    p.run_git(&["switch", "-q", "--detach", "HEAD"]);
    let server = FakeApi::start();
    let out = mmm_with(&p, &server, "improve").arg("--in-place").output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            format!(
                "error: --in-place works on the current branch, but HEAD is detached (at {})\n\
                 hint: check out a branch first (`git switch <branch>`, or `git switch -c <name>` to start one here), \
                 or leave out --in-place so mmm makes its own branch\n",
                &head[..12]
            )
        )
    );
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "");
    assert_eq!(p.run_git(&["rev-parse", "HEAD"]), head);
}

#[test]
fn a_resume_may_change_the_model_and_says_so() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([Reply::error(400, "invalid_request_error", "this model does not take that request")]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let before = session(&p);
    assert_eq!(
        (before["status"].as_str(), before["settings"]["model"].as_str()),
        (Some("failed"), Some("claude-sonnet-5"))
    );

    let server = FakeApi::with([review(9.0, serde_json::json!([]))]);
    let out = mmm_with(&p, &server, "improve").args(["--resume", "-c", "model=claude-opus-5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = before["id"].as_str().unwrap();
    let branch = before["branch"].as_str().unwrap();
    assert_eq!(
        stdout(&out).lines().next().unwrap(),
        format!("Resuming session {id} on branch {branch} with claude-opus-5 (changed from claude-sonnet-5)")
    );
    assert_eq!(server.request(0).json()["model"], "claude-opus-5");
    assert_eq!(session(&p)["settings"]["model"], "claude-opus-5");
    let started: Vec<serde_json::Value> = events(&p).into_iter().filter(|e| e["type"] == "session_started").collect();
    assert_eq!(
        started.iter().map(|e| (e["model"].clone(), e.get("previous_model").cloned())).collect::<Vec<_>>(),
        [
            (serde_json::json!("claude-sonnet-5"), None),
            (serde_json::json!("claude-opus-5"), Some(serde_json::json!("claude-sonnet-5")))
        ]
    );
}

#[test]
fn a_refused_key_or_unknown_model_stops_before_the_branch_and_the_baseline() {
    let p = project_with_check("touch baseline-ran && true");
    p.write(".gitignore", ".env\nbaseline-ran\n");
    p.run_git(&["commit", "-qam", "ignore the marker"]);
    let head = p.run_git(&["rev-parse", "HEAD"]);
    let server = FakeApi::start();
    server.answer_model_checks(Reply::error(401, "authentication_error", "invalid x-api-key"));
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            "error: Anthropic API error 401 authentication_error: invalid x-api-key (request-id req_fake_model_1)\n\
             hint: check ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN): the API did not accept it\n"
                .to_string()
        )
    );
    let check = &server.model_checks()[0];
    assert_eq!((check.method.as_str(), check.target.as_str()), ("GET", "/v1/models/claude-sonnet-5"));
    assert_eq!(check.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(server.requests().len(), 0, "no Messages request");
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "", "no branch");
    assert_eq!((p.run_git(&["rev-parse", "HEAD"]), p.run_git(&["branch", "--show-current"])), (head, "main\n".into()));
    assert!(!p.root.join("baseline-ran").exists(), "the baseline checks never ran");
    assert!(!p.root.join(".mmm/sessions").exists(), "no session was recorded");

    let server = FakeApi::start();
    server.answer_model_checks(Reply::error(404, "not_found_error", "model: claude-sonet-5"));
    let out = mmm_with(&p, &server, "improve").args(["--model", "claude-sonet-5"]).output().unwrap();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            "error: Anthropic API error 404 not_found_error: model: claude-sonet-5 (request-id req_fake_model_1)\n\
             hint: check the `model` setting (`mmm models` lists the models your key can use); a stopped session \
             continues with another model through `--resume -c model=<name>`\n"
                .to_string()
        )
    );
    assert_eq!(server.model_checks()[0].target, "/v1/models/claude-sonet-5");
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "");
}

#[test]
fn an_endpoint_that_does_not_describe_models_is_not_held_against_the_session() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([review(9.0, serde_json::json!([]))]);
    server.answer_model_checks(Reply::raw(404, "text/plain", "404 page not found"));
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(server.model_checks().len(), 1);
}
