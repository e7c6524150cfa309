//! Helpers shared by the integration tests: getting `CAP_SYS_ADMIN`
//! (re-running the test in `unshare -Urm` when we are not root), mounting,
//! and dumping a tree into comparable text.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use fuse_overlay::{Config, MountHandle, Options};

pub mod acl;
pub mod differential;
pub mod watch;

const INNER: &str = "RLESS_FUSE_OVERLAY_TEST_INNER";

/// Skips (or, with `RLESS_MUST_WORK=1`, fails) with a reason.
pub fn skip(test: &str, why: &str) {
    if std::env::var("RLESS_MUST_WORK").as_deref() == Ok("1") {
        panic!("{test} cannot run: {why}");
    }
    println!("SKIP {test}: {why}");
}

/// Whether the test may run here. When we are not root, the test is re-run
/// in a new user and mount namespace, and `false` is returned after it
/// passed there.
pub fn with_caps(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        if !Path::new("/dev/fuse").exists() {
            skip(test, "/dev/fuse does not exist");
            return false;
        }
        return true;
    }
    if std::env::var_os(INNER).is_some() {
        skip(test, "not root even inside unshare -Urm");
        return false;
    }
    match Command::new("unshare").args(["-Urm", "true"]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            skip(
                test,
                &format!(
                    "unshare -Urm refused: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
            return false;
        }
        Err(e) => {
            skip(test, &format!("cannot run unshare: {e}"));
            return false;
        }
    }
    let exe = std::env::current_exe().unwrap();
    let o = Command::new("unshare")
        .args(["-Urm", "--"])
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    print!("{out}");
    assert!(
        o.status.success() && out.contains("1 passed"),
        "{test} failed in unshare -Urm:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    false
}

/// Whether we run as real root (not root of a user namespace).
pub fn real_root() -> bool {
    rustix::process::geteuid().is_root()
        && std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(false)
}

/// For a test that acts as other uids, which needs real root: a temporary
/// directory others may enter, with an empty `lower` in it; `None` after a
/// skip elsewhere.
pub fn other_uids_base(test: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !real_root() {
        skip(test, "acting as another uid needs real root");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let lower = tmp.path().join("lower");
    std::fs::create_dir(&lower).unwrap();
    Some((tmp, lower))
}

/// Makes the kernel drop unused dentries and inodes, so it sends FORGET for
/// them. Only real root may; elsewhere it does nothing and returns false.
pub fn drop_caches() -> bool {
    real_root() && std::fs::write("/proc/sys/vm/drop_caches", "2").is_ok()
}

/// Upper, work and mount point directories under `base/name`.
pub struct Dirs {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub mnt: PathBuf,
}

pub fn dirs(base: &Path, name: &str) -> Dirs {
    let d = Dirs {
        upper: base.join(name).join("upper"),
        work: base.join(name).join("work"),
        mnt: base.join(name).join("mnt"),
    };
    for p in [&d.upper, &d.work, &d.mnt] {
        std::fs::create_dir_all(p).unwrap();
    }
    d
}

pub fn mount_fuse(lower: &[PathBuf], d: &Dirs, xattrs: bool) -> MountHandle {
    mount_fuse_wb(lower, d, xattrs, false)
}

/// [`mount_fuse`], with the kernel's writeback cache on or off.
pub fn mount_fuse_wb(lower: &[PathBuf], d: &Dirs, xattrs: bool, writeback: bool) -> MountHandle {
    mount_fuse_with(
        lower,
        d,
        Options {
            xattrs,
            writeback,
            ..Options::default()
        },
    )
}

/// Mount options: whiteouts as xattrs or markers, the writeback cache,
/// and whether to ask only for what kernel 4.18 offers.
pub fn variant(xattrs: bool, writeback: bool, kernel_4_18: bool) -> Options {
    Options {
        xattrs,
        writeback,
        kernel_4_18,
        ..Options::default()
    }
}

pub fn mount_fuse_with(lower: &[PathBuf], d: &Dirs, options: Options) -> MountHandle {
    fuse_overlay::mount(Config {
        lower: lower.to_vec(),
        upper: d.upper.clone(),
        work: d.work.clone(),
        mountpoint: d.mnt.clone(),
        options,
    })
    .expect("mount fuse-overlay")
}

/// Unmounts its path lazily on drop, so that a failed assertion leaves
/// nothing mounted (after a clean unmount it does nothing).
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Kernel overlayfs mount; unmounts on drop.
pub type KernelOverlay = Unmount;

/// Mounts a tmpfs (with `options`, as `mount -o` takes them) at `dir`;
/// unmounted when the guard drops.
pub fn mount_tmpfs(dir: &Path, options: Option<&str>) -> rustix::io::Result<Unmount> {
    let options = options.map(|o| std::ffi::CString::new(o).unwrap());
    rustix::mount::mount(
        "tmpfs",
        dir,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        options.as_deref(),
    )?;
    Ok(Unmount(dir.to_path_buf()))
}

pub fn mount_kernel(lower: &[PathBuf], d: &Dirs) -> Result<KernelOverlay, String> {
    let lower: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        lower.join(":"),
        d.upper.display(),
        d.work.display()
    );
    let c = std::ffi::CString::new(data).unwrap();
    rustix::mount::mount(
        "overlay",
        &d.mnt,
        "overlay",
        rustix::mount::MountFlags::empty(),
        c.as_c_str(),
    )
    .map_err(|e| format!("kernel overlay mount: {e}"))?;
    Ok(Unmount(d.mnt.clone()))
}

/// Content fingerprint (FNV-1a) of a byte string.
pub fn hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// One line per object under `root`: path, type, mode, owner, size and
/// content (or target), and the hard-link group (paths sharing st_ino).
pub fn dump(root: &Path) -> String {
    let mut lines = Vec::new();
    let mut inos: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    walk(root, root, &mut lines, &mut inos);
    lines.sort();
    let mut groups: Vec<String> = inos
        .into_values()
        .filter(|v| v.len() > 1)
        .map(|mut v| {
            v.sort();
            format!("link group {}", v.join(" "))
        })
        .collect();
    groups.sort();
    lines.extend(groups);
    lines.join("\n")
}

fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>, inos: &mut BTreeMap<u64, Vec<String>>) {
    let mut ents: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("readdir {}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .collect();
    ents.sort_by_key(|e| e.file_name());
    let mut names = std::collections::HashSet::new();
    for e in ents {
        assert!(
            names.insert(e.file_name()),
            "duplicate name {:?} in {}",
            e.file_name(),
            dir.display()
        );
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        let what = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_symlink() {
            format!("symlink -> {}", std::fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            format!(
                "file size={} data={:x} nlink={}",
                m.len(),
                hash(&std::fs::read(&p).unwrap()),
                m.nlink()
            )
        } else if ft.is_char_device() {
            format!("chardev {}", m.rdev())
        } else if ft.is_fifo() {
            "fifo".into()
        } else {
            "other".into()
        };
        lines.push(format!(
            "{rel}: {what} mode={:o} owner={}:{}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid()
        ));
        if !ft.is_dir() {
            inos.entry(m.ino()).or_default().push(rel.clone());
        }
        if ft.is_dir() {
            walk(root, &p, lines, inos);
        }
    }
}

/// The errno of an io result, or "ok".
pub fn res<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// Sets `user.overlay.opaque=y` on a directory.
pub fn set_opaque(dir: &Path) {
    rustix::fs::setxattr(
        dir,
        "user.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

/// Makes a 0:0 character device whiteout.
pub fn whiteout(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
}
