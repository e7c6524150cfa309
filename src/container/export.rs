//! Reaching a container's root filesystem from a command: `cp`, `export`.
//!
//! Theory of operation: the container side of a copy runs in a helper
//! process, the [`Agent`], forked by the command and talking to it over a
//! socket pair: one JSON request per line, a JSON answer per line, and tar
//! streams ([`super::cp`]) in either direction. The agent gets to the
//! container's files in one of two ways ([`Access`]):
//!
//! - `Join`, a running container: it joins the init's user and mount
//!   namespaces, as `exec` does, so it sees exactly what the container
//!   sees (volumes included) and acts with the container root's rights.
//! - `View`, a stopped container (and `export` always): the command has
//!   entered a user namespace with the container's id mapping; the agent
//!   unshares a mount namespace of its own and mounts the container's
//!   layers there, read-write (kernel overlayfs, or fuse-overlay served by
//!   a child of the agent, [`ViewServer`]) so writes land in the writable layer with
//!   copy-up and whiteouts handled by the union filesystem; or read-only
//!   with the writable layer as the top lower layer, which leaves a
//!   running container's layer untouched. `cp` also asks for the
//!   container's volumes and bind mounts ([`Access::View`]'s `mounts`):
//!   they are bound over the view at their targets, as the init binds
//!   them at a start (an empty volume first filled from the image, as
//!   docker fills it when the container is created), so a copy into or
//!   out of a stopped container reaches the volume, not the layer hidden
//!   under it. A read-only view cannot create a missing mount point:
//!   that mount is left out, as is a bind whose host path is gone. `export` asks for none (docker leaves
//!   volumes out of an export).
//!
//! The agent's mounts live in its private namespace and vanish when it
//! exits, so a killed command leaves nothing mounted. A fuse-overlay view
//! is served by a child process, never by the agent's own threads: a
//! killed process closes its files after its threads are gone, and a file
//! on a mount its own threads served would wait for an answer for ever
//! (an unkillable agent, holding the container's lock). The host side runs
//! in the command with `/` as its root. The agent writes nothing to the
//! terminal: a failure while streaming goes to the command over a status
//! pipe and is reported as one line.

use super::cp::{Kind, Owner, PackSpec, Tree};
use crate::runtime::plan::MountOp;
use crate::runtime::rootfs::{self, RootFs};
use crate::runtime::storage::{Driver, Layers};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot {op}: {source}")]
    Sys { op: &'static str, source: io::Error },
    #[error("{0}")]
    Container(String),
    #[error(transparent)]
    Cp(#[from] super::cp::CpError),
}

fn sys(op: &'static str) -> impl FnOnce(io::Error) -> AgentError {
    move |source| AgentError::Sys { op, source }
}

/// How the agent reaches the container's root.
#[derive(Debug, Clone)]
pub enum Access {
    /// Join the namespaces of this running init.
    Join(i32),
    /// Mount the layers at `mountpoint` (the caller is in the user namespace).
    View {
        rootfs: RootFs,
        mountpoint: PathBuf,
        writable: bool,
        /// The container used fuse-overlay: so must the view.
        fuse: bool,
        /// Volumes and bind mounts to put over the view (binds and
        /// volumes; other kinds are skipped), and whether an empty
        /// volume may be filled from the image.
        mounts: Vec<MountOp>,
        fill_volumes: bool,
    },
}

#[derive(Serialize, Deserialize)]
enum Request {
    Stat {
        path: String,
        follow: bool,
    },
    LinkTarget {
        path: String,
    },
    Pack(PackSpec),
    Unpack {
        dir: String,
        owner: Owner,
        #[serde(default)]
        clash: super::cp::Clash,
    },
    Sync,
}

/// A helper process inside the container; see the module comment.
pub struct Agent {
    sock: BufReader<UnixStream>,
    status: File,
    pid: nix::unistd::Pid,
}

impl Agent {
    /// Forks the agent. The caller must be single-threaded.
    pub fn spawn(access: &Access) -> Result<Agent, AgentError> {
        let (mine, theirs) = UnixStream::pair().map_err(sys("create a socket pair"))?;
        let (status_r, status_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| sys("create a pipe")(e.into()))?;
        match crate::runtime::fork_process().map_err(sys("fork"))? {
            None => {
                drop((mine, status_r));
                let code = agent_main(access, theirs, File::from(status_w));
                std::process::exit(code)
            }
            Some(pid) => Ok(Agent {
                sock: BufReader::new(mine),
                status: File::from(status_r),
                pid,
            }),
        }
    }

    fn send(&mut self, req: &Request) -> Result<(), AgentError> {
        let mut line = serde_json::to_vec(req).expect("json");
        line.push(b'\n');
        self.sock
            .get_mut()
            .write_all(&line)
            .map_err(|_| self.failure())
    }

    fn answer<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T, AgentError> {
        let mut line = String::new();
        match self.sock.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return Err(self.failure()),
        }
        let r: Result<T, String> = serde_json::from_str(&line)
            .map_err(|e| AgentError::Container(format!("bad answer from the helper: {e}")))?;
        r.map_err(AgentError::Container)
    }

    /// Why the agent went away: its last words, else its exit status.
    fn failure(&mut self) -> AgentError {
        let status = nix::sys::wait::waitpid(self.pid, None);
        let mut msg = String::new();
        let _ = self.status.read_to_string(&mut msg);
        let msg = msg.trim();
        AgentError::Container(if msg.is_empty() {
            format!("the helper process in the container failed ({status:?})")
        } else {
            msg.to_string()
        })
    }

    /// What `path` is in the container, `None` if missing.
    pub fn stat(&mut self, path: &str, follow: bool) -> Result<Option<Kind>, AgentError> {
        self.send(&Request::Stat {
            path: path.into(),
            follow,
        })?;
        self.answer()
    }

    /// Writes back what the kernel caches for the container's root
    /// filesystem (a FUSE root's writeback cache), then lets the agent go.
    /// [`Tree::link_target`] in the container.
    pub fn link_target(&mut self, path: &str) -> Result<Option<String>, AgentError> {
        self.send(&Request::LinkTarget { path: path.into() })?;
        self.answer()
    }

    pub fn sync(mut self) -> Result<(), AgentError> {
        self.send(&Request::Sync)?;
        let r = self.answer();
        let _ = self.sock.get_ref().shutdown(std::net::Shutdown::Both);
        let _ = nix::sys::wait::waitpid(self.pid, None);
        r
    }

    /// Packs `spec` in the container and hands the tar stream to `take`.
    pub fn pack<T>(
        mut self,
        spec: PackSpec,
        take: impl FnOnce(&mut dyn Read) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        self.send(&Request::Pack(spec))?;
        let r = take(&mut self.sock);
        // Drain what is left so the agent can finish, then ask how it went.
        let _ = io::copy(&mut self.sock, &mut io::sink());
        let status = nix::sys::wait::waitpid(self.pid, None);
        let mut msg = String::new();
        let _ = self.status.read_to_string(&mut msg);
        match status {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => r,
            _ if !msg.trim().is_empty() => Err(AgentError::Container(msg.trim().to_string())),
            other => r.and(Err(AgentError::Container(format!(
                "the helper process in the container failed ({other:?})"
            )))),
        }
    }

    /// Unpacks into `dir` in the container the tar stream that `feed` writes.
    pub fn unpack(
        self,
        dir: &str,
        owner: Owner,
        feed: impl FnOnce(&mut dyn Write) -> Result<(), AgentError>,
    ) -> Result<(), AgentError> {
        self.unpack_with(dir, owner, super::cp::Clash::KeepDirs, feed)
    }

    /// [`Agent::unpack`] with `clash` for entries of another kind than
    /// what is there ([`super::cp::Tree::unpack_with`]).
    pub fn unpack_with(
        mut self,
        dir: &str,
        owner: Owner,
        clash: super::cp::Clash,
        feed: impl FnOnce(&mut dyn Write) -> Result<(), AgentError>,
    ) -> Result<(), AgentError> {
        self.send(&Request::Unpack {
            dir: dir.into(),
            owner,
            clash,
        })?;
        let fed = feed(self.sock.get_mut());
        let _ = self.sock.get_ref().shutdown(std::net::Shutdown::Write);
        // The agent's verdict explains a broken pipe better than the pipe.
        let verdict: Result<(), AgentError> = self.answer();
        let _ = nix::sys::wait::waitpid(self.pid, None);
        verdict.and(fed)
    }
}

/// The agent: enters the container, then serves requests until a
/// transfer has happened or the command hangs up.
fn agent_main(access: &Access, sock: UnixStream, mut status: File) -> i32 {
    // Never outlive the command (a killed `rless cp` must leave nothing).
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut say = |m: &str| {
        let _ = status.write_all(m.as_bytes());
    };
    // Held until exit: a fuse-overlay view's server.
    let (tree, _fuse) = match enter(access) {
        Ok(t) => t,
        Err(e) => {
            say(&e.to_string());
            return 125;
        }
    };
    let mut reader = BufReader::new(match sock.try_clone() {
        Ok(s) => s,
        Err(e) => {
            say(&e.to_string());
            return 125;
        }
    });
    let mut writer = sock;
    let reply = |w: &mut UnixStream, v: &serde_json::Value| {
        let mut line = serde_json::to_vec(v).expect("json");
        line.push(b'\n');
        w.write_all(&line)
    };
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return 0,
        }
        let Ok(req) = serde_json::from_str::<Request>(&line) else {
            say("bad request");
            return 125;
        };
        match req {
            Request::Sync => {
                let r = tree.sync().map_err(|e| e.to_string());
                let _ = reply(&mut writer, &serde_json::to_value(r).expect("json"));
                return 0;
            }
            Request::Stat { path, follow } => {
                let r = tree.stat(&path, follow).map_err(|e| e.to_string());
                if reply(&mut writer, &serde_json::to_value(r).expect("json")).is_err() {
                    return 0;
                }
            }
            Request::LinkTarget { path } => {
                let r = tree.link_target(&path).map_err(|e| e.to_string());
                if reply(&mut writer, &serde_json::to_value(r).expect("json")).is_err() {
                    return 0;
                }
            }
            Request::Pack(spec) => {
                let out = io::BufWriter::with_capacity(1 << 16, &mut writer);
                return match tree.pack(&spec, out) {
                    Ok(()) => 0,
                    Err(e) => {
                        say(&e.to_string());
                        1
                    }
                };
            }
            Request::Unpack { dir, owner, clash } => {
                let r = tree.unpack_with(&dir, &mut reader, owner, clash);
                if r.is_ok() {
                    let _ = io::copy(&mut reader, &mut io::sink());
                }
                let r = r.map_err(|e| e.to_string());
                let _ = reply(&mut writer, &serde_json::to_value(r).expect("json"));
                return 0;
            }
        }
    }
}

/// Gets the agent to the container's root.
fn enter(access: &Access) -> Result<(Tree, Option<ViewServer>), AgentError> {
    match access {
        Access::Join(pid) => {
            join(*pid)?;
            Ok((Tree::open(Path::new("/"))?, None))
        }
        Access::View {
            rootfs,
            mountpoint,
            writable,
            fuse,
            mounts,
            fill_volumes,
        } => {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| sys("create a mount namespace")(e.into()))?;
            rootfs::make_private().map_err(|e| AgentError::Container(e.to_string()))?;
            let (root, handle) = match rootfs {
                RootFs::Dir(d) => (d.clone(), None),
                RootFs::Layers(l) => {
                    let handle = mount_view(l, mountpoint, *writable, *fuse)?;
                    if *writable {
                        record_view_driver(mountpoint, handle.is_some())?;
                    }
                    (mountpoint.clone(), handle)
                }
            };
            mount_user(&root, mounts, *writable, *fill_volumes)?;
            Ok((Tree::open(&root)?, handle))
        }
    }
}

/// A container that never ran has no driver recorded, and `commit` reads
/// its writable layer by the driver that wrote it: a file named `.wh.x`
/// is an ordinary file in a kernel overlayfs layer, a whiteout marker in
/// fuse-overlay's. So the first writable view (or `rless mount`) records
/// the one it used (the command holds the container's lock: no start
/// races this).
pub(super) fn record_view_driver(mountpoint: &Path, fuse: bool) -> Result<(), AgentError> {
    let Some(dir) = mountpoint.parent() else {
        return Ok(());
    };
    let mut state = super::read_state(dir);
    if state.driver.is_some() {
        return Ok(());
    }
    state.driver = Some(if fuse { "fuse-overlay" } else { "overlay" }.to_string());
    super::write_state(dir, &state).map_err(|e| AgentError::Container(e.to_string()))
}

/// Binds the container's volumes and bind mounts over the view at `root`
/// (see the module comment).
fn mount_user(
    root: &Path,
    mounts: &[MountOp],
    writable: bool,
    fill: bool,
) -> Result<(), AgentError> {
    for op in mounts {
        let (MountOp::Bind { target, source, .. } | MountOp::Volume { target, source, .. }) = op
        else {
            continue;
        };
        // A host path removed since: the copy goes on without it (a start
        // would make a `-v` one again, empty).
        if std::fs::symlink_metadata(source).is_err() {
            continue;
        }
        let fail = |e: String| {
            AgentError::Container(format!(
                "cannot mount {} of the container: {e}",
                target.display()
            ))
        };
        if !writable {
            let at = rootfs::resolve_in_root(root, target).map_err(|e| fail(e.to_string()))?;
            if std::fs::symlink_metadata(&at).is_err() {
                continue;
            }
        }
        let op = match op {
            MountOp::Volume { copy: true, .. } if !fill => {
                let mut o = op.clone();
                if let MountOp::Volume { copy, .. } = &mut o {
                    *copy = false;
                }
                o
            }
            _ => op.clone(),
        };
        rootfs::apply(root, &op).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// Joins the user and mount namespaces of `pid` (those it does not share).
fn join(pid: i32) -> Result<(), AgentError> {
    use nix::sched::CloneFlags;
    use std::os::unix::fs::MetadataExt;
    let mut joins: Vec<(OwnedFd, CloneFlags)> = Vec::new();
    for (name, flag) in [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let f = File::open(format!("/proc/{pid}/ns/{name}"))
            .map_err(|_| AgentError::Container("the container is not running".into()))?;
        let same = std::fs::metadata(format!("/proc/self/ns/{name}")).is_ok_and(|m| {
            f.metadata()
                .is_ok_and(|t| t.ino() == m.ino() && t.dev() == m.dev())
        });
        if !same {
            joins.push((OwnedFd::from(f), flag));
        }
    }
    for (fd, flag) in &joins {
        nix::sched::setns(fd, *flag)
            .map_err(|e| sys("join the container's namespaces")(e.into()))?;
    }
    // `--uidmap`: the user's ids are not mapped there (see exec).
    if crate::runtime::idmap::unmapped() {
        crate::runtime::idmap::become_root()
            .map_err(|e| sys("become the container's root")(std::io::Error::other(e)))?;
    }
    std::env::set_current_dir("/").map_err(sys("enter the container's root"))
}

/// Mounts the container's layers at `target`.
fn mount_view(
    l: &Layers,
    target: &Path,
    writable: bool,
    fuse: bool,
) -> Result<Option<ViewServer>, AgentError> {
    let fail =
        |e: String| AgentError::Container(format!("cannot mount the container's layers: {e}"));
    // In the `rless unshare` session that mounted them (`rless mount`),
    // this namespace holds a copy of that mount: the view is that mount,
    // not a second overlay of the same writable layer on top of it.
    if super::session::mounted_driver(target).is_some() {
        return Ok(None);
    }
    if !fuse && l.driver != Driver::FuseOverlay {
        let kernel = if writable {
            rootfs::mount_overlay(&l.layers_dir, &l.lower, &l.upper, &l.work, target)
                .map_err(|e| e.to_string())
        } else {
            mount_readonly(l, target)
        };
        match kernel {
            Ok(()) => return Ok(None),
            Err(e) if l.driver == Driver::Overlay => return Err(fail(e)),
            Err(_) => {}
        }
    }
    let layers = fuse_overlay::Layers {
        lower: l.lower.iter().map(|x| l.layers_dir.join(x)).collect(),
        upper: l.upper.clone(),
        work: l.work.clone(),
        options: fuse_overlay::Options {
            xattrs: true,
            ..Default::default()
        },
    };
    let conn = fuse_overlay::mount_connection(target).map_err(|e| fail(e.to_string()))?;
    ViewServer::start(conn, layers).map(Some).map_err(fail)
}

/// The process serving a fuse-overlay view: a child of the agent (see the
/// module notes), which dies with it (after the agent's files are closed:
/// the parent-death signal comes after them). Nothing to do on drop.
pub struct ViewServer {
    _pid: nix::unistd::Pid,
}

impl ViewServer {
    /// Forks the server for `conn`; returns once it serves. The agent keeps
    /// no copy of `conn`, so the connection breaks (ENOTCONN, no hang) if
    /// the server dies first. The caller must be single-threaded.
    fn start(conn: OwnedFd, layers: fuse_overlay::Layers) -> Result<ViewServer, String> {
        let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("cannot create a pipe: {e}"))?;
        let agent = rustix::process::getpid();
        match crate::runtime::fork_process().map_err(|e| format!("fork: {e}"))? {
            None => {
                drop(ready_r);
                let _ = rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ));
                if rustix::process::getppid() != Some(agent) {
                    std::process::exit(0);
                }
                let msg = match fuse_overlay::serve(conn, layers) {
                    Ok(server) => {
                        let _ = rustix::io::write(&ready_w, b"ok\n");
                        drop(ready_w);
                        server.join();
                        std::process::exit(0)
                    }
                    Err(e) => format!("{e}\n"),
                };
                let _ = rustix::io::write(&ready_w, msg.as_bytes());
                std::process::exit(1)
            }
            Some(pid) => {
                drop(conn);
                drop(ready_w);
                let mut answer = String::new();
                let _ = File::from(ready_r).read_to_string(&mut answer);
                match answer.trim_end() {
                    "ok" => Ok(ViewServer { _pid: pid }),
                    "" => Err("the fuse-overlay server ended at once".into()),
                    e => Err(e.to_string()),
                }
            }
        }
    }
}

/// Kernel overlayfs, read-only, with the writable layer on top of the lower ones.
fn mount_readonly(l: &Layers, target: &Path) -> Result<(), String> {
    use rustix::mount::{mount, MountFlags};
    if l.lower.is_empty() {
        return rustix::mount::mount_bind(&l.upper, target).map_err(|e| e.to_string());
    }
    std::env::set_current_dir(&l.layers_dir).map_err(|e| e.to_string())?;
    let data = format!(
        "lowerdir={}:{},userxattr",
        l.upper.display(),
        l.lower.join(":")
    );
    let data = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
    mount(
        "overlay",
        target,
        "overlay",
        MountFlags::RDONLY,
        data.as_c_str(),
    )
    .map_err(|e| e.to_string())
}
