//! ADD of a URL: the file is downloaded, then sent as a context file is.
//!
//! Theory of operation: as docker and podman do, an `http://` or
//! `https://` source is fetched by the build itself (not from a step
//! container, so with the host's network whatever `--network` says), into
//! a temporary directory of its own that goes when the step is done. The
//! file is named after the last component of the URL's path (without the
//! query), gets mode 0600 as docker gives it, and is never extracted even
//! when it is an archive. A status other than 2xx fails the step, naming
//! the URL and the status.

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
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
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
