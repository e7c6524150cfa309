//! Copy-up, whiteouts and opaque directories in the upper layer.
//!
//! # Theory of operation
//!
//! Copy-up of an object makes it in the work directory under a temporary
//! name (content, owner, xattrs, mode, times, in that order: chown clears
//! setuid bits, and setting user xattrs may need the owner's write
//! permission), then renames it to its path in the upper layer, so that a
//! crash never leaves a half-copied file visible. Parents are copied first.
//! A copy-up is no change of the directory it lands in: the upper parent
//! gets back the times it had (as on kernel overlayfs), so a copied-up
//! directory keeps its lower times until the container changes its entries.
//! File data is copied extent by extent (`SEEK_DATA`/`SEEK_HOLE`) with
//! `copy_file_range`, so holes stay holes and filesystems that can share
//! extents do; a plain `pread`/`pwrite` loop is the fallback. The upper copy's
//! `(st_dev, st_ino)` is made to answer to the node's inode number.
//!
//! A directory moved by rename must hold its whole content in the upper
//! layer (its lower parts stay at the old path): `materialize` copies every
//! lower-only entry of the merged tree up, hard links within it as hard
//! links, marks the directory opaque and drops the whiteouts it no longer
//! needs. It is proportional to the size of the subtree, but is correct
//! for any tree and never fails with `EXDEV`.
//!
//! After a file's copy-up, what was open on the lower file follows it:
//! read-only handles are reopened on the copy (reads through them see later
//! writes, as on kernel overlayfs), and the other names of a lower hard link
//! are linked to the copy in the upper layer, so that a remount still shows
//! them sharing it (see `links`).
//!
//! Whiteouts are 0:0 character devices and opaque directories carry
//! `user.overlay.opaque=y` while the host allows it; after the first refusal
//! (or with `xattrs: false`) the marker files of the [`crate::layout`] are
//! written instead. All of this runs with the namespace lock held
//! exclusively.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, RenameFlags, SeekFrom, Stat, Timespec, Timestamps, Uid,
    XattrFlags,
};
use rustix::io::Errno;

use crate::fs::{is_dir, is_whiteout, os, Overlay, R};
use crate::layout;
use crate::links::{HardLinks, Wanted};
use crate::tree::{join, UPPER};
use crate::xattr::list_xattrs;

#[allow(clippy::unnecessary_cast)] // field types differ between architectures
fn timestamps(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as i64,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as i64,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

/// `renameat2(RENAME_NOREPLACE)` from the work directory into the upper
/// layer. NFS (and other filesystems without rename flags) answers
/// `EINVAL` to any flag; there a look and a plain rename do the same, since
/// every caller holds the namespace lock exclusively and nothing else
/// changes the upper layer between the two.
fn rename_noreplace<P: rustix::path::Arg, Q: rustix::path::Arg>(
    from_dir: impl AsFd,
    from: P,
    to_dir: impl AsFd,
    to: Q,
) -> R<()> {
    let (from_dir, to_dir) = (from_dir.as_fd(), to_dir.as_fd());
    let from = from.into_c_str()?;
    let to = to.into_c_str()?;
    match rustix::fs::renameat_with(from_dir, &*from, to_dir, &*to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) => match rustix::fs::statat(to_dir, &*to, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(Errno::EXIST),
            Err(Errno::NOENT) => rustix::fs::renameat(from_dir, &*from, to_dir, &*to),
            Err(e) => Err(e),
        },
        r => r,
    }
}

/// Ignores `EPERM` (no `CAP_CHOWN`: the copy keeps our ids).
fn chown_result(r: R<()>) -> R<()> {
    match r {
        Err(Errno::PERM) => Ok(()),
        r => r,
    }
}

/// Copies bytes `[start, end)` of `src` to the same offsets of `dst`.
fn copy_range(src: BorrowedFd, dst: BorrowedFd, start: u64, end: u64) -> R<()> {
    let mut off = start;
    let mut use_cfr = true;
    let mut buf = Vec::new();
    while off < end {
        let want = (end - off).min(1 << 30) as usize;
        if use_cfr {
            let (mut i, mut o) = (off, off);
            match rustix::fs::copy_file_range(src, Some(&mut i), dst, Some(&mut o), want) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    off += n as u64;
                    continue;
                }
                Err(Errno::INTR) => continue,
                Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => {
                    use_cfr = false;
                    buf.resize(1 << 20, 0);
                }
                Err(e) => return Err(e),
            }
        }
        let chunk = want.min(buf.len());
        let n = match rustix::io::pread(src, &mut buf[..chunk], off) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        let mut w = 0;
        while w < n {
            w += rustix::io::pwrite(dst, &buf[w..n], off + w as u64)?;
        }
        off += n as u64;
    }
    Ok(())
}

/// Copies the content of `src` (of `size` bytes) into the empty `dst`,
/// keeping holes.
pub(crate) fn copy_data(src: BorrowedFd, dst: BorrowedFd, size: u64) -> R<()> {
    rustix::fs::ftruncate(dst, size)?;
    let mut pos = 0;
    while pos < size {
        let data = match rustix::fs::seek(src, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(Errno::NXIO) => break,
            Err(Errno::INVAL | Errno::OPNOTSUPP) => return copy_range(src, dst, pos, size),
            Err(e) => return Err(e),
        };
        let hole = rustix::fs::seek(src, SeekFrom::Hole(data)).unwrap_or(size);
        copy_range(src, dst, data, hole.min(size))?;
        pos = hole;
    }
    Ok(())
}

impl Overlay {
    fn tmp_name(&self) -> String {
        format!(
            "#rless-{}-{}",
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Copies the xattrs from `from` to the object at `to` (in the work
    /// directory): not the overlay's own, but escaped ones.
    fn copy_xattrs(&self, from: &std::path::Path, to_fd: Option<&OwnedFd>, to_name: &str) {
        let Ok(names) = list_xattrs(from) else { return };
        let to_path = format!("/proc/self/fd/{}/{to_name}", {
            use std::os::fd::AsRawFd;
            self.work.as_raw_fd()
        });
        let mut buf = vec![0u8; 65536];
        for n in names.iter().filter(|n| !layout::is_private_xattr(n)) {
            let name = os(n);
            let Ok(len) = rustix::fs::lgetxattr(from, name, &mut buf[..]) else {
                continue;
            };
            let r = match to_fd {
                Some(fd) => rustix::fs::fsetxattr(fd, name, &buf[..len], XattrFlags::empty()),
                None => rustix::fs::lsetxattr(&to_path, name, &buf[..len], XattrFlags::empty()),
            };
            if let Err(e) = r {
                log::debug!("copy-up: xattr {name:?} not copied: {e}");
            }
        }
    }

    /// Runs `f`, which adds the copy-up of `path` to its parent directory in
    /// the upper layer, and gives that directory back the times it had:
    /// a copy-up is no change of the directory (kernel overlayfs keeps them
    /// too), so a copied-up parent keeps its lower times until the
    /// container really changes it. Best effort: a parent that cannot be
    /// read or set keeps the times `f` gave it.
    /// The caller holds `ns` exclusively, so no change that should move
    /// the parent's times (a create, an unlink) runs between the read and
    /// the write of them.
    pub(crate) fn keeping_parent_times<T>(&self, path: &[u8], f: impl FnOnce() -> R<T>) -> R<T> {
        debug_assert!(
            self.ns.try_read().is_err(),
            "copy-up of {} without the namespace lock",
            String::from_utf8_lossy(path)
        );
        let parent = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[..i],
            None => b".",
        };
        let before = self.statat(UPPER, parent).ok();
        let r = f()?;
        if let Some(st) = before {
            let set = rustix::fs::utimensat(
                &self.layers[0].fd,
                os(parent),
                &timestamps(&st),
                AtFlags::SYMLINK_NOFOLLOW,
            );
            if let Err(e) = set {
                log::debug!(
                    "copy-up: times of {} not kept: {e}",
                    String::from_utf8_lossy(parent)
                );
            }
        }
        Ok(r)
    }

    /// Copies the object at `path` of lower layer `from` to the same path in
    /// the upper layer, whose parent directory must exist. Without data if
    /// `skip_data`. Returns the stat of the copy.
    pub fn copy_object(&self, from: u16, path: &[u8], skip_data: bool) -> R<Stat> {
        let src_layer = &self.layers[from as usize];
        let st = self.statat(from, path)?;
        let tmp = self.tmp_name();
        let uid = Some(Uid::from_raw(st.st_uid));
        let gid = Some(Gid::from_raw(st.st_gid));
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        let src_proc = self.proc_path(from, path);
        let made: R<()> = (|| {
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => {
                    let out = rustix::fs::openat(
                        &self.work,
                        tmp.as_str(),
                        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                        Mode::RUSR | Mode::WUSR,
                    )?;
                    if !skip_data && st.st_size > 0 {
                        let src = rustix::fs::openat(
                            &src_layer.fd,
                            os(path),
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )?;
                        copy_data(src.as_fd(), out.as_fd(), st.st_size as u64)?;
                    }
                    chown_result(rustix::fs::fchown(&out, uid, gid))?;
                    self.copy_xattrs(&src_proc, Some(&out), &tmp);
                    rustix::fs::fchmod(&out, mode)?;
                    rustix::fs::futimens(&out, &timestamps(&st))?;
                }
                FileType::Directory => {
                    rustix::fs::mkdirat(&self.work, tmp.as_str(), Mode::RWXU)?;
                    let out = rustix::fs::openat(
                        &self.work,
                        tmp.as_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    chown_result(rustix::fs::fchown(&out, uid, gid))?;
                    self.copy_xattrs(&src_proc, Some(&out), &tmp);
                    rustix::fs::fchmod(&out, mode)?;
                    rustix::fs::futimens(&out, &timestamps(&st))?;
                }
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(&src_layer.fd, os(path), Vec::new())?;
                    rustix::fs::symlinkat(target.as_c_str(), &self.work, tmp.as_str())?;
                    chown_result(rustix::fs::chownat(
                        &self.work,
                        tmp.as_str(),
                        uid,
                        gid,
                        AtFlags::SYMLINK_NOFOLLOW,
                    ))?;
                    rustix::fs::utimensat(
                        &self.work,
                        tmp.as_str(),
                        &timestamps(&st),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
                ft => {
                    rustix::fs::mknodat(&self.work, tmp.as_str(), ft, mode, st.st_rdev)?;
                    chown_result(rustix::fs::chownat(
                        &self.work,
                        tmp.as_str(),
                        uid,
                        gid,
                        AtFlags::SYMLINK_NOFOLLOW,
                    ))?;
                    self.copy_xattrs(&src_proc, None, &tmp);
                    rustix::fs::chmodat(&self.work, tmp.as_str(), mode, AtFlags::empty())?;
                    rustix::fs::utimensat(
                        &self.work,
                        tmp.as_str(),
                        &timestamps(&st),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                }
            }
            Ok(())
        })();
        // Never over an object already there (a hard link of an earlier
        // copy); only over a whiteout.
        let upper = &self.layers[0].fd;
        let moved = made.and_then(|()| {
            self.keeping_parent_times(path, || {
                match rename_noreplace(&self.work, tmp.as_str(), upper, os(path)) {
                    Err(Errno::EXIST)
                        if self.statat(UPPER, path).is_ok_and(|t| is_whiteout(&t)) =>
                    {
                        rustix::fs::renameat(&self.work, tmp.as_str(), upper, os(path))
                    }
                    r => r,
                }
            })
        });
        let moved = match moved {
            Err(Errno::EXIST) => {
                log::debug!(
                    "fuse-overlay: {} was in the upper layer already; its copy-up kept it",
                    String::from_utf8_lossy(path)
                );
                let flag = if is_dir(&st) {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                };
                let _ = rustix::fs::unlinkat(&self.work, tmp.as_str(), flag);
                Ok(())
            }
            r => r,
        };
        if let Err(e) = moved {
            let flag = if is_dir(&st) {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            let _ = rustix::fs::unlinkat(&self.work, tmp.as_str(), flag);
            return Err(e);
        }
        let new = self.statat(UPPER, path)?;
        let mut t = self.tree.write().unwrap();
        if let Some(ino) = t.key_ino((src_layer.dev, st.st_ino)) {
            t.alias_key((self.layers[0].dev, new.st_ino), ino);
        }
        Ok(new)
    }

    /// Makes sure node `ino` exists in the upper layer (copying it and its
    /// parents up). Returns its path.
    pub fn ensure_upper(&self, ino: u64, skip_data: bool) -> R<Vec<u8>> {
        let (layers, path, parent) = {
            let t = self.tree.read().unwrap();
            let n = t.get(ino).ok_or(Errno::STALE)?;
            let p = t.path(ino).ok_or(Errno::NOENT)?;
            (n.layers.clone(), p, n.links.first().map(|l| l.0))
        };
        if layers[0] == UPPER {
            return Ok(path);
        }
        if let Some(parent) = parent {
            self.ensure_upper(parent, false)?;
        }
        let src = self.statat(layers[0], &path)?;
        self.copy_object(layers[0], &path, skip_data)?;
        {
            let mut t = self.tree.write().unwrap();
            if let Some(n) = t.get_mut(ino).filter(|n| n.is_dir) {
                n.layers.insert(0, UPPER);
                return Ok(path);
            }
        }
        self.file_copied_up(Some(ino), layers[0], &path, &src, true);
        Ok(path)
    }

    /// What follows the copy-up of a lower file to `path` (`src`: its stat
    /// in `layer`; `ino`: its node, if the mount has one). The node lives in
    /// the upper layer from now on; the other names of a lower hard link
    /// share the copy (those the mount knows, and with `unseen` those the
    /// layer's hard-link index lists); read-only handles move to the copy.
    /// Without `unseen`, returns the paths of the names it linked.
    pub(crate) fn file_copied_up(
        &self,
        ino: Option<u64>,
        layer: u16,
        path: &[u8],
        src: &Stat,
        unseen: bool,
    ) -> HashSet<Vec<u8>> {
        let others: Vec<(u64, OsString)> = match ino {
            Some(ino) => {
                let mut t = self.tree.write().unwrap();
                let links = match t.get_mut(ino) {
                    Some(n) => {
                        n.layers = vec![UPPER];
                        n.links.clone()
                    }
                    None => Vec::new(),
                };
                links
                    .into_iter()
                    .filter(|(p, nm)| {
                        t.path(*p).map(|pp| join(&pp, nm.as_bytes())).as_deref() != Some(path)
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let mut done = self.link_other_names(path, &others);
        if unseen {
            let w = Wanted {
                copy: path.to_vec(),
                nlink: src.st_nlink,
                done: std::mem::take(&mut done),
            };
            if w.left() > 0 {
                self.link_unseen_names(layer, HashMap::from([(src.st_ino, w)]));
            }
        }
        if let Some(ino) = ino {
            self.follow_copy_up(ino, path);
        }
        done
    }

    /// Moves the read-only handles open on node `ino`'s lower file to its
    /// copy at `path`.
    fn follow_copy_up(&self, ino: u64, path: &[u8]) {
        let mut files = self.files.write().unwrap();
        let mut copy: Option<Arc<OwnedFd>> = None;
        for f in files.values_mut().filter(|f| f.lower_of == Some(ino)) {
            if copy.is_none() {
                let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                match rustix::fs::openat(&self.layers[0].fd, os(path), flags, Mode::empty()) {
                    Ok(fd) => copy = Some(Arc::new(fd)),
                    Err(e) => {
                        log::warn!(
                            "fuse-overlay: files open on {} before its copy-up keep reading the lower layer: {e}",
                            String::from_utf8_lossy(path)
                        );
                        return;
                    }
                }
            }
            if let Some(fd) = &copy {
                f.fd = fd.clone();
                f.lower_of = None;
            }
        }
    }

    /// Makes a whiteout ahead, in the work directory, for a change that
    /// needs one once it is done (see [`Overlay::place_whiteout`]): a full
    /// disk or quota then fails the change before anything moved.
    pub fn prepare_whiteout(&self) -> R<Prepared> {
        let tmp = self.tmp_name();
        if self.mknod_ok.load(Ordering::Relaxed) {
            match rustix::fs::mknodat(
                &self.work,
                &tmp,
                FileType::CharacterDevice,
                Mode::empty(),
                0,
            ) {
                Ok(()) => return Ok(Prepared { tmp, marker: false }),
                Err(Errno::PERM | Errno::OPNOTSUPP | Errno::INVAL | Errno::ACCESS) => {
                    log::info!("0:0 whiteouts refused by the upper layer, using marker files");
                    self.mknod_ok.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        rustix::fs::openat(
            &self.work,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )?;
        Ok(Prepared { tmp, marker: true })
    }

    /// Moves a prepared whiteout into place for `parent/name` (a rename
    /// within the filesystem, which needs no new inode).
    pub fn place_whiteout(&self, w: Prepared, parent: &[u8], name: &[u8]) -> R<()> {
        let target = if w.marker {
            join(parent, &[layout::WHITEOUT_PREFIX.as_bytes(), name].concat())
        } else {
            join(parent, name)
        };
        let r = rename_noreplace(&self.work, &w.tmp, &self.layers[0].fd, os(&target));
        match r {
            Ok(()) => Ok(()),
            // A marker that is there already does the job.
            Err(Errno::EXIST) if w.marker => {
                self.discard_whiteout(w);
                Ok(())
            }
            Err(e) => {
                self.discard_whiteout(w);
                Err(e)
            }
        }
    }

    /// Drops a prepared whiteout that is not needed after all.
    pub fn discard_whiteout(&self, w: Prepared) {
        let _ = rustix::fs::unlinkat(&self.work, &w.tmp, AtFlags::empty());
    }

    /// Removes a whiteout for `parent/name` from the upper layer; returns
    /// whether there was one.
    pub fn clear_whiteout(&self, parent: &[u8], name: &[u8]) -> R<bool> {
        let path = join(parent, name);
        if let Ok(st) = self.statat(UPPER, &path) {
            if is_whiteout(&st) {
                rustix::fs::unlinkat(&self.layers[0].fd, os(&path), AtFlags::empty())?;
                return Ok(true);
            }
            return Ok(false);
        }
        let mut m = layout::WHITEOUT_PREFIX.as_bytes().to_vec();
        m.extend_from_slice(name);
        match rustix::fs::unlinkat(&self.layers[0].fd, os(&join(parent, &m)), AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Marks the upper directory at `path` opaque.
    pub fn set_opaque(&self, path: &[u8]) -> R<()> {
        if self.xattr_ok.load(Ordering::Relaxed) {
            match rustix::fs::lsetxattr(
                self.proc_path(UPPER, path),
                layout::OPAQUE_XATTR,
                layout::OPAQUE_VALUE,
                XattrFlags::empty(),
            ) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    log::info!("opaque xattr refused ({e}), using marker files");
                    self.xattr_ok.store(false, Ordering::Relaxed);
                }
            }
        }
        match rustix::fs::openat(
            &self.layers[0].fd,
            os(&join(path, layout::OPAQUE_MARKER.as_bytes())),
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes every whiteout and marker directly inside the upper
    /// directory at `path` (before it is removed or made opaque).
    pub fn drop_whiteouts(&self, path: &[u8], keep_opaque_marker: bool) -> R<()> {
        let fd = rustix::fs::openat(
            &self.layers[0].fd,
            os(path),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut dir = rustix::fs::Dir::read_from(&fd)?;
        let mut doomed = Vec::new();
        while let Some(ent) = dir.read() {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name == layout::OPAQUE_MARKER.as_bytes() {
                if !keep_opaque_marker {
                    doomed.push(name.to_vec());
                }
            } else if name.starts_with(layout::WHITEOUT_PREFIX.as_bytes())
                && layout::unescape(name).is_none()
            {
                doomed.push(name.to_vec());
            } else if ent.file_type() == FileType::CharacterDevice {
                let st = rustix::fs::statat(&fd, os(name), AtFlags::SYMLINK_NOFOLLOW)?;
                if is_whiteout(&st) {
                    doomed.push(name.to_vec());
                }
            }
        }
        for n in doomed {
            rustix::fs::unlinkat(&fd, os(&n), AtFlags::empty())?;
        }
        Ok(())
    }

    /// Copies everything of the merged directory at `path` (already in the
    /// upper layer, merged from `layers`) into the upper layer and makes it
    /// opaque. `links` collects the lower hard links copied (see
    /// [`HardLinks`]).
    pub fn materialize(&self, layers: &[u16], path: &[u8], links: &mut HardLinks) -> R<()> {
        if layers.len() <= 1 {
            return Ok(());
        }
        for e in self.list_dir(layers, path, false)? {
            let name = std::os::unix::ffi::OsStrExt::as_bytes(e.name.as_os_str());
            let Some(f) = self.resolve(layers, path, name)? else {
                continue;
            };
            let cp = join(path, name);
            if f.layers[0] == UPPER {
                if f.is_dir() {
                    self.materialize(&f.layers, &cp, links)?;
                }
                continue;
            }
            if f.is_dir() {
                self.copy_object(f.layers[0], &cp, false)?;
                let mut l2 = vec![UPPER];
                l2.extend_from_slice(&f.layers);
                self.materialize(&l2, &cp, links)?;
                continue;
            }
            let key = (self.layers[f.layers[0] as usize].dev, f.st.st_ino);
            if let Some((_, _, w)) = links.0.get_mut(&key) {
                self.keeping_parent_times(&cp, || {
                    rustix::fs::linkat(
                        &self.layers[0].fd,
                        os(&w.copy),
                        &self.layers[0].fd,
                        os(&cp),
                        AtFlags::empty(),
                    )
                })?;
                w.done.insert(cp);
                continue;
            }
            self.copy_object(f.layers[0], &cp, false)?;
            // The names the mount knows; the others after the whole
            // directory, from the index (`link_unseen`).
            let known = self.tree.read().unwrap().key_ino(key);
            let done = self.file_copied_up(known, f.layers[0], &cp, &f.st, false);
            if f.st.st_nlink > 1 {
                let w = Wanted {
                    copy: cp,
                    nlink: f.st.st_nlink,
                    done,
                };
                links.0.insert(key, (f.layers[0], f.st.st_ino, w));
            }
        }
        self.set_opaque(path)?;
        self.drop_whiteouts(path, true)
    }
}

/// A whiteout made ahead in the work directory (see
/// [`Overlay::prepare_whiteout`]): a 0:0 device, or a marker file.
pub(crate) struct Prepared {
    tmp: String,
    marker: bool,
}
