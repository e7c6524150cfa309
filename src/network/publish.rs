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
//! when the container stops ([`Forwarder::stop`]). TCP only; the client's
//! address is not kept (the container sees its own address as the peer).

use crate::runtime::network::Publish;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot bind tcp port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("-p {0}/udp: UDP ports are not published on user-defined networks yet")]
    Udp(u16),
    #[error("cannot start the port forwarder: {0}")]
    Fork(std::io::Error),
}

/// Host listeners, bound.
pub struct Bound {
    listeners: Vec<(Publish, TcpListener)>,
}

/// The forwarder process.
pub struct Forwarder {
    pid: nix::unistd::Pid,
}

/// Binds every published port.
pub fn bind(ports: &[Publish]) -> Result<Bound, PublishError> {
    let mut listeners = Vec::new();
    for p in ports {
        if p.udp {
            return Err(PublishError::Udp(p.container_port));
        }
        let addr = SocketAddr::new(p.host_ip, p.host_port);
        let l = TcpListener::bind(addr).map_err(|source| PublishError::Bind { addr, source })?;
        let mut bound = p.clone();
        bound.host_port = l.local_addr().map(|a| a.port()).unwrap_or(p.host_port);
        listeners.push((bound, l));
    }
    Ok(Bound { listeners })
}

impl Bound {
    /// The ports as bound (random host ports filled in).
    pub fn ports(&self) -> Vec<Publish> {
        self.listeners.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Forks the forwarder to `ip` in the network namespace of `init`.
    /// The caller must be single-threaded.
    pub fn start(self, init: i32, ip: Ipv4Addr) -> Result<Option<Forwarder>, PublishError> {
        if self.listeners.is_empty() {
            return Ok(None);
        }
        let ns = std::fs::File::open(format!("/proc/{init}/ns/net")).map_err(PublishError::Fork)?;
        match crate::runtime::fork_process().map_err(PublishError::Fork)? {
            Some(pid) => Ok(Some(Forwarder { pid })),
            None => {
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                if nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).is_err() {
                    std::process::exit(1);
                }
                drop(ns);
                serve(self.listeners, ip);
                std::process::exit(0)
            }
        }
    }
}

impl Forwarder {
    /// Stops the forwarder; every host port is closed.
    pub fn stop(self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// In the forwarder: one accepting thread per listener.
fn serve(listeners: Vec<(Publish, TcpListener)>, ip: Ipv4Addr) {
    let threads: Vec<_> = listeners
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
