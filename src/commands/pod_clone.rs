//! `pod clone [--name N] [--destroy] [--start] POD [NAME]` (podman 4.3's):
//! a new pod made as POD was, without its members.
//!
//! Theory of operation: a pod records its labels and the namespaces it
//! shares, and its infra container the command line that made it, which
//! `pod create` wrote with `--FLAG=VALUE` words (`pod_infra::make_infra`)
//! and the idle command after `--`. The clone is a child `rless pod
//! create` with the name, `--share`, the labels and those flags again
//! (the hostname only when it is not the old pod's default, its name; not
//! the infra container's name, which would clash). Its errors are its
//! own, one line. Then `--destroy` removes the original pod (`pod rm -f`)
//! and `--start` starts the clone's infra container (`pod start`).

use super::Ctx;
use anyhow::Result;
use rless::container::{self, pod};
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The clone's name (default: the original's with -clone).
    #[arg(short, long)]
    name: Option<String>,
    /// Remove the original pod (and its containers) once the clone is made.
    #[arg(long)]
    destroy: bool,
    /// Start the clone.
    #[arg(long)]
    start: bool,
    /// The pod to clone.
    pod: String,
    /// The clone's name (over --name).
    new_name: Option<String>,
}

/// The infra container's flags `pod create` takes again.
const FLAGS: &[&str] = &[
    "--hostname",
    "--publish",
    "--network",
    "--network-alias",
    "--add-host",
    "--dns",
    "--dns-search",
    "--dns-option",
    "--userns",
];

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let p = pod::read(&ctx.root, &a.pod)?;
    let name = a
        .new_name
        .or(a.name)
        .unwrap_or_else(|| format!("{}-clone", p.name));
    let mut args: Vec<String> = vec!["pod".into(), "create".into(), "--name".into(), name];
    for (k, v) in &p.labels {
        args.push(format!("--label={k}={v}"));
    }
    match &p.infra {
        None => args.push("--infra=false".into()),
        Some(infra) => {
            let store = ctx.store(LockMode::Shared)?;
            let (c, _) = container::find(&store, infra)?;
            drop(store);
            let share = match p.shared.is_empty() {
                true => "none".to_string(),
                false => p.shared.join(","),
            };
            args.push(format!("--share={share}"));
            let words = &c.create_command;
            let end = words.iter().position(|w| w == "--").unwrap_or(words.len());
            for w in &words[..end] {
                let Some((flag, v)) = w.split_once('=') else {
                    continue;
                };
                if !FLAGS.contains(&flag) || (flag == "--hostname" && v == p.name) {
                    continue;
                }
                args.push(w.clone());
            }
            let cmd = words.get(end + 1..).unwrap_or_default().join(" ");
            if !cmd.is_empty() && cmd != "/catatonit -P" {
                args.push(format!("--infra-command={cmd}"));
            }
        }
    }
    let out = super::child::run(ctx, &args)?;
    let id = out.trim().to_string();
    if a.destroy {
        super::child::run(ctx, &["pod".into(), "rm".into(), "-f".into(), p.id.clone()])?;
    }
    if a.start {
        super::child::run(ctx, &["pod".into(), "start".into(), id.clone()])?;
    }
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}
