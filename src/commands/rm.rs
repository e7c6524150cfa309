//! `rless rm [-f] [-i] [-v] [--depend] (-a | -l | CTR…)` and `rless container prune`:
//! removal happens inside the user namespace, because a container's
//! writable layer (and, with `-v`, its anonymous volumes) holds files owned
//! by subordinate ids. The exit status is podman's (see `removal`): 1 for a
//! name that does not exist, 2 for a running container without `-f`.

use super::filters::{PruneArgs, PruneFilter};
use super::prune::Pruned;
use super::removal::{Failure, InUse, Removals};
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::{self, control};
use rless::image::store::{LockMode, Store};
use rless::image::time::human_size;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Kill running containers first, and ignore names that do not exist.
    #[arg(short, long)]
    force: bool,
    /// Remove every container (running ones only with -f).
    #[arg(short, long, conflicts_with = "containers")]
    all: bool,
    /// Ignore names that do not exist.
    #[arg(short, long)]
    ignore: bool,
    /// Remove the container's anonymous volumes too (unless another container uses them).
    #[arg(short, long)]
    volumes: bool,
    /// With -f: seconds a running container gets after its stop signal
    /// before SIGKILL (podman's; default 0, SIGKILL at once, as docker's).
    #[arg(short, long, requires = "force", value_name = "SECS")]
    time: Option<u64>,
    /// Remove the containers that depend on each one first (podman's:
    /// those that --requires it or join its namespaces, and theirs).
    #[arg(long)]
    depend: bool,
    #[command(flatten)]
    latest: super::latest::Latest,
    #[command(flatten)]
    picks: super::picks::Picks,
    /// `pod rm`'s: pods' infra containers may go (they go with their pod).
    #[arg(long, hide = true)]
    pod_removal: bool,
    #[arg(required_unless_present_any = ["all", "latest", "cidfile", "filter"])]
    containers: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    // Each name on its own, as docker: a name that is unknown or still
    // running (without -f) is reported and the others are removed. In
    // subuid mode this first pass kills what -f allows and the pass inside
    // the user namespace (which finds them stopped) reports and removes.
    // A `--rm` container that -f killed is removed by its own monitor;
    // the pass inside the user namespace, which looks every name up again,
    // is told so (GONE_VAR) instead of reporting it unknown.
    // Only the inner pass reads it: one the caller's environment has is
    // taken out, and never believed.
    let gone_before: Vec<String> = match rless::userns::in_userns() {
        true => std::env::var(GONE_VAR)
            .map(|v| v.split('\n').map(str::to_string).collect())
            .unwrap_or_default(),
        false => {
            std::env::remove_var(GONE_VAR);
            Vec::new()
        }
    };
    a.latest.check_all(a.all)?;
    // Resolved before the store is opened (it opens it too); none at all
    // is a missing name, as podman's (exit 1).
    let given = match a
        .latest
        .or_names(ctx, &a.containers)
        .and_then(|named| a.picks.add_to(ctx, named))
    {
        Ok(names) => names,
        Err(e) => {
            let mut failed = Removals::default();
            failed.add(e);
            return Ok(failed.finish());
        }
    };
    let store = ctx.store(LockMode::Shared)?;
    let graph = Dependents::of(&store);
    // A pod's infra container goes only with its pod: `pod rm`'s, and (as
    // podman's, whose `-a` implies `--depend`) `rm -a` and `rm --depend`,
    // which remove the pod with it once its other containers are gone. A
    // name of it alone is refused (podman's words, 125).
    let with_pod = a.all || a.depend;
    let infra_pod = |q: &str| {
        let (c, _) = container::find(&store, q).ok()?;
        container::pod::infra_of(store.root(), &c).map(|p| (c, p))
    };
    let infra_of = |q: &str| match a.pod_removal || with_pod {
        true => None,
        false => infra_pod(q).map(|(c, p)| container::pod::PodError::IsInfra {
            id: c.id.as_str().to_string(),
            pod: p.id,
        }),
    };
    // `--depend INFRA`: the pod's containers too, those that share none
    // of its namespaces included.
    let given: Vec<String> = match a.depend && !a.pod_removal {
        true => given
            .into_iter()
            .flat_map(|q| {
                let mut v: Vec<String> = infra_pod(&q)
                    .map(|(c, p)| {
                        container::pod::members(store.root(), &p)
                            .into_iter()
                            .map(|m| m.id.as_str().to_string())
                            .filter(|id| *id != c.id.as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                v.push(q);
                v
            })
            .collect(),
        false => given,
    };
    let mut names: Vec<String> = match a.all {
        // Dependents before what they depend on, so that all go.
        true => graph.with_dependents(&graph.ids()),
        false if a.depend => graph.with_dependents(&given),
        false => graph.ordered(&given),
    };
    // Which names are infra containers going with their pod; last.
    let mut pods_going: HashMap<String, container::pod::PodConfig> = HashMap::new();
    if with_pod && !a.pod_removal {
        for q in &names {
            if let Some((_, p)) = infra_pod(q) {
                pods_going.insert(q.clone(), p);
            }
        }
        names.sort_by_key(|q| pods_going.contains_key(q));
    }
    let mut checked = Vec::new();
    let mut gone = Vec::new();
    // What this command has removed by the time it comes to each name.
    let mut removed: HashSet<String> = HashSet::new();
    for q in &names {
        if gone_before.contains(q) {
            checked.push((q, Err(Gone.into())));
            continue;
        }
        if let Some(e) = infra_of(q) {
            checked.push((q, Err(e.into())));
            continue;
        }
        if let Some(p) = pods_going.get(q) {
            // Only once every other container of its pod goes; `-a` passes
            // over it silently then (their errors say why).
            let left: Vec<String> = container::pod::members(store.root(), p)
                .into_iter()
                .map(|c| c.id.as_str().to_string())
                .filter(|id| Some(id) != p.infra.as_ref() && !removed.contains(id))
                .collect();
            if !left.is_empty() {
                if !a.all {
                    checked.push((
                        q,
                        Err(container::pod::PodError::InUse {
                            name: p.name.clone(),
                            containers: left
                                .iter()
                                .map(|id| id[..12].to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                        }
                        .into()),
                    ));
                }
                continue;
            }
        }
        // As podman's, before -f kills it: a container that others
        // --requires goes after them, or not at all.
        if let Err(e) = graph.check(q, &removed) {
            checked.push((q, Err(e.into())));
            continue;
        }
        let dir = stopped_dir(&store, q, a.force, a.time.unwrap_or(0));
        if dir.is_ok() {
            removed.extend(graph.resolve(q).map(str::to_string));
        }
        // `-f` and `-i` pass over names that do not exist, silently, as
        // podman's (and docker's `rm -f`).
        if (a.force || a.ignore || a.all)
            && dir
                .as_ref()
                .is_err_and(|e| Failure::of(e) == Failure::Missing)
        {
            continue;
        }
        if dir.as_ref().is_ok_and(|(d, _)| !d.exists()) {
            gone.push(q.as_str());
        }
        checked.push((q, dir));
    }
    drop(store);
    if !gone.is_empty() {
        std::env::set_var(GONE_VAR, gone.join("\n"));
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let mut failed = Removals::default();
    for (q, dir) in checked {
        if dir.as_ref().is_err_and(|e| e.is::<Gone>()) {
            println!("{q}");
            continue;
        }
        // A `--rm` container its monitor began removing loses its
        // anonymous volumes, as the monitor removes them: here too, should
        // rm remove it first (a monitor slower than rm's wait).
        let r = dir.and_then(|(dir, removing)| {
            // An infra container and its pod go under the pods lock, as
            // `pod rm`'s: no container joins the pod meanwhile.
            let pod = pods_going.get(q.as_str());
            let store = pod.map(|_| ctx.store(LockMode::Shared)).transpose()?;
            let _lock = store.as_ref().map(container::pod::lock).transpose()?;
            // Again under the lock: a container that joined the pod since
            // the check above (or one whose removal failed) keeps its
            // infra container, whose namespaces it is in.
            if let Some(p) = pod {
                let left: Vec<String> = container::pod::members(&ctx.root, p)
                    .into_iter()
                    .filter(|c| p.infra.as_deref() != Some(c.id.as_str()))
                    .map(|c| c.name)
                    .collect();
                if !left.is_empty() {
                    return Err(container::pod::PodError::InUse {
                        name: p.name.clone(),
                        containers: left.join(", "),
                    }
                    .into());
                }
            }
            container::remove(&dir, a.volumes || removing)
                .map_err(|e| anyhow::anyhow!("cannot remove {q}: {e}"))?;
            if let Some(p) = pod {
                container::pod::remove_locked(&ctx.root, p)?;
            }
            Ok(())
        });
        match r {
            Ok(()) => println!("{q}"),
            Err(e) => failed.add(e),
        }
    }
    Ok(failed.finish())
}

/// A container that others depend on, refused without `--depend`
/// (podman's words, 125).
#[derive(Debug, thiserror::Error)]
#[error("container {id} has dependent containers which must be removed before it: {deps}")]
struct HasDependents {
    id: String,
    deps: String,
}

/// Which containers depend on which: those a container `--requires`
/// (names as given then, looked up now) and those whose namespaces it
/// joins (`--network`, `--pid`, `--ipc`, `--uts container:X`). Only the
/// first keep a container from removal; a joiner may outlive its donor,
/// as docker's (with `--pid`, it ends with it).
struct Dependents {
    /// Every container's id and name, in the store's order.
    all: Vec<(String, String)>,
    /// A container's id, and the ids of those that depend on it directly.
    on: HashMap<String, Vec<String>>,
    /// The ids of those that `--requires` it, among `on`'s.
    required_by: HashMap<String, Vec<String>>,
}

impl Dependents {
    fn of(store: &Store) -> Dependents {
        let list = container::list(store);
        let all: Vec<(String, String)> = list
            .iter()
            .map(|c| (c.id.as_str().to_string(), c.name.clone()))
            .collect();
        let mut g = Dependents {
            all,
            on: HashMap::new(),
            required_by: HashMap::new(),
        };
        for c in &list {
            let me = c.id.as_str().to_string();
            let dir = container::containers_dir(store).join(c.id.as_str());
            let mut required: Vec<String> = c
                .requires
                .iter()
                .filter_map(|q| g.resolve(q).map(str::to_string))
                .filter(|n| *n != me)
                .collect();
            required.sort();
            required.dedup();
            let mut needs = required.clone();
            if let Ok(spec) = container::read_spec(&dir) {
                needs.extend(spec.namespaces.donors().iter().map(|d| d.id.clone()));
            }
            needs.sort();
            needs.dedup();
            for n in needs.into_iter().filter(|n| *n != me) {
                g.on.entry(n).or_default().push(me.clone());
            }
            for n in required {
                g.required_by.entry(n).or_default().push(me.clone());
            }
        }
        g
    }

    fn ids(&self) -> Vec<String> {
        self.all.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The id of the container `q` names (as `container::find`).
    fn resolve(&self, q: &str) -> Option<&str> {
        if let Some((id, _)) = self.all.iter().find(|(id, n)| id == q || n == q) {
            return Some(id);
        }
        let mut hits = self
            .all
            .iter()
            .filter(|(id, _)| !q.is_empty() && id.starts_with(q));
        match (hits.next(), hits.next()) {
            (Some((id, _)), None) => Some(id),
            _ => None,
        }
    }

    /// The full ids of `names` with, before each, every container that
    /// depends on it, deepest first, each once: podman's `--depend` order
    /// and words (a name that names nothing stays, to be reported).
    fn with_dependents(&self, names: &[String]) -> Vec<String> {
        fn visit(g: &Dependents, id: &str, seen: &mut HashSet<String>, out: &mut Vec<String>) {
            for d in g.on.get(id).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    visit(g, d, seen, out);
                    out.push(d.clone());
                }
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for q in names {
            let Some(id) = self.resolve(q) else {
                // Reported as it is by the removal.
                out.push(q.clone());
                continue;
            };
            if !seen.insert(id.to_string()) {
                continue;
            }
            visit(self, id, &mut seen, &mut out);
            out.push(id.to_string());
        }
        out
    }

    /// `names` in their order, but a container that depends on one named
    /// before it is moved before that one (so `pod rm`'s, and `rm b d`
    /// where d requires b, remove both; podman's refuses b there).
    fn ordered(&self, names: &[String]) -> Vec<String> {
        let given: HashMap<&str, &String> = names
            .iter()
            .filter_map(|q| Some((self.resolve(q)?, q)))
            .collect();
        fn visit<'a>(
            g: &'a Dependents,
            id: &'a str,
            given: &HashMap<&str, &String>,
            seen: &mut HashSet<&'a str>,
            out: &mut Vec<String>,
        ) {
            for d in g.on.get(id).into_iter().flatten() {
                if let Some(q) = given.get(d.as_str()) {
                    if seen.insert(d) {
                        visit(g, d, given, seen, out);
                        out.push((*q).clone());
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for q in names {
            match self.resolve(q) {
                Some(id) if seen.insert(id) => {
                    visit(self, id, &given, &mut seen, &mut out);
                    out.push(q.clone());
                }
                Some(_) => {}
                None => out.push(q.clone()),
            }
        }
        out
    }

    /// Refuses `q` while a container that `--requires` it is not in
    /// `removed`.
    fn check(&self, q: &str, removed: &HashSet<String>) -> Result<(), HasDependents> {
        let Some(id) = self.resolve(q) else {
            return Ok(());
        };
        let left: Vec<&str> = self
            .required_by
            .get(id)
            .into_iter()
            .flatten()
            .filter(|d| !removed.contains(*d))
            .map(String::as_str)
            .collect();
        match left.is_empty() {
            true => Ok(()),
            false => Err(HasDependents {
                id: id.to_string(),
                deps: left.join(", "),
            }),
        }
    }
}

/// `rless rm --force NAMES` in a child with this store (it stops and
/// removes inside the user namespace, as `rm -f` does); its stdout is not
/// shown, its errors are (one line each). The child's exit status.
/// `pod_removal`: infra containers of pods may go (`pod rm`'s); `time`:
/// `rm -t`, the seconds a running one gets after its stop signal (default
/// none: SIGKILL at once).
pub fn force_remove_child(
    ctx: &Ctx,
    names: &[&str],
    pod_removal: bool,
    time: Option<u64>,
) -> Result<std::process::ExitStatus> {
    let exe = std::env::current_exe().context("cannot find the rless binary")?;
    std::process::Command::new(exe)
        .arg("--root")
        .arg(&ctx.root)
        .args(["rm", "--force"])
        .args(pod_removal.then_some("--pod-removal"))
        .args(time.map(|t| format!("--time={t}")))
        .arg("--")
        .args(names)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run rless rm")
}

/// The variable naming, one per line, the containers an outer `rm` pass
/// saw removed by their own `--rm` monitor.
const GONE_VAR: &str = "RLESS_RM_GONE";

/// A container an earlier pass of this `rm` saw removed by its monitor.
#[derive(Debug, thiserror::Error)]
#[error("removed by its monitor")]
struct Gone;

/// Container `q`'s directory once it is not running (killed if `force`),
/// and whether it is a `--rm` one its monitor began removing (its state
/// `removing`). A `--rm` container killed here is
/// removed by its monitor: rm waits 10 s for that, then goes on (the
/// removal renames the directory away first, so whichever of the two
/// comes second finds it gone and is content).
fn stopped_dir(store: &Store, q: &str, force: bool, grace: u64) -> Result<(PathBuf, bool)> {
    let (c, dir) = container::find(store, q)?;
    let _lock = store.lock(&format!("ctr-{}", c.id))?;
    let state = container::read_state(&dir);
    if state.live() {
        if !force {
            return Err(InUse(format!(
                "cannot remove {} container {q}: stop it first or use -f",
                state.status
            ))
            .into());
        }
        let grace = std::time::Duration::from_secs(grace);
        let Some(stopped) = control::stop_for_removal(&dir, grace) else {
            bail!("container {q} did not stop after SIGKILL");
        };
        if !c.auto_remove {
            // Its exit (137) is recorded: `wait` and `attach` on it read
            // it before the directory goes, as docker's do (they said the
            // container was removed before it exited, or exited 0).
            control::let_waiters_read(&dir);
        } else {
            // Its monitor removes it now: wait for that (or for the
            // monitor to be gone), so the answer does not race it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while dir.exists()
                && container::process_alive(stopped.monitor_pid, stopped.monitor_start)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
    let removing = c.auto_remove && container::read_state(&dir).status == "removing";
    Ok((dir, removing))
}

pub fn prune(ctx: &Ctx, a: PruneArgs) -> Result<ExitCode> {
    let _ = a.force;
    let filter = PruneFilter::parse(&a.filter, "container")?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    println!("Deleted Containers:");
    let pruned = prune_containers(ctx, &filter, None)?.finish()?;
    println!("Total reclaimed space: {}", human_size(pruned.freed));
    Ok(ExitCode::SUCCESS)
}

/// Removes every stopped container `filter` takes (inside the user
/// namespace); prints each id, after `header` before the first.
pub fn prune_containers(
    ctx: &Ctx,
    filter: &PruneFilter,
    mut header: Option<&str>,
) -> Result<Pruned> {
    let store = ctx.store(LockMode::Shared)?;
    // What a killed `rm` (or a `--rm` removal outside the user namespace)
    // left renamed away.
    store.remove_container_debris();
    let mut pruned = Pruned::new("containers");
    for c in container::list(&store) {
        let dir = container::containers_dir(&store).join(c.id.as_str());
        // A pod's infra container goes with its pod only.
        if container::read_state(&dir).live()
            || container::pod::infra_of(store.root(), &c).is_some()
            || !filter.prunes(|l| super::filters::has_label(&c.labels, l), c.created)
        {
            continue;
        }
        let size = super::system::tree_size(&dir.join("upper"), &mut Default::default());
        match container::remove_dir(&dir) {
            Ok(()) => pruned.removed(&mut header, c.id.as_str(), size),
            Err(e) => {
                eprintln!("rless: cannot remove {}: {e}", c.id.short());
                pruned.errors += 1;
            }
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a <- b <- c by --requires (c requires b requires a); j joins a's
    /// namespaces; x stands alone. Ids are the names doubled.
    fn graph() -> Dependents {
        let id = |n: &str| n.repeat(2);
        let all = ["a", "b", "c", "j", "x"]
            .iter()
            .map(|n| (id(n), n.to_string()))
            .collect();
        let mut on: HashMap<String, Vec<String>> = HashMap::new();
        on.insert(id("a"), vec![id("b"), id("j")]);
        on.insert(id("b"), vec![id("c")]);
        let mut required_by: HashMap<String, Vec<String>> = HashMap::new();
        required_by.insert(id("a"), vec![id("b")]);
        required_by.insert(id("b"), vec![id("c")]);
        Dependents {
            all,
            on,
            required_by,
        }
    }

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn depend_removes_dependents_deepest_first() {
        let g = graph();
        assert_eq!(
            g.with_dependents(&v(&["a", "nosuch"])),
            v(&["cc", "bb", "jj", "aa", "nosuch"])
        );
        // Each once, named or reached.
        assert_eq!(
            g.with_dependents(&v(&["b", "a"])),
            v(&["cc", "bb", "jj", "aa"])
        );
    }

    #[test]
    fn names_given_together_go_dependents_first() {
        let g = graph();
        assert_eq!(
            g.ordered(&v(&["a", "x", "c", "b"])),
            v(&["c", "b", "a", "x"])
        );
        assert_eq!(g.ordered(&v(&["a", "a"])), v(&["a"]));
        // Refused while what --requires it is left; a joiner is not asked.
        let removed = |ids: &[&str]| ids.iter().map(|i| i.to_string()).collect();
        assert!(g.check("a", &removed(&[])).is_err());
        assert!(g.check("a", &removed(&["bb"])).is_ok());
        assert!(g.check("x", &removed(&[])).is_ok());
        let e = g.check("b", &removed(&[])).unwrap_err().to_string();
        assert_eq!(
            e,
            "container bb has dependent containers which must be removed before it: cc"
        );
    }
}
