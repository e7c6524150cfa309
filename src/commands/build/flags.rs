//! docker's and podman's `build` options beyond the core ones: `--pull`, `--format`,
//! `--iidfile`, `--label`, `--platform`, `--cache-from`/`--cache-to`, and
//! the RUN steps' `--add-host`, `--dns`, `--ulimit`, `--shm-size` and
//! `--security-opt`.
//!
//! Theory of operation: these are parsed and checked before the build
//! starts, so a bad one makes nothing. `--pull` decides when a base image
//! (FROM, `COPY --from` of an image) is fetched; `--label` is applied to the
//! final image's config only (no history entry, as buildah's and
//! BuildKit's); `--iidfile` gets `sha256:ID` once the image is stored; a
//! `--platform` other than this host's is refused (rless builds for the
//! host only); the RUN options are passed on, unchanged, to each RUN's
//! `rless run`, which checks them as `run` does. `--cache-from` and
//! `--cache-to` name registry caches rless does not use: accepted with a
//! warning, since a build without them gives the same image.

use anyhow::{bail, Result};
use std::path::PathBuf;

/// When base images are pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// When the store lacks it (the default; podman's `missing`, `false`).
    Missing,
    /// Every time; a failed pull fails the build (docker's `--pull`).
    Always,
    /// Every time, falling back to the stored one when the registry
    /// cannot be reached (podman's `newer`).
    Newer,
    /// Never: a base image the store lacks is an error.
    Never,
}

#[derive(clap::Args, Debug, Default)]
pub struct Extra {
    /// Pull base images: always (or `--pull`, `true`), missing (default,
    /// `false`), newer, never.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "always", value_name = "POLICY")]
    pull: Option<String>,
    /// The image's manifest format: oci (default) or docker (podman's).
    #[arg(long, default_value = "oci", value_name = "oci|docker")]
    format: String,
    /// Write the image id (sha256:…) to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// A label of the image (KEY=VALUE, or KEY for an empty value; may be
    /// repeated).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// The platform to build for: this host's only.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// An external cache source (not used by rless; accepted with a warning).
    #[arg(long = "cache-from", value_name = "REF")]
    cache_from: Vec<String>,
    /// An external cache destination (not used by rless; accepted with a warning).
    #[arg(long = "cache-to", value_name = "REF")]
    cache_to: Vec<String>,
    /// RUN steps: a line for /etc/hosts (NAME:IP).
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// RUN steps: a DNS server.
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// RUN steps: a resource limit (NAME=SOFT[:HARD]).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    ulimit: Vec<String>,
    /// RUN steps: the size of /dev/shm.
    #[arg(long = "shm-size", value_name = "SIZE")]
    shm_size: Option<String>,
    /// RUN steps: a security option, as `run --security-opt`.
    #[arg(long = "security-opt", value_name = "OPT")]
    security_opt: Vec<String>,
    #[command(flatten)]
    pub more: super::moreflags::More,
}

/// The checked options.
pub struct Checked {
    pub format: rless::image::commit::ManifestFormat,
    pull: Pull,
    /// The images this build pulled already (each is pulled once).
    pulled: std::cell::RefCell<Vec<String>>,
    pub labels: Vec<(String, String)>,
    /// Options for every RUN's `rless run`.
    pub run_args: Vec<String>,
    /// The rest (`moreflags.rs`).
    pub asked: super::moreflags::Asked,
}

impl Extra {
    /// Checks every option; prints the warnings.
    pub fn check(&self) -> Result<Checked> {
        let pull = match self.pull.as_deref() {
            None | Some("missing") | Some("false") => Pull::Missing,
            Some("always") | Some("true") => Pull::Always,
            Some("newer") => Pull::Newer,
            Some("never") => Pull::Never,
            Some(other) => {
                bail!("invalid --pull {other:?}: use always, missing, newer or never")
            }
        };
        if let Some(p) = &self.platform {
            let host = rless::image::platform::Platform::host();
            for one in p.split(',') {
                let asked = rless::image::platform::Platform::parse(one)?;
                if !host.matches(&asked.os, &asked.arch, asked.variant.as_deref()) {
                    bail!("--platform {one}: rless builds for this host's platform ({host}) only");
                }
            }
        }
        let mut labels = Vec::new();
        for l in &self.label {
            // `--label KEY` is an empty value, as docker's (and `run`'s).
            match l.split_once('=').unwrap_or((l, "")) {
                (k, v) if !k.is_empty() => labels.push((k.to_string(), v.to_string())),
                _ => bail!("invalid --label {l:?}: use KEY=VALUE"),
            }
        }
        if !self.cache_from.is_empty() || !self.cache_to.is_empty() {
            eprintln!(
                "rless: warning: --cache-from and --cache-to are ignored: rless builds use their local cache only"
            );
        }
        let asked = self.more.check()?;
        let mut run_args = Vec::new();
        pass_on(
            &mut run_args,
            &[
                ("--add-host", &self.add_host),
                ("--dns", &self.dns),
                ("--ulimit", &self.ulimit),
                ("--security-opt", &self.security_opt),
                ("--shm-size", self.shm_size.as_slice()),
            ],
        );
        run_args.extend(asked.run_args.iter().cloned());
        Ok(Checked {
            format: match self.format.as_str() {
                "" => Default::default(),
                f => f.parse().map_err(anyhow::Error::msg)?,
            },
            pull,
            pulled: Default::default(),
            labels,
            run_args,
            asked,
        })
    }
}

impl Checked {
    /// The policy for `image`: one this build pulled already is not
    /// pulled again (`FROM x` and `COPY --from=x`).
    pub fn pull_for(&self, image: &str) -> Pull {
        match self.pulled.borrow().iter().any(|i| i == image) {
            true => Pull::Missing,
            false => self.pull,
        }
    }

    /// Notes that `image` was pulled.
    pub fn pulled(&self, image: &str) {
        self.pulled.borrow_mut().push(image.to_string());
    }
}

/// `FLAG VALUE` for every value of every option in `options`, to `out`
/// (the options a RUN's `rless run` gets as the build got them).
pub fn pass_on(out: &mut Vec<String>, options: &[(&str, &[String])]) {
    for (flag, values) in options {
        for v in *values {
            out.extend([flag.to_string(), v.clone()]);
        }
    }
}

/// Adds `labels` to the image config `config` (its `config.Labels`).
pub fn apply_labels(config: &mut serde_json::Value, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    let c = &mut config["config"];
    if !c["Labels"].is_object() {
        c["Labels"] = serde_json::json!({});
    }
    for (k, v) in labels {
        c["Labels"][k] = v.clone().into();
    }
}

/// Writes `sha256:ID` to `file`, as docker's `--iidfile`.
pub fn write_iidfile(file: &std::path::Path, id: &str) -> Result<()> {
    std::fs::write(file, format!("sha256:{id}"))
        .map_err(|e| anyhow::anyhow!("cannot write --iidfile {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies_and_labels() {
        let e = |pull: Option<&str>, label: &[&str]| Extra {
            pull: pull.map(str::to_string),
            label: label.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let pull = |p| e(p, &[]).check().unwrap().pull_for("x");
        assert_eq!(pull(None), Pull::Missing);
        assert_eq!(pull(Some("always")), Pull::Always);
        assert_eq!(pull(Some("true")), Pull::Always);
        assert_eq!(pull(Some("false")), Pull::Missing);
        assert_eq!(pull(Some("never")), Pull::Never);
        let c = e(Some("always"), &[]).check().unwrap();
        c.pulled("x");
        assert_eq!(
            (c.pull_for("x"), c.pull_for("y")),
            (Pull::Missing, Pull::Always)
        );
        assert!(e(Some("sometimes"), &[]).check().is_err());
        assert!(e(None, &["=x"]).check().is_err());
        let c = e(None, &["a=1", "b=", "c"]).check().unwrap();
        let mut config = serde_json::json!({"config": {"Labels": null}});
        apply_labels(&mut config, &c.labels);
        assert_eq!(
            config["config"]["Labels"],
            serde_json::json!({"a": "1", "b": "", "c": ""})
        );
    }
}
