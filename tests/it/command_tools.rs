//! Command tools end to end: a `[tools.<name>]` the scripted model calls in the editing
//! conversation (never offered to reviews), run by mmm with the model's input as JSON on
//! stdin, its output in the next request; and the license-header example as a tool and as
//! a custom validator that rolls back a change leaving a file without a header.

use serde_json::{Value, json};

use crate::common::Project;
use crate::common::fake_api::{FakeApi, Msg, Reply};
use crate::common::script::{
    CHECK, create, done, issue, last_message, mmm_with, project_with_check, replace, review, session,
};
use crate::common::{json_lines, stderr};

/// The sample project with `extra` (TOML) after its `[validate]` table, committed.
fn project(checks: &[&str], extra: &str) -> Project {
    let p = project_with_check(CHECK);
    p.write(".mmm/config.toml", &format!("[validate]\ncommands = {checks:?}\n\n{extra}"));
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-qm", "tools"]);
    p
}

fn call(id: &str, name: &str, input: Value) -> Reply {
    Reply::stream(&Msg::new().tool_use(id, name, input))
}

fn names(request: &Value) -> Vec<String> {
    request["tools"].as_array().map_or(vec![], |t| t.iter().map(|t| t["name"].as_str().unwrap().to_string()).collect())
}

#[test]
fn the_model_calls_a_command_tool_and_reads_its_output_in_the_next_request() {
    let p = project(
        &[CHECK],
        "[tools.echo_input]\ndescription = \"Echoes its input and its argument count.\"\n\
         command = [\"sh\", \"-c\", \"cat; echo; echo args=$#; pwd\"]\n\
         input_schema = { type = \"object\", properties = { word = { type = \"string\" } }, required = [\"word\"] }\n",
    );
    let server = FakeApi::with([
        review(6.0, issue()),
        call("toolu_1", "echo_input", json!({"word": "it's; rm -rf $HOME"})),
        call("toolu_2", "echo_input", json!({"word": 3})),
        replace("toolu_3", "hello", "hi"),
        done("Shorten the greeting"),
        review(9.0, json!([])),
    ]);
    let out = mmm_with(&p, &server, "improve").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    assert_eq!(names(&server.request(0).json()), ["submit_review"], "reviews get no command tool");
    let editing = server.request(1).json();
    assert_eq!(names(&editing), ["str_replace_based_edit_tool", "search", "submit_change", "echo_input"]);
    assert_eq!(
        editing["tools"][3],
        json!({"name": "echo_input", "description": "Echoes its input and its argument count.",
               "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}})
    );
    let root = p.root.canonicalize().unwrap();
    assert_eq!(
        last_message(&server, 2)["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1",
               "content": format!("{{\"word\":\"it's; rm -rf $HOME\"}}\nargs=0\n{}", root.display()),
               "cache_control": {"type": "ephemeral"}})
    );
    let refused = &last_message(&server, 3)["content"][0];
    assert_eq!(refused["is_error"], true);
    assert!(
        refused["content"]
            .as_str()
            .unwrap()
            .starts_with("Error: the input of `echo_input` does not match its input_schema"),
        "{refused}"
    );
    assert_eq!(session(&p)["iterations"][0]["outcome"], "committed");
}

const LICENSE_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples/plugins/license-header/check_license_headers.py");

/// A project with the license-header example installed as `tools/` (its own header on
/// every source file), as a check after the sample's and as a command tool.
fn license_project() -> Project {
    let script = std::fs::read_to_string(LICENSE_SCRIPT).unwrap();
    let p = project(
        &[CHECK, "python3 tools/check_license_headers.py"],
        "[tools.license_headers]\ndescription = \"List the source files that lack an SPDX licence header.\"\n\
         command = [\"python3\", \"tools/check_license_headers.py\", \"--tool\"]\n\
         input_schema = { type = \"object\", properties = { paths = { type = \"array\", items = { type = \"string\" } } } }\n",
    );
    p.write("tools/check_license_headers.py", &script.replacen("\n", "\n# SPDX-License-Identifier: MIT\n", 1));
    p.write("src/lib.rs", "// SPDX-License-Identifier: MIT\npub fn f() {}\n");
    p.run_git(&["add", "-A"]);
    p.run_git(&["commit", "-qm", "license headers"]);
    p
}

#[test]
fn the_license_header_example_answers_the_model_and_rolls_back_a_file_without_a_header() {
    let p = license_project();
    let server = FakeApi::with([
        review(6.0, issue()),
        create("toolu_1", "src/new.rs"),
        call("toolu_2", "license_headers", json!({})),
        done("Add a module"),
    ]);
    let out = mmm_with(&p, &server, "improve")
        .args(["--max-iterations", "1", "-c", "fix_rounds=0", "--output", "json"])
        .output()
        .unwrap();
    let lines = json_lines(&out);
    assert!(lines.iter().any(|l| l["type"] == "summary"), "{}", stderr(&out));
    assert_eq!(
        last_message(&server, 3)["content"][0]["content"],
        "license headers: 1 of 3 source file(s) lack `SPDX-License-Identifier:` in their first 5 lines:\n  src/new.rs"
    );
    let iteration = lines.iter().find(|l| l["type"] == "iteration").unwrap();
    assert_eq!(iteration["outcome"], "rolled_back");
    assert_eq!(
        iteration["validation"][1]["output"],
        "license headers: 1 of 3 source file(s) lack `SPDX-License-Identifier:` in their first 5 lines:\n  src/new.rs"
    );
    assert!(!p.root.join("src/new.rs").exists());
}

#[test]
fn a_bad_tool_definition_is_refused_with_the_line() {
    let p = project(
        &[CHECK],
        "[tools.search]\ndescription = \"d\"\ncommand = [\"x\"]\ninput_schema = { type = \"object\" }\n",
    );
    let out = p.mmm().args(["improve", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("config.toml:4: `tools.search`: a tool name is"), "{}", stderr(&out));
}
