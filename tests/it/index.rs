//! The global index end to end: sessions in two repositories against the fake server,
//! `mmm projects`, `mmm stats` equal to sums over the session files, the index rebuilt from
//! the `.mmm/` files after it is deleted, and four sessions ending at once.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::{CHECK, done, issue, mmm_with, project_with_check, replace, review};
use crate::common::{Project, json_lines, stderr};

/// One committed iteration whose requests read from the prompt cache, then the target.
fn cached_session() -> FakeApi {
    let cached = json!({"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 100,
                        "cache_read_input_tokens": 2000});
    FakeApi::with([
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        Reply::stream(&Msg::new().text("Shorten the greeting").usage(cached)),
        review(9.0, json!([])),
    ])
}

/// A session whose one change breaks the check and is never fixed: rolled back (run with
/// [`ONE_ROUND`]).
fn rolled_back_session() -> FakeApi {
    FakeApi::with([review(5.0, issue()), replace("toolu_1", "hello", "BUG"), done("Try"), done("Still trying")])
}

const ONE_ROUND: &[&str] = &["--max-iterations", "1", "-c", "fix_rounds=1"];

/// `mmm <args>` in `p` with the index in `data`.
fn mmm(p: &Project, data: &Path, args: &[&str]) -> std::process::Output {
    p.mmm().env("XDG_DATA_HOME", data).args(args).output().unwrap()
}

fn improve(p: &Project, data: &Path, server: &FakeApi, args: &[&str]) {
    let out = mmm_with(p, server, "improve").env("XDG_DATA_HOME", data).args(args).output().unwrap();
    assert!(!stderr(&out).contains("index"), "{}", stderr(&out));
    assert!(out.status.code().is_some(), "{}", stderr(&out));
}

fn sessions(p: &Project) -> Vec<Value> {
    let dir = p.root.join(".mmm/sessions");
    let mut all: Vec<Value> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path().join("session.json")).unwrap()).unwrap()
        })
        .collect();
    all.sort_by_key(|s| s["id"].as_str().unwrap().to_string());
    all
}

fn stats(p: &Project, data: &Path, args: &[&str]) -> Value {
    let out = mmm(p, data, &[&["stats", "--output", "json"], args].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json_lines(&out).pop().unwrap()
}

fn root(p: &Project) -> String {
    p.run_git(&["rev-parse", "--show-toplevel"]).trim().to_string()
}

#[test]
fn stats_over_two_projects_equal_the_session_files_and_survive_a_rebuilt_index() {
    let data = tempfile::tempdir().unwrap();
    let data = data.path().to_path_buf();
    let (a, b) = (project_with_check(CHECK), project_with_check(CHECK));
    improve(&a, &data, &cached_session(), &[]);
    improve(&b, &data, &cached_session(), &[]);
    b.run_git(&["checkout", "-q", "main"]);
    improve(&b, &data, &rolled_back_session(), ONE_ROUND);

    let all: Vec<Value> = sessions(&a).into_iter().chain(sessions(&b)).collect();
    assert_eq!(all.len(), 3);
    let sum = |f: &dyn Fn(&Value) -> f64| all.iter().map(f).sum::<f64>();
    let iterations = |s: &Value| s["iterations"].as_array().unwrap().clone();
    let outcomes = |o: &str| sum(&|s| iterations(s).iter().filter(|i| i["outcome"] == o).count() as f64);
    let total = stats(&a, &data, &[])["total"].clone();
    assert_eq!(total["sessions"], 3);
    assert_eq!(total["iterations"].as_f64().unwrap(), sum(&|s| iterations(s).len() as f64));
    assert_eq!(total["commits"].as_f64().unwrap(), outcomes("committed"));
    assert_eq!(total["rollbacks"].as_f64().unwrap(), outcomes("rolled_back"));
    assert_eq!((total["commits"].as_u64(), total["rollbacks"].as_u64()), (Some(2), Some(1)));
    for (field, usage) in [
        ("input", "input_tokens"),
        ("output", "output_tokens"),
        ("cache_write", "cache_creation_input_tokens"),
        ("cache_read", "cache_read_input_tokens"),
    ] {
        assert_eq!(total["tokens"][field].as_f64().unwrap(), sum(&|s| s["usage"][usage].as_f64().unwrap()), "{field}");
    }
    let cost = sum(&|s| s["cost_usd"].as_f64().unwrap());
    assert!((total["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-9, "{total} vs {cost}");
    assert!((total["cost_per_commit_usd"].as_f64().unwrap() - cost / 2.0).abs() < 1e-9);
    let checks = sum(&|s| {
        (s["baseline"].as_array().unwrap().len()
            + iterations(s).iter().map(|i| i["validation"].as_array().unwrap().len()).sum::<usize>()) as f64
    });
    assert_eq!(total["check_runs"].as_f64().unwrap(), checks);
    // The sessions ran the default model: 4000 cache-read tokens at $2 - $0.20 per million.
    let model = all[0]["settings"]["model"].as_str().unwrap();
    let price = match model {
        "claude-sonnet-5" => 2.0,
        other => panic!("the default model changed to {other}: update the price here"),
    };
    assert!((total["cache_savings_usd"].as_f64().unwrap() - 4000.0 * price * 0.9 / 1e6).abs() < 1e-12, "{total}");
    assert_eq!(total["avg_score_change"], 3.0);

    let by_project = stats(&a, &data, &["--by", "project"]);
    let groups = by_project["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups.iter().map(|g| g["sessions"].as_u64().unwrap()).sum::<u64>(), 3);
    let by_outcome = stats(&a, &data, &["--by", "outcome"]);
    let keys: Vec<&str> = by_outcome["groups"].as_array().unwrap().iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["completed", "nothing_kept"]);

    let out = mmm(&a, &data, &["projects", "list", "--output", "json"]);
    let listed = &json_lines(&out)[0];
    let mut roots: Vec<(String, u64)> = listed["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["root"].as_str().unwrap().to_string(), p["sessions"].as_u64().unwrap()))
        .collect();
    roots.sort();
    let mut expected = vec![(root(&a), 1), (root(&b), 2)];
    expected.sort();
    assert_eq!(roots, expected);

    // The index is derived data: deleted, it is rebuilt from the .mmm/ files.
    let before = [stats(&a, &data, &[]), stats(&a, &data, &["--by", "day"]), stats(&a, &data, &["--by", "model"])];
    for file in ["mmm.db", "mmm.db-wal", "mmm.db-shm"] {
        let _ = std::fs::remove_file(data.join("mmm").join(file));
    }
    assert_eq!(stats(&a, &data, &[])["total"]["sessions"], 0);
    let out = mmm(&a, &data, &["projects", "reindex", &root(&a), &root(&b), "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0]["action"], "reindex");
    let after = [stats(&a, &data, &[]), stats(&a, &data, &["--by", "day"]), stats(&a, &data, &["--by", "model"])];
    assert_eq!(after, before);

    // Forgetting a project forgets its sessions, not its files.
    let out = mmm(&a, &data, &["projects", "remove", &root(&b), "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stats(&a, &data, &[])["total"]["sessions"], 1);
    assert_eq!(sessions(&b).len(), 2);
    let out = mmm(&a, &data, &["projects", "remove", "nothing-of-that-name"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: no registered project is named `nothing-of-that-name`\nhint: `mmm projects list` shows the names and roots\n"
    );
}

#[test]
fn projects_add_registers_a_repository_once_and_stats_refuse_a_bad_date() {
    let data = tempfile::tempdir().unwrap();
    let p = Project::git();
    let origin = p.bare_origin();
    for _ in 0..2 {
        let out = mmm(&p, data.path(), &["projects", "add", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let line = &json_lines(&out)[0];
        assert_eq!(line["action"], "add");
        assert_eq!(line["projects"][0]["root"], root(&p));
        assert_eq!(line["projects"][0]["origin"].as_str(), origin.path().to_str());
        assert_eq!(line["projects"][0]["last_head"].as_str(), Some(p.run_git(&["rev-parse", "HEAD"]).trim()));
    }
    let out = mmm(&p, data.path(), &["projects", "list", "--output", "json"]);
    assert_eq!(json_lines(&out)[0]["projects"].as_array().unwrap().len(), 1);
    let out = mmm(&p, data.path(), &["stats", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: `--since last tuesday` is not a date or a time\n\
         hint: give a day like 2026-12-01 or a time like 2026-12-01T12:00:00Z\n"
    );
    let out = mmm(&p, data.path(), &["stats"]);
    assert_eq!(
        crate::common::stdout(&out),
        "No sessions in the index yet: sessions are recorded as they end (`mmm projects reindex` indexes earlier ones).\n"
    );
}

#[test]
fn four_sessions_ending_at_once_are_all_recorded_without_a_locked_database() {
    let data = tempfile::tempdir().unwrap();
    let projects: Vec<Project> = (0..4).map(|_| project_with_check(CHECK)).collect();
    let servers: Vec<FakeApi> = (0..4).map(|_| cached_session()).collect();
    let children: Vec<std::process::Child> = projects
        .iter()
        .zip(&servers)
        .map(|(p, server)| {
            crate::common::mmm_std(&p.root, &p.home)
                .env("ANTHROPIC_API_KEY", TEST_KEY)
                .env("ANTHROPIC_BASE_URL", server.url())
                .env("XDG_DATA_HOME", data.path())
                .arg("improve")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "no warning (a locked database would be one)");
    }
    let total = stats(&projects[0], data.path(), &[])["total"].clone();
    assert_eq!((total["sessions"].as_u64(), total["commits"].as_u64()), (Some(4), Some(4)));
    let roots: Vec<PathBuf> = projects.iter().map(|p| PathBuf::from(root(p))).collect();
    let out = mmm(&projects[0], data.path(), &["projects", "list", "--output", "json"]);
    let listed: Vec<PathBuf> = json_lines(&out)[0]["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p["root"].as_str().unwrap()))
        .collect();
    assert_eq!(listed.len(), 4);
    assert!(roots.iter().all(|r| listed.contains(r)));
}

/// A loopback HTTP listener that records each request's body and answers 200.
struct Listener {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Listener {
    fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            }
        });
        Self { url, bodies }
    }
}

#[test]
fn a_webhook_gets_exactly_one_post_when_a_session_crosses_its_budget_line_and_none_below_it() {
    let data = tempfile::tempdir().unwrap();
    let hook = Listener::start();
    let p = project_with_check(CHECK);
    let alerting = |line: &str, server: &FakeApi| {
        let out = mmm_with(&p, server, "improve")
            .env("XDG_DATA_HOME", data.path())
            .env("MMM_ALERTS_WEBHOOK", &hook.url)
            .env("MMM_ALERTS_SESSION_USD", line)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
        p.run_git(&["checkout", "-q", "main"]);
    };
    alerting("1", &cached_session());
    assert_eq!(hook.bodies.lock().unwrap().len(), 0, "below the line: no alert");
    alerting("0.0001", &cached_session());
    let id = sessions(&p)[1]["id"].as_str().unwrap().to_string();
    let cost = sessions(&p)[1]["cost_usd"].as_f64().unwrap();
    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_eq!(body["text"], format!("mmm session {id} spent ${cost:.2}, over the alert line of $0.00"));
    assert_eq!(
        (body["alert"]["kind"].as_str(), body["alert"]["session"].as_str(), body["alert"]["value"].as_f64()),
        (Some("session_usd"), Some(id.as_str()), Some(cost))
    );
    assert_eq!(body["alert"]["project"], root(&p));
    assert!(!body.to_string().contains(TEST_KEY));
}

#[test]
fn an_alert_that_cannot_be_delivered_is_a_warning_not_a_failure() {
    let data = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = project_with_check(CHECK);
    let out = mmm_with(&p, &cached_session(), "improve")
        .env("XDG_DATA_HOME", data.path())
        .env("MMM_ALERTS_WEBHOOK", format!("http://127.0.0.1:{port}/hook"))
        .env("MMM_ALERTS_SESSION_USD", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("warning: could not deliver the session_usd alert to alerts.webhook after 3 tries: "),
        "{err}"
    );
    assert!(!err.contains(&port.to_string()), "the webhook's URL is not shown: {err}");
}

#[test]
fn the_html_report_holds_the_sessions_totals_and_no_key_nor_url() {
    let data = tempfile::tempdir().unwrap();
    let p = project_with_check(CHECK);
    improve(&p, data.path(), &cached_session(), &[]);
    let s = &sessions(&p)[0];
    let out = mmm(&p, data.path(), &["report", "-o", "report.html", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out)[0],
        json!({"type": "report", "format": "html", "file": "report.html", "sessions": [s["id"]]})
    );
    let page = std::fs::read_to_string(p.root.join("report.html")).unwrap();
    let attr = |name: &str| {
        let start = page.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name}")) + name.len() + 3;
        page[start..start + page[start..].find('"').unwrap()].to_string()
    };
    let usage = &s["usage"];
    assert_eq!(attr("data-iterations"), s["iterations"].as_array().unwrap().len().to_string());
    assert_eq!(attr("data-commits"), "1");
    assert_eq!(attr("data-input-tokens"), usage["input_tokens"].to_string());
    assert_eq!(attr("data-output-tokens"), usage["output_tokens"].to_string());
    assert_eq!(attr("data-cache-write-tokens"), usage["cache_creation_input_tokens"].to_string());
    assert_eq!(attr("data-cache-read-tokens"), usage["cache_read_input_tokens"].to_string());
    assert_eq!(attr("data-cost-usd").parse::<f64>().unwrap(), s["cost_usd"].as_f64().unwrap());
    assert!(!page.contains(TEST_KEY));
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<script"));
    assert_eq!(page.matches("<svg").count(), 4, "score, cost, tokens, time per phase");
    assert!(page.contains("+greeting = hi"), "the committed diff is shown");

    let out = mmm(&p, data.path(), &["report", "--format", "md"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(crate::common::stdout(&out).starts_with("## mmm improve: completed\n"));
    let out = mmm(&p, data.path(), &["report", "--since", "2999-01-01"]);
    assert_eq!(out.status.code(), Some(2));
}
