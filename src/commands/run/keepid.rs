//! `/etc/passwd` and `/etc/group` for a `--userns keep-id` container.
//!
//! Theory of operation: with keep-id the caller is themselves inside, by
//! uid and gid, and an image rarely knows that uid: `whoami`, `id -un`,
//! `getpwuid` and everything built on them fail, and HOME is `/`. As
//! podman does, the container gets the image's `/etc/passwd` with a line
//! for the caller (`NAME:*:UID:GID::HOME:/bin/sh`, HOME being the
//! working directory, or `/` where that holds a `:` or a newline) and the image's `/etc/group` with one for the
//! caller's group, where the image has none for those ids nor those names
//! (an image that has the caller's name under another uid keeps its line
//! and gains none: two lines of one name would make `getpwnam` and
//! `getpwuid` disagree; podman adds none either). They are
//! written beside `hosts` in the container's directory when it is made and
//! bound over the image's files like the other generated `/etc` files, so
//! they stay out of `diff` and `commit`.
//!
//! The image's files are read through [`rless::image::union`], which
//! follows nothing: an image whose `/etc/passwd` is a symlink (or is not a
//! plain file), or whose file is larger than 1 MiB, keeps it, with a
//! warning. The files are kept as bytes: lines in an encoding other than UTF-8 stay as they
//! are.

use anyhow::{Context, Result};
use rless::image::union::Union;
use std::path::{Path, PathBuf};

/// The largest image passwd or group file that gains a line (a larger
/// one is left as it is).
const LIMIT: u64 = 1 << 20;

/// Writes the passwd and group files the caller needs into `dir` where
/// the image (`layers`, topmost first) lacks their ids; returns them as
/// (host path, container path) for the mount plan.
pub(super) fn files(dir: &Path, layers: &[PathBuf], home: &str) -> Result<Vec<(PathBuf, PathBuf)>> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let image = Union { layers };
    let name = valid_name(rless::userns::user_name(uid)).unwrap_or_else(|| uid.to_string());
    let group = valid_name(rless::userns::name_of_id(Path::new("/etc/group"), gid))
        .unwrap_or_else(|| name.clone());
    // A working directory that cannot stand in a passwd field: HOME is /.
    let home = if home.contains([':', '\n', '\r']) {
        "/"
    } else {
        home
    };
    let wanted = [
        (
            "passwd",
            uid,
            &name,
            format!("{name}:*:{uid}:{gid}::{home}:/bin/sh\n"),
        ),
        ("group", gid, &group, format!("{group}:x:{gid}:{name}\n")),
    ];
    let mut out = Vec::new();
    for (file, id, entry_name, line) in wanted {
        // One byte past the limit tells a larger file, which is left as
        // it is rather than cut short.
        let content = match image.read_file(&Path::new("etc").join(file), LIMIT + 1) {
            Ok(c) if c.as_ref().is_some_and(|c| c.len() as u64 > LIMIT) => {
                eprintln!("rless: warning: --userns keep-id: the image's /etc/{file} is left as it is (larger than {LIMIT} bytes)");
                continue;
            }
            Ok(c) => c.unwrap_or_default(),
            Err(e) => {
                eprintln!("rless: warning: --userns keep-id: the image's /etc/{file} is left as it is ({e})");
                continue;
            }
        };
        // Bytes, as they are: a line in another encoding (a Latin-1
        // GECOS) stays as the image has it.
        if has_id(&content, id) || has_name(&content, entry_name) {
            continue;
        }
        let mut content = content;
        if !content.is_empty() && !content.ends_with(b"\n") {
            content.push(b'\n');
        }
        content.extend_from_slice(line.as_bytes());
        let p = dir.join(file);
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))?;
        out.push((p, PathBuf::from("/etc").join(file)));
    }
    Ok(out)
}

/// Whether a passwd or group file has a line for `id` (its third field).
fn has_id(content: &[u8], id: u32) -> bool {
    content.split(|&b| b == b'\n').any(|l| {
        l.split(|&b| b == b':')
            .nth(2)
            .and_then(|f| std::str::from_utf8(f).ok()?.parse().ok())
            == Some(id)
    })
}

/// Whether a passwd or group file has a line for `name` (its first field).
fn has_name(content: &[u8], name: &str) -> bool {
    content
        .split(|&b| b == b'\n')
        .any(|l| l.split(|&b| b == b':').next() == Some(name.as_bytes()))
}

/// A name that can stand in a passwd or group line.
fn valid_name(name: Option<String>) -> Option<String> {
    name.filter(|n| !n.is_empty() && !n.contains([':', '\n', '\r']) && !n.starts_with(['+', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let passwd: &[u8] =
            b"root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Al\xe9:/home/alice:/bin/sh\nbroken\n";
        assert!(has_id(passwd, 0) && has_id(passwd, 1000));
        assert!(!has_id(passwd, 1001) && !has_id(b"", 0) && !has_id(passwd, 100));
        assert!(has_name(passwd, "alice") && has_name(passwd, "root"));
        assert!(!has_name(passwd, "alic") && !has_name(passwd, "x") && !has_name(b"", "a"));
        assert_eq!(valid_name(Some("bob".into())).as_deref(), Some("bob"));
        for bad in ["", "a:b", "a\nb", "+nis"] {
            assert_eq!(valid_name(Some(bad.into())), None, "{bad:?}");
        }
    }
}
