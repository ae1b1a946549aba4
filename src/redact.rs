//! Redaction of key-like strings from everything mmm sends to the model.
//!
//! Files the model views or searches, and command output fed back to it, can contain
//! credentials that are not in a secret file: a token pasted into a test, a key printed by
//! a build script. Before such text leaves the machine, [`redact`] replaces every string
//! that looks like a credential (two dozen formats after gitleaks' and detect-secrets'
//! rules: cloud, forge, payment and chat tokens, JWTs, private key blocks, passwords in URLs
//! and assignments, random-looking values assigned to `*_KEY`/`*_TOKEN`/`*_SECRET`), and
//! every value registered with [`add_secret`] (the configured API key) or
//! [`add_env_secrets`] (secret-named environment variables) by `[REDACTED:<kind>]`.
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
    /// The group holding the secret part when the match keeps a visible prefix
    /// (`password = "…"` stays `password = "[REDACTED:password]"`); `None` redacts it whole.
    value: Option<&'static str>,
    /// Extra check on the secret part (a regex cannot express "contains a digit").
    plausible: fn(&str) -> bool,
}

const fn kind(group: &'static str, label: &'static str, plausible: fn(&str) -> bool) -> Kind {
    Kind { group, label, value: None, plausible }
}

const fn keep_name(group: &'static str, label: &'static str, value: &'static str, plausible: fn(&str) -> bool) -> Kind {
    Kind { group, label, value: Some(value), plausible }
}

/// The formats, after gitleaks' and detect-secrets' rules; each has a sample in the tests.
const KINDS: &[Kind] = &[
    kind("private_key", "private-key", private_key_has_a_body),
    kind("anthropic", "anthropic-key", looks_random),
    kind("openai", "openai-key", looks_random),
    kind("aws_id", "aws-access-key-id", always),
    keep_name("aws_secret", "aws-secret-key", "aws_secret_value", always),
    kind("github", "github-token", looks_random),
    kind("gitlab", "gitlab-token", looks_random),
    kind("slack", "slack-token", looks_random),
    kind("slack_webhook", "slack-webhook", always),
    kind("stripe", "stripe-key", looks_random),
    kind("google", "google-api-key", always),
    kind("google_oauth", "google-oauth-secret", always),
    kind("jwt", "jwt", always),
    kind("sendgrid", "sendgrid-key", always),
    kind("npm", "npm-token", looks_random),
    kind("pypi", "pypi-token", always),
    kind("huggingface", "huggingface-token", always),
    kind("twilio", "twilio-key", looks_random),
    kind("shopify", "shopify-token", always),
    kind("digitalocean", "digitalocean-token", always),
    keep_name("azure", "azure-storage-key", "azure_value", always),
    keep_name("url_password", "url-password", "url_password_value", not_a_placeholder),
    keep_name("password", "password", "password_value", password_value),
    keep_name("secret_assign", "secret", "secret_value", high_entropy),
];

/// All patterns in one alternation, each in a named group listed in [`KINDS`]. A token
/// must start at a word boundary, so `sk-` inside a word (`task-…`, `disk-…`) is not one.
/// Assignments (`aws_secret`, `azure`, `password`, `secret_assign`) and URLs with a password
/// keep the name visible and redact only the value.
static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
    let groups: &[(&str, &str)] = &[
        (
            "private_key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s:,.\-]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\s*[A-Za-z0-9+/=\s]{40,})",
        ),
        ("anthropic", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
        ("openai", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
        ("aws_id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        ("aws_secret", r#"(?i:aws_secret_access_key)["']?\s*[=:]\s*["']?(?P<aws_secret_value>[A-Za-z0-9/+=]{40,})"#),
        ("github", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
        ("gitlab", r"\bgl(?:pat|ptt|dt|rt|cbt|soat|ft|imt|agent)-[A-Za-z0-9_\-]{20,}"),
        ("slack", r"\bxox[bpars]-[A-Za-z0-9\-]{10,}"),
        ("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/_\-]{20,}"),
        ("stripe", r"\b[sr]k_(?:live|test|prod)_[A-Za-z0-9]{16,}\b"),
        ("google", r"\bAIza[A-Za-z0-9_\-]{35}\b"),
        ("google_oauth", r"\bGOCSPX-[A-Za-z0-9_\-]{28}\b"),
        ("jwt", r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),
        ("sendgrid", r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"),
        ("npm", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("pypi", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
        ("huggingface", r"\bhf_[A-Za-z0-9]{34,}\b"),
        ("twilio", r"\bSK[0-9a-fA-F]{32}\b"),
        ("shopify", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
        ("digitalocean", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
        ("azure", r"(?i:AccountKey)=(?P<azure_value>[A-Za-z0-9+/]{80,}={0,2})"),
        ("url_password", r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]+:(?P<url_password_value>[^\s:/@]+)@"),
        // `password = "…"`, `DB_PASS: …`, `"password": "…"`.
        (
            "password",
            r#"(?i:[A-Za-z0-9_.\-]*(?:password|passwd|_pass|pwd))["']?\s*(?::=|=>|[=:])\s*(?:["'](?P<password_value>[^"'\r\n]{3,})["']|(?P<password_value_bare>[^\s"',;()]{3,})(?:[\s,;)]|$))"#,
        ),
        // `API_KEY = "…"`, `github_token: …`, `CLIENT_SECRET=…`: only a random-looking value.
        (
            "secret_assign",
            r#"(?i:[A-Za-z0-9_.\-]*(?:_key|_token|_secret|apikey|secret|token))["']?\s*(?::=|=>|[=:])\s*["']?(?P<secret_value>[A-Za-z0-9+/=_\-.]{16,})"#,
        ),
    ];
    let all = groups.iter().map(|(name, pattern)| format!("(?P<{name}>{pattern})")).collect::<Vec<_>>().join("|");
    Regex::new(&all).expect("the redaction patterns are valid")
});

/// Literal values to redact wherever they appear, with their label (see [`add_secret`]).
static SECRETS: RwLock<Vec<(String, &'static str)>> = RwLock::new(Vec::new());

/// Registers a literal secret (the configured API key or auth token) so that [`redact`]
/// replaces it wherever it appears, even when it matches none of the patterns. Values
/// shorter than 8 characters are ignored. Registering is process-wide and idempotent.
pub fn add_secret(value: &str) {
    add_literal(value, "api-key");
}

/// Registers the values of environment variables whose names say they hold a secret
/// (`DB_PASSWORD`, `GITHUB_TOKEN`, `STRIPE_SECRET`, `MAPS_API_KEY`, ...), so a test that
/// prints one cannot carry it to the model. Paths and short values are left alone.
pub fn add_env_secrets(env: &[(String, String)]) {
    for (name, value) in env {
        let upper = name.to_ascii_uppercase();
        let secret_name = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "API_KEY", "PRIVATE_KEY"]
            .iter()
            .any(|word| upper.contains(word))
            || upper.ends_with("_KEY")
            || upper.ends_with("_PASS")
            || upper.ends_with("_PWD");
        if secret_name && !value.starts_with('/') {
            add_literal(value, "env-secret");
        }
    }
}

fn add_literal(value: &str, label: &'static str) {
    let value = value.trim();
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|(s, _)| s == value) {
        secrets.push((value.to_string(), label));
    }
}

/// `text` with every key-like string replaced by `[REDACTED:<kind>]`; borrowed when
/// nothing needed replacing.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = redact_patterns(text);
    let secrets = SECRETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (secret, label) in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), &format!("[REDACTED:{label}]")));
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
        // The secret part: the value group of an assignment (the password's quoted or bare
        // form), else the whole match.
        let secret = kind
            .value
            .and_then(|group| caps.name(group).or_else(|| caps.name(&format!("{group}_bare"))))
            .unwrap_or(whole);
        if !(kind.plausible)(secret.as_str()) {
            return whole.as_str().to_string();
        }
        changed = true;
        // An assigned value that is itself a known token is named for what it is.
        let label = match kind.value {
            Some(_) => token_label(secret.as_str()).unwrap_or(kind.label),
            None => kind.label,
        };
        // Keep what surrounds the secret (`password = "`, `postgres://user:`) readable.
        format!("{}[REDACTED:{label}]{}", &text[whole.start()..secret.start()], &text[secret.end()..whole.end()])
    });
    if changed { Cow::Owned(replaced.into_owned()) } else { Cow::Borrowed(text) }
}

/// The label of the token format `value` is, whole, if it is one.
fn token_label(value: &str) -> Option<&'static str> {
    let caps = PATTERN.captures(value)?;
    let whole = caps.get(0)?;
    let kind = KINDS.iter().find(|k| k.value.is_none() && caps.name(k.group).is_some())?;
    (whole.as_str() == value && (kind.plausible)(value)).then_some(kind.label)
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

/// `${DB_PASSWORD}`, `<password>`, `%(pw)s`, `{{ pass }}` and `****` name or hide a value;
/// they are not one.
fn not_a_placeholder(value: &str) -> bool {
    !(value.starts_with(['$', '<', '{', '%']) || value.bytes().all(|b| matches!(b, b'*' | b'x' | b'X' | b'.')))
}

/// A password value: a literal, not a placeholder, and not code that reads one
/// (`password: String`, `password = user.password`): a bare value counts only when it has
/// a digit or a symbol an identifier cannot have.
fn password_value(value: &str) -> bool {
    let identifier_path = value.split('.').all(|part| {
        part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let has_digit = value.bytes().any(|b| b.is_ascii_digit());
    (has_digit || !identifier_path) && !value.starts_with('&') && not_a_placeholder(value)
}

/// A value a person did not type: long, mixing letters and digits, with at least 3.5 bits
/// of entropy per character. `SORT_KEY = "created_at_timestamp"` is a name, not a key.
fn high_entropy(value: &str) -> bool {
    let has_digit = value.bytes().any(|b| b.is_ascii_digit());
    let has_letter = value.bytes().any(|b| b.is_ascii_alphabetic());
    has_digit && has_letter && value.len() >= 16 && shannon_entropy(value) >= 3.5
}

/// Bits per character of `text`'s byte distribution.
fn shannon_entropy(text: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in text.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = text.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / len).map(|p| -p * p.log2()).sum()
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

    /// The lines of `tests/fixtures/planted-secrets.tsv`: (label, text, secrets), the
    /// marks removed from the text.
    fn planted() -> Vec<(&'static str, String, Vec<String>)> {
        include_str!("../tests/fixtures/planted-secrets.tsv")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (label, marked) = line.split_once('\t').expect("label<TAB>text");
                let marked = marked.replace("\\n", "\n");
                let secrets = marked.split('⟦').skip(1).map(|s| s.split('⟧').next().unwrap().to_string()).collect();
                (label, marked.replace(['⟦', '⟧'], ""), secrets)
            })
            .collect()
    }

    #[test]
    fn every_planted_format_is_redacted_to_its_label() {
        let lines = planted();
        assert_eq!(lines.len(), 30);
        for (label, text, secrets) in lines {
            let expected = secrets.iter().fold(text.clone(), |t, s| t.replace(s, &format!("[REDACTED:{label}]")));
            assert_redacted(&text, &expected);
        }
    }

    #[test]
    fn secret_named_environment_values_are_redacted_but_paths_and_short_ones_are_not() {
        let env =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        add_env_secrets(&env(&[
            ("DB_PASSWORD", "plain words but secret"),
            ("MAPS_API_KEY", "maps-key-value-77"),
            ("SECRET_DIR", "/var/lib/secret-things"),
            ("GITHUB_TOKEN", "short"),
            ("EDITOR", "visual-studio-code"),
        ]));
        assert_redacted(
            "connecting with plain words but secret to maps-key-value-77 via /var/lib/secret-things; visual-studio-code",
            "connecting with [REDACTED:env-secret] to [REDACTED:env-secret] via /var/lib/secret-things; visual-studio-code",
        );
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
            // Code that handles passwords and keys without containing one.
            "struct Login { user: String, password: String }",
            "let password = user.password;",
            "fn hash_password(password: &str) -> String {",
            "password_hash = hashlib.sha256(pw).hexdigest()",
            "if password == \"\" { return Err(Empty) }",
            "password: ${DB_PASSWORD}",
            "url = \"postgres://app:${PGPASS}@db/app\"",
            "SORT_KEY = \"created_at_timestamp\"",
            "token = tokenizer.next_token()",
            "const PRIMARY_KEY: &str = \"id\";",
            "cache_key = f\"user:{user_id}\"",
            "ssh git@github.com:org/repo.git",
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
