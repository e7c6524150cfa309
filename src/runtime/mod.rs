//! The runtime: from a resolved [`ContainerSpec`] to a running container.
//!
//! Theory of operation. Setup is linear, one named stage each:
//! 1. [`ids::enter`]: a new user namespace with the ids mapped;
//! 2. (same) the maps, by newuidmap/newgidmap or written directly;
//! 3. [`init::container_init`], cloned into new mount, pid, uts, ipc and
//!    network namespaces (or some of the host's or another container's,
//!    [`share`]): the root filesystem ([`rootfs::mount_root`]);
//! 4. the network: loopback only, until netstack lands (or the host's);
//! 5. [`rootfs::pivot`];
//! 6. the mounts of the [`plan`], applied before the pivot;
//! 7. capabilities dropped, then no_new_privs and seccomp
//!    ([`launch::prepare_and_exec`]);
//! 8. exec of the command, forked from the init ([`launch`]).
//!
//! Before the clone, the container's cgroup is made ([`cgroups`]); the init
//! is cloned into it (clone3), or on older kernels joins it first thing, so
//! everything it forks is inside.
//!
//! The process that called [`run`] is the container's monitor: it stays on
//! the host side of every namespace but the user one, holds the terminal,
//! passes signals to the init, and returns the container's exit code. All
//! mounts live in the container's mount namespace and vanish with it, so a
//! killed monitor or init leaves nothing mounted on the host. A start that
//! fails after the clone is taken down before [`spawn`] returns
//! ([`teardown`]), so the monitor may start the container again.

pub mod caps;
pub mod cgroups;
pub mod copyup;
pub mod exec;
pub mod hooks;
pub mod idmap;
pub mod ids;
pub mod init;
pub mod launch;
pub mod network;
pub mod output;
pub mod owners;
pub mod plan;
pub mod rootfs;
pub mod seccomp;
pub mod share;
pub mod sigproxy;
pub mod storage;
pub(crate) mod sys;
pub mod sysctl;
mod teardown;
mod tty;
pub use sys::SigpipeIgnored;
pub use tty::{caller_window_size, raw_terminal, KeyMatch, RawTerminal};
mod spec;
pub mod user;
pub use spec::{ContainerSpec, ProcessSpec, SeccompMode};

use plan::MountOp;
use rootfs::RootFs;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// docker's default PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Network(#[from] network::NetworkError),
    #[error(transparent)]
    Ids(#[from] ids::IdsError),
    #[error(transparent)]
    IdMap(#[from] idmap::IdMapError),
    #[error(transparent)]
    UserNetwork(#[from] crate::network::client::ClientError),
    #[error(transparent)]
    Publish(#[from] crate::network::publish::PublishError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Share(#[from] share::ShareError),
    /// `exec -u` names a user or group the container does not have.
    #[error(transparent)]
    User(#[from] user::UserError),
    /// A CDI device's OCI hook failed.
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error("cannot {op}: {source}")]
    Sys {
        op: &'static str,
        source: std::io::Error,
    },
    /// `--sysctl`: the kernel refused a value.
    #[error("cannot set sysctl {name}: {source}")]
    Sysctl {
        name: String,
        source: std::io::Error,
    },
}

/// Shrinks an idle monitor or init: unmaps the clean pages of file
/// mappings (program and library text and read-only data, which a fork
/// leaves touched but which an idle loop never needs; they are read back
/// from the page cache if ever used) and returns free heap to the kernel.
/// A mapping qualifies only if it is private, file-backed and has no
/// anonymous (written) or swapped page, per /proc/self/smaps. With
/// `threads` (other threads run meanwhile and might write to a mapping
/// between the check and the drop), only mappings without write permission
/// qualify: program text and read-only data, which nobody can write.
pub fn release_idle_memory(threads: bool) {
    let Ok(smaps) = crate::procfs::read("/proc/self/smaps") else {
        return;
    };
    // (start, end, clean) of each private file mapping.
    let mut maps: Vec<(usize, usize, bool)> = Vec::new();
    let mut in_file_map = false;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                let perms = f.next().unwrap_or("");
                let inode = f.nth(2).unwrap_or("0");
                let path = f.next().unwrap_or("");
                // Private file mappings only (not [heap], [stack], [vdso]…).
                in_file_map = perms.ends_with('p')
                    && inode != "0"
                    && path.starts_with('/')
                    && !(threads && perms.as_bytes().get(1) == Some(&b'w'));
                if in_file_map {
                    maps.push((a, b, true));
                }
                continue;
            }
        }
        if in_file_map
            && matches!(
                first,
                "Anonymous:" | "Swap:" | "Private_Dirty:" | "Shared_Dirty:"
            )
            && f.next().is_some_and(|v| v != "0")
        {
            if let Some(m) = maps.last_mut() {
                m.2 = false;
            }
        }
    }
    // All at once at the end: code run after a drop faults pages back in.
    for (a, b, clean) in maps {
        if clean {
            sys::drop_clean_pages(a, b);
        }
    }
    sys::trim_heap();
}

/// fork(); `Ok(None)` in the child. The caller must be single-threaded.
pub fn fork_process() -> std::io::Result<Option<nix::unistd::Pid>> {
    sys::fork()
}

/// Closes every inherited descriptor from 3 up but `keep` (a detached
/// process right after its fork).
pub fn close_fds_except(keep: &[std::os::fd::RawFd]) {
    sys::close_fds_except(keep)
}

/// Stage 1 and 2 only: after this, the caller is the monitor, inside the
/// user namespace. Split from [`start`] so the caller can do store work
/// (such as removing the container) with the namespace's ids afterwards.
/// A container that shares another's namespaces joins that one's user
/// namespace instead ([`share`]).
pub fn enter_userns(spec: &ContainerSpec, detached: bool) -> Result<(), RunError> {
    let donor = share::donor_userns(&spec.namespaces)?;
    let join = |fd: &OwnedFd| {
        share::join_userns(fd).map_err(|source| RunError::Sys {
            op: "join the user namespace of the container whose namespaces it shares",
            source,
        })
    };
    if let Some(u) = &spec.user_networks {
        crate::network::client::join_userns(&u.store, &spec.ids)?;
        // Already there when the donor is on user-defined networks too;
        // refused (the kernel's EPERM) otherwise.
        return match &donor {
            Some(fd) => join(fd),
            None => Ok(()),
        };
    }
    match &donor {
        Some(fd) => join(fd),
        None => Ok(ids::enter_as(
            &spec.ids,
            spec.keep_id,
            spec.keep_id_as,
            detached,
        )?),
    }
}

/// Where a started container's output goes.
#[derive(Default)]
pub struct ContainerIo {
    /// `None`: the monitor's own stdout/stderr (with `-t`, or when nothing
    /// is logged).
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The init dies with the monitor (foreground).
    pub die_with_monitor: bool,
}

/// A container whose command has been started.
pub struct Started {
    pub init: nix::unistd::Pid,
    /// The storage driver the root filesystem uses (`None` for `--rootfs`).
    pub driver: Option<storage::Driver>,
    /// The FUSE server threads, when fuse-overlay serves the root.
    _fuse: Option<fuse_overlay::Server>,
    /// The userspace network, when the container has one.
    network: Option<network::Running>,
    /// The port forwarder of a container on user-defined networks.
    forwarder: Option<crate::network::publish::Forwarder>,
    /// Its published ports, as bound.
    user_ports: Vec<network::Publish>,
    /// Its addresses on its user-defined networks.
    user_ips: Vec<(String, std::net::Ipv4Addr)>,
    /// Its tie to the network helper that plugged it in.
    helper_tie: Option<crate::network::client::Tie>,
    /// With `-t`: the pty to relay.
    terminal: Option<tty::Terminal>,
    /// The container's cgroup, removed when this is dropped (after the
    /// container has exited).
    cgroup: Option<cgroups::Cgroup>,
    /// Without a pid namespace of its own: the container's mount
    /// namespace, where [`Self::finish`] kills what outlived a killed init.
    mount_ns: Option<OwnedFd>,
    /// Its CDI devices' OCI hooks, for the poststop ones.
    hooks: Option<hooks::OciHooks>,
}

impl Started {
    /// After the container has exited: waits for its FUSE server threads,
    /// so the process is single-threaded again (a restart clones).
    pub fn finish(mut self) {
        // First: what is left holds the root's mount (and FUSE's).
        if let Some(ns) = self.mount_ns.take() {
            share::kill_left_in(&ns);
        }
        if let Some(Err(e)) = self.network.take().map(network::Running::stop) {
            tracing::warn!("{e}");
        }
        if let Some(Err(e)) = self
            .forwarder
            .take()
            .map(crate::network::publish::Forwarder::stop)
        {
            tracing::warn!("{e}");
        }
        if let Some(server) = self._fuse.take() {
            server.join();
        }
        // Everything torn down: poststop hooks; a failure is a warning.
        if let Some(h) = self.hooks.take() {
            let pid = u32::try_from(self.init.as_raw()).unwrap_or_default();
            if let Err(e) = h.run(&["poststop"], "stopped", pid) {
                eprintln!("rless: warning: {e}");
            }
        }
    }

    /// After a SIGCHLD: looks after the container's helper process, the
    /// port forwarder of a user network, which is the monitor's child. One
    /// that died is replaced ([`crate::network::publish::Forwarder::revive`]);
    /// if that fails, the container is killed rather than left up with
    /// dead ports. What happened, for the monitor's log, if anything did.
    /// The caller must be single-threaded but for FUSE threads, as at the
    /// start.
    pub fn tend(&mut self) -> Vec<Tended> {
        let helper = self.tend_helper();
        helper.into_iter().chain(self.tend_forwarder()).collect()
    }

    /// The network helper, when its tie hung up while the container runs:
    /// a new one is started, which plugs the container in again.
    fn tend_helper(&mut self) -> Option<Tended> {
        let tie = self.helper_tie.as_ref()?;
        if !tie.broken() || init_exited(self.init) {
            return None;
        }
        let renewed = tie.renew();
        self.helper_tie = None;
        Some(match renewed {
            Ok(t) => {
                self.helper_tie = Some(t);
                Tended::Replaced(
                    "the network helper ended; a new one gave the container its networks back"
                        .into(),
                )
            }
            Err(e) => Tended::Degraded(format!(
                "the network helper ended and no new one took the container ({e}): \
                 it runs without its networks"
            )),
        })
    }

    fn tend_forwarder(&mut self) -> Option<Tended> {
        use crate::network::publish::Revived;
        match self.forwarder.as_mut()?.revive() {
            Ok(Revived::Running) => None,
            Ok(Revived::Replaced { ended, pid }) => Some(Tended::Replaced(format!(
                "the port forwarder {ended}; a new one (pid {pid}) serves the published ports"
            ))),
            Err(e) => {
                let _ = nix::sys::signal::kill(self.init, nix::sys::signal::Signal::SIGKILL);
                Some(Tended::Killed(format!(
                    "the port forwarder ended and no new one could start ({e}): \
                     the container was killed, its published ports being dead"
                )))
            }
        }
    }

    /// The container's cgroup directory, when it has one.
    pub fn cgroup_path(&self) -> Option<PathBuf> {
        self.cgroup.as_ref().map(|c| c.dir.clone())
    }

    /// The container's user-defined networks and its address on each.
    pub fn networks(&self) -> Vec<(String, std::net::Ipv4Addr)> {
        self.user_ips.clone()
    }

    /// Waits for the container (relaying its terminal, passing signals
    /// on), then joins its threads (a restart clones again). Returns the
    /// exit code and whether the user asked it to end by a signal to this
    /// process (always `false` with a terminal: keys go to the container).
    /// A port forwarder that dies meanwhile is looked after ([`Self::tend`],
    /// with a warning).
    /// `pipes`: the read ends of the command's stdout and stderr, when
    /// they are not the caller's own; what comes out of them (or of the
    /// terminal) is shown and handed to `sink` ([`output::relay`]).
    pub fn wait_and_finish(
        mut self,
        stdin: bool,
        pipes: Option<(OwnedFd, OwnedFd)>,
        sink: output::Sink<'_>,
    ) -> (i32, bool) {
        let signals = sigproxy::forwarded();
        let (init, terminal) = (self.init, self.terminal.take());
        let mut tend = || {
            for t in self.tend() {
                tracing::warn!("{}", t.message());
            }
        };
        let r = match (terminal, pipes) {
            (Some(t), _) => (t.relay(init, stdin, &signals, &mut tend, sink), false),
            (None, Some((out, err))) => output::relay(init, out, err, &signals, &mut tend, sink),
            (None, None) => sigproxy::wait_forwarding_seen(init, &signals, &mut tend),
        };
        self.finish();
        r
    }

    /// With `-t`, the pty master, for a detached monitor to read the
    /// container's output from (a foreground run relays it instead).
    pub fn take_terminal_output(&mut self) -> Option<OwnedFd> {
        self.terminal.take().map(tty::Terminal::into_master)
    }

    /// Whether no FUSE or network thread runs (memory may be released
    /// without racing them).
    pub fn single_threaded(&self) -> bool {
        self._fuse.is_none() && self.network.is_none()
    }

    /// The published ports, with the host ports actually bound.
    pub fn ports(&self) -> Vec<network::Publish> {
        self.network
            .as_ref()
            .map(|n| n.ports.clone())
            .unwrap_or_else(|| self.user_ports.clone())
    }
}

/// What [`Started::tend`] did.
#[derive(Debug)]
pub enum Tended {
    /// The port forwarder had died; a new one serves the ports.
    Replaced(String),
    /// The port forwarder had died and no new one could start: the
    /// container was killed. Why, as its state's reason.
    Killed(String),
    /// The network helper had died and no new one could take the
    /// container, which goes on without its networks.
    Degraded(String),
}

impl Tended {
    pub fn message(&self) -> &str {
        match self {
            Tended::Replaced(m) | Tended::Killed(m) | Tended::Degraded(m) => m,
        }
    }
}

/// Whether the init has exited (without reaping it: its exit code is
/// still to be read).
fn init_exited(init: nix::unistd::Pid) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::Pid(init), flags), Ok(WaitStatus::StillAlive))
}

/// Why a container did not start: docker's exit code and one line.
#[derive(Debug)]
pub struct StartFailure {
    pub code: i32,
    pub message: String,
}

/// Stages 3 to 8: clones the init, which sets up and execs the command.
/// Blocks the forwarded signals in the caller (they are taken with sigwait
/// or a signalfd afterwards). Returns once the exec has happened, or with
/// the reason it failed. The caller must be in the user namespace
/// ([`enter_userns`]) and single-threaded.
pub fn spawn(
    spec: &ContainerSpec,
    io: ContainerIo,
) -> Result<Result<Started, StartFailure>, RunError> {
    let sys = |op| move |source| RunError::Sys { op, source };
    sigproxy::forwarded()
        .thread_block()
        .map_err(|e| sys("block signals")(e.into()))?;
    if let (Some(maps), Some(dir)) = (&spec.id_maps, spec.merged.parent()) {
        if let Err(e) = idmap::give_files(maps, &spec.plan, dir) {
            return Ok(Err(StartFailure {
                code: init::EXIT_SETUP,
                message: e.to_string(),
            }));
        }
    }
    let mut flags = spec.namespaces.clone_flags(spec.private_network);
    // `--uidmap`: a user namespace of its own, which the monitor maps
    // once the init exists; the init waits for that on `mapped`.
    let (mapped, go) = match &spec.id_maps {
        Some(_) => {
            flags |= nix::sched::CloneFlags::CLONE_NEWUSER;
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| sys("create a pipe")(e.into()))?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    // The donors' namespaces, opened now: a donor must run at each start.
    let mut joined = match share::open(&spec.namespaces) {
        Ok(j) => j,
        Err(e) => {
            return Ok(Err(StartFailure {
                code: init::EXIT_SETUP,
                message: e.to_string(),
            }))
        }
    };
    let pid_ns = joined.pid.take();
    // With -t the init opens the pty in the container's own devpts and
    // sends the master back over this socket.
    let (tty_here, tty_there) = if spec.process.tty {
        let (a, b) = sys::socket_pair().map_err(sys("create a socket pair"))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    // Published ports are bound before anything starts.
    let net = match (&spec.slirp, spec.private_network) {
        (Some(slirp), true) => Some(network::Network::prepare(slirp)?),
        _ => None,
    };
    let published = match &spec.user_networks {
        Some(u) => {
            let mut ports = u.ports.clone();
            network::pick_host_ports(&mut ports).map_err(network::NetworkError::NoFreePort)?;
            Some(crate::network::publish::bind(&ports)?)
        }
        None => None,
    };
    let (net_here, net_there) = if net.is_some() || spec.user_networks.is_some() {
        let (a, b) = sys::socket_pair().map_err(sys("create a socket pair"))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let (storage_here, storage_there) = match &spec.rootfs {
        RootFs::Layers(_) => {
            let (a, b) = sys::socket_pair().map_err(sys("create a socket pair"))?;
            (Some(a), Some(b))
        }
        RootFs::Dir(_) => (None, None),
    };
    let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| sys("create a pipe")(e.into()))?;
    let seccomp = spec.process.seccomp_program().map_err(|e| RunError::Sys {
        op: "compile the seccomp profile",
        source: std::io::Error::other(e),
    })?;
    let mut cgroup = match cgroups::Cgroup::create(&spec.cgroup) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Err(StartFailure {
                code: init::EXIT_SETUP,
                message: e.to_string(),
            }))
        }
    };
    let init_io = init::InitIo {
        seccomp,
        net: net_there,
        storage: storage_there,
        tty: tty_there,
        window: tty::caller_window_size(),
        stdout: io.stdout,
        stderr: io.stderr,
        status: status_w,
        die_with_monitor: io.die_with_monitor,
        cgroup: cgroup.as_mut().and_then(cgroups::Cgroup::take_procs),
        joined,
        mapped,
        // An init that is not pid 1 watches the monitor itself (init.rs).
        monitor: (io.die_with_monitor && !spec.namespaces.own_pid())
            .then(|| {
                rustix::process::pidfd_open(
                    rustix::process::getpid(),
                    rustix::process::PidfdFlags::empty(),
                )
                .ok()
            })
            .flatten(),
    };
    // The init is born in its cgroup where the kernel allows (clone3);
    // otherwise it joins it itself, first thing.
    let joined = std::cell::Cell::new(false);
    let joined_ref = &joined;
    let mut body = Some(move || {
        let mut init_io = init_io;
        if joined_ref.get() {
            init_io.cgroup = None;
        }
        init::container_init(spec, init_io)
    });
    let born_in = cgroup.as_ref().and_then(|c| {
        joined.set(true);
        let pid = share::clone_in_pid_ns(pid_ns.as_ref(), |more| {
            sys::clone_into_cgroup(flags | more, c.dir_fd(), &mut body)
        })
        .ok();
        joined.set(pid.is_some());
        pid
    });
    let init = match born_in {
        Some(pid) => pid,
        None => share::clone_in_pid_ns(pid_ns.as_ref(), |more| {
            sys::clone_process(flags | more, body.take().expect("not run yet"))
        })
        .map_err(sys("start the container"))?,
    };
    drop((body, pid_ns));
    // Our copies of the init's ends were moved into the closure and are
    // closed now; the pipe reaches EOF when the command's exec succeeds.
    let mut started = Started {
        init,
        driver: None,
        _fuse: None,
        network: None,
        forwarder: None,
        user_ports: Vec::new(),
        user_ips: Vec::new(),
        helper_tie: None,
        terminal: None,
        cgroup,
        // Taken once the command runs ([`connect`]): until then the init
        // may be in a donor's mount namespace ([`share::enter_in_init`]).
        mount_ns: None,
        hooks: spec.hooks.clone(),
    };
    let ends = Ends {
        storage: storage_here,
        net: net_here,
        tty: tty_here,
        status: status_r,
    };
    // The maps first: the init waits for them before anything else.
    if let (Some(maps), Some(go)) = (&spec.id_maps, go) {
        if let Err(e) = idmap::write_maps(init.as_raw(), maps, go) {
            drop(ends);
            return Ok(Err(started.abandon(teardown::Failed::Monitor(e.into()))));
        }
    }
    match connect(spec, &mut started, &ends, net, published) {
        Ok(()) => Ok(Ok(started)),
        // Our ends of the sockets close first: an init still waiting on
        // one of them gives up.
        Err(why) => {
            drop(ends);
            Ok(Err(started.abandon(why)))
        }
    }
}

/// The monitor's ends of what it shares with a newly cloned init.
struct Ends {
    storage: Option<OwnedFd>,
    net: Option<OwnedFd>,
    tty: Option<OwnedFd>,
    status: OwnedFd,
}

/// After the clone: serves the init's storage, network and terminal
/// requests into `started`, then waits for the exec. On failure, what is
/// in `started` is left for [`Started::abandon`].
fn connect(
    spec: &ContainerSpec,
    started: &mut Started,
    ends: &Ends,
    net: Option<network::Network>,
    published: Option<crate::network::publish::Bound>,
) -> Result<(), teardown::Failed> {
    use teardown::Failed;
    let init = started.init;
    let monitor = |op: &'static str| move |source| Failed::Monitor(RunError::Sys { op, source });
    // Storage first: the init mounts the root before it opens a terminal.
    if let (Some(sock), RootFs::Layers(layers)) = (&ends.storage, &spec.rootfs) {
        match storage::answer(sock, layers, init) {
            Ok(Some((server, driver))) => (started._fuse, started.driver) = (server, Some(driver)),
            // The init ended before it mounted the root: its status line
            // says why (a network attach would only fail on its pid).
            Ok(None) => {
                let mut why = status_message(&ends.status);
                if why.is_empty() {
                    why = "the container ended before its root was mounted".into();
                }
                return Err(Failed::Init(why));
            }
            Err(e) => return Err(monitor("serve the fuse-overlay filesystem")(e)),
        }
    }
    // Then the network: the init makes the TAP after the mounts.
    if let (Some(net), Some(sock)) = (net, &ends.net) {
        let tap = network::receive_tap(sock)
            .map_err(monitor("receive the container's network device"))?;
        // No TAP: the init warned (or failed, when ports are published).
        if let Some(tap) = tap {
            let notifier = match &spec.slirp {
                Some(slirp) if network::Network::wants_notifier(slirp) => {
                    match network::receive_notifier(sock)
                        .map_err(monitor("receive the container's bind filter"))?
                    {
                        Some(n) => Some(n),
                        // The init failed to install it and says why.
                        None => {
                            let mut why = status_message(&ends.status);
                            if why.is_empty() {
                                why = "the container could not install the bind filter \
                                       of the handoff port driver"
                                    .into();
                            }
                            return Err(Failed::Init(why));
                        }
                    }
                }
                _ => None,
            };
            started.network = Some(
                net.start(tap, notifier)
                    .map_err(|e| Failed::Monitor(e.into()))?,
            );
        }
    }
    if let (Some(u), Some(sock)) = (&spec.user_networks, &ends.net) {
        let hosts = spec.plan.iter().find_map(|m| match m {
            MountOp::Bind { source, target, .. }
                if target.as_path() == std::path::Path::new("/etc/hosts") =>
            {
                Some(source.as_path())
            }
            _ => None,
        });
        let (ips, tie) =
            network::attach_user_networks(sock, u, init.as_raw(), &spec.hostname, hosts)
                .map_err(|e| Failed::Monitor(e.into()))?;
        started.helper_tie = Some(tie);
        started.user_ips = u
            .attachments
            .iter()
            .map(|a| a.network.clone())
            .zip(ips.iter().copied())
            .collect();
        if let (Some(b), Some(ip)) = (published, ips.first()) {
            started.user_ports = b.ports();
            started.forwarder = b
                .start(init.as_raw(), *ip)
                .map_err(|e| Failed::Monitor(e.into()))?;
        }
    }
    if let Some(sock) = &ends.tty {
        started.terminal =
            tty::Terminal::receive(sock).map_err(monitor("receive the container's terminal"))?;
    }
    let message = status_message(&ends.status);
    if !message.is_empty() {
        return Err(Failed::Init(message));
    }
    // Without a pid namespace of its own, what outlives a killed init is
    // found by its mount namespace. Only now is that surely the
    // container's: the init's first step borrows the IPC donor's to clone
    // its /dev/shm, and a namespace read then was the donor's, whose
    // processes the container's end SIGKILLed (a pod's infra container,
    // and with it every member sharing its pid namespace). An init that
    // has ended by now has no namespace to read, and nothing is killed.
    if !spec.namespaces.own_pid() {
        started.mount_ns = std::fs::File::open(format!("/proc/{init}/ns/mnt"))
            .ok()
            .map(OwnedFd::from);
    }
    // The command runs: poststart hooks, here in the caller's namespaces;
    // as the OCI spec says, a failing one is only a warning.
    if let Some(h) = &spec.hooks {
        let pid = u32::try_from(init.as_raw()).unwrap_or_default();
        if let Err(e) = h.run(&["poststart"], "running", pid) {
            eprintln!("rless: warning: {e}");
        }
    }
    Ok(())
}

/// Reads the status pipe to its end: empty once the command's exec
/// succeeded, else the init's one error line.
fn status_message(status: &OwnedFd) -> String {
    let (mut message, mut buf) = (Vec::new(), [0u8; 1024]);
    loop {
        match rustix::io::read(status, &mut buf) {
            Ok(0) => break,
            Ok(n) => message.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&message).trim().to_string()
}

/// Starts the container in the foreground and waits for it; returns its
/// exit code. Start failures are printed as one `rless:` line.
pub fn start(spec: &ContainerSpec) -> Result<i32, RunError> {
    let io = ContainerIo {
        die_with_monitor: true,
        ..Default::default()
    };
    match spawn(spec, io)? {
        Ok(started) => Ok(wait(started, spec.process.stdin)),
        Err(f) => {
            eprintln!("rless: {}", f.message);
            Ok(f.code)
        }
    }
}

/// Waits for a started container, relaying its terminal if it has one and
/// passing signals on; returns its exit code.
pub fn wait(started: Started, stdin: bool) -> i32 {
    let signals = sigproxy::forwarded();
    match started.terminal {
        Some(t) => t.relay(started.init, stdin, &signals, &mut || {}, &mut |_, _| true),
        None => sigproxy::wait_forwarding(started.init, &signals),
    }
}

/// The init's exit code, once it has exited.
pub fn exit_code(init: nix::unistd::Pid) -> Option<i32> {
    reap(init, false).unwrap_or(Some(init::EXIT_SETUP))
}

/// Waits for child `pid` (or, unless `block`, only looks): its exit code
/// once it has ended, 128+n for signal n. Through rustix: nix's waitpid
/// fails on a death by a real-time signal after taking the status.
pub fn reap(pid: nix::unistd::Pid, block: bool) -> std::io::Result<Option<i32>> {
    use rustix::process::{waitpid, WaitOptions};
    let p = rustix::process::Pid::from_raw(pid.as_raw())
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let opts = if block {
        WaitOptions::empty()
    } else {
        WaitOptions::NOHANG
    };
    Ok(waitpid(Some(p), opts)?.and_then(|(_, st)| {
        st.exit_status()
            .or_else(|| st.terminating_signal().map(|s| 128 + s))
    }))
}
