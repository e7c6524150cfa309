//! `rless run` and its processes: signal forwarding, the init reaping
//! zombies, the pid namespace, terminals (`-t`, resizes, ^C) and a
//! SIGKILLed monitor leaving nothing behind.
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::run_helpers`.

mod common;

use common::background::Background;
use common::checks::*;
use common::pty::*;
use common::run_helpers::*;
use common::{for_each_user, skip, Ctx};
use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ signals

fn signal_case(ctx: &Ctx, sig: rustix::process::Signal, name: &str, code: i32) {
    let script = format!(
        "trap 'echo got {name}; exit {code}' {name}; echo ready; while true; do sleep 0.1; done"
    );
    let mut bg = Background::spawn(ctx, &["run", "--rm", IMG, "sh", "-c", &script]);
    bg.wait_line("ready", Duration::from_secs(60));
    bg.signal(sig);
    let stderr = bg.stderr.clone();
    let (exit, lines) = bg.finish(Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    assert!(
        lines.iter().any(|l| l.trim() == format!("got {name}")),
        "SIG{name} sent to rless ({} mode) must reach the command's trap: exit {exit:?}, stdout {lines:?}, stderr {stderr:?}",
        ctx.user.mode.as_str()
    );
    assert_eq!(
        exit,
        Some(code),
        "the trap's exit code must come back after SIG{name}: stdout {lines:?}, stderr {stderr:?}"
    );
}

#[test]
fn run_forwards_sigterm() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sigterm", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::TERM, "TERM", 7);
        assert_no_containers(ctx, "--rm after a signal");
    });
}

#[test]
fn run_forwards_sighup_and_usr1() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sighup_and_usr1", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::HUP, "HUP", 8);
        signal_case(ctx, rustix::process::Signal::USR1, "USR1", 9);
    });
}

#[test]
fn run_forwards_sigint() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sigint", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::INT, "INT", 6);
    });
}

/// Signals the caller ignores (a `nohup`ed script) are not ignored in the
/// container: its processes start with every disposition at the default,
/// so a forwarded SIGHUP can still be trapped.
#[test]
fn run_starts_with_default_signal_dispositions() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_starts_with_default_signal_dispositions", |ctx| {
        assert!(setup_image(ctx));
        let mut sh = ctx.command(std::path::Path::new("/bin/sh"));
        sh.arg("-c").arg(format!(
            "trap '' HUP INT QUIT PIPE; grep SigIgn /proc/self/status; \
             exec {} --root {} run --rm {IMG} cat /proc/self/status",
            common::rless_bin().display(),
            ctx.root.display()
        ));
        let out = common::run_cmd(sh, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        // Signals 32 and 33 are glibc's own (bits 31 and 32): left alone.
        let ign: Vec<u64> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap() & !(3 << 31))
            .collect();
        assert_eq!(ign.len(), 2, "{out}");
        assert_ne!(ign[0], 0, "the caller ignores: {out}");
        assert_eq!(ign[1], 0, "nothing ignored in the container: {out}");
        // Detached too: the monitor ignores SIGPIPE (a `run -d` killed
        // before it reads the answer must not end it), its container not.
        let id = ctx.ok(&["run", "-d", IMG, "cat", "/proc/self/status"]);
        let id = id.stdout.trim();
        ctx.ok(&["wait", id]);
        let logs = ctx.ok(&["logs", id]);
        let ign = logs
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap() & !(3 << 31));
        assert_eq!(
            ign,
            Some(0),
            "nothing ignored in a detached container: {logs}"
        );
        ctx.ok(&["rm", id]);
    });
}

/// A command that ignores nothing dies of the forwarded signal: 128+n.
#[test]
fn run_signal_kills_command() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_signal_kills_command", |ctx| {
        assert!(setup_image(ctx));
        // A sleep length no other process uses, to see the exec by.
        let marker = format!("{}", 4000 + (std::process::id() % 997) + ctx.user.uid);
        let script = format!("echo ready; exec sleep {marker}");
        let mut bg = Background::spawn(ctx, &["run", "--rm", IMG, "sh", "-c", &script]);
        bg.wait_line("ready", Duration::from_secs(60));
        // Once the exec has happened (the shell would take SIGTERM
        // otherwise), however long a loaded machine takes to get there.
        let execed = eventually(Duration::from_secs(60), || {
            host_processes().iter().any(|p| {
                p.args.first().map(String::as_str) == Some("sleep")
                    && p.args.get(1) == Some(&marker)
            })
        });
        assert!(execed, "the command never exec'd sleep {marker}");
        bg.signal(rustix::process::Signal::TERM);
        let (exit, lines) = bg.finish(Duration::from_secs(30));
        assert_eq!(exit, Some(143), "sleep killed by SIGTERM: stdout {lines:?}");
    });
}

/// Every signal a foreground `run` or `exec` can catch reaches the
/// command, as with docker's `--sig-proxy` (real-time ones and SIGALRM
/// included, which once killed the waiting rless instead), except
/// job control: SIGTSTP stops rless itself and the command runs on.
#[test]
fn run_forwards_every_catchable_signal() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_every_catchable_signal", |ctx| {
        assert!(setup_image(ctx));
        let script = "trap 'echo got-alrm' ALRM; trap 'echo got-pwr' PWR; \
                      trap 'echo got-37' 37; trap 'echo got-64' 64; \
                      trap 'echo got-tstp' TSTP; trap 'echo got-usr2' USR2; \
                      echo ready; while true; do sleep 0.1; done";
        let id = ctx.ok(&["run", "-d", IMG, "sleep", "1000"]);
        let id = id.stdout.trim().to_string();
        let run = ["run", "--rm", IMG, "sh", "-c", script];
        let exec = ["exec", &id, "sh", "-c", script];
        for (what, args) in [("run", &run[..]), ("exec", &exec[..])] {
            // A group of its own under the test's: the kernel discards
            // SIGTSTP sent to an orphaned process group, which the test's
            // own group may be (as under CI).
            let mut cmd = ctx.rless_cmd(args);
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut bg = Background::spawn_cmd(cmd);
            bg.wait_line("ready", Duration::from_secs(60));
            let pid = bg.pid();
            for (sig, line) in [
                (nix::libc::SIGALRM, "got-alrm"),
                (nix::libc::SIGPWR, "got-pwr"),
                (37, "got-37"),
                (64, "got-64"),
            ] {
                // SAFETY: kill takes plain integers.
                assert_eq!(unsafe { nix::libc::kill(pid, sig) }, 0, "kill {sig}");
                bg.wait_line(line, Duration::from_secs(30));
            }
            // Ctrl-Z's signal stops rless, not the command.
            // SAFETY: as above.
            assert_eq!(unsafe { nix::libc::kill(pid, nix::libc::SIGTSTP) }, 0);
            let stopped = eventually(Duration::from_secs(10), || {
                fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        s.rsplit(')')
                            .next()
                            .map(|r| r.trim_start().starts_with('T'))
                    })
                    .unwrap_or(false)
            });
            assert!(stopped, "{what}: SIGTSTP must stop rless itself");
            // SAFETY: as above.
            assert_eq!(unsafe { nix::libc::kill(pid, nix::libc::SIGCONT) }, 0);
            bg.signal(rustix::process::Signal::USR2);
            bg.wait_line("got-usr2", Duration::from_secs(30));
            bg.signal(rustix::process::Signal::TERM);
            let (exit, lines) = bg.finish(Duration::from_secs(30));
            assert_eq!(exit, Some(143), "{what}: stdout {lines:?}");
            assert!(
                !lines.iter().any(|l| l.trim() == "got-tstp"),
                "{what}: SIGTSTP must not reach the command: {lines:?}"
            );
        }
        ctx.ok(&["rm", "-f", &id]);
    });
}

// ------------------------------------------------------------------ init and pid namespace

/// Zombies in `cat /proc/[0-9]*/stat` output: (pid, ppid, comm) of each.
fn zombies(stat: &str) -> Vec<String> {
    stat.lines()
        .filter_map(|l| {
            let close = l.rfind(')')?;
            let rest: Vec<&str> = l[close + 1..].split_whitespace().collect();
            (rest.first() == Some(&"Z")).then(|| l.to_string())
        })
        .collect()
}

#[test]
fn run_init_reaps_zombies() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_init_reaps_zombies", |ctx| {
        assert!(setup_image(ctx));
        // Orphans re-parented to pid 1 exit while the command still runs;
        // only the init can reap them.
        let script = "(sleep 0.1 & sleep 0.1 & sleep 0.2 & true) ; \
                      (sh -c 'sleep 0.1 & exit 0' &) ; sleep 1.5; \
                      echo ---; cat /proc/[0-9]*/stat; true";
        let out = sh(ctx, &[], script);
        let stat = out.split("---\n").nth(1).unwrap_or("");
        assert!(
            stat.contains("(sh)") && stat.lines().any(|l| l.starts_with("1 ")),
            "no /proc/*/stat lines for the shell and pid 1: {out}"
        );
        let z = zombies(stat);
        assert!(
            z.is_empty(),
            "zombies left unreaped by the container's init: {z:?}\n{out}"
        );
    });
}

#[test]
fn run_pid_namespace() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_pid_namespace", |ctx| {
        assert!(setup_image(ctx));
        let out = sh(
            ctx,
            &[],
            "echo self=$$; echo ppid=$PPID; ls /proc | grep -c '^[0-9]'; \
             echo ---; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo ---; ps -o pid,comm",
        );
        let mut parts = out.split("---\n");
        let head = parts.next().unwrap();
        let init_cmdline = parts.next().unwrap_or("");
        let ps = parts.next().unwrap_or("");
        let mut hl = head.lines();
        assert_eq!(hl.next(), Some("self=2"), "the command is pid 2: {out}");
        assert_eq!(
            hl.next(),
            Some("ppid=1"),
            "the command's parent is the init: {out}"
        );
        let n: usize = hl
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(9999);
        assert!(
            n <= 5,
            "the container sees {n} processes; the host's must be invisible: {out}"
        );
        // pid 1 is rless's init, named as such: the host's command line
        // (store path, options) is not shown to the container.
        assert_eq!(
            init_cmdline.trim_end(),
            "rless-init",
            "pid 1 must be rless's own init, without the host's command line: {out}"
        );
        let pids: Vec<u32> = ps
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(pids.contains(&1) && pids.contains(&2), "ps: {out}");
        assert!(pids.iter().all(|p| *p < 10), "ps shows foreign pids: {out}");
        // Nor its environment, even where the container may read it
        // (CAP_SYS_PTRACE): the init zeroed it.
        let out = sh(
            ctx,
            &["--cap-add", "SYS_PTRACE"],
            "cat /proc/1/environ | tr '\\0' '\\n' | grep -c = ; true",
        );
        assert_eq!(
            out.trim(),
            "0",
            "pid 1's environment shows variables: {out}"
        );
        // The host's processes cannot be signalled by pid either.
        let host_pid = std::process::id();
        let out = sh(
            ctx,
            &[],
            &format!("kill -0 {host_pid} 2>/dev/null && echo visible || echo invisible"),
        );
        assert_eq!(out, "invisible\n");
    });
}

// ------------------------------------------------------------------ terminal

#[test]
fn run_tty() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty", |ctx| {
        assert!(setup_image(ctx));
        let script = "test -t 0 && test -t 1 && echo is-a-tty; stty size; \
                      echo TERM=$TERM; read line; echo \"got:$line\"; exit 5";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            37,
            101,
        );
        pty.wait_for("TERM=");
        pty.type_in(b"typed-in\n");
        let (code, text) = pty.finish();
        assert!(
            text.contains("is-a-tty"),
            "the command must have a terminal: {text:?}"
        );
        assert!(
            text.contains("37 101"),
            "stty size must follow the caller's terminal (37 101): {text:?}"
        );
        assert!(
            text.contains("TERM=xterm"),
            "TERM defaults to xterm with -t: {text:?}"
        );
        assert!(
            text.contains("got:typed-in"),
            "input typed on the terminal must arrive: {text:?}"
        );
        assert_eq!(code, Some(5), "exit code through -t; terminal: {text:?}");
        assert!(
            !text.contains("rless:"),
            "no rless error expected: {text:?}"
        );
        assert_no_containers(ctx, "--rm -t");
    });
}

/// The caller's terminal is resized (SIGWINCH from the kernel) and ^C is
/// typed: the container's terminal follows, and ^C interrupts the command.
#[test]
fn run_tty_resize_and_ctrl_c() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_resize_and_ctrl_c", |ctx| {
        assert!(setup_image(ctx));
        let script = "stty size; echo ready; i=0; \
                      while [ $i -lt 100 ]; do s=$(stty size); [ \"$s\" = '50 120' ] && break; sleep 0.1; i=$((i+1)); done; \
                      echo \"final:$s\"";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            24,
            80,
        );
        pty.wait_for("ready");
        pty.resize(50, 120);
        let (code, text) = pty.finish();
        assert!(text.contains("24 80"), "initial size: {text:?}");
        assert!(
            text.contains("final:50 120"),
            "the container's terminal must follow a resize of the caller's ({} mode): {text:?}",
            ctx.user.mode.as_str()
        );
        assert_eq!(code, Some(0), "{text:?}");

        let script = "trap 'echo got-INT; exit 7' INT; echo ready; while true; do sleep 0.1; done";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            24,
            80,
        );
        pty.wait_for("ready");
        pty.type_in(b"\x03");
        let (code, text) = pty.finish();
        assert!(
            text.contains("got-INT"),
            "^C must reach the command as SIGINT: {text:?}"
        );
        assert_eq!(code, Some(7), "exit code after ^C: {text:?}");
        assert_no_containers(ctx, "--rm -t");
    });
}

/// `tty` (ttyname(3)) must find the terminal under the container's /dev/pts.
#[test]
fn run_tty_has_a_name() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_has_a_name", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--rm",
                "-t",
                IMG,
                "sh",
                "-c",
                "tty; ls -l /proc/self/fd/0; ls /dev/pts",
            ],
        );
        assert!(out.success(), "{out}");
        let first = out.stdout.lines().next().unwrap_or("").trim();
        assert!(
            first.starts_with("/dev/pts/"),
            "`tty` in the container must name its terminal (got {first:?}); the pty is \
             opened from the host's devpts, not the container's /dev/pts instance, so \
             ttyname() fails: {out}"
        );
    });
}

/// -t with a pipe as stdin (no terminal on the caller's side) still works.
#[test]
fn run_tty_without_caller_terminal() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_without_caller_terminal", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--rm",
                "-t",
                IMG,
                "sh",
                "-c",
                "test -t 1 && echo yes; exit 4",
            ],
        );
        assert_eq!(out.code, Some(4), "{out}");
        assert!(out.stdout.contains("yes"), "{out}");
    });
}

/// `-i -t` with input that is not a terminal is refused as docker does
/// (the pty echoed the input back, and its end never reached the command:
/// it hung); `-t` alone with a pipe as stdout whose reader goes away (`|
/// head`) hangs the command up (SIGHUP) and `--rm` still removes it (the
/// relay died of SIGPIPE and left it).
#[test]
fn run_tty_with_pipes() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_with_pipes", |ctx| {
        assert!(setup_image(ctx));
        let out = ctx.rless_stdin(&["run", "--rm", "-i", "-t", IMG, "cat"], b"hello\n");
        assert_eq!(out.code, Some(1), "{out}");
        assert_eq!(
            out.stderr, "rless: the input device is not a TTY\n",
            "{out}"
        );
        assert!(!out.stdout.contains("hello"), "{out}");
        ctx.ok(&["run", "-d", "--name", "it", IMG, "sleep", "60"]);
        let out = ctx.rless_stdin(&["exec", "-i", "-t", "it", "cat"], b"hello\n");
        assert_eq!(out.code, Some(1), "exec: {out}");
        ctx.ok(&["rm", "-f", "it"]);
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "nothing made");

        let script = "while :; do echo y; done";
        let mut child = ctx
            .rless_cmd(&["run", "--rm", "-t", IMG, "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = [0u8; 2];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        assert_eq!(&first, b"y\r");
        drop(child.stdout.take());
        let status = common::checks::wait_timeout(&mut child, Duration::from_secs(30))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("run -t kept going with its reader gone")
            });
        assert_eq!(status.code(), Some(129), "hung up: {status:?}");
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "--rm left the container");
    });
}

/// `run -d -t`: what the command writes to its terminal is in `logs`, and
/// more than a pty's buffer does not block it (nobody read the terminal).
/// `run -d -i`: the command's input stays open, as docker's.
#[test]
fn run_detached_tty_is_logged() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_detached_tty_is_logged", |ctx| {
        assert!(setup_image(ctx));
        let script = "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; echo done";
        ctx.ok(&["run", "-d", "-t", "--name", "dt", IMG, "sh", "-c", script]);
        let out = ctx.ok(&["wait", "dt"]);
        assert_eq!(out.stdout, "0\n", "{out}");
        let logs = ctx.ok(&["logs", "dt"]).stdout;
        assert!(
            logs.contains("line-0\r\n"),
            "{}",
            &logs[..logs.len().min(200)]
        );
        assert!(
            logs.ends_with("line-2999\r\ndone\r\n"),
            "{}",
            &logs[logs.len().saturating_sub(200)..]
        );
        ctx.ok(&["rm", "dt"]);

        // -d -i: the input stays open (it was /dev/null: `sh` ended at once).
        ctx.ok(&["run", "-d", "-i", "--name", "di", IMG, "sh"]);
        std::thread::sleep(Duration::from_millis(500));
        let out = ctx.ok(&["exec", "di", "echo", "alive"]);
        assert_eq!(out.stdout, "alive\n", "run -d -i sh ended: {out}");
        ctx.ok(&["rm", "-f", "di"]);
    });
}

// ------------------------------------------------------------------ killed monitor

#[test]
fn run_sigkill_leaves_nothing() {
    if !have_busybox() {
        return;
    }
    if !common::is_root() {
        skip("needs root to see every process and mount of the test user");
        return;
    }
    for_each_user("run_sigkill_leaves_nothing", |ctx| {
        assert!(setup_image(ctx));
        let mounts_before = host_mounts_under(&ctx.work);
        // A sleep length no other process uses, to find survivors by.
        let marker = format!("{}", 3000 + (std::process::id() % 997) + ctx.user.uid);
        let script = format!("echo ready; sleep {marker} & sleep {marker}; wait");
        let mut bg = Background::spawn(ctx, &["run", IMG, "sh", "-c", &script]);
        bg.wait_line("ready", Duration::from_secs(60));
        let ours = |p: &HostProc| {
            p.args.first().map(String::as_str) == Some("sleep") && p.args.get(1) == Some(&marker)
        };
        // Both started (`ready` comes before them), however long a loaded
        // machine takes.
        let mut running = 0;
        let both = eventually(Duration::from_secs(60), || {
            running = host_processes().into_iter().filter(|p| ours(p)).count();
            running == 2
        });
        assert!(
            both,
            "expected the container's two sleeps before the kill, saw {running}"
        );
        bg.signal(rustix::process::Signal::KILL);
        let (code, _) = bg.finish(Duration::from_secs(30));
        assert_eq!(code, None, "rless must have died of SIGKILL");

        // Give the kernel a moment to tear the namespaces down (a loaded
        // machine may take a while).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut survivors: Vec<HostProc>;
        loop {
            survivors = host_processes().into_iter().filter(|p| ours(p)).collect();
            if survivors.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Also any leftover rless process (the init, or the subuid-mode
        // monitor) of this store.
        let store = ctx.root.to_string_lossy().to_string();
        let rless_left: Vec<HostProc> = host_processes()
            .into_iter()
            .filter(|p| p.args.contains(&store) && p.args.iter().any(|a| a == "run"))
            .collect();
        let describe = |v: &[HostProc]| {
            v.iter()
                .map(|p| format!("pid {} uid {} {:?}", p.pid, p.uid, p.args))
                .collect::<Vec<_>>()
        };
        let survivors_desc = describe(&survivors);
        let rless_desc = describe(&rless_left);
        // Clean up before asserting so the leftovers do not outlive the test.
        for p in survivors.iter().chain(rless_left.iter()) {
            if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(200));

        let mounts_after = host_mounts_under(&ctx.work);
        assert_eq!(
            mounts_after, mounts_before,
            "mounts under the store left on the host after SIGKILL of rless"
        );
        assert!(
            survivors_desc.is_empty() && rless_desc.is_empty(),
            "BUG: SIGKILL of `rless run` ({} mode) left container processes running: \
             sleeps {survivors_desc:?}, rless processes {rless_desc:?}; the container must \
             die with its monitor (e.g. PR_SET_PDEATHSIG on the init and the monitor)",
            ctx.user.mode.as_str()
        );
    });
}
