//! POSIX data-path semantics that the other tests leave out, each run over
//! kernel overlayfs and over fuse-overlay on the same lower layers with the
//! logs of results compared: shared writable mmap of a lower file, statfs,
//! fsync and fdatasync, files over 4 GiB (sparse, copy-up, SEEK_DATA),
//! FIFOs and unix sockets, and O_EXCL over lower names. Where the point is persistence, the
//! upper directories are checked after unmount too. Metadata (times,
//! st_ino) is in `semantics_meta.rs`, lower hard links in
//! `semantics_links.rs`, xattrs in `xattrs.rs`, reads through a
//! descriptor opened before a copy-up in `semantics_copyup.rs`.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use common::differential::*;
use common::*;
use rustix::fs::{SeekFrom, CWD};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

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

// ------------------------------------------------------ 6. O_EXCL

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
