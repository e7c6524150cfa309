//! fuse-overlay: a union filesystem over FUSE for hosts where kernel
//! overlayfs cannot be mounted by an unprivileged user (kernel 4.18, upper
//! layers on NFS or Lustre).
//!
//! # Theory of operation
//!
//! N read-only lower directories and one writable upper directory are merged
//! at a mount point, with the semantics and the on-disk [`layout`] of kernel
//! overlayfs, so that a container's upper layer can be mounted by either
//! driver. [`mount`] validates the directories, opens one fd per layer and
//! mounts a FUSE filesystem served by a pool of threads; the returned
//! [`MountHandle`] unmounts on drop, or on SIGINT, SIGTERM or SIGHUP with
//! [`MountHandle::wait_or_signal`] (after [`block_termination_signals`]).
//!
//! Mounting: `/dev/fuse` is opened and handed to `mount(2)` directly, which
//! needs `CAP_SYS_ADMIN` in the current user namespace (real root, or the
//! root of a namespace made with `unshare -Urm`). Only outside a user
//! namespace do we fall back to fuser's own mount through `fusermount3`.
//!
//! Module map: `tree` is the inode table (stable inode numbers, the layers
//! behind each node), `fs` answers the read-side FUSE requests and holds the
//! shared state, `listing` serves directory listings from snapshots,
//! `dirplus` decides whether a listing carries attributes,
//! `write` the requests that change the tree (`rename` the renames),
//! `links` keeps lower hard links one file across copy-up, `acl` maps
//! the ids in ACL xattr values,
//! `copyup` copies objects into
//! the upper layer and writes whiteouts, `spin` lets a server thread poll
//! during bursts of requests, `sys` holds the few raw system calls (and all
//! `unsafe`).

pub mod layout;

mod acl;
mod copyup;
mod dirplus;
mod fs;
mod links;
mod listing;
mod ops;
mod rename;
mod spin;
#[doc(hidden)]
pub mod sys;
mod tree;
mod write;
mod xattr;

pub use dirplus::ReaddirPlus;
pub use spin::Spin;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use rustix::fs::{AtFlags, Mode, OFlags};

/// Errors of [`mount`] and of unmounting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a configured path failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
}

impl Error {
    fn io(op: &'static str, path: &Path, source: impl Into<io::Error>) -> Self {
        Error::Io {
            op,
            path: path.to_owned(),
            source: source.into(),
        }
    }
}

/// One range of an id mapping: ids `inside..inside+count` as seen through
/// the mount are stored on disk as `outside..outside+count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// First id as seen through the mount.
    pub inside: u32,
    /// First id as stored in the layers.
    pub outside: u32,
    /// Number of ids.
    pub count: u32,
}

/// An id mapping. An empty map changes no id; otherwise an id outside every
/// range becomes [`IdMap::OVERFLOW`] in either direction, as in
/// fuse-overlayfs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap(pub Vec<IdRange>);

impl IdMap {
    /// What an id no range maps becomes (the kernel's default overflow id).
    pub const OVERFLOW: u32 = 65534;

    /// Parses fuse-overlayfs's `uidmapping=` syntax: `ondisk:shown:count`
    /// triples joined with `:` (fuse-overlayfs's `UID:MAPPED-UID:LEN`;
    /// containers/storage passes `ContainerID:HostID:Size`): ids
    /// `ondisk..ondisk+count` in the layers show as `shown..shown+count`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let nums: Result<Vec<u32>, _> = s.split([':', ',']).map(str::parse::<u32>).collect();
        let nums = nums.map_err(|e| Error::Config(format!("bad id mapping {s:?}: {e}")))?;
        if nums.is_empty() || nums.len() % 3 != 0 {
            return Err(Error::Config(format!(
                "bad id mapping {s:?}: want ondisk:shown:count triples"
            )));
        }
        let end = |start: u32, count: u32| u64::from(start) + u64::from(count);
        if nums
            .chunks(3)
            .any(|c| end(c[0], c[2]) > 1 << 32 || end(c[1], c[2]) > 1 << 32)
        {
            return Err(Error::Config(format!(
                "bad id mapping {s:?}: a range runs past the largest id"
            )));
        }
        Ok(IdMap(
            nums.chunks(3)
                .map(|c| IdRange {
                    inside: c[1],
                    outside: c[0],
                    count: c[2],
                })
                .collect(),
        ))
    }

    /// On-disk id to the id shown through the mount.
    pub fn to_inside(&self, id: u32) -> u32 {
        for r in &self.0 {
            if id >= r.outside && id - r.outside < r.count {
                return r.inside + (id - r.outside);
            }
        }
        if self.0.is_empty() {
            id
        } else {
            Self::OVERFLOW
        }
    }

    /// Id shown through the mount to the on-disk id.
    pub fn to_outside(&self, id: u32) -> u32 {
        for r in &self.0 {
            if id >= r.inside && id - r.inside < r.count {
                return r.outside + (id - r.inside);
            }
        }
        if self.0.is_empty() {
            id
        } else {
            Self::OVERFLOW
        }
    }
}

/// Behaviour switches of a mount.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Report every file as owned by this uid.
    pub squash_uid: Option<u32>,
    /// Report every file as owned by this gid.
    pub squash_gid: Option<u32>,
    /// Uid mapping between the mount and the layers.
    pub uid_map: IdMap,
    /// Gid mapping between the mount and the layers.
    pub gid_map: IdMap,
    /// `false` forces the marker layout (`.wh.` files) for whiteouts and
    /// opaque directories written to the upper layer; `true` writes 0:0
    /// character devices and `user.overlay.opaque` where the host allows it.
    pub xattrs: bool,
    /// Worker threads; 0 picks one per CPU (at most 4).
    pub threads: usize,
    /// Only mount with fuser's `fusermount3` path (for tests).
    pub force_fusermount: bool,
    /// When directory listings carry attributes (see `dirplus`).
    pub readdirplus: ReaddirPlus,
    /// Whether a server thread polls during bursts of requests (see `spin`).
    pub spin: Spin,
    /// Let the kernel cache writes and send them later (FUSE writeback
    /// cache). Only safe where the mount is unmounted while the server
    /// still runs, and where nobody reads the upper layer directly while
    /// the mount is in use.
    pub writeback: bool,
    /// Answer OPENDIR with a handle even where the kernel lets it go
    /// unanswered, as on kernels before 5.1 (see `listing`; for tests).
    pub opendir_handles: bool,
    /// Ask the kernel only for what 4.18 (RHEL 8) offers, so that tests on
    /// a newer kernel exercise the server as RHEL 8 drives it: OPENDIR
    /// handles, no symlink or directory cache, no `max_pages` (128 KiB
    /// requests), and set-id bits cleared by the kernel's SETATTR rather
    /// than by `HANDLE_KILLPRIV_V2` flags.
    pub kernel_4_18: bool,
    /// A process (by our pid) in the pid namespace whose pids FUSE reports
    /// for callers: the namespace of whoever mounted. `None` when that is
    /// the namespace of our /proc. rless gives its container's init, which
    /// mounts inside the container's pid namespace.
    pub callers_pid_ns: Option<u32>,
    /// Mount read-only: the kernel refuses every change (EROFS) before it
    /// reaches the server.
    pub read_only: bool,
}

/// What to mount where.
#[derive(Debug, Clone)]
pub struct Config {
    /// Read-only layers, topmost first.
    pub lower: Vec<PathBuf>,
    /// The writable layer.
    pub upper: PathBuf,
    /// Scratch directory on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// Behaviour switches.
    pub options: Options,
}

/// For a server that runs on in the background: points stdin, stdout and
/// stderr at /dev/null, so that it holds no pipe of whoever started it (a
/// shell's `$(…)` waits for every writer to close).
pub fn stdio_to_dev_null() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and the threads
/// it starts afterwards (the server threads of [`mount`] among them), for
/// [`MountHandle::wait_or_signal`]; call it in `main` before any other
/// thread starts. Without it those signals end the process with their
/// default action and leave the mount dead (ENOTCONN) until someone
/// unmounts it.
pub fn block_termination_signals() {
    sys::block_signals()
}

/// A mounted overlay. Dropping it unmounts; [`MountHandle::wait_or_signal`]
/// unmounts on a signal.
pub struct MountHandle {
    mountpoint: PathBuf,
    /// Our own `mount(2)`: we unmount it.
    own_mount: bool,
    session: Option<fuser::BackgroundSession>,
    tree: std::sync::Arc<std::sync::RwLock<tree::Tree>>,
    activity: std::sync::Arc<spin::Activity>,
}

impl std::fmt::Debug for MountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountHandle")
            .field("mountpoint", &self.mountpoint)
            .finish()
    }
}

impl MountHandle {
    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Number of inodes the server currently keeps in memory: those the
    /// kernel holds, and their parents. It shrinks when the kernel forgets.
    pub fn live_inodes(&self) -> usize {
        self.tree.read().map(|t| t.len()).unwrap_or(0)
    }

    /// Whether a server thread polls for requests right now (see [`Spin`]).
    pub fn polling(&self) -> bool {
        self.activity.polling()
    }

    /// How many bursts of requests a server thread polled through.
    pub fn polled_bursts(&self) -> u64 {
        self.activity.episodes()
    }

    /// Unmounts and waits for the server threads. If the filesystem is busy
    /// it is detached lazily and the threads are left to finish on their own.
    pub fn unmount(mut self) -> Result<(), Error> {
        self.do_unmount()
    }

    /// Serves until the filesystem is unmounted from outside (`umount`).
    pub fn wait(mut self) -> Result<(), Error> {
        if let Some(s) = self.session.take() {
            s.join()
                .map_err(|e| Error::io("serve", &self.mountpoint, e))?;
        }
        Ok(())
    }

    /// Serves until SIGINT, SIGTERM or SIGHUP arrives, then unmounts and
    /// returns the signal; or until the filesystem is unmounted from
    /// outside, then returns `None`. The signals must be blocked in every
    /// thread of the process, by [`block_termination_signals`] early in
    /// `main` (a thread that does not block them takes a signal's default
    /// action, and the process dies with the mount left dead).
    pub fn wait_or_signal(self) -> Result<Option<i32>, Error> {
        use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
        use std::sync::Arc;
        let unmount = self.unmounter();
        let done = Arc::new(AtomicBool::new(false));
        let got = Arc::new(AtomicI32::new(0));
        let waiter = {
            let (done, got) = (done.clone(), got.clone());
            std::thread::spawn(move || {
                while !done.load(Relaxed) {
                    if let Some(sig) = sys::wait_for_signal(std::time::Duration::from_millis(100)) {
                        got.store(sig, Relaxed);
                        unmount();
                        return;
                    }
                }
            })
        };
        let served = self.wait();
        done.store(true, Relaxed);
        let _ = waiter.join();
        served.map(|()| Some(got.load(Relaxed)).filter(|s| *s != 0))
    }

    /// A function that unmounts this mount from another thread.
    pub fn unmounter(&self) -> impl Fn() + Send + 'static {
        let mp = self.mountpoint.clone();
        let own = self.own_mount;
        move || {
            if own {
                let _ = sys::unmount(&mp);
            } else {
                let _ = std::process::Command::new("fusermount3")
                    .arg("-u")
                    .arg(&mp)
                    .status();
            }
        }
    }

    fn do_unmount(&mut self) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if !self.own_mount {
            return session
                .umount_and_join()
                .map_err(|e| Error::io("unmount", &self.mountpoint, e));
        }
        match sys::unmount(&self.mountpoint) {
            Ok(true) => join_quietly(session.guard),
            Ok(false) => drop(session),
            Err(e) => return Err(Error::io("unmount", &self.mountpoint, e)),
        }
        Ok(())
    }
}

fn join_quietly(guard: JoinHandle<io::Result<()>>) {
    if let Ok(Err(e)) = guard.join() {
        log::debug!("fuse session ended: {e}");
    }
}

impl Drop for MountHandle {
    fn drop(&mut self) {
        if let Err(e) = self.do_unmount() {
            log::warn!("{e}");
        }
    }
}

fn open_dir(op: &'static str, path: &Path) -> Result<OwnedFd, Error> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io(op, path, e))
}

/// Mounts an empty FUSE filesystem of this crate's type on `mountpoint`
/// with `mount(2)` and returns the `/dev/fuse` connection, to be handed to
/// [`serve`], possibly by another process (rless mounts in the container's
/// mount namespace and serves from its monitor). Needs `CAP_SYS_ADMIN` in
/// the current user namespace. Until a server runs, access to the mount
/// point blocks.
pub fn mount_connection(mountpoint: &Path) -> Result<OwnedFd, Error> {
    sys::mount_fuse(mountpoint, false).map_err(|e| Error::io("mount", mountpoint, e))
}

/// The layers served on a connection from [`mount_connection`].
#[derive(Debug, Clone)]
pub struct Layers {
    /// Read-only layers, topmost first.
    pub lower: Vec<PathBuf>,
    /// The writable layer.
    pub upper: PathBuf,
    /// Scratch directory on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Behaviour switches.
    pub options: Options,
}

/// Serving threads for a connection mounted elsewhere. Dropping it does not
/// unmount (the mount belongs to whoever made it); the threads end when the
/// mount goes away, for instance with its mount namespace.
pub struct Server {
    session: Option<fuser::BackgroundSession>,
}

impl Server {
    /// Waits for the server threads to end (after the mount is gone).
    pub fn join(mut self) {
        if let Some(s) = self.session.take() {
            join_quietly(s.guard);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Detach: the threads finish by themselves once the kernel ends the
        // connection.
        if let Some(s) = self.session.take() {
            drop(s.guard);
        }
    }
}

/// Serves `layers` on a connection made by [`mount_connection`].
pub fn serve(connection: OwnedFd, layers: Layers) -> Result<Server, Error> {
    let (fs, fcfg) = prepare(&layers.lower, &layers.upper, &layers.work, &layers.options)?;
    start_spin(&fs, &connection, layers.options.spin)
        .map_err(|e| Error::io("start threads for", &layers.upper, e))?;
    let notifier = fs.notifier.clone();
    let session = fuser::Session::from_fd(fs, connection, fcfg.acl, fcfg)
        .map_err(|e| Error::io("start fuse session on", &layers.upper, e))?;
    let _ = notifier.set(session.notifier());
    let session = session
        .spawn()
        .map_err(|e| Error::io("start threads for", &layers.upper, e))?;
    Ok(Server {
        session: Some(session),
    })
}

/// Starts the thread that lets a server thread poll `connection` during
/// bursts (see `spin`); it works on a duplicate of the fd fuser will read.
fn start_spin(fs: &fs::Overlay, connection: &OwnedFd, mode: Spin) -> io::Result<()> {
    fs.spin.start(mode, connection.try_clone()?)
}

/// Opens and checks the layers; the filesystem and the session settings.
fn prepare(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    options: &Options,
) -> Result<(fs::Overlay, fuser::Config), Error> {
    if lower.is_empty() {
        return Err(Error::Config("no lower directory given".into()));
    }
    let mut layers = Vec::with_capacity(lower.len() + 1);
    layers.push(open_dir("open upper directory", upper)?);
    for l in lower {
        layers.push(open_dir("open lower directory", l)?);
    }
    let work_fd = open_dir("open work directory", work)?;
    check_work(&work_fd, &layers[0], work, upper)?;
    // Objects are made in the work directory before they move into place:
    // an ACL of its own (inherited from its parent, say) would go with
    // every copy-up, as kernel overlayfs says when it strips them.
    for acl in [acl::ACCESS, acl::DEFAULT] {
        let _ = rustix::fs::fremovexattr(&work_fd, acl);
    }
    let fs = fs::Overlay::new(layers, work_fd, options.clone())
        .map_err(|e| Error::io("read layers of", upper, e))?;
    let threads = match options.threads {
        0 => std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(2),
        n => n,
    };
    let mut fcfg = fuser::Config::default();
    fcfg.n_threads = Some(threads);
    fcfg.clone_fd = threads > 1;
    fcfg.acl = fuser::SessionACL::All;
    Ok((fs, fcfg))
}

/// Checks the configuration, mounts the overlay and starts serving it.
pub fn mount(config: Config) -> Result<MountHandle, Error> {
    let (fs, mut fcfg) = prepare(&config.lower, &config.upper, &config.work, &config.options)?;
    let tree = fs.tree.clone();
    let activity = fs.spin.activity.clone();
    let notifier = fs.notifier.clone();
    let mp = &config.mountpoint;
    let mp_stat = rustix::fs::stat(mp).map_err(|e| Error::io("stat mount point", mp, e))?;
    if mp_stat.st_mode & 0o170000 != 0o040000 {
        return Err(Error::io(
            "mount on",
            mp,
            io::Error::from_raw_os_error(libc::ENOTDIR),
        ));
    }

    let own = if config.options.force_fusermount {
        Err(io::Error::from_raw_os_error(libc::EPERM))
    } else {
        sys::mount_fuse(mp, config.options.read_only)
    };
    let (session, own_mount) = match own {
        Ok(fd) => {
            if let Err(e) = start_spin(&fs, &fd, config.options.spin) {
                let _ = sys::unmount(mp);
                return Err(Error::io("start threads for", mp, e));
            }
            let session = match fuser::Session::from_fd(fs, fd, fcfg.acl, fcfg) {
                Ok(s) => s,
                Err(e) => {
                    let _ = sys::unmount(mp);
                    return Err(Error::io("start fuse session on", mp, e));
                }
            };
            (session, true)
        }
        Err(e) if config.options.force_fusermount || !sys::in_user_namespace() => {
            log::debug!(
                "mount(2) of {} failed ({e}), trying fusermount3",
                mp.display()
            );
            fcfg.mount_options = vec![
                fuser::MountOption::FSName("rless-overlay".into()),
                fuser::MountOption::Subtype("rless-overlay".into()),
                fuser::MountOption::DefaultPermissions,
            ];
            if config.options.read_only {
                fcfg.mount_options.push(fuser::MountOption::RO);
            }
            if !rustix::process::geteuid().is_root() {
                fcfg.acl = fuser::SessionACL::Owner;
            }
            let s = fuser::Session::new(fs, mp, &fcfg).map_err(|e2| {
                Error::io(
                    "mount",
                    mp,
                    io::Error::new(e2.kind(), format!("{e2} (mount(2) said: {e})")),
                )
            })?;
            (s, false)
        }
        Err(e) => return Err(Error::io("mount", mp, e)),
    };
    let _ = notifier.set(session.notifier());
    let session = match session.spawn() {
        Ok(s) => s,
        Err(e) => {
            if own_mount {
                let _ = sys::unmount(mp);
            }
            return Err(Error::io("start threads for", mp, e));
        }
    };
    Ok(MountHandle {
        mountpoint: mp.clone(),
        own_mount,
        session: Some(session),
        tree,
        activity,
    })
}

/// The work directory must be writable and on the upper's filesystem (copy-up
/// renames from it into the upper layer).
fn check_work(
    work: &OwnedFd,
    upper: &OwnedFd,
    work_path: &Path,
    upper_path: &Path,
) -> Result<(), Error> {
    let ws = rustix::fs::fstat(work).map_err(|e| Error::io("stat", work_path, e))?;
    let us = rustix::fs::fstat(upper).map_err(|e| Error::io("stat", upper_path, e))?;
    if ws.st_dev != us.st_dev {
        return Err(Error::Config(format!(
            "work directory {} is not on the same filesystem as upper directory {}",
            work_path.display(),
            upper_path.display()
        )));
    }
    let probe = format!("rless-probe-{}", std::process::id());
    rustix::fs::mkdirat(work, probe.as_str(), Mode::RWXU)
        .map_err(|e| Error::io("write to work directory", work_path, e))?;
    let _ = rustix::fs::unlinkat(work, probe.as_str(), AtFlags::REMOVEDIR);
    rustix::fs::accessat(upper, ".", rustix::fs::Access::WRITE_OK, AtFlags::EACCESS)
        .map_err(|e| Error::io("write to upper directory", upper_path, e))?;
    Ok(())
}
