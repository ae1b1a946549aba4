//! Thresholds against a real index in a temporary directory; the command channel for real.

use super::*;
use crate::state::session::{IterationRecord, Outcome};

fn record(id: &str, cost: Option<f64>, outcomes: &[Outcome]) -> SessionRecord {
    let text = format!(
        r#"{{"version":1,"id":"{id}","kind":"improve","status":"completed","branch":"mmm/x","start_commit":"abc",
        "started_at":"2026-12-01T10:00:00Z","ended_at":null,"elapsed_secs":1,"stop_reason":null,
        "settings":{{"model":"m","limits":{{"target":9.0,"max_iterations":1,"budget_usd":null,"max_tokens":null,
        "time_limit":null,"max_stalled":1,"max_failures":1}},"fix_rounds":1,"max_turns":1,"max_output_tokens":1,
        "checks":[],"check_timeout_secs":1,"focus":null,"in_place":false}},"baseline":[],"iterations":[],
        "usage":{{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},
        "cost_usd":null,"requests":0}}"#
    );
    let mut r: SessionRecord = serde_json::from_str(&text).unwrap();
    r.cost_usd = cost;
    for (n, o) in outcomes.iter().enumerate() {
        // Later sessions' iterations start later: a, b, c... one minute apart.
        let minute = id.as_bytes()[0] - b'a';
        let mut it = IterationRecord::new(n as u32 + 1, format!("2026-12-01T10:{minute:02}:0{n}Z"));
        it.outcome = *o;
        r.iterations.push(it);
    }
    r
}

fn cfg() -> AlertSettings {
    AlertSettings { failure_window: 2, command: Some("cat > /dev/null".into()), ..AlertSettings::default() }
}

#[test]
fn a_spend_over_the_line_alerts_once_per_session_and_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("mmm.db")).unwrap();
    let root = dir.path().join("repo");
    let cfg = AlertSettings { session_usd: Some(1.0), daily_usd: Some(1.5), ..cfg() };
    let cheap = record("a", Some(0.9), &[]);
    index.record_session(&root, &cheap).unwrap();
    assert_eq!(crossed(&index, &root, &cheap, &cfg).unwrap(), []);
    let dear = record("b", Some(1.0), &[]);
    index.record_session(&root, &dear).unwrap();
    let kinds: Vec<&str> = crossed(&index, &root, &dear, &cfg).unwrap().iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["session_usd", "daily_usd"]);
    // The same session ending again (a resume), or another one the same day: nothing new.
    assert_eq!(crossed(&index, &root, &dear, &cfg).unwrap(), []);
    let more = record("c", Some(0.1), &[]);
    index.record_session(&root, &more).unwrap();
    assert_eq!(crossed(&index, &root, &more, &cfg).unwrap(), []);
}

#[test]
fn the_failure_rate_alerts_on_each_crossing_and_rearms_below_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("mmm.db")).unwrap();
    let root = dir.path().join("repo");
    let cfg = AlertSettings { failure_rate: Some(1.0), ..cfg() };
    let mut run = |id: &str, outcomes: &[Outcome]| {
        let r = record(id, None, outcomes);
        index.record_session(&root, &r).unwrap();
        crossed(&index, &root, &r, &cfg).unwrap().into_iter().map(|a| (a.kind, a.value)).collect::<Vec<_>>()
    };
    assert_eq!(run("a", &[Outcome::Failed, Outcome::RolledBack]), [("failure_rate", Some(1.0))]);
    assert_eq!(run("b", &[Outcome::Failed, Outcome::Failed]), []);
    assert_eq!(run("c", &[Outcome::Committed]), []);
    assert_eq!(run("d", &[Outcome::Crashed, Outcome::Failed]), [("failure_rate", Some(1.0))]);
}

#[test]
fn a_score_drop_and_an_error_alert() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(&dir.path().join("mmm.db")).unwrap();
    let root = dir.path().join("repo");
    let cfg = AlertSettings { score_drop: Some(1.0), on_error: true, ..cfg() };
    let mut r = record("a", None, &[]);
    r.scores = vec![7.0, 6.5, 5.5];
    r.stop_reason = Some(StopReason::Error { message: "the API failed".into() });
    index.record_session(&root, &r).unwrap();
    let alerts = crossed(&index, &root, &r, &cfg).unwrap();
    let got: Vec<(&str, &str)> = alerts.iter().map(|a| (a.kind, a.message.as_str())).collect();
    assert_eq!(
        got,
        [
            ("score_drop", "mmm session a: the score fell from 7.0 to 5.5"),
            ("error", "mmm session a stopped on an error: the API failed"),
        ]
    );
    assert_eq!(alerts[0].value, Some(1.5));
}

#[test]
fn the_command_gets_the_alert_on_stdin_and_a_failing_channel_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alert.json");
    let alert = Alert {
        r#type: "alert",
        kind: "session_usd",
        message: "spent".into(),
        session: "s".into(),
        project: "/p".into(),
        value: Some(2.0),
        threshold: Some(1.0),
        at: "2026-12-01T10:00:00Z".into(),
    };
    let cfg = AlertSettings { command: Some(format!("cat > '{}'", out.display())), ..AlertSettings::default() };
    assert_eq!(deliver(&alert, &cfg), Vec::<String>::new());
    let got: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got, serde_json::to_value(&alert).unwrap());

    let cfg = AlertSettings { command: Some("exit 3".into()), ..AlertSettings::default() };
    assert_eq!(
        deliver(&alert, &cfg),
        [
            "could not deliver the session_usd alert to alerts.command after 3 tries: the command exited with exit status: 3"
        ]
    );
}
