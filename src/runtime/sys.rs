//! The runtime's unsafe system calls, in one place. Everything else uses
//! the safe wrappers of rustix and nix.

use nix::sched::CloneFlags;
use nix::unistd::{ForkResult, Pid};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Stack for the cloned container init; it runs setup code and then only
/// waits, so 1 MiB is ample.
const CLONE_STACK: usize = 1 << 20;

/// Starts `child` in a new process with the given namespaces; it exits with
/// the returned code. Must be called while the process is single-threaded.
pub fn clone_process(flags: CloneFlags, child: impl FnOnce() -> i32) -> io::Result<Pid> {
    let mut stack = vec![0u8; CLONE_STACK];
    let mut child = Some(child);
    let cb = Box::new(move || -> isize {
        let f = child.take().expect("clone callback runs once");
        f() as isize
    });
    // SAFETY: without CLONE_VM the child gets a copy-on-write copy of this
    // address space, like fork(); the caller guarantees no other thread
    // exists, so no lock is held in the copy. The stack buffer outlives the
    // call in the parent and is private to the child after the clone.
    let pid = unsafe { nix::sched::clone(cb, &mut stack, flags, Some(nix::libc::SIGCHLD)) };
    pid.map_err(io::Error::from)
}

/// clone3's CLONE_INTO_CGROUP (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3's `struct clone_args`, up to its `cgroup` field.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Like [`clone_process`], but the child starts life in the cgroup whose
/// directory `cgroup` is open (clone3 with CLONE_INTO_CGROUP): no
/// migration afterwards, which would wait for an RCU grace period. The
/// child runs `child` on a copy of this stack, as after fork(). On an
/// error `child` is left in place, so the caller can fall back (kernels
/// before 5.7 say ENOSYS or E2BIG). Must be called while single-threaded.
pub fn clone_into_cgroup<F: FnOnce() -> i32>(
    flags: CloneFlags,
    cgroup: BorrowedFd<'_>,
    child: &mut Option<F>,
) -> io::Result<Pid> {
    let args = CloneArgs {
        flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: nix::libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack of its own is
    // fork(): the child gets a copy-on-write copy of this address space and
    // continues on its copy of this stack; the caller guarantees no other
    // thread exists, so no lock is held in the copy. `args` is a valid
    // clone_args of the size passed, and outlives the call.
    let ret = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = child.take().map_or(125, |f| f());
            // SAFETY: _exit ends the child without running the destructors
            // and exit handlers of its copy of the parent's state.
            unsafe { nix::libc::_exit(code) }
        }
        pid => Ok(Pid::from_raw(pid as i32)),
    }
}

/// fork(); `Ok(None)` in the child.
pub fn fork() -> io::Result<Option<Pid>> {
    // SAFETY: callers fork while single-threaded (the monitor and the
    // container's init start no threads before this), with one exception:
    // the port forwarder of a user network is forked by a monitor that may
    // run fuse-overlay's server threads. glibc's fork keeps malloc
    // consistent in the child, and the forwarder takes no lock those
    // threads use (it only dups and serves its own sockets, then exits).
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Some(child)),
        ForkResult::Child => Ok(None),
    }
}

/// Sets every signal's disposition to the default: the standard signals
/// and the real-time ones, except SIGKILL and SIGSTOP (fixed) and the two
/// glibc keeps for itself (32 and 33, which its `sigaction` refuses).
/// exec keeps only ignored signals, so this is what a process about to
/// exec needs to start clean.
pub fn reset_signal_dispositions() {
    use nix::libc;
    // SAFETY: sigaction is plain old data; all-zero is SIG_DFL with no
    // flags and an empty mask.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    for sig in 1..=libc::SIGRTMAX() {
        if matches!(sig, libc::SIGKILL | libc::SIGSTOP | 32 | 33) {
            continue;
        }
        // SAFETY: installing SIG_DFL runs no handler code; `dfl` is a valid
        // sigaction for the duration of the call and the old action is not
        // asked for.
        let _ = unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
    }
}

/// SIGPIPE ignored while this lives (writes to a closed pipe fail with
/// EPIPE instead of killing the process); the default action after.
/// For a relay whose reader may go away (`run -t … | head`). Children
/// reset every disposition before their exec.
pub struct SigpipeIgnored;

impl SigpipeIgnored {
    // Not `Default`: making one changes the process's signal disposition.
    #[allow(clippy::new_without_default)]
    pub fn new() -> SigpipeIgnored {
        set_sigpipe(nix::sys::signal::SigHandler::SigIgn);
        SigpipeIgnored
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        set_sigpipe(nix::sys::signal::SigHandler::SigDfl);
    }
}

fn set_sigpipe(handler: nix::sys::signal::SigHandler) {
    // SAFETY: SIG_IGN and SIG_DFL run no code of ours, so no handler can
    // break async-signal safety.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, handler) };
}

/// Ends a forked child that must not exec: `_exit`, so the copy of the
/// parent's state (buffered output, atexit handlers) is not run twice.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit takes an integer and never returns; it runs no user
    // code, so nothing of the parent's copied state is touched.
    unsafe { nix::libc::_exit(code) }
}

nix::ioctl_write_ptr_bad!(ioctl_set_ifflags, nix::libc::SIOCSIFFLAGS, nix::libc::ifreq);
nix::ioctl_write_int_bad!(ioctl_set_ctty, nix::libc::TIOCSCTTY);
nix::ioctl_write_ptr_bad!(ioctl_set_winsize, nix::libc::TIOCSWINSZ, nix::libc::winsize);
nix::ioctl_read_bad!(ioctl_get_winsize, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> io::Result<()> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are valid.
    let mut req: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as nix::libc::c_char;
    }
    req.ifr_ifru.ifru_flags =
        (nix::libc::IFF_UP | nix::libc::IFF_LOOPBACK | nix::libc::IFF_RUNNING) as i16;
    // SAFETY: the fd is a live socket and req a valid ifreq naming "lo".
    unsafe { ioctl_set_ifflags(sock.as_raw_fd(), &req) }?;
    Ok(())
}

/// Makes the terminal `fd` the controlling terminal of this session.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory.
    unsafe { ioctl_set_ctty(fd.as_raw_fd(), 0) }?;
    Ok(())
}

/// The window size of terminal `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<nix::libc::winsize> {
    // SAFETY: winsize is plain data; the kernel fills it in.
    let mut ws: nix::libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: fd is a live descriptor and ws a valid winsize to write.
    unsafe { ioctl_get_winsize(fd.as_raw_fd(), &mut ws) }?;
    Ok(ws)
}

/// Sets the window size of terminal `fd`.
pub fn set_window_size(fd: BorrowedFd<'_>, ws: &nix::libc::winsize) -> io::Result<()> {
    // SAFETY: fd is a live descriptor and ws a valid winsize to read.
    unsafe { ioctl_set_winsize(fd.as_raw_fd(), ws) }?;
    Ok(())
}

/// Closes every descriptor from 3 up except those in `keep`, so nothing of
/// the monitor's (store locks, logs, pipes) leaks into the container, and
/// nothing of the caller's into a detached monitor or helper.
pub fn close_fds_except(keep: &[std::os::fd::RawFd]) {
    // What this thread keeps open across calls is forgotten, not closed:
    // below, its numbers are closed, and may then name other files.
    crate::events::disown_open_log();
    crate::container::disown_kept_files();
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        close_from_3_except(keep);
        return;
    };
    let fds: Vec<std::os::fd::RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // SAFETY: callers (the init, a freshly forked monitor, forwarder,
        // network helper or exec'd process) own no Rust object wrapping these descriptors
        // that they will use or drop: what they inherited through fork or
        // clone stays unused in the copied memory until they exit (the
        // events log and the container files kept open across calls were
        // let go just above), and the ones they use are in `keep`. The listing's own handle is closed
        // already, so that one number gives EBADF, which libc's close
        // reports without harm and we ignore.
        unsafe { nix::libc::close(fd) };
    }
}

/// [`close_fds_except`] where /proc cannot list them (a process of the
/// host's pid namespace that joined a container's mount namespace sees the
/// container's /proc, where it has no /proc/self): every number from 3 up
/// but `keep`, by `close_range`, else one by one up to the descriptor
/// limit (kernels before 5.9).
fn close_from_3_except(keep: &[std::os::fd::RawFd]) {
    use nix::libc;
    let mut keep: Vec<u32> = keep.iter().filter(|&&k| k > 2).map(|&k| k as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    // SAFETY: rlimit is plain data the call fills.
    let limit = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        match libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) {
            0 => r.rlim_cur.min(1 << 20) as u32,
            _ => 1024,
        }
    };
    let mut from = 3u32;
    for next in keep.into_iter().chain([u32::MAX]) {
        if next > from {
            let to = next - 1;
            // SAFETY: as in close_fds_except: nothing this process uses
            // afterwards is in the range (the kept ones are outside it).
            let done = unsafe { libc::syscall(libc::SYS_close_range, from, to, 0) } == 0;
            if !done {
                for fd in from..=to.min(limit) {
                    // SAFETY: as above; EBADF for a number not open.
                    unsafe { libc::close(fd as libc::c_int) };
                }
            }
        }
        from = next.saturating_add(1);
    }
}

/// Has the kernel send this process `sig` when `fd` (a socket) turns
/// readable or its peer hangs up (O_ASYNC, with F_SETOWN and F_SETSIG).
pub fn signal_on_input(fd: BorrowedFd<'_>, sig: nix::sys::signal::Signal) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use nix::libc;
    // Linux's F_SETSIG (asm-generic and x86), which the libc crate lacks.
    const F_SETSIG: libc::c_int = 10;
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl with integer arguments on a descriptor we borrow for
    // the call; neither command touches memory of ours.
    let r = unsafe { libc::fcntl(raw, libc::F_SETOWN, libc::getpid()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(raw, F_SETSIG, sig as libc::c_int) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_ASYNC))?;
    Ok(())
}

/// A connected pair of local stream sockets, close-on-exec.
pub fn socket_pair() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Sends a one-byte message over a local socket, with a descriptor
/// attached (SCM_RIGHTS) when given.
pub fn send_msg(
    socket: &impl std::os::fd::AsRawFd,
    tag: u8,
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let fds: Vec<std::os::fd::RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
    let tag = [tag];
    let iov = [io::IoSlice::new(&tag)];
    let cmsgs: Vec<ControlMessage<'_>> = if fds.is_empty() {
        vec![]
    } else {
        vec![ControlMessage::ScmRights(&fds)]
    };
    // No SIGPIPE when the peer is gone (an init that died while setting
    // up): rless restores its default action, which would kill the monitor
    // without a word; EPIPE is enough.
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Receives a message sent by [`send_msg`]: its byte and descriptor.
/// `None` at end of stream (the peer is gone).
pub fn recv_msg(
    socket: &impl std::os::fd::AsRawFd,
) -> io::Result<Option<(u8, Option<std::os::fd::OwnedFd>)>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    if msg.bytes == 0 {
        return Ok(None);
    }
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel just installed this descriptor in our
                // table for this message; nothing else owns it.
                let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    Ok(Some((byte[0], fd)))
}

/// Drops this process's mappings of the pages in `[start, end)`: they must
/// be clean pages of a private file mapping, which later accesses read
/// back from the page cache unchanged.
pub fn drop_clean_pages(start: usize, end: usize) {
    // SAFETY: MADV_DONTNEED on a private file mapping only discards this
    // process's page table entries; the caller passes ranges whose pages
    // were never written (no anonymous copies, no swap), so refaulting
    // yields the same bytes. No Rust reference is invalidated.
    unsafe {
        nix::libc::madvise(
            start as *mut nix::libc::c_void,
            end - start,
            nix::libc::MADV_DONTNEED,
        )
    };
}

/// Returns free heap memory to the kernel (glibc's malloc_trim).
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases memory the allocator holds free;
    // it is called while this process is single-threaded.
    unsafe { nix::libc::malloc_trim(0) };
}

/// Names this process `title` in `/proc/PID/cmdline` and `comm`, as
/// setproctitle(3) does: the argument strings the kernel placed on the
/// stack at exec (`arg_start..arg_end` in `/proc/self/stat`) are overwritten
/// with `title` and a NUL, and their last byte is left non-NUL, which tells
/// the kernel to show the strings only up to the first NUL. The container's
/// init calls this, so the container sees `rless-init`, not the host's
/// command line (its paths, its options). The environment strings the
/// kernel placed next to them (`/proc/PID/environ`, which a container given
/// CAP_SYS_PTRACE could read) are zeroed too: the init reads no variable
/// after this, and the command gets an environment of its own at exec.
/// Best effort: on any surprise the areas are left as they are.
pub fn set_process_title(title: &str) {
    if let Ok(name) = std::ffi::CString::new(title.as_bytes().to_vec()) {
        let _ = rustix::thread::set_name(&name);
    }
    let Ok(stat) = crate::procfs::read("/proc/self/stat") else {
        return;
    };
    // Fields 48 and 49 are arg_start and arg_end; counting starts again
    // after the command name, which may hold spaces: field 3 is index 0.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<usize>().ok());
    // Fields 50 and 51: env_start and env_end.
    if let (Some(start), Some(end)) = (field(47), field(48)) {
        if start != 0 && end > start && end - start <= 1 << 20 {
            // SAFETY: [start, end) is this process's environment area, mapped
            // writable on the initial stack at exec like the arguments (see
            // below). The C library's `environ` points into it, so every
            // variable reads as empty afterwards, which nothing in the init
            // relies on; exactly `end - start` bytes are written.
            unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
        }
    }
    let (Some(start), Some(end)) = (field(45), field(46)) else {
        return;
    };
    let Some(len) = end.checked_sub(start) else {
        return;
    };
    if start == 0 || !(2..=1 << 20).contains(&len) {
        return;
    }
    let mut area = vec![0u8; len];
    let n = title.len().min(len - 2);
    area[..n].copy_from_slice(&title.as_bytes()[..n]);
    area[len - 1] = b' ';
    // SAFETY: [start, end) is this process's argument area, which the
    // kernel mapped writable on the initial stack at exec and which stays
    // mapped for the life of the process (a clone or fork copies it to the
    // same addresses). Nothing in the init reads the arguments again, and
    // the copy writes exactly `len` bytes from a buffer of that length.
    unsafe { std::ptr::copy_nonoverlapping(area.as_ptr(), start as *mut u8, len) };
}

/// Sends signal number `sig` (real-time ones included, which nix's
/// `Signal` cannot name) to `pid`.
pub fn send_signal(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory of ours.
    if unsafe { nix::libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every signal a container's init passes on to the command: all but
/// SIGKILL and SIGSTOP (which cannot be caught), those the kernel raises
/// for the init's own faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
/// SIGSYS), and glibc's 32 and 33 (its `sigaddset` refuses them); the
/// real-time ones included.
pub fn init_signals() -> nix::sys::signal::SigSet {
    use nix::libc;
    let mut set = *nix::sys::signal::SigSet::empty().as_ref();
    for sig in 1..=libc::SIGRTMAX() {
        if matches!(
            sig,
            libc::SIGKILL
                | libc::SIGSTOP
                | libc::SIGSEGV
                | libc::SIGBUS
                | libc::SIGFPE
                | libc::SIGILL
                | libc::SIGTRAP
                | libc::SIGSYS
                | 32
                | 33
        ) {
            continue;
        }
        // SAFETY: `set` is an initialised sigset_t we own; sigaddset only
        // writes into it (and fails cleanly for a number it refuses).
        let _ = unsafe { libc::sigaddset(&mut set, sig) };
    }
    // SAFETY: `set` was initialised by sigemptyset (SigSet::empty) and
    // changed only through sigaddset.
    unsafe { nix::sys::signal::SigSet::from_sigset_t_unchecked(set) }
}

/// Waits for one of `set` (blocked by the caller) and returns it, with
/// how and by whom it was sent (sigwaitinfo, real-time signals included).
pub fn wait_signal_info(set: &nix::sys::signal::SigSet) -> io::Result<super::sigproxy::Got> {
    // SAFETY: siginfo_t is plain data, for which zeroes are valid.
    let mut info: nix::libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set is borrowed and `info` is a local the call writes.
    let r = unsafe { nix::libc::sigwaitinfo(set.as_ref(), &mut info) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: si_pid reads the sender's field, which the kernel fills for
    // every signal a process sends (and leaves 0 in the zeroed union
    // otherwise).
    let pid = unsafe { info.si_pid() };
    Ok(super::sigproxy::Got {
        signo: r,
        code: info.si_code,
        pid,
    })
}

/// Waits for one of `set` (blocked by the caller) and returns its number,
/// real-time signals included (nix's `SigSet::wait` cannot return those).
pub fn wait_signal(set: &nix::sys::signal::SigSet) -> io::Result<i32> {
    let mut sig: nix::libc::c_int = 0;
    // SAFETY: both pointers are valid for the call: the set is borrowed
    // and `sig` is a local the call writes.
    let r = unsafe { nix::libc::sigwait(set.as_ref(), &mut sig) };
    if r == 0 {
        Ok(sig)
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}
