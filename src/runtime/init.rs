//! The container's pid 1 and the start of its command.
//!
//! Theory of operation: the monitor clones the init into new mount, pid,
//! uts, ipc and network namespaces. The init builds the root filesystem
//! ([`super::rootfs`]), pivots into it, and forks the command, which drops
//! capabilities, sets no_new_privs, switches user and execs. The init then
//! only waits: it reaps every zombie (orphans are re-parented to it), passes
//! every signal it can catch on to the command (real-time ones included;
//! not the faults the kernel raises, SIGSEGV and the like), and exits with the command's status (128+n for signal n) as soon
//! as the command ends; the kernel then kills whatever else is left in the
//! pid namespace. Without a pid namespace of its own (`--pid
//! host|container:X`, [`super::share`]) it is a subreaper instead, and
//! kills what is left below it itself before it exits. Signals are taken with sigwait on a blocked set, so no
//! handler runs and none is inherited.
//!
//! Errors before exec are one `rless: …` line on stderr and docker's codes:
//! 125 for setup, 126 when the command cannot be executed, 127 when it is
//! not found.

use super::caps::{self, CapSet};
use super::rootfs;
use super::user::{self, ExecUser};
use super::ContainerSpec;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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
    ]
    .into_iter()
    .flatten()
    .chain((0..spec.process.preserve_fds).map(|i| 3 + i as RawFd))
    .collect();
    super::sys::close_fds_except(&keep);
    // Before the pivot, /proc is the caller's: the pid hooks are told.
    let pid = super::hooks::host_pid();
    if let Err(e) = setup(spec, io.storage.take(), io.net.take(), shm_tree, pid) {
        report(&io.status, &e.to_string());
        return EXIT_SETUP;
    }
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

pub(super) enum Never {}

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

/// What tells a process that its parent, whose end kills it (SIGKILL as
/// its parent death signal), had already ended when that was set.
pub(super) enum DieWith<'a> {
    /// The parent's pid, seen from the process's pid namespace.
    Parent(u32),
    /// The write end of a pipe whose read end only the parent holds (a
    /// parent outside the process's pid namespace has no pid there): no
    /// reader left, the parent is gone.
    Reader(std::os::fd::BorrowedFd<'a>),
}

impl DieWith<'_> {
    fn parent_gone(&self) -> bool {
        match self {
            DieWith::Parent(pid) => std::os::unix::process::parent_id() != *pid,
            DieWith::Reader(fd) => {
                let mut fds = [rustix::event::PollFd::new(
                    fd,
                    rustix::event::PollFlags::OUT,
                )];
                let now = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                matches!(rustix::event::poll(&mut fds, Some(&now)), Ok(n) if n > 0)
                    && fds[0].revents().contains(rustix::event::PollFlags::ERR)
            }
        }
    }
}

/// Stages 7 and 8 for a process in the container (the command, or one
/// started by `exec`): terminal, capabilities, no_new_privs, user, working
/// directory, exec. Returns only on failure, with docker's exit code.
/// With `die_with`, the process is killed when its parent ends.
pub(super) fn prepare_and_exec(
    p: &super::ProcessSpec,
    hostname: &str,
    user: &ExecUser,
    tty: Option<OwnedFd>,
    seccomp: Option<&super::seccomp::Program>,
    die_with: Option<DieWith<'_>>,
) -> Result<Never, (i32, String)> {
    let setup_err = |what: &str, e: &dyn std::fmt::Display| (EXIT_SETUP, format!("{what}: {e}"));
    // A clean signal state whatever the caller had: nothing blocked, and
    // nothing ignored (a `nohup`ed caller would otherwise hand SIGHUP
    // ignored to the container, where a shell can no longer trap it).
    let _ = SigSet::all().thread_unblock();
    super::sys::reset_signal_dispositions();
    if let Some(t) = tty {
        nix::unistd::setsid().map_err(|e| setup_err("setsid", &e))?;
        super::sys::set_controlling_tty(t.as_fd())
            .map_err(|e| setup_err("set the controlling terminal", &e))?;
        for dup in [
            rustix::stdio::dup2_stdin,
            rustix::stdio::dup2_stdout,
            rustix::stdio::dup2_stderr,
        ] {
            dup(&t).map_err(|e| setup_err("attach the terminal", &e))?;
        }
    } else if !p.stdin {
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| setup_err("open /dev/null", &e))?;
        rustix::stdio::dup2_stdin(&null).map_err(|e| setup_err("redirect stdin", &e))?;
    }
    if let Some(adj) = p.oom_score_adj {
        // Raising it needs nothing; lowering it, CAP_SYS_RESOURCE of the
        // initial namespace, which no rootless container has.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| setup_err(&format!("set oom_score_adj to {adj}"), &e))?;
    }
    if let Some(mask) = p.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    if let Some(domain) = p.personality {
        use nix::sys::personality::{set, Persona};
        set(Persona::from_bits_retain(domain as i32))
            .map_err(|e| setup_err(&format!("set the personality {domain:#x}"), &e))?;
    }
    drop_capabilities(p.caps, user.uid).map_err(|e| setup_err("drop capabilities", &e))?;
    if p.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| setup_err("set no_new_privs", &e))?;
    } else if let Some(program) = seccomp {
        // Without no_new_privs the kernel takes a filter only from a holder
        // of CAP_SYS_ADMIN, which the user switch below gives up: install
        // it now (the calls that follow are all in the default allow list).
        super::seccomp::install(program)
            .map_err(|e| setup_err("install the seccomp filter", &e))?;
    }
    // The working directory is entered before the user switch, as runc
    // does, so a directory only root may enter (`exec -u 1000 -w /root`)
    // works; refused there, it is tried again as the user (who may own
    // it). docker's codes when neither can: 127 when it is missing (only
    // `exec` meets one: `run` makes it), 126 when it may not be entered.
    let cwd_err = |e: std::io::Error| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => EXIT_NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => EXIT_CANNOT_EXEC,
            _ => EXIT_SETUP,
        };
        (
            code,
            format!("cannot enter working directory {}: {e}", p.cwd),
        )
    };
    let enter_cwd_after_switch = match std::env::set_current_dir(&p.cwd) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => true,
        Err(e) => return Err(cwd_err(e)),
    };
    let groups: Vec<nix::unistd::Gid> = user
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // setgroups is denied in single-id mode (`run` refuses --group-add
    // there); the process then keeps the groups it has. keep-groups keeps
    // them on purpose: the caller's, which the user namespace does not map
    // (they show as the overflow gid), still open the host's files.
    if !user.keep_groups {
        let _ = nix::unistd::setgroups(&groups);
    }
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| id_err("group", user.gid, e))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| id_err("user", user.uid, e))?;
    if user.uid == 0 {
        set_capabilities(p.caps).map_err(|e| setup_err("set capabilities", &e))?;
    }
    if enter_cwd_after_switch {
        std::env::set_current_dir(&p.cwd).map_err(cwd_err)?;
    }
    if let Some(parent) = die_with {
        // After the user switch, which clears it.
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
            .map_err(|e| setup_err("set the parent death signal", &e))?;
        if parent.parent_gone() {
            let who = match parent {
                DieWith::Parent(_) => "the container's init",
                DieWith::Reader(_) => "rless exec",
            };
            return Err((EXIT_SETUP, format!("{who} ended")));
        }
    }
    let env = environment(p, hostname, user);
    for (name, soft, hard) in &p.rlimits {
        set_rlimit(name, *soft, *hard)
            .map_err(|e| setup_err(&format!("set the {name} limit"), &e))?;
    }
    // Last, so that nothing rless does itself runs under the filter.
    if let Some(program) = seccomp.filter(|_| p.no_new_privs) {
        super::seccomp::install(program)
            .map_err(|e| setup_err("install the seccomp filter", &e))?;
    }
    exec(&p.args, &env)
}

/// The resource names of `--ulimit`, as docker spells them.
pub fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        "as" => R::As,
        _ => return None,
    })
}

fn set_rlimit(name: &str, soft: u64, hard: u64) -> std::io::Result<()> {
    let res = rlimit_resource(name).ok_or_else(|| std::io::Error::other("unknown resource"))?;
    let lim = |v: u64| (v != u64::MAX).then_some(v);
    rustix::process::setrlimit(
        res,
        rustix::process::Rlimit {
            current: lim(soft),
            maximum: lim(hard),
        },
    )?;
    Ok(())
}

/// EINVAL from setresuid/setresgid means the id has no mapping.
fn id_err(what: &str, id: u32, e: nix::errno::Errno) -> (i32, String) {
    if e == nix::errno::Errno::EINVAL {
        let why = "only your subordinate id range is mapped, or in single-id mode only your own id";
        (
            EXIT_SETUP,
            format!("{what} {id} is not mapped in the container's user namespace ({why})"),
        )
    } else {
        (EXIT_SETUP, format!("cannot switch to {what} {id}: {e}"))
    }
}

/// The command's environment: the image's and the user's, plus docker's
/// defaults for PATH, HOME, HOSTNAME and TERM.
fn environment(p: &super::ProcessSpec, hostname: &str, user: &ExecUser) -> Vec<String> {
    let key = |e: &String| e.split_once('=').map_or(e.clone(), |(k, _)| k.to_string());
    let mut env = p.env.clone();
    // Secrets win over variables of the same name.
    env.retain(|e| !p.secret_env.iter().any(|s| key(s) == key(e)));
    env.extend(p.secret_env.iter().cloned());
    // A default the user unset counts as there (`--unsetenv`).
    let has = |env: &[String], k: &str| {
        p.unset_defaults.iter().any(|u| u == k || u == "*")
            || env
                .iter()
                .any(|e| e.split_once('=').is_some_and(|(n, _)| n == k))
    };
    if !has(&env, "PATH") {
        env.push(format!("PATH={}", super::DEFAULT_PATH));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    if p.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    env
}

/// Drops every capability outside `keep` from the bounding set.
fn drop_capabilities(keep: CapSet, _uid: u32) -> std::io::Result<()> {
    for cap in 0..=caps::last_cap() {
        if !keep.contains(cap) {
            let set = rustix::thread::CapabilitySet::from_bits_retain(1 << cap);
            match rustix::thread::remove_capability_from_bounding_set(set) {
                // Capabilities newer than the kernel are simply absent.
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    rustix::thread::clear_ambient_capability_set().or_else(|e| {
        if e == rustix::io::Errno::INVAL {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    Ok(())
}

fn set_capabilities(keep: CapSet) -> std::io::Result<()> {
    let set = rustix::thread::CapabilitySet::from_bits_retain(keep.0);
    rustix::thread::set_capabilities(
        None,
        rustix::thread::CapabilitySets {
            effective: set,
            permitted: set,
            // Empty, as docker since 20.10.14 (CVE-2022-24769): an
            // inheritable set would let file capabilities grant more to a
            // non-root program.
            inheritable: rustix::thread::CapabilitySet::empty(),
        },
    )?;
    Ok(())
}

/// execve with a PATH search in the container's environment, mapping
/// failures to docker's exit codes.
fn exec(args: &[String], env: &[String]) -> Result<Never, (i32, String)> {
    let Some(cmd) = args.first() else {
        return Err((
            EXIT_CANNOT_EXEC,
            "no command given and the image has none".into(),
        ));
    };
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| (EXIT_CANNOT_EXEC, format!("{s:?} contains a NUL byte")))
    };
    let argv: Vec<CString> = args.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_, _>>()?;
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![cmd.clone()]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(super::DEFAULT_PATH);
        path.split(':')
            .map(|d| format!("{}/{cmd}", if d.is_empty() { "." } else { d }))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        let path = cstr(c)?;
        let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
        match err {
            nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {}
            nix::errno::Errno::EACCES => denied = Some(c.clone()),
            e if cmd.contains('/') || Path::new(c).exists() => {
                return Err((
                    EXIT_CANNOT_EXEC,
                    format!("cannot execute {c:?}: {}", e.desc()),
                ));
            }
            _ => {}
        }
    }
    match denied {
        Some(c) => Err((
            EXIT_CANNOT_EXEC,
            format!("cannot execute {c:?}: permission denied"),
        )),
        None if cmd.contains('/') => Err((
            EXIT_NOT_FOUND,
            format!("{cmd:?}: no such file or directory"),
        )),
        // `run IMAGE --opt …`: an option after the image is the command.
        None if cmd.starts_with('-') => Err((
            EXIT_NOT_FOUND,
            format!(
                "{cmd:?}: executable file not found in $PATH (options go before the image, or the container for exec)"
            ),
        )),
        None => Err((
            EXIT_NOT_FOUND,
            format!("{cmd:?}: executable file not found in $PATH"),
        )),
    }
}
