//! `rless info [--format json|TEMPLATE]`: store, id mapping, storage, host,
//! CDI devices. A template sees rless's fields and, for scripts written for
//! the others, podman's `.Store.GraphRoot`, `.Store.GraphDriverName`,
//! `.Host.Security.Rootless`, `.Host.CgroupsVersion`, `.Host.OS` and
//! docker's `.Driver`, `.DockerRootDir`, `.Architecture`, `.OSType`,
//! `.KernelVersion`, `.CgroupVersion`.

use super::Ctx;
use anyhow::{bail, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Output format: text, json, or a Go template (`{{.Host.Arch}}`).
    #[arg(long, short, default_value = "text")]
    format: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let uname = rustix::system::uname();
    let kernel = uname.release().to_string_lossy().into_owned();
    let cgroup = cgroup_version();
    let driver = storage_driver(ctx, &kernel)?;
    let (delegation, limits) = rless::runtime::cgroups::summary();
    // The CDI devices `run --device` can name; a malformed spec is shown,
    // not fatal here.
    let cdi_dirs = rless::cdi::spec_dirs();
    let (cdi_devices, cdi_error) = match rless::cdi::Registry::load(&cdi_dirs) {
        Ok(reg) => (reg.device_names(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    // Not uid 0 alone: rless inside `rless unshare` is uid 0 there.
    let rootless = !matches!(ctx.ids, rless::userns::IdMode::Root);
    let cgroups_version = if cgroup == "v2" { "v2" } else { "v1" };
    let info = serde_json::json!({
        "Store": {"Root": ctx.root, "GraphRoot": ctx.root, "GraphDriverName": driver.0},
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
            "Rootless": rootless,
            "OS": std::env::consts::OS,
            "CgroupsVersion": cgroups_version,
            "Security": {"Rootless": rootless},
        },
        "CDI": {"SpecDirs": cdi_dirs, "Devices": cdi_devices, "Error": cdi_error},
        "Version": env!("CARGO_PKG_VERSION"),
        "Driver": driver.0,
        "DockerRootDir": ctx.root,
        "Architecture": std::env::consts::ARCH,
        "OSType": std::env::consts::OS,
        "KernelVersion": kernel,
        "CgroupVersion": cgroups_version.trim_start_matches('v'),
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
            match &cdi_error {
                Some(e) => println!("CDI devices:    ({e})"),
                None if cdi_devices.is_empty() => println!("CDI devices:    none"),
                None => println!("CDI devices:    {}", cdi_devices.join(", ")),
            }
        }
        template if template.contains("{{") => {
            let f = super::format::Formatter::new(template)?;
            println!("{}", f.render(&super::format::to_value(&info))?);
        }
        other => bail!("unknown --format {other:?}: use text, json or a template"),
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

/// Which union filesystem containers will use, and why: `RLESS_STORAGE_DRIVER`
/// when set, else `storage.toml`'s driver, else the result of really
/// mounting kernel overlayfs in a user namespace with its upper layer in the
/// store (which fails on kernels before 5.11 and on upper filesystems such
/// as NFS).
fn storage_driver(ctx: &Ctx, kernel: &str) -> Result<(&'static str, String)> {
    use rless::runtime::storage::Driver;
    let forced = std::env::var("RLESS_STORAGE_DRIVER").ok();
    let (driver, source) = match forced.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => match Driver::parse(v) {
            Some(d) => (d, "RLESS_STORAGE_DRIVER".to_string()),
            None => bail!("unknown RLESS_STORAGE_DRIVER {v:?}: use overlay, fuse-overlay or auto"),
        },
        None => match rless::config::storage_driver()? {
            Some((d, path)) => (d, path.display().to_string()),
            None => (Driver::Auto, String::new()),
        },
    };
    if driver != Driver::Auto {
        return Ok((driver.name(), format!("set by {source}")));
    }
    // Made as the store makes it (private to the user), not with the umask.
    let _ = ctx.store(rless::image::store::LockMode::Shared);
    Ok(
        match rless::runtime::storage::probe_kernel_overlay(&ctx.root) {
            Ok(()) => (
                "overlay",
                format!("kernel {kernel} mounts overlayfs in a user namespace on this store"),
            ),
            Err(e) => (
                "fuse-overlay",
                format!("kernel {kernel} refuses overlayfs in a user namespace on this store: {e}"),
            ),
        },
    )
}
