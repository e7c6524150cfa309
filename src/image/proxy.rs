//! Which HTTP proxy a connection uses, as podman's (Go's) clients choose.
//!
//! # Theory of operation
//!
//! Login nodes often reach registries only through a site proxy, named in
//! the environment; internal registries are then listed in `NO_PROXY`.
//! Users set these variables for podman, so rless reads them as Go's
//! `http.ProxyFromEnvironment` does, not as curl or ureq do:
//!
//! - the proxy is the request scheme's: `HTTPS_PROXY` (else `https_proxy`)
//!   for `https://`, `HTTP_PROXY` (else `http_proxy`) for `http://`. Go
//!   ignores `ALL_PROXY`; rless uses it only when the scheme's variable is
//!   unset (curl's meaning), so that a setting that worked before still does;
//! - `NO_PROXY` (else `no_proxy`) is a comma-separated list, each entry
//!   trimmed: `*` (everything), an IP address, a CIDR block (matching IP
//!   literal hosts), or a name with an optional `:port` (that port only).
//!   A name matches itself and every subdomain (`corp.example` covers
//!   `reg.corp.example`); a leading `.` or `*.` matches subdomains only
//!   (`*name`, without the dot, is a name, as Go reads it);
//! - a loopback host (`localhost`, 127.0.0.0/8, ::1) never goes through a
//!   proxy: a site proxy cannot reach this machine's `localhost:5000`.
//!
//! The decision is made for the host a connection is made for (the
//! registry, a URL of build's `ADD`). ureq applies one proxy per agent, so
//! the other hosts the same agent may reach (a token realm, a redirect to
//! blob storage) are matched by ureq against the names of `NO_PROXY`
//! translated to its forms; IP, CIDR and port entries apply only to the
//! connection's own host. A host that goes direct is one of those names
//! (the agent keeps its proxy): a site registry in `NO_PROXY` whose blobs
//! are redirected to outside storage reaches it through the proxy, as
//! podman does.
//!
//! Invariants: an empty variable is unset; a proxy value that does not
//! parse is no proxy (as ureq's own reading), never an error.

use std::net::IpAddr;

/// The proxy for a connection to `host` (`name[:port]`, IPv6 in brackets)
/// by `scheme` (`"https"` or `"http"`), from this process's environment.
pub fn proxy_for(scheme: &str, host: &str) -> Option<ureq::Proxy> {
    let env = |k: &str| std::env::var(k).ok();
    agent_proxy(&env, scheme, host)
}

/// The agent's proxy for connections to `host` by `scheme`, given `env`.
/// When `host` itself goes direct (`NO_PROXY`, loopback), the proxy is
/// still set, with `host` among ureq's no-proxy names: Go decides every
/// request anew, so the other hosts the agent reaches (blob storage a
/// site registry redirects to, a token realm) take the proxy if they need
/// it. Loopback names are always among them.
fn agent_proxy(
    env: &dyn Fn(&str) -> Option<String>,
    scheme: &str,
    host: &str,
) -> Option<ureq::Proxy> {
    let value = configured(env, scheme)?;
    let proxy = ureq::Proxy::new(&value).ok()?;
    let mut b = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port());
    if let Some(u) = proxy.username() {
        b = b.username(u);
    }
    if let Some(p) = proxy.password() {
        b = b.password(p);
    }
    let mut names = ureq_no_proxy(&no_proxy_list(env));
    names.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
    if choose(env, scheme, host).is_none() {
        // ureq compares the URL's host: IPv6 in brackets.
        let (name, _) = split_host(host, scheme);
        names.push(match name.contains(':') {
            true => format!("[{name}]"),
            false => name,
        });
    }
    for entry in names {
        b = b.no_proxy(&entry);
    }
    b.build().ok()
}

/// The proxy URL to use for `host` by `scheme`, given the environment
/// `env`; `None` for a direct connection.
fn choose(env: &dyn Fn(&str) -> Option<String>, scheme: &str, host: &str) -> Option<String> {
    if super::reference::is_loopback_host(host) {
        return None;
    }
    let (name, port) = split_host(host, scheme);
    if no_proxy_list(env)
        .iter()
        .any(|e| no_proxy_matches(e, &name, port))
    {
        return None;
    }
    configured(env, scheme)
}

/// The proxy URL the environment gives `scheme`, whatever `NO_PROXY` says.
fn configured(env: &dyn Fn(&str) -> Option<String>, scheme: &str) -> Option<String> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    let own = match scheme {
        "http" => get("HTTP_PROXY").or_else(|| get("http_proxy")),
        _ => get("HTTPS_PROXY").or_else(|| get("https_proxy")),
    };
    own.or_else(|| get("ALL_PROXY"))
        .or_else(|| get("all_proxy"))
}

/// `NO_PROXY`'s entries (else `no_proxy`'s), trimmed, lower-cased, empty
/// ones dropped.
fn no_proxy_list(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let raw = env("NO_PROXY")
        .filter(|v| !v.is_empty())
        .or_else(|| env("no_proxy"))
        .unwrap_or_default();
    raw.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect()
}

/// `host` as (lower-cased name without brackets, port), the port being
/// the scheme's default when none is written.
fn split_host(host: &str, scheme: &str) -> (String, u16) {
    let default = if scheme == "http" { 80 } else { 443 };
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') && !h.is_empty() && h.matches(':').count() == 0 => {
            (h, p.parse().unwrap_or(default))
        }
        Some((h, p)) if h.ends_with(']') => (h, p.parse().unwrap_or(default)),
        _ => (host, default),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    (name.to_ascii_lowercase(), port)
}

/// Whether the `NO_PROXY` entry `entry` covers `name` on `port` (Go's rules).
fn no_proxy_matches(entry: &str, name: &str, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    let ip = name.parse::<IpAddr>().ok();
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (net.parse::<IpAddr>(), bits.parse::<u32>(), ip) else {
            return false;
        };
        return in_block(ip, net, bits);
    }
    if let Ok(e) = entry
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return ip == Some(e);
    }
    // A name, with a port perhaps (`[v6]:port` and `v4:port` too).
    let (pattern, want_port) = match entry.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            (h, p.parse::<u16>().ok())
        }
        _ => (entry, None),
    };
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    let pattern = pattern.trim_start_matches('[').trim_end_matches(']');
    if let Ok(e) = pattern.parse::<IpAddr>() {
        return ip == Some(e);
    }
    // Only `*.` is a wildcard (Go's); `*name` is a name, matching nothing.
    let pattern = match pattern.starts_with("*.") {
        true => &pattern[1..],
        false => pattern,
    };
    match pattern.strip_prefix('.') {
        // Subdomains only.
        Some(_) => name.ends_with(pattern),
        // The name itself and its subdomains.
        None => name == pattern || name.ends_with(&format!(".{pattern}")),
    }
}

/// Whether `ip` is in the block `net`/`bits` (same family only).
fn in_block(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The name entries of `NO_PROXY` in ureq's forms, for the hosts other
/// than the connection's own: `name` becomes `name` and `.name`; IP, CIDR
/// and port entries have no ureq form and are left out.
fn ureq_no_proxy(entries: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if e == "*" {
            out.push(e.clone());
            continue;
        }
        let plain = match e.starts_with("*.") {
            true => &e[1..],
            false => e.as_str(),
        };
        let is_name = !plain.contains(['/', ':', '[', ']', '*'])
            && plain.trim_start_matches('.').parse::<IpAddr>().is_err();
        if !is_name {
            continue;
        }
        match plain.strip_prefix('.') {
            Some(_) => out.push(plain.to_string()),
            None => {
                out.push(plain.to_string());
                out.push(format!(".{plain}"));
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
