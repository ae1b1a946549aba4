//! `mmm config show`: every setting, its value, and the layer it came from.

use serde::Serialize;

use super::Ctx;
use crate::printer::{Report, Styles};
use crate::settings::{Source, Value};

#[derive(Serialize)]
struct ConfigReport {
    r#type: &'static str,
    settings: Vec<ShownSetting>,
}

#[derive(Serialize)]
struct ShownSetting {
    key: &'static str,
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
    let settings = ctx
        .settings
        .entries()
        .iter()
        .map(|e| ShownSetting { key: e.def.name, value: e.display_value(), source: e.source.clone() })
        .collect();
    ctx.printer.report(&ConfigReport { r#type: "config", settings })
}
