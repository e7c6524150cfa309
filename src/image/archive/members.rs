//! Random access to the members of an uncompressed tar file.
//!
//! Image archives name their parts from JSON documents that may come last
//! (docker writes `manifest.json` after the layers), so `load` first walks
//! the tar headers once, seeking past the data, and records where each
//! member's data lies; members are then read in place with positional reads
//! (`pread`), several at once. Symlinks and hard links between members (old
//! docker archives link duplicate layers) are followed, a few hops at most,
//! and never outside the archive. A member whose data would end past the end
//! of the file marks the archive as truncated.

use super::ArchiveError;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// Links followed when resolving one member name.
const MAX_HOPS: usize = 8;

enum Member {
    Data {
        offset: u64,
        size: u64,
    },
    /// A link to another member (already made archive-relative).
    Link(String),
}

/// The members of one tar file.
pub struct Members {
    file: File,
    label: String,
    entries: HashMap<String, Member>,
}

/// `./a//b/` → `a/b`; `..` pops (never above the archive root).
pub fn normalize(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl Members {
    /// Walks the headers of the tar in `file` (`label` is for messages).
    pub fn scan(file: File, label: &str) -> Result<Members, ArchiveError> {
        let bad = |detail: String| ArchiveError::NotAnArchive {
            path: label.to_string(),
            detail,
        };
        let len = file
            .metadata()
            .map_err(|source| ArchiveError::Io {
                op: "inspect",
                path: label.into(),
                source,
            })?
            .len();
        // The tar crate's parse errors quote the header's bytes, which are
        // binary when the file is no tar at all: the message says it in
        // words instead.
        let mut last: Option<String> = None;
        let damaged = |last: &Option<String>| {
            bad(match last {
                None => {
                    "it is not a tar archive (plain, or compressed with gzip, zstd, xz or bzip2)"
                        .into()
                }
                Some(m) => format!("the tar header after member {m} is damaged"),
            })
        };
        let mut entries = HashMap::new();
        {
            let mut archive = tar::Archive::new(&file);
            let iter = archive.entries_with_seek().map_err(|_| damaged(&last))?;
            for entry in iter {
                let entry = entry.map_err(|_| damaged(&last))?;
                let name = normalize(&entry.path().map_err(|_| damaged(&last))?.to_string_lossy());
                last = Some(name.clone());
                let kind = entry.header().entry_type();
                let member = if kind.is_symlink() || kind.is_hard_link() {
                    let target = entry
                        .link_name()
                        .map_err(|_| damaged(&last))?
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let target = if kind.is_symlink() && !target.starts_with('/') {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        normalize(&format!("{dir}/{target}"))
                    } else {
                        normalize(&target)
                    };
                    Member::Link(target)
                } else if kind.is_file() || kind == tar::EntryType::Continuous {
                    let offset = entry.raw_file_position();
                    let size = entry.size();
                    if offset.saturating_add(size) > len {
                        return Err(ArchiveError::Truncated {
                            path: label.into(),
                            member: name,
                        });
                    }
                    Member::Data { offset, size }
                } else {
                    continue;
                };
                entries.insert(name, member);
            }
        }
        if entries.is_empty() {
            return Err(bad("no files in it".into()));
        }
        Ok(Members {
            file,
            label: label.into(),
            entries,
        })
    }

    /// The archive's name in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether a member exists (after following links).
    pub fn has(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    fn locate(&self, name: &str) -> Result<(u64, u64), ArchiveError> {
        let mut name = normalize(name);
        for _ in 0..MAX_HOPS {
            match self.entries.get(&name) {
                Some(Member::Data { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(t)) => name = t.clone(),
                None => break,
            }
        }
        Err(ArchiveError::Missing {
            path: self.label.clone(),
            member: name,
        })
    }

    /// The size of a member's data.
    pub fn size(&self, name: &str) -> Result<u64, ArchiveError> {
        Ok(self.locate(name)?.1)
    }

    /// A reader over one member's data.
    pub fn open(&self, name: &str) -> Result<Section<'_>, ArchiveError> {
        let (offset, size) = self.locate(name)?;
        Ok(Section {
            file: &self.file,
            pos: offset,
            end: offset + size,
        })
    }

    /// A whole member, refused if larger than `limit` bytes.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let size = self.size(name)?;
        if size > limit {
            return Err(ArchiveError::Invalid {
                path: self.label.clone(),
                what: "member",
                detail: format!("{name} is {size} bytes, more than {limit} allowed"),
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.open(name)?
            .read_to_end(&mut out)
            .map_err(|source| ArchiveError::Io {
                op: "read",
                path: format!("{}:{name}", self.label).into(),
                source,
            })?;
        Ok(out)
    }
}

/// A member's bytes, read with `pread`; several may be read at once.
pub struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside a member",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_links() {
        assert_eq!(normalize("./a//b/"), "a/b");
        assert_eq!(normalize("../../x"), "x");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "d/layer.tar", &b"abc"[..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_size(0);
        b.append_link(&mut l, "e/layer.tar", "../d/layer.tar")
            .unwrap();
        let data = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        std::fs::write(&p, &data).unwrap();
        let m = Members::scan(File::open(&p).unwrap(), "a.tar").unwrap();
        assert_eq!(m.read_small("./e/layer.tar", 10).unwrap(), b"abc");
        assert!(m.read_small("d/layer.tar", 2).is_err());
        assert!(!m.has("nope"));
        // Cut inside the data: truncated.
        std::fs::write(&p, &data[..514]).unwrap();
        assert!(matches!(
            Members::scan(File::open(&p).unwrap(), "a.tar"),
            Err(ArchiveError::Truncated { .. })
        ));
    }
}
