//! Crash recovery and the work-tree lock, end to end: mmm killed (SIGKILL) right after each
//! of its journal events in turn, then `--resume`d, must finish with exactly the tree an
//! uninterrupted run leaves, a clean work tree, and every token it spent on record; a
//! second session on a busy work tree is refused; the user's own files are never rolled
//! back.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Recorded, Reply};
use crate::common::script::{
    CHECK, create, done, events, mmm_with, project_with_check, review, session, session_dir, spawn_improve,
};
use crate::common::{Project, stderr, stdout};

/// A model that answers from what it is asked, so a resumed run gets the answers the
/// uninterrupted run got: the review counts the committed iterations in its history and
/// asks for `notes/note<n+1>.txt` until three are committed, then reports the target; the
/// editing conversation creates the note, then says it is done.
pub(crate) fn note_model() -> FakeApi {
    FakeApi::respond(|request: &Recorded| {
        let body = request.json();
        let messages = body["messages"].as_array().expect("messages");
        // The first message's text: the stable project block, then the iteration's part.
        let first: String = messages[0]["content"]
            .as_array()
            .expect("content blocks")
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let is_review = body["tools"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "submit_review"));
        if is_review {
            let committed = first
                .lines()
                .filter(|l| {
                    l.split_once(". ")
                        .is_some_and(|(n, rest)| n.parse::<u32>().is_ok() && rest.starts_with("committed: "))
                })
                .count();
            if committed >= 3 {
                return review(9.0, json!([]));
            }
            let n = committed + 1;
            let issue = json!([{"severity": "medium", "file": format!("notes/note{n}.txt"), "description": format!("add note {n}")}]);
            return review(5.0 + committed as f64, issue);
        }
        let n = first.split("add note ").nth(1).and_then(|rest| rest.chars().next()).expect("the note to add");
        let answered =
            messages.last().unwrap()["content"].as_array().unwrap().iter().any(|b| b["type"] == "tool_result");
        if answered { done(&format!("Add note {n}")) } else { create("toolu_note", &format!("notes/note{n}.txt")) }
    })
}

fn tree(p: &Project) -> String {
    p.run_git(&["rev-parse", "HEAD^{tree}"])
}

/// Why a killed-and-resumed run is not recovered, if it is not.
fn check_recovered(p: &Project, server: &FakeApi, resumed: &std::process::Output, reference: &str) -> Option<String> {
    if resumed.status.code() != Some(0) {
        return Some(format!("--resume exited {:?}: {}", resumed.status.code(), stderr(resumed)));
    }
    if tree(p) != reference {
        return Some(format!("the final tree differs: {}", p.run_git(&["ls-tree", "-r", "--name-only", "HEAD"])));
    }
    let status = p.run_git(&["status", "--porcelain"]);
    if !status.is_empty() {
        return Some(format!("the work tree is not clean: {status}"));
    }
    let s = session(p);
    let served = server.requests().len() as u64;
    let recorded =
        (s["requests"].as_u64(), s["usage"]["input_tokens"].as_u64().zip(s["usage"]["output_tokens"].as_u64()));
    // Every fake response used 10 input and 5 output tokens.
    if recorded != (Some(served), Some((served * 10, served * 5))) {
        return Some(format!("{served} requests were served, {recorded:?} recorded"));
    }
    if !p.run_git(&["for-each-ref", "refs/mmm/"]).is_empty() {
        return Some("work-in-progress refs were left behind".into());
    }
    None
}

#[test]
fn a_run_killed_after_any_journal_event_resumes_to_the_same_result() {
    let reference = project_with_check(CHECK);
    let server = note_model();
    let out = mmm_with(&reference, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        reference.run_git(&["ls-tree", "-r", "--name-only", "HEAD", "notes"]),
        "notes/note1.txt\nnotes/note2.txt\nnotes/note3.txt\n"
    );
    let expected_tree = tree(&reference);
    let kill_points = events(&reference).len();
    assert_eq!(kill_points, 27, "3 committed iterations of 7 events, then the target");
    assert_eq!(session(&reference)["usage"]["input_tokens"], json!(10 * server.requests().len()));
    drop(server);

    let mut failures = Vec::new();
    for k in 1..=kill_points {
        let p = project_with_check(CHECK);
        let server = note_model();
        let killed =
            mmm_with(&p, &server, "improve").env("MMM_DEBUG_ABORT_AFTER_EVENT", k.to_string()).output().unwrap();
        assert_eq!(killed.status.signal(), Some(9), "k={k}: mmm was not killed: {}", stderr(&killed));
        let resumed = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
        if let Some(why) = check_recovered(&p, &server, &resumed, &expected_tree) {
            failures.push(format!("k={k}: {why}"));
        }
    }
    let recovered = kill_points - failures.len();
    println!("crash recovery: {recovered} of {kill_points} kill points recovered");
    assert_eq!(failures, Vec::<String>::new(), "recovered {recovered} of {kill_points}");
}

#[test]
fn resume_after_a_crash_never_rolls_back_the_users_own_files() {
    let p = project_with_check(CHECK);
    let server = note_model();
    // Killed right after the first note was written (the `tool` event of iteration 1).
    let killed = mmm_with(&p, &server, "improve").env("MMM_DEBUG_ABORT_AFTER_EVENT", "6").output().unwrap();
    assert_eq!(killed.status.signal(), Some(9));
    assert_eq!(p.read("notes/note1.txt"), "made\n");
    p.write("src/app.txt", "greeting = my own edit\n");
    p.write("mine.txt", "my notes\n");

    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let id = session(&p)["id"].as_str().unwrap().to_string();
    assert_eq!(
        stderr(&out),
        format!(
            "error: session {id} stopped mid-iteration, and these uncommitted files were not changed by mmm: \
             mine.txt, src/app.txt\nhint: they may be your work: commit or stash them, then resume (mmm then \
             rolls back only its own edits)\n"
        )
    );
    assert_eq!(p.read("notes/note1.txt"), "made\n", "nothing was rolled back");
    assert_eq!(p.read("src/app.txt"), "greeting = my own edit\n");

    // The user puts their work away; mmm rolls back its own edit and carries on.
    p.run_git(&["stash", "push", "-u", "-q", "--", "src/app.txt", "mine.txt"]);
    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().nth(2) == Some("Recovered #1 after a crash: rolled back 1 file(s) mmm had edited"), "{text}");
    let s = session(&p);
    let outcomes: Vec<&str> =
        s["iterations"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["crashed", "committed", "committed", "committed"]);
    assert_eq!(s["iterations"][0]["score_before"], 5.0);
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
}

#[test]
fn a_second_session_on_a_busy_work_tree_is_refused_naming_the_first() {
    let p = project_with_check(CHECK);
    let stalled = Reply::stream(&Msg::new().text("thinking")).stall_after(40);
    let server = FakeApi::with([stalled]);
    let mut first = spawn_improve(&p, &server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline, "the first session never asked for its review");
        std::thread::sleep(Duration::from_millis(20));
    }
    let holder: Value = serde_json::from_str(&p.read(".mmm/lock")).unwrap();
    assert_eq!(holder["pid"], first.id());

    let second = FakeApi::start();
    let out = mmm_with(&p, &second, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: mmm (pid {} on {}, session {}, since {}) is already running in this work tree\n\
             hint: wait for it to finish or stop it (Ctrl+C), then run again; two sessions never share a work tree\n",
            first.id(),
            holder["host"].as_str().unwrap(),
            holder["session"].as_str().unwrap(),
            holder["started_at"].as_str().unwrap()
        )
    );
    assert!(second.requests().is_empty(), "the refused session asked the model nothing");

    // A lock whose process is gone is taken over.
    first.kill().unwrap();
    first.wait().unwrap();
    drop(server);
    let server = FakeApi::with([review(9.0, json!([]))]);
    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    // It ran to its end; the crashed iteration kept nothing, and the exit says so.
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let holder_now: Value = serde_json::from_str(&p.read(".mmm/lock")).unwrap();
    assert_ne!(holder_now["pid"], holder["pid"]);
}

#[test]
fn a_crash_between_a_write_and_its_journal_event_is_still_recovered() {
    let p = project_with_check(CHECK);
    let server = note_model();
    // Killed right after the `tool` event of iteration 1; taking that line out of the journal
    // leaves what a crash between the write and its event leaves: a file the journal does
    // not name, which the tools kept a record of before writing it.
    let killed = mmm_with(&p, &server, "improve").env("MMM_DEBUG_ABORT_AFTER_EVENT", "6").output().unwrap();
    assert_eq!(killed.status.signal(), Some(9));
    let journal = session_dir(&p).join("events.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&journal).unwrap().lines().map(str::to_string).collect();
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!((last["type"].as_str(), last["path"].as_str()), (Some("tool"), Some("notes/note1.txt")));
    std::fs::write(&journal, lines[..lines.len() - 1].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    assert_eq!(p.read("notes/note1.txt"), "made\n");

    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = session(&p);
    let outcomes: Vec<&str> =
        s["iterations"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["crashed", "committed", "committed", "committed"]);
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
}

#[test]
fn a_damaged_checkpoint_is_named_and_nothing_is_rolled_back_on_a_guess() {
    let p = project_with_check(CHECK);
    let server = note_model();
    let killed = mmm_with(&p, &server, "improve").env("MMM_DEBUG_ABORT_AFTER_EVENT", "6").output().unwrap();
    assert_eq!(killed.status.signal(), Some(9));
    let checkpoint = session_dir(&p).join("checkpoint.json");
    std::fs::write(&checkpoint, "{\"version\": 1, \"iter").unwrap();

    let out = mmm_with(&p, &server, "improve").arg("--resume").output().unwrap();
    let shown = checkpoint.display();
    assert_eq!(
        (out.status.code(), stderr(&out)),
        (
            Some(2),
            format!(
                "error: {shown} is damaged: EOF while parsing a string at line 1 column 20\n\
                 hint: mmm cannot tell where the interrupted iteration started: check `git status` and `git diff`, \
                 put back or stash what should not stay, remove {shown}, then run `--resume` again\n"
            )
        )
    );
    assert_eq!(p.read("notes/note1.txt"), "made\n", "nothing was rolled back");
}
