//! Every `unsafe` system call of the crate lives here, behind safe
//! functions that take and return `OwnedFd`/`BorrowedFd`.
//!
//! Covered: opening a TAP device (`TUNSETIFF`), epoll, a netlink route
//! socket, entering/creating network namespaces (used by tests and by
//! callers that run the TAP helper in a thread), SCM_RIGHTS fd passing and
//! non-blocking `read`/`write` on raw fds without a `File` wrapper,
//! the splice port driver's pipes, `splice(2)` and TUNGETDEVNETNS, and the
//! handoff port driver's seccomp user notification, `process_vm_readv` and
//! pidfds.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Opens `/dev/net/tun` non-blocking and attaches it to a TAP interface
/// called `name` (created if missing), with a virtio-net header in front of
/// every frame (IFF_VNET_HDR). Returns the fd and the kernel's name.
pub fn tap_open(name: &str) -> io::Result<(OwnedFd, String)> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a valid NUL-terminated string; open has no other
    // memory-safety preconditions.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: open just returned this fd and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `req` is,
    // and it lives for the duration of the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) })?;
    // Persistent: closing the last fd then does not unregister the device
    // synchronously (an RCU grace period, tens of milliseconds, in the
    // closing process's exit path); the device goes with its network
    // namespace, which the kernel tears down in the background.
    // SAFETY: TUNSETPERSIST takes its argument by value.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, 1 as libc::c_ulong) })?;
    let got: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok((fd, String::from_utf8_lossy(&got).into_owned()))
}

/// Whether the TAP behind `fd` carries virtio-net headers (TUNGETIFF).
pub fn tap_has_vnet_hdr(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes a `struct ifreq`, which `req` is.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req) })?;
    // SAFETY: TUNGETIFF filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags } as libc::c_int;
    Ok(flags & libc::IFF_VNET_HDR != 0)
}

/// Sets the TAP's offload flags (TUNSETOFFLOAD), e.g. `TUN_F_CSUM` so the
/// kernel hands us frames with partial checksums instead of computing them.
pub fn tap_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, flags as libc::c_ulong) })?;
    Ok(())
}

/// The network namespace the TAP behind `fd` lives in (TUNGETDEVNETNS,
/// Linux 5.2+; needs CAP_NET_ADMIN over that namespace).
pub fn tap_netns(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // _IO('T', 227): not in every libc release.
    const TUNGETDEVNETNS: libc::c_ulong = 0x54e3;
    // SAFETY: TUNGETDEVNETNS takes no argument and returns a new fd.
    let ns = cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNGETDEVNETNS as _) })?;
    // SAFETY: the ioctl just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// A non-blocking pipe `(read end, write end)`, resized to `size` bytes
/// where the user's pipe budget allows (the default size otherwise).
pub fn pipe(size: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is valid for writes of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ takes an int by value; failure leaves the pipe as it was.
    unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    Ok((r, w))
}

/// Blocks SIGPIPE for the calling thread. `splice(2)` into a socket whose
/// peer has gone raises SIGPIPE (there is no MSG_NOSIGNAL for it), which
/// would kill a process that has the default action; the thread gets EPIPE
/// instead and the signal stays pending on it, harmlessly.
pub fn block_sigpipe() -> io::Result<()> {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for both calls; pthread_sigmask
    // only reads it and affects the calling thread.
    let r = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut())
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

/// Capacity of the pipe behind `fd` in bytes (F_GETPIPE_SZ).
pub fn pipe_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument.
    Ok(cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) })? as usize)
}

/// `splice(2)` of up to `len` bytes from `from` to `to` (one of them a
/// pipe), non-blocking, moving pages where the kernel can. `Ok(0)` is EOF
/// of `from`.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets mean "use and advance the file positions";
    // splice has no other memory-safety preconditions.
    cvt_size(unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    })
}

/// Interface index of `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// A `NETLINK_ROUTE` socket talking to the kernel.
pub fn netlink_route_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call with constant arguments.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: socket just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `read(2)` into `buf`.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` of `buf`.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Readiness bits reported by [`Epoll::wait`].
pub const EV_IN: u32 = libc::EPOLLIN as u32;
/// Writable.
pub const EV_OUT: u32 = libc::EPOLLOUT as u32;
/// Error or hang-up.
pub const EV_ERR: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;
/// Peer closed its write half.
pub const EV_RDHUP: u32 = libc::EPOLLRDHUP as u32;

/// An edge-triggered epoll instance.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    /// New epoll instance able to return `capacity` events per wait.
    pub fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: plain epoll_create1 call.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Self {
            // SAFETY: epoll_create1 just returned this fd and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)],
        })
    }

    /// Registers `fd` edge-triggered for `interest` with user data `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), interest, token)
    }

    /// Changes the interest of registered `fd` (token kept as given).
    pub fn modify(&self, fd: BorrowedFd<'_>, interest: u32, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), interest, token)
    }

    /// Removes `fd`.
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest | libc::EPOLLET as u32,
            u64: token,
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call;
        // the kernel does not keep the pointer.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1 = forever) and calls `f(token, events)`
    /// for every ready registration.
    pub fn wait(&mut self, timeout_ms: i32, mut f: impl FnMut(u64, u32)) -> io::Result<()> {
        // SAFETY: `events` is valid for writes of its length in entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        for ev in &self.events[..n as usize] {
            let (token, bits) = (ev.u64, ev.events);
            f(token, bits);
        }
        Ok(())
    }
}

/// Moves the calling thread into a new, empty network namespace.
pub fn unshare_netns() -> io::Result<()> {
    // SAFETY: unshare has no memory-safety preconditions; it only affects
    // the calling thread for CLONE_NEWNET.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Moves the calling thread into the network namespace `ns` refers to.
pub fn setns_net(ns: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: setns has no memory-safety preconditions.
    cvt(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Sends `fd` over `sock` with SCM_RIGHTS, along with one dummy byte.
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Large enough and aligned for one cmsghdr carrying one int.
    let mut cbuf = [0u64; 4];
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `cbuf`, which is at least `space` bytes
    // and 8-aligned, so the first header and its data are in bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw);
    }
    // SAFETY: `msg` and everything it points to live across the call.
    cvt_size(unsafe { libc::sendmsg(sock.as_fd().as_raw_fd(), &msg, libc::MSG_NOSIGNAL) })?;
    Ok(())
}

/// Receives one fd sent by [`send_fd`].
pub fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u64; 4];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: `msg` and everything it points to live across the call.
    let n = cvt_size(unsafe {
        libc::recvmsg(sock.as_fd().as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC)
    })?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed before sending an fd",
        ));
    }
    // SAFETY: the kernel filled msg_control (bounded by msg_controllen);
    // CMSG_FIRSTHDR returns null or a header inside it.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no fd received"));
    }
    // SAFETY: `cmsg` is non-null and points into `cbuf`.
    let (level, ty) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || ty != libc::SCM_RIGHTS {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no fd received"));
    }
    // SAFETY: an SCM_RIGHTS header carries at least one int in its data.
    let raw = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>()) };
    // SAFETY: the kernel installed this fd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Number of open fds of this process (entries of /proc/self/fd).
pub fn open_fd_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

// ---- the handoff port driver: seccomp user notification ----

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

fn bpf_stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn bpf_jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Installs on the calling process a seccomp filter that sends every
/// native call of the system calls `nrs` (at most 16) to a user-space
/// supervisor, and returns the listener fd the supervisor reads them from.
/// Everything else is allowed (other filters still apply). Needs
/// no_new_privs or CAP_SYS_ADMIN in the process's user namespace, and
/// Linux 5.0.
pub fn seccomp_notify(nrs: &[libc::c_long]) -> io::Result<OwnedFd> {
    let arch = if cfg!(target_arch = "x86_64") {
        AUDIT_ARCH_X86_64
    } else if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "only x86_64 and aarch64",
        ));
    };
    if nrs.is_empty() || nrs.len() > 16 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "1 to 16 calls"));
    }
    // seccomp_data: nr at offset 0, arch at offset 4. Layout:
    //   0: load arch; 1: other arch -> allow; 2: load nr;
    //   3 .. 3+n-1: call i -> notify; 3+n: allow; 3+n+1: notify.
    let n = nrs.len() as u8;
    let mut prog = vec![
        bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 4),
        bpf_jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, arch, 0, n + 1),
        bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
    ];
    for (i, &nr) in nrs.iter().enumerate() {
        // Jump offsets count from the next instruction.
        let to_notify = n - i as u8;
        prog.push(bpf_jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            nr as u32,
            to_notify,
            0,
        ));
    }
    prog.push(bpf_stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_ALLOW,
    ));
    prog.push(bpf_stmt(
        libc::BPF_RET | libc::BPF_K,
        libc::SECCOMP_RET_USER_NOTIF,
    ));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at `prog`, a complete classic-BPF program that
    // outlives the call; the kernel copies it.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    } as libc::c_int)?;
    // SAFETY: the kernel returned a new listener fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One intercepted system call.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's id of the notification, for the answer.
    pub id: u64,
    /// The calling thread, as seen from the supervisor's pid namespace.
    pub pid: u32,
    /// System call number.
    pub nr: i32,
    /// Its arguments.
    pub args: [u64; 6],
}

/// Reads the next notification (blocks unless one is pending).
pub fn notif_recv(listener: BorrowedFd<'_>) -> io::Result<Notification> {
    // SAFETY: seccomp_notif is plain old data; the kernel wants it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV writes one seccomp_notif, which `n` is.
    cvt(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV as _,
            &mut n,
        )
    })?;
    Ok(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        args: n.data.args,
    })
}

/// Whether the notification `id` is still pending (its caller alive).
pub fn notif_id_valid(listener: BorrowedFd<'_>, id: u64) -> bool {
    // SAFETY: NOTIF_ID_VALID reads one u64, which `id` is.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
            &id,
        )
    };
    r == 0
}

/// Answers notification `id`: with `continue_`, the kernel runs the system
/// call itself; otherwise it returns `val`, or fails with `errno` if that
/// is non-zero.
pub fn notif_send(
    listener: BorrowedFd<'_>,
    id: u64,
    continue_: bool,
    val: i64,
    errno: i32,
) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error: -errno,
        flags: if continue_ {
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32
        } else {
            0
        },
    };
    // SAFETY: NOTIF_SEND reads one seccomp_notif_resp, which `resp` is.
    cvt(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            &mut resp,
        )
    })?;
    Ok(())
}

/// Installs `src` in the caller of notification `id` as fd number
/// `target`, replacing what was there (Linux 5.9).
pub fn notif_addfd(
    listener: BorrowedFd<'_>,
    id: u64,
    src: BorrowedFd<'_>,
    target: RawFd,
    cloexec: bool,
) -> io::Result<()> {
    let mut a = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
        srcfd: src.as_raw_fd() as u32,
        newfd: target as u32,
        newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
    };
    // SAFETY: NOTIF_ADDFD reads one seccomp_notif_addfd, which `a` is; the
    // kernel duplicates `src`, which stays ours.
    cvt(unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
            &mut a,
        )
    })?;
    Ok(())
}

/// Copies `buf.len()` bytes at `addr` in process `pid` into `buf`.
pub fn read_process_memory(pid: u32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is writable for its length;
    // the remote range is only read by the kernel, with permission checks.
    cvt_size(unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) })
}

/// A copy of fd `fd` of process `pid` (Linux 5.6).
pub fn fd_of_process(pid: u32, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers.
    let pidfd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int)?;
    // SAFETY: the kernel returned a new pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    // SAFETY: pidfd_getfd takes a pidfd we own and plain integers.
    let got = cvt(
        unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) } as libc::c_int,
    )?;
    // SAFETY: the kernel installed this new fd for us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(got) })
}

/// Waits (level-triggered, no timeout) until one of `fds` is ready for
/// reading or hung up, and returns the `revents` of each.
pub fn poll_read(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<i16>> {
    poll_read_timeout(fds, -1)
}

/// [`poll_read`] for at most `timeout_ms` (-1: no limit); all zero when
/// nothing was ready in time.
pub fn poll_read_timeout(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `p` is valid for reads and writes of its length in entries.
        let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
        if r >= 0 {
            return Ok(p.iter().map(|x| x.revents).collect());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
