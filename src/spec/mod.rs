//! Spec files: Markdown with optional YAML front matter that says what to build and how
//! to tell it is done (the acceptance criteria). This module reads them, orders a
//! directory of them by their dependencies, ticks criteria in place, and writes new
//! skeletons. It never talks to git, the model or the state: the engine in
//! `session::spec` does.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::error::CliError;

/// The front matter a spec may have; any other key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<String>,
    title: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    validate: Vec<String>,
    max_iterations: Option<u32>,
}

/// One acceptance criterion: a checkbox item under the criteria heading.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    pub text: String,
    /// Ticked (`- [x]`) in the file.
    pub done: bool,
    /// The 0-based line of the file it is on.
    line: usize,
}

/// A parsed spec file.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub id: String,
    pub title: String,
    pub path: PathBuf,
    pub depends_on: Vec<String>,
    /// Extra checks, run after the project's own.
    pub validate: Vec<String>,
    pub max_iterations: Option<u32>,
    /// The Markdown after the front matter.
    pub body: String,
    pub criteria: Vec<Criterion>,
}

/// A usage error at `path:at` (`at` is a line, or `line:column`).
fn usage_at(path: &Path, at: impl std::fmt::Display, message: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("{}:{at}: {message}", path.display()))
        .with_hint("see `mmm spec new --help` for the format of a spec file")
}

/// Reads and parses one spec file.
pub fn load(path: &Path) -> anyhow::Result<Spec> {
    load_in(Path::new(""), path)
}

/// Reads and parses the spec file at `path` relative to `base` (absolute paths stay as
/// they are). The spec keeps `path` as given, so errors name it the way the user typed it.
pub fn load_in(base: &Path, path: &Path) -> anyhow::Result<Spec> {
    let text =
        std::fs::read_to_string(base.join(path)).with_context(|| format!("reading the spec {}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// Parses a spec's text; `path` names it in errors and gives the default id.
pub fn parse(path: &Path, text: &str) -> Result<Spec, CliError> {
    let (front, body, body_line) = split_front_matter(path, text)?;
    let front: FrontMatter = match front {
        Some(yaml) if !yaml.trim().is_empty() => serde_saphyr::from_str(yaml).map_err(|e| {
            // The YAML starts on the file's second line.
            let (line, column) = e.location().map_or((2, 0), |l| (l.line() as usize + 1, l.column() as usize));
            let text = e.to_string();
            let message = strip_location(first_line(&text));
            match column {
                0 => usage_at(path, line, format!("malformed front matter: {message}")),
                column => usage_at(path, format!("{line}:{column}"), format!("malformed front matter: {message}")),
            }
        })?,
        _ => FrontMatter::default(),
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let id = front.id.unwrap_or(stem);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(usage_at(
            path,
            1,
            format!("the spec id `{id}` must be letters, digits, `-`, `_` or `.` (it names a git branch)"),
        ));
    }
    let (heading, criteria) = scan_body(body, body_line);
    let title = front.title.or(heading).unwrap_or_else(|| id.clone());
    Ok(Spec {
        id,
        title,
        path: path.to_path_buf(),
        depends_on: front.depends_on,
        validate: front.validate,
        max_iterations: front.max_iterations,
        body: body.to_string(),
        criteria,
    })
}

/// The YAML error's own text without its `error: line 2 column 13: ` prefix (its line is the
/// YAML's, not the file's).
pub(crate) fn strip_location(text: &str) -> &str {
    let rest = text.strip_prefix("error: ").unwrap_or(text);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((position, message)) if position.split(' ').next().is_some_and(|n| n.parse::<u64>().is_ok()) => message,
        _ => rest,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Splits `---\n<yaml>\n---\n<body>`; returns the YAML (if any), the body, and the 0-based
/// line the body starts on.
fn split_front_matter<'t>(path: &Path, text: &'t str) -> Result<(Option<&'t str>, &'t str, usize), CliError> {
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return Ok((None, text, 0));
    };
    let mut offset = 0;
    for (i, line) in rest.split_inclusive('\n').enumerate() {
        if matches!(line.trim_end(), "---" | "...") {
            return Ok((Some(&rest[..offset]), &rest[offset + line.len()..], i + 2));
        }
        offset += line.len();
    }
    Err(usage_at(path, 1, "the front matter opened with `---` is never closed with a `---` line"))
}

/// A Markdown ATX heading: its level and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let level = trimmed.bytes().take_while(|&b| b == b'#').count();
    let rest = &trimmed[level..];
    if (1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
        Some((level, rest.trim().trim_end_matches('#').trim()))
    } else {
        None
    }
}

/// A checkbox item: whether it is ticked, and its text.
fn checkbox(line: &str) -> Option<(bool, &str)> {
    let item = line.trim_start().strip_prefix(['-', '*', '+'])?.strip_prefix(' ')?;
    let (done, text) = if let Some(t) = item.strip_prefix("[ ]") {
        (false, t)
    } else {
        (true, item.strip_prefix("[x]").or_else(|| item.strip_prefix("[X]"))?)
    };
    Some((done, text.trim()))
}

fn is_criteria_heading(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text == "acceptance criteria" || text == "success criteria"
}

/// The first `# ` heading and the criteria, skipping fenced code blocks.
fn scan_body(body: &str, first_line: usize) -> (Option<String>, Vec<Criterion>) {
    let mut title = None;
    let mut criteria = Vec::new();
    let mut section: Option<usize> = None;
    let mut fence: Option<&str> = None;
    for (i, line) in body.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            continue;
        }
        if let Some((level, text)) = heading(line) {
            if level == 1 && title.is_none() && !text.is_empty() {
                title = Some(text.to_string());
            }
            if section.is_some_and(|open| level <= open) {
                section = None;
            }
            if section.is_none() && is_criteria_heading(text) {
                section = Some(level);
            }
            continue;
        }
        if section.is_some()
            && let Some((done, text)) = checkbox(line)
        {
            criteria.push(Criterion { text: text.to_string(), done, line: first_line + i });
        }
    }
    (title, criteria)
}

/// `text` with every criterion of `spec` ticked (`- [ ]` → `- [x]`); every other byte as it was.
pub fn tick(text: &str, spec: &Spec) -> String {
    let lines: std::collections::HashSet<usize> = spec.criteria.iter().map(|c| c.line).collect();
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        match line.find("[ ]").filter(|_| lines.contains(&i)) {
            Some(at) => {
                out.push_str(&line[..at]);
                out.push_str("[x]");
                out.push_str(&line[at + 3..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Every `*.md` spec in `dir` (not recursive), sorted by file name; a duplicate id is an error.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<Spec>> {
    load_dir_in(Path::new(""), dir)
}

/// [`load_dir`] for `dir` relative to `base`; the specs' paths are `dir/<name>`.
pub fn load_dir_in(base: &Path, dir: &Path) -> anyhow::Result<Vec<Spec>> {
    let entries = std::fs::read_dir(base.join(dir)).map_err(|e| {
        CliError::usage(format!("cannot read the spec directory {}: {e}", dir.display()))
            .with_hint("create one with `mmm spec new \"Title\"`")
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = dir.join(entry.file_name());
        let is_spec = path.extension().is_some_and(|e| e == "md")
            && entry.path().is_file()
            && !path.file_name().is_some_and(|n| n.eq_ignore_ascii_case("README.md"));
        if is_spec {
            paths.push(path);
        }
    }
    paths.sort();
    let specs = paths.iter().map(|p| load_in(base, p)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for spec in &specs {
        if let Some(first) = seen.insert(&spec.id, &spec.path) {
            return Err(usage_at(
                &spec.path,
                1,
                format!("the spec id `{}` is already used by {}", spec.id, first.display()),
            )
            .into());
        }
    }
    Ok(specs)
}

/// The specs in dependency order (a spec after everything it depends on; otherwise in
/// file order). A missing dependency or a cycle is an error naming the specs.
pub fn order(specs: &[Spec]) -> Result<Vec<&Spec>, CliError> {
    let index: HashMap<&str, usize> = specs.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    for spec in specs {
        if let Some(missing) = spec.depends_on.iter().find(|d| !index.contains_key(d.as_str())) {
            return Err(CliError::usage(format!(
                "spec `{}` ({}) depends on `{missing}`, which is not a spec in this directory",
                spec.id,
                spec.path.display()
            ))
            .with_hint("fix `depends_on` in its front matter, or add the missing spec"));
        }
    }
    let mut placed = vec![false; specs.len()];
    let mut ordered = Vec::with_capacity(specs.len());
    while ordered.len() < specs.len() {
        let next =
            (0..specs.len()).find(|&i| !placed[i] && specs[i].depends_on.iter().all(|d| placed[index[d.as_str()]]));
        match next {
            Some(i) => {
                placed[i] = true;
                ordered.push(&specs[i]);
            }
            None => {
                let stuck: Vec<&str> =
                    specs.iter().zip(&placed).filter(|(_, p)| !**p).map(|(s, _)| s.id.as_str()).collect();
                return Err(CliError::usage(format!(
                    "the specs depend on each other in a cycle: {}",
                    stuck.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ))
                .with_hint("remove one of the `depends_on` entries that close the cycle"));
            }
        }
    }
    Ok(ordered)
}

/// `Retry budget!` → `retry-budget`.
pub fn slug(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(48).collect::<String>().trim_end_matches('-').to_string()
}

/// The skeleton `mmm spec new` writes.
pub fn skeleton(id: &str, title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "---\nid: {id}\ndepends_on: []\n# validate: [\"cargo test some_test\"]   # extra checks for this spec\n\
         # max_iterations: 5\n---\n# {title}\n\n\
         Describe the goal here: what should change, for whom, and why. Name the files, commands\n\
         or behaviour involved and anything that must stay as it is. The model reads this text,\n\
         the criteria below and the project itself; it cannot ask you questions.\n\n\
         ## Acceptance Criteria\n\n\
         - [ ] One observable fact that holds when this is done (replace this example)\n"
    );
    s
}

/// Writes `dir/NNN-<slug>.md` (the next free number) and returns its path.
pub fn create(dir: &Path, title: &str) -> anyhow::Result<PathBuf> {
    let slug = slug(title);
    if slug.is_empty() {
        return Err(CliError::usage(format!("the title `{title}` has no letters or digits to name the file with"))
            .with_hint("give a title such as \"Retry budget\"")
            .into());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut highest = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u32>() {
            highest = highest.max(n);
        }
    }
    let id = format!("{:03}-{slug}", highest + 1);
    let path = dir.join(format!("{id}.md"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, skeleton(&id, title).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "---\nid: 014-retry\ndepends_on: [012-http]\nvalidate: [\"cargo test retry\"]\nmax_iterations: 5\n---\n\
# Retry budget\n\nRetry politely.\n\n```\n# not a heading\n- [ ] not a criterion\n```\n\
## Acceptance criteria\n\n- [ ] A 429 is retried\n- [x] Already true\n  - [ ] nested one\n\
### Notes\n- [ ] still criteria (deeper heading)\n## Other\n- [ ] not a criterion\n";

    fn spec(text: &str) -> Result<Spec, CliError> {
        parse(Path::new("specs/014-retry-budget.md"), text)
    }

    #[test]
    fn front_matter_and_criteria_are_read() {
        let s = spec(SPEC).unwrap();
        assert_eq!((s.id.as_str(), s.title.as_str()), ("014-retry", "Retry budget"));
        assert_eq!(s.depends_on, vec!["012-http"]);
        assert_eq!(s.validate, vec!["cargo test retry"]);
        assert_eq!(s.max_iterations, Some(5));
        let texts: Vec<(&str, bool)> = s.criteria.iter().map(|c| (c.text.as_str(), c.done)).collect();
        assert_eq!(
            texts,
            vec![
                ("A 429 is retried", false),
                ("Already true", true),
                ("nested one", false),
                ("still criteria (deeper heading)", false)
            ]
        );
        assert!(s.body.starts_with("# Retry budget\n"));
    }

    #[test]
    fn defaults_come_from_the_file_name_and_the_heading() {
        let s = spec("Intro\n# The title\n## Success Criteria\n- [ ] works\n").unwrap();
        assert_eq!((s.id.as_str(), s.title.as_str(), s.criteria.len()), ("014-retry-budget", "The title", 1));
        let s = spec("no heading, no criteria\n").unwrap();
        assert_eq!((s.title.as_str(), s.criteria.len()), ("014-retry-budget", 0));
    }

    #[test]
    fn bad_front_matter_names_the_file_and_line() {
        let err = spec("---\nid: x\ntitel: typo\n---\n# T\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "specs/014-retry-budget.md:3:1: malformed front matter: unknown field `titel`, expected one of id, \
             title, depends_on, validate, max_iterations"
        );
        let err = spec("---\nid: x\ndepends_on: [a\n---\n").unwrap_err();
        assert_eq!(err.to_string(), "specs/014-retry-budget.md:3:13: malformed front matter: unclosed bracket '['");
        let err = spec("---\nid: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "specs/014-retry-budget.md:1: the front matter opened with `---` is never closed with a `---` line"
        );
        let err = spec("---\nid: has space\n---\n").unwrap_err();
        assert!(err.to_string().contains("the spec id `has space` must be"), "{err}");
    }

    #[test]
    fn ticking_changes_only_the_criteria_boxes() {
        let s = spec(SPEC).unwrap();
        let ticked = tick(SPEC, &s);
        assert_eq!(
            ticked,
            SPEC.replace("- [ ] A 429", "- [x] A 429")
                .replace("  - [ ] nested", "  - [x] nested")
                .replace("- [ ] still", "- [x] still")
        );
        let crlf = "# T\r\n## Acceptance Criteria\r\n- [ ] a\r\n";
        let s = spec(crlf).unwrap();
        assert_eq!(tick(crlf, &s), "# T\r\n## Acceptance Criteria\r\n- [x] a\r\n");
    }

    fn named(id: &str, deps: &[&str]) -> Spec {
        let mut s = spec("# T\n").unwrap();
        s.id = id.into();
        s.depends_on = deps.iter().map(|d| d.to_string()).collect();
        s
    }

    #[test]
    fn specs_are_ordered_by_dependency_and_cycles_are_refused() {
        let specs = vec![named("a", &["c"]), named("b", &[]), named("c", &["b"])];
        let ids: Vec<&str> = order(&specs).unwrap().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c", "a"]);
        let cycle = vec![named("a", &["b"]), named("b", &["a"]), named("c", &[])];
        assert_eq!(order(&cycle).unwrap_err().to_string(), "the specs depend on each other in a cycle: `a`, `b`");
        let missing = vec![named("a", &["zz"])];
        assert!(order(&missing).unwrap_err().to_string().contains("depends on `zz`, which is not a spec"));
    }

    #[test]
    fn new_specs_are_numbered_after_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(slug("Retry budget: HTTP/2!"), "retry-budget-http-2");
        let first = create(dir.path(), "Retry budget").unwrap();
        assert!(first.ends_with("001-retry-budget.md"));
        std::fs::write(dir.path().join("007-x.md"), "# x\n").unwrap();
        let next = create(dir.path(), "Next one").unwrap();
        assert!(next.ends_with("008-next-one.md"));
        let parsed = load(&first).unwrap();
        assert_eq!(
            (parsed.id.as_str(), parsed.title.as_str(), parsed.criteria.len()),
            ("001-retry-budget", "Retry budget", 1)
        );
        assert!(create(dir.path(), "!!!").is_err());
    }
}
