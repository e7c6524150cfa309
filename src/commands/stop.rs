//! `rless stop [-t SECS] [-s SIG] [-i] (-a | CTR…)`, `rless kill [-s SIG]
//! (-a | CTR…)`, `rless wait CTR…`, `rless restart`: signals to the init,
//! which passes them on; the monitor records the exit. podman's `-a` acts
//! on every container the command applies to ([`Targets`]), named by full
//! id as podman prints them.

use super::Ctx;
use anyhow::{anyhow, Result};
use rless::container::{self, control};
use rless::image::store::LockMode;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait after the stop signal (SIGTERM unless the container has another) before SIGKILL; default: the container's --stop-timeout, else 10.
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Signal to send first instead of the container's stop signal: a
    /// name (TERM, SIGINT, RTMIN+3) or a number.
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Ignore names that do not exist.
    #[arg(short, long)]
    pub ignore: bool,
    #[command(flatten)]
    pub targets: Targets,
}

/// The containers a command acts on: the names given, or with `-a` every
/// container the command applies to.
#[derive(clap::Args)]
pub struct Targets {
    /// Every container (that the command applies to).
    #[arg(short, long)]
    pub all: bool,
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub containers: Vec<String>,
}

impl Targets {
    /// The names given, or with `-a` the full ids of the containers whose
    /// state `applies` accepts, in the store's order.
    pub fn names(
        &self,
        ctx: &Ctx,
        applies: impl Fn(&container::ContainerState) -> bool,
    ) -> Result<Vec<String>> {
        if !self.all {
            return Ok(self.containers.clone());
        }
        all_ids(ctx, applies)
    }
}

/// The full ids of the containers whose state `applies` accepts.
pub fn all_ids(
    ctx: &Ctx,
    applies: impl Fn(&container::ContainerState) -> bool,
) -> Result<Vec<String>> {
    let store = ctx.store(LockMode::Shared)?;
    let dir = container::containers_dir(&store);
    Ok(container::list(&store)
        .into_iter()
        .filter(|c| applies(&container::read_state(&dir.join(c.id.as_str()))))
        .map(|c| c.id.as_str().to_string())
        .collect())
}

impl StopArgs {
    /// The signal `-s` names, checked before any container is touched.
    pub fn first_signal(&self) -> Result<Option<rless::signal::Sig>> {
        self.signal
            .as_deref()
            .map(|s| rless::signal::Sig::parse(s).ok_or_else(|| anyhow!("invalid signal {s:?}")))
            .transpose()
    }
}

/// Stops the container in `dir` with `first` (else its stop signal).
pub fn stop_one(
    dir: &std::path::Path,
    first: Option<rless::signal::Sig>,
    time: Option<u64>,
) -> Result<(), rless::container::ContainerError> {
    let grace = grace(time, dir);
    match first {
        Some(sig) => control::stop_with(dir, sig, grace).map(drop),
        None => control::stop(dir, grace).map(drop),
    }
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send: a name (KILL, SIGUSR1, RTMIN+3) or a number.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[command(flatten)]
    targets: Targets,
}

#[derive(clap::Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

/// The errors of a command that acts on several names in turn, as docker
/// does: each is reported in order, one line each, and the command fails at
/// the end if any did (`main` prints the last one).
#[derive(Default)]
pub struct Failures(Option<anyhow::Error>);

impl Failures {
    pub fn add(&mut self, e: anyhow::Error) {
        if let Some(prev) = self.0.replace(e) {
            eprintln!("rless: {}", super::error_line(&prev));
        }
    }

    pub fn finish(self, code: ExitCode) -> Result<ExitCode> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(code),
        }
    }
}

/// Runs `f` on each container; reports every failure, fails if any did.
/// With `ignore`, names that do not exist are passed over.
pub fn each(
    ctx: &Ctx,
    names: &[String],
    ignore: bool,
    mut f: impl FnMut(&str, &std::path::Path) -> Result<()>,
) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let mut failed = Failures::default();
    for n in names {
        let r = match container::find(&store, n) {
            Err(container::ContainerError::NotFound(_)) if ignore => continue,
            r => r.map_err(anyhow::Error::from),
        };
        if let Err(e) = r.and_then(|(_, dir)| f(n, &dir)) {
            failed.add(e);
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

/// How long `stop` waits for the container in `dir`: `-t`, else its
/// `--stop-timeout`, else 10 seconds (docker's default).
pub fn grace(time: Option<u64>, dir: &std::path::Path) -> Duration {
    let secs = time
        .or_else(|| container::read_config(dir).and_then(|c| c.stop_timeout))
        .unwrap_or(10);
    Duration::from_secs(secs)
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<ExitCode> {
    let first = a.first_signal()?;
    // podman's `stop -a` names every container, stopped ones too.
    let names = a.targets.names(ctx, |_| true)?;
    each(ctx, &names, a.ignore || a.targets.all, |name, dir| {
        stop_one(dir, first, a.time)?;
        println!("{name}");
        Ok(())
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<ExitCode> {
    let sig = rless::signal::Sig::parse(&a.signal)
        .ok_or_else(|| anyhow!("invalid signal {:?}", a.signal))?;
    let names = a.targets.names(ctx, |s| s.live())?;
    each(ctx, &names, a.targets.all, |name, dir| {
        control::kill(dir, sig).map_err(|e| anyhow!("cannot kill {name}: {e}"))?;
        println!("{name}");
        Ok(())
    })
}

/// Each name in turn, as docker: an unknown one is reported and the others
/// are waited for. The store lock is not held while waiting (a `created`
/// container may wait long for its start, and `rmi` must not wait too).
pub fn wait(ctx: &Ctx, a: WaitArgs) -> Result<ExitCode> {
    let mut failed = Failures::default();
    for n in &a.containers {
        let dir = ctx
            .store(LockMode::Shared)
            .and_then(|store| Ok(container::find(&store, n)?.1));
        let r = dir.and_then(|dir| {
            control::wait_exit(&dir)
                .ok_or_else(|| anyhow!("container {n} was removed before it exited"))
        });
        match r {
            Ok(s) => println!("{}", s.exit_code.unwrap_or(0)),
            Err(e) => failed.add(e),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}
