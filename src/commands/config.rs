//! `mmm config show`: every setting, its value, and the layer it came from (model prices
//! from `[prices."<model id>"]` tables too).
//! `mmm config check`: every problem in the settings files, the environment and the flags.

use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::printer::{Printer, Report, Styles};
use crate::settings::check::{Checked, Layer, Level};
use crate::settings::{Inputs, Source, Value};

#[derive(Serialize)]
struct ConfigReport {
    r#type: &'static str,
    settings: Vec<ShownSetting>,
}

#[derive(Serialize)]
struct ShownSetting {
    key: String,
    value: Value,
    source: Source,
}

impl Report for ConfigReport {
    fn human(&self, s: &Styles) -> String {
        let rows: Vec<[String; 3]> =
            self.settings.iter().map(|e| [e.key.to_string(), e.value.to_string(), e.source.to_string()]).collect();
        let key_w = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
        let value_w = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
        let mut out = format!("{}\n", s.bold(format!("{:key_w$}  {:value_w$}  {}", "KEY", "VALUE", "SOURCE")));
        for (row, setting) in rows.iter().zip(&self.settings) {
            let source = if setting.source == Source::Default { s.dim(&row[2]) } else { s.cyan(&row[2]) };
            let pad = value_w - row[1].chars().count();
            out.push_str(&format!("{:key_w$}  {}{}  {source}\n", row[0], row[1], " ".repeat(pad)));
        }
        out.truncate(out.trim_end().len());
        out
    }
}

pub fn show(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let mut settings: Vec<ShownSetting> = ctx
        .settings
        .entries()
        .iter()
        .map(|e| ShownSetting { key: e.def.name.to_string(), value: e.display_value(), source: e.source.clone() })
        .collect();
    // Each model's price from a `[prices."<model id>"]` table, one row per field.
    for price in &ctx.settings.prices {
        settings.extend(price.fields().into_iter().map(|(field, value)| ShownSetting {
            key: format!("prices.{:?}.{field}", price.model),
            value: Value::Float(value),
            source: price.source.clone(),
        }));
    }
    ctx.printer.report(&ConfigReport { r#type: "config", settings })
}

#[derive(Serialize)]
struct CheckReport {
    r#type: &'static str,
    checked: Vec<Layer>,
    errors: usize,
}

impl Report for CheckReport {
    fn human(&self, s: &Styles) -> String {
        let mut out = Vec::new();
        for layer in &self.checked {
            let what = match &layer.checked {
                Checked::GlobalFile { path } => format!("global file {}", path.display()),
                Checked::ProjectFile { path } => format!("project file {}", path.display()),
                Checked::Environment => "environment".to_string(),
                Checked::Flags => "flags".to_string(),
            };
            let errors = layer.problems.iter().filter(|p| p.level == Level::Error).count();
            let verdict = match errors {
                0 => s.green("ok"),
                1 => s.red("1 error"),
                n => s.red(format!("{n} errors")),
            };
            out.push(format!("{what}: {verdict}"));
            for problem in &layer.problems {
                let label = match problem.level {
                    Level::Error => s.red("error:"),
                    Level::Note => s.yellow("note:"),
                };
                out.push(format!("  {label} {}", problem.message));
                if let Some(hint) = &problem.hint {
                    out.push(format!("  {} {hint}", s.cyan("hint:")));
                }
            }
        }
        out.join("\n")
    }
}

pub fn check(printer: &Printer, inputs: &Inputs) -> anyhow::Result<()> {
    let checked = crate::settings::check::check(inputs);
    let errors = checked.iter().flat_map(|l| &l.problems).filter(|p| p.level == Level::Error).count();
    printer.report(&CheckReport { r#type: "config_check", checked, errors })?;
    match errors {
        0 => Ok(()),
        n => Err(CliError::usage(format!("the settings have {n} error{}", if n == 1 { "" } else { "s" }))
            .with_hint("fix each one above; `mmm config check` again says when they are all gone")
            .into()),
    }
}
