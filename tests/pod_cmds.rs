//! pod commands as podman 4.3 has them: `pod create --replace` and
//! `--pod-id-file` (read back by `pod start|stop|rm --pod-id-file`), a
//! failed `pod create` leaving nothing, `stop|restart` of an infra
//! container while members run, `pod logs` and `pod stats`, `pod rm -f
//! -t`.

mod common;

use common::checks::assert_one_error;
use common::lifecycle_helpers::*;
use common::pod_helpers::{for_each_user_with_bb, free_port_spec, states};
use common::ERR_EXIT;

#[test]
fn pod_create_replace_and_pod_id_file() {
    for_each_user_with_bb("pod_create_replace_and_pod_id_file", |ctx| {
        let idf = ctx.work.join("p.id");
        let idf_s = idf.display().to_string();
        let spec = free_port_spec();
        let create = [
            "pod",
            "create",
            "--name",
            "p",
            "--infra-name",
            "pinf",
            "-p",
            &spec,
        ];
        let with = |more: &[&'static str]| -> Vec<String> {
            create.iter().chain(more).map(|s| s.to_string()).collect()
        };
        let mut first = with(&["--pod-id-file"]);
        first.push(idf_s.clone());
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let id = ctx.ok(&first).stdout;
        let id = id.trim().to_string();
        assert_eq!(std::fs::read_to_string(&idf).unwrap(), id);
        // A pod id file that exists: refused in podman's words, nothing made.
        let out = ctx.rless(&["pod", "create", "--name", "q", "--pod-id-file", &idf_s]);
        assert_one_error(&out, ERR_EXIT);
        assert!(out.stderr.contains("pod id file exists"), "{out}");
        assert_eq!(ctx.rless(&["pod", "exists", "q"]).code, Some(1));
        // --replace: the pod and its containers (running ones killed) go
        // first, so its port is free again for the new one.
        ctx.ok(&[
            "run", "-d", "--name", "m1", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        assert_one_error(&ctx.rless(&create), ERR_EXIT);
        let again = with(&["--replace"]);
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        let id2 = ctx.ok(&again).stdout;
        assert_ne!(id2.trim(), id);
        assert_eq!(states(ctx), ["pinf created"]);
        ctx.ok(&["pod", "create", "--replace", "--name", "fresh"]);
        assert_one_error(&ctx.rless(&["pod", "create", "--replace"]), ERR_EXIT);
        ctx.ok(&["pod", "rm", "p", "fresh"]);
        // pod start|stop|rm --pod-id-file: the pod the file names.
        std::fs::remove_file(&idf).unwrap();
        let id3 = ctx.ok(&["pod", "create", "--name", "r", "--pod-id-file", &idf_s]);
        let id3 = id3.stdout.trim().to_string();
        ctx.ok(&[
            "create", "--name", "m2", "--pod", "r", IMG, "sh", "-c", FOREVER,
        ]);
        let out = ctx.ok(&["pod", "start", "--pod-id-file", &idf_s]);
        assert_eq!(out.stdout.trim(), id3);
        assert!(states(ctx).contains(&"m2 running".to_string()));
        ctx.ok(&["pod", "stop", "--pod-id-file", &idf_s]);
        assert!(states(ctx).contains(&"m2 exited".to_string()));
        let out = ctx.ok(&["pod", "rm", "--pod-id-file", &idf_s]);
        assert_eq!(out.stdout.trim(), id3);
        assert!(states(ctx).is_empty(), "{:?}", states(ctx));
        let missing = ctx.work.join("none.id").display().to_string();
        assert_one_error(
            &ctx.rless(&["pod", "stop", "--pod-id-file", &missing]),
            ERR_EXIT,
        );
        ctx.ok(&["pod", "rm", "-i", "--pod-id-file", &missing]);
        // A failed create (its port in use) leaves nothing: no pod, no
        // infra container, no pod id file.
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let spec = format!("127.0.0.1:{}:80", busy.local_addr().unwrap().port());
        let f2 = ctx.work.join("f2.id");
        let f2_s = f2.display().to_string();
        let out = ctx.rless(&[
            "pod",
            "create",
            "--name",
            "x",
            "-p",
            &spec,
            "--pod-id-file",
            &f2_s,
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(!f2.exists(), "the pod id file was left");
        assert!(states(ctx).is_empty(), "{:?}", states(ctx));
        assert_eq!(ctx.rless(&["pod", "exists", "x"]).code, Some(1));
        // So does one whose infra container cannot be made (its name taken).
        ctx.ok(&["create", "--name", "taken", IMG, "true"]);
        let out = ctx.rless(&[
            "pod",
            "create",
            "--name",
            "x",
            "--infra-name",
            "taken",
            "--pod-id-file",
            &f2_s,
        ]);
        assert_one_error(&out, ERR_EXIT);
        assert!(!f2.exists(), "the pod id file was left");
        assert_eq!(states(ctx), ["taken created"]);
        assert_eq!(ctx.rless(&["pod", "exists", "x"]).code, Some(1));
    });
}

#[test]
fn pod_logs_and_stats() {
    for_each_user_with_bb("pod_logs_and_stats", |ctx| {
        let pod = ctx.ok(&["pod", "create", "--name", "p", "--infra-name", "pinf"]);
        let pod = pod.stdout.trim()[..12].to_string();
        let a = ctx.ok(&[
            "run",
            "--name",
            "a",
            "--pod",
            "p",
            IMG,
            "sh",
            "-c",
            "echo one; echo two",
        ]);
        let b = ctx.ok(&[
            "run",
            "--name",
            "b",
            "--pod",
            "p",
            IMG,
            "sh",
            "-c",
            "echo three",
        ]);
        let (a, b) = (a.stdout.trim(), b.stdout.trim());
        assert_eq!((a, b), ("one\ntwo", "three"));
        let id = |n: &str| {
            let out = ctx.ok(&["inspect", "--format", "{{.Id}}", n]);
            out.stdout.trim()[..12].to_string()
        };
        let (ia, ib) = (id("a"), id("b"));
        // Every container's lines (the infra container has none), each
        // after its container's short id, in time order.
        let out = ctx.ok(&["pod", "logs", "p"]);
        assert_eq!(
            out.stdout,
            format!("{ia} one\n{ia} two\n{ib} three\n"),
            "{out}"
        );
        let out = ctx.ok(&["pod", "logs", "-n", "--tail", "1", "p"]);
        assert_eq!(out.stdout, "a two\nb three\n", "{out}");
        let out = ctx.ok(&["pod", "logs", "--container", "b", "p"]);
        assert_eq!(out.stdout, "three\n", "{out}");
        let out = ctx.ok(&["pod", "logs", "-t", "--names", "-c", "a", "p"]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        assert!(
            out.stdout
                .lines()
                .all(|l| l.starts_with("20") && (l.ends_with(" one") || l.ends_with(" two"))),
            "{out}"
        );
        // -f ends once the pod's containers have.
        ctx.ok(&["pod", "stop", "p"]);
        let out = ctx.ok(&["pod", "logs", "-f", "--names", "p"]);
        assert_eq!(out.stdout, "a one\na two\nb three\n", "{out}");
        ctx.ok(&["create", "--name", "other", IMG, "true"]);
        assert_one_error(&ctx.rless(&["pod", "logs", "-c", "other", "p"]), ERR_EXIT);
        assert_one_error(&ctx.rless(&["pod", "logs", "nope"]), ERR_EXIT);
        // pod stats: a row per running container of the pod, podman's
        // columns.
        ctx.ok(&[
            "run", "-d", "--name", "c", "--pod", "p", IMG, "sh", "-c", FOREVER,
        ]);
        let out = ctx.ok(&["pod", "stats", "--no-stream", "p"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        for col in ["POD", "CID", "NAME", "CPU %", "MEM USAGE/ LIMIT", "PIDS"] {
            assert!(lines[0].contains(col), "{out}");
        }
        assert!(lines[1..].iter().all(|l| l.starts_with(&pod)), "{out}");
        let out = ctx.ok(&[
            "pod",
            "stats",
            "--no-stream",
            "--format",
            "{{.Pod}} {{.Name}}",
        ]);
        let mut rows: Vec<&str> = out.stdout.lines().collect();
        rows.sort();
        assert_eq!(rows, [format!("{pod} c"), format!("{pod} pinf")], "{out}");
        let out = ctx.ok(&["pod", "stats", "--no-stream", "--format", "json", "p"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let v = v.as_array().unwrap();
        assert_eq!(v.len(), 2, "{out}");
        assert!(
            v.iter()
                .all(|r| r["Pod"] == pod.as_str() && r["CPU"].is_string()),
            "{out}"
        );
        assert_one_error(
            &ctx.rless(&["pod", "stats", "--no-stream", "nope"]),
            ERR_EXIT,
        );
        ctx.ok(&["pod", "rm", "-f", "p"]);
    });
}

#[test]
fn stop_and_restart_of_an_infra_container_take_its_members() {
    for_each_user_with_bb(
        "stop_and_restart_of_an_infra_container_take_its_members",
        |ctx| {
            ctx.ok(&["pod", "create", "--name", "p", "--infra-name", "pinf"]);
            for m in ["m1", "m2"] {
                ctx.ok(&[
                    "run", "-d", "--name", m, "--pod", "p", IMG, "sh", "-c", FOREVER,
                ]);
            }
            ctx.ok(&["stop", "m2"]);
            // stop INFRA: the pod's running members first (by their stop
            // signal: FOREVER exits 0, 143 before its trap), then it; only
            // the name given is printed.
            assert_eq!(ctx.ok(&["stop", "pinf"]).stdout, "pinf\n");
            assert_eq!(states(ctx), ["m1 exited", "m2 exited", "pinf exited"]);
            let code = ctx.ok(&["inspect", "--format", "{{.State.ExitCode}}", "m1"]);
            assert!(["0", "143"].contains(&code.stdout.trim()), "{code}");
            // restart INFRA: its running members restart with it, in its
            // new namespaces; a stopped one stays stopped.
            ctx.ok(&["start", "m1"]);
            assert_eq!(states(ctx), ["m1 running", "m2 exited", "pinf running"]);
            assert_eq!(ctx.ok(&["restart", "pinf"]).stdout, "pinf\n");
            assert_eq!(states(ctx), ["m1 running", "m2 exited", "pinf running"]);
            let net = |n: &str| {
                let pid = ctx.ok(&["inspect", "--format", "{{.State.Pid}}", n]);
                std::fs::read_link(format!("/proc/{}/ns/net", pid.stdout.trim())).unwrap()
            };
            assert_eq!(net("m1"), net("pinf"));
            let h = ctx.ok(&["exec", "m1", "hostname"]);
            assert_eq!(h.stdout.trim(), "p", "{h}");
            // Named with its member, the member first: the member still
            // stops before it and starts after it, in its new namespaces.
            ctx.ok(&["restart", "m1", "pinf"]);
            assert_eq!(states(ctx), ["m1 running", "m2 exited", "pinf running"]);
            assert_eq!(net("m1"), net("pinf"));
            ctx.ok(&["pod", "rm", "-f", "p"]);
        },
    );
}

/// `pod logs` prefixes lines as podman 4.3 does: when it reads more than
/// one container's log. A pod with an infra container and one member
/// reads two (the infra's is empty), so the member's lines have its id;
/// `-c` and a pod without an infra container and one member read one.
#[test]
fn pod_logs_prefix_of_one_member() {
    for_each_user_with_bb("pod_logs_prefix_of_one_member", |ctx| {
        ctx.ok(&["pod", "create", "--name", "solo"]);
        ctx.ok(&["run", "--name", "s", "--pod", "solo", IMG, "echo", "hi"]);
        let out = ctx.ok(&["inspect", "--format", "{{.Id}}", "s"]);
        let sid = out.stdout.trim()[..12].to_string();
        let out = ctx.ok(&["pod", "logs", "solo"]);
        assert_eq!(out.stdout, format!("{sid} hi\n"), "{out}");
        let out = ctx.ok(&["pod", "logs", "-c", "s", "solo"]);
        assert_eq!(out.stdout, "hi\n", "{out}");
        ctx.ok(&["pod", "create", "--name", "bare", "--infra=false"]);
        ctx.ok(&["run", "--name", "t", "--pod", "bare", IMG, "echo", "hi"]);
        let out = ctx.ok(&["pod", "logs", "bare"]);
        assert_eq!(out.stdout, "hi\n", "{out}");
        ctx.ok(&["pod", "rm", "-f", "solo", "bare"]);
    });
}

/// `pod rm -f -t SECS` gives the running members their stop signal first
/// (podman's; `-t` was taken and ignored, the members SIGKILLed); `-t`
/// without `-f` is refused, as `rm`'s.
#[test]
fn pod_rm_time_stops_members_first() {
    for_each_user_with_bb("pod_rm_time_stops_members_first", |ctx| {
        // The trap writes to a volume, which outlives the pod.
        ctx.ok(&["volume", "create", "marks"]);
        ctx.ok(&["pod", "create", "--name", "p"]);
        let trap = "trap 'echo got-term > /m/term; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
        run_sh(ctx, &["--name", "m", "--pod", "p", "-v", "marks:/m"], trap);
        wait_log(ctx, "m", "ready");
        assert_one_error(&ctx.rless(&["pod", "rm", "-t", "5", "p"]), ERR_EXIT);
        ctx.ok(&["pod", "rm", "-f", "-t", "5", "p"]);
        assert_eq!(ctx.rless(&["pod", "exists", "p"]).code, Some(1));
        let out = ctx.ok(&["run", "--rm", "-v", "marks:/m", IMG, "cat", "/m/term"]);
        assert_eq!(out.stdout, "got-term\n", "{out}");
    });
}

/// `run/create --pod-id-file FILE`: the pod the file's first line names,
/// as --pod; a missing file, one that names no pod, and --pod with it are
/// refused in podman's words, nothing made.
#[test]
fn run_create_pod_id_file() {
    for_each_user_with_bb("run_create_pod_id_file", |ctx| {
        let idf = ctx.work.join("p.id");
        let idf_s = idf.display().to_string();
        let id = ctx.ok(&[
            "pod",
            "create",
            "--name",
            "p",
            "--infra-name",
            "pinf",
            "--pod-id-file",
            &idf_s,
        ]);
        let id = id.stdout.trim().to_string();
        ctx.ok(&[
            "create",
            "--name",
            "c",
            "--pod-id-file",
            &idf_s,
            IMG,
            "true",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "r",
            "--pod-id-file",
            &idf_s,
            IMG,
            "sh",
            "-c",
            FOREVER,
        ]);
        for c in ["c", "r"] {
            let pod = ctx.ok(&["inspect", "--format", "{{.Pod}}", c]);
            assert_eq!(pod.stdout.trim(), id, "{c}");
        }
        assert_eq!(states(ctx), ["c created", "pinf running", "r running"]);
        let refused = |args: &[&str], words: &str| {
            let out = ctx.fail_code_unchanged(args, ERR_EXIT);
            assert!(out.stderr.contains(words), "{out}");
        };
        let missing = ctx.work.join("none.id").display().to_string();
        refused(
            &["create", "--pod-id-file", &missing, IMG, "true"],
            &format!("reading pod ID file: open {missing}: no such file or directory"),
        );
        std::fs::write(ctx.work.join("other.id"), "0123456789abcdef\nmore\n").unwrap();
        let other = ctx.work.join("other.id").display().to_string();
        refused(
            &["run", "--pod-id-file", &other, IMG, "true"],
            "no pod with name or ID 0123456789abcdef found: no such pod",
        );
        refused(
            &["create", "--pod", "p", "--pod-id-file", &idf_s, IMG, "true"],
            "cannot specify both --pod and --pod-id-file",
        );
        ctx.ok(&["pod", "rm", "-f", "p"]);
    });
}
