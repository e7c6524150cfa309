//! cgroups: where resource limits could be applied.
//!
//! Limits need a cgroup v2 subtree delegated to the user (systemd's
//! user@.service with Delegate=yes, or a site that delegates). On cgroup v1
//! and hybrid hosts, such as this project's CI machines, there is none, and
//! the container runs without limits after one warning. Writing limits into
//! a delegated subtree is not implemented yet; the reason says so.

/// Why limits cannot be applied here.
pub fn unavailable_reason() -> String {
    const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;
    let v2 = rustix::fs::statfs("/sys/fs/cgroup").is_ok_and(|s| {
        // f_type's width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        let t = s.f_type as u64;
        t == CGROUP2_SUPER_MAGIC
    });
    if !v2 {
        return "this host runs cgroup v1 or hybrid mode, which rootless containers cannot use"
            .into();
    }
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        })
        .unwrap_or_default();
    let dir = std::path::Path::new("/sys/fs/cgroup").join(own.trim_start_matches('/'));
    let writable = rustix::fs::access(
        dir.join("cgroup.subtree_control"),
        rustix::fs::Access::WRITE_OK,
    )
    .is_ok();
    if writable {
        "rless cannot write limits into the delegated cgroup v2 subtree yet".into()
    } else {
        format!(
            "no cgroup v2 subtree is delegated to you ({} is not writable)",
            dir.display()
        )
    }
}
