//! Helpers shared by the `rless run` tests (`run*.rs`): the busybox image
//! they import, `run`/`sh` wrappers, state.json and `env` readers, a
//! binary-safe runner and a tree fingerprint; the build tests' context
//! writer ([`build_context`]), as they build from the same image.

use super::checks::*;
use super::oci::busybox;
use super::rootfs::{make_rootfs_with, RootfsSpec};
use super::{Ctx, Out, CMD_TIMEOUT, ERR_EXIT};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

/// The name every scenario imports its busybox root filesystem as.
pub const IMG: &str = "bb";

/// Busybox applets linked into the test root filesystem.
pub const APPLETS: &[&str] = &[
    "sh",
    "true",
    "false",
    "id",
    "ps",
    "ls",
    "cat",
    "echo",
    "sleep",
    "kill",
    "mount",
    "touch",
    "mkdir",
    "hostname",
    "stat",
    "wc",
    "env",
    "pwd",
    "grep",
    "head",
    "od",
    "tty",
    "stty",
    "test",
    "printf",
    "rm",
    "chmod",
    "ln",
    "readlink",
    "sha256sum",
    "tr",
    "dd",
    "cut",
    "sort",
];

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
alice:x:1000:1000::/home/alice:/bin/sh\n";

pub const GROUP: &str = "root:x:0:\n\
wheel:x:10:alice\n\
users:x:100:alice,bob\n\
alice:x:1000:\n\
nogroup:x:65534:\n";

// ------------------------------------------------------------------ helpers

/// Writes a busybox root filesystem to `dir`, owned by the test user.
pub fn make_rootfs(ctx: &Ctx, dir: &Path) {
    make_rootfs_with(
        ctx,
        dir,
        &RootfsSpec::new(APPLETS, PASSWD, GROUP).image_file(),
        |_| {},
    );
}

/// Builds the busybox root filesystem under the work dir and imports it as
/// [`IMG`]. False (after a SKIP) when busybox is missing.
pub fn setup_image(ctx: &Ctx) -> bool {
    if busybox().is_none() {
        return false;
    }
    let dir = ctx.work.join("rootfs");
    make_rootfs(ctx, &dir);
    ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
    true
}

/// Whether busybox is there (prints a SKIP otherwise).
pub fn have_busybox() -> bool {
    busybox().is_some()
}

/// `rless run ARGS…`
pub fn run(ctx: &Ctx, args: &[&str]) -> Out {
    let mut a = vec!["run"];
    a.extend_from_slice(args);
    ctx.rless(&a)
}

/// Runs `rless run ARGS…` expecting the rless error contract and no
/// container left behind.
pub fn expect_run_error(ctx: &Ctx, args: &[&str]) -> Out {
    let out = run(ctx, args);
    assert_one_error(&out, ERR_EXIT);
    assert_no_containers(ctx, &out.cmdline);
    out
}

/// `rless run ARGS…`, which must exit 0; returns the output.
pub fn run_ok(ctx: &Ctx, args: &[&str]) -> Out {
    let out = run(ctx, args);
    assert!(out.success(), "rless run failed: {out}");
    out
}

/// `rless run --rm IMG sh -c SCRIPT`, which must exit 0; returns stdout.
pub fn sh(ctx: &Ctx, opts: &[&str], script: &str) -> String {
    let mut a: Vec<&str> = vec!["--rm"];
    a.extend_from_slice(opts);
    a.extend_from_slice(&[IMG, "sh", "-c", script]);
    run_ok(ctx, &a).stdout
}

/// `rless inspect -f FORMAT Q`'s output, trimmed.
pub fn inspect_f(ctx: &Ctx, format: &str, q: &str) -> String {
    ctx.ok(&["inspect", "-f", format, q])
        .stdout
        .trim()
        .to_string()
}

/// The one container in the store.
pub fn only_container(ctx: &Ctx) -> String {
    let c = containers(ctx);
    assert_eq!(c.len(), 1, "expected exactly one container dir: {c:?}");
    c.into_iter().next().unwrap()
}

pub fn state_json(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", p.display()))
}

/// A KEY=value map from `env` output.
pub fn env_map(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `cmd` with binary stdin and stdout: (exit code, stdout, stderr).
pub fn run_binary(cmd: Command, stdin: Option<Vec<u8>>) -> (Option<i32>, Vec<u8>, String) {
    let (status, stdout, stderr) = super::run_raw(cmd, stdin, CMD_TIMEOUT);
    (
        status.code(),
        stdout,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut v))
        .expect("read /dev/urandom");
    v
}

/// Every entry under `dir`: type, mode, owner, size, mtime and a digest of
/// the content (or link target), keyed by relative path.
pub fn tree_fingerprint(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
            let md = fs::symlink_metadata(&p).unwrap();
            let content = if md.file_type().is_symlink() {
                fs::read_link(&p).unwrap().to_string_lossy().to_string()
            } else if md.is_file() {
                super::sha256_hex(&fs::read(&p).unwrap())
            } else {
                String::new()
            };
            out.insert(
                rel,
                format!(
                    "mode={:o} uid={} gid={} size={} mtime={}.{} ino={} {}",
                    md.mode(),
                    md.uid(),
                    md.gid(),
                    md.len(),
                    md.mtime(),
                    md.mtime_nsec(),
                    md.ino(),
                    content
                ),
            );
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Writes `files` (path, content) under `WORK/ctx`, owned by the user: a
/// build context; its path.
pub fn build_context(ctx: &Ctx, files: &[(&str, &str)]) -> String {
    for (p, c) in files {
        ctx.write_file(&format!("ctx/{p}"), c.as_bytes());
    }
    ctx.work.join("ctx").display().to_string()
}
