//! Helpers shared by the pod tests (`pod*.rs`).
//!
//! [`for_each_user_with_bb`] is their usual set-up: skipped without
//! busybox, then once per test user a fresh store with the busybox image
//! (`lifecycle_helpers::IMG`) imported and a [`Cleanup`] guard that removes the store's
//! containers when the scenario ends.
//!
//! [`states`] and [`free_port_spec`] are what several pod tests look at
//! and publish.
//!
//! [`spawn_blocked_on_pods_lock`] is how a test shows that a command takes
//! the store's `locks/pods`: the test holds the lock itself, starts the
//! command, and returns once /proc/locks shows a process blocked on that
//! lock's inode. The caller then looks at the store (or changes it as the
//! lock's other holder would), unlocks, and waits for the child. A command
//! that never takes the lock ends, or never blocks, and the helper panics.

use super::lifecycle_helpers::{have_busybox, setup_image, Cleanup};
use super::{for_each_user, Ctx};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Runs `f` once per test user (see the module comment); does nothing
/// when busybox is missing.
pub fn for_each_user_with_bb(test: &str, mut f: impl FnMut(&Ctx)) {
    if !have_busybox() {
        return;
    }
    for_each_user(test, |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        f(ctx);
    });
}

/// `{{.Names}} {{.State}}` of every container, sorted.
pub fn states(ctx: &Ctx) -> Vec<String> {
    let out = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let mut v: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A loopback port free now, as a `-p` to port 80.
pub fn free_port_spec() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("127.0.0.1:{}:80", l.local_addr().unwrap().port())
}

/// Whether some process waits (blocked) for a lock on inode `ino`.
pub fn lock_waiter_on(ino: u64) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let suffix = format!(":{ino}");
    locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) == Some(&"->") && f.iter().any(|x| x.ends_with(&suffix))
    })
}

/// Locks the store's `locks/pods` (an earlier command made it), starts
/// `rless ARGS` with its output piped, and returns the locked file and the
/// child once the child is blocked on the lock.
pub fn spawn_blocked_on_pods_lock(ctx: &Ctx, args: &[&str]) -> (File, Child) {
    let lock = File::open(ctx.root.join("locks/pods")).expect("the pods lock");
    let ino = lock.metadata().unwrap().ino();
    lock.lock().unwrap();
    let mut child = ctx
        .rless_cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let what = args.join(" ");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lock_waiter_on(ino) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("`{what}` ended ({status}) without waiting for the pods lock");
        }
        assert!(
            Instant::now() < deadline,
            "`{what}` never waited for the pods lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (lock, child)
}
