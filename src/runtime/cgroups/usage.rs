//! A container's resource usage, for `rless stats`: from its cgroup v2
//! files when it has a cgroup, else summed over its processes in /proc (so
//! stats work on cgroup v1 and hybrid hosts too).
//!
//! Limits of the /proc source: memory is the sum of resident set sizes
//! (shared pages count once per process), CPU time only counts live
//! processes (a process that exits takes its time with it), and block I/O
//! is what the processes read and wrote through the block layer.

use std::io;
use std::path::Path;

/// /proc's clock tick (USER_HZ), fixed at 100 on Linux.
const USER_HZ: u64 = 100;

/// One reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used, in microseconds (cumulative).
    pub cpu_usec: u64,
    pub memory: u64,
    /// `None`: no limit.
    pub memory_limit: Option<u64>,
    /// Tasks (threads), as pids.current counts them.
    pub pids: u64,
    pub pids_limit: Option<u64>,
    pub block_read: u64,
    pub block_write: u64,
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A single-number file; `max` is `None`.
fn number(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// `key value` lines (cpu.stat, /proc/PID/io).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once([' ', ':'])?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Usage from the cgroup `dir`. Files of controllers the cgroup lacks are
/// made up from its processes.
pub fn from_cgroup(dir: &Path) -> io::Result<Usage> {
    let procs: Vec<i32> = std::fs::read_to_string(dir.join("cgroup.procs"))?
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let by_procs = from_procs(&procs);
    let cpu_usec = read(&dir.join("cpu.stat"))
        .and_then(|s| keyed(&s, "usage_usec"))
        .unwrap_or(by_procs.cpu_usec);
    let memory = number(&dir.join("memory.current")).unwrap_or(by_procs.memory);
    let pids = number(&dir.join("pids.current")).unwrap_or_else(|| {
        read(&dir.join("cgroup.threads")).map_or(by_procs.pids, |s| s.lines().count() as u64)
    });
    let (mut block_read, mut block_write) = (by_procs.block_read, by_procs.block_write);
    if let Some(io) = read(&dir.join("io.stat")) {
        (block_read, block_write) = (0, 0);
        for field in io.split_whitespace() {
            match field.split_once('=') {
                Some(("rbytes", v)) => block_read += v.parse::<u64>().unwrap_or(0),
                Some(("wbytes", v)) => block_write += v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    Ok(Usage {
        cpu_usec,
        memory,
        memory_limit: number(&dir.join("memory.max")),
        pids,
        pids_limit: number(&dir.join("pids.max")),
        block_read,
        block_write,
    })
}

/// Usage summed over these processes (host pids).
pub fn from_procs(pids: &[i32]) -> Usage {
    let mut u = Usage::default();
    for pid in pids {
        let base = Path::new("/proc").join(pid.to_string());
        let Some(stat) = read(&base.join("stat")) else {
            continue;
        };
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        u.cpu_usec += ticks * (1_000_000 / USER_HZ);
        if let Some(status) = read(&base.join("status")) {
            let rss_kb: u64 = status
                .lines()
                .find_map(|l| {
                    l.strip_prefix("VmRSS:")?
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            u.memory += rss_kb * 1024;
            u.pids += status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
                .unwrap_or(1);
        }
        if let Some(io) = read(&base.join("io")) {
            u.block_read += keyed(&io, "read_bytes").unwrap_or(0);
            u.block_write += keyed(&io, "write_bytes").unwrap_or(0);
        }
    }
    u
}

/// The host pids of the container's processes ([`crate::runtime::share::container_pids`]).
pub fn namespace_pids(init: i32) -> Vec<i32> {
    crate::runtime::share::container_pids(init)
}

/// Bytes received and sent on the container's interfaces (not loopback),
/// when it has a network namespace of its own.
pub fn net_io(init: i32) -> Option<(u64, u64)> {
    let theirs = std::fs::read_link(format!("/proc/{init}/ns/net")).ok()?;
    if std::fs::read_link("/proc/self/ns/net").ok()? == theirs {
        return None;
    }
    let dev = read(Path::new(&format!("/proc/{init}/net/dev")))?;
    Some(parse_net_dev(&dev))
}

fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut total = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let c: Vec<u64> = counters
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        total.0 += c.first().copied().unwrap_or(0);
        total.1 += c.get(8).copied().unwrap_or(0);
    }
    total
}

/// The host's memory (MemTotal), the limit of a container without one.
pub fn host_memory() -> u64 {
    read(Path::new("/proc/meminfo"))
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(0)
        * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
tap0:    2000      10    0    0    0     0          0         0      3000      12    0    0    0     0       0          0\n";
        assert_eq!(parse_net_dev(t), (2000, 3000));
    }

    #[test]
    fn own_process() {
        let u = from_procs(&[std::process::id() as i32]);
        assert!(u.memory > 0 && u.pids >= 1, "{u:?}");
    }

    #[test]
    fn keyed_values() {
        assert_eq!(
            keyed("usage_usec 42\nuser_usec 1\n", "usage_usec"),
            Some(42)
        );
        assert_eq!(
            keyed("read_bytes: 7\nwrite_bytes: 9\n", "write_bytes"),
            Some(9)
        );
        assert_eq!(keyed("VmRSS:\t  1234 kB\n", "VmRSS"), None);
    }
}
