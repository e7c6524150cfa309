//! `rless logs -f` across log rotation: a container whose output passes
//! the log's size cap twice while it is followed (the file rotated away
//! and then replaced), every line printed once, in order, none lost; and
//! one whose output is not read while the log rotates three times and
//! more, which says on stderr that it lost files.
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

/// Lines for [`lifecycle_logs_follow_stalled_says_what_it_lost`]: about
/// 80 MB in the log, more than three of the 20 MiB files.
const STALLED_LINES: usize = 1_700_000;

/// A `logs -f` whose output nobody reads while the log rotates three times
/// and more: the files rotated away and deleted meanwhile are lost to it
/// (docker says nothing), and it says so on stderr instead of skipping
/// them silently.
#[test]
fn lifecycle_logs_follow_stalled_says_what_it_lost() {
    if !have_busybox() {
        return;
    }
    for_each_user("lifecycle_logs_follow_stalled_says_what_it_lost", |ctx| {
        use std::io::Read;
        let _cleanup = Cleanup(ctx);
        setup_image(ctx);
        let id = run_sh(
            ctx,
            &["--name", "flood"],
            &format!(
                "trap 'seq 1 {STALLED_LINES}; echo done' USR1; trap 'exit 0' TERM; echo ready; \
                 while true; do sleep 0.1; done"
            ),
        );
        wait_log(ctx, "flood", "ready");
        // Its stdout is a pipe read only at the end: it stalls once the
        // pipe is full.
        let mut cmd = ctx.rless_cmd(&["logs", "-f", "flood"]);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn logs -f");
        let mut err = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 6];
        out.read_exact(&mut first).expect("the first line");
        assert_eq!(&first, b"ready\n");
        ctx.ok(&["kill", "-s", "USR1", "flood"]);
        let dir = container_dir(ctx, &id);
        let done = eventually(Duration::from_secs(300), || {
            let log = std::fs::read(dir.join("ctr.log")).unwrap_or_default();
            log.ends_with(b" stdout F done\n")
        });
        assert!(done, "the container never wrote its last line");
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        ctx.ok(&["stop", "flood"]);
        let status = wait_timeout(&mut child, Duration::from_secs(120));
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let printed = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        assert_eq!(status.and_then(|s| s.code()), Some(0), "logs -f: {stderr}");
        let count = printed.lines().count();
        assert!(
            count < STALLED_LINES,
            "nothing was lost ({count} lines): the test proves nothing"
        );
        assert!(
            stderr.contains("rotated away and deleted before they could be read"),
            "logs -f lost {} lines without a word: stderr {stderr:?}",
            STALLED_LINES + 2 - count
        );
        assert_eq!(printed.lines().last(), Some("done"), "{stderr}");
    });
}
