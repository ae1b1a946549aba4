//! `mmm stats` over 10,000 recorded sessions: the index filled with synthetic sessions (five
//! iterations and one check each, three models, ten projects, spread over 100 days), then
//! the stats queries timed in process (the median of 20 runs each) and the `mmm stats`
//! command timed end to end (the median of 10 runs). The issue's bar: under 100 ms.
//!
//! Run: `cargo bench --profile dev --bench stats` (a debug build with optimised
//! dependencies, SQLite among them) or `cargo bench --bench stats` (release).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mmm::index::Index;
use mmm::index::stats::{By, stats};
use mmm::state::session::{Outcome, SessionRecord};

const SESSIONS: usize = 10_000;

fn record(n: usize) -> SessionRecord {
    let day = n % 100;
    let text = format!(
        r#"{{"version":1,"id":"s{n:05}","kind":"improve","status":"completed","branch":"mmm/x","start_commit":"abc",
        "started_at":"2026-{:02}-{:02}T10:00:00Z","ended_at":null,"elapsed_secs":60,"stop_reason":null,
        "settings":{{"model":"{}","limits":{{"target":9.0,"max_iterations":5,"budget_usd":null,"max_tokens":null,
        "time_limit":null,"max_stalled":1,"max_failures":1}},"fix_rounds":1,"max_turns":1,"max_output_tokens":1,
        "checks":["make test"],"check_timeout_secs":1,"focus":null,"in_place":false}},
        "baseline":[{{"command":"make test","exit_code":0,"passed":true,"timed_out":false,"duration_ms":900}}],
        "iterations":[],"usage":{{"input_tokens":1000,"output_tokens":200,"cache_creation_input_tokens":300,
        "cache_read_input_tokens":5000}},"cost_usd":0.05,"requests":6,"scores":[6.0,7.5]}}"#,
        1 + day / 28,
        1 + day % 28,
        ["claude-sonnet-5", "claude-opus-5", "claude-haiku-4-5"][n % 3],
    );
    let mut r: SessionRecord = serde_json::from_str(&text).expect("a valid record");
    for i in 1..=5u32 {
        let mut it = mmm::state::session::IterationRecord::new(i, "2026-01-01T10:00:00Z".into());
        it.ended_at = "2026-01-01T10:00:09Z".into();
        it.outcome = [Outcome::Committed, Outcome::RolledBack, Outcome::Failed][(n + i as usize) % 3];
        it.validation = r.baseline.clone();
        r.iterations.push(it);
    }
    r
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = dir.path().join("data");
    let db = data.join("mmm").join("mmm.db");
    let mut index = Index::open(&db).expect("the index opens");
    let fill = Instant::now();
    for n in 0..SESSIONS {
        index.record_session(Path::new(&format!("/projects/p{}", n % 10)), &record(n)).expect("recorded");
    }
    println!("filled {SESSIONS} sessions in {:.1?}", fill.elapsed());
    let total = stats(&index, None, None).expect("stats");
    assert_eq!(total.total.sessions, SESSIONS as u64);
    for (name, by) in [
        ("total", None),
        ("--by project", Some(By::Project)),
        ("--by day", Some(By::Day)),
        ("--by model", Some(By::Model)),
    ] {
        let t = time(20, || {
            stats(&index, None, by).expect("stats");
        });
        println!("stats {name:<13} in process: {t:.2?}");
    }
    let t = time(20, || {
        let index = Index::open(&db).expect("opens");
        stats(&index, None, Some(By::Day)).expect("stats");
    });
    println!("open + stats --by day in process: {t:.2?}");
    let bin = env!("CARGO_BIN_EXE_mmm");
    let t = time(10, || {
        let out = Command::new(bin)
            .args(["stats", "--by", "day", "--output", "json"])
            .env("XDG_DATA_HOME", &data)
            .env("HOME", dir.path())
            .current_dir(dir.path())
            .output()
            .expect("mmm runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    });
    println!("`mmm stats --by day --output json` (the whole process): {t:.2?}");
}
