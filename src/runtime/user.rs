//! Resolving `-u user[:group]` against the image's /etc/passwd and
//! /etc/group, as docker does: names or numbers, supplementary groups from
//! /etc/group, HOME from the passwd entry.

/// Whom the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
    /// `--group-add keep-groups`: the process keeps the supplementary
    /// groups it has (the caller's), and `groups` is not set.
    pub keep_groups: bool,
}

/// podman's `--group-add` value that keeps the caller's groups.
pub const KEEP_GROUPS: &str = "keep-groups";

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    /// (uid_t)-1 would mean "unchanged" to setresuid, and so root.
    #[error("uids and gids must be in range 0-2147483647: {0}")]
    OutOfRange(u32),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some((
            f[0],
            f[2].parse().ok()?,
            f[3].split(',').filter(|m| !m.is_empty()).collect(),
        ))
    })
}

/// Resolves `spec` (`""` means root) against the files' contents.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, UserError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd_entries(passwd).find(|e| e.name == user || e.uid.to_string() == user);
    let (uid, mut gid, home, name) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.to_string(), Some(e.name.to_string())),
        // A number not in passwd is allowed, with gid 0 and HOME=/ (docker).
        (None, Ok(n)) => (n, 0, "/".to_string(), None),
        (None, Err(_)) => return Err(UserError::NoUser(user.to_string())),
    };
    if let Some(g) = grp {
        gid = match group_entries(group).find(|(n, id, _)| *n == g || id.to_string() == g) {
            Some((_, id, _)) => id,
            None => g.parse().map_err(|_| UserError::NoGroup(g.to_string()))?,
        };
    }
    if let Some(&bad) = [uid, gid].iter().find(|&&id| id > i32::MAX as u32) {
        return Err(UserError::OutOfRange(bad));
    }
    let mut groups = vec![gid];
    // With an explicit group, docker drops supplementary groups; without
    // one, the user's groups from /etc/group apply.
    if grp.is_none() {
        if let Some(name) = &name {
            for (_, id, members) in group_entries(group) {
                if members.contains(&name.as_str())
                    && !groups.contains(&id)
                    && id <= i32::MAX as u32
                {
                    groups.push(id);
                }
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home: if home.is_empty() { "/".into() } else { home },
        keep_groups: false,
    })
}

/// `--group-add`: each a group name from `group` (the image's /etc/group)
/// or a number, added to the user's supplementary groups (whatever `-u`
/// says, as docker); or `keep-groups`, alone.
pub fn add_groups(user: &mut ExecUser, add: &[String], group: &str) -> Result<(), UserError> {
    for g in add {
        if g == KEEP_GROUPS {
            user.keep_groups = true;
            continue;
        }
        let id = match group_entries(group).find(|(n, _, _)| n == g) {
            Some((_, id, _)) => id,
            None => g.parse().map_err(|_| UserError::NoGroup(g.to_string()))?,
        };
        if id > i32::MAX as u32 {
            return Err(UserError::OutOfRange(id));
        }
        if !user.groups.contains(&id) {
            user.groups.push(id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:alice,bob\nalice:x:1000:\nusers:x:100:alice\n";

    #[test]
    fn added_groups() {
        let mut a = resolve("alice", PASSWD, GROUP).unwrap();
        let add = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        add_groups(&mut a, &add(&["users", "4242", "wheel"]), GROUP).unwrap();
        assert_eq!(a.groups, vec![1000, 10, 100, 4242]);
        assert!(!a.keep_groups);
        let mut g = resolve("alice:wheel", PASSWD, GROUP).unwrap();
        add_groups(&mut g, &add(&["alice"]), GROUP).unwrap();
        assert_eq!(
            g.groups,
            vec![10, 1000],
            "added even with an explicit group"
        );
        assert!(matches!(
            add_groups(&mut g, &add(&["staff"]), GROUP),
            Err(UserError::NoGroup(n)) if n == "staff"
        ));
        let mut r = resolve("", PASSWD, GROUP).unwrap();
        add_groups(&mut r, &add(&[KEEP_GROUPS]), GROUP).unwrap();
        assert!(r.keep_groups);
    }

    #[test]
    fn ids_past_i32_are_refused() {
        for spec in ["4294967295", "0:4294967295", "2147483648"] {
            assert!(
                matches!(resolve(spec, PASSWD, GROUP), Err(UserError::OutOfRange(_))),
                "{spec}"
            );
        }
        assert_eq!(
            resolve("2147483647", PASSWD, GROUP).unwrap().uid,
            2147483647
        );
    }

    #[test]
    fn names_numbers_and_groups() {
        let r = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let a = resolve("alice", PASSWD, GROUP).unwrap();
        assert_eq!((a.uid, a.gid), (1000, 1000));
        assert_eq!(a.groups, vec![1000, 10, 100]);
        let n = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (4242, 0, "/"));
        let g = resolve("alice:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((g.gid, g.groups.clone()), (10, vec![10]));
        assert_eq!(resolve("1000:77", PASSWD, GROUP).unwrap().gid, 77);
        assert!(matches!(
            resolve("mallory", PASSWD, GROUP),
            Err(UserError::NoUser(_))
        ));
        assert!(matches!(
            resolve("alice:nogroup", PASSWD, GROUP),
            Err(UserError::NoGroup(_))
        ));
    }
}
