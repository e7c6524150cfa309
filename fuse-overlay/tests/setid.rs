//! Set-user-id and set-group-id bits after a write or a truncate by a
//! caller without CAP_FSETID, by root, and by root without CAP_FSETID: the same through fuse-overlay
//! (which clears them itself, as the kernel leaves that to the server
//! under HANDLE_KILLPRIV_V2) as through kernel overlayfs, with and without
//! the writeback cache, and as kernel 4.18 drives the server (no
//! HANDLE_KILLPRIV_V2: the kernel clears them with a SETATTR).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// Steps in order: (file, its mode in the lower layer, uid, shell command
/// run in the mount's root).
const CASES: &[(&str, u32, u32, &str)] = &[
    ("w_suid", 0o4777, 1000, "printf x >> w_suid"),
    ("w_sgid_x", 0o2777, 1000, "printf x >> w_sgid_x"),
    ("w_sgid_nox", 0o2767, 1000, "printf x >> w_sgid_nox"),
    ("w_both", 0o6777, 1000, "printf x > w_both"),
    ("t_suid", 0o4777, 1000, "truncate -s 1 t_suid"),
    ("root_w", 0o4777, 0, "printf x >> root_w"),
    ("root_t", 0o6777, 0, "truncate -s 1 root_t"),
    // Root without CAP_FSETID loses them, as any caller without it.
    (
        "root_nocap_t",
        0o4777,
        0,
        "setpriv --inh-caps=-fsetid --bounding-set=-fsetid truncate -s 1 root_nocap_t",
    ),
    (
        "root_nocap_w",
        0o6777,
        0,
        "setpriv --inh-caps=-fsetid --bounding-set=-fsetid sh -c 'printf x >> root_nocap_w'",
    ),
    // A write, then set-user-id set again, then another write: the kernel
    // must not have remembered the file as having nothing to clear.
    ("again", 0o777, 1000, "printf x >> again"),
    ("again", 0o777, 0, "chmod 4777 again"),
    ("again", 0o777, 1000, "printf y >> again"),
];

fn run_cases(mnt: &Path) -> Vec<String> {
    let mut log = Vec::new();
    for (name, _, who, cmd) in CASES {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]).current_dir(mnt);
        if *who != 0 {
            c.uid(*who).gid(*who);
        }
        let st = c.status().unwrap();
        // The mode alone first, as `stat -c %A` and exec read it: the
        // kernel answers that from its cache while the mode is valid
        // there, even when the write made it stale.
        let mode_only = rustix::fs::statx(
            rustix::fs::CWD,
            mnt.join(name),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            rustix::fs::StatxFlags::MODE,
        )
        .unwrap();
        let m = fs::symlink_metadata(mnt.join(name)).unwrap();
        log.push(format!(
            "{name}: exit {:?} mode {:o} (alone {:o}) size {}",
            st.code(),
            m.mode() & 0o7777,
            mode_only.stx_mode & 0o7777,
            m.len()
        ));
    }
    log
}

#[test]
fn set_id_bits_are_cleared_like_kernel_overlay() {
    let test = "set_id_bits_are_cleared_like_kernel_overlay";
    let Some((tmp, lower)) = other_uids_base(test) else {
        return;
    };
    for (name, mode, _, _) in CASES {
        let p = lower.join(name);
        fs::write(&p, "0123").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(*mode)).unwrap();
    }
    let lowers = vec![lower];

    let kd = dirs(tmp.path(), "kernel");
    let k = match mount_kernel(&lowers, &kd) {
        Ok(k) => k,
        Err(e) => return skip(test, &e),
    };
    let want = run_cases(&kd.mnt);
    drop(k);
    // The cases must show both outcomes, or they prove nothing.
    assert!(want.iter().any(|l| l.contains("mode 777 ")), "{want:?}");
    assert!(want.iter().any(|l| l.contains("mode 4777 ")), "{want:?}");
    assert!(
        want.iter().all(|l| {
            let m = |k: &str| l.split(k).nth(1).and_then(|r| r.split([' ', ')']).next());
            m("mode ") == m("(alone ")
        }),
        "{want:?}"
    );

    for (writeback, old) in [(false, false), (true, false), (false, true), (true, true)] {
        let d = dirs(tmp.path(), &format!("fuse-wb{writeback}-old{old}"));
        let o = variant(true, writeback, old);
        let h = mount_fuse_with(&lowers, &d, o);
        let got = run_cases(&d.mnt);
        h.unmount().unwrap();
        // Without HANDLE_KILLPRIV_V2 the kernel's FUSE code decides, by
        // 4.18's rule: set-group-id without group execute is a locking
        // mark and stays (4.18's overlayfs keeps it too; later kernels
        // drop it for a writer outside the file's group).
        let want: Vec<String> = want
            .iter()
            .map(
                |l| match l.strip_prefix("w_sgid_nox: exit Some(0) mode 767 (alone 767) ") {
                    Some(rest) if old => {
                        format!("w_sgid_nox: exit Some(0) mode 2767 (alone 2767) {rest}")
                    }
                    _ => l.clone(),
                },
            )
            .collect();
        assert_eq!(
            got, want,
            "fuse-overlay (left, writeback {writeback}, kernel 4.18 {old}) and kernel overlay"
        );
    }
}
