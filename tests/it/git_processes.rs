//! How many git processes mmm runs per iteration, pinned: a `git` script first on mmm's
//! `PATH` writes each invocation's arguments to a log and runs the real git. A session of
//! one iteration and a session of two are compared, so the one-off work (start, baseline,
//! finish) cancels out and what remains is one iteration's git processes. Before the
//! sequence was trimmed (2026-12-02) a kept iteration ran 17 and a rolled-back one 19.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::fake_api::{FakeApi, Reply};
use crate::common::script::{CHECK, done, issue, mmm_with, project_with_check, replace, review};

/// A directory holding a `git` that logs its arguments to `log` (one line per process)
/// and runs the git found on the test's own `PATH`.
fn counting_git(dir: &Path, log: &Path) -> PathBuf {
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .expect("git on PATH");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ printf '%s' \"$*\" | tr '\\n' ' '; echo; }} >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// The git invocations of a whole `mmm improve` run scripted by `replies`.
fn git_calls(replies: Vec<Reply>) -> Vec<String> {
    let p = project_with_check(CHECK);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("git.log");
    let bin = counting_git(tmp.path(), &log);
    let path =
        std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())))
            .unwrap();
    let server = FakeApi::with(replies);
    let out = mmm_with(&p, &server, "improve")
        .args(["-c", "fix_rounds=0", "-c", "max_stalled=5"])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect()
}

fn kept(n: usize) -> Vec<Reply> {
    let mut replies = Vec::new();
    let mut text = "hello".to_string();
    for i in 0..n {
        let next = format!("hello{i}");
        replies.extend([
            review(6.0, issue()),
            replace(&format!("toolu_{i}"), &text, &next),
            done("Change the greeting"),
        ]);
        text = next;
    }
    replies.push(review(9.0, json!([])));
    replies
}

fn rolled_back(n: usize) -> Vec<Reply> {
    let mut replies = Vec::new();
    for i in 0..n {
        replies.extend([review(6.0, issue()), replace(&format!("toolu_{i}"), "hello", "BUG"), done("Break it")]);
    }
    replies.push(review(9.0, json!([])));
    replies
}

/// The git command (`rev-parse`, `commit`, ...) of each logged invocation, past `-C <dir>`
/// and any `-c key=value`.
fn commands(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|call| {
            let words: Vec<&str> = call.split(' ').collect();
            let mut i = 0;
            while i < words.len() && (words[i] == "-C" || words[i] == "-c") {
                i += 2;
            }
            words.get(i).copied().unwrap_or_default().to_string()
        })
        .collect()
}

/// The git commands a session of two iterations ran beyond one of one iteration, sorted:
/// one iteration's git processes.
fn one_iteration(one: &[String], two: &[String]) -> Vec<String> {
    let mut extra = commands(two);
    for command in commands(one) {
        let at =
            extra.iter().position(|c| *c == command).expect("the longer session runs every command of the shorter");
        extra.remove(at);
    }
    extra.sort();
    extra
}

#[test]
fn a_kept_and_a_rolled_back_iteration_each_run_twelve_git_processes() {
    let kept_one = git_calls(kept(1));
    let kept_two = git_calls(kept(2));
    // The snapshot (HEAD and branch, one listing), the change check, the work in progress
    // (temporary index: read-tree, add, write-tree; commit-tree, update-ref), the file's
    // start for the integrity check, then staging, the commit and one `log` for the commit
    // and its line counts.
    assert_eq!(
        one_iteration(&kept_one, &kept_two),
        [
            "add",
            "add",
            "cat-file",
            "commit",
            "commit-tree",
            "log",
            "ls-files",
            "read-tree",
            "rev-parse",
            "status",
            "update-ref",
            "write-tree"
        ]
    );
    let rolled_one = git_calls(rolled_back(1));
    let rolled_two = git_calls(rolled_back(2));
    // The same up to the checks; then the line counts of what is undone (from the work
    // in progress already written), and the roll back: HEAD and branch, reset, listing.
    assert_eq!(
        one_iteration(&rolled_one, &rolled_two),
        [
            "add",
            "commit-tree",
            "diff",
            "ls-files",
            "ls-files",
            "read-tree",
            "reset",
            "rev-parse",
            "rev-parse",
            "status",
            "update-ref",
            "write-tree"
        ]
    );
    // No commit of mmm's starts git's automatic maintenance.
    for call in kept_two.iter().filter(|c| commands(std::slice::from_ref(c))[0] == "commit") {
        assert!(call.contains(" -c gc.auto=0 -c maintenance.auto=false "), "{call}");
    }
}
