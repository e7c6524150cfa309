//! Helpers shared by the container file-verb and state tests (`ctrfs*.rs`):
//! the busybox root filesystem they import as [`IMG`]. It has an
//! `/etc/keep/a` for `export`'s whiteout checks and the applets `cp`'s
//! hostile-link scenarios need (`ln`, `stat`, `rm`, `test`).

use super::oci::busybox;
use super::Ctx;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// The name every scenario imports its busybox root filesystem as.
pub const IMG: &str = "bb";

/// Busybox applets linked into the root filesystem.
pub const APPLETS: &[&str] = &[
    "sh", "true", "id", "ls", "cat", "echo", "sleep", "mkdir", "ln", "rm", "stat", "test",
];

/// The image's `/etc/passwd`.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n";

/// Imports a busybox root filesystem as [`IMG`]; `false` if busybox is missing.
pub fn setup(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else { return false };
    let dir = ctx.work.join("rootfs");
    for sub in ["bin", "etc/keep", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    super::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\n").unwrap();
    fs::write(dir.join("etc/keep/a"), "a\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}
