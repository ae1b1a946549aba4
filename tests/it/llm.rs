//! The Anthropic client against the fake API: replies streamed and not, tool use, thinking
//! round trips, every retry path, malformed responses, headers, cost and cache marks.
//! Waits between retries are recorded, never slept.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY, client_config, error_event, event, test_client};
use mmm::error::CliError;
use mmm::llm::{
    ContentBlock, Credential, LlmError, Message, MessagesRequest, Model, Pricing, StopReason, StreamUpdate, Tool,
    Usage, cache,
};

fn ask(text: &str) -> MessagesRequest {
    let mut request = MessagesRequest::new("claude-sonnet-5", 1024);
    request.messages.push(Message::user_text(text));
    request
}

/// A callback that writes each update as a line of `log`.
fn recorder(log: &Mutex<Vec<String>>) -> impl Fn(StreamUpdate<'_>) + Send + Sync + '_ {
    move |update| {
        let line = match update {
            StreamUpdate::Text(t) => format!("text:{t}"),
            StreamUpdate::Thinking(t) => format!("thinking:{t}"),
            StreamUpdate::ToolUse { id, name } => format!("tool:{id}:{name}"),
            StreamUpdate::Retry { attempt, error, .. } => format!("retry {attempt}: {error}"),
            other => format!("{other:?}"),
        };
        log.lock().unwrap().push(line);
    }
}

fn ignore(_: StreamUpdate<'_>) {}

#[tokio::test]
async fn a_non_streamed_reply_is_read_whole() {
    let server = FakeApi::with([Reply::message(&Msg::new().text("Hello there"))]);
    let (client, sleeper) = test_client(mmm::llm::ClientConfig { stream: false, ..client_config(&server) });
    let response = client.messages(&ask("hi"), &ignore).await.unwrap();
    assert_eq!(response.text(), "Hello there");
    assert_eq!(response.stop_reason, Some(StopReason::EndTurn));
    assert_eq!(response.usage, Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() });
    assert_eq!(response.request_id.as_deref(), Some("req_fake_1"));
    let sent = server.request(0);
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("POST", "/v1/messages"));
    assert_eq!(
        sent.json(),
        json!({"model": "claude-sonnet-5", "max_tokens": 1024,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
        "no `stream` field when not streaming"
    );
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn a_streamed_tool_call_gathers_its_input_from_many_pieces() {
    let input = json!({"command": "str_replace", "path": "src/lib.rs", "old_str": "fn a() {}\n", "new_str": "fn a() -> u8 { 1 }\n"});
    let msg =
        Msg::new().text("I will fix the function.").tool_use("toolu_01", "str_replace_based_edit_tool", input.clone());
    let pieces = msg.events().iter().filter(|(_, d)| d["delta"]["type"] == "input_json_delta").count();
    assert!(pieces > 10, "the input arrives in {pieces} pieces");
    let server = FakeApi::with([Reply::stream(&msg)]);
    let (client, _) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    let mut request = ask("fix it");
    request.tools.push(Tool::text_editor());
    let response = client.messages(&request, &recorder(&log)).await.unwrap();

    assert_eq!(serde_json::to_value(&response.content).unwrap(), json!(msg.content()));
    let calls: Vec<_> = response.tool_uses().map(|t| (t.id.as_str(), t.name.as_str(), &t.input)).collect();
    assert_eq!(calls, [("toolu_01", "str_replace_based_edit_tool", &input)]);
    assert_eq!(response.stop_reason, Some(StopReason::ToolUse));
    assert_eq!(
        log.into_inner().unwrap(),
        [
            "text:I ",
            "text:will ",
            "text:fix ",
            "text:the ",
            "text:function.",
            "tool:toolu_01:str_replace_based_edit_tool"
        ]
    );
    let body = server.request(0).json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["tools"], json!([{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]));
}

#[tokio::test]
async fn thinking_blocks_go_back_exactly_as_they_came() {
    let thinking = "Let me think\u{2026}\n\"quoted\", a tab\t, an emoji \u{1F600} and \u{2028} a separator";
    let signature = "EqQBCkYIARgCIkBK+/sig==";
    let first = Msg::new().thinking(thinking, signature).redacted_thinking("EmwKAhgBEgy3va3pzix/LafPsn4a").tool_use(
        "toolu_01",
        "search",
        json!({"pattern": "fn main"}),
    );
    let server = FakeApi::with([Reply::stream(&first), Reply::stream(&Msg::new().text("Done."))]);
    let (client, _) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    let mut request = ask("look around");
    let response = client.messages(&request, &recorder(&log)).await.unwrap();
    let streamed: String = log.lock().unwrap().iter().filter_map(|l| l.strip_prefix("thinking:")).collect();
    assert_eq!(streamed, thinking, "thinking is forwarded live");

    request.messages.push(response.to_message());
    request.messages.push(Message::user(vec![ContentBlock::tool_result("toolu_01", "src/main.rs:1", false)]));
    client.messages(&request, &ignore).await.unwrap();

    let sent = server.request(1).json();
    assert_eq!(sent["messages"][1], json!({"role": "assistant", "content": first.content()}));
    assert_eq!(sent["messages"][1]["content"][0]["thinking"].as_str(), Some(thinking));
    assert_eq!(sent["messages"][1]["content"][0]["signature"].as_str(), Some(signature));
    assert_eq!(
        sent["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "src/main.rs:1"}]})
    );
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let server = FakeApi::with([
        Reply::error(429, "rate_limit_error", "Number of requests has exceeded your rate limit")
            .header("retry-after", "7"),
        Reply::stream(&Msg::new().text("ok")),
    ]);
    let (client, sleeper) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    let started = Instant::now();
    let response = client.messages(&ask("hi"), &recorder(&log)).await.unwrap();
    assert_eq!(response.text(), "ok");
    assert_eq!(sleeper.delays(), [Duration::from_secs(7)]);
    assert!(started.elapsed() < Duration::from_secs(5), "the wait was recorded, not slept");
    assert_eq!(
        log.into_inner().unwrap(),
        [
            "retry 1: Anthropic API error 429 rate_limit_error: Number of requests has exceeded your rate limit \
             (request-id req_fake_1)",
            "text:ok"
        ]
    );
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.request(0).body, server.request(1).body, "the retry sends the same request");
}

#[tokio::test]
async fn retry_after_ms_wins_and_a_wait_within_the_budget_is_obeyed() {
    let server = FakeApi::with([
        Reply::error(529, "overloaded_error", "Overloaded").header("retry-after-ms", "1250").header("retry-after", "3"),
        Reply::error(503, "api_error", "unavailable").header("retry-after", "45"),
        Reply::stream(&Msg::new().text("ok")),
    ]);
    let (client, sleeper) = test_client(client_config(&server));
    client.messages(&ask("hi"), &ignore).await.unwrap();
    assert_eq!(sleeper.delays(), [Duration::from_millis(1250), Duration::from_secs(45)]);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_not_waited_for() {
    let server = FakeApi::with([Reply::error(503, "api_error", "unavailable").header("retry-after", "3600")]);
    let (client, sleeper) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Anthropic API error 503 api_error: unavailable (request-id req_fake_1): the API asks to wait 1h before \
         trying again, more than the 1m retry_budget allows; try again in 1h"
    );
    assert_eq!(sleeper.delays(), []);
}

#[tokio::test]
async fn an_overloaded_api_is_retried_with_growing_backoff() {
    let overloaded = || Reply::error(529, "overloaded_error", "Overloaded");
    let server = FakeApi::with([overloaded(), overloaded(), overloaded(), Reply::stream(&Msg::new().text("finally"))]);
    let (client, sleeper) = test_client(client_config(&server));
    let response = client.messages(&ask("hi"), &ignore).await.unwrap();
    assert_eq!(response.text(), "finally");
    assert_eq!(server.requests().len(), 4);
    let delays = sleeper.delays();
    assert_eq!(delays.len(), 3);
    for (delay, base) in delays.iter().zip([0.5, 1.0, 2.0]) {
        let secs = delay.as_secs_f64();
        assert!(secs > base * 0.75 - 1e-9 && secs <= base, "{secs} for a base of {base}");
    }
}

#[tokio::test]
async fn when_retries_run_out_the_error_names_status_type_request_and_hint() {
    let overloaded = || Reply::error(529, "overloaded_error", "Overloaded");
    let server = FakeApi::with([overloaded(), overloaded(), overloaded()]);
    let (client, sleeper) = test_client({
        let mut c = client_config(&server);
        c.limits.max_retries = 2;
        c
    });
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert!(matches!(err, LlmError::GaveUp { attempts: 3, .. }), "{err:?}");
    assert_eq!((err.status(), err.request_id()), (Some(529), Some("req_fake_3")));
    assert_eq!(sleeper.delays().len(), 2);
    let cli = CliError::from(err);
    assert_eq!(
        cli.to_string(),
        "Anthropic API error 529 overloaded_error: Overloaded (request-id req_fake_3) (gave up after 3 attempts)"
    );
    assert_eq!(cli.hint(), Some("the API is overloaded; try again later"));
}

#[tokio::test]
async fn a_400_is_not_retried_and_keeps_the_api_message() {
    let server =
        FakeApi::with([Reply::error(400, "invalid_request_error", "max_tokens: 999999 > 128000, the maximum")
            .header("request-id", "req_abc")]);
    let (client, sleeper) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Anthropic API error 400 invalid_request_error: max_tokens: 999999 > 128000, the maximum (request-id req_abc)"
    );
    assert_eq!(err.hint(), None);
    assert_eq!((server.requests().len(), sleeper.delays().len()), (1, 0));
}

#[tokio::test]
async fn x_should_retry_overrides_the_status() {
    let server = FakeApi::with([Reply::error(503, "api_error", "do not bother").header("x-should-retry", "false")]);
    let (client, _) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.requests().len(), 1);

    let server = FakeApi::with([
        Reply::error(400, "invalid_request_error", "try me again").header("x-should-retry", "true"),
        Reply::stream(&Msg::new().text("ok")),
    ]);
    let (client, sleeper) = test_client(client_config(&server));
    assert_eq!(client.messages(&ask("hi"), &ignore).await.unwrap().text(), "ok");
    assert_eq!(sleeper.delays().len(), 1);
}

#[tokio::test]
async fn an_overloaded_error_event_mid_stream_restarts_the_request() {
    let mut broken = Msg::new().text("partial answer that will be lost").events();
    broken.truncate(5);
    broken.push(error_event("overloaded_error", "Overloaded"));
    let server = FakeApi::with([Reply::events(&broken), Reply::stream(&Msg::new().text("whole"))]);
    let (client, sleeper) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    let response = client.messages(&ask("hi"), &recorder(&log)).await.unwrap();
    assert_eq!(response.text(), "whole");
    assert_eq!(sleeper.delays().len(), 1);
    assert_eq!(
        log.into_inner().unwrap(),
        [
            "text:partial ",
            "text:answer ",
            "retry 1: Anthropic API error overloaded_error in the response stream: Overloaded (request-id req_fake_1)",
            "text:whole"
        ]
    );
}

#[tokio::test]
async fn an_invalid_request_error_event_mid_stream_is_final() {
    let mut events = Msg::new().text("x").events();
    events.truncate(2);
    events.push(error_event("invalid_request_error", "prompt is too long"));
    let server = FakeApi::with([Reply::events(&events)]);
    let (client, _) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert_eq!(err.api().map(|e| (e.status, e.kind.as_str())), Some((None, "invalid_request_error")));
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_is_retried() {
    let msg = Msg::new().text("a long answer that gets cut off in the middle of the stream");
    let server = FakeApi::with([Reply::stream(&msg).drop_after(400), Reply::stream(&msg)]);
    let (client, sleeper) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    let response = client.messages(&ask("hi"), &recorder(&log)).await.unwrap();
    assert_eq!(response.text(), "a long answer that gets cut off in the middle of the stream");
    assert_eq!(sleeper.delays().len(), 1);
    let retry = log.lock().unwrap().iter().find(|l| l.starts_with("retry")).cloned().unwrap();
    assert!(retry.starts_with("retry 1: the connection broke during the response: "), "{retry}");
}

#[tokio::test]
async fn a_stream_that_ends_without_message_stop_is_retried() {
    let mut events = Msg::new().text("almost").events();
    events.pop();
    let server = FakeApi::with([Reply::events(&events), Reply::stream(&Msg::new().text("complete"))]);
    let (client, sleeper) = test_client(client_config(&server));
    let log = Mutex::new(Vec::new());
    assert_eq!(client.messages(&ask("hi"), &recorder(&log)).await.unwrap().text(), "complete");
    assert_eq!(sleeper.delays().len(), 1);
    assert!(log.lock().unwrap().contains(
        &"retry 1: the response stream ended before the message was complete (request-id req_fake_1)".to_string()
    ));
}

#[tokio::test]
async fn a_silent_stream_times_out_and_is_retried() {
    let msg = Msg::new().text("slow");
    let server = FakeApi::with([Reply::stream(&msg).stall_after(150), Reply::stream(&msg)]);
    let idle = Duration::from_millis(300);
    let (client, sleeper) = test_client({
        let mut c = client_config(&server);
        c.limits.idle_timeout = idle;
        c
    });
    let log = Mutex::new(Vec::new());
    let started = Instant::now();
    assert_eq!(client.messages(&ask("hi"), &recorder(&log)).await.unwrap().text(), "slow");
    assert!(started.elapsed() >= idle);
    assert_eq!((server.requests().len(), sleeper.delays().len()), (2, 1));
    assert!(log.lock().unwrap().contains(
        &"retry 1: the response stream was silent for 300ms (stream_idle_timeout) (request-id req_fake_1)".to_string()
    ));
}

#[tokio::test]
async fn an_unreachable_api_is_retried_then_reported() {
    let server = FakeApi::start();
    let config = {
        let mut c = client_config(&server);
        c.limits.max_retries = 2;
        c
    };
    let url = config.base_url.clone();
    drop(server); // nothing listens on the port any more
    let (client, sleeper) = test_client(config);
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert!(matches!(err.root(), LlmError::Connect { url: u, .. } if *u == url), "{err:?}");
    assert_eq!(sleeper.delays().len(), 2);
    assert_eq!(err.hint(), Some(mmm::llm::error::CONNECT_HINT));
}

#[tokio::test]
async fn malformed_responses_are_reported_without_retrying() {
    let server = FakeApi::with([Reply::raw(200, "application/json", "{\"id\": \"msg_1\", \"content\": [")]);
    let (client, sleeper) = test_client(mmm::llm::ClientConfig { stream: false, ..client_config(&server) });
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert!(matches!(err, LlmError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().starts_with("malformed response from the API: EOF while parsing"), "{err}");
    assert!(sleeper.delays().is_empty());

    let server = FakeApi::with([Reply::raw(200, "text/event-stream", "event: message_start\ndata: {not json}\n\n")]);
    let (client, _) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert!(err.to_string().contains("`message_start` event: "), "{err}");
    assert!(err.to_string().ends_with("(request-id req_fake_1)"), "{err}");

    let mut events = Msg::new().tool_use("toolu_1", "search", json!({"q": "x"})).events();
    for (_, data) in &mut events {
        if data["delta"]["partial_json"] == "\"x\"}" {
            data["delta"]["partial_json"] = json!("\"x\"");
        }
    }
    let server = FakeApi::with([Reply::events(&events)]);
    let (client, _) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert!(err.to_string().contains("tool input of block 0 is not JSON"), "{err}");
}

#[tokio::test]
async fn unknown_events_and_blocks_survive_the_round_trip() {
    let future_block = json!({"type": "future_block", "id": "fb_1", "payload": {"nested": [1, 2, 3]}});
    let mut events = Msg::new().text("before").block(future_block.clone()).text("after").events();
    events.insert(3, event("future_event", json!({"anything": true})));
    events.insert(5, event("content_block_delta", json!({"index": 0, "delta": {"type": "future_delta", "x": 1}})));
    let server = FakeApi::with([Reply::events(&events), Reply::stream(&Msg::new().text("ok"))]);
    let (client, _) = test_client(client_config(&server));
    let mut request = ask("hi");
    let response = client.messages(&request, &ignore).await.unwrap();
    assert_eq!(response.content[1], ContentBlock::Unknown(future_block.clone()));
    assert_eq!(response.text(), "beforeafter");
    request.messages.push(response.to_message());
    request.messages.push(Message::user_text("continue"));
    client.messages(&request, &ignore).await.unwrap();
    assert_eq!(server.request(1).json()["messages"][1]["content"][1], future_block);
}

#[tokio::test]
async fn requests_carry_the_key_version_and_content_type_headers() {
    let server = FakeApi::with([Reply::stream(&Msg::new().text("ok"))]);
    let (client, _) =
        test_client(mmm::llm::ClientConfig { anthropic_version: "2026-10-21".into(), ..client_config(&server) });
    client.messages(&ask("hi"), &ignore).await.unwrap();
    let sent = server.request(0);
    assert_eq!(sent.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2026-10-21"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("authorization"), None);
    assert!(sent.header("user-agent").is_some_and(|ua| ua.starts_with("mmm/")));
    assert!(!String::from_utf8_lossy(&sent.body).contains(TEST_KEY), "the key is in the headers only");
}

#[tokio::test]
async fn a_bearer_token_is_sent_as_authorization() {
    let server = FakeApi::with([Reply::stream(&Msg::new().text("ok"))]);
    let config = mmm::llm::ClientConfig { credential: Credential::Bearer("tok-123".into()), ..client_config(&server) };
    let (client, _) = test_client(config);
    client.messages(&ask("hi"), &ignore).await.unwrap();
    let sent = server.request(0);
    assert_eq!(sent.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(sent.header("x-api-key"), None);
}

#[tokio::test]
async fn the_client_is_usable_as_a_dyn_model_and_never_shows_the_key() {
    let server = FakeApi::with([Reply::stream(&Msg::new().text("ok"))]);
    let (client, _) = test_client(client_config(&server));
    assert!(!format!("{client:?}").contains(TEST_KEY));
    assert!(!format!("{:?}", client_config(&server)).contains(TEST_KEY));
    let model: &dyn Model = &client;
    assert_eq!(model.name(), "claude-sonnet-5");
    assert_eq!(model.send(&ask("hi"), &ignore).await.unwrap().text(), "ok");
}

#[tokio::test]
async fn usage_with_cache_tokens_is_priced_per_model() {
    let usage = json!({"input_tokens": 2000, "output_tokens": 1000, "cache_creation_input_tokens": 10000,
                       "cache_read_input_tokens": 100000});
    let server = FakeApi::with([Reply::stream(&Msg::new().text("ok").usage(usage))]);
    let (client, _) = test_client(client_config(&server));
    let response = client.messages(&ask("hi"), &ignore).await.unwrap();
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 2000,
            output_tokens: 1000,
            cache_creation_input_tokens: 10000,
            cache_read_input_tokens: 100000,
            ..Usage::default()
        }
    );
    assert_eq!(response.usage.total(), 113000);
    // claude-sonnet-5 at $2 / $10: 2000·2 + 10000·2·1.25 + 100000·2·0.1 + 1000·10 = 59000 µ$
    let cost = Pricing::for_model("claude-sonnet-5").cost(&response.usage).unwrap();
    assert!((cost - 0.059).abs() < 1e-12, "{cost}");
    let mut session = Usage::default();
    session += response.usage;
    session += response.usage;
    assert_eq!(session.total(), 226000);
    assert_eq!(Pricing::for_model("claude-made-up-1").cost(&session), None);
}

#[tokio::test]
async fn cache_breakpoints_reach_the_api_in_the_right_places() {
    let server = FakeApi::with([Reply::stream(&Msg::new().text("ok"))]);
    let (client, _) = test_client(client_config(&server));
    // A stable first block of about 1,500 tokens (over claude-sonnet-5's 1,024), then the
    // iteration's text.
    let stable = "The project and its map. ".repeat(240);
    let mut request = MessagesRequest::new("claude-sonnet-5", 1024);
    request.messages.push(Message::user(vec![ContentBlock::text(&stable), ContentBlock::text("improve the code")]));
    request.system.push(mmm::llm::SystemBlock::text("You are careful."));
    request.tools = vec![Tool::text_editor(), Tool::custom("search", "Search", json!({"type": "object"}))];
    request.messages.push(Message { role: mmm::llm::Role::Assistant, content: vec![ContentBlock::text("Looking.")] });
    request.messages.push(Message::user(vec![ContentBlock::tool_result("t1", "no match", true)]));
    cache::place_breakpoints(&mut request, &cache::CachePlan::growing(1));
    client.messages(&request, &ignore).await.unwrap();
    let body = server.request(0).json();
    let ephemeral = json!({"type": "ephemeral"});
    // The stable prefix, and the two user turns' last blocks; tools and system alone are
    // under the minimum, so they carry none.
    assert_eq!(body["messages"][0]["content"][0]["cache_control"], ephemeral);
    assert_eq!(body["messages"][0]["content"][1]["cache_control"], ephemeral);
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "t1", "content": "no match", "is_error": true,
               "cache_control": ephemeral})
    );
    assert_eq!(body.to_string().matches("\"cache_control\"").count(), 3);
    assert_eq!((body["tools"][1].get("cache_control"), body["system"][0].get("cache_control")), (None, None));
}

#[tokio::test]
#[should_panic(expected = "fake API: requests found no scripted reply: [\"request #1: POST /v1/messages\"]")]
async fn the_fake_api_fails_a_test_that_scripted_too_few_replies() {
    let server = FakeApi::start();
    let (client, sleeper) = test_client(client_config(&server));
    let err = client.messages(&ask("hi"), &ignore).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("fake API: no scripted reply left for request #1: POST /v1/messages"), "{err}");
    assert!(sleeper.delays().is_empty(), "the 500 says not to retry");
    drop(server);
}

#[test]
#[should_panic(expected = "fake API: 1 scripted replies were never requested")]
fn the_fake_api_fails_a_test_that_left_replies_unused() {
    let _server = FakeApi::with([Reply::stream(&Msg::new().text("never asked for"))]);
}
