//! Keeping what rless writes into the store from filling its disk: a small
//! compressed archive (a zstd, xz or gzip stream of zeros) can expand to
//! many GiB, and a full disk breaks every container whose store is there.
//!
//! Theory of operation: what is written while an archive is loaded or
//! imported is, give or take the tar headers, what its decompressed stream
//! yields, so [`SpaceGuard`] watches that stream: every [`CHECK_EVERY`]
//! bytes read it asks the filesystem of the store (statvfs) how much is
//! still free, and fails the read once that is less than [`keep_free`] of
//! it. The reader that fails is the writer's source, so the writer's own
//! error path removes what it made (the spool is an unlinked file; a
//! layer's temporary blob and directory are removed by
//! [`super::layer::ingest`]), and [`SpaceGuard::refusal`] tells the caller
//! why, for the one-line message.
//!
//! [`TarEnd`] bounds a stream by the tar's own structure: it follows the
//! headers and their sizes as the bytes pass and ends the stream after
//! the end-of-archive marker (two zero blocks), so zeros after it, which
//! every tar reader ignores, are never read nor written. A header it
//! cannot follow (bad checksum, an old GNU sparse file, an oversized PAX
//! record) ends the following, not the stream: the rest passes as it is.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// How many bytes pass between two looks at the free space.
pub const CHECK_EVERY: u64 = 1 << 20;

/// Why a [`SpaceGuard`] stopped a stream.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store's filesystem ({path}) is nearly full: {free_mib} MiB free, less than the {keep_mib} MiB rless leaves free; stopped before the disk fills")]
pub struct NoSpace {
    pub path: PathBuf,
    pub free_mib: u64,
    pub keep_mib: u64,
}

/// What rless leaves free on a filesystem of `total` bytes: a twentieth
/// of it, at least 4 MiB and at most 256 MiB, plus room for the bytes that
/// pass before the next look (twice: `import` of an xz tar writes both
/// the decompressed blob and the extracted files).
pub fn keep_free(total: u64) -> u64 {
    (total / 20).clamp(4 << 20, 256 << 20) + 2 * CHECK_EVERY
}

/// A reader that fails once the filesystem of `dir` is nearly full.
pub struct SpaceGuard<R> {
    inner: R,
    dir: PathBuf,
    /// Bytes read since the last look; starts full, so the first read looks.
    since: u64,
    refused: Option<NoSpace>,
}

impl<R: Read> SpaceGuard<R> {
    pub fn new(inner: R, dir: &Path) -> SpaceGuard<R> {
        SpaceGuard {
            inner,
            dir: dir.to_path_buf(),
            since: CHECK_EVERY,
            refused: None,
        }
    }

    /// Why the stream was stopped, if it was.
    pub fn refusal(&self) -> Option<&NoSpace> {
        self.refused.as_ref()
    }

    fn look(&mut self) -> io::Result<()> {
        // A filesystem that cannot say is not refused on that account.
        let Ok(st) = rustix::fs::statvfs(&self.dir) else {
            return Ok(());
        };
        // Nor one that reports no size at all (ramfs, some FUSE and
        // network filesystems say 0 blocks): it has no "nearly full".
        if st.f_blocks == 0 {
            return Ok(());
        }
        let free = st.f_bavail.saturating_mul(st.f_frsize);
        let keep = keep_free(st.f_blocks.saturating_mul(st.f_frsize));
        if free >= keep {
            return Ok(());
        }
        let e = NoSpace {
            path: self.dir.clone(),
            free_mib: free >> 20,
            keep_mib: keep >> 20,
        };
        self.refused = Some(e.clone());
        Err(io::Error::new(io::ErrorKind::StorageFull, e))
    }
}

impl<R: Read> Read for SpaceGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A signal stops the work here too ([`crate::interrupt`]).
        crate::interrupt::check()?;
        if let Some(e) = &self.refused {
            return Err(io::Error::new(io::ErrorKind::StorageFull, e.clone()));
        }
        if self.since >= CHECK_EVERY {
            self.look()?;
            self.since = 0;
        }
        let want = buf.len().min((CHECK_EVERY - self.since) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.since += n as u64;
        Ok(n)
    }
}

const BLOCK: usize = 512;
/// The largest PAX record block whose `size=` is followed.
const MAX_PAX: u64 = 64 << 10;

/// Where [`TarEnd`] is in the archive.
enum At {
    /// In a header block, `.0` bytes of it seen.
    Header(usize),
    /// In a member's data and padding, `.0` bytes to go.
    Data(u64),
    /// In a PAX record block (kept in `pax`), `.0` bytes of data and then
    /// `.1` of padding to go.
    Pax(u64, u64),
    /// After the end-of-archive marker.
    End,
    /// Lost the structure: everything passes.
    Passing,
}

/// A tar stream cut after its end-of-archive marker.
pub struct TarEnd<R> {
    inner: R,
    at: At,
    block: [u8; BLOCK],
    zero_blocks: u8,
    pax: Vec<u8>,
    /// A `size=` from the PAX block for the next member.
    next_size: Option<u64>,
}

impl<R: Read> TarEnd<R> {
    pub fn new(inner: R) -> TarEnd<R> {
        TarEnd {
            inner,
            at: At::Header(0),
            block: [0; BLOCK],
            zero_blocks: 0,
            pax: Vec::new(),
            next_size: None,
        }
    }

    /// The header in `block` is complete: what comes after it.
    fn header_done(&mut self) -> At {
        if self.block.iter().all(|&b| b == 0) {
            self.zero_blocks += 1;
            return if self.zero_blocks == 2 {
                At::End
            } else {
                At::Header(0)
            };
        }
        self.zero_blocks = 0;
        if !checksum_ok(&self.block) {
            return At::Passing;
        }
        let Some(field) = parse_size(&self.block[124..136]) else {
            return At::Passing;
        };
        let size = self.next_size.take().unwrap_or(field);
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        match self.block[156] {
            // An old GNU sparse file: extension blocks may follow.
            b'S' => At::Passing,
            b'x' if size <= MAX_PAX => {
                self.pax.clear();
                if size == 0 {
                    At::Header(0)
                } else {
                    At::Pax(size, padded - size)
                }
            }
            b'x' => At::Passing,
            _ if padded == 0 => At::Header(0),
            _ => At::Data(padded),
        }
    }
}

impl<R: Read> Read for TarEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.at {
            At::End => return Ok(0),
            At::Passing => return self.inner.read(buf),
            At::Header(seen) => BLOCK - seen,
            At::Data(left) => left.min(usize::MAX as u64) as usize,
            At::Pax(data, pad) => {
                if data > 0 {
                    data as usize
                } else {
                    pad as usize
                }
            }
        };
        let want = want.min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Ok(0);
        }
        self.at = match self.at {
            At::Header(seen) => {
                self.block[seen..seen + n].copy_from_slice(&buf[..n]);
                if seen + n == BLOCK {
                    self.header_done()
                } else {
                    At::Header(seen + n)
                }
            }
            At::Data(left) if left == n as u64 => At::Header(0),
            At::Data(left) => At::Data(left - n as u64),
            At::Pax(data, pad) if data > 0 => {
                self.pax.extend_from_slice(&buf[..n]);
                let data = data - n as u64;
                if data == 0 {
                    self.next_size = pax_size(&self.pax);
                }
                if data == 0 && pad == 0 {
                    At::Header(0)
                } else {
                    At::Pax(data, pad)
                }
            }
            At::Pax(_, pad) if pad == n as u64 => At::Header(0),
            At::Pax(_, pad) => At::Pax(0, pad - n as u64),
            At::End | At::Passing => unreachable!("returned above"),
        };
        Ok(n)
    }
}

/// Whether a header's checksum (bytes 148..156, octal) is the sum of its
/// bytes with that field taken as spaces (unsigned, as POSIX says, or
/// signed, as some old tars wrote it).
fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

/// A size field: octal digits (space or NUL padded), or GNU's base-256
/// (high bit of the first byte set).
fn parse_size(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        if f[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut v: u64 = u64::from(f[0] & 0x3f);
        for &b in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    parse_octal(f)
}

fn parse_octal(f: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(f).ok()?;
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

/// The `size` a PAX record block gives (`LEN size=N\n` records).
fn pax_size(mut data: &[u8]) -> Option<u64> {
    let mut size = None;
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > data.len() {
            return None;
        }
        let record = &data[sp + 1..len];
        if let Some(v) = record.strip_prefix(b"size=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            size = Some(std::str::from_utf8(v).ok()?.parse().ok()?);
        }
        data = &data[len..];
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, Vec<u8>)], pax_for_first: bool) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (i, (name, data)) in entries.iter().enumerate() {
            if i == 0 && pax_for_first {
                b.append_pax_extensions([("comment", &b"a long note"[..])])
                    .unwrap();
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn through(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // Odd read sizes cross every boundary.
        let mut r = TarEnd::new(data);
        let mut buf = [0u8; 333];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// The archive passes whole, and the zeros after it do not.
    #[test]
    fn cut_after_the_end_of_archive() {
        for pax in [false, true] {
            let tar = tar_of(
                &[
                    ("a", vec![7u8; 1000]),
                    ("zeros", vec![0u8; 5000]),
                    ("empty", vec![]),
                ],
                pax,
            );
            let mut padded = tar.clone();
            padded.extend(std::iter::repeat_n(0u8, 1 << 20));
            let out = through(&padded);
            assert!(out.len() <= tar.len(), "{} > {}", out.len(), tar.len());
            let mut a = tar::Archive::new(&out[..]);
            let names: Vec<String> = a
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            assert_eq!(names, ["a", "zeros", "empty"]);
        }
        // A stream of zeros alone is an empty archive.
        assert_eq!(through(&[0u8; 1 << 16]).len(), 2 * BLOCK);
    }

    /// A PAX size is followed; what cannot be followed passes whole.
    #[test]
    fn pax_sizes_and_lost_structure() {
        assert_eq!(pax_size(b"19 size=1000000000\n"), Some(1_000_000_000));
        assert_eq!(
            pax_size(b"12 path=abc\n14 size=12345\n"),
            Some(12345),
            "among other records"
        );
        assert_eq!(pax_size(b"9 path=x\n"), None);
        let junk: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 | 1).collect();
        let mut data = junk.clone();
        data.extend_from_slice(&[0u8; 4096]);
        assert_eq!(through(&data), data, "no tar: everything passes");
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        assert_eq!(
            parse_size(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
            Some(256)
        );
    }

    /// A guard on a directory passes when there is room (the test's
    /// filesystem is not nearly full) and counts its looks.
    #[test]
    fn guard_passes_with_room() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![1u8; 3 * CHECK_EVERY as usize + 5];
        let mut g = SpaceGuard::new(&data[..], dir.path());
        let mut out = Vec::new();
        if g.read_to_end(&mut out).is_ok() {
            assert_eq!(out, data);
            assert!(g.refusal().is_none());
        }
        assert_eq!(keep_free(0), (4 << 20) + 2 * CHECK_EVERY);
        assert_eq!(keep_free(1 << 40), (256 << 20) + 2 * CHECK_EVERY);
    }
}
