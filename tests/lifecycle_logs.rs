//! `rless logs -f` across log rotation: a container whose output passes
//! the log's size cap twice while it is followed (the file rotated away
//! and then replaced), every line printed once, in order, none lost.
//! The other `logs` scenarios are in `lifecycle.rs`.
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::background::Background;
use common::checks::*;
use common::for_each_user;
use common::lifecycle_helpers::*;
use std::time::Duration;

/// Lines the container writes: about 48 bytes a line in the log, 48 MB,
/// more than two of the 20 MiB files.
const LINES: usize = 1_000_000;

#[test]
fn lifecycle_logs_follow_across_rotations() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_logs_follow_across_rotations", |ctx| {
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "big"],
            &format!(
                "trap 'seq 1 {LINES}; echo done' USR1; trap 'exit 0' TERM; echo ready; \
                 while true; do sleep 0.1; done"
            ),
        );
        wait_log(ctx, "big", "ready");
        let mut bg = Background::spawn(ctx, &["logs", "-f", "big"]);
        bg.wait_line("ready", Duration::from_secs(30));
        ctx.ok(&["kill", "-s", "USR1", "big"]);
        // The output is checked below, not printed on a timeout here.
        let dir = container_dir(ctx, &id);
        let done = eventually(Duration::from_secs(300), || {
            let log = std::fs::read(dir.join("ctr.log")).unwrap_or_default();
            log.ends_with(b" stdout F done\n")
        });
        assert!(done, "the container never wrote its last line");
        assert!(
            dir.join("ctr.log.1").exists(),
            "the log was never rotated: the test proves nothing"
        );
        ctx.ok(&["stop", "big"]);
        let stderr = bg.stderr.clone();
        let (code, lines) = bg.finish(Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        assert_eq!(code, Some(0), "logs -f: {stderr}");
        let want: Vec<String> = std::iter::once("ready".to_string())
            .chain((1..=LINES).map(|n| n.to_string()))
            .chain(std::iter::once("done".to_string()))
            .collect();
        if lines != want {
            let first_bad = lines
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(lines.len().min(want.len()));
            panic!(
                "logs -f printed {} lines for {} (first difference at line {first_bad}: {:?}); \
                 each line must come once, in order; stderr {stderr}",
                lines.len(),
                want.len(),
                (lines.get(first_bad), want.get(first_bad)),
            );
        }
    });
}
