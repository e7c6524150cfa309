//! Shared harness for the rless integration tests.
//!
//! * runs the `rless` binary as the test users (`RLESS_TEST_USER`, subuid
//!   mode, and `RLESS_TEST_SOLO_USER`, single-id mode) when the tests run as
//!   root, or as the current user otherwise;
//! * gives every scenario a fresh store owned by that user and removes it
//!   afterwards;
//! * builds images and pushes them to a real registry (see [`oci`]).
//!
//! `tests/run.sh` prepares the host and sets the environment variables.

#![allow(dead_code)]

pub mod background;
pub mod cgroup_helpers;
pub mod checks;
pub mod ctrfs_helpers;
pub mod fake_registry;
pub mod hostile;
pub mod isolation_helpers;
pub mod lifecycle_helpers;
pub mod oci;
pub mod out;
pub mod pod_helpers;
pub mod pty;
pub mod rootfs;
pub mod run_helpers;
pub mod transfer_helpers;
pub mod usernet_helpers;

pub use out::{run_cmd, run_raw, Out};

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// Exit status of every failed rless command.
pub const ERR_EXIT: i32 = 125;

/// How long a single rless invocation may take before the test kills it.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(240);

const STD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ------------------------------------------------------------------ skipping

/// True when skipping is not allowed (`RLESS_MUST_WORK=1`, set by run.sh in
/// CI and when run as root).
pub fn must_work() -> bool {
    std::env::var("RLESS_MUST_WORK").as_deref() == Ok("1")
}

fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("?")
        .rsplit("::")
        .next()
        .unwrap_or("?")
        .to_string()
}

/// Report that (part of) a test cannot run here. Panics under RLESS_MUST_WORK=1.
pub fn skip(reason: &str) {
    let test = test_name();
    if must_work() {
        panic!("{test}: cannot run ({reason}) and RLESS_MUST_WORK=1 forbids skipping");
    }
    eprintln!("SKIP {test}: {reason}");
}

// ------------------------------------------------------------------ host info

pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

pub fn is_root() -> bool {
    current_uid() == 0
}

/// The OCI name of the host architecture.
pub fn host_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("amd64"),
        "aarch64" => Some("arm64"),
        "arm" => Some("arm"),
        "riscv64" => Some("riscv64"),
        "s390x" => Some("s390x"),
        "powerpc64" => Some("ppc64le"),
        _ => None,
    }
}

/// The host's address as rless gives it for host-gateway: the source
/// address of the default route (10.0.2.2 without one).
pub fn host_gateway() -> String {
    let out = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|()| s.local_addr()));
    match out {
        Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => a.ip().to_string(),
        _ => "10.0.2.2".to_string(),
    }
}

/// [`host_arch`], or a SKIP line saying the host's is unknown.
pub fn host_arch_or_skip() -> Option<&'static str> {
    let arch = host_arch();
    if arch.is_none() {
        skip(&format!(
            "unknown host architecture {}",
            std::env::consts::ARCH
        ));
    }
    arch
}

/// An architecture that is not the host's, for platform selection tests.
pub fn other_arch() -> &'static str {
    if host_arch() == Some("arm64") {
        "amd64"
    } else {
        "arm64"
    }
}

// ------------------------------------------------------------------ users

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A subordinate id range is mapped (newuidmap/newgidmap).
    Subuid,
    /// Only the user's own id is mapped (to 0).
    Single,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subuid => "subuid",
            Mode::Single => "single",
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    /// The id-mapping mode rless is expected to pick for this user.
    pub mode: Mode,
    /// (start, count) from /etc/subuid and /etc/subgid.
    pub subuid: Option<(u32, u32)>,
    pub subgid: Option<(u32, u32)>,
    /// Whether commands must switch to this user (tests running as root).
    pub switch: bool,
}

impl User {
    pub fn runtime_dir(&self) -> PathBuf {
        if !self.switch {
            if let Ok(d) = std::env::var("XDG_RUNTIME_DIR") {
                return PathBuf::from(d);
            }
        }
        PathBuf::from(format!("/run/user/{}", self.uid))
    }

    /// Host uid that container uid `id` is stored as.
    pub fn host_uid(&self, id: u32) -> u32 {
        map_id(self.mode, id, self.uid, self.subuid)
    }

    /// Host gid that container gid `id` is stored as.
    pub fn host_gid(&self, id: u32) -> u32 {
        map_id(self.mode, id, self.gid, self.subgid)
    }
}

fn map_id(mode: Mode, id: u32, own: u32, range: Option<(u32, u32)>) -> u32 {
    match (mode, range) {
        (Mode::Subuid, Some((start, _))) if id >= 1 => start + id - 1,
        _ => own,
    }
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn passwd_entries() -> Vec<Passwd> {
    let text = fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: PathBuf::from(f[5]),
            })
        })
        .collect()
}

fn subid_range(file: &str, name: &str, uid: u32) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 || (f[0] != name && f[0] != uid.to_string()) {
            return None;
        }
        Some((f[1].parse().ok()?, f[2].parse().ok()?))
    })
}

fn make_user(p: &Passwd, mode: Option<Mode>, switch: bool) -> User {
    let subuid = subid_range("/etc/subuid", &p.name, p.uid);
    let subgid = subid_range("/etc/subgid", &p.name, p.uid);
    let mode = mode.unwrap_or_else(|| {
        let helpers =
            Path::new("/usr/bin/newuidmap").exists() && Path::new("/usr/bin/newgidmap").exists();
        if subuid.is_some() && subgid.is_some() && helpers {
            Mode::Subuid
        } else {
            Mode::Single
        }
    });
    User {
        name: p.name.clone(),
        uid: p.uid,
        gid: p.gid,
        home: p.home.clone(),
        mode,
        subuid,
        subgid,
        switch,
    }
}

/// The users every scenario runs as. May be empty (after printing a SKIP).
pub fn users() -> Vec<User> {
    let entries = passwd_entries();
    if !is_root() {
        let uid = current_uid();
        return match entries.iter().find(|p| p.uid == uid) {
            Some(p) => vec![make_user(p, None, false)],
            None => {
                let name = std::env::var("USER").unwrap_or_else(|_| format!("uid{uid}"));
                let home = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into()));
                let gid = rustix::process::getgid().as_raw();
                let p = Passwd {
                    name,
                    uid,
                    gid,
                    home,
                };
                vec![make_user(&p, None, false)]
            }
        };
    }
    let mut out = Vec::new();
    for (var, mode) in [
        ("RLESS_TEST_USER", Mode::Subuid),
        ("RLESS_TEST_SOLO_USER", Mode::Single),
    ] {
        let Ok(name) = std::env::var(var) else {
            skip(&format!("{var} is not set (run tests/run.sh as root)"));
            continue;
        };
        match entries.iter().find(|p| p.name == name) {
            Some(p) => out.push(make_user(p, Some(mode), true)),
            None => skip(&format!("user {name} ({var}) does not exist")),
        }
    }
    out
}

// ------------------------------------------------------------------ paths

/// World-traversable directory for binaries and per-test work dirs.
pub fn base_dir() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rless-it-{}", current_uid()));
        fs::create_dir_all(&dir).expect("create test base dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod base dir");
        dir
    })
}

/// The rless binary, copied to a path every test user can execute.
pub fn rless_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let base = base_dir();
        // Remove copies left by test processes that are gone.
        if let Ok(rd) = fs::read_dir(base) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(pid) = name.strip_prefix("bin-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = base.join(format!("bin-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create bin dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let dst = dir.join("rless");
        fs::copy(env!("CARGO_BIN_EXE_rless"), &dst).expect("copy rless binary");
        fs::set_permissions(&dst, fs::Permissions::from_mode(0o755)).unwrap();
        dst
    })
}

// ------------------------------------------------------------------ per-test context

/// One scenario run by one user: a work dir `W` owned by the user and the
/// store `W/store` passed as `--root` to every rless call.
pub struct Ctx {
    pub test: String,
    pub user: User,
    pub work: PathBuf,
    pub root: PathBuf,
}

/// Run `f` once per test user, each with a fresh store.
pub fn for_each_user(test: &str, mut f: impl FnMut(&Ctx)) {
    let users = users();
    for user in &users {
        eprintln!("=== {test} as {} ({} mode)", user.name, user.mode.as_str());
        let ctx = Ctx::new(test, user);
        f(&ctx);
    }
}

impl Ctx {
    pub fn new(test: &str, user: &User) -> Ctx {
        let work = tempfile::Builder::new()
            .prefix("w")
            .tempdir_in(base_dir())
            .expect("create work dir")
            .keep();
        fs::set_permissions(&work, fs::Permissions::from_mode(0o755)).unwrap();
        let root = work.join("store");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
        let ctx = Ctx {
            test: test.to_string(),
            user: user.clone(),
            work,
            root,
        };
        ctx.give(&ctx.work);
        ctx.give(&ctx.root);
        fs::write(ctx.work.join("TEST"), format!("{test} as {}\n", user.name)).unwrap();
        ctx
    }

    /// chown a path (not following symlinks) to the test user.
    pub fn give(&self, path: &Path) {
        if self.user.switch {
            std::os::unix::fs::lchown(path, Some(self.user.uid), Some(self.user.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// chown a whole tree to the test user.
    pub fn give_tree(&self, path: &Path) {
        self.give(path);
        let md = fs::symlink_metadata(path).unwrap();
        if md.is_dir() {
            for e in fs::read_dir(path).unwrap() {
                self.give_tree(&e.unwrap().path());
            }
        }
    }

    /// Write a file under the work dir, owned by the user.
    pub fn write_file(&self, rel: &str, content: &[u8]) -> PathBuf {
        let p = self.work.join(rel);
        if let Some(parent) = p.parent() {
            if !parent.exists() {
                fs::create_dir_all(parent).unwrap();
                self.give(parent);
            }
        }
        fs::write(&p, content).unwrap();
        self.give(&p);
        p
    }

    /// Gives `c` the test user's clean environment (PATH, HOME, USER,
    /// LOGNAME, XDG_RUNTIME_DIR, nothing else) and the work dir.
    pub fn user_env<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        c.env_clear()
            .env("PATH", STD_PATH)
            .env("HOME", &self.user.home)
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("XDG_RUNTIME_DIR", self.user.runtime_dir())
            .current_dir(&self.work)
    }

    /// A command that runs `program` as the test user with a clean environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        self.user_env(&mut c);
        for var in ["RUST_BACKTRACE", "RUST_LOG", "RLESS_LOG"] {
            if let Ok(v) = std::env::var(var) {
                c.env(var, v);
            }
        }
        if self.user.switch {
            // std drops supplementary groups when root changes uid.
            c.uid(self.user.uid).gid(self.user.gid);
        }
        c
    }

    /// `rless --root STORE args…`
    pub fn rless_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.command(rless_bin());
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    pub fn rless(&self, args: &[&str]) -> Out {
        run_cmd(self.rless_cmd(args), None, CMD_TIMEOUT, &self.user.name)
    }

    /// `BIN --root STORE`: rless with this test's store, for a shell
    /// script to call (`R='…'`, then `$R ARGS`).
    pub fn rless_words(&self) -> String {
        format!(
            "{} --root {}",
            rless_bin().display(),
            self.root.to_string_lossy()
        )
    }

    pub fn rless_stdin(&self, args: &[&str], stdin: &[u8]) -> Out {
        run_cmd(
            self.rless_cmd(args),
            Some(stdin.to_vec()),
            CMD_TIMEOUT,
            &self.user.name,
        )
    }

    /// Run and require exit 0.
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.rless(args);
        assert!(out.success(), "command failed: {out}");
        out
    }

    /// Run and require the error contract (exit 125, one `rless:` line).
    pub fn fail(&self, args: &[&str]) -> Out {
        let out = self.rless(args);
        out.assert_rless_error();
        out
    }

    /// Run a command that fails with one error line and exit `code` (a
    /// removal's 1 or 2, say), and require that the store did not change.
    pub fn fail_code_unchanged(&self, args: &[&str], code: i32) -> Out {
        let before = self.snapshot();
        let out = self.rless(args);
        checks::assert_one_error(&out, code);
        self.snapshot().assert_same(&before, &out.cmdline);
        out
    }

    /// Run a failing command and also require that the store did not change.
    pub fn fail_unchanged(&self, args: &[&str]) -> Out {
        let before = self.snapshot();
        let out = self.fail(args);
        self.snapshot().assert_same(&before, &out.cmdline);
        out
    }

    /// `rless pull`, returning the printed image id.
    pub fn pull(&self, args: &[&str]) -> String {
        let mut a = vec!["pull"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        let id = out.last_line().to_string();
        assert_hex64(&id, &out);
        id
    }

    pub fn images_json(&self) -> Vec<serde_json::Value> {
        let out = self.ok(&["images", "--format", "json"]);
        match serde_json::from_str::<serde_json::Value>(&out.stdout) {
            Ok(serde_json::Value::Array(a)) => a,
            other => panic!("images --format json is not a JSON array ({other:?}): {out}"),
        }
    }

    /// The `images --format json` entry with this id.
    pub fn image_entry(&self, id: &str) -> Option<serde_json::Value> {
        self.images_json().into_iter().find(|v| v["Id"] == id)
    }

    pub fn image_ids(&self) -> BTreeSet<String> {
        self.images_json()
            .iter()
            .map(|v| v["Id"].as_str().expect("Id is a string").to_string())
            .collect()
    }

    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.ok(&["image", "inspect", image]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("image inspect output is not JSON ({e}): {out}"));
        let arr = v
            .as_array()
            .unwrap_or_else(|| panic!("image inspect must print an array: {out}"));
        assert_eq!(arr.len(), 1, "image inspect must print one object: {out}");
        arr[0].clone()
    }

    /// `STORE/layers/<hex>/diff` for a diff id (`sha256:…` or bare hex).
    pub fn layer_diff(&self, diff_id: &str) -> PathBuf {
        let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
        self.root.join("layers").join(hex).join("diff")
    }

    /// Names of the directories in `STORE/layers` (missing dir = none).
    pub fn layer_dirs(&self) -> BTreeSet<String> {
        list_names(&self.root.join("layers"))
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.root)
    }

    /// A registry repository name unique to this test and user.
    pub fn repo(&self, suffix: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect::<String>()
                .split('-')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        };
        format!(
            "rlt/{}/{}-{}",
            clean(&self.test),
            clean(&self.user.name),
            clean(suffix)
        )
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if std::env::var("RLESS_TEST_KEEP").as_deref() == Ok("1") {
            eprintln!(
                "keeping {} ({} as {})",
                self.work.display(),
                self.test,
                self.user.name
            );
            return;
        }
        // Files may belong to subordinate ids only rless (in its user
        // namespace) can remove when we are not root.
        let _ = run_cmd(
            self.rless_cmd(&["system", "reset", "-f"]),
            None,
            Duration::from_secs(60),
            &self.user.name,
        );
        if fs::remove_dir_all(&self.work).is_err() && self.work.exists() {
            if is_root() {
                let _ = Command::new("rm").arg("-rf").arg(&self.work).status();
            } else {
                eprintln!("warning: could not remove {}", self.work.display());
            }
        }
    }
}

// ------------------------------------------------------------------ store snapshots

/// What must not change when a command fails: every path in the store (not
/// descending into extracted layer trees, ignoring lock files in `locks/`)
/// and the image index.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub paths: BTreeSet<String>,
    pub index: Option<String>,
}

impl Snapshot {
    pub fn take(root: &Path) -> Snapshot {
        let mut paths = BTreeSet::new();
        walk(root, root, &mut paths);
        let index = fs::read_to_string(root.join("images/index.json")).ok();
        Snapshot { paths, index }
    }

    pub fn assert_same(&self, before: &Snapshot, what: &str) {
        let added: Vec<_> = self.paths.difference(&before.paths).collect();
        let removed: Vec<_> = before.paths.difference(&self.paths).collect();
        assert!(
            added.is_empty() && removed.is_empty(),
            "store changed by {what}: added {added:?}, removed {removed:?}"
        );
        assert_eq!(
            self.index, before.index,
            "images/index.json changed by {what}"
        );
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
        let parts: Vec<&str> = rel.split('/').collect();
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        // Lock files (`locks/*`) are neither blobs, layers, index entries nor
        // temp dirs; rless may leave them behind.
        if parts.len() == 2 && parts[0] == "locks" && is_file {
            continue;
        }
        // The event log records failures too (a container made and removed
        // again): it is a log, not store content.
        if parts.len() == 1 && rel.starts_with("events.log") {
            continue;
        }
        // Whether the store's filesystem keeps owners, asked once per store
        // by the first command (src/runtime/owners.rs): not content either.
        if parts.len() == 1 && rel.starts_with("owners-") {
            continue;
        }
        out.insert(rel.clone());
        // layers/<hex>/diff/... is immutable content; don't list it.
        let in_layer_tree = parts.len() >= 3 && parts[0] == "layers" && parts[2] == "diff";
        if !in_layer_tree && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(root, &p, out);
        }
    }
}

pub fn list_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ assertions

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn assert_hex64(s: &str, out: &Out) {
    assert!(
        is_hex64(s),
        "expected a 64-hex image id as last stdout line, got {s:?}: {out}"
    );
}

/// (uid, gid, mode & 0o7777) of a path, not following symlinks.
pub fn owner_mode(p: &Path) -> (u32, u32, u32) {
    let md = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
    (md.uid(), md.gid(), md.mode() & 0o7777)
}

/// Whether `dir/name` is recorded as deleted in a layer tree: a 0:0 char
/// device, or a `.wh.name` marker file.
pub fn is_whiteout(dir: &Path, name: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(md) = fs::symlink_metadata(dir.join(name)) {
        if md.file_type().is_char_device() && md.rdev() == 0 {
            return true;
        }
    }
    fs::symlink_metadata(dir.join(format!(".wh.{name}"))).is_ok()
}

/// Whether a directory in a layer tree is marked opaque: xattr
/// `user.overlay.opaque=y` (or the trusted. variant) or a `.wh..wh..opq` marker.
pub fn is_opaque(dir: &Path) -> bool {
    for name in ["user.overlay.opaque", "trusted.overlay.opaque"] {
        let mut buf = [0u8; 16];
        if let Ok(n) = rustix::fs::lgetxattr(dir, name, &mut buf[..]) {
            if &buf[..n] == b"y" {
                return true;
            }
        }
    }
    dir.join(".wh..wh..opq").exists()
}

/// Inode and mtime of every file directly in `dir`, plus the dir itself.
pub fn inode_times(dir: &Path) -> BTreeMap<String, (u64, i64, i64)> {
    let mut m = BTreeMap::new();
    if let Ok(md) = fs::symlink_metadata(dir) {
        m.insert(".".to_string(), (md.ino(), md.mtime(), md.mtime_nsec()));
    }
    for name in list_names(dir) {
        if let Ok(md) = fs::symlink_metadata(dir.join(&name)) {
            m.insert(name, (md.ino(), md.mtime(), md.mtime_nsec()));
        }
    }
    m
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}
