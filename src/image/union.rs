//! An image's layers read as the union reads them, without mounting: for
//! `diff` ("is this in the image?") and for the files `run` derives from
//! the image's own (the keep-id user's `/etc/passwd` entry).
//!
//! Theory of operation: the layers are looked at topmost first, and a
//! whiteout or an opaque directory in a layer hides what is below it. Both
//! forms of the layout are read in every layer ([`fuse_overlay::layout`]):
//! 0:0 device nodes and the opaque xattr as the store and kernel overlayfs
//! write them, and the `.wh.` marker files fuse-overlay writes where
//! those cannot be made. Nothing is ever followed: a symlink in a layer is
//! a non-directory like any file, so a hostile layer cannot make rless read
//! outside it.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The image's layers (topmost first), read as the union reads them.
pub struct Union<'a> {
    pub layers: &'a [PathBuf],
}

/// What [`Union::lookup`] found.
pub enum Found {
    Missing,
    /// Not a directory: the object of this layer.
    NonDir(usize),
    /// A directory, merged from these layers.
    Dir(Vec<usize>),
}

/// Whether the directory `p` of a layer is opaque, in either form.
fn layer_opaque(p: &Path) -> bool {
    super::import::is_opaque(p)
        || p.join(fuse_overlay::layout::OPAQUE_MARKER)
            .symlink_metadata()
            .is_ok()
}

/// Whether `m` is a whiteout as the store writes them (a 0:0 device node).
pub fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// A marker name (whiteout or opaque marker), not a name of the tree.
fn is_marker(name: &[u8]) -> bool {
    name.starts_with(fuse_overlay::layout::WHITEOUT_PREFIX.as_bytes())
        && fuse_overlay::layout::unescape(name).is_none()
}

impl Union<'_> {
    /// The layers the image's root merges: down to the first opaque one.
    pub fn root(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            out.push(i);
            if layer_opaque(l) {
                break;
            }
        }
        out
    }

    /// Looks `name` up in the image's directory `dir` (relative), merged
    /// from `layers`.
    pub fn lookup(&self, layers: &[usize], dir: &Path, name: &OsStr) -> io::Result<Found> {
        if is_marker(name.as_bytes()) {
            return Ok(Found::Missing);
        }
        let mut merged = Vec::new();
        for &l in layers {
            let p = self.layers[l].join(dir).join(name);
            match p.symlink_metadata() {
                Ok(m) if is_whiteout(&m) => break,
                Ok(m) if !m.is_dir() => {
                    if merged.is_empty() {
                        return Ok(Found::NonDir(l));
                    }
                    break;
                }
                Ok(_) => {
                    merged.push(l);
                    if layer_opaque(&p) {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                    let mut marker = OsString::from(fuse_overlay::layout::WHITEOUT_PREFIX);
                    marker.push(name);
                    if self.layers[l]
                        .join(dir)
                        .join(marker)
                        .symlink_metadata()
                        .is_ok()
                    {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(if merged.is_empty() {
            Found::Missing
        } else {
            Found::Dir(merged)
        })
    }

    /// The (stored) names in the image's directory `dir`, merged from `layers`.
    pub fn list(&self, layers: &[usize], dir: &Path) -> io::Result<BTreeSet<OsString>> {
        let mut hidden = BTreeSet::new();
        let mut out = BTreeSet::new();
        for &l in layers {
            let mut here_hidden = Vec::new();
            for e in std::fs::read_dir(self.layers[l].join(dir))? {
                let e = e?;
                let name = e.file_name();
                if let Some(t) = fuse_overlay::layout::whiteout_target(name.as_bytes()) {
                    if fuse_overlay::layout::unescape(name.as_bytes()).is_none() {
                        here_hidden.push(OsStr::from_bytes(t).to_owned());
                        continue;
                    }
                }
                if is_marker(name.as_bytes()) {
                    continue;
                }
                if e.file_type()?.is_char_device() && is_whiteout(&e.metadata()?) {
                    here_hidden.push(name);
                } else if !hidden.contains(&name) {
                    out.insert(name);
                }
            }
            hidden.extend(here_hidden);
        }
        Ok(out)
    }

    /// The content of the image's regular file at `path` (relative, no
    /// `..`), at most `limit` bytes: `None` if the image has no such
    /// file. A symlink or any other non-regular object on the way, or at
    /// the end, is an error ([`ErrorKind::InvalidData`]): it is not
    /// followed.
    pub fn read_file(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let not_plain = || io::Error::new(ErrorKind::InvalidData, "not a plain file or directory");
        let names: Vec<&OsStr> = path.iter().collect();
        let Some((last, dirs)) = names.split_last() else {
            return Err(not_plain());
        };
        let mut layers = self.root();
        let mut dir = PathBuf::new();
        for name in dirs {
            match self.lookup(&layers, &dir, name)? {
                Found::Missing => return Ok(None),
                Found::NonDir(_) => return Err(not_plain()),
                Found::Dir(l) => layers = l,
            }
            dir.push(name);
        }
        let l = match self.lookup(&layers, &dir, last)? {
            Found::Missing => return Ok(None),
            Found::Dir(_) => return Err(not_plain()),
            Found::NonDir(l) => l,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            // Not followed; and a FIFO planted there must not block the open.
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(self.layers[l].join(&dir).join(last))?;
        if !file.metadata()?.is_file() {
            return Err(not_plain());
        }
        let mut out = Vec::new();
        file.take(limit).read_to_end(&mut out)?;
        Ok(Some(out))
    }
}
