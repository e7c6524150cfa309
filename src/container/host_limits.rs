//! The cgroup limits in [`HostOptions`]: set from the flags as given, and
//! read back as flags, so `rless update` can lay new flags over the old
//! ones and recompute every cgroup setting from the result.
//!
//! Theory of operation: `HostOptions` is what a container records of its
//! limits (docker's HostConfig fields, which `inspect` shows). [`apply`]
//! writes checked [`LimitFlags`] into it; [`flags_of`] turns it back into
//! flags (`--memory-swap` twice `--memory` reads as not given: that is
//! docker's default, which then follows a new `--memory`); [`overlay`] lays
//! the flags `update` was given over those.

use super::host_config::{HostOptions, ThrottleDevice, WeightDevice};
use crate::runtime::cgroups::limits::{parse_size, LimitFlags};

fn bytes(v: &Option<String>) -> i64 {
    v.as_deref()
        .and_then(parse_size)
        .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

fn int(v: &Option<String>) -> i64 {
    v.as_deref()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

/// `PATH:VALUE` pairs, the value converted (checked already).
fn pairs(list: &[String], value: impl Fn(&str) -> Option<u64>) -> Vec<(String, u64)> {
    list.iter()
        .filter_map(|v| {
            let (p, x) = v.rsplit_once(':')?;
            Some((p.to_string(), value(x)?))
        })
        .collect()
}

fn throttle(list: &[String], sizes: bool) -> Vec<ThrottleDevice> {
    pairs(list, |x| {
        if sizes {
            parse_size(x)
        } else {
            x.trim().parse().ok()
        }
    })
    .into_iter()
    .map(|(path, rate)| ThrottleDevice { path, rate })
    .collect()
}

/// Records checked limit flags in `h`, as docker shows them.
pub fn apply(h: &mut HostOptions, f: &LimitFlags) {
    h.memory = bytes(&f.memory);
    h.memory_swap = match f.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => match bytes(&f.memory_swap) {
            0 => h.memory.saturating_mul(2),
            n => n,
        },
    };
    h.memory_reservation = bytes(&f.memory_reservation);
    h.nano_cpus = f
        .cpus
        .as_deref()
        .and_then(|c| c.trim().parse::<f64>().ok())
        .map_or(0, |c| (c * 1e9).round() as i64);
    h.cpu_shares = int(&f.cpu_shares);
    h.pids_limit = f
        .pids_limit
        .as_deref()
        .and_then(|p| p.trim().parse::<i64>().ok())
        .map(|p| p.max(0));
    h.cpu_period = int(&f.cpu_period);
    h.cpu_quota = int(&f.cpu_quota);
    h.cpuset_cpus = f.cpuset_cpus.clone().unwrap_or_default();
    h.cpuset_mems = f.cpuset_mems.clone().unwrap_or_default();
    h.blkio_weight = u16::try_from(int(&f.blkio_weight)).unwrap_or(0);
    h.blkio_weight_device = pairs(&f.blkio_weight_device, |x| x.trim().parse().ok())
        .into_iter()
        .map(|(path, w)| WeightDevice {
            path,
            weight: u16::try_from(w).unwrap_or(0),
        })
        .collect();
    h.blkio_device_read_bps = throttle(&f.device_read_bps, true);
    h.blkio_device_write_bps = throttle(&f.device_write_bps, true);
    h.blkio_device_read_iops = throttle(&f.device_read_iops, false);
    h.blkio_device_write_iops = throttle(&f.device_write_iops, false);
}

/// The limit flags `h` records.
pub fn flags_of(h: &HostOptions) -> LimitFlags {
    let some = |n: i64| (n != 0).then(|| n.to_string());
    let devs = |l: &[ThrottleDevice]| -> Vec<String> {
        l.iter().map(|d| format!("{}:{}", d.path, d.rate)).collect()
    };
    LimitFlags {
        memory: some(h.memory),
        memory_swap: if h.memory_swap == h.memory.saturating_mul(2) {
            None
        } else {
            some(h.memory_swap)
        },
        memory_reservation: some(h.memory_reservation),
        cpus: (h.nano_cpus != 0).then(|| (h.nano_cpus as f64 / 1e9).to_string()),
        cpu_shares: some(h.cpu_shares),
        pids_limit: h.pids_limit.map(|p| p.to_string()),
        cpu_period: some(h.cpu_period),
        cpu_quota: some(h.cpu_quota),
        cpuset_cpus: (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone()),
        cpuset_mems: (!h.cpuset_mems.is_empty()).then(|| h.cpuset_mems.clone()),
        blkio_weight: some(h.blkio_weight.into()),
        blkio_weight_device: h
            .blkio_weight_device
            .iter()
            .map(|d| format!("{}:{}", d.path, d.weight))
            .collect(),
        device_read_bps: devs(&h.blkio_device_read_bps),
        device_write_bps: devs(&h.blkio_device_write_bps),
        device_read_iops: devs(&h.blkio_device_read_iops),
        device_write_iops: devs(&h.blkio_device_write_iops),
        ..Default::default()
    }
}

/// `given` laid over `base`: each flag given replaces the old one; a device
/// given replaces that device's old entry.
pub fn overlay(base: LimitFlags, given: &LimitFlags) -> LimitFlags {
    let one = |b: Option<String>, g: &Option<String>| g.clone().or(b);
    let list = |b: Vec<String>, g: &[String]| -> Vec<String> {
        let path = |v: &str| v.rsplit_once(':').map_or(v, |(p, _)| p).to_string();
        let mut out: Vec<String> = b
            .into_iter()
            .filter(|o| !g.iter().any(|n| path(n) == path(o)))
            .collect();
        out.extend(g.iter().cloned());
        out
    };
    LimitFlags {
        memory: one(base.memory, &given.memory),
        memory_swap: one(base.memory_swap, &given.memory_swap),
        memory_reservation: one(base.memory_reservation, &given.memory_reservation),
        cpus: one(base.cpus, &given.cpus),
        cpu_shares: one(base.cpu_shares, &given.cpu_shares),
        pids_limit: one(base.pids_limit, &given.pids_limit),
        cpu_period: one(base.cpu_period, &given.cpu_period),
        cpu_quota: one(base.cpu_quota, &given.cpu_quota),
        cpuset_cpus: one(base.cpuset_cpus, &given.cpuset_cpus),
        cpuset_mems: one(base.cpuset_mems, &given.cpuset_mems),
        blkio_weight: one(base.blkio_weight, &given.blkio_weight),
        blkio_weight_device: list(base.blkio_weight_device, &given.blkio_weight_device),
        device_read_bps: list(base.device_read_bps, &given.device_read_bps),
        device_write_bps: list(base.device_write_bps, &given.device_write_bps),
        device_read_iops: list(base.device_read_iops, &given.device_read_iops),
        device_write_iops: list(base.device_write_iops, &given.device_write_iops),
        kernel_memory: given.kernel_memory.clone(),
        cpu_rt_runtime: given.cpu_rt_runtime.clone(),
        cpu_rt_period: given.cpu_rt_period.clone(),
    }
}

/// `spec` with what its container's `spec.json` records now, for a
/// restart by the monitor (which holds the spec it started with): the
/// cgroup limits (`rless update` may have changed them while it ran) and
/// the user-defined networks with their aliases (`network
/// connect|disconnect` and `rename`), kept across restarts as docker's.
/// `spec` as it is when the record cannot be read.
pub fn as_recorded(
    spec: &crate::runtime::ContainerSpec,
    dir: &std::path::Path,
) -> crate::runtime::ContainerSpec {
    let mut out = spec.clone();
    if let Ok(now) = super::read_spec(dir) {
        out.cgroup.settings = now.cgroup.settings;
        if out.user_networks.is_some() && now.user_networks.is_some() {
            out.user_networks = now.user_networks;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_overlay() {
        let f = LimitFlags {
            memory: Some("64m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some("20".into()),
            cpuset_cpus: Some("0-1".into()),
            cpu_quota: Some("20000".into()),
            memory_reservation: Some("32m".into()),
            blkio_weight: Some("300".into()),
            device_read_bps: vec!["/dev/loop0:1mb".into()],
            ..Default::default()
        };
        let mut h = HostOptions::default();
        apply(&mut h, &f);
        assert_eq!(h.memory_swap, 128 << 20, "docker's default");
        assert_eq!(h.blkio_device_read_bps[0].rate, 1 << 20);
        let back = flags_of(&h);
        assert_eq!(back.memory_swap, None);
        let mut again = HostOptions::default();
        apply(&mut again, &back);
        assert_eq!(again, h);
        let given = LimitFlags {
            memory: Some("128m".into()),
            device_read_bps: vec!["/dev/loop0:2mb".into()],
            ..Default::default()
        };
        let mut h2 = HostOptions::default();
        apply(&mut h2, &overlay(back, &given));
        assert_eq!(h2.memory, 128 << 20);
        assert_eq!(h2.memory_swap, 256 << 20);
        assert_eq!(h2.pids_limit, Some(20), "kept");
        assert_eq!(h2.cpuset_cpus, "0-1");
        assert_eq!(h2.blkio_device_read_bps.len(), 1);
        assert_eq!(h2.blkio_device_read_bps[0].rate, 2 << 20);
    }
}
