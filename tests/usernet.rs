//! User-defined networks (issue 9), commands and lifetimes: `rless network
//! …` and bad input, `rm` refused while attached, a killed helper recovered
//! and twenty containers leaking nothing, as the unprivileged users, subuid
//! and single-id mode. Traffic is in `usernet_traffic.rs`, DNS in
//! `usernet_dns.rs`. Bad input gets one `rless:` line, exit 125 and
//! nothing half-made.
//! Shared helpers and constants are in `common::usernet_helpers`.

mod common;

use common::checks::{assert_one_error, containers};
use common::for_each_user;
use common::usernet_helpers::*;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn usernet_commands_and_bad_input() {
    for_each_user("usernet_commands_and_bad_input", |ctx| {
        let a = ctx.ok(&["network", "create", "--label", "k=v", "alpha"]);
        assert_eq!(a.stdout.trim(), "alpha");
        ctx.ok(&["network", "create", "beta"]);
        ctx.ok(&[
            "network",
            "create",
            "--subnet",
            "10.123.4.0/24",
            "--gateway",
            "10.123.4.9",
            "--internal",
            "gamma",
        ]);
        let all = networks(ctx);
        let get = |n: &str| all.iter().find(|v| v["name"] == n).unwrap().clone();
        assert_eq!(get("alpha")["subnets"][0]["subnet"], "10.89.0.0/24");
        assert_eq!(get("alpha")["subnets"][0]["gateway"], "10.89.0.1");
        assert_eq!(get("alpha")["labels"]["k"], "v");
        assert_eq!(get("beta")["subnets"][0]["subnet"], "10.89.1.0/24");
        assert_eq!(get("gamma")["subnets"][0]["gateway"], "10.123.4.9");
        assert_eq!(get("gamma")["internal"], true);
        let q = ctx.ok(&["network", "ls", "-q"]);
        assert_eq!(q.stdout, "alpha\nbeta\ngamma\n");
        let i = ctx.ok(&["network", "inspect", "beta"]);
        let v: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
        assert_eq!(v[0]["name"], "beta");

        let before = fs::read_dir(ctx.root.join("networks")).unwrap().count();
        let mut bad = vec![
            vec!["network", "create", "alpha"],
            vec!["network", "create", "--subnet", "10.89.0.0/16", "x1"],
            vec!["network", "create", "--subnet", "10.89.1.128/25", "x2"],
            vec!["network", "create", "--subnet", "10.0.2.0/24", "x3"],
            vec!["network", "create", "--subnet", "10.200.0.0", "x4"],
            vec!["network", "create", "--subnet", "10.200.0.0/33", "x5"],
            vec!["network", "create", "--subnet", "10.200.0.1/24", "x6"],
            vec!["network", "create", "--subnet", "banana/24", "x7"],
            vec![
                "network",
                "create",
                "--subnet",
                "10.200.0.0/24",
                "--gateway",
                "10.201.0.1",
                "x8",
            ],
            vec!["network", "create", "--gateway", "nope", "x9"],
            vec!["network", "create", "host"],
            vec!["network", "create", "bad/name"],
            vec!["network", "create", "-o", "mtu=9000", "x10"],
            vec!["network", "inspect", "nosuch"],
        ];
        // A subnet the host routes already.
        let routes: Vec<String> = fs::read_to_string("/proc/net/route")
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let dst = u32::from_str_radix(f[1], 16).ok()?;
                let mask = u32::from_str_radix(f[7], 16).ok()?;
                let p = u32::from_be_bytes(mask.to_ne_bytes()).count_ones();
                (8..=29)
                    .contains(&p)
                    .then(|| format!("{}/{p}", std::net::Ipv4Addr::from(dst.to_ne_bytes())))
            })
            .collect();
        match routes.first() {
            Some(r) => bad.push(vec!["network", "create", "--subnet", r.as_str(), "x11"]),
            None => eprintln!("note: the host has no route of prefix 8..29 to overlap"),
        }
        for args in &bad {
            let out = ctx.rless(args);
            assert_one_error(&out, 125);
        }
        assert_eq!(
            fs::read_dir(ctx.root.join("networks")).unwrap().count(),
            before
        );
        let out = ctx.rless(&["network", "create", "alpha"]);
        assert!(out.stderr.contains("already exists"), "{out}");

        // run with bad network input leaves no container behind.
        if !setup(ctx) {
            return;
        }
        for args in [
            vec!["run", "--rm", "--network", "nosuch", IMG, "true"],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "10.89.9.5",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "10.89.0.1",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "x",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--network",
                "host",
                IMG,
                "true",
            ],
            vec!["run", "--rm", "--network-alias", "a", IMG, "true"],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--userns",
                "keep-id",
                IMG,
                "true",
            ],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, 125);
            assert!(containers(ctx).is_empty(), "{args:?} left a container");
        }
        // An address taken by a running container: the second run fails
        // at start, and is removed.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "holder",
            "--network",
            "alpha",
            "--ip",
            "10.89.0.7",
            IMG,
            "sleep",
            "60",
        ]);
        let out = ctx.rless(&[
            "run",
            "-d",
            "--network",
            "alpha",
            "--ip",
            "10.89.0.7",
            IMG,
            "sleep",
            "60",
        ]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("already in use"), "{out}");
        assert_eq!(containers(ctx).len(), 1);
        ctx.ok(&["rm", "-f", "holder"]);

        let p = ctx.ok(&["network", "prune"]);
        assert_eq!(p.stdout, "alpha\nbeta\ngamma\n");
        assert!(networks(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_rm_refused_while_attached() {
    for_each_user("usernet_rm_refused_while_attached", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "busy"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "c1",
            "--network",
            "busy",
            IMG,
            "sleep",
            "60",
        ]);
        let out = ctx.rless(&["network", "rm", "busy"]);
        assert_one_error(&out, 2);
        assert!(out.stderr.contains("c1"), "{out}");
        // podman's status for a name that does not exist; -f (docker's)
        // passes over it, and still refuses a used one.
        assert_one_error(&ctx.rless(&["network", "rm", "nosuch"]), 1);
        let out = ctx.ok(&["network", "rm", "-f", "nosuch"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
        assert_one_error(&ctx.rless(&["network", "rm", "-f", "busy", "nosuch"]), 2);
        // Each name on its own, as docker: the unknown and the used one are
        // reported in order, the free ones removed.
        ctx.ok(&["network", "create", "free1"]);
        ctx.ok(&["network", "create", "free2"]);
        let out = ctx.rless(&["network", "rm", "free1", "nosuch", "busy", "free2"]);
        assert_eq!((out.code, out.stdout.as_str()), (Some(2), "free1\nfree2\n"));
        let err: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(err[0], "rless: no such network: nosuch", "{out}");
        assert!(
            err.len() == 2 && err[1].contains("network busy is in use"),
            "{out}"
        );
        let names: Vec<_> = networks(ctx).iter().map(|n| n["name"].clone()).collect();
        assert_eq!(names, ["busy"]);
        // A stopped container still uses it.
        ctx.ok(&["stop", "-t", "1", "c1"]);
        assert_one_error(&ctx.rless(&["network", "rm", "busy"]), 2);
        // Started again, it is on its network again, under its name.
        ctx.ok(&["start", "c1"]);
        let out = sh(ctx, "busy", "nslookup c1 && ping -c 1 -W 3 c1");
        assert!(out.success(), "{out}");
        ctx.ok(&["stop", "-t", "1", "c1"]);
        let p = ctx.ok(&["network", "prune"]);
        assert!(p.stdout.is_empty(), "{p}");
        ctx.ok(&["rm", "c1"]);
        ctx.ok(&["network", "rm", "busy"]);
        assert!(networks(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_killed_helper_is_recovered() {
    for_each_user("usernet_killed_helper_is_recovered", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "rec"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "rec",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let pids = helpers(ctx);
        assert_eq!(pids.len(), 1, "one helper: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // The container's monitor hears its tie to the helper hang up and
        // starts a new helper, which gives the container its eth0 back,
        // with no other command run meanwhile.
        let deadline = Instant::now() + Duration::from_secs(10);
        // (While the new helper forks away from its starter, two processes
        // show its command line.)
        let mut now = helpers(ctx);
        while (now.len() != 1 || now[0] == pids[0]) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            now = helpers(ctx);
        }
        assert!(
            now.len() == 1 && now[0] != pids[0],
            "no new helper: {now:?}"
        );
        let mut devices = String::new();
        while !devices.contains("eth0:") && Instant::now() < deadline {
            devices = ctx.ok(&["exec", "web", "cat", "/proc/net/dev"]).stdout;
        }
        assert!(devices.contains("eth0:"), "{devices}");
        // It is reached by name from a new container.
        let out = sh(ctx, "rec", "timeout 10 wget -q -O - http://web/index.html");
        assert!(out.stdout.contains("hello from web"), "{out}");
        assert_eq!(helpers(ctx).len(), 1);
        ctx.ok(&["rm", "-f", "web"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

#[test]
fn usernet_twenty_containers_leak_nothing() {
    for_each_user("usernet_twenty_containers_leak_nothing", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "--subnet", "10.89.77.0/29", "loop"]);
        // A /29 has 5 addresses for containers: 20 rounds only work if
        // every removed container gives its address back.
        for i in 0..20 {
            let name = format!("l{i}");
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "loop",
                IMG,
                "sleep",
                "60",
            ]);
            let out = ctx.ok(&["exec", &name, "ip", "-4", "addr", "show", "eth0"]);
            assert!(
                out.stdout.contains("inet 10.89.77.2/29"),
                "round {i}: {out}"
            );
            ctx.ok(&["rm", "-f", &name]);
        }
        assert!(containers(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
        // Nothing of the network remains but its definition.
        let dir = std::env::var("XDG_RUNTIME_DIR").ok();
        let _ = dir;
        ctx.ok(&["network", "rm", "loop"]);
    });
}

/// Without XDG_RUNTIME_DIR the helper's directory is under
/// `/tmp/rless-run-UID`, a name anyone may take first: one that is not the
/// user's own is refused (a planted `helper.sock` was talked to), and the
/// user's own is made private.
#[test]
fn usernet_runtime_dir_in_tmp_must_be_ours() {
    for_each_user("usernet_runtime_dir_in_tmp_must_be_ours", |ctx| {
        if !setup(ctx) || !common::is_root() {
            return;
        }
        ctx.ok(&["network", "create", "tmpnet"]);
        let base = std::path::PathBuf::from(format!("/tmp/rless-run-{}", ctx.user.uid));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let run = |ctx: &common::Ctx| {
            ctx.rless_cmd(&["run", "--rm", "--network", "tmpnet", IMG, "true"])
                .env("XDG_RUNTIME_DIR", "")
                .output()
                .unwrap()
        };
        let out = run(ctx);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(err.contains("refusing the runtime directory"), "{err}");
        assert!(
            !base.join("rless").exists(),
            "wrote into someone else's directory"
        );
        fs::remove_dir(&base).unwrap();
        let out = run(ctx);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m = fs::metadata(&base).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&m), ctx.user.uid);
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777,
            0o700
        );
        assert!(helper_gone(ctx), "the helper did not exit");
        let _ = fs::remove_dir_all(&base);
    });
}

/// `system reset` removes the helper's runtime directory under its lock. A
/// `run` that was waiting on that lock meanwhile must not go on in the
/// removed directory: it starts over in a new one, with one helper. The
/// test holds the lock itself, waits until the `run` blocks on it (as
/// `/proc/locks` shows), removes the directory as a reset does, and lets
/// go.
#[test]
fn usernet_run_waiting_on_a_removed_runtime_dir_starts_over() {
    for_each_user("usernet_run_waiting_on_a_removed_runtime_dir", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "waitnet"]);
        // A first container makes the runtime directory; its helper goes
        // with it.
        ctx.ok(&["run", "--rm", "--network", "waitnet", IMG, "true"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        // This store's: `net-` and the start of the store path's digest.
        let canon = ctx.root.canonicalize().unwrap();
        let digest = rless::image::digest::Digest::of(canon.as_os_str().as_encoded_bytes());
        let dir = ctx
            .user
            .runtime_dir()
            .join("rless")
            .join(format!("net-{}", &digest.hex()[..12]));
        assert!(dir.join("lock").exists(), "no lock in {}", dir.display());
        let lock = fs::File::open(dir.join("lock")).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&lock.metadata().unwrap());
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        let bg = common::background::Background::spawn(
            ctx,
            &[
                "run",
                "-d",
                "--name",
                "late",
                "--network",
                "waitnet",
                IMG,
                "sleep",
                "60",
            ],
        );
        // Blocked on our lock: a waiter line (`->`) for the lock's inode.
        let deadline = Instant::now() + Duration::from_secs(20);
        let waiting = || {
            fs::read_to_string("/proc/locks")
                .unwrap_or_default()
                .lines()
                .any(|l| l.contains("->") && l.contains(&format!(":{ino} ")))
        };
        while !waiting() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(waiting(), "the run never waited on the lock");
        fs::remove_dir_all(&dir).unwrap();
        drop(lock);
        let (code, _) = bg.finish(Duration::from_secs(60));
        assert_eq!(code, Some(0), "the run must start over in a new directory");
        assert_eq!(helpers(ctx).len(), 1, "one helper");
        let devices = ctx.ok(&["exec", "late", "cat", "/proc/net/dev"]).stdout;
        assert!(devices.contains("eth0:"), "{devices}");
        ctx.ok(&["rm", "-f", "late"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}
