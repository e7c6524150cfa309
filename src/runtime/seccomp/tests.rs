//! Tests of the seccomp compiler and profiles.

use super::bpf::*;
use super::profile::*;
use super::*;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::ForkResult;

const EPERM: Action = Action::Errno(libc::EPERM as u16);
const ALL_ARCHES: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

/// Runs the BPF program the way the kernel would, for one syscall.
fn simulate(p: &Program, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = p.insns[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            }
            AND_K => a &= i.k,
            JA => pc += i.k as usize,
            JEQ_K | JGT_K | JGE_K => {
                let hit = match i.code {
                    JEQ_K => a == i.k,
                    JGT_K => a > i.k,
                    _ => a >= i.k,
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

fn sim(p: &Program, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{name} unknown on {arch:?}"));
    simulate(p, arch.audit_arch(), nr, args)
}

#[test]
fn default_compiles_and_sanity() {
    let p = Profile::docker_default();
    let prog = compile(&p).unwrap();
    assert!(
        prog.len() > 100 && prog.len() < MAX_INSNS,
        "{} insns",
        prog.len()
    );
    let arch = Arch::native().unwrap();
    for name in [
        "read",
        "write",
        "execve",
        "exit_group",
        "openat",
        "mmap",
        "futex",
        "clone",
        "chroot",
    ] {
        assert_eq!(
            sim(&prog, arch, name, [0; 6]),
            Action::Allow.ret_value(),
            "{name}"
        );
    }
    for name in [
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "kexec_load",
        "kexec_file_load",
        "userfaultfd",
        "perf_event_open",
        "open_by_handle_at",
        "mount",
        "umount2",
        "pivot_root",
        "init_module",
        "finit_module",
        "delete_module",
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "settimeofday",
        "clock_settime",
        "unshare",
        "setns",
        "io_uring_setup",
        "fsopen",
        "move_mount",
    ] {
        assert_eq!(sim(&prog, arch, name, [0; 6]), EPERM.ret_value(), "{name}");
    }
    assert_eq!(
        sim(&prog, arch, "clone3", [0; 6]),
        Action::Errno(38).ret_value()
    );
    assert_eq!(
        sim(&prog, arch, "name_to_handle_at", [0; 6]),
        Action::Allow.ret_value()
    );
}

/// The compiled BPF agrees with a direct reading of the rules, for
/// every syscall on both architectures and a spread of arguments.
#[test]
fn bpf_matches_rules_on_both_arches() {
    let args_set: [[u64; 6]; 7] = [
        [0; 6],
        [8, 0, 0, 0, 0, 0],
        [0xffff_ffff, 1, 2, 3, 4, 5],
        [0x1_ffff_ffff, 0, 0, 0, 0, 0],
        [0x1000_0000 | 17, 0, 0, 0, 0, 0], // CLONE_NEWUSER | SIGCHLD
        [17, 0, 0, 0, 0, 0],
        [40, 1, 0, 0, 0, 0],
    ];
    for caps in [
        &DOCKER_DEFAULT_CAPS[..],
        &["SYS_ADMIN", "sys_ptrace", "CAP_SYS_TIME"][..],
    ] {
        let p = Profile::docker_default_with_caps(caps);
        for arch in ALL_ARCHES {
            let prog = compile_for(&p, arch).unwrap();
            let table: Vec<&str> = match arch {
                Arch::X86_64 => syscalls::x86_64::Sysno::iter().map(|s| s.name()).collect(),
                Arch::Aarch64 => syscalls::aarch64::Sysno::iter().map(|s| s.name()).collect(),
            };
            assert!(table.len() > 300);
            for name in table {
                for args in args_set {
                    let want = p.action_for(arch, name, args).unwrap().ret_value();
                    assert_eq!(
                        sim(&prog, arch, name, args),
                        want,
                        "{arch:?} {name} {args:x?}"
                    );
                }
            }
            // Another architecture, x32 numbers, and -1.
            assert_eq!(
                simulate(&prog, 0x4000_0003, 0, [0; 6]),
                Action::KillProcess.ret_value()
            );
            if arch == Arch::X86_64 {
                assert_eq!(
                    simulate(&prog, arch.audit_arch(), 0x4000_0000, [0; 6]),
                    0x8000_0000
                );
            }
            assert_eq!(
                simulate(&prog, arch.audit_arch(), u32::MAX, [0; 6]),
                EPERM.ret_value()
            );
        }
    }
}

#[test]
fn default_argument_filters() {
    let p = Profile::docker_default();
    let allow = Action::Allow.ret_value();
    let eperm = EPERM.ret_value();
    for arch in ALL_ARCHES {
        let prog = compile_for(&p, arch).unwrap();
        let s = |name, a0: u64| sim(&prog, arch, name, [a0, 0, 0, 0, 0, 0]);
        for v in PERSONALITY_ALLOWED {
            assert_eq!(s("personality", v), allow, "personality {v:#x}");
        }
        assert_eq!(s("personality", 0x40000), eperm); // ADDR_NO_RANDOMIZE
        assert_eq!(s("personality", 0x1_ffff_ffff), eperm);
        assert_eq!(s("socket", 2), allow);
        assert_eq!(s("socket", 40), eperm);
        assert_eq!(s("socket", 40 | 1 << 32), allow); // full 64-bit compare
        assert_eq!(s("clone", 0x11), allow);
        assert_eq!(s("clone", 0x3d0f00), allow); // threads
        for flag in [
            0x20000u64, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
        ] {
            assert_eq!(s("clone", flag | 0x11), eperm, "clone {flag:#x}");
        }
        assert_eq!(sim(&prog, arch, "ptrace", [0; 6]), allow);
    }
    assert_eq!(
        sim(
            &compile_for(&p, Arch::X86_64).unwrap(),
            Arch::X86_64,
            "arch_prctl",
            [0; 6]
        ),
        allow
    );
    // With CAP_SYS_ADMIN, namespaces and mounts are allowed.
    let admin = compile(&Profile::docker_default_with_caps(&["CAP_SYS_ADMIN"])).unwrap();
    let arch = Arch::native().unwrap();
    assert_eq!(
        sim(&admin, arch, "clone", [0x1000_0011, 0, 0, 0, 0, 0]),
        allow
    );
    for name in ["mount", "umount2", "unshare", "setns", "sethostname", "bpf"] {
        assert_eq!(
            sim(&admin, arch, name, [0; 6]),
            allow,
            "{name} with CAP_SYS_ADMIN"
        );
    }
    assert_eq!(sim(&admin, arch, "clone3", [0; 6]), allow);
    assert_eq!(sim(&admin, arch, "chroot", [0; 6]), eperm); // no CAP_SYS_CHROOT given
}

#[test]
fn comparisons_64bit() {
    let edges = [
        0u64,
        1,
        5,
        0xffff_fffe,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0005,
        0x2_0000_0000,
        u64::MAX,
    ];
    let ops = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    for op in ops {
        for v in [5u64, 0xffff_ffff, 0x1_0000_0005, 0x3_0000_0006] {
            // For MASKED_EQ: every value an edge argument can produce.
            for vt in edges.iter().map(|a| a & v) {
                let json = format!(
                    r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["dup"],"action":"SCMP_ACT_ERRNO","errnoRet":7,
                    "args":[{{"index":2,"value":{v},"valueTwo":{vt},"op":"{op}"}}]}}]}}"#
                );
                let p = Profile::from_json(&json).unwrap();
                for arch in ALL_ARCHES {
                    let prog = compile_for(&p, arch).unwrap();
                    for a in edges {
                        let args = [0, 0, a, 0, 0, 0];
                        let want = p.action_for(arch, "dup", args).unwrap().ret_value();
                        assert_eq!(
                            sim(&prog, arch, "dup", args),
                            want,
                            "{op} {v:#x} {vt:#x} arg {a:#x}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn rule_order() {
    // Conditional rules: first match in profile order, before the
    // unconditional rule, whatever order that one came in.
    let p = Profile::from_json(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["dup"],"action":"SCMP_ACT_ALLOW"},
            {"names":["dup"],"action":"SCMP_ACT_ERRNO","errnoRet":5,"args":[{"index":0,"value":10,"op":"SCMP_CMP_GE"}]},
            {"names":["dup"],"action":"SCMP_ACT_ERRNO","errnoRet":6,"args":[{"index":0,"value":5,"op":"SCMP_CMP_GE"}]},
            {"names":["dup"],"action":"SCMP_ACT_ERRNO","errnoRet":7,
             "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":2,"op":"SCMP_CMP_EQ"}]}
        ]}"#,
    )
    .unwrap();
    for arch in ALL_ARCHES {
        let prog = compile_for(&p, arch).unwrap();
        for (a0, a1, want) in [
            (12, 0, Action::Errno(5)),
            (7, 0, Action::Errno(6)),
            (1, 2, Action::Errno(7)),
            (1, 3, Action::Allow),
            (2, 2, Action::Allow),
        ] {
            let args = [a0, a1, 0, 0, 0, 0];
            assert_eq!(p.action_for(arch, "dup", args), Some(want), "{a0} {a1}");
            assert_eq!(
                sim(&prog, arch, "dup", args),
                want.ret_value(),
                "{arch:?} {a0} {a1}"
            );
        }
    }
}

#[test]
fn far_jumps_are_bridged() {
    // Many conditional rules make the program long enough that the
    // shared returns are out of 8-bit jump range.
    let mut p = Profile::new(Action::Allow);
    for v in 0..600u64 {
        p.add_rule(
            ["write"],
            Action::Errno((v % 50 + 1) as u16),
            &[ArgCmp {
                index: 0,
                op: CmpOp::Eq,
                value: v * 3,
            }],
        );
    }
    p.add_rule(["read", "close", "getpid"], Action::Errno(9), &[]);
    let arch = Arch::native().unwrap();
    let prog = compile(&p).unwrap();
    assert!(prog.len() > 1000);
    for v in [0u64, 3, 299, 900, 1797, 1798] {
        let args = [v, 0, 0, 0, 0, 0];
        assert_eq!(
            sim(&prog, arch, "write", args),
            p.action_for(arch, "write", args).unwrap().ret_value(),
            "{v}"
        );
    }
    assert_eq!(
        sim(&prog, arch, "getpid", [0; 6]),
        Action::Errno(9).ret_value()
    );
    let mut huge = Profile::new(Action::Allow);
    for v in 0..2000u64 {
        huge.add_rule(
            ["write"],
            Action::Errno(1),
            &[ArgCmp {
                index: 0,
                op: CmpOp::Eq,
                value: v,
            }],
        );
    }
    assert!(matches!(compile(&huge), Err(SeccompError::TooLarge(_))));
}

#[test]
fn bytes_round_trip() {
    let prog = compile(&Profile::docker_default()).unwrap();
    let bytes = prog.to_bytes();
    assert_eq!(Program::from_bytes(&bytes).unwrap(), prog);
    assert!(matches!(
        Program::from_bytes(&bytes[..bytes.len() - 3]),
        Err(SeccompError::BadProgram(_))
    ));
    assert!(matches!(
        Program::from_bytes(b"nope"),
        Err(SeccompError::BadProgram(_))
    ));
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 8] = 0x15; // last instruction becomes a jump
    assert!(matches!(
        Program::from_bytes(&bad),
        Err(SeccompError::BadProgram(_))
    ));
}

#[test]
fn json_profiles() {
    let p = Profile::from_json(
        r#"{
          "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
          "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
          "archMap": [{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
          "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
          "syscalls": [
            {"names": ["read", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
            {"name": "write", "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG", "comment": "x"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["dup"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["dup2"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["dup3"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.10"}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["fchdir"], "action": "SCMP_ACT_TRAP", "excludes": {"arches": ["amd64"]}},
            {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["tkill"], "action": "SCMP_ACT_KILL"},
            {"names": ["tgkill"], "action": "SCMP_ACT_TRACE"}
          ]
        }"#,
    )
    .unwrap();
    let a = |arch, n| p.action_for(arch, n, [0; 6]).unwrap();
    for arch in ALL_ARCHES {
        assert_eq!(a(arch, "read"), Action::Allow);
        assert_eq!(a(arch, "write"), EPERM, "errnoRet defaults to EPERM");
        assert_eq!(a(arch, "close"), Action::Errno(38));
        assert_eq!(a(arch, "getpid"), Action::Log);
        assert_eq!(a(arch, "mount"), Action::Errno(38));
        assert_eq!(a(arch, "chroot"), Action::Allow);
        assert_eq!(a(arch, "dup"), Action::Errno(38));
        assert_eq!(a(arch, "dup3"), Action::Allow);
        assert_eq!(a(arch, "kill"), Action::KillProcess);
        assert_eq!(a(arch, "tkill"), Action::KillThread);
        assert_eq!(a(arch, "tgkill"), Action::Trace(0));
        compile_for(&p, arch).unwrap();
    }
    assert_eq!(a(Arch::X86_64, "dup2"), Action::Errno(38));
    assert_eq!(a(Arch::X86_64, "arch_prctl"), Action::Allow);
    assert_eq!(a(Arch::X86_64, "fchdir"), Action::Errno(38));
    assert_eq!(a(Arch::Aarch64, "fchdir"), Action::Trap);
    let admin = Profile::from_json_with_caps(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
        &["sys_admin"],
    )
    .unwrap();
    assert_eq!(
        admin.action_for(Arch::X86_64, "mount", [0; 6]),
        Some(Action::Allow)
    );
    // Minimal profile: no syscalls at all.
    let p = Profile::from_json(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":null}"#).unwrap();
    for arch in ALL_ARCHES {
        let prog = compile_for(&p, arch).unwrap();
        assert!(prog.len() < 10, "{arch:?}: {prog:?}");
        assert_eq!(sim(&prog, arch, "read", [0; 6]), Action::Allow.ret_value());
    }
}

#[test]
fn malformed_json_profiles() {
    let err = |s: &str| Profile::from_json(s).unwrap_err();
    let e = err("{not json");
    assert!(matches!(e, SeccompError::Json(_)), "{e}");
    let e = err(r#"{"syscalls": []}"#);
    assert!(
        matches!(e, SeccompError::Json(_)) && e.to_string().contains("defaultAction"),
        "{e}"
    );
    let e = err(r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#);
    assert!(
        matches!(&e, SeccompError::UnknownAction { field, action } if field == "defaultAction" && action == "SCMP_ACT_MAYBE"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["x"],"action":"ALLOW"}]}"#,
    );
    assert!(
        matches!(&e, SeccompError::UnknownAction { field, .. } if field == "syscalls[1].action"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["x"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(matches!(e, SeccompError::UnsupportedAction { .. }), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":[],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert!(
        matches!(&e, SeccompError::NoSyscallNames { field } if field == "syscalls[0]"),
        "{e}"
    );
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}"#);
    assert!(matches!(e, SeccompError::NoSyscallNames { .. }), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(
        matches!(&e, SeccompError::ArgIndex { field, index: 6 } if field == "syscalls[0].args[0]"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_SIMILAR"}]}]}"#,
    );
    assert!(
        matches!(&e, SeccompError::UnknownOperator { op, .. } if op == "SCMP_CMP_SIMILAR"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(matches!(e, SeccompError::Json(_)), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#);
    assert!(
        matches!(&e, SeccompError::ErrnoOutOfRange { field, errno: 70000 } if field == "defaultErrnoRet"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":5000}]}"#,
    );
    assert!(
        matches!(&e, SeccompError::ErrnoOutOfRange { field, .. } if field == "syscalls[0].errnoRet"),
        "{e}"
    );
    let e =
        err(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","x86_64"]}"#);
    assert!(
        matches!(&e, SeccompError::UnknownArch { field, arch } if field == "architectures[1]" && arch == "x86_64"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["ARM"]}]}"#,
    );
    assert!(matches!(e, SeccompError::UnknownArch { .. }), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}}]}"#,
    );
    assert!(matches!(e, SeccompError::BadKernelVersion { .. }), "{e}");
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":{"names":["read"]}}"#);
    assert!(matches!(e, SeccompError::Json(_)), "{e}");
}

#[test]
fn compile_time() {
    let p = Profile::docker_default();
    let t = std::time::Instant::now();
    let n = 50;
    for _ in 0..n {
        std::hint::black_box(compile(std::hint::black_box(&p)).unwrap());
    }
    let per = t.elapsed() / n;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(Profile::docker_default());
    }
    let build = t.elapsed() / n;
    eprintln!(
        "docker_default(): {build:?}; compile(docker_default): {per:?}; {} insns",
        compile(&p).unwrap().len()
    );
}

// ---- behaviour, in forked children -----------------------------------

/// Forks; the child sets no_new_privs, installs `prog` and runs `body`,
/// whose return value becomes its exit code. The child only makes raw
/// syscalls (the parent may have other threads), so `body` must not
/// allocate or take locks.
fn in_child(prog: &Program, body: fn() -> i32) -> WaitStatus {
    // SAFETY: the child only makes async-signal-safe raw syscalls and
    // leaves with _exit; `prog` was built before the fork.
    match unsafe { nix::unistd::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: plain prctl/_exit calls with integer arguments.
            unsafe {
                libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0); // no core dumps
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    libc::_exit(100);
                }
            }
            let code = if install(prog).is_ok() { body() } else { 101 };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).unwrap(),
    }
}

/// errno after a raw syscall that returned `rc`, or 0 on success.
fn err_of(rc: libc::c_long) -> i32 {
    if rc == -1 {
        Errno::last_raw()
    } else {
        0
    }
}

fn check_default_behaviour() -> i32 {
    // SAFETY: raw syscalls with integer or null/stack-buffer arguments.
    unsafe {
        // keyctl with an invalid operation: EOPNOTSUPP when not filtered.
        if err_of(libc::syscall(libc::SYS_keyctl, 0x7fff_ffff, 0, 0, 0, 0)) != libc::EPERM {
            return 1;
        }
        if libc::syscall(libc::SYS_getpid) <= 0 {
            return 2;
        }
        if err_of(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)) != libc::EPERM {
            return 3;
        }
        if err_of(libc::syscall(libc::SYS_personality, 0xffff_ffffu64)) != 0 {
            return 4;
        }
        if err_of(libc::syscall(libc::SYS_personality, 0x0040000u64)) != libc::EPERM {
            return 5;
        }
        // clone3 with a null argument: EFAULT/EINVAL if it got through.
        if err_of(libc::syscall(libc::SYS_clone3, 0usize, 0usize)) != libc::ENOSYS {
            return 6;
        }
        // clone with a namespace flag: refused before the kernel sees it.
        let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
        if err_of(libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            0usize,
            0usize,
            0usize,
        )) != libc::EPERM
        {
            return 7;
        }
        // Plain fork through clone works.
        let pid = libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        if pid < 0
            || libc::waitpid(pid as libc::pid_t, &mut status, 0) != pid as libc::pid_t
            || status != 0
        {
            return 8;
        }
        if err_of(libc::syscall(libc::SYS_bpf, 0, 0usize, 0)) != libc::EPERM {
            return 9;
        }
        let mut buf = [0u8; 256];
        if err_of(libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len())) != 0 {
            return 10;
        }
        let mut sfd = [0i32; 2];
        if err_of(libc::syscall(
            libc::SYS_socketpair,
            libc::AF_UNIX,
            libc::SOCK_STREAM,
            0,
            sfd.as_mut_ptr(),
        )) != 0
        {
            return 11;
        }
        if err_of(libc::syscall(libc::SYS_socket, 40, libc::SOCK_STREAM, 0)) != libc::EPERM {
            return 12;
        }
        if err_of(libc::syscall(
            libc::SYS_mount,
            0usize,
            0usize,
            0usize,
            0usize,
            0usize,
        )) != libc::EPERM
        {
            return 13;
        }
    }
    0
}

#[test]
fn default_profile_in_child() {
    let prog = compile(&Profile::docker_default()).unwrap();
    let st = in_child(&prog, check_default_behaviour);
    assert!(
        matches!(st, WaitStatus::Exited(_, 0)),
        "child: {st:?} (exit code = failed check)"
    );
}

#[test]
fn checks_can_fail_without_filter() {
    // The same checks without a filter must fail, or they prove nothing.
    let allow_all = compile(&Profile::new(Action::Allow)).unwrap();
    let st = in_child(&allow_all, check_default_behaviour);
    assert!(matches!(st, WaitStatus::Exited(_, 1)), "child: {st:?}");
}

#[test]
fn json_errno_in_child() {
    let p = Profile::from_json(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .unwrap();
    let st = in_child(&compile(&p).unwrap(), || {
        let mut buf = [0u8; 256];
        // SAFETY: getcwd into a stack buffer of the given size.
        let rc = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
        if err_of(rc) != libc::EACCES {
            return 1;
        }
        // SAFETY: getpid takes no arguments.
        if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
            return 2;
        }
        0
    });
    assert!(matches!(st, WaitStatus::Exited(_, 0)), "child: {st:?}");
}

#[test]
fn json_kill_in_child() {
    for action in ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"] {
        let p = Profile::from_json(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":["getppid"],"action":"{action}"}}]}}"#
        ))
        .unwrap();
        let st = in_child(&compile(&p).unwrap(), || {
            // SAFETY: getppid takes no arguments.
            unsafe { libc::syscall(libc::SYS_getppid) };
            0
        });
        assert!(
            matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{action}: {st:?}"
        );
    }
}

#[test]
fn install_needs_no_new_privs_or_cap_sys_admin() {
    let prog = compile(&Profile::new(Action::Allow)).unwrap();
    // SAFETY: see in_child.
    match unsafe { nix::unistd::fork() }.unwrap() {
        ForkResult::Child => {
            // SAFETY: raw id changes with integer arguments; as root,
            // moving every uid away from 0 clears the capabilities.
            unsafe {
                if libc::geteuid() == 0
                    && (libc::setresgid(65534, 65534, 65534) != 0
                        || libc::setresuid(65534, 65534, 65534) != 0)
                {
                    libc::_exit(2);
                }
            }
            let code = match install(&prog) {
                Err(SeccompError::Install(Errno::EACCES)) => 0,
                Ok(()) => 3,
                Err(_) => 1,
            };
            // SAFETY: ends the child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            let st = waitpid(child, None).unwrap();
            assert!(matches!(st, WaitStatus::Exited(_, 0)), "child: {st:?}");
        }
    }
}
