//! cgroups: resource limits where a cgroup v2 subtree is delegated to the
//! user, and one plain warning (or error) where none is.
//!
//! Theory of operation.
//! - **Detection** ([`detect`]): the cgroup2 mount comes from
//!   /proc/self/mountinfo (/sys/fs/cgroup on v2 hosts, /sys/fs/cgroup/unified
//!   on hybrid ones), our own cgroup from the `0::` line of /proc/self/cgroup.
//!   The *delegated subtree* is the topmost cgroup on the way from the mount
//!   down to ours that the user owns, with writable cgroup.procs and
//!   cgroup.subtree_control (systemd's `Delegate=yes`, or a site's). Moving a
//!   process between two cgroups needs write access to their common
//!   ancestor's cgroup.procs, which inside that subtree is always ours.
//!   Its cgroup.controllers are the controllers we can hand on.
//! - **Plan** ([`plan`], no side effects, before anything is made): which
//!   limits can be applied, one warning naming the others and why
//!   (`--cgroups=enabled`), or an error (`required`); `disabled` skips all.
//! - **Prepare** ([`prepare`], in the command, before it forks the monitor
//!   or enters the user namespace): v2 lets only cgroups *without
//!   processes* pass controllers to children. The parent (the delegated
//!   subtree, or `--cgroup-parent` inside it) gets the controllers enabled in
//!   its cgroup.subtree_control, and if rless itself sits in a cgroup on that
//!   path it first moves into the leaf `rless-monitor` below it. Other
//!   processes are never moved: when they block the change, the reason says
//!   so.
//! - **Create** ([`Cgroup::create`], in the monitor, at every start):
//!   `PARENT/rless-<id>`, the limits written. The init is cloned straight
//!   into it (clone3's CLONE_INTO_CGROUP, Linux 5.7; a later move would
//!   wait for an RCU grace period, 3 to 16 ms here), or on older kernels
//!   writes itself into its cgroup.procs first thing, before it forks the
//!   command; either way every process of the container is inside. The
//!   monitor stays outside.
//! - **Remove** ([`remove`]): when the container exits (the [`Cgroup`] is
//!   dropped) or is removed (a killed monitor's leftover), whatever is still
//!   inside is killed, and the directory removed once empty. Errors are
//!   reported and the rest still done.
//!
//! - **Update** ([`update_live`], `rless update`): a running container's
//!   cgroup files rewritten; a limit dropped is reset to the kernel's
//!   default.
//!
//! Limits: no cgroup v1 (rootless cgroup v1 is not delegable), no devices
//! limits, no systemd D-Bus: rless writes the cgroup files itself.

pub mod limits;
pub mod more;
mod update;
use update::target;
pub use update::update_live;
pub mod usage;

use serde::{Deserialize, Serialize};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// The controllers a container's cgroup gets when they are there: the
/// limits' and those `stats` reads.
pub const CONTROLLERS: [&str; 4] = ["cpu", "io", "memory", "pids"];

/// The leaf rless moves itself into when it sits where controllers must be
/// enabled.
pub const MONITOR_LEAF: &str = "rless-monitor";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups are required but unavailable: {0}")]
    Required(String),
    #[error("cgroups are required but {flags} cannot be applied: {why}")]
    RequiredLimit { flags: String, why: String },
    #[error("invalid --cgroup-parent {parent:?}: {why}")]
    Parent { parent: String, why: String },
    #[error("invalid {flag} {value:?}: {why}")]
    Cpuset {
        flag: String,
        value: String,
        why: String,
    },
    #[error("invalid --cgroups {0:?}: use enabled, disabled or required")]
    Mode(String),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io { op, path, source }
}

/// `--cgroups`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Apply what can be applied; warn once about the rest.
    #[default]
    Enabled,
    /// No cgroup, no warning.
    Disabled,
    /// A cgroup with every requested limit, or an error.
    Required,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, CgroupError> {
        match s {
            "enabled" => Ok(Mode::Enabled),
            "disabled" => Ok(Mode::Disabled),
            "required" => Ok(Mode::Required),
            other => Err(CgroupError::Mode(other.to_string())),
        }
    }
}

/// One value written into the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The flag it comes from, for warnings (`--memory`).
    pub flag: String,
    pub controller: String,
    /// File in the cgroup (`memory.max`).
    pub file: String,
    pub value: String,
    /// A default the user did not ask for: skipped silently when it
    /// cannot be applied.
    #[serde(default)]
    pub implied: bool,
    /// The file and value to write instead where `file` does not exist
    /// (`io.weight` where the scheduler is not BFQ's `io.bfq.weight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<(String, String)>,
}

/// What a container asks of cgroups (part of its spec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSpec {
    pub mode: Mode,
    /// `--cgroup-parent`: absolute from the cgroup2 root, or relative to
    /// the delegated subtree.
    pub parent: Option<String>,
    pub settings: Vec<Setting>,
    /// The container's cgroup's name (`rless-<id>`).
    pub name: String,
}

// ------------------------------------------------------------------ detection

/// The cgroup2 hierarchy as this process sees it.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Where cgroup2 is mounted.
    pub mount: PathBuf,
    /// Our own cgroup's directory.
    pub own: PathBuf,
    /// /sys/fs/cgroup is not itself cgroup2 (v1 controllers exist).
    pub hybrid: bool,
}

/// A cgroup v2 subtree this user may manage.
#[derive(Debug, Clone)]
pub struct Delegation {
    pub hierarchy: Hierarchy,
    /// The delegated subtree's top.
    pub root: PathBuf,
    /// Its cgroup.controllers.
    pub controllers: Vec<String>,
}

/// The cgroup2 mount point and its root, from mountinfo text.
fn cgroup2_mount(mountinfo: &str) -> Option<(PathBuf, String)> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        let f: Vec<&str> = pre.split(' ').collect();
        let unescape = |s: &str| s.replace("\\040", " ").replace("\\011", "\t");
        Some((
            PathBuf::from(unescape(f.get(4)?)),
            unescape(f.get(3)?).to_string(),
        ))
    })
}

/// Our own cgroup2 path (`/a/b`), from /proc/self/cgroup text.
fn own_path(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
}

/// Where cgroup2 is, and where we are in it.
pub fn hierarchy() -> Result<Hierarchy, String> {
    let mountinfo = crate::procfs::read("/proc/self/mountinfo").unwrap_or_default();
    let Some((mount, root)) = cgroup2_mount(&mountinfo) else {
        return Err(
            "this host has cgroup v1 only (no cgroup2 mount), which rootless containers cannot use"
                .into(),
        );
    };
    let own = crate::procfs::read("/proc/self/cgroup")
        .ok()
        .and_then(|s| own_path(&s))
        .ok_or_else(|| "/proc/self/cgroup has no cgroup v2 entry".to_string())?;
    let rel = own
        .strip_prefix(root.trim_end_matches('/'))
        .unwrap_or(&own)
        .trim_start_matches('/');
    Ok(Hierarchy {
        own: if rel.is_empty() {
            mount.clone()
        } else {
            mount.join(rel)
        },
        hybrid: mount != Path::new("/sys/fs/cgroup"),
        mount,
    })
}

/// The words of a cgroup's space-separated list file.
fn read_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Whether `dir` is delegated to us: ours, with writable cgroup.procs and
/// cgroup.subtree_control.
fn delegated(dir: &Path) -> bool {
    let uid = rustix::process::geteuid().as_raw();
    let writable = |f: &str| rustix::fs::access(dir.join(f), rustix::fs::Access::WRITE_OK).is_ok();
    std::fs::metadata(dir).is_ok_and(|m| m.uid() == uid)
        && writable("cgroup.procs")
        && writable("cgroup.subtree_control")
}

/// The delegated subtree we are in, or why there is none.
pub fn detect() -> Result<Delegation, String> {
    let h = hierarchy()?;
    let mut chain: Vec<PathBuf> = h.own.ancestors().map(Path::to_path_buf).collect();
    chain.reverse();
    chain.retain(|d| d.starts_with(&h.mount));
    let Some(root) = chain.into_iter().find(|d| delegated(d)) else {
        let owner = std::fs::metadata(&h.own).map(|m| m.uid()).ok();
        let whose = match owner {
            Some(0) => "is owned by root".to_string(),
            Some(u) => format!("is owned by uid {u}"),
            None => "cannot be read".to_string(),
        };
        return Err(if h.hybrid {
            format!(
                "this host runs cgroup v1/hybrid mode and no part of its cgroup v2 tree is delegated to you (your cgroup {} {whose})",
                h.own.display()
            )
        } else {
            format!(
                "no cgroup v2 subtree is delegated to you (your cgroup {} {whose}); log in through systemd (user@.service delegates one) or ask your admin",
                h.own.display()
            )
        });
    };
    let controllers = read_list(&root.join("cgroup.controllers"));
    Ok(Delegation {
        hierarchy: h,
        root,
        controllers,
    })
}

/// Why `controller` is not available in `dir`.
fn missing_reason(controller: &str, dir: &Path, have: &[String]) -> String {
    let listed = if have.is_empty() {
        "none".to_string()
    } else {
        have.join(" ")
    };
    let mut why = format!(
        "the {controller} controller is not delegated to {} (its cgroup.controllers: {listed})",
        dir.display()
    );
    if bound_to_v1(controller) {
        why.push_str(&format!(
            "; {controller} is bound to a cgroup v1 hierarchy on this host"
        ));
    }
    why
}

/// Whether /proc/cgroups shows `controller` attached to a v1 hierarchy.
/// v2's `cpu` is v1's `cpu`; `io` is v1's `blkio`.
pub fn bound_to_v1(controller: &str) -> bool {
    let v1 = if controller == "io" {
        "blkio"
    } else {
        controller
    };
    std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 2 && f[0] == v1).then(|| f[1] != "0")
        })
        .next()
        .unwrap_or(false)
}

/// One line on what holds on this host, for `rless info`.
pub fn summary() -> (Option<Delegation>, String) {
    match detect() {
        Ok(d) => {
            let missing: Vec<&str> = CONTROLLERS
                .iter()
                .copied()
                .filter(|c| !d.controllers.iter().any(|h| h == c))
                .collect();
            let mut s = format!(
                "limits applied in the delegated subtree {} (controllers: {})",
                d.root.display(),
                if d.controllers.is_empty() {
                    "none".into()
                } else {
                    d.controllers.join(" ")
                }
            );
            if !missing.is_empty() {
                s.push_str(&format!("; not available: {}", missing.join(" ")));
                let v1: Vec<&str> = missing.iter().copied().filter(|c| bound_to_v1(c)).collect();
                if !v1.is_empty() {
                    s.push_str(&format!(" ({} bound to cgroup v1)", v1.join(" ")));
                }
            }
            (Some(d), s)
        }
        Err(why) => (None, format!("limits not applied: {why}")),
    }
}

// ------------------------------------------------------------------ plan

/// What [`plan`] decided.
#[derive(Debug, Default)]
pub struct Plan {
    /// The container cgroup's parent; `None`: no cgroup.
    pub parent: Option<PathBuf>,
    /// The delegated subtree the parent is in.
    pub delegation: Option<Delegation>,
    /// Controllers to enable down to the parent.
    pub controllers: Vec<String>,
    /// One line for the user (`--cgroups=enabled`), without the prefix.
    pub warning: Option<String>,
}

/// The parent directory for `--cgroup-parent` (or the delegated subtree).
fn resolve_parent(d: &Delegation, parent: Option<&str>) -> Result<PathBuf, CgroupError> {
    let Some(p) = parent else {
        return Ok(d.root.clone());
    };
    let bad = |why: String| CgroupError::Parent {
        parent: p.to_string(),
        why,
    };
    let path = Path::new(p);
    if p.is_empty()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(bad("use a cgroup path without . or ..".into()));
    }
    let dir = if path.is_absolute() {
        d.hierarchy
            .mount
            .join(p.trim_start_matches('/').trim_end_matches('/'))
    } else {
        d.root.join(p.trim_end_matches('/'))
    };
    if !dir.starts_with(&d.root) {
        return Err(bad(format!(
            "it is outside your delegated cgroup subtree {}",
            d.root.display()
        )));
    }
    Ok(dir)
}

/// Decides, without changing anything, where the container's cgroup goes
/// and which settings cannot be applied.
pub fn plan(spec: &CgroupSpec) -> Result<Plan, CgroupError> {
    plan_with(spec, detect())
}

fn plan_with(spec: &CgroupSpec, found: Result<Delegation, String>) -> Result<Plan, CgroupError> {
    let mut flags: Vec<&str> = Vec::new();
    for s in spec.settings.iter().filter(|s| !s.implied) {
        if !flags.contains(&s.flag.as_str()) {
            flags.push(&s.flag);
        }
    }
    if spec.parent.is_some() {
        flags.push("--cgroup-parent");
    }
    if spec.mode == Mode::Disabled {
        return Ok(Plan::default());
    }
    let d = match found {
        Ok(d) => d,
        Err(why) if spec.mode == Mode::Required => return Err(CgroupError::Required(why)),
        Err(why) => {
            more::check_cpuset(&spec.settings, None)?;
            return Ok(Plan {
                warning: (!flags.is_empty())
                    .then(|| format!("{} not applied: {why}", flags.join(", "))),
                ..Default::default()
            });
        }
    };
    let parent = resolve_parent(&d, spec.parent.as_deref())?;
    more::check_cpuset(&spec.settings, Some(&parent))?;
    // Per missing controller: the flags that need it.
    let mut missing: Vec<(String, Vec<&str>)> = Vec::new();
    for s in spec.settings.iter().filter(|s| !s.implied) {
        if d.controllers.contains(&s.controller) {
            continue;
        }
        match missing.iter_mut().find(|(c, _)| *c == s.controller) {
            Some((_, f)) if !f.contains(&s.flag.as_str()) => f.push(&s.flag),
            Some(_) => {}
            None => missing.push((s.controller.clone(), vec![&s.flag])),
        }
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(c, f)| {
            format!(
                "{} not applied: {}",
                f.join(", "),
                missing_reason(c, &d.root, &d.controllers)
            )
        })
        .collect();
    if !parts.is_empty() && spec.mode == Mode::Required {
        let flags: Vec<&str> = missing
            .iter()
            .flat_map(|(_, f)| f.iter().copied())
            .collect();
        return Err(CgroupError::RequiredLimit {
            flags: flags.join(", "),
            why: missing
                .iter()
                .map(|(c, _)| missing_reason(c, &d.root, &d.controllers))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok(Plan {
        parent: Some(parent),
        controllers: CONTROLLERS
            .iter()
            .copied()
            .chain(spec.settings.iter().map(|s| s.controller.as_str()))
            .filter(|c| d.controllers.iter().any(|h| h == c))
            .fold(Vec::new(), |mut v, c| {
                if !v.iter().any(|x: &String| x == c) {
                    v.push(c.to_string());
                }
                v
            }),
        delegation: Some(d),
        warning: (!parts.is_empty()).then(|| parts.join("; ")),
    })
}

// ------------------------------------------------------------------ prepare

/// Makes the parent able to hold the container's cgroup with its
/// controllers: creates missing `--cgroup-parent` levels and enables the
/// controllers on the way down, moving this process into [`MONITOR_LEAF`]
/// first when it sits in one of those cgroups. Run by the command before it
/// forks or enters the user namespace. `Ok(Some(line))` is a warning
/// (`--cgroups=enabled`: the container runs without limits).
pub fn prepare(spec: &CgroupSpec) -> Result<Option<String>, CgroupError> {
    let p = plan(spec)?;
    let (Some(parent), Some(d)) = (p.parent, p.delegation) else {
        return Ok(None);
    };
    match enable_down_to(&d, &parent, &p.controllers) {
        Ok(()) => Ok(None),
        Err(why) if spec.mode == Mode::Required => Err(CgroupError::Required(why)),
        Err(why) => Ok(Some(format!("cgroup limits not applied: {why}"))),
    }
}

fn enable_down_to(d: &Delegation, parent: &Path, wanted: &[String]) -> Result<(), String> {
    let own = &d.hierarchy.own;
    let mut chain: Vec<&Path> = parent
        .ancestors()
        .take_while(|a| a.starts_with(&d.root))
        .collect();
    chain.reverse();
    for dir in chain {
        if !dir.exists() {
            std::fs::create_dir(dir)
                .map_err(|e| format!("cannot create cgroup {}: {e}", dir.display()))?;
        }
        // The root cgroup may hold processes and still hand on controllers;
        // any other must be empty (cpu and pids alone would let it hold
        // processes, but its children could then not hold any).
        if dir != d.hierarchy.mount {
            if dir == own.as_path() {
                let leaf = dir.join(MONITOR_LEAF);
                if let Err(e) = std::fs::create_dir(&leaf) {
                    if e.kind() != io::ErrorKind::AlreadyExists {
                        return Err(format!("cannot create cgroup {}: {e}", leaf.display()));
                    }
                }
                std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
                    .map_err(|e| format!("cannot move rless into {}: {e}", leaf.display()))?;
            }
            // Another rless started from the same cgroup may be about to
            // move itself out too: give it a moment before calling the
            // cgroup busy.
            let procs = dir.join("cgroup.procs");
            let mut tries = 0;
            while !read_list(&procs).is_empty() {
                tries += 1;
                if tries > 20 {
                    return Err(busy(dir));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let have = read_list(&dir.join("cgroup.controllers"));
        let enabled = read_list(&dir.join("cgroup.subtree_control"));
        let add: Vec<String> = wanted
            .iter()
            .filter(|c| have.contains(c) && !enabled.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        if add.is_empty() {
            continue;
        }
        let file = dir.join("cgroup.subtree_control");
        if let Err(e) = std::fs::write(&file, add.join(" ")) {
            return Err(
                if e.raw_os_error() == Some(rustix::io::Errno::BUSY.raw_os_error()) {
                    busy(dir)
                } else {
                    format!("cannot write {} to {}: {e}", add.join(" "), file.display())
                },
            );
        }
    }
    Ok(())
}

fn busy(dir: &Path) -> String {
    format!(
        "other processes are in {}, and cgroup v2 lets only cgroups without processes have child cgroups with controllers; start rless from a cgroup of its own (e.g. systemd-run --user --scope)",
        dir.display()
    )
}

// ------------------------------------------------------------------ the container's cgroup

/// A container's cgroup while it runs; removed when dropped.
#[derive(Debug)]
pub struct Cgroup {
    pub dir: PathBuf,
    /// The directory, open, for clone3's CLONE_INTO_CGROUP.
    fd: OwnedFd,
    /// Its cgroup.procs, open for writing, until the init takes it.
    procs: Option<OwnedFd>,
}

impl Cgroup {
    /// Creates the container's cgroup, writes its limits and opens its
    /// cgroup.procs (run in the monitor, at every start). `None`: no
    /// cgroup (disabled, or unavailable under `enabled`; [`plan`] warned).
    /// Settings whose controller is missing are skipped under `enabled`
    /// ([`plan`] warned); a write that fails is one warning line.
    pub fn create(spec: &CgroupSpec) -> Result<Option<Cgroup>, CgroupError> {
        let p = plan(spec)?;
        let Some(parent) = p.parent else {
            return Ok(None);
        };
        let required = spec.mode == Mode::Required;
        let dir = parent.join(&spec.name);
        if dir.exists() {
            // Left by a monitor that was killed.
            let _ = remove(&dir);
        }
        if let Err(e) = std::fs::create_dir(&dir) {
            if required {
                return Err(io_err("create the cgroup", &dir)(e));
            }
            tracing::warn!(
                "cgroup limits not applied: cannot create {}: {e}",
                dir.display()
            );
            return Ok(None);
        }
        let fd = match std::fs::File::open(&dir) {
            Ok(f) => OwnedFd::from(f),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(io_err("open", &dir)(e));
            }
        };
        // From here on, dropping `cg` removes the directory again.
        let mut cg = Cgroup {
            dir,
            fd,
            procs: None,
        };
        if read_list(&cg.dir.join("cgroup.type")).join(" ") == "domain invalid" {
            let why = busy(&parent);
            if required {
                return Err(CgroupError::Required(why));
            }
            tracing::warn!("cgroup limits not applied: {why}");
            return Ok(None);
        }
        // Controllers the plan found missing were warned about (or refused)
        // already; anything else that does not stick is reported here.
        let present = read_list(&cg.dir.join("cgroup.controllers"));
        let mut failed = Vec::new();
        for s in &spec.settings {
            if !present.contains(&s.controller) && !required {
                continue;
            }
            let (file, value) = target(&cg.dir, s);
            if !file.exists() && s.implied {
                // No swap accounting in this kernel: docker's default is moot.
                continue;
            }
            if let Err(e) = std::fs::write(&file, value) {
                if s.implied {
                    continue;
                }
                if required {
                    return Err(io_err("write", &file)(e));
                }
                failed.push(format!("{} ({} {}: {e})", s.flag, s.file, s.value));
            }
        }
        if !failed.is_empty() {
            tracing::warn!("not applied: {}", failed.join(", "));
        }
        let procs_path = cg.dir.join("cgroup.procs");
        let procs = std::fs::OpenOptions::new()
            .write(true)
            .open(&procs_path)
            .map_err(io_err("open", &procs_path))?;
        cg.procs = Some(procs.into());
        Ok(Some(cg))
    }

    /// The cgroup.procs descriptor for the init, which writes itself there
    /// when it could not be cloned into the cgroup.
    pub fn take_procs(&mut self) -> Option<OwnedFd> {
        self.procs.take()
    }

    /// The cgroup's directory, for clone3.
    pub fn dir_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    /// Removes the cgroup now (killing what is left in it) and says why
    /// not, where dropping it only warns.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        // An empty path tells the drop that nothing is left to do.
        remove(&std::mem::take(&mut self.dir))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if self.dir.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = remove(&self.dir) {
            tracing::warn!("{e}");
        }
    }
}

/// Joins the cgroup whose cgroup.procs is `procs` (this whole process).
pub fn join(procs: &OwnedFd) -> io::Result<()> {
    rustix::io::write(procs, b"0")?;
    Ok(())
}

/// Kills whatever is left in the cgroup `dir` and removes it once empty.
/// Does nothing when it is gone already.
pub fn remove(dir: &Path) -> Result<(), CgroupError> {
    if !dir.join("cgroup.procs").exists() {
        return Ok(());
    }
    let pids = || read_list(&dir.join("cgroup.procs"));
    if !pids().is_empty() {
        // cgroup.kill (Linux 5.14); else signal each process.
        if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
            for p in pids() {
                if let Some(pid) = p.parse().ok().and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
    // Killed processes leave asynchronously; give them a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(io_err("remove the cgroup", dir)(e))
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
        }
    }
}

#[cfg(test)]
mod tests;
