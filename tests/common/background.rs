//! An rless command running in the background: its stdout read line by
//! line, its stderr kept, signals sent to it; killed if still running when
//! dropped.

use super::checks::wait_timeout;
use super::Ctx;
use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `rless` whose stdout lines arrive on a channel.
pub struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Everything it wrote to stderr so far (shared with the reader thread).
    pub stderr: Arc<Mutex<Vec<u8>>>,
}

impl Background {
    pub fn spawn(ctx: &Ctx, args: &[&str]) -> Background {
        Background::spawn_cmd(ctx.rless_cmd(args))
    }

    /// Starts `cmd` (an [`Ctx::rless_cmd`], perhaps with more environment).
    pub fn spawn_cmd(cmd: std::process::Command) -> Background {
        Background::spawn_with_input(cmd, None)
    }

    /// Starts `cmd` with `input` written to its stdin, which then stays
    /// open (not at end-of-file) while it runs; `None`: stdin is /dev/null.
    pub fn spawn_with_input(mut cmd: std::process::Command, input: Option<&[u8]>) -> Background {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn rless");
        if let (Some(data), Some(stdin)) = (input, child.stdin.as_mut()) {
            use std::io::Write;
            stdin.write_all(data).expect("write rless's stdin");
        }
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Background {
            child,
            lines: rx,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits for a stdout line equal to `want`; panics after `timeout`.
    pub fn wait_line(&mut self, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.trim() == want;
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "no {want:?} line within {timeout:?}; stdout so far {:?}, stderr {:?}",
                        self.seen,
                        self.stderr()
                    );
                }
            }
        }
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, sig).expect("signal rless");
    }

    /// Waits for the exit; returns (code, every stdout line).
    pub fn finish(mut self, timeout: Duration) -> (Option<i32>, Vec<String>) {
        let status = match wait_timeout(&mut self.child, timeout) {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "rless did not exit within {timeout:?}; stdout {:?}, stderr {:?}",
                    self.seen,
                    self.stderr()
                );
            }
        };
        // The reader thread ends at EOF.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        (status.code(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
