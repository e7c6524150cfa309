//! `rless generate systemd [--name] CTR`: a systemd user unit that starts
//! the container at login or boot (with lingering). rless has no daemon, so
//! nothing restarts containers after a reboot by itself; this is the way.
//! The unit runs `rless start -a`, so systemd supervises the monitor
//! directly and its own `Restart=` applies.

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum GenerateCmd {
    /// Print a systemd user unit for a container.
    Systemd(Args),
}

#[derive(clap::Args)]
pub struct Args {
    /// Name the unit after the container's name rather than its id.
    #[arg(short, long)]
    name: bool,
    /// Seconds `stop` waits before SIGKILL (default: the container's --stop-timeout, else 10).
    #[arg(short, long)]
    time: Option<u64>,
    container: String,
}

pub fn run(ctx: &Ctx, cmd: GenerateCmd) -> Result<ExitCode> {
    let GenerateCmd::Systemd(a) = cmd;
    let store = ctx.store(LockMode::Shared)?;
    let (c, _) = container::find(&store, &a.container)?;
    let time = a.time.or(c.stop_timeout).unwrap_or(10);
    let exe = std::env::current_exe()?;
    let root = ctx.root.display();
    let unit = if a.name {
        c.name.clone()
    } else {
        c.id.to_string()
    };
    let restart = match c.restart {
        container::RestartPolicy::No => "no",
        container::RestartPolicy::OnFailure(_) => "on-failure",
        container::RestartPolicy::Always | container::RestartPolicy::UnlessStopped => "always",
    };
    println!(
        "# container-{unit}.service, made by rless generate systemd.
# Install: save as ~/.config/systemd/user/container-{unit}.service, then
#   systemctl --user daemon-reload && systemctl --user enable --now container-{unit}
# For start at boot without a login: loginctl enable-linger $USER
[Unit]
Description=rless container {name}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
Restart={restart}
ExecStart={exe} --root {root} start -a {id}
ExecStop={exe} --root {root} stop -t {time} {id}
TimeoutStopSec={timeout}

[Install]
WantedBy=default.target",
        name = c.name,
        exe = exe.display(),
        id = c.id,
        time = time,
        timeout = time + 10,
    );
    Ok(ExitCode::SUCCESS)
}
