//! `rless images [-q] [--format json]`

use super::Ctx;
use anyhow::{bail, Result};
use rless::image::familiar;
use rless::image::store::LockMode;
use rless::image::time::{ago, human_size};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Output format: table or json.
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
    match a.format.as_str() {
        "json" => {
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
        "table" => {
            let mut rows = vec![[
                "REPOSITORY".to_string(),
                "TAG".into(),
                "IMAGE ID".into(),
                "CREATED".into(),
                "SIZE".into(),
            ]];
            for i in images {
                let tags: Vec<(String, String)> = if i.names.is_empty() {
                    // Pulled by digest (or its tag moved on): the repository
                    // is known, as docker shows it.
                    let repo = i
                        .digests
                        .first()
                        .and_then(|d| d.split_once('@'))
                        .map_or("<none>".to_string(), |(r, _)| familiar(r).to_string());
                    vec![(repo, "<none>".into())]
                } else {
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
                };
                for (repo, tag) in tags {
                    rows.push([
                        repo,
                        tag,
                        i.id.short().into(),
                        ago(i.created),
                        human_size(i.size),
                    ]);
                }
            }
            print_table(&rows);
        }
        other => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints rows in columns separated by at least three spaces, as docker does.
pub fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (k, (c, w)) in r.iter().zip(widths).enumerate() {
            if k + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}   "));
            }
        }
        println!("{}", line.trim_end());
    }
}
