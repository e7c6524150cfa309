//! Opening a path inside a directory tree without leaving it: `openat2`
//! with `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, and
//! the same resolution done in userspace where the kernel has no
//! `openat2` (before Linux 5.6: RHEL 8's 4.18).
//!
//! Theory of operation: [`open`] asks the kernel first. `openat2` answers
//! EAGAIN when a rename or a mount anywhere on the system raced the lookup;
//! it is asked again. ENOSYS is remembered for the life of the process,
//! and every later call goes straight to [`walk`].
//!
//! [`walk`] resolves one name at a time, relative to directory fds it
//! holds, and never lets the kernel follow a symlink or a `..`:
//! - every name it might follow is first read with `readlinkat`; a
//!   symlink's target is pushed in front of the names still to walk, and
//!   an absolute target starts again from the root (IN_ROOT). Under
//!   NO_SYMLINKS a symlink is ELOOP instead;
//! - `..` pops the stack of directories walked, so it stops at the root
//!   (IN_ROOT) or is EXDEV past the start (BENEATH). The filesystem's own
//!   `..` is never opened, so a directory moved out of the tree meanwhile
//!   leads nowhere;
//! - each directory is opened with `O_NOFOLLOW`, and the last name with
//!   `O_NOFOLLOW` once it is known not to be a symlink. A symlink planted
//!   between the `readlinkat` and the open is caught (ELOOP, or an `O_PATH`
//!   fd of a symlink) and the name is walked again.
//!
//! Limits: at most 40 symlinks per resolution, as the kernel. Magic links
//! (`/proc/self/fd/N`) are never followed as such: their text is resolved
//! inside the tree like any other symlink's, which is at least as strict as
//! RESOLVE_NO_MAGICLINKS. `O_CREAT` is not supported on the fallback.

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// The kernel's limit on symlinks followed in one lookup.
const MAX_HOPS: usize = 40;

/// Set once `openat2` has answered ENOSYS.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

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

/// Whether a name is one the walk skips (`""` from `//` or a trailing
/// `/`, and `.`).
fn is_empty_name(name: &str) -> bool {
    name.is_empty() || name == "."
}

/// The userspace resolution (see the module's documentation).
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
    let mut stack: Vec<OwnedFd> = Vec::new();
    // Names still to walk, the next one last. An absolute path starts at
    // the root under IN_ROOT; under BENEATH the kernel refuses it.
    if path.starts_with('/') && !in_root {
        return Err(Errno::XDEV);
    }
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut hops = 0;
    while let Some(name) = pending.pop() {
        if is_empty_name(&name) {
            continue;
        }
        let cur = stack.last().map_or(start, |fd| fd.as_fd());
        if name == ".." {
            if stack.pop().is_none() && !in_root {
                return Err(Errno::XDEV);
            }
            continue;
        }
        let last = pending.iter().all(|n| is_empty_name(n));
        // A trailing `/` or `/.` asks for a directory, and follows.
        let must_dir = last && !pending.is_empty();
        let follow = !last || must_dir || !flags.contains(OFlags::NOFOLLOW);
        if follow || no_symlinks {
            match rfs::readlinkat(cur, name.as_str(), Vec::new()) {
                Ok(target) => {
                    if no_symlinks && (follow || !flags.contains(OFlags::PATH)) {
                        return Err(Errno::LOOP);
                    }
                    if follow {
                        hops += 1;
                        if hops > MAX_HOPS {
                            return Err(Errno::LOOP);
                        }
                        let target = target.to_string_lossy().into_owned();
                        if target.is_empty() {
                            return Err(Errno::NOENT);
                        }
                        if target.starts_with('/') {
                            stack.clear();
                        }
                        pending.extend(target.split('/').rev().map(str::to_owned));
                        continue;
                    }
                }
                Err(Errno::INVAL) => {} // not a symlink
                Err(e) => return Err(e),
            }
        }
        if !last {
            match rfs::openat(
                cur,
                name.as_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => stack.push(fd),
                // A symlink was planted since readlinkat: walk it again.
                Err(Errno::LOOP | Errno::NOTDIR) if is_symlink(cur, &name) => {
                    pending.push(name);
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Errno::LOOP);
                    }
                }
                Err(e) => return Err(e),
            }
            continue;
        }
        let mut f = flags;
        if follow {
            f |= OFlags::NOFOLLOW;
        }
        if must_dir {
            f |= OFlags::DIRECTORY;
        }
        match rfs::openat(cur, name.as_str(), f, Mode::empty()) {
            Ok(fd) if follow && f.contains(OFlags::PATH) && is_symlink_fd(&fd) => {}
            Ok(fd) => return Ok(fd),
            Err(Errno::LOOP) if follow => {}
            Err(e) => return Err(e),
        }
        // The last name became a symlink since readlinkat: walk it again.
        hops += 1;
        if hops > MAX_HOPS {
            return Err(Errno::LOOP);
        }
        pending.push(name);
    }
    // Nothing left to open by name: the path ends at a directory walked.
    let cur = stack.last().map_or(start, |fd| fd.as_fd());
    rfs::openat(cur, ".", flags, Mode::empty())
}

fn is_symlink(dir: BorrowedFd<'_>, name: &str) -> bool {
    rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

fn is_symlink_fd(fd: &OwnedFd) -> bool {
    rfs::fstat(fd).is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A tree with the symlinks a hostile container could plant.
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["a/b/c", "etc", "d"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/passwd"), "in").unwrap();
        std::fs::write(r.join("a/b/c/f"), "f").unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("/etc/", r.join("a/b/abs")).unwrap();
        symlink("../../../../../../etc", r.join("a/up")).unwrap();
        symlink("b/c", r.join("a/rel")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();
        symlink("/proc/self/root/etc", r.join("magic")).unwrap();
        symlink("f", r.join("a/b/c/tof")).unwrap();
        symlink("nowhere", r.join("dangling")).unwrap();
        symlink("a/b/c/f", r.join("d/../tofile")).unwrap();
        t
    }

    fn id(r: rustix::io::Result<OwnedFd>) -> Result<(u64, u64), Errno> {
        r.map(|fd| {
            let st = rfs::fstat(&fd).unwrap();
            (st.st_dev, st.st_ino)
        })
    }

    /// The fallback resolves every path as the kernel's `openat2` does:
    /// the same file, or the same errno.
    #[test]
    fn walk_agrees_with_openat2() {
        let t = tree();
        let root = rfs::open(t.path(), OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let paths = [
            "",
            ".",
            "/",
            "..",
            "../..",
            "etc/passwd",
            "/etc/passwd",
            "abs/passwd",
            "abs/",
            "abs",
            "a/b/abs/passwd",
            "a/b/abs/../a/b/c/f",
            "a/up/passwd",
            "a/up",
            "a/rel/f",
            "a/rel/../c/f",
            "a/b/../../etc/passwd",
            "loop1",
            "loop1/x",
            "magic",
            "magic/passwd",
            "a/b/c/tof",
            "a/b/c/tof/",
            "dangling",
            "nosuch/x",
            "etc/passwd/",
            "etc/passwd/.",
            "a//b///c/./f",
            "a/b/c/f/..",
            "tofile",
            "a/rel/",
            "a/rel/.",
            "/../../a/./rel",
        ];
        let flag_sets = [
            OFlags::PATH,
            OFlags::PATH | OFlags::NOFOLLOW,
            OFlags::RDONLY,
            OFlags::RDONLY | OFlags::DIRECTORY,
            OFlags::PATH | OFlags::DIRECTORY,
        ];
        let resolves = [
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ];
        let mut checked = 0;
        for resolve in resolves {
            for flags in flag_sets {
                for p in paths {
                    let path = if p.is_empty() { "." } else { p };
                    let kernel = rfs::openat2(&root, path, flags, Mode::empty(), resolve);
                    if matches!(kernel, Err(Errno::NOSYS)) {
                        eprintln!("skipped: this kernel has no openat2 to compare with");
                        assert!(std::env::var_os("RLESS_MUST_WORK").is_none());
                        return;
                    }
                    let ours = walk(root.as_fd(), path, flags, resolve);
                    assert_eq!(id(ours), id(kernel), "{path:?} {flags:?} {resolve:?}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 2 * 5 * paths.len());
    }
}
