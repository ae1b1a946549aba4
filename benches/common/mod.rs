//! What the benchmarks share: running `mmm improve` on a repository against a fake server,
//! with a home of its own and the test key.

use std::path::Path;
use std::process::{Command, Output};

use crate::fake_api::TEST_KEY;

/// `mmm improve --no-cache --max-iterations <max_iterations>` in `dir`, run by the binary
/// `mmm`, against the fake server at `url`.
pub fn run_improve(mmm: &Path, dir: &Path, url: &str, max_iterations: usize) -> Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(mmm)
        .current_dir(dir)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("ANTHROPIC_API_KEY", TEST_KEY)
        .env("ANTHROPIC_BASE_URL", url)
        .args(["improve", "--no-cache", "--max-iterations"])
        .arg(max_iterations.to_string())
        .output()
        .unwrap()
}
