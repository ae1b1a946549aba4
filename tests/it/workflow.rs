//! `mmm workflow check` and `mmm workflow run` end to end: the real binary in temporary
//! repositories, the model a fake Anthropic server on loopback. Shell steps, conditions,
//! retries and `continue_on_error`; values reaching shell steps only as environment
//! variables (a hostile 200 KB value included); an improve step committing through the
//! session engine; a `claude` step whose first answer fails its schema.

use serde_json::{Value, json};

use crate::common::fake_api::{FakeApi, Msg, Reply, TEST_KEY};
use crate::common::script::{CHECK, done, issue, last_message_text, project_with_check, replace, review, session};
use crate::common::{Project, json_lines, stderr, stdout};

/// `mmm workflow <args>` in the project, with the fake server's URL and the test key.
fn workflow(p: &Project, server: Option<&FakeApi>, args: &[&str]) -> std::process::Output {
    let mut cmd = p.mmm();
    if let Some(server) = server {
        cmd.env("ANTHROPIC_API_KEY", TEST_KEY).env("ANTHROPIC_BASE_URL", server.url());
    }
    cmd.arg("workflow").args(args).output().unwrap()
}

/// The JSON lines with the times and the run's id (which vary from run to run) taken out.
fn without_times(lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .map(|mut line| {
            let object = line.as_object_mut().unwrap();
            if object.remove("run").is_some_and(|v| !v.is_string()) {
                panic!("run is not a string");
            }
            for key in ["duration_ms", "elapsed_ms"] {
                if object.remove(key).is_some_and(|v| !v.is_u64()) {
                    panic!("{key} is not a whole number");
                }
            }
            line
        })
        .collect()
}

fn step_finished(step: &str, kind: &str, outcome: &str, condition: &str, attempts: u64) -> Value {
    let mut line = json!({"type": "step_finished", "workflow": "basics", "step": step, "kind": kind,
                          "outcome": outcome, "condition": condition, "attempts": attempts, "cost_usd": 0.0});
    if outcome == "success" {
        line["exit_code"] = json!(0);
    }
    line
}

fn started(step: &str, attempt: u64) -> Value {
    json!({"type": "step_started", "workflow": "basics", "step": step, "kind": "shell", "attempt": attempt})
}

const BASICS: &str = r#"name: basics
description: Shell steps, a condition, continue_on_error and a retry.
inputs:
  who: {type: string, default: world}
steps:
  - id: greet
    shell: echo "hello $MMM_INPUT_WHO"
  - id: lint
    shell: echo lint failed >&2; exit 3
    continue_on_error: true
  - id: after-lint
    when: steps.lint.outcome == "failure"
    shell: printf '%s|%s|%s' "$MMM_STEP_LINT_OUTCOME" "$MMM_STEP_LINT_EXIT_CODE" "$MMM_STEP_GREET_OUTPUT" > seen.txt
  - id: flaky
    shell: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 3 ]
    retry: {attempts: 3, backoff_secs: 0.05}
  - id: never
    when: run.failed
    shell: touch never-ran
"#;

#[test]
fn shell_steps_run_in_order_with_conditions_retries_and_continue_on_error() {
    let p = Project::git();
    p.write(".mmm/workflows/basics.yml", BASICS);
    let out = workflow(&p, None, &["run", "basics", "--input", "who=mmm", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("seen.txt"), "failure|3|hello mmm");
    assert_eq!(p.read("count"), "3\n");
    assert!(!p.root.join("never-ran").exists());
    let default = "not run.failed";
    let mut lint = step_finished("lint", "shell", "failure", default, 1);
    lint["exit_code"] = json!(3);
    lint["error"] = json!("exited with 3");
    lint["continued"] = json!(true);
    let retry = |attempt: u64, wait_ms: u64| {
        json!({"type": "step_retry", "workflow": "basics", "step": "flaky", "attempt": attempt, "attempts": 3,
               "wait_ms": wait_ms, "error": "exited with 1"})
    };
    assert_eq!(
        without_times(json_lines(&out)),
        [
            json!({"type": "workflow_started", "workflow": "basics", "path": ".mmm/workflows/basics.yml",
                   "steps": ["greet", "lint", "after-lint", "flaky", "never"]}),
            started("greet", 1),
            step_finished("greet", "shell", "success", default, 1),
            started("lint", 1),
            lint,
            started("after-lint", 1),
            step_finished("after-lint", "shell", "success", "steps.lint.outcome == \"failure\"", 1),
            started("flaky", 1),
            retry(1, 50),
            started("flaky", 2),
            retry(2, 100),
            started("flaky", 3),
            step_finished("flaky", "shell", "success", default, 3),
            step_finished("never", "shell", "skipped", "run.failed", 0),
            json!({"type": "workflow_finished", "workflow": "basics", "outcome": "success", "failed_step": null,
                   "succeeded": 3, "failed": 1, "skipped": 1, "cost_usd": 0.0}),
        ]
    );
}

#[test]
fn a_failing_step_fails_the_run_skips_the_default_steps_and_runs_the_failure_handler() {
    let p = Project::git();
    p.write(
        "flow.yml",
        "name: failing\nsteps:\n  - id: build\n    shell: exit 7\n  - id: test\n    shell: touch tested\n  - id: report\n    when: run.failed\n    shell: echo \"failed at $MMM_FAILED_STEP ($MMM_RUN_FAILED)\" > report.txt\n",
    );
    let out = workflow(&p, None, &["run", "flow.yml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(p.read("report.txt"), "failed at build (true)\n");
    assert!(!p.root.join("tested").exists());
    // One line per step, then the run's; the durations vary.
    let human = regex::Regex::new(r"\d+\.\ds").unwrap().replace_all(&stdout(&out), "T").into_owned();
    assert_eq!(
        human,
        "Workflow failing (3 step(s))\n\
         ✗ build  shell  T  exit 7  exited with 7\n\
         - test  skipped: `not run.failed` is false\n\
         ✓ report  shell  T\n\
         Workflow failing failed at step build: 1 succeeded, 1 failed, 1 skipped · $0.00 · T\n"
    );
    assert_eq!(
        stderr(&out),
        "error: workflow `failing` failed at step `build`: exited with 7\n\
         hint: the step lines above say what failed; fix the cause, then continue from that step with `mmm \
         workflow run flow.yml --resume`\n"
    );
}

#[test]
fn values_reach_a_shell_step_only_as_inert_environment_variables() {
    let p = Project::git();
    let hostile = "'\"; touch pwned-1; echo \"$(touch pwned-2)` touch pwned-3 `$(rm -rf /)\\\" ${HOME} %s\n";
    let big: String = hostile.repeat(200_000 / hostile.len() + 1);
    let block: String = big.lines().map(|l| format!("      {l}\n")).collect();
    p.write(
        "evil.yml",
        &format!(
            "name: evil\ninputs:\n  small: {{type: string}}\n  big:\n    type: string\n    default: |\n{block}steps:\n  - shell: printf '%s' \"$MMM_INPUT_SMALL\" > small.txt; printf '%s' \"$MMM_INPUT_BIG\" > cut.txt; cat \"$MMM_INPUT_BIG_FILE\" > whole.txt\n"
        ),
    );
    let small = hostile.trim_end();
    let out = workflow(&p, None, &["run", "evil.yml", "--input", &format!("small={small}")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("small.txt"), small);
    assert!(big.len() > 200_000);
    assert_eq!(p.read("whole.txt"), big);
    assert_eq!(p.read("cut.txt"), big[..64 * 1024]);
    for marker in ["pwned-1", "pwned-2", "pwned-3"] {
        assert!(!p.root.join(marker).exists(), "{marker}: a value ran as a command");
    }
}

#[test]
fn check_names_file_line_and_column_of_a_mistyped_key() {
    let p = Project::git();
    p.write(
        ".mmm/workflows/typo.yml",
        "name: typo\nsteps:\n  - id: lint\n    shell: make lint\n    continue_on_eror: true\n",
    );
    let out = workflow(&p, None, &["check", "typo"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: .mmm/workflows/typo.yml:5:5: unknown field `continue_on_eror`, expected one of id, name, when, \
         retry, timeout, continue_on_error, env, shell, improve, spec, claude, workflow\n\
         hint: fix the file, then `mmm workflow check` it; docs/workflows.md has the schema\n"
    );
    // Running it is refused the same way, before anything runs.
    let out = workflow(&p, None, &["run", "typo", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out)[0]["type"], "error");
}

#[test]
fn check_lists_every_undefined_name_and_bad_expression() {
    let p = Project::git();
    p.write(
        "w.yml",
        "name: names\ninputs:\n  focus: {type: string, default: x}\nsteps:\n  - id: a\n    shell: 'true'\n  - when: steps.a.outcome == 'failure' and inputs.fokus\n    claude:\n      prompt: \"About {{ steps.b.summary }}\"\n      schema: {type: object}\n  - id: b\n    when: steps.a.outcome ==\n    shell: 'true'\n",
    );
    let out = workflow(&p, None, &["check", "w.yml", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out);
    assert_eq!(
        lines[0]["message"],
        "3 problems in the workflow:\n  \
         w.yml:7:11: the condition reads `inputs.fokus`, which is not a declared input\n  \
         w.yml:9:15: the template reads `steps.b`: a step that runs later\n  \
         w.yml:12:27: bad condition: syntax error: unexpected end of input, expected expression"
    );
}

#[test]
fn check_refuses_a_cycle_between_workflows_and_accepts_a_good_file() {
    let p = Project::git();
    p.write(".mmm/workflows/a.yml", "name: a\nsteps:\n  - workflow: {path: b}\n");
    p.write(".mmm/workflows/b.yml", "name: b\nsteps:\n  - shell: 'true'\n  - workflow: {path: a}\n");
    let out = workflow(&p, None, &["check", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: .mmm/workflows/b.yml:4:22: workflow cycle: .mmm/workflows/a.yml → .mmm/workflows/b.yml → \
         .mmm/workflows/a.yml\nhint: fix the file, then `mmm workflow check` it; docs/workflows.md has the schema\n"
    );
    p.write(".mmm/workflows/b.yml", "name: b\ninputs:\n  n: {type: number, default: 1}\nsteps:\n  - shell: 'true'\n");
    let out = workflow(&p, None, &["check", "a", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        [
            json!({"type": "workflow_check", "workflow": "a", "path": ".mmm/workflows/a.yml", "steps": ["#1"], "inputs": []})
        ]
    );
}

#[test]
fn an_improve_step_commits_through_the_session_engine_on_the_workflows_branch() {
    let p = project_with_check(CHECK);
    p.write(
        ".mmm/workflows/fix.yml",
        "name: fix\ninputs:\n  tone: {type: string, default: friendlier}\nsteps:\n  - id: improve\n    improve: {focus: \"make the greeting {{ inputs.tone }}\", max_iterations: 1}\n  - id: after\n    shell: (git log -1 --format=%s; echo \"$MMM_STEP_IMPROVE_COMMITS\") > after.txt\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let start = p.run_git(&["rev-parse", "HEAD"]);
    let server = FakeApi::with([review(6.0, issue()), replace("toolu_1", "hello", "hi"), done("Shorten the greeting")]);
    let out = workflow(&p, Some(&server), &["run", "fix", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    let branch = p.run_git(&["branch", "--show-current"]);
    assert!(branch.starts_with("mmm/workflow-fix-"), "{branch}");
    assert_eq!(p.run_git(&["rev-parse", "main"]), start, "the user's branch never moves");
    let head = p.run_git(&["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(p.run_git(&["rev-parse", "HEAD~1"]), start);
    let s = session(&p);
    assert_eq!((s["kind"].as_str(), s["branch"].as_str()), (Some("improve"), Some(branch.trim())));
    assert!(last_message_text(&server, 0).contains("make the greeting friendlier"));

    let lines = json_lines(&out);
    let mut improve = lines.iter().find(|l| l["type"] == "step_finished").unwrap().clone();
    let cost = improve.as_object_mut().unwrap().remove("cost_usd").unwrap();
    assert!(cost.as_f64().unwrap() > 0.0, "{cost}");
    improve.as_object_mut().unwrap().remove("duration_ms");
    assert_eq!(
        improve,
        json!({"type": "step_finished", "workflow": "fix", "step": "improve", "kind": "improve", "outcome": "success",
               "condition": "not run.failed", "attempts": 1, "commits": [head], "summary": "Shorten the greeting"})
    );
    let session_id = s["id"].as_str().unwrap();
    assert!(lines.iter().any(|l| l["type"] == "summary" && l["session"] == session_id));
    assert_eq!(lines[0]["branch"], branch.trim());
    // The shell step after it saw the session's commit, through git and its environment.
    let after = lines.iter().find(|l| l["type"] == "step_finished" && l["step"] == "after").unwrap();
    assert_eq!((after["outcome"].as_str(), after["exit_code"].as_i64()), (Some("success"), Some(0)));
    assert_eq!(p.read("after.txt"), format!("mmm: Shorten the greeting\n{head}\n"));
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? after.txt\n");
}

#[test]
fn a_claude_answer_that_fails_its_schema_fails_the_try_and_the_retry_passes() {
    let p = Project::git();
    p.write(
        "notes.yml",
        "name: notes\ninputs:\n  topic: {type: string, default: the parser}\nsteps:\n  - id: notes\n    claude:\n      prompt: \"Write a changelog entry about {{ inputs.topic }}\"\n      schema: {type: object, properties: {entry: {type: string}}, required: [entry], additionalProperties: false}\n    retry: {attempts: 2, backoff_secs: 0}\n  - id: show\n    shell: printf '%s' \"$MMM_STEP_NOTES_JSON\" > entry.json\n",
    );
    let server = FakeApi::with([
        Reply::stream(&Msg::new().text("{\"note\": \"Parser errors name the line\"}")),
        Reply::stream(&Msg::new().text("```json\n{\"entry\": \"Parser errors name the line\"}\n```")),
    ]);
    let out = workflow(&p, Some(&server), &["run", "notes.yml", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("entry.json"), "{\"entry\":\"Parser errors name the line\"}");
    let lines = without_times(json_lines(&out));
    let retry = lines.iter().find(|l| l["type"] == "step_retry").unwrap();
    assert_eq!(
        retry,
        &json!({"type": "step_retry", "workflow": "notes", "step": "notes", "attempt": 1, "attempts": 2, "wait_ms": 0,
                "error": "the answer does not match the schema: jsonschema validation failed with urn:mmm:workflow-step-schema#\n- at '': missing properties 'entry'\n- at '': additionalProperties 'note' not allowed"})
    );
    let finished = lines.iter().find(|l| l["type"] == "step_finished" && l["step"] == "notes").unwrap();
    assert_eq!(finished["outcome"], "success");
    assert_eq!(finished["attempts"], 2);
    assert_eq!(finished["summary"], "{\"entry\":\"Parser errors name the line\"}");
    // One request per try, without tools, the prompt rendered, the schema in the system prompt.
    assert_eq!(server.requests().len(), 2);
    let body = server.request(0).json();
    assert_eq!(body.get("tools"), None);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Write a changelog entry about the parser"}]}])
    );
    assert!(body["system"][0]["text"].as_str().unwrap().contains("\"required\": [\n    \"entry\"\n  ]"));
}

#[test]
fn a_nested_workflow_gets_its_inputs_and_a_timeout_kills_a_step() {
    let p = Project::git();
    p.write(
        ".mmm/workflows/outer.yml",
        "name: outer\nsteps:\n  - id: name\n    shell: printf 'from outer'\n  - id: inner\n    workflow: {path: inner, inputs: {what: \"{{ steps.name.output }}!\", times: \"2\"}}\n  - id: slow\n    shell: sleep 5; touch slept\n    timeout: 1s\n    continue_on_error: true\n",
    );
    p.write(
        ".mmm/workflows/inner.yml",
        "name: inner\ninputs:\n  what: {type: string}\n  times: {type: number}\nsteps:\n  - shell: printf '%s x%s' \"$MMM_INPUT_WHAT\" \"$MMM_INPUT_TIMES\" > inner.txt\n",
    );
    let out = workflow(&p, None, &["run", "outer", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("inner.txt"), "from outer! x2");
    let lines = without_times(json_lines(&out));
    let kinds: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "workflow_started" || l["type"] == "workflow_finished")
        .map(|l| (l["type"].as_str().unwrap().to_string(), l["workflow"].as_str().unwrap().to_string()))
        .collect();
    let pair = |t: &str, w: &str| (t.to_string(), w.to_string());
    assert_eq!(
        kinds,
        [
            pair("workflow_started", "outer"),
            pair("workflow_started", "inner"),
            pair("workflow_finished", "inner"),
            pair("workflow_finished", "outer")
        ]
    );
    let slow = lines.iter().find(|l| l["step"] == "slow" && l["type"] == "step_finished").unwrap();
    assert_eq!(
        slow,
        &json!({"type": "step_finished", "workflow": "outer", "step": "slow", "kind": "shell", "outcome": "failure",
                "condition": "not run.failed", "attempts": 1, "cost_usd": 0.0, "error": "timed out after 1s",
                "continued": true})
    );
    std::thread::sleep(std::time::Duration::from_millis(4500));
    assert!(!p.root.join("slept").exists(), "the timed-out step outlived its timeout");
}

#[test]
fn a_spec_step_implements_a_spec_on_the_workflows_branch() {
    let p = project_with_check(CHECK);
    p.write(
        "specs/001-greet.md",
        "---\nid: 001-greet\n---\n# Greet the world\n\n## Acceptance Criteria\n\n- [ ] Says hello world\n",
    );
    p.write(
        ".mmm/workflows/specs.yml",
        "name: specs\nsteps:\n  - id: specs\n    spec: specs/\n  - shell: printf '%s' \"$MMM_STEP_SPECS_SUMMARY\" > summary.txt\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "spec"]);
    let server = FakeApi::with([
        replace("toolu_1", "hello", "hello world"),
        done("Greet the world\n\nThe greeting names the world."),
        crate::common::script::verdict(&[true]),
    ]);
    let out = workflow(&p, Some(&server), &["run", "specs"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(p.read("src/app.txt"), "greeting = hello world\n");
    assert_eq!(p.read("specs/001-greet.md").lines().last(), Some("- [x] Says hello world"));
    assert!(p.run_git(&["branch", "--show-current"]).starts_with("mmm/workflow-specs-"));
    assert_eq!(p.run_git(&["log", "-1", "--format=%s"]), "mmm: implement 001-greet — Greet the world\n");
    assert_eq!(p.read("summary.txt"), "Greet the world");
    assert_eq!(session(&p)["kind"], "spec");
}

#[test]
fn one_budget_covers_the_whole_run() {
    let p = Project::git();
    p.write(
        "flow.yml",
        "name: budget\nsteps:\n  - id: first\n    claude: {prompt: one, schema: {type: object}}\n  - id: second\n    claude: {prompt: two, schema: {type: object}}\n",
    );
    // The first answer costs more than the whole budget; the second step sends nothing.
    let server = FakeApi::with([Reply::stream(&Msg::new().text("{}"))]);
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["workflow", "run", "flow.yml", "--budget-usd", "0.00001", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(server.requests().len(), 1);
    let lines = without_times(json_lines(&out));
    let second = lines.iter().find(|l| l["type"] == "step_finished" && l["step"] == "second").unwrap();
    assert_eq!(
        (second["outcome"].as_str(), second["error"].as_str()),
        (Some("failure"), Some("the run's budget of $0.00001 is spent"))
    );
    let first = lines.iter().find(|l| l["type"] == "step_finished" && l["step"] == "first").unwrap();
    let finished = lines.iter().find(|l| l["type"] == "workflow_finished").unwrap();
    assert!(first["cost_usd"].as_f64().unwrap() > 0.00001, "{first}");
    assert_eq!(finished["cost_usd"], first["cost_usd"]);
}

#[test]
fn ctrl_c_stops_the_running_step_and_the_run() {
    let p = Project::git();
    p.write(
        "flow.yml",
        "name: long\nsteps:\n  - id: wait\n    shell: touch started; sleep 30; touch finished\n  - id: next\n    shell: touch next\n",
    );
    let started = std::time::Instant::now();
    let child = crate::common::mmm_std(&p.root, &p.home)
        .args(["workflow", "run", "flow.yml", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !p.root.join("started").exists() {
        assert!(started.elapsed().as_secs() < 30, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(started.elapsed().as_secs() < 20);
    let lines = without_times(json_lines(&out));
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["workflow_started", "step_started", "step_finished", "workflow_finished", "error"]);
    assert_eq!((lines[2]["step"].as_str(), lines[2]["error"].as_str()), (Some("wait"), Some("interrupted")));
    assert_eq!(lines[3]["outcome"], "interrupted");
    assert_eq!(lines[4]["exit_code"], 130);
    assert!(!p.root.join("next").exists() && !p.root.join("finished").exists());
}

#[test]
fn list_shows_each_workflow_and_its_problems() {
    let p = Project::git();
    let out = workflow(&p, None, &["list"]);
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "No workflows in .mmm/workflows/ yet: see docs/workflows.md for the format.\n")
    );
    p.write(".mmm/workflows/basics.yml", BASICS);
    p.write(".mmm/workflows/typo.yml", "name: typo\nsteps:\n  - shell: 'true'\n    when: inputs.nope\n");
    let out = workflow(&p, None, &["list", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        [
            json!({"type": "workflow", "name": "basics", "path": ".mmm/workflows/basics.yml", "workflow": "basics",
                   "description": "Shell steps, a condition, continue_on_error and a retry.", "steps": 5, "problems": []}),
            json!({"type": "workflow", "name": "typo", "path": ".mmm/workflows/typo.yml", "workflow": "typo",
                   "description": null, "steps": 1,
                   "problems": [".mmm/workflows/typo.yml:4:11: the condition reads `inputs.nope`, which is not a declared input"]}),
        ]
    );
    let out = workflow(&p, None, &["list"]);
    assert_eq!(
        stdout(&out),
        "NAME    STEPS  DESCRIPTION\n\
         basics      5  Shell steps, a condition, continue_on_error and a retry.\n\
         typo        1  1 problem(s), first: .mmm/workflows/typo.yml:4:11: the condition reads `inputs.nope`, which is not a declared input\n"
    );
}

#[test]
fn a_dry_run_explains_each_step_and_runs_and_sends_nothing() {
    let p = Project::git();
    p.write(
        ".mmm/workflows/tidy.yml",
        "name: tidy\ninputs:\n  focus: {type: string, default: errors}\nsteps:\n  - id: lint\n    shell: touch linted\n    continue_on_error: true\n  - id: fix\n    when: steps.lint.outcome == \"failure\"\n    improve: {focus: \"make lint clean, then {{ inputs.focus }}\"}\n  - id: notes\n    claude: {prompt: \"Notes on {{ inputs.focus }} after {{ steps.fix.outcome }}\", schema: {type: object}}\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let server = FakeApi::start();
    let out =
        workflow(&p, Some(&server), &["run", "tidy", "--dry-run", "--assume", "lint=failure", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!((server.requests().len(), server.model_checks().len()), (0, 0), "a dry run sends nothing");
    assert!(!p.root.join("linted").exists());
    assert_eq!(p.run_git(&["branch", "--show-current"]), "main\n");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "");
    assert_eq!(
        json_lines(&out),
        [
            json!({"type": "explain_step", "workflow": "tidy", "step": "lint", "kind": "shell",
                   "condition": "not run.failed", "reads": {"run.failed": false}, "runs": true, "assumed": "failure",
                   "command": "touch linted", "env": {"MMM_INPUT_FOCUS": "errors", "MMM_RUN_FAILED": "false"}}),
            json!({"type": "explain_step", "workflow": "tidy", "step": "fix", "kind": "improve",
                   "condition": "steps.lint.outcome == \"failure\"", "reads": {"steps.lint.outcome": "failure"},
                   "runs": true, "assumed": "success", "rendered": {"focus": "make lint clean, then errors"}}),
            json!({"type": "explain_step", "workflow": "tidy", "step": "notes", "kind": "claude",
                   "condition": "not run.failed", "reads": {"run.failed": false}, "runs": true, "assumed": "success",
                   "rendered": {"prompt": "Notes on errors after success"}}),
        ]
    );
    let out = workflow(&p, None, &["run", "tidy", "--dry-run", "--assume", "nope=failure"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: `--assume nope=failure`: the workflow has no step `nope`\nhint: its steps: lint, fix, notes\n"
    );
}

#[test]
fn new_writes_a_template_to_edit_that_checks() {
    let p = Project::git();
    let out = workflow(&p, None, &["list", "--templates", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<String> = json_lines(&out).iter().map(|l| l["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        names,
        [
            "add-docs",
            "blank",
            "changelog-entry",
            "error-handling",
            "fix-build",
            "lint-clean",
            "pending-specs",
            "perf-pass",
            "security-review",
            "stricter-types",
            "test-coverage",
            "tidy"
        ]
    );
    let out = workflow(&p, None, &["new", "lint", "--from", "lint-clean", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        [json!({"type": "workflow_created", "path": ".mmm/workflows/lint.yml", "template": "lint-clean"})]
    );
    assert!(p.read(".mmm/workflows/lint.yml").starts_with("name: lint\ndescription: Run the linter you name"));
    let out = workflow(&p, None, &["check", "lint"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "✓ .mmm/workflows/lint.yml: workflow `lint`, 3 step(s); inputs: lint\n");
    // The workflow runs: its linter passes here, so the fix is skipped.
    let out = workflow(&p, None, &["run", "lint", "--input", "lint=true", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let outcomes: Vec<(String, String)> = json_lines(&out)
        .iter()
        .filter(|l| l["type"] == "step_finished")
        .map(|l| (l["step"].as_str().unwrap().to_string(), l["outcome"].as_str().unwrap().to_string()))
        .collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(outcomes, [pair("lint", "success"), pair("fix", "skipped"), pair("recheck", "skipped")]);

    let out = workflow(&p, None, &["new", "lint"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), "error: .mmm/workflows/lint.yml exists already\nhint: edit it, or choose another name\n");
    let out = workflow(&p, None, &["new", "x", "--from", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: no template `nope`\nhint: the templates: add-docs, blank,"),
        "{}",
        stderr(&out)
    );
}

const RESUMABLE: &str = r#"name: resumable
inputs:
  word: {type: string, default: original}
steps:
  - id: first
    shell: echo ran >> first.log; echo "first said $MMM_INPUT_WORD"
  - id: wait
    shell: if [ -f go ]; then echo went; else touch started; sleep 30; fi
  - id: last
    when: steps.first.outcome == "success"
    shell: printf '%s' "$MMM_STEP_FIRST_OUTPUT" > last.txt
"#;

/// The workflow `RESUMABLE` started with `--input word=given`, stopped by `signal` while
/// its `wait` step runs; returns the run's id (from its first JSON line) and the output.
fn run_stopped_by(p: &Project, signal: &str) -> (String, std::process::Output) {
    let started = std::time::Instant::now();
    let child = crate::common::mmm_std(&p.root, &p.home)
        .args(["workflow", "run", "flow.yml", "--input", "word=given", "--output", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !p.root.join("started").exists() {
        assert!(started.elapsed().as_secs() < 30, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let first = stdout(&out).lines().next().map(|l| serde_json::from_str::<Value>(l).unwrap()).unwrap();
    (first["run"].as_str().unwrap().to_string(), out)
}

#[test]
fn a_run_interrupted_or_killed_mid_step_resumes_from_that_step_with_earlier_results() {
    use std::os::unix::process::ExitStatusExt;
    for signal in ["-INT", "-KILL"] {
        let p = Project::git();
        p.write("flow.yml", RESUMABLE);
        let (run, out) = run_stopped_by(&p, signal);
        match signal {
            "-INT" => assert_eq!(out.status.code(), Some(130), "{}", stderr(&out)),
            _ => assert_eq!(out.status.signal(), Some(9)),
        }
        let record: Value = serde_json::from_str(&p.read(&format!(".mmm/sessions/{run}/workflow.json"))).unwrap();
        let states: Vec<&str> =
            record["steps"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
        let cut = if signal == "-INT" { "interrupted" } else { "running" };
        assert_eq!(states, ["success", cut], "{signal}");
        assert_eq!(record["status"], if signal == "-INT" { "interrupted" } else { "running" });

        p.write("go", "");
        let out = workflow(&p, None, &["run", "flow.yml", "--resume", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0), "{signal}: {}", stderr(&out));
        // The first step ran once; its result (from the first process) reached the last step.
        assert_eq!(p.read("first.log"), "ran\n", "{signal}");
        assert_eq!(p.read("last.txt"), "first said given", "{signal}");
        let raw = json_lines(&out);
        let lines = without_times(raw.clone());
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "workflow_started",
                "step_restored",
                "step_started",
                "step_finished",
                "step_started",
                "step_finished",
                "workflow_finished"
            ]
        );
        assert_eq!(
            raw[0],
            json!({"type": "workflow_started", "workflow": "resumable", "path": "flow.yml",
                   "steps": ["first", "wait", "last"], "run": run, "resumed": true})
        );
        assert_eq!(
            lines[1],
            json!({"type": "step_restored", "workflow": "resumable", "step": "first", "outcome": "success", "from_run": run})
        );
        assert_eq!(lines[2]["step"], "wait");
        assert_eq!(lines[6]["outcome"], "success");
        let record: Value = serde_json::from_str(&p.read(&format!(".mmm/sessions/{run}/workflow.json"))).unwrap();
        assert_eq!(record["status"], "success");
        assert_eq!(record["inputs"], json!({"word": "given"}));

        // A run that succeeded is not resumed.
        let out = workflow(&p, None, &["run", "flow.yml", "--resume"]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            stderr(&out),
            format!(
                "error: run {run} of `resumable` already succeeded\nhint: start a new run with `mmm workflow run \
                 flow.yml` (`--from STEP` starts at a step)\n"
            )
        );
    }
}

#[test]
fn from_and_only_take_earlier_results_from_the_last_run() {
    let p = Project::git();
    p.write("flow.yml", RESUMABLE);
    p.write("go", "");
    // Never run: the steps before --only are skipped, so `last`'s condition is false.
    let out = workflow(&p, None, &["run", "flow.yml", "--only", "last", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = without_times(json_lines(&out));
    assert_eq!(
        lines[1],
        json!({"type": "step_restored", "workflow": "resumable", "step": "first", "outcome": "skipped"})
    );
    assert_eq!(lines[3]["outcome"], "skipped");
    assert!(!p.root.join("last.txt").exists() && !p.root.join("first.log").exists());

    let out = workflow(&p, None, &["run", "flow.yml", "--input", "word=one"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_file(p.root.join("last.txt")).unwrap();
    let out = workflow(&p, None, &["run", "flow.yml", "--only", "last", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let types: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| format!("{} {}", l["type"].as_str().unwrap(), l["step"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        types,
        [
            "workflow_started ",
            "step_restored first",
            "step_restored wait",
            "step_started last",
            "step_finished last",
            "workflow_finished "
        ]
    );
    assert_eq!(p.read("first.log"), "ran\n");
    assert_eq!(p.read("last.txt"), "first said one");

    let out = workflow(&p, None, &["run", "flow.yml", "--from", "wait", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let steps: Vec<Value> =
        json_lines(&out).into_iter().filter(|l| l["type"] == "step_started").map(|l| l["step"].clone()).collect();
    assert_eq!(steps, [json!("wait"), json!("last")]);
    assert_eq!(p.read("first.log"), "ran\n");

    let out = workflow(&p, None, &["run", "flow.yml", "--from", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: `--from nope`: the workflow `resumable` has no step `nope`\nhint: its steps: first, wait, last\n"
    );
}

#[test]
fn a_workflow_killed_inside_an_improve_session_resumes_that_session() {
    use std::os::unix::process::ExitStatusExt;
    let p = project_with_check(CHECK);
    p.write(
        ".mmm/workflows/notes.yml",
        "name: notes\nsteps:\n  - id: before\n    shell: echo prepared\n  - id: improve\n    improve: {focus: notes}\n  - id: after\n    shell: printf '%s|%s' \"$MMM_STEP_BEFORE_OUTPUT\" \"$MMM_STEP_IMPROVE_OUTCOME\" > after.txt\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let server = crate::recovery::note_model();
    // Killed right after the session's sixth journal event: the first note is written,
    // not yet committed.
    let mut cmd = p.mmm();
    cmd.env("ANTHROPIC_API_KEY", TEST_KEY).env("ANTHROPIC_BASE_URL", server.url());
    let killed = cmd.args(["workflow", "run", "notes"]).env("MMM_DEBUG_ABORT_AFTER_EVENT", "6").output().unwrap();
    assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
    assert_eq!(p.read("notes/note1.txt"), "made\n");
    let branch = p.run_git(&["branch", "--show-current"]);
    let id = session(&p)["id"].as_str().unwrap().to_string();

    let out = workflow(&p, Some(&server), &["run", "notes", "--resume", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let started = lines.iter().find(|l| l["type"] == "session_started").unwrap();
    assert_eq!((started["session"].as_str(), started["resumed"].as_bool()), (Some(id.as_str()), Some(true)));
    assert!(lines.iter().any(|l| l["type"] == "recovered" && l["action"] == "rolled_back"));
    let s = session(&p);
    assert_eq!(s["id"], id, "no second session");
    let outcomes: Vec<&str> =
        s["iterations"].as_array().unwrap().iter().map(|i| i["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["crashed", "committed", "committed", "committed"]);
    assert_eq!(p.run_git(&["branch", "--show-current"]), branch);
    assert_eq!(
        p.run_git(&["ls-tree", "-r", "--name-only", "HEAD", "notes"]),
        "notes/note1.txt\nnotes/note2.txt\nnotes/note3.txt\n"
    );
    assert_eq!(p.read("after.txt"), "prepared|success");
    assert_eq!(p.run_git(&["status", "--porcelain"]), "?? after.txt\n");
}

#[test]
fn show_lists_inputs_steps_and_the_last_runs_state() {
    let p = Project::git();
    p.write("flow.yml", RESUMABLE);
    let out = workflow(&p, None, &["show", "flow.yml", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = json_lines(&out).remove(0);
    assert_eq!(
        shown,
        json!({"type": "workflow_show", "workflow": "resumable", "path": "flow.yml",
               "inputs": [{"name": "word", "type": "string", "default": "original"}],
               "steps": [
                   {"step": "first", "kind": "shell", "when": "not run.failed", "attempts": 1, "continue_on_error": false,
                    "what": "$ echo ran >> first.log; echo \"first said $MMM_INPUT_WORD\""},
                   {"step": "wait", "kind": "shell", "when": "not run.failed", "attempts": 1, "continue_on_error": false,
                    "what": "$ if [ -f go ]; then echo went; else touch started; sleep 30; fi"},
                   {"step": "last", "kind": "shell", "when": "steps.first.outcome == \"success\"", "attempts": 1,
                    "continue_on_error": false, "what": "$ printf '%s' \"$MMM_STEP_FIRST_OUTPUT\" > last.txt"}],
               "last_run": null})
    );
    let out = workflow(&p, None, &["show", "flow.yml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Steps (never run)"), "{}", stdout(&out));

    let (run, _) = run_stopped_by(&p, "-INT");
    let out = workflow(&p, None, &["show", "flow.yml", "--output", "json"]);
    let shown = json_lines(&out).remove(0);
    assert_eq!(shown["last_run"]["id"], run.as_str());
    assert_eq!(shown["last_run"]["status"], "interrupted");
    let last: Vec<Value> = shown["steps"].as_array().unwrap().iter().map(|s| s["last"]["state"].clone()).collect();
    assert_eq!(last, [json!("success"), json!("interrupted"), Value::Null]);
    assert_eq!(shown["steps"][1]["last"]["error"], "interrupted");
    let text = stdout(&workflow(&p, None, &["show", "flow.yml"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[2], "Inputs");
    assert_eq!(lines[3], "  word (string, default \"original\")");
    assert!(lines[5].starts_with(&format!("Steps (last run {run}: interrupted, started ")), "{text}");
    assert_eq!(lines[6], "  1. first (shell) when `not run.failed`");
    assert!(lines[8].starts_with("     last run: success, "), "{text}");
}

#[test]
fn history_profiles_a_workflow_run_and_writes_a_chrome_trace() {
    let p = project_with_check(CHECK);
    p.write(
        ".mmm/workflows/fix.yml",
        "name: fix\nsteps:\n  - id: lint\n    shell: sleep 0.2\n  - id: improve\n    improve: {focus: greeting, max_iterations: 1}\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let server = FakeApi::with([review(6.0, issue()), replace("toolu_1", "hello", "hi"), done("Shorten the greeting")]);
    let out = workflow(&p, Some(&server), &["run", "fix", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let run = lines[0]["run"].as_str().unwrap().to_string();
    let session_id = session(&p)["id"].as_str().unwrap().to_string();

    let out = p
        .mmm()
        .args(["history", &run, "--profile", "--trace-file", "trace.json", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let profile = json_lines(&out).remove(0);
    assert_eq!((profile["id"].as_str(), profile["trace_file"].as_str()), (Some(run.as_str()), Some("trace.json")));
    let spans = profile["spans"].as_array().unwrap();
    let mut kinds: Vec<(String, String)> = spans
        .iter()
        .map(|s| (s["phase"].as_str().unwrap().to_string(), s["name"].as_str().unwrap().to_string()))
        .collect();
    kinds.sort();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        kinds,
        [
            pair("analysis", "analysis"),
            pair("check", CHECK),
            pair("check", CHECK),
            pair("git", "commit #1"),
            pair("review", "review-1"),
            pair("step", "improve"),
            pair("step", "lint"),
            pair("turn", "implement-1"),
            pair("turn", "implement-1"),
        ]
    );
    // Slowest first; the steps hold their sessions' spans; the session's spans name it.
    let durations: Vec<u64> = spans.iter().map(|s| s["duration_ms"].as_u64().unwrap()).collect();
    assert!(durations.windows(2).all(|w| w[0] >= w[1]), "{durations:?}");
    let step = |name: &str| spans.iter().find(|s| s["phase"] == "step" && s["name"] == name).unwrap();
    assert!(step("lint")["duration_ms"].as_u64().unwrap() >= 200);
    let improve = step("improve");
    let (start, end) = (
        improve["start_us"].as_i64().unwrap(),
        improve["start_us"].as_i64().unwrap() + improve["duration_ms"].as_i64().unwrap() * 1000,
    );
    for s in spans.iter().filter(|s| s["phase"] != "step") {
        assert_eq!(s["session"], session_id.as_str());
        let at = s["start_us"].as_i64().unwrap();
        // Journal times are to the millisecond.
        assert!(at >= start - 2000 && at <= end + 2000, "{s} outside the improve step");
    }
    let costs: f64 = spans.iter().filter(|s| s["phase"] != "step").filter_map(|s| s["cost_usd"].as_f64()).sum();
    assert!((costs - improve["cost_usd"].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(profile["cost_usd"], improve["cost_usd"]);

    // The trace parses as trace-event JSON: complete events with times in microseconds.
    let trace: Value = serde_json::from_str(&p.read("trace.json")).unwrap();
    assert_eq!(trace["displayTimeUnit"], "ms");
    let events = trace["traceEvents"].as_array().unwrap();
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), spans.len());
    for e in &complete {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["args", "cat", "dur", "name", "ph", "pid", "tid", "ts"]);
        assert!(e["ts"].as_i64().unwrap() >= 0 && e["dur"].is_u64() && e["name"].is_string());
    }
    assert_eq!(complete.iter().map(|e| e["ts"].as_i64().unwrap()).min(), Some(0));
    let threads: Vec<&str> =
        events.iter().filter(|e| e["ph"] == "M").map(|e| e["args"]["name"].as_str().unwrap()).collect();
    assert_eq!(threads, ["workflow steps", "analysis and model requests", "checks", "git"]);

    // The table a person reads: slowest first, one line per span.
    let out = p.mmm().args(["history", &session_id, "--profile"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let table: Vec<&str> = text.lines().collect();
    assert!(table[0].starts_with(&format!("Profile of {session_id}: ")), "{text}");
    assert!(table[1].starts_with("PHASE"), "{text}");
    assert_eq!(table.len(), 2 + 7, "{text}");
}

#[test]
fn add_copies_a_workflow_from_a_git_repository_pinned_to_a_commit_after_checking_it() {
    let shared = Project::git();
    shared.write("workflows/tidy.yml", "name: tidy\nsteps:\n  - id: lint\n    shell: echo v1\n");
    shared.write("broken.yml", "name: broken\nsteps:\n  - id: lint\n    shel: echo typo\n");
    shared.run_git(&["add", "-A"]);
    shared.run_git(&["commit", "-q", "-m", "v1"]);
    let v1 = shared.run_git(&["rev-parse", "HEAD"]).trim().to_string();
    shared.write("workflows/tidy.yml", "name: tidy\nsteps:\n  - id: lint\n    shell: echo v2\n");
    shared.run_git(&["commit", "-q", "-am", "v2"]);
    let v2 = shared.run_git(&["rev-parse", "HEAD"]).trim().to_string();
    let url = format!("file://{}", shared.root.display());

    let p = Project::git();
    let out = workflow(&p, None, &["add", &format!("{url}#tidy"), "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out),
        [
            json!({"type": "workflow_added", "path": ".mmm/workflows/tidy.yml", "source": format!("{url}#tidy"), "commit": v2})
        ]
    );
    assert_eq!(
        p.read(".mmm/workflows/tidy.yml"),
        format!(
            "# Added by `mmm workflow add` from {url}#tidy (workflows/tidy.yml)\n# at commit {v2}\nname: tidy\nsteps:\n  - id: lint\n    shell: echo v2\n"
        )
    );
    // Pinned to an older commit, under another name; it runs like any workflow.
    let out = workflow(&p, None, &["add", &format!("{url}#tidy"), "--rev", &v1, "--name", "tidy-v1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(p.read(".mmm/workflows/tidy-v1.yml").contains(&format!("# at commit {v1}\n")));
    let out = workflow(&p, None, &["run", "tidy-v1", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[2]["type"], "step_finished");

    // Refused: a workflow that does not check, a name taken, a missing workflow.
    let out = workflow(&p, None, &["add", &format!("{url}#broken")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!(
            "error: the workflow `broken` from {url} does not check; nothing was written:\n  {url}#broken:6:5: unknown field `shel`"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!p.root.join(".mmm/workflows/broken.yml").exists());
    let left: Vec<_> =
        std::fs::read_dir(p.root.join(".mmm/workflows")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "no staged file left behind: {left:?}");
    let out = workflow(&p, None, &["add", &format!("{url}#tidy")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: .mmm/workflows/tidy.yml exists already\nhint: remove it first, or add this one under another name with --name\n"
    );
    let out = workflow(&p, None, &["add", &format!("{}#nope", shared.root.display())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with(&format!("error: {} has no workflow `nope`\n", shared.root.display())));

    // A directory is read as it is, with no commit to pin.
    let out =
        workflow(&p, None, &["add", &format!("{}#tidy", shared.root.display()), "--name", "local", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out)[0].get("commit"), None);
    assert!(p.read(".mmm/workflows/local.yml").ends_with("shell: echo v2\n"));
}

#[test]
fn the_issues_example_fixes_a_failing_lint_on_the_second_try_validates_the_notes_and_skips_the_report() {
    let p = project_with_check(CHECK);
    p.write(
        ".mmm/workflows/tidy-and-test.yml",
        r#"name: tidy-and-test
inputs:
  focus: {type: string, default: "error handling"}
steps:
  - id: lint
    shell: echo "the greeting is too long" >&2; exit 1
    continue_on_error: true
  - id: fix-lint
    when: steps.lint.outcome == "failure"
    improve: {focus: "make the linter clean, then {{ inputs.focus }}", max_iterations: 1}
    retry: {attempts: 2, backoff_secs: 0}
  - id: notes
    claude:
      prompt: "Summarise what changed for the changelog: {{ steps['fix-lint'].summary }}"
      schema: {type: object, properties: {entry: {type: string}}, required: [entry]}
  - id: report
    when: run.failed
    shell: echo "the workflow failed at $MMM_FAILED_STEP"
"#,
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let server = FakeApi::with([
        // The first try's session changes nothing, so it keeps nothing: the step is tried again.
        review(6.0, issue()),
        done("Nothing to change"),
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
        Reply::stream(&Msg::new().text("{\"entry\": \"Shorter greeting\"}")),
    ]);
    let out = workflow(&p, Some(&server), &["run", "tidy-and-test", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = without_times(json_lines(&out));
    let finished: Vec<(String, String, u64)> = lines
        .iter()
        .filter(|l| l["type"] == "step_finished")
        .map(|l| {
            (l["step"].as_str().unwrap().into(), l["outcome"].as_str().unwrap().into(), l["attempts"].as_u64().unwrap())
        })
        .collect();
    let row = |s: &str, o: &str, a: u64| (s.to_string(), o.to_string(), a);
    assert_eq!(
        finished,
        [
            row("lint", "failure", 1),
            row("fix-lint", "success", 2),
            row("notes", "success", 1),
            row("report", "skipped", 0)
        ]
    );
    let retry = lines.iter().find(|l| l["type"] == "step_retry").unwrap();
    assert_eq!((retry["step"].as_str(), retry["attempt"].as_u64()), (Some("fix-lint"), Some(1)));
    assert!(retry["error"].as_str().unwrap().starts_with("the session kept no change"), "{retry}");
    let notes = lines.iter().find(|l| l["type"] == "step_finished" && l["step"] == "notes").unwrap();
    assert_eq!(notes["summary"], "{\"entry\":\"Shorter greeting\"}");
    assert_eq!(p.read("src/app.txt"), "greeting = hi\n");
    assert_eq!(server.requests().len(), 6);
    assert_eq!(
        server.request(5).json()["messages"][0]["content"][0]["text"],
        "Summarise what changed for the changelog: Shorten the greeting"
    );
    assert!(last_message_text(&server, 0).contains("make the linter clean, then error handling"));
}

#[test]
fn a_retried_step_does_not_run_again_a_check_that_passed_on_the_same_tree() {
    // The check counts its runs in a file outside the work tree.
    let p = project_with_check("echo ran >> ../checks.log; ! grep -q BUG src/app.txt");
    p.write(
        ".mmm/workflows/retry.yml",
        "name: retry\nsteps:\n  - id: fix\n    improve: {focus: greeting, max_iterations: 1}\n    retry: {attempts: 2, backoff_secs: 0}\n",
    );
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-q", "-m", "workflow"]);
    let server = FakeApi::with([
        review(6.0, issue()),
        done("Nothing to change"),
        review(6.0, issue()),
        replace("toolu_1", "hello", "hi"),
        done("Shorten the greeting"),
    ]);
    let out = workflow(&p, Some(&server), &["run", "retry", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let baselines: Vec<&Value> = lines.iter().filter(|l| l["type"] == "baseline").collect();
    assert_eq!(baselines.len(), 2);
    assert_eq!(baselines[0]["checks"][0].get("reused"), None);
    assert_eq!(baselines[1]["checks"][0]["reused"], true);
    assert_eq!(baselines[1]["checks"][0]["duration_ms"], 0);
    // The first baseline and the second try's validation ran it; the second baseline did not.
    let log = std::fs::read_to_string(p.root.parent().unwrap().join("checks.log")).unwrap();
    assert_eq!(log, "ran\nran\n");
    // Another tree (here the snapshot of an untracked file) means the check runs again.
    p.write("notes.txt", "mine\n");
    p.run_git(&["add", "notes.txt"]);
    p.run_git(&["commit", "-q", "-m", "notes"]);
    p.write("scratch.txt", "untracked\n");
    let server = FakeApi::with([review(9.5, json!([]))]);
    let out = p
        .mmm()
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", server.url())
        .args(["improve", "--allow-dirty", "--in-place", "--output", "json"])
        .output()
        .unwrap();
    let baseline = json_lines(&out).into_iter().find(|l| l["type"] == "baseline").unwrap();
    assert_eq!(baseline["checks"][0].get("reused"), None, "{}", stderr(&out));
    let log = std::fs::read_to_string(p.root.parent().unwrap().join("checks.log")).unwrap();
    assert_eq!(log, "ran\nran\nran\n");
}
