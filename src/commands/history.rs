//! `rless history [-q] [-H=false] [--no-trunc] [--format …] IMAGE` (and `image history`):
//! how an image was built, newest step first, from its config's `history`,
//! as docker prints it. Steps that made a layer show that layer's size;
//! the others (`ENV`, `CMD`, …) show 0B. Only the newest step is the image
//! itself; older ones print `<missing>`, as docker does for pulled images,
//! since rless keeps no intermediate images.

use super::format::{print_rows, Format};
use super::Ctx;
use anyhow::Result;
use rless::image::find_image;
use rless::image::store::LockMode;
use rless::image::time::{ago, format_rfc3339, human_size, parse_rfc3339};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only image ids.
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate the commands.
    #[arg(long)]
    no_trunc: bool,
    /// Sizes and dates for people (the default); --human=false prints
    /// bytes and RFC 3339 times.
    #[arg(short = 'H', long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    human: bool,
    /// table, json, or a Go template such as '{{.CreatedBy}}'.
    #[arg(long, default_value = "table")]
    format: String,
    image: String,
}

const DEFAULT_TABLE: &str =
    "{{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}";

const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// One step of the build.
struct Step {
    created: Option<i64>,
    created_by: String,
    comment: String,
    size: u64,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let index = store.index()?;
    let img = find_image(&index, &a.image)?;
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&img.id)?)?;
    let layer_size = |k: usize| {
        img.layers
            .get(k)
            .and_then(|l| store.layer_meta(&l.diff_id).ok())
            .map_or(0, |m| m.size)
    };
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut steps = Vec::new();
    let mut layer = 0;
    for h in config["history"].as_array().into_iter().flatten() {
        let empty = h["empty_layer"].as_bool().unwrap_or(false);
        steps.push(Step {
            created: h["created"].as_str().and_then(parse_rfc3339),
            created_by: text(h, "created_by"),
            comment: text(h, "comment"),
            size: if empty { 0 } else { layer_size(layer) },
        });
        layer += usize::from(!empty);
    }
    // Layers the history does not tell of (or no history at all).
    for k in layer..img.layers.len() {
        steps.push(Step {
            created: None,
            created_by: String::new(),
            comment: String::new(),
            size: layer_size(k),
        });
    }
    steps.reverse();
    let id = |k: usize| {
        if k > 0 {
            "<missing>"
        } else if a.no_trunc {
            img.id.as_str()
        } else {
            img.id.short()
        }
    };
    if a.quiet {
        for k in 0..steps.len() {
            println!("{}", id(k));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let created_by = |s: &Step| {
        let full = s.created_by.replace('\t', " ");
        if a.no_trunc || full.chars().count() <= 45 {
            full
        } else {
            format!("{}…", full.chars().take(44).collect::<String>())
        }
    };
    match Format::parse(&a.format, DEFAULT_TABLE) {
        Format::Json => {
            let out: Vec<_> = steps
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    serde_json::json!({
                        "id": id(k), "created": s.created, "createdBy": s.created_by,
                        "size": s.size, "comment": s.comment,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            let rows: Vec<serde_json::Value> = steps
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    serde_json::json!({
                        "ID": id(k),
                        "CreatedSince": s.created.map(if a.human { ago } else { format_rfc3339 }).unwrap_or_default(),
                        "CreatedAt": s.created.map(format_rfc3339).unwrap_or_default(),
                        "CreatedBy": created_by(s),
                        "Size": if a.human { human_size(s.size) } else { s.size.to_string() },
                        "Comment": s.comment,
                    })
                })
                .collect();
            print_rows(template, table, HEADERS, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
