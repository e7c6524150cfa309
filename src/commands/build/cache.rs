//! The build cache: a step an earlier build made from the same state with
//! the same inputs is taken from it instead of run again, as podman's
//! `--layers` (its default) and docker's builder do.
//!
//! Theory of operation: every stage carries a state key ([`Stage::cache`]):
//! at `FROM IMAGE` the digest of the image's id (`FROM scratch`: of the
//! platform; `FROM STAGE`: that stage's key). Each step's key is the
//! digest of the state key, the instruction as written (with its
//! heredocs' bodies, [`Instruction::key_text`]), the ARG values in
//! scope (docker's key for RUN: a build argument a RUN sees changes it;
//! the proxy arguments and `--network` are left out, as docker leaves them)
//! and, for COPY and ADD, a digest of what is sent ([`sources_digest`]):
//! the sources' names, contents, modes, symlink targets and the
//! `--chown`/`--chmod` owner and mode, but not the files' times (an ADD
//! of a URL is downloaded again at every build and so compared by its
//! content, as docker does); for `COPY --from`, the source image's id and
//! the paths. After the step the state key becomes the digest of the
//! step's key and the id of the image it left, so a step that ran again
//! (its cache image was removed) makes every later step run too, as in
//! docker, whose key is the parent image.
//!
//! An entry, `STORE/build-cache/KEY`, holds the image the step left (a
//! layer step's own image, made by `rless commit` from its container,
//! which the build then keeps instead of removing, marked as a cache image
//! by an empty file `STORE/build-cache/images/ID`) and the whole image
//! config after the step, history included, so a chain of hits gives the
//! same config, and so the same final image id, as the build that made it.
//! Metadata steps (ENV, LABEL, CMD…) are entries too, for their history
//! times. An entry is written whole under a `.tmp-` name and renamed into
//! place while the store lock is held (shared), so `image prune`, which
//! holds it exclusive, sees entries complete; it removes the cache images
//! (they are dangling) and then the entries and marks whose image is gone
//! ([`tidy`]). A hit checks under the store lock that the image is still
//! in the store and writes it in the build's record as used ([`super::record`]),
//! so a concurrent prune leaves it; an entry that cannot be read or whose
//! image is gone is a miss, never an error. `rless images` leaves out the
//! dangling images marked ([`cache_images`]) unless `-a` is given, as
//! podman hides its intermediate images; a mark stays when a later entry
//! of the same key names another image (`--no-cache`, two builds at once).

use super::context::Source;
use super::ignore::Ignore;
use super::parse::Instruction;
use super::{Build, Stage};
use anyhow::Result;
use rless::image::store::{LockMode, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot read {path} in the build context: {source}")]
    Context { path: String, source: io::Error },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The entries' directory in the store.
fn dir(root: &Path) -> PathBuf {
    root.join("build-cache")
}

/// The hex sha256 of `parts`, each length-prefixed so that no two lists
/// of parts give the same input.
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that only hashes.
#[derive(Default)]
struct Hasher(Sha256);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digest of what a COPY or ADD sends of `sources` from the context
/// (`archive`: those an ADD extracts), as [`super::context::Packer`] packs
/// them: every entry's name, type, mode (`--chmod`'s if given), owner
/// (`--chown`'s, else root), content and symlink target, without the
/// files' times, which docker leaves out of its key too; an archive by its
/// bytes, with `--chown` and `--chmod`.
pub fn sources_digest(
    sources: &[Source],
    archive: impl Fn(&Source) -> bool,
    (owner, mode): (Option<(u32, u32)>, Option<u32>),
    ignore: &Ignore,
) -> Result<String, CacheError> {
    let mut d = Digester {
        h: Hasher::default(),
        owner: owner.unwrap_or((0, 0)),
        mode,
        ignore,
    };
    for s in sources {
        if archive(s) {
            d.part(&format!("archive {owner:?} {mode:?} {}", s.rel));
            d.content(&s.path, &s.rel, None)?;
        } else if s.is_dir {
            d.part(&format!("dir {}", s.rel));
            d.dir_contents(&s.path, &s.rel, "")?;
        } else {
            d.part(&format!("file {}", s.rel));
            d.entry(&s.path, &s.rel, s.base_name())?;
        }
    }
    Ok(hex(&d.h.0.finalize()))
}

/// [`sources_digest`]'s walk, in [`super::context::Packer`]'s order, with
/// the same ignore rules.
struct Digester<'a> {
    h: Hasher,
    owner: (u32, u32),
    mode: Option<u32>,
    ignore: &'a Ignore,
}

impl Digester<'_> {
    /// A piece of text; NUL ends it (no name holds one).
    fn part(&mut self, text: &str) {
        self.h.0.update(text.as_bytes());
        self.h.0.update([0]);
    }

    /// The bytes of the file at `path` (`len`: at most these, else all),
    /// after their count.
    fn content(&mut self, path: &Path, rel: &str, len: Option<u64>) -> Result<(), CacheError> {
        let read = |source| CacheError::Context {
            path: rel.to_string(),
            source,
        };
        let f = fs::File::open(path).map_err(read)?;
        let len = match len {
            Some(l) => l,
            None => f.metadata().map_err(read)?.len(),
        };
        self.h.0.update(len.to_le_bytes());
        let copied = io::copy(&mut f.take(len), &mut self.h).map_err(read)?;
        // A file that shrank while read: zeros for the rest of the count.
        for _ in copied..len {
            self.h.0.update([0]);
        }
        Ok(())
    }

    fn dir_contents(&mut self, dir: &Path, rel: &str, name: &str) -> Result<(), CacheError> {
        let ignore = self.ignore;
        let read = |path, source| CacheError::Context { path, source };
        super::context::walk(dir, rel, name, ignore, &read, &mut |path, crel, cname| {
            self.entry(path, crel, cname)
        })
    }

    fn entry(&mut self, path: &Path, rel: &str, name: &str) -> Result<(), CacheError> {
        let read = |source| CacheError::Context {
            path: rel.to_string(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(read)?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_file() {
            'f'
        } else if ft.is_fifo() {
            'p'
        } else {
            // Sockets and device nodes are not sent.
            return Ok(());
        };
        let mode = match kind {
            'l' => 0o777,
            _ => self.mode.unwrap_or(meta.mode() & 0o7777),
        };
        let (uid, gid) = self.owner;
        self.part(&format!("{kind} {mode:o} {uid}:{gid} {name}"));
        match kind {
            'f' => self.content(path, rel, Some(meta.len()))?,
            'l' => {
                let target = fs::read_link(path).map_err(read)?;
                self.h
                    .0
                    .update(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()));
                self.h.0.update([0]);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The result of one step, as an earlier build left it.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// The image the next step starts from (`None`: a scratch stage
    /// before its first layer).
    image: Option<String>,
    /// The step made `image` (a cache image), rather than keeping its
    /// parent's.
    made: bool,
    /// The whole image config after the step.
    config: Value,
}

/// How a build uses the cache.
pub struct Cache {
    dir: PathBuf,
    /// Earlier results are taken (not with `--no-cache` or `--layers=false`).
    pub read: bool,
    /// Results are kept for later builds (not with `--layers=false`).
    pub write: bool,
}

impl Cache {
    pub fn new(root: &Path, read: bool, write: bool) -> Cache {
        Cache {
            dir: dir(root),
            read: read && write,
            write,
        }
    }

    fn get(&self, key: &str) -> Option<Entry> {
        serde_json::from_slice(&fs::read(self.dir.join(key)).ok()?).ok()
    }

    /// Writes `entry` as `key`, atomically, and the mark of the image the
    /// step made, first; `_store` proves the store lock.
    fn put(&self, _store: &Store, key: &str, entry: &Entry) -> Result<(), CacheError> {
        let marks = self.dir.join("images");
        fs::create_dir_all(&marks).map_err(io_err("create", &marks))?;
        if let (true, Some(id)) = (entry.made, &entry.image) {
            let mark = marks.join(id);
            fs::write(&mark, b"").map_err(io_err("write", &mark))?;
        }
        let tmp = self.dir.join(rless::image::store::tmp_name("build-cache"));
        let body = serde_json::to_vec(entry).expect("json");
        fs::write(&tmp, body).map_err(io_err("write", &tmp))?;
        let path = self.dir.join(key);
        fs::rename(&tmp, &path).map_err(io_err("rename into place", &path))
    }
}

/// The marks of the images steps made: `build-cache/images/ID`.
fn marks(root: &Path) -> PathBuf {
    dir(root).join("images")
}

/// The (full hex) ids of the images steps made and the cache kept, even
/// if a later entry of the same key (`--no-cache`, a concurrent build)
/// names another: `rless images` lists them only with `-a` (when
/// dangling), and `image prune` takes them.
pub fn cache_images(root: &Path) -> HashSet<String> {
    fs::read_dir(marks(root))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

/// For `image prune`, under the exclusive store lock: removes the entries
/// and marks whose image is not in `index` any more (and the entries that
/// cannot be read).
pub fn tidy(store: &Store, index: &rless::image::store::Index) {
    let have: HashSet<&str> = index.images.iter().map(|i| i.id.hex()).collect();
    for id in cache_images(store.root()) {
        if !have.contains(id.as_str()) {
            let _ = fs::remove_file(marks(store.root()).join(id));
        }
    }
    let Ok(rd) = fs::read_dir(dir(store.root())) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with('.')
            || !e.file_type().is_ok_and(|t| t.is_file())
        {
            continue;
        }
        let entry: Option<Entry> = fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let keep = entry.is_some_and(|e| e.image.is_some_and(|i| have.contains(i.as_str())));
        if !keep {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The state key a stage starts with: `FROM scratch`.
pub fn scratch_state() -> String {
    let p = rless::image::platform::Platform::host();
    key(&["scratch", &p.to_string()])
}

/// The state key a stage starts with: `FROM IMAGE`.
pub fn image_state(id: &str) -> String {
    key(&["from", id])
}

impl Build<'_> {
    /// One step after FROM, through the build cache (this module): COPY and
    /// ADD look it up themselves (their key has the sources' digest); RUN
    /// and WORKDIR before they run; a metadata step after, as its key
    /// sees the ARG it declares (a hit gives it the earlier history time).
    pub(super) fn step(
        &mut self,
        st: &mut Stage,
        ins: &Instruction,
        n: usize,
        meta: &[(String, String)],
        done: &[Stage],
    ) -> Result<()> {
        if matches!(ins.keyword.as_str(), "COPY" | "ADD") {
            return self.copy_step(st, ins, n, done);
        }
        let layer = matches!(ins.keyword.as_str(), "RUN" | "WORKDIR");
        if layer {
            // A RUN's bind mounts' files are part of its key.
            let content = if ins.keyword == "RUN" {
                self.run_inputs(st, ins, done)?
            } else {
                String::new()
            };
            let key = self.step_key(st, ins, &content);
            if self.cached(st, &key)? {
                return Ok(());
            }
            self.instruction(st, ins, n, meta)?;
            // A WORKDIR that found its directory made no layer.
            let made = st.config["history"]
                .as_array()
                .and_then(|h| h.last())
                .is_some_and(|e| e["empty_layer"] != true);
            return self.remember(st, &key, made);
        }
        self.instruction(st, ins, n, meta)?;
        let key = self.step_key(st, ins, "");
        if !self.cached(st, &key)? {
            self.remember(st, &key, false)?;
        }
        Ok(())
    }

    /// The key of step `ins` from `st`'s state; `content`: what else the
    /// step reads (a COPY's digest), else empty.
    pub(super) fn step_key(&self, st: &Stage, ins: &Instruction, content: &str) -> String {
        let args = serde_json::to_string(&st.args).expect("json");
        key(&[&st.cache, &ins.key_text(), &args, content])
    }

    /// Takes step `key`'s result from the cache, if there is one whose
    /// image is still in the store: the stage's image and config become
    /// those the step left. A metadata step's entry must start from the
    /// stage's current image.
    pub(super) fn cached(&mut self, st: &mut Stage, key: &str) -> Result<bool> {
        if !self.cache.read {
            return Ok(false);
        }
        let Some(e) = self.cache.get(key) else {
            return Ok(false);
        };
        if !e.made && e.image != st.image {
            return Ok(false);
        }
        if let Some(id) = &e.image {
            let store = super::steps::store(self.ctx, LockMode::Shared)?;
            let index = store.index()?;
            if !index.images.iter().any(|i| i.id.hex() == id) {
                return Ok(false);
            }
            // While the store lock is held: kept from a prune from now on.
            self.children.uses(id)?;
        }
        if e.made && !self.quiet {
            println!("--> Using cache {}", e.image.as_deref().unwrap_or(""));
        }
        st.image = e.image;
        st.config = e.config;
        st.cache = key_after(key, st.image.as_deref());
        Ok(true)
    }

    /// After step `key` ran: its result kept for later builds (`made`: it
    /// made the stage's current image, which then stays after the build).
    pub(super) fn remember(&mut self, st: &mut Stage, key: &str, made: bool) -> Result<()> {
        if self.cache.write {
            let store = super::steps::store(self.ctx, LockMode::Shared)?;
            let entry = Entry {
                image: st.image.clone(),
                made,
                config: st.config.clone(),
            };
            self.cache.put(&store, key, &entry)?;
            drop(store);
            if let (true, Some(id)) = (made, &st.image) {
                self.children.keep_image(id);
            }
        }
        st.cache = key_after(key, st.image.as_deref());
        Ok(())
    }
}

/// The state key after step `key` left `image`.
fn key_after(key: &str, image: Option<&str>) -> String {
    self::key(&[key, image.unwrap_or("")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unambiguous() {
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["a"]), key(&["a"]));
        assert_eq!(key(&["a"]).len(), 64);
    }
}
