//! `mmm status`: the project's mmm state at a glance — the last session, the current score
//! and the totals so far.

use serde::Serialize;

use super::Ctx;
use crate::git::Git;
use crate::printer::{Report, Styles};
use crate::session::events::{cost, tokens};
use crate::state::Layout;
use crate::state::session::SessionRecord;
use crate::state::summary::{ProjectState, Totals};

#[derive(Serialize)]
struct StatusReport {
    r#type: &'static str,
    state: ProjectState,
    /// Derived from every session's record.
    totals: Totals,
    last_session: Option<SessionRecord>,
}

impl Report for StatusReport {
    fn human(&self, s: &Styles) -> String {
        let Some(last) = &self.last_session else {
            return "No mmm sessions in this repository yet: start one with `mmm improve`.".to_string();
        };
        let t = &self.totals;
        let score = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
        let reason =
            last.stop_reason.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "still running or cut off".into());
        let mut lines = vec![
            format!("{} {}", s.bold("Last session"), last.id),
            format!("  status      {} — {reason}", last.status.as_str()),
        ];
        if let Some(undo) = &last.undone {
            lines.push(format!("  undone      {}: {undo}", undo.at()));
        }
        lines.extend([
            format!("  branch      {}", s.cyan(&last.branch)),
            format!("  score       {} → {}", score(last.score_before()), score(last.score_now())),
            format!("  iterations  {} ({} committed)", last.iterations.len(), last.commits().count()),
            format!("  cost        {} for {} tokens", cost(last.cost_usd), tokens(last.usage.total())),
            String::new(),
            format!("{} (all sessions)", s.bold("Totals")),
            format!("  sessions {}, iterations {}, commits {}", t.sessions, t.iterations, t.commits),
            format!("  {} tokens, {}", tokens(t.usage.total()), cost(t.cost_usd)),
        ]);
        if matches!(
            last.status,
            crate::state::session::SessionStatus::Interrupted | crate::state::session::SessionStatus::Failed
        ) && last.undone.is_none()
        {
            let command = match last.kind {
                crate::state::session::SessionKind::Improve => "mmm improve",
                crate::state::session::SessionKind::Spec => "mmm run",
            };
            lines.push(format!("\nResume with `{command} --resume {}`.", last.id));
        }
        lines.join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    let state = ProjectState::load_or_default(&layout.state_file())?;
    let last_session = match &state.last_session {
        Some(id) => Some(SessionRecord::load(&layout.session_dir(id).join("session.json"))?),
        None => None,
    };
    let (sessions, unreadable) = SessionRecord::load_all(&layout.sessions_dir());
    for (path, e) in unreadable {
        ctx.printer.warn(format!("skipping {}: {e:#}", path.display()));
    }
    let totals = Totals::of(&sessions);
    ctx.printer.report(&StatusReport { r#type: "status", state, totals, last_session })
}
