//! Id mapping: which ids the user may use, and entering a user namespace
//! that maps them.
//!
//! Theory of operation: with a subordinate id range in /etc/subuid and
//! /etc/subgid, and the distribution's setuid `newuidmap`/`newgidmap`, the
//! user becomes root of a user namespace where ids `1..=count` map to the
//! range, as rootless podman does, so image files keep distinct owners.
//! Without one (many HPC login nodes), rless runs in single-id mode: every
//! file belongs to the user and ownership in images is dropped.
//!
//! Store commands that create or delete files with mapped owners re-execute
//! rless inside such a namespace ([`reexec_in_userns`]): the child unshares
//! its user namespace before exec, reports its pid over a pipe, and waits on
//! a second pipe while a parent thread runs newuidmap/newgidmap; only then
//! does it exec, so the new image starts as uid 0 with full capabilities in
//! the namespace.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

/// Set in the environment of the re-executed child.
const IN_USERNS_ENV: &str = "_RLESS_IN_USERNS";

/// A contiguous range of subordinate ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

/// How the user's ids are mapped into containers and into the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IdMode {
    /// User → 0, range → 1..=count.
    SubUid {
        uid: u32,
        gid: u32,
        uids: IdRange,
        gids: IdRange,
    },
    /// Only the user's own id is mapped.
    Single { reason: String },
    /// rless runs as real root; ids are used as they are.
    Root,
}

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("cannot {op}: {source}")]
    Sys { op: &'static str, source: io::Error },
    #[error("{tool} failed ({status}): {stderr}")]
    MapTool {
        tool: &'static str,
        status: String,
        stderr: String,
    },
}

impl IdMode {
    /// The mode of this process: inherited from the parent when this is the
    /// re-executed child, else [`IdMode::detect`].
    pub fn current() -> IdMode {
        if let Some(v) = std::env::var_os(IN_USERNS_ENV) {
            let n: Vec<u32> = v
                .to_string_lossy()
                .split(':')
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [uid, gid, us, uc, gs, gc] = n[..] {
                return IdMode::SubUid {
                    uid,
                    gid,
                    uids: IdRange {
                        start: us,
                        count: uc,
                    },
                    gids: IdRange {
                        start: gs,
                        count: gc,
                    },
                };
            }
        }
        if in_single_session() {
            // uid 0 here is the user: the map holds their id alone.
            return IdMode::Single {
                reason:
                    "in the single-id namespace of \"rless unshare\"; all files are owned by you"
                        .into(),
            };
        }
        IdMode::detect()
    }

    /// Looks at /etc/subuid, /etc/subgid and the helpers.
    pub fn detect() -> IdMode {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        if uid == 0 {
            return IdMode::Root;
        }
        let name = user_name(uid);
        let display = name.clone().unwrap_or_else(|| uid.to_string());
        let uids = find_range(Path::new("/etc/subuid"), name.as_deref(), uid);
        let gids = find_range(Path::new("/etc/subgid"), name.as_deref(), uid);
        let (Some(uids), Some(gids)) = (uids, gids) else {
            let file = if uids.is_none() {
                "/etc/subuid"
            } else {
                "/etc/subgid"
            };
            return IdMode::Single {
                reason: format!(
                    "no subordinate id range for {display} in {file}; all files are owned by you. \
                     Ask your admin for a range to keep image file owners distinct"
                ),
            };
        };
        for tool in ["newuidmap", "newgidmap"] {
            if find_in_path(tool).is_none() {
                return IdMode::Single {
                    reason: format!(
                        "{tool} is not installed (package uidmap); all files are owned by you"
                    ),
                };
            }
        }
        IdMode::SubUid {
            uid,
            gid,
            uids,
            gids,
        }
    }

    /// `subuid`, `single` or `root`, as `rless info` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            IdMode::SubUid { .. } => "subuid",
            IdMode::Single { .. } => "single",
            IdMode::Root => "root",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            IdMode::SubUid { uids, gids, .. } => format!(
                "subordinate ids {}-{} and gids {}-{} are mapped to 1-{} in containers",
                uids.start,
                uids.start as u64 + uids.count as u64 - 1,
                gids.start,
                gids.start as u64 + gids.count as u64 - 1,
                uids.count.min(gids.count)
            ),
            IdMode::Single { reason } => reason.clone(),
            IdMode::Root => "running as root: ids are used as they are".into(),
        }
    }

    /// The number of ids usable in the namespace (ids `0..limit`), or `None`
    /// when ownership is not kept at all.
    pub fn id_limit(&self) -> Option<u32> {
        match self {
            IdMode::SubUid { uids, gids, .. } => Some(uids.count.min(gids.count).saturating_add(1)),
            IdMode::Single { .. } => None,
            IdMode::Root => Some(u32::MAX),
        }
    }

    /// The host uid that owns files of namespace uid `id`, for messages and tests.
    pub fn host_uid(&self, id: u32) -> Option<u32> {
        match self {
            IdMode::SubUid { uid, uids, .. } if id == 0 => Some(*uid).filter(|_| uids.count > 0),
            IdMode::SubUid { uids, .. } => (id <= uids.count).then(|| uids.start + id - 1),
            IdMode::Single { .. } => Some(rustix::process::getuid().as_raw()),
            IdMode::Root => Some(id),
        }
    }
}

/// Whether this process is the re-executed child inside the namespace.
pub fn in_userns() -> bool {
    std::env::var_os(IN_USERNS_ENV).is_some()
}

/// Names the mount namespace `rless unshare` made for its command, for the
/// `rless mount` run inside it ([`in_mount_session`]).
const MOUNT_SESSION_ENV: &str = "_RLESS_UNSHARE_MNT";

/// `rless unshare`, in its user namespace: a mount namespace of its own for
/// the command, where `rless mount` can mount (see
/// [`crate::container::session`]). Its mounts go with the command.
pub fn enter_mount_session() -> Result<(), UsernsError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| UsernsError::Sys {
        op: "make a mount namespace",
        source: e.into(),
    })?;
    if let Some(ns) = mount_ns() {
        // Inherited by the command, and by the rless commands it runs.
        std::env::set_var(MOUNT_SESSION_ENV, ns);
        // This process execs the command: it holds the namespace while
        // the command runs.
        std::env::set_var(MOUNT_SESSION_PID_ENV, std::process::id().to_string());
    }
    Ok(())
}

/// The pid of the command `rless unshare` runs, which holds its mount
/// namespace ([`mount_session`]).
const MOUNT_SESSION_PID_ENV: &str = "_RLESS_UNSHARE_PID";

/// In the mount namespace of an `rless unshare` ([`in_mount_session`]):
/// that namespace (`mnt:[INODE]`) and the pid of the session's command,
/// which holds it.
pub fn mount_session() -> Option<(String, i32)> {
    if !in_mount_session() {
        return None;
    }
    let ns = mount_ns()?.into_string().ok()?;
    let pid = std::env::var(MOUNT_SESSION_PID_ENV).ok()?.parse().ok()?;
    Some((ns, pid))
}

/// `mnt:[INODE]`, the mount namespace of process `pid` (or `self`; `None`
/// once it is gone, or out of reach).
pub fn mount_ns_of(pid: impl std::fmt::Display) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .and_then(|p| p.into_os_string().into_string().ok())
}

/// Whether this process runs in the mount namespace an `rless unshare` made
/// (not merely with its variable inherited elsewhere).
pub fn in_mount_session() -> bool {
    std::env::var_os(MOUNT_SESSION_ENV).is_some_and(|v| mount_ns().is_some_and(|ns| ns == v))
}

/// `mnt:[INODE]`, this process's mount namespace.
fn mount_ns() -> Option<OsString> {
    namespace("mnt")
}

/// `KIND:[INODE]`, this process's namespace of that kind.
fn namespace(kind: &str) -> Option<OsString> {
    std::fs::read_link(Path::new("/proc/self/ns").join(kind))
        .ok()
        .map(|p| p.into_os_string())
}

/// Names the user namespace `rless unshare` made in single-id mode, where
/// the user is uid 0 ([`in_single_session`]).
const SINGLE_SESSION_ENV: &str = "_RLESS_UNSHARE_SINGLE";

/// `rless unshare` in single-id mode, once in its user namespace: tells
/// the rless commands its command runs that they are the user there, not
/// real root.
pub fn mark_single_session() {
    if let Some(ns) = namespace("user") {
        std::env::set_var(SINGLE_SESSION_ENV, ns);
    }
}

/// Whether this process is uid 0 of the single-id namespace of an `rless
/// unshare` (its own user namespace is the one named: the variable
/// inherited elsewhere, a container's namespace, counts for nothing).
pub fn in_single_session() -> bool {
    std::env::var_os(SINGLE_SESSION_ENV)
        .is_some_and(|v| namespace("user").is_some_and(|ns| ns == v))
}

/// The caller's own (uid, gid), as keep-id keeps them: their real ids in
/// the namespace of `rless unshare` (where they are uid 0, which that
/// namespace maps to them, alone in single-id mode, before the range in
/// subuid mode), else `getuid`/`getgid`.
pub fn own_ids() -> (u32, u32) {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    if !in_single_session() && !in_userns() {
        return (uid, gid);
    }
    let outside = |file: &str, id: u32| {
        std::fs::read_to_string(Path::new("/proc/self").join(file))
            .ok()
            .and_then(|t| outside_id(&t, id))
            .unwrap_or(id)
    };
    (outside("uid_map", uid), outside("gid_map", gid))
}

/// The id outside a user namespace that `id` inside it is, per the
/// namespace's `uid_map` or `gid_map` text (`INSIDE OUTSIDE COUNT` lines).
fn outside_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let n: Vec<u32> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        match n[..] {
            [inside, outside, count] if id >= inside && id - inside < count => {
                Some(outside + (id - inside))
            }
            _ => None,
        }
    })
}

/// The pid of the command that re-executed this one in the user namespace.
const LAUNCHER_ENV: &str = "_RLESS_LAUNCHER";

/// In the command re-executed in the user namespace: ends it (SIGTERM) when
/// the command that launched it and waits for it ends, so that killing
/// `rless pull` does not leave the pull going on unseen. Only the direct
/// child: it takes the variable out of its environment, so what it starts
/// to outlive it (a monitor, a network helper) never sees it.
pub fn die_with_launcher() {
    let Some(launcher) = std::env::var(LAUNCHER_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    // Only this process is the launcher's child: nothing it starts inherits
    // the variable. (Called first thing, while the process is
    // single-threaded.)
    std::env::remove_var(LAUNCHER_ENV);
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    // The launcher may have ended before the signal was set up.
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if parent != Some(launcher) {
        std::process::exit(143);
    }
}

/// Runs this same command line again inside a new user namespace that maps
/// the user to 0 and the subordinate range to 1..; returns the child's status.
pub fn reexec_in_userns(mode: &IdMode) -> Result<ExitStatus, UsernsError> {
    let IdMode::SubUid {
        uid,
        gid,
        uids,
        gids,
    } = mode.clone()
    else {
        unreachable!("only subuid mode re-executes");
    };
    let sys = |op| move |source| UsernsError::Sys { op, source };
    let (pid_r, pid_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| sys("create a pipe")(e.into()))?;
    let (go_r, go_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| sys("create a pipe")(e.into()))?;

    // The mapper thread: wait for the child's pid, map it, release it.
    let mapper = std::thread::spawn(move || -> Result<(), UsernsError> {
        let mut pid_r = std::fs::File::from(pid_r);
        let mut buf = [0u8; 4];
        pid_r
            .read_exact(&mut buf)
            .map_err(sys("read the child's pid"))?;
        let pid = u32::from_ne_bytes(buf).to_string();
        let umap = [
            pid.clone(),
            "0".into(),
            uid.to_string(),
            "1".into(),
            "1".into(),
            uids.start.to_string(),
            uids.count.to_string(),
        ];
        let gmap = [
            pid,
            "0".into(),
            gid.to_string(),
            "1".into(),
            "1".into(),
            gids.start.to_string(),
            gids.count.to_string(),
        ];
        // The two tools run at once: each is a setuid exec that costs about
        // a millisecond and a half, which the start of every command pays.
        let uid_tool = spawn_map_tool("newuidmap", &umap);
        let gid_tool = spawn_map_tool("newgidmap", &gmap);
        let uid_done = finish_map_tool("newuidmap", uid_tool);
        finish_map_tool("newgidmap", gid_tool)?;
        uid_done?;
        std::fs::File::from(go_w)
            .write_all(b"1")
            .map_err(sys("release the child"))
    });

    let mut cmd = Command::new("/proc/self/exe");
    let mut args = std::env::args_os();
    cmd.arg0(args.next().unwrap_or_else(|| OsString::from("rless")));
    cmd.args(args);
    cmd.env(LAUNCHER_ENV, std::process::id().to_string());
    cmd.env(
        IN_USERNS_ENV,
        format!(
            "{uid}:{gid}:{}:{}:{}:{}",
            uids.start, uids.count, gids.start, gids.count
        ),
    );
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (unshare, getpid, write, read) on fds it
    // owns; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // The child is single-threaded here, so no other thread can
            // observe the unshared state (the outer SAFETY covers this call).
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER)?;
            let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            rustix::io::write(&pid_w, &pid.to_ne_bytes())?;
            let mut b = [0u8; 1];
            if rustix::io::read(&go_r, &mut b)? != 1 {
                return Err(io::Error::other("id mapping failed"));
            }
            Ok(())
        })
    };
    let spawned = cmd.spawn();
    // Closes our copies of the child's pipe ends, so the mapper sees EOF if
    // the child died before reporting its pid.
    drop(cmd);
    let mapped = mapper.join().expect("mapper thread");
    let mut child = match (spawned, mapped) {
        (_, Err(e)) => return Err(e),
        (Err(e), Ok(())) => return Err(sys("start rless in a user namespace")(e)),
        (Ok(c), Ok(())) => c,
    };
    // Where the command takes signals over, they go on to the worker.
    crate::interrupt::set_worker(child.id() as i32);
    child
        .wait()
        .map_err(sys("wait for rless in the user namespace"))
}

fn spawn_map_tool(tool: &'static str, args: &[String]) -> io::Result<std::process::Child> {
    Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
}

fn finish_map_tool(
    tool: &'static str,
    child: io::Result<std::process::Child>,
) -> Result<(), UsernsError> {
    let sys = |source| UsernsError::Sys {
        op: "run newuidmap/newgidmap",
        source,
    };
    let out = child.and_then(|c| c.wait_with_output()).map_err(sys)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(UsernsError::MapTool {
            tool,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The login name of `uid` from /etc/passwd, falling back to `$USER`.
pub fn user_name(uid: u32) -> Option<String> {
    name_of_id(Path::new("/etc/passwd"), uid).or_else(|| std::env::var("USER").ok())
}

/// The name of `id` in a passwd or group file (its third field).
pub fn name_of_id(file: &Path, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse() == Ok(id)).then(|| name.to_string())
    })
}

/// The first range for `name` (or the numeric uid) in a subid file.
fn find_range(file: &Path, name: Option<&str>, uid: u32) -> Option<IdRange> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_ranges(&text, name, uid)
}

fn parse_ranges(text: &str, name: Option<&str>, uid: u32) -> Option<IdRange> {
    let uid_s = uid.to_string();
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        let who = f.next()?;
        if Some(who) != name && who != uid_s {
            return None;
        }
        let start = f.next()?.parse().ok()?;
        let count: u32 = f.next()?.parse().ok()?;
        (count > 0).then_some(IdRange { start, count })
    })
}

fn find_in_path(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_ids_come_from_the_map() {
        assert_eq!(
            outside_id("         0       1002          1\n", 0),
            Some(1002)
        );
        let sub = "0 1001 1\n1 200000 65536\n";
        assert_eq!(outside_id(sub, 0), Some(1001));
        assert_eq!(outside_id(sub, 5), Some(200004));
        assert_eq!(outside_id(sub, 65537), None);
    }

    #[test]
    fn single_session_is_this_user_namespace_only() {
        // The one test that touches this variable.
        std::env::remove_var(SINGLE_SESSION_ENV);
        assert!(!in_single_session());
        // Inherited into another namespace (a container's): not a session.
        std::env::set_var(SINGLE_SESSION_ENV, "user:[1]");
        assert!(!in_single_session());
        mark_single_session();
        assert!(in_single_session());
        std::env::remove_var(SINGLE_SESSION_ENV);
    }

    #[test]
    fn subid_lines() {
        let t = "# c\nbob:100000:65536\n1000:300000:10\nzed:1:0\n";
        assert_eq!(
            parse_ranges(t, Some("bob"), 5),
            Some(IdRange {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            parse_ranges(t, Some("al"), 1000),
            Some(IdRange {
                start: 300000,
                count: 10
            })
        );
        assert_eq!(parse_ranges(t, Some("zed"), 7), None);
        assert_eq!(parse_ranges(t, None, 9), None);
    }

    #[test]
    fn host_ids() {
        let m = IdMode::SubUid {
            uid: 1000,
            gid: 1000,
            uids: IdRange {
                start: 200000,
                count: 65536,
            },
            gids: IdRange {
                start: 200000,
                count: 65536,
            },
        };
        assert_eq!(m.host_uid(0), Some(1000));
        assert_eq!(m.host_uid(1), Some(200000));
        assert_eq!(m.host_uid(65536), Some(265535));
        assert_eq!(m.host_uid(65537), None);
        assert_eq!(m.id_limit(), Some(65537));
    }
}
