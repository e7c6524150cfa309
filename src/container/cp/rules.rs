//! docker's copy rules, as plain functions over paths: where a copy's
//! source goes given what the destination is ([`plan`]), and the path
//! pieces they use ([`base_name`], [`parent_of`]).
//!
//! Theory of operation: `cp` first asks each side what its path is (a
//! directory, something else, or missing, and whether the parent is a
//! directory); [`plan`] then decides, without touching any file, the name
//! the source is packed under (none for `DIR/.`, its content) and the
//! directory it is unpacked into, or refuses as docker does (a directory
//! onto a file, a file path ending in `/`, a missing parent).

use super::{CpError, Kind};

/// Where a copy goes: pack the source under `name`, unpack into `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: Option<String>,
    pub dir: String,
}

/// The last component of `path`, ignoring trailing `/` and `/.`;
/// `None` for the root, `.` and `..`.
pub fn base_name(path: &str) -> Option<&str> {
    let mut p = path;
    loop {
        let t = p.trim_end_matches('/');
        match t.strip_suffix("/.") {
            Some(s) => p = s,
            None if t == "." => return None,
            None => {
                p = t;
                break;
            }
        }
    }
    let base = p.rsplit('/').next().unwrap_or(p);
    (!base.is_empty() && base != "." && base != "..").then_some(base)
}

/// The directory holding `path`'s last component (`/` for the root's children).
pub fn parent_of(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => t[..i].into(),
        None => ".".into(),
    }
}

/// docker's rules: `src` is of kind `src_kind`; `dst` is a directory
/// (`Some(true)`), something else (`Some(false)`) or missing (`None`),
/// and `dst_parent_dir` says whether its parent is a directory.
pub fn plan(
    src: &str,
    src_kind: Kind,
    dst: &str,
    dst_is_dir: Option<bool>,
    dst_parent_dir: bool,
) -> Result<Plan, CpError> {
    let src_dir = src_kind == Kind::Dir;
    let contents = src.ends_with("/.") || src == ".";
    if !src_dir && (contents || src.ends_with('/')) {
        return Err(CpError::NotADirectory(src.into()));
    }
    let into = |name: Option<&str>, dir: &str| Plan {
        name: name.map(str::to_string),
        dir: dir.to_string(),
    };
    match dst_is_dir {
        Some(true) if src_dir && contents => Ok(into(None, dst)),
        Some(true) => Ok(into(base_name(src), dst)),
        Some(false) if src_dir => Err(CpError::DirOntoFile(src.into(), dst.into())),
        Some(false) if dst.ends_with('/') => Err(CpError::NotADirectory(dst.into())),
        Some(false) => Ok(into(base_name(dst), &parent_of(dst))),
        None if !src_dir && dst.ends_with('/') => Err(CpError::NotFound(dst.into())),
        None if !dst_parent_dir => Err(CpError::NotFound(parent_of(dst))),
        None => match base_name(dst) {
            Some(b) => Ok(into(Some(b), &parent_of(dst))),
            None => Err(CpError::NotFound(dst.into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let p = |s, k, d, dd, pd| plan(s, k, d, dd, pd);
        // A file into a directory keeps its name; onto a new name takes it.
        assert_eq!(
            p("/etc/hosts", Kind::File, "/tmp", Some(true), true).unwrap(),
            Plan {
                name: Some("hosts".into()),
                dir: "/tmp".into()
            }
        );
        assert_eq!(
            p("/etc/hosts", Kind::File, "/tmp/h", None, true).unwrap(),
            Plan {
                name: Some("h".into()),
                dir: "/tmp".into()
            }
        );
        // A directory's content with `/.`.
        assert_eq!(
            p("/d/.", Kind::Dir, "/x", Some(true), true).unwrap().name,
            None
        );
        assert_eq!(
            p("/d", Kind::Dir, "/x", Some(true), true).unwrap().name,
            Some("d".into())
        );
        assert!(matches!(
            p("/d", Kind::Dir, "/f", Some(false), true),
            Err(CpError::DirOntoFile(..))
        ));
        assert!(matches!(
            p("/f/", Kind::File, "/x", Some(true), true),
            Err(CpError::NotADirectory(_))
        ));
        assert!(matches!(
            p("/f", Kind::File, "/new/", None, true),
            Err(CpError::NotFound(_))
        ));
        assert!(matches!(
            p("/f", Kind::File, "/no/x", None, false),
            Err(CpError::NotFound(_))
        ));
    }
}
