//! Many threads and SIGKILLed processes working on one mount at once, over
//! two lower layers with content. Every error must be one the race allows,
//! the results must add up (distinct-offset writes, appends, a per-thread
//! model of a private directory), nothing may deadlock (a watchdog aborts)
//! or stay unkillable, unmount must be prompt, and a fresh mount must see
//! the tree the old one showed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::watch::*;
use common::*;
use libc::{EEXIST, EISDIR, ENOENT, ENOTDIR, ENOTEMPTY, EPERM};

const THREADS: usize = 10;
/// Operations per thread, at most...
const OPS: usize = 3000;
/// ...and time per thread for them, at most.
const WORK_TIME: Duration = Duration::from_secs(4);
/// Blocks of `w/big` each thread writes; not page sized, so that
/// neighbours share pages.
const BLOCKS: usize = 24;
const BLOCK: usize = 3000;
/// Records each thread appends to `w/log`.
const APPENDS: usize = 40;
const RECORD: usize = 100;
const LOG0: &[u8] = b"lower log\n";
/// Names in `shared/` that all threads create, remove, rename and link.
const NAMES: &[&str] = &[
    "s0", "s1", "s2", "s3", "s4", "n0", "n1", "n2", "sd0", "sd1", "sd0/a", "sd0/b", "sd1/c",
    "sd1/n", "h0", "h1", "h2", "sd0/h",
];
const TOP: &[&str] = &["s0", "s1", "s2", "s3", "s4", "n0", "n1", "n2", "sd0", "sd1"];
/// Names that become directories (and files again).
const DIRNAMES: &[&str] = &["n2", "sd0", "sd1", "sd1/n"];
/// Names hard links are made under (and removed from, like any other).
const LINKS: &[&str] = &["h0", "h1", "h2", "sd0/h"];
/// Lower directories (with content in both lowers) renamed back and forth
/// between these places (`{}` is the directory's number).
const DIR_PLACES: &[&str] = &["dirs/ld{}", "dirs/ld{}_r", "dirs/nest/ld{}"];
const LDIRS: usize = 4;
/// The whole workload of one mount must end within this.
const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn concurrent_operations_do_not_deadlock() {
    if !with_caps("concurrent_operations_do_not_deadlock") {
        return;
    }
    let t0 = Instant::now();
    // The writeback cache off and on; and as kernel 4.18 drives the server
    // (OPENDIR handles, 128 KiB requests).
    for (writeback, old) in [(false, false), (true, false), (false, true)] {
        stress(writeback, old);
    }
    println!("stress: the runs took {:?}", t0.elapsed());
}

/// Successes and allowed failures per operation, and the failures the race
/// does not explain.
#[derive(Default)]
struct Tally {
    counts: Mutex<BTreeMap<&'static str, (usize, usize)>>,
    bad: Mutex<Vec<String>>,
}

impl Tally {
    /// Checks one result: Ok, an errno in `allowed`, or a recorded failure.
    fn check<T>(&self, op: &'static str, p: &Path, r: io::Result<T>, allowed: &[i32]) -> Option<T> {
        let (ok, v) = match r {
            Ok(v) => (true, Some(v)),
            Err(e) if e.raw_os_error().is_some_and(|n| allowed.contains(&n)) => (false, None),
            Err(e) => {
                self.bad
                    .lock()
                    .unwrap()
                    .push(format!("{op} {}: {e}", p.display()));
                (false, None)
            }
        };
        let mut c = self.counts.lock().unwrap();
        let e = c.entry(op).or_default();
        if ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
        v
    }

    fn fail(&self, what: String) {
        self.bad.lock().unwrap().push(what);
    }

    /// Fails on any unexplained error, or when an operation (nearly) never
    /// succeeded.
    fn assert_sane(&self, run: &str) {
        let bad = self.bad.lock().unwrap();
        assert!(
            bad.is_empty(),
            "{run}: {} unexpected results, first ones:\n{}",
            bad.len(),
            bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
        );
        let c = self.counts.lock().unwrap();
        let (ok, err) = c.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
        println!("{run}: {ok} ok, {err} allowed errors: {c:?}");
        for (op, (o, e)) in c.iter() {
            assert!(
                *o * 20 >= o + e,
                "{run}: {op} nearly always failed ({o} ok, {e} errors)"
            );
        }
        assert!(ok * 2 >= ok + err, "{run}: most operations failed");
    }
}

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The two lower layers: shared names, lower directories to rename, the
/// files written at distinct offsets and appended to, private directories.
fn make_lowers(base: &Path) -> Vec<PathBuf> {
    let (l1, l2) = (base.join("lower1"), base.join("lower2"));
    let w = |p: PathBuf, data: &[u8]| {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o644)).unwrap();
    };
    for i in 0..3 {
        w(
            l2.join(format!("shared/s{i}")),
            format!("lower2 s{i}\n").repeat(50).as_bytes(),
        );
    }
    w(l1.join("shared/s3"), b"lower1 s3\n");
    w(l1.join("shared/s4"), b"lower1 s4\n");
    w(l2.join("shared/sd0/a"), b"a in sd0");
    w(l1.join("shared/sd0/b"), b"b in sd0");
    w(l2.join("shared/sd1/c"), b"c in sd1");
    for k in 0..LDIRS {
        w(l2.join(format!("dirs/ld{k}/a")), &vec![b'a'; 5000]);
        w(l2.join(format!("dirs/ld{k}/sub/c")), b"deep");
        w(l1.join(format!("dirs/ld{k}/x")), b"from lower1");
        w(l1.join(format!("dirs/ld{k}/sub/y")), b"from lower1");
    }
    fs::create_dir_all(l1.join("dirs/nest")).unwrap();
    w(l2.join("w/big"), &vec![b'L'; 100_000]);
    w(l1.join("w/log"), LOG0);
    for t in 0..THREADS {
        w(
            l2.join(format!("priv/p{t}/f0")),
            format!("p{t} f0 lower2").as_bytes(),
        );
        w(
            l1.join(format!("priv/p{t}/f1")),
            format!("p{t} f1 lower1").as_bytes(),
        );
    }
    w(l2.join("kill/big"), &vec![b'K'; 4 << 20]);
    for c in 0..6 {
        fs::create_dir_all(l1.join(format!("kill/c{c}"))).unwrap();
    }
    vec![l1, l2]
}

fn block_byte(b: usize) -> u8 {
    b'0' + (b % 75) as u8
}

fn record(t: usize, r: usize) -> Vec<u8> {
    let mut v = format!("t{t:02} r{r:03} ").into_bytes();
    v.resize(RECORD - 1, b'.');
    v.push(b'\n');
    v
}

/// One run over a fresh set of layers.
fn stress(writeback: bool, old: bool) {
    let run = format!("writeback {writeback}, kernel 4.18 {old}");
    let tmp = tempfile::tempdir().unwrap();
    let _dog = Watchdog::start(
        format!("stress run, {run}"),
        tmp.path().to_owned(),
        WATCHDOG,
    );
    let lowers = make_lowers(tmp.path());
    let d = dirs(tmp.path(), "fuse");
    let o = variant(true, writeback, old);
    let h = mount_fuse_with(&lowers, &d, o);
    let _abort = AbortOnPanic(tmp.path().to_owned());
    let mnt = d.mnt.clone();
    let tally = Arc::new(Tally::default());

    // Meanwhile the kernel keeps forgetting inodes (when we may make it).
    let done = Arc::new(AtomicBool::new(false));
    let dropper = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) && drop_caches() {
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut kids = Kids::spawn(&mnt);
    let total_ops = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, tally, n) = (mnt.clone(), tally.clone(), total_ops.clone());
            std::thread::spawn(move || worker(t, &m, &tally, &n))
        })
        .collect();
    // Kill the processes while the threads work.
    std::thread::sleep(Duration::from_millis(700));
    kids.kill_and_reap(&tally, &mnt);
    let models: Vec<Model> = workers
        .into_iter()
        .map(|w| w.join().expect("worker thread panicked"))
        .collect();
    done.store(true, Ordering::Relaxed);
    dropper.join().unwrap();
    println!("{run}: {} operations", total_ops.load(Ordering::Relaxed));
    tally.assert_sane(&run);

    check_big(&mnt);
    check_log(&mnt);
    for (t, m) in models.iter().enumerate() {
        m.verify(&mnt, t);
    }
    for k in 0..LDIRS {
        let found: Vec<_> = DIR_PLACES
            .iter()
            .map(|p| mnt.join(p.replace("{}", &k.to_string())))
            .filter(|p| p.exists())
            .collect();
        assert_eq!(found.len(), 1, "directory ld{k} is at {found:?}");
        assert_eq!(fs::read(found[0].join("sub/c")).unwrap(), b"deep");
        assert_eq!(fs::read(found[0].join("x")).unwrap(), b"from lower1");
    }
    // dump() lists every directory, fails on a duplicate name and stats
    // (and reads) every entry.
    let before = dump(&mnt);
    assert_no_users(&mnt, "before unmount");

    // Unmount must be prompt: nothing may hold the mount any more.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(h.unmount().map_err(|e| e.to_string())).unwrap());
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => r.unwrap_or_else(|e| panic!("{run}: unmount: {e}")),
        Err(_) => panic!("{run}: unmount did not return within 10 s"),
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&format!(" {} ", mnt.display())),
        "{run}: still mounted after unmount"
    );

    let h = mount_fuse(&lowers, &d, true);
    let after = dump(&mnt);
    h.unmount().unwrap();
    if before != after {
        let (b, a): (BTreeSet<_>, BTreeSet<_>) =
            (before.lines().collect(), after.lines().collect());
        panic!(
            "{run}: the tree changed across remount\nonly before:\n{}\nonly after:\n{}",
            b.difference(&a).cloned().collect::<Vec<_>>().join("\n"),
            a.difference(&b).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

/// `w/big`: block `j * THREADS + t` written by thread `t`, all of it.
fn check_big(mnt: &Path) {
    let got = fs::read(mnt.join("w/big")).unwrap();
    assert_eq!(got.len(), THREADS * BLOCKS * BLOCK, "size of w/big");
    for (b, chunk) in got.chunks(BLOCK).enumerate() {
        assert!(
            chunk.iter().all(|&c| c == block_byte(b)),
            "w/big block {b} (thread {}) holds wrong data: {:?}...",
            b % THREADS,
            String::from_utf8_lossy(&chunk[..40])
        );
    }
}

/// `w/log`: the lower content, then every record once.
fn check_log(mnt: &Path) {
    let got = fs::read(mnt.join("w/log")).unwrap();
    assert_eq!(
        got.len(),
        LOG0.len() + THREADS * APPENDS * RECORD,
        "size of w/log"
    );
    assert_eq!(&got[..LOG0.len()], LOG0);
    let mut seen = BTreeSet::new();
    for rec in got[LOG0.len()..].chunks(RECORD) {
        let s = String::from_utf8_lossy(rec);
        let t: usize = s
            .get(1..3)
            .and_then(|x| x.parse().ok())
            .unwrap_or(usize::MAX);
        let r: usize = s
            .get(5..8)
            .and_then(|x| x.parse().ok())
            .unwrap_or(usize::MAX);
        assert!(
            t < THREADS && r < APPENDS && rec == record(t, r).as_slice(),
            "torn record in w/log: {s:?}"
        );
        assert!(seen.insert((t, r)), "record t{t} r{r} twice in w/log");
    }
}

/// The work of thread `t`; returns its model of its private directory.
fn worker(t: usize, m: &Path, tally: &Tally, total: &AtomicUsize) -> Model {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1000_0001));
    let mut model = Model::new(t);
    let (mut blocks, mut appends) = (0, 0);
    let start = Instant::now();
    let mut i = 0;
    while i < OPS && start.elapsed() < WORK_TIME {
        i += 1;
        match rng.next(20) {
            0 | 1 if blocks < BLOCKS => {
                write_block(m, t, blocks, tally);
                blocks += 1;
            }
            2 | 3 if appends < APPENDS => {
                append(m, t, appends, tally);
                appends += 1;
            }
            4..=6 => model.step(m, &mut rng, tally),
            7..=9 => dir_op(m, t, i, &mut rng, tally),
            _ => shared_op(m, &mut rng, tally),
        }
    }
    for b in blocks..BLOCKS {
        write_block(m, t, b, tally);
    }
    for a in appends..APPENDS {
        append(m, t, a, tally);
    }
    total.fetch_add(i, Ordering::Relaxed);
    model
}

/// Thread `t`'s block `j` of `w/big`, through a fresh write-only open (so
/// opens race with the copy-up of the lower file).
fn write_block(m: &Path, t: usize, j: usize, tally: &Tally) {
    let p = m.join("w/big");
    let b = j * THREADS + t;
    let r = fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .and_then(|f| f.write_all_at(&vec![block_byte(b); BLOCK], (b * BLOCK) as u64));
    tally.check("pwrite w/big", &p, r, &[]);
}

fn append(m: &Path, t: usize, r: usize, tally: &Tally) {
    let p = m.join("w/log");
    let res = fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .and_then(|mut f| f.write(&record(t, r)))
        .and_then(|n| match n {
            RECORD => Ok(()),
            _ => Err(io::Error::other(format!("short append of {n} bytes"))),
        });
    tally.check("append w/log", &p, res, &[]);
}

/// Lower directories renamed between their places while files are made,
/// moved, read and listed in them.
fn dir_op(m: &Path, t: usize, i: usize, rng: &mut Rng, tally: &Tally) {
    let k = rng.next(LDIRS).to_string();
    let place = |r: &mut Rng| m.join(DIR_PLACES[r.next(DIR_PLACES.len())].replace("{}", &k));
    let (a, b) = (place(rng), place(rng));
    match rng.next(6) {
        0 | 1 if a != b => {
            let r = fs::rename(&a, &b);
            tally.check("rename lower dir", &a, r, &[ENOENT]);
        }
        2 => {
            let p = a.join(format!("new{t}_{}", i % 3));
            let r = fs::write(&p, b"new");
            tally.check("create in moving dir", &p, r, &[ENOENT]);
        }
        3 => {
            let p = a.join(format!("new{t}_{}", rng.next(3)));
            let r = fs::remove_file(&p);
            tally.check("unlink in moving dir", &p, r, &[ENOENT]);
        }
        4 => {
            let p = a.join("sub/c");
            let r = fs::read(&p);
            if let Some(data) = tally.check("read in moving dir", &p, r, &[ENOENT]) {
                if data != b"deep" {
                    tally.fail(format!("read {}: {data:?}", p.display()));
                }
            }
        }
        _ => list(&a, tally, "readdir moving dir", &[ENOENT]),
    }
}

/// Lists `dir`: no name twice, and every name stats (or is gone by then).
fn list(dir: &Path, tally: &Tally, op: &'static str, allowed: &[i32]) {
    let r = fs::read_dir(dir).and_then(|rd| rd.collect::<io::Result<Vec<_>>>());
    let Some(ents) = tally.check(op, dir, r, allowed) else {
        return;
    };
    let names: Vec<_> = ents.iter().map(|e| e.file_name()).collect();
    let unique: BTreeSet<_> = names.iter().collect();
    if unique.len() != names.len() {
        tally.fail(format!(
            "{op} {}: a name listed twice: {names:?}",
            dir.display()
        ));
    }
    for e in ents {
        let p = e.path();
        let r = fs::symlink_metadata(&p);
        tally.check("stat listed name", &p, r, &[ENOENT, ENOTDIR]);
    }
}

/// Any operation on the names of `shared/`, which change type (file or
/// directory) and come and go.
fn shared_op(m: &Path, rng: &mut Rng, tally: &Tally) {
    let s = m.join("shared");
    // Renames go to top-level names only: a directory moved into another
    // that is concurrently moved into it gets EINVAL, legitimately.
    let (xn, yn) = (NAMES[rng.next(NAMES.len())], TOP[rng.next(TOP.len())]);
    let (x, y) = (s.join(xn), s.join(yn));
    let (dn, ln) = (
        DIRNAMES[rng.next(DIRNAMES.len())],
        LINKS[rng.next(LINKS.len())],
    );
    // A name under sd0 or sd1 meets ENOTDIR when that became a file.
    let sub = |v: &[i32]| [v, &[ENOTDIR]].concat();
    match rng.next(13) {
        0 => {
            let off = rng.next(2000) as u64;
            let r = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&x)
                .and_then(|f| f.write_all_at(b"written", off));
            tally.check("create/write", &x, r, &sub(&[EISDIR, ENOENT]));
        }
        1 => {
            let r = fs::File::open(&x).and_then(|mut f| f.read_to_end(&mut Vec::new()));
            tally.check("read", &x, r, &sub(&[ENOENT, EISDIR]));
        }
        2 => {
            let r = fs::remove_file(&x);
            tally.check("unlink", &x, r, &sub(&[ENOENT, EISDIR]));
        }
        3 => {
            let p = s.join(dn);
            let r = fs::remove_dir(&p);
            tally.check("rmdir", &p, r, &sub(&[ENOENT, ENOTDIR, ENOTEMPTY]));
        }
        4 => {
            let p = s.join(dn);
            let r = fs::create_dir(&p);
            tally.check("mkdir", &p, r, &sub(&[EEXIST, ENOENT]));
        }
        5 | 6 if xn != yn => {
            // A name moved onto its own parent gets ENOTEMPTY (or EISDIR).
            let r = fs::rename(&x, &y);
            tally.check("rename", &x, r, &sub(&[ENOENT, ENOTDIR, EISDIR, ENOTEMPTY]));
        }
        7 if xn != ln => {
            let r = fs::hard_link(&x, s.join(ln));
            tally.check("link", &x, r, &sub(&[ENOENT, EEXIST, EPERM]));
        }
        8 => {
            let len = rng.next(3000) as u64;
            let r = fs::OpenOptions::new()
                .write(true)
                .open(&x)
                .and_then(|f| f.set_len(len));
            tally.check("truncate", &x, r, &sub(&[ENOENT, EISDIR]));
        }
        9 => {
            let mode = [0o644, 0o600, 0o755][rng.next(3)];
            let r = fs::set_permissions(&x, fs::Permissions::from_mode(mode));
            tally.check("chmod", &x, r, &sub(&[ENOENT]));
        }
        10 => {
            let r = fs::symlink_metadata(&x);
            tally.check("stat", &x, r, &sub(&[ENOENT]));
        }
        _ => list(&s, tally, "readdir shared", &[]),
    }
}

/// What a thread's private directory (from the lowers, renamed between
/// `p{t}` and `p{t}_m`) must hold: names to file ids, ids to content and
/// mode. Every operation on it must succeed.
struct Model {
    dir: String,
    names: BTreeMap<String, usize>,
    files: Vec<(Vec<u8>, u32)>,
}

const PNAMES: &[&str] = &["f0", "f1", "g0", "g1", "g2", "g3"];

impl Model {
    fn new(t: usize) -> Self {
        let files = vec![
            (format!("p{t} f0 lower2").into_bytes(), 0o644),
            (format!("p{t} f1 lower1").into_bytes(), 0o644),
        ];
        let names = [("f0".to_string(), 0), ("f1".to_string(), 1)].into();
        Model {
            dir: format!("priv/p{t}"),
            names,
            files,
        }
    }

    fn step(&mut self, m: &Path, rng: &mut Rng, tally: &Tally) {
        let d = m.join(&self.dir);
        let a = PNAMES[rng.next(PNAMES.len())];
        let b = PNAMES[rng.next(PNAMES.len())];
        let (pa, pb) = (d.join(a), d.join(b));
        let has = |n: &str| self.names.contains_key(n);
        match rng.next(7) {
            0 => {
                let off = rng.next(300);
                let data = format!("<{}>", rng.next(1000)).into_bytes();
                let r = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(&pa)
                    .and_then(|f| f.write_all_at(&data, off as u64));
                if tally.check("model write", &pa, r, &[]).is_some() {
                    let id = *self.names.entry(a.into()).or_insert_with(|| {
                        self.files.push((Vec::new(), 0o644));
                        self.files.len() - 1
                    });
                    let c = &mut self.files[id].0;
                    if c.len() < off + data.len() {
                        c.resize(off + data.len(), 0);
                    }
                    c[off..off + data.len()].copy_from_slice(&data);
                }
            }
            1 if has(a) => {
                let r = fs::rename(&pa, &pb);
                // Two names of one file: rename does nothing.
                let same = self.names.get(b) == self.names.get(a);
                if tally.check("model rename", &pa, r, &[]).is_some() && !same {
                    let id = self.names.remove(a).unwrap();
                    self.names.insert(b.into(), id);
                }
            }
            2 if has(a) => {
                let r = fs::remove_file(&pa);
                if tally.check("model unlink", &pa, r, &[]).is_some() {
                    self.names.remove(a);
                }
            }
            3 if has(a) && !has(b) => {
                let r = fs::hard_link(&pa, &pb);
                if tally.check("model link", &pa, r, &[]).is_some() {
                    let id = self.names[a];
                    self.names.insert(b.into(), id);
                }
            }
            4 if has(a) => {
                let len = rng.next(40);
                let r = fs::OpenOptions::new()
                    .write(true)
                    .open(&pa)
                    .and_then(|f| f.set_len(len as u64));
                if tally.check("model truncate", &pa, r, &[]).is_some() {
                    self.files[self.names[a]].0.resize(len, 0);
                }
            }
            5 if has(a) => {
                let mode = [0o600, 0o640, 0o644][rng.next(3)];
                let r = fs::set_permissions(&pa, fs::Permissions::from_mode(mode));
                if tally.check("model chmod", &pa, r, &[]).is_some() {
                    self.files[self.names[a]].1 = mode;
                }
            }
            6 => {
                let new = match self.dir.strip_suffix("_m") {
                    Some(s) => s.to_string(),
                    None => format!("{}_m", self.dir),
                };
                let r = fs::rename(&d, m.join(&new));
                if tally.check("model rename dir", &d, r, &[]).is_some() {
                    self.dir = new;
                }
            }
            _ => {}
        }
    }

    /// The directory holds exactly the model: names, content, mode, and
    /// hard links (same inode, right link count).
    fn verify(&self, m: &Path, t: usize) {
        let d = m.join(&self.dir);
        let listed: BTreeSet<String> = fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("thread {t}: readdir {}: {e}", d.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let want: BTreeSet<String> = self.names.keys().cloned().collect();
        assert_eq!(listed, want, "thread {t}: names in {}", d.display());
        let mut inos: BTreeMap<usize, u64> = BTreeMap::new();
        for (n, &id) in &self.names {
            let p = d.join(n);
            let st = fs::metadata(&p).unwrap();
            let links = self.names.values().filter(|&&i| i == id).count() as u64;
            assert_eq!(
                fs::read(&p).unwrap(),
                self.files[id].0,
                "thread {t}: data of {n}"
            );
            assert_eq!(
                st.mode() & 0o777,
                self.files[id].1,
                "thread {t}: mode of {n}"
            );
            assert_eq!(st.nlink(), links, "thread {t}: link count of {n}");
            let ino = *inos.entry(id).or_insert(st.ino());
            assert_eq!(
                st.ino(),
                ino,
                "thread {t}: {n} is not the same file as its links"
            );
        }
        let other = m.join(match self.dir.strip_suffix("_m") {
            Some(s) => s.to_string(),
            None => format!("{}_m", self.dir),
        });
        assert!(
            !other.exists(),
            "thread {t}: {} exists too",
            other.display()
        );
    }
}

/// Shell loops doing I/O in the mount, each in its own process group.
struct Kids(Vec<(String, Child)>);

impl Kids {
    fn spawn(mnt: &Path) -> Self {
        // Every loop ends by itself once the mount is gone (after an abort).
        let guard = "i=0; while [ $i -lt 100000 ] && [ -d \"$M/kill\" ]; do i=$((i+1));";
        let scripts = [
            ("append+cat", "cd \"$M/kill/c0\"; GUARD echo $i >> log; cat log > /dev/null; done"),
            ("dd write", "GUARD dd if=/dev/zero of=\"$M/kill/c1/w\" bs=64k count=256 2>/dev/null; done"),
            ("cat lower", "GUARD cat \"$M/kill/big\" > /dev/null; done"),
            (
                "dd copy-up",
                "GUARD dd if=/dev/urandom of=\"$M/kill/big\" bs=4k count=16 seek=$((i % 900)) conv=notrunc 2>/dev/null; done",
            ),
            ("mkdir/mv/rm", "cd \"$M/kill/c4\"; GUARD mkdir -p d/e; echo x > d/e/f; mv d g; rm -rf g; ls -la > /dev/null; done"),
            ("find/stat", "GUARD find \"$M/dirs\" \"$M/shared\" -exec stat {} + > /dev/null 2>&1; done"),
        ];
        let kids = scripts
            .iter()
            .map(|(name, s)| {
                let child = Command::new("sh")
                    .arg("-c")
                    .arg(s.replace("GUARD", guard))
                    .env("M", mnt)
                    .current_dir(mnt)
                    .process_group(0)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                (name.to_string(), child)
            })
            .collect();
        Kids(kids)
    }

    /// SIGKILLs each process group mid-work, a little apart; each must be
    /// reaped within 10 s and none may be left (or be in state D) with its
    /// cwd or files in the mount.
    fn kill_and_reap(&mut self, tally: &Tally, mnt: &Path) {
        for (name, c) in &mut self.0 {
            if let Ok(Some(st)) = c.try_wait() {
                tally.fail(format!(
                    "process {name:?} ended by itself before SIGKILL: {st}"
                ));
            }
            let pid = rustix::process::Pid::from_raw(c.id() as i32).unwrap();
            rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (name, c) in &mut self.0 {
            loop {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let state = proc_state(&PathBuf::from(format!("/proc/{}", c.id())));
                    panic!("SIGKILLed process {name:?} not reaped within 10 s: {state}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.0.clear();
        // Their children (dd, cat...) went with the group: reaped by init.
        loop {
            let users = users_of(mnt);
            if users.is_empty() {
                break;
            }
            if Instant::now() > deadline || users.iter().any(|u| u.contains(" state D ")) {
                panic!(
                    "processes left in the mount after SIGKILL:\n{}",
                    users.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = c.wait();
        }
    }
}
