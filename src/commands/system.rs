//! `rless system reset -f`: delete the whole store, and `rless system df
//! [-v]`: what it takes on disk (with `-v`, per image, container, volume). Both run inside the user namespace (layer and
//! container files may belong to subordinate ids, in directories the user
//! cannot read from outside). `rless system migrate`: podman's way to make
//! changed /etc/subuid ranges take effect (every running container
//! stopped; the network helper, which holds the user namespace the
//! containers join, then ends by itself); `system renumber`: podman's lock
//! renumbering, which rless (file locks per container) has no need of.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::{self, volume};
use rless::image::familiar;
use rless::image::store::{remove_tree, LockMode};
use rless::image::time::human_size;
use rless::runtime::plan::MountOp;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DfArgs {
    /// table or json.
    #[arg(long, default_value = "table")]
    format: String,
    /// One row per image, container and volume, as docker's `system df -v`.
    #[arg(short, long)]
    verbose: bool,
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

/// What `system df` measured, one entry per thing, for `-v`.
#[derive(Default)]
struct Detail {
    /// Image rows: one per name (`<none>` for none), as `images` lists.
    images: Vec<serde_json::Value>,
    containers: Vec<serde_json::Value>,
    volumes: Vec<serde_json::Value>,
}

/// `system df`: images, containers and volumes, how many are in use, their
/// size and how much removing the unused ones would free; with `-v`, each
/// of them.
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
    let mut detail = Detail::default();

    let mut containers = Usage::default();
    // Image id to the number of its containers.
    let mut used_images: HashMap<String, usize> = HashMap::new();
    for c in container::list(&store) {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        let state = container::read_state(&dir);
        let size = tree_size(&dir.join("upper"), &mut seen);
        containers.total += 1;
        containers.size += size;
        if state.live() {
            containers.active += 1;
        } else {
            containers.reclaimable += size;
        }
        let image_hex = c.image_id.trim_start_matches("sha256:").to_string();
        if a.verbose {
            let command = c.command.join(" ");
            let command = match command.chars().count() {
                0..=20 => format!("\"{command}\""),
                _ => format!("\"{}…\"", command.chars().take(19).collect::<String>()),
            };
            let health = container::health::status(&c, &dir);
            detail.containers.push(serde_json::json!({
                "ID": c.id.short(),
                "Image": match image_hex.as_str() {
                    "" => c.image_name.clone(),
                    _ => familiar(&c.image_name).to_string(),
                },
                "Command": command,
                "LocalVolumes": c.mounts.iter().filter(|m| matches!(m, MountOp::Volume { .. })).count(),
                "Size": size,
                "Created": c.created,
                "Status": super::ps::status_text(&state, &health),
                "Names": c.name,
            }));
        }
        *used_images.entry(image_hex).or_default() += 1;
    }

    // Layers shared by several images count once.
    let mut layers: HashMap<_, u64> = HashMap::new();
    // How many images use each layer.
    let mut layer_users: HashMap<_, usize> = HashMap::new();
    let mut active_layers = HashSet::new();
    let mut images = Usage::default();
    for img in &index.images {
        images.total += 1;
        let used = used_images.contains_key(img.id.hex());
        images.active += usize::from(used);
        for l in &img.layers {
            layers
                .entry(l.diff_id.clone())
                .or_insert_with(|| store.layer_meta(&l.diff_id).map_or(0, |m| m.size));
            *layer_users.entry(l.diff_id.clone()).or_default() += 1;
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
    if a.verbose {
        let mut sorted: Vec<_> = index.images.iter().collect();
        sorted.sort_by_key(|i| std::cmp::Reverse(i.created));
        for img in sorted {
            // docker's: the layers, and of them those other images use too.
            let size: u64 = img.layers.iter().map(|l| layers[&l.diff_id]).sum();
            let shared: u64 = img
                .layers
                .iter()
                .filter(|l| layer_users[&l.diff_id] > 1)
                .map(|l| layers[&l.diff_id])
                .sum();
            for (repo, tag) in super::images::repo_tags(img) {
                detail.images.push(serde_json::json!({
                    "Repository": repo,
                    "Tag": tag,
                    "ID": img.id.short(),
                    "Created": img.created,
                    "Size": size,
                    "SharedSize": shared,
                    "UniqueSize": size - shared,
                    "Containers": used_images.get(img.id.hex()).copied().unwrap_or(0),
                }));
            }
        }
    }

    let mut volumes = Usage::default();
    for v in volume::list(store.root()) {
        let size = tree_size(&volume::data_dir(store.root(), &v.name), &mut seen);
        let links = volume::users(store.root(), &v.name, None).len();
        volumes.total += 1;
        volumes.size += size;
        if links == 0 {
            volumes.reclaimable += size;
        } else {
            volumes.active += 1;
        }
        detail.volumes.push(serde_json::json!({
            "Name": v.name, "Links": links, "Size": size,
        }));
    }

    let rows = [
        ("Images", images),
        ("Containers", containers),
        ("Local Volumes", volumes),
    ];
    if a.verbose {
        return print_detail(&a.format, &detail);
    }
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

/// `system df -v`: docker's three tables, each under its title, or with
/// `--format json` one object of three arrays (sizes in bytes, times in
/// seconds since the epoch).
fn print_detail(format: &str, d: &Detail) -> Result<ExitCode> {
    if format == "json" {
        let out = serde_json::json!({
            "Images": d.images, "Containers": d.containers, "Volumes": d.volumes,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let size = |v: &serde_json::Value| human_size(v.as_u64().unwrap_or(0));
    let ago = |v: &serde_json::Value| rless::image::time::ago(v.as_i64().unwrap_or(0));
    let section = |title: &str, head: &[&str], rows: Vec<Vec<String>>| {
        println!("{title}:\n");
        let mut t = vec![head.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
        t.extend(rows);
        super::format::print_columns(&t);
        println!();
    };
    section(
        "Images space usage",
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        d.images
            .iter()
            .map(|i| {
                vec![
                    text(&i["Repository"]),
                    text(&i["Tag"]),
                    text(&i["ID"]),
                    ago(&i["Created"]),
                    size(&i["Size"]),
                    size(&i["SharedSize"]),
                    size(&i["UniqueSize"]),
                    text(&i["Containers"]),
                ]
            })
            .collect(),
    );
    section(
        "Containers space usage",
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
        d.containers
            .iter()
            .map(|c| {
                vec![
                    text(&c["ID"]),
                    text(&c["Image"]),
                    text(&c["Command"]),
                    text(&c["LocalVolumes"]),
                    size(&c["Size"]),
                    ago(&c["Created"]),
                    text(&c["Status"]),
                    text(&c["Names"]),
                ]
            })
            .collect(),
    );
    section(
        "Local Volumes space usage",
        &["VOLUME NAME", "LINKS", "SIZE"],
        d.volumes
            .iter()
            .map(|v| vec![text(&v["Name"]), text(&v["Links"]), size(&v["Size"])])
            .collect(),
    );
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
    // What `rless mount` mounted in this session goes first.
    rless::container::session::umount_all_under(store.root());
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

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// podman's: move every container to another OCI runtime. rless has
    /// one (its own): refused.
    #[arg(long, value_name = "RUNTIME")]
    new_runtime: Option<String>,
}

/// `system migrate`, as podman's: stops every running container with its
/// stop signal and timeout, so that the next container gets a user
/// namespace with the ranges /etc/subuid and /etc/subgid give now (rless
/// reads them at every start). Prints nothing.
pub fn migrate(ctx: &Ctx, a: MigrateArgs) -> Result<ExitCode> {
    if let Some(r) = a.new_runtime {
        bail!("--new-runtime {r}: rless runs containers with its own runtime only");
    }
    if !ctx.root.exists() {
        return Ok(ExitCode::SUCCESS);
    }
    // Pods' infra containers last, after the members in their namespaces.
    let live = super::stop::infra_last(ctx, super::stop::all_ids(ctx, |s| s.live())?);
    // The network helper ends by itself once no container is attached
    // (`network::helper::IDLE_EXIT`), under its lock, so a `run` started
    // meanwhile elsewhere keeps its network; ending it here could not be
    // made safe against that.
    super::stop::each(ctx, &live, true, |name, dir| {
        super::stop::stop_one(dir, None, None).with_context(|| format!("cannot stop {name}"))
    })
}

#[derive(clap::Args)]
pub struct RenumberArgs {}

/// `system renumber`: podman reassigns its lock numbers; rless's locks are
/// files per container and store, so there is nothing to renumber.
pub fn renumber(_ctx: &Ctx, _a: RenumberArgs) -> Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}
