//! Helpers shared by the integration tests: a temporary project (optionally a git
//! repository with its own identity) and a `mmm` command whose environment holds nothing
//! from the developer's machine.

pub mod fake_api;
pub mod fake_openai;
pub mod schema;
pub mod script;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use tempfile::TempDir;

/// A temporary directory to run mmm in, with a home and config directory of its own.
pub struct Project {
    _tmp: TempDir,
    /// The project directory (a git repository when made with [`Project::git`]).
    pub root: PathBuf,
    /// Stands in for `$HOME`; `$XDG_CONFIG_HOME` is `home/.config`, `$XDG_DATA_HOME`
    /// `home/.local/share`.
    pub home: PathBuf,
}

impl Project {
    /// An empty directory that is not a git repository.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let root = tmp.path().join("project");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        Self { _tmp: tmp, root, home }
    }

    /// A git repository with a test identity and one commit.
    pub fn git() -> Self {
        let p = Self::new();
        p.run_git(&["init", "-q", "-b", "main"]);
        p.run_git(&["config", "user.name", "mmm tests"]);
        p.run_git(&["config", "user.email", "tests@mmm.invalid"]);
        p.run_git(&["config", "commit.gpgsign", "false"]);
        p.write("README.md", "# sample\n");
        p.run_git(&["add", "-A"]);
        p.run_git(&["commit", "-q", "-m", "initial"]);
        p
    }

    /// Writes a file relative to the project root, creating directories.
    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Reads a file relative to the project root.
    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root.join(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
    }

    /// The global settings file mmm reads for this project's home.
    pub fn global_config(&self) -> PathBuf {
        self.home.join(".config/mmm/config.toml")
    }

    /// Runs git in the project and returns its stdout; panics on failure.
    pub fn run_git(&self, args: &[&str]) -> String {
        let out = StdCommand::new("git").args(args).current_dir(&self.root).output().expect("running git");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A bare repository added as this project's `origin`, to push to.
    pub fn bare_origin(&self) -> TempDir {
        let remote = tempfile::tempdir().expect("temporary directory");
        let status = StdCommand::new("git").args(["init", "-q", "--bare"]).arg(remote.path()).status().unwrap();
        assert!(status.success(), "git init --bare failed");
        self.run_git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
        remote
    }

    /// `mmm` with the project as working directory and a clean environment.
    pub fn mmm(&self) -> Command {
        mmm_in(&self.root, &self.home)
    }
}

/// `mmm` in `dir`, with every variable that could change its behaviour removed and
/// `HOME` / `XDG_CONFIG_HOME` / `XDG_DATA_HOME` (the index) pointing into `home`.
pub fn mmm_in(dir: &Path, home: &Path) -> Command {
    Command::from_std(mmm_std(dir, home))
}

/// The same as [`mmm_in`], as a plain `std` command (for a test that spawns mmm and
/// signals it while it runs).
pub fn mmm_std(dir: &Path, home: &Path) -> StdCommand {
    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("mmm"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("MMM_")
            || key.starts_with("ANTHROPIC_")
            || key.starts_with("OPENAI_")
            || key.starts_with("GITHUB_")
            || ["NO_COLOR", "RUST_LOG", "CI", "CLICOLOR_FORCE", "XDG_CONFIG_HOME", "XDG_DATA_HOME"].contains(&key.as_ref())
            // A proxy would stand between mmm and the fake APIs on loopback.
            || ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"].contains(&key.to_ascii_uppercase().as_str())
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("HOME", home).env("XDG_CONFIG_HOME", home.join(".config")).env("XDG_DATA_HOME", home.join(".local/share"));
    cmd
}

/// The commit a branch of a (bare) repository points at, with a newline, or "" if none.
pub fn branch_head(repo: &Path, branch: &str) -> String {
    let out = StdCommand::new("git").arg("-C").arg(repo).args(["rev-parse", &format!("refs/heads/{branch}")]).output();
    String::from_utf8(out.expect("running git").stdout).unwrap()
}

/// Stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// Stderr of a finished command as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Parses stdout as JSON lines, failing if any line is not a JSON object of a type that
/// `docs/events.schema.json` documents.
pub fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            assert!(value.is_object(), "not a JSON object: {line}");
            if let Err(e) = schema::check(&value) {
                panic!("a line that docs/events.schema.json does not describe:\n{line}\n{e}");
            }
            value
        })
        .collect()
}
