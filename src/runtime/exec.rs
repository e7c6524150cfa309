//! `exec`: a new process in a running container.
//!
//! Theory of operation: the calling process opens the namespace files of
//! the container's init (`/proc/PID/ns/*`), joins its user namespace (the
//! user owns it, so this needs no privilege), then its mount, uts, ipc,
//! network, pid and cgroup namespaces, skipping any it already shares (a container
//! on the host network). Joining the mount namespace moves the root to the
//! container's. It then forks: the child is in the container's pid
//! namespace and goes through the same stages 7 and 8 as the container's
//! command (capabilities, no_new_privs, user, exec). With `-t`, the pty is
//! opened from the container's /dev/pts before the fork; without it the
//! child makes a session of its own (so a terminal's signals reach it only
//! through the caller, once). The caller waits and passes signals on.
//! Should it go away (`kill -9` of `rless exec`), the kernel would give the
//! process to the reaper of the caller's own pid namespace (the host's,
//! not the container's init), where nothing of rless waits for it: so,
//! unless detached (`-d`, whose caller leaves at once), the process gets
//! SIGKILL as its parent death signal, set after its user switch (which
//! clears it). The caller cannot be told from its pid (outside the
//! container's pid namespace it has none there): the status pipe's read
//! end, which only the caller holds until the exec, tells whether it had
//! already ended by then. When the container has a cgroup,
//! the child joins it before anything else (best effort: from outside the
//! delegated subtree the kernel refuses, and the process runs uncounted).
//! The child closes every descriptor of the caller's but stdio and the
//! ones `--preserve-fds` keeps, as podman's exec.
//!
//! The end (`exec_died`, with the exit code, as podman's): once the
//! caller has joined the container's mount namespace, the store's event
//! log is out of its sight. So, unless detached (`-d`), the caller first
//! forks a holder, which stays in the host's namespaces (a session of its
//! own, stdio on /dev/null) and waits on a socket: whoever has the
//! process's exit code sends it there (tag `c`), and the holder hands it
//! to the caller's `on_exit` (which records the event) once the socket's
//! other ends are all closed. A caller that returns the code waits for
//! the holder first, so the event is in the log when the command ends.
//!
//! Detaching (`-it`, the detach keys typed): the caller is about to exit
//! while the process runs on. So a process that can be detached from (a
//! terminal, input, keys) gets no parent death signal; the terminal's
//! hang-up when the caller's master closes (its end, `kill -9` too) ends
//! it instead, as it ends a shell whose terminal goes. Its parent is not
//! the caller but a waiter the caller forks once it has joined every
//! namespace but the pid one (so the waiter is in the host's pid
//! namespace, unseen by the container; it joins the pid namespace for its
//! child only): the waiter passes on the signals the caller passes it,
//! sends the process's exit code to the holder and exits with it, which
//! the caller's relay takes as the process's. On the keys the caller
//! hands the holder the master (SCM_RIGHTS, tag `m`), and the holder reads
//! and drops the process's output until every slave is closed; the exit
//! code comes later, from the waiter. The holder exits once the caller and
//! the waiter are gone and no slave is open.

use super::init::resolve_user;
use super::launch::{prepare_and_exec, DieWith};
use super::{sys, tty, ProcessSpec, RunError};
use nix::sched::CloneFlags;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    // `--cgroupns private`'s (else the same as here, and not joined).
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// Runs `process` inside the container whose init is `init`; returns its
/// exit code (with `detach`, 0 once it has started), none when the caller
/// typed the detach `keys` (with a terminal and input; empty: none) and
/// left it running. Unless `detach`, the exit code (later, for a process
/// detached from) is handed to `on_exit` in a process of the caller's
/// namespaces (see the module's comment). The caller must be
/// single-threaded.
pub fn exec_in(
    init_pid: i32,
    process: &ProcessSpec,
    hostname: &str,
    detach: bool,
    cgroup: Option<OwnedFd>,
    keys: &[u8],
    on_exit: &dyn Fn(i32),
) -> Result<Option<i32>, RunError> {
    let keys = match process.tty && process.stdin && !detach {
        true => keys,
        false => &[],
    };
    let sys_err = |op| move |source| RunError::Sys { op, source };
    // Forked before the namespaces are joined: a holder forked later would
    // be in the container's pid namespace, where its processes (`ps`,
    // `rless top`) would see it and the host's command line.
    let holder = match detach {
        true => None,
        false => Some(Holder::spawn(on_exit).map_err(sys_err("fork the exec's holder"))?),
    };
    let mut joins = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{init_pid}/ns/{name}");
        let file = File::open(&theirs).map_err(sys_err("open the container's namespaces"))?;
        let same = std::fs::metadata(format!("/proc/self/ns/{name}")).is_ok_and(|m| {
            file.metadata()
                .is_ok_and(|t| t.ino() == m.ino() && t.dev() == m.dev())
        });
        if !same {
            joins.push((OwnedFd::from(file), flag));
        }
    }
    // With the keys, the waiter joins the pid namespace (for its child).
    let pid_ns = match keys.is_empty() {
        false => joins
            .iter()
            .position(|(_, f)| *f == CloneFlags::CLONE_NEWPID)
            .map(|i| joins.remove(i).0),
        true => None,
    };
    for (fd, flag) in &joins {
        nix::sched::setns(fd, *flag)
            .map_err(|e| sys_err("join the container's namespaces")(e.into()))?;
    }
    drop(joins);
    // A container with its own map (`--uidmap`) may not map the user:
    // root of it, as its init is, until the user switch below.
    if super::idmap::unmapped() {
        super::idmap::become_root()?;
    }
    let user = resolve_user(process)?;
    let signals = super::sigproxy::forwarded();
    signals
        .thread_block()
        .map_err(|e| sys_err("block signals")(e.into()))?;
    let (terminal, slave) = if process.tty && !detach {
        let (t, s) = tty::Terminal::open_here(tty::caller_window_size())
            .map_err(sys_err("open a terminal"))?;
        (Some(t), Some(s))
    } else {
        (None, None)
    };
    let seccomp = process
        .seccomp_program()
        .map_err(|e| sys_err("compile the seccomp profile")(std::io::Error::other(e)))?;
    let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| sys_err("create a pipe")(e.into()))?;
    let start = Start {
        process,
        hostname,
        user: &user,
        slave,
        seccomp: seccomp.as_ref(),
        status_w,
        cgroup,
        detach,
        die_with_caller: !detach && keys.is_empty(),
    };
    let child = match (&holder, keys.is_empty()) {
        (Some(h), false) => start.fork_waited(pid_ns, &h.socket, &signals)?,
        _ => start.fork()?,
    };
    // The code, to the holder too (the waiter sends it itself); the
    // holder has recorded it once it is gone.
    let waited = !keys.is_empty();
    let ended = |holder: Option<Holder>, code: i32| {
        if let Some(h) = holder {
            if !waited {
                h.send_code(code);
            }
            h.wait();
        }
        Ok(Some(code))
    };
    let mut message = Vec::new();
    let _ = std::io::Read::read_to_end(&mut File::from(status_r), &mut message);
    if !message.is_empty() {
        eprintln!("rless: {}", String::from_utf8_lossy(&message).trim());
        return ended(holder, super::sigproxy::wait_forwarding(child, &signals));
    }
    if detach {
        return Ok(Some(0));
    }
    let Some(t) = terminal else {
        return ended(holder, super::sigproxy::wait_forwarding(child, &signals));
    };
    let end = t.relay_until(
        child,
        process.stdin,
        &signals,
        &mut || {},
        &mut |_, _| true,
        keys,
    );
    match end {
        tty::Relayed::Exited(code) => ended(holder, code),
        tty::Relayed::Detached(master) => {
            // The holder takes the master; the caller's copy closes on
            // return. Should it be gone, the terminal hangs up.
            if let Some(h) = &holder {
                if let Err(e) = sys::send_msg(&h.socket, b'm', Some(master.as_fd())) {
                    eprintln!("rless: the detached process's terminal could not be kept: {e}");
                }
            }
            Ok(None)
        }
    }
}

/// What the exec'd process is started with, in the caller once it has
/// joined the container's namespaces.
struct Start<'a> {
    process: &'a ProcessSpec,
    hostname: &'a str,
    user: &'a super::user::ExecUser,
    /// With -t, the terminal's slave.
    slave: Option<OwnedFd>,
    seccomp: Option<&'a super::seccomp::Program>,
    /// Written the reason the process could not be started; closed at its
    /// exec.
    status_w: OwnedFd,
    /// The container's `cgroup.procs`, which the process joins.
    cgroup: Option<OwnedFd>,
    detach: bool,
    /// Whether the process dies with the caller (its parent death signal).
    die_with_caller: bool,
}

impl Start<'_> {
    /// Forks the process; returns its pid. The caller's copies of the
    /// slave, the status pipe's write end and the cgroup are closed.
    fn fork(self) -> Result<nix::unistd::Pid, RunError> {
        let sys_err = |op| move |source| RunError::Sys { op, source };
        match sys::fork().map_err(sys_err("fork"))? {
            Some(child) => Ok(child),
            None => self.exec(),
        }
    }

    /// Forks the waiter (see the module's comment), which joins `pid_ns`,
    /// forks the process, passes signals on to it, sends its exit code to
    /// the `holder` and exits with it; returns the waiter's pid.
    fn fork_waited(
        self,
        pid_ns: Option<OwnedFd>,
        holder: &OwnedFd,
        signals: &nix::sys::signal::SigSet,
    ) -> Result<nix::unistd::Pid, RunError> {
        let sys_err = |op| move |source| RunError::Sys { op, source };
        if let Some(waiter) = sys::fork().map_err(sys_err("fork"))? {
            return Ok(waiter);
        }
        // Out of the caller's terminal session: the caller passes on what
        // reaches it, and the detached process outlives that terminal.
        let _ = nix::unistd::setsid();
        if let Some(ns) = pid_ns {
            if let Err(e) = nix::sched::setns(ns, CloneFlags::CLONE_NEWPID) {
                let msg = format!("cannot join the container's pid namespace: {e}");
                let _ = rustix::io::write(&self.status_w, msg.as_bytes());
                std::process::exit(super::init::EXIT_CANNOT_EXEC);
            }
        }
        let child = match sys::fork() {
            Ok(Some(child)) => child,
            Ok(None) => self.exec(),
            Err(e) => {
                let msg = format!("cannot fork: {e}");
                let _ = rustix::io::write(&self.status_w, msg.as_bytes());
                std::process::exit(super::init::EXIT_CANNOT_EXEC);
            }
        };
        // Nothing but the holder's socket: the caller's terminal (the
        // caller's stdio, and the master) must close when the caller goes.
        sys::close_fds_except(&[holder.as_raw_fd()]);
        null_stdio();
        let code = super::sigproxy::wait_forwarding(child, signals);
        send_code(holder, code);
        std::process::exit(code)
    }

    /// In the forked child: becomes the process (never returns).
    fn exec(self) -> ! {
        if let Some(procs) = &self.cgroup {
            let _ = super::cgroups::join(procs);
        }
        // A session of its own, as the container's init has: a terminal's
        // signals (Ctrl-C, Ctrl-Z) go to the caller's foreground group, so
        // the process gets them once, passed on by the caller, and runs on
        // while Ctrl-Z stops the caller. With -t, `prepare_and_exec` makes
        // the session (of the new terminal).
        if self.slave.is_none() {
            let _ = nix::unistd::setsid();
        }
        // The process gets none of the caller's descriptors but stdio and
        // the first `preserve_fds` after it (`--preserve-fds`), as the
        // container's command; the status pipe (close-on-exec) and the
        // terminal stay for what follows.
        let keep: Vec<std::os::fd::RawFd> = [
            Some(self.status_w.as_raw_fd()),
            self.slave.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        .chain((0..self.process.preserve_fds).map(|i| 3 + i as std::os::fd::RawFd))
        .collect();
        sys::close_fds_except(&keep);
        if self.detach {
            null_stdio();
        }
        let die_with = self
            .die_with_caller
            .then(|| DieWith::Reader(self.status_w.as_fd()));
        let code = match prepare_and_exec(
            self.process,
            self.hostname,
            self.user,
            self.slave,
            self.seccomp,
            die_with,
        ) {
            Ok(never) => match never {},
            Err((code, msg)) => {
                let _ = rustix::io::write(&self.status_w, msg.as_bytes());
                // docker's exec: a process that could not be started is
                // 126 (a user the namespace does not map, say), whatever
                // `run` would say; 127 stays for what is missing.
                match code {
                    super::init::EXIT_SETUP => super::init::EXIT_CANNOT_EXEC,
                    c => c,
                }
            }
        };
        std::process::exit(code)
    }
}

/// Puts /dev/null on stdin, stdout and stderr (best effort).
fn null_stdio() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

/// The holder (see the module's comment): its pid, and the socket that
/// hands it the exit code and a detached process's terminal.
struct Holder {
    pid: nix::unistd::Pid,
    socket: OwnedFd,
}

impl Holder {
    /// Forks the holder, in the caller's namespaces. It hands the code it
    /// gets (tag `c`, then the code) to `on_exit` once the socket's other
    /// ends are all closed; with a master (tag `m`) it drains it until no
    /// slave is open, and exits once both are done.
    fn spawn(on_exit: &dyn Fn(i32)) -> std::io::Result<Holder> {
        let (ours, theirs) = sys::socket_pair()?;
        if let Some(pid) = sys::fork()? {
            return Ok(Holder { pid, socket: ours });
        }
        drop(ours);
        sys::close_fds_except(&[theirs.as_raw_fd()]);
        let _ = nix::unistd::setsid();
        null_stdio();
        hold(theirs, on_exit);
        std::process::exit(0)
    }

    /// Sends the process's exit code.
    fn send_code(&self, code: i32) {
        send_code(&self.socket, code);
    }

    /// Closes the caller's end and waits until the holder has recorded
    /// the end and exited.
    fn wait(self) {
        drop(self.socket);
        let _ = super::reap(self.pid, true);
    }
}

/// Sends `code` to the holder on `socket`, in one write, so that it cannot
/// interleave with the caller's messages.
fn send_code(socket: &OwnedFd, code: i32) {
    let _ = rustix::net::send(
        socket,
        &[b'c', code as u8],
        rustix::net::SendFlags::NOSIGNAL,
    );
}

/// The holder's work: reads `socket` until its other ends are all closed,
/// then hands the exit code it got to `on_exit`; drains the master it may
/// get until no slave is open.
fn hold(socket: OwnedFd, on_exit: &dyn Fn(i32)) {
    let mut socket = Some(socket);
    let mut master: Option<OwnedFd> = None;
    let mut code = None;
    let mut buf = [0u8; 4096];
    while socket.is_some() || master.is_some() {
        let mut fds: Vec<rustix::event::PollFd<'_>> = socket
            .iter()
            .chain(master.iter())
            .map(|fd| rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN))
            .collect();
        if rustix::event::poll(&mut fds, None).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let (socket_ready, master_ready) = match socket {
            Some(_) => (ready[0], ready.get(1).copied().unwrap_or(false)),
            None => (false, ready[0]),
        };
        if let (true, Some(s)) = (socket_ready, &socket) {
            match sys::recv_msg(s) {
                Ok(Some((b'm', Some(m)))) => {
                    let _ = rustix::io::ioctl_fionbio(&m, true);
                    master = Some(m);
                }
                Ok(Some((b'c', _))) => {
                    if let Ok(Some((c, _))) = sys::recv_msg(s) {
                        code = Some(i32::from(c));
                    }
                }
                Ok(Some(_)) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // The caller and the waiter are gone.
                Ok(None) | Err(_) => {
                    socket = None;
                    if let Some(c) = code.take() {
                        on_exit(c);
                    }
                }
            }
        }
        if let (true, Some(m)) = (master_ready, &master) {
            // EIO once no slave is open.
            match rustix::io::read(m, &mut buf) {
                Ok(n) if n > 0 => {}
                Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                _ => master = None,
            }
        }
    }
}
