//! The models an API key can use: `GET /v1/models`, every page; one model:
//! `GET /v1/models/{model_id}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::AnthropicClient;
use super::error::LlmError;

/// One model, as `GET /v1/models` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Other fields (`type`, `capabilities`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<ModelInfo>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

/// The largest page the API serves.
const PAGE_SIZE: &str = "1000";

impl AnthropicClient {
    /// One model, by id or alias: `GET /v1/models/{model_id}`. An unknown model is the
    /// API's 404 `not_found_error`; a refused key its 401.
    pub async fn model_info(&self, model: &str) -> Result<ModelInfo, LlmError> {
        self.get_json(&format!("/v1/models/{}", path_segment(model)), &[]).await
    }

    /// Every model the credential can use, newest first (the API's order), following
    /// `has_more` / `last_id` from page to page.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let mut models = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("limit", PAGE_SIZE)];
            if let Some(id) = &after {
                query.push(("after_id", id));
            }
            let page: Page = self.get_json("/v1/models", &query).await?;
            let next = page.last_id.or_else(|| page.data.last().map(|m| m.id.clone()));
            models.extend(page.data);
            if !page.has_more {
                return Ok(models);
            }
            match next {
                Some(id) if after.as_deref() != Some(id.as_str()) => after = Some(id),
                _ => {
                    return Err(LlmError::Malformed {
                        detail: "GET /v1/models said has_more but gave no new last_id".into(),
                        request_id: None,
                    });
                }
            }
        }
    }
}

/// `text` as one URL path segment: everything but unreserved characters percent-encoded.
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_model_id_is_one_path_segment() {
        assert_eq!(super::path_segment("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5-20250929");
        assert_eq!(super::path_segment("anthropic/claude x"), "anthropic%2Fclaude%20x");
    }
}
