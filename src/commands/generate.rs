//! `rless generate systemd [--name] CTR` (and `generate kube`, in kube.rs): a systemd user unit that starts
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
    /// Print Kubernetes YAML (kind Pod) for containers or pods (`kube generate`).
    Kube(super::kube::GenerateArgs),
}

#[derive(clap::Args)]
pub struct Args {
    /// Name the unit after the container's name rather than its id.
    #[arg(short, long)]
    name: bool,
    /// Seconds `stop` waits before SIGKILL (default: the container's --stop-timeout, else 10).
    #[arg(short, long)]
    time: Option<u64>,
    /// A unit that makes the container anew at each start (`run --replace
    /// --rm` with the options it was created with), as podman's.
    #[arg(long)]
    new: bool,
    container: String,
}

pub fn run(ctx: &Ctx, cmd: GenerateCmd) -> Result<ExitCode> {
    let a = match cmd {
        GenerateCmd::Systemd(a) => a,
        GenerateCmd::Kube(a) => return super::kube::run(ctx, super::kube::Cmd::Generate(a)),
    };
    let store = ctx.store(LockMode::Shared)?;
    let (c, _) = container::find(&store, &a.container)?;
    let time = a.time.or(c.stop_timeout).unwrap_or(10);
    let exe = std::env::current_exe()?;
    // A --new unit's container gets a new id at each start: its name
    // stays.
    let unit = if a.name || a.new {
        c.name.clone()
    } else {
        c.id.to_string()
    };
    let (start, kind) = if a.new {
        let (kept, image_and_command) =
            super::run::recreate::service_args(&c.create_command).map_err(|e| {
                if c.create_command.is_empty() {
                    anyhow::anyhow!(
                        "container {} has no recorded command line (made by an older rless): generate its unit without --new",
                        c.name
                    )
                } else {
                    anyhow::anyhow!("cannot make a --new unit of container {}: {e}", c.name)
                }
            })?;
        let words: Vec<String> = ["run", "--replace", "--rm", "--name", &c.name]
            .into_iter()
            .map(String::from)
            .chain(kept)
            .chain(image_and_command)
            .collect();
        (words, "made anew at each start")
    } else {
        let words = ["start", "-a", c.id.as_str()].map(String::from).to_vec();
        (words, "started")
    };
    let start = start
        .iter()
        .map(|w| unit_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    // The container a --new unit runs is known by its name.
    let stop_target = if a.new {
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
Description=rless container {name} ({kind})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
Restart={restart}
ExecStart={exe} --root {root} {start}
ExecStop={exe} --root {root} stop -t {time} {stop_target}
TimeoutStopSec={timeout}

[Install]
WantedBy=default.target",
        name = c.name,
        exe = unit_word(&exe.to_string_lossy()),
        root = unit_word(&ctx.root.to_string_lossy()),
        stop_target = unit_word(&stop_target),
        time = time,
        timeout = time + 10,
    );
    Ok(ExitCode::SUCCESS)
}

/// One word of an `Exec*=` line as systemd reads it: `%` and `$` doubled
/// (specifiers and variables), and double quotes around a word with
/// anything but plain characters, with `\` and `"` escaped.
fn unit_word(w: &str) -> String {
    let escaped = w.replace('%', "%%").replace('$', "$$");
    let plain = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        return escaped;
    }
    let mut out = String::from("\"");
    for c in escaped.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::unit_word;

    #[test]
    fn words_systemd_reads_back() {
        assert_eq!(unit_word("-p"), "-p");
        assert_eq!(unit_word("8080:80"), "8080:80");
        assert_eq!(unit_word("100%"), "100%%");
        assert_eq!(unit_word("echo $HOME"), "\"echo $$HOME\"");
        assert_eq!(unit_word(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(unit_word(""), "\"\"");
    }
}
