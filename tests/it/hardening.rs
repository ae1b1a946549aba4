//! Issue #19, hardening: nothing hangs on a dead API, and bad input gets a clear answer
//! (an exit code, the file or setting at fault, and a `hint:`).

use std::time::{Duration, Instant};

use crate::common::fake_api::{FakeApi, Reply, SilentServer, TEST_KEY};
use crate::common::{Project, stderr, stdout};

#[test]
fn a_server_that_never_answers_fails_within_the_retry_budget_with_a_hint() {
    let server = SilentServer::start();
    let p = Project::git();
    let started = Instant::now();
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["-c", "first_byte_timeout=500ms", "-c", "retry_budget=2s", "models"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: no response within 500ms of sending the request (first_byte_timeout) \
         (gave up after 2 attempts: the 2s retry_budget is spent)\n\
         hint: the server took the connection but did not answer: check `base_url`, try again later, \
         or raise `first_byte_timeout`\n"
    );
    assert_eq!((stdout(&out), server.connections()), (String::new(), 2));
}

#[test]
fn a_retry_after_beyond_the_budget_fails_at_once_saying_when_to_retry() {
    let server = FakeApi::with([Reply::error(429, "rate_limit_error", "Rate limited").header("retry-after", "600")]);
    let p = Project::git();
    let started = Instant::now();
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .arg("models")
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: Anthropic API error 429 rate_limit_error: Rate limited (request-id req_fake_1): \
         the API asks to wait 10m before trying again, more than the 2m retry_budget allows; try again in 10m\n\
         hint: run mmm again after that wait, or raise `retry_budget` to let mmm wait that long itself\n"
    );
    assert_eq!(server.requests().len(), 1);
}
