//! The command line as a user meets it: help, version, exit codes, global options.

use crate::common::{Project, json_lines, stderr, stdout};

#[test]
fn help_lists_only_working_commands_with_examples() {
    let p = Project::new();
    let out = p.mmm().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        commands,
        vec![
            "improve",
            "run",
            "specs",
            "spec",
            "workflow",
            "status",
            "history",
            "diff",
            "undo",
            "clean",
            "merge",
            "analyze",
            "plugins",
            "config",
            "init",
            "projects",
            "stats",
            "report",
            "models",
            "man",
            "completions",
            "help"
        ]
    );
    assert!(text.contains("Examples:\n  mmm init"), "{text}");
}

#[test]
fn version_prints_the_package_version_commit_and_date() {
    // Built from a git checkout (as the tests are), the version names its commit and the
    // commit's date, as git tells them; from a tarball, the package version alone.
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8(out.stdout).unwrap().trim().to_string())
    };
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().ok();
    let own_checkout = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| std::path::Path::new(&top).canonicalize().ok() == manifest_dir);
    let expected = match (git(&["rev-parse", "--short=9", "HEAD"]), git(&["log", "-1", "--format=%cs"])) {
        (Some(commit), Some(date)) if own_checkout => format!("mmm {} ({commit} {date})\n", env!("CARGO_PKG_VERSION")),
        _ => format!("mmm {}\n", env!("CARGO_PKG_VERSION")),
    };
    let out = Project::new().mmm().arg("--version").output().unwrap();
    assert_eq!(stdout(&out), expected);
}

#[test]
fn bad_usage_exits_two() {
    let p = Project::new();
    let out = p.mmm().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: unrecognized subcommand 'no-such-command'"), "{}", stderr(&out));
    let out = p.mmm().args(["config", "show", "--output", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_directory_for_dash_c_is_a_usage_error_with_a_hint() {
    let p = Project::new();
    let out = p.mmm().args(["-C", "does/not/exist", "config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot run in does/not/exist: "), "{err}");
    assert!(err.ends_with("hint: `-C` takes an existing directory\n"), "{err}");
}

#[test]
fn dash_capital_c_runs_in_another_directory() {
    let p = Project::git();
    p.write("sub/dir/.keep", "");
    p.write(".mmm/config.toml", "target = 9.5\n");
    let elsewhere = Project::new();
    let out = elsewhere
        .mmm()
        .arg("-C")
        .arg(p.root.join("sub/dir"))
        .args(["config", "show", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let target = &json_lines(&out)[0]["settings"][1];
    assert_eq!(target["value"], 9.5);
}

#[test]
fn completions_are_generated_for_every_shell() {
    let p = Project::new();
    for (shell, marker) in [
        ("bash", "_mmm()"),
        ("zsh", "#compdef mmm"),
        ("fish", "complete -c mmm"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[mmm]"),
    ] {
        let out = p.mmm().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(stdout(&out).contains(marker), "{shell} script lacks {marker}");
    }
}

#[test]
fn completions_do_not_depend_on_a_valid_config() {
    let p = Project::git();
    p.write(".mmm/config.toml", "this is not toml");
    let out = p.mmm().args(["completions", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn piped_output_has_no_ansi_codes_and_always_forces_them() {
    let p = Project::git();
    let plain = p.mmm().args(["config", "show"]).output().unwrap();
    assert!(!stdout(&plain).contains('\u{1b}'));
    let forced = p.mmm().args(["--color", "always", "config", "show"]).output().unwrap();
    assert!(stdout(&forced).contains("\u{1b}[1m"), "{}", stdout(&forced));
}

#[test]
fn no_color_keeps_errors_plain_and_never_overrides_always() {
    let p = Project::git();
    p.write(".mmm/config.toml", "modle = 1\n");
    let out = p.mmm().env("NO_COLOR", "1").args(["config", "show"]).output().unwrap();
    assert!(!stderr(&out).contains('\u{1b}'));
    let out = p.mmm().env("NO_COLOR", "1").args(["--color", "always", "config", "show"]).output().unwrap();
    assert!(stderr(&out).starts_with("\u{1b}[1m\u{1b}[31merror:\u{1b}[0m "), "{:?}", stderr(&out));
}

#[test]
fn json_mode_prints_only_json_lines_on_stdout() {
    let p = Project::git();
    for args in [&["config", "show"][..], &["init"], &["init"]] {
        let out = p.mmm().args(["--output", "json"]).args(args).env("MMM_NOT_A_KEY", "1").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}");
        // Warnings still reach the user, on stderr.
        assert_eq!(stderr(&out), "warning: ignoring environment variable MMM_NOT_A_KEY: mmm has no such setting\n");
    }
    let out = p.mmm().args(["--output", "json", "completions", "fish"]).output().unwrap();
    assert_eq!(json_lines(&out)[0]["shell"], "fish");
}

#[test]
fn quiet_prints_nothing_on_success_and_still_prints_errors() {
    let p = Project::git();
    let out = p.mmm().args(["-q", "init"]).output().unwrap();
    assert_eq!((out.status.code(), stdout(&out), stderr(&out)), (Some(0), String::new(), String::new()));
    p.write(".mmm/config.toml", "target = 11\n");
    let out = p.mmm().args(["-q", "config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`target` must be a number from 0 to 10, found 11"), "{}", stderr(&out));
}

#[test]
fn every_commands_help_has_examples_of_that_command() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, p: &Project) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            path.push(sub.get_name().to_string());
            let out = p.mmm().args(path.iter()).arg("--help").output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{path:?}");
            let help = stdout(&out);
            let examples =
                help.split_once("\nExamples:\n").map(|(_, e)| e).unwrap_or_else(|| panic!("{path:?}: {help}"));
            let first = format!("  mmm {}", path.join(" "));
            assert!(examples.starts_with(&first), "`mmm {}`'s first example is not of it: {examples}", path.join(" "));
            walk(sub, path, p);
            path.pop();
        }
    }
    walk(&mmm::cli::Cli::command(), &mut Vec::new(), &Project::new());
}
