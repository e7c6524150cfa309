//! Resolving a path inside a directory tree without leaving it: the one
//! resolver for `cp` (a container's root, which its processes may fill
//! with hostile symlinks) and for layer extraction (a tar's entries, which
//! may plant symlinks for later entries to follow).
//!
//! Theory of operation: [`open`] asks the kernel first, with `openat2` and
//! `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`. `openat2`
//! answers EAGAIN when a rename or a mount anywhere on the system raced the
//! lookup; it is asked again. ENOSYS (before Linux 5.6: RHEL 8's 4.18) is
//! remembered for the life of the process, and every later call goes
//! straight to [`walk`], the same resolution in userspace. Extraction
//! always uses [`dir`], the userspace walk of a directory path, because it
//! also makes missing directories and needs their canonical paths.
//!
//! The walk resolves one name at a time, relative to directory fds it
//! holds, and never lets the kernel follow a symlink or a `..`:
//! - a directory on the way is opened with `O_DIRECTORY | O_NOFOLLOW`;
//!   where that fails because the name is a symlink, its target (read with
//!   `readlinkat`) is pushed in front of the names still to walk, and an
//!   absolute target starts again from the start (IN_ROOT). Under
//!   NO_SYMLINKS a symlink is ELOOP instead;
//! - `..` drops the last name of the canonical path and goes back to the
//!   fd held for the level above: it stops at the start (IN_ROOT) or is
//!   EXDEV past it (BENEATH). The fds of the last [`WINDOW`] levels are
//!   held; past them the window is filled again by opening the canonical
//!   path from the start, name by name, each with `O_NOFOLLOW`. So `..`
//!   costs nothing in the common case and a hostile `a/b/…/../../…` at
//!   most one reopen per [`WINDOW`] levels, the fds held stay bounded
//!   however deep the path, and the filesystem's own `..` is never opened
//!   (a directory moved out of the tree meanwhile leads nowhere);
//! - a resolution walks at most [`MAX_NAMES`] names (a symlink's target
//!   counts its names, a refill of the window the names it opens again),
//!   far above what [`MAX_HOPS`] symlinks of
//!   `PATH_MAX` bytes can hold, so no input makes it work without end;
//! - the last name is read with `readlinkat` first where it may be
//!   followed, then opened with `O_NOFOLLOW`. A symlink planted between the
//!   two is caught (ELOOP, or an `O_PATH` fd of a symlink) and the name is
//!   walked again.
//!
//! Limits: at most [`MAX_HOPS`] symlinks per resolution, as the kernel.
//! Magic links (`/proc/self/fd/N`) are never followed as such: their text
//! is resolved inside the tree like any other symlink's, which is at least
//! as strict as RESOLVE_NO_MAGICLINKS. `O_CREAT` is not supported on the
//! fallback. Names are bytes: a symlink's target need not be UTF-8.

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The kernel's limit on symlinks followed in one lookup.
pub const MAX_HOPS: usize = 40;

/// Directory fds a walk holds: the levels `..` goes back to at once.
const WINDOW: usize = 32;

/// Names one resolution may walk.
const MAX_NAMES: usize = 1 << 17;

/// Set once `openat2` has answered ENOSYS.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A directory reached below the start of a walk.
pub struct Dir {
    /// `None`: the start itself.
    pub fd: Option<OwnedFd>,
    /// Its canonical path below the start: names joined by `/`, with no
    /// symlink, `.` or `..`; empty for the start.
    pub canon: Vec<u8>,
}

/// Opens `path` below `dir` with `flags`, resolved as `resolve` says:
/// IN_ROOT (with or without NO_MAGICLINKS) or BENEATH with NO_SYMLINKS,
/// the two ways rless uses.
pub fn open(
    dir: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let mut tries = 0;
        loop {
            match rfs::openat2(dir, path, flags, Mode::empty(), resolve) {
                Err(Errno::AGAIN) if tries < 100 => tries += 1,
                // Renames racing every try: the walk below does not care.
                Err(Errno::AGAIN) => break,
                Err(Errno::NOSYS) => {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                    break;
                }
                r => return r,
            }
        }
    }
    walk(dir, path, flags, resolve)
}

/// Resolves the directory path `path` below `start` as `RESOLVE_IN_ROOT`
/// would, opening each directory with `dir_flags` (`O_RDONLY` or
/// `O_PATH`), and making a missing one with mode `create` if given.
pub fn dir(
    start: BorrowedFd<'_>,
    path: &[u8],
    dir_flags: OFlags,
    create: Option<Mode>,
) -> rustix::io::Result<Dir> {
    let mut w = Walk::new(start, path, true, dir_flags)?;
    while let Some(name) = w.next()? {
        if name == b".." {
            w.up()?;
        } else {
            w.enter(name, create, false)?;
        }
    }
    Ok(w.into_dir())
}

/// Opens the directory at canonical path `canon` below `start` (as
/// [`Dir::canon`]) without following any symlink; `None` for the start.
pub fn reopen(
    start: BorrowedFd<'_>,
    canon: &[u8],
    dir_flags: OFlags,
) -> rustix::io::Result<Option<OwnedFd>> {
    let mut cur: Option<OwnedFd> = None;
    for name in canon.split(|&b| b == b'/').filter(|n| !n.is_empty()) {
        let at = cur.as_ref().map_or(start, |fd| fd.as_fd());
        cur = Some(open_dir(at, name, dir_flags)?);
    }
    Ok(cur)
}

/// The userspace resolution of [`open`] (see the module's documentation).
pub fn walk(
    start: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    if flags.contains(OFlags::CREATE) {
        return Err(Errno::INVAL);
    }
    let in_root = resolve.contains(ResolveFlags::IN_ROOT);
    let no_symlinks = resolve.contains(ResolveFlags::NO_SYMLINKS);
    let flags = flags | OFlags::CLOEXEC;
    let mut w = Walk::new(start, path.as_bytes(), in_root, OFlags::PATH)?;
    while let Some(name) = w.next()? {
        if name == b".." {
            w.up()?;
            continue;
        }
        if !w.at_last() {
            w.enter(name, None, no_symlinks)?;
            continue;
        }
        // A trailing `/` or `/.` asks for a directory, and follows.
        let must_dir = !w.pending.is_empty();
        let follow = must_dir || !flags.contains(OFlags::NOFOLLOW);
        if follow || no_symlinks {
            match rfs::readlinkat(w.cur(), name.as_slice(), Vec::new()) {
                Ok(target) => {
                    if no_symlinks && (follow || !flags.contains(OFlags::PATH)) {
                        return Err(Errno::LOOP);
                    }
                    if follow {
                        w.follow(target.into_bytes())?;
                        continue;
                    }
                }
                Err(Errno::INVAL) => {} // not a symlink
                Err(e) => return Err(e),
            }
        }
        let mut f = flags;
        if follow {
            f |= OFlags::NOFOLLOW;
        }
        if must_dir {
            f |= OFlags::DIRECTORY;
        }
        match rfs::openat(w.cur(), name.as_slice(), f, Mode::empty()) {
            Ok(fd) if follow && f.contains(OFlags::PATH) && is_symlink_fd(&fd) => {}
            Ok(fd) => return Ok(fd),
            Err(Errno::LOOP) if follow => {}
            Err(e) => return Err(e),
        }
        // The last name became a symlink since readlinkat: walk it again.
        w.again(name)?;
    }
    // Nothing left to open by name: the path ends at a directory walked.
    rfs::openat(w.cur(), ".", flags, Mode::empty())
}

/// A resolution under way: where it is, and the names still to walk.
struct Walk<'a> {
    start: BorrowedFd<'a>,
    /// The canonical path walked so far (as [`Dir::canon`]).
    canon: Vec<u8>,
    /// Its depth (names in `canon`).
    depth: usize,
    /// The fds of the last levels of `canon`, the current directory last
    /// (at most [`WINDOW`]; none at the start).
    held: std::collections::VecDeque<OwnedFd>,
    /// Names walked so far.
    walked: usize,
    /// Names still to walk, the next one last.
    pending: Vec<Vec<u8>>,
    hops: usize,
    in_root: bool,
    dir_flags: OFlags,
}

impl<'a> Walk<'a> {
    fn new(
        start: BorrowedFd<'a>,
        path: &[u8],
        in_root: bool,
        dir_flags: OFlags,
    ) -> rustix::io::Result<Self> {
        // An absolute path starts at the root under IN_ROOT; under BENEATH
        // the kernel refuses it.
        if path.first() == Some(&b'/') && !in_root {
            return Err(Errno::XDEV);
        }
        Ok(Walk {
            start,
            canon: Vec::new(),
            depth: 0,
            held: std::collections::VecDeque::new(),
            walked: 0,
            pending: split_rev(path),
            hops: 0,
            in_root,
            dir_flags,
        })
    }

    fn cur(&self) -> BorrowedFd<'_> {
        self.held.back().map_or(self.start, |fd| fd.as_fd())
    }

    /// The next name that is not `""` (from `//` or a trailing `/`) or `.`;
    /// ELOOP past [`MAX_NAMES`].
    fn next(&mut self) -> rustix::io::Result<Option<Vec<u8>>> {
        while let Some(name) = self.pending.pop() {
            if !is_empty_name(&name) {
                self.walked += 1;
                if self.walked > MAX_NAMES {
                    return Err(Errno::LOOP);
                }
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Whether the name just taken is the last (only empty names follow).
    fn at_last(&self) -> bool {
        self.pending.iter().all(|n| is_empty_name(n))
    }

    /// `..`: one name up the canonical path, never above the start.
    fn up(&mut self) -> rustix::io::Result<()> {
        if self.depth == 0 {
            return if self.in_root {
                Ok(())
            } else {
                Err(Errno::XDEV)
            };
        }
        let cut = self.canon.iter().rposition(|&b| b == b'/').unwrap_or(0);
        self.canon.truncate(cut);
        self.depth -= 1;
        self.held.pop_back();
        if self.depth > 0 && self.held.is_empty() {
            // Past the window: open the path again, keeping its last levels.
            // Those opens count against the names a resolution may walk.
            self.walked += self.depth;
            if self.walked > MAX_NAMES {
                return Err(Errno::LOOP);
            }
            let canon = std::mem::take(&mut self.canon);
            let refilled = canon.split(|&b| b == b'/').try_for_each(|name| {
                let at = self.held.back().map_or(self.start, |fd| fd.as_fd());
                let fd = open_dir(at, name, self.dir_flags)?;
                self.hold(fd);
                Ok(())
            });
            self.canon = canon;
            refilled?;
        }
        Ok(())
    }

    /// Holds `fd` as the current directory's, letting go of the oldest
    /// past [`WINDOW`].
    fn hold(&mut self, fd: OwnedFd) {
        if self.held.len() == WINDOW {
            self.held.pop_front();
        }
        self.held.push_back(fd);
    }

    /// Where the walk ended, as a [`Dir`].
    fn into_dir(mut self) -> Dir {
        Dir {
            fd: self.held.pop_back().filter(|_| self.depth > 0),
            canon: self.canon,
        }
    }

    /// Walks the symlink target `target` from here (or from the start if
    /// it is absolute) before the names still to walk.
    fn follow(&mut self, target: Vec<u8>) -> rustix::io::Result<()> {
        self.hop()?;
        match target.first() {
            None => return Err(Errno::NOENT),
            Some(b'/') if !self.in_root => return Err(Errno::XDEV),
            Some(b'/') => {
                self.held.clear();
                self.canon.clear();
                self.depth = 0;
            }
            Some(_) => {}
        }
        self.pending.extend(split_rev(&target));
        Ok(())
    }

    /// Walks `name` once more: it changed under the walk.
    fn again(&mut self, name: Vec<u8>) -> rustix::io::Result<()> {
        self.hop()?;
        self.pending.push(name);
        Ok(())
    }

    fn hop(&mut self) -> rustix::io::Result<()> {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            return Err(Errno::LOOP);
        }
        Ok(())
    }

    /// Moves into directory `name`, following it if it is a symlink (ELOOP
    /// under `no_symlinks`), making it if it is missing and `create` says
    /// with what mode. ENOTDIR where it is something else.
    fn enter(
        &mut self,
        name: Vec<u8>,
        create: Option<Mode>,
        no_symlinks: bool,
    ) -> rustix::io::Result<()> {
        let dir = self.cur();
        let opened = match open_dir(dir, &name, self.dir_flags) {
            Err(Errno::NOENT) if create.is_some() => {
                match rfs::mkdirat(dir, name.as_slice(), create.unwrap_or(Mode::empty())) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir(dir, &name, self.dir_flags)
            }
            r => r,
        };
        match opened {
            Ok(fd) => {
                self.hold(fd);
                if self.depth > 0 {
                    self.canon.push(b'/');
                }
                self.canon.extend_from_slice(&name);
                self.depth += 1;
                Ok(())
            }
            Err(Errno::NOTDIR | Errno::LOOP) => {
                match rfs::readlinkat(dir, name.as_slice(), Vec::new()) {
                    Ok(_) if no_symlinks => Err(Errno::LOOP),
                    Ok(target) => self.follow(target.into_bytes()),
                    Err(Errno::INVAL) => Err(Errno::NOTDIR),
                    // Gone since: walk it again.
                    Err(Errno::NOENT) => self.again(name),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// `path`'s names, the first one last.
fn split_rev(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether a name is one the walk skips (`""` from `//` or a trailing
/// `/`, and `.`).
fn is_empty_name(name: &[u8]) -> bool {
    name.is_empty() || name == b"."
}

fn open_dir(dir: BorrowedFd<'_>, name: &[u8], flags: OFlags) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn is_symlink_fd(fd: &OwnedFd) -> bool {
    rfs::fstat(fd).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

#[cfg(test)]
mod tests;
