//! `kube play`'s last gaps against podman 4.3: a failed play leaves the
//! secret store as it was (a replaced secret gets its data back); a
//! Secret's binary value reaches a secret volume byte for byte and is
//! refused as a variable; a variable of several lines whose name rless
//! itself reads (PATH, HOME) reaches the container without changing the
//! child `rless`; PersistentVolumeClaim documents make their named
//! volumes, and `kube down --force` removes those `kube play` made, not
//! one that was there before. (`immutable`, which podman 4.3 passes over,
//! is a unit test of `kube_yaml`.)
//!
//! Each scenario runs once per test user with a fresh store, through the
//! `net_support` set-up of the other kube tests.

mod common;
mod net_support;

use common::checks::assert_one_error;
use common::{Ctx, ERR_EXIT};
use net_support::{assert_no_pods, for_each_user_with_net, wait_for_log, IMG};

fn secret_data(ctx: &Ctx, name: &str) -> String {
    let out = ctx.ok(&[
        "secret",
        "inspect",
        "--showsecret",
        "--format",
        "{{.SecretData}}",
        name,
    ]);
    out.stdout.trim_end().to_string()
}

/// Stores the secret `kept` ("the old value"), and writes `NAME.yaml`: a
/// pod `NAME` whose init container runs `init`, then the Secrets `kept`
/// (replacing it) and `fresh`. Returns the file and `kept`'s inspect.
fn replacing_play(ctx: &Ctx, name: &str, init: &str) -> (std::path::PathBuf, String) {
    let old = ctx.write_file("old.txt", b"the old value");
    ctx.ok(&["secret", "create", "kept", old.to_str().unwrap()]);
    let before = ctx.ok(&["secret", "inspect", "kept"]).stdout;
    let pod = format!(
        "kind: Pod\nmetadata:\n  name: {name}\nspec:\n  initContainers:\n  - name: i\n    image: {IMG}\n    command: {init}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n"
    );
    let secs = "kind: Secret\nmetadata:\n  name: kept\nstringData:\n  pw: new\n---\nkind: Secret\nmetadata:\n  name: fresh\nstringData:\n  pw: other\n";
    let file = ctx.write_file(
        &format!("{name}.yaml"),
        format!("{pod}---\n{secs}").as_bytes(),
    );
    (file, before)
}

/// A play that fails after its Secret replaced a secret of the store (its
/// init container exits 3) gives that secret its old data back, and
/// removes the one it made.
#[test]
fn kube_play_failed_restores_replaced_secrets() {
    for_each_user_with_net("kube_play_failed_restores_replaced_secrets", |ctx| {
        let (file, before) = replacing_play(ctx, "rs", "[sh, -c, 'exit 3']");
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("exited with code 3"), "{out}");
        assert_no_pods(ctx);
        assert_eq!(secret_data(ctx, "kept"), "the old value");
        // Its metadata too (id, times, labels).
        assert_eq!(ctx.ok(&["secret", "inspect", "kept"]).stdout, before);
        let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        assert_eq!(names, "kept\n", "the play's new secret stays");
        ctx.ok(&["secret", "rm", "kept"]);
    });
}

/// A Secret's `data` that is not UTF-8 reaches a `secret` volume byte for
/// byte; as a variable, which cannot hold it unchanged, it fails the play
/// with one line and leaves nothing.
#[test]
fn kube_play_binary_secret_values() {
    for_each_user_with_net("kube_play_binary_secret_values", |ctx| {
        let sec = "kind: Secret\nmetadata:\n  name: bin\ndata:\n  blob: /wD+CoA=\n";
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: bp\nspec:\n  volumes:\n  - name: sec\n    secret: {{secretName: bin}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sh, -c, 'echo \"[$(od -An -tx1 /sec/blob)]\"; sleep 1000']\n    volumeMounts:\n    - {{name: sec, mountPath: /sec}}\n"
        );
        let file = ctx.write_file("bp.yaml", format!("{pod}---\n{sec}").as_bytes());
        let file = file.to_str().unwrap();
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "bp-c", "]");
        let logs = ctx.ok(&["logs", "bp-c"]).stdout;
        assert_eq!(
            logs.split_whitespace().collect::<Vec<_>>().join(" "),
            "[ ff 00 fe 0a 80]"
        );
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
        // As a variable: refused, nothing made.
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: be\nspec:\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sleep, '1000']\n    env:\n    - name: BLOB\n      valueFrom:\n        secretKeyRef: {{name: bin, key: blob}}\n"
        );
        let file = ctx.write_file("be.yaml", format!("{pod}---\n{sec}").as_bytes());
        let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("env BLOB: the value is not text"),
            "{out}"
        );
        assert_no_pods(ctx);
        let names = ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        assert!(names.trim().is_empty(), "secrets left: {names}");
    });
}

/// Variables of several lines from a Secret, named PATH, HOME and
/// RLESS_STORAGE_DRIVER (which the child `rless` itself reads: a driver it
/// does not know fails it), reach the container and leave the child's own
/// settings alone.
#[test]
fn kube_play_multi_line_secret_env_named_like_rless_settings() {
    for_each_user_with_net("kube_play_multi_line_secret_env", |ctx| {
        let sec = "kind: Secret\nmetadata:\n  name: ml\nstringData:\n  PATH: \"/nowhere\\nline2\"\n  HOME: \"/nohome\\nline2\"\n  RLESS_STORAGE_DRIVER: \"none\\nline2\"\n  ONE: single\n";
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: ml\nspec:\n  initContainers:\n  - name: i\n    image: {IMG}\n    command: [/bin/sh, -c, 'echo \"init [$HOME]\"']\n    env:\n    - name: HOME\n      valueFrom:\n        secretKeyRef: {{name: ml, key: HOME}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [/bin/sh, -c, 'echo \"[$PATH][$HOME][$RLESS_STORAGE_DRIVER][$ONE]\"; exec /bin/sleep 1000']\n    envFrom:\n    - secretRef: {{name: ml}}\n"
        );
        let file = ctx.write_file("ml.yaml", format!("{pod}---\n{sec}").as_bytes());
        let file = file.to_str().unwrap();
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "ml-c", "[single]");
        let logs = ctx.ok(&["logs", "ml-c"]).stdout;
        assert_eq!(
            logs,
            "[/nowhere\nline2][/nohome\nline2][none\nline2][single]\n"
        );
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
    });
}

/// PersistentVolumeClaim documents make their named volumes (podman's:
/// the claim's labels, `volume.podman.io/*` annotations as options, the
/// size ignored), listed first as `Volumes:`; one already there is used as
/// it is. `kube down` keeps them; `--force` removes those the play made,
/// not the one that was there before.
#[test]
fn kube_play_persistent_volume_claims() {
    for_each_user_with_net("kube_play_persistent_volume_claims", |ctx| {
        ctx.ok(&["volume", "create", "mine"]);
        let pvc = |name: &str| {
            format!(
                "kind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  labels: {{app: db}}\n  annotations:\n    volume.podman.io/uid: '1000'\nspec:\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n"
            )
        };
        let pod = format!(
            "kind: Pod\nmetadata:\n  name: pv\nspec:\n  volumes:\n  - name: d\n    persistentVolumeClaim: {{claimName: dbdata}}\n  containers:\n  - name: c\n    image: {IMG}\n    command: [sh, -c, 'cat /d/f 2>/dev/null || echo none; echo once > /d/f; sleep 1000']\n    volumeMounts: [{{name: d, mountPath: /d}}]\n"
        );
        let text = format!("{}---\n{}---\n{pod}", pvc("dbdata"), pvc("mine"));
        let file = ctx.write_file("pv.yaml", text.as_bytes());
        let file = file.to_str().unwrap();
        let out = ctx.ok(&["kube", "play", file]);
        assert!(
            out.stdout.starts_with("Volumes:\ndbdata\nmine\nPod:\n"),
            "{out}"
        );
        assert!(
            !out.stderr.contains("PersistentVolumeClaim"),
            "no warning: {out}"
        );
        let labels = ctx.ok(&[
            "volume",
            "inspect",
            "--format",
            "{{.Labels.app}} {{.Options.UID}}",
            "dbdata",
        ]);
        assert_eq!(labels.stdout.trim(), "db 1000", "{labels}");
        // The volume that was there keeps its own (none).
        let labels = ctx.ok(&["volume", "inspect", "--format", "[{{.Labels.app}}]", "mine"]);
        assert!(
            labels.stdout.trim().starts_with("[]") || labels.stdout.contains("<no value>"),
            "{labels}"
        );
        wait_for_log(ctx, "pv-c", "none");
        ctx.ok(&["kube", "down", file]);
        assert_no_pods(ctx);
        // Kept by down; a second play finds the data.
        ctx.ok(&["kube", "play", file]);
        wait_for_log(ctx, "pv-c", "once");
        ctx.ok(&["kube", "down", "--force", file]);
        assert_no_pods(ctx);
        let vols = ctx.ok(&["volume", "ls", "-q"]).stdout;
        assert_eq!(vols, "mine\n", "the play's volume goes, the user's stays");
        // A file of claims alone: one with a driver rless does not have,
        // or mount options (its volumes are plain directories), is one
        // line, nothing made.
        for (ann, what) in [
            ("volume.podman.io/driver: nfs", "driver"),
            ("volume.podman.io/mount-options: nodev", "option"),
        ] {
            let bad = pvc("other").replace("annotations:\n", &format!("annotations:\n    {ann}\n"));
            let file = ctx.write_file("bad.yaml", bad.as_bytes());
            let out = ctx.rless(&["kube", "play", file.to_str().unwrap()]);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("volume other"), "{out}");
            assert!(out.stderr.contains(what), "{out}");
            let vols = ctx.ok(&["volume", "ls", "-q"]).stdout;
            assert_eq!(vols, "mine\n");
        }
        ctx.ok(&["volume", "rm", "mine"]);
    });
}

/// A play killed (SIGKILL) after its Secrets replaced a secret of the
/// store and made another, while it waits for its init container: the
/// next secret command puts the store back as it was (the replaced
/// secret's data and metadata, the new one gone) from the play's journal,
/// which goes too.
#[test]
fn kube_play_killed_restores_replaced_secrets() {
    for_each_user_with_net("kube_play_killed_restores_replaced_secrets", |ctx| {
        use std::time::Duration;
        let (file, before) = replacing_play(ctx, "rk", "[sleep, '1000']");
        let mut play =
            common::background::Background::spawn(ctx, &["kube", "play", file.to_str().unwrap()]);
        let names = || ctx.ok(&["secret", "ls", "--format", "{{.Name}}"]).stdout;
        // Both stored (in the file's order): the play waits for `i`.
        assert!(
            common::checks::eventually(Duration::from_secs(120), || {
                assert!(play.running(), "kube play ended: {}", play.stderr());
                names() == "fresh\nkept\n"
            }),
            "the play stored no Secrets"
        );
        assert_ne!(secret_data(ctx, "kept"), "the old value");
        play.signal(rustix::process::Signal::KILL);
        play.finish(Duration::from_secs(60));
        assert_eq!(secret_data(ctx, "kept"), "the old value");
        assert_eq!(ctx.ok(&["secret", "inspect", "kept"]).stdout, before);
        assert_eq!(names(), "kept\n", "the killed play's new secret stays");
        let journals: Vec<_> = std::fs::read_dir(ctx.root.join("secrets"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(journals.is_empty(), "{journals:?}");
        ctx.ok(&["pod", "rm", "-f", "rk"]);
        ctx.ok(&["secret", "rm", "kept"]);
        assert_no_pods(ctx);
    });
}
