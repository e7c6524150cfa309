//! `rless pull [-q] [-a] [--platform P] [--tls-verify=false] [--creds U:P] REF`
//!
//! `-a` pulls every tag of the repository, as the registry lists them
//! (`/v2/NAME/tags/list`), in that order, printing each image's id.
//!
//! podman's `registries.conf` decides where from (`image::registries_conf`):
//! its mirrors are tried first, in order, a failing one giving way to the
//! next; then the registry, at its configured location. A blocked registry
//! is refused before anything is fetched.

use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::image::auth::{AuthFiles, Credentials};
use rless::image::platform::Platform;
use rless::image::pull::{pull, PullOptions};
use rless::image::reference::{is_loopback_host, Reference};
use rless::image::registries_conf::RegistriesConf;
use rless::image::registry::{ClientOptions, RegistryClient};
use rless::image::store::LockMode;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print only the image id.
    #[arg(short, long)]
    quiet: bool,
    /// Pick this platform from a multi-arch image (os/arch[/variant]).
    #[arg(long)]
    platform: Option<String>,
    /// The OS to pick (podman's; with --arch and --variant, a --platform).
    #[arg(long, value_name = "OS", conflicts_with = "platform")]
    os: Option<String>,
    /// The architecture to pick.
    #[arg(long, value_name = "ARCH", conflicts_with = "platform")]
    arch: Option<String>,
    /// The architecture's variant to pick.
    #[arg(long, value_name = "VARIANT", conflicts_with = "platform")]
    variant: Option<String>,
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
    /// Every tag of the repository (REF without a tag or digest).
    #[arg(short, long)]
    all_tags: bool,
    /// The image: name[:tag], name@sha256:…, host[:port]/path/name[:tag].
    reference: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    // Validate before entering the namespace: bad input costs no exec.
    let reference: Reference = a.reference.parse()?;
    let platform =
        match Platform::from_parts(a.os.as_deref(), a.arch.as_deref(), a.variant.as_deref())? {
            Some(p) => Some(p),
            None => a.platform.as_deref().map(Platform::parse).transpose()?,
        };
    // The parsed reference says `latest` when no tag was given: look at
    // what was written (the last path segment, past any host:port).
    let last = a.reference.rsplit('/').next().unwrap_or_default();
    if a.all_tags && (last.contains(':') || last.contains('@')) {
        bail!("tag can't be used with --all-tags/-a: {}", a.reference);
    }
    // Where from: the site's mirrors first (podman's registries.conf).
    let routes = RegistriesConf::load()?.routes(&reference)?;
    let credentials = routes
        .iter()
        .map(|r| match &a.creds {
            Some(c) => Ok(Some(
                Credentials::parse(c).context("--creds must be USER:PASSWORD")?,
            )),
            None => Ok(AuthFiles::locate(a.authfile.as_deref()).lookup(&r.registry)?),
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    store.remove_dead_debris();
    // Progress talk is for terminals; errors stay one line everywhere else.
    if !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        match a.all_tags {
            true => eprintln!("Pulling every tag of {}", reference.name()),
            false => eprintln!("Pulling {reference}"),
        }
    }
    for (route, credentials) in routes.iter().zip(credentials) {
        let opts = PullOptions {
            from_repository: Some(route.repository.clone()),
            platform: platform.clone(),
            quiet: a.quiet,
            extract: super::extract_options(ctx),
        };
        let pulled = (|| -> Result<Vec<String>> {
            let insecure = !a.tls_verify
                || route.insecure
                || is_loopback_host(&route.registry)
                || rless::config::registry_insecure(&route.registry)?;
            let client = RegistryClient::connect(
                &route.registry,
                &route.api_host(),
                &ClientOptions {
                    insecure,
                    credentials,
                    idle_timeout: rless::config::registry_idle_timeout()?,
                    cert_dir: a.cert_dir.clone(),
                },
            )?;
            if !a.all_tags {
                return Ok(vec![pull(&store, &client, &reference, &opts)?
                    .id
                    .hex()
                    .to_string()]);
            }
            let tags = client.tags(&route.repository)?;
            if tags.is_empty() {
                bail!("{} has no tags to pull", reference.name());
            }
            let mut ids = Vec::new();
            for tag in tags {
                let one = Reference {
                    tag: Some(tag),
                    digest: None,
                    ..reference.clone()
                };
                ids.push(pull(&store, &client, &one, &opts)?.id.hex().to_string());
            }
            Ok(ids)
        })();
        match pulled {
            Ok(ids) => {
                ids.iter().for_each(|id| println!("{id}"));
                return Ok(ExitCode::SUCCESS);
            }
            // A mirror that fails gives way to the next place.
            Err(e) if route.mirror => tracing::info!(
                "mirror {}/{} failed ({}); trying the next",
                route.registry,
                route.repository,
                super::error_line(&e)
            ),
            Err(e) => return Err(e),
        }
    }
    unreachable!("the last route is the registry itself, not a mirror")
}
