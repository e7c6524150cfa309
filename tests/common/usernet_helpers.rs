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

/// Runs `client`, a container on network `net` that sleeps for two
/// minutes, detached (the DNS tests ask from it): its init's pid.
pub fn run_client(ctx: &Ctx, net: &str) -> i32 {
    ctx.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--network",
        net,
        IMG,
        "sleep",
        "120",
    ]);
    init_pid(ctx, "client")
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

/// A UDP socket (any port) inside the network namespace of `pid`, with a
/// 20 s read timeout.
pub fn udp_socket_in(pid: i32) -> Option<UdpSocket> {
    let s = made_in_netns_of(pid, || UdpSocket::bind("0.0.0.0:0").unwrap())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Some(s)
}

/// What `make` returns, run on a thread that entered the network namespace
/// of `pid` (the socket it makes stays there); `None`, with a skip, when
/// the tests cannot enter it.
fn made_in_netns_of<T: Send + 'static>(
    pid: i32,
    make: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if !is_root() {
        skip("entering a container's network namespace needs the tests to run as root");
        return None;
    }
    let ns = fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    Some(
        std::thread::spawn(move || {
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            make()
        })
        .join()
        .unwrap(),
    )
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

/// A DNS server on `addr`, port 53, UDP and TCP (loopback: the tests run
/// as root), for the zone `test`: A queries there get `answer`, other
/// types an empty answer, names elsewhere NXDOMAIN. It keeps the names it
/// was asked, with how and from which port.
pub struct Responder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    log: std::sync::Arc<std::sync::Mutex<Vec<Asked>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// One query a [`Responder`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The name, lower case.
    pub name: String,
    pub tcp: bool,
    /// The source port.
    pub port: u16,
}

type Log = std::sync::Arc<std::sync::Mutex<Vec<Asked>>>;
type Stop = std::sync::Arc<std::sync::atomic::AtomicBool>;

impl Responder {
    pub fn start(addr: std::net::Ipv4Addr, answer: std::net::Ipv4Addr) -> Responder {
        Responder::serve(addr, Some(answer))
    }

    /// A "black hole": it keeps the names it is asked and never answers
    /// (over TCP it holds the connection).
    pub fn black_hole(addr: std::net::Ipv4Addr) -> Responder {
        Responder::serve(addr, None)
    }

    fn serve(addr: std::net::Ipv4Addr, answer: Option<std::net::Ipv4Addr>) -> Responder {
        use std::sync::atomic::Ordering::Relaxed;
        let s = UdpSocket::bind((addr, 53)).expect("bind port 53");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let l = std::net::TcpListener::bind((addr, 53)).expect("bind TCP port 53");
        l.set_nonblocking(true).unwrap();
        let stop: Stop = Default::default();
        let log: Log = Default::default();
        let (st, lg) = (stop.clone(), log.clone());
        let udp = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !st.load(Relaxed) {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(r) = respond(&buf[..n], answer, false, from.port(), &lg) {
                    let _ = s.send_to(&r, from);
                }
            }
        });
        let (st, lg) = (stop.clone(), log.clone());
        let tcp = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Relaxed) {
                let Ok((c, from)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let (st, lg) = (st.clone(), lg.clone());
                conns.push(std::thread::spawn(move || {
                    serve_tcp(c, from.port(), answer, &st, &lg)
                }));
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Responder {
            stop,
            log,
            threads: vec![udp, tcp],
        }
    }

    /// The names asked so far (either way), lower case.
    pub fn asked(&self) -> Vec<String> {
        self.log().into_iter().map(|a| a.name).collect()
    }

    /// Every query so far.
    pub fn log(&self) -> Vec<Asked> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` names have been asked; whether they were.
    pub fn wait_asked(&self, n: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.asked().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.asked().len() >= n
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One TCP connection of a [`Responder`]: length-prefixed queries, each
/// answered (unless a black hole) the same way, until the client closes.
fn serve_tcp(
    mut c: std::net::TcpStream,
    port: u16,
    answer: Option<std::net::Ipv4Addr>,
    stop: &Stop,
    log: &Log,
) {
    use std::io::{Read, Write};
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match c.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
        while got.len() >= 2 && got.len() >= 2 + usize::from(u16::from_be_bytes([got[0], got[1]])) {
            let len = usize::from(u16::from_be_bytes([got[0], got[1]]));
            let q: Vec<u8> = got.drain(..2 + len).skip(2).collect();
            if let Some(r) = respond(&q, answer, true, port, log) {
                let mut out = (r.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&r);
                let _ = c.write_all(&out);
            }
        }
    }
}

/// Logs the query `q` and builds its answer (`None`: a black hole, or not
/// a query).
fn respond(
    q: &[u8],
    answer: Option<std::net::Ipv4Addr>,
    tcp: bool,
    port: u16,
    log: &Log,
) -> Option<Vec<u8>> {
    let (name, end) = question(q)?;
    log.lock().unwrap().push(Asked {
        name: name.clone(),
        tcp,
        port,
    });
    let answer = answer?;
    let mut r = q[..end].to_vec();
    r[2] |= 0x80; // QR
    r[3] = 0x80; // RA, NOERROR
    r[8..12].fill(0); // no authority, no additional (EDNS) records
    if name != "test" && !name.ends_with(".test") {
        r[3] |= 3; // NXDOMAIN
    } else if q[end - 4..end] == [0, 1, 0, 1] {
        r[7] = 1; // ANCOUNT
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&answer.octets());
    }
    Some(r)
}

/// A query's name and where its question ends.
fn question(q: &[u8]) -> Option<(String, usize)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    (q.len() >= i + 4).then(|| (labels.join("."), i + 4))
}

/// A query for the A record of `name`, with transaction id `id`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The next reply on `s` (a panic after its read timeout): its id, its
/// rcode and the address of its answer, if it has one.
pub fn dns_reply(s: &UdpSocket) -> (u16, u8, Option<std::net::Ipv4Addr>) {
    let mut b = [0u8; 1024];
    let n = s.recv(&mut b).expect("a DNS reply");
    assert!(
        n >= 12 && b[2] & 0x80 != 0,
        "not a DNS reply: {:?}",
        &b[..n]
    );
    let ancount = u16::from_be_bytes([b[6], b[7]]);
    let ip = (ancount > 0 && n >= 16).then(|| [b[n - 4], b[n - 3], b[n - 2], b[n - 1]].into());
    (u16::from_be_bytes([b[0], b[1]]), b[3] & 0x0f, ip)
}

/// Asks the DNS server at `server` (port 53) for the A record of `name`
/// from inside the network namespace of `pid`: the reply's rcode and every
/// address of its answer, in order; `None` without a reply in 2 s.
pub fn dns_addresses(
    pid: i32,
    server: std::net::Ipv4Addr,
    name: &str,
) -> Option<(u8, Vec<std::net::Ipv4Addr>)> {
    let s = udp_socket_in(pid)?;
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.connect((server, 53)).unwrap();
    let q = dns_query(0x5eed, name);
    s.send(&q).unwrap();
    let mut b = [0u8; 1024];
    let n = s.recv(&mut b).ok()?;
    let b = &b[..n];
    assert!(
        n >= q.len() && b[..2] == q[..2] && b[2] & 0x80 != 0,
        "not a reply to the query: {b:?}"
    );
    let ancount = usize::from(u16::from_be_bytes([b[6], b[7]]));
    // The answer's records (name pointer, type, class, TTL, length, data)
    // follow the echoed question.
    let records = &b[q.len()..];
    assert_eq!(records.len(), ancount * 16, "{b:?}");
    let ips = records
        .chunks(16)
        .map(|r| {
            assert_eq!(r[..4], [0xc0, 12, 0, 1], "not an A record: {r:?}");
            std::net::Ipv4Addr::new(r[12], r[13], r[14], r[15])
        })
        .collect();
    Some((b[3] & 0x0f, ips))
}

/// A TCP connection to `server` opened from inside the network namespace
/// of `pid` (a 20 s read timeout); the connect's error as it is.
pub fn tcp_stream_in(
    pid: i32,
    server: std::net::SocketAddr,
) -> Option<std::io::Result<std::net::TcpStream>> {
    let s = made_in_netns_of(pid, move || {
        std::net::TcpStream::connect_timeout(&server, Duration::from_secs(5))
    })?;
    if let Ok(s) = &s {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    Some(s)
}

/// Writes `msgs` on `s`, each after its 2-byte length, in one write.
pub fn tcp_send(s: &mut std::net::TcpStream, msgs: &[Vec<u8>]) {
    use std::io::Write;
    let mut out = Vec::new();
    for m in msgs {
        out.extend_from_slice(&(m.len() as u16).to_be_bytes());
        out.extend_from_slice(m);
    }
    s.write_all(&out).unwrap();
}

/// The next message on `s` (a panic after its read timeout).
pub fn tcp_recv(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut l = [0u8; 2];
    s.read_exact(&mut l).expect("a DNS reply's length");
    let mut m = vec![0u8; usize::from(u16::from_be_bytes(l))];
    s.read_exact(&mut m).expect("a DNS reply");
    m
}

/// A DNS reply, read record by record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    pub rcode: u8,
    /// The truncation bit.
    pub tc: bool,
    /// The addresses of its A records, in order.
    pub ips: Vec<std::net::Ipv4Addr>,
}

/// Parses a reply (one question; answer records with a compressed or a
/// plain name); panics on anything else.
pub fn parse_reply(b: &[u8]) -> Reply {
    assert!(b.len() >= 12 && b[2] & 0x80 != 0, "not a DNS reply: {b:?}");
    let skip_name = |mut i: usize| loop {
        match b[i] {
            0 => return i + 1,
            l if l & 0xc0 == 0xc0 => return i + 2,
            l => i += 1 + usize::from(l),
        }
    };
    let mut i = skip_name(12) + 4;
    let mut ips = Vec::new();
    for _ in 0..u16::from_be_bytes([b[6], b[7]]) {
        i = skip_name(i);
        let rtype = u16::from_be_bytes([b[i], b[i + 1]]);
        let len = usize::from(u16::from_be_bytes([b[i + 8], b[i + 9]]));
        i += 10;
        if rtype == 1 && len == 4 {
            ips.push(std::net::Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]));
        }
        i += len;
    }
    assert_eq!(i, b.len(), "trailing bytes: {b:?}");
    Reply {
        id: u16::from_be_bytes([b[0], b[1]]),
        rcode: b[3] & 0x0f,
        tc: b[2] & 0x02 != 0,
        ips,
    }
}
