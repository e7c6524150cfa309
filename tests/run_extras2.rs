//! More `run`/`create` options of docker and podman scripts:
//!
//! - `-a/--attach stdin|stdout|stderr`: only those streams are attached
//!   (the others are logged); with neither output the id is printed;
//!   with `-t` the terminal's one stream is stdout; refused with `-d` and
//!   for other names.
//! - `--detach-keys` on `run -it`: the keys leave the container running.
//! - `--tz`: `/etc/localtime` is the zone's (or with `local` the host's);
//!   an unknown zone is refused.
//! - `--pidfile`: the container's host pid, removed with the container.
//! - `--rmi`: the image goes with the container (`--rm` implied); kept,
//!   without failing the run, when another container uses it.
//! - `--timeout N`: the container is stopped after N seconds (exit 255,
//!   as podman); each run of a restart policy gets N seconds, and the
//!   policy acts on that exit.
//! - docker's short `-i=false`, `-t=false`, `-d=false`.
//!
//! Every refusal is one line, exit 125, before a container exists. The
//! scenarios import the busybox root filesystem as `bb`.

mod common;

use common::checks::*;
use common::for_each_user;
use common::pty::PtySession;
use common::run_helpers::*;
use std::time::Duration;

/// `run ARGS…` must be refused with one line naming `says`, leaving no
/// container.
fn refused(ctx: &common::Ctx, args: &[&str], says: &str) {
    let out = expect_run_error(ctx, args);
    assert!(out.stderr.contains(says), "{says}: {out}");
}

#[test]
fn run_attach_streams() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_attach_streams", |ctx| {
        assert!(setup_image(ctx));
        let script = "echo OUT; echo ERR >&2";
        let out = run(
            ctx,
            &["--name", "e", "-a", "stderr", IMG, "sh", "-c", script],
        );
        assert_eq!(out.code, Some(0), "{out}");
        out.assert_streams("", "ERR\n");
        // What is not attached is logged all the same.
        ctx.ok(&["logs", "e"]).assert_streams("OUT\n", "ERR\n");
        let attached = "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}}";
        assert_eq!(inspect_f(ctx, attached, "e"), "false false true");
        ctx.ok(&["rm", "e"]);
        run(ctx, &["--rm", "-a", "STDOUT", IMG, "sh", "-c", script]).assert_streams("OUT\n", "");
        // The same under a monitor of its own.
        let unproxied = [
            "--rm",
            "--sig-proxy=false",
            "-a",
            "stderr",
            IMG,
            "sh",
            "-c",
            script,
        ];
        run(ctx, &unproxied).assert_streams("", "ERR\n");
        // With -t the terminal is one stream, stdout (stderr goes to it
        // too): `-a stdout` shows both, `-a stderr` nothing, as docker's
        // and podman's; the same under a monitor of its own.
        for proxy in ["--sig-proxy=true", "--sig-proxy=false"] {
            for (stream, shown) in [("stdout", "OUT\r\nERR\r\n"), ("stderr", "")] {
                let out = run(
                    ctx,
                    &["--rm", proxy, "-t", "-a", stream, IMG, "sh", "-c", script],
                );
                assert_eq!(out.code, Some(0), "{out}");
                assert_eq!(
                    (out.stdout.as_str(), out.stderr.as_str()),
                    (shown, ""),
                    "{proxy} -t -a {stream}: {out}"
                );
            }
        }
        // No output attached: the id, as docker prints it.
        let out = run(ctx, &["--rm", "-a", "stdin", IMG, "sh", "-c", script]);
        assert_eq!(out.code, Some(0), "{out}");
        common::assert_hex64(out.stdout.trim(), &out);
        // -i without `-a stdin`: the input is not passed on.
        let cat = ["run", "--rm", "-i", "-a", "stdout", IMG, "cat"];
        assert_eq!(ctx.rless_stdin(&cat, b"typed\n").stdout, "");
        let cat = [
            "run", "--rm", "-i", "-a", "stdin", "-a", "stdout", IMG, "cat",
        ];
        assert_eq!(ctx.rless_stdin(&cat, b"typed\n").stdout, "typed\n");
        refused(ctx, &["-d", "-a", "stdout", IMG, "true"], "-a and -d");
        refused(ctx, &["-a", "stdall", IMG, "true"], "invalid stream");
        assert_no_containers(ctx, "run_attach_streams");
    });
}

#[test]
fn run_it_detach_keys() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_it_detach_keys", |ctx| {
        assert!(setup_image(ctx));
        let script = "echo up; read x; echo got-$x; while :; do sleep 1; done";
        let run_it = [
            "run",
            "-it",
            "--rm",
            "--name",
            "dk",
            "--detach-keys",
            "ctrl-x,y",
            IMG,
            "sh",
            "-c",
            script,
        ];
        detach_with(ctx, &run_it, b"\x18y", "dk", |pty| {
            pty.type_in(b"hello\r");
            pty.wait_for("got-hello");
        });
        ctx.ok(&["rm", "-f", "dk"]);
        // Recorded by create for `start -a -i`; start's own replace them.
        ctx.ok(&[
            "create",
            "-it",
            "--name",
            "made",
            "--detach-keys",
            "ctrl-x,y",
            IMG,
            "sh",
            "-c",
            script,
        ]);
        for (args, keys) in [
            (&["start", "-a", "-i", "made"][..], &b"\x18y"[..]),
            (
                &["start", "-a", "-i", "--detach-keys", "ctrl-z", "made"][..],
                &b"\x1a"[..],
            ),
        ] {
            detach_with(ctx, args, keys, "made", |_| {});
            ctx.ok(&["stop", "-t", "0", "made"]);
        }
        ctx.ok(&["rm", "made"]);
        refused(
            ctx,
            &["--detach-keys", "ctrl-", IMG, "true"],
            "--detach-keys",
        );
        assert_no_containers(ctx, "run_it_detach_keys");
    });
}

/// Runs `args` on a terminal: once the container says `up` and `then`
/// has typed what it types, `keys` detach; `rless` ends with 0 and the
/// container `name` runs on.
fn detach_with(
    ctx: &common::Ctx,
    args: &[&str],
    keys: &[u8],
    name: &str,
    then: impl FnOnce(&mut PtySession),
) {
    let mut pty = PtySession::spawn(ctx, args, 24, 80);
    pty.wait_for("up");
    then(&mut pty);
    pty.type_in(keys);
    let (code, text) = pty.finish();
    assert_eq!(code, Some(0), "{args:?} detached: {text}");
    let running = inspect_f(ctx, "{{.State.Running}}", name);
    assert_eq!(running, "true", "{args:?}: {text}");
}

/// The sha256 of a host file, by the host's `sha256sum`.
fn host_sha256(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn run_tz() {
    if !have_busybox() || !std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        return;
    }
    for_each_user("run_tz", |ctx| {
        assert!(setup_image(ctx));
        let sum = "sha256sum /etc/localtime | cut -d' ' -f1";
        let out = sh(ctx, &["--tz", "Europe/Paris"], sum);
        assert_eq!(out.trim(), host_sha256("/usr/share/zoneinfo/Europe/Paris"));
        let out = sh(ctx, &["--tz=local"], sum);
        assert_eq!(out.trim(), host_sha256("/etc/localtime"));
        ctx.ok(&[
            "create",
            "--name",
            "z",
            "--tz",
            "Asia/Tokyo",
            IMG,
            "sh",
            "-c",
            sum,
        ]);
        assert_eq!(inspect_f(ctx, "{{.Config.Timezone}}", "z"), "Asia/Tokyo");
        let out = ctx.ok(&["start", "-a", "z"]);
        assert_eq!(
            out.stdout.trim(),
            host_sha256("/usr/share/zoneinfo/Asia/Tokyo")
        );
        // Not in the image's files: `diff` shows nothing of it.
        assert_eq!(ctx.ok(&["diff", "z"]).stdout, "");
        ctx.ok(&["rm", "z"]);
        for bad in ["Nowhere/None", "../../../etc/passwd", "zone.tab"] {
            refused(ctx, &["--rm", "--tz", bad, IMG, "true"], "invalid --tz");
        }
    });
}

#[test]
fn run_pidfile() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_pidfile", |ctx| {
        assert!(setup_image(ctx));
        let pf = ctx.work.join("pidfile");
        let pfs = pf.to_str().unwrap();
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "p",
            "--pidfile",
            pfs,
            IMG,
            "sleep",
            "300",
        ]);
        let pid = std::fs::read_to_string(&pf).expect("the pid file");
        let out = inspect_f(ctx, "{{.State.Pid}} {{.PidFile}}", "p");
        assert_eq!(out, format!("{pid} {pfs}"));
        // The container's process, on the host.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!cmdline.is_empty(), "no process {pid}");
        ctx.ok(&["rm", "-f", "p"]);
        assert!(!pf.exists(), "the pid file outlived its container");
        // The foreground monitor writes it too.
        run_ok(ctx, &["--name", "f", "--pidfile", pfs, IMG, "true"]);
        let pid = std::fs::read_to_string(&pf).expect("the pid file");
        assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "{pid:?}");
        ctx.ok(&["rm", "f"]);
        assert!(!pf.exists(), "the pid file outlived its container");
        refused(
            ctx,
            &["--pidfile", "/nonexistent-dir/pf", IMG, "true"],
            "--pidfile",
        );
    });
}

#[test]
fn run_rmi() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_rmi", |ctx| {
        assert!(setup_image(ctx));
        let names = || ctx.ok(&["images", "--format", "{{.Repository}}"]).stdout;
        ctx.ok(&["tag", IMG, "gone"]);
        let out = run_ok(ctx, &["--rmi", "gone", "echo", "hi"]);
        assert_eq!(out.stdout, "hi\n");
        // --rm is implied; the other name stays.
        assert_no_containers(ctx, "run --rmi");
        let left = names();
        assert!(!left.contains("gone") && left.contains(IMG), "{left}");
        // Detached: the monitor removes it.
        ctx.ok(&["tag", IMG, "gone2"]);
        ctx.ok(&["run", "-d", "--rmi", "gone2", "true"]);
        let went = eventually(Duration::from_secs(20), || !names().contains("gone2"));
        assert!(went, "{}", names());
        // In use by another container: kept, and the run does not fail.
        ctx.ok(&["create", "--name", "user", IMG, "true"]);
        let out = run(ctx, &["--rmi", IMG, "sh", "-c", "exit 3"]);
        assert_eq!(out.code, Some(3), "{out}");
        assert!(names().contains(IMG));
        ctx.ok(&["rm", "user"]);
        refused(
            ctx,
            &["--rmi", "--restart", "always", IMG, "true"],
            "--restart",
        );
        // As podman: --rmi with an explicit --rm=false is refused.
        refused(ctx, &["--rmi", "--rm=false", IMG, "true"], "without --rm");
        // --rm=false alone is docker's default.
        ctx.ok(&["run", "--rm=false", "--name", "kept", IMG, "true"]);
        ctx.ok(&["rm", "kept"]);
    });
}

#[test]
fn run_timeout() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_timeout", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--name",
                "t",
                "--timeout",
                "1",
                IMG,
                "sh",
                "-c",
                "echo up; sleep 300",
            ],
        );
        assert_eq!(out.code, Some(255), "{out}");
        assert_eq!(out.stdout, "up\n");
        let out = inspect_f(ctx, "{{.State.ExitCode}} {{.Config.Timeout}}", "t");
        assert_eq!(out, "255 1");
        ctx.ok(&["rm", "t"]);
        // Detached: `wait` gives the same.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "td",
            "--timeout",
            "1",
            IMG,
            "sleep",
            "300",
        ]);
        let out = ctx.ok(&["wait", "td"]);
        assert_eq!(out.stdout.trim(), "255");
        ctx.ok(&["rm", "td"]);
        // A timeout is no user's stop: the restart policy acts on it, and
        // every run gets the same time (podman's conmon: on-failure:2
        // runs three times, each ended, exit 255).
        let out = run(
            ctx,
            &[
                "--name",
                "tr",
                "--restart",
                "on-failure:2",
                "--timeout",
                "1",
                IMG,
                "sh",
                "-c",
                "echo up; sleep 300",
            ],
        );
        assert_eq!(out.code, Some(255), "{out}");
        assert_eq!(out.stdout, "up\nup\nup\n", "{out}");
        let out = ctx.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.RestartCount}}",
            "tr",
        ]);
        assert_eq!(out.stdout.trim(), "255 2", "{out}");
        ctx.ok(&["rm", "tr"]);
        // A command that ends first keeps its own code.
        let out = run(
            ctx,
            &["--rm", "--timeout", "100", IMG, "sh", "-c", "exit 4"],
        );
        assert_eq!(out.code, Some(4), "{out}");
        refused(ctx, &["--timeout", "soon", IMG, "true"], "soon");
    });
}

#[test]
fn run_short_boolean_equals() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_short_boolean_equals", |ctx| {
        assert!(setup_image(ctx));
        let out = run_ok(
            ctx,
            &[
                "--rm", "-i=false", "-t=false", "-d=false", IMG, "echo", "ok",
            ],
        );
        assert_eq!(out.stdout, "ok\n");
        let out = ctx.ok(&["run", "-d=true", "--name", "b", IMG, "true"]);
        common::assert_hex64(out.last_line(), &out);
        let tty_stdin = "{{.Config.Tty}} {{.Config.OpenStdin}}";
        assert_eq!(inspect_f(ctx, tty_stdin, "b"), "false false");
        ctx.ok(&["rm", "-f", "b"]);
        ctx.ok(&["create", "--name", "c", "-it=false", IMG, "true"]);
        assert_eq!(inspect_f(ctx, tty_stdin, "c"), "false true");
        ctx.ok(&["rm", "c"]);
        // pflag's `-X=VALUE` for options with values too.
        let script = "echo $A >&2; echo out";
        let out = run(
            ctx,
            &["--rm", "-a=stderr", "-e=A=1", IMG, "sh", "-c", script],
        );
        out.assert_streams("", "1\n");
    });
}

/// podman's `--userns keep-id:uid=N,gid=N`: the caller is N inside (with a
/// name), and what they make in a bind mount is theirs on the host.
#[test]
fn run_keep_id_as_other_ids() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_id_as_other_ids", |ctx| {
        assert!(setup_image(ctx));
        let shared = ctx.work.join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        ctx.give(&shared);
        let bind = format!("{}:/shared", shared.display());
        let out = sh(
            ctx,
            &["--userns", "keep-id:uid=5,gid=7", "-v", &bind],
            "id -u; id -g; whoami; touch /shared/made",
        );
        assert_eq!(out, format!("5\n7\n{}\n", ctx.user.name));
        let meta = std::fs::metadata(shared.join("made")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((meta.uid(), meta.gid()), (ctx.user.uid, ctx.user.gid));
        // One of the two: the other id stays the caller's own.
        let out = sh(ctx, &["--userns=keep-id:gid=3"], "id -u; id -g");
        assert_eq!(out, format!("{}\n3\n", ctx.user.uid));
        ctx.ok(&[
            "create",
            "--name",
            "k",
            "--userns",
            "keep-id:uid=5,gid=7",
            IMG,
            "sleep",
            "300",
        ]);
        let userns = inspect_f(ctx, "{{.HostConfig.UsernsMode}}", "k");
        assert_eq!(userns, "keep-id:uid=5,gid=7");
        // A container that joins k's namespaces must map as k does.
        ctx.ok(&["start", "k"]);
        let out = run(
            ctx,
            &[
                "--rm",
                "--pid",
                "container:k",
                "--userns",
                "keep-id",
                IMG,
                "true",
            ],
        );
        assert_one_error(&out, 125);
        assert!(
            out.stderr.contains("--userns must be as container k's"),
            "{out}"
        );
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--ipc",
                "container:k",
                "--userns",
                "keep-id:uid=5,gid=7",
                IMG,
                "id",
                "-u",
            ],
        );
        assert_eq!(out.stdout, "5\n");
        ctx.ok(&["rm", "-f", "k"]);
        for bad in ["keep-id:uid=x", "keep-id:size=5", "keep-id:uid=4294967295"] {
            let out = expect_run_error(ctx, &["--rm", "--userns", bad, IMG, "true"]);
            assert!(out.stderr.contains("invalid --userns"), "{out}");
        }
    });
}
