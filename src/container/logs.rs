//! Container logs, in the k8s-file format podman uses:
//!
//! ```text
//! 2026-11-28T17:40:12.123456789Z stdout F a whole line
//! 2026-11-28T17:40:12.223456789Z stderr P the start of a line without its newline yet
//! ```
//!
//! A container's monitor writes `ctr.log` in the container's directory,
//! stdout and stderr kept apart: a detached one from its pipes, a
//! foreground `run` or `start -a` from what it shows the caller. When the file passes its size
//! cap it is renamed to `ctr.log.1` (replacing an older one) and a new one
//! starts; each rotation first appends the key of the file it rotates away
//! (inode and the time stamp of its first line: an inode is reused once
//! its file is deleted) to `ctr.log.rotated`, so that a reader that fell
//! behind by more than the one rotated file kept can tell how many it lost
//! ([`Follower`]). A write error (a full disk) never stops the container: the
//! monitor keeps draining its pipes, drops what it cannot write, and says
//! so once in its own log.

use crate::image::time;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;

/// The log files' mode: the user's alone (a container's output may hold
/// what its secrets gave it, and a store's root made by the user may be
/// open to others).
const LOG_MODE: u32 = 0o600;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use super::logconfig::DEFAULT_MAX_SIZE;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Appends container output to the log, with rotation.
pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    /// Files kept, the current one included (`--log-opt max-file`).
    max_files: u32,
    failed: bool,
}

pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("ctr.log")
}

/// The log file at `path` opened to append, made if missing; `None` if it
/// cannot be (the writer drops output until it can).
fn open_log(path: &Path) -> Option<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_MODE)
        .open(path)
        .ok()
}

impl LogWriter {
    /// The log of the container in `dir`, kept as `config` says.
    pub fn for_config(dir: &Path, config: &super::logconfig::LogConfig) -> LogWriter {
        let (max_size, max_files) = config.limits();
        let mut w = LogWriter::open(dir, max_size);
        w.max_files = max_files;
        w
    }

    pub fn open(dir: &Path, max_size: u64) -> LogWriter {
        let path = log_path(dir);
        let file = open_log(&path);
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        LogWriter {
            path,
            file,
            size,
            max_size,
            max_files: super::logconfig::DEFAULT_MAX_FILES,
            failed: false,
        }
    }

    /// Logs one chunk read from a stream; a chunk may hold several lines
    /// and end in the middle of one.
    pub fn write(&mut self, stream: Stream, chunk: &[u8]) {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let stamp = time::format_rfc3339_nanos(std::time::SystemTime::now());
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match piece.strip_suffix(b"\n") {
                Some(t) => (t, "F"),
                None => (piece, "P"),
            };
            out.extend_from_slice(format!("{stamp} {} {tag} ", stream.as_str()).as_bytes());
            out.extend_from_slice(text);
            out.push(b'\n');
        }
        self.append(&out);
    }

    /// Appends whole records (lines), rotating where the next one would
    /// pass the size cap: a file holds at most `max_size` bytes unless a
    /// single record is bigger (it is never split).
    fn append(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room =
                usize::try_from(self.max_size.saturating_sub(self.size)).unwrap_or(usize::MAX);
            let take = if data.len() <= room {
                data.len()
            } else if let Some(end) = data[..room].iter().rposition(|b| *b == b'\n') {
                end + 1
            } else if self.size > 0 {
                self.rotate_now();
                continue;
            } else {
                data.iter()
                    .position(|b| *b == b'\n')
                    .map_or(data.len(), |e| e + 1)
            };
            self.put(&data[..take]);
            data = &data[take..];
        }
    }

    /// Starts a new file, the current one moved aside.
    fn rotate_now(&mut self) {
        // Before the rename: a reader that sees the file rotated finds
        // it in the journal.
        if let Some(key) = File::open(&self.path).ok().and_then(|f| file_key(&f)) {
            note_rotation(&self.path, &key);
        }
        self.rotate();
        self.file = open_log(&self.path);
        self.size = 0;
    }

    fn put(&mut self, data: &[u8]) {
        let result = match &mut self.file {
            Some(f) => f.write_all(data),
            None => Err(io::Error::other("log file not open")),
        };
        match result {
            Ok(()) => {
                self.size += data.len() as u64;
                self.failed = false;
            }
            Err(e) => {
                if !self.failed {
                    // The monitor's own stderr is its log file.
                    eprintln!("rless monitor: cannot write container log {}: {e}; output is being dropped", self.path.display());
                }
                self.failed = true;
                // Try to reopen next time (the disk may have been freed).
                self.file = open_log(&self.path);
            }
        }
    }
}

impl LogWriter {
    /// Moves the current file aside: `ctr.log.N-1` … `ctr.log.1` move one
    /// up (the oldest past `max_files` goes), the current file becomes
    /// `ctr.log.1`; with one file kept it is removed (a reader holding it
    /// still reads it to its end).
    fn rotate(&mut self) {
        if self.max_files <= 1 {
            let _ = fs::remove_file(&self.path);
            return;
        }
        for n in (1..self.max_files - 1).rev() {
            let _ = fs::rename(generation(&self.path, n), generation(&self.path, n + 1));
        }
        let _ = fs::rename(&self.path, generation(&self.path, 1));
    }
}

/// `ctr.log.N`, the Nth file rotated away (1 the newest).
fn generation(path: &Path, n: u32) -> PathBuf {
    path.with_extension(format!("log.{n}"))
}

/// The journal of rotations beside the log at `path`.
fn journal_path(path: &Path) -> PathBuf {
    path.with_extension("log.rotated")
}

/// How many rotations the journal keeps (one line each): more than any
/// reader can fall behind by and still count what it lost.
const JOURNAL_KEEP: usize = 1000;

/// What tells log files apart for the journal: the inode (reused once a
/// file is deleted) and the time stamp of the file's first line (no two
/// files have the same, as no record is split between two files).
type FileKey = String;

/// The key of an open log file: "DEV INO STAMP" (STAMP empty while the
/// file is empty).
fn file_key(f: &File) -> Option<FileKey> {
    use std::os::unix::fs::FileExt;
    let (dev, ino) = identity(&f.metadata().ok()?);
    let mut head = [0u8; 64];
    let n = f.read_at(&mut head, 0).ok()?;
    let stamp = head[..n].split(|b| *b == b' ').next().unwrap_or_default();
    Some(format!("{dev} {ino} {}", String::from_utf8_lossy(stamp)))
}

/// Appends the key of the file about to be rotated away to the journal
/// (trimmed to its last entries now and then).
fn note_rotation(path: &Path, key: &str) {
    let journal = journal_path(path);
    if fs::metadata(&journal).is_ok_and(|m| m.len() > 96 * JOURNAL_KEEP as u64) {
        let kept = read_journal(path);
        let start = kept.len().saturating_sub(JOURNAL_KEEP / 2);
        let text: String = kept[start..].iter().map(|k| format!("{k}\n")).collect();
        let tmp = path.with_extension("log.rotated.tmp");
        if fs::write(&tmp, text).is_ok() {
            let _ = fs::rename(&tmp, &journal);
        }
    }
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&journal) {
        let _ = f.write_all(format!("{key}\n").as_bytes());
    }
}

/// The keys of the files rotated away, oldest first.
fn read_journal(path: &Path) -> Vec<FileKey> {
    fs::read_to_string(journal_path(path))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub time: String,
    /// Seconds since the epoch (for --since).
    pub epoch: i64,
    pub stream: Stream,
    pub partial: bool,
    pub text: Vec<u8>,
}

impl LogLine {
    /// Nanoseconds since the epoch (for --since and --until).
    pub fn nanos(&self) -> i128 {
        let frac = self
            .time
            .split_once('.')
            .map_or("", |(_, f)| f.trim_end_matches(['Z', 'z']));
        let ns = (0..9).fold(0i128, |n, i| {
            n * 10
                + frac
                    .as_bytes()
                    .get(i)
                    .filter(|d| d.is_ascii_digit())
                    .map_or(0, |d| i128::from(d - b'0'))
        });
        i128::from(self.epoch) * 1_000_000_000 + ns
    }
}

/// Parses one line of the log file.
pub fn parse_line(line: &[u8]) -> Option<LogLine> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = parts.next()? == b"P";
    let text = parts.next().unwrap_or_default().to_vec();
    let epoch = time::parse_rfc3339(&time)?;
    Some(LogLine {
        time,
        epoch,
        stream,
        partial,
        text,
    })
}

/// Reads a container's log as it grows: each [`Follower::read_new`] gives
/// the lines written since the one before. It keeps the file open, so one
/// rotated away meanwhile is read to its end before the next; if the log
/// rotated twice between two reads, the file in between (now `ctr.log.1`)
/// is read whole too. A reader that falls further behind (three rotations
/// between two reads, 60 MiB at the default cap: a `logs -f` whose output
/// is not read) has lost the files rotated away and deleted meanwhile:
/// it counts them from the rotation journal and says so on stderr, one
/// line (docker says nothing; output must not vanish silently).
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// The start of a line not written whole yet.
    partial: Vec<u8>,
    /// The rotated files to read whole before `file`, oldest first
    /// ([`Follower::with_history`]).
    history: Vec<File>,
    /// Log files lost so far (rotated away and deleted unread).
    lost: u64,
}

/// Device and inode of a file: whether two names or handles are one file.
fn identity(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

impl Follower {
    /// Follows from the start of the current file (the monitor of a
    /// foreground container, whose log it began).
    pub fn new(dir: &Path) -> Follower {
        Follower {
            path: log_path(dir),
            file: None,
            partial: Vec::new(),
            history: Vec::new(),
            lost: 0,
        }
    }

    /// How many log files were rotated away and deleted before this
    /// follower could read them, so far.
    pub fn lost_files(&self) -> u64 {
        self.lost
    }

    /// Follows from the log's beginning, the rotated file first: the first
    /// [`Follower::read_new`] gives every line logged so far (`rless logs`).
    pub fn with_history(dir: &Path) -> Follower {
        let mut f = Follower::new(dir);
        // The current file first: if it is rotated before the old one is
        // opened, `ctr.log.1` is the file held and is not read twice.
        // Then `ctr.log.1`, `.2`, … (`--log-opt max-file`), newest first;
        // a rotation meanwhile renames one already open to the next name,
        // which is then skipped as the same file.
        f.file = File::open(&f.path).ok();
        let mut seen: Vec<(u64, u64)> = f
            .file
            .iter()
            .filter_map(|h| h.metadata().ok().map(|m| identity(&m)))
            .collect();
        for n in 1..=super::logconfig::MAX_FILES {
            let Ok(old) = File::open(generation(&f.path, n)) else {
                break;
            };
            let Ok(id) = old.metadata().map(|m| identity(&m)) else {
                continue;
            };
            if !seen.contains(&id) {
                seen.push(id);
                f.history.push(old);
            }
        }
        f.history.reverse();
        f
    }

    /// Follows from the file's present end: only what is written from now
    /// on (`rless attach`).
    pub fn from_end(dir: &Path) -> Follower {
        use std::io::Seek;
        let mut f = Follower::new(dir);
        f.file = File::open(&f.path).ok().and_then(|mut file| {
            file.seek(std::io::SeekFrom::End(0)).ok()?;
            Some(file)
        });
        f
    }

    pub fn read_new(&mut self) -> Vec<LogLine> {
        let mut out = Vec::new();
        for mut old in std::mem::take(&mut self.history) {
            // A rotated file holds whole lines only.
            drain(&mut old, &mut Vec::new(), &mut out);
        }
        let Some(file) = &mut self.file else {
            self.file = File::open(&self.path).ok();
            if let Some(f) = &mut self.file {
                drain(f, &mut self.partial, &mut out);
            }
            return out;
        };
        // Looked at before the read: what was written before a rotation
        // is all in the file held.
        let held = file.metadata().ok();
        let rotated = match (fs::metadata(&self.path), &held) {
            (Ok(now), Some(held)) => identity(&now) != identity(held),
            _ => false,
        };
        drain(file, &mut self.partial, &mut out);
        if rotated {
            // Still the file held (read by position, not moved).
            let held_key = file_key(file);
            self.partial.clear();
            // Rotated again since: the file between is `ctr.log.1` now.
            let between = File::open(self.path.with_extension("log.1"))
                .ok()
                .filter(|f| match (f.metadata(), &held) {
                    (Ok(b), Some(h)) => identity(&b) != identity(h),
                    _ => false,
                });
            let between_key = between.as_ref().and_then(file_key);
            if let Some(mut between) = between {
                drain(&mut between, &mut Vec::new(), &mut out);
            }
            self.file = File::open(&self.path).ok();
            let current_key = self.file.as_ref().and_then(file_key);
            if let Some(held) = held_key {
                let lost = self.count_lost(&held, between_key, current_key);
                if lost > 0 {
                    self.lost += lost;
                    eprintln!(
                        "rless: warning: {lost} log file(s) of the container were rotated away and deleted before they could be read: their output is missing here"
                    );
                }
            }
            if let Some(f) = &mut self.file {
                drain(f, &mut self.partial, &mut out);
            }
        }
        out
    }

    /// The files rotated away after `held` that are neither the one read
    /// in between nor the current one: deleted unread. Counted from the
    /// journal, whose entry for a file is written before its rename, so a
    /// rotation under way is not counted as a loss.
    fn count_lost(&self, held: &str, between: Option<FileKey>, current: Option<FileKey>) -> u64 {
        let journal = read_journal(&self.path);
        let Some(at) = journal.iter().rposition(|e| e == held) else {
            return 0;
        };
        journal[at + 1..]
            .iter()
            .filter(|e| Some(*e) != between.as_ref() && Some(*e) != current.as_ref())
            .count() as u64
    }
}

/// Reads `file` to its end: its whole lines parsed into `out`, the bytes
/// after the last newline kept in `partial` for the next read.
fn drain(file: &mut File, partial: &mut Vec<u8>, out: &mut Vec<LogLine>) {
    use std::io::Read;
    let _ = file.read_to_end(partial);
    let Some(end) = partial.iter().rposition(|b| *b == b'\n') else {
        return;
    };
    out.extend(partial[..end].split(|b| *b == b'\n').filter_map(parse_line));
    partial.drain(..=end);
}

/// Every whole line of the container's logs, oldest first (rotated file
/// first).
pub fn read_all(dir: &Path) -> Vec<LogLine> {
    Follower::with_history(dir).read_new()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines' text, lossily as UTF-8.
    fn text(v: Vec<LogLine>) -> Vec<String> {
        v.iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn follower_from_end_skips_what_was_there() {
        let t = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(t.path(), 1 << 20);
        w.write(Stream::Stdout, b"before\nhalf");
        let mut f = Follower::from_end(t.path());
        assert!(f.read_new().is_empty());
        w.write(Stream::Stderr, b"after\n");
        let got = f.read_new();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].text.as_slice(), got[0].stream),
            (&b"after"[..], Stream::Stderr)
        );
    }

    #[test]
    fn follower_reads_what_is_new_across_rotation() {
        let t = tempfile::tempdir().unwrap();
        let mut f = Follower::new(t.path());
        assert!(f.read_new().is_empty(), "no log yet");
        let mut w = LogWriter::open(t.path(), 150);
        w.write(Stream::Stdout, b"one\ntw");
        assert_eq!(text(f.read_new()), ["one", "tw"]);
        assert!(f.read_new().is_empty());
        // Past 150 bytes (at "four"): rotated; the old file's rest first.
        w.write(Stream::Stderr, b"three\n");
        w.write(Stream::Stdout, b"four\n");
        w.write(Stream::Stdout, b"five\n");
        assert!(t.path().join("ctr.log.1").exists());
        assert_eq!(text(f.read_new()), ["three", "four", "five"]);
        // A line read half written is read whole later.
        let mut raw = OpenOptions::new()
            .append(true)
            .open(log_path(t.path()))
            .unwrap();
        raw.write_all(b"2026-11-28T17:40:12.1Z stdout F si")
            .unwrap();
        assert!(f.read_new().is_empty());
        raw.write_all(b"x\n").unwrap();
        assert_eq!(text(f.read_new()), ["six"]);
    }

    #[test]
    fn follower_with_history_and_two_rotations_between_reads() {
        let t = tempfile::tempdir().unwrap();
        // Each record is 44 bytes: two to a 100-byte file.
        let mut w = LogWriter::open(t.path(), 100);
        for n in ["l1", "l2", "l3"] {
            w.write(Stream::Stdout, format!("{n}\n").as_bytes());
        }
        assert!(t.path().join("ctr.log.1").exists());
        let mut f = Follower::with_history(t.path());
        assert_eq!(text(f.read_new()), ["l1", "l2", "l3"]);
        assert!(f.read_new().is_empty());
        // l4 fills the held file; l5 l6 rotate it away, l7 rotates again.
        for n in ["l4", "l5", "l6", "l7"] {
            w.write(Stream::Stdout, format!("{n}\n").as_bytes());
        }
        assert_eq!(text(f.read_new()), ["l4", "l5", "l6", "l7"]);
        w.write(Stream::Stdout, b"l8\n");
        assert_eq!(text(f.read_new()), ["l8"]);
        assert_eq!(read_all(t.path()).len(), 4, "l5 to l8 are left");
    }

    #[test]
    fn follower_counts_files_lost_to_three_rotations_between_reads() {
        let t = tempfile::tempdir().unwrap();
        // Each record is 44 bytes: two to a 100-byte file.
        let mut w = LogWriter::open(t.path(), 100);
        let mut f = Follower::new(t.path());
        w.write(Stream::Stdout, b"l1\n");
        assert_eq!(text(f.read_new()), ["l1"]);
        // Held: l1 l2. Then [l3 l4] and [l5 l6] rotated away (the first
        // deleted by the second rotation after it), [l7 l8] is ctr.log.1,
        // l9 the current file.
        for n in ["l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"] {
            w.write(Stream::Stdout, format!("{n}\n").as_bytes());
        }
        assert_eq!(text(f.read_new()), ["l2", "l7", "l8", "l9"]);
        assert_eq!(f.lost_files(), 2, "[l3 l4] and [l5 l6] were lost");
        w.write(Stream::Stdout, b"l10\n");
        assert_eq!(text(f.read_new()), ["l10"]);
        assert_eq!(f.lost_files(), 2);
        // Two rotations between reads lose nothing.
        for n in ["l11", "l12", "l13", "l14"] {
            w.write(Stream::Stdout, format!("{n}\n").as_bytes());
        }
        assert_eq!(text(f.read_new()), ["l11", "l12", "l13", "l14"]);
        assert_eq!(f.lost_files(), 2);
    }

    #[test]
    fn write_parse_rotate() {
        let t = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(t.path(), 200);
        w.write(Stream::Stdout, b"one\ntwo\nthr");
        w.write(Stream::Stderr, b"err\n");
        let lines = read_all(t.path());
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].text, b"one");
        assert!(!lines[0].partial && lines[2].partial);
        assert_eq!(lines[3].stream, Stream::Stderr);
        for _ in 0..10 {
            w.write(
                Stream::Stdout,
                b"0123456789012345678901234567890123456789\n",
            );
        }
        assert!(log_path(t.path()).with_extension("log.1").exists());
        assert!(fs::metadata(log_path(t.path())).unwrap().len() <= 200);
        assert!(parse_line(b"garbage").is_none());
    }
}
