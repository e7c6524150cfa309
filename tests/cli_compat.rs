//! Options scripts written for podman or docker use, found by running the
//! same command lines against podman: `info --format TEMPLATE` (with
//! podman's and docker's field names), `tag` with several targets,
//! `network ls --filter`, `volume inspect --all`, `port -a` and
//! `inspect -s`.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};

#[test]
fn cli_compat_info_tag_filters() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_info_tag_filters", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);

        // info: a template sees rless's fields and podman's and docker's.
        let out = ctx.ok(&[
            "info",
            "--format",
            "{{.Host.Arch}}|{{.Store.GraphRoot}}|{{.Host.Security.Rootless}}|{{.Driver}}|{{.OSType}}",
        ]);
        let root = ctx.root.display().to_string();
        let driver = ctx.ok(&["info", "--format", "{{.Storage.Driver}}"]);
        assert_eq!(
            out.stdout.trim(),
            format!(
                "{}|{root}|true|{}|linux",
                std::env::consts::ARCH,
                driver.stdout.trim()
            ),
            "{out}"
        );
        assert_one_error(&ctx.rless(&["info", "--format", "{{.Nope}}"]), ERR_EXIT);
        assert_one_error(&ctx.rless(&["info", "--format", "yaml"]), ERR_EXIT);

        // tag: several targets at once, each checked before any is added.
        ctx.ok(&["tag", IMG, "t1:a", "t2:b"]);
        let names = ctx.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        for n in ["localhost/t1:a", "localhost/t2:b"] {
            assert!(names.stdout.lines().any(|l| l == n), "{n}: {names}");
        }
        let before = ctx.snapshot();
        let out = ctx.rless(&["tag", IMG, "t3:c", "bad@sha256:00"]);
        assert_one_error(&out, ERR_EXIT);
        ctx.snapshot().assert_same(&before, &out.cmdline);

        // network ls --filter: same keys are alternatives, labels all hold.
        ctx.ok(&["network", "create", "--label", "team=a", "neta"]);
        ctx.ok(&["network", "create", "--label", "team=b", "netb"]);
        let ls = |f: &[&str]| {
            let mut a = vec!["network", "ls", "--format", "{{.Name}}"];
            for x in f {
                a.extend(["--filter", x]);
            }
            let mut v: Vec<String> = ctx.ok(&a).stdout.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(ls(&["label=team=a"]), ["neta"]);
        assert_eq!(ls(&["name=net", "label=team"]), ["neta", "netb"]);
        assert_eq!(ls(&["name=neta", "name=netb"]), ["neta", "netb"]);
        assert_eq!(ls(&["dangling=true", "name=netb"]), ["netb"]);
        assert_eq!(ls(&["driver=macvlan"]), Vec::<String>::new());
        assert_one_error(
            &ctx.rless(&["network", "ls", "--filter", "color=red"]),
            ERR_EXIT,
        );

        // volume inspect --all.
        ctx.ok(&["volume", "create", "va"]);
        ctx.ok(&["volume", "create", "vb"]);
        let out = ctx.ok(&["volume", "inspect", "--all"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let mut got: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["Name"].as_str().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, ["va", "vb"], "{out}");
        assert_one_error(&ctx.rless(&["volume", "inspect", "--all", "va"]), ERR_EXIT);
    });
}

#[test]
fn cli_compat_port_all_and_inspect_size() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_port_all_and_inspect_size", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "web", "-p", "127.0.0.1::80"],
            &format!("head -c 3000 /dev/zero > /grown; echo ready; {FOREVER}"),
        );
        run_sh(ctx, &["--name", "quiet"], FOREVER);
        wait_log(ctx, "web", "ready");
        // port -a: each line after the short id and a tab; a container
        // without ports adds nothing.
        let out = ctx.ok(&["port", "-a"]);
        let host = ctx.ok(&["port", "web", "80"]).stdout.trim().to_string();
        assert_eq!(
            out.stdout,
            format!("{}\t80/tcp -> {host}\n", &id[..12]),
            "{out}"
        );
        assert_one_error(&ctx.rless(&["port", "-a", "web"]), ERR_EXIT);

        // inspect -s: SizeRw counts the writable layer, SizeRootFs adds
        // the image; without -s neither is there.
        let out = ctx.ok(&["inspect", "-s", "web"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let rw = v[0]["SizeRw"].as_u64().unwrap();
        let root = v[0]["SizeRootFs"].as_u64().unwrap();
        assert!(rw >= 3000, "{rw}: {out}");
        assert!(root > rw, "{root} {rw}: {out}");
        let out = ctx.ok(&[
            "container",
            "inspect",
            "-s",
            "--format",
            "{{.SizeRw}}",
            "web",
        ]);
        assert_eq!(out.stdout.trim(), rw.to_string(), "{out}");
        let out = ctx.ok(&["inspect", "web"]);
        assert!(!out.stdout.contains("SizeRw"), "{out}");
    });
}

/// podman's `--http-proxy` (on by default): the caller's proxy variables
/// reach the container, under the image's ENV and `-e`.
#[test]
fn cli_compat_http_proxy() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_http_proxy", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let run = |extra: &[&str], image: &str| {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(extra);
            args.extend([
                image,
                "sh",
                "-c",
                "echo \"$http_proxy|$NO_PROXY|$HTTPS_PROXY\"",
            ]);
            let mut c = ctx.rless_cmd(&args);
            c.env("http_proxy", "http://proxy.invalid:3128")
                .env("NO_PROXY", "localhost,.site");
            let out = common::run_cmd(c, None, std::time::Duration::from_secs(120), "run");
            assert!(out.success(), "{out}");
            out.stdout.trim().to_string()
        };
        assert_eq!(run(&[], IMG), "http://proxy.invalid:3128|localhost,.site|");
        assert_eq!(run(&["--http-proxy=false"], IMG), "||");
        assert_eq!(
            run(&["-e", "http_proxy=http://mine:1"], IMG),
            "http://mine:1|localhost,.site|"
        );
        assert_eq!(
            run(&["--unsetenv", "NO_PROXY"], IMG),
            "http://proxy.invalid:3128||"
        );
        // The image's ENV wins over the caller's proxy.
        let rootfs = ctx.work.join("proxy-rootfs");
        make_rootfs(ctx, &rootfs);
        ctx.ok(&[
            "import",
            "-c",
            "ENV http_proxy=http://image:2",
            rootfs.to_str().unwrap(),
            "proxied",
        ]);
        assert_eq!(run(&[], "proxied"), "http://image:2|localhost,.site|");
    });
}

/// docker's prune `--filter`s (`until=`, `label=`, `label!=`) on
/// `container prune`, `image prune`, `network prune` and `system prune`.
#[test]
fn cli_compat_prune_filters() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_prune_filters", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let keep = ctx.ok(&["create", "--label", "keep=1", IMG, "true"]);
        let drop = ctx.ok(&["create", IMG, "true"]);
        let (keep, drop) = (keep.stdout.trim(), drop.stdout.trim());
        // Made after 2000: nothing is older than that.
        let out = ctx.ok(&["container", "prune", "-f", "--filter", "until=2000-01-01"]);
        assert!(!out.stdout.contains(drop), "{out}");
        assert_eq!(containers(ctx).len(), 2);
        let out = ctx.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
        assert!(
            out.stdout.contains(drop) && !out.stdout.contains(keep),
            "{out}"
        );
        assert_eq!(containers(ctx), vec![keep.to_string()]);

        // Images: only the labelled unused one goes.
        let rootfs = ctx.work.join("prune-rootfs");
        make_rootfs(ctx, &rootfs);
        let dir = rootfs.to_str().unwrap();
        let labelled = ctx.ok(&["import", "-c", "LABEL tier=scratch", dir, "lab:1"]);
        ctx.ok(&["import", dir, "plain:1"]);
        let out = ctx.ok(&[
            "image",
            "prune",
            "-a",
            "-f",
            "--filter",
            "label=tier=scratch",
        ]);
        let lab = labelled.stdout.trim().trim_start_matches("sha256:");
        assert!(out.stdout.contains(lab), "{out}");
        let names = ctx.ok(&["images", "--format", "{{.Repository}}"]).stdout;
        assert!(names.contains("plain") && !names.contains("lab"), "{names}");

        // Networks, and system prune's filter for all of them.
        ctx.ok(&["network", "create", "--label", "tmp", "n1"]);
        ctx.ok(&["network", "create", "n2"]);
        ctx.ok(&["network", "prune", "-f", "--filter", "label=tmp"]);
        let nets = ctx.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout;
        assert_eq!(nets.trim(), "n2");
        let out = ctx.ok(&[
            "system",
            "prune",
            "-a",
            "-f",
            "--filter",
            "until=2000-01-01",
        ]);
        let nets = ctx.ok(&["network", "ls", "--format", "{{.Name}}"]).stdout;
        assert_eq!(nets.trim(), "n2", "{out}");
        // Nothing is older than 2000: both images stay (their ids may be
        // one, imported from the same tree in the same second).
        let names = ctx.ok(&["images", "--format", "{{.Repository}}"]).stdout;
        assert!(
            names.contains("plain") && names.contains(IMG),
            "{out}\n{names}"
        );
        assert_one_error(
            &ctx.rless(&["image", "prune", "--filter", "dangling=true"]),
            ERR_EXIT,
        );
    });
}

/// `--noheading` on the lists, `untag`, `system info`, `volume inspect`
/// and `network inspect` with a template.
#[test]
fn cli_compat_lists_untag_inspect_templates() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_lists_untag_inspect_templates", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["volume", "create", "v1"]);
        ctx.ok(&["network", "create", "n1"]);
        ctx.ok(&["create", "--name", "c1", IMG, "true"]);
        for (args, row) in [
            (vec!["ps", "-a", "--noheading"], "c1"),
            (vec!["images", "--noheading"], IMG),
            (vec!["images", "-n"], IMG),
            (vec!["volume", "ls", "--noheading"], "v1"),
            (vec!["network", "ls", "--noheading"], "n1"),
        ] {
            let out = ctx.ok(&args);
            assert_eq!(out.stdout.lines().count(), 1, "{args:?}: {out}");
            assert!(out.stdout.contains(row), "{args:?}: {out}");
        }
        let out = ctx.ok(&["volume", "inspect", "-f", "{{.Name}}/{{.Driver}}", "v1"]);
        assert_eq!(out.stdout, "v1/local\n");
        let out = ctx.ok(&[
            "network",
            "inspect",
            "--format",
            "{{.name}}/{{.driver}}",
            "n1",
        ]);
        assert_eq!(out.stdout, "n1/bridge\n");
        let out = ctx.ok(&["system", "info", "--format", "{{.Host.Arch}}"]);
        assert_eq!(out.stdout.trim(), std::env::consts::ARCH);

        // untag: the names given (or all), the image stays.
        ctx.ok(&["tag", IMG, "u1:a", "u2:b"]);
        let id = ctx.ok(&["images", "-q", "u1:a"]).stdout.trim().to_string();
        ctx.ok(&["untag", "u1:a", "u2:b"]);
        let names = ctx
            .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .stdout;
        assert!(names.contains("u1:a") && !names.contains("u2:b"), "{names}");
        assert_one_error(&ctx.rless(&["untag", "u1:a", "nope:x"]), ERR_EXIT);
        // Without names: every name of the image (bb's too: one image).
        ctx.ok(&["image", "untag", "u1:a"]);
        assert_one_error(&ctx.rless(&["untag", IMG]), ERR_EXIT);
        let out = ctx.ok(&["images", "-a", "--format", "{{.ID}} {{.Repository}}"]);
        assert!(
            out.stdout.lines().any(|l| l == format!("{id} <none>")),
            "the image stays, dangling: {out}"
        );
    });
}

/// `rm -f -t SECS` gives a running container its stop signal first;
/// `restart -a --running` restarts only the running ones.
#[test]
fn cli_compat_rm_time_restart_running() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_rm_time_restart_running", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // The trap writes to a volume, which outlives the container.
        ctx.ok(&["volume", "create", "marks"]);
        let trap = "trap 'echo got-term > /m/term; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
        run_sh(ctx, &["--name", "t1", "-v", "marks:/m"], trap);
        wait_log(ctx, "t1", "ready");
        ctx.ok(&["rm", "-f", "-t", "5", "t1"]);
        let out = ctx.ok(&["run", "--rm", "-v", "marks:/m", IMG, "cat", "/m/term"]);
        assert_eq!(out.stdout, "got-term\n", "{out}");
        assert_one_error(&ctx.rless(&["rm", "-t", "5", "nosuch"]), ERR_EXIT);

        let up = run_sh(ctx, &["--name", "up"], FOREVER);
        ctx.ok(&["create", "--name", "idle", IMG, "true"]);
        let out = ctx.ok(&["restart", "-a", "--running", "-t", "1"]);
        assert_eq!(out.stdout.trim(), up, "{out}");
        let idle = state_of(&inspect(ctx, "idle"))["Status"].clone();
        assert_eq!(idle, "created");
    });
}
