//! `mmm models`: the models the configured credential can use (Anthropic: `GET /v1/models`,
//! every page; `provider = "openai"`: `GET {base_url}/models`), as a table or one JSON
//! object per model.

use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::llm::{AnthropicClient, ModelInfo, OpenAiClient};
use crate::printer::{Report, Styles};

/// One model, as printed in JSON mode.
#[derive(Serialize)]
struct ModelLine<'a> {
    r#type: &'static str,
    id: &'a str,
    display_name: &'a str,
    created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
}

impl<'a> From<&'a ModelInfo> for ModelLine<'a> {
    fn from(m: &'a ModelInfo) -> Self {
        Self {
            r#type: "model",
            id: &m.id,
            display_name: &m.display_name,
            created_at: &m.created_at,
            max_input_tokens: m.max_input_tokens,
            max_tokens: m.max_tokens,
        }
    }
}

/// The human table.
#[derive(Serialize)]
struct ModelTable<'a> {
    models: &'a [ModelInfo],
    configured: &'a str,
}

impl Report for ModelTable<'_> {
    fn human(&self, s: &Styles) -> String {
        if self.models.is_empty() {
            return "The API lists no models for this key.".to_string();
        }
        let rows: Vec<[&str; 3]> = self
            .models
            .iter()
            .map(|m| [m.id.as_str(), m.display_name.as_str(), m.created_at.get(..10).unwrap_or(&m.created_at)])
            .collect();
        let id_w = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0).max(2);
        let name_w = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0).max(4);
        let mut lines = vec![s.bold(format!("{:id_w$}  {:name_w$}  CREATED", "ID", "NAME"))];
        for [id, name, created] in rows {
            let id_cell = format!("{id:id_w$}");
            let id_cell = if id == self.configured { s.green(id_cell) } else { id_cell };
            lines.push(format!("{id_cell}  {name:name_w$}  {created}"));
        }
        if !self.models.iter().any(|m| m.id == self.configured) {
            lines.push(format!(
                "{} the configured model `{}` is not in this list (an alias, or not available to this key)",
                s.yellow("note:"),
                self.configured
            ));
        }
        lines.iter().map(|l| l.trim_end()).collect::<Vec<_>>().join("\n")
    }
}

pub fn exec(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let spinner = ctx.printer.spinner("Asking the API which models your key can use");
    let (models, configured) = match ctx.settings.str("provider") {
        Some("openai") => {
            let client = OpenAiClient::from_settings(&ctx.settings)?;
            (super::block_on(client.list_models())?, client.model().to_string())
        }
        _ => {
            let client = AnthropicClient::from_settings(&ctx.settings)?;
            (super::block_on(client.list_models())?, client.model().to_string())
        }
    };
    let models = models.map_err(CliError::from)?;
    spinner.finish();
    if ctx.printer.is_json() {
        for model in &models {
            ctx.printer.json(&ModelLine::from(model))?;
        }
        return Ok(());
    }
    ctx.printer.report(&ModelTable { models: &models, configured: &configured })
}
