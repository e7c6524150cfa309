//! Escape and hardening tests, processes and files: host processes are
//! invisible, nothing is written outside the root, masked and read-only
//! kernel paths, `mount` is refused, and the store is private to its user.
//! Syscalls, setuid, ptrace, capabilities, seccomp, ulimits, cgroup flags
//! and `exec` are in `isolation_privileges.rs`. `SECURITY.md` is the threat
//! model these tests back.
//!
//! Every check that something is refused has a positive control (a flag
//! that lifts the protection, or the same operation where it is allowed),
//! so a check that can no longer fail is noticed.
//! Shared helpers and constants are in `common::isolation_helpers`.

mod common;

use common::isolation_helpers::*;
use common::rootfs::user_dir;
use common::{for_each_user, Ctx, Out};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

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

/// Gives the test user a user keyring (the kernel makes one only when a
/// process asks for it, so whether one exists depended on what ran
/// before), so that /proc/keys has something to mask; whether the user
/// now sees a key there. python3 is among tests/run.sh's packages.
fn make_user_keyring(ctx: &Ctx) -> bool {
    if !Path::new("/proc/keys").exists() {
        return false;
    }
    let mut py = ctx.command(Path::new("/usr/bin/python3"));
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, create).
    py.args([
        "-c",
        "import ctypes, platform; \
         n = {'x86_64': 250, 'aarch64': 219}[platform.machine()]; \
         ctypes.CDLL(None).syscall(n, 0, -4, 1)",
    ]);
    let made = common::run_cmd(py, None, common::CMD_TIMEOUT, &ctx.user.name);
    let mut cat = ctx.command(Path::new("/bin/cat"));
    cat.arg("/proc/keys");
    let shown = common::run_cmd(cat, None, common::CMD_TIMEOUT, &ctx.user.name);
    if shown.stdout.is_empty() {
        common::skip(&format!(
            "no key in /proc/keys for {} (making a user keyring: {made})",
            ctx.user.name
        ));
        return false;
    }
    true
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
        let user_keys = make_user_keyring(ctx);
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
        if user_keys {
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
