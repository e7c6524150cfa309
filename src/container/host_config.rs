//! The options a container was created with, as docker's `HostConfig`
//! shows them.
//!
//! Theory of operation: `run`/`create` resolve most options into the
//! container's spec (mount plans, cgroup files, capability masks), a form
//! that no longer says what the user asked for. [`HostOptions`] keeps that,
//! in docker's types and field names (sizes in bytes, `NanoCpus`, `Ulimits`
//! as `{Name, Soft, Hard}`, capabilities `CAP_`-prefixed as docker 20.10+
//! normalizes them), so `inspect` can emit it as part of `HostConfig`
//! unchanged. It is stored in `config.json` under `host_config`; containers
//! made before it existed read it as all zero values.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// docker's HostConfig fields for the options rless takes (those that are
/// not derived from the spec by `inspect` itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostOptions {
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--tmpfs PATH[:OPTIONS]`: path to options.
    pub tmpfs: BTreeMap<String, String>,
    /// `--add-host HOST:IP`, as given.
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--cap-add`/`--cap-drop`, `CAP_`-prefixed and upper case (`ALL` as is).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    /// `--memory` in bytes; 0: no limit.
    pub memory: i64,
    /// `--memory-swap` in bytes (memory plus swap); -1: unlimited; twice
    /// `Memory` when only that is given (docker's default); 0: no limit.
    pub memory_swap: i64,
    /// `--cpus` in billionths of a CPU.
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    /// `--pids-limit` (0 for no limit); none when not given.
    pub pids_limit: Option<i64>,
    /// `--cpuset-cpus`, `--cpuset-mems` (as the kernel lists them).
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// `--cpu-period`, `--cpu-quota` in microseconds; 0: not given.
    pub cpu_period: i64,
    pub cpu_quota: i64,
    /// `--memory-reservation` in bytes.
    pub memory_reservation: i64,
    /// `--blkio-weight` (10 to 1000; 0: not given).
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<WeightDevice>,
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    pub cgroup_parent: String,
    pub security_opt: Vec<String>,
    /// `-P`.
    pub publish_all_ports: bool,
    /// `--volumes-from CTR[:ro|rw]`, as given.
    pub volumes_from: Vec<String>,
    /// `--log-driver` and `--log-opt`.
    pub log_config: super::logconfig::LogConfig,
    /// `--device` (host paths and CDI names) and `--gpus`, as podman
    /// shows them.
    pub devices: Vec<DeviceMapping>,
}

/// One `--device`: a host node (`/dev/x:/dev/y:rw`) or a CDI device, which
/// podman shows by its name on both sides without permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

impl DeviceMapping {
    /// From a `--device` value as given.
    pub fn from_option(d: &str) -> DeviceMapping {
        if crate::cdi::is_qualified(d) {
            return DeviceMapping {
                path_on_host: d.into(),
                path_in_container: d.into(),
                cgroup_permissions: String::new(),
            };
        }
        let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
        let parts: Vec<&str> = d.split(':').collect();
        let (src, dst, perms) = match parts[..] {
            [src, p] if is_perms(p) => (src, src, p),
            [src, dst] => (src, dst, "rwm"),
            [src, dst, p] => (src, dst, p),
            _ => (d, d, "rwm"),
        };
        DeviceMapping {
            path_on_host: src.into(),
            path_in_container: dst.into(),
            cgroup_permissions: perms.into(),
        }
    }
}

/// One `--blkio-weight-device`, as docker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// One `--device-{read,write}-{bps,iops}`, as docker shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// One `--ulimit`, as docker shows it (-1: unlimited).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

impl Ulimit {
    /// From a parsed `--ulimit` (`u64::MAX`: unlimited).
    pub fn new(name: &str, soft: u64, hard: u64) -> Ulimit {
        let n = |v: u64| i64::try_from(v).unwrap_or(-1);
        Ulimit {
            name: name.to_string(),
            soft: n(soft),
            hard: n(hard),
        }
    }
}

/// A capability name as docker shows it: `net_raw` → `CAP_NET_RAW`.
pub fn cap_name(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_names_and_values() {
        assert_eq!(cap_name("net_raw"), "CAP_NET_RAW");
        assert_eq!(cap_name("CAP_CHOWN"), "CAP_CHOWN");
        assert_eq!(cap_name("all"), "ALL");
        assert_eq!(Ulimit::new("nofile", 100, u64::MAX).hard, -1);
        let j = serde_json::to_value(HostOptions::default()).unwrap();
        for k in [
            "ReadonlyRootfs",
            "ExtraHosts",
            "CapDrop",
            "NanoCpus",
            "PidsLimit",
            "CpusetCpus",
            "CpuQuota",
            "MemoryReservation",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteIOps",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        // Older containers' config.json has no host_config: all zero values.
        let old: HostOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(old, HostOptions::default());
    }
}
