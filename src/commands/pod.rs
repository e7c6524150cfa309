//! `rless pod create|exists|ps|inspect|rm|start|stop|kill|restart|pause|
//! unpause|top|prune|logs|stats` (podman's), and the `--requires` start of
//! required containers. `pod ps`, `pod inspect`, `pod logs` and `pod
//! stats` are `pod_views`'.
//!
//! Theory of operation: a pod is a group of containers, by default with an
//! infra container whose namespaces its members share (see
//! `rless::container::pod`, and `pod_infra` for its making); with
//! `--infra=false`, as podman-compose asks, a group and nothing more. The
//! commands that act on a pod's containers do what the container commands
//! do to each of its members, the infra container first for a start and
//! last for a stop or kill: `pod stop|kill|pause|unpause` in this process,
//! `pod start|restart` through `start`'s code, and `pod rm -f`/`pod prune`
//! through a child `rless rm -f` (which removes inside the user namespace,
//! as `rm` does).

use super::pod_infra;
use super::pod_views;
use super::removal::Failure;
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::pod::{self, PodConfig};
use rless::container::{self, ContainerConfig, ContainerState};
use rless::image::store::LockMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a pod: a group of containers sharing the namespaces of its infra container.
    Create(Box<CreateArgs>),
    /// Make a new pod as a pod was made (its members not).
    Clone(super::pod_clone::Args),
    /// Exit 0 if the pod exists, 1 if not.
    Exists(NameArg),
    /// List pods.
    #[command(name = "ps", visible_aliases = ["ls", "list"])]
    Ps(pod_views::PsArgs),
    /// Show pods' details as JSON.
    Inspect(pod_views::InspectArgs),
    /// Remove pods and their containers (refused while one runs, unless -f).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Start a pod's containers.
    Start(NamesArgs),
    /// Stop a pod's containers.
    Stop(StopArgs),
    /// Send a signal to a pod's running containers.
    Kill(KillArgs),
    /// Stop and start a pod's containers again.
    Restart(NamesArgs),
    /// Pause a pod's running containers.
    Pause(NamesArgs),
    /// Unpause a pod's paused containers.
    Unpause(NamesArgs),
    /// The processes of a pod's containers (options as `top`'s).
    Top(TopArgs),
    /// Remove every pod with no running container, and its containers.
    Prune(PruneArgs),
    /// The logs of a pod's containers, each line after its container's id.
    Logs(pod_views::LogsArgs),
    /// The resource usage of pods' running containers.
    Stats(pod_views::StatsArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The pod's name (default: a generated one).
    #[arg(short, long)]
    name: Option<String>,
    /// Make an infra container holding the shared namespaces (default true).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    infra: Option<bool>,
    /// Namespaces the members share: ipc, net, pid, uts, comma separated, +NS to add to the default, or none (default ipc,net,uts).
    #[arg(long)]
    share: Option<String>,
    #[command(flatten)]
    infra_opts: super::pod_infra::InfraArgs,
    /// Set a label (KEY=VALUE).
    #[arg(short, long)]
    label: Vec<String>,
    /// Remove a pod of that name first, with its containers (podman's).
    #[arg(long)]
    replace: bool,
    /// Write the pod's id to FILE (refused if it exists, as podman's).
    #[arg(long, value_name = "FILE")]
    pod_id_file: Option<PathBuf>,
    /// The name, as podman takes it after the options too.
    #[arg(conflicts_with = "name")]
    pod_name: Option<String>,
}

#[derive(clap::Args)]
pub struct TopArgs {
    pod: String,
    /// Options for ps, or podman's format descriptors, as `top`'s.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    options: Vec<String>,
}

#[derive(clap::Args)]
pub struct NameArg {
    name: String,
}

#[derive(clap::Args)]
pub struct NamesArgs {
    /// Every pod.
    #[arg(short, long)]
    all: bool,
    /// Also the pod whose id FILE holds (`pod create --pod-id-file`'s; may
    /// be repeated).
    #[arg(long, value_name = "FILE", conflicts_with = "all")]
    pod_id_file: Vec<PathBuf>,
    #[arg(required_unless_present_any = ["all", "pod_id_file"], conflicts_with = "all")]
    pods: Vec<String>,
}

impl NamesArgs {
    /// The pods named, then those the `--pod-id-file`s name; a file that
    /// cannot be read is an error, unless `ignore` (podman's).
    fn names(&self, ignore: bool) -> Result<Vec<String>> {
        let mut out = self.pods.clone();
        for f in &self.pod_id_file {
            match std::fs::read_to_string(f) {
                Ok(text) if !text.trim().is_empty() => out.push(text.trim().to_string()),
                Ok(_) => bail!("the pod id file {} is empty", f.display()),
                Err(_) if ignore => {}
                Err(e) => {
                    return Err(anyhow::Error::from(e)
                        .context(format!("cannot read the pod id file {}", f.display())))
                }
            }
        }
        Ok(out)
    }
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal before SIGKILL (default: each container's).
    #[arg(short, long)]
    time: Option<u64>,
    /// Ignore pods that do not exist.
    #[arg(short, long)]
    ignore: bool,
    #[command(flatten)]
    names: NamesArgs,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGUSR1) or a number.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[command(flatten)]
    names: NamesArgs,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove running pods too (their containers are killed).
    #[arg(short, long)]
    force: bool,
    /// Ignore pods that do not exist.
    #[arg(short, long)]
    ignore: bool,
    /// With -f: seconds a running container gets after its stop signal
    /// before SIGKILL (podman's; default 0, SIGKILL at once).
    #[arg(short, long, requires = "force", value_name = "SECS")]
    time: Option<u64>,
    #[command(flatten)]
    names: NamesArgs,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask (rless never asks).
    #[arg(short, long)]
    force: bool,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Create(a) => create(ctx, *a),
        Cmd::Clone(a) => super::pod_clone::run(ctx, a),
        Cmd::Exists(a) => {
            let found = pod::read(&ctx.root, &a.name).is_ok();
            Ok(ExitCode::from(if found { 0 } else { 1 }))
        }
        Cmd::Ps(a) => pod_views::ps(ctx, a),
        Cmd::Inspect(a) => pod_views::inspect(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Start(a) => each_pod(ctx, &a, false, |_, p, members| {
            not_empty(p, members, "start")?;
            start_members(ctx, members)
        }),
        Cmd::Stop(a) => each_pod(ctx, &a.names, a.ignore, |_, p, members| {
            stop_members(ctx, p, members, a.time)
        }),
        Cmd::Kill(a) => {
            let sig = rless::signal::Sig::parse(&a.signal)
                .with_context(|| format!("invalid signal {:?}", a.signal))?;
            each_pod(ctx, &a.names, false, |root, p, members| {
                let live: Vec<String> = pod_infra::stop_order(p, members)
                    .into_iter()
                    .filter(|id| container::read_state(&root.join("containers").join(id)).live())
                    .collect();
                super::stop::each(ctx, &live, true, |name, dir| {
                    container::control::kill(dir, sig)
                        .with_context(|| format!("cannot kill {name}"))
                })
                .map(drop)
            })
        }
        Cmd::Restart(a) => each_pod(ctx, &a, false, |_, p, members| {
            not_empty(p, members, "restart")?;
            if p.infra.is_some() {
                // The infra container's namespaces are new: every member
                // stops, then starts again in them.
                stop_members(ctx, p, members, None)?;
                return start_members(ctx, members);
            }
            let names = names_of(members);
            super::start::restart(
                ctx,
                super::start::RestartArgs::of(super::stop::StopArgs {
                    time: None,
                    signal: None,
                    ignore: true,
                    targets: super::stop::Targets {
                        all: false,
                        latest: Default::default(),
                        picks: Default::default(),
                        containers: names,
                    },
                }),
            )
            .map(drop)
        }),
        Cmd::Pause(a) => each_pod(ctx, &a, false, |_, p, members| {
            pod_infra::pause(ctx, p, members, true)
        }),
        Cmd::Unpause(a) => each_pod(ctx, &a, false, |_, p, members| {
            pod_infra::pause(ctx, p, members, false)
        }),
        Cmd::Top(a) => {
            let p = pod::read(&ctx.root, &a.pod)?;
            let pids = pod_infra::pids(ctx, &pod::members(&ctx.root, &p));
            if pids.is_empty() {
                bail!("pod {} has no running containers", p.name);
            }
            super::top::show(&pids, &a.options)
        }
        Cmd::Prune(_) => prune(ctx),
        Cmd::Logs(a) => pod_views::logs(ctx, a),
        Cmd::Stats(a) => pod_views::stats(ctx, a),
    }
}

/// Stops `members` of `p`, the infra container last.
fn stop_members(
    ctx: &Ctx,
    p: &PodConfig,
    members: &[ContainerConfig],
    time: Option<u64>,
) -> Result<()> {
    let names = pod_infra::stop_order(p, members);
    super::stop::each(ctx, &names, true, |_, dir| {
        Ok(super::stop::stop_one(dir, None, time)?)
    })
    .map(drop)
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<ExitCode> {
    let infra = a.infra != Some(false);
    if !infra {
        // podman's: no namespace is shared without an infra container.
        if a.share
            .as_deref()
            .is_some_and(|s| !s.is_empty() && s != "none")
        {
            bail!("a pod without an infra container (--infra=false) shares no namespaces: give no --share, or --share=");
        }
        pod_infra::check_no_infra(&a.infra_opts)?;
    }
    let labels = super::filters::key_values("label", &a.label)?;
    let name = a.name.or(a.pod_name);
    if a.replace && name.is_none() {
        bail!("--replace needs the pod's name (--name)");
    }
    let mut id_file = a.pod_id_file.as_deref().map(IdFile::make).transpose()?;
    // --replace: once the options are checked, and before the ports are
    // (the pod replaced may hold them).
    let mut replace = || match (a.replace, &name) {
        (true, Some(n)) => match remove_pod(ctx, n, true, None) {
            Err(e) if Failure::of(&e) == Failure::Missing => Ok(()),
            r => r.map(drop),
        },
        _ => Ok(()),
    };
    let p = match infra {
        true => pod_infra::create(
            ctx,
            name.clone(),
            labels,
            a.share.as_deref(),
            &a.infra_opts,
            &mut replace,
        )?,
        false => {
            replace()?;
            let store = ctx.store(LockMode::Shared)?;
            pod::create(&store, name.clone(), labels, Vec::new())?
        }
    };
    if let Some(f) = id_file.as_mut() {
        f.write(&p.id)?;
    }
    println!("{}", p.id);
    Ok(ExitCode::SUCCESS)
}

/// `pod create --pod-id-file`: made before the pod (one that exists is
/// refused, in podman's words), removed again unless the pod's id is
/// written to it.
struct IdFile {
    path: PathBuf,
    file: std::fs::File,
    written: bool,
}

impl IdFile {
    fn make(path: &Path) -> Result<IdFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "pod id file exists. Ensure another pod is not using it or delete {}",
                    path.display()
                ),
                _ => anyhow::Error::from(e)
                    .context(format!("cannot create the pod id file {}", path.display())),
            })?;
        Ok(IdFile {
            path: path.to_path_buf(),
            file,
            written: false,
        })
    }

    fn write(&mut self, id: &str) -> Result<()> {
        use std::io::Write;
        self.file
            .write_all(id.as_bytes())
            .with_context(|| format!("cannot write the pod id file {}", self.path.display()))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for IdFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) fn state_of(root: &Path, c: &ContainerConfig) -> ContainerState {
    container::read_state(&root.join("containers").join(c.id.as_str()))
}

pub(super) fn names_of(members: &[ContainerConfig]) -> Vec<String> {
    members.iter().map(|c| c.id.as_str().to_string()).collect()
}

/// Runs `f` on each pod named (or every pod) with its members; prints each
/// pod's id once `f` succeeds, reports failures as the container commands.
fn each_pod(
    ctx: &Ctx,
    a: &NamesArgs,
    ignore: bool,
    mut f: impl FnMut(&Path, &PodConfig, &[ContainerConfig]) -> Result<()>,
) -> Result<ExitCode> {
    let root = ctx.root.clone();
    let pods: Vec<Result<PodConfig>> = match a.all {
        true => pod::list(&root).into_iter().map(Ok).collect(),
        false => a
            .names(ignore)?
            .iter()
            .map(|q| pod::read(&root, q).map_err(anyhow::Error::from))
            .collect(),
    };
    let mut failed = super::stop::Failures::default();
    for p in pods {
        let r = p.and_then(|p| {
            f(&root, &p, &pod::members(&root, &p))?;
            Ok(p)
        });
        match r {
            Ok(p) => println!("{}", p.id),
            Err(e) if ignore && e.downcast_ref::<pod::PodError>().is_some_and(not_found) => {}
            Err(e) => failed.add(e),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

fn not_found(e: &pod::PodError) -> bool {
    matches!(e, pod::PodError::NotFound(_))
}

/// podman's `pod start|restart` of a pod with no containers: an error
/// (exit 125); `pod stop|kill` of one succeed, as podman's.
fn not_empty(p: &PodConfig, members: &[ContainerConfig], op: &str) -> Result<()> {
    if members.is_empty() {
        bail!("pod {} has no containers: nothing to {op}", p.name);
    }
    Ok(())
}

/// Starts each member that is not running; `start` starts the containers
/// each requires first.
fn start_members(ctx: &Ctx, members: &[ContainerConfig]) -> Result<()> {
    for c in members {
        if !state_of(&ctx.root, c).live() {
            super::start::start_quiet(ctx, c.id.as_str())
                .with_context(|| format!("cannot start {}", c.name))?;
        }
    }
    Ok(())
}

/// Starts the pod's infra container `id` when it is not running (`run
/// --pod` of a member, before its checks).
pub fn start_infra(ctx: &Ctx, id: &str) -> Result<()> {
    pod_infra::start_infra(ctx, id)
}

/// `--requires`: starts the containers `c` requires that are not running
/// (through `start`, which starts those they require in turn), before `c`.
/// A cycle of requirements (only `rm` then `rename` can make one) is
/// refused before anything starts.
/// A member of a pod with an infra container starts it first.
pub fn start_required(ctx: &Ctx, c: &ContainerConfig) -> Result<()> {
    let infra = c
        .pod
        .as_deref()
        .and_then(|p| pod::by_id(&ctx.root, p))
        .and_then(|p| p.infra)
        .filter(|i| i != c.id.as_str());
    if let Some(infra) = infra {
        start_infra(ctx, &infra)?;
    }
    if c.requires.is_empty() {
        return Ok(());
    }
    let store = ctx.store(LockMode::Shared)?;
    let mut path = vec![(c.id.as_str().to_string(), c.name.clone())];
    no_cycle(&store, c, &mut path, &mut Vec::new())?;
    drop(store);
    for n in &c.requires {
        let store = ctx.store(LockMode::Shared)?;
        let (r, dir) = container::find(&store, n)
            .with_context(|| format!("cannot start {n}, which {} requires", c.name))?;
        drop(store);
        if !container::read_state(&dir).live() {
            super::start::start_quiet(ctx, r.id.as_str())
                .with_context(|| format!("cannot start {n}, which {} requires", c.name))?;
        }
    }
    Ok(())
}

/// Depth-first walk of the `--requires` graph from `c`: `path` holds the
/// (id, name) of the containers on the way, `done` the ids whose
/// requirements are known to end. A name that finds no container is left
/// to the start that needs it.
fn no_cycle(
    store: &rless::image::store::Store,
    c: &ContainerConfig,
    path: &mut Vec<(String, String)>,
    done: &mut Vec<String>,
) -> Result<()> {
    for n in &c.requires {
        let Ok((r, _)) = container::find(store, n) else {
            continue;
        };
        let id = r.id.as_str().to_string();
        if let Some(at) = path.iter().position(|(i, _)| *i == id) {
            let names: Vec<&str> = path[at..]
                .iter()
                .map(|(_, n)| n.as_str())
                .chain([r.name.as_str()])
                .collect();
            bail!(
                "--requires of {} make a cycle ({}): none of them can start first",
                path[0].1,
                names.join(" -> ")
            );
        }
        if done.contains(&id) {
            continue;
        }
        path.push((id.clone(), r.name.clone()));
        no_cycle(store, &r, path, done)?;
        path.pop();
        done.push(id);
    }
    Ok(())
}

/// Whether a container called (or with an id starting with) `q` exists.
pub fn container_exists(root: &Path, q: &str) -> bool {
    container::list_at(root)
        .iter()
        .any(|c| c.name == q || (q.len() >= 3 && c.id.as_str().starts_with(q)))
}

/// `rless rm -f [-t SECS] IDS` in a child with this store (it removes
/// inside the user namespace, as `rm` does); its output is not shown.
fn remove_containers(ctx: &Ctx, ids: &[String], time: Option<u64>) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let status = super::rm::force_remove_child(ctx, &ids, true, time)?;
    if !status.success() {
        // rm said why on stderr.
        bail!("cannot remove the pod's containers ({status})");
    }
    Ok(())
}

/// As the other removals: each pod in turn, the exit status podman's
/// (see `removal`: 1 for an unknown pod, 2 for one with containers).
fn rm(ctx: &Ctx, a: RmArgs) -> Result<ExitCode> {
    let root = ctx.root.clone();
    let pods: Vec<String> = match a.names.all {
        true => pod::list(&root).into_iter().map(|p| p.id).collect(),
        false => a.names.names(a.ignore || a.force)?,
    };
    let mut failed = super::removal::Removals::default();
    for q in &pods {
        match remove_pod(ctx, q, a.force, a.time) {
            Ok(id) => println!("{id}"),
            Err(e) if (a.ignore || a.force) && Failure::of(&e) == Failure::Missing => {}
            Err(e) => failed.add(e),
        }
    }
    Ok(failed.finish())
}

/// Removes pod `q` and its containers: the running ones only if `force`
/// (given their stop signal and `time` seconds first, else killed); the
/// pod's id.
fn remove_pod(ctx: &Ctx, q: &str, force: bool, time: Option<u64>) -> Result<String> {
    let root = &ctx.root;
    // The pods lock from the first look at the members to the pod's
    // removal: a `create --pod` (which joins under it) waits, and cannot
    // join a pod whose infra container is going.
    let store = ctx.store(LockMode::Shared)?;
    let _lock = pod::lock(&store)?;
    let p = pod::read(root, q)?;
    let members = pod::members(root, &p);
    if !force {
        // podman's: the pod's containers go with it when none runs (the
        // infra container named only when it is the one).
        let (infra, others) = pod_infra::split(&p, &members);
        let mut running: Vec<String> = others
            .iter()
            .filter(|c| state_of(root, c).live())
            .map(|c| format!("{} (running)", c.name))
            .collect();
        if running.is_empty() {
            running.extend(
                infra
                    .filter(|c| state_of(root, c).live())
                    .map(|c| format!("{} (running)", c.name)),
            );
        }
        if !running.is_empty() {
            bail!(pod::PodError::InUse {
                name: p.name.clone(),
                containers: running.join(", "),
            });
        }
    }
    remove_containers(ctx, &pod_infra::stop_order(&p, &members), time)?;
    pod::remove_locked(root, &p)?;
    Ok(p.id)
}

fn prune(ctx: &Ctx) -> Result<ExitCode> {
    let root = ctx.root.clone();
    for p in pod::list(&root) {
        // Under the pods lock throughout, as `rm`.
        let store = ctx.store(LockMode::Shared)?;
        let _lock = pod::lock(&store)?;
        let Some(p) = pod::by_id(&root, &p.id) else {
            continue;
        };
        let members = pod::members(&root, &p);
        if members.iter().any(|c| state_of(&root, c).live()) {
            continue;
        }
        remove_containers(ctx, &pod_infra::stop_order(&p, &members), None)?;
        pod::remove_locked(&root, &p)?;
        println!("{}", p.id);
    }
    Ok(ExitCode::SUCCESS)
}
