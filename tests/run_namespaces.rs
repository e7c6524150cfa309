//! Sharing namespaces: `--network container:X` (traffic over the shared
//! loopback, X's /etc files), `--pid container:X|host`, `--ipc
//! container:X|host|private|none`, `--uts container:X|host`, `--shm-size`,
//! what `inspect` shows of them, `exec` and `top` in a joiner, nothing left
//! running after `rm -f`, and bad input (unknown or stopped container,
//! conflicting options) refused with one line and nothing left behind.
//!
//! Every scenario runs once per test user (subuid and single-id mode), on a
//! busybox root filesystem it imports (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::{inspect, run_d, wait_log, Cleanup, GROUP, PASSWD};
use common::rootfs::{make_rootfs_with, RootfsSpec};
use common::{for_each_user, Ctx, ERR_EXIT};
use std::time::Duration;

const IMG: &str = "bb";

const APPLETS: &[&str] = &[
    "sh", "true", "cat", "echo", "sleep", "ps", "nc", "df", "hostname", "test", "grep", "ls",
    "touch",
];

/// A loop that keeps a container running and ends with exit 0 on SIGTERM.
const FOREVER: &str = "trap 'exit 0' TERM; while true; do sleep 0.1; done";

fn have_busybox() -> bool {
    common::oci::busybox().is_some()
}

fn setup_image(ctx: &Ctx) {
    let dir = ctx.work.join("rootfs");
    make_rootfs_with(ctx, &dir, &RootfsSpec::new(APPLETS, PASSWD, GROUP), |_| {});
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
}

/// `run -d --name NAME OPTS… IMG sh -c SCRIPT`.
fn start(ctx: &Ctx, name: &str, opts: &[&str], script: &str) -> String {
    let mut a = vec!["--name", name];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    run_d(ctx, &a)
}

/// `run --rm OPTS… IMG sh -c SCRIPT`, which must succeed: its stdout.
fn run_sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    ctx.ok(&a).stdout
}

/// Host processes whose command line is `cmdline` (words joined by blanks).
fn host_procs_with(cmdline: &str) -> Vec<i32> {
    host_processes()
        .into_iter()
        .filter(|p| p.args.join(" ") == cmdline)
        .map(|p| p.pid)
        .collect()
}

/// A process's parent.
fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's state letter (`R`, `S`, `T`…).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// `run OPTS… IMG true` must fail with one line and exit 125, and leave no
/// container and no mount behind.
fn refused(ctx: &Ctx, opts: &[&str], before: &[String]) {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "true"]);
    let out = ctx.rless(&a);
    assert_one_error(&out, ERR_EXIT);
    assert_eq!(
        containers(ctx),
        before,
        "{opts:?}: no container may be left"
    );
    assert!(
        host_mounts_under(&ctx.root).is_empty(),
        "{opts:?}: no mount may be left"
    );
}

#[test]
fn ns_network_container() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_network_container", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let x = start(
            ctx,
            "srv",
            &["--hostname", "srvhost"],
            "echo ready; while true; do echo pong | nc -l -p 7777; done",
        );
        wait_log(ctx, "srv", "ready");
        // Its listener answers on the loopback the joiner shares.
        let got = run_sh(
            ctx,
            &["--network", "container:srv"],
            "nc 127.0.0.1 7777 </dev/null; hostname; cat /etc/hostname",
        );
        assert_eq!(
            got, "pong\nsrvhost\nsrvhost\n",
            "the joiner must reach X's listener on 127.0.0.1 and have X's name"
        );
        // A detached joiner: inspect's NetworkMode, and exec into it.
        let j = start(ctx, "side", &["--network", "container:srv"], FOREVER);
        let v = inspect(ctx, "side");
        assert_eq!(
            v["HostConfig"]["NetworkMode"],
            format!("container:{x}"),
            "{v}"
        );
        let out = ctx.ok(&["exec", "side", "sh", "-c", "nc 127.0.0.1 7777 </dev/null"]);
        assert_eq!(out.stdout, "pong\n", "exec in the joiner: {out}");
        // docker's conflicting options.
        let before = containers(ctx);
        for extra in [
            &["-p", "8080:80"][..],
            &["--hostname", "h"],
            &["--dns", "192.0.2.1"],
            &["--add-host", "a:192.0.2.1"],
            &["--network", "none"],
        ] {
            let mut o = vec!["--network", "container:srv"];
            o.extend_from_slice(extra);
            refused(ctx, &o, &before);
        }
        ctx.ok(&["rm", "-f", &j]);
        // Created now, started later: the start joins X then.
        ctx.ok(&[
            "create",
            "--name",
            "later",
            "--network",
            "container:srv",
            IMG,
            "sh",
            "-c",
            "nc 127.0.0.1 7777 </dev/null",
        ]);
        let out = ctx.ok(&["start", "-a", "later"]);
        assert_eq!(out.stdout, "pong\n", "{out}");
        // A donor on the host's network gives the host's.
        start(ctx, "onhost", &["--network", "host"], FOREVER);
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let got = run_sh(ctx, &["--network", "container:onhost"], "hostname");
        assert_eq!(got, format!("{host}\n"));
        // The joiner outlives its donor (on loopback only).
        let j = start(ctx, "orphan", &["--network", "container:srv"], FOREVER);
        ctx.ok(&["stop", "srv"]);
        let out = ctx.ok(&["exec", "orphan", "cat", "/etc/hostname"]);
        assert_eq!(out.stdout, "srvhost\n", "{out}");
        ctx.ok(&["rm", "-f", &j]);
    });
}

#[test]
fn ns_pid_container() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_pid_container", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let x = start(
            ctx,
            "donor",
            &[],
            &format!("sleep 4242 & echo ready; {FOREVER}"),
        );
        wait_log(ctx, "donor", "ready");
        let got = run_sh(ctx, &["--pid", "container:donor"], "ps; echo self=$$");
        assert!(
            got.contains("sleep 4242"),
            "the joiner must see X's processes: {got}"
        );
        assert!(
            !got.contains("self=1\n"),
            "the joiner's shell is not pid 1 in X's namespace: {got}"
        );
        // A detached joiner with a child of its own: exec sees X's
        // processes, top lists the joiner's only, and rm -f leaves
        // nothing of it running (X goes on).
        let j = start(
            ctx,
            "pj",
            &["--pid", "container:donor"],
            &format!("sleep 5151 & echo ready; {FOREVER}"),
        );
        wait_log(ctx, "pj", "ready");
        let out = ctx.ok(&["exec", "pj", "ps"]);
        assert!(out.stdout.contains("sleep 4242"), "exec: {out}");
        let out = ctx.ok(&["top", "pj"]);
        assert!(out.stdout.contains("sleep 5151"), "top: {out}");
        assert!(
            !out.stdout.contains("sleep 4242"),
            "top of the joiner must not list X's processes: {out}"
        );
        let v = inspect(ctx, "pj");
        assert_eq!(v["HostConfig"]["PidMode"], format!("container:{x}"), "{v}");
        let state = |needle: &str| {
            host_procs_with(needle)
                .first()
                .and_then(|p| proc_state(*p))
                .unwrap_or('?')
        };
        // X's top and pause leave out the joiner's processes, though they
        // are in X's pid namespace (docker's go by X's cgroup).
        let out = ctx.ok(&["top", "donor"]);
        assert!(out.stdout.contains("sleep 4242"), "top: {out}");
        assert!(
            !out.stdout.contains("sleep 5151"),
            "top of X must not list its joiner's processes: {out}"
        );
        ctx.ok(&["pause", "donor"]);
        assert_eq!(state("sleep 4242"), 'T', "X's processes are stopped");
        assert_ne!(
            state("sleep 5151"),
            'T',
            "pause of X must not stop its joiner's processes"
        );
        ctx.ok(&["unpause", "donor"]);
        // pause stops the joiner's processes, not X's.
        ctx.ok(&["pause", "pj"]);
        assert_eq!(
            state("sleep 5151"),
            'T',
            "the joiner's processes are stopped"
        );
        assert_ne!(
            state("sleep 4242"),
            'T',
            "pause of the joiner must not stop X's"
        );
        ctx.ok(&["unpause", "pj"]);
        // What exec started in the joiner goes with it, not with X.
        ctx.ok(&["exec", "-d", "pj", "sleep", "5252"]);
        ctx.ok(&["rm", "-f", &j]);
        for s in ["sleep 5151", "sleep 5252"] {
            assert!(
                eventually(Duration::from_secs(10), || host_procs_with(s).is_empty()),
                "the joiner's processes must be gone after rm -f: {s} is not"
            );
        }
        assert!(
            !host_procs_with("sleep 4242").is_empty(),
            "X must keep running"
        );
        // Stopping it by its command's exit: the exit status comes through.
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--pid",
            "container:donor",
            IMG,
            "sh",
            "-c",
            "exit 7",
        ]);
        assert_eq!(out.code, Some(7), "{out}");
        // The joiner ends with X: its pid namespace goes with X's init.
        start(ctx, "pj2", &["--pid", "container:donor"], FOREVER);
        ctx.ok(&["rm", "-f", "donor"]);
        let mut v = serde_json::Value::Null;
        assert!(
            eventually(Duration::from_secs(10), || {
                v = inspect(ctx, "pj2");
                v["State"]["Status"] == "exited"
            }),
            "the joiner must end with its pid donor: {v}"
        );
        assert_eq!(v["State"]["ExitCode"], 137, "{v}");
    });
}

#[test]
fn ns_pid_host() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_pid_host", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // This test's own process, by its host pid.
        let me = std::process::id();
        let got = run_sh(
            ctx,
            &["--pid", "host"],
            &format!("test -d /proc/{me} && echo seen"),
        );
        assert_eq!(got, "seen\n", "--pid host must show the host's /proc");
        let j = start(
            ctx,
            "ph",
            &["--pid", "host"],
            &format!("sleep 6161 & echo ready; {FOREVER}"),
        );
        wait_log(ctx, "ph", "ready");
        assert!(!host_procs_with("sleep 6161").is_empty());
        let v = inspect(ctx, "ph");
        assert_eq!(v["HostConfig"]["PidMode"], "host", "{v}");
        // What exec starts is the container's too, though not below its
        // init: top lists it and rm -f ends it. A foreground `rless exec`
        // is not the container's (though in its mount namespace): top
        // leaves it out, and it ends by itself with its process (137).
        ctx.ok(&["exec", "-d", "ph", "sh", "-c", "sleep 6262 & sleep 6363"]);
        // (Checked once the exec has ended, so a failure does not wait for
        // it.)
        let (started, top, rm, fg) = std::thread::scope(|sc| {
            let fg = sc.spawn(|| ctx.rless(&["exec", "ph", "sleep", "6565"]));
            let started = eventually(Duration::from_secs(10), || {
                !host_procs_with("sleep 6565").is_empty()
            });
            let top = ctx.rless(&["top", "ph"]);
            let rm = ctx.rless(&["rm", "-f", &j]);
            (started, top, rm, fg.join().unwrap())
        });
        assert!(started && top.success() && rm.success(), "{top}\n{rm}");
        for s in ["sleep 6161", "sleep 6262", "sleep 6363", "sleep 6565"] {
            assert!(top.stdout.contains(s), "top must list {s}: {top}");
        }
        assert!(
            !top.stdout.contains("exec ph"),
            "top must not list rless exec itself: {top}"
        );
        assert!(
            top.stdout.lines().count() < 12,
            "top must list the container's processes, not the host's: {top}"
        );
        assert_eq!(fg.code, Some(137), "the foreground exec: {fg}");
        for s in ["sleep 6161", "sleep 6262", "sleep 6363", "sleep 6565"] {
            assert!(
                eventually(Duration::from_secs(10), || host_procs_with(s).is_empty()),
                "nothing of the container may run after rm -f: {s} does"
            );
        }
        // A foreground container's monitor killed: its init, not pid 1,
        // sees it end and kills the rest (with a pid namespace of its own
        // the kernel would).
        let fg = std::thread::scope(|sc| {
            let fg = sc.spawn(|| {
                let script = "sleep 7878 >/dev/null 2>&1 & exec sleep 7979";
                ctx.rless(&["run", "--pid", "host", IMG, "sh", "-c", script])
            });
            let mut monitor = None;
            eventually(Duration::from_secs(10), || {
                monitor = host_procs_with("sleep 7979")
                    .first()
                    .and_then(|p| parent_pid(*p))
                    .and_then(parent_pid);
                monitor.is_some() && !host_procs_with("sleep 7878").is_empty()
            });
            if let Some(m) = monitor {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(m),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            fg.join().unwrap()
        });
        let gone = eventually(Duration::from_secs(10), || {
            host_procs_with("sleep 7878").is_empty()
        });
        for p in host_procs_with("sleep 7878") {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(gone, "nothing may outlive a killed monitor: {fg}");
        // A detached one whose init is killed: its monitor kills the rest.
        start(
            ctx,
            "ki",
            &["--pid", "host"],
            "sleep 2121 & exec sleep 2222",
        );
        let mut init = None;
        eventually(Duration::from_secs(10), || {
            init = host_procs_with("sleep 2222")
                .first()
                .and_then(|p| parent_pid(*p));
            init.is_some() && !host_procs_with("sleep 2121").is_empty()
        });
        let init = init.expect("the container's init");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init),
            nix::sys::signal::Signal::SIGKILL,
        );
        let gone = eventually(Duration::from_secs(10), || {
            host_procs_with("sleep 2121").is_empty()
        });
        for p in host_procs_with("sleep 2121") {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(gone, "nothing may outlive a killed init");
        // stop: the command's own exit, and what exec started ends too.
        let j = start(ctx, "ph2", &["--pid", "host"], FOREVER);
        ctx.ok(&["exec", "-d", "ph2", "sleep", "6464"]);
        ctx.ok(&["stop", &j]);
        let v = inspect(ctx, "ph2");
        assert_eq!(v["State"]["ExitCode"], 0, "{v}");
        assert!(
            eventually(Duration::from_secs(10), || host_procs_with("sleep 6464")
                .is_empty()),
            "what exec started must end with the container"
        );
    });
}

#[test]
fn ns_ipc() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_ipc", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let x = start(
            ctx,
            "ipcx",
            &[],
            &format!("echo from-x > /dev/shm/marker; echo ready; {FOREVER}"),
        );
        wait_log(ctx, "ipcx", "ready");
        let got = run_sh(
            ctx,
            &["--ipc", "container:ipcx"],
            "cat /dev/shm/marker; echo from-joiner > /dev/shm/back",
        );
        assert_eq!(got, "from-x\n", "the joiner must see X's /dev/shm");
        let out = ctx.ok(&["exec", "ipcx", "cat", "/dev/shm/back"]);
        assert_eq!(
            out.stdout, "from-joiner\n",
            "X must see the joiner's: {out}"
        );
        // --shm-size sizes only a /dev/shm of the container's own.
        let out = ctx.rless(&[
            "run",
            "--rm",
            "--ipc",
            "container:ipcx",
            "--shm-size",
            "1g",
            IMG,
            "cat",
            "/dev/shm/marker",
        ]);
        assert!(out.success() && out.stdout == "from-x\n", "{out}");
        assert!(
            out.stderr
                .starts_with("rless: warning: --shm-size is ignored"),
            "{out}"
        );
        let j = start(ctx, "ipcj", &["--ipc", "container:ipcx"], FOREVER);
        let v = inspect(ctx, "ipcj");
        assert_eq!(v["HostConfig"]["IpcMode"], format!("container:{x}"), "{v}");
        assert_eq!(inspect(ctx, "ipcx")["HostConfig"]["IpcMode"], "shareable");
        ctx.ok(&["rm", "-f", &j]);
        // The host's /dev/shm, with a file this test puts there.
        let host_file = HostShmFile::new();
        let got = run_sh(
            ctx,
            &["--ipc", "host"],
            &format!("cat /dev/shm/{}", host_file.name),
        );
        assert_eq!(got, "from-host\n", "--ipc host: the host's /dev/shm");
        // A private one cannot be joined; none has no /dev/shm.
        start(ctx, "priv", &["--ipc", "private"], FOREVER);
        let before = containers(ctx);
        refused(ctx, &["--ipc", "container:priv"], &before);
        let got = run_sh(
            ctx,
            &["--ipc", "none"],
            "grep -c ' /dev/shm ' /proc/mounts || true",
        );
        assert_eq!(got, "0\n", "--ipc none: no /dev/shm mount");
    });
}

/// A file in the host's /dev/shm, readable by all, removed on drop.
struct HostShmFile {
    name: String,
}

impl HostShmFile {
    fn new() -> HostShmFile {
        let name = format!("rless-test-ipc-host-{}", std::process::id());
        let path = std::path::Path::new("/dev/shm").join(&name);
        std::fs::write(&path, "from-host\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        HostShmFile { name }
    }
}

impl Drop for HostShmFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(std::path::Path::new("/dev/shm").join(&self.name));
    }
}

#[test]
fn ns_uts() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_uts", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        start(ctx, "utsx", &["--hostname", "named-x"], FOREVER);
        let got = run_sh(ctx, &["--uts", "container:utsx"], "hostname");
        assert_eq!(got, "named-x\n");
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let got = run_sh(ctx, &["--uts", "host"], "hostname");
        assert_eq!(got, format!("{host}\n"));
        let j = start(ctx, "utsj", &["--uts", "host"], FOREVER);
        assert_eq!(inspect(ctx, "utsj")["HostConfig"]["UTSMode"], "host");
        ctx.ok(&["rm", "-f", &j]);
        let before = containers(ctx);
        refused(ctx, &["--uts", "host", "--hostname", "h"], &before);
        refused(ctx, &["--uts", "bogus"], &before);
    });
}

#[test]
fn ns_shm_size() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_shm_size", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // df -k: the second line's second field is the size in KiB.
        let size = |opts: &[&str]| {
            let out = run_sh(ctx, opts, "df -k /dev/shm");
            out.lines()
                .nth(1)
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or_else(|| panic!("df output: {out}"))
                .to_string()
        };
        assert_eq!(size(&[]), "65536", "docker's default is 64m");
        assert_eq!(size(&["--shm-size", "100m"]), "102400");
        assert_eq!(size(&["--shm-size", "1g"]), "1048576");
        let j = start(ctx, "shm", &["--shm-size", "128m"], FOREVER);
        assert_eq!(inspect(ctx, "shm")["HostConfig"]["ShmSize"], 128u64 << 20);
        ctx.ok(&["rm", "-f", &j]);
        let before = containers(ctx);
        for bad in ["0", "lots", "-5m", ""] {
            refused(ctx, &["--shm-size", bad], &before);
        }
    });
}

#[test]
fn ns_bad_donors() {
    if !have_busybox() {
        return;
    }
    for_each_user("ns_bad_donors", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // A stopped container and an unknown one.
        ctx.ok(&["create", "--name", "idle", IMG, "true"]);
        let before = containers(ctx);
        for flag in ["--network", "--pid", "--ipc", "--uts"] {
            for who in ["container:idle", "container:nosuch"] {
                refused(ctx, &[flag, who], &before);
            }
        }
        // Detached too: nothing is left.
        let out = ctx.rless(&["run", "-d", "--network", "container:idle", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(containers(ctx), before);
        // Two donors in two user namespaces, and another --userns than
        // the donor's: refused.
        start(ctx, "ua", &[], FOREVER);
        start(ctx, "ub", &[], FOREVER);
        let before = containers(ctx);
        refused(
            ctx,
            &["--network", "container:ua", "--pid", "container:ub"],
            &before,
        );
        refused(
            ctx,
            &["--userns", "keep-id", "--pid", "container:ua"],
            &before,
        );
        for bad in ["container:", "bogus"] {
            refused(ctx, &["--pid", bad], &before);
            refused(ctx, &["--ipc", bad], &before);
        }
        // A donor that stops before the joiner's start: the start fails.
        let x = start(ctx, "brief", &[], FOREVER);
        ctx.ok(&[
            "create",
            "--name",
            "late",
            "--network",
            "container:brief",
            IMG,
            "true",
        ]);
        ctx.ok(&["stop", &x]);
        let out = ctx.rless(&["start", "-a", "late"]);
        assert_one_error(&out, ERR_EXIT);
    });
}

/// In a delegated cgroup (see `cgroups.rs`): a `--pid container:X` joiner
/// is born in its own cgroup inside X's pid namespace, its
/// processes are counted there, and `rm -f` empties it.
#[test]
fn ns_pid_container_in_cgroup() {
    use common::cgroup_helpers as cg;
    // Any delegated cgroup2 subtree will do: no controller is needed for
    // the container's cgroup itself.
    let Some(parent) = std::env::var_os("RLESS_TEST_CGROUP")
        .map(std::path::PathBuf::from)
        .filter(|_| common::is_root())
    else {
        common::skip("RLESS_TEST_CGROUP (a delegated cgroup2 subtree) is not set");
        return;
    };
    if !have_busybox() {
        return;
    }
    for_each_user("ns_pid_container_in_cgroup", |ctx| {
        let _cleanup = Cleanup(ctx);
        let d = cg::Delegated::new(&parent, ctx, "ns");
        let cli = d.leaf(ctx, "cli");
        cg::setup_image(ctx, &cli);
        let run_d = |args: &[&str]| {
            let mut a = vec!["run", "-d"];
            a.extend_from_slice(args);
            let out = cg::rless_in(ctx, &cli, &a);
            assert!(out.success(), "{out}");
            out.stdout.trim().to_string()
        };
        run_d(&["--name", "x", cg::IMG, "sleep", "4343"]);
        let j = run_d(&[
            "--pids-limit",
            "10",
            "--pid",
            "container:x",
            cg::IMG,
            "sh",
            "-c",
            "sleep 5353 & while true; do sleep 0.1; done",
        ]);
        let mut pids = Vec::new();
        assert!(eventually(Duration::from_secs(10), || {
            pids = host_procs_with("sleep 5353");
            !pids.is_empty()
        }));
        let cgroup = cg::state(ctx, &j)["cgroup"]
            .as_str()
            .expect("the joiner has a cgroup")
            .to_string();
        let of = cg::cgroup_of(pids[0] as i64);
        assert!(
            !of.is_empty() && cgroup.ends_with(&of),
            "the joiner's process must be in its cgroup {cgroup}, not {of}"
        );
        let ns = |pid: i32| std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
        let x_pid = host_procs_with("sleep 4343")[0];
        assert_eq!(ns(pids[0]), ns(x_pid), "in X's pid namespace");
        ctx.ok(&["rm", "-f", &j]);
        assert!(
            eventually(Duration::from_secs(10), || host_procs_with("sleep 5353")
                .is_empty()),
            "rm -f leaves nothing of the joiner"
        );
    });
}
