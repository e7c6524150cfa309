//! The default profile and docker/OCI JSON profiles.

use super::*;

// ---------------------------------------------------------------------------
// The default profile.

/// Allowed whatever the capabilities. Grouped by purpose; names missing on
/// an architecture (the 32-bit variants, the legacy x86 calls on aarch64)
/// are skipped when compiling.
#[rustfmt::skip]
pub(super) const DEFAULT_ALLOW: &[&str] = &[
    // processes and threads
    "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid",
    "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
    "restart_syscall", "prctl", "getrusage", "getrlimit", "setrlimit", "prlimit64", "ugetrlimit",
    "getpriority", "setpriority", "pidfd_open", "pidfd_send_signal", "process_mrelease",
    "capget", "capset", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", "uname", "sysinfo", "getcpu", "get_thread_area", "set_thread_area",
    // identity
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid",
    "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
    "setfsgid", "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32",
    "getgroups32", "setuid32", "setgid32", "setreuid32", "setregid32", "setresuid32",
    "setresgid32", "setgroups32", "setfsuid32", "setfsgid32",
    // files and directories
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "_llseek",
    "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync", "syncfs",
    "sync_file_range", "truncate", "truncate64", "ftruncate", "ftruncate64", "fallocate",
    "fadvise64", "fadvise64_64", "readahead", "copy_file_range", "sendfile", "sendfile64",
    "splice", "tee", "vmsplice", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64",
    "newfstatat", "fstatat64", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access",
    "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "mkdir", "mkdirat", "rmdir", "mknod",
    "mknodat", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rename",
    "renameat", "renameat2", "readlink", "readlinkat", "getdents", "getdents64", "chmod",
    "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "chown32",
    "fchown32", "lchown32", "umask", "utime", "utimes", "utimensat", "utimensat_time64",
    "futimesat", "name_to_handle_at", "ioctl", "cachestat",
    // extended attributes
    "getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr", "listxattr",
    "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "getxattrat",
    "setxattrat", "listxattrat", "removexattrat",
    // polling and events
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "timerfd_settime64",
    "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "fanotify_mark", "pipe", "pipe2", "memfd_create", "memfd_secret",
    // asynchronous I/O (not io_uring)
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    // memory
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack", "mseal",
    // signals
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "sigaltstack", "sigreturn", "sigprocmask", "pause", "alarm",
    // futexes
    "futex", "futex_time64", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
    // time (reading; the write forms of adjtimex/clock_adjtime check CAP_SYS_TIME)
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
    "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "times",
    "adjtimex", "clock_adjtime", "clock_adjtime64", "getitimer", "setitimer", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64",
    // scheduling
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    // sockets (socket itself has an argument filter)
    "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "shutdown", "send", "sendto",
    "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
    // System V and POSIX IPC
    "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl", "semtimedop",
    "semtimedop_time64", "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink",
    "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_notify", "mq_getsetattr",
    // x86_64: the return path of user-space return probes
    "uretprobe",
];

/// personality(2) values a container may set: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26 | PER_LINUX32, and the 0xffffffff query.
pub(super) const PERSONALITY_ALLOWED: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// clone flags that create namespaces: NEWNS | NEWCGROUP | NEWUTS |
/// NEWIPC | NEWUSER | NEWPID | NEWNET.
pub(super) const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

/// AF_VSOCK: refused, its host side is shared by all containers.
pub(super) const AF_VSOCK: u64 = 40;

/// Syscalls that a capability unlocks, as docker does.
#[rustfmt::skip]
pub(super) const CAP_SYSCALLS: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
            "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
            "syslog", "umount", "umount2", "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// Docker's default capabilities (the ones the default profile assumes).
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `CAP_X` for "x", "X" or "CAP_X".
pub(super) fn cap_name(cap: &str) -> String {
    let up = cap.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

pub(super) fn cap_set<S: AsRef<str>>(caps: &[S]) -> Vec<String> {
    caps.iter().map(|c| cap_name(c.as_ref())).collect()
}

impl Profile {
    /// An empty profile: every syscall gets `default_action`.
    pub fn new(default_action: Action) -> Profile {
        Profile {
            default_action,
            rules: Vec::new(),
        }
    }

    /// Adds a rule: `names` get `action` when all of `args` hold.
    pub fn add_rule<S: Into<Cow<'static, str>>>(
        &mut self,
        names: impl IntoIterator<Item = S>,
        action: Action,
        args: &[ArgCmp],
    ) {
        self.rules.push(Rule {
            names: names.into_iter().map(Into::into).collect(),
            action,
            args: args.to_vec(),
            only_arches: Vec::new(),
            not_arches: Vec::new(),
        });
    }

    /// The default action (for syscalls no rule names).
    pub fn default_action(&self) -> Action {
        self.default_action
    }

    /// Docker's default profile for a container with docker's default
    /// capabilities.
    pub fn docker_default() -> Profile {
        Profile::docker_default_with_caps(&DOCKER_DEFAULT_CAPS)
    }

    /// Docker's default profile for a container holding `caps` (names with
    /// or without the CAP_ prefix, any case).
    pub fn docker_default_with_caps<S: AsRef<str>>(caps: &[S]) -> Profile {
        let caps = cap_set(caps);
        let has = |c: &str| caps.iter().any(|x| x == c);
        let mut p = Profile::new(Action::Errno(Errno::EPERM as u16));
        p.add_rule(DEFAULT_ALLOW.iter().copied(), Action::Allow, &[]);
        if kernel_at_least((4, 8)) {
            p.add_rule(
                ["process_vm_readv", "process_vm_writev", "ptrace"],
                Action::Allow,
                &[],
            );
        }
        p.add_rule(
            ["socket"],
            Action::Allow,
            &[ArgCmp {
                index: 0,
                op: CmpOp::Ne,
                value: AF_VSOCK,
            }],
        );
        for v in PERSONALITY_ALLOWED {
            p.add_rule(
                ["personality"],
                Action::Allow,
                &[ArgCmp {
                    index: 0,
                    op: CmpOp::Eq,
                    value: v,
                }],
            );
        }
        p.add_rule(["arch_prctl", "modify_ldt"], Action::Allow, &[]);
        p.rules.last_mut().expect("just pushed").only_arches = vec!["amd64".into()];
        for (cap, names) in CAP_SYSCALLS {
            if has(cap) {
                p.add_rule(names.iter().copied(), Action::Allow, &[]);
            }
        }
        if !has("CAP_SYS_ADMIN") {
            // clone's flags are its first argument on both x86_64 and
            // aarch64 (s390 is the exception, not supported here).
            p.add_rule(
                ["clone"],
                Action::Allow,
                &[ArgCmp {
                    index: 0,
                    op: CmpOp::MaskedEq {
                        mask: CLONE_NAMESPACE_FLAGS,
                    },
                    value: 0,
                }],
            );
            p.add_rule(["clone3"], Action::Errno(Errno::ENOSYS as u16), &[]);
        }
        p
    }

    /// Parses a docker / OCI seccomp profile for a container with docker's
    /// default capabilities.
    pub fn from_json(text: &str) -> Result<Profile, SeccompError> {
        Profile::from_json_with_caps(text, &DOCKER_DEFAULT_CAPS)
    }

    /// Parses a docker / OCI seccomp profile; docker's `includes.caps` and
    /// `excludes.caps` are decided against `caps`.
    pub fn from_json_with_caps<S: AsRef<str>>(
        text: &str,
        caps: &[S],
    ) -> Result<Profile, SeccompError> {
        let caps = cap_set(caps);
        let j: JsonProfile = serde_json::from_str(text)?;
        let default_errno = match j.default_errno_ret {
            Some(e) => Some(errno_value("defaultErrnoRet", e)?),
            None => None,
        };
        let default_action = parse_action("defaultAction", &j.default_action, default_errno)?;
        for (i, a) in j.architectures.iter().flatten().enumerate() {
            check_arch(&format!("architectures[{i}]"), a)?;
        }
        for (i, m) in j.arch_map.iter().flatten().enumerate() {
            check_arch(&format!("archMap[{i}].architecture"), &m.architecture)?;
            for (k, a) in m.sub_architectures.iter().flatten().enumerate() {
                check_arch(&format!("archMap[{i}].subArchitectures[{k}]"), a)?;
            }
        }
        let mut p = Profile::new(default_action);
        for (i, s) in j.syscalls.into_iter().flatten().enumerate() {
            let field = format!("syscalls[{i}]");
            let mut names: Vec<Cow<'static, str>> =
                s.names.into_iter().flatten().map(Cow::Owned).collect();
            names.extend(s.name.map(Cow::Owned));
            names.retain(|n| !n.is_empty());
            if names.is_empty() {
                return Err(SeccompError::NoSyscallNames { field });
            }
            let errno = match s.errno_ret {
                Some(e) => Some(errno_value(&format!("{field}.errnoRet"), e)?),
                None => None,
            };
            let action = parse_action(&format!("{field}.action"), &s.action, errno)?;
            let mut args = Vec::new();
            for (k, a) in s.args.into_iter().flatten().enumerate() {
                args.push(parse_arg(&format!("{field}.args[{k}]"), &a)?);
            }
            let inc = s.includes.unwrap_or_default();
            let exc = s.excludes.unwrap_or_default();
            let incl_caps = inc
                .caps
                .iter()
                .flatten()
                .all(|c| caps.contains(&cap_name(c)));
            let excl_caps = exc
                .caps
                .iter()
                .flatten()
                .any(|c| caps.contains(&cap_name(c)));
            let mut kernel_ok = true;
            if let Some(v) = &inc.min_kernel {
                kernel_ok &=
                    kernel_at_least(parse_version(&format!("{field}.includes.minKernel"), v)?);
            }
            if let Some(v) = &exc.min_kernel {
                kernel_ok &=
                    !kernel_at_least(parse_version(&format!("{field}.excludes.minKernel"), v)?);
            }
            if !incl_caps || excl_caps || !kernel_ok {
                continue;
            }
            p.rules.push(Rule {
                names,
                action,
                args,
                only_arches: inc.arches.into_iter().flatten().map(Cow::Owned).collect(),
                not_arches: exc.arches.into_iter().flatten().map(Cow::Owned).collect(),
            });
        }
        Ok(p)
    }

    /// The action this profile gives `name` on `arch` when called with
    /// `args` (all six), or None when `name` is unknown there. A direct
    /// reading of the rules, independent of the BPF compiler.
    pub fn action_for(&self, arch: Arch, name: &str, args: [u64; 6]) -> Option<Action> {
        arch.syscall_number(name)?;
        let rules: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.applies_to(arch) && r.names.iter().any(|n| n == name))
            .collect();
        let cond = rules.iter().filter(|r| !r.args.is_empty()).find(|r| {
            r.args.iter().all(|c| {
                let a = args[usize::from(c.index)];
                match c.op {
                    CmpOp::Eq => a == c.value,
                    CmpOp::Ne => a != c.value,
                    CmpOp::Lt => a < c.value,
                    CmpOp::Le => a <= c.value,
                    CmpOp::Gt => a > c.value,
                    CmpOp::Ge => a >= c.value,
                    CmpOp::MaskedEq { mask } => a & mask == c.value,
                }
            })
        });
        let uncond = rules.iter().rev().find(|r| r.args.is_empty());
        Some(cond.or(uncond).map_or(self.default_action, |r| r.action))
    }
}

impl Rule {
    pub(super) fn applies_to(&self, arch: Arch) -> bool {
        let g = arch.go_name();
        (self.only_arches.is_empty() || self.only_arches.iter().any(|a| a == g))
            && !self.not_arches.iter().any(|a| a == g)
    }
}

// ---------------------------------------------------------------------------
// JSON.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonProfile {
    default_action: String,
    default_errno_ret: Option<u64>,
    architectures: Option<Vec<String>>,
    arch_map: Option<Vec<JsonArchMap>>,
    syscalls: Option<Vec<JsonSyscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonArchMap {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonSyscall {
    names: Option<Vec<String>>,
    name: Option<String>,
    action: String,
    errno_ret: Option<u64>,
    args: Option<Vec<JsonArg>>,
    includes: Option<JsonFilter>,
    excludes: Option<JsonFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonFilter {
    arches: Option<Vec<String>>,
    caps: Option<Vec<String>>,
    min_kernel: Option<String>,
}

pub(super) fn errno_value(field: &str, e: u64) -> Result<u16, SeccompError> {
    match u16::try_from(e) {
        Ok(v) if v <= 4095 => Ok(v),
        _ => Err(SeccompError::ErrnoOutOfRange {
            field: field.to_string(),
            errno: e,
        }),
    }
}

/// `errno` is the rule's errnoRet: the errno for SCMP_ACT_ERRNO (EPERM when
/// absent), the tracer's message for SCMP_ACT_TRACE (0 when absent).
pub(super) fn parse_action(
    field: &str,
    s: &str,
    errno: Option<u16>,
) -> Result<Action, SeccompError> {
    Ok(match s {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(Errno::EPERM as u16)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno.unwrap_or(0)),
        "SCMP_ACT_NOTIFY" => {
            return Err(SeccompError::UnsupportedAction {
                field: field.to_string(),
                action: s.to_string(),
            })
        }
        _ => {
            return Err(SeccompError::UnknownAction {
                field: field.to_string(),
                action: s.to_string(),
            })
        }
    })
}

pub(super) fn parse_arg(field: &str, a: &JsonArg) -> Result<ArgCmp, SeccompError> {
    let index = match u8::try_from(a.index) {
        Ok(i) if i < 6 => i,
        _ => {
            return Err(SeccompError::ArgIndex {
                field: field.to_string(),
                index: a.index,
            })
        }
    };
    let (op, value) = match a.op.as_str() {
        "SCMP_CMP_EQ" => (CmpOp::Eq, a.value),
        "SCMP_CMP_NE" => (CmpOp::Ne, a.value),
        "SCMP_CMP_LT" => (CmpOp::Lt, a.value),
        "SCMP_CMP_LE" => (CmpOp::Le, a.value),
        "SCMP_CMP_GT" => (CmpOp::Gt, a.value),
        "SCMP_CMP_GE" => (CmpOp::Ge, a.value),
        "SCMP_CMP_MASKED_EQ" => (CmpOp::MaskedEq { mask: a.value }, a.value_two),
        other => {
            return Err(SeccompError::UnknownOperator {
                field: field.to_string(),
                op: other.to_string(),
            })
        }
    };
    Ok(ArgCmp { index, op, value })
}

#[rustfmt::skip]
pub(super) const KNOWN_ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
];

pub(super) fn check_arch(field: &str, a: &str) -> Result<(), SeccompError> {
    if KNOWN_ARCHES.contains(&a) {
        Ok(())
    } else {
        Err(SeccompError::UnknownArch {
            field: field.to_string(),
            arch: a.to_string(),
        })
    }
}

/// "4.8" or "5.10.1" -> (major, minor).
pub(super) fn parse_version(field: &str, v: &str) -> Result<(u32, u32), SeccompError> {
    let bad = || SeccompError::BadKernelVersion {
        field: field.to_string(),
        version: v.to_string(),
    };
    let mut it = v.split('.');
    let major = it.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let minor = match it.next() {
        Some(s) => s.parse().map_err(|_| bad())?,
        None => 0,
    };
    Ok((major, minor))
}

/// Whether the running kernel is at least `min`; true when unknown.
pub(super) fn kernel_at_least(min: (u32, u32)) -> bool {
    let uts = rustix::system::uname();
    let release = uts.release().to_string_lossy();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let major = nums.next().and_then(|s| s.parse::<u32>().ok());
    let minor = nums.next().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
    major.is_none_or(|m| (m, minor) >= min)
}
