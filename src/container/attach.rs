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
//!   container's output to `ctr.log` ([`super::logs`]); an attach follows
//!   the file from where it was when the attach began, reading only what
//!   was appended. A rotation (the file renamed to `ctr.log.1` and a new one
//!   begun) is noticed by the inode: the old file is read to its end first,
//!   once more after the rotation was seen (what was written to it between
//!   the last read and the rename).
//!
//! Limits: typed input the command has not read piles up in the FIFO (64
//! KiB) and then in the pty's input queue; past both, the monitor drops it
//! rather than stall the output it copies, as a terminal's full input
//! queue drops keys.

use super::logs::{log_path, parse_line, LogLine};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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

/// Follows `ctr.log` from its end at the time of [`Follower::new`].
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// Bytes read past the last complete line.
    pending: Vec<u8>,
}

impl Follower {
    pub fn new(dir: &Path) -> Follower {
        let path = log_path(dir);
        let file = File::open(&path).ok().and_then(|mut f| {
            f.seek(io::SeekFrom::End(0)).ok()?;
            Some(f)
        });
        Follower {
            path,
            file,
            pending: Vec::new(),
        }
    }

    /// The lines appended since the last call.
    pub fn poll(&mut self) -> Vec<LogLine> {
        self.poll_with(|| {})
    }

    /// [`Follower::poll`], running `between` after each read of the file
    /// and before the look for a rotation (a test's writer, there).
    fn poll_with(&mut self, mut between: impl FnMut()) -> Vec<LogLine> {
        let mut lines = Vec::new();
        loop {
            self.read_on(&mut lines);
            between();
            // Rotated (or made since): the file at the path is another one.
            let current = std::fs::metadata(&self.path)
                .ok()
                .map(|m| (m.dev(), m.ino()));
            let ours = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map(|m| (m.dev(), m.ino()));
            if current.is_none() || current == ours {
                return lines;
            }
            // The writer wrote to the old file until it renamed it, which
            // may have been after the read above: its end first.
            self.read_on(&mut lines);
            self.file = File::open(&self.path).ok();
            self.pending.clear();
        }
    }

    /// Reads the file on to its end, taking the whole lines.
    fn read_on(&mut self, lines: &mut Vec<LogLine>) {
        if let Some(f) = &mut self.file {
            let _ = f.read_to_end(&mut self.pending);
        }
        self.take_lines(lines);
    }

    fn take_lines(&mut self, out: &mut Vec<LogLine>) {
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        for line in self.pending[..end].split(|b| *b == b'\n') {
            out.extend(parse_line(line));
        }
        self.pending.drain(..=end);
    }
}

#[cfg(test)]
mod tests {
    use super::super::logs::{LogWriter, Stream};
    use super::*;

    #[test]
    fn follower_reads_what_comes_after_it_began_across_rotation() {
        let t = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(t.path(), 300);
        w.write(Stream::Stdout, b"before\n");
        let mut f = Follower::new(t.path());
        assert!(f.poll().is_empty());
        w.write(Stream::Stdout, b"one\n");
        w.write(Stream::Stderr, b"two");
        let got = f.poll();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].text.as_slice(), got[0].partial),
            (&b"one"[..], false)
        );
        assert_eq!(got[1].stream, Stream::Stderr);
        assert!(got[1].partial);
        // Past 300 bytes the writer rotates; nothing is lost or repeated.
        let mut all = Vec::new();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes());
            all.extend(f.poll());
        }
        assert!(log_path(t.path()).with_extension("log.1").exists());
        let texts: Vec<String> = all
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        let want: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        assert_eq!(texts, want);
    }

    #[test]
    fn follower_reads_the_old_file_to_its_end_at_a_rotation() {
        let t = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(t.path(), 100);
        let mut f = Follower::new(t.path());
        w.write(Stream::Stdout, b"first\n");
        let long = [vec![b'x'; 120], b"\n".to_vec()].concat();
        let mut once = true;
        // After the follower's read, before it looks at the path: one more
        // line for the old file, then one that rotates it.
        let got = f.poll_with(|| {
            if std::mem::take(&mut once) {
                w.write(Stream::Stdout, b"late\n");
                w.write(Stream::Stdout, &long);
            }
        });
        assert!(log_path(t.path()).with_extension("log.1").exists());
        let texts: Vec<&[u8]> = got.iter().map(|l| l.text.as_slice()).collect();
        assert_eq!(texts, [&b"first"[..], b"late", &long[..120]]);
    }

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
