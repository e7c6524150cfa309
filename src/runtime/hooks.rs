//! OCI hooks (named by CDI specs) run at a container's start.
//!
//! Theory of operation: `run` keeps the hooks of the CDI devices in the
//! container's spec with the container's id, annotations and a bundle
//! directory, in which it writes a minimal OCI `config.json` whose
//! `root.path` is the container's root as a hook sees it (the merged
//! directory, mounted in the container's mount namespace before the
//! pivot). Hooks such as nvidia-ctk's read the root from there. The init
//! runs them, each with the OCI state JSON (`ociVersion`, `id`, `status`,
//! `pid`, `bundle`, `annotations`) on its stdin, its own argv and
//! environment only, and its stdout and stderr on the container's stderr:
//! - `prestart` and `createRuntime`, then `createContainer`, after every
//!   mount and before the pivot, so their paths are the host's and they
//!   see the container's mounts (rootless, the "runtime namespace" is the
//!   init's own mount namespace before the pivot: the host's tree with the
//!   container's mounts added);
//! - `startContainer` after the pivot, just before the command is started,
//!   with the container's paths;
//! - `poststart` by the monitor, in the caller's namespaces, once the
//!   command's exec succeeded (status `running`);
//! - `poststop` by the monitor once the container has ended and its
//!   network and storage are torn down (status `stopped`), at each stop.
//!
//! A hook that cannot start, exits non-zero, or outlives its `timeout`
//! (then killed) fails the start; a failing poststart or poststop hook is
//! only a warning, as the OCI spec has it.
//! `pid` is the init's pid as the caller's pid namespace numbers it.

use crate::cdi::Hook;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The OCI runtime spec version stated.
const OCI_VERSION: &str = "1.0.2";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OciHooks {
    pub id: String,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub hooks: Vec<Hook>,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{point} hook {path} failed: {why}")]
    Failed {
        point: String,
        path: String,
        why: String,
    },
    #[error("cannot write the OCI bundle {path}: {source}")]
    Bundle {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `dir/bundle/config.json`: the container's root (`merged`), its
/// process (args, env, cwd) and hostname; returns the bundle directory.
pub fn write_bundle(
    dir: &Path,
    merged: &Path,
    process: (&[String], &[String], &str),
    hostname: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<PathBuf, HookError> {
    let bundle = dir.join("bundle");
    let config = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "root": {"path": merged, "readonly": false},
        "process": {
            "args": process.0,
            "env": process.1,
            "cwd": process.2,
        },
        "hostname": hostname,
        "annotations": annotations,
    });
    let err = |source| HookError::Bundle {
        path: bundle.clone(),
        source,
    };
    std::fs::create_dir_all(&bundle).map_err(err)?;
    let text = serde_json::to_vec_pretty(&config).map_err(|e| err(std::io::Error::other(e)))?;
    std::fs::write(bundle.join("config.json"), text).map_err(err)?;
    Ok(bundle)
}

/// The caller's pid of this process: /proc is still the caller's before
/// the pivot; elsewhere, the pid it sees.
pub fn host_pid() -> u32 {
    std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(std::process::id)
}

impl OciHooks {
    /// Runs the hooks of `points`, in the order the specs list them.
    pub fn run(&self, points: &[&str], status: &str, pid: u32) -> Result<(), HookError> {
        let state = serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string();
        for h in self
            .hooks
            .iter()
            .filter(|h| points.contains(&h.hook_name.as_str()))
        {
            run_one(h, &state).map_err(|why| HookError::Failed {
                point: h.hook_name.clone(),
                path: h.path.clone(),
                why,
            })?;
        }
        Ok(())
    }
}

fn run_one(h: &Hook, state: &str) -> Result<(), String> {
    let mut cmd = Command::new(&h.path);
    if let Some((first, rest)) = h.args.split_first() {
        use std::os::unix::process::CommandExt;
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for e in &h.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    // The hook's output goes with the container's errors.
    let out = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(out))
        .current_dir("/");
    let mut child = cmd.spawn().map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state may have ended already.
        let _ = stdin.write_all(state.as_bytes());
    }
    let status = match h.timeout.filter(|t| *t > 0) {
        None => child.wait().map_err(|e| e.to_string())?,
        Some(t) => {
            let end = Instant::now() + Duration::from_secs(t.unsigned_abs());
            loop {
                if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                    break s;
                }
                if Instant::now() >= end {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timed out after {t}s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(status.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(point: &str, script: &str, timeout: Option<i64>) -> Hook {
        Hook {
            hook_name: point.into(),
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "MINE=yes".into()],
            timeout,
        }
    }

    fn hooks(list: Vec<Hook>) -> OciHooks {
        OciHooks {
            id: "abc".into(),
            bundle: "/b".into(),
            annotations: [("k".to_string(), "v".to_string())].into(),
            hooks: list,
        }
    }

    #[test]
    fn state_on_stdin_own_env_and_points() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("state");
        let other = d.path().join("other");
        let h = hooks(vec![
            hook(
                "createContainer",
                &format!("cat > {}; echo \"$MINE $HOME\" > {0}.env", out.display()),
                None,
            ),
            hook(
                "startContainer",
                &format!("touch {}", other.display()),
                None,
            ),
        ]);
        h.run(&["createContainer"], "creating", 42).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let env = std::fs::read_to_string(d.path().join("state.env")).unwrap();
        assert_eq!(v["id"], "abc");
        assert_eq!(v["status"], "creating");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["bundle"], "/b");
        assert_eq!(v["annotations"]["k"], "v");
        assert_eq!(v["ociVersion"], OCI_VERSION);
        // Only the hook's own variables.
        assert_eq!(env, "yes \n");
        assert!(!other.exists(), "a hook of another point ran");
    }

    #[test]
    fn failures_name_the_hook() {
        let h = hooks(vec![hook("createContainer", "exit 3", None)]);
        let e = h.run(&["createContainer"], "creating", 1).unwrap_err();
        let e = e.to_string();
        assert!(
            e.starts_with("createContainer hook /bin/sh failed: "),
            "{e}"
        );
        assert!(e.contains('3'), "{e}");
        let h = hooks(vec![hook("createContainer", "sleep 30", Some(1))]);
        let e = h.run(&["createContainer"], "creating", 1).unwrap_err();
        assert!(e.to_string().contains("timed out after 1s"), "{e}");
        let mut missing = hook("createContainer", "", None);
        missing.path = "/no/such/hook".into();
        let e = hooks(vec![missing])
            .run(&["createContainer"], "creating", 1)
            .unwrap_err();
        assert!(e.to_string().contains("cannot start it"), "{e}");
    }

    #[test]
    fn bundle_names_the_root() {
        let d = tempfile::tempdir().unwrap();
        let (args, env) = (vec!["true".to_string()], vec!["A=1".to_string()]);
        let b = write_bundle(
            d.path(),
            Path::new("/ctr/merged"),
            (&args, &env, "/"),
            "host",
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(b, d.path().join("bundle"));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        assert_eq!(v["root"]["path"], "/ctr/merged");
        assert_eq!(v["process"]["env"][0], "A=1");
        assert_eq!(v["process"]["args"][0], "true");
        assert_eq!(v["hostname"], "host");
    }
}
