//! Which certificate authorities a registry connection trusts, and which
//! client certificate it shows: the system's trust store and podman's and
//! docker's per-registry `certs.d` directories.
//!
//! Theory of operation:
//! - Roots: the system's CA bundle, as curl and podman read it (the file
//!   `SSL_CERT_FILE` names, else the first of the distributions' bundle
//!   paths; the files of `SSL_CERT_DIR`'s directories, a colon-separated
//!   list, are added), so a site's own CA or a
//!   TLS-inspecting proxy's, installed the distribution's way, is trusted.
//!   A machine without a bundle falls back to the Mozilla roots rless
//!   carries. The bundle is read once per process.
//! - Per registry, as containers-certs.d(5): the first of
//!   `--cert-dir` (alone when given), `$XDG_CONFIG_HOME/containers/certs.d/HOST[:PORT]`
//!   (`~/.config/…`), `/etc/containers/certs.d/HOST[:PORT]` and
//!   `/etc/docker/certs.d/HOST[:PORT]` that exists is read: its `*.crt`
//!   files are CAs added to the roots, a `NAME.cert` with its `NAME.key` is
//!   the client certificate (mutual TLS). A file there that cannot be read
//!   or holds no certificate is an error naming it, not a silent fallback.
//! - `--tls-verify=false` and loopback registries skip verification (the
//!   client's `insecure`); their certs.d directory is still read, as
//!   podman reads it, and its client certificate shown.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use ureq::tls::{parse_pem, Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The distributions' CA bundles (Debian and Ubuntu, Fedora and RHEL,
/// RHEL's extracted form, openSUSE, Alpine and others).
const BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Bad { path: PathBuf, detail: String },
}

/// What a connection to one registry trusts and shows.
pub struct Trust {
    pub roots: RootCerts,
    pub client: Option<ClientCert>,
    /// The certs.d directory read, if any.
    pub dir: Option<PathBuf>,
}

/// The trust for `host` (`name[:port]`, as the registry is named), with
/// `cert_dir` (`--cert-dir`) in place of the certs.d search.
pub fn for_registry(host: &str, cert_dir: Option<&Path>) -> Result<Trust, TrustError> {
    let dir = match cert_dir {
        Some(d) => Some(d.to_path_buf()),
        None => search_dirs()
            .into_iter()
            .map(|base| base.join(host))
            .find(|d| d.is_dir()),
    };
    let system = system_roots();
    let Some(dir) = dir else {
        return Ok(Trust {
            roots: system_root_certs(),
            client: None,
            dir: None,
        });
    };
    let (cas, client) = read_cert_dir(&dir)?;
    // A certs.d CA adds to the system's roots; without a system bundle,
    // it is the only root (podman's pool is the system's or empty too).
    let mut roots: Vec<Certificate<'static>> = system.map(|s| s.to_vec()).unwrap_or_default();
    roots.extend(cas);
    Ok(Trust {
        roots: RootCerts::Specific(Arc::new(roots)),
        client,
        dir: Some(dir),
    })
}

/// The TLS settings of a connection to `host`: [`for_registry`]'s client
/// certificate, and its roots unless `insecure` (no verification). Every
/// HTTPS client rless makes for a registry (Docker Hub's search API too)
/// takes its settings from here.
pub fn tls_config(
    host: &str,
    cert_dir: Option<&Path>,
    insecure: bool,
) -> Result<TlsConfig, TrustError> {
    // The client certificate is shown without verification too (podman
    // reads certs.d whatever --tls-verify says): a registry that wants one
    // behind a self-signed certificate or a localhost tunnel.
    let trust = for_registry(host, cert_dir)?;
    let tls = TlsConfig::builder()
        .client_cert(trust.client)
        .disable_verification(insecure);
    Ok(match insecure {
        true => tls,
        false => tls.root_certs(trust.roots),
    }
    .build())
}

/// The TLS settings of an HTTPS download that is not from a registry (a
/// build's `ADD URL`): the system's roots, as curl's.
pub fn system_tls_config() -> TlsConfig {
    TlsConfig::builder().root_certs(system_root_certs()).build()
}

/// The system's roots, or the Mozilla roots rless carries without a bundle.
fn system_root_certs() -> RootCerts {
    match system_roots() {
        Some(certs) => RootCerts::Specific(certs.clone()),
        None => RootCerts::WebPki,
    }
}

/// The certs.d directories, in the order podman reads them.
fn search_dirs() -> Vec<PathBuf> {
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|c| c.join("containers/certs.d"));
    user.into_iter()
        .chain([
            PathBuf::from("/etc/containers/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ])
        .collect()
}

/// The system's CA certificates, read once; `None` without a bundle.
fn system_roots() -> Option<&'static Arc<Vec<Certificate<'static>>>> {
    static ROOTS: OnceLock<Option<Arc<Vec<Certificate<'static>>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let file = std::env::var_os("SSL_CERT_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()));
            let dirs = std::env::var("SSL_CERT_DIR").unwrap_or_default();
            let certs = read_system(file.as_deref(), &dirs);
            (!certs.is_empty()).then(|| Arc::new(certs))
        })
        .as_ref()
}

/// The certificates of the bundle `file` and of the files in `dirs`, a
/// colon-separated list as OpenSSL and Go read `SSL_CERT_DIR`. What cannot
/// be read is skipped.
fn read_system(file: Option<&Path>, dirs: &str) -> Vec<Certificate<'static>> {
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    if let Some(text) = file.and_then(|f| std::fs::read(f).ok()) {
        certs.extend(certificates(&text));
    }
    for dir in dirs.split(':').filter(|d| !d.is_empty()) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if let Ok(text) = std::fs::read(entry.path()) {
                certs.extend(certificates(&text));
            }
        }
    }
    certs
}

/// The certificates in PEM `text` (other items and damaged ones skipped).
fn certificates(text: &[u8]) -> impl Iterator<Item = Certificate<'static>> + '_ {
    parse_pem(text).filter_map(|item| match item {
        Ok(PemItem::Certificate(c)) => Some(c),
        _ => None,
    })
}

/// A certs.d directory: its CAs (`*.crt`) and client certificate
/// (`NAME.cert` with `NAME.key`).
fn read_cert_dir(
    dir: &Path,
) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>), TrustError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TrustError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let bad = |path: &Path, detail: &str| TrustError::Bad {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    let entries = std::fs::read_dir(dir).map_err(|source| TrustError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut cas = Vec::new();
    let mut client = None;
    for path in &paths {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                let text = read(path)?;
                let found: Vec<_> = certificates(&text).collect();
                if found.is_empty() {
                    return Err(bad(path, "no PEM certificate in it"));
                }
                cas.extend(found);
            }
            Some("cert") => {
                let key_path = path.with_extension("key");
                if !key_path.exists() {
                    return Err(bad(
                        path,
                        &format!("client certificate without its key {}", key_path.display()),
                    ));
                }
                let chain: Vec<_> = certificates(&read(path)?).collect();
                if chain.is_empty() {
                    return Err(bad(path, "no PEM certificate in it"));
                }
                let key = PrivateKey::from_pem(&read(&key_path)?)
                    .map_err(|e| bad(&key_path, &format!("not a PEM private key: {e}")))?;
                client = Some(ClientCert::new_with_certs(&chain, key));
            }
            Some("key") if !path.with_extension("cert").exists() => {
                return Err(bad(
                    path,
                    "a client key without its certificate (NAME.cert)",
                ));
            }
            _ => {}
        }
    }
    Ok((cas, client))
}

/// Advice for a failed TLS handshake, for the error line.
pub fn hint(detail: &str, host: &str) -> Option<String> {
    let lower = detail.to_ascii_lowercase();
    let dirs = format!(
        "~/.config/containers/certs.d/{host}/ (or /etc/containers/certs.d/{host}/), or --cert-dir DIR"
    );
    if lower.contains("alert") && lower.contains("certificate") {
        // The server refused the handshake over our (missing) certificate.
        return Some(format!(
            "the registry wants a client certificate: put NAME.cert and NAME.key in {dirs}"
        ));
    }
    (lower.contains("invalid peer certificate") || lower.contains("unknownissuer")).then(|| {
        format!(
            "the registry's certificate is not trusted: install its CA in the system trust store \
             or as ca.crt in {dirs}; --tls-verify=false skips the check"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throw-away self-signed certificate (PEM), made for these tests.
    const CERT: &str = include_str!("trust_test_cert.pem");
    /// A throw-away private key (PEM), made for these tests; it belongs to
    /// no certificate (nothing here checks that it does).
    const KEY: &str = include_str!("trust_test_key.pem");

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap();
        }
        d
    }

    #[test]
    fn a_cert_dir_adds_its_cas() {
        let d = dir_with(&[("ca.crt", CERT), ("README", "not read")]);
        let t = for_registry("reg.example:5000", Some(d.path())).unwrap();
        let RootCerts::Specific(roots) = &t.roots else {
            panic!("specific roots expected")
        };
        assert!(!roots.is_empty());
        assert!(t.client.is_none());
        assert_eq!(t.dir.as_deref(), Some(d.path()));
    }

    #[test]
    fn ssl_cert_dir_is_a_list_of_directories() {
        let a = dir_with(&[("a.pem", CERT)]);
        let b = dir_with(&[("b.pem", CERT), ("junk", "not a certificate")]);
        let dirs = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(read_system(None, &dirs).len(), 2);
        let bundle = a.path().join("a.pem");
        assert_eq!(read_system(Some(&bundle), "").len(), 1);
        assert!(read_system(None, "/nonexistent:").is_empty());
    }

    #[test]
    fn the_client_certificate_is_shown_without_verification_too() {
        let d = dir_with(&[("client.cert", CERT), ("client.key", KEY)]);
        for insecure in [false, true] {
            let tls = tls_config("r:1", Some(d.path()), insecure).unwrap();
            assert!(tls.client_cert().is_some(), "insecure {insecure}");
            assert_eq!(tls.disable_verification(), insecure);
        }
    }

    #[test]
    fn bad_cert_dirs_are_errors() {
        let empty_crt = dir_with(&[("ca.crt", "nothing here")]);
        assert!(for_registry("r", Some(empty_crt.path())).is_err());
        let lone_cert = dir_with(&[("client.cert", CERT)]);
        let e = for_registry("r", Some(lone_cert.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("without its key"), "{e}");
        let lone_key = dir_with(&[("client.key", "x")]);
        assert!(for_registry("r", Some(lone_key.path())).is_err());
        assert!(for_registry("r", Some(Path::new("/nonexistent/certs"))).is_err());
    }

    #[test]
    fn hints_only_for_certificate_failures() {
        let ca = hint("io: invalid peer certificate: UnknownIssuer", "r:1").unwrap();
        assert!(
            ca.contains("not trusted") && ca.contains("certs.d/r:1/"),
            "{ca}"
        );
        let client = hint("io: received fatal alert: BadCertificate", "r:1").unwrap();
        assert!(client.contains("client certificate"), "{client}");
        assert!(hint("Connection refused", "r:1").is_none());
    }
}
