//! The session engine as a library: several sessions in one process, each on its own work
//! tree, sharing one runtime and one observer, cancelled together through a parent token.
//! This is what workflows, parallel runs and a server build on.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use mmm::git::Git;
use mmm::llm::{AnthropicClient, Pricing};
use mmm::session::engine::{Env, Finished};
use mmm::session::events::{Event, Observer};
use mmm::session::improve::{self, ImproveOptions};
use mmm::settings::session::SessionConfig;
use mmm::state::session::SessionStatus;

use crate::common::Project;
use crate::common::fake_api::{FakeApi, Msg, Recorded, Reply, client_config};
use crate::common::script::{CHECK, done, issue, project_with_check, replace, review};

/// Every event, with the session it came from, in the order the sessions reported them.
#[derive(Default)]
struct Collect(Mutex<Vec<(String, String)>>);

impl Observer for Collect {
    fn event(&self, session: &str, event: &Event) {
        let kind = serde_json::to_value(event).unwrap()["type"].as_str().unwrap().to_string();
        self.0.lock().unwrap().push((session.to_string(), kind));
    }
}

fn config() -> SessionConfig {
    SessionConfig {
        model: "claude-sonnet-5".into(),
        model_from_flag: false,
        fallback_model: None,
        escalate_model: None,
        narrow_after: 2,
        target: 8.0,
        max_iterations: 5,
        budget_usd: None,
        max_tokens: None,
        time_limit: None,
        max_stalled: 3,
        max_failures: 3,
        fix_rounds: 1,
        max_turns: 10,
        max_output_tokens: 4096,
        checks: vec![CHECK.into()],
        check_timeout: Duration::from_secs(60),
        pass_env: Vec::new(),
        in_place: false,
        secret_files: Vec::new(),
        protect: Vec::new(),
        parallel_copy: Vec::new(),
        has_credentials: true,
        cache_refresh: None,
        command_tools: Vec::new(),
        mcp: Default::default(),
        repo_map_tokens: 6000,
        related_map_tokens: 1500,
    }
}

/// Both servers hold their first reply until the other has been asked too: the sessions
/// can only finish if they run at the same time.
struct Rendezvous {
    arrived: Mutex<u32>,
    all: Condvar,
}

impl Rendezvous {
    fn wait(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (arrived, timeout) = self.all.wait_timeout_while(arrived, Duration::from_secs(20), |n| *n < 2).unwrap();
        assert!(!timeout.timed_out(), "the other session never asked: the sessions did not run at once ({arrived})");
    }
}

/// A server that answers from `script` in order, the first answer after the rendezvous.
fn server(script: Vec<Reply>, meet: Arc<Rendezvous>) -> FakeApi {
    let script = Mutex::new(VecDeque::from(script));
    let first = Mutex::new(true);
    FakeApi::respond(move |_: &Recorded| {
        if std::mem::replace(&mut *first.lock().unwrap(), false) {
            meet.wait();
        }
        script.lock().unwrap().pop_front().expect("the script has a reply for every request")
    })
}

fn env(p: &Project, server: &FakeApi, observer: Arc<dyn Observer>, cancel: CancellationToken) -> Env {
    let mut client = client_config(server);
    client.limits.max_retries = 0;
    Env {
        git: Git::open(&p.root).unwrap(),
        model: Arc::new(AnthropicClient::new(client).unwrap()),
        observer,
        cancel,
        secret_files: Vec::new(),
        protect: Vec::new(),
        cache_refresh: None,
        command_tools: Vec::new(),
        mcp: Default::default(),
        shared: None,
    }
}

fn spawn(env: Env) -> tokio::task::JoinHandle<anyhow::Result<Finished>> {
    tokio::spawn(async move {
        let opts = ImproveOptions { use_cache: false, ..ImproveOptions::default() };
        improve::run(env, &config(), &Pricing::for_model("claude-sonnet-5"), &opts).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_run_at_once_in_one_process() {
    let (a, b) = (project_with_check(CHECK), project_with_check(CHECK));
    let meet = Arc::new(Rendezvous { arrived: Mutex::new(0), all: Condvar::new() });
    let script = |word: &str| {
        vec![
            review(6.0, issue()),
            replace("toolu_1", "hello", word),
            done("Change the greeting"),
            review(9.0, json!([])),
        ]
    };
    let (server_a, server_b) = (server(script("hi"), meet.clone()), server(script("hey"), meet));
    let observer = Arc::new(Collect::default());
    let parent = CancellationToken::new();
    let first = spawn(env(&a, &server_a, observer.clone(), parent.child_token()));
    let second = spawn(env(&b, &server_b, observer.clone(), parent.child_token()));
    let (first, second) = tokio::join!(first, second);
    let (first, second) = (first.unwrap().unwrap(), second.unwrap().unwrap());

    for (finished, p, word) in [(&first, &a, "hi"), (&second, &b, "hey")] {
        assert_eq!(finished.record.status, SessionStatus::Completed, "{:?}", finished.record.stop_reason);
        assert_eq!(finished.record.commits().count(), 1);
        assert_eq!(p.read("src/app.txt"), format!("greeting = {word}\n"), "each session edits its own tree");
        assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    }
    assert_ne!(first.record.id, second.record.id);

    // One observer saw both sessions, each event named with its session, each session's
    // events complete and in order.
    let seen = observer.0.lock().unwrap().clone();
    let expected = [
        "session_started",
        "baseline",
        "usage",
        "review",
        "usage",
        "tool",
        "usage",
        "validation",
        "iteration",
        "usage",
        "review",
        "stopped",
        "summary",
    ];
    for id in [&first.record.id, &second.record.id] {
        let kinds: Vec<&str> = seen.iter().filter(|(s, _)| s == id).map(|(_, k)| k.as_str()).collect();
        assert_eq!(kinds, expected, "session {id}");
    }
    assert_eq!(seen.len(), 2 * expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_parent_rolls_back_every_session() {
    let (a, b) = (project_with_check(CHECK), project_with_check(CHECK));
    let stalled = || Reply::stream(&Msg::new().text("thinking it over")).stall_after(60);
    let script = |word: &str| vec![review(5.0, issue()), replace("toolu_1", "hello", word), stalled()];
    let meet = Arc::new(Rendezvous { arrived: Mutex::new(0), all: Condvar::new() });
    let (server_a, server_b) = (server(script("BUG one"), meet.clone()), server(script("BUG two"), meet));
    let observer = Arc::new(Collect::default());
    let parent = CancellationToken::new();
    let first = spawn(env(&a, &server_a, observer.clone(), parent.child_token()));
    let second = spawn(env(&b, &server_b, observer.clone(), parent.child_token()));

    // Both sessions have edited their tree and wait on the model.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server_a.requests().len() < 3 || server_b.requests().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "the sessions never reached their third request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.read("src/app.txt"), "greeting = BUG one\n");
    parent.cancel();
    let (first, second) = tokio::join!(first, second);
    for (finished, p) in [(first.unwrap().unwrap(), &a), (second.unwrap().unwrap(), &b)] {
        assert_eq!(finished.record.status, SessionStatus::Interrupted);
        assert_eq!(p.read("src/app.txt"), "greeting = hello\n", "the cut-off iteration was rolled back");
        assert_eq!(p.run_git(&["status", "--porcelain"]), "");
        // What the session spent before it was cancelled is on record.
        assert_eq!((finished.record.requests, finished.record.usage.total()), (2, 30));
    }
}
