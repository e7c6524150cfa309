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
//! [`spawn_blocked_on_pods_lock`] (made of [`hold`], [`spawn_piped`] and
//! [`wait_for_waiter`], which tests of other locks use alone) is how a test shows that a command takes
//! the store's `locks/pods`: the test holds the lock itself, starts the
//! command, and returns once /proc/locks shows a process blocked on that
//! lock's inode. The caller then looks at the store (or changes it as the
//! lock's other holder would), unlocks, and waits for the child. A command
//! that never takes the lock ends, or never blocks, and the helper panics.

use super::lifecycle_helpers::{have_busybox, setup_image, Cleanup};
use super::{for_each_user, Ctx, Out};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
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

/// Locks `path` (an earlier command made it), the returned file holding it.
pub fn hold(path: &Path) -> File {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.lock().unwrap();
    f
}

/// Starts `rless ARGS` with no stdin and its output piped.
pub fn spawn_piped(ctx: &Ctx, args: &[&str]) -> Child {
    ctx.rless_cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Returns once some process waits for a lock on `path`; panics if
/// `child` (`what`) ends first, or after two minutes.
pub fn wait_for_waiter(child: &mut Child, path: &Path, what: &str) {
    let ino = std::fs::metadata(path).unwrap().ino();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lock_waiter_on(ino) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "`{what}` ended ({status}) without waiting for {}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "`{what}` never waited for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a [`spawn_piped`] child (`rless CMDLINE`) and returns what it
/// printed as an [`Out`].
pub fn output_of(ctx: &Ctx, child: Child, cmdline: &str) -> Out {
    let o = child.wait_with_output().unwrap();
    Out {
        cmdline: cmdline.into(),
        user: ctx.user.name.clone(),
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Locks the store's `locks/pods` (an earlier command made it), starts
/// `rless ARGS` with its output piped, and returns the locked file and the
/// child once the child is blocked on the lock.
pub fn spawn_blocked_on_pods_lock(ctx: &Ctx, args: &[&str]) -> (File, Child) {
    let path = ctx.root.join("locks/pods");
    let lock = hold(&path);
    let mut child = spawn_piped(ctx, args);
    wait_for_waiter(&mut child, &path, &args.join(" "));
    (lock, child)
}
