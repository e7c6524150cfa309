//! POSIX ACLs through the mount, compared with kernel overlayfs: the
//! kernel enforces the ACLs stored in the layers in its permission checks
//! (a named user granted more, or less, than the mode's group class says),
//! new objects inherit a directory's default ACL, the caller's umask
//! applies where there is none (the kernel leaves it to the server under
//! FUSE_POSIX_ACL), and chmod of a file with an ACL sets its mask; with
//! and without the writeback cache, and as kernel 4.18 drives the server.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::acl::*;
use common::*;

/// Steps in order: (uid, shell command in the mount's root, names to log).
const CASES: &[(u32, &str, &[&str])] = &[
    (1000, "cat granted", &["granted"]),
    (1000, "cat denied", &["denied"]),
    (
        0,
        "touch inherit/file; mkdir inherit/dir",
        &["inherit/file", "inherit/dir"],
    ),
    (
        0,
        "umask 077; touch u_file; mkdir u_dir; umask 0; touch u_open",
        &["u_file", "u_dir", "u_open"],
    ),
    (0, "chmod 600 granted", &["granted"]),
    (1000, "cat granted", &["granted"]),
];

fn run_cases(mnt: &Path) -> Vec<String> {
    let mut log = Vec::new();
    for (who, cmd, names) in CASES {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]).current_dir(mnt);
        if *who != 0 {
            c.uid(*who).gid(*who);
        }
        let out = c.output().unwrap();
        log.push(format!(
            "{cmd} as {who}: exit {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim()
        ));
        for n in *names {
            let p = mnt.join(n);
            let m = fs::symlink_metadata(&p).map(|m| format!("{:o}", m.mode() & 0o7777));
            log.push(format!(
                "  {n}: mode {} access {} default {}",
                m.unwrap_or_else(|e| e.to_string()),
                xhex(&p, "system.posix_acl_access"),
                xhex(&p, "system.posix_acl_default")
            ));
        }
    }
    log
}

#[test]
fn acls_are_enforced_and_inherited_like_kernel_overlay() {
    let test = "acls_are_enforced_and_inherited_like_kernel_overlay";
    let Some(base) = other_uids_base(test) else {
        return;
    };
    let (tmp, lower) = (&base.0, &base.1);
    // 0640 root:root, but user 1000 may read.
    let granted = lower.join("granted");
    fs::write(&granted, "granted\n").unwrap();
    fs::set_permissions(&granted, fs::Permissions::from_mode(0o640)).unwrap();
    let probe = rustix::fs::lsetxattr(
        &granted,
        "system.posix_acl_access",
        &acl(&[
            (1, 6, UNDEF),
            (2, 4, 1000),
            (4, 4, UNDEF),
            (0x10, 4, UNDEF),
            (0x20, 0, UNDEF),
        ]),
        rustix::fs::XattrFlags::empty(),
    );
    if let Err(e) = probe {
        return skip(test, &format!("no ACLs on {}: {e}", tmp.path().display()));
    }
    // 0640 root:1000, but user 1000 may not, though its group may.
    let denied = lower.join("denied");
    fs::write(&denied, "denied\n").unwrap();
    rustix::fs::chown(&denied, None, Some(rustix::fs::Gid::from_raw(1000))).unwrap();
    fs::set_permissions(&denied, fs::Permissions::from_mode(0o640)).unwrap();
    set(
        &denied,
        "system.posix_acl_access",
        &acl(&[
            (1, 6, UNDEF),
            (2, 0, 1000),
            (4, 4, UNDEF),
            (0x10, 4, UNDEF),
            (0x20, 0, UNDEF),
        ]),
    );
    // A directory whose new entries inherit user 1000's access.
    let inherit = lower.join("inherit");
    fs::create_dir(&inherit).unwrap();
    fs::set_permissions(&inherit, fs::Permissions::from_mode(0o755)).unwrap();
    set(
        &inherit,
        "system.posix_acl_default",
        &acl(&[
            (1, 7, UNDEF),
            (2, 7, 1000),
            (4, 5, UNDEF),
            (0x10, 7, UNDEF),
            (0x20, 0, UNDEF),
        ]),
    );
    let variants = [(false, false), (true, false), (false, true)];
    let Some(want) = compare(test, &base, &variants, |_| {}, run_cases) else {
        return;
    };
    // The cases must show both outcomes, or they prove nothing.
    assert!(want[0].contains("exit Some(0) granted"), "{want:?}");
    assert!(
        want.iter()
            .any(|l| l.starts_with("cat denied as 1000: exit Some(1)")),
        "{want:?}"
    );
}
