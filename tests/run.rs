//! `rless run`, the basics: exit codes, bad input, environment, working
//! directory, users, the uts namespace and generated /etc files, and binary
//! standard streams. Signals, the init, the pid namespace, terminals and
//! killed monitors are in `run_process.rs`; mounts, the container directory,
//! hostile images and `--rootfs` in `run_fs.rs`.
//!
//! Every scenario builds a small busybox root filesystem in its work dir
//! and imports it (`rless import DIR bb`), so no registry is needed.
//! Shared helpers and constants are in `common::run_helpers`.

mod common;

use common::checks::*;
use common::rootfs::user_dir;
use common::run_helpers::*;
use common::{for_each_user, run_cmd, Mode, CMD_TIMEOUT, ERR_EXIT};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

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
        // An option after the image is the command: 127, with the hint
        // that options go before the image; before it, an unknown one is
        // 125 without that hint (it is where it belongs).
        let out = run(ctx, &["--rm", IMG, "--no-such-flag", "true"]);
        assert_one_error(&out, 127);
        assert!(out.stderr.contains("go before the image"), "{out}");
        let out = run(ctx, &["--rm", "--no-such-flag", IMG, "true"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("unknown flag: --no-such-flag"), "{out}");
        assert!(!out.stderr.contains("go before"), "{out}");
        assert_no_containers(ctx, "--rm runs of commands that cannot run");
    });
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
        let long_host = "h".repeat(65);
        let rw_ro = format!("{w}:/x:rw,ro");
        let propagation = format!("type=bind,src={w},dst=/x,bind-propagation=bogus");
        let nonrecursive = format!("type=bind,src={w},dst=/x,bind-nonrecursive=maybe");
        let cases: Vec<Vec<&str>> = vec![
            // unknown image (not pulled: no registry here)
            vec!["--pull=never", "no-such-image", "true"],
            vec!["--pull=never", "no-such-image:v2", "true"],
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
            // (`name:/x` is a named volume, `./x:/x` a bind; a relative
            // path without the `.` is neither)
            vec!["-v", "rel/ative:/x", IMG, "true"],
            vec!["-v", "/tmp:relative", IMG, "true"],
            vec!["-v", "/tmp:/x:bogus", IMG, "true"],
            vec!["-v", "/a:/b:ro:extra", IMG, "true"],
            vec!["--mount", "type=bind,dst=/x", IMG, "true"],
            vec!["--mount", &bind_missing, IMG, "true"],
            vec!["--mount", "type=nfs,src=/tmp,dst=/x", IMG, "true"],
            vec!["--mount", "type=bind,src=/tmp", IMG, "true"],
            // conflicting or bogus mount options (as podman: refused)
            vec!["-v", &rw_ro, IMG, "true"],
            vec!["-v", "newvol:/x:ro,rw", IMG, "true"],
            vec!["--mount", &propagation, IMG, "true"],
            vec!["--mount", &nonrecursive, IMG, "true"],
            vec!["--tmpfs", "", IMG, "true"],
            vec!["--rootfs", &missing, "true"],
            // a hostname the kernel would refuse at every start
            vec!["--hostname", &long_host, IMG, "true"],
            vec!["--hostname", "a b", IMG, "true"],
        ];
        for args in &cases {
            let mut a = vec!["--rm"];
            a.extend(args.iter().copied());
            expect_run_error(ctx, &a);
            // And without --rm: still nothing left.
            expect_run_error(ctx, args);
        }
        let out = run(ctx, &["--rm", "-v", &rw_ro, IMG, "true"]);
        assert!(out.stderr.contains("at most one of rw and ro"), "{out}");
        assert_eq!(ctx.ok(&["volume", "ls", "-q"]).stdout, "", "no volume made");
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

/// With `--userns keep-id` the caller has a name inside, as with podman:
/// the image's /etc/passwd and /etc/group gain a line for their uid and
/// gid (HOME is the working directory, or the host home a mount puts
/// there), bound over the image's files so
/// neither `diff` nor `commit` sees them.
#[test]
fn run_keep_id_knows_the_caller() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_id_knows_the_caller", |ctx| {
        assert!(setup_image(ctx));
        let script = "whoami; id -gn; echo \"$HOME\"; grep -c ^root: /etc/passwd; \
                      grep -c ^alice: /etc/passwd";
        let out = sh(ctx, &["--userns=keep-id", "-w", "/tmp"], script);
        let group = host_group_name(ctx.user.gid);
        assert_eq!(
            out,
            format!("{}\n{group}\n/tmp\n1\n1\n", ctx.user.name),
            "the caller's name and group, HOME, and the image's own entries"
        );
        // HOME is the caller's host home where a mount puts it there, on
        // it or on a directory above it (podman's rule); one below it does
        // not count.
        let home = ctx.user.home.to_str().unwrap();
        let parent = ctx.user.home.parent().unwrap().to_str().unwrap();
        for (mount, want) in [
            (home.to_string(), home),
            (parent.to_string(), home),
            (format!("{home}/sub"), "/"),
        ] {
            let out = sh(
                ctx,
                &["--userns=keep-id", "--tmpfs", &mount],
                "echo \"$HOME\"",
            );
            assert_eq!(out, format!("{want}\n"), "--tmpfs {mount}");
        }
        // Not a change of the container's, nor of an image made from it.
        let id = ctx.ok(&["run", "-d", "--userns=keep-id", IMG, "true"]);
        let id = id.stdout.trim();
        ctx.ok(&["wait", id]);
        let diff = ctx.ok(&["diff", id]);
        assert!(!diff.stdout.contains("/etc"), "{diff}");
        ctx.ok(&["commit", id, "kept"]);
        let line = format!(":{}:", ctx.user.uid);
        let out = ctx
            .ok(&["run", "--rm", "kept", "cat", "/etc/passwd", "/etc/group"])
            .stdout;
        assert!(
            !out.contains(&line),
            "the caller's entry must not be committed: {out}"
        );
        ctx.ok(&["rm", id]);
    });
}

/// keep-id's /etc/passwd keeps the image's own lines byte for byte (a
/// Latin-1 GECOS is no UTF-8, and was turned into U+FFFD), and a working
/// directory that cannot stand in a passwd line (a `:`) does not break the
/// caller's entry (HOME is then `/`).
#[test]
fn run_keep_id_keeps_the_image_lines_as_they_are() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_id_keeps_the_image_lines_as_they_are", |ctx| {
        let dir = ctx.work.join("latin");
        make_rootfs(ctx, &dir);
        let mut passwd = fs::read(dir.join("etc/passwd")).unwrap();
        passwd.extend_from_slice(b"jose:x:4242:4242:Jos\xe9:/home/alice:/bin/sh\n");
        fs::write(dir.join("etc/passwd"), passwd).unwrap();
        ctx.ok(&["import", dir.to_str().unwrap(), "latin"]);
        let script = "grep -c \"Jos$(printf '\\351'):\" /etc/passwd; whoami";
        let out = run_ok(
            ctx,
            &["--rm", "--userns=keep-id", "latin", "sh", "-c", script],
        );
        assert_eq!(
            out.stdout,
            format!("1\n{}\n", ctx.user.name),
            "the image's line unchanged, and the caller's"
        );
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--userns=keep-id",
                "-w",
                "/a:b",
                "latin",
                "sh",
                "-c",
                "whoami; echo \"$HOME\"",
            ],
        );
        assert_eq!(out.stdout, format!("{}\n/\n", ctx.user.name));
        // A passwd past the 1 MiB read is left whole, not cut short.
        let mut passwd = fs::read(dir.join("etc/passwd")).unwrap();
        for i in 0..40_000 {
            passwd.extend_from_slice(format!("u{i}:x:{}:100::/:/bin/sh\n", 10_000 + i).as_bytes());
        }
        passwd.extend_from_slice(b"last:x:9999:100::/:/bin/sh\n");
        assert!(passwd.len() > 1 << 20);
        fs::write(dir.join("etc/passwd"), passwd).unwrap();
        ctx.ok(&["import", dir.to_str().unwrap(), "big"]);
        let out = run_ok(
            ctx,
            &[
                "--rm",
                "--userns=keep-id",
                "big",
                "grep",
                "-c",
                "^last:",
                "/etc/passwd",
            ],
        );
        assert_eq!(out.stdout, "1\n", "the image's whole file");
    });
}

/// An image that has the caller's user and group names under other ids
/// keeps its lines and gains no second line of the same name (which made
/// `getpwnam` and `getpwuid` disagree), as with podman.
#[test]
fn run_keep_id_name_the_image_has_under_another_id() {
    if !have_busybox() {
        return;
    }
    for_each_user("run_keep_id_name_the_image_has_under_another_id", |ctx| {
        let group = host_group_name(ctx.user.gid);
        let dir = ctx.work.join("named");
        make_rootfs(ctx, &dir);
        let mut passwd = fs::read_to_string(dir.join("etc/passwd")).unwrap();
        passwd.push_str(&format!("{}:x:4343:4343::/home/x:/bin/sh\n", ctx.user.name));
        fs::write(dir.join("etc/passwd"), passwd).unwrap();
        let mut groups = fs::read_to_string(dir.join("etc/group")).unwrap();
        groups.push_str(&format!("{group}:x:4343:\n"));
        fs::write(dir.join("etc/group"), groups).unwrap();
        ctx.ok(&["import", dir.to_str().unwrap(), "named"]);
        let script = format!(
            "grep ^{}: /etc/passwd; grep ^{group}: /etc/group",
            ctx.user.name
        );
        let out = run_ok(
            ctx,
            &["--rm", "--userns=keep-id", "named", "sh", "-c", &script],
        );
        assert_eq!(
            out.stdout,
            format!(
                "{}:x:4343:4343::/home/x:/bin/sh\n{group}:x:4343:\n",
                ctx.user.name
            ),
            "the image's own lines, once"
        );
    });
}

/// The name of the host's group `gid`.
fn host_group_name(gid: u32) -> String {
    fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.get(2) == Some(&gid.to_string().as_str())).then(|| f[0].to_string())
        })
        .expect("the test user's group")
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
