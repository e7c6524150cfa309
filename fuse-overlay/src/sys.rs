//! The raw system calls this crate needs beyond rustix, and every `unsafe`
//! block of the crate: mounting FUSE by hand, and the process plumbing of
//! the `rless-fuse-overlay` binary (daemonizing, waiting for signals).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

/// Opens `/dev/fuse` and mounts a FUSE filesystem served through it on
/// `mountpoint` with `mount(2)`, read-only if asked. Needs `CAP_SYS_ADMIN`
/// in our user namespace.
pub(crate) fn mount_fuse(mountpoint: &Path, read_only: bool) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open("/dev/fuse", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    let data = format!(
        "fd={},rootmode=40000,user_id={uid},group_id={gid},allow_other,default_permissions",
        fd.as_raw_fd()
    );
    let data =
        std::ffi::CString::new(data).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::mount::mount(
        "rless-overlay",
        mountpoint,
        "fuse.rless-overlay",
        if read_only {
            MountFlags::RDONLY
        } else {
            MountFlags::empty()
        },
        data.as_c_str(),
    )?;
    Ok(fd)
}

/// Unmounts; a busy mount is detached lazily. Returns whether the unmount
/// was immediate.
pub(crate) fn unmount(mountpoint: &Path) -> io::Result<bool> {
    match rustix::mount::unmount(mountpoint, UnmountFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::BUSY) => {
            rustix::mount::unmount(mountpoint, UnmountFlags::DETACH)?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether we run in a user namespace other than the initial one.
pub(crate) fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let f: Vec<&str> = map.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and in threads it
/// starts afterwards), so that [`wait_for_signal`] can take them.
pub(crate) fn block_signals() {
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use;
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits up to `timeout` for one of the signals blocked by
/// [`block_signals`]; `None` when none came.
pub(crate) fn wait_for_signal(timeout: std::time::Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: as in block_signals; `ts` is a valid timespec and the info
    // pointer may be null.
    let sig = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigtimedwait(&set, std::ptr::null_mut(), &ts)
    };
    (sig > 0).then_some(sig)
}

/// Forks. The parent gets `Some(child pid)`, the child `None`. Call only
/// while the process has a single thread.
#[doc(hidden)]
pub fn fork() -> io::Result<Option<i32>> {
    // SAFETY: documented precondition: single-threaded, so the child cannot
    // inherit a lock held by another thread.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        p => Ok(Some(p)),
    }
}
