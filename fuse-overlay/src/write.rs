//! The requests that change the union: create, remove, link,
//! setattr, xattrs, opening for write (rename is in `rename.rs`).
//!
//! # Theory of operation
//!
//! Every handler here holds the namespace lock exclusively for its whole
//! run, so the layers cannot change between the checks and the changes (one
//! writer at a time; reads of open files go on meanwhile). The union is
//! re-resolved from disk for every request rather than trusted from the
//! tree, which only supplies paths and inode numbers.
//!
//! - New names are made in the upper layer after the parent is copied up;
//!   a whiteout in their place is removed first, and a directory made over
//!   one is marked opaque so the deleted lower directory stays deleted. New
//!   objects get the caller's (mapped) owner, and the group of a setgid
//!   parent, with `fchown`, and their exact mode with `fchmod` (our own
//!   umask must not apply).
//! - Removing a name removes its upper object, and writes a whiteout if a
//!   lower layer still has the name.
//! - `mknod` of a 0:0 character device, the upper layer's whiteout, is
//!   refused (`EPERM`), as kernel overlayfs does: made in the upper layer,
//!   it would hide the name instead of showing a device.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use fuser::{FileHandle, Request, TimeOrNow};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid};
use rustix::io::Errno;

use crate::fs::{is_dir, os, Found, Overlay, R};
use crate::layout;
use crate::tree::{join, UPPER};
use crate::xattr::stored_xattr;

/// A caller without CAP_FSETID who writes or truncates: the set-id bits of
/// the file must go, as the kernel clears them for such a caller. The
/// server keeps CAP_FSETID, so the layer's filesystem would not.
pub(crate) struct Unprivileged {
    pub pid: u32,
    /// The caller's gid, as stored on disk.
    pub gid: u32,
    /// Its `/proc/N/status`, read at most once (see `caller_status`).
    status: std::cell::OnceCell<Option<String>>,
}

impl Overlay {
    /// `req` as an [`Unprivileged`] caller.
    pub fn unprivileged(&self, req: &Request) -> Unprivileged {
        Unprivileged {
            pid: req.pid(),
            gid: self.opts.gid_map.to_outside(req.gid()),
            status: std::cell::OnceCell::new(),
        }
    }

    /// Whether `who` is in group `gid` (on-disk ids): its gid or one of its
    /// supplementary groups. Unknown (the process is gone) counts as no.
    fn in_group(&self, who: &Unprivileged, gid: u32) -> bool {
        if who.gid == gid {
            return true;
        }
        let Some(status) = self.caller_status(who) else {
            return false;
        };
        status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .is_some_and(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .any(|x| self.opts.gid_map.to_outside(x) == gid)
            })
    }

    /// The `/proc/N/status` of the caller FUSE calls `pid`. FUSE gives pids
    /// in the pid namespace of whoever mounted, which need not be that of
    /// our /proc (rless's init mounts inside the container's, its monitor
    /// serves from the host's): then the caller is the process in that
    /// namespace ([`Options::callers_pid_ns`](crate::Options)) whose
    /// innermost pid (the last of `NSpid`) is `pid`. That search reads all
    /// of /proc, so it is kept to the rare requests that need it, and done
    /// once per request.
    fn caller_status<'a>(&self, who: &'a Unprivileged) -> Option<&'a str> {
        who.status
            .get_or_init(|| self.read_caller_status(who.pid))
            .as_deref()
    }

    fn read_caller_status(&self, pid: u32) -> Option<String> {
        let Some(other) = self.opts.callers_pid_ns else {
            return std::fs::read_to_string(format!("/proc/{pid}/status")).ok();
        };
        let ns = std::fs::read_link(format!("/proc/{other}/ns/pid")).ok()?;
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let n = e.file_name();
            if !n.as_bytes().iter().all(u8::is_ascii_digit) {
                return None;
            }
            if std::fs::read_link(e.path().join("ns/pid")).ok()? != ns {
                return None;
            }
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let inner = status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|v| v.split_whitespace().last())
                .and_then(|v| v.parse::<u32>().ok());
            (inner == Some(pid)).then_some(status)
        })
    }

    /// Whether the caller FUSE calls `pid` has CAP_FSETID in the initial
    /// user namespace: the kernel's test (`capable`, not namespace-aware)
    /// for keeping set-id bits through a write or a truncate. A caller in
    /// any other user namespace, root there or not, loses them, on kernel
    /// overlayfs as on the layer's own filesystem. Unknown counts as no.
    fn capable_fsetid(&self, who: &Unprivileged) -> bool {
        const CAP_FSETID: u32 = 4;
        // The initial user namespace's inode number is fixed
        // (PROC_USER_INIT_INO); /proc shows the caps of the caller's own.
        const INIT_USER_NS: u64 = 0xEFFF_FFFD;
        let Some(status) = self.caller_status(who) else {
            return false;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .map(str::to_owned)
        };
        // `Pid:` is the caller's pid in our /proc, whichever namespace
        // FUSE named it in.
        let caps = field("CapEff:").and_then(|v| u64::from_str_radix(&v, 16).ok());
        let host_pid = field("Pid:").and_then(|v| v.parse::<u32>().ok());
        let in_init = host_pid.is_some_and(|p| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/proc/{p}/ns/user")).is_ok_and(|m| m.ino() == INIT_USER_NS)
        });
        in_init && caps.is_some_and(|c| c & (1 << CAP_FSETID) != 0)
    }

    /// The mode of a file with `st` once `who` wrote to it, if that
    /// changes it: without set-user-id, and without set-group-id where
    /// group execution is on or `who` is not in the file's group (the
    /// kernel's rule).
    fn without_setid(&self, st: &Stat, who: &Unprivileged) -> Option<Mode> {
        let mode = st.st_mode & 0o7777;
        let mut keep = mode & !0o4000;
        if mode & 0o2000 != 0 && (mode & 0o010 != 0 || !self.in_group(who, st.st_gid)) {
            keep &= !0o2000;
        }
        (keep != mode && !is_dir(st)).then(|| Mode::from_raw_mode(keep))
    }
}

/// The flags to open a layer file with, for a caller's `flags`. Under the
/// writeback cache the kernel may read pages of a file opened write-only
/// (to fill a partly written page) and keeps the append offset itself, so
/// such files are opened read-write and without `O_APPEND`.
fn open_flags(flags: i32, writeback: bool) -> OFlags {
    let mut flags = flags;
    if writeback {
        if flags & libc::O_ACCMODE == libc::O_WRONLY {
            flags = flags & !libc::O_ACCMODE | libc::O_RDWR;
        }
        flags &= !libc::O_APPEND;
    }
    let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_SYNC | libc::O_DSYNC;
    OFlags::from_bits_retain((flags & keep) as u32) | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The mode of a new object (see `Overlay::new_mode`).
#[derive(Clone, Copy)]
enum NewMode {
    /// Exactly this.
    Exact(u32),
    /// What the directory's default ACL makes of this (asked for), with
    /// its set-id and sticky bits.
    Inherited(u32),
}

fn timespec(t: Option<TimeOrNow>) -> Timespec {
    match t {
        None => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let (sec, nsec) = match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
                Err(e) => {
                    let d = e.duration();
                    let mut s = -(d.as_secs() as i64);
                    let mut n = d.subsec_nanos();
                    if n > 0 {
                        s -= 1;
                        n = 1_000_000_000 - n;
                    }
                    (s, n)
                }
            };
            Timespec {
                tv_sec: sec,
                tv_nsec: nsec as _,
            }
        }
    }
}

/// Whether the stored name `name` may be created through the mount: a
/// marker may not (names from the kernel that start with `.wh.` arrive
/// escaped, see `layout`).
pub(crate) fn check_name(name: &OsStr) -> R<()> {
    let name = name.as_bytes();
    if name.starts_with(layout::WHITEOUT_PREFIX.as_bytes()) && layout::unescape(name).is_none() {
        return Err(Errno::INVAL);
    }
    Ok(())
}

impl Overlay {
    /// Whether a lower layer merged into directory `parent` (at `ppath`,
    /// merged from `players`) has `name`.
    pub(crate) fn lower_has(&self, players: &[u16], ppath: &[u8], name: &[u8]) -> R<bool> {
        let lowers: Vec<u16> = players.iter().copied().filter(|&l| l != UPPER).collect();
        Ok(self.resolve(&lowers, ppath, name)?.is_some())
    }

    /// On-disk owner for a new object made by `req` in the upper directory
    /// `ppath`, and whether the parent is setgid.
    fn new_owner(&self, req: &Request, ppath: &[u8]) -> R<(u32, u32, bool)> {
        let pst = self.statat(UPPER, ppath)?;
        let uid = self.opts.uid_map.to_outside(req.uid());
        let setgid = pst.st_mode & 0o2000 != 0;
        let gid = if setgid {
            pst.st_gid
        } else {
            self.opts.gid_map.to_outside(req.gid())
        };
        Ok((uid, gid, setgid))
    }

    /// Makes the parent of a new name ready. Returns (parent path, path,
    /// whether a whiteout was there).
    fn prepare_new(&self, parent: u64, name: &OsStr) -> R<(Vec<u8>, Vec<u8>, bool)> {
        check_name(name)?;
        let (players, ppath) = self.locate(parent)?;
        if self.resolve(&players, &ppath, name.as_bytes())?.is_some() {
            return Err(Errno::EXIST);
        }
        self.ensure_upper(parent, false)?;
        let had = self.clear_whiteout(&ppath, name.as_bytes())?;
        let path = join(&ppath, name.as_bytes());
        Ok((ppath, path, had))
    }

    /// The mode to give a new object in the upper directory `ppath`, asked
    /// for with `mode` by a caller with `umask`: `Inherited` when the
    /// directory has a default ACL, which the layer's filesystem applies
    /// instead of the umask (POSIX), from the `mode` the object is made with. Under
    /// FUSE_DONT_MASK the kernel leaves the umask to us; without it, it
    /// applied it already, and applying it again changes nothing.
    fn new_mode(&self, ppath: &[u8], mode: u32, umask: u32) -> NewMode {
        let p = self.proc_path(UPPER, ppath);
        match rustix::fs::lgetxattr_query(p, crate::acl::DEFAULT) {
            Ok(n) if n > 0 => NewMode::Inherited(mode & 0o7777),
            _ => NewMode::Exact(mode & !umask & 0o7777),
        }
    }

    /// Sets owner and mode (see `new_mode`) of a new object in the upper
    /// layer.
    fn finish_owner(
        &self,
        fd: Option<&OwnedFd>,
        path: &[u8],
        own: (u32, u32),
        mode: NewMode,
    ) -> R<()> {
        let (u, g) = (Some(Uid::from_raw(own.0)), Some(Gid::from_raw(own.1)));
        let upper = &self.layers[0].fd;
        let r = match fd {
            Some(fd) => rustix::fs::fchown(fd, u, g),
            None => rustix::fs::chownat(upper, os(path), u, g, AtFlags::SYMLINK_NOFOLLOW),
        };
        match r {
            Ok(()) | Err(Errno::PERM) => {}
            Err(e) => return Err(e),
        }
        let mode = match mode {
            NewMode::Exact(m) => Mode::from_raw_mode(m & 0o7777),
            // The permissions the default ACL gave, and the set-id and
            // sticky bits asked for (the chown above cleared set-id ones).
            NewMode::Inherited(m) if m & 0o7000 != 0 => {
                let st = match fd {
                    Some(fd) => rustix::fs::fstat(fd)?,
                    None => rustix::fs::statat(upper, os(path), AtFlags::SYMLINK_NOFOLLOW)?,
                };
                Mode::from_raw_mode((st.st_mode & 0o777) | (m & 0o7000))
            }
            NewMode::Inherited(_) => return Ok(()),
        };
        match fd {
            Some(fd) => rustix::fs::fchmod(fd, mode),
            None => rustix::fs::chmodat(upper, os(path), mode, AtFlags::empty()),
        }
    }

    /// Records a new upper object in the tree.
    fn record_new(&self, parent: u64, name: &OsStr, path: &[u8]) -> R<(u64, Stat)> {
        let st = self.statat(UPPER, path)?;
        let ino = self.tree.write().unwrap().record(
            parent,
            name,
            (self.layers[0].dev, st.st_ino),
            vec![UPPER],
            is_dir(&st),
        );
        Ok((ino, st))
    }

    pub fn do_create(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        (mode, umask): (u32, u32),
        flags: i32,
    ) -> R<(u64, Stat, u64)> {
        let _ns = self.ns.write().unwrap();
        let (ppath, path, _) = match self.prepare_new(parent, name) {
            // The kernel took the name for missing (a negative entry) but it
            // exists, made in the upper layer from outside: ESTALE makes the
            // kernel look it up again and open it, with its own permission
            // checks (an open without O_EXCL must not fail with EEXIST).
            Err(Errno::EXIST) if flags & libc::O_EXCL == 0 => return Err(Errno::STALE),
            r => r?,
        };
        let (uid, gid, _) = self.new_owner(req, &ppath)?;
        let mode_now = self.new_mode(&ppath, mode, umask);
        let fd = rustix::fs::openat(
            &self.layers[0].fd,
            os(&path),
            open_flags(flags, self.opts.writeback) | OFlags::CREATE | OFlags::EXCL,
            Mode::from_raw_mode(mode & 0o7777),
        )?;
        self.finish_owner(Some(&fd), &path, (uid, gid), mode_now)?;
        let (ino, st) = self.record_new(parent, name, &path)?;
        Ok((ino, st, self.add_file(fd, None)))
    }

    pub fn do_mknod(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        (mode, umask): (u32, u32),
        rdev: u32,
    ) -> R<(u64, Stat)> {
        if FileType::from_raw_mode(mode) == FileType::CharacterDevice && rdev == 0 {
            return Err(Errno::PERM);
        }
        let _ns = self.ns.write().unwrap();
        let (ppath, path, _) = self.prepare_new(parent, name)?;
        let (uid, gid, _) = self.new_owner(req, &ppath)?;
        let mode_now = self.new_mode(&ppath, mode, umask);
        rustix::fs::mknodat(
            &self.layers[0].fd,
            os(&path),
            FileType::from_raw_mode(mode),
            Mode::from_raw_mode(mode & 0o7777),
            rdev as u64,
        )?;
        self.finish_owner(None, &path, (uid, gid), mode_now)?;
        self.record_new(parent, name, &path)
    }

    pub fn do_mkdir(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        (mode, umask): (u32, u32),
    ) -> R<(u64, Stat)> {
        let _ns = self.ns.write().unwrap();
        let (ppath, path, had_whiteout) = self.prepare_new(parent, name)?;
        let (uid, gid, setgid) = self.new_owner(req, &ppath)?;
        let mode_now = self.new_mode(&ppath, mode, umask);
        // Private until its mode is set; made with the mode a default ACL
        // is applied to.
        let first = match mode_now {
            NewMode::Exact(_) => Mode::RWXU,
            NewMode::Inherited(m) => Mode::from_raw_mode(m),
        };
        rustix::fs::mkdirat(&self.layers[0].fd, os(&path), first)?;
        if had_whiteout {
            self.set_opaque(&path)?;
        }
        let setgid = if setgid { 0o2000 } else { 0 };
        let mode_now = match mode_now {
            NewMode::Exact(m) => NewMode::Exact(m | setgid),
            NewMode::Inherited(m) => NewMode::Inherited(m | setgid),
        };
        self.finish_owner(None, &path, (uid, gid), mode_now)?;
        self.record_new(parent, name, &path)
    }

    pub fn do_symlink(
        &self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        target: &std::path::Path,
    ) -> R<(u64, Stat)> {
        let _ns = self.ns.write().unwrap();
        let (ppath, path, _) = self.prepare_new(parent, name)?;
        let (uid, gid, _) = self.new_owner(req, &ppath)?;
        rustix::fs::symlinkat(target, &self.layers[0].fd, os(&path))?;
        match rustix::fs::chownat(
            &self.layers[0].fd,
            os(&path),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(()) | Err(Errno::PERM) => {}
            Err(e) => return Err(e),
        }
        self.record_new(parent, name, &path)
    }

    pub fn do_link(&self, ino: u64, newparent: u64, newname: &OsStr) -> R<(u64, Stat)> {
        let _ns = self.ns.write().unwrap();
        let src = self.ensure_upper(ino, false)?;
        let (_, path, _) = self.prepare_new(newparent, newname)?;
        rustix::fs::linkat(
            &self.layers[0].fd,
            os(&src),
            &self.layers[0].fd,
            os(&path),
            AtFlags::empty(),
        )?;
        self.record_new(newparent, newname, &path)
    }

    /// Removes the name `name` of `parent`, which resolved to `f`.
    fn remove_name(
        &self,
        parent: u64,
        name: &OsStr,
        players: &[u16],
        ppath: &[u8],
        f: &Found,
    ) -> R<()> {
        let path = join(ppath, name.as_bytes());
        let lower = self.lower_has(players, ppath, name.as_bytes())?;
        let key = (self.layers[f.layers[0] as usize].dev, f.st.st_ino);
        let ino = self.tree.read().unwrap().key_ino(key);
        // The whiteout first (where a lower layer has the name), so that a
        // full disk fails the unlink before anything is gone.
        let wh = if lower {
            self.ensure_upper(parent, false)?;
            Some(self.prepare_whiteout()?)
        } else {
            None
        };
        self.keep_orphan(ino, parent, name, f.layers[0], &path);
        if f.layers[0] == UPPER {
            let removed = if f.is_dir() {
                self.drop_whiteouts(&path, false).and_then(|()| {
                    rustix::fs::unlinkat(&self.layers[0].fd, os(&path), AtFlags::REMOVEDIR)
                })
            } else {
                rustix::fs::unlinkat(&self.layers[0].fd, os(&path), AtFlags::empty())
            };
            if let Err(e) = removed {
                if let Some(w) = wh {
                    self.discard_whiteout(w);
                }
                return Err(e);
            }
        }
        if let Some(w) = wh {
            self.place_whiteout(w, ppath, name.as_bytes())?;
        }
        let mut t = self.tree.write().unwrap();
        if let Some(ino) = ino {
            t.remove_link(ino, parent, name);
        }
        if f.layers[0] == UPPER && (f.is_dir() || f.st.st_nlink <= 1) {
            t.drop_key(key);
        }
        Ok(())
    }

    pub fn do_unlink(&self, parent: u64, name: &OsStr) -> R<()> {
        let _ns = self.ns.write().unwrap();
        let (players, ppath) = self.locate(parent)?;
        let f = self
            .resolve(&players, &ppath, name.as_bytes())?
            .ok_or(Errno::NOENT)?;
        if f.is_dir() {
            return Err(Errno::ISDIR);
        }
        self.remove_name(parent, name, &players, &ppath, &f)
    }

    pub fn do_rmdir(&self, parent: u64, name: &OsStr) -> R<()> {
        let _ns = self.ns.write().unwrap();
        let (players, ppath) = self.locate(parent)?;
        let f = self
            .resolve(&players, &ppath, name.as_bytes())?
            .ok_or(Errno::NOENT)?;
        if !f.is_dir() {
            return Err(Errno::NOTDIR);
        }
        if !self
            .list_dir(&f.layers, &join(&ppath, name.as_bytes()), false)?
            .is_empty()
        {
            return Err(Errno::NOTEMPTY);
        }
        self.remove_name(parent, name, &players, &ppath, &f)
    }

    /// Opens node `ino`; a write open copies it up first.
    pub fn do_open(&self, ino: u64, flags: i32) -> R<u64> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        let trunc = if flags & libc::O_TRUNC != 0 {
            OFlags::TRUNC
        } else {
            OFlags::empty()
        };
        let open = |layer: u16, path: &[u8]| -> R<OwnedFd> {
            let dir = &self.layers[layer as usize].fd;
            let of = open_flags(flags, self.opts.writeback) | trunc;
            match rustix::fs::openat(dir, os(path), of, Mode::empty()) {
                // A file the server may not read (a server without
                // CAP_DAC_OVERRIDE): open it write-only; a write of part of
                // an uncached page then fails, as the kernel cannot fill it.
                Err(Errno::ACCESS) if self.opts.writeback => {
                    let of = (open_flags(flags, false) - OFlags::APPEND) | trunc;
                    rustix::fs::openat(dir, os(path), of, Mode::empty())
                }
                r => r,
            }
        };
        {
            let _ns = self.ns.read().unwrap();
            let (l, p) = match self.locate(ino) {
                Err(Errno::NOENT) => {
                    let of = (open_flags(flags, self.opts.writeback) - OFlags::NOFOLLOW) | trunc;
                    return self.open_orphan(ino, of, write);
                }
                r => r?,
            };
            if !write || l[0] == UPPER {
                // Opened and entered under the lock, so that a copy-up
                // (which takes it exclusively) finds this handle to move.
                let fd = open(l[0], &p)?;
                return Ok(self.add_file(fd, (l[0] != UPPER).then_some(ino)));
            }
        }
        let _ns = self.ns.write().unwrap();
        let p = self.ensure_upper(ino, flags & libc::O_TRUNC != 0)?;
        let fd = open(UPPER, &p)?;
        Ok(self.add_file(fd, None))
    }

    /// Opens the orphan `ino` (see `tree`) again with `flags`: a process
    /// opens `/proc/PID/fd/N` of a file it unlinked. A lower one cannot be
    /// copied up without a name, so it opens only for reading.
    fn open_orphan(&self, ino: u64, flags: OFlags, write: bool) -> R<u64> {
        let o = self.orphan(ino).ok_or(Errno::NOENT)?;
        if write && o.layer != UPPER {
            return Err(Errno::NOENT);
        }
        let fd = rustix::fs::open(crate::fs::proc_fd(&o), flags, Mode::empty())?;
        Ok(self.add_file(fd, None))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn do_setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<FileHandle>,
        kill: Option<Unprivileged>,
    ) -> R<Stat> {
        let _ns = self.ns.write().unwrap();
        // An orphan (see `tree`) is reached through its descriptor, by an
        // absolute /proc path, which must be followed.
        let (path, orphan) = match self.ensure_upper(ino, size == Some(0)) {
            Err(Errno::NOENT) => {
                let o = self.orphan(ino).ok_or(Errno::NOENT)?;
                let st = rustix::fs::fstat(o.fd.as_fd())?;
                if o.layer != UPPER || FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                    // Nothing to copy up to without a name: only the
                    // kernel's own time updates (after an unlink, with the
                    // writeback cache) are taken, and dropped.
                    let times_only =
                        mode.is_none() && uid.is_none() && gid.is_none() && size.is_none();
                    return if times_only {
                        Ok(st)
                    } else {
                        Err(Errno::NOENT)
                    };
                }
                (crate::fs::proc_fd(&o).into_os_string().into_vec(), Some(o))
            }
            r => (r?, None),
        };
        let (at, nofollow) = match orphan {
            Some(_) => (AtFlags::empty(), OFlags::empty()),
            None => (AtFlags::SYMLINK_NOFOLLOW, OFlags::NOFOLLOW),
        };
        let upper = &self.layers[0].fd;
        if let Some(who) = kill.filter(|_| mode.is_none()) {
            let st = rustix::fs::statat(upper, os(&path), at)?;
            let change = self.without_setid(&st, &who);
            if let Some(m) = change.filter(|_| !self.capable_fsetid(&who)) {
                rustix::fs::chmodat(upper, os(&path), m, AtFlags::empty())?;
            }
        }
        if let Some(m) = mode {
            // chmod follows symlinks, and a symlink's target is no business
            // of ours (an absolute one leads out of the layer). Kernels
            // before "attr: block mode changes of symlinks" pass such a
            // request on (chmod of /proc/self/fd/N of an O_PATH symlink).
            if orphan.is_none()
                && self
                    .statat(UPPER, &path)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
            {
                return Err(Errno::OPNOTSUPP);
            }
            rustix::fs::chmodat(
                upper,
                os(&path),
                Mode::from_raw_mode(m & 0o7777),
                AtFlags::empty(),
            )?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                upper,
                os(&path),
                uid.map(|u| Uid::from_raw(self.opts.uid_map.to_outside(u))),
                gid.map(|g| Gid::from_raw(self.opts.gid_map.to_outside(g))),
                at,
            )?;
        }
        if let Some(sz) = size {
            let fd = fh.and_then(|f| self.file(f).ok());
            match fd {
                Some(fd) if rustix::fs::ftruncate(fd.as_fd(), sz).is_ok() => {}
                _ => {
                    let fd = rustix::fs::openat(
                        upper,
                        os(&path),
                        OFlags::WRONLY | nofollow | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    rustix::fs::ftruncate(&fd, sz)?;
                }
            }
        }
        if atime.is_some() || mtime.is_some() {
            let ts = Timestamps {
                last_access: timespec(atime),
                last_modification: timespec(mtime),
            };
            rustix::fs::utimensat(upper, os(&path), &ts, at)?;
        }
        match orphan {
            Some(o) => rustix::fs::fstat(o.fd.as_fd()),
            None => self.statat(UPPER, &path),
        }
    }

    pub fn do_setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> R<()> {
        let name = stored_xattr(name, Errno::PERM)?;
        let name = os(&name);
        let mapped;
        let value = if crate::acl::is_acl(name.as_bytes()) {
            mapped = crate::acl::stored(value, &self.opts.uid_map, &self.opts.gid_map);
            &mapped[..]
        } else {
            value
        };
        let _ns = self.ns.write().unwrap();
        let path = self.ensure_upper(ino, false)?;
        rustix::fs::lsetxattr(
            self.proc_path(UPPER, &path),
            name,
            value,
            rustix::fs::XattrFlags::from_bits_retain(flags as u32),
        )?;
        self.acl_may_change_mode(ino, name);
        Ok(())
    }

    /// Setting or removing an access ACL sets the mode's group bits too (on
    /// the layer's filesystem), which the kernel, caching the mode, may not
    /// know (without FUSE_POSIX_ACL, or a raw xattr write): `sed -i`
    /// (gnulib copies the mode with `fsetxattr(system.posix_acl_access)`)
    /// left a file showing its temporary file's 0600 for a second.
    fn acl_may_change_mode(&self, ino: u64, name: &OsStr) {
        if name.as_bytes().starts_with(b"system.posix_acl_access") {
            self.attributes_changed(ino);
        }
    }

    pub fn do_removexattr(&self, ino: u64, name: &OsStr) -> R<()> {
        let name = stored_xattr(name, Errno::NODATA)?;
        let name = os(&name);
        let _ns = self.ns.write().unwrap();
        let path = self.ensure_upper(ino, false)?;
        rustix::fs::lremovexattr(self.proc_path(UPPER, &path), name)?;
        self.acl_may_change_mode(ino, name);
        Ok(())
    }

    /// Writes `data` at `offset` of node `ino`; `kill` clears the set-id
    /// bits first (the kernel asks when the writer lacks CAP_FSETID and a
    /// bit must go), and tells the kernel so.
    pub fn do_write(
        &self,
        ino: u64,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        kill: Option<Unprivileged>,
    ) -> R<usize> {
        let f = self.file(fh)?;
        if let Some(who) = kill {
            if let Some(m) = self.without_setid(&rustix::fs::fstat(f.as_fd())?, &who) {
                rustix::fs::fchmod(f.as_fd(), m)?;
                self.attributes_changed(ino);
            }
        }
        let mut done = 0;
        while done < data.len() {
            match rustix::io::pwrite(f.as_fd(), &data[done..], offset + done as u64) {
                Ok(n) => done += n,
                Err(Errno::INTR) => continue,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }
}
