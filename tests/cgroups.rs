//! cgroup v2 limits, for real: a delegated subtree set up here as root
//! (what systemd's `Delegate=yes` or a site admin does), rless run as the
//! test user from inside it, and the kernel's own files checked.
//!
//! `tests/run.sh` (with CI=true or RLESS_TEST_CGROUP2=1) frees the cgroup
//! v1 controllers nothing uses and exports RLESS_TEST_CGROUP, a cgroup with
//! them enabled; each scenario makes `RLESS_TEST_CGROUP/<test>-<user>-<pid>`
//! owned by the test user (the directory, cgroup.procs,
//! cgroup.subtree_control and cgroup.threads) and starts every rless
//! command from a process root first moved into it (`sh -c 'echo $$ >
//! …/cgroup.procs; exec setpriv …'`). Without RLESS_TEST_CGROUP, as root,
//! the scenarios use `<cgroup2 mount>/rless-test` with whatever controllers
//! the host already hands to cgroup v2.
//!
//! What cannot be set up is said (SKIP), and fails under RLESS_MUST_WORK=1,
//! except one documented case: the memory controller bound to a cgroup v1
//! hierarchy that has child cgroups (this machine's sandbox uses it), where
//! `--memory` is checked to give its one warning instead.

mod common;

use common::checks::*;
use common::oci::busybox;
use common::{for_each_user, rless_bin, run_cmd, skip, Ctx, Out, CMD_TIMEOUT};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const IMG: &str = "cg";
const APPLETS: &[&str] = &["sh", "sleep", "true", "cat", "echo", "grep", "kill"];
const STD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ------------------------------------------------------------------ the delegated subtree

/// The cgroup2 mount point.
fn cgroup2_mount() -> Option<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

fn words(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Whether /proc/cgroups shows the v1 `name` on a v1 hierarchy with child
/// cgroups (so it cannot be freed for v2).
fn v1_in_use(name: &str) -> bool {
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
fn test_parent() -> Option<PathBuf> {
    if !common::is_root() {
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
            for c in ["cpu", "pids", "memory", "io"] {
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
        skip(&format!(
            "{} lacks the {} controller(s) (tests/run.sh with CI=true or RLESS_TEST_CGROUP2=1 frees them from cgroup v1)",
            dir.display(),
            missing.join(", ")
        ));
        return None;
    }
    Some(dir)
}

/// A subtree delegated to the scenario's user; removed (with whatever is
/// left in it) when dropped.
struct Delegated {
    dir: PathBuf,
}

impl Delegated {
    fn new(parent: &Path, ctx: &Ctx, tag: &str) -> Delegated {
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
    fn leaf(&self, ctx: &Ctx, name: &str) -> PathBuf {
        let l = self.dir.join(name);
        if !l.exists() {
            fs::create_dir(&l).unwrap();
            self.give(&l, ctx);
        }
        l
    }

    /// Every cgroup below the subtree's top (relative paths), sorted.
    fn tree(&self) -> Vec<String> {
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
fn rless_in(ctx: &Ctx, cg: &Path, args: &[&str]) -> Out {
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
        .args(args)
        .env_clear()
        .env("PATH", STD_PATH)
        .env("HOME", &ctx.user.home)
        .env("USER", &ctx.user.name)
        .env("LOGNAME", &ctx.user.name)
        .env("XDG_RUNTIME_DIR", ctx.user.runtime_dir())
        .current_dir(&ctx.work);
    let out = run_cmd(c, None, CMD_TIMEOUT, &ctx.user.name);
    assert_ne!(
        out.code,
        Some(99),
        "could not move into {}: {out}",
        cg.display()
    );
    out
}

// ------------------------------------------------------------------ the image

fn setup_image(ctx: &Ctx, cg: &Path) {
    let bb = busybox().expect("checked by the caller");
    let dir = ctx.work.join("rootfs");
    for sub in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    common::oci::install_busybox(&dir, bb, APPLETS);
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    ctx.give_tree(&dir);
    let out = rless_in(ctx, cg, &["import", dir.to_str().unwrap(), IMG]);
    assert!(out.success(), "{out}");
}

/// The container's state.json.
fn state(ctx: &Ctx, id: &str) -> serde_json::Value {
    let p = ctx.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&fs::read(&p).unwrap()).unwrap()
}

fn read(p: &Path) -> String {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The cgroup v2 path of a host process, relative to the mount.
fn cgroup_of(pid: i64) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(String::from))
        .unwrap_or_default()
}

/// Host pids in the pid namespace of `init`.
fn namespace_pids(init: i64) -> Vec<i64> {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p: &i64| fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() == Some(&ns))
        .collect()
}

fn stats_json(ctx: &Ctx, cg: &Path, name: &str) -> serde_json::Value {
    let out = rless_in(ctx, cg, &["stats", "--no-stream", "--format", "json", name]);
    assert!(out.success(), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(v.as_array().map(Vec::len), Some(1), "one entry: {out}");
    v[0].clone()
}

// ------------------------------------------------------------------ tests

/// --pids-limit stops a fork bomb at the limit, --cpus and --cpu-shares
/// are written as crun writes them, every process of the container (and of
/// `exec`) is in its cgroup and the monitor is not, stats reads the
/// cgroup, and the cgroup goes with the container.
#[test]
fn cgroup_limits_applied() {
    let Some(parent) = test_parent() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_limits_applied", |ctx| {
        let d = Delegated::new(&parent, ctx, "a");
        let cli = d.leaf(ctx, "cli");
        setup_image(ctx, &cli);

        // The fork bomb: the inner shell counts the sleeps it started until
        // fork fails. The limit counts the init, both shells and the sleeps.
        let bomb = "i=0; while [ $i -lt 100 ]; do sleep 600 & i=$((i+1)); echo started=$i; done";
        let script = format!("sh -c '{bomb}'; echo bomb-exit=$?");
        let out = rless_in(
            ctx,
            &cli,
            &[
                "run",
                "--rm",
                "--pids-limit",
                "20",
                IMG,
                "sh",
                "-c",
                &script,
            ],
        );
        assert!(out.success(), "{out}");
        assert!(
            out.stderr.contains("can't fork"),
            "fork failed inside: {out}"
        );
        let started: Vec<u32> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("started=")?.parse().ok())
            .collect();
        assert_eq!(
            started.last().copied().map(|n| n + 3),
            Some(20),
            "20 tasks: the init, two shells and 17 sleeps: {out}"
        );
        assert!(out.stdout.contains("bomb-exit=2"), "{out}");
        assert!(
            stderr_lines(&out).iter().all(|l| !l.starts_with("rless")),
            "{out}"
        );
        assert_eq!(
            d.tree(),
            vec!["cli".to_string()],
            "the cgroup went with --rm"
        );

        // A limit that is not reached changes nothing.
        let out = rless_in(
            ctx,
            &cli,
            &["run", "--rm", "--pids-limit", "20", IMG, "true"],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");

        // Detached, with CPU limits: the files, the processes, stats.
        let out = rless_in(
            ctx,
            &cli,
            &[
                "run",
                "-d",
                "--name",
                "web",
                "--cpus",
                "0.5",
                "--cpu-shares",
                "512",
                IMG,
                "sleep",
                "600",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        let id = out.last_line().to_string();
        let cg = d.dir.join(format!("rless-{id}"));
        assert_eq!(read(&cg.join("cpu.max")), "50000 100000");
        assert_eq!(
            read(&cg.join("cpu.weight")),
            "20",
            "crun's conversion of 512"
        );
        assert_eq!(read(&cg.join("pids.max")), "max");
        let st = state(ctx, &id);
        assert_eq!(st["cgroup"].as_str(), Some(cg.to_str().unwrap()), "{st}");
        let init = st["pid"].as_i64().unwrap();
        let monitor = st["monitor_pid"].as_i64().unwrap();
        let rel = format!(
            "/{}",
            cg.strip_prefix(cgroup2_mount().unwrap()).unwrap().display()
        );
        let pids = namespace_pids(init);
        assert_eq!(pids.len(), 2, "the init and sleep: {pids:?}");
        for p in &pids {
            assert_eq!(
                cgroup_of(*p),
                rel,
                "process {p} is in the container's cgroup"
            );
        }
        assert_ne!(cgroup_of(monitor), rel, "the monitor stays outside");
        let mut procs: Vec<i64> = words(&cg.join("cgroup.procs"))
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        procs.sort();
        let mut sorted = pids.clone();
        sorted.sort();
        assert_eq!(procs, sorted, "cgroup.procs holds exactly the container");

        let s = stats_json(ctx, &cli, "web");
        assert_eq!(s["Source"], "cgroup", "{s}");
        assert_eq!(s["Cgroup"].as_str(), Some(cg.to_str().unwrap()), "{s}");
        assert_eq!(s["PIDs"], 2, "{s}");
        assert_eq!(s["Name"], "web", "{s}");

        // exec joins the cgroup too.
        let out = rless_in(ctx, &cli, &["exec", "-d", "web", "sleep", "500"]);
        assert!(out.success(), "{out}");
        assert_eq!(read(&cg.join("pids.current")), "3");
        assert_eq!(stats_json(ctx, &cli, "web")["PIDs"], 3);
        let out = rless_in(ctx, &cli, &["stats", "--no-stream"]);
        assert!(out.success(), "{out}");
        assert!(
            out.stdout.lines().next().unwrap_or("").contains("PIDS")
                && out.stdout.lines().any(|l| l.contains("web")),
            "{out}"
        );

        let out = rless_in(ctx, &cli, &["rm", "-f", "web"]);
        assert!(out.success(), "{out}");
        assert!(!cg.exists(), "rm removes the cgroup");

        // create, then start: the cgroup is made at each start.
        let out = rless_in(
            ctx,
            &cli,
            &[
                "create",
                "--pids-limit",
                "7",
                IMG,
                "cat",
                "/proc/self/cgroup",
            ],
        );
        assert!(out.success(), "{out}");
        let id = out.last_line().to_string();
        for _ in 0..2 {
            let out = rless_in(ctx, &cli, &["start", "-a", &id]);
            assert!(out.stdout.contains(&format!("/rless-{id}")), "{out}");
        }
        assert!(rless_in(ctx, &cli, &["rm", &id]).success());
        assert_eq!(d.tree(), vec!["cli".to_string()]);

        // A monitor killed hard leaves its cgroup; rm takes it away.
        let out = rless_in(
            ctx,
            &cli,
            &["run", "-d", "--pids-limit", "9", IMG, "sleep", "600"],
        );
        assert!(out.success(), "{out}");
        let id = out.last_line().to_string();
        let cg = d.dir.join(format!("rless-{id}"));
        let monitor = state(ctx, &id)["monitor_pid"].as_i64().unwrap();
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(monitor as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
        let out = rless_in(ctx, &cli, &["wait", &id]);
        assert!(out.success(), "{out}");
        assert!(
            cg.exists(),
            "the killed monitor could not remove {}",
            cg.display()
        );
        let out = rless_in(ctx, &cli, &["rm", &id]);
        assert!(out.success(), "{out}");
        assert!(!cg.exists(), "rm removes the leftover cgroup");
        assert_eq!(d.tree(), vec!["cli".to_string()]);
    });
}

/// --memory: applied where the memory controller is delegated, else one
/// warning naming it (the documented case: memory bound to a v1 hierarchy
/// in use); --cgroups=required then fails and leaves nothing. Bad values
/// and --cgroup-parent.
#[test]
fn cgroup_memory_required_and_bad_input() {
    let Some(parent) = test_parent() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_memory_required_and_bad_input", |ctx| {
        let d = Delegated::new(&parent, ctx, "m");
        let cli = d.leaf(ctx, "cli");
        setup_image(ctx, &cli);
        let memory = words(&d.dir.join("cgroup.controllers"))
            .iter()
            .any(|c| c == "memory");
        if memory {
            let out = rless_in(
                ctx,
                &cli,
                &[
                    "run",
                    "-d",
                    "--memory",
                    "64m",
                    "--memory-swap",
                    "96m",
                    IMG,
                    "sleep",
                    "600",
                ],
            );
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            let cg = d.dir.join(format!("rless-{}", out.last_line()));
            assert_eq!(read(&cg.join("memory.max")), (64u64 << 20).to_string());
            if cg.join("memory.swap.max").exists() {
                assert_eq!(read(&cg.join("memory.swap.max")), (32u64 << 20).to_string());
            }
            let s = stats_json(ctx, &cli, out.last_line());
            assert_eq!(s["MemLimit"], 64u64 << 20, "{s}");
            assert!(rless_in(ctx, &cli, &["rm", "-f", out.last_line()]).success());
        } else {
            let why = "the memory controller is not delegated here: it is bound to a cgroup v1 hierarchy in use";
            if !v1_in_use("memory") {
                skip(&format!(
                    "memory is neither delegated nor in use by cgroup v1 ({})",
                    d.dir.display()
                ));
            }
            eprintln!(
                "NOTE cgroup_memory_required_and_bad_input: {why}; checking the warning instead"
            );
            let out = rless_in(
                ctx,
                &cli,
                &[
                    "run",
                    "--rm",
                    "--memory",
                    "64m",
                    "--pids-limit",
                    "50",
                    IMG,
                    "cat",
                    "/proc/self/cgroup",
                ],
            );
            assert!(out.success(), "{out}");
            let lines = stderr_lines(&out);
            assert_eq!(lines.len(), 1, "one warning line: {out}");
            assert!(
                lines[0].starts_with("rless: warning: --memory not applied:")
                    && lines[0].contains("memory controller")
                    && lines[0].contains("v1")
                    && !lines[0].contains("--pids-limit")
                    && !lines[0].contains("--memory-swap"),
                "names --memory only, and why: {out}"
            );
            assert!(
                out.stdout.contains("/rless-"),
                "the pids limit still applied in a cgroup: {out}"
            );

            let out = rless_in(
                ctx,
                &cli,
                &[
                    "run",
                    "--rm",
                    "--cgroups=required",
                    "--memory",
                    "64m",
                    IMG,
                    "true",
                ],
            );
            assert_one_error(&out, 125);
            assert!(
                out.stderr.contains("--memory") && out.stderr.contains("required"),
                "{out}"
            );
            assert!(containers(ctx).is_empty(), "no container left: {out}");
            assert_eq!(d.tree(), vec!["cli".to_string()], "no cgroup left: {out}");
        }
        // required with what is there: fine, silent.
        let out = rless_in(
            ctx,
            &cli,
            &[
                "run",
                "--rm",
                "--cgroups=required",
                "--pids-limit",
                "30",
                "--cpus",
                "1",
                IMG,
                "true",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        // disabled: no cgroup at all, stats from /proc.
        let out = rless_in(
            ctx,
            &cli,
            &[
                "run",
                "-d",
                "--name",
                "plain",
                "--cgroups=disabled",
                "--pids-limit",
                "5",
                IMG,
                "sleep",
                "600",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        assert_eq!(
            d.tree(),
            vec!["cli".to_string()],
            "--cgroups=disabled makes none"
        );
        let s = stats_json(ctx, &cli, "plain");
        assert_eq!(s["Source"], "proc", "{s}");
        assert_eq!(s["PIDs"], 2, "{s}");
        assert!(s["Cgroup"].is_null(), "{s}");
        assert!(rless_in(ctx, &cli, &["rm", "-f", "plain"]).success());

        // --cgroup-parent: relative to the delegated subtree, or absolute
        // inside it; the parent stays, the container's cgroup goes.
        let abs = format!(
            "/{}/abs",
            d.dir
                .strip_prefix(cgroup2_mount().unwrap())
                .unwrap()
                .display()
        );
        for (p, dir) in [
            ("sub/inner", d.dir.join("sub/inner")),
            (abs.as_str(), d.dir.join("abs")),
        ] {
            let out = rless_in(
                ctx,
                &cli,
                &[
                    "run",
                    "--rm",
                    "--cgroup-parent",
                    p,
                    "--pids-limit",
                    "7",
                    IMG,
                    "cat",
                    "/proc/self/cgroup",
                ],
            );
            assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
            let rel = dir
                .strip_prefix(cgroup2_mount().unwrap())
                .unwrap()
                .display()
                .to_string();
            assert!(
                out.stdout.contains(&format!("0::/{rel}/rless-")),
                "under {p}: {out}"
            );
            assert!(dir.is_dir(), "the parent stays");
            assert_eq!(
                fs::read_dir(&dir)
                    .unwrap()
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .count(),
                0
            );
        }

        let before = d.tree();
        for bad in [
            &["--memory", "lots"][..],
            &["--memory", "1m"],
            &["--memory-swap", "1g"],
            &["--memory", "64m", "--memory-swap", "32m"],
            &["--cpus", "999"],
            &["--cpus", "half"],
            &["--cpu-shares", "-3"],
            &["--pids-limit", "many"],
            &["--cgroup-parent", "../escape"],
            &["--cgroup-parent", "/elsewhere"],
            &["--cgroups", "sometimes"],
        ] {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(bad);
            args.extend_from_slice(&[IMG, "true"]);
            let out = rless_in(ctx, &cli, &args);
            assert_one_error(&out, 125);
            assert!(containers(ctx).is_empty(), "{bad:?} left a container");
            assert_eq!(d.tree(), before, "{bad:?} left a cgroup");
        }
    });
}

/// Started in the delegated cgroup itself (no leaf): rless moves itself to
/// a leaf so the controllers can be enabled. With another process in that
/// cgroup it cannot: one warning, or exit 125 with --cgroups=required.
#[test]
fn cgroup_no_internal_processes() {
    let Some(parent) = test_parent() else { return };
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_no_internal_processes", |ctx| {
        let d = Delegated::new(&parent, ctx, "top");
        setup_image(ctx, &d.leaf(ctx, "import"));
        let out = rless_in(
            ctx,
            &d.dir,
            &[
                "run",
                "--rm",
                "--pids-limit",
                "10",
                IMG,
                "cat",
                "/proc/self/cgroup",
            ],
        );
        assert!(out.success() && out.stderr.trim().is_empty(), "{out}");
        assert!(
            d.dir.join("rless-monitor").is_dir(),
            "rless moved to its leaf"
        );
        let enabled = words(&d.dir.join("cgroup.subtree_control"));
        assert!(enabled.iter().any(|c| c == "pids"), "{enabled:?}");
        assert!(
            out.stdout.contains("/rless-") && !out.stdout.contains("rless-monitor"),
            "{out}"
        );

        // Someone else in the delegated cgroup blocks the controllers.
        let d2 = Delegated::new(&parent, ctx, "busy");
        let mut sleeper = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec sleep 600"#)
            .arg(&d2.dir)
            .spawn()
            .unwrap();
        while words(&d2.dir.join("cgroup.procs")).is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let before = d2.tree();
        let out = rless_in(
            ctx,
            &d2.dir,
            &["run", "--rm", "--pids-limit", "10", IMG, "true"],
        );
        assert!(out.success(), "{out}");
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "one warning: {out}");
        assert!(
            lines[0].starts_with("rless: warning:") && lines[0].contains("other processes"),
            "{out}"
        );
        let out = rless_in(
            ctx,
            &d2.dir,
            &[
                "run",
                "--rm",
                "--cgroups=required",
                "--pids-limit",
                "10",
                IMG,
                "true",
            ],
        );
        assert_one_error(&out, 125);
        assert!(containers(ctx).is_empty(), "{out}");
        let after: Vec<String> = d2
            .tree()
            .into_iter()
            .filter(|c| c != "rless-monitor")
            .collect();
        assert_eq!(after, before, "no container cgroup left: {out}");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    });
}

/// `rless info` says which case holds.
#[test]
fn cgroup_info_reports_delegation() {
    let Some(parent) = test_parent() else { return };
    for_each_user("cgroup_info_reports_delegation", |ctx| {
        let d = Delegated::new(&parent, ctx, "i");
        let cli = d.leaf(ctx, "cli");
        let out = rless_in(ctx, &cli, &["info", "--format", "json"]);
        assert!(out.success(), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let del = &v["Host"]["CgroupDelegation"];
        assert_eq!(del["Path"].as_str(), Some(d.dir.to_str().unwrap()), "{out}");
        let ctl: Vec<&str> = del["Controllers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        assert!(ctl.contains(&"pids") && ctl.contains(&"cpu"), "{out}");
        assert!(
            v["Host"]["CgroupLimits"]
                .as_str()
                .unwrap()
                .contains("delegated"),
            "{out}"
        );
        // Outside the subtree (the test user's usual cgroup): none.
        let out = ctx.rless(&["info", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        if cgroup_of(std::process::id() as i64) == "/" {
            assert!(v["Host"]["CgroupDelegation"].is_null(), "{out}");
            assert!(
                v["Host"]["CgroupLimits"]
                    .as_str()
                    .unwrap()
                    .contains("not applied"),
                "{out}"
            );
        }
    });
}

/// `stats` wherever the tests run (no delegation needed): the source
/// matches what `info` reports, the container's two processes are counted,
/// and bad input is one error line with exit 125.
#[test]
fn cgroup_stats_anywhere() {
    if busybox().is_none() {
        return;
    }
    for_each_user("cgroup_stats_anywhere", |ctx| {
        let bb = busybox().unwrap();
        let dir = ctx.work.join("rootfs");
        for sub in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("bin/busybox"), bb).unwrap();
        fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("busybox", dir.join("bin/sleep")).unwrap();
        ctx.give_tree(&dir);
        ctx.ok(&["import", dir.to_str().unwrap(), IMG]);
        let info: serde_json::Value =
            serde_json::from_str(&ctx.ok(&["info", "--format", "json"]).stdout).unwrap();
        let delegated = !info["Host"]["CgroupDelegation"].is_null();
        let out = ctx.ok(&["run", "-d", "--name", "s", IMG, "sleep", "600"]);
        assert!(
            out.stderr.trim().is_empty(),
            "no limits asked, no warning: {out}"
        );
        let out = ctx.ok(&["stats", "--no-stream", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let s = &v[0];
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{out}");
        assert_eq!(s["Name"], "s", "{out}");
        assert_eq!(
            s["Source"],
            if delegated { "cgroup" } else { "proc" },
            "{out}"
        );
        assert_eq!(s["PIDs"], 2, "the init and sleep: {out}");
        assert!(s["MemUsage"].as_u64().unwrap() > 0, "{out}");
        assert!(
            s["MemLimit"].as_u64().unwrap() >= s["MemUsage"].as_u64().unwrap(),
            "{out}"
        );
        let out = ctx.ok(&["stats", "--no-stream", "s"]);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "header and one row: {out}");
        assert!(
            lines[0].starts_with("CONTAINER ID") && lines[1].contains(" s "),
            "{out}"
        );

        for bad in [
            &["stats", "--no-stream", "nosuch"][..],
            &["stats", "--no-stream", "--format", "yaml"],
        ] {
            assert_one_error(&ctx.rless(bad), 125);
        }
        ctx.ok(&["stop", "-t", "0", "s"]);
        let out = ctx.rless(&["stats", "--no-stream", "s"]);
        assert_one_error(&out, 125);
        assert!(out.stderr.contains("not running"), "{out}");
        // Nothing running: just the header.
        let out = ctx.ok(&["stats", "--no-stream"]);
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        ctx.ok(&["rm", "s"]);
    });
}
