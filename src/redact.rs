//! Redaction of key-like strings from everything mmm sends to the model.
//!
//! Files the model views or searches, and command output fed back to it, can contain
//! credentials that are not in a secret file: a token pasted into a test, a key printed by
//! a build script. Before such text leaves the machine, [`redact`] replaces every string
//! that looks like an Anthropic, OpenAI, AWS, GitHub or Slack credential, every private key
//! block, and every value registered with [`add_secret`] (the configured API key) by
//! `[REDACTED:<kind>]`.
//!
//! The patterns are compiled once into a single regex; text without a match is returned
//! borrowed, so the common case costs one scan and no allocation. This module never logs
//! or stores what it redacts.

use std::borrow::Cow;
use std::sync::{LazyLock, RwLock};

use regex::{Captures, Regex};

/// Registered literal secrets shorter than this are ignored: redacting every occurrence of
/// a short string would mangle ordinary text, and no real key is that short.
const MIN_SECRET_LEN: usize = 8;

/// One kind of credential: the name of its capture group in [`PATTERN`] and the label
/// shown in its replacement.
struct Kind {
    group: &'static str,
    label: &'static str,
    /// Extra check on the match (a regex cannot express "contains a digit").
    plausible: fn(&str) -> bool,
}

const KINDS: &[Kind] = &[
    Kind { group: "private_key", label: "private-key", plausible: private_key_has_a_body },
    Kind { group: "anthropic", label: "anthropic-key", plausible: looks_random },
    Kind { group: "openai", label: "openai-key", plausible: looks_random },
    Kind { group: "aws_id", label: "aws-access-key-id", plausible: always },
    Kind { group: "aws_secret", label: "aws-secret-key", plausible: always },
    Kind { group: "github", label: "github-token", plausible: looks_random },
    Kind { group: "slack", label: "slack-token", plausible: looks_random },
];

/// All patterns in one alternation, each in a named group listed in [`KINDS`]. A token
/// must start at a word boundary, so `sk-` inside a word (`task-…`, `disk-…`) is not one.
/// `aws_secret` keeps the `aws_secret_access_key = ` prefix visible and redacts only the
/// value (group `aws_secret_value`).
static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let private_key = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s:,.\-]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\s*[A-Za-z0-9+/=\s]{40,})";
    let anthropic = r"\bsk-ant-[A-Za-z0-9_\-]{20,}";
    let openai = r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}";
    let aws_id = r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b";
    let aws_secret = r#"(?i:aws_secret_access_key)["']?\s*[=:]\s*["']?(?P<aws_secret_value>[A-Za-z0-9/+=]{40,})"#;
    let github = r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b";
    let slack = r"\bxox[bpars]-[A-Za-z0-9\-]{10,}";
    let all = format!(
        "(?P<private_key>{private_key})|(?P<anthropic>{anthropic})|(?P<openai>{openai})|(?P<aws_id>{aws_id})|\
         (?P<aws_secret>{aws_secret})|(?P<github>{github})|(?P<slack>{slack})"
    );
    Regex::new(&all).expect("the redaction patterns are valid")
});

/// Literal values to redact wherever they appear (see [`add_secret`]).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a literal secret (the configured API key or auth token) so that [`redact`]
/// replaces it wherever it appears, even when it matches none of the patterns. Values
/// shorter than 8 characters are ignored. Registering is process-wide and idempotent.
pub fn add_secret(value: &str) {
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
    }
}

/// `text` with every key-like string replaced by `[REDACTED:<kind>]`; borrowed when
/// nothing needed replacing.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = redact_patterns(text);
    let secrets = SECRETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "[REDACTED:api-key]"));
        }
    }
    out
}

/// Redacts every string inside `value` in place (object keys are left as they are).
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(redacted) = redact(s) {
                *s = redacted;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_json),
        _ => {}
    }
}

fn redact_patterns(text: &str) -> Cow<'_, str> {
    if !PATTERN.is_match(text) {
        return Cow::Borrowed(text);
    }
    let mut changed = false;
    let replaced = PATTERN.replace_all(text, |caps: &Captures| {
        let whole = caps.get(0).expect("group 0 always matches");
        let Some(kind) = KINDS.iter().find(|k| caps.name(k.group).is_some()) else {
            return whole.as_str().to_string();
        };
        if !(kind.plausible)(whole.as_str()) {
            return whole.as_str().to_string();
        }
        changed = true;
        match caps.name("aws_secret_value") {
            // Keep `aws_secret_access_key = ` so the reader still sees what was there.
            Some(value) => format!(
                "{}[REDACTED:{}]{}",
                &text[whole.start()..value.start()],
                kind.label,
                &text[value.end()..whole.end()]
            ),
            None => format!("[REDACTED:{}]", kind.label),
        }
    });
    if changed { Cow::Owned(replaced.into_owned()) } else { Cow::Borrowed(text) }
}

/// Real tokens are random, so they contain digits; a long hyphenated identifier such as
/// `sk-learning-rate-scheduler-configuration` has none and is not a key.
fn looks_random(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit())
}

/// A `BEGIN … PRIVATE KEY` marker in code (a PEM parser's constant) is not a key; a block
/// with a base64 body is.
fn private_key_has_a_body(block: &str) -> bool {
    let after_begin = block.split_once("PRIVATE KEY-----").map_or(block, |(_, rest)| rest);
    let body = after_begin.split("-----END").next().unwrap_or(after_begin);
    body.bytes().filter(u8::is_ascii_alphanumeric).count() >= 32
}

fn always(_: &str) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_redacted(input: &str, expected: &str) {
        assert_eq!(redact(input), expected, "redacting {input:?}");
    }

    #[test]
    fn each_kind_of_key_is_replaced_by_its_label() {
        assert_redacted(
            "key: sk-ant-api03-AbCdEf0123456789_xyzXYZ-0123456789abcdef done",
            "key: [REDACTED:anthropic-key] done",
        );
        assert_redacted("OPENAI=sk-abcdefghij0123456789ABCDEFGHIJ012345", "OPENAI=[REDACTED:openai-key]");
        assert_redacted("\"sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78\"", "\"[REDACTED:openai-key]\"");
        assert_redacted(
            "id AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A",
            "id [REDACTED:aws-access-key-id] and [REDACTED:aws-access-key-id]",
        );
        assert_redacted(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "aws_secret_access_key = [REDACTED:aws-secret-key]\n",
        );
        assert_redacted(
            "AWS_SECRET_ACCESS_KEY=\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
            "AWS_SECRET_ACCESS_KEY=\"[REDACTED:aws-secret-key]\"",
        );
        for token in [
            "ghp_1234567890abcdefghijABCDEFGHIJ123456",
            "gho_1234567890abcdefghijABCDEFGHIJ123456",
            "ghu_1234567890abcdefghijABCDEFGHIJ123456",
            "ghs_1234567890abcdefghijABCDEFGHIJ123456",
            "ghr_1234567890abcdefghijABCDEFGHIJ123456",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert_redacted(&format!("token {token}."), "token [REDACTED:github-token].");
        }
        for token in ["xoxb-123456789012-abcdefABCDEF", "xoxp-1234-5678-abcd1234", "xoxa-2-abcdef123456"] {
            assert_redacted(&format!("slack {token}"), "slack [REDACTED:slack-token]");
        }
    }

    #[test]
    fn private_key_blocks_are_replaced_whole_even_when_cut_short() {
        let body = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n";
        let block = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----");
        assert_redacted(&format!("before\n{block}\nafter"), "before\n[REDACTED:private-key]\nafter");
        let openssh = format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{body}-----END OPENSSH PRIVATE KEY-----\n");
        assert_redacted(&openssh, "[REDACTED:private-key]\n");
        // Output truncated between head and tail: the END marker never arrives.
        assert_redacted(
            &format!("-----BEGIN PRIVATE KEY-----\n{body}[... 40 lines omitted ...]"),
            "[REDACTED:private-key][... 40 lines omitted ...]",
        );
    }

    #[test]
    fn ordinary_code_is_returned_borrowed() {
        for text in [
            "fn ask_user() { let task = \"disk-usage-monitor-for-all-the-hosts\"; }",
            "let sk = key.sk; // sk-short",
            "mask-0123456789abcdefghijklmnop is inside a word",
            "const CSS: &str = \"sk-learning-rate-scheduler-configuration\";",
            "assert_eq!(base64(\"hello world\"), \"aGVsbG8gd29ybGQ=\");",
            "let data = \"dGhpcyBpcyBhIHRlc3Qgb2YgYmFzZTY0IGVuY29kaW5nIGZvciB0ZXN0cw==\";",
            "const BEGIN: &str = \"-----BEGIN PRIVATE KEY-----\"; const END: &str = \"-----END PRIVATE KEY-----\";",
            "AKIA is a prefix; AKIAshort; ghp_short; xoxb-1",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text:?} was changed to {:?}", redact(text));
        }
    }

    #[test]
    fn registered_secrets_are_redacted_literally_and_short_ones_ignored() {
        add_secret("  my-custom-proxy-token-4242  ");
        add_secret("short");
        assert_redacted("Bearer my-custom-proxy-token-4242!", "Bearer [REDACTED:api-key]!");
        assert!(matches!(redact("a short text"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_strings_are_redacted_in_place_at_any_depth() {
        let mut value = serde_json::json!({
            "content": [{"type": "text", "text": "AKIAIOSFODNN7EXAMPLE"}],
            "n": 3,
            "nested": {"list": ["plain", "ghp_1234567890abcdefghijABCDEFGHIJ123456"]}
        });
        redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({
                "content": [{"type": "text", "text": "[REDACTED:aws-access-key-id]"}],
                "n": 3,
                "nested": {"list": ["plain", "[REDACTED:github-token]"]}
            })
        );
    }
}
