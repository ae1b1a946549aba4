//! The HTTP client for the Anthropic API (reqwest with rustls).
//!
//! `POST {base_url}/v1/messages` with `x-api-key` (or `Authorization: Bearer`),
//! `anthropic-version` and `content-type` headers, streaming by default. Each response's
//! `request-id` is logged at debug level; the credential is a sensitive header that is
//! never logged, printed or written anywhere.
//!
//! Timeouts and retries are the shared [`super::http::Transport`]'s. With `editor_tool =
//! "custom"` the client tells the session that the endpoint takes no built-in tool types
//! ([`Model::builtin_tools`]).

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{LlmError, Provider};
use super::http::{Limits, Transport, secret_header};
use super::retry::Sleeper;
use super::sse::MessageAssembler;
use super::types::{MessagesRequest, MessagesResponse};
use super::{CheckFuture, Model, SendFuture, StreamUpdate, checked};
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
    /// Timeouts and retries.
    pub limits: Limits,
    /// Ask for a streamed response (the default); `false` asks for one JSON body.
    pub stream: bool,
    /// Whether the endpoint takes Anthropic's built-in tool types: `editor_tool =
    /// "custom"` says it does not, and the editor goes as an ordinary JSON-schema tool.
    pub builtin_tools: bool,
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
        Ok(Self {
            base_url: text("base_url"),
            credential,
            anthropic_version: text("anthropic_version"),
            model: text("model"),
            limits: Limits::from_settings(settings),
            stream: true,
            builtin_tools: settings.str("editor_tool") != Some("custom"),
        })
    }
}

/// The Anthropic API client. Cheap to share by reference; one per process is enough.
pub struct AnthropicClient {
    transport: Transport,
    model: String,
    stream: bool,
    /// Whether the endpoint takes Anthropic's built-in tool types (`editor_tool`).
    builtin_tools: bool,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("transport", &self.transport)
            .field("model", &self.model)
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
        let mut headers = HeaderMap::new();
        let (name, value) = match &config.credential {
            Credential::ApiKey(key) => ("x-api-key", key.clone()),
            Credential::Bearer(token) => ("authorization", format!("Bearer {token}")),
        };
        headers.insert(name, secret_header(&value, "ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN")?);
        let version = HeaderValue::from_str(&config.anthropic_version).map_err(|_| {
            CliError::usage(format!("anthropic_version `{}` is not a header value", config.anthropic_version))
        })?;
        headers.insert("anthropic-version", version);
        let transport = Transport::new(
            Provider::Anthropic,
            &config.base_url,
            "https://api.anthropic.com",
            headers,
            &config.limits,
        )?;
        Ok(Self { transport, model: config.model, stream: config.stream, builtin_tools: config.builtin_tools })
    }

    /// A client configured from settings (see [`ClientConfig::from_settings`]).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Self::new(ClientConfig::from_settings(settings)?)
    }

    /// Replaces how the client waits between retries (tests record instead of sleeping).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.transport.set_sleeper(sleeper);
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
        self.transport
            .post("/v1/messages", &body, on_event, |response, request_id| {
                self.read_response(response, request_id, on_event)
            })
            .await
    }

    async fn read_response(
        &self,
        response: reqwest::Response,
        request_id: Option<String>,
        on_event: &(dyn Fn(StreamUpdate<'_>) + Send + Sync),
    ) -> Result<MessagesResponse, LlmError> {
        if !Transport::is_stream(&response) {
            let mut message: MessagesResponse = self.transport.read_json(response, request_id.clone()).await?;
            message.request_id = request_id;
            return Ok(message);
        }
        let mut assembler = MessageAssembler::new(request_id.clone());
        self.transport
            .read_events(response, &request_id, |event| {
                assembler.apply(event, on_event)?;
                Ok(assembler.is_done())
            })
            .await?;
        assembler.finish()
    }

    /// `GET {base_url}{path}` with a query, retried like any call, parsed as JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, LlmError> {
        self.transport.get_json(path, query).await
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

    fn builtin_tools(&self) -> bool {
        self.builtin_tools
    }

    /// `GET /v1/models/{model}` ([`AnthropicClient::model_info`]). A compatible endpoint
    /// that does not serve it (a 404 or 405 that is not the API's `not_found_error`) has
    /// nothing to say, so that passes.
    fn check<'a>(&'a self, model: &'a str) -> CheckFuture<'a> {
        Box::pin(async move { checked(self.model_info(model).await, "not_found_error") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Inputs;
    use std::time::Duration;

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
            (c.limits.idle_timeout, c.limits.request_timeout, c.limits.max_retries, c.stream),
            (Duration::from_secs(30), Duration::from_secs(600), 3, true)
        );
        assert_eq!(
            (c.limits.connect_timeout, c.limits.first_byte_timeout, c.limits.retry_budget),
            (Duration::from_secs(10), Duration::from_secs(60), Duration::from_secs(120))
        );
        assert_eq!(AnthropicClient::new(c).unwrap().transport.base_url, "http://127.0.0.1:9");
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
        assert_eq!(err.to_string(), "the API credential contains characters that cannot be sent in a header");
    }
}
