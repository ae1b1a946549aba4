//! Hooks end to end: `[[hooks]]` commands run on a session's events with the event's JSON
//! line on stdin, sandboxed, without mmm's credentials; a failing hook is a warning unless
//! it is required; the Slack example posts to a webhook (a loopback listener here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

use serde_json::Value;

use crate::common::fake_api::{FakeApi, TEST_KEY};
use crate::common::script::{CHECK, mmm_with, project_with_check, shorten_then_target};
use crate::common::{Project, json_lines, stderr};

/// The sample project with `hooks` (TOML) added to its settings, committed.
fn project(hooks: &str) -> Project {
    let p = project_with_check(CHECK);
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n\n{hooks}"));
    p.run_git(&["commit", "-qam", "hooks"]);
    p
}

/// `mmm improve --output json` with mmm's temporary directory (where the hooks write) in
/// the test's home.
fn improve(p: &Project, server: &FakeApi) -> (std::process::Output, PathBuf) {
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = mmm_with(p, server, "improve").env("TMPDIR", &tmp).args(["--output", "json"]).output().unwrap();
    (out, tmp)
}

#[test]
fn a_hook_receives_the_committed_iteration_as_json_without_the_api_key() {
    let p = project(
        "[[hooks]]\non = \"iteration_committed\"\ncommand = [\"sh\", \"-c\", \"cat > \\\"$TMPDIR/event.json\\\"; env > \\\"$TMPDIR/env.txt\\\"\"]\n",
    );
    let server = shorten_then_target();
    let (out, tmp) = improve(&p, &server);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = json_lines(&out).into_iter().find(|l| l["type"] == "iteration").unwrap();
    let received: Value = serde_json::from_str(&std::fs::read_to_string(tmp.join("event.json")).unwrap()).unwrap();
    assert_eq!(received, printed);
    assert_eq!(received["outcome"], "committed");
    let env = std::fs::read_to_string(tmp.join("env.txt")).unwrap();
    assert!(!env.contains(TEST_KEY) && !env.contains("ANTHROPIC_API_KEY"), "{env}");
}

#[test]
fn a_failing_hook_is_a_warning_and_a_required_one_fails_the_run() {
    let p = project("[[hooks]]\non = \"session_start\"\ncommand = [\"sh\", \"-c\", \"echo no webhook; exit 3\"]\n");
    let (out, _) = improve(&p, &shorten_then_target());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hook `sh -c echo no webhook; exit 3` on session_start exited 3: no webhook"),
        "{}",
        stderr(&out)
    );

    let p = project("[[hooks]]\non = \"session_end\"\ncommand = [\"sh\", \"-c\", \"exit 4\"]\nrequired = true\n");
    let (out, _) = improve(&p, &shorten_then_target());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let last = json_lines(&out).pop().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["message"], "a required hook failed: hook `sh -c exit 4` on session_end exited 4");
}

/// A one-request HTTP server on loopback: the body it received, once a request came.
fn webhook() -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/services/T0/B0/x", listener.local_addr().unwrap().port());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").unwrap();
        String::from_utf8(body).unwrap()
    });
    (url, handle)
}

#[test]
fn the_slack_example_posts_the_committed_iteration_to_a_webhook() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/plugins/slack-notify/slack_notify.py");
    let p = project(&format!(
        "[[hooks]]\non = \"iteration_committed\"\ncommand = [\"python3\", {script:?}]\nnetwork = true\n"
    ));
    let (url, received) = webhook();
    let server = shorten_then_target();
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = mmm_with(&p, &server, "improve")
        .env("TMPDIR", &tmp)
        .env("SLACK_WEBHOOK_URL", &url)
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let iteration = json_lines(&out).into_iter().find(|l| l["type"] == "iteration").unwrap();
    let body: Value = serde_json::from_str(&received.join().unwrap()).unwrap();
    let commit = iteration["commit"].as_str().unwrap();
    let session = iteration["session"].as_str().unwrap();
    assert_eq!(
        body["text"],
        format!("mmm {session}: iteration #{} committed {}: Shorten the greeting", iteration["index"], &commit[..7])
    );
    assert_eq!(body["event"], iteration);
}

#[test]
fn without_network_a_webhook_hook_cannot_post() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/plugins/slack-notify/slack_notify.py");
    let p = project(&format!("[[hooks]]\non = \"session_start\"\ncommand = [\"python3\", {script:?}]\n"));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = mmm_with(&p, &shorten_then_target(), "improve")
        .env("TMPDIR", &tmp)
        .env("SLACK_WEBHOOK_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("Operation not permitted"), "{}", stderr(&out));
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the hook reached the listener");
}

#[test]
fn a_hook_with_an_unknown_event_is_refused_with_the_line() {
    let p = project("[[hooks]]\non = \"iteration_done\"\ncommand = [\"true\"]\n");
    let out = p.mmm().args(["improve", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("config.toml:5: unknown variant `iteration_done`"), "{}", stderr(&out));
}

#[test]
fn a_rolled_back_iteration_calls_its_hook_and_not_the_committed_one() {
    let p = project(
        "[[hooks]]\non = \"iteration_rolled_back\"\ncommand = [\"sh\", \"-c\", \"cat > \\\"$TMPDIR/rolled.json\\\"\"]\n\n\
         [[hooks]]\non = \"iteration_committed\"\ncommand = [\"sh\", \"-c\", \"touch \\\"$TMPDIR/committed\\\"\"]\n",
    );
    let server = FakeApi::with([
        crate::common::script::review(6.0, crate::common::script::issue()),
        crate::common::script::replace("toolu_1", "hello", "BUG"),
        crate::common::script::done("Break it"),
    ]);
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = mmm_with(&p, &server, "improve")
        .env("TMPDIR", &tmp)
        .args(["--max-iterations", "1", "-c", "fix_rounds=0", "--output", "json"])
        .output()
        .unwrap();
    let printed = json_lines(&out).into_iter().find(|l| l["type"] == "iteration").expect("an iteration line");
    let received: Value = serde_json::from_str(&std::fs::read_to_string(tmp.join("rolled.json")).unwrap()).unwrap();
    assert_eq!(received, printed);
    assert_eq!(received["outcome"], "rolled_back");
    assert!(!tmp.join("committed").exists());
}
