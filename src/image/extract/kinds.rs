//! Extracting each kind of entry: directories, files, links, special
//! files, whiteouts and opaque markers.

use super::resolve::*;
use super::*;

impl Extractor {
    pub(super) fn directory(
        &mut self,
        path: &[u8],
        parent: &[u8],
        name: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ExtractError> {
        let (fd, canon) = if path.is_empty() {
            let fd = rfs::openat(
                &*self.root.fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| ExtractError::Create {
                path: shown.to_string(),
                source: e.into(),
            })?;
            (fd, Vec::new())
        } else {
            let dir = self.parent(parent, shown)?;
            if self.markers_made {
                self.remove_marker(&dir, name, shown)?;
            }
            let create = |d: BorrowedFd<'_>| rfs::mkdirat(d, name, Mode::from_raw_mode(0o700));
            let made = match create(dir.fd.as_fd()) {
                Err(Errno::EXIST) => {
                    let st =
                        rfs::statat(&*dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
                            ExtractError::Create {
                                path: shown.to_string(),
                                source: e.into(),
                            }
                        })?;
                    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                        Ok(())
                    } else {
                        self.remove(&dir, name, shown)?;
                        create(dir.fd.as_fd())
                    }
                }
                r => r,
            };
            made.map_err(|e| ExtractError::Create {
                path: shown.to_string(),
                source: e.into(),
            })?;
            let fd = open_dir(dir.fd.as_fd(), name).map_err(|e| ExtractError::Create {
                path: shown.to_string(),
                source: e.into(),
            })?;
            (fd, join(&dir.canon, name))
        };
        let st = rfs::fstat(&fd).map_err(|e| ExtractError::Create {
            path: shown.to_string(),
            source: e.into(),
        })?;
        Self::xattrs(fd.as_fd(), meta, shown)?;
        self.dirs.insert(
            canon.clone(),
            DirMeta {
                depth: if canon.is_empty() {
                    0
                } else {
                    canon.iter().filter(|&&b| b == b'/').count() + 1
                },
                dev: st.st_dev,
                ino: st.st_ino,
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                mtime: meta.mtime,
            },
        );
        // Children usually follow: prime the cache.
        if !path.is_empty() {
            self.root.cache = Some((
                path.to_vec(),
                Resolved {
                    fd: Rc::new(fd),
                    canon,
                },
            ));
        }
        Ok(())
    }

    pub(super) fn regular<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        dir: &Resolved,
        name: &[u8],
        meta: &Meta,
        sparse: bool,
        shown: &str,
    ) -> Result<(), ExtractError> {
        let fd = self
            .create_replacing(dir, name, shown, |d| {
                rfs::openat(
                    d,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
            })?
            .map_err(|e| ExtractError::Create {
                path: shown.to_string(),
                source: e.into(),
            })?;
        let mut file = File::from(fd);
        let written =
            copy_content(entry, &mut file, &mut self.buf, sparse).map_err(|e| match e {
                Copy::Read(source) => ExtractError::ReadContent {
                    path: shown.to_string(),
                    source,
                },
                Copy::Write(source) => ExtractError::Write {
                    path: shown.to_string(),
                    source,
                },
            })?;
        if self.id_limit.is_some() {
            rfs::fchown(
                &file,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
            )
            .map_err(|e| ExtractError::Chown {
                path: shown.to_string(),
                source: e.into(),
            })?;
        }
        Self::xattrs(file.as_fd(), meta, shown)?;
        rfs::fchmod(&file, Mode::from_raw_mode(meta.mode)).map_err(|e| ExtractError::Chmod {
            path: shown.to_string(),
            source: e.into(),
        })?;
        let ts = Timestamps {
            last_access: meta.mtime,
            last_modification: meta.mtime,
        };
        rfs::futimens(&file, &ts).map_err(|e| ExtractError::Times {
            path: shown.to_string(),
            source: e.into(),
        })?;
        self.report.files += 1;
        self.report.bytes += written;
        Ok(())
    }

    pub(super) fn hard_link(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        target: &[u8],
        shown: &str,
    ) -> Result<(), ExtractError> {
        let target_shown = show(target);
        let link_err = |e: Errno| ExtractError::Link {
            path: shown.to_string(),
            target: target_shown.clone(),
            source: e.into(),
        };
        if target.is_empty() {
            return Err(ExtractError::LinkToDirectory {
                path: shown.to_string(),
                target: target_shown,
            });
        }
        let (tparent, tname) = split_last(target);
        let tdir = self.root.resolve_dir(tparent, false).map_err(link_err)?;
        let tstat = rfs::statat(&*tdir.fd, tname, AtFlags::SYMLINK_NOFOLLOW).map_err(link_err)?;
        if FileType::from_raw_mode(tstat.st_mode) == FileType::Directory {
            return Err(ExtractError::LinkToDirectory {
                path: shown.to_string(),
                target: target_shown,
            });
        }
        let link = |d: BorrowedFd<'_>| rfs::linkat(&*tdir.fd, tname, d, name, AtFlags::empty());
        match link(dir.fd.as_fd()) {
            Err(Errno::EXIST) => {
                // Linking a name to itself is a no-op, not a removal.
                let st =
                    rfs::statat(&*dir.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(link_err)?;
                if (st.st_dev, st.st_ino) == (tstat.st_dev, tstat.st_ino) {
                    return Ok(());
                }
                self.remove(dir, name, shown)?;
                link(dir.fd.as_fd())
            }
            r => r,
        }
        .map_err(link_err)
    }

    pub(super) fn symlink(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        target: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ExtractError> {
        self.create_replacing(dir, name, shown, |d| rfs::symlinkat(target, d, name))?
            .map_err(|e| ExtractError::Create {
                path: shown.to_string(),
                source: e.into(),
            })?;
        self.chown_at(dir, name, meta, shown)?;
        Self::times_at(dir, name, meta, shown)
    }

    pub(super) fn special(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        ftype: FileType,
        dev: rfs::Dev,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ExtractError> {
        let made = self.create_replacing(dir, name, shown, |d| {
            rfs::mknodat(d, name, ftype, Mode::from_raw_mode(meta.mode & 0o777), dev)
        })?;
        match made {
            Ok(()) => {}
            Err(Errno::PERM) if ftype != FileType::Fifo => {
                tracing::debug!(
                    path = shown,
                    "cannot create device node unprivileged, skipped"
                );
                if self.report.skipped_devices.len() < MAX_SKIPPED_LISTED {
                    self.report.skipped_devices.push(shown.to_string());
                }
                return Ok(());
            }
            Err(e) => {
                return Err(ExtractError::Create {
                    path: shown.to_string(),
                    source: e.into(),
                })
            }
        }
        self.chown_at(dir, name, meta, shown)?;
        // We just made it, and it is not a symlink: fchmodat may follow.
        rfs::chmodat(
            &*dir.fd,
            name,
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )
        .map_err(|e| ExtractError::Chmod {
            path: shown.to_string(),
            source: e.into(),
        })?;
        Self::times_at(dir, name, meta, shown)
    }

    /// `dir/.wh.NAME`: deletes `NAME` in this layer and in the layers below.
    pub(super) fn whiteout(
        &mut self,
        parent: &[u8],
        target: &[u8],
        shown: &str,
    ) -> Result<(), ExtractError> {
        let dir = self.parent(parent, shown)?;
        let werr = |e: Errno| ExtractError::Whiteout {
            path: shown.to_string(),
            source: e.into(),
        };
        if !self.mknod_refused {
            let made = self.create_replacing(&dir, target, shown, |d| {
                rfs::mknodat(
                    d,
                    target,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rfs::makedev(0, 0),
                )
            })?;
            match made {
                Ok(()) => return Ok(()),
                Err(Errno::PERM | Errno::OPNOTSUPP | Errno::INVAL) => {
                    tracing::debug!("whiteout devices refused, using marker files");
                    self.mknod_refused = true;
                }
                Err(e) => return Err(werr(e)),
            }
        }
        self.remove(&dir, target, shown)?;
        let marker = [layout::WHITEOUT_PREFIX.as_bytes(), target].concat();
        self.marker_file(&dir, &marker, shown).map_err(werr)
    }

    /// `dir/.wh..wh..opq`: hides everything below `dir` in the layers below.
    pub(super) fn opaque(&mut self, dir_path: &[u8], shown: &str) -> Result<(), ExtractError> {
        let dir = self.parent(dir_path, shown)?;
        let oerr = |e: Errno| ExtractError::Opaque {
            path: show(dir_path),
            source: e.into(),
        };
        if !self.xattr_refused {
            match rfs::fsetxattr(
                &*dir.fd,
                layout::OPAQUE_XATTR,
                layout::OPAQUE_VALUE,
                XattrFlags::empty(),
            ) {
                Ok(()) => return Ok(()),
                Err(Errno::NOTSUP | Errno::PERM) => {
                    tracing::debug!("user xattrs refused, using opaque marker files");
                    self.xattr_refused = true;
                }
                Err(e) => return Err(oerr(e)),
            }
        }
        match self.marker_file(&dir, layout::OPAQUE_MARKER.as_bytes(), shown) {
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(oerr(e)),
        }
    }

    /// Creates an empty marker file and records that the layer uses the
    /// marker form.
    pub(super) fn marker_file(
        &mut self,
        dir: &Resolved,
        name: &[u8],
        shown: &str,
    ) -> rustix::io::Result<()> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let r = rfs::openat(&*dir.fd, name, flags, Mode::from_raw_mode(0o644));
        let r = match r {
            Err(Errno::EXIST) if name != layout::OPAQUE_MARKER.as_bytes() => {
                self.remove(dir, name, shown).map_err(|_| Errno::EXIST)?;
                rfs::openat(&*dir.fd, name, flags, Mode::from_raw_mode(0o644))
            }
            r => r,
        };
        r?;
        self.markers_made = true;
        self.report.whiteout_form = WhiteoutForm::Marker;
        Ok(())
    }
}
