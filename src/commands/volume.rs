//! `rless volume create|ls|inspect|rm|prune|export|import`.
//!
//! Listing and inspecting read only `volume.json` files and run as the
//! user. Everything that deletes or reads a volume's content runs inside
//! the user namespace ([`Ctx::enter_userns`]), because containers write
//! files there as subordinate ids; creation needs no namespace (an empty
//! directory owned by the user is owned by the container's root).

use super::filters::{self, Filters, PruneFilter};
use super::format::{print_rows_headed, Format};
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::volume::{self, VolumeMeta};
use rless::image::store::LockMode;
use rless::image::time::{format_docker, format_rfc3339};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Create a volume (an existing one of that name is kept).
    Create(CreateArgs),
    /// List volumes.
    #[command(alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Show volumes' details as JSON.
    Inspect(InspectArgs),
    /// Remove volumes.
    Rm(RmArgs),
    /// Remove unused anonymous volumes (with -a, every unused volume).
    Prune(PruneArgs),
    /// Write a volume's content to standard output as a tar archive.
    Export(ExportArgs),
    /// Fill an empty volume (created if missing) from a tar archive.
    Import(ImportArgs),
    /// Exit 0 if the volume exists, 1 if not.
    Exists(super::exists::Args),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Set a label (KEY=VALUE).
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Set a driver option (KEY=VALUE); recorded only.
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Volume driver: only local.
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// The name (default: a random 64-hex name).
    name: Option<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Leave out the header line (podman's).
    #[arg(long)]
    noheading: bool,
    /// Print only names.
    #[arg(short, long)]
    quiet: bool,
    /// table, json, or a Go template such as '{{.Name}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Keep only volumes that match: dangling=true|false, name=PART,
    /// label=KEY or label=KEY=VALUE, driver=local (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// json, or a Go template run on each volume, such as '{{.Mountpoint}}'.
    #[arg(short, long, default_value = "json")]
    format: String,
    /// Every volume.
    #[arg(short, long, conflicts_with = "names")]
    all: bool,
    #[arg(required_unless_present = "all")]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Ignore volumes that do not exist (one a container uses is still refused, as docker).
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove every unused volume, named ones too.
    #[arg(short, long)]
    all: bool,
    /// Do not ask (rless never asks).
    #[arg(short, long)]
    force: bool,
    /// Prune only volumes that match: label=KEY[=VALUE], label!=KEY[=VALUE],
    /// until=TIME (made before it: a duration such as 24h, a date, unix seconds).
    #[arg(long)]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    name: String,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    name: String,
    /// A tar file, or `-` for standard input.
    source: PathBuf,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Create(a) => create(ctx, a),
        Cmd::Ls(a) => ls(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Prune(a) => prune(ctx, a),
        Cmd::Export(a) => export(ctx, a),
        Cmd::Import(a) => import(ctx, a),
        Cmd::Exists(a) => super::exists::run(ctx, super::exists::Kind::Volume, a),
    }
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<ExitCode> {
    if a.driver != "local" {
        bail!("unknown volume driver {:?}: only local", a.driver);
    }
    let labels = super::filters::key_values("label", &a.label)?;
    let options = super::filters::key_values("option", &a.opt)?;
    let store = ctx.store(LockMode::Shared)?;
    let _lock = volume::lock(store.root())?;
    let (anonymous, name) = match a.name {
        Some(n) => (false, n),
        None => (
            true,
            rless::container::ContainerId::random().as_str().to_string(),
        ),
    };
    let (meta, _) = volume::ensure(store.root(), &name, labels, options, anonymous)?;
    println!("{}", meta.name);
    Ok(ExitCode::SUCCESS)
}

/// docker's `volume inspect` object.
pub(super) fn describe(root: &Path, m: &VolumeMeta) -> serde_json::Value {
    serde_json::json!({
        "Name": m.name,
        "Driver": "local",
        "Mountpoint": volume::data_dir(root, &m.name),
        "CreatedAt": format_rfc3339(m.created),
        "Labels": m.labels,
        "Options": m.options,
        "Scope": "local",
        "Anonymous": m.anonymous,
        "UsedBy": volume::users(root, &m.name, None),
        // podman's: how many running containers have it mounted.
        "MountCount": mount_count(root, &m.name),
    })
}

/// The running containers that have volume `name` mounted.
fn mount_count(root: &Path, name: &str) -> usize {
    rless::container::list_at(root)
        .iter()
        .filter(|c| volume::used_by(c).any(|(n, _)| n == name))
        .filter(|c| {
            rless::container::read_state(&root.join("containers").join(c.id.as_str())).running()
        })
        .count()
}

/// Whether volume `v` passes one `volume ls --filter`.
fn filter_one(root: &Path, v: &VolumeMeta, key: &str, value: &str) -> bool {
    match key {
        "dangling" => volume::users(root, &v.name, None).is_empty() == filters::truth(value),
        "name" => v.name.contains(value),
        "driver" => value == "local",
        "label" => filters::has_label(&v.labels, value),
        _ => false,
    }
}

fn ls(ctx: &Ctx, a: LsArgs) -> Result<ExitCode> {
    let filters = Filters::parse(&a.filter, &["dangling", "name", "label", "driver"])?;
    let store = ctx.store(LockMode::Shared)?;
    let mut all = volume::list(store.root());
    all.retain(|v| filters.keeps(|k, val| filter_one(store.root(), v, k, val)));
    if a.quiet {
        for v in &all {
            println!("{}", v.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    match Format::parse(&a.format, "{{.Driver}}\t{{.Name}}") {
        Format::Json => {
            let out: Vec<_> = all.iter().map(|v| describe(store.root(), v)).collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            let rows: Vec<serde_json::Value> = all
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "Name": v.name, "Driver": "local", "Scope": "local",
                        "Mountpoint": volume::data_dir(store.root(), &v.name),
                        "Labels": super::format::labels_text(&v.labels), "CreatedAt": format_docker(v.created),
                        "Links": "N/A", "Size": "N/A",
                        // podman's.
                        "Options": v.options, "Anonymous": v.anonymous,
                        "MountCount": mount_count(store.root(), &v.name),
                        "UID": 0, "GID": 0,
                        (super::format::LABELS_KEY): v.labels,
                    })
                })
                .collect();
            let headers = [
                ("Name", "VOLUME NAME"),
                ("Driver", "DRIVER"),
                ("Scope", "SCOPE"),
                ("Mountpoint", "MOUNTPOINT"),
                ("Labels", "LABELS"),
                ("CreatedAt", "CREATED AT"),
                ("Links", "LINKS"),
                ("Size", "SIZE"),
            ];
            print_rows_headed(template, table, !a.noheading, &headers, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<ExitCode> {
    let formatter = super::format::Formatter::for_inspect(&a.format)?;
    let store = ctx.store(LockMode::Shared)?;
    let names: Vec<String> = match a.all {
        true => volume::list(store.root())
            .into_iter()
            .map(|v| v.name)
            .collect(),
        false => a.names,
    };
    // As docker: the volumes found are shown, each missing one reported.
    let mut out = Vec::new();
    let mut failed = super::stop::Failures::default();
    for n in &names {
        match volume::read(store.root(), n) {
            Ok(m) => out.push(describe(store.root(), &m)),
            Err(e) => failed.add(e.into()),
        }
    }
    super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    failed.finish(ExitCode::SUCCESS)
}

fn rm(ctx: &Ctx, a: RmArgs) -> Result<ExitCode> {
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let _lock = volume::lock(store.root())?;
    // Each name on its own, as docker: an unknown (without -f) or used one
    // is reported, the others are removed. Even -f never removes a volume
    // a container records (docker's rule; podman's -f removes the
    // containers too): that container could never start again.
    let mut failed = super::removal::Removals::default();
    for n in &a.names {
        let r = match volume::remove(store.root(), n, false) {
            Err(volume::VolumeError::NotFound(_)) if a.force => Ok(()),
            r => r,
        };
        match r {
            Ok(()) => println!("{n}"),
            Err(e) => failed.add(e.into()),
        }
    }
    Ok(failed.finish())
}

fn prune(ctx: &Ctx, a: PruneArgs) -> Result<ExitCode> {
    let _ = a.force;
    // Checked before the namespace, so a typo fails fast.
    let filter = PruneFilter::parse(&a.filter, "volume")?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    println!("Deleted Volumes:");
    let pruned = prune_volumes(ctx, a.all, &filter, None)?.finish()?;
    println!(
        "Total reclaimed space: {}",
        rless::image::time::human_size(pruned.freed)
    );
    Ok(ExitCode::SUCCESS)
}

/// Removes the unused anonymous (with `all`, every unused) volumes that
/// `filter` prunes; prints each name, after `header` before the first.
pub fn prune_volumes(
    ctx: &Ctx,
    all: bool,
    filter: &PruneFilter,
    mut header: Option<&str>,
) -> Result<super::prune::Pruned> {
    let store = ctx.store(LockMode::Shared)?;
    let _lock = volume::lock(store.root())?;
    let mut pruned = super::prune::Pruned::new("volumes");
    for v in volume::list(store.root()) {
        if !(all || v.anonymous)
            || !filter.prunes(|l| filters::has_label(&v.labels, l), v.created)
            || !volume::users(store.root(), &v.name, None).is_empty()
        {
            continue;
        }
        let size = super::system::tree_size(
            &volume::data_dir(store.root(), &v.name),
            &mut Default::default(),
        );
        match volume::remove(store.root(), &v.name, false) {
            Ok(()) => pruned.removed(&mut header, &v.name, size),
            Err(e) => {
                eprintln!("rless: cannot remove volume {}: {e}", v.name);
                pruned.errors += 1;
            }
        }
    }
    Ok(pruned)
}

fn export(ctx: &Ctx, a: ExportArgs) -> Result<ExitCode> {
    // Check before entering the namespace, so a typo fails fast.
    volume::read(&ctx.root, &a.name)?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    match &a.output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            volume::export(store.root(), &a.name, std::io::BufWriter::new(f))?;
        }
        None => {
            let out = std::io::stdout().lock();
            volume::export(store.root(), &a.name, std::io::BufWriter::new(out))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(ctx: &Ctx, a: ImportArgs) -> Result<ExitCode> {
    let stdin = a.source == Path::new("-");
    if !stdin {
        std::fs::metadata(&a.source)
            .with_context(|| format!("cannot read {}", a.source.display()))?;
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let lock = volume::lock(store.root())?;
    let (_, made) = volume::ensure(
        store.root(),
        &a.name,
        BTreeMap::new(),
        BTreeMap::new(),
        false,
    )?;
    drop(lock);
    let opts = super::extract_options(ctx);
    let result = if stdin {
        volume::import(store.root(), &a.name, std::io::stdin().lock(), &opts)
    } else {
        let f = std::fs::File::open(&a.source)
            .with_context(|| format!("cannot read {}", a.source.display()))?;
        volume::import(store.root(), &a.name, std::io::BufReader::new(f), &opts)
    };
    if let Err(e) = result {
        // A volume made for this import goes again, half-filled or not.
        if made {
            let _lock = volume::lock(store.root());
            let _ = volume::remove(store.root(), &a.name, true);
        }
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}
