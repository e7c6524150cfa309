//! A small blocking client for the Docker Registry HTTP API v2 / OCI
//! distribution spec.
//!
//! Why ureq and not oci-client: oci-client is async and brings tokio; `rless
//! run` must not pay for a runtime it does not use, and a pull is a handful of
//! requests plus a few large streams, which threads serve well. ureq is
//! blocking, uses rustls, and gives a plain `Read` over each blob, so a layer
//! streams straight into the hasher, decompressor and tar extractor.
//!
//! Theory of operation: [`RegistryClient::connect`] pings `/v2/` once to find
//! the scheme (HTTPS, or plain HTTP for loopback and insecure registries, as
//! docker allows) and the auth challenge. Basic challenges are answered with
//! the stored credentials on every request; Bearer challenges by fetching a
//! token for the request's scope (`repository:NAME:pull`, or `pull,push` for
//! uploads) from the realm (with the credentials, if any), cached per scope
//! for the life the token server gives it ([`super::tokens`]) and refreshed
//! once on a 401. [`RegistryClient::request`] is the one way
//! requests other than GETs (uploads, `HEAD`) go out; `push.rs` speaks the
//! upload protocol through it.
//!
//! Timeouts: a registry that accepts a request and then goes quiet (a
//! stuck proxy, a peer gone behind NAT) would otherwise hang a pull, and
//! with it every command that needs the store lock exclusively. ureq's
//! `timeout_per_read` bounds each socket read, which is an idle timeout:
//! a slow layer that keeps coming is never cut off, as a total body
//! timeout would. A read that times out is reported as
//! [`RegistryError::Stalled`], naming what was being read.

use super::auth::Credentials;
use super::digest::Digest;
use super::tokens::TokenCache;
use super::trust;
use std::collections::HashMap;
use std::io::{self, Read};
use std::time::{Duration, Instant};
use ureq::http::{Method, Request, Response};
use ureq::{AsSendBody, Body};

/// Manifest media types rless understands, in the `Accept` header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or config accepted (docker allows 4 MiB manifests).
const MAX_DOCUMENT: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {host}: {detail}")]
    Unreachable { host: String, detail: String },
    #[error(
        "registry {host} needs credentials: run `rless login {host}` or pass --creds USER:PASSWORD"
    )]
    AuthRequired { host: String },
    #[error("registry {host} refused the credentials for {what} (unauthorized)")]
    BadCredentials { host: String, what: String },
    #[error("access to {what} on {host} denied")]
    Denied { host: String, what: String },
    #[error("{what} not found on {host}")]
    NotFound { host: String, what: String },
    #[error("registry {host} answered {status} for {what}{detail}")]
    Status {
        host: String,
        what: String,
        status: u16,
        /// The registry's own words (`: CODE: message`, from its JSON
        /// `errors`), or empty.
        detail: String,
    },
    #[error("reading {what} from {host}: {detail}")]
    Read {
        host: String,
        what: String,
        detail: String,
    },
    #[error("registry {host} is not a v2 registry: {detail}")]
    Protocol { host: String, detail: String },
    #[error(
        "pulling {what} from {host}: no data for {} s (RLESS_REGISTRY_IDLE_TIMEOUT sets how long to wait)",
        idle.as_secs()
    )]
    Stalled {
        host: String,
        what: String,
        idle: Duration,
    },
    #[error("registry {host}: {source}")]
    Trust {
        host: String,
        source: trust::TrustError,
    },
}

/// How to talk to one registry.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Accept invalid certificates and fall back to plain HTTP.
    pub insecure: bool,
    pub credentials: Option<Credentials>,
    /// How long the registry may send nothing while a response is read.
    pub idle_timeout: Duration,
    /// `--cert-dir`: the registry's CAs and client certificate, in place
    /// of the certs.d search ([`super::trust`]).
    pub cert_dir: Option<std::path::PathBuf>,
}

enum Challenge {
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The distribution API's `{"errors": [{"code", "message"}]}` of a
/// refused request as `: CODE: message; …` (at most 64 KiB of body read,
/// one line), or empty when the body holds none: `400` alone does not
/// tell a user which blob or manifest the registry lacked.
fn error_detail(resp: Response<Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(text) = resp
        .into_body()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
    else {
        return String::new();
    };
    let Ok(parsed) = serde_json::from_str::<Errors>(&text) else {
        return String::new();
    };
    let words: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| {
            let line = match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            };
            line.replace(['\n', '\r'], " ")
        })
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    match words.is_empty() {
        true => String::new(),
        false => format!(": {}", words.join("; ")),
    }
}

/// A connection to one registry host.
pub struct RegistryClient {
    agent: ureq::Agent,
    idle_timeout: Duration,
    host: String,
    base: String,
    creds: Option<Credentials>,
    challenge: Challenge,
    tokens: TokenCache,
}

impl RegistryClient {
    /// Finds the scheme and the auth challenge of `host` (`/v2/` ping).
    pub fn connect(
        host: &str,
        api_host: &str,
        opts: &ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        let tls =
            trust::tls_config(host, opts.cert_dir.as_deref(), opts.insecure).map_err(|source| {
                RegistryError::Trust {
                    host: host.into(),
                    source,
                }
            })?;
        // The proxy is the scheme's (`super::proxy`): plain HTTP, tried
        // after HTTPS for an insecure registry, gets an agent of its own.
        let agent_for = |scheme: &str| -> ureq::Agent {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(super::proxy::proxy_for(scheme, api_host))
                .tls_config(tls.clone())
                .timeout_connect(Some(Duration::from_secs(15)))
                .timeout_recv_response(Some(Duration::from_secs(60)))
                .timeout_per_read(Some(opts.idle_timeout))
                .user_agent(concat!("rless/", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        };
        let agent = agent_for("https");
        let mut client = RegistryClient {
            agent,
            idle_timeout: opts.idle_timeout,
            host: host.to_string(),
            base: format!("https://{api_host}"),
            creds: opts.credentials.clone(),
            challenge: Challenge::None,
            tokens: TokenCache::default(),
        };
        let ping = match client.agent.get(format!("{}/v2/", client.base)).call() {
            Ok(r) => r,
            Err(e) if opts.insecure => {
                tracing::debug!("https ping of {api_host} failed ({e}); trying plain http");
                client.base = format!("http://{api_host}");
                client.agent = agent_for("http");
                client
                    .agent
                    .get(format!("{}/v2/", client.base))
                    .call()
                    .map_err(|e| client.unreachable(e))?
            }
            Err(e) => return Err(client.unreachable(e)),
        };
        match ping.status().as_u16() {
            200..=299 => {}
            401 => {
                let h = header(&ping, "www-authenticate").unwrap_or_default();
                client.challenge = parse_challenge(&h).ok_or_else(|| RegistryError::Protocol {
                    host: host.into(),
                    detail: format!("unsupported auth challenge {h:?}"),
                })?;
            }
            s => {
                return Err(RegistryError::Protocol {
                    host: host.into(),
                    detail: format!("GET /v2/ answered {s}"),
                });
            }
        }
        Ok(client)
    }

    fn unreachable(&self, e: ureq::Error) -> RegistryError {
        let detail = if is_idle_timeout(&e) {
            format!(
                "no data for {} s (RLESS_REGISTRY_IDLE_TIMEOUT sets how long to wait)",
                self.idle_timeout.as_secs()
            )
        } else {
            let detail = e.to_string();
            match trust::hint(&detail, &self.host) {
                Some(hint) => format!("{detail}; {hint}"),
                None => detail,
            }
        };
        RegistryError::Unreachable {
            host: self.host.clone(),
            detail,
        }
    }

    /// Checks that the credentials are accepted (`rless login`).
    pub fn check_login(&self) -> Result<(), RegistryError> {
        match &self.challenge {
            Challenge::None => Ok(()),
            Challenge::Basic => {
                let resp = self.send(&format!("{}/v2/", self.base), None, "", "login")?;
                self.expect_ok(resp, "login").map(drop)
            }
            Challenge::Bearer { .. } => {
                if self.creds.is_none() {
                    return Err(RegistryError::AuthRequired {
                        host: self.host.clone(),
                    });
                }
                self.token(None).map(drop)
            }
        }
    }

    /// Fetches a manifest by tag or digest: its bytes and media type.
    pub fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, String), RegistryError> {
        // `repo@sha256:…` for a digest, `repo:tag` for a tag.
        let sep = if reference.contains(':') { '@' } else { ':' };
        let what = format!("manifest {repo}{sep}{reference}");
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let resp = self.get(&url, &pull_scope(repo), MANIFEST_ACCEPT, &what)?;
        let media = header(&resp, "content-type").unwrap_or_default();
        let media = media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let body = self.read_small(resp, &what)?;
        Ok((body, media))
    }

    /// Every tag of `repo` (`/v2/REPO/tags/list`), following the `Link:
    /// <…>; rel="next"` pages a registry may split the list into.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        self.list_pages(
            format!("{}/v2/{repo}/tags/list", self.base),
            &pull_scope(repo),
            &format!("the tags of {repo}"),
            "tags",
            |page| {
                tags.extend(page);
                true
            },
        )?;
        Ok(tags)
    }

    /// The registry's repositories (`/v2/_catalog`, which needs the
    /// `registry:catalog:*` scope), page by page to `page` until it
    /// returns false or the list ends.
    pub fn catalog(&self, page: impl FnMut(Vec<String>) -> bool) -> Result<(), RegistryError> {
        self.list_pages(
            format!("{}/v2/_catalog", self.base),
            "registry:catalog:*",
            "the repository catalog",
            "repositories",
            page,
        )
    }

    /// GETs a list (`{"FIELD": [..]}`) and its further pages, handing each
    /// to `page` while it asks for more.
    fn list_pages(
        &self,
        first: String,
        scope: &str,
        what: &str,
        field: &str,
        mut page: impl FnMut(Vec<String>) -> bool,
    ) -> Result<(), RegistryError> {
        let mut url = first;
        // A registry that keeps sending the same page must not loop us.
        for _ in 0..10_000 {
            let resp = self.get(&url, scope, "application/json", what)?;
            let next = header(&resp, "link").and_then(|l| next_page(&l));
            let body = self.read_small(resp, what)?;
            let doc: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Read {
                    host: self.host.clone(),
                    what: what.to_string(),
                    detail: format!("not a list of {field}: {e}"),
                })?;
            // `"tags": null` is an empty repository.
            let items = doc[field]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|t| t.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if !page(items) {
                return Ok(());
            }
            match next {
                None => return Ok(()),
                Some(target) => {
                    // The next page is fetched with our credentials: it
                    // must be on this registry, not a host the answer names.
                    url = next_page_url(&self.base, &target).ok_or_else(|| RegistryError::Read {
                        host: self.host.clone(),
                        what: what.to_string(),
                        detail: format!("the next page {target} is not on this registry"),
                    })?
                }
            }
        }
        Err(RegistryError::Read {
            host: self.host.clone(),
            what: what.to_string(),
            detail: "the list does not end".into(),
        })
    }

    /// Fetches a small blob (an image config) whole.
    pub fn small_blob(&self, repo: &str, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        let (resp, what) = self.get_blob(repo, digest)?;
        self.read_small(resp, &what)
    }

    /// Opens a blob as a stream (redirects are followed).
    pub fn blob(&self, repo: &str, digest: &Digest) -> Result<BlobStream, RegistryError> {
        let (resp, what) = self.get_blob(repo, digest)?;
        Ok(BlobStream {
            inner: resp.into_body().into_reader(),
            stalled: false,
            host: self.host.clone(),
            what,
            idle: self.idle_timeout,
        })
    }

    /// GET of a blob, and what messages call it.
    fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<(Response<Body>, String), RegistryError> {
        let what = format!("blob {digest}");
        let resp = self.get(
            &format!("{}/v2/{repo}/blobs/{digest}", self.base),
            &pull_scope(repo),
            "*/*",
            &what,
        )?;
        Ok((resp, what))
    }

    /// The host name used in messages.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn read_small(&self, mut resp: Response<Body>, what: &str) -> Result<Vec<u8>, RegistryError> {
        resp.body_mut()
            .with_config()
            .limit(MAX_DOCUMENT)
            .read_to_vec()
            .map_err(|e| match self.stalled(&e, what) {
                Some(stalled) => stalled,
                None => RegistryError::Read {
                    host: self.host.clone(),
                    what: what.into(),
                    detail: e.to_string(),
                },
            })
    }

    /// [`RegistryError::Stalled`] when `e` is the idle timeout.
    fn stalled(&self, e: &ureq::Error, what: &str) -> Option<RegistryError> {
        is_idle_timeout(e).then(|| RegistryError::Stalled {
            host: self.host.clone(),
            what: what.into(),
            idle: self.idle_timeout,
        })
    }

    /// GET with authentication (a token for `scope`); one token refresh
    /// on 401.
    fn get(
        &self,
        url: &str,
        scope: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response<Body>, RegistryError> {
        let resp = self.send(url, Some(scope), accept, what)?;
        if resp.status().as_u16() == 401 && matches!(self.challenge, Challenge::Bearer { .. }) {
            // The registry refused the token it was sent (expired early,
            // revoked): drop it, by the scope `send` fetched it for.
            self.tokens.forget(scope);
            let resp = self.send(url, Some(scope), accept, what)?;
            return self.expect_ok(resp, what);
        }
        self.expect_ok(resp, what)
    }

    fn send(
        &self,
        url: &str,
        scope: Option<&str>,
        accept: &str,
        what: &str,
    ) -> Result<Response<Body>, RegistryError> {
        let mut req = self.agent.get(url);
        if !accept.is_empty() {
            req = req.header("Accept", accept);
        }
        match &self.challenge {
            Challenge::None => {}
            Challenge::Basic => {
                if let Some(c) = &self.creds {
                    req = req.header("Authorization", c.basic_header());
                }
            }
            Challenge::Bearer { .. } => {
                let token = self.token(scope)?;
                req = req.header("Authorization", format!("Bearer {token}"));
            }
        }
        // Reads of a scope name what stalled; the login check says the
        // registry went quiet.
        req.call()
            .map_err(|e| match scope.and(self.stalled(&e, what)) {
                Some(stalled) => stalled,
                None => self.unreachable(e),
            })
    }

    /// The base URL, `scheme://host`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request with authentication for `scope` (space-separated
    /// `repository:NAME:ACTIONS` items) and retries once with a fresh token
    /// on a 401. `body` makes the body for each attempt (a file must seek
    /// back to its start). The status is the caller's to judge.
    pub fn request<B: AsSendBody>(
        &self,
        method: Method,
        url: &str,
        scope: &str,
        headers: &[(&str, &str)],
        mut body: impl FnMut() -> B,
    ) -> Result<Response<Body>, RegistryError> {
        // Credentials and tokens go only to the registry itself, never to
        // an upload location the registry names on another host or scheme.
        let ours = same_origin(&self.base, url);
        let bearer = ours && matches!(self.challenge, Challenge::Bearer { .. });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = Request::builder().method(method.clone()).uri(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            match &self.challenge {
                _ if !ours => {}
                Challenge::None => {}
                Challenge::Basic => {
                    if let Some(c) = &self.creds {
                        req = req.header("Authorization", c.basic_header());
                    }
                }
                Challenge::Bearer { .. } => {
                    let token = self.token(Some(scope))?;
                    req = req.header("Authorization", format!("Bearer {token}"));
                }
            }
            let req = req.body(body()).map_err(|e| RegistryError::Protocol {
                host: self.host.clone(),
                detail: format!("bad request URL {url:?}: {e}"),
            })?;
            let resp = self.agent.run(req).map_err(|e| self.unreachable(e))?;
            if resp.status().as_u16() == 401 && bearer && attempt == 1 {
                self.tokens.forget(scope);
                continue;
            }
            return Ok(resp);
        }
    }

    /// Turns a response to [`Self::request`] into the error its status
    /// means (2xx is `Ok`). A 401 after the token server accepted the
    /// credentials means the token lacks the scope: access is denied.
    pub fn check(&self, resp: Response<Body>, what: &str) -> Result<Response<Body>, RegistryError> {
        let bearer = matches!(self.challenge, Challenge::Bearer { .. });
        if resp.status().as_u16() == 401 && bearer && self.creds.is_some() {
            return Err(RegistryError::Denied {
                host: self.host.clone(),
                what: what.into(),
            });
        }
        self.expect_ok(resp, what)
    }

    fn expect_ok(&self, resp: Response<Body>, what: &str) -> Result<Response<Body>, RegistryError> {
        let host = self.host.clone();
        let what = what.to_string();
        match resp.status().as_u16() {
            200..=299 => Ok(resp),
            401 if self.creds.is_some() => Err(RegistryError::BadCredentials { host, what }),
            401 => Err(RegistryError::AuthRequired { host }),
            403 => Err(RegistryError::Denied { host, what }),
            404 => Err(RegistryError::NotFound { host, what }),
            status => Err(RegistryError::Status {
                host,
                what,
                status,
                detail: error_detail(resp),
            }),
        }
    }

    /// A bearer token for `scope` (space-separated scope items; `None` for
    /// the registry itself).
    fn token(&self, scope: Option<&str>) -> Result<String, RegistryError> {
        let Challenge::Bearer { realm, service } = &self.challenge else {
            unreachable!("bearer only")
        };
        let key = scope.unwrap_or("");
        let fetched = Instant::now();
        if let Some(t) = self.tokens.get(key, fetched) {
            return Ok(t);
        }
        let mut req = self.agent.get(realm.as_str());
        if let Some(s) = service {
            req = req.query("service", s);
        }
        for item in scope.unwrap_or("").split_whitespace() {
            req = req.query("scope", item);
        }
        if let Some(c) = &self.creds {
            req = req.header("Authorization", c.basic_header());
        }
        let what = "a token".to_string();
        let resp = req.call().map_err(|e| self.unreachable(e))?;
        let resp = match resp.status().as_u16() {
            401 | 403 if self.creds.is_some() => {
                return Err(RegistryError::BadCredentials {
                    host: self.host.clone(),
                    what,
                });
            }
            _ => self.expect_ok(resp, &what)?,
        };
        let body = self.read_small(resp, &what)?;
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                host: self.host.clone(),
                detail: format!("token response: {e}"),
            })?;
        let token = doc
            .get("token")
            .or_else(|| doc.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| RegistryError::Protocol {
                host: self.host.clone(),
                detail: "token response has no token".into(),
            })?
            .to_string();
        self.tokens
            .put(key, &token, doc["expires_in"].as_u64(), fetched);
        Ok(token)
    }
}

/// A blob's body being read. It remembers whether the registry went quiet:
/// layer ingestion wraps read errors in its own (the tar reader's, the
/// decompressor's), so the puller asks the stream ([`BlobStream::check_stalled`])
/// to tell a stall from bad content.
pub struct BlobStream {
    inner: ureq::BodyReader<'static>,
    stalled: bool,
    host: String,
    what: String,
    idle: Duration,
}

impl BlobStream {
    /// `Err(Stalled)` if a read timed out for want of data.
    pub fn check_stalled(&self) -> Result<(), RegistryError> {
        if !self.stalled {
            return Ok(());
        }
        Err(RegistryError::Stalled {
            host: self.host.clone(),
            what: self.what.clone(),
            idle: self.idle,
        })
    }
}

impl Read for BlobStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if let Err(e) = &r {
            // ureq hands its own errors out wrapped in io::Error.
            self.stalled |= e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(is_idle_timeout);
        }
        r
    }
}

/// Whether `e` is the idle timeout (`timeout_per_read`) firing.
fn is_idle_timeout(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Timeout(ureq::Timeout::PerRead))
}

/// Whether `url` is on the registry whose base URL is `base`
/// (`scheme://host[:port]`); a default port may be written or not.
fn same_origin(base: &str, url: &str) -> bool {
    let origin = |u: &str| {
        let (scheme, rest) = u.split_once("://")?;
        let auth = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
        let default = if scheme == "https" { ":443" } else { ":80" };
        let host = auth
            .strip_suffix(default)
            .map_or(auth.clone(), str::to_string);
        Some((scheme.to_ascii_lowercase(), host))
    };
    origin(base).is_some_and(|o| Some(o) == origin(url))
}

/// The token scope for pulling from `repo`.
fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// Where a `Link` target (a path, or a full URL on the registry itself)
/// is, on the registry at `base`; `None` for another host or scheme.
fn next_page_url(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') && !target.starts_with("//") {
        return Some(format!("{base}{target}"));
    }
    same_origin(base, target).then(|| target.to_string())
}

/// The target of a `Link` header's `rel="next"` entry:
/// `</v2/r/tags/list?n=2&last=b>; rel="next"` gives the path.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|entry| {
        let (target, params) = entry.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// A response header as a string.
pub fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Parses a `WWW-Authenticate` header value.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, params) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let params = parse_params(params);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

/// `k="v",k2=v2` → map; quoted values may contain commas.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let key = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    out
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
