//! `mmm undo`, `mmm clean` and `mmm diff` end to end: real sessions against the fake API,
//! then the session's work taken back out, the leftovers cleaned, the change shown.

use serde_json::{Value, json};

use crate::common::fake_api::FakeApi;
use crate::common::script::{
    CHECK, done, issue, mmm_with, project_with_check, replace, review, session, shorten_then_target,
};
use crate::common::{Project, branch_head, json_lines, stderr, stdout};

/// Runs `mmm improve` with `server` (and `args`), expecting success; returns the record.
fn improve(p: &Project, server: &FakeApi, args: &[&str]) -> Value {
    let out = mmm_with(p, server, "improve").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    session(p)
}

fn git_ok(p: &Project, args: &[&str]) -> String {
    p.run_git(args).trim_end().to_string()
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[test]
fn undo_deletes_the_session_branch_and_goes_back_to_the_base() {
    let p = project_with_check(CHECK);
    let start = git_ok(&p, &["rev-parse", "HEAD"]);
    let s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap(), s["branch"].as_str().unwrap());
    assert_eq!(s["base_branch"], "main");
    let head = git_ok(&p, &["rev-parse", "HEAD"]);

    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Undid session {id}: branch {branch} deleted (it was at {}).\nSwitched back to main.\n\
             To get the branch back: git branch {branch} {head}\n",
            short(&head)
        )
    );
    assert_eq!(git_ok(&p, &["branch", "--list", "mmm/*"]), "");
    assert_eq!(git_ok(&p, &["branch", "--show-current"]), "main");
    assert_eq!(git_ok(&p, &["rev-parse", "HEAD"]), start);
    assert_eq!(p.read("src/app.txt"), "greeting = hello\n");
    assert_eq!(git_ok(&p, &["status", "--porcelain"]), "");

    let s = session(&p);
    let at = s["undone"]["at"].as_str().unwrap().to_string();
    assert_eq!(
        s["undone"],
        json!({"kind": "branch_deleted", "at": at, "branch": branch, "head": head, "forced": false})
    );

    let out = p.mmm().args(["undo", id]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: session {id} was already undone at {at}: branch {branch} deleted (it was at {})\n\
             hint: there is nothing left to undo; `mmm history` lists the other sessions\n",
            short(&head)
        )
    );

    let status = stdout(&p.mmm().arg("status").output().unwrap());
    let lines: Vec<&str> = status.lines().take(3).collect();
    assert_eq!(
        lines,
        [
            format!("Last session {id}"),
            "  status      completed — target reached: score 9.0 ≥ 8.0 with the checks passing".to_string(),
            format!("  undone      {at}: branch {branch} deleted (it was at {})", short(&head)),
        ]
    );
    let history = stdout(&p.mmm().arg("history").output().unwrap());
    let row: Vec<&str> = history.lines().nth(1).unwrap().split_whitespace().take(4).collect();
    assert_eq!(row, [id, "undone", "1", "1"]);
    // In JSON, the record with its `base_branch` and `undone`, as the schema describes them.
    let detail = p.mmm().args(["history", id, "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&detail), [json!({"type": "session", "session": session(&p)})]);
    let resume = mmm_with(&p, &FakeApi::with([]), "improve").args(["--resume", id]).output().unwrap();
    assert_eq!(
        stderr(&resume),
        format!(
            "error: session {id} was undone at {at}: branch {branch} deleted (it was at {})\n\
             hint: start a new session with `mmm improve`\n",
            short(&head)
        )
    );
}

#[test]
fn a_merged_branch_is_kept_unless_forced() {
    let p = project_with_check(CHECK);
    let s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap(), s["branch"].as_str().unwrap());
    let head = git_ok(&p, &["rev-parse", "HEAD"]);
    p.run_git(&["switch", "-q", "main"]);
    p.run_git(&["merge", "-q", "--ff-only", branch]);

    let out = p.mmm().args(["undo", id]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: refusing to undo session {id}: its commits were merged into main\n\
             hint: they are part of that branch now (take them out there with `git revert`); \
             `mmm undo {id} --force` deletes {branch} anyway\n"
        )
    );
    assert_eq!(git_ok(&p, &["rev-parse", branch]), head, "the branch is kept");
    assert_eq!(session(&p)["undone"], Value::Null);

    let out = p.mmm().args(["undo", id, "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Undid session {id}: branch {branch} deleted (it was at {}), with --force.\n\
             To get the branch back: git branch {branch} {head}\n",
            short(&head)
        )
    );
    assert_eq!(git_ok(&p, &["branch", "--list", "mmm/*"]), "");
    assert_eq!(git_ok(&p, &["rev-parse", "main"]), head, "main keeps the merged commit");
    assert_eq!(session(&p)["undone"]["forced"], true);
}

#[test]
fn a_pushed_branch_is_kept_unless_forced() {
    let p = project_with_check(CHECK);
    let remote = p.bare_origin();
    let s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap(), s["branch"].as_str().unwrap());
    p.run_git(&["push", "-q", "origin", branch]);

    let out = p.mmm().args(["undo", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = format!("refusing to undo session {id}: its branch {branch} was pushed (origin/{branch})");
    let hint = format!(
        "deleting the local branch would not remove the pushed one; `mmm undo {id} --force` deletes the local branch anyway"
    );
    assert_eq!(stderr(&out), format!("error: {message}\nhint: {hint}\n"));
    // The refusal is about that session, so the error line names it.
    assert_eq!(
        json_lines(&out),
        [json!({"session": id, "type": "error", "message": message, "causes": [], "hint": hint, "exit_code": 2})]
    );
    assert_eq!(git_ok(&p, &["branch", "--show-current"]), branch, "nothing was touched");

    let out = p.mmm().args(["undo", "--force", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = &json_lines(&out)[0];
    let at = report["undone"]["at"].clone();
    let head = branch_head(remote.path(), branch).trim().to_string();
    assert_eq!(
        *report,
        json!({"type": "undo", "session": id, "switched_to": "main",
               "undone": {"kind": "branch_deleted", "at": at, "branch": branch, "head": head, "forced": true}})
    );
    assert_eq!(git_ok(&p, &["branch", "--list", "mmm/*"]), "");
    assert_eq!(git_ok(&p, &["branch", "--show-current"]), "main");
}

#[test]
fn an_in_place_session_is_reverted_by_new_commits_newest_first() {
    let p = project_with_check(CHECK);
    let start = git_ok(&p, &["rev-parse", "HEAD"]);
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(7.0, issue()),
        replace("toolu_2", "hi", "hey"),
        done("Greet casually"),
        review(9.0, json!([])),
    ]);
    let s = improve(&p, &server, &["--in-place"]);
    let id = s["id"].as_str().unwrap();
    let commits: Vec<&str> =
        s["iterations"].as_array().unwrap().iter().map(|i| i["commit"].as_str().unwrap()).collect();
    assert_eq!(commits.len(), 2);

    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("Undid session {id}: 2 commit(s) reverted on main by new commits.\n"));
    assert_eq!(
        git_ok(&p, &["log", "--format=%s", &format!("{start}..HEAD")]),
        "Revert \"mmm: Shorten the greeting\"\nRevert \"mmm: Greet casually\"\nmmm: Greet casually\nmmm: Shorten the greeting"
    );
    assert_eq!(git_ok(&p, &["diff", &start, "HEAD"]), "", "the tree is the start's again");
    assert_eq!(git_ok(&p, &["status", "--porcelain"]), "");
    let reverts = [git_ok(&p, &["rev-parse", "HEAD~1"]), git_ok(&p, &["rev-parse", "HEAD"])];
    let s = session(&p);
    assert_eq!(s["undone"], json!({"kind": "reverted", "at": s["undone"]["at"], "branch": "main", "reverts": reverts}));
}

#[test]
fn a_revert_that_would_conflict_is_refused_and_changes_nothing() {
    let p = project_with_check(CHECK);
    let s = improve(&p, &shorten_then_target(), &["--in-place"]);
    let id = s["id"].as_str().unwrap();
    let commit = s["iterations"][0]["commit"].as_str().unwrap();
    p.write("src/app.txt", "greeting = hi there\n");
    p.run_git(&["commit", "-q", "-am", "the user's own change"]);
    let head = git_ok(&p, &["rev-parse", "HEAD"]);

    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: refusing to undo session {id}: reverting {c} (mmm: Shorten the greeting) conflicts with later \
             changes to src/app.txt\nhint: nothing was changed; revert it by hand (`git revert {c}`) and resolve the \
             conflict\n",
            c = short(commit)
        )
    );
    assert_eq!(git_ok(&p, &["rev-parse", "HEAD"]), head);
    assert_eq!(git_ok(&p, &["status", "--porcelain"]), "");
    assert_eq!(p.read("src/app.txt"), "greeting = hi there\n");
    assert!(!p.root.join(".git/REVERT_HEAD").exists());
    assert_eq!(session(&p)["undone"], Value::Null);
}

#[test]
fn undo_refuses_a_dirty_tree_before_switching_and_an_unknown_session() {
    let p = project_with_check(CHECK);
    let s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap(), s["branch"].as_str().unwrap());
    p.write("src/app.txt", "greeting = mine\n");
    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: the working tree has uncommitted changes:\n  src/app.txt\n\
             hint: commit or stash them first: undo switches back to main before deleting {branch}\n"
        )
    );
    assert_eq!(git_ok(&p, &["branch", "--show-current"]), branch);
    assert_eq!(p.read("src/app.txt"), "greeting = mine\n");
    assert_eq!(session(&p)["id"], id);

    for command in [["undo", "nope"], ["diff", "nope"]] {
        let out = p.mmm().args(command).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            stderr(&out),
            "error: no session `nope` in this repository\nhint: `mmm history` lists the sessions\n"
        );
    }
    let empty = project_with_check(CHECK);
    let out = empty.mmm().arg("undo").output().unwrap();
    assert_eq!(
        stderr(&out),
        "error: there are no mmm sessions in this repository yet\nhint: start one with `mmm improve`\n"
    );
}

#[test]
fn clean_removes_empty_session_branches_stale_worktrees_and_wip_refs_only() {
    let p = project_with_check(CHECK);
    let kept = improve(&p, &shorten_then_target(), &[]);
    p.run_git(&["switch", "-q", "main"]);
    let empty = improve(&p, &FakeApi::with([review(9.0, json!([]))]), &[]);
    assert_eq!(empty["iterations"], json!([]));
    let (kept_branch, empty_branch) = (kept["branch"].as_str().unwrap(), empty["branch"].as_str().unwrap());
    let empty_id = empty["id"].as_str().unwrap();
    // The empty session's branch is checked out, so it stays until we leave it.
    let out = p.mmm().args(["clean", "--dry-run"]).output().unwrap();
    assert_eq!(stdout(&out), "Nothing to clean.\n");
    p.run_git(&["switch", "-q", "main"]);

    let tree = p.root.parent().unwrap().join("stale-tree");
    p.run_git(&["worktree", "add", "-q", "--detach", tree.to_str().unwrap()]);
    std::fs::remove_dir_all(&tree).unwrap();
    p.run_git(&["update-ref", "refs/mmm/wip/gone", "HEAD"]);
    let refs = || git_ok(&p, &["for-each-ref", "--format=%(refname)"]);
    let before = refs();

    let out = p.mmm().args(["clean", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Would remove branch {empty_branch} (session {empty_id} made no commit)\n\
             Would remove worktree stale-tree (gitdir file points to non-existent location)\n\
             Would remove ref refs/mmm/wip/gone (no session gone in this repository)\n\
             3 would be removed (dry run: nothing was changed).\n"
        )
    );
    assert_eq!(refs(), before);
    assert!(git_ok(&p, &["worktree", "list"]).contains("stale-tree"));

    let out = p.mmm().arg("clean").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "Removed branch {empty_branch} (session {empty_id} made no commit)\n\
             Removed worktree stale-tree (gitdir file points to non-existent location)\n\
             Removed ref refs/mmm/wip/gone (no session gone in this repository)\n\
             3 removed.\n"
        )
    );
    assert_eq!(git_ok(&p, &["branch", "--list", "mmm/*", "--format=%(refname:short)"]), kept_branch);
    assert_eq!(git_ok(&p, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git_ok(&p, &["for-each-ref", "--format=%(refname)", "refs/mmm/"]), "");

    let out = p.mmm().args(["clean", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&out), [json!({"type": "clean", "dry_run": false, "removed": [], "count": 0})]);
}

#[test]
fn diff_shows_what_a_session_committed_and_why_an_iteration_has_nothing() {
    let p = project_with_check(CHECK);
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(6.0, issue()),
        replace("toolu_2", "hi", "BUG"),
        done("Break it"),
        done("Still trying"),
    ]);
    let s = improve(&p, &server, &["--max-iterations", "2", "-c", "fix_rounds=1"]);
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["iterations"][1]["outcome"], "rolled_back");
    let commit = s["iterations"][0]["commit"].as_str().unwrap();

    let out = p.mmm().arg("diff").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (old, new) = (
        git_ok(&p, &["rev-parse", "--short", &format!("{commit}~1:src/app.txt")]),
        git_ok(&p, &["rev-parse", "--short", &format!("{commit}:src/app.txt")]),
    );
    assert_eq!(
        stdout(&out),
        format!(
            "diff --git a/src/app.txt b/src/app.txt\nindex {old}..{new} 100644\n--- a/src/app.txt\n\
             +++ b/src/app.txt\n@@ -1 +1 @@\n-greeting = hello\n+greeting = hi\n"
        )
    );
    let start = s["start_commit"].as_str().unwrap();
    let coloured = p.mmm().args(["--color", "always", "diff"]).output().unwrap();
    assert_eq!(stdout(&coloured), p.run_git(&["diff", "--color=always", start, commit, "--"]));
    assert!(stdout(&coloured).contains('\u{1b}'));
    let json = json_lines(&p.mmm().args(["--output", "json", "diff"]).output().unwrap());
    assert_eq!(
        json,
        [json!({"type": "diff", "session": id, "iteration": null, "from": start, "to": commit, "diff": stdout(&out)})]
    );
    let out = p.mmm().args(["diff", id, "--iteration", "1"]).output().unwrap();
    assert_eq!(stdout(&out), p.run_git(&["show", "--color=never", commit, "--"]));

    let out = p.mmm().args(["diff", "--iteration", "2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: iteration 2 of session {id} was rolled back, so it has no commit: checks still failing after 1 \
             fix round(s): `{CHECK}` failed (exit 1)\nhint: `mmm history {id}` shows what each iteration did\n"
        )
    );
    let out = p.mmm().args(["diff", "--iteration", "3"]).output().unwrap();
    assert_eq!(
        stderr(&out),
        format!("error: session {id} has no iteration 3 (it ran 2)\nhint: `mmm history {id}` lists its iterations\n")
    );

    p.run_git(&["switch", "-q", "main"]);
    let none = improve(&p, &FakeApi::with([review(9.0, json!([]))]), &[]);
    let none_id = none["id"].as_str().unwrap();
    let out = p.mmm().arg("diff").output().unwrap();
    assert_eq!(
        stderr(&out),
        format!(
            "error: session {none_id} made no commit: 0 iteration(s), none committed\n\
             hint: `mmm history {none_id}` shows what each iteration did\n"
        )
    );
}

#[test]
fn commits_that_are_not_the_sessions_keep_its_branch() {
    let p = project_with_check(CHECK);
    let s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap(), s["branch"].as_str().unwrap());
    p.write("notes.txt", "mine\n");
    p.run_git(&["add", "notes.txt"]);
    p.run_git(&["commit", "-q", "-m", "my notes"]);
    let mine = git_ok(&p, &["rev-parse", "HEAD"]);

    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: refusing to undo session {id}: {branch} holds commits that are not the session's:\n  {} my notes\n\
             hint: deleting the branch would lose them; put them on another branch first, or pass --force \
             (`mmm undo {id} --force`)\n",
            short(&mine)
        )
    );
    assert_eq!(git_ok(&p, &["rev-parse", branch]), mine);

    // A branch under mmm/ with a commit of its own is never cleaned, record or not.
    p.run_git(&["switch", "-q", "-c", "mmm/by-hand", "main"]);
    p.write("by-hand.txt", "work\n");
    p.run_git(&["add", "by-hand.txt"]);
    p.run_git(&["commit", "-q", "-m", "by hand"]);
    p.run_git(&["switch", "-q", "main"]);
    p.run_git(&["branch", "mmm/no-commits", "main"]);
    let out = p.mmm().arg("clean").output().unwrap();
    assert_eq!(
        stdout(&out),
        "Removed branch mmm/no-commits (no session of its own; no commit of its own)\n1 removed.\n"
    );
    assert_eq!(
        git_ok(&p, &["branch", "--list", "mmm/*", "--format=%(refname:short)"]),
        format!("mmm/by-hand\n{branch}")
    );
}

#[test]
fn a_record_from_before_base_branch_was_kept_still_loads_and_undo_asks_to_switch() {
    let p = project_with_check(CHECK);
    let mut s = improve(&p, &shorten_then_target(), &[]);
    let (id, branch) = (s["id"].as_str().unwrap().to_string(), s["branch"].as_str().unwrap().to_string());
    s.as_object_mut().unwrap().remove("base_branch");
    p.write(&format!(".mmm/sessions/{id}/session.json"), &serde_json::to_string_pretty(&s).unwrap());

    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {branch} is checked out and session {id} does not record the branch it started from\n\
             hint: switch to another branch (`git switch main`), then run `mmm undo {id}` again\n"
        )
    );
    p.run_git(&["switch", "-q", "main"]);
    let out = p.mmm().arg("undo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(git_ok(&p, &["branch", "--list", "mmm/*"]), "");
}
