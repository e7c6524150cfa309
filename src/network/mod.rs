//! User-defined networks (`rless network …`, `run --network NAME`).
//!
//! Theory of operation. A network is a definition in the store,
//! `networks/<name>.json` (subnet, gateway, internal, labels), written under
//! the `networks` lock to a temporary name and renamed into place, so a
//! half-made network never shows. Subnets never overlap each other, the
//! host's routes, or the userspace network's 10.0.2.0/24 (the uplink of
//! every network uses it inside the network's namespace).
//!
//! At run time ([`helper`]) one helper process per user and store holds a
//! user namespace U, and per network a network namespace with a kernel
//! bridge, a DNS server on the gateway address and an uplink through
//! netstack. Containers on user networks join U instead of making their own
//! user namespace, so the helper can give them veth pairs into the bridge.
//! Addresses are allocated by the helper while a container runs and are
//! free again once it stops; nothing of a network runs while no container
//! is attached to it.

pub mod client;
pub mod dns;
mod dns_tcp;
mod forward;
pub mod helper;
mod links;
pub mod podnames;
mod protocol;
pub mod publish;
mod upstream;

use crate::image::store::{tmp_name, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// Names `--network` gives other meanings to.
pub const RESERVED: &[&str] = &[
    "slirp",
    "slirp4netns",
    "pasta",
    "bridge",
    "default",
    "private",
    "none",
    "host",
];

/// The userspace network inside every network namespace (the uplink).
pub const UPLINK: Subnet = Subnet {
    addr: Ipv4Addr::new(10, 0, 2, 0),
    prefix: 24,
};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid subnet {0:?}: use an IPv4 network such as 10.89.0.0/24 (prefix 8 to 29)")]
    BadSubnet(String),
    #[error("invalid subnet {0}: loopback, link-local, multicast and reserved addresses cannot be a network")]
    SpecialSubnet(String),
    #[error("invalid subnet {given}: the host bits are set; did you mean {network}?")]
    HostBits { given: String, network: Subnet },
    #[error("invalid gateway {0:?}: not an IPv4 address")]
    BadGateway(String),
    #[error("{what} {ip} is not a host address in subnet {subnet}")]
    OutsideSubnet {
        what: &'static str,
        ip: Ipv4Addr,
        subnet: Subnet,
    },
    #[error("subnet {subnet} overlaps {other}")]
    Overlap { subnet: Subnet, other: String },
    #[error(
        "invalid --ip-range {0:?}: use an IPv4 network inside the subnet, such as 10.89.5.128/25"
    )]
    BadRange(String),
    #[error("--ip-range needs --subnet (the range is part of it)")]
    RangeWithoutSubnet,
    #[error("--ip-range {range} is not inside subnet {subnet}, or has no address for a container (gateway aside)")]
    RangeOutside { range: Subnet, subnet: Subnet },
    #[error("no free subnet left between 10.89.0.0/24 and 10.89.255.0/24")]
    NoFreeSubnet,
    #[error("invalid network name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("network name {0:?} is reserved for --network {0}")]
    Reserved(String),
    #[error("network {0} already exists")]
    Exists(String),
    #[error("no such network: {0}")]
    NotFound(String),
    #[error("network {name} is in use by container(s) {containers}; remove them first")]
    InUse { name: String, containers: String },
    #[error("refusing the runtime directory {0}: it is not a directory of this user's (set XDG_RUNTIME_DIR)")]
    NotPrivate(PathBuf),
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError {
    let path = path.to_path_buf();
    move |source| NetworkError::Io { op, path, source }
}

/// An IPv4 network: address (host bits clear) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, NetworkError> {
        let bad = || NetworkError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=29).contains(&prefix) {
            return Err(bad());
        }
        let net = Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        };
        if net.addr != addr {
            return Err(NetworkError::HostBits {
                given: s.to_string(),
                network: net,
            });
        }
        Ok(net)
    }

    /// A network's `--ip-range`: as [`Subnet::parse`], prefix 8 to 32.
    pub fn parse_range(s: &str) -> Result<Subnet, NetworkError> {
        let bad = || NetworkError::BadRange(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=32).contains(&prefix) || u32::from(addr) & !mask(prefix) != 0 {
            return Err(bad());
        }
        Ok(Subnet { addr, prefix })
    }

    /// Whether `ip` is in the subnet (network and broadcast addresses too).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first()..=self.last()).contains(&u32::from(ip))
    }

    /// [`Subnet::parse`] for a new network: also refuses addresses no
    /// container can use as its own (the stack would answer for loopback
    /// ones, and routes never reach the others). Stored networks are
    /// read with `parse`, so one made before stays usable.
    pub fn parse_new(s: &str) -> Result<Subnet, NetworkError> {
        let net = Subnet::parse(s)?;
        let special = [
            ("0.0.0.0", 8),
            ("127.0.0.0", 8),
            ("169.254.0.0", 16),
            ("224.0.0.0", 4),
            ("240.0.0.0", 4),
        ];
        if special.iter().any(|(a, p)| {
            net.overlaps(&Subnet {
                addr: a.parse().expect("literal"),
                prefix: *p,
            })
        }) {
            return Err(NetworkError::SpecialSubnet(s.to_string()));
        }
        Ok(net)
    }

    fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    /// Whether `ip` is in the subnet and neither its network nor its
    /// broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        n > self.first() && n < self.last()
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.first() <= o.last() && o.first() <= self.last()
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let ip = self.first().checked_add(n)?;
        (ip < self.last()).then(|| Ipv4Addr::from(ip))
    }

    /// How many host addresses it has.
    pub fn hosts(&self) -> u32 {
        self.last() - self.first() - 1
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Subnet::parse(&s).map_err(|e| e.to_string())
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// A network id: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkId(String);

impl NetworkId {
    pub fn random() -> NetworkId {
        NetworkId(crate::container::ContainerId::random().as_str().to_string())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn short(&self) -> &str {
        &self.0[..12.min(self.0.len())]
    }
}

/// `networks/<name>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub name: String,
    pub id: NetworkId,
    pub driver: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    /// `--opt allow_host_loopback=true`: 10.0.2.2 reaches the host's
    /// 127.0.0.1 through the uplink, as with `--network slirp:…`.
    #[serde(default)]
    pub allow_host_loopback: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created: i64,
    /// `--ip-range`: the addresses handed out (not `--ip`) are taken from
    /// it only.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "range_from_text"
    )]
    pub ip_range: Option<Subnet>,
    /// `--disable-dns`: no DNS server on the gateway; containers get the
    /// host's resolvers (or `--dns`) instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_dns: bool,
}

/// `ip_range` as stored: read with [`Subnet::parse_range`] (a /30 to /32
/// is a range, not a network).
fn range_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Subnet>, D::Error> {
    let text: Option<String> = Deserialize::deserialize(d)?;
    text.map(|t| Subnet::parse_range(&t).map_err(serde::de::Error::custom))
        .transpose()
}

impl NetworkConfig {
    /// Whether the helper may hand out `ip` (a host address of the subnet,
    /// not the gateway) on its own: inside `--ip-range`, if there is one,
    /// and not the range's first address (podman's leases start after it),
    /// unless the range is a /31 or /32.
    pub fn leases(&self, ip: Ipv4Addr) -> bool {
        self.ip_range
            .is_none_or(|r| r.contains(ip) && (ip != r.addr || r.prefix >= 31))
    }

    /// The first and last address handed out, with `--ip-range`.
    pub fn lease_range(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        self.ip_range?;
        let mut hosts = (1..=self.subnet.hosts())
            .filter_map(|n| self.subnet.nth(n))
            .filter(|ip| *ip != self.gateway && self.leases(*ip));
        let first = hosts.next()?;
        Some((first, hosts.next_back().unwrap_or(first)))
    }
}

/// What `network create` asks for.
#[derive(Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub allow_host_loopback: bool,
    pub labels: BTreeMap<String, String>,
    pub ip_range: Option<String>,
    pub disable_dns: bool,
}

/// How a container joins one network (`run --network NAME
/// --network-alias A --ip IP`), as stored in its spec. `aliases` starts
/// with the container's name and short id (its own names, which answer
/// with it alone; [`dns::OWN_NAMES`]), then its `--network-alias`es.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
}

pub fn networks_dir(root: &Path) -> PathBuf {
    root.join("networks")
}

fn config_path(root: &Path, name: &str) -> PathBuf {
    networks_dir(root).join(format!("{name}.json"))
}

/// Takes the `networks` lock (definitions and their use by containers).
pub fn lock(store: &Store) -> Result<fs::File, NetworkError> {
    Ok(store.lock("networks")?)
}

pub fn valid_name(name: &str) -> bool {
    crate::container::valid_name(name)
}

/// Every network, sorted by name.
pub fn list(root: &Path) -> Vec<NetworkConfig> {
    let mut v: Vec<NetworkConfig> = crate::container::json_records(&networks_dir(root));
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// One network by name (or id prefix of at least 3 digits).
pub fn read(root: &Path, query: &str) -> Result<NetworkConfig, NetworkError> {
    if valid_name(query) {
        if let Ok(b) = fs::read(config_path(root, query)) {
            return serde_json::from_slice(&b).map_err(|e| NetworkError::Io {
                op: "parse",
                path: config_path(root, query),
                source: std::io::Error::other(e),
            });
        }
    }
    let by_id: Vec<NetworkConfig> = list(root)
        .into_iter()
        .filter(|n| query.len() >= 3 && n.id.as_str().starts_with(query))
        .collect();
    match <[NetworkConfig; 1]>::try_from(by_id) {
        Ok([n]) => Ok(n),
        Err(_) => Err(NetworkError::NotFound(query.to_string())),
    }
}

/// The host's IPv4 routes (destination networks, the default route left
/// out), from /proc/net/route.
pub fn host_routes() -> Vec<Subnet> {
    let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file holds addresses in the kernel's (network) byte order.
            let dst = Ipv4Addr::from(dst.to_ne_bytes());
            let prefix = u32::from_be_bytes(m.to_ne_bytes()).count_ones() as u8;
            (prefix > 0).then_some(Subnet { addr: dst, prefix })
        })
        .collect()
}

/// What `subnet` may not overlap, with a name for messages.
fn taken(root: &Path) -> Vec<(Subnet, String)> {
    let mut v: Vec<(Subnet, String)> = list(root)
        .into_iter()
        .map(|n| (n.subnet, format!("network {}", n.name)))
        .collect();
    v.extend(
        host_routes()
            .into_iter()
            .map(|r| (r, format!("the host route {r}"))),
    );
    v.push((UPLINK, "the userspace network 10.0.2.0/24".into()));
    v
}

/// Creates a network; fails with nothing written on bad input.
pub fn create(store: &Store, req: CreateRequest) -> Result<NetworkConfig, NetworkError> {
    if !valid_name(&req.name) {
        return Err(NetworkError::BadName(req.name));
    }
    if RESERVED.contains(&req.name.as_str()) {
        return Err(NetworkError::Reserved(req.name));
    }
    let explicit = req.subnet.as_deref().map(Subnet::parse_new).transpose()?;
    let ip_range = req
        .ip_range
        .as_deref()
        .map(Subnet::parse_range)
        .transpose()?;
    if ip_range.is_some() && explicit.is_none() {
        return Err(NetworkError::RangeWithoutSubnet);
    }
    let gateway = req
        .gateway
        .as_deref()
        .map(|g| {
            g.parse::<Ipv4Addr>()
                .map_err(|_| NetworkError::BadGateway(g.to_string()))
        })
        .transpose()?;
    let root = store.root();
    let dir = networks_dir(root);
    fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
    let _lock = lock(store)?;
    if config_path(root, &req.name).exists() {
        return Err(NetworkError::Exists(req.name));
    }
    let taken = taken(root);
    let subnet = match explicit {
        Some(s) => {
            if let Some((_, what)) = taken.iter().find(|(t, _)| t.overlaps(&s)) {
                return Err(NetworkError::Overlap {
                    subnet: s,
                    other: what.clone(),
                });
            }
            s
        }
        None => (0..=255u8)
            .map(|n| Subnet {
                addr: Ipv4Addr::new(10, 89, n, 0),
                prefix: 24,
            })
            .find(|s| !taken.iter().any(|(t, _)| t.overlaps(s)))
            .ok_or(NetworkError::NoFreeSubnet)?,
    };
    let gateway = match gateway {
        Some(g) if subnet.is_host(g) => g,
        Some(g) => {
            return Err(NetworkError::OutsideSubnet {
                what: "gateway",
                ip: g,
                subnet,
            })
        }
        None => subnet.nth(1).expect("a /29 or larger has hosts"),
    };
    let config = NetworkConfig {
        name: req.name,
        id: NetworkId::random(),
        driver: "bridge".into(),
        subnet,
        gateway,
        internal: req.internal,
        allow_host_loopback: req.allow_host_loopback,
        labels: req.labels,
        created: crate::image::time::now(),
        ip_range,
        disable_dns: req.disable_dns,
    };
    if let Some(range) = ip_range {
        if !(subnet.contains(range.addr) && subnet.contains(Ipv4Addr::from(range.last())))
            || config.lease_range().is_none()
        {
            return Err(NetworkError::RangeOutside { range, subnet });
        }
    }
    let tmp = dir.join(tmp_name("net"));
    let body = serde_json::to_vec_pretty(&config).expect("json");
    fs::write(&tmp, body).map_err(io_err("write", &tmp))?;
    let dst = config_path(root, &config.name);
    if let Err(e) = fs::rename(&tmp, &dst) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename into place", &dst)(e));
    }
    crate::events::named(root, crate::events::Kind::Network, "create", &config.name);
    Ok(config)
}

/// The containers (names) whose spec joins network `name`.
pub fn users(root: &Path, name: &str) -> Vec<String> {
    crate::container::list_at(root)
        .into_iter()
        .filter(|c| {
            let dir = root.join("containers").join(c.id.as_str());
            crate::container::read_spec(&dir)
                .map(|s| {
                    s.user_networks
                        .is_some_and(|u| u.attachments.iter().any(|a| a.network == name))
                })
                .unwrap_or(false)
        })
        .map(|c| c.name)
        .collect()
}

/// Removes a network no container uses. Call with the `networks` lock held.
pub fn remove_locked(root: &Path, name: &str) -> Result<(), NetworkError> {
    let users = users(root, name);
    if !users.is_empty() {
        return Err(NetworkError::InUse {
            name: name.to_string(),
            containers: users.join(", "),
        });
    }
    let p = config_path(root, name);
    fs::remove_file(&p).map_err(io_err("remove", &p))?;
    crate::events::named(root, crate::events::Kind::Network, "remove", name);
    Ok(())
}

/// The runtime directory of the helper of the store at `root`:
/// `$XDG_RUNTIME_DIR/rless/net-<hash of the store path>` (or under
/// `/tmp/rless-run-UID` without XDG_RUNTIME_DIR, or when it names no
/// directory). Gone after a reboot, and that is fine.
pub fn runtime_dir(root: &Path) -> PathBuf {
    let (base, _) = runtime_base();
    let canon = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = crate::image::digest::Digest::of(canon.as_os_str().as_encoded_bytes());
    base.join("rless")
        .join(format!("net-{}", &digest.hex()[..12]))
}

/// The base of [`runtime_dir`], and whether it is the shared /tmp's.
/// That one is named after the user's uid on the host, also as seen from
/// a monitor or helper inside the user namespace (where it is 0). It is
/// also taken when XDG_RUNTIME_DIR is no directory of this user's (see
/// [`crate::config::user_runtime_dir`]).
fn runtime_base() -> (PathBuf, bool) {
    match crate::config::user_runtime_dir() {
        Some(d) => (d, false),
        None => {
            let uid = rustix::process::getuid().as_raw();
            let map = fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
            let host = outer_id(&map, uid).unwrap_or(uid);
            (PathBuf::from(format!("/tmp/rless-run-{host}")), true)
        }
    }
}

/// `id` of this user namespace as its parent sees it, from a uid_map's
/// `INSIDE OUTSIDE COUNT` lines.
fn outer_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let id = u64::from(id);
        (inside <= id && id < inside + count)
            .then(|| u32::try_from(outside + (id - inside)).ok())
            .flatten()
    })
}

/// [`runtime_dir`], made (mode 0700) if needed. Without XDG_RUNTIME_DIR
/// its base is in the shared /tmp, where anyone may have made that name
/// first, with a `helper.sock` of theirs in it: the base must be a real
/// directory of this user's, and is made private (0700) if it was not.
pub fn prepare_runtime_dir(root: &Path) -> Result<PathBuf, NetworkError> {
    prepare_below_runtime_base(&runtime_dir(root))
}

/// `$XDG_RUNTIME_DIR/rless/NAME` (or under `/tmp/rless-run-UID`, checked
/// as [`prepare_runtime_dir`] checks it), made (mode 0700) if needed: for
/// what must not outlive a reboot nor sit in the store (a build's secrets).
pub fn prepare_user_runtime_dir(name: &str) -> Result<PathBuf, NetworkError> {
    prepare_below_runtime_base(&user_runtime_path(name))
}

/// Where [`prepare_user_runtime_dir`] puts NAME, unchecked and not made.
pub fn user_runtime_path(name: &str) -> PathBuf {
    runtime_base().0.join("rless").join(name)
}

/// Makes `dir`, below [`runtime_base`], after checking that base.
fn prepare_below_runtime_base(dir: &Path) -> Result<PathBuf, NetworkError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let dir = dir.to_path_buf();
    let (base, shared) = runtime_base();
    if shared {
        match fs::DirBuilder::new().mode(0o700).create(&base) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io_err("create", &base)(e));
            }
            _ => {}
        }
        let m = fs::symlink_metadata(&base).map_err(io_err("inspect", &base))?;
        if !m.is_dir() || m.uid() != rustix::process::getuid().as_raw() {
            return Err(NetworkError::NotPrivate(base));
        }
        if m.mode() & 0o077 != 0 {
            fs::set_permissions(&base, fs::Permissions::from_mode(0o700))
                .map_err(io_err("make private", &base))?;
        }
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err("create", &dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests;
