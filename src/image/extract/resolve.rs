//! Paths inside the layer: normalising entry names and resolving parents
//! inside the root, following symlinks planted by earlier entries.

use super::*;

pub(super) fn after_entry(after: &Option<String>) -> String {
    match after {
        Some(path) => format!(" after {path}"),
        None => String::new(),
    }
}

/// A tar stream error as a message: the tar crate's header parse errors
/// quote the header's bytes, binary when the stream is no tar at all (a
/// file in a compression rless does not know, say), and those are said in
/// words instead.
pub(super) fn in_words(e: &io::Error) -> String {
    let text = e.to_string();
    if text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        text
    } else {
        "not a tar archive, or a damaged tar header".into()
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

/// A directory resolved below the layer root.
#[derive(Clone)]
pub(super) struct Resolved {
    pub(super) fd: Rc<OwnedFd>,
    /// Its canonical (symlink-free) path below the root.
    pub(super) canon: Vec<u8>,
}

/// The layer root, and the last directory resolved in it.
pub(super) struct Root {
    pub(super) fd: Rc<OwnedFd>,
    /// The last resolution: lexical path and result.
    pub(super) cache: Option<(Vec<u8>, Resolved)>,
}

impl Root {
    /// Resolves the lexical directory path `path` (normalized) inside the
    /// root with `RESOLVE_IN_ROOT` semantics ([`crate::inroot::dir`]),
    /// creating missing directories if `create`. ENOTDIR where a component
    /// is neither a directory nor a symlink, ELOOP past 40 symlinks.
    pub(super) fn resolve_dir(&mut self, path: &[u8], create: bool) -> Result<Resolved, Errno> {
        if let Some((key, res)) = &self.cache {
            if key == path {
                return Ok(res.clone());
            }
        }
        let mode = create.then(|| Mode::from_raw_mode(0o755));
        let d = crate::inroot::dir(self.fd.as_fd(), path, OFlags::RDONLY, mode)?;
        let res = Resolved {
            fd: d.fd.map_or_else(|| self.fd.clone(), Rc::new),
            canon: d.canon,
        };
        self.cache = Some((path.to_vec(), res.clone()));
        Ok(res)
    }

    /// Opens the directory at canonical path `canon` without following
    /// any symlink.
    pub(super) fn open_canonical(&self, canon: &[u8]) -> rustix::io::Result<Rc<OwnedFd>> {
        Ok(
            crate::inroot::reopen(self.fd.as_fd(), canon, OFlags::RDONLY)?
                .map_or_else(|| self.fd.clone(), Rc::new),
        )
    }

    pub(super) fn invalidate(&mut self) {
        self.cache = None;
    }
}
