//! Seccomp: docker's default syscall filter, docker/OCI JSON profiles, and a
//! small pure-Rust compiler from either to a classic-BPF program.
//!
//! # Theory of operation
//!
//! Goals:
//! - A default profile that behaves like docker's for a container with
//!   docker's default capabilities: an allow list, everything else fails
//!   with `EPERM` (the process is never killed by the default profile).
//! - `--security-opt seccomp=PROFILE.json`: the docker / OCI runtime-spec
//!   profile format, including docker's `includes`/`excludes` (caps, arches,
//!   minKernel), so docker's own default.json gives the same filter as
//!   [`Profile::docker_default`].
//! - No C library: names are resolved with the `syscalls` crate's per-arch
//!   tables and the BPF is generated here.
//!
//! Stages: [`Profile`] (parsed, caps and kernel resolved, names kept) ->
//! [`compile`] / [`compile_for`] (names resolved for one architecture, BPF
//! generated; runs in the parent, allocates) -> [`install`] (one syscall, no
//! allocation; runs in the forked child right before execve, after
//! no_new_privs is set or while the process still has CAP_SYS_ADMIN in its
//! user namespace). `--privileged` means: do not install anything.
//!
//! The default profile (x86_64 and aarch64; names that do not exist on an
//! architecture are skipped there):
//! - allowed: the ordinary process, file, memory, signal, socket, time,
//!   IPC, scheduling and identity syscalls (see `DEFAULT_ALLOW`), plus
//!   `arch_prctl`/`modify_ldt` on x86_64 and `ptrace`, `process_vm_readv`,
//!   `process_vm_writev` on kernels >= 4.8 (where seccomp runs after ptrace,
//!   so ptrace can no longer be used to bypass the filter);
//! - allowed with an argument filter: `socket` unless the family is
//!   AF_VSOCK; `personality` only for PER_LINUX, PER_LINUX32, UNAME26,
//!   UNAME26|PER_LINUX32 and the 0xffffffff query; `clone` only when no
//!   namespace flag (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
//!   NEWNET) is set;
//! - `clone3` answers ENOSYS, so libc falls back to `clone` (whose flags
//!   this filter can see: clone3 passes them in memory);
//! - denied (EPERM) unless the container holds the capability named, as
//!   in docker: CAP_SYS_ADMIN: mount, umount, umount2, the new mount API
//!   (fsopen, fsconfig, fsmount, fspick, move_mount, open_tree,
//!   mount_setattr), unshare, setns, namespace-creating clone, clone3, bpf,
//!   perf_event_open, fanotify_init, quotactl(_fd), sethostname,
//!   setdomainname, syslog, lookup_dcookie; CAP_SYS_BOOT: reboot;
//!   CAP_SYS_CHROOT: chroot (a default capability, so allowed by default);
//!   CAP_SYS_MODULE: init_module, finit_module, delete_module;
//!   CAP_SYS_PACCT: acct; CAP_SYS_PTRACE: kcmp, pidfd_getfd,
//!   process_madvise (and ptrace on old kernels); CAP_SYS_RAWIO: iopl,
//!   ioperm; CAP_SYS_TIME: settimeofday, stime, clock_settime(64);
//!   CAP_SYS_TTY_CONFIG: vhangup; CAP_SYS_NICE: mbind, get/set_mempolicy,
//!   set_mempolicy_home_node; CAP_SYSLOG: syslog; CAP_BPF: bpf;
//!   CAP_PERFMON: perf_event_open; CAP_DAC_READ_SEARCH: open_by_handle_at
//!   (name_to_handle_at itself is allowed, as in docker);
//! - always denied: keyctl, add_key, request_key, kexec_load,
//!   kexec_file_load, userfaultfd, swapon, swapoff, the io_uring calls
//!   (newer docker releases dropped them too), nfsservctl, uselib, ustat,
//!   sysfs, _sysctl, the lsm_* and listmount/statmount calls, and every
//!   syscall not named in the allow list. adjtimex and clock_adjtime are
//!   allowed, as in docker: the kernel checks CAP_SYS_TIME for their write
//!   forms.
//!
//! Semantics of the compiled filter (also for JSON profiles):
//! - the architecture is checked first; any other one (i386 compat, arm32,
//!   and x32 syscall numbers on x86_64) is killed (KILL_PROCESS), as
//!   libseccomp's default bad-arch action does. Only the native
//!   architecture is compiled: sub-architectures listed in a profile are
//!   accepted but not allowed through;
//! - for one syscall, its conditional rules are tried in profile order
//!   (the first whose conditions all hold gives the action), then its
//!   unconditional rule (if several, the last one), then the default action;
//! - argument comparisons are on the full 64-bit value, unsigned, as in
//!   libseccomp; SCMP_CMP_MASKED_EQ is `(arg & value) == valueTwo`.
//!
//! Invariants: a compiled [`Program`] is never empty, has at most 4096
//! instructions, every jump is forward and in range (checked when built),
//! and it always ends in a return. [`Program::from_bytes`] re-checks all of
//! that, so a corrupted cache file is an error, not a broken filter.
//!
//! Limits: SCMP_ACT_NOTIFY is refused (no listener); the profile's `flags`
//! and `listenerPath` are ignored; only x86_64 and aarch64 can be compiled.

use nix::errno::Errno;
use nix::libc;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

/// What went wrong while parsing, compiling or installing a profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp profile is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("seccomp profile: {field}: unknown action {action:?}")]
    UnknownAction { field: String, action: String },
    #[error("seccomp profile: {field}: action {action} is not supported by rless")]
    UnsupportedAction { field: String, action: String },
    #[error("seccomp profile: {field}: unknown comparison operator {op:?}")]
    UnknownOperator { field: String, op: String },
    #[error("seccomp profile: {field}: argument index {index} is out of range (0 to 5)")]
    ArgIndex { field: String, index: u32 },
    #[error("seccomp profile: {field}: errno {errno} is out of range (0 to 4095)")]
    ErrnoOutOfRange { field: String, errno: u64 },
    #[error("seccomp profile: {field}: no syscall names")]
    NoSyscallNames { field: String },
    #[error("seccomp profile: {field}: unknown architecture {arch:?}")]
    UnknownArch { field: String, arch: String },
    #[error("seccomp profile: {field}: invalid kernel version {version:?}")]
    BadKernelVersion { field: String, version: String },
    #[error("seccomp is not supported on this architecture ({0})")]
    UnsupportedArch(&'static str),
    #[error("seccomp filter too large: {0} instructions (the kernel takes at most 4096)")]
    TooLarge(usize),
    #[error("cached seccomp program is invalid: {0}")]
    BadProgram(&'static str),
    #[error("installing the seccomp filter: {0}")]
    Install(Errno),
}

/// What the filter answers for a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    /// Fail with this errno (0..=4095).
    Errno(u16),
    /// Kill the calling thread (SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD).
    KillThread,
    /// Kill the whole process (SCMP_ACT_KILL_PROCESS).
    KillProcess,
    /// Send SIGSYS to the thread.
    Trap,
    /// Allow, but log the syscall.
    Log,
    /// Notify a ptrace tracer, with this message; ENOSYS without one.
    Trace(u16),
}

impl Action {
    /// The kernel's SECCOMP_RET_* value.
    fn ret_value(self) -> u32 {
        match self {
            Action::KillProcess => 0x8000_0000,
            Action::KillThread => 0x0000_0000,
            Action::Trap => 0x0003_0000,
            Action::Errno(e) => 0x0005_0000 | u32::from(e),
            Action::Trace(m) => 0x7ff0_0000 | u32::from(m),
            Action::Log => 0x7ffc_0000,
            Action::Allow => 0x7fff_0000,
        }
    }
}

/// How a syscall argument is compared with a value (unsigned, 64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq {
        mask: u64,
    },
}

/// One condition on a syscall argument; all of a rule's must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCmp {
    /// Argument index, 0 to 5.
    pub index: u8,
    pub op: CmpOp,
    pub value: u64,
}

/// A rule: these syscalls (when the conditions hold) get this action.
#[derive(Debug, Clone)]
struct Rule {
    names: Vec<Cow<'static, str>>,
    action: Action,
    args: Vec<ArgCmp>,
    /// Go architecture names (amd64, arm64, ...) the rule is limited to.
    only_arches: Vec<Cow<'static, str>>,
    /// Go architecture names the rule does not apply to.
    not_arches: Vec<Cow<'static, str>>,
}

/// A seccomp profile: a default action and rules by syscall name.
/// Capability and kernel conditions are already resolved; names are
/// resolved per architecture when compiled.
#[derive(Debug, Clone)]
pub struct Profile {
    default_action: Action,
    rules: Vec<Rule>,
}

/// An architecture the filter can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this binary runs on, if supported.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// The syscall number of `name` here, None when unknown.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let n = match self {
            Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
            Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
        };
        u32::try_from(n).ok()
    }

    /// AUDIT_ARCH_* as seen in `seccomp_data.arch`.
    fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => 0xc000_003e,
            Arch::Aarch64 => 0xc000_00b7,
        }
    }

    /// The Go name docker's `includes.arches` uses.
    fn go_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }
}

mod bpf;
mod profile;
#[cfg(test)]
mod tests;

pub use bpf::{compile, compile_for, install, Program};
pub use profile::DOCKER_DEFAULT_CAPS;
