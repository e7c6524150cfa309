//! `rless system reset -f`: delete the whole store, and `rless system df`:
//! what it takes on disk. Both run inside the user namespace (layer and
//! container files may belong to subordinate ids, in directories the user
//! cannot read from outside).

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::{self, volume};
use rless::image::store::{remove_tree, LockMode};
use rless::image::time::human_size;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DfArgs {
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

/// One row of `system df`.
#[derive(Default)]
struct Usage {
    total: usize,
    active: usize,
    size: u64,
    reclaimable: u64,
}

/// The bytes of the files under `dir`, each hard-linked file once, as
/// docker counts a container's or a volume's size. Unreadable parts count
/// as nothing.
pub fn tree_size(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut size = 0;
    for e in rd.flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            size += tree_size(&e.path(), seen);
        } else if seen.insert((m.dev(), m.ino())) {
            size += m.len();
        }
    }
    size
}

/// `system df`: images, containers and volumes, how many are in use, their
/// size and how much removing the unused ones would free.
pub fn df(ctx: &Ctx, a: DfArgs) -> Result<ExitCode> {
    if !matches!(a.format.as_str(), "table" | "json") {
        bail!("unknown --format {:?}: use table or json", a.format);
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let mut seen = HashSet::new();

    let mut containers = Usage::default();
    let mut used_images = HashSet::new();
    for c in container::list(&store) {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        let live = container::read_state(&dir).live();
        let size = tree_size(&dir.join("upper"), &mut seen);
        containers.total += 1;
        containers.size += size;
        if live {
            containers.active += 1;
        } else {
            containers.reclaimable += size;
        }
        used_images.insert(c.image_id.trim_start_matches("sha256:").to_string());
    }

    // Layers shared by several images count once.
    let mut layers: HashMap<_, u64> = HashMap::new();
    let mut active_layers = HashSet::new();
    let mut images = Usage::default();
    for img in &index.images {
        images.total += 1;
        let used = used_images.contains(img.id.hex());
        images.active += usize::from(used);
        for l in &img.layers {
            layers
                .entry(l.diff_id.clone())
                .or_insert_with(|| store.layer_meta(&l.diff_id).map_or(0, |m| m.size));
            if used {
                active_layers.insert(l.diff_id.clone());
            }
        }
    }
    images.size = layers.values().sum();
    images.reclaimable = layers
        .iter()
        .filter(|(d, _)| !active_layers.contains(*d))
        .map(|(_, s)| s)
        .sum();

    let mut volumes = Usage::default();
    for v in volume::list(store.root()) {
        let size = tree_size(&volume::data_dir(store.root(), &v.name), &mut seen);
        volumes.total += 1;
        volumes.size += size;
        if volume::users(store.root(), &v.name, None).is_empty() {
            volumes.reclaimable += size;
        } else {
            volumes.active += 1;
        }
    }

    let rows = [
        ("Images", images),
        ("Containers", containers),
        ("Local Volumes", volumes),
    ];
    if a.format == "json" {
        let out: Vec<_> = rows
            .iter()
            .map(|(t, u)| {
                serde_json::json!({
                    "Type": t, "Total": u.total, "Active": u.active,
                    "Size": u.size, "Reclaimable": u.reclaimable,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![[
        "TYPE".to_string(),
        "TOTAL".into(),
        "ACTIVE".into(),
        "SIZE".into(),
        "RECLAIMABLE".into(),
    ]];
    for (t, u) in &rows {
        let pct = (u.reclaimable * 100).checked_div(u.size).unwrap_or(0);
        table.push([
            t.to_string(),
            u.total.to_string(),
            u.active.to_string(),
            human_size(u.size),
            format!("{} ({pct}%)", human_size(u.reclaimable)),
        ]);
    }
    super::format::print_table(&table);
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ResetArgs {
    /// Really delete everything.
    #[arg(short, long)]
    force: bool,
}

pub fn reset(ctx: &Ctx, a: ResetArgs) -> Result<ExitCode> {
    if !a.force {
        bail!(
            "system reset deletes every image and container in {}; pass -f to confirm",
            ctx.root.display()
        );
    }
    if !ctx.root.exists() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Exclusive)?;
    let mut errors = Vec::new();
    // Running containers go first: their processes must not outlive the
    // store they run from.
    for c in rless::container::list(&store) {
        let dir = rless::container::containers_dir(&store).join(c.id.as_str());
        if rless::container::read_state(&dir).live()
            && rless::container::control::kill_now(&dir).is_none()
        {
            errors.push(format!("container {} did not stop", c.id.short()));
        }
    }
    // Then the network helper, with its runtime directory (outside the
    // store, named after it).
    if let Err(e) = rless::network::client::shut_down(store.root()) {
        errors.push(e.to_string());
    }
    let entries = std::fs::read_dir(store.root())
        .with_context(|| format!("cannot list {}", ctx.root.display()))?;
    for e in entries.flatten() {
        // The lock file stays until we are done; it is removed last.
        if e.file_name() == "store.lock" {
            continue;
        }
        if let Err(err) = remove_tree(&e.path()) {
            errors.push(err.to_string());
        }
    }
    if !errors.is_empty() {
        bail!("{} ({} errors in all)", errors[0], errors.len());
    }
    let _ = std::fs::remove_file(store.root().join("store.lock"));
    drop(store);
    let _ = std::fs::remove_dir(&ctx.root);
    Ok(ExitCode::SUCCESS)
}
