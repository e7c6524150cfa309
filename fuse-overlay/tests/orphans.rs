//! Files still open after their last name went (orphans), each scenario
//! run over kernel overlayfs and over fuse-overlay with the logs compared:
//! the open, unlink, use pattern of temporary files (fstat, ftruncate,
//! fchmod, fchown, futimens, reopening through /proc), a file replaced by
//! a rename while open, a removed directory still open, and a `syncfs`
//! after unlinks under the writeback cache (whose time updates for the
//! unlinked inodes failed, and the failure came back from syncfs).

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use common::differential::*;
use common::*;

/// What a process sees of its open file `f` that has no name: the
/// results of every call that takes a descriptor.
fn use_orphan(log: &mut Vec<String>, what: &str, f: &mut fs::File) {
    let mut note = |step: &str, r: String| log.push(format!("{what} {step}: {r}"));
    note("write", res(f.write_all(b"more")));
    let st = f.metadata();
    note(
        "fstat",
        val(st.map(|m| format!("size {} nlink {}", m.len(), m.nlink()))),
    );
    note("ftruncate", res(f.set_len(3)));
    note(
        "fchmod",
        res(f.set_permissions(fs::Permissions::from_mode(0o600))),
    );
    let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
    note(
        "fchown",
        rres(rustix::fs::fchown(f.as_fd(), Some(uid), Some(gid))),
    );
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 1_000_000,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 2_000_000,
            tv_nsec: 0,
        },
    };
    note("futimens", rres(rustix::fs::futimens(f.as_fd(), &ts)));
    let st = f.metadata();
    note(
        "fstat again",
        val(st.map(|m| {
            format!(
                "size {} mode {:o} mtime {} nlink {}",
                m.len(),
                m.mode() & 0o7777,
                m.mtime(),
                m.nlink()
            )
        })),
    );
    let proc = format!("/proc/self/fd/{}", f.as_raw_fd());
    note("reopen for reading", val(fs::read(&proc).map(|b| b.len())));
    let appended = OpenOptions::new()
        .append(true)
        .open(&proc)
        .and_then(|mut g| g.write_all(b"xy"));
    note("reopen for appending", res(appended));
    note("content", val(fs::read_to_string(&proc)));
    note("fsync", res(f.sync_all()));
}

/// A value, or "errno N".
fn val<T: std::fmt::Display>(r: std::io::Result<T>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

#[test]
fn unlinked_open_files() {
    const T: &str = "unlinked_open_files";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::write(l.join("lower_rw"), b"lower content").unwrap();
    fs::write(l.join("lower_ro"), b"read only").unwrap();
    fs::write(l.join("lower_plain"), b"plain").unwrap();
    fs::write(l.join("lower_victim"), b"victim").unwrap();
    fs::create_dir(l.join("lower_dir")).unwrap();
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let rw = |p: &Path| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(p)
                .unwrap()
        };
        // Made in the upper layer, and copied up by the open.
        for n in ["new", "lower_rw"] {
            let mut f = rw(&m.join(n));
            log.push(format!("{n} unlink: {}", res(fs::remove_file(m.join(n)))));
            use_orphan(&mut log, n, &mut f);
        }
        // Replaced by a rename, lower and upper.
        for n in ["lower_victim", "upper_victim"] {
            let mut f = rw(&m.join(n));
            fs::write(m.join("other"), b"other").unwrap();
            let r = fs::rename(m.join("other"), m.join(n));
            log.push(format!("{n} replaced: {}", res(r)));
            use_orphan(&mut log, n, &mut f);
            log.push(format!("{n} now: {}", read(&m.join(n))));
        }
        // Open for reading only, so never copied up.
        let mut f = fs::File::open(m.join("lower_ro")).unwrap();
        log.push(format!(
            "lower_ro unlink: {}",
            res(fs::remove_file(m.join("lower_ro")))
        ));
        let st = f
            .metadata()
            .map(|m| format!("size {} mode {:o}", m.len(), m.mode() & 0o7777));
        log.push(format!("lower_ro fstat: {}", val(st)));
        let mut s = String::new();
        log.push(format!(
            "lower_ro read: {}",
            val(f.read_to_string(&mut s).map(|_| s))
        ));
        let proc = format!("/proc/self/fd/{}", f.as_raw_fd());
        log.push(format!("lower_ro reopen: {}", read(Path::new(&proc))));
        drop(f);
        // Removed directories still open, upper and lower.
        fs::create_dir(m.join("upper_dir")).unwrap();
        for n in ["upper_dir", "lower_dir"] {
            let d = fs::File::open(m.join(n)).unwrap();
            log.push(format!("{n} rmdir: {}", res(fs::remove_dir(m.join(n)))));
            let st = d.metadata().map(|m| m.is_dir());
            log.push(format!("{n} fstat is dir: {}", val(st)));
        }
        // Unlinks with nothing open, then syncfs of the mount.
        fs::write(m.join("brief"), b"brief").unwrap();
        for n in ["brief", "lower_plain"] {
            log.push(format!("{n} unlink: {}", res(fs::remove_file(m.join(n)))));
        }
        drop_caches();
        let root = fs::File::open(m).unwrap();
        log.push(format!(
            "syncfs: {}",
            rres(rustix::fs::syncfs(root.as_fd()))
        ));
        log.push(format!(
            "syncfs again: {}",
            rres(rustix::fs::syncfs(root.as_fd()))
        ));
        log
    };
    let variants = [("fuse", opts(false)), ("fuse-wb", opts(true))];
    let Some(run) = differential(T, tmp.path(), std::slice::from_ref(&l), &variants, scenario)
    else {
        return;
    };
    for n in ["new", "lower_rw", "lower_victim", "upper_victim"] {
        run.has(&format!(
            "{n} fstat again: size 3 mode 600 mtime 2000000 nlink 0"
        ));
        run.has(&format!("{n} content: morxy"));
    }
    run.has("syncfs: ok");
    // Once closed, nothing of the orphans stays in the upper layers: only
    // the whiteouts of the lower names and the renamed-in files.
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let mut names: Vec<String> = fs::read_dir(&d.upper)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let want = [
            "lower_dir",
            "lower_plain",
            "lower_ro",
            "lower_rw",
            "lower_victim",
            "upper_victim",
        ];
        assert_eq!(names, want, "{}", d.upper.display());
    }
}
