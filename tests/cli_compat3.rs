//! Container command options that scripts written for podman use, checked
//! against podman 4.3's answers: `-l/--latest` on the commands that take
//! it, `exec --detach-keys` and `exec --preserve-fds`, `logs --details`,
//! `cp --overwrite`, `rm --depend`, `commit --squash` and `--include-volumes`,
//! `images --history`.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};

/// A failure with exit `code`, one `rless:` line, that says `words`.
fn refused(ctx: &common::Ctx, args: &[&str], code: i32, words: &str) {
    let out = ctx.rless(args);
    assert_one_error(&out, code);
    assert!(out.stderr.contains(words), "expected {words:?}: {out}");
}

/// The name of the container `inspect -l` picks.
fn latest_name(ctx: &common::Ctx) -> String {
    let out = ctx.ok(&["inspect", "-l", "--format", "{{.Name}}"]);
    out.stdout.trim().trim_start_matches('/').to_string()
}

#[test]
fn cli_compat_latest() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_latest", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // No container at all: podman's "no such container", 125 (rm: 1).
        for cmd in [
            "inspect", "logs", "stop", "start", "restart", "kill", "port", "top", "wait", "pause",
            "unpause", "attach", "diff", "stats",
        ] {
            refused(ctx, &[cmd, "-l"], ERR_EXIT, "no such container");
        }
        refused(
            ctx,
            &["container", "inspect", "--latest"],
            ERR_EXIT,
            "no such",
        );
        refused(ctx, &["exec", "-l", "true"], ERR_EXIT, "no such container");
        refused(ctx, &["rm", "-l"], 1, "no such container");

        ctx.ok(&["create", "--name", "old", IMG, "true"]);
        let script = format!("echo up; {FOREVER}");
        ctx.ok(&["create", "--name", "new", IMG, "sh", "-c", &script]);
        let new = inspect(ctx, "new")["Id"].as_str().unwrap().to_string();
        assert_eq!(latest_name(ctx), "new");
        // A name with --latest: podman refuses, in its words.
        for cmd in [
            "stop", "start", "kill", "rm", "wait", "logs", "pause", "diff",
        ] {
            let words = "--latest and containers cannot be used together";
            refused(ctx, &[cmd, "-l", "old"], ERR_EXIT, words);
        }
        let words = "--latest and arguments cannot be used together";
        refused(ctx, &["inspect", "-l", "old"], ERR_EXIT, words);
        for cmd in ["stop", "rm", "kill", "restart"] {
            let words = "--all and --latest cannot be used together";
            refused(ctx, &[cmd, "-a", "-l"], ERR_EXIT, words);
        }
        refused(
            ctx,
            &["start", "--all", "-l"],
            ERR_EXIT,
            "--all and --latest",
        );

        // start, as podman, prints the full id; the latest one started.
        assert_eq!(ctx.ok(&["start", "-l"]).stdout, format!("{new}\n"));
        assert_eq!(inspect(ctx, "old")["State"]["Status"], "created");
        wait_log(ctx, "new", "up");
        assert_eq!(ctx.ok(&["logs", "-l"]).stdout, "up\n");
        // exec: every word is the command's.
        assert_eq!(ctx.ok(&["exec", "-l", "echo", "hi"]).stdout, "hi\n");
        ctx.ok(&["exec", "--latest", "touch", "/made"]);
        let out = ctx.ok(&["diff", "-l"]);
        assert!(out.stdout.lines().any(|l| l == "A /made"), "{out}");
        // top: the words are ps's.
        let out = ctx.ok(&["top", "-l", "pid,args"]);
        assert!(out.stdout.contains("sleep"), "{out}");
        assert!(ctx.ok(&["port", "-l"]).stdout.is_empty());
        let out = ctx.ok(&["stats", "-l", "--no-stream", "--format", "{{.Name}}"]);
        assert_eq!(out.stdout.trim(), "new", "{out}");
        ctx.ok(&["pause", "-l"]);
        assert_eq!(inspect(ctx, "new")["State"]["Status"], "paused");
        ctx.ok(&["unpause", "-l"]);
        assert_eq!(ctx.ok(&["stop", "-l"]).stdout, format!("{new}\n"));
        assert_eq!(ctx.ok(&["wait", "-l"]).stdout, "0\n");
        ctx.ok(&["restart", "-l"]);
        assert_eq!(inspect(ctx, "new")["State"]["Status"], "running");
        ctx.ok(&["kill", "-l"]);
        assert_eq!(ctx.ok(&["wait", "-l"]).stdout, "137\n");
        assert_eq!(ctx.ok(&["rm", "-l"]).stdout, format!("{new}\n"));
        assert_eq!(latest_name(ctx), "old");

        // rm -f -l of a --rm container: its monitor removes it while rm
        // runs; rm (re-run inside the user namespace in subuid mode) must
        // not then take the next newest for the latest.
        run_sh(ctx, &["--rm", "--name", "gone"], FOREVER);
        assert_eq!(latest_name(ctx), "gone");
        ctx.ok(&["rm", "-f", "-l"]);
        assert_eq!(containers(ctx).len(), 1, "only old is left");
        assert_eq!(latest_name(ctx), "old");
    });
}

#[test]
fn cli_compat_exec_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_exec_options", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_sh(ctx, &["--name", "e"], FOREVER);
        // --detach-keys: accepted; checked with -it only, as podman's.
        let out = ctx.ok(&["exec", "--detach-keys", "ctrl-a", "e", "echo", "ok"]);
        assert_eq!(out.stdout, "ok\n");
        ctx.ok(&["exec", "--detach-keys", "ctrl-", "e", "true"]);
        let bad = ["exec", "-it", "--detach-keys", "ctrl-", "e", "true"];
        refused(ctx, &bad, ERR_EXIT, "invalid --detach-keys");

        // --preserve-fds: descriptor 3 reaches the process; without it,
        // the process gets none of the caller's.
        let path = ctx.work.join("fd3.out");
        let file = std::fs::File::create(&path).unwrap();
        let write3 = ["sh", "-c", "echo via-fd3 >&3"];
        let args = [&["exec", "--preserve-fds", "1", "e"][..], &write3].concat();
        let out = common::checks::rless_with_fd3(ctx, &args, &file);
        assert_eq!(out.code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via-fd3\n");
        let out =
            common::checks::rless_with_fd3(ctx, &[&["exec", "e"][..], &write3].concat(), &file);
        assert_ne!(out.code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via-fd3\n");
        let out = common::checks::rless_with_fd3(ctx, &["exec", "e", "ls", "/proc/self/fd"], &file);
        assert_eq!(
            out.stdout.split_whitespace().count(),
            4,
            "0-2 and ls's own: {out}"
        );
        let many = ["exec", "--preserve-fds", "40", "e", "true"];
        refused(ctx, &many, ERR_EXIT, "descriptor");
        // A container made with run --preserve-fds: its exec does not
        // inherit the option.
        let args = [
            "run",
            "-d",
            "--name",
            "p",
            "--preserve-fds",
            "1",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ];
        assert_eq!(
            common::checks::rless_with_fd3(ctx, &args, &file).code,
            Some(0)
        );
        let out =
            common::checks::rless_with_fd3(ctx, &[&["exec", "p"][..], &write3].concat(), &file);
        assert_ne!(out.code, Some(0), "{out}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "via-fd3\n");
    });
}

#[test]
fn cli_compat_logs_details() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_logs_details", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&[
            "run",
            "--name",
            "l",
            IMG,
            "sh",
            "-c",
            "echo out; echo err >&2",
        ]);
        // podman's k8s-file logs: --details is taken and shows the same.
        let plain = ctx.ok(&["logs", "l"]);
        let details = ctx.ok(&["logs", "--details", "l"]);
        assert_eq!(
            (&details.stdout, &details.stderr),
            (&plain.stdout, &plain.stderr)
        );
        assert_eq!(details.stdout, "out\n");
        let out = ctx.ok(&["logs", "--details", "-t", "l"]);
        assert!(out.stdout.ends_with(" out\n"), "{out}");
    });
}

#[test]
fn cli_compat_cp_overwrite() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_cp_overwrite", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        run_sh(ctx, &["--name", "c"], FOREVER);
        ctx.ok(&["exec", "c", "sh", "-c", "mkdir -p /t/g/sub; touch /t/d"]);
        let file = ctx.write_file("h/g", b"g\n");
        ctx.write_file("d/inner", b"inner\n");
        let file = file.to_str().unwrap();
        let dir = ctx.work.join("d");
        let dir = dir.to_str().unwrap();
        let kind = |p: &str| {
            let script = format!("test -d {p} && echo dir || cat {p}");
            ctx.ok(&["exec", "c", "sh", "-c", &script]).stdout
        };
        // Into the container: a file where a directory is, and the
        // reverse, are errors (podman's and docker's) that change nothing;
        // --overwrite replaces (podman's).
        refused(ctx, &["cp", file, "c:/t/"], ERR_EXIT, "--overwrite");
        assert_eq!(kind("/t/g"), "dir\n");
        refused(ctx, &["cp", dir, "c:/t/"], ERR_EXIT, "--overwrite");
        assert_eq!(kind("/t/d"), "");
        ctx.ok(&["cp", "--overwrite", file, "c:/t/"]);
        assert_eq!(kind("/t/g"), "g\n");
        ctx.ok(&["cp", "--overwrite", dir, "c:/t/"]);
        assert_eq!(kind("/t/d/inner"), "inner\n");
        // A directory onto a file named as the destination: refused even
        // so, as podman's.
        refused(ctx, &["cp", "--overwrite", dir, "c:/t/g"], ERR_EXIT, "onto");
        assert_eq!(kind("/t/g"), "g\n");

        // Out to the host: the same rules.
        let out = ctx.work.join("o");
        ctx.write_file("o/d", b"f\n");
        ctx.write_file("o/g/keep", b"k\n");
        let o = format!("{}/", out.display());
        refused(ctx, &["cp", "c:/t/g", &o], ERR_EXIT, "--overwrite");
        assert!(out.join("g/keep").is_file());
        refused(ctx, &["cp", "c:/t/d", &o], ERR_EXIT, "--overwrite");
        assert!(out.join("d").is_file());
        ctx.ok(&["cp", "--overwrite", "c:/t/g", &o]);
        assert_eq!(std::fs::read_to_string(out.join("g")).unwrap(), "g\n");
        ctx.ok(&["cp", "--overwrite", "c:/t/d", &o]);
        assert_eq!(
            std::fs::read_to_string(out.join("d/inner")).unwrap(),
            "inner\n"
        );
    });
}

#[test]
fn cli_compat_rm_depend() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_rm_depend", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = |q: &str| inspect(ctx, q)["Id"].as_str().unwrap().to_string();
        ctx.ok(&["create", "--name", "base", IMG, "true"]);
        ctx.ok(&[
            "create",
            "--name",
            "dep1",
            "--requires",
            "base",
            IMG,
            "true",
        ]);
        ctx.ok(&[
            "create",
            "--name",
            "dep2",
            "--requires",
            "dep1",
            IMG,
            "true",
        ]);
        ctx.ok(&["create", "--name", "other", IMG, "true"]);
        let (base, dep1, dep2) = (id("base"), id("dep1"), id("dep2"));
        // podman: what others --requires is not removed (125, its
        // words), -f or not.
        let words = format!(
            "container {base} has dependent containers which must be removed before it: {dep1}"
        );
        refused(ctx, &["rm", "base"], ERR_EXIT, &words);
        refused(ctx, &["rm", "-f", "dep1"], ERR_EXIT, &dep2);
        assert_eq!(containers(ctx).len(), 4);
        // --depend: the dependents first, deepest first, by full id.
        let out = ctx.ok(&["rm", "--depend", "base"]);
        assert_eq!(out.stdout, format!("{dep2}\n{dep1}\n{base}\n"));
        assert_eq!(containers(ctx), [id("other")]);

        // Joining a namespace is depending for --depend (a plain rm -f of
        // the donor is let through, as docker's: run_namespaces).
        run_sh(ctx, &["--name", "n1"], FOREVER);
        ctx.ok(&[
            "create",
            "--name",
            "n2",
            "--pid",
            "container:n1",
            IMG,
            "true",
        ]);
        let (n1, n2) = (id("n1"), id("n2"));
        let out = ctx.ok(&["rm", "-f", "--depend", "n1"]);
        assert_eq!(out.stdout, format!("{n2}\n{n1}\n"));
        assert_eq!(containers(ctx).len(), 1);

        // Both named: the dependent goes first (podman's refuses b, named
        // first, as d is still there).
        ctx.ok(&["create", "--name", "b", IMG, "true"]);
        ctx.ok(&["create", "--name", "d", "--requires", "b", IMG, "true"]);
        assert_eq!(ctx.ok(&["rm", "b", "d"]).stdout, "d\nb\n");
        ctx.ok(&["create", "--name", "b", IMG, "true"]);
        ctx.ok(&["create", "--name", "d", "--requires", "b", IMG, "true"]);
        // -a: all of them, dependents first.
        ctx.ok(&["rm", "-a"]);
        assert!(containers(ctx).is_empty());
    });
}

#[test]
fn cli_compat_commit_options() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_commit_options", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let base_layers = ctx.inspect(IMG)["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len();
        let script = "echo x >/newfile; rm /etc/group";
        ctx.ok(&["run", "--name", "cs", IMG, "sh", "-c", script]);
        ctx.ok(&["commit", "cs", "plain"]);
        ctx.ok(&["commit", "--squash", "cs", "sq"]);
        let layers = |i: &str| ctx.inspect(i)["RootFS"]["Layers"].as_array().unwrap().len();
        assert_eq!(layers("plain"), base_layers + 1);
        // podman's --squash: the whole image one layer, one history entry.
        assert_eq!(layers("sq"), 1);
        let history = ctx.inspect("sq")["History"].as_array().unwrap().len();
        assert_eq!(history, 1);
        let check = "cat /newfile; test ! -e /etc/group && echo gone; ls /bin/sh";
        let out = ctx.ok(&["run", "--rm", "sq", "sh", "-c", check]);
        assert_eq!(out.stdout, "x\ngone\n/bin/sh\n");
        // The same tree as the layered image's (what rless mounted over
        // the container's files is not part of either).
        let files = |i: &str| {
            let script = "find / -xdev | sort; ls -ln /etc /newfile";
            let out = ctx.ok(&["run", "--rm", "--network", "none", i, "sh", "-c", script]);
            out.stdout
        };
        assert_eq!(files("sq"), files("plain"));
        // Nothing of what rless mounted over the container's files: the
        // layer has what the image and the container have, no more.
        let d = ctx.inspect("sq")["RootFS"]["Layers"][0]
            .as_str()
            .unwrap()
            .to_string();
        let etc = std::fs::read_dir(ctx.layer_diff(&d).join("etc")).unwrap();
        let mut etc: Vec<String> = etc
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        etc.sort();
        assert_eq!(etc, ["passwd"]);

        // Volumes: the anonymous ones always (docker's and podman's),
        // every one and the bind mounts with --include-volumes (podman's).
        let bind = ctx.work.join("b");
        std::fs::create_dir(&bind).unwrap();
        ctx.give(&bind);
        let bind = format!("{}:/bind", bind.display());
        ctx.ok(&[
            "run", "--name", "cv", "-v", "/data", "-v", &bind, IMG, "true",
        ]);
        ctx.ok(&["commit", "cv", "nv"]);
        ctx.ok(&["commit", "--include-volumes", "cv", "iv"]);
        let volumes = |i: &str| {
            let v = &ctx.inspect(i)["Config"]["Volumes"];
            let mut k: Vec<String> = v
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            k.sort();
            k
        };
        assert_eq!(volumes("nv"), ["/data"]);
        assert_eq!(volumes("iv"), ["/bind", "/data"]);
    });
}

#[test]
fn cli_compat_images_history() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_images_history", |ctx| {
        setup_image(ctx);
        let names = ctx.images_json()[0]["Names"].clone();
        let first = names[0].as_str().unwrap().to_string();
        // The registry and repository prefix rless gives a short name.
        let prefix = first.strip_suffix("bb:latest").unwrap().to_string();
        let (other, third) = (format!("{prefix}other:1"), format!("{prefix}third:2"));
        ctx.ok(&["tag", IMG, "other:1"]);
        ctx.ok(&["rmi", "other:1"]);
        ctx.ok(&["tag", IMG, "third:2"]);
        // podman's: every name it has had, the latest given first.
        let out = ctx.ok(&["images", "--history", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let history: Vec<&str> = v[0]["History"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(
            history,
            [third.as_str(), other.as_str(), first.as_str()],
            "{out}"
        );
        let out = ctx.ok(&["images", "--history"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(lines[0].ends_with("HISTORY"), "{out}");
        let all = format!("{third}, {other}, {first}");
        assert!(lines[1].ends_with(&all), "{out}");
    });
}
