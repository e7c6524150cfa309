//! docker's limit flags, parsed into cgroup v2 file writes ([`Setting`]s).
//!
//! Sizes take docker's syntax: a number, optionally with a fraction, and a
//! binary unit (b, k, m, g, t, p; a trailing `b` or `ib` is allowed), so
//! `64m`, `1.5g` and `64MiB` all work. The conversions are docker's and
//! crun's:
//! - `--memory` → memory.max (at least 6 MiB);
//! - `--memory-swap` is memory plus swap: memory.swap.max = swap − memory,
//!   `-1` for unlimited; unset (or 0), the container may swap as much as its
//!   memory limit (docker's default of twice the memory);
//! - `--cpus` → cpu.max `quota 100000`;
//! - `--cpu-shares` → cpu.weight = 1 + ((shares − 2) × 9999) / 262142, shares
//!   clamped to 2..=262144;
//! - `--pids-limit` → pids.max, 0 or -1 for unlimited.
//!
//! The others (cpuset, `--cpu-period`/`--cpu-quota`, `--memory-reservation`,
//! block I/O, and the v1-only flags refused) are in [`super::more`].

use super::Setting;

/// cpu.max's period, in microseconds (docker's and the kernel's default).
pub const CPU_PERIOD: u64 = 100_000;

/// docker's smallest memory limit.
pub const MIN_MEMORY: u64 = 6 << 20;

#[derive(Debug, thiserror::Error)]
#[error("invalid {flag} {value:?}: {why}")]
pub struct LimitError {
    pub flag: &'static str,
    pub value: String,
    pub why: String,
}

/// The limit flags of `run` and `create`, as given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LimitFlags {
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<String>,
    pub pids_limit: Option<String>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub cpu_period: Option<String>,
    pub cpu_quota: Option<String>,
    pub memory_reservation: Option<String>,
    /// Refused: cgroup v2 has no separate kernel memory limit.
    pub kernel_memory: Option<String>,
    pub blkio_weight: Option<String>,
    /// `PATH:WEIGHT`.
    pub blkio_weight_device: Vec<String>,
    /// `PATH:RATE` (a size per second).
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    /// `PATH:N` (operations per second).
    pub device_read_iops: Vec<String>,
    pub device_write_iops: Vec<String>,
    /// Refused: cgroup v2 has no realtime CPU budget.
    pub cpu_rt_runtime: Option<String>,
    pub cpu_rt_period: Option<String>,
}

/// Bytes in a docker-style size (`512`, `64m`, `1.5g`, `64MiB`).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = value * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// cgroup v1 cpu.shares to cgroup v2 cpu.weight, as crun converts.
pub fn cpu_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(super) fn setting(
    flag: &str,
    controller: &str,
    file: &str,
    value: String,
    implied: bool,
) -> Setting {
    Setting {
        flag: flag.into(),
        controller: controller.into(),
        file: file.into(),
        value,
        implied,
        fallback: None,
    }
}

/// The cgroup files to write for these flags. `host_cpus` bounds `--cpus`.
pub fn settings(f: &LimitFlags, host_cpus: usize) -> Result<Vec<Setting>, LimitError> {
    let bad = |flag: &'static str, value: &str, why: &str| LimitError {
        flag,
        value: value.to_string(),
        why: why.to_string(),
    };
    let mut out = Vec::new();
    let size_why = "use a size such as 64m or 1g";
    let memory = match f.memory.as_deref() {
        None => None,
        Some(v) => match parse_size(v) {
            None => return Err(bad("--memory", v, size_why)),
            Some(0) => None,
            Some(n) if n < MIN_MEMORY => {
                return Err(bad("--memory", v, "the smallest memory limit is 6m"))
            }
            Some(n) => Some(n),
        },
    };
    if let Some(m) = memory {
        out.push(setting(
            "--memory",
            "memory",
            "memory.max",
            m.to_string(),
            false,
        ));
    }
    // docker: `--memory-swap 0` is the same as not giving it.
    let swap = f
        .memory_swap
        .as_deref()
        .filter(|v| parse_size(v) != Some(0));
    match (swap, memory) {
        (Some("-1"), _) => out.push(setting(
            "--memory-swap",
            "memory",
            "memory.swap.max",
            "max".into(),
            false,
        )),
        (Some(v), m) => match (parse_size(v), m) {
            (None, _) => return Err(bad("--memory-swap", v, "use a size such as 1g, or -1")),
            (Some(_), None) => {
                return Err(bad(
                    "--memory-swap",
                    v,
                    "it needs --memory too (it is memory plus swap)",
                ))
            }
            (Some(s), Some(m)) if s < m => {
                return Err(bad(
                    "--memory-swap",
                    v,
                    "it is memory plus swap, so it cannot be below --memory",
                ))
            }
            (Some(s), Some(m)) => out.push(setting(
                "--memory-swap",
                "memory",
                "memory.swap.max",
                (s - m).to_string(),
                false,
            )),
        },
        // docker's default: as much swap as memory.
        (None, Some(m)) => out.push(setting(
            "--memory-swap",
            "memory",
            "memory.swap.max",
            m.to_string(),
            true,
        )),
        (None, None) => {}
    }
    super::more::refused(f)?;
    if let Some(v) = f.cpus.as_deref() {
        let range = format!("the range is 0.01 to {host_cpus} (the CPUs of this host)");
        let cpus: f64 = v.trim().parse().map_err(|_| bad("--cpus", v, &range))?;
        if !cpus.is_finite() || cpus < 0.0 || cpus > host_cpus as f64 {
            return Err(bad("--cpus", v, &range));
        }
        if cpus > 0.0 {
            let quota = (cpus * CPU_PERIOD as f64).round() as u64;
            if quota < 1000 {
                return Err(bad("--cpus", v, &range));
            }
            out.push(setting(
                "--cpus",
                "cpu",
                "cpu.max",
                format!("{quota} {CPU_PERIOD}"),
                false,
            ));
        }
    }
    if let Some(v) = f.cpu_shares.as_deref() {
        let shares: u64 = v
            .trim()
            .parse()
            .map_err(|_| bad("--cpu-shares", v, "use a whole number, e.g. 1024"))?;
        if shares > 0 {
            out.push(setting(
                "--cpu-shares",
                "cpu",
                "cpu.weight",
                cpu_weight(shares).to_string(),
                false,
            ));
        }
    }
    if let Some(v) = f.pids_limit.as_deref() {
        let n: i64 = v.trim().parse().map_err(|_| {
            bad(
                "--pids-limit",
                v,
                "use a whole number (0 or -1 for no limit)",
            )
        })?;
        let value = if n <= 0 { "max".into() } else { n.to_string() };
        out.push(setting("--pids-limit", "pids", "pids.max", value, false));
    }
    super::more::settings(f, memory, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> LimitFlags {
        LimitFlags::default()
    }

    fn files(s: &[Setting]) -> Vec<(String, String)> {
        s.iter()
            .map(|s| (s.file.clone(), s.value.clone()))
            .collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("10b"), Some(10));
        assert_eq!(parse_size("2k"), Some(2048));
        for bad in ["", "m", "-1", "1x", "1.m", ".5m", "1..2m", "1 2m", "64mm"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn weights_as_crun() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(cpu_weight(1), 1);
        assert_eq!(cpu_weight(1 << 30), 10_000);
    }

    #[test]
    fn memory_and_swap_as_docker() {
        let mut f = flags();
        f.memory = Some("64m".into());
        let s = settings(&f, 2).unwrap();
        assert_eq!(
            files(&s),
            vec![
                ("memory.max".into(), (64u64 << 20).to_string()),
                ("memory.swap.max".into(), (64u64 << 20).to_string()),
            ]
        );
        assert!(!s[0].implied && s[1].implied);
        f.memory_swap = Some("100m".into());
        let s = settings(&f, 2).unwrap();
        assert_eq!(s[1].value, (36u64 << 20).to_string());
        assert!(!s[1].implied);
        f.memory_swap = Some("-1".into());
        assert_eq!(settings(&f, 2).unwrap()[1].value, "max");
        f.memory_swap = Some("64m".into());
        assert_eq!(settings(&f, 2).unwrap()[1].value, "0");
        f.memory_swap = Some("0".into());
        let s = settings(&f, 2).unwrap();
        assert_eq!(s[1].value, (64u64 << 20).to_string(), "0 is docker's unset");
        assert!(s[1].implied);
        f.memory_swap = Some("32m".into());
        assert!(settings(&f, 2).is_err());
        f.memory = Some("1m".into());
        assert!(settings(&f, 2).is_err());
        let mut f = flags();
        f.memory_swap = Some("1g".into());
        assert!(settings(&f, 2).is_err(), "swap without memory");
        f.memory = Some("lots".into());
        let e = settings(&f, 2).unwrap_err().to_string();
        assert!(e.contains("--memory") && e.contains("lots"), "{e}");
    }

    #[test]
    fn cpus_shares_pids() {
        let mut f = flags();
        f.cpus = Some("0.5".into());
        f.cpu_shares = Some("512".into());
        f.pids_limit = Some("20".into());
        assert_eq!(
            files(&settings(&f, 2).unwrap()),
            vec![
                ("cpu.max".into(), "50000 100000".into()),
                ("cpu.weight".into(), "20".into()),
                ("pids.max".into(), "20".into()),
            ]
        );
        f.pids_limit = Some("-1".into());
        assert_eq!(settings(&f, 2).unwrap()[2].value, "max");
        for bad in ["3", "-1", "abc", "0.001", "NaN", "inf"] {
            let mut f = flags();
            f.cpus = Some(bad.into());
            assert!(settings(&f, 2).is_err(), "--cpus {bad}");
        }
        let mut f = flags();
        f.cpus = Some("0".into());
        assert!(settings(&f, 2).unwrap().is_empty());
        f.cpu_shares = Some("-5".into());
        assert!(settings(&f, 2).is_err());
        let mut f = flags();
        f.pids_limit = Some("ten".into());
        assert!(settings(&f, 2).is_err());
    }
}
