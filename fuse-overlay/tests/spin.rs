//! During a burst of requests one server thread polls `/dev/fuse`; the
//! polling stops when the requests do. Answers stay the same while polling,
//! a mount unmounts while a thread polls, an idle mount burns no CPU after a
//! burst, and `spin=off` never polls.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{dirs, mount_fuse_with, with_caps};
use fuse_overlay::{Options, Spin};

const DIRS: usize = 10;
/// The tests of this file run one at a time: one measures the CPU time of
/// the whole process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const FILES: usize = 200;

fn lower(base: &Path) -> PathBuf {
    let l = base.join("lower");
    for d in 0..DIRS {
        std::fs::create_dir_all(l.join(format!("d{d}"))).unwrap();
        for f in 0..FILES {
            std::fs::write(l.join(format!("d{d}/f{f}")), format!("{d}/{f}")).unwrap();
        }
    }
    l
}

/// Stats every file of directories `dirs` (one LOOKUP each, in a row; the
/// kernel caches the answers) and checks what it sees against the lower
/// layer.
fn burst(mnt: &Path, lower: &Path, dirs: std::ops::Range<usize>) {
    for d in dirs {
        for f in 0..FILES {
            let rel = format!("d{d}/f{f}");
            let got = std::fs::metadata(mnt.join(&rel)).unwrap();
            let want = std::fs::metadata(lower.join(&rel)).unwrap();
            assert_eq!(got.len(), want.len(), "{rel}");
            assert_eq!(got.mode(), want.mode(), "{rel}");
        }
    }
}

/// CPU time (user + system) of this process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted from the state (field 3).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn options(spin: Spin) -> Options {
    Options {
        spin,
        ..Options::default()
    }
}

#[test]
fn polling_starts_in_a_burst_and_stops_after_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("polling_starts_in_a_burst_and_stops_after_it") {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let base = tempfile::tempdir().unwrap();
    let lower = lower(base.path());
    let d = dirs(base.path(), "auto");
    let m = mount_fuse_with(std::slice::from_ref(&lower), &d, options(Spin::Auto));
    burst(&d.mnt, &lower, 0..DIRS / 2);
    if cpus < 2 {
        // One CPU: the poller would take it from the caller.
        assert_eq!(m.polled_bursts(), 0, "polled with one CPU");
        println!("one CPU: checked that nothing polls");
        return;
    }
    assert!(
        m.polled_bursts() >= 1,
        "a burst of 1000 lookups was not polled"
    );

    let t = Instant::now();
    while m.polling() {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "still polling 2 s after the burst"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Idle now: the process must not burn a CPU. 400 ms of polling would be
    // 40 ticks.
    let before = cpu_ticks();
    std::thread::sleep(Duration::from_millis(400));
    let used = cpu_ticks() - before;
    assert!(used <= 8, "{used} ticks of CPU in 400 ms of idleness");

    // A second burst polls again, and the answers are unchanged.
    let episodes = m.polled_bursts();
    burst(&d.mnt, &lower, DIRS / 2..DIRS);
    assert!(
        m.polled_bursts() > episodes,
        "the second burst was not polled"
    );
    m.unmount().unwrap();
}

#[test]
fn unmount_while_polling() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("unmount_while_polling") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let lower = lower(base.path());
    let d = dirs(base.path(), "mid");
    let m = mount_fuse_with(std::slice::from_ref(&lower), &d, options(Spin::Auto));
    let mnt = d.mnt.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Keep requests coming from another thread while we unmount.
    let walker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for f in 0..FILES {
                    let _ = std::fs::symlink_metadata(mnt.join(format!("d0/f{f}")));
                    let _ = std::fs::symlink_metadata(mnt.join(format!("d0/missing{f}")));
                }
            }
        })
    };
    let t = Instant::now();
    while !m.polling() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let was_polling = m.polling();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(m.unmount()).unwrap());
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("unmount hung while a thread polled");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    walker.join().unwrap();
    r.unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(was_polling || cpus < 2, "the walk never started polling");
    // Nothing is left mounted.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&*d.mnt.to_string_lossy()),
        "still mounted: {}",
        d.mnt.display()
    );
}

#[test]
fn spin_off_never_polls() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !with_caps("spin_off_never_polls") {
        return;
    }
    let base = tempfile::tempdir().unwrap();
    let lower = lower(base.path());
    let d = dirs(base.path(), "off");
    let m = mount_fuse_with(std::slice::from_ref(&lower), &d, options(Spin::Off));
    burst(&d.mnt, &lower, 0..DIRS);
    assert_eq!(m.polled_bursts(), 0);
    assert!(!m.polling());
    m.unmount().unwrap();
}
