//! The container's monitor, for `run` and `start`: in the foreground it is
//! this process ([`attach`]: it relays and logs the output and runs the
//! restart policy); detached it is a forked child ([`detach`]: setsid,
//! stdio to `monitor.log`, then `container::monitor`), and the command
//! waits only for its `ok` or error line.
//!
//! A pod member's start holds the pods lock (shared) until the container
//! runs or has failed to start: each entry point here takes it as `pods`
//! and lets it go at that point ([`release`]), so that `pod rm` without
//! -f, which excludes it, never finds the member not yet running and
//! removes it while it starts.

use super::prepare_cgroups;
use anyhow::Result;
use rless::container::{self, ContainerConfig, ContainerState};
use rless::image::time;
use rless::runtime::{self, ContainerSpec};
use rless::trace;
use std::path::Path;
use std::process::ExitCode;

/// The size past which a start moves `monitor.log` aside.
const MONITOR_LOG_MAX: u64 = 1 << 20;

/// Whether the container was made by this command (`run`), or existed
/// before (`start`). A fresh container that fails to start is removed, so
/// bad input leaves nothing behind; an old one is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    Yes,
    No,
}

/// Lets go of a pod member's pods lock (see the module comment): unlocked
/// explicitly, as a process forked meanwhile may still have it open.
pub fn release(pods: Option<std::fs::File>) {
    if let Some(f) = pods {
        let _ = f.unlock();
    }
}

/// Runs a container in the foreground; removes it afterwards with `--rm`.
pub fn attach(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    fresh: Fresh,
    pods: Option<std::fs::File>,
) -> Result<ExitCode> {
    // As the detached monitor: the caller's `ulimit -f` (or `-t`) must not
    // kill this monitor once the container's log grows past it; its writes
    // fail instead (the log stops there, and output to a file past the
    // limit ends the relay as a closed reader does). The init resets every
    // disposition, so the command does not inherit this.
    for sig in [
        nix::sys::signal::Signal::SIGXFSZ,
        nix::sys::signal::Signal::SIGXCPU,
    ] {
        // SAFETY: SIG_IGN runs no code of ours; no handler is replaced by
        // one that could break async-signal safety.
        let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) };
    }
    let result = start_foreground(spec, dir, config, pods);
    let failed_fresh = fresh == Fresh::Yes && !matches!(result, Ok((_, true)));
    let auto_remove = container::removes_on_exit(dir, config.auto_remove);
    if auto_remove && !failed_fresh {
        // As the detached monitor does: `removing`, read by `wait`.
        // With this monitor's pid: should it be killed before the removal
        // is done, the next command that lists containers removes it.
        let mut state = container::read_state(dir);
        let me = std::process::id() as i32;
        state.status = "removing".into();
        state.monitor_pid = Some(me);
        state.monitor_start = container::process_start(me);
        let _ = container::write_state(dir, &state);
        container::control::let_waiters_read(dir);
    }
    if auto_remove || failed_fresh {
        if let Err(e) = container::remove(dir, true) {
            eprintln!(
                "rless: warning: cannot remove container {}: {e}",
                config.id.short()
            );
        }
    }
    if auto_remove && !failed_fresh {
        container::runopts::remove_image(dir, config);
    }
    let (code, _) = result?;
    trace::mark("container finished");
    Ok(ExitCode::from(code as u8))
}

/// Enters the user namespace, runs the container in the foreground (this
/// process is its monitor), records its state, and restarts it as its
/// restart policy says (unless the user stopped it: `rless stop`, or a
/// termination signal to this process).
/// Returns the exit code, and whether the command started at all.
fn start_foreground(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    pods: Option<std::fs::File>,
) -> Result<(i32, bool)> {
    let mut pods = pods;
    let policy = config.restart;
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let spec = &prepare_cgroups(spec)?;
    runtime::enter_userns(spec, false)?;
    trace::mark("user namespace entered");
    container::health::spawn_watcher(dir, config.healthcheck.as_ref());
    container::runopts::spawn_timeout_watcher(dir, &config.run_options);
    let mut restarts = 0;
    let mut last: Option<ContainerState> = None;
    // Shown here and logged, as docker's attached run: `logs` has it too.
    let mut log = container::logs::LogWriter::for_config(dir, &config.host_config.log_config);
    loop {
        // Without -t the command writes to pipes the monitor relays (with
        // -t, to the terminal it relays).
        let pipes = if spec.process.tty {
            None
        } else {
            Some((std::io::pipe()?, std::io::pipe()?))
        };
        let (ends, read_ends) = match pipes {
            Some(((out_r, out_w), (err_r, err_w))) => (
                (Some(out_w.into()), Some(err_w.into())),
                Some((out_r.into(), err_r.into())),
            ),
            None => ((None, None), None),
        };
        let io = runtime::ContainerIo {
            stdout: ends.0,
            stderr: ends.1,
            die_with_monitor: true,
        };
        // A restart takes the limits `rless update` and the networks
        // `network connect|disconnect` may have recorded.
        let recorded;
        let spec_now = if restarts > 0 {
            recorded = container::host_limits::as_recorded(spec, dir);
            &recorded
        } else {
            spec
        };
        let spawned = match runtime::spawn(spec_now, io) {
            // A restart that cannot start (a published port taken during
            // the back-off) is a failed start like any other (the error
            // used to travel up and have a fresh `run` remove the
            // container, history and all).
            Err(e) if last.is_some() => Ok(Err(runtime::StartFailure {
                code: 125,
                message: e.to_string(),
            })),
            r => r,
        };
        let started = match spawned? {
            Ok(s) => s,
            Err(f) => {
                release(pods.take());
                let Some(mut prev) = last.take() else {
                    eprintln!("rless: {}", f.message);
                    return Ok((f.code, false));
                };
                // As with the detached monitor (and docker's restart
                // manager): it counts as an exit with its code, the
                // policy goes on, and inspect's State.Error says why.
                tracing::warn!("restart failed: {}", f.message);
                prev.reason = Some(f.message);
                if !policy.should_restart(f.code, restarts, container::stopped_by_user(dir))
                    || !container::monitor::back_off(dir, &prev, f.code, restarts)
                {
                    record_exit(dir, f.code, &prev);
                    return Ok((f.code, true));
                }
                restarts += 1;
                last = Some(prev);
                continue;
            }
        };
        trace::mark("command started");
        container::health::reset_for_start(dir, config.healthcheck.as_ref());
        let me = std::process::id() as i32;
        let state = ContainerState {
            status: "running".into(),
            pid: Some(started.init.as_raw()),
            monitor_pid: Some(me),
            monitor_start: container::process_start(me),
            init_start: container::process_start(started.init.as_raw()),
            started: Some(time::now()),
            driver: started.driver.map(|d| d.name().to_string()),
            ports: started.ports(),
            cgroup: started.cgroup_path(),
            networks: started.networks(),
            restart_count: restarts,
            ..Default::default()
        };
        let _ = container::write_state(dir, &state);
        release(pods.take());
        container::runopts::write_pidfile(&config.run_options, started.init.as_raw());
        let mut sink = |stderr: bool, chunk: &[u8]| {
            let stream = if stderr {
                container::logs::Stream::Stderr
            } else {
                container::logs::Stream::Stdout
            };
            log.write(stream, chunk);
            // `-a`: the streams not attached are logged only.
            config.run_options.shows(stderr)
        };
        let (mut code, signalled) =
            started.wait_and_finish(spec.process.stdin, read_ends, &mut sink);
        if container::runopts::take_timed_out(dir, state.init_start) {
            code = container::runopts::TIMED_OUT;
        }
        if signalled || !policy.should_restart(code, restarts, container::stopped_by_user(dir)) {
            record_exit(dir, code, &state);
            return Ok((code, true));
        }
        if !container::monitor::back_off(dir, &state, code, restarts) {
            record_exit(dir, code, &state);
            return Ok((code, true));
        }
        restarts += 1;
        last = Some(state);
    }
}

/// Records the container's exit after a run that began as `state`.
fn record_exit(dir: &Path, code: i32, state: &ContainerState) {
    let done = ContainerState {
        status: "exited".into(),
        exit_code: Some(code),
        started: state.started,
        driver: state.driver.clone(),
        finished: Some(time::now()),
        restart_count: state.restart_count,
        ..Default::default()
    };
    let _ = container::write_state(dir, &done);
}

/// Why a detached start failed (the monitor's answer), for a start whose
/// caller reports it as part of its own one line (`start_quiet`: a
/// `--requires` or infra container's start).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StartFailed {
    pub code: u8,
    pub message: String,
}

/// `run -d`: forks the monitor, waits until the container runs (or fails
/// to start), prints its id.
pub fn detach(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    fresh: Fresh,
    pods: Option<std::fs::File>,
) -> Result<ExitCode> {
    match detach_quiet(spec, dir, config, fresh, pods) {
        Err(e) => match e.downcast::<StartFailed>() {
            Ok(f) => {
                eprintln!("rless: {}", f.message);
                Ok(ExitCode::from(f.code))
            }
            Err(e) => Err(e),
        },
        Ok(()) => {
            // `run -d` prints the new id; `start` prints the name as it was given.
            if fresh == Fresh::Yes {
                println!("{}", config.id);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// [`detach`] printing nothing: a failed start is a [`StartFailed`] error.
pub fn detach_quiet(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    fresh: Fresh,
    pods: Option<std::fs::File>,
) -> Result<()> {
    let forked = fork_monitor(spec, dir, config, fresh, false);
    release(pods);
    match forked? {
        Some(f) => Err(f.into()),
        None => Ok(()),
    }
}
/// `run --sig-proxy=false` and `start -a --sig-proxy=false`: the
/// container runs under a monitor of its own, as with `-d`, and this
/// process shows its output (from its log, what this run writes) and ends
/// with its exit code. A signal to this process is not passed on: it ends
/// this process only, with its default action (Ctrl-C), and the container
/// runs on, as docker's. Without `-t`, with `-i` the container reads the
/// caller's stdin itself; with `-t` (where docker passes no signal) this
/// process relays as `rless attach --sig-proxy=false` does: the caller's
/// input with `-i` to the container's input FIFO, in raw mode, where the
/// detach keys leave the container running.
pub fn run_unproxied(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    fresh: Fresh,
    pods: Option<std::fs::File>,
) -> Result<ExitCode> {
    // Taken before the start: a `--rm` container's exit code must not go
    // with its directory before it is read.
    let waiting = container::control::hold_for_exit(dir);
    // Taken before the start too: this run's output, none of an earlier
    // run's (`start`).
    let log = container::logs::Follower::from_end(dir);
    let tty = spec.process.tty;
    let forked = fork_monitor(spec, dir, config, fresh, !tty);
    release(pods);
    if let Some(f) = forked? {
        eprintln!("rless: {}", f.message);
        return Ok(ExitCode::from(f.code));
    }
    let code = if tty {
        let input = if spec.process.stdin {
            container::attach::open_input(dir)?
        } else {
            None
        };
        // Checked when the container was made (`--detach-keys`).
        let keys = crate::commands::attach::parse_detach_keys(
            config
                .run_options
                .detach_keys
                .as_deref()
                .unwrap_or(crate::commands::attach::DETACH_KEYS),
        )?;
        // With -t the terminal's one stream is stdout (docker's and
        // podman's `-a`): not shown without `-a stdout`.
        let show = config.run_options.shows(false);
        crate::commands::attach::relay(dir, log, (true, show), input, false, keys)?
    } else {
        follow_log(dir, log, &config.run_options)?
    };
    drop(waiting);
    // As docker's client, which waits for the removal too: what comes
    // next (`ps -a`, a `run` with the same name) finds it gone. Bounded:
    // a stuck removal is the monitor's to report. (Not after the detach
    // keys: the container runs on.)
    if config.auto_remove && !container::read_state(dir).live() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while dir.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(code)
}

/// Prints what the container in `dir` writes to its log (from where `log`
/// stands; the streams `-a` attached) until it has ended (restarts
/// included); returns its exit code.
fn follow_log(
    dir: &Path,
    mut log: container::logs::Follower,
    options: &container::runopts::RunOptions,
) -> Result<ExitCode> {
    use std::io::Write;
    loop {
        // The state first: an ended container's output is all logged by
        // the time its end is recorded, so the read after it has it all.
        let state = container::read_state(dir);
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        for l in log.read_new() {
            if !options.shows(l.stream == container::logs::Stream::Stderr) {
                continue;
            }
            let w: &mut dyn Write = if l.stream == container::logs::Stream::Stdout {
                &mut out
            } else {
                &mut err
            };
            w.write_all(&l.text)?;
            if !l.partial {
                w.write_all(b"\n")?;
            }
        }
        out.flush()?;
        if !state.live() {
            return Ok(ExitCode::from(state.exit_code.unwrap_or(0) as u8));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Forks a container's monitor (its own session, stdio to `monitor.log`)
/// and waits for its answer: `None` once the container runs, else why it
/// did not, with the exit code to end with. `keep_stdin`: the
/// container reads the caller's stdin (with `-i`), not a pipe the monitor
/// holds open.
fn fork_monitor(
    spec: &ContainerSpec,
    dir: &Path,
    config: &ContainerConfig,
    fresh: Fresh,
    keep_stdin: bool,
) -> Result<Option<StartFailed>> {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let spec = &match prepare_cgroups(spec) {
        Ok(s) => s,
        Err(e) => {
            if fresh == Fresh::Yes {
                let _ = container::remove(dir, true);
            }
            return Err(e);
        }
    };
    let (ready_r, ready_w) = std::io::pipe()?;
    let log = dir.join("monitor.log");
    match rless::runtime::fork_process()? {
        None => {
            drop(ready_r);
            // The monitor: its own session, stdio away from the terminal.
            let _ = nix::unistd::setsid();
            // Nothing of the caller's but stdio and the answer pipe: a
            // descriptor such as a shell's `3>&1` kept by the monitor made
            // the caller's pipe last as long as the container.
            {
                use std::os::fd::AsRawFd;
                // But `--preserve-fds`'s, for the command.
                let preserved = (0..spec.process.preserve_fds).map(|i| 3 + i as i32);
                let keep: Vec<i32> = preserved.chain([ready_w.as_raw_fd()]).collect();
                rless::runtime::close_fds_except(&keep);
            }
            // SAFETY: the monitor is single-threaded here (just forked).
            // A `run -d` killed before it reads the answer must not take
            // the monitor with it by SIGPIPE (rless restores the default
            // action at start); nor must the caller's `ulimit -f` (or
            // `-t`) once the container's log grows past it (or the
            // monitor's CPU time): its writes fail instead. The init
            // resets every disposition before its exec, so the
            // container's process does not inherit this.
            unsafe {
                for sig in [
                    nix::sys::signal::Signal::SIGPIPE,
                    nix::sys::signal::Signal::SIGXFSZ,
                    nix::sys::signal::Signal::SIGXCPU,
                ] {
                    let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn);
                }
            }
            // With -i, as docker's `run -di`: an input that stays open,
            // so `sh` or `cat` waits instead of ending at once: the FIFO
            // `rless attach` writes to (`container::attach`), whose ends
            // the monitor holds; without -t the command's stdin, with -t
            // copied by the monitor into the pty. (With keep_stdin, -i
            // leaves the caller's stdin in place.)
            let mut _input_held = None;
            let mut terminal_input = None;
            let mut null_stdin = !spec.process.stdin;
            if spec.process.stdin && !keep_stdin {
                match container::attach::make_input(dir).and_then(|i| {
                    if spec.process.tty {
                        Ok((i.read, i.write, true))
                    } else {
                        i.blocking_read().map(|(r, w)| (r, w, false))
                    }
                }) {
                    Ok((r, w, true)) => {
                        terminal_input = Some(r);
                        _input_held = Some(w);
                        null_stdin = true;
                    }
                    Ok((r, w, false)) => {
                        let _ = rustix::stdio::dup2_stdin(&r);
                        _input_held = Some(w);
                    }
                    Err(e) => {
                        eprintln!("rless monitor: no input for attach: {e}");
                        if let Ok((r, w)) = std::io::pipe() {
                            let _ = rustix::stdio::dup2_stdin(&r);
                            _input_held = Some(w.into());
                        }
                    }
                }
            }
            if null_stdin {
                if let Ok(null) = std::fs::File::open("/dev/null") {
                    let _ = rustix::stdio::dup2_stdin(&null);
                }
            }
            // Each start appends; past 1 MiB the log moves to monitor.log.1
            // (replacing the one before), so it stays bounded over restarts.
            if std::fs::metadata(&log).is_ok_and(|m| m.len() > MONITOR_LOG_MAX) {
                let _ = std::fs::rename(&log, dir.join("monitor.log.1"));
            }
            if let Ok(f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
            {
                // Room for its own messages even once the disk is full
                // (the container's log filling it is reported here).
                let _ = rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::KEEP_SIZE, 0, 16384);
                let _ = rustix::stdio::dup2_stdout(&f);
                let _ = rustix::stdio::dup2_stderr(&f);
            }
            let code = container::monitor::run_detached(
                spec,
                dir,
                config,
                fresh == Fresh::Yes,
                ready_w.into(),
                terminal_input,
            );
            std::process::exit(code)
        }
        Some(_) => {
            drop(ready_w);
            let mut answer = String::new();
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(ready_r), &mut answer);
            let answer = answer.trim_end();
            if answer == "ok" {
                return Ok(None);
            }
            let (code, msg) = answer
                .strip_prefix("err ")
                .and_then(|r| r.split_once(' '))
                .and_then(|(c, m)| Some((c.parse::<u8>().ok()?, m.to_string())))
                .unwrap_or((
                    125,
                    format!("the container's monitor failed; see {}", log.display()),
                ));
            Ok(Some(StartFailed { code, message: msg }))
        }
    }
}
