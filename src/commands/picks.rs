//! podman's other ways to name the containers a command acts on:
//! `--cidfile FILE` (the id `run --cidfile` or `create --cidfile` wrote)
//! and `--filter KEY=VALUE` (the containers `ps -a --filter` would list).
//! stop, kill, restart, pause, unpause, start and rm take them besides
//! names; a filter that keeps nothing makes the command do nothing.

use super::Ctx;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct Picks {
    /// Also the container whose id FILE holds (podman's; may be repeated).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Vec<PathBuf>,
    /// Also the containers these filters keep, in any state (podman's; as
    /// `ps -a --filter`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

impl Picks {
    /// The ids the cidfiles hold and the filters keep, after `names`.
    pub fn add_to(&self, ctx: &Ctx, mut names: Vec<String>) -> Result<Vec<String>> {
        for f in &self.cidfile {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the cidfile {}", f.display()))?;
            let id = text.trim();
            if id.is_empty() {
                anyhow::bail!("the cidfile {} is empty", f.display());
            }
            names.push(id.to_string());
        }
        if !self.filter.is_empty() {
            names.extend(super::ps::filtered_ids(ctx, &self.filter)?);
        }
        Ok(names)
    }
}
