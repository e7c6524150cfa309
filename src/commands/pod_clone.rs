//! `pod clone [--name N] [--destroy] [--start] [--hostname H] [-l K=V]
//! [--infra-name N] [--infra-command CMD] [--userns MODE] POD [NAME]`
//! (podman 4.3's): a new pod made as POD was, with clones of its members;
//! the options `pod create` has too change the clone (passed on to it,
//! over the original's).
//!
//! Theory of operation: a pod records its labels and the namespaces it
//! shares, and its infra container the command line that made it, which
//! `pod create` wrote with `--FLAG=VALUE` words (`pod_infra::make_infra`)
//! and the idle command after `--`. The clone is a child `rless pod
//! create` with the name, `--share`, the labels and those flags again
//! (the hostname only when it is not the old pod's default, its name; not
//! the infra container's name, which would clash; nor its hostname, which
//! podman 4.3 clears: the clone's is its own name, the default). Its
//! errors are its own, one line. The pod's other containers are then
//! cloned into it, as podman's (`container clone --pod NEW`; one that
//! fails takes the new pod and the clones made with it). Then `--destroy`
//! removes the original pod (`pod rm -f`) and `--start` starts the clone
//! (`pod start`). The clone's `pod create` does not check its ports
//! (hidden `--no-port-check`), as podman's, which binds them only at a
//! start: the original, running, holds them while the clone is made. So
//! nothing of the original is touched before the clone exists (a clone
//! that fails leaves it as it was, a `--rm` member included), and a
//! running pod can be cloned without `--destroy` (the clone's start then
//! fails while the original holds the ports).

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
    /// `pod create`'s, to change the clone: its hostname (default: its name).
    #[arg(long)]
    hostname: Option<String>,
    /// `pod create`'s: a label KEY=VALUE of the clone, beside the original's.
    #[arg(short, long)]
    label: Vec<String>,
    /// `pod create`'s: the clone's infra container's name.
    #[arg(long)]
    infra_name: Option<String>,
    /// `pod create`'s: the clone's infra command, over the original's.
    #[arg(long)]
    infra_command: Option<String>,
    /// `pod create`'s: the clone's user namespace mode, over the original's.
    #[arg(long)]
    userns: Option<String>,
    /// The pod to clone.
    pod: String,
    /// The clone's name (over --name).
    new_name: Option<String>,
}

/// The infra container's flags `pod create` takes again.
const FLAGS: &[&str] = &[
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
    let name = match a.new_name.or(a.name) {
        Some(n) => n,
        None => {
            let taken: Vec<String> = pod::list(&ctx.root).into_iter().map(|p| p.name).collect();
            clone_name(&p.name, |n| taken.iter().any(|t| t == n))
        }
    };
    let mut args: Vec<String> = vec!["pod".into(), "create".into(), "--name".into(), name];
    for (k, v) in &p.labels {
        args.push(format!("--label={k}={v}"));
    }
    // The options given, after the original's labels (a key given wins).
    args.extend(a.label.iter().map(|l| format!("--label={l}")));
    let given = [
        ("--hostname", &a.hostname),
        ("--infra-name", &a.infra_name),
        ("--infra-command", &a.infra_command),
        ("--userns", &a.userns),
    ];
    for (flag, v) in &given {
        if let Some(v) = v {
            args.push(format!("{flag}={v}"));
        }
    }
    let is_given = |flag: &str| given.iter().any(|(f, v)| *f == flag && v.is_some());
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
                let Some((flag, _)) = w.split_once('=') else {
                    continue;
                };
                if !FLAGS.contains(&flag) || is_given(flag) {
                    continue;
                }
                args.push(w.clone());
            }
            let cmd = words.get(end + 1..).unwrap_or_default().join(" ");
            if !cmd.is_empty() && cmd != "/catatonit -P" && !is_given("--infra-command") {
                args.push(format!("--infra-command={cmd}"));
            }
            // The original may hold its ports meanwhile (see above).
            args.push("--no-port-check".into());
        }
    }
    let id = make(ctx, &args, &p)?;
    if a.destroy {
        super::child::run(ctx, &["pod".into(), "rm".into(), "-f".into(), p.id.clone()])?;
    }
    if a.start {
        super::child::run(ctx, &["pod".into(), "start".into(), id.clone()])?;
    }
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// The clone: `pod create ARGS`, then clones of `p`'s members in it; its id.
fn make(ctx: &Ctx, args: &[String], p: &pod::PodConfig) -> Result<String> {
    let out = super::child::run(ctx, args)?;
    let id = out.trim().to_string();
    // podman's: the pod's other containers are cloned into the clone
    // (`container clone --pod`, oldest first); should one fail, the clone
    // goes again, with those made.
    let members: Vec<String> = pod::members(&ctx.root, p)
        .into_iter()
        .filter(|c| p.infra.as_deref() != Some(c.id.as_str()))
        .map(|c| c.id.as_str().to_string())
        .collect();
    for m in members {
        let clone = ["container", "clone", "--pod", &id, &m].map(String::from);
        if let Err(e) = super::child::run(ctx, &clone) {
            let _ = super::child::run(ctx, &["pod", "rm", "-f", &id].map(String::from));
            return Err(e);
        }
    }
    Ok(id)
}

/// podman's default name of a clone of pod `name`: `NAME-clone`, or once
/// that is `taken`, `NAME-clone1`, `NAME-clone2`… (a name with `-clone`
/// in it already counts on from the number after it).
fn clone_name(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut n = name.to_string();
    if taken(&format!("{n}-clone")) {
        n.push_str("-clone");
    }
    let Some(at) = n.find("-clone").map(|i| i + "-clone".len()) else {
        return format!("{n}-clone");
    };
    let mut count = match n[at..].parse::<u64>() {
        Ok(num) => {
            n.truncate(at);
            num
        }
        Err(_) if !taken(&format!("{n}1")) => return format!("{n}1"),
        Err(_) => 0,
    };
    loop {
        count += 1;
        let next = format!("{n}{count}");
        if !taken(&next) {
            return next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clone_name;

    #[test]
    fn clone_names_count_up_as_podmans() {
        let taken = |list: &'static [&'static str]| move |n: &str| list.contains(&n);
        assert_eq!(clone_name("p", taken(&[])), "p-clone");
        assert_eq!(clone_name("p", taken(&["p-clone"])), "p-clone1");
        assert_eq!(
            clone_name("p", taken(&["p-clone", "p-clone1", "p-clone2"])),
            "p-clone3"
        );
        assert_eq!(clone_name("p-clone", taken(&["p-clone"])), "p-clone1");
        assert_eq!(clone_name("p-clone4", taken(&["p-clone5"])), "p-clone6");
    }
}
