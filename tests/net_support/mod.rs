//! Helpers shared by the network test files: the busybox image with the
//! UDP echo helper, free ports, HTTP polling, container state, and the
//! set-up of the pod and kube tests ([`for_each_user_with_net`]).

#![allow(dead_code)]

use crate::common::lifecycle_helpers::Cleanup;
use crate::common::oci::busybox;
use crate::common::{for_each_user, skip, Ctx, Out, ERR_EXIT};
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

pub const IMG: &str = "netbb";
pub const APPLETS: &[&str] = &[
    "sh", "httpd", "nc", "cat", "echo", "sleep", "ip", "wget", "grep", "true", "ping", "nslookup",
    "head",
];

/// The UDP echo helper (tests/helpers/udp_echo.rs) built statically once,
/// so it runs in the busybox image.
pub fn udp_echo() -> &'static [u8] {
    static BIN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/udp_echo.rs");
        // Per process: test runs in parallel would otherwise read each
        // other's half-written output.
        let out = crate::common::base_dir().join(format!("udp_echo-{}", std::process::id()));
        let st = std::process::Command::new("rustc")
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                src,
                "-o",
            ])
            .arg(&out)
            .status()
            .expect("run rustc");
        assert!(st.success(), "building the UDP echo helper failed");
        let bin = fs::read(&out).unwrap();
        let _ = fs::remove_file(&out);
        bin
    })
}

pub fn setup_image(ctx: &Ctx) -> bool {
    let Some(bb) = busybox() else {
        skip("busybox-static is not installed");
        return false;
    };
    let dir = ctx.work.join("netroot");
    for sub in ["bin", "etc", "www", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(dir.join("bin/busybox"), bb).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(a)).unwrap();
    }
    fs::write(dir.join("bin/udpecho"), udp_echo()).unwrap();
    fs::set_permissions(dir.join("bin/udpecho"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("www/index.html"), "hello from the container\n").unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    ctx.give_tree(&dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// The set-up of the pod and kube tests that need the network: skipped
/// without /dev/net/tun (or busybox); once per test user, a fresh store
/// with [`IMG`] imported and a [`Cleanup`] guard that removes the store's
/// containers when the scenario ends. (Here, not in tests/common: the
/// image is this module's.)
pub fn for_each_user_with_net(test: &str, mut f: impl FnMut(&Ctx)) {
    if !needs_tun() {
        return;
    }
    for_each_user(test, |ctx| {
        let _cleanup = Cleanup(ctx);
        if !setup_image(ctx) {
            return;
        }
        f(ctx);
    });
}

/// No container, pod or process of the store is left.
pub fn assert_no_pods(ctx: &Ctx) {
    assert!(
        crate::common::lifecycle_helpers::ps_json(ctx, &["-a"]).is_empty(),
        "containers left"
    );
    let pods = ctx.ok(&["pod", "ps", "-q"]);
    assert!(pods.stdout.trim().is_empty(), "pods left: {pods}");
    let left = crate::common::lifecycle_helpers::store_processes(ctx);
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// Nothing of the store's containers is left: no container, pod,
/// process, bound port or mount.
pub fn assert_nothing_left(ctx: &Ctx, port: Option<u16>) {
    assert_no_pods(ctx);
    if let Some(port) = port {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is still bound"
        );
    }
    let root = ctx.root.to_string_lossy().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(&root)),
        "mounts left under {root}: {mounts}"
    );
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn one_error(out: &Out) {
    assert_eq!(out.code, Some(ERR_EXIT), "expected exit {ERR_EXIT}: {out}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("rless: "))
        .collect();
    assert_eq!(lines.len(), 1, "one `rless:` line: {out}");
}

pub fn containers(ctx: &Ctx) -> usize {
    fs::read_dir(ctx.root.join("containers"))
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

/// GET / on 127.0.0.1:port, retrying while the server starts.
pub fn http_get(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            let _ = s.read_to_string(&mut body);
            if body.contains("200") {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "no HTTP answer on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn needs_tun() -> bool {
    if fs::metadata("/dev/net/tun").is_err() {
        skip("/dev/net/tun is missing");
        return false;
    }
    true
}

/// Both port drivers, as `run` arguments.
pub const DRIVERS: [&str; 2] = ["smoltcp", "splice"];

pub fn state_json(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

pub fn wait_for_log(ctx: &Ctx, name: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ctx.ok(&["logs", name]);
        if logs.stdout.contains(what) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the logs: {logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What one connection to `ip:port` reads after sending `send`, retrying
/// while nothing answers yet.
pub fn read_from(ip: IpAddr, port: u16, send: &[u8]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect((ip, port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = s.write_all(send);
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                return out;
            }
        }
        assert!(Instant::now() < deadline, "nothing served on {ip} {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
