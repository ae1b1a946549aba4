//! `mmm stats`: the index's figures, in total and per group, as a table or one JSON object.

use super::Ctx;
use crate::cli::StatsArgs;
use crate::error::CliError;
use crate::index::stats::{self, Figures, Stats};
use crate::index::{self, Index};
use crate::printer::{Report, Styles};
use crate::session::events::cost;

pub fn exec(ctx: &Ctx<'_>, args: &StatsArgs) -> anyhow::Result<()> {
    let since = match &args.since {
        Some(text) => Some((
            text.as_str(),
            stats::parse_since(text).ok_or_else(|| {
                CliError::usage(format!("`--since {text}` is not a date or a time"))
                    .with_hint("give a day like 2026-12-01 or a time like 2026-12-01T12:00:00Z")
            })?,
        )),
        None => None,
    };
    let index = Index::open(&index::path_from_env()?)?;
    let stats = stats::stats(&index, since, args.by)?;
    ctx.printer.report(&stats)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn secs(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}s"))
}

/// One line of figures.
fn row(f: &Figures) -> String {
    let score = f.avg_score_change.map_or("-".into(), |d| format!("{d:+.1}"));
    format!(
        "{} sessions · {} iterations · committed {} rolled back {} failed {} · {} · {} per commit · cache saved {} \
         · score {score} · {} per iteration · {} per check",
        f.sessions,
        f.iterations,
        percent(f.commit_rate),
        percent(f.rollback_rate),
        percent(f.failure_rate),
        cost(f.cost_usd),
        cost(f.cost_per_commit_usd),
        cost(Some(f.cache_savings_usd)),
        secs(f.avg_iteration_secs),
        secs(f.avg_check_secs),
    )
}

impl Report for Stats {
    fn human(&self, s: &Styles) -> String {
        if self.total.sessions == 0 {
            return "No sessions in the index yet: sessions are recorded as they end (`mmm projects reindex` \
                    indexes earlier ones)."
                .into();
        }
        let t = &self.total.tokens;
        let mut lines = vec![
            format!("{} {}", s.bold("Total"), row(&self.total)),
            format!(
                "  tokens: {} input, {} output, {} cache write, {} cache read",
                t.input, t.output, t.cache_write, t.cache_read
            ),
        ];
        if self.total.unpriced_sessions > 0 {
            lines.push(format!(
                "  {} session(s) of a model without a price are not in the cost",
                self.total.unpriced_sessions
            ));
        }
        for g in &self.groups {
            lines.push(format!("{} {}", s.cyan(g.key.as_deref().unwrap_or("-")), row(g)));
        }
        lines.join("\n")
    }
}
