//! The smoltcp [`Device`] over the non-blocking TAP fd.
//!
//! Reception is split in two so the stack can look at frames before
//! smoltcp does: [`TapDevice::read_frame`] reads one frame into a buffer
//! from a pool, the stack inspects it and either [`TapDevice::enqueue`]s it
//! for smoltcp or keeps it (a held SYN). smoltcp's `receive` pops queued
//! frames and returns their buffers to the pool. Transmission writes
//! straight from one reused buffer. Frames are captured to pcap on both
//! paths when enabled.
//!
//! **Checksum offload.** When the TAP carries virtio-net headers (it does
//! when made by [`crate::tap::create`]), the stack enables `TUN_F_CSUM` and
//! never computes or verifies TCP/UDP checksums: received frames may carry
//! partial checksums (we do not verify them; the kernel is the only
//! source), and every TCP/UDP frame we send is marked `NEEDS_CSUM` with only
//! the pseudo-header sum filled in, which the container's kernel accepts as
//! valid for local delivery. Captured frames therefore show checksums that
//! tools flag as wrong. Without virtio-net headers, smoltcp computes
//! checksums in software.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use smoltcp::phy::{Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::pcap::Pcap;
use crate::sys;

const ETH_HDR: usize = 14;
/// Frames kept in the pool before extra buffers are dropped.
const POOL_MAX: usize = 128;

/// One received frame in a pooled buffer.
pub struct Frame {
    buf: Box<[u8]>,
    off: usize,
    len: usize,
}

impl Frame {
    /// The frame's bytes (without the virtio-net header).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.off..self.len]
    }
}

/// Size of `struct virtio_net_hdr`.
const VNET_HDR: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

/// TAP-backed smoltcp device.
pub struct TapDevice {
    fd: OwnedFd,
    frame_size: usize,
    /// Bytes of virtio-net header before each frame (0 or 10).
    vnet: usize,
    pool: Vec<Box<[u8]>>,
    rx: VecDeque<Frame>,
    tx: Vec<u8>,
    pcap: Option<Pcap>,
    /// Frames dropped because the TAP write failed.
    pub tx_dropped: u64,
}

impl TapDevice {
    /// Wraps a non-blocking TAP fd with the given IP MTU.
    pub fn new(fd: OwnedFd, mtu: usize, pcap: Option<Pcap>) -> Self {
        let vnet = match sys::tap_has_vnet_hdr(fd.as_fd()) {
            Ok(true) if sys::tap_set_offload(fd.as_fd(), libc::TUN_F_CSUM).is_ok() => VNET_HDR,
            _ => 0,
        };
        let frame_size = mtu + ETH_HDR + vnet;
        Self {
            fd,
            frame_size,
            vnet,
            pool: Vec::new(),
            rx: VecDeque::new(),
            tx: vec![0; frame_size],
            pcap,
            tx_dropped: 0,
        }
    }

    /// The TAP fd (for epoll registration).
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn buffer(&mut self) -> Box<[u8]> {
        self.pool
            .pop()
            .unwrap_or_else(|| vec![0u8; self.frame_size].into_boxed_slice())
    }

    /// Returns a frame's buffer to the pool.
    pub fn recycle(&mut self, frame: Frame) {
        if self.pool.len() < POOL_MAX && frame.buf.len() == self.frame_size {
            self.pool.push(frame.buf);
        }
    }

    /// Reads one frame; `Ok(None)` when the TAP has nothing more (EAGAIN).
    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut buf = self.buffer();
        match sys::read(self.fd.as_fd(), &mut buf) {
            Ok(0) => {
                self.pool.push(buf);
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "TAP closed"))
            }
            Ok(len) if len <= self.vnet => {
                self.pool.push(buf);
                Ok(Some(Frame {
                    buf: Box::new([]),
                    off: 0,
                    len: 0,
                }))
            }
            Ok(len) => {
                if let Some(p) = self.pcap.as_mut() {
                    p.frame(&buf[self.vnet..len]);
                }
                Ok(Some(Frame {
                    buf,
                    off: self.vnet,
                    len,
                }))
            }
            Err(e) => {
                self.pool.push(buf);
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e),
                }
            }
        }
    }

    /// Copies `bytes` (a frame held back earlier) into a pooled frame.
    pub fn frame_from(&mut self, bytes: &[u8]) -> Frame {
        let mut buf = self.buffer();
        let off = self.vnet;
        let len = bytes.len().min(buf.len() - off);
        buf[off..off + len].copy_from_slice(&bytes[..len]);
        Frame {
            buf,
            off,
            len: off + len,
        }
    }

    /// Queues a frame for smoltcp.
    pub fn enqueue(&mut self, frame: Frame) {
        self.rx.push_back(frame);
    }

    /// Queues a frame for smoltcp ahead of everything else.
    pub fn enqueue_front(&mut self, frame: Frame) {
        self.rx.push_front(frame);
    }

    /// Writes one frame of `len` bytes filled in by `fill` (checksums
    /// complete: no offload requested). Counted in `tx_dropped` on failure.
    pub fn send_frame(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        let total = self.vnet + len;
        if self.tx.len() < total {
            self.tx.resize(total, 0);
        }
        let (hdr, frame) = self.tx[..total].split_at_mut(self.vnet);
        hdr.fill(0);
        fill(frame);
        if let Some(p) = self.pcap.as_mut() {
            p.frame(frame);
        }
        if sys::write(self.fd.as_fd(), &self.tx[..total]).is_err() {
            self.tx_dropped += 1;
        }
    }

    /// Flushes the pcap file, if any.
    pub fn flush_pcap(&mut self) {
        if let Some(p) = self.pcap.as_mut() {
            p.flush();
        }
    }
}

/// Receive token: owns the frame, gives its buffer back to the pool.
pub struct Rx<'a> {
    frame: Option<Frame>,
    pool: &'a mut Vec<Box<[u8]>>,
}

impl smoltcp::phy::RxToken for Rx<'_> {
    fn consume<R, F>(mut self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let frame = self.frame.take().expect("frame present until consumed");
        let r = f(frame.bytes());
        if self.pool.len() < POOL_MAX && !frame.buf.is_empty() {
            self.pool.push(frame.buf);
        }
        r
    }
}

impl Drop for Rx<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.frame.take() {
            if self.pool.len() < POOL_MAX && !f.buf.is_empty() {
                self.pool.push(f.buf);
            }
        }
    }
}

/// Transmit token: fills the shared tx buffer and writes it to the TAP.
pub struct Tx<'a> {
    fd: &'a OwnedFd,
    vnet: usize,
    buf: &'a mut Vec<u8>,
    pcap: &'a mut Option<Pcap>,
    dropped: &'a mut u64,
}

impl smoltcp::phy::TxToken for Tx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let total = self.vnet + len;
        if self.buf.len() < total {
            self.buf.resize(total, 0);
        }
        let (hdr, frame) = self.buf[..total].split_at_mut(self.vnet);
        let r = f(frame);
        if let Some(p) = self.pcap.as_mut() {
            p.frame(frame);
        }
        if !hdr.is_empty() {
            offload_checksum(hdr, frame);
        }
        match sys::write(self.fd.as_fd(), &self.buf[..total]) {
            Ok(_) => {}
            Err(_) => *self.dropped += 1,
        }
        r
    }
}

impl Device for TapDevice {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            Rx {
                frame: Some(frame),
                pool: &mut self.pool,
            },
            Tx {
                fd: &self.fd,
                vnet: self.vnet,
                buf: &mut self.tx,
                pcap: &mut self.pcap,
                dropped: &mut self.tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            fd: &self.fd,
            vnet: self.vnet,
            buf: &mut self.tx,
            pcap: &mut self.pcap,
            dropped: &mut self.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.frame_size;
        // Frames come from the local kernel: never verify. Compute TCP/UDP
        // checksums only when the kernel cannot finish them for us.
        let l4 = if self.vnet > 0 {
            Checksum::None
        } else {
            Checksum::Tx
        };
        let mut sum = ChecksumCapabilities::default();
        sum.ipv4 = Checksum::Tx;
        sum.tcp = l4;
        sum.udp = l4;
        sum.icmpv4 = Checksum::Tx;
        caps.checksum = sum;
        caps
    }
}

/// Fills the virtio-net header for `frame`: for TCP/UDP over IPv4, store the
/// pseudo-header sum in the checksum field and ask the kernel to finish it.
fn offload_checksum(hdr: &mut [u8], frame: &mut [u8]) {
    hdr.fill(0);
    if frame.len() < ETH_HDR + 20 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ip = &frame[ETH_HDR..];
    let ihl = ((ip[0] & 0x0f) as usize) * 4;
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let csum_off = match ip[9] {
        6 => 16,
        17 => 6,
        _ => return,
    };
    if ihl < 20 || total < ihl + csum_off + 2 || total > ip.len() {
        return;
    }
    let l4_len = (total - ihl) as u32;
    let mut sum: u32 = 0;
    for w in ip[12..20].chunks_exact(2) {
        sum += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    sum += ip[9] as u32 + l4_len;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let at = ETH_HDR + ihl + csum_off;
    frame[at..at + 2].copy_from_slice(&(sum as u16).to_be_bytes());
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[6..8].copy_from_slice(&((ETH_HDR + ihl) as u16).to_le_bytes());
    hdr[8..10].copy_from_slice(&(csum_off as u16).to_le_bytes());
}
