//! Container lifecycle: `inspect` of running and exited containers, the
//! `ps` filters and names, and bad input to `run`, `ps`, `logs` and
//! `inspect`. `run -d`, `ps` and `logs` are in `lifecycle.rs`.
//!
//! Every scenario builds a small busybox root filesystem in its work dir
//! and imports it (`rless import DIR bb`), so no registry is needed.
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

// ------------------------------------------------------------------ inspect, ps, names

#[test]
fn lifecycle_inspect_ps_filters() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_inspect_ps_filters", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let web1 = run_sh(ctx, &["--name", "web-one"], FOREVER);
        let other = run_sh(ctx, &["--name", "other"], "exit 3");
        let web2 = run_sh(ctx, &["--name", "web-two"], "exit 0");
        ctx.ok(&["wait", &other, &web2]);

        // inspect: running
        let st = inspect(ctx, "web-one");
        assert_eq!(st["Id"], web1.as_str(), "{st}");
        assert_eq!(st["Name"], "web-one", "{st}");
        assert_eq!(state_of(&st)["Status"], "running", "{st}");
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 0, "{st}");
        let pid = state_of(&st)["Pid"].as_i64().unwrap_or(0);
        assert!(
            pid > 0 && pid_alive(pid),
            "State.Pid must be the live init: {st}"
        );
        // The init hides the host's command line; its parent, the
        // monitor, has this store's.
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert_eq!(cmdline, b"rless-init\0", "State.Pid {pid} must be an init");
        let init = common::checks::host_processes()
            .into_iter()
            .find(|p| i64::from(p.pid) == pid);
        assert!(
            init.is_some_and(|p| p.args.contains(&ctx.root.to_string_lossy().to_string()))
                || !common::is_root(),
            "State.Pid {pid} must be this container's init (a child of a monitor of this store)"
        );
        // A time, not Go's zero time of a container never started.
        let started = state_of(&st)["StartedAt"].as_str().unwrap_or_default();
        assert!(parse_time(started).is_some_and(|t| t > 0), "{st}");
        assert_eq!(st["Config"]["Cmd"][0], "sh", "{st}");
        assert_eq!(st["GraphDriver"]["Name"], "overlay", "{st}");
        assert!(st["Mounts"].is_array(), "{st}");
        assert_eq!(
            st["LogPath"].as_str().map(Path::new),
            Some(container_dir(ctx, &web1).join("ctr.log").as_path()),
            "{st}"
        );
        // inspect: exited
        let st = inspect(ctx, "other");
        assert_eq!(state_of(&st)["Status"], "exited", "{st}");
        assert_eq!(state_of(&st)["Running"], false, "{st}");
        assert_eq!(state_of(&st)["ExitCode"], 3, "{st}");
        assert_eq!(state_of(&st)["Pid"], 0, "{st}");
        let finished = state_of(&st)["FinishedAt"].as_str().unwrap_or_default();
        assert!(parse_time(finished).is_some_and(|t| t > 0), "{st}");
        // Several at once; container inspect is the same.
        let out = ctx.ok(&["inspect", "web-one", &other]);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(2), "{out}");
        let out = ctx.ok(&["container", "inspect", "other"]);
        let v: Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v[0]["Id"], other.as_str(), "{out}");

        // ps
        let rows = ps_json(ctx, &[]);
        assert_eq!(
            json_ids(&rows),
            BTreeSet::from([web1.clone()]),
            "ps: only running"
        );
        assert_eq!(rows[0]["Names"], serde_json::json!(["web-one"]), "{rows:?}");
        assert_eq!(rows[0]["State"], "running", "{rows:?}");
        let rows = ps_json(ctx, &["-a"]);
        assert_eq!(
            json_ids(&rows),
            BTreeSet::from([web1.clone(), other.clone(), web2.clone()]),
            "ps -a: all"
        );
        let o = rows.iter().find(|r| r["Id"] == other.as_str()).unwrap();
        assert_eq!(o["State"], "exited", "{o}");
        assert_eq!(o["ExitCode"], 3, "{o}");
        assert!(
            o["Status"].as_str().unwrap().starts_with("Exited (3) ")
                && o["Status"].as_str().unwrap().ends_with(" ago"),
            "{o}"
        );
        let out = ctx.ok(&["ps", "-q"]);
        assert_eq!(out.stdout, format!("{}\n", &web1[..12]), "ps -q: {out}");
        let out = ctx.ok(&["ps", "-q", "--no-trunc"]);
        assert_eq!(out.stdout, format!("{web1}\n"), "ps -q --no-trunc: {out}");
        let out = ctx.ok(&["ps", "-aq"]);
        let ids: BTreeSet<&str> = out.stdout.lines().collect();
        assert_eq!(
            ids,
            BTreeSet::from([&web1[..12], &other[..12], &web2[..12]]),
            "ps -aq: {out}"
        );
        let out = ctx.ok(&["ps", "-a", "--no-trunc"]);
        assert!(
            out.stdout.contains(&web1) && out.stdout.contains(&other),
            "{out}"
        );
        let out = ctx.ok(&["ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} web-one Up ", &web1[..12]))),
            "{out}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{} other Exited (3) ", &other[..12]))),
            "{out}"
        );
        // Filters.
        let ids_of = |args: &[&str]| -> BTreeSet<String> {
            let mut a = vec!["-a"];
            a.extend_from_slice(args);
            json_ids(&ps_json(ctx, &a))
        };
        assert_eq!(
            ids_of(&["--filter", "name=web"]),
            BTreeSet::from([web1.clone(), web2.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "name=other"]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["-f", &format!("id={}", &other[..6])]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "status=exited"]),
            BTreeSet::from([other.clone(), web2.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "status=running"]),
            BTreeSet::from([web1.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "exited=3"]),
            BTreeSet::from([other.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "exited=0"]),
            BTreeSet::from([web2.clone()])
        );
        assert_eq!(ids_of(&["--filter", "ancestor=bb"]).len(), 3);
        assert!(ids_of(&["--filter", "ancestor=nothing-like-it"]).is_empty());
        assert_eq!(
            ids_of(&["--filter", "name=web", "--filter", "status=exited"]),
            BTreeSet::from([web2.clone()]),
            "filters combine with AND"
        );
        assert_eq!(
            ids_of(&["--filter", "name=web-one", "--filter", "name=other"]),
            BTreeSet::from([web1.clone(), other.clone()]),
            "the same key twice is either (docker's rule)"
        );
        // A container made right after (within the same second, which
        // ordered them at random, found by a bug hunt): -l, -n, before=,
        // since=, volume=.
        let bind = ctx.work.join("bsrc");
        fs::create_dir_all(&bind).unwrap();
        let bind_spec = format!("{}:/bsrc", bind.display());
        let late = run_d(
            ctx,
            &[
                "--name",
                "late",
                "-v",
                "fvol:/data",
                "-v",
                &bind_spec,
                IMG,
                "true",
            ],
        );
        ctx.ok(&["wait", &late]);
        let out = ctx.ok(&["ps", "-l", "-q", "--no-trunc"]);
        assert_eq!(out.stdout, format!("{late}\n"), "{out}");
        assert_eq!(ctx.ok(&["ps", "-n", "3", "-q"]).stdout.lines().count(), 3);
        assert_eq!(
            ids_of(&["--filter", "since=web-two"]),
            BTreeSet::from([late.clone()])
        );
        assert_eq!(
            ids_of(&["--filter", "before=late"]),
            BTreeSet::from([web1.clone(), other.clone(), web2.clone()])
        );
        let by_source = format!("volume={}", bind.display());
        for v in ["volume=fvol", "volume=/data", "volume=/bsrc", &by_source] {
            assert_eq!(
                ids_of(&["--filter", v]),
                BTreeSet::from([late.clone()]),
                "{v}"
            );
        }
        ctx.ok(&["rm", "-v", "late"]);
        // status=exited without -a still lists exited ones (as docker does).
        assert_eq!(
            json_ids(&ps_json(ctx, &["--filter", "status=exited"])),
            BTreeSet::from([other.clone(), web2.clone()])
        );
        for bad in [
            "bogus=1",
            "noequals",
            "before=no-such-container",
            "status=bogus",
            "exited=three",
        ] {
            ctx.rless(&["ps", "--filter", bad]).assert_rless_error();
        }

        // Resolution: full id, unique id prefix, name; exact name beats an id prefix.
        for q in [web1.as_str(), &web1[..12], &web1[..5], "web-one"] {
            assert_eq!(inspect(ctx, q)["Id"], web1.as_str(), "inspect {q}");
        }
        // A container named like another's id prefix.
        let prefix = &other[..6];
        let named = run_d(ctx, &["--name", prefix, IMG, "true"]);
        assert_eq!(
            inspect(ctx, prefix)["Id"],
            named.as_str(),
            "an exact name must win over an id prefix"
        );
        // Unknown and ambiguous.
        for q in [
            "nope",
            "web",
            "web-on",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "",
        ] {
            let out = ctx.rless(&["inspect", q]);
            assert_one_error(&out, ERR_EXIT);
        }
        // Make two ids share a first digit, then use that digit.
        let mut seen: Vec<String> = containers(ctx);
        let shared = loop {
            let mut firsts: Vec<char> = seen.iter().map(|i| i.chars().next().unwrap()).collect();
            firsts.sort();
            if let Some(w) = firsts.windows(2).find(|w| w[0] == w[1]) {
                break w[0];
            }
            assert!(seen.len() < 20, "pigeonhole");
            seen.push(run_d(ctx, &[IMG, "true"]));
        };
        let q = shared.to_string();
        // The digit may be a container's name only if we named one so; we did not.
        for cmd in [
            vec!["inspect", &q],
            vec!["logs", &q],
            vec!["rm", &q],
            vec!["wait", &q],
        ] {
            let out = ctx.rless(&cmd);
            assert_one_error(&out, ERR_EXIT);
            assert!(
                out.stderr.contains("ambiguous"),
                "an ambiguous prefix must say so: {out}"
            );
        }
        ctx.ok(&["stop", "web-one"]);
    });
}

// ------------------------------------------------------------------ bad input

#[test]
fn lifecycle_bad_input() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_bad_input", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let first = run_sh(ctx, &["--name", "dup"], &format!("echo ready; {FOREVER}"));
        wait_log(ctx, "dup", "ready");
        let st0 = inspect(ctx, "dup");

        // Unknown container, for every command.
        let cmds: Vec<Vec<&str>> = vec![
            vec!["logs", "nope"],
            vec!["logs", "-f", "nope"],
            vec!["stop", "nope"],
            vec!["stop", "-t", "0", "nope"],
            vec!["kill", "nope"],
            vec!["kill", "-s", "USR1", "nope"],
            vec!["wait", "nope"],
            vec!["restart", "nope"],
            vec!["start", "nope"],
            vec!["start", "-a", "nope"],
            vec!["inspect", "nope"],
            vec!["container", "inspect", "nope"],
            vec!["exec", "nope", "true"],
            vec!["exec", "-d", "nope", "true"],
        ];
        for c in &cmds {
            let out = ctx.rless(c);
            assert_one_error(&out, ERR_EXIT);
            assert!(
                out.stdout.is_empty(),
                "nothing on stdout for an error: {out}"
            );
        }
        // Removals exit as podman's: 1 for a name that does not exist,
        // and -f, -i or -a pass over such names silently.
        for c in [vec!["rm", "nope"], vec!["container", "rm", "nope"]] {
            let out = ctx.rless(&c);
            assert_one_error(&out, 1);
            assert!(out.stdout.is_empty(), "{out}");
        }
        for flag in ["-f", "-i", "--ignore"] {
            let out = ctx.ok(&["rm", flag, "nope"]);
            assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
        }
        // A known and an unknown one: the unknown one named, and the
        // running one refused (status 2, podman's for a running one).
        let out = ctx.rless(&["rm", "nope", "dup"]);
        assert_eq!(out.code, Some(2), "{out}");
        assert!(
            out.stderr.contains("nope"),
            "the error must name the unknown container: {out}"
        );
        assert!(
            container_dir(ctx, &first).is_dir(),
            "rm nope dup (no -f) must not remove the running dup"
        );

        // Duplicate name: refused, the first untouched.
        for args in [
            vec!["run", "-d", "--name", "dup", IMG, "true"],
            vec!["run", "--name", "dup", IMG, "true"],
            vec!["run", "-d", "--rm", "--name", "dup", IMG, "true"],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, ERR_EXIT);
            assert!(out.stderr.contains("dup"), "{out}");
            assert_eq!(
                containers(ctx),
                vec![first.clone()],
                "a refused run left a container: {out}"
            );
        }
        let st = inspect(ctx, "dup");
        assert_eq!(st["Id"], first.as_str());
        assert_eq!(state_of(&st)["Running"], true, "{st}");
        assert_eq!(state_of(&st)["Pid"], state_of(&st0)["Pid"], "{st}");
        assert_eq!(ctx.ok(&["logs", "dup"]).stdout, "ready\n");

        // Bad names and flags.
        let bad: Vec<Vec<&str>> = vec![
            vec!["run", "-d", "--name", "bad/name", IMG, "true"],
            vec!["run", "-d", "--name", "-x", IMG, "true"],
            vec!["run", "-d", "--bogus", IMG, "true"],
            vec!["ps", "--bogus"],
            vec!["ps", "--format"],
            vec!["logs", "--tail", "abc", "dup"],
            vec!["logs", "--tail", "-1", "dup"],
            vec!["logs", "--since", "yesterday", "dup"],
            vec!["logs", "--since", "10x", "dup"],
            vec!["logs", "--until", "1h30", "dup"],
            vec!["logs", "--since", "2020-02-30", "dup"],
            vec!["logs", "--bogus", "dup"],
            vec!["logs"],
            vec!["logs", "dup", "extra"],
            vec!["stop", "-t", "abc", "dup"],
            vec!["stop"],
            vec!["restart", "-t", "-5", "dup"],
            vec!["kill", "-s", "NOSUCHSIG", "dup"],
            vec!["kill"],
            vec!["wait"],
            vec!["rm"],
            vec!["rm", "--bogus", "dup"],
            vec!["start"],
            vec!["exec"],
            vec!["exec", "dup"],
            vec!["exec", "--bogus", "dup", "true"],
            vec!["inspect"],
            vec!["inspect", "--format", "{{.Nope}}", "dup"],
            vec!["inspect", "--format", "{{ .Id ", "dup"],
            vec!["container", "prune", "--bogus"],
        ];
        for c in &bad {
            let out = ctx.rless(c);
            assert_one_error(&out, ERR_EXIT);
        }
        assert_eq!(containers(ctx), vec![first.clone()]);
        let st = inspect(ctx, "dup");
        assert_eq!(
            state_of(&st)["Running"],
            true,
            "bad input must leave dup running: {st}"
        );
        assert_eq!(state_of(&st)["Pid"], state_of(&st0)["Pid"], "{st}");
        ctx.ok(&["rm", "-f", "dup"]);
    });
}
