//! Helpers shared by the cgroup v2 tests (`cgroups*.rs`): the delegated
//! subtree ([`Delegated`]) made per scenario under RLESS_TEST_CGROUP (or
//! `<cgroup2 mount>/rless-test` as root), running rless from inside it, the
//! image, and readers of cgroup and /proc files. See `cgroups.rs` for how
//! the host is prepared.

use super::checks::{assert_one_error, containers};
use super::oci::busybox;
use super::{for_each_user, rless_bin, run_cmd, skip, Ctx, Out, CMD_TIMEOUT};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const IMG: &str = "cg";
pub const APPLETS: &[&str] = &["sh", "sleep", "true", "cat", "echo", "grep", "kill"];

// ------------------------------------------------------------------ the delegated subtree

/// The cgroup2 mount point.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

pub fn words(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Whether /proc/cgroups shows the v1 `name` on a v1 hierarchy with child
/// cgroups (so it cannot be freed for v2).
pub fn v1_in_use(name: &str) -> bool {
    fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 3 && f[0] == name && f[1] != "0" && f[2] != "1"
        })
}

/// The cgroup the scenarios' subtrees go under, with pids and cpu; None
/// after a SKIP.
pub fn test_parent() -> Option<PathBuf> {
    if !super::is_root() {
        skip("delegating a cgroup subtree needs root (run the tests as root via tests/run.sh)");
        return None;
    }
    let dir = match std::env::var_os("RLESS_TEST_CGROUP") {
        Some(d) => PathBuf::from(d),
        None => {
            let Some(mnt) = cgroup2_mount() else {
                skip("this host has no cgroup2 mount");
                return None;
            };
            let dir = mnt.join("rless-test");
            let _ = fs::create_dir(&dir);
            let have = words(&mnt.join("cgroup.subtree_control"));
            for c in ["cpu", "pids", "memory", "io", "cpuset"] {
                if have.iter().any(|h| h == c) {
                    let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
                }
            }
            dir
        }
    };
    let have = words(&dir.join("cgroup.subtree_control"));
    let missing: Vec<&str> = ["pids", "cpu"]
        .into_iter()
        .filter(|c| !have.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        // tests/run.sh tried and the host kept them on v1 (a hierarchy it
        // cannot unmount): a fact of this host, said, not a failure.
        let refused = std::env::var("RLESS_TEST_CGROUP_REFUSED").unwrap_or_default();
        let named = |c: &&str| {
            refused
                .split(';')
                .any(|r| r.trim_start().starts_with(&format!("{c}:")))
        };
        if missing.iter().all(named) {
            let why = &refused;
            eprintln!(
                "SKIP {}: {} lacks the {} controller(s): this host keeps them on cgroup v1 ({why})",
                super::test_name(),
                dir.display(),
                missing.join(", ")
            );
            return None;
        }
        skip(&format!(
            "{} lacks the {} controller(s) (tests/run.sh with CI=true or RLESS_TEST_CGROUP2=1 frees them from cgroup v1)",
            dir.display(),
            missing.join(", ")
        ));
        return None;
    }
    Some(dir)
}

/// Runs `body` once per test user with a fresh [`Delegated`] subtree
/// (tagged `tag`) and its leaf `cli`, from which [`IMG`] was imported.
/// Returns at once where [`test_parent`] says it cannot be set up, or
/// busybox is missing.
pub fn for_each_delegated(test: &str, tag: &str, mut body: impl FnMut(&Ctx, &Delegated, &Path)) {
    let Some(parent) = test_parent() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user(test, |ctx| {
        let d = Delegated::new(&parent, ctx, tag);
        let cli = d.leaf(ctx, "cli");
        setup_image(ctx, &cli);
        body(ctx, &d, &cli);
    });
}

/// A subtree delegated to the scenario's user; removed (with whatever is
/// left in it) when dropped.
pub struct Delegated {
    pub dir: PathBuf,
}

impl Delegated {
    pub fn new(parent: &Path, ctx: &Ctx, tag: &str) -> Delegated {
        let dir = parent.join(format!(
            "{}-{}-{}-{tag}",
            ctx.test,
            ctx.user.name,
            std::process::id()
        ));
        let d = Delegated { dir };
        d.clean();
        fs::create_dir(&d.dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.dir.display()));
        d.give(&d.dir, ctx);
        d
    }

    /// Makes a cgroup the user owns, as systemd delegates one.
    fn give(&self, dir: &Path, ctx: &Ctx) {
        for p in [
            dir.to_path_buf(),
            dir.join("cgroup.procs"),
            dir.join("cgroup.subtree_control"),
            dir.join("cgroup.threads"),
        ] {
            std::os::unix::fs::chown(&p, Some(ctx.user.uid), Some(ctx.user.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    /// A leaf (like a systemd scope) to start commands in.
    pub fn leaf(&self, ctx: &Ctx, name: &str) -> PathBuf {
        let l = self.dir.join(name);
        if !l.exists() {
            fs::create_dir(&l).unwrap();
            self.give(&l, ctx);
        }
        l
    }

    /// Whether `controller` is delegated (in the subtree's cgroup.controllers).
    pub fn has(&self, controller: &str) -> bool {
        words(&self.dir.join("cgroup.controllers"))
            .iter()
            .any(|c| c == controller)
    }

    /// The cgroup of the container `id` (`rless-<id>` in the subtree).
    pub fn container(&self, id: &str) -> PathBuf {
        self.dir.join(format!("rless-{id}"))
    }

    /// Every cgroup below the subtree's top (relative paths), sorted.
    pub fn tree(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path().strip_prefix(base).unwrap().display().to_string());
                    walk(base, &e.path(), out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir, &self.dir, &mut out);
        out.sort();
        out
    }

    fn clean(&self) {
        fn rm(dir: &Path) {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rm(&e.path());
                }
            }
            let _ = fs::write(dir.join("cgroup.kill"), "1");
            for _ in 0..500 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        if self.dir.exists() {
            rm(&self.dir);
        }
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        self.clean();
    }
}

/// `rless ARGS` as the scenario's user, started from cgroup `cg`: root
/// moves the shell there, then drops to the user.
pub fn rless_in(ctx: &Ctx, cg: &Path, args: &[&str]) -> Out {
    let script = r#"dir=$1; u=$2; g=$3; shift 3; echo $$ > "$dir/cgroup.procs" || exit 99; exec setpriv --reuid="$u" --regid="$g" --clear-groups -- "$@""#;
    let mut c = Command::new("/bin/sh");
    c.arg("-c")
        .arg(script)
        .arg("sh")
        .arg(cg)
        .arg(ctx.user.uid.to_string())
        .arg(ctx.user.gid.to_string())
        .arg(rless_bin())
        .arg("--root")
        .arg(&ctx.root)
        .args(args);
    ctx.user_env(&mut c);
    let out = run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name);
    assert_ne!(
        out.code,
        Some(99),
        "could not move into {}: {out}",
        cg.display()
    );
    out
}

/// `rless ARGS` from `cg`, which must succeed with nothing on stderr.
pub fn rless_quiet(ctx: &Ctx, cg: &Path, args: &[&str]) -> Out {
    let out = rless_in(ctx, cg, args);
    assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
    out
}

/// `rless run -d OPTS… IMG sleep 600` from `cg` (not checked).
pub fn run_sleeper(ctx: &Ctx, cg: &Path, opts: &[&str]) -> Out {
    let mut args = vec!["run", "-d"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[IMG, "sleep", "600"]);
    rless_in(ctx, cg, &args)
}

/// `rless rm -f NAME` from `cg`, which must succeed.
pub fn rm_f(ctx: &Ctx, cg: &Path, name: &str) {
    let out = rless_in(ctx, cg, &["rm", "-f", name]);
    assert!(out.success(), "{out}");
}

/// `rless run --rm OPTS… IMG true` from `d`'s leaf `cli` must be refused:
/// one error line, exit 125, no container and no cgroup left.
pub fn assert_run_refused(ctx: &Ctx, d: &Delegated, cli: &Path, opts: &[&str]) -> Out {
    let before = d.tree();
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[IMG, "true"]);
    let out = rless_in(ctx, cli, &args);
    assert_one_error(&out, 125);
    assert!(containers(ctx).is_empty(), "{opts:?} left a container");
    assert_eq!(d.tree(), before, "{opts:?} left a cgroup");
    out
}

/// The JSON `rless ARGS` prints from `cg`.
pub fn json_in(ctx: &Ctx, cg: &Path, args: &[&str]) -> serde_json::Value {
    let out = rless_in(ctx, cg, args);
    assert!(out.success(), "{out}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

// ------------------------------------------------------------------ the image

pub fn setup_image(ctx: &Ctx, cg: &Path) {
    let bb = busybox().expect("checked by the caller");
    let dir = ctx.work.join("rootfs");
    for sub in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    super::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    ctx.give_tree(&dir);
    let out = rless_in(ctx, cg, &["import", dir.to_str().unwrap(), IMG]);
    assert!(out.success(), "{out}");
}

/// The container's state.json.
pub fn state(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

pub fn read(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A cgroup directory as /proc/PID/cgroup names it: its path below the
/// cgroup2 mount, with a leading `/`.
pub fn cgroup_path(dir: &Path) -> String {
    let mnt = cgroup2_mount().expect("a cgroup2 mount");
    format!("/{}", dir.strip_prefix(mnt).unwrap().display())
}

/// The cgroup v2 path of a host process, relative to the mount.
pub fn cgroup_of(pid: i64) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(String::from))
        .unwrap_or_default()
}

/// `stats --no-stream --format json NAME`'s one entry.
pub fn stats_json(ctx: &Ctx, cg: &Path, name: &str) -> serde_json::Value {
    let v = json_in(ctx, cg, &["stats", "--no-stream", "--format", "json", name]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "one entry: {v}");
    v[0].clone()
}

/// `inspect NAME`'s HostConfig.
pub fn host_config(ctx: &Ctx, cg: &Path, name: &str) -> serde_json::Value {
    json_in(ctx, cg, &["inspect", name])[0]["HostConfig"].clone()
}
