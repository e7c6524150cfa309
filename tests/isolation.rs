//! Escape and hardening tests: what a container must not be able to do to
//! the host, and the knobs that loosen or tighten that (`--cap-add`,
//! `--cap-drop`, `--privileged`, `--security-opt`, `--ulimit`, the cgroup
//! flags). `SECURITY.md` is the threat model these tests back.
//!
//! Every check that something is refused has a positive control (a flag
//! that lifts the protection, or the same operation where it is allowed),
//! so a check that can no longer fail is noticed.
//!
//! Each scenario imports a busybox root filesystem (`rless import DIR`).
//! busybox has no applets for keyctl, ptrace or raw syscall numbers, so a
//! small static C probe is compiled here (`gcc -static`) and put into the
//! image; without gcc the scenarios that need it skip (a failure under
//! RLESS_MUST_WORK=1).

mod common;

use common::checks::*;

use common::oci::busybox;
use common::{for_each_user, skip, Ctx, Mode, Out, ERR_EXIT};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The name every scenario imports its root filesystem as.
const IMG: &str = "bb";

const APPLETS: &[&str] = &[
    "sh", "true", "false", "id", "ps", "ls", "cat", "echo", "sleep", "kill", "mount", "umount",
    "touch", "mkdir", "stat", "wc", "grep", "head", "tr", "test", "printf", "rm", "unshare",
    "readlink", "cut", "find", "cp",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

const GROUP: &str = "root:x:0:\nalice:x:1000:\n";

/// docker's 14 default capabilities as a mask.
const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;
const CAP_NET_ADMIN: u64 = 1 << 12;

// ------------------------------------------------------------------ the probe

/// The probe: each argument is one check, answered as one `name=RESULT`
/// line. RESULT is `OK`, the errno's name (`EPERM`), or for checks run in a
/// child process the signal that killed it (`SIGSYS`).
const PROBE_C: &str = r#"
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
fn probe() -> Option<&'static Path> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = PROBE.get_or_init(|| {
        // Remove probes built by test processes that are gone.
        for e in fs::read_dir(common::base_dir())
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
        let dir = common::base_dir().join(format!("probe-{}", std::process::id()));
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
fn answers(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn get<'a>(m: &'a BTreeMap<String, String>, k: &str, out: &Out) -> &'a str {
    m.get(k)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no {k}= line from the probe: {out}"))
}

fn hex(m: &BTreeMap<String, String>, k: &str, out: &Out) -> u64 {
    let v = get(m, k, out);
    u64::from_str_radix(v, 16).unwrap_or_else(|_| panic!("{k}={v} is not hex: {out}"))
}

// ------------------------------------------------------------------ helpers

/// Writes a busybox root filesystem to `dir` (with the probe as /bin/probe
/// when it could be built), owned by the test user.
fn make_rootfs(ctx: &Ctx, dir: &Path, with_probe: bool) {
    let bb = busybox().expect("busybox is checked by the caller");
    for sub in [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/alice",
        "proc",
        "sys",
        "dev",
        "mnt",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(dir, bb, APPLETS);
    if with_probe {
        let p = probe().expect("the probe is checked by the caller");
        fs::copy(p, dir.join("bin/probe")).unwrap();
        fs::set_permissions(dir.join("bin/probe"), fs::Permissions::from_mode(0o755)).unwrap();
    }
    fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    fs::write(dir.join("etc/group"), GROUP).unwrap();
    fs::write(dir.join("etc/image-file"), "from the image\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(dir);
}

/// Builds and imports the image [`IMG`].
fn setup_image(ctx: &Ctx, with_probe: bool) {
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir, with_probe);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
}

/// busybox (and the probe, when `with_probe`) are there; false after a SKIP.
fn prerequisites(with_probe: bool) -> bool {
    busybox().is_some() && (!with_probe || probe().is_some())
}

/// `rless run --rm OPTS… IMG CMD…`
fn run(ctx: &Ctx, opts: &[&str], cmd: &[&str]) -> Out {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.push(IMG);
    a.extend_from_slice(cmd);
    ctx.rless(&a)
}

fn run_ok(ctx: &Ctx, opts: &[&str], cmd: &[&str]) -> Out {
    let out = run(ctx, opts, cmd);
    assert!(out.success(), "rless run failed: {out}");
    out
}

/// `sh -c SCRIPT` in a container, which must exit 0.
fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> Out {
    run_ok(ctx, opts, &["sh", "-c", script])
}

/// The probe's answers for `checks` in a container.
fn probe_run(ctx: &Ctx, opts: &[&str], checks: &[&str]) -> (BTreeMap<String, String>, Out) {
    let mut cmd = vec!["/bin/probe"];
    cmd.extend_from_slice(checks);
    let out = run_ok(ctx, opts, &cmd);
    (answers(&out.stdout), out)
}

fn assert_no_containers(ctx: &Ctx, what: &str) {
    let c = containers(ctx);
    assert!(c.is_empty(), "{what}: container dirs left behind: {c:?}");
}

/// A host directory owned by the test user under the work dir.
fn user_dir(ctx: &Ctx, rel: &str) -> PathBuf {
    let p = ctx.work.join(rel);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give(&p);
    p
}

/// A name unique to this test process and user, for files that must not
/// appear in shared host directories.
fn unique(ctx: &Ctx, what: &str) -> String {
    format!("rless-iso-{}-{}-{what}", std::process::id(), ctx.user.uid)
}

/// Every capability this kernel knows, as a mask.
fn host_full_caps() -> u64 {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("read cap_last_cap")
        .trim()
        .parse()
        .expect("cap_last_cap is a number");
    (1u64 << (last + 1)) - 1
}

// ------------------------------------------------------------------ processes

#[test]
fn iso_host_processes_invisible() {
    if !prerequisites(false) {
        return;
    }
    let me = std::process::id();
    let host_init = fs::read("/proc/1/cmdline").unwrap_or_default();
    for_each_user("iso_host_processes_invisible", |ctx| {
        setup_image(ctx, false);
        let out = sh(
            ctx,
            &[],
            &format!(
                "ls /proc | grep '^[0-9][0-9]*$' | tr '\\n' ' '; echo; \
                 test -e /proc/{me} && echo host-pid-visible || echo host-pid-absent; \
                 kill -0 {me} 2>/dev/null && echo host-pid-signalable || echo host-pid-unreachable; \
                 cat /proc/self/root/etc/image-file; \
                 cat /proc/1/cmdline | tr '\\0' ' '; echo; \
                 cat /proc/1/root/etc/image-file 2>/dev/null || echo pid1-root-refused"
            ),
        );
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 6, "{out}");
        let pids: Vec<u32> = lines[0]
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert!(
            pids.contains(&1) && pids.len() <= 5 && pids.iter().all(|p| *p < 10),
            "the container must see only its own few processes, got {pids:?}: {out}"
        );
        assert!(!pids.contains(&me), "the test process is visible: {out}");
        assert_eq!(lines[1], "host-pid-absent", "{out}");
        assert_eq!(lines[2], "host-pid-unreachable", "{out}");
        assert_eq!(lines[3], "from the image", "{out}");
        let host_init = String::from_utf8_lossy(&host_init).replace('\0', " ");
        assert_ne!(
            lines[4].trim(),
            host_init.trim(),
            "pid 1 in the container is the host's init: {out}"
        );
        assert!(lines[4].contains("rless"), "pid 1 is rless's init: {out}");
        // The init keeps capabilities the command lacks: its root cannot
        // even be looked at (ptrace access mode).
        assert_eq!(lines[5], "pid1-root-refused", "{out}");
        // With every capability it can; pid 1 is still the container's
        // init, and its root the image, not the host's.
        let out = sh(ctx, &["--privileged"], "cat /proc/1/root/etc/image-file");
        assert_eq!(
            out.stdout, "from the image\n",
            "/proc/1/root must be the container's root: {out}"
        );
    });
}

// ------------------------------------------------------------------ the root

#[test]
fn iso_no_writes_outside_root() {
    if !prerequisites(false) {
        return;
    }
    for_each_user("iso_no_writes_outside_root", |ctx| {
        // A host directory and file the user may write: the image links to
        // them by absolute path.
        let target = user_dir(ctx, "hosttarget");
        let target_file = ctx.write_file("hosttarget/file", b"original\n");
        let dir = ctx.work.join("rootfs");
        make_rootfs(ctx, &dir, false);
        let links = [
            ("hostdir", target.to_string_lossy().into_owned()),
            ("hostfile", target_file.to_string_lossy().into_owned()),
            ("hosttmp", "/tmp".to_string()),
            ("up", "../../../../../../../..".to_string()),
        ];
        for (name, to) in &links {
            std::os::unix::fs::symlink(to, dir.join(name)).unwrap();
            ctx.give(&dir.join(name));
        }
        ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
        let vol = user_dir(ctx, "vol");
        let work_before = common::list_names(&ctx.work);
        let check_host_untouched = |out: &Out| {
            // The links to host paths resolve inside the container, where
            // those paths do not exist: the writes fail, or land inside.
            assert_eq!(
                common::list_names(&target),
                ["file".to_string()].into_iter().collect(),
                "the host dir an image link names was written: {out}"
            );
            assert_eq!(
                fs::read_to_string(&target_file).unwrap(),
                "original\n",
                "the host file an image link names was written: {out}"
            );
            assert_eq!(common::list_names(&vol), Default::default(), "{out}");
            assert_eq!(
                common::list_names(&ctx.work),
                work_before,
                "the volume's parent changed: {out}"
            );
        };
        let n = |w: &str| unique(ctx, w);
        // (name, path written, where it must land inside, may be refused)
        let writes = [
            (
                "a",
                format!("/proc/1/root/tmp/{}", n("a")),
                format!("/tmp/{}", n("a")),
                true,
            ),
            (
                "b",
                format!("/proc/self/root/../../tmp/{}", n("b")),
                format!("/tmp/{}", n("b")),
                false,
            ),
            (
                "c",
                format!("/../../../tmp/{}", n("c")),
                format!("/tmp/{}", n("c")),
                false,
            ),
            (
                "d",
                format!("/up/up/tmp/{}", n("d")),
                format!("/tmp/{}", n("d")),
                false,
            ),
            (
                "e",
                format!("/hosttmp/{}", n("e")),
                format!("/tmp/{}", n("e")),
                false,
            ),
            (
                "f",
                format!("/mnt/../{}", n("f")),
                format!("/{}", n("f")),
                false,
            ),
            (
                "g",
                format!("../../../{}", n("g")),
                format!("/{}", n("g")),
                false,
            ),
            (
                "h",
                format!("/proc/1/cwd/../../{}", n("h")),
                format!("/{}", n("h")),
                true,
            ),
        ];
        let mut script = String::from("cd /mnt; ");
        for (w, path, inside, _) in &writes {
            script += &format!(
                "if (echo {w} > {path}) 2>/dev/null; then echo \"{w} $(cat {inside})\"; else echo \"{w} refused\"; fi; "
            );
        }
        script += "echo pwned > /hostdir/new 2>/dev/null; echo hostdir=$?; \
                   echo pwned > /hostfile 2>/dev/null; echo hostfile=$?; \
                   echo pwned >> /hostfile 2>/dev/null; echo hostfile-append=$?";
        let vol_spec = format!("{}:/mnt", vol.display());
        // --privileged too: /proc/1/root is reachable then.
        for privileged in [false, true] {
            let mut opts = vec!["-v", vol_spec.as_str()];
            if privileged {
                opts.push("--privileged");
            }
            let out = sh(ctx, &opts, &script);
            let lines: Vec<&str> = out.stdout.lines().collect();
            for (i, (w, _, _, may_refuse)) in writes.iter().enumerate() {
                let line = lines.get(i).copied().unwrap_or("");
                let landed = line == format!("{w} {w}");
                let ok = landed || (*may_refuse && !privileged && line == format!("{w} refused"));
                assert!(
                    ok,
                    "write {w} ({}) must land inside the container (privileged: {privileged}), got {line:?}: {out}",
                    writes[i].1
                );
            }
            for (w, _, _, _) in &writes {
                for host in [Path::new("/tmp"), Path::new("/"), ctx.work.as_path()] {
                    let p = host.join(n(w));
                    assert!(
                        !p.exists(),
                        "a container write reached the host: {}: {out}",
                        p.display()
                    );
                }
            }
            check_host_untouched(&out);
        }
    });
}

// ------------------------------------------------------------------ kernel interfaces

/// Files runc masks (/dev/null bound over them).
const MASKED_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/timer_stats",
];
/// Directories runc masks (an empty read-only tmpfs).
const MASKED_DIRS: &[&str] = &["/proc/scsi", "/sys/firmware", "/proc/acpi"];
/// Read-only paths, each with a write into it (a truncating open of an
/// existing file: the kernel checks for a read-only mount before the file's
/// own permissions, so the error is EROFS exactly when the mount is
/// read-only; procfs refuses to create files in these directories with
/// ENOENT either way).
const READONLY_WRITES: &[(&str, &str)] = &[
    ("/proc/sysrq-trigger", "echo h > /proc/sysrq-trigger"),
    ("/proc/sys", "echo rless > /proc/sys/kernel/domainname"),
    ("/proc/sys/net", "echo 1 > /proc/sys/net/ipv4/ip_forward"),
    ("/proc/irq", "f=$(find /proc/irq -type f | head -n 1); [ -n \"$f\" ] || { echo nofile; exit 0; }; echo 1 > $f"),
    ("/proc/bus", "f=$(find /proc/bus -type f | head -n 1); [ -n \"$f\" ] || { echo nofile; exit 0; }; echo 1 > $f"),
    ("/proc/fs", "f=$(find /proc/fs -type f | head -n 1); [ -n \"$f\" ] || { echo nofile; exit 0; }; echo 1 > $f"),
    ("/proc/asound", "f=$(find /proc/asound -type f | head -n 1); [ -n \"$f\" ] || { echo nofile; exit 0; }; echo 1 > $f"),
];

fn kernel_paths_script() -> String {
    let mut s = String::new();
    for f in MASKED_FILES {
        s += &format!(
            "if [ -e {f} ]; then echo \"file {f} $(cat {f} 2>/dev/null | wc -c)\"; \
             else echo \"file {f} missing\"; fi; "
        );
    }
    for d in MASKED_DIRS {
        s += &format!(
            "if [ -d {d} ]; then echo \"dir {d} $(ls -A {d} | wc -l)\"; \
             else echo \"dir {d} missing\"; fi; "
        );
    }
    for (p, w) in READONLY_WRITES {
        s += &format!(
            "if [ -e {p} ]; then echo \"write {p} $( ({w}) 2>&1 && echo ok)\"; \
             else echo \"write {p} missing\"; fi; "
        );
    }
    s
}

/// `kind path rest` lines.
fn kernel_paths(out: &Out) -> BTreeMap<(String, String), String> {
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ' ');
            Some((
                (p.next()?.to_string(), p.next()?.to_string()),
                p.next().unwrap_or("").trim().to_string(),
            ))
        })
        .collect()
}

/// Every masked and read-only path.
fn masked_and_readonly() -> Vec<&'static str> {
    MASKED_FILES
        .iter()
        .chain(MASKED_DIRS)
        .copied()
        .chain(READONLY_WRITES.iter().map(|(p, _)| *p))
        .filter(|p| *p != "/proc/sys/net")
        .collect()
}

/// The container's mount points and their per-mount options.
fn mount_points(ctx: &Ctx, opts: &[&str]) -> BTreeMap<String, String> {
    sh(ctx, opts, "cat /proc/self/mountinfo")
        .stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f.get(4)?.to_string(), f.get(5)?.to_string()))
        })
        .collect()
}

#[test]
fn iso_masked_and_readonly_kernel_paths() {
    if !prerequisites(false) {
        return;
    }
    // What the host has, for the positive control.
    let host_firmware = common::list_names(Path::new("/sys/firmware")).len();
    for_each_user("iso_masked_and_readonly_kernel_paths", |ctx| {
        setup_image(ctx, false);
        let out = sh(ctx, &[], &kernel_paths_script());
        let got = kernel_paths(&out);
        for f in MASKED_FILES {
            let v = &got[&("file".to_string(), f.to_string())];
            assert!(
                v == "missing" || v == "0",
                "{f} must be empty or missing in the container, got {v:?}: {out}"
            );
            if Path::new(f).exists() {
                assert_eq!(v, "0", "{f} exists on the host: it must be masked: {out}");
            }
        }
        for d in MASKED_DIRS {
            let v = &got[&("dir".to_string(), d.to_string())];
            assert!(
                v == "missing" || v == "0",
                "{d} must be an empty directory or missing, got {v:?} entries: {out}"
            );
        }
        for (p, _) in READONLY_WRITES {
            let v = &got[&("write".to_string(), p.to_string())];
            if Path::new(p).exists() && !v.contains("nofile") {
                assert!(
                    v.contains("Read-only file system"),
                    "a write under {p} must fail with EROFS, got {v:?}: {out}"
                );
            }
        }
        // The masks are mounts, and read-only paths are read-only mounts.
        let mounts = mount_points(ctx, &[]);
        for p in masked_and_readonly() {
            if !Path::new(p).exists() {
                continue;
            }
            let opts = mounts
                .get(p)
                .unwrap_or_else(|| panic!("{p} exists on the host but has no mask or read-only mount in the container: {mounts:?}"));
            if READONLY_WRITES.iter().any(|(r, _)| r == &p) || MASKED_DIRS.contains(&p) {
                assert!(
                    opts.split(',').any(|o| o == "ro"),
                    "{p} must be mounted read-only: {opts}"
                );
            }
        }

        // --privileged lifts both (positive control).
        let out = sh(ctx, &["--privileged"], &kernel_paths_script());
        let got = kernel_paths(&out);
        let mounts = mount_points(ctx, &["--privileged"]);
        for p in masked_and_readonly() {
            assert!(
                !mounts.contains_key(p),
                "--privileged: {p} must be neither masked nor read-only: {mounts:?}"
            );
        }
        // /proc/keys is world-readable and lists the keys the reader may
        // view: the mask hides them (timer_list is root-only, 0400, and
        // stays unreadable to a user namespace's root either way).
        if Path::new("/proc/keys").exists() {
            let v = &got[&("file".to_string(), "/proc/keys".to_string())];
            assert!(
                v.parse::<usize>().unwrap_or(0) > 0,
                "--privileged: /proc/keys must show the container's keys, got {v:?}: {out}"
            );
        }
        if host_firmware > 0 {
            let v = &got[&("dir".to_string(), "/sys/firmware".to_string())];
            assert!(
                v.parse::<usize>().unwrap_or(0) > 0,
                "--privileged: /sys/firmware must not be masked, got {v:?}: {out}"
            );
        }
        for (p, _) in READONLY_WRITES {
            let v = &got[&("write".to_string(), p.to_string())];
            assert!(
                !v.contains("Read-only file system"),
                "--privileged: {p} must not be a read-only mount, got {v:?}: {out}"
            );
        }
    });
}

// ------------------------------------------------------------------ mount

#[test]
fn iso_mount_denied() {
    if !prerequisites(true) {
        return;
    }
    let checks = [
        "mount_tmpfs",
        "mount_proc",
        "mount_bind_root",
        "umount_mask",
    ];
    for_each_user("iso_mount_denied", |ctx| {
        setup_image(ctx, true);
        // Default: seccomp and the missing CAP_SYS_ADMIN both refuse.
        let (m, out) = probe_run(ctx, &[], &checks);
        for c in checks {
            assert_eq!(get(&m, c, &out), "EPERM", "{c} by default: {out}");
        }
        // busybox's mount says so too.
        let out = run(ctx, &[], &["mount", "-t", "tmpfs", "none", "/mnt"]);
        assert_ne!(out.code, Some(0), "mount must fail: {out}");
        assert!(
            out.stderr.contains("Operation not permitted")
                || out.stderr.contains("permission denied"),
            "{out}"
        );
        // No seccomp, default capabilities: the capability check alone.
        let (m, out) = probe_run(ctx, &["--security-opt", "seccomp=unconfined"], &checks);
        for c in checks {
            assert_eq!(
                get(&m, c, &out),
                "EPERM",
                "{c} without seccomp but without CAP_SYS_ADMIN: {out}"
            );
        }
        // CAP_SYS_ADMIN, but a profile that denies mount: seccomp alone.
        let profile = ctx.write_file(
            "deny-mount.json",
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount","umount2","fsopen","open_tree","move_mount"],"action":"SCMP_ACT_ERRNO"}]}"#,
        );
        let opt = format!("seccomp={}", profile.display());
        let (m, out) = probe_run(
            ctx,
            &["--cap-add", "SYS_ADMIN", "--security-opt", &opt],
            &["mount_tmpfs", "mount_proc"],
        );
        assert_eq!(get(&m, "mount_tmpfs", &out), "EPERM", "{out}");
        assert_eq!(get(&m, "mount_proc", &out), "EPERM", "{out}");
        // Positive control: with CAP_SYS_ADMIN the default profile allows
        // mount (docker's semantics), and a tmpfs mounts inside.
        let (m, out) = probe_run(ctx, &["--cap-add", "SYS_ADMIN"], &["mount_tmpfs"]);
        assert_eq!(
            get(&m, "mount_tmpfs", &out),
            "OK",
            "--cap-add SYS_ADMIN must allow a tmpfs mount: {out}"
        );
        let out = sh(
            ctx,
            &["--cap-add", "SYS_ADMIN"],
            "mount -t tmpfs none /mnt && echo x > /mnt/f && grep -c ' /mnt tmpfs ' /proc/mounts",
        );
        assert_eq!(out.stdout, "1\n", "{out}");
        // There are no host block devices to mount anyway.
        let out = sh(ctx, &[], "ls /dev");
        for l in out.stdout.split_whitespace() {
            assert!(
                !["sd", "vd", "nvme", "xvd", "hd", "loop", "dm-", "mmcblk"]
                    .iter()
                    .any(|p| l.starts_with(p)),
                "a block device is visible in the container's /dev: {l}: {out}"
            );
        }
    });
}

// ------------------------------------------------------------------ syscalls

#[test]
fn iso_denied_syscalls() {
    if !prerequisites(true) {
        return;
    }
    let checks = [
        "keyctl",
        "add_key",
        "request_key",
        "unshare_user",
        "unshare_mnt",
    ];
    for_each_user("iso_denied_syscalls", |ctx| {
        setup_image(ctx, true);
        let (m, out) = probe_run(ctx, &[], &checks);
        for c in checks {
            assert_eq!(
                get(&m, c, &out),
                "EPERM",
                "{c} under the default profile: {out}"
            );
        }
        let out = run(ctx, &[], &["unshare", "-U", "true"]);
        assert_ne!(out.code, Some(0), "unshare -U must fail: {out}");
        assert!(out.stderr.contains("Operation not permitted"), "{out}");

        // Positive control: without the filter the same calls get through
        // (or fail for the kernel's own reasons, never EPERM).
        for opts in [
            &["--security-opt", "seccomp=unconfined"][..],
            &["--privileged"],
        ] {
            let (m, out) = probe_run(ctx, opts, &checks);
            assert_eq!(get(&m, "keyctl", &out), "OK", "{opts:?}: {out}");
            assert_ne!(get(&m, "add_key", &out), "EPERM", "{opts:?}: {out}");
            assert_eq!(get(&m, "request_key", &out), "ENOKEY", "{opts:?}: {out}");
            assert_eq!(
                get(&m, "unshare_user", &out),
                "OK",
                "{opts:?}: a nested user namespace must work without the filter: {out}"
            );
            let out = run(ctx, opts, &["unshare", "-U", "true"]);
            assert!(out.success(), "{opts:?}: unshare -U true: {out}");
        }

        // Foreign syscall ABIs never get through (x86_64 only).
        if cfg!(target_arch = "x86_64") {
            let (free, fout) = probe_run(
                ctx,
                &["--security-opt", "seccomp=unconfined"],
                &["int80", "x32"],
            );
            let (m, out) = probe_run(ctx, &[], &["int80", "x32"]);
            match get(&free, "int80", &fout) {
                "OK" => assert_eq!(
                    get(&m, "int80", &out),
                    "SIGSYS",
                    "an i386 syscall (int 0x80) must kill the process: {out}"
                ),
                other => eprintln!(
                    "NOTE: this kernel has no i386 syscall entry (int 0x80 -> {other} without a filter); not checked"
                ),
            }
            let x32 = get(&m, "x32", &out);
            assert_ne!(x32, "OK", "an x32 syscall got through the filter: {out}");
            assert_eq!(
                x32, "SIGSYS",
                "x32 syscall numbers must kill the process (as documented): {out}"
            );
        }
    });
}

// ------------------------------------------------------------------ setuid

#[test]
fn iso_setuid_binary_gains_nothing() {
    if !prerequisites(true) {
        return;
    }
    for_each_user("iso_setuid_binary_gains_nothing", |ctx| {
        let dir = ctx.work.join("rootfs");
        make_rootfs(ctx, &dir, true);
        let suid = dir.join("bin/suidprobe");
        fs::copy(probe().unwrap(), &suid).unwrap();
        ctx.give(&suid);
        // After the chown, which clears the bit.
        fs::set_permissions(&suid, fs::Permissions::from_mode(0o4755)).unwrap();
        ctx.ok(&["import", dir.to_str().unwrap(), IMG]);

        // no_new_privs is set for every container process.
        let out = sh(ctx, &[], "grep NoNewPrivs /proc/self/status");
        assert_eq!(out.stdout.split_whitespace().nth(1), Some("1"), "{out}");

        if ctx.user.mode == Mode::Single {
            eprintln!(
                "NOTE iso_setuid_binary_gains_nothing: single-id mode maps only the user's own id, \
                 so the container cannot switch to a non-root user; the setuid check runs in subuid mode only"
            );
            return;
        }
        let out = sh(ctx, &[], "stat -c '%a %u' /bin/suidprobe");
        assert_eq!(
            out.stdout, "4755 0\n",
            "the image's setuid-root binary must keep its mode and owner: {out}"
        );
        let out2 = run_ok(ctx, &["-u", "1000"], &["/bin/suidprobe", "ids"]);
        let m = answers(&out2.stdout);
        assert_eq!(get(&m, "uid", &out2), "1000", "{out2}");
        assert_eq!(
            get(&m, "euid", &out2),
            "1000",
            "a setuid-root binary raised the effective uid: {out2}"
        );
        assert_eq!(hex(&m, "CapEff", &out2), 0, "capabilities gained: {out2}");
        assert_eq!(hex(&m, "CapPrm", &out2), 0, "capabilities gained: {out2}");
        assert_eq!(get(&m, "NoNewPrivs", &out2), "1", "{out2}");

        // Positive control: without no_new_privs (and without the filter,
        // see iso_no_new_privileges_false_keeps_seccomp) the bit works.
        let out = run_ok(
            ctx,
            &[
                "-u",
                "1000",
                "--security-opt",
                "no-new-privileges=false",
                "--security-opt",
                "seccomp=unconfined",
            ],
            &["/bin/suidprobe", "ids"],
        );
        let m = answers(&out.stdout);
        assert_eq!(get(&m, "NoNewPrivs", &out), "0", "{out}");
        assert_eq!(
            get(&m, "euid", &out),
            "0",
            "without no_new_privs the setuid bit must work (else this test proves nothing): {out}"
        );
    });
}

/// `--security-opt no-new-privileges=false` as a non-root user with the
/// default seccomp profile: docker installs the filter while the process
/// still has CAP_SYS_ADMIN, so the container runs, filtered.
#[test]
fn iso_no_new_privileges_false_keeps_seccomp() {
    if !prerequisites(true) {
        return;
    }
    for_each_user("iso_no_new_privileges_false_keeps_seccomp", |ctx| {
        setup_image(ctx, true);
        let nnp_off = ["--security-opt", "no-new-privileges=false"];
        let (m, out) = probe_run(ctx, &nnp_off, &["ids", "keyctl"]);
        assert_eq!(get(&m, "NoNewPrivs", &out), "0", "{out}");
        assert_eq!(get(&m, "Seccomp", &out), "2", "{out}");
        assert_eq!(get(&m, "keyctl", &out), "EPERM", "{out}");
        if ctx.user.mode == Mode::Single {
            eprintln!("NOTE: single-id mode: no non-root user to check");
            return;
        }
        let mut opts = nnp_off.to_vec();
        opts.extend(["-u", "1000"]);
        let out = run(ctx, &opts, &["/bin/probe", "ids", "keyctl"]);
        assert!(
            out.success(),
            "a non-root container without no_new_privs must start with the default seccomp profile: {out}"
        );
        let m = answers(&out.stdout);
        assert_eq!(get(&m, "euid", &out), "1000", "{out}");
        assert_eq!(get(&m, "Seccomp", &out), "2", "{out}");
        assert_eq!(get(&m, "keyctl", &out), "EPERM", "{out}");
    });
}

// ------------------------------------------------------------------ ptrace

#[test]
fn iso_ptrace_confined() {
    if !prerequisites(true) {
        return;
    }
    let me = std::process::id();
    for_each_user("iso_ptrace_confined", |ctx| {
        setup_image(ctx, true);
        let host = format!("ptrace:{me}");
        let out = sh(
            ctx,
            &[],
            &format!("test -e /proc/{me} && echo visible || echo absent"),
        );
        assert_eq!(out.stdout, "absent\n", "{out}");
        // Root in the container, without CAP_SYS_PTRACE: the init holds
        // capabilities the command lacks, so it cannot be traced or read.
        let (m, out) = probe_run(ctx, &[], &["ptrace:1", &host]);
        assert_eq!(get(&m, "ptrace:1", &out), "EPERM", "{out}");
        assert_eq!(get(&m, &host, &out), "ESRCH", "{out}");
        let out = run(ctx, &[], &["cat", "/proc/1/environ"]);
        assert_ne!(
            out.code,
            Some(0),
            "/proc/1/environ must not be readable: {out}"
        );
        if ctx.user.mode == Mode::Subuid {
            let (m, out) = probe_run(ctx, &["-u", "1000"], &["ptrace:1", &host]);
            assert_eq!(get(&m, "ptrace:1", &out), "EPERM", "as uid 1000: {out}");
            assert_eq!(get(&m, &host, &out), "ESRCH", "as uid 1000: {out}");
        } else {
            eprintln!("NOTE: single-id mode: no non-root user to check ptrace as");
        }
        // Positive control: with every capability, pid 1 can be traced.
        let (m, out) = probe_run(ctx, &["--privileged"], &["ptrace:1", &host]);
        assert_eq!(get(&m, "ptrace:1", &out), "OK", "--privileged: {out}");
        assert_eq!(get(&m, &host, &out), "ESRCH", "--privileged: {out}");
        let out = run(ctx, &["--privileged"], &["cat", "/proc/1/environ"]);
        assert!(out.success(), "--privileged: {out}");
    });
}

// ------------------------------------------------------------------ capabilities

#[test]
fn iso_capabilities() {
    if !prerequisites(true) {
        return;
    }
    let full = host_full_caps();
    for_each_user("iso_capabilities", |ctx| {
        setup_image(ctx, true);
        let caps = |opts: &[&str]| {
            let (m, out) = probe_run(ctx, opts, &["ids"]);
            let v: BTreeMap<&str, u64> = ["CapPrm", "CapEff", "CapBnd", "CapInh", "CapAmb"]
                .into_iter()
                .map(|k| (k, hex(&m, k, &out)))
                .collect();
            (v, out)
        };
        let (c, out) = caps(&[]);
        for k in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(
                c[k], DOCKER_DEFAULT_CAPS,
                "{k} must be docker's default set {DOCKER_DEFAULT_CAPS:x}, got {:x}: {out}",
                c[k]
            );
        }
        assert_eq!(c["CapAmb"], 0, "{out}");
        assert_eq!(
            c["CapInh"] & !DOCKER_DEFAULT_CAPS,
            0,
            "CapInh beyond the default set: {out}"
        );

        let (c, out) = caps(&["--cap-drop", "ALL"]);
        for (k, v) in &c {
            assert_eq!(*v, 0, "--cap-drop ALL: {k} is {v:x}: {out}");
        }

        let (c, out) = caps(&["--cap-add", "NET_ADMIN"]);
        for k in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(c[k], DOCKER_DEFAULT_CAPS | CAP_NET_ADMIN, "{k}: {out}");
        }

        let (c, out) = caps(&["--cap-drop", "ALL", "--cap-add", "CHOWN"]);
        for k in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(c[k], 1, "{k}: {out}");
        }

        let (c, out) = caps(&["--privileged"]);
        for k in ["CapPrm", "CapEff", "CapBnd"] {
            assert_eq!(
                c[k], full,
                "--privileged: {k} must be every capability: {out}"
            );
        }

        if ctx.user.mode == Mode::Subuid {
            let (c, out) = caps(&["-u", "1000"]);
            assert_eq!(c["CapPrm"], 0, "uid 1000: {out}");
            assert_eq!(c["CapEff"], 0, "uid 1000: {out}");
            assert_eq!(c["CapInh"], 0, "uid 1000: {out}");
            assert_eq!(c["CapAmb"], 0, "uid 1000: {out}");
            assert_eq!(c["CapBnd"], DOCKER_DEFAULT_CAPS, "uid 1000: {out}");
        }

        let out = ctx.rless(&["run", "--rm", "--cap-add", "BOGUS", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_no_containers(ctx, "--cap-add BOGUS");
    });
}

/// docker (since 20.10.14, for CVE-2022-24769) leaves the inheritable set
/// empty: otherwise a root process that switches to another user keeps
/// it, and the new user regains those capabilities by executing a file
/// with inheritable file capabilities (no_new_privs blocks that, but
/// `--security-opt no-new-privileges=false` turns it off).
#[test]
fn iso_inheritable_capabilities_empty() {
    if !prerequisites(true) {
        return;
    }
    for_each_user("iso_inheritable_capabilities_empty", |ctx| {
        setup_image(ctx, true);
        if ctx.user.mode == Mode::Subuid {
            // Root gives a copy of the probe CAP_NET_RAW as an inheritable
            // file capability, switches to uid 1000 and executes it.
            let script =
                "cp /bin/probe /tmp/p && /bin/probe setfcap:/tmp/p setuid:1000 exec:/tmp/p ids";
            let out = sh(ctx, &[], script);
            let m = answers(&out.stdout);
            assert_eq!(get(&m, "setfcap", &out), "OK", "{out}");
            assert_eq!(get(&m, "euid", &out), "1000", "{out}");
            assert_eq!(hex(&m, "CapEff", &out), 0, "no_new_privs: {out}");
            let out = sh(
                ctx,
                &[
                    "--security-opt",
                    "no-new-privileges=false",
                    "--security-opt",
                    "seccomp=unconfined",
                ],
                script,
            );
            let m = answers(&out.stdout);
            assert_eq!(get(&m, "euid", &out), "1000", "{out}");
            assert_eq!(
                hex(&m, "CapPrm", &out),
                0,
                "uid 1000 regained capabilities through the inheritable set root left it: {out}"
            );
        } else {
            eprintln!("NOTE: single-id mode: no other user to switch to; checking the set only");
        }
        let (m, out) = probe_run(ctx, &[], &["ids"]);
        assert_eq!(
            hex(&m, "CapInh", &out),
            0,
            "the default inheritable set must be empty, as docker's: {out}"
        );
    });
}

// ------------------------------------------------------------------ seccomp

#[test]
fn iso_seccomp_modes_and_profiles() {
    if !prerequisites(true) {
        return;
    }
    for_each_user("iso_seccomp_modes_and_profiles", |ctx| {
        setup_image(ctx, true);
        let mode = |opts: &[&str]| {
            let (m, out) = probe_run(ctx, opts, &["ids"]);
            (get(&m, "Seccomp", &out).to_string(), out)
        };
        let (s, out) = mode(&[]);
        assert_eq!(s, "2", "default: a filter: {out}");
        let (s, out) = mode(&["--security-opt", "seccomp=unconfined"]);
        assert_eq!(s, "0", "seccomp=unconfined: {out}");
        let (s, out) = mode(&["--privileged"]);
        assert_eq!(s, "0", "--privileged: {out}");
        let (s, out) = mode(&["--security-opt", "seccomp:unconfined"]);
        assert_eq!(s, "0", "seccomp:unconfined (docker's old spelling): {out}");

        // A custom profile: everything allowed but mkdir, which gets EACCES.
        let profile = ctx.write_file(
            "no-mkdir.json",
            br#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
  ]
}"#,
        );
        let opt = format!("seccomp={}", profile.display());
        let out = run(
            ctx,
            &["--security-opt", &opt],
            &["sh", "-c", "touch /tmp/f && echo touched; mkdir /tmp/d"],
        );
        assert_ne!(
            out.code,
            Some(0),
            "mkdir must fail under the profile: {out}"
        );
        assert_eq!(out.stdout, "touched\n", "other syscalls are allowed: {out}");
        assert!(
            out.stderr.contains("Permission denied"),
            "mkdir must fail with EACCES: {out}"
        );
        let (m, out) = probe_run(ctx, &["--security-opt", &opt], &["ids", "keyctl"]);
        assert_eq!(get(&m, "Seccomp", &out), "2", "{out}");
        assert_eq!(
            get(&m, "keyctl", &out),
            "OK",
            "the custom profile replaces the default one: {out}"
        );
        // Positive control: the same mkdir works without it.
        sh(ctx, &[], "mkdir /tmp/d");

        // Bad profiles: 125, one line, nothing left behind.
        let bad: [(&str, &[u8]); 4] = [
            ("truncated.json", br#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["#),
            ("action.json", br#"{"defaultAction": "SCMP_ACT_BOGUS"}"#),
            (
                "name.json",
                br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_MAYBE"}]}"#,
            ),
            ("empty.json", b""),
        ];
        for (name, text) in bad {
            let p = ctx.write_file(name, text);
            let opt = format!("seccomp={}", p.display());
            let out = run(ctx, &["--security-opt", &opt], &["true"]);
            assert_one_error(&out, ERR_EXIT);
            assert_no_containers(ctx, name);
        }
        let missing = ctx.work.join("no-such-profile.json");
        let opt = format!("seccomp={}", missing.display());
        let out = run(ctx, &["--security-opt", &opt], &["true"]);
        assert_one_error(&out, ERR_EXIT);
        for o in ["seccomp", "bogus=1", "no-new-privileges=maybe"] {
            let out = run(ctx, &["--security-opt", o], &["true"]);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_no_containers(ctx, "bad --security-opt");
    });
}

// ------------------------------------------------------------------ ulimit

#[test]
fn iso_ulimit() {
    if !prerequisites(false) {
        return;
    }
    for_each_user("iso_ulimit", |ctx| {
        setup_image(ctx, false);
        let out = sh(
            ctx,
            &["--ulimit", "nofile=100:200"],
            "ulimit -n; ulimit -Hn",
        );
        assert_eq!(out.stdout, "100\n200\n", "{out}");
        let out = sh(ctx, &["--ulimit", "nofile=150"], "ulimit -n; ulimit -Hn");
        assert_eq!(out.stdout, "150\n150\n", "one value sets both: {out}");
        // The limit is enforced, not only reported.
        let out = run(
            ctx,
            &["--ulimit", "nofile=8:8"],
            &["sh", "-c", "exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null && echo opened"],
        );
        assert_ne!(
            out.stdout, "opened\n",
            "fd 8 must be refused with nofile=8: {out}"
        );
        // Positive control.
        let out = sh(
            ctx,
            &[],
            "exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null && echo opened",
        );
        assert_eq!(out.stdout, "opened\n", "{out}");

        for bad in [
            "nofile",
            "nofile=",
            "nofile=abc",
            "bogus=1",
            "nofile=200:100",
            "nofile=1:2:3",
            "=5",
        ] {
            let out = run(ctx, &["--ulimit", bad], &["true"]);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_no_containers(ctx, "bad --ulimit");
    });
}

// ------------------------------------------------------------------ cgroups

/// What this host's cgroups look like.
fn cgroup_v2() -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    rustix::fs::statfs("/sys/fs/cgroup").is_ok_and(|s| {
        #[allow(clippy::unnecessary_cast)]
        let t = s.f_type as i64;
        t == CGROUP2_SUPER_MAGIC
    })
}

#[test]
fn iso_cgroup_limits_report() {
    if !prerequisites(false) {
        return;
    }
    let v2 = cgroup_v2();
    if v2 {
        eprintln!(
            "NOTE iso_cgroup_limits_report: this host runs cgroup v2; this test checks the \
             warning of a user without a delegated subtree (tests/cgroups.rs checks that limits \
             are applied where one is delegated)"
        );
    }
    for_each_user("iso_cgroup_limits_report", |ctx| {
        setup_image(ctx, false);
        let out = run(ctx, &["--memory", "64m"], &["true"]);
        assert_eq!(out.code, Some(0), "{out}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "exactly one warning line: {out}");
        assert!(
            lines[0].starts_with("rless: warning:") && lines[0].contains("--memory"),
            "the warning names --memory: {out}"
        );
        if !v2 {
            assert!(
                lines[0].contains("v1") || lines[0].contains("hybrid"),
                "the warning says why (cgroup v1/hybrid): {out}"
            );
        }
        let out = run(ctx, &["--memory", "64m", "--pids-limit", "10"], &["true"]);
        assert_eq!(out.code, Some(0), "{out}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "one warning for all limits: {out}");
        assert!(
            lines[0].contains("--memory") && lines[0].contains("--pids-limit"),
            "{out}"
        );

        let out = run(ctx, &["--cgroups=required"], &["true"]);
        assert_one_error(&out, ERR_EXIT);
        let out = run(ctx, &["--cgroups=required", "--memory", "64m"], &["true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stdout.is_empty(), "{out}");
        assert_no_containers(ctx, "--cgroups=required");

        let out = run(ctx, &["--cgroups=disabled", "--memory", "64m"], &["true"]);
        assert_eq!(out.code, Some(0), "{out}");
        assert!(
            out.stderr.trim().is_empty(),
            "--cgroups=disabled: no warning: {out}"
        );
        // No limit flags: no warning either.
        let out = run(ctx, &[], &["true"]);
        assert!(out.stderr.trim().is_empty(), "{out}");

        let out = run(ctx, &["--cgroups=bogus"], &["true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_no_containers(ctx, "--cgroups=bogus");
    });
}

// ------------------------------------------------------------------ exec

/// `rless exec` joins a running container: the process it starts gets the
/// same confinement as the container's command.
#[test]
fn iso_exec_is_confined() {
    if !prerequisites(true) {
        return;
    }
    for_each_user("iso_exec_is_confined", |ctx| {
        setup_image(ctx, true);
        let me = std::process::id();
        let host = format!("ptrace:{me}");
        for (name, opts, seccomp, caps) in [
            ("iso-default", &[][..], "2", DOCKER_DEFAULT_CAPS),
            (
                "iso-privileged",
                &["--privileged"][..],
                "0",
                host_full_caps(),
            ),
        ] {
            let mut a = vec!["run", "-d", "--name", name];
            a.extend_from_slice(opts);
            a.extend_from_slice(&[IMG, "sleep", "600"]);
            ctx.ok(&a);
            let out = ctx.rless(&["exec", name, "/bin/probe", "ids", "keyctl", &host]);
            let _ = ctx.rless(&["rm", "-f", name]);
            assert!(out.success(), "{out}");
            let m = answers(&out.stdout);
            assert_eq!(get(&m, "Seccomp", &out), seccomp, "{name}: {out}");
            assert_eq!(hex(&m, "CapEff", &out), caps, "{name}: {out}");
            assert_eq!(hex(&m, "CapBnd", &out), caps, "{name}: {out}");
            assert_eq!(get(&m, &host, &out), "ESRCH", "{name}: {out}");
            if seccomp == "2" {
                assert_eq!(get(&m, "NoNewPrivs", &out), "1", "{name}: {out}");
                assert_eq!(get(&m, "keyctl", &out), "EPERM", "{name}: {out}");
            } else {
                assert_eq!(get(&m, "keyctl", &out), "OK", "{name}: {out}");
            }
        }
        assert_no_containers(ctx, "exec containers removed");
    });
}

// ------------------------------------------------------------------ the store

/// Whether users other than the owner (and root) can read `path`: it and
/// every directory above it grant "other" the needed bits.
fn others_can_read(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = fs::metadata(path) else {
        return false;
    };
    let want = if md.is_dir() { 0o005 } else { 0o004 };
    if md.mode() & want != want {
        return false;
    }
    path.ancestors()
        .skip(1)
        .all(|a| fs::metadata(a).is_ok_and(|m| m.mode() & 0o001 != 0))
}

/// Other users on a shared host must not read a container's spec (its
/// environment, which often carries credentials), its logs or its files:
/// the store rless creates is private to the user, as podman's is.
#[test]
fn iso_store_private_to_user() {
    if !prerequisites(false) {
        return;
    }
    for_each_user("iso_store_private_to_user", |ctx| {
        // A store rless creates itself (the harness makes its own 0700),
        // below a directory everyone may enter.
        let parent = user_dir(ctx, "shared");
        let root = parent.join("store");
        let rless = |args: &[&str]| {
            let mut c = ctx.command(common::rless_bin());
            c.arg("--root").arg(&root).args(args);
            common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name)
        };
        let dir = ctx.work.join("rootfs");
        make_rootfs(ctx, &dir, false);
        let out = rless(&["import", dir.to_str().unwrap(), IMG]);
        assert!(out.success(), "{out}");
        let out = rless(&[
            "run",
            "--name",
            "private",
            "-e",
            "SECRET=hunter2",
            IMG,
            "sh",
            "-c",
            "echo hunter2 > /root/secret",
        ]);
        assert!(out.success(), "{out}");
        let mut exposed = Vec::new();
        let containers = root.join("containers");
        for c in common::list_names(&containers) {
            let cdir = containers.join(&c);
            for p in [
                cdir.join("spec.json"),
                cdir.join("config.json"),
                cdir.join("upper/root/secret"),
            ] {
                if others_can_read(&p) {
                    exposed.push(p.display().to_string());
                }
            }
        }
        let _ = rless(&["system", "reset", "-f"]);
        assert!(
            exposed.is_empty(),
            "other users can read these container files (the store at {} is not private): {exposed:?}",
            root.display()
        );
    });
}
