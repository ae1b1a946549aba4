//! The terminal's view of running sessions: the [`Observer`] the commands give the engine.
//!
//! Events become one JSON line each (`--output json`, with the session's id) or a line of
//! text for a person; what a session is busy with becomes a spinner; streamed model text
//! is shown with `-v`; a check failure that stands becomes GitHub annotations when running
//! in GitHub Actions. It only prints: it never changes a session.

use std::sync::Mutex;

use crate::ci::annotations::{self, MAX_ANNOTATIONS};
use crate::printer::{Printer, Spinner};
use crate::session::events::{Envelope, Event, Observer};
use crate::state::session::Outcome;

/// Prints what sessions report.
pub struct Terminal {
    printer: Printer,
    verbose: bool,
    spinner: Mutex<Option<Spinner>>,
}

impl Terminal {
    pub fn new(printer: Printer, verbose: bool) -> Self {
        Self { printer, verbose, spinner: Mutex::new(None) }
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

impl Observer for Terminal {
    fn event(&self, session: &str, event: &Event) {
        if self.printer.is_json() {
            let _ = self.printer.json(&Envelope { session, event });
        } else if let Some(line) = event.human(session, &self.printer.styles(), self.verbose) {
            // A spinner line in the way of a printed one is cleared first.
            let spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner()).take();
            drop(spinner);
            let _ = self.printer.line(line);
        }
        if self.printer.github_annotations() {
            self.annotate(session, event);
        }
    }

    fn activity(&self, _session: &str, what: Option<String>) {
        let mut spinner = self.spinner.lock().unwrap_or_else(|p| p.into_inner());
        match (what, spinner.as_ref()) {
            (Some(what), Some(running)) => running.set_message(what),
            (Some(what), None) => *spinner = Some(self.printer.spinner(what)),
            (None, _) => *spinner = None,
        }
    }

    fn text(&self, _session: &str, delta: &str) {
        if self.verbose && !self.printer.is_json() {
            eprint!("{}", self.printer.stderr_styles().dim(delta));
        }
    }

    fn warn(&self, _session: &str, message: &str) {
        self.printer.warn(message);
    }
}
