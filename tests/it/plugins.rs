//! MCP servers as plugins, end to end: the real binary, the fake Anthropic server, and a
//! real MCP server on the official Python SDK (`tests/fixtures/mcp/test_server.py`; CI
//! installs `mcp`, and these tests fail loudly without it). The model sees a server's
//! tools as `mcp__<server>__<tool>` while editing, never in reviews; a call's result is in
//! the next request; slow, crashing and garbling servers are error results and the
//! session goes on; servers added between iterations appear in the next one; the API key
//! is never in a plugin's environment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::{
    CHECK, EDITOR, done, events, issue, mmm_with, project_with_check, replace, review, session,
};
use crate::common::{Project, json_lines, stderr};

/// The Python interpreter itself: a version manager's `python3` shim (pyenv's is a shell
/// script) would add variables of its own to a server's environment.
fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let out = std::process::Command::new("python3")
                .args(["-c", "import mcp.server.mcpserver, sys; print(sys.executable)"])
                .output()
                .expect("python3 runs (the MCP tests need python3 with `pip install mcp`)");
            assert!(
                out.status.success(),
                "the MCP tests need the `mcp` package: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        })
        .clone()
}

fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/test_server.py")
}

/// An `[mcp.<name>]` table running the test server (dumping its environment to `dump`).
fn table(name: &str, extra: &str, dump: &Path) -> String {
    format!(
        "[mcp.{name}]\ncommand = {:?}\nargs = [{:?}, {:?}]\n{extra}\n",
        python(),
        server_script().to_str().unwrap(),
        dump.to_str().unwrap()
    )
}

/// The project of the session tests with `tables` added to its (committed) settings.
fn project(tables: &str) -> Project {
    let p = project_with_check(CHECK);
    let config = p.read(".mmm/config.toml");
    p.write(".mmm/config.toml", &format!("{config}{tables}"));
    p.run_git(&["commit", "-qam", "plugins"]);
    p
}

fn call(id: &str, name: &str, input: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(id, name, input))
}

/// The tool names a recorded request offered.
fn tool_names(server: &FakeApi, i: usize) -> Vec<String> {
    server.request(i).json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The `tool_result` blocks of the last message of request `i`: (content, is_error).
fn results(server: &FakeApi, i: usize) -> Vec<(String, bool)> {
    let body = server.request(i).json();
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| {
            let content = match &b["content"] {
                Value::String(s) => s.clone(),
                blocks => blocks.as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect(),
            };
            (content, b["is_error"] == json!(true))
        })
        .collect()
}

const BUILTIN: [&str; 3] = [EDITOR, "search", "submit_change"];
const SERVER_TOOLS: [&str; 5] = ["echo", "slow", "crash", "garbage", "unlock"];

fn with_prefix(server: &str) -> Vec<String> {
    BUILTIN.iter().map(|s| s.to_string()).chain(SERVER_TOOLS.iter().map(|t| format!("mcp__{server}__{t}"))).collect()
}

#[test]
fn a_plugin_tool_is_offered_while_editing_only_and_its_result_is_in_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env.json");
    let p = project(&table("t", "env = [\"PLUGIN_VAR\"]", &dump));
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__t__echo", json!({"text": "hi"})),
        replace("toolu_2", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out =
        mmm_with(&p, &server, "improve").env("PLUGIN_VAR", "passed").env("NOT_PASSED", "kept out").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");

    // Reviews offer only their own tool; editing offers the built-in tools and the plugin's.
    assert_eq!(tool_names(&server, 0), ["submit_review"]);
    assert_eq!(tool_names(&server, 1), with_prefix("t"));
    assert_eq!(tool_names(&server, 4), ["submit_review"]);
    let echo = server.request(1).json()["tools"][3].clone();
    assert_eq!(
        echo,
        json!({"name": "mcp__t__echo", "description": "Returns the text it was given.",
               "input_schema": {"type": "object", "title": "echoArguments", "required": ["text"],
                                "properties": {"text": {"title": "Text", "type": "string"}}}})
    );
    assert_eq!(results(&server, 2), [("echo: hi".to_string(), false)]);
    let tools: Vec<Value> = events(&p).into_iter().filter(|e| e["type"] == "tool").collect();
    assert_eq!((tools[0]["tool"].as_str(), tools[0]["is_error"].as_bool()), (Some("mcp__t__echo"), Some(false)));
    assert_eq!(session(&p)["iterations"][0]["outcome"], "committed");

    // The server got PATH, HOME and what its table names: no key, nothing else.
    let env: serde_json::Map<String, Value> = serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap();
    // Python itself may set LC_CTYPE (PEP 538) before the server's code runs.
    let names: BTreeSet<&str> = env.keys().map(String::as_str).filter(|k| *k != "LC_CTYPE").collect();
    assert_eq!(names, BTreeSet::from(["HOME", "PATH", "PLUGIN_VAR"]));
    assert_eq!(env["PLUGIN_VAR"], "passed");
    assert!(!env.values().any(|v| v.as_str().unwrap().contains(TEST_KEY)));
}

#[test]
fn slow_crashing_and_garbling_servers_are_error_results_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let tables = [
        table("slow", "timeout_secs = 1", &dir.path().join("a.json")),
        table("crash", "timeout_secs = 10", &dir.path().join("b.json")),
        table("garble", "timeout_secs = 10", &dir.path().join("c.json")),
    ];
    let p = project(&tables.concat());
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__slow__slow", json!({"seconds": 30})),
        call("toolu_2", "mcp__slow__echo", json!({"text": "again"})),
        call("toolu_3", "mcp__crash__crash", json!({})),
        call("toolu_4", "mcp__garble__garbage", json!({})),
        replace("toolu_5", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    assert_eq!(session(&p)["iterations"][0]["outcome"], "committed");

    assert_eq!(
        results(&server, 2),
        [(
            "Error: the `slow` plugin's tool `slow` failed: no answer within 1s (the call's timeout). The plugin is \
         stopped for the rest of this iteration."
                .to_string(),
            true
        )]
    );
    assert_eq!(
        results(&server, 3),
        [(
            "Error: the `slow` plugin is not running (it failed earlier in this iteration); do without \
         `mcp__slow__echo`."
                .to_string(),
            true
        )]
    );
    for (i, name) in [(4, "crash"), (5, "garble")] {
        let got = results(&server, i);
        let tool = if name == "crash" { "crash" } else { "garbage" };
        let prefix = format!("Error: the `{name}` plugin's tool `{tool}` failed: ");
        assert!(got.len() == 1 && got[0].1 && got[0].0.starts_with(&prefix), "{got:?}");
        assert!(got[0].0.ends_with("The plugin is stopped for the rest of this iteration."), "{got:?}");
    }
    // The slow call was cut at its timeout (1s), not run to its end (30s): the journal's
    // times from the response asking for it to the call's event.
    let journal = events(&p);
    let at = |i: usize| journal[i]["ts"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let call = journal.iter().position(|e| e["type"] == "tool").unwrap();
    let took = at(call).duration_since(at(call - 1));
    assert!(took < jiff::SignedDuration::from_secs(10), "{took:?}");
}

#[test]
fn a_server_added_between_iterations_is_offered_in_the_next_one() {
    let p = project_with_check(&format!(
        // After the first edit (the greeting says "hi"), the check adds a server to the
        // global settings, as a user would while the session runs.
        "{CHECK} && {{ ! grep -q hi src/app.txt || cp ../plugin.toml \"$XDG_CONFIG_HOME/mmm/config.toml\"; }}"
    ));
    std::fs::create_dir_all(p.home.join(".config/mmm")).unwrap();
    let dump = p.root.parent().unwrap().join("env.json");
    std::fs::write(p.root.parent().unwrap().join("plugin.toml"), table("late", "", &dump)).unwrap();
    let server = FakeApi::with([
        review(5.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        review(6.0, issue()),
        call("toolu_2", "mcp__late__echo", json!({"text": "late"})),
        replace("toolu_3", "hi", "hi there"),
        done("Lengthen it a little"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tool_names(&server, 1), BUILTIN);
    assert_eq!(tool_names(&server, 4), with_prefix("late"));
    assert_eq!(results(&server, 5), [("echo: late".to_string(), false)]);
    assert_eq!(p.read("src/app.txt"), "greeting = hi there\n");
}

#[test]
fn a_tool_list_change_is_offered_in_the_next_request() {
    let dir = tempfile::tempdir().unwrap();
    let p = project(&table("t", "", &dir.path().join("env.json")));
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__t__unlock", json!({})),
        call("toolu_2", "mcp__t__secret", json!({})),
        replace("toolu_3", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tool_names(&server, 1), with_prefix("t"));
    let mut unlocked = with_prefix("t");
    unlocked.push("mcp__t__secret".into());
    assert_eq!(tool_names(&server, 2), unlocked);
    assert_eq!(results(&server, 3), [("the secret tool ran".to_string(), false)]);
}

#[test]
fn plugins_list_import_and_docs() {
    let p = Project::git();
    p.write(
        ".mcp.json",
        r#"{"mcpServers": {
            "t": {"command": "python3", "args": ["SCRIPT"], "env": {"PLUGIN_VAR": "${PLUGIN_VAR}", "LITERAL": "x"}},
            "remote": {"type": "http", "url": "https://example.invalid/mcp"}
        }}"#
        .replace("SCRIPT", server_script().to_str().unwrap())
        .as_str(),
    );
    let out = p.mmm().args(["plugins", "import", "--output", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config = p.root.join(".mmm/config.toml");
    assert_eq!(
        json_lines(&out),
        [json!({"type": "plugins_import", "from": p.root.join(".mcp.json"), "to": config, "added": ["t"],
                "notes": ["`remote`: skipped, a http server (mmm runs stdio servers only)",
                          "`t`: `LITERAL` is given a value in .mcp.json; mmm passes variables by name only: set \
                           `LITERAL` in your environment and add it to `env`"]})]
    );
    assert_eq!(
        p.read(".mmm/config.toml"),
        format!(
            "[mcp.t]\nargs = [{:?}]\ncommand = \"python3\"\nenv = [\"PLUGIN_VAR\"]\n",
            server_script().to_str().unwrap()
        )
    );
    // A second import adds nothing.
    let again = p.mmm().args(["plugins", "import", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&again)[0]["added"], json!([]));

    let list = p.mmm().args(["plugins", "list", "--output", "json"]).output().unwrap();
    assert_eq!(
        json_lines(&list),
        [json!({"type": "plugins", "servers": [{"name": "t", "command": "python3",
                 "args": [server_script()], "env": ["PLUGIN_VAR"], "phases": ["edit"], "timeout_secs": 30,
                 "allow_tools": null, "deny_tools": [], "file": config}], "installed": []})]
    );

    let docs = p.mmm().args(["plugins", "docs", "-o", "out", "--output", "json"]).output().unwrap();
    assert_eq!(docs.status.code(), Some(0), "{}", stderr(&docs));
    assert_eq!(
        json_lines(&docs),
        [json!({"type": "plugins_docs", "dir": p.root.join("out"),
                "files": [p.root.join("out/builtin.md"), p.root.join("out/t.md")], "failed": []})]
    );
    let page = p.read("out/t.md");
    assert!(
        page.contains(
            "### `mcp__t__echo`\n\nReturns the text it was given.\n\n| input | type | required | description |\n\
             | --- | --- | --- | --- |\n| `text` | string | yes |  |\n"
        ),
        "{page}"
    );
    assert!(page.contains("- environment: `PATH`, `HOME`, `PLUGIN_VAR` (nothing else; never mmm's credentials)\n"));
    assert!(p.read("out/builtin.md").contains("### `str_replace_based_edit_tool`"));
}

#[test]
fn a_table_passing_the_key_through_is_refused() {
    let p = Project::git();
    p.write(".mmm/config.toml", "[mcp.t]\ncommand = \"x\"\nenv = [\"ANTHROPIC_API_KEY\"]\n");
    let out = p.mmm().args(["plugins", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`[mcp.t]` passes `ANTHROPIC_API_KEY` through: mmm's credentials never reach a plugin"),
        "{}",
        stderr(&out)
    );
}

/// A marketplace in a local git repository: `echo` (the test server) at version `version`,
/// passing `env` through.
fn write_marketplace(dir: &Path, version: &str, env: &[&str]) {
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        ".claude-plugin/marketplace.json",
        r#"{"name": "test-market", "owner": {"name": "mmm tests"},
            "plugins": [{"name": "echo", "source": "./plugins/echo", "description": "Echoes text"}]}"#,
    );
    let env: serde_json::Map<String, Value> = env.iter().map(|v| (v.to_string(), json!(format!("${{{v}}}")))).collect();
    let manifest = json!({"name": "echo", "version": version, "mcpServers": {"echo": {
        "command": "python3", "args": ["${CLAUDE_PLUGIN_ROOT}/server.py"], "env": env}}});
    write("plugins/echo/.claude-plugin/plugin.json", &manifest.to_string());
    write("plugins/echo/server.py", &std::fs::read_to_string(server_script()).unwrap());
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_marketplace_plugin_is_added_pinned_used_updated_disabled_and_removed() {
    let market = tempfile::tempdir().unwrap();
    let m = market.path();
    git_in(m, &["init", "-q", "-b", "main"]);
    write_marketplace(m, "1.0.0", &[]);
    git_in(m, &["add", "-A"]);
    git_in(m, &["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "v1"]);
    let first = git_in(m, &["rev-parse", "HEAD"]);
    let spec = format!("{}#echo", m.display());
    let p = project_with_check(CHECK);
    let index = p.root.join(".mmm/plugins/index.json");

    // Without --yes and without a terminal, the permissions are shown and nothing is installed.
    let refused = p.mmm().args(["plugins", "add", &spec]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let text = stderr(&refused);
    assert!(
        text.contains(&format!(
            "The plugin `echo` ({} at {first}) asks to:\n  - server `echo`: runs `python3 \
             ${{CLAUDE_PLUGIN_ROOT}}/server.py` in the work tree (stdio)\n  - server `echo`: reads PATH, HOME from \
             your environment\n",
            m.display()
        )),
        "{text}"
    );
    assert!(!index.exists());

    let added = p.mmm().args(["plugins", "add", &spec, "--yes", "--output", "json"]).output().unwrap();
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    let plugin = json!({"name": "echo", "source": m, "commit": first, "version": "1.0.0",
        "description": "Echoes text", "enabled": true, "path": "plugins/echo",
        "servers": [{"name": "echo", "command": "python3", "args": ["${CLAUDE_PLUGIN_ROOT}/server.py"], "env": []}]});
    assert_eq!(json_lines(&added)[0]["plugin"], plugin);
    assert_eq!(git_in(&p.root.join(".mmm/plugins/echo"), &["rev-parse", "HEAD"]), first);
    let list = json_lines(&p.mmm().args(["plugins", "list", "--output", "json"]).output().unwrap());
    assert_eq!(list[0]["installed"], json!([plugin]));
    assert_eq!(list[0]["servers"][0]["name"], "echo");

    // The model is offered the plugin's tools while editing, and they run.
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__echo__echo", json!({"text": "from the marketplace"})),
        replace("toolu_2", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&server, 2), [("echo: from the marketplace".to_string(), false)]);

    // Upstream moves on and asks for a variable more: `update` shows it before applying.
    write_marketplace(m, "1.1.0", &["ECHO_TOKEN"]);
    git_in(m, &["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qam", "v1.1"]);
    let second = git_in(m, &["rev-parse", "HEAD"]);
    let asked = p.mmm().args(["plugins", "update", "echo"]).output().unwrap();
    assert_eq!(asked.status.code(), Some(2));
    assert!(
        stderr(&asked).contains(&format!(
            "Updating the plugin `echo` changes:\n  - commit {first} → {second}, version 1.0.0 → 1.1.0\n  - new \
             permission: server `echo`: reads PATH, HOME, ECHO_TOKEN from your environment\n  - permission dropped: \
             server `echo`: reads PATH, HOME from your environment\n"
        )),
        "{}",
        stderr(&asked)
    );
    assert_eq!(git_in(&p.root.join(".mmm/plugins/echo"), &["rev-parse", "HEAD"]), first, "still pinned");
    let updated = p.mmm().args(["plugins", "update", "echo", "--yes", "--output", "json"]).output().unwrap();
    assert_eq!(
        json_lines(&updated),
        [json!({"type": "plugins_change", "action": "updated", "name": "echo", "commit": second,
                "update": {"from_commit": first, "from_version": "1.0.0", "version": "1.1.0",
                           "added": ["server `echo`: reads PATH, HOME, ECHO_TOKEN from your environment"],
                           "removed": ["server `echo`: reads PATH, HOME from your environment"]}})]
    );
    assert_eq!(git_in(&p.root.join(".mmm/plugins/echo"), &["rev-parse", "HEAD"]), second);
    let again = p.mmm().args(["plugins", "update", "echo", "--output", "json"]).output().unwrap();
    assert_eq!(json_lines(&again)[0]["action"], "up_to_date");

    // Disabled, its servers are not offered; enabled, they are again.
    let servers = |p: &Project| {
        json_lines(&p.mmm().args(["plugins", "list", "--output", "json"]).output().unwrap())[0]["servers"].clone()
    };
    p.mmm().args(["plugins", "disable", "echo"]).assert().success();
    assert_eq!(servers(&p), json!([]));
    p.mmm().args(["plugins", "enable", "echo"]).assert().success();
    assert_eq!(servers(&p)[0]["name"], "echo");

    let removed = p.mmm().args(["plugins", "remove", "echo", "--output", "json"]).output().unwrap();
    assert_eq!(
        json_lines(&removed),
        [json!({"type": "plugins_change", "action": "removed", "name": "echo", "commit": second})]
    );
    assert!(!p.root.join(".mmm/plugins/echo").exists());
    assert_eq!(servers(&p), json!([]));
    let gone = p.mmm().args(["plugins", "remove", "echo"]).output().unwrap();
    assert_eq!(gone.status.code(), Some(2));
}

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/plugins").join(path).to_str().unwrap().to_string()
}

#[test]
fn the_github_example_gives_issues_and_pull_requests_from_a_loopback_api() {
    let github = FakeApi::respond(|r| match r.path() {
        "/repos/o/r/issues/7" => Reply::json(
            200,
            &json!({"title": "The greeting is curt", "state": "open", "labels": [{"name": "ux"}],
                    "body": "Say more than hello."}),
        ),
        "/repos/o/r/pulls/3" => Reply::json(
            200,
            &json!({"title": "Friendlier", "state": "open", "head": {"ref": "friendly"}, "base": {"ref": "main"},
                    "body": "Makes it nicer."}),
        ),
        "/repos/o/r/pulls/3/files" => {
            Reply::json(200, &json!([{"filename": "src/app.txt", "additions": 1, "deletions": 1}]))
        }
        _ => Reply::json(404, &json!({"message": "Not Found"})),
    });
    let p = project(&format!(
        "[mcp.github]\ncommand = {:?}\nargs = [{:?}]\nenv = [\"GITHUB_API_URL\", \"GITHUB_REPOSITORY\", \
         \"GITHUB_TOKEN\"]\nallow_tools = [\"get_issue\", \"get_pull_request\"]\n",
        python(),
        example("github/server.py")
    ));
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__github__get_issue", json!({"number": 7})),
        call("toolu_2", "mcp__github__get_pull_request", json!({"number": 3})),
        call("toolu_3", "mcp__github__get_issue", json!({"number": 99})),
        replace("toolu_4", "hello", "hello, and welcome"),
        done("Answer issue 7"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve")
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_TOKEN", "ghs_testtoken")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names = tool_names(&server, 1);
    assert_eq!(names[3..], ["mcp__github__get_issue", "mcp__github__get_pull_request"], "allow_tools filters");
    assert_eq!(
        results(&server, 2),
        [("#7 The greeting is curt (open; labels: ux)\n\nSay more than hello.".to_string(), false)]
    );
    assert_eq!(
        results(&server, 3),
        [(
            "PR #3 Friendlier (open; friendly -> main)\n\nMakes it nicer.\n\nFiles:\n- src/app.txt (+1 -1)".to_string(),
            false
        )]
    );
    let (text, is_error) = &results(&server, 4)[0];
    assert!(*is_error && text.contains("GitHub answered 404 for /repos/o/r/issues/99"), "{text}");
    let seen = github.requests();
    assert!(seen.iter().all(|r| r.method == "GET"), "read-only");
    assert_eq!(seen[0].header("authorization"), Some("Bearer ghs_testtoken"));
}

#[test]
fn the_run_test_example_runs_one_test_by_name_and_refuses_options() {
    let p = project(&format!(
        "[mcp.run-test]\ncommand = {:?}\nargs = [{:?}, \"--\", \"sh\", \"tests/run_one.sh\"]\n",
        python(),
        example("run-test/server.py")
    ));
    p.write("tests/run_one.sh", "echo \"running $1\"\n[ \"$1\" = good ]\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-qm", "a test runner"]);
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "mcp__run-test__run_test", json!({"name": "good"})),
        call("toolu_2", "mcp__run-test__run_test", json!({"name": "bad; rm -rf /"})),
        call("toolu_3", "mcp__run-test__run_test", json!({"name": "--help"})),
        replace("toolu_4", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(results(&server, 2), [("`good` passed (exit 0)\nrunning good".to_string(), false)]);
    assert_eq!(results(&server, 3), [("`bad; rm -rf /` FAILED (exit 1)\nrunning bad; rm -rf /".to_string(), false)]);
    let (text, is_error) = &results(&server, 4)[0];
    assert!(*is_error && text.contains("give a test's name (not an option)"), "{text}");
}
