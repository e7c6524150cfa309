//! The compression of a whole archive that `load` reads or `import` takes
//! as a root filesystem: docker accepts a tar plain or compressed with gzip,
//! bzip2, xz or zstd, and so does rless.
//!
//! Theory of operation: the first bytes of the stream, looked at through a
//! `BufRead` without consuming them, name the format by its magic number
//! ([`Format::sniff`]); [`decoder`] wraps the stream in the matching
//! decompressor (each of them takes concatenated streams, as `pigz`,
//! `pbzip2` and `xz -T` write), or hands a plain stream on as it is.
//! Image layers from a registry know only gzip, zstd and plain tar: that
//! is [`super::layer::Compression`], not this.
//!
//! Limits: an xz block whose LZMA2 dictionary would need more than
//! [`XZ_MEMORY_LIMIT_KIB`] is refused before anything is allocated (a
//! 156-byte file could ask for 4 GiB and abort rless under `ulimit -v`);
//! `xz -9` needs 64 MiB. zstd's decoder caps its window at 128 MiB by
//! default, and bzip2 needs little.

use std::io::{self, BufRead, Read};

/// The most memory an xz block's decoder may need, in KiB (256 MiB).
pub const XZ_MEMORY_LIMIT_KIB: u32 = 256 * 1024;

/// How a whole archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Format {
    /// The format whose magic number `magic` (at least [`SNIFF_LEN`]
    /// bytes, where the stream has them) starts with; anything else is
    /// taken for a plain tar.
    pub fn sniff(magic: &[u8]) -> Format {
        const MAGIC: [(&[u8], Format); 3] = [
            (&[0x1f, 0x8b], Format::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Format::Zstd),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Format::Xz),
        ];
        if is_bzip2(magic) {
            return Format::Bzip2;
        }
        MAGIC
            .iter()
            .find(|(m, _)| magic.starts_with(m))
            .map_or(Format::Plain, |&(_, f)| f)
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "tar",
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Xz => "xz",
            Format::Bzip2 => "bzip2",
        }
    }
}

/// The bytes [`Format::sniff`] looks at.
pub const SNIFF_LEN: usize = 10;

/// Whether `m` starts a bzip2 stream: `BZh`, the block size digit, then
/// the magic of a first block or of the stream's end. `BZh` alone is
/// text, which a plain tar starts with when its first name does.
fn is_bzip2(m: &[u8]) -> bool {
    const BLOCK: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
    const END: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
    m.len() >= SNIFF_LEN
        && m.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&m[3])
        && (m[4..SNIFF_LEN] == BLOCK || m[4..SNIFF_LEN] == END)
}

/// The decompressed stream of `r` and the format it was in.
pub fn decoder<'a, R: BufRead + 'a>(mut r: R) -> io::Result<(Box<dyn Read + 'a>, Format)> {
    let f = Format::sniff(r.fill_buf()?);
    let d: Box<dyn Read + 'a> = match f {
        Format::Plain => Box::new(r),
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Format::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(
            r,
            true,
            XZ_MEMORY_LIMIT_KIB,
        )),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
    };
    Ok((d, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Every format round-trips, and is told from its first bytes.
    #[test]
    fn every_format_decompresses() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        xz.write_all(&data).unwrap();
        let cases = [
            (data.clone(), Format::Plain),
            (gz.finish().unwrap(), Format::Gzip),
            (zstd::encode_all(&data[..], 1).unwrap(), Format::Zstd),
            (xz.finish().unwrap(), Format::Xz),
            (bz.finish().unwrap(), Format::Bzip2),
        ];
        // Text that starts like bzip2 (a tar's first name) is not.
        assert_eq!(Format::sniff(b"BZh1-notes.txt\0\0\0"), Format::Plain);
        assert_eq!(Format::sniff(b"BZh9"), Format::Plain);
        for (packed, format) in cases {
            let (mut d, f) = decoder(&packed[..]).unwrap();
            assert_eq!(f, format);
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert!(out == data, "{} did not round-trip", f.name());
        }
    }

    /// An xz block asking for a 4 GiB dictionary is refused with an error
    /// before anything is allocated (it aborted rless under `ulimit -v`).
    #[test]
    fn xz_dictionary_bomb_is_refused() {
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        xz.write_all(b"a small tar would be here").unwrap();
        let mut bytes = xz.finish().unwrap();
        let plain = {
            let (mut d, _) = decoder(&bytes[..]).unwrap();
            let mut out = Vec::new();
            d.read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(plain.unwrap(), b"a small tar would be here");
        // The block header follows the 12-byte stream header: its size,
        // flags, then LZMA2 (0x21) with a 1-byte property, the dictionary
        // size; its CRC32 closes it.
        let size = (bytes[12] as usize + 1) * 4;
        assert_eq!(&bytes[14..16], &[0x21, 0x01], "one LZMA2 filter");
        bytes[16] = 40; // 4 GiB - 1
        let mut crc = flate2::Crc::new();
        crc.update(&bytes[12..12 + size - 4]);
        bytes[12 + size - 4..12 + size].copy_from_slice(&crc.sum().to_le_bytes());
        let (mut d, _) = decoder(&bytes[..]).unwrap();
        assert!(d.read_to_end(&mut Vec::new()).is_err());
    }
}
