//! The build context: which files a COPY or ADD source names, and the tar
//! stream that carries them into the container.
//!
//! Theory of operation: a source is a path relative to the context (a
//! leading `/` too), cleaned lexically; one that climbs out (`../x`) is
//! refused. Its parent directories are resolved on the host and must stay
//! inside the context, so a symlinked directory cannot lead out. A source
//! that is itself a symlink is followed as docker does, resolved with the
//! context as the root ([`rless::inroot`]), and its target is sent under
//! the link's name; everything under a directory is read without following
//! symlinks: a symlink there is copied as a symlink, whatever it points
//! at. A `*`, `?` or `[…]` in the last component picks the matching names
//! of its directory (sorted); in an earlier one, the matching
//! directories. Paths the ignore file excludes are not
//! seen at all. The stream is written in name order with the files' modes
//! and times and the owner asked for (`--chown`, else 0:0), so one context
//! gives one stream. ADD of a local tar sends its entries instead
//! ([`super::add_tar`]).

use super::ignore::{glob, Ignore};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{0}: outside the build context")]
    Outside(String),
    #[error("{0}: no such file or directory in the build context")]
    Missing(String),
    #[error("cannot read {path} in the build context: {source}")]
    Read { path: String, source: io::Error },
    #[error("cannot send {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("{path}: {entry}: {why}")]
    Archive {
        path: String,
        entry: String,
        why: &'static str,
    },
    /// The free-space guard stopped an archive's entry.
    #[error("{path}: {entry}: {source}")]
    Full {
        path: String,
        entry: String,
        source: io::Error,
    },
}

/// One file or directory a source named.
#[derive(Debug, Clone)]
pub struct Source {
    /// Relative to the context, `/`-separated (empty for the context).
    pub rel: String,
    pub path: PathBuf,
    pub is_dir: bool,
}

impl Source {
    pub fn base_name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or("")
    }
}

/// Cleans `src` relative to the context root; `None` if it climbs out.
pub(super) fn clean(src: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The files `src` names in `context` (canonical). A wildcard in a
/// directory component (`pkgs/*/package.json`) picks each matching
/// directory, in name order, as docker does.
pub fn sources(context: &Path, src: &str, ignore: &Ignore) -> Result<Vec<Source>, ContextError> {
    let rel = clean(src).ok_or_else(|| ContextError::Outside(src.into()))?;
    let Some((dir, last)) = rel
        .rsplit_once('/')
        .filter(|(d, _)| d.contains(['*', '?', '[']))
    else {
        return sources_in(context, src, &rel, ignore);
    };
    let mut dirs = vec![String::new()];
    for comp in dir.split('/') {
        let mut next = Vec::new();
        for d in &dirs {
            let join = |n: &str| {
                if d.is_empty() {
                    n.to_string()
                } else {
                    format!("{d}/{n}")
                }
            };
            if !comp.contains(['*', '?', '[']) {
                next.push(join(comp));
                continue;
            }
            // Unreadable or missing: nothing matches there.
            let Ok(list) = fs::read_dir(context.join(d)) else {
                continue;
            };
            let mut names: Vec<String> = list
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| glob(comp.as_bytes(), n.as_bytes()))
                .filter(|n| context.join(d).join(n).is_dir())
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| join(n)));
        }
        dirs = next;
    }
    let mut out = Vec::new();
    for d in dirs {
        match sources_in(context, src, &format!("{d}/{last}"), ignore) {
            Ok(s) => out.extend(s),
            Err(ContextError::Missing(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        return Err(ContextError::Missing(src.into()));
    }
    Ok(out)
}

/// [`sources`] of `rel` (clean, wildcards only in its last component).
fn sources_in(
    context: &Path,
    src: &str,
    rel: &str,
    ignore: &Ignore,
) -> Result<Vec<Source>, ContextError> {
    let rel = rel.to_string();
    let (dir, last) = match rel.rsplit_once('/') {
        Some((d, l)) => (d.to_string(), l.to_string()),
        None => (String::new(), rel.clone()),
    };
    // The parent directory, symlinks resolved, must stay inside.
    let parent = context.join(&dir);
    let parent = parent.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ContextError::Missing(src.into()),
        _ => ContextError::Read {
            path: src.into(),
            source: e,
        },
    })?;
    if !parent.starts_with(context) {
        return Err(ContextError::Outside(src.into()));
    }
    let names: Vec<String> = if last.contains(['*', '?', '[']) {
        let mut v: Vec<String> = fs::read_dir(&parent)
            .map_err(|source| ContextError::Read {
                path: src.into(),
                source,
            })?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| glob(last.as_bytes(), n.as_bytes()))
            .collect();
        v.sort();
        v
    } else {
        vec![last.clone()]
    };
    let mut out = Vec::new();
    for name in names {
        let rel = if dir.is_empty() {
            name.clone()
        } else if name.is_empty() {
            dir.clone()
        } else {
            format!("{dir}/{name}")
        };
        let path = if name.is_empty() {
            parent.clone()
        } else {
            parent.join(&name)
        };
        let meta = fs::symlink_metadata(&path);
        // An excluded directory still gives what an exception keeps below
        // it (`build` with `!build/keep.txt`), as the context docker sends
        // holds that; the packer leaves the rest out.
        if !rel.is_empty()
            && ignore.excluded(&rel)
            && !(meta.as_ref().is_ok_and(|m| m.is_dir()) && ignore.may_keep_below(&rel))
        {
            continue;
        }
        match meta {
            Ok(m) if m.file_type().is_symlink() => {
                // As docker and podman: a named source (or a name a
                // wildcard matched) that is a symlink is followed, inside
                // the context as if it were the root.
                let (path, is_dir) = follow(context, &rel, ignore)?;
                out.push(Source { rel, is_dir, path });
            }
            Ok(m) => out.push(Source {
                rel,
                is_dir: m.is_dir(),
                path,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ContextError::Read { path: rel, source }),
        }
    }
    if out.is_empty() {
        return Err(ContextError::Missing(src.into()));
    }
    Ok(out)
}

/// Where the symlink `rel` of the context leads, resolved with the context
/// as the root (an absolute target or a `..` cannot leave it), and whether
/// that is a directory. A target that does not exist, or that the ignore
/// file leaves out, is missing.
fn follow(context: &Path, rel: &str, ignore: &Ignore) -> Result<(PathBuf, bool), ContextError> {
    use rustix::fs::{OFlags, ResolveFlags};
    let read = |source: io::Error| ContextError::Read {
        path: rel.to_string(),
        source,
    };
    let root = fs::File::open(context).map_err(read)?;
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let in_root = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match rless::inroot::open(std::os::fd::AsFd::as_fd(&root), rel, flags, in_root) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(ContextError::Missing(rel.into())),
        Err(e) => return Err(read(e.into())),
    };
    let target = fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(read)?;
    let inside = target
        .strip_prefix(context)
        .map_err(|_| ContextError::Outside(rel.into()))?;
    let inside = inside.to_string_lossy();
    if !inside.is_empty() && ignore.excluded(&inside) {
        return Err(ContextError::Missing(rel.into()));
    }
    let is_dir = rustix::fs::fstat(&fd).map_err(|e| read(e.into()))?.st_mode & 0o170000 == 0o040000;
    Ok((target, is_dir))
}

/// Writes tar entries into a stream.
pub struct Packer<W: Write> {
    pub(super) b: tar::Builder<W>,
    pub(super) owner: Option<(u32, u32)>,
    /// `--chmod`'s permission bits, for every file and directory sent.
    pub(super) mode: Option<u32>,
}

impl<W: Write> Packer<W> {
    /// `owner`: `--chown`'s ids; `None` is root (and, for an extracted tar,
    /// the archive's own owners).
    pub fn new(out: W, owner: Option<(u32, u32)>) -> Packer<W> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        Packer {
            b,
            owner,
            mode: None,
        }
    }

    /// Every file and directory sent gets these permission bits (`--chmod`).
    pub fn with_mode(mut self, mode: Option<u32>) -> Packer<W> {
        self.mode = mode;
        self
    }

    pub fn finish(self) -> Result<W, ContextError> {
        self.b.into_inner().map_err(|source| ContextError::Write {
            path: "the end of the stream".into(),
            source,
        })
    }

    /// `src` as the entry `name` (for a directory: its contents under
    /// `name`, or at the top when `name` is empty).
    pub fn add(&mut self, src: &Source, name: &str, ignore: &Ignore) -> Result<(), ContextError> {
        if src.is_dir {
            return self.add_dir_contents(&src.path, &src.rel, name, ignore);
        }
        self.add_one(&src.path, &src.rel, name)
    }

    fn add_dir_contents(
        &mut self,
        dir: &Path,
        rel: &str,
        name: &str,
        ignore: &Ignore,
    ) -> Result<(), ContextError> {
        let read = |path, source| ContextError::Read { path, source };
        walk(dir, rel, name, ignore, &read, &mut |path, crel, cname| {
            self.add_one(path, crel, cname)
        })
    }

    pub(super) fn add_one(
        &mut self,
        path: &Path,
        rel: &str,
        name: &str,
    ) -> Result<(), ContextError> {
        let read = |source| ContextError::Read {
            path: rel.to_string(),
            source,
        };
        let write = |source| ContextError::Write {
            path: rel.to_string(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(read)?;
        let (uid, gid) = self.owner.unwrap_or((0, 0));
        let mut h = tar::Header::new_gnu();
        h.set_mode(self.mode.unwrap_or(meta.mode() & 0o7777));
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mtime(meta.mtime().max(0) as u64);
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            self.b
                .append_data(&mut h, format!("{name}/"), io::empty())
                .map_err(write)
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(read)?;
            h.set_mode(0o777);
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            self.b.append_link(&mut h, name, target).map_err(write)
        } else if ft.is_file() {
            let f = fs::File::open(path).map_err(read)?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            // A file that changes size while read would break the
            // stream: exactly the stat'ed length is sent.
            self.b
                .append_data(&mut h, name, f.take(meta.len()))
                .map_err(write)
        } else if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            self.b.append_data(&mut h, name, io::empty()).map_err(write)
        } else {
            // Sockets and device nodes are left out.
            Ok(())
        }
    }
}

/// Visits the entries below `dir` (`rel` in the context, `name` in the
/// stream) as a COPY sends them: in name order, depth first, a directory
/// before its contents; what the ignore file excludes is left out, and
/// below an excluded directory only what an exception may keep is looked
/// at. `visit(path, rel, name)` gets each entry kept; `err(rel, e)` makes
/// the error of a read that failed. Shared by the packer and the build
/// cache's digest, so that both see the same files.
pub fn walk<E>(
    dir: &Path,
    rel: &str,
    name: &str,
    ignore: &Ignore,
    err: &dyn Fn(String, io::Error) -> E,
    visit: &mut dyn FnMut(&Path, &str, &str) -> Result<(), E>,
) -> Result<(), E> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| err(rel.to_string(), e))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    for n in names {
        let crel = if rel.is_empty() {
            n.clone()
        } else {
            format!("{rel}/{n}")
        };
        let cname = if name.is_empty() {
            n.clone()
        } else {
            format!("{name}/{n}")
        };
        let path = dir.join(&n);
        let meta = fs::symlink_metadata(&path).map_err(|e| err(crel.clone(), e))?;
        let out = ignore.excluded(&crel);
        if meta.is_dir() {
            if !out {
                visit(&path, &crel, &cname)?;
            }
            if !out || ignore.may_keep_below(&crel) {
                walk(&path, &crel, &cname, ignore, err, visit)?;
            }
        } else if !out {
            visit(&path, &crel, &cname)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        fs::create_dir_all(ctx.join("d/e")).unwrap();
        fs::write(ctx.join("d/a.txt"), "a").unwrap();
        fs::write(ctx.join("d/b.txt"), "b").unwrap();
        fs::write(t.path().join("outside"), "x").unwrap();
        std::os::unix::fs::symlink("..", ctx.join("up")).unwrap();
        std::os::unix::fs::symlink("../outside", ctx.join("link")).unwrap();
        let ctx = ctx.canonicalize().unwrap();
        let none = Ignore::parse("");
        assert!(matches!(
            sources(&ctx, "../outside", &none),
            Err(ContextError::Outside(_))
        ));
        assert!(matches!(
            sources(&ctx, "up/outside", &none),
            Err(ContextError::Outside(_))
        ));
        // A source that is a link is followed with the context as the
        // root: `../outside` is the context's own (missing) `outside`.
        assert!(matches!(
            sources(&ctx, "link", &none),
            Err(ContextError::Missing(_))
        ));
        std::os::unix::fs::symlink("d/a.txt", ctx.join("to-file")).unwrap();
        std::os::unix::fs::symlink("/d", ctx.join("to-dir")).unwrap();
        let s = sources(&ctx, "to-*", &none).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].is_dir && s[0].rel == "to-dir" && s[0].path == ctx.join("d"));
        assert!(!s[1].is_dir && s[1].base_name() == "to-file");
        assert_eq!(s[1].path, ctx.join("d/a.txt"));
        // A wildcard in a directory component picks each matching one.
        fs::create_dir_all(ctx.join("p/x")).unwrap();
        fs::create_dir_all(ctx.join("p/y")).unwrap();
        fs::write(ctx.join("p/x/pkg.json"), "x").unwrap();
        fs::write(ctx.join("p/y/pkg.json"), "y").unwrap();
        fs::write(ctx.join("p/z"), "a file").unwrap();
        let s = sources(&ctx, "p/*/pkg.json", &none).unwrap();
        assert_eq!(
            s.iter().map(|s| s.rel.as_str()).collect::<Vec<_>>(),
            ["p/x/pkg.json", "p/y/pkg.json"]
        );
        let s = sources(&ctx, "*/?/*.json", &Ignore::parse("p/y")).unwrap();
        assert_eq!(s.len(), 1);
        assert!(matches!(
            sources(&ctx, "p/*/nope", &none),
            Err(ContextError::Missing(_))
        ));
        // An excluded directory gives what an exception keeps below it.
        let keep = Ignore::parse("d\n!d/b.txt\n");
        let s = sources(&ctx, "d", &keep).unwrap();
        assert!(s[0].is_dir && s[0].rel == "d");
        let mut p = Packer::new(Vec::new(), None);
        p.add(&s[0], "", &keep).unwrap();
        let bytes = p.finish().unwrap();
        let names: Vec<String> = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["b.txt"]);
        assert!(matches!(
            sources(&ctx, "d", &Ignore::parse("d\n!x\n")),
            Err(ContextError::Missing(_))
        ));
        // ...unless the ignore file leaves the target out.
        assert!(matches!(
            sources(&ctx, "to-file", &Ignore::parse("d/a.txt")),
            Err(ContextError::Missing(_))
        ));
        let s = sources(&ctx, "/d/*.txt", &none).unwrap();
        assert_eq!(
            s.iter().map(|s| s.rel.as_str()).collect::<Vec<_>>(),
            ["d/a.txt", "d/b.txt"]
        );
        let s = sources(&ctx, ".", &none).unwrap();
        assert!(s[0].is_dir && s[0].rel.is_empty());
        assert!(matches!(
            sources(&ctx, "d/*.txt", &Ignore::parse("d/*.txt")),
            Err(ContextError::Missing(_))
        ));
        let mut p = Packer::new(Vec::new(), Some((5, 6)));
        let d = sources(&ctx, "d", &Ignore::parse("d/b.txt"))
            .unwrap()
            .remove(0);
        p.add(&d, "", &Ignore::parse("d/b.txt")).unwrap();
        let bytes = p.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let names: Vec<(String, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(names, [("a.txt".into(), 5), ("e/".into(), 5)]);
    }
}
