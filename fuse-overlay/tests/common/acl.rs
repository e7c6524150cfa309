//! Helpers of the ACL tests (`acl.rs`, `acl_edges.rs`): ACL xattr values,
//! commands as other uids, and kernel-versus-fuse-overlay runs of a
//! scenario that needs real root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

pub const UNDEF: u32 = u32::MAX;

pub fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        v.extend(tag.to_le_bytes());
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
    }
    v
}

pub fn set(p: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

pub fn xhex(p: &Path, name: &str) -> String {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => buf[..n].iter().map(|b| format!("{b:02x}")).collect(),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

pub fn mode(p: &Path) -> String {
    fs::symlink_metadata(p)
        .map(|m| format!("{:o}", m.mode() & 0o7777))
        .unwrap_or_else(|e| e.to_string())
}

/// user 1000 rwx, group r-x, others r-x.
pub fn default_acl() -> Vec<u8> {
    acl(&[
        (1, 7, UNDEF),
        (2, 7, 1000),
        (4, 5, UNDEF),
        (0x10, 7, UNDEF),
        (0x20, 5, UNDEF),
    ])
}

/// `sh -c CMD` in `dir` as `uid` (and gid); stdout, stderr and status.
pub fn sh_as(dir: &Path, uid: u32, cmd: &str) -> String {
    let mut c = Command::new("sh");
    c.args(["-c", cmd]).current_dir(dir);
    if uid != 0 {
        c.uid(uid).gid(uid);
    }
    let out = c.output().unwrap();
    format!(
        "{cmd} as {uid}: {:?} {} {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Runs `scenario` over kernel overlayfs and over fuse-overlay in `variants`
/// (writeback, kernel 4.18) on the lower layer of `base` (from
/// `other_uids_base`), asserts the logs are equal and returns the kernel's;
/// `None` after a skip.
pub fn compare(
    test: &str,
    (tmp, lower): &(tempfile::TempDir, PathBuf),
    variants: &[(bool, bool)],
    prepare: impl Fn(&Dirs),
    scenario: impl Fn(&Path) -> Vec<String>,
) -> Option<Vec<String>> {
    let (tmp, lowers) = (tmp.path(), std::slice::from_ref(lower));
    let kd = dirs(tmp, "kernel");
    prepare(&kd);
    let k = match mount_kernel(lowers, &kd) {
        Ok(k) => k,
        Err(e) => {
            skip(test, &e);
            return None;
        }
    };
    let want = scenario(&kd.mnt);
    drop(k);
    println!("{test} (kernel):\n  {}", want.join("\n  "));
    for (wb, old) in variants {
        let d = dirs(tmp, &format!("fuse-wb{wb}-old{old}"));
        prepare(&d);
        let h = mount_fuse_with(lowers, &d, variant(true, *wb, *old));
        let got = scenario(&d.mnt);
        h.unmount().unwrap();
        assert_eq!(
            got, want,
            "{test}: fuse-overlay (left, writeback {wb}, 4.18 {old}) and kernel overlayfs (right)"
        );
    }
    Some(want)
}
