//! `mmm history`: every session of this repository, or every iteration of one.

use serde::Serialize;

use super::Ctx;
use crate::cli::HistoryArgs;
use crate::error::CliError;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::session::events::{cost, iteration_line, tokens};
use crate::state::Layout;
use crate::state::session::SessionRecord;

#[derive(Serialize)]
struct SessionList {
    r#type: &'static str,
    sessions: Vec<SessionRecord>,
}

impl Report for SessionList {
    fn human(&self, s: &Styles) -> String {
        if self.sessions.is_empty() {
            return "No mmm sessions in this repository yet: start one with `mmm improve`.".into();
        }
        let score = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
        let mut lines = vec![s.bold(format!(
            "{:<22} {:<11} {:>5} {:>7} {:>11} {:>8} {:>8}  {}",
            "SESSION", "STATUS", "ITER", "COMMITS", "SCORE", "TOKENS", "COST", "STOPPED BECAUSE"
        ))];
        for r in &self.sessions {
            lines.push(format!(
                "{:<22} {:<11} {:>5} {:>7} {:>11} {:>8} {:>8}  {}",
                r.id,
                format!("{:?}", r.status).to_lowercase(),
                r.iterations.len(),
                r.commits().count(),
                format!("{} → {}", score(r.score_before()), score(r.score_now())),
                tokens(r.usage.total()),
                cost(r.cost_usd),
                r.stop_reason.as_ref().map(|x| x.to_string()).unwrap_or_default()
            ));
        }
        lines.join("\n")
    }
}

#[derive(Serialize)]
struct SessionDetail {
    r#type: &'static str,
    session: SessionRecord,
}

impl Report for SessionDetail {
    fn human(&self, s: &Styles) -> String {
        let r = &self.session;
        let mut lines = vec![
            s.bold(format!("Session {} on {}", r.id, r.branch)),
            format!("  started {}, model {}", r.started_at, r.settings.model),
            format!("  checks  {}", r.settings.checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")),
            format!(
                "  stopped {}",
                r.stop_reason.as_ref().map(|x| x.to_string()).unwrap_or_else(|| "— still running or cut off".into())
            ),
            String::new(),
        ];
        if r.iterations.is_empty() {
            lines.push("No iteration completed.".into());
        }
        for it in &r.iterations {
            lines.push(iteration_line(it, s));
            if let Some(commit) = &it.commit {
                lines.push(format!("     commit {commit}"));
            }
            for issue in &it.issues {
                lines.push(format!("     - {issue}"));
            }
        }
        lines.push(format!(
            "\nTotal: {} tokens in {} requests, {}",
            tokens(r.usage.total()),
            r.requests,
            cost(r.cost_usd)
        ));
        lines.join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &HistoryArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    if let Some(id) = &args.session {
        let path = layout.session_dir(id).join("session.json");
        if !path.exists() {
            return Err(CliError::usage(format!("no session `{id}` in this repository"))
                .with_hint("`mmm history` lists the sessions")
                .into());
        }
        return ctx.printer.report(&SessionDetail { r#type: "session", session: SessionRecord::load(&path)? });
    }
    let mut sessions = Vec::new();
    if let Ok(entries) = std::fs::read_dir(layout.sessions_dir()) {
        for entry in entries.flatten() {
            let path = entry.path().join("session.json");
            match SessionRecord::load(&path) {
                Ok(record) => sessions.push(record),
                Err(e) if path.exists() => ctx.printer.warn(format!("skipping {}: {e:#}", path.display())),
                Err(_) => {}
            }
        }
    }
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    ctx.printer.report(&SessionList { r#type: "history", sessions })
}
