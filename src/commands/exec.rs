//! `rless exec [-d] [-i] [-t] [-e K=V] [--env-file F] [--privileged] [-w DIR]
//! [-u USER] [--preserve-fds N] [--detach-keys K] (-l | CTR) CMD…`: a new
//! process in a running container's namespaces, with the container's
//! process settings and these changes. `--privileged`
//! gives it every capability (in the container's user namespace), as
//! docker's does; the container's seccomp filter and masked paths stay.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::image::store::LockMode;
use rless::runtime::caps::CapSet;
use rless::runtime::exec::exec_in;
use rless::runtime::RunError;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Start the command and return at once.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    detach: bool,
    /// Pass stdin on.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    interactive: bool,
    /// Give the command a terminal.
    #[arg(short, long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tty: bool,
    /// Set an environment variable (KEY=value, or KEY to take it from here).
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read environment variables from a file (as run's --env-file).
    #[arg(long)]
    env_file: Vec<std::path::PathBuf>,
    /// Give the command every capability.
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    privileged: bool,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User (name or uid, optionally :group).
    #[arg(short, long)]
    user: Option<String>,
    /// With -it, the keys that detach from the command and leave it
    /// running (docker's form; default ctrl-p,ctrl-q; "" for none);
    /// without -it, accepted and passed over, as podman's.
    #[arg(long, value_name = "KEYS")]
    detach_keys: Option<String>,
    /// Pass descriptors 3 to 3+N-1 of this command on to the process
    /// (podman's); it gets no other one of this command's.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preserve_fds: u32,
    #[command(flatten)]
    latest: super::latest::Latest,
    /// CONTAINER COMMAND [ARG…] (with --latest: COMMAND [ARG…])
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    args: Vec<String>,
}

/// docker's exit code for an exec that could not be started (an unknown
/// `-u` user or group).
const EXIT_CANNOT_INVOKE: u8 = 126;

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    // An option clap does not know lands in CONTAINER (which takes values
    // that start with '-', for the command after it): it came before it.
    if let Some(flag) = a.args.first().filter(|f| f.starts_with('-')) {
        bail!("unknown flag: {flag} (see `rless exec --help`)");
    }
    // Checked where they would act (-it), as podman's, which passes over
    // them otherwise.
    // With -it, docker's default keys (ctrl-p,ctrl-q) unless given; "" none.
    let keys = match a.interactive && a.tty {
        true => super::attach::parse_detach_keys(
            a.detach_keys
                .as_deref()
                .unwrap_or(super::attach::DETACH_KEYS),
        )?,
        false => Vec::new(),
    };
    super::run::check_preserve_fds(a.preserve_fds)?;
    // With --latest every word is the command's, as podman's.
    let (name, command) = match a.latest.latest {
        true => (super::latest::latest_id(ctx)?, &a.args[..]),
        false if a.args.len() < 2 => {
            bail!("exec needs a container and a command (see `rless exec --help`)")
        }
        false => (a.args[0].clone(), &a.args[1..]),
    };
    // docker's check and words (an empty -w is the container's own).
    if let Some(w) = a
        .workdir
        .as_deref()
        .filter(|w| !w.is_empty() && !w.starts_with('/'))
    {
        bail!("the working directory '{w}' is invalid, it needs to be an absolute path");
    }
    // --env-file first, then -e; a later value of a name wins.
    let mut user_env = Vec::new();
    for f in &a.env_file {
        user_env.extend(super::run::read_env_file(f)?);
    }
    for e in &a.env {
        match e.split_once('=') {
            Some(("", _)) => bail!("invalid environment variable {e:?}"),
            Some(_) => user_env.push(e.clone()),
            None => user_env.extend(super::run::host_env(e)),
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let (c, dir) = container::find(&store, &name)?;
    drop(store);
    let state = container::read_state(&dir);
    let Some(pid) = state
        .pid
        .filter(|_| state.running() && container::process_alive(state.pid, state.init_start))
    else {
        bail!("container {} is not running", c.name);
    };
    if state.paused {
        bail!("container {} is paused; unpause it first", c.name);
    }
    let spec = container::read_spec(&dir)?;
    let mut process = spec.process.clone();
    process.args = command.to_vec();
    // Its own descriptors, not the container's command's (`run --preserve-fds`).
    process.preserve_fds = a.preserve_fds;
    for e in user_env {
        let name = e.split_once('=').map_or(e.as_str(), |(n, _)| n).to_string();
        process
            .env
            .retain(|x| x.split_once('=').map_or(x.as_str(), |(n, _)| n) != name);
        process.env.push(e);
        // The caller's value wins over a secret of the same name.
        process
            .secret_env
            .retain(|x| x.split_once('=').map_or(x.as_str(), |(n, _)| n) != name);
    }
    if a.privileged {
        process.caps = CapSet::all();
    }
    if let Some(w) = a.workdir.filter(|w| !w.is_empty()) {
        process.cwd = w;
    }
    if let Some(u) = a.user {
        process.user = u;
    }
    if let Some(code) = super::refuse_non_tty_input(a.interactive, a.tty, a.detach) {
        return Ok(code);
    }
    process.tty = a.tty;
    process.stdin = a.interactive;
    // The container's cgroup, opened before its namespaces hide it.
    let cgroup = state.cgroup.and_then(|d| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(d.join("cgroup.procs"))
            .ok()
    });
    rless::events::container_after(&dir, &c, "exec", &[]);
    let died = |code: i32| {
        let exit = ("containerExitCode", code.to_string());
        rless::events::container_after(&dir, &c, "exec_died", &[exit]);
    };
    // Recorded by the exec's holder, in this store's namespaces (this
    // process joins the container's), when the process ends: a process
    // detached from (the keys) later (`runtime::exec`).
    let code = match exec_in(
        pid,
        &process,
        &spec.hostname,
        a.detach,
        cgroup.map(Into::into),
        &keys,
        &died,
    ) {
        // docker: the exec could not be started, 126 (`run -u` is 125).
        Err(RunError::User(e)) => {
            eprintln!("rless: {e}");
            return Ok(ExitCode::from(EXIT_CANNOT_INVOKE));
        }
        r => r?,
    };
    // Detached (the keys): the process runs on, as `attach` leaves it.
    let Some(code) = code else {
        eprintln!();
        return Ok(ExitCode::SUCCESS);
    };
    Ok(ExitCode::from(code as u8))
}
