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
//! Detaching (`-it`, the detach keys typed): the caller is the process's
//! parent and its terminal's only holder, and it is about to exit. So a
//! process that can be detached from (a terminal, input, keys) gets no
//! parent death signal; the terminal's hang-up when the caller's master
//! closes (its end, `kill -9` too) ends it instead, as it ends a shell
//! whose terminal goes. Before it joins the namespaces (so that the
//! container does not see it, nor the host's command line), the caller
//! forks a holder (a session of its own, stdio on /dev/null) that waits on
//! a socket; on the keys the caller hands it the master (SCM_RIGHTS), and
//! it reads and drops the process's output until every slave is closed
//! (the process and its children gone), and exits; the process, orphaned,
//! runs on. A caller that ends otherwise closes the socket, which ends the
//! holder.

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
/// left it running. The caller must be single-threaded.
pub fn exec_in(
    init_pid: i32,
    process: &ProcessSpec,
    hostname: &str,
    detach: bool,
    cgroup: Option<OwnedFd>,
    keys: &[u8],
) -> Result<Option<i32>, RunError> {
    let keys = match process.tty && process.stdin && !detach {
        true => keys,
        false => &[],
    };
    let sys_err = |op| move |source| RunError::Sys { op, source };
    // Forked before the namespaces are joined: a holder forked later would
    // be in the container's pid namespace, where its processes (`ps`,
    // `rless top`) would see it and the host's command line.
    let holder = match keys.is_empty() {
        true => None,
        false => Some(spawn_holder().map_err(sys_err("fork the terminal's holder"))?),
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
    let Some(child) = sys::fork().map_err(sys_err("fork"))? else {
        drop(status_r);
        if let Some(procs) = &cgroup {
            let _ = super::cgroups::join(procs);
        }
        // A session of its own, as the container's init has: a terminal's
        // signals (Ctrl-C, Ctrl-Z) go to the caller's foreground group, so
        // the process gets them once, passed on by the caller, and runs on
        // while Ctrl-Z stops the caller. With -t, `prepare_and_exec` makes
        // the session (of the new terminal).
        if slave.is_none() {
            let _ = nix::unistd::setsid();
        }
        // The process gets none of the caller's descriptors but stdio and
        // the first `preserve_fds` after it (`--preserve-fds`), as the
        // container's command; the status pipe (close-on-exec) and the
        // terminal stay for what follows.
        let keep: Vec<std::os::fd::RawFd> = [
            Some(status_w.as_raw_fd()),
            slave.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        .chain((0..process.preserve_fds).map(|i| 3 + i as std::os::fd::RawFd))
        .collect();
        sys::close_fds_except(&keep);
        if detach {
            if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
                let _ = rustix::stdio::dup2_stdin(&null);
                let _ = rustix::stdio::dup2_stdout(&null);
                let _ = rustix::stdio::dup2_stderr(&null);
            }
        }
        let die_with = (!detach && keys.is_empty()).then(|| DieWith::Reader(status_w.as_fd()));
        let code =
            match prepare_and_exec(process, hostname, &user, slave, seccomp.as_ref(), die_with) {
                Ok(never) => match never {},
                Err((code, msg)) => {
                    let _ = rustix::io::write(&status_w, msg.as_bytes());
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
    };
    drop((status_w, slave, cgroup));
    let mut message = Vec::new();
    let _ = std::io::Read::read_to_end(&mut File::from(status_r), &mut message);
    if !message.is_empty() {
        eprintln!("rless: {}", String::from_utf8_lossy(&message).trim());
        return Ok(Some(super::sigproxy::wait_forwarding(child, &signals)));
    }
    if detach {
        return Ok(Some(0));
    }
    let Some(t) = terminal else {
        return Ok(Some(super::sigproxy::wait_forwarding(child, &signals)));
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
        tty::Relayed::Exited(code) => Ok(Some(code)),
        tty::Relayed::Detached(master) => {
            // The holder takes the master; the caller's copy closes on
            // return. Should it be gone, the terminal hangs up.
            if let Some(h) = &holder {
                if let Err(e) = sys::send_msg(h, b'm', Some(master.as_fd())) {
                    eprintln!("rless: the detached process's terminal could not be kept: {e}");
                }
            }
            Ok(None)
        }
    }
}

/// Forks the holder of a detached exec's terminal (see the module's
/// comment), in the caller's namespaces; returns the socket that hands it
/// the master. It waits for the master (none: the caller ended without
/// detaching, and so does it), then drains it until no slave is open.
fn spawn_holder() -> std::io::Result<OwnedFd> {
    let (ours, theirs) = sys::socket_pair()?;
    if sys::fork()?.is_some() {
        return Ok(ours);
    }
    drop(ours);
    sys::close_fds_except(&[theirs.as_raw_fd()]);
    let _ = nix::unistd::setsid();
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
    let master = loop {
        match sys::recv_msg(&theirs) {
            Ok(Some((_, Some(m)))) => break m,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => std::process::exit(0),
        }
    };
    drop(theirs);
    let _ = rustix::io::ioctl_fionbio(&master, false);
    let mut buf = [0u8; 4096];
    // EIO once no slave is open; an interrupted read is tried again.
    loop {
        match rustix::io::read(&master, &mut buf) {
            Ok(0) => break,
            Ok(_) | Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(_) => break,
        }
    }
    std::process::exit(0)
}
