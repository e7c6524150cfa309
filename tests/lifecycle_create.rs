//! `create` then `start` (and `rename` to the same name, refused), and
//! `wait` on a container not started yet: it
//! waits for a start and the end of that run, prints one code per name,
//! and ends with an error when the container is removed meanwhile.
//! Every scenario imports a busybox root filesystem (no registry).
//! Shared helpers and constants are in `common::lifecycle_helpers`.

mod common;

use common::background::Background;
use common::checks::*;
use common::lifecycle_helpers::*;
use common::{for_each_user, ERR_EXIT};
use std::fs;
use std::time::Duration;

#[test]
fn lifecycle_create_then_start() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_create_then_start", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let out = ctx.ok(&[
            "create",
            "--name",
            "made",
            IMG,
            "sh",
            "-c",
            "echo started; exit 6",
        ]);
        let id = out.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "create prints the id: {out}");
        assert_eq!(state_of(&inspect(ctx, "made"))["Status"], "created");
        let ps = ctx.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.stdout.contains("made Created"), "{ps}");
        assert!(
            ctx.ok(&["ps", "-q"]).stdout.trim().is_empty(),
            "a created container is not running"
        );
        let out = ctx.rless(&["start", "-a", "made"]);
        assert_eq!(out.code, Some(6), "{out}");
        assert!(out.stdout.contains("started"), "{out}");
        assert_eq!(state_of(&inspect(ctx, "made"))["ExitCode"], 6);
        // Bad input creates nothing.
        assert_one_error(
            &ctx.rless(&["create", "--name", "made", IMG, "true"]),
            ERR_EXIT,
        );
        assert_one_error(
            &ctx.rless(&["create", "--pull=never", "no-such-image", "true"]),
            ERR_EXIT,
        );
        assert_eq!(containers(ctx), vec![id.clone()]);
        // rename to its own name: refused, as docker does.
        let out = ctx.rless(&["rename", "made", "made"]);
        assert_one_error(&out, ERR_EXIT);
        assert!(
            out.stderr.contains("same name as its current name"),
            "{out}"
        );
        wait_for_created(ctx);
        assert_eq!(containers(ctx), vec![id]);
    });
}

/// `wait` on a container never started waits for a start and the end of
/// that run, as docker's does (it printed 0 at once); several names are
/// answered in order and an unknown one is reported on its own line; a
/// removal ends the wait with an error, and a `--rm` container's code is
/// read before it goes.
fn wait_for_created(ctx: &common::Ctx) {
    let done = run_sh(ctx, &[], "exit 3");
    assert_eq!(ctx.ok(&["wait", &done]).stdout, "3\n");
    let out = ctx.rless(&["wait", &done, "nosuch", &done]);
    assert_eq!(out.code, Some(ERR_EXIT), "{out}");
    assert_eq!(out.stdout, "3\n3\n", "{out}");
    assert_eq!(stderr_lines(&out), ["rless: no such container: nosuch"]);
    let create = |args: &[&str]| {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        ctx.ok(&a).stdout.trim().to_string()
    };

    let late = create(&["--name", "late", IMG, "sh", "-c", "exit 7"]);
    let bg = waiting(ctx, &late, &["wait", "late", &done]);
    ctx.ok(&["start", "late"]);
    assert_eq!(
        bg.finish(Duration::from_secs(60)),
        (Some(0), vec!["7".to_string(), "3".to_string()])
    );

    let gone = create(&["--name", "gone", IMG, "true"]);
    let bg = waiting(ctx, &gone, &["wait", "gone"]);
    ctx.ok(&["rm", "-f", "gone"]);
    let stderr = bg.stderr.clone();
    assert_eq!(bg.finish(Duration::from_secs(60)), (Some(ERR_EXIT), vec![]));
    let text = || String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    assert!(eventually(Duration::from_secs(30), || text().ends_with('\n')));
    assert_eq!(
        text(),
        "rless: container gone was removed before it exited\n"
    );

    let temp = create(&["--rm", "--name", "temp", IMG, "sh", "-c", "exit 4"]);
    let bg = waiting(ctx, &temp, &["wait", "temp"]);
    ctx.ok(&["start", "temp"]);
    assert_eq!(
        bg.finish(Duration::from_secs(60)),
        (Some(0), vec!["4".to_string()])
    );
    assert!(eventually(Duration::from_secs(30), || !container_dir(
        ctx, &temp
    )
    .exists()));
    ctx.ok(&["rm", &done, "late"]);
}

/// `rless ARGS…` (a `wait`) in the background, once it waits on container
/// `id`: it holds the container's `waiters.lock` and has not returned.
fn waiting(ctx: &common::Ctx, id: &str, args: &[&str]) -> Background {
    let mut bg = Background::spawn(ctx, args);
    let lock = container_dir(ctx, id).join("waiters.lock");
    let held = || {
        matches!(
            fs::File::open(&lock).map(|f| f.try_lock()),
            Ok(Err(fs::TryLockError::WouldBlock))
        )
    };
    assert!(
        eventually(Duration::from_secs(60), || held() || !bg.running()),
        "{args:?} never took {}",
        lock.display()
    );
    assert!(
        bg.running(),
        "{args:?} returned before the container was started: {:?}",
        bg.stderr()
    );
    bg
}

/// A file named `.wh.NAME` copied into a container that never ran is an
/// ordinary file of its kernel overlayfs layer: `commit` leaves it out with
/// a warning (no layer can hold that name) and must not take it for a
/// whiteout of the image's NAME.
#[test]
fn lifecycle_create_cp_whiteout_name_then_commit() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_create_cp_whiteout_name_then_commit", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        ctx.ok(&["create", "--name", "fresh", IMG, "true"]);
        let src = ctx.work.join(".wh.busybox");
        fs::write(&src, "not a whiteout\n").unwrap();
        ctx.give(&src);
        ctx.ok(&["cp", src.to_str().unwrap(), "fresh:/bin/"]);
        let out = ctx.ok(&["commit", "fresh", "committed"]);
        assert!(out.stderr.contains(".wh.busybox left out"), "{out}");
        // busybox (every applet) still runs; the odd name is not there.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "committed",
            "sh",
            "-c",
            "test -e /bin/.wh.busybox || echo intact",
        ]);
        assert_eq!(out.stdout, "intact\n", "{out}");
        ctx.ok(&["rm", "fresh"]);
    });
}
