//! The container's environment, in two steps as `run` needs them.
//!
//! [`user_env`] gathers what the user set (`--env-host`, `--env-file`,
//! `-e`, and the variables of CDI devices, which podman applies last), and
//! is called before the pull so a mistake is reported at once.
//! [`assemble`] then puts the defaults (the proxy variables and the
//! image's `ENV`) under them: `--unsetenv`/`--unsetenv-all` drop defaults,
//! `--env-merge KEY=VALUE` rewrites one default with `$KEY`/`${KEY}`
//! standing for the default's values (podman's: `--env-merge
//! 'PATH=/x:${PATH}'`), and the user's variables go over everything.

use super::options::{host_env, proxy_env, read_env_file};
use super::Args;
use anyhow::{bail, Result};

/// The variables the user set, in order (a later one wins).
pub(super) fn user_env(a: &Args, cdi: Option<&rless::cdi::Resolved>) -> Result<Vec<String>> {
    let mut user_env: Vec<String> = if a.env_host {
        // Not std::env::vars, which panics at a variable that is not UTF-8:
        // such a one is left out.
        std::env::vars_os()
            .filter_map(|(k, v)| {
                Some(format!(
                    "{}={}",
                    k.into_string().ok()?,
                    v.into_string().ok()?
                ))
            })
            .collect()
    } else {
        Vec::new()
    };
    for f in &a.env_file {
        user_env.extend(read_env_file(f)?);
    }
    for f in &a.env_file0 {
        user_env.extend(read_env_file0(f)?);
    }
    for e in &a.env {
        match e.split_once('=') {
            Some(("", _)) => bail!("invalid environment variable {e:?}"),
            Some(_) => user_env.push(e.clone()),
            // `-e KEY` takes the caller's value, and is dropped when unset;
            // `-e 'KEY*'` takes every variable of that prefix (podman).
            None => user_env.extend(host_env(e)),
        }
    }
    // As podman applies CDI edits last, the devices' variables win.
    if let Some(r) = cdi {
        user_env.extend(r.env.iter().cloned());
    }
    Ok(user_env)
}

/// Checks the `--env-merge` options (KEY=VALUE each).
pub(super) fn check_merge(a: &Args) -> Result<()> {
    for m in &a.more.env_merge {
        match m.split_once('=') {
            Some((k, _)) if !k.is_empty() => {}
            _ => bail!("invalid --env-merge {m:?}: use KEY=VALUE (VALUE may name $KEY)"),
        }
    }
    Ok(())
}

/// The process's environment (before duplicates are dropped): the
/// defaults, less what is unset, merged, then the user's.
pub(super) fn assemble(a: &Args, image_env: Vec<String>, user_env: Vec<String>) -> Vec<String> {
    let mut env: Vec<String> = if a.unsetenv_all {
        Vec::new()
    } else {
        let mut env = proxy_env(a.http_proxy);
        env.extend(image_env);
        env
    };
    env.retain(|e| {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        !a.unsetenv.iter().any(|u| u == key)
    });
    for m in &a.more.env_merge {
        let merged = expand(m, &env);
        env.push(merged);
        env = super::options::dedup_env(env);
    }
    env.extend(user_env);
    env
}

/// `$NAME` and `${NAME}` in `word` replaced by their values in `env`
/// (empty when unset); `\$` is a dollar sign.
fn expand(word: &str, env: &[String]) -> String {
    let value = |name: &str| {
        env.iter()
            .rev()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
            // The runtime's PATH when the defaults have none.
            .or((name == "PATH").then_some(rless::runtime::DEFAULT_PATH))
            .unwrap_or("")
            .to_string()
    };
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if rest[i..].starts_with('\\') {
            match after.strip_prefix('$') {
                Some(r) => {
                    out.push('$');
                    rest = r;
                }
                None => {
                    out.push('\\');
                    rest = after;
                }
            }
            continue;
        }
        if let Some(braced) = after.strip_prefix('{') {
            if let Some(end) = braced.find('}') {
                out.push_str(&value(&braced[..end]));
                rest = &braced[end + 1..];
                continue;
            }
        }
        let end = after.find(|c| !is_name(c)).unwrap_or(after.len());
        if end == 0 {
            out.push('$');
        } else {
            out.push_str(&value(&after[..end]));
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The hidden `--env-file0`: `KEY=VALUE` entries each ended by a NUL byte,
/// so a value may hold line breaks (`kube play` writes its variables from
/// Secrets so, into a pipe, rather than into the child's environment,
/// where a name such as PATH or HOME would change the child itself).
fn read_env_file0(path: &std::path::Path) -> Result<Vec<String>> {
    use anyhow::Context;
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read env file {}", path.display()))?;
    let mut out = Vec::new();
    for entry in bytes.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let Ok(entry) = std::str::from_utf8(entry) else {
            bail!("a variable in env file {} is not UTF-8", path.display());
        };
        match entry.split_once('=') {
            Some((k, _)) if !k.is_empty() => out.push(entry.to_string()),
            _ => bail!(
                "invalid entry in env file {}: KEY=VALUE each",
                path.display()
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn expands() {
        let env = vec!["PATH=/bin:/usr/bin".to_string(), "A=1".to_string()];
        assert_eq!(expand("PATH=/x:${PATH}", &env), "PATH=/x:/bin:/usr/bin");
        assert_eq!(expand("B=$A-$A.${NONE}z", &env), "B=1-1.z");
        assert_eq!(expand("C=\\$A $ ${", &env), "C=$A $ ${");
        assert_eq!(
            expand("P=${PATH}", &[]),
            format!("P={}", rless::runtime::DEFAULT_PATH)
        );
    }
}
