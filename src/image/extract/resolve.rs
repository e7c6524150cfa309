//! Paths inside the layer: normalising entry names and resolving parents
//! inside the root, following symlinks planted by earlier entries.

use super::*;

pub(super) fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(path) => format!(" after {path}"),
        None => String::new(),
    }
}

/// A lexically normalized entry name: components joined by `/`, no leading
/// `/`, no `.`, `..` or empty components. Empty for the root.
pub(super) fn normalize(raw: &[u8]) -> Vec<u8> {
    let mut comps: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            _ => comps.push(c),
        }
    }
    comps.join(&b'/')
}

/// Splits a normalized path into (parent, final component).
pub(super) fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

pub(super) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        p.extend_from_slice(parent);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

pub(super) fn show(path: &[u8]) -> String {
    if path.is_empty() {
        ".".into()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

pub(super) fn open_dir(dir: BorrowedFd<'_>, name: &[u8]) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Why [`Root::resolve_dir`] failed.
#[derive(Debug)]
pub(super) enum ResolveError {
    Io(Errno),
    /// A component is neither a directory nor a symlink.
    NotDir,
    /// More than [`MAX_SYMLINK_HOPS`] symlinks.
    Loop,
}

impl ResolveError {
    pub(super) fn errno(&self) -> Errno {
        match self {
            ResolveError::Io(e) => *e,
            ResolveError::NotDir => Errno::NOTDIR,
            ResolveError::Loop => Errno::LOOP,
        }
    }
}

/// A directory resolved below the layer root.
#[derive(Clone)]
pub(super) struct Resolved {
    pub(super) fd: Rc<OwnedFd>,
    /// Its canonical (symlink-free) path below the root.
    pub(super) canon: Vec<u8>,
}

/// The layer root and the in-root resolver.
pub(super) struct Root {
    pub(super) fd: Rc<OwnedFd>,
    /// The last resolution: lexical path and result.
    pub(super) cache: Option<(Vec<u8>, Resolved)>,
}

impl Root {
    /// Resolves the lexical directory path `path` (normalized) inside the
    /// root, following symlinks in every component with `RESOLVE_IN_ROOT`
    /// semantics, and creating missing directories if `create`.
    pub(super) fn resolve_dir(
        &mut self,
        path: &[u8],
        create: bool,
    ) -> Result<Resolved, ResolveError> {
        if let Some((key, res)) = &self.cache {
            if key == path {
                return Ok(res.clone());
            }
        }
        let mut cur: Option<OwnedFd> = None; // None: the root
        let mut names: Vec<Vec<u8>> = Vec::new();
        // Components still to walk, in reverse order.
        let mut pending: Vec<Vec<u8>> = path
            .split(|&b| b == b'/')
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            match name.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if names.pop().is_some() {
                        cur = self.open_canonical(&names).map_err(ResolveError::Io)?;
                    }
                    continue;
                }
                _ => {}
            }
            let dir = cur.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            match open_dir(dir, &name) {
                Ok(fd) => {
                    cur = Some(fd);
                    names.push(name);
                }
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(dir, name.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io(e)),
                    }
                    cur = Some(open_dir(dir, &name).map_err(ResolveError::Io)?);
                    names.push(name);
                }
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    match rfs::readlinkat(dir, name.as_slice(), Vec::new()) {
                        Ok(target) => {
                            hops += 1;
                            if hops > MAX_SYMLINK_HOPS {
                                return Err(ResolveError::Loop);
                            }
                            let target = target.into_bytes();
                            if target.is_empty() {
                                return Err(ResolveError::Io(Errno::NOENT));
                            }
                            if target[0] == b'/' {
                                cur = None;
                                names.clear();
                            }
                            pending.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
                        }
                        Err(Errno::INVAL) => return Err(ResolveError::NotDir),
                        Err(e) => return Err(ResolveError::Io(e)),
                    }
                }
                Err(e) => return Err(ResolveError::Io(e)),
            }
        }
        let res = Resolved {
            fd: cur.map_or_else(|| self.fd.clone(), Rc::new),
            canon: names.join(&b'/'),
        };
        self.cache = Some((path.to_vec(), res.clone()));
        Ok(res)
    }

    /// Opens the directory at canonical path `names` without following any
    /// symlink. `None` is the root.
    pub(super) fn open_canonical<T: AsRef<[u8]>>(
        &self,
        names: &[T],
    ) -> rustix::io::Result<Option<OwnedFd>> {
        let mut cur: Option<OwnedFd> = None;
        for name in names {
            let dir = cur.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            cur = Some(open_dir(dir, name.as_ref())?);
        }
        Ok(cur)
    }

    pub(super) fn invalidate(&mut self) {
        self.cache = None;
    }
}
