//! Capability names and docker's default set.
//!
//! The container's root keeps docker's default capabilities (within the
//! user namespace only: they grant nothing over the host). `--cap-add` and
//! `--cap-drop` adjust the set; `ALL` names every capability.

/// Capability names in kernel order (the index is the capability number).
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capabilities.
const DEFAULT: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?}")]
pub struct UnknownCap(pub String);

/// A set of capabilities, as a bit mask by capability number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn all() -> CapSet {
        CapSet((1u64 << NAMES.len()) - 1)
    }

    pub fn docker_default() -> CapSet {
        CapSet(
            DEFAULT
                .iter()
                .map(|n| 1u64 << number(n).expect("known"))
                .fold(0, |a, b| a | b),
        )
    }

    pub fn contains(self, cap: u32) -> bool {
        self.0 & (1u64 << cap) != 0
    }

    /// The default set adjusted by `--cap-add` and `--cap-drop` as docker
    /// applies them: drops first, then adds; but with `--cap-add ALL`,
    /// every capability but the ones dropped by name (a `--cap-drop ALL`
    /// beside it drops none, as in docker).
    pub fn adjusted(mut self, add: &[String], drop: &[String]) -> Result<CapSet, UnknownCap> {
        if add.iter().any(|a| a.eq_ignore_ascii_case("ALL")) {
            let mut all = CapSet::all();
            for d in drop {
                let mask = parse_mask(d)?;
                if !d.eq_ignore_ascii_case("ALL") {
                    all.0 &= !mask;
                }
            }
            // Names are still checked.
            for a in add {
                parse_mask(a)?;
            }
            return Ok(all);
        }
        for d in drop {
            self.0 &= !parse_mask(d)?;
        }
        for a in add {
            self.0 |= parse_mask(a)?;
        }
        Ok(self)
    }

    /// Capability numbers in the set.
    pub fn numbers(self) -> impl Iterator<Item = u32> {
        (0..NAMES.len() as u32).filter(move |&c| self.contains(c))
    }

    /// Names, `CAP_`-prefixed, for inspection.
    pub fn names(self) -> Vec<String> {
        self.numbers()
            .map(|c| format!("CAP_{}", NAMES[c as usize]))
            .collect()
    }
}

/// The highest capability number this table knows.
pub fn last_cap() -> u32 {
    NAMES.len() as u32 - 1
}

fn number(name: &str) -> Option<u32> {
    let n = name.to_ascii_uppercase();
    let n = n.strip_prefix("CAP_").unwrap_or(&n);
    NAMES.iter().position(|x| *x == n).map(|i| i as u32)
}

fn parse_mask(name: &str) -> Result<u64, UnknownCap> {
    if name.eq_ignore_ascii_case("ALL") {
        return Ok(CapSet::all().0);
    }
    number(name)
        .map(|c| 1u64 << c)
        .ok_or_else(|| UnknownCap(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_all_keeps_the_drops() {
        let d = CapSet::docker_default();
        let s = d
            .adjusted(&["ALL".into()], &["NET_RAW".into(), "cap_chown".into()])
            .unwrap();
        assert!(!s.contains(number("NET_RAW").unwrap()));
        assert!(!s.contains(number("CHOWN").unwrap()));
        assert!(s.contains(number("SYS_ADMIN").unwrap()));
        assert!(d.adjusted(&["ALL".into(), "NOPE".into()], &[]).is_err());
    }

    #[test]
    fn default_and_adjust() {
        let d = CapSet::docker_default();
        assert_eq!(d.numbers().count(), 14);
        assert!(d.contains(0) && !d.contains(21));
        let s = d
            .adjusted(&["sys_admin".into()], &["CAP_CHOWN".into()])
            .unwrap();
        assert!(s.contains(21) && !s.contains(0));
        assert_eq!(d.adjusted(&[], &["ALL".into()]).unwrap(), CapSet(0));
        assert_eq!(d.adjusted(&["ALL".into()], &[]).unwrap(), CapSet::all());
        // docker: an added ALL wins over a dropped ALL.
        assert_eq!(
            d.adjusted(&["ALL".into()], &["all".into()]).unwrap(),
            CapSet::all()
        );
        assert!(d.adjusted(&["BOGUS".into()], &[]).is_err());
        assert_eq!(number("CAP_BPF"), Some(39));
    }
}
