//! What can go wrong talking to the API, typed so the retry policy can decide and the user
//! can be told what to do next.
//!
//! Every variant says whether it is worth another attempt ([`LlmError::is_retryable`]);
//! [`CliError::from`] turns the final error into the message and `hint:` the user sees.
//! Errors never carry the API key: only what the API or the network said.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::error::CliError;
use crate::settings::value::format_duration;

/// An error the API reported: an HTTP error status, or an `error` event inside a stream
/// whose HTTP status was already 200.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status; `None` for an `error` event in a stream.
    pub status: Option<u16>,
    /// `error.type`: `rate_limit_error`, `overloaded_error`, ... (new ones may appear).
    pub kind: String,
    /// `error.message`, as the API wrote it.
    pub message: String,
    /// The `request-id` header (or the body's `request_id`).
    pub request_id: Option<String>,
    /// How long the API asked us to wait (`retry-after-ms` / `retry-after`), if it said.
    pub retry_after: Option<Duration>,
    /// The `x-should-retry` header, which overrides the status-based decision.
    pub should_retry: Option<bool>,
    /// Which API answered (for the message and the hint).
    pub provider: Provider,
}

/// The wire format a client speaks: it decides how errors are read and worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    /// Anthropic's Messages API (or an endpoint that speaks it).
    #[default]
    Anthropic,
    /// An OpenAI-compatible Chat Completions endpoint (OpenAI, vLLM, LM Studio, llama.cpp, Ollama).
    OpenAi,
}

impl Provider {
    /// How the API is named in messages: `Anthropic API`, `OpenAI-compatible API`.
    pub fn api_name(self) -> &'static str {
        match self {
            Provider::Anthropic => "Anthropic API",
            Provider::OpenAi => "OpenAI-compatible API",
        }
    }

    /// The response header carrying the request's id.
    pub fn request_id_header(self) -> &'static str {
        match self {
            Provider::Anthropic => "request-id",
            Provider::OpenAi => "x-request-id",
        }
    }

    /// The `type`, message and request id of an error body, if it is this API's error
    /// shape: `{"type":"error","error":{"type","message"},"request_id"}` for Anthropic;
    /// `{"error":{"message","type","code"}}` or `{"error":"text"}` for OpenAI-compatible
    /// servers (the kind is `code`, else `type`, else `error`).
    pub(crate) fn read_error(self, body: &[u8]) -> Option<(String, String, Option<String>)> {
        match self {
            Provider::Anthropic => serde_json::from_slice::<ErrorEnvelope>(body)
                .ok()
                .map(|envelope| (envelope.error.kind, envelope.error.message, envelope.request_id)),
            Provider::OpenAi => {
                let value: serde_json::Value = serde_json::from_slice(body).ok()?;
                openai_error(value.get("error")?)
            }
        }
    }
}

/// The `error` member of an OpenAI-compatible error body or stream chunk.
pub(crate) fn openai_error(error: &serde_json::Value) -> Option<(String, String, Option<String>)> {
    use serde_json::Value;
    match error {
        Value::String(message) => Some(("error".into(), message.clone(), None)),
        Value::Object(fields) => {
            let text = |key: &str| match fields.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            // `code` is the more precise (`model_not_found`, `invalid_api_key`); `type` else.
            let kind = text("code").or_else(|| text("type")).unwrap_or_else(|| "error".into());
            Some((kind, text("message").unwrap_or_default(), None))
        }
        _ => None,
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{status} {}", self.kind)?,
            None => write!(f, "{} in the response stream", self.kind)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// The API's error body: `{"type":"error","error":{"type":..,"message":..},"request_id":..}`,
/// also the data of a stream's `error` event.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorEnvelope {
    pub error: ErrorDetail,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The API answered with an error.
    #[error("{api} error {0}{req}", api = .0.provider.api_name(), req = request_suffix(.0.request_id.as_deref()))]
    Api(ApiError),
    /// No connection could be made, or it failed before a response arrived.
    #[error("could not reach {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The API accepted the request but sent no response within `first_byte_timeout`.
    #[error("no response within {} of sending the request (first_byte_timeout)", format_duration(*.0))]
    NoResponse(Duration),
    /// The whole request took longer than `request_timeout`.
    #[error("no complete response within {} (request_timeout)", format_duration(*.0))]
    Timeout(Duration),
    /// A streamed response went silent for longer than `stream_idle_timeout`.
    #[error("the response stream was silent for {} (stream_idle_timeout){req}", format_duration(*.after), req = request_suffix(.request_id.as_deref()))]
    Idle { after: Duration, request_id: Option<String> },
    /// The connection broke while the response was arriving.
    #[error("the connection broke during the response: {detail}{req}", req = request_suffix(.request_id.as_deref()))]
    Broken { detail: String, request_id: Option<String> },
    /// The stream ended without `message_stop`.
    #[error("the response stream ended before the message was complete{req}", req = request_suffix(.request_id.as_deref()))]
    Incomplete { request_id: Option<String> },
    /// The response was not what the Messages API sends.
    #[error("malformed response from the API: {detail}{req}", req = request_suffix(.request_id.as_deref()))]
    Malformed { detail: String, request_id: Option<String> },
    /// The request could not be built (a bad `base_url`, for example).
    #[error("cannot send the request: {0}")]
    Request(String),
    /// Every allowed attempt failed, or the retry budget (`budget`, when that is what
    /// stopped the retries) is spent; `last` is the final failure.
    #[error("{last} (gave up after {attempts} attempt{s}{spent})",
        s = if *.attempts == 1 { "" } else { "s" },
        spent = .budget.map(|b| format!(": the {} retry_budget is spent", format_duration(b))).unwrap_or_default())]
    GaveUp { attempts: u32, budget: Option<Duration>, last: Box<LlmError> },
    /// The API asked to wait `wait` before trying again, longer than the retry budget allows.
    #[error("{last}: the API asks to wait {} before trying again, more than the {} retry_budget allows; try again in {}",
        format_duration(*.wait), format_duration(*.budget), format_duration(*.wait))]
    RetryLater { wait: Duration, budget: Duration, last: Box<LlmError> },
}

/// What to check when no connection could be made. A proxy is taken from the environment
/// (reqwest reads these variables, upper or lower case), so the hint names them.
pub const CONNECT_HINT: &str = "check your network connection and the `base_url` setting; behind a proxy, \
     set HTTPS_PROXY (HTTP_PROXY for an http:// base_url, NO_PROXY for hosts to reach directly)";

fn request_suffix(id: Option<&str>) -> String {
    id.map(|id| format!(" (request-id {id})")).unwrap_or_default()
}

impl LlmError {
    /// The error behind a [`LlmError::GaveUp`] or [`LlmError::RetryLater`], or this one.
    pub fn root(&self) -> &LlmError {
        match self {
            LlmError::GaveUp { last, .. } | LlmError::RetryLater { last, .. } => last.root(),
            other => other,
        }
    }

    /// The API's error, when the API answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self.root() {
            LlmError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        self.api().and_then(|e| e.status)
    }

    /// The `request-id` of the failed response, when one arrived.
    pub fn request_id(&self) -> Option<&str> {
        match self.root() {
            LlmError::Api(e) => e.request_id.as_deref(),
            LlmError::Idle { request_id, .. }
            | LlmError::Broken { request_id, .. }
            | LlmError::Incomplete { request_id }
            | LlmError::Malformed { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether another attempt may succeed: connection failures, timeouts and broken
    /// streams; HTTP 408, 409, 429 and every status from 500 (unless `x-should-retry`
    /// says otherwise); and — unlike the official SDKs, because mmm runs unattended — an
    /// `error` event in a stream whose type is one of those statuses' (`overloaded_error`,
    /// `api_error`, `timeout_error`, `rate_limit_error`).
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Api(e) => e.should_retry.unwrap_or(match e.status {
                Some(status) => matches!(status, 408 | 409 | 429) || status >= 500,
                None => {
                    matches!(e.kind.as_str(), "overloaded_error" | "api_error" | "timeout_error" | "rate_limit_error")
                }
            }),
            LlmError::Connect { .. }
            | LlmError::NoResponse(_)
            | LlmError::Timeout(_)
            | LlmError::Idle { .. }
            | LlmError::Broken { .. }
            | LlmError::Incomplete { .. } => true,
            LlmError::Malformed { .. }
            | LlmError::Request(_)
            | LlmError::GaveUp { .. }
            | LlmError::RetryLater { .. } => false,
        }
    }

    /// What went wrong in a few words, for a progress line: `overloaded`, `rate limited`,
    /// `cannot reach the API`.
    pub fn brief(&self) -> String {
        match self.root() {
            LlmError::Api(e) if e.status == Some(529) || e.kind == "overloaded_error" => "overloaded".into(),
            LlmError::Api(e) if e.status == Some(429) || e.kind == "rate_limit_error" => "rate limited".into(),
            LlmError::Api(ApiError { status: Some(status), .. }) => format!("API error {status}"),
            LlmError::Api(e) => format!("{} in the response stream", e.kind),
            LlmError::Connect { .. } => "cannot reach the API".into(),
            LlmError::NoResponse(_) => "no response".into(),
            LlmError::Timeout(_) => "timed out".into(),
            LlmError::Idle { .. } => "the response stream went silent".into(),
            LlmError::Broken { .. } => "the connection broke".into(),
            LlmError::Incomplete { .. } => "the response stream ended early".into(),
            LlmError::Malformed { .. } => "malformed response".into(),
            LlmError::Request(_) => "the request could not be sent".into(),
            LlmError::GaveUp { .. } | LlmError::RetryLater { .. } => "gave up".into(),
        }
    }

    /// Whether the attempt failed after the API had begun to answer (a stream that broke,
    /// went silent, ended early or carried an error event): the API was alive then.
    pub fn after_response(&self) -> bool {
        match self {
            LlmError::Idle { .. } | LlmError::Incomplete { .. } => true,
            LlmError::Broken { request_id, .. } => request_id.is_some(),
            LlmError::Api(e) => e.status.is_none(),
            _ => false,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        if let LlmError::RetryLater { .. } = self {
            return Some("run mmm again after that wait, or raise `retry_budget` to let mmm wait that long itself");
        }
        let api = match self.root() {
            LlmError::Api(api) => api,
            LlmError::Connect { .. } => return Some(CONNECT_HINT),
            LlmError::NoResponse(_) => {
                return Some(
                    "the server took the connection but did not answer: check `base_url`, try again later, or raise `first_byte_timeout`",
                );
            }
            LlmError::Timeout(_) | LlmError::Idle { .. } => {
                return Some("try again later, or raise `request_timeout` / `stream_idle_timeout`");
            }
            LlmError::Broken { .. } | LlmError::Incomplete { .. } => return Some("check your network, then run again"),
            LlmError::Malformed { .. } => {
                return Some(
                    "check that `base_url` points at an endpoint that speaks the API the `provider` setting names \
                     (Anthropic's Messages API, or OpenAI-compatible Chat Completions)",
                );
            }
            LlmError::Request(_) => return Some("check the `base_url` setting (`mmm config show`)"),
            LlmError::GaveUp { .. } | LlmError::RetryLater { .. } => {
                unreachable!("root() never returns GaveUp or RetryLater")
            }
        };
        Some(match (api.status, api.kind.as_str()) {
            (Some(401), _) | (_, "authentication_error") if api.provider == Provider::OpenAi => {
                "check the key in OPENAI_API_KEY (or the variable the `api_key_env` setting names): the API did not accept it"
            }
            (Some(401), _) | (_, "authentication_error") => {
                "check ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN): the API did not accept it"
            }
            (Some(402), _) | (_, "billing_error") if api.provider == Provider::OpenAi => {
                "check the billing settings of the account behind your key"
            }
            (Some(402), _) | (_, "billing_error") => "check the billing settings of your Anthropic account",
            (Some(403), _) | (_, "permission_error") => {
                "your key may not use this model or feature; check its workspace"
            }
            (Some(404), _) | (_, "not_found_error") => {
                "check the `model` setting (`mmm models` lists the models your key can use); a stopped session continues with another model through `--resume -c model=<name>`"
            }
            (Some(413), _) | (_, "request_too_large") => "the request is too large for the API (32 MB at most)",
            (Some(429), _) | (_, "rate_limit_error") => {
                "rate limited: lower parallelism or wait a minute, then run again"
            }
            (Some(529), _) | (_, "overloaded_error") => "the API is overloaded; try again later",
            (Some(s), _) if s >= 500 => "the API failed on its side; try again later",
            _ => return None,
        })
    }
}

impl From<LlmError> for CliError {
    fn from(err: LlmError) -> Self {
        let hint = err.hint();
        let cli = CliError::failure(err.to_string());
        match hint {
            Some(hint) => cli.with_hint(hint),
            None => cli,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: Option<u16>, kind: &str) -> ApiError {
        ApiError {
            status,
            kind: kind.into(),
            message: "msg".into(),
            request_id: Some("req_1".into()),
            retry_after: None,
            should_retry: None,
            provider: Provider::Anthropic,
        }
    }

    #[test]
    fn retryable_statuses_follow_the_sdk_policy() {
        for (status, retry) in [(400, false), (401, false), (404, false), (408, true), (409, true), (429, true)] {
            assert_eq!(LlmError::Api(api(Some(status), "x")).is_retryable(), retry, "{status}");
        }
        for status in [500, 502, 503, 504, 529] {
            assert!(LlmError::Api(api(Some(status), "x")).is_retryable(), "{status}");
        }
        let mut overridden = api(Some(429), "rate_limit_error");
        overridden.should_retry = Some(false);
        assert!(!LlmError::Api(overridden).is_retryable());
        let mut forced = api(Some(400), "invalid_request_error");
        forced.should_retry = Some(true);
        assert!(LlmError::Api(forced).is_retryable());
        assert!(LlmError::Api(api(None, "overloaded_error")).is_retryable());
        assert!(!LlmError::Api(api(None, "invalid_request_error")).is_retryable());
        assert!(!LlmError::Malformed { detail: "x".into(), request_id: None }.is_retryable());
    }

    #[test]
    fn the_final_error_names_status_type_request_and_a_hint() {
        let err = LlmError::GaveUp {
            attempts: 9,
            budget: None,
            last: Box::new(LlmError::Api(api(Some(529), "overloaded_error"))),
        };
        assert_eq!(err.status(), Some(529));
        assert_eq!(err.request_id(), Some("req_1"));
        let cli = CliError::from(err);
        assert_eq!(
            cli.to_string(),
            "Anthropic API error 529 overloaded_error: msg (request-id req_1) (gave up after 9 attempts)"
        );
        assert_eq!(cli.hint(), Some("the API is overloaded; try again later"));

        let cli = CliError::from(LlmError::Api(api(Some(400), "invalid_request_error")));
        assert_eq!(cli.to_string(), "Anthropic API error 400 invalid_request_error: msg (request-id req_1)");
        assert_eq!(cli.hint(), None);
        for (status, kind, hint) in [
            (401, "authentication_error", "check ANTHROPIC_API_KEY"),
            (404, "not_found_error", "`mmm models`"),
            (429, "rate_limit_error", "lower parallelism"),
        ] {
            let hint_text = LlmError::Api(api(Some(status), kind)).hint().unwrap();
            assert!(hint_text.contains(hint), "{status}: {hint_text}");
        }
        let stream = LlmError::Api(api(None, "overloaded_error"));
        assert_eq!(
            stream.to_string(),
            "Anthropic API error overloaded_error in the response stream: msg (request-id req_1)"
        );
    }
}
