//! ADD of a local archive: its entries, read on the host, go into the
//! step's tar stream, and `build-copy` unpacks them in the container.
//!
//! Theory of operation: the archive (plain tar, gzip, bzip2, xz or zstd,
//! told by its first bytes: [`rless::image::compressed`]) is read entry by
//! entry and each entry is written again, with a fresh header, below the
//! destination, as docker extracts an ADDed archive:
//!
//! - names lose a leading `/` and their `.` components, and `..` takes
//!   back one component; a name or hard link target that would climb
//!   above the destination stops the step (docker's "breakout" refusal);
//! - owners, modes, times, symlinks (their targets as written), hard
//!   links and fifos are kept; a `--chown` or `--chmod` replaces owners
//!   or modes;
//! - a GNU sparse file is sent whole (its holes as zeros), as docker
//!   writes it;
//! - device nodes cannot be made in a user namespace: they are left out
//!   with a warning naming them;
//! - a name that starts with `.wh.` is an ordinary file for docker's
//!   ADD, but in an image layer it would delete a file of the image (as
//!   `commit` says when it leaves one out): it is left out with a warning.
//!
//! Where the entries land is the unpacker's business ([`rless::container::
//! cp`]'s `Tree::unpack`, in the container's namespaces): every parent is
//! opened beneath the destination without following a symlink, so an
//! archive that plants `l -> /etc` and then `l/passwd` is refused there,
//! and a failed step leaves nothing (its container is removed). Each
//! entry's data passes through the store's free-space guard
//! ([`rless::image::space::SpaceGuard`]), so a bomb or a huge sparse
//! file stops the step before the disk fills.

use super::context::{clean, ContextError, Packer, Source};
use rless::image::space::SpaceGuard;
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

/// What an archive's entries left out, for the warnings.
#[derive(Debug, Default)]
pub struct LeftOut {
    /// Device nodes.
    pub devices: Vec<String>,
    /// Names that start with `.wh.` (and what is below them).
    pub whiteouts: Vec<String>,
}

impl LeftOut {
    /// The warnings for ADD of `rel`, one line each.
    pub fn warnings(&self, rel: &str) -> Vec<String> {
        let list = |v: &[String]| {
            let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if v.len() > 5 {
                s.push_str(&format!(" and {} more", v.len() - 5));
            }
            s
        };
        let mut out = Vec::new();
        if !self.devices.is_empty() {
            out.push(format!(
                "ADD {rel}: device nodes cannot be made in a user namespace, left out: {}",
                list(&self.devices)
            ));
        }
        if !self.whiteouts.is_empty() {
            out.push(format!(
                "ADD {rel}: {} left out: an image layer cannot hold a name that starts with .wh.",
                list(&self.whiteouts)
            ));
        }
        out
    }
}

impl<W: Write> Packer<W> {
    /// ADD of the local archive `src`: its entries, below `name`; `store`
    /// is the store's directory, whose free space is watched.
    pub fn add_archive(
        &mut self,
        src: &Source,
        name: &str,
        store: &Path,
    ) -> Result<LeftOut, ContextError> {
        let read = |source| ContextError::Read {
            path: src.rel.clone(),
            source,
        };
        let bad = |entry: &str, why: &'static str| ContextError::Archive {
            path: src.rel.clone(),
            entry: entry.to_string(),
            why,
        };
        let under = |p: String| {
            if name.is_empty() {
                p
            } else {
                format!("{name}/{p}")
            }
        };
        let f = fs::File::open(&src.path).map_err(read)?;
        let (r, _) = rless::image::compressed::decoder(io::BufReader::new(f)).map_err(read)?;
        let mut ar = tar::Archive::new(r);
        let mut left = LeftOut::default();
        for e in ar.entries().map_err(read)? {
            let mut e = e.map_err(read)?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            use tar::EntryType as T;
            let kind = e.header().entry_type();
            if !matches!(
                kind,
                T::Regular
                    | T::Continuous
                    | T::GNUSparse
                    | T::Directory
                    | T::Symlink
                    | T::Link
                    | T::Fifo
                    | T::Char
                    | T::Block
            ) {
                // PAX global headers and the like carry no file.
                continue;
            }
            let Some(p) = clean(&raw) else {
                return Err(bad(&raw, "a name that leads out of the destination"));
            };
            if p.is_empty() {
                continue;
            }
            let wh = |n: &str| n.split('/').any(|c| c.starts_with(".wh."));
            // A hard link's target, as a name of the archive.
            let linked = match kind {
                T::Link => {
                    let t = e
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    match clean(&t).filter(|t| !t.is_empty()) {
                        Some(t) => Some(t),
                        None => {
                            return Err(bad(&raw, "a hard link to a name out of the destination"))
                        }
                    }
                }
                _ => None,
            };
            // A hard link to what is left out goes with it.
            if wh(&p)
                || linked
                    .as_deref()
                    .is_some_and(|t| left.whiteouts.iter().any(|w| w == t))
            {
                left.whiteouts.push(p);
                continue;
            }
            if matches!(kind, T::Char | T::Block)
                || linked
                    .as_deref()
                    .is_some_and(|t| left.devices.iter().any(|d| d == t))
            {
                left.devices.push(p);
                continue;
            }
            let old = e.header();
            let mut h = tar::Header::new_gnu();
            h.set_mode(old.mode().map_err(read)? & 0o7777);
            let (uid, gid) = match self.owner {
                Some((u, g)) => (u.into(), g.into()),
                None => (old.uid().map_err(read)?, old.gid().map_err(read)?),
            };
            h.set_uid(uid);
            h.set_gid(gid);
            h.set_mtime(old.mtime().unwrap_or(0));
            if let (Some(m), false) = (self.mode, kind == T::Symlink) {
                h.set_mode(m);
            }
            let p = under(p);
            let write = |source: io::Error| {
                if source.kind() == io::ErrorKind::StorageFull {
                    ContextError::Full {
                        path: src.rel.clone(),
                        entry: raw.clone(),
                        source,
                    }
                } else {
                    ContextError::Write {
                        path: src.rel.clone(),
                        source,
                    }
                }
            };
            match kind {
                T::Symlink | T::Link => {
                    let target = match linked {
                        Some(t) => under(t),
                        None => e
                            .link_name_bytes()
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default(),
                    };
                    h.set_entry_type(kind);
                    h.set_size(0);
                    self.b.append_link(&mut h, &p, &target).map_err(write)?;
                }
                T::Directory | T::Fifo => {
                    h.set_entry_type(kind);
                    h.set_size(0);
                    let p = if kind == T::Directory {
                        format!("{p}/")
                    } else {
                        p
                    };
                    self.b.append_data(&mut h, p, io::empty()).map_err(write)?;
                }
                _ => {
                    // A sparse file's size is its whole size.
                    let size = e.size();
                    h.set_entry_type(T::Regular);
                    h.set_size(size);
                    let data = SpaceGuard::new((&mut e).take(size), store);
                    self.b.append_data(&mut h, &p, data).map_err(write)?;
                }
            }
        }
        Ok(left)
    }
}

/// Whether `path` is a tar archive (plain or compressed), for ADD.
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok((mut r, _)) = rless::image::compressed::decoder(io::BufReader::new(f)) else {
        return false;
    };
    let mut block = [0u8; 512];
    if r.read_exact(&mut block).is_err() {
        return false;
    }
    &block[257..262] == b"ustar"
}
