//! What the prompt layout costs in model input: a scripted 20-iteration `mmm improve` session
//! against a fake Anthropic server, its requests fed to a model of Anthropic's prefix-cache
//! rules (`mmm::llm::cache::sim`: identical prefix up to a breakpoint, the model's minimum
//! cacheable length, the 20-block lookback).
//!
//! The repository is a mid-sized library: two long source files (about 1,400 and 850 lines)
//! and 80 small ones, so the repo map is a few thousand tokens. Every iteration runs the
//! same script: a review naming an issue in the long file; then an editing conversation,
//! in two scenarios. Long: it views both long files whole, searches, views a range of the
//! first, views it whole again, views a range of the second, edits the first, views the
//! same two ranges again, declares the change and stops. Short: it views one range, edits,
//! stops. The check (`true`) passes and the change is committed. A closing review ends the
//! session. The same script runs against this build and, with
//! `--baseline <mmm binary>`, against another build (the layout before issue 13), and both
//! are printed side by side: input tokens (estimated from characters), the share read from
//! cache, and the input cost relative to sending everything uncached.
//!
//! Run: `scripts/bench-cache.sh` (builds the baseline), or
//! `cargo bench --profile dev --bench cache_layout -- --baseline <path to an older mmm>`
//! (`--verbose` prints every request's simulated usage).

#[path = "../tests/it/common/fake_api.rs"]
mod fake_api;

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use fake_api::{FakeApi, Msg, Reply};
use mmm::llm::Usage;
use mmm::llm::cache::sim::{Simulator, read_share, relative_cost};
use serde_json::{Value, json};

const ITERATIONS: usize = 20;
const EDITOR: &str = "str_replace_based_edit_tool";

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A long Rust file of `functions` functions, with `COUNTER` on line 3.
fn long_file(name: &str, functions: usize) -> String {
    let mut s = format!("//! {name}: a long module.\n\npub const COUNTER: usize = 0;\n\n");
    for f in 0..functions {
        let _ = write!(
            s,
            "/// Computes the {f}th value of {name}.\npub fn {name}_value_{f}(input: &[u64]) -> u64 {{\n    \
             let mut total = 0;\n    for (i, x) in input.iter().enumerate() {{\n        \
             if i % {m} == 0 {{\n            total += x * {f};\n        }} else {{\n            \
             total ^= x.rotate_left({r});\n        }}\n    }}\n    total\n}}\n\n",
            m = f % 7 + 2,
            r = f % 13
        );
    }
    s
}

fn make_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", "bench"]);
    git(dir, &["config", "user.email", "bench@mmm.invalid"]);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut lib = String::from("//! A mid-sized library.\n\npub mod parser;\npub mod render;\n");
    std::fs::write(dir.join("src/parser.rs"), long_file("parser", 110)).unwrap();
    std::fs::write(dir.join("src/render.rs"), long_file("render", 65)).unwrap();
    for i in 0..80 {
        let _ = writeln!(lib, "pub mod part{i};");
        let body = format!(
            "//! Part {i}.\n\npub struct Part{i} {{\n    pub id: u32,\n}}\n\nimpl Part{i} {{\n    pub fn new() -> Self {{\n        \
             Self {{ id: {i} }}\n    }}\n\n    pub fn describe_part{i}(&self) -> String {{\n        format!(\"part {{}}\", self.id)\n    \
             }}\n}}\n\npub fn make_part{i}() -> Part{i} {{\n    Part{i}::new()\n}}\n"
        );
        std::fs::write(dir.join(format!("src/part{i}.rs")), body).unwrap();
    }
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"midlib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        .unwrap();
    std::fs::create_dir_all(dir.join(".mmm")).unwrap();
    std::fs::write(dir.join(".mmm/config.toml"), "[validate]\ncommands = [\"true\"]\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "initial"]);
}

fn call(id: &str, name: &str, input: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(id, name, input))
}

fn view(id: &str, path: &str, range: Option<[i64; 2]>) -> Reply {
    let input = match range {
        Some(range) => json!({"command": "view", "path": path, "view_range": range}),
        None => json!({"command": "view", "path": path}),
    };
    call(id, EDITOR, input)
}

fn review(score: f64) -> Reply {
    let issues = if score >= 9.0 {
        json!([])
    } else {
        json!([{"severity": "medium", "file": "src/parser.rs", "description": "COUNTER is never updated"}])
    };
    Reply::stream(&Msg::new().tool_use(
        "toolu_r",
        "submit_review",
        json!({"score": score, "summary": "s", "issues": issues}),
    ))
}

/// The edit that every iteration commits: `COUNTER` from `i` to `i + 1`.
fn bump(id: &str, i: usize) -> Reply {
    call(
        id,
        EDITOR,
        json!({"command": "str_replace", "path": "src/parser.rs",
               "old_str": format!("COUNTER: usize = {i};"), "new_str": format!("COUNTER: usize = {};", i + 1)}),
    )
}

/// What each iteration's editing conversation does.
#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    /// Views both long files whole and in ranges, three times each, searches, edits (11 requests).
    Long,
    /// Views one range, edits, stops (3 requests).
    Short,
}

/// The scripted session, run by `mmm`; returns the request bodies it sent.
fn run_session(mmm: &Path, scenario: Scenario) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    make_repo(dir.path());
    let server = FakeApi::start();
    for i in 0..ITERATIONS {
        server.push(review(5.0));
        if scenario == Scenario::Short {
            server.push(view("t1", "src/parser.rs", Some([1, 60])));
            server.push(bump("t2", i));
            server.push(Reply::stream(&Msg::new().text("Update COUNTER\n\nIt is updated now.")));
            continue;
        }
        server.push(view("t1", "src/parser.rs", None));
        server.push(view("t2", "src/render.rs", None));
        server.push(call("t3", "search", json!({"pattern": "fn parser_value_1\\b"})));
        server.push(view("t4", "src/parser.rs", Some([1, 120])));
        server.push(view("t5", "src/parser.rs", None));
        server.push(view("t6", "src/render.rs", Some([1, 200])));
        server.push(bump("t7", i));
        server.push(view("t8", "src/parser.rs", Some([1, 120])));
        server.push(view("t9", "src/render.rs", Some([1, 200])));
        server.push(call("t10", "submit_change", json!({"summary": "Update COUNTER", "addressed": [1]})));
        server.push(Reply::stream(&Msg::new().text("Update COUNTER\n\nIt is updated now.")));
    }
    server.push(review(9.0));
    let out = common::run_improve(mmm, dir.path(), &server.url(), ITERATIONS + 1);
    assert!(out.status.success(), "{} failed: {}", mmm.display(), String::from_utf8_lossy(&out.stderr));
    let log = Command::new("git").arg("-C").arg(dir.path()).args(["rev-list", "--count", "HEAD"]).output().unwrap();
    let commits: usize = String::from_utf8_lossy(&log.stdout).trim().parse().unwrap();
    assert_eq!(commits, ITERATIONS + 1, "{}: every iteration is committed", mmm.display());
    server.requests().iter().map(|r| r.json()).collect()
}

struct Measured {
    requests: usize,
    usage: Usage,
}

/// `verbose`: prints each request's simulated usage.
fn measure(mmm: &Path, scenario: Scenario, verbose: bool) -> Measured {
    let bodies = run_session(mmm, scenario);
    let mut sim = Simulator::new();
    for (i, body) in bodies.iter().enumerate() {
        let u = sim.request(body);
        if verbose {
            println!(
                "request {i:>3}: {:>6} in, {:>6} written, {:>6} read",
                u.input_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens
            );
        }
    }
    Measured { requests: bodies.len(), usage: sim.total }
}

fn version(mmm: &Path) -> String {
    let out = Command::new(mmm).arg("--version").output().expect("mmm runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn input(u: &Usage) -> u64 {
    u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let baseline = args.iter().position(|a| a == "--baseline").and_then(|i| args.get(i + 1)).map(Path::new);
    let verbose = args.iter().any(|a| a == "--verbose");
    for (scenario, name) in
        [(Scenario::Long, "long editing conversations"), (Scenario::Short, "short editing conversations")]
    {
        let mut rows = Vec::new();
        if let Some(path) = baseline {
            rows.push((format!("baseline: {}", version(path)), measure(path, scenario, verbose)));
        }
        let this = Path::new(env!("CARGO_BIN_EXE_mmm"));
        rows.push((format!("this build: {}", version(this)), measure(this, scenario, verbose)));
        println!("\n{name}: {ITERATIONS} committed iterations + a closing review, same script; tokens estimated");
        println!(
            "| layout | requests | input tokens | per iteration | read from cache | written | input cost vs uncached |"
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (name, m) in &rows {
            let u = &m.usage;
            println!(
                "| {name} | {} | {} | {} | {:.1} % | {:.1} % | {:.3}× |",
                m.requests,
                input(u),
                input(u) / ITERATIONS as u64,
                read_share(u) * 100.0,
                u.cache_creation_input_tokens as f64 * 100.0 / input(u).max(1) as f64,
                relative_cost(u)
            );
        }
        if let [(_, old), (_, new)] = rows.as_slice() {
            println!(
                "input tokens per iteration, this build / baseline: {:.3}×",
                input(&new.usage) as f64 / input(&old.usage).max(1) as f64
            );
        }
    }
}
