//! Parsing `-v`, `--mount` and `--tmpfs` into mount plan steps, with
//! docker's syntax and docker's checks. Pure functions: no file is touched
//! except to ask whether a host path exists.

use crate::runtime::plan::MountOp;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("invalid volume specification {0:?}: expected /host/path:/container/path[:ro|rw]")]
    Volume(String),
    #[error("invalid mount specification {spec:?}: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid tmpfs specification {0:?}: expected /container/path[:options]")]
    Tmpfs(String),
    #[error("named volumes are not supported yet ({0:?}); use an absolute host path")]
    NamedVolume(String),
    #[error("bind source path does not exist: {0}")]
    MissingSource(PathBuf),
    #[error("mount destination {0:?} must be an absolute path")]
    RelativeTarget(String),
}

fn absolute_target(t: &str) -> Result<PathBuf, SpecError> {
    if t.starts_with('/') {
        Ok(PathBuf::from(t))
    } else {
        Err(SpecError::RelativeTarget(t.to_string()))
    }
}

/// `-v SRC:DST[:OPTS]`. A missing host directory is created, as docker does.
pub fn parse_volume(spec: &str) -> Result<(MountOp, Option<PathBuf>), SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts[..] {
        [src, dst] => (src, dst, ""),
        [src, dst, opts] => (src, dst, opts),
        [dst] if dst.starts_with('/') => return Err(SpecError::NamedVolume(spec.to_string())),
        _ => return Err(SpecError::Volume(spec.to_string())),
    };
    if src.is_empty() || dst.is_empty() {
        return Err(SpecError::Volume(spec.to_string()));
    }
    if !src.starts_with('/') {
        if src.starts_with('.') {
            return Err(SpecError::Volume(spec.to_string()));
        }
        return Err(SpecError::NamedVolume(spec.to_string()));
    }
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            // SELinux relabelling and propagation are accepted and ignored.
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "delegated" | "cached" | "consistent" => {}
            _ => return Err(SpecError::Volume(spec.to_string())),
        }
    }
    let target = absolute_target(dst)?;
    let source = PathBuf::from(src);
    let create = (!source.exists()).then(|| source.clone());
    Ok((
        MountOp::Bind {
            source,
            target,
            readonly,
        },
        create,
    ))
}

/// `--mount type=bind|tmpfs,…` in docker's syntax.
pub fn parse_mount(spec: &str) -> Result<MountOp, SpecError> {
    let bad = |why: &str| SpecError::Mount {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let mut kind = "volume";
    let (mut src, mut dst, mut readonly) = (None, None, false);
    let mut tmpfs_opts = Vec::new();
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
            ("bind-propagation" | "consistency" | "bind-nonrecursive", Some(_)) => {}
            ("tmpfs-size", Some(s)) => tmpfs_opts.push(format!("size={s}")),
            ("tmpfs-mode", Some(m)) => tmpfs_opts.push(format!("mode={m}")),
            _ => return Err(bad(&format!("unknown field {field:?}"))),
        }
    }
    let dst = absolute_target(dst.ok_or_else(|| bad("missing target"))?)?;
    match kind {
        "bind" => {
            let src = src.ok_or_else(|| bad("missing source"))?;
            if !src.starts_with('/') {
                return Err(bad("bind source must be an absolute path"));
            }
            if !Path::new(src).exists() {
                return Err(SpecError::MissingSource(src.into()));
            }
            Ok(MountOp::Bind {
                source: src.into(),
                target: dst,
                readonly,
            })
        }
        "tmpfs" => {
            if src.is_some() {
                return Err(bad("tmpfs mounts take no source"));
            }
            Ok(MountOp::Tmpfs {
                target: dst,
                options: tmpfs_opts.join(","),
                readonly,
            })
        }
        "volume" => Err(SpecError::NamedVolume(spec.to_string())),
        other => Err(bad(&format!("unknown type {other:?}"))),
    }
}

/// `--tmpfs /path[:opts]`.
pub fn parse_tmpfs(spec: &str) -> Result<MountOp, SpecError> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    if dst.is_empty() {
        return Err(SpecError::Tmpfs(spec.to_string()));
    }
    let mut readonly = false;
    let mut kept = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "noexec" | "exec" | "nosuid" | "suid" | "nodev" | "dev" => {}
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
    Ok(MountOp::Tmpfs {
        target: absolute_target(dst)?,
        options: kept.join(","),
        readonly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let (m, create) = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(
            m,
            MountOp::Bind {
                source: "/tmp".into(),
                target: "/data".into(),
                readonly: true
            }
        );
        assert!(create.is_none());
        let (_, create) = parse_volume("/nonexistent-rless-test:/x").unwrap();
        assert_eq!(create, Some(PathBuf::from("/nonexistent-rless-test")));
        assert!(matches!(
            parse_volume("/tmp:data"),
            Err(SpecError::RelativeTarget(_))
        ));
        assert!(matches!(
            parse_volume("/tmp:/data:bogus"),
            Err(SpecError::Volume(_))
        ));
        assert!(matches!(
            parse_volume("name:/data"),
            Err(SpecError::NamedVolume(_))
        ));
        assert!(matches!(
            parse_volume("./rel:/data"),
            Err(SpecError::Volume(_))
        ));
        assert!(matches!(parse_volume("a:b:c:d"), Err(SpecError::Volume(_))));
    }

    #[test]
    fn mounts_and_tmpfs() {
        assert_eq!(
            parse_mount("type=bind,src=/tmp,dst=/t,readonly").unwrap(),
            MountOp::Bind {
                source: "/tmp".into(),
                target: "/t".into(),
                readonly: true
            }
        );
        assert!(matches!(
            parse_mount("type=bind,src=/nonexistent-rless,dst=/t"),
            Err(SpecError::MissingSource(_))
        ));
        assert_eq!(
            parse_mount("type=tmpfs,dst=/scratch,tmpfs-size=1m").unwrap(),
            MountOp::Tmpfs {
                target: "/scratch".into(),
                options: "size=1m".into(),
                readonly: false
            }
        );
        assert!(parse_mount("type=bind,dst=/t").is_err());
        assert!(parse_mount("type=weird,dst=/t").is_err());
        assert_eq!(
            parse_tmpfs("/run:size=64k,noexec").unwrap(),
            MountOp::Tmpfs {
                target: "/run".into(),
                options: "size=64k".into(),
                readonly: false
            }
        );
        assert!(parse_tmpfs("run").is_err());
        assert!(parse_tmpfs("/x:evil=1").is_err());
    }
}
