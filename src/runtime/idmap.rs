//! podman's `--uidmap`/`--gidmap`: a container's own id map, nested in the
//! namespace rless maps by default.
//!
//! Theory of operation: rootless podman reads `CONTAINER:FROM:COUNT` with
//! FROM counted in the user's namespace (0 the user, 1..=N the subordinate
//! range), because the container's namespace is a child of that one. rless
//! does the same: the monitor enters the default namespace as for any
//! container ([`super::ids::enter`]); the init is cloned into a user
//! namespace of its own besides its other namespaces (so they all belong to
//! it), and the monitor, root in the parent, writes the map as given to
//! `/proc/PID/uid_map` and `gid_map` (no newuidmap: the parent's root may
//! map any of its ids) and then lets the init go on ([`write_maps`]).
//!
//! The init keeps the user's host ids until then: they are not mapped in
//! its namespace, but they still open the user's own directories (a store
//! under a home of mode 0700). It opens the container's directory, the
//! store's volumes directory and the secrets' copies there, then becomes
//! root of its namespace ([`become_root`]) and reaches them through those
//! descriptors (`/proc/self/fd/N/…`, [`Nested::rebase`]), as the
//! container's root cannot walk the user's private directories (podman
//! asks for them to be searchable instead). Before the clone, the monitor
//! gives a new volume, the generated `/etc` files and the secrets' copies
//! to the container's ids ([`give_files`]): a file the user owns is beyond
//! that root's chown.
//!
//! The layers stay in the default layout, where image id N is the parent
//! namespace's N; fuse-overlay's server runs in the monitor, in that
//! namespace, and answers the kernel with those ids, which the kernel reads
//! in the container's namespace: every file the map covers shows the owner
//! the image gives it, and a file the container makes as its id N is
//! stored as N, the layout of the layers (kernel overlayfs, mounted inside,
//! would show them through the map, shifted, so the root is fuse-overlay).

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// The most lines a `uid_map` takes (Linux 4.15 and later).
pub const MAX_RANGES: usize = 340;

/// One map: (container id, id in the parent namespace, count) triples.
pub type Map = Vec<[u32; 3]>;

/// A container's uid and gid maps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdMaps {
    pub uids: Map,
    pub gids: Map,
}

#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    #[error(
        "invalid {flag} {value:?}: use CONTAINER_ID:FROM_ID:AMOUNT (numbers, AMOUNT at least 1)"
    )]
    Syntax { flag: &'static str, value: String },
    #[error("invalid {flag}: container ids {first} and {second} overlap")]
    OverlapInside {
        flag: &'static str,
        first: String,
        second: String,
    },
    #[error("invalid {flag}: {first} and {second} map the same ids of yours")]
    OverlapOutside {
        flag: &'static str,
        first: String,
        second: String,
    },
    #[error("invalid {flag} {value}: ids {from} to {last} are not yours: 0 is you, 1 to {max} your subordinate ids")]
    OutOfRange {
        flag: &'static str,
        value: String,
        from: u32,
        last: u64,
        max: u32,
    },
    #[error("{flag} needs a subordinate id range, and rless runs in single-id mode here (rless info says why): only 0, yourself, can be mapped, as 0:0:1")]
    Single { flag: &'static str, value: String },
    #[error(
        "invalid {flag}: container id 0 must be mapped (the container's setup runs as its root)"
    )]
    NoRoot { flag: &'static str },
    #[error("invalid {flag}: {count} ranges, the kernel takes at most {MAX_RANGES}")]
    TooMany { flag: &'static str, count: usize },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("cannot give {} to the container's ids: {source}", path.display())]
    Give { path: PathBuf, source: io::Error },
    #[error("cannot {op}: {source}")]
    Sys { op: &'static str, source: io::Error },
}

/// Parses and checks `--uidmap` and `--gidmap` values against the ids the
/// parent namespace has (`parent_max`: its highest id, `None` for real
/// root, where any host id is allowed). Without `--gidmap` the gid map is
/// the uid map, as podman's; `None` when neither is given.
pub fn parse<'a>(
    uidmap: &'a [String],
    gidmap: &'a [String],
    parent_max: Option<(u32, u32)>,
) -> Result<Option<IdMaps>, IdMapError> {
    if uidmap.is_empty() && gidmap.is_empty() {
        return Ok(None);
    }
    // Either alone stands for both, as podman's (checked against the
    // other range too, and named as given).
    let pick = |own: &'static str, given: &'a [String], other: &'static str, alt: &'a [String]| {
        if given.is_empty() {
            (other, alt)
        } else {
            (own, given)
        }
    };
    let (uflag, uvals) = pick("--uidmap", uidmap, "--gidmap", gidmap);
    let (gflag, gvals) = pick("--gidmap", gidmap, "--uidmap", uidmap);
    let (umax, gmax) = parent_max.unzip();
    let uids = parse_one(uflag, uvals, umax)?;
    let gids = parse_one(gflag, gvals, gmax)?;
    Ok(Some(IdMaps { uids, gids }))
}

fn parse_one(flag: &'static str, values: &[String], max: Option<u32>) -> Result<Map, IdMapError> {
    let mut map: Map = Vec::new();
    for value in values {
        // podman takes several triples in one value, joined by commas.
        for one in value.split(',') {
            let bad = || IdMapError::Syntax {
                flag,
                value: one.to_string(),
            };
            let nums: Vec<u32> = one
                .split(':')
                .map(|n| n.parse::<u32>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            let [inside, from, count] = nums[..] else {
                return Err(bad());
            };
            if count == 0
                || u64::from(inside) + u64::from(count) > u64::from(u32::MAX)
                || u64::from(from) + u64::from(count) > u64::from(u32::MAX)
            {
                return Err(bad());
            }
            let last = u64::from(from) + u64::from(count) - 1;
            match max {
                Some(0) if last > 0 => {
                    return Err(IdMapError::Single {
                        flag,
                        value: one.to_string(),
                    })
                }
                Some(m) if last > u64::from(m) => {
                    return Err(IdMapError::OutOfRange {
                        flag,
                        value: one.to_string(),
                        from,
                        last,
                        max: m,
                    })
                }
                _ => {}
            }
            map.push([inside, from, count]);
        }
    }
    if map.len() > MAX_RANGES {
        return Err(IdMapError::TooMany {
            flag,
            count: map.len(),
        });
    }
    let show = |r: &[u32; 3]| format!("{}:{}:{}", r[0], r[1], r[2]);
    for (i, a) in map.iter().enumerate() {
        for b in &map[..i] {
            let overlap = |x: u32, y: u32| {
                u64::from(x) < u64::from(y) + u64::from(b[2])
                    && u64::from(y) < u64::from(x) + u64::from(a[2])
            };
            if overlap(a[0], b[0]) {
                return Err(IdMapError::OverlapInside {
                    flag,
                    first: show(b),
                    second: show(a),
                });
            }
            if overlap(a[1], b[1]) {
                return Err(IdMapError::OverlapOutside {
                    flag,
                    first: show(b),
                    second: show(a),
                });
            }
        }
    }
    if !map.iter().any(|r| r[0] == 0) {
        return Err(IdMapError::NoRoot { flag });
    }
    Ok(map)
}

/// The highest uid and gid of the namespace the monitor runs in (0 alone
/// in single-id mode; `None` as real root).
pub fn parent_max(mode: &crate::userns::IdMode) -> Option<(u32, u32)> {
    match mode {
        crate::userns::IdMode::SubUid { uids, gids, .. } => Some((uids.count, gids.count)),
        crate::userns::IdMode::Single { .. } => Some((0, 0)),
        crate::userns::IdMode::Root => None,
    }
}

/// podman's `HostConfig.IDMappings` strings: `CONTAINER:FROM:COUNT`.
pub fn shown(map: &Map) -> Vec<String> {
    map.iter()
        .map(|r| format!("{}:{}:{}", r[0], r[1], r[2]))
        .collect()
}

/// Monitor side, right after the clone: writes the init's maps, then
/// releases it (`go`); on failure the init reads nothing and gives up.
pub fn write_maps(pid: i32, maps: &IdMaps, go: OwnedFd) -> Result<(), IdMapError> {
    let text = |m: &Map| {
        m.iter()
            .map(|r| format!("{} {} {}\n", r[0], r[1], r[2]))
            .collect::<String>()
    };
    for (file, map) in [("uid_map", &maps.uids), ("gid_map", &maps.gids)] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text(map)).map_err(|source| IdMapError::Write { path, source })?;
    }
    let mut go = std::fs::File::from(go);
    go.write_all(b"1").map_err(|source| IdMapError::Sys {
        op: "release the container's init",
        source,
    })
}

/// The parent namespace's id for container id `id` under `map`.
fn outside(map: &Map, id: u32) -> Option<u32> {
    map.iter()
        .find(|r| id >= r[0] && id - r[0] < r[2])
        .map(|r| r[1] + (id - r[0]))
}

/// Monitor side, before the clone, what the container's root could not
/// do itself with files still the user's (unmapped in its namespace): an
/// empty volume still the user's (a new one, as far as anything can tell)
/// is given to the container's root, as podman gives a new volume, so
/// that root can fill and write it; the files rless generates in the
/// container's directory `dir` (`/etc/hosts`, `/etc/hostname`,
/// `/etc/resolv.conf`, passwd entries…) still the user's go to that root
/// too, as podman's (else they show as nobody's and root cannot edit
/// them); a secret's copy is given to the secret's owner, whose ids the
/// init then sets again as it always does.
pub fn give_files(
    maps: &IdMaps,
    plan: &[super::plan::MountOp],
    dir: &Path,
) -> Result<(), IdMapError> {
    use super::plan::MountOp;
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::getuid().as_raw();
    for op in plan {
        let (path, ids) = match op {
            MountOp::Volume { source, .. } => (source, (0, 0)),
            MountOp::Bind { source, .. } if source.parent() == Some(dir) => (source, (0, 0)),
            MountOp::Secret {
                source, uid, gid, ..
            } => (source, (*uid, *gid)),
            _ => continue,
        };
        let fail = |source: io::Error| IdMapError::Give {
            path: path.clone(),
            source,
        };
        let (Some(uid), Some(gid)) = (outside(&maps.uids, ids.0), outside(&maps.gids, ids.1))
        else {
            return Err(fail(io::Error::other(format!(
                "the map has no id for {}:{}",
                ids.0, ids.1
            ))));
        };
        match op {
            MountOp::Volume { .. } => {
                let meta = std::fs::metadata(path).map_err(fail)?;
                let empty = std::fs::read_dir(path).map_err(fail)?.next().is_none();
                if !empty || meta.uid() != me {
                    continue;
                }
            }
            MountOp::Bind { .. } => {
                // Given once; what that root did with it since stays.
                let meta = std::fs::symlink_metadata(path).map_err(fail)?;
                if !meta.is_file() || meta.uid() != me {
                    continue;
                }
            }
            _ => {}
        }
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(fail)?;
    }
    Ok(())
}

/// Init side of a container with its own map: where the store's files
/// (the container's directory, volumes) are reached from once it is root
/// of its namespace.
pub struct Nested {
    /// The container's directory and the store's volumes directory (both
    /// searchable by others, unlike the store itself may be) and the
    /// secrets' copies (in a private directory), each opened while the init
    /// had the user's ids, with its host path.
    dirs: Vec<(PathBuf, OwnedFd)>,
}

impl Nested {
    /// Waits for the monitor's maps (`mapped`), opens `dirs` (directories
    /// or files; those that exist) and becomes root of the namespace.
    pub fn enter(mapped: OwnedFd, dirs: &[&Path]) -> Result<Nested, IdMapError> {
        let mut b = [0u8; 1];
        let mut mapped = std::fs::File::from(mapped);
        if !matches!(mapped.read(&mut b), Ok(1)) {
            return Err(IdMapError::Sys {
                op: "map the container's ids",
                source: io::Error::other("the monitor could not write the maps"),
            });
        }
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC;
        let dirs = dirs
            .iter()
            .filter_map(|d| {
                let fd = rustix::fs::open(*d, flags, rustix::fs::Mode::empty()).ok()?;
                Some((d.to_path_buf(), fd))
            })
            .collect();
        become_root()?;
        Ok(Nested { dirs })
    }

    /// `path` under one of the open directories as a path through it; any
    /// other path as it is.
    pub fn rebase(&self, path: &Path) -> PathBuf {
        for (host, fd) in &self.dirs {
            if let Ok(rest) = path.strip_prefix(host) {
                let through = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                // A file itself: no trailing slash.
                return match rest.as_os_str().is_empty() {
                    true => through,
                    false => through.join(rest),
                };
            }
        }
        path.to_path_buf()
    }

    /// `text` (an error of the set-up) with each path through an open
    /// directory named by its host path again: the user knows no
    /// `/proc/self/fd/N`.
    pub fn unrebase(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (host, fd) in &self.dirs {
            let through = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let mut done = String::new();
            let mut rest = out.as_str();
            while let Some(at) = rest.find(&through) {
                let after = &rest[at + through.len()..];
                done.push_str(&rest[..at]);
                // `/proc/self/fd/3` is no prefix of `/proc/self/fd/31`.
                match after.starts_with(|c: char| c.is_ascii_digit()) {
                    true => done.push_str(&through),
                    false => done.push_str(&host.to_string_lossy()),
                }
                rest = after;
            }
            done.push_str(rest);
            out = done;
        }
        out
    }

    /// `spec` with every path the init reaches under the store (its
    /// root's mount point, the generated files, volumes, secrets)
    /// [`Self::rebase`]d.
    pub fn rebase_spec(&self, spec: &super::ContainerSpec) -> super::ContainerSpec {
        use super::plan::MountOp;
        let mut out = spec.clone();
        out.merged = self.rebase(&spec.merged);
        for op in &mut out.plan {
            if let MountOp::Bind { source, .. }
            | MountOp::Volume { source, .. }
            | MountOp::Secret { source, .. } = op
            {
                *source = self.rebase(source);
            }
        }
        out
    }
}

/// Makes a process that joined a container's own user namespace with the
/// user's ids (unmapped there) root of it: without a mapped id it cannot
/// even look at the container's files (FUSE refuses such callers).
pub fn become_root() -> Result<(), IdMapError> {
    let sys = |op| {
        move |e: rustix::io::Errno| IdMapError::Sys {
            op,
            source: e.into(),
        }
    };
    // Single-id mode denies setgroups in every namespace below its own:
    // the groups stay (unmapped there, they grant nothing new).
    match rustix::thread::set_thread_groups(&[]) {
        Ok(()) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(sys("drop the supplementary groups")(e)),
    }
    let zero_g = rustix::process::Gid::ROOT;
    let zero_u = rustix::process::Uid::ROOT;
    rustix::thread::set_thread_res_gid(zero_g, zero_g, zero_g)
        .map_err(sys("become the container's root group"))?;
    rustix::thread::set_thread_res_uid(zero_u, zero_u, zero_u)
        .map_err(sys("become the container's root"))?;
    // The id change made the process undumpable, which would keep the
    // user from its /proc files (`exec` opens the init's namespaces).
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::Dumpable)
        .map_err(sys("stay dumpable"))
}

/// Whether this process's uid is unmapped in its user namespace: the
/// kernel shows such an id as the overflow id (a map that gives the user
/// that very id counts too, and [`become_root`] does no harm there).
pub fn unmapped() -> bool {
    let overflow = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65534u32);
    rustix::process::getuid().as_raw() == overflow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_and_defaults() {
        let m = parse(&s(&["0:1:65536"]), &[], Some((65536, 65536)))
            .unwrap()
            .unwrap();
        assert_eq!(m.uids, vec![[0, 1, 65536]]);
        assert_eq!(m.gids, m.uids, "--uidmap alone: the same gid map");
        let m = parse(&s(&["0:1:10,10:0:1"]), &s(&["0:0:1"]), Some((100, 100)))
            .unwrap()
            .unwrap();
        assert_eq!(m.uids, vec![[0, 1, 10], [10, 0, 1]]);
        assert_eq!(m.gids, vec![[0, 0, 1]]);
        assert_eq!(parse(&[], &[], Some((1, 1))).unwrap(), None);
        // Real root: host ids, any.
        parse(&s(&["0:100000:65536"]), &[], None).unwrap().unwrap();
        // Single-id mode: only 0:0:1.
        parse(&s(&["0:0:1"]), &[], Some((0, 0))).unwrap().unwrap();
    }

    #[test]
    fn unrebase_names_the_host_paths() {
        let dir = std::env::temp_dir();
        let fd =
            rustix::fs::open(&dir, rustix::fs::OFlags::PATH, rustix::fs::Mode::empty()).unwrap();
        let n = fd.as_raw_fd();
        let nested = Nested {
            dirs: vec![(PathBuf::from("/store/c"), fd)],
        };
        let through = nested.rebase(Path::new("/store/c/hosts"));
        assert_eq!(through, PathBuf::from(format!("/proc/self/fd/{n}/hosts")));
        let text = format!("cannot find {}: gone; {n}", through.display());
        assert_eq!(
            nested.unrebase(&text),
            format!("cannot find /store/c/hosts: gone; {n}")
        );
        let other = format!("/proc/self/fd/{n}1/x and /proc/self/fd/{n}");
        assert_eq!(
            nested.unrebase(&other),
            format!("/proc/self/fd/{n}1/x and /store/c")
        );
    }

    #[test]
    fn refuses_bad_maps() {
        let r = Some((65536, 65536));
        for bad in [
            "",
            "0:1",
            "0:1:0",
            "a:1:1",
            "0:1:1:1",
            "-1:1:1",
            "0:1:4294967295",
        ] {
            assert!(
                matches!(parse(&s(&[bad]), &[], r), Err(IdMapError::Syntax { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&s(&["0:1:65537"]), &[], r),
            Err(IdMapError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse(&s(&["0:1:10", "5:100:10"]), &[], r),
            Err(IdMapError::OverlapInside { .. })
        ));
        assert!(matches!(
            parse(&s(&["0:1:10", "100:5:10"]), &[], r),
            Err(IdMapError::OverlapOutside { .. })
        ));
        let many: Vec<String> = (0..=MAX_RANGES as u32)
            .map(|i| format!("{i}:{}:1", i + 1))
            .collect();
        assert!(matches!(
            parse(&many, &[], r),
            Err(IdMapError::TooMany { count: 341, .. })
        ));
        assert!(matches!(parse(&many[..MAX_RANGES], &[], r), Ok(Some(_))));
        assert!(matches!(
            parse(&s(&["1:1:10"]), &[], r),
            Err(IdMapError::NoRoot { .. })
        ));
        assert!(matches!(
            parse(&s(&["0:1:1"]), &[], Some((0, 0))),
            Err(IdMapError::Single { .. })
        ));
    }
}
