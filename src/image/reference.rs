//! Image references, normalised the way docker does it.
//!
//! `busybox` means `docker.io/library/busybox:latest`; the first path
//! component is a registry host only when it contains `.` or `:`, or is
//! `localhost`. A reference names a tag, a digest, or both (the digest wins).
//! This is the parse alone: where a short name is pulled from, or found in
//! the store, podman's registries.conf may say otherwise (`image::shortnames`).

use super::digest::Digest;
use std::fmt;
use std::str::FromStr;

/// Docker Hub's canonical name, as shown to users.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed, normalised image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path, `library/busybox` for official images.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// Why a string is not a valid reference.
#[derive(Debug, thiserror::Error)]
#[error("invalid reference format {input:?}: {why}")]
pub struct BadReference {
    pub input: String,
    pub why: &'static str,
}

impl Reference {
    /// The host to send registry API requests to.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the registry's manifest endpoint for.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag`, when the reference has a tag.
    pub fn tagged_name(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    /// Parses a user-supplied name that need not name a registry; used for
    /// local look-ups and for `tag`/`import` targets.
    pub fn parse(input: &str) -> Result<Reference, BadReference> {
        input.parse()
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn bad(input: &str, why: &'static str) -> BadReference {
    BadReference {
        input: input.to_string(),
        why,
    }
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__', or any number of '-'.
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        // An IPv6 literal in brackets may itself contain ':'.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (h, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

impl FromStr for Reference {
    type Err = BadReference;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(bad(input, "empty"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let d = d
                    .parse::<Digest>()
                    .map_err(|_| bad(input, "digest must be sha256:<64 hex digits>"))?;
                (r, Some(d))
            }
            None => (input, None),
        };
        // A tag follows the last ':' after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(bad(
                        input,
                        "tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -",
                    ));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !valid_host(first) {
                    return Err(bad(input, "registry host is not a valid host[:port]"));
                }
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(bad(
                input,
                "repository names must be lowercase letters, digits and separators (. _ __ -)",
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(bad(input, "name longer than 255 characters"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Whether a registry host is on a loopback address, where docker allows
/// plain HTTP without configuration.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reference {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_defaults() {
        let r = p("busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(p("user/app:1.0").to_string(), "docker.io/user/app:1.0");
        assert_eq!(p("docker.io/busybox").repository, "library/busybox");
    }

    #[test]
    fn hosts_and_ports() {
        let r = p("127.0.0.1:5000/a/b/c:v1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(p("localhost/x").registry, "localhost");
        assert_eq!(p("localhost:5000/x").manifest_ref(), "latest");
        assert!(is_loopback_host("127.0.0.1:5000"));
        assert!(is_loopback_host("127.8.0.1"));
        assert!(is_loopback_host("[::1]:5000"));
        assert!(is_loopback_host("localhost:80"));
        assert!(!is_loopback_host("quay.io"));
        assert_eq!(p("[::1]:5000/x:y").registry, "[::1]:5000");
    }

    #[test]
    fn digests() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = p(&format!("alpine@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_ref(), d);
        let r = p(&format!("alpine:3@{d}"));
        assert_eq!(r.tag.as_deref(), Some("3"));
        assert_eq!(r.manifest_ref(), d);
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "",
            "UPPER/case",
            "a::b",
            "x@sha256:zz",
            "a//b",
            "-a",
            "a-",
            "a:-tag",
            "a:",
            "a b",
            "a..b",
            "a___b",
            "bad host:1/x",
            "h.io:99999999/x",
        ] {
            assert!(s.parse::<Reference>().is_err(), "{s:?} should be rejected");
        }
        assert!(valid_component("a--b"));
        assert!(valid_component("a__b"));
        assert!(valid_component("a.b_c"));
    }
}
