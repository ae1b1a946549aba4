//! Alerts: when a session ends, its facts and the index's are checked against the `[alerts]`
//! thresholds — one session's spend, a day's spend across projects, the failure rate over
//! the project's latest iterations, a drop in score, a session stopped by an error — and
//! each crossing is delivered once, to a webhook (a Slack-compatible `{"text": ...}` with the
//! whole alert under `alert`) and/or a command (the alert's JSON on stdin).
//!
//! "Once" is kept in the index (`alerts_sent`): a crossing is claimed there before it is
//! delivered, so a resumed session, a second process or a retry never sends it twice. A
//! delivery that fails is retried, then reported as a warning: an alert never fails or
//! stops a session. An alert carries only what the records hold, never a credential, and
//! the command runs without mmm's credentials in its environment.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::index::Index;
use crate::settings::Settings;
use crate::state::session::{SessionRecord, StopReason};

/// Tries of a delivery, and the wait before each retry.
const TRIES: u32 = 3;
const RETRY_WAIT: Duration = Duration::from_millis(500);
/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `[alerts]` settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertSettings {
    pub session_usd: Option<f64>,
    pub daily_usd: Option<f64>,
    pub failure_rate: Option<f64>,
    pub failure_window: u64,
    pub score_drop: Option<f64>,
    pub on_error: bool,
    pub webhook: Option<String>,
    pub command: Option<String>,
}

impl AlertSettings {
    pub fn resolve(settings: &Settings) -> Self {
        Self {
            session_usd: settings.float("alerts.session_usd"),
            daily_usd: settings.float("alerts.daily_usd"),
            failure_rate: settings.float("alerts.failure_rate"),
            failure_window: settings.int("alerts.failure_window").unwrap_or(10).max(1),
            score_drop: settings.float("alerts.score_drop"),
            on_error: settings.bool("alerts.on_error"),
            webhook: settings.str("alerts.webhook").map(str::to_string),
            command: settings.str("alerts.command").map(str::to_string),
        }
    }

    /// Whether any alert could be delivered: a threshold and a channel.
    pub fn active(&self) -> bool {
        let threshold = self.session_usd.is_some()
            || self.daily_usd.is_some()
            || self.failure_rate.is_some()
            || self.score_drop.is_some()
            || self.on_error;
        threshold && (self.webhook.is_some() || self.command.is_some())
    }
}

/// One crossed threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub r#type: &'static str,
    /// `session_usd`, `daily_usd`, `failure_rate`, `score_drop` or `error`.
    pub kind: &'static str,
    pub message: String,
    pub session: String,
    pub project: String,
    /// The measured value (USD, a rate, points of score); `null` for `error`.
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub at: String,
}

/// The alerts `record`'s end crosses, each claimed in the index so it is sent once.
pub fn crossed(index: &Index, root: &Path, record: &SessionRecord, cfg: &AlertSettings) -> anyhow::Result<Vec<Alert>> {
    let project = root.to_string_lossy().into_owned();
    let alert = |kind, message: String, value, threshold| Alert {
        r#type: "alert",
        kind,
        message,
        session: record.id.clone(),
        project: project.clone(),
        value,
        threshold,
        at: crate::state::now(),
    };
    let session_key = format!("{project}\n{}", record.id);
    let mut alerts = Vec::new();
    if let (Some(limit), Some(spent)) = (cfg.session_usd, record.cost_usd)
        && spent >= limit
        && index.claim_alert("session_usd", &session_key)?
    {
        alerts.push(alert(
            "session_usd",
            format!("mmm session {} spent ${spent:.2}, over the alert line of ${limit:.2}", record.id),
            Some(spent),
            Some(limit),
        ));
    }
    if let Some(limit) = cfg.daily_usd {
        let day = crate::index::day_of(&record.started_at);
        let spent = index.day_cost(&day)?;
        if spent >= limit && index.claim_alert("daily_usd", &day)? {
            alerts.push(alert(
                "daily_usd",
                format!("mmm sessions on {day} spent ${spent:.2}, over the daily alert line of ${limit:.2}"),
                Some(spent),
                Some(limit),
            ));
        }
    }
    if let Some(limit) = cfg.failure_rate
        && let Some((rate, n)) = index.failure_rate(root, cfg.failure_window)?
    {
        if rate >= limit {
            if index.claim_alert("failure_rate", &project)? {
                alerts.push(alert(
                    "failure_rate",
                    format!(
                        "{:.0}% of the last {n} mmm iterations in {project} failed or were rolled back (alert at {:.0}%)",
                        rate * 100.0,
                        limit * 100.0
                    ),
                    Some(rate),
                    Some(limit),
                ));
            }
        } else {
            // Back under the line: the next crossing alerts again.
            index.release_alert("failure_rate", &project)?;
        }
    }
    if let (Some(limit), [first, .., last]) = (cfg.score_drop, record.scores.as_slice()) {
        let drop = first - last;
        if drop >= limit && index.claim_alert("score_drop", &session_key)? {
            alerts.push(alert(
                "score_drop",
                format!("mmm session {}: the score fell from {first:.1} to {last:.1}", record.id),
                Some(drop),
                Some(limit),
            ));
        }
    }
    if cfg.on_error
        && let Some(StopReason::Error { message }) = &record.stop_reason
        && index.claim_alert("error", &session_key)?
    {
        alerts.push(alert("error", format!("mmm session {} stopped on an error: {message}", record.id), None, None));
    }
    Ok(alerts)
}

/// Sends `alert` to every channel, retrying each; returns a warning per channel that never
/// took it.
pub fn deliver(alert: &Alert, cfg: &AlertSettings) -> Vec<String> {
    let mut warnings = Vec::new();
    let json = match serde_json::to_value(alert) {
        Ok(json) => json,
        Err(e) => return vec![format!("could not write the {} alert: {e}", alert.kind)],
    };
    if let Some(url) = &cfg.webhook {
        let body = serde_json::json!({ "text": alert.message, "alert": json });
        if let Err(e) = retried(|| post(url, &body)) {
            // Not the URL: a webhook's URL is often its credential.
            warnings.push(format!(
                "could not deliver the {} alert to alerts.webhook after {TRIES} tries: {e:#}",
                alert.kind
            ));
        }
    }
    if let Some(command) = &cfg.command {
        let input = json.to_string();
        if let Err(e) = retried(|| run(command, &input)) {
            warnings.push(format!(
                "could not deliver the {} alert to alerts.command after {TRIES} tries: {e:#}",
                alert.kind
            ));
        }
    }
    warnings
}

fn retried(mut attempt: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut last = None;
    for n in 0..TRIES {
        if n > 0 {
            std::thread::sleep(RETRY_WAIT * n);
        }
        match attempt() {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::info!("alert delivery, try {} of {TRIES}: {e:#}", n + 1);
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no try was made")))
}

/// One POST of `body`, on a thread with a runtime of its own (whatever runtime, if any,
/// the caller is on).
fn post(url: &str, body: &serde_json::Value) -> anyhow::Result<()> {
    let (url, body) = (url.to_string(), body.clone());
    let sent = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async {
            let client = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build()?;
            let response =
                client.post(&url).json(&body).send().await.map_err(|e| anyhow::Error::from(e.without_url()))?;
            let status = response.status();
            anyhow::ensure!(status.is_success(), "the webhook answered {status}");
            Ok(())
        })
    });
    sent.join().map_err(|_| anyhow::anyhow!("the delivery thread panicked"))?
}

/// Runs `command` through the shell with `input` on stdin, killing it after the timeout.
fn run(command: &str, input: &str) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    crate::exec::without_credentials(&mut cmd, &[]);
    let mut child = cmd.spawn().map_err(|e| anyhow::anyhow!("starting the command: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not a failure.
        let _ = stdin.write_all(input.as_bytes());
    }
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "the command exited with {status}");
            return Ok(());
        }
        if started.elapsed() > DELIVERY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the command took longer than {}s", DELIVERY_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests;
