//! What `rless attach` meets in a container's directory: the input FIFO a
//! detached `-i` container reads, and the log it follows.
//!
//! Theory of operation:
//! - **Input.** A detached monitor of a container run with `-i` makes the
//!   FIFO `stdin` (mode 0600) in the container's directory and holds both
//!   ends, so the reader never sees end-of-file while the monitor lives.
//!   Without `-t` the read end is the container's stdin itself (no copy);
//!   with `-t` the monitor's loop copies what arrives into the pty master,
//!   as keys typed at a terminal. An attach opens the write end; several
//!   attaches write in turn, as with docker. A write end opened while no
//!   one reads fails (ENXIO), which tells that the container took no input.
//! - **Output.** Every monitor (detached or foreground) writes the
//!   container's output to `ctr.log`; an attach follows the file from where
//!   it was when the attach began ([`super::logs::Follower::from_end`]).
//! - **Size.** An attach with a terminal, when it starts and at each
//!   SIGWINCH of its own, writes its terminal's size to `winsize` in the
//!   container's directory (a new file renamed over the old, so a reader
//!   never sees half of one) and sends the monitor SIGWINCH; the monitor of
//!   a `-t` container sets that size on the pty, and the kernel tells the
//!   container's foreground processes (SIGWINCH), as docker's resize does.
//!
//! Limits: typed input the command has not read piles up in the FIFO (64
//! KiB) and then in the pty's input queue; past both, the monitor drops it
//! rather than stall the output it copies, as a terminal's full input
//! queue drops keys.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// The FIFO's name in the container's directory.
const INPUT_FIFO: &str = "stdin";

/// Both ends of a fresh input FIFO, for the monitor.
pub struct Input {
    /// Non-blocking: the monitor polls it (with `-t`); the container's
    /// stdin without `-t`, after [`Input::blocking_read`].
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Input {
    /// The read end, made blocking (for a command's stdin).
    pub fn blocking_read(self) -> io::Result<(OwnedFd, OwnedFd)> {
        let flags = rustix::fs::fcntl_getfl(&self.read)?;
        rustix::fs::fcntl_setfl(&self.read, flags - rustix::fs::OFlags::NONBLOCK)?;
        Ok((self.read, self.write))
    }
}

/// Makes the container's input FIFO anew (one a previous run left is
/// replaced) and opens both its ends.
pub fn make_input(dir: &Path) -> io::Result<Input> {
    use rustix::fs::{Mode, OFlags};
    let path = dir.join(INPUT_FIFO);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &path,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )?;
    // Read end first, non-blocking, so that opening it does not wait for
    // a writer; then the write end, which now has a reader.
    let read = rustix::fs::open(
        &path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let write = rustix::fs::open(&path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    Ok(Input { read, write })
}

/// For an attach: the write end of the container's input, blocking;
/// `None` when the container takes no input (no FIFO, or no reader).
pub fn open_input(dir: &Path) -> io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    match rustix::fs::open(
        dir.join(INPUT_FIFO),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) {
        Ok(fd) => {
            // Only a FIFO: a file put there by someone else is not input.
            if !rustix::fs::fstat(&fd)
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_fifo())
            {
                return Ok(None);
            }
            let flags = rustix::fs::fcntl_getfl(&fd)?;
            rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
            Ok(Some(File::from(fd)))
        }
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NXIO) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The file that carries an attach's terminal size to the monitor.
const WINDOW_FILE: &str = "winsize";

/// For an attach with a terminal: asks the monitor (`pid`, which must
/// still be the process that started at `start`) to give the container's
/// terminal `rows` × `cols`.
pub fn send_window_size(
    dir: &Path,
    pid: i32,
    start: Option<u64>,
    rows: u16,
    cols: u16,
) -> io::Result<()> {
    if !super::process_alive(Some(pid), start) {
        return Err(io::Error::other("the container's monitor is gone"));
    }
    let tmp = dir.join(format!("{WINDOW_FILE}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, format!("{rows} {cols}\n"))?;
    if let Err(e) = std::fs::rename(&tmp, dir.join(WINDOW_FILE)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let pid = rustix::process::Pid::from_raw(pid).ok_or_else(|| io::Error::other("bad pid"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::WINCH)?;
    Ok(())
}

/// For the monitor, at SIGWINCH: the size (rows, columns) the last attach
/// asked for, if any.
pub fn requested_window_size(dir: &Path) -> Option<(u16, u16)> {
    let text = std::fs::read_to_string(dir.join(WINDOW_FILE)).ok()?;
    let mut it = text.split_whitespace().map(|n| n.parse::<u16>().ok());
    match (it.next()??, it.next()??) {
        (0, _) | (_, 0) => None,
        size => Some(size),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn window_sizes_round_trip() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(super::requested_window_size(t.path()), None);
        let me = std::process::id() as i32;
        // Signalling this test process: SIGWINCH is ignored by default.
        super::send_window_size(t.path(), me, crate::container::process_start(me), 50, 132)
            .unwrap();
        assert_eq!(super::requested_window_size(t.path()), Some((50, 132)));
        std::fs::write(t.path().join("winsize"), "0 80\n").unwrap();
        assert_eq!(super::requested_window_size(t.path()), None);
        // A monitor that is gone (a pid that is not its start) is not signalled.
        assert!(super::send_window_size(t.path(), me, Some(1), 1, 1).is_err());
    }

    use super::*;

    #[test]
    fn input_fifo_carries_bytes_and_tells_no_reader() {
        let t = tempfile::tempdir().unwrap();
        assert!(open_input(t.path()).unwrap().is_none());
        let input = make_input(t.path()).unwrap();
        let mut w = open_input(t.path()).unwrap().expect("a reader holds it");
        std::io::Write::write_all(&mut w, b"keys").unwrap();
        let mut buf = [0u8; 8];
        let n = rustix::io::read(&input.read, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"keys");
        drop(input);
        // No reader any more: the container takes no input.
        assert!(open_input(t.path()).unwrap().is_none());
    }
}
