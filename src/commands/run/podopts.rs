//! `run`/`create --pod NAME` (or `--pod-id-file FILE`) and `--requires
//! CTR[,CTR]` (podman's).
//!
//! Theory of operation: both are checked before anything is made (an
//! unknown pod or required container is an error then). The container
//! records the pod's id and the required names in its `config.json`; `start`
//! (and `run`, just before the container starts) starts every required
//! container that is not running first, as podman does
//! ([`crate::commands::pod::start_required`]). The pod is looked up again
//! under the `pods` lock ([`lock_pod`]), held until the container is
//! recorded, so a concurrent `pod rm` sees the new member or the create
//! fails.
//!
//! A pod with an infra container: the member takes the namespaces the pod
//! shares from it, as if it were given `--network container:INFRA`,
//! `--ipc container:INFRA`, `--uts container:INFRA` or `--pid
//! container:INFRA` ([`join_infra`] rewrites its options so; options that
//! would set up what it takes are refused with podman's words: ports,
//! networks, hosts and DNS belong to the pod). `run` starts the infra
//! container first when it is not running (`create` leaves that to the
//! member's start, see `commands::pod::start_required`). The member also
//! takes the infra's user namespace mode (`pod create --userns keep-id`
//! makes every member's files on bind mounts the user's); a `--userns` of
//! its own is refused, as podman refuses it.

use super::{Args, Ctx};
use anyhow::{bail, Result};

/// What `--pod` and `--requires` asked for, checked.
#[derive(Debug, Default)]
pub(super) struct PodOpts {
    /// The pod's id.
    pub pod: Option<String>,
    pub requires: Vec<String>,
    /// The pod's infra container's id, when the container joins its
    /// namespaces (it is not the infra container itself).
    pub infra: Option<String>,
}

pub(super) fn check(ctx: &Ctx, a: &mut Args) -> Result<PodOpts> {
    if let Some(f) = a.pod_id_file.take() {
        a.pod = Some(pod_from_file(ctx, &f, a.pod.as_deref())?);
    }
    let pod = match a.pod.as_deref() {
        None | Some("") => None,
        Some(p) if p.starts_with("new:") => {
            bail!("--pod new:NAME is not supported: make the pod first (rless pod create --name NAME)")
        }
        Some(p) => Some(rless::container::pod::read(&ctx.root, p)?),
    };
    if a.pod_infra && pod.is_none() {
        bail!("--pod-infra needs --pod");
    }
    let infra = match &pod {
        Some(p) if !a.pod_infra => match &p.infra {
            Some(infra) => {
                join_infra(a, infra, &p.shared)?;
                take_userns(ctx, a, infra)?;
                Some(infra.clone())
            }
            // A pod whose `pod create` was interrupted before its infra
            // container was made: its members would share nothing.
            None if !p.shared.is_empty() => bail!(
                "pod {} has no infra container (its creation did not finish): remove it (rless pod rm {})",
                p.name,
                p.name
            ),
            None => None,
        },
        _ => None,
    };
    let pod = pod.map(|p| p.id);
    let mut requires = Vec::new();
    for r in a.requires.iter().flat_map(|r| r.split(',')) {
        if r.is_empty() {
            bail!(
                "invalid --requires {:?}: name containers, separated by ','",
                a.requires.join(",")
            );
        }
        if !crate::commands::pod::container_exists(&ctx.root, r) {
            bail!("--requires {r}: no such container");
        }
        if !requires.iter().any(|q| q == r) {
            requires.push(r.to_string());
        }
    }
    Ok(PodOpts {
        pod,
        requires,
        infra,
    })
}

/// podman's refusal of a member's option that the pod decides.
fn on_pod(what: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "invalid config provided: {what} must be defined when the pod is created: network cannot be configured when it is shared with a pod"
    )
}

/// Rewrites a member's options to take `shared` (podman's names) from the
/// infra container `infra`, refusing those that would set them up itself.
fn join_infra(a: &mut Args, infra: &str, shared: &[String]) -> Result<()> {
    let takes = |ns: &str| shared.iter().any(|s| s == ns);
    let from_infra = Some(format!("container:{infra}"));
    if takes("net") {
        if !a.publish.is_empty() || a.publish_all || !a.expose.is_empty() {
            return Err(on_pod("published or exposed ports"));
        }
        if !a.network.is_empty() || a.ip.is_some() || !a.network_alias.is_empty() {
            return Err(on_pod("networks"));
        }
        if !a.add_host.is_empty() {
            bail!("invalid config provided: extra host entries must be specified on the pod: network cannot be configured when it is shared with a pod");
        }
        if !a.dns.is_empty() || !a.dns_search.is_empty() || !a.dns_option.is_empty() {
            return Err(on_pod("DNS"));
        }
        a.network = vec![format!("container:{infra}")];
    }
    if takes("uts") {
        if a.hostname.is_some() {
            bail!(
                "invalid config provided: cannot set hostname when joining the pod UTS namespace"
            );
        }
        if a.uts.is_some() {
            bail!("invalid config provided: cannot set --uts when joining the pod's UTS namespace");
        }
        a.uts = from_infra.clone();
    } else if takes("net") && a.hostname.is_some() {
        // `--network container:X` refuses a hostname of its own: the
        // UTS namespace stays the member's, named as the pod's.
        bail!("invalid config provided: cannot set a hostname of its own in a pod that shares the network and not the UTS namespace");
    }
    if takes("ipc") {
        if a.ipc.is_some() {
            bail!("invalid config provided: cannot set --ipc when joining the pod's IPC namespace");
        }
        a.ipc = from_infra.clone();
    }
    if takes("pid") {
        if a.pid.is_some() {
            bail!("invalid config provided: cannot set --pid when joining the pod's PID namespace");
        }
        a.pid = from_infra;
    }
    Ok(())
}

/// A member takes the infra container `infra`'s user namespace mode
/// (`pod create --userns`): its own `--userns` is refused in podman's
/// words, even one that would be the same.
fn take_userns(ctx: &Ctx, a: &mut Args, infra: &str) -> Result<()> {
    if !a.userns.is_empty() {
        bail!("cannot set user namespace mode when joining pod with infra container");
    }
    let spec = rless::container::read_spec(&ctx.root.join("containers").join(infra))?;
    a.userns = match (spec.keep_id, spec.keep_id_as) {
        (false, _) => String::new(),
        (true, None) => "keep-id".into(),
        (true, Some((uid, gid))) => format!("keep-id:uid={uid},gid={gid}"),
    };
    Ok(())
}

/// Takes the `pods` lock and checks that the pod with id `pod` (`given`
/// on the command line) still exists under it.
pub(super) fn lock_pod(
    store: &rless::image::store::Store,
    pod: &str,
    given: &str,
) -> Result<std::fs::File> {
    let lock = rless::container::pod::lock(store)?;
    if rless::container::pod::by_id(store.root(), pod).is_none() {
        bail!(rless::container::pod::PodError::NotFound(given.to_string()));
    }
    Ok(lock)
}

/// `--pod-id-file FILE`: the pod its first line names, which must exist;
/// the errors podman's (`--pod` too is refused).
fn pod_from_file(ctx: &Ctx, f: &std::path::Path, pod: Option<&str>) -> Result<String> {
    if pod.is_some_and(|p| !p.is_empty()) {
        bail!("cannot specify both --pod and --pod-id-file");
    }
    let text = std::fs::read_to_string(f).map_err(|e| {
        let why = e
            .raw_os_error()
            .map(|n| nix::errno::Errno::from_raw(n).desc().to_lowercase())
            .unwrap_or_else(|| e.to_string());
        anyhow::anyhow!("reading pod ID file: open {}: {why}", f.display())
    })?;
    let id = text.lines().next().unwrap_or("").to_string();
    match rless::container::pod::read(&ctx.root, &id) {
        Ok(p) => Ok(p.id),
        Err(_) => bail!("no pod with name or ID {id} found: no such pod"),
    }
}
