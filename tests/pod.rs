//! Pods (podman's `pod create|exists|ps|inspect|rm|start|stop|kill|
//! restart|prune`) made with `--infra=false`: no shared namespaces,
//! `create --pod`, `--requires`, podman's per-network options
//! (`--network NAME:alias=A,ip=IP`), and the command lines podman-compose
//! 1.6.0 issues for `up -d`, `ps`, `logs`, `stop`, `start`, `down -v`
//! (copied from its log against rless).

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::{for_each_user, is_hex64, Ctx, ERR_EXIT};
use serde_json::Value;

fn json(out: &common::Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `pod ps --format json`: the array.
fn pods(ctx: &Ctx) -> Vec<Value> {
    match json(&ctx.ok(&["pod", "ps", "--format", "json"])) {
        Value::Array(a) => a,
        v => panic!("pod ps --format json is not an array: {v}"),
    }
}

/// The names of the containers in state `status`, sorted.
fn with_status(ctx: &Ctx, status: &str) -> Vec<String> {
    let filter = format!("status={status}");
    let out = ctx.ok(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    let mut v: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn pod_lifecycle() {
    if !have_busybox() {
        return;
    }
    for_each_user("pod_lifecycle", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        // Without an infra container no namespace is shared (pods with
        // one: pod_infra*.rs).
        let out = ctx.rless(&[
            "pod",
            "create",
            "--name",
            "p0",
            "--infra=false",
            "--share=net",
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("infra"), "{out}");
        assert_eq!(ctx.rless(&["pod", "exists", "p0"]).code, Some(1));
        let out = ctx.ok(&[
            "pod",
            "create",
            "--name=p1",
            "--infra=false",
            "--share=",
            "--label",
            "a=b",
        ]);
        let id = out.stdout.trim().to_string();
        assert!(is_hex64(&id), "pod create prints the pod's id: {out}");
        let out = ctx.rless(&["pod", "create", "--name", "p1", "--infra=false"]);
        assert_one_error(&out, ERR_EXIT);
        let out = ctx.rless(&["pod", "exists", "p1"]);
        assert_eq!(out.code, Some(0), "{out}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out}");
        // An unknown pod: an error before anything is made.
        let out = ctx.rless(&["create", "--name", "x", "--pod", "nope", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("no such pod"), "{out}");
        assert_eq!(ctx.rless(&["container", "exists", "x"]).code, Some(1));
        let c1 = ctx.ok(&[
            "create", "--name", "c1", "--pod", "p1", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&[
            "create",
            "--name",
            "c2",
            "--pod",
            &id[..12],
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        ctx.ok(&["create", "--name", "out", IMG, "true"]);
        // The container records its pod; ps shows it and filters by it.
        assert_eq!(inspect(ctx, "c1")["Pod"], id.as_str());
        assert_eq!(inspect(ctx, "out")["Pod"], "");
        let rows = ps_json(ctx, &["-a", "--filter", "pod=p1"]);
        let mut names: Vec<&str> = rows
            .iter()
            .map(|r| r["Names"][0].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["c1", "c2"]);
        assert!(rows
            .iter()
            .all(|r| r["Pod"] == id.as_str() && r["PodName"] == "p1"));
        assert_eq!(
            ps_json(ctx, &["-a", "--filter", &format!("pod={id}")]).len(),
            2
        );
        let out = ctx.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=c1",
            "--format",
            "{{.PodName}} {{.Pod}}",
        ]);
        assert_eq!(out.stdout, format!("p1 {}\n", &id[..12]));
        // pod ps: json, -q, filters, templates, --noheading.
        let p = pods(ctx);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0]["Name"], "p1");
        assert_eq!(p[0]["Id"], id.as_str());
        assert_eq!(p[0]["Status"], "Created");
        assert_eq!(p[0]["Labels"]["a"], "b");
        assert_eq!(p[0]["Containers"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            ctx.ok(&["pod", "ps", "-q"]).stdout,
            format!("{}\n", &id[..12])
        );
        assert_eq!(
            ctx.ok(&["pod", "ls", "-q", "--filter", "label=a=b"])
                .stdout
                .lines()
                .count(),
            1
        );
        assert_eq!(
            ctx.ok(&["pod", "ls", "-q", "--filter", "name=zz"]).stdout,
            ""
        );
        let out = ctx.ok(&["pod", "ps", "--format", "{{.Name}} {{.NumberOfContainers}}"]);
        assert_eq!(out.stdout, "p1 2\n");
        let out = ctx.ok(&["pod", "ps", "--noheading"]);
        assert!(out.stdout.starts_with(&id[..12]), "{out}");
        let out = ctx.ok(&["pod", "inspect", "p1"]);
        let v = json(&out);
        assert_eq!(v[0]["Name"], "p1");
        assert_eq!(v[0]["NumContainers"], 2);
        assert_eq!(v[0]["SharedNamespaces"], serde_json::json!([]));
        // start, stop, kill, restart act on the members only.
        assert_eq!(ctx.ok(&["pod", "start", "p1"]).stdout, format!("{id}\n"));
        assert_eq!(with_status(ctx, "running"), ["c1", "c2"]);
        assert_eq!(pods(ctx)[0]["Status"], "Running");
        assert_eq!(
            ctx.ok(&["pod", "stop", "-t", "5", "p1"]).stdout,
            format!("{id}\n")
        );
        assert_eq!(with_status(ctx, "exited"), ["c1", "c2"]);
        assert_eq!(with_status(ctx, "created"), ["out"]);
        ctx.ok(&["pod", "restart", "p1"]);
        assert_eq!(with_status(ctx, "running"), ["c1", "c2"]);
        ctx.ok(&["stop", "c2"]);
        assert_eq!(pods(ctx)[0]["Status"], "Degraded");
        ctx.ok(&["pod", "kill", "p1"]);
        assert!(
            common::checks::eventually(std::time::Duration::from_secs(30), || {
                with_status(ctx, "running").is_empty()
            }),
            "pod kill left containers running"
        );
        // rm: refused while a container runs (podman's exit 2), -f
        // removes them too; an unknown pod is exit 1.
        ctx.ok(&["pod", "start", "p1"]);
        let out = ctx.rless(&["pod", "rm", "p1"]);
        assert_one_error(&out, 2);
        assert_eq!(ctx.rless(&["pod", "rm", "nope"]).code, Some(1));
        assert_eq!(ctx.ok(&["pod", "rm", "-f", "p1"]).stdout, format!("{id}\n"));
        assert_eq!(
            ctx.rless(&["container", "exists", c1.stdout.trim()]).code,
            Some(1)
        );
        assert_eq!(ctx.rless(&["container", "exists", "c2"]).code, Some(1));
        assert_eq!(ctx.rless(&["pod", "exists", "p1"]).code, Some(1));
        assert_eq!(ctx.rless(&["container", "exists", "out"]).code, Some(0));
        // prune: pods with nothing running go, with their containers.
        ctx.ok(&["pod", "create", "--name", "idle", "--infra=false"]);
        ctx.ok(&["pod", "create", "--name", "busy", "--infra=false"]);
        ctx.ok(&["create", "--name", "i1", "--pod", "idle", IMG, "true"]);
        ctx.ok(&[
            "run", "-d", "--name", "b1", "--pod", "busy", IMG, "sh", "-c", FOREVER,
        ]);
        ctx.ok(&["pod", "prune", "-f"]);
        assert_eq!(ctx.rless(&["pod", "exists", "idle"]).code, Some(1));
        assert_eq!(ctx.rless(&["container", "exists", "i1"]).code, Some(1));
        assert_eq!(ctx.rless(&["pod", "exists", "busy"]).code, Some(0));
        ctx.ok(&["pod", "rm", "-f", "busy"]);
        // Pods' events (podman's type pod).
        let fmt = [
            "events",
            "--stream=false",
            "--format",
            "{{.Type}} {{.Status}} {{.Name}}",
        ];
        let out = ctx.ok(&[&fmt[..], &["--filter", "type=pod", "--filter", "pod=p1"]].concat());
        assert_eq!(out.stdout, "pod create p1\npod remove p1\n", "{out}");
    });
}

#[test]
fn pod_requires_starts_the_required_first() {
    if !have_busybox() {
        return;
    }
    for_each_user("pod_requires_starts_the_required_first", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let out = ctx.rless(&["create", "--name", "x", "--requires", "nope", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(ctx.rless(&["container", "exists", "x"]).code, Some(1));
        ctx.ok(&["create", "--name", "db", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&["create", "--name", "cache", IMG, "sh", "-c", FOREVER]);
        ctx.ok(&[
            "create",
            "--name",
            "app",
            "--requires=db,cache",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        assert_eq!(
            inspect(ctx, "app")["Dependencies"],
            serde_json::json!(["db", "cache"])
        );
        // start prints only the name it was given.
        assert_eq!(ctx.ok(&["start", "app"]).stdout, "app\n");
        assert_eq!(with_status(ctx, "running"), ["app", "cache", "db"]);
        ctx.ok(&["stop", "-t", "5", "app", "db", "cache"]);
        ctx.ok(&["restart", "app"]);
        assert_eq!(with_status(ctx, "running"), ["app", "cache", "db"]);
        ctx.ok(&["stop", "-t", "5", "app", "db", "cache"]);
        // run too.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "app2",
            "--requires",
            "db",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        assert_eq!(with_status(ctx, "running"), ["app2", "db"]);
    });
}

/// podman's per-network options: aliases and the address on that
/// network; unknown options and bad values refused before anything is
/// made.
#[test]
fn pod_network_alias_syntax() {
    if !have_busybox() {
        return;
    }
    if std::fs::metadata("/dev/net/tun").is_err() {
        common::skip("/dev/net/tun is missing");
        return;
    }
    for_each_user("pod_network_alias_syntax", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["network", "create", "--subnet", "10.89.77.0/24", "n1"]);
        for bad in [
            "n1:mac=02:00:00:00:00:01",
            "n1:alias=a b",
            "n1:ip=nope",
            "n1:ip=10.89.78.5",
            "n1:ip=10.89.77.1",
            "nope:alias=a",
        ] {
            let net = format!("--network={bad}");
            let out = ctx.rless(&["create", "--name", "bad", &net, IMG, "true"]);
            assert_one_error(&out, ERR_EXIT);
            assert_eq!(
                ctx.rless(&["container", "exists", "bad"]).code,
                Some(1),
                "{bad}"
            );
        }
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network=n1:alias=www,alias=w2,ip=10.89.77.9",
            "--network-alias",
            "extra",
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        let v = inspect(ctx, "web");
        let n = &v["NetworkSettings"]["Networks"]["n1"];
        assert_eq!(n["IPAddress"], "10.89.77.9", "{n}");
        let aliases: Vec<&str> = n["Aliases"]
            .as_array()
            .unwrap_or_else(|| panic!("no aliases: {n}"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for a in ["web", "extra", "www", "w2"] {
            assert!(aliases.contains(&a), "{a} missing: {aliases:?}");
        }
        assert!(v["NetworkSettings"]["Networks"]
            .get("n1:alias=www")
            .is_none());
        ctx.ok(&["rm", "-f", "web"]);
        ctx.ok(&["network", "rm", "n1"]);
    });
}

/// The command lines podman-compose 1.6.0 ran for `up -d`, `logs`,
/// `stop`, `start`, `ps` and `down -v` of a two-service project (a named
/// volume, the default network, depends_on), as its log showed them
/// (its `wait --condition=running` aside); each must succeed, and `down`
/// leaves nothing of the project.
#[test]
fn pod_podman_compose_command_lines() {
    if !have_busybox() {
        return;
    }
    if std::fs::metadata("/dev/net/tun").is_err() {
        common::skip("/dev/net/tun is missing");
        return;
    }
    for_each_user("pod_podman_compose_command_lines", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let label = "label=io.podman.compose.project=comp";
        let labels = [
            "--label",
            "io.podman.compose.project=comp",
            "--label",
            "com.docker.compose.project=comp",
        ];
        let ok = |args: &[&str]| ctx.ok(args);
        assert_eq!(
            json(&ok(&["ps", "--filter", label, "-a", "--format", "json"])),
            serde_json::json!([])
        );
        assert_eq!(ctx.rless(&["pod", "exists", "pod_comp"]).code, Some(1));
        ok(&[
            "pod",
            "create",
            "--name=pod_comp",
            "--infra=false",
            "--share=",
        ]);
        assert_eq!(
            ctx.rless(&["volume", "inspect", "comp_data"]).code,
            Some(ERR_EXIT)
        );
        ok(&[&["volume", "create"][..], &labels, &["comp_data"]].concat());
        assert_eq!(
            ctx.rless(&["network", "exists", "comp_default"]).code,
            Some(1)
        );
        ok(&[&["network", "create"][..], &labels, &["comp_default"]].concat());
        let service = |name: &str, extra: &[&str], script: &str| {
            let n = format!("--name=comp_{name}_1");
            let svc = format!("io.podman.compose.service={name}");
            let net = format!("--network=comp_default:alias={name}");
            let mut a = vec!["create", &n, "--pod=pod_comp"];
            a.extend_from_slice(extra);
            a.extend_from_slice(&labels);
            a.extend_from_slice(&["--label", &svc]);
            a.extend_from_slice(&[&net, IMG, "sh", "-c", script]);
            ok(&a);
        };
        service(
            "web",
            &[
                "-e",
                "A=1",
                "--mount",
                "type=volume,source=comp_data,destination=/data",
            ],
            &format!("echo web-up $A; echo hi > /data/f; {FOREVER}"),
        );
        service(
            "worker",
            &["--requires=comp_web_1"],
            &format!("echo worker-up; {FOREVER}"),
        );
        ok(&["start", "comp_web_1"]);
        ok(&["start", "comp_worker_1"]);
        let rows = json(&ok(&["ps", "--filter", label, "-a", "--format", "json"]));
        assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
        let web = inspect(ctx, "comp_web_1");
        let aliases = &web["NetworkSettings"]["Networks"]["comp_default"]["Aliases"];
        assert!(
            aliases
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "web")),
            "{aliases}"
        );
        wait_log(ctx, "comp_web_1", "web-up 1");
        let out = ok(&["logs", "--color", "comp_web_1"]);
        assert!(out.stdout.contains("web-up 1"), "{out}");
        ok(&["stop", "-t", "10", "comp_worker_1"]);
        ok(&["stop", "-t", "10", "comp_web_1"]);
        ok(&["ps", "-a", "--filter", label]);
        ok(&["start", "comp_web_1"]);
        ok(&["start", "comp_worker_1"]);
        // down -v
        ok(&["stop", "-t", "10", "comp_worker_1"]);
        ok(&["stop", "-t", "10", "comp_web_1"]);
        ok(&["rm", "comp_worker_1"]);
        ok(&["rm", "comp_web_1"]);
        let ls = ["--noheading", "--filter", label, "--format", "{{.Name}}"];
        let out = ok(&[&["volume", "ls"][..], &ls].concat());
        assert_eq!(out.stdout, "comp_data\n");
        ok(&["volume", "rm", "comp_data"]);
        ok(&["pod", "rm", "pod_comp"]);
        let out = ok(&[&["network", "ls"][..], &ls].concat());
        assert_eq!(out.stdout, "comp_default\n");
        ok(&["network", "rm", "comp_default"]);
        assert_eq!(ctx.rless(&["pod", "exists", "pod_comp"]).code, Some(1));
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "");
    });
}

/// `logs` of several containers (podman's, which podman-compose 1.0
/// asks for): each line after its container's short id (name with
/// `--names`), in time order; `-f` ends once all have ended.
#[test]
fn pod_logs_of_several_containers() {
    if !have_busybox() {
        return;
    }
    for_each_user("pod_logs_of_several_containers", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id1 = ctx.ok(&[
            "create",
            "--name",
            "c1",
            IMG,
            "sh",
            "-c",
            "echo one; echo three",
        ]);
        let id2 = ctx.ok(&["create", "--name", "c2", IMG, "sh", "-c", "echo two"]);
        let (id1, id2) = (&id1.stdout.trim()[..12], &id2.stdout.trim()[..12]);
        ctx.ok(&["start", "-a", "c1"]);
        ctx.ok(&["start", "-a", "c2"]);
        let out = ctx.ok(&["logs", "c2", "c1"]);
        assert_eq!(
            out.stdout,
            format!("{id1} one\n{id1} three\n{id2} two\n"),
            "{out}"
        );
        let out = ctx.ok(&["logs", "--names", "-f", "c1", "c2"]);
        assert_eq!(out.stdout, "c1 one\nc1 three\nc2 two\n", "{out}");
        let out = ctx.ok(&["logs", "--names", "--tail", "1", "c1", "c2"]);
        assert_eq!(out.stdout, "c1 three\nc2 two\n", "{out}");
        // One container: no prefix, --names or not.
        assert_eq!(ctx.ok(&["logs", "--names", "c2"]).stdout, "two\n");
        let out = ctx.rless(&["logs", "c1", "nope"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stdout.is_empty(), "{out}");
    });
}

/// Debian 12's podman-compose (1.0.3, installed by tests/run.sh) drives
/// rless through `--podman-path`: `up -d` of two services (a named volume,
/// the project's network, depends_on, an alias the worker reaches), `ps`,
/// `logs`, `stop`, `start`, `restart`, `down -v`.
#[test]
fn pod_debian_podman_compose_drives_rless() {
    use std::os::unix::fs::PermissionsExt;
    let pc = std::path::Path::new("/usr/bin/podman-compose");
    if !pc.exists() {
        common::skip("podman-compose is not installed (tests/run.sh installs it)");
        return;
    }
    if !have_busybox() {
        return;
    }
    if std::fs::metadata("/dev/net/tun").is_err() {
        common::skip("/dev/net/tun is missing");
        return;
    }
    for_each_user("pod_debian_podman_compose_drives_rless", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let wrapper = ctx.write_file(
            "rless-wrapper",
            format!(
                "#!/bin/sh\nexec '{}' --root '{}' \"$@\"\n",
                common::rless_bin().display(),
                ctx.root.display()
            )
            .as_bytes(),
        );
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        ctx.write_file(
            "docker-compose.yml",
            format!(
                "services:\n  web:\n    image: {IMG}\n    volumes:\n      - data:/data\n    \
                 command: sh -c \"echo web-up; echo shared > /data/f; {FOREVER}\"\n  \
                 worker:\n    image: {IMG}\n    depends_on:\n      - web\n    volumes:\n      \
                 - data:/data\n    command: sh -c \"echo worker-up; {FOREVER}\"\nvolumes:\n  data:\n"
            )
            .as_bytes(),
        );
        let compose = |args: &[&str]| {
            let mut c = ctx.command(pc);
            c.arg("--podman-path")
                .arg(&wrapper)
                .args(["-p", "comp"])
                .args(args);
            let out = common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "podman-compose {args:?} failed: {out}");
            out
        };
        compose(&["up", "-d"]);
        assert_eq!(with_status(ctx, "running"), ["comp_web_1", "comp_worker_1"]);
        let out = compose(&["ps"]);
        assert!(
            out.stdout.contains("comp_web_1") && out.stdout.contains("comp_worker_1"),
            "{out}"
        );
        wait_log(ctx, "comp_web_1", "web-up");
        wait_log(ctx, "comp_worker_1", "worker-up");
        let out = compose(&["logs"]);
        assert!(
            out.stdout.contains("web-up") && out.stdout.contains("worker-up"),
            "{out}"
        );
        // The worker shares the volume and reaches web by its service name.
        let out = ctx.ok(&["exec", "comp_worker_1", "cat", "/data/f"]);
        assert_eq!(out.stdout, "shared\n");
        let v = inspect(ctx, "comp_web_1");
        let aliases = &v["NetworkSettings"]["Networks"]["comp_default"]["Aliases"];
        assert!(
            aliases
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "web")),
            "{aliases}"
        );
        compose(&["stop"]);
        assert_eq!(with_status(ctx, "exited"), ["comp_web_1", "comp_worker_1"]);
        compose(&["start"]);
        assert_eq!(with_status(ctx, "running"), ["comp_web_1", "comp_worker_1"]);
        compose(&["restart"]);
        assert_eq!(with_status(ctx, "running"), ["comp_web_1", "comp_worker_1"]);
        compose(&["down", "-v"]);
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "");
        assert_eq!(ctx.ok(&["volume", "ls", "-q"]).stdout, "");
        // 1.0.3's down leaves the project's network, as with podman.
        ctx.ok(&["network", "rm", "comp_default"]);
    });
}
