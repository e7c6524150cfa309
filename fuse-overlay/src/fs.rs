//! The filesystem state and the read side of the FUSE protocol (its
//! extended attributes are in `xattr`).
//!
//! # Theory of operation
//!
//! [`Overlay`] holds one directory fd per layer (index 0 is the upper layer,
//! then the lower layers topmost first), the work directory, the inode
//! [`Tree`] and the tables of open files and directories. Every disk access
//! is a `*at` call on a layer fd with the node's relative path, so nothing
//! outside the layers is reachable, and no per-directory fds are kept.
//!
//! Lookup of `name` in a directory merged from layers `L` walks `L` top
//! down: a 0:0 character device or a `.wh.name` marker ends the walk (the
//! name is deleted); a non-directory is the answer; a directory is merged
//! with the directories of the same name further down until an opaque one
//! (`user.overlay.opaque`/`trusted.overlay.opaque` = `y`, or a
//! `.wh..wh..opq` marker inside) or a non-directory.
//!
//! A listing reads a snapshot (see `listing`) of the merged directory:
//! each layer's entries, top down, skipping names already seen or whited
//! out by a layer above, and hiding `.wh.*` markers. Inode numbers of the
//! entries come from the same key table as lookup, so `d_ino` matches
//! `st_ino`.
//!
//! Locking: `ns` is a read/write lock over the namespace. Lookup, getattr
//! and readdir take it shared; every request that changes the tree or
//! copies up takes it exclusively (see `write`). `tree` is only ever held
//! for short, non-blocking sections, always after `ns`. Reads and writes on
//! open files take neither: they use the fd in the handle table.
//!
//! Caching: objects that live in a lower layer cannot change behind our
//! back, so their entries and attributes get a long TTL and their files are
//! opened with `FOPEN_KEEP_CACHE`; upper objects get a short TTL. All
//! changes go through this mount, so the kernel invalidates what it cached.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileHandle, FileType, Generation, INodeNo, KernelConfig, ReplyAttr, ReplyData,
    ReplyEntry, ReplyStatfs,
};
use rustix::fs::{AtFlags, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::dirplus::Policy;
use crate::layout;
use crate::listing::Listings;
use crate::spin::Requests;
use crate::tree::{join, Tree, ROOT, UPPER};
use crate::Options;

pub(crate) type R<T> = Result<T, Errno>;

/// TTL of entries and attributes that live in a lower layer.
const LOWER_TTL: Duration = Duration::from_secs(24 * 3600);
/// TTL of entries and attributes in the upper layer, and of names that
/// are not there.
const UPPER_TTL: Duration = Duration::from_secs(1);
/// The entry of a name that does not exist: node 0.
const NEGATIVE: FileAttr = FileAttr {
    ino: INodeNo(0),
    size: 0,
    blocks: 0,
    atime: UNIX_EPOCH,
    mtime: UNIX_EPOCH,
    ctime: UNIX_EPOCH,
    crtime: UNIX_EPOCH,
    kind: FileType::RegularFile,
    perm: 0,
    nlink: 0,
    uid: 0,
    gid: 0,
    rdev: 0,
    blksize: 0,
    flags: 0,
};
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

pub(crate) fn fuse_err(e: Errno) -> fuser::Errno {
    fuser::Errno::from_i32(e.raw_os_error())
}

/// One layer directory.
pub(crate) struct Layer {
    pub fd: OwnedFd,
    pub dev: u64,
    /// `/proc/self/fd/N`, for the `l*xattr` calls that have no `*at` form.
    pub proc: String,
}

/// An entry of a directory snapshot.
#[derive(Debug, Clone)]
pub(crate) struct DirEnt {
    pub name: OsString,
    pub kind: FileType,
    pub ino: u64,
}

/// Result of a lookup in the layers.
pub(crate) struct Found {
    pub st: Stat,
    pub layers: Vec<u16>,
}

impl Found {
    pub fn is_dir(&self) -> bool {
        is_dir(&self.st)
    }
}

/// An open file: the layer file's fd, and for a file opened (read-only) in
/// a lower layer, its node, so that a copy-up can move the handle to the
/// copy (see `copyup`).
pub(crate) struct OpenFile {
    pub fd: Arc<OwnedFd>,
    pub lower_of: Option<u64>,
}

/// The union filesystem served over FUSE.
pub(crate) struct Overlay {
    pub layers: Vec<Layer>,
    pub work: OwnedFd,
    pub opts: Options,
    /// Shared with the mount handle, which reports its size.
    pub tree: Arc<RwLock<Tree>>,
    pub ns: RwLock<()>,
    pub files: RwLock<HashMap<u64, OpenFile>>,
    /// Open directories and the snapshots listings read.
    pub(crate) listings: Mutex<Listings>,
    /// Hard-link indexes of lower layers, by layer (see `links`).
    pub(crate) link_indexes: Mutex<HashMap<u16, Arc<crate::links::LinkIndex>>>,
    /// The kernel lets OPENDIR go unanswered (see `listing`).
    pub(crate) no_opendir: bool,
    next_fh: AtomicU64,
    /// Whether 0:0 character devices can be made in the upper layer.
    pub mknod_ok: AtomicBool,
    /// Whether `user.` xattrs can be set in the upper layer.
    pub xattr_ok: AtomicBool,
    pub tmp_seq: AtomicU64,
    /// Whether listings carry attributes.
    pub(crate) plus: Policy,
    /// Request activity, for polling during bursts.
    pub spin: Requests,
    /// The session's notifier, once it exists (see `attributes_changed`).
    pub(crate) notifier: Arc<std::sync::OnceLock<fuser::Notifier>>,
}

/// The /proc path of an orphan's descriptor, which reaches the object
/// when followed.
pub(crate) fn proc_fd(o: &crate::tree::Orphan) -> PathBuf {
    format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&*o.fd)).into()
}

pub(crate) fn is_dir(st: &Stat) -> bool {
    st.st_mode & S_IFMT == S_IFDIR
}

pub(crate) fn is_whiteout(st: &Stat) -> bool {
    st.st_mode & S_IFMT == 0o020000 && st.st_rdev == 0
}

pub(crate) fn kind_of(mode: u32) -> FileType {
    match mode & S_IFMT {
        S_IFDIR => FileType::Directory,
        0o120000 => FileType::Symlink,
        0o020000 => FileType::CharDevice,
        0o060000 => FileType::BlockDevice,
        0o010000 => FileType::NamedPipe,
        0o140000 => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn time(sec: i64, nsec: u64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec)
    }
}

pub(crate) fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

pub(crate) fn ttl(layers: &[u16]) -> Duration {
    if layers[0] == UPPER {
        UPPER_TTL
    } else {
        LOWER_TTL
    }
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Overlay {
    pub fn new(fds: Vec<OwnedFd>, work: OwnedFd, opts: Options) -> std::io::Result<Self> {
        let mut layers = Vec::with_capacity(fds.len());
        for fd in fds {
            let st = rustix::fs::fstat(&fd)?;
            let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
            layers.push(Layer {
                fd,
                dev: st.st_dev,
                proc,
            });
        }
        let xattrs = opts.xattrs;
        let plus = Policy::new(opts.readdirplus);
        let mut ov = Overlay {
            layers,
            work,
            opts,
            tree: Arc::new(RwLock::new(Tree::new(vec![UPPER], (0, 0)))),
            ns: RwLock::new(()),
            files: RwLock::new(HashMap::new()),
            listings: Mutex::new(Listings::default()),
            link_indexes: Mutex::new(HashMap::new()),
            no_opendir: false,
            next_fh: AtomicU64::new(1),
            mknod_ok: AtomicBool::new(xattrs),
            xattr_ok: AtomicBool::new(xattrs),
            tmp_seq: AtomicU64::new(0),
            plus,
            spin: Requests::new(),
            notifier: Arc::new(std::sync::OnceLock::new()),
        };
        // The root merges every layer down to the first opaque one.
        let mut root_layers = Vec::new();
        for l in 0..ov.layers.len() as u16 {
            root_layers.push(l);
            if ov.is_opaque(l, b".")? {
                break;
            }
        }
        let st = rustix::fs::fstat(&ov.layers[0].fd)?;
        ov.tree = Arc::new(RwLock::new(Tree::new(root_layers, (st.st_dev, st.st_ino))));
        Ok(ov)
    }

    pub fn statat(&self, layer: u16, path: &[u8]) -> R<Stat> {
        rustix::fs::statat(
            &self.layers[layer as usize].fd,
            os(path),
            AtFlags::SYMLINK_NOFOLLOW,
        )
    }

    pub fn proc_path(&self, layer: u16, path: &[u8]) -> PathBuf {
        let mut p = self.layers[layer as usize].proc.clone().into_bytes();
        p.push(b'/');
        p.extend_from_slice(path);
        PathBuf::from(OsString::from_vec(p))
    }

    /// Whether the directory at `path` of `layer` is opaque.
    pub fn is_opaque(&self, layer: u16, path: &[u8]) -> R<bool> {
        let pp = self.proc_path(layer, path);
        let mut v = [0u8; 4];
        for name in [layout::OPAQUE_XATTR, layout::OPAQUE_XATTR_TRUSTED] {
            if let Ok(n) = rustix::fs::lgetxattr(&pp, name, &mut v[..]) {
                if v[..n] == *layout::OPAQUE_VALUE {
                    return Ok(true);
                }
            }
        }
        let marker = join(path, layout::OPAQUE_MARKER.as_bytes());
        match self.statat(layer, &marker) {
            Ok(_) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether `parent/.wh.name` exists in `layer`.
    pub fn has_marker(&self, layer: u16, parent: &[u8], name: &[u8]) -> bool {
        let mut m = Vec::with_capacity(name.len() + 4);
        m.extend_from_slice(layout::WHITEOUT_PREFIX.as_bytes());
        m.extend_from_slice(name);
        self.statat(layer, &join(parent, &m)).is_ok()
    }

    /// Looks `name` up in the directory at `parent` merged from `layers`.
    pub fn resolve(&self, layers: &[u16], parent: &[u8], name: &[u8]) -> R<Option<Found>> {
        // Markers are not names (an escaped name is, see `layout`).
        if name.starts_with(layout::WHITEOUT_PREFIX.as_bytes()) && layout::unescape(name).is_none()
        {
            return Ok(None);
        }
        let path = join(parent, name);
        let mut found: Option<Found> = None;
        for &l in layers {
            match self.statat(l, &path) {
                Ok(st) => {
                    if is_whiteout(&st) {
                        break;
                    }
                    match &mut found {
                        None if !is_dir(&st) => {
                            return Ok(Some(Found {
                                st,
                                layers: vec![l],
                            }))
                        }
                        None => {
                            found = Some(Found {
                                st,
                                layers: vec![l],
                            })
                        }
                        Some(_) if !is_dir(&st) => break,
                        Some(f) => f.layers.push(l),
                    }
                    if self.is_opaque(l, &path)? {
                        break;
                    }
                }
                Err(Errno::NOENT) | Err(Errno::NOTDIR) => {
                    if self.has_marker(l, parent, name) {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Entries of the directory at `path` merged from `layers`, without `.`
    /// and `..`. Inode numbers are filled in only if `with_ino`.
    pub fn list_dir(&self, layers: &[u16], path: &[u8], with_ino: bool) -> R<Vec<DirEnt>> {
        let mut seen: HashSet<OsString> = HashSet::new();
        let mut out = Vec::new();
        let mut keys = Vec::new();
        for &l in layers {
            let fd = rustix::fs::openat(
                &self.layers[l as usize].fd,
                os(path),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut dir = rustix::fs::Dir::new(fd)?;
            let mut hidden = Vec::new();
            while let Some(ent) = dir.read() {
                let ent = ent?;
                let name = ent.file_name().to_bytes();
                if name == b"." || name == b".." || name == layout::OPAQUE_MARKER.as_bytes() {
                    continue;
                }
                let escaped = layout::unescape(name).is_some();
                if let Some(target) = layout::whiteout_target(name).filter(|_| !escaped) {
                    hidden.push(os(target).to_owned());
                    continue;
                }
                if name.starts_with(layout::WHITEOUT_PREFIX.as_bytes()) && !escaped {
                    continue;
                }
                if seen.contains(os(name)) {
                    continue;
                }
                let mut ft = ent.file_type();
                if ft == rustix::fs::FileType::CharacterDevice
                    || ft == rustix::fs::FileType::Unknown
                {
                    let st = self.statat(l, &join(path, name))?;
                    if is_whiteout(&st) {
                        hidden.push(os(name).to_owned());
                        continue;
                    }
                    ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
                }
                seen.insert(os(name).to_owned());
                if with_ino {
                    keys.push((self.layers[l as usize].dev, ent.ino()));
                }
                out.push(DirEnt {
                    name: os(name).to_owned(),
                    kind: kind_of(ft.as_raw_mode()),
                    ino: 0,
                });
            }
            seen.extend(hidden);
        }
        if with_ino {
            let mut t = self.tree.write().unwrap();
            for (e, k) in out.iter_mut().zip(keys) {
                e.ino = t.ino_for(k);
            }
        }
        Ok(out)
    }

    /// FUSE attributes of `st`, shown as inode `ino`.
    #[allow(clippy::unnecessary_cast)] // field types differ between architectures
    pub fn attr(&self, ino: u64, st: &Stat) -> FileAttr {
        let uid = self
            .opts
            .squash_uid
            .unwrap_or_else(|| self.opts.uid_map.to_inside(st.st_uid));
        let gid = self
            .opts
            .squash_gid
            .unwrap_or_else(|| self.opts.gid_map.to_inside(st.st_gid));
        FileAttr {
            ino: INodeNo(ino),
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            atime: time(st.st_atime as i64, st.st_atime_nsec as u64),
            mtime: time(st.st_mtime as i64, st.st_mtime_nsec as u64),
            ctime: time(st.st_ctime as i64, st.st_ctime_nsec as u64),
            crtime: UNIX_EPOCH,
            kind: kind_of(st.st_mode),
            perm: (st.st_mode & 0o7777) as u16,
            nlink: st.st_nlink as u32,
            uid,
            gid,
            rdev: st.st_rdev as u32,
            blksize: st.st_blksize as u32,
            flags: 0,
        }
    }

    /// Layers and path of `ino`.
    pub fn locate(&self, ino: u64) -> R<(Vec<u16>, Vec<u8>)> {
        let t = self.tree.read().unwrap();
        let n = t.get(ino).ok_or(Errno::STALE)?;
        let p = t.path(ino).ok_or(Errno::NOENT)?;
        Ok((n.layers.clone(), p))
    }

    /// Before name `(parent, name)` of node `ino` is removed from `path` of
    /// `layer`: if it is the node's last name, keeps the object reachable
    /// as an orphan (see `tree`). A failure to open it only loses that.
    pub(crate) fn keep_orphan(
        &self,
        ino: Option<u64>,
        parent: u64,
        name: &OsStr,
        layer: u16,
        path: &[u8],
    ) {
        let Some(ino) = ino else { return };
        let last =
            self.tree.read().unwrap().get(ino).is_some_and(|n| {
                n.links.len() == 1 && n.links[0].0 == parent && n.links[0].1 == name
            });
        if !last {
            return;
        }
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let opened = rustix::fs::openat(
            &self.layers[layer as usize].fd,
            os(path),
            flags,
            Mode::empty(),
        );
        if let (Ok(fd), Some(n)) = (opened, self.tree.write().unwrap().get_mut(ino)) {
            n.orphan = Some(crate::tree::Orphan {
                layer,
                fd: Arc::new(fd),
            });
        }
    }

    /// Tells the kernel that its cached attributes of `ino` are stale, after
    /// a change it does not know it caused: set-id bits a write cleared
    /// (HANDLE_KILLPRIV_V2 leaves that to us, and the kernel keeps showing
    /// and honouring the old mode, exec included, until the attributes time
    /// out), or a mode an ACL xattr changed. Attributes only, so it takes no
    /// lock a pending request of that inode holds.
    pub(crate) fn attributes_changed(&self, ino: u64) {
        if let Some(n) = self.notifier.get() {
            if let Err(e) = n.inval_inode(INodeNo(ino), -1, 0) {
                log::debug!("cannot invalidate the attributes of inode {ino}: {e}");
            }
        }
    }

    /// The orphan of node `ino`, if every name of its object is gone.
    pub(crate) fn orphan(&self, ino: u64) -> Option<crate::tree::Orphan> {
        let t = self.tree.read().unwrap();
        t.get(ino)
            .filter(|n| n.links.is_empty())
            .and_then(|n| n.orphan.clone())
    }

    /// Lookup with the namespace lock held (shared or exclusive).
    pub fn lookup_locked(&self, parent: u64, name: &OsStr) -> R<(u64, Stat, Vec<u16>)> {
        self.lookup_or_missing(parent, name)?.ok_or(Errno::NOENT)
    }

    /// [`Overlay::lookup_locked`], with `None` when no layer has the name
    /// (as opposed to a failure).
    fn lookup_or_missing(&self, parent: u64, name: &OsStr) -> R<Option<(u64, Stat, Vec<u16>)>> {
        let (players, ppath) = self.locate(parent)?;
        let Some(f) = self.resolve(&players, &ppath, name.as_bytes())? else {
            return Ok(None);
        };
        let key = (self.layers[f.layers[0] as usize].dev, f.st.st_ino);
        let is_dir = f.is_dir();
        let ino = self
            .tree
            .write()
            .unwrap()
            .record(parent, name, key, f.layers.clone(), is_dir);
        // `record` counted the entry reply this lookup is for; take the
        // count back if the lookup fails after all.
        let copied = || {
            let (layers, path) = self.locate(ino)?;
            if layers[0] != f.layers[0] {
                // A lower hard link of a copied-up file: show the copy.
                let st = self.statat(layers[0], &path)?;
                return Ok(Some((st, layers)));
            }
            Ok(None)
        };
        match copied() {
            Ok(Some((st, layers))) => Ok(Some((ino, st, layers))),
            Ok(None) => Ok(Some((ino, f.st, f.layers))),
            Err(e) => {
                self.tree.write().unwrap().unref(ino);
                Err(e)
            }
        }
    }

    pub fn getattr_locked(&self, ino: u64) -> R<(Stat, Vec<u16>)> {
        let (layers, path) = self.locate(ino)?;
        Ok((self.statat(layers[0], &path)?, layers))
    }

    pub fn new_fh(&self) -> u64 {
        self.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    pub fn file(&self, fh: FileHandle) -> R<Arc<OwnedFd>> {
        self.files
            .read()
            .unwrap()
            .get(&fh.0)
            .map(|f| f.fd.clone())
            .ok_or(Errno::BADF)
    }

    /// A new handle for `fd`; `lower_of` names the node when `fd` is a
    /// lower layer's file.
    pub fn add_file(&self, fd: OwnedFd, lower_of: Option<u64>) -> u64 {
        let fh = self.new_fh();
        let f = OpenFile {
            fd: Arc::new(fd),
            lower_of,
        };
        self.files.write().unwrap().insert(fh, f);
        fh
    }

    // ---- request handlers of the read side ----

    pub fn init(&mut self, config: &mut KernelConfig) {
        use fuser::InitFlags as F;
        let old = self.opts.kernel_4_18;
        self.no_opendir = !self.opts.opendir_handles
            && !old
            && config.capabilities().contains(F::FUSE_NO_OPENDIR_SUPPORT);
        let mut wanted = vec![
            F::FUSE_DO_READDIRPLUS | F::FUSE_READDIRPLUS_AUTO,
            F::FUSE_PARALLEL_DIROPS,
            F::FUSE_ASYNC_READ,
            // The kernel enforces ACLs (stored as xattrs in the layers) in
            // its permission checks, as kernel overlayfs does (4.9 and
            // later), and leaves the umask to us (see `write::new_mode`),
            // which a directory's default ACL replaces.
            F::FUSE_POSIX_ACL,
            F::FUSE_DONT_MASK,
        ];
        if !old {
            // 4.20 and later.
            wanted.extend([
                F::FUSE_CACHE_SYMLINKS,
                F::FUSE_MAX_PAGES,
                F::FUSE_HANDLE_KILLPRIV_V2,
            ]);
        }
        for cap in wanted {
            let _ = config.add_capabilities(cap);
        }
        if self.opts.writeback {
            let _ = config.add_capabilities(F::FUSE_WRITEBACK_CACHE);
        }
        // fuser asks for `max_pages` whenever the kernel offers it; 4.18
        // has none, and requests of 32 pages.
        let max = if old { 1 << 17 } else { 1 << 20 };
        let _ = config.set_max_write(max);
        let _ = config.set_max_readahead(max);
        let _ = config.set_max_background(64);
    }

    pub fn lookup(&self, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let _ns = self.ns.read().unwrap();
        match self.lookup_or_missing(parent.0, name) {
            Ok(Some((ino, st, layers))) => {
                if !is_dir(&st) {
                    self.plus.looked_up(parent.0);
                }
                reply.entry(&ttl(&layers), &self.attr(ino, &st), Generation(0))
            }
            // A negative entry the kernel may keep as long as an upper
            // one: names appear only through the mount (which the kernel
            // sees) or by a change to the upper layer from outside, which
            // upper entries do not see sooner either. Python's imports,
            // PATH searches and the dynamic linker probe many such names.
            // Only a name no layer has: an ENOENT from a failure of ours
            // (a name left unreachable) is not cached.
            Ok(None) => reply.entry(&UPPER_TTL, &NEGATIVE, Generation(0)),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    pub fn getattr(&self, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let r = {
            let _ns = self.ns.read().unwrap();
            self.getattr_locked(ino.0)
        };
        match r {
            Ok((st, layers)) => reply.attr(&ttl(&layers), &self.attr(ino.0, &st)),
            Err(Errno::NOENT) => {
                // Unlinked but still open (fstat sends no handle).
                let st = match fh {
                    Some(fh) => self.file(fh).and_then(|f| rustix::fs::fstat(f.as_fd())),
                    None => self
                        .orphan(ino.0)
                        .ok_or(Errno::NOENT)
                        .and_then(|o| rustix::fs::fstat(o.fd.as_fd())),
                };
                match st {
                    Ok(st) => reply.attr(&UPPER_TTL, &self.attr(ino.0, &st)),
                    Err(e) => reply.error(fuse_err(e)),
                }
            }
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    pub fn readlink(&self, ino: INodeNo, reply: ReplyData) {
        let r = {
            let _ns = self.ns.read().unwrap();
            self.locate(ino.0).and_then(|(l, p)| {
                rustix::fs::readlinkat(&self.layers[l[0] as usize].fd, os(&p), Vec::new())
            })
        };
        match r {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    pub fn read(&self, fh: FileHandle, offset: u64, size: u32, reply: ReplyData) {
        let f = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(fuse_err(e)),
        };
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            let size = size as usize;
            if b.len() < size {
                b.resize(size, 0);
            }
            let mut done = 0;
            while done < size {
                match rustix::io::pread(f.as_fd(), &mut b[done..size], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(Errno::INTR) => continue,
                    Err(e) => return reply.error(fuse_err(e)),
                }
            }
            reply.data(&b[..done]);
        });
    }

    pub(crate) fn parent_of(&self, ino: u64) -> u64 {
        let t = self.tree.read().unwrap();
        t.get(ino)
            .and_then(|n| n.links.first())
            .map_or(ROOT, |l| l.0)
    }

    pub fn statfs(&self, reply: ReplyStatfs) {
        match rustix::fs::fstatvfs(&self.layers[0].fd) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                255,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(fuse_err(e)),
        }
    }
}

use std::os::unix::ffi::OsStringExt;
