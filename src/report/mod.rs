//! `mmm report`: a session (or the sessions since a day) as one self-contained HTML page or
//! as Markdown. The HTML has its CSS inline and its charts as inline SVG — score per
//! review, cost per iteration, tokens by type, time per phase — then each iteration's
//! issues, outcome, checks (with their CPU time and peak memory) and diff. It references no
//! URL and needs no script. The Markdown is the CI report ([`crate::ci::report`]) with a
//! table of the checks' resources.
//!
//! It only reads session records, their journals and git; it never changes a session. Text
//! reaches the page through an autoescaping template only, and the records it reads are
//! redacted, so no secret can appear in it.

use std::fmt::Write as _;
use std::time::Duration;

use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::git::Git;
use crate::printer::{thousands, usd};
use crate::settings::value::format_duration;
use crate::state::Layout;
use crate::state::session::{CheckRecord, Outcome, SessionRecord};

/// Lines of a commit's diff the page shows.
const DIFF_LINES: usize = 400;

mod page;
use page::TEMPLATE;

/// Sums over the reported sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub sessions: usize,
    pub iterations: usize,
    pub commits: usize,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_write_tokens: u64,
    pub cache_read_tokens: u64,
    /// `None` when one of the sessions has no price.
    pub cost_usd: Option<f64>,
}

impl Totals {
    pub fn of(records: &[SessionRecord]) -> Self {
        let mut t = Totals { cost_usd: Some(0.0), ..Totals::default() };
        for r in records {
            t.sessions += 1;
            t.iterations += r.iterations.len();
            t.commits += r.commits().count();
            t.input_tokens += r.usage.input_tokens;
            t.output_tokens += r.usage.output_tokens;
            t.cache_write_tokens += r.usage.cache_creation_input_tokens;
            t.cache_read_tokens += r.usage.cache_read_input_tokens;
            t.cost_usd = t.cost_usd.zip(r.cost_usd).map(|(a, b)| a + b);
        }
        t
    }
}

/// A bar of a chart, in the SVG's coordinates.
#[derive(Debug, Clone, Serialize)]
struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    /// What the bar is (its tooltip).
    label: String,
    /// The label under it: the start of `label`.
    short: String,
    value: String,
    /// A CSS class: its colour.
    class: &'static str,
}

/// One small bar chart.
#[derive(Debug, Clone, Serialize)]
struct Chart {
    title: &'static str,
    width: f64,
    height: f64,
    bars: Vec<Bar>,
    /// Said instead of an empty chart.
    empty: Option<&'static str>,
}

const CHART_HEIGHT: f64 = 120.0;
const BAR_WIDTH: f64 = 28.0;
const GAP: f64 = 12.0;

/// A chart of `values` (label, value, shown value, class) scaled to the largest (or `max`).
fn chart(title: &'static str, values: Vec<(String, f64, String, &'static str)>, max: Option<f64>) -> Chart {
    let top = max.unwrap_or_else(|| values.iter().map(|v| v.1).fold(0.0, f64::max));
    let bars: Vec<Bar> = values
        .into_iter()
        .enumerate()
        .map(|(i, (label, value, shown, class))| {
            let h = if top > 0.0 { (value / top).clamp(0.0, 1.0) * CHART_HEIGHT } else { 0.0 };
            let short = label.chars().take(8).collect();
            Bar {
                x: GAP + i as f64 * (BAR_WIDTH + GAP),
                y: CHART_HEIGHT - h + 16.0,
                w: BAR_WIDTH,
                h,
                label,
                short,
                value: shown,
                class,
            }
        })
        .collect();
    let empty = bars.is_empty().then_some("nothing to show");
    Chart { title, width: GAP + bars.len().max(4) as f64 * (BAR_WIDTH + GAP), height: CHART_HEIGHT + 36.0, bars, empty }
}

/// A check run as the page shows it.
#[derive(Debug, Clone, Serialize)]
struct CheckView {
    command: String,
    result: String,
    passed: bool,
    duration: String,
    cpu: String,
    memory: String,
}

impl CheckView {
    fn of(c: &CheckRecord) -> Self {
        let result = match (c.timed_out, c.exit_code) {
            (true, _) => "timed out".to_string(),
            (false, Some(code)) => format!("exit {code}"),
            (false, None) => "killed".to_string(),
        };
        CheckView {
            command: c.command.clone(),
            result,
            passed: c.passed,
            duration: format!("{:.2}s", c.duration_ms as f64 / 1000.0),
            cpu: c.cpu_ms.map_or("—".into(), |ms| format!("{:.2}s", ms as f64 / 1000.0)),
            memory: c.peak_rss_kb.map_or("—".into(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0)),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct IterationView {
    index: u32,
    outcome: String,
    committed: bool,
    score_before: Option<String>,
    score_after: Option<String>,
    summary: Option<String>,
    error: Option<String>,
    issues: Vec<String>,
    checks: Vec<CheckView>,
    cost: String,
    tokens: String,
    duration: String,
    files: Vec<String>,
    commit: Option<String>,
    diff: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct SessionView {
    id: String,
    kind: &'static str,
    status: &'static str,
    branch: String,
    model: String,
    started_at: String,
    stop: Option<String>,
    score: String,
    elapsed: String,
    totals: Totals,
    cost: String,
    charts: Vec<Chart>,
    baseline: Vec<CheckView>,
    iterations: Vec<IterationView>,
}

/// Milliseconds between two RFC 3339 times (0 when either does not parse).
fn span_ms(start: &str, end: &str) -> u64 {
    match (start.parse::<jiff::Timestamp>(), end.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => (b.as_millisecond() - a.as_millisecond()).max(0) as u64,
        _ => 0,
    }
}

/// Milliseconds the checks ran in each iteration (every round, from the journal's
/// `validation` events; iteration 0 is the baseline).
fn check_time(layout: &Layout, record: &SessionRecord) -> std::collections::BTreeMap<u64, u64> {
    let mut time = std::collections::BTreeMap::new();
    let ms = |checks: &serde_json::Value| {
        checks.as_array().into_iter().flatten().filter_map(|c| c["duration_ms"].as_u64()).sum::<u64>()
    };
    let journal = std::fs::read_to_string(layout.session_dir(&record.id).join("events.jsonl")).unwrap_or_default();
    for line in journal.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        match event["type"].as_str() {
            Some("validation") => {
                *time.entry(event["iteration"].as_u64().unwrap_or(0)).or_insert(0) += ms(&event["checks"])
            }
            Some("baseline") => *time.entry(0).or_insert(0) += ms(&event["checks"]),
            _ => {}
        }
    }
    time
}

fn view(git: &Git, layout: &Layout, r: &SessionRecord) -> SessionView {
    let checks_ms = check_time(layout, r);
    let iterations: Vec<IterationView> = r
        .iterations
        .iter()
        .map(|i| {
            let diff = i.commit.as_deref().and_then(|c| {
                let parent = git.parent(c).ok().flatten();
                let text = git.diff_text(parent.as_deref(), c, false).ok()?;
                let lines: Vec<&str> = text.lines().collect();
                let mut shown = lines[..lines.len().min(DIFF_LINES)].join("\n");
                if lines.len() > DIFF_LINES {
                    let _ = write!(shown, "\n[… {} more lines: `git show {c}` …]", lines.len() - DIFF_LINES);
                }
                Some(shown)
            });
            IterationView {
                index: i.index,
                outcome: i.outcome.as_str().replace('_', " "),
                committed: i.outcome == Outcome::Committed,
                score_before: i.score_before.map(|s| format!("{s:.1}")),
                score_after: i.score_after.map(|s| format!("{s:.1}")),
                summary: i.summary.clone(),
                error: i.error.clone(),
                issues: i.issues.iter().map(ToString::to_string).collect(),
                checks: i.validation.iter().map(CheckView::of).collect(),
                cost: usd(i.cost_usd),
                tokens: thousands(i.usage.total()),
                duration: format_duration(Duration::from_millis(span_ms(&i.started_at, &i.ended_at))),
                files: i.files_changed.iter().map(|f| format!("{} (+{} −{})", f.path, f.added, f.removed)).collect(),
                commit: i.commit.clone(),
                diff,
            }
        })
        .collect();
    let scores = chart(
        "Score per review",
        r.scores.iter().enumerate().map(|(n, s)| (format!("#{}", n + 1), *s, format!("{s:.1}"), "score")).collect(),
        Some(10.0),
    );
    let costs = chart(
        "Cost per iteration",
        r.iterations
            .iter()
            .map(|i| (format!("#{}", i.index), i.cost_usd.unwrap_or(0.0), usd(i.cost_usd), "cost"))
            .collect(),
        None,
    );
    let u = &r.usage;
    let tokens = chart(
        "Tokens by type",
        [
            ("input", u.input_tokens, "input"),
            ("output", u.output_tokens, "output"),
            ("cache write", u.cache_creation_input_tokens, "write"),
            ("cache read", u.cache_read_input_tokens, "read"),
        ]
        .into_iter()
        .map(|(label, n, class)| (label.to_string(), n as f64, thousands(n), class))
        .collect(),
        None,
    );
    let mut phases = vec![(
        "baseline checks".to_string(),
        *checks_ms.get(&0).unwrap_or(&0) as f64 / 1000.0,
        format!("{:.1}s", *checks_ms.get(&0).unwrap_or(&0) as f64 / 1000.0),
        "checks",
    )];
    for i in &r.iterations {
        let total = span_ms(&i.started_at, &i.ended_at);
        let checks = (*checks_ms.get(&u64::from(i.index)).unwrap_or(&0)).min(total);
        phases.push((
            format!("#{} model and tools", i.index),
            (total - checks) as f64 / 1000.0,
            secs(total - checks),
            "model",
        ));
        phases.push((format!("#{} checks", i.index), checks as f64 / 1000.0, secs(checks), "checks"));
    }
    let phases = chart("Time per phase (seconds)", phases, None);
    let score = match (r.score_before(), r.score_now()) {
        (Some(a), Some(b)) if r.scores.len() > 1 => format!("{a:.1} → {b:.1}"),
        (Some(a), _) => format!("{a:.1}"),
        _ => "no review".into(),
    };
    SessionView {
        id: r.id.clone(),
        kind: crate::index::command_of(r.kind),
        status: r.status.as_str(),
        branch: r.branch.clone(),
        model: r.settings.model.clone(),
        started_at: r.started_at.clone(),
        stop: r.stop_reason.as_ref().map(ToString::to_string),
        score,
        elapsed: format_duration(Duration::from_secs(r.elapsed_secs)),
        totals: Totals::of(std::slice::from_ref(r)),
        cost: usd(r.cost_usd),
        charts: vec![scores, costs, tokens, phases],
        baseline: r.baseline.iter().map(CheckView::of).collect(),
        iterations,
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The sessions as one HTML page.
pub fn html(git: &Git, records: &[SessionRecord]) -> anyhow::Result<String> {
    let layout = Layout::new(git.root());
    let sessions: Vec<SessionView> = records.iter().map(|r| view(git, &layout, r)).collect();
    let totals = Totals::of(records);
    let mut env = Environment::new();
    // The name decides the escaping: `.html` escapes every value for HTML.
    env.add_template("report.html", TEMPLATE)?;
    let title = match records {
        [one] => format!("mmm session {}", one.id),
        _ => format!("mmm: {} sessions", records.len()),
    };
    let page = env.get_template("report.html")?.render(context! {
        title,
        sessions => Value::from(minijinja::value::Serde(&sessions)),
        total_cost => usd(totals.cost_usd),
        total_tokens => thousands(totals.input_tokens + totals.output_tokens + totals.cache_write_tokens + totals.cache_read_tokens),
        totals => Value::from(minijinja::value::Serde(&totals)),
    })?;
    Ok(page)
}

/// The sessions as Markdown: each one's CI report, then its checks' resources.
pub fn markdown(records: &[SessionRecord]) -> String {
    let mut md = String::new();
    for r in records {
        let stop = r.stop_reason.as_ref().map(ToString::to_string);
        let command = format!("mmm {}", crate::index::command_of(r.kind));
        md.push_str(&crate::ci::report::markdown(&crate::ci::publish::report_input(r, &command, stop.as_deref())));
        let runs: Vec<(String, &CheckRecord)> = r
            .baseline
            .iter()
            .map(|c| ("baseline".to_string(), c))
            .chain(r.iterations.iter().flat_map(|i| i.validation.iter().map(move |c| (format!("#{}", i.index), c))))
            .collect();
        if !runs.is_empty() {
            md.push_str(
                "\n| checks | command | result | time | CPU | peak memory |\n| --- | --- | --- | --: | --: | --: |\n",
            );
            for (when, c) in runs {
                let v = CheckView::of(c);
                let _ = writeln!(
                    md,
                    "| {when} | `{}` | {} | {} | {} | {} |",
                    v.command.replace('|', "\\|").replace('`', "'"),
                    v.result,
                    v.duration,
                    v.cpu,
                    v.memory
                );
            }
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests;
