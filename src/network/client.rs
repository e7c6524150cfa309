//! The monitor's side of the network helper ([`super::helper`]): start it
//! on demand, join its user namespace, attach a container.
//!
//! Theory of operation: [`connect`] takes the runtime directory's lock,
//! connects to `helper.sock`, and when nobody answers starts
//! `rless network-helper` (which forks away at once) and waits for the
//! socket to answer. The lock keeps two `run`s from starting two helpers
//! and an exiting helper from leaving a `run` stranded. Callers are
//! single-threaded (the monitor before it clones): nothing here starts a
//! thread. [`shut_down`] (`system reset`) stops the helper under the same
//! lock and removes the runtime directory.

use super::helper::{self, Request, Response};
use super::Attachment;
use crate::userns::IdMode;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a new helper may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the network helper did not start: {0}")]
    Start(String),
    #[error(transparent)]
    RuntimeDir(#[from] super::NetworkError),
    #[error("cannot talk to the network helper: {0}")]
    Talk(std::io::Error),
    #[error("{0}")]
    Helper(String),
    #[error("cannot join the network user namespace: {0}")]
    Join(nix::Error),
    #[error("the network helper (pid {0}) did not stop")]
    Stuck(i32),
}

/// Connects to the helper of the store at `root`, starting it if needed.
/// `in_userns`: the caller is already in the helper's user namespace.
pub fn connect(root: &Path, in_userns: bool) -> Result<UnixStream, ClientError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::Io { op, path, source }
    };
    // A `system reset` may remove the directory while we wait for its
    // lock: then the lock held is of a removed file, and we start over.
    let mut tries = 0;
    let (dir, _lock) = loop {
        let dir = super::prepare_runtime_dir(root)?;
        match lock_runtime_dir(&dir)? {
            Some(lock) => break (dir, lock),
            None if tries < 100 => tries += 1,
            None => {
                return Err(ClientError::Io {
                    op: "lock",
                    path: dir.join(helper::LOCK),
                    source: std::io::Error::other("removed again at each try"),
                })
            }
        }
    };
    let sock = dir.join(helper::SOCKET);
    if let Ok(s) = UnixStream::connect(&sock) {
        return Ok(s);
    }
    let log_path = dir.join(helper::LOG);
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io("open", &log_path))?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    std::os::unix::process::CommandExt::arg0(&mut cmd, "rless");
    cmd.arg("--root").arg(root).arg("network-helper");
    if in_userns {
        cmd.arg("--in-userns");
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(io("open", &log_path))?)
        .stderr(log);
    let status = cmd
        .status()
        .map_err(|e| ClientError::Start(e.to_string()))?;
    let why = || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = text.lines().last().unwrap_or("").to_string();
        format!("{last} (see {})", log_path.display())
    };
    if !status.success() {
        return Err(ClientError::Start(why()));
    }
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match UnixStream::connect(&sock) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return Err(ClientError::Start(why())),
        }
    }
}

fn ask(s: &mut UnixStream, req: &Request) -> Result<(), ClientError> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    helper::write_json(s, req).map_err(ClientError::Talk)
}

fn answer(s: &mut UnixStream) -> Result<Response, ClientError> {
    let line = helper::read_line(s).map_err(ClientError::Talk)?;
    let r: Response =
        serde_json::from_str(&line).map_err(|e| ClientError::Talk(std::io::Error::other(e)))?;
    match r.error {
        Some(e) => Err(ClientError::Helper(e)),
        None => Ok(r),
    }
}

/// Joins the helper's user namespace (nothing to do as real root). The
/// caller must be single-threaded.
pub fn join_userns(root: &Path, ids: &IdMode) -> Result<(), ClientError> {
    if matches!(ids, IdMode::Root) {
        return Ok(());
    }
    let mut s = connect(root, false)?;
    ask(&mut s, &Request::Userns)?;
    answer(&mut s)?;
    let fd = netstack::fdpass::recv_fd(&s).map_err(|e| match e {
        netstack::Error::Io { source, .. } => ClientError::Talk(source),
        other => ClientError::Talk(std::io::Error::other(other)),
    })?;
    // A helper started inside `rless unshare` (subuid mode) is in this
    // very namespace, which setns refuses to join again (EINVAL).
    let same = |a: &std::fs::Metadata, b: &rustix::fs::Stat| {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.st_dev && a.ino() == b.st_ino
    };
    if let (Ok(own), Ok(theirs)) = (
        std::fs::metadata("/proc/self/ns/user"),
        rustix::fs::fstat(&fd),
    ) {
        if same(&own, &theirs) {
            return Ok(());
        }
    }
    nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWUSER).map_err(ClientError::Join)
}

/// Attaches the container whose init is `init` to its networks, its
/// other names to go to `dns` (the host's resolver if empty); returns its
/// address on each, and its tie to the helper. The caller is in the
/// helper's user namespace.
pub fn attach(
    root: &Path,
    container: &str,
    init: i32,
    networks: &[Attachment],
    dns: &[IpAddr],
    pod_names: &[String],
) -> Result<(Vec<Ipv4Addr>, Tie), ClientError> {
    let p = PathBuf::from(format!("/proc/{init}/ns/net"));
    let ns = std::fs::File::open(&p).map_err(|source| ClientError::Io {
        op: "open",
        path: p.clone(),
        source,
    })?;
    let mut s = connect(root, true)?;
    ask(
        &mut s,
        &Request::Attach {
            container: container.to_string(),
            init_pid: init,
            networks: networks.to_vec(),
            dns: dns.to_vec(),
            pod_names: pod_names.to_vec(),
        },
    )?;
    netstack::fdpass::send_fd(&s, ns.as_fd())
        .map_err(|e| ClientError::Talk(std::io::Error::other(e)))?;
    let ips = answer(&mut s)?.ips;
    Ok((ips, Tie::new(s, root, container)))
}

/// A monitor's open connection to the helper that plugged its container
/// in. The helper never writes on it, so it turns readable only when the
/// helper is gone; the kernel then sends the monitor SIGCHLD (O_ASYNC), the
/// signal its wait loops already wake for, and [`Tie::renew`] starts a new
/// helper, which gives the container its networks back from
/// `attachments.json`.
pub struct Tie {
    stream: UnixStream,
    root: PathBuf,
    container: String,
}

impl Tie {
    fn new(stream: UnixStream, root: &Path, container: &str) -> Tie {
        // Without the signal, the loss is noticed at the next SIGCHLD.
        let _ =
            crate::runtime::sys::signal_on_input(stream.as_fd(), nix::sys::signal::Signal::SIGCHLD);
        Tie {
            stream,
            root: root.to_path_buf(),
            container: container.to_string(),
        }
    }

    /// Whether the helper has hung up.
    pub fn broken(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&self.stream, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&zero)).unwrap_or(0) > 0
    }

    /// After the helper died: connects to a new one (starting it; the
    /// caller is in its user namespace), which has plugged the container
    /// in again, and ties to it.
    /// The dying helper closes its descriptors in no set order: a
    /// connection its listener took just before it closed is reset, so a
    /// failed talk is tried again for a while.
    pub fn renew(&self) -> Result<Tie, ClientError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.watch() {
                Err(ClientError::Talk(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                r => return r,
            }
        }
    }

    fn watch(&self) -> Result<Tie, ClientError> {
        let mut s = connect(&self.root, true)?;
        ask(
            &mut s,
            &Request::Watch {
                container: self.container.clone(),
            },
        )?;
        answer(&mut s)?;
        Ok(Tie::new(s, &self.root, &self.container))
    }
}

/// `network connect`/`disconnect` of a running container: one request
/// (the helper opens the container's namespace itself); the address on
/// the network, for a connect.
pub fn change(root: &Path, req: &Request) -> Result<Option<Ipv4Addr>, ClientError> {
    let mut s = connect(root, false)?;
    ask(&mut s, req)?;
    Ok(answer(&mut s)?.ips.first().copied())
}

/// Tells the helper of the store at `root` of a change to a container it
/// may have attached (a pod member's name, [`super::podnames`]), when a
/// helper runs: none runs, none has attached the container.
pub fn tell(root: &Path, req: &Request) -> Result<(), ClientError> {
    let sock = super::runtime_dir(root).join(helper::SOCKET);
    let Ok(mut s) = UnixStream::connect(sock) else {
        return Ok(());
    };
    ask(&mut s, req)?;
    answer(&mut s).map(drop)
}

/// `system reset`: stops the helper of the store at `root`, if one runs
/// (SIGKILL: the containers it served are gone, and their namespaces and
/// its networks go with it), and removes its runtime directory. Under the
/// directory's lock, so no `run` starts a helper meanwhile.
pub fn shut_down(root: &Path) -> Result<(), ClientError> {
    let dir = super::runtime_dir(root);
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClientError::Io { op, path, source }
    };
    // Only a directory of ours (one in the shared /tmp may be anyone's).
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() && m.uid() == rustix::process::getuid().as_raw() => {}
        _ => return Ok(()),
    }
    // `None`: another reset removed the directory meanwhile.
    let Some(_lock) = lock_runtime_dir(&dir)? else {
        return Ok(());
    };
    let pid = std::fs::read_to_string(dir.join(helper::PID))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok());
    if let Some(pid) = pid.filter(|&p| p > 0 && helper_of(p, &dir)) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        // Reaped by whoever adopted it; a zombie counts as gone.
        let deadline = Instant::now() + START_TIMEOUT;
        while crate::container::process_start(pid).is_some() {
            if Instant::now() > deadline {
                return Err(ClientError::Stuck(pid));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::fs::remove_dir_all(&dir).map_err(io("remove", &dir))
}

/// Takes the lock of the runtime directory `dir`, which serializes starting
/// and stopping its helper; held until the file is dropped. `None` when the
/// directory was removed (by `system reset`) while we waited: the lock is
/// then of a file no one else will lock.
fn lock_runtime_dir(dir: &Path) -> Result<Option<std::fs::File>, ClientError> {
    let path = dir.join(helper::LOCK);
    let err = |op| {
        let path = path.clone();
        move |source| ClientError::Io { op, path, source }
    };
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(err("open"))?;
    lock.lock().map_err(err("lock"))?;
    use std::os::unix::fs::MetadataExt;
    let held = lock.metadata().map_err(err("stat"))?;
    Ok(match std::fs::metadata(&path) {
        Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => Some(lock),
        _ => None,
    })
}

/// Whether `pid` is the helper whose runtime directory is `dir` (a pid
/// file a killed helper left may name another process by now).
fn helper_of(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let root = args
        .windows(2)
        .find(|w| w[0] == b"--root")
        .map(|w| Path::new(std::ffi::OsStr::from_bytes(w[1])));
    args.contains(&&b"network-helper"[..]) && root.is_some_and(|r| super::runtime_dir(r) == dir)
}
