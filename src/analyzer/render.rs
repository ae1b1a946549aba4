//! Text renderings of an [`Analysis`]: the human report of `mmm analyze` (sections, aligned
//! columns, colour when the printer allows it) and the compact summary given to the model.
//! Both are built from the same pieces so they never disagree.

use std::fmt::Write;

use super::Analysis;
use super::projects::Project;
use crate::printer::Styles;
use crate::printer::thousands;

/// Languages shown before "+N more".
const LANGUAGES_SHOWN: usize = 8;
const ITEMS_SHOWN: usize = 5;
const PROJECTS_SHOWN: usize = 10;

/// `label` padded to `width`, then the value (continuation lines aligned under it).
fn row(s: &Styles, label: &str, width: usize, value: &str) -> String {
    format!("  {}{}  {value}", s.bold(label), " ".repeat(width.saturating_sub(label.chars().count())))
}

fn join_limited<T>(items: &[T], limit: usize, f: impl Fn(&T) -> String) -> String {
    let mut out: Vec<String> = items.iter().take(limit).map(f).collect();
    if items.len() > limit {
        out.push(format!("+{} more", items.len() - limit));
    }
    out.join(", ")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// "3 binary, 1 too large, ..." (only the reasons that happened).
fn skipped(a: &Analysis) -> String {
    let k = &a.files.skipped;
    let parts = [
        (k.binary, "binary"),
        (k.too_large, "too large"),
        (k.generated, "generated"),
        (k.unreadable, "unreadable"),
        (k.symlinks, "symlinks"),
        (k.secret, "secret"),
        (k.vendored_dirs, "vendored/build dirs"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{} {what}", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "cargo (Rust) `name`".
fn project_title(p: &Project) -> String {
    let mut t = format!("{} ({})", p.tool, p.language);
    if let Some(name) = &p.name {
        write!(t, " {name}").ok();
    }
    t
}

/// The labelled facts of a project, commands last.
fn project_rows(p: &Project) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if !p.frameworks.is_empty() {
        rows.push(("frameworks", p.frameworks.join(", ")));
    }
    if !p.test_frameworks.is_empty() {
        rows.push(("tests", p.test_frameworks.join(", ")));
    }
    let d = p.dependencies;
    if d.runtime + d.dev > 0 {
        rows.push(("dependencies", format!("{} runtime, {} dev", d.runtime, d.dev)));
    }
    if !p.members.is_empty() {
        rows.push(("members", join_limited(&p.members, ITEMS_SHOWN, Clone::clone)));
    }
    let c = &p.commands;
    for (label, cmd) in [("build", &c.build), ("lint", &c.lint), ("test", &c.test), ("format", &c.format)] {
        if let Some(cmd) = cmd {
            rows.push((label, cmd.clone()));
        }
    }
    rows
}

/// The labelled facts about the structure.
fn structure_rows(a: &Analysis) -> Vec<(&'static str, String)> {
    let s = &a.structure;
    let dirs = |d: &[super::DirCount]| {
        join_limited(d, ITEMS_SHOWN, |c| format!("{} ({})", c.path, plural(c.files, "file", "files")))
    };
    let mut rows = Vec::new();
    if !s.source_dirs.is_empty() {
        rows.push(("source", dirs(&s.source_dirs)));
    }
    let mut tests = dirs(&s.test_dirs);
    if s.test_files_beside_code > 0 {
        let beside = format!("{} beside the code", plural(s.test_files_beside_code, "file", "files"));
        tests = if tests.is_empty() { beside } else { format!("{tests}; {beside}") };
    }
    rows.push(("tests", if tests.is_empty() { "none found".into() } else { tests }));
    if !s.entry_points.is_empty() {
        rows.push(("entry points", join_limited(&s.entry_points, ITEMS_SHOWN, Clone::clone)));
    }
    rows.push(("CI", if s.ci.is_empty() { "none found".into() } else { s.ci.join(", ") }));
    // A lint check the project defines (cargo clippy, a `lint` script) is a linter even without
    // a config file of its own; saying "none" beside the health's "linter: yes" would contradict it.
    let lint_checks: Vec<&str> =
        a.checks.iter().filter(|c| c.name.starts_with("lint")).map(|c| c.command.as_str()).collect();
    let linters = match (s.linters.is_empty(), lint_checks.is_empty()) {
        (false, _) => s.linters.join(", "),
        (true, false) => format!("{} (lint check, no config file)", lint_checks.join(", ")),
        (true, true) => "none configured".into(),
    };
    rows.push(("linters", linters));
    let d = &s.docs;
    let mut docs = Vec::new();
    match &d.readme {
        Some(r) => docs.push(format!("{r} ({})", plural(d.readme_lines, "line", "lines"))),
        None => docs.push("no README".into()),
    }
    if let Some(dir) = &d.docs_dir {
        docs.push(format!("{dir}/ ({})", plural(d.docs_files, "file", "files")));
    }
    for (has, what) in [(d.license, "license"), (d.changelog, "changelog"), (d.contributing, "contributing guide")] {
        if has {
            docs.push(what.into());
        }
    }
    rows.push(("docs", format!("{}; documentation {}", docs.join(", "), a.health.documentation.level)));
    if !s.config_files.is_empty() {
        rows.push(("config", join_limited(&s.config_files, 8, Clone::clone)));
    }
    rows
}

/// The labelled health details after the breakdown.
fn health_rows(a: &Analysis) -> Vec<(&'static str, String)> {
    let h = &a.health;
    let mut rows = Vec::new();
    for smell in h.smells.iter().take(ITEMS_SHOWN) {
        let at = join_limited(&smell.locations, 3, |l| format!("{}:{}", l.path, l.line));
        rows.push(("smell", format!("{} {} ({}): {at}", thousands(smell.count), smell.label, smell.language)));
    }
    let t = &h.todos;
    if t.total > 0 {
        let first = join_limited(&t.items, 3, |i| format!("{}:{}", i.path, i.line));
        rows.push((
            "TODO/FIXME/HACK",
            format!("{} (TODO {}, FIXME {}, HACK {}): {first}", thousands(t.total), t.todo, t.fixme, t.hack),
        ));
    }
    if !h.largest_files.is_empty() {
        rows.push((
            "largest files",
            join_limited(&h.largest_files, ITEMS_SHOWN, |f| {
                format!("{} ({})", f.path, plural(f.code_lines, "line", "lines"))
            }),
        ));
    }
    if !h.longest_functions.is_empty() {
        rows.push((
            "longest functions",
            join_limited(&h.longest_functions, ITEMS_SHOWN, |f| {
                format!("{} {}:{} (~{} lines)", f.name, f.path, f.line, f.lines)
            }) + " (approximate)",
        ));
    }
    rows.push(("dependencies", format!("{} declared", thousands(h.dependencies))));
    rows
}

fn label_width(rows: &[(&str, String)]) -> usize {
    rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0)
}

/// The report `mmm analyze` prints.
pub fn human(a: &Analysis, s: &Styles) -> String {
    let mut out = String::new();
    let primary = a.primary_language.as_deref().map(|l| format!(" · {l}")).unwrap_or_default();
    writeln!(out, "{}{primary}", s.bold(a.root.display())).ok();
    let mut files = format!(
        "  {} ({} read, {})",
        plural(a.files.total, "file", "files"),
        thousands(a.files.scanned),
        bytes(a.files.bytes)
    );
    let skipped = skipped(a);
    if !skipped.is_empty() {
        write!(files, "; skipped {skipped}").ok();
    }
    writeln!(out, "{files}").ok();
    if a.files.total == 0 {
        out.push_str("\nNo files to analyze: the directory is empty, or everything in it is ignored.");
        return out;
    }

    if !a.languages.is_empty() {
        let name_w = a.languages.iter().take(LANGUAGES_SHOWN).map(|l| l.name.chars().count()).max().unwrap_or(0).max(9);
        let nums: Vec<[String; 4]> = a
            .languages
            .iter()
            .map(|l| [l.files, l.lines.code, l.lines.comment, l.lines.blank].map(thousands))
            .collect();
        let w: Vec<usize> = (0..4)
            .map(|i| nums.iter().take(LANGUAGES_SHOWN).map(|n| n[i].len()).max().unwrap_or(0).max([5, 4, 7, 5][i]))
            .collect();
        writeln!(
            out,
            "\n{}",
            s.bold(format!(
                "{:name_w$}  {:>w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                "Languages",
                "files",
                "code",
                "comment",
                "blank",
                name_w = name_w + 2,
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            ))
        )
        .ok();
        for (l, n) in a.languages.iter().zip(&nums).take(LANGUAGES_SHOWN) {
            writeln!(
                out,
                "  {:name_w$}  {:>w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                l.name,
                n[0],
                n[1],
                n[2],
                n[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            )
            .ok();
        }
        if a.languages.len() > LANGUAGES_SHOWN {
            let rest = &a.languages[LANGUAGES_SHOWN..];
            writeln!(
                out,
                "  {}",
                s.dim(format!("+{} more: {}", rest.len(), join_limited(rest, 6, |l| l.name.clone())))
            )
            .ok();
        }
    }

    out.push_str(&format!("\n{}\n", s.bold("Projects")));
    if a.projects.is_empty() {
        out.push_str("  none found (no Cargo.toml, package.json, pyproject.toml, go.mod, Makefile, ...)\n");
    }
    for p in a.projects.iter().take(PROJECTS_SHOWN) {
        writeln!(out, "  {}  {}", s.cyan(&p.dir), project_title(p)).ok();
        let rows = project_rows(p);
        let w = label_width(&rows);
        for (label, value) in &rows {
            writeln!(out, "  {}", row(s, label, w, value)).ok();
        }
    }
    if a.projects.len() > PROJECTS_SHOWN {
        writeln!(
            out,
            "  {}",
            s.dim(format!("+{} more projects (all in --output json)", a.projects.len() - PROJECTS_SHOWN))
        )
        .ok();
    }
    out.push_str(&format!("\n{}\n", s.bold("Checks (what `mmm improve` runs by default)")));
    if a.checks.is_empty() {
        out.push_str("  none found: set validate.commands in .mmm/config.toml\n");
    }
    let w = a.checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    for c in &a.checks {
        writeln!(out, "{}", row(s, &c.name, w, &c.command)).ok();
    }

    out.push_str(&format!("\n{}\n", s.bold("Structure")));
    let rows = structure_rows(a);
    let w = label_width(&rows);
    for (label, value) in &rows {
        writeln!(out, "{}", row(s, label, w, value)).ok();
    }

    let h = &a.health;
    let score = format!("{:.1}/10", h.score);
    let score = if h.score >= 7.0 {
        s.green(score)
    } else if h.score >= 4.0 {
        s.yellow(score)
    } else {
        s.red(score)
    };
    out.push_str(&format!("\n{} {score}\n", s.bold("Health")));
    let w = h.breakdown.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &h.breakdown {
        let name = c.name.replace('_', " ");
        writeln!(out, "{}", row(s, &name, w, &format!("{:>4.2}/{:.1}  {}", c.score, c.max, c.detail))).ok();
    }
    let rows = health_rows(a);
    let w = label_width(&rows);
    out.push('\n');
    for (label, value) in &rows {
        writeln!(out, "{}", row(s, label, w, value)).ok();
    }

    if !a.focus_areas.is_empty() {
        out.push_str(&format!("\n{}\n", s.bold("Focus")));
        for (i, f) in a.focus_areas.iter().enumerate() {
            writeln!(out, "  {}. {}: {}", i + 1, f.area.replace('_', " "), f.reason).ok();
        }
    }
    for w in &a.warnings {
        writeln!(out, "\n{} {w}", s.yellow("note:")).ok();
    }
    out.truncate(out.trim_end().len());
    out
}

/// The summary given to the model.
pub fn prompt_summary(a: &Analysis) -> String {
    let mut out = String::new();
    let primary = a.primary_language.as_deref().unwrap_or("none");
    writeln!(out, "Project analysis (mmm analyzer, schema v{})", a.version).ok();
    writeln!(
        out,
        "Files: {} ({} read); primary language: {primary}",
        thousands(a.files.total),
        thousands(a.files.scanned)
    )
    .ok();
    if !a.languages.is_empty() {
        let langs = join_limited(&a.languages, LANGUAGES_SHOWN, |l| {
            format!("{} {} code lines in {}", l.name, thousands(l.lines.code), plural(l.files, "file", "files"))
        });
        writeln!(out, "Languages: {langs}").ok();
    }
    writeln!(out, "Projects:{}", if a.projects.is_empty() { " none found" } else { "" }).ok();
    for p in a.projects.iter().take(PROJECTS_SHOWN) {
        let facts: Vec<String> = project_rows(p).into_iter().map(|(l, v)| format!("{l}: {v}")).collect();
        writeln!(out, "- {} {}; {}", p.dir, project_title(p), facts.join("; ")).ok();
    }
    if a.projects.len() > PROJECTS_SHOWN {
        writeln!(out, "- and {} more projects", a.projects.len() - PROJECTS_SHOWN).ok();
    }
    let checks: Vec<String> = a
        .checks
        .iter()
        .map(|c| if c.dir == "." { c.command.clone() } else { format!("(in {}) {}", c.dir, c.command) })
        .collect();
    writeln!(out, "Validation checks mmm runs: {}", if checks.is_empty() { "none".into() } else { checks.join("; ") })
        .ok();
    let structure: Vec<String> = structure_rows(a).into_iter().map(|(l, v)| format!("{l}: {v}")).collect();
    writeln!(out, "Structure: {}", structure.join("; ")).ok();
    writeln!(out, "Health score: {:.1}/10, the sum of:", a.health.score).ok();
    for c in &a.health.breakdown {
        writeln!(out, "- {} {:.2}/{:.1}: {}", c.name, c.score, c.max, c.detail).ok();
    }
    for (label, value) in health_rows(a) {
        writeln!(out, "{}: {value}", capitalize(label)).ok();
    }
    if !a.focus_areas.is_empty() {
        writeln!(out, "Focus areas, most urgent first:").ok();
        for (i, f) in a.focus_areas.iter().enumerate() {
            writeln!(out, "{}. {}: {}", i + 1, f.area, f.reason).ok();
        }
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
