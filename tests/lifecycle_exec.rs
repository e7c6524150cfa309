//! `rless exec` into a running container: it shares the container's
//! hostname, files and pid namespace; exit codes and streams; `-e`, `-w`,
//! `--env-file`, `--privileged`, `-u`, `-i`, `-d`; missing commands; refused on a stopped or unknown
//! container.
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Mode, ERR_EXIT};
use std::fs;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ exec

#[test]
fn lifecycle_exec() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_exec", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "ex", "-e", "FROM_RUN=yes"],
            &format!("echo main > /from-main; echo ready; {FOREVER}"),
        );
        wait_log(ctx, "ex", "ready");

        // Same hostname, same files, same pid namespace.
        let out = ctx.ok(&["exec", "ex", "hostname"]);
        assert_eq!(
            out.stdout,
            format!("{}\n", &id[..12]),
            "exec must see the container's hostname: {out}"
        );
        let out = ctx.ok(&["exec", &id, "cat", "/from-main"]);
        assert_eq!(
            out.stdout, "main\n",
            "exec must see the container's files: {out}"
        );
        let out = ctx.ok(&[
            "exec",
            "ex",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; ps",
        ]);
        assert!(
            out.stdout.contains("while true"),
            "exec must be in the container's pid namespace (its command visible): {out}"
        );
        // Writes from exec are seen by the container's layer.
        ctx.ok(&["exec", "ex", "sh", "-c", "echo from-exec > /from-exec"]);
        assert_eq!(
            fs::read_to_string(container_dir(ctx, &id).join("upper/from-exec")).unwrap(),
            "from-exec\n"
        );

        // Exit codes, stdout and stderr apart.
        let out = ctx.rless(&["exec", "ex", "sh", "-c", "echo o; echo e >&2; exit 42"]);
        assert_eq!(
            out.code,
            Some(42),
            "exec must return the command's exit code: {out}"
        );
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("o\n", "e\n"),
            "{out}"
        );
        let out = ctx.rless(&["exec", "ex", "false"]);
        assert_eq!(out.code, Some(1), "{out}");

        // -e, the container's environment, -w.
        let out = ctx.ok(&[
            "exec",
            "-e",
            "FOO=bar baz",
            "-e",
            "FROM_RUN=over",
            "ex",
            "sh",
            "-c",
            "echo $FOO; echo $FROM_RUN; echo $PATH",
        ]);
        assert_eq!(
            out.stdout,
            "bar baz\nover\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            "{out}"
        );
        let out = ctx.ok(&["exec", "ex", "sh", "-c", "echo $FROM_RUN"]);
        assert_eq!(
            out.stdout, "yes\n",
            "exec must get the container's environment: {out}"
        );
        let out = ctx.ok(&["exec", "-w", "/tmp", "ex", "pwd"]);
        assert_eq!(out.stdout, "/tmp\n", "{out}");
        let out = ctx.ok(&["exec", "ex", "pwd"]);
        assert_eq!(out.stdout, "/\n", "{out}");
        let out = ctx.ok(&[
            "exec",
            "--workdir",
            "/etc",
            "--env",
            "A=1",
            "ex",
            "sh",
            "-c",
            "pwd; echo $A",
        ]);
        assert_eq!(out.stdout, "/etc\n1\n", "{out}");

        // --env-file (run's rules), then -e: the later value of a name wins.
        let envf = ctx.write_file("exec.env", b"# a comment\n\nFROM_FILE=f1\nFOO=file\n");
        let envf = envf.to_str().unwrap();
        let script = "echo $FROM_FILE $FOO $FROM_RUN";
        let out = ctx.ok(&[
            "exec",
            "--env-file",
            envf,
            "-e",
            "FOO=cli",
            "ex",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(out.stdout, "f1 cli yes\n", "{out}");
        let bad_envf = ctx.write_file("bad.env", b"=x\n");
        let missing = ctx.work.join("missing.env");
        for f in [bad_envf.as_path(), missing.as_path()] {
            let out = ctx.rless(&["exec", "--env-file", f.to_str().unwrap(), "ex", "true"]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("env file"), "{out}");
        }
        // --privileged: every capability, where plain exec has docker's set.
        let caps = |extra: &[&str]| {
            let mut args = vec!["exec"];
            args.extend_from_slice(extra);
            args.extend(["ex", "sh", "-c", "grep CapEff /proc/self/status"]);
            let out = ctx.ok(&args);
            let hex = out
                .stdout
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            u64::from_str_radix(&hex, 16).unwrap_or_else(|_| panic!("{out}"))
        };
        let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(caps(&[]), 0xa80425fb, "docker's default set");
        assert_eq!(caps(&["--privileged"]), (1u64 << (last + 1)) - 1, "all");
        // An unknown option before the container is one, not a name.
        for flag in ["--bogus", "-Z"] {
            let out = ctx.rless(&["exec", flag, "ex", "true"]);
            assert_one_error(&out, ERR_EXIT);
            assert!(
                out.stderr.contains(&format!("unknown flag: {flag}")),
                "{out}"
            );
            assert!(!out.stderr.contains("go before"), "it is before: {out}");
        }

        // -u
        let out = ctx.ok(&["exec", "ex", "id", "-u"]);
        assert_eq!(out.stdout, "0\n", "{out}");
        // An unknown user or group: docker's 126 (the exec could not be
        // started) and its message.
        for (u, what) in [
            ("nosuch", "user nosuch"),
            ("0:nogroup-here", "group nogroup-here"),
        ] {
            let out = ctx.rless(&["exec", "-u", u, "ex", "true"]);
            assert_one_error(&out, 126);
            assert!(
                out.stderr
                    .contains(&format!("unable to find {what}: no matching entries")),
                "{out}"
            );
        }
        match ctx.user.mode {
            Mode::Subuid => {
                let out = ctx.ok(&["exec", "-u", "1000", "ex", "id", "-u"]);
                assert_eq!(out.stdout, "1000\n", "{out}");
                let out = ctx.ok(&["exec", "-u", "alice", "ex", "sh", "-c", "id -un; id -g"]);
                assert_eq!(out.stdout, "alice\n1000\n", "{out}");
            }
            Mode::Single => {
                // docker's exec code for a process that cannot be started
                // (126, not rless's own 125), and why.
                let out = ctx.rless(&["exec", "-u", "1000", "ex", "id", "-u"]);
                assert_one_error(&out, 126);
                assert!(out.stderr.contains(" 1000 is not mapped"), "{out}");
                assert!(!out.stdout.contains("1000"), "{out}");
            }
        }

        // -i: stdin passes; without -i the command gets none.
        let out = ctx.rless_stdin(
            &["exec", "-i", "ex", "sh", "-c", "cat; echo done"],
            b"line one\nline two\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "line one\nline two\ndone\n",
            "exec -i must pass stdin: {out}"
        );
        let out = ctx.rless_stdin(
            &["exec", "ex", "sh", "-c", "cat; echo done"],
            b"not for you\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "done\n",
            "exec without -i must not pass stdin: {out}"
        );

        // -d: returns at once; the process runs (seen by another exec).
        let mark = marker(ctx, 2);
        let t = Instant::now();
        let out = ctx.ok(&["exec", "-d", "ex", "sleep", &mark]);
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "exec -d must return at once, not wait for sleep: {out}"
        );
        assert!(out.stdout.trim().is_empty(), "{out}");
        let seen = eventually(Duration::from_secs(30), || {
            ctx.ok(&["exec", "ex", "ps"])
                .stdout
                .contains(&format!("sleep {mark}"))
        });
        assert!(
            seen,
            "the exec -d process must run in the container: {}",
            ctx.ok(&["exec", "ex", "ps"])
        );

        // A missing or non-executable command.
        let out = ctx.rless(&["exec", "ex", "no-such-command"]);
        assert_one_error(&out, 127);
        let out = ctx.rless(&["exec", "ex", "/etc/passwd"]);
        assert_one_error(&out, 126);
        // A working directory that is missing (or a file): 127, as docker.
        let out = ctx.rless(&["exec", "-w", "/no/such/dir", "ex", "pwd"]);
        assert_one_error(&out, 127);
        let out = ctx.rless(&["exec", "-w", "/etc/passwd", "ex", "pwd"]);
        assert_one_error(&out, 127);
        // A relative one: refused before anything runs, in docker's words.
        let out = ctx.rless(&["exec", "-w", "tmp", "ex", "pwd"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains(
                "the working directory 'tmp' is invalid, it needs to be an absolute path"
            ),
            "{out}"
        );
        // One only root may enter is entered before the user switch, as
        // runc does: the user runs there (and cannot list it).
        if ctx.user.mode == Mode::Subuid {
            ctx.ok(&["exec", "ex", "mkdir", "-m", "700", "/rootonly"]);
            let out = ctx.ok(&["exec", "-u", "1000:1000", "-w", "/rootonly", "ex", "pwd"]);
            assert_eq!(out.stdout, "/rootonly\n", "{out}");
            let out = ctx.rless(&["exec", "-u", "1000:1000", "-w", "/rootonly", "ex", "ls"]);
            assert_eq!(out.code, Some(1), "{out}");
        }

        // The container is unharmed by all that.
        assert_eq!(state_of(&inspect(ctx, "ex"))["Running"], true);

        // Stopped: exec is an error; the exec -d process died with it.
        ctx.ok(&["stop", "-t", "5", "ex"]);
        let out = ctx.rless(&["exec", "ex", "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("not running"), "{out}");
        if common::is_root() {
            assert!(
                eventually(Duration::from_secs(30), || marker_sleeps(&mark).is_empty()),
                "the exec -d process outlived the container: {:?}",
                marker_sleeps(&mark)
            );
        }
        // Unknown container; no command.
        ctx.rless(&["exec", "nope", "true"]).assert_rless_error();
        ctx.rless(&["exec", "ex"]).assert_rless_error();
    });
}

// ------------------------------------------------------------------ top

/// `top CTR [OPTIONS]`: rless's own listing, podman's format descriptors
/// (`pid,args`, `user comm`: ps -o), and ps options as docker passes them
/// (`-eo pid,comm`, `aux`, `-eo args,pid`: spaces before the PID column);
/// only the container's processes are listed, and options whose output has
/// no PID column are refused.
#[test]
fn lifecycle_top() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_top", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &[], "sleep 1000 & wait");
        // The container's pids, from rless's own listing.
        let own = eventually_ok(ctx, &["top", &id], "sleep 1000");
        let mut lines = own.lines();
        assert_eq!(
            lines
                .next()
                .map(|h| h.split_whitespace().collect::<Vec<_>>()),
            Some(vec!["UID", "PID", "PPID", "CMD"]),
            "{own}"
        );
        let pids: Vec<String> = lines
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
        assert!(pids.len() >= 3, "init, sh and sleep: {own}");
        for (opts, header, pid_col) in [
            (&["-eo", "pid,comm"][..], "PID COMMAND", Some(0)),
            (&["aux"][..], "USER PID", Some(1)),
            (&["pid,args"][..], "PID COMMAND", Some(0)),
            (&["user", "comm"][..], "USER COMMAND", None),
            // Spaces in a column before the PID ("sleep 1000", "sh -c ..."):
            // the PID is found under its title, not as the second word.
            (&["-eo", "args,pid"][..], "COMMAND PID", Some(usize::MAX)),
            (&["args", "pid"][..], "COMMAND PID", Some(usize::MAX)),
        ] {
            let out = ctx.ok(&[&["top", &id][..], opts].concat()).stdout;
            let mut lines = out.lines();
            let head = lines.next().unwrap_or_default();
            assert!(
                head.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .starts_with(header),
                "top {opts:?}: header {head:?}"
            );
            let rows: Vec<&str> = lines.collect();
            assert_eq!(rows.len(), pids.len(), "top {opts:?}: {out}");
            assert!(
                rows.iter().any(|r| r.contains("sleep")),
                "top {opts:?}: {out}"
            );
            if let Some(c) = pid_col {
                for r in &rows {
                    let words: Vec<&str> = r.split_whitespace().collect();
                    let pid = words.get(c.min(words.len() - 1)).unwrap_or(&"");
                    assert!(
                        pids.iter().any(|p| p == pid),
                        "top {opts:?}: {r:?} is not the container's"
                    );
                }
            }
        }
        // Without a PID column the rows cannot be told apart.
        let out = ctx.rless(&["top", &id, "-eo", "comm"]);
        assert_one_error(&out, ERR_EXIT);
        ctx.ok(&["rm", "-f", &id]);
    });
}

/// `args` until its output holds `needle` (a process just started).
fn eventually_ok(ctx: &common::Ctx, args: &[&str], needle: &str) -> String {
    let mut out = String::new();
    let seen = eventually(Duration::from_secs(10), || {
        out = ctx.ok(args).stdout;
        out.contains(needle)
    });
    assert!(seen, "{args:?}: {out}");
    out
}

/// A terminal sends Ctrl-C and Ctrl-Z to its whole foreground process
/// group, which `rless exec` (without -t) is in: the `exec`ed process must
/// not be in it too, or it gets each such signal twice (once from the
/// terminal, once passed on by rless; a second SIGINT is "force quit" to
/// many programs) and Ctrl-Z stops it with rless, where rless alone is to
/// stop and the process run on (as with `run`, whose init has a session
/// of its own). The group signal is sent as a terminal would.
#[test]
fn exec_terminal_group_signals_reach_the_command_only_through_rless() {
    if !have_busybox() {
        return;
    }
    for_each_user("exec_terminal_group_signals", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "gs"], FOREVER);
        let script = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; \
                      echo went; while true; do sleep 0.1; done";
        let mut cmd = ctx.rless_cmd(&["exec", &id, "sh", "-c", script]);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut bg = Background::spawn_cmd(cmd);
        bg.wait_line("ready", Duration::from_secs(60));
        let pid = bg.pid();
        // Ctrl-Z's SIGTSTP, to the foreground group (rless leads it).
        // SAFETY: kill takes plain integers.
        assert_eq!(unsafe { nix::libc::kill(-pid, nix::libc::SIGTSTP) }, 0);
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
        assert!(stopped, "SIGTSTP must stop rless exec");
        // The command runs on while rless is stopped.
        ctx.ok(&["exec", &id, "touch", "/tmp/go"]);
        bg.wait_line("went", Duration::from_secs(30));
        // SAFETY: as above.
        assert_eq!(unsafe { nix::libc::kill(-pid, nix::libc::SIGCONT) }, 0);
        bg.signal(rustix::process::Signal::TERM);
        let (exit, lines) = bg.finish(Duration::from_secs(30));
        assert_eq!(exit, Some(143), "stdout {lines:?}");
    });
}

/// `kill -9` of a foreground `rless exec` takes its process with it (its
/// parent death signal): left running, it would belong to the host's
/// reaper, not to the container's init, with nothing of rless waiting for
/// it. A detached exec's process runs on.
#[test]
fn exec_process_dies_with_a_killed_rless_exec() {
    if !have_busybox() {
        return;
    }
    for_each_user("exec_process_dies_with_a_killed_rless_exec", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "pd"], FOREVER);
        ctx.ok(&["exec", "-d", &id, "sh", "-c", "exec tail -f /etc/hostname"]);
        let mut bg = Background::spawn(
            ctx,
            &[
                "exec",
                &id,
                "sh",
                "-c",
                "echo ready; exec tail -f /etc/passwd",
            ],
        );
        bg.wait_line("ready", Duration::from_secs(60));
        let tails = |ctx: &common::Ctx| {
            let out = ctx.ok(&[
                "exec",
                &id,
                "sh",
                "-c",
                "cat /proc/[0-9]*/cmdline | tr '\\0' ' '",
            ]);
            (
                out.stdout.contains("tail -f /etc/passwd"),
                out.stdout.contains("tail -f /etc/hostname"),
            )
        };
        assert_eq!(tails(ctx), (true, true), "both execs run");
        bg.signal(rustix::process::Signal::KILL);
        let _ = bg.finish(Duration::from_secs(30));
        assert!(
            eventually(Duration::from_secs(60), || tails(ctx) == (false, true)),
            "the killed exec's process runs on: {:?}",
            tails(ctx)
        );
    });
}

/// Without -t, an `exec`ed process has no controlling terminal, as the
/// command of `run` has none: were the caller's terminal its controlling
/// one, the container could push keystrokes into the caller's shell with
/// the TIOCSTI ioctl (which needs no privilege on one's own controlling
/// terminal). rless runs here as a terminal session's leader, on a pty.
#[test]
fn exec_without_t_has_no_controlling_terminal() {
    if !have_busybox() {
        return;
    }
    for_each_user("exec_without_t_has_no_controlling_terminal", |ctx| {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        use std::os::unix::process::CommandExt;
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "ctty"], FOREVER);
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let slave = ptsname(&master, Vec::new()).expect("ptsname");
        // The 7th field of /proc/self/stat: the controlling terminal's
        // device number, 0 for none.
        let script = "read a b c d e f g rest < /proc/self/stat; echo tty=$g";
        for args in [
            &["exec", &id, "sh", "-c", script][..],
            &["run", "--rm", IMG, "sh", "-c", script][..],
        ] {
            let slave = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(slave.to_str().unwrap())
                .expect("open the pty slave");
            let mut cmd = ctx.rless_cmd(args);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&slave);
            // SAFETY: setsid and the TIOCSCTTY ioctl are plain system
            // calls, safe between fork and exec; nothing is allocated. `fd`
            // (close-on-exec) is open until the exec.
            unsafe {
                cmd.pre_exec(move || {
                    rustix::process::setsid()?;
                    rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(fd))?;
                    Ok(())
                });
            }
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "{args:?}: {out}");
            assert_eq!(out.stdout, "tty=0\n", "{args:?}: {out}");
            drop(slave);
        }
        drop(master);
    });
}

/// `exec -it`: the detach keys (docker's ctrl-p,ctrl-q by default, or
/// `--detach-keys`) end `rless exec` with 0 and leave the process running,
/// as docker's and podman's exec; keys that only begin the sequence reach
/// the process.
#[test]
fn exec_it_detach_keys_leave_the_process_running() {
    if !have_busybox() {
        return;
    }
    for_each_user("exec_it_detach_keys_leave_the_process_running", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "dk"], FOREVER);
        let cmdlines = || {
            let script = "cat /proc/[0-9]*/cmdline | tr '\\0' ' '";
            ctx.ok(&["exec", &id, "sh", "-c", script]).stdout
        };
        let running = |mark: &str| cmdlines().contains(&format!("tail -f {mark}"));
        // The keys, what detaches, the line typed first (the start of the
        // keys, then another key) and it in octal for the container's
        // printf, the process's file.
        type Case = (
            Option<&'static str>,
            &'static [u8],
            &'static [u8],
            &'static str,
            &'static str,
        );
        let cases: [Case; 2] = [
            (None, b"\x10\x11", b"\x10p\r", "\\020p", "/etc/passwd"),
            (
                Some("ctrl-x,y"),
                b"\x18y",
                b"\x18x\r",
                "\\030x",
                "/etc/group",
            ),
        ];
        for (keys, typed, line, octal, mark) in cases {
            let mut args = vec!["exec", "-it"];
            if let Some(k) = keys {
                args.extend(["--detach-keys", k]);
            }
            // A key that only began the sequence reaches the process, held
            // back until the next one showed it was not the sequence.
            let script = format!(
                "read l; [ \"$l\" = \"$(printf '{octal}')\" ] && echo held-back-ok; exec tail -f {mark}"
            );
            args.extend([id.as_str(), "sh", "-c", &script]);
            let mut pty = common::pty::PtySession::spawn(ctx, &args, 24, 80);
            pty.type_in(line);
            pty.wait_for("held-back-ok");
            pty.type_in(typed);
            let (code, text) = pty.finish();
            assert_eq!(code, Some(0), "{text}");
            assert!(running(mark), "detached, its process runs on: {text}");
        }
        // The first one still runs after the second's detach.
        assert!(running("/etc/passwd"));
        // What holds their terminals is not in the container, whose
        // processes do not see it (nor the host's command line).
        let seen = cmdlines();
        assert!(!seen.contains("--root"), "{seen}");
        // Without a detach, `kill -9` of `rless exec -it` hangs its
        // terminal up, which ends the process (it has no parent death
        // signal, so that it can be detached from).
        let script = "echo ready; exec tail -f /etc/hostname";
        let args = ["exec", "-it", id.as_str(), "sh", "-c", script];
        let mut pty = common::pty::PtySession::spawn(ctx, &args, 24, 80);
        pty.wait_for("ready");
        assert!(running("/etc/hostname"));
        pty.signal(rustix::process::Signal::KILL);
        let _ = pty.finish();
        assert!(
            eventually(Duration::from_secs(60), || !running("/etc/hostname")),
            "the killed exec's process runs on"
        );
    });
}

/// An exec's end is an event (podman's `exec_died`) with its exit code, in
/// the log once `rless exec` has returned (it joined the container's
/// mount namespace, where the log is out of sight); a process `exec -it`
/// detached from (the keys) records its end when it exits later.
#[test]
fn exec_it_detached_process_s_end_is_an_event() {
    if !have_busybox() {
        return;
    }
    for_each_user("exec_it_detached_process_s_end_is_an_event", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(ctx, &["--name", "dd"], FOREVER);
        let ends_with = |code: &str| {
            let format = "{{.Status}} {{.Attributes.containerExitCode}}";
            let args = ["events", "--stream=false", "--filter", "event=exec_died"];
            let out = ctx.ok(&[&args[..], &["--format", format]].concat());
            let want = format!("exec_died {code}");
            out.stdout.lines().filter(|l| *l == want).count()
        };
        let ends = || ends_with("3");
        let out = ctx.rless(&["exec", &id, "sh", "-c", "exit 4"]);
        assert_eq!(out.code, Some(4), "{out}");
        assert_eq!(ends_with("4"), 1, "a foreground exec's end");
        let script = "echo ready; while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 3";
        let args = ["exec", "-it", id.as_str(), "sh", "-c", script];
        let mut pty = common::pty::PtySession::spawn(ctx, &args, 24, 80);
        pty.wait_for("ready");
        pty.type_in(b"\x10\x11");
        let (code, text) = pty.finish();
        assert_eq!(code, Some(0), "{text}");
        assert_eq!(ends(), 0, "the detached process runs on");
        ctx.ok(&["exec", &id, "touch", "/tmp/go"]);
        assert!(
            eventually(Duration::from_secs(60), || ends() == 1),
            "its end is recorded once, with its code"
        );
    });
}
