//! The caller's terminal after a `-t` session ends by SIGTERM or SIGHUP
//! (the terminal closed): rless put it in raw mode, and it must be back
//! in its own settings (canonical input, echo) once rless is gone, however
//! it went: `attach -t` and `run -it --sig-proxy=false`, which such a
//! signal kills (docker passes none on with a terminal), and `run -it` and
//! `exec -it`, which pass it on to the command and end with it. (SIGKILL
//! cannot be caught: nothing restores the terminal after it.)
//! Every scenario imports a busybox root filesystem (no registry).

mod common;

use common::checks::*;
use common::for_each_user;
use common::lifecycle_helpers::*;
use common::pty::PtySession;
use rustix::process::Signal;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const SIGNALS: [Signal; 2] = [Signal::TERM, Signal::HUP];

/// Runs `rless ARGS` on a pty until it has made the terminal raw, sends
/// it `sig`, and checks that the terminal is restored after its end;
/// returns its exit code.
fn session(ctx: &common::Ctx, args: &[&str], sig: Signal) -> Option<i32> {
    let mut pty = PtySession::spawn(ctx, args, 24, 80);
    assert!(!pty.is_raw(), "{args:?}: the pty starts in cooked mode");
    let raw = eventually(WAIT, || pty.is_raw());
    assert!(raw, "{args:?}: never made the terminal raw: {}", pty.text());
    pty.signal(sig);
    let code = pty.wait();
    assert!(
        !pty.is_raw(),
        "{args:?}: {sig:?} (exit {code:?}) left the terminal raw: {}",
        pty.text()
    );
    code
}

#[test]
fn tty_restored_after_term_and_hup() {
    if !have_busybox() {
        return;
    }
    for_each_user("tty_restored_after_term_and_hup", |ctx| {
        setup_image(ctx);
        run_d(ctx, &["-i", "-t", "--name", "t1", IMG, "sh", "-c", FOREVER]);
        for sig in SIGNALS {
            // Killed by the signal (not passed on with a terminal): the
            // container runs on.
            let code = session(ctx, &["attach", "t1"], sig);
            assert_eq!(code, None, "attach: {sig:?}");
            let code = session(
                ctx,
                &[
                    "run",
                    "-i",
                    "-t",
                    "--rm",
                    "--sig-proxy=false",
                    "--name",
                    "unproxied",
                    IMG,
                    "sh",
                    "-c",
                    FOREVER,
                ],
                sig,
            );
            assert_eq!(code, None, "run --sig-proxy=false: {sig:?}");
            ctx.ok(&["rm", "-f", "unproxied"]);
            // Passed on to the command, which it ends; rless ends with it.
            let code = session(ctx, &["run", "-i", "-t", "--rm", IMG, "sleep", "1000"], sig);
            assert_eq!(code, Some(128 + sig.as_raw()), "run -it: {sig:?}");
            let code = session(ctx, &["exec", "-i", "-t", "t1", "sleep", "1000"], sig);
            assert_eq!(code, Some(128 + sig.as_raw()), "exec -it: {sig:?}");
        }
        ctx.ok(&["rm", "-f", "t1"]);
    });
}
