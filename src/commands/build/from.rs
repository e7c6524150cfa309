//! `FROM`: what a stage starts from.
//!
//! Theory of operation: a `FROM` names an earlier stage (by its `AS`
//! name or index; it then starts from that stage's image as it ended),
//! `scratch` (an empty config with the default PATH), or an image,
//! taken from the store or pulled as `--pull` says ([`Build::image_config`],
//! which `COPY --from` and `RUN --mount=from=` use too). Its
//! `--platform` must be the host's: rless builds for no other.

use super::parse::Instruction;
use super::{cache, flags, steps, Build, Stage};
use anyhow::{anyhow, bail, Result};
use rless::image::change;
use rless::image::find_image;
use rless::image::store::LockMode;
use serde_json::{json, Value};

/// The environment of a `FROM scratch` stage, docker's default PATH.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The stage `what` names: its `AS` name (any case) or its index.
fn find_stage<'s>(done: &'s [Stage], what: &str) -> Option<&'s Stage> {
    let what = what.to_ascii_lowercase();
    done.iter()
        .find(|s| s.name.as_deref() == Some(what.as_str()))
        .or_else(|| done.get(what.parse::<usize>().ok()?))
}

impl Build<'_> {
    /// `FROM IMAGE` (from the store, pulled if missing) or `FROM scratch`.
    pub(super) fn from(
        &mut self,
        ins: &Instruction,
        meta: &[(String, String)],
        done: &[Stage],
    ) -> Result<Stage> {
        if let Some(p) = ins.flag("platform") {
            // `--platform=$BUILDPLATFORM` and the like: the host's is the
            // one platform rless builds for.
            let p = change::split_words(p, meta)
                .map_err(|w| anyhow!(w))?
                .concat();
            let asked = rless::image::platform::Platform::parse(&p)?;
            let host = rless::image::platform::Platform::host();
            if !host.matches(&asked.os, &asked.arch, asked.variant.as_deref()) {
                bail!("--platform={p}: rless builds for this host's platform ({host}) only");
            }
        }
        let words = change::split_words(&ins.rest, meta).map_err(|w| anyhow!(w))?;
        let (image, name) = match &words[..] {
            [i] => (i.clone(), None),
            [i, as_, name] if as_.eq_ignore_ascii_case("as") => {
                (i.clone(), Some(name.to_ascii_lowercase()))
            }
            _ => bail!("use FROM IMAGE [AS NAME]"),
        };
        let stage = |config, image, cache| Stage {
            config,
            image,
            args: Vec::new(),
            cmd_set: false,
            name: name.clone(),
            cache,
            skipped: false,
        };
        // An earlier stage, by name: its image as it ended.
        if let Some(s) = find_stage(done, &image) {
            if s.skipped {
                bail!("stage {image} was not built");
            }
            return Ok(stage(s.config.clone(), s.image.clone(), s.cache.clone()));
        }
        if image == "scratch" {
            let host = rless::image::platform::Platform::host();
            return Ok(stage(
                // As docker and podman: a scratch stage has the default PATH.
                json!({"architecture": host.arch, "os": host.os,
                       "config": {"Env": [DEFAULT_PATH]},
                       "rootfs": {"type": "layers", "diff_ids": []}, "history": []}),
                None,
                cache::scratch_state(),
            ));
        }
        let found = self.image_config(&image)?;
        let state = cache::image_state(&found.0);
        Ok(stage(found.1, Some(found.0), state))
    }

    /// The id and config of IMAGE, pulled when not in the store.
    pub(super) fn image_config(&self, image: &str) -> Result<(String, Value)> {
        let lookup = || -> Result<Option<(String, Value)>> {
            let store = steps::store(self.ctx, LockMode::Shared)?;
            let index = store.index()?;
            match find_image(&index, image) {
                Ok(img) => {
                    // Kept from `image prune -a` from now on: a later
                    // stage may start from it or copy from it.
                    self.children.uses(img.id.hex())?;
                    Ok(Some((
                        img.id.hex().to_string(),
                        serde_json::from_slice(&store.read_blob(&img.id)?)?,
                    )))
                }
                Err(rless::image::LookupError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            }
        };
        let pull = self.extra.pull_for(image);
        if matches!(pull, flags::Pull::Missing | flags::Pull::Never) {
            if let Some(f) = lookup()? {
                return Ok(f);
            }
        }
        if pull == flags::Pull::Never {
            bail!("{image}: not in the store, and --pull=never forbids pulling it");
        }
        if !self.quiet {
            println!("pulling {image}");
        }
        let mut args = vec!["pull", "-q"];
        args.extend(self.extra.asked.pull_args.iter().map(String::as_str));
        args.push(image);
        // `--retry N`: N more attempts after a failure.
        let mut pulled = self.children.output(&args);
        for _ in 1..self.extra.asked.pull_attempts {
            if pulled.is_ok() || super::interrupted().is_some() {
                break;
            }
            std::thread::sleep(self.extra.asked.retry_delay);
            pulled = self.children.output(&args);
        }
        self.extra.pulled(image);
        if let Err(e) = pulled {
            match (pull, lookup()?) {
                // newer: the stored one when the registry cannot say.
                (flags::Pull::Newer, Some(f)) => {
                    eprintln!(
                        "rless: warning: cannot check {image} for a newer image ({}); using the stored one",
                        super::super::error_line(&e)
                    );
                    return Ok(f);
                }
                _ => return Err(e),
            }
        }
        lookup()?.ok_or_else(|| anyhow!("{image}: not in the store after a pull"))
    }
}
