//! The `fuser::Filesystem` implementation: turns each FUSE request into a
//! call of the read side (`fs`) or the write side (`write`) and the result
//! into a reply. Names from the kernel become the names stored in the
//! layers here ([`stored`]); everything below works on stored names, and
//! listings show them back (`listing`).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::time::SystemTime;

use fuser::{
    AccessFlags, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, KernelConfig, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
    WriteFlags,
};
use rustix::fs::Stat;

use crate::fs::{fuse_err, ttl, Overlay, R};
use crate::tree::UPPER;

impl Overlay {
    fn entry(&self, r: R<(u64, Stat)>, reply: ReplyEntry) {
        match r {
            Ok((ino, st)) => reply.entry(&ttl(&[UPPER]), &self.attr(ino, &st), Generation(0)),
            Err(e) => reply.error(fuse_err(e)),
        }
    }
}

fn empty(r: R<()>, reply: ReplyEmpty) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(fuse_err(e)),
    }
}

const KEEP: FopenFlags = FopenFlags::FOPEN_KEEP_CACHE;

/// The name stored in the layers for `name` from the kernel: escaped when
/// it starts with `.wh.` (see `layout`).
fn stored(name: &OsStr) -> Cow<'_, OsStr> {
    match crate::layout::escape(name.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(name),
        Cow::Owned(v) => Cow::Owned(OsString::from_vec(v)),
    }
}

impl Filesystem for Overlay {
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        let orphan = self.tree.write().unwrap().forget(ino.0, nlookup);
        drop(orphan);
    }

    // `batch_forget` keeps fuser's default (one `forget` per node): its
    // argument type is not nameable outside fuser 0.18.

    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        Overlay::init(self, config);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.spin.note();
        Overlay::lookup(self, parent, &stored(name), reply)
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        self.spin.note();
        Overlay::getattr(self, ino, fh, reply)
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.spin.note();
        // Under HANDLE_KILLPRIV_V2 the kernel leaves clearing set-id bits on
        // truncate to us, and says when with FATTR_KILL_SUIDGID (the caller
        // lacks CAP_FSETID in the initial user namespace). fuser does not
        // pass that bit on, so `do_setattr` asks /proc the same question,
        // for files that have set-id bits.
        let kill = size.is_some().then(|| self.unprivileged(req));
        match self.do_setattr(ino.0, mode, uid, gid, size, atime, mtime, fh, kill) {
            Ok(st) => reply.attr(&ttl(&[UPPER]), &self.attr(ino.0, &st)),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spin.note();
        Overlay::readlink(self, ino, reply)
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        self.spin.note();
        self.entry(
            self.do_mknod(req, parent.0, &stored(name), (mode, umask), rdev),
            reply,
        )
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.spin.note();
        self.entry(
            self.do_mkdir(req, parent.0, &stored(name), (mode, umask)),
            reply,
        )
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.spin.note();
        empty(self.do_unlink(parent.0, &stored(name)), reply)
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.spin.note();
        empty(self.do_rmdir(parent.0, &stored(name)), reply)
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.spin.note();
        self.entry(
            self.do_symlink(req, parent.0, &stored(link_name), target),
            reply,
        )
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        empty(
            self.do_rename(
                parent.0,
                &stored(name),
                newparent.0,
                &stored(newname),
                flags,
            ),
            reply,
        )
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: fuser::ReplyLseek,
    ) {
        self.spin.note();
        // The kernel handles SEEK_SET/CUR/END itself; only SEEK_DATA and
        // SEEK_HOLE come here, and they must see the layer file's holes.
        let to = match (whence, u64::try_from(offset)) {
            (libc::SEEK_DATA, Ok(o)) => rustix::fs::SeekFrom::Data(o),
            (libc::SEEK_HOLE, Ok(o)) => rustix::fs::SeekFrom::Hole(o),
            _ => return reply.error(fuser::Errno::EINVAL),
        };
        let r = self
            .file(fh)
            .and_then(|fd| rustix::fs::seek(&*fd, to))
            .map(|o| o as i64);
        match r {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.spin.note();
        self.entry(self.do_link(ino.0, newparent.0, &stored(newname)), reply)
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spin.note();
        match self.do_open(ino.0, flags.0) {
            Ok(fh) => reply.opened(FileHandle(fh), KEEP),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spin.note();
        Overlay::read(self, fh, offset, size, reply)
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.spin.note();
        let kill = write_flags
            .contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID)
            .then(|| self.unprivileged(req));
        match self.do_write(ino.0, fh, offset, data, kill) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    /// Writes go straight to the layer file and POSIX locks stay in the
    /// kernel, so a close has nothing to flush. ENOSYS makes the kernel stop
    /// sending FLUSH on every `close` for the rest of the mount (two round
    /// trips fewer per `echo x > file`).
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        reply.error(fuser::Errno::ENOSYS)
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        self.files.write().unwrap().remove(&fh.0);
        reply.ok()
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        let r = self.file(fh).and_then(|f| {
            if datasync {
                rustix::fs::fdatasync(f.as_fd())
            } else {
                rustix::fs::fsync(f.as_fd())
            }
        });
        empty(r, reply)
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spin.note();
        Overlay::opendir(self, ino, reply)
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.spin.note();
        Overlay::readdir(self, ino, fh, offset, reply)
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.spin.note();
        Overlay::readdirplus(self, ino, fh, offset, reply)
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        Overlay::releasedir(self, fh);
        reply.ok()
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        reply.ok()
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spin.note();
        Overlay::statfs(self, reply)
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        empty(self.do_setxattr(ino.0, name, value, flags), reply)
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        self.spin.note();
        Overlay::getxattr(self, ino, name, size, reply)
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.spin.note();
        Overlay::listxattr(self, ino, size, reply)
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.spin.note();
        empty(self.do_removexattr(ino.0, name), reply)
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        self.spin.note();
        reply.ok()
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.spin.note();
        match self.do_create(req, parent.0, &stored(name), (mode, umask), flags) {
            Ok((ino, st, fh)) => reply.created(
                &ttl(&[UPPER]),
                &self.attr(ino, &st),
                Generation(0),
                FileHandle(fh),
                KEEP,
            ),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.spin.note();
        let r = self.file(fh).and_then(|f| {
            rustix::fs::fallocate(
                f.as_fd(),
                rustix::fs::FallocateFlags::from_bits_retain(mode as u32),
                offset,
                length,
            )
        });
        empty(r, reply)
    }
}
