//! `rless version [--format json|TEMPLATE]`: this build's version and
//! platform, as `docker version` and `podman version` print theirs. There
//! is no daemon, so Server is the same program as Client (podman prints
//! both the same way when rootless); `{{.Client.Version}}` works as in
//! scripts written for either.

use super::format::Formatter;
use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// table, json, or a Go template such as '{{.Client.Version}}'.
    #[arg(short, long, default_value = "table")]
    format: String,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    let platform = rless::image::platform::Platform::host();
    let os_arch = format!("{}/{}", platform.os, platform.arch);
    let side = serde_json::json!({
        "Version": version, "OsArch": os_arch, "Os": platform.os, "Arch": platform.arch,
        "APIVersion": "", "GoVersion": "", "GitCommit": "", "Built": 0, "BuiltTime": "",
    });
    let info = serde_json::json!({"Client": side, "Server": side, "Rootless": true});
    match a.format.trim() {
        "table" | "" => println!("Version:      {version}\nOS/Arch:      {os_arch}"),
        _ => match Formatter::for_inspect(&a.format)? {
            None => println!("{}", serde_json::to_string_pretty(&info)?),
            Some(f) => println!("{}", f.render(&super::format::to_value(&info))?),
        },
    }
    Ok(ExitCode::SUCCESS)
}
