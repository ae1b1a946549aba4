//! Settings resolution seen through `mmm config show`: each layer's precedence, the text
//! and JSON output, and configuration errors.

use serde_json::{Value, json};

use crate::common::{Project, json_lines, stderr, stdout};

/// The `{value, source}` of one key from `mmm config show --output json`.
fn shown(p: &Project, setup: impl Fn(&mut assert_cmd::Command), key: &str) -> (Value, Value) {
    let mut cmd = p.mmm();
    setup(&mut cmd);
    let out = cmd.args(["--output", "json", "config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let entry = lines[0]["settings"].as_array().unwrap().iter().find(|e| e["key"] == key).cloned().unwrap();
    (entry["value"].clone(), entry["source"].clone())
}

#[test]
fn each_layer_overrides_the_one_below() {
    let p = Project::git();
    let none = |_: &mut assert_cmd::Command| {};
    assert_eq!(shown(&p, none, "model"), (json!("claude-sonnet-5"), json!({"kind": "default"})));

    std::fs::create_dir_all(p.global_config().parent().unwrap()).unwrap();
    std::fs::write(p.global_config(), "model = \"global-model\"\n").unwrap();
    assert_eq!(
        shown(&p, none, "model"),
        (json!("global-model"), json!({"kind": "global_file", "path": p.global_config()}))
    );

    let project_file = p.write(".mmm/config.toml", "model = \"project-model\"\n");
    assert_eq!(
        shown(&p, none, "model"),
        (json!("project-model"), json!({"kind": "project_file", "path": project_file}))
    );

    let env = |c: &mut assert_cmd::Command| {
        c.env("MMM_MODEL", "env-model");
    };
    assert_eq!(shown(&p, env, "model"), (json!("env-model"), json!({"kind": "env", "var": "MMM_MODEL"})));

    let flag = |c: &mut assert_cmd::Command| {
        c.env("MMM_MODEL", "env-model").args(["-c", "model=flag-model"]);
    };
    assert_eq!(shown(&p, flag, "model"), (json!("flag-model"), json!({"kind": "flag", "flag": "-c model=flag-model"})));
}

#[test]
fn every_key_can_be_set_from_each_layer() {
    // (key, TOML value, env/flag text, expected JSON value)
    let cases = [
        ("model", "\"m\"", "m", json!("m")),
        ("target", "9.5", "9.5", json!(9.5)),
        ("max_iterations", "4", "4", json!(4)),
        ("budget_usd", "2.5", "2.5", json!(2.5)),
        ("max_tokens", "1000", "1000", json!(1000)),
        ("time_limit", "\"30m\"", "30m", json!("30m")),
        ("max_stalled", "2", "2", json!(2)),
        ("max_failures", "5", "5", json!(5)),
        ("fix_rounds", "0", "0", json!(0)),
        ("max_turns", "12", "12", json!(12)),
        ("max_output_tokens", "4096", "4096", json!(4096)),
        ("in_place", "true", "true", json!(true)),
        ("validate.commands", "[\"make check\"]", "[\"make check\"]", json!(["make check"])),
        ("validate.timeout", "\"90s\"", "90s", json!("1m30s")),
        ("secret_files", "[\"*.vault\"]", "[\"*.vault\"]", json!(["*.vault"])),
        ("base_url", "\"http://127.0.0.1:9\"", "http://127.0.0.1:9", json!("http://127.0.0.1:9")),
        ("anthropic_version", "\"2026-10-21\"", "2026-10-21", json!("2026-10-21")),
        ("request_timeout", "\"5m\"", "5m", json!("5m")),
        ("connect_timeout", "\"5s\"", "5s", json!("5s")),
        ("first_byte_timeout", "\"45s\"", "45s", json!("45s")),
        ("stream_idle_timeout", "\"30s\"", "30s", json!("30s")),
        ("max_retries", "3", "3", json!(3)),
        ("retry_budget", "\"5m\"", "5m", json!("5m")),
        ("pricing.input", "4.5", "4.5", json!(4.5)),
        ("pricing.output", "20", "20", json!(20.0)),
    ];
    let p = Project::git();
    let none = |_: &mut assert_cmd::Command| {};
    for (key, toml_value, text, expected) in cases {
        let (table, short) = key.split_once('.').unwrap_or(("", key));
        let file = if table.is_empty() {
            format!("{short} = {toml_value}\n")
        } else {
            format!("[{table}]\n{short} = {toml_value}\n")
        };
        p.write(".mmm/config.toml", &file);
        assert_eq!(shown(&p, none, key).0, expected, "{key} from the project file");
        std::fs::remove_file(p.root.join(".mmm/config.toml")).unwrap();

        std::fs::create_dir_all(p.global_config().parent().unwrap()).unwrap();
        std::fs::write(p.global_config(), &file).unwrap();
        assert_eq!(shown(&p, none, key).0, expected, "{key} from the global file");
        std::fs::remove_file(p.global_config()).unwrap();

        let var = format!("MMM_{}", key.replace('.', "_").to_uppercase());
        let (value, source) = shown(
            &p,
            |c| {
                c.env(&var, text);
            },
            key,
        );
        assert_eq!(
            (value, source),
            (expected.clone(), json!({"kind": "env", "var": var})),
            "{key} from the environment"
        );

        let spec = format!("{key}={text}");
        assert_eq!(
            shown(
                &p,
                |c| {
                    c.args(["-c", &spec]);
                },
                key
            )
            .0,
            expected,
            "{key} from a flag"
        );
    }
}

#[test]
fn anthropic_variables_set_the_endpoint_and_credentials() {
    let p = Project::git();
    let env = |c: &mut assert_cmd::Command| {
        c.env("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
            .env("ANTHROPIC_API_KEY", "sk-ant-api03-SECRETSECRETSECRET-wxyz")
            .env("ANTHROPIC_AUTH_TOKEN", "token-0123456789-abcd");
    };
    assert_eq!(
        shown(&p, env, "base_url"),
        (json!("http://127.0.0.1:1"), json!({"kind": "env", "var": "ANTHROPIC_BASE_URL"}))
    );
    assert_eq!(shown(&p, env, "api_key"), (json!("sk-ant-…wxyz"), json!({"kind": "env", "var": "ANTHROPIC_API_KEY"})));
    assert_eq!(shown(&p, env, "auth_token").0, json!("tok…abcd"));
    // MMM_BASE_URL is the more specific of the two.
    let both = |c: &mut assert_cmd::Command| {
        c.env("ANTHROPIC_BASE_URL", "http://127.0.0.1:1").env("MMM_BASE_URL", "http://127.0.0.1:2");
    };
    assert_eq!(shown(&p, both, "base_url").0, json!("http://127.0.0.1:2"));
}

#[test]
fn anthropic_model_sets_the_model_below_mmm_model_and_flags() {
    let p = Project::git();
    p.write(".mmm/config.toml", "model = \"project-model\"\n");
    let sdk = |c: &mut assert_cmd::Command| {
        c.env("ANTHROPIC_MODEL", "claude-opus-5");
    };
    assert_eq!(shown(&p, sdk, "model"), (json!("claude-opus-5"), json!({"kind": "env", "var": "ANTHROPIC_MODEL"})));
    let both = |c: &mut assert_cmd::Command| {
        c.env("ANTHROPIC_MODEL", "claude-opus-5").env("MMM_MODEL", "claude-haiku-4-5");
    };
    assert_eq!(shown(&p, both, "model"), (json!("claude-haiku-4-5"), json!({"kind": "env", "var": "MMM_MODEL"})));
    let flag = |c: &mut assert_cmd::Command| {
        c.env("ANTHROPIC_MODEL", "claude-opus-5").args(["-c", "model=claude-sonnet-5"]);
    };
    assert_eq!(
        shown(&p, flag, "model"),
        (json!("claude-sonnet-5"), json!({"kind": "flag", "flag": "-c model=claude-sonnet-5"}))
    );
    let out = p.mmm().env("ANTHROPIC_MODEL", "claude-opus-5").args(["config", "show"]).output().unwrap();
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with("model "))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(row, "model claude-opus-5 env ANTHROPIC_MODEL");
}

#[test]
fn the_secret_never_appears_in_any_output() {
    let p = Project::git();
    let secret = "sk-ant-api03-SECRETSECRETSECRET-wxyz";
    for format in ["human", "json"] {
        let out = p
            .mmm()
            .env("ANTHROPIC_API_KEY", secret)
            .args(["--output", format, "-vvv", "config", "show"])
            .output()
            .unwrap();
        assert!(!stdout(&out).contains("SECRETSECRET") && !stderr(&out).contains("SECRETSECRET"), "{format}");
    }
}

#[test]
fn human_output_is_an_aligned_table_naming_each_source() {
    let p = Project::git();
    let file = p.write(".mmm/config.toml", "target = 9\n");
    let out = p.mmm().env("MMM_MAX_ITERATIONS", "3").args(["-c", "fix_rounds=1", "config", "show"]).output().unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["KEY", "VALUE", "SOURCE"]);
    let row = |key: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("model"), "model claude-sonnet-5 default");
    assert_eq!(row("target"), format!("target 9.0 project file {}", file.display()));
    assert_eq!(row("max_iterations"), "max_iterations 3 env MMM_MAX_ITERATIONS");
    assert_eq!(row("fix_rounds"), "fix_rounds 1 flag -c fix_rounds=1");
    assert_eq!(row("budget_usd"), "budget_usd (unset) default");
    // Columns line up: every value starts where the header's VALUE does.
    let value_col = lines[0].find("VALUE").unwrap();
    assert!(lines[1..].iter().all(|l| l.as_bytes()[value_col - 1] == b' ' && l.as_bytes()[value_col] != b' '));
}

#[test]
fn a_misspelt_key_names_file_line_and_the_closest_key() {
    let p = Project::git();
    let file = p.write(".mmm/config.toml", "target = 9\nmax_iteration = 3\n");
    let out = p.mmm().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "error: resolving settings\n  caused by: {}:2: unknown key `max_iteration`\n\
             hint: did you mean `max_iterations`? `mmm config show` lists every key\n",
            file.display()
        )
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn malformed_toml_names_file_and_line() {
    let p = Project::git();
    let file = p.write(".mmm/config.toml", "target = 9\n[validate\ncommands = []\n");
    let out = p.mmm().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("caused by: {}:2:", file.display())), "{err}");
    assert!(err.contains("malformed TOML"), "{err}");
    assert!(err.ends_with("hint: fix the file, or run `mmm init --force` to write a fresh one\n"), "{err}");
}

#[test]
fn a_wrong_type_in_the_global_file_is_reported_there() {
    let p = Project::git();
    std::fs::create_dir_all(p.global_config().parent().unwrap()).unwrap();
    std::fs::write(p.global_config(), "\n\nin_place = \"yes\"\n").unwrap();
    let out = p.mmm().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{}:3: `in_place` must be true or false, found string `\"yes\"`",
            p.global_config().display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_api_key_in_a_file_is_refused() {
    let p = Project::git();
    p.write(".mmm/config.toml", "api_key = \"sk-ant-oops\"\n");
    let out = p.mmm().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .ends_with("hint: set ANTHROPIC_API_KEY in the environment instead: files get committed and shared\n")
    );
    assert!(!stderr(&out).contains("sk-ant-oops"));
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let p = Project::git();
    let out = p.mmm().env("MMM_TIME_LIMIT", "soon").args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: resolving settings\n  caused by: environment variable MMM_TIME_LIMIT: `time_limit` must be a duration like \"90s\", \"10m\" or \"1h\", found `soon`\n"
    );
}

#[test]
fn config_check_passes_good_files_naming_each_one() {
    let p = Project::git();
    std::fs::create_dir_all(p.global_config().parent().unwrap()).unwrap();
    std::fs::write(p.global_config(), "model = \"claude-opus-5\"\nbudget_usd = 2\n").unwrap();
    let project = p.write(".mmm/config.toml", "target = 9\n\n[validate]\ncommands = [\"cargo test\"]\n");
    let out = p.mmm().env("MMM_MAX_ITERATIONS", "4").args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!(
            "global file {}: ok\nproject file {}: ok\nenvironment: ok\nflags: ok\n",
            p.global_config().display(),
            project.display()
        )
    );
    assert_eq!(stderr(&out), "");
}

#[test]
fn config_check_suggests_a_known_model_for_a_typo_and_exits_two() {
    let p = Project::git();
    let project = p.write(".mmm/config.toml", "target = 9\nmodel = \"claude-sonet-5\"\n");
    let out = p.mmm().args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stdout(&out),
        format!(
            "project file {path}: 1 error\n  \
             error: {path}:2: unknown model `claude-sonet-5`\n  \
             hint: did you mean `claude-sonnet-5`? `mmm models` lists the models your key can use\n\
             environment: ok\nflags: ok\n",
            path = project.display()
        )
    );
    assert_eq!(
        stderr(&out),
        "error: the settings have 1 error\nhint: fix each one above; `mmm config check` again says when they are all gone\n"
    );

    // From the SDK's variable too; a model mmm has never heard of is only a note.
    std::fs::remove_file(&project).unwrap();
    let out = p
        .mmm()
        .env("ANTHROPIC_MODEL", "claude-opus5")
        .args(["-c", "model=my-local-model", "--output", "json", "config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        json_lines(&out),
        vec![
            json!({"type": "config_check", "checked": [
                {"kind": "environment", "problems": [{
                    "level": "error",
                    "message": "environment variable ANTHROPIC_MODEL: unknown model `claude-opus5`",
                    "hint": "did you mean `claude-opus-5`? `mmm models` lists the models your key can use"}]},
                {"kind": "flags", "problems": [{
                    "level": "note",
                    "message": "-c model=my-local-model: `my-local-model` is not a model mmm knows, so its cost is not counted",
                    "hint": "`mmm models` lists the models your key can use; `[prices.\"<model>\"]` (or `pricing.input` and `pricing.output`) gives its price"}]}
            ], "errors": 1}),
            json!({"type": "error", "message": "the settings have 1 error", "causes": [],
                "hint": "fix each one above; `mmm config check` again says when they are all gone", "exit_code": 2}),
        ]
    );
}

#[test]
fn config_check_reports_every_bad_value_not_only_the_first() {
    let p = Project::git();
    std::fs::create_dir_all(p.global_config().parent().unwrap()).unwrap();
    std::fs::write(p.global_config(), "target = 11\n").unwrap();
    let project = p.write(".mmm/config.toml", "max_iteration = 3\ntarget = \"high\"\n[validate]\ncommands = [\"\"]\n");
    let out = p.mmm().env("MMM_IN_PLACE", "maybe").args(["-c", "fix_rounds=-1", "config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (global, path) = (p.global_config().display().to_string(), project.display().to_string());
    assert_eq!(
        stdout(&out),
        format!(
            "global file {global}: 1 error\n  \
             error: {global}:1: `target` must be a number from 0 to 10, found 11\n\
             project file {path}: 3 errors\n  \
             error: {path}:1: unknown key `max_iteration`\n  \
             hint: did you mean `max_iterations`? `mmm config show` lists every key\n  \
             error: {path}:2: `target` must be a number, found string `\"high\"`\n  \
             error: {path}:4: `validate.commands` has an empty command (item 1 of 1)\n  \
             hint: remove it, or leave the list empty (`commands = []`) to use the detected build, lint and test commands\n\
             environment: 1 error\n  \
             error: environment variable MMM_IN_PLACE: `in_place` must be true or false, found `maybe`\n\
             flags: 1 error\n  \
             error: -c fix_rounds=-1: `fix_rounds` must be a whole number, found `-1`\n"
        )
    );
    // `config show` still stops at the first.
    let out = p.mmm().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
