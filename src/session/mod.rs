//! Sessions: one engine ([`engine`]) and the policies over it (`improve`, `spec`).
//!
//! This is the one module that talks to the analyzer, the model, the tools, the checks,
//! git and the state; none of those know of each other, and none of them know of it. The
//! engine owns a running session (record, journal, transcript, usage, cancellation) and
//! the loop every kind of session shares; a policy says what to ask the model and what to
//! keep. Nothing here prints: sessions report through events to an observer.

pub mod checks;
pub mod engine;
pub mod events;
pub mod improve;
pub mod integrity;
pub mod merge;
pub mod parallel;
pub mod prompts;
pub mod recovery;
pub mod retries;
pub mod reuse;
pub mod review;
pub mod rules;
pub mod setup;
pub mod spec;
pub mod stop;
pub mod transcript;
pub mod verdict;
pub mod workflow;

use std::sync::Arc;

use crate::error::{CliError, InSession};
use crate::llm::Usage;
use crate::state::session::SessionStatus;
use engine::Finished;
use stop::StopReason;

/// The exit a finished session maps to: success, 1 for a failing or broken run, 130 for an
/// interrupted one, and 3 when `fail_under` is given and the final score is below it. The
/// hints name the session, so the next step is one command. An error that ended the
/// session (an API failure) is returned as itself, so its own hint is shown.
pub fn exit_result(finished: Finished, command: &str, fail_under: Option<f64>) -> anyhow::Result<()> {
    let Finished { record, error } = finished;
    let id = &record.id;
    if let Some(error) = error {
        return Err(error.context(InSession { session: id.clone(), text: format!("session {id} stopped") }));
    }
    match &record.stop_reason {
        Some(StopReason::Interrupted) => {
            Err(CliError::interrupted("interrupted: the current iteration was rolled back")
                .with_hint(format!("resume with `mmm {command} --resume {id}`"))
                .in_session(id)
                .into())
        }
        Some(StopReason::Error { message }) => Err(CliError::failure(message.clone())
            .with_hint(format!("fix the cause, then `mmm {command} --resume {id}`"))
            .in_session(id)
            .into()),
        Some(StopReason::Failing { iterations }) => {
            Err(CliError::failure(format!("{iterations} failed iterations in a row"))
                .with_hint(format!("see `mmm history {id}` for what went wrong"))
                .in_session(id)
                .into())
        }
        _ if record.status == SessionStatus::NothingKept => Err(CliError::nothing_kept(format!(
            "the session kept no change: {} iteration(s), none committed",
            record.iterations.len()
        ))
        .with_hint(format!("`mmm history {id}` shows what was tried and why it was not kept"))
        .in_session(id)
        .into()),
        _ => match (fail_under, record.score_now()) {
            (Some(threshold), score) if score.is_none_or(|s| s < threshold) => {
                let got = score.map_or_else(|| "no score".to_string(), |s| format!("score {s:.1}"));
                Err(CliError::target_not_reached(format!(
                    "the session ended with {got}, below --fail-under {threshold:.1}"
                ))
                .with_hint(format!("`mmm history {id}` shows each iteration"))
                .in_session(id)
                .into())
            }
            _ => Ok(()),
        },
    }
}

/// The cost of a usage of a model (by its name), when its price is known.
pub type PriceFn = Arc<dyn Fn(&str, &Usage) -> Option<f64> + Send + Sync>;
