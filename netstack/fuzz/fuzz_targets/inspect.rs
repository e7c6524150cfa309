//! Frames from the TAP are untrusted (the container controls them):
//! `wire::inspect` must classify any byte string without panicking, and
//! whatever it reports must be consistent with the frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netstack::wire::{inspect, Inspect};

fuzz_target!(|frame: &[u8]| {
    match inspect(frame) {
        // Ethernet (14) + IPv4 (20) + at least a UDP/ICMP header (8).
        Inspect::TcpSyn { .. } => assert!(frame.len() >= 14 + 20 + 20),
        Inspect::Udp { .. } | Inspect::IcmpEcho { .. } => assert!(frame.len() >= 14 + 20 + 8),
        Inspect::Other => {}
    }
});
