//! Namespaces a container shares instead of making its own: the host's, or
//! another running container's (`--network container:X`, `--pid`, `--ipc`,
//! `--uts`), and the size of its `/dev/shm` (`--shm-size`).
//!
//! Theory of operation. Rootless, a namespace can be joined only by a
//! holder of CAP_SYS_ADMIN in the user namespace that owns it. Every
//! namespace of container X is owned by X's user namespace, so a container
//! that joins any of them joins X's user namespace as well, instead of
//! making one of its own (its monitor does, in [`super::enter_userns`]).
//! Its ids are then X's ids: `run` requires the same id mapping (keep-id or
//! not) as X. All the containers a joiner takes namespaces from must share
//! one user namespace.
//!
//! At each start the donor's namespaces are opened afresh from its init's
//! `/proc/PID/ns/*` ([`open`]); a donor that does not run fails the start.
//! A helper forked by the monitor enters the donor's pid namespace and
//! clones the init there as the monitor's child ([`clone_in_pid_ns`]);
//! the init itself enters the network, IPC and UTS namespaces first thing
//! ([`enter_in_init`]). With `--ipc container:X` it also takes X's
//! `/dev/shm`: it steps into X's mount namespace, clones that mount
//! (`open_tree`), steps back into its own and, once its `/dev` is built,
//! moves the clone onto its `/dev/shm` ([`mount_shm`]), so both see one
//! tmpfs.
//!
//! `host` means the namespace is not unshared. For the pid namespace the
//! kernel refuses a new procfs (it belongs to the host's user namespace),
//! so the host's `/proc` is bound in. Where the container has no pid
//! namespace of its own its init is not pid 1: it is made a child
//! subreaper (orphans come to it), the command dies with it
//! (PDEATHSIG), and once the command ends it kills what is left under it
//! ([`kill_descendants`]). `rless kill`/`stop`/`rm -f` send SIGKILL to the
//! init's whole tree and to what `exec` started in the container (found by
//! the container's mount namespace, [`others`]), and the container's
//! cgroup, when it has one, is emptied as ever; so nothing it started
//! outlives it.

use super::sys;
use nix::sched::CloneFlags;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// docker's default size of `/dev/shm`: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("cannot join the namespaces of container {name}: it is not running")]
    NotRunning { name: String },
    #[error("cannot join the namespaces of containers {a} and {b} together: they have different user namespaces")]
    TwoUserNamespaces { a: String, b: String },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Another container whose namespace is joined.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Donor {
    /// Its full id.
    pub id: String,
    /// Its name, for messages.
    pub name: String,
    /// Its directory in the store (its state tells its init's pid).
    pub dir: PathBuf,
}

/// Where a pid or UTS namespace comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Share {
    /// A new one of its own.
    #[default]
    Private,
    /// The host's (none is unshared).
    Host,
    /// Another container's.
    Container(Donor),
}

/// `--ipc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ipc {
    /// Its own, which others may join (podman's default).
    #[default]
    Shareable,
    /// Its own, which others may not join.
    Private,
    /// Its own, and no `/dev/shm`.
    None,
    /// The host's, with the host's `/dev/shm`.
    Host,
    /// Another container's, with its `/dev/shm`.
    Container(Donor),
}

/// The namespaces a container shares, and its `/dev/shm` size.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Namespaces {
    /// `--network container:X` (the other network modes are the spec's
    /// `private_network`, `slirp` and `user_networks`).
    pub net: Option<Donor>,
    pub pid: Share,
    pub ipc: Ipc,
    pub uts: Share,
    /// `--shm-size` in bytes; `None`: [`DEFAULT_SHM_SIZE`].
    pub shm_size: Option<u64>,
}

impl Share {
    /// docker's `PidMode`/`UTSMode` text: "", `host` or `container:ID`.
    pub fn mode(&self) -> String {
        match self {
            Share::Private => String::new(),
            Share::Host => "host".into(),
            Share::Container(d) => format!("container:{}", d.id),
        }
    }

    fn donor(&self) -> Option<&Donor> {
        match self {
            Share::Container(d) => Some(d),
            _ => None,
        }
    }
}

impl Ipc {
    /// docker's `IpcMode` text.
    pub fn mode(&self) -> String {
        match self {
            Ipc::Shareable => "shareable".into(),
            Ipc::Private => "private".into(),
            Ipc::None => "none".into(),
            Ipc::Host => "host".into(),
            Ipc::Container(d) => format!("container:{}", d.id),
        }
    }

    /// Whether the container has an IPC namespace of its own.
    pub fn own(&self) -> bool {
        matches!(self, Ipc::Shareable | Ipc::Private | Ipc::None)
    }
}

impl Namespaces {
    /// Every container whose namespaces are joined, each once.
    pub fn donors(&self) -> Vec<&Donor> {
        let ipc = match &self.ipc {
            Ipc::Container(d) => Some(d),
            _ => None,
        };
        let mut out: Vec<&Donor> = Vec::new();
        for d in [self.net.as_ref(), self.pid.donor(), ipc, self.uts.donor()]
            .into_iter()
            .flatten()
        {
            if !out.iter().any(|o| o.id == d.id) {
                out.push(d);
            }
        }
        out
    }

    /// Whether the container has a pid namespace of its own (its init is
    /// pid 1 there).
    pub fn own_pid(&self) -> bool {
        self.pid == Share::Private
    }

    /// The namespaces the init is cloned into.
    pub fn clone_flags(&self, private_network: bool) -> CloneFlags {
        let mut flags = CloneFlags::CLONE_NEWNS;
        if self.own_pid() {
            flags |= CloneFlags::CLONE_NEWPID;
        }
        if self.uts == Share::Private {
            flags |= CloneFlags::CLONE_NEWUTS;
        }
        if self.ipc.own() {
            flags |= CloneFlags::CLONE_NEWIPC;
        }
        if private_network && self.net.is_none() {
            flags |= CloneFlags::CLONE_NEWNET;
        }
        flags
    }
}

/// The init pid of a running donor.
pub fn donor_init(d: &Donor) -> Result<i32, ShareError> {
    let state = crate::container::read_state(&d.dir);
    state
        .pid
        .filter(|_| state.running() && crate::container::process_alive(state.pid, state.init_start))
        .ok_or_else(|| ShareError::NotRunning {
            name: d.name.clone(),
        })
}

/// The donor's namespace `name`, unless this process is in it already (a
/// donor on the host's network, say: the host's namespaces cannot be
/// entered from a user namespace, and need not be).
fn open_other_ns(pid: i32, name: &str) -> Result<Option<OwnedFd>, ShareError> {
    let fd = open_ns(pid, name)?;
    Ok((!same_ns(&fd, Path::new(&format!("/proc/self/ns/{name}")))).then_some(fd))
}

fn open_ns(pid: i32, name: &str) -> Result<OwnedFd, ShareError> {
    let path = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
    File::open(&path)
        .map(OwnedFd::from)
        .map_err(|source| ShareError::Io {
            op: "open",
            path,
            source,
        })
}

/// Whether the namespace file open as `a` and the one at `b` are one
/// namespace.
fn same_ns(a: &impl AsFd, b: &Path) -> bool {
    let (Ok(b), Ok(a)) = (std::fs::metadata(b), rustix::fs::fstat(a)) else {
        return false;
    };
    a.st_ino == b.ino() && a.st_dev == b.dev()
}

/// The user namespace of the donors, opened; `None` without donors. All
/// donors must share it.
pub fn donor_userns(ns: &Namespaces) -> Result<Option<OwnedFd>, ShareError> {
    let mut first: Option<(&Donor, OwnedFd)> = None;
    for d in ns.donors() {
        let pid = donor_init(d)?;
        match &first {
            None => first = Some((d, open_ns(pid, "user")?)),
            Some((a, afd)) => {
                if !same_ns(afd, Path::new(&format!("/proc/{pid}/ns/user"))) {
                    return Err(ShareError::TwoUserNamespaces {
                        a: a.name.clone(),
                        b: d.name.clone(),
                    });
                }
            }
        }
    }
    Ok(first.map(|(_, fd)| fd))
}

/// Joins `fd`'s user namespace unless this process is in it already.
pub fn join_userns(fd: &OwnedFd) -> std::io::Result<()> {
    if same_ns(fd, Path::new("/proc/self/ns/user")) {
        return Ok(());
    }
    nix::sched::setns(fd, CloneFlags::CLONE_NEWUSER).map_err(Into::into)
}

/// The donors' namespaces, opened for one start.
#[derive(Default)]
pub struct Joined {
    pub net: Option<OwnedFd>,
    pub ipc: Option<OwnedFd>,
    pub uts: Option<OwnedFd>,
    pub pid: Option<OwnedFd>,
    /// With `--ipc container:X`: X's mount namespace, to take its /dev/shm.
    pub shm_from: Option<OwnedFd>,
}

/// Opens the donors' namespaces (each must run now).
pub fn open(ns: &Namespaces) -> Result<Joined, ShareError> {
    let mut j = Joined::default();
    if let Some(d) = &ns.net {
        j.net = open_other_ns(donor_init(d)?, "net")?;
    }
    if let Some(d) = ns.pid.donor() {
        j.pid = open_other_ns(donor_init(d)?, "pid")?;
    }
    if let Some(d) = ns.uts.donor() {
        j.uts = open_other_ns(donor_init(d)?, "uts")?;
    }
    if let Ipc::Container(d) = &ns.ipc {
        let pid = donor_init(d)?;
        j.ipc = open_other_ns(pid, "ipc")?;
        j.shm_from = Some(open_ns(pid, "mnt")?);
    }
    Ok(j)
}

/// Runs `clone` (given the extra flags to add) so that the new process
/// is in the donor's pid namespace, if there is one, and still the
/// caller's child. The caller cannot enter that namespace itself: it could
/// not come back (its own belongs to the host's user namespace), and it
/// could start no thread after (FUSE, the network). So a helper forked for
/// the purpose enters it and clones with CLONE_PARENT, then reports the
/// new pid and exits. The caller must be single-threaded.
pub fn clone_in_pid_ns(
    pid: Option<&OwnedFd>,
    clone: impl FnOnce(CloneFlags) -> std::io::Result<nix::unistd::Pid>,
) -> std::io::Result<nix::unistd::Pid> {
    let Some(theirs) = pid else {
        return clone(CloneFlags::empty());
    };
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let Some(helper) = sys::fork()? else {
        drop(r);
        let got = nix::sched::setns(theirs, CloneFlags::CLONE_NEWPID)
            .map_err(std::io::Error::from)
            .and_then(|()| clone(CloneFlags::CLONE_PARENT));
        // The pid, or minus the errno.
        let word: i32 = match got {
            Ok(p) => p.as_raw(),
            Err(e) => -e.raw_os_error().unwrap_or(nix::libc::EIO),
        };
        let _ = rustix::io::write(&w, &word.to_ne_bytes());
        sys::exit_child(0)
    };
    drop(w);
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match rustix::io::read(&r, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let _ = nix::sys::wait::waitpid(helper, None);
    match i32::from_ne_bytes(buf) {
        _ if got < 4 => Err(std::io::Error::other(
            "the helper that enters the pid namespace ended",
        )),
        p if p > 0 => Ok(nix::unistd::Pid::from_raw(p)),
        e => Err(std::io::Error::from_raw_os_error(-e)),
    }
}

/// In the init, first thing: enters the donors' network, IPC and UTS
/// namespaces, and clones the IPC donor's /dev/shm (returned, for
/// [`mount_shm`]).
pub fn enter_in_init(j: Joined) -> std::io::Result<Option<OwnedFd>> {
    for (fd, flag) in [
        (&j.net, CloneFlags::CLONE_NEWNET),
        (&j.ipc, CloneFlags::CLONE_NEWIPC),
        (&j.uts, CloneFlags::CLONE_NEWUTS),
    ] {
        if let Some(fd) = fd {
            nix::sched::setns(fd, flag)?;
        }
    }
    let Some(theirs) = j.shm_from else {
        return Ok(None);
    };
    let own = File::open("/proc/self/ns/mnt")?;
    nix::sched::setns(&theirs, CloneFlags::CLONE_NEWNS)?;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        "/dev/shm",
        rustix::mount::OpenTreeFlags::OPEN_TREE_CLONE
            | rustix::mount::OpenTreeFlags::OPEN_TREE_CLOEXEC,
    );
    nix::sched::setns(&own, CloneFlags::CLONE_NEWNS)?;
    match tree {
        // Before 5.2 (RHEL 8's 4.18) a mount of another mount namespace
        // cannot be bound in: refused rather than given a /dev/shm of its
        // own that shares nothing.
        Err(rustix::io::Errno::NOSYS) => Err(std::io::Error::other(
            "sharing another container's /dev/shm (--ipc container:X) needs Linux 5.2 or later (open_tree)",
        )),
        tree => Ok(Some(tree?)),
    }
}

/// After the container's /dev is made (with docker's default 64 MiB
/// /dev/shm): replaces that /dev/shm as `ipc` and `size` ask. `tree` is
/// the IPC donor's, from [`enter_in_init`].
pub fn mount_shm(
    dev: &Path,
    ipc: &Ipc,
    size: Option<u64>,
    tree: Option<OwnedFd>,
) -> std::io::Result<()> {
    use rustix::mount::{self, MountFlags, UnmountFlags};
    let shm = dev.join("shm");
    let size = size.filter(|s| *s != DEFAULT_SHM_SIZE);
    if matches!(ipc, Ipc::Shareable | Ipc::Private) && size.is_none() {
        return Ok(());
    }
    mount::unmount(&shm, UnmountFlags::DETACH)?;
    match (ipc, tree) {
        (Ipc::None, _) => Ok(()),
        (Ipc::Host, _) => Ok(mount::mount_bind_recursive("/dev/shm", &shm)?),
        (Ipc::Container(_), Some(tree)) => Ok(mount::move_mount(
            tree.as_fd(),
            "",
            rustix::fs::CWD,
            &shm,
            mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )?),
        (Ipc::Container(_), None) => Err(std::io::Error::other("the donor's /dev/shm is missing")),
        (Ipc::Shareable | Ipc::Private, _) => {
            let data = format!("mode=1777,size={}", size.unwrap_or(DEFAULT_SHM_SIZE));
            let data = std::ffi::CString::new(data).expect("no NUL");
            Ok(mount::mount(
                "shm",
                &shm,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                data.as_c_str(),
            )?)
        }
    }
}

/// The pids of a container's processes (host pids): everything in its pid
/// namespace when its init is pid 1 there, but for what containers that
/// joined it run ([`without_joiners`]), else (`--pid host` or
/// `container:X`) the init and the rest of [`others`].
pub fn container_pids(init: i32) -> Vec<i32> {
    if owns_pid_ns(init) {
        return without_joiners(init, ns_members(init, "pid"));
    }
    let mut out = vec![init];
    out.extend(others(init));
    out.sort();
    out
}

/// The processes of a container without a pid namespace of its own but
/// its init: what descends from the init, and what `exec` started in it
/// (not the init's descendants, but in the init's mount namespace, which
/// is the container's alone) with what descends from that. Not `rless
/// exec` itself, which is in that mount namespace too ([`exec_client`]).
fn others(init: i32) -> Vec<i32> {
    let mut out = descendants(init);
    let members = ns_members(init, "mnt");
    for &p in &members {
        if p == init || out.contains(&p) {
            continue;
        }
        if exec_client(p, &members) {
            continue;
        }
        out.push(p);
        for d in descendants(p) {
            if d != init && !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// Whether `pid` is pid 1 of its own pid namespace (NSpid's last field).
pub fn owns_pid_ns(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|l| l.split_whitespace().last().map(|x| x == "1"))
        })
        .unwrap_or(true)
}

/// `members` (the pid namespace of `init`) less the processes of the
/// `--pid container:X` joiners in it: each joiner's init, and each process
/// `exec` started in a joiner, has its parent outside the namespace and a
/// mount namespace other than the init's (every container has its own);
/// those and what descends from them are left out. (What `exec` started
/// in the container itself has its parent outside too, but the init's
/// mount namespace.)
fn without_joiners(init: i32, members: Vec<i32>) -> Vec<i32> {
    let mnt = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/mnt")).ok();
    let Some(own) = mnt(init) else {
        return members;
    };
    let roots: Vec<i32> = members
        .iter()
        .copied()
        .filter(|&p| p != init && mnt(p).is_some_and(|m| m != own))
        .filter(|&p| parent(p).is_some_and(|pp| !members.contains(&pp)))
        .collect();
    if roots.is_empty() {
        return members;
    }
    let mut theirs = roots.clone();
    for r in roots {
        theirs.extend(descendants(r));
    }
    members
        .into_iter()
        .filter(|p| !theirs.contains(p))
        .collect()
}

/// A process's parent (`PPid`, as this /proc numbers it).
fn parent(pid: i32) -> Option<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// Whether `pid`, in the container's mount namespace (`members`), is an
/// `rless exec` that entered it to start a process there: it runs rless's
/// own binary and its parent is outside. (Its child runs that binary too
/// until its exec, but its parent is in.)
fn exec_client(pid: i32, members: &[i32]) -> bool {
    let id = |p: &str| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let ours = id("/proc/self/exe");
    ours.is_some()
        && id(&format!("/proc/{pid}/exe")) == ours
        && parent(pid).is_some_and(|pp| !members.contains(&pp))
}

/// The processes in the namespace `name` of `pid` (it too), as this
/// /proc numbers them.
fn ns_members(pid: i32, name: &str) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/{name}")) else {
        return vec![];
    };
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let mut pids: Vec<i32> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/{name}")).is_ok_and(|n| n == ns))
        .collect();
    pids.sort();
    pids
}

/// Every process below `pid` (by /proc/PID/task/TID/children, as this
/// /proc numbers them).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let path = t.path().join("children");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for c in text
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if !out.contains(&c) {
                    out.push(c);
                    todo.push(c);
                }
            }
        }
    }
    out
}

/// SIGKILLs the init `pid` of a container without a pid namespace of its
/// own and all its processes ([`others`]); again for those started while
/// it went, then the init.
pub fn kill_tree(pid: i32) {
    let mut killed: Vec<i32> = Vec::new();
    for _ in 0..10 {
        let new: Vec<i32> = others(pid)
            .into_iter()
            .filter(|p| !killed.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for p in new {
            let _ = sys::send_signal(p, nix::libc::SIGKILL);
            killed.push(p);
        }
    }
    let _ = sys::send_signal(pid, nix::libc::SIGKILL);
}

/// In the monitor, once the init of a container without a pid namespace
/// of its own has ended: SIGKILLs what is left in the container's mount
/// namespace `ns` and below it (nothing, unless the init was killed
/// before it could do that itself: its orphans went to another reaper).
pub fn kill_left_in(ns: &OwnedFd) {
    let Ok(theirs) = rustix::fs::fstat(ns) else {
        return;
    };
    let mut killed: Vec<i32> = Vec::new();
    for _ in 0..10 {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return;
        };
        let members: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|p| {
                std::fs::metadata(format!("/proc/{p}/ns/mnt"))
                    .is_ok_and(|m| m.ino() == theirs.st_ino && m.dev() == theirs.st_dev)
            })
            .collect();
        let mut left: Vec<i32> = Vec::new();
        for &p in &members {
            if exec_client(p, &members) {
                continue;
            }
            for q in std::iter::once(p).chain(descendants(p)) {
                if !killed.contains(&q) && !left.contains(&q) {
                    left.push(q);
                }
            }
        }
        if left.is_empty() {
            return;
        }
        for p in left {
            let _ = sys::send_signal(p, nix::libc::SIGKILL);
            killed.push(p);
        }
    }
}

/// In an init without a pid namespace of its own, after its command
/// ended: kills everything left of the container ([`others`]: below it,
/// and what `exec` started) and reaps what is its own (as a subreaper it
/// inherits each orphan), until nothing is left.
pub fn kill_descendants() {
    let me = std::process::id() as i32;
    for _ in 0..100 {
        let left = others(me);
        if left.is_empty() {
            return;
        }
        for p in left {
            let _ = sys::send_signal(p, nix::libc::SIGKILL);
        }
        // Until no child is left (ECHILD): the killed ones, and the
        // orphans of killed parents, which come here. (What `exec`
        // started is reaped by its own parent.)
        while rustix::process::wait(rustix::process::WaitOptions::empty()).is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn donor(id: &str) -> Donor {
        Donor {
            id: id.into(),
            name: id.into(),
            dir: PathBuf::from("/nowhere").join(id),
        }
    }

    #[test]
    fn clone_flags_leave_out_shared_namespaces() {
        let own = Namespaces::default();
        let all = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC;
        assert_eq!(own.clone_flags(false), all);
        assert_eq!(own.clone_flags(true), all | CloneFlags::CLONE_NEWNET);
        let shared = Namespaces {
            net: Some(donor("a")),
            pid: Share::Host,
            ipc: Ipc::Container(donor("a")),
            uts: Share::Container(donor("b")),
            shm_size: None,
        };
        assert_eq!(shared.clone_flags(true), CloneFlags::CLONE_NEWNS);
        assert!(!shared.own_pid());
        // Each donor once.
        let ids: Vec<&str> = shared.donors().iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        // --ipc none and private still unshare.
        let none = Namespaces {
            ipc: Ipc::None,
            ..Default::default()
        };
        assert!(none.clone_flags(false).contains(CloneFlags::CLONE_NEWIPC));
    }

    #[test]
    fn modes_as_docker_shows_them() {
        assert_eq!(Share::Private.mode(), "");
        assert_eq!(Share::Host.mode(), "host");
        assert_eq!(Share::Container(donor("abc")).mode(), "container:abc");
        assert_eq!(Ipc::default().mode(), "shareable");
        assert_eq!(Ipc::None.mode(), "none");
        assert_eq!(Ipc::Container(donor("x")).mode(), "container:x");
    }

    #[test]
    fn old_specs_read_as_private() {
        let ns: Namespaces = serde_json::from_str("{}").unwrap();
        assert_eq!(ns, Namespaces::default());
    }

    #[test]
    fn descendants_include_a_child() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let kids = descendants(me);
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.contains(&(child.id() as i32)), "{kids:?}");
    }
}
