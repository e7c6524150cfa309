//! Copying files into and out of a container's tree (`rless cp`, `export`).
//!
//! Theory of operation: a [`Tree`] is a directory fd that stands for `/`.
//! Every path given by the user is resolved with `openat2` and
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (or its userspace version,
//! [`crate::inroot`], on kernels before 5.6), so absolute symlinks land
//! inside the root, `..` stops at it, and `/proc/self/fd/N` style links
//! are refused: nothing a container plants can lead out of it. Below the
//! resolved path, walking and creating use single names relative to
//! directory fds with `O_NOFOLLOW` (packing never follows a link), and an
//! extracted entry's parents are opened with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`, so a tar that plants `a -> /etc` and then
//! `a/passwd` is refused.
//!
//! Data moves as a tar stream between two trees: [`Tree::pack`] writes one,
//! [`Tree::unpack`] reads one. The container side runs in a helper process
//! inside the container's namespaces ([`super::export`]), the host side in
//! the command itself (its root is the host's `/`). Which entry name the
//! stream carries and where it is unpacked follow docker's rules
//! ([`plan`]). Ownership on the receiving side is an [`Owner`] policy:
//! the container's root, the ids in the stream (`-a`), or whoever unpacks
//! (the user, on the host). Extended attributes are not copied.

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::inroot;

mod rules;
pub use rules::{base_name, parent_of, plan, Plan};

#[derive(Debug, thiserror::Error)]
pub enum CpError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        source: io::Error,
    },
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("cannot copy directory {0} onto the file {1}")]
    DirOntoFile(String, String),
    #[error("cannot overwrite the directory {0} with a non-directory (--overwrite replaces it)")]
    FileOntoDir(String),
    #[error("cannot overwrite the non-directory {0} with a directory (--overwrite replaces it)")]
    DirOntoNonDir(String),
    #[error("invalid path {0:?} in the tar stream")]
    BadEntry(String),
    #[error("{0}: a path in the tar stream goes through a symlink")]
    ThroughSymlink(String),
    #[error("the tar stream is corrupt: {0}")]
    Tar(io::Error),
}

fn io_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(rustix::io::Errno) -> CpError + 'a {
    move |e| CpError::Io {
        op,
        path: path.to_string(),
        source: e.into(),
    }
}

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// Who owns what [`Tree::unpack`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Owner {
    /// Whoever unpacks (the user, on the host side).
    Caller,
    /// The container's root (0:0) where it is mapped, as `docker cp` does.
    Root,
    /// The ids recorded in the stream (`-a`), where they are mapped.
    Keep,
}

/// What [`Tree::unpack_with`] does with an entry where something of the
/// other kind is (a directory where a non-directory is, or the reverse);
/// one of the same kind is replaced (a file) or merged into (a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Clash {
    /// A directory is kept (the entry is refused), a non-directory is
    /// replaced: `build`'s COPY and ADD.
    #[default]
    KeepDirs,
    /// Both refused, as podman's and docker's `cp`.
    Refuse,
    /// Both replaced, a directory with all it holds: `cp --overwrite`.
    Replace,
}

/// What to pack: `path`, under the entry name `name` (`None`: its
/// content only, for `SRC/.`), following a final symlink if `follow`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackSpec {
    pub path: String,
    pub name: Option<String>,
    pub follow: bool,
    /// Record 0:0 as every entry's owner (host files copied in).
    pub zero_ids: bool,
    /// Entries to leave out, by the name they would have (`etc/hosts`),
    /// with what is below them (`commit --squash`: rless's mount points).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

/// A directory standing for `/`.
pub struct Tree {
    root: OwnedFd,
}

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn kind_of(mode: u32) -> Kind {
    match rfs::FileType::from_raw_mode(mode) {
        rfs::FileType::Directory => Kind::Dir,
        rfs::FileType::RegularFile => Kind::File,
        rfs::FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

impl Tree {
    /// The tree whose root is the directory `root`.
    pub fn open(root: &Path) -> Result<Tree, CpError> {
        let shown = root.display().to_string();
        let root = rfs::open(root, dir_flags(), Mode::empty()).map_err(io_err("open", &shown))?;
        Ok(Tree { root })
    }

    /// Writes back what the kernel caches for the filesystem of the root.
    pub fn sync(&self) -> Result<(), CpError> {
        rfs::syncfs(&self.root).map_err(io_err("write back the cached writes of", "/"))
    }

    fn resolve(&self, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let p = if path.is_empty() { "." } else { path };
        inroot::open(self.root.as_fd(), p, flags | OFlags::CLOEXEC, IN_ROOT)
    }

    /// What `path` is (a final symlink is followed when `follow`, or when
    /// the path ends with `/`); `None` if it does not exist.
    pub fn stat(&self, path: &str, follow: bool) -> Result<Option<Kind>, CpError> {
        let follow = follow || path.ends_with('/') || path.ends_with("/.");
        let r = match (follow, base_name(path)) {
            (false, Some(base)) => self
                .resolve(&parent_of(path), OFlags::PATH | OFlags::DIRECTORY)
                .and_then(|p| rfs::statat(&p, base, AtFlags::SYMLINK_NOFOLLOW)),
            _ => self
                .resolve(path, OFlags::PATH)
                .and_then(|fd| rfs::fstat(&fd)),
        };
        match r {
            Ok(st) => Ok(Some(kind_of(st.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("look at", path)(e)),
        }
    }

    /// Where `path` leads when it is a symlink (not through a final `/`):
    /// the link's text, made absolute from the link's directory; `None`
    /// when it is not a symlink or does not exist. A copy's destination
    /// that is a symlink is followed, as docker does.
    pub fn link_target(&self, path: &str) -> Result<Option<String>, CpError> {
        if path.ends_with('/') || path.ends_with("/.") {
            return Ok(None);
        }
        let Some(base) = base_name(path) else {
            return Ok(None);
        };
        let parent = parent_of(path);
        let dir = match self.resolve(&parent, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(d) => d,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(io_err("look at", path)(e)),
        };
        match rfs::readlinkat(&dir, base, Vec::new()) {
            Ok(t) => {
                let t = t.to_string_lossy().into_owned();
                Ok(Some(if t.starts_with('/') {
                    t
                } else {
                    format!("{}/{t}", parent.trim_end_matches('/'))
                }))
            }
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err("read the link", path)(e)),
        }
    }

    /// Writes `spec.path` as a tar stream to `out`.
    pub fn pack(&self, spec: &PackSpec, out: impl Write) -> Result<(), CpError> {
        let mut b = tar::Builder::new(out);
        let path = spec.path.as_str();
        let follow = spec.follow || path.ends_with('/') || path.ends_with("/.");
        // (parent dir, name) of the source, or the source dir itself.
        let (parent, base) = match (follow, base_name(path)) {
            (false, Some(base)) => (
                self.resolve(&parent_of(path), OFlags::PATH | OFlags::DIRECTORY)
                    .map_err(io_err("open", path))?,
                base.to_string(),
            ),
            _ => {
                let fd = self
                    .resolve(path, OFlags::PATH)
                    .map_err(io_err("open", path))?;
                let st = rfs::fstat(&fd).map_err(io_err("look at", path))?;
                if kind_of(st.st_mode) == Kind::Dir {
                    let d = rfs::openat(&fd, ".", dir_flags(), Mode::empty())
                        .map_err(io_err("open", path))?;
                    let mut w = Walker {
                        b: &mut b,
                        zero: spec.zero_ids,
                        skip: &spec.skip,
                        links: Default::default(),
                    };
                    match &spec.name {
                        Some(n) => {
                            w.header(&st, n, None)?;
                            w.dir(&d, n)?;
                        }
                        None => w.dir(&d, "")?,
                    }
                    return b.into_inner().map(drop).map_err(CpError::Tar);
                }
                // A file reached through a symlink: reopen it by path.
                (
                    self.resolve(&parent_of(path), OFlags::PATH | OFlags::DIRECTORY)
                        .map_err(io_err("open", path))?,
                    String::new(),
                )
            }
        };
        let mut w = Walker {
            b: &mut b,
            zero: spec.zero_ids,
            skip: &spec.skip,
            links: Default::default(),
        };
        let name = spec.name.clone().unwrap_or_default();
        if base.is_empty() {
            // Followed to a non-directory.
            let fd = self
                .resolve(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
                .map_err(io_err("open", path))?;
            let st = rfs::fstat(&fd).map_err(io_err("look at", path))?;
            w.header(&st, &name, Some(fd))?;
        } else {
            w.entry(&parent, &base, &name)?;
        }
        b.into_inner().map(drop).map_err(CpError::Tar)
    }

    /// Reads a tar stream from `input` into the directory `dir`.
    pub fn unpack(&self, dir: &str, input: impl Read, owner: Owner) -> Result<(), CpError> {
        self.unpack_with(dir, input, owner, Clash::KeepDirs)
    }

    /// [`Tree::unpack`] with `clash` for entries of another kind than
    /// what is there.
    pub fn unpack_with(
        &self,
        dir: &str,
        input: impl Read,
        owner: Owner,
        clash: Clash,
    ) -> Result<(), CpError> {
        let dest = self.resolve(dir, dir_flags()).map_err(|e| match e {
            rustix::io::Errno::NOENT => CpError::NotFound(dir.into()),
            rustix::io::Errno::NOTDIR => CpError::NotADirectory(dir.into()),
            e => io_err("open", dir)(e),
        })?;
        let mut ar = tar::Archive::new(input);
        let mut dirs: Vec<(String, i64)> = Vec::new();
        for entry in ar.entries().map_err(CpError::Tar)? {
            let mut e = entry.map_err(CpError::Tar)?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let Some(rel) = clean_entry(&raw) else {
                return Err(CpError::BadEntry(raw));
            };
            if rel.is_empty() {
                continue;
            }
            let h = e.header().clone();
            let mtime = h.mtime().unwrap_or(0) as i64;
            let (pdir, name) = match rel.rsplit_once('/') {
                Some((p, n)) => (p.to_string(), n.to_string()),
                None => (String::new(), rel.clone()),
            };
            let parent = open_beneath(&dest, &pdir, &rel)?;
            let mut existing = rfs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
            let is_dir_entry = h.entry_type().is_dir();
            if let Some(st) = &existing {
                let was_dir = kind_of(st.st_mode) == Kind::Dir;
                match (was_dir, is_dir_entry, clash) {
                    (true, true, _) => {}
                    (true, false, Clash::Replace) => {
                        crate::image::extract::remove_tree(parent.as_fd(), name.as_bytes())
                            .map_err(io_err("replace", &rel))?;
                        existing = None;
                    }
                    (true, false, _) => return Err(CpError::FileOntoDir(rel)),
                    (false, true, Clash::Refuse) => return Err(CpError::DirOntoNonDir(rel)),
                    (false, _, _) => {
                        rfs::unlinkat(&parent, name.as_str(), AtFlags::empty())
                            .map_err(io_err("replace", &rel))?;
                        existing = None;
                    }
                }
            }
            let mode = Mode::from_raw_mode(h.mode().unwrap_or(0o644) & 0o7777);
            let name = name.as_str();
            let ids = match owner {
                Owner::Caller => None,
                Owner::Root => Some((0, 0)),
                Owner::Keep => Some((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)),
            };
            let chown = |fd: BorrowedFd<'_>, name: &str| {
                if let Some((u, g)) = ids {
                    let (u, g) = (Some(rfs::Uid::from_raw(u)), Some(rfs::Gid::from_raw(g)));
                    // An id the namespace does not map: leave the caller's.
                    let _ = rfs::chownat(fd, name, u, g, AtFlags::SYMLINK_NOFOLLOW);
                }
            };
            let times = |t: i64| rfs::Timestamps {
                last_access: rfs::Timespec {
                    tv_sec: t,
                    tv_nsec: 0,
                },
                last_modification: rfs::Timespec {
                    tv_sec: t,
                    tv_nsec: 0,
                },
            };
            use tar::EntryType as T;
            match h.entry_type() {
                T::Directory => {
                    if existing.is_none() {
                        rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                            .map_err(io_err("create", &rel))?;
                    }
                    chown(parent.as_fd(), name);
                    rfs::chmodat(&parent, name, mode, AtFlags::empty())
                        .map_err(io_err("chmod", &rel))?;
                    dirs.push((rel.clone(), mtime));
                }
                T::Regular | T::Continuous => {
                    let fd = rfs::openat(
                        &parent,
                        name,
                        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
                        Mode::from_raw_mode(0o600),
                    )
                    .map_err(io_err("create", &rel))?;
                    let mut f = std::fs::File::from(fd);
                    io::copy(&mut e, &mut f).map_err(|source| CpError::Io {
                        op: "write",
                        path: rel.clone(),
                        source,
                    })?;
                    chown(parent.as_fd(), name);
                    rfs::fchmod(&f, mode).map_err(io_err("chmod", &rel))?;
                    let _ = rfs::futimens(&f, &times(mtime));
                }
                T::Symlink => {
                    let target = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    rfs::symlinkat(target.as_str(), &parent, name)
                        .map_err(io_err("create", &rel))?;
                    chown(parent.as_fd(), name);
                }
                T::Link => {
                    let raw_t = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let t = clean_entry(&raw_t).ok_or(CpError::BadEntry(raw_t))?;
                    let (tp, tn) = t.rsplit_once('/').unwrap_or(("", t.as_str()));
                    let tparent = open_beneath(&dest, tp, &t)?;
                    rfs::linkat(&tparent, tn, &parent, name, AtFlags::empty())
                        .map_err(io_err("link", &rel))?;
                }
                T::Char | T::Block | T::Fifo => {
                    let ft = match h.entry_type() {
                        T::Char => rfs::FileType::CharacterDevice,
                        T::Block => rfs::FileType::BlockDevice,
                        _ => rfs::FileType::Fifo,
                    };
                    let dev = rfs::makedev(
                        h.device_major().ok().flatten().unwrap_or(0),
                        h.device_minor().ok().flatten().unwrap_or(0),
                    );
                    match rfs::mknodat(&parent, name, ft, mode, dev) {
                        Ok(()) => chown(parent.as_fd(), name),
                        // Device nodes need privilege a user namespace
                        // lacks: skipped, as a rootless `tar x` does.
                        Err(rustix::io::Errno::PERM) if ft != rfs::FileType::Fifo => {}
                        Err(e) => return Err(io_err("create", &rel)(e)),
                    }
                }
                // pax and GNU long-name headers are read by the tar crate.
                _ => continue,
            }
        }
        // Directory times last: creating entries changed them.
        for (rel, mtime) in dirs.iter().rev() {
            if let Ok(fd) = open_beneath(&dest, rel, rel) {
                let ts = rfs::Timespec {
                    tv_sec: *mtime,
                    tv_nsec: 0,
                };
                let _ = rfs::futimens(
                    &fd,
                    &rfs::Timestamps {
                        last_access: ts,
                        last_modification: ts,
                    },
                );
            }
        }
        Ok(())
    }
}

/// An entry name made relative: no leading `/` or `./`, no `.`; `None`
/// if it has a `..` component.
fn clean_entry(raw: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Opens directory `rel` below `dest`, through no symlink; missing
/// directories are created (a stream may omit them).
fn open_beneath(dest: &OwnedFd, rel: &str, entry: &str) -> Result<OwnedFd, CpError> {
    let p = if rel.is_empty() { "." } else { rel };
    match inroot::open(dest.as_fd(), p, dir_flags(), BENEATH) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => {
            Err(CpError::ThroughSymlink(entry.into()))
        }
        Err(rustix::io::Errno::NOENT) => {
            let mut cur = rfs::openat(dest, ".", dir_flags(), Mode::empty())
                .map_err(io_err("open", entry))?;
            for c in rel.split('/') {
                match rfs::mkdirat(&cur, c, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_err("create", entry)(e)),
                }
                cur = rfs::openat(&cur, c, dir_flags() | OFlags::NOFOLLOW, Mode::empty()).map_err(
                    |e| match e {
                        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                            CpError::ThroughSymlink(entry.into())
                        }
                        e => io_err("open", entry)(e),
                    },
                )?;
            }
            Ok(cur)
        }
        Err(e) => Err(io_err("open", entry)(e)),
    }
}

/// Emits entries below a directory fd, never following a symlink.
struct Walker<'a, W: Write> {
    b: &'a mut tar::Builder<W>,
    zero: bool,
    skip: &'a [String],
    /// The first name written of each file with several, by (device,
    /// inode): later names become tar link entries to it.
    links: std::collections::HashMap<(u64, u64), String>,
}

impl<W: Write> Walker<'_, W> {
    fn dir(&mut self, d: &OwnedFd, prefix: &str) -> Result<(), CpError> {
        let mut names: Vec<String> = Vec::new();
        let dup =
            rfs::openat(d, ".", dir_flags(), Mode::empty()).map_err(io_err("read", prefix))?;
        for ent in rfs::Dir::read_from(&dup).map_err(io_err("read", prefix))? {
            let ent = ent.map_err(io_err("read", prefix))?;
            let n = ent.file_name().to_string_lossy().into_owned();
            if n != "." && n != ".." {
                names.push(n);
            }
        }
        names.sort();
        for n in names {
            let full = if prefix.is_empty() {
                n.clone()
            } else {
                format!("{prefix}/{n}")
            };
            self.entry(d, &n, &full)?;
        }
        Ok(())
    }

    /// Emits `parent/name` as `full`, and below it if a directory.
    fn entry(&mut self, parent: &OwnedFd, name: &str, full: &str) -> Result<(), CpError> {
        if self.skip.iter().any(|s| s == full) {
            return Ok(());
        }
        let st = match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone since it was listed (a running container).
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io_err("look at", full)(e)),
        };
        match kind_of(st.st_mode) {
            Kind::Dir => {
                let d = match rfs::openat(
                    parent,
                    name,
                    dir_flags() | OFlags::NOFOLLOW,
                    Mode::empty(),
                ) {
                    Ok(d) => d,
                    Err(rustix::io::Errno::NOENT | rustix::io::Errno::LOOP) => return Ok(()),
                    Err(e) => return Err(io_err("open", full)(e)),
                };
                self.header(&st, full, None)?;
                // A running container's /proc, /sys and the like: the
                // directory only, as docker (which never sees them) has it.
                let special = rfs::fstatfs(&d).is_ok_and(|f| {
                    const KERNEL_FS: [i64; 6] = [
                        0x9fa0,     // proc
                        0x62656572, // sysfs
                        0x1cd1,     // devpts
                        0x19800202, // mqueue
                        0x27e0eb,   // cgroup
                        0x63677270, // cgroup2
                    ];
                    // f_type's type differs between architectures.
                    #[allow(clippy::unnecessary_cast)]
                    let t = f.f_type as i64;
                    KERNEL_FS.contains(&t)
                });
                if special {
                    return Ok(());
                }
                self.dir(&d, full)
            }
            Kind::File => {
                if st.st_nlink > 1 {
                    use std::collections::hash_map::Entry;
                    match self.links.entry((st.st_dev, st.st_ino)) {
                        Entry::Occupied(first) => {
                            let first = first.get().clone();
                            return self.hard_link(&st, full, &first);
                        }
                        Entry::Vacant(v) => {
                            v.insert(full.to_string());
                        }
                    }
                }
                let fd = rfs::openat(
                    parent,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_err("open", full))?;
                self.header(&st, full, Some(fd))
            }
            Kind::Symlink => {
                let t = rfs::readlinkat(parent, name, Vec::new()).map_err(io_err("read", full))?;
                let mut h = self.base_header(&st);
                h.set_entry_type(tar::EntryType::Symlink);
                let err = |source| CpError::Io {
                    op: "pack",
                    path: full.into(),
                    source,
                };
                // Short targets verbatim (the tar crate rewrites "/" as "//");
                // long ones through its GNU long-link entry.
                if t.as_bytes().len() <= 100 {
                    h.set_link_name_literal(t.as_bytes()).map_err(err)?;
                    self.b.append_data(&mut h, full, io::empty()).map_err(err)
                } else {
                    let t: &std::ffi::OsStr =
                        std::os::unix::ffi::OsStrExt::from_bytes(t.as_bytes());
                    self.b.append_link(&mut h, full, t).map_err(err)
                }
            }
            Kind::Other => self.header(&st, full, None),
        }
    }

    /// Emits `full` as a hard link to `first`, written before.
    fn hard_link(&mut self, st: &rfs::Stat, full: &str, first: &str) -> Result<(), CpError> {
        let mut h = self.base_header(st);
        h.set_entry_type(tar::EntryType::Link);
        self.b
            .append_link(&mut h, full, first)
            .map_err(|source| CpError::Io {
                op: "pack",
                path: full.into(),
                source,
            })
    }

    fn base_header(&self, st: &rfs::Stat) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        let (u, g) = if self.zero {
            (0, 0)
        } else {
            (st.st_uid as u64, st.st_gid as u64)
        };
        h.set_uid(u);
        h.set_gid(g);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// Emits a non-symlink entry; `data` is the open regular file.
    fn header(&mut self, st: &rfs::Stat, full: &str, data: Option<OwnedFd>) -> Result<(), CpError> {
        let mut h = self.base_header(st);
        let ft = rfs::FileType::from_raw_mode(st.st_mode);
        let et = match ft {
            rfs::FileType::Directory => tar::EntryType::Directory,
            rfs::FileType::RegularFile => tar::EntryType::Regular,
            rfs::FileType::CharacterDevice => tar::EntryType::Char,
            rfs::FileType::BlockDevice => tar::EntryType::Block,
            rfs::FileType::Fifo => tar::EntryType::Fifo,
            // Sockets cannot be archived.
            _ => return Ok(()),
        };
        h.set_entry_type(et);
        if matches!(et, tar::EntryType::Char | tar::EntryType::Block) {
            let _ = h.set_device_major(rfs::major(st.st_rdev));
            let _ = h.set_device_minor(rfs::minor(st.st_rdev));
        }
        let err = |source| CpError::Io {
            op: "pack",
            path: full.into(),
            source,
        };
        let name = if et == tar::EntryType::Directory && !full.is_empty() {
            format!("{full}/")
        } else {
            full.to_string()
        };
        match data {
            Some(fd) => {
                let size = st.st_size.max(0) as u64;
                h.set_size(size);
                // Exactly `size` bytes, even if the file changes meanwhile.
                let f = std::fs::File::from(fd).take(size);
                let padded = f.chain(io::repeat(0)).take(size);
                self.b.append_data(&mut h, name, padded).map_err(err)
            }
            None => self.b.append_data(&mut h, name, io::empty()).map_err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(base_name("/a/b"), Some("b"));
        assert_eq!(base_name("/a/b/"), Some("b"));
        assert_eq!(base_name("/a/b/."), Some("b"));
        assert_eq!(base_name("/"), None);
        assert_eq!(base_name("/a/.."), None);
        assert_eq!(parent_of("/a/b/"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("a"), ".");
        assert_eq!(clean_entry("./a//b/"), Some("a/b".into()));
        assert_eq!(clean_entry("/x/../y"), None);
    }

    #[test]
    fn round_trip_stays_inside() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let dst = t.path().join("dst");
        std::fs::create_dir_all(src.join("d/e")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("d/e/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("/etc", src.join("d/etc")).unwrap();
        std::os::unix::fs::symlink("../../../..", src.join("up")).unwrap();
        let a = Tree::open(&src).unwrap();
        // /up/d resolves inside the root, to /d.
        assert_eq!(a.stat("/up/d", false).unwrap(), Some(Kind::Dir));
        let mut buf = Vec::new();
        let spec = PackSpec {
            path: "/up/d".into(),
            name: Some("copy".into()),
            follow: false,
            zero_ids: false,
            skip: Vec::new(),
        };
        a.pack(&spec, &mut buf).unwrap();
        let b = Tree::open(&dst).unwrap();
        b.unpack("/", &buf[..], Owner::Caller).unwrap();
        assert_eq!(std::fs::read(dst.join("copy/e/f")).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_link(dst.join("copy/etc")).unwrap(),
            Path::new("/etc")
        );
        // A stream that goes through its own symlink is refused.
        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        evil.append_link(&mut h, "l", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        evil.append_data(&mut h, "l/pwned", &b"x"[..]).unwrap();
        let evil = evil.into_inner().unwrap();
        assert!(matches!(
            b.unpack("/", &evil[..], Owner::Caller),
            Err(CpError::ThroughSymlink(_))
        ));
        assert!(!Path::new("/pwned").exists());
    }
}
