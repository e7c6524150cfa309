//! A full disk under the store (a small tmpfs mounted on it, as root): a
//! container that logs past it keeps running; its exit is still recorded;
//! `commit` and `import` say so and add nothing; a compressed archive that
//! expands past the disk is stopped before it fills it, also when a build
//! ADDs it (and a sparse file whose holes would fill it).

mod common;

use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, Ctx};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// A tmpfs of `mib` MiB on the test's store, the user's; unmounted when
/// the scenario ends.
struct SmallStore<'a>(&'a Path);

impl SmallStore<'_> {
    fn mount(ctx: &Ctx, mib: u32) -> SmallStore<'_> {
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!(
                "size={mib}m,mode=0700,uid={},gid={}",
                ctx.user.uid, ctx.user.gid
            ))
            .arg("tmpfs")
            .arg(&ctx.root)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount a tmpfs on the store");
        SmallStore(&ctx.root)
    }
}

impl Drop for SmallStore<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0)
            .status();
    }
}

fn can_mount() -> bool {
    if !common::is_root() {
        common::skip("mounting a small tmpfs for the store needs root");
        return false;
    }
    true
}

#[test]
fn full_disk_full_disk_while_logging() {
    if !have_busybox() || !can_mount() {
        return;
    }
    for_each_user("full_disk_full_disk_while_logging", |ctx| {
        let _store = SmallStore::mount(ctx, 8);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "noisy"],
            "while true; do cat /bin/busybox; echo tick >&2; done",
        );
        let dir = ctx.root.join("containers").join(&id);
        let full = eventually(Duration::from_secs(60), || {
            rustix::fs::statvfs(&ctx.root).is_ok_and(|s| s.f_bavail == 0)
        });
        assert!(full, "the store's disk never filled");
        // Keeps running with the disk full, and the monitor said why.
        std::thread::sleep(Duration::from_millis(500));
        let st = inspect(ctx, "noisy");
        assert_eq!(st["State"]["Status"], "running", "{st}");
        let pid = st["State"]["Pid"].as_i64().unwrap();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        let mlog = fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
        assert!(
            mlog.contains("cannot write container log"),
            "monitor.log: {mlog:?}"
        );
        ctx.ok(&["rm", "-f", "noisy"]);
        assert!(
            eventually(Duration::from_secs(10), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()),
            "the container's init outlived rm -f"
        );
        assert!(containers(ctx).is_empty());
    });
}

/// A container that fills the disk and exits still has its exit recorded
/// (it showed as killed, 137, for good), and no half-written state file
/// stays behind.
#[test]
fn full_disk_exit_recorded_on_a_full_disk() {
    if !have_busybox() || !can_mount() {
        return;
    }
    for_each_user("full_disk_exit_recorded_on_a_full_disk", |ctx| {
        let _store = SmallStore::mount(ctx, 8);
        setup_image(ctx);
        let script = "head -c 20000000 /dev/zero > /fill; exit 5";
        let id = run_sh(ctx, &["--name", "filler"], script);
        assert_eq!(ctx.ok(&["wait", "filler"]).stdout, "5\n");
        let st = inspect(ctx, "filler");
        assert_eq!(st["State"]["ExitCode"], 5, "{st}");
        let dir = ctx.root.join("containers").join(&id);
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        ctx.ok(&["rm", "filler"]);
    });
}

/// `commit` and `import DIR` on a full disk say so, exit 125, and add no
/// image (the tar writer died of SIGPIPE: exit 141, no message).
#[test]
fn full_disk_commit_and_import_on_a_full_disk() {
    if !have_busybox() || !can_mount() {
        return;
    }
    for_each_user("full_disk_commit_and_import_on_a_full_disk", |ctx| {
        let _store = SmallStore::mount(ctx, 12);
        setup_image(ctx);
        let images = ctx.ok(&["images", "-q"]).stdout;
        ctx.ok(&[
            "run",
            "--name",
            "w",
            IMG,
            "sh",
            "-c",
            "head -c 6000000 /dev/urandom > /f",
        ]);
        let out = ctx.rless(&["commit", "w", "big1"]);
        assert_eq!(out.code, Some(125), "{out}");
        assert!(says_full(&out.stderr), "{out}");
        let dir = ctx.work.join("bigdir");
        fs::create_dir_all(&dir).unwrap();
        let noise: Vec<u8> = (0..20_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        fs::write(dir.join("big"), noise).unwrap();
        ctx.give(&dir);
        let out = ctx.rless(&["import", dir.to_str().unwrap(), "big2"]);
        assert_eq!(out.code, Some(125), "{out}");
        assert!(says_full(&out.stderr), "{out}");
        assert_eq!(
            ctx.ok(&["images", "-q"]).stdout,
            images,
            "an image was added"
        );
        ctx.ok(&["rm", "w"]);
    });
}

/// The disk filled, or rless stopped before it did.
fn says_full(stderr: &str) -> bool {
    stderr.contains("No space left on device") || stderr.contains("is nearly full")
}

/// A tar of one member, `mib` MiB of zeros, compressed with `compress`
/// (a few KiB on disk).
fn bomb<W: std::io::Write>(w: W, mib: u64) -> W {
    let mut b = tar::Builder::new(w);
    let mut h = tar::Header::new_gnu();
    h.set_size(mib << 20);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "big", std::io::repeat(0).take(mib << 20))
        .unwrap();
    b.into_inner().unwrap()
}

/// A small compressed archive that expands past the store's disk: `load`
/// (file or standard input) and `import` (zstd, xz) stop before the disk
/// fills (they filled it, and failed only then), say so in one line, exit
/// 125 and leave nothing; zeros after a tar's end are not even spooled.
#[test]
fn full_disk_compressed_bombs() {
    if !have_busybox() || !can_mount() {
        return;
    }
    for_each_user("full_disk_compressed_bombs", |ctx| {
        let _store = SmallStore::mount(ctx, 32);
        setup_image(ctx);
        let images = ctx.ok(&["images", "-q"]).stdout;
        let zst = bomb(zstd::Encoder::new(Vec::new(), 1).unwrap(), 100)
            .finish()
            .unwrap();
        let xz = bomb(
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap(),
            100,
        )
        .finish()
        .unwrap();
        assert!(zst.len() < 1 << 20 && xz.len() < 1 << 20);
        let zst_file = ctx.work.join("bomb.tar.zst");
        let xz_file = ctx.work.join("bomb.tar.xz");
        fs::write(&zst_file, &zst).unwrap();
        fs::write(&xz_file, &xz).unwrap();
        ctx.give(&zst_file);
        ctx.give(&xz_file);
        let (zst_path, xz_path) = (zst_file.to_str().unwrap(), xz_file.to_str().unwrap());
        for out in [
            ctx.rless(&["load", "-i", zst_path]),
            ctx.rless_stdin(&["load"], &zst),
            ctx.rless(&["import", zst_path, "bombed"]),
            ctx.rless(&["import", xz_path, "bombed"]),
        ] {
            assert_one_error(&out, 125);
            assert!(out.stderr.contains("is nearly full"), "{out}");
            assert_eq!(
                ctx.ok(&["images", "-q"]).stdout,
                images,
                "an image was added"
            );
            assert!(image_debris(ctx).is_empty(), "{:?}", image_debris(ctx));
        }
        // A saved image followed by 64 MiB of zeros, twice the disk: only
        // the tar is spooled, and it loads.
        let saved = ctx.work.join("saved.tar");
        ctx.ok(&["save", "-o", saved.to_str().unwrap(), IMG]);
        let mut padded = zstd::Encoder::new(Vec::new(), 1).unwrap();
        std::io::Write::write_all(&mut padded, &fs::read(&saved).unwrap()).unwrap();
        std::io::copy(&mut std::io::repeat(0).take(64 << 20), &mut padded).unwrap();
        let padded = padded.finish().unwrap();
        let out = ctx.rless_stdin(&["load"], &padded);
        assert!(out.success(), "{out}");
        assert!(image_debris(ctx).is_empty(), "{:?}", image_debris(ctx));
    });
}

/// A tar of one GNU sparse file of `mib` MiB: 512 bytes of data, then a
/// hole to the end (a few KiB on disk, `mib` MiB when written out).
fn sparse_tar(mib: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path("sparse").unwrap();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(512);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.set_real_size(mib << 20);
    gnu.sparse[0].set_offset(0);
    gnu.sparse[0].set_length(512);
    gnu.sparse[1].set_offset(mib << 20);
    gnu.sparse[1].set_length(0);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[7u8; 512][..]).unwrap();
    b.into_inner().unwrap()
}

/// `rless build` ADDing a compressed bomb or a huge sparse file to a
/// nearly full store: the step stops before the disk fills, one line says
/// so, and nothing is left.
#[test]
fn full_disk_build_add_bombs() {
    if !have_busybox() || !can_mount() {
        return;
    }
    for_each_user("full_disk_build_add_bombs", |ctx| {
        let _store = SmallStore::mount(ctx, 32);
        setup_image(ctx);
        let images = ctx.ok(&["images", "-q"]).stdout;
        let zst = bomb(zstd::Encoder::new(Vec::new(), 1).unwrap(), 100)
            .finish()
            .unwrap();
        for (name, data) in [("bomb.tar.zst", zst), ("sparse.tar", sparse_tar(1024))] {
            assert!(data.len() < 1 << 20);
            ctx.write_file(&format!("ctx/{name}"), &data);
            let file = format!("FROM bb\nADD {name} /added/\n");
            ctx.write_file("ctx/Containerfile", file.as_bytes());
            let dir = ctx.work.join("ctx");
            let out = ctx.rless(&["build", dir.to_str().unwrap()]);
            assert_eq!(out.code, Some(1), "{out}");
            let errs: Vec<&str> = stderr_lines(&out)
                .into_iter()
                .filter(|l| l.starts_with("rless: "))
                .collect();
            assert_eq!(errs.len(), 1, "one error line: {out}");
            let entry = if name == "sparse.tar" {
                "sparse"
            } else {
                "big"
            };
            assert!(
                errs[0].starts_with(&format!(
                    "rless: build step 2/2 ADD {name} /added/: {name}: {entry}: \
                     the store's filesystem ("
                )) && errs[0].contains("is nearly full"),
                "{out}"
            );
            assert_no_containers(ctx, &out.cmdline);
            assert_eq!(
                ctx.ok(&["images", "-q"]).stdout,
                images,
                "an image was added"
            );
        }
    });
}
