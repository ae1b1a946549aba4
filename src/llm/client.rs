//! The HTTP client for the Anthropic API (reqwest with rustls).
//!
//! `POST {base_url}/v1/messages` with `x-api-key` (or `Authorization: Bearer`),
//! `anthropic-version` and `content-type` headers, streaming by default. Each response's
//! `request-id` is logged at debug level; the credential is a sensitive header that is
//! never logged, printed or written anywhere.
//!
//! Nothing hangs: a connection must be made within `connect_timeout`, the response must
//! begin (its headers) within `first_byte_timeout`, a stream silent for longer than
//! `stream_idle_timeout` is abandoned, no request takes longer than `request_timeout`, and
//! every attempt goes through the [`RetryPolicy`] and its `retry_budget`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorEnvelope, LlmError};
use super::retry::{RetryPolicy, Sleeper, TokioSleeper, parse_retry_after};
use super::sse::{MessageAssembler, SseParser, snippet};
use super::types::{MessagesRequest, MessagesResponse};
use super::{CheckFuture, Model, SendFuture, StreamUpdate};
use crate::error::CliError;
use crate::settings::Settings;

/// How the client proves who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key, sent as `x-api-key` (`ANTHROPIC_API_KEY`).
    ApiKey(String),
    /// A bearer token, sent as `Authorization: Bearer` (`ANTHROPIC_AUTH_TOKEN`).
    Bearer(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(<hidden>)"),
            Credential::Bearer(_) => f.write_str("Bearer(<hidden>)"),
        }
    }
}

/// Everything the client needs; [`ClientConfig::from_settings`] reads it from settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.anthropic.com`, or a compatible endpoint (no `/v1` at the end).
    pub base_url: String,
    pub credential: Credential,
    /// The `anthropic-version` header.
    pub anthropic_version: String,
    /// The configured model (what [`Model::name`] reports).
    pub model: String,
    /// Longest a whole request, response included, may take.
    pub request_timeout: Duration,
    /// Longest a TCP/TLS connection may take to open.
    pub connect_timeout: Duration,
    /// Longest from sending a request to the response's headers (connecting included).
    pub first_byte_timeout: Duration,
    /// Longest a streamed response may go without sending a byte.
    pub idle_timeout: Duration,
    pub max_retries: u32,
    /// Longest one request may take over all its attempts and waits (see [`RetryPolicy`]).
    pub retry_budget: Duration,
    /// Ask for a streamed response (the default); `false` asks for one JSON body.
    pub stream: bool,
}

/// The hint shown when no credential is set.
pub const NO_KEY_HINT: &str = "export ANTHROPIC_API_KEY=sk-ant-... (create a key at \
    https://console.anthropic.com/settings/keys), or set ANTHROPIC_AUTH_TOKEN for a bearer token";

impl ClientConfig {
    /// Reads `base_url`, `api_key` / `auth_token` (the key wins when both are set),
    /// `anthropic_version`, `model`, the timeouts (`request_timeout`, `connect_timeout`,
    /// `first_byte_timeout`, `stream_idle_timeout`), `max_retries` and `retry_budget`. No credential is a usage error with a hint saying how to set one.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let credential = match (settings.str("api_key"), settings.str("auth_token")) {
            (Some(key), _) => Credential::ApiKey(key.to_string()),
            (None, Some(token)) => Credential::Bearer(token.to_string()),
            (None, None) => {
                return Err(CliError::usage("no Anthropic API key: ANTHROPIC_API_KEY is not set")
                    .with_hint(NO_KEY_HINT)
                    .into());
            }
        };
        let text = |name: &str| settings.str(name).unwrap_or_default().to_string();
        let duration = |name: &str| settings.duration(name).unwrap_or(Duration::from_secs(600));
        Ok(Self {
            base_url: text("base_url"),
            credential,
            anthropic_version: text("anthropic_version"),
            model: text("model"),
            request_timeout: duration("request_timeout"),
            connect_timeout: duration("connect_timeout"),
            first_byte_timeout: duration("first_byte_timeout"),
            idle_timeout: duration("stream_idle_timeout"),
            max_retries: settings.int("max_retries").unwrap_or(8).try_into().unwrap_or(u32::MAX),
            retry_budget: duration("retry_budget"),
            stream: true,
        })
    }
}

/// The Anthropic API client. Cheap to share by reference; one per process is enough.
pub struct AnthropicClient {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    model: String,
    request_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    stream: bool,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("retry", &self.retry)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// The body sent: the request plus `stream`.
#[derive(Serialize)]
struct WireRequest<'a> {
    #[serde(flatten)]
    request: &'a MessagesRequest,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl AnthropicClient {
    /// A client for `config`. A base URL that is not an http(s) URL, or a credential that
    /// cannot be sent in a header, is a usage error.
    pub fn new(config: ClientConfig) -> anyhow::Result<Self> {
        let base_url = config.base_url.trim_end_matches('/').to_string();
        let scheme_ok = reqwest::Url::parse(&base_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !scheme_ok {
            return Err(CliError::usage(format!("base_url `{base_url}` is not an http(s) URL"))
                .with_hint("set it to https://api.anthropic.com or the address of a compatible endpoint")
                .into());
        }
        let mut headers = HeaderMap::new();
        let (name, value) = match &config.credential {
            Credential::ApiKey(key) => ("x-api-key", key.clone()),
            Credential::Bearer(token) => ("authorization", format!("Bearer {token}")),
        };
        let mut secret = HeaderValue::from_str(&value).map_err(|_| {
            CliError::usage("the Anthropic credential contains characters that cannot be sent in a header")
                .with_hint("check ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN for stray quotes or line breaks")
        })?;
        secret.set_sensitive(true);
        headers.insert(name, secret);
        let version = HeaderValue::from_str(&config.anthropic_version).map_err(|_| {
            CliError::usage(format!("anthropic_version `{}` is not a header value", config.anthropic_version))
        })?;
        headers.insert("anthropic-version", version);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .default_headers(headers)
            .user_agent(concat!("mmm/", env!("CARGO_PKG_VERSION")))
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .build()
            .map_err(|e| anyhow::anyhow!("building the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base_url,
            model: config.model,
            request_timeout: config.request_timeout,
            first_byte_timeout: config.first_byte_timeout,
            idle_timeout: config.idle_timeout,
            retry: RetryPolicy { max_retries: config.max_retries, budget: config.retry_budget },
            sleeper: Arc::new(TokioSleeper),
            stream: config.stream,
        })
    }

    /// A client configured from settings (see [`ClientConfig::from_settings`]).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Self::new(ClientConfig::from_settings(settings)?)
    }

    /// Replaces how the client waits between retries (tests record instead of sleeping).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The configured model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Sends one Messages request, retrying per the policy, and returns the whole turn.
    pub async fn messages(
        &self,
        request: &MessagesRequest,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        let body = serde_json::to_vec(&WireRequest { request, stream: self.stream })
            .map_err(|e| LlmError::Request(format!("encoding the request: {e}")))?;
        let url = format!("{}/v1/messages", self.base_url);
        let max = self.retry.max_retries;
        self.retry
            .run(
                &*self.sleeper,
                || self.attempt_messages(&url, &body, on_event),
                |attempt, delay, error| {
                    log_retry(attempt, delay, error);
                    on_event(StreamUpdate::Retry { attempt, max, delay, error });
                },
            )
            .await
    }

    async fn attempt_messages(
        &self,
        url: &str,
        body: &[u8],
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        let response =
            self.send(self.http.post(url).header(header::CONTENT_TYPE, "application/json").body(body.to_vec())).await?;
        let response = check_status("POST /v1/messages", response).await?;
        let request_id = request_id_of(&response);
        let streamed = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if streamed {
            self.read_stream(response, request_id, on_event).await
        } else {
            let mut message: MessagesResponse = self.read_json(response, request_id.clone()).await?;
            message.request_id = request_id;
            Ok(message)
        }
    }

    async fn read_stream(
        &self,
        response: reqwest::Response,
        request_id: Option<String>,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut assembler = MessageAssembler::new(request_id.clone());
        while !assembler.is_done() {
            let next = tokio::time::timeout(self.idle_timeout, body.next())
                .await
                .map_err(|_| LlmError::Idle { after: self.idle_timeout, request_id: request_id.clone() })?;
            let chunk = match next {
                None => break,
                Some(chunk) => chunk.map_err(|e| self.transport_error(&e, Some(request_id.clone())))?,
            };
            let events = parser.push(&chunk).map_err(|e| LlmError::Malformed {
                detail: format!("the event stream is not UTF-8: {e}"),
                request_id: request_id.clone(),
            })?;
            for event in &events {
                assembler.apply(event, on_event)?;
            }
        }
        assembler.finish()
    }

    async fn read_json<T: DeserializeOwned>(
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

    /// `GET {base_url}{path}` with a query, retried like any call, parsed as JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, LlmError> {
        let url = format!("{}{path}", self.base_url);
        let what = format!("GET {path}");
        self.retry
            .run(
                &*self.sleeper,
                || async {
                    let response = self.send(self.http.get(&url).query(query)).await?;
                    let response = check_status(&what, response).await?;
                    let request_id = request_id_of(&response);
                    self.read_json(response, request_id).await
                },
                log_retry,
            )
            .await
    }

    /// Sends a request and waits for its response headers, at most `first_byte_timeout`.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, LlmError> {
        match tokio::time::timeout(self.first_byte_timeout, request.send()).await {
            Err(_) => Err(LlmError::NoResponse(self.first_byte_timeout)),
            Ok(sent) => sent.map_err(|e| self.transport_error(&e, None)),
        }
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

impl Model for AnthropicClient {
    fn name(&self) -> &str {
        &self.model
    }

    fn send<'a>(
        &'a self,
        request: &'a MessagesRequest,
        on_event: &'a (dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> SendFuture<'a> {
        Box::pin(self.messages(request, on_event))
    }

    /// `GET /v1/models/{model}` ([`AnthropicClient::model_info`]). A compatible endpoint
    /// that does not serve it (a 404 or 405 that is not the API's `not_found_error`) has
    /// nothing to say, so that passes.
    fn check<'a>(&'a self, model: &'a str) -> CheckFuture<'a> {
        Box::pin(async move {
            match self.model_info(model).await {
                Err(e) if matches!(e.api(), Some(api) if matches!(api.status, Some(404 | 405)) && api.kind != "not_found_error") =>
                {
                    tracing::debug!("the endpoint does not describe models ({e}); not checked");
                    Ok(())
                }
                checked => checked.map(|_| ()),
            }
        })
    }
}

/// Logs the response and turns an error status into an [`ApiError`].
async fn check_status(what: &str, response: reqwest::Response) -> Result<reqwest::Response, LlmError> {
    let status = response.status();
    let request_id = request_id_of(&response);
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
    let (kind, message, body_request_id) = match serde_json::from_slice::<ErrorEnvelope>(&body) {
        Ok(envelope) => (envelope.error.kind, envelope.error.message, envelope.request_id),
        Err(_) => {
            let text = String::from_utf8_lossy(&body);
            let message = if text.trim().is_empty() {
                status.canonical_reason().unwrap_or_default().to_string()
            } else {
                snippet(text.trim())
            };
            ("http_error".to_string(), message, None)
        }
    };
    Err(LlmError::Api(ApiError {
        status: Some(status.as_u16()),
        kind,
        message,
        request_id: request_id.or(body_request_id),
        retry_after,
        should_retry,
    }))
}

fn request_id_of(response: &reqwest::Response) -> Option<String> {
    response.headers().get("request-id").and_then(|v| v.to_str().ok()).map(str::to_string)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Inputs;

    fn config(env: &[(&str, &str)]) -> anyhow::Result<ClientConfig> {
        let dir = tempfile::tempdir().unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ClientConfig::from_settings(&Settings::load(&Inputs {
            cwd: dir.path().to_path_buf(),
            env,
            ..Default::default()
        })?)
    }

    #[test]
    fn settings_give_the_endpoint_credential_and_limits() {
        let c = config(&[
            ("ANTHROPIC_API_KEY", "sk-ant-key"),
            ("ANTHROPIC_AUTH_TOKEN", "tok"),
            ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"),
            ("MMM_STREAM_IDLE_TIMEOUT", "30s"),
            ("MMM_MAX_RETRIES", "3"),
        ])
        .unwrap();
        assert_eq!(c.credential, Credential::ApiKey("sk-ant-key".into()), "the key wins over the token");
        assert_eq!(
            (c.base_url.as_str(), c.anthropic_version.as_str(), c.model.as_str()),
            ("http://127.0.0.1:9/", "2023-06-01", "claude-sonnet-5")
        );
        assert_eq!(
            (c.idle_timeout, c.request_timeout, c.max_retries, c.stream),
            (Duration::from_secs(30), Duration::from_secs(600), 3, true)
        );
        assert_eq!(
            (c.connect_timeout, c.first_byte_timeout, c.retry_budget),
            (Duration::from_secs(10), Duration::from_secs(60), Duration::from_secs(120))
        );
        assert_eq!(AnthropicClient::new(c).unwrap().base_url, "http://127.0.0.1:9");
        assert_eq!(config(&[("ANTHROPIC_AUTH_TOKEN", "tok")]).unwrap().credential, Credential::Bearer("tok".into()));
        assert_eq!(format!("{:?}", Credential::ApiKey("sk-ant-secret".into())), "ApiKey(<hidden>)");
    }

    #[test]
    fn no_credential_is_a_usage_error_saying_how_to_set_one() {
        let err = config(&[]).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.to_string(), "no Anthropic API key: ANTHROPIC_API_KEY is not set");
        assert_eq!(cli.hint(), Some(NO_KEY_HINT));
        assert_eq!(cli.exit(), crate::error::Exit::Usage);
    }

    #[test]
    fn a_bad_base_url_or_credential_is_refused_up_front() {
        let mut c = config(&[("ANTHROPIC_API_KEY", "k"), ("MMM_BASE_URL", "api.anthropic.com")]).unwrap();
        let err = AnthropicClient::new(c.clone()).unwrap_err();
        assert_eq!(err.to_string(), "base_url `api.anthropic.com` is not an http(s) URL");
        c.base_url = "https://api.anthropic.com".into();
        c.credential = Credential::ApiKey("sk-ant\nline".into());
        let err = AnthropicClient::new(c).unwrap_err();
        assert_eq!(err.to_string(), "the Anthropic credential contains characters that cannot be sent in a header");
    }
}
