//! The HTTP plumbing every provider's client shares (reqwest with rustls): one place for
//! the timeouts, the retries, reading error statuses and streamed bodies.
//!
//! Nothing hangs: a connection must be made within `connect_timeout`, the response must
//! begin (its headers) within `first_byte_timeout`, a stream silent for longer than
//! `stream_idle_timeout` is abandoned, no request takes longer than `request_timeout`, and
//! every attempt goes through the [`RetryPolicy`] and its `retry_budget`. Each response's
//! request id is logged at debug level. Credentials are sensitive default headers set by
//! the provider's client: never logged, printed or written anywhere. This module knows no
//! wire format beyond an error body's shape ([`Provider::read_error`]).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::StreamUpdate;
use super::error::{ApiError, LlmError, Provider};
use super::retry::{RetryPolicy, Sleeper, TokioSleeper, parse_retry_after};
use super::sse::{SseEvent, SseParser, snippet};
use crate::error::CliError;

/// The limits of a [`Transport`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_retries: u32,
    pub retry_budget: Duration,
}

impl Limits {
    /// The timeouts (`request_timeout`, `connect_timeout`, `first_byte_timeout`,
    /// `stream_idle_timeout`), `max_retries` and `retry_budget` settings.
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        let duration = |name: &str| settings.duration(name).unwrap_or(Duration::from_secs(600));
        Self {
            request_timeout: duration("request_timeout"),
            connect_timeout: duration("connect_timeout"),
            first_byte_timeout: duration("first_byte_timeout"),
            idle_timeout: duration("stream_idle_timeout"),
            max_retries: settings.int("max_retries").unwrap_or(8).try_into().unwrap_or(u32::MAX),
            retry_budget: duration("retry_budget"),
        }
    }
}

/// A configured HTTP client for one API: base URL, default headers, limits, retries.
pub struct Transport {
    http: reqwest::Client,
    /// Without a trailing slash.
    pub base_url: String,
    pub provider: Provider,
    request_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    pub retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.base_url)
            .field("provider", &self.provider)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// A header value that is never logged: a credential. A value that cannot be sent in a
/// header is a usage error naming `source` (where the user set it).
pub fn secret_header(value: &str, source: &str) -> anyhow::Result<HeaderValue> {
    let mut secret = HeaderValue::from_str(value).map_err(|_| {
        CliError::usage("the API credential contains characters that cannot be sent in a header")
            .with_hint(format!("check {source} for stray quotes or line breaks"))
    })?;
    secret.set_sensitive(true);
    Ok(secret)
}

impl Transport {
    /// A transport for `base_url` (an http(s) URL, else a usage error whose hint suggests
    /// `default_url`) sending `headers` with every request.
    pub fn new(
        provider: Provider,
        base_url: &str,
        default_url: &str,
        headers: HeaderMap,
        limits: &Limits,
    ) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let scheme_ok = reqwest::Url::parse(&base_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !scheme_ok {
            return Err(CliError::usage(format!("base_url `{base_url}` is not an http(s) URL"))
                .with_hint(format!("set it to {default_url} or the address of a compatible endpoint"))
                .into());
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .user_agent(concat!("mmm/", env!("CARGO_PKG_VERSION")))
            .timeout(limits.request_timeout)
            .connect_timeout(limits.connect_timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base_url,
            provider,
            request_timeout: limits.request_timeout,
            first_byte_timeout: limits.first_byte_timeout,
            idle_timeout: limits.idle_timeout,
            retry: RetryPolicy { max_retries: limits.max_retries, budget: limits.retry_budget },
            sleeper: Arc::new(TokioSleeper),
        })
    }

    /// Replaces how the transport waits between retries (tests record instead of sleeping).
    pub fn set_sleeper(&mut self, sleeper: Arc<dyn Sleeper>) {
        self.sleeper = sleeper;
    }

    /// `POST {base_url}{path}` with a JSON `body`, retried per the policy (each retry shown
    /// through `on_event`); `read` turns each successful response into the result.
    pub async fn post<T, F, Fut>(
        &self,
        path: &str,
        body: &[u8],
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
        read: F,
    ) -> Result<T, LlmError>
    where
        F: Fn(reqwest::Response, Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<T, LlmError>>,
    {
        let url = format!("{}{path}", self.base_url);
        let what = format!("POST {path}");
        let max = self.retry.max_retries;
        self.retry
            .run(
                &*self.sleeper,
                || async {
                    let request = self.http.post(&url).header(header::CONTENT_TYPE, "application/json");
                    let response = self.send(request.body(body.to_vec())).await?;
                    let response = self.check_status(&what, response).await?;
                    let request_id = self.request_id(&response);
                    read(response, request_id).await
                },
                |attempt, delay, error| {
                    log_retry(attempt, delay, error);
                    on_event(StreamUpdate::Retry { attempt, max, delay, error });
                },
            )
            .await
    }

    /// `GET {base_url}{path}` with a query, retried like any call, parsed as JSON.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, LlmError> {
        let url = format!("{}{path}", self.base_url);
        let what = format!("GET {path}");
        self.retry
            .run(
                &*self.sleeper,
                || async {
                    let response = self.send(self.http.get(&url).query(query)).await?;
                    let response = self.check_status(&what, response).await?;
                    let request_id = self.request_id(&response);
                    self.read_json(response, request_id).await
                },
                log_retry,
            )
            .await
    }

    /// Whether the response is an event stream (else it is one JSON body).
    pub fn is_stream(response: &reqwest::Response) -> bool {
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    }

    /// Reads a whole JSON body.
    pub async fn read_json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        request_id: Option<String>,
    ) -> Result<T, LlmError> {
        let bytes = response.bytes().await.map_err(|e| self.transport_error(&e, Some(request_id.clone())))?;
        serde_json::from_slice(&bytes).map_err(|e| LlmError::Malformed {
            detail: format!("{e}: {}", snippet(&String::from_utf8_lossy(&bytes))),
            request_id,
        })
    }

    /// Feeds a streamed body's server-sent events to `apply` until it says the stream is
    /// done (`Ok(true)`) or the body ends; a silence longer than `stream_idle_timeout` is
    /// [`LlmError::Idle`].
    pub async fn read_events(
        &self,
        response: reqwest::Response,
        request_id: &Option<String>,
        mut apply: impl FnMut(&SseEvent) -> Result<bool, LlmError>,
    ) -> Result<(), LlmError> {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        loop {
            let next = tokio::time::timeout(self.idle_timeout, body.next())
                .await
                .map_err(|_| LlmError::Idle { after: self.idle_timeout, request_id: request_id.clone() })?;
            let chunk = match next {
                None => return Ok(()),
                Some(chunk) => chunk.map_err(|e| self.transport_error(&e, Some(request_id.clone())))?,
            };
            let events = parser.push(&chunk).map_err(|e| LlmError::Malformed {
                detail: format!("the event stream is not UTF-8: {e}"),
                request_id: request_id.clone(),
            })?;
            for event in &events {
                if apply(event)? {
                    return Ok(());
                }
            }
        }
    }

    /// Sends a request and waits for its response headers, at most `first_byte_timeout`.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, LlmError> {
        match tokio::time::timeout(self.first_byte_timeout, request.send()).await {
            Err(_) => Err(LlmError::NoResponse(self.first_byte_timeout)),
            Ok(sent) => sent.map_err(|e| self.transport_error(&e, None)),
        }
    }

    /// The response's request id header.
    fn request_id(&self, response: &reqwest::Response) -> Option<String> {
        response.headers().get(self.provider.request_id_header()).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// Logs the response and turns an error status into an [`ApiError`].
    async fn check_status(&self, what: &str, response: reqwest::Response) -> Result<reqwest::Response, LlmError> {
        let status = response.status();
        let request_id = self.request_id(&response);
        tracing::debug!(status = status.as_u16(), request_id = request_id.as_deref().unwrap_or("-"), "{what}");
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = parse_retry_after(text("retry-after-ms"), text("retry-after"), jiff::Timestamp::now());
        let should_retry = match text("x-should-retry").map(str::trim) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        // The body explains the error; if it cannot be read, the status still does.
        let body = response.bytes().await.unwrap_or_default();
        let (kind, message, body_request_id) = self.provider.read_error(&body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let message = if text.trim().is_empty() {
                status.canonical_reason().unwrap_or_default().to_string()
            } else {
                snippet(text.trim())
            };
            ("http_error".to_string(), message, None)
        });
        Err(LlmError::Api(ApiError {
            status: Some(status.as_u16()),
            kind,
            message,
            request_id: request_id.or(body_request_id),
            retry_after,
            should_retry,
            provider: self.provider,
        }))
    }

    /// Maps a reqwest failure: before a response (`during` is `None`) it is a connection
    /// error (a failed connect, even a timed-out one, says so); during one
    /// (`Some(request_id)`), a broken stream; past `request_timeout`, a timeout.
    fn transport_error(&self, err: &reqwest::Error, during: Option<Option<String>>) -> LlmError {
        let detail = error_chain(err);
        match during {
            None if err.is_connect() => LlmError::Connect { url: self.base_url.clone(), detail },
            _ if err.is_timeout() => LlmError::Timeout(self.request_timeout),
            Some(request_id) => LlmError::Broken { detail, request_id },
            None if err.is_builder() => LlmError::Request(detail),
            None => LlmError::Connect { url: self.base_url.clone(), detail },
        }
    }
}

fn log_retry(attempt: u32, delay: Duration, error: &LlmError) {
    tracing::info!("retry {attempt} in {:.1}s after: {error}", delay.as_secs_f64());
}

/// An error and its causes on one line: reqwest's own message rarely says what happened.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
