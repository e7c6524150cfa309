//! Published ports (`-p`) of a container on user-defined networks.
//!
//! Theory of operation: the host listeners are bound by the monitor before
//! the container starts ([`bind`]), so a port in use fails `run` with
//! nothing left behind. Once the container has its addresses, the monitor
//! forks a forwarder ([`start`]) that keeps the listeners, moves into the
//! container's network namespace and, for each accepted connection, opens
//! one there to the container's own address, then copies both ways (two
//! threads per connection; the kernel splices where it can). The forwarder
//! is a process of its own so the monitor stays single-threaded (it clones
//! again on restart); it dies with the monitor (PDEATHSIG) and is killed
//! when the container stops ([`Forwarder::stop`]). The monitor keeps its
//! own copies of the host sockets: when the forwarder dies while the
//! container runs (killed by hand, or by the OOM killer), the monitor hears
//! of it by SIGCHLD and forks a new one on them ([`Forwarder::revive`]), so
//! the ports do not stay dead while the container looks up; after five in
//! a row that died within a second of their start it gives up, and the
//! container is killed with that reason. UDP: each client gets a
//! connected socket in the container's namespace, whose answers go back
//! from the host port; it is dropped after [`UDP_IDLE`] without traffic.
//! The client's address is not kept (the container sees its own address as
//! the peer). A port on the IPv4 wildcard is bound on `[::]` too (IPv6
//! only, skipped on a host without IPv6), unless written out (`-p
//! 0.0.0.0:…`, IPv4 only); IPv6 clients are forwarded to the container's
//! IPv4 address like the others.

use crate::runtime::network::Publish;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a UDP client's flow lives without traffic.
pub const UDP_IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot bind tcp port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot bind udp port {addr}: {source}")]
    BindUdp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the port forwarder: {0}")]
    Fork(std::io::Error),
    #[error(
        "the port forwarder died {times} times within a second of its start (the last {last})"
    )]
    KeepsDying { times: u32, last: String },
    #[error("cannot {op} the port forwarder (pid {pid}): {source}")]
    Stop {
        op: &'static str,
        pid: i32,
        source: nix::Error,
    },
}

/// Host listeners, bound.
pub struct Bound {
    listeners: Vec<(Publish, TcpListener)>,
    udp: Vec<(Publish, UdpSocket)>,
}

/// The forwarder process, and the sockets it serves.
pub struct Forwarder {
    /// `None` once it was reaped and no new one could be started.
    pid: Option<Pid>,
    /// The monitor's own copies of the host sockets, to start a new
    /// forwarder on if this one dies ([`Forwarder::revive`]).
    bound: Bound,
    /// What the forwarder forwards to: the init's namespace, the address.
    init: i32,
    ip: Ipv4Addr,
    /// When the running forwarder was started, and how many in a row died
    /// within [`QUICK_DEATH`] of their start.
    started: std::time::Instant,
    quick_deaths: u32,
}

/// A forwarder that dies this soon after its start counts towards
/// [`MAX_QUICK_DEATHS`]: one that cannot run at all (no memory, the
/// namespace gone) must not be forked again and again.
const QUICK_DEATH: Duration = Duration::from_secs(1);
const MAX_QUICK_DEATHS: u32 = 5;

/// Binds every published port: the IPv4 wildcard on both families unless
/// written out, as docker (see `netstack::bind_both`).
pub fn bind(ports: &[Publish]) -> Result<Bound, PublishError> {
    let (mut listeners, mut udp) = (Vec::new(), Vec::new());
    for p in ports {
        let addr = SocketAddr::new(p.host_ip, p.host_port);
        let bound = |a: SocketAddr| Publish {
            host_ip: a.ip(),
            host_port: a.port(),
            ..p.clone()
        };
        if p.udp {
            let port_of = |s: &UdpSocket| Ok(s.local_addr()?.port());
            let socks = netstack::bind_both(addr, p.ipv4_only, netstack::bind_udp, port_of)
                .map_err(|(addr, source)| PublishError::BindUdp { addr, source })?;
            udp.extend(socks.into_iter().map(|(a, s)| (bound(a), s)));
            continue;
        }
        let port_of = |l: &TcpListener| Ok(l.local_addr()?.port());
        let socks = netstack::bind_both(addr, p.ipv4_only, netstack::listen_tcp, port_of)
            .map_err(|(addr, source)| PublishError::Bind { addr, source })?;
        listeners.extend(socks.into_iter().map(|(a, l)| (bound(a), l)));
    }
    Ok(Bound { listeners, udp })
}

impl Bound {
    /// The ports as bound (random host ports filled in).
    pub fn ports(&self) -> Vec<Publish> {
        self.listeners
            .iter()
            .map(|(p, _)| p.clone())
            .chain(self.udp.iter().map(|(p, _)| p.clone()))
            .collect()
    }

    /// Forks the forwarder to `ip` in the network namespace of `init`.
    /// The caller must be single-threaded but for fuse-overlay's server
    /// threads (see `runtime::sys::fork`).
    pub fn start(self, init: i32, ip: Ipv4Addr) -> Result<Option<Forwarder>, PublishError> {
        if self.listeners.is_empty() && self.udp.is_empty() {
            return Ok(None);
        }
        let pid = self.fork_forwarder(init, ip)?;
        Ok(Some(Forwarder {
            pid: Some(pid),
            bound: self,
            init,
            ip,
            started: std::time::Instant::now(),
            quick_deaths: 0,
        }))
    }

    /// Forks a forwarder process serving these sockets (the monitor keeps
    /// its own copies of them).
    fn fork_forwarder(&self, init: i32, ip: Ipv4Addr) -> Result<Pid, PublishError> {
        let ns = std::fs::File::open(format!("/proc/{init}/ns/net")).map_err(PublishError::Fork)?;
        match crate::runtime::fork_process().map_err(PublishError::Fork)? {
            Some(pid) => Ok(pid),
            None => {
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                if nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                    std::process::exit(1);
                }
                drop(ns);
                self.close_other_fds();
                // Owned duplicates for the serving threads.
                let listeners = self
                    .listeners
                    .iter()
                    .filter_map(|(p, l)| Some((p.clone(), l.try_clone().ok()?)))
                    .collect();
                let udp = self
                    .udp
                    .iter()
                    .filter_map(|(p, s)| Some((p.clone(), s.try_clone().ok()?)))
                    .collect();
                serve(listeners, udp, ip);
                std::process::exit(0)
            }
        }
    }
}

impl Bound {
    /// In the forwarder: closes every descriptor it inherited from the
    /// monitor but stdio and its sockets (the monitor may hold /dev/fuse,
    /// the container's log and terminal, and the `run -d` answer pipe,
    /// which must not stay open in it).
    fn close_other_fds(&self) {
        use std::os::fd::AsRawFd;
        let keep: Vec<i32> = self
            .listeners
            .iter()
            .map(|(_, l)| l.as_raw_fd())
            .chain(self.udp.iter().map(|(_, s)| s.as_raw_fd()))
            .collect();
        crate::runtime::close_fds_except(&keep);
    }
}

/// What [`Forwarder::revive`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Revived {
    /// The forwarder still runs.
    Running,
    /// It had ended (`ended`, as its wait status says) and a new one, `pid`,
    /// serves the same sockets.
    Replaced { ended: String, pid: i32 },
}

impl Forwarder {
    /// After a SIGCHLD: if the forwarder has ended (killed by hand, or by
    /// the OOM killer), starts a new one on the same sockets, which the
    /// monitor kept, so the published ports work again without binding
    /// anew (the port could be taken meanwhile). Connections the old one
    /// was relaying are lost; ones waiting to be accepted are not. The
    /// caller must be single-threaded, as for [`Bound::start`].
    pub fn revive(&mut self) -> Result<Revived, PublishError> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let Some(pid) = self.pid else {
            return Ok(Revived::Running);
        };
        let ended = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => format!("exited with {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => format!("was killed by {sig}"),
            Ok(_) => return Ok(Revived::Running),
            Err(source) => {
                return Err(PublishError::Stop {
                    op: "check on",
                    pid: pid.as_raw(),
                    source,
                })
            }
        };
        // Reaped: its pid may be reused, so it is never signalled again.
        self.pid = None;
        if self.started.elapsed() < QUICK_DEATH {
            self.quick_deaths += 1;
        } else {
            self.quick_deaths = 0;
        }
        if self.quick_deaths >= MAX_QUICK_DEATHS {
            return Err(PublishError::KeepsDying {
                times: self.quick_deaths,
                last: ended,
            });
        }
        let new = self.bound.fork_forwarder(self.init, self.ip)?;
        self.pid = Some(new);
        self.started = std::time::Instant::now();
        Ok(Revived::Replaced {
            ended,
            pid: new.as_raw(),
        })
    }

    /// Stops the forwarder; every host port is closed once it is reaped
    /// (the monitor's copies go with `self`).
    pub fn stop(self) -> Result<(), PublishError> {
        let Some(pid) = self.pid else {
            return Ok(());
        };
        let err = |op| {
            move |source| PublishError::Stop {
                op,
                pid: pid.as_raw(),
                source,
            }
        };
        if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
            // Not signalled (a zombie would have been): waiting might
            // never end, so only reap it if it is gone already.
            let _ = nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            return Err(err("kill")(e));
        }
        nix::sys::wait::waitpid(pid, None)
            .map(drop)
            .map_err(err("reap"))
    }
}

/// In the forwarder: one thread per listener and per UDP port.
fn serve(listeners: Vec<(Publish, TcpListener)>, udp: Vec<(Publish, UdpSocket)>, ip: Ipv4Addr) {
    let mut threads: Vec<_> = listeners
        .into_iter()
        .map(|(p, l)| {
            std::thread::spawn(move || {
                for client in l.incoming().flatten() {
                    let target = SocketAddr::from((ip, p.container_port));
                    std::thread::spawn(move || relay(client, target));
                }
            })
        })
        .collect();
    for (p, s) in udp {
        let target = SocketAddr::from((ip, p.container_port));
        threads.push(std::thread::spawn(move || relay_udp(s, target)));
    }
    for t in threads {
        let _ = t.join();
    }
}

/// Copies between the client and a new connection to `target`, both ways.
fn relay(client: TcpStream, target: SocketAddr) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut &c2, &mut &s2);
        let _ = s2.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut &server, &mut &client);
    let _ = client.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// UDP: datagrams from each client go out of a socket of its own to
/// `target`; that socket's answers go back to the client from `host`.
fn relay_udp(host: UdpSocket, target: SocketAddr) {
    let host = Arc::new(host);
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Default::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = host.recv_from(&mut buf) else {
            continue;
        };
        let existing = flows.lock().ok().and_then(|f| f.get(&client).cloned());
        let flow = match existing {
            Some(f) => f,
            None => {
                let Ok(s) = UdpSocket::bind("0.0.0.0:0") else {
                    continue;
                };
                if s.connect(target).is_err() {
                    continue;
                }
                let s = Arc::new(s);
                if let Ok(mut f) = flows.lock() {
                    f.insert(client, s.clone());
                }
                let (back, host, flows) = (s.clone(), host.clone(), flows.clone());
                std::thread::spawn(move || {
                    let _ = back.set_read_timeout(Some(UDP_IDLE));
                    let mut buf = vec![0u8; 65536];
                    while let Ok(n) = back.recv(&mut buf) {
                        let _ = host.send_to(&buf[..n], client);
                    }
                    if let Ok(mut f) = flows.lock() {
                        f.remove(&client);
                    }
                });
                s
            }
        };
        let _ = flow.send(&buf[..n]);
    }
}
