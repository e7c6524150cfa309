use super::*;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
  annotations:
    note: "a b"
spec:
  restartPolicy: OnFailure
  volumes:
  - name: data
    hostPath:
      path: /srv/data
      type: Directory
  - name: scratch
    emptyDir: {}
  containers:
  - name: srv
    image: busybox
    command: [httpd, -f]
    args: ["-p", "80"]
    env:
    - name: A
      value: "1"
    - name: N
      value: 2
    workingDir: /www
    securityContext:
      runAsUser: 1000
      runAsGroup: 100
    resources:
      limits:
        memory: 64Mi
        cpu: 500m
    ports:
    - containerPort: 80
      hostPort: 8080
      hostIP: 127.0.0.1
    - containerPort: 53
      hostPort: 5353
      protocol: UDP
    - containerPort: 9
    volumeMounts:
    - name: data
      mountPath: /data
      readOnly: true
    - name: scratch
      mountPath: /tmp/s
---
kind: Service
metadata:
  name: ignored
---
"#;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn a_pod_becomes_command_lines() {
    let (pods, warnings) = parse("f.yaml", POD).unwrap();
    assert_eq!(warnings, ["kind Service is not supported: ignored"]);
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(
        p.pod_args,
        s(&[
            "--name",
            "web",
            "--label=app=web",
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "5353:53/udp"
        ])
    );
    assert_eq!(
        p.host_paths,
        [("/srv/data".to_string(), HostCheck::Directory)]
    );
    assert_eq!(p.volumes, ["web-scratch"]);
    assert_eq!(p.containers.len(), 1);
    let (name, args) = &p.containers[0];
    assert_eq!(name, "web-srv");
    assert_eq!(
        args,
        &s(&[
            "--pod",
            "web",
            "--name",
            "web-srv",
            "-e",
            "A=1",
            "-e",
            "N=2",
            "--workdir=/www",
            "--user",
            "1000:100",
            "--memory",
            "67108864",
            "--cpus",
            "0.5",
            "-v",
            "/srv/data:/data:ro",
            "-v",
            "web-scratch:/tmp/s",
            "--restart",
            "on-failure",
            "--annotation=note=a b",
            "--entrypoint=httpd",
            "busybox",
            "-f",
            "-p",
            "80"
        ])
    );
}

#[test]
fn a_deployment_makes_its_template_pod() {
    let y = "kind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  template:\n    metadata: {labels: {x: y}}\n    spec:\n      containers:\n      - {name: c, image: i, args: [a]}\n";
    let (pods, warnings) = parse("f", y).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(pods[0].name, "d-pod");
    assert_eq!(pods[0].pod_args, s(&["--name", "d-pod", "--label=x=y"]));
    assert_eq!(
        pods[0].containers[0].1,
        s(&[
            "--pod",
            "d-pod",
            "--name",
            "d-pod-c",
            "--restart",
            "always",
            "i",
            "a"
        ])
    );
}

#[test]
fn refusals_are_one_line() {
    for (y, want) in [
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}", "has no image"),
        ("kind: Job\nmetadata: {name: p}", "kind Job is not supported"),
        ("kind: Pod\nmetadata: {name: p\n", "invalid YAML"),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, env: [{name: A, valueFrom: {x: 1}}]}]}",
            "supported with configMapKeyRef or secretKeyRef only",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, env: [{name: A, valueFrom: {configMapKeyRef: {name: nosuch, key: k}}}]}]}",
            "ConfigMap \"nosuch\" is not in the file",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, configMap: {name: cm, items: [{key: k, path: ../x}]}}], containers: [{name: c, image: i}]}\n---\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}",
            "bad file path",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, nfs: {}}], containers: [{name: c, image: i}]}",
            "only hostPath, emptyDir, persistentVolumeClaim, configMap and secret",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, emptyDir: {medium: HugePages}}], containers: [{name: c, image: i}]}",
            "medium HugePages is not supported",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, persistentVolumeClaim: {claimName: -x}}], containers: [{name: c, image: i}]}",
            "invalid claimName",
        ),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, emptyDir: {medium: Memory}}], containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /m}]}, {name: d, image: i, volumeMounts: [{name: v, mountPath: /m}]}]}",
            "mounted by one container only",
        ),
        ("kind: Service\nmetadata: {name: s}", "no Pod, Deployment or PersistentVolumeClaim"),
        ("kind: Pod\nmetadata: {name: -x}\nspec: {containers: [{name: c, image: i}]}", "invalid pod name"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: --c, image: i}]}", "invalid container name"),
        (
            "kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, emptyDir: {}}], containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: x}]}]}",
            "not absolute",
        ),
    ] {
        let e = parse("f", y).err().unwrap_or_else(|| panic!("{y} parsed")).to_string();
        assert!(e.contains(want), "{y}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn claims_and_memory_volumes() {
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: d, persistentVolumeClaim: {claimName: vol1, readOnly: true}}\n  - {name: m, emptyDir: {medium: Memory, sizeLimit: 1Mi}}\n  containers:\n  - name: c\n    image: i\n    volumeMounts: [{name: d, mountPath: /d}, {name: m, mountPath: /m}]\n";
    let (plans, _) = parse("f", y).unwrap();
    let p = &plans[0];
    assert_eq!(p.claims, ["vol1"]);
    assert!(p.volumes.is_empty());
    let args = &p.containers[0].1;
    assert!(
        args.windows(2).any(|w| w == ["-v", "vol1:/d:ro"]),
        "{args:?}"
    );
    assert!(
        args.contains(&"--tmpfs=/m:exec,size=1048576".to_string()),
        "{args:?}"
    );
}

#[test]
fn config_maps() {
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: cfg, configMap: {name: cm, items: [{key: b, path: sub/b.txt}]}}\n  containers:\n  - name: c\n    image: i\n    envFrom: [{configMapRef: {name: cm}}]\n    env:\n    - {name: A, value: own}\n    - {name: K, valueFrom: {configMapKeyRef: {name: cm, key: b}}}\n    - {name: O, valueFrom: {configMapKeyRef: {name: cm, key: none, optional: true}}}\n    volumeMounts: [{name: cfg, mountPath: /cfg}]\n---\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {A: fromcm, b: two}\n";
    let (plans, warnings) = parse("f", y).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let p = &plans[0];
    assert_eq!(p.volumes, ["p-cfg"]);
    assert_eq!(
        p.files,
        [(
            "p-cfg".to_string(),
            vec![VolFile {
                path: "sub/b.txt".into(),
                data: b"two".to_vec(),
                mode: 0o644
            }]
        )]
    );
    let args = &p.containers[0].1;
    let env: Vec<&String> = args
        .windows(2)
        .filter(|w| w[0] == "-e")
        .map(|w| &w[1])
        .collect();
    // Each name once, the later one winning.
    assert_eq!(env, ["b=two", "A=own", "K=two"], "{args:?}");
    assert!(
        args.windows(2).any(|w| w == ["-v", "p-cfg:/cfg:ro"]),
        "{args:?}"
    );
}

#[test]
fn quantities() {
    assert_eq!(memory_bytes(&"1Gi".into()), Some(1 << 30));
    assert_eq!(memory_bytes(&"500M".into()), Some(500_000_000));
    assert_eq!(memory_bytes(&serde_json::json!(4096)), Some(4096));
    assert_eq!(memory_bytes(&"x".into()), None);
    assert_eq!(cpus(&"250m".into()).as_deref(), Some("0.25"));
    assert_eq!(cpus(&serde_json::json!(2)).as_deref(), Some("2"));
}

#[test]
fn yaml_written_reads_back_the_same() {
    let v = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a.b/c": "true", "n": "80"}},
        "spec": {"containers": [
            {"name": "c", "image": "reg:5000/x:1", "command": ["sh", "-c", "echo 'a: b' # x", "a #b", "a b", "a:", "1.2.3.4", "1.2", "2001-01-01", "x:y"],
             "env": [{"name": "E", "value": ""}], "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "d", "image": "i", "args": [], "securityContext": {}}
        ]}
    });
    let y = to_yaml(&v);
    assert!(y.starts_with("apiVersion: v1\nkind: Pod\n"), "{y}");
    assert!(y.contains("  containers:\n  - command:\n"), "{y}");
    let back: Value = serde_saphyr::from_str(&y).unwrap();
    assert_eq!(back, v, "{y}");
}

#[test]
fn init_containers_run_first() {
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Always\n  initContainers:\n  - {name: i, image: img, command: [sh, -c, x], ports: [{containerPort: 1, hostPort: 2}]}\n  containers:\n  - {name: c, image: img}\n";
    let (pods, _) = parse("f", y).unwrap();
    let p = &pods[0];
    assert_eq!(
        p.init,
        [(
            "p-i".to_string(),
            s(&[
                "--pod",
                "p",
                "--name",
                "p-i",
                "--entrypoint=sh",
                "img",
                "-c",
                "x"
            ])
        )]
    );
    assert_eq!(
        p.pod_args,
        s(&["--name", "p"]),
        "an init container publishes nothing"
    );
    assert_eq!(p.containers[0].0, "p-c");
    assert!(p.containers[0].1.contains(&"always".to_string()));
}

/// podman's Secrets: the file's (base64 `data`, `stringData` over it) and,
/// when the file has none of that name, the store's; their variables stay
/// off the command line.
#[test]
fn secrets() {
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: s, secret: {secretName: db, defaultMode: 0400, items: [{key: pw, path: pw.txt}]}}\n  containers:\n  - name: c\n    image: i\n    envFrom: [{secretRef: {name: db}}]\n    env:\n    - {name: user, value: own}\n    - {name: T, valueFrom: {secretKeyRef: {name: stored, key: token}}}\n    - {name: N, valueFrom: {secretKeyRef: {name: nosuch, key: k, optional: true}}}\n    volumeMounts: [{name: s, mountPath: /s}]\n---\nkind: Secret\nmetadata: {name: db}\ndata: {pw: c2VjcmV0, user: YWRtaW4=}\nstringData: {pw: plain}\n";
    let lookup = |n: &str| (n == "stored").then(|| br#"{"token": "dG9r"}"#.to_vec());
    let f = parse_with("f", y, &lookup, false).unwrap();
    assert_eq!(f.secrets.len(), 1);
    assert_eq!(f.secrets[0].0, "db");
    let p = &f.pods[0];
    assert_eq!(
        p.files,
        [(
            "p-s".to_string(),
            vec![VolFile {
                path: "pw.txt".into(),
                data: b"plain".to_vec(),
                mode: 0o400
            }]
        )]
    );
    let args = &p.containers[0].1;
    assert!(
        !args
            .iter()
            .any(|a| a.contains("plain") || a.contains("tok")),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["-e", "user=own"]), "{args:?}");
    let env = &p.secret_env["p-c"];
    assert_eq!(
        env,
        &[
            ("pw".to_string(), "plain".to_string()),
            ("T".into(), "tok".into())
        ]
    );
    // The stored YAML reads back as the same Secret.
    let back = parse_with(
        "f",
        &y.replace("name: db}\ndata", "name: x}\ndata"),
        &|n| {
            (n == "db")
                .then(|| f.secrets[0].1.clone().into_bytes())
                .or_else(|| lookup(n))
        },
        false,
    )
    .unwrap();
    assert_eq!(back.pods[0].secret_env["p-c"], *env);
    // A stored Secret without its kind, as podman reads it; a stored
    // secret that is no Secret fails with one line.
    let stored = |n: &str| match n {
        "stored" => Some(b"stringData:\n  token: tok\n".to_vec()),
        _ => Some(b"just a password".to_vec()),
    };
    let y2 = y.replace("name: db}\ndata", "name: x}\ndata");
    let e = parse_with("f", &y2, &stored, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("secret \"db\" is not a Kubernetes Secret"),
        "{e}"
    );
    let y3 = y2
        .replace("secretName: db", "secretName: x")
        .replace("{name: db}", "{name: x}");
    let f3 = parse_with("f", &y3, &stored, false).unwrap();
    assert_eq!(f3.pods[0].secret_env["p-c"][1], ("T".into(), "tok".into()));
    // Missing: one line; kube down's lenient reading passes it over.
    let missing = "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, envFrom: [{secretRef: {name: gone}}]}]}";
    let e = parse_with("f", missing, &|_| None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Secret \"gone\" is neither in the file"), "{e}");
    assert!(parse_with("f", missing, &|_| None, true).is_ok());
}

#[test]
fn secret_base64_as_kubernetes_reads_it() {
    // A long value in a YAML block is base64 over several lines, which
    // Kubernetes (Go's decoder) reads as one.
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    envFrom: [{secretRef: {name: s}}]\n---\nkind: Secret\nmetadata: {name: s}\ndata:\n  cert: |\n    YWJj\n    ZGVm\n";
    let f = parse_with("f", y, &|_| None, false).unwrap();
    assert_eq!(
        f.pods[0].secret_env["p-c"],
        [("cert".to_string(), "abcdef".to_string())]
    );
    // So does a stored JSON map's.
    let y = y.replace("name: s}\ndata", "name: x}\ndata");
    let f = parse_with(
        "f",
        &y,
        &|_| Some(br#"{"cert": "YWJj\nZGVm"}"#.to_vec()),
        false,
    )
    .unwrap();
    assert_eq!(f.pods[0].secret_env["p-c"][0].1, "abcdef");
    // Not base64: one line that names the key, not the value.
    let bad = "kind: Secret\nmetadata: {name: s}\ndata: {pw: 'hunter2!'}\n";
    let e = parse_with("f", bad, &|_| None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("data pw: not base64"), "{e}");
    assert!(!e.contains("hunter2") && !e.contains('\n'), "{e}");
}

#[test]
fn secret_env_names_an_env_file_can_hold() {
    // envFrom passes a key with whitespace over; env refuses such a name
    // in one line that shows no value.
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    envFrom: [{secretRef: {name: s}}]\nENV---\nkind: Secret\nmetadata: {name: s}\nstringData: {'my key': hunter2, ok: fine}\n";
    let f = parse_with("f", &y.replace("ENV", ""), &|_| None, false).unwrap();
    assert_eq!(
        f.pods[0].secret_env["p-c"],
        [("ok".to_string(), "fine".to_string())]
    );
    let env = "    env: [{name: 'a b', valueFrom: {secretKeyRef: {name: s, key: ok}}}]\n";
    let e = parse_with("f", &y.replace("ENV", env), &|_| None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid env name \"a b\""), "{e}");
    assert!(!e.contains("fine") && !e.contains('\n'), "{e}");
}

#[test]
fn claim_documents_are_volumes() {
    let y = "kind: PersistentVolumeClaim\nmetadata:\n  name: vol9\n  labels: {app: x}\n  annotations:\n    volume.podman.io/mount-options: nodev\n    volume.podman.io/uid: '1000'\n    other: kept-out\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n";
    // A file of claims alone is a file (podman's).
    let f = parse_with("f", y, &|_| None, false).unwrap();
    assert!(f.pods.is_empty());
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(f.claims, ["vol9"]);
    let c = &f.claim_docs[0];
    assert_eq!(c.name, "vol9");
    assert_eq!(c.labels.get("app").map(String::as_str), Some("x"));
    assert_eq!(c.driver, None);
    let opts: Vec<_> = c.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(opts, ["UID=1000", "o=nodev"]);
    let bad = y.replace("'1000'", "me");
    let e = parse_with("f", &bad, &|_| None, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("volume.podman.io/uid"), "{e}");
    let e = parse_with(
        "f",
        "kind: PersistentVolumeClaim\nmetadata: {}\n",
        &|_| None,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("without metadata.name"), "{e}");
}

/// `immutable` of a ConfigMap or Secret is passed over, as podman 4.3
/// does (kube play copies the data at creation; nothing changes it after).
#[test]
fn immutable_is_passed_over() {
    let y = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n    envFrom: [{configMapRef: {name: cm}}, {secretRef: {name: s}}]\n---\nkind: ConfigMap\nmetadata: {name: cm}\nimmutable: true\ndata: {A: a}\n---\nkind: Secret\nmetadata: {name: s}\nimmutable: true\nstringData: {B: b}\n";
    let f = parse_with("f", y, &|_| None, false).unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert!(f.pods[0].containers[0].1.contains(&"A=a".to_string()));
    assert_eq!(f.pods[0].secret_env["p-c"], [("B".into(), "b".into())]);
}
