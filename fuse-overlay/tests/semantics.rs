//! POSIX semantics that the other tests leave out, each run over kernel
//! overlayfs and over fuse-overlay on the same lower layers with the logs of
//! results compared: shared writable mmap of a lower file, statfs, fsync and
//! fdatasync, files over 4 GiB (sparse, copy-up, SEEK_DATA), FIFOs and unix
//! sockets, timestamps across copy-up, xattrs (and hiding the overlay's own),
//! st_ino across copy-up, lower hard links (d_ino, st_ino) and O_EXCL over
//! lower names. Where the point is persistence, the upper directories are
//! checked after unmount too.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{DirEntryExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use fuse_overlay::Options;
use rustix::fs::{AtFlags, SeekFrom, Timespec, Timestamps, XattrFlags, CWD};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn opts(writeback: bool) -> Options {
    Options {
        xattrs: true,
        writeback,
        ..Options::default()
    }
}

/// Result of a rustix call as "ok" or "errno N".
fn rres<T>(r: rustix::io::Result<T>) -> String {
    res(r.map_err(std::io::Error::from))
}

/// A value, or "errno N".
fn val<T: std::fmt::Display>(r: std::io::Result<T>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn ref_res<T>(r: Result<T, &std::io::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

fn read(p: &Path) -> String {
    match fs::read(p) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// Mounts of one test: kernel overlayfs and the fuse-overlay variants, each
/// with its own upper directory.
struct Run {
    kernel: Dirs,
    fuse: Vec<Dirs>,
    /// The log, the same for every mount.
    log: Vec<String>,
}

impl Run {
    /// Asserts the (common) log has this line.
    fn has(&self, line: &str) {
        assert!(
            self.log.iter().any(|l| l == line),
            "no line {line:?} in\n{}",
            self.log.join("\n")
        );
    }
}

/// Runs `scenario` over kernel overlayfs and over fuse-overlay once per
/// option set in `variants`, asserts the logs are equal, and returns the
/// (unmounted) directories. `None` after a skip.
fn differential(
    test: &str,
    base: &Path,
    lowers: &[PathBuf],
    variants: &[(&str, Options)],
    scenario: impl Fn(&Path) -> Vec<String>,
) -> Option<Run> {
    let kd = dirs(base, "kernel");
    let k = match mount_kernel(lowers, &kd) {
        Ok(k) => k,
        Err(e) => {
            skip(test, &e);
            return None;
        }
    };
    let klog = scenario(&kd.mnt);
    drop(k);
    println!("{test} (kernel):\n  {}", klog.join("\n  "));
    let mut fuse = Vec::new();
    for (name, o) in variants {
        let fd = dirs(base, name);
        let h = mount_fuse_with(lowers, &fd, o.clone());
        let flog = scenario(&fd.mnt);
        h.unmount().unwrap();
        if klog != flog {
            println!("{test} (fuse-overlay {name}):\n  {}", flog.join("\n  "));
        }
        for (k, f) in klog.iter().zip(&flog) {
            assert_eq!(
                k, f,
                "{test}: kernel (left) and fuse-overlay {name} (right) differ"
            );
        }
        assert_eq!(klog.len(), flog.len(), "{test}: log lengths ({name})");
        fuse.push(fd);
    }
    Some(Run {
        kernel: kd,
        fuse,
        log: klog,
    })
}

fn lower(base: &Path, name: &str) -> PathBuf {
    let l = base.join(name);
    fs::create_dir_all(&l).unwrap();
    l
}

// ---------------------------------------------------------------- 1. mmap

/// Writes `data` at `off` through a shared writable mapping of `p`, msyncs,
/// and returns what read(2) of the file shows while it is still mapped.
fn mmap_write(p: &Path, off: usize, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let f = OpenOptions::new().read(true).write(true).open(p)?;
    let len = f.metadata()?.len() as usize;
    assert!(off + data.len() <= len);
    // SAFETY: a new mapping (no fixed address) of `len` bytes of a file we
    // hold open; nothing else in this process refers to that memory.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `ptr` is the start of our live mapping of `len` readable and
    // writable bytes, not aliased by any other reference; the slice is
    // dropped before munmap.
    let map = unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) };
    map[off..off + data.len()].copy_from_slice(data);
    // SAFETY: msync of exactly our mapping.
    let rc = unsafe { libc::msync(ptr, len, libc::MS_SYNC) };
    let synced = if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    };
    let seen = fs::read(p);
    // SAFETY: unmaps exactly our mapping; `map` is not used after this.
    unsafe { libc::munmap(ptr, len) };
    synced?;
    seen
}

fn mmap_content() -> Vec<u8> {
    (0..3 * 4096 + 100).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn shared_writable_mmap_of_lower_file() {
    const T: &str = "shared_writable_mmap_of_lower_file";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    let orig = mmap_content();
    fs::write(l.join("m"), &orig).unwrap();
    // Two pages apart: the first and a later page change.
    let mut want1 = orig.clone();
    want1[10..16].copy_from_slice(b"MAPPED");
    let mut want = want1.clone();
    want[2 * 4096 + 7..2 * 4096 + 11].copy_from_slice(b"PAGE");
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let p = m.join("m");
        log.push(format!(
            "read(2) while mapped sees the write: {}",
            match mmap_write(&p, 10, b"MAPPED") {
                Ok(b) => (b == want1).to_string(),
                Err(e) => res::<()>(Err(e)),
            }
        ));
        log.push(format!(
            "second page: {}",
            match mmap_write(&p, 2 * 4096 + 7, b"PAGE") {
                Ok(b) => (b == want).to_string(),
                Err(e) => res::<()>(Err(e)),
            }
        ));
        log.push(format!(
            "read after munmap matches: {}",
            fs::read(&p).unwrap() == want
        ));
        log.push(format!("size {}", fs::metadata(&p).unwrap().len()));
        log
    };
    let variants = [("fuse", opts(false)), ("fuse-wb", opts(true))];
    let Some(run) = differential(T, tmp.path(), std::slice::from_ref(&l), &variants, scenario)
    else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert_eq!(
            fs::read(d.upper.join("m")).unwrap(),
            want,
            "upper content in {}",
            d.upper.display()
        );
    }
    assert_eq!(fs::read(l.join("m")).unwrap(), orig, "lower changed");
    run.has("read(2) while mapped sees the write: true");
    run.has("second page: true");
    run.has("read after munmap matches: true");
    // The same lower with the fuse upper on top, through kernel overlayfs.
    let kd = dirs(tmp.path(), "kernel-over-fuse-upper");
    let k = mount_kernel(&[run.fuse[0].upper.clone(), l.clone()], &kd).unwrap();
    assert_eq!(fs::read(kd.mnt.join("m")).unwrap(), want);
    drop(k);
}

// -------------------------------------------------------------- 2. statfs

#[test]
fn statfs_reports_upper_filesystem() {
    const T: &str = "statfs_reports_upper_filesystem";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::write(l.join("f"), "x").unwrap();
    let up = |m: &Path| m.parent().unwrap().join("upper");
    let scenario = |m: &Path| {
        let s = rustix::fs::statvfs(m).unwrap();
        let u = rustix::fs::statvfs(up(m)).unwrap();
        let fsub = rustix::fs::statvfs(m.join("f")).unwrap();
        vec![
            format!("bsize equal {}", s.f_bsize == u.f_bsize),
            format!("frsize equal {}", s.f_frsize == u.f_frsize),
            format!("blocks equal {}", s.f_blocks == u.f_blocks),
            format!("files equal {}", s.f_files == u.f_files),
            format!("namemax {}", s.f_namemax),
            format!("file's blocks equal {}", fsub.f_blocks == u.f_blocks),
            format!("bsize {} blocks {}", s.f_bsize, s.f_blocks),
        ]
    };
    let Some(_run) = differential(T, tmp.path(), &[l], &[("fuse", opts(false))], scenario) else {
        return;
    };
    // Concrete: the fuse mount says what the upper's filesystem says.
    let d = dirs(tmp.path(), "fuse2");
    let h = mount_fuse_with(&[tmp.path().join("lower")], &d, opts(false));
    let s = rustix::fs::statvfs(&d.mnt).unwrap();
    let u = rustix::fs::statvfs(&d.upper).unwrap();
    h.unmount().unwrap();
    assert_eq!(
        (s.f_bsize, s.f_frsize, s.f_blocks),
        (u.f_bsize, u.f_frsize, u.f_blocks)
    );
    assert!(s.f_blocks > 0 && s.f_bsize > 0);
}

// --------------------------------------------------------------- 3. fsync

#[test]
fn fsync_and_fdatasync() {
    const T: &str = "fsync_and_fdatasync";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("ld/sub")).unwrap();
    fs::write(l.join("lo"), "lower only").unwrap();
    fs::write(l.join("lo2"), "lower, written").unwrap();
    fs::write(l.join("ld/sub/f"), "deep").unwrap();
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let mut both = |what: &str, f: std::io::Result<fs::File>| {
            let (a, b) = match f {
                Ok(f) => (res(f.sync_all()), res(f.sync_data())),
                Err(e) => (res::<()>(Err(e)), String::new()),
            };
            log.push(format!("{what}: fsync {a} fdatasync {b}"));
        };
        both("lower file read-only", fs::File::open(m.join("lo")));
        both("deep lower file", fs::File::open(m.join("ld/sub/f")));
        both(
            "lower file written",
            OpenOptions::new()
                .read(true)
                .append(true)
                .open(m.join("lo2"))
                .and_then(|mut f| f.write_all(b" more").map(|()| f)),
        );
        both(
            "new upper file",
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(m.join("new"))
                .and_then(|mut f| f.write_all(b"fresh").map(|()| f)),
        );
        both("root dir", fs::File::open(m));
        both("lower dir", fs::File::open(m.join("ld")));
        both("lower subdir", fs::File::open(m.join("ld/sub")));
        fs::create_dir(m.join("nd")).unwrap();
        both("upper dir", fs::File::open(m.join("nd")));
        both(
            "lower dir opened O_DIRECTORY",
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(m.join("ld")),
        );
        log.push(format!("lo2 {}", read(&m.join("lo2"))));
        log.push(format!("new {}", read(&m.join("new"))));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert_eq!(read(&d.upper.join("lo2")), "lower, written more");
        assert_eq!(read(&d.upper.join("new")), "fresh");
        assert!(!d.upper.join("lo").exists(), "fsync copied up lo");
    }
    assert_eq!(read(&l.join("lo2")), "lower, written");
    let syncs: Vec<&String> = run.log.iter().filter(|l| l.contains("fsync")).collect();
    assert_eq!(syncs.len(), 9);
    for l in syncs {
        assert!(l.ends_with("fsync ok fdatasync ok"), "{l}");
    }
}

// ------------------------------------------------------- 4. over 4 GiB

const BIG: u64 = 5 * GIB;
const LOW_OFF: u64 = 4 * GIB + 12345;
const UP_OFF: u64 = 4 * GIB + MIB;

fn pread_str(f: &fs::File, off: u64, n: usize) -> String {
    let mut buf = vec![0u8; n];
    match rustix::io::pread(f.as_fd(), &mut buf, off) {
        Ok(k) => String::from_utf8_lossy(&buf[..k]).into_owned(),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

#[test]
fn sparse_file_over_4_gib() {
    const T: &str = "sparse_file_over_4_gib";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    let f = fs::File::create(l.join("big")).unwrap();
    f.set_len(BIG).unwrap();
    rustix::io::pwrite(f.as_fd(), b"lower data", LOW_OFF).unwrap();
    f.sync_all().unwrap();
    let lower_data = rustix::fs::seek(f.as_fd(), SeekFrom::Data(0)).unwrap();
    drop(f);
    if !(4 * GIB..LOW_OFF + 1).contains(&lower_data) {
        return skip(
            T,
            &format!("the test filesystem reports the first data at {lower_data}"),
        );
    }
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let p = m.join("big");
        let f = fs::File::open(&p).unwrap();
        log.push(format!("size {}", f.metadata().unwrap().len()));
        log.push(format!("lower read {}", pread_str(&f, LOW_OFF, 10)));
        log.push(format!("zeros before {:?}", pread_str(&f, LOW_OFF - 3, 3)));
        drop(f);
        let w = OpenOptions::new().write(true).open(&p).unwrap();
        log.push(format!(
            "write at 4GiB+1MiB {}",
            rres(rustix::io::pwrite(w.as_fd(), b"upper!", UP_OFF))
        ));
        drop(w);
        let f = fs::File::open(&p).unwrap();
        log.push(format!("size {}", f.metadata().unwrap().len()));
        log.push(format!("read low {}", pread_str(&f, LOW_OFF, 10)));
        log.push(format!("read up {}", pread_str(&f, UP_OFF, 6)));
        log.push(format!("read past end {:?}", pread_str(&f, BIG, 6)));
        let data = rustix::fs::seek(f.as_fd(), SeekFrom::Data(0));
        log.push(format!("SEEK_DATA 0 {data:?}"));
        // Where the first hole starts after copy-up is the copy's business:
        // kernel overlayfs copies whole 1 MiB chunks, fuse-overlay blocks.
        let hole = rustix::fs::seek(f.as_fd(), SeekFrom::Hole(data.unwrap_or(0)));
        println!("{}: SEEK_HOLE after data {hole:?}", m.display());
        log.push(format!(
            "SEEK_HOLE within 2 MiB after the data {}",
            hole.is_ok_and(|h| {
                let d = data.unwrap_or(0);
                h > d && h <= d + 2 * MIB
            })
        ));
        log.push(format!(
            "SEEK_DATA 4GiB+2MiB {:?}",
            rustix::fs::seek(f.as_fd(), SeekFrom::Data(4 * GIB + 2 * MIB))
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let up = fs::File::open(d.upper.join("big")).unwrap();
        let md = up.metadata().unwrap();
        println!("{}: upper blocks {}", d.upper.display(), md.blocks());
        assert_eq!(md.len(), BIG);
        assert_eq!(pread_str(&up, LOW_OFF, 10), "lower data");
        assert_eq!(pread_str(&up, UP_OFF, 6), "upper!");
        let data = rustix::fs::seek(up.as_fd(), SeekFrom::Data(0)).unwrap();
        assert!(data > 4 * GIB, "upper's first data at {data}");
    }
    let up = fs::metadata(run.fuse[0].upper.join("big")).unwrap();
    assert!(
        up.blocks() * 512 < 4 * MIB,
        "fuse copy-up filled the holes: {} blocks",
        up.blocks()
    );
    run.has("lower read lower data");
    run.has("read up upper!");
    run.has("read low lower data");
    run.has(&format!("size {BIG}"));
    run.has("SEEK_DATA 4GiB+2MiB Err(Os { code: 6, kind: Uncategorized, message: \"No such device or address\" })");
    let low = fs::File::open(l.join("big")).unwrap();
    assert_eq!(pread_str(&low, UP_OFF, 6), "\0\0\0\0\0\0", "lower changed");
}

// ------------------------------------------------ 5. FIFOs and sockets

fn kind(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => {
            let t = m.file_type();
            if t.is_fifo() {
                "fifo".into()
            } else if t.is_socket() {
                "socket".into()
            } else if t.is_file() {
                "file".into()
            } else {
                format!("other {:o}", m.mode())
            }
        }
        Err(e) => res::<()>(Err(e)),
    }
}

/// Sends a message through the FIFO at `p`: the reader opens non-blocking
/// (so nothing can hang), a second thread opens the write end and writes.
fn through_fifo(p: &Path) -> String {
    let r = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
    {
        Ok(r) => r,
        Err(e) => return format!("open reader: {}", res::<()>(Err(e))),
    };
    let wp = p.to_owned();
    let writer = std::thread::spawn(move || {
        OpenOptions::new()
            .write(true)
            .open(&wp)
            .and_then(|mut w| w.write_all(b"through the fifo"))
    });
    let w = res(writer.join().unwrap());
    rustix::fs::fcntl_setfl(&r, rustix::fs::OFlags::empty()).unwrap();
    let mut got = String::new();
    let rd = (&r).read_to_string(&mut got);
    format!("writer {w} reader {} got {got:?}", res(rd))
}

#[test]
fn fifos_and_unix_sockets() {
    const T: &str = "fifos_and_unix_sockets";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    rustix::fs::mknodat(
        CWD,
        l.join("lowfifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        log.push(format!(
            "mknod fifo {}",
            rres(rustix::fs::mknodat(
                CWD,
                m.join("fifo"),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o640),
                0,
            ))
        ));
        log.push(format!(
            "mkfifo exists again {}",
            rres(rustix::fs::mknodat(
                CWD,
                m.join("lowfifo"),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o640),
                0,
            ))
        ));
        let listener = std::os::unix::net::UnixListener::bind(m.join("sock"));
        log.push(format!("bind {}", ref_res(listener.as_ref())));
        for n in ["fifo", "lowfifo", "sock"] {
            log.push(format!("{n}: {}", kind(&m.join(n))));
        }
        log.push(format!(
            "fifo mode {:o}",
            fs::metadata(m.join("fifo")).unwrap().mode() & 0o7777
        ));
        log.push(format!("fifo {}", through_fifo(&m.join("fifo"))));
        log.push(format!("lowfifo {}", through_fifo(&m.join("lowfifo"))));
        if let Ok(listener) = listener {
            let c = std::os::unix::net::UnixStream::connect(m.join("sock"));
            log.push(format!("connect {}", ref_res(c.as_ref())));
            if let Ok(mut c) = c {
                let (mut s, _) = listener.accept().unwrap();
                c.write_all(b"hi").unwrap();
                let mut b = [0u8; 2];
                s.read_exact(&mut b).unwrap();
                log.push(format!("socket passed {:?}", String::from_utf8_lossy(&b)));
            }
        }
        let mut names: Vec<String> = fs::read_dir(m)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        log.push(format!("ls {}", names.join(",")));
        log.push(format!("rm sock {}", res(fs::remove_file(m.join("sock")))));
        log.push(format!("sock after rm {}", kind(&m.join("sock"))));
        log.push(format!(
            "bind again {}",
            res(std::os::unix::net::UnixListener::bind(m.join("sock2")).map(|_| ()))
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert_eq!(kind(&d.upper.join("fifo")), "fifo", "{}", d.upper.display());
        assert_eq!(kind(&d.upper.join("sock2")), "socket");
        assert_eq!(
            fs::symlink_metadata(d.upper.join("fifo")).unwrap().mode() & 0o7777,
            0o640
        );
        assert!(!d.upper.join("lowfifo").exists(), "lowfifo copied up");
    }
    assert_eq!(kind(&l.join("lowfifo")), "fifo");
    for line in [
        "mknod fifo ok",
        "bind ok",
        "fifo: fifo",
        "lowfifo: fifo",
        "sock: socket",
        "fifo writer ok reader ok got \"through the fifo\"",
        "lowfifo writer ok reader ok got \"through the fifo\"",
        "connect ok",
        "socket passed \"hi\"",
        "bind again ok",
    ] {
        run.has(line);
    }
}

// ------------------------------------------------------------ 6. times

const LOWER_MTIME: Timespec = Timespec {
    tv_sec: 1_500_000_000,
    tv_nsec: 123_456_789,
};

fn set_times(p: &Path, atime: Timespec, mtime: Timespec) -> rustix::io::Result<()> {
    rustix::fs::utimensat(
        CWD,
        p,
        &Timestamps {
            last_access: atime,
            last_modification: mtime,
        },
        AtFlags::empty(),
    )
}

fn mtime(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => format!("{}.{:09}", m.mtime(), m.mtime_nsec()),
        Err(e) => res::<()>(Err(e)),
    }
}

fn atime(p: &Path) -> String {
    match fs::symlink_metadata(p) {
        Ok(m) => format!("{}.{:09}", m.atime(), m.atime_nsec()),
        Err(e) => res::<()>(Err(e)),
    }
}

#[test]
fn times_across_copy_up() {
    const T: &str = "times_across_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    for n in ["u", "c", "f", "own"] {
        fs::write(l.join(n), format!("content of {n}")).unwrap();
        set_times(&l.join(n), LOWER_MTIME, LOWER_MTIME).unwrap();
    }
    let new_a = Timespec {
        tv_sec: 1_000_000_001,
        tv_nsec: 111,
    };
    let new_m = Timespec {
        tv_sec: 1_100_000_002,
        tv_nsec: 222_333_444,
    };
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        log.push(format!("u before {}", mtime(&m.join("u"))));
        log.push(format!(
            "utimensat u {}",
            rres(set_times(&m.join("u"), new_a, new_m))
        ));
        log.push(format!(
            "u mtime {} atime {}",
            mtime(&m.join("u")),
            atime(&m.join("u"))
        ));
        log.push(format!("u read {}", read(&m.join("u"))));
        log.push(format!(
            "chmod c {}",
            res(fs::set_permissions(
                m.join("c"),
                fs::Permissions::from_mode(0o600)
            ))
        ));
        log.push(format!("c mtime {}", mtime(&m.join("c"))));
        log.push(format!("c read {}", read(&m.join("c"))));
        // futimens on a descriptor opened read-only before the copy-up.
        let f = fs::File::open(m.join("f")).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(1_200_000_003, 444_555_666);
        log.push(format!(
            "futimens f {}",
            res(f.set_times(fs::FileTimes::new().set_modified(t)))
        ));
        log.push(format!("f mtime {}", mtime(&m.join("f"))));
        log.push(format!(
            "f mtime by fd {}",
            f.metadata()
                .map(|m| format!("{}.{:09}", m.mtime(), m.mtime_nsec()))
                .unwrap_or_default()
        ));
        drop(f);
        // UTIME_OMIT for mtime: only atime changes, the lower mtime stays.
        log.push(format!(
            "atime only {}",
            rres(set_times(
                &m.join("own"),
                new_a,
                Timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                }
            ))
        ));
        log.push(format!(
            "own mtime {} atime {}",
            mtime(&m.join("own")),
            atime(&m.join("own"))
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    let lower_m = mtime(&l.join("c"));
    assert_eq!(lower_m, "1500000000.123456789");
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let u = &d.upper;
        assert_eq!(
            mtime(&u.join("u")),
            "1100000002.222333444",
            "{}",
            u.display()
        );
        assert_eq!(mtime(&u.join("c")), lower_m, "chmod copy-up kept mtime");
        assert_eq!(read(&u.join("c")), "content of c");
        assert_eq!(fs::metadata(u.join("c")).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(mtime(&u.join("f")), "1200000003.444555666");
        assert_eq!(read(&u.join("f")), "content of f");
        assert_eq!(mtime(&u.join("own")), lower_m);
    }
    for n in ["u", "c", "f", "own"] {
        assert_eq!(mtime(&l.join(n)), lower_m, "lower {n} changed");
    }
}

// ----------------------------------------------------------- 7. xattrs

fn getx(p: &Path, name: &str) -> String {
    let mut buf = [0u8; 256];
    match rustix::fs::lgetxattr(p, name, &mut buf[..]) {
        Ok(n) => format!("{:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

fn listx(p: &Path) -> String {
    let mut buf = [0u8; 4096];
    match rustix::fs::llistxattr(p, &mut buf[..]) {
        Ok(n) => {
            let mut v: Vec<String> = buf[..n]
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            v.sort();
            format!("[{}]", v.join(","))
        }
        Err(e) => format!("errno {}", e.raw_os_error()),
    }
}

fn setx(p: &Path, name: &str, v: &str, flags: XattrFlags) -> String {
    rres(rustix::fs::lsetxattr(p, name, v.as_bytes(), flags))
}

#[test]
fn xattrs_through_the_mount() {
    const T: &str = "xattrs_through_the_mount";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let probe = tmp.path().join("probe");
    fs::write(&probe, "").unwrap();
    if let Err(e) = rustix::fs::setxattr(&probe, "user.test", b"1", XattrFlags::empty()) {
        return skip(T, &format!("user xattrs on the test filesystem: {e}"));
    }
    let l1 = lower(tmp.path(), "l1");
    let l2 = lower(tmp.path(), "l2");
    for (f, v) in [("f", "lowval"), ("g", "gval"), ("h", "hval")] {
        fs::write(l2.join(f), f).unwrap();
        rustix::fs::setxattr(l2.join(f), "user.test", v.as_bytes(), XattrFlags::empty()).unwrap();
    }
    fs::create_dir_all(l2.join("opq")).unwrap();
    fs::write(l2.join("opq/old"), "hidden").unwrap();
    fs::create_dir_all(l1.join("opq")).unwrap();
    set_opaque(&l1.join("opq"));
    rustix::fs::setxattr(l1.join("opq"), "user.mine", b"d", XattrFlags::empty()).unwrap();
    fs::write(l1.join("opq/new"), "visible").unwrap();
    fs::create_dir_all(l2.join("wd")).unwrap();
    fs::write(l2.join("wd/a"), "a").unwrap();
    fs::write(l2.join("wd/b"), "b").unwrap();
    fs::create_dir_all(l1.join("wd")).unwrap();
    whiteout(&l1.join("wd/a"));
    fs::create_dir_all(l2.join("ed/sub")).unwrap();
    fs::write(l2.join("ed/sub/x"), "x").unwrap();
    let lowers = vec![l1, l2.clone()];
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let mut r = |what: &str, x: String| log.push(format!("{what}: {x}"));
        let f = m.join("f");
        r("get f", getx(&f, "user.test"));
        r("list f", listx(&f));
        r("get f missing", getx(&f, "user.none"));
        let mut small = [0u8; 2];
        r(
            "get f small buffer",
            rres(rustix::fs::getxattr(&f, "user.test", &mut small[..])),
        );
        let mut exact = [0u8; 6];
        r(
            "get f exact buffer",
            rres(rustix::fs::getxattr(&f, "user.test", &mut exact[..])),
        );
        r(
            "chmod f",
            res(fs::set_permissions(&f, fs::Permissions::from_mode(0o600))),
        );
        r("get f after chmod", getx(&f, "user.test"));
        r(
            "set f other",
            setx(&f, "user.other", "o", XattrFlags::empty()),
        );
        r("list f", listx(&f));
        r(
            "create f other",
            setx(&f, "user.other", "p", XattrFlags::CREATE),
        );
        r(
            "replace g new",
            setx(&m.join("g"), "user.new", "n", XattrFlags::REPLACE),
        );
        r(
            "replace g test",
            setx(&m.join("g"), "user.test", "g2", XattrFlags::REPLACE),
        );
        r("get g", getx(&m.join("g"), "user.test"));
        r(
            "remove f test",
            rres(rustix::fs::lremovexattr(&f, "user.test")),
        );
        r("get f test", getx(&f, "user.test"));
        r(
            "remove f test again",
            rres(rustix::fs::lremovexattr(&f, "user.test")),
        );
        r("list f", listx(&f));
        r(
            "chmod h",
            res(fs::set_permissions(
                m.join("h"),
                fs::Permissions::from_mode(0o640),
            )),
        );
        r("list h", listx(&m.join("h")));
        // Directories whose layers carry overlay xattrs.
        let opq = m.join("opq");
        r("list opq", listx(&opq));
        r("get opq mine", getx(&opq, "user.mine"));
        r("ls opq", {
            let mut v: Vec<String> = fs::read_dir(&opq)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v.join(",")
        });
        r("list wd", listx(&m.join("wd")));
        r("rm wd/b", res(fs::remove_file(m.join("wd/b"))));
        r("list wd", listx(&m.join("wd")));
        r("list root", listx(m));
        // A lower directory removed and made again: opaque in the upper.
        r("rm ed/sub/x", res(fs::remove_file(m.join("ed/sub/x"))));
        r("rmdir ed/sub", res(fs::remove_dir(m.join("ed/sub"))));
        r("rmdir ed", res(fs::remove_dir(m.join("ed"))));
        r("mkdir ed", res(fs::create_dir(m.join("ed"))));
        r("list ed", listx(&m.join("ed")));
        r(
            "set ed",
            setx(&m.join("ed"), "user.d", "v", XattrFlags::empty()),
        );
        r("list ed", listx(&m.join("ed")));
        r("mkdir opq/n", res(fs::create_dir(opq.join("n"))));
        r("list opq", listx(&opq));
        r("set opq", setx(&opq, "user.more", "m", XattrFlags::empty()));
        r("list opq", listx(&opq));
        r("list opq/n", listx(&opq.join("n")));
        log
    };
    let Some(run) = differential(T, tmp.path(), &lowers, &[("fuse", opts(false))], scenario) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let u = &d.upper;
        assert_eq!(
            getx(&u.join("h"), "user.test"),
            "\"hval\"",
            "{}",
            u.display()
        );
        assert_eq!(getx(&u.join("g"), "user.test"), "\"g2\"");
        assert_eq!(getx(&u.join("f"), "user.test"), "errno 61");
        assert_eq!(getx(&u.join("f"), "user.other"), "\"o\"");
        assert_eq!(getx(&u.join("ed"), "user.overlay.opaque"), "\"y\"");
        assert_eq!(getx(&u.join("ed"), "user.d"), "\"v\"");
        assert_eq!(getx(&u.join("opq"), "user.mine"), "\"d\"");
        assert_eq!(getx(&u.join("opq"), "user.more"), "\"m\"");
    }
    assert_eq!(getx(&l2.join("h"), "user.test"), "\"hval\"");
    assert_eq!(listx(&l2.join("f")), "[user.test]", "lower f changed");
    for line in [
        "get f: \"lowval\"",
        "get f small buffer: errno 34",
        "get f after chmod: \"lowval\"",
        "list f: [user.other,user.test]",
        "create f other: errno 17",
        "replace g new: errno 61",
        "remove f test again: errno 61",
        "list f: [user.other]",
        "list opq: [user.mine]",
        "list wd: []",
        "list ed: []",
        "list ed: [user.d]",
        "list opq: [user.mine,user.more]",
        "list opq/n: []",
    ] {
        run.has(line);
    }
}

/// Reading the overlay's own xattrs by name through the mount. (Setting
/// them is not compared: kernel 6.7 and later store a `user.overlay.*` name
/// set through the mount escaped, as `user.overlay.overlay.*`, for nested
/// overlays; older kernels refuse, fuse-overlay refuses
/// with EPERM.)
#[test]
fn overlay_xattrs_hidden_by_name() {
    const T: &str = "overlay_xattrs_hidden_by_name";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l1 = lower(tmp.path(), "l1");
    let l2 = lower(tmp.path(), "l2");
    fs::create_dir_all(l2.join("opq")).unwrap();
    fs::create_dir_all(l1.join("opq")).unwrap();
    set_opaque(&l1.join("opq"));
    let scenario = |m: &Path| {
        let opq = m.join("opq");
        vec![
            format!("get opaque {}", getx(&opq, "user.overlay.opaque")),
            format!("list {}", listx(&opq)),
        ]
    };
    let Some(run) = differential(T, tmp.path(), &[l1, l2], &[("fuse", opts(false))], scenario)
    else {
        return;
    };
    run.has("get opaque errno 61");
    run.has("list []");
}

// ------------------------------------------------------ 8. st_ino

#[test]
fn st_ino_across_copy_up() {
    const T: &str = "st_ino_across_copy_up";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    for n in ["w", "c", "t", "x"] {
        fs::write(l.join(n), n).unwrap();
    }
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("d/in"), "in").unwrap();
    let lower_ino: BTreeMap<&str, u64> = ["w", "c", "t", "x", "d"]
        .into_iter()
        .map(|n| (n, fs::metadata(l.join(n)).unwrap().ino()))
        .collect();
    // Whether st_ino (and st_dev) of each name are unchanged by each step.
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        let st = |n: &str| {
            let md = fs::symlink_metadata(m.join(n)).unwrap();
            (md.ino(), md.dev())
        };
        let before: BTreeMap<&str, (u64, u64)> = ["w", "c", "t", "x", "d"]
            .into_iter()
            .map(|n| (n, st(n)))
            .collect();
        let same = |log: &mut Vec<String>, what: &str| {
            let now: Vec<String> = before
                .iter()
                .map(|(n, v)| format!("{n}={}", st(n) == *v))
                .collect();
            log.push(format!("{what}: {}", now.join(" ")));
        };
        let mut w = OpenOptions::new().append(true).open(m.join("w")).unwrap();
        same(&mut log, "opened w for writing");
        w.write_all(b" more").unwrap();
        drop(w);
        same(&mut log, "wrote w");
        fs::set_permissions(m.join("c"), fs::Permissions::from_mode(0o600)).unwrap();
        same(&mut log, "chmod c");
        OpenOptions::new()
            .write(true)
            .open(m.join("t"))
            .unwrap()
            .set_len(0)
            .unwrap();
        same(&mut log, "truncate t");
        fs::write(m.join("d/new"), "n").unwrap();
        same(&mut log, "dir d copied up");
        if drop_caches() {
            same(&mut log, "after drop_caches");
        } else {
            log.push("no drop_caches".into());
        }
        // With the file kept in use by an open descriptor.
        let keep = fs::File::open(m.join("x")).unwrap();
        fs::set_permissions(m.join("x"), fs::Permissions::from_mode(0o600)).unwrap();
        log.push(format!(
            "x by fd after chmod same: {}",
            keep.metadata().unwrap().ino() == before["x"].0
        ));
        same(&mut log, "chmod x while open");
        // st_ino of each name against the lower file's st_ino: logged per
        // driver, not compared (fuse-overlay numbers inodes itself).
        let eq_lower: Vec<String> = lower_ino
            .iter()
            .map(|(n, i)| format!("{n}={}", st(n).0 == *i))
            .collect();
        println!("st_ino equals the lower's: {}", eq_lower.join(" "));
        log
    };
    let Some(run) = differential(T, tmp.path(), &[l], &[("fuse", opts(false))], scenario) else {
        return;
    };
    // Concrete: every line says every name kept its st_ino.
    let d = dirs(tmp.path(), "fuse-check");
    let h = mount_fuse_with(&[tmp.path().join("lower")], &d, opts(false));
    let a = fs::metadata(d.mnt.join("x")).unwrap().ino();
    fs::write(d.mnt.join("x"), "rewritten").unwrap();
    let b = fs::metadata(d.mnt.join("x")).unwrap().ino();
    drop_caches();
    let c = fs::metadata(d.mnt.join("x")).unwrap().ino();
    h.unmount().unwrap();
    assert_eq!((a, a), (b, c), "st_ino changed across copy-up");
    assert!(run.log.len() >= 8);
    for l in &run.log {
        assert!(!l.contains("false"), "{l}");
    }
    assert!(run.fuse[0].upper.join("w").exists());
}

// ------------------------------------------------------ 9. hard links

#[test]
fn lower_hard_links() {
    const T: &str = "lower_hard_links";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l = lower(tmp.path(), "lower");
    fs::create_dir_all(l.join("d")).unwrap();
    fs::write(l.join("h1"), "linked").unwrap();
    fs::hard_link(l.join("h1"), l.join("h2")).unwrap();
    fs::hard_link(l.join("h1"), l.join("d/h3")).unwrap();
    fs::write(l.join("plain"), "p").unwrap();
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        // `full`: also nlink, content and st_ino equality of the other
        // names (see the note below on why not after a copy-up).
        let state = |log: &mut Vec<String>, when: &str, full: bool| {
            let mut d_ino = BTreeMap::new();
            for dir in [m.to_path_buf(), m.join("d")] {
                for e in fs::read_dir(&dir).unwrap() {
                    let e = e.unwrap();
                    d_ino.insert(e.path(), e.ino());
                }
            }
            let names = ["h1", "h2", "d/h3"];
            let st: Vec<fs::Metadata> = names
                .iter()
                .map(|n| fs::metadata(m.join(n)).unwrap())
                .collect();
            for (n, s) in names.iter().zip(&st) {
                if full || *n == "h1" {
                    log.push(format!(
                        "{when} {n}: d_ino==st_ino {} nlink {} data {}",
                        d_ino[&m.join(n)] == s.ino(),
                        s.nlink(),
                        read(&m.join(n))
                    ));
                } else {
                    log.push(format!(
                        "{when} {n}: d_ino==st_ino {}",
                        d_ino[&m.join(n)] == s.ino()
                    ));
                }
            }
            if full {
                log.push(format!(
                    "{when} h1==h2 {} h1==h3 {} h2==h3 {}",
                    st[0].ino() == st[1].ino(),
                    st[0].ino() == st[2].ino(),
                    st[1].ino() == st[2].ino()
                ));
            }
            log.push(format!(
                "{when} plain d_ino==st_ino {}",
                d_ino[&m.join("plain")] == fs::metadata(m.join("plain")).unwrap().ino()
            ));
        };
        state(&mut log, "lower", true);
        let w = OpenOptions::new()
            .append(true)
            .open(m.join("h1"))
            .and_then(|mut f| f.write_all(b" +h1"));
        log.push(format!("append h1 {}", res(w)));
        // Not compared after the copy-up: kernel overlayfs (index=off, as
        // userxattr forces) breaks the link, so h2 and d/h3 keep the lower
        // content and st_ino; fuse-overlay keeps the three names one object
        // for the rest of the mount (h2 reads "linked +h1", nlink 1, and a
        // chmod through h2 changes the upper h1), while on disk only h1 is
        // copied up. A known difference, reported, not asserted.
        state(&mut log, "after write", false);
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        std::slice::from_ref(&l),
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    assert_eq!(read(&l.join("h2")), "linked", "lower changed");
    run.has("lower h1==h2 true h1==h3 true h2==h3 true");
    for n in ["h1", "h2", "d/h3"] {
        run.has(&format!(
            "lower {n}: d_ino==st_ino true nlink 3 data linked"
        ));
    }
    run.has("after write h1: d_ino==st_ino true nlink 1 data linked +h1");
    run.has("after write h2: d_ino==st_ino true");
    run.has("after write d/h3: d_ino==st_ino true");
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        assert!(!d.upper.join("h2").exists(), "h2 copied up");
        assert_eq!(
            read(&d.upper.join("h1")),
            "linked +h1",
            "{}",
            d.upper.display()
        );
    }
}

// ------------------------------------------------------ 10. O_EXCL

#[test]
fn exclusive_create_over_lower_names() {
    const T: &str = "exclusive_create_over_lower_names";
    if !with_caps(T) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let l1 = lower(tmp.path(), "l1");
    let l2 = lower(tmp.path(), "l2");
    fs::write(l1.join("lo"), "top lower").unwrap();
    fs::create_dir_all(l2.join("md")).unwrap();
    fs::create_dir_all(l1.join("md")).unwrap();
    fs::write(l2.join("md/deep"), "second lower").unwrap();
    fs::write(l2.join("gone"), "whited out").unwrap();
    whiteout(&l1.join("gone"));
    fs::create_dir_all(l2.join("ldir")).unwrap();
    std::os::unix::fs::symlink("nowhere", l2.join("dangling")).unwrap();
    let excl = |p: &Path| {
        res(OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p))
    };
    let scenario = |m: &Path| {
        let mut log = Vec::new();
        for n in ["lo", "md/deep", "ldir", "dangling", "md", "gone", "fresh"] {
            log.push(format!("O_EXCL {n}: {}", excl(&m.join(n))));
        }
        log.push(format!("O_EXCL fresh again: {}", excl(&m.join("fresh"))));
        log.push(format!(
            "O_CREAT rdonly lo: {}",
            res(OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_CREAT)
                .open(m.join("lo")))
        ));
        log.push(format!("read lo {}", read(&m.join("lo"))));
        log.push(format!("read md/deep {}", read(&m.join("md/deep"))));
        log.push(format!(
            "dangling {}",
            val(fs::read_link(m.join("dangling")).map(|p| p.display().to_string()))
        ));
        log.push(format!(
            "gone mode {}",
            val(fs::metadata(m.join("gone")).map(|m| format!("{:o}", m.mode())))
        ));
        log
    };
    let Some(run) = differential(
        T,
        tmp.path(),
        &[l1.clone(), l2],
        &[("fuse", opts(false))],
        scenario,
    ) else {
        return;
    };
    for d in std::iter::once(&run.kernel).chain(&run.fuse) {
        let u = &d.upper;
        assert!(
            !u.join("lo").exists(),
            "EEXIST copied up lo ({})",
            u.display()
        );
        assert!(!u.join("md/deep").exists());
        assert_eq!(kind(&u.join("gone")), "file");
        assert_eq!(kind(&u.join("fresh")), "file");
    }
    assert_eq!(read(&l1.join("lo")), "top lower");
    for n in ["lo", "md/deep", "ldir", "dangling", "md"] {
        run.has(&format!("O_EXCL {n}: errno 17"));
    }
    run.has("O_EXCL gone: ok");
    run.has("O_EXCL fresh: ok");
    run.has("O_EXCL fresh again: errno 17");
    run.has("O_CREAT rdonly lo: ok");
}
