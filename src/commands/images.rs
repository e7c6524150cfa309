//! `rless images [-a] [-q] [--no-trunc] [--digests] [--filter K=V] [--format
//! table|json|[table ]TEMPLATE] [REPOSITORY[:TAG]]`: one row per name, as
//! docker lists them; the build cache's intermediate images only with
//! `-a`, as podman lists its own. Filters: `dangling=true|false` (no name, not pulled
//! by digest, as `image prune` takes it), `reference=PATTERN` (`*` and `?` within a path segment, as
//! docker's; also the positional argument), `before=IMAGE`, `since=IMAGE`,
//! `label=KEY[=VALUE]` (the config's labels; every one must hold).

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::familiar;
use rless::image::store::ImageRecord;
use rless::image::store::LockMode;
use rless::image::time::{ago, format_docker, human_size};
use std::process::ExitCode;

use super::format::{print_rows, Format};

/// `images`' columns, as docker prints them.
const DEFAULT_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Template field to column title.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("Containers", "CONTAINERS"),
    ("History", "HISTORY"),
];

#[derive(clap::Args)]
pub struct Args {
    /// Leave out the header line (podman's).
    #[arg(short, long)]
    noheading: bool,
    /// Print only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// table, json, or a Go template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Show all images, the build cache's intermediate images too.
    #[arg(short, long)]
    all: bool,
    /// Show full image ids.
    #[arg(long)]
    no_trunc: bool,
    /// Show the manifest digests.
    #[arg(long)]
    digests: bool,
    /// Add a column of the names each image has had, the latest first
    /// (podman's: what tag, untag and rmi of a name changed).
    #[arg(long)]
    history: bool,
    /// Filter: dangling=true|false, reference=PATTERN, before=IMAGE,
    /// since=IMAGE, label=KEY or label=KEY=VALUE (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
    /// Order of the rows (podman's): created (newest first), id,
    /// repository, size or tag (ascending).
    #[arg(long, default_value = "created", value_parser = ["created", "id", "repository", "size", "tag"])]
    sort: String,
    /// Only this repository (and tag); `*` and `?` match within a segment.
    reference: Option<String>,
}

/// What `--filter` and the positional reference keep.
#[derive(Default)]
struct Filter {
    dangling: Option<bool>,
    references: Vec<String>,
    before: Option<i64>,
    since: Option<i64>,
    /// `label=KEY` or `label=KEY=VALUE`: every one must hold (docker).
    labels: Vec<String>,
}

impl Filter {
    /// `lists`: the manifest lists as images ([`list_images`]), which
    /// `before=` and `since=` may name too.
    fn parse(
        a: &Args,
        index: &rless::image::store::Index,
        lists: &[ImageRecord],
        store: &rless::image::store::Store,
    ) -> Result<Filter> {
        let mut f = Filter {
            references: a.reference.iter().cloned().collect(),
            ..Filter::default()
        };
        let created = |q: &str| -> Result<i64> {
            match rless::image::find_image(index, q) {
                Ok(i) => Ok(i.created),
                Err(e @ rless::image::LookupError::NotFound(_)) => {
                    let all = rless::image::lists::read(store)?;
                    let id = all.find(q).map(|l| l.id.clone()).ok_or(e)?;
                    Ok(lists
                        .iter()
                        .find(|i| i.id.hex() == id)
                        .map_or(0, |i| i.created))
                }
                Err(e) => Err(e.into()),
            }
        };
        for kv in &a.filter {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("bad filter {kv:?}: use KEY=VALUE");
            };
            match k {
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => bail!("bad filter {kv:?}: dangling is true or false"),
                    })
                }
                "reference" => f.references.push(v.to_string()),
                "before" => f.before = Some(created(v)?),
                "since" => f.since = Some(created(v)?),
                "label" if !v.is_empty() => f.labels.push(v.to_string()),
                other => {
                    bail!(
                        "unknown filter {other:?}: use dangling, reference, before, since or label"
                    )
                }
            }
        }
        Ok(f)
    }

    fn keeps(&self, i: &ImageRecord, repo: &str, tag: &str) -> bool {
        // As image prune counts it: no name, not pulled by digest.
        let dangling = i.dangling();
        // A reference filter never lists an image without names (docker).
        if !self.references.is_empty() && i.names.is_empty() {
            return false;
        }
        self.dangling.is_none_or(|d| d == dangling)
            && self.before.is_none_or(|t| i.created < t)
            && self.since.is_none_or(|t| i.created > t)
            && (self.references.is_empty()
                || self.references.iter().any(|p| {
                    // As podman's, the name without its registry too
                    // (`bb` finds `localhost/bb`, as `tag bb` names it).
                    let path = repo
                        .split_once('/')
                        .filter(|(host, _)| host.contains(['.', ':']) || *host == "localhost")
                        .map(|(_, path)| path);
                    [Some(repo), path]
                        .into_iter()
                        .flatten()
                        .any(|r| match p.rsplit_once(':') {
                            Some((pr, t)) if !t.contains('/') => glob(pr, r) && glob(t, tag),
                            _ => glob(p, r),
                        })
                }))
    }
}

/// `path.Match` as docker's reference filter uses it: `*` is any run of
/// characters but `/`, `?` one such character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Positions in `text` the pattern so far can end at.
    let mut ends = vec![false; t.len() + 1];
    ends[0] = true;
    for pc in p {
        let mut next = vec![false; t.len() + 1];
        for k in 0..=t.len() {
            if !ends[k] {
                continue;
            }
            match pc {
                '*' => {
                    next[k] = true;
                    let mut j = k;
                    while j < t.len() && t[j] != '/' {
                        j += 1;
                        next[j] = true;
                    }
                }
                '?' if k < t.len() && t[k] != '/' => next[k + 1] = true,
                c if k < t.len() && t[k] == c => next[k + 1] = true,
                _ => {}
            }
        }
        ends = next;
    }
    ends[t.len()]
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    // As podman: the build cache's images (dangling) only with -a.
    let hidden = if a.all {
        Default::default()
    } else {
        super::build::cache_images(store.root())
    };
    let lists = list_images(&store);
    let filter = Filter::parse(&a, &index, &lists, &store)?;
    let mut images: Vec<_> = index
        .images
        .iter()
        .filter(|i| !(i.dangling() && hidden.contains(i.id.hex())))
        .chain(&lists)
        .collect();
    if !filter.labels.is_empty() {
        images.retain(|i| {
            let labels = image_labels(&store, i);
            filter.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).and_then(|x| x.as_str()) == Some(v),
                None => labels.contains_key(l.as_str()),
            })
        });
    }
    images.sort_by_key(|i| std::cmp::Reverse(i.created));
    // One row per name, the filters applied to each.
    let mut rows: Vec<(&ImageRecord, String, String)> = images
        .iter()
        .flat_map(|i| repo_tags(i).into_iter().map(move |(r, t)| (*i, r, t)))
        .filter(|(i, r, t)| filter.keeps(i, r, t))
        .collect();
    // As podman: a stable sort, so equal keys keep the newest first.
    match a.sort.as_str() {
        "id" => rows.sort_by(|x, y| x.0.id.hex().cmp(y.0.id.hex())),
        "repository" => rows.sort_by(|x, y| x.1.cmp(&y.1)),
        "size" => rows.sort_by_key(|x| x.0.size),
        "tag" => rows.sort_by(|x, y| x.2.cmp(&y.2)),
        _ => {}
    }
    let id = |i: &ImageRecord| {
        if a.no_trunc {
            i.id.as_str().to_string()
        } else {
            i.id.short().to_string()
        }
    };
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for (i, _, _) in rows.iter().filter(|(i, _, _)| seen.insert(&i.id)) {
            println!("{}", id(i));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let default = if a.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        DEFAULT_TABLE
    };
    let with_history;
    let default = match a.history {
        true => {
            with_history = format!("{default}\t{{{{.History}}}}");
            with_history.as_str()
        }
        false => default,
    };
    match Format::parse(&a.format, default) {
        Format::Json => {
            let mut seen = std::collections::HashSet::new();
            let out: Vec<_> = rows
                .iter()
                .map(|(i, _, _)| *i)
                .filter(|i| seen.insert(&i.id))
                .map(|i| {
                    serde_json::json!({
                        "Id": i.id.hex(),
                        "Names": i.names,
                        "History": names_history(i),
                        "Digest": i.manifest,
                        "RepoDigests": i.digests,
                        "Created": i.created,
                        "Size": i.size,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            // Read from each image's config only for a template that asks.
            let wants_labels = template.contains("Label");
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|(i, repo, tag)| {
                    let labels = match wants_labels {
                        true => image_labels(&store, i),
                        false => Default::default(),
                    };
                    serde_json::json!({
                        "ID": id(i),
                        "Repository": repo,
                        "Tag": tag,
                        "Digest": i.manifest,
                        "CreatedSince": ago(i.created),
                        "CreatedAt": format_docker(i.created),
                        "Size": human_size(i.size),
                        "VirtualSize": human_size(i.size),
                        "SharedSize": "N/A",
                        "UniqueSize": "N/A",
                        "Containers": "N/A",
                        // podman's: the full id, the names, the times.
                        "Id": i.id.hex(),
                        "Names": i.names,
                        "History": names_history(i).join(", "),
                        "Created": ago(i.created),
                        "CreatedTime": format_docker(i.created),
                        "Dangling": i.dangling(),
                        "ReadOnly": false,
                        "ParentId": "",
                        "Labels": labels,
                        (super::format::LABELS_KEY): labels,
                    })
                })
                .collect();
            print_rows(
                template,
                table,
                if a.noheading { &[] } else { HEADERS },
                &rows,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// podman's: each manifest list shows as an image of its own, with the
/// list's id and name, created when the list was, the size of its index.
fn list_images(store: &rless::image::store::Store) -> Vec<ImageRecord> {
    let Ok(all) = rless::image::lists::read(store) else {
        return Vec::new();
    };
    all.lists
        .iter()
        .filter_map(|l| {
            let index = serde_json::to_vec(&l.index_json(&[])).ok()?;
            Some(ImageRecord {
                id: rless::image::digest::Digest::from_hex(&l.id).ok()?,
                manifest: rless::image::digest::Digest::of(&index),
                manifest_media_type: l.media_type.clone(),
                names: vec![l.name.clone()],
                digests: Vec::new(),
                layers: Vec::new(),
                created: l.created,
                size: index.len() as u64,
                architecture: String::new(),
                os: String::new(),
                other_manifests: Vec::new(),
                pulled_by_digest: Vec::new(),
                names_history: Vec::new(),
            })
        })
        .collect()
}

/// The names the image has had, the latest first (its names, for a record
/// older than the history).
fn names_history(i: &ImageRecord) -> &[String] {
    match i.names_history.is_empty() {
        true => &i.names,
        false => &i.names_history,
    }
}

/// The image config's `Labels` (empty when it has none or cannot be read).
pub(super) fn image_labels(
    store: &rless::image::store::Store,
    i: &ImageRecord,
) -> serde_json::Map<String, serde_json::Value> {
    store
        .read_blob(&i.id)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["config"]["Labels"].as_object().cloned())
        .unwrap_or_default()
}

/// The (repository, tag) rows of an image: one per name.
pub(super) fn repo_tags(i: &ImageRecord) -> Vec<(String, String)> {
    if i.names.is_empty() {
        // Pulled by digest (or its tag moved on): the repository is known,
        // as docker shows it.
        let repo = i
            .digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map_or("<none>".to_string(), |(r, _)| familiar(r).to_string());
        return vec![(repo, "<none>".into())];
    }
    i.names
        .iter()
        .map(|n| {
            let f = familiar(n);
            let cut = f
                .rfind(':')
                .filter(|&c| !f[c..].contains('/'))
                .unwrap_or(f.len());
            (
                f[..cut].to_string(),
                f.get(cut + 1..).unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_is_docker_path_match() {
        for (p, t, want) in [
            ("busybox", "busybox", true),
            ("busy*", "busybox", true),
            ("*", "library/busybox", false),
            ("*/busybox", "library/busybox", true),
            ("b?sybox", "busybox", true),
            ("b?sybox", "bsybox", false),
            ("*box*", "busybox", true),
            ("", "", true),
            ("a*", "", false),
        ] {
            assert_eq!(super::glob(p, t), want, "{p} {t}");
        }
    }
}
