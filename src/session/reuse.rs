//! Green check results reused on an identical tree (`.mmm/cache/checks.json`): when the work
//! tree is exactly HEAD's (nothing but `.mmm/` differs) and a check with the same command and
//! the same `pass_env` passed on that same tree in an earlier baseline (keyed by git's tree
//! hash), the baseline does not run it again: a retried or resumed workflow step starts
//! without paying for checks it already passed on that tree. It never reuses a
//! failure, a result from another tree or another command, or anything when the work tree
//! has any change git can see (an untracked file included), and the record says which
//! results were reused.

use serde::{Deserialize, Serialize};

use super::setup::is_mmm_path;
use crate::git::Git;
use crate::state::{self, Layout};

const VERSION: u32 = 1;

/// Most entries kept; the oldest go first.
const MAX_ENTRIES: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    command: String,
    tree: String,
    pass_env: Vec<String>,
}

/// The green results on record.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GreenChecks {
    version: u32,
    green: Vec<Entry>,
}

fn file(layout: &Layout) -> std::path::PathBuf {
    layout.dir().join("cache").join("checks.json")
}

/// HEAD's tree hash when the work tree is exactly HEAD's (only `.mmm/` may differ); `None`
/// otherwise, or when git cannot say.
pub fn clean_tree(git: &Git) -> Option<String> {
    let status = git.status().ok()?;
    if status.iter().any(|e| !is_mmm_path(&e.path)) {
        return None;
    }
    git.run(&["rev-parse", "HEAD^{tree}"]).ok().map(|t| t.trim().to_string())
}

impl GreenChecks {
    /// The record, or an empty one when it is missing or unreadable (nothing is reused).
    pub fn load(layout: &Layout) -> Self {
        state::read_json(&file(layout), VERSION, |from, _| anyhow::bail!("no migration from version {from}"))
            .unwrap_or_default()
    }

    /// Whether `command` passed on `tree` with these `pass_env`.
    pub fn passed(&self, command: &str, tree: &str, pass_env: &[String]) -> bool {
        self.green.iter().any(|e| e.command == command && e.tree == tree && e.pass_env == pass_env)
    }

    /// Records that `commands` passed on `tree` and saves the record (atomically). A failed
    /// save only means a later run runs the checks again.
    pub fn record<'a>(layout: &Layout, tree: &str, pass_env: &[String], commands: impl Iterator<Item = &'a str>) {
        let mut green = Self::load(layout);
        green.version = VERSION;
        for command in commands {
            let entry = Entry { command: command.to_string(), tree: tree.to_string(), pass_env: pass_env.to_vec() };
            green.green.retain(|e| *e != entry);
            green.green.push(entry);
        }
        let excess = green.green.len().saturating_sub(MAX_ENTRIES);
        green.green.drain(..excess);
        let _ = state::write_json(&file(layout), &green);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_command_tree_and_environment_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert!(!GreenChecks::load(&layout).passed("make test", "t1", &[]));
        GreenChecks::record(&layout, "t1", &[], ["make test", "make lint"].into_iter());
        let green = GreenChecks::load(&layout);
        assert!(green.passed("make test", "t1", &[]));
        assert!(!green.passed("make test", "t2", &[]));
        assert!(!green.passed("make test ", "t1", &[]));
        assert!(!green.passed("make test", "t1", &["TOKEN".to_string()]));
    }
}
