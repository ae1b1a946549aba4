//! The sandbox end to end, with the kernel's real Landlock and seccomp: a check may write in
//! the repository but not outside it, cannot reach a loopback listener, and a `build.rs` the
//! model wrote cannot leave anything outside the repository. Each test also runs its
//! command with the sandbox off (or the network allowed) to prove the check it makes can fail.
//!
//! mmm's temporary directory is pointed inside the test's home (`TMPDIR`), so that a
//! directory the test owns elsewhere under /tmp is outside everything writable.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::fake_api::FakeApi;
use crate::common::script::{done, edit, events, issue, mmm_with, project_with_check, review};
use crate::common::{Project, json_lines, stderr};

/// `mmm improve --dry-run` (no key: the baseline checks only) with extra `-c` settings;
/// whether the baseline passed.
fn baseline_passes(p: &Project, settings: &[&str]) -> bool {
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = p.mmm();
    cmd.env("TMPDIR", &tmp).args(["improve", "--dry-run", "--output", "json"]);
    for setting in settings {
        cmd.args(["-c", setting]);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    lines.last().unwrap()["baseline_passed"].as_bool().unwrap()
}

/// A directory of the test's own, outside the project and mmm's temporary directory.
fn outside() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_check_writes_inside_the_repository_but_not_outside() {
    let out = outside();
    let target = out.path().join("escaped");
    // Passes only when the write inside works and the one outside fails.
    let check = format!("echo in > inside.txt && ! (echo out > {}) 2> denied.txt", target.display());
    let p = project_with_check(&check);
    assert!(baseline_passes(&p, &[]));
    assert_eq!(p.read("inside.txt"), "in\n");
    assert!(!target.exists(), "the check wrote outside the repository");
    let denied = p.read("denied.txt");
    assert!(denied.trim_end().ends_with(&format!("{}: Permission denied", target.display())), "{denied}");

    // Unconfined, the same write succeeds (and the check fails).
    assert!(!baseline_passes(&p, &["sandbox.mode=off"]));
    assert_eq!(read(&target), "out\n");
}

#[test]
fn configured_writable_directories_are_writable() {
    let out = outside();
    let target = out.path().join("cache-entry");
    let p = project_with_check(&format!("echo cached > {}", target.display()));
    assert!(!baseline_passes(&p, &[]));
    assert!(!target.exists());
    let writable = format!("sandbox.writable=[{:?}]", out.path().display().to_string());
    assert!(baseline_passes(&p, &[&writable]));
    assert_eq!(read(&target), "cached\n");
}

/// A check that connects to 127.0.0.1:`port` and passes when the connection is refused
/// by the sandbox (Python's PermissionError), writing what happened to `net.txt`.
fn connect_check(port: u16) -> String {
    format!(
        "python3 -c 'import socket\ntry:\n socket.create_connection((\"127.0.0.1\", {port}), timeout=5)\n print(\"connected\")\n\
         except PermissionError as e:\n print(e); raise SystemExit(0)\nraise SystemExit(1)' > net.txt"
    )
}

/// Whether `listener` has a connection waiting.
fn connected(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    listener.accept().is_ok()
}

#[test]
fn a_check_cannot_reach_a_loopback_listener_unless_the_network_is_allowed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = project_with_check(&connect_check(port));
    assert!(baseline_passes(&p, &[]));
    assert_eq!(p.read("net.txt"), "[Errno 1] Operation not permitted\n");
    assert!(!connected(&listener), "the listener saw a connection");

    assert!(!baseline_passes(&p, &["sandbox.network=true"]));
    assert_eq!(p.read("net.txt"), "connected\n");
    assert!(connected(&listener));
}

/// A Cargo project (no dependencies) whose check is `cargo build`, committed.
fn cargo_project() -> Project {
    let p = project_with_check("cargo build --offline --quiet");
    p.write("Cargo.toml", "[package]\nname = \"sample\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n");
    p.write("src/main.rs", "fn main() {\n    println!(\"hello\");\n}\n");
    p.write(".gitignore", ".env\ntarget/\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "cargo project"]);
    p
}

/// The session in which the model creates a `build.rs` that writes `target` (outside the
/// repository), with one iteration and no fix round.
fn build_rs_session(p: &Project, target: &Path, settings: &[&str]) -> Vec<serde_json::Value> {
    let build_rs =
        format!("fn main() {{\n    std::fs::write({:?}, \"pwned\").unwrap();\n}}\n", target.display().to_string());
    let server = FakeApi::with([
        review(6.0, issue()),
        edit("toolu_1", json!({"command": "create", "path": "build.rs", "file_text": build_rs})),
        done("Add a build script"),
    ]);
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = mmm_with(p, &server, "improve");
    cmd.env("TMPDIR", &tmp).args(["--max-iterations", "1", "-c", "fix_rounds=0", "--output", "json"]);
    // mmm runs with the test's home: the toolchain is found where this process finds it.
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let var = |name: &str, default: &str| std::env::var_os(name).map_or_else(|| home.join(default), PathBuf::from);
    cmd.env("RUSTUP_HOME", var("RUSTUP_HOME", ".rustup")).env("CARGO_HOME", var("CARGO_HOME", ".cargo"));
    for setting in settings {
        cmd.args(["-c", setting]);
    }
    let out = cmd.output().unwrap();
    let lines = json_lines(&out);
    assert!(lines.iter().any(|l| l["type"] == "summary"), "{}", stderr(&out));
    lines
}

#[test]
fn a_build_rs_written_by_the_model_leaves_nothing_outside_the_repository() {
    let out = outside();
    let target = out.path().join("pwned");
    let p = cargo_project();
    let lines = build_rs_session(&p, &target, &[]);
    let iteration = lines.iter().find(|l| l["type"] == "iteration").unwrap();
    assert_eq!(iteration["outcome"], "rolled_back");
    let output = iteration["validation"][0]["output"].as_str().unwrap();
    assert!(output.contains("panicked") && output.contains("kind: PermissionDenied"), "{output}");
    assert!(!target.exists(), "build.rs wrote outside the repository");
    assert!(!p.root.join("build.rs").exists(), "the iteration was rolled back");

    // The journal says what was enforced.
    let started: Vec<_> = events(&p).into_iter().filter(|e| e["type"] == "session_started").collect();
    let sandbox = &started[0]["sandbox"];
    let abi = sandbox["landlock_abi"].as_u64().expect("this kernel has Landlock");
    assert!(abi >= 1);
    let writable: Vec<PathBuf> =
        sandbox["writable"].as_array().unwrap().iter().map(|w| PathBuf::from(w.as_str().unwrap())).collect();
    assert_eq!(writable[0], p.home.join("tmp"));
    assert_eq!(
        sandbox,
        &json!({"mode": "best-effort", "landlock_abi": abi, "filesystem": true, "network_denied": true,
                "ptrace_denied": true, "writable": sandbox["writable"]})
    );

    // Unconfined, the same build script escapes: the test above can fail.
    let p = cargo_project();
    let lines = build_rs_session(&p, &target, &["sandbox.mode=off"]);
    assert_eq!(read(&target), "pwned", "{lines:#?}");
}

#[test]
fn a_workflow_shell_step_is_confined_like_a_check() {
    let out = outside();
    let target = out.path().join("from-a-step");
    let p = Project::git();
    p.write(
        ".mmm/workflows/escape.yml",
        &format!(
            "name: escape\ndescription: A shell step that writes inside and then outside the repository.\nsteps:\n  \
             - id: write\n    shell: echo in > inside.txt && echo out > {}\n",
            target.display()
        ),
    );
    let tmp = p.home.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = |mode: &str| {
        p.mmm()
            .env("TMPDIR", &tmp)
            .args(["workflow", "run", "escape", "-c", mode, "--output", "json"])
            .output()
            .unwrap()
    };
    let confined = run("sandbox.mode=best-effort");
    assert_eq!(confined.status.code(), Some(1), "{}", stderr(&confined));
    let step = json_lines(&confined).into_iter().find(|l| l["type"] == "step_finished").unwrap();
    assert_eq!(step["outcome"], "failure");
    assert_eq!(p.read("inside.txt"), "in\n");
    assert!(!target.exists(), "the shell step wrote outside the repository");

    let unconfined = run("sandbox.mode=off");
    assert_eq!(unconfined.status.code(), Some(0), "{}", stderr(&unconfined));
    assert_eq!(read(&target), "out\n");
}
