//! podman's Kubernetes YAML commands: `kube play` of a two-container pod
//! (localhost between its members, its hostPort reaching one, env, args,
//! workingDir and a hostPath volume inside), `kube down` leaving nothing
//! (no process, port, mount, pod or container), `generate kube` → `kube
//! down` → `kube play` of what it printed, `--start=false` and
//! `--replace`, and bad files (YAML error, unknown kind, no image, a port
//! in use midway) failing with one line and leaving nothing.

mod common;
mod net_support;

use common::checks::assert_one_error;
use common::lifecycle_helpers::{ps_json, Cleanup};
use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
use common::{for_each_user, is_hex64, Ctx, ERR_EXIT};
use net_support::{
    assert_nothing_left, for_each_user_with_net, free_port, http_get, needs_tun, wait_for_log, IMG,
};

fn pod_yaml(ctx: &Ctx, port: u16) -> String {
    let hp = ctx.work.join("hp");
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: kp
  labels:
    app: kp
spec:
  volumes:
  - name: data
    hostPath:
      path: {hp}
      type: Directory
  containers:
  - name: srv
    image: {IMG}
    command: [httpd]
    args: [-f, -p, "80", -h, /www]
    ports:
    - containerPort: 80
      hostPort: {port}
      hostIP: 127.0.0.1
  - name: cli
    image: {IMG}
    command: [sh, -c]
    args:
    - 'echo "A=$A"; echo "pwd=$(pwd)"; cat /data/hello.txt; n=0; while [ $n -lt 200 ]; do wget -q -O - http://127.0.0.1:80/index.html && break; sleep 0.1; n=$((n+1)); done; sleep 1000'
    env:
    - name: A
      value: kube value
    workingDir: /www
    volumeMounts:
    - name: data
      mountPath: /data
"#,
        hp = hp.display()
    )
}

/// The pod kp runs: its hostPort reaches srv, and cli saw its env, its
/// working directory, the hostPath file and srv over localhost.
fn assert_kp_works(ctx: &Ctx, port: u16) {
    let body = http_get(port);
    assert!(body.contains("hello from the container"), "{body}");
    wait_for_log(ctx, "kp-cli", "hello from the container");
    let logs = ctx.ok(&["logs", "kp-cli"]).stdout;
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(
        lines,
        [
            "A=kube value",
            "pwd=/www",
            "from the host",
            "hello from the container"
        ],
        "{logs}"
    );
}

#[test]
fn kube_play_down_and_generate_round_trip() {
    for_each_user_with_net("kube_play_down_and_generate_round_trip", |ctx| {
        ctx.write_file("hp/hello.txt", b"from the host\n");
        let port = free_port();
        let file = ctx.write_file("pod.yaml", pod_yaml(ctx, port).as_bytes());
        let file = file.to_str().unwrap();
        let out = ctx.ok(&["kube", "play", file]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert_eq!((lines[0], lines[2]), ("Pod:", "Containers:"), "{out}");
        assert!([1, 3, 4].iter().all(|&i| is_hex64(lines[i])), "{out}");
        let mut names: Vec<String> = ps_json(ctx, &[])
            .iter()
            .map(|r| r["Names"][0].as_str().unwrap_or("").to_string())
            .filter(|n| !n.ends_with("-infra"))
            .collect();
        names.sort();
        assert_eq!(names, ["kp-cli", "kp-srv"]);
        let pod: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["pod", "inspect", "kp"]).stdout).unwrap();
        assert_eq!(pod[0]["Labels"]["app"], "kp", "{pod}");
        assert_kp_works(ctx, port);
        // A second play of the same file is refused; nothing changes.
        let again = ctx.rless(&["kube", "play", file]);
        assert_one_error(&again, ERR_EXIT);
        assert!(again.stderr.contains("already exists"), "{again}");
        assert_eq!(ps_json(ctx, &[]).len(), 3);

        // generate kube: a Pod that kube play reads back.
        let generated = ctx.ok(&["generate", "kube", "kp"]).stdout;
        for want in [
            "kind: Pod",
            "name: kp\n",
            "name: srv\n",
            "name: cli\n",
            &format!("hostPort: {port}\n"),
            "hostIP: 127.0.0.1\n",
            "workingDir: /www\n",
            "value: kube value\n",
            "mountPath: /data\n",
            "type: Directory\n",
        ] {
            assert!(generated.contains(want), "no {want:?} in:\n{generated}");
        }
        // The image's and the runtime's variables are not the container's.
        assert!(!generated.contains("name: PATH\n"), "{generated}");
        let gen_file = ctx.write_file("gen.yaml", generated.as_bytes());
        let gen_file = gen_file.to_str().unwrap();

        // kube down: nothing left.
        let out = ctx.ok(&["kube", "down", file]);
        assert!(out.stdout.contains("Pods removed:\n"), "{out}");
        assert!(out.stdout.contains(lines[1]), "{out}");
        assert_nothing_left(ctx, Some(port));

        // The generated file plays the same pod.
        let out = ctx.ok(&["play", "kube", gen_file]);
        assert!(out.stdout.starts_with("Pod:\n"), "{out}");
        assert_kp_works(ctx, port);
        ctx.ok(&["play", "kube", "--down", gen_file]);
        assert_nothing_left(ctx, Some(port));
    });
}

#[test]
fn kube_play_start_false_and_replace() {
    for_each_user_with_net("kube_play_start_false_and_replace", |ctx| {
        // Two containers sharing an emptyDir volume.
        let y = format!(
            "kind: Pod\nmetadata:\n  name: idle\nspec:\n  volumes:\n  - name: s\n    emptyDir: {{}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n    volumeMounts: [{{name: s, mountPath: /s}}]\n  - name: d\n    image: {IMG}\n    command: [sleep, '1000']\n    volumeMounts: [{{name: s, mountPath: /s}}]\n"
        );
        let file = ctx.write_file("idle.yaml", y.as_bytes());
        let file = file.to_str().unwrap();
        let out = ctx.ok(&["kube", "play", "--start=false", file]);
        assert!(out.stdout.contains("Containers:\n"), "{out}");
        let first = out.stdout.lines().nth(1).unwrap().to_string();
        let st = ctx.ok(&["pod", "ps", "--format", "{{.Status}}"]);
        assert_eq!(st.stdout.trim(), "Created", "{st}");
        // From stdin (`-`), as podman reads it.
        let out = ctx.rless_stdin(
            &["kube", "play", "--replace", "-"],
            &std::fs::read(file).unwrap(),
        );
        assert!(out.success(), "{out}");
        let second = out.stdout.lines().nth(1).unwrap().to_string();
        assert_ne!(first, second, "--replace makes the pod anew");
        let st = ctx.ok(&["pod", "ps", "--format", "{{.ID}} {{.Status}}"]);
        assert_eq!(
            st.stdout.trim(),
            format!("{} Running", &second[..12]),
            "{st}"
        );
        ctx.ok(&["exec", "idle-c", "sh", "-c", "echo shared > /s/f"]);
        let out = ctx.ok(&["exec", "idle-d", "cat", "/s/f"]);
        assert_eq!(out.stdout, "shared\n", "{out}");
        ctx.ok(&["kube", "down", file]);
        assert_nothing_left(ctx, None);
        let vols = ctx.ok(&["volume", "ls", "-q"]);
        assert!(vols.stdout.trim().is_empty(), "volumes left: {vols}");
    });
}

#[test]
fn kube_generate_of_a_lone_container_plays_back() {
    for_each_user_with_net("kube_generate_of_a_lone_container_plays_back", |ctx| {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "run", "-d", "--name", "lone", "-p", &publish, "-e", "WHO=me", IMG, "httpd", "-f",
            "-p", "80", "-h", "/www",
        ]);
        let y = ctx.ok(&["kube", "generate", "lone"]).stdout;
        for want in [
            "name: lone-pod\n",
            "name: lone\n",
            &format!("hostPort: {port}\n"),
            "name: WHO\n",
        ] {
            assert!(y.contains(want), "no {want:?} in:\n{y}");
        }
        ctx.ok(&["rm", "-f", "lone"]);
        let file = ctx.write_file("lone.yaml", y.as_bytes());
        ctx.ok(&["kube", "play", file.to_str().unwrap()]);
        let body = http_get(port);
        assert!(body.contains("hello from the container"), "{body}");
        let out = ctx.ok(&["exec", "lone-pod-lone", "sh", "-c", "echo $WHO"]);
        assert_eq!(out.stdout.trim(), "me", "{out}");
        ctx.ok(&["kube", "down", file.to_str().unwrap()]);
        assert_nothing_left(ctx, Some(port));
    });
}

#[test]
fn kube_play_bad_files_leave_nothing() {
    for_each_user_with_net("kube_play_bad_files_leave_nothing", |ctx| {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let ok_pod = format!(
            "kind: Pod\nmetadata:\n  name: first\nspec:\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n"
        );
        let cases = [
            ("yaml", "kind: Pod\nmetadata: {name: p\n".to_string(), "invalid YAML"),
            ("kind", "kind: CronJob\nmetadata:\n  name: p\n".to_string(), "kind CronJob is not supported"),
            (
                "noimage",
                "kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n".to_string(),
                "has no image",
            ),
            (
                "port",
                format!(
                    "{ok_pod}---\nkind: Pod\nmetadata:\n  name: second\nspec:\n  containers:\n  - name: c\n    image: {IMG}\n    ports:\n    - containerPort: 80\n      hostPort: {port}\n      hostIP: 127.0.0.1\n"
                ),
                "second",
            ),
        ];
        for (name, text, want) in cases {
            let file = ctx.write_file(&format!("{name}.yaml"), text.as_bytes());
            let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains(want), "{name}: {out}");
            assert_nothing_left(ctx, None);
        }
        drop(held);
    });
}

#[test]
fn kube_play_init_containers_run_first() {
    for_each_user_with_net("kube_play_init_containers_run_first", |ctx| {
        let yaml = |init_cmd: &str| {
            format!(
                "kind: Pod\nmetadata:\n  name: ip\nspec:\n  volumes:\n  - name: s\n    emptyDir: {{}}\n  initContainers:\n  - name: prep\n    image: {IMG}\n    command: [sh, -c, '{init_cmd}']\n    volumeMounts: [{{name: s, mountPath: /s}}]\n  containers:\n  - name: main\n    image: {IMG}\n    command: [sh, -c, 'cat /s/f; sleep 1000']\n    volumeMounts: [{{name: s, mountPath: /s}}]\n"
            )
        };
        let file = ctx.write_file("init.yaml", yaml("echo from init > /s/f").as_bytes());
        let file = file.to_str().unwrap();
        // Init containers need the pod started.
        let out = ctx.rless(&["kube", "play", "--start=false", file]);
        assert_one_error(&out, ERR_EXIT);
        assert_nothing_left(ctx, None);
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "ip-main", "from init");
        let mut names: Vec<String> = ps_json(ctx, &["-a"])
            .iter()
            .map(|r| r["Names"][0].as_str().unwrap_or("").to_string())
            .filter(|n| !n.ends_with("-infra"))
            .collect();
        names.sort();
        assert_eq!(names, ["ip-main"], "the init container ran and went");
        ctx.ok(&["kube", "down", file]);
        assert_nothing_left(ctx, None);
        // A failing init container: one line, nothing left.
        let file = ctx.write_file("init_fails.yaml", yaml("exit 3").as_bytes());
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains("init container ip-prep exited with code 3"),
            "{out}"
        );
        assert_nothing_left(ctx, None);
        let vols = ctx.ok(&["volume", "ls", "-q"]);
        assert!(vols.stdout.trim().is_empty(), "volumes left: {vols}");
    });
}

#[test]
fn kube_play_pulls_images_and_a_failed_pull_leaves_nothing() {
    if !needs_tun() {
        return;
    }
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("kube_play_pulls_images", |ctx| {
        let _cleanup = Cleanup(ctx);
        let top = LayerBuilder::new()
            .file("marker", b"pulled for kube\n", 0o644)
            .finish();
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&top, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("kube"), "latest", &img);
        let pod = |name: &str, image: &str| {
            format!(
                "kind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: {image}\n    command: [sh, -c, 'cat /marker; sleep 1000']\n"
            )
        };
        // The second pod's image is not in the registry: the first pod,
        // already made, goes again.
        let missing = p.reference.replace(":latest", "-missing:latest");
        assert_ne!(missing, p.reference);
        let text = format!("{}---\n{}", pod("pa", &p.reference), pod("pb", &missing));
        let file = ctx.write_file("pull.yaml", text.as_bytes());
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("pb-c"), "{out}");
        assert_nothing_left(ctx, None);
        // The first pod alone: its image pulled (now stored), it runs.
        let file = ctx.write_file("pull1.yaml", pod("pa", &p.reference).as_bytes());
        ctx.ok(&["kube", "play", file.to_str().unwrap()]);
        wait_for_log(ctx, "pa-c", "pulled for kube");
        ctx.ok(&["kube", "down", file.to_str().unwrap()]);
        assert_nothing_left(ctx, None);
    });
}
