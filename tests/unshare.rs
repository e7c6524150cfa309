//! `rless unshare`: a command runs as root in the containers' user
//! namespace, so files a container's other users left in a bind mount can
//! be removed; its exit code is the command's. ^C typed at the terminal
//! is the command's to handle. rless run inside it knows it is rootless,
//! and in single-id mode stays in single-id mode.

mod common;

use common::pty::PtySession;
use common::rootfs::user_dir;
use common::run_helpers::*;
use common::{for_each_user, Mode};
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn unshare_runs_as_root_of_the_containers_namespace() {
    if !have_busybox() {
        return;
    }
    for_each_user("unshare_runs_as_root_of_the_containers_namespace", |ctx| {
        // Root there; the map is the containers' (one line per range).
        let out = ctx.ok(&["unshare", "sh", "-c", "id -u; wc -l < /proc/self/uid_map"]);
        let lines: Vec<&str> = out.stdout.split_whitespace().collect();
        let ranges = if ctx.user.mode == Mode::Subuid {
            "2"
        } else {
            "1"
        };
        assert_eq!(lines, ["0", ranges], "{out}");
        // rless run there is uid 0, yet rootless all the same.
        let bin = common::rless_bin();
        let root = ctx.root.to_string_lossy();
        let out = ctx.ok(&[
            "unshare",
            bin.to_str().unwrap(),
            "--root",
            &root,
            "info",
            "--format",
            "{{.Host.Rootless}}",
        ]);
        assert_eq!(out.stdout, "true\n", "{out}");

        // The command's exit code; 127 for a command that is not there,
        // 126 for one that cannot run; one line on stderr for both.
        let out = ctx.rless(&["unshare", "sh", "-c", "exit 7"]);
        assert_eq!(out.code, Some(7), "{out}");
        for (cmd, code) in [
            ("no-such-command", 127),
            ("/no/such/file", 127),
            ("/etc/passwd", 126),
        ] {
            let out = ctx.rless(&["unshare", cmd]);
            assert_eq!(out.code, Some(code), "{out}");
            assert_eq!(out.stderr.lines().count(), 1, "{out}");
            assert!(out.stderr.starts_with("rless: "), "{out}");
        }
        // No command: $SHELL reads the commands from stdin.
        let out = ctx.rless_stdin(&["unshare"], b"echo from-shell $(id -u)\n");
        assert_eq!(out.stdout, "from-shell 0\n", "{out}");

        if ctx.user.mode != Mode::Subuid {
            return;
        }
        // A container's uid 1000 writes into a bind mount: on the host the
        // files belong to a subordinate id the user cannot remove...
        assert!(setup_image(ctx));
        let vol = user_dir(ctx, "vol");
        let v = format!("{}:/data", vol.display());
        sh(
            ctx,
            &["-v", &v],
            "mkdir /data/d && echo x > /data/d/f && chown -R 1000:1000 /data/d",
        );
        let d = vol.join("d");
        let rm = ctx
            .command(std::path::Path::new("/bin/rm"))
            .args(["-rf", d.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!rm.status.success() && d.join("f").exists());
        // ...but can through unshare, where the id is mapped.
        let out = ctx.ok(&["unshare", "stat", "-c", "%u", d.to_str().unwrap()]);
        assert_eq!(out.stdout, "1000\n", "{out}");
        ctx.ok(&["unshare", "rm", "-rf", d.to_str().unwrap()]);
        assert!(!d.exists());
        assert!(fs::read_dir(&vol).unwrap().next().is_none());
    });
}

/// ^C typed at the terminal reaches the foreground process group, the
/// command inside included, which decides what it means: a command that
/// traps SIGINT carries on and `rless unshare` ends with its exit code. (In
/// subuid mode the rless that launched the namespace and waits for it died
/// of the ^C, and the command with it, by SIGTERM.)
#[test]
fn unshare_leaves_ctrl_c_to_the_command() {
    for_each_user("unshare_leaves_ctrl_c_to_the_command", |ctx| {
        let script = "trap 'echo got-INT; n=1' INT; echo ready; \
                      while [ -z \"$n\" ]; do sleep 0.1; done; echo carried-on; exit 3";
        let mut pty = PtySession::spawn(ctx, &["unshare", "sh", "-c", script], 24, 80);
        pty.wait_for("ready");
        pty.type_in(b"\x03");
        let (code, text) = pty.finish();
        assert!(text.contains("got-INT"), "{text:?}");
        assert!(text.contains("carried-on"), "{text:?}");
        assert_eq!(code, Some(3), "{text:?}");
    });
}

/// In single-id mode the user is uid 0 of `rless unshare`'s namespace,
/// but rless run there is still the user in single-id mode, not real root:
/// it says so, and it drops the owners of a layer's files rather than
/// chown them to ids that are not mapped (which failed the import), and
/// reads the user's short-name alias cache, not root's.
#[test]
fn rless_inside_a_single_id_unshare_is_still_single_id() {
    if !have_busybox() {
        return;
    }
    for_each_user(
        "rless_inside_a_single_id_unshare_is_still_single_id",
        |ctx| {
            if ctx.user.mode != Mode::Single {
                return;
            }
            assert!(setup_image(ctx));
            let layer = common::oci::LayerBuilder::new()
                .file_owned("f", b"owned\n", 0o644, 1000, 1000)
                .finish();
            let tar = user_dir(ctx, "layer").join("owned.tar");
            fs::write(&tar, layer).unwrap();
            fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).unwrap();
            let r = ctx.rless_words();
            let script = format!(
                "R='{r}'
             $R info | grep '^Id mapping:'
             $R import {} owned >/dev/null || exit 9
             $R run --rm {IMG} id -u",
                tar.display()
            );
            let out = ctx.rless(&["unshare", "sh", "-c", &script]);
            assert_eq!(out.code, Some(0), "{out}");
            assert!(
                out.stdout.contains("single (in the single-id namespace"),
                "{out}"
            );
            assert!(out.stdout.ends_with("\n0\n"), "{out}");
            assert!(out.stderr.is_empty(), "{out}");
        },
    );
}

/// rless run inside `rless unshare` runs containers there, as podman's:
/// in subuid mode it is already in their user namespace (newuidmap may not
/// map from inside, which failed `run`, `start`, `cp`), and a network
/// helper started there is in that same namespace (joining it again failed
/// with EINVAL).
#[test]
fn containers_run_inside_unshare() {
    if !have_busybox() {
        return;
    }
    for_each_user("containers_run_inside_unshare", |ctx| {
        assert!(setup_image(ctx));
        let r = ctx.rless_words();
        let out_file = user_dir(ctx, "out").join("passwd");
        let script = format!(
            "R='{r}'
             $R run --rm {IMG} echo ran || exit 9
             $R create --name c {IMG} true >/dev/null || exit 8
             $R cp c:/etc/passwd {} || exit 7
             $R network create n >/dev/null || exit 6
             $R run --rm --network n {IMG} echo on-network || exit 5",
            out_file.display()
        );
        let out = ctx.rless(&["unshare", "sh", "-c", &script]);
        assert_eq!(out.code, Some(0), "{out}");
        assert_eq!(out.stdout, "ran\non-network\n", "{out}");
        assert!(fs::read_to_string(&out_file).unwrap().starts_with("root:"));
        // Outside, after the session: the same network still serves.
        let out = ctx.ok(&["run", "--rm", "--network", "n", IMG, "echo", "outside"]);
        assert_eq!(out.stdout, "outside\n", "{out}");
        ctx.ok(&["rm", "c"]);
        ctx.ok(&["network", "rm", "n"]);
    });
}

/// `--userns keep-id` inside `rless unshare`, where the user is uid 0:
/// the container keeps their real ids (and name), not 0, for a container
/// made there and for one made outside and started there, and a file it
/// writes to a bind mount is theirs on the host. Single-id mode: its uid
/// was not mapped at all ("uid ... is not mapped"); subuid mode: keep-id
/// needs a map newuidmap cannot make from inside (a nested namespace that
/// the session's root maps itself).
#[test]
fn keep_id_inside_an_unshare_is_the_real_user() {
    if !have_busybox() {
        return;
    }
    for_each_user("keep_id_inside_an_unshare_is_the_real_user", |ctx| {
        assert!(setup_image(ctx));
        let ids = "id -u; id -g; id -un";
        ctx.ok(&[
            "create", "--name", "k", "--userns", "keep-id", IMG, "sh", "-c", ids,
        ]);
        let dir = ctx.work.join("kd");
        std::fs::create_dir(&dir).unwrap();
        ctx.give(&dir);
        let r = ctx.rless_words();
        let script = format!(
            "R='{r}'
             $R run --rm --userns keep-id -v '{}:/kd' {IMG} sh -c '{ids}; touch /kd/f' || exit 9
             $R start -a k || exit 8",
            dir.display()
        );
        let out = ctx.rless(&["unshare", "sh", "-c", &script]);
        assert_eq!(out.code, Some(0), "{out}");
        let (u, g, name) = (ctx.user.uid, ctx.user.gid, &ctx.user.name);
        let want = format!("{u}\n{g}\n{name}\n");
        assert_eq!(out.stdout, format!("{want}{want}"), "{out}");
        let (fu, fg, _) = common::owner_mode(&dir.join("f"));
        assert_eq!((fu, fg), (u, g), "the bind mount's file");
        ctx.ok(&["rm", "k"]);
        assert_eq!(ctx.ok(&["ps", "-aq"]).stdout, "", "a container was left");
    });
}
