//! A store whose filesystem cannot keep the owners rless's user namespace
//! gives files (NFS refuses a chown to another uid from anyone but root;
//! home directories on HPC login nodes are often NFS). rless asks once per
//! store and then runs in single-id mode there, as for a user without a
//! subordinate range, saying why (src/runtime/owners.rs). NFS itself cannot
//! be mounted on these machines, so the store lives on bindfs with
//! `--chown-deny`, which refuses every chown as an NFS server refuses
//! giving a file away.

mod common;

use common::oci::{busybox, LayerBuilder};
use common::{for_each_user, is_root, skip, Ctx, Mode};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const WARNING: &str = "cannot keep files of your subordinate ids";

/// A bindfs mount that refuses chown, unmounted on drop.
struct NoChown(PathBuf);

impl NoChown {
    fn mount(ctx: &Ctx) -> Option<NoChown> {
        if !Path::new("/usr/bin/bindfs").exists() {
            skip("bindfs is not installed (tests/run.sh installs it)");
            return None;
        }
        let (src, mnt) = (ctx.work.join("nfs-src"), ctx.work.join("nfs"));
        for d in [&src, &mnt] {
            fs::create_dir_all(d).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
            ctx.give(d);
        }
        // The store's root is made before the mount: a chown (`give`)
        // through it is refused.
        let root = src.join("store");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        ctx.give(&root);
        let st = Command::new("bindfs")
            .args(["-o", "allow_other", "--chown-deny"])
            .arg(&src)
            .arg(&mnt)
            .status()
            .expect("run bindfs");
        assert!(st.success(), "bindfs failed: {st}");
        Some(NoChown(mnt))
    }
}

impl Drop for NoChown {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// busybox plus a file and a directory of uid 1000, as an image tar.
fn owned_image(ctx: &Ctx) -> PathBuf {
    let tar = LayerBuilder::new()
        .busybox(busybox().unwrap())
        .dir_owned("home/app", 0o755, 1000, 1000)
        .file_owned("home/app/data", b"app's\n", 0o644, 1000, 1000)
        .finish();
    ctx.write_file("owned.tar", &tar)
}

#[test]
fn store_that_refuses_owners_runs_single_id() {
    if !is_root() {
        skip("mounting bindfs for the test user's store needs real root");
        return;
    }
    if busybox().is_none() {
        skip("busybox-static is not installed");
        return;
    }
    for_each_user("store_that_refuses_owners_runs_single_id", |ctx| {
        let Some(fs) = NoChown::mount(ctx) else {
            return;
        };
        let work = ctx.work.join("inner");
        fs::create_dir(&work).unwrap();
        ctx.give(&work);
        let inner = Ctx {
            test: ctx.test.clone(),
            user: ctx.user.clone(),
            work,
            root: fs.0.join("store"),
        };
        let tar = owned_image(ctx);
        // Extraction gives uid 1000's files their owner with a chown,
        // which failed here and with it every pull and import.
        let out = inner.ok(&["import", tar.to_str().unwrap(), "owned"]);
        let refused = inner.root.join("owners-refused");
        match ctx.user.mode {
            Mode::Subuid => {
                assert_eq!(out.stderr.matches(WARNING).count(), 1, "{out}");
                assert!(refused.exists() && !inner.root.join("owners-kept").exists());
            }
            // No range, nothing to ask: single-id mode for its own reason.
            Mode::Single => {
                assert!(!out.stderr.contains(WARNING), "{out}");
                assert!(!refused.exists());
            }
        }
        // Asked once: later commands say nothing and read the answer.
        let info = inner.ok(&["info", "--format", "json"]);
        assert!(!info.stderr.contains(WARNING), "{info}");
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        assert_eq!(v["IdMapping"]["Mode"], "single", "{info}");
        if ctx.user.mode == Mode::Subuid {
            let why = v["IdMapping"]["Reason"].as_str().unwrap();
            assert!(why.contains(WARNING) && why.contains("--root"), "{why}");
        }
        // Containers run, with every file the user's (root inside), and
        // change their layer on that filesystem: copy-up of a file and of
        // directories, a deletion (fuse-overlay moves both into place with
        // RENAME_NOREPLACE, which NFS and bindfs refuse with EINVAL).
        let out = inner.ok(&[
            "run",
            "--rm",
            "owned",
            "sh",
            "-c",
            "id -u; stat -c %u /home/app/data; echo new >> /home/app/data; cat /home/app/data; \
             touch /bin/made && ls /bin/made; rm /etc/passwd; test -e /etc/passwd || echo gone",
        ]);
        assert_eq!(out.stdout, "0\n0\napp's\nnew\n/bin/made\ngone\n", "{out}");
        assert!(!out.stderr.contains(WARNING), "{out}");
        // A --rm container its monitor left (killed after the exit) is
        // removed whole by the next listing: every file here is the
        // user's (it was renamed away as debris, for subuid mode's sake).
        let id = inner.ok(&["create", "--rm", "owned", "true"]).stdout;
        let state = inner
            .root
            .join("containers")
            .join(id.trim())
            .join("state.json");
        let mut st: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
        st["status"] = "exited".into();
        st["monitor_pid"] = dead_pid().into();
        st["monitor_start"] = 1.into();
        fs::write(&state, serde_json::to_vec(&st).unwrap()).unwrap();
        assert_eq!(inner.ok(&["ps", "-aq"]).stdout, "");
        let left = common::list_names(&inner.root.join("containers"));
        assert!(left.is_empty(), "{left:?}");
        // --uidmap: refused as in single-id mode, without saying the user
        // has no range (they have one; the store is the cause).
        let out = inner.rless(&["run", "--rm", "--uidmap", "0:1:1", "owned", "true"]);
        assert_eq!(out.code, Some(125), "{out}");
        assert!(
            out.stderr.contains("single-id mode") && !out.stderr.contains("has none"),
            "{out}"
        );
        inner.ok(&["rmi", "owned"]);
    });
}

/// A pid no process has (a child that ended).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// A probe killed midway leaves its file and its unfinished answer in the
/// store's root, which the store's sweep of its subdirectories never
/// reached: the next probe removes them, and so does the exclusive lock's
/// sweep; a running process's are left alone.
#[test]
fn killed_probe_s_files_are_swept() {
    for_each_user("killed_probe_s_files_are_swept", |ctx| {
        let plant = |pid: u32| {
            let names = [
                format!(".tmp-{pid}-owners-probe"),
                format!(".tmp-{pid}-owners-kept"),
            ];
            for n in &names {
                let p = ctx.root.join(n);
                fs::write(&p, "").unwrap();
                ctx.give(&p);
            }
            names
        };
        let mut live = plant(std::process::id()).to_vec();
        live.sort();
        plant(dead_pid());
        let tmp = |ctx: &Ctx| -> Vec<String> {
            let names = common::list_names(&ctx.root);
            names
                .into_iter()
                .filter(|n| n.starts_with(".tmp-"))
                .collect()
        };
        ctx.ok(&["images"]);
        if ctx.user.mode == Mode::Subuid {
            assert!(ctx.root.join("owners-kept").exists());
            assert_eq!(tmp(ctx), live);
        }
        plant(dead_pid());
        ctx.ok(&["image", "prune", "-f"]);
        assert_eq!(tmp(ctx), live);
    });
}

/// On a local disk the answer is that owners are kept: subuid mode stays,
/// and the probe leaves only its answer behind.
#[test]
fn local_store_keeps_owners() {
    if busybox().is_none() {
        skip("busybox-static is not installed");
        return;
    }
    for_each_user("local_store_keeps_owners", |ctx| {
        let tar = owned_image(ctx);
        let out = ctx.ok(&["import", tar.to_str().unwrap(), "owned"]);
        assert!(!out.stderr.contains(WARNING), "{out}");
        let names = common::list_names(&ctx.root);
        assert!(!names.iter().any(|n| n.starts_with(".tmp-")), "{names:?}");
        let kept = names.contains("owners-kept");
        assert_eq!(kept, ctx.user.mode == Mode::Subuid, "{names:?}");
        assert!(!names.contains("owners-refused"), "{names:?}");
        let want = match ctx.user.mode {
            Mode::Subuid => "1000\n",
            Mode::Single => "0\n",
        };
        let out = ctx.ok(&["run", "--rm", "owned", "stat", "-c", "%u", "/home/app/data"]);
        assert_eq!(out.stdout, want, "{out}");
    });
}

/// Commands that never touch the store neither ask nor make the store.
#[test]
fn store_free_commands_do_not_probe() {
    for_each_user("store_free_commands_do_not_probe", |ctx| {
        let fresh = ctx.work.join("fresh");
        for args in [&["version"][..], &["logout", "--all"]] {
            let mut c = ctx.command(common::rless_bin());
            c.arg("--root").arg(&fresh).args(args);
            let out = common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "{out}");
            assert!(!fresh.exists(), "{args:?} made the store");
        }
    });
}
