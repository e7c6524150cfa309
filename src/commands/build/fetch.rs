//! ADD of a URL: the file is downloaded, then sent as a context file is.
//!
//! Theory of operation: as docker and podman do, an `http://` or
//! `https://` source is fetched by the build itself (not from a step
//! container, so with the host's network whatever `--network` says), into
//! a temporary directory of its own that goes when the step is done. The
//! file is named after the last component of the URL's path (without the
//! query), gets mode 0600 as docker gives it, and is never extracted even
//! when it is an archive. A status other than 2xx fails the step, naming
//! the URL and the status. `--checksum=sha256:HEX` (or sha512) is
//! checked against the file downloaded: a mismatch fails the step naming
//! the URL and both digests. A git source (`git@…`, `git://`, `ssh://`,
//! an http(s) URL ending in `.git`) is not fetched: rless has no git.

use super::context::Source;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

/// A downloaded file; its directory is removed when this is dropped.
pub struct Fetched {
    dir: PathBuf,
    pub source: Source,
}

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `src` is a URL that ADD downloads.
pub fn is_url(src: &str) -> bool {
    src.contains("://")
}

/// Whether `src` names a git repository as docker's ADD reads one.
pub fn is_git(src: &str) -> bool {
    let path = src.split(['#', '?']).next().unwrap_or("");
    ["git@", "git://", "ssh://", "github.com/"]
        .iter()
        .any(|p| src.starts_with(p))
        || (is_url(src) && path.trim_end_matches('/').ends_with(".git"))
}

/// `ADD --checksum=ALGO:HEX`.
#[derive(Debug, PartialEq)]
pub struct Checksum {
    algo: &'static str,
    hex: String,
}

impl Checksum {
    /// `sha256:` and 64 hex digits, or `sha512:` and 128.
    pub fn parse(spec: &str) -> Result<Checksum> {
        let (algo, len) = match spec.split_once(':') {
            Some(("sha256", _)) => ("sha256", 64),
            Some(("sha512", _)) => ("sha512", 128),
            _ => bail!("--checksum={spec}: use sha256:HEX (or sha512:HEX)"),
        };
        let hex = &spec[algo.len() + 1..];
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--checksum={spec}: a {algo} digest is {len} hex digits");
        }
        Ok(Checksum {
            algo,
            hex: hex.to_ascii_lowercase(),
        })
    }

    /// The file at `path`, downloaded from `url`, has this digest.
    pub fn verify(&self, url: &str, path: &std::path::Path) -> Result<()> {
        let mut f =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let got = match self.algo {
            "sha256" => digest_of::<sha2::Sha256>(&mut f),
            _ => digest_of::<sha2::Sha512>(&mut f),
        }
        .with_context(|| format!("cannot read {}", path.display()))?;
        let got: String = got.iter().map(|b| format!("{b:02x}")).collect();
        if got != self.hex {
            bail!(
                "ADD {url}: checksum mismatch: expected {}:{}, got {}:{got}",
                self.algo,
                self.hex,
                self.algo
            );
        }
        Ok(())
    }
}

/// The digest `D` of what `f` holds.
fn digest_of<D: sha2::Digest>(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(h.finalize().to_vec()),
            n => h.update(&buf[..n]),
        }
    }
}

/// Downloads `url`.
pub fn fetch(url: &str) -> Result<Fetched> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        bail!("ADD {url}: only http:// and https:// URLs are fetched");
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let name = path
        .split_once('/')
        .map_or("", |(_, p)| p)
        .rsplit('/')
        .find(|c| !c.is_empty())
        .unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        bail!("ADD {url}: the URL names no file");
    }
    let dir = std::env::temp_dir().join(format!(
        "rless-add-{}-{}",
        std::process::id(),
        rless::container::ContainerId::random().short()
    ));
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let fetched = Fetched {
        dir: dir.clone(),
        source: Source {
            rel: name.to_string(),
            path: dir.join(name),
            is_dir: false,
        },
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // The system's CAs (a site's own, a TLS-inspecting proxy's).
        .tls_config(rless::image::trust::system_tls_config())
        // The environment's proxy for this URL, as podman's (Go's).
        .proxy(url.parse::<ureq::http::Uri>().ok().and_then(|u| {
            let host = u
                .authority()
                .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_string())?;
            rless::image::proxy::proxy_for(u.scheme_str().unwrap_or("https"), &host)
        }))
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("rless/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| anyhow!("ADD {url}: {e}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("ADD {url}: the server answered {status}");
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fetched.source.path)
        .with_context(|| format!("cannot create {}", fetched.source.path.display()))?;
    let mut body = resp.into_body();
    std::io::copy(&mut body.as_reader(), &mut out).map_err(|e| anyhow!("ADD {url}: {e}"))?;
    out.flush()?;
    std::fs::set_permissions(&fetched.source.path, std::fs::Permissions::from_mode(0o600))?;
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_sources_and_checksums() {
        for git in [
            "git@github.com:moby/buildkit.git",
            "git://example.com/r",
            "ssh://git@example.com/r.git",
            "https://example.com/r.git",
            "https://example.com/r.git#v1",
            "github.com/moby/buildkit",
        ] {
            assert!(is_git(git), "{git}");
        }
        for not in ["https://example.com/tool.sh", "file.git", "dir/x"] {
            assert!(!is_git(not), "{not}");
        }
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "hello\n").unwrap();
        let good = "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        Checksum::parse(good).unwrap().verify("u", &f).unwrap();
        let bad = format!("sha256:{}", "0".repeat(64));
        let e = Checksum::parse(&bad)
            .unwrap()
            .verify("http://h/f", &f)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("ADD http://h/f: checksum mismatch: expected {bad}, got {good}")
        );
        for wrong in [
            "md5:00",
            "sha256:abc",
            "sha256",
            &format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(Checksum::parse(wrong).is_err(), "{wrong}");
        }
    }
}
