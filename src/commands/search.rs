//! `rless search [--limit N] [-f K=V] [--format F] [--list-tags]
//! [--no-trunc] [--compatible] [--tls-verify=false] [--creds U:P]
//! [--authfile F] [REGISTRY/]TERM`: docker's and podman's image search.
//!
//! Theory of operation:
//! - The term names a registry when its first path component looks like a
//!   host (a `.` or `:` in it, or `localhost`), as in a reference; the rest
//!   is what to look for (`127.0.0.1:5000/` lists everything there).
//!   Without one, podman's `unqualified-search-registries` (registries.conf)
//!   are searched, each in turn, their results together (a registry that
//!   fails is skipped when another answered, as podman); with none
//!   configured, Docker Hub (docker's).
//! - Docker Hub has a search API (`index.docker.io/v1/search`), with
//!   descriptions, stars and the official and automated marks. Other
//!   registries have only their catalog (`/v2/_catalog`): rless reads it
//!   page by page and keeps the repositories whose name contains the term,
//!   a full match first, until `--limit` are found (podman's way; such
//!   results have no description or stars).
//! - `--list-tags` takes a repository and lists its tags (`tags/list`).
//! - Nothing found prints nothing and succeeds, as podman. A registry that
//!   cannot be reached, or refuses, is a one-line error (exit 125).
//! - Output as podman's: `NAME DESCRIPTION` (`--compatible` adds docker's
//!   `STARS OFFICIAL AUTOMATED`), descriptions cut at 44 characters unless
//!   `--no-trunc`; `--format` takes `json` or a Go template over `.Index`,
//!   `.Name`, `.Description`, `.Stars`, `.Official`, `.Automated`, `.Tag`.

use super::filters::truth;
use super::format::{print_rows, Format};
use anyhow::{bail, Context, Result};
use rless::image::auth::{AuthFiles, Credentials};
use rless::image::reference::{is_loopback_host, Reference, DOCKER_HUB};
use rless::image::registries_conf::RegistriesConf;
use rless::image::registry::{ClientOptions, RegistryClient};
use rless::image::trust;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The largest `--limit` Docker Hub's search API serves.
const HUB_MAX_LIMIT: usize = 100;

/// Results when `--limit` is not given (docker's and podman's).
const DEFAULT_LIMIT: usize = 25;

/// Longest description shown without `--no-trunc` (podman's).
const DESCRIPTION_WIDTH: usize = 44;

/// Docker Hub's search API.
const HUB_SEARCH: &str = "https://index.docker.io/v1/search";

/// The host of [`HUB_SEARCH`], whose certs.d directory it reads.
const HUB_SEARCH_HOST: &str = "index.docker.io";

#[derive(clap::Args)]
pub struct Args {
    /// At most this many results (default 25).
    #[arg(long)]
    limit: Option<usize>,
    /// stars=N, is-official[=BOOL], is-automated[=BOOL] (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
    /// json, or a Go template (`table` for a header and columns).
    #[arg(long, default_value = "")]
    format: String,
    /// List the tags of the repository TERM names.
    #[arg(long)]
    list_tags: bool,
    /// Do not cut descriptions short.
    #[arg(long)]
    no_trunc: bool,
    /// Add docker's STARS, OFFICIAL and AUTOMATED columns.
    #[arg(long)]
    compatible: bool,
    /// Verify the registry's TLS certificate (false also allows plain HTTP).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Credentials, USER:PASSWORD.
    #[arg(long)]
    creds: Option<String>,
    /// Credentials file (default: $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// The registry's CA certificates (*.crt) and client certificate
    /// (NAME.cert, NAME.key), in place of the certs.d directories.
    #[arg(long = "cert-dir", value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// [REGISTRY/]TERM.
    term: String,
}

/// One search result, as podman's JSON has it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Hit {
    index: String,
    name: String,
    description: String,
    stars: u64,
    official: String,
    automated: String,
    tag: String,
}

/// `--filter`s: docker's search filters.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    stars: u64,
    official: Option<bool>,
    automated: Option<bool>,
}

impl Filter {
    fn parse(args: &[String]) -> Result<Filter> {
        let mut f = Filter::default();
        for a in args {
            let (key, value) = a.split_once('=').unwrap_or((a, "true"));
            match key {
                "stars" => {
                    f.stars = value
                        .parse()
                        .with_context(|| format!("invalid filter {a:?}: stars takes a number"))?
                }
                "is-official" => f.official = Some(truth(value)),
                "is-automated" => f.automated = Some(truth(value)),
                _ => bail!("invalid filter type {a:?}"),
            }
        }
        Ok(f)
    }

    fn keeps(&self, h: &Hit) -> bool {
        h.stars >= self.stars
            && self.official.is_none_or(|o| o != h.official.is_empty())
            && self.automated.is_none_or(|o| o != h.automated.is_empty())
    }
}

/// `[REGISTRY/]TERM` → (the registry it names, if any; term).
fn split_term(t: &str) -> (Option<String>, String) {
    match t.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => {
            let host = match host {
                "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
                h => h,
            };
            (Some(host.to_string()), rest.to_string())
        }
        _ => (None, t.to_string()),
    }
}

/// Up to `limit` results for `term` on `registry`: Docker Hub's search
/// API, another registry's catalog.
fn search_one(a: &Args, registry: &str, term: &str, limit: usize) -> Result<Vec<Hit>> {
    if registry == DOCKER_HUB {
        if term.is_empty() {
            bail!("search of Docker Hub needs a term");
        }
        return hub_search(a, term, limit);
    }
    let client = connect(a, registry, "search")?;
    let mut found = Vec::new();
    client
        .catalog(|page| {
            found.extend(page.into_iter().filter(|r| r.contains(term)));
            found.len() < limit
        })
        .with_context(|| format!("cannot search {registry}"))?;
    Ok(matching(found, term, limit)
        .into_iter()
        .map(|name| Hit {
            index: registry.to_string(),
            name: format!("{registry}/{name}"),
            description: String::new(),
            stars: 0,
            official: String::new(),
            automated: String::new(),
            tag: String::new(),
        })
        .collect())
}

/// The repositories of a catalog that contain `term`, a full match first,
/// at most `limit`.
fn matching(repos: impl IntoIterator<Item = String>, term: &str, limit: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in repos.into_iter().filter(|r| r.contains(term)) {
        match r == term {
            true => out.insert(0, r),
            false => out.push(r),
        }
    }
    out.truncate(limit);
    out
}

/// `[OK]` for a set mark, as docker prints it.
fn mark(set: bool) -> String {
    if set { "[OK]" } else { "" }.to_string()
}

pub fn run(a: Args) -> Result<ExitCode> {
    let filter = Filter::parse(&a.filter)?;
    let limit = a.limit.filter(|&n| n > 0).unwrap_or(DEFAULT_LIMIT);
    let (registry, term) = split_term(&a.term);
    if a.list_tags {
        let registry = registry.unwrap_or_else(|| DOCKER_HUB.to_string());
        return list_tags(&a, &registry, &term, limit);
    }
    // A term without a registry: podman's `unqualified-search-registries`,
    // each searched; Docker Hub when none is configured (docker's).
    let registries = match registry {
        Some(r) => vec![r],
        None => match RegistriesConf::load()?.search_registries() {
            [] => vec![DOCKER_HUB.to_string()],
            list => list.to_vec(),
        },
    };
    let mut hits = Vec::new();
    let mut failed = Vec::new();
    for registry in &registries {
        match search_one(&a, registry, &term, limit) {
            Ok(found) => hits.extend(found),
            Err(e) => failed.push(e),
        }
    }
    // As podman: results from any registry are the answer; else every
    // registry's failure is.
    if hits.is_empty() && !failed.is_empty() {
        match failed.len() {
            1 => return Err(failed.remove(0)),
            _ => bail!(
                "{}",
                failed
                    .iter()
                    .map(|e| format!("{e:#}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
    // Some answered: the others' failures are warnings.
    for e in &failed {
        eprintln!("rless: warning: {}", super::error_line(e));
    }
    let hits: Vec<Hit> = hits.into_iter().filter(|h| filter.keeps(h)).collect();
    let default = match a.compatible {
        true => "{{.Name}}\t{{.Description}}\t{{.Stars}}\t{{.Official}}\t{{.Automated}}",
        false => "{{.Name}}\t{{.Description}}",
    };
    match Format::parse(&a.format, default) {
        Format::Json => println!("{}", serde_json::to_string_pretty(&hits)?),
        Format::Template { template, table } => {
            if hits.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<serde_json::Value> = hits
                .into_iter()
                .map(|mut h| {
                    if !a.no_trunc && h.description.chars().count() > DESCRIPTION_WIDTH {
                        h.description = h.description.chars().take(DESCRIPTION_WIDTH).collect();
                        h.description.push_str("...");
                    }
                    serde_json::to_value(h).expect("json")
                })
                .collect();
            print_rows(template, table, &HEADERS, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Column titles of the template fields.
const HEADERS: [(&str, &str); 7] = [
    ("Index", "INDEX"),
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("Stars", "STARS"),
    ("Official", "OFFICIAL"),
    ("Automated", "AUTOMATED"),
    ("Tag", "TAG"),
];

/// `--list-tags`: the tags of one repository.
fn list_tags(a: &Args, registry: &str, term: &str, limit: usize) -> Result<ExitCode> {
    // A tag or digest in the term is ignored, as podman does.
    let r = Reference::parse(&format!("{registry}/{term}"))
        .ok()
        .filter(|_| !term.is_empty())
        .with_context(|| format!("--list-tags needs a repository, not {:?}", a.term))?;
    let client = connect(a, registry, "list the tags of")?;
    let mut tags = client
        .tags(&r.repository)
        .with_context(|| format!("cannot list the tags of {}", r.name()))?;
    tags.truncate(limit);
    let name = r.name();
    match Format::parse(&a.format, "{{.Name}}\t{{.Tag}}") {
        Format::Json => {
            let doc = serde_json::json!([{"Name": name, "Tags": tags}]);
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Template { template, table } => {
            if tags.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<serde_json::Value> = tags
                .iter()
                .map(|t| {
                    serde_json::to_value(Hit {
                        index: registry.to_string(),
                        name: name.clone(),
                        description: String::new(),
                        stars: 0,
                        official: String::new(),
                        automated: String::new(),
                        tag: t.clone(),
                    })
                    .expect("json")
                })
                .collect();
            print_rows(template, table, &HEADERS, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A client for `registry`, with the credentials and transport a pull
/// from it would use (registries.conf's blocked and insecure entries too).
fn connect(a: &Args, registry: &str, what: &str) -> Result<RegistryClient> {
    let probe = Reference {
        registry: registry.to_string(),
        repository: "search".into(),
        tag: None,
        digest: None,
    };
    let routes = RegistriesConf::load()?.routes(&probe)?;
    let conf_insecure = routes.last().is_some_and(|r| r.insecure);
    let credentials = match &a.creds {
        Some(c) => Some(Credentials::parse(c).context("--creds must be USER:PASSWORD")?),
        None => AuthFiles::locate(a.authfile.as_deref()).lookup(registry)?,
    };
    let insecure = !a.tls_verify
        || conf_insecure
        || is_loopback_host(registry)
        || rless::config::registry_insecure(registry)?;
    RegistryClient::connect(
        registry,
        probe.api_host(),
        &ClientOptions {
            insecure,
            credentials,
            idle_timeout: rless::config::registry_idle_timeout()?,
            cert_dir: a.cert_dir.clone(),
        },
    )
    .with_context(|| format!("cannot {what} {registry}"))
}

/// Docker Hub's search API: up to `limit` results for `term`, trusting
/// what a registry connection trusts (podman names the certs.d directory
/// of the search host, `index.docker.io`).
fn hub_search(a: &Args, term: &str, limit: usize) -> Result<Vec<Hit>> {
    // Docker Hub's API pages at most 100 (docker's check and words).
    if !(1..=HUB_MAX_LIMIT).contains(&limit) {
        bail!("limit {limit} is outside the range of [1, {HUB_MAX_LIMIT}]");
    }
    let insecure = !a.tls_verify || rless::config::registry_insecure(DOCKER_HUB)?;
    let tls = trust::tls_config(HUB_SEARCH_HOST, a.cert_dir.as_deref(), insecure)
        .with_context(|| format!("cannot search {DOCKER_HUB}"))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(rless::image::proxy::proxy_for("https", HUB_SEARCH_HOST))
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(60)))
        .user_agent(concat!("rless/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let body = agent
        .get(HUB_SEARCH)
        .query("q", term)
        .query("n", limit.to_string())
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .map_err(|e| {
            let detail = e.to_string();
            match trust::hint(&detail, HUB_SEARCH_HOST) {
                Some(hint) => anyhow::anyhow!("cannot search {DOCKER_HUB}: {detail}; {hint}"),
                None => anyhow::anyhow!("cannot search {DOCKER_HUB}: {detail}"),
            }
        })?;
    hub_hits(&body, limit)
}

/// The results of a Docker Hub search answer.
fn hub_hits(body: &str, limit: usize) -> Result<Vec<Hit>> {
    let doc: serde_json::Value = serde_json::from_str(body)
        .with_context(|| format!("cannot search {DOCKER_HUB}: not a search answer"))?;
    let results = doc["results"].as_array().cloned().unwrap_or_default();
    Ok(results
        .iter()
        .take(limit)
        .filter_map(|r| {
            let name = r["name"].as_str()?;
            // Official images are `library/NAME`, which the answer leaves out.
            let path = match name.contains('/') {
                true => name.to_string(),
                false => format!("library/{name}"),
            };
            Some(Hit {
                index: DOCKER_HUB.into(),
                name: format!("{DOCKER_HUB}/{path}"),
                description: r["description"].as_str().unwrap_or("").to_string(),
                stars: r["star_count"].as_u64().unwrap_or(0),
                official: mark(r["is_official"].as_bool().unwrap_or(false)),
                automated: mark(r["is_automated"].as_bool().unwrap_or(false)),
                tag: String::new(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_a_registry_as_references_do() {
        let s = |t| split_term(t);
        let some = |r: &str| Some(r.to_string());
        assert_eq!(s("alpine"), (None, "alpine".into()));
        assert_eq!(s("library/alpine"), (None, "library/alpine".into()));
        assert_eq!(s("quay.io/fedora"), (some("quay.io"), "fedora".into()));
        assert_eq!(s("127.0.0.1:5000/"), (some("127.0.0.1:5000"), "".into()));
        assert_eq!(s("localhost/x/y"), (some("localhost"), "x/y".into()));
        assert_eq!(
            s("index.docker.io/redis"),
            (some("docker.io"), "redis".into())
        );
    }

    #[test]
    fn a_full_match_comes_first_and_the_limit_holds() {
        let repos = ["bbx", "other/busybox", "bb", "sweep/bb", "x"].map(String::from);
        assert_eq!(matching(repos.clone(), "bb", 25), ["bb", "bbx", "sweep/bb"]);
        assert_eq!(matching(repos.clone(), "bb", 2), ["bb", "bbx"]);
        assert_eq!(matching(repos, "", 25).len(), 5);
    }

    #[test]
    fn filters_parse_and_keep() {
        let f = Filter::parse(&["stars=3".into(), "is-official".into()]).unwrap();
        assert_eq!(
            f,
            Filter {
                stars: 3,
                official: Some(true),
                automated: None
            }
        );
        let mut h = Hit {
            index: "docker.io".into(),
            name: "docker.io/library/a".into(),
            description: String::new(),
            stars: 3,
            official: mark(true),
            automated: mark(false),
            tag: String::new(),
        };
        assert!(f.keeps(&h));
        h.stars = 2;
        assert!(!f.keeps(&h));
        let not_official = Filter::parse(&["is-official=false".into()]).unwrap();
        assert!(!not_official.keeps(&Hit { stars: 9, ..h }));
        assert!(Filter::parse(&["bogus=1".into()]).is_err());
        assert!(Filter::parse(&["stars=many".into()]).is_err());
    }

    #[test]
    fn hub_answers_become_hits() {
        let body = r#"{"num_results":2,"query":"alpine","results":[
            {"name":"alpine","description":"A minimal image","star_count":11000,"is_official":true,"is_automated":false},
            {"name":"someone/alpine-x","description":"","star_count":3,"is_official":false,"is_automated":true}]}"#;
        let hits = hub_hits(body, 25).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].name, "docker.io/library/alpine");
        assert_eq!((hits[0].stars, hits[0].official.as_str()), (11000, "[OK]"));
        assert_eq!(hits[1].name, "docker.io/someone/alpine-x");
        assert_eq!(hits[1].automated, "[OK]");
        assert_eq!(hub_hits(body, 1).unwrap().len(), 1);
        assert!(hub_hits("<html>", 25).is_err());
    }
}
