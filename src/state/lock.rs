//! The lock of a work tree: at most one session edits a work tree at a time.
//!
//! `.mmm/lock` is held with an exclusive advisory lock (`flock`) for as long as a session
//! runs, and holds who holds it (pid, host, start time, session) for the message a second
//! session gets. The operating system drops the lock when its process ends, however it
//! ends (SIGKILL included), so a lock whose process is gone is simply taken over: there is
//! no stale-lock cleanup to get wrong. This module never waits for a lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub started_at: String,
    pub session: String,
}

/// A held work-tree lock; dropping it releases the lock.
#[derive(Debug)]
pub struct WorkTreeLock {
    _file: File,
    path: PathBuf,
}

impl WorkTreeLock {
    /// Takes the lock at `path` for `session`, or refuses (exit 2) naming the process that
    /// holds it.
    pub fn acquire(path: &Path, session: &str) -> anyhow::Result<Self> {
        crate::blocking::call(|| Self::acquire_now(path, session))
    }

    fn acquire_now(path: &Path, session: &str) -> anyhow::Result<Self> {
        match Self::try_acquire_now(path, session)? {
            Ok(lock) => Ok(lock),
            Err(holder) => {
                let who = holder.map_or_else(
                    || "another mmm process".to_string(),
                    |h| format!("mmm (pid {} on {}, session {}, since {})", h.pid, h.host, h.session, h.started_at),
                );
                Err(CliError::usage(format!("{who} is already running in this work tree"))
                    .with_hint(
                        "wait for it to finish or stop it (Ctrl+C), then run again; two sessions never share a work tree",
                    )
                    .into())
            }
        }
    }

    /// Takes the lock at `path` for `session` if it is free; when another process holds
    /// it, `Err` with who holds it (`None` when its holder file cannot be read).
    pub fn try_acquire(path: &Path, session: &str) -> anyhow::Result<Result<Self, Option<Holder>>> {
        crate::blocking::call(|| Self::try_acquire_now(path, session))
    }

    fn try_acquire_now(path: &Path, session: &str) -> anyhow::Result<Result<Self, Option<Holder>>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Err(serde_json::from_str::<Holder>(&text).ok()));
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
        let holder =
            Holder { pid: std::process::id(), host: host_name(), started_at: super::now(), session: session.into() };
        let mut bytes = serde_json::to_vec(&holder).context("serialising the lock holder")?;
        bytes.push(b'\n');
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(&bytes))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Ok(Self { _file: file, path: path.to_path_buf() }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This machine's name, for the lock message.
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
        // on success (and we stop at the first NUL or the end either way).
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "unknown host".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn a_second_holder_is_refused_by_name_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".mmm/lock");
        let first = WorkTreeLock::acquire(&path, "s1").unwrap();
        let err = WorkTreeLock::acquire(&path, "s2").unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.exit(), Exit::Usage);
        let text = cli.to_string();
        let expected_start = format!("mmm (pid {} on ", std::process::id());
        assert!(text.starts_with(&expected_start) && text.contains("session s1"), "{text}");
        drop(first);
        let again = WorkTreeLock::acquire(&path, "s2").unwrap();
        let holder: Holder = serde_json::from_str(&std::fs::read_to_string(again.path()).unwrap()).unwrap();
        assert_eq!((holder.pid, holder.session.as_str()), (std::process::id(), "s2"));
    }
}
