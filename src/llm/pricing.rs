//! What API usage costs, in US dollars.
//!
//! Prices per million tokens come from the table below (the reference sheet's list of
//! current Claude models, with their aliases and dated ids; used with `provider =
//! "anthropic"` only), or from the `pricing.*` settings, which apply to the configured model
//! and win over the table. For Anthropic, cache writes cost 1.25× the input price (5-minute
//! TTL) or 2× (1-hour TTL), cache reads 0.1×, unless `pricing.cache_read` /
//! `pricing.cache_write` say otherwise. OpenAI-compatible servers discount cached input by
//! differing amounts, so with `provider = "openai"` a cache read costs the full input price
//! unless `pricing.cache_read` is set: the cost may be high, never low. A model with no
//! known price has no cost (`None`) and one warning per process: mmm never makes a number up.

use std::sync::Mutex;

use serde::Serialize;

use super::types::Usage;
use crate::error::CliError;
use crate::settings::Settings;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Input read from the cache.
    pub cache_read: f64,
    /// Input written to the cache with the 5-minute TTL (1-hour writes cost 2× `input`).
    pub cache_write: f64,
}

/// An Anthropic price: cache reads and writes at the API's multipliers of `input`.
const fn price(input: f64, output: f64) -> Price {
    Price { input, output, cache_read: input * CACHE_READ, cache_write: input * CACHE_WRITE_5M }
}

/// Model ids (aliases and dated snapshots) and their prices.
const TABLE: &[(&str, Price)] = &[
    ("claude-fable-5", price(10.0, 50.0)),
    ("claude-opus-5", price(5.0, 25.0)),
    ("claude-sonnet-5", price(2.0, 10.0)),
    ("claude-opus-4-8", price(5.0, 25.0)),
    ("claude-opus-4-7", price(5.0, 25.0)),
    ("claude-opus-4-6", price(5.0, 25.0)),
    ("claude-sonnet-4-6", price(3.0, 15.0)),
    ("claude-opus-4-5", price(5.0, 25.0)),
    ("claude-opus-4-5-20251101", price(5.0, 25.0)),
    ("claude-sonnet-4-5", price(3.0, 15.0)),
    ("claude-sonnet-4-5-20250929", price(3.0, 15.0)),
    ("claude-haiku-4-5", price(1.0, 5.0)),
    ("claude-haiku-4-5-20251001", price(1.0, 5.0)),
    ("claude-opus-4-1-20250805", price(15.0, 75.0)),
    ("claude-opus-4-20250514", price(15.0, 75.0)),
    ("claude-sonnet-4-20250514", price(3.0, 15.0)),
];

/// Multipliers of the input price.
const CACHE_WRITE_5M: f64 = 1.25;
const CACHE_WRITE_1H: f64 = 2.0;
const CACHE_READ: f64 = 0.1;

/// The table's price for a model id. A dated snapshot of a listed alias
/// (`claude-opus-5-20261201`) costs what the alias costs.
pub fn table_price(model: &str) -> Option<Price> {
    let lookup = |id: &str| TABLE.iter().find(|(name, _)| *name == id).map(|(_, p)| *p);
    lookup(model).or_else(|| {
        let (alias, date) = model.rsplit_once('-')?;
        (date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit())).then(|| lookup(alias)).flatten()
    })
}

/// The model ids mmm knows (and has a price for): aliases and dated snapshots.
pub fn known_models() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _)| *name)
}

/// The cost of `usage` at `price`.
pub fn cost(price: Price, usage: &Usage) -> f64 {
    let write_1h = usage.cache_creation.ephemeral_1h_input_tokens.min(usage.cache_creation_input_tokens);
    let write_5m = usage.cache_creation_input_tokens - write_1h;
    let dollars = usage.input_tokens as f64 * price.input
        + write_5m as f64 * price.cache_write
        + write_1h as f64 * price.input * CACHE_WRITE_1H
        + usage.cache_read_input_tokens as f64 * price.cache_read
        + usage.output_tokens as f64 * price.output;
    dollars / 1_000_000.0
}

/// The price of the configured model.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub model: String,
    /// `None` when neither the table nor the settings know the model.
    pub price: Option<Price>,
}

impl Pricing {
    /// The configured model's price: `pricing.input` and `pricing.output` when set (both
    /// or neither: one alone is a usage error) with `pricing.cache_read` and
    /// `pricing.cache_write` when set (see the module comment for their defaults), else the
    /// table's (Anthropic only).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let model = settings.str("model").unwrap_or_default().to_string();
        let anthropic = settings.str("provider") != Some("openai");
        let (read, write) = (settings.float("pricing.cache_read"), settings.float("pricing.cache_write"));
        let price = match (settings.float("pricing.input"), settings.float("pricing.output")) {
            (Some(input), Some(output)) => {
                let (read_default, write_default) =
                    if anthropic { (input * CACHE_READ, input * CACHE_WRITE_5M) } else { (input, input) };
                Some(Price {
                    input,
                    output,
                    cache_read: read.unwrap_or(read_default),
                    cache_write: write.unwrap_or(write_default),
                })
            }
            (None, None) if read.is_some() || write.is_some() => {
                return Err(CliError::usage("pricing.cache_read or pricing.cache_write is set without pricing.input")
                    .with_hint("set pricing.input and pricing.output too, in USD per million tokens")
                    .into());
            }
            (None, None) if anthropic => table_price(&model),
            (None, None) => None,
            _ => {
                return Err(CliError::usage("only one of pricing.input and pricing.output is set")
                    .with_hint("set both, in USD per million tokens, for the configured model")
                    .into());
            }
        };
        Ok(Self { model, price })
    }

    /// The table's price for `model` (no settings override).
    pub fn for_model(model: &str) -> Self {
        Self { model: model.to_string(), price: table_price(model) }
    }

    /// The cost of `usage`, or `None` (with one warning per process and model) when the
    /// price is unknown.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        match self.price {
            Some(price) => Some(cost(price, usage)),
            None => {
                warn_once(&self.model);
                None
            }
        }
    }
}

fn warn_once(model: &str) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let first = WARNED.lock().is_ok_and(|mut warned| {
        let first = !warned.iter().any(|m| m == model);
        if first {
            warned.push(model.to_string());
        }
        first
    });
    if first {
        tracing::warn!(
            "no price known for model `{model}`: costs are reported as unknown; set pricing.input and \
             pricing.output (USD per million tokens) to count them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::types::CacheCreation;

    #[test]
    fn the_table_knows_aliases_and_dated_ids() {
        assert_eq!(table_price("claude-sonnet-5"), Some(price(2.0, 10.0)));
        assert_eq!(table_price("claude-haiku-4-5-20251001"), Some(price(1.0, 5.0)));
        assert_eq!(table_price("claude-opus-5-20270101"), Some(price(5.0, 25.0)));
        assert_eq!(table_price("claude-opus-4-20250514"), Some(price(15.0, 75.0)));
        assert_eq!(table_price("claude-opus-5-5"), None);
        assert_eq!(table_price("claude-nonexistent-20250101"), None);
        assert_eq!(table_price("gpt-4"), None);
    }

    #[test]
    fn cost_counts_input_output_and_both_cache_kinds() {
        let p = price(3.0, 15.0);
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_creation_input_tokens: 200_000,
            cache_read_input_tokens: 2_000_000,
            cache_creation: CacheCreation::default(),
        };
        // 3 + 1.5 + 0.2·1.25·3 + 2·0.1·3 = 3 + 1.5 + 0.75 + 0.6
        assert!((cost(p, &usage) - 5.85).abs() < 1e-9, "{}", cost(p, &usage));
        let one_hour = Usage {
            cache_creation_input_tokens: 300_000,
            cache_creation: CacheCreation { ephemeral_5m_input_tokens: 100_000, ephemeral_1h_input_tokens: 200_000 },
            ..Usage::default()
        };
        // 0.1·1.25·3 + 0.2·2·3 = 0.375 + 1.2
        assert!((cost(p, &one_hour) - 1.575).abs() < 1e-9, "{}", cost(p, &one_hour));
        assert_eq!(cost(p, &Usage::default()), 0.0);
    }

    fn settings(env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::load(&crate::settings::Inputs { cwd: dir.path().to_path_buf(), env, ..Default::default() })
    }

    #[test]
    fn settings_override_the_table_for_the_configured_model() {
        let s = settings(&[("MMM_MODEL", "my-finetune"), ("MMM_PRICING_INPUT", "4"), ("MMM_PRICING_OUTPUT", "20")]);
        let pricing = Pricing::from_settings(&s.unwrap()).unwrap();
        assert_eq!(pricing, Pricing { model: "my-finetune".into(), price: Some(price(4.0, 20.0)) });
        let s = settings(&[("MMM_MODEL", "claude-opus-5")]).unwrap();
        assert_eq!(Pricing::from_settings(&s).unwrap().price, Some(price(5.0, 25.0)));
        let s = settings(&[("MMM_MODEL", "my-finetune")]).unwrap();
        assert_eq!(Pricing::from_settings(&s).unwrap().price, None);

        let s = settings(&[("MMM_PRICING_INPUT", "4")]).unwrap();
        let err = Pricing::from_settings(&s).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.to_string(), "only one of pricing.input and pricing.output is set");
        assert_eq!(cli.exit(), crate::error::Exit::Usage);
    }

    #[test]
    fn cache_prices_follow_the_provider_unless_set() {
        let s = settings(&[
            ("MMM_PROVIDER", "openai"),
            ("MMM_MODEL", "gpt-x"),
            ("MMM_PRICING_INPUT", "2"),
            ("MMM_PRICING_OUTPUT", "8"),
        ]);
        let price = Pricing::from_settings(&s.unwrap()).unwrap().price.unwrap();
        assert_eq!(price, Price { input: 2.0, output: 8.0, cache_read: 2.0, cache_write: 2.0 });
        let usage = Usage { input_tokens: 1_000_000, cache_read_input_tokens: 1_000_000, ..Usage::default() };
        assert!((cost(price, &usage) - 4.0).abs() < 1e-9, "cached input at the full price: never too low");

        let s = settings(&[
            ("MMM_PROVIDER", "openai"),
            ("MMM_MODEL", "gpt-x"),
            ("MMM_PRICING_INPUT", "2"),
            ("MMM_PRICING_OUTPUT", "8"),
            ("MMM_PRICING_CACHE_READ", "0.5"),
        ]);
        let price = Pricing::from_settings(&s.unwrap()).unwrap().price.unwrap();
        assert!((cost(price, &usage) - 2.5).abs() < 1e-9, "{}", cost(price, &usage));

        let s = settings(&[
            ("MMM_MODEL", "my-claude"),
            ("MMM_PRICING_INPUT", "4"),
            ("MMM_PRICING_OUTPUT", "20"),
            ("MMM_PRICING_CACHE_WRITE", "6"),
        ]);
        let price = Pricing::from_settings(&s.unwrap()).unwrap().price.unwrap();
        assert_eq!(price, Price { input: 4.0, output: 20.0, cache_read: 0.4, cache_write: 6.0 });

        // The Claude table is Anthropic's price list: not a guess for another provider.
        let s = settings(&[("MMM_PROVIDER", "openai"), ("MMM_MODEL", "claude-sonnet-5")]).unwrap();
        assert_eq!(Pricing::from_settings(&s).unwrap().price, None);
        let s = settings(&[("MMM_MODEL", "x"), ("MMM_PRICING_CACHE_READ", "1")]).unwrap();
        let err = Pricing::from_settings(&s).unwrap_err();
        assert_eq!(err.to_string(), "pricing.cache_read or pricing.cache_write is set without pricing.input");
    }

    #[test]
    fn an_unknown_model_has_no_cost() {
        let pricing = Pricing::for_model("claude-unknown");
        assert_eq!(pricing.cost(&Usage { input_tokens: 5, ..Usage::default() }), None);
        assert_eq!(pricing.cost(&Usage::default()), None);
    }
}
