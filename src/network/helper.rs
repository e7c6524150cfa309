//! The network helper (`rless network-helper`, hidden): one process per
//! user and store that holds the user namespace U of containers on user
//! networks and runs their networks.
//!
//! Theory of operation. `run` starts the helper on demand ([`super::client`])
//! and talks to it over `helper.sock` in the runtime directory, one JSON
//! line per request:
//! - `Userns`: the answer carries an fd of U; the monitor joins U (setns)
//!   before it clones the container, so the container's namespaces are
//!   owned by U and the helper, root in U, may give them veth pairs.
//! - `Attach`: the container's network namespace fd comes along; for each
//!   network the helper starts its [`NetWorker`] if needed, allocates the
//!   address (the asked one, or the lowest free one), creates the veth pair
//!   and records the container's names, and its `--dns` servers, for DNS.
//!
//! The helper watches each attached container's init through a pidfd (by
//! its start time at each poll, on kernels without pidfds); when
//! it exits, its addresses and names are released, and a network with no
//! container left is torn down. With no container attached for
//! [`IDLE_EXIT`], the helper exits (under the runtime directory's lock, so
//! a `run` that is connecting either reaches it or starts a new one).
//!
//! Recovery: attachments are kept in `attachments.json`. A helper that
//! starts while containers of a killed one still run joins their U (from
//! one of their inits), rebuilds their networks and gives them their
//! interfaces and addresses again. A helper started by a monitor that is
//! already in U (a restart) is told so (`--in-userns`). The helper keeps
//! each monitor's connection open (its tie, never read): when the helper
//! is killed, every monitor hears its tie hang up ([`super::client::Tie`]),
//! and the first to ask starts a new helper, so the containers get their
//! networks back at once rather than at the next `run`.
//!
//! This file is the helper's process and its requests; the bookkeeping of
//! the attachments (addresses, interfaces, DNS names, `attachments.json`)
//! is [`attachments`]'.

mod attachments;

use super::dns::Records;
use super::links::NetWorker;
pub use super::protocol::{read_line, write_json, Request, Response};
use super::NetworkConfig;
use crate::userns::IdMode;
use attachments::Record;
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error(transparent)]
    Link(#[from] super::links::LinkError),
    #[error(transparent)]
    Network(#[from] super::NetworkError),
    #[error("cannot {op}: {source}")]
    Sys { op: String, source: std::io::Error },
    /// A request that cannot be done (an address in use, …).
    #[error("{0}")]
    Refused(String),
}

fn sys(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> HelperError {
    let op = op.into();
    move |source| HelperError::Sys { op, source }
}

/// How long the helper stays with no container attached.
pub const IDLE_EXIT: Duration = Duration::from_secs(2);

pub const SOCKET: &str = "helper.sock";
pub const LOCK: &str = "lock";
pub const LOG: &str = "helper.log";
pub const PID: &str = "helper.pid";
const STATE: &str = "attachments.json";

struct Net {
    config: NetworkConfig,
    worker: NetWorker,
}

struct Live {
    rec: Record,
    /// The init's pidfd, readable when it exits; `None` before Linux 5.3
    /// (RHEL 8), where its start time is checked at each poll instead.
    pidfd: Option<OwnedFd>,
    /// The connection of the container's monitor (its `Attach` or
    /// `Watch`), kept open and never read: when the helper dies, the
    /// monitor's end hangs up, and the monitor starts a new helper, which
    /// plugs the container in again from `attachments.json`.
    tie: Option<UnixStream>,
}

struct Helper {
    root: PathBuf,
    rundir: PathBuf,
    nets: HashMap<String, Net>,
    /// Names and memberships for every network's DNS server.
    records: Records,
    live: Vec<Live>,
    veths: u32,
}

/// A pidfd of the container's init, to hear of its exit; `None` where the
/// kernel has none (ENOSYS).
fn watch(pid: i32) -> Result<Option<OwnedFd>, HelperError> {
    let p = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| HelperError::Refused(format!("bad pid {pid}")))?;
    match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOSYS) => Ok(None),
        Err(e) => Err(sys("watch the container's init")(e.into())),
    }
}

/// Raises the soft limit of open files to the hard one (best effort): each
/// network's DNS server may hold some 330 descriptors (a socket per
/// forwarded query, 256, and 64 TCP clients, [`super::dns`]); where they
/// run out, queries get SERVFAIL and the TCP listener rests, no more.
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
}

/// The helper's life; returns its exit code. Forks first, so the command
/// that started it can reap it at once.
pub fn main(root: &Path, in_userns: bool, ids: &IdMode) -> i32 {
    match crate::runtime::fork_process() {
        Ok(Some(_)) => return 0,
        Ok(None) => {}
        Err(e) => {
            eprintln!("rless network-helper: cannot fork: {e}");
            return 125;
        }
    }
    let _ = nix::unistd::setsid();
    // Started by a command that may hold other descriptors of its caller's
    // (a shell's `3>&1`): kept, they would hold the caller's pipes open for
    // as long as the helper lives.
    crate::runtime::close_fds_except(&[]);
    match run(root, in_userns, ids) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rless network-helper: {e}");
            125
        }
    }
}

fn run(root: &Path, in_userns: bool, ids: &IdMode) -> Result<(), HelperError> {
    raise_nofile();
    let rundir = super::prepare_runtime_dir(root)?;
    let old: Vec<Record> = std::fs::read(rundir.join(STATE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let alive: Vec<Record> = old
        .into_iter()
        .filter(|r| crate::container::process_start(r.init_pid) == Some(r.init_start))
        .collect();
    if !in_userns && !matches!(ids, IdMode::Root) {
        match alive.first() {
            // Containers of a killed helper still run: their U is ours.
            Some(r) => {
                let p = format!("/proc/{}/ns/user", r.init_pid);
                let f = std::fs::File::open(&p).map_err(sys(format!("open {p}")))?;
                nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWUSER)
                    .map_err(|e| sys("join the containers' user namespace")(e.into()))?;
            }
            None => crate::runtime::ids::enter(ids, false, true)
                .map_err(|e| sys("enter a user namespace")(std::io::Error::other(e)))?,
        }
    }
    let sock = rundir.join(SOCKET);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(sys(format!("bind {}", sock.display())))?;
    let _ = std::fs::write(rundir.join(PID), std::process::id().to_string());
    let mut h = Helper {
        root: root.to_path_buf(),
        rundir,
        nets: HashMap::new(),
        records: Records::default(),
        live: Vec::new(),
        veths: 0,
    };
    for r in alive {
        if let Err(e) = h.reattach(r) {
            eprintln!("rless network-helper: {e}");
        }
    }
    h.save();
    h.serve(listener);
    Ok(())
}

impl Helper {
    fn serve(&mut self, listener: UnixListener) {
        use rustix::event::Timespec;
        let mut idle_since = Instant::now();
        loop {
            let timeout = Timespec {
                tv_sec: 0,
                tv_nsec: 500_000_000,
            };
            let (accept, exited) = self.wait_exits(Some(&listener), &timeout);
            self.release_exited(&exited);
            if accept {
                if let Ok((stream, _)) = listener.accept() {
                    self.handle(stream);
                }
                idle_since = Instant::now();
            }
            self.save();
            if !self.live.is_empty() {
                idle_since = Instant::now();
            } else if idle_since.elapsed() >= IDLE_EXIT && self.try_exit(&listener) {
                return;
            }
        }
    }

    /// Forgets the containers at `exited` (indices into `live`).
    fn release_exited(&mut self, exited: &[usize]) {
        for &i in exited.iter().rev() {
            let gone = self.live.remove(i);
            self.release(&gone.rec);
        }
    }

    /// Releases every container that has exited by now.
    fn reap(&mut self) {
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let (_, exited) = self.wait_exits(None, &zero);
        self.release_exited(&exited);
    }

    /// Waits up to `timeout` for a connection on `listener` or a
    /// container's exit; whether one waits, and the indices in `live` of
    /// the containers whose init has exited. An init without a pidfd
    /// (before Linux 5.3) is seen gone when its start time no longer
    /// matches, at the latest one poll later.
    fn wait_exits(
        &self,
        listener: Option<&UnixListener>,
        timeout: &rustix::event::Timespec,
    ) -> (bool, Vec<usize>) {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds: Vec<PollFd<'_>> = listener
            .iter()
            .map(|l| PollFd::new(*l, PollFlags::IN))
            .collect();
        let first = fds.len();
        let watched: Vec<usize> = (0..self.live.len())
            .filter(|&i| self.live[i].pidfd.is_some())
            .collect();
        fds.extend(watched.iter().filter_map(|&i| {
            let fd = self.live[i].pidfd.as_ref()?;
            Some(PollFd::new(fd, PollFlags::IN))
        }));
        let _ = poll(&mut fds, Some(timeout));
        let accept = first > 0 && !fds[0].revents().is_empty();
        let mut exited: Vec<usize> = watched
            .iter()
            .zip(&fds[first..])
            .filter(|(_, f)| !f.revents().is_empty())
            .map(|(&i, _)| i)
            .collect();
        exited.extend((0..self.live.len()).filter(|&i| {
            let r = &self.live[i].rec;
            self.live[i].pidfd.is_none()
                && crate::container::process_start(r.init_pid) != Some(r.init_start)
        }));
        exited.sort_unstable();
        (accept, exited)
    }

    /// Under the lock, with no connection waiting: removes the socket and
    /// returns true (the lock is held until the process exits).
    fn try_exit(&mut self, listener: &UnixListener) -> bool {
        let Ok(lock) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.rundir.join(LOCK))
        else {
            return false;
        };
        if lock.lock().is_err() {
            return false;
        }
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(listener, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if poll(&mut fds, Some(&zero)).unwrap_or(0) > 0 {
            return false;
        }
        let _ = std::fs::remove_file(self.rundir.join(SOCKET));
        let _ = std::fs::remove_file(self.rundir.join(STATE));
        let _ = std::fs::remove_file(self.rundir.join(PID));
        std::mem::forget(lock);
        true
    }

    fn handle(&mut self, mut s: UnixStream) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(line) = read_line(&mut s) else {
            return;
        };
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = write_json(
                    &mut s,
                    &Response {
                        error: Some(format!("bad request: {e}")),
                        ..Default::default()
                    },
                );
                return;
            }
        };
        // The container whose tie this connection becomes, once answered.
        let mut tie = None;
        let resp = match req {
            // The answer line first, then (on success) the descriptor.
            Request::Userns => {
                match std::fs::File::open("/proc/self/ns/user") {
                    Ok(f) => {
                        if write_json(&mut s, &Response::default()).is_ok() {
                            let _ = netstack::fdpass::send_fd(&s, f.as_fd());
                        }
                    }
                    Err(e) => {
                        let _ = write_json(
                            &mut s,
                            &Response {
                                error: Some(format!("cannot open the user namespace: {e}")),
                                ..Default::default()
                            },
                        );
                    }
                }
                return;
            }
            Request::Connect {
                container,
                attachment,
            } => match self.connect(&container, &attachment) {
                Ok(ip) => Response {
                    error: None,
                    ips: vec![ip],
                },
                Err(e) => Response {
                    error: Some(e.to_string()),
                    ..Default::default()
                },
            },
            Request::Disconnect { container, network } => Response {
                error: self
                    .disconnect(&container, &network)
                    .err()
                    .map(|e| e.to_string()),
                ..Default::default()
            },
            Request::Attach {
                container,
                init_pid,
                networks,
                dns,
                pod_names,
            } => match netstack::fdpass::recv_fd(&s) {
                Ok(ns) => {
                    match self.attach(container.clone(), init_pid, &networks, dns, pod_names, ns) {
                        Ok(ips) => {
                            tie = Some(container);
                            Response { error: None, ips }
                        }
                        Err(e) => Response {
                            error: Some(e.to_string()),
                            ..Default::default()
                        },
                    }
                }
                Err(e) => Response {
                    error: Some(format!("no network namespace received: {e}")),
                    ..Default::default()
                },
            },
            Request::Rename {
                container,
                from,
                to,
            } => {
                self.rename(&container, &from, &to);
                Response::default()
            }
            Request::PodName {
                container,
                name,
                add,
            } => {
                self.pod_name(&container, &name, add);
                Response::default()
            }
            Request::Watch { container } => {
                self.reap();
                if self.live.iter().any(|l| l.rec.container == container) {
                    tie = Some(container);
                    Response::default()
                } else {
                    Response {
                        error: Some(format!("container {container} is not attached")),
                        ..Default::default()
                    }
                }
            }
        };
        if write_json(&mut s, &resp).is_ok() {
            if let Some(l) = tie.and_then(|c| self.live.iter_mut().find(|l| l.rec.container == c)) {
                l.tie = Some(s);
            }
        }
    }
}
