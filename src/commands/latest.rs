//! `-l/--latest` (podman's): act on the container created last, as if its
//! full id had been given. Every command that takes it resolves it here,
//! from the containers' records (their creation time, nanoseconds
//! included), so all of them agree on which container that is.
//!
//! A command that re-runs itself inside the user namespace (subuid mode:
//! `rm`, `diff`, `inspect --size`) must act there on the container the
//! first pass chose, not on whatever is newest by then (`rm -f -l` of a
//! `--rm` container, which its monitor removes in between, would otherwise
//! remove the next one): the first pass leaves the id in [`LATEST_VAR`],
//! which only a process inside the user namespace believes.
//!
//! The errors are podman's words; all are rless's own failures (125),
//! but `rm` counts "no such container" as a missing name (1), as podman.

use super::Ctx;
use anyhow::Result;
use rless::container;
use rless::image::store::LockMode;

/// `-l/--latest`, for commands to flatten into their arguments.
#[derive(clap::Args, Debug, Default, Clone, Copy)]
pub struct Latest {
    /// Act on the latest created container (podman's).
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
}

/// The variable the first pass of a command leaves the chosen id in.
const LATEST_VAR: &str = "RLESS_LATEST_ID";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LatestError {
    /// There is no container at all.
    #[error("no such container")]
    NoContainer,
    /// `--latest` with names: podman refuses.
    #[error("--latest and containers cannot be used together")]
    WithNames,
    /// `inspect --latest` with names.
    #[error("--latest and arguments cannot be used together")]
    WithArgs,
    /// `stats --latest` with `--all` or names.
    #[error("--all, --latest and containers cannot be used together")]
    AllLatestNames,
    /// `--latest` with `--all`.
    #[error("--all and --latest cannot be used together")]
    WithAll,
}

/// The full id of the container created last.
pub fn latest_id(ctx: &Ctx) -> Result<String> {
    if rless::userns::in_userns() {
        if let Ok(id) = std::env::var(LATEST_VAR) {
            return Ok(id);
        }
    }
    let store = ctx.store(LockMode::Shared)?;
    let id = newest(container::list(&store)).ok_or(LatestError::NoContainer)?;
    drop(store);
    std::env::set_var(LATEST_VAR, &id);
    Ok(id)
}

/// The id of the one of `all` created last.
fn newest(all: Vec<container::ContainerConfig>) -> Option<String> {
    all.into_iter()
        .max_by_key(|c| c.created_at())
        .map(|c| c.id.as_str().to_string())
}

impl Latest {
    /// The containers to act on: the latest one's id with `--latest`
    /// (which names may not come with), else `names` as given.
    pub fn or_names(self, ctx: &Ctx, names: &[String]) -> Result<Vec<String>> {
        if !self.latest {
            return Ok(names.to_vec());
        }
        if !names.is_empty() {
            return Err(LatestError::WithNames.into());
        }
        Ok(vec![latest_id(ctx)?])
    }

    /// [`Latest::or_names`] for a command that takes one container.
    pub fn or_name(self, ctx: &Ctx, name: Option<&str>) -> Result<String> {
        let names: Vec<String> = name.into_iter().map(str::to_string).collect();
        match self.or_names(ctx, &names)?.pop() {
            Some(n) => Ok(n),
            // clap requires a name without --latest.
            None => Err(LatestError::NoContainer.into()),
        }
    }

    /// Refuses `--latest` with `--all`, as podman.
    pub fn check_all(self, all: bool) -> Result<(), LatestError> {
        match self.latest && all {
            true => Err(LatestError::WithAll),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str, created: i64, created_ns: u32) -> container::ContainerConfig {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "image_id": "", "image_name": "", "command": [],
            "created": created, "created_ns": created_ns, "auto_remove": false,
        }))
        .expect("a container record")
    }

    #[test]
    fn newest_is_by_creation_time_to_the_nanosecond() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(64);
        // Listed in directory order, not creation order.
        let all = vec![config(&b, 100, 7), config(&a, 100, 9), config(&c, 99, 999)];
        assert_eq!(newest(all), Some(a));
        assert_eq!(newest(vec![]), None);
    }
}
