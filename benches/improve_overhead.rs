//! How much time `mmm improve` itself adds per iteration.
//!
//! A 10,000-file repository, a fake Anthropic server on loopback that answers at once, and
//! a validation command that does nothing (`true`): what remains is mmm's own work (state,
//! journal, tools, prompts) plus the git operations every iteration needs. The same git
//! commands mmm runs in a committed iteration (the snapshot's HEAD and branch, its one
//! untracked listing, the change check, the work-in-progress commit under a ref, the check
//! itself, the file's start for the integrity check, staging the changed file, the commit,
//! one `log` for the commit and its numstat: 12 git processes), run bare, are timed as the
//! reference floor, and both are printed side by side.
//!
//! Run: `cargo bench --bench improve_overhead` (add `-- --iterations N` to change N).

#[path = "../tests/it/common/fake_api.rs"]
mod fake_api;

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_api::{FakeApi, Msg, Reply};
use serde_json::json;

const FILES: usize = 10_000;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("git prints UTF-8 here")
}

fn make_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "bench"]);
    git(dir, &["config", "user.email", "bench@mmm.invalid"]);
    for i in 0..FILES {
        let sub = dir.join(format!("src/m{:03}", i / 100));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.rs")), format!("pub fn f{i}() -> usize {{\n    {i}\n}}\n")).unwrap();
    }
    std::fs::write(dir.join("counter.txt"), "0\n").unwrap();
    std::fs::create_dir_all(dir.join(".mmm")).unwrap();
    std::fs::write(dir.join(".mmm/config.toml"), "[validate]\ncommands = [\"true\"]\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

fn review(score: f64) -> Reply {
    let issues = if score >= 9.0 { json!([]) } else { json!([{"severity": "low", "description": "bump the counter"}]) };
    Reply::message(&Msg::new().tool_use(
        "toolu_r",
        "submit_review",
        json!({"score": score, "summary": "s", "issues": issues}),
    ))
}

/// Wall time of a whole `mmm improve` run of `iterations` committed iterations.
fn time_mmm(iterations: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path());
    let server = FakeApi::start();
    for i in 0..iterations {
        server.push(review(5.0));
        server.push(Reply::message(&Msg::new().tool_use(
            "toolu_e",
            "str_replace_based_edit_tool",
            json!({"command": "str_replace", "path": "counter.txt", "old_str": format!("{i}\n"), "new_str": format!("{}\n", i + 1)}),
        )));
        server.push(Reply::message(&Msg::new().text("Bump the counter")));
    }
    server.push(review(9.0));
    let started = Instant::now();
    let out = common::run_improve(Path::new(env!("CARGO_BIN_EXE_mmm")), dir.path(), &server.url(), iterations + 1);
    let elapsed = started.elapsed();
    assert!(out.status.success(), "mmm failed: {}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

/// The git commands of one committed iteration (as `src/git.rs` runs them), done bare,
/// `iterations` times.
fn time_git_floor(iterations: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path());
    let started = Instant::now();
    for i in 0..iterations {
        // Git::snapshot: HEAD and branch in one process, one listing of untracked entries
        let head = git(dir.path(), &["rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD"]);
        let head = head.lines().next().unwrap().to_string();
        git(dir.path(), &["ls-files", "--others", "--exclude-standard", "-z", "--directory"]);
        std::fs::write(dir.path().join("counter.txt"), format!("{}\n", i + 1)).unwrap();
        // Git::paths_changed
        git(dir.path(), &["status", "--porcelain=v1", "--untracked-files=all", "--", ":(literal)counter.txt"]);
        // Git::save_wip: the work in progress kept under a ref before the checks run, on the
        // iteration's start (already known)
        let index = tempfile::NamedTempFile::new().unwrap();
        let on_index = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_INDEX_FILE", index.path())
                .output()
                .expect("git runs");
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        on_index(&["read-tree", &head]);
        on_index(&["add", "--all", "--", ":(literal)counter.txt"]);
        let tree = on_index(&["write-tree"]);
        let wip = on_index(&["commit-tree", &tree, "-p", &head, "-m", "wip"]);
        git(dir.path(), &["update-ref", "refs/mmm/wip/bench", &wip]);
        // The check itself (`true`, through the shell as mmm runs it): the project's cost
        assert!(Command::new("sh").args(["-c", "true"]).current_dir(dir.path()).status().unwrap().success());
        // Validation integrity: the file as it was at the iteration's start
        git(dir.path(), &["cat-file", "blob", &format!("{head}:counter.txt")]);
        // Git::commit_paths_counted: stage, commit without automatic maintenance, then the
        // commit and its line counts from one `git log`
        git(dir.path(), &["add", "--all", "--", ":(literal)counter.txt"]);
        git(dir.path(), &["-c", "gc.auto=0", "-c", "maintenance.auto=false", "commit", "--quiet", "--message", "bump"]);
        git(
            dir.path(),
            &[
                "-c",
                "log.showSignature=false",
                "log",
                "-1",
                "-z",
                "--no-renames",
                "--numstat",
                "--format=%H%x00%P",
                "HEAD",
                "--",
            ],
        );
    }
    started.elapsed()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations = args
        .iter()
        .position(|a| a == "--iterations")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
        .max(2);
    let runs = 3;
    // One-off costs (analysis, baseline checks, the final review) are the same for one
    // iteration and for N, so the difference divided by N - 1 is the cost of an iteration.
    let one = median((0..runs).map(|_| time_mmm(1)).collect());
    let many = median((0..runs).map(|_| time_mmm(iterations)).collect());
    let floor = median((0..runs).map(|_| time_git_floor(iterations)).collect());
    let mmm_per = (many.as_secs_f64() - one.as_secs_f64()) * 1000.0 / (iterations - 1) as f64;
    let floor_per = floor.as_secs_f64() * 1000.0 / iterations as f64;
    println!("improve overhead: {FILES} files, fake API answering at once, check `true`, median of {runs} runs");
    println!("{:<48} {:>14}", "", "per iteration");
    println!("{:<48} {:>11.1} ms", "mmm improve (review, edit, check, commit)", mmm_per);
    println!("{:<48} {:>11.1} ms", "reference: the same git operations, run bare", floor_per);
    println!("{:<48} {:>11.1} ms", "mmm's own overhead (difference)", mmm_per - floor_per);
    println!(
        "{:<48} {:>11.0} ms",
        "one-off start (analysis, baseline, last review)",
        one.as_secs_f64() * 1000.0 - mmm_per
    );
}
