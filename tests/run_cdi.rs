//! CDI devices: `rless run --device VENDOR/CLASS=NAME` and `--gpus` with
//! spec files the tests write into a directory named by
//! `RLESS_CDI_SPEC_DIRS`: device nodes bound from /dev/null, a mount of a
//! host directory, environment, additional groups, OCI hooks (a
//! createContainer hook that records its state and writes into the root,
//! a startContainer hook run inside, poststart and poststop hooks that
//! record theirs), `inspect`'s HostConfig.Devices, `info`, and
//! the refusals (unknown names, malformed specs, missing host paths, a
//! failing hook), each with nothing left behind.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::rootfs::user_dir;
use common::run_helpers::*;
use common::{for_each_user, run_cmd, Ctx, Mode, Out, CMD_TIMEOUT, ERR_EXIT};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `rless ARGS…` with the CDI spec directory `specs`.
fn cdi(ctx: &Ctx, specs: &Path, args: &[&str]) -> Out {
    let mut c = ctx.rless_cmd(args);
    c.env("RLESS_CDI_SPEC_DIRS", specs);
    run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name)
}

/// `rless ARGS…` with the CDI spec directory `specs`, which must succeed.
fn cdi_ok(ctx: &Ctx, specs: &Path, args: &[&str]) -> Out {
    let out = cdi(ctx, specs, args);
    assert!(out.success(), "{out}");
    out
}

/// `rless run --rm OPTS… IMG sh -c SCRIPT` with the CDI spec directory
/// `specs`, which must succeed.
fn cdi_sh(ctx: &Ctx, specs: &Path, opts: &[&str], script: &str) -> Out {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[IMG, "sh", "-c", script]);
    cdi_ok(ctx, specs, &args)
}

/// `rless run --rm OPTS… IMG true` with the CDI spec directory `specs`
/// must be refused: one line saying `why`, exit 125, no container left.
fn cdi_refused(ctx: &Ctx, specs: &Path, opts: &[&str], why: &str) -> Out {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[IMG, "true"]);
    let out = cdi(ctx, specs, &args);
    assert_one_error(&out, ERR_EXIT);
    assert!(out.stderr.contains(why), "{why}: {out}");
    assert_no_containers(ctx, &out.cmdline);
    out
}

/// The JSON in a file (what a hook recorded).
fn read_json(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// A spec directory holding `files` (name, text).
fn specs(ctx: &Ctx, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    for (f, text) in files {
        ctx.write_file(&format!("{name}/{f}"), text.as_bytes());
    }
    user_dir(ctx, name)
}

/// An executable script under the work dir.
fn script(ctx: &Ctx, rel: &str, body: &str) -> std::path::PathBuf {
    let p = ctx.write_file(rel, format!("#!/bin/sh\n{body}").as_bytes());
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn cdi_device_env_mount_and_groups() {
    if !have_busybox() {
        return;
    }
    for_each_user("cdi_device_env_mount_and_groups", |ctx| {
        assert!(setup_image(ctx));
        let data = user_dir(ctx, "data");
        ctx.write_file("data/from-host", b"host data\n");
        let spec = format!(
            r#"cdiVersion: "0.6.0"
kind: example.com/fake
containerEdits:
  env: [CDI_SHARED=yes]
devices:
  - name: one
    containerEdits:
      env: ["CDI_ONE=1"]
      deviceNodes:
        - path: /dev/fake0
          hostPath: /dev/null
          type: c
          permissions: rw
      mounts:
        - hostPath: {}
          containerPath: /cdi-data
          options: [ro, nosuid, nodev, bind]
      additionalGIDs: [4242]
  - name: two
    containerEdits:
      deviceNodes:
        - path: /dev/fake1
          hostPath: /dev/zero
"#,
            data.display()
        );
        let dir = specs(ctx, "cdi", &[("fake.yaml", &spec)]);
        let out = cdi_sh(
            ctx,
            &dir,
            &["--device", "example.com/fake=one"],
            "ls -l /dev/fake0 | cut -c1; echo x > /dev/fake0 && echo written; \
             cat /cdi-data/from-host; touch /cdi-data/new 2>/dev/null || echo ro; \
             echo $CDI_SHARED $CDI_ONE; id -G",
        );
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines[..5],
            ["c", "written", "host data", "ro", "yes 1"],
            "{out}"
        );
        assert!(!data.join("new").exists());
        match ctx.user.mode {
            Mode::Subuid => assert!(lines[5].split(' ').any(|g| g == "4242"), "{out}"),
            Mode::Single => assert!(out.stderr.contains("additionalGIDs"), "{out}"),
        }
        // keep-groups takes no others: the spec's are left out.
        let out = cdi_ok(
            ctx,
            &dir,
            &[
                "run",
                "--rm",
                "--group-add",
                "keep-groups",
                "--device",
                "example.com/fake=one",
                IMG,
                "true",
            ],
        );
        assert!(out.stderr.contains("keep-groups keeps"), "{out}");
        // `all`: every device of the kind (the spec has no device named
        // all); the same through JSON.
        let json = spec_json("example.org/dev", "/dev/zero");
        let dir2 = specs(ctx, "cdi2", &[("b.json", &json)]);
        let all = ["--device", "example.com/fake=all"];
        let out = cdi_sh(ctx, &dir, &all, "ls /dev/fake0 /dev/fake1");
        assert_eq!(out.stdout, "/dev/fake0\n/dev/fake1\n", "{out}");
        let x = ["--device", "example.org/dev=x"];
        let out = cdi_sh(ctx, &dir2, &x, "head -c 3 /dev/json0 | od -An -tx1");
        assert_eq!(out.stdout.trim(), "00 00 00", "{out}");
        // info lists the devices found.
        let info = cdi_ok(ctx, &dir, &["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        assert_eq!(
            v["CDI"]["Devices"],
            serde_json::json!(["example.com/fake=one", "example.com/fake=two"]),
            "{info}"
        );
        // inspect shows the CDI name and the host device.
        cdi_ok(
            ctx,
            &dir,
            &[
                "create",
                "--name",
                "c",
                "--device",
                "example.com/fake=two",
                "--device",
                "/dev/null:/dev/n2",
                IMG,
                "true",
            ],
        );
        let out = ctx.ok(&["inspect", "--format", "{{json .HostConfig.Devices}}", "c"]);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(
            v,
            serde_json::json!([
                {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2", "CgroupPermissions": "rwm"},
                {"PathOnHost": "example.com/fake=two", "PathInContainer": "example.com/fake=two", "CgroupPermissions": ""},
            ]),
            "{out}"
        );
        // The spec is read at create: start needs no spec directory.
        let out = ctx.ok(&["start", "-a", "c"]);
        assert!(out.success(), "{out}");
        ctx.ok(&["rm", "c"]);
    });
}

fn spec_json(kind: &str, host: &str) -> String {
    serde_json::json!({
        "cdiVersion": "0.8.0",
        "kind": kind,
        "devices": [{"name": "x", "containerEdits": {
            "deviceNodes": [{"path": "/dev/json0", "hostPath": host}]
        }}]
    })
    .to_string()
}

#[test]
fn cdi_hooks() {
    if !have_busybox() {
        return;
    }
    for_each_user("cdi_hooks", |ctx| {
        assert!(setup_image(ctx));
        let record = user_dir(ctx, "record");
        let hook = script(
            ctx,
            "hook.sh",
            &format!(
                "state=$(cat)\n\
                 echo \"$state\" > {rec}/state.json\n\
                 echo \"$1 $HOOKVAR\" > {rec}/args\n\
                 bundle=$(echo \"$state\" | sed 's/.*\"bundle\":\"\\([^\"]*\\)\".*/\\1/')\n\
                 root=$(sed -n 's/.*\"path\": \"\\([^\"]*\\)\".*/\\1/p' \"$bundle/config.json\" | head -n1)\n\
                 echo made-by-hook > \"$root/hooked\"\n",
                rec = record.display()
            ),
        );
        let spec = format!(
            r#"cdiVersion: "0.5.0"
kind: example.com/hooked
devices:
  - name: h
    containerEdits:
      hooks:
        - hookName: createContainer
          path: {}
          args: [my-hook, first]
          env: [PATH=/usr/bin:/bin, HOOKVAR=set]
          timeout: 60
        - hookName: startContainer
          path: /bin/sh
          args: [sh, -c, "cat > /started"]
        - hookName: poststart
          path: /bin/sh
          args: [sh, -c, "cat > {rec}/poststart"]
          env: [PATH=/usr/bin:/bin]
        - hookName: poststop
          path: /bin/sh
          args: [sh, -c, "cat > {rec}/poststop"]
          env: [PATH=/usr/bin:/bin]
"#,
            hook.display(),
            rec = record.display()
        );
        let dir = specs(ctx, "cdi", &[("hooks.yaml", &spec)]);
        let out = cdi_ok(
            ctx,
            &dir,
            &[
                "run",
                "--name",
                "hk",
                "--annotation",
                "a.b=c",
                "--device",
                "example.com/hooked=h",
                IMG,
                "sh",
                "-c",
                "cat /hooked; cat /started",
            ],
        );
        let mut lines = out.stdout.lines();
        assert_eq!(lines.next(), Some("made-by-hook"), "{out}");
        // The startContainer hook got the state on stdin, inside.
        let inside: serde_json::Value =
            serde_json::from_str(lines.next().unwrap_or_default()).unwrap();
        assert_eq!(inside["status"], "created", "{out}");
        assert_eq!(
            fs::read_to_string(record.join("args")).unwrap(),
            "first set\n"
        );
        let id = ctx.ok(&["inspect", "--format", "{{.Id}}", "hk"]).stdout;
        let state = read_json(&record.join("state.json"));
        assert_eq!(state["id"], id.trim());
        assert_eq!(state["status"], "creating");
        assert_eq!(state["annotations"]["a.b"], "c");
        assert!(state["pid"].as_u64().is_some_and(|p| p > 1), "{state}");
        let bundle = Path::new(state["bundle"].as_str().unwrap());
        assert!(bundle.ends_with(format!("{}/bundle", id.trim())), "{state}");
        let post = read_json(&record.join("poststart"));
        assert_eq!(post["status"], "running");
        assert_eq!(post["id"], id.trim());
        // poststop: once the container has ended, before `run` returns.
        let stop = read_json(&record.join("poststop"));
        assert_eq!(stop["status"], "stopped");
        assert_eq!(stop["id"], id.trim());
        let config = read_json(&bundle.join("config.json"));
        assert!(config["root"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("merged")));
        assert_eq!(inside["id"], id.trim());
        ctx.ok(&["rm", "hk"]);

        // A failing hook fails the start: one line naming it, exit 125.
        let bad = script(ctx, "bad.sh", "exit 3\n");
        let spec = format!(
            "cdiVersion: \"0.6.0\"\nkind: example.com/bad\ndevices:\n  - name: b\n    containerEdits:\n      hooks:\n        - {{hookName: createContainer, path: {}}}\n",
            bad.display()
        );
        let dir = specs(ctx, "cdi-bad", &[("bad.yaml", &spec)]);
        let out = cdi_refused(
            ctx,
            &dir,
            &["--device", "example.com/bad=b"],
            "createContainer hook",
        );
        assert!(out.stderr.contains("bad.sh"), "{out}");
    });
}

#[test]
fn cdi_refusals() {
    if !have_busybox() {
        return;
    }
    for_each_user("cdi_refusals", |ctx| {
        assert!(setup_image(ctx));
        let good = specs(
            ctx,
            "good",
            &[("s.json", &spec_json("example.org/dev", "/dev/null"))],
        );
        let missing = specs(
            ctx,
            "missing",
            &[("s.json", &spec_json("example.org/dev", "/dev/no-such-cdi"))],
        );
        let malformed = specs(
            ctx,
            "malformed",
            &[("broken.yaml", "cdiVersion: \"0.6.0\"\nkind: example.org/dev\ndevices: [{name: x, containerEdits: {env: [NOEQUALS]}}]\n")],
        );
        let nfs = specs(
            ctx,
            "nfs",
            &[("n.yaml", "cdiVersion: \"0.6.0\"\nkind: example.org/dev\ndevices: [{name: x, containerEdits: {mounts: [{hostPath: /etc, containerPath: /x, type: nfs}]}}]\n")],
        );
        let cases: [(&Path, &[&str], &str); 7] = [
            (
                &good,
                &["--device", "example.org/dev=y"],
                "has no device \"y\"",
            ),
            (&good, &["--device", "example.org/other=x"], "no spec in"),
            (
                &good,
                &["--device", "example.org/dev=-x"],
                "invalid CDI device name",
            ),
            (&good, &["--gpus", "all"], "nvidia-ctk cdi generate"),
            (
                &missing,
                &["--device", "example.org/dev=x"],
                "/dev/no-such-cdi does not exist",
            ),
            (
                &malformed,
                &["--device", "example.org/dev=x"],
                "broken.yaml",
            ),
            (&nfs, &["--device", "example.org/dev=x"], "only binds"),
        ];
        for (dir, opts, why) in cases {
            cdi_refused(ctx, dir, opts, why);
        }
        // --gpus maps to nvidia.com/gpu names.
        let gpu = specs(
            ctx,
            "gpu",
            &[("nvidia.json", &spec_json("nvidia.com/gpu", "/dev/null"))],
        );
        for gpus in ["device=x", "1"] {
            cdi_ok(
                ctx,
                &gpu,
                &["run", "--rm", "--gpus", gpus, IMG, "ls", "/dev/json0"],
            );
        }
    });
}
