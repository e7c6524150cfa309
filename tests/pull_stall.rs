//! `rless pull` from a registry that misbehaves mid-transfer (the in-test
//! registry of `common::fake_registry`): a blob whose body stops coming
//! fails the pull after the idle timeout (`RLESS_REGISTRY_IDLE_TIMEOUT`, or
//! `idle_timeout` in `registries.toml`) and leaves the store as it was; one that comes slowly but steadily is
//! pulled; and a command that needs the store lock a stuck pull holds says
//! that it waits.

mod common;

use common::background::Background;
use common::fake_registry::{FakeRegistry, Misbehave};
use common::oci::{Built, Comp, Format, LayerBuilder};
use common::{for_each_user, run_cmd, Ctx, Out};
use std::process::Command;
use std::time::{Duration, Instant};

/// The longest any command here may take: a pull that hangs (the bug
/// these tests are about) fails the test instead of hanging it.
const BOUND: Duration = Duration::from_secs(90);

/// What a command waiting on the store lock prints.
const WAITING: &str = "waiting for the image store lock held by another rless process";

/// `rless ARGS` with an idle timeout of `secs` seconds.
fn with_idle(ctx: &Ctx, secs: u32, args: &[&str]) -> Command {
    let mut c = ctx.rless_cmd(args);
    c.env("RLESS_REGISTRY_IDLE_TIMEOUT", secs.to_string());
    c
}

/// `rless ARGS` with `idle_timeout = SECS` in a `registries.toml` of its own.
fn with_idle_file(ctx: &Ctx, secs: u32, args: &[&str]) -> Command {
    ctx.write_file(
        "config/rless/registries.toml",
        format!("idle_timeout = {secs}\n").as_bytes(),
    );
    let mut c = ctx.rless_cmd(args);
    c.env("XDG_CONFIG_HOME", ctx.work.join("config"));
    c
}

fn run(ctx: &Ctx, c: Command) -> Out {
    run_cmd(c, None, BOUND, &ctx.user.name)
}

/// A one-layer image of about 128 KiB that gzip cannot shrink much, so
/// half of the blob is a real part of a transfer.
fn image(ctx: &Ctx, case: &str) -> Built {
    let mut state = 0x2545_f491_u32 ^ case.len() as u32;
    let noise: Vec<u8> = (0..128 << 10)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let layer = LayerBuilder::new()
        .file("noise", &noise, 0o644)
        .file("case", ctx.repo(case).as_bytes(), 0o644)
        .finish();
    Built::host(Format::Oci, &[(&layer, Comp::Gzip)])
}

#[test]
fn pull_stalled_blob_fails_after_idle_timeout() {
    for_each_user("pull_stalled_blob", |ctx| {
        let img = image(ctx, "stall");
        let reg = FakeRegistry::serve(&ctx.repo("img"), &img, 0, Misbehave::Stall);
        ctx.ok(&["images"]); // initialise the store so the snapshot is meaningful
        let before = ctx.snapshot();
        // The timeout from the configuration file, this time.
        let out = run(ctx, with_idle_file(ctx, 2, &["pull", &reg.reference()]));
        out.assert_rless_error();
        let line = out.stderr.lines().last().unwrap_or_default();
        for want in [
            img.layers[0].digest.as_str(),
            reg.host.as_str(),
            "no data for 2 s",
        ] {
            assert!(line.contains(want), "the error must name {want:?}: {out}");
        }
        // No temporary blob or layer left behind, no image recorded.
        ctx.snapshot().assert_same(&before, "a stalled pull");
        assert!(ctx.image_ids().is_empty());
        // The store lock went with the pull: removal neither waits nor says so.
        let prune = ctx.ok(&["image", "prune", "-f"]);
        assert!(!prune.stderr.contains(WAITING), "{prune}");
    });
}

#[test]
fn pull_slow_but_steady_blob_succeeds() {
    for_each_user("pull_slow_blob", |ctx| {
        let img = image(ctx, "slow");
        // About 3.5 s for the blob, longer than the idle timeout, with a
        // piece every half second, well within it.
        let how = Misbehave::Trickle {
            pieces: 8,
            gap: Duration::from_millis(500),
        };
        let reg = FakeRegistry::serve(&ctx.repo("img"), &img, 0, how);
        let out = run(ctx, with_idle(ctx, 2, &["pull", &reg.reference()]));
        assert!(out.success(), "a progressing pull must not time out: {out}");
        assert_eq!(out.last_line(), img.id(), "{out}");
        assert_eq!(ctx.image_ids(), [img.id()].into_iter().collect());
    });
}

#[test]
fn commands_waiting_for_the_store_lock_say_so() {
    for_each_user("store_lock_wait", |ctx| {
        let img = image(ctx, "lock");
        let reg = FakeRegistry::serve(&ctx.repo("img"), &img, 0, Misbehave::Stall);
        let free = ctx.ok(&["images"]);
        assert!(!free.stderr.contains(WAITING), "lock was free: {free}");

        // A pull stuck on the blob holds the store lock (shared) until its
        // idle timeout, 8 s, ends it.
        let pull = Background::spawn_cmd(with_idle(ctx, 8, &["pull", &reg.reference()]));
        reg.wait_asked(BOUND);
        // Readers share the lock with a pull: no wait, no message.
        let images = ctx.ok(&["images"]);
        assert!(!images.stderr.contains(WAITING), "{images}");

        // Removal needs it exclusive: it says so while it waits, and goes
        // on once the pull has given up.
        let mut prune = Background::spawn(ctx, &["image", "prune", "-f"]);
        let said = prune.stderr.clone();
        let deadline = Instant::now() + BOUND;
        while !String::from_utf8_lossy(&said.lock().unwrap()).contains(WAITING) {
            assert!(
                prune.running() && Instant::now() < deadline,
                "prune never said it waits for the lock: {:?}",
                prune.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let (code, _) = prune.finish(BOUND);
        let said = String::from_utf8_lossy(&said.lock().unwrap()).into_owned();
        assert_eq!(code, Some(0), "prune after the pull gave up: {said}");
        assert_eq!(said.matches(WAITING).count(), 1, "said once: {said}");

        let err = pull.stderr.clone();
        let (code, _) = pull.finish(BOUND);
        let err = String::from_utf8_lossy(&err.lock().unwrap()).into_owned();
        assert_eq!(code, Some(common::ERR_EXIT), "{err}");
        assert!(err.contains("no data for 8 s"), "{err}");
    });
}
