//! Running a command for a test: [`run_cmd`] (with stdin, a timeout and
//! the output as text in an [`Out`], which prints the whole invocation
//! when an assertion fails) and [`run_raw`] (the same as bytes).

use super::ERR_EXIT;
use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Captured result of one command.
pub struct Out {
    pub cmdline: String,
    pub user: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` as {} -> exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.user, self.code, self.stdout, self.stderr
        )
    }
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty stdout line.
    pub fn last_line(&self) -> &str {
        self.stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }

    /// Assert that stdout and stderr are exactly `stdout` and `stderr`.
    pub fn assert_streams(&self, stdout: &str, stderr: &str) {
        assert_eq!(
            (self.stdout.as_str(), self.stderr.as_str()),
            (stdout, stderr),
            "{self}"
        );
    }

    /// Assert the rless error contract: exit 125 and one `rless: ` line on stderr.
    pub fn assert_rless_error(&self) {
        assert_eq!(
            self.code,
            Some(ERR_EXIT),
            "expected exit {ERR_EXIT}: {self}"
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if std::env::var("RLESS_STRICT_STDERR").as_deref() == Ok("1") {
            assert_eq!(lines.len(), 1, "expected exactly one stderr line: {self}");
        }
        // Progress lines before the error are tolerated ("Pulling …"); the
        // error itself is the last line, the only one starting `rless: `,
        // with no continuation, cause chain or panic around it.
        let last = lines.last().copied().unwrap_or("");
        assert!(
            last.starts_with("rless: "),
            "last stderr line must start with 'rless: ': {self}"
        );
        assert!(last.len() > "rless: ".len(), "empty error message: {self}");
        let tagged = lines.iter().filter(|l| l.starts_with("rless: ")).count();
        assert_eq!(tagged, 1, "more than one 'rless: ' line: {self}");
        for l in &lines {
            let bad = l.starts_with(char::is_whitespace)
                || l.contains("panicked")
                || l.contains("Caused by")
                || l.starts_with("Error")
                || l.starts_with("error:")
                || l.starts_with("Usage:");
            assert!(
                !bad,
                "stderr has more than the one-line error ({l:?}): {self}"
            );
        }
    }
}

/// Run `cmd` with optional stdin, killing it after `timeout`.
pub fn run_cmd(cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration, user: &str) -> Out {
    let cmdline = format!("{cmd:?}");
    let (status, stdout, stderr) = run_raw(cmd, stdin, timeout);
    Out {
        cmdline,
        user: user.to_string(),
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `cmd` with optional stdin and collects its stdout and stderr as
/// bytes; kills it and panics after `timeout`.
pub fn run_raw(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> (std::process::ExitStatus, Vec<u8>, Vec<u8>) {
    let cmdline = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let ro = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let re = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timeout after {timeout:?}: {cmdline}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    (status, ro.join().unwrap(), re.join().unwrap())
}
