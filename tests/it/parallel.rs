//! `mmm improve --parallel N` and `mmm merge`, end to end: workers in their own work trees
//! against one fake server that routes each request to its worker by the issue it names,
//! the user's tree left as it was, one budget, Ctrl+C and `--resume`, and merges of the
//! workers' branches (clean, conflicting, failing the checks).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Recorded, Reply, TEST_KEY};
use crate::common::script::{EDITOR, done};
use crate::common::{Project, json_lines, stderr, stdout};

/// Passes unless a file under `src/` says `BUG`.
const CHECK: &str = "! grep -rq BUG src";

/// A repository with `src/a.txt` and `src/b.txt` and the check, committed.
fn project() -> Project {
    let p = Project::git();
    p.write("src/a.txt", "a = hello\n");
    p.write("src/b.txt", "b = hello\n");
    p.write(".gitignore", ".env\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n"));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "project"]);
    p
}

/// The review: one issue in each file, told apart by their markers.
fn review() -> Reply {
    Reply::stream(&Msg::new().tool_use(
        "toolu_review",
        "submit_review",
        json!({"score": 5.0, "summary": "Two files.", "issues": [
            {"severity": "high", "file": "src/a.txt", "description": "ISSUE-A: the greeting in a is curt"},
            {"severity": "high", "file": "src/b.txt", "description": "ISSUE-B: the greeting in b is curt"},
        ]}),
    ))
}

/// Which worker a request is for (by the issue its first message names), and how many
/// messages it holds; `None` for the review.
fn route(request: &Recorded) -> Option<(&'static str, usize)> {
    let body = request.json();
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    if tools.iter().any(|t| t["name"] == "submit_review") {
        return None;
    }
    let first = body["messages"][0].to_string();
    let worker = if first.contains("ISSUE-A") {
        "a"
    } else if first.contains("ISSUE-B") {
        "b"
    } else {
        panic!("a request for no worker: {first}")
    };
    Some((worker, body["messages"].as_array().unwrap().len()))
}

/// The edit a worker makes: `hello` → `new` in its own file.
fn edit(worker: &str, new: &str) -> Reply {
    let path = format!("src/{worker}.txt");
    Reply::stream(&Msg::new().tool_use(
        "toolu_edit",
        EDITOR,
        json!({"command": "str_replace", "path": path, "old_str": "hello", "new_str": new}),
    ))
}

/// A server for a whole run: the review, then per worker an edit to `new` and a closing text.
fn routed(new: &'static str) -> FakeApi {
    FakeApi::respond(move |request| match route(request) {
        None => review(),
        Some((worker, 1)) => edit(worker, new),
        Some((worker, _)) => done(&format!("Greet warmly in {worker}")),
    })
}

fn mmm(p: &Project, server: &FakeApi) -> assert_cmd::Command {
    let mut cmd = p.mmm();
    cmd.env("ANTHROPIC_API_KEY", TEST_KEY).env("ANTHROPIC_BASE_URL", server.url());
    cmd
}

/// HEAD, the branch, the index and the status of the user's tree.
fn user_state(p: &Project) -> (String, String, String, String) {
    (
        p.run_git(&["rev-parse", "HEAD"]),
        p.run_git(&["branch", "--show-current"]),
        p.run_git(&["ls-files", "--stage"]),
        p.run_git(&["status", "--porcelain", "--untracked-files=all"]),
    )
}

fn session_json(p: &Project, id: &str) -> Value {
    serde_json::from_str(&p.read(&format!(".mmm/sessions/{id}/session.json"))).unwrap()
}

fn worktrees_left(p: &Project) -> Vec<String> {
    let dir = p.root.join(".mmm/worktrees");
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned())).collect())
        .unwrap_or_default();
    left.sort();
    left
}

/// The `parallel` line of a run's JSON output.
fn parallel_line(out: &std::process::Output) -> Value {
    json_lines(out).into_iter().find(|l| l["type"] == "parallel").expect("a parallel line")
}

#[test]
fn two_workers_commit_on_their_own_branches_and_leave_the_users_tree_alone() {
    let p = project();
    p.write(".env", "TOKEN=local\n");
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{CHECK:?}]\n[parallel]\ncopy = [\".env\"]\n"));
    p.run_git(&["commit", "-qam", "copy .env"]);
    let before = user_state(&p);
    let server = routed("hi");
    let out = mmm(&p, &server).args(["improve", "--parallel", "2", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(user_state(&p), before, "HEAD, branch, index and tree unchanged");
    assert_eq!(p.read("src/a.txt"), "a = hello\n");

    let line = parallel_line(&out);
    let workers = line["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let mut ids = Vec::new();
    for (worker, file) in workers.iter().zip(["a", "b"]) {
        let id = worker["session"].as_str().unwrap().to_string();
        let branch = worker["branch"].as_str().unwrap();
        assert_eq!(
            (worker["state"].as_str(), worker["commits"].as_u64(), worker["issues"].as_u64()),
            (Some("completed"), Some(1), Some(1)),
            "{worker}"
        );
        assert_eq!(worker["stop_reason"], "every issue given to this worker (1) was committed or set aside",);
        // One commit on top of the user's HEAD, changing the worker's own file only.
        assert_eq!(p.run_git(&["rev-list", "--count", &format!("{}..{branch}", before.0.trim())]), "1\n");
        assert_eq!(p.run_git(&["diff", "--name-only", before.0.trim(), branch]), format!("src/{file}.txt\n"));
        assert_eq!(p.run_git(&["show", &format!("{branch}:src/{file}.txt")]), format!("{file} = hi\n"));
        let record = session_json(&p, &id);
        assert_eq!((record["branch"].as_str(), record["base_branch"].as_str()), (Some(branch), Some("main")));
        ids.push(id);
    }
    // Every session event printed carries its worker's id.
    let session_lines: Vec<Value> = json_lines(&out).into_iter().filter(|l| l.get("session").is_some()).collect();
    assert!(session_lines.len() > 10);
    for l in &session_lines {
        assert!(ids.iter().any(|id| l["session"] == id.as_str()), "{l}");
    }
    for id in &ids {
        assert!(session_lines.iter().any(|l| l["session"] == id.as_str() && l["type"] == "summary"));
    }
    assert_eq!(worktrees_left(&p), Vec::<String>::new(), "the work trees are removed");
    assert_eq!(p.run_git(&["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    // The review ran once; each worker asked for its edit and its closing text.
    assert_eq!(server.requests().iter().filter(|r| route(r).is_none()).count(), 1);
    assert_eq!(server.requests().len(), 5);
}

#[test]
fn the_copied_files_reach_the_checks_of_every_worker() {
    let p = project();
    let check = "test -f .env && ! grep -rq BUG src";
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{check:?}]\n[parallel]\ncopy = [\".env\"]\n"));
    p.run_git(&["commit", "-qam", "checks need .env"]);
    p.write(".env", "TOKEN=local\n");
    let server = routed("hi");
    let out = mmm(&p, &server).args(["improve", "--parallel", "2", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = parallel_line(&out);
    assert!(line["workers"].as_array().unwrap().iter().all(|w| w["commits"] == 1), "{line}");
    drop(server);

    // Without the copy, the baseline fails in each worker's tree: .env is not committed.
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{check:?}]\n"));
    p.run_git(&["commit", "-qam", "no copy"]);
    let baselines = FakeApi::respond(|request| match route(request) {
        None => review(),
        Some(_) => panic!("no worker edits: the run stops at its budget"),
    });
    let out = mmm(&p, &baselines)
        .args(["improve", "--parallel", "2", "--budget-usd", "0.00001", "--output", "json"])
        .output()
        .unwrap();
    let baseline: Vec<Value> = json_lines(&out).into_iter().filter(|l| l["type"] == "baseline").collect();
    assert_eq!(baseline.len(), 2, "{}", stdout(&out));
    assert!(baseline.iter().all(|b| b["passed"] == false), "{baseline:?}");
}

#[test]
fn one_budget_stops_every_worker() {
    let p = project();
    // The review alone costs more than the whole budget: no worker may start an iteration,
    // although neither has spent anything of its own.
    let server = FakeApi::respond(|request| match route(request) {
        None => review(),
        Some(_) => panic!("a worker asked for an edit past the run's budget"),
    });
    let out = mmm(&p, &server)
        .args(["improve", "--parallel", "2", "--budget-usd", "0.00005", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let line = parallel_line(&out);
    for worker in line["workers"].as_array().unwrap() {
        assert_eq!(worker["stop_reason"], "budget spent: $0.00 of $0.00", "{worker}");
        assert_eq!(worker["commits"], 0);
        let record = session_json(&p, worker["session"].as_str().unwrap());
        assert_eq!(record["stop_reason"]["kind"], "budget");
        // The review's 10 input and 5 output tokens at $2 and $10 per million: $0.00007.
        let spent = record["stop_reason"]["spent_usd"].as_f64().unwrap();
        assert!((spent - 0.00007).abs() < 1e-12, "{record}");
    }
    assert_eq!(server.requests().len(), 1, "only the review");
    assert!(
        stderr(&out)
            .ends_with("error: no worker kept a change\nhint: `mmm history <session>` shows what each worker tried\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_rolls_back_every_worker_and_resume_finishes_them() {
    let p = project();
    let before = user_state(&p);
    let stalled =
        |worker: &str| Reply::stream(&Msg::new().text(&format!("still thinking about {worker}"))).stall_after(90);
    let server = FakeApi::respond(move |request| match route(request) {
        None => review(),
        Some((worker, 1)) => edit(worker, "hello BUG"),
        Some((worker, _)) => stalled(worker),
    });
    let child = crate::common::mmm_std(&p.root, &p.home)
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["improve", "--parallel", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.requests().len() < 5 {
        assert!(Instant::now() < deadline, "the workers never reached their second request");
        std::thread::sleep(Duration::from_millis(20));
    }
    let trees = worktrees_left(&p);
    assert_eq!(trees.len(), 2, "both workers run in their own tree");
    for tree in &trees {
        let text = std::fs::read_to_string(p.root.join(".mmm/worktrees").join(tree).join("src/a.txt")).unwrap()
            + &std::fs::read_to_string(p.root.join(".mmm/worktrees").join(tree).join("src/b.txt")).unwrap();
        assert!(text.contains("hello BUG"), "the edit is made before the interrupt: {text}");
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(user_state(&p), before);
    assert_eq!(worktrees_left(&p), Vec::<String>::new(), "the interrupted workers' trees are removed");
    let run = stdout(&out);
    let ids: Vec<String> = trees.clone();
    for id in &ids {
        let record = session_json(&p, id);
        assert_eq!(record["status"], "interrupted", "{record}");
        assert_eq!(record["iterations"], json!([]), "the cut iteration is not recorded");
        let branch = record["branch"].as_str().unwrap();
        assert_eq!(p.run_git(&["rev-parse", branch]), before.0, "rolled back: nothing committed");
        assert!(run.contains(&format!("{id} {branch} interrupted")), "{run}");
    }
    let err = stderr(&out);
    assert!(err.contains("hint: resume every worker with `mmm improve --parallel --resume "), "{err}");
    drop(server);

    let server = routed("hi");
    let out = mmm(&p, &server).args(["improve", "--parallel", "--resume", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = parallel_line(&out);
    let mut resumed: Vec<String> =
        line["workers"].as_array().unwrap().iter().map(|w| w["session"].as_str().unwrap().to_string()).collect();
    resumed.sort();
    assert_eq!(resumed, ids);
    for id in &ids {
        let record = session_json(&p, id);
        assert_eq!(record["status"], "completed");
        assert_eq!(record["iterations"].as_array().unwrap().len(), 1);
        let branch = record["branch"].as_str().unwrap();
        assert_eq!(p.run_git(&["rev-list", "--count", &format!("{}..{branch}", before.0.trim())]), "1\n");
    }
    assert_eq!(user_state(&p), before);
    assert_eq!(worktrees_left(&p), Vec::<String>::new());
    assert_eq!(server.requests().len(), 4, "no second review: each worker edits and closes");
}

#[test]
fn a_worker_tree_whose_process_is_gone_is_removed_by_clean_and_by_the_next_start() {
    let p = project();
    p.run_git(&["worktree", "add", "-q", "--detach", ".mmm/worktrees/20260101-000000-dead", "HEAD"]);
    let out = p.mmm().args(["clean", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("Would remove worktree .mmm/worktrees/20260101-000000-dead (no running worker holds its lock)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(worktrees_left(&p), vec!["20260101-000000-dead".to_string()]);
    let out = p.mmm().args(["clean"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(worktrees_left(&p), Vec::<String>::new());
    assert_eq!(p.run_git(&["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);

    p.run_git(&["worktree", "add", "-q", "--detach", ".mmm/worktrees/20260101-000000-gone", "HEAD"]);
    let server = routed("hi");
    let out = mmm(&p, &server).args(["improve", "--parallel", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("removed the work tree of a worker that is gone"), "{}", stderr(&out));
    assert_eq!(worktrees_left(&p), Vec::<String>::new());
}

#[test]
fn a_review_with_nothing_to_fix_starts_no_worker() {
    let p = project();
    let server = FakeApi::respond(|request| match route(request) {
        None => Reply::stream(&Msg::new().tool_use(
            "toolu_review",
            "submit_review",
            json!({"score": 9.5, "summary": "Nothing to do.", "issues": []}),
        )),
        Some(_) => panic!("no worker should start"),
    });
    let out = mmm(&p, &server).args(["improve", "--parallel", "3", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = parallel_line(&out);
    assert_eq!((line["score"].as_f64(), line["workers"].clone()), (Some(9.5), json!([])));
    assert_eq!(worktrees_left(&p), Vec::<String>::new());
    assert_eq!(p.run_git(&["branch", "--list", "mmm/*"]), "");
}

#[test]
fn parallel_needs_a_number_of_workers() {
    let p = project();
    let out = p.mmm().env("ANTHROPIC_API_KEY", TEST_KEY).args(["improve", "--parallel"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --parallel needs the number of workers: --parallel N\n\
         hint: for example `mmm improve --parallel 4`; `--parallel --resume` continues the last parallel run\n"
    );
}

// ---- mmm merge ----

/// Two branches off `main`, each changing one file as given, committed.
fn branches(p: &Project, changes: &[(&str, &str, &str)]) {
    for (branch, file, text) in changes {
        p.run_git(&["switch", "-q", "-c", branch, "main"]);
        p.write(file, text);
        p.run_git(&["commit", "-qam", &format!("change {file}")]);
    }
    p.run_git(&["switch", "-q", "main"]);
}

#[test]
fn merge_combines_two_branches_without_touching_the_tree_and_runs_the_checks() {
    let p = project();
    branches(&p, &[("mmm/w1", "src/a.txt", "a = hi\n"), ("mmm/w2", "src/b.txt", "b = hi\n")]);
    let before = user_state(&p);
    let out =
        p.mmm().args(["merge", "--branches", "mmm/w*", "--into", "mmm/all", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(user_state(&p), before);
    let report = json_lines(&out).pop().unwrap();
    let commit = report["commit"].as_str().unwrap().to_string();
    assert_eq!(
        report,
        json!({"type": "merge", "into": "mmm/all", "updated": true, "commit": commit,
               "merged": ["refs/heads/mmm/w1", "refs/heads/mmm/w2"], "up_to_date": [], "conflicts": [],
               "checks": report["checks"].clone(), "checks_passed": true, "pushed": null})
    );
    assert_eq!(report["checks"][0]["command"], CHECK);
    assert_eq!(report["checks"][0]["passed"], true);
    assert_eq!(p.run_git(&["rev-parse", "mmm/all"]).trim(), commit);
    assert_eq!(p.run_git(&["show", "mmm/all:src/a.txt"]), "a = hi\n");
    assert_eq!(p.run_git(&["show", "mmm/all:src/b.txt"]), "b = hi\n");
    assert_eq!(p.run_git(&["rev-list", "--count", "--merges", "main..mmm/all"]), "2\n");
    assert_eq!(worktrees_left(&p), Vec::<String>::new(), "the checks' tree is removed");
    assert_eq!(p.run_git(&["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);

    // Merging again: nothing new.
    let out = p.mmm().args(["merge", "--branches", "mmm/w*", "--into", "mmm/all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "up to date  refs/heads/mmm/w1\nup to date  refs/heads/mmm/w2\nNot merged: nothing merged into mmm/all\n"
    );
}

#[test]
fn a_conflicting_branch_is_left_out_and_named_with_its_file() {
    let p = project();
    branches(&p, &[("mmm/w1", "src/a.txt", "a = hi\n"), ("mmm/w2", "src/a.txt", "a = hey\n")]);
    let out = p.mmm().args(["merge", "--branches", "mmm/w2", "--into", "mmm/one"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out =
        p.mmm().args(["merge", "--branches", "mmm/w1", "--into", "mmm/one", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json_lines(&out).into_iter().find(|l| l["type"] == "merge").unwrap();
    assert_eq!(report["conflicts"], json!([{"branch": "refs/heads/mmm/w1", "files": ["src/a.txt"]}]));
    assert_eq!(
        (report["merged"].clone(), report["commit"].clone(), report["updated"].clone()),
        (json!([]), Value::Null, json!(false))
    );
    assert_eq!(p.run_git(&["show", "mmm/one:src/a.txt"]), "a = hey\n", "the target did not move");
    let err = stderr(&out);
    assert!(err.contains("left out, conflicting: refs/heads/mmm/w1"), "{err}");
}

#[test]
fn a_merge_that_fails_the_checks_moves_no_branch() {
    let p = project();
    // Each branch alone passes; together they say BUG.
    let check = "! grep -q 'BU' src/a.txt || ! grep -q 'G' src/b.txt";
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = [{check:?}]\n"));
    p.run_git(&["commit", "-qam", "a check two branches can fail together"]);
    branches(&p, &[("mmm/w1", "src/a.txt", "a = BU\n"), ("mmm/w2", "src/b.txt", "b = G\n")]);
    let out = p.mmm().args(["merge", "--branches", "mmm/w*", "--into", "mmm/all"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("check       `{check}` FAILED\n")), "{text}");
    assert!(text.contains("Not merged: mmm/all was not moved (the merge "), "{text}");
    assert_eq!(
        stderr(&out),
        "error: the merged tree fails the checks: no branch was moved\n\
         hint: the merge is kept only when the checks pass; fix the branches, or merge fewer of them\n"
    );
    assert!(!p.run_git(&["branch", "--list", "mmm/all"]).contains("mmm/all"));
    assert_eq!(worktrees_left(&p), Vec::<String>::new());
}

#[test]
fn merge_refuses_a_branch_checked_out_in_a_work_tree() {
    let p = project();
    branches(&p, &[("mmm/w1", "src/a.txt", "a = hi\n")]);
    let out = p.mmm().args(["merge", "--branches", "mmm/w1", "--into", "main"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: `main` is checked out in a work tree: mmm merge never moves it\n\
         hint: merge into a new branch (leave out --into), then bring it in with `git merge --ff-only <branch>` on main\n"
    );
}

/// `git` in `dir`; panics on failure.
fn git_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A clone of `origin` in a new directory of `parent`, with a test identity.
fn clone(origin: &std::path::Path, parent: &std::path::Path, name: &str) -> std::path::PathBuf {
    let dir = parent.join(name);
    git_in(parent, &["clone", "-q", "-b", "main", origin.to_str().unwrap(), name]);
    git_in(&dir, &["config", "user.name", "mmm tests"]);
    git_in(&dir, &["config", "user.email", "tests@mmm.invalid"]);
    git_in(&dir, &["config", "commit.gpgsign", "false"]);
    dir
}

#[test]
fn merge_remote_fetches_the_shard_branches_merges_checks_and_pushes() {
    let p = project();
    let origin = p.bare_origin();
    p.run_git(&["push", "-q", "origin", "main"]);
    let runners = tempfile::tempdir().unwrap();
    // Two runners, each pushing its shard's branch.
    for (shard, file) in [(0, "a"), (1, "b")] {
        let dir = clone(origin.path(), runners.path(), &format!("runner-{shard}"));
        git_in(&dir, &["switch", "-q", "-c", &format!("mmm/shard-p1-{shard}")]);
        std::fs::write(dir.join(format!("src/{file}.txt")), format!("{file} = hi\n")).unwrap();
        git_in(&dir, &["commit", "-qam", &format!("shard {shard}")]);
        git_in(&dir, &["push", "-q", "origin", &format!("mmm/shard-p1-{shard}")]);
    }
    let merger = clone(origin.path(), runners.path(), "merger");
    let out = crate::common::mmm_in(&merger, &p.home)
        .args(["merge", "--remote", "origin", "--branches", "mmm/shard-p1-*", "--into", "mmm/merged-p1", "--push"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "merged      refs/remotes/origin/mmm/shard-p1-0\nmerged      refs/remotes/origin/mmm/shard-p1-1\n\
             check       `{CHECK}` passed\nMerged: mmm/merged-p1 is now "
        )),
        "{text}"
    );
    assert!(text.ends_with("pushed      mmm/merged-p1 to origin\n"), "{text}");
    let merged = git_in(&merger, &["rev-parse", "mmm/merged-p1"]);
    assert_eq!(crate::common::branch_head(origin.path(), "mmm/merged-p1"), merged);
    assert_eq!(git_in(&merger, &["show", "mmm/merged-p1:src/a.txt"]), "a = hi\n");
    assert_eq!(git_in(&merger, &["show", "mmm/merged-p1:src/b.txt"]), "b = hi\n");
    assert_eq!(git_in(&merger, &["status", "--porcelain"]), "", "the merger's tree is untouched");
}
