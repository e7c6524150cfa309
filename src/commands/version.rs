//! `rless version [--format json]`: this build's version and platform, as
//! `docker version` and `podman version` print theirs.

use anyhow::{bail, Result};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    format: String,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let platform = rless::image::platform::Platform::host();
    let os_arch = format!("{}/{}", platform.os, platform.arch);
    match a.format.as_str() {
        "json" => println!(
            "{}",
            serde_json::json!({"Version": version, "OsArch": os_arch, "Rootless": true})
        ),
        "table" => println!("Version:      {version}\nOS/Arch:      {os_arch}"),
        other => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(ExitCode::SUCCESS)
}
