//! Watching a test mount: a watchdog that turns a deadlock into a failure,
//! aborting FUSE connections (fusectl) so that a dying test cannot hang in
//! exit, and the processes that still use a mount.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Unless dropped within its limit, prints what every thread waits on,
/// aborts the FUSE connections under `base` and exits. A plain abort would
/// hang: a thread whose request our (dying) server had read waits for the
/// answer uninterruptibly, and the connection only closes once every
/// thread has exited.
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    pub fn start(what: String, base: PathBuf, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                let mut msg =
                    format!("\nWATCHDOG: {what} did not finish in {limit:?}: deadlock?\n");
                for t in fs::read_dir("/proc/self/task")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    msg += &format!("  {}\n", proc_state(&t.path()));
                }
                // Straight to fd 2: the test harness's capture dies with us.
                let _ = io::stderr().write_all(msg.as_bytes());
                abort_connections(&base);
                std::process::exit(101);
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.take();
    }
}

/// On a panic, aborts the FUSE connections under its directory first, so
/// that threads still in the mount fail instead of hanging the exit.
pub struct AbortOnPanic(pub PathBuf);

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            abort_connections(&self.0);
        }
    }
}

/// Writes to the fusectl `abort` file of every FUSE mount under `base`
/// (mounting fusectl if needed; only real root can).
pub fn abort_connections(base: &Path) {
    let ctl = Path::new("/sys/fs/fuse/connections");
    if fs::read_dir(ctl).map_or(true, |mut d| d.next().is_none()) {
        let _ = Command::new("mount")
            .args(["-t", "fusectl", "fusectl"])
            .arg(ctl)
            .status();
    }
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        let f: Vec<&str> = line.split_whitespace().collect();
        let fuse = line
            .split(" - ")
            .nth(1)
            .is_some_and(|r| r.starts_with("fuse"));
        if f.len() < 5 || !fuse || !Path::new(f[4]).starts_with(base) {
            continue;
        }
        if let Some((ma, mi)) = f[2].split_once(':') {
            let (ma, mi): (u32, u32) = (ma.parse().unwrap_or(0), mi.parse().unwrap_or(0));
            let _ = fs::write(ctl.join(((ma << 20) | mi).to_string()).join("abort"), "1");
        }
    }
}

/// "comm state wchan" of a /proc/PID or /proc/self/task/TID directory.
pub fn proc_state(dir: &Path) -> String {
    let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
    let wchan = fs::read_to_string(dir.join("wchan")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces.
    let (comm, rest) = match (stat.find('('), stat.rfind(')')) {
        (Some(a), Some(b)) => (&stat[a + 1..b], &stat[b + 1..]),
        _ => ("?", ""),
    };
    let state = rest.split_whitespace().next().unwrap_or("?");
    format!("{} {comm} state {state} wchan {wchan}", dir.display())
}

/// Other processes whose cwd, root or open files are in the mount, with
/// their state.
pub fn users_of(mnt: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().into_string().unwrap_or_default();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let p = e.path();
        let inside = |l: PathBuf| fs::read_link(l).is_ok_and(|t| t.starts_with(mnt));
        let fds = fs::read_dir(p.join("fd")).into_iter().flatten().flatten();
        if inside(p.join("cwd"))
            || inside(p.join("root"))
            || fds.into_iter().any(|f| inside(f.path()))
        {
            out.push(proc_state(&p));
        }
    }
    out
}

/// Asserts no process, this one included, uses the mount.
pub fn assert_no_users(mnt: &Path, when: &str) {
    let users = users_of(mnt);
    assert!(
        users.is_empty(),
        "{when}: processes still use the mount:\n{}",
        users.join("\n")
    );
    let mine = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|f| fs::read_link(f.path()).ok())
        .filter(|t| t.starts_with(mnt))
        .collect::<Vec<_>>();
    assert!(
        mine.is_empty(),
        "{when}: this process still has {mine:?} open"
    );
}
