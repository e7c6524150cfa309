//! Container file verbs: `cp` both ways on running and stopped containers
//! (files, directories, `/.`, tar on stdin/stdout, owners, hostile
//! symlinks that must never lead out of the container), `export`
//! (whiteouts applied, atomic `-o`), `diff` and `commit` (mount points
//! left out), and bad input for each: one `rless:` line, exit 125, nothing
//! left behind. `pause` and restart policies are in `ctrfs_state.rs`.

mod common;

use common::checks::*;
use common::ctrfs_helpers::*;
use common::lifecycle_helpers::{inspect, run_sh, wait_log, FOREVER};
use common::{for_each_user, Ctx, Mode};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// A host directory the container must never reach, with a secret in it.
fn host_secret(ctx: &Ctx) -> std::path::PathBuf {
    ctx.write_file("outside/secret", b"HOST SECRET\n");
    ctx.work.join("outside")
}

/// The script that plants hostile links and some content in `/data`.
fn plant(outside: &Path) -> String {
    format!(
        "mkdir -p /data/sub && echo inner > /data/sub/f && ln -s / /data/root && \
         ln -s ../../../../.. /data/up && ln -s {o} /data/abs && ln -s /etc/passwd /data/pw && \
         ln -s /proc/self/root /data/magic && rm /etc/group && echo ready",
        o = outside.display()
    )
}

/// stdout as bytes (a tar).
fn raw(ctx: &Ctx, args: &[&str]) -> Vec<u8> {
    let o = ctx
        .rless_cmd(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rless");
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Entry name -> (type byte, uid, content) of a tar.
fn tar_entries(data: &[u8]) -> BTreeMap<String, (u8, u64, Vec<u8>)> {
    let mut ar = tar::Archive::new(data);
    let mut out = BTreeMap::new();
    for e in ar.entries().expect("a tar") {
        let mut e = e.expect("a tar entry");
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let t = e.header().entry_type().as_byte();
        let uid = e.header().uid().unwrap_or(0);
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut content).unwrap();
        out.insert(name, (t, uid, content));
    }
    out
}

fn exec_out(ctx: &Ctx, c: &str, cmd: &[&str]) -> String {
    let mut a = vec!["exec", c];
    a.extend_from_slice(cmd);
    ctx.ok(&a).stdout
}

/// No mounts of the store left on the host, no helper process left.
fn nothing_left(ctx: &Ctx) {
    assert!(
        host_mounts_under(&ctx.root).is_empty(),
        "mounts left: {:?}",
        host_mounts_under(&ctx.root)
    );
    let store = ctx.root.to_string_lossy().to_string();
    let helpers: Vec<_> = host_processes()
        .into_iter()
        .filter(|p| p.args.iter().any(|a| a == &store))
        .filter(|p| p.args.iter().any(|a| a == "cp" || a == "export"))
        .collect();
    assert!(helpers.is_empty(), "helpers left: {helpers:?}");
}

/// A stdin tar: `d/`, `d/f` (uid 33), and a hostile `l -> /` + `l/pwned`.
fn stdin_tars() -> (Vec<u8>, Vec<u8>) {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(33);
    h.set_gid(33);
    h.set_size(0);
    b.append_data(&mut h, "d/", std::io::empty()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o640);
    h.set_uid(33);
    h.set_gid(33);
    h.set_size(6);
    b.append_data(&mut h, "d/f", &b"in-tar"[..]).unwrap();
    let good = b.into_inner().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "l", "/").unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(5);
    b.append_data(&mut h, "l/tmp/pwned-ctrfs", &b"owned"[..])
        .unwrap();
    (good, b.into_inner().unwrap())
}

/// The copies every state supports; `running` adds checks through `exec`.
fn copy_scenarios(ctx: &Ctx, c: &str, outside: &Path, running: bool) {
    let w = &ctx.work;
    let host = |p: &str| w.join(p).to_string_lossy().to_string();
    let cpath = |p: &str| format!("{c}:{p}");

    // Out: a directory to a new name, symlinks copied as symlinks, owned by the user.
    ctx.ok(&["cp", &cpath("/data"), &host("out1")]);
    assert_eq!(fs::read_to_string(w.join("out1/sub/f")).unwrap(), "inner\n");
    assert_eq!(fs::read_link(w.join("out1/root")).unwrap(), Path::new("/"));
    assert_eq!(fs::read_link(w.join("out1/abs")).unwrap(), outside);
    let md = fs::symlink_metadata(w.join("out1/sub/f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (ctx.user.uid, ctx.user.gid));
    // Into an existing directory: under the source's name; `/.`: the content.
    fs::create_dir_all(w.join("out2")).unwrap();
    ctx.give(&w.join("out2"));
    ctx.ok(&["cp", &cpath("/data/sub"), &host("out2")]);
    ctx.ok(&["cp", &cpath("/data/sub/."), &host("out2")]);
    assert!(w.join("out2/sub/f").is_file() && w.join("out2/f").is_file());
    // Hostile links resolve inside the container.
    for (src, want) in [
        ("/data/up/etc/passwd", PASSWD),
        ("/data/root/etc/passwd", PASSWD),
        ("/data/root/../../../etc/passwd", PASSWD),
    ] {
        let dst = host("p");
        let _ = fs::remove_file(&dst);
        ctx.ok(&["cp", &cpath(src), &dst]);
        assert_eq!(fs::read_to_string(&dst).unwrap(), want, "{src}");
    }
    // -L follows the named link, inside; without it, the link itself.
    ctx.ok(&["cp", "-L", &cpath("/data/pw"), &host("pw-followed")]);
    assert_eq!(fs::read_to_string(w.join("pw-followed")).unwrap(), PASSWD);
    ctx.ok(&["cp", &cpath("/data/pw"), &host("pw-link")]);
    assert!(fs::symlink_metadata(w.join("pw-link"))
        .unwrap()
        .is_symlink());
    // An absolute link to a host path finds nothing: the host is not there.
    let out = ctx.fail(&["cp", &cpath("/data/abs/secret"), &host("stolen")]);
    assert_one_error(&out, 125);
    assert!(!w.join("stolen").exists());
    // A magic link is refused rather than followed.
    ctx.fail(&["cp", &cpath("/data/magic/etc/passwd"), &host("magic")]);
    assert!(!w.join("magic").exists());
    // A deleted file is gone.
    ctx.fail(&["cp", &cpath("/etc/group"), &host("group")]);

    // Out to stdout: a tar named after the source.
    let t = tar_entries(&raw(ctx, &["cp", &cpath("/data/sub"), "-"]));
    assert_eq!(t.keys().cloned().collect::<Vec<_>>(), ["sub", "sub/f"]);
    assert_eq!(t["sub/f"].2, b"inner\n");

    // In: a host file into a directory, owned by the container's root.
    let f = ctx.write_file("in.txt", b"from host\n");
    ctx.ok(&["cp", f.to_str().unwrap(), &cpath("/data/")]);
    // Through hostile links: it lands inside the container.
    ctx.ok(&["cp", f.to_str().unwrap(), &cpath("/data/up/tmp/via-up")]);
    ctx.ok(&["cp", f.to_str().unwrap(), &cpath("/data/root/tmp/via-root")]);
    assert!(!Path::new("/tmp/via-up").exists() && !Path::new("/tmp/via-root").exists());
    let before = fs::read_dir(outside).unwrap().count();
    ctx.fail(&["cp", f.to_str().unwrap(), &cpath("/data/abs/planted")]);
    assert_eq!(fs::read_dir(outside).unwrap().count(), before);
    // A deleted file can be written again.
    let g = ctx.write_file("group", b"root:x:0:\nnew:x:5:\n");
    ctx.ok(&["cp", g.to_str().unwrap(), &cpath("/etc/group")]);
    // A host directory to a new name.
    ctx.write_file("tree/a/b", b"deep\n");
    ctx.ok(&["cp", &host("tree"), &cpath("/data/tree2")]);
    // A tar on stdin; -a keeps its owners.
    let (good, evil) = stdin_tars();
    let out = ctx.rless_stdin(&["cp", "-", &cpath("/data")], &good);
    assert!(out.success(), "{out}");
    ctx.rless_stdin(&["cp", "-", &cpath("/tmp")], &evil)
        .assert_rless_error();
    assert!(!Path::new("/tmp/pwned-ctrfs").exists());
    let out = ctx.rless_stdin(&["cp", "-a", "-", &cpath("/tmp")], &good);
    assert!(out.success(), "{out}");

    // Read it all back through the container (exec) or a copy (stopped).
    let back = w.join("back");
    ctx.ok(&["cp", &cpath("/"), back.to_str().unwrap()]);
    for (file, want) in [
        ("data/in.txt", "from host\n"),
        ("tmp/via-up", "from host\n"),
        ("tmp/via-root", "from host\n"),
        ("etc/group", "root:x:0:\nnew:x:5:\n"),
        ("data/tree2/a/b", "deep\n"),
        ("data/d/f", "in-tar"),
    ] {
        assert_eq!(fs::read_to_string(back.join(file)).unwrap(), want, "{file}");
    }
    assert!(!back.join("tmp/pwned-ctrfs").exists());
    // Owners as the container sees them, from a tar of the container.
    let t = tar_entries(&raw(ctx, &["cp", &cpath("/"), "-"]));
    assert_eq!(t["data/in.txt"].1, 0, "copied in: the container's root");
    assert_eq!(t["data/d/f"].1, 0, "without -a: the container's root");
    let keep = if ctx.user.mode == Mode::Subuid { 33 } else { 0 };
    assert_eq!(t["tmp/d/f"].1, keep, "-a keeps mapped owners");
    if running {
        assert_eq!(
            exec_out(ctx, c, &["stat", "-c", "%u:%g", "/data/in.txt"]).trim(),
            "0:0"
        );
        assert_eq!(exec_out(ctx, c, &["cat", "/data/d/f"]), "in-tar");
    }
    nothing_left(ctx);
}

#[test]
fn ctrfs_cp_running() {
    for_each_user("ctrfs_cp_running", |ctx| {
        if !setup(ctx) {
            return;
        }
        let outside = host_secret(ctx);
        run_sh(
            ctx,
            &["--name", "c1"],
            &format!("{} && {FOREVER}", plant(&outside)),
        );
        wait_log(ctx, "c1", "ready");
        copy_scenarios(ctx, "c1", &outside, true);
        ctx.ok(&["rm", "-f", "c1"]);
        // A running container's volumes are part of what cp sees.
        let out = ctx.ok(&[
            "run",
            "-d",
            "--name",
            "v2",
            "-v",
            "ctrfsvol:/vol",
            IMG,
            "sh",
            "-c",
            &format!("echo ready; {FOREVER}"),
        ]);
        assert!(!out.last_line().is_empty());
        wait_log(ctx, "v2", "ready");
        let f = ctx.write_file("vol-in", b"into the volume\n");
        ctx.ok(&["cp", f.to_str().unwrap(), "v2:/vol/x"]);
        let data = ctx.root.join("volumes/ctrfsvol/_data/x");
        assert_eq!(fs::read_to_string(&data).unwrap(), "into the volume\n");
        ctx.ok(&["rm", "-f", "v2"]);
        nothing_left(ctx);
    });
}

#[test]
fn ctrfs_cp_stopped() {
    for_each_user("ctrfs_cp_stopped", |ctx| {
        if !setup(ctx) {
            return;
        }
        let outside = host_secret(ctx);
        let id = run_sh(ctx, &["--name", "c2"], &plant(&outside));
        ctx.ok(&["wait", "c2"]);
        copy_scenarios(ctx, "c2", &outside, false);
        // Writes went to the writable layer; the re-created file is no
        // longer a whiteout, and the image's layer is untouched.
        let upper = ctx.root.join("containers").join(&id).join("upper");
        assert!(upper.join("data/in.txt").is_file());
        assert!(upper.join("etc/group").is_file());
        assert!(!common::is_whiteout(&upper.join("etc"), "group"));
        // The container sees it all when it runs again.
        ctx.ok(&["start", "c2"]);
        ctx.ok(&["wait", "c2"]);
        ctx.ok(&["rm", "c2"]);
        nothing_left(ctx);

        // fuse-overlay: the view is served by a child of the helper.
        let out = ctx.ok(&[
            "run",
            "-d",
            "--name",
            "f1",
            "--storage-driver",
            "fuse-overlay",
            IMG,
            "sh",
            "-c",
            "rm /etc/group && echo fuse > /made",
        ]);
        let id = out.last_line().to_string();
        ctx.ok(&["wait", "f1"]);
        assert_eq!(inspect(ctx, "f1")["GraphDriver"]["Name"], "fuse-overlay");
        let f = ctx.write_file("fuse-in", b"via fuse\n");
        ctx.ok(&["cp", f.to_str().unwrap(), "f1:/etc/group"]);
        ctx.ok(&["cp", "f1:/made", ctx.work.join("made").to_str().unwrap()]);
        assert_eq!(fs::read_to_string(ctx.work.join("made")).unwrap(), "fuse\n");
        let t = tar_entries(&raw(ctx, &["export", "f1"]));
        assert_eq!(t["etc/group"].2, b"via fuse\n");
        assert_eq!(t["made"].2, b"fuse\n");
        let upper = ctx.root.join("containers").join(&id).join("upper");
        assert!(upper.join("etc/group").is_file());
        killed_cp_into_fuse_view(ctx, &upper);
        ctx.ok(&["rm", "f1"]);
        nothing_left(ctx);
    });
}

/// A `cp` into a stopped fuse-overlay container killed while its helper
/// has a file open on the view (the tar on stdin stalls mid-file): the
/// helper goes with it. (It served the view with its own threads, which
/// died first; closing the file then waited for ever for an answer, an
/// unkillable process holding the container's lock.)
fn killed_cp_into_fuse_view(ctx: &Ctx, upper: &Path) {
    use std::io::Write;
    let mut cp = ctx
        .rless_cmd(&["cp", "-", "f1:/"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cp.stdin.take().unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path("stalled").unwrap();
    h.set_size(1 << 20);
    h.set_mode(0o644);
    h.set_cksum();
    stdin.write_all(h.as_bytes()).unwrap();
    stdin.write_all(&[b'x'; 65536]).unwrap();
    let open = eventually(Duration::from_secs(30), || upper.join("stalled").exists());
    cp.kill().unwrap();
    cp.wait().unwrap();
    drop(stdin);
    assert!(open, "the helper never made the file");
    let store = ctx.root.to_string_lossy().to_string();
    let helpers = || -> Vec<_> {
        host_processes()
            .into_iter()
            .filter(|p| p.args.iter().any(|a| a == &store))
            .filter(|p| p.args.iter().any(|a| a == "cp"))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || helpers().is_empty()),
        "the helper of a killed cp stays: {:?}",
        helpers()
    );
}

#[test]
fn ctrfs_export() {
    for_each_user("ctrfs_export", |ctx| {
        if !setup(ctx) {
            return;
        }
        run_sh(
            ctx,
            &["--name", "e1"],
            &format!(
                "rm /etc/group && rm -r /etc/keep && mkdir /etc/keep && echo b > /etc/keep/b && \
                 echo new > /new && ln /new /new2 && echo ready && {FOREVER}"
            ),
        );
        wait_log(ctx, "e1", "ready");
        let check = |data: &[u8]| {
            let t = tar_entries(data);
            assert_eq!(t["new"].2, b"new\n");
            assert_eq!(t["new2"].0, b'1', "a hard link stays one: {:?}", t["new2"]);
            assert_eq!(t["etc/passwd"].2, PASSWD.as_bytes());
            assert!(t.contains_key("bin/busybox") && t.contains_key("bin/sh"));
            assert!(
                !t.contains_key("etc/group"),
                "a deleted file is not exported"
            );
            assert!(t.contains_key("etc/keep/b") && !t.contains_key("etc/keep/a"));
            assert!(
                !t.keys().any(|k| k.contains(".wh.")),
                "no whiteouts in an export"
            );
        };
        // Running: to stdout.
        check(&raw(ctx, &["export", "e1"]));
        ctx.ok(&["stop", "-t", "1", "e1"]);
        // Stopped: to a file, atomically.
        let file = ctx.work.join("e1.tar");
        ctx.ok(&["export", "-o", file.to_str().unwrap(), "e1"]);
        check(&fs::read(&file).unwrap());
        assert_eq!(fs::metadata(&file).unwrap().uid(), ctx.user.uid);
        let names_before = common::list_names(&ctx.work);
        let out = ctx.fail(&[
            "export",
            "-o",
            ctx.work.join("nodir/x.tar").to_str().unwrap(),
            "e1",
        ]);
        assert_one_error(&out, 125);
        let out = ctx.fail(&[
            "export",
            "-o",
            ctx.work.join("y.tar").to_str().unwrap(),
            "nosuch",
        ]);
        assert_one_error(&out, 125);
        assert_eq!(
            common::list_names(&ctx.work),
            names_before,
            "nothing left behind"
        );
        ctx.ok(&["rm", "e1"]);
        nothing_left(ctx);
    });
}

#[test]
fn ctrfs_bad_input() {
    for_each_user("ctrfs_bad_input", |ctx| {
        if !setup(ctx) {
            return;
        }
        run_sh(
            ctx,
            &["--name", "b1"],
            &format!("echo x > /f && mkdir /d && echo ready && {FOREVER}"),
        );
        wait_log(ctx, "b1", "ready");
        let h = ctx.write_file("h", b"h\n");
        let hs = h.to_str().unwrap();
        let dst = ctx.work.join("dst");
        let ds = dst.to_str().unwrap();
        for args in [
            vec!["cp", "nosuch:/f", ds],
            vec!["cp", hs, "nosuch:/f"],
            vec!["cp", "a", "b"],
            vec!["cp", "b1:/f", "b1:/g"],
            vec!["cp", "b1:/missing", ds],
            vec!["cp", "b1:/f/", ds],
            vec!["cp", "b1:/d", hs],
            vec!["cp", hs, "b1:/nodir/x"],
            vec!["cp", hs, "b1:/new/"],
            vec!["cp", "/nonexistent-ctrfs", "b1:/d"],
            vec!["cp", "b1:/f", "/nonexistent-ctrfs/x"],
            vec!["export", "nosuch"],
            vec!["pause", "nosuch"],
            vec!["unpause", "b1"],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, 125);
        }
        assert!(!dst.exists());
        assert_eq!(fs::read(&h).unwrap(), b"h\n");
        // A tar on stdin needs a directory; garbage is refused.
        assert_one_error(&ctx.rless_stdin(&["cp", "-", "b1:/f"], b""), 125);
        assert_one_error(&ctx.rless_stdin(&["cp", "-", "b1:/d"], &[7u8; 1024]), 125);
        // Missing arguments are clap's usage error.
        assert_ne!(ctx.rless(&["cp", "b1:/f"]).code, Some(0));
        ctx.ok(&["stop", "-t", "1", "b1"]);
        assert_one_error(&ctx.fail(&["pause", "b1"]), 125);
        assert_one_error(&ctx.fail(&["cp", "b1:/missing", ds]), 125);
        ctx.ok(&["rm", "b1"]);
        nothing_left(ctx);
    });
}

/// `diff` and `commit` leave out what rless made to mount things on
/// (/etc/hosts, /etc/hostname, /etc/resolv.conf, a bind's or a tmpfs's
/// target and the parents it created), as docker and podman do; a change
/// of the container's own in the same directory still shows.
#[test]
fn ctrfs_diff_and_commit_leave_out_mount_points() {
    for_each_user("ctrfs_diff_mount_points", |ctx| {
        if !setup(ctx) {
            return;
        }
        let host = ctx.work.join("bound");
        fs::create_dir_all(&host).unwrap();
        ctx.give_tree(&host);
        let bind = format!("{}:/mnt/in/deep", host.display());
        ctx.ok(&[
            "run",
            "--name",
            "d1",
            "-v",
            &bind,
            "--tmpfs",
            "/scratch",
            IMG,
            "sh",
            "-c",
            "echo hi > /f && rm /etc/group && echo x > /scratch/x && echo y > /mnt/in/deep/y",
        ]);
        let out = ctx.ok(&["diff", "d1"]);
        assert_eq!(out.stdout, "C /etc\nD /etc/group\nA /f\n", "{out}");
        // Only a bare mount point is hidden: a file of the container's own
        // in a created parent shows, with that parent.
        ctx.ok(&[
            "run",
            "--name",
            "d2",
            "-v",
            &bind,
            IMG,
            "sh",
            "-c",
            "echo z > /mnt/z",
        ]);
        let out = ctx.ok(&["diff", "d2"]);
        assert_eq!(out.stdout, "A /mnt\nA /mnt/z\n", "{out}");

        // docker's -p/--pause is a flag (rless never pauses; accepted).
        ctx.ok(&["commit", "-p", "d1", "c1"]);
        ctx.ok(&["commit", "--pause=false", "d1", "c1"]);
        let layers = ctx.inspect("c1")["RootFS"]["Layers"].clone();
        let top = layers.as_array().unwrap().last().unwrap().as_str().unwrap();
        let mut names = Vec::new();
        let root = ctx.layer_diff(top);
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() && !p.is_symlink() {
                    stack.push(p.clone());
                }
                names.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
        names.sort();
        assert!(
            names.iter().all(|n| n == "f" || n.starts_with("etc")),
            "the committed layer holds only the container's changes: {names:?}"
        );
        assert!(names.contains(&"f".to_string()), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("etc/host") || n == "etc/resolv.conf"),
            "{names:?}"
        );
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "c1",
            "sh",
            "-c",
            "cat /f; test -e /etc/group || echo no-group; test -e /mnt || echo no-mnt",
        ]);
        assert_eq!(out.stdout, "hi\nno-group\nno-mnt\n", "{out}");
        ctx.ok(&["rm", "d1", "d2"]);
        ctx.ok(&["rmi", "c1"]);
    });
}
