//! Any provider: sessions against the fake OpenAI-compatible server (its validator refuses
//! any request a Chat Completions server would, or that carries Anthropic's fields), the
//! editor as a JSON-schema tool for Anthropic-compatible servers (`editor_tool = "custom"`),
//! prices that must be known for a budget, retries and a missing key.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, RecordingSleeper, Reply, test_limits};
use crate::common::fake_openai::{self, Chat, OPENAI_TEST_KEY, base_url, usage};
use crate::common::script::{CHECK, EDITOR, done, issue, mmm_with, project_with_check, replace, review, session};
use crate::common::{Project, json_lines, stderr, stdout};
use mmm::error::CliError;
use mmm::llm::{LlmError, Message, MessagesRequest, OpenAiClient, OpenAiConfig, StreamUpdate, Usage};

/// A repository whose check passes, set up for `provider = "openai"` at `server`, with
/// `extra` TOML lines (top-level keys) after the provider's.
fn openai_project(server: &FakeApi, extra: &str) -> Project {
    let p = project_with_check(CHECK);
    p.write(
        ".mmm/config.toml",
        &format!(
            "provider = \"openai\"\nmodel = \"gpt-test\"\nbase_url = \"{}\"\n{extra}\n[validate]\ncommands = [{CHECK:?}]\n",
            base_url(server)
        ),
    );
    p.run_git(&["commit", "-qam", "openai settings"]);
    p
}

fn improve(p: &Project) -> assert_cmd::Command {
    let mut cmd = p.mmm();
    cmd.env("OPENAI_API_KEY", OPENAI_TEST_KEY).arg("improve");
    cmd
}

fn call(id: &str, name: &str, input: Value) -> Reply {
    Chat::new().tool_call(id, name, input).stream()
}

fn review_call(score: f64, issues: Value) -> Chat {
    Chat::new().tool_call(
        "call_review",
        "submit_review",
        json!({"score": score, "summary": "A tiny project.", "issues": issues}),
    )
}

#[test]
fn a_session_runs_to_a_commit_against_an_openai_compatible_server() {
    let server = fake_openai::server([
        review_call(6.0, issue()).usage(usage(1_000_000, 100_000, 400_000)).stream(),
        call(
            "call_edit_1",
            EDITOR,
            json!({"command": "str_replace", "path": "src/app.txt", "old_str": "hello", "new_str": "hi"}),
        ),
        Chat::new().text("Shorten the greeting").stream(),
        review_call(9.0, json!([])).stream(),
    ]);
    let prices = "[prices.\"gpt-test\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncache_read_per_mtok = 0.5";
    let p = openai_project(&server, prices);
    let out = improve(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    assert_eq!(p.run_git(&["log", "-1", "--format=%s"]), "mmm: Shorten the greeting\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    let s = session(&p);
    assert_eq!(s["iterations"][0]["outcome"], "committed");
    assert_eq!(s["stop_reason"], json!({"kind": "target_reached", "score": 9.0, "target": 8.0}));
    // The review's 1M prompt tokens: 400k read from the cache, 600k not.
    assert_eq!(
        s["usage"],
        json!({"input_tokens": 600_030, "output_tokens": 100_015, "cache_creation_input_tokens": 0,
               "cache_read_input_tokens": 400_000})
    );
    // $1/M input, $0.5/M cached, $2/M output: 0.6 + 0.2 + 0.2, and 30 + 15·2 tokens' worth.
    let cost = s["cost_usd"].as_f64().unwrap();
    assert!((cost - 1.00006).abs() < 1e-9, "{cost}");

    // Every request passed the validator (the server fails the test on drop otherwise).
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {OPENAI_TEST_KEY}").as_str()));
    assert_eq!(server.model_checks().iter().map(|r| r.target.clone()).collect::<Vec<_>>(), ["/v1/models/gpt-test"]);
    let implement = requests[1].json();
    let editor = mmm::tools::editor::definition();
    assert_eq!(
        implement["tools"][0],
        json!({"type": "function", "function": {"name": EDITOR, "description": editor["description"],
               "parameters": editor["input_schema"]}})
    );
    assert_eq!(implement["max_tokens"], 16000, "`max_tokens` for a server that is not OpenAI's own");
    let answered = requests[2].json();
    let roles: Vec<&str> =
        answered["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(answered["messages"][2]["tool_calls"][0]["id"], "call_edit_1");
    assert_eq!(answered["messages"][3]["tool_call_id"], "call_edit_1");

    // The key went nowhere but the header.
    for entry in walk(&p.root.join(".mmm")) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!text.contains(OPENAI_TEST_KEY), "the key is in {}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn an_anthropic_server_without_builtin_tools_gets_the_editor_as_a_json_schema_tool() {
    let p = project_with_check(CHECK);
    p.write(".mmm/config.toml", &format!("editor_tool = \"custom\"\n[validate]\ncommands = [{CHECK:?}]\n"));
    p.run_git(&["commit", "-qam", "custom editor"]);
    let server = FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ])
    .validating(|request| {
        let body: Value = serde_json::from_slice(&request.body).map_err(|e| e.to_string())?;
        match body["tools"].as_array().into_iter().flatten().find(|t| t.get("type").is_some()) {
            Some(builtin) => Err(format!("a built-in tool type was sent: {builtin}")),
            None => Ok(()),
        }
    });
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    assert_eq!(session(&p)["iterations"][0]["outcome"], "committed");
    let editor = mmm::tools::editor::definition();
    let tools = server.request(1).json()["tools"].clone();
    assert_eq!(
        tools[0],
        json!({"name": EDITOR, "description": editor["description"], "input_schema": editor["input_schema"]})
    );
    assert_eq!(tools.as_array().unwrap().len(), 3, "editor, search, submit_change");
}

#[test]
fn a_budget_without_a_known_price_is_refused_before_any_request() {
    let server = fake_openai::server([]);
    let p = openai_project(&server, "");
    let out = improve(&p).args(["--budget-usd", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: budget_usd is set, but mmm does not know the price of `gpt-test`, so it cannot keep to the budget\n\
         hint: give its price in .mmm/config.toml, in USD per million tokens: `[prices.\"gpt-test\"]` with \
         `input_per_mtok = ...` and `output_per_mtok = ...`\n"
    );
    assert_eq!((server.requests().len(), server.model_checks().len()), (0, 0));
    assert!(!p.root.join(".mmm/sessions").exists(), "no session was started");

    // Without a budget the session runs, and its cost is unknown, never $0.
    let server = fake_openai::server([review_call(9.0, json!([])).stream()]);
    let p = openai_project(&server, "");
    let out = improve(&p).args(["--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(session(&p)["cost_usd"], Value::Null);
    let summary = json_lines(&out).into_iter().find(|l| l["type"] == "summary").expect("a summary line");
    assert_eq!(summary["cost_usd"], Value::Null);
    let status = &json_lines(&p.mmm().args(["status", "--output", "json"]).output().unwrap())[0];
    assert_eq!(
        status["totals"],
        json!({"sessions": 1, "iterations": 0, "commits": 0, "cost_usd": null,
               "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0}}),
        "an unknown cost is not summed as $0"
    );
    let server = fake_openai::server([review_call(9.0, json!([])).stream()]);
    let p = openai_project(&server, "");
    let out = improve(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "  cost        $?"), "the summary says the cost is unknown:\n{text}");
}

#[test]
fn a_missing_key_is_a_usage_error_naming_the_variable() {
    let server = fake_openai::server([]);
    let p = openai_project(&server, "");
    let out = p.mmm().arg("improve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no API key for provider = \"openai\": OPENAI_API_KEY is not set\n\
         hint: export OPENAI_API_KEY=<your key>; a local server that needs no key (Ollama, llama.cpp) takes any \
         value, e.g. OPENAI_API_KEY=none; `api_key_env` names another variable\n"
    );
    // Another variable, named in the settings: OPENAI_API_KEY is then not read.
    let p = openai_project(&server, "api_key_env = \"MY_LLM_KEY\"");
    let out = improve(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no API key for provider = \"openai\": MY_LLM_KEY is not set\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.requests().len(), 0);
}

#[test]
fn the_key_from_a_named_variable_is_sent_and_hidden_from_the_checks() {
    let server = fake_openai::server([review_call(9.0, json!([])).stream()]);
    let p = openai_project(&server, "api_key_env = \"MY_LLM_KEY\"");
    // The check fails if it can see the key.
    p.write(".mmm/config.toml", &p.read(".mmm/config.toml").replace(CHECK, "test -z \\\"$MY_LLM_KEY\\\""));
    p.run_git(&["commit", "-qam", "a check that looks for the key"]);
    let out = p.mmm().env("MY_LLM_KEY", OPENAI_TEST_KEY).arg("improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(session(&p)["baseline"][0]["passed"], true, "the check did not see MY_LLM_KEY");
    assert_eq!(server.request(0).header("authorization"), Some(format!("Bearer {OPENAI_TEST_KEY}").as_str()));
}

fn client(server: &FakeApi) -> (OpenAiClient, Arc<RecordingSleeper>) {
    let config = OpenAiConfig {
        base_url: base_url(server),
        api_key: OPENAI_TEST_KEY.into(),
        model: "gpt-test".into(),
        limits: test_limits(),
    };
    let sleeper = Arc::new(RecordingSleeper::default());
    (OpenAiClient::new(config).unwrap().with_sleeper(sleeper.clone()), sleeper)
}

fn ask() -> MessagesRequest {
    let mut request = MessagesRequest::new("gpt-test", 100);
    request.messages.push(Message::user_text("hi"));
    request
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_the_answer_is_read() {
    let server = fake_openai::server([
        fake_openai::error(429, "rate_limit_exceeded", "slow down").header("retry-after", "3"),
        fake_openai::error(503, "server_error", "try later"),
        Reply::raw(502, "text/html", "<html>bad gateway</html>"),
        Chat::new().text("Hello there").stream(),
    ]);
    let (client, sleeper) = client(&server);
    let retries = std::sync::Mutex::new(Vec::new());
    let on_event = |u: StreamUpdate<'_>| {
        if let StreamUpdate::Retry { attempt, error, .. } = u {
            retries.lock().unwrap().push(format!("{attempt}: {error}"));
        }
    };
    let response = client.chat(&ask(), &on_event).await.unwrap();
    assert_eq!(response.text(), "Hello there");
    assert_eq!(response.usage, Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() });
    assert_eq!(
        *retries.lock().unwrap(),
        [
            "1: OpenAI-compatible API error 429 rate_limit_exceeded: slow down",
            "2: OpenAI-compatible API error 503 server_error: try later",
            "3: OpenAI-compatible API error 502 http_error: <html>bad gateway</html>",
        ]
    );
    let delays = sleeper.delays();
    assert_eq!(delays[0], Duration::from_secs(3), "the asked wait");
    assert!(delays[1..].iter().all(|d| *d > Duration::ZERO && *d <= Duration::from_secs(2)), "{delays:?}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn a_refused_key_is_final_with_a_hint_naming_the_variable() {
    let server = fake_openai::server([fake_openai::error(401, "invalid_api_key", "Incorrect API key provided")]);
    let (client, sleeper) = client(&server);
    let err = client.chat(&ask(), &|_| {}).await.unwrap_err();
    assert!(matches!(err, LlmError::Api(_)), "not retried: {err}");
    assert!(sleeper.delays().is_empty());
    let cli = CliError::from(err);
    assert_eq!(cli.to_string(), "OpenAI-compatible API error 401 invalid_api_key: Incorrect API key provided");
    assert_eq!(
        cli.hint(),
        Some(
            "check the key in OPENAI_API_KEY (or the variable the `api_key_env` setting names): the API did not accept it"
        )
    );
}

#[test]
fn models_lists_what_the_server_serves() {
    let listing = json!({"object": "list", "data": [
        {"id": "gpt-test", "object": "model", "created": 1_790_000_000, "owned_by": "me"},
        {"id": "qwen3-coder:30b", "object": "model", "owned_by": "library"}]});
    let server = fake_openai::server([Reply::json(200, &listing), Reply::json(200, &listing)]);
    let p = openai_project(&server, "");
    let out = p.mmm().env("OPENAI_API_KEY", OPENAI_TEST_KEY).args(["--output", "json", "models"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        [
            json!({"type": "model", "id": "gpt-test", "display_name": "", "created_at": "2026-09-21T14:13:20Z"}),
            json!({"type": "model", "id": "qwen3-coder:30b", "display_name": "", "created_at": ""}),
        ]
    );
    assert_eq!(server.request(0).target, "/v1/models");
    let out = p.mmm().env("OPENAI_API_KEY", OPENAI_TEST_KEY).arg("models").output().unwrap();
    assert_eq!(stdout(&out), "ID               NAME  CREATED\ngpt-test               2026-09-21\nqwen3-coder:30b\n");
}

#[test]
fn config_check_knows_the_provider_settings() {
    let p = Project::git();
    p.write(".mmm/config.toml", "provider = \"opnai\"\neditor_tool = \"custom\"\napi_key_env = \"MY_KEY\"\n");
    let out = p.mmm().args(["--output", "json", "config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out);
    let problems = &lines[0]["checked"][0]["problems"];
    let message = format!(
        "{}:1: `provider` must be `anthropic` or `openai`, found `opnai`",
        p.root.join(".mmm/config.toml").display()
    );
    assert_eq!(
        problems,
        &json!([{"level": "error", "message": message, "hint": "set `provider` to `anthropic` or `openai`"}])
    );
    // An OpenAI model is not compared with Anthropic's list.
    p.write(".mmm/config.toml", "provider = \"openai\"\nmodel = \"gpt-test\"\n");
    let out = p.mmm().args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // A model's price is shown with where it came from; a broken one is an error with a hint.
    let file = p.root.join(".mmm/config.toml");
    p.write(".mmm/config.toml", "[prices.\"qwen3:8b\"]\ninput_per_mtok = 0.0\noutput_per_mtok = 0.5\n");
    let out = p.mmm().args(["--output", "json", "config", "show"]).output().unwrap();
    let settings = json_lines(&out)[0]["settings"].as_array().unwrap().clone();
    let source = json!({"kind": "project_file", "path": file});
    assert_eq!(
        settings.iter().filter(|s| s["key"].as_str().unwrap().starts_with("prices.")).cloned().collect::<Vec<_>>(),
        [
            json!({"key": "prices.\"qwen3:8b\".input_per_mtok", "value": 0.0, "source": source}),
            json!({"key": "prices.\"qwen3:8b\".output_per_mtok", "value": 0.5, "source": source}),
        ]
    );
    p.write(".mmm/config.toml", "[prices.\"qwen3:8b\"]\ninput = 0.0\n");
    let out = p.mmm().args(["--output", "json", "config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let hint = "a model's price takes input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok";
    let example = "write it like `[prices.\"my-model\"]` with `input_per_mtok = 3.0` and `output_per_mtok = 15.0` \
                   (USD per million tokens)";
    assert_eq!(
        json_lines(&out)[0]["checked"][0]["problems"],
        json!([
            {"level": "error", "message": format!("{}:1: `prices.qwen3:8b` needs input_per_mtok and output_per_mtok", file.display()),
             "hint": example},
            {"level": "error", "message": format!("{}:2: unknown key `prices.qwen3:8b.input`", file.display()), "hint": hint}
        ])
    );
}

#[test]
fn a_dry_run_reviews_through_the_openai_provider_and_changes_nothing() {
    let server = fake_openai::server([review_call(6.0, issue()).stream()]);
    let p = openai_project(&server, "");
    let head = p.run_git(&["rev-parse", "HEAD"]);
    let out = improve(&p).args(["--dry-run", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = &json_lines(&out)[0];
    assert_eq!((plan["type"].as_str(), plan["baseline_passed"].as_bool()), (Some("plan"), Some(true)));
    assert_eq!(plan["would_address"], issue());
    assert_eq!(server.request(0).json()["tools"][0]["function"]["name"], "submit_review");
    assert_eq!(p.run_git(&["rev-parse", "HEAD"]), head);
    // Without the key the dry run says the review is skipped, as for Anthropic.
    let out = p.mmm().args(["improve", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l == "  review   skipped: no API key set"), "{}", stdout(&out));
}

#[test]
fn the_preflight_refuses_a_bad_key_or_an_unknown_model_and_passes_a_server_that_cannot_say() {
    let refused = |reply: Reply| {
        let server = fake_openai::server([]);
        server.answer_model_checks(reply);
        let p = openai_project(&server, "");
        let out = improve(&p).output().unwrap();
        assert_eq!(server.requests().len(), 0, "nothing was asked of the model");
        assert!(!p.root.join(".mmm/sessions").exists(), "no session was started");
        (out.status.code(), stderr(&out))
    };
    assert_eq!(
        refused(fake_openai::error(401, "invalid_api_key", "Incorrect API key provided")),
        (
            Some(2),
            "error: OpenAI-compatible API error 401 invalid_api_key: Incorrect API key provided\n\
             hint: check the key in OPENAI_API_KEY (or the variable the `api_key_env` setting names): the API did \
             not accept it\n"
                .to_string()
        )
    );
    assert_eq!(
        refused(fake_openai::error(404, "model_not_found", "The model `gpt-test` does not exist")),
        (
            Some(2),
            "error: OpenAI-compatible API error 404 model_not_found: The model `gpt-test` does not exist\n\
             hint: check the `model` setting (`mmm models` lists the models your key can use); a stopped session \
             continues with another model through `--resume -c model=<name>`\n"
                .to_string()
        )
    );
    // vLLM serves no /models/{id}: its 404 says nothing about the model, so the session runs.
    let server = fake_openai::server([review_call(9.0, json!([])).stream()]);
    server.answer_model_checks(Reply::json(404, &json!({"detail": "Not Found"})));
    let p = openai_project(&server, "");
    let out = improve(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[tokio::test]
async fn a_stream_cut_or_ended_early_is_sent_again() {
    let whole = Chat::new().tool_call("call_1", "search", json!({"pattern": "needle"})).stream();
    // No [DONE] and no finish reason: the turn is incomplete.
    let unfinished = Reply::raw(
        200,
        "text/event-stream",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n",
    );
    let server = fake_openai::server([whole.clone().drop_after(120), unfinished, whole]);
    let (client, sleeper) = client(&server);
    let retries = std::sync::Mutex::new(Vec::new());
    let on_event = |u: StreamUpdate<'_>| {
        if let StreamUpdate::Retry { error, .. } = u {
            retries.lock().unwrap().push(error.brief());
        }
    };
    let response = client.chat(&ask(), &on_event).await.unwrap();
    let calls: Vec<Value> = response.tool_uses().map(|c| c.input.clone()).collect();
    assert_eq!(calls, [json!({"pattern": "needle"})]);
    assert_eq!(*retries.lock().unwrap(), ["the connection broke", "the response stream ended early"]);
    assert_eq!(sleeper.delays().len(), 2);
}
