//! `rless image prune [-a] [-f]`: remove dangling images (with `-a`, every
//! image no container uses; the build cache's images are dangling, and its
//! entries whose image went go too), then unreferenced layers and blobs; and
//! `rless system prune [-a] [-f] [--volumes]`, docker's (which also
//! removes `build`'s cache mounts no build is using, as docker's removes
//! its build cache).
//!
//! Theory of operation: each prune (`container prune` in `rm.rs`, `network
//! prune`, `volume prune`, `image prune` here) is one function that
//! removes, prints each name as it goes (after a section header, printed
//! before the first name when the caller gives one) and returns a
//! [`Pruned`]: how many, the bytes freed, the failures (reported each on
//! its own line already). `container prune` and `volume prune` print
//! their header always, `image prune` only before an id (as they did),
//! and each its "Total reclaimed space" (docker's); `system prune` runs them in docker's order (stopped containers
//! first, so the networks, volumes and images they used become unused),
//! prints the headers of the sections that removed something and one
//! "Total reclaimed space" line. It runs inside the user namespace (the
//! files of containers and layers may belong to subordinate ids), and asks
//! for confirmation first, outside it, where the terminal is: without
//! `-f` and without a terminal it refuses, as `system reset` does.
//! The intermediate images of a build that runs are left to it
//! (`build::record`).

use super::filters::PruneFilter;
use super::Ctx;
use anyhow::{bail, Result};
use rless::image::store::LockMode;
use rless::image::time::human_size;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all images not used by a container, not only untagged ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask (accepted for docker compatibility; rless never asks).
    #[arg(short, long)]
    force: bool,
    /// Prune only what matches: label=KEY[=VALUE], label!=KEY[=VALUE],
    /// until=TIME (made before it: a duration such as 24h, a date, unix
    /// seconds), as docker's.
    #[arg(long)]
    filter: Vec<String>,
}

/// What a prune removed.
pub struct Pruned {
    pub count: usize,
    pub freed: u64,
    pub errors: usize,
    /// "containers", "volumes", …: for the error.
    pub what: &'static str,
}

impl Pruned {
    pub fn new(what: &'static str) -> Pruned {
        Pruned {
            count: 0,
            freed: 0,
            errors: 0,
            what,
        }
    }

    /// Prints `name` (after `header`, the first time).
    pub fn removed(&mut self, header: &mut Option<&str>, name: &str, freed: u64) {
        if let Some(h) = header.take() {
            println!("{h}");
        }
        println!("{name}");
        self.count += 1;
        self.freed += freed;
    }

    /// An error when some could not be removed.
    pub fn finish(self) -> Result<Pruned> {
        if self.errors > 0 {
            bail!("{} {} could not be removed", self.errors, self.what);
        }
        Ok(self)
    }
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.force;
    let filter = PruneFilter::parse(&a.filter, "image")?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let pruned = prune_images(ctx, a.all, &filter, Some("Deleted Images:"))?;
    println!("Total reclaimed space: {}", human_size(pruned.freed));
    Ok(ExitCode::SUCCESS)
}

/// Removes the dangling (with `all`, every unused) images `filter` takes,
/// then the layers and blobs no image uses; prints each image id after
/// `header`.
pub fn prune_images(
    ctx: &Ctx,
    all: bool,
    filter: &PruneFilter,
    mut header: Option<&str>,
) -> Result<Pruned> {
    let store = ctx.store(LockMode::Exclusive)?;
    // The intermediate images of running builds are theirs.
    let building = super::build::live_images(&ctx.root);
    let removed = store.update_index(|index| {
        let mut removed = Vec::new();
        index.images.retain(|i| {
            let unused = (all || i.dangling())
                && !building.contains(i.id.hex())
                && filter.prunes(
                    |l| {
                        let labels = super::images::image_labels(&store, i);
                        match l.split_once('=') {
                            Some((k, v)) => labels.get(k).and_then(|x| x.as_str()) == Some(v),
                            None => labels.contains_key(l),
                        }
                    },
                    i.created,
                )
                && super::rmi::containers_using(&store, i.id.hex()).is_empty();
            if unused {
                removed.push(i.id.clone());
            }
            !unused
        });
        removed
    })?;
    // The build cache's entries whose images went.
    super::build::tidy_cache(&store, &store.index()?);
    let mut pruned = Pruned::new("images");
    for id in &removed {
        pruned.removed(&mut header, id.hex(), 0);
    }
    pruned.freed = super::rmi::collect(&store)?;
    Ok(pruned)
}

/// The cache mounts of `build` (`RUN --mount=type=cache`) no build is
/// using, as docker's `system prune` takes its build cache; prints each
/// one's key after `header`.
fn prune_mount_caches(ctx: &Ctx, mut header: Option<&str>) -> Result<Pruned> {
    let (removed, freed, errors) = super::build::prune_mount_caches(&ctx.root);
    let mut pruned = Pruned::new("build cache mounts");
    for key in &removed {
        pruned.removed(&mut header, key, 0);
    }
    pruned.freed = freed;
    pruned.errors = errors;
    Ok(pruned)
}

#[derive(clap::Args)]
pub struct SystemArgs {
    /// Remove every image no container uses, not only dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Remove unused anonymous volumes too.
    #[arg(long)]
    volumes: bool,
    /// Prune only what matches: label=KEY[=VALUE], label!=KEY[=VALUE],
    /// until=TIME (made before it: a duration such as 24h, a date, unix
    /// seconds), as docker's.
    #[arg(long)]
    filter: Vec<String>,
}

/// `system prune`: stopped containers, unused networks, (with `--volumes`)
/// unused anonymous volumes, dangling (with `-a`, unused) images.
pub fn system(ctx: &Ctx, a: SystemArgs) -> Result<ExitCode> {
    // Asked once, by the command the user started (the one re-executed in
    // the user namespace has the same arguments, and was asked for).
    let filter = PruneFilter::parse(&a.filter, "system")?;
    if !a.force && !rless::userns::in_userns() && !confirm(&a)? {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let mut total = 0;
    let mut failed = super::stop::Failures::default();
    let mut step = |r: Result<Pruned>| match r.and_then(Pruned::finish) {
        Ok(p) => total += p.freed,
        Err(e) => failed.add(e),
    };
    step(super::rm::prune_containers(
        ctx,
        &filter,
        Some("Deleted Containers:"),
    ));
    step(super::network::prune_networks(
        ctx,
        &filter,
        Some("Deleted Networks:"),
    ));
    if a.volumes {
        step(super::volume::prune_volumes(
            ctx,
            false,
            &filter,
            Some("Deleted Volumes:"),
        ));
    }
    step(prune_images(ctx, a.all, &filter, Some("Deleted Images:")));
    step(prune_mount_caches(ctx, Some("Deleted Build Cache Mounts:")));
    println!("Total reclaimed space: {}", human_size(total));
    failed.finish(ExitCode::SUCCESS)
}

/// Docker's warning and question, on a terminal; refuses without one.
fn confirm(a: &SystemArgs) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let mut what = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if a.volumes {
        what.push("all anonymous volumes not used by at least one container");
    }
    what.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    what.push("all build cache mounts (RUN --mount=type=cache) no build is using");
    if !std::io::stdin().is_terminal() {
        bail!(
            "system prune removes {}; pass -f to confirm (there is no terminal to ask on)",
            what.join(", ")
        );
    }
    let mut err = std::io::stderr().lock();
    writeln!(err, "WARNING! This will remove:")?;
    for w in &what {
        writeln!(err, "  - {w}")?;
    }
    write!(err, "\nAre you sure you want to continue? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
