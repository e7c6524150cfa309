//! Safe extraction of one OCI image layer (an uncompressed tar stream) into an
//! empty directory of the image store.
//!
//! # Theory of operation
//!
//! Goals: a layer tar is untrusted input. Whatever names, links and symlinks
//! it holds, extraction must never create, change or remove anything outside
//! the destination directory (the "layer root"), and it must produce the
//! on-disk layout described in [`fuse_overlay::layout`].
//!
//! How: the layer root is opened once, and every later filesystem operation
//! is a `*at` call on a directory fd obtained below it; no path string is ever
//! joined onto the destination.
//!
//! - Entry names are normalized lexically first: leading `/` and `./` go, `.`
//!   components are dropped and `..` pops one component, clamped at the root
//!   (as docker does). The empty name is the root itself.
//! - The parent directory of an entry is resolved by `Root::resolve_dir`,
//!   through [`crate::inroot::dir`] (the resolver `cp` falls back to), a
//!   userspace version of `openat2(RESOLVE_IN_ROOT)` (which kernel 4.18
//!   lacks): components are opened one at a time with `O_NOFOLLOW`; a symlink
//!   planted by an earlier entry is read and resolution continues from the
//!   root (absolute target) or the current directory (relative target), with
//!   `..` clamped at the root and at most 40 hops (as Linux). Missing
//!   parents are created (0755). Resolution tracks the canonical, symlink-free
//!   path of the directory it reaches, so it holds only a couple of fds.
//! - Hard link targets are normalized and resolved the same way, without
//!   creating anything and without following the final component; they must
//!   already exist in this layer and not be directories.
//! - The final component is never followed: new objects are made with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`, `symlinkat`, `linkat` (without
//!   `AT_SYMLINK_FOLLOW`) or `mknodat`, which all fail with `EEXIST` rather than
//!   write through a symlink. On `EEXIST` the old entry is removed (a whole
//!   subtree if it is a directory) and creation is retried, except that a
//!   directory entry over an existing directory keeps it.
//! - Directories are created 0700 so that a restrictive mode in the tar does
//!   not keep us from creating their children when we lack
//!   `CAP_DAC_OVERRIDE`; their final owner, mode and mtime are applied at the
//!   end, deepest first, after checking that the directory reached by its
//!   canonical path is still the same inode.
//! - The last resolved parent is cached (tar entries come grouped by
//!   directory). Only the removal of an existing entry can make a cached
//!   resolution stale, so every removal drops the cache.
//!
//! Ownership: with [`ExtractOptions::id_limit`] `Some(n)` we run as root of a
//! user namespace mapping ids `0..n`, and chown every entry to its tar ids
//! (ids `>= n` become 0). Regular files are chowned before their final
//! `fchmod`, since chown clears setuid/setgid bits; xattrs are applied between
//! the two, since chown also drops `security.capability` and setting user
//! xattrs needs write permission on the file.
//!
//! Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) are converted to
//! the overlay form (0:0 character device, `user.overlay.opaque` xattr) and
//! fall back to the marker form when the host refuses it; the report tells
//! which form the layer ended up in. Overlay xattrs from the tar itself are
//! stored escaped, never as the overlay's own. Invariants kept, as `layout` requires: a whiteout replaces
//! whatever this layer already had under its name, and once marker files are
//! in use, a later entry for a whited-out name removes its marker; a name
//! `.wh.`, `.wh..` or `.wh...` is refused.
//!
//! Limits:
//! - PAX xattrs are applied to regular files and directories only (user
//!   xattrs are not allowed on symlinks and special files anyway).
//! - GNU sparse files are kept sparse by skipping all-zero chunks; PAX sparse
//!   formats are not understood by the tar crate and are written as-is.
//! - Removing a directory subtree holds one fd per level.
//! - Reading stops at the end-of-archive marker; the caller drains the rest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use fuse_overlay::layout::{self, WhiteoutForm};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

/// How many skipped device nodes the report lists.
const MAX_SKIPPED_LISTED: usize = 20;
/// Size of the copy buffer for file contents.
const COPY_BUFFER: usize = 128 * 1024;

/// How to extract a layer.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// `Some(n)`: chown every entry to its tar uid/gid (we run as root of a
    /// user namespace whose ids `0..n` are mapped); ids `>= n` are replaced by
    /// 0 and counted.
    /// `None`: single-id mode: never chown; every file belongs to the caller.
    pub id_limit: Option<u32>,
}

/// What an extraction did.
#[derive(Debug, Clone)]
pub struct ExtractReport {
    /// Tar entries processed (not counting PAX global headers).
    pub entries: u64,
    /// Regular files written.
    pub files: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Device nodes that could not be created unprivileged (path), first 20.
    pub skipped_devices: Vec<String>,
    /// How many uids and gids were outside the mapped range and became 0.
    pub clamped_ids: u64,
    /// [`WhiteoutForm::Marker`] if any marker file had to be used.
    pub whiteout_form: WhiteoutForm,
}

/// Why a layer could not be extracted. Paths are entry names, normalized and
/// relative to the layer root.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot open layer directory {path}: {source}")]
    OpenDest { path: PathBuf, source: io::Error },
    /// The tar stream itself is broken; `after` is the last entry read.
    /// (`error` is no `source`: its text, in words, is the message's end.)
    #[error("cannot read layer archive{}: {}", after_entry(.after), in_words(.error))]
    Archive {
        after: Option<String>,
        error: io::Error,
    },
    #[error("cannot read content of {path} from layer archive: {source}")]
    ReadContent { path: String, source: io::Error },
    #[error("invalid tar header for {path}: {source}")]
    Header { path: String, source: io::Error },
    #[error("invalid entry name {path:?} in layer")]
    InvalidName { path: String },
    #[error("unsupported tar entry type {kind:?} for {path}")]
    Unsupported { path: String, kind: char },
    #[error("cannot resolve parent directory of {path} in layer: {source}")]
    Resolve { path: String, source: io::Error },
    #[error("cannot create {path} in layer: a parent is not a directory")]
    ParentNotDir { path: String },
    #[error("cannot resolve {path} in layer: too many levels of symbolic links")]
    SymlinkLoop { path: String },
    #[error("cannot remove existing {path} in layer: {source}")]
    Remove { path: String, source: io::Error },
    #[error("cannot create {path} in layer: {source}")]
    Create { path: String, source: io::Error },
    #[error("cannot write {path} in layer: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot change owner of {path} in layer: {source}")]
    Chown { path: String, source: io::Error },
    #[error("cannot change mode of {path} in layer: {source}")]
    Chmod { path: String, source: io::Error },
    #[error("cannot set modification time of {path} in layer: {source}")]
    Times { path: String, source: io::Error },
    #[error("cannot set xattr {name} on {path} in layer: {source}")]
    Xattr {
        path: String,
        name: String,
        source: io::Error,
    },
    #[error("cannot link {path} to {target} in layer: {source}")]
    Link {
        path: String,
        target: String,
        source: io::Error,
    },
    #[error("cannot link {path} to {target} in layer: target is a directory")]
    LinkToDirectory { path: String, target: String },
    #[error("cannot create whiteout {path} in layer: {source}")]
    Whiteout { path: String, source: io::Error },
    #[error("cannot mark {path} opaque in layer: {source}")]
    Opaque { path: String, source: io::Error },
}

/// Extracts the layer tar read from `reader` into the existing, empty
/// directory `dest`. Stops reading at the end-of-archive marker.
pub fn extract<R: Read>(
    reader: R,
    dest: &Path,
    opts: &ExtractOptions,
) -> Result<ExtractReport, ExtractError> {
    extract_with(reader, dest, opts, false)
}

/// [`extract`], optionally behaving as if the host refused whiteout devices
/// and user xattrs (so that tests can exercise the marker form).
fn extract_with<R: Read>(
    reader: R,
    dest: &Path,
    opts: &ExtractOptions,
    force_markers: bool,
) -> Result<ExtractReport, ExtractError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ExtractError::OpenDest {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let mut ex = Extractor::new(root, opts);
    ex.mknod_refused = force_markers;
    ex.xattr_refused = force_markers;

    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|error| ExtractError::Archive { after: None, error })?;
    let mut last = None;
    for entry in entries {
        let mut entry = entry.map_err(|error| ExtractError::Archive {
            after: last.take(),
            error,
        })?;
        last = Some(ex.entry(&mut entry)?);
    }
    ex.finish()
}

mod kinds;
mod resolve;

use resolve::*;

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Final metadata of a directory, applied at the end.
struct DirMeta {
    depth: usize,
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
}

/// Parses a PAX time (`[-]seconds[.fraction]`).
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut sec: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    if neg {
        sec = -sec;
        if nsec > 0 {
            sec -= 1;
            nsec = 1_000_000_000 - nsec;
        }
    }
    Some(Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    })
}

/// The name under which an xattr from the tar is stored: the overlay's own
/// namespace is escaped (`user.overlay.X` as `user.overlay.overlay.X`, see
/// `fuse_overlay::layout`), so it is never taken for one of the overlay's
/// own and shows in the container under its name. `trusted.overlay.*` is
/// dropped, and so is a name that escaping takes past 255 bytes.
fn xattr_stored(name: &[u8]) -> Option<Vec<u8>> {
    use fuse_overlay::layout;
    if name.is_empty() {
        return None;
    }
    let stored = layout::xattr_stored(name)?;
    if stored.len() > layout::XATTR_NAME_MAX {
        tracing::warn!(
            "xattr {} dropped: too long once escaped",
            String::from_utf8_lossy(name)
        );
        return None;
    }
    Some(stored.into_owned())
}

/// Extraction state.
struct Extractor {
    root: Root,
    id_limit: Option<u32>,
    report: ExtractReport,
    /// Directories with an explicit entry, by canonical path.
    dirs: BTreeMap<Vec<u8>, DirMeta>,
    /// The host refused a 0:0 whiteout device: use marker files.
    mknod_refused: bool,
    /// The host refused `user.overlay.opaque`: use marker files.
    xattr_refused: bool,
    /// A whiteout marker file was created, so new entries must remove a
    /// marker for their own name.
    markers_made: bool,
    buf: Vec<u8>,
}

impl Extractor {
    fn new(root: OwnedFd, opts: &ExtractOptions) -> Self {
        Extractor {
            root: Root {
                fd: Rc::new(root),
                cache: None,
            },
            id_limit: opts.id_limit,
            report: ExtractReport {
                entries: 0,
                files: 0,
                bytes: 0,
                skipped_devices: Vec::new(),
                clamped_ids: 0,
                whiteout_form: WhiteoutForm::Overlay,
            },
            dirs: BTreeMap::new(),
            mknod_refused: false,
            xattr_refused: false,
            markers_made: false,
            buf: vec![0; COPY_BUFFER],
        }
    }

    /// Extracts one entry; returns its name for error messages.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<String, ExtractError> {
        let kind = entry.header().entry_type();
        let path = normalize(&entry.path_bytes());
        let shown = show(&path);
        if kind.is_pax_global_extensions() {
            return Ok(shown);
        }
        self.report.entries += 1;
        let (parent, name) = split_last(&path);

        // Whiteouts never carry content; their type does not matter.
        if name == layout::OPAQUE_MARKER.as_bytes() {
            self.opaque(parent, &shown)?;
            return Ok(shown);
        }
        if name.starts_with(layout::WHITEOUT_PREFIX.as_bytes()) {
            match layout::whiteout_target(name) {
                Some(target) if target != b"." && target != b".." => {
                    self.whiteout(parent, target, &shown)?;
                    return Ok(shown);
                }
                _ => return Err(ExtractError::InvalidName { path: shown }),
            }
        }

        use tar::EntryType as T;
        if kind == T::Link && !path.is_empty() {
            let dir = self.parent(parent, &shown)?;
            if self.markers_made {
                self.remove_marker(&dir, name, &shown)?;
            }
            let target = entry
                .link_name_bytes()
                .map(|t| normalize(&t))
                .unwrap_or_default();
            self.hard_link(&dir, name, &target, &shown)?;
            return Ok(shown);
        }
        let meta = self.meta(entry, &shown)?;
        if kind == T::Directory {
            self.directory(&path, parent, name, &meta, &shown)?;
            return Ok(shown);
        }
        if path.is_empty() {
            return Err(ExtractError::InvalidName {
                path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            });
        }
        let dir = self.parent(parent, &shown)?;
        if self.markers_made {
            self.remove_marker(&dir, name, &shown)?;
        }
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                self.regular(entry, &dir, name, &meta, kind == T::GNUSparse, &shown)?
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.symlink(&dir, name, &target, &meta, &shown)?
            }
            T::Char | T::Block | T::Fifo => {
                let header = entry.header();
                let dev = |r: io::Result<Option<u32>>| {
                    r.map(Option::unwrap_or_default)
                        .map_err(|source| ExtractError::Header {
                            path: shown.clone(),
                            source,
                        })
                };
                let (ftype, dev) = match kind {
                    T::Char => (
                        FileType::CharacterDevice,
                        rfs::makedev(dev(header.device_major())?, dev(header.device_minor())?),
                    ),
                    T::Block => (
                        FileType::BlockDevice,
                        rfs::makedev(dev(header.device_major())?, dev(header.device_minor())?),
                    ),
                    _ => (FileType::Fifo, 0),
                };
                self.special(&dir, name, ftype, dev, &meta, &shown)?
            }
            other => {
                return Err(ExtractError::Unsupported {
                    path: shown,
                    kind: char::from(other.as_byte()),
                })
            }
        }
        Ok(shown)
    }

    /// Reads mode, owner, mtime and xattrs of an entry.
    fn meta<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<Meta, ExtractError> {
        let header = entry.header();
        let bad = |source| ExtractError::Header {
            path: shown.to_string(),
            source,
        };
        let mode = header.mode().map_err(bad)? & 0o7777;
        let uid = header.uid().map_err(bad)?;
        let gid = header.gid().map_err(bad)?;
        let secs = header.mtime().map_err(bad)?;
        let mut mtime = Timespec {
            tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(bad)? {
            for ext in pax {
                let ext = ext.map_err(bad)?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                    if let Some(name) = xattr_stored(name) {
                        xattrs.push((name, ext.value_bytes().to_vec()));
                    }
                }
            }
        }
        let (uid, gid) = match self.id_limit {
            Some(limit) => (self.clamp(uid, limit), self.clamp(gid, limit)),
            None => (0, 0),
        };
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    fn clamp(&mut self, id: u64, limit: u32) -> u32 {
        match u32::try_from(id) {
            Ok(id) if id < limit => id,
            _ => {
                self.report.clamped_ids += 1;
                0
            }
        }
    }

    fn parent(&mut self, parent: &[u8], shown: &str) -> Result<Resolved, ExtractError> {
        self.root.resolve_dir(parent, true).map_err(|e| match e {
            Errno::NOTDIR => ExtractError::ParentNotDir {
                path: shown.to_string(),
            },
            Errno::LOOP => ExtractError::SymlinkLoop {
                path: shown.to_string(),
            },
            e => ExtractError::Resolve {
                path: shown.to_string(),
                source: e.into(),
            },
        })
    }

    /// Removes whatever is at `name` in `dir` (a subtree if a directory).
    /// Missing is fine.
    fn remove(&mut self, dir: &Resolved, name: &[u8], shown: &str) -> Result<(), ExtractError> {
        self.root.invalidate();
        let canon = join(&dir.canon, name);
        self.forget_dirs(&canon);
        match rfs::unlinkat(&*dir.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR) => remove_tree(dir.fd.as_fd(), name),
            Err(e) => Err(e),
        }
        .map_err(|e| ExtractError::Remove {
            path: shown.to_string(),
            source: e.into(),
        })
    }

    /// Drops the deferred metadata of `canon` and everything below it.
    fn forget_dirs(&mut self, canon: &[u8]) {
        self.dirs.remove(canon);
        let prefix = join(canon, b"");
        let below: Vec<Vec<u8>> = self
            .dirs
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in below {
            self.dirs.remove(&k);
        }
    }

    /// Removes a whiteout marker `.wh.NAME` left by an earlier entry, so that
    /// a name is never both present and whited out.
    fn remove_marker(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        shown: &str,
    ) -> Result<(), ExtractError> {
        let marker = [layout::WHITEOUT_PREFIX.as_bytes(), name].concat();
        match rfs::unlinkat(&*dir.fd, marker.as_slice(), AtFlags::empty()) {
            Ok(()) => {
                self.root.invalidate();
                Ok(())
            }
            Err(Errno::NOENT | Errno::NAMETOOLONG) => Ok(()),
            Err(e) => Err(ExtractError::Remove {
                path: shown.to_string(),
                source: e.into(),
            }),
        }
    }

    /// Runs `create` (which must fail with `EEXIST` if the name exists); if
    /// something is in the way, removes it and tries once more.
    fn create_replacing<T>(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        shown: &str,
        mut create: impl FnMut(BorrowedFd<'_>) -> rustix::io::Result<T>,
    ) -> Result<rustix::io::Result<T>, ExtractError> {
        match create(dir.fd.as_fd()) {
            Err(Errno::EXIST) => {
                self.remove(dir, name, shown)?;
                Ok(create(dir.fd.as_fd()))
            }
            r => Ok(r),
        }
    }

    fn chown_at(
        &self,
        dir: &Resolved,
        name: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ExtractError> {
        if self.id_limit.is_some() {
            rfs::chownat(
                &*dir.fd,
                name,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ExtractError::Chown {
                path: shown.to_string(),
                source: e.into(),
            })?;
        }
        Ok(())
    }

    fn times_at(dir: &Resolved, name: &[u8], meta: &Meta, shown: &str) -> Result<(), ExtractError> {
        let ts = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        rfs::utimensat(&*dir.fd, name, &ts, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
            ExtractError::Times {
                path: shown.to_string(),
                source: e.into(),
            }
        })
    }

    fn xattrs(fd: BorrowedFd<'_>, meta: &Meta, shown: &str) -> Result<(), ExtractError> {
        for (name, value) in &meta.xattrs {
            match rfs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty()) {
                Ok(()) | Err(Errno::PERM | Errno::NOTSUP) => {}
                Err(e) => {
                    return Err(ExtractError::Xattr {
                        path: shown.to_string(),
                        name: String::from_utf8_lossy(name).into_owned(),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Applies directory metadata, deepest first, and returns the report.
    fn finish(mut self) -> Result<ExtractReport, ExtractError> {
        let mut dirs: Vec<(Vec<u8>, DirMeta)> =
            std::mem::take(&mut self.dirs).into_iter().collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.1.depth));
        for (canon, meta) in dirs {
            let shown = show(&canon);
            let fd = match self.root.open_canonical(&canon) {
                Ok(fd) => fd,
                Err(e) => {
                    tracing::debug!(path = shown, error = %e, "directory went away, metadata not applied");
                    continue;
                }
            };
            let st = rfs::fstat(&*fd).map_err(|e| ExtractError::Chmod {
                path: shown.clone(),
                source: e.into(),
            })?;
            if (st.st_dev, st.st_ino) != (meta.dev, meta.ino) {
                continue;
            }
            if self.id_limit.is_some() {
                rfs::fchown(
                    &*fd,
                    Some(rfs::Uid::from_raw(meta.uid)),
                    Some(rfs::Gid::from_raw(meta.gid)),
                )
                .map_err(|e| ExtractError::Chown {
                    path: shown.clone(),
                    source: e.into(),
                })?;
            }
            rfs::fchmod(&*fd, Mode::from_raw_mode(meta.mode)).map_err(|e| ExtractError::Chmod {
                path: shown.clone(),
                source: e.into(),
            })?;
            let ts = Timestamps {
                last_access: meta.mtime,
                last_modification: meta.mtime,
            };
            rfs::futimens(&*fd, &ts).map_err(|e| ExtractError::Times {
                path: shown.clone(),
                source: e.into(),
            })?;
        }
        Ok(self.report)
    }
}

/// Which side of a copy failed.
enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// Copies an entry's content into `file`; for GNU sparse entries, all-zero
/// chunks become holes. Returns the content length.
fn copy_content(
    r: &mut impl Read,
    file: &mut File,
    buf: &mut [u8],
    sparse: bool,
) -> Result<u64, Copy> {
    let mut total: u64 = 0;
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        let chunk = &buf[..n];
        if sparse && chunk.iter().all(|&b| b == 0) {
            file.seek(SeekFrom::Current(n as i64))
                .map_err(Copy::Write)?;
        } else {
            file.write_all(chunk).map_err(Copy::Write)?;
        }
        total += n as u64;
    }
    if sparse {
        file.set_len(total).map_err(Copy::Write)?;
    }
    Ok(total)
}

/// Removes the directory `name` in `parent` and everything below it, without
/// following symlinks (also `cp --overwrite`'s, in `container::cp`).
pub(crate) fn remove_tree(parent: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<()> {
    let fd = open_dir(parent, name)?;
    let mut children = Vec::new();
    let mut dir = rfs::Dir::read_from(&fd)?;
    while let Some(ent) = dir.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            children.push((n.to_vec(), ent.file_type()));
        }
    }
    drop(dir);
    for (child, ftype) in children {
        let r = if ftype == FileType::Directory {
            Err(Errno::ISDIR)
        } else {
            rfs::unlinkat(&fd, child.as_slice(), AtFlags::empty())
        };
        match r {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(Errno::ISDIR) => remove_tree(fd.as_fd(), &child)?,
            Err(e) => return Err(e),
        }
    }
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

#[cfg(test)]
mod tests;
