//! `rless events`: the event log that container, image, volume and network
//! changes write, read back with filters, formats and a live stream.
//!
//! The scenarios import the busybox root filesystem as `bb`.

mod common;

use common::for_each_user;
use common::run_helpers::*;
use common::Ctx;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

/// The logged events as `TYPE STATUS NAME`, oldest first.
fn logged(ctx: &Ctx, filters: &[&str]) -> Vec<String> {
    let mut args = vec![
        "events",
        "--stream=false",
        "--format",
        "{{.Type}} {{.Status}} {{.Name}}",
    ];
    args.extend_from_slice(filters);
    let out = ctx.ok(&args);
    out.stdout.lines().map(str::to_string).collect()
}

/// Whether `want` appears in `got` in this order (other events between).
fn in_order(got: &[String], want: &[&str]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

#[test]
fn events_of_containers_images_volumes_and_networks() {
    if !have_busybox() {
        return;
    }
    for_each_user("events_log", |ctx| {
        assert!(setup_image(ctx));
        ctx.ok(&[
            "run", "-d", "--name", "web1", "--label", "app=web", IMG, "sleep", "100",
        ]);
        ctx.ok(&["pause", "web1"]);
        ctx.ok(&["unpause", "web1"]);
        ctx.ok(&["stop", "-t", "5", "web1"]);
        ctx.ok(&["rename", "web1", "web2"]);
        ctx.ok(&["rm", "web2"]);
        run_ok(ctx, &["--rm", "--name", "gone", IMG, "true"]);
        ctx.ok(&["tag", IMG, "bb2:x"]);
        ctx.ok(&["rmi", "bb2:x"]);
        ctx.ok(&["volume", "create", "v1"]);
        ctx.ok(&["volume", "rm", "v1"]);
        ctx.ok(&["network", "create", "n1"]);
        ctx.ok(&["network", "rm", "n1"]);

        let all = logged(ctx, &[]);
        for want in [
            &[
                "container create web1",
                "container start web1",
                "container pause web1",
                "container unpause web1",
                "container died web1",
                "container stop web1",
                "container rename web2",
                "container remove web2",
            ][..],
            &[
                "container create gone",
                "container start gone",
                "container died gone",
                "container remove gone",
            ],
            &[
                "image tag localhost/bb2:x",
                "image untag localhost/bb2:x",
                "volume create v1",
                "volume remove v1",
                "network create n1",
                "network remove n1",
            ],
        ] {
            assert!(in_order(&all, want), "want {want:?} in order in:\n{all:#?}");
        }

        // Filters: one key's values are alternatives, keys all apply;
        // docker's `die` is podman's `died`. `container=` takes a name or
        // an id prefix, as podman's: the names here are not hex, so no
        // other container's id can start with them.
        let f = logged(
            ctx,
            &[
                "--filter",
                "container=web1",
                "--filter",
                "event=die",
                "--filter",
                "event=pause",
            ],
        );
        assert_eq!(f, ["container pause web1", "container died web1"]);
        let f = logged(
            ctx,
            &["--filter", "label=app=web", "--filter", "event=create"],
        );
        assert_eq!(f, ["container create web1"]);
        let f = logged(ctx, &["--filter", "type=volume"]);
        assert_eq!(f, ["volume create v1", "volume remove v1"]);
        // docker's `system events` is the same command.
        let out = ctx.ok(&[
            "system",
            "events",
            "--stream=false",
            "--filter",
            "type=network",
        ]);
        assert_eq!(out.stdout.lines().count(), 2, "{out}");
        // The exit code, as podman's template field and in JSON.
        let out = ctx.ok(&[
            "events",
            "--stream=false",
            "--filter",
            "event=died",
            "--filter",
            "container=gone",
            "--format",
            "{{.ContainerExitCode}} {{.Actor.Attributes.name}}",
        ]);
        assert_eq!(out.stdout, "0 gone\n", "{out}");
        let out = ctx.ok(&["events", "--stream=false", "--format", "json"]);
        for l in out.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect(l);
            assert!(v["Status"].is_string() && v["Type"].is_string() && v["Time"].is_string());
        }
        // podman's line.
        let out = ctx.ok(&["events", "--stream=false", "--filter", "event=rename"]);
        let line = out.stdout.trim_end();
        assert!(
            line.contains(" container rename ")
                && line.ends_with(" (image=localhost/bb:latest, name=web2, app=web)"),
            "{out}"
        );
        // --until before everything, and --since after everything: nothing.
        assert!(logged(ctx, &["--until", "2000-01-01"]).is_empty());
        assert!(logged(ctx, &["--since", "-1h"]).is_empty());

        // Bad input: one line, 125.
        ctx.fail(&["events", "--filter", "colour=red"]);
        ctx.fail(&["events", "--filter", "type=bogus"]);
        ctx.fail(&["events", "--since", "yesterday"]);
        ctx.fail(&["events", "--format", "{{.Status"]);
    });
}

#[test]
fn events_stream_as_they_happen() {
    if !have_busybox() {
        return;
    }
    for_each_user("events_stream", |ctx| {
        assert!(setup_image(ctx));
        // --since makes the stream start with what is logged since then,
        // so the run below cannot happen before the stream is ready.
        let mut cmd = ctx.rless_cmd(&[
            "events",
            "--since",
            "5m",
            "--filter",
            "event=died",
            "--format",
            "{{.Name}} {{.ContainerExitCode}}",
        ]);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        run(ctx, &["--name", "s1", IMG, "sh", "-c", "exit 3"]);
        run(ctx, &["--name", "s2", IMG, "sh", "-c", "exit 4"]);
        let mut got = Vec::new();
        while got.len() < 2 {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => got.push(l),
                Err(_) => break,
            }
        }
        let still_running = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(got, ["s1 3", "s2 4"]);
        assert!(still_running, "the stream ended by itself");

        // A stream with --until ends by itself once that time passes.
        let out = ctx.ok(&[
            "events",
            "--since",
            "5m",
            "--until",
            "-2s",
            "--filter",
            "container=s1",
            "--filter",
            "event=create",
        ]);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
    });
}
