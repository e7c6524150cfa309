//! Helpers shared by the user-defined network tests (`usernet*.rs`): the
//! image, `network ls`, the network helper's processes, leftovers, and UDP
//! sockets opened inside a container's network namespace.

use super::checks::host_processes;
use super::oci::busybox;
use super::{is_root, skip, Ctx, Out};
use std::fs;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

pub const IMG: &str = "unbb";
pub const APPLETS: &[&str] = &[
    "sh", "httpd", "nc", "cat", "echo", "sleep", "ip", "wget", "grep", "true", "nslookup",
    "hostname", "timeout", "ping",
];

pub fn setup(ctx: &Ctx) -> bool {
    if fs::metadata("/dev/net/tun").is_err() {
        skip("/dev/net/tun is missing");
        return false;
    }
    let Some(bb) = busybox() else {
        return false;
    };
    let dir = ctx.work.join("unroot");
    for sub in ["bin", "etc", "www", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    super::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("www/index.html"), "hello from web\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

pub fn networks(ctx: &Ctx) -> Vec<serde_json::Value> {
    let out = ctx.ok(&["network", "ls", "--format", "json"]);
    serde_json::from_str(&out.stdout).unwrap()
}

pub fn sh(ctx: &Ctx, net: &str, script: &str) -> Out {
    ctx.rless(&["run", "--rm", "--network", net, IMG, "sh", "-c", script])
}

/// The init pid of a running container.
pub fn init_pid(ctx: &Ctx, name: &str) -> i32 {
    let out = ctx.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v[0]["State"]["Pid"].as_i64().unwrap() as i32
}

/// Processes of this test's network helper (named by its store).
pub fn helpers(ctx: &Ctx) -> Vec<i32> {
    let root = ctx.root.to_string_lossy().to_string();
    host_processes()
        .into_iter()
        .filter(|p| p.args.iter().any(|a| a == "network-helper") && p.args.contains(&root))
        .map(|p| p.pid)
        .collect()
}

/// Waits (bounded) until the helper has exited by itself.
pub fn helper_gone(ctx: &Ctx) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if helpers(ctx).is_empty() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Every process of the test user that mentions this test's store.
pub fn leftovers(ctx: &Ctx) -> Vec<String> {
    let root = ctx.root.to_string_lossy().to_string();
    host_processes()
        .into_iter()
        .filter(|p| p.uid == ctx.user.uid && p.args.iter().any(|a| a.contains(&root)))
        .map(|p| format!("{} {:?}", p.pid, p.args))
        .collect()
}

/// Opens a UDP socket on port 53 inside the network namespace of `pid`
/// (from a thread of its own, with a 20 s read timeout) and hands it to `f`.
fn udp_in_netns<T: Send + 'static>(
    pid: i32,
    f: impl FnOnce(UdpSocket) -> T + Send + 'static,
) -> Option<std::thread::JoinHandle<T>> {
    if !is_root() {
        skip("entering a container's network namespace needs the tests to run as root");
        return None;
    }
    let ns = fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let s = UdpSocket::bind("0.0.0.0:53").unwrap();
        tx.send(()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        f(s)
    });
    rx.recv().unwrap();
    Some(t)
}

/// Opens a UDP socket on port 53 inside the network namespace of `pid`
/// and returns what it receives within 20 s.
pub fn udp_receiver(pid: i32) -> Option<std::thread::JoinHandle<Vec<u8>>> {
    udp_in_netns(pid, |s| {
        let mut buf = vec![0u8; 2048];
        match s.recv_from(&mut buf) {
            Ok((n, _)) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    })
}

/// Like [`udp_receiver`], but answers the first datagram with `echo:`
/// and its content.
pub fn udp_echo(pid: i32) -> Option<std::thread::JoinHandle<()>> {
    udp_in_netns(pid, |s| {
        let mut buf = vec![0u8; 2048];
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from);
        }
    })
}
