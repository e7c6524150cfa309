//! rless on an older kernel, as RHEL 8's 4.18: every system call that came
//! after 4.18 (clone3, pidfd_open, openat2, open_tree, close_range, …)
//! answers ENOSYS, through a seccomp filter the test puts on the rless
//! process it starts, which everything it runs inherits (monitor, init,
//! newuidmap, the container's command). The everyday commands must work
//! there, or fail with one clear line where a feature needs the newer
//! kernel.
//!
//! What the filter cannot make old: kernel overlayfs in a user namespace
//! (5.11+) still mounts, so the scenarios also force fuse-overlay; and the
//! kernel's own behaviour (FUSE protocol, /proc) stays 6.x.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::checks::*;
use common::lifecycle_helpers::{setup_image, IMG};
use common::usernet_helpers::leftovers;
use common::{for_each_user, run_cmd, skip, Ctx, Out, CMD_TIMEOUT};
use rless::runtime::seccomp::{compile, install, Action, Profile};
use std::os::unix::process::CommandExt;

/// System calls Linux added after 4.18 (x86_64), newest last.
const AFTER_4_18: &[&str] = &[
    // 4.19 and 5.0 added none on x86_64 that rless could use.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "pidfd_send_signal",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "pidfd_open",
    "clone3",
    "openat2",
    "pidfd_getfd",
    "faccessat2",
    "close_range",
    "process_madvise",
    "epoll_pwait2",
    "mount_setattr",
    "quotactl_fd",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "memfd_secret",
    "process_mrelease",
    "futex_waitv",
    "set_mempolicy_home_node",
    "cachestat",
    "fchmodat2",
    "map_shadow_stack",
    "futex_wake",
    "futex_wait",
    "futex_requeue",
    "statmount",
    "listmount",
    "lsm_get_self_attr",
    "lsm_set_self_attr",
    "lsm_list_modules",
    "mseal",
    "setxattrat",
    "getxattrat",
    "listxattrat",
    "removexattrat",
];

/// `rless --root STORE args…` as the test user, under a filter that makes
/// it see a 4.18 kernel. The filter goes on as root (no no_new_privs, so
/// newuidmap keeps its set-user-id), then the child becomes the user.
fn old_rless(ctx: &Ctx, args: &[&str]) -> Out {
    let mut profile = Profile::new(Action::Allow);
    profile.add_rule(
        AFTER_4_18.iter().copied(),
        Action::Errno(nix::libc::ENOSYS as u16),
        &[],
    );
    let program = compile(&profile).expect("compile the 4.18 filter");
    let mut c = std::process::Command::new(common::rless_bin());
    ctx.user_env(&mut c);
    c.arg("--root").arg(&ctx.root).args(args);
    let (uid, gid) = (ctx.user.uid, ctx.user.gid);
    // SAFETY: the closure runs in the forked child before exec and only
    // makes system calls (seccomp, setgroups, setgid, setuid); `program`
    // was built before the fork and is only read.
    unsafe {
        c.pre_exec(move || {
            install(&program).map_err(std::io::Error::other)?;
            nix::unistd::setgroups(&[]).map_err(std::io::Error::from)?;
            nix::unistd::setgid(nix::unistd::Gid::from_raw(gid)).map_err(std::io::Error::from)?;
            nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name)
}

/// Whether the scenarios can run here (root, to put the filter on; and
/// busybox, for the image).
fn can_emulate() -> bool {
    if !rustix::process::geteuid().is_root() {
        skip("the 4.18 filter is put on as root, before the switch to the test user");
        return false;
    }
    common::oci::busybox().is_some()
}

fn old_ok(ctx: &Ctx, args: &[&str]) -> Out {
    let out = old_rless(ctx, args);
    assert!(out.success(), "on a 4.18 kernel: {out}");
    out
}

#[test]
fn everyday_commands_on_a_4_18_kernel() {
    if !can_emulate() {
        return;
    }
    for_each_user("everyday_commands_on_a_4_18_kernel", |ctx| {
        setup_image(ctx);
        let out = old_ok(ctx, &["run", "--rm", IMG, "echo", "hi"]);
        assert_eq!(out.stdout, "hi\n");
        // The filter is on: the command has it under rless's own.
        let filters = |out: Out| {
            out.stdout
                .lines()
                .find_map(|l| l.strip_prefix("Seccomp_filters:"))
                .map(|n| n.trim().to_string())
        };
        let new = filters(ctx.ok(&["run", "--rm", IMG, "cat", "/proc/self/status"]));
        let old = filters(old_ok(
            ctx,
            &["run", "--rm", IMG, "cat", "/proc/self/status"],
        ));
        assert_eq!((new.as_deref(), old.as_deref()), (Some("1"), Some("2")));
        for driver in ["overlay", "fuse-overlay"] {
            let name = format!("c-{driver}");
            let out = old_ok(
                ctx,
                &[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--storage-driver",
                    driver,
                    "-p",
                    "80",
                    IMG,
                    "sh",
                    "-c",
                    "echo started; exec sleep 1000",
                ],
            );
            assert_eq!(out.stdout.trim().len(), 64, "{out}");
            let out = old_ok(
                ctx,
                &["exec", &name, "sh", "-c", "echo x > /tmp/f; cat /tmp/f"],
            );
            assert_eq!(out.stdout, "x\n");
            let out = old_ok(ctx, &["cp", &format!("{name}:/tmp/f"), "-"]);
            assert!(out.stdout.contains('x'), "{out}");
            assert_eq!(old_ok(ctx, &["logs", &name]).stdout, "started\n");
            let out = old_ok(
                ctx,
                &["inspect", "--format", "{{.GraphDriver.Name}}", &name],
            );
            assert_eq!(out.stdout.trim(), driver);
            // Joining its namespaces.
            let donor = format!("container:{name}");
            for opt in ["--network", "--pid", "--uts"] {
                old_ok(ctx, &["run", "--rm", opt, &donor, IMG, "true"]);
            }
            // /dev/shm cannot be shared before 5.2: one line, nothing left.
            let out = old_rless(ctx, &["run", "--rm", "--ipc", &donor, IMG, "true"]);
            assert_one_error(&out, 125);
            assert!(out.stderr.contains("needs Linux 5.2 or later"), "{out}");
            old_ok(ctx, &["commit", &name, &format!("img-{driver}")]);
            old_ok(ctx, &["stop", "-t", "1", &name]);
            old_ok(ctx, &["rm", &name]);
        }
        // A user-defined network: its helper watches its users by pidfd
        // where there are pidfds.
        old_ok(ctx, &["network", "create", "n1"]);
        old_ok(
            ctx,
            &[
                "run",
                "-d",
                "--name",
                "w",
                "--network",
                "n1",
                IMG,
                "sleep",
                "1000",
            ],
        );
        let ip = old_ok(
            ctx,
            &[
                "inspect",
                "--format",
                "{{.NetworkSettings.Networks.n1.IPAddress}}",
                "w",
            ],
        );
        let ip = ip.stdout.trim();
        assert!(
            ip.parse::<std::net::Ipv4Addr>().is_ok(),
            "w's address: {ip:?}"
        );
        let out = old_ok(
            ctx,
            &["run", "--rm", "--network", "n1", IMG, "cat", "/etc/hosts"],
        );
        assert!(
            !out.stdout.contains(&format!("{ip}\t")),
            "another address: {out}"
        );
        old_ok(ctx, &["rm", "-f", "w"]);
        old_ok(ctx, &["network", "rm", "n1"]);
        let out = old_ok(ctx, &["run", "--rm", "img-fuse-overlay", "cat", "/tmp/f"]);
        assert_eq!(out.stdout, "x\n");
        assert_no_containers(ctx, "after the old-kernel scenarios");
        // The network helper leaves once it has had no container for
        // two seconds (it polls the inits without pidfds).
        let gone = eventually(std::time::Duration::from_secs(15), || {
            leftovers(ctx).is_empty()
        });
        assert!(gone, "left running: {:?}", leftovers(ctx));
    });
}

#[test]
fn build_and_control_on_a_4_18_kernel() {
    if !can_emulate() {
        return;
    }
    for_each_user("build_and_control_on_a_4_18_kernel", |ctx| {
        setup_image(ctx);
        let context = ctx.work.join("ctx");
        std::fs::create_dir(&context).unwrap();
        std::fs::write(context.join("data"), "from the context\n").unwrap();
        std::fs::write(
            context.join("Containerfile"),
            format!(
                "FROM {IMG}\nCOPY data /data\nRUN echo built > /built\n\
                 HEALTHCHECK --interval=1h CMD test -f /built\nCMD [\"sleep\", \"1000\"]\n"
            ),
        )
        .unwrap();
        ctx.give_tree(&context);
        old_ok(
            ctx,
            &["build", "-q", "-t", "made", context.to_str().unwrap()],
        );
        old_ok(ctx, &["run", "-d", "--name", "m", "made"]);
        let out = old_ok(ctx, &["exec", "m", "cat", "/data", "/built"]);
        assert_eq!(out.stdout, "from the context\nbuilt\n");
        old_ok(ctx, &["healthcheck", "run", "m"]);
        let out = old_ok(ctx, &["top", "m"]);
        assert!(out.stdout.contains("sleep 1000"), "{out}");
        old_ok(ctx, &["pause", "m"]);
        let out = old_ok(ctx, &["inspect", "--format", "{{.State.Status}}", "m"]);
        assert_eq!(out.stdout.trim(), "paused");
        old_ok(ctx, &["unpause", "m"]);
        old_ok(ctx, &["restart", "-t", "1", "m"]);
        let out = old_ok(ctx, &["exec", "m", "cat", "/built"]);
        assert_eq!(out.stdout, "built\n");
        old_ok(ctx, &["rm", "-f", "m"]);
        let out = old_ok(ctx, &["unshare", "id", "-u"]);
        assert_eq!(out.stdout, "0\n");
        assert_no_containers(ctx, "after build and control on 4.18");
        let gone = eventually(std::time::Duration::from_secs(15), || {
            leftovers(ctx).is_empty()
        });
        assert!(gone, "left running: {:?}", leftovers(ctx));
    });
}

/// `rless mount` on 4.18 (RHEL 8), where kernel overlayfs does not mount in
/// a user namespace: a fuse-overlay container's root is served by a forked
/// fuse-overlay server, what is written there is the container's, and the
/// server goes with the session.
#[test]
fn mount_on_a_4_18_kernel() {
    if !can_emulate() {
        return;
    }
    for_each_user("mount_on_a_4_18_kernel", |ctx| {
        setup_image(ctx);
        old_ok(
            ctx,
            &[
                "create",
                "--name",
                "mc",
                "--storage-driver",
                "fuse-overlay",
                IMG,
                "cat",
                "/added",
            ],
        );
        let r = format!(
            "{} --root {}",
            common::rless_bin().display(),
            ctx.root.to_string_lossy()
        );
        let script = format!(
            "m=$({r} mount mc) || exit 9
             echo through-fuse > \"$m/added\" || exit 8
             {r} umount mc >/dev/null || exit 7"
        );
        old_ok(ctx, &["unshare", "sh", "-c", &script]);
        let out = old_ok(ctx, &["start", "-a", "mc"]);
        assert_eq!(out.stdout, "through-fuse\n", "{out}");
        old_ok(ctx, &["rm", "mc"]);
        let gone = eventually(std::time::Duration::from_secs(15), || {
            leftovers(ctx).is_empty()
        });
        assert!(gone, "left running: {:?}", leftovers(ctx));
    });
}
