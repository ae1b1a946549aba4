//! `mmm man`: the manual page, printed or written one page per command, naming every command.

use clap::CommandFactory;

use crate::common::{Project, json_lines, stderr, stdout};

/// What roff needs before anything else: how to typeset an apostrophe.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// `mmm --version` without the `mmm `, and the commit date in it (empty when none).
fn version_and_date(p: &Project) -> (String, String) {
    let version = stdout(&p.mmm().arg("--version").output().unwrap()).trim().trim_start_matches("mmm ").to_string();
    let date = version.rsplit_once(' ').map(|(_, d)| d.trim_end_matches(')').to_string());
    (version.clone(), date.filter(|_| version.ends_with(')')).unwrap_or_default())
}

/// Every command as its page is named: `mmm`, `mmm-improve`, `mmm-config-show`, ...
fn page_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, name: &str, names: &mut Vec<String>) {
        names.push(name.to_string());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
            walk(sub, &format!("{name}-{}", sub.get_name()), names);
        }
    }
    let mut names = Vec::new();
    walk(&mmm::cli::Cli::command(), "mmm", &mut names);
    names
}

#[test]
fn the_man_page_opens_with_its_header_and_names_every_command() {
    let p = Project::new();
    let out = p.mmm().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    let (version, date) = version_and_date(&p);
    let header = format!(
        "{PREAMBLE}.TH mmm 1 {date} \"mmm {version}\" \n.SH NAME\nmmm \\- Improve a code base in verified steps with Claude\n"
    );
    assert!(page.starts_with(&header), "{page}");

    let section = &page[page.find(".SH SUBCOMMANDS\n").expect("a SUBCOMMANDS section")..];
    let section = &section[..section[1..].find(".SH ").unwrap() + 1];
    let listed: Vec<String> = section
        .lines()
        .skip_while(|l| *l != ".TP")
        .step_by(3)
        .zip(section.lines().skip_while(|l| *l != ".TP").skip(1).step_by(3))
        .map(|(_, name)| name.to_string())
        .collect();
    let expected: Vec<String> = mmm::cli::Cli::command()
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
        .map(|s| format!("mmm\\-{}(1)", s.get_name()))
        .collect();
    assert_eq!(listed, expected);
    assert!(expected.contains(&"mmm\\-man(1)".to_string()));
    assert!(page.contains("\n.SH EXAMPLES\n.nf\n  mmm init "), "{page}");
    assert!(page.ends_with(&format!(".SH VERSION\nv{}\n", version.replace('-', "\\-"))), "{page}");
}

#[test]
fn dir_writes_one_page_per_command() {
    let p = Project::new();
    let out = p.mmm().args(["man", "--dir", "share/man/man1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = p.root.join("share/man/man1");
    let names = page_names();
    let listed: String = names.iter().map(|n| format!("{}\n", dir.join(format!("{n}.1")).display())).collect();
    assert_eq!(stdout(&out), listed);
    let mut on_disk: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    on_disk.sort();
    let mut expected: Vec<String> = names.iter().map(|n| format!("{n}.1")).collect();
    expected.sort();
    assert_eq!(on_disk, expected);

    let (version, date) = version_and_date(&p);
    for name in &names {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap();
        let header = format!("{PREAMBLE}.TH {name} 1 {date} \"mmm {version}\" \n");
        assert!(page.starts_with(&header), "{name}: {page}");
        if name != "mmm-config" && name != "mmm-spec" {
            assert!(page.contains("\n.SH EXAMPLES\n.nf\n"), "{name} has no examples: {page}");
        }
    }
    let show = std::fs::read_to_string(dir.join("mmm-config-show.1")).unwrap();
    assert!(
        show.contains(".SH NAME\nmmm\\-config\\-show \\- Print every setting with its value and where it came from\n"),
        "{show}"
    );
}

#[test]
fn json_output_carries_the_page_or_the_files() {
    let p = Project::new();
    let page = stdout(&p.mmm().arg("man").output().unwrap());
    let lines = json_lines(&p.mmm().args(["--output", "json", "man"]).output().unwrap());
    assert_eq!(lines, vec![serde_json::json!({"type": "man", "page": page})]);

    let out = p.mmm().args(["--output", "json", "man", "--dir", "pages"]).output().unwrap();
    let dir = p.root.join("pages");
    let files: Vec<String> = page_names().iter().map(|n| dir.join(format!("{n}.1")).display().to_string()).collect();
    assert_eq!(json_lines(&out), vec![serde_json::json!({"type": "man_pages", "dir": dir, "files": files})]);
}

#[test]
fn an_unwritable_dir_is_a_usage_error_with_a_hint() {
    let p = Project::new();
    p.write("taken", "a file, not a directory");
    let out = p.mmm().args(["man", "--dir", "taken/man1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with(&format!("error: cannot create {}: ", p.root.join("taken/man1").display())), "{err}");
    assert!(
        err.ends_with("\nhint: give `--dir` a directory you can write to, e.g. ~/.local/share/man/man1\n"),
        "{err}"
    );
}
