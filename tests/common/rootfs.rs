//! The busybox root filesystems the run, lifecycle and isolation tests
//! import (`rless import DIR`): which applets, /etc/passwd and /etc/group
//! each family wants is a [`RootfsSpec`]; the tree is always owned by the
//! test user, / is 0755 and /tmp 1777.

use super::oci::{busybox, install_busybox};
use super::Ctx;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What goes into a test root filesystem besides the standard directories.
pub struct RootfsSpec {
    /// Busybox applets linked into /bin.
    pub applets: &'static [&'static str],
    pub passwd: &'static str,
    pub group: &'static str,
    /// Directories made besides bin, etc, tmp, root, home/alice, proc, sys, dev.
    pub extra_dirs: &'static [&'static str],
    /// Whether /etc/image-file ("from the image") is written.
    pub image_file: bool,
}

impl RootfsSpec {
    /// The standard directories, these applets and /etc files, nothing more.
    pub const fn new(
        applets: &'static [&'static str],
        passwd: &'static str,
        group: &'static str,
    ) -> RootfsSpec {
        RootfsSpec {
            applets,
            passwd,
            group,
            extra_dirs: &[],
            image_file: false,
        }
    }

    /// With /etc/image-file.
    pub const fn image_file(self) -> RootfsSpec {
        RootfsSpec {
            image_file: true,
            ..self
        }
    }
}

/// Writes a busybox root filesystem to `dir` as `spec` says, calls `extra`
/// to add files, then gives the tree to the test user.
pub fn make_rootfs_with(ctx: &Ctx, dir: &Path, spec: &RootfsSpec, extra: impl FnOnce(&Path)) {
    let bb = busybox().expect("busybox is checked by the caller");
    let standard = [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/alice",
        "proc",
        "sys",
        "dev",
    ];
    for sub in standard.iter().chain(spec.extra_dirs) {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    install_busybox(dir, bb, spec.applets);
    extra(dir);
    fs::write(dir.join("etc/passwd"), spec.passwd).unwrap();
    fs::write(dir.join("etc/group"), spec.group).unwrap();
    if spec.image_file {
        fs::write(dir.join("etc/image-file"), "from the image\n").unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(dir);
}

/// A host directory owned by the test user under the work dir.
pub fn user_dir(ctx: &Ctx, rel: &str) -> PathBuf {
    let p = ctx.work.join(rel);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give(&p);
    p
}
