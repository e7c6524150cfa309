//! Build arguments: the platform ARGs docker defines, and what an `ARG`
//! line declares.
//!
//! Theory of operation: an `ARG NAME[=default]` takes the `--build-arg`
//! value when one is given (and notes the name as used, for the warning
//! about unused ones), else its default, else the value a global ARG of
//! that name had; the ARGs before the first FROM are read once, before
//! anything runs, since the FROM lines and the stage plan need them.

use super::parse::Instruction;
use anyhow::{anyhow, Result};
use rless::image::change;

/// The platform ARGs docker and podman define in the global scope (the
/// FROM lines see them; a stage sees one it declares with `ARG NAME`):
/// this host's, the only platform rless builds for.
pub fn platform_args() -> Vec<(String, String)> {
    let p = rless::image::platform::Platform::host();
    // arm64's "v8" is the only arm64 there is: docker leaves it out.
    let variant = p.variant.filter(|_| p.arch != "arm64").unwrap_or_default();
    let platform = if variant.is_empty() {
        format!("{}/{}", p.os, p.arch)
    } else {
        format!("{}/{}/{variant}", p.os, p.arch)
    };
    let mut out = Vec::new();
    for side in ["TARGET", "BUILD"] {
        out.extend([
            (format!("{side}PLATFORM"), platform.clone()),
            (format!("{side}OS"), p.os.clone()),
            (format!("{side}ARCH"), p.arch.clone()),
            (format!("{side}VARIANT"), variant.clone()),
        ]);
    }
    out
}

/// `ARG NAME[=default]…`: adds to `scope` (the build argument's value
/// wins, and its name goes to `used`; a name declared before FROM keeps
/// that value as default).
pub fn declare(
    ins: &Instruction,
    vars: &[(String, String)],
    globals: &[(String, String)],
    build_args: &[(String, String)],
    used: &mut Vec<String>,
    scope: &mut Vec<(String, String)>,
) -> Result<()> {
    for w in change::split_words(&ins.rest, vars).map_err(|w| anyhow!(w))? {
        let (name, default) = match w.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (w.clone(), None),
        };
        let given = build_args
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone());
        if given.is_some() {
            used.push(name.clone());
        }
        let global = globals
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone());
        if let Some(v) = given.or(default).or(global) {
            scope.retain(|(k, _)| *k != name);
            scope.push((name, v));
        }
    }
    Ok(())
}
