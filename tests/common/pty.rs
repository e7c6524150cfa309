//! A pty the tests drive as a terminal: rless started on its slave as a
//! session leader with it as its controlling terminal, what it shows read
//! from the master, keys typed into it.

use super::checks::wait_timeout;
use super::Ctx;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pty pair: the master, and the slave's path.
pub fn open_pty(rows: u16, cols: u16) -> (OwnedFd, PathBuf) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master =
        openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let path = PathBuf::from(name.to_string_lossy().into_owned());
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, ws).expect("set the window size");
    (master, path)
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `rless -i -t` running on a pty the test drives, as a terminal session:
/// rless is a session leader with the slave as its controlling terminal.
pub struct PtySession {
    child: Child,
    master: OwnedFd,
    output: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PtySession {
    pub fn spawn(ctx: &Ctx, args: &[&str], rows: u16, cols: u16) -> PtySession {
        use std::os::unix::process::CommandExt;
        let (master, slave_path) = open_pty(rows, cols);
        let slave = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&slave_path)
            .expect("open the pty slave");
        let mut cmd = ctx.rless_cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and the TIOCSCTTY ioctl are plain system calls,
        // safe between fork and exec; nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn rless on a pty");
        drop(cmd);
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        let reader_fd = master.try_clone().unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match rustix::io::read(&reader_fd, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                    Err(rustix::io::Errno::INTR) => {}
                    // EIO once every slave fd is closed.
                    Err(_) => break,
                }
            }
        });
        PtySession {
            child,
            master,
            output,
            reader: Some(reader),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !contains(&self.output.lock().unwrap(), needle) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("no {needle:?} on the terminal; got {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to the rless process.
    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, sig).expect("signal rless");
    }

    pub fn type_in(&self, bytes: &[u8]) {
        rustix::io::write(self.master.as_fd(), bytes).expect("write to the pty");
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, ws).expect("resize the pty");
    }

    /// Whether the terminal is in raw mode (no canonical input, no echo),
    /// as its settings read through the master say.
    pub fn is_raw(&self) -> bool {
        use rustix::termios::LocalModes;
        let t = rustix::termios::tcgetattr(&self.master).expect("tcgetattr on the pty master");
        !t.local_modes
            .intersects(LocalModes::ICANON | LocalModes::ECHO)
    }

    /// Waits for rless to end (killed if it does not within a minute);
    /// returns its exit code (None: ended by a signal). The terminal stays
    /// open for [`PtySession::is_raw`].
    pub fn wait(&mut self) -> Option<i32> {
        let Some(status) = wait_timeout(&mut self.child, Duration::from_secs(60)) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("rless -t did not exit; terminal shows {:?}", self.text());
        };
        status.code()
    }

    /// Waits for the exit; returns the code and everything shown.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let Some(status) = wait_timeout(&mut self.child, Duration::from_secs(60)) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("rless -t did not exit; terminal shows {:?}", self.text());
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status.code(), self.text())
    }
}
