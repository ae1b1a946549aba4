//! A fake Anthropic API on loopback, for tests that must never reach the network.
//!
//! [`FakeApi::start`] listens on `127.0.0.1` (one thread per connection, HTTP/1.1,
//! `Connection: close` after every response) and answers requests, whatever their path,
//! with the next [`Reply`] of a scripted FIFO queue; `GET /v1/models/{id}` (the check mmm
//! makes before a session) is apart: it is answered with the model's description, or the
//! reply set by [`FakeApi::answer_model_checks`], and recorded in [`FakeApi::model_checks`],
//! never in the queue or [`FakeApi::requests`]. It records every request
//! ([`Recorded`]: method, target, headers, body) for assertions. A request that finds the
//! queue empty gets a 500 (with `x-should-retry: false`) naming the request, and the test
//! fails when the server is dropped; so does a test that leaves scripted replies unused.
//!
//! Replies are built from a [`Msg`] (text, tool use with its input JSON split in many
//! pieces, thinking with a signature, any raw block) as a streamed ([`Reply::stream`]) or
//! plain JSON ([`Reply::message`]) response, or from raw events, API errors and bodies;
//! [`Reply::drop_after`] cuts the connection after some bytes and [`Reply::stall_after`]
//! goes silent. Pass [`FakeApi::url`] as `ANTHROPIC_BASE_URL` to the binary, or to
//! [`client_config`] for library tests, which can wait through a [`RecordingSleeper`].

// Shared by every test area that talks to the API; not each uses every helper.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use mmm::llm::http::Limits;
use mmm::llm::{ClientConfig, Credential, Sleeper};

/// The key the tests send; it appears nowhere but the request headers.
pub const TEST_KEY: &str = "sk-ant-api03-test-key-0123456789-abcd";

/// How long a stalled reply stays silent at most (it ends earlier when the server drops).
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// One scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    cut: Cut,
}

#[derive(Debug, Clone, Copy)]
enum Cut {
    None,
    /// Close the connection after this many body bytes.
    Drop(usize),
    /// Send this many body bytes, then nothing until the server is dropped.
    Stall(usize),
}

impl Reply {
    /// Any status, content type and body.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("content-type".into(), content_type.into())], body: body.into(), cut: Cut::None }
    }

    /// A JSON body.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::raw(status, "application/json", body.to_string())
    }

    /// A non-streamed Messages response.
    pub fn message(msg: &Msg) -> Self {
        Self::json(200, &msg.json())
    }

    /// A streamed Messages response: every event of the message.
    pub fn stream(msg: &Msg) -> Self {
        Self::events(&msg.events())
    }

    /// A 200 event stream of exactly these `(event name, data)` pairs.
    pub fn events(events: &[(String, Value)]) -> Self {
        Self::raw(200, "text/event-stream", sse_body(events))
    }

    /// An API error: `{"type":"error","error":{"type":kind,"message":message}}`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Self::json(status, &json!({"type": "error", "error": {"type": kind, "message": message}}))
    }

    /// Adds (or replaces) a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Closes the connection after `bytes` of the body (the declared length stays whole).
    pub fn drop_after(mut self, bytes: usize) -> Self {
        self.cut = Cut::Drop(bytes.min(self.body.len()));
        self
    }

    /// Sends `bytes` of the body, then goes silent with the connection open.
    pub fn stall_after(mut self, bytes: usize) -> Self {
        self.cut = Cut::Stall(bytes.min(self.body.len()));
        self
    }
}

/// An SSE body from `(event name, data)` pairs.
pub fn sse_body(events: &[(String, Value)]) -> String {
    events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect()
}

/// An `error` event, as the API sends mid-stream.
pub fn error_event(kind: &str, message: &str) -> (String, Value) {
    ("error".into(), json!({"type": "error", "error": {"type": kind, "message": message}}))
}

/// A model reply, built block by block, sent as JSON or as a stream.
#[derive(Debug, Clone)]
pub struct Msg {
    id: String,
    model: String,
    content: Vec<Value>,
    stop_reason: String,
    usage: Value,
}

impl Default for Msg {
    fn default() -> Self {
        Self::new()
    }
}

impl Msg {
    /// An empty `end_turn` reply from `claude-sonnet-5` that used 10 input and 5 output tokens.
    pub fn new() -> Self {
        Self {
            id: "msg_fake_01".into(),
            model: "claude-sonnet-5".into(),
            content: Vec::new(),
            stop_reason: "end_turn".into(),
            usage: json!({"input_tokens": 10, "output_tokens": 5}),
        }
    }

    pub fn text(self, text: &str) -> Self {
        self.block(json!({"type": "text", "text": text}))
    }

    /// A tool call; the reply's stop reason becomes `tool_use`.
    pub fn tool_use(mut self, id: &str, name: &str, input: Value) -> Self {
        self.stop_reason = "tool_use".into();
        self.block(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
    }

    pub fn thinking(self, thinking: &str, signature: &str) -> Self {
        self.block(json!({"type": "thinking", "thinking": thinking, "signature": signature}))
    }

    pub fn redacted_thinking(self, data: &str) -> Self {
        self.block(json!({"type": "redacted_thinking", "data": data}))
    }

    /// Any block, sent as it is (an unknown type streams as start + stop).
    pub fn block(mut self, block: Value) -> Self {
        self.content.push(block);
        self
    }

    pub fn stop_reason(mut self, reason: &str) -> Self {
        self.stop_reason = reason.into();
        self
    }

    /// The final usage (the stream's `message_start` carries its input side, with 1 output token).
    pub fn usage(mut self, usage: Value) -> Self {
        self.usage = usage;
        self
    }

    pub fn model(mut self, model: &str) -> Self {
        self.model = model.into();
        self
    }

    /// The content blocks as the API sends them.
    pub fn content(&self) -> &[Value] {
        &self.content
    }

    /// The whole message, as a non-streamed response body.
    pub fn json(&self) -> Value {
        json!({"id": self.id, "type": "message", "role": "assistant", "model": self.model,
               "content": self.content, "stop_reason": self.stop_reason, "stop_sequence": null,
               "usage": self.usage})
    }

    /// The stream of events the API would send for this message: `message_start`, a
    /// `ping`, each block's start, deltas (text in words, tool input JSON in 5-character
    /// pieces after an empty one, thinking in two halves then its signature) and stop,
    /// `message_delta` with the stop reason and usage, `message_stop`.
    pub fn events(&self) -> Vec<(String, Value)> {
        let mut start_usage = self.usage.clone();
        start_usage["output_tokens"] = json!(1);
        let mut events = vec![
            event(
                "message_start",
                json!({"message": {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
            ),
            event("ping", json!({})),
        ];
        for (index, block) in self.content.iter().enumerate() {
            let (start, deltas) = split_block(block);
            events.push(event("content_block_start", json!({"index": index, "content_block": start})));
            events
                .extend(deltas.into_iter().map(|d| event("content_block_delta", json!({"index": index, "delta": d}))));
            events.push(event("content_block_stop", json!({"index": index})));
        }
        events.push(event(
            "message_delta",
            json!({"delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                   "usage": {"output_tokens": self.usage["output_tokens"]}}),
        ));
        events.push(event("message_stop", json!({})));
        events
    }
}

/// An event whose data carries `type` = `name`, like the API's.
pub fn event(name: &str, mut data: Value) -> (String, Value) {
    let mut object = serde_json::Map::new();
    object.insert("type".into(), json!(name));
    object.append(data.as_object_mut().expect("event data is an object"));
    (name.to_string(), Value::Object(object))
}

/// A block's `content_block_start` form and its deltas.
fn split_block(block: &Value) -> (Value, Vec<Value>) {
    let text = |key: &str| block[key].as_str().unwrap_or_default().to_string();
    match block["type"].as_str() {
        Some("text") => {
            let words = split_keeping(&text("text"), ' ');
            let deltas = words.into_iter().map(|w| json!({"type": "text_delta", "text": w})).collect();
            (json!({"type": "text", "text": ""}), deltas)
        }
        Some("tool_use") => {
            let input = block["input"].to_string();
            let chars: Vec<char> = input.chars().collect();
            let mut deltas = vec![json!({"type": "input_json_delta", "partial_json": ""})];
            deltas.extend(
                chars
                    .chunks(5)
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece.iter().collect::<String>()})),
            );
            let mut start = block.clone();
            start["input"] = json!({});
            (start, deltas)
        }
        Some("thinking") => {
            let thinking: Vec<char> = text("thinking").chars().collect();
            let (a, b) = thinking.split_at(thinking.len() / 2);
            let deltas = vec![
                json!({"type": "thinking_delta", "thinking": a.iter().collect::<String>()}),
                json!({"type": "thinking_delta", "thinking": b.iter().collect::<String>()}),
                json!({"type": "signature_delta", "signature": text("signature")}),
            ];
            (json!({"type": "thinking", "thinking": "", "signature": ""}), deltas)
        }
        _ => (block.clone(), Vec::new()),
    }
}

/// Splits after each `sep`, keeping it: "a b c" → ["a ", "b ", "c"].
fn split_keeping(text: &str, sep: char) -> Vec<String> {
    let mut pieces: Vec<String> = text.split_inclusive(sep).map(str::to_string).collect();
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    pieces
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent: `/v1/models?limit=1000`.
    pub target: String,
    /// Names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query parameter's raw value.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// A header's value (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Answers a request from what it asks (a responder server has no queue).
pub type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// Checks a request against the API's rules; `Err` says what is wrong.
pub type Validator = dyn Fn(&Recorded) -> Result<(), String> + Send + Sync;

#[derive(Default)]
struct State {
    replies: Mutex<VecDeque<Reply>>,
    responder: Option<Arc<Responder>>,
    requests: Mutex<Vec<Recorded>>,
    /// `GET /v1/models/{id}` requests, and the reply to them (`None`: the model exists).
    model_checks: Mutex<Vec<Recorded>>,
    model_check_reply: Mutex<Option<Reply>>,
    /// Requests that found no scripted reply.
    unanswered: Mutex<Vec<String>>,
    /// Checks every request before it is answered (see [`FakeApi::validating`]).
    validator: Mutex<Option<Arc<Validator>>>,
    /// Requests the validator refused, with why.
    invalid: Mutex<Vec<String>>,
    shutdown: Mutex<bool>,
    wake: Condvar,
}

/// The fake server. Dropping it stops it and checks that every scripted reply was used
/// and every request answered.
pub struct FakeApi {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeApi {
    /// Starts a server with an empty queue.
    pub fn start() -> Self {
        Self::serve_with(State::default())
    }

    /// Starts a server that answers every request with `responder(request)`: for runs
    /// whose requests are not known in advance (a crash may cut a run anywhere, and the
    /// resumed run asks again).
    pub fn respond(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        Self::serve_with(State { responder: Some(Arc::new(responder)), ..State::default() })
    }

    fn serve_with(state: State) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(state);
        let shared = Arc::clone(&state);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if *shared.shutdown.lock().unwrap() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { addr, state, acceptor: Some(acceptor) }
    }

    /// Starts a server with these replies queued.
    pub fn with(replies: impl IntoIterator<Item = Reply>) -> Self {
        let server = Self::start();
        for reply in replies {
            server.push(reply);
        }
        server
    }

    /// Queues a reply.
    pub fn push(&self, reply: Reply) -> &Self {
        self.state.replies.lock().unwrap().push_back(reply);
        self
    }

    /// The base URL: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `i`-th request (from 0); panics naming how many there were.
    pub fn request(&self, i: usize) -> Recorded {
        let requests = self.requests();
        requests.get(i).cloned().unwrap_or_else(|| panic!("no request #{i}: the server got {}", requests.len()))
    }

    /// Answers every `GET /v1/models/{id}` with `reply` (instead of describing the model).
    pub fn answer_model_checks(&self, reply: Reply) -> &Self {
        *self.state.model_check_reply.lock().unwrap() = Some(reply);
        self
    }

    /// The `GET /v1/models/{id}` requests received so far, in order.
    pub fn model_checks(&self) -> Vec<Recorded> {
        self.state.model_checks.lock().unwrap().clone()
    }

    /// Checks every request with `validator` before answering it: a request it refuses is
    /// answered 400 (`x-should-retry: false`), uses no scripted reply, and fails the test
    /// when the server is dropped.
    pub fn validating(self, validator: impl Fn(&Recorded) -> Result<(), String> + Send + Sync + 'static) -> Self {
        *self.state.validator.lock().unwrap() = Some(Arc::new(validator));
        self
    }

    /// Scripted replies not used yet.
    pub fn pending(&self) -> usize {
        self.state.replies.lock().unwrap().len()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        *self.state.shutdown.lock().unwrap() = true;
        self.state.wake.notify_all();
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if std::thread::panicking() {
            return;
        }
        let invalid = self.state.invalid.lock().unwrap().clone();
        assert!(invalid.is_empty(), "fake API: invalid requests: {invalid:#?}");
        let unanswered = self.state.unanswered.lock().unwrap().clone();
        assert!(unanswered.is_empty(), "fake API: requests found no scripted reply: {unanswered:?}");
        let pending = self.pending();
        assert_eq!(pending, 0, "fake API: {pending} scripted replies were never requested");
    }
}

fn serve(mut stream: TcpStream, state: &State) {
    let request = match read_request(&stream) {
        Ok(Some(request)) => request,
        Ok(None) => return, // the acceptor's wake-up connection, or a client that gave up
        Err(e) => {
            let _ = write!(stream, "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\n\r\n{e}", e.len());
            return;
        }
    };
    if let Some(model) = request.path().strip_prefix("/v1/models/").filter(|_| request.method == "GET") {
        let reply = state.model_check_reply.lock().unwrap().clone().unwrap_or_else(|| {
            Reply::json(
                200,
                &json!({"type": "model", "id": model, "display_name": model, "created_at": "2026-09-30T00:00:00Z",
                        "max_input_tokens": 1000000, "max_tokens": 128000}),
            )
        });
        let number = {
            let mut checks = state.model_checks.lock().unwrap();
            checks.push(request);
            checks.len()
        };
        write_reply(&mut stream, state, &reply, &format!("req_fake_model_{number}"));
        return;
    }
    let number = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(request.clone());
        requests.len()
    };
    let validator = state.validator.lock().unwrap().clone();
    if let Some(Err(why)) = validator.map(|validate| validate(&request)) {
        let what = format!("request #{number}: {} {}: {why}", request.method, request.target);
        state.invalid.lock().unwrap().push(what.clone());
        let reply =
            Reply::error(400, "invalid_request_error", &format!("fake API: {what}")).header("x-should-retry", "false");
        write_reply(&mut stream, state, &reply, &format!("req_fake_{number}"));
        return;
    }
    let scripted = match &state.responder {
        Some(responder) => Some(responder(&request)),
        None => state.replies.lock().unwrap().pop_front(),
    };
    let reply = scripted.unwrap_or_else(|| {
        let what = format!("request #{number}: {} {}", request.method, request.target);
        state.unanswered.lock().unwrap().push(what.clone());
        Reply::error(500, "api_error", &format!("fake API: no scripted reply left for {what}"))
            .header("x-should-retry", "false")
    });
    write_reply(&mut stream, state, &reply, &format!("req_fake_{number}"));
}

/// Writes `reply` (with `request_id` unless it carries its own), cut or stalled as scripted.
fn write_reply(stream: &mut TcpStream, state: &State, reply: &Reply, request_id: &str) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    if !reply.headers.iter().any(|(n, _)| n == "request-id") {
        head.push_str(&format!("request-id: {request_id}\r\n"));
    }
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", reply.body.len()));
    let sent = match reply.cut {
        Cut::None => reply.body.len(),
        Cut::Drop(n) | Cut::Stall(n) => n,
    };
    let written = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&reply.body[..sent]))
        .and_then(|()| stream.flush());
    if written.is_err() {
        return;
    }
    if let Cut::Stall(_) = reply.cut {
        let guard = state.shutdown.lock().unwrap();
        let _ = state.wake.wait_timeout_while(guard, STALL_LIMIT, |stop| !*stop);
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(stream: &TcpStream) -> Result<Option<Recorded>, String> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(format!("bad request line {line:?}"));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or_else(|| format!("bad header {trimmed:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        return Err("the fake API does not read chunked request bodies".into());
    }
    let length = headers.iter().find(|(n, _)| n == "content-length").map_or(Ok(0), |(_, v)| v.parse::<usize>());
    let mut body = vec![0; length.map_err(|e| format!("bad content-length: {e}"))?];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(Some(Recorded { method, target, headers, body }))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// A server that accepts connections and never answers: a dead API behind a live port.
/// It holds every connection open until it is dropped.
pub struct SilentServer {
    addr: std::net::SocketAddr,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<Mutex<bool>>,
    acceptor: Option<JoinHandle<()>>,
}

impl SilentServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Mutex::new(false));
        let (kept, stopped) = (Arc::clone(&accepted), Arc::clone(&stop));
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if *stopped.lock().unwrap() {
                    break;
                }
                if let Ok(stream) = stream {
                    kept.lock().unwrap().push(stream);
                }
            }
        });
        Self { addr, accepted, stop, acceptor: Some(acceptor) }
    }

    /// The base URL: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// A [`Sleeper`] that records each requested wait and returns at once.
#[derive(Debug, Default)]
pub struct RecordingSleeper {
    delays: Mutex<Vec<Duration>>,
}

impl RecordingSleeper {
    /// The waits asked for so far.
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().unwrap().clone()
    }
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.delays.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

/// A client configuration for `server`: [`TEST_KEY`], version `2023-06-01`,
/// `claude-sonnet-5`, streaming, 8 retries within a 60 s budget, a 10 s request, 5 s
/// connect and first-byte and 2 s idle timeout.
pub fn client_config(server: &FakeApi) -> ClientConfig {
    ClientConfig {
        base_url: server.url(),
        credential: Credential::ApiKey(TEST_KEY.into()),
        anthropic_version: "2023-06-01".into(),
        model: "claude-sonnet-5".into(),
        limits: test_limits(),
        stream: true,
        builtin_tools: true,
    }
}

/// The limits of the test clients: 8 retries within a 60 s budget, a 10 s request, 5 s
/// connect and first-byte and 2 s idle timeout.
pub fn test_limits() -> Limits {
    Limits {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        first_byte_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(2),
        max_retries: 8,
        retry_budget: Duration::from_secs(60),
    }
}

/// A client built from `config` that records its waits instead of sleeping.
pub fn test_client(config: ClientConfig) -> (mmm::llm::AnthropicClient, Arc<RecordingSleeper>) {
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = mmm::llm::AnthropicClient::new(config).expect("a client").with_sleeper(sleeper.clone());
    (client, sleeper)
}
