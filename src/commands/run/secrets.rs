//! `run`/`create --secret`: podman's secrets given to a container.
//!
//! Theory of operation: every `--secret` is parsed and its secret looked up
//! (and read) before anything is made, so an unknown one is refused with
//! nothing left behind. Once the container's directory exists, each
//! mount-type secret is copied to `secrets/N` in it (mode 0600, the
//! user's); the mount plan binds that copy read-only at the target, after
//! the runtime has given it the requested owner and mode inside the user
//! namespace ([`MountOp::Secret`]). Env-type secrets go to the process's
//! `secret_env`, which `inspect` does not show. The container thus keeps
//! its secrets when the store's are removed or replaced (podman's rule),
//! and the copies go with the container's directory.

use super::super::secret::SecretRequest;
use super::Ctx;
use anyhow::{bail, Result};
use rless::container::mountspec::Requested;
use rless::container::secret::{self, ContainerSecret, SecretMeta};
use rless::runtime::plan::MountOp;
use std::path::Path;

/// The variable `build` gives a RUN step's `rless run` its `RUN
/// --mount=type=secret,env=NAME` values in (a JSON list of `NAME=value`):
/// never an argument, which others may read, nor the container's config;
/// they join `secret_env` as a `--secret type=env`'s.
pub const BUILD_SECRET_ENV: &str = "_RLESS_BUILD_SECRET_ENV";

/// The build's `env=` secrets for this container, if any, taken out of
/// this process's environment (before it starts a thread or a helper).
pub(super) fn take_build_env() -> Result<Vec<String>> {
    let Some(v) = std::env::var_os(BUILD_SECRET_ENV) else {
        return Ok(Vec::new());
    };
    std::env::remove_var(BUILD_SECRET_ENV);
    let list: Vec<String> = serde_json::from_slice(v.as_encoded_bytes())
        .map_err(|e| anyhow::anyhow!("${BUILD_SECRET_ENV}: not a JSON list of strings: {e}"))?;
    if let Some(bad) = list
        .iter()
        .find(|e| e.split_once('=').is_none_or(|(k, _)| k.is_empty()))
    {
        bail!(
            "${BUILD_SECRET_ENV}: {:?} is no NAME=value",
            bad.split('=').next().unwrap_or("")
        );
    }
    Ok(list)
}

/// One `--secret`, looked up.
pub(super) struct Chosen {
    req: SecretRequest,
    meta: SecretMeta,
    data: Vec<u8>,
}

/// Parses and looks up every `--secret` (nothing is made yet).
pub(super) fn lookup(ctx: &Ctx, specs: &[String]) -> Result<Vec<Chosen>> {
    let mut out: Vec<Chosen> = Vec::new();
    if !specs.is_empty() {
        // Not a secret a killed `kube play` replaced (`secret_journal`).
        rless::container::secret_journal::settle(&ctx.root)?;
    }
    for spec in specs {
        let req = SecretRequest::parse(spec)?;
        let meta = secret::find(&ctx.root, &req.name)?;
        let data = secret::data(&ctx.root, &meta)?;
        match &req.env {
            Some(var) => {
                if var.is_empty() || var.contains('=') {
                    bail!("invalid --secret {spec:?}: {var:?} is not a variable name");
                }
                if std::str::from_utf8(&data).is_err() || data.contains(&0) {
                    bail!(
                        "--secret {spec:?}: secret {} is not text, so it cannot be a variable's value",
                        meta.name
                    );
                }
            }
            None => {
                if let (true, rless::userns::IdMode::Single { reason }) =
                    ((req.uid, req.gid) != (0, 0), &ctx.ids)
                {
                    bail!("--secret {spec:?}: single-id mode maps one user and group only (root inside), so the secret cannot belong to uid {} gid {} ({reason})", req.uid, req.gid);
                }
            }
        }
        let clash = out.iter().any(|c| match (&c.req.env, &req.env) {
            (Some(a), Some(b)) => a == b,
            (None, None) => c.req.target == req.target,
            _ => false,
        });
        if clash {
            bail!("--secret {spec:?}: another --secret has the same target");
        }
        out.push(Chosen { req, meta, data });
    }
    Ok(out)
}

/// Refuses a mount-type secret whose target is also the destination of
/// one of the user's mounts (`-v`, `--mount`, `--tmpfs`, `--device`): one
/// would hide the other, and which one depended on the order of the
/// plan. Checked before anything is made.
pub(super) fn check_mount_clash(chosen: &[Chosen], requested: &[Requested]) -> Result<()> {
    for c in chosen.iter().filter(|c| c.req.env.is_none()) {
        if requested
            .iter()
            .filter_map(Requested::target)
            .any(|t| t == c.req.target)
        {
            bail!(
                "duplicate mount point: {} (--secret {} and a -v/--mount/--tmpfs/--device)",
                c.req.target.display(),
                c.meta.name
            );
        }
    }
    Ok(())
}

/// What the container's record keeps of its secrets.
pub(super) fn records(chosen: &[Chosen]) -> Vec<ContainerSecret> {
    chosen
        .iter()
        .map(|c| ContainerSecret {
            name: c.meta.name.clone(),
            id: c.meta.id.clone(),
            env: c.req.env.clone(),
            target: c.req.env.is_none().then(|| c.req.target.clone()),
            uid: c.req.uid,
            gid: c.req.gid,
            mode: c.req.mode,
        })
        .collect()
}

/// Copies the mount-type secrets into the container's directory `dir`:
/// their plan steps, and the env-type ones' `KEY=value`s.
pub(super) fn install(dir: &Path, chosen: &[Chosen]) -> Result<(Vec<MountOp>, Vec<String>)> {
    let mut mounts = Vec::new();
    let mut env = Vec::new();
    let at = dir.join("secrets");
    for (i, c) in chosen.iter().enumerate() {
        match &c.req.env {
            Some(var) => env.push(format!("{var}={}", String::from_utf8_lossy(&c.data))),
            None => {
                if mounts.is_empty() {
                    // Private: the copies get the mode the container asks
                    // (0444 by default), and the store's root may be open
                    // to others when the user made it.
                    use std::os::unix::fs::DirBuilderExt as _;
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&at)
                        .or_else(|e| match e.kind() {
                            std::io::ErrorKind::AlreadyExists => Ok(()),
                            _ => Err(anyhow::anyhow!("cannot create {}: {e}", at.display())),
                        })?;
                }
                let source = at.join(i.to_string());
                secret::write_private(&source, &c.data)?;
                mounts.push(MountOp::Secret {
                    source,
                    target: c.req.target.clone(),
                    uid: c.req.uid,
                    gid: c.req.gid,
                    mode: c.req.mode,
                });
            }
        }
    }
    Ok((mounts, env))
}
