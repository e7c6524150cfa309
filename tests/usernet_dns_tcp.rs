//! The DNS server of a user network over TCP (RFC 7766): names it owns
//! answered on length-prefixed, pipelined connections (a shared alias with
//! every holder, where UDP is cut to 512 bytes), other names forwarded over
//! TCP to the asking container's `--dns` servers or the host's resolver
//! (responders the test runs on loopback port 53, so the tests run as
//! root), and connections that stall holding no one up. Queries come from
//! the test's sockets opened in a client container's network namespace.
//! Shared helpers are in `common::usernet_helpers`.

mod common;

use common::for_each_user;
use common::usernet_helpers::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

const GW: ([u8; 4], u16) = ([10, 89, 0, 1], 53);

/// Connects to the network's server over TCP from `pid`'s namespace.
fn connect(pid: i32) -> std::net::TcpStream {
    tcp_stream_in(pid, SocketAddr::from(GW))
        .expect("a socket in the namespace")
        .expect("connect to the network's DNS server over TCP")
}

/// Asks `name` on `s` with `id`; the reply.
fn ask(s: &mut std::net::TcpStream, id: u16, name: &str) -> Reply {
    tcp_send(s, &[dns_query(id, name)]);
    parse_reply(&tcp_recv(s))
}

/// A container's TCP queries: a peer's name answered at once, pipelined
/// behind an external name that waits on a black hole (its first `--dns`
/// server), which then comes from its second server over TCP; a container
/// without `--dns` gets the host's resolver over TCP; one whose only
/// server is the hole gets SERVFAIL with its id.
#[test]
fn usernet_dns_tcp_answers_and_forwards() {
    if !common::is_root() {
        common::skip("binding port 53 for the test's DNS servers needs root");
        return;
    }
    let n = (std::process::id() % 200 + 20) as u8;
    let (good_ip, hole_ip) = (Ipv4Addr::new(127, 80, n, 1), Ipv4Addr::new(127, 80, n, 2));
    let ext = Ipv4Addr::new(203, 0, 113, 9);
    let good = Responder::start(good_ip, ext);
    let hole = Responder::black_hole(hole_ip);
    for_each_user("usernet_dns_tcp_answers_and_forwards", |ctx| {
        if !setup(ctx) {
            return;
        }
        let conf = ctx.write_file("resolv.conf", format!("nameserver {good_ip}\n").as_bytes());
        let ok = |args: &[&str]| {
            let mut cmd = ctx.rless_cmd(args);
            cmd.env("RLESS_RESOLV_CONF", &conf);
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "{out}");
            out
        };
        ok(&["network", "create", "tcpdns"]);
        let (good_arg, hole_arg) = (good_ip.to_string(), hole_ip.to_string());
        for (name, dns) in [
            ("peer", vec![]),
            ("client", vec![&hole_arg, &good_arg]),
            ("solo", vec![]),
            ("stuck", vec![&hole_arg]),
        ] {
            let mut args = vec!["run", "-d", "--name", name, "--network", "tcpdns"];
            args.extend(dns.iter().flat_map(|d| ["--dns", d.as_str()]));
            args.extend([IMG, "sleep", "120"]);
            ok(&args);
        }
        let peer = Ipv4Addr::new(10, 89, 0, 2);
        let mut s = connect(init_pid(ctx, "client"));
        // Two queries in one write: the external one reaches the hole
        // over TCP and waits there; the peer's answer comes first.
        let base = hole.log().len();
        tcp_send(&mut s, &[dns_query(1, "ext.test"), dns_query(2, "peer")]);
        assert!(hole.wait_asked(base + 1), "the hole got no query");
        let asked = &hole.log()[base];
        assert_eq!((asked.name.as_str(), asked.tcp), ("ext.test", true));
        let first = parse_reply(&tcp_recv(&mut s));
        assert_eq!((first.id, first.rcode, first.ips), (2, 0, vec![peer]));
        let second = parse_reply(&tcp_recv(&mut s));
        assert_eq!((second.id, second.rcode), (1, 0), "{second:?}");
        assert_eq!(second.ips, [ext]);
        let from_good: Vec<Asked> = good
            .log()
            .into_iter()
            .filter(|a| a.name == "ext.test")
            .collect();
        assert!(
            !from_good.is_empty() && from_good.iter().all(|a| a.tcp),
            "the second server, over TCP only: {from_good:?}"
        );
        // The same connection goes on: a name, and an upstream NXDOMAIN.
        let r = ask(&mut s, 3, "solo");
        assert_eq!(
            (r.id, r.rcode, r.ips),
            (3, 0, vec![Ipv4Addr::new(10, 89, 0, 4)])
        );

        // No --dns: the host's resolver, over TCP.
        let mut t = connect(init_pid(ctx, "solo"));
        let r = ask(&mut t, 4, "other.test");
        assert_eq!((r.id, r.rcode, r.ips), (4, 0, vec![ext]));
        assert!(good.log().iter().any(|a| a.name == "other.test" && a.tcp));
        assert_eq!(ask(&mut t, 5, "nowhere.invalid").rcode, 3);
        // Only the hole: SERVFAIL in the end, with the query's id.
        let mut u = connect(init_pid(ctx, "stuck"));
        let r = ask(&mut u, 6, "gone.test");
        assert_eq!((r.id, r.rcode, r.ips), (6, 2, vec![]));
        assert!(hole.log().iter().any(|a| a.name == "gone.test" && a.tcp));
        assert!(!good.asked().contains(&"gone.test".to_string()));
        drop((s, t, u));
        ctx.ok(&["rm", "-f", "peer", "client", "solo", "stuck"]);
        ctx.ok(&["network", "rm", "tcpdns"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

/// An alias 16 containers share, so long (253 characters) that only 15
/// records fit in a 512-byte UDP answer: over UDP 15 and the truncation
/// bit, over TCP all 16. On an `--internal` network, a name nobody holds
/// is NXDOMAIN over TCP too.
#[test]
fn usernet_dns_tcp_answers_every_holder_of_a_big_alias() {
    use std::collections::BTreeSet;
    for_each_user(
        "usernet_dns_tcp_answers_every_holder_of_a_big_alias",
        |ctx| {
            if !setup(ctx) {
                return;
            }
            let alias = [
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(61),
            ]
            .join(".");
            assert_eq!(alias.len(), 253);
            ctx.ok(&["network", "create", "--internal", "many"]);
            for i in 0..16 {
                let name = format!("w{i}");
                ctx.ok(&[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--network",
                    "many",
                    "--network-alias",
                    &alias,
                    IMG,
                    "sleep",
                    "120",
                ]);
            }
            let all: BTreeSet<Ipv4Addr> = (2..18).map(|i| Ipv4Addr::new(10, 89, 0, i)).collect();
            let pid = run_client(ctx, "many");
            let Some(u) = udp_socket_in(pid) else {
                return;
            };
            u.connect(SocketAddr::from(GW)).unwrap();
            u.send(&dns_query(7, &alias)).unwrap();
            let mut b = [0u8; 2048];
            let n = u.recv(&mut b).expect("a UDP reply");
            assert!(n <= 512, "{n} bytes over UDP");
            let r = parse_reply(&b[..n]);
            assert_eq!(
                (r.id, r.rcode, r.tc, r.ips.len()),
                (7, 0, true, 15),
                "{r:?}"
            );
            assert!(r.ips.iter().all(|ip| all.contains(ip)), "{r:?}");
            let mut s = connect(pid);
            let r = ask(&mut s, 8, &alias);
            assert_eq!((r.id, r.rcode, r.tc), (8, 0, false), "{r:?}");
            assert_eq!(r.ips.len(), 16, "{r:?}");
            assert_eq!(r.ips.iter().copied().collect::<BTreeSet<_>>(), all);
            assert_eq!(ask(&mut s, 9, "elsewhere.test").rcode, 3);
            drop(s);
            let names: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
            let mut args = vec!["rm", "-f", "client"];
            args.extend(names.iter().map(String::as_str));
            ctx.ok(&args);
            ctx.ok(&["network", "rm", "many"]);
            assert!(helper_gone(ctx), "the helper did not exit");
            assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
        },
    );
}

/// A TCP client that connects and sends nothing, and one that sends half
/// a query, hold no one up: while both are open, a UDP query and another
/// TCP connection's query are answered, and then each stalled one still
/// gets its own answer (so it was held open all along). At 16
/// connections of one container, one more drops that container's idlest
/// (the server closes it) and is served, while another container's
/// connection, idler, stays. The helper, started with a soft open-files
/// limit of 256, has raised it to the hard limit.
#[test]
fn usernet_dns_tcp_stalled_clients_hold_no_one() {
    for_each_user("usernet_dns_tcp_stalled_clients_hold_no_one", |ctx| {
        if !setup(ctx) {
            return;
        }
        ctx.ok(&["network", "create", "--internal", "stall"]);
        // Started with a soft open-files limit of 256 (the hard one as
        // the test's), the helper raises it to the hard one.
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        for name in ["peer", "client"] {
            let mut cmd = ctx.rless_cmd(&[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "stall",
                IMG,
                "sleep",
                "120",
            ]);
            // SAFETY: the closure runs in the forked child before exec and
            // only makes one system call (setrlimit is async-signal-safe).
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    let l = rustix::process::Rlimit {
                        current: Some(256),
                        maximum: hard,
                    };
                    rustix::process::setrlimit(rustix::process::Resource::Nofile, l)?;
                    Ok(())
                });
            }
            let out = common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name);
            assert!(out.success(), "{out}");
        }
        let helper = helpers(ctx);
        assert_eq!(helper.len(), 1, "{helper:?}");
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", helper[0])).unwrap();
        let files: Vec<&str> = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap()
            .split_whitespace()
            .collect();
        let want = hard.map_or("unlimited".to_string(), |h| h.to_string());
        assert_eq!(files[3..5], [want.as_str(), want.as_str()], "{limits}");
        let (peer, client) = (Ipv4Addr::new(10, 89, 0, 2), Ipv4Addr::new(10, 89, 0, 3));
        let pid = init_pid(ctx, "client");
        let Some(u) = udp_socket_in(pid) else {
            return;
        };
        // A connection of the peer's, idle the longest of all.
        let mut of_peer = connect(init_pid(ctx, "peer"));
        assert_eq!(ask(&mut of_peer, 9, "client").ips, [client]);
        let mut idle = connect(pid);
        let mut half = connect(pid);
        let q = dns_query(10, "peer");
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        half.write_all(&framed[..5]).unwrap();
        // Meanwhile: UDP, and another connection.
        u.connect(SocketAddr::from(GW)).unwrap();
        u.send(&dns_query(11, "peer")).unwrap();
        assert_eq!(dns_reply(&u), (11, 0, Some(peer)));
        let mut other = connect(pid);
        let r = ask(&mut other, 12, "peer");
        assert_eq!((r.id, r.ips), (12, vec![peer]));
        // The stalled ones were kept: each gets its answer now.
        half.write_all(&framed[5..]).unwrap();
        let r = parse_reply(&tcp_recv(&mut half));
        assert_eq!((r.id, r.ips), (10, vec![peer]));
        let r = ask(&mut idle, 13, "client");
        assert_eq!((r.id, r.ips), (13, vec![client]));

        // 13 more make the client's 16; `other` has been idle the longest
        // of them.
        let mut more = Vec::new();
        for i in 0..13u16 {
            let mut c = connect(pid);
            assert_eq!(ask(&mut c, 100 + i, "peer").id, 100 + i);
            more.push(c);
        }
        let mut last = connect(pid);
        assert_eq!(ask(&mut last, 14, "peer").ips, [peer]);
        let mut b = [0u8; 1];
        assert_eq!(other.read(&mut b).unwrap(), 0, "the idlest was not closed");
        assert_eq!(ask(&mut idle, 15, "peer").ips, [peer]);
        assert_eq!(ask(&mut more[0], 16, "peer").ips, [peer]);
        assert_eq!(ask(&mut of_peer, 17, "client").ips, [client]);
        drop((idle, half, other, more, last, of_peer));
        ctx.ok(&["rm", "-f", "peer", "client"]);
        ctx.ok(&["network", "rm", "stall"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}
