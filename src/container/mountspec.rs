//! Parsing `-v`, `--mount`, `--tmpfs` and `--device` with docker's syntax
//! and docker's checks, into mount plan steps or volume requests (looked up
//! or created later by [`super::volume`]). Pure functions: no file is
//! touched except to ask whether a host path exists and what it is.

use crate::runtime::plan::MountOp;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("invalid volume specification {0:?}: expected /host/path:/container/path[:ro|rw], NAME:/container/path[:ro|rw|nocopy] or /container/path")]
    Volume(String),
    #[error("invalid volume specification {spec:?}: {why}")]
    VolumeOptions { spec: String, why: &'static str },
    #[error("invalid mount specification {spec:?}: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid tmpfs specification {0:?}: expected /container/path[:options]")]
    Tmpfs(String),
    #[error("invalid volume name {0:?}: a host path must be absolute or start with . (./DIR, ../DIR), and a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadVolumeName(String),
    #[error("bind source path does not exist: {0}")]
    MissingSource(PathBuf),
    #[error("mount destination {0:?} must be an absolute path")]
    RelativeTarget(String),
    #[error("mount destination {0:?} cannot be the root directory")]
    RootTarget(String),
    #[error("duplicate mount point: {}", .0.display())]
    Duplicate(PathBuf),
    #[error("invalid device {spec:?}: {why}")]
    Device { spec: String, why: String },
}

/// A volume to look up (or create) when the container is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRequest {
    /// `None`: a new anonymous volume.
    pub name: Option<String>,
    pub target: PathBuf,
    pub readonly: bool,
    /// Fill an empty volume from the image (off with `nocopy`).
    pub copy: bool,
}

/// One user mount as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Usable as it is: a bind whose source exists, or a tmpfs.
    Mount(MountOp),
    /// A `-v` bind whose missing host directory is created just before the
    /// container is, as docker does.
    BindToCreate(MountOp),
    Volume(VolumeRequest),
}

/// The container path `t`, cleaned as docker does (`/a/./b/../c/` is
/// `/a/c`), so that two spellings of one destination compare equal.
fn absolute_target(t: &str) -> Result<PathBuf, SpecError> {
    if !t.starts_with('/') {
        return Err(SpecError::RelativeTarget(t.to_string()));
    }
    let mut p = PathBuf::from("/");
    for c in Path::new(t).components() {
        match c {
            Component::Normal(n) => p.push(n),
            Component::ParentDir => {
                p.pop();
            }
            _ => {}
        }
    }
    if p == Path::new("/") {
        // Nothing may cover the whole root, as in docker.
        Err(SpecError::RootTarget(t.to_string()))
    } else {
        Ok(p)
    }
}

impl Requested {
    /// The container path it is mounted on.
    pub fn target(&self) -> Option<&Path> {
        match self {
            Requested::Mount(m) | Requested::BindToCreate(m) => m.target().map(PathBuf::as_path),
            Requested::Volume(v) => Some(&v.target),
        }
    }
}

/// Refuses two of the user's mounts (`-v`, `--mount`, `--tmpfs`) on one
/// destination, as docker does, instead of letting the last one win.
pub fn check_duplicates(requested: &[Requested]) -> Result<(), SpecError> {
    let mut seen = std::collections::HashSet::new();
    for t in requested.iter().filter_map(Requested::target) {
        if !seen.insert(t) {
            return Err(SpecError::Duplicate(t.to_path_buf()));
        }
    }
    Ok(())
}

fn volume_name(name: &str) -> Result<String, SpecError> {
    if super::valid_name(name) {
        Ok(name.to_string())
    } else {
        Err(SpecError::BadVolumeName(name.to_string()))
    }
}

/// A bind's host path: an absolute one as it is; one starting with `.`
/// (`.`, `./x`, `../x`) made absolute from the working directory and
/// cleaned (no symlink resolved), as docker's client does since 23.0;
/// `None` for anything else (a volume name).
fn host_source(src: &str) -> Option<PathBuf> {
    use std::path::Component;
    if src.starts_with('/') {
        return Some(PathBuf::from(src));
    }
    if !src.starts_with('.') {
        return None;
    }
    let cwd = std::env::current_dir().ok()?;
    let mut out = PathBuf::from("/");
    for c in cwd.join(src).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// `-v SRC:DST[:OPTS]` (a bind when SRC is a host path: absolute, or
/// relative starting with `.`; else a named volume) or `-v DST` (an
/// anonymous volume).
pub fn parse_volume(spec: &str) -> Result<Requested, SpecError> {
    let bad = || SpecError::Volume(spec.to_string());
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts[..] {
        [dst] if dst.starts_with('/') => {
            return Ok(Requested::Volume(VolumeRequest {
                name: None,
                target: absolute_target(dst)?,
                readonly: false,
                copy: true,
            }))
        }
        [src, dst] => (src, dst, ""),
        [src, dst, opts] => (src, dst, opts),
        _ => return Err(bad()),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(bad());
    }
    let host = host_source(src);
    let is_bind = host.is_some();
    let (mut readonly, mut copy) = (false, true);
    // As docker and podman: at most one option of each kind (`rw,ro`
    // would otherwise be decided by its order).
    let mut seen = [0u8; 5];
    const KINDS: [&str; 5] = [
        "at most one of rw and ro",
        "at most one propagation mode",
        "at most one of z and Z",
        "nocopy at most once",
        "at most one of delegated, cached and consistent",
    ];
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let kind = match o {
            "ro" | "rw" => {
                readonly = o == "ro";
                0
            }
            // Propagation and SELinux relabelling are accepted and ignored.
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => 1,
            "z" | "Z" => 2,
            "nocopy" if !is_bind => {
                copy = false;
                3
            }
            "delegated" | "cached" | "consistent" => 4,
            _ => return Err(bad()),
        };
        seen[kind] += 1;
        if seen[kind] > 1 {
            return Err(SpecError::VolumeOptions {
                spec: spec.to_string(),
                why: KINDS[kind],
            });
        }
    }
    if !is_bind {
        let name = volume_name(src)?;
        return Ok(Requested::Volume(VolumeRequest {
            name: Some(name),
            target: absolute_target(dst)?,
            readonly,
            copy,
        }));
    }
    let source = host.expect("a bind has a host path");
    let m = MountOp::Bind {
        source: source.clone(),
        target: absolute_target(dst)?,
        readonly,
    };
    Ok(if source.exists() {
        Requested::Mount(m)
    } else {
        Requested::BindToCreate(m)
    })
}

/// `--mount type=volume|bind|tmpfs,…` in docker's syntax (the type
/// defaults to volume).
pub fn parse_mount(spec: &str) -> Result<Requested, SpecError> {
    let bad = |why: &str| SpecError::Mount {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let mut kind = "volume";
    let (mut src, mut dst, mut readonly, mut copy) = (None, None, false, true);
    let mut tmpfs_opts = Vec::new();
    let mut bind_opts = false;
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .map_or((field, None), |(k, v)| (k, Some(v)));
        match (k, v) {
            ("type", Some(t)) => kind = t,
            ("source" | "src", Some(s)) => src = Some(s),
            ("destination" | "dst" | "target", Some(d)) => dst = Some(d),
            ("readonly" | "ro", None | Some("true" | "1")) => readonly = true,
            ("readonly" | "ro", Some("false" | "0")) => readonly = false,
            ("volume-nocopy", None | Some("true" | "1")) => copy = false,
            ("volume-nocopy", Some("false" | "0")) => copy = true,
            ("volume-driver", Some("local")) => {}
            // Checked, and ignored: a bind is always recursive and private.
            (
                "bind-propagation",
                Some("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"),
            ) => bind_opts = true,
            ("bind-nonrecursive", Some("false" | "0")) => bind_opts = true,
            ("bind-nonrecursive", None | Some("true" | "1")) => {
                return Err(bad(
                    "bind-nonrecursive is not supported: binds are recursive",
                ))
            }
            ("consistency", Some("default" | "consistent" | "cached" | "delegated")) => {}
            ("bind-propagation" | "bind-nonrecursive" | "consistency", _) => {
                return Err(bad(&format!("invalid value in {field:?}")))
            }
            ("tmpfs-size", Some(s)) => tmpfs_opts.push(format!("size={s}")),
            ("tmpfs-mode", Some(m)) => tmpfs_opts.push(format!("mode={m}")),
            _ => return Err(bad(&format!("unknown field {field:?}"))),
        }
    }
    let dst = absolute_target(dst.ok_or_else(|| bad("missing target"))?)?;
    if bind_opts && kind != "bind" {
        return Err(bad(&format!("bind-* options need type=bind, not {kind}")));
    }
    match kind {
        "bind" => {
            let src = src.ok_or_else(|| bad("missing source"))?;
            let Some(source) = host_source(src) else {
                return Err(bad(
                    "bind source must be an absolute path (or start with ./ or ../)",
                ));
            };
            if !source.exists() {
                return Err(SpecError::MissingSource(source));
            }
            Ok(Requested::Mount(MountOp::Bind {
                source,
                target: dst,
                readonly,
            }))
        }
        "tmpfs" => {
            if src.is_some() {
                return Err(bad("tmpfs mounts take no source"));
            }
            Ok(Requested::Mount(MountOp::Tmpfs {
                target: dst,
                options: tmpfs_opts.join(","),
                readonly,
            }))
        }
        "volume" => Ok(Requested::Volume(VolumeRequest {
            name: src.filter(|s| !s.is_empty()).map(volume_name).transpose()?,
            target: dst,
            readonly,
            copy,
        })),
        other => Err(bad(&format!("unknown type {other:?}"))),
    }
}

/// `--tmpfs /path[:opts]`. As docker's, it is `noexec` unless the options
/// say `exec` (the token stays in the options, which the mount turns into
/// its flag); it is always `nosuid,nodev` (a user namespace's tmpfs holds
/// no devices, and setuid files gain nothing).
/// `--device SRC[:DST][:PERMS]` (docker's): the host's device node (or a
/// directory of them, such as /dev/dri) bound in at DST (default: SRC). A
/// symlink as SRC (/dev/disk/by-id/…) binds the node it names. PERMS is
/// docker's device-cgroup `rwm`, which rootless rless cannot enforce (no
/// device cgroup, and a read-only mount does not stop writes to a device
/// node): the second value says whether PERMS asked for less than `rw`,
/// for `run` to warn that the host's file permissions decide instead.
pub fn parse_device(spec: &str) -> Result<(MountOp, bool), SpecError> {
    let err = |why: &str| SpecError::Device {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, perms) = match parts[..] {
        [src] => (src, src, "rwm"),
        [src, p] if is_perms(p) => (src, src, p),
        [src, dst] => (src, dst, "rwm"),
        [src, dst, p] if is_perms(p) => (src, dst, p),
        _ => return Err(err("expected /dev/host[:/dev/container][:rwm]")),
    };
    if !src.starts_with('/') {
        return Err(err("the host device must be an absolute path"));
    }
    let source = std::fs::canonicalize(src).map_err(|e| err(&format!("{src}: {e}")))?;
    let meta = std::fs::metadata(&source).map_err(|e| err(&format!("{src}: {e}")))?;
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if !(t.is_char_device() || t.is_block_device() || t.is_dir()) {
            return Err(err(&format!("{src} is not a device")));
        }
    }
    let target = absolute_target(dst)?;
    let bind = MountOp::Bind {
        source,
        target,
        readonly: false,
    };
    Ok((bind, !(perms.contains('r') && perms.contains('w'))))
}

pub fn parse_tmpfs(spec: &str) -> Result<MountOp, SpecError> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if dst.is_empty() {
        return Err(SpecError::Tmpfs(spec.to_string()));
    }
    let mut readonly = false;
    let mut exec = false;
    let mut kept = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "exec" => exec = true,
            "noexec" => exec = false,
            "nosuid" | "suid" | "nodev" | "dev" => {}
            o if o.starts_with("size=")
                || o.starts_with("mode=")
                || o.starts_with("uid=")
                || o.starts_with("gid=")
                || o.starts_with("nr_inodes=") =>
            {
                kept.push(o)
            }
            _ => return Err(SpecError::Tmpfs(spec.to_string())),
        }
    }
    if !exec {
        kept.push(crate::runtime::plan::TMPFS_NOEXEC);
    }
    Ok(MountOp::Tmpfs {
        target: absolute_target(dst)?,
        options: kept.join(","),
        readonly,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn devices() {
        let bind = |source: &str, target: &str, readonly| MountOp::Bind {
            source: source.into(),
            target: target.into(),
            readonly,
        };
        assert_eq!(
            parse_device("/dev/null"),
            Ok((bind("/dev/null", "/dev/null", false), false))
        );
        assert_eq!(
            parse_device("/dev/null:r"),
            Ok((bind("/dev/null", "/dev/null", false), true))
        );
        assert_eq!(
            parse_device("/dev/null:/dev/mine:rw"),
            Ok((bind("/dev/null", "/dev/mine", false), false))
        );
        assert_eq!(
            parse_device("/dev/null:/dev/mine"),
            Ok((bind("/dev/null", "/dev/mine", false), false))
        );
        for bad in [
            "dev/null",
            "/no/such/device",
            "/etc/passwd",
            "/dev/null:rel",
            "a:b:c:d",
            "/dev/null:/x:q",
        ] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    fn vol(name: Option<&str>, target: &str, readonly: bool, copy: bool) -> Requested {
        Requested::Volume(VolumeRequest {
            name: name.map(String::from),
            target: target.into(),
            readonly,
            copy,
        })
    }

    #[test]
    fn volumes() {
        assert_eq!(
            parse_volume("/tmp:/data:ro").unwrap(),
            Requested::Mount(MountOp::Bind {
                source: "/tmp".into(),
                target: "/data".into(),
                readonly: true
            })
        );
        assert!(matches!(
            parse_volume("/nonexistent-rless-test:/x").unwrap(),
            Requested::BindToCreate(_)
        ));
        assert!(matches!(
            parse_volume("/tmp:data"),
            Err(SpecError::RelativeTarget(_))
        ));
        assert!(matches!(
            parse_volume("/tmp:/data:bogus"),
            Err(SpecError::Volume(_))
        ));
        assert!(matches!(
            parse_volume("/tmp:/data:nocopy"),
            Err(SpecError::Volume(_))
        ));
        assert_eq!(
            parse_volume("name:/data").unwrap(),
            vol(Some("name"), "/data", false, true)
        );
        assert_eq!(
            parse_volume("db.1:/data:ro,nocopy").unwrap(),
            vol(Some("db.1"), "/data", true, false)
        );
        assert_eq!(
            parse_volume("/data").unwrap(),
            vol(None, "/data", false, true)
        );
        // Host paths relative to the working directory start with `.`,
        // as docker's client (23.0) takes them; made absolute and clean.
        let cwd = std::env::current_dir().unwrap();
        let parent = cwd.parent().unwrap_or(&cwd).to_path_buf();
        for (spec, source) in [
            ("./rel:/data", cwd.join("rel")),
            (".:/data", cwd.clone()),
            ("../x/./y/../z:/data", parent.join("x/z")),
            ("..:/data", parent.clone()),
        ] {
            let bind = MountOp::Bind {
                source,
                target: "/data".into(),
                readonly: false,
            };
            let got = parse_volume(spec).unwrap();
            assert!(
                got == Requested::Mount(bind.clone()) || got == Requested::BindToCreate(bind),
                "{spec}: {got:?}"
            );
        }
        match parse_mount("type=bind,src=.,dst=/t").unwrap() {
            Requested::Mount(MountOp::Bind { source, .. }) => assert_eq!(source, cwd),
            other => panic!("{other:?}"),
        }
        for bad in ["a/b:/data", "-x:/d"] {
            assert!(
                matches!(parse_volume(bad), Err(SpecError::BadVolumeName(_))),
                "{bad}"
            );
        }
        assert!(matches!(parse_volume("data"), Err(SpecError::Volume(_))));
        for root in ["v:/", "/tmp://", "/./", "/"] {
            assert!(
                matches!(parse_volume(root), Err(SpecError::RootTarget(_))),
                "{root}"
            );
        }
        assert!(matches!(parse_volume("a:b:c:d"), Err(SpecError::Volume(_))));
        for conflict in [
            "/tmp:/d:rw,ro",
            "/tmp:/d:ro,ro",
            "v:/d:ro,rw",
            "/tmp:/d:shared,rslave",
            "/tmp:/d:z,Z",
            "v:/d:nocopy,nocopy",
            "/tmp:/d:cached,delegated",
        ] {
            assert!(
                matches!(parse_volume(conflict), Err(SpecError::VolumeOptions { .. })),
                "{conflict}"
            );
        }
        assert_eq!(
            parse_volume("v:/d:rw,nocopy,z,rshared,cached").unwrap(),
            vol(Some("v"), "/d", false, false)
        );
    }

    #[test]
    fn mounts_and_tmpfs() {
        assert_eq!(
            parse_mount("type=bind,src=/tmp,dst=/t,readonly,bind-propagation=rprivate").unwrap(),
            Requested::Mount(MountOp::Bind {
                source: "/tmp".into(),
                target: "/t".into(),
                readonly: true
            })
        );
        assert!(matches!(
            parse_mount("type=bind,src=/nonexistent-rless,dst=/t"),
            Err(SpecError::MissingSource(_))
        ));
        assert_eq!(
            parse_mount("type=tmpfs,dst=/scratch,tmpfs-size=1m,tmpfs-mode=1777").unwrap(),
            Requested::Mount(MountOp::Tmpfs {
                target: "/scratch".into(),
                options: "size=1m,mode=1777".into(),
                readonly: false
            })
        );
        assert_eq!(
            parse_mount("type=volume,src=v,dst=/v,readonly,volume-nocopy").unwrap(),
            vol(Some("v"), "/v", true, false)
        );
        assert_eq!(
            parse_mount("dst=/anon").unwrap(),
            vol(None, "/anon", false, true)
        );
        assert!(matches!(
            parse_mount("type=volume,src=a/b,dst=/v"),
            Err(SpecError::BadVolumeName(_))
        ));
        assert!(parse_mount("type=bind,dst=/t").is_err());
        for bad in [
            "type=bind,src=/tmp,dst=/t,bind-propagation=bogus",
            "type=bind,src=/tmp,dst=/t,bind-propagation",
            "type=bind,src=/tmp,dst=/t,bind-nonrecursive=maybe",
            "type=bind,src=/tmp,dst=/t,consistency=sometimes",
            "type=volume,dst=/t,bind-propagation=rshared",
            "type=tmpfs,dst=/t,bind-nonrecursive=false",
            "type=bind,src=/tmp,dst=/t,bind-nonrecursive",
            "type=bind,src=/tmp,dst=/t,bind-nonrecursive=true",
        ] {
            assert!(
                matches!(parse_mount(bad), Err(SpecError::Mount { .. })),
                "{bad}"
            );
        }
        for good in [
            "type=bind,src=/tmp,dst=/t,bind-nonrecursive=false,bind-propagation=rslave",
            "type=bind,src=/tmp,dst=/t,consistency=cached",
        ] {
            assert!(parse_mount(good).is_ok(), "{good}");
        }
        assert!(parse_mount("type=weird,dst=/t").is_err());
        assert_eq!(
            parse_tmpfs("/run:size=64k,noexec").unwrap(),
            MountOp::Tmpfs {
                target: "/run".into(),
                options: "size=64k,noexec".into(),
                readonly: false
            }
        );
        for (spec, options) in [("/x", "noexec"), ("/x:noexec,exec,size=1m", "size=1m")] {
            assert!(
                matches!(parse_tmpfs(spec).unwrap(), MountOp::Tmpfs { options: o, .. } if o == options),
                "{spec}"
            );
        }
        assert!(parse_tmpfs("run").is_err());
        assert!(parse_tmpfs("/x:evil=1").is_err());
    }

    #[test]
    fn duplicate_destinations() {
        let one = |s: &str| parse_volume(s).unwrap();
        let dup = [
            one("/tmp:/mnt"),
            parse_mount("type=tmpfs,dst=/mnt/").unwrap(),
        ];
        assert_eq!(
            check_duplicates(&dup),
            Err(SpecError::Duplicate("/mnt".into()))
        );
        let dup = [one("v:/a/b/../../mnt"), one("/mnt/./")];
        assert_eq!(
            check_duplicates(&dup),
            Err(SpecError::Duplicate("/mnt".into()))
        );
        assert_eq!(check_duplicates(&[one("/tmp:/mnt"), one("/mnt2")]), Ok(()));
        assert_eq!(
            parse_volume("/.."),
            Err(SpecError::RootTarget("/..".into()))
        );
    }
}
