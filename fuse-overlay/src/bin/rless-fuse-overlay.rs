//! `rless-fuse-overlay`: mounts a fuse-overlay with the command line of
//! fuse-overlayfs.
//!
//! ```text
//! rless-fuse-overlay [-f] [-d|-o debug] -o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT
//! rless-fuse-overlay [-f] [-d] -o lowerdir=A:B[,ro] MOUNTPOINT   (read-only)
//! rless-fuse-overlay none MOUNTPOINT -o ...        (mount.fuse3 convention)
//! ```
//!
//! Without `upperdir=` the mount is read-only, as with fuse-overlayfs (podman
//! mounts a container's layers that way for `diff` and `commit`); the library
//! still wants an upper and a work directory, so it gets two empty ones made
//! in `$TMPDIR` and removed as soon as the mount holds them open.
//!
//! Without `-f` the process forks before anything is mounted; the parent
//! waits until the child has mounted (or failed) and exits with its status,
//! so that a caller sees errors and finds the mount ready. The server
//! unmounts and exits on SIGINT, SIGTERM and SIGHUP, and exits when the
//! filesystem is unmounted from outside.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fuse_overlay::{sys, Config, IdMap, Options};

const USAGE: &str = "usage: rless-fuse-overlay [-f] [-d] -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTIONS] MOUNTPOINT";

/// Options accepted without effect (generic mount and FUSE options).
const IGNORED: &[&str] = &[
    "rw",
    "dev",
    "nodev",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "atime",
    "noatime",
    "relatime",
    "allow_other",
    "allow_root",
    "default_permissions",
    "auto_unmount",
    "fast_ino",
    "static_nlink",
];

struct Args {
    foreground: bool,
    debug: bool,
    config: Config,
    /// A read-only mount without `upperdir=`: `config`'s upper and work
    /// directories are to be made empty before mounting.
    scratch: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut opts: Vec<String> = Vec::new();
    let mut positional = Vec::new();
    let mut foreground = false;
    let mut debug = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        match a.as_str() {
            "-f" => foreground = true,
            "-d" | "--debug" => {
                debug = true;
                foreground = true;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            "-o" => {
                i += 1;
                opts.push(args.get(i).ok_or("-o needs a value")?.clone());
            }
            s if s.starts_with("-o") => opts.push(s[2..].to_string()),
            s if s.starts_with('-') && s.len() > 1 => {
                eprintln!("rless-fuse-overlay: warning: ignoring unknown flag {s}");
            }
            _ => positional.push(a.clone()),
        }
        i += 1;
    }
    let mountpoint = match positional.len() {
        1 => PathBuf::from(&positional[0]),
        2 => PathBuf::from(&positional[1]),
        0 => return Err(format!("no mount point given\n{USAGE}")),
        _ => return Err(format!("too many arguments\n{USAGE}")),
    };
    let mut lower = Vec::new();
    let mut upper = None;
    let mut work = None;
    let mut o = Options {
        xattrs: true,
        ..Options::default()
    };
    for opt in opts
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
    {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        let num = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("option {k}: not a number: {v:?}"))
        };
        match k {
            "lowerdir" => {
                lower = v
                    .split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            }
            "upperdir" => upper = Some(PathBuf::from(v)),
            "workdir" => work = Some(PathBuf::from(v)),
            "squash_to_uid" => o.squash_uid = Some(num(v)?),
            "squash_to_gid" => o.squash_gid = Some(num(v)?),
            "squash_to_root" => {
                o.squash_uid = Some(0);
                o.squash_gid = Some(0);
            }
            "uidmapping" => o.uid_map = IdMap::parse(v).map_err(|e| e.to_string())?,
            "gidmapping" => o.gid_map = IdMap::parse(v).map_err(|e| e.to_string())?,
            "xattr_markers" | "noxattrs" => o.xattrs = false,
            "threads" => o.threads = num(v)? as usize,
            "readdirplus" => o.readdirplus = v.parse()?,
            "spin" => o.spin = v.parse()?,
            "ro" => o.read_only = true,
            // Ask the kernel only for what RHEL 8's 4.18 offers (tests and
            // bench/fuse.sh, to see that code path on a newer kernel).
            "kernel_4_18" => o.kernel_4_18 = true,
            "debug" => debug = true,
            "writeback" => {
                o.writeback = match v {
                    "" | "1" | "yes" => true,
                    "0" | "no" => false,
                    _ => return Err(format!("writeback={v}: expected 1 or 0")),
                }
            }
            _ if IGNORED.contains(&k) || k == "fsname" || k == "subtype" => {}
            _ => eprintln!("rless-fuse-overlay: warning: ignoring unknown option {opt}"),
        }
    }
    if lower.is_empty() {
        return Err("missing option lowerdir=".into());
    }
    let scratch = upper.is_none();
    let (upper, work) = match (upper, work) {
        (Some(u), Some(w)) => (u, w),
        (Some(_), None) => return Err("missing option workdir=".into()),
        (None, _) => {
            o.read_only = true;
            let base = std::env::temp_dir().join(format!(
                "rless-fuse-overlay-ro-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            ));
            (base.join("upper"), base.join("work"))
        }
    };
    Ok(Args {
        foreground: foreground || debug,
        debug,
        config: Config {
            lower,
            upper,
            work,
            mountpoint,
            options: o,
        },
        scratch,
    })
}

/// Makes the empty upper and work directories of a read-only mount.
fn make_scratch(config: &Config) -> Result<(), String> {
    for d in [&config.upper, &config.work] {
        std::fs::create_dir_all(d)
            .map_err(|e| format!("cannot make scratch directory {}: {e}", d.display()))?;
    }
    Ok(())
}

/// Removes them again: the mount holds them open, and never writes to them.
fn remove_scratch(config: &Config) {
    let _ = std::fs::remove_dir(&config.upper);
    let _ = std::fs::remove_dir(&config.work);
    if let Some(base) = config.upper.parent() {
        let _ = std::fs::remove_dir(base);
    }
}

/// Whether `path` is already a mount point.
fn is_mount_point(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy().replace(' ', "\\040");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp == want)
}

struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!("rless-fuse-overlay: {}: {}", r.level(), r.args());
    }
    fn flush(&self) {}
}

/// Mounts and serves until unmounted or signalled. `ready` is called once
/// with the result of mounting.
fn serve(config: Config, scratch: bool, ready: impl FnOnce(Result<(), String>)) -> ExitCode {
    if is_mount_point(&config.mountpoint) {
        ready(Err(format!(
            "mount point {} is busy: something is already mounted there",
            config.mountpoint.display()
        )));
        return ExitCode::FAILURE;
    }
    if scratch {
        if let Err(e) = make_scratch(&config) {
            ready(Err(e));
            return ExitCode::FAILURE;
        }
    }
    fuse_overlay::block_termination_signals();
    let copy = scratch.then(|| config.clone());
    let mounted = fuse_overlay::mount(config);
    if let Some(c) = &copy {
        remove_scratch(c);
    }
    let handle = match mounted {
        Ok(h) => h,
        Err(e) => {
            ready(Err(e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    ready(Ok(()));
    match handle.wait_or_signal() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rless-fuse-overlay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rless-fuse-overlay: {e}");
            return ExitCode::from(2);
        }
    };
    if args.debug {
        let _ = log::set_logger(&StderrLog);
        log::set_max_level(log::LevelFilter::Debug);
    }
    if args.foreground {
        return serve(args.config, args.scratch, |r| {
            if let Err(e) = r {
                eprintln!("rless-fuse-overlay: {e}");
            }
        });
    }
    let (mut rd, wr) = match rustix::pipe::pipe() {
        Ok((r, w)) => (std::fs::File::from(r), std::fs::File::from(w)),
        Err(e) => {
            eprintln!("rless-fuse-overlay: pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match sys::fork() {
        Err(e) => {
            eprintln!("rless-fuse-overlay: fork: {e}");
            ExitCode::FAILURE
        }
        Ok(Some(_child)) => {
            drop(wr);
            let mut msg = String::new();
            let _ = rd.read_to_string(&mut msg);
            match msg.strip_prefix("ok") {
                Some(_) => ExitCode::SUCCESS,
                None => {
                    let msg = msg
                        .strip_prefix("err ")
                        .unwrap_or("the server exited before mounting");
                    eprintln!("rless-fuse-overlay: {msg}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(None) => {
            drop(rd);
            let _ = rustix::process::setsid();
            let mut wr = Some(wr);
            serve(args.config, args.scratch, move |r| {
                let mut w = wr.take().expect("ready called once");
                let _ = match r {
                    Ok(()) => w.write_all(b"ok"),
                    Err(e) => w.write_all(format!("err {e}").as_bytes()),
                };
                drop(w);
                fuse_overlay::stdio_to_dev_null();
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_both_conventions() {
        let a = parse(&s(&[
            "-o",
            "lowerdir=/a:/b,upperdir=/u,workdir=/w,foo",
            "/mnt",
        ]))
        .unwrap();
        assert_eq!(
            a.config.lower,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(a.config.mountpoint, PathBuf::from("/mnt"));
        let a = parse(&s(&[
            "none",
            "/mnt",
            "-o",
            "lowerdir=/a,upperdir=/u,workdir=/w,squash_to_uid=5,uidmapping=0:1000:1",
        ]))
        .unwrap();
        assert_eq!(a.config.mountpoint, PathBuf::from("/mnt"));
        assert_eq!(a.config.options.squash_uid, Some(5));
        // fuse-overlayfs order: on-disk 0 shows as 1000.
        assert_eq!(a.config.options.uid_map.to_inside(0), 1000);
        assert_eq!(a.config.options.uid_map.to_outside(1000), 0);
        assert!(parse(&s(&["-o", "upperdir=/u,workdir=/w", "/mnt"])).is_err());
        // A range past the largest id is refused, not wrapped at use.
        for map in ["uidmapping=0:4294967000:65536", "gidmapping=4294967295:0:2"] {
            let o = format!("lowerdir=/a,upperdir=/u,workdir=/w,{map}");
            assert!(parse(&s(&["-o", &o, "/mnt"])).is_err(), "{map}");
        }
        let o = "lowerdir=/a,upperdir=/u,workdir=/w,uidmapping=4294967295:0:1";
        assert!(parse(&s(&["-o", o, "/mnt"])).is_ok());
    }

    #[test]
    fn readdirplus_option() {
        let o = |v: &str| {
            parse(&s(&[
                "-o",
                &format!("lowerdir=/a,upperdir=/u,workdir=/w,{v}"),
                "/m",
            ]))
        };
        assert_eq!(
            o("readdirplus=never").unwrap().config.options.readdirplus,
            fuse_overlay::ReaddirPlus::Never
        );
        assert_eq!(
            o("foo").unwrap().config.options.readdirplus,
            fuse_overlay::ReaddirPlus::Auto
        );
        let e = o("readdirplus=maybe").err().unwrap();
        assert!(e.contains("readdirplus=maybe"), "{e}");
    }

    #[test]
    fn spin_and_writeback_options() {
        let o = |v: &str| {
            parse(&s(&[
                "-o",
                &format!("lowerdir=/a,upperdir=/u,workdir=/w{v}"),
                "/m",
            ]))
        };
        let spin = |v: &str| o(v).unwrap().config.options.spin;
        assert_eq!(spin(""), fuse_overlay::Spin::Auto);
        assert_eq!(spin(",spin=off"), fuse_overlay::Spin::Off);
        assert_eq!(spin(",spin=auto"), fuse_overlay::Spin::Auto);
        let e = o(",spin=fast").err().unwrap();
        assert!(e.contains("spin=fast"), "{e}");
        let wb = |v: &str| o(v).unwrap().config.options.writeback;
        assert!(!wb(""));
        assert!(wb(",writeback"));
        assert!(wb(",writeback=1"));
        assert!(!wb(",writeback=0"));
        assert!(o(",writeback=maybe").is_err());
        assert!(o(",kernel_4_18").unwrap().config.options.kernel_4_18);
        assert!(!o("").unwrap().config.options.kernel_4_18);
    }
}
