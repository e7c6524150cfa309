//! Helpers shared by the escape and hardening tests (`isolation*.rs`): the
//! static C probe (compiled once per test process with `gcc -static`; a
//! SKIP, so a failure under RLESS_MUST_WORK=1, without gcc), its answers,
//! the busybox image with the probe as /bin/probe, and `run` wrappers.

use super::oci::busybox;
use super::rootfs::{make_rootfs_with, RootfsSpec};
use super::{skip, Ctx, Out};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The name every scenario imports its root filesystem as.
pub const IMG: &str = "bb";

pub const APPLETS: &[&str] = &[
    "sh", "true", "false", "id", "ps", "ls", "cat", "echo", "sleep", "kill", "mount", "umount",
    "touch", "mkdir", "stat", "wc", "grep", "head", "tr", "test", "printf", "rm", "unshare",
    "readlink", "cut", "find", "cp",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

pub const GROUP: &str = "root:x:0:\nalice:x:1000:\n";

/// docker's 14 default capabilities as a mask.
pub const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;
pub const CAP_NET_ADMIN: u64 = 1 << 12;

// ------------------------------------------------------------------ the probe

/// The probe: each argument is one check, answered as one `name=RESULT`
/// line. RESULT is `OK`, the errno's name (`EPERM`), or for checks run in a
/// child process the signal that killed it (`SIGSYS`).
pub const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <linux/capability.h>

static void answer(const char *name, long r) {
    if (r < 0) {
        const char *e = strerrorname_np(errno);
        printf("%s=%s\n", name, e ? e : "E?");
    } else {
        printf("%s=OK\n", name);
    }
    fflush(stdout);
}

/* Runs f in a child (f returns 0 or an errno); reports how it ended. */
static void in_child(const char *name, int (*f)(void)) {
    fflush(stdout);
    pid_t p = fork();
    if (p < 0) { answer(name, -1); return; }
    if (p == 0) _exit(f());
    int st;
    if (waitpid(p, &st, 0) < 0) { answer(name, -1); return; }
    if (WIFSIGNALED(st)) {
        const char *s = sigabbrev_np(WTERMSIG(st));
        printf("%s=SIG%s\n", name, s ? s : "?");
    } else if (WEXITSTATUS(st) == 0) {
        printf("%s=OK\n", name);
    } else {
        const char *e = strerrorname_np(WEXITSTATUS(st));
        printf("%s=%s\n", name, e ? e : "E?");
    }
    fflush(stdout);
}

static int do_unshare_user(void) { return unshare(CLONE_NEWUSER) ? errno : 0; }
static int do_unshare_mnt(void) { return unshare(CLONE_NEWNS) ? errno : 0; }
static int do_x32(void) {
#ifdef __x86_64__
    long r = syscall(39 | 0x40000000L); /* getpid, x32 numbering */
    return r < 0 ? errno : 0;
#else
    return ENOSYS;
#endif
}
static int do_int80(void) {
#ifdef __x86_64__
    long r = 20; /* i386 getpid */
    __asm__ volatile("int $0x80" : "+a"(r) : : "memory", "r8", "r9", "r10", "r11");
    return r > 0 ? 0 : (int)-r;
#else
    return ENOSYS;
#endif
}

static void status_lines(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[512];
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
            !strncmp(line, "Seccomp:", 8)) {
            char *colon = strchr(line, ':');
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t') v++;
            *colon = 0;
            printf("%s=%s", line, v);
        }
    }
    fclose(f);
    fflush(stdout);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "ids")) {
            printf("uid=%d\neuid=%d\ngid=%d\negid=%d\n", getuid(), geteuid(), getgid(), getegid());
            status_lines();
        } else if (!strcmp(a, "keyctl")) {
            answer(a, syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0));
        } else if (!strcmp(a, "add_key")) {
            answer(a, syscall(SYS_add_key, "user", "rless-probe", "x", 1, -2 /* process */));
        } else if (!strcmp(a, "request_key")) {
            answer(a, syscall(SYS_request_key, "user", "rless-probe-absent", NULL, 0));
        } else if (!strcmp(a, "unshare_user")) {
            in_child(a, do_unshare_user);
        } else if (!strcmp(a, "unshare_mnt")) {
            in_child(a, do_unshare_mnt);
        } else if (!strcmp(a, "x32")) {
            in_child(a, do_x32);
        } else if (!strcmp(a, "int80")) {
            in_child(a, do_int80);
        } else if (!strcmp(a, "mount_tmpfs")) {
            long r = mount("none", "/mnt", "tmpfs", 0, "size=1m");
            answer(a, r);
            if (r == 0) umount2("/mnt", MNT_DETACH);
        } else if (!strcmp(a, "mount_proc")) {
            long r = mount("proc", "/mnt", "proc", 0, NULL);
            answer(a, r);
            if (r == 0) umount2("/mnt", MNT_DETACH);
        } else if (!strcmp(a, "mount_bind_root")) {
            long r = mount("/", "/mnt", NULL, MS_BIND | MS_REC, NULL);
            answer(a, r);
            if (r == 0) umount2("/mnt", MNT_DETACH);
        } else if (!strcmp(a, "umount_mask")) {
            answer(a, umount2("/proc/timer_list", MNT_DETACH));
        } else if (!strncmp(a, "setuid:", 7)) {
            /* Switch to uid=gid=N, as su or an entrypoint would. */
            int id = atoi(a + 7);
            long r = setgroups(0, NULL);
            if (r == 0) r = setresgid(id, id, id);
            if (r == 0) r = setresuid(id, id, id);
            answer("setuid", r);
        } else if (!strncmp(a, "setfcap:", 8)) {
            /* File capabilities: CAP_NET_RAW inheritable, effective bit. */
            struct vfs_cap_data d;
            memset(&d, 0, sizeof d);
            d.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
            d.data[0].inheritable = 1u << CAP_NET_RAW;
            answer("setfcap", setxattr(a + 8, "security.capability", &d, sizeof d, 0));
        } else if (!strncmp(a, "exec:", 5)) {
            /* Runs the rest of the arguments as checks in PATH. */
            fflush(stdout);
            argv[i] = (char *)(a + 5);
            execv(a + 5, argv + i);
            answer("exec", -1);
            return 0;
        } else if (!strncmp(a, "ptrace:", 7)) {
            pid_t pid = atoi(a + 7);
            long r = ptrace(PTRACE_ATTACH, pid, 0, 0);
            answer(a, r);
            if (r == 0) {
                int st;
                waitpid(pid, &st, __WALL);
                ptrace(PTRACE_DETACH, pid, 0, 0);
            }
        } else {
            printf("%s=UNKNOWN-CHECK\n", a);
        }
    }
    return 0;
}
"#;

/// The probe compiled for this test process; `None` (after a skip) when
/// gcc or a static libc is missing.
pub fn probe() -> Option<&'static Path> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = PROBE.get_or_init(|| {
        // Remove probes built by test processes that are gone.
        for e in fs::read_dir(super::base_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("probe-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = super::base_dir().join(format!("probe-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let src = dir.join("probe.c");
        let bin = dir.join("probe");
        fs::write(&src, PROBE_C).map_err(|e| e.to_string())?;
        let out = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .map_err(|e| format!("gcc is not available ({e}); install gcc and libc6-dev"))?;
        if !out.status.success() {
            return Err(format!(
                "gcc -static failed (is libc6-dev installed?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(bin)
    });
    match r {
        Ok(p) => Some(p),
        Err(why) => {
            skip(&format!("cannot build the syscall probe: {why}"));
            None
        }
    }
}

/// `name=RESULT` lines as a map.
pub fn answers(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn get<'a>(m: &'a BTreeMap<String, String>, k: &str, out: &Out) -> &'a str {
    m.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {k}= line from the probe: {out}"))
}

pub fn hex(m: &BTreeMap<String, String>, k: &str, out: &Out) -> u64 {
    let v = get(m, k, out);
    u64::from_str_radix(v, 16).unwrap_or_else(|_| panic!("{k}={v} is not hex: {out}"))
}

// ------------------------------------------------------------------ helpers

/// Writes a busybox root filesystem to `dir` (with the probe as /bin/probe
/// when it could be built), owned by the test user.
pub fn make_rootfs(ctx: &Ctx, dir: &Path, with_probe: bool) {
    let spec = RootfsSpec {
        extra_dirs: &["mnt"],
        ..RootfsSpec::new(APPLETS, PASSWD, GROUP).image_file()
    };
    make_rootfs_with(ctx, dir, &spec, |dir| {
        if with_probe {
            let p = probe().expect("the probe is checked by the caller");
            fs::copy(p, dir.join("bin/probe")).unwrap();
            fs::set_permissions(dir.join("bin/probe"), fs::Permissions::from_mode(0o755)).unwrap();
        }
    });
}

/// Builds and imports the image [`IMG`].
pub fn setup_image(ctx: &Ctx, with_probe: bool) {
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir, with_probe);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
}

/// busybox (and the probe, when `with_probe`) are there; false after a SKIP.
pub fn prerequisites(with_probe: bool) -> bool {
    busybox().is_some() && (!with_probe || probe().is_some())
}

/// `rless run --rm OPTS… IMG CMD…`
pub fn run(ctx: &Ctx, opts: &[&str], cmd: &[&str]) -> Out {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.push(IMG);
    a.extend_from_slice(cmd);
    ctx.rless(&a)
}

pub fn run_ok(ctx: &Ctx, opts: &[&str], cmd: &[&str]) -> Out {
    let out = run(ctx, opts, cmd);
    assert!(out.success(), "rless run failed: {out}");
    out
}

/// `sh -c SCRIPT` in a container, which must exit 0.
pub fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> Out {
    run_ok(ctx, opts, &["sh", "-c", script])
}

/// The probe's answers for `checks` in a container.
pub fn probe_run(ctx: &Ctx, opts: &[&str], checks: &[&str]) -> (BTreeMap<String, String>, Out) {
    let mut cmd = vec!["/bin/probe"];
    cmd.extend_from_slice(checks);
    let out = run_ok(ctx, opts, &cmd);
    (answers(&out.stdout), out)
}

/// A name unique to this test process and user, for files that must not
/// appear in shared host directories.
pub fn unique(ctx: &Ctx, what: &str) -> String {
    format!("rless-iso-{}-{}-{what}", std::process::id(), ctx.user.uid)
}

/// Every capability this kernel knows, as a mask.
pub fn host_full_caps() -> u64 {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("read cap_last_cap")
        .trim()
        .parse()
        .expect("cap_last_cap is a number");
    (1u64 << (last + 1)) - 1
}
