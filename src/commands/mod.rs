//! One module per subcommand, as in netavark, plus `format` (the
//! `--format` templates the listing commands share). [`Ctx`] carries what every
//! command needs; commands that create or delete files with mapped owners
//! ask [`Ctx::enter_userns`] first.

use anyhow::Result;
use clap::{Parser, Subcommand};
use rless::image::store::{LockMode, Store};
use rless::userns::{self, IdMode};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

mod attach;
mod build;
mod child;
mod clone;
mod commit;
mod container_inspect;
mod cp;
mod diff;
mod events;
mod exec;
mod exists;
mod export;
mod filters;
mod format;
mod generate;
mod healthcheck;
mod history;
mod image_diff;
mod image_tree;
mod images;
mod import;
mod info;
mod init;
mod inspect;
mod kube;
mod kube_data;
mod kube_yaml;
mod latest;
mod load;
mod login;
mod logs;
mod manifest;
mod manifest_push;
mod mount;
mod netowner;
mod network;
mod outfile;
mod pause;
mod pflag;
mod picks;
mod pod;
mod pod_clone;
mod pod_infra;
mod pod_views;
mod port;
mod prune;
mod ps;
mod pull;
mod push;
mod registry_opts;
mod removal;
mod rename;
mod rm;
mod rmi;
mod run;
mod save;
mod search;
mod secret;
mod start;
mod stats;
mod stop;
mod system;
mod tag;
mod top;
mod unshare;
mod untag;
mod update;
mod version;
mod volume;

#[derive(Parser)]
#[command(
    name = "rless",
    version,
    about = "Rootless, daemonless containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Store directory (default: $XDG_DATA_HOME/rless).
    #[arg(long, global = true, env = "RLESS_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Pull an image from a registry.
    Pull(pull::Args),
    /// Search a registry for images, or list a repository's tags.
    Search(search::Args),
    /// Push an image to a registry.
    Push(push::Args),
    /// Write images to a docker-archive or oci-archive.
    Save(save::Args),
    /// Read images from a docker-archive or oci-archive.
    Load(load::Args),
    /// Run a command in a new container.
    Run(Box<run::Args>),
    /// Create a container without starting it (`rless start` starts it).
    Create(Box<run::Args>),
    /// List containers.
    Ps(ps::Args),
    /// Show a container's output.
    Logs(logs::Args),
    /// Show what happens to containers, images, volumes and networks.
    Events(events::Args),
    /// Run a command in a running container.
    Exec(exec::Args),
    /// Run a container's health check.
    #[command(subcommand)]
    Healthcheck(healthcheck::Cmd),
    /// Join a running container's output (and input, with -i).
    Attach(attach::Args),
    /// Start created or stopped containers.
    Start(start::Args),
    /// Make created or stopped containers ready to start (podman's).
    Init(init::Args),
    /// Stop running containers (SIGTERM, then SIGKILL).
    Stop(stop::StopArgs),
    /// Stop and start containers again.
    Restart(start::RestartArgs),
    /// Send a signal to running containers.
    Kill(stop::KillArgs),
    /// Wait for containers to stop; print their exit codes.
    Wait(stop::WaitArgs),
    /// Remove containers.
    Rm(rm::Args),
    /// Make an image from a container's changes.
    Commit(commit::Args),
    /// Build an image from a Containerfile (Dockerfile).
    Build(build::Args),
    /// A build step's copy into its container (started by build).
    #[command(hide = true, name = "build-copy")]
    BuildCopy(build::HelperArgs),
    #[command(hide = true, name = "build-glob")]
    BuildGlob(build::GlobArgs),
    /// Show what a container changed in its root filesystem.
    Diff(diff::Args),
    /// Show a container's processes.
    Top(top::Args),
    /// Show running containers' CPU, memory, process and I/O usage.
    Stats(stats::Args),
    /// Copy files between a container and the host.
    Cp(cp::Args),
    /// Write a container's root filesystem as a tar.
    Export(export::Args),
    /// Stop every process of containers (SIGSTOP).
    Pause(pause::Args),
    /// Resume paused containers.
    Unpause(pause::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Change the cgroup limits of containers (running ones at once).
    Update(Box<update::Args>),
    /// Show a container's published ports.
    Port(port::Args),
    /// Generate files for other tools (systemd units, Kubernetes YAML).
    #[command(subcommand)]
    Generate(generate::GenerateCmd),
    /// Show containers' or images' details as JSON.
    Inspect(container_inspect::Args),
    /// Manage containers (also `container run|create|start|…`: the
    /// top-level commands under docker's management names).
    #[command(subcommand)]
    Container(ContainerCmd),
    /// List images.
    Images(images::Args),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Remove images.
    Rmi(rmi::Args),
    /// Show how an image was built, newest step first.
    History(history::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Remove names from an image (all of them without NAME); the image stays.
    Untag(untag::Args),
    /// Make an image from a root filesystem tar or directory.
    Import(import::Args),
    /// Show how rless runs on this machine.
    Info(info::Args),
    /// Store credentials for a registry.
    Login(login::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(login::LogoutArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::Cmd),
    /// Manage user-defined networks.
    #[command(subcommand)]
    Network(network::Cmd),
    /// Manage pods (podman's): groups of containers sharing an infra container's namespaces.
    #[command(subcommand)]
    Pod(pod::Cmd),
    /// Run pods from Kubernetes YAML, remove them, write such YAML (podman's).
    #[command(subcommand)]
    Kube(kube::Cmd),
    /// `play kube FILE`: podman 3's `kube play`.
    #[command(subcommand)]
    Play(kube::PlayCmd),
    /// Manage secrets (podman's): data a container gets at creation.
    #[command(subcommand)]
    Secret(secret::Cmd),
    /// Manage manifest lists (podman's): multi-arch images.
    #[command(subcommand)]
    Manifest(manifest::Cmd),
    /// The per-user network helper (started by run).
    #[command(hide = true, name = "network-helper")]
    NetworkHelper(network::HelperArgs),
    /// Manage the store itself.
    #[command(subcommand)]
    System(SystemCmd),
    /// Run a command as root in the user namespace of rless's containers.
    Unshare(unshare::Args),
    /// Mount containers' root filesystems, in `rless unshare` (podman's); none: list the mounted ones.
    Mount(mount::MountArgs),
    /// Unmount containers' root filesystems mounted by `rless mount`.
    #[command(alias = "unmount")]
    Umount(mount::UmountArgs),
    /// Show rless's version.
    Version(version::Args),
}

#[derive(Subcommand)]
enum ImageCmd {
    /// List images.
    #[command(alias = "list", name = "ls")]
    Ls(images::Args),
    /// Show images' details as JSON.
    Inspect(inspect::Args),
    /// Show how an image was built, newest step first.
    History(history::Args),
    /// Show what an image changed against its parent (or another image): A added, C changed, D deleted.
    Diff(image_diff::Args),
    /// Show an image's layers as a tree (podman's), or with --whatrequires the images built on it.
    Tree(image_tree::Args),
    /// Remove unused images and layers.
    Prune(prune::Args),
    /// Remove images.
    #[command(alias = "remove")]
    Rm(rmi::Args),
    /// Pull an image from a registry.
    Pull(pull::Args),
    /// Push an image to a registry.
    Push(push::Args),
    /// Write images to a docker-archive or oci-archive.
    Save(save::Args),
    /// Read images from a docker-archive or oci-archive.
    Load(load::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Remove names from an image (all of them without NAME); the image stays.
    Untag(untag::Args),
    /// Make an image from a root filesystem tar or directory.
    Import(import::Args),
    /// Build an image from a Containerfile (Dockerfile).
    Build(build::Args),
    /// Exit 0 if the image exists, 1 if not.
    Exists(exists::Args),
}

/// The top-level commands docker also names `container CMD`.
const CONTAINER_ALIASES: &[&str] = &[
    "run", "create", "start", "stop", "restart", "kill", "wait", "exec", "attach", "logs", "top",
    "stats", "cp", "export", "diff", "commit", "pause", "unpause", "rename", "port", "update",
    "init",
];

impl Cli {
    /// Parses the command line. `run`, `create`, `exec` and `start` (the
    /// commands whose start-up users wait on) build only their own
    /// definition and the global options, not the
    /// tree of every command's (clap builds what it is given at every
    /// start: about 0.3 ms for the whole tree); a line that does not
    /// parse so, or asks for help, goes to the full parser, which gives
    /// the errors and help text.
    pub fn parse_args(args: Vec<OsString>) -> Result<Cli, clap::Error> {
        let args = pflag::expand(args);
        if let Some(cli) = Self::parse_start(&args) {
            return Ok(cli);
        }
        Cli::try_parse_from(args)
    }

    fn parse_start(args: &[OsString]) -> Option<Cli> {
        use clap::{Arg, Args as _, FromArgMatches as _};
        let i = command_index(args);
        let sub = match args.get(i)?.to_str()? {
            "run" => run::Args::augment_args(clap::Command::new("run")),
            "create" => run::Args::augment_args(clap::Command::new("create")),
            "exec" => exec::Args::augment_args(clap::Command::new("exec")),
            "start" => start::Args::augment_args(clap::Command::new("start")),
            _ => return None,
        };
        if args.iter().any(|a| a == "--help") {
            return None;
        }
        // The same global options as `Cli`'s, by the same ids.
        let cmd = clap::Command::new("rless")
            .arg(
                Arg::new("root")
                    .long("root")
                    .global(true)
                    .env("RLESS_ROOT")
                    .value_parser(clap::value_parser!(PathBuf)),
            )
            .arg(Arg::new("log_level").long("log-level").global(true))
            .subcommand(sub);
        let matches = cmd.try_get_matches_from(args).ok()?;
        Cli::from_arg_matches(&matches).ok()
    }
}

/// docker's `container run …` and the like are the top-level commands:
/// the word `container` is taken out of the command line before parsing,
/// rather than the options of `run` (and the rest) being defined twice,
/// which would double what clap builds at every start.
pub fn management_aliases(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // Past the global options to the command's name.
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        match a {
            "--root" | "--log-level" => i += 2,
            a if a.starts_with("--root=") || a.starts_with("--log-level=") => i += 1,
            _ => break,
        }
    }
    let is = |j: usize, w: &[&str]| {
        args.get(j)
            .and_then(|a| a.to_str())
            .is_some_and(|a| w.contains(&a))
    };
    if is(i, &["container"]) && is(i + 1, CONTAINER_ALIASES) {
        args.remove(i);
    }
    args
}

#[derive(Subcommand)]
enum ContainerCmd {
    /// List containers.
    #[command(alias = "list", name = "ls")]
    Ls(ps::Args),
    /// Remove containers.
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Remove every stopped container.
    Prune(filters::PruneArgs),
    /// Show containers' details as JSON.
    Inspect(container_inspect::Args),
    /// Exit 0 if the container exists, 1 if not.
    Exists(exists::Args),
    /// Make a new container as another was made (podman's).
    Clone(Box<clone::Args>),
    /// Mount containers' root filesystems, in `rless unshare` (podman's).
    Mount(mount::MountArgs),
    /// Unmount containers' root filesystems.
    #[command(alias = "unmount")]
    Umount(mount::UmountArgs),
}

#[derive(Subcommand)]
enum SystemCmd {
    /// Delete every image, layer and container in the store.
    Reset(system::ResetArgs),
    /// Show the store's disk usage: images, containers and volumes.
    Df(system::DfArgs),
    /// Remove stopped containers, unused networks, dangling (or unused) images and, with --volumes, unused anonymous volumes.
    Prune(prune::SystemArgs),
    /// Show what happens to containers, images, volumes and networks (`rless events`).
    Events(events::Args),
    /// Show the store, id mapping, storage driver and host (`rless info`).
    Info(info::Args),
    /// Stop every running container and the network helper, so that changed /etc/subuid ranges take effect (podman's).
    Migrate(system::MigrateArgs),
    /// Accepted for podman's scripts: rless has no lock numbers to reassign.
    Renumber(system::RenumberArgs),
}

/// Where the command's name is in `args`: after the program and the global
/// options (`--root DIR`, `--log-level L`, or their `=` forms).
pub(crate) fn command_index(args: &[OsString]) -> usize {
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        match a {
            "--root" | "--log-level" => i += 2,
            a if a.starts_with("--root=") || a.starts_with("--log-level=") => i += 1,
            _ => break,
        }
    }
    i
}

/// What every command needs.
pub struct Ctx {
    pub root: PathBuf,
    pub ids: IdMode,
}

impl Ctx {
    /// Opens the store; when another rless process holds its lock (a pull
    /// stuck on a slow registry, say), one line on stderr says what this
    /// command is waiting for.
    pub fn store(&self, mode: LockMode) -> Result<Store> {
        self.store_unless(mode, None)
    }

    /// [`Ctx::store`] whose wait gives up once `stop()` is true (a build
    /// asked to stop by a signal its handler caught).
    pub fn store_unless(&self, mode: LockMode, stop: Option<&dyn Fn() -> bool>) -> Result<Store> {
        Ok(Store::open_or_wait_unless(
            &self.root,
            mode,
            || eprintln!("waiting for the image store lock held by another rless process…"),
            stop,
        )?)
    }

    /// In subuid mode, re-runs this command inside the user namespace and
    /// returns its exit code; `None` means carry on in this process.
    pub fn enter_userns(&self) -> Result<Option<ExitCode>> {
        if !matches!(self.ids, IdMode::SubUid { .. }) || userns::in_userns() {
            return Ok(None);
        }
        let status = userns::reexec_in_userns(&self.ids)?;
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        Ok(Some(ExitCode::from(code as u8)))
    }
}

/// An error as one printable line: the cause chain, without repeating a
/// cause a message already quotes (many errors include their source in
/// their text).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    rless::message::printable(&msg)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    // As podman: what rless makes for a container (its root directory,
    // /etc/hosts, volumes, the directories a bind mount or a build step
    // needs) does not take the caller's umask; a batch job's `umask 077`
    // made a container's `/` 0700 to its non-root users. The container's
    // processes start with 0022 too (`--umask` changes that). What must
    // stay private is made so explicitly (the store, secrets, the runtime
    // directory). `unshare` runs the user's own command, with their mask.
    if !matches!(cli.cmd, Cmd::Unshare(_)) {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    }
    let root = rless::config::store_root(cli.root.as_deref())?;
    // A store that cannot keep subordinate owners (NFS) runs in single-id
    // mode (runtime::owners); the first command to find out says so.
    // Commands that never touch the store do not ask (nor make it).
    let (ids, warning) = if matches!(
        cli.cmd,
        Cmd::Version(_) | Cmd::Search(_) | Cmd::Login(_) | Cmd::Logout(_)
    ) {
        (IdMode::current(), None)
    } else {
        rless::runtime::owners::for_store(&root, IdMode::current())
    };
    if let Some(w) = warning {
        eprintln!("rless: warning: {}", rless::message::printable(&w));
    }
    let ctx = Ctx { root, ids };
    // The commands that write layers into the store, an archive to a file
    // or a compressed blob for the registry (push) stop at a signal
    // without leaving half-written entries (see rless::interrupt).
    // (`commit` in single-id mode installs it itself, once it has
    // unshared its user namespace, which a process with threads cannot.)
    let commit = matches!(cli.cmd, Cmd::Commit(_));
    let single = matches!(ctx.ids, IdMode::Single { .. });
    if (commit && !single)
        || matches!(
            cli.cmd,
            Cmd::Pull(_)
                | Cmd::Load(_)
                | Cmd::Import(_)
                | Cmd::Save(_)
                | Cmd::Push(_)
                | Cmd::Manifest(manifest::Cmd::Push(_))
                | Cmd::Image(
                    ImageCmd::Pull(_)
                        | ImageCmd::Load(_)
                        | ImageCmd::Import(_)
                        | ImageCmd::Save(_)
                        | ImageCmd::Push(_)
                )
        )
    {
        rless::interrupt::install();
    }
    match cli.cmd {
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => pull::run(&ctx, a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => push::run(&ctx, a),
        Cmd::Search(a) => search::run(a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => save::run(&ctx, a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => load::run(&ctx, a),
        Cmd::Run(a) => run::run(&ctx, *a),
        Cmd::Create(a) => run::create(&ctx, *a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => ps::run(&ctx, a),
        Cmd::Logs(a) => logs::run(&ctx, a),
        Cmd::Events(a) => events::run(&ctx, a),
        Cmd::Exec(a) => exec::run(&ctx, a),
        Cmd::Healthcheck(c) => healthcheck::run(&ctx, c),
        Cmd::Attach(a) => attach::run(&ctx, a),
        Cmd::Start(a) => start::run(&ctx, a),
        Cmd::Init(a) => init::run(&ctx, a),
        Cmd::Stop(a) => stop::stop(&ctx, a),
        Cmd::Restart(a) => start::restart(&ctx, a),
        Cmd::Kill(a) => stop::kill(&ctx, a),
        Cmd::Wait(a) => stop::wait(&ctx, a),
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => rm::run(&ctx, a),
        Cmd::Container(ContainerCmd::Prune(a)) => rm::prune(&ctx, a),
        Cmd::Container(ContainerCmd::Exists(a)) => exists::run(&ctx, exists::Kind::Container, a),
        Cmd::Image(ImageCmd::Exists(a)) => exists::run(&ctx, exists::Kind::Image, a),
        Cmd::Container(ContainerCmd::Clone(a)) => clone::run(&ctx, *a),
        Cmd::Commit(a) => commit::run(&ctx, a),
        Cmd::Build(a) | Cmd::Image(ImageCmd::Build(a)) => build::run(&ctx, a),
        Cmd::BuildCopy(a) => build::copy_helper(&ctx, a),
        Cmd::BuildGlob(a) => build::glob_helper(&ctx, a),
        Cmd::Diff(a) => diff::run(&ctx, a),
        Cmd::Image(ImageCmd::Diff(a)) => image_diff::run(&ctx, a),
        Cmd::Image(ImageCmd::Tree(a)) => image_tree::run(&ctx, a),
        Cmd::Top(a) => top::run(&ctx, a),
        Cmd::Stats(a) => stats::run(&ctx, a),
        Cmd::Cp(a) => cp::run(&ctx, a),
        Cmd::Export(a) => export::run(&ctx, a),
        Cmd::Pause(a) => pause::pause(&ctx, a),
        Cmd::Unpause(a) => pause::unpause(&ctx, a),
        Cmd::Rename(a) => rename::run(&ctx, a),
        Cmd::Update(a) => update::run(&ctx, *a),
        Cmd::Port(a) => port::run(&ctx, a),
        Cmd::Generate(a) => generate::run(&ctx, a),
        Cmd::Inspect(a) => container_inspect::run(&ctx, a),
        Cmd::Container(ContainerCmd::Inspect(a)) => container_inspect::run_containers(&ctx, a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => images::run(&ctx, a),
        Cmd::Image(ImageCmd::Inspect(a)) => inspect::run(&ctx, a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => history::run(&ctx, a),
        Cmd::Image(ImageCmd::Prune(a)) => prune::run(&ctx, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => rmi::run(&ctx, a),
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => tag::run(&ctx, a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => import::run(&ctx, a),
        Cmd::Info(a) => info::run(&ctx, a),
        Cmd::Untag(a) | Cmd::Image(ImageCmd::Untag(a)) => untag::run(&ctx, a),
        Cmd::Login(a) => login::login(a),
        Cmd::Logout(a) => login::logout(a),
        Cmd::Volume(c) => volume::run(&ctx, c),
        Cmd::Network(c) => network::run(&ctx, c),
        Cmd::Pod(c) => pod::run(&ctx, c),
        Cmd::Secret(c) => secret::run(&ctx, c),
        Cmd::Manifest(c) => manifest::run(&ctx, c),
        Cmd::Kube(c) => kube::run(&ctx, c),
        Cmd::Play(c) => kube::play_kube(&ctx, c),
        Cmd::NetworkHelper(a) => network::helper(&ctx, a),
        Cmd::System(SystemCmd::Reset(a)) => system::reset(&ctx, a),
        Cmd::System(SystemCmd::Df(a)) => system::df(&ctx, a),
        Cmd::System(SystemCmd::Prune(a)) => prune::system(&ctx, a),
        Cmd::System(SystemCmd::Events(a)) => events::run(&ctx, a),
        Cmd::System(SystemCmd::Info(a)) => info::run(&ctx, a),
        Cmd::System(SystemCmd::Migrate(a)) => system::migrate(&ctx, a),
        Cmd::System(SystemCmd::Renumber(a)) => system::renumber(&ctx, a),
        Cmd::Unshare(a) => unshare::run(&ctx, a),
        Cmd::Mount(a) | Cmd::Container(ContainerCmd::Mount(a)) => mount::mount(&ctx, a),
        Cmd::Umount(a) | Cmd::Container(ContainerCmd::Umount(a)) => mount::umount(&ctx, a),
        Cmd::Version(a) => version::run(a),
    }
}

/// The extraction options for this id mode.
pub fn extract_options(ctx: &Ctx) -> rless::image::extract::ExtractOptions {
    rless::image::extract::ExtractOptions {
        id_limit: ctx.ids.id_limit(),
    }
}

/// `-i -t` in the foreground with an input that is not a terminal: docker
/// refuses ("the input device is not a TTY", exit 1). Relayed, such input
/// would be echoed back by the pty, and its end never reach the command.
/// `Some(code)` when refused (the message is printed).
pub fn refuse_non_tty_input(interactive: bool, tty: bool, detach: bool) -> Option<ExitCode> {
    use std::io::IsTerminal;
    if interactive && tty && !detach && !std::io::stdin().is_terminal() {
        eprintln!("rless: the input device is not a TTY");
        return Some(ExitCode::from(1));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_commands_parse_without_the_whole_tree() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let cli = Cli::parse_start(&v(&[
            "rless",
            "--root",
            "/r",
            "run",
            "--rm=false",
            "-it",
            "-p",
            "80",
            "img",
            "sh",
            "-c",
            "x",
        ]))
        .expect("the fast path");
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/r")));
        assert!(matches!(cli.cmd, Cmd::Run(_)));
        let cli = Cli::parse_start(&v(&["rless", "exec", "-it", "c", "sh", "--log-level", "x"]))
            .expect("the fast path");
        // After the command's first word everything is the command's.
        assert_eq!(cli.log_level, None);
        assert!(matches!(cli.cmd, Cmd::Exec(_)));
        // Help, errors and the other commands go to the full parser.
        for a in [
            &["rless", "run", "--help"][..],
            &["rless", "run", "--rm=maybe", "img"],
            &["rless", "ps"],
            &["rless", "start"],
        ] {
            assert!(Cli::parse_start(&v(a)).is_none(), "{a:?}");
        }
        // What the fast path takes, the full parser takes too.
        // (An unknown flag before the image is left to `run` itself,
        // which names it, by both.)
        for a in [
            &["rless", "create", "--name", "x", "img"][..],
            &["rless", "start", "-a", "x", "y"],
            &["rless", "run", "--nosuch", "img"],
        ] {
            assert!(Cli::parse_start(&v(a)).is_some(), "{a:?}");
            assert!(Cli::try_parse_from(v(a)).is_ok(), "{a:?}");
        }
    }

    #[test]
    fn container_management_names() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let m = |a: &[&str]| management_aliases(v(a));
        assert_eq!(
            m(&["rless", "container", "run", "x"]),
            v(&["rless", "run", "x"])
        );
        assert_eq!(
            m(&["rless", "--root", "/r", "container", "logs", "c"]),
            v(&["rless", "--root", "/r", "logs", "c"])
        );
        assert_eq!(
            m(&[
                "rless",
                "--log-level=debug",
                "container",
                "exec",
                "c",
                "container"
            ]),
            v(&["rless", "--log-level=debug", "exec", "c", "container"])
        );
        // Its own subcommands, and a container named like a command, stay.
        for kept in [
            &["rless", "container", "ls"][..],
            &["rless", "container", "inspect", "run"],
            &["rless", "run", "container", "run"],
        ] {
            assert_eq!(m(kept), v(kept));
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn docker_remove_aliases() {
        use clap::Parser;
        // docker's `image remove` and `container remove` are `rm`.
        for argv in [
            ["rless", "image", "remove", "x"],
            ["rless", "container", "remove", "x"],
        ] {
            assert!(super::Cli::try_parse_from(argv).is_ok(), "{argv:?}");
        }
    }
}
