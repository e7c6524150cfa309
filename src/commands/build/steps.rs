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
//! success (the final image holds the layers) and on failure alike, but
//! for the images the build cache keeps ([`super::cache`]; all of them
//! but a scratch stage's empty image, unless `--layers=false`). They are
//! written down in the build's [`Record`] too, before they exist (a
//! container) or while the store lock that made them is held (an image),
//! so that `image prune` leaves them alone and a later build removes them
//! if this one is killed ([`Children::sweep`]; it leaves the cache's, which
//! `images` lists no longer as dangling). Every child gets SIGTERM when the build
//! ends (PDEATHSIG): a killed build leaves no step running.

use super::record::{self, Record, RECORD_ENV};
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

/// The store, its lock waited for only until the build is asked to stop
/// (Ctrl-C, SIGTERM, SIGHUP): the build then says it was interrupted.
pub fn store(
    ctx: &crate::commands::Ctx,
    mode: rless::image::store::LockMode,
) -> Result<rless::image::store::Store> {
    ctx.store_unless(mode, Some(&|| stopped().is_some()))
}

/// What the build has made so far, to remove at the end.
#[derive(Default)]
pub struct Children {
    containers: Vec<String>,
    images: Vec<String>,
    /// `--root`, passed on.
    root: Option<std::path::PathBuf>,
    /// Where they are written down for others (`None`: nowhere).
    record: Option<Record>,
}

impl Children {
    pub fn new(root: Option<std::path::PathBuf>) -> Children {
        Children {
            root,
            ..Default::default()
        }
    }

    /// Writes down what the build makes from now on in `record`.
    pub fn keep_record(&mut self, record: Record) {
        self.record = Some(record);
    }

    /// Removes what the builds that are gone (killed) left, as their
    /// records in `root` list; a record whose things are all gone goes.
    pub fn sweep(&self, root: &std::path::Path) {
        let stale = record::stale(root);
        if stale.is_empty() {
            return;
        }
        // An image the user has named since is theirs now.
        let Ok(dangling) =
            self.output(&["images", "-q", "--no-trunc", "--filter", "dangling=true"])
        else {
            return;
        };
        for stale in stale {
            let mut all = true;
            for c in &stale.containers {
                match self.output(&["rm", "-f", "-v", c]) {
                    Err(e) if !e.to_string().contains("no such container") => all = false,
                    _ => {}
                }
            }
            // The newest first: none is then the parent of one left.
            for i in stale.images.iter().rev() {
                if !dangling.contains(i.as_str()) {
                    continue;
                }
                match self.output(&["rmi", i]) {
                    Err(e) if !e.to_string().contains("image not known") => all = false,
                    _ => {}
                }
            }
            if all {
                stale.done();
            }
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
        if let Some(r) = &self.record {
            c.env(RECORD_ENV, r.path());
        }
        let build = rustix::process::getpid();
        // SAFETY: prctl and getppid are plain system calls, safe between
        // fork and exec; nothing is allocated.
        unsafe {
            c.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::TERM,
                ))?;
                // The build may have ended before that.
                if rustix::process::getppid() != Some(build) {
                    return Err(std::io::Error::other("the build is gone"));
                }
                Ok(())
            });
        }
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

    /// A new step container's name, written down.
    pub fn container_name(&mut self, step: usize) -> Result<String> {
        let name = format!(
            "rless-build-{}-{}-{step}",
            std::process::id(),
            rless::container::ContainerId::random().short()
        );
        self.record_container(&name)?;
        self.containers.push(name.clone());
        Ok(name)
    }

    /// Writes the container `name` down, before it is made.
    fn record_container(&mut self, name: &str) -> Result<()> {
        match &mut self.record {
            Some(r) => r.container(name),
            None => Ok(()),
        }
    }

    /// An image the build looked up (a base, or one it copies from):
    /// kept from `image prune -a` while the build runs, not removed after.
    pub fn uses(&self, id: &str) -> Result<()> {
        match &self.record {
            Some(r) => r.uses(id),
            None => Ok(()),
        }
    }

    /// An intermediate image made; `record`: written down here (else its
    /// maker, `rless commit`, did).
    pub fn image_made(&mut self, id: &str, record: bool) -> Result<()> {
        self.images.push(id.to_string());
        match &mut self.record {
            Some(r) if record => r.image(id),
            _ => Ok(()),
        }
    }

    /// An intermediate image the build cache keeps: not removed at the
    /// end (it stays written in the record, whose sweep leaves it: `rless
    /// images` lists it no longer as dangling without `-a`).
    pub fn keep_image(&mut self, id: &str) {
        self.images.retain(|i| i != id);
    }

    /// `rless create` of a step container from `image` (not started).
    pub fn create(&mut self, step: usize, image: &str) -> Result<String> {
        let name = self.container_name(step)?;
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
        self.image_made(&id, false)?;
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
        let mut images = std::mem::take(&mut self.images);
        // An image the cache keeps is not this build's alone: another
        // build may have made the same one (same config and layer).
        if let Some(root) = &self.root {
            let kept = super::cache::cache_images(root);
            images.retain(|i| !kept.contains(i));
        }
        if !images.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(images.iter().rev().map(String::as_str));
            if let Err(e) = self.output(&args) {
                first.get_or_insert(e);
            }
        }
        // All gone: so is the record. Else it stays, and once this build
        // has ended the next one removes what is left.
        if first.is_none() {
            if let Some(r) = self.record.take() {
                r.end();
            }
        }
        first.map_or(Ok(()), Err)
    }
}
