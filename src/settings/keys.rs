//! The registry of every setting mmm reads: name, type, default, documentation.
//!
//! This table is the one place a key is declared. Loading, validation, `mmm config show`,
//! the commented file `mmm init` writes and the documentation test all read it, so a key
//! cannot exist in one of them and be missing from another.

/// The type of a key's value, which decides how TOML, environment and flag text is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Any string.
    Str,
    /// A number within an inclusive range.
    Float { min: f64, max: f64 },
    /// A whole number of at least `min`.
    Int { min: u64 },
    /// `true` or `false`.
    Bool,
    /// A list of strings.
    List,
    /// A duration such as `90s`, `10m`, `1h30m`, or a number of seconds.
    Duration,
}

impl Kind {
    /// How the type is named in error messages and documentation.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Float { .. } => "a number",
            Kind::Int { .. } => "a whole number",
            Kind::Bool => "true or false",
            Kind::List => "a list of strings",
            Kind::Duration => "a duration like \"90s\", \"10m\" or \"1h\"",
        }
    }
}

/// A default value, as literal data so the registry can be a `static`.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    /// No value: the feature the key controls is off or unlimited.
    Unset,
    Str(&'static str),
    Float(f64),
    Int(u64),
    Bool(bool),
    List(&'static [&'static str]),
    /// Seconds.
    Duration(u64),
}

/// One setting.
#[derive(Debug)]
pub struct KeyDef {
    /// The name in TOML: a top-level key, or `table.key` for grouped keys.
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    /// One line saying what the key does; `mmm init` writes it above the key.
    pub doc: &'static str,
    /// Environment variables read besides `MMM_<NAME>`, lowest precedence first.
    pub extra_env: &'static [&'static str],
    /// A secret: shown masked, never accepted from a file (files get committed).
    pub secret: bool,
}

impl KeyDef {
    /// The `MMM_*` variable for this key: `validate.timeout` reads `MMM_VALIDATE_TIMEOUT`.
    pub fn env_name(&self) -> String {
        format!("MMM_{}", self.name.replace('.', "_").to_ascii_uppercase())
    }

    /// Every environment variable that sets this key, lowest precedence first.
    pub fn env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.extra_env.iter().map(|s| s.to_string()).collect();
        if !self.secret {
            names.push(self.env_name());
        }
        names
    }
}

/// Files never shown to the model, whatever `secret_files` adds. Glob patterns matched
/// against a file's name (and against its path relative to the repository when they
/// contain a `/`).
pub const BUILTIN_SECRET_FILES: &[&str] = &[
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.keystore",
    "*.jks",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.json",
    "*credentials*.json",
    "secrets.json",
    "secrets.toml",
    "secrets.yml",
    "secrets.yaml",
    "secrets.env",
    ".secrets",
    "*.tfvars",
    "*.tfstate",
    "*.tfstate.backup",
    "**/.aws/credentials",
    "**/.docker/config.json",
    "**/.kube/config",
    "kubeconfig",
    "*.kubeconfig",
    ".envrc",
    ".pgpass",
    ".boto",
    ".s3cfg",
    ".ssh/",
    "*deploy_key*",
    "*service-account*.json",
    "**/config/database.yml",
    "**/config/master.key",
];

/// The default of `protect`: files that only define how changes are checked (CI
/// workflows, test-runner configuration). The tools refuse to edit them. Gitignore syntax:
/// a pattern with a `/` is anchored at the repository root.
pub const DEFAULT_PROTECT: &[&str] = &[
    ".github/workflows/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    ".travis.yml",
    "azure-pipelines.yml",
    ".buildkite/**",
    "Jenkinsfile",
    "pytest.ini",
    "tox.ini",
    "noxfile.py",
    "jest.config.*",
    "vitest.config.*",
    "karma.conf.*",
    ".mocharc.*",
    "phpunit.xml",
    "phpunit.xml.dist",
];

/// Every key, in the order `mmm config show` and `mmm init` list them.
pub static KEYS: &[KeyDef] = &[
    KeyDef {
        name: "model",
        kind: Kind::Str,
        default: Default::Str("claude-sonnet-5"),
        doc: "Model used for reviews and edits (`mmm models` lists those your key can use); required with the `openai` provider.",
        extra_env: &["ANTHROPIC_MODEL"],
        secret: false,
    },
    KeyDef {
        name: "target",
        kind: Kind::Float { min: 0.0, max: 10.0 },
        default: Default::Float(8.0),
        doc: "Review score (0-10) at which `mmm improve` stops, once the checks pass.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_iterations",
        kind: Kind::Int { min: 1 },
        default: Default::Int(10),
        doc: "Most iterations one session runs.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "budget_usd",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Stop a session once its API cost reaches this many US dollars (unset: no limit).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_tokens",
        kind: Kind::Int { min: 1 },
        default: Default::Unset,
        doc: "Stop a session once it has used this many tokens, input and output (unset: no limit).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "time_limit",
        kind: Kind::Duration,
        default: Default::Unset,
        doc: "Stop a session after this much wall time (unset: no limit).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_stalled",
        kind: Kind::Int { min: 1 },
        default: Default::Int(3),
        doc: "Stop after this many iterations in a row without a committed change.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_failures",
        kind: Kind::Int { min: 1 },
        default: Default::Int(3),
        doc: "Stop after this many failed iterations in a row.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "fix_rounds",
        kind: Kind::Int { min: 0 },
        default: Default::Int(3),
        doc: "Times failing check output is sent back to the model to fix, per iteration.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_turns",
        kind: Kind::Int { min: 1 },
        default: Default::Int(40),
        doc: "Most model turns (requests) in one iteration's editing conversation.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_output_tokens",
        kind: Kind::Int { min: 1 },
        default: Default::Int(16000),
        doc: "Most output tokens the model may produce in one response (`max_tokens` of a request).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "fallback_model",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "Model a session switches to when a request gives up on overload (HTTP 529 through every retry); the rest of the session uses it (unset: no switch).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "escalate_model",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "Stronger model for the editing of an iteration that retries an issue which failed before; the next iteration on another issue returns to `model` (unset: no escalation).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "narrow_after",
        kind: Kind::Int { min: 1 },
        default: Default::Int(2),
        doc: "Failed iterations on the same issue after which the next works on that issue alone, in its file; if that fails too, the issue is set aside and the session moves on.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "cache_refresh",
        kind: Kind::Bool,
        default: Default::Bool(true),
        doc: "While long checks run, refresh the prompt-cache prefixes the next request will start with (the editing conversation so far, the reviews' stable prefix) just before they expire, with one-token requests (their cost is counted), so they are read instead of written again.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "cache_ttl",
        kind: Kind::Duration,
        default: Default::Duration(300),
        doc: "How long the API keeps a prompt-cache entry after its last use (Anthropic: 5 minutes); `cache_refresh` refreshes a tenth of it before it ends.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "repo_map_tokens",
        kind: Kind::Int { min: 0 },
        default: Default::Int(6000),
        doc: "Token budget of the repository map in the prompts' stable part, shared by every request of a session (files most central first; 0 leaves it out).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "related_map_tokens",
        kind: Kind::Int { min: 0 },
        default: Default::Int(1500),
        doc: "Token budget of the repository map ranked toward an iteration's issues (personalised PageRank from the files and names they mention), sent with each editing request (0 leaves it out).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "in_place",
        kind: Kind::Bool,
        default: Default::Bool(false),
        doc: "Work on the current branch instead of a new `mmm/...` branch.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "validate.commands",
        kind: Kind::List,
        default: Default::List(&[]),
        doc: "Commands that must pass for a change to be kept (empty: the detected build, lint and test commands).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "validate.timeout",
        kind: Kind::Duration,
        default: Default::Duration(600),
        doc: "Longest one validation command may run before it is stopped and counted as failed.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "validate.pass_env",
        kind: Kind::List,
        default: Default::List(&[]),
        doc: "Credentials passed through to the checks by name (`ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`, \
              `OPENAI_API_KEY`, the variable `api_key_env` names); by default nothing mmm starts sees them.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "sandbox.mode",
        kind: Kind::Str,
        default: Default::Str("best-effort"),
        doc: "How checks, workflow shell steps, hooks and command tools are confined (Linux: Landlock and seccomp): \
              `required` (refuse to run without Landlock), `best-effort` (confine where the kernel can, warn once \
              where it cannot) or `off`.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "sandbox.writable",
        kind: Kind::List,
        default: Default::List(&[]),
        doc: "Directories sandboxed commands may write besides the work tree, the temporary directory and the \
              cargo, npm, pip and go caches (`~` is the home directory).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "sandbox.network",
        kind: Kind::Bool,
        default: Default::Bool(false),
        doc: "Let sandboxed commands open network sockets (a baseline that must download dependencies needs it, or \
              fetch them once before: `cargo fetch`, `npm ci`).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "secret_files",
        kind: Kind::List,
        default: Default::List(&[]),
        doc: "Glob patterns of files never shown to the model, added to the built-in list (.env*, *.pem, *.key, id_rsa*, ...).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "protect",
        kind: Kind::List,
        default: Default::List(DEFAULT_PROTECT),
        doc: "Glob patterns of files that define how changes are checked, which the model's tools may not edit \
              (CI workflows and test-runner configuration by default; `[]` allows every edit).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "parallel.copy",
        kind: Kind::List,
        default: Default::List(&[]),
        doc: "Files or directories (paths from the repository root) that git ignores but a build needs, such as \
              `.env`, copied into each worker's work tree by `mmm improve --parallel`; nothing is copied by default.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "provider",
        kind: Kind::Str,
        default: Default::Str("anthropic"),
        doc: "Which API the model is reached through: `anthropic` (the Messages API) or `openai` (an OpenAI-compatible \
              Chat Completions endpoint: OpenAI, vLLM, LM Studio, llama.cpp's server, Ollama).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "editor_tool",
        kind: Kind::Str,
        default: Default::Str("builtin"),
        doc: "How the file editor is offered to the model: `builtin` (Anthropic's text editor tool type) or `custom` \
              (an ordinary JSON-schema tool, for Messages API servers without Anthropic's built-in tools; always so \
              with the `openai` provider).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "base_url",
        kind: Kind::Str,
        default: Default::Str("https://api.anthropic.com"),
        doc: "Base URL of the API: the Anthropic API or a compatible endpoint; with the `openai` provider, up to the \
              version path (`https://api.openai.com/v1` unless set in a file, MMM_BASE_URL or a flag).",
        extra_env: &["ANTHROPIC_BASE_URL"],
        secret: false,
    },
    KeyDef {
        name: "anthropic_version",
        kind: Kind::Str,
        default: Default::Str("2023-06-01"),
        doc: "Value of the `anthropic-version` header sent with every request.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "request_timeout",
        kind: Kind::Duration,
        default: Default::Duration(600),
        doc: "Longest one API request may take, its whole response included.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "connect_timeout",
        kind: Kind::Duration,
        default: Default::Duration(10),
        doc: "Longest opening a connection to the API may take before the attempt counts as failed.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "first_byte_timeout",
        kind: Kind::Duration,
        default: Default::Duration(60),
        doc: "Longest the API may take to start answering a request (its response headers) before the attempt counts as failed.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "stream_idle_timeout",
        kind: Kind::Duration,
        default: Default::Duration(60),
        doc: "A streamed response silent this long is dropped and retried.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "max_retries",
        kind: Kind::Int { min: 0 },
        default: Default::Int(8),
        doc: "Retries of a failed API request (rate limits, overload, dropped connections).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "retry_budget",
        kind: Kind::Duration,
        default: Default::Duration(120),
        doc: "Most time one API request may spend on failed attempts and waits before mmm gives up; a longer `retry-after` fails at once.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "api_key",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "Anthropic API key, sent as `x-api-key`. Environment only: ANTHROPIC_API_KEY.",
        extra_env: &["ANTHROPIC_API_KEY"],
        secret: true,
    },
    KeyDef {
        name: "auth_token",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "Bearer token sent as `Authorization: Bearer`, instead of a key. Environment only: ANTHROPIC_AUTH_TOKEN.",
        extra_env: &["ANTHROPIC_AUTH_TOKEN"],
        secret: true,
    },
    KeyDef {
        name: "api_key_env",
        kind: Kind::Str,
        default: Default::Str("OPENAI_API_KEY"),
        doc: "With the `openai` provider: the environment variable that holds the API key.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "openai_api_key",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "API key for the `openai` provider, sent as `Authorization: Bearer`. Environment only: the variable \
              `api_key_env` names (OPENAI_API_KEY by default).",
        extra_env: &["OPENAI_API_KEY"],
        secret: true,
    },
    KeyDef {
        name: "pricing.input",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Input price of the configured model in USD per million tokens, for models mmm has no price for (set with pricing.output).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "pricing.output",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Output price of the configured model in USD per million tokens (set with pricing.input).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "pricing.cache_read",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Price of input read from the prompt cache, USD per million tokens (unset: 0.1× pricing.input with \
              the `anthropic` provider, the full input price with the `openai` provider).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "pricing.cache_write",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Price of input written to the prompt cache (5-minute TTL), USD per million tokens (unset: 1.25× \
              pricing.input).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.session_usd",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Alert when one session has spent at least this many USD (checked as it ends; once per session).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.daily_usd",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        default: Default::Unset,
        doc: "Alert when the sessions of one UTC day, across registered projects, have spent at least this many USD (once per day).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.failure_rate",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: Default::Unset,
        doc: "Alert when this share (0 to 1) of the project's last `alerts.failure_window` iterations failed or were rolled back (once per crossing).",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.failure_window",
        kind: Kind::Int { min: 1 },
        default: Default::Int(10),
        doc: "How many of the project's latest iterations `alerts.failure_rate` looks at.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.score_drop",
        kind: Kind::Float { min: 0.0, max: 10.0 },
        default: Default::Unset,
        doc: "Alert when a session's last review scored at least this much below its first.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.on_error",
        kind: Kind::Bool,
        default: Default::Bool(false),
        doc: "Alert when a session is stopped by an error.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.webhook",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "URL an alert is POSTed to as JSON: a Slack-compatible `text` and the whole alert under `alert`.",
        extra_env: &[],
        secret: false,
    },
    KeyDef {
        name: "alerts.command",
        kind: Kind::Str,
        default: Default::Unset,
        doc: "Shell command run for each alert with the alert's JSON on stdin (without mmm's credentials).",
        extra_env: &[],
        secret: false,
    },
];

/// The definition of a key, by its full name.
pub fn find(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// The table names that group keys (`validate` for `validate.commands`).
pub fn is_table(name: &str) -> bool {
    KEYS.iter().any(|k| k.name.split_once('.').is_some_and(|(table, _)| table == name))
}

/// The valid key closest to a misspelt one, if any is close enough to be a likely typo.
pub fn closest(name: &str) -> Option<&'static str> {
    // A misplaced key (`modle` under `[validate]`) is also compared by its last part.
    let last = name.rsplit('.').next().unwrap_or(name);
    closest_to(name).or_else(|| closest_to(last))
}

fn closest_to(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .flat_map(|k| {
            // A grouped key also matches by its last part: `commands` → `validate.commands`,
            // one edit further than a top-level key as close (`modle` → `model`, not
            // `sandbox.mode`).
            let short = k.name.rsplit('.').next().unwrap_or(k.name);
            let grouped = usize::from(short != k.name);
            [(k.name, edit_distance(name, k.name)), (k.name, edit_distance(name, short) + grouped)]
        })
        .filter(|&(_, d)| d <= typo_distance(name))
        .min_by_key(|&(_, d)| d)
        .map(|(n, _)| n)
}

/// The candidate closest to `name`, if it is close enough to be a likely typo (a model
/// name, for example).
pub fn closest_among<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (c, edit_distance(name, c)))
        .filter(|&(_, d)| d <= typo_distance(name))
        .min_by_key(|&(_, d)| d)
        .map(|(c, _)| c)
}

/// The most edits a misspelling of `name` is taken to have.
fn typo_distance(name: &str) -> usize {
    (name.len() / 3).max(2)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diag + usize::from(ca != cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_env_names_follow_them() {
        let mut names: Vec<_> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        assert_eq!(find("validate.timeout").unwrap().env_name(), "MMM_VALIDATE_TIMEOUT");
        assert_eq!(find("base_url").unwrap().env_names(), vec!["ANTHROPIC_BASE_URL", "MMM_BASE_URL"]);
        assert_eq!(find("api_key").unwrap().env_names(), vec!["ANTHROPIC_API_KEY"]);
        assert_eq!(find("model").unwrap().env_names(), vec!["ANTHROPIC_MODEL", "MMM_MODEL"]);
    }

    #[test]
    fn closest_suggests_likely_typos_only() {
        assert_eq!(closest("modle"), Some("model"));
        assert_eq!(closest("max_iteration"), Some("max_iterations"));
        assert_eq!(closest("commands"), Some("validate.commands"));
        assert_eq!(closest("validate.modle"), Some("model"));
        assert_eq!(closest("completely_unrelated"), None);
    }

    #[test]
    fn closest_among_picks_the_nearest_likely_typo() {
        let models = ["claude-sonnet-5", "claude-opus-5", "claude-haiku-4-5"];
        assert_eq!(closest_among("claude-sonet-5", models), Some("claude-sonnet-5"));
        assert_eq!(closest_among("claude-opus5", models), Some("claude-opus-5"));
        assert_eq!(closest_among("gpt-4o", models), None);
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
