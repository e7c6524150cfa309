//! `rless container clone [--name N] [--destroy [-f]] [--run] [limits]
//! CTR [NAME] [IMAGE]` (podman 4's): a new container made as CTR was.
//!
//! Theory of operation: a container records the command line that made
//! it (podman's `CreateCommand`) and the directory it ran in. The clone
//! is that `create` again, run as a child `rless` in that directory (so
//! relative paths mean what they meant), with the original's options
//! walked by `run`'s own definition (`run::recreate::split`) and those
//! the clone sets itself taken out: `--name` (the new name: NAME, else
//! `--name`, else podman's `ORIGINAL-clone`, `-clone1`, … while taken),
//! the limits given here (which replace the original's), `--pod` when
//! given, `--pod-id-file` (the pod it named, recorded, is given as `--pod`
//! instead: the file may have changed), and what would clash or act
//! twice (`--replace`, `--cidfile`, `--pidfile` (podman's clone drops it
//! too: two containers would write one file), `-d`, `--preserve-fds`,
//! `--pull`). A pod's infra container
//! is not cloned: the clone would be some pod's infra container. IMAGE replaces the image. The
//! child prints the new id (its errors are its own, one line); then
//! `--destroy` removes the original (a running one only with `-f`, as
//! podman's `rm`; checked before anything is made) and `--run` starts
//! the clone.

use super::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use rless::container;
use rless::image::store::LockMode;
use std::process::{Command, ExitCode, Stdio};

#[derive(clap::Args)]
pub struct Args {
    /// The clone's name (default: the original's with `-clone`).
    #[arg(long)]
    name: Option<String>,
    /// Remove the original once the clone is made.
    #[arg(long)]
    destroy: bool,
    /// With --destroy: remove the original even if it runs.
    #[arg(short, long, requires = "destroy")]
    force: bool,
    /// Start the clone.
    #[arg(long)]
    run: bool,
    #[command(flatten)]
    limits: Limits,
    /// The container to clone.
    container: String,
    /// The clone's name (over --name).
    new_name: Option<String>,
    /// Another image for the clone.
    image: Option<String>,
}

/// The options of `run` a clone may set anew (podman's clone takes these).
#[derive(clap::Args)]
struct Limits {
    #[arg(long, value_name = "N")]
    cpus: Option<String>,
    #[arg(long, value_name = "US")]
    cpu_period: Option<String>,
    #[arg(long, value_name = "US")]
    cpu_quota: Option<String>,
    #[arg(short = 'c', long, value_name = "N")]
    cpu_shares: Option<String>,
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    #[arg(short, long, value_name = "M")]
    memory: Option<String>,
    #[arg(long, value_name = "M")]
    memory_reservation: Option<String>,
    #[arg(long, value_name = "M")]
    memory_swap: Option<String>,
    #[arg(long, value_name = "W")]
    blkio_weight: Option<String>,
    /// The pod the clone joins.
    #[arg(long, value_name = "POD")]
    pod: Option<String>,
}

impl Limits {
    /// (long name, value) of each one given.
    fn given(&self) -> Vec<(&'static str, &str)> {
        [
            ("cpus", &self.cpus),
            ("cpu-period", &self.cpu_period),
            ("cpu-quota", &self.cpu_quota),
            ("cpu-shares", &self.cpu_shares),
            ("cpuset-cpus", &self.cpuset_cpus),
            ("cpuset-mems", &self.cpuset_mems),
            ("memory", &self.memory),
            ("memory-reservation", &self.memory_reservation),
            ("memory-swap", &self.memory_swap),
            ("blkio-weight", &self.blkio_weight),
            ("pod", &self.pod),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// What the clone never takes from the original's command line.
const DROPPED: &[&str] = &[
    "name",
    "replace",
    "cidfile",
    "pidfile",
    "detach",
    "preserve-fds",
    "pull",
    "pod-id-file",
];

/// podman's words for removing a running container without force.
#[derive(Debug, thiserror::Error)]
pub enum CloneError {
    #[error("cannot remove container {0} as it is running - running or paused containers cannot be removed without force: container state improper")]
    Running(String),
    #[error(
        "container {0} has no recorded command line (made by an older rless): it cannot be cloned"
    )]
    NoCommand(String),
    #[error("cannot clone container {id}: {detail}")]
    BadCommand { id: String, detail: String },
    #[error("container {id} is the infra container of pod {pod}: it cannot be cloned (clone the pod's other containers)")]
    Infra { id: String, pod: String },
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &a.container)?;
    let id = c.id.as_str().to_string();
    if c.create_command.is_empty() {
        bail!(CloneError::NoCommand(id));
    }
    // An infra container is made by `pod create` (no image of its own);
    // a clone of it would be some pod's infra container again.
    if c.create_command.iter().any(|w| w == "--pod-infra") {
        let pod = container::pod::infra_of(&ctx.root, &c)
            .map_or_else(|| c.pod.clone().unwrap_or_default(), |p| p.name);
        bail!(CloneError::Infra { id, pod });
    }
    if a.destroy && !a.force && container::read_state(&dir).live() {
        bail!(CloneError::Running(id));
    }
    let mut limits = a.limits.given();
    let mut dropped: Vec<&str> = DROPPED.to_vec();
    // `--pod-id-file`: the pod it named then, which the container records
    // (the file may be gone or name another pod by now; and beside a
    // `--pod` given here the child would refuse both).
    let pod_by_file = c
        .create_command
        .iter()
        .any(|w| w == "--pod-id-file" || w.starts_with("--pod-id-file="));
    if let Some(p) = c
        .pod
        .as_deref()
        .filter(|_| pod_by_file && a.limits.pod.is_none())
    {
        limits.push(("pod", p));
    }
    dropped.extend(limits.iter().map(|(k, _)| *k));
    let (kept, mut image_cmd) =
        super::run::recreate::split(&c.create_command, &dropped).map_err(|detail| {
            CloneError::BadCommand {
                id: id.clone(),
                detail,
            }
        })?;
    if let Some(img) = &a.image {
        image_cmd[0] = img.clone();
    }
    let name = match a.new_name.clone().or(a.name.clone()) {
        Some(n) => n,
        None => free_name(&store, &c.name),
    };
    drop(store);

    let mut args: Vec<String> = vec!["--root".into(), ctx.root.display().to_string()];
    args.push("create".into());
    args.extend(kept);
    args.extend(["--name".into(), name]);
    for (k, v) in &limits {
        args.push(format!("--{k}={v}"));
    }
    args.extend(image_cmd);
    let mut cmd = Command::new("/proc/self/exe");
    // Its errors go straight to the user (`output` would keep them).
    cmd.args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(d) = c.create_dir.as_deref().filter(|d| d.is_dir()) {
        cmd.current_dir(d);
    }
    let out = cmd
        .output()
        .context("cannot run rless create for the clone")?;
    if !out.status.success() {
        // The child said why, in one line.
        return Ok(ExitCode::from(out.status.code().unwrap_or(125) as u8));
    }
    let new_id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if new_id.is_empty() {
        return Err(anyhow!("rless create printed no id for the clone"));
    }
    if a.destroy {
        remove_original(ctx, &id, a.force)?;
    }
    if a.run {
        super::start::start_quiet(ctx, &new_id)?;
    }
    println!("{new_id}");
    Ok(ExitCode::SUCCESS)
}

/// podman's default: `NAME-clone`, else `NAME-clone1`, `-clone2`, ….
fn free_name(store: &rless::image::store::Store, original: &str) -> String {
    let taken: Vec<String> = container::list(store).into_iter().map(|c| c.name).collect();
    let base = format!("{original}-clone");
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) {
        name = format!("{base}{n}");
        n += 1;
    }
    name
}

/// `rless rm [-f] ID` (in the user namespace where it must be).
fn remove_original(ctx: &Ctx, id: &str, force: bool) -> Result<()> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--root").arg(&ctx.root).arg("rm");
    if force {
        cmd.arg("-f");
    }
    let st = cmd
        .arg(id)
        .stdout(Stdio::null())
        .status()
        .context("cannot run rless rm for the original")?;
    if !st.success() {
        bail!("the clone was made, but the original {id} could not be removed");
    }
    Ok(())
}
