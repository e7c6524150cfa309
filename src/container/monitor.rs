//! The monitor of a detached container (`run -d`, `start`).
//!
//! Theory of operation: `rless run -d` forks; the child calls setsid,
//! points its own stdio at `monitor.log` in the container's directory and
//! becomes the monitor: it enters the user namespace, starts the container
//! with its stdout and stderr on two pipes, and tells the waiting command,
//! over a `ready` pipe, either `ok` or `err CODE MESSAGE`. That command then
//! prints the id (or the error) and exits. The monitor stays: it copies the
//! two pipes into the log ([`super::logs`]), passes SIGTERM, SIGINT, SIGHUP,
//! SIGQUIT, SIGUSR1 and SIGUSR2 on to the init, and when the init exits it
//! records the exit code and, with `--rm`, removes the container and its
//! anonymous volumes, or restarts it as its restart policy says (a restart
//! that fails to start counts as an exit, and the policy goes on). At each
//! SIGCHLD it also replaces a port forwarder that died, and a network
//! helper that died, whose tie hanging up raises SIGCHLD too
//! ([`runtime::Started::tend`]). A container with a health check gets its
//! watcher here, once the container runs ([`super::health`]: a process of
//! its own, not this one's child, so its checks raise no SIGCHLD here).
//!
//! The init dies with the monitor (PDEATHSIG), so a killed monitor takes the
//! container with it and `ps` can tell from the monitor's pid and start time
//! that the container has exited.

use super::logs::{LogWriter, Stream};
use super::{process_start, remove, write_state, ContainerState};
use crate::image::time;
use crate::runtime::{self, ContainerIo, ContainerSpec};
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Runs the monitor; returns its exit code. `ready` is the write end of
/// the pipe the starting command reads. `terminal_input` (with `-t -i`):
/// the read end of the input FIFO ([`super::attach`]), copied into the
/// pty.
/// With `remove_on_failure` (a container `run` just made), a container that
/// fails to start is removed rather than left half-made.
pub fn run_detached(
    spec: &ContainerSpec,
    dir: &Path,
    config: &super::ContainerConfig,
    remove_on_failure: bool,
    ready: OwnedFd,
    terminal_input: Option<OwnedFd>,
) -> i32 {
    let auto_remove = config.auto_remove;
    // One line: the reader must not wait for EOF, since descriptors of the
    // monitor live on in processes it forks.
    let tell = |msg: &str| {
        let _ = rustix::io::write(&ready, format!("{}\n", msg.replace('\n', " ")).as_bytes());
    };
    // Clean up first, then answer: when `run -d` returns, nothing is left.
    let fail = |code: i32, msg: &str| {
        let never_ran = ContainerState::default();
        finish(dir, code, auto_remove || remove_on_failure, &never_ran, 0);
        tell(&format!("err {code} {msg}"));
        code
    };
    if let Err(e) = runtime::enter_userns(spec, true) {
        return fail(125, &e.to_string());
    }
    let (mut started, mut out_r, mut err_r) = match start_once(spec) {
        Ok(s) => s,
        Err((code, msg)) => return fail(code, &msg),
    };
    // Recorded before `run -d` returns, so a command right after it (exec,
    // ps) finds the container running. Written once per run: a second write
    // after `ok` would undo what a command right after it recorded (`pause`).
    super::health::reset_for_start(dir, config.healthcheck.as_ref());
    let mut state = running_state(&started, 0);
    if let Err(e) = write_state(dir, &state) {
        eprintln!("rless monitor: {e}");
    }
    super::runopts::write_pidfile(&config.run_options, started.init.as_raw());
    tell("ok");
    drop(ready);
    super::health::spawn_watcher(dir, config.healthcheck.as_ref());
    super::runopts::spawn_timeout_watcher(dir, &config.run_options);
    let mut log = LogWriter::for_config(dir, &config.host_config.log_config);
    let mut restarts = 0;
    loop {
        if restarts > 0 {
            super::health::reset_for_start(dir, config.healthcheck.as_ref());
            state = running_state(&started, restarts);
            if let Err(e) = write_state(dir, &state) {
                eprintln!("rless monitor: {e}");
            }
            super::runopts::write_pidfile(&config.run_options, started.init.as_raw());
        }
        // With FUSE or network threads running, pump releases only what no
        // thread can write (see `release_idle_memory`).
        let threads = !started.single_threaded();
        let (code, reason) = pump(
            dir,
            &mut started,
            out_r,
            err_r,
            terminal_input.as_ref(),
            &mut log,
            threads,
        );
        // Why it stopped, when the monitor stopped it: the restarting and
        // exited states keep it.
        state.reason = reason;
        // Single-threaded again before any restart clones.
        started.finish();
        let mut code = code;
        if super::runopts::take_timed_out(dir, state.init_start) {
            code = super::runopts::TIMED_OUT;
        }
        // Until a restart starts or the policy ends. A restart that fails
        // to start (its published port taken during the back-off, say)
        // counts as an exit with its code and the policy goes on, as with
        // docker's restart manager; `runtime::spawn` took down whatever
        // that start had set up, so nothing of it is left to hold ports.
        loop {
            if !config
                .restart
                .should_restart(code, restarts, super::stopped_by_user(dir))
                || !back_off(dir, &state, code, restarts)
            {
                finish(dir, code, auto_remove, &state, restarts);
                super::runopts::remove_image(dir, config);
                return 0;
            }
            restarts += 1;
            // With the limits `rless update` and the networks `network
            // connect|disconnect` may have recorded meanwhile.
            match start_once(&super::host_limits::as_recorded(spec, dir)) {
                Ok((s, o, e)) => {
                    (started, out_r, err_r) = (s, o, e);
                    break;
                }
                Err((c, msg)) => {
                    eprintln!("rless monitor: restart failed: {msg}");
                    code = c;
                    // For inspect's State.Error while it keeps trying, as
                    // docker records a failed start's error.
                    state.reason = Some(msg);
                }
            }
        }
    }
}

/// Waits out docker's restart back-off before restart `restarts + 1`
/// (100 ms, doubling, at most a minute), with the container recorded as
/// `restarting` after its run `state` exited with `code`. `false` when the
/// restarts end instead: a termination signal came (`rless stop` wakes a
/// monitor so) or the user stopped the container. For the detached
/// monitor and a foreground `run` alike.
pub fn back_off(dir: &Path, state: &ContainerState, code: i32, restarts: u32) -> bool {
    let delay =
        std::time::Duration::from_millis(100u64.saturating_mul(1 << restarts.min(10)).min(60_000));
    // The networks as recorded (`network connect|disconnect` changes them
    // while it runs), not as the run started.
    let recorded = super::read_state(dir);
    let networks = match recorded.status.as_str() {
        "running" | "restarting" => recorded.networks,
        _ => state.networks.clone(),
    };
    let waiting = ContainerState {
        networks,
        status: "restarting".into(),
        exit_code: Some(code),
        restart_count: restarts,
        pid: None,
        init_start: None,
        finished: Some(time::now()),
        ..state.clone()
    };
    let _ = write_state(dir, &waiting);
    !sleep_or_signalled(delay) && !super::stopped_by_user(dir)
}

/// Sleeps a restart back-off of `delay`; `true` if a termination signal
/// (SIGINT, SIGTERM, SIGHUP, SIGQUIT) came meanwhile, which ends the
/// restarts. Those signals must be blocked (a monitor forwards them, so
/// they are): they are polled from a signalfd and left pending.
fn sleep_or_signalled(delay: std::time::Duration) -> bool {
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    let Ok(sfd) = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) else {
        std::thread::sleep(delay);
        return false;
    };
    let mut fds = [rustix::event::PollFd::new(
        &sfd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: delay.as_secs() as i64,
        tv_nsec: delay.subsec_nanos() as i64,
    };
    matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}

/// Starts the container once, with its output on two fresh pipes.
fn start_once(spec: &ContainerSpec) -> Result<(runtime::Started, OwnedFd, OwnedFd), (i32, String)> {
    let pipe = || {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| (125, format!("cannot create log pipes: {e}")))
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let io = ContainerIo {
        stdout: Some(out_w),
        stderr: Some(err_w),
        die_with_monitor: true,
    };
    match runtime::spawn(spec, io) {
        Err(e) => Err((125, e.to_string())),
        Ok(Err(f)) => Err((f.code, f.message)),
        Ok(Ok(s)) => Ok((s, out_r, err_r)),
    }
}

fn running_state(started: &runtime::Started, restarts: u32) -> ContainerState {
    let me = std::process::id() as i32;
    ContainerState {
        status: "running".into(),
        pid: Some(started.init.as_raw()),
        monitor_pid: Some(me),
        monitor_start: process_start(me),
        init_start: process_start(started.init.as_raw()),
        started: Some(time::now()),
        driver: started.driver.map(|d| d.name().to_string()),
        restart_count: restarts,
        ports: started.ports(),
        cgroup: started.cgroup_path(),
        networks: started.networks(),
        ..Default::default()
    }
}

/// Removes the container when asked to, or records the exit after its
/// `last` run (its start, driver and, if the monitor stopped it, why):
/// also when the removal failed and left the container, so that it keeps
/// its real exit code, not the 137 of a monitor gone while `running`.
/// Before a removal the exit is recorded as `removing`, not `exited`: a
/// `wait` reads its code there ([`super::control::let_waiters_read`]),
/// and `start` refuses it (an `exited` container could be started again
/// while its directory goes away).
fn finish(dir: &Path, code: i32, auto_remove: bool, last: &ContainerState, restarts: u32) {
    let mut state = ContainerState {
        status: "removing".into(),
        exit_code: Some(code),
        started: last.started,
        finished: Some(time::now()),
        driver: last.driver.clone(),
        reason: last.reason.clone(),
        restart_count: restarts,
        // Who removes it: once this monitor is gone, a `removing` (or,
        // should the removal fail, `exited`) `--rm` container is removed
        // by the next command that lists containers (`list`).
        monitor_pid: Some(std::process::id() as i32),
        monitor_start: process_start(std::process::id() as i32),
        ..Default::default()
    };
    if super::removes_on_exit(dir, auto_remove) {
        let _ = write_state(dir, &state);
        super::control::let_waiters_read(dir);
        match remove(dir, true) {
            Ok(()) => return,
            Err(e) => eprintln!("rless monitor: cannot remove the container: {e}"),
        }
        if !dir.join("state.json").exists() {
            return;
        }
    }
    state.status = "exited".into();
    if let Err(e) = write_state(dir, &state) {
        eprintln!("rless monitor: {e}");
    }
}

/// Copies the container's output into the log and passes signals on until
/// the init exits and the pipes are drained; returns the exit code, and
/// why the monitor killed the container if it did. At each SIGCHLD it also
/// looks after the port forwarder ([`runtime::Started::tend`]).
/// First gives back what setting up touched
/// ([`runtime::release_idle_memory`]; `threads`: other threads run), once
/// everything the loop needs is in place, so the idle loop faults in as
/// little as possible again.
fn pump(
    dir: &Path,
    started: &mut runtime::Started,
    out: OwnedFd,
    err: OwnedFd,
    input: Option<&OwnedFd>,
    log: &mut LogWriter,
    threads: bool,
) -> (i32, Option<String>) {
    let init = started.init;
    let signals = runtime::sigproxy::forwarded();
    let Ok(sfd) = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return (runtime::sigproxy::wait_forwarding(init, &signals), None);
    };
    // With -t, the command writes to its terminal: the pty master is
    // read as its stdout (it ends with EIO once the command is gone).
    let mut open = [Some(out), Some(err), started.take_terminal_output()];
    // What attach types (with -t): copied into the pty master. A dup, so
    // the FIFO outlives this run for the next restart.
    let mut typed = match (&open[2], input) {
        (Some(m), Some(i)) => {
            // Written without blocking (see `pass_keys`); reads of it
            // come after poll said it is ready.
            let nonblocking = rustix::fs::fcntl_getfl(m)
                .and_then(|f| rustix::fs::fcntl_setfl(m, f | rustix::fs::OFlags::NONBLOCK));
            nonblocking.ok().and_then(|()| i.try_clone().ok())
        }
        _ => None,
    };
    let mut buf = vec![0u8; 1 << 16];
    let (mut exit, mut reason): (Option<i32>, Option<String>) = (None, None);
    runtime::release_idle_memory(threads);
    loop {
        if exit.is_some() && open.iter().all(Option::is_none) {
            return (exit.unwrap_or(0), reason);
        }
        // Once the init is gone, whatever still holds the pipes is gone
        // too (the pid namespace died with it); don't wait forever anyway.
        if exit.is_some() || open[2].is_none() {
            typed = None;
        }
        let Some((signalled, ready, keys)) =
            runtime::output::poll_streams(&sfd, &open, typed.as_ref(), exit.is_some())
        else {
            return (exit.unwrap_or(0), reason);
        };
        if keys {
            pass_keys(typed.as_ref(), open[2].as_ref(), &mut buf);
        }
        for i in &ready {
            let stream = if *i == 1 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let fd = open[*i].as_ref().expect("open");
            match rustix::io::read(fd, &mut buf) {
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Ok(0) | Err(_) => open[*i] = None,
                Ok(n) => log.write(stream, &buf[..n]),
            }
        }
        if signalled {
            while let Ok(Some(info)) = sfd.read_signal() {
                match runtime::sigproxy::take(init, (&info).into()) {
                    runtime::sigproxy::Taken::Child => {
                        if exit.is_none() {
                            exit = runtime::exit_code(init);
                        }
                        let tended = if exit.is_none() {
                            started.tend()
                        } else {
                            Vec::new()
                        };
                        for t in tended {
                            eprintln!("rless monitor: {}", t.message());
                            if let runtime::Tended::Killed(m) = t {
                                reason = Some(m);
                            }
                        }
                    }
                    // An attach asks for its terminal's size (see
                    // `super::attach`).
                    runtime::sigproxy::Taken::Resize => {
                        if let (Some(m), Some((rows, cols))) =
                            (&open[2], super::attach::requested_window_size(dir))
                        {
                            let ws = nix::libc::winsize {
                                ws_row: rows,
                                ws_col: cols,
                                ws_xpixel: 0,
                                ws_ypixel: 0,
                            };
                            let _ = runtime::sys::set_window_size(m.as_fd(), &ws);
                        }
                    }
                    runtime::sigproxy::Taken::PassedOn { .. }
                    | runtime::sigproxy::Taken::Duplicate => {}
                }
            }
        }
        let _ = sfd.as_fd();
    }
}

/// Copies what is waiting in the input FIFO into the pty master, without
/// blocking: what the pty's input queue cannot take is dropped, as keys
/// typed into a full terminal queue are (the loop must go on copying the
/// output, or a command that does not read its input would stall it).
fn pass_keys(from: Option<&OwnedFd>, master: Option<&OwnedFd>, buf: &mut [u8]) {
    let (Some(from), Some(master)) = (from, master) else {
        return;
    };
    let Ok(n) = rustix::io::read(from, &mut *buf) else {
        return;
    };
    let mut data = &buf[..n];
    while !data.is_empty() {
        match rustix::io::write(master, data) {
            Ok(w) => data = &data[w..],
            Err(_) => return,
        }
    }
}
