//! What a killed command leaves of a container, and who removes it: the
//! directory of a container an `rm` was deleting (`containers/.tmp-*-del`)
//! goes with the next command that takes the store lock exclusively, and a
//! `--rm` container whose monitor was killed goes with the next command
//! that lists containers (rless has no daemon to remove it when it exits).
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Ctx};
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A child process, killed (and reaped) when dropped, a failing test too.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pid no process has any more.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("run true");
    c.wait().unwrap();
    c.id()
}

/// Gives `dir` (and what is in it) a file and a private directory of
/// container uid 1000 (a subordinate id in subuid mode), which the user
/// can delete only inside the user namespace.
fn add_subordinate_files(ctx: &Ctx, dir: &Path) {
    let d = dir.join("upper/private");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("f"), b"x").unwrap();
    let (uid, gid) = (ctx.user.host_uid(1000), ctx.user.host_gid(1000));
    chown(d.join("f"), Some(uid), Some(gid)).unwrap();
    chown(&d, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
}

fn names(ctx: &Ctx) -> String {
    ctx.ok(&["ps", "-a", "--format", "{{.Names}}"]).stdout
}

/// A container's directory that a killed `rm` had renamed away for
/// deletion (`.tmp-<pid>-<n>-del`) is removed by the next command that
/// takes the store lock exclusively, files of subordinate ids and all; the
/// `.tmp-*` entry of a process that still runs (a `run` making its
/// container right now) is kept. `container prune` removes such debris
/// too.
#[test]
fn lifecycle_killed_rm_leaves_no_layer() {
    if !have_busybox() || !common::is_root() {
        return common::skip("needs busybox and root (to give files subordinate ids)");
    }
    for_each_user("lifecycle_killed_rm_leaves_no_layer", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&[
            "run",
            "--name",
            "big",
            IMG,
            "sh",
            "-c",
            "mkdir /m; touch /m/a",
        ]);
        let id = ctx
            .ok(&["ps", "-aq", "--no-trunc"])
            .stdout
            .trim()
            .to_string();
        let dir = container_dir(ctx, &id);
        add_subordinate_files(ctx, &dir);
        // What `rm` leaves when it is killed after its rename.
        let containers = ctx.root.join("containers");
        let debris = containers.join(format!(".tmp-{}-0-del", dead_pid()));
        fs::rename(&dir, &debris).unwrap();
        // A container being made by a process that runs.
        let busy = Killed(Command::new("sleep").arg("600").spawn().unwrap());
        let making = containers.join(format!(".tmp-{}-0-ctr", busy.0.id()));
        fs::create_dir(&making).unwrap();
        ctx.give(&making);
        assert_eq!(names(ctx), "", "the debris is no container");
        ctx.ok(&["image", "prune", "-f"]);
        let left = tmp_debris(&containers);
        assert!(
            !debris.exists(),
            "an exclusive-lock command must remove a killed rm's debris: {left:?}"
        );
        assert!(
            making.exists(),
            "the entry of a process that runs must be kept: {left:?}"
        );
        // `container prune` (shared lock, in the user namespace) too.
        ctx.ok(&["run", "--name", "big2", IMG, "true"]);
        let id = ctx
            .ok(&["ps", "-aq", "--no-trunc"])
            .stdout
            .trim()
            .to_string();
        let dir = container_dir(ctx, &id);
        add_subordinate_files(ctx, &dir);
        fs::rename(&dir, &debris).unwrap();
        ctx.ok(&["container", "prune", "-f"]);
        let left = tmp_debris(&containers);
        drop(busy);
        assert!(
            !debris.exists(),
            "container prune must remove a killed rm's debris: {left:?}"
        );
        assert!(making.exists(), "{left:?}");
        ctx.ok(&["rmi", "-f", IMG]);
        assert_eq!(
            tmp_debris(&containers),
            Vec::<String>::new(),
            "once its process is gone, the entry is debris"
        );
    });
}

/// Removal of a `--rm` container whose monitor is gone: ps -a does not
/// show it, its name is free, its layer goes (at the latest with the next
/// exclusive-lock command, in subuid mode).
fn assert_reaped(ctx: &Ctx, name: &str) {
    assert!(
        eventually(Duration::from_secs(10), || !names(ctx)
            .lines()
            .any(|l| l == name)),
        "a --rm container whose monitor is gone must be removed: ps -a: {}",
        names(ctx)
    );
    assert_eq!(containers(ctx), Vec::<String>::new());
    ctx.ok(&["run", "--rm", "--name", name, IMG, "true"]);
    assert_eq!(names(ctx), "", "run --rm must leave nothing");
    ctx.ok(&["image", "prune", "-f"]);
    assert_eq!(
        tmp_debris(&ctx.root.join("containers")),
        Vec::<String>::new(),
        "the removed container's tree must go"
    );
}

/// `run -d --rm` whose monitor is SIGKILLed, and a foreground `run --rm`
/// killed with SIGKILL: the container is removed by the next command (as
/// docker's daemon removes it when it exits), and its name can be used
/// again. A `--rm` container that runs, and a stopped one without `--rm`,
/// are kept.
#[test]
fn lifecycle_rm_container_of_killed_monitor_is_removed() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_rm_container_of_killed_monitor_is_removed",
        |ctx| {
            let _cleanup = Cleanup(ctx);
            setup_image(ctx);
            ctx.ok(&["run", "--name", "kept", IMG, "true"]);
            run_sh(
                ctx,
                &["--rm", "--name", "alive"],
                &format!("echo ready; {FOREVER}"),
            );
            wait_log(ctx, "alive", "ready");

            run_sh(
                ctx,
                &["--rm", "--name", "dm"],
                &format!("echo ready; {FOREVER}"),
            );
            wait_log(ctx, "dm", "ready");
            let st = inspect(ctx, "dm");
            let pid = state_of(&st)["Pid"].as_i64().unwrap();
            kill_monitor(state_of(&st)["MonitorPid"].as_i64().unwrap());
            assert!(
                eventually(Duration::from_secs(10), || !pid_alive(pid)),
                "init outlived the monitor"
            );
            assert!(
                eventually(Duration::from_secs(10), || !names(ctx)
                    .lines()
                    .any(|l| l == "dm")),
                "run -d --rm with a killed monitor must be removed: ps -a: {}",
                names(ctx)
            );
            let out = ctx.rless(&["run", "--rm", "--name", "dm", IMG, "true"]);
            assert!(out.success(), "the name must be free again: {out}");

            // Foreground: the rless the user started is killed.
            let mut fg = ctx
                .rless_cmd(&["run", "--rm", "--name", "fg", IMG, "sh", "-c", FOREVER])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            assert!(
                eventually(Duration::from_secs(30), || {
                    ctx.rless(&["inspect", "fg"]).success()
                        && state_of(&inspect(ctx, "fg"))["Running"] == true
                }),
                "the foreground container must run"
            );
            fg.kill().unwrap();
            fg.wait().unwrap();
            let shown = names(ctx);
            assert!(shown.lines().any(|l| l == "kept"), "{shown}");
            assert!(shown.lines().any(|l| l == "alive"), "{shown}");
            ctx.ok(&["stop", "alive"]);
            ctx.ok(&["rm", "kept"]);
            assert_reaped(ctx, "fg");
        },
    );
}

/// `rm -f` of a running `--rm` container: its monitor removes it once
/// killed, and `rm` says it removed it (in subuid mode its second pass,
/// inside the user namespace, said "no such container" and exited 125).
#[test]
fn lifecycle_rm_force_of_a_running_auto_remove_container() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rm_force_auto_remove", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for round in 0..3 {
            let name = format!("auto{round}");
            run_sh(ctx, &["--rm", "--name", &name], FOREVER);
            let out = ctx.rless(&["rm", "-f", &name]);
            assert!(out.success(), "rm -f of a running --rm container: {out}");
            assert_eq!(out.stdout, format!("{name}\n"), "{out}");
            assert_eq!(names(ctx), "", "nothing is left");
        }
    });
}

/// `rm -f` of a `--rm` container whose monitor is slow to remove it (held
/// here: a `wait` that does not read the exit keeps it 5 s, then it is
/// stopped while `removing`): `rm` waits 10 s for it, then removes the
/// container itself and says so, exit 0; the monitor, going on later,
/// finds it gone, and the container's anonymous volume goes too.
#[test]
fn lifecycle_rm_force_with_a_slow_monitor() {
    if !have_busybox() || !common::is_root() {
        return common::skip("needs busybox and root (to stop the monitor)");
    }
    for_each_user("lifecycle_rm_force_with_a_slow_monitor", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--rm", "--name", "slow", "-v", "/data"], FOREVER);
        assert_eq!(ctx.ok(&["volume", "ls", "-q"]).stdout.lines().count(), 1);
        let dir = container_dir(ctx, &id);
        // A waiter that has not read the exit yet.
        let lock_path = dir.join("waiters.lock");
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap();
        ctx.give(&lock_path);
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockShared).unwrap();
        let rm = Background::spawn(ctx, &["rm", "-f", "slow"]);
        let mut monitor = None;
        let removing = eventually(Duration::from_secs(30), || {
            let st: serde_json::Value = fs::read(dir.join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            monitor = st["monitor_pid"].as_i64();
            st["status"] == "removing" && monitor.is_some()
        });
        assert!(
            removing,
            "the monitor never began removing: {}",
            rm.stderr()
        );
        let pid = rustix::process::Pid::from_raw(monitor.unwrap() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
        let (code, lines) = rm.finish(Duration::from_secs(60));
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        drop(lock);
        assert_eq!(code, Some(0), "rm -f: {lines:?}");
        assert_eq!(lines, ["slow"]);
        assert_eq!(names(ctx), "", "nothing is left");
        let monitor_gone = eventually(Duration::from_secs(30), || {
            !Path::new(&format!("/proc/{}", pid.as_raw_nonzero())).exists()
        });
        assert!(monitor_gone, "the monitor did not end");
        assert_eq!(
            ctx.ok(&["volume", "ls", "-q"]).stdout,
            "",
            "the anonymous volume"
        );
        let debris = tmp_debris(&ctx.root.join("containers"));
        assert!(debris.is_empty(), "{debris:?}");
    });
}

/// `rm` takes the names its outer pass saw removed by their monitor only
/// from that pass: an RLESS_RM_GONE in the caller's environment is no
/// answer (rm printed the name, exit 0, and left the container).
#[test]
fn lifecycle_rm_ignores_an_inherited_gone_list() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_rm_ignores_an_inherited_gone_list", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "kept", IMG, "true"]);
        let mut cmd = ctx.rless_cmd(&["rm", "kept"]);
        cmd.env("RLESS_RM_GONE", "kept");
        let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        assert_eq!(names(ctx), "", "rm must remove it");
    });
}

/// A `--rm` container whose monitor was killed is removed with its
/// anonymous volumes, as its monitor would have removed them, also when
/// the command that finds it (`ps`) runs outside the user namespace.
#[test]
fn lifecycle_killed_monitor_leaves_no_anonymous_volume() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "lifecycle_killed_monitor_leaves_no_anonymous_volume",
        |ctx| {
            let _cleanup = Cleanup(ctx);
            setup_image(ctx);
            run_sh(
                ctx,
                &["--rm", "--name", "av", "-v", "/data"],
                &format!("echo x > /data/f; chown 1000 /data/f; echo ready; {FOREVER}"),
            );
            wait_log(ctx, "av", "ready");
            assert_eq!(ctx.ok(&["volume", "ls", "-q"]).stdout.lines().count(), 1);
            let st = inspect(ctx, "av");
            kill_monitor(state_of(&st)["MonitorPid"].as_i64().unwrap());
            assert!(
                eventually(Duration::from_secs(10), || !names(ctx)
                    .lines()
                    .any(|l| l == "av")),
                "ps -a: {}",
                names(ctx)
            );
            let vols = ctx.ok(&["volume", "ls", "-q"]).stdout;
            assert_eq!(
                vols, "",
                "the anonymous volume of a --rm container is removed"
            );
            // The next exclusive holder of the store sweeps what is left.
            ctx.ok(&["image", "prune", "-f"]);
            let left: Vec<_> = fs::read_dir(ctx.root.join("volumes"))
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "volumes/ keeps {left:?}");
        },
    );
}

/// A `--rm` container whose monitor is SIGKILLed after the command ended,
/// while it was removing it (held in `removing` by a waiter that has not
/// read the exit): the next `ps -a`, `rm` or `container prune` finishes the
/// removal, its anonymous volume too (`rm` then finds no such container,
/// as docker's after its daemon removed it), and no process of the store
/// and no mount of it is left.
#[test]
fn lifecycle_monitor_killed_while_removing() {
    if !have_busybox() || !common::is_root() {
        return common::skip("needs busybox and root (to kill the monitor)");
    }
    for_each_user("lifecycle_monitor_killed_while_removing", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        for finisher in ["ps", "rm", "prune"] {
            let name = format!("gone-{finisher}");
            let id = run_sh(
                ctx,
                &["--rm", "--name", &name, "-v", "/data"],
                &format!("echo x > /data/f; chown 1000 /data/f; echo ready; {FOREVER}"),
            );
            wait_log(ctx, &name, "ready");
            let dir = container_dir(ctx, &id);
            // A waiter that has not read the exit yet holds the removal.
            let lock_path = dir.join("waiters.lock");
            let lock = fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .unwrap();
            ctx.give(&lock_path);
            rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockShared).unwrap();
            // The command ends.
            ctx.ok(&["kill", &name]);
            let mut monitor = None;
            let removing = eventually(Duration::from_secs(30), || {
                let st: serde_json::Value = fs::read(dir.join("state.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                monitor = st["monitor_pid"].as_i64();
                st["status"] == "removing" && monitor.is_some()
            });
            assert!(removing, "{finisher}: the monitor never began removing");
            kill_monitor(monitor.unwrap());
            let monitor_gone = eventually(Duration::from_secs(30), || {
                !Path::new(&format!("/proc/{}", monitor.unwrap())).exists()
            });
            assert!(monitor_gone, "{finisher}: the monitor did not end");
            drop(lock);
            match finisher {
                "ps" => {
                    ctx.ok(&["ps", "-a"]);
                }
                "rm" => {
                    // It finds it gone, as docker's rm of a --rm container
                    // its daemon removed.
                    let out = ctx.rless(&["rm", &name]);
                    assert_one_error(&out, 1);
                    assert!(out.stderr.contains("no such container"), "{out}");
                }
                _ => {
                    ctx.ok(&["container", "prune", "-f"]);
                }
            }
            assert_eq!(names(ctx), "", "{finisher}: ps -a shows it still");
            assert_eq!(containers(ctx), Vec::<String>::new(), "{finisher}");
            assert_eq!(
                ctx.ok(&["volume", "ls", "-q"]).stdout,
                "",
                "{finisher}: the anonymous volume"
            );
            let left = eventually(Duration::from_secs(10), || {
                processes_of_store(ctx).is_empty()
            });
            assert!(
                left,
                "{finisher}: left running: {:?}",
                processes_of_store(ctx)
            );
            assert_eq!(
                host_mounts_under(&ctx.root),
                Vec::<String>::new(),
                "{finisher}: mounts left"
            );
            ctx.ok(&["run", "--rm", "--name", &name, IMG, "true"]);
        }
        ctx.ok(&["image", "prune", "-f"]);
        let debris = tmp_debris(&ctx.root.join("containers"));
        assert!(debris.is_empty(), "{debris:?}");
        let left: Vec<_> = fs::read_dir(ctx.root.join("volumes"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "volumes/ keeps {left:?}");
    });
}

/// A `--rm` container whose monitor is SIGKILLed while it deletes the
/// container's tree (a big writable layer): its anonymous volume is gone
/// all the same (the removal takes the volumes before the tree, and the
/// debris sweep those of a `--rm` container whose removal was killed right
/// after its rename), once `ps -a` and an exclusive holder of the store
/// (`image prune`) have run.
#[test]
fn lifecycle_monitor_killed_while_deleting_the_tree() {
    if !have_busybox() || !common::is_root() {
        return common::skip("needs busybox and root (to kill the monitor)");
    }
    for_each_user("lifecycle_monitor_killed_while_deleting_the_tree", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--rm", "--name", "big", "-v", "/data"],
            &format!(
                "echo x > /data/f; for d in 1 2 3 4 5 6 7 8; do mkdir /m$d; \
                 for i in $(seq 1 1500); do : > /m$d/$i; done; done; echo ready; {FOREVER}"
            ),
        );
        wait_log(ctx, "big", "ready");
        let dir = container_dir(ctx, &id);
        let lock_path = dir.join("waiters.lock");
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap();
        ctx.give(&lock_path);
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockShared).unwrap();
        ctx.ok(&["kill", "big"]);
        let mut monitor = None;
        let removing = eventually(Duration::from_secs(30), || {
            let st: serde_json::Value = fs::read(dir.join("state.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            monitor = st["monitor_pid"].as_i64();
            st["status"] == "removing" && monitor.is_some()
        });
        assert!(removing, "the monitor never began removing");
        // Let the removal go on, and kill the monitor as soon as the
        // directory is renamed away: while it deletes the tree.
        drop(lock);
        while dir.exists() {
            std::hint::spin_loop();
        }
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor.unwrap() as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
        let monitor_gone = eventually(Duration::from_secs(30), || {
            !Path::new(&format!("/proc/{}", monitor.unwrap())).exists()
        });
        assert!(monitor_gone, "the monitor did not end");
        assert_eq!(names(ctx), "", "ps -a");
        ctx.ok(&["image", "prune", "-f"]);
        assert_eq!(
            ctx.ok(&["volume", "ls", "-q"]).stdout,
            "",
            "the anonymous volume of the --rm container"
        );
        let left: Vec<_> = fs::read_dir(ctx.root.join("volumes"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "volumes/ keeps {left:?}");
        let debris = tmp_debris(&ctx.root.join("containers"));
        assert!(debris.is_empty(), "{debris:?}");
    });
}

/// The pids of processes whose command line names the test's store.
fn processes_of_store(ctx: &Ctx) -> Vec<String> {
    let root = ctx.root.to_string_lossy().into_owned();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            pid.parse::<u32>().ok()?;
            let cmd = fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .split('\0')
                .any(|a| a == root)
                .then(|| {
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
        })
        .collect()
}

/// SIGTERM or SIGINT to `commit` (in subuid mode two processes: the one
/// the caller started, outside the user namespace, and the one doing the
/// work inside it) stops the work: rless exits with 128 + the signal, no
/// image is added, no `.tmp-*` entry stays in the image directories, and
/// no rless process of the store is left. `export -o FILE` and `save -o
/// FILE` stopped so leave neither FILE nor its temporary file, and `push`
/// no compressed blob in the store.
#[test]
fn lifecycle_killed_commit_or_save_leaves_nothing() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_killed_commit_or_save_leaves_nothing", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&[
            "run",
            "--name",
            "big",
            IMG,
            "sh",
            "-c",
            "head -c 250000000 /dev/zero > /big",
        ]);
        let images = ctx.ok(&["images", "-q"]).stdout;
        for sig in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
            let mut commit = Background::spawn(ctx, &["commit", "big", "bigimg"]);
            // Mid-way: its temporary blob and layer are there.
            let started = eventually(Duration::from_secs(60), || {
                !image_debris(ctx).is_empty() || !commit.running()
            });
            assert!(
                started && commit.running(),
                "commit ended before it could be stopped: {}",
                commit.stderr()
            );
            commit.signal(sig);
            let (code, _) = commit.finish(Duration::from_secs(120));
            assert_eq!(code, Some(128 + sig.as_raw()), "{sig:?}");
            let gone = eventually(Duration::from_secs(30), || {
                processes_of_store(ctx).is_empty()
            });
            assert!(gone, "{sig:?}: left running: {:?}", processes_of_store(ctx));
            assert_eq!(ctx.ok(&["images", "-q"]).stdout, images, "{sig:?}");
            assert!(
                image_debris(ctx).is_empty(),
                "{sig:?}: left {:?}",
                image_debris(ctx)
            );
        }
        let written = || -> Vec<String> {
            fs::read_dir(&ctx.work)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("out.tar") || n.contains(".tmp-"))
                .collect()
        };
        // export -o (in subuid mode two processes too, and a helper).
        let exported = ctx.work.join("export.tar");
        let mut export =
            Background::spawn(ctx, &["export", "-o", exported.to_str().unwrap(), "big"]);
        let started = eventually(Duration::from_secs(60), || {
            !written().is_empty() || !export.running()
        });
        assert!(
            started && export.running(),
            "export ended before it could be stopped: {}",
            export.stderr()
        );
        export.signal(rustix::process::Signal::TERM);
        let (code, _) = export.finish(Duration::from_secs(60));
        assert_eq!(code, Some(143), "export");
        assert!(written().is_empty(), "export left {:?}", written());
        assert!(!exported.exists());
        let gone = eventually(Duration::from_secs(30), || {
            processes_of_store(ctx).is_empty()
        });
        assert!(gone, "export left running: {:?}", processes_of_store(ctx));
        ctx.ok(&["commit", "big", "bigimg"]);
        ctx.ok(&["rm", "big"]);
        let out = ctx.work.join("out.tar");
        let mut save = Background::spawn(ctx, &["save", "-o", out.to_str().unwrap(), "bigimg"]);
        let started = eventually(Duration::from_secs(60), || {
            !written().is_empty() || !save.running()
        });
        assert!(
            started && save.running(),
            "save ended before it could be stopped: {}",
            save.stderr()
        );
        save.signal(rustix::process::Signal::TERM);
        let (code, _) = save.finish(Duration::from_secs(60));
        assert_eq!(code, Some(143), "save");
        assert!(written().is_empty(), "save left {:?}", written());
        // push gzips the plain layer into the store first.
        let Some(reg) = common::oci::Registry::open() else {
            return;
        };
        let dst = format!("{}/{}:v1", reg.host, ctx.repo("killed-push"));
        let mut push = Background::spawn(ctx, &["push", "bigimg", &dst]);
        let started = eventually(Duration::from_secs(60), || {
            !image_debris(ctx).is_empty() || !push.running()
        });
        assert!(
            started && push.running(),
            "push ended before it could be stopped: {}",
            push.stderr()
        );
        push.signal(rustix::process::Signal::TERM);
        let (code, _) = push.finish(Duration::from_secs(60));
        assert_eq!(code, Some(143), "push");
        assert!(
            image_debris(ctx).is_empty(),
            "push left {:?}",
            image_debris(ctx)
        );
    });
}
