//! Setting values: reading them from TOML, environment and flag text, and showing them.
//!
//! Every layer produces the same [`Value`], checked against the key's [`Kind`], so a wrong
//! type is caught where it was written, whichever layer that is.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use toml::de::DeValue;

use super::keys::{Default, Kind};

/// A resolved setting value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Unset,
    Str(String),
    Float(f64),
    Int(u64),
    Bool(bool),
    List(Vec<String>),
    /// Serialised as its text form (`"10m"`), the way it is written.
    #[serde(serialize_with = "serialize_duration")]
    Duration(Duration),
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

impl From<Default> for Value {
    fn from(d: Default) -> Self {
        match d {
            Default::Unset => Value::Unset,
            Default::Str(s) => Value::Str(s.to_string()),
            Default::Float(f) => Value::Float(f),
            Default::Int(i) => Value::Int(i),
            Default::Bool(b) => Value::Bool(b),
            Default::List(l) => Value::List(l.iter().map(|s| s.to_string()).collect()),
            Default::Duration(secs) => Value::Duration(Duration::from_secs(secs)),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unset => f.write_str("(unset)"),
            Value::Str(s) => f.write_str(s),
            Value::Float(x) if x.fract() == 0.0 && x.abs() < 1e15 => write!(f, "{x:.1}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
                write!(f, "[{}]", quoted.join(", "))
            }
            Value::Duration(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Value {
    /// The value as TOML source text, for the commented defaults `mmm init` writes.
    pub fn to_toml(&self) -> String {
        match self {
            Value::Unset => String::new(),
            Value::Str(s) => format!("{s:?}"),
            Value::Duration(d) => format!("\"{}\"", format_duration(*d)),
            other => other.to_string(),
        }
    }
}

/// Why a value does not fit its key.
#[derive(Debug, PartialEq)]
pub struct TypeMismatch {
    pub expected: String,
    pub found: String,
}

fn mismatch(kind: Kind, found: impl Into<String>) -> TypeMismatch {
    TypeMismatch { expected: kind.describe().to_string(), found: found.into() }
}

/// Reads a TOML value as the given kind.
pub fn from_toml(kind: Kind, value: &DeValue<'_>) -> Result<Value, TypeMismatch> {
    let found = || format!("{} `{}`", value.type_str(), short_toml(value));
    match kind {
        Kind::Str => value.as_str().map(|s| Value::Str(s.to_string())).ok_or_else(|| mismatch(kind, found())),
        Kind::Bool => value.as_bool().map(Value::Bool).ok_or_else(|| mismatch(kind, found())),
        Kind::Float { .. } => {
            let number = if let Some(f) = value.as_float() {
                f.as_str().replace('_', "").parse::<f64>().ok()
            } else if let Some(i) = value.as_integer() {
                i.as_str().replace('_', "").parse::<i64>().ok().map(|i| i as f64)
            } else {
                None
            };
            number.ok_or_else(|| mismatch(kind, found())).and_then(|x| check_float(kind, x))
        }
        Kind::Int { .. } => value
            .as_integer()
            .filter(|i| i.radix() == 10)
            .and_then(|i| i.as_str().replace('_', "").parse::<u64>().ok())
            .ok_or_else(|| mismatch(kind, found()))
            .and_then(|n| check_int(kind, n)),
        Kind::Duration => {
            if let Some(s) = value.as_str() {
                parse_duration(s).map(Value::Duration).ok_or_else(|| mismatch(kind, found()))
            } else {
                value
                    .as_integer()
                    .and_then(|i| i.as_str().replace('_', "").parse::<u64>().ok())
                    .map(|secs| Value::Duration(Duration::from_secs(secs)))
                    .ok_or_else(|| mismatch(kind, found()))
            }
        }
        Kind::List => {
            let array = value.as_array().ok_or_else(|| mismatch(kind, found()))?;
            array
                .iter()
                .map(|item| item.get_ref().as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Value::List)
                .ok_or_else(|| mismatch(kind, found()))
        }
    }
}

/// Reads environment or flag text as the given kind. Lists take TOML array syntax
/// (`["cargo test", "cargo clippy"]`); any other text is a one-item list.
pub fn from_text(kind: Kind, text: &str) -> Result<Value, TypeMismatch> {
    let found = || format!("`{text}`");
    match kind {
        Kind::Str => Ok(Value::Str(text.to_string())),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(mismatch(kind, found())),
        },
        Kind::Float { .. } => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| mismatch(kind, found()))
            .and_then(|x| check_float(kind, x)),
        Kind::Int { .. } => {
            text.trim().parse::<u64>().map_err(|_| mismatch(kind, found())).and_then(|n| check_int(kind, n))
        }
        Kind::Duration => parse_duration(text).map(Value::Duration).ok_or_else(|| mismatch(kind, found())),
        Kind::List => {
            let trimmed = text.trim();
            if trimmed.starts_with('[') {
                let parsed = DeValue::parse(trimmed).map_err(|_| mismatch(kind, found()))?;
                from_toml(kind, parsed.get_ref())
            } else {
                Ok(Value::List(vec![text.to_string()]))
            }
        }
    }
}

fn check_float(kind: Kind, x: f64) -> Result<Value, TypeMismatch> {
    match kind {
        Kind::Float { min, max } if x < min || x > max => Err(TypeMismatch {
            expected: if max == f64::MAX {
                format!("a number of at least {min}")
            } else {
                format!("a number from {min} to {max}")
            },
            found: x.to_string(),
        }),
        _ => Ok(Value::Float(x)),
    }
}

fn check_int(kind: Kind, n: u64) -> Result<Value, TypeMismatch> {
    match kind {
        Kind::Int { min } if n < min => {
            Err(TypeMismatch { expected: format!("a whole number of at least {min}"), found: n.to_string() })
        }
        _ => Ok(Value::Int(n)),
    }
}

fn short_toml(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("{s:?}"),
        DeValue::Integer(i) => i.as_str().to_string(),
        DeValue::Float(f) => f.as_str().to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) => "[...]".to_string(),
        DeValue::Table(_) => "{...}".to_string(),
    }
}

/// Parses `90s`, `10m`, `1h30m`, `2h`, `500ms` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Writes a duration the way [`parse_duration`] reads it: `1h30m`, `90s` → `1m30s`.
pub fn format_duration(d: Duration) -> String {
    let millis = d.subsec_millis();
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{millis}ms");
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if millis > 0 {
        out.push_str(&format!("{millis}ms"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_alike() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn text_is_checked_against_the_kind() {
        let target = Kind::Float { min: 0.0, max: 10.0 };
        assert_eq!(from_text(target, "9.5"), Ok(Value::Float(9.5)));
        assert_eq!(
            from_text(target, "11"),
            Err(TypeMismatch { expected: "a number from 0 to 10".into(), found: "11".into() })
        );
        assert_eq!(from_text(Kind::Int { min: 1 }, "0").unwrap_err().expected, "a whole number of at least 1");
        assert_eq!(from_text(Kind::Bool, "yes"), Ok(Value::Bool(true)));
        assert_eq!(
            from_text(Kind::List, r#"["cargo test", "cargo clippy"]"#),
            Ok(Value::List(vec!["cargo test".into(), "cargo clippy".into()]))
        );
        assert_eq!(from_text(Kind::List, "make check"), Ok(Value::List(vec!["make check".into()])));
    }

    #[test]
    fn toml_values_are_checked_against_the_kind() {
        fn parse(s: &str) -> DeValue<'_> {
            DeValue::parse(s).unwrap().into_inner()
        }
        assert_eq!(from_toml(Kind::Float { min: 0.0, max: 10.0 }, &parse("7")), Ok(Value::Float(7.0)));
        assert_eq!(from_toml(Kind::Duration, &parse("\"2m\"")), Ok(Value::Duration(Duration::from_secs(120))));
        assert_eq!(
            from_toml(Kind::Int { min: 1 }, &parse("\"ten\"")).unwrap_err(),
            TypeMismatch { expected: "a whole number".into(), found: "string `\"ten\"`".into() }
        );
        assert_eq!(from_toml(Kind::List, &parse("[1, 2]")).unwrap_err().expected, "a list of strings");
    }
}
