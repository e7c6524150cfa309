//! The cgroup limit flags of `run`, `create` and `update` (docker's and
//! podman's names), in one group both commands flatten in. They are kept
//! as given; `rless::runtime::cgroups::limits` checks and converts them.

use rless::runtime::cgroups::limits::LimitFlags;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct LimitArgs {
    /// Memory limit (cgroup v2 only).
    #[arg(short, long)]
    pub(crate) memory: Option<String>,
    /// Memory plus swap limit (cgroup v2 only).
    #[arg(long)]
    pub(crate) memory_swap: Option<String>,
    /// Memory the container is guaranteed when the host runs short (memory.low; cgroup v2 only).
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory_reservation: Option<String>,
    /// Refused: cgroup v2 has no kernel memory limit.
    #[arg(long, value_name = "SIZE", hide = true)]
    pub(crate) kernel_memory: Option<String>,
    /// CPUs (cgroup v2 only).
    #[arg(long)]
    pub(crate) cpus: Option<String>,
    /// CPU shares (cgroup v2 only).
    #[arg(short = 'c', long)]
    pub(crate) cpu_shares: Option<String>,
    /// CFS period in microseconds, with --cpu-quota (cpu.max; cgroup v2 only).
    #[arg(long, value_name = "MICROSECONDS")]
    pub(crate) cpu_period: Option<String>,
    /// CFS quota in microseconds per period (cpu.max; cgroup v2 only).
    #[arg(long, value_name = "MICROSECONDS")]
    pub(crate) cpu_quota: Option<String>,
    /// Refused: cgroup v2 has no realtime CPU limits.
    #[arg(long, hide = true)]
    pub(crate) cpu_rt_runtime: Option<String>,
    /// Refused: cgroup v2 has no realtime CPU limits.
    #[arg(long, hide = true)]
    pub(crate) cpu_rt_period: Option<String>,
    /// CPUs the container may run on, e.g. 0-3,7 (cpuset.cpus; cgroup v2 only).
    #[arg(long, value_name = "LIST")]
    pub(crate) cpuset_cpus: Option<String>,
    /// Memory nodes the container may use, e.g. 0,1 (cpuset.mems; cgroup v2 only).
    #[arg(long, value_name = "LIST")]
    pub(crate) cpuset_mems: Option<String>,
    /// Process limit (cgroup v2 only).
    #[arg(long)]
    pub(crate) pids_limit: Option<String>,
    /// Block I/O weight, 10 to 1000 (io.bfq.weight or io.weight; cgroup v2 only).
    #[arg(long, value_name = "WEIGHT")]
    pub(crate) blkio_weight: Option<String>,
    /// Block I/O weight of one device, DEVICE_PATH:WEIGHT.
    #[arg(long, value_name = "DEVICE:WEIGHT")]
    pub(crate) blkio_weight_device: Vec<String>,
    /// Read rate limit of a device, DEVICE_PATH:RATE (e.g. /dev/sda:1mb; io.max).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_read_bps: Vec<String>,
    /// Write rate limit of a device, DEVICE_PATH:RATE.
    #[arg(long, value_name = "DEVICE:RATE")]
    pub(crate) device_write_bps: Vec<String>,
    /// Read operations per second of a device, DEVICE_PATH:IOPS.
    #[arg(long, value_name = "DEVICE:IOPS")]
    pub(crate) device_read_iops: Vec<String>,
    /// Write operations per second of a device, DEVICE_PATH:IOPS.
    #[arg(long, value_name = "DEVICE:IOPS")]
    pub(crate) device_write_iops: Vec<String>,
}

impl LimitArgs {
    /// The flags for `rless::runtime::cgroups::limits::settings`.
    pub(crate) fn flags(&self) -> LimitFlags {
        LimitFlags {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            cpus: self.cpus.clone(),
            cpu_shares: self.cpu_shares.clone(),
            pids_limit: self.pids_limit.clone(),
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            cpu_period: self.cpu_period.clone(),
            cpu_quota: self.cpu_quota.clone(),
            memory_reservation: self.memory_reservation.clone(),
            kernel_memory: self.kernel_memory.clone(),
            blkio_weight: self.blkio_weight.clone(),
            blkio_weight_device: self.blkio_weight_device.clone(),
            device_read_bps: self.device_read_bps.clone(),
            device_write_bps: self.device_write_bps.clone(),
            device_read_iops: self.device_read_iops.clone(),
            device_write_iops: self.device_write_iops.clone(),
            cpu_rt_runtime: self.cpu_rt_runtime.clone(),
            cpu_rt_period: self.cpu_rt_period.clone(),
        }
    }
}
