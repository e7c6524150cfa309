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
        IdMode::Single { .. } => rless::runtime::ids::enter(&ctx.ids, false, false)?,
        IdMode::SubUid { .. } => {
            if let Some(code) = ctx.enter_userns()? {
                return Ok(code);
            }
        }
    }
    let mut words = a.command.into_iter();
    let program = words
        .next()
        .or_else(|| std::env::var("SHELL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "/bin/sh".into());
    let shown = rless::message::printable(&program);
    let Some(path) = find_program(&program) else {
        eprintln!("rless: {shown}: command not found");
        return Ok(ExitCode::from(127));
    };
    let err = std::process::Command::new(path)
        .arg0(&program)
        .args(words)
        .exec();
    eprintln!("rless: cannot run {shown}: {err}");
    Ok(ExitCode::from(126))
}

/// `program` itself when it names a path, else the first file of that name
/// in `$PATH`, as a shell looks it up (directories it cannot search are
/// passed over, not reported).
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        return Some(program.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}
