//! `mmm models` against the fake API: the table, JSON lines, pagination, and what happens
//! without a key or with a key the API refuses.

use serde_json::json;

use crate::common::fake_api::{FakeApi, Reply, TEST_KEY};
use crate::common::{Project, json_lines, stderr, stdout};

fn model(id: &str, name: &str, created: &str) -> serde_json::Value {
    json!({"type": "model", "id": id, "display_name": name, "created_at": created,
           "max_input_tokens": 1000000, "max_tokens": 128000, "capabilities": {"thinking": {"supported": true}}})
}

fn page(models: &[serde_json::Value], has_more: bool) -> Reply {
    let first = models.first().map(|m| m["id"].clone());
    let last = models.last().map(|m| m["id"].clone());
    Reply::json(200, &json!({"data": models, "has_more": has_more, "first_id": first, "last_id": last}))
}

fn mmm_against(p: &Project, server: &FakeApi) -> assert_cmd::Command {
    let mut cmd = p.mmm();
    cmd.env("ANTHROPIC_BASE_URL", server.url()).env("ANTHROPIC_API_KEY", TEST_KEY);
    cmd
}

#[test]
fn models_are_listed_as_an_aligned_table() {
    let server = FakeApi::with([page(
        &[
            model("claude-sonnet-5", "Claude Sonnet 5", "2026-09-30T00:00:00Z"),
            model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
        ],
        false,
    )]);
    let p = Project::git();
    let out = mmm_against(&p, &server).arg("models").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "ID                         NAME              CREATED\n\
         claude-sonnet-5            Claude Sonnet 5   2026-09-30\n\
         claude-haiku-4-5-20251001  Claude Haiku 4.5  2025-10-01\n"
    );
    let sent = server.request(0);
    assert_eq!((sent.method.as_str(), sent.path(), sent.query("limit")), ("GET", "/v1/models", Some("1000")));
    assert_eq!(sent.header("x-api-key"), Some(TEST_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(!stderr(&out).contains(TEST_KEY));
}

#[test]
fn a_configured_model_missing_from_the_list_is_pointed_out() {
    let server = FakeApi::with([page(&[model("claude-opus-5", "Claude Opus 5", "2026-08-01T00:00:00Z")], false)]);
    let p = Project::git();
    let out = mmm_against(&p, &server).args(["-c", "model=claude-sonet-5", "models"]).output().unwrap();
    assert_eq!(
        stdout(&out),
        "ID             NAME           CREATED\n\
         claude-opus-5  Claude Opus 5  2026-08-01\n\
         note: the configured model `claude-sonet-5` is not in this list (an alias, or not available to this key)\n"
    );
}

#[test]
fn json_mode_prints_one_object_per_model_across_pages() {
    let server = FakeApi::with([
        page(&[model("a", "A", "2026-01-01T00:00:00Z"), model("b", "B", "2026-01-02T00:00:00Z")], true),
        page(&[model("c", "C", "2026-01-03T00:00:00Z")], false),
    ]);
    let p = Project::git();
    let out = mmm_against(&p, &server).args(["--output", "json", "models"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(
        lines[0],
        json!({"type": "model", "id": "a", "display_name": "A", "created_at": "2026-01-01T00:00:00Z",
               "max_input_tokens": 1000000, "max_tokens": 128000})
    );
    let ids: Vec<_> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(server.request(0).query("after_id"), None);
    assert_eq!(server.request(1).query("after_id"), Some("b"));
}

#[test]
fn without_a_key_models_exits_two_with_a_hint() {
    let p = Project::git();
    let out = p.mmm().arg("models").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no Anthropic API key: ANTHROPIC_API_KEY is not set\n\
         hint: export ANTHROPIC_API_KEY=sk-ant-... (create a key at https://console.anthropic.com/settings/keys), \
         or set ANTHROPIC_AUTH_TOKEN for a bearer token\n"
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_bearer_token_is_enough() {
    let server = FakeApi::with([page(&[], false)]);
    let p = Project::git();
    let out = p
        .mmm()
        .env("ANTHROPIC_BASE_URL", server.url())
        .env("ANTHROPIC_AUTH_TOKEN", "token-0123456789")
        .arg("models")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "The API lists no models for this key.\n");
    assert_eq!(server.request(0).header("authorization"), Some("Bearer token-0123456789"));
}

#[test]
fn a_refused_key_exits_one_naming_status_type_request_and_hint() {
    let server = FakeApi::with([Reply::error(401, "authentication_error", "invalid x-api-key")]);
    let p = Project::git();
    let out = mmm_against(&p, &server).arg("models").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: Anthropic API error 401 authentication_error: invalid x-api-key (request-id req_fake_1)\n\
         hint: check ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN): the API did not accept it\n"
    );
    assert!(!stderr(&out).contains(TEST_KEY));
}

#[test]
fn the_request_id_is_logged_and_the_key_never_is() {
    let server = FakeApi::with([page(&[], false), page(&[], false)]);
    let p = Project::git();
    let out = mmm_against(&p, &server).args(["-vv", "models"]).output().unwrap();
    assert!(stderr(&out).contains("request_id=\"req_fake_1\""), "{}", stderr(&out));
    let out = mmm_against(&p, &server).args(["-vvv", "models"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains(TEST_KEY) && !stdout(&out).contains(TEST_KEY));
}

#[test]
fn an_unreachable_api_names_the_proxy_variables_in_its_hint() {
    let p = Project::git();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let out = p
        .mmm()
        .env("ANTHROPIC_BASE_URL", &url)
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .args(["-c", "max_retries=0", "models"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // What this platform says about a refused connection: "Connection refused (os error 111)".
    let refused = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(
        stderr(&out),
        format!(
            "error: could not reach {url}: error sending request for url ({url}/v1/models?limit=1000): \
             client error (Connect): tcp connect error: {refused}\n\
             hint: check your network connection and the `base_url` setting; behind a proxy, set HTTPS_PROXY \
             (HTTP_PROXY for an http:// base_url, NO_PROXY for hosts to reach directly)\n"
        )
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn requests_go_through_the_proxy_the_environment_names() {
    // The fake API stands in for the proxy: an http:// request through a proxy names the
    // whole URL in its request line.
    let proxy = FakeApi::with([page(&[model("claude-opus-5", "Claude Opus 5", "2026-08-01T00:00:00Z")], false)]);
    let p = Project::git();
    let out = p
        .mmm()
        .env("ANTHROPIC_BASE_URL", "http://api.mmm.invalid")
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("HTTP_PROXY", proxy.url())
        .args(["--output", "json", "models"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out).len(), 1);
    assert_eq!(proxy.request(0).target, "http://api.mmm.invalid/v1/models?limit=1000");
}
