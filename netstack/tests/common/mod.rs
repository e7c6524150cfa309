//! Test rig: a fresh network namespace (made by a thread with
//! `unshare(CLONE_NEWNET)`) holding a TAP created with `netstack::tap`, and
//! a `Stack` driving it from the host namespace in a background thread.
//! Code "inside the container" runs in threads that `setns` into the
//! namespace; sockets they create stay there.

#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use netstack::{BoundPorts, Config, PortForward, Stack};

/// Integration tests share fds and ports; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
pub const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);
pub const T: Duration = Duration::from_secs(10);

/// Why the rig cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    if uid != "0" {
        return Some("needs root (CAP_SYS_ADMIN for unshare/setns)".into());
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing".into());
    }
    None
}

/// Prints SKIP (or panics under RLESS_MUST_WORK=1) and returns false if the
/// rig cannot run.
pub fn available(name: &str) -> bool {
    match unavailable() {
        None => true,
        Some(why) => skip(name, &why),
    }
}

pub fn skip(name: &str, why: &str) -> bool {
    if std::env::var("RLESS_MUST_WORK").as_deref() == Ok("1") {
        panic!("{name}: {why} (RLESS_MUST_WORK=1)");
    }
    println!("SKIP {name}: {why}");
    false
}

/// A network namespace kept alive by an fd.
pub struct Netns {
    pub fd: Arc<OwnedFd>,
}

impl Rig {
    /// Drops the rig's reference to the namespace (the container "dies"
    /// once its sockets are closed too).
    pub fn drop_namespace(&mut self) {
        let dummy: OwnedFd = File::open("/dev/null").expect("open /dev/null").into();
        self.ns.fd = Arc::new(dummy);
    }
}

impl Netns {
    /// Runs `f` in a thread inside the namespace and returns its result.
    pub fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        self.spawn(f).join().expect("namespace thread panicked")
    }

    /// Like `run` but returns the handle.
    pub fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> JoinHandle<R> {
        let fd = self.fd.clone();
        std::thread::spawn(move || {
            netstack::setns_net(fd.as_fd()).expect("setns");
            f()
        })
    }
}

/// Creates a namespace with TAP `tap0` configured by `netstack::tap`.
pub fn netns_with_tap(mtu: u32) -> std::io::Result<(Netns, OwnedFd)> {
    std::thread::spawn(move || {
        netstack::unshare_netns()?;
        let ns: OwnedFd = File::open("/proc/thread-self/ns/net")?.into();
        let tap = netstack::tap::create("tap0", mtu).map_err(std::io::Error::other)?;
        Ok((Netns { fd: Arc::new(ns) }, tap))
    })
    .join()
    .expect("netns thread panicked")
}

/// A running stack and its namespace.
pub struct Rig {
    pub ns: Netns,
    pub ports: Vec<PortForward>,
    stop: Option<std::io::PipeWriter>,
    thread: Option<JoinHandle<netstack::Result<()>>>,
}

impl Rig {
    pub fn start(name: &str, config: Config) -> Option<Rig> {
        if !available(name) {
            return None;
        }
        let bound = netstack::bind_ports(&config).expect("bind ports");
        Some(Self::start_bound(name, config, bound).expect("start rig"))
    }

    pub fn start_bound(_name: &str, config: Config, bound: BoundPorts) -> std::io::Result<Rig> {
        let (ns, tap) = netns_with_tap(config.mtu as u32)?;
        let ports = bound.ports();
        let stack = Stack::new(tap, config, bound).map_err(std::io::Error::other)?;
        let (r, w) = std::io::pipe()?;
        let thread = std::thread::spawn(move || stack.run(OwnedFd::from(r)));
        Ok(Rig {
            ns,
            ports,
            stop: Some(w),
            thread: Some(thread),
        })
    }

    /// The host port bound for published `container_port`.
    pub fn host_port(&self, container_port: u16, proto: netstack::Proto) -> u16 {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port && p.proto == proto)
            .expect("port published")
            .host_port
    }

    /// Stops the stack and returns its result.
    pub fn stop(mut self) -> netstack::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> netstack::Result<()> {
        if let Some(mut w) = self.stop.take() {
            let _ = w.write_all(b"x");
        }
        match self.thread.take() {
            Some(t) => t.join().expect("stack thread panicked"),
            None => Ok(()),
        }
    }

    /// Whether the stack thread has returned by itself.
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Config for tests: host loopback allowed, no upstream DNS unless set.
pub fn config() -> Config {
    Config {
        allow_host_loopback: true,
        upstream_dns: Vec::new(),
        ..Config::default()
    }
}

pub fn tcp(container_port: u16) -> PortForward {
    PortForward {
        proto: netstack::Proto::Tcp,
        host_ip: Ipv4Addr::LOCALHOST.into(),
        host_port: 0,
        container_port,
        ipv4_only: false,
    }
}

pub fn udp(container_port: u16) -> PortForward {
    PortForward {
        proto: netstack::Proto::Udp,
        host_ip: Ipv4Addr::LOCALHOST.into(),
        host_port: 0,
        container_port,
        ipv4_only: false,
    }
}

pub fn sa(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
