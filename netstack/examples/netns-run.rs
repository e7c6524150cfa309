//! Runs a command in a fresh network namespace wired to the host through
//! netstack (the way rless will), for benchmarks and manual testing.
//!
//! ```text
//! netns-run [-p HOST:CONTAINER[/udp]]... [--allow-host-loopback]
//!           [--pcap FILE] [--mtu N] [--tcp-buffer BYTES]
//!           [--port-driver smoltcp|splice|handoff] -- COMMAND [ARGS...]
//! ```
//! Needs root (unshare/setns). Published ports bind on 127.0.0.1. Exits
//! with the command's status after stopping the stack.

use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use netstack::{Config, PortForward, Proto};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netns-run: {e}");
            ExitCode::from(125)
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut cfg = Config::default();
    let mut args = std::env::args().skip(1);
    let mut cmd = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-p" => {
                let spec = args.next().ok_or("-p needs HOST:CONTAINER")?;
                let (spec, proto) = match spec.strip_suffix("/udp") {
                    Some(s) => (s.to_string(), Proto::Udp),
                    None => (spec.trim_end_matches("/tcp").to_string(), Proto::Tcp),
                };
                let (h, c) = spec.split_once(':').ok_or("-p needs HOST:CONTAINER")?;
                cfg.ports.push(PortForward {
                    proto,
                    host_ip: Ipv4Addr::LOCALHOST.into(),
                    host_port: h.parse()?,
                    container_port: c.parse()?,
                    ipv4_only: false,
                });
            }
            "--allow-host-loopback" => cfg.allow_host_loopback = true,
            "--pcap" => cfg.pcap = Some(args.next().ok_or("--pcap needs FILE")?.into()),
            "--mtu" => cfg.mtu = args.next().ok_or("--mtu needs N")?.parse()?,
            "--tcp-buffer" => {
                cfg.tcp_buffer = args.next().ok_or("--tcp-buffer needs N")?.parse()?
            }
            "--port-driver" => {
                cfg.port_driver = args.next().ok_or("--port-driver needs a name")?.parse()?
            }
            "--" => {
                cmd.extend(args.by_ref());
            }
            _ => {
                cmd.push(a);
                cmd.extend(args.by_ref());
            }
        }
    }
    if cmd.is_empty() {
        return Err("no command".into());
    }
    let mut bound = netstack::bind_ports(&cfg)?;
    for p in bound.ports() {
        eprintln!(
            "netns-run: {}:{} -> {}/{}",
            p.host_ip, p.host_port, p.container_port, p.proto
        );
    }
    let mtu = cfg.mtu as u32;
    let (ns, tap) = std::thread::spawn(move || -> std::io::Result<(OwnedFd, OwnedFd)> {
        netstack::unshare_netns()?;
        let ns: OwnedFd = File::open("/proc/thread-self/ns/net")?.into();
        let tap = netstack::tap::create("tap0", mtu).map_err(std::io::Error::other)?;
        Ok((ns, tap))
    })
    .join()
    .map_err(|_| "namespace thread panicked")??;
    // The handoff driver: the command's binds come to us over a seccomp
    // listener, which the child sends before it execs.
    let handoff_ports = bound.take_handoff();
    let handoff = !handoff_ports.is_empty();
    let (to_parent, from_child) = UnixStream::pair()?;
    let addr = cfg.addr;
    let stack = netstack::Stack::new(tap, cfg, bound)?;
    let (r, mut w) = std::io::pipe()?;
    let stack_thread = std::thread::spawn(move || stack.run(OwnedFd::from(r)));
    let status = std::thread::spawn(move || -> std::io::Result<std::process::ExitStatus> {
        use std::os::fd::AsFd;
        netstack::setns_net(ns.as_fd())?;
        // Bring up lo in the namespace too, as a container runtime would.
        let _ = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..]);
        if handoff {
            // SAFETY: the closure runs in the forked child before exec; it
            // only installs a filter and sends one fd over a socket the
            // child inherited.
            unsafe {
                c.pre_exec(move || {
                    let l = netstack::handoff::install_bind_notifier()?;
                    netstack::fdpass::send_fd(&to_parent, &l).map_err(std::io::Error::other)
                });
            }
        }
        c.status()
    });
    let _handoff = if handoff {
        let l = netstack::fdpass::recv_fd(&from_child)?;
        Some(netstack::Handoff::start(l, handoff_ports, addr)?)
    } else {
        None
    };
    let status = status.join().map_err(|_| "command thread panicked")??;
    let _ = w.write_all(b"x");
    stack_thread.join().map_err(|_| "stack thread panicked")??;
    Ok(ExitCode::from(status.code().unwrap_or(128) as u8))
}
