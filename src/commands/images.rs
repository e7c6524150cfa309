//! `rless images [-q] [--format table|json|[table ]TEMPLATE]`

use super::Ctx;
use anyhow::Result;
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
];

#[derive(clap::Args)]
pub struct Args {
    /// Print only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// table, json, or a Go template such as '{{.Repository}}:{{.Tag}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Show all images (accepted for docker compatibility).
    #[arg(short, long)]
    all: bool,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let _ = a.all;
    let index = ctx.store(LockMode::Shared)?.index()?;
    let mut images: Vec<_> = index.images.iter().collect();
    images.sort_by_key(|i| std::cmp::Reverse(i.created));
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in images.iter().filter(|i| seen.insert(&i.id)) {
            println!("{}", i.id.short());
        }
        return Ok(ExitCode::SUCCESS);
    }
    match Format::parse(&a.format, DEFAULT_TABLE) {
        Format::Json => {
            let out: Vec<_> = images
                .iter()
                .map(|i| {
                    serde_json::json!({
                        "Id": i.id.hex(),
                        "Names": i.names,
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
            let mut rows = Vec::new();
            for i in images {
                for (repo, tag) in repo_tags(i) {
                    rows.push(serde_json::json!({
                        "ID": i.id.short(),
                        "Repository": repo,
                        "Tag": tag,
                        "Digest": i.manifest,
                        "CreatedSince": ago(i.created),
                        "CreatedAt": format_docker(i.created),
                        "Size": human_size(i.size),
                    }));
                }
            }
            print_rows(template, table, HEADERS, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The (repository, tag) rows of an image: one per name.
fn repo_tags(i: &ImageRecord) -> Vec<(String, String)> {
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
