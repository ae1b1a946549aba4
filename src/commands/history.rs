//! `mmm history`: every session of this repository, or every iteration of one, its
//! transcript, or (`--profile`) where its time and money went.

use serde::Serialize;

use super::Ctx;
use crate::cli::HistoryArgs;
use crate::error::CliError;
use crate::git::Git;
use crate::llm::{ContentBlock, Role, ToolResultContent};
use crate::printer::{Report, Styles};
use crate::session::events::{cost, iteration_line, tokens};
use crate::session::transcript;
use crate::state::Layout;
use crate::state::profile::{self, Span};
use crate::state::session::{CheckRecord, SessionRecord};
use crate::state::workflow_run;

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
                if r.undone.is_some() { "undone" } else { r.status.as_str() },
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
        ];
        if let Some(undo) = &r.undone {
            lines.push(format!("  undone  {}: {undo}", undo.at()));
        }
        lines.push(String::new());
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
            if let Some(check) = it.validation.iter().find(|c| !c.passed) {
                lines.push(failed_check(check, s));
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

/// Lines of a failed check's output `history <id>` shows (the record keeps more).
const CHECK_TAIL_LINES: usize = 10;

/// The check that failed in an iteration, and the end of what it printed.
fn failed_check(check: &CheckRecord, s: &Styles) -> String {
    let how = match (check.timed_out, check.exit_code) {
        (true, _) => "timed out".to_string(),
        (false, Some(code)) => format!("failed (exit {code})"),
        (false, None) => "failed (killed or could not start)".to_string(),
    };
    let output = check.output.as_deref().unwrap_or("").trim_end();
    let lines: Vec<&str> = output.lines().collect();
    let tail = &lines[lines.len().saturating_sub(CHECK_TAIL_LINES)..];
    let mut text = format!("     {} `{}` {how}", s.red("✗"), check.command);
    if tail.is_empty() {
        text.push_str(", printing nothing");
    } else {
        text.push_str(if tail.len() < lines.len() { ", ending with:" } else { ":" });
        for line in tail {
            text.push_str(&format!("\n       {}", s.dim(line)));
        }
    }
    text
}

/// Most characters of one text block, tool input or tool result shown; the rest is cut
/// with a note (the whole text is in `transcript.jsonl`).
const MAX_BLOCK_CHARS: usize = 2_000;

/// The conversations of a session (`--transcript`), as sent and received.
#[derive(Serialize)]
struct TranscriptReport {
    r#type: &'static str,
    session: String,
    conversations: Vec<transcript::Conversation>,
}

impl Report for TranscriptReport {
    fn human(&self, s: &Styles) -> String {
        if self.conversations.is_empty() {
            return format!("Session {} has no recorded conversation.", self.session);
        }
        let mut lines = Vec::new();
        for c in &self.conversations {
            lines.push(s.bold(format!(
                "── {} ({} message(s), {} tokens) ──",
                c.label,
                c.messages.len(),
                tokens(c.usage.total())
            )));
            for message in &c.messages {
                let who = match message.role {
                    Role::User => s.cyan("mmm"),
                    Role::Assistant => s.green("model"),
                };
                for block in &message.content {
                    lines.push(format!("{who}: {}", block_text(block, s)));
                }
            }
            lines.push(String::new());
        }
        lines.pop();
        lines.join("\n")
    }
}

/// One content block, readably.
fn block_text(block: &ContentBlock, s: &Styles) -> String {
    match block {
        ContentBlock::Text(t) => cap(&t.text),
        ContentBlock::ToolUse(call) => {
            format!("{} {}", s.bold(format!("→ {}", call.name)), cap(&call.input.to_string()))
        }
        ContentBlock::ToolResult(result) => {
            let text = match &result.content {
                Some(ToolResultContent::Text(text)) => text.clone(),
                Some(ToolResultContent::Blocks(blocks)) => blocks
                    .iter()
                    .map(|b| match b {
                        ContentBlock::Text(t) => t.text.clone(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => String::new(),
            };
            let label = if result.is_error { s.yellow("← error") } else { s.bold("←") };
            format!("{label} {}", cap(&text))
        }
        ContentBlock::Thinking(t) => s.dim(format!("(thinking) {}", cap(&t.thinking))),
        ContentBlock::RedactedThinking(_) => s.dim("(redacted thinking)"),
        ContentBlock::Unknown(value) => cap(&value.to_string()),
    }
}

/// `text`, cut at [`MAX_BLOCK_CHARS`] with a note of how much more there is.
fn cap(text: &str) -> String {
    let text = text.trim_end();
    match text.char_indices().nth(MAX_BLOCK_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            format!("{}\n[… {rest} more characters]", &text[..cut])
        }
    }
}

pub fn exec(ctx: &Ctx<'_>, args: &HistoryArgs) -> anyhow::Result<()> {
    let git = Git::open(&ctx.cwd)?;
    let layout = Layout::new(git.root());
    if let Some(id) = &args.session {
        let dir = layout.session_dir(id);
        let path = dir.join("session.json");
        if args.profile && (path.exists() || dir.join(workflow_run::FILE).exists()) {
            return print_profile(ctx, &layout, id, args.trace_file.as_deref());
        }
        if !path.exists() {
            return Err(CliError::usage(format!("no session `{id}` in this repository"))
                .with_hint("`mmm history` lists the sessions")
                .into());
        }
        if args.transcript {
            let file = dir.join("transcript.jsonl");
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {}", file.display()))),
            };
            let conversations = transcript::replay(&text)
                .into_iter()
                .filter(|c| args.iteration.is_none_or(|n| c.iteration() == Some(n)))
                .collect();
            return ctx.printer.report(&TranscriptReport { r#type: "transcript", session: id.clone(), conversations });
        }
        return ctx.printer.report(&SessionDetail { r#type: "session", session: SessionRecord::load(&path)? });
    }
    let (sessions, unreadable) = SessionRecord::load_all(&layout.sessions_dir());
    for (path, e) in unreadable {
        ctx.printer.warn(format!("skipping {}: {e:#}", path.display()));
    }
    ctx.printer.report(&SessionList { r#type: "history", sessions })
}

/// `--profile`: the spans of a session or a workflow run, slowest first.
#[derive(Serialize)]
struct Profile {
    r#type: &'static str,
    id: String,
    /// From the first span's start to the last one's end, in milliseconds.
    wall_ms: u64,
    cost_usd: Option<f64>,
    spans: Vec<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_file: Option<String>,
}

impl Report for Profile {
    fn human(&self, s: &Styles) -> String {
        if self.spans.is_empty() {
            return format!("{} has no timed events in its journal.", self.id);
        }
        let origin = self.spans.iter().map(|s| s.start_us).min().unwrap_or(0);
        let width = self.spans.iter().map(|s| s.name.chars().count()).max().unwrap_or(4).clamp(4, 48);
        let mut lines = vec![
            format!(
                "Profile of {}: {:.1}s from first to last, {}",
                self.id,
                self.wall_ms as f64 / 1e3,
                cost(self.cost_usd)
            ),
            s.bold(format!(
                "{:<8}  {:<width$}  {:>4}  {:>8}  {:>9}  {:>8}",
                "PHASE", "NAME", "ITER", "START", "DURATION", "COST"
            )),
        ];
        for span in &self.spans {
            let name: String = span.name.chars().take(width).collect();
            lines.push(format!(
                "{:<8}  {:<width$}  {:>4}  {:>8}  {:>9}  {:>8}",
                span.phase,
                name,
                span.iteration.map(|i| i.to_string()).unwrap_or_default(),
                format!("+{:.1}s", (span.start_us - origin) as f64 / 1e6),
                format!("{:.1}s", span.duration_ms as f64 / 1e3),
                span.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_default()
            ));
        }
        if let Some(file) = &self.trace_file {
            lines.push(format!("\nWrote the trace to {file}: open it in https://ui.perfetto.dev or chrome://tracing"));
        }
        lines.join("\n")
    }
}

/// The spans of `id`: a workflow run's steps and its steps' sessions, or a session's.
fn spans(layout: &Layout, id: &str) -> anyhow::Result<(Vec<Span>, Option<f64>)> {
    let dir = layout.session_dir(id);
    let run_file = dir.join(workflow_run::FILE);
    if run_file.exists() {
        let run = workflow_run::RunRecord::load(&run_file)?;
        let mut spans = profile::read(&dir.join("events.jsonl"), "")?;
        // What the run spent: its steps' costs (a step's sessions' requests are inside them).
        let cost = spans.iter().filter(|s| s.phase == "step").try_fold(0.0, |sum, s| s.cost_usd.map(|c| sum + c));
        for session in run.steps.iter().flat_map(|s| &s.sessions) {
            spans.extend(profile::read(&layout.session_dir(session).join("events.jsonl"), session)?);
        }
        return Ok((spans, cost));
    }
    let record = SessionRecord::load(&dir.join("session.json"))?;
    Ok((profile::read(&dir.join("events.jsonl"), id)?, record.cost_usd))
}

fn print_profile(ctx: &Ctx<'_>, layout: &Layout, id: &str, trace_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let (mut spans, cost_usd) = spans(layout, id)?;
    let start = spans.iter().map(|s| s.start_us).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.start_us + s.duration_ms as i64 * 1000).max().unwrap_or(0);
    let trace_file = match trace_file {
        Some(path) => {
            let trace = profile::chrome_trace(&spans);
            let path = ctx.cwd.join(path);
            let mut bytes = serde_json::to_vec(&trace)?;
            bytes.push(b'\n');
            crate::state::write_atomic(&path, &bytes).map_err(|e| {
                CliError::failure(format!("could not write the trace to {}: {e:#}", path.display()))
                    .with_hint("give --trace-file a path in a directory you can write")
            })?;
            Some(path.strip_prefix(&ctx.cwd).unwrap_or(&path).display().to_string())
        }
        None => None,
    };
    spans.sort_by(|a, b| b.duration_ms.cmp(&a.duration_ms).then(a.start_us.cmp(&b.start_us)));
    ctx.printer.report(&Profile {
        r#type: "profile",
        id: id.to_string(),
        wall_ms: ((end - start).max(0) / 1000) as u64,
        cost_usd,
        spans,
        trace_file,
    })
}
