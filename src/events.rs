//! The event log that `rless events` reads: what happened to containers,
//! images, volumes and networks, in podman's event format.
//!
//! Theory of operation: with no daemon to broadcast events, every process
//! that changes something appends one JSON line to `STORE/events.log`
//! (podman's file logger does the same). A line is written with one
//! `write(2)` on an `O_APPEND` descriptor, and is kept under `PIPE_BUF`
//! (long label values are cut), so lines of concurrent writers never mix.
//! Recording is best effort: an event that cannot be written is dropped
//! silently, never failing the command that caused it.
//!
//! A process keeps the log open once it wrote to it (per thread, see
//! [`record`]): a command that records several events (`run --rm`:
//! create, start, died, remove) opens it once. Before each append the
//! log's path is looked up (one `statx`) and compared with the open file
//! (its device and inode, noted when it was opened): a log deleted or
//! replaced meanwhile is opened afresh, and one that is full is rotated as
//! below, so a long-lived writer (a monitor) never writes into a generation
//! readers no longer read. A link count would not do: on NFS a deleted
//! file still open keeps a link under its `.nfsXXXX` name.
//!
//! When the file passes [`ROTATE_AT`] bytes, the writer that notices moves
//! it to `events.log.1` (replacing the older generation), so the log stays
//! under about twice that size. Readers read `events.log.1` then
//! `events.log`; a follower ([`Follower`]) keeps its open file across a
//! rotation, finishes it, and moves on to the new one.
//!
//! Container events come from where the change happens: `create` and
//! `remove` from the container store, `start` and `died` from the state
//! writer when the recorded status changes (so restarts by the policy and
//! a monitor found dead are seen too), the rest from the commands.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The size past which the log is rotated.
pub const ROTATE_AT: u64 = 1 << 20;

/// The most one line may take (Linux's `PIPE_BUF`: one append is atomic).
const MAX_LINE: usize = 4096;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
    Pod,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Volume => "volume",
            Kind::Network => "network",
            Kind::Pod => "pod",
        }
    }
}

/// One event, as podman's `events --format json` prints it (plus
/// `timeNano`, docker's field, which readers sort and filter by).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "Image", default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Status")]
    pub status: String,
    /// RFC 3339 with nanoseconds, UTC.
    #[serde(rename = "Time")]
    pub time: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "ContainerExitCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exit_code: Option<i32>,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

impl Event {
    /// An event of `kind` happening now.
    pub fn now(kind: Kind, status: &str) -> Event {
        let t = jiff::Timestamp::now();
        Event {
            status: status.to_string(),
            kind: kind.as_str().to_string(),
            time: t.strftime("%Y-%m-%dT%H:%M:%S.%NZ").to_string(),
            time_nano: i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX),
            ..Default::default()
        }
    }

    /// The event's line in the log (without the newline), cut to fit one
    /// atomic append: attribute values are shortened, longest first.
    fn line(&self) -> String {
        let mut ev = self.clone();
        loop {
            let text = serde_json::to_string(&ev).unwrap_or_default();
            if text.len() < MAX_LINE {
                return text;
            }
            let longest = ev
                .attributes
                .as_mut()
                .and_then(|a| a.values_mut().max_by_key(|v| v.len()))
                .filter(|v| v.len() > 16);
            match longest {
                Some(v) => {
                    let mut keep = v.len() / 2;
                    while !v.is_char_boundary(keep) {
                        keep -= 1;
                    }
                    v.truncate(keep);
                    v.push('…');
                }
                None => {
                    ev.attributes = None;
                    ev.name.truncate(256);
                    ev.image.truncate(256);
                }
            }
        }
    }
}

/// The log of the store at `root`.
pub fn log_path(root: &Path) -> PathBuf {
    root.join("events.log")
}

fn rotated_path(root: &Path) -> PathBuf {
    root.join("events.log.1")
}

/// Opens the log of the store at `root` for appending.
fn open_log(path: &Path) -> Option<File> {
    #[cfg(test)]
    OPENS.set(OPENS.get() + 1);
    fs::File::options()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .ok()
}

#[cfg(test)]
thread_local! {
    /// How many times this thread opened a log (for the tests).
    static OPENS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

thread_local! {
    /// The log this thread last appended to, kept open.
    static OPEN_LOG: std::cell::RefCell<Option<OpenLog>> =
        const { std::cell::RefCell::new(None) };
}

/// A log kept open: its path, the file, and the file's (device, inode).
struct OpenLog {
    path: PathBuf,
    file: File,
    id: (u64, u64),
}

impl OpenLog {
    /// Opens (or makes) the log at `path`; also returns its size.
    fn open(path: &Path) -> Option<(OpenLog, u64)> {
        let file = open_log(path)?;
        let m = file.metadata().ok()?;
        let log = OpenLog {
            path: path.to_path_buf(),
            file,
            id: (m.dev(), m.ino()),
        };
        Some((log, m.len()))
    }
}

/// Lets go of the log this thread keeps open without closing it: for a
/// process about to close every descriptor it inherited
/// ([`crate::runtime::close_fds_except`]), after which the number may name
/// another file.
pub fn disown_open_log() {
    if let Some(log) = OPEN_LOG.take() {
        let _ = std::os::fd::IntoRawFd::into_raw_fd(log.file);
    }
}

/// Appends `ev` to the log of the store at `root` (best effort), through
/// the log this thread has open when it is that store's.
pub fn record(root: &Path, ev: &Event) {
    let path = log_path(root);
    let kept = OPEN_LOG.take().filter(|l| l.path == path);
    if let Some(log) = append(root, kept, ev) {
        OPEN_LOG.set(Some(log));
    }
}

/// Appends `ev` through `kept`, the log opened earlier if any (it may
/// have been rotated, replaced or deleted since); returns the log appended
/// to. One `statx` of the path when the kept file is still the log.
fn append(root: &Path, kept: Option<OpenLog>, ev: &Event) -> Option<OpenLog> {
    let path = log_path(root);
    // Nothing kept (a process's first event): open and fstat, no statx.
    let at_path = kept.as_ref().and_then(|_| fs::metadata(&path).ok());
    let (mut log, len) = match (kept, at_path) {
        (Some(l), Some(m)) if l.id == (m.dev(), m.ino()) => (l, m.len()),
        // None kept, or no reader would see what is written there any
        // more (the store removed and made again, another writer's
        // rotation).
        _ => OpenLog::open(&path)?,
    };
    if len >= ROTATE_AT {
        // Another writer may have noticed the same full file: the file's
        // lock makes the rotations one at a time, and only the one that
        // finds the full file still at the log's path moves it (a second
        // rename would move the fresh log over the generation just kept).
        if log.file.lock().is_ok() {
            if same_file(&log.file, &path) {
                let _ = fs::rename(&path, rotated_path(root));
            }
            let _ = log.file.unlock();
        }
        log = OpenLog::open(&path)?.0;
    }
    let mut line = ev.line();
    line.push('\n');
    let _ = log.file.write_all(line.as_bytes());
    Some(log)
}

/// Whether `path` names the file `f` has open.
fn same_file(f: &File, path: &Path) -> bool {
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Records a container event; `dir` is the container's directory
/// (`STORE/containers/ID`), whose `config.json` names it. `extra`
/// attributes come after the image, name and labels.
pub fn container(dir: &Path, status: &str, extra: &[(&str, String)]) {
    if let Some(config) = crate::container::read_config(dir) {
        container_after(dir, &config, status, extra);
    }
}

/// [`container`] with the configuration read before (a `--rm` container's
/// directory may be gone once it stopped).
pub fn container_after(
    dir: &Path,
    config: &crate::container::ContainerConfig,
    status: &str,
    extra: &[(&str, String)],
) {
    // containers/<id> -> the store root.
    if let Some(root) = dir.parent().and_then(Path::parent) {
        container_of(root, config, status, extra);
    }
}

/// [`container`] for a configuration in hand (the directory may be gone).
pub fn container_of(
    root: &Path,
    config: &crate::container::ContainerConfig,
    status: &str,
    extra: &[(&str, String)],
) {
    let mut ev = Event::now(Kind::Container, status);
    ev.id = config.id.as_str().to_string();
    ev.name = config.name.clone();
    ev.image = config.image_name.clone();
    let mut attrs = config.labels.clone();
    attrs.insert("image".into(), config.image_name.clone());
    attrs.insert("name".into(), config.name.clone());
    for (k, v) in extra {
        attrs.insert((*k).to_string(), v.clone());
    }
    if status == "died" {
        ev.exit_code = attrs.get("containerExitCode").and_then(|c| c.parse().ok());
    }
    ev.attributes = Some(attrs);
    record(root, &ev);
}

/// Records an image event: `id` the image id (hex, may be empty for a
/// failed pull), `name` the reference it was used by.
pub fn image(root: &Path, status: &str, id: &str, name: &str) {
    let mut ev = Event::now(Kind::Image, status);
    ev.id = id.trim_start_matches("sha256:").to_string();
    ev.name = name.to_string();
    record(root, &ev);
}

/// Each image of `index` by id (hex), with its names.
pub fn names_of(index: &crate::image::store::Index) -> Vec<(String, Vec<String>)> {
    index
        .images
        .iter()
        .map(|i| (i.id.hex().to_string(), i.names.clone()))
        .collect()
}

/// The image events of a change of the index from `before` to `after`
/// (ids with their names): `untag` for each name an image lost, `tag` for
/// each name an image that was there gained (a new image's names are the
/// command's own event: pull, load, build…), and `remove` for an image
/// gone, after its untags, as podman orders them.
pub fn image_changes(
    before: &[(String, Vec<String>)],
    after: &[(String, Vec<String>)],
) -> Vec<(&'static str, String, String)> {
    let find = |list: &[(String, Vec<String>)], id: &str| -> Option<Vec<String>> {
        list.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone())
    };
    let mut out = Vec::new();
    for (id, names) in before {
        let now = find(after, id);
        let kept = now.clone().unwrap_or_default();
        for n in names.iter().filter(|n| !kept.contains(n)) {
            out.push(("untag", id.clone(), n.clone()));
        }
        if now.is_none() {
            let name = names.first().cloned().unwrap_or_default();
            out.push(("remove", id.clone(), name));
        }
    }
    for (id, names) in after {
        if let Some(had) = find(before, id) {
            for n in names.iter().filter(|n| !had.contains(n)) {
                out.push(("tag", id.clone(), n.clone()));
            }
        }
    }
    out
}

/// Records a volume or network event, by name.
pub fn named(root: &Path, kind: Kind, status: &str, name: &str) {
    let mut ev = Event::now(kind, status);
    ev.name = name.to_string();
    record(root, &ev);
}

/// Every event in the log, oldest first (unreadable lines are skipped).
///
/// The log is opened before its older generation: a rotation between the
/// two opens then makes both the same file (read once), where opening the
/// older first would have missed the generation rotated meanwhile.
pub fn read_all(root: &Path) -> Vec<Event> {
    let current = File::open(log_path(root)).ok();
    let older = File::open(rotated_path(root))
        .ok()
        .filter(|o| !current.as_ref().is_some_and(|c| same_open_file(o, c)));
    let mut out = Vec::new();
    for mut f in [older, current].into_iter().flatten() {
        let mut text = String::new();
        if f.read_to_string(&mut text).is_ok() {
            out.extend(parse_lines(&text));
        }
    }
    out
}

/// Whether `a` and `b` are open on the same file.
fn same_open_file(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn parse_lines(text: &str) -> impl Iterator<Item = Event> + '_ {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Event>(l).ok())
}

/// Reads events as they are appended, from the log's end when made.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    /// A line read only in part (its writer is between no two writes, but
    /// a read may land between a rotation and the next append).
    partial: String,
}

impl Follower {
    /// Follows the log of the store at `root`, from its current end.
    pub fn new(root: &Path) -> Follower {
        let path = log_path(root);
        let mut f = Follower {
            path,
            file: None,
            ino: 0,
            partial: String::new(),
        };
        f.open(true);
        f
    }

    fn open(&mut self, at_end: bool) {
        if let Ok(mut file) = File::open(&self.path) {
            if at_end {
                let _ = file.seek(SeekFrom::End(0));
            }
            self.ino = file.metadata().map_or(0, |m| m.ino());
            self.file = Some(file);
        }
    }

    /// The events appended since the last call.
    pub fn poll(&mut self) -> Vec<Event> {
        let mut text = std::mem::take(&mut self.partial);
        if let Some(f) = self.file.as_mut() {
            let _ = f.read_to_string(&mut text);
        }
        let now_ino = fs::metadata(&self.path).map_or(0, |m| m.ino());
        if self.file.is_none() || now_ino != self.ino {
            // Rotated (or made): what the old file had is read above, and
            // once more now, for a line a writer that opened it before the
            // rotation appended since; the new one is read from its start.
            if let Some(f) = self.file.as_mut() {
                let _ = f.read_to_string(&mut text);
            }
            self.file = None;
            self.open(false);
            if let Some(f) = self.file.as_mut() {
                let _ = f.read_to_string(&mut text);
            }
        }
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        self.partial = text[complete..].to_string();
        parse_lines(&text[..complete]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_one_append_and_read_back() {
        let t = tempfile::tempdir().unwrap();
        let mut ev = Event::now(Kind::Container, "create");
        ev.id = "a".repeat(64);
        let mut attrs = BTreeMap::new();
        attrs.insert("big".to_string(), "é".repeat(5000));
        attrs.insert("name".to_string(), "c1".to_string());
        ev.attributes = Some(attrs);
        assert!(ev.line().len() < MAX_LINE);
        record(t.path(), &ev);
        let back = read_all(t.path());
        assert_eq!(back.len(), 1);
        let a = back[0].attributes.as_ref().unwrap();
        assert_eq!(a["name"], "c1");
        assert!(a["big"].ends_with('…') && a["big"].len() < 4096);
        assert_eq!(back[0].time_nano, ev.time_nano);
    }

    #[test]
    fn follower_sees_appends_across_a_rotation() {
        let t = tempfile::tempdir().unwrap();
        record(t.path(), &Event::now(Kind::Image, "pull"));
        let mut f = Follower::new(t.path());
        assert!(f.poll().is_empty(), "starts at the end");
        record(t.path(), &Event::now(Kind::Image, "tag"));
        // A rotation between two polls: the old file's tail is still read.
        fs::rename(log_path(t.path()), rotated_path(t.path())).unwrap();
        record(t.path(), &Event::now(Kind::Image, "untag"));
        let got: Vec<String> = f.poll().into_iter().map(|e| e.status).collect();
        assert_eq!(got, ["tag", "untag"]);
        let all: Vec<String> = read_all(t.path()).into_iter().map(|e| e.status).collect();
        assert_eq!(all, ["pull", "tag", "untag"]);
    }

    #[test]
    fn index_changes_give_podmans_image_events() {
        let v = |l: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
            l.iter()
                .map(|(i, n)| (i.to_string(), n.iter().map(|s| s.to_string()).collect()))
                .collect()
        };
        let before = v(&[("a", &["x:1", "y:1"]), ("b", &["z:1"])]);
        // x:1 moved from a to new image c (a pull), y:1 removed with a,
        // b tagged w:1.
        let after = v(&[("b", &["z:1", "w:1"]), ("c", &["x:1"])]);
        let got = image_changes(&before, &after);
        let want = [
            ("untag", "a", "x:1"),
            ("untag", "a", "y:1"),
            ("remove", "a", "x:1"),
            ("tag", "b", "w:1"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1.as_str(), g.2.as_str()), w);
        }
        assert!(image_changes(&after, &after).is_empty());
    }

    #[test]
    fn a_writer_that_found_the_log_full_after_a_rotation_does_not_rotate_again() {
        let t = tempfile::tempdir().unwrap();
        let one = Event::now(Kind::Volume, "create").line();
        let lines = ROTATE_AT as usize / (one.len() + 1) + 1;
        fs::write(log_path(t.path()), format!("{one}\n").repeat(lines)).unwrap();
        // This writer opens the full log, then another rotates it first: a
        // second rotation would move the fresh log over the generation
        // the first kept, and its events with it.
        let late = OpenLog::open(&log_path(t.path())).unwrap().0;
        record(t.path(), &Event::now(Kind::Volume, "remove"));
        append(t.path(), Some(late), &Event::now(Kind::Volume, "remove"));
        assert_eq!(read_all(t.path()).len(), lines + 2);
        assert_eq!(
            fs::metadata(rotated_path(t.path())).unwrap().len(),
            (lines * (one.len() + 1)) as u64
        );
    }

    #[test]
    fn a_rotation_while_the_log_is_read_shows_no_event_twice() {
        // What a reader finds when a rotation falls between its opening
        // of the log and of the older generation: one file at both names.
        let t = tempfile::tempdir().unwrap();
        record(t.path(), &Event::now(Kind::Image, "pull"));
        fs::hard_link(log_path(t.path()), rotated_path(t.path())).unwrap();
        assert_eq!(read_all(t.path()).len(), 1);
    }

    #[test]
    fn a_thread_opens_the_log_once_and_again_once_it_is_deleted() {
        let t = tempfile::tempdir().unwrap();
        let opens = OPENS.get();
        for status in ["create", "start", "died"] {
            record(t.path(), &Event::now(Kind::Container, status));
        }
        assert_eq!(OPENS.get() - opens, 1, "one open for three events");
        // Deleted with a live writer: the next event goes to a new log.
        fs::remove_file(log_path(t.path())).unwrap();
        record(t.path(), &Event::now(Kind::Container, "remove"));
        let all: Vec<String> = read_all(t.path()).into_iter().map(|e| e.status).collect();
        assert_eq!(all, ["remove"]);
        // Another store's log is its own file.
        let u = tempfile::tempdir().unwrap();
        record(u.path(), &Event::now(Kind::Volume, "create"));
        record(t.path(), &Event::now(Kind::Volume, "remove"));
        assert_eq!(read_all(u.path()).len(), 1);
        assert_eq!(read_all(t.path()).len(), 2);
    }

    #[test]
    fn a_log_unlinked_or_replaced_under_a_writer_is_opened_afresh() {
        // On NFS a deleted file still open lives on as `.nfsXXXX`: its
        // link count stays 1. A hard link plays that part here.
        let t = tempfile::tempdir().unwrap();
        let path = log_path(t.path());
        record(t.path(), &Event::now(Kind::Container, "create"));
        fs::hard_link(&path, t.path().join(".nfs0000000000000001")).unwrap();
        fs::remove_file(&path).unwrap();
        record(t.path(), &Event::now(Kind::Container, "start"));
        let all: Vec<String> = read_all(t.path()).into_iter().map(|e| e.status).collect();
        assert_eq!(all, ["start"]);
        // Replaced by a rename over it.
        let fresh = t.path().join("fresh");
        fs::write(&fresh, "").unwrap();
        fs::rename(&fresh, &path).unwrap();
        record(t.path(), &Event::now(Kind::Container, "died"));
        let all: Vec<String> = read_all(t.path()).into_iter().map(|e| e.status).collect();
        assert_eq!(all, ["died"]);
    }

    #[test]
    fn a_full_log_is_rotated() {
        let t = tempfile::tempdir().unwrap();
        fs::write(log_path(t.path()), vec![b'\n'; ROTATE_AT as usize]).unwrap();
        record(t.path(), &Event::now(Kind::Volume, "create"));
        assert_eq!(
            fs::metadata(rotated_path(t.path())).unwrap().len(),
            ROTATE_AT
        );
        assert_eq!(read_all(t.path()).len(), 1);
    }
}
