//! The analysis cache: `.mmm/cache/analysis.json` at the repository root, valid while HEAD,
//! the dirty files (path, size and modification time of everything `git status` lists) and
//! the options are unchanged. Outside a git repository, or for a subdirectory of one, there
//! is no cache. A cache file of another schema version, or one that does not parse, is
//! simply recomputed. Writes are atomic; a failed write only costs the next run some time.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::{Analysis, Options, SCHEMA_VERSION, analyze, canonical_dir};
use crate::git::Git;
use crate::settings::{MMM_DIR, find_repo_root};
use crate::state;

/// Where the analysis came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Reused from the cache.
    Hit,
    /// Computed and written to the cache.
    Miss,
    /// Computed; the caller asked not to use the cache.
    Disabled,
    /// Computed; no cache outside the root of a git repository.
    Unavailable,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Disabled => "disabled",
            CacheStatus::Unavailable => "unavailable",
        }
    }
}

/// What a cached analysis is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CacheKey {
    mmm_version: String,
    head: Option<String>,
    /// Fingerprint of the dirty files.
    dirty: String,
    /// Fingerprint of the options.
    options: String,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    key: CacheKey,
    analysis: Analysis,
}

/// The cache file of a repository root.
fn cache_path(repo_root: &Path) -> std::path::PathBuf {
    repo_root.join(MMM_DIR).join("cache").join("analysis.json")
}

/// The analysis of `root`, from the cache when it is still valid (and `use_cache`), else
/// computed (and cached when `root` is the top of a git repository).
pub fn load_or_analyze(root: &Path, opts: &Options, use_cache: bool) -> anyhow::Result<(Analysis, CacheStatus)> {
    let root = canonical_dir(root)?;
    if !use_cache {
        return Ok((analyze(&root, opts)?, CacheStatus::Disabled));
    }
    let Some(key) = key(&root, opts) else { return Ok((analyze(&root, opts)?, CacheStatus::Unavailable)) };
    let path = cache_path(&root);
    if let Some(analysis) = read(&path, &key) {
        return Ok((analysis, CacheStatus::Hit));
    }
    let analysis = analyze(&root, opts)?;
    let file = CacheFile { version: SCHEMA_VERSION, key, analysis };
    if let Err(e) = write(&path, &file) {
        tracing::warn!("could not write the analysis cache: {e:#}");
    }
    Ok((file.analysis, CacheStatus::Miss))
}

fn read(path: &Path, key: &CacheKey) -> Option<Analysis> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice::<CacheFile>(&bytes) {
        Ok(file) if file.version == SCHEMA_VERSION && file.analysis.version == SCHEMA_VERSION && file.key == *key => {
            Some(file.analysis)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("ignoring the analysis cache {}: {e}", path.display());
            None
        }
    }
}

fn write(path: &Path, file: &CacheFile) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // Keep the cache out of `git status` even in a repository that never ran `mmm init`.
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        state::write_atomic(&ignore, b"# mmm's cache: never committed\n*\n")?;
    }
    state::write_atomic(path, &serde_json::to_vec(file)?)
}

/// The cache key of `root` (canonical), or `None` when it is not the top of a git repository
/// (or git cannot tell).
fn key(root: &Path, opts: &Options) -> Option<CacheKey> {
    find_repo_root(root)?;
    let git = Git::open(root).ok()?;
    if git.root().canonicalize().ok()? != root {
        return None;
    }
    let head = git.head().ok()?;
    let mut status = git.status().ok()?;
    status.retain(|e| !e.path.starts_with(&format!("{MMM_DIR}/")));
    status.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = Fnv::default();
    for entry in &status {
        h.write(entry.code.as_bytes());
        h.write(entry.path.as_bytes());
        match std::fs::symlink_metadata(root.join(&entry.path)) {
            Ok(m) => {
                h.write(&m.len().to_le_bytes());
                let mtime = m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
                h.write(&mtime.as_nanos().to_le_bytes());
            }
            Err(_) => h.write(b"missing"),
        }
    }
    let mut o = Fnv::default();
    o.write(format!("{:?}|{}", opts.secret_files, opts.max_file_size).as_bytes());
    Some(CacheKey {
        mmm_version: env!("CARGO_PKG_VERSION").to_string(),
        head,
        dirty: format!("{}:{:016x}", status.len(), h.0),
        options: format!("{:016x}", o.0),
    })
}

/// FNV-1a, 64 bits: a fingerprint that is the same in every build.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separate fields so that ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
}
