//! POSIX ACL xattr values between the layers and the kernel.
//!
//! # Theory of operation
//!
//! The kernel enforces ACLs (FUSE_POSIX_ACL) from the
//! `system.posix_acl_access` and `system.posix_acl_default` values the
//! server hands it, and parses their user and group ids in the mount's
//! user namespace. Two things stand between a layer's value and that:
//!
//! - the mount's own id mapping (`uidmapping`/`gidmapping`): ids named in
//!   a value are mapped like owners, on disk to shown when read and back
//!   when written;
//! - ids nobody in the namespace has: the server reads the value in its
//!   user namespace, where the kernel writes such ids as -1, which the
//!   kernel then refuses to parse (EINVAL for every non-owner's access).
//!   No process in the namespace can be such a user or in such a group,
//!   so their entries are left out: the permission checks come out the
//!   same (the mask entry stays).
//!
//! A value is a 4-byte version (2) and 8-byte entries: tag (u16), perms
//! (u16), id (u32), little-endian. Values not of that form pass unchanged;
//! the kernel judges them.

use crate::IdMap;

/// Names of the two ACL xattrs.
pub const ACCESS: &str = "system.posix_acl_access";
pub const DEFAULT: &str = "system.posix_acl_default";

const VERSION: u32 = 2;
const TAG_USER: u16 = 2;
const TAG_GROUP: u16 = 8;
/// The id the kernel writes for one the reader's namespace does not map.
const UNMAPPED: u32 = u32::MAX;

/// Whether `name` is one of the ACL xattrs.
pub fn is_acl(name: &[u8]) -> bool {
    name == ACCESS.as_bytes() || name == DEFAULT.as_bytes()
}

/// Rewrites the ids of a well-formed value with `uid` and `gid` and
/// leaves out entries whose id comes out [`UNMAPPED`] (see the module
/// notes); anything else is returned as it is.
fn map_ids(value: &[u8], uid: impl Fn(u32) -> u32, gid: impl Fn(u32) -> u32) -> Vec<u8> {
    let well_formed = value.len() >= 4
        && (value.len() - 4).is_multiple_of(8)
        && value[..4] == VERSION.to_le_bytes();
    if !well_formed {
        return value.to_vec();
    }
    let mut out = value[..4].to_vec();
    for e in value[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        let id = match tag {
            TAG_USER if id != UNMAPPED => uid(id),
            TAG_GROUP if id != UNMAPPED => gid(id),
            _ => id,
        };
        if matches!(tag, TAG_USER | TAG_GROUP) && id == UNMAPPED {
            continue;
        }
        out.extend_from_slice(&e[..4]);
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// An id through `map` (`to_inside` or `to_outside`); [`UNMAPPED`] for one
/// no range maps, rather than the overflow id, which would name a real
/// user.
fn through(m: &IdMap, map: fn(&IdMap, u32) -> u32, id: u32) -> u32 {
    match map(m, id) {
        IdMap::OVERFLOW if !m.0.is_empty() => UNMAPPED,
        i => i,
    }
}

/// A value read from a layer, as the kernel should see it.
pub fn shown(value: &[u8], uids: &IdMap, gids: &IdMap) -> Vec<u8> {
    map_ids(
        value,
        |u| through(uids, IdMap::to_inside, u),
        |g| through(gids, IdMap::to_inside, g),
    )
}

/// A value set through the mount, as the layer should store it; entries
/// for ids the mapping cannot store are left out.
pub fn stored(value: &[u8], uids: &IdMap, gids: &IdMap) -> Vec<u8> {
    map_ids(
        value,
        |u| through(uids, IdMap::to_outside, u),
        |g| through(gids, IdMap::to_outside, g),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdRange;

    fn value(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = VERSION.to_le_bytes().to_vec();
        for (t, p, id) in entries {
            v.extend(t.to_le_bytes());
            v.extend(p.to_le_bytes());
            v.extend(id.to_le_bytes());
        }
        v
    }

    #[test]
    fn ids_are_mapped_and_unmapped_entries_dropped() {
        let m = IdMap(vec![IdRange {
            inside: 0,
            outside: 100_000,
            count: 65536,
        }]);
        let on_disk = value(&[
            (1, 6, UNMAPPED),
            (TAG_USER, 4, 101_000),
            (TAG_USER, 4, 5),
            (TAG_GROUP, 4, UNMAPPED),
            (4, 4, UNMAPPED),
            (0x10, 4, UNMAPPED),
            (0x20, 0, UNMAPPED),
        ]);
        let want = value(&[
            (1, 6, UNMAPPED),
            (TAG_USER, 4, 1000),
            (4, 4, UNMAPPED),
            (0x10, 4, UNMAPPED),
            (0x20, 0, UNMAPPED),
        ]);
        assert_eq!(shown(&on_disk, &m, &m), want);
        let set = value(&[
            (1, 6, UNMAPPED),
            (TAG_GROUP, 4, 1000),
            (TAG_USER, 4, 70_000),
        ]);
        assert_eq!(
            stored(&set, &m, &m),
            value(&[(1, 6, UNMAPPED), (TAG_GROUP, 4, 101_000)]),
            "an id the mapping cannot store is left out, not stored as 65534"
        );
        // No mapping: only the ids nobody has go.
        let none = IdMap::default();
        assert_eq!(
            shown(&on_disk, &none, &none),
            value(&[
                (1, 6, UNMAPPED),
                (TAG_USER, 4, 101_000),
                (TAG_USER, 4, 5),
                (4, 4, UNMAPPED),
                (0x10, 4, UNMAPPED),
                (0x20, 0, UNMAPPED),
            ])
        );
        // Not an ACL value: unchanged.
        assert_eq!(shown(b"xyz", &m, &m), b"xyz");
    }
}
