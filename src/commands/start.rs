//! `rless start [-a [--sig-proxy=BOOL]] [-i] CTR…` and `rless restart`: run a created or
//! stopped container again with the spec it was created with (its writable
//! layer is kept).

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Attach: run in the foreground, with the container's output here.
    #[arg(short, long)]
    attach: bool,
    /// Pass stdin on (with -a).
    #[arg(short, long)]
    interactive: bool,
    /// With -a, pass the signals this process gets on to the container
    /// (true); false: a signal ends this process only, and the container
    /// runs on (with a terminal, the detach keys ctrl-p,ctrl-q leave it too).
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    sig_proxy: bool,
    /// With -a -i, the keys that detach from a container with a terminal
    /// (docker's form; default: the container's --detach-keys, else
    /// ctrl-p,ctrl-q).
    #[arg(long, value_name = "KEYS")]
    detach_keys: Option<String>,
    /// Start every container that is not running (podman's; `-a` is
    /// attach, as docker's).
    #[arg(long, conflicts_with_all = ["containers", "attach"])]
    all: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[command(flatten)]
    picks: super::picks::Picks,
    #[arg(required_unless_present_any = ["all", "latest", "cidfile", "filter"])]
    containers: Vec<String>,
    /// `start_quiet`'s: a failed start is an error (one line with the
    /// caller's context), not printed here.
    #[arg(skip)]
    failure_as_error: bool,
}

impl Args {
    /// A start in the background with every default (`start_quiet`,
    /// `restart`).
    fn background() -> Args {
        Args {
            attach: false,
            detach_keys: None,
            interactive: false,
            sig_proxy: true,
            all: false,
            latest: Default::default(),
            picks: Default::default(),
            containers: Vec::new(),
            failure_as_error: false,
        }
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    if a.attach && a.containers.len() > 1 {
        bail!("you cannot attach to more than one container");
    }
    if let Some(k) = &a.detach_keys {
        super::attach::parse_detach_keys(k)?;
    }
    a.latest.check_all(a.all)?;
    let names = match a.all {
        true => super::stop::all_ids(ctx, |s| !s.live() && s.status != "removing")?,
        false => a
            .picks
            .add_to(ctx, a.latest.or_names(ctx, &a.containers)?)?,
    };
    // Each name on its own, as docker: a bad one is reported, the rest start.
    let mut code = ExitCode::SUCCESS;
    let mut failed = super::stop::Failures::default();
    for q in &names {
        match start_one(ctx, q, &a, true) {
            Ok(c) => code = c,
            Err(e) => failed.add(e),
        }
    }
    failed.finish(code)
}

/// Starts container `q` in the background, printing nothing (the pod
/// commands and `--requires`).
pub fn start_quiet(ctx: &Ctx, q: &str) -> Result<()> {
    let a = Args {
        failure_as_error: true,
        ..Args::background()
    };
    match start_one(ctx, q, &a, false)? {
        c if c == ExitCode::SUCCESS => Ok(()),
        _ => bail!("container {q} did not start"),
    }
}

fn start_one(ctx: &Ctx, q: &str, a: &Args, print: bool) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, q)?;
    // podman's --requires: those containers first.
    super::pod::start_required(ctx, &c)?;
    // A pod's member starts under the pods lock (shared), held until it
    // runs or has failed to start (with -a too, as `run --pod`): `pod rm`
    // without -f (its check that none runs, then `rm -f`) cannot kill one
    // started between the two; a member it removed meanwhile is not found
    // again.
    let (pods, c, dir) = match c.pod.is_some() {
        true => {
            let l = rless::container::pod::lock_shared(&store)?;
            let (c, dir) = container::find(&store, c.id.as_str())?;
            (Some(l), c, dir)
        }
        false => (None, c, dir),
    };
    let lock = store.lock(&format!("ctr-{}", c.id))?;
    let state = container::read_state(&dir);
    if state.status == "removing" {
        bail!("container {q} is marked for removal and cannot be started");
    }
    if state.live() {
        if a.attach {
            bail!("container {q} is already running");
        }
        if print {
            println!("{q}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut spec = container::read_spec(&dir)?;
    // Mounted by `rless mount` in another `rless unshare` session: a
    // second overlay of its writable layer is refused (one in this
    // session is used as its root).
    container::session::check_not_held_elsewhere(&dir, &spec.merged, q)?;
    container::mark_stopped(&dir, false);
    container::mark_restart_requested(&dir, false);
    // Ids are decided now: a range granted since creation applies.
    spec.ids = ctx.ids.clone();
    drop(store);
    if a.attach {
        // The pods lock is held until the container runs, as below.
        drop(lock);
        spec.process.stdin = a.interactive;
        let mut c = c;
        if let Some(k) = &a.detach_keys {
            c.run_options.detach_keys = Some(k.clone());
        }
        // As `run -it --detach-keys`: keys to detach need a monitor of the
        // container's own.
        let detach_keys = spec.process.tty
            && spec.process.stdin
            && c.run_options
                .detach_keys
                .as_deref()
                .is_some_and(|k| !k.is_empty());
        if !a.sig_proxy || detach_keys {
            return super::run::run_unproxied(&spec, &dir, &c, super::run::Fresh::No, pods);
        }
        return super::run::attach(&spec, &dir, &c, super::run::Fresh::No, pods);
    }
    // The container's lock is held until the monitor has recorded the
    // start (`detach` returns then): a second `start` at once waits, then
    // finds it running (both started it, each with its own monitor).
    let code = match a.failure_as_error {
        true => super::run::detach_quiet(&spec, &dir, &c, super::run::Fresh::No, pods)
            .map(|()| ExitCode::SUCCESS),
        false => super::run::detach(&spec, &dir, &c, super::run::Fresh::No, pods),
    };
    drop(lock);
    // As docker and podman: the name as given (`start --all`: the id).
    if print && code.as_ref().is_ok_and(|c| *c == ExitCode::SUCCESS) {
        println!("{q}");
    }
    code
}

/// `restart`: `stop`'s options, and podman's `--running`.
#[derive(clap::Args)]
pub struct RestartArgs {
    /// With -a: only the running containers.
    #[arg(long, requires = "all")]
    running: bool,
    #[command(flatten)]
    stop: super::stop::StopArgs,
}

impl RestartArgs {
    /// `restart` with `stop`'s options only.
    pub fn of(stop: super::stop::StopArgs) -> RestartArgs {
        RestartArgs {
            running: false,
            stop,
        }
    }
}

pub fn restart(ctx: &Ctx, a: RestartArgs) -> Result<ExitCode> {
    let running = a.running;
    let a = a.stop;
    let start = Args::background();
    let first = a.first_signal()?;
    let mut code = ExitCode::SUCCESS;
    let mut failed = super::stop::Failures::default();
    let names = a
        .targets
        .names(ctx, |s| s.status != "removing" && (!running || s.live()))?;
    let skip_gone = a.ignore || a.targets.all;
    // An infra container named: its pod's running containers are
    // restarted with it (they must join its new namespaces), unnamed.
    let (names, added) = match a.targets.all {
        true => (names, Vec::new()),
        false => super::stop::with_infra_members(ctx, names)?,
    };
    let (members, infra) = super::stop::split_infra(ctx, names.clone());
    if a.targets.all || !infra.is_empty() {
        // Every container stops, pods' infra containers after their
        // members, then every one starts, the infra containers first: one
        // by one, a member restarted before its infra container (`restart
        // MEMBER INFRA`) would be left in the namespaces of the infra
        // container that ended (or be SIGKILLed with its PID namespace).
        let mut stopped = Vec::new();
        for q in members.iter().chain(&infra) {
            match stop_for_restart(ctx, q, first, a.time, skip_gone) {
                Ok(true) => stopped.push(q),
                Ok(false) => {}
                Err(e) => failed.add(e),
            }
        }
        stopped.sort_by_key(|q| !infra.contains(q));
        for q in stopped {
            match start_after_restart(ctx, q, &start, !added.contains(q)) {
                Ok(c) => code = c,
                Err(e) => failed.add(e),
            }
        }
        return failed.finish(code);
    }
    for q in &names {
        let r =
            stop_for_restart(ctx, q, first, a.time, skip_gone).and_then(|stopped| match stopped {
                true => start_after_restart(ctx, q, &start, true),
                false => Ok(ExitCode::SUCCESS),
            });
        match r {
            Ok(c) => code = c,
            Err(e) => failed.add(e),
        }
    }
    failed.finish(code)
}

/// `restart`'s stop of `q`, kept through it if `--rm`; `false`: it is
/// gone and `skip_gone`.
fn stop_for_restart(
    ctx: &Ctx,
    q: &str,
    first: Option<rless::signal::Sig>,
    time: Option<u64>,
    skip_gone: bool,
) -> Result<bool> {
    let store = ctx.store(LockMode::Shared)?;
    let (_, dir) = match container::find(&store, q) {
        Err(container::ContainerError::NotFound(_)) if skip_gone => return Ok(false),
        r => r?,
    };
    // A --rm container is kept through its restart, as docker.
    container::mark_restart_requested(&dir, true);
    if let Err(e) = super::stop::stop_one(&dir, first, time) {
        container::mark_restart_requested(&dir, false);
        return Err(e.into());
    }
    Ok(true)
}

/// `restart`'s start of `q` once stopped, and its event; `print`: its
/// name.
fn start_after_restart(ctx: &Ctx, q: &str, start: &Args, print: bool) -> Result<ExitCode> {
    let code = start_one(ctx, q, start, print)?;
    let store = ctx.store(LockMode::Shared)?;
    if let Ok((_, dir)) = container::find(&store, q) {
        rless::events::container(&dir, "restart", &[]);
    }
    Ok(code)
}
