//! The rest of docker's limit flags, as podman maps them onto cgroup v2.
//!
//! Theory of operation: like [`super::limits::settings`], each flag is
//! checked and turned into [`Setting`]s (file writes) before anything is
//! made; nothing here touches a cgroup.
//! - `--cpuset-cpus`/`--cpuset-mems` (`0-3,7`) → cpuset.cpus/cpuset.mems,
//!   the syntax checked here, the CPUs and nodes against the parent's
//!   effective set by [`check_cpuset`] (at plan time, where the parent is
//!   known);
//! - `--cpu-period`/`--cpu-quota` → cpu.max `QUOTA PERIOD` (`max` without a
//!   quota); docker's ranges (period 1ms..1s, quota at least 1ms, -1 or 0
//!   for none) and its rule that they conflict with `--cpus`;
//! - `--memory-reservation` → memory.low (at least 6 MiB, not above
//!   `--memory`);
//! - `--blkio-weight` (10..1000) → io.bfq.weight as given, or, where BFQ
//!   is not the scheduler, io.weight converted to its 1..10000 range (as
//!   runc and crun do); `--blkio-weight-device PATH:W` the same per device;
//! - `--device-{read,write}-{bps,iops} PATH:RATE` → io.max
//!   `MAJ:MIN rbps=…` (the block device's numbers from the path);
//! - `--kernel-memory` and `--cpu-rt-runtime`/`--cpu-rt-period` are refused,
//!   as podman refuses them on cgroup v2: it has no such limits.

use super::limits::{parse_size, setting, LimitError, LimitFlags, CPU_PERIOD, MIN_MEMORY};
use super::{CgroupError, Setting};
use std::collections::BTreeSet;
use std::path::Path;

fn bad(flag: &'static str, value: &str, why: &str) -> LimitError {
    LimitError {
        flag,
        value: value.to_string(),
        why: why.to_string(),
    }
}

/// The flags cgroup v2 has no limit for.
pub fn refused(f: &LimitFlags) -> Result<(), LimitError> {
    let nonzero = |v: &Option<String>| v.as_deref().is_some_and(|v| v.trim() != "0");
    if let Some(v) = f
        .kernel_memory
        .as_deref()
        .filter(|_| nonzero(&f.kernel_memory))
    {
        return Err(bad(
            "--kernel-memory",
            v,
            "kernel memory limits are not supported on cgroup v2 (--memory counts kernel memory too)",
        ));
    }
    for (flag, v) in [
        ("--cpu-rt-runtime", &f.cpu_rt_runtime),
        ("--cpu-rt-period", &f.cpu_rt_period),
    ] {
        if nonzero(v) {
            return Err(bad(
                flag,
                v.as_deref().unwrap_or_default(),
                "realtime CPU limits are not supported on cgroup v2",
            ));
        }
    }
    Ok(())
}

/// The CPUs or memory nodes of a cpuset list (`0-3,7`); `None`: not one.
pub fn parse_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    let s = s.trim();
    if s.is_empty() {
        return Some(out);
    }
    for part in s.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        if a > b || b - a > 65_536 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

/// `a-b,c` for a set.
pub fn format_list(set: &BTreeSet<u32>) -> String {
    let mut parts = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end += 1;
            it.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// `--blkio-weight` (10..1000) on io.weight's scale (1..10000), as runc
/// and crun convert it.
pub fn io_weight(blkio: u64) -> u64 {
    1 + (blkio.clamp(10, 1000) - 10) * 9999 / 990
}

/// `MAJ:MIN` of the block device at `path`.
pub fn block_device(path: &str) -> Result<String, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::metadata(path).map_err(|e| format!("cannot stat {path}: {e}"))?;
    if !m.file_type().is_block_device() {
        return Err(format!("{path} is not a block device"));
    }
    let dev = m.rdev();
    Ok(format!(
        "{}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev)
    ))
}

/// `PATH:VALUE`, split at the last colon.
fn device_pair<'a>(
    flag: &'static str,
    v: &'a str,
    what: &str,
) -> Result<(String, &'a str), LimitError> {
    let (path, value) = v
        .rsplit_once(':')
        .filter(|(p, x)| !p.is_empty() && !x.is_empty())
        .ok_or_else(|| bad(flag, v, &format!("use DEVICE_PATH:{what}")))?;
    let dev = block_device(path).map_err(|why| bad(flag, v, &why))?;
    Ok((dev, value))
}

fn number(flag: &'static str, v: &str, why: &str) -> Result<i64, LimitError> {
    v.trim().parse().map_err(|_| bad(flag, v, why))
}

/// The settings of the flags this file handles, appended to `out`.
/// `memory` is `--memory` in bytes, when given.
pub fn settings(
    f: &LimitFlags,
    memory: Option<u64>,
    out: &mut Vec<Setting>,
) -> Result<(), LimitError> {
    for (flag, file, v) in [
        ("--cpuset-cpus", "cpuset.cpus", &f.cpuset_cpus),
        ("--cpuset-mems", "cpuset.mems", &f.cpuset_mems),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            let set = parse_list(v)
                .ok_or_else(|| bad(flag, v, "use a list of numbers and ranges, such as 0-3,7"))?;
            out.push(setting(flag, "cpuset", file, format_list(&set), false));
        }
    }

    let period = match f.cpu_period.as_deref() {
        None => None,
        Some(v) => match number("--cpu-period", v, "use microseconds, 1000 to 1000000")? {
            0 => None,
            n @ 1000..=1_000_000 => Some(n),
            _ => {
                return Err(bad(
                    "--cpu-period",
                    v,
                    "the period is 1000 to 1000000 microseconds (1ms to 1s)",
                ))
            }
        },
    };
    let quota = match f.cpu_quota.as_deref() {
        None => None,
        Some(v) => match number("--cpu-quota", v, "use microseconds, at least 1000")? {
            -1 | 0 => None,
            n if n >= 1000 => Some(n),
            _ => {
                return Err(bad(
                    "--cpu-quota",
                    v,
                    "the quota is at least 1000 microseconds (1ms), or -1 for none",
                ))
            }
        },
    };
    let cpus = f
        .cpus
        .as_deref()
        .and_then(|c| c.trim().parse::<f64>().ok())
        .is_some_and(|c| c > 0.0);
    if cpus && (period.is_some() || quota.is_some()) {
        let (flag, v) = if quota.is_some() {
            ("--cpu-quota", f.cpu_quota.as_deref())
        } else {
            ("--cpu-period", f.cpu_period.as_deref())
        };
        return Err(bad(
            flag,
            v.unwrap_or_default(),
            "it conflicts with --cpus (give either --cpus, or --cpu-period and --cpu-quota)",
        ));
    }
    if period.is_some() || quota.is_some() {
        let flag = if quota.is_some() {
            "--cpu-quota"
        } else {
            "--cpu-period"
        };
        let value = format!(
            "{} {}",
            quota.map_or("max".to_string(), |q| q.to_string()),
            period.map_or(CPU_PERIOD as i64, |p| p)
        );
        out.push(setting(flag, "cpu", "cpu.max", value, false));
    }

    if let Some(v) = f.memory_reservation.as_deref() {
        match parse_size(v) {
            None => {
                return Err(bad(
                    "--memory-reservation",
                    v,
                    "use a size such as 64m or 1g",
                ))
            }
            Some(0) => {}
            Some(n) if n < MIN_MEMORY => {
                return Err(bad(
                    "--memory-reservation",
                    v,
                    "the smallest memory reservation is 6m",
                ))
            }
            Some(n) if memory.is_some_and(|m| m < n) => {
                return Err(bad(
                    "--memory-reservation",
                    v,
                    "it cannot be above --memory",
                ))
            }
            Some(n) => out.push(setting(
                "--memory-reservation",
                "memory",
                "memory.low",
                n.to_string(),
                false,
            )),
        }
    }

    let weight_why = "the weight is 10 to 1000 (0: none)";
    if let Some(v) = f.blkio_weight.as_deref() {
        match number("--blkio-weight", v, weight_why)? {
            0 => {}
            w @ 10..=1000 => {
                let mut s = setting(
                    "--blkio-weight",
                    "io",
                    "io.bfq.weight",
                    w.to_string(),
                    false,
                );
                s.fallback = Some((
                    "io.weight".into(),
                    format!("default {}", io_weight(w as u64)),
                ));
                out.push(s);
            }
            _ => return Err(bad("--blkio-weight", v, weight_why)),
        }
    }
    for v in &f.blkio_weight_device {
        let (dev, w) = device_pair("--blkio-weight-device", v, "WEIGHT")?;
        let w = match number("--blkio-weight-device", w, weight_why)? {
            w @ 10..=1000 => w,
            _ => return Err(bad("--blkio-weight-device", v, weight_why)),
        };
        let mut s = setting(
            "--blkio-weight-device",
            "io",
            "io.bfq.weight",
            format!("{dev} {w}"),
            false,
        );
        s.fallback = Some(("io.weight".into(), format!("{dev} {}", io_weight(w as u64))));
        out.push(s);
    }
    for (flag, key, list, bytes) in [
        ("--device-read-bps", "rbps", &f.device_read_bps, true),
        ("--device-write-bps", "wbps", &f.device_write_bps, true),
        ("--device-read-iops", "riops", &f.device_read_iops, false),
        ("--device-write-iops", "wiops", &f.device_write_iops, false),
    ] {
        for v in list {
            let what = if bytes { "RATE" } else { "IOPS" };
            let (dev, rate) = device_pair(flag, v, what)?;
            let n = if bytes {
                parse_size(rate)
            } else {
                rate.trim().parse::<u64>().ok()
            };
            let Some(n) = n else {
                let why = if bytes {
                    "use DEVICE_PATH:RATE, the rate a size per second such as 1mb"
                } else {
                    "use DEVICE_PATH:IOPS, a whole number of operations per second"
                };
                return Err(bad(flag, v, why));
            };
            let n = if n == 0 {
                "max".to_string()
            } else {
                n.to_string()
            };
            out.push(setting(
                flag,
                "io",
                "io.max",
                format!("{dev} {key}={n}"),
                false,
            ));
        }
    }
    Ok(())
}

/// The CPUs (or memory nodes) there are for a cgroup under `parent`: the
/// nearest existing cgroup's `cpuset.*.effective` on the way up, else the
/// host's online ones. With where that came from.
fn available(parent: Option<&Path>, what: &str) -> Option<(BTreeSet<u32>, String)> {
    let file = format!("{what}.effective");
    if let Some(p) = parent {
        for dir in p.ancestors() {
            let f = dir.join(&file);
            if let Ok(s) = std::fs::read_to_string(&f) {
                if let Some(set) = parse_list(&s).filter(|s| !s.is_empty()) {
                    return Some((set, f.display().to_string()));
                }
            }
        }
    }
    let host = if what == "cpuset.cpus" {
        "/sys/devices/system/cpu/online"
    } else {
        "/sys/devices/system/node/online"
    };
    let set = match std::fs::read_to_string(host) {
        Ok(s) => parse_list(&s)?,
        // No NUMA: node 0 only.
        Err(_) if what == "cpuset.mems" => BTreeSet::from([0]),
        Err(_) => return None,
    };
    Some((set, host.to_string()))
}

/// Refuses `--cpuset-cpus`/`--cpuset-mems` naming CPUs or nodes outside
/// the effective set a cgroup under `parent` can have.
pub fn check_cpuset(settings: &[Setting], parent: Option<&Path>) -> Result<(), CgroupError> {
    for s in settings
        .iter()
        .filter(|s| s.file == "cpuset.cpus" || s.file == "cpuset.mems")
    {
        let Some(want) = parse_list(&s.value) else {
            continue;
        };
        let Some((have, from)) = available(parent, &s.file) else {
            continue;
        };
        let missing: BTreeSet<u32> = want.difference(&have).copied().collect();
        if !missing.is_empty() {
            let what = if s.file == "cpuset.cpus" {
                "CPUs"
            } else {
                "memory nodes"
            };
            return Err(CgroupError::Cpuset {
                flag: s.flag.clone(),
                value: s.value.clone(),
                why: format!(
                    "{what} {} are not available (available: {}, from {from})",
                    format_list(&missing),
                    format_list(&have)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: &LimitFlags) -> Result<Vec<(String, String)>, LimitError> {
        let mut out = Vec::new();
        refused(f)?;
        settings(f, None, &mut out)?;
        Ok(out.into_iter().map(|s| (s.file, s.value)).collect())
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-2,5").unwrap(), BTreeSet::from([0, 1, 2, 5]));
        assert_eq!(
            format_list(&BTreeSet::from([0, 1, 2, 5, 7, 8])),
            "0-2,5,7-8"
        );
        for b in ["a", "1-", "3-1", "1,,2", "-1", "0-99999999"] {
            assert!(parse_list(b).is_none(), "{b}");
        }
    }

    #[test]
    fn cpuset_period_quota_reservation() {
        let mut f = LimitFlags {
            cpuset_cpus: Some("1,0".into()),
            cpuset_mems: Some("0".into()),
            cpu_quota: Some("50000".into()),
            memory_reservation: Some("32m".into()),
            ..Default::default()
        };
        assert_eq!(
            run(&f).unwrap(),
            vec![
                ("cpuset.cpus".into(), "0-1".into()),
                ("cpuset.mems".into(), "0".into()),
                ("cpu.max".into(), "50000 100000".into()),
                ("memory.low".into(), (32u64 << 20).to_string()),
            ]
        );
        f.cpu_quota = None;
        f.cpu_period = Some("50000".into());
        assert_eq!(run(&f).unwrap()[2].1, "max 50000");
        f.cpu_quota = Some("-1".into());
        assert_eq!(run(&f).unwrap()[2].1, "max 50000");
        f.cpus = Some("1".into());
        let e = run(&f).unwrap_err().to_string();
        assert!(e.contains("--cpu-period") && e.contains("--cpus"), "{e}");
        for (field, v) in [
            ("period", "999"),
            ("period", "1000001"),
            ("quota", "999"),
            ("quota", "x"),
            ("cpus", "x-y"),
            ("mems", "1-0"),
            ("res", "1m"),
            ("res", "lots"),
        ] {
            let mut f = LimitFlags::default();
            let val = Some(v.to_string());
            match field {
                "period" => f.cpu_period = val,
                "quota" => f.cpu_quota = val,
                "cpus" => f.cpuset_cpus = val,
                "mems" => f.cpuset_mems = val,
                _ => f.memory_reservation = val,
            }
            assert!(run(&f).is_err(), "{field} {v:?}");
        }
        let f = LimitFlags {
            memory_reservation: Some("128m".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        assert!(
            settings(&f, Some(64 << 20), &mut out).is_err(),
            "above --memory"
        );
    }

    #[test]
    fn io_and_refused() {
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(io_weight(500), 4950);
        let f = LimitFlags {
            blkio_weight: Some("500".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        settings(&f, None, &mut out).unwrap();
        assert_eq!(out[0].file, "io.bfq.weight");
        assert_eq!(out[0].value, "500");
        assert_eq!(
            out[0].fallback,
            Some(("io.weight".into(), "default 4950".into()))
        );
        for w in ["5", "1001", "x"] {
            let f = LimitFlags {
                blkio_weight: Some(w.into()),
                ..Default::default()
            };
            assert!(run(&f).is_err(), "{w}");
        }
        // A path that is not a block device, or no rate.
        for v in ["/dev/null:1mb", "/nonexistent:1mb", "/dev/null", ":5"] {
            let f = LimitFlags {
                device_read_bps: vec![v.into()],
                ..Default::default()
            };
            let e = run(&f).unwrap_err().to_string();
            assert!(e.contains("--device-read-bps"), "{e}");
        }
        let f = LimitFlags {
            kernel_memory: Some("64m".into()),
            ..Default::default()
        };
        assert!(run(&f).unwrap_err().to_string().contains("cgroup v2"));
        let f = LimitFlags {
            cpu_rt_runtime: Some("950000".into()),
            ..Default::default()
        };
        assert!(run(&f).unwrap_err().to_string().contains("realtime"));
    }

    #[test]
    fn cpuset_checked_against_the_parent() {
        let dir = std::env::temp_dir().join(format!("rless-cpuset-{}", std::process::id()));
        let child = dir.join("child");
        std::fs::create_dir_all(&child).unwrap();
        std::fs::write(dir.join("cpuset.cpus.effective"), "0-1\n").unwrap();
        let s = |v: &str| {
            vec![setting(
                "--cpuset-cpus",
                "cpuset",
                "cpuset.cpus",
                v.into(),
                false,
            )]
        };
        assert!(check_cpuset(&s("0-1"), Some(&child.join("not-yet"))).is_ok());
        let e = check_cpuset(&s("1-3"), Some(&child))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--cpuset-cpus") && e.contains("2-3") && e.contains("available: 0-1"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
