//! More options scripts written for podman or docker use, found by running
//! the same command lines against podman: `ps --sort` and `images --sort`,
//! `wait --condition`/`--interval`, `stats -a`, `system df -v`, `logout
//! -a` and `login --get-login`, `save` of several images.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::time::Duration;

/// `ps -a --sort KEY`'s names, one a line.
fn ps_sorted(ctx: &common::Ctx, key: &str) -> Vec<String> {
    let out = ctx.ok(&["ps", "-a", "--sort", key, "--format", "{{.Names}}"]);
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn cli_compat_sort() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_sort", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Created in this order; a1 then runs and exits.
        ctx.ok(&["create", "--name", "c3", IMG, "sh", "-c", "exit 3"]);
        ctx.ok(&["create", "--name", "a1", IMG, "true"]);
        ctx.ok(&["create", "--name", "b2", IMG, "echo", "b"]);
        ctx.ok(&["start", "a1"]);
        assert_eq!(ctx.ok(&["wait", "a1"]).stdout.trim(), "0");
        // podman's orders: ascending, ties in creation order.
        assert_eq!(ps_sorted(ctx, "created"), ["c3", "a1", "b2"]);
        assert_eq!(ps_sorted(ctx, "names"), ["a1", "b2", "c3"]);
        assert_eq!(ps_sorted(ctx, "image"), ["c3", "a1", "b2"]);
        assert_eq!(ps_sorted(ctx, "status"), ["c3", "b2", "a1"]);
        assert_eq!(ps_sorted(ctx, "runningfor"), ["c3", "b2", "a1"]);
        assert_eq!(ps_sorted(ctx, "command"), ["b2", "c3", "a1"]);
        let out = ctx.ok(&["ps", "-a", "--sort", "id", "--format", "{{.ID}}"]);
        let ids: Vec<&str> = out.stdout.lines().collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{out}");
        assert_eq!(ids.len(), 3, "{out}");
        // Without --sort: newest first, as docker.
        let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_eq!(out.stdout, "b2\na1\nc3\n", "{out}");
        assert_one_error(&ctx.rless(&["ps", "--sort", "bogus"]), ERR_EXIT);

        // images --sort: repository, tag and size ascending.
        ctx.ok(&["tag", IMG, "zz:a"]);
        ctx.ok(&["tag", IMG, "aa:c"]);
        ctx.ok(&[
            "run",
            "--name",
            "big",
            IMG,
            "sh",
            "-c",
            "head -c 100000 /dev/zero >/big",
        ]);
        ctx.ok(&["commit", "big", "mm:b"]);
        // ps --sort size: the writable layer, smallest first.
        assert_eq!(ps_sorted(ctx, "size").last().unwrap(), "big");
        assert_eq!(ps_sorted(ctx, "size").len(), 4);
        let images = |key: &str| -> Vec<String> {
            let out = ctx.ok(&[
                "images",
                "--sort",
                key,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ]);
            out.stdout.lines().map(str::to_string).collect()
        };
        let short = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|n| n.rsplit('/').next().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            short(images("repository")),
            ["aa:c", "bb:latest", "mm:b", "zz:a"]
        );
        assert_eq!(short(images("tag")), ["zz:a", "mm:b", "aa:c", "bb:latest"]);
        // The committed image is the big one: last by size.
        assert_eq!(short(images("size")).last().unwrap(), "mm:b");
        let out = ctx.ok(&["images", "--sort", "id", "--format", "{{.ID}}"]);
        let ids: Vec<&str> = out.stdout.lines().collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{out}");
        assert_one_error(&ctx.rless(&["images", "--sort", "names"]), ERR_EXIT);
    });
}

#[test]
fn cli_compat_wait_condition() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_wait_condition", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "w1", IMG, "sh", "-c", "exit 4"]);
        // A state it is in: at once, -1 as it has no exit code yet.
        let out = ctx.ok(&["wait", "--condition", "created", "w1"]);
        assert_eq!(out.stdout, "-1\n", "{out}");
        run_sh(
            ctx,
            &["--name", "r1"],
            "trap 'exit 7' TERM; echo up; while true; do sleep 0.1; done",
        );
        wait_log(ctx, "r1", "up");
        let out = ctx.ok(&["wait", "--condition", "created,running", "r1"]);
        assert_eq!(out.stdout, "-1\n", "{out}");
        // exited: returns once the stop is through, with the exit code.
        let waiter = Background::spawn(
            ctx,
            &["wait", "--condition", "exited", "--interval", "50ms", "r1"],
        );
        ctx.ok(&["stop", "r1"]);
        let (code, lines) = waiter.finish(Duration::from_secs(60));
        assert_eq!((code, lines), (Some(0), vec!["7".to_string()]));
        let out = ctx.ok(&["wait", "--condition", "stopped", "-i", "100", "r1"]);
        assert_eq!(out.stdout, "7\n", "{out}");
        // A health state of a container with a health check.
        run_sh(
            ctx,
            &[
                "--name",
                "h1",
                "--health-cmd",
                "true",
                "--health-interval",
                "200ms",
            ],
            FOREVER,
        );
        let out = ctx.ok(&["wait", "--condition", "healthy", "h1"]);
        assert_eq!(out.stdout, "-1\n", "{out}");
        // Refused before any wait: no health check, bad state or interval.
        for bad in [
            &["wait", "--condition", "healthy", "w1"][..],
            &["wait", "--condition", "bogus", "r1"],
            &["wait", "--condition", "exited", "--interval", "1x", "r1"],
        ] {
            assert_one_error(&ctx.rless(bad), ERR_EXIT);
        }
        // docker's wait is unchanged: the end of the run, its exit code.
        ctx.ok(&["start", "w1"]);
        assert_eq!(ctx.ok(&["wait", "w1"]).stdout, "4\n");
    });
}

#[test]
fn cli_compat_stats_all() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_stats_all", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "idle", IMG, "true"]);
        run_sh(ctx, &["--name", "busy"], &format!("echo up; {FOREVER}"));
        wait_log(ctx, "busy", "up");
        let names = |extra: &[&str]| -> Vec<String> {
            let mut a = vec!["stats", "--no-stream", "--format", "{{.Name}}"];
            a.extend_from_slice(extra);
            let out = ctx.ok(&a);
            out.stdout.lines().map(str::to_string).collect()
        };
        assert_eq!(names(&[]), ["busy"]);
        assert_eq!(names(&["-a"]), ["busy", "idle"]);
        assert_eq!(names(&["--all", "idle"]), ["idle"]);
        assert_one_error(&ctx.rless(&["stats", "--no-stream", "idle"]), ERR_EXIT);
        // docker's row for a stopped container: zero usage.
        let out = ctx.ok(&[
            "stats",
            "-a",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}",
            "idle",
        ]);
        assert_eq!(out.stdout, "idle|0.00%|0B / 0B|0\n", "{out}");
        let out = ctx.ok(&["stats", "-a", "--no-stream", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let idle = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Name"] == "idle")
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(idle["Source"], "none", "{out}");
        assert_eq!(idle["MemUsage"], 0, "{out}");
    });
}

#[test]
fn cli_compat_system_df_verbose() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_system_df_verbose", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["volume", "create", "v1"]);
        ctx.ok(&["volume", "create", "v2"]);
        ctx.ok(&[
            "run",
            "--name",
            "c1",
            "-v",
            "v1:/data",
            IMG,
            "sh",
            "-c",
            "head -c 5000 /dev/zero >/data/f; head -c 3000 /dev/zero >/grown",
        ]);
        // The commit shares the busybox layer with bb.
        ctx.ok(&["commit", "c1", "grown:1"]);
        let out = ctx.ok(&["system", "df", "-v", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let image = |repo: &str| {
            v["Images"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["Repository"].as_str().unwrap().ends_with(repo))
                .unwrap_or_else(|| panic!("{repo}: {out}"))
                .clone()
        };
        let (bb, grown) = (image(IMG), image("grown"));
        let base = bb["Size"].as_u64().unwrap();
        assert!(base > 0, "{out}");
        assert_eq!(bb["SharedSize"], base, "{out}");
        assert_eq!(bb["UniqueSize"], 0, "{out}");
        assert_eq!(bb["Containers"], 1, "{out}");
        assert_eq!(grown["SharedSize"], base, "{out}");
        assert!(grown["UniqueSize"].as_u64().unwrap() >= 3000, "{out}");
        assert_eq!(grown["Containers"], 0, "{out}");
        let c = &v["Containers"][0];
        assert_eq!(c["Names"], "c1", "{out}");
        assert_eq!(c["LocalVolumes"], 1, "{out}");
        assert!(c["Size"].as_u64().unwrap() >= 3000, "{out}");
        assert!(
            c["Status"].as_str().unwrap().starts_with("Exited (0)"),
            "{out}"
        );
        let vols = serde_json::json!([
            {"Name": "v1", "Links": 1, "Size": 5000},
            {"Name": "v2", "Links": 0, "Size": 0},
        ]);
        assert_eq!(v["Volumes"], vols, "{out}");

        // The tables, under docker's titles.
        let out = ctx.ok(&["system", "df", "-v"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let at = |title: &str| {
            lines
                .iter()
                .position(|l| *l == title)
                .unwrap_or_else(|| panic!("{title}: {out}"))
        };
        let (i, c, vl) = (
            at("Images space usage:"),
            at("Containers space usage:"),
            at("Local Volumes space usage:"),
        );
        assert!(i < c && c < vl, "{out}");
        assert!(lines[i + 2].starts_with("REPOSITORY "), "{out}");
        assert!(lines[c + 2].starts_with("CONTAINER ID "), "{out}");
        let row: Vec<&str> = lines[c + 3].split_whitespace().collect();
        assert_eq!(row.last(), Some(&"c1"), "{out}");
        let vrow: Vec<&str> = lines[vl + 3].split_whitespace().collect();
        assert_eq!(vrow, ["v1", "1", "5kB"], "{out}");
        assert_one_error(
            &ctx.rless(&["system", "df", "-v", "--format", "yaml"]),
            ERR_EXIT,
        );
    });
}

/// An auth file entry: `{"auth": base64("USER:PASSWORD")}`.
fn auth_entry(user: &str, password: &str) -> serde_json::Value {
    use base64::Engine as _;
    let raw = format!("{user}:{password}");
    serde_json::json!({ "auth": base64::engine::general_purpose::STANDARD.encode(raw) })
}

#[test]
fn cli_compat_login_get_login_logout_all() {
    for_each_user("cli_compat_login_get_login_logout_all", |ctx| {
        // rless's auth file (REGISTRY_AUTH_FILE) and docker's, under a
        // HOME of the test's own.
        let auth = serde_json::json!({"auths": {
            "a.example:5000": auth_entry("u1", "p1"),
            "b.example": auth_entry("u2", "p:2"),
        }, "other": "kept"});
        let auth_file = ctx.write_file("auth.json", auth.to_string().as_bytes());
        let docker = serde_json::json!({"auths": {"d.example": auth_entry("u4", "p4")}});
        let docker_text = docker.to_string();
        let docker_file = ctx.write_file(".docker/config.json", docker_text.as_bytes());
        let run = |args: &[&str]| {
            let mut c = ctx.rless_cmd(args);
            c.env("HOME", &ctx.work)
                .env("REGISTRY_AUTH_FILE", &auth_file);
            common::out::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name)
        };
        for (reg, user) in [
            ("a.example:5000", "u1"),
            ("b.example", "u2"),
            ("d.example", "u4"),
        ] {
            let out = run(&["login", "--get-login", reg]);
            assert!(out.success(), "{out}");
            assert_eq!(out.stdout, format!("{user}\n"), "{out}");
        }
        // podman's message and exit code when there is none.
        let out = run(&["login", "--get-login", "c.example"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(out.stderr, "rless: not logged into c.example\n", "{out}");
        assert_one_error(
            &run(&["login", "--get-login", "-u", "x", "a.example:5000"]),
            ERR_EXIT,
        );

        // logout -a: every entry of rless's file goes, the rest of it and
        // docker's file stay.
        assert_one_error(&run(&["logout", "-a", "b.example"]), ERR_EXIT);
        let out = run(&["logout", "-a"]);
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "Removed login credentials for all registries\n");
        let left: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&auth_file).unwrap()).unwrap();
        assert_eq!(left, serde_json::json!({"auths": {}, "other": "kept"}));
        assert_eq!(std::fs::read_to_string(&docker_file).unwrap(), docker_text);
        assert_one_error(&run(&["login", "--get-login", "a.example:5000"]), ERR_EXIT);
        // Again, and with no file at all: nothing to remove is no error.
        assert!(run(&["logout", "--all"]).success());
        std::fs::remove_file(&auth_file).unwrap();
        assert!(run(&["logout", "-a"]).success());
        assert!(!auth_file.exists());
    });
}

#[test]
fn cli_compat_pull_all_tags_push_digestfile() {
    use common::oci::{Built, Comp, Format, LayerBuilder, Registry};
    let Some(reg) = Registry::open() else { return };
    let layer = |tag: &str| {
        LayerBuilder::new()
            .file(&format!("only-{tag}"), tag.as_bytes(), 0o644)
            .finish()
    };
    let (la, lb) = (layer("a"), layer("b"));
    for_each_user("cli_compat_pull_all_tags", |ctx| {
        let a = Built::host(Format::Oci, &[(&la, Comp::Gzip)]);
        let b = Built::host(Format::Docker, &[(&lb, Comp::Gzip)]);
        // The registry outlives the test: a repository of this run's own,
        // so the tags pushed below by an earlier run are not listed.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let repo = ctx.repo(&format!("all-{}-{nanos}", std::process::id()));
        // The registry lists tags in lexical order.
        reg.push(&repo, "v2", &b);
        reg.push(&repo, "v1", &a);
        reg.push(&repo, "latest", &a);
        // Another repository's tags are not pulled.
        reg.push(&ctx.repo("other"), "v9", &b);
        let name = format!("{}/{repo}", reg.host);
        let out = ctx.ok(&["pull", "-a", &name]);
        assert_eq!(
            out.stdout,
            format!("{}\n{}\n{}\n", a.id(), a.id(), b.id()),
            "{out}"
        );
        let out = ctx.ok(&["images", "--format", "{{.Tag}} {{.ID}}", &name]);
        let mut rows: Vec<&str> = out.stdout.lines().collect();
        rows.sort();
        let short = |id: &str| id[..12].to_string();
        assert_eq!(
            rows,
            [
                format!("latest {}", short(&a.id())),
                format!("v1 {}", short(&a.id())),
                format!("v2 {}", short(&b.id())),
            ],
            "{out}"
        );
        assert_eq!(ctx.image_ids().len(), 2);
        // A tag or digest with -a is refused before the registry is asked.
        for bad in [
            format!("{name}:v1"),
            format!("{name}@{}", a.manifest_digest()),
        ] {
            assert_one_error(&ctx.rless(&["pull", "--all-tags", &bad]), ERR_EXIT);
        }
        let empty = format!("{}/{}", reg.host, ctx.repo("never-pushed"));
        assert_one_error(&ctx.rless(&["pull", "-a", &empty]), ERR_EXIT);

        // push --digestfile: the digest printed, without a newline, as podman.
        let file = ctx.work.join("digest");
        let dest = format!("{name}:pushed");
        let out = ctx.ok(&[
            "push",
            "--digestfile",
            file.to_str().unwrap(),
            &format!("{name}:v2"),
            &dest,
        ]);
        let digest = out.stdout.trim();
        assert!(digest.starts_with("sha256:"), "{out}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), digest);
        // It names what the registry has under the tag.
        let by_digest = format!("{name}@{digest}");
        assert_eq!(ctx.pull(&[&by_digest]), b.id());
    });
}

#[test]
fn cli_compat_save_multi_image() {
    if !have_busybox() {
        return;
    }
    for_each_user("cli_compat_save_multi_image", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["run", "--name", "c", IMG, "sh", "-c", "echo two >/two"]);
        ctx.ok(&["commit", "c", "second:2"]);
        ctx.ok(&["rm", "c"]);
        let id = |n: &str| ctx.ok(&["images", "-q", "--no-trunc", n]).stdout;
        let (first, second) = (id(IMG), id("second:2"));
        assert_ne!(first, second);
        for (format, opt) in [
            ("docker-archive", "-m"),
            ("oci-archive", "--multi-image-archive"),
        ] {
            let file = ctx.work.join(format!("{format}.tar"));
            let path = file.to_str().unwrap();
            ctx.ok(&["save", opt, "--format", format, "-o", path, IMG, "second:2"]);
            ctx.ok(&["rmi", IMG, "second:2"]);
            ctx.ok(&["load", "-i", path]);
            // Both images, each under its own name.
            assert_eq!((id(IMG), id("second:2")), (first.clone(), second.clone()));
        }
    });
}
