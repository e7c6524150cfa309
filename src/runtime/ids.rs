//! Stage 1 and 2 of container setup: enter a new user namespace and map ids.
//!
//! Single-id mode maps the user alone and needs no helper: the process
//! unshares and writes its own maps. Subuid mode needs the setuid
//! newuidmap/newgidmap, which must act on the namespace from outside it, so
//! the process forks: the child unshares and waits; the parent maps it
//! (both tools at once), releases it, and then only waits for it, passing
//! on SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 and exiting with its status.
//! Terminal signals (SIGINT, SIGQUIT, SIGWINCH) reach the child directly.
//! Either way the caller continues inside the namespace with every
//! capability there.

use crate::userns::IdMode;
use nix::sys::wait::waitpid;
use std::io::{self, Read, Write};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    #[error("cannot create a user namespace: {0} (are unprivileged user namespaces disabled? check /proc/sys/user/max_user_namespaces)")]
    Unshare(io::Error),
    #[error("cannot write {path}: {source}")]
    WriteMap {
        path: &'static str,
        source: io::Error,
    },
    #[error("{tool} failed: {detail}")]
    MapTool { tool: &'static str, detail: String },
    #[error("cannot {op}: {source}")]
    Sys { op: &'static str, source: io::Error },
}

/// The uid and gid maps for newuidmap/newgidmap (triples inside, outside, count).
pub fn map_args(host: u32, start: u32, count: u32, keep_id: bool) -> Vec<[u32; 3]> {
    map_args_as(host, start, count, keep_id.then_some(host))
}

/// [`map_args`] with keep-id making the user `inside` (podman's
/// `keep-id:uid=N`; `None`: no keep-id). Ids below it map to the range, the
/// user to `inside`, the rest of the range above it.
pub fn map_args_as(host: u32, start: u32, count: u32, inside: Option<u32>) -> Vec<[u32; 3]> {
    match inside {
        Some(t) if t > 0 && t <= count => {
            vec![[0, start, t], [t, host, 1], [t + 1, start + t, count - t]]
        }
        _ => vec![[0, host, 1], [1, start, count]],
    }
}

/// Under keep-id, how fuse-overlay shows the layers' owners: (on-disk id
/// as the keep-id namespace sees it, shown id, count) triples, or `None`
/// where keep-id maps as the default does. The layers are stored in the
/// default layout (container id 0 is the user, N > 0 is `start + N - 1`);
/// the keep-id namespace sees those as the user's own id, and as N - 1 for
/// N up to the user's id: shown back as 0 and N, every container id sees
/// its files as it would without keep-id.
pub fn keep_id_view(host: u32, count: u32) -> Option<Vec<[u32; 3]>> {
    (host > 0 && host <= count).then(|| {
        vec![
            [host, 0, 1],
            [0, 1, host],
            [host + 1, host + 1, count - host],
        ]
    })
}

/// Enters a new user namespace with ids mapped per `mode`. With `detached`,
/// the helper parent of subuid mode exits as soon as the ids are mapped
/// (a detached container's monitor outlives the command that started it);
/// otherwise it waits and mirrors the child's exit.
pub fn enter(mode: &IdMode, keep_id: bool, detached: bool) -> Result<(), IdsError> {
    enter_as(mode, keep_id, None, detached)
}

/// [`enter`], with keep-id making the user `inside` (uid, gid) rather than
/// their own ids (podman's `keep-id:uid=N,gid=N`).
pub fn enter_as(
    mode: &IdMode,
    keep_id: bool,
    inside: Option<(u32, u32)>,
    detached: bool,
) -> Result<(), IdsError> {
    match mode {
        IdMode::Root => Ok(()),
        // keep-id: the user's own ids, their real ones in the single-id
        // namespace of `rless unshare` (where they are uid 0).
        IdMode::Single { .. } => {
            enter_single(keep_id.then(|| inside.unwrap_or_else(crate::userns::own_ids)))
        }
        // Already in rless's namespace (inside `rless unshare`): it maps
        // what a new one would, and newuidmap may not map from inside.
        IdMode::SubUid { .. } if !keep_id && crate::userns::in_userns() => Ok(()),
        // keep-id there: a namespace nested in it, whose maps its root
        // (every capability, every id of the range) writes itself, in
        // the session's ids: the user is 0 there, the range 1..=count.
        IdMode::SubUid {
            uid,
            gid,
            uids,
            gids,
        } if crate::userns::in_userns() => {
            let (iu, ig) = inside.unwrap_or((*uid, *gid));
            let umap = map_args_as(0, 1, uids.count, Some(iu));
            let gmap = map_args_as(0, 1, gids.count, Some(ig));
            enter_mapped(&umap, &gmap, detached)
        }
        IdMode::SubUid {
            uid,
            gid,
            uids,
            gids,
        } => {
            let (iu, ig) = inside.unwrap_or((*uid, *gid));
            let umap = map_args_as(*uid, uids.start, uids.count, keep_id.then_some(iu));
            let gmap = map_args_as(*gid, gids.start, gids.count, keep_id.then_some(ig));
            enter_mapped(&umap, &gmap, detached)
        }
    }
}

fn unshare_user() -> Result<(), IdsError> {
    // SAFETY: only CLONE_NEWUSER is unshared, which changes no state that
    // other threads could observe; the caller is single-threaded anyway.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWUSER) }
        .map_err(|e| IdsError::Unshare(e.into()))
}

/// `inside`: keep-id's (uid, gid) for the user; `None`: root.
fn enter_single(inside: Option<(u32, u32)>) -> Result<(), IdsError> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    unshare_user()?;
    let write = |path: &'static str, text: String| {
        std::fs::write(path, text).map_err(|source| IdsError::WriteMap { path, source })
    };
    write("/proc/self/setgroups", "deny".into())?;
    let (inside_u, inside_g) = inside.unwrap_or((0, 0));
    write("/proc/self/uid_map", format!("{inside_u} {uid} 1"))?;
    write("/proc/self/gid_map", format!("{inside_g} {gid} 1"))
}

fn enter_mapped(umap: &[[u32; 3]], gmap: &[[u32; 3]], detached: bool) -> Result<(), IdsError> {
    let sys = |op| move |source| IdsError::Sys { op, source };
    let (ready_r, ready_w) = std::io::pipe().map_err(sys("create a pipe"))?;
    let (go_r, go_w) = std::io::pipe().map_err(sys("create a pipe"))?;
    match super::sys::fork().map_err(sys("fork"))? {
        None => {
            drop((ready_r, go_w));
            if !detached {
                // The monitor dies with the waiting parent (and the container
                // with the monitor), so killing `rless run` ends it all.
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                // The parent passes on the signals a process sends; the
                // copy of a group's signal that comes here straight is
                // dropped (see sigproxy).
                super::sigproxy::relayed_by_parent();
            }
            if unshare_and_wait(ready_w, go_r)? {
                Ok(())
            } else {
                // The parent reports what went wrong; just leave.
                super::sys::exit_child(125)
            }
        }
        Some(child) => {
            drop((ready_w, go_r));
            if let Err(e) = map_child(child.as_raw(), ready_r, go_w, umap, gmap) {
                let _ = waitpid(child, None);
                return Err(e);
            }
            if detached {
                std::process::exit(0)
            }
            std::process::exit(wait_and_forward(child))
        }
    }
}

/// The forked child's half of [`map_child`]: unshares a user namespace,
/// says whether it could (`ready`), and waits for the parent's word
/// (`go`): `Ok(true)` once its ids are mapped, `Ok(false)` if they are not.
pub(super) fn unshare_and_wait(
    mut ready: io::PipeWriter,
    mut go: io::PipeReader,
) -> Result<bool, IdsError> {
    let unshared = unshare_user();
    let _ = ready.write_all(if unshared.is_ok() { b"1" } else { b"0" });
    drop(ready);
    unshared?;
    let mut b = [0u8; 1];
    Ok(matches!(go.read(&mut b), Ok(1) if b[0] == b'1'))
}

/// The parent's half: waits for child `pid` to unshare its user namespace
/// (`ready`), maps its ids, and tells it whether that worked (`go`).
pub(super) fn map_child(
    pid: i32,
    mut ready: io::PipeReader,
    mut go: io::PipeWriter,
    umap: &[[u32; 3]],
    gmap: &[[u32; 3]],
) -> Result<(), IdsError> {
    let mut b = [0u8; 1];
    let unshared = matches!(ready.read(&mut b), Ok(1) if b[0] == b'1');
    let mapped = if unshared {
        map_ids(pid, umap, gmap)
    } else {
        Err(IdsError::Unshare(io::Error::other(
            "the child could not unshare",
        )))
    };
    let _ = go.write_all(if mapped.is_ok() { b"1" } else { b"0" });
    mapped
}

/// Maps the ids of `pid`'s new user namespace: newuidmap and newgidmap at
/// once; inside rless's namespace (`rless unshare`), whose root may map
/// any of its ids and where those tools cannot, by writing the maps.
fn map_ids(pid: i32, umap: &[[u32; 3]], gmap: &[[u32; 3]]) -> Result<(), IdsError> {
    if crate::userns::in_userns() {
        return write_maps(pid, umap, gmap);
    }
    let spawn = |tool: &'static str, map: &[[u32; 3]]| {
        let mut cmd = Command::new(tool);
        cmd.arg(pid.to_string());
        for t in map {
            cmd.args(t.iter().map(u32::to_string));
        }
        cmd.stderr(std::process::Stdio::piped());
        cmd.spawn().map_err(|e| IdsError::MapTool {
            tool,
            detail: e.to_string(),
        })
    };
    let u = spawn("newuidmap", umap)?;
    let g = spawn("newgidmap", gmap)?;
    for (tool, child) in [("newuidmap", u), ("newgidmap", g)] {
        let out = child.wait_with_output().map_err(|e| IdsError::MapTool {
            tool,
            detail: e.to_string(),
        })?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Err(IdsError::MapTool {
                tool,
                detail: format!("{} ({detail})", out.status),
            });
        }
    }
    Ok(())
}

/// Writes `pid`'s `uid_map` and `gid_map` (triples inside, outside, count).
fn write_maps(pid: i32, umap: &[[u32; 3]], gmap: &[[u32; 3]]) -> Result<(), IdsError> {
    for (path, file, map) in [
        ("uid_map", format!("/proc/{pid}/uid_map"), umap),
        ("gid_map", format!("/proc/{pid}/gid_map"), gmap),
    ] {
        let text: String = map
            .iter()
            .map(|[i, o, c]| format!("{i} {o} {c}\n"))
            .collect();
        std::fs::write(&file, text).map_err(|source| IdsError::WriteMap { path, source })?;
    }
    Ok(())
}

/// The parent's life after mapping: wait, pass signals on, mirror the exit.
fn wait_and_forward(child: nix::unistd::Pid) -> i32 {
    let set = super::sigproxy::forwarded();
    let _ = set.thread_block();
    let sfd = nix::sys::signalfd::SignalFd::new(&set).ok();
    loop {
        match super::reap(child, false) {
            Ok(Some(code)) => return code,
            Ok(None) => {}
            Err(_) => return 125,
        }
        let got = match sfd.as_ref() {
            Some(s) => match s.read_signal() {
                Ok(Some(info)) => super::sigproxy::Got::from(&info),
                _ => continue,
            },
            // No signalfd: sigwaitinfo tells the same.
            None => match super::sys::wait_signal_info(&set) {
                Ok(got) => got,
                Err(_) => continue,
            },
        };
        // SI_KERNEL marks a signal the terminal driver sent to the whole
        // foreground group, the child included; pass on only what a process
        // sent (to us alone, or to the group: the child then drops its own
        // copy, see sigproxy).
        if got.code != nix::libc::SI_KERNEL {
            super::sigproxy::take(child, got);
        }
    }
}

#[cfg(test)]
mod tests {

    /// Each container id sees its files under keep-id as without it: the
    /// kernel's keep-id map, then fuse-overlay's view, undo the default
    /// layout the layers are stored in.
    #[test]
    fn keep_id_view_shows_default_owners() {
        let (host, start, count) = (1002, 200_000, 65_536);
        let kernel = map_args(host, start, count, true);
        let view = keep_id_view(host, count).unwrap();
        let through = |table: &[[u32; 3]], id: u32, from: usize, to: usize| {
            table
                .iter()
                .find(|r| id >= r[from] && id - r[from] < r[2])
                .map(|r| r[to] + (id - r[from]))
        };
        for n in [0, 1, 2, 999, 1000, 1001, 1002, 1003, 5000, 65_535, 65_536] {
            let stored = if n == 0 { host } else { start + n - 1 };
            let seen = through(&kernel, stored, 1, 0).expect("mapped");
            assert_eq!(through(&view, seen, 0, 1), Some(n), "container id {n}");
        }
        assert_eq!(keep_id_view(0, count), None);
    }
    use super::*;

    #[test]
    fn maps() {
        assert_eq!(
            map_args(1000, 100000, 65536, false),
            vec![[0, 1000, 1], [1, 100000, 65536]]
        );
        assert_eq!(
            map_args(1000, 100000, 65536, true),
            vec![[0, 100000, 1000], [1000, 1000, 1], [1001, 101000, 64536]]
        );
        // keep-id:uid=5: the user is 5 inside.
        assert_eq!(
            map_args_as(1000, 100000, 65536, Some(5)),
            vec![[0, 100000, 5], [5, 1000, 1], [6, 100005, 65531]]
        );
        assert_eq!(
            map_args_as(1000, 100000, 65536, Some(0)),
            map_args(1000, 100000, 65536, false)
        );
    }
}
