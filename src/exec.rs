//! Running the project's validation commands (build, lint, test) and workflows' shell steps.
//!
//! Validation is mmm's word, not the model's: success means the project's own commands
//! passed when mmm ran them. The commands come only from the user's configuration or the
//! analyzer, never from the model. Each is a string the user wrote (`cargo test && cargo
//! clippy`), so it runs through the platform shell (`sh -c` on Unix, `cmd /C` on Windows)
//! exactly as written; mmm never interpolates anything into it.
//!
//! A command runs with stdin closed, in its own process group, under a timeout. On timeout,
//! after it exits (stragglers it left in the background) and when the caller drops the
//! future (an interrupted mmm), the whole group is killed, so no build outlives its run.
//! If mmm itself dies without a chance to clean up (SIGKILL, a crash), a watchdog kills the
//! group: a tiny `sh` outside the group, started before the command, that waits for EOF on
//! a pipe only mmm holds open.
//!
//! Commands never see mmm's own credentials: `ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`,
//! `OPENAI_API_KEY` and the variable the `api_key_env` setting names ([`hide_credential`]) are removed from the environment of everything mmm starts (checks, git and its hooks)
//! unless the user passes one through by name (`validate.pass_env`). Code the model wrote
//! runs as a check; it must have no key to print.
//! Its stdout and stderr are read together as they arrive, so a chatty command never
//! blocks on a full pipe, and only the head and tail of the output are kept, in memory
//! bounded however much it prints. The kept output is redacted (see [`crate::redact`])
//! because it is fed back to the model.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Lines kept from the start of the output.
const HEAD_LINES: usize = 100;
/// Lines kept from the end of the output.
const TAIL_LINES: usize = 200;
/// Byte caps for the head and the tail, for output made of very long lines.
const HEAD_BYTES: usize = 16 * 1024;
const TAIL_BYTES: usize = 32 * 1024;
/// Longer lines are shortened to this many bytes.
const MAX_LINE_BYTES: usize = 2000;
/// After the command has exited (or been killed), how long to wait for its pipes to close.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// mmm's own credentials: never in the environment of a process mmm starts.
pub const CREDENTIAL_VARS: &[&str] = &["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_API_KEY"];

/// Variables the settings name as holding a credential (`api_key_env`), hidden like
/// [`CREDENTIAL_VARS`] for the rest of the process.
static HIDDEN: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Hides the variable `name` from every process mmm starts from now on, as a credential.
pub fn hide_credential(name: &str) {
    let mut hidden = HIDDEN.write().unwrap_or_else(PoisonError::into_inner);
    if !CREDENTIAL_VARS.contains(&name) && !hidden.iter().any(|h| h == name) {
        hidden.push(name.to_string());
    }
}

/// Whether the variable `name` holds one of mmm's credentials ([`CREDENTIAL_VARS`], or one
/// given to [`hide_credential`]).
pub fn is_credential(name: &str) -> bool {
    CREDENTIAL_VARS.contains(&name) || HIDDEN.read().unwrap_or_else(PoisonError::into_inner).iter().any(|h| h == name)
}

/// Text from something mmm ran (a plugin's tool result) bounded and redacted exactly like
/// a check's output: the first and last lines with a `[... N lines omitted ...]` marker
/// between, very long lines shortened, keys redacted.
pub fn bounded_output(text: &str) -> String {
    let mut capture = Capture::default();
    capture.push(Stream::Stdout, text.as_bytes());
    capture.finish(Stream::Stdout);
    crate::redact::redact(&capture.render()).into_owned()
}

/// Removes mmm's credentials ([`CREDENTIAL_VARS`] and those given to [`hide_credential`])
/// from `command`'s environment, except those named in `pass` (the user's `validate.pass_env`).
pub fn without_credentials<'c>(
    command: &'c mut std::process::Command,
    pass: &[String],
) -> &'c mut std::process::Command {
    let hidden = HIDDEN.read().unwrap_or_else(PoisonError::into_inner);
    let names = CREDENTIAL_VARS.iter().copied().chain(hidden.iter().map(String::as_str));
    for name in names.filter(|name| !pass.iter().any(|p| p == name)) {
        command.env_remove(name);
    }
    command
}

/// What one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// The command as given.
    pub command: String,
    /// The exit code; `None` when it was killed by a signal or timed out.
    pub exit_code: Option<i32>,
    /// True when it ran past its timeout and was killed.
    pub timed_out: bool,
    pub duration: Duration,
    /// stdout and stderr interleaved as they arrived; long output keeps its first and last
    /// lines with a `[... N lines omitted ...]` marker between. Redacted.
    pub output: String,
    /// What it used, where the platform reports it (`wait4`); `None` when it timed out.
    pub resources: Option<Resources>,
}

/// CPU time and peak memory of a command and the processes it waited for (`wait4`'s
/// rusage of the child mmm waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// User plus system time, in milliseconds.
    pub cpu_ms: u64,
    /// The largest resident set, in KiB.
    pub peak_rss_kb: u64,
}

impl CommandResult {
    /// True when the command exited 0 within its timeout.
    pub fn passed(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }
}

/// Runs `command` through the shell in `dir`, killing it (and everything it started) after
/// `timeout`. Its environment is this process's without mmm's credentials, except those
/// named in `pass_env`. A command that cannot be started at all (no shell, no such
/// directory) is an error; a command that fails or times out is a [`CommandResult`] saying
/// so.
pub async fn run(command: &str, dir: &Path, timeout: Duration, pass_env: &[String]) -> anyhow::Result<CommandResult> {
    run_with_env(command, dir, timeout, pass_env, &[]).await
}

/// [`run`] with variables `env` added to the command's environment (a workflow's shell
/// step reads its inputs and earlier steps' results there: values are passed as data, never
/// spliced into the command). They are set after mmm's credentials are removed, so a
/// workflow that names one on purpose passes it.
pub async fn run_with_env(
    command: &str,
    dir: &Path,
    timeout: Duration,
    pass_env: &[String],
    env: &[(String, String)],
) -> anyhow::Result<CommandResult> {
    let mut cmd = shell(command, dir);
    without_credentials(cmd.as_std_mut(), pass_env);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    run_captured(cmd, command, dir, timeout, None).await
}

/// Runs the program `argv` (no shell: each argument is passed as it is) in `dir`, sandboxed
/// like a check (with the network when `network`), with `input` on its stdin, none of
/// mmm's credentials whatever `validate.pass_env` says, and the same timeout, capture and
/// redaction as [`run`]: for hooks and command tools.
pub async fn run_argv(
    argv: &[String],
    dir: &Path,
    timeout: Duration,
    input: Vec<u8>,
    network: bool,
) -> anyhow::Result<CommandResult> {
    let label = argv.join(" ");
    let args: Vec<std::ffi::OsString> = argv.iter().map(Into::into).collect();
    anyhow::ensure!(!args.is_empty(), "an empty command");
    let mut cmd = tokio::process::Command::from(crate::sandbox::command(&args, dir, network));
    without_credentials(cmd.as_std_mut(), &[]);
    run_captured(cmd, &label, dir, timeout, Some(input)).await
}

/// Starts `cmd` in `dir` in its own process group and captures what it prints until it
/// exits or `timeout` passes; `input` is written to its stdin (else stdin is closed).
async fn run_captured(
    mut cmd: tokio::process::Command,
    command: &str,
    dir: &Path,
    timeout: Duration,
    input: Option<Vec<u8>>,
) -> anyhow::Result<CommandResult> {
    let stdin = if input.is_some() { Stdio::piped() } else { Stdio::null() };
    cmd.current_dir(dir).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    // On Unix the group is killed on drop ([`ProcessGroup`]); the child itself is reaped by
    // `wait4`, after which a kill by pid could hit a reused pid.
    #[cfg(unix)]
    cmd.process_group(0);
    #[cfg(not(unix))]
    cmd.kill_on_drop(true);

    let started = Instant::now();
    // The watchdog starts first, so that no instant exists in which the command runs
    // unguarded; it learns the group id right after the command starts.
    let watchdog = start_watchdog();
    let mut child = cmd.spawn().with_context(|| format!("starting `{command}` in {}", dir.display()))?;
    let mut group = ProcessGroup::of(&child, watchdog).await;
    let capture = Arc::new(Mutex::new(Capture::default()));
    let stdout = child.stdout.take().context("the command's stdout was not captured")?;
    let stderr = child.stderr.take().context("the command's stderr was not captured")?;
    let mut reader = tokio::spawn(pump(stdout, stderr, Arc::clone(&capture)));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Written beside the wait: a command that does not read it cannot block mmm.
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&input).await;
        });
    }

    let status = match tokio::time::timeout(timeout, wait(&mut child)).await {
        Ok(status) => Some(status.with_context(|| format!("waiting for `{command}`"))?),
        Err(_elapsed) => None,
    };
    let duration = started.elapsed();
    // Timed out: everything goes. Exited: whatever it left running in the background goes.
    // (The leader is reaped by now, but while any member lives the kernel does not reuse
    // its id; with none left the kill finds no group and does nothing.)
    group.kill();
    // Unix: the `wait4` thread reaps the killed leader on its own.
    #[cfg(not(unix))]
    if status.is_none() {
        child.start_kill().ok();
        child.wait().await.ok();
    }
    if tokio::time::timeout(DRAIN_GRACE, &mut reader).await.is_err() {
        // A process that left the group still holds the pipes; keep what arrived.
        reader.abort();
    }

    let output = capture.lock().unwrap_or_else(PoisonError::into_inner).render();
    Ok(CommandResult {
        command: command.to_string(),
        exit_code: status.and_then(|(s, _)| s.code()),
        timed_out: status.is_none(),
        resources: status.and_then(|(_, r)| r),
        duration,
        output: crate::redact::redact(&output).into_owned(),
    })
}

/// Waits for `child` to exit and reaps it, with what it used. On Unix through `wait4` (on a
/// blocking thread: it blocks until the child exits, which the group kill makes happen).
#[cfg(unix)]
async fn wait(child: &mut tokio::process::Child) -> std::io::Result<(std::process::ExitStatus, Option<Resources>)> {
    use std::os::unix::process::ExitStatusExt;
    let Some(pid) = child.id().and_then(|id| libc::pid_t::try_from(id).ok()) else {
        return child.wait().await.map(|s| (s, None));
    };
    let reaped = tokio::task::spawn_blocking(move || {
        loop {
            let mut status = 0;
            // SAFETY: an all-zero rusage is a valid value of the plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: wait4 writes only to the two out-parameters, which live on this stack.
            let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if got == pid {
                return Ok((std::process::ExitStatus::from_raw(status), Some(resources(&usage))));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    });
    reaped.await.map_err(std::io::Error::other)?
}

#[cfg(not(unix))]
async fn wait(child: &mut tokio::process::Child) -> std::io::Result<(std::process::ExitStatus, Option<Resources>)> {
    child.wait().await.map(|s| (s, None))
}

/// CPU time and peak memory from an rusage (`ru_maxrss` is KiB on Linux, bytes on macOS).
#[cfg(unix)]
fn resources(usage: &libc::rusage) -> Resources {
    let ms = |t: libc::timeval| (t.tv_sec as u64) * 1000 + (t.tv_usec as u64) / 1000;
    let maxrss = usage.ru_maxrss.max(0) as u64;
    let peak_rss_kb = if cfg!(target_os = "macos") { maxrss / 1024 } else { maxrss };
    Resources { cpu_ms: ms(usage.ru_utime) + ms(usage.ru_stime), peak_rss_kb }
}

/// The platform shell running `command` verbatim in `dir`, sandboxed ([`crate::sandbox`]).
fn shell(command: &str, dir: &Path) -> tokio::process::Command {
    #[cfg(unix)]
    let argv = ["sh", "-c", command];
    #[cfg(windows)]
    let argv = ["cmd", "/C", command];
    tokio::process::Command::from(crate::sandbox::command(&argv.map(std::ffi::OsString::from), dir, false))
}

/// The command's process group, killed when dropped unless killed already, and its
/// watchdog, which kills the group if mmm dies first. On Windows only the direct child is
/// killed (by `kill_on_drop`).
struct ProcessGroup {
    #[cfg(unix)]
    pgid: Option<i32>,
    /// Waits for EOF on its stdin, which only this process holds open, then kills the
    /// group: mmm's exit closes the pipe however mmm ends. `None` if it could not start
    /// (the command still runs; only the SIGKILL-of-mmm case is then unguarded).
    #[cfg(unix)]
    watchdog: Option<tokio::process::Child>,
}

/// A watchdog waiting to be told a process group (see [`ProcessGroup`]). It reads the
/// group id as its first line (a value it reads, never a script it runs), then waits for
/// EOF. `None` where it cannot run.
#[cfg(unix)]
fn start_watchdog() -> Option<tokio::process::Child> {
    let mut watchdog = tokio::process::Command::new("sh");
    watchdog.args(["-c", "read pgid; read _; [ -n \"$pgid\" ] && kill -KILL -\"$pgid\"", "mmm-watchdog"]);
    without_credentials(watchdog.as_std_mut(), &[]);
    // Its own group: a Ctrl+C at the terminal must not take it down first.
    watchdog.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    watchdog.kill_on_drop(true).spawn().ok()
}

#[cfg(not(unix))]
fn start_watchdog() -> Option<()> {
    None
}

impl ProcessGroup {
    #[cfg(unix)]
    async fn of(child: &tokio::process::Child, mut watchdog: Option<tokio::process::Child>) -> Self {
        use tokio::io::AsyncWriteExt;
        let pgid = child.id().and_then(|id| i32::try_from(id).ok());
        if let (Some(pgid), Some(dog)) = (pgid, watchdog.as_mut()) {
            let told = match dog.stdin.as_mut() {
                // A few bytes into an empty pipe: written at once.
                Some(stdin) => stdin.write_all(format!("{pgid}\n").as_bytes()).await.is_ok(),
                None => false,
            };
            if !told {
                watchdog = None;
            }
        }
        Self { pgid, watchdog }
    }

    #[cfg(not(unix))]
    async fn of(_child: &tokio::process::Child, _watchdog: Option<()>) -> Self {
        Self {}
    }

    fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals the process group `pgid`, which
            // the child leads (process_group(0)); it touches no memory. An already empty
            // group gives ESRCH, which is what we want to ignore.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        // Killed before its pipe closes, so it never acts on a group id that may be reused.
        #[cfg(unix)]
        if let Some(mut watchdog) = self.watchdog.take() {
            watchdog.start_kill().ok();
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads stdout and stderr until both close, feeding `capture` as bytes arrive.
async fn pump(mut stdout: impl AsyncRead + Unpin, mut stderr: impl AsyncRead + Unpin, capture: Arc<Mutex<Capture>>) {
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let (stream, read) = tokio::select! {
            read = stdout.read(&mut out_buf), if out_open => (Stream::Stdout, read),
            read = stderr.read(&mut err_buf), if err_open => (Stream::Stderr, read),
        };
        let buf = match stream {
            Stream::Stdout => &out_buf,
            Stream::Stderr => &err_buf,
        };
        let mut capture = capture.lock().unwrap_or_else(PoisonError::into_inner);
        match read {
            Ok(n) if n > 0 => capture.push(stream, &buf[..n]),
            _ => {
                capture.finish(stream);
                match stream {
                    Stream::Stdout => out_open = false,
                    Stream::Stderr => err_open = false,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Bounded output: the first lines, a sliding window of the last lines, and a count of
/// the lines dropped between them. Each stream has its own partial line so that stdout and
/// stderr interleave by whole lines.
#[derive(Debug, Default)]
struct Capture {
    head: Vec<String>,
    head_bytes: usize,
    tail: VecDeque<String>,
    tail_bytes: usize,
    omitted: usize,
    partial: [Partial; 2],
}

#[derive(Debug, Default)]
struct Partial {
    bytes: Vec<u8>,
    /// Bytes dropped from this line because it was too long.
    cut: usize,
}

impl Capture {
    fn push(&mut self, stream: Stream, mut bytes: &[u8]) {
        let index = stream as usize;
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            self.extend_partial(index, &bytes[..newline]);
            self.end_line(index);
            bytes = &bytes[newline + 1..];
        }
        self.extend_partial(index, bytes);
    }

    /// Ends the stream: a last line without a newline still counts.
    fn finish(&mut self, stream: Stream) {
        let index = stream as usize;
        if !self.partial[index].bytes.is_empty() || self.partial[index].cut > 0 {
            self.end_line(index);
        }
    }

    fn extend_partial(&mut self, index: usize, bytes: &[u8]) {
        let partial = &mut self.partial[index];
        let room = MAX_LINE_BYTES.saturating_sub(partial.bytes.len());
        let kept = bytes.len().min(room);
        partial.bytes.extend_from_slice(&bytes[..kept]);
        partial.cut += bytes.len() - kept;
    }

    fn end_line(&mut self, index: usize) {
        let partial = std::mem::take(&mut self.partial[index]);
        let bytes = partial.bytes.strip_suffix(b"\r").unwrap_or(&partial.bytes);
        let mut line = String::from_utf8_lossy(bytes).into_owned();
        if partial.cut > 0 {
            line.push_str(&format!(" [... {} bytes cut ...]", partial.cut));
        }
        if self.omitted == 0
            && self.tail.is_empty()
            && self.head.len() < HEAD_LINES
            && self.head_bytes + line.len() <= HEAD_BYTES
        {
            self.head_bytes += line.len();
            self.head.push(line);
            return;
        }
        self.tail_bytes += line.len();
        self.tail.push_back(line);
        while self.tail.len() > TAIL_LINES || self.tail_bytes > TAIL_BYTES {
            let dropped = self.tail.pop_front().expect("the tail is not empty");
            self.tail_bytes -= dropped.len();
            self.omitted += 1;
        }
    }

    fn render(&self) -> String {
        let mut out = self.head.join("\n");
        if self.omitted > 0 {
            out.push_str(&format!("\n[... {} lines omitted ...]", self.omitted));
        }
        for line in &self.tail {
            out.push('\n');
            out.push_str(line);
        }
        out.trim_start_matches('\n').to_string()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    async fn sh(command: &str, dir: &Path, timeout: Duration) -> CommandResult {
        run(command, dir, timeout, &[]).await.unwrap()
    }

    #[tokio::test]
    async fn success_captures_stdout_and_stderr_together() {
        let dir = tempfile::tempdir().unwrap();
        let result = sh("echo out; echo err >&2; pwd", dir.path(), LONG).await;
        assert!(result.passed());
        assert_eq!(result.exit_code, Some(0));
        assert!(!result.timed_out);
        let lines: Vec<&str> = result.output.lines().collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.contains(&"out") && lines.contains(&"err"));
        let pwd = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(std::fs::canonicalize(lines.iter().find(|l| l.starts_with('/')).unwrap()).unwrap(), pwd);
    }

    #[tokio::test]
    async fn failure_reports_the_exit_code_and_stdin_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        // `cat` would wait forever on an inherited terminal; with stdin closed it ends at once.
        let result = sh("cat; printf 'no newline'; exit 3", dir.path(), LONG).await;
        assert_eq!(
            (result.exit_code, result.timed_out, result.passed(), result.output.as_str()),
            (Some(3), false, false, "no newline")
        );
    }

    #[test]
    fn credentials_are_removed_unless_passed_by_name() {
        let mut command = std::process::Command::new("true");
        hide_credential("MY_LLM_KEY");
        without_credentials(&mut command, &["ANTHROPIC_AUTH_TOKEN".to_string(), "OTHER".to_string()]);
        let mut envs: Vec<_> = command.get_envs().map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned))).collect();
        envs.sort();
        assert_eq!(
            envs,
            [("ANTHROPIC_API_KEY".into(), None), ("MY_LLM_KEY".into(), None), ("OPENAI_API_KEY".into(), None)]
        );
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error() {
        let err = run("true", Path::new("/nonexistent/mmm-test"), LONG, &[]).await.unwrap_err();
        assert!(format!("{err:#}").contains("starting `true` in /nonexistent/mmm-test"), "{err:#}");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        // The grandchild would create `marker` after a second unless killed with the group.
        let result = sh("(sleep 1; touch marker) & echo started; wait", dir.path(), Duration::from_millis(300)).await;
        assert_eq!((result.exit_code, result.timed_out, result.output.as_str()), (None, true, "started"));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!dir.path().join("marker").exists(), "the grandchild survived the timeout");
    }

    #[tokio::test]
    async fn background_stragglers_are_killed_when_the_command_exits() {
        let dir = tempfile::tempdir().unwrap();
        // The background job keeps the pipes open; run must not wait for it, and it must die.
        let result = sh("(sleep 1; touch marker) & echo done", dir.path(), LONG).await;
        assert_eq!((result.exit_code, result.output.as_str()), (Some(0), "done"));
        assert!(result.duration < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!dir.path().join("marker").exists(), "the background job outlived the command");
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let interrupted = tokio::time::timeout(
            Duration::from_millis(300),
            run("(sleep 1; touch marker) & wait", dir.path(), LONG, &[]),
        )
        .await;
        assert!(interrupted.is_err());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!dir.path().join("marker").exists(), "the command outlived its dropped future");
    }

    #[tokio::test]
    async fn long_output_keeps_head_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let result = sh("seq 1 1000", dir.path(), LONG).await;
        let expected: Vec<String> = (1..=100)
            .map(|n| n.to_string())
            .chain(std::iter::once("[... 700 lines omitted ...]".to_string()))
            .chain((801..=1000).map(|n| n.to_string()))
            .collect();
        assert_eq!(result.output, expected.join("\n"));
    }

    #[tokio::test]
    async fn large_output_on_both_streams_does_not_deadlock_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        // Up to a pipe's worth of stderr may still be unread when `last` is written; the pause
        // lets the reader catch up, so `last` is among the kept tail.
        let result = sh("seq 1 200000; seq 1 200000 >&2; sleep 0.5; echo last", dir.path(), LONG).await;
        assert!(result.passed());
        assert!(result.output.starts_with("1\n2\n3\n"));
        assert!(
            result.output.lines().rev().take(200).any(|l| l == "last"),
            "{}",
            &result.output[result.output.len() - 500..]
        );
        assert!(result.output.contains("[... 399701 lines omitted ...]"), "{}", &result.output[..2000]);
        assert!(result.output.len() < HEAD_BYTES + TAIL_BYTES + 100);
    }

    #[tokio::test]
    async fn very_long_lines_are_shortened_and_keys_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let result = sh("head -c 5000 /dev/zero | tr '\\0' x; echo; echo AKIAIOSFODNN7EXAMPLE", dir.path(), LONG).await;
        assert_eq!(
            result.output,
            format!("{} [... 3000 bytes cut ...]\n[REDACTED:aws-access-key-id]", "x".repeat(2000))
        );
    }

    #[test]
    fn bounded_output_keeps_head_and_tail_and_redacts() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let bounded = bounded_output(&text);
        assert!(bounded.starts_with("line 0\nline 1\n"), "{bounded}");
        assert!(bounded.contains("\n[... 700 lines omitted ...]\nline 800\n"), "{bounded}");
        assert!(bounded.ends_with("line 999"), "{bounded}");
        assert!(is_credential("ANTHROPIC_API_KEY") && !is_credential("GITHUB_TOKEN"));
    }

    #[test]
    fn capture_interleaves_streams_by_whole_lines() {
        let mut capture = Capture::default();
        capture.push(Stream::Stdout, b"compil");
        capture.push(Stream::Stderr, b"warning: x\r\n");
        capture.push(Stream::Stdout, b"ing\n");
        capture.finish(Stream::Stdout);
        capture.finish(Stream::Stderr);
        assert_eq!(capture.render(), "warning: x\ncompiling");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_finished_command_reports_its_cpu_time_and_peak_memory() {
        let dir = tempfile::tempdir().unwrap();
        // A busy loop in a child of the shell: its usage counts once the shell waited for it.
        let result = sh("sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'", dir.path(), LONG).await;
        let used = result.resources.expect("wait4 reports usage");
        assert!(used.cpu_ms > 0, "{used:?}");
        assert!(used.peak_rss_kb > 0, "{used:?}");
        let timed_out = sh("sleep 5", dir.path(), Duration::from_millis(100)).await;
        assert_eq!((timed_out.timed_out, timed_out.resources), (true, None));
    }
}
