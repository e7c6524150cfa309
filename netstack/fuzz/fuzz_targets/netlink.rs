//! Netlink replies and resolv.conf text are parsed defensively: any input
//! gives an error or a value, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&seq, rest)) = data.split_first() {
        let _ = netstack::netlink::parse_reply(rest, u32::from(seq));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for addr in netstack::parse_resolv_conf(text) {
            assert_eq!(addr.port(), 53);
        }
    }
});
