//! The terminal's view of running sessions: the [`Observer`] the commands give the engine.
//!
//! Events become one JSON line each (`--output json`, with the session's id) or a line of
//! text for a person; what a session is busy with becomes a spinner; streamed model text
//! is shown with `-v`; a check failure that stands becomes GitHub annotations when running
//! in GitHub Actions. It only prints: it never changes a session.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ci::annotations::{self, MAX_ANNOTATIONS};
use crate::printer::{Printer, Spinner};
use crate::session::events::{Envelope, Event, Observer, cost, tokens};
use crate::state::session::Outcome;

/// Prints what sessions report.
pub struct Terminal {
    printer: Printer,
    verbose: bool,
    /// What the spinner line shows; shared with the spinner, which redraws it every tick.
    live: Arc<Mutex<Live>>,
    spinner: Mutex<Option<Spinner>>,
}

/// The spinner line's facts: the phase, since when, and what the iteration has used.
#[derive(Debug, Clone)]
struct Live {
    phase: String,
    since: Instant,
    iteration: u32,
    tokens: u64,
    /// `None` once a response's price was unknown.
    cost: Option<f64>,
}

impl Live {
    fn line(&self) -> String {
        activity_line(&self.phase, self.since.elapsed(), self.tokens, self.cost)
    }

    /// Counts a response of `iteration` (a new iteration starts a new account).
    fn count(&mut self, iteration: u32, used: u64, cost_usd: Option<f64>) {
        if iteration != self.iteration {
            *self = Live { iteration, tokens: 0, cost: Some(0.0), ..self.clone() };
        }
        self.tokens += used;
        self.cost = self.cost.zip(cost_usd).map(|(a, b)| a + b);
    }
}

/// The spinner's line: `#2 editing · 12s · 41.2k tokens · $0.08` (no tokens before the
/// first response).
pub fn activity_line(phase: &str, elapsed: Duration, used: u64, spent: Option<f64>) -> String {
    let secs = elapsed.as_secs();
    let time = if secs < 60 { format!("{secs}s") } else { format!("{}m{:02}s", secs / 60, secs % 60) };
    if used == 0 {
        format!("{phase} · {time}")
    } else {
        format!("{phase} · {time} · {} tokens · {}", tokens(used), cost(spent))
    }
}

impl Terminal {
    pub fn new(printer: Printer, verbose: bool) -> Self {
        let live = Live { phase: String::new(), since: Instant::now(), iteration: 0, tokens: 0, cost: Some(0.0) };
        Self { printer, verbose, live: Arc::new(Mutex::new(live)), spinner: Mutex::new(None) }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `print` with the spinner's line out of the way (it is drawn again after).
    fn above_spinner(&self, print: impl FnOnce()) {
        let spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        match spinner.as_ref() {
            Some(spinner) => spinner.suspend(print),
            None => print(),
        }
    }

    /// GitHub annotations for a check failure that stands: a failing baseline, or the last
    /// failing check of an iteration that was rolled back.
    fn annotate(&self, session: &str, event: &Event) {
        let failed = match event {
            Event::Baseline { passed: false, checks } => checks.iter().find(|c| !c.passed),
            Event::Iteration(it) if it.outcome == Outcome::RolledBack => it.validation.iter().find(|c| !c.passed),
            _ => None,
        };
        let Some(check) = failed else { return };
        let output = check.output.as_deref().unwrap_or("");
        for annotation in annotations::annotations(&check.command, output, MAX_ANNOTATIONS) {
            let _ = if self.printer.is_json() {
                self.printer.json(&serde_json::json!({
                    "session": session,
                    "type": "annotation",
                    "level": annotation.level.to_string(),
                    "file": annotation.file,
                    "line": annotation.line,
                    "message": annotation.message,
                    "command": annotation.to_string(),
                }))
            } else {
                self.printer.workflow_command(&annotation)
            };
        }
    }
}

/// The observer a command gives its sessions: the terminal, with the index kept up to date
/// as each session ends ([`crate::index::observer::Recorder`]) and the `[alerts]` checked
/// then.
pub fn observer(ctx: &super::Ctx<'_>, git: &crate::git::Git) -> Arc<dyn Observer> {
    let terminal = Arc::new(Terminal::new(ctx.printer.clone(), ctx.verbose > 0));
    let db = crate::index::path_from_env().ok();
    let recorder = crate::index::observer::Recorder::new(terminal, git.root().to_path_buf(), db);
    let alerts = crate::alerts::AlertSettings::resolve(&ctx.settings);
    if !alerts.active() {
        return Arc::new(recorder);
    }
    Arc::new(recorder.then(move |index, root, record| match crate::alerts::crossed(index, root, record, &alerts) {
        Ok(crossed) => crossed.iter().flat_map(|alert| crate::alerts::deliver(alert, &alerts)).collect(),
        Err(e) => vec![format!("could not check the alerts: {e:#}")],
    }))
}

impl Observer for Terminal {
    fn event(&self, session: &str, event: &Event) {
        match event {
            Event::Usage { iteration, usage, cost_usd, .. } => self.live().count(*iteration, usage.total(), *cost_usd),
            Event::Iteration(it) => self.live().count(it.index + 1, 0, Some(0.0)),
            _ => {}
        }
        if self.printer.is_json() {
            let _ = self.printer.json(&Envelope { session, event });
        } else if let Some(line) = event.human(session, &self.printer.styles()) {
            self.above_spinner(|| {
                let _ = self.printer.line(line);
            });
        }
        if self.printer.github_annotations() {
            self.annotate(session, event);
        }
    }

    fn activity(&self, _session: &str, what: Option<String>) {
        let mut spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(what) = what else {
            *spinner = None;
            return;
        };
        {
            let mut live = self.live();
            if live.phase != what {
                live.phase = what;
                live.since = Instant::now();
            }
        }
        if spinner.is_none() {
            let live = Arc::clone(&self.live);
            *spinner = Some(self.printer.live_spinner(move || live.lock().unwrap_or_else(|p| p.into_inner()).line()));
        }
    }

    fn text(&self, _session: &str, block: &str) {
        if self.verbose && !self.printer.is_json() {
            let s = self.printer.styles();
            let lines: Vec<String> = block.trim().lines().map(|l| s.dim(format!("   │ {l}").trim_end())).collect();
            self.above_spinner(|| {
                let _ = self.printer.line(lines.join("\n"));
            });
        }
    }

    fn warn(&self, _session: &str, message: &str) {
        self.above_spinner(|| self.printer.warn(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spinner_line_shows_the_phase_its_time_and_what_the_iteration_used() {
        assert_eq!(activity_line("#1 reviewing", Duration::from_millis(2_900), 0, Some(0.0)), "#1 reviewing · 2s");
        assert_eq!(
            activity_line("#2 editing", Duration::from_secs(75), 41_234, Some(0.084)),
            "#2 editing · 1m15s · 41.2k tokens · $0.08"
        );
        assert_eq!(activity_line("#3 editing", Duration::ZERO, 950, None), "#3 editing · 0s · 950 tokens · $?");
    }

    #[test]
    fn the_account_is_per_iteration() {
        let mut live =
            Live { phase: "#1 editing".into(), since: Instant::now(), iteration: 0, tokens: 0, cost: Some(0.0) };
        live.count(1, 100, Some(0.01));
        live.count(1, 50, Some(0.02));
        assert_eq!((live.tokens, live.cost), (150, Some(0.03)));
        live.count(2, 10, None);
        assert_eq!((live.tokens, live.cost), (10, None));
    }
}
