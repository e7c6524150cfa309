//! `rless unshare [COMMAND [ARG…]]`: run a command in the user namespace
//! rless's containers use, as root there, as `podman unshare` does.
//!
//! What it is for: files that a container's non-root users wrote to a bind
//! mount belong, on the host, to the user's subordinate ids, which the user
//! cannot remove or chown from outside. Inside the namespace those ids are
//! mapped, and the user's own uid is root, so `rless unshare rm -rf DIR` or
//! `rless unshare chown -R 0:0 DIR` works.
//!
//! - Subuid mode: the command is re-executed in the user namespace with the
//!   full mapping (as every store command is), then execs COMMAND.
//! - Single-id mode: a user namespace that maps only the user's own id to 0;
//!   there are no other ids to reach, but the user is root in it.
//! - As real root there is nothing to enter: COMMAND just runs.
//!
//! Signals: in subuid mode the rless that re-executes itself in the
//! namespace waits for it, and its end ends the command (SIGTERM,
//! `userns::die_with_launcher`). ^C and ^\ typed at the terminal reach the
//! whole foreground process group, that launcher included: as with
//! `podman unshare`, they are the command's to handle (an interactive
//! shell's foreground job, or a command that traps them), so the launcher
//! lets those that come from the terminal pass; the same signals sent to
//! it by a process (`kill`) still end it, and the command with it.
//!
//! The command also gets a mount namespace of its own, as podman's does:
//! `rless mount` works only there ([`rless::container::session`]), and what
//! it mounts goes when the command ends.
//!
//! With no COMMAND, `$SHELL` runs (else `/bin/sh`). The exit code is the
//! command's; one that cannot be found exits 127 and one that cannot be run
//! 126, as a shell does.

use super::Ctx;
use anyhow::Result;
use rless::userns::IdMode;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// COMMAND [ARG…] (default: $SHELL, else /bin/sh).
    #[arg(allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    match &ctx.ids {
        IdMode::Root => {}
        IdMode::Single { .. } => {
            rless::runtime::ids::enter(&ctx.ids, false, false)?;
            // rless inside is the user here, though uid 0.
            rless::userns::mark_single_session();
        }
        IdMode::SubUid { .. } => {
            if !rless::userns::in_userns() {
                survive_terminal_signals();
            }
            if let Some(code) = ctx.enter_userns()? {
                return Ok(code);
            }
        }
    }
    // Mounts the command makes (`rless mount`) are its own, and go with it.
    if !matches!(ctx.ids, IdMode::Root) {
        rless::userns::enter_mount_session()?;
    }
    let mut words = a.command.into_iter();
    let program = words
        .next()
        .or_else(|| std::env::var("SHELL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/bin/sh".into());
    let shown = rless::message::printable(&program);
    let Some(path) = find_program(&program) else {
        if program.contains('/') {
            eprintln!("rless: {shown}: no such file or directory");
        } else {
            eprintln!("rless: {shown}: command not found");
        }
        return Ok(ExitCode::from(127));
    };
    let err = std::process::Command::new(path)
        .arg0(&program)
        .args(words)
        .exec();
    eprintln!("rless: cannot run {shown}: {err}");
    Ok(ExitCode::from(126))
}

/// In the launcher (subuid mode): SIGINT and SIGQUIT from the terminal
/// (the kernel, `SI_KERNEL`) no longer end this process; the command,
/// in the same foreground group, gets them too. A handler, not SIG_IGN:
/// the re-executed rless and the command start with the default action
/// (an exec resets handled signals, not ignored ones). Signals the caller
/// left ignored stay so.
fn survive_terminal_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let pass_terminals = SigAction::new(
        SigHandler::SigAction(terminal_signal),
        SaFlags::SA_RESTART | SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: the handler makes only async-signal-safe calls (see
        // `terminal_signal`); no other thread exists yet.
        if let Ok(old) = unsafe { sigaction(sig, &pass_terminals) } {
            if matches!(old.handler(), SigHandler::SigIgn) {
                // SAFETY: restores what the caller set.
                let _ = unsafe { sigaction(sig, &old) };
            }
        }
    }
}

/// The launcher's SIGINT/SIGQUIT handler: one from the terminal is let
/// pass; one a process sent has its default action (the launcher ends).
extern "C" fn terminal_signal(
    sig: nix::libc::c_int,
    info: *mut nix::libc::siginfo_t,
    _: *mut nix::libc::c_void,
) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo.
    let code = unsafe { (*info).si_code };
    if code == nix::libc::SI_KERNEL {
        return;
    }
    // SAFETY: signal(2) with SIG_DFL and raise(3) are async-signal-safe;
    // the signal is blocked while its handler runs, so it is taken, with
    // its default action, once the handler returns.
    unsafe {
        nix::libc::signal(sig, nix::libc::SIG_DFL);
        nix::libc::raise(sig);
    }
}

/// `program` itself when it names a path that is there, else the first file of that name
/// in `$PATH`, as a shell looks it up (directories it cannot search are
/// passed over, not reported).
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        // One that is not there is not found (127), as with a shell; one
        // that is there but cannot run fails at the exec (126).
        let path = std::path::PathBuf::from(program);
        return path.exists().then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}
