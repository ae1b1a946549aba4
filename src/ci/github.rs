//! The files GitHub Actions gives a step: `$GITHUB_OUTPUT`, where a step's outputs go for
//! later steps to read, and `$GITHUB_STEP_SUMMARY`, the Markdown shown on the run's page.
//!
//! Both are appended to, never rewritten: other commands in the same step write to them too.
//! Each write is one `write_all` of text built in memory first. Outputs are written in the
//! format GitHub's runner reads (`name=value`, or a heredoc with a random delimiter that is
//! guaranteed absent from the value), so a value can never end early or smuggle in another
//! output. Nothing here writes a secret: the values are session facts.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::report::ReportInput;

/// Where GitHub wants a step's outputs and summary, from the environment; each `None` when
/// its variable is unset or empty (outside GitHub Actions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Files {
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
}

impl Files {
    /// Reads `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` from `env` (name/value pairs).
    pub fn from_env(env: &[(String, String)]) -> Self {
        let path = |name| super::env_var(env, name).map(PathBuf::from);
        Self { output: path("GITHUB_OUTPUT"), step_summary: path("GITHUB_STEP_SUMMARY") }
    }
}

/// The step outputs of a session: `branch`, `commits` (how many), `score` (the latest, one
/// decimal; empty before any review), `cost_usd` (four decimals; empty when the price is
/// unknown) and `session` (the id).
pub fn outputs(report: &ReportInput<'_>) -> [(&'static str, String); 5] {
    [
        ("branch", report.branch.to_string()),
        ("commits", report.commits.len().to_string()),
        ("score", report.score_after.map(|s| format!("{s:.1}")).unwrap_or_default()),
        ("cost_usd", report.cost_usd.map(|c| format!("{c:.4}")).unwrap_or_default()),
        ("session", report.session.to_string()),
    ]
}

/// Appends `outputs` to the `$GITHUB_OUTPUT` file at `path`: `name=value` lines, and
/// `name<<ghadelimiter_<random>` heredocs for values that span lines. A name must be
/// letters, digits, `_` and `-`.
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> anyhow::Result<()> {
    write_outputs_with(path, outputs, &mut fastrand::Rng::new())
}

fn write_outputs_with(path: &Path, outputs: &[(&str, String)], rng: &mut fastrand::Rng) -> anyhow::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        anyhow::ensure!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "`{name}` is not a valid step output name (letters, digits, `_` and `-` only)"
        );
        if value.contains(['\n', '\r']) {
            let delimiter = loop {
                let candidate = format!("ghadelimiter_{:016x}{:016x}", rng.u64(..), rng.u64(..));
                if !value.contains(&candidate) {
                    break candidate;
                }
            };
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append(path, &text).with_context(|| format!("writing the step outputs to {} (GITHUB_OUTPUT)", path.display()))
}

/// Appends `markdown` to the `$GITHUB_STEP_SUMMARY` file at `path`, ending it with a newline.
pub fn append_step_summary(path: &Path, markdown: &str) -> anyhow::Result<()> {
    let text = if markdown.ends_with('\n') { markdown.to_string() } else { format!("{markdown}\n") };
    append(path, &text).with_context(|| format!("writing the job summary to {} (GITHUB_STEP_SUMMARY)", path.display()))
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads an output file the way GitHub's runner does: `name=value` lines, and
    /// `name<<DELIMITER` heredocs ending at a line that is exactly the delimiter.
    fn parse(text: &str) -> Vec<(String, String)> {
        let mut lines = text.split('\n');
        let mut outputs = Vec::new();
        while let Some(line) = lines.next() {
            if line.is_empty() {
                continue;
            }
            match (line.find('='), line.find("<<")) {
                (Some(eq), heredoc) if heredoc.is_none_or(|h| eq < h) => {
                    outputs.push((line[..eq].to_string(), line[eq + 1..].to_string()));
                }
                (_, Some(h)) => {
                    let delimiter = &line[h + 2..];
                    let mut value = Vec::new();
                    for l in lines.by_ref() {
                        if l == delimiter {
                            break;
                        }
                        value.push(l);
                    }
                    outputs.push((line[..h].to_string(), value.join("\n")));
                }
                _ => panic!("invalid output line {line:?}"),
            }
        }
        outputs
    }

    #[test]
    fn outputs_are_appended_in_githubs_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output");
        std::fs::write(&path, "earlier=1\n").unwrap();
        let multi = "line one\nbranch=evil\nghadelimiter_x\n".to_string();
        write_outputs(&path, &[("branch", "mmm/improve-1".into()), ("empty", String::new()), ("notes", multi.clone())])
            .unwrap();
        write_outputs(&path, &[("score", "7.5".into())]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier=1\nbranch=mmm/improve-1\nempty=\nnotes<<ghadelimiter_"), "{text}");
        let parsed = parse(&text);
        let expected =
            [("earlier", "1"), ("branch", "mmm/improve-1"), ("empty", ""), ("notes", &multi), ("score", "7.5")];
        assert_eq!(parsed, expected.map(|(n, v)| (n.to_string(), v.to_string())));
    }

    #[test]
    fn a_heredoc_delimiter_never_occurs_in_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output");
        // The value holds exactly the delimiter the seeded generator offers first.
        let mut probe = fastrand::Rng::with_seed(7);
        let first = format!("ghadelimiter_{:016x}{:016x}", probe.u64(..), probe.u64(..));
        let value = format!("a\n{first}\nb");
        write_outputs_with(&path, &[("notes", value.clone())], &mut fastrand::Rng::with_seed(7)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let delimiter = text.lines().next().unwrap().strip_prefix("notes<<").unwrap();
        assert_ne!(delimiter, first);
        assert_eq!(text, format!("notes<<{delimiter}\n{value}\n{delimiter}\n"));
        assert_eq!(parse(&text), [("notes".to_string(), value)]);
    }

    #[test]
    fn bad_names_and_unwritable_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output");
        for name in ["", "a=b", "a<<b", "a\nb"] {
            let err = write_outputs(&path, &[(name, "x".into())]).unwrap_err();
            assert!(err.to_string().contains("not a valid step output name"), "{err:#}");
        }
        assert!(!path.exists(), "nothing is written when a name is refused");
        let missing = dir.path().join("no-such-dir").join("output");
        let err = write_outputs(&missing, &[("a", "b".into())]).unwrap_err();
        assert!(err.to_string().starts_with("writing the step outputs to "), "{err:#}");
        let err = append_step_summary(&missing, "# x").unwrap_err();
        assert!(err.to_string().contains("(GITHUB_STEP_SUMMARY)"), "{err:#}");
    }

    #[test]
    fn the_step_summary_is_appended_with_a_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary");
        append_step_summary(&path, "## first").unwrap();
        append_step_summary(&path, "## second\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "## first\n## second\n");
    }

    #[test]
    fn files_come_from_the_environment() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(Files::from_env(&env(&[])), Files::default());
        assert_eq!(
            Files::from_env(&env(&[("GITHUB_OUTPUT", "/r/out"), ("GITHUB_STEP_SUMMARY", "/r/sum"), ("HOME", "/h")])),
            Files { output: Some("/r/out".into()), step_summary: Some("/r/sum".into()) }
        );
        assert_eq!(Files::from_env(&env(&[("GITHUB_OUTPUT", "")])), Files::default());
    }

    #[test]
    fn session_outputs() {
        let report = ReportInput {
            command: "mmm improve",
            status: "completed",
            session: "20261124-061000",
            branch: "mmm/improve-20261124-061000",
            score_before: Some(6.0),
            score_after: Some(7.46),
            iterations: vec![],
            commits: vec!["abc", "def"],
            stop_reason: None,
            tokens: 0,
            cost_usd: Some(0.123456),
            elapsed_secs: 0,
        };
        assert_eq!(
            outputs(&report),
            [
                ("branch", "mmm/improve-20261124-061000".to_string()),
                ("commits", "2".to_string()),
                ("score", "7.5".to_string()),
                ("cost_usd", "0.1235".to_string()),
                ("session", "20261124-061000".to_string()),
            ]
        );
        let unknown = ReportInput { score_after: None, cost_usd: None, commits: vec![], ..report };
        let values = outputs(&unknown).map(|(_, v)| v);
        assert_eq!(values, ["mmm/improve-20261124-061000", "0", "", "", "20261124-061000"].map(String::from));
    }
}
