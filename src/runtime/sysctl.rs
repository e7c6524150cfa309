//! `--sysctl NAME=VALUE`: kernel settings of the container's own
//! namespaces.
//!
//! Theory of operation: only settings that live in a namespace the
//! container has to itself can be changed, as docker allows: the IPC ones
//! (`kernel.msgmax`, `kernel.msgmnb`, `kernel.msgmni`, `kernel.sem`,
//! `kernel.shmall`, `kernel.shmmax`, `kernel.shmmni`,
//! `kernel.shm_rmid_forced`, `fs.mqueue.*`) with an IPC namespace of its
//! own, `net.*` with a network namespace of its own, and (podman's
//! addition) `kernel.domainname` with a UTS namespace of its own. Anything
//! else would change the host, or the container it shares a namespace
//! with, and is refused when the container is made ([`check`]), before
//! anything runs. The init writes the values ([`apply`]) once its
//! namespaces and network device exist and before it pivots, through its
//! `/proc/sys`: a sysctl file belongs to the namespace of the process that
//! writes it, whichever procfs it is opened through (`kernel.domainname`
//! by setdomainname(2): its file stays the host root's). A value the kernel
//! refuses (a read-only setting, an invalid value, a kernel that keeps a
//! setting root's) fails the start with the name and the error, as runc
//! does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// What a `--sysctl` can be refused for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SysctlError {
    #[error("invalid --sysctl {0:?}: expected NAME=VALUE (net.ipv4.ip_forward=1)")]
    Syntax(String),
    #[error("sysctl {name:?} is not allowed: only namespaced ones can be set in a container (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.domainname)")]
    NotNamespaced { name: String },
    #[error("sysctl {name:?} cannot be set: the container shares the {ns} namespace ({mode})")]
    Shared {
        name: String,
        ns: &'static str,
        mode: String,
    },
}

/// The namespace a settable sysctl belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Ipc,
    Net,
    Uts,
}

const IPC_NAMES: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `NAME=VALUE`, the name in sysctl(8)'s dotted form, where a slash
/// stands for a dot within a component (`net.ipv4.conf.eth0/100.rp_filter`
/// for the interface `eth0.100`). The slashed form (`net/ipv4/ip_forward`,
/// `net/ipv4/conf/eth0.100/rp_filter`) is taken too, as sysctl(8) and
/// Kubernetes take it: the first separator tells which form a name is in.
pub fn parse(arg: &str) -> Result<(String, String), SysctlError> {
    let bad = || SysctlError::Syntax(arg.to_string());
    let (name, value) = arg.split_once('=').ok_or_else(bad)?;
    let name = name.trim();
    let slashed = match (name.find('/'), name.find('.')) {
        (Some(s), Some(d)) => s < d,
        (Some(_), None) => true,
        _ => false,
    };
    let name = if slashed {
        swap_separators(name)
    } else {
        name.to_string()
    };
    let parts_ok = name.split('.').all(|p| {
        // The component as a file name: never `.`, `..` or hidden.
        !p.is_empty()
            && !p.starts_with('/')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b':' | b'/'))
    });
    if name.is_empty() || !parts_ok || value.contains('\n') {
        return Err(bad());
    }
    Ok((name, value.to_string()))
}

/// The namespace `name` belongs to, if it is one a container may set.
pub fn namespace_of(name: &str) -> Option<Namespace> {
    if IPC_NAMES.contains(&name) || name.starts_with("fs.mqueue.") {
        Some(Namespace::Ipc)
    } else if name.starts_with("net.") {
        Some(Namespace::Net)
    } else if name == "kernel.domainname" {
        Some(Namespace::Uts)
    } else {
        None
    }
}

/// Whether the container has the namespace to itself: `Err` names the
/// mode that shares it (`host`, `container:ID`).
pub struct Private {
    pub ipc: Result<(), String>,
    pub net: Result<(), String>,
    pub uts: Result<(), String>,
}

/// Every `--sysctl` given, checked against the namespaces the container
/// has of its own; later ones win for the same name, as docker's map.
pub fn check(args: &[String], private: &Private) -> Result<BTreeMap<String, String>, SysctlError> {
    let mut out = BTreeMap::new();
    for arg in args {
        let (name, value) = parse(arg)?;
        let (which, ns) = match namespace_of(&name) {
            Some(Namespace::Ipc) => (&private.ipc, "IPC"),
            Some(Namespace::Net) => (&private.net, "network"),
            Some(Namespace::Uts) => (&private.uts, "UTS"),
            None => return Err(SysctlError::NotNamespaced { name }),
        };
        if let Err(mode) = which {
            return Err(SysctlError::Shared {
                name,
                ns,
                mode: mode.clone(),
            });
        }
        out.insert(name, value);
    }
    Ok(out)
}

/// The other form of a sysctl name: dots and slashes swapped.
fn swap_separators(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// The file that holds `name` under a procfs's `sys` directory.
fn file_of(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(swap_separators(name))
}

/// Writes every value; the first that fails is the error, naming it.
pub fn apply(sysctls: &BTreeMap<String, String>) -> Result<(), super::RunError> {
    for (name, value) in sysctls {
        let written = if name == "kernel.domainname" {
            // Its /proc file stays the initial namespace's root's; the
            // system call asks for CAP_SYS_ADMIN over the UTS namespace.
            rustix::system::setdomainname(value.as_bytes()).map_err(std::io::Error::from)
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .open(file_of(name))
                .and_then(|mut f| f.write_all(value.as_bytes()))
        };
        if let Err(source) = written {
            let source = match source.kind() {
                std::io::ErrorKind::NotFound => {
                    std::io::Error::other("no such setting in this kernel")
                }
                _ => source,
            };
            return Err(super::RunError::Sysctl {
                name: name.clone(),
                source,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_private() -> Private {
        Private {
            ipc: Ok(()),
            net: Ok(()),
            uts: Ok(()),
        }
    }

    #[test]
    fn parses_names_and_values() {
        assert_eq!(
            parse("net.ipv4.ip_forward=1").unwrap(),
            ("net.ipv4.ip_forward".into(), "1".into())
        );
        assert_eq!(
            parse("net/ipv4/ping_group_range=0 2147483647").unwrap(),
            ("net.ipv4.ping_group_range".into(), "0 2147483647".into())
        );
        assert_eq!(parse("kernel.sem=").unwrap().1, "");
        // An interface name with a dot, in either form.
        for form in [
            "net.ipv4.conf.eth0/100.rp_filter=2",
            "net/ipv4/conf/eth0.100/rp_filter=2",
        ] {
            assert_eq!(
                parse(form).unwrap().0,
                "net.ipv4.conf.eth0/100.rp_filter",
                "{form}"
            );
        }
        for bad in [
            "net.ipv4.ip_forward",
            "=1",
            "net..x=1",
            "net.x/../y=1",
            "net/x/../y=1",
            "net.ipv4.conf./.x=1",
            "net.ipv4.conf.//.x=1",
            ".net=1",
            "a=1\n2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_namespaced_names_pass() {
        assert_eq!(namespace_of("kernel.shmmax"), Some(Namespace::Ipc));
        assert_eq!(namespace_of("fs.mqueue.msg_max"), Some(Namespace::Ipc));
        assert_eq!(namespace_of("net.core.somaxconn"), Some(Namespace::Net));
        assert_eq!(namespace_of("kernel.domainname"), Some(Namespace::Uts));
        for name in [
            "vm.swappiness",
            "kernel.hostname",
            "kernel.shmmaxx",
            "fs.file-max",
            "netx.y",
        ] {
            assert_eq!(namespace_of(name), None, "{name}");
        }
        let e = check(&["vm.swappiness=1".into()], &all_private()).unwrap_err();
        assert!(
            e.to_string().contains("\"vm.swappiness\" is not allowed"),
            "{e}"
        );
    }

    #[test]
    fn shared_namespaces_refuse_their_sysctls() {
        let p = Private {
            ipc: Ok(()),
            net: Err("host".into()),
            uts: Err("container:abc".into()),
        };
        let e = check(&["net.ipv4.ip_forward=1".into()], &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sysctl \"net.ipv4.ip_forward\" cannot be set: the container shares the network namespace (host)"
        );
        assert!(check(&["kernel.domainname=x".into()], &p).is_err());
        let ok = check(&["kernel.shmmax=1".into(), "kernel.shmmax=2".into()], &p).unwrap();
        assert_eq!(ok.get("kernel.shmmax").map(String::as_str), Some("2"));
    }

    #[test]
    fn files_follow_the_dots() {
        assert_eq!(
            file_of("net.ipv4.conf.all.forwarding"),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/forwarding")
        );
        assert_eq!(
            file_of("net.ipv4.conf.eth0/100.rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
    }
}
