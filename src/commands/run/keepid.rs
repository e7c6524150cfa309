//! `/etc/passwd` and `/etc/group` for a `--userns keep-id` container, a
//! numeric `-u`, and `--hostuser` (podman's; `--passwd-entry` the line's
//! template).
//!
//! Theory of operation: with keep-id the caller is themselves inside, by
//! uid and gid, and an image rarely knows that uid: `whoami`, `id -un`,
//! `getpwuid` and everything built on them fail, and HOME is `/`. As
//! podman does, the container gets the image's `/etc/passwd` with a line
//! for the caller (`NAME:*:UID:GID::HOME:/bin/sh`, HOME being their host
//! home directory where a mount's destination is it or above it, else the
//! working directory, or `/` where that holds a `:` or a newline: [`home`]) and the image's `/etc/group` with one for the
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

use anyhow::{bail, Context, Result};
use rless::image::union::Union;
use rless::runtime::ids;
use rless::runtime::storage::{Driver, IdView};
use std::path::{Path, PathBuf};

/// The largest image passwd or group file that gains a line (a larger
/// one is left as it is).
const LIMIT: u64 = 1 << 20;

/// A line for the container's `/etc/passwd` or `/etc/group`, added where
/// the image has none for `id` nor for `name`.
pub(super) struct Entry {
    /// "passwd" or "group".
    pub(super) file: &'static str,
    pub(super) id: u32,
    pub(super) name: String,
    /// The line, without its newline.
    pub(super) line: String,
}

/// podman's `--passwd-entry` template: `$USERNAME`, `$UID`, `$GID`,
/// `$NAME` (the GECOS field) and `$HOME` replaced.
pub(super) fn passwd_line(
    template: Option<&str>,
    (name, uid, gid, gecos, home): (&str, u32, u32, &str, &str),
) -> String {
    let template = template.unwrap_or("$USERNAME:*:$UID:$GID:$NAME:$HOME:/bin/sh");
    template
        .replace("$USERNAME", name)
        .replace("$UID", &uid.to_string())
        .replace("$GID", &gid.to_string())
        .replace("$NAME", gecos)
        .replace("$HOME", home)
}

/// podman's `--group-entry` template: `$GROUPNAME`, `$GID` and
/// `$USERNAME` (the user the line lists) replaced.
pub(super) fn group_line(template: Option<&str>, (group, gid, user): (&str, u32, &str)) -> String {
    template
        .unwrap_or("$GROUPNAME:x:$GID:$USERNAME")
        .replace("$GROUPNAME", group)
        .replace("$GID", &gid.to_string())
        .replace("$USERNAME", user)
}

/// The `--passwd-entry` and `--group-entry` templates.
pub(super) type Templates<'a> = (Option<&'a str>, Option<&'a str>);

/// The caller's entries with keep-id: `(uid, gid)` are their ids inside
/// (their own, or keep-id:uid=,gid=).
pub(super) fn caller_entries(
    home: &str,
    (uid, gid): (u32, u32),
    templates: Templates,
) -> Vec<Entry> {
    let (host_uid, host_gid) = rless::userns::own_ids();
    let name = valid_name(rless::userns::user_name(host_uid)).unwrap_or_else(|| uid.to_string());
    let group = valid_name(rless::userns::name_of_id(Path::new("/etc/group"), host_gid))
        .unwrap_or_else(|| name.clone());
    let home = safe_home(home);
    vec![
        Entry {
            file: "passwd",
            id: uid,
            name: name.clone(),
            line: passwd_line(templates.0, (&name, uid, gid, "", home)),
        },
        Entry {
            file: "group",
            id: gid,
            line: group_line(templates.1, (&group, gid, &name)),
            name: group,
        },
    ]
}

/// A working directory that cannot stand in a passwd field: HOME is /.
fn safe_home(home: &str) -> &str {
    if home.contains([':', '\n', '\r']) {
        "/"
    } else {
        home
    }
}

/// podman's entries for `-u UID[:GID]` given as numbers: "container
/// user", HOME the working directory (`gid` 0 when not given).
pub(super) fn numeric_user_entries(user: &str, workdir: &str, templates: Templates) -> Vec<Entry> {
    let (u, g) = user.split_once(':').unwrap_or((user, ""));
    let Ok(uid) = u.parse::<u32>() else {
        return Vec::new();
    };
    let gid = if g.is_empty() {
        Some(0)
    } else {
        g.parse::<u32>().ok()
    };
    let Some(gid) = gid else {
        return Vec::new();
    };
    let name = uid.to_string();
    let mut out = vec![Entry {
        file: "passwd",
        id: uid,
        line: passwd_line(
            templates.0,
            (&name, uid, gid, "container user", safe_home(workdir)),
        ),
        name,
    }];
    if !g.is_empty() {
        out.push(Entry {
            file: "group",
            id: gid,
            name: gid.to_string(),
            line: group_line(templates.1, (&gid.to_string(), gid, &uid.to_string())),
        });
    }
    out
}

/// `--hostuser NAME|UID`: the host user's passwd entry (HOME the working
/// directory, as podman's).
pub(super) fn host_user_entry(user: &str, workdir: &str, template: Option<&str>) -> Result<Entry> {
    let text = std::fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    let fields = text
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == user || f[2] == user));
    let Some(f) = fields else {
        anyhow::bail!("--hostuser {user}: no such user in the host's /etc/passwd");
    };
    let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
        anyhow::bail!("--hostuser {user}: the host's /etc/passwd line is not valid");
    };
    Ok(Entry {
        file: "passwd",
        id: uid,
        name: f[0].to_string(),
        line: passwd_line(template, (f[0], uid, gid, f[4], safe_home(workdir))),
    })
}

/// Writes the passwd and group files into `dir` with the `entries` the
/// image (`layers`, topmost first) lacks; returns them as (host path,
/// container path) for the mount plan.
pub(super) fn files(
    dir: &Path,
    layers: &[PathBuf],
    entries: &[Entry],
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let image = Union { layers };
    let mut out = Vec::new();
    for file in ["passwd", "group"] {
        let wanted: Vec<&Entry> = entries.iter().filter(|e| e.file == file).collect();
        if wanted.is_empty() {
            continue;
        }
        // One byte past the limit tells a larger file, which is left as
        // it is rather than cut short.
        let content = match image.read_file(&Path::new("etc").join(file), LIMIT + 1) {
            Ok(c) if c.as_ref().is_some_and(|c| c.len() as u64 > LIMIT) => {
                eprintln!("rless: warning: the image's /etc/{file} is left as it is (larger than {LIMIT} bytes)");
                continue;
            }
            Ok(c) => c.unwrap_or_default(),
            Err(e) => {
                eprintln!("rless: warning: the image's /etc/{file} is left as it is ({e})");
                continue;
            }
        };
        // Bytes, as they are: a line in another encoding (a Latin-1
        // GECOS) stays as the image has it.
        let mut content = content;
        let mut added = false;
        for e in wanted {
            if has_id(&content, e.id) || has_name(&content, &e.name) || e.line.contains('\n') {
                continue;
            }
            if !content.is_empty() && !content.ends_with(b"\n") {
                content.push(b'\n');
            }
            content.extend_from_slice(e.line.as_bytes());
            content.push(b'\n');
            added = true;
        }
        if !added {
            continue;
        }
        let p = dir.join(file);
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))?;
        out.push((p, PathBuf::from("/etc").join(file)));
    }
    Ok(out)
}

/// The `/etc/passwd` and `/etc/group` lines the container gets: the
/// caller's with keep-id (`keep`: their ids inside), podman's for a
/// numeric `-u`, and `--hostuser`'s.
pub(super) fn etc_entries(
    keep: Option<(u32, u32, String)>,
    user: Option<&str>,
    workdir: &str,
    more: &super::moreopts::MoreArgs,
) -> Result<Vec<Entry>> {
    let templates = (more.passwd_entry.as_deref(), more.group_entry.as_deref());
    let mut entries = Vec::new();
    if let Some((uid, gid, home)) = keep {
        entries.extend(caller_entries(&home, (uid, gid), templates));
    }
    if let Some(u) = user {
        entries.extend(numeric_user_entries(u, workdir, templates));
    }
    for h in &more.hostuser {
        entries.push(host_user_entry(h, workdir, templates.0)?);
    }
    Ok(entries)
}

/// The caller's HOME inside, by podman's rule: their home directory on
/// the host where it, or a directory above it (not `/`), is the
/// destination of one of the container's mounts (`-v ~:~`, `--tmpfs
/// /home/me`, `-v /home:/home`: the image's own directories do not
/// count), so that it is there for them; the working directory
/// otherwise. Only for the caller's own uid inside: podman gives
/// `keep-id:uid=N` (another N) the working directory.
pub(super) fn home(uid_inside: u32, workdir: &str, destinations: &[&Path]) -> String {
    let (host_uid, _) = rless::userns::own_ids();
    let host_home = (uid_inside == host_uid)
        .then(|| home_of(Path::new("/etc/passwd"), host_uid))
        .flatten();
    home_among(host_home, workdir, destinations)
}

/// [`home`] for a host home directory (`None`: not the caller inside, or
/// no passwd line).
fn home_among(host_home: Option<String>, workdir: &str, destinations: &[&Path]) -> String {
    host_home
        .filter(|h| {
            Path::new(h).is_absolute()
                && Path::new(h)
                    .ancestors()
                    .filter(|a| *a != Path::new("/"))
                    .any(|a| destinations.contains(&a))
        })
        .unwrap_or_else(|| workdir.to_string())
}

/// The home directory of `uid` in a passwd file (its sixth field).
fn home_of(file: &Path, uid: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// Whether a passwd or group file has a line for `id` (its third field).
/// `--userns`: "" or `host` (the default mapping), `keep-id`, or podman's
/// `keep-id:uid=N,gid=N` (either or both: the caller is N inside). Returns
/// whether keep-id is on, and the ids inside when the option names them.
pub(super) fn parse_userns(
    v: &str,
    ids: &rless::userns::IdMode,
) -> Result<(bool, Option<(u32, u32)>)> {
    let opts = match v {
        "" | "host" => return Ok((false, None)),
        "keep-id" => return Ok((true, None)),
        v => match v.strip_prefix("keep-id:") {
            Some(o) => o,
            None => anyhow::bail!("unknown --userns {v:?}: use keep-id[:uid=N,gid=N]"),
        },
    };
    let (mut uid, mut gid) = rless::userns::own_ids();
    for o in opts.split(',') {
        let (k, n) = o.split_once('=').unwrap_or((o, ""));
        // u32::MAX is no id (it is -1, "unchanged", to the kernel).
        let n: u32 = n.parse().ok().filter(|n| *n != u32::MAX).ok_or_else(|| {
            anyhow::anyhow!("invalid --userns {v:?}: {o:?} is not uid=N or gid=N")
        })?;
        match k {
            "uid" => uid = n,
            "gid" => gid = n,
            _ => anyhow::bail!(
                "invalid --userns {v:?}: unknown keep-id option {k:?} (use uid=N,gid=N)"
            ),
        }
    }
    // Subuid mode: below the user come that many ids of the range.
    if let rless::userns::IdMode::SubUid { uids, gids, .. } = ids {
        if uid > uids.count || gid > gids.count {
            anyhow::bail!(
                "invalid --userns {v:?}: this user's subordinate ranges allow at most uid={} and gid={}",
                uids.count,
                gids.count
            );
        }
    }
    Ok((true, Some((uid, gid))))
}

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

/// keep-id: the image's owners are shown through fuse-overlay, which kernel
/// overlayfs cannot do (see `ids::keep_id_view`), so keep-id takes that
/// driver. Where FUSE cannot be used and nothing forced a driver, the
/// container runs on kernel overlayfs as before, with a warning that the
/// image's owners show shifted.
/// `keep`: the (uid, gid) the caller is inside with keep-id.
pub(super) fn keep_id_view(
    ctx: &super::Ctx,
    keep: Option<(u32, u32)>,
    own_rootfs: bool,
    driver: &mut Driver,
) -> Result<Option<IdView>> {
    let rless::userns::IdMode::SubUid { uids, gids, .. } = &ctx.ids else {
        return Ok(None);
    };
    let Some((uid, gid)) = keep.filter(|_| !own_rootfs) else {
        return Ok(None);
    };
    let (Some(uid_view), Some(gid_view)) = (
        ids::keep_id_view(uid, uids.count),
        ids::keep_id_view(gid, gids.count),
    ) else {
        return Ok(None);
    };
    let fuse = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok();
    match *driver {
        Driver::Overlay => bail!("--userns keep-id needs the fuse-overlay storage driver (the overlay driver was chosen): kernel overlayfs cannot show the image's file owners as the image has them"),
        Driver::Auto if !fuse => {
            eprintln!("rless: warning: --userns keep-id: /dev/fuse cannot be used, so the image's files show with shifted owners (root's as yours)");
            Ok(None)
        }
        _ => {
            *driver = Driver::FuseOverlay;
            Ok(Some(IdView {
                uids: uid_view,
                gids: gid_view,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_is_the_host_one_where_a_mount_makes_it() {
        let mine = || Some("/home/me".to_string());
        fn at(d: &[&'static str]) -> Vec<&'static Path> {
            d.iter().map(|s| Path::new(*s)).collect()
        }
        for (dests, want) in [
            (&["/home/me"][..], "/home/me"),
            (&["/home"], "/home/me"),
            (&["/data", "/home/me/"], "/home/me"),
            (&[], "/w"),
            (&["/home/me/sub"], "/w"),
            (&["/home/m"], "/w"),
            (&["/"], "/w"),
        ] {
            assert_eq!(home_among(mine(), "/w", &at(dests)), want, "{dests:?}");
        }
        assert_eq!(home_among(None, "/w", &at(&["/home/me"])), "/w");
        assert_eq!(home_among(Some("rel".into()), "/w", &at(&["rel"])), "/w");
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("passwd");
        std::fs::write(
            &f,
            "root:x:0:0:root:/root:/bin/sh\nbad\nme:x:7:7::/home/me:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(home_of(&f, 7).as_deref(), Some("/home/me"));
        assert_eq!(home_of(&f, 8), None);
    }

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
