//! `rless run`: exit codes, environment, users, signals, the init, the pid
//! and uts namespaces, standard streams, terminals, mounts, the container
//! directory, hostile images and killed monitors.
//!
//! Every scenario builds a small busybox root filesystem in its work dir
//! and imports it (`rless import DIR bb`), so no registry is needed.

mod common;

use common::background::Background;
use common::checks::*;

use common::oci::busybox;
use common::{for_each_user, run_cmd, skip, Ctx, Mode, Out, CMD_TIMEOUT, ERR_EXIT};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The name every scenario imports its busybox root filesystem as.
const IMG: &str = "bb";

/// Busybox applets linked into the test root filesystem.
const APPLETS: &[&str] = &[
    "sh",
    "true",
    "false",
    "id",
    "ps",
    "ls",
    "cat",
    "echo",
    "sleep",
    "kill",
    "mount",
    "touch",
    "mkdir",
    "hostname",
    "stat",
    "wc",
    "env",
    "pwd",
    "grep",
    "head",
    "od",
    "tty",
    "stty",
    "test",
    "printf",
    "rm",
    "chmod",
    "ln",
    "readlink",
    "sha256sum",
    "tr",
    "dd",
    "cut",
    "sort",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

const GROUP: &str = "root:x:0:\n\
wheel:x:10:alice\n\
users:x:100:alice,bob\n\
alice:x:1000:\n\
nogroup:x:65534:\n";

// ------------------------------------------------------------------ helpers

/// Writes a busybox root filesystem to `dir`, owned by the test user.
fn make_rootfs(ctx: &Ctx, dir: &Path) {
    let bb = busybox().expect("busybox is checked by the caller");
    for sub in [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/alice",
        "proc",
        "sys",
        "dev",
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    fs::write(dir.join("etc/group"), GROUP).unwrap();
    fs::write(dir.join("etc/image-file"), "from the image\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(dir);
}

/// Builds the busybox root filesystem under the work dir and imports it as
/// [`IMG`]. False (after a SKIP) when busybox is missing.
fn setup_image(ctx: &Ctx) -> bool {
    if busybox().is_none() {
        return false;
    }
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// Whether busybox is there (prints a SKIP otherwise).
fn have_busybox() -> bool {
    busybox().is_some()
}

/// `rless run ARGS…`
fn run(ctx: &Ctx, args: &[&str]) -> Out {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    ctx.rless(&a)
}

/// `rless run ARGS…`, which must exit 0; returns the output.
fn run_ok(ctx: &Ctx, args: &[&str]) -> Out {
    let out = run(ctx, args);
    assert!(out.success(), "rless run failed: {out}");
    out
}

/// `rless run --rm IMG sh -c SCRIPT`, which must exit 0; returns stdout.
fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = vec!["--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    run_ok(ctx, &a).stdout
}

fn assert_no_containers(ctx: &Ctx, what: &str) {
    let c = containers(ctx);
    assert!(
        c.is_empty(),
        "{what}: container dirs left in {}: {c:?}",
        ctx.root.join("containers").display()
    );
}

/// The one container in the store.
fn only_container(ctx: &Ctx) -> String {
    let c = containers(ctx);
    assert_eq!(c.len(), 1, "expected exactly one container dir: {c:?}");
    c.into_iter().next().unwrap()
}

fn state_json(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", p.display()))
}

/// A KEY=value map from `env` output.
fn env_map(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `cmd` with binary stdin and stdout: (exit code, stdout, stderr).
fn run_binary(mut cmd: Command, stdin: Option<Vec<u8>>) -> (Option<i32>, Vec<u8>, String) {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rless");
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ro = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let re = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = wait_timeout(&mut child, CMD_TIMEOUT).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("rless did not finish within {CMD_TIMEOUT:?}");
    });
    if let Some(w) = writer {
        let _ = w.join();
    }
    (
        status.code(),
        ro.join().unwrap(),
        String::from_utf8_lossy(&re.join().unwrap()).into_owned(),
    )
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("read /dev/urandom");
    v
}

/// Every entry under `dir`: type, mode, owner, size, mtime and a digest of
/// the content (or link target), keyed by relative path.
fn tree_fingerprint(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let md = fs::symlink_metadata(&p).unwrap();
            let content = if md.file_type().is_symlink() {
                fs::read_link(&p).unwrap().to_string_lossy().to_string()
            } else if md.is_file() {
                common::sha256_hex(&fs::read(&p).unwrap())
            } else {
                String::new()
            };
            out.insert(
                rel,
                format!(
                    "mode={:o} uid={} gid={} size={} mtime={}.{} ino={} {}",
                    md.mode(),
                    md.uid(),
                    md.gid(),
                    md.len(),
                    md.mtime(),
                    md.mtime_nsec(),
                    md.ino(),
                    content
                ),
            );
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A host directory owned by the test user under the work dir.
fn user_dir(ctx: &Ctx, rel: &str) -> PathBuf {
    let p = ctx.work.join(rel);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give(&p);
    p
}

// ------------------------------------------------------------------ exit codes

#[test]
fn run_exit_codes() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_exit_codes", |ctx| {
        assert!(setup_image(ctx));
        let out = run(ctx, &["--rm", IMG, "true"]);
        assert_eq!(out.code, Some(0), "true: {out}");
        assert!(
            out.stderr.trim().is_empty(),
            "true must print nothing: {out}"
        );
        let out = run(ctx, &["--rm", IMG, "false"]);
        assert_eq!(out.code, Some(1), "false: {out}");
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "exit 3"]);
        assert_eq!(out.code, Some(3), "exit 3: {out}");
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "exit 255"]);
        assert_eq!(out.code, Some(255), "exit 255: {out}");
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "kill -TERM $$"]);
        assert_eq!(
            out.code,
            Some(143),
            "killed by SIGTERM must give 128+15: {out}"
        );
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "kill -KILL $$"]);
        assert_eq!(
            out.code,
            Some(137),
            "killed by SIGKILL must give 128+9: {out}"
        );
        // The command's stderr passes through untouched.
        let out = run(
            ctx,
            &["--rm", IMG, "sh", "-c", "echo to-err >&2; echo to-out"],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "to-out\n", "{out}");
        assert_eq!(out.stderr, "to-err\n", "{out}");
        assert_no_containers(ctx, "--rm runs");
    });
}

#[test]
fn run_command_not_runnable() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_command_not_runnable", |ctx| {
        assert!(setup_image(ctx));
        for cmd in ["no-such-command", "/no/such/file", "/bin/no-such"] {
            let out = run(ctx, &["--rm", IMG, cmd]);
            assert_one_error(&out, 127);
        }
        // A directory, and a file without the execute bit.
        let out = run(ctx, &["--rm", IMG, "/bin"]);
        assert_one_error(&out, 126);
        let out = run(ctx, &["--rm", IMG, "/etc/passwd"]);
        assert_one_error(&out, 126);
        assert_no_containers(ctx, "--rm runs of commands that cannot run");
    });
}

/// Runs `rless run ARGS…` expecting the rless error contract and no
/// container left behind.
fn expect_run_error(ctx: &Ctx, args: &[&str]) -> Out {
    let out = run(ctx, args);
    assert_one_error(&out, ERR_EXIT);
    assert_no_containers(ctx, &out.cmdline);
    out
}

#[test]
fn run_bad_input_is_125() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_bad_input_is_125", |ctx| {
        assert!(setup_image(ctx));
        let w = ctx.work.to_str().unwrap().to_string();
        let missing = format!("{w}/does-not-exist");
        let bind_missing = format!("type=bind,src={missing},dst=/x");
        let cases: Vec<Vec<&str>> = vec![
            // unknown image
            vec!["no-such-image", "true"],
            vec!["no-such-image:v2", "true"],
            // the image has no command
            vec![IMG],
            // invalid options
            vec!["--no-such-option", IMG, "true"],
            vec!["--network", "bogus", IMG, "true"],
            vec!["--userns", "bogus", IMG, "true"],
            vec!["--cap-add", "CAP_NOT_A_THING", IMG, "true"],
            vec!["--name", "bad name!", IMG, "true"],
            vec!["-e", "=value", IMG, "true"],
            vec!["--env-file", &missing, IMG, "true"],
            // bad volume, mount and tmpfs specs
            // (`name:/x` is a named volume now; a relative path is still an error)
            vec!["-v", "./relative:/x", IMG, "true"],
            vec!["-v", "rel/ative:/x", IMG, "true"],
            vec!["-v", "/tmp:relative", IMG, "true"],
            vec!["-v", "/tmp:/x:bogus", IMG, "true"],
            vec!["-v", "/a:/b:ro:extra", IMG, "true"],
            vec!["--mount", "type=bind,dst=/x", IMG, "true"],
            vec!["--mount", &bind_missing, IMG, "true"],
            vec!["--mount", "type=nfs,src=/tmp,dst=/x", IMG, "true"],
            vec!["--mount", "type=bind,src=/tmp", IMG, "true"],
            vec!["--tmpfs", "", IMG, "true"],
            vec!["--rootfs", &missing, "true"],
        ];
        for args in &cases {
            let mut a = vec!["--rm"];
            a.extend(args.iter().copied());
            expect_run_error(ctx, &a);
            // And without --rm: still nothing left.
            expect_run_error(ctx, args);
        }
        // nothing at all
        let out = ctx.rless(&["run"]);
        assert_eq!(out.code, Some(ERR_EXIT), "bare `rless run`: {out}");
        assert!(
            !Path::new(&missing).exists(),
            "a failed run created {missing}"
        );
    });
}

#[test]
fn run_unknown_user_is_125() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_unknown_user_is_125", |ctx| {
        assert!(setup_image(ctx));
        for u in ["mallory", "alice:nogroup-here", "mallory:wheel"] {
            let out = expect_run_error(ctx, &["--rm", "-u", u, IMG, "true"]);
            assert!(
                out.stderr.contains("unable to find"),
                "the error must name the problem: {out}"
            );
            // A failed run leaves no container, --rm or not.
            expect_run_error(ctx, &["-u", u, IMG, "true"]);
        }
    });
}

// ------------------------------------------------------------------ environment

#[test]
fn run_env_precedence() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_env_precedence", |ctx| {
        assert!(setup_image(ctx));
        let default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        // Defaults: the image's PATH, HOME from passwd, HOSTNAME.
        let out = run_ok(ctx, &["--rm", "-h", "envhost", IMG, "/bin/env"]);
        let env = env_map(&out.stdout);
        assert_eq!(
            env.get("PATH").map(String::as_str),
            Some(default_path),
            "{out}"
        );
        assert_eq!(env.get("HOME").map(String::as_str), Some("/root"), "{out}");
        assert_eq!(
            env.get("HOSTNAME").map(String::as_str),
            Some("envhost"),
            "{out}"
        );
        assert!(!env.contains_key("TERM"), "no TERM without -t: {out}");
        assert!(
            !env.contains_key("USER") && !env.contains_key("XDG_RUNTIME_DIR"),
            "the caller's environment must not leak in: {out}"
        );

        // The image sets PATH (import does); --env-file beats it, -e beats both.
        let envfile = ctx.write_file(
            "env.list",
            b"# a comment\n\nFILEVAR=from-file\nBOTH=from-file\nPATH=/bin:/from-file\nWITH_EQ=a=b c\nCALLERVAR\nUNSET_IN_CALLER\n",
        );
        let envfile = envfile.to_str().unwrap();
        let mut cmd = ctx.rless_cmd(&[
            "run",
            "--rm",
            "--env-file",
            envfile,
            "-e",
            "BOTH=from-cli",
            "-e",
            "CLIVAR=x y",
            "-e",
            "FROM_CALLER",
            "-e",
            "NOT_SET_ANYWHERE",
            "-e",
            "EMPTY=",
            IMG,
            "/bin/env",
        ]);
        cmd.env("FROM_CALLER", "caller-value")
            .env("CALLERVAR", "caller-file-value");
        let out = run_cmd(cmd, None, CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let env = env_map(&out.stdout);
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("FILEVAR"), Some("from-file"), "{out}");
        assert_eq!(
            get("BOTH"),
            Some("from-cli"),
            "-e must beat --env-file: {out}"
        );
        assert_eq!(
            get("PATH"),
            Some("/bin:/from-file"),
            "--env-file must beat the image: {out}"
        );
        assert_eq!(get("WITH_EQ"), Some("a=b c"), "{out}");
        assert_eq!(get("CLIVAR"), Some("x y"), "{out}");
        assert_eq!(
            get("FROM_CALLER"),
            Some("caller-value"),
            "-e KEY takes the caller's value: {out}"
        );
        assert_eq!(
            get("CALLERVAR"),
            Some("caller-file-value"),
            "KEY in an env file takes the caller's value: {out}"
        );
        assert_eq!(get("EMPTY"), Some(""), "{out}");
        assert!(
            !env.contains_key("NOT_SET_ANYWHERE"),
            "-e of an unset variable is dropped: {out}"
        );
        assert!(!env.contains_key("UNSET_IN_CALLER"), "{out}");
        // Each variable once.
        let keys: Vec<&str> = out
            .stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, _)| k)
            .collect();
        let mut dedup = keys.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(keys.len(), dedup.len(), "duplicate variables: {out}");

        // -e PATH beats the env file and the image; commands are looked up in it.
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--env-file",
                envfile,
                "-e",
                "PATH=/nowhere:/bin",
                IMG,
                "env",
            ],
        );
        assert_eq!(
            env_map(&out.stdout).get("PATH").map(String::as_str),
            Some("/nowhere:/bin"),
            "{out}"
        );
        let out = run(ctx, &["--rm", "-e", "PATH=/nowhere", IMG, "env"]);
        assert_eq!(
            out.code,
            Some(127),
            "env must not be found in PATH=/nowhere: {out}"
        );

        // HOME follows the user; an explicit HOME wins.
        if ctx.user.mode == Mode::Subuid {
            let out = run_ok(ctx, &["--rm", "-u", "alice", IMG, "/bin/env"]);
            assert_eq!(
                env_map(&out.stdout).get("HOME").map(String::as_str),
                Some("/home/alice"),
                "{out}"
            );
            let out = run_ok(ctx, &["--rm", "-u", "4242", IMG, "/bin/env"]);
            assert_eq!(
                env_map(&out.stdout).get("HOME").map(String::as_str),
                Some("/"),
                "{out}"
            );
        }
        let out = run_ok(ctx, &["--rm", "-e", "HOME=/elsewhere", IMG, "/bin/env"]);
        assert_eq!(
            env_map(&out.stdout).get("HOME").map(String::as_str),
            Some("/elsewhere"),
            "{out}"
        );
    });
}

// ------------------------------------------------------------------ workdir and users

#[test]
fn run_workdir() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_workdir", |ctx| {
        assert!(setup_image(ctx));
        assert_eq!(sh(ctx, &[], "pwd"), "/\n", "default working directory");
        assert_eq!(sh(ctx, &["-w", "/etc"], "pwd"), "/etc\n");
        assert_eq!(
            sh(
                ctx,
                &["-w", "/new/deep/dir"],
                "pwd; test -d /new/deep/dir && echo made"
            ),
            "/new/deep/dir\nmade\n",
            "-w must create a missing directory"
        );
        assert_eq!(sh(ctx, &["--workdir", "/tmp/x"], "pwd"), "/tmp/x\n");
    });
}

#[test]
fn run_users() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_users", |ctx| {
        assert!(setup_image(ctx));
        assert_eq!(sh(ctx, &[], "id -u; id -g"), "0\n0\n", "root by default");
        let keep = sh(ctx, &["--userns=keep-id"], "id -u; id -g");
        assert_eq!(
            keep,
            format!("{}\n{}\n", ctx.user.uid, ctx.user.gid),
            "--userns=keep-id must run as the caller's uid and gid"
        );
        let keep = sh(ctx, &["--userns", "keep-id"], "id -u");
        assert_eq!(keep, format!("{}\n", ctx.user.uid));
        assert_eq!(sh(ctx, &["-u", "0"], "id -u"), "0\n");
        assert_eq!(sh(ctx, &["-u", "root"], "id -un"), "root\n");
        match ctx.user.mode {
            Mode::Subuid => {
                assert_eq!(sh(ctx, &["-u", "1000"], "id -u; id -g"), "1000\n1000\n");
                assert_eq!(
                    sh(ctx, &["-u", "alice"], "id -un; id -u; id -g"),
                    "alice\n1000\n1000\n"
                );
                // Supplementary groups from /etc/group.
                let groups = sh(ctx, &["-u", "alice"], "id -G");
                let mut g: Vec<u32> = groups
                    .split_whitespace()
                    .map(|s| s.parse().unwrap())
                    .collect();
                g.sort();
                assert_eq!(g, vec![10, 100, 1000], "alice's groups: {groups:?}");
                // An explicit group replaces them.
                assert_eq!(
                    sh(ctx, &["-u", "alice:wheel"], "id -u; id -g; id -G"),
                    "1000\n10\n10\n"
                );
                assert_eq!(sh(ctx, &["-u", "1000:77"], "id -u; id -g"), "1000\n77\n");
                // A uid not in passwd: gid 0.
                assert_eq!(sh(ctx, &["-u", "4242"], "id -u; id -g"), "4242\n0\n");
                assert_eq!(sh(ctx, &["-u", "nobody"], "id -u"), "65534\n");
                // Files the user creates belong to the mapped id on the host.
                let vol = user_dir(ctx, "vol");
                fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).unwrap();
                let spec = format!("{}:/vol", vol.display());
                sh(ctx, &["-u", "alice", "-v", &spec], "touch /vol/by-alice");
                let md = fs::metadata(vol.join("by-alice")).expect("file made by alice");
                assert_eq!(
                    (md.uid(), md.gid()),
                    (ctx.user.host_uid(1000), ctx.user.host_gid(1000)),
                    "alice's file must be owned by the mapped ids on the host"
                );
                // Root's file belongs to the user.
                sh(ctx, &["-v", &spec], "touch /vol/by-root");
                let md = fs::metadata(vol.join("by-root")).unwrap();
                assert_eq!((md.uid(), md.gid()), (ctx.user.uid, ctx.user.gid));
            }
            Mode::Single => {
                for u in ["1000", "alice", "alice:wheel", "0:10"] {
                    let out = run(ctx, &["--rm", "-u", u, IMG, "id"]);
                    assert_one_error(&out, ERR_EXIT);
                    assert!(
                        out.stderr.contains("not mapped"),
                        "single-id mode must say the id is not mapped: {out}"
                    );
                    assert!(out.stdout.is_empty(), "the command must not run: {out}");
                }
                assert_no_containers(ctx, "single-id -u failures");
            }
        }
    });
}

// ------------------------------------------------------------------ signals

fn signal_case(ctx: &Ctx, sig: rustix::process::Signal, name: &str, code: i32) {
    let script = format!(
        "trap 'echo got {name}; exit {code}' {name}; echo ready; while true; do sleep 0.1; done"
    );
    let mut bg = Background::spawn(ctx, &["run", "--rm", IMG, "sh", "-c", &script]);
    bg.wait_line("ready", Duration::from_secs(60));
    bg.signal(sig);
    let stderr = bg.stderr.clone();
    let (exit, lines) = bg.finish(Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    assert!(
        lines.iter().any(|l| l.trim() == format!("got {name}")),
        "SIG{name} sent to rless ({} mode) must reach the command's trap: exit {exit:?}, stdout {lines:?}, stderr {stderr:?}",
        ctx.user.mode.as_str()
    );
    assert_eq!(
        exit,
        Some(code),
        "the trap's exit code must come back after SIG{name}: stdout {lines:?}, stderr {stderr:?}"
    );
}

#[test]
fn run_forwards_sigterm() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sigterm", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::TERM, "TERM", 7);
        assert_no_containers(ctx, "--rm after a signal");
    });
}

#[test]
fn run_forwards_sighup_and_usr1() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sighup_and_usr1", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::HUP, "HUP", 8);
        signal_case(ctx, rustix::process::Signal::USR1, "USR1", 9);
    });
}

#[test]
fn run_forwards_sigint() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_forwards_sigint", |ctx| {
        assert!(setup_image(ctx));
        signal_case(ctx, rustix::process::Signal::INT, "INT", 6);
    });
}

/// A command that ignores nothing dies of the forwarded signal: 128+n.
#[test]
fn run_signal_kills_command() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_signal_kills_command", |ctx| {
        assert!(setup_image(ctx));
        let mut bg = Background::spawn(
            ctx,
            &["run", "--rm", IMG, "sh", "-c", "echo ready; exec sleep 60"],
        );
        bg.wait_line("ready", Duration::from_secs(60));
        // Let the exec happen.
        std::thread::sleep(Duration::from_millis(300));
        bg.signal(rustix::process::Signal::TERM);
        let (exit, lines) = bg.finish(Duration::from_secs(30));
        assert_eq!(exit, Some(143), "sleep killed by SIGTERM: stdout {lines:?}");
    });
}

// ------------------------------------------------------------------ init and pid namespace

/// Zombies in `cat /proc/[0-9]*/stat` output: (pid, ppid, comm) of each.
fn zombies(stat: &str) -> Vec<String> {
    stat.lines()
        .filter_map(|l| {
            let close = l.rfind(')')?;
            let rest: Vec<&str> = l[close + 1..].split_whitespace().collect();
            (rest.first() == Some(&"Z")).then(|| l.to_string())
        })
        .collect()
}

#[test]
fn run_init_reaps_zombies() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_init_reaps_zombies", |ctx| {
        assert!(setup_image(ctx));
        // Orphans re-parented to pid 1 exit while the command still runs;
        // only the init can reap them.
        let script = "(sleep 0.1 & sleep 0.1 & sleep 0.2 & true) ; \
                      (sh -c 'sleep 0.1 & exit 0' &) ; sleep 1.5; \
                      echo ---; cat /proc/[0-9]*/stat; true";
        let out = sh(ctx, &[], script);
        let stat = out.split("---\n").nth(1).unwrap_or("");
        assert!(
            stat.contains("(sh)") && stat.lines().any(|l| l.starts_with("1 ")),
            "no /proc/*/stat lines for the shell and pid 1: {out}"
        );
        let z = zombies(stat);
        assert!(
            z.is_empty(),
            "zombies left unreaped by the container's init: {z:?}\n{out}"
        );
    });
}

#[test]
fn run_pid_namespace() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_pid_namespace", |ctx| {
        assert!(setup_image(ctx));
        let out = sh(
            ctx,
            &[],
            "echo self=$$; echo ppid=$PPID; ls /proc | grep -c '^[0-9]'; \
             echo ---; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo ---; ps -o pid,comm",
        );
        let mut parts = out.split("---\n");
        let head = parts.next().unwrap();
        let init_cmdline = parts.next().unwrap_or("");
        let ps = parts.next().unwrap_or("");
        let mut hl = head.lines();
        assert_eq!(hl.next(), Some("self=2"), "the command is pid 2: {out}");
        assert_eq!(
            hl.next(),
            Some("ppid=1"),
            "the command's parent is the init: {out}"
        );
        let n: usize = hl
            .next()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(9999);
        assert!(
            n <= 5,
            "the container sees {n} processes; the host's must be invisible: {out}"
        );
        assert!(
            init_cmdline.contains("rless"),
            "pid 1 must be rless's own init: {out}"
        );
        let pids: Vec<u32> = ps
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(pids.contains(&1) && pids.contains(&2), "ps: {out}");
        assert!(pids.iter().all(|p| *p < 10), "ps shows foreign pids: {out}");
        // The host's processes cannot be signalled by pid either.
        let host_pid = std::process::id();
        let out = sh(
            ctx,
            &[],
            &format!("kill -0 {host_pid} 2>/dev/null && echo visible || echo invisible"),
        );
        assert_eq!(out, "invisible\n");
    });
}

// ------------------------------------------------------------------ uts and generated files

#[test]
fn run_hostname_and_etc_files() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_hostname_and_etc_files", |ctx| {
        assert!(setup_image(ctx));
        // Without --rm to learn the id.
        let out = run_ok(
            ctx,
            &[
                IMG,
                "sh",
                "-c",
                "hostname; cat /etc/hostname; echo $HOSTNAME",
            ],
        );
        let id = only_container(ctx);
        assert!(
            common::is_hex64(&id),
            "container dir name {id:?} is not a 64-hex id"
        );
        let short = &id[..12];
        assert_eq!(
            out.stdout,
            format!("{short}\n{short}\n{short}\n"),
            "the default hostname is the short id: {out}"
        );

        let out = sh(
            ctx,
            &["-h", "my-box"],
            "hostname; cat /etc/hostname; grep -c my-box /etc/hosts; grep -c localhost /etc/hosts; test -f /etc/resolv.conf && echo resolv",
        );
        assert_eq!(out, "my-box\nmy-box\n1\n2\nresolv\n");
        let out = sh(ctx, &["--hostname", "other"], "hostname");
        assert_eq!(out, "other\n");
        // The host keeps its name.
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_ne!(host.trim(), "my-box");
        // With the userspace network, DNS goes to its forwarder; with
        // loopback only, resolv.conf is the host's.
        let inside = sh(ctx, &[], "cat /etc/resolv.conf");
        assert!(
            inside.contains("nameserver 10.0.2.3"),
            "default network: {inside}"
        );
        if let Ok(host_resolv) = fs::read_to_string("/etc/resolv.conf") {
            let inside = sh(ctx, &["--network", "none"], "cat /etc/resolv.conf");
            assert_eq!(
                inside, host_resolv,
                "--network none: /etc/resolv.conf must be the host's"
            );
        }
        // The image's /etc is otherwise intact.
        assert_eq!(sh(ctx, &[], "cat /etc/image-file"), "from the image\n");
    });
}

// ------------------------------------------------------------------ stdin and stdout

#[test]
fn run_stdin_stdout_binary() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_stdin_stdout_binary", |ctx| {
        assert!(setup_image(ctx));
        let data = random_bytes(1 << 20);

        // -i: 1 MiB into a file in the container, counted there.
        let cmd = ctx.rless_cmd(&["run", "--rm", "-i", IMG, "sh", "-c", "cat > /x; wc -c < /x"]);
        let (code, out, err) = run_binary(cmd, Some(data.clone()));
        assert_eq!(code, Some(0), "stderr: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out).trim(),
            "1048576",
            "stderr: {err}"
        );

        // -i cat echoes it byte for byte.
        let cmd = ctx.rless_cmd(&["run", "--rm", "-i", IMG, "cat"]);
        let (code, out, err) = run_binary(cmd, Some(data.clone()));
        assert_eq!(code, Some(0), "stderr: {err}");
        assert_eq!(out.len(), data.len(), "cat output length; stderr: {err}");
        assert!(out == data, "cat output differs from its input");

        // Binary stdout with no stdin.
        let cmd = ctx.rless_cmd(&[
            "run",
            "--rm",
            IMG,
            "sh",
            "-c",
            "printf '\\000\\001\\377\\r\\n\\000'",
        ]);
        let (code, out, err) = run_binary(cmd, None);
        assert_eq!(code, Some(0), "stderr: {err}");
        assert_eq!(out, b"\x00\x01\xff\r\n\x00", "binary stdout");

        // Without -i the command's stdin is empty.
        let out = ctx.rless_stdin(&["run", "--rm", IMG, "sh", "-c", "cat | wc -c"], b"hello\n");
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout.trim(),
            "0",
            "stdin must be empty without -i: {out}"
        );
        // With -i it is passed.
        let out = ctx.rless_stdin(
            &["run", "--rm", "-i", IMG, "sh", "-c", "cat | wc -c"],
            b"hello\n",
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.trim(), "6", "{out}");
        // Without -t there is no terminal.
        let out = sh(
            ctx,
            &[],
            "test -t 0 && echo tty0; test -t 1 && echo tty1; echo done",
        );
        assert_eq!(out, "done\n");
    });
}

// ------------------------------------------------------------------ terminal

/// A pty pair: the master, and the slave's path.
fn open_pty(rows: u16, cols: u16) -> (OwnedFd, PathBuf) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let path = PathBuf::from(name.to_string_lossy().into_owned());
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, ws).expect("set the window size");
    (master, path)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn run_tty() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty", |ctx| {
        assert!(setup_image(ctx));
        let script = "test -t 0 && test -t 1 && echo is-a-tty; stty size; \
                      echo TERM=$TERM; read line; echo \"got:$line\"; exit 5";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            37,
            101,
        );
        pty.wait_for("TERM=");
        pty.type_in(b"typed-in\n");
        let (code, text) = pty.finish();
        assert!(
            text.contains("is-a-tty"),
            "the command must have a terminal: {text:?}"
        );
        assert!(
            text.contains("37 101"),
            "stty size must follow the caller's terminal (37 101): {text:?}"
        );
        assert!(
            text.contains("TERM=xterm"),
            "TERM defaults to xterm with -t: {text:?}"
        );
        assert!(
            text.contains("got:typed-in"),
            "input typed on the terminal must arrive: {text:?}"
        );
        assert_eq!(code, Some(5), "exit code through -t; terminal: {text:?}");
        assert!(
            !text.contains("rless:"),
            "no rless error expected: {text:?}"
        );
        assert_no_containers(ctx, "--rm -t");
    });
}

/// `rless -i -t` running on a pty the test drives, as a terminal session:
/// rless is a session leader with the slave as its controlling terminal.
struct PtySession {
    child: Child,
    master: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PtySession {
    fn spawn(ctx: &Ctx, args: &[&str], rows: u16, cols: u16) -> PtySession {
        use std::os::unix::process::CommandExt;
        let (master, slave_path) = open_pty(rows, cols);
        let slave = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .expect("open the pty slave");
        let mut cmd = ctx.rless_cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and the TIOCSCTTY ioctl are plain system calls,
        // safe between fork and exec; nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn rless on a pty");
        drop(cmd);
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        let reader_fd = master.try_clone().unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match rustix::io::read(&reader_fd, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                    Err(rustix::io::Errno::INTR) => {}
                    // EIO once every slave fd is closed.
                    Err(_) => break,
                }
            }
        });
        PtySession {
            child,
            master,
            output,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !contains(&self.output.lock().unwrap(), needle) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("no {needle:?} on the terminal; got {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_in(&self, bytes: &[u8]) {
        rustix::io::write(self.master.as_fd(), bytes).expect("write to the pty");
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, ws).expect("resize the pty");
    }

    /// Waits for the exit; returns the code and everything shown.
    fn finish(mut self) -> (Option<i32>, String) {
        let Some(status) = wait_timeout(&mut self.child, Duration::from_secs(60)) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("rless -t did not exit; terminal shows {:?}", self.text());
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status.code(), self.text())
    }
}

/// The caller's terminal is resized (SIGWINCH from the kernel) and ^C is
/// typed: the container's terminal follows, and ^C interrupts the command.
#[test]
fn run_tty_resize_and_ctrl_c() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_resize_and_ctrl_c", |ctx| {
        assert!(setup_image(ctx));
        let script = "stty size; echo ready; i=0; \
                      while [ $i -lt 100 ]; do s=$(stty size); [ \"$s\" = '50 120' ] && break; sleep 0.1; i=$((i+1)); done; \
                      echo \"final:$s\"";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            24,
            80,
        );
        pty.wait_for("ready");
        pty.resize(50, 120);
        let (code, text) = pty.finish();
        assert!(text.contains("24 80"), "initial size: {text:?}");
        assert!(
            text.contains("final:50 120"),
            "the container's terminal must follow a resize of the caller's ({} mode): {text:?}",
            ctx.user.mode.as_str()
        );
        assert_eq!(code, Some(0), "{text:?}");

        let script = "trap 'echo got-INT; exit 7' INT; echo ready; while true; do sleep 0.1; done";
        let mut pty = PtySession::spawn(
            ctx,
            &["run", "--rm", "-i", "-t", IMG, "sh", "-c", script],
            24,
            80,
        );
        pty.wait_for("ready");
        pty.type_in(b"\x03");
        let (code, text) = pty.finish();
        assert!(
            text.contains("got-INT"),
            "^C must reach the command as SIGINT: {text:?}"
        );
        assert_eq!(code, Some(7), "exit code after ^C: {text:?}");
        assert_no_containers(ctx, "--rm -t");
    });
}

/// `tty` (ttyname(3)) must find the terminal under the container's /dev/pts.
#[test]
fn run_tty_has_a_name() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_has_a_name", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--rm",
                "-t",
                IMG,
                "sh",
                "-c",
                "tty; ls -l /proc/self/fd/0; ls /dev/pts",
            ],
        );
        assert!(out.success(), "{out}");
        let first = out.stdout.lines().next().unwrap_or("").trim();
        assert!(
            first.starts_with("/dev/pts/"),
            "`tty` in the container must name its terminal (got {first:?}); the pty is \
             opened from the host's devpts, not the container's /dev/pts instance, so \
             ttyname() fails: {out}"
        );
    });
}

/// -t with a pipe as stdin (no terminal on the caller's side) still works.
#[test]
fn run_tty_without_caller_terminal() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tty_without_caller_terminal", |ctx| {
        assert!(setup_image(ctx));
        let out = run(
            ctx,
            &[
                "--rm",
                "-t",
                IMG,
                "sh",
                "-c",
                "test -t 1 && echo yes; exit 4",
            ],
        );
        assert_eq!(out.code, Some(4), "{out}");
        assert!(out.stdout.contains("yes"), "{out}");
    });
}

// ------------------------------------------------------------------ mounts

#[test]
fn run_bind_mounts() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_bind_mounts", |ctx| {
        assert!(setup_image(ctx));
        let vol = user_dir(ctx, "vol");
        ctx.write_file("vol/from-host", b"host data\n");
        let v = format!("{}:/data", vol.display());

        // rw both ways
        let out = sh(
            ctx,
            &["-v", &v],
            "cat /data/from-host; echo ctr > /data/from-ctr; ls /data",
        );
        assert_eq!(out, "host data\nfrom-ctr\nfrom-host\n");
        assert_eq!(fs::read_to_string(vol.join("from-ctr")).unwrap(), "ctr\n");

        // :ro refuses writes
        let ro = format!("{}:/data:ro", vol.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &ro,
                IMG,
                "sh",
                "-c",
                "cat /data/from-host; echo x > /data/new",
            ],
        );
        assert_ne!(out.code, Some(0), "write to a :ro volume must fail: {out}");
        assert!(out.stdout.contains("host data"), "{out}");
        assert!(
            out.stderr.contains("Read-only file system"),
            "EROFS expected: {out}"
        );
        assert!(!vol.join("new").exists());

        // --mount type=bind,readonly
        let m = format!("type=bind,source={},target=/m,readonly", vol.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "--mount",
                &m,
                IMG,
                "sh",
                "-c",
                "cat /m/from-host; touch /m/new",
            ],
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(out.stdout.contains("host data"), "{out}");
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        // and writable without readonly
        let m = format!("type=bind,src={},dst=/m", vol.display());
        sh(ctx, &["--mount", &m], "touch /m/via-mount");
        assert!(vol.join("via-mount").exists());

        // A single file.
        let f = ctx.write_file("single.txt", b"one file\n");
        let fv = format!("{}:/etc/single.txt:ro", f.display());
        assert_eq!(sh(ctx, &["-v", &fv], "cat /etc/single.txt"), "one file\n");

        // A missing -v source is created.
        let newdir = ctx.work.join("made/by/run");
        let nv = format!("{}:/newvol", newdir.display());
        sh(ctx, &["-v", &nv], "echo hi > /newvol/f");
        assert!(newdir.is_dir(), "-v must create a missing host directory");
        assert_eq!(fs::read_to_string(newdir.join("f")).unwrap(), "hi\n");

        // A mount point inside the image that does not exist is created in
        // the container, not in the image.
        sh(
            ctx,
            &["-v", &format!("{}:/a/b/c", vol.display())],
            "test -f /a/b/c/from-host",
        );
        assert_eq!(
            sh(ctx, &[], "test -e /a && echo leaked || echo clean"),
            "clean\n"
        );
    });
}

#[test]
fn run_bind_missing_source_is_125() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_bind_missing_source_is_125", |ctx| {
        assert!(setup_image(ctx));
        let missing = ctx.work.join("nope");
        let m = format!("type=bind,src={},dst=/x", missing.display());
        let out = expect_run_error(ctx, &["--rm", "--mount", &m, IMG, "true"]);
        assert!(out.stderr.contains("does not exist"), "{out}");
        assert!(!missing.exists(), "--mount must not create its source");
    });
}

#[test]
fn run_tmpfs_and_read_only() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_tmpfs_and_read_only", |ctx| {
        assert!(setup_image(ctx));
        let out = sh(
            ctx,
            &["--tmpfs", "/scratch", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=1m"],
            "grep -E ' /(scratch|t2) ' /proc/mounts | cut -d' ' -f2,3 | sort; echo x > /scratch/f && cat /scratch/f",
        );
        assert_eq!(
            out, "/scratch tmpfs\n/t2 tmpfs\nx\n",
            "--tmpfs and --mount type=tmpfs"
        );
        let out = sh(
            ctx,
            &["--tmpfs", "/scratch:size=2m"],
            "grep ' /scratch ' /proc/mounts",
        );
        assert!(out.contains("size=2048k"), "tmpfs size option: {out}");

        // --read-only: / refuses writes, /tmp and /run are writable.
        let out = run(
            ctx,
            &[
                "--rm",
                "--read-only",
                IMG,
                "sh",
                "-c",
                "echo x > /tmp/ok && cat /tmp/ok && touch /run/ok && touch /etc/nope",
            ],
        );
        assert_ne!(
            out.code,
            Some(0),
            "writing to a read-only root must fail: {out}"
        );
        assert_eq!(out.stdout, "x\n", "{out}");
        assert!(out.stderr.contains("Read-only file system"), "{out}");
        let out = sh(
            ctx,
            &["--read-only"],
            "grep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
        );
        assert_eq!(out, "ro\n", "the root mount must be read-only");
        // --read-only with a writable volume.
        let vol = user_dir(ctx, "vol");
        let v = format!("{}:/data", vol.display());
        sh(ctx, &["--read-only", "-v", &v], "touch /data/ok");
        assert!(vol.join("ok").exists());
        // Nothing written to the image's upper layer under --read-only.
        let out = run(ctx, &["--read-only", IMG, "sh", "-c", "touch /x; true"]);
        assert!(out.success(), "{out}");
        let id = only_container(ctx);
        let upper = ctx.root.join("containers").join(&id).join("upper");
        assert!(
            !upper.join("x").exists(),
            "/x written to the upper dir under --read-only"
        );
        // Only mount point stubs may be there: directories and empty files.
        let written: Vec<String> = tree_fingerprint(&upper)
            .into_iter()
            .filter(|(k, _)| {
                fs::symlink_metadata(upper.join(k))
                    .map(|m| m.is_file() && m.len() > 0)
                    .unwrap_or(false)
            })
            .map(|(k, _)| k)
            .collect();
        assert!(
            written.is_empty(),
            "files with content in the upper dir under --read-only: {written:?}"
        );
    });
}

// ------------------------------------------------------------------ container dirs and layers

#[test]
fn run_leaves_layers_untouched() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_leaves_layers_untouched", |ctx| {
        assert!(setup_image(ctx));
        let layers = ctx.root.join("layers");
        let before = tree_fingerprint(&layers);
        assert!(
            before.keys().any(|k| k.ends_with("diff/bin/busybox")),
            "no busybox in the layer store: {:?}",
            before.keys().take(5).collect::<Vec<_>>()
        );
        let script = "echo changed > /etc/passwd; rm /bin/ls; echo new > /new-file; \
                      chmod 700 /bin; mkdir -p /etc/sub; rm -f /etc/image-file; ln -s x /etc/lnk; \
                      echo more >> /bin/busybox.extra; touch /bin/busybox";
        sh(ctx, &[], script);
        let out = run(ctx, &[IMG, "sh", "-c", script]);
        assert!(out.success(), "{out}");
        let after = tree_fingerprint(&layers);
        if before != after {
            let changed: Vec<_> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, _)| k.clone())
                .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
                .collect();
            panic!("a container's writes changed the image's layers: {changed:?}");
        }
        // A fresh container sees the image as it was.
        let out = sh(
            ctx,
            &[],
            "cat /etc/image-file; test -e /bin/ls && echo ls; test -e /new-file || echo no-new",
        );
        assert_eq!(out, "from the image\nls\nno-new\n");
    });
}

#[test]
fn run_container_dir_lifecycle() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_container_dir_lifecycle", |ctx| {
        assert!(setup_image(ctx));
        run_ok(ctx, &["--rm", IMG, "sh", "-c", "echo x > /f"]);
        assert_no_containers(ctx, "--rm after exit 0");
        let out = run(ctx, &["--rm", IMG, "sh", "-c", "exit 3"]);
        assert_eq!(out.code, Some(3), "{out}");
        assert_no_containers(ctx, "--rm after exit 3");

        let out = run(
            ctx,
            &[
                "--name",
                "keeper",
                IMG,
                "sh",
                "-c",
                "echo kept > /kept; exit 4",
            ],
        );
        assert_eq!(out.code, Some(4), "{out}");
        let id = only_container(ctx);
        assert!(common::is_hex64(&id), "{id}");
        let st = state_json(ctx, &id);
        assert_eq!(st["status"], "exited", "state.json: {st}");
        assert_eq!(st["exit_code"], 4, "state.json: {st}");
        let dir = ctx.root.join("containers").join(&id);
        let cfg: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["name"], "keeper", "config.json: {cfg}");
        // The container's writes are in its own upper dir.
        assert_eq!(
            fs::read_to_string(dir.join("upper/kept")).unwrap(),
            "kept\n"
        );
        // Its name is taken.
        let out = run(ctx, &["--rm", "--name", "keeper", IMG, "true"]);
        assert_one_error(&out, ERR_EXIT);
        assert_eq!(containers(ctx), vec![id.clone()]);
        // Killed by a signal: 128+n recorded.
        let out = run(ctx, &[IMG, "sh", "-c", "kill -TERM $$"]);
        assert_eq!(out.code, Some(143), "{out}");
        let ids = containers(ctx);
        assert_eq!(ids.len(), 2, "{ids:?}");
        let other = ids.iter().find(|i| **i != id).unwrap();
        let st = state_json(ctx, other);
        assert_eq!(st["status"], "exited", "{st}");
        assert_eq!(st["exit_code"], 143, "{st}");
        // system reset removes them.
        ctx.ok(&["system", "reset", "-f"]);
        assert_no_containers(ctx, "system reset -f");
    });
}

// ------------------------------------------------------------------ hostile images

#[test]
fn run_hostile_symlink_mount_targets() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_hostile_symlink_mount_targets", |ctx| {
        let dir = ctx.work.join("hostile");
        make_rootfs(ctx, &dir);
        let outside = user_dir(ctx, "outside");
        let links: [(&str, String); 4] = [
            ("data", "/etc".into()),
            ("rootlink", "/".into()),
            ("up", "../../../../../../..".into()),
            // An absolute link naming a host directory the user may write.
            ("hostdir", outside.to_string_lossy().into_owned()),
        ];
        for (name, target) in &links {
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
            ctx.give(&dir.join(name));
        }
        ctx.ok(&["import", dir.to_str().unwrap(), "hostile"]);
        let etc_before = common::list_names(Path::new("/etc"));
        let vol = user_dir(ctx, "vol");
        ctx.write_file("vol/marker", b"from the volume\n");
        let v = |target: &str| format!("{}:{target}", vol.display());

        // /data -> /etc: the mount lands on the container's /etc.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/data"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/marker; echo w > /data/written",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n", "{out}");
        assert_eq!(fs::read_to_string(vol.join("written")).unwrap(), "w\n");
        assert!(!Path::new("/etc/marker").exists() && !Path::new("/etc/written").exists());

        // A target below the link: created in the container's /etc.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/data/rless-sub"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/rless-sub/marker",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n");
        assert!(
            !Path::new("/etc/rless-sub").exists(),
            "a mount target was created in the host's /etc"
        );

        // Through / and ../..: still inside.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/rootlink/etc/via-root"),
                "-v",
                &v("/up/escape"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /etc/via-root/marker /escape/marker",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\nfrom the volume\n", "{out}");
        assert!(!Path::new("/etc/via-root").exists());
        assert!(!Path::new("/escape").exists());
        for p in [
            ctx.root.join("escape"),
            ctx.work.join("escape"),
            ctx.root.join("containers/escape"),
        ] {
            assert!(
                !p.exists(),
                "mount target escaped the container root: {}",
                p.display()
            );
        }

        // An absolute link to a host dir the user owns.
        let out = run(
            ctx,
            &[
                "--rm",
                "-v",
                &v("/hostdir/sub"),
                "hostile",
                "/bin/sh",
                "-c",
                "cat /hostdir/sub/marker; echo in > /hostdir/sub/in",
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "from the volume\n", "{out}");
        assert!(
            common::list_names(&outside).is_empty(),
            "the host dir the image's link names was written: {:?}",
            common::list_names(&outside)
        );
        // tmpfs targets too.
        let probe = format!("grep -c ' {}/t tmpfs ' /proc/mounts", outside.display());
        let out = run(
            ctx,
            &[
                "--rm",
                "--tmpfs",
                "/hostdir/t",
                "hostile",
                "/bin/sh",
                "-c",
                &probe,
            ],
        );
        assert!(out.success(), "{out}");
        assert_eq!(
            out.stdout, "1\n",
            "the tmpfs must be mounted inside the container: {out}"
        );
        assert!(
            common::list_names(&outside).is_empty(),
            "tmpfs target created outside"
        );

        assert_eq!(
            common::list_names(Path::new("/etc")),
            etc_before,
            "the host's /etc changed"
        );
    });
}

// ------------------------------------------------------------------ --rootfs

#[test]
fn run_rootfs_dir() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_rootfs_dir", |ctx| {
        let dir = ctx.work.join("plain-rootfs");
        make_rootfs(ctx, &dir);
        let d = dir.to_str().unwrap();
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--rootfs",
                d,
                "sh",
                "-c",
                "cat /etc/image-file; id -u; echo $PATH; echo made > /made-inside",
            ],
        );
        assert_eq!(
            out.stdout,
            "from the image\n0\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
            "{out}"
        );
        // The directory is used as it is: writes land in it.
        assert_eq!(
            fs::read_to_string(dir.join("made-inside")).unwrap(),
            "made\n"
        );
        let out = run(ctx, &["--rm", "--rootfs", d, "sh", "-c", "exit 9"]);
        assert_eq!(out.code, Some(9), "{out}");
        let out = run(
            ctx,
            &[
                "--rm",
                "--rootfs",
                d,
                "--read-only",
                "sh",
                "-c",
                "touch /nope",
            ],
        );
        assert_ne!(out.code, Some(0), "{out}");
        assert!(!dir.join("nope").exists());
        assert_no_containers(ctx, "--rootfs --rm");
    });
}

// ------------------------------------------------------------------ killed monitor

#[test]
fn run_sigkill_leaves_nothing() {
    if !have_busybox() {
        return;
    }
    if !common::is_root() {
        skip("needs root to see every process and mount of the test user");
        return;
    }
    for_each_user("run_sigkill_leaves_nothing", |ctx| {
        assert!(setup_image(ctx));
        let mounts_before = host_mounts_under(&ctx.work);
        // A sleep length no other process uses, to find survivors by.
        let marker = format!("{}", 3000 + (std::process::id() % 997) + ctx.user.uid);
        let script = format!("echo ready; sleep {marker} & sleep {marker}; wait");
        let mut bg = Background::spawn(ctx, &["run", IMG, "sh", "-c", &script]);
        bg.wait_line("ready", Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(300));
        let ours = |p: &HostProc| {
            p.args.first().map(String::as_str) == Some("sleep") && p.args.get(1) == Some(&marker)
        };
        let running = host_processes().into_iter().filter(|p| ours(p)).count();
        assert_eq!(
            running, 2,
            "expected the container's two sleeps before the kill"
        );
        bg.signal(rustix::process::Signal::KILL);
        let (code, _) = bg.finish(Duration::from_secs(30));
        assert_eq!(code, None, "rless must have died of SIGKILL");

        // Give the kernel a moment to tear the namespaces down.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut survivors: Vec<HostProc>;
        loop {
            survivors = host_processes().into_iter().filter(|p| ours(p)).collect();
            if survivors.is_empty() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Also any leftover rless process (the init, or the subuid-mode
        // monitor) of this store.
        let store = ctx.root.to_string_lossy().to_string();
        let rless_left: Vec<HostProc> = host_processes()
            .into_iter()
            .filter(|p| p.args.contains(&store) && p.args.iter().any(|a| a == "run"))
            .collect();
        let describe = |v: &[HostProc]| {
            v.iter()
                .map(|p| format!("pid {} uid {} {:?}", p.pid, p.uid, p.args))
                .collect::<Vec<_>>()
        };
        let survivors_desc = describe(&survivors);
        let rless_desc = describe(&rless_left);
        // Clean up before asserting so the leftovers do not outlive the test.
        for p in survivors.iter().chain(rless_left.iter()) {
            if let Some(pid) = rustix::process::Pid::from_raw(p.pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(200));

        let mounts_after = host_mounts_under(&ctx.work);
        assert_eq!(
            mounts_after, mounts_before,
            "mounts under the store left on the host after SIGKILL of rless"
        );
        assert!(
            survivors_desc.is_empty() && rless_desc.is_empty(),
            "BUG: SIGKILL of `rless run` ({} mode) left container processes running: \
             sleeps {survivors_desc:?}, rless processes {rless_desc:?}; the container must \
             die with its monitor (e.g. PR_SET_PDEATHSIG on the init and the monitor)",
            ctx.user.mode.as_str()
        );
    });
}
