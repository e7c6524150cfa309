//! The image the storage test files share: busybox with `/data` holding
//! `keep`, `gone` and `sub/file`.

#![allow(dead_code)]

use crate::common::oci::busybox;
use crate::common::{skip, Ctx};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

pub const IMG: &str = "fusebb";

/// Imports [`IMG`] for the user of `ctx`; `false` (after saying why) when
/// busybox-static or /dev/fuse is missing.
pub fn setup_image(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else {
        skip("busybox-static is not installed");
        return false;
    };
    if fs::metadata("/dev/fuse").is_err() {
        skip("/dev/fuse is missing");
        return false;
    }
    let dir = ctx.work.join("fuseroot");
    for sub in ["bin", "etc", "data/sub", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    crate::common::oci::install_busybox(
        &dir,
        bb,
        &[
            "sh", "cat", "echo", "ls", "rm", "mv", "mount", "sleep", "true", "chmod", "chgrp",
            "stat", "truncate", "ln",
        ],
    );
    fs::write(dir.join("data/keep"), "kept\n").unwrap();
    fs::write(dir.join("data/gone"), "to be deleted\n").unwrap();
    fs::write(dir.join("data/sub/file"), "in a lower directory\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// The user of `ctx` with a store at `root` (on a filesystem the test
/// mounted) and a work directory of its own: both made, private, theirs.
pub fn store_at(ctx: &Ctx, root: PathBuf) -> Ctx {
    let inner = Ctx {
        test: ctx.test.clone(),
        user: ctx.user.clone(),
        work: ctx.work.join("inner"),
        root,
    };
    for d in [&inner.work, &inner.root] {
        fs::create_dir_all(d).unwrap();
        inner.give(d);
    }
    fs::set_permissions(&inner.root, fs::Permissions::from_mode(0o700)).unwrap();
    inner
}

/// Why `info` says `auto` takes fuse-overlay on the store of `ctx` (it
/// must take it).
pub fn fuse_overlay_reason(ctx: &Ctx) -> String {
    let info = ctx.ok(&["info", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(v["Storage"]["Driver"], "fuse-overlay", "{info}");
    v["Storage"]["Reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
