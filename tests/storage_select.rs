//! Which storage driver a container gets: `auto` takes kernel overlayfs
//! where it can serve the store and fuse-overlay where it cannot (a FUSE or
//! NFS store, one without user xattrs, `--userns keep-id`); the config
//! file, the environment and `--storage-driver` choose; `info` tells. Also
//! what both drivers must agree on in what `diff` and `commit` see.

mod common;
mod storage_support;

use common::oci::busybox;
use common::{for_each_user, skip, Ctx, Mode};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use storage_support::{fuse_overlay_reason, setup_image, store_at, IMG};

/// `auto` picks fuse-overlay where the kernel refuses overlayfs: a store
/// on a FUSE filesystem (here fuse-overlay itself, mounted by real root as
/// NFS would be by the admin) cannot be an overlayfs upper layer, since
/// overlayfs refuses upper layers on filesystems that revalidate dentries
/// (NFS, FUSE). `info` says so, and `run` works on that store.
/// A deletion there takes the marker form (the host filesystem refuses 0:0
/// devices, as overlayfs does), and a name that starts with `.wh.` is
/// still an ordinary file: both go through the host fuse-overlay escaped.
#[test]
fn auto_picks_fuse_overlay_where_the_kernel_refuses() {
    if !common::is_root() {
        skip("mounting a FUSE filesystem that the test user's store lives on needs real root");
        return;
    }
    for_each_user("auto_picks_fuse_overlay_where_the_kernel_refuses", |ctx| {
        if busybox().is_none() || fs::metadata("/dev/fuse").is_err() {
            skip("busybox-static or /dev/fuse is missing");
            return;
        }
        let host = ctx.work.join("hostfs");
        let (lower, upper, work, mnt) = (
            host.join("l"),
            host.join("u"),
            host.join("w"),
            host.join("m"),
        );
        for d in [&lower, &upper, &work, &mnt] {
            fs::create_dir_all(d).unwrap();
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let handle = fuse_overlay::mount(fuse_overlay::Config {
            lower: vec![lower],
            upper,
            work,
            mountpoint: mnt.clone(),
            options: fuse_overlay::Options::default(),
        })
        .expect("mount the FUSE filesystem for the store");
        {
            // A user whose store is on that filesystem.
            let inner = store_at(ctx, mnt.join("store"));
            let reason = fuse_overlay_reason(&inner);
            assert!(reason.contains("refuses overlayfs"), "{reason}");
            assert!(setup_image(&inner));
            let out = inner.ok(&[
                "run",
                "--name",
                "onfuse",
                IMG,
                "sh",
                "-c",
                "mount | grep ' / '; cat /data/keep; echo new > /data/new; rm /data/gone; \
                 echo odd > /data/.wh.made; cat /data/.wh.made; ls -a /data",
            ]);
            assert!(
                out.stdout.contains("fuse"),
                "the root is a FUSE mount: {out}"
            );
            assert!(out.stdout.contains("kept"), "{out}");
            assert!(out.stdout.contains("odd"), "{out}");
            assert!(!out.stdout.contains("gone"), "{out}");
            let insp = inner.ok(&["inspect", "onfuse"]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            assert_eq!(c[0]["GraphDriver"]["Name"], "fuse-overlay", "{insp}");
            let diff = inner.ok(&["diff", "onfuse"]);
            assert!(diff.stdout.contains("A /data/new"), "{diff}");
            assert!(diff.stdout.contains("D /data/gone"), "{diff}");
            assert!(diff.stdout.contains("A /data/.wh.made"), "{diff}");
            // An image layer cannot hold a `.wh.` name: commit says so.
            let commit = inner.ok(&["commit", "onfuse", "committed"]);
            assert!(
                commit.stderr.contains("warning: /data/.wh.made left out"),
                "{commit}"
            );
            let out = inner.ok(&["run", "--rm", "committed", "ls", "-a", "/data"]);
            assert!(
                out.stdout.contains("new") && !out.stdout.contains("gone"),
                "{out}"
            );
            assert!(!out.stdout.contains(".wh."), "{out}");
            inner.ok(&["rm", "onfuse"]);
            // Layers in the marker form: `diff` reads them as the union does.
            diff_over_layers(&inner, "fuse-overlay");
            // Forcing the kernel here is a clear error, and leaves nothing.
            let before = inner.snapshot();
            let out = inner.fail(&["run", "--rm", "--storage-driver", "overlay", IMG, "true"]);
            assert!(out.stderr.contains("overlay"), "{out}");
            inner
                .snapshot()
                .assert_same(&before, "run with a refused overlay");
            // `inner` resets its store here, while the filesystem is mounted.
        }
        handle.unmount().expect("unmount the store's filesystem");
    });
}

/// `$XDG_CONFIG_HOME/rless/storage.toml` picks the driver for `run` and
/// `info`; `--storage-driver` and `RLESS_STORAGE_DRIVER` come first; a bad
/// file is a one-line error naming it, and leaves nothing behind.
#[test]
fn storage_toml_picks_the_driver() {
    for_each_user("storage_toml_picks_the_driver", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let cfg = ctx.work.join("cfg");
        let file = |body: &str| ctx.write_file("cfg/rless/storage.toml", body.as_bytes());
        let rless = |args: &[&str], env: &[(&str, &str)]| {
            let mut c = ctx.rless_cmd(args);
            c.env("XDG_CONFIG_HOME", &cfg);
            for (k, v) in env {
                c.env(k, v);
            }
            common::run_cmd(c, None, common::CMD_TIMEOUT, &ctx.user.name)
        };
        let graph_driver = |name: &str| {
            let insp = ctx.ok(&["inspect", name]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            c[0]["GraphDriver"]["Name"].as_str().unwrap().to_string()
        };

        file("# the user's choice\n[storage]\ndriver = \"fuse-overlay\"\n");
        let out = rless(&["info", "--format", "json"], &[]);
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["Storage"]["Driver"], "fuse-overlay", "{out}");
        let reason = v["Storage"]["Reason"].as_str().unwrap();
        assert!(reason.contains("cfg/rless/storage.toml"), "{out}");
        let out = rless(
            &[
                "run",
                "--name",
                "byfile",
                IMG,
                "sh",
                "-c",
                "mount | grep ' / '",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        assert!(
            out.stdout.contains("fuse"),
            "the root is a FUSE mount: {out}"
        );
        assert_eq!(graph_driver("byfile"), "fuse-overlay");

        // The command line and the environment come before the file.
        let out = rless(
            &[
                "run",
                "--name",
                "byflag",
                "--storage-driver",
                "auto",
                IMG,
                "true",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        let auto = graph_driver("byflag");
        let probe = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&probe.stdout).unwrap();
        assert_eq!(v["Storage"]["Driver"], auto.as_str(), "{probe}");
        let out = rless(&["info"], &[("RLESS_STORAGE_DRIVER", "overlay")]);
        assert!(
            out.stdout.contains("overlay (set by RLESS_STORAGE_DRIVER)"),
            "{out}"
        );
        ctx.ok(&["rm", "byfile", "byflag"]);

        // A value or a key this version does not know: one line naming the
        // file, exit 125, no container.
        let before = ctx.snapshot();
        for (body, says) in [
            (
                "[storage]\ndriver = \"zfs\"\n",
                "unknown storage driver \"zfs\"",
            ),
            ("[storage]\ndrivr = \"overlay\"\n", "drivr"),
            ("[storage\n", "storage.toml"),
        ] {
            file(body);
            for args in [&["run", "--name", "bad", IMG, "true"][..], &["info"][..]] {
                let out = rless(args, &[]);
                out.assert_rless_error();
                assert!(out.stderr.contains("cfg/rless/storage.toml"), "{out}");
                assert!(out.stderr.contains(says), "{out}");
            }
        }
        // An empty RLESS_STORAGE_DRIVER is unset, for run as for info.
        for args in [&["run", "--name", "bad", IMG, "true"][..], &["info"][..]] {
            let out = rless(args, &[("RLESS_STORAGE_DRIVER", "")]);
            out.assert_rless_error();
            assert!(out.stderr.contains("cfg/rless/storage.toml"), "{out}");
        }
        ctx.snapshot().assert_same(&before, "bad storage.toml");
        // An explicit driver does not need the file.
        let out = rless(
            &[
                "run",
                "--rm",
                "--storage-driver",
                "fuse-overlay",
                IMG,
                "true",
            ],
            &[],
        );
        assert!(out.success(), "{out}");
        fs::remove_dir_all(&cfg).unwrap();
    });
}

#[test]
fn info_reports_the_driver_run_uses() {
    for_each_user("info_reports_the_driver_run_uses", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let info = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        let said = v["Storage"]["Driver"].as_str().unwrap().to_string();
        assert!(
            v["Storage"]["Reason"]
                .as_str()
                .is_some_and(|r| r.contains("on this store")),
            "{info}"
        );
        ctx.ok(&["run", "--name", "auto", IMG, "true"]);
        let insp = ctx.ok(&["inspect", "auto"]);
        let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
        assert_eq!(c[0]["GraphDriver"]["Name"], said.as_str(), "{info}\n{insp}");
        ctx.ok(&["rm", "auto"]);
        // The probe leaves nothing in the store.
        let probes = fs::read_dir(&ctx.root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("probe"))
            .count();
        assert_eq!(probes, 0);
        // A forced driver is reported as such.
        let mut forced = ctx.rless_cmd(&["info"]);
        forced.env("RLESS_STORAGE_DRIVER", "fuse-overlay");
        let out = common::run_cmd(
            forced,
            None,
            std::time::Duration::from_secs(30),
            &ctx.user.name,
        );
        assert!(
            out.stdout
                .contains("fuse-overlay (set by RLESS_STORAGE_DRIVER)"),
            "{out}"
        );
        // A store that info is the first to make is private, as the store
        // always makes it (not left to the umask).
        let fresh = ctx.work.join("fresh-root");
        let mut first = ctx.command(common::rless_bin());
        first.arg("--root").arg(&fresh).arg("info");
        let out = common::run_cmd(first, None, common::CMD_TIMEOUT, &ctx.user.name);
        assert!(out.success(), "{out}");
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{out}");
    });
}

/// A store on a filesystem without user xattrs (ramfs here; NFS, some
/// Lustre setups): kernel overlayfs would mount there, but could not mark
/// an opaque directory, so removing or renaming an image directory failed
/// with EIO half way. `auto` takes fuse-overlay instead, `info` says why,
/// and forcing `overlay` is a clear error that leaves nothing behind.
#[test]
fn auto_avoids_kernel_overlay_without_user_xattrs() {
    if !common::is_root() {
        skip("mounting a ramfs for the test user's store needs real root");
        return;
    }
    for_each_user("auto_avoids_kernel_overlay_without_user_xattrs", |ctx| {
        if busybox().is_none() || fs::metadata("/dev/fuse").is_err() {
            skip("busybox-static or /dev/fuse is missing");
            return;
        }
        let mnt = ctx.work.join("ramfs");
        fs::create_dir_all(&mnt).unwrap();
        rustix::mount::mount(
            "ramfs",
            &mnt,
            "ramfs",
            rustix::mount::MountFlags::empty(),
            c"mode=0755",
        )
        .expect("mount a ramfs");
        // Unmounted however the test ends.
        struct Unmount<'a>(&'a std::path::Path);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = rustix::mount::unmount(self.0, rustix::mount::UnmountFlags::DETACH);
            }
        }
        let _unmount = Unmount(&mnt);
        {
            let inner = store_at(ctx, mnt.join("store"));
            let reason = fuse_overlay_reason(&inner);
            assert!(reason.contains("extended attributes"), "{reason}");
            assert!(setup_image(&inner));
            let out = inner.ok(&[
                "run",
                "--name",
                "noxattr",
                IMG,
                "sh",
                "-c",
                "mv /data /moved && echo mv=$?; cat /moved/keep; rm -rf /moved && echo rm=$?; \
                 ls -a /",
            ]);
            assert!(out.stdout.contains("mv=0"), "{out}");
            assert!(out.stdout.contains("kept"), "{out}");
            assert!(out.stdout.contains("rm=0"), "{out}");
            assert!(
                !out.stdout.contains("data") && !out.stdout.contains("moved"),
                "{out}"
            );
            let insp = inner.ok(&["inspect", "noxattr"]);
            let c: serde_json::Value = serde_json::from_str(&insp.stdout).unwrap();
            assert_eq!(c[0]["GraphDriver"]["Name"], "fuse-overlay", "{insp}");
            inner.ok(&["rm", "noxattr"]);
            let before = inner.snapshot();
            let out = inner.fail(&["run", "--rm", "--storage-driver", "overlay", IMG, "true"]);
            assert!(out.stderr.contains("extended attributes"), "{out}");
            inner
                .snapshot()
                .assert_same(&before, "run with overlay forced on a store without xattrs");
        }
    });
}

/// `--userns keep-id` shows the image's files with the owners the image
/// gives them (root's as 0, uid 1000's as 1000), as podman does: the
/// layers are stored in the default layout, which the keep-id map would
/// shift, so fuse-overlay shows them back. Files the caller makes belong
/// to the caller's id in later runs too. Kernel overlayfs cannot do this:
/// forcing it is a clear error that leaves nothing.
#[test]
fn keep_id_shows_the_image_owners() {
    for_each_user("keep_id_shows_the_image_owners", |ctx| {
        if ctx.user.mode != Mode::Subuid {
            eprintln!("single-id mode maps no uid 1000; this test is for subuid mode");
            return;
        }
        if !setup_image(ctx) {
            return;
        }
        ctx.ok(&[
            "run",
            "--name",
            "own",
            IMG,
            "sh",
            "-c",
            "chown 1000:1000 /data/keep && chown 1:1 /data/gone && chmod 1777 /tmp",
        ]);
        ctx.ok(&["commit", "own", "owned"]);
        ctx.ok(&["rm", "own"]);
        let me = ctx.user.uid.to_string();
        let out = ctx.ok(&[
            "run",
            "--name",
            "kept",
            "--userns=keep-id",
            "owned",
            "sh",
            "-c",
            "id -u; stat -c '%u:%g' /data/keep /data/gone /bin /data/sub/file; \
             echo mine > /tmp/mine; stat -c '%u' /tmp/mine",
        ]);
        assert_eq!(
            out.stdout,
            format!("{me}\n1000:1000\n1:1\n0:0\n0:0\n{me}\n"),
            "{out}"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--userns=keep-id",
            "-u",
            "1000",
            "owned",
            "sh",
            "-c",
            "echo more >> /data/keep && cat /data/keep",
        ]);
        assert_eq!(out.stdout, "kept\nmore\n", "{out}");
        let insp = ctx.ok(&["inspect", "-f", "{{.Driver}}", "kept"]);
        assert_eq!(insp.stdout.trim(), "fuse-overlay", "{insp}");
        // The caller's file, seen without keep-id after a commit.
        ctx.ok(&["commit", "kept", "mine"]);
        let out = ctx.ok(&["run", "--rm", "mine", "stat", "-c", "%u", "/tmp/mine"]);
        assert_eq!(out.stdout.trim(), me, "{out}");
        ctx.ok(&["rm", "kept"]);
        let before = ctx.snapshot();
        let out = ctx.fail(&[
            "run",
            "--rm",
            "--userns=keep-id",
            "--storage-driver",
            "overlay",
            "owned",
            "true",
        ]);
        assert!(
            out.stderr.contains("keep-id needs the fuse-overlay"),
            "{out}"
        );
        ctx.snapshot()
            .assert_same(&before, "keep-id with overlay forced");
    });
}

/// A file the container names `.wh.X` (or `.wh..wh..opq`) is a file on both
/// drivers: `diff` lists it as added and deletes nothing, and `commit`,
/// since an image layer cannot hold such a name, leaves it out with a
/// warning instead of deleting `X` (or emptying the directory). Kernel
/// overlayfs stores the name as it is, fuse-overlay escaped.
#[test]
fn wh_names_are_files_on_both_drivers() {
    for_each_user("wh_names_are_files_on_both_drivers", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let info = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        let mut drivers = vec!["fuse-overlay"];
        if v["Storage"]["Driver"] == "overlay" {
            drivers.push("overlay");
        } else {
            eprintln!("kernel overlayfs is not usable here ({info}): fuse-overlay only");
        }
        for d in drivers {
            let name = format!("wh-{d}");
            ctx.ok(&[
                "run",
                "--name",
                &name,
                "--storage-driver",
                d,
                IMG,
                "sh",
                "-c",
                "touch /data/.wh.keep /data/sub/.wh..wh..opq",
            ]);
            let diff = ctx.ok(&["diff", &name]);
            assert!(diff.stdout.contains("A /data/.wh.keep\n"), "{d}: {diff}");
            assert!(
                diff.stdout.contains("A /data/sub/.wh..wh..opq\n"),
                "{d}: {diff}"
            );
            assert!(!diff.stdout.contains("D "), "{d}: {diff}");
            let image = format!("whimg-{d}");
            let commit = ctx.ok(&["commit", &name, &image]);
            for n in ["/data/.wh.keep", "/data/sub/.wh..wh..opq"] {
                assert!(
                    commit.stderr.contains(&format!("warning: {n} left out")),
                    "{d}: {commit}"
                );
            }
            let out = ctx.ok(&["run", "--rm", &image, "ls", "-a", "/data", "/data/sub"]);
            assert!(
                out.stdout.contains("keep") && out.stdout.contains("file"),
                "{d}: the image's files stay: {out}"
            );
            assert!(!out.stdout.contains(".wh."), "{d}: {out}");
            ctx.ok(&["rm", &name]);
        }
    });
}

/// On `ctx`'s store with `driver`: an image of two layers (the second
/// deletes /data/gone and replaces /data/sub by a directory holding `new`
/// and `deep/f`), and a container of it that makes /data/gone again and
/// replaces /data/sub once more. `diff` tells what the union shows: the
/// file the image deleted is added, the image's entries the replaced
/// directory hides are deleted (not what is under them), and a name that
/// only a layer below the image's own replacement held is added.
fn diff_over_layers(ctx: &Ctx, driver: &str) {
    let (base, img, ctr) = (
        format!("dl-{driver}"),
        format!("dl-img-{driver}"),
        format!("dl-c-{driver}"),
    );
    ctx.ok(&[
        "run",
        "--name",
        &base,
        "--storage-driver",
        driver,
        IMG,
        "sh",
        "-c",
        "rm /data/gone && rm -r /data/sub && busybox mkdir -p /data/sub/deep && \
         echo > /data/sub/new && echo > /data/sub/deep/f",
    ]);
    ctx.ok(&["commit", &base, &img]);
    ctx.ok(&[
        "run",
        "--name",
        &ctr,
        "--storage-driver",
        driver,
        &img,
        "sh",
        "-c",
        "echo back > /data/gone && rm -r /data/sub && busybox mkdir /data/sub && \
         echo > /data/sub/file && echo > /data/sub/x",
    ]);
    let diff = ctx.ok(&["diff", &ctr]);
    let got: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.contains(" /data"))
        .collect();
    assert_eq!(
        got,
        [
            "C /data",
            "A /data/gone",
            "C /data/sub",
            "D /data/sub/deep",
            "A /data/sub/file",
            "D /data/sub/new",
            "A /data/sub/x"
        ],
        "{driver}: {diff}"
    );
    for c in [&ctr, &base] {
        ctx.ok(&["rm", c]);
    }
}

/// `diff` over a layered image on both drivers (see [`diff_over_layers`]).
#[test]
fn diff_reads_the_image_as_the_union_does() {
    for_each_user("diff_reads_the_image_as_the_union_does", |ctx| {
        if !setup_image(ctx) {
            return;
        }
        let info = ctx.ok(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
        if v["Storage"]["Driver"] == "overlay" {
            diff_over_layers(ctx, "overlay");
        } else {
            eprintln!("kernel overlayfs is not usable here ({info}): fuse-overlay only");
        }
        diff_over_layers(ctx, "fuse-overlay");
    });
}
