//! `rless port CTR [PORT[/PROTO]]`: published ports, with the host ports
//! actually bound (random ones included), as docker prints them. podman's
//! `port -a` lists every running container's, each line after its short id
//! and a tab. A member of a pod that shares its network has the pod's
//! ports (its infra container's), as in podman.

use super::Ctx;
use anyhow::{bail, Result};
use rless::container;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Every running container's ports.
    #[arg(short, long, conflicts_with = "container")]
    all: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[arg(required_unless_present_any = ["all", "latest"])]
    container: Option<String>,
    /// A container port to look up (PORT[/PROTO]).
    port: Option<String>,
}

pub fn run(ctx: &Ctx, mut a: Args) -> Result<ExitCode> {
    a.latest.check_all(a.all)?;
    if a.latest.latest {
        // `port -l 80`: the one word is the port, as podman's.
        if a.port.is_none() {
            a.port = a.container.take();
        }
        a.container = Some(a.latest.or_name(ctx, a.container.as_deref())?);
    }
    let store = ctx.store(LockMode::Shared)?;
    let Some(query) = &a.container else {
        let dir_of = |id: &str| container::containers_dir(&store).join(id);
        for c in container::list(&store) {
            if !container::read_state(&dir_of(c.id.as_str())).running() {
                continue;
            }
            // A running container on another's network (a member of a
            // pod sharing its network, `--network container:X`): that
            // one's ports, as `port CONTAINER`.
            let own = super::netowner::owner(store.root(), &c);
            let state = container::read_state(&dir_of(own.as_deref().unwrap_or(c.id.as_str())));
            for p in state.ports.iter().filter(|_| state.running()) {
                let host = std::net::SocketAddr::new(p.host_ip, p.host_port);
                let proto = p.proto_name();
                println!("{}\t{}/{proto} -> {host}", c.id.short(), p.container_port);
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (c, dir) = container::find(&store, query)?;
    // A member of a pod sharing its network has the pod's ports, which
    // its infra container publishes, and a `--network container:X`
    // container has X's (podman's).
    // Only while the container itself runs, as podman's (which passes
    // over one not running, whatever its network's owner does).
    let running = container::read_state(&dir).running();
    let dir = super::netowner::owner_dir(store.root(), &c, &dir);
    let state = container::read_state(&dir);
    let want = a.port.as_deref().map(|p| {
        let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
        (n.to_string(), proto.to_string())
    });
    let mut found = false;
    for p in state.ports.iter().filter(|_| running && state.running()) {
        let proto = p.proto_name();
        // `[::1]:8080` for IPv6, as docker prints it.
        let host = std::net::SocketAddr::new(p.host_ip, p.host_port);
        match &want {
            // `80/sctp` or `80/UDP` names no port published here.
            Some((n, want_proto)) if *n != p.container_port.to_string() || want_proto != proto => {
                continue
            }
            Some(_) => println!("{host}"),
            None => println!("{}/{proto} -> {host}", p.container_port),
        }
        found = true;
    }
    if let (Some(p), false) = (&a.port, found) {
        bail!("no public port {p} published for {}", c.name);
    }
    Ok(ExitCode::SUCCESS)
}
