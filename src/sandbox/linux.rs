//! Linux confinement of the calling process: Landlock for the file system, a seccomp filter
//! for sockets and ptrace. Called only by the single-threaded `mmm __sandbox` helper just
//! before it execs the command; both restrictions are inherited by everything the command
//! starts and cannot be lifted. Never called in mmm's own (multithreaded) process.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// The newest Landlock ABI whose rights mmm asks for; older kernels enforce what they know.
const ABI_WANTED: ABI = ABI::V5;

/// Device files every program may write (and use with ioctl) whatever the policy, and
/// `/dev/shm`: shared memory (Python's multiprocessing), temporary like `/tmp`.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
    "/dev/random",
    "/dev/urandom",
    "/dev/shm",
];

/// The kernel's Landlock ABI version (`landlock_create_ruleset` with the version flag),
/// `None` when Landlock is not built in or not enabled.
pub fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the version flag the syscall only
    // returns a number (or -1 with errno); it reads and writes no memory.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|v| *v > 0)
}

/// What the restriction achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsStatus {
    Full,
    Partial,
    None,
}

/// Confines the calling thread (and what it execs) to reading everywhere and writing only
/// under `writable` and the device files in [`DEVICES`].
pub fn restrict_filesystem(writable: &[PathBuf]) -> anyhow::Result<FsStatus> {
    let read = AccessFs::from_read(ABI_WANTED);
    let all = AccessFs::from_all(ABI_WANTED);
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .context("declaring the file-system rights Landlock handles")?
        .create()
        .context("creating a Landlock ruleset")?
        .add_rules(path_beneath_rules(["/"], read))
        .context("allowing reads everywhere")?
        .add_rules(path_beneath_rules(DEVICES, all))
        .context("allowing the device files")?
        .add_rules(path_beneath_rules(writable, all))
        .context("allowing writes under the writable directories")?
        .restrict_self()
        .context("enforcing the Landlock ruleset")?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => FsStatus::Full,
        RulesetStatus::PartiallyEnforced => FsStatus::Partial,
        RulesetStatus::NotEnforced => FsStatus::None,
    })
}

/// Installs a seccomp filter making `socket(AF_INET|AF_INET6, …)` (unless `network`),
/// `ptrace`, `process_vm_readv/writev` and `io_uring_setup` (which could open sockets
/// without `socket(2)`) fail with EPERM. Unix sockets stay allowed. Sets no_new_privs.
pub fn restrict_syscalls(network: bool) -> anyhow::Result<()> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // An empty rule list matches every call of the syscall.
    for syscall in [libc::SYS_ptrace, libc::SYS_process_vm_readv, libc::SYS_process_vm_writev, libc::SYS_io_uring_setup]
    {
        rules.insert(syscall, Vec::new());
    }
    if !network {
        let family = |domain: libc::c_int| -> anyhow::Result<SeccompRule> {
            let condition = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, domain as u64)
                .context("building the socket-family condition")?;
            SeccompRule::new(vec![condition]).context("building the socket rule")
        };
        rules.insert(libc::SYS_socket, vec![family(libc::AF_INET)?, family(libc::AF_INET6)?]);
    }
    let arch =
        seccompiler::TargetArch::try_from(std::env::consts::ARCH).context("seccomp does not know this architecture")?;
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .context("building the seccomp filter")?;
    let program: BpfProgram = filter.try_into().context("compiling the seccomp filter")?;
    // seccompiler sets PR_SET_NO_NEW_PRIVS, then installs the program on this thread.
    seccompiler::apply_filter(&program).context("installing the seccomp filter")?;
    Ok(())
}
