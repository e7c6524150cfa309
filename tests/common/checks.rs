//! Checks shared by the integration tests: the one-line error contract,
//! container directories, host processes, pid namespaces and mounts,
//! bounded waits, a search of a tree for bytes.

use super::{Ctx, Out};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// Non-empty stderr lines.
pub fn stderr_lines(out: &Out) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Exit `code` and exactly one stderr line, starting `rless: `.
pub fn assert_one_error(out: &Out, code: i32) {
    assert_eq!(out.code, Some(code), "expected exit {code}: {out}");
    let lines = stderr_lines(out);
    assert_eq!(lines.len(), 1, "expected exactly one stderr line: {out}");
    assert!(
        lines[0].starts_with("rless: ") && lines[0].len() > "rless: ".len(),
        "the error line must start with 'rless: ': {out}"
    );
    assert!(!out.stderr.contains("panicked"), "panic: {out}");
}

/// Names of the containers in the store (non-dot entries of `containers/`).
pub fn containers(ctx: &Ctx) -> Vec<String> {
    super::list_names(&ctx.root.join("containers"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// Waits for `child` at most `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return Some(st);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One process of the host, from /proc.
#[derive(Debug)]
pub struct HostProc {
    pub pid: i32,
    pub uid: u32,
    pub args: Vec<String>,
}

/// Every process of the host that can be read.
pub fn host_processes() -> Vec<HostProc> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(md) = fs::metadata(e.path()) else {
            continue;
        };
        let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let mut args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args == ["rless-init"] {
            args = init_args(pid);
        }
        out.push(HostProc {
            pid,
            uid: md.uid(),
            args,
        });
    }
    out
}

/// A container's init names itself `rless-init`, hiding the command line
/// it was cloned with (the monitor's). Tests find a store's processes by
/// that command line, so it is given back: the parent's (the monitor's),
/// or for an init whose monitor is gone, `rless-init --root STORE`, with
/// the store found from the init's mounts (its `/etc/hosts` is a bind
/// mount of `STORE/containers/ID/hosts`).
fn init_args(pid: i32) -> Vec<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ppid = stat
        .rsplit_once(") ")
        .and_then(|(_, r)| r.split(' ').nth(1))
        .and_then(|p| p.parse::<i32>().ok());
    if let Some(parent) = ppid.and_then(|p| fs::read(format!("/proc/{p}/cmdline")).ok()) {
        let args: Vec<String> = parent
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "--root") {
            return args;
        }
    }
    let mut args = vec!["rless-init".to_string()];
    let mounts = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (Some(dev), Some(root), Some(target)) = (f.get(2), f.get(3), f.get(4)) else {
            continue;
        };
        let Some((in_fs, _)) = root.rsplit_once("/containers/") else {
            continue;
        };
        if *target != "/etc/hosts" {
            continue;
        }
        // The root of that filesystem as the host mounts it.
        let base = host.lines().find_map(|h| {
            let g: Vec<&str> = h.split(' ').collect();
            (g.get(2) == Some(dev) && g.get(3) == Some(&"/")).then(|| g[4].to_string())
        });
        if let Some(base) = base {
            let store = format!("{}{in_fs}", base.trim_end_matches('/'));
            args.extend(["--root".to_string(), store]);
        }
        break;
    }
    args
}

/// Mount lines of this (the host's) mount namespace that mention `dir`.
pub fn host_mounts_under(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let needle = dir.to_string_lossy().to_string();
    text.lines()
        .filter(|l| l.contains(&needle))
        .map(String::from)
        .collect()
}

/// No container directory is left in the store after `what`.
pub fn assert_no_containers(ctx: &Ctx, what: &str) {
    let c = containers(ctx);
    assert!(
        c.is_empty(),
        "{what}: container dirs left in {}: {c:?}",
        ctx.root.join("containers").display()
    );
}

/// Host pids of every process in `init`'s pid namespace.
pub fn namespace_pids(init: i64) -> Vec<i64> {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p: &i64| fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() == Some(&ns))
        .collect()
}

/// Polls `f` every 50 ms until it is true; false after `timeout`.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first file below `dir` (or `dir` itself) whose bytes hold
/// `needle`, if any; symlinks are not followed, unreadable entries skipped.
pub fn tree_holds(dir: &Path, needle: &[u8]) -> Option<String> {
    let meta = fs::symlink_metadata(dir).ok()?;
    if meta.is_file() {
        let data = fs::read(dir).ok()?;
        return data
            .windows(needle.len())
            .any(|w| w == needle)
            .then(|| dir.display().to_string());
    }
    if !meta.is_dir() {
        return None;
    }
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .find_map(|e| tree_holds(&e.path(), needle))
}

/// `rless ARGS…` with `file` as its descriptor 3.
pub fn rless_with_fd3(ctx: &Ctx, args: &[&str], file: &std::fs::File) -> Out {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let mut cmd = ctx.rless_cmd(args);
    let raw = file.as_raw_fd();
    // SAFETY: between fork and exec only dup2 and fcntl run, which are
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let r = if raw == 3 {
                nix::libc::fcntl(3, nix::libc::F_SETFD, 0)
            } else {
                nix::libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    super::run_cmd(cmd, None, super::CMD_TIMEOUT, &ctx.user.name)
}
