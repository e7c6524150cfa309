//! The DNS names of a pod on user-defined networks.
//!
//! Theory of operation. A pod that shares its network namespace is one
//! address on each of its networks: its infra container's. The networks'
//! DNS servers answer for the pod's name there (podman's: its infra
//! container's DNS name is the pod's) and, beyond podman 4.3 (whose `kube
//! play` does as much), for each member's name, so the containers of a
//! compose file put in a pod still find each other by name from outside
//! the pod. These names are the infra container's own
//! ([`super::dns::Directory::publish_own`]), kept beside its attachments
//! in the helper (`pod_names`), not in its spec: members come and go while
//! it runs. When the infra container starts, [`of_infra`] lists them for
//! its attachment; while it runs, a member's create, rename and removal
//! tell the helper ([`member_added`], [`member_renamed`],
//! [`member_removed`]), which does nothing for an infra container it has
//! not attached (one not running, or not on a user-defined network). A
//! helper that is not running is not started for that.

use super::client;
use super::helper::Request;
use crate::container::{pod, ContainerConfig};
use std::path::Path;

/// The names an infra container `id` answers for besides its own: its
/// pod's name and its members' (none for another container, or for the
/// infra container of a pod that does not share its network).
pub fn of_infra(root: &Path, id: &str) -> Vec<String> {
    let dir = root.join("containers").join(id);
    let Some(p) = crate::container::read_config(&dir).and_then(|c| pod::infra_of(root, &c)) else {
        return Vec::new();
    };
    if !p.shared.iter().any(|s| s == "net") {
        return Vec::new();
    }
    let members = pod::members(root, &p);
    std::iter::once(p.name.clone())
        .chain(
            members
                .into_iter()
                .filter(|c| c.id.as_str() != id)
                .map(|c| c.name),
        )
        .collect()
}

/// `c`, a new member of a pod sharing its network: its name on the
/// pod's networks.
pub fn member_added(root: &Path, c: &ContainerConfig) {
    tell(root, c, &c.name, true);
}

/// `c`, a member of a pod sharing its network, is gone: so is its name.
pub fn member_removed(root: &Path, c: &ContainerConfig) {
    tell(root, c, &c.name, false);
}

/// `c`, a member of a pod sharing its network, was renamed from `old`:
/// one name of the infra container goes, another comes (a `Rename` of the
/// infra container would rename its own aliases too, and every member's
/// name equal to `old`, the pod's among them).
pub fn member_renamed(root: &Path, c: &ContainerConfig, old: &str) {
    tell(root, c, old, false);
    tell(root, c, &c.name, true);
}

fn tell(root: &Path, c: &ContainerConfig, name: &str, add: bool) {
    let Some(infra) = pod::network_infra(root, c) else {
        return;
    };
    let req = Request::PodName {
        container: infra,
        name: name.to_string(),
        add,
    };
    if let Err(e) = client::tell(root, &req) {
        tracing::warn!("the network helper did not take the pod member's name {name}: {e}");
    }
}
