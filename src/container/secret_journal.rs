//! The journal of a `kube play`'s changes to the secret store, so that a
//! play killed before it finished (SIGKILL, a crash, a power cut) does not
//! lose the secrets its Secrets replaced.
//!
//! Theory of operation: a play that stores Secrets first makes its journal,
//! `STORE/secrets/.play-PID-START/` (its process id and start time: the
//! dot keeps it out of [`super::secret::list`]). Before it stores a Secret
//! named N it writes `N/new`, the digest of the bytes it is about to
//! store (a line more each time it stores N again: a file may have two
//! Secrets of one name), and, before it first replaces an existing secret, `N/old.json` and
//! `N/old` (that secret's metadata and bytes): each file under a temporary
//! name, flushed, then renamed, so only whole files show. A play that ends
//! well removes its journal ([`Journal::commit`]); one that fails puts the
//! store back ([`Journal::roll_back`]). A journal whose play is gone (its
//! process no longer runs) is rolled back by the next command that takes
//! the secrets lock ([`super::secret::lock`]: `secret create|rm`, `kube
//! play|down`), or that reads the store (`secret ls|inspect|exists`, `run
//! --secret`, through [`settle`]).
//!
//! Rolling back N: a secret named N whose bytes are still ones the
//! play stored (a digest in `N/new`) gets its old metadata and bytes
//! back (same id), or goes when the play made it; one changed since (a
//! `secret create --replace` between the play's store and its death) is
//! left as it is, as is one the play never got to store.

use super::secret::{self, io_err, SecretError, SecretMeta};
use crate::image::digest::Digest;
use crate::image::store::{remove_tree, tmp_name};
use std::fs;
use std::path::{Path, PathBuf};

/// The journal names' start.
const PREFIX: &str = ".play-";

/// Writes `bytes` to `dir/name` whole: a temporary file, flushed, renamed.
fn write_whole(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SecretError> {
    let tmp = dir.join(tmp_name(name));
    secret::write_private(&tmp, bytes)?;
    let at = dir.join(name);
    fs::rename(&tmp, &at).map_err(io_err("write", &at))
}

/// This process's journal (see the module's comment).
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Makes this process's journal. The caller holds the secrets lock.
    pub fn begin(root: &Path) -> Result<Journal, SecretError> {
        let pid = std::process::id() as i32;
        let start = super::state::process_start(pid).unwrap_or(0);
        let secrets = secret::secrets_dir(root);
        fs::create_dir_all(&secrets).map_err(io_err("create", &secrets))?;
        let dir = secrets.join(format!("{PREFIX}{pid}-{start}"));
        // A journal of an earlier process with this pid and start time
        // cannot be: one left by this very process is empty or rolled back.
        let _ = remove_tree(&dir);
        fs::create_dir(&dir).map_err(io_err("create", &dir))?;
        Ok(Journal { dir })
    }

    /// Notes that the secret named `name` gets `bytes`, replacing `old`
    /// (its metadata and bytes; none: it is new). Called before the
    /// store changes.
    pub fn note(
        &self,
        name: &str,
        bytes: &[u8],
        old: Option<(&SecretMeta, &[u8])>,
    ) -> Result<(), SecretError> {
        let entry = self.dir.join(name);
        fs::create_dir_all(&entry).map_err(io_err("create", &entry))?;
        // A name the play stored before (a file with two Secrets of that
        // name): what it replaced first is what goes back, and the bytes
        // of every store are the play's.
        let stored = match fs::read_to_string(entry.join("new")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err("read", &entry.join("new"))(e)),
        };
        if let (true, Some((meta, data))) = (stored.is_empty(), old) {
            let text = serde_json::to_vec(meta).map_err(|source| SecretError::Record {
                path: entry.join("old.json"),
                source,
            })?;
            write_whole(&entry, "old", data)?;
            write_whole(&entry, "old.json", &text)?;
        }
        let digest = Digest::of(bytes);
        write_whole(
            &entry,
            "new",
            format!("{stored}{}\n", digest.as_str()).as_bytes(),
        )
    }

    /// The play ended well: its changes stay, the journal goes.
    pub fn commit(self) {
        let _ = remove_tree(&self.dir);
    }

    /// The play failed: the store as it was (see the module's comment);
    /// returns what could not be put back. The caller holds the secrets
    /// lock.
    pub fn roll_back(self, root: &Path) -> Vec<SecretError> {
        roll_back_dir(root, &self.dir)
    }
}

/// Rolls back the journal `dir` and removes it (kept when some entry
/// could not be put back, for the next try); returns what failed.
fn roll_back_dir(root: &Path, dir: &Path) -> Vec<SecretError> {
    let mut failed = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if let Err(err) = roll_back_entry(root, &name, &e.path()) {
            failed.push(err);
        }
    }
    if failed.is_empty() {
        let _ = remove_tree(dir);
    }
    failed
}

/// Puts the secret named `name` back as the entry `entry` says.
fn roll_back_entry(root: &Path, name: &str, entry: &Path) -> Result<(), SecretError> {
    let Ok(new) = fs::read_to_string(entry.join("new")) else {
        // Stopped before the store changed.
        return Ok(());
    };
    let Some(now) = secret::list(root).into_iter().find(|s| s.name == name) else {
        return Ok(());
    };
    let bytes = secret::data(root, &now)?;
    let digest = Digest::of(&bytes);
    if !new.lines().any(|d| d == digest.as_str()) {
        // Not stored yet, or changed since: not the play's to undo.
        return Ok(());
    }
    match fs::read(entry.join("old.json")) {
        Ok(text) => {
            let path = entry.join("old.json");
            let old: SecretMeta = serde_json::from_slice(&text)
                .map_err(|source| SecretError::Record { path, source })?;
            let p = entry.join("old");
            let data = fs::read(&p).map_err(io_err("read", &p))?;
            match old.id == now.id {
                true => secret::restore(root, &old, &data),
                // Removed and made again since: not the play's.
                false => Ok(()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => secret::remove(root, &now),
        Err(e) => Err(io_err("read", &entry.join("old.json"))(e)),
    }
}

/// The journals of plays that are gone.
fn orphans(root: &Path) -> Vec<PathBuf> {
    fs::read_dir(secret::secrets_dir(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((pid, start)) = name.strip_prefix(PREFIX).and_then(|r| r.split_once('-'))
            else {
                return false;
            };
            let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
                return false;
            };
            // 0: the play could not read its start time.
            !super::state::process_alive(Some(pid), (start != 0).then_some(start))
        })
        .map(|e| e.path())
        .collect()
}

/// Rolls back the journals of plays that are gone (best effort: one that
/// cannot be is tried again next time). The caller holds the secrets lock.
pub fn recover(root: &Path) {
    for dir in orphans(root) {
        for e in roll_back_dir(root, &dir) {
            eprintln!("rless: warning: cannot put back a secret of an interrupted kube play: {e}");
        }
    }
}

/// For a command that reads the store without the lock: when a play that
/// is gone left a journal, takes the lock (which rolls it back).
pub fn settle(root: &Path) -> Result<(), SecretError> {
    if !orphans(root).is_empty() {
        drop(secret::lock(root)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::secret::tests::tmp_root;

    /// A play's changes, as `kube play` makes them, then its journal made
    /// an orphan's (a pid that cannot run).
    fn killed_play(root: &Path) {
        let j = Journal::begin(root).unwrap();
        for (name, bytes) in [("kept", &b"new"[..]), ("fresh", b"other"), ("mine", b"x")] {
            let old = secret::list(root).into_iter().find(|s| s.name == name);
            let data = old.as_ref().map(|o| secret::data(root, o).unwrap());
            let old = old.as_ref().zip(data.as_deref());
            j.note(name, bytes, old).unwrap();
            secret::create(root, name, bytes, Default::default(), true).unwrap();
        }
        let dead = j.dir.with_file_name(format!("{PREFIX}{}-1", i32::MAX));
        fs::rename(&j.dir, &dead).unwrap();
    }

    #[test]
    fn an_orphan_journal_puts_the_store_back() {
        let root = tmp_root("journal-orphan");
        let kept = secret::create(&root, "kept", b"old", Default::default(), false).unwrap();
        killed_play(&root);
        // Changed since the play stored it: the user's, not undone.
        secret::create(&root, "mine", b"user's", Default::default(), true).unwrap();
        recover(&root);
        let names: Vec<String> = secret::list(&root).into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["kept", "mine"]);
        let now = secret::find(&root, "kept").unwrap();
        assert_eq!(secret::data(&root, &now).unwrap(), b"old");
        assert_eq!((now.id, now.updated), (kept.id, kept.updated));
        let mine = secret::find(&root, "mine").unwrap();
        assert_eq!(secret::data(&root, &mine).unwrap(), b"user's");
        assert!(orphans(&root).is_empty(), "the journal goes");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_name_stored_twice_gets_what_it_had_before_the_play() {
        let root = tmp_root("journal-twice");
        let before = secret::create(&root, "s", b"user's", Default::default(), false).unwrap();
        let j = Journal::begin(&root).unwrap();
        for bytes in [&b"first"[..], b"second"] {
            let old = secret::find(&root, "s").unwrap();
            let data = secret::data(&root, &old).unwrap();
            j.note("s", bytes, Some((&old, &data))).unwrap();
            secret::create(&root, "s", bytes, Default::default(), true).unwrap();
        }
        assert!(j.roll_back(&root).is_empty());
        let now = secret::find(&root, "s").unwrap();
        assert_eq!(secret::data(&root, &now).unwrap(), b"user's");
        assert_eq!(now.id, before.id);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_live_play_s_journal_stays() {
        let root = tmp_root("journal-live");
        let j = Journal::begin(&root).unwrap();
        j.note("a", b"new", None).unwrap();
        secret::create(&root, "a", b"new", Default::default(), false).unwrap();
        recover(&root);
        assert_eq!(secret::list(&root).len(), 1, "not rolled back");
        j.commit();
        assert_eq!(fs::read_dir(secret::secrets_dir(&root)).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&root);
    }
}
