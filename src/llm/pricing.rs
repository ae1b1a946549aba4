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

/// The price of the configured model, and what the settings say of other models'.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub model: String,
    /// `None` when neither the table nor the settings know the model.
    pub price: Option<Price>,
    /// Prices the settings give per model (`[prices."<model id>"]`).
    pub overrides: Vec<(String, Price)>,
    /// Whether the provider is Anthropic's: only then does the table apply, and do unset
    /// cache prices follow its multipliers.
    pub anthropic: bool,
}

/// A price from settings: cache prices that are not given follow the provider's rule (see
/// the module comment).
fn configured(input: f64, output: f64, read: Option<f64>, write: Option<f64>, anthropic: bool) -> Price {
    let (read_default, write_default) =
        if anthropic { (input * CACHE_READ, input * CACHE_WRITE_5M) } else { (input, input) };
    Price { input, output, cache_read: read.unwrap_or(read_default), cache_write: write.unwrap_or(write_default) }
}

impl Pricing {
    /// The configured model's price: `pricing.input` and `pricing.output` when set (both
    /// or neither: one alone is a usage error) with `pricing.cache_read` and
    /// `pricing.cache_write` when set, else its `[prices."<model id>"]` entry, else the
    /// table's (Anthropic only).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let model = settings.str("model").unwrap_or_default().to_string();
        let anthropic = settings.str("provider") != Some("openai");
        let overrides: Vec<(String, Price)> = settings
            .prices
            .iter()
            .map(|p| (p.model.clone(), configured(p.input, p.output, p.cache_read, p.cache_write, anthropic)))
            .collect();
        let (read, write) = (settings.float("pricing.cache_read"), settings.float("pricing.cache_write"));
        let mut pricing = Self { model: model.clone(), price: None, overrides, anthropic };
        pricing.price = match (settings.float("pricing.input"), settings.float("pricing.output")) {
            (Some(input), Some(output)) => Some(configured(input, output, read, write, anthropic)),
            (None, None) if read.is_some() || write.is_some() => {
                return Err(CliError::usage("pricing.cache_read or pricing.cache_write is set without pricing.input")
                    .with_hint("set pricing.input and pricing.output too, in USD per million tokens")
                    .into());
            }
            (None, None) => pricing.known(&model),
            _ => {
                return Err(CliError::usage("only one of pricing.input and pricing.output is set")
                    .with_hint("set both, in USD per million tokens, for the configured model")
                    .into());
            }
        };
        Ok(pricing)
    }

    /// The price of `model` the settings' `[prices]` give, else the table's (Anthropic only).
    fn known(&self, model: &str) -> Option<Price> {
        let set = self.overrides.iter().find(|(m, _)| m == model).map(|(_, p)| *p);
        set.or_else(|| if self.anthropic { table_price(model) } else { None })
    }

    /// The pricing of another model (a resumed session's): its `[prices]` entry or the
    /// table's price; `pricing.*` are the configured model's only.
    pub fn for_other(&self, model: &str) -> Self {
        Self { model: model.to_string(), price: self.known(model), ..self.clone() }
    }

    /// The table's price for `model` (no settings), with Anthropic's rules.
    pub fn for_model(model: &str) -> Self {
        Self { model: model.to_string(), price: table_price(model), overrides: Vec::new(), anthropic: true }
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
            "no price known for model `{model}`: costs are reported as unknown; give its price in a \
             `[prices.\"{model}\"]` table (input_per_mtok, output_per_mtok: USD per million tokens) to count them"
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
        assert_eq!((pricing.model.as_str(), pricing.price), ("my-finetune", Some(price(4.0, 20.0))));
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
    fn prices_per_model_come_from_the_files_and_the_flat_keys_win_for_the_configured_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".mmm/config.toml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let load = |text: &str, env: &[(&str, &str)]| {
            std::fs::write(&file, text).unwrap();
            let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let inputs = crate::settings::Inputs { cwd: dir.path().to_path_buf(), env, ..Default::default() };
            Pricing::from_settings(&Settings::load(&inputs).unwrap()).unwrap()
        };
        let text = "model = \"local\"\n[prices.local]\ninput_per_mtok = 0.0\noutput_per_mtok = 0.0\n\
                    [prices.\"claude-sonnet-5\"]\ninput_per_mtok = 1.5\noutput_per_mtok = 7.5\ncache_read_per_mtok = 0.3\n";
        let pricing = load(text, &[]);
        assert_eq!(pricing.price, Some(Price { input: 0.0, output: 0.0, cache_read: 0.0, cache_write: 0.0 }));
        assert_eq!(
            pricing.for_other("claude-sonnet-5").price,
            Some(Price { input: 1.5, output: 7.5, cache_read: 0.3, cache_write: 1.875 }),
            "a file's price wins over the table"
        );
        assert_eq!(pricing.for_other("claude-opus-5").price, Some(price(5.0, 25.0)));
        assert_eq!(pricing.for_other("other").price, None);
        let flat = load(text, &[("MMM_PRICING_INPUT", "2"), ("MMM_PRICING_OUTPUT", "4")]);
        assert_eq!(flat.price, Some(price(2.0, 4.0)));
        let openai = load(text, &[("MMM_PROVIDER", "openai")]);
        assert_eq!(openai.for_other("claude-opus-5").price, None, "the table is Anthropic's");
        assert_eq!(
            openai.for_other("claude-sonnet-5").price,
            Some(Price { input: 1.5, output: 7.5, cache_read: 0.3, cache_write: 1.5 })
        );
    }

    #[test]
    fn an_unknown_model_has_no_cost() {
        let pricing = Pricing::for_model("claude-unknown");
        assert_eq!(pricing.cost(&Usage { input_tokens: 5, ..Usage::default() }), None);
        assert_eq!(pricing.cost(&Usage::default()), None);
    }
}
