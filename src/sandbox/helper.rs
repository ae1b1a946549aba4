//! `mmm __sandbox [--mode M] [--write PATH]… [--network] -- cmd args…`: the helper process
//! mmm starts its checks, shell steps, hooks and command tools through. It runs before any
//! thread or runtime exists, confines itself and execs `cmd`, so the command (and all it
//! starts) inherits the confinement. It must never exec the command unconfined in
//! `required` mode.

use anyhow::Context;

use super::Mode;
use crate::cli::SandboxArgs;

/// Confines this process as `args` say, then replaces it with the command. Returns only on
/// failure.
pub fn exec(args: &SandboxArgs) -> anyhow::Result<()> {
    let mode = Mode::parse(&args.mode)
        .with_context(|| format!("unknown sandbox mode `{}`", args.mode))
        .map_err(|e| crate::error::CliError::usage(format!("{e:#}")).with_hint("use required, best-effort or off"))?;
    if mode != Mode::Off {
        confine(args, mode)?;
    }
    let (program, rest) = args.command.split_first().context("no command to run")?;
    exec_command(program, rest)
}

#[cfg(target_os = "linux")]
fn confine(args: &SandboxArgs, mode: Mode) -> anyhow::Result<()> {
    use super::linux::{self, FsStatus};
    let status = linux::restrict_filesystem(&args.write);
    match (status, mode) {
        (Ok(FsStatus::Full | FsStatus::Partial), _) => {}
        (Ok(FsStatus::None), Mode::Required) => {
            anyhow::bail!("mmm sandbox: this kernel cannot confine writes (no Landlock); sandbox.mode is `required`")
        }
        (Err(e), Mode::Required) => return Err(e.context("mmm sandbox: confining the file system")),
        _ => {}
    }
    // seccomp works on every kernel mmm supports: a failure is a failure in every mode.
    linux::restrict_syscalls(args.network).context("mmm sandbox: filtering system calls")
}

#[cfg(not(target_os = "linux"))]
fn confine(_args: &SandboxArgs, mode: Mode) -> anyhow::Result<()> {
    match mode {
        Mode::Required => anyhow::bail!("mmm sandbox: confinement needs Linux; sandbox.mode is `required`"),
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn exec_command(program: &std::ffi::OsStr, rest: &[std::ffi::OsString]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(program).args(rest).exec();
    Err(err).with_context(|| format!("mmm sandbox: running {}", program.to_string_lossy()))
}

#[cfg(not(unix))]
fn exec_command(program: &std::ffi::OsStr, rest: &[std::ffi::OsString]) -> anyhow::Result<()> {
    let status = std::process::Command::new(program)
        .args(rest)
        .status()
        .with_context(|| format!("mmm sandbox: running {}", program.to_string_lossy()))?;
    std::process::exit(status.code().unwrap_or(1));
}
