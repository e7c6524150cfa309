//! User-defined networks (issue 9), their DNS servers with real traffic:
//! names they do not own forwarded to the asking container's `--dns`
//! servers or the host's resolver (responders the test runs on loopback
//! port 53, so the tests run as root), and those forwarded queries in
//! flight together: a black-hole upstream holds no one up.
//! Shared helpers and constants are in `common::usernet_helpers`.

mod common;

use common::checks::{assert_one_error, containers};
use common::for_each_user;
use common::usernet_helpers::*;
use std::time::{Duration, Instant};

/// `--dns` on a user network: resolv.conf keeps the network's server,
/// which answers the container names itself and forwards the rest to the
/// asking container's --dns servers (a responder on loopback), others'
/// to the host's resolver (another one, named by RLESS_RESOLV_CONF); so
/// after `network connect`/`disconnect` and a killed helper.
#[test]
fn usernet_dns_forwards_to_the_container_servers() {
    use std::net::Ipv4Addr;
    if !common::is_root() {
        common::skip("binding port 53 for the test's DNS servers needs root");
        return;
    }
    let n = (std::process::id() % 200 + 20) as u8;
    let (host_ip, own_ip) = (Ipv4Addr::new(127, 78, n, 1), Ipv4Addr::new(127, 78, n, 2));
    let host_dns = Responder::start(host_ip, Ipv4Addr::new(192, 0, 2, 1));
    let own_dns = Responder::start(own_ip, Ipv4Addr::new(198, 51, 100, 7));
    for_each_user("usernet_dns_forwards_to_the_container_servers", |ctx| {
        if !setup(ctx) {
            return;
        }
        let conf = ctx.write_file("resolv.conf", format!("nameserver {host_ip}\n").as_bytes());
        // Every command: the helper reads the host's resolvers from it.
        let run = |args: &[&str]| {
            let mut cmd = ctx.rless_cmd(args);
            cmd.env("RLESS_RESOLV_CONF", &conf);
            common::run_cmd(cmd, None, common::CMD_TIMEOUT, &ctx.user.name)
        };
        let ok = |args: &[&str]| {
            let out = run(args);
            assert!(out.success(), "{out}");
            out
        };
        ok(&["network", "create", "names"]);
        ok(&["network", "create", "names2"]);
        let own = own_ip.to_string();
        ok(&[
            "run",
            "-d",
            "--name",
            "peer",
            "--network",
            "names",
            IMG,
            "sleep",
            "120",
        ]);
        ok(&[
            "run",
            "-d",
            "--name",
            "mine",
            "--network",
            "names",
            "--dns",
            &own,
            "--dns-search",
            "corp.invalid",
            "--dns-option",
            "ndots:1",
            IMG,
            "sleep",
            "120",
        ]);
        let resolv = ctx.ok(&["exec", "mine", "cat", "/etc/resolv.conf"]).stdout;
        assert_eq!(
            resolv,
            "search corp.invalid\noptions ndots:1\nnameserver 10.89.0.1\n"
        );
        // The peer by its absolute name; the short one goes to the search
        // domain first, an external name (busybox's nslookup stops there).
        let out = ctx.ok(&[
            "exec",
            "mine",
            "sh",
            "-c",
            "nslookup peer.; nslookup peer; nslookup ext.test",
        ]);
        assert!(
            out.stdout.contains("Address: 10.89.0.2"),
            "the peer by name: {out}"
        );
        assert!(own_dns.asked().contains(&"peer.corp.invalid".to_string()));
        assert!(out.stdout.contains("198.51.100.7"), "through --dns: {out}");
        assert!(!out.stdout.contains("192.0.2.1"), "{out}");
        // Without --dns: the host's resolver.
        let out = run(&[
            "run",
            "--rm",
            "--network",
            "names",
            IMG,
            "nslookup",
            "other.ext.test",
        ]);
        assert!(out.stdout.contains("192.0.2.1"), "{out}");
        assert!(!out.stdout.contains("198.51.100.7"), "{out}");
        assert!(host_dns.asked().contains(&"other.ext.test".to_string()));
        assert!(!own_dns.asked().contains(&"other.ext.test".to_string()));
        assert!(!own_dns
            .asked()
            .iter()
            .chain(&host_dns.asked())
            .any(|q| q == "peer"));

        // connect/disconnect rewrite the servers, keep search and options;
        // the other network's server forwards for it as well.
        ok(&["network", "connect", "names2", "mine"]);
        ok(&["network", "disconnect", "names", "mine"]);
        let out = ctx.ok(&[
            "exec",
            "mine",
            "sh",
            "-c",
            "cat /etc/resolv.conf; nslookup ext.test",
        ]);
        assert!(
            out.stdout
                .starts_with("search corp.invalid\noptions ndots:1\nnameserver 10.89.1.1\n"),
            "{out}"
        );
        assert!(out.stdout.contains("198.51.100.7"), "{out}");

        // A new helper (the old one killed) has the servers again.
        let pids = helpers(ctx);
        assert_eq!(pids.len(), 1, "one helper: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut out = ctx.rless(&["exec", "mine", "nslookup", "again.ext.test"]);
        while !out.stdout.contains("198.51.100.7") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            out = ctx.rless(&["exec", "mine", "nslookup", "again.ext.test"]);
        }
        assert!(
            out.stdout.contains("198.51.100.7"),
            "after a new helper: {out}"
        );
        assert!(!host_dns.asked().contains(&"again.ext.test".to_string()));

        // The flags elsewhere: the host's network keeps the host's servers.
        let out = ctx.ok(&[
            "run",
            "--rm",
            "--network",
            "host",
            "--dns-search",
            "x.invalid",
            IMG,
            "cat",
            "/etc/resolv.conf",
        ]);
        assert!(out.stdout.starts_with("search x.invalid\n"), "{out}");
        let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        for l in host_conf.lines().filter(|l| l.starts_with("nameserver")) {
            assert!(out.stdout.contains(l.trim()), "{l}: {out}");
        }
        // Bad input: one line, exit 125, no container left.
        for bad in [
            vec!["--dns", "not-an-ip"],
            vec!["--dns-search", "a b"],
            vec!["--dns-option", ""],
        ] {
            let mut args = vec!["run", "--network", "names2"];
            args.extend(bad);
            args.extend([IMG, "true"]);
            assert_one_error(&ctx.rless(&args), 125);
        }
        assert_eq!(containers(ctx).len(), 2);
        ctx.ok(&["rm", "-f", "peer", "mine"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

/// A container's `--dns` server that never answers (a black hole the test
/// holds) holds no one up. While its query is provably pending (the hole
/// has it, the client has no reply yet), the same client's query for a
/// peer's name is answered first; other containers resolve names and
/// external names (a working responder); the query then fails (SERVFAIL)
/// with its own id. A flood beyond one client's bound of queries in flight
/// (64) gets SERVFAIL at once, the rest wait their deadline, and the
/// others are served meanwhile; the 64 waiting left from 64 source ports.
/// Garbage sent to the server is ignored.
#[test]
fn usernet_dns_black_hole_holds_no_one() {
    use std::net::Ipv4Addr;
    if !common::is_root() {
        common::skip("binding port 53 for the test's DNS servers needs root");
        return;
    }
    let n = (std::process::id() % 200 + 20) as u8;
    let (good_ip, hole_ip) = (Ipv4Addr::new(127, 79, n, 1), Ipv4Addr::new(127, 79, n, 2));
    let good = Responder::start(good_ip, Ipv4Addr::new(203, 0, 113, 5));
    let hole = Responder::black_hole(hole_ip);
    for_each_user("usernet_dns_black_hole_holds_no_one", |ctx| {
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
        ok(&["network", "create", "holes"]);
        let hole_arg = hole_ip.to_string();
        for (name, dns) in [("peer", None), ("stuck", Some(&hole_arg)), ("other", None)] {
            let mut args = vec!["run", "-d", "--name", name, "--network", "holes"];
            args.extend(dns.iter().flat_map(|d| ["--dns", d.as_str()]));
            args.extend([IMG, "sleep", "120"]);
            ok(&args);
        }
        let peer = Ipv4Addr::new(10, 89, 0, 2);
        // The test's own client, in stuck's namespace (so its --dns applies).
        let Some(s) = udp_socket_in(init_pid(ctx, "stuck")) else {
            return;
        };
        s.connect("10.89.0.1:53").unwrap();
        let base = hole.asked().len();
        s.send(&dns_query(1, "slow.test")).unwrap();
        assert!(hole.wait_asked(base + 1), "the black hole got no query");
        assert_eq!(hole.asked()[base], "slow.test");
        // Pending: the peer's answer comes before the slow query's end.
        s.send(&[0xff; 7]).unwrap();
        s.send(&dns_query(2, "peer")).unwrap();
        assert_eq!(
            dns_reply(&s),
            (2, 0, Some(peer)),
            "answered after the slow one"
        );
        let out = ctx.ok(&[
            "exec",
            "other",
            "sh",
            "-c",
            "nslookup stuck; nslookup ext.test",
        ]);
        assert!(out.stdout.contains("Address: 10.89.0.3"), "{out}");
        assert!(out.stdout.contains("203.0.113.5"), "{out}");
        let out = ctx.ok(&["exec", "stuck", "nslookup", "peer."]);
        assert!(out.stdout.contains("Address: 10.89.0.2"), "{out}");
        // The slow one fails in the end, with its client's id.
        assert_eq!(dns_reply(&s), (1, 2, None));
        assert_eq!(hole.asked().len(), base + 1, "{:?}", hole.asked());

        // A flood of 67: the 3 beyond the bound fail at once, in order.
        let base = hole.asked().len();
        for i in 0..67u16 {
            s.send(&dns_query(100 + i, &format!("f{i}.test"))).unwrap();
        }
        for id in 164..167 {
            assert_eq!(dns_reply(&s), (id, 2, None));
        }
        assert!(hole.wait_asked(base + 64), "{:?}", hole.asked());
        // Meanwhile: a peer's name for the same client first, then other
        // containers' names and external names.
        s.send(&dns_query(3, "other")).unwrap();
        assert_eq!(dns_reply(&s), (3, 0, Some(Ipv4Addr::new(10, 89, 0, 4))));
        let out = ctx.ok(&[
            "exec",
            "other",
            "sh",
            "-c",
            "nslookup more.test; nslookup peer",
        ]);
        assert!(out.stdout.contains("203.0.113.5"), "{out}");
        assert!(out.stdout.contains("Address: 10.89.0.2"), "{out}");
        let mut ids: Vec<u16> = (0..64)
            .map(|_| match dns_reply(&s) {
                (id, 2, None) => id,
                r => panic!("not a SERVFAIL: {r:?}"),
            })
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (100..164).collect::<Vec<u16>>());
        let asked = hole.asked()[base..].to_vec();
        assert_eq!(asked.len(), 64, "{asked:?}");
        // All in flight at once, each from a port of its own (RFC 5452).
        let ports: std::collections::BTreeSet<u16> =
            hole.log()[base..].iter().map(|a| a.port).collect();
        assert_eq!(ports.len(), 64, "shared source ports: {ports:?}");
        assert!(!asked
            .iter()
            .any(|a| ["f64.test", "f65.test", "f66.test"].contains(&a.as_str())));
        assert!(!good
            .asked()
            .iter()
            .any(|a| a.starts_with('f') || a == "slow.test"));
        ctx.ok(&["rm", "-f", "peer", "stuck", "other"]);
        ctx.ok(&["network", "rm", "holes"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}

/// An alias three containers share (`--network-alias`, `network connect
/// --alias`) answers with every holder's address, the first one turning
/// from answer to answer, as docker's round robin; a container's own name
/// answers with it alone, even where another took it as an alias (and
/// passes to that one when it leaves). Holders that leave (rm,
/// disconnect) leave the answer; a new helper (the old one killed) has
/// the same answer from its attachments. Queries from the test's socket in
/// a client container's namespace, answers read record by record.
#[test]
fn usernet_dns_shared_alias_answers_every_holder() {
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;
    for_each_user("usernet_dns_shared_alias_answers_every_holder", |ctx| {
        if !setup(ctx) {
            return;
        }
        // Internal: names it does not hold are NXDOMAIN, not asked upstream.
        ctx.ok(&["network", "create", "--internal", "lb"]);
        ctx.ok(&["network", "create", "lb2"]);
        let gw = Ipv4Addr::new(10, 89, 0, 1);
        for w in ["w1", "w2", "w3"] {
            ctx.ok(&[
                "run",
                "-d",
                "--name",
                w,
                "--network",
                "lb",
                "--network-alias",
                "web",
                IMG,
                "sleep",
                "120",
            ]);
        }
        let client = run_client(ctx, "lb");
        let Some(_) = udp_socket_in(client) else {
            return;
        };
        let ask = |name: &str| dns_addresses(client, gw, name).expect("a DNS reply");
        let one = |name: &str| match ask(name) {
            (0, ips) if ips.len() == 1 => ips[0],
            r => panic!("{name}: not one address: {r:?}"),
        };
        let set = |ips: &[Ipv4Addr]| ips.iter().copied().collect::<BTreeSet<_>>();
        let (w1, w2, w3) = (one("w1"), one("w2"), one("w3"));
        assert_eq!(set(&[w1, w2, w3]).len(), 3);
        // Every holder, once each; the first turns.
        let mut firsts = BTreeSet::new();
        for _ in 0..3 {
            let (rcode, ips) = ask("web");
            assert_eq!(rcode, 0);
            assert_eq!(ips.len(), 3, "{ips:?}");
            assert_eq!(set(&ips), set(&[w1, w2, w3]), "{ips:?}");
            firsts.insert(ips[0]);
        }
        assert!(firsts.len() > 1, "always the same first: {firsts:?}");
        // The container's resolver sees all three too.
        let out = ctx.ok(&["exec", "client", "nslookup", "web"]);
        for ip in [w1, w2, w3] {
            assert!(out.stdout.contains(&format!("Address: {ip}")), "{out}");
        }

        // w1's name taken as another's alias: the name stays w1's alone.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "x",
            "--network",
            "lb",
            "--network-alias",
            "w1",
            IMG,
            "sleep",
            "120",
        ]);
        let x = one("x");
        assert_eq!(one("w1"), w1);

        // One removed: two left. The name w1 passes to x.
        ctx.ok(&["rm", "-f", "w1"]);
        assert_eq!(set(&ask("web").1), set(&[w2, w3]));
        assert_eq!(one("w1"), x);
        // `network connect --alias` joins the holders, disconnect leaves.
        ctx.ok(&[
            "run",
            "-d",
            "--name",
            "w4",
            "--network",
            "lb2",
            IMG,
            "sleep",
            "120",
        ]);
        ctx.ok(&["network", "connect", "--alias", "web", "lb", "w4"]);
        let web = ask("web").1;
        assert_eq!(web.len(), 3, "{web:?}");
        let w4 = *set(&web).difference(&set(&[w2, w3])).next().expect("w4");
        assert_eq!(one("w4"), w4);
        ctx.ok(&["network", "disconnect", "lb", "w4"]);
        assert_eq!(set(&ask("web").1), set(&[w2, w3]));
        assert_eq!(ask("w4"), (3, vec![]), "w4 is on lb2 only now");
        // A stopped holder leaves too.
        ctx.ok(&["stop", "-t", "0", "w3"]);
        assert_eq!(ask("web").1, [w2]);
        ctx.ok(&["start", "w3"]);
        assert_eq!(set(&ask("web").1), set(&[w2, one("w3")]));
        let w3 = one("w3");

        // A new helper (the old one killed) answers the same.
        let pids = helpers(ctx);
        assert_eq!(pids.len(), 1, "one helper: {pids:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pids[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut web = dns_addresses(client, gw, "web");
        while web.as_ref().map(|(_, ips)| ips.len()) != Some(2) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            web = dns_addresses(client, gw, "web");
        }
        let web = web.expect("no answer from a new helper").1;
        assert_eq!(set(&web), set(&[w2, w3]), "after a new helper");
        assert_eq!(one("w1"), x);

        // Names nobody holds: NXDOMAIN; the alias goes with its last holder.
        assert_eq!(ask("nobody"), (3, vec![]));
        ctx.ok(&["rm", "-f", "w2", "w3"]);
        assert_eq!(ask("web"), (3, vec![]));
        ctx.ok(&["rm", "-f", "x", "w4", "client"]);
        ctx.ok(&["network", "rm", "lb", "lb2"]);
        assert!(helper_gone(ctx), "the helper did not exit");
        assert!(leftovers(ctx).is_empty(), "{:?}", leftovers(ctx));
    });
}
