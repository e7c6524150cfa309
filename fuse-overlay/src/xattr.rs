//! Reading extended attributes through the mount, and the naming rules
//! their writers (`write`, `copyup`) share.
//!
//! Theory of operation: a name asked through the mount is first mapped
//! to how it is stored ([`stored_xattr`]: `user.overlay.*` is escaped,
//! `trusted.overlay.*` is the overlay's own and never shown). The value
//! is read from the topmost layer holding the node (an orphan through its
//! descriptor); POSIX ACLs are translated from the layer's ids to the
//! mount's and are read whole, so a too-small buffer is answered here.
//! A listing hides the overlay's private names and unescapes the rest
//! (`layout::xattr_shown`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use fuser::{INodeNo, ReplyXattr};
use rustix::io::Errno;

use crate::fs::{fuse_err, os, proc_fd, Overlay, R};
use crate::layout;

impl Overlay {
    pub fn getxattr(&self, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let name = match stored_xattr(name, Errno::NODATA) {
            Ok(n) => n,
            Err(e) => return reply.error(fuse_err(e)),
        };
        let name = os(&name);
        let acl = crate::acl::is_acl(name.as_bytes());
        let r = {
            let _ns = self.ns.read().unwrap();
            let mut buf = vec![
                0u8;
                if size == 0 || acl {
                    65536
                } else {
                    size as usize
                }
            ];
            let got = match self.locate(ino.0) {
                Ok((l, p)) => rustix::fs::lgetxattr(self.proc_path(l[0], &p), name, &mut buf[..]),
                // An orphan (see `tree`), through its descriptor.
                Err(Errno::NOENT) => match self.orphan(ino.0) {
                    Some(o) => rustix::fs::getxattr(proc_fd(&o), name, &mut buf[..]),
                    None => Err(Errno::NOENT),
                },
                Err(e) => Err(e),
            };
            got.map(|n| {
                buf.truncate(n);
                buf
            })
        };
        // The kernel asks for ACLs in its permission checks (FUSE_POSIX_ACL):
        // a layer without ACL support has none, which is not an error.
        let r = match r {
            Ok(v) if acl => Ok(crate::acl::shown(
                &v,
                &self.opts.uid_map,
                &self.opts.gid_map,
            )),
            Err(Errno::NOTSUP) if acl => Err(Errno::NODATA),
            r => r,
        }
        .and_then(|v| match size {
            // An ACL was read whole (and may have shrunk): too big is ours
            // to say.
            s if s != 0 && v.len() > s as usize => Err(Errno::RANGE),
            _ => Ok(v),
        });
        match r {
            Ok(v) if size == 0 => reply.size(v.len() as u32),
            Ok(v) => reply.data(&v),
            Err(e) => reply.error(fuse_err(e)),
        }
    }

    pub fn listxattr(&self, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let r = {
            let _ns = self.ns.read().unwrap();
            self.locate(ino.0).and_then(|(l, p)| {
                let pp = self.proc_path(l[0], &p);
                list_xattrs(&pp)
            })
        };
        let list = match r {
            Ok(names) => {
                let mut out = Vec::new();
                for n in names.iter().filter_map(|n| layout::xattr_shown(n)) {
                    out.extend_from_slice(&n);
                    out.push(0);
                }
                out
            }
            Err(e) => return reply.error(fuse_err(e)),
        };
        if size == 0 {
            reply.size(list.len() as u32);
        } else if list.len() > size as usize {
            reply.error(fuser::Errno::ERANGE);
        } else {
            reply.data(&list);
        }
    }
}

/// How an xattr name given through the mount is stored (see
/// `layout::xattr_stored`), or why it cannot be: `private` for
/// `trusted.overlay.*`; as kernel overlayfs answers, `EINVAL` for the bare
/// `user.overlay.` prefix and `EOPNOTSUPP` when escaping takes a name past
/// `XATTR_NAME_MAX`.
pub(crate) fn stored_xattr(name: &OsStr, private: Errno) -> R<std::borrow::Cow<'_, [u8]>> {
    let name = name.as_bytes();
    if name == layout::OVERLAY_XATTR_PREFIX.as_bytes() {
        return Err(Errno::INVAL);
    }
    let stored = layout::xattr_stored(name).ok_or(private)?;
    if stored.len() > layout::XATTR_NAME_MAX {
        return Err(Errno::NOTSUP);
    }
    Ok(stored)
}

/// Names of the xattrs of `path` (not following a final symlink).
pub(crate) fn list_xattrs(path: &std::path::Path) -> R<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 4096];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => {
                let len = buf.len() * 4;
                buf.resize(len, 0);
            }
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    Ok(buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}
