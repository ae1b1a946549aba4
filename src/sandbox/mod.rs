//! The sandbox for everything mmm runs that the model may have shaped: validation checks,
//! workflow shell steps, hooks and command tools. Code the model wrote runs as part of a
//! check (a `build.rs`, a test); rolling back its edits cannot undo what it did outside the
//! repository, so it must not be able to do anything there.
//!
//! On Linux a command is started through mmm itself, `mmm __sandbox [opts] -- cmd args…`
//! ([`helper`]): a fresh single-threaded process that confines itself (Landlock: reads
//! everywhere, writes only under the work tree, the temporary directory and the caches;
//! seccomp: no IPv4/IPv6 sockets unless `network = true`, no ptrace, no io_uring) and then
//! execs the command. Never in `pre_exec` of mmm's own multithreaded process.
//!
//! The policy is resolved once per mmm process from the settings ([`install`]); a command
//! wraps its argv with [`command`]. This module must never widen what a command may do
//! beyond the settings, and never let `required` run a command unconfined.

#[cfg(target_os = "linux")]
mod linux;

pub mod helper;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::Serialize;

use crate::error::CliError;
use crate::settings::Settings;

/// `[sandbox] mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Refuse to run a command that cannot be confined.
    Required,
    /// Confine what the kernel allows; warn once about the rest.
    BestEffort,
    /// Run commands as they are.
    Off,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "required" => Some(Mode::Required),
            "best-effort" => Some(Mode::BestEffort),
            "off" => Some(Mode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Required => "required",
            Mode::BestEffort => "best-effort",
            Mode::Off => "off",
        }
    }
}

/// What sandboxed commands may do, besides writing in the directory they run in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Directories (or files) writable besides the work tree: the temporary directory, the
    /// toolchains' caches, `[sandbox] writable`. Only those that exist.
    pub writable: Vec<PathBuf>,
    pub network: bool,
}

/// What the sandbox enforces in this process, as the journal records it (`sandbox` event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    pub mode: Mode,
    /// The kernel's Landlock ABI version; `None` where it has none (or not Linux).
    pub landlock_abi: Option<u32>,
    /// Writes confined to the work tree and `writable` (Landlock).
    pub filesystem: bool,
    /// IPv4 and IPv6 sockets refused (seccomp); false when `network = true` or unconfined.
    pub network_denied: bool,
    /// ptrace refused (seccomp).
    pub ptrace_denied: bool,
    /// Writable besides the work tree.
    pub writable: Vec<String>,
}

struct Installed {
    policy: Policy,
    /// The mmm binary that confines and execs (`mmm __sandbox`).
    exe: PathBuf,
    enforcement: Enforcement,
}

static INSTALLED: RwLock<Option<Installed>> = RwLock::new(None);

/// Resolves the policy from the settings and makes every later [`command`] of this process
/// follow it. `Ok(Some(warning))` in `best-effort` mode where the kernel cannot confine:
/// the caller shows it once. In `required` mode a kernel without Landlock (or not Linux) is
/// a usage error (exit 2) saying why.
pub fn install(settings: &Settings, env: &[(String, String)]) -> anyhow::Result<Option<String>> {
    let mode = settings.str("sandbox.mode").and_then(Mode::parse).unwrap_or(Mode::BestEffort);
    let home = env.iter().find(|(k, _)| k == "HOME").map(|(_, v)| PathBuf::from(v)).or_else(dirs::home_dir);
    let policy = Policy {
        mode,
        writable: writable(settings.list("sandbox.writable"), env, home.as_deref()),
        network: settings.bool("sandbox.network"),
    };
    let abi = landlock_abi();
    let (enforcement, warning) = enforcement(&policy, abi)?;
    let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("finding mmm's own binary for the sandbox: {e}"))?;
    *INSTALLED.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
        Some(Installed { policy, exe, enforcement });
    Ok(warning)
}

/// What `policy` amounts to on a kernel with Landlock ABI `abi`, and the warning for a
/// best-effort sandbox that cannot confine the file system.
fn enforcement(policy: &Policy, abi: Option<u32>) -> anyhow::Result<(Enforcement, Option<String>)> {
    let seccomp = cfg!(target_os = "linux");
    let confined = policy.mode != Mode::Off;
    let why = match abi {
        None if cfg!(target_os = "linux") => {
            "this kernel has no Landlock (Linux 5.13 or later with `landlock` in the \
                                              `lsm=` boot parameter)"
        }
        None => "the sandbox needs Linux (Landlock and seccomp)",
        Some(_) => "",
    };
    if policy.mode == Mode::Required && abi.is_none() {
        return Err(CliError::usage(format!("`sandbox.mode` is `required`, but {why}"))
            .with_hint("run on a kernel with Landlock, or set `[sandbox] mode = \"best-effort\"` (or \"off\") in .mmm/config.toml")
            .into());
    }
    let warning = (policy.mode == Mode::BestEffort && abi.is_none())
        .then(|| format!("the sandbox cannot confine what checks write: {why}; they run with your permissions"));
    let enforcement = Enforcement {
        mode: policy.mode,
        landlock_abi: abi,
        filesystem: confined && abi.is_some(),
        network_denied: confined && seccomp && !policy.network,
        ptrace_denied: confined && seccomp,
        writable: policy.writable.iter().map(|p| p.display().to_string()).collect(),
    };
    Ok((enforcement, warning))
}

/// What the installed sandbox enforces; `None` before [`install`] (nothing is confined).
pub fn enforcement_now() -> Option<Enforcement> {
    INSTALLED.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|i| i.enforcement.clone())
}

/// A command running `argv` in `dir`, confined by the installed policy (writes allowed in
/// `dir` too); `network` lets this one command reach the network (a hook that posts to a
/// webhook). Unconfined when nothing is installed or the mode is `off`.
pub fn command(argv: &[OsString], dir: &Path, network: bool) -> std::process::Command {
    let installed = INSTALLED.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let wrapped = match installed.as_ref() {
        Some(i) if i.policy.mode != Mode::Off && cfg!(target_os = "linux") => {
            helper_argv(&i.exe, &i.policy, dir, network || i.policy.network, argv)
        }
        _ => argv.to_vec(),
    };
    let mut command = std::process::Command::new(&wrapped[0]);
    command.args(&wrapped[1..]);
    command.current_dir(dir);
    command
}

/// `exe __sandbox --mode M --write DIR… [--network] -- argv…`.
fn helper_argv(exe: &Path, policy: &Policy, dir: &Path, network: bool, argv: &[OsString]) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![exe.into(), "__sandbox".into(), "--mode".into(), policy.mode.as_str().into()];
    for path in std::iter::once(dir).chain(policy.writable.iter().map(PathBuf::as_path)) {
        out.push("--write".into());
        out.push(path.into());
    }
    if network {
        out.push("--network".into());
    }
    out.push("--".into());
    out.extend(argv.iter().cloned());
    out
}

/// The directories sandboxed commands may write besides the work tree: the temporary
/// directory, the toolchains' caches, and `extra` (`~/` is `home`), each only if it exists
/// (Landlock grants access to what it can open).
fn writable(extra: &[String], env: &[(String, String)], home: Option<&Path>) -> Vec<PathBuf> {
    let var =
        |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| PathBuf::from(v)).filter(|p| p.is_absolute());
    let in_home = |rel: &str| home.map(|h| h.join(rel));
    let cargo_home = var("CARGO_HOME").or_else(|| in_home(".cargo"));
    let mut paths: Vec<PathBuf> = vec![std::env::temp_dir()];
    paths.extend(var("TMPDIR"));
    // cargo: downloaded crates and git dependencies, the package cache's lock files, a
    // shared target directory.
    if let Some(cargo) = &cargo_home {
        for sub in ["registry", "git", ".package-cache", ".package-cache-mutate", ".global-cache"] {
            paths.push(cargo.join(sub));
        }
    }
    paths.extend(var("CARGO_TARGET_DIR"));
    // npm, pip, go (modules and build cache), and the generic cache directory's entries for them.
    paths.extend(var("npm_config_cache").or_else(|| in_home(".npm")));
    paths.extend(var("PIP_CACHE_DIR").or_else(|| in_home(".cache/pip")));
    paths.extend(
        var("GOMODCACHE").or_else(|| var("GOPATH").map(|g| g.join("pkg/mod"))).or_else(|| in_home("go/pkg/mod")),
    );
    paths.extend(var("GOCACHE").or_else(|| in_home(".cache/go-build")));
    for item in extra {
        let path = match (item.strip_prefix("~/"), home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(item),
        };
        paths.push(path);
    }
    let mut seen = Vec::new();
    for path in paths {
        if path.exists() && !seen.contains(&path) {
            seen.push(path);
        }
    }
    seen
}

/// The kernel's Landlock ABI version, `None` without Landlock.
fn landlock_abi() -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        linux::landlock_abi()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: Mode) -> Policy {
        Policy { mode, writable: vec![PathBuf::from("/tmp")], network: false }
    }

    #[test]
    fn required_without_landlock_is_a_usage_error_and_best_effort_warns() {
        let err = enforcement(&policy(Mode::Required), None).unwrap_err();
        let cli = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(cli.exit(), crate::Exit::Usage);
        assert!(cli.to_string().starts_with("`sandbox.mode` is `required`, but "), "{cli}");
        let (enforced, warning) = enforcement(&policy(Mode::BestEffort), None).unwrap();
        assert!(warning.unwrap().starts_with("the sandbox cannot confine what checks write: "));
        assert!(!enforced.filesystem);
        let (enforced, warning) = enforcement(&policy(Mode::Off), None).unwrap();
        assert_eq!(
            (warning, enforced.filesystem, enforced.network_denied, enforced.ptrace_denied),
            (None, false, false, false)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn with_landlock_everything_is_enforced() {
        let (enforced, warning) = enforcement(&policy(Mode::Required), Some(7)).unwrap();
        assert_eq!(warning, None);
        assert_eq!(
            enforced,
            Enforcement {
                mode: Mode::Required,
                landlock_abi: Some(7),
                filesystem: true,
                network_denied: true,
                ptrace_denied: true,
                writable: vec!["/tmp".into()],
            }
        );
    }

    #[test]
    fn the_helper_gets_the_work_tree_the_writable_paths_and_the_command() {
        let argv: Vec<OsString> = vec!["sh".into(), "-c".into(), "echo hi".into()];
        let wrapped = helper_argv(Path::new("/bin/mmm"), &policy(Mode::Required), Path::new("/repo"), true, &argv);
        let text: Vec<String> = wrapped.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            text,
            [
                "/bin/mmm",
                "__sandbox",
                "--mode",
                "required",
                "--write",
                "/repo",
                "--write",
                "/tmp",
                "--network",
                "--",
                "sh",
                "-c",
                "echo hi"
            ]
        );
    }

    #[test]
    fn writable_paths_are_the_caches_that_exist_and_the_configured_ones() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".cargo/registry")).unwrap();
        std::fs::create_dir_all(home.path().join(".npm")).unwrap();
        std::fs::create_dir_all(home.path().join("cache")).unwrap();
        let extra = vec!["~/cache".to_string(), "/nonexistent/mmm".to_string()];
        let paths = writable(&extra, &[], Some(home.path()));
        assert_eq!(
            paths,
            [
                std::env::temp_dir(),
                home.path().join(".cargo/registry"),
                home.path().join(".npm"),
                home.path().join("cache")
            ]
        );
    }
}
