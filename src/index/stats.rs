//! `mmm stats`: what sessions did and cost, summed by SQL over the index's session rows
//! (one row per session already carries its iteration, check and token totals, so a query
//! over ten thousand sessions reads ten thousand rows and nothing else).
//!
//! It only reads. Every figure is a sum or an average of what the session records hold;
//! a rate with nothing to divide by, or a cost no session priced, is `null`, never 0.

use rusqlite::params;
use serde::Serialize;

use super::Index;

/// What to group by (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Project,
    Model,
    /// The UTC day the session started.
    Day,
    /// The command that ran the session: `improve` or `run`.
    Command,
    /// How the session ended: its status.
    Outcome,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Project => "project",
            By::Model => "model",
            By::Day => "day",
            By::Command => "command",
            By::Outcome => "outcome",
        }
    }

    /// The SQL that names a row's group, and what the rows are grouped by.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            By::Project => ("p.name", "p.id"),
            By::Model => ("s.model", "s.model"),
            By::Day => ("s.day", "s.day"),
            By::Command => ("s.kind", "s.kind"),
            By::Outcome => ("s.status", "s.status"),
        }
    }
}

/// Tokens by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
}

/// The figures of a set of sessions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// The group's name (`--by`); left out of the total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub sessions: u64,
    pub iterations: u64,
    /// Iterations whose change was committed, rolled back, or that failed (or crashed).
    pub commits: u64,
    pub rollbacks: u64,
    pub failures: u64,
    /// Each of the three over `iterations`; `null` without iterations.
    pub commit_rate: Option<f64>,
    pub rollback_rate: Option<f64>,
    pub failure_rate: Option<f64>,
    pub tokens: Tokens,
    /// What the priced sessions cost (sessions of a model without a price count in
    /// `unpriced_sessions`); `null` when no session was priced.
    pub cost_usd: Option<f64>,
    pub unpriced_sessions: u64,
    /// Cache-read tokens × (input price − cache-read price), at the price table's rates.
    pub cache_savings_usd: f64,
    /// `cost_usd` / `commits`; `null` without commits or cost.
    pub cost_per_commit_usd: Option<f64>,
    /// The mean of (last score − first score) over sessions with two scores or more.
    pub avg_score_change: Option<f64>,
    pub avg_iteration_secs: Option<f64>,
    pub check_runs: u64,
    pub avg_check_secs: Option<f64>,
}

/// `mmm stats`' answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub r#type: &'static str,
    /// The `--since` bound, as given.
    pub since: Option<String>,
    pub by: Option<By>,
    pub total: Figures,
    /// One entry per group, in the order of their keys; empty without `--by`.
    pub groups: Vec<Figures>,
}

/// Money is rounded to a billionth of a dollar, so sums that differ only in the order
/// SQLite added them print the same.
fn money(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The statistics of the sessions that started at or after `since_ms` (epoch
/// milliseconds), in total and grouped `by`.
pub fn stats(index: &Index, since: Option<(&str, i64)>, by: Option<By>) -> anyhow::Result<Stats> {
    let since_ms = since.map_or(i64::MIN, |(_, ms)| ms);
    let total = figures(index, since_ms, None)?.pop().unwrap_or_else(|| empty(None));
    let groups = match by {
        Some(by) => figures(index, since_ms, Some(by))?,
        None => Vec::new(),
    };
    Ok(Stats { r#type: "stats", since: since.map(|(s, _)| s.to_string()), by, total, groups })
}

fn empty(key: Option<String>) -> Figures {
    Figures {
        key,
        sessions: 0,
        iterations: 0,
        commits: 0,
        rollbacks: 0,
        failures: 0,
        commit_rate: None,
        rollback_rate: None,
        failure_rate: None,
        tokens: Tokens::default(),
        cost_usd: None,
        unpriced_sessions: 0,
        cache_savings_usd: 0.0,
        cost_per_commit_usd: None,
        avg_score_change: None,
        avg_iteration_secs: None,
        check_runs: 0,
        avg_check_secs: None,
    }
}

fn figures(index: &Index, since_ms: i64, by: Option<By>) -> anyhow::Result<Vec<Figures>> {
    let (key, group) = by.map_or(("NULL", ""), By::sql);
    let group_by = if group.is_empty() { String::new() } else { format!("GROUP BY {group} ORDER BY {key}") };
    let sql = format!(
        "SELECT {key}, COUNT(*), SUM(s.iterations), SUM(s.commits), SUM(s.rollbacks), SUM(s.failures), \
         SUM(s.input_tokens), SUM(s.output_tokens), SUM(s.cache_write_tokens), SUM(s.cache_read_tokens), \
         SUM(s.cost_usd), SUM(s.cost_usd IS NULL), TOTAL(s.cache_savings_usd), AVG(s.score_after - s.score_before), \
         SUM(s.iteration_ms), SUM(s.check_runs), SUM(s.check_ms) \
         FROM sessions s JOIN projects p ON p.id = s.project_id WHERE s.started_ms >= ?1 {group_by}"
    );
    let mut stmt = index.conn().prepare(&sql)?;
    let rows = stmt.query_map(params![since_ms], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64) };
        let sessions = n(1)?;
        let iterations = n(2)?;
        let (commits, rollbacks, failures) = (n(3)?, n(4)?, n(5)?);
        let cost: Option<f64> = r.get(10)?;
        let (iteration_ms, check_runs, check_ms) = (n(14)?, n(15)?, n(16)?);
        Ok(Figures {
            key: r.get(0)?,
            sessions,
            iterations,
            commits,
            rollbacks,
            failures,
            commit_rate: ratio(commits, iterations),
            rollback_rate: ratio(rollbacks, iterations),
            failure_rate: ratio(failures, iterations),
            tokens: Tokens { input: n(6)?, output: n(7)?, cache_write: n(8)?, cache_read: n(9)? },
            cost_usd: cost.map(money),
            unpriced_sessions: n(11)?,
            cache_savings_usd: money(r.get(12)?),
            cost_per_commit_usd: cost.filter(|_| commits > 0).map(|c| money(c / commits as f64)),
            avg_score_change: r.get(13)?,
            avg_iteration_secs: ratio(iteration_ms, iterations).map(|ms| ms / 1000.0),
            check_runs,
            avg_check_secs: ratio(check_ms, check_runs).map(|ms| ms / 1000.0),
        })
    })?;
    let all: Vec<Figures> = rows.collect::<Result<_, _>>()?;
    // Without `--by`, no session at all still gives the one (empty) total row.
    Ok(all.into_iter().filter(|f| f.sessions > 0 || by.is_none()).collect())
}

/// `--since`: a day (`2026-12-01`, midnight UTC) or a time (`2026-12-01T12:00:00Z`), as
/// epoch milliseconds.
pub fn parse_since(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond());
    }
    let date: jiff::civil::Date = text.parse().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_millisecond())
}
