//! The container's pid 1 and the start of its command.
//!
//! Theory of operation: the monitor clones the init into new mount, pid,
//! uts, ipc and network namespaces. The init builds the root filesystem
//! ([`super::rootfs`]), pivots into it, and forks the command, which drops
//! capabilities, sets no_new_privs, switches user and execs
//! ([`super::launch`]). The init then only waits: it reaps every zombie
//! (orphans are re-parented to it), passes every signal it can catch on to
//! the command (real-time ones included; not the faults the kernel raises,
//! SIGSEGV and the like), and exits with the command's status (128+n for
//! signal n) as soon as the command ends; the kernel then kills whatever
//! else is left in the pid namespace. Without a pid namespace of its own
//! (`--pid host|container:X`, [`super::share`]) it is a subreaper instead,
//! and kills what is left below it itself before it exits. Signals are
//! taken with sigwait on a blocked set, so no handler runs and none is
//! inherited.
//!
//! Errors before exec are one `rless: …` line on stderr and docker's codes:
//! 125 for setup, 126 when the command cannot be executed, 127 when it is
//! not found.

use super::caps::CapSet;
use super::launch::{drop_capabilities, prepare_and_exec, set_capabilities, DieWith};
use super::rootfs;
use super::user::{self, ExecUser};
use super::ContainerSpec;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Exit code for failures before the command runs.
pub const EXIT_SETUP: i32 = 125;
pub const EXIT_CANNOT_EXEC: i32 = 126;
pub const EXIT_NOT_FOUND: i32 = 127;

/// The file descriptors the monitor hands to the init.
pub struct InitIo {
    /// With the userspace network: the socket to send the TAP over.
    pub net: Option<OwnedFd>,
    /// The command's seccomp filter, compiled by the monitor.
    pub seccomp: Option<super::seccomp::Program>,
    /// With image layers: the socket to the monitor for the storage driver
    /// handshake ([`super::storage`]).
    pub storage: Option<OwnedFd>,
    /// With `-t`: the socket to send the pty master over.
    pub tty: Option<OwnedFd>,
    /// The caller's window size, for the pty.
    pub window: Option<nix::libc::winsize>,
    /// Where the container's stdout and stderr go (the log pipes of a
    /// detached container); `None` keeps the monitor's.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// Close-on-exec status pipe: it closes with no data when the command's
    /// exec succeeds, or carries one error line when setup or exec fails.
    pub status: OwnedFd,
    /// Whether the init dies with the monitor (foreground containers).
    pub die_with_monitor: bool,
    /// The container cgroup's cgroup.procs, which the init joins first.
    pub cgroup: Option<OwnedFd>,
    /// The other containers' namespaces it enters (`--network
    /// container:X`…), opened by the monitor.
    pub joined: super::share::Joined,
    /// With `die_with_monitor` and no pid namespace of its own: the
    /// monitor's pidfd, to see it end.
    pub monitor: Option<OwnedFd>,
    /// `--uidmap`: readable once the monitor has written the maps of the
    /// init's own user namespace ([`super::idmap`]).
    pub mapped: Option<OwnedFd>,
}

/// Writes one error line to the status pipe.
fn report(status: &OwnedFd, msg: &str) {
    let _ = rustix::io::write(status, msg.as_bytes());
}

/// The body of pid 1. Returns its exit code.
pub fn container_init(spec: &ContainerSpec, mut io: InitIo) -> i32 {
    // Held until the command runs, which gets them ([`reap_until`]).
    let _ = super::sys::init_signals().thread_block();
    // The container sees pid 1 as `rless-init`, not the host's command line.
    super::sys::set_process_title("rless-init");
    if let Some(procs) = io.cgroup.take() {
        if let Err(e) = super::cgroups::join(&procs) {
            report(
                &io.status,
                &format!("cannot join the container's cgroup: {e}"),
            );
            return EXIT_SETUP;
        }
    }
    // Rooted at the cgroup just joined, as runc makes it.
    if spec.cgroupns_private {
        if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP) {
            report(&io.status, &format!("cannot make a cgroup namespace: {e}"));
            return EXIT_SETUP;
        }
    }
    // Other containers' namespaces, before anything is made in them.
    let shm_tree = match super::share::enter_in_init(std::mem::take(&mut io.joined)) {
        Ok(t) => t,
        Err(e) => {
            report(
                &io.status,
                &format!("cannot enter the namespaces the container shares: {e}"),
            );
            return EXIT_SETUP;
        }
    };
    let own_pid = spec.namespaces.own_pid();
    if !own_pid {
        // Not pid 1: orphans would go to another reaper, out of reach.
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    }
    if io.die_with_monitor {
        // A foreground container dies with its monitor: SIGKILL to pid 1
        // takes the whole pid namespace down, and the mount namespace too.
        // An init that is not pid 1 must kill the rest itself: the
        // monitor's end wakes it (SIGCHLD, which it waits for) and it
        // finds the monitor's pidfd readable ([`reap_until`]); without
        // that pidfd (a kernel before 5.3), SIGKILL all the same.
        let _ = rustix::process::set_parent_process_death_signal(Some(
            if own_pid || io.monitor.is_none() {
                rustix::process::Signal::KILL
            } else {
                rustix::process::Signal::CHILD
            },
        ));
    }
    if let Some(out) = &io.stdout {
        let _ = rustix::stdio::dup2_stdout(out);
    }
    if let Some(err) = &io.stderr {
        let _ = rustix::stdio::dup2_stderr(err);
    }
    let (stdout, stderr) = (io.stdout.take(), io.stderr.take());
    drop((stdout, stderr));
    let keep: Vec<RawFd> = [
        Some(io.status.as_raw_fd()),
        io.tty.as_ref().map(|t| t.as_raw_fd()),
        io.storage.as_ref().map(|t| t.as_raw_fd()),
        io.net.as_ref().map(|t| t.as_raw_fd()),
        shm_tree.as_ref().map(|t| t.as_raw_fd()),
        io.monitor.as_ref().map(|t| t.as_raw_fd()),
        io.mapped.as_ref().map(|t| t.as_raw_fd()),
    ]
    .into_iter()
    .flatten()
    .chain((0..spec.process.preserve_fds).map(|i| 3 + i as RawFd))
    .collect();
    super::sys::close_fds_except(&keep);
    // `--uidmap`: root of its own namespace from here on; the secrets'
    // copies, the container's directory and the store's volumes
    // (STORE/containers/ID/merged's STORE) are reached through
    // descriptors opened before.
    let volumes = spec.merged.ancestors().nth(3).map(|s| s.join("volumes"));
    let nested = match (io.mapped.take(), spec.merged.parent(), volumes) {
        (Some(mapped), Some(dir), Some(volumes)) => {
            // Secrets' copies stay in a directory private to the user.
            let secrets = spec.plan.iter().filter_map(|op| match op {
                super::plan::MountOp::Secret { source, .. } => Some(source.as_path()),
                _ => None,
            });
            let open: Vec<&Path> = secrets.chain([dir, volumes.as_path()]).collect();
            match super::idmap::Nested::enter(mapped, &open) {
                Ok(n) => Some(n),
                Err(e) => {
                    report(&io.status, &e.to_string());
                    return EXIT_SETUP;
                }
            }
        }
        _ => None,
    };
    let rebased = nested.as_ref().map(|n| n.rebase_spec(spec));
    let spec = rebased.as_ref().unwrap_or(spec);
    // Before the pivot, /proc is the caller's: the pid hooks are told.
    let pid = super::hooks::host_pid();
    if let Err(e) = setup(spec, io.storage.take(), io.net.take(), shm_tree, pid) {
        // --uidmap: a path of the user's that only they may walk.
        let hint = match (&nested, &e) {
            (Some(_), super::RunError::Rootfs(rootfs::RootfsError::Op { source, .. }))
                if source.raw_os_error() == Some(nix::libc::EACCES) =>
            {
                " (with --uidmap the container's root is not you: its directories must be searchable by others)"
            }
            _ => "",
        };
        let e = match &nested {
            Some(n) => n.unrebase(&e.to_string()),
            None => e.to_string(),
        };
        report(&io.status, &format!("{e}{hint}"));
        return EXIT_SETUP;
    }
    // Pivoted: the host's directory is of no more use, and not to be
    // left open in the container.
    drop(nested);
    if let Some(h) = &spec.hooks {
        if let Err(e) = h.run(&["startContainer"], "created", pid) {
            report(&io.status, &e.to_string());
            return EXIT_SETUP;
        }
    }
    let user = match resolve_user(&spec.process) {
        Ok(u) => u,
        Err(e) => {
            report(&io.status, &e.to_string());
            return EXIT_SETUP;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&spec.process.cwd) {
        report(
            &io.status,
            &format!("cannot create working directory {}: {e}", spec.process.cwd),
        );
        return EXIT_SETUP;
    }
    let tty = match &io.tty {
        Some(sock) => match super::tty::open_in_container(sock, io.window) {
            Ok(slave) => Some(slave),
            Err(e) => {
                report(
                    &io.status,
                    &format!("cannot open a terminal in the container: {e}"),
                );
                return EXIT_SETUP;
            }
        },
        None => None,
    };
    // A session of its own: terminal signals from the caller's terminal go
    // to the monitor, which passes them on, never twice.
    let _ = nix::unistd::setsid();
    // Without a pid namespace of its own the command does not die with
    // the init by itself.
    let parent = (!own_pid).then(std::process::id);
    let child = match super::sys::fork() {
        Ok(Some(pid)) => pid,
        Ok(None) if spec.infra => infra_idle(spec, io.status),
        Ok(None) => exec_command(spec, &user, tty, io.status, io.seccomp.as_ref(), parent),
        Err(e) => {
            report(&io.status, &format!("cannot start the command: {e}"));
            return EXIT_SETUP;
        }
    };
    let monitor = io.monitor.take();
    drop((io, tty));
    let code = reap_until(child, monitor.as_ref());
    if !own_pid {
        // No namespace teardown kills the rest: the init does.
        super::share::kill_descendants();
    }
    code
}

/// Stages 3 to 6, in order.
fn setup(
    spec: &ContainerSpec,
    storage: Option<OwnedFd>,
    net: Option<OwnedFd>,
    shm_tree: Option<OwnedFd>,
    pid: u32,
) -> Result<(), super::RunError> {
    let mut shm_tree = shm_tree;
    rootfs::make_private()?;
    let merged = &spec.merged;
    rootfs::mount_root(&spec.rootfs, merged, storage.as_ref())?;
    drop(storage);
    for op in &spec.plan {
        if *op == super::plan::MountOp::RootReadOnly {
            // docker makes a missing working directory before the root
            // turns read-only; a failure shows at the create after pivot.
            if let Ok(cwd) = rootfs::resolve_in_root(merged, Path::new(&spec.process.cwd)) {
                let _ = std::fs::create_dir_all(cwd);
            }
        }
        if *op == super::plan::MountOp::Proc && spec.namespaces.pid == super::share::Share::Host {
            rootfs::bind_host_proc(merged)?;
            continue;
        }
        rootfs::apply(merged, op)?;
        if *op == super::plan::MountOp::Dev {
            let ns = &spec.namespaces;
            let dev = rootfs::resolve_in_root(merged, Path::new("/dev"))?;
            super::share::mount_shm(&dev, &ns.ipc, ns.shm_size, shm_tree.take()).map_err(
                |source| super::RunError::Sys {
                    op: "mount /dev/shm",
                    source,
                },
            )?;
        }
    }
    // A shared UTS namespace keeps its name.
    if spec.namespaces.uts == super::share::Share::Private {
        nix::unistd::sethostname(&spec.hostname).map_err(|e| super::RunError::Sys {
            op: "set the hostname",
            source: e.into(),
        })?;
    }
    if spec.private_network {
        super::sys::loopback_up().map_err(|source| super::RunError::Sys {
            op: "bring up loopback",
            source,
        })?;
    }
    if let (Some(sock), Some(_)) = (&net, &spec.user_networks) {
        if !super::network::wait_attached(sock) {
            return Err(super::RunError::Sys {
                op: "attach to the networks",
                source: std::io::Error::other("the monitor gave up"),
            });
        }
    } else if let Some(sock) = net {
        if let Err(e) = super::network::create_in_container(&sock) {
            let publishes = spec.slirp.as_ref().is_some_and(|s| !s.ports.is_empty());
            if publishes {
                return Err(super::RunError::Sys {
                    op: "create the network device (is /dev/net/tun usable?)",
                    source: std::io::Error::other(e),
                });
            }
            eprintln!(
                "rless: warning: no network beyond loopback: cannot create the network device: {e}"
            );
        } else if spec
            .slirp
            .as_ref()
            .is_some_and(super::network::Network::wants_notifier)
        {
            super::network::send_bind_notifier(&sock).map_err(|source| super::RunError::Sys {
                op: "install the bind filter of the handoff port driver",
                source,
            })?;
        }
    }
    // After the network device exists (`net.ipv4.conf.eth0.*`), while
    // the init's /proc is still a writable one.
    super::sysctl::apply(&spec.sysctls)?;
    // Every mount made, the host's paths still in reach.
    if let Some(h) = &spec.hooks {
        h.run(&["prestart", "createRuntime"], "creating", pid)?;
        h.run(&["createContainer"], "creating", pid)?;
    }
    rootfs::pivot(merged)?;
    Ok(())
}

/// The process's user (`-u`) and its groups (with `--group-add`), from
/// the container's /etc/passwd and /etc/group.
pub(super) fn resolve_user(p: &super::ProcessSpec) -> Result<ExecUser, user::UserError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let mut user = user::resolve(&p.user, &passwd, &group)?;
    user::add_groups(&mut user, &p.group_add, &group)?;
    Ok(user)
}

/// Waits for `main`, reaping everything; passes every signal it may catch
/// on to it ([`super::sys::init_signals`], blocked since the start), the
/// real-time ones included; nothing else would reach the command, as a
/// namespace's init gets only the signals it handles or blocks.
/// With `monitor` (its pidfd), it returns 137 as soon as the monitor has
/// ended, for the caller to kill what is left.
fn reap_until(main: Pid, monitor: Option<&OwnedFd>) -> i32 {
    use rustix::process::{wait, WaitOptions};
    let set = super::sys::init_signals();
    let main_raw = main.as_raw();
    let mut released = false;
    // The monitor's death wakes this loop (SIGCHLD as the parent death
    // signal) before its pidfd turns readable: the kernel reparents and
    // signals the children first. The new parent is already in place
    // then, so a changed parent tells it too (a thread of the monitor
    // that ends does not change it).
    let parent = rustix::process::getppid();
    loop {
        if monitor.is_some_and(|m| ended(m) || rustix::process::getppid() != parent) {
            return 128 + nix::libc::SIGKILL;
        }
        // rustix, not nix: nix fails on a death by a real-time signal,
        // after the status was taken. `wait` is any child (rustix's
        // `waitpid(None)` is only those of our process group).
        while let Ok(Some((pid, status))) = wait(WaitOptions::NOHANG) {
            if pid.as_raw_nonzero().get() == main_raw {
                if let Some(code) = status.exit_status() {
                    return code;
                }
                if let Some(sig) = status.terminating_signal() {
                    return 128 + sig;
                }
            }
        }
        if !released && quiet_for_a_moment(&set) {
            // The init only waits from now on: give back what setup touched.
            super::release_idle_memory(false);
            released = true;
        }
        match super::sys::wait_signal(&set) {
            Ok(nix::libc::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = super::sys::send_signal(main_raw, sig);
            }
        }
    }
}

/// Whether the process whose pidfd is `fd` has ended (the pidfd is
/// readable).
fn ended(fd: &OwnedFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok_and(|n| n > 0)
}

/// Whether none of `set` arrives within 100 ms (so a short command's exit
/// is not delayed). Polling a signalfd consumes no signal; sigwait does.
fn quiet_for_a_moment(set: &SigSet) -> bool {
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let Ok(sfd) = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) else {
        return false;
    };
    let mut fds = [rustix::event::PollFd::new(
        &sfd,
        rustix::event::PollFlags::IN,
    )];
    let moment = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    matches!(rustix::event::poll(&mut fds, Some(&moment)), Ok(0))
}

/// The command's side of the fork: never returns.
fn exec_command(
    spec: &ContainerSpec,
    user: &ExecUser,
    tty: Option<OwnedFd>,
    status: OwnedFd,
    seccomp: Option<&super::seccomp::Program>,
    die_with: Option<u32>,
) -> ! {
    let die_with = die_with.map(DieWith::Parent);
    let code = match prepare_and_exec(&spec.process, &spec.hostname, user, tty, seccomp, die_with) {
        Ok(never) => match never {},
        Err((code, msg)) => {
            report(&status, &msg);
            code
        }
    };
    std::process::exit(code)
}

/// A pod's infra container's process (the init's child): no command is
/// executed (its root is empty); it takes its name from the infra
/// command (`/catatonit -P` shows as `catatonit -P`), gives up every
/// capability, tells the monitor it started (the status pipe closes) and
/// waits for a signal. SIGTERM, SIGINT, SIGHUP or SIGQUIT ends it with
/// status 0; SIGKILL as any process. Never returns.
fn infra_idle(spec: &ContainerSpec, status: OwnedFd) -> ! {
    let p = &spec.process;
    let name = p.args.first().map_or("infra", |a| {
        a.rsplit('/').next().filter(|b| !b.is_empty()).unwrap_or(a)
    });
    let title: Vec<&str> = std::iter::once(name)
        .chain(p.args.iter().skip(1).map(String::as_str))
        .collect();
    super::sys::set_process_title(&title.join(" "));
    let _ = std::env::set_current_dir("/");
    let _ = drop_capabilities(CapSet(0), 0);
    let _ = set_capabilities(CapSet(0));
    let _ = rustix::thread::set_no_new_privs(true);
    super::sys::close_fds_except(&[status.as_raw_fd()]);
    drop(status);
    // Blocked since the init's start, inherited by the fork.
    let set = super::sys::init_signals();
    loop {
        if let Ok(sig) = super::sys::wait_signal(&set) {
            if [
                nix::libc::SIGTERM,
                nix::libc::SIGINT,
                nix::libc::SIGHUP,
                nix::libc::SIGQUIT,
            ]
            .contains(&sig)
            {
                super::sys::exit_child(0);
            }
        }
    }
}
