//! Where a session's or a workflow run's time and money went, read back from its journal
//! (`events.jsonl`): every model request (`usage`, with its duration), every check
//! (`baseline` and `validation`, each check's duration), the analysis (`session_started`)
//! and git's commit or roll back of each iteration (`iteration`), and a workflow's steps (`step_finished`), each a [`Span`]
//! with its start, duration and cost. `mmm history <id> --profile` prints them slowest
//! first, and `--trace-file` writes them as Chrome trace-event JSON for Perfetto and
//! `chrome://tracing`. It only reads what was journaled: it never estimates a duration the
//! journal does not hold, and never writes anything but the trace file it is asked for.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};

/// One timed part of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    /// `step`, `analysis`, `review`, `turn`, `verdict`, `check`, `git`.
    pub phase: String,
    /// Which: the step, the conversation, the check's command, the git operation.
    pub name: String,
    /// The session it belongs to (empty for a workflow's steps).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session: String,
    /// The iteration, for a session's spans after its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// Microseconds since the Unix epoch.
    pub start_us: i64,
    pub duration_ms: u64,
    /// What it cost, for model requests and steps (`None` when a price was unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// The end of a journal line, in microseconds since the epoch.
fn ts_us(line: &Value) -> Option<i64> {
    let ts: jiff::Timestamp = line["ts"].as_str()?.parse().ok()?;
    Some(ts.as_microsecond())
}

/// The phase of a model request by its conversation's label (`review-2`, `implement-2`,
/// `verdict-2`).
fn request_phase(conversation: &str) -> &'static str {
    if conversation.starts_with("review") {
        "review"
    } else if conversation.starts_with("verdict") {
        "verdict"
    } else {
        "turn"
    }
}

/// The spans of one journal. `session` names the session whose journal it is (empty for
/// a workflow run's).
pub fn spans_of(text: &str, session: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    for line in text.lines() {
        // A torn last line (a crash mid-write) is skipped.
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        let Some(end) = ts_us(&event) else { continue };
        let iteration = event["iteration"].as_u64().or_else(|| event["index"].as_u64()).map(|i| i as u32);
        let mut span = |phase: &str, name: String, duration_ms: u64, cost_usd: Option<f64>, end: i64| {
            spans.push(Span {
                phase: phase.to_string(),
                name,
                session: session.to_string(),
                iteration,
                start_us: end - duration_ms as i64 * 1000,
                duration_ms,
                cost_usd,
            });
        };
        match event["type"].as_str() {
            Some("usage") => {
                let conversation = event["conversation"].as_str().unwrap_or_default().to_string();
                // Journals written before requests were timed have no duration.
                let Some(ms) = event["duration_ms"].as_u64() else { continue };
                span(request_phase(&conversation), conversation, ms, event["cost_usd"].as_f64(), end);
            }
            Some("baseline" | "validation") => {
                // The checks ran one after another and the event was written as the last ended.
                let checks = event["checks"].as_array().cloned().unwrap_or_default();
                let mut at = end;
                for check in checks.iter().rev() {
                    let ms = check["duration_ms"].as_u64().unwrap_or(0);
                    span("check", check["command"].as_str().unwrap_or_default().to_string(), ms, None, at);
                    at -= ms as i64 * 1000;
                }
            }
            // The analysis ran just before the session started.
            Some("session_started") => {
                if let Some(ms) = event["analysis_ms"].as_u64() {
                    span("analysis", "analysis".to_string(), ms, None, end);
                }
            }
            // Git committed or rolled back the change just before the iteration was recorded.
            Some("iteration") => {
                if let Some(ms) = event["git_ms"].as_u64() {
                    let what = if event["outcome"] == "committed" { "commit" } else { "roll back" };
                    span("git", format!("{what} #{}", iteration.unwrap_or(0)), ms, None, end);
                }
            }
            Some("step_finished") if event["outcome"] != "skipped" => {
                let ms = event["duration_ms"].as_u64().unwrap_or(0);
                let name = event["step"].as_str().unwrap_or_default().to_string();
                span("step", name, ms, event["cost_usd"].as_f64(), end);
            }
            _ => {}
        }
    }
    spans
}

/// The spans of the journal at `path` (none when it does not exist).
pub fn read(path: &Path, session: &str) -> anyhow::Result<Vec<Span>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(spans_of(&text, session)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The thread a phase is drawn on in a trace: steps above sessions' model requests, above
/// checks, above git.
fn track(phase: &str) -> (u32, &'static str) {
    match phase {
        "step" => (1, "workflow steps"),
        "analysis" | "review" | "turn" | "verdict" => (2, "analysis and model requests"),
        "check" => (3, "checks"),
        _ => (4, "git"),
    }
}

/// The spans as Chrome trace-event JSON (the JSON object form): a complete event (`"ph":
/// "X"`) per span, its times in microseconds from the first span's start, and a name for
/// each thread.
pub fn chrome_trace(spans: &[Span]) -> Value {
    let origin = spans.iter().map(|s| s.start_us).min().unwrap_or(0);
    let mut events: Vec<Value> = Vec::new();
    let mut tracks: Vec<(u32, &str)> = spans.iter().map(|s| track(&s.phase)).collect();
    tracks.sort();
    tracks.dedup();
    for (tid, name) in tracks {
        events.push(json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}));
    }
    for s in spans {
        let mut args = json!({});
        if !s.session.is_empty() {
            args["session"] = json!(s.session);
        }
        if let Some(i) = s.iteration {
            args["iteration"] = json!(i);
        }
        if let Some(cost) = s.cost_usd {
            args["cost_usd"] = json!(cost);
        }
        events.push(json!({
            "name": s.name,
            "cat": s.phase,
            "ph": "X",
            "ts": s.start_us - origin,
            "dur": s.duration_ms * 1000,
            "pid": 1,
            "tid": track(&s.phase).0,
            "args": args,
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOURNAL: &str = r#"{"ts":"2026-01-01T00:00:01Z","session":"s","type":"session_started","analysis_ms":500}
{"ts":"2026-01-01T00:00:03Z","session":"s","type":"baseline","passed":true,"checks":[{"command":"a","exit_code":0,"passed":true,"timed_out":false,"duration_ms":1500},{"command":"b","exit_code":0,"passed":true,"timed_out":false,"duration_ms":500}]}
{"ts":"2026-01-01T00:00:05Z","session":"s","type":"usage","iteration":1,"conversation":"review-1","usage":{},"cost_usd":0.01,"duration_ms":2000}
{"ts":"2026-01-01T00:00:06Z","session":"s","type":"usage","iteration":1,"conversation":"implement-1","usage":{},"cost_usd":null}
{"ts":"2026-01-01T00:00:07Z","session":"s","type":"iteration","index":1,"outcome":"committed","git_ms":100}
{"ts":"2026-01-01T00:00:08Z","session":"s","type":"tool","iteration":1
"#;

    #[test]
    fn spans_come_from_what_the_journal_timed_and_nothing_else() {
        let spans = spans_of(JOURNAL, "s");
        let got: Vec<(&str, &str, i64, u64)> =
            spans.iter().map(|s| (s.phase.as_str(), s.name.as_str(), s.start_us / 1000, s.duration_ms)).collect();
        let base = 1_767_225_600_000i64;
        assert_eq!(
            got,
            [
                ("analysis", "analysis", base + 500, 500),
                ("check", "b", base + 2500, 500),
                ("check", "a", base + 1000, 1500),
                ("review", "review-1", base + 3000, 2000),
                ("git", "commit #1", base + 6900, 100),
            ]
        );
        assert_eq!(spans[3].cost_usd, Some(0.01));
    }

    #[test]
    fn a_trace_has_a_complete_event_per_span_from_the_first_start() {
        let trace = chrome_trace(&spans_of(JOURNAL, "s"));
        let events = trace["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 5);
        assert_eq!(complete[0]["ts"], 0);
        assert_eq!(complete[0]["dur"], 500_000);
        assert_eq!(complete[3]["args"], json!({"session": "s", "iteration": 1, "cost_usd": 0.01}));
        assert_eq!(events.iter().filter(|e| e["ph"] == "M").count(), 3, "one per track used");
    }
}
