//! User-defined networks (issue 9): `rless network …` and
//! `run --network NAME`, as the unprivileged users, subuid and single-id
//! mode. Real traffic between containers on the kernel bridge; the only
//! host side is a server on loopback and a UDP socket the test opens in a
//! container's network namespace (the test runs as root). Bad input gets
//! one `rless:` line, exit 125 and nothing half-made.

mod common;

use common::checks::{assert_one_error, containers, host_processes};
use common::oci::busybox;
use common::{for_each_user, is_root, skip, Ctx, Out};
use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const IMG: &str = "unbb";
const APPLETS: &[&str] = &[
    "sh", "httpd", "nc", "cat", "echo", "sleep", "ip", "wget", "grep", "true", "nslookup",
    "hostname", "timeout", "ping",
];

fn setup(ctx: &Ctx) -> bool {
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
    common::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("www/index.html"), "hello from web\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

fn networks(ctx: &Ctx) -> Vec<serde_json::Value> {
    let out = ctx.ok(&["network", "ls", "--format", "json"]);
    serde_json::from_str(&out.stdout).unwrap()
}

fn sh(ctx: &Ctx, net: &str, script: &str) -> Out {
    ctx.rless(&["run", "--rm", "--network", net, IMG, "sh", "-c", script])
}

/// The init pid of a running container.
fn init_pid(ctx: &Ctx, name: &str) -> i32 {
    let out = ctx.ok(&["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    v[0]["State"]["Pid"].as_i64().unwrap() as i32
}

/// Processes of this test's network helper (named by its store).
fn helpers(ctx: &Ctx) -> Vec<i32> {
    let root = ctx.root.to_string_lossy().to_string();
    host_processes()
        .into_iter()
        .filter(|p| p.args.iter().any(|a| a == "network-helper") && p.args.contains(&root))
        .map(|p| p.pid)
        .collect()
}

/// Waits (bounded) until the helper has exited by itself.
fn helper_gone(ctx: &Ctx) -> bool {
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
fn leftovers(ctx: &Ctx) -> Vec<String> {
    let root = ctx.root.to_string_lossy().to_string();
    host_processes()
        .into_iter()
        .filter(|p| p.uid == ctx.user.uid && p.args.iter().any(|a| a.contains(&root)))
        .map(|p| format!("{} {:?}", p.pid, p.args))
        .collect()
}

/// Opens a UDP socket on port 53 inside the network namespace of `pid`
/// (from a thread of its own) and returns what it receives within 20 s.
fn udp_receiver(pid: i32) -> Option<std::thread::JoinHandle<Vec<u8>>> {
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
        let mut buf = vec![0u8; 2048];
        match s.recv_from(&mut buf) {
            Ok((n, _)) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        }
    });
    rx.recv().unwrap();
    Some(t)
}

/// Like [`udp_receiver`], but answers the first datagram with `echo:`
/// and its content.
fn udp_echo(pid: i32) -> Option<std::thread::JoinHandle<()>> {
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
        let mut buf = vec![0u8; 2048];
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&reply, from);
        }
    });
    rx.recv().unwrap();
    Some(t)
}

#[test]
fn usernet_commands_and_bad_input() {
    for_each_user("usernet_commands_and_bad_input", |ctx| {
        let a = ctx.ok(&["network", "create", "--label", "k=v", "alpha"]);
        assert_eq!(a.stdout.trim(), "alpha");
        ctx.ok(&["network", "create", "beta"]);
        ctx.ok(&[
            "network",
            "create",
            "--subnet",
            "10.123.4.0/24",
            "--gateway",
            "10.123.4.9",
            "--internal",
            "gamma",
        ]);
        let all = networks(ctx);
        let get = |n: &str| all.iter().find(|v| v["name"] == n).unwrap().clone();
        assert_eq!(get("alpha")["subnets"][0]["subnet"], "10.89.0.0/24");
        assert_eq!(get("alpha")["subnets"][0]["gateway"], "10.89.0.1");
        assert_eq!(get("alpha")["labels"]["k"], "v");
        assert_eq!(get("beta")["subnets"][0]["subnet"], "10.89.1.0/24");
        assert_eq!(get("gamma")["subnets"][0]["gateway"], "10.123.4.9");
        assert_eq!(get("gamma")["internal"], true);
        let q = ctx.ok(&["network", "ls", "-q"]);
        assert_eq!(q.stdout, "alpha\nbeta\ngamma\n");
        let i = ctx.ok(&["network", "inspect", "beta"]);
        let v: serde_json::Value = serde_json::from_str(&i.stdout).unwrap();
        assert_eq!(v[0]["name"], "beta");

        let before = fs::read_dir(ctx.root.join("networks")).unwrap().count();
        let mut bad = vec![
            vec!["network", "create", "alpha"],
            vec!["network", "create", "--subnet", "10.89.0.0/16", "x1"],
            vec!["network", "create", "--subnet", "10.89.1.128/25", "x2"],
            vec!["network", "create", "--subnet", "10.0.2.0/24", "x3"],
            vec!["network", "create", "--subnet", "10.200.0.0", "x4"],
            vec!["network", "create", "--subnet", "10.200.0.0/33", "x5"],
            vec!["network", "create", "--subnet", "10.200.0.1/24", "x6"],
            vec!["network", "create", "--subnet", "banana/24", "x7"],
            vec![
                "network",
                "create",
                "--subnet",
                "10.200.0.0/24",
                "--gateway",
                "10.201.0.1",
                "x8",
            ],
            vec!["network", "create", "--gateway", "nope", "x9"],
            vec!["network", "create", "host"],
            vec!["network", "create", "bad/name"],
            vec!["network", "create", "-o", "mtu=9000", "x10"],
            vec!["network", "inspect", "nosuch"],
            vec!["network", "rm", "nosuch"],
        ];
        // A subnet the host routes already.
        let routes: Vec<String> = fs::read_to_string("/proc/net/route")
            .unwrap()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let dst = u32::from_str_radix(f[1], 16).ok()?;
                let mask = u32::from_str_radix(f[7], 16).ok()?;
                let p = u32::from_be_bytes(mask.to_ne_bytes()).count_ones();
                (8..=29)
                    .contains(&p)
                    .then(|| format!("{}/{p}", std::net::Ipv4Addr::from(dst.to_ne_bytes())))
            })
            .collect();
        match routes.first() {
            Some(r) => bad.push(vec!["network", "create", "--subnet", r.as_str(), "x11"]),
            None => eprintln!("note: the host has no route of prefix 8..29 to overlap"),
        }
        for args in &bad {
            let out = ctx.rless(args);
            assert_one_error(&out, 125);
        }
        assert_eq!(
            fs::read_dir(ctx.root.join("networks")).unwrap().count(),
            before
        );
        let out = ctx.rless(&["network", "create", "alpha"]);
        assert!(out.stderr.contains("already exists"), "{out}");

        // run with bad network input leaves no container behind.
        if !setup(ctx) {
            return;
        }
        for args in [
            vec!["run", "--rm", "--network", "nosuch", IMG, "true"],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "10.89.9.5",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "10.89.0.1",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--ip",
                "x",
                IMG,
                "true",
            ],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--network",
                "host",
                IMG,
                "true",
            ],
            vec!["run", "--rm", "--network-alias", "a", IMG, "true"],
            vec![
                "run",
                "--rm",
                "--network",
                "alpha",
                "--userns",
                "keep-id",
                IMG,
                "true",
            ],
        ] {
            let out = ctx.rless(&args);
            assert_one_error(&out, 125);
            assert!(containers(ctx).is_empty(), "{args:?} left a container");
        }
        // An address taken by a running container: the second run fails
        // at start, and is removed.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "holder",
            "--network",
            "alpha",
            "--ip",
            "10.89.0.7",
            IMG,
            "sleep",
            "60",
        ]);
        let out = ctx.rless(&[
            "run",
            "-d",
            "--network",
            "alpha",
            "--ip",
            "10.89.0.7",
            IMG,
            "sleep",
            "60",
        ]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("already in use"), "{out}");
        assert_eq!(containers(ctx).len(), 1);
        ctx.ok(&["rm", "-f", "holder"]);

        let p = ctx.ok(&["network", "prune"]);
        assert_eq!(p.stdout, "alpha\nbeta\ngamma\n");
        assert!(networks(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_tcp_and_udp_by_name_and_alias() {
    for_each_user("usernet_tcp_and_udp_by_name_and_alias", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "app"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "app",
            "--network-alias",
            "www",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        // Straight after `run -d` returns: the name must already resolve.
        let out = sh(
            ctx,
            "app",
            "wget -q -O - http://web/index.html && wget -q -O - http://www/index.html \
             && cat /etc/resolv.conf /etc/hosts && ip -4 addr show eth0",
        );
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.matches("hello from web").count(), 2, "{out}");
        assert!(out.stdout.contains("nameserver 10.89.0.1"), "{out}");
        assert!(out.stdout.contains("inet 10.89.0."), "{out}");
        // The container's own /etc/hosts names it with its address.
        let h = ctx.ok(&["exec", "web", "cat", "/etc/hosts"]);
        assert!(
            h.stdout.contains("10.89.0.2\t") && h.stdout.contains("web"),
            "{h}"
        );

        // UDP: a datagram to the container by name, and by alias, arrives
        // in its namespace (nslookup sends its query to web:53).
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "sink",
            "--network",
            "app",
            "--network-alias",
            "drain",
            IMG,
            "sleep",
            "120",
        ]);
        let pid = init_pid(ctx, "sink");
        for target in ["sink", "drain"] {
            let Some(rx) = udp_receiver(pid) else {
                break;
            };
            let probe = format!("probe-{target}");
            let _ = sh(ctx, "app", &format!("timeout 3 nslookup {probe} {target}"));
            let got = rx.join().unwrap();
            assert!(
                String::from_utf8_lossy(&got).contains(&probe),
                "no UDP datagram reached {target}: {got:?}"
            );
        }
        // TCP with nc, both ways of naming.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "talk",
            "--network",
            "app",
            IMG,
            "sh",
            "-c",
            "echo pong | nc -l -p 7000",
        ]);
        let out = sh(
            ctx,
            "app",
            "for i in 1 2 3 4 5 6 7 8 9 10; do nc talk 7000 && break; sleep 0.2; done",
        );
        assert!(out.stdout.contains("pong"), "{out}");

        ctx.ok(&["rm", "-f", "web", "sink", "talk"]);
        ctx.ok(&["network", "rm", "app"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

#[test]
fn usernet_isolation_internal_and_outbound() {
    for_each_user("usernet_isolation_internal_and_outbound", |ctx| {
        if !setup(ctx) {
            return;
        }
        let host = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = host.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in host.incoming().flatten() {
                use std::io::Write;
                let _ = (&c).write_all(b"host-says-hi\n");
            }
        });
        ctx.ok(&["network", "create", "-o", "allow_host_loopback=true", "red"]);
        ctx.ok(&["network", "create", "blue"]);
        ctx.ok(&[
            "network",
            "create",
            "--internal",
            "-o",
            "allow_host_loopback=true",
            "vault",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "r1",
            "--network",
            "red",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let same = sh(ctx, "red", "timeout 10 wget -q -O - http://r1/index.html");
        assert!(same.stdout.contains("hello from web"), "{same}");
        // From another network: neither the name nor the address.
        let other = sh(
            ctx,
            "blue",
            "nslookup r1 >/dev/null 2>&1 && echo RESOLVED; nc -w 2 10.89.0.2 80 </dev/null && echo CONNECTED; echo done",
        );
        assert!(other.stdout.contains("done"), "{other}");
        assert!(!other.stdout.contains("RESOLVED"), "{other}");
        assert!(!other.stdout.contains("CONNECTED"), "{other}");
        // Outbound through the network's netstack: the host's loopback.
        let out = sh(ctx, "red", &format!("nc -w 5 10.0.2.2 {port} </dev/null"));
        assert!(out.stdout.contains("host-says-hi"), "{out}");
        // --internal: no way out, though the option is the same.
        let out = sh(
            ctx,
            "vault",
            &format!("nc -w 3 10.0.2.2 {port} </dev/null; echo rc=$?"),
        );
        assert!(!out.stdout.contains("host-says-hi"), "{out}");
        assert!(out.stdout.contains("rc=1"), "{out}");
        // A container on two networks reaches both.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "b1",
            "--network",
            "blue",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let both = ctx.rless(&[
            "run",
            "--rm",
            "--network",
            "red",
            "--network",
            "blue",
            IMG,
            "sh",
            "-c",
            "wget -q -O - http://r1/index.html && wget -q -O - http://b1/index.html",
        ]);
        assert_eq!(both.stdout.matches("hello from web").count(), 2, "{both}");
        ctx.ok(&["rm", "-f", "r1", "b1"]);
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_rm_refused_while_attached() {
    for_each_user("usernet_rm_refused_while_attached", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "busy"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "c1",
            "--network",
            "busy",
            IMG,
            "sleep",
            "60",
        ]);
        let out = ctx.rless(&["network", "rm", "busy"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("c1"), "{out}");
        // A stopped container still uses it.
        ctx.ok(&["stop", "-t", "1", "c1"]);
        assert_one_error(&ctx.rless(&["network", "rm", "busy"]), 125);
        // Started again, it is on its network again, under its name.
        ctx.ok(&["start", "c1"]);
        let out = sh(ctx, "busy", "nslookup c1 && ping -c 1 -W 3 c1");
        assert!(out.success(), "{out}");
        ctx.ok(&["stop", "-t", "1", "c1"]);
        let p = ctx.ok(&["network", "prune"]);
        assert!(p.stdout.is_empty(), "{p}");
        ctx.ok(&["rm", "c1"]);
        ctx.ok(&["network", "rm", "busy"]);
        assert!(networks(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}

#[test]
fn usernet_killed_helper_is_recovered() {
    for_each_user("usernet_killed_helper_is_recovered", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "rec"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "rec",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let pids = helpers(ctx);
        assert_eq!(pids.len(), 1, "one helper: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while helpers(ctx).contains(&pids[0]) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // The next run starts a new helper, which gives the running
        // container its network back: it is reached by name.
        let out = sh(ctx, "rec", "timeout 10 wget -q -O - http://web/index.html");
        assert!(out.stdout.contains("hello from web"), "{out}");
        assert_eq!(helpers(ctx).len(), 1);
        ctx.ok(&["rm", "-f", "web"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

#[test]
fn usernet_twenty_containers_leak_nothing() {
    for_each_user("usernet_twenty_containers_leak_nothing", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "--subnet", "10.89.77.0/29", "loop"]);
        // A /29 has 5 addresses for containers: 20 rounds only work if
        // every removed container gives its address back.
        for i in 0..20 {
            let name = format!("l{i}");
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "loop",
                IMG,
                "sleep",
                "60",
            ]);
            let out = ctx.ok(&["exec", &name, "ip", "-4", "addr", "show", "eth0"]);
            assert!(
                out.stdout.contains("inet 10.89.77.2/29"),
                "round {i}: {out}"
            );
            ctx.ok(&["rm", "-f", &name]);
        }
        assert!(containers(ctx).is_empty());
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
        // Nothing of the network remains but its definition.
        let dir = std::env::var("XDG_RUNTIME_DIR").ok();
        let _ = dir;
        ctx.ok(&["network", "rm", "loop"]);
    });
}

#[test]
fn usernet_published_port() {
    for_each_user("usernet_published_port", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "pub"]);
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let spec = format!("127.0.0.1:{port}:80");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "pw",
            "-p",
            &spec,
            "--network",
            "pub",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        let p = ctx.ok(&["port", "pw"]);
        assert!(
            p.stdout.contains(&format!("80/tcp -> 127.0.0.1:{port}")),
            "{p}"
        );
        let body = http_get(port);
        assert!(body.contains("hello from web"), "{body}");
        // The port is taken: the next run fails at once and leaves nothing.
        let out = ctx.rless(&[
            "run",
            "-d",
            "--name",
            "pw2",
            "-p",
            &spec,
            "--network",
            "pub",
            IMG,
            "true",
        ]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("already in use"), "{out}");
        assert_eq!(containers(ctx).len(), 1);
        // UDP: a datagram to the published port arrives in the container
        // (at a socket the test opens in its namespace), and the answer
        // comes back to the client.
        let uport = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uspec = format!("127.0.0.1:{uport}:53/udp");
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "pu",
            "-p",
            &uspec,
            "--network",
            "pub",
            IMG,
            "sleep",
            "60",
        ]);
        if let Some(rx) = udp_echo(init_pid(ctx, "pu")) {
            let client = UdpSocket::bind("127.0.0.1:0").unwrap();
            client
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut buf = [0u8; 64];
            let mut answer = None;
            for _ in 0..20 {
                client.send_to(b"udp-ping", ("127.0.0.1", uport)).unwrap();
                if let Ok((n, _)) = client.recv_from(&mut buf) {
                    answer = Some(buf[..n].to_vec());
                    break;
                }
            }
            assert_eq!(answer.as_deref(), Some(&b"echo:udp-ping"[..]));
            rx.join().unwrap();
        }
        ctx.ok(&["rm", "-f", "pw", "pu"]);
        // The host port is free again.
        TcpListener::bind(("127.0.0.1", port)).expect("the host port was released");
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

/// GET /index.html on 127.0.0.1:port, retrying while the server starts.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("200") || Instant::now() > deadline {
                return body;
            }
        } else if Instant::now() > deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn usernet_connect_and_disconnect() {
    for_each_user("usernet_connect_and_disconnect", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "front"]);
        ctx.ok(&["network", "create", "back"]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "db",
            "--network",
            "back",
            IMG,
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/www",
        ]);
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "app",
            "--network",
            "front",
            IMG,
            "sleep",
            "120",
        ]);
        let get = "timeout 10 wget -q -O - http://db/index.html; echo rc=$?";
        let before = ctx.ok(&["exec", "app", "sh", "-c", get]);
        assert!(!before.stdout.contains("hello from web"), "{before}");
        ctx.ok(&["network", "connect", "--alias", "api", "back", "app"]);
        let v: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["inspect", "app"]).stdout).unwrap();
        let nets = &v[0]["NetworkSettings"]["Networks"];
        assert!(
            nets["front"]["IPAddress"]
                .as_str()
                .unwrap()
                .starts_with("10.89.0."),
            "{v}"
        );
        assert!(
            nets["back"]["IPAddress"]
                .as_str()
                .unwrap()
                .starts_with("10.89.1."),
            "{v}"
        );
        let after = ctx.ok(&["exec", "app", "sh", "-c", get]);
        assert!(after.stdout.contains("hello from web"), "{after}");
        // The new alias resolves for the others on that network.
        let alias = ctx.ok(&["exec", "db", "nslookup", "api"]);
        assert!(alias.stdout.contains("10.89.1."), "{alias}");
        // Bad input: unknown network or container, twice, the last network.
        for args in [
            vec!["network", "connect", "nosuch", "app"],
            vec!["network", "connect", "back", "nosuch"],
            vec!["network", "connect", "back", "app"],
            vec!["network", "connect", "--ip", "10.99.0.5", "front", "db"],
            vec!["network", "disconnect", "back", "db"],
        ] {
            assert_one_error(&ctx.rless(&args), 125);
        }
        ctx.ok(&["network", "disconnect", "back", "app"]);
        let gone = ctx.ok(&[
            "exec",
            "app",
            "sh",
            "-c",
            "ip -4 addr; nslookup db; echo done",
        ]);
        assert!(!gone.stdout.contains("10.89.1."), "{gone}");
        ctx.ok(&["rm", "-f", "db", "app"]);
        assert!(helper_gone(ctx), "the helper did not exit");
    });
}
