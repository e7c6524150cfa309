//! More of podman's Kubernetes YAML: `generate kube A B` making one Pod of
//! both containers (their ports, a named volume as a persistentVolumeClaim,
//! a tmpfs as a Memory emptyDir) that `kube play` reads back; `kube down`
//! of a pod that is not there failing before anything is removed; `kube
//! play` of persistentVolumeClaim volumes (a named volume, made when
//! missing, kept by `kube down`), of Memory emptyDirs (a tmpfs, its
//! sizeLimit its size) and of the file's ConfigMaps (env, volumes).

mod common;
mod net_support;

use common::background::Background;
use common::checks::assert_one_error;
use common::{Ctx, ERR_EXIT};
use net_support::{assert_no_pods, for_each_user_with_net, free_port, http_get, wait_for_log, IMG};
use std::time::{Duration, Instant};

fn volumes(ctx: &Ctx) -> Vec<String> {
    let out = ctx.ok(&["volume", "ls", "-q"]);
    out.stdout.lines().map(String::from).collect()
}

#[test]
fn kube_generate_of_several_containers_is_one_pod() {
    for_each_user_with_net("kube_generate_of_several_containers_is_one_pod", |ctx| {
        let port = free_port();
        let publish = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "run", "-d", "--name", "ga", "-v", "gvol:/v", "--tmpfs", "/t", IMG, "sleep", "1000",
        ]);
        ctx.ok(&["exec", "ga", "sh", "-c", "echo kept > /v/f"]);
        ctx.ok(&[
            "run", "-d", "--name", "gb", "-p", &publish, IMG, "httpd", "-f", "-p", "80", "-h",
            "/www",
        ]);
        let y = ctx.ok(&["generate", "kube", "ga", "gb"]).stdout;
        assert_eq!(y.matches("kind: Pod").count(), 1, "one Pod:\n{y}");
        for want in [
            "name: ga-pod\n",
            "name: ga\n",
            "name: gb\n",
            &format!("hostPort: {port}\n"),
            "claimName: gvol\n",
            "medium: Memory\n",
        ] {
            assert!(y.contains(want), "no {want:?} in:\n{y}");
        }
        // The port is gb's (the second container's), not ga's.
        let ga_at = y.find("name: ga\n").unwrap();
        let gb_at = y.find("name: gb\n").unwrap();
        let port_at = y.find(&format!("hostPort: {port}\n")).unwrap();
        assert!(
            ga_at < gb_at && gb_at < port_at,
            "the port is not gb's:\n{y}"
        );
        ctx.ok(&["rm", "-f", "ga", "gb"]);
        let file = ctx.write_file("two.yaml", y.as_bytes());
        let file = file.to_str().unwrap();
        let out = ctx.ok(&["kube", "play", file]);
        assert!(out.stdout.contains("Containers:\n"), "{out}");
        let body = http_get(port);
        assert!(body.contains("hello from the container"), "{body}");
        let out = ctx.ok(&[
            "exec",
            "ga-pod-ga",
            "sh",
            "-c",
            "cat /v/f; grep ' /t ' /proc/mounts",
        ]);
        assert!(out.stdout.starts_with("kept\n"), "{out}");
        assert!(out.stdout.contains("tmpfs"), "{out}");
        // A pod's member is generated with its pod (podman's).
        let out = ctx.rless(&["generate", "kube", "ga-pod-gb", "ga-pod-ga"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("use generate on the pod itself"),
            "{out}"
        );
        assert!(out.stderr.contains("ga-pod"), "{out}");
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
        assert!(
            volumes(ctx).contains(&"gvol".to_string()),
            "the claim's volume stays"
        );
    });
}

#[test]
fn kube_down_of_a_missing_pod_fails() {
    for_each_user_with_net("kube_down_of_a_missing_pod_fails", |ctx| {
        let pod = |name: &str| {
            format!(
                "kind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n"
            )
        };
        let one = ctx.write_file("one.yaml", pod("here").as_bytes());
        let both = ctx.write_file(
            "both.yaml",
            format!("{}---\n{}", pod("here"), pod("gone")).as_bytes(),
        );
        ctx.ok(&["kube", "play", one.to_str().unwrap()]);
        // podman's: the missing pod fails it, and nothing is removed.
        let out = ctx.rless(&["kube", "down", both.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr
                .contains("no pod with name or ID gone found: no such pod"),
            "{out}"
        );
        assert!(out.stdout.is_empty(), "{out}");
        let pods = ctx.ok(&["pod", "ps", "--format", "{{.Name}}"]);
        assert_eq!(pods.stdout.trim(), "here", "{pods}");
        ctx.ok(&["kube", "down", one.to_str().unwrap()]);
        let out = ctx.rless(&["kube", "down", one.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert_no_pods(ctx);
    });
}

#[test]
fn kube_play_claims_and_memory_volumes() {
    for_each_user_with_net("kube_play_claims_and_memory_volumes", |ctx| {
        let yaml = |second_mounts_mem: bool| {
            let extra = if second_mounts_mem {
                format!(
                    "  - name: d\n    image: {IMG}\n    command: [sleep, '1000']\n    volumeMounts: [{{name: mem, mountPath: /mem}}]\n"
                )
            } else {
                String::new()
            };
            format!(
                "kind: Pod\nmetadata:\n  name: vp\nspec:\n  volumes:\n  - name: data\n    persistentVolumeClaim:\n      claimName: claim1\n  - name: mem\n    emptyDir:\n      medium: Memory\n      sizeLimit: 16Mi\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sh, -c, 'cat /data/f 2>/dev/null || echo none; echo once > /data/f; grep \" /mem \" /proc/mounts; sleep 1000']\n    volumeMounts:\n    - {{name: data, mountPath: /data}}\n    - {{name: mem, mountPath: /mem}}\n{extra}"
            )
        };
        let file = ctx.write_file("vp.yaml", yaml(false).as_bytes());
        let file = file.to_str().unwrap();
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "vp-c", "tmpfs");
        let logs = ctx.ok(&["logs", "vp-c"]).stdout;
        assert!(logs.starts_with("none\n"), "{logs}");
        let mem = logs.lines().find(|l| l.contains(" /mem ")).unwrap_or("");
        assert!(mem.starts_with("tmpfs /mem tmpfs "), "{logs}");
        assert!(mem.contains("size=16384k"), "{logs}");
        assert_eq!(volumes(ctx), ["claim1"]);
        // down keeps the claim's volume; a second play finds its data.
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
        assert_eq!(volumes(ctx), ["claim1"]);
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "vp-c", "tmpfs");
        let logs = ctx.ok(&["logs", "vp-c"]).stdout;
        assert!(logs.starts_with("once\n"), "{logs}");
        ctx.ok(&["kube", "down", file]);
        ctx.ok(&["volume", "rm", "claim1"]);
        // A Memory emptyDir two containers mount: refused, nothing made.
        let file = ctx.write_file("vp2.yaml", yaml(true).as_bytes());
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("volume mem"), "{out}");
        assert_no_pods(ctx);
        assert!(volumes(ctx).is_empty(), "{:?}", volumes(ctx));
    });
}

/// podman's ConfigMaps of the file: `envFrom`, `configMapKeyRef`, and a
/// `configMap` volume (its files read-only, gone with `kube down`); one
/// that is not in the file fails the play with one line.
#[test]
fn kube_play_config_maps() {
    for_each_user_with_net("kube_play_config_maps", |ctx| {
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: cp\nspec:\n  volumes:\n  - name: cfg\n    configMap:\n      name: settings\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sh, -c, 'echo \"$MODE $LEVEL $OWN\"; cat /cfg/MODE; echo; cat /cfg/app.conf; echo; touch /cfg/x 2>/dev/null || echo read-only; sleep 1000']\n    envFrom:\n    - configMapRef: {{name: settings}}\n    env:\n    - name: OWN\n      valueFrom:\n        configMapKeyRef: {{name: settings, key: app.conf}}\n    - {{name: LEVEL, value: mine}}\n    volumeMounts:\n    - {{name: cfg, mountPath: /cfg}}\n"
        );
        let cm = "kind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  MODE: fast\n  LEVEL: low\n  app.conf: \"k=v\"\n";
        let file = ctx.write_file("cm.yaml", format!("{pod}---\n{cm}").as_bytes());
        let file = file.to_str().unwrap();
        let out = ctx.ok(&["kube", "play", file]);
        assert!(!out.stderr.contains("ConfigMap"), "no warning: {out}");
        wait_for_log(ctx, "cp-c", "read-only");
        let logs = ctx.ok(&["logs", "cp-c"]).stdout;
        assert_eq!(logs, "fast mine k=v\nfast\nk=v\nread-only\n", "{logs}");
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
        assert!(volumes(ctx).is_empty(), "{:?}", volumes(ctx));
        // Without the ConfigMap: one line, nothing made.
        let file = ctx.write_file("nocm.yaml", pod.as_bytes());
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("settings"), "{out}");
        assert_no_pods(ctx);
        assert!(volumes(ctx).is_empty(), "{:?}", volumes(ctx));
    });
}

/// podman's Secrets: the file's (base64 `data`, `stringData`) stored as a
/// secret by `kube play` and removed by `kube down`, read by
/// `secretKeyRef`, `envFrom.secretRef` and a `secret` volume; one the file
/// lacks comes from the store (`secret create` of a JSON map of base64);
/// `kube down --force` removes the claims' volumes too.
#[test]
fn kube_play_secrets() {
    for_each_user_with_net("kube_play_secrets", |ctx| {
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: sp\nspec:\n  volumes:\n  - name: sec\n    secret:\n      secretName: creds\n  - name: data\n    persistentVolumeClaim: {{claimName: spclaim}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sh, -c, 'echo \"$user $pw $TOKEN\"; cat /sec/pw; echo; sleep 1000']\n    envFrom:\n    - secretRef: {{name: creds}}\n    env:\n    - name: TOKEN\n      valueFrom:\n        secretKeyRef: {{name: stored, key: token}}\n    volumeMounts:\n    - {{name: sec, mountPath: /sec}}\n    - {{name: data, mountPath: /data}}\n"
        );
        let sec = "kind: Secret\nmetadata:\n  name: creds\ndata:\n  user: YWRtaW4=\nstringData:\n  pw: hunter2\n";
        let file = ctx.write_file("sec.yaml", format!("{pod}---\n{sec}").as_bytes());
        let file = file.to_str().unwrap();
        // The store's secret named in the file is not there yet: one line.
        let out = ctx.rless(&["kube", "play", file]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("stored"), "{out}");
        assert_no_pods(ctx);
        let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        assert!(names.trim().is_empty(), "secrets left: {names}");
        let json = ctx.write_file("tok.json", br#"{"token": "dG9rZW4="}"#);
        ctx.ok(&["secret", "create", "stored", json.to_str().unwrap()]);
        let out = ctx.ok(&["kube", "play", file]);
        // podman's order (4.5 on; 4.3 lists none): the secrets before the
        // pods.
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!((lines[0], lines[2]), ("Secrets:", "Pod:"), "{out}");
        wait_for_log(ctx, "sp-c", "hunter2\n");
        let logs = ctx.ok(&["logs", "sp-c"]).stdout;
        assert_eq!(logs, "admin hunter2 token\nhunter2\n", "{logs}");
        let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        assert_eq!(names, "creds\nstored\n");
        ctx.ok(&["kube", "down", "--force", file]);
        assert_no_pods(ctx);
        // The file's secret and the claim's volume go; the store's stays.
        let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        assert_eq!(names, "stored\n");
        assert!(volumes(ctx).is_empty(), "{:?}", volumes(ctx));
    });
}

/// A Secret's variables are never in a file: while `kube play` waits for
/// its init container, and after it is stopped (SIGTERM) or killed
/// (SIGKILL) there, the store's secrets directory holds the secrets alone
/// (each a directory); the init container saw the value.
#[test]
fn kube_play_secret_env_is_in_no_file() {
    for_each_user_with_net("kube_play_secret_env_is_in_no_file", |ctx| {
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: kp\nspec:\n  initContainers:\n  - name: i\n    image: {IMG}\n    command: [sh, -c, 'echo \"got $PW\"; exec sleep 1000']\n    env:\n    - name: PW\n      valueFrom:\n        secretKeyRef: {{name: kcreds, key: pw}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n"
        );
        let sec = "kind: Secret\nmetadata:\n  name: kcreds\nstringData:\n  pw: hunter2\n";
        let file = ctx.write_file("kp.yaml", format!("{pod}---\n{sec}").as_bytes());
        let file = file.to_str().unwrap();
        let secrets = ctx.root.join("secrets");
        // What the secrets directory holds but directories.
        let files = || -> Vec<String> {
            std::fs::read_dir(&secrets)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        for sig in [rustix::process::Signal::TERM, rustix::process::Signal::KILL] {
            let mut play = Background::spawn(ctx, &["kube", "play", file]);
            // Once the init container has its variable, the play waits.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !ctx.rless(&["logs", "kp-i"]).stdout.contains("got hunter2") {
                assert!(play.running(), "kube play ended: {}", play.stderr());
                assert!(Instant::now() < deadline, "no init container output");
                std::thread::sleep(Duration::from_millis(100));
            }
            assert_eq!(files(), Vec::<String>::new(), "while the play runs");
            play.signal(sig);
            play.finish(Duration::from_secs(60));
            assert_eq!(files(), Vec::<String>::new(), "after {sig:?}");
            ctx.ok(&["pod", "rm", "-f", "kp"]);
            // The play that is gone made it: the next secret command
            // removes it again (`secret_journal`).
            let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
            assert_eq!(names, "", "after {sig:?}");
        }
        assert_no_pods(ctx);
    });
}
