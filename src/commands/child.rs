//! Child `rless` commands on the same store, for commands made of others
//! (`pod create`'s infra container, `pod clone`, `kube play`): the child
//! runs to its end with no input, and what it says becomes the parent's.
//! A failure is the child's one error line (its last `rless:` line that
//! is not a warning, without the prefix), for the parent to return as
//! its own; a success's warnings are printed as the parent's.

use super::Ctx;
use anyhow::{bail, Context, Result};
use std::process::{Command, Output, Stdio};

/// `rless --root ROOT` of this store, ready for its arguments.
pub fn command(ctx: &Ctx) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find the rless binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root").arg(&ctx.root).stdin(Stdio::null());
    Ok(cmd)
}

/// Runs `rless ARGS` to its end: its stdout (trimmed), or its error line.
pub fn run(ctx: &Ctx, args: &[String]) -> Result<String> {
    let out = command(ctx)?
        .args(args)
        .output()
        .context("cannot run rless")?;
    outcome(out)
}

/// A finished child's stdout (trimmed), or its error line.
pub fn outcome(out: Output) -> Result<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let line = err
            .lines()
            .rev()
            .find(|l| l.starts_with("rless: ") && !l.starts_with("rless: warning"))
            .map_or_else(
                || err.lines().next().unwrap_or("").trim(),
                |l| &l["rless: ".len()..],
            );
        bail!("{line}");
    }
    for l in err.lines().filter(|l| l.starts_with("rless: warning")) {
        eprintln!("{l}");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
