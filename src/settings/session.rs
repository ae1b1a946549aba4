//! The settings a session runs with, as typed values: resolved from [`Settings`] once, by
//! the command, so the session engine never reads a setting by its string key.

use std::time::Duration;

use super::Settings;

/// What the session engine needs from the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub model: String,
    /// Whether `model` was given on the command line (`--model`, `-c model=...`): only
    /// then does `--resume` change a session's model.
    pub model_from_flag: bool,
    /// `fallback_model`: where requests go once the model is overloaded.
    pub fallback_model: Option<String>,
    /// `escalate_model`: the editing model of an iteration retrying a failed issue.
    pub escalate_model: Option<String>,
    /// `narrow_after`: failed iterations on one issue before the next narrows to it.
    pub narrow_after: u32,
    pub target: f64,
    pub max_iterations: u32,
    pub budget_usd: Option<f64>,
    pub max_tokens: Option<u64>,
    pub time_limit: Option<Duration>,
    pub max_stalled: u32,
    pub max_failures: u32,
    pub fix_rounds: u32,
    pub max_turns: u32,
    pub max_output_tokens: u32,
    /// `[validate] commands`; empty when the analysis should say.
    pub checks: Vec<String>,
    pub check_timeout: Duration,
    /// `[validate] pass_env`: credentials the checks may see.
    pub pass_env: Vec<String>,
    pub in_place: bool,
    /// Extra patterns of files the model never sees.
    pub secret_files: Vec<String>,
    /// Patterns of files the tools may not edit because they define the checks (`protect`).
    pub protect: Vec<String>,
    /// `[parallel] copy`: ignored files copied into parallel workers' trees.
    pub parallel_copy: Vec<String>,
    /// Whether an API key or token is set (a dry run reviews only then).
    pub has_credentials: bool,
    /// The prompt cache's time to live, when the cache is refreshed during long checks
    /// (`cache_refresh`, `cache_ttl`); `None`: never refreshed.
    pub cache_refresh: Option<Duration>,
    /// `[tools.<name>]`: command tools offered in editing conversations.
    pub command_tools: Vec<super::extensions::ToolDef>,
    /// Where the `[mcp.<name>]` servers are read from, at each iteration boundary.
    pub mcp: super::mcp::McpSource,
    /// `repo_map_tokens`: the budget of the map in the prompts' stable part.
    pub repo_map_tokens: usize,
    /// `related_map_tokens`: the budget of the map ranked toward an iteration's issues.
    pub related_map_tokens: usize,
}

impl SessionConfig {
    pub fn resolve(settings: &Settings) -> Self {
        let int = |key: &str| settings.int(key).unwrap_or(0);
        Self {
            model: settings.str("model").unwrap_or_default().to_string(),
            model_from_flag: matches!(settings.entry("model").source, super::Source::Flag { .. }),
            fallback_model: settings.str("fallback_model").filter(|m| !m.is_empty()).map(str::to_string),
            escalate_model: settings.str("escalate_model").filter(|m| !m.is_empty()).map(str::to_string),
            narrow_after: settings.int("narrow_after").unwrap_or(2).max(1) as u32,
            target: settings.float("target").unwrap_or(8.0),
            max_iterations: int("max_iterations") as u32,
            budget_usd: settings.float("budget_usd"),
            max_tokens: settings.int("max_tokens"),
            time_limit: settings.duration("time_limit"),
            max_stalled: int("max_stalled") as u32,
            max_failures: int("max_failures") as u32,
            fix_rounds: int("fix_rounds") as u32,
            max_turns: int("max_turns") as u32,
            max_output_tokens: int("max_output_tokens").min(u64::from(u32::MAX)) as u32,
            checks: settings.list("validate.commands").to_vec(),
            check_timeout: settings.duration("validate.timeout").unwrap_or(Duration::from_secs(600)),
            pass_env: settings.list("validate.pass_env").to_vec(),
            in_place: settings.bool("in_place"),
            secret_files: settings.list("secret_files").to_vec(),
            protect: settings.list("protect").to_vec(),
            parallel_copy: settings.list("parallel.copy").to_vec(),
            has_credentials: match settings.str("provider") {
                Some("openai") => settings.str("openai_api_key").is_some(),
                _ => settings.str("api_key").is_some() || settings.str("auth_token").is_some(),
            },
            // A zero TTL caches nothing: there is nothing to refresh.
            cache_refresh: settings
                .bool("cache_refresh")
                .then(|| settings.duration("cache_ttl").unwrap_or(Duration::from_secs(300)))
                .filter(|ttl| !ttl.is_zero()),
            command_tools: settings.tools.clone(),
            mcp: settings.mcp.clone(),
            repo_map_tokens: settings.int("repo_map_tokens").unwrap_or(6000) as usize,
            related_map_tokens: settings.int("related_map_tokens").unwrap_or(1500) as usize,
        }
    }
}
