//! rless as batch jobs use it (Slurm, PBS) on shared and HPC nodes: no
//! terminal, stdin from /dev/null, an environment the scheduler made.
//!
//! - `-e 'PREFIX*'` (and an env-file line `PREFIX*`) passes every variable
//!   of the caller with that prefix, as podman does (`-e 'SLURM_*'`), in
//!   `run` and `exec`; `-e 'PREFIX*=v'` stays a literal name.
//! - An `XDG_RUNTIME_DIR` that names no directory of the user's (a job
//!   inherits the login node's `/run/user/UID`, which the compute node
//!   lacks; `sudo -u` keeps the caller's) does not
//!   stop a user-defined network: its helper goes under
//!   `/tmp/rless-run-UID` as without the variable.
//! - A job's `umask 077` does not reach what rless makes for a container
//!   (its `/`, `/etc/hosts`, volumes, a build step's directories) nor the
//!   container's processes (0022, as podman, which sets its own umask).
//! - The lock file `rm` leaves of each container (`locks/ctr-<id>`) goes
//!   with the next command that takes the store lock exclusively (a job
//!   array made thousands).
//! - A job array: 16 `run --rm` of an image the store lacks, at once,
//!   with stdin /dev/null: every one pulls or waits for the others' pull,
//!   runs, and leaves nothing (no container, `.tmp-` entry, mount or
//!   process), the store holding the image once.
//! - A store in a project's set-group-id directory: containers run (the
//!   group, which the user namespace does not map, was inherited by every
//!   layer file, and the overlay could not copy one up).
//! - What a killed pull left (a partial blob, a half-extracted layer, named
//!   after its dead pid) goes with the next pull, not only with the next
//!   exclusive store lock holder; a live process's entry stays.
//! - Credentials in `~/.config/containers/auth.json` (podman's persistent
//!   file, which outlives the login session's `XDG_RUNTIME_DIR`) are read:
//!   a job pulls a private image without logging in; an `XDG_RUNTIME_DIR`
//!   of another user's (kept by `sudo -u`) is passed by, not an error.
//!
//! The scenarios import the busybox root filesystem as `bb` (no registry), but
//! the job array's, the killed pull's and the credentials', which pull from the
//! test registries.

mod common;

use common::checks::*;
use common::run_helpers::*;
use common::{for_each_user, run_cmd, Ctx, Out, CMD_TIMEOUT};

/// `rless ARGS…` with these variables added to the user's environment and
/// stdin from /dev/null, as in a batch job.
fn batch(ctx: &Ctx, env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut cmd = ctx.rless_cmd(args);
    cmd.envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    run_cmd(cmd, None, CMD_TIMEOUT, &ctx.user.name)
}

/// `rless ARGS…` started by a shell with `umask 077`, stdin /dev/null.
fn private_umask(ctx: &Ctx, args: &[&str]) -> Out {
    let mut cmd = ctx.command(std::path::Path::new("/bin/sh"));
    cmd.args(["-c", "umask 077; exec \"$@\"", "sh"])
        .arg(common::rless_bin())
        .arg("--root")
        .arg(&ctx.root)
        .args(args)
        .stdin(std::process::Stdio::null());
    run_cmd(cmd, None, CMD_TIMEOUT, &ctx.user.name)
}

const JOB_ENV: &[(&str, &str)] = &[
    ("SLURM_JOB_ID", "4242"),
    ("SLURM_NTASKS", "8"),
    ("SLURMISH", "no"),
    ("OMPI_RANK", "3"),
];

#[test]
fn run_batch_env_prefix() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_batch_env_prefix", |ctx| {
        assert!(setup_image(ctx));
        let out = batch(
            ctx,
            JOB_ENV,
            &["run", "--rm", "-e", "SLURM_*", "-e", "NOPE_*", IMG, "env"],
        );
        assert!(out.success(), "{out}");
        let env = env_map(&out.stdout);
        assert_eq!(env.get("SLURM_JOB_ID").map(String::as_str), Some("4242"));
        assert_eq!(env.get("SLURM_NTASKS").map(String::as_str), Some("8"));
        assert!(!env.contains_key("SLURMISH"), "not the prefix: {out}");
        assert!(!env.contains_key("OMPI_RANK"), "not asked for: {out}");
        assert!(
            !env.keys().any(|k| k.contains('*')),
            "a prefix is no variable: {out}"
        );
        // With a value it is a name like any other (podman's `ENV*=b`).
        let out = batch(ctx, JOB_ENV, &["run", "--rm", "-e", "OMPI_*=b", IMG, "env"]);
        let env = env_map(&out.stdout);
        assert_eq!(env.get("OMPI_*").map(String::as_str), Some("b"), "{out}");
        assert!(!env.contains_key("OMPI_RANK"), "{out}");
        // An env-file line too, and `exec`.
        let file = ctx.write_file("job.env", b"# the job's\nOMPI_*\nA=1\n");
        let out = batch(
            ctx,
            JOB_ENV,
            &[
                "run",
                "-d",
                "--name",
                "c",
                "--env-file",
                file.to_str().unwrap(),
                IMG,
                "sleep",
                "60",
            ],
        );
        assert!(out.success(), "{out}");
        let out = batch(ctx, JOB_ENV, &["exec", "c", "env"]);
        let env = env_map(&out.stdout);
        assert_eq!(env.get("OMPI_RANK").map(String::as_str), Some("3"), "{out}");
        assert_eq!(env.get("A").map(String::as_str), Some("1"), "{out}");
        let out = batch(ctx, JOB_ENV, &["exec", "-e", "SLURM_*", "c", "env"]);
        let env = env_map(&out.stdout);
        assert_eq!(env.get("SLURM_JOB_ID").map(String::as_str), Some("4242"));
        assert!(!env.contains_key("SLURMISH"), "{out}");
        ctx.ok(&["rm", "-f", "c"]);
    });
}

#[test]
fn run_batch_missing_runtime_dir() {
    use common::usernet_helpers as net;
    for_each_user("run_batch_missing_runtime_dir", |ctx| {
        if !net::setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "jobnet"]);
        // Nobody may make it: / is root's.
        let gone = format!("/rless-no-such-run-dir/{}", ctx.user.uid);
        let env = [("XDG_RUNTIME_DIR", gone.as_str())];
        let out = batch(
            ctx,
            &env,
            &[
                "run",
                "--rm",
                "--network",
                "jobnet",
                net::IMG,
                "sh",
                "-c",
                "ip -4 addr show eth0 | grep -c inet",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), "1", "{out}");
        assert!(net::helper_gone(ctx), "the helper did not exit");
        assert!(net::leftovers(ctx).is_empty(), "{:?}", net::leftovers(ctx));
        // One that is someone else's (`sudo -u` keeps the caller's).
        let env = [("XDG_RUNTIME_DIR", "/")];
        let out = batch(
            ctx,
            &env,
            &["run", "--rm", "--network", "jobnet", net::IMG, "true"],
        );
        assert!(out.success(), "{out}");
        assert!(net::helper_gone(ctx), "the helper did not exit");
        let out = batch(ctx, &env, &["network", "rm", "jobnet"]);
        assert!(out.success(), "{out}");
        // The helper's directory of this store, which `system reset` (run
        // with the harness's XDG_RUNTIME_DIR) does not see.
        let canon = ctx.root.canonicalize().unwrap();
        let digest = rless::image::digest::Digest::of(canon.as_os_str().as_encoded_bytes());
        let dir = std::path::PathBuf::from(format!("/tmp/rless-run-{}/rless", ctx.user.uid))
            .join(format!("net-{}", &digest.hex()[..12]));
        assert!(dir.is_dir(), "no helper directory {}", dir.display());
        let _ = std::fs::remove_dir_all(&dir);
        // And what held it, when nothing else is in there (remove_dir
        // fails on a directory that is not empty).
        if let Some(rless_dir) = dir.parent() {
            let _ = std::fs::remove_dir(rless_dir);
            if let Some(base) = rless_dir.parent() {
                let _ = std::fs::remove_dir(base);
            }
        }
    });
}

#[test]
fn run_batch_umask_077() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_batch_umask_077", |ctx| {
        assert!(setup_image(ctx));
        let host = common::rootfs::user_dir(ctx, "host");
        let target = "/made/for/bind";
        let script = "umask; stat -c '%a %n' / /etc/hosts /etc/hostname /etc/resolv.conf /vol /named /made /made/for";
        let out = private_umask(
            ctx,
            &[
                "run",
                "--rm",
                "-v",
                "/vol",
                "-v",
                "jobvol:/named",
                "-v",
                &format!("{}:{target}", host.display()),
                IMG,
                "sh",
                "-c",
                script,
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout,
            "0022\n755 /\n644 /etc/hosts\n644 /etc/hostname\n644 /etc/resolv.conf\n\
             755 /vol\n755 /named\n755 /made\n755 /made/for\n",
            "{out}"
        );
        // A container's non-root user gets in (subordinate ids only).
        if ctx.user.mode == common::Mode::Subuid {
            let out = private_umask(
                ctx,
                &[
                    "run",
                    "--rm",
                    "-u",
                    "1000",
                    IMG,
                    "sh",
                    "-c",
                    "cat /etc/hostname >/dev/null && ls / >/dev/null && echo in",
                ],
            );
            assert_eq!(out.stdout, "in\n", "{out}");
        }
        // exec too, and the directories of a build step.
        let out = private_umask(ctx, &["run", "-d", "--name", "c", IMG, "sleep", "60"]);
        assert!(out.success(), "{out}");
        let out = private_umask(ctx, &["exec", "c", "sh", "-c", "umask"]);
        assert_eq!(out.stdout, "0022\n", "{out}");
        ctx.ok(&["rm", "-f", "c"]);
        let dir = common::rootfs::user_dir(ctx, "ctx");
        ctx.write_file(
            "ctx/Containerfile",
            b"FROM bb\nRUN mkdir -p /app/data && touch /app/f\n",
        );
        let out = private_umask(ctx, &["build", "-q", "-t", "built", dir.to_str().unwrap()]);
        assert!(out.success(), "{out}");
        let out = ctx.ok(&[
            "run",
            "--rm",
            "built",
            "stat",
            "-c",
            "%a %n",
            "/app",
            "/app/data",
            "/app/f",
        ]);
        assert_eq!(out.stdout, "755 /app\n755 /app/data\n644 /app/f\n", "{out}");
    });
}

#[test]
fn run_batch_container_locks_swept() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_batch_container_locks_swept", |ctx| {
        assert!(setup_image(ctx));
        let locks = || -> Vec<String> {
            common::list_names(&ctx.root.join("locks"))
                .into_iter()
                .filter(|n| n.starts_with("ctr-"))
                .collect()
        };
        for name in ["j1", "j2", "j3"] {
            ctx.ok(&["run", "--name", name, IMG, "true"]);
            ctx.ok(&["rm", name]);
        }
        ctx.ok(&["create", "--name", "kept", IMG, "true"]);
        ctx.ok(&["start", "-a", "kept"]);
        let kept = ctx.ok(&["inspect", "-f", "{{.Id}}", "kept"]).stdout;
        let kept = format!("ctr-{}", kept.trim());
        assert!(
            locks().len() >= 3,
            "rm took the containers' locks: {:?}",
            locks()
        );
        ctx.ok(&["image", "prune", "-f"]);
        assert!(
            locks().iter().all(|l| *l == kept),
            "the locks of removed containers must go, not {kept}'s: {:?}",
            locks()
        );
        ctx.ok(&["rm", "kept"]);
    });
}

#[test]
fn run_batch_job_array() {
    use common::lifecycle_helpers::{store_processes, tmp_debris};
    use common::oci::{busybox_layer, Built, Comp, Format, LayerBuilder, Registry};
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    const TASKS: usize = 16;
    for_each_user("run_batch_job_array", |ctx| {
        let top = LayerBuilder::new()
            .file("marker", b"array\n", 0o644)
            .finish();
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip), (&top, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("array"), "latest", &img);
        let outs: Vec<Out> = std::thread::scope(|s| {
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let (reference, task) = (p.reference.clone(), i.to_string());
                    s.spawn(move || {
                        let env = [("SLURM_ARRAY_TASK_ID", task.as_str())];
                        let script = "cat /marker; echo task $SLURM_ARRAY_TASK_ID";
                        let args = [
                            "run",
                            "--rm",
                            "-e",
                            "SLURM_ARRAY_TASK_ID",
                            &reference,
                            "sh",
                            "-c",
                            script,
                        ];
                        batch(ctx, &env, &args)
                    })
                })
                .collect();
            tasks.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for (i, out) in outs.iter().enumerate() {
            assert!(out.success(), "task {i}: {out}");
            assert_eq!(out.stdout, format!("array\ntask {i}\n"), "task {i}: {out}");
        }
        let ps = ctx.ok(&["ps", "-aq"]);
        assert_eq!(ps.stdout, "", "--rm containers left: {ps}");
        assert!(containers(ctx).is_empty(), "{:?}", containers(ctx));
        assert_eq!(tmp_debris(&ctx.root), Vec::<String>::new());
        assert_eq!(ctx.image_ids().len(), 1, "{:?}", ctx.image_ids());
        assert!(ctx.image_ids().contains(&p.id));
        assert_eq!(host_mounts_under(&ctx.root), Vec::<String>::new());
        assert!(
            store_processes(ctx).is_empty(),
            "{:?}",
            store_processes(ctx)
        );
        // The store is sound: the image runs and goes.
        let out = ctx.ok(&["run", "--rm", &p.reference, "cat", "/marker"]);
        assert_eq!(out.stdout, "array\n");
        ctx.ok(&["rmi", &p.reference]);
        assert_eq!(ctx.layer_dirs(), Default::default(), "layers left");
    });
}

#[test]
fn run_batch_store_in_setgid_dir() {
    if !have_busybox() {
        return;
    }
    if !common::is_root() {
        return common::skip("giving the store another group needs root");
    }
    for_each_user("run_batch_store_in_setgid_dir", |ctx| {
        use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
        // A group that is not the user's: `users` (100) as a project's.
        let group = if ctx.user.gid == 100 { 65534 } else { 100 };
        chown(&ctx.root, Some(ctx.user.uid), Some(group)).unwrap();
        std::fs::set_permissions(&ctx.root, std::fs::Permissions::from_mode(0o2770)).unwrap();
        assert!(setup_image(ctx));
        let out = ctx.rless(&[
            "run",
            "--rm",
            "-v",
            "projvol:/data",
            IMG,
            "sh",
            "-c",
            "echo hi >/etc/new && cat /etc/new /etc/hostname >/dev/null && touch /data/f && echo ok",
        ]);
        assert_eq!(out.stdout, "ok\n", "{out}");
        let md = std::fs::metadata(&ctx.root).unwrap();
        assert_eq!(md.mode() & 0o2000, 0, "the bit stays set");
        assert_eq!(md.gid(), group, "the store's group is the user's choice");
    });
}

#[test]
fn run_batch_killed_pull_debris() {
    use common::oci::{busybox_layer, Built, Comp, Format, Registry};
    let Some(reg) = Registry::open() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_batch_killed_pull_debris", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("killed"), "latest", &img);
        ctx.ok(&["images"]);
        // A pid no process has, and one of a process that runs.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let dead_blob = ctx
            .root
            .join(format!("blobs/sha256/.tmp-{}-0-blob", gone.id()));
        let dead_layer = ctx.root.join(format!("layers/.tmp-{}-1-layer", gone.id()));
        let live_blob = ctx
            .root
            .join(format!("blobs/sha256/.tmp-{}-0-blob", live.id()));
        std::fs::write(&dead_blob, vec![7u8; 1 << 20]).unwrap();
        std::fs::create_dir_all(dead_layer.join("diff/usr/lib")).unwrap();
        std::fs::write(dead_layer.join("diff/usr/lib/big"), b"half").unwrap();
        std::fs::write(&live_blob, b"being written").unwrap();
        for p in [&dead_blob, &live_blob] {
            ctx.give(p);
        }
        ctx.give_tree(&dead_layer);
        let out = batch(ctx, &[], &["run", "--rm", &p.reference, "true"]);
        let (dead_blob_left, dead_layer_left, live_kept) =
            (dead_blob.exists(), dead_layer.exists(), live_blob.exists());
        let _ = live.kill();
        let _ = live.wait();
        assert!(out.success(), "{out}");
        assert!(!dead_blob_left, "a dead pull's partial blob must go");
        assert!(!dead_layer_left, "a dead pull's layer tree must go");
        assert!(live_kept, "the entry of a process that runs must stay");
        ctx.ok(&["rmi", &p.reference]);
    });
}

#[test]
fn run_batch_persistent_credentials() {
    use base64::Engine;
    use common::oci::{busybox_layer, Built, Comp, Format, Registry};
    let Some(reg) = Registry::auth() else { return };
    let Some(bb) = busybox_layer() else { return };
    for_each_user("run_batch_persistent_credentials", |ctx| {
        let img = Built::host(Format::Oci, &[(bb, Comp::Gzip)]);
        let p = reg.push(&ctx.repo("private"), "latest", &img);
        let home = common::rootfs::user_dir(ctx, "home");
        let home_s = home.to_str().unwrap();
        // The job has no login session: no XDG_RUNTIME_DIR.
        let job = [("HOME", home_s), ("XDG_RUNTIME_DIR", "")];
        let out = batch(ctx, &job, &["pull", "-q", &p.reference]);
        assert_eq!(
            out.code,
            Some(125),
            "anonymous pull of a private image: {out}"
        );
        let (user, pass) = reg.creds.clone().unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let doc = format!("{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}", reg.host);
        ctx.write_file("home/.config/containers/auth.json", doc.as_bytes());
        ctx.give(&home.join(".config"));
        let out = batch(ctx, &job, &["pull", "-q", &p.reference]);
        assert!(out.success(), "{out}");
        assert_eq!(out.last_line(), p.id, "{out}");
        // Nor does another user's XDG_RUNTIME_DIR (`sudo -u` keeps it) stop
        // it: /root is no directory of the user's, and not readable.
        ctx.ok(&["rmi", &p.reference]);
        let out = batch(
            ctx,
            &[("HOME", home_s), ("XDG_RUNTIME_DIR", "/root")],
            &["pull", "-q", &p.reference],
        );
        assert!(out.success(), "{out}");
        // XDG_CONFIG_HOME names the directory when set.
        ctx.ok(&["rmi", &p.reference]);
        let moved = ctx.work.join("cfg");
        std::fs::rename(home.join(".config"), &moved).unwrap();
        let job = [
            ("HOME", home_s),
            ("XDG_RUNTIME_DIR", ""),
            ("XDG_CONFIG_HOME", moved.to_str().unwrap()),
        ];
        let out = batch(ctx, &job, &["run", "--rm", &p.reference, "true"]);
        assert!(out.success(), "{out}");
    });
}
