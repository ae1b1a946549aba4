//! The index against real SQLite files in temporary directories.

use super::*;
use crate::llm::Usage;
use crate::state::session::IterationRecord;

fn record(id: &str, model: &str, outcomes: &[Outcome], cost: Option<f64>) -> SessionRecord {
    let text = format!(
        r#"{{"version":1,"id":"{id}","kind":"improve","status":"completed","branch":"mmm/x","start_commit":"abc",
        "started_at":"2026-12-01T10:00:00Z","ended_at":"2026-12-01T10:05:00Z","elapsed_secs":300,"stop_reason":null,
        "settings":{{"model":"{model}","limits":{{"target":9.0,"max_iterations":1,"budget_usd":null,"max_tokens":null,"time_limit":null,"max_stalled":1,"max_failures":1}},"fix_rounds":1,"max_turns":1,"max_output_tokens":1,"checks":[],
        "check_timeout_secs":1,"focus":null,"in_place":false}},"baseline":[],"iterations":[],
        "usage":{{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},
        "cost_usd":null,"requests":0}}"#
    );
    let mut r: SessionRecord = serde_json::from_str(&text).unwrap();
    for (n, outcome) in outcomes.iter().enumerate() {
        let mut it = IterationRecord::new(n as u32 + 1, "2026-12-01T10:00:00Z".into());
        it.ended_at = "2026-12-01T10:00:02Z".into();
        it.outcome = *outcome;
        it.commit = (*outcome == Outcome::Committed).then(|| format!("c{n}"));
        it.validation = vec![CheckRecord {
            command: "true".into(),
            exit_code: Some(0),
            passed: true,
            timed_out: false,
            duration_ms: 500,
            output: None,
            cpu_ms: Some(3),
            peak_rss_kb: Some(1000),
            reused: false,
        }];
        r.iterations.push(it);
    }
    r.scores = vec![5.0, 7.0];
    r.usage = Usage {
        input_tokens: 100,
        output_tokens: 10,
        cache_creation_input_tokens: 20,
        cache_read_input_tokens: 1_000_000,
        ..Usage::default()
    };
    r.cost_usd = cost;
    r
}

#[test]
fn a_recorded_session_shows_in_the_stats_and_recording_it_again_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("sub/mmm.db")).unwrap();
    let root = dir.path().join("repo");
    let r = record("s1", "claude-sonnet-4-5", &[Outcome::Committed, Outcome::RolledBack], Some(0.5));
    index.record_session(&root, &r).unwrap();
    index.record_session(&root, &r).unwrap();
    let s = stats::stats(&index, None, None).unwrap();
    let t = &s.total;
    assert_eq!((t.sessions, t.iterations, t.commits, t.rollbacks, t.failures), (1, 2, 1, 1, 0));
    assert_eq!(t.commit_rate, Some(0.5));
    assert_eq!(t.cost_usd, Some(0.5));
    assert_eq!(t.cost_per_commit_usd, Some(0.5));
    // A million cache-read tokens at $3 input and $0.30 cache read.
    assert_eq!(t.cache_savings_usd, 2.7);
    assert_eq!(t.avg_score_change, Some(2.0));
    assert_eq!(t.avg_iteration_secs, Some(2.0));
    assert_eq!((t.check_runs, t.avg_check_secs), (2, Some(0.5)));
    assert_eq!(t.tokens, stats::Tokens { input: 100, output: 10, cache_write: 20, cache_read: 1_000_000 });
    let projects = index.projects().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!((projects[0].name.as_str(), projects[0].sessions), ("repo", 1));
    assert_eq!(projects[0].last_head.as_deref(), Some("c0"));
    let cpu: i64 = index.conn().query_row("SELECT SUM(cpu_ms) FROM check_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(cpu, 6);
}

#[test]
fn stats_group_and_filter_and_an_unknown_price_is_not_counted_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("mmm.db")).unwrap();
    index
        .record_session(&dir.path().join("a"), &record("s1", "claude-sonnet-4-5", &[Outcome::Failed], Some(1.0)))
        .unwrap();
    let mut late = record("s2", "my-model", &[], None);
    late.started_at = "2026-12-03T00:00:00Z".into();
    index.record_session(&dir.path().join("b"), &late).unwrap();
    let s = stats::stats(&index, None, Some(stats::By::Model)).unwrap();
    let keys: Vec<_> = s.groups.iter().map(|g| g.key.clone().unwrap()).collect();
    assert_eq!(keys, ["claude-sonnet-4-5", "my-model"]);
    assert_eq!((s.groups[1].cost_usd, s.groups[1].unpriced_sessions), (None, 1));
    assert_eq!(s.groups[1].cache_savings_usd, 0.0);
    assert_eq!((s.total.cost_usd, s.total.unpriced_sessions, s.total.failure_rate), (Some(1.0), 1, Some(1.0)));
    let since = stats::parse_since("2026-12-02").unwrap();
    let s = stats::stats(&index, Some(("2026-12-02", since)), Some(stats::By::Day)).unwrap();
    assert_eq!(s.total.sessions, 1);
    assert_eq!(s.groups.iter().map(|g| g.key.clone().unwrap()).collect::<Vec<_>>(), ["2026-12-03"]);
    assert_eq!(stats::parse_since("yesterday"), None);
}

#[test]
fn removing_a_project_removes_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("mmm.db")).unwrap();
    let root = dir.path().join("repo");
    index.record_session(&root, &record("s1", "m", &[Outcome::Committed], None)).unwrap();
    let removed = index.remove("repo").unwrap().unwrap();
    assert_eq!(removed.root, root.to_string_lossy());
    assert_eq!(index.remove("repo").unwrap(), None);
    let count: i64 = index.conn().query_row("SELECT COUNT(*) FROM iterations", [], |r| r.get(0)).unwrap();
    assert_eq!((stats::stats(&index, None, None).unwrap().total.sessions, count), (0, 0));
}

#[test]
fn a_newer_schema_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mmm.db");
    Connection::open(&path).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let err = Index::open(&path).err().unwrap();
    let cli = err.chain().find_map(|e| e.downcast_ref::<CliError>()).expect("a usage error");
    assert_eq!(cli.to_string(), "the index has schema version 99, newer than this mmm knows (2)");
    // Opening again, and migrating an up-to-date one, changes nothing.
    let ok = dir.path().join("ok.db");
    Index::open(&ok).unwrap();
    let index = Index::open(&ok).unwrap();
    let v: i64 = index.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let mode: String = index.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!((v, mode.as_str()), (SCHEMA_VERSION, "wal"));
}

#[test]
fn four_sessions_recording_at_once_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mmm.db");
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let path = path.clone();
            let root = dir.path().join(format!("repo{n}"));
            std::thread::spawn(move || {
                for k in 0..10 {
                    let mut index = Index::open(&path).unwrap();
                    index.record_session(&root, &record(&format!("s{k}"), "m", &[Outcome::Committed], None)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let index = Index::open(&path).unwrap();
    assert_eq!(stats::stats(&index, None, None).unwrap().total.sessions, 40);
    assert_eq!(index.projects().unwrap().len(), 4);
}
