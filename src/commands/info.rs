//! `rless info [--format json]`: store, id mapping, storage, host.

use super::Ctx;
use anyhow::{bail, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Output format: text or json.
    #[arg(long, short, default_value = "text")]
    format: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let uname = rustix::system::uname();
    let kernel = uname.release().to_string_lossy().into_owned();
    let cgroup = cgroup_version();
    let driver = storage_driver(&kernel);
    let (delegation, limits) = rless::runtime::cgroups::summary();
    let info = serde_json::json!({
        "Store": {"Root": ctx.root},
        "IdMapping": {"Mode": ctx.ids.name(), "Reason": ctx.ids.reason()},
        "Storage": {"Driver": driver.0, "Reason": driver.1},
        "Host": {
            "Kernel": kernel,
            "Arch": std::env::consts::ARCH,
            "CgroupVersion": cgroup,
            "CgroupLimits": limits,
            "CgroupDelegation": delegation.map(|d| serde_json::json!({
                "Path": d.root,
                "Controllers": d.controllers,
            })),
            "Rootless": rustix::process::getuid().as_raw() != 0,
        },
        "Version": env!("CARGO_PKG_VERSION"),
    });
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&info)?),
        "text" => {
            println!("Version:        {}", env!("CARGO_PKG_VERSION"));
            println!("Store:          {}", ctx.root.display());
            println!("Id mapping:     {} ({})", ctx.ids.name(), ctx.ids.reason());
            println!("Storage driver: {} ({})", driver.0, driver.1);
            println!("Kernel:         {kernel}");
            println!("Cgroups:        {cgroup}; {limits}");
        }
        other => bail!("unknown --format {other:?}: use text or json"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `v2`, `v1 (hybrid)` or `v1`, from the filesystem at /sys/fs/cgroup.
fn cgroup_version() -> &'static str {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    match rustix::fs::statfs("/sys/fs/cgroup") {
        // f_type's width differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        Ok(s) if s.f_type as i64 == CGROUP2_SUPER_MAGIC => "v2",
        Ok(_) if std::path::Path::new("/sys/fs/cgroup/unified").exists() => "v1 (hybrid)",
        Ok(_) => "v1",
        Err(_) => "none",
    }
}

/// Which union filesystem containers will use, and why. Unprivileged kernel
/// overlayfs needs Linux 5.11 or later.
fn storage_driver(kernel: &str) -> (&'static str, String) {
    let mut parts = kernel
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version >= (5, 11) {
        (
            "overlay",
            format!("kernel {kernel} mounts overlayfs in a user namespace"),
        )
    } else {
        (
            "fuse-overlay",
            format!("kernel {kernel} is older than 5.11 and has no unprivileged overlayfs"),
        )
    }
}
