//! Talking to a model: Anthropic's Messages API or an OpenAI-compatible Chat Completions
//! endpoint, behind a small [`Model`] trait.
//!
//! One call per conversation turn: build a [`MessagesRequest`] (system prompt, messages,
//! tools), optionally let [`cache::place_breakpoints`] mark what the API should cache,
//! and [`Model::send`] it. The client ([`AnthropicClient`], or [`OpenAiClient`], which
//! translates the same request and response types to and from its wire format) streams the
//! response, forwards text as it arrives, retries what is worth retrying (rate limits,
//! overload, dropped or silent streams: one [`http::Transport`] for both) and returns the
//! whole assistant turn with its [`Usage`]; [`pricing`] turns usage into dollars. Append
//! [`MessagesResponse::to_message`] and the tool results to the conversation and send again.
//!
//! This module knows nothing of git, tools or sessions, and never logs, stores or shows
//! the API key: it lives in a request header only.

pub mod cache;
pub mod client;
pub mod error;
pub mod http;
pub mod models;
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod sse;
pub mod types;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use client::{AnthropicClient, ClientConfig, Credential};
pub use error::{ApiError, LlmError, Provider};
pub use models::ModelInfo;
pub use openai::{OpenAiClient, OpenAiConfig};
pub use pricing::{Price, Pricing};
pub use retry::{RetryPolicy, Sleeper, TokioSleeper};
pub use types::*;

/// Something that happened while a response was on its way, for live display.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamUpdate<'a> {
    /// A piece of the model's visible text.
    Text(&'a str),
    /// A piece of the model's (summarised) thinking.
    Thinking(&'a str),
    /// The model started a tool call; its input follows and is complete in the response.
    ToolUse { id: &'a str, name: &'a str },
    /// The attempt failed and the request will be sent again after `delay`: retry
    /// `attempt` of at most `max`. Text already forwarded for the failed attempt will be
    /// forwarded again from the start.
    Retry { attempt: u32, max: u32, delay: Duration, error: &'a LlmError },
    /// The request gave up with `error` on model `from` and is sent again on model `to`
    /// (the session's fallback after overload); text forwarded so far starts over.
    ModelSwitch { from: &'a str, to: &'a str, error: &'a LlmError },
}

/// The future [`Model::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<MessagesResponse, LlmError>> + Send + 'a>>;

/// The future [`Model::check`] returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), LlmError>> + Send + 'a>>;

/// A model provider: sends one request, returns one complete assistant turn.
///
/// Object-safe, so the session can hold a `Box<dyn Model>` (and tests a fake one).
pub trait Model: Send + Sync {
    /// The configured model id, for reports and pricing.
    fn name(&self) -> &str;

    /// Sends `request` (with retries) and returns the full response. `on_event` sees text
    /// and thinking as it streams in, tool calls as they start, and each retry.
    fn send<'a>(
        &'a self,
        request: &'a MessagesRequest,
        on_event: &'a (dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> SendFuture<'a>;

    /// Whether the endpoint takes Anthropic's built-in tool types (the text editor's
    /// `type`); when not, tools must be sent as ordinary JSON-schema tools.
    fn builtin_tools(&self) -> bool {
        true
    }

    /// Checks with one cheap request, before anything is changed, that the credential is
    /// accepted and `model` exists. A provider with no such request has nothing to check.
    fn check<'a>(&'a self, model: &'a str) -> CheckFuture<'a> {
        let _ = model;
        Box::pin(async { Ok(()) })
    }
}

/// What a model check's answer means: a model described is fine; a 404 or 405 whose error
/// kind is not `not_found` (the API's "no such model") is an endpoint that does not
/// describe models, which has nothing to say, so that passes too; anything else fails.
pub(crate) fn checked<T>(answer: Result<T, LlmError>, not_found: &str) -> Result<(), LlmError> {
    match answer {
        Err(e) if matches!(e.api(), Some(api) if matches!(api.status, Some(404 | 405)) && api.kind != not_found) => {
            tracing::debug!("the endpoint does not describe models ({e}); not checked");
            Ok(())
        }
        answer => answer.map(|_| ()),
    }
}
