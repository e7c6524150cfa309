//! `rless run`/`create` options users rely on from docker and podman:
//! `--cidfile`, `--group-add`, `--stop-timeout`; and `rless system prune`.
//! The pull options are in `run_pull.rs`, `--sig-proxy` in
//! `run_sig_proxy.rs`.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::checks::*;
use common::pty::PtySession;
use common::run_helpers::*;
use common::{for_each_user, rless_bin, run_cmd, skip, Mode, CMD_TIMEOUT};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

#[test]
fn run_cidfile() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_cidfile", |ctx| {
        assert!(setup_image(ctx));
        let cid = ctx.work.join("cid");
        let cid_s = cid.to_str().unwrap();
        let out = ctx.ok(&["create", "--cidfile", cid_s, IMG, "true"]);
        let id = out.last_line();
        assert_eq!(
            fs::read_to_string(&cid).unwrap(),
            id,
            "docker's: no newline"
        );
        // The file exists: refused, the file untouched, nothing made.
        let out = ctx.rless(&["run", "--rm", "--cidfile", cid_s, IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(
            out.stderr.contains(&format!(
                "container ID file found, make sure the other container isn't running or delete {cid_s}"
            )),
            "{out}"
        );
        assert_eq!(fs::read_to_string(&cid).unwrap(), id, "{out}");
        assert_eq!(containers(ctx), vec![id.to_string()], "{out}");
        ctx.ok(&["rm", id]);
        // It cannot be made: the container goes too.
        let out = ctx.rless(&["run", "--cidfile", "no/such/dir/cid", IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("container ID file"), "{out}");
        assert_no_containers(ctx, &out.cmdline);
        // run writes it too.
        fs::remove_file(&cid).unwrap();
        let out = ctx.ok(&["run", "--cidfile", cid_s, IMG, "true"]);
        let id = fs::read_to_string(&cid).unwrap();
        assert_eq!(containers(ctx), vec![id], "{out}");
    });
}

#[test]
fn run_stop_timeout() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_stop_timeout", |ctx| {
        assert!(setup_image(ctx));
        // Ends 4 s after SIGTERM: before the default 10 s grace, after a
        // 1 s one (then SIGKILL: 137).
        let script = "trap 'sleep 4; exit 7' TERM; echo up; while :; do sleep 1; done";
        let started = |opts: &[&str]| {
            let mut a = vec!["run", "-d"];
            a.extend_from_slice(opts);
            a.extend_from_slice(&[IMG, "sh", "-c", script]);
            let id = ctx.ok(&a).last_line().to_string();
            assert!(
                eventually(std::time::Duration::from_secs(30), || ctx
                    .rless(&["logs", &id])
                    .stdout
                    .contains("up")),
                "{id} did not start"
            );
            id
        };
        let exit_code = |id: &str| -> String {
            let out = ctx.ok(&["inspect", "-f", "{{.State.ExitCode}}", id]);
            out.last_line().to_string()
        };
        let short = started(&["--stop-timeout", "1"]);
        let out = ctx.ok(&["inspect", "-f", "{{.Config.StopTimeout}}", &short]);
        assert_eq!(out.last_line(), "1", "{out}");
        // A unit made for it stops it the same way (podman's).
        let unit = ctx.ok(&["generate", "systemd", &short]).stdout;
        assert!(unit.contains(&format!("stop -t 1 {short}")), "{unit}");
        ctx.ok(&["stop", &short]);
        assert_eq!(exit_code(&short), "137", "killed after its 1 s");
        // -t still wins over it.
        let long = started(&["--stop-timeout", "1"]);
        ctx.ok(&["stop", "-t", "30", &long]);
        assert_eq!(exit_code(&long), "7", "-t 30 let it end");
        // Without it: docker's 10 s, and no StopTimeout shown.
        let plain = started(&[]);
        let out = ctx.ok(&["inspect", &plain]);
        assert!(!out.stdout.contains("StopTimeout"), "{out}");
        ctx.ok(&["stop", &plain]);
        assert_eq!(exit_code(&plain), "7");
    });
}

// ------------------------------------------------------------------ system prune

#[test]
fn system_prune() {
    if !have_busybox() {
        return;
    }
    for_each_user("system_prune", |ctx| {
        assert!(setup_image(ctx));
        // A stopped container with 200 kB in its writable layer.
        let stopped = ctx
            .ok(&[
                "create",
                IMG,
                "dd",
                "if=/dev/zero",
                "of=/big",
                "bs=1000",
                "count=200",
            ])
            .last_line()
            .to_string();
        ctx.ok(&["start", "-a", &stopped]);
        let running = ctx
            .ok(&["run", "-d", IMG, "sleep", "1000"])
            .last_line()
            .to_string();
        // An untagged image, and an anonymous volume no container uses
        // (rm without -v keeps it), beside a named one.
        let dangling = ctx.ok(&["commit", &stopped]).last_line().to_string();
        let dangling = dangling.trim_start_matches("sha256:").to_string();
        ctx.ok(&["run", "--name", "anon", "-v", "/data", IMG, "true"]);
        ctx.ok(&["rm", "anon"]);
        let volumes = || -> Vec<String> {
            let out = ctx.ok(&["volume", "ls", "-q"]);
            out.stdout.lines().map(String::from).collect()
        };
        ctx.ok(&["volume", "create", "named"]);
        assert_eq!(volumes().len(), 2);
        ctx.ok(&["network", "create", "spare"]);

        // No -f and no terminal: refused, nothing removed.
        let out = ctx.fail_unchanged(&["system", "prune"]);
        assert!(out.stderr.contains("-f"), "{out}");

        let out = ctx.ok(&["system", "prune", "-f"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let after = |header: &str| -> Vec<&str> {
            let at = lines.iter().position(|l| *l == header);
            let at = at.unwrap_or_else(|| panic!("no {header}: {out}"));
            lines[at + 1..]
                .iter()
                .take_while(|l| !l.ends_with(':'))
                .copied()
                .collect()
        };
        assert_eq!(
            after("Deleted Containers:"),
            vec![stopped.as_str()],
            "{out}"
        );
        assert_eq!(after("Deleted Networks:"), vec!["spare"], "{out}");
        assert!(
            after("Deleted Images:").contains(&dangling.as_str()),
            "{out}"
        );
        assert!(!out.stdout.contains("Deleted Volumes:"), "{out}");
        let total = lines.last().copied().unwrap_or_default();
        let size = total.strip_prefix("Total reclaimed space: ");
        assert!(size.is_some_and(|s| s != "0B"), "{out}");
        assert_eq!(containers(ctx), vec![running.clone()], "{out}");
        assert!(ctx.image_entry(&dangling).is_none(), "{out}");
        assert_eq!(ctx.images_json().len(), 1, "bb is tagged: kept: {out}");
        assert_eq!(volumes().len(), 2, "no --volumes: {out}");

        // --volumes: the unused anonymous one; the named one stays.
        let out = ctx.ok(&["system", "prune", "-f", "--volumes"]);
        assert!(out.stdout.contains("Deleted Volumes:"), "{out}");
        assert_eq!(volumes(), vec!["named".to_string()], "{out}");

        // -a: an image in use stays; once its container is gone, it goes.
        ctx.ok(&["system", "prune", "-af"]);
        assert_eq!(ctx.images_json().len(), 1);
        ctx.ok(&["rm", "-f", &running]);
        let out = ctx.ok(&["system", "prune", "-a", "-f"]);
        assert!(out.stdout.contains("Deleted Images:"), "{out}");
        assert!(ctx.images_json().is_empty(), "{out}");
    });
}

/// Without -f, on a terminal: docker's question; only "y" prunes.
#[test]
fn system_prune_asks_on_a_terminal() {
    for_each_user("system_prune_asks", |ctx| {
        ctx.ok(&["network", "create", "spare"]);
        let networks = || ctx.ok(&["network", "ls", "-q"]).stdout;
        for (answer, kept) in [("n\n", true), ("\n", true), ("y\n", false)] {
            let mut pty = PtySession::spawn(ctx, &["system", "prune"], 24, 80);
            pty.wait_for("[y/N]");
            pty.type_in(answer.as_bytes());
            let (code, text) = pty.finish();
            assert_eq!(code, Some(0), "{answer:?}: {text}");
            assert!(text.contains("WARNING! This will remove:"), "{text}");
            assert_eq!(networks().contains("spare"), kept, "{answer:?}: {text}");
            assert_eq!(text.contains("Deleted Networks:"), !kept, "{text}");
        }
    });
}

// ------------------------------------------------------------------ --group-add

#[test]
fn run_group_add() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_group_add", |ctx| {
        assert!(setup_image(ctx));
        let groups = ["--group-add", "wheel", "--group-add", "4242"];
        if ctx.user.mode == Mode::Single {
            // One gid mapped: no other group can be had; said up front.
            let mut a = vec!["--rm"];
            a.extend_from_slice(&groups);
            a.extend_from_slice(&[IMG, "id", "-G"]);
            let out = expect_run_error(ctx, &a);
            assert!(out.stderr.contains("single-id mode"), "{out}");
        } else {
            assert_eq!(sh(ctx, &groups, "id -G"), "0 10 4242\n");
            // Added to -u's groups, an explicit group's too (docker).
            let out = sh(ctx, &["-u", "alice", "--group-add", "root"], "id -G");
            // (The kernel keeps supplementary groups sorted.)
            assert_eq!(out, "1000 0 10 100\n");
            let out = sh(ctx, &["-u", "alice:users", "--group-add", "wheel"], "id -G");
            assert_eq!(out, "100 10\n");
            // exec's processes have them too (docker).
            let id = ctx
                .ok(&["run", "-d", "--group-add", "4242", IMG, "sleep", "1000"])
                .last_line()
                .to_string();
            let out = ctx.ok(&["exec", &id, "id", "-G"]);
            assert_eq!(out.stdout, "0 4242\n", "{out}");
            ctx.ok(&["rm", "-f", &id]);
            // A name the image does not have: docker's error at start.
            let out = expect_run_error(ctx, &["--group-add", "staff", IMG, "true"]);
            assert!(out.stderr.contains("unable to find group staff"), "{out}");
        }
        let out = expect_run_error(
            ctx,
            &["--group-add", "keep-groups", "--group-add", "10", IMG],
        );
        assert!(out.stderr.contains("keep-groups"), "{out}");
    });
}

/// keep-groups: the caller's supplementary groups stay with the command,
/// so a host file only a group of the caller's may read is readable.
#[test]
fn run_group_add_keep_groups() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_groups", |ctx| {
        if !ctx.user.switch {
            skip("keep-groups: needs root to start rless with a supplementary group");
            return;
        }
        assert!(setup_image(ctx));
        let dir = ctx.work.join("shared");
        fs::create_dir(&dir).unwrap();
        ctx.give(&dir);
        let secret = dir.join("secret");
        fs::write(&secret, "for the group\n").unwrap();
        std::os::unix::fs::chown(&secret, Some(0), Some(4343)).unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
        let bind = format!("{}:/m", dir.display());
        // rless started as the user, with group 4343 besides its own.
        let cat = |opts: &[&str]| {
            let mut c = Command::new("setpriv");
            ctx.user_env(&mut c);
            c.arg(format!("--reuid={}", ctx.user.uid))
                .arg(format!("--regid={}", ctx.user.gid))
                .arg("--groups=4343")
                .arg("--")
                .arg(rless_bin())
                .arg("--root")
                .arg(&ctx.root)
                .args(["run", "--rm", "-v", &bind])
                .args(opts)
                .args([IMG, "cat", "/m/secret"]);
            run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name)
        };
        let out = cat(&["--group-add", "keep-groups"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "for the group\n", "{out}");
        if ctx.user.mode == Mode::Subuid {
            // Without it the command has only the image's groups.
            let out = cat(&[]);
            assert_eq!(out.code, Some(1), "{out}");
            assert!(out.stderr.contains("Permission denied"), "{out}");
        }
    });
}
