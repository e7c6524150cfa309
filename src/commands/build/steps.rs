//! The build's child processes: each step that changes files runs `rless
//! run`, `rless create` with `rless build-copy`, then `rless commit` and
//! `rless rm`, as separate processes of this same binary, so a build uses
//! the one run and the one commit there are (each enters the user
//! namespace itself).
//!
//! Theory of operation: every child gets a process group of its own, so a
//! Ctrl-C at the terminal reaches only the build, which passes it on once
//! to the child running (a RUN's command then ends as under `rless run`),
//! and then stops. [`Children`] remembers each step container and each
//! intermediate image it made; [`Children::clean`] removes them all, on
//! success (the final image holds the layers) and on failure alike, so a
//! build leaves nothing else in the store.

use anyhow::{anyhow, Context, Result};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the build to stop (0: none yet).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    STOP.store(sig, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP into [`stopped`], and ignores
/// SIGPIPE (a copy helper that fails makes the write of its input fail
/// instead, and its own message is told); children get the default
/// dispositions back at exec (Rust's `Command` resets SIGPIPE too).
pub fn catch_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; no other handler is replaced that rless set.
        let _ = unsafe { sigaction(s, &act) };
    }
    // SAFETY: SIG_IGN runs no code of ours.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// The signal number the build was asked to stop by, if any.
pub fn stopped() -> Option<i32> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// What the build has made so far, to remove at the end.
#[derive(Default)]
pub struct Children {
    containers: Vec<String>,
    images: Vec<String>,
    /// `--root`, passed on.
    root: Option<std::path::PathBuf>,
}

impl Children {
    pub fn new(root: Option<std::path::PathBuf>) -> Children {
        Children {
            root,
            ..Default::default()
        }
    }

    /// `rless ARGS`, in its own process group, stdin from /dev/null
    /// unless `stdin_piped`.
    pub fn command(&self, args: &[&str]) -> Result<Command> {
        let exe = std::env::current_exe().context("cannot find the rless binary")?;
        let mut c = Command::new(exe);
        if let Some(r) = &self.root {
            c.arg("--root").arg(r);
        }
        c.args(args).stdin(Stdio::null()).process_group(0);
        Ok(c)
    }

    /// Waits for `child`, passing a stop request on to it once.
    pub fn wait(&self, mut child: Child) -> Result<ExitStatus> {
        let mut passed = false;
        loop {
            if let Some(st) = child.try_wait()? {
                return Ok(st);
            }
            if let (Some(sig), false) = (stopped(), passed) {
                if let Ok(s) = nix::sys::signal::Signal::try_from(sig) {
                    let _ =
                        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), s);
                }
                passed = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `rless ARGS` to its end; its stdout (trimmed) when it
    /// succeeds, else an error with its stderr's last line.
    pub fn output(&self, args: &[&str]) -> Result<String> {
        let child = self
            .command(args)?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start rless")?;
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("failed").trim();
        Err(anyhow!(
            "rless {}: {}",
            args.first().copied().unwrap_or(""),
            line.trim_start_matches("rless: ")
        ))
    }

    /// Removes the step containers a build killed with SIGKILL left (their
    /// names carry the build's pid: `rless-build-PID-…`) once they are no
    /// longer running and that pid is gone. Their intermediate images are
    /// then dangling, for `image prune`. Failures are ignored: this is
    /// tidying, not the build.
    pub fn sweep_stale(&self) {
        let Ok(list) = self.output(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]) else {
            return;
        };
        for line in list.lines() {
            let Some((name, state)) = line.split_once(' ') else {
                continue;
            };
            let Some(pid) = name
                .strip_prefix("rless-build-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let gone = matches!(
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
                Err(nix::errno::Errno::ESRCH)
            );
            if gone && state != "running" && state != "paused" {
                let _ = self.output(&["rm", "-f", "-v", name]);
            }
        }
    }

    /// A new step container's name.
    pub fn container_name(&mut self, step: usize) -> String {
        let name = format!(
            "rless-build-{}-{}-{step}",
            std::process::id(),
            rless::container::ContainerId::random().short()
        );
        self.containers.push(name.clone());
        name
    }

    pub fn image_made(&mut self, id: &str) {
        self.images.push(id.to_string());
    }

    /// `rless create` of a step container from `image` (not started).
    pub fn create(&mut self, step: usize, image: &str) -> Result<String> {
        let name = self.container_name(step);
        self.output(&[
            "create",
            "--name",
            &name,
            "--network",
            "none",
            "--entrypoint",
            "",
            image,
            "true",
        ])?;
        Ok(name)
    }

    /// Feeds `tar` to `rless build-copy CTR DEST [--file NAME]
    /// [--dirs-owner U:G]` (the owner of the directories it creates, else
    /// root); whether it created a directory.
    pub fn copy_in(
        &self,
        ctr: &str,
        dest: &str,
        file: Option<&str>,
        dirs_owner: Option<(u32, u32)>,
        feed: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<bool> {
        let mut args = vec!["build-copy", ctr, dest];
        if let Some(f) = file {
            args.extend(["--file", f]);
        }
        let dirs_owner = dirs_owner.map(|(u, g)| format!("{u}:{g}"));
        if let Some(o) = &dirs_owner {
            args.extend(["--dirs-owner", o]);
        }
        let mut child = self
            .command(&args)?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start rless")?;
        let fed = {
            let mut w = std::io::BufWriter::new(child.stdin.take().expect("piped"));
            feed(&mut w).and_then(|()| Ok(w.flush()?))
        };
        let out = child.wait_with_output()?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let line = err.lines().last().unwrap_or("failed").trim();
            return Err(anyhow!("{}", line.trim_start_matches("rless: ")));
        }
        fed?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "created")
    }

    /// `rless cp -L SRC:PATH -` piped into `rless build-copy CTR DEST
    /// --source NAME [--owner U:G] [--mode M] [--dir]` (COPY --from: a symlink named
    /// is followed, and the files keep their owners unless `--chown`
    /// gives one, as in docker and podman).
    pub fn pipe_copy(
        &self,
        (src, path): (&str, &str),
        (ctr, dest): (&str, &str),
        into_dir: bool,
        (owner, mode): (Option<(u32, u32)>, Option<u32>),
    ) -> Result<()> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let mut out = self
            .command(&["cp", "-L", &format!("{src}:{path}"), "-"])?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start rless cp")?;
        let stream = out.stdout.take().expect("piped");
        let owner = owner.map(|(u, g)| format!("{u}:{g}"));
        let mut args = vec!["build-copy", ctr, dest, "--source", name];
        if let Some(o) = &owner {
            args.extend(["--owner", o]);
        }
        let mode = mode.map(|m| format!("{m:o}"));
        if let Some(m) = &mode {
            args.extend(["--mode", m]);
        }
        if into_dir {
            args.push("--dir");
        }
        let into = self
            .command(&args)?
            .stdin(Stdio::from(stream))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start rless build-copy")?;
        let put = into.wait_with_output()?;
        let got = out.wait_with_output()?;
        let last = |b: &[u8]| {
            let t = String::from_utf8_lossy(b);
            t.lines()
                .last()
                .unwrap_or("failed")
                .trim()
                .trim_start_matches("rless: ")
                .to_string()
        };
        if !got.status.success() {
            // The container's name means nothing to the user.
            return Err(anyhow!(
                "{}",
                last(&got.stderr).replace(&format!("{src}:"), "")
            ));
        }
        if !put.status.success() {
            return Err(anyhow!("{}", last(&put.stderr)));
        }
        Ok(())
    }

    /// `rless commit CTR`, then `rless rm` of it: the new image's id.
    pub fn commit(&mut self, ctr: &str) -> Result<String> {
        let id = self.output(&["commit", ctr])?;
        self.image_made(&id);
        self.remove_container(ctr)?;
        Ok(id)
    }

    pub fn remove_container(&mut self, ctr: &str) -> Result<()> {
        self.output(&["rm", "-f", "-v", ctr])?;
        self.containers.retain(|c| c != ctr);
        Ok(())
    }

    /// Removes every step container and intermediate image left; the
    /// first failure is returned once all were tried.
    pub fn clean(&mut self) -> Result<()> {
        let mut first = None;
        for c in std::mem::take(&mut self.containers) {
            match self.output(&["rm", "-f", "-v", &c]) {
                // A step whose container was never made.
                Err(e) if e.to_string().contains("no such container") => {}
                Err(e) => {
                    first.get_or_insert(e);
                }
                Ok(_) => {}
            }
        }
        let images = std::mem::take(&mut self.images);
        if !images.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(images.iter().rev().map(String::as_str));
            if let Err(e) = self.output(&args) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
