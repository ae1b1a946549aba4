//! `mmm run`, `mmm specs` and `mmm spec new` end to end: the real binary in a temporary
//! repository against the fake Anthropic server. As in the improve tests, the project's
//! check passes unless `src/app.txt` contains `BUG`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::{
    CHECK, create, done, last_message_text, mmm_with, project_with_check, replace, session, state, verdict,
};
use crate::common::{Project, json_lines, stderr, stdout};

const GREET: &str = "---\nid: 001-greet\n---\n# Greet the world\n\nThe greeting should name the world.\n\n\
## Acceptance Criteria\n\n- [ ] Says hello\n- [x] Stays one line\n- [ ] Says goodbye\n\n## Notes\n\n- [ ] not a criterion\n";

fn project() -> Project {
    project_with_check(CHECK)
}

fn run(p: &Project, server: &FakeApi) -> assert_cmd::Command {
    mmm_with(p, server, "run")
}

#[test]
fn a_spec_is_implemented_verified_and_committed_with_its_criteria_ticked() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    let start = p.run_git(&["rev-parse", "HEAD"]);
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world, goodbye"),
        done("Greet the world\n\nThe greeting names the world."),
        verdict(&[true, true, true]),
    ]);
    let out = run(&p, &server).arg("specs/001-greet.md").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let s = session(&p);
    let id = s["id"].as_str().unwrap();
    assert_eq!(
        p.run_git(&["log", "-1", "--format=%B"]),
        format!(
            "mmm: implement 001-greet — Greet the world\n\nGreet the world\n\nThe greeting names the world.\n\n\
             Mmm-Session: {id}\n\n"
        )
    );
    assert_eq!(p.run_git(&["show", "--name-only", "--format=", "HEAD"]), "specs/001-greet.md\nsrc/app.txt\n");
    assert_eq!(p.run_git(&["rev-parse", "HEAD~1"]), start);
    assert_eq!(p.read("specs/001-greet.md"), GREET.replace("- [ ] Says", "- [x] Says"));
    assert_eq!(p.read("src/app.txt"), "greeting = hello world, goodbye\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    assert!(p.run_git(&["branch", "--show-current"]).starts_with("mmm/spec-001-greet-"));

    let st = state(&p);
    assert_eq!(st["specs"]["001-greet"]["status"], "done");
    assert_eq!(st["specs"]["001-greet"]["session"], id);
    assert_eq!((s["kind"].as_str(), s["status"].as_str()), (Some("spec"), Some("completed")));
    assert_eq!(s["spec"]["path"], "specs/001-greet.md");
    assert_eq!(s["spec"]["criteria"].as_array().unwrap().iter().filter(|c| c["met"] == true).count(), 3);
    assert_eq!(s["stop_reason"], json!({"kind": "implemented", "spec": "001-greet"}));

    let history = p.mmm().arg("history").output().unwrap();
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    assert!(stdout(&history).contains(id), "{}", stdout(&history));
    let status = p.mmm().args(["status", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&status)[0]["last_session"]["spec"]["id"], "001-greet");

    // The verification is a fresh request that sees the criteria, numbered, and the diff.
    let verify = server.request(2).json();
    assert_eq!(verify["messages"].as_array().unwrap().len(), 1);
    assert_eq!(verify["tools"][0]["name"], "submit_verdict");
    let text = last_message_text(&server, 2);
    assert!(text.contains("1. Says hello\n2. Stays one line\n3. Says goodbye\n"), "{text}");
    assert!(text.contains("+greeting = hello world, goodbye"), "{text}");
    assert!(!text.contains("4. "), "only the criteria section's items are numbered: {text}");

    // Done specs are skipped unless forced, without needing a key.
    let out = p.mmm().args(["run", "specs/001-greet.md"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Skipping 001-greet: done (use --force to run it again)\n");
}

#[test]
fn unmet_criteria_go_back_into_the_same_conversation() {
    let p = project();
    // An uncommitted spec may be run; the implementing commit adds it.
    p.write("specs/001-greet.md", GREET);
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world"),
        done("Greet the world"),
        verdict(&[true, true, false]),
        replace("toolu_2", "world", "world, goodbye"),
        done("Say goodbye too"),
        verdict(&[true, true, true]),
    ]);
    let out = run(&p, &server).args(["specs/001-greet.md", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = last_message_text(&server, 3);
    assert!(
        text.starts_with(
            "The checks pass, but a reviewer found that these criteria are not met yet (round 1 of 10):\n\n\
             3. Says goodbye — no farewell\n"
        ),
        "{text}"
    );
    // The same conversation: the first request's message and both answers are in it.
    assert_eq!(server.request(3).json()["messages"].as_array().unwrap().len(), 5);
    assert_eq!(p.read("src/app.txt"), "greeting = hello world, goodbye\n");
    assert_eq!(p.run_git(&["show", "--name-only", "--format=", "HEAD"]), "specs/001-greet.md\nsrc/app.txt\n");
    let types: Vec<String> = json_lines(&out).iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        types.iter().filter(|t| ["verdict", "spec_finished"].contains(&t.as_str())).collect::<Vec<_>>(),
        vec!["verdict", "verdict", "spec_finished"]
    );
}

#[test]
fn criteria_still_unmet_after_the_last_round_fail_the_spec_with_the_verdict() {
    let p = project();
    p.write("specs/001-greet.md", &GREET.replace("id: 001-greet\n", "id: 001-greet\nmax_iterations: 1\n"));
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world"),
        done("Greet the world"),
        Reply::stream(&Msg::new().text("All good, I think.")),
        verdict(&[true, true, false]),
    ]);
    let out = run(&p, &server).arg("specs/001-greet.md").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("error: spec `001-greet` was not implemented: 1 of 3 criteria still unmet after 1 round(s)"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("unmet: 3. Says goodbye"), "{}", stdout(&out));
    // The verifier was reminded once to call the tool.
    assert_eq!(
        last_message_text(&server, 3),
        "You did not call `submit_verdict`. Call it now, exactly once, judging every criterion by its number."
    );
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    let s = session(&p);
    assert_eq!(s["status"], "failed");
    assert_eq!(
        s["spec"]["criteria"][2],
        json!({"index": 3, "text": "Says goodbye", "met": false, "evidence": "no farewell"})
    );
    assert_eq!(state(&p)["specs"]["001-greet"]["status"], "failed");
}

#[test]
fn a_spec_whose_checks_never_pass_is_rolled_back_and_recorded_as_failed() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    let head = p.run_git(&["rev-parse", "HEAD"]);
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello BUG"),
        create("toolu_2", "src/new/extra.txt"),
        done("Greet"),
        done("Still greeting"),
    ]);
    let out = run(&p, &server).args(["specs/001-greet.md", "-c", "fix_rounds=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: spec `001-greet` was not implemented: checks still failing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.run_git(&["rev-parse", "HEAD"]), head);
    assert_eq!(p.run_git(&["status", "--porcelain", "--untracked-files=all"]), "");
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert!(!p.root.join("src/new").exists());
    assert_eq!(p.read("specs/001-greet.md"), GREET);
    assert_eq!(state(&p)["specs"]["001-greet"]["status"], "failed");
    let s = session(&p);
    assert_eq!(s["status"], "failed");
    assert_eq!(s["iterations"][0]["outcome"], "rolled_back");
    assert!(s["spec"]["last_check_output"].as_str().unwrap().contains("grep -q BUG"), "{s}");
}

#[test]
fn a_spent_token_budget_fails_the_spec_before_verifying() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    let server = FakeApi::with([replace("toolu_1", "hello", "hello world")]);
    let out = run(&p, &server).args(["specs/001-greet.md", "--max-tokens", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was not implemented: token limit reached: 15 of 1 before the criteria were verified"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? specs/\n", "the user's new spec is kept");
    assert_eq!(state(&p)["specs"]["001-greet"]["status"], "failed");
}

#[test]
fn a_rejected_commit_leaves_nothing_half_done() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    // It refuses only a change to src/app.txt, so preflight's empty test commit passes.
    let hook = p.write(
        ".git/hooks/pre-commit",
        "#!/bin/sh\nif git diff --cached --name-only | grep -q app.txt; then echo no commits today >&2; exit 1; fi\n",
    );
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world, goodbye"),
        done("Greet the world"),
        verdict(&[true, true, true]),
    ]);
    let out = run(&p, &server).arg("specs/001-greet.md").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no commits today"), "{}", stderr(&out));
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    assert_eq!(p.read("specs/001-greet.md"), GREET);
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
}

fn spec_file(p: &Project, name: &str, title: &str, deps: &str) {
    p.write(&format!("specs/{name}.md"), &format!("---\ndepends_on: [{deps}]\n---\n# {title}\n\nMake a file.\n"));
}

#[test]
fn a_directory_runs_in_dependency_order_and_a_cycle_is_refused() {
    let p = project();
    spec_file(&p, "001-base", "Base", "");
    spec_file(&p, "002-top", "Top", "003-mid");
    spec_file(&p, "003-mid", "Mid", "001-base");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "specs"]);
    let server = FakeApi::with([
        create("toolu_1", "base.txt"),
        done("Base"),
        create("toolu_2", "mid.txt"),
        done("Mid"),
        create("toolu_3", "top.txt"),
        done("Top"),
    ]);
    let out = run(&p, &server).arg("specs").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("has no acceptance criteria"), "{}", stderr(&out));
    assert_eq!(
        p.run_git(&["log", "-3", "--format=%s"]),
        "mmm: implement 002-top — Top\nmmm: implement 003-mid — Mid\nmmm: implement 001-base — Base\n"
    );
    let st = state(&p);
    for id in ["001-base", "002-top", "003-mid"] {
        assert_eq!(st["specs"][id]["status"], "done", "{id}");
    }

    // A spec whose dependency is not done is not run (unless forced).
    spec_file(&p, "006-later", "Later", "009-unknown");
    let out = run(&p, &server).arg("specs/006-later.md").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .starts_with("error: spec `006-later` was not run: it depends on `009-unknown`, which is not done\n"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(p.root.join("specs/006-later.md")).unwrap();

    // `--only` picks one spec; done ones are still skipped; an unknown id is a usage error.
    let out = run(&p, &server).args(["specs", "--only", "003-mid", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out), vec![json!({"type": "spec_skipped", "spec": "003-mid", "status": "done"})]);
    let out = run(&p, &server).args(["specs", "--only", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: no spec with the id `nope` in "), "{}", stderr(&out));

    spec_file(&p, "004-a", "A", "005-b");
    spec_file(&p, "005-b", "B", "004-a");
    let out = run(&p, &server).arg("specs").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: the specs depend on each other in a cycle: `004-a`, `005-b`\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn keep_going_runs_the_specs_a_failure_does_not_block() {
    let p = project();
    spec_file(&p, "001-a", "A", "");
    spec_file(&p, "002-b", "B", "001-a");
    spec_file(&p, "003-c", "C", "");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "specs"]);
    let server =
        FakeApi::with([replace("toolu_1", "hello", "hello BUG"), done("A"), create("toolu_2", "c.txt"), done("C")]);
    let out = run(&p, &server).args(["specs", "--keep-going", "-c", "fix_rounds=0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: specs/001-a.md has no acceptance criteria"), "{err}");
    assert!(err.contains("\nerror: 2 specs were not implemented: `001-a`, `002-b`\n"), "{err}");
    assert_eq!(p.run_git(&["log", "-1", "--format=%s"]), "mmm: implement 003-c — C\n");
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    let st = state(&p);
    assert_eq!(
        (st["specs"]["001-a"]["status"].as_str(), st["specs"]["003-c"]["status"].as_str()),
        (Some("failed"), Some("done"))
    );
    assert!(st["specs"].get("002-b").is_none(), "a blocked spec stays pending");
}

#[test]
fn bad_front_matter_is_a_usage_error_naming_file_and_line() {
    let p = project();
    p.write("specs/001-bad.md", "---\nid: 001-bad\ndepends_on: [x\n---\n# Bad\n");
    let out = p.mmm().args(["run", "specs/001-bad.md"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: specs/001-bad.md:3:13: malformed front matter: unclosed bracket '['\n\
         hint: see `mmm spec new --help` for the format of a spec file\n"
    );

    p.write("specs/001-bad.md", "---\nid: 001-bad\ntitel: typo\n---\n# Bad\n");
    let out = p.mmm().args(["run", "specs/001-bad.md"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: specs/001-bad.md:3:1: malformed front matter: unknown field `titel`"), "{err}");

    p.write("specs/002-dup.md", "---\nid: 001-bad\n---\n");
    p.write("specs/001-bad.md", "# Fine\n");
    let out = p.mmm().args(["specs"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .starts_with("error: specs/002-dup.md:1: the spec id `001-bad` is already used by specs/001-bad.md\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_rolls_back_and_resume_implements_the_spec() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    let stalled = Reply::stream(&Msg::new().text("I am still thinking about this")).stall_after(120);
    let server = FakeApi::with([replace("toolu_1", "hello", "hello BUG"), stalled]);
    let child = crate::common::mmm_std(&p.root, &p.home)
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["run", "specs/001-greet.md"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.requests().len() < 2 {
        assert!(Instant::now() < deadline, "mmm never reached the editing step");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.read("src/app.txt"), "greeting = hello BUG\n");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    let s = session(&p);
    assert_eq!((s["status"].as_str(), s["stop_reason"]["kind"].as_str()), (Some("interrupted"), Some("interrupted")));
    assert!(stderr(&out).contains(&format!("hint: resume with `mmm run --resume {}`", s["id"].as_str().unwrap())));
    assert!(state(&p).get("specs").is_none(), "an interrupted spec stays pending");
    drop(server);

    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world, goodbye"),
        done("Greet the world"),
        verdict(&[true, true, true]),
    ]);
    let out = run(&p, &server).arg("--resume").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let resumed = session(&p);
    assert_eq!((resumed["id"].clone(), resumed["status"].as_str()), (s["id"].clone(), Some("completed")));
    assert!(stdout(&out).starts_with("Resuming session"), "{}", stdout(&out));
    assert_eq!(p.run_git(&["log", "-1", "--format=%s"]), "mmm: implement 001-greet — Greet the world\n");
    assert_eq!(state(&p)["specs"]["001-greet"]["status"], "done");
}

#[test]
fn run_flags_are_settings() {
    let p = project();
    let out = p.mmm().args(["run", "--budget-usd", "lots", "specs/x.md"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--budget-usd: `budget_usd` must be a number, found `lots`"), "{}", stderr(&out));
    let out = p.mmm().args(["run", "specs/missing.md"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: no spec file or directory at specs/missing.md\n"), "{}", stderr(&out));
}

#[test]
fn specs_lists_status_and_dependencies() {
    let p = project();
    spec_file(&p, "001-base", "Base", "");
    spec_file(&p, "002-top", "Top", "001-base");
    p.write(
        ".mmm/state.json",
        r#"{"version": 1, "last_session": null, "current_score": null,
            "totals": {"sessions": 0, "iterations": 0, "commits": 0, "cost_usd": 0.0,
              "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
            "specs": {"001-base": {"status": "done", "last_run": "2026-11-24T06:15:00Z", "session": "s1"}}}"#,
    );
    let out = p.mmm().args(["specs", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        vec![
            json!({"type": "spec", "id": "001-base", "title": "Base", "path": "specs/001-base.md", "status": "done",
                   "depends_on": [], "criteria": 0, "last_run": "2026-11-24T06:15:00Z", "session": "s1"}),
            json!({"type": "spec", "id": "002-top", "title": "Top", "path": "specs/002-top.md", "status": "pending",
                   "depends_on": ["001-base"], "criteria": 0, "last_run": null, "session": null}),
        ]
    );
    let out = p.mmm().arg("specs").output().unwrap();
    assert_eq!(
        stdout(&out),
        "ID        STATUS    LAST RUN           TITLE\n\
         001-base  done      2026-11-24 06:15   Base\n\
         002-top   pending   —                  Top  (after 001-base)\n"
    );
    let empty = project();
    assert_eq!(
        stdout(&empty.mmm().arg("specs").output().unwrap()),
        "No specs yet: write one with `mmm spec new \"Title\"`.\n"
    );
}

#[test]
fn spec_new_writes_numbered_skeletons() {
    let p = project();
    let out = p.mmm().args(["spec", "new", "Retry budget"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Wrote specs/001-retry-budget.md: describe the goal, list the acceptance criteria, then \
         `mmm run specs/001-retry-budget.md`\n"
    );
    p.write("specs/007-other.md", "# Other\n");
    let out = p.mmm().args(["spec", "new", "Top N: errors!"]).output().unwrap();
    assert!(stdout(&out).starts_with("Wrote specs/008-top-n-errors.md"), "{}", stdout(&out));
    let text = p.read("specs/008-top-n-errors.md");
    assert!(text.starts_with("---\nid: 008-top-n-errors\ndepends_on: []\n"), "{text}");
    assert!(text.contains("\n---\n# Top N: errors!\n\n") && text.ends_with("## Acceptance Criteria\n\n- [ ] One observable fact that holds when this is done (replace this example)\n"), "{text}");
    // The skeleton is a valid spec.
    let out = p.mmm().args(["specs", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&out).len(), 3, "{}", stderr(&out));
}

#[test]
fn a_run_leaves_a_report_outputs_and_a_pushed_branch_for_ci() {
    let p = project();
    p.write("specs/001-greet.md", GREET);
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    let remote = p.bare_origin();
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world, goodbye"),
        done("Greet the world"),
        verdict(&[true, true, true]),
    ]);
    let report = p.root.join("../report.md");
    let outputs = p.root.join("../github_output");
    let out = run(&p, &server)
        .env("CI", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .args(["specs/001-greet.md", "--push", "--summary-file"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = session(&p);
    let branch = s["branch"].as_str().unwrap();
    let markdown = std::fs::read_to_string(&report).unwrap();
    assert!(markdown.starts_with("## mmm run: completed\n"), "{markdown}");
    assert!(markdown.contains(branch), "{markdown}");
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.starts_with(&format!("branch={branch}\ncommits=1\n")), "{written}");
    assert_eq!(crate::common::branch_head(remote.path(), branch), p.run_git(&["rev-parse", "HEAD"]));
}
