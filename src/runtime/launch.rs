//! A process's last steps in the container, from the fork to its exec:
//! the command's (forked by [`super::init`]) and those of `exec`
//! ([`super::exec`]).
//!
//! Theory of operation: [`prepare_and_exec`] runs stages 7 and 8 in an
//! order the kernel dictates. It resets the signal state the caller had,
//! attaches the terminal (or /dev/null as stdin), sets oom_score_adj,
//! umask and personality, and drops the bounding capabilities while it
//! still may. Then it sets no_new_privs or, where that is off, installs
//! the seccomp filter at once (the kernel then takes one only from a
//! holder of CAP_SYS_ADMIN, which the user switch gives up); with
//! no_new_privs the filter goes in last of all. The working directory is
//! entered before the switch (a directory only root may enter) and,
//! refused there, after it. Then groups, gid, uid, root's capabilities,
//! the parent death signal (which the switch clears) and the rlimits;
//! last [`exec`], a PATH search in the container's environment. Every
//! failure comes back as docker's exit code and one line for the status
//! pipe; success never returns.

use super::caps::{self, CapSet};
use super::init::{EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_SETUP};
use super::user::ExecUser;
use nix::sys::signal::SigSet;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// What a successful exec returns: nothing.
pub(super) enum Never {}

/// What tells a process that its parent, whose end kills it (SIGKILL as
/// its parent death signal), had already ended when that was set.
pub(super) enum DieWith<'a> {
    /// The parent's pid, seen from the process's pid namespace.
    Parent(u32),
    /// The write end of a pipe whose read end only the parent holds (a
    /// parent outside the process's pid namespace has no pid there): no
    /// reader left, the parent is gone.
    Reader(std::os::fd::BorrowedFd<'a>),
}

impl DieWith<'_> {
    fn parent_gone(&self) -> bool {
        match self {
            DieWith::Parent(pid) => std::os::unix::process::parent_id() != *pid,
            DieWith::Reader(fd) => {
                let mut fds = [rustix::event::PollFd::new(
                    fd,
                    rustix::event::PollFlags::OUT,
                )];
                let now = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                matches!(rustix::event::poll(&mut fds, Some(&now)), Ok(n) if n > 0)
                    && fds[0].revents().contains(rustix::event::PollFlags::ERR)
            }
        }
    }
}

/// Stages 7 and 8 for a process in the container (the command, or one
/// started by `exec`): terminal, capabilities, no_new_privs, user, working
/// directory, exec. Returns only on failure, with docker's exit code.
/// With `die_with`, the process is killed when its parent ends.
pub(super) fn prepare_and_exec(
    p: &super::ProcessSpec,
    hostname: &str,
    user: &ExecUser,
    tty: Option<OwnedFd>,
    seccomp: Option<&super::seccomp::Program>,
    die_with: Option<DieWith<'_>>,
) -> Result<Never, (i32, String)> {
    let setup_err = |what: &str, e: &dyn std::fmt::Display| (EXIT_SETUP, format!("{what}: {e}"));
    // A clean signal state whatever the caller had: nothing blocked, and
    // nothing ignored (a `nohup`ed caller would otherwise hand SIGHUP
    // ignored to the container, where a shell can no longer trap it).
    let _ = SigSet::all().thread_unblock();
    super::sys::reset_signal_dispositions();
    if let Some(t) = tty {
        nix::unistd::setsid().map_err(|e| setup_err("setsid", &e))?;
        super::sys::set_controlling_tty(t.as_fd())
            .map_err(|e| setup_err("set the controlling terminal", &e))?;
        for dup in [
            rustix::stdio::dup2_stdin,
            rustix::stdio::dup2_stdout,
            rustix::stdio::dup2_stderr,
        ] {
            dup(&t).map_err(|e| setup_err("attach the terminal", &e))?;
        }
    } else if !p.stdin {
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| setup_err("open /dev/null", &e))?;
        rustix::stdio::dup2_stdin(&null).map_err(|e| setup_err("redirect stdin", &e))?;
    }
    if let Some(adj) = p.oom_score_adj {
        // Raising it needs nothing; lowering it, CAP_SYS_RESOURCE of the
        // initial namespace, which no rootless container has.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| setup_err(&format!("set oom_score_adj to {adj}"), &e))?;
    }
    if let Some(mask) = p.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    }
    if let Some(domain) = p.personality {
        use nix::sys::personality::{set, Persona};
        set(Persona::from_bits_retain(domain as i32))
            .map_err(|e| setup_err(&format!("set the personality {domain:#x}"), &e))?;
    }
    drop_capabilities(p.caps, user.uid).map_err(|e| setup_err("drop capabilities", &e))?;
    if p.no_new_privs {
        rustix::thread::set_no_new_privs(true).map_err(|e| setup_err("set no_new_privs", &e))?;
    } else if let Some(program) = seccomp {
        // Without no_new_privs the kernel takes a filter only from a holder
        // of CAP_SYS_ADMIN, which the user switch below gives up: install
        // it now (the calls that follow are all in the default allow list).
        super::seccomp::install(program)
            .map_err(|e| setup_err("install the seccomp filter", &e))?;
    }
    // The working directory is entered before the user switch, as runc
    // does, so a directory only root may enter (`exec -u 1000 -w /root`)
    // works; refused there, it is tried again as the user (who may own
    // it). docker's codes when neither can: 127 when it is missing (only
    // `exec` meets one: `run` makes it), 126 when it may not be entered.
    let cwd_err = |e: std::io::Error| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => EXIT_NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => EXIT_CANNOT_EXEC,
            _ => EXIT_SETUP,
        };
        (
            code,
            format!("cannot enter working directory {}: {e}", p.cwd),
        )
    };
    let enter_cwd_after_switch = match std::env::set_current_dir(&p.cwd) {
        Ok(()) => false,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => true,
        Err(e) => return Err(cwd_err(e)),
    };
    let groups: Vec<nix::unistd::Gid> = user
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // setgroups is denied in single-id mode (`run` refuses --group-add
    // there); the process then keeps the groups it has. keep-groups keeps
    // them on purpose: the caller's, which the user namespace does not map
    // (they show as the overflow gid), still open the host's files.
    if !user.keep_groups {
        let _ = nix::unistd::setgroups(&groups);
    }
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| id_err("group", user.gid, e))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| id_err("user", user.uid, e))?;
    if user.uid == 0 {
        set_capabilities(p.caps).map_err(|e| setup_err("set capabilities", &e))?;
    }
    if enter_cwd_after_switch {
        std::env::set_current_dir(&p.cwd).map_err(cwd_err)?;
    }
    if let Some(parent) = die_with {
        // After the user switch, which clears it.
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
            .map_err(|e| setup_err("set the parent death signal", &e))?;
        if parent.parent_gone() {
            let who = match parent {
                DieWith::Parent(_) => "the container's init",
                DieWith::Reader(_) => "rless exec",
            };
            return Err((EXIT_SETUP, format!("{who} ended")));
        }
    }
    let env = environment(p, hostname, user);
    for (name, soft, hard) in &p.rlimits {
        set_rlimit(name, *soft, *hard)
            .map_err(|e| setup_err(&format!("set the {name} limit"), &e))?;
    }
    // Last, so that nothing rless does itself runs under the filter.
    if let Some(program) = seccomp.filter(|_| p.no_new_privs) {
        super::seccomp::install(program)
            .map_err(|e| setup_err("install the seccomp filter", &e))?;
    }
    exec(&p.args, &env)
}

/// The resource names of `--ulimit`, as docker spells them.
pub fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        "as" => R::As,
        _ => return None,
    })
}

fn set_rlimit(name: &str, soft: u64, hard: u64) -> std::io::Result<()> {
    let res = rlimit_resource(name).ok_or_else(|| std::io::Error::other("unknown resource"))?;
    let lim = |v: u64| (v != u64::MAX).then_some(v);
    rustix::process::setrlimit(
        res,
        rustix::process::Rlimit {
            current: lim(soft),
            maximum: lim(hard),
        },
    )?;
    Ok(())
}

/// EINVAL from setresuid/setresgid means the id has no mapping.
fn id_err(what: &str, id: u32, e: nix::errno::Errno) -> (i32, String) {
    if e == nix::errno::Errno::EINVAL {
        let why = "only your subordinate id range is mapped, or in single-id mode only your own id, or with --uidmap/--gidmap the ids they give";
        (
            EXIT_SETUP,
            format!("{what} {id} is not mapped in the container's user namespace ({why})"),
        )
    } else {
        (EXIT_SETUP, format!("cannot switch to {what} {id}: {e}"))
    }
}

/// The command's environment: the image's and the user's, plus docker's
/// defaults for PATH, HOME, HOSTNAME and TERM.
fn environment(p: &super::ProcessSpec, hostname: &str, user: &ExecUser) -> Vec<String> {
    let key = |e: &String| e.split_once('=').map_or(e.clone(), |(k, _)| k.to_string());
    let mut env = p.env.clone();
    // Secrets win over variables of the same name.
    env.retain(|e| !p.secret_env.iter().any(|s| key(s) == key(e)));
    env.extend(p.secret_env.iter().cloned());
    // A default the user unset counts as there (`--unsetenv`).
    let has = |env: &[String], k: &str| {
        p.unset_defaults.iter().any(|u| u == k || u == "*")
            || env
                .iter()
                .any(|e| e.split_once('=').is_some_and(|(n, _)| n == k))
    };
    if !has(&env, "PATH") {
        env.push(format!("PATH={}", super::DEFAULT_PATH));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", user.home));
    }
    if p.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    env
}

/// Drops every capability outside `keep` from the bounding set.
pub(super) fn drop_capabilities(keep: CapSet, _uid: u32) -> std::io::Result<()> {
    for cap in 0..=caps::last_cap() {
        if !keep.contains(cap) {
            let set = rustix::thread::CapabilitySet::from_bits_retain(1 << cap);
            match rustix::thread::remove_capability_from_bounding_set(set) {
                // Capabilities newer than the kernel are simply absent.
                Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    rustix::thread::clear_ambient_capability_set().or_else(|e| {
        if e == rustix::io::Errno::INVAL {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    Ok(())
}

pub(super) fn set_capabilities(keep: CapSet) -> std::io::Result<()> {
    let set = rustix::thread::CapabilitySet::from_bits_retain(keep.0);
    rustix::thread::set_capabilities(
        None,
        rustix::thread::CapabilitySets {
            effective: set,
            permitted: set,
            // Empty, as docker since 20.10.14 (CVE-2022-24769): an
            // inheritable set would let file capabilities grant more to a
            // non-root program.
            inheritable: rustix::thread::CapabilitySet::empty(),
        },
    )?;
    Ok(())
}

/// execve with a PATH search in the container's environment, mapping
/// failures to docker's exit codes.
fn exec(args: &[String], env: &[String]) -> Result<Never, (i32, String)> {
    let Some(cmd) = args.first() else {
        return Err((
            EXIT_CANNOT_EXEC,
            "no command given and the image has none".into(),
        ));
    };
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| (EXIT_CANNOT_EXEC, format!("{s:?} contains a NUL byte")))
    };
    let argv: Vec<CString> = args.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect::<Result<_, _>>()?;
    let candidates: Vec<String> = if cmd.contains('/') {
        vec![cmd.clone()]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(super::DEFAULT_PATH);
        path.split(':')
            .map(|d| format!("{}/{cmd}", if d.is_empty() { "." } else { d }))
            .collect()
    };
    let mut denied = None;
    for c in &candidates {
        let path = cstr(c)?;
        let err = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
        match err {
            nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR => {}
            nix::errno::Errno::EACCES => denied = Some(c.clone()),
            e if cmd.contains('/') || Path::new(c).exists() => {
                return Err((
                    EXIT_CANNOT_EXEC,
                    format!("cannot execute {c:?}: {}", e.desc()),
                ));
            }
            _ => {}
        }
    }
    match denied {
        Some(c) => Err((
            EXIT_CANNOT_EXEC,
            format!("cannot execute {c:?}: permission denied"),
        )),
        None if cmd.contains('/') => Err((
            EXIT_NOT_FOUND,
            format!("{cmd:?}: no such file or directory"),
        )),
        // `run IMAGE --opt …`: an option after the image is the command.
        None if cmd.starts_with('-') => Err((
            EXIT_NOT_FOUND,
            format!(
                "{cmd:?}: executable file not found in $PATH (options go before the image, or the container for exec)"
            ),
        )),
        None => Err((
            EXIT_NOT_FOUND,
            format!("{cmd:?}: executable file not found in $PATH"),
        )),
    }
}
