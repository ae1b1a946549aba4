//! Hooks: the user's commands run on a session's events (`[[hooks]] on = "…"`), each given
//! the event's JSON line on stdin. They consume the event stream like the printer does: the
//! [`HookRunner`] is an [`Observer`] wrapped around the terminal's, so the engine never calls
//! a hook and cannot wait on one.
//!
//! Hooks run one after another in the order of the events, on a task of their own, sandboxed
//! like checks (with the network only when the hook says `network = true`), with none of
//! mmm's credentials in their environment (whatever `validate.pass_env` says). A failing
//! hook is reported as a warning; a failing `required` hook also cancels the session, and
//! [`HookRunner::finish`] turns it into the command's error.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::CliError;
use crate::session::events::{Envelope, Event, Observer};
use crate::settings::extensions::{HookDef, HookOn};
use crate::state::session::Outcome;

/// An [`Observer`] that passes everything to `inner` and runs the hooks an event calls for.
pub struct HookRunner {
    inner: Arc<dyn Observer>,
    hooks: Vec<HookDef>,
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    worker: Mutex<Option<tokio::task::JoinHandle<Vec<String>>>>,
}

struct Job {
    hook: HookDef,
    session: String,
    line: String,
}

/// The hook event an event is, if any.
pub fn hook_event(event: &Event) -> Option<HookOn> {
    match event {
        Event::SessionStarted { .. } => Some(HookOn::SessionStart),
        Event::Iteration(it) if it.outcome == Outcome::Committed => Some(HookOn::IterationCommitted),
        Event::Iteration(it) if it.outcome == Outcome::RolledBack => Some(HookOn::IterationRolledBack),
        Event::Summary(_) => Some(HookOn::SessionEnd),
        _ => None,
    }
}

impl HookRunner {
    /// Hooks `hooks`, run in `dir` (the work tree), watching for `inner`. A failed required
    /// hook cancels `cancel`. Must be called inside the tokio runtime the sessions run on.
    pub fn new(inner: Arc<dyn Observer>, hooks: Vec<HookDef>, dir: PathBuf, cancel: CancellationToken) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let runner = Arc::new(Self { inner, hooks, queue: Mutex::new(Some(tx)), worker: Mutex::new(None) });
        let worker = tokio::spawn(work(rx, Arc::clone(&runner.inner), dir, cancel));
        *runner.worker.lock().unwrap_or_else(PoisonError::into_inner) = Some(worker);
        runner
    }

    /// Waits for the hooks still queued. An error (exit 1) names every required hook that failed.
    pub async fn finish(&self) -> anyhow::Result<()> {
        drop(self.queue.lock().unwrap_or_else(PoisonError::into_inner).take());
        let worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner).take();
        let failed = match worker {
            Some(worker) => worker.await.unwrap_or_default(),
            None => Vec::new(),
        };
        if failed.is_empty() {
            return Ok(());
        }
        Err(CliError::failure(format!("a required hook failed: {}", failed.join("; ")))
            .with_hint("fix the hook, or set `required = false` in its `[[hooks]]` entry to only report its failures")
            .into())
    }
}

impl Observer for HookRunner {
    fn event(&self, session: &str, event: &Event) {
        self.inner.event(session, event);
        let Some(on) = hook_event(event) else { return };
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = queue.as_ref() else { return };
        let mut hooks = self.hooks.iter().filter(|h| h.on == on).peekable();
        if hooks.peek().is_none() {
            return;
        }
        let line = match serde_json::to_string(&Envelope { session, event }) {
            Ok(line) => line + "\n",
            Err(e) => return self.inner.warn(session, &format!("could not write an event for the hooks: {e}")),
        };
        for hook in hooks {
            let _ = queue.send(Job { hook: hook.clone(), session: session.to_string(), line: line.clone() });
        }
    }

    fn activity(&self, session: &str, what: Option<String>) {
        self.inner.activity(session, what);
    }

    fn text(&self, session: &str, block: &str) {
        self.inner.text(session, block);
    }

    fn warn(&self, session: &str, message: &str) {
        self.inner.warn(session, message);
    }

    fn ended(&self, record: &crate::state::session::SessionRecord) {
        self.inner.ended(record);
    }
}

/// Runs the queued hooks in order; returns the failures of required ones.
async fn work(
    mut rx: mpsc::UnboundedReceiver<Job>,
    observer: Arc<dyn Observer>,
    dir: PathBuf,
    cancel: CancellationToken,
) -> Vec<String> {
    let mut failed = Vec::new();
    while let Some(job) = rx.recv().await {
        let timeout = Duration::from_secs(job.hook.timeout_secs.max(1));
        let result =
            crate::exec::run_argv(&job.hook.command, &dir, timeout, job.line.into_bytes(), job.hook.network).await;
        let problem = match result {
            Ok(r) if r.passed() => continue,
            Ok(r) if r.timed_out => format!("timed out after {}s", job.hook.timeout_secs),
            Ok(r) => format!(
                "{}{}",
                r.exit_code.map_or("was killed".to_string(), |c| format!("exited {c}")),
                last_line(&r.output).map(|l| format!(": {l}")).unwrap_or_default()
            ),
            Err(e) => format!("could not start: {e:#}"),
        };
        let what = format!("hook `{}` on {} {problem}", job.hook.command.join(" "), on_name(job.hook.on));
        tracing::warn!("{what}");
        observer.warn(&job.session, &what);
        if job.hook.required {
            failed.push(what);
            cancel.cancel();
        }
    }
    failed
}

fn last_line(output: &str) -> Option<&str> {
    output.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

fn on_name(on: HookOn) -> &'static str {
    match on {
        HookOn::SessionStart => "session_start",
        HookOn::IterationCommitted => "iteration_committed",
        HookOn::IterationRolledBack => "iteration_rolled_back",
        HookOn::SessionEnd => "session_end",
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Observer for Seen {
        fn event(&self, _session: &str, event: &Event) {
            self.0.lock().unwrap().push(serde_json::to_value(event).unwrap()["type"].as_str().unwrap().to_string());
        }
        fn warn(&self, _session: &str, message: &str) {
            self.0.lock().unwrap().push(format!("warn: {message}"));
        }
    }

    fn hook(script: &str, required: bool) -> HookDef {
        HookDef {
            on: HookOn::SessionStart,
            command: vec!["sh".into(), "-c".into(), script.into()],
            required,
            network: false,
            timeout_secs: 30,
        }
    }

    fn started() -> Event {
        Event::SessionStarted {
            kind: crate::state::session::SessionKind::Improve,
            branch: "b".into(),
            start_commit: "c".into(),
            model: "m".into(),
            checks: vec![],
            resumed: false,
            previous_model: None,
            analysis_ms: 0,
            sandbox: None,
        }
    }

    fn snapshot() -> Event {
        Event::Snapshot { commit: "c".into(), files: vec![] }
    }

    async fn run(hooks: Vec<HookDef>, events: &[Event]) -> (Vec<String>, anyhow::Result<()>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Seen::default());
        let cancel = CancellationToken::new();
        let runner = HookRunner::new(seen.clone(), hooks, dir.path().to_path_buf(), cancel.clone());
        for event in events {
            runner.event("s1", event);
        }
        let finished = runner.finish().await;
        let seen = seen.0.lock().unwrap().clone();
        (seen, finished, cancel.is_cancelled())
    }

    #[tokio::test]
    async fn a_failing_hook_is_a_warning_and_only_a_required_one_fails() {
        let (seen, finished, cancelled) =
            run(vec![hook("exit 0", false), hook("echo down >&2; exit 3", false)], &[snapshot(), started()]).await;
        assert_eq!(
            seen,
            ["snapshot", "session_started", "warn: hook `sh -c echo down >&2; exit 3` on session_start exited 3: down"]
        );
        assert!(finished.is_ok() && !cancelled);

        let (_, finished, cancelled) = run(vec![hook("exit 4", true)], &[started()]).await;
        assert_eq!(
            finished.unwrap_err().to_string(),
            "a required hook failed: hook `sh -c exit 4` on session_start exited 4"
        );
        assert!(cancelled);
    }

    #[tokio::test]
    async fn a_hook_reads_the_event_line_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let (_, finished, _) = run(vec![hook(&format!("cat > {}", out.display()), false)], &[started()]).await;
        finished.unwrap();
        let line = serde_json::to_string(&Envelope { session: "s1", event: &started() }).unwrap() + "\n";
        assert_eq!(std::fs::read_to_string(out).unwrap(), line);
    }

    #[test]
    fn events_map_to_hook_events() {
        assert_eq!(hook_event(&started()), Some(HookOn::SessionStart));
        assert_eq!(hook_event(&snapshot()), None);
    }
}
