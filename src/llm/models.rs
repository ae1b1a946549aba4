//! The models an API key can use: `GET /v1/models`, every page.

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
