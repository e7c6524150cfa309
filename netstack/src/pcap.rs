//! A pcap (libpcap classic format, Ethernet link type) writer for every
//! frame crossing the TAP.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const SNAPLEN: u32 = 262_144;

/// Appends frames to a pcap file. Stops writing after the first error.
pub struct Pcap {
    out: Option<BufWriter<File>>,
}

impl Pcap {
    /// Creates `path` and writes the global header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_ne_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_ne_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_ne_bytes());
        hdr[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
        hdr[20..24].copy_from_slice(&1u32.to_ne_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&hdr)?;
        Ok(Self { out: Some(out) })
    }

    /// Records one frame, timestamped now.
    pub fn frame(&mut self, frame: &[u8]) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let incl = frame.len().min(SNAPLEN as usize);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(ts.as_secs() as u32).to_ne_bytes());
        rec[4..8].copy_from_slice(&ts.subsec_micros().to_ne_bytes());
        rec[8..12].copy_from_slice(&(incl as u32).to_ne_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        if out
            .write_all(&rec)
            .and_then(|_| out.write_all(&frame[..incl]))
            .is_err()
        {
            self.out = None;
        }
    }

    /// Flushes buffered records.
    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if out.flush().is_err() {
                self.out = None;
            }
        }
    }
}
