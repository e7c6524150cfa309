//! `rless pull [-q] [-a] [--platform P] [--tls-verify=false] [--creds U:P] REF`
//!
//! `-a` pulls every tag of the repository, as the registry lists them
//! (`/v2/NAME/tags/list`), in that order, printing each image's id.
//!
//! A short name (`alpine`) is resolved first (`image::shortnames`, by
//! podman's registries.conf): one name (an alias, a single search
//! registry, or Docker Hub when nothing is configured), or several search
//! registries tried in order until one has the image; their errors are
//! reported together when none does. As podman, a short name that already
//! names a stored image is pulled under that image's name.
//!
//! Then registries.conf decides where from (`image::registries_conf`): a
//! name's mirrors are tried first, in order, a failing one giving way to
//! the next; then the registry, at its configured location. A blocked
//! registry is refused before anything is fetched. `--creds` go to the
//! name's own registry only: a mirror or a location on another host gets
//! the credentials the auth files hold for it, as podman does.

use super::registry_opts::RegistryOpts;
use super::Ctx;
use anyhow::{bail, Result};
use rless::image::auth::Credentials;
use rless::image::platform::Platform;
use rless::image::pull::{pull, PullOptions};
use rless::image::reference::Reference;
use rless::image::registries_conf::{RegistriesConf, Route};
use rless::image::registry::RegistryClient;
use rless::image::shortnames::{self, How};
use rless::image::store::{LockMode, Store};
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
    #[command(flatten)]
    registry: RegistryOpts,
    /// Every tag of the repository (REF without a tag or digest).
    #[arg(short, long)]
    all_tags: bool,
    /// The image: name[:tag], name@sha256:…, host[:port]/path/name[:tag].
    reference: String,
}

pub fn run(ctx: &Ctx, a: Args) -> Result<ExitCode> {
    // Validate before entering the namespace: bad input costs no exec.
    a.reference.parse::<Reference>()?;
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
    let conf = RegistriesConf::load()?;
    let resolved = resolve(ctx, &conf, &a.reference, a.all_tags)?;
    // Where from, for each name: the site's mirrors first.
    let creds = a.registry.parsed_creds()?;
    let auth = a.registry.auth_files();
    let mut plans = Vec::new();
    for candidate in &resolved.candidates {
        let planned = (|| -> Result<Vec<(Route, Option<Credentials>)>> {
            conf.routes(candidate)?
                .into_iter()
                .map(|route| {
                    // --creds are for the name's registry (podman's rule).
                    let c = match &creds {
                        Some(c) if route.registry == candidate.registry => Some(c.clone()),
                        _ => auth.lookup(&route.registry)?,
                    };
                    Ok((route, c))
                })
                .collect()
        })();
        plans.push((candidate.clone(), planned));
    }
    // Refused before anything is fetched: one name that cannot be pulled
    // (blocked), or none that can.
    if plans.iter().all(|(_, p)| p.is_err()) {
        let errors: Vec<_> = plans
            .into_iter()
            .map(|(c, p)| (c, p.expect_err("all failed")))
            .collect();
        return Err(combined(&a.reference, errors));
    }
    if let Some(code) = ctx.enter_userns()? {
        return Ok(code);
    }
    let store = ctx.store(LockMode::Shared)?;
    store.remove_dead_debris();
    // Progress talk is for terminals; errors stay one line everywhere else.
    let talk = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if talk {
        match &resolved.how {
            How::Alias(f) => eprintln!("Resolved {:?} as an alias ({})", a.reference, f.display()),
            How::Search(f) => eprintln!(
                "Resolving {:?} using unqualified-search registries ({})",
                a.reference,
                f.display()
            ),
            How::Qualified | How::DockerHub => {}
        }
    }
    let mut errors = Vec::new();
    for (reference, planned) in plans {
        let routes = match planned {
            Ok(r) => r,
            Err(e) => {
                errors.push((reference, e));
                continue;
            }
        };
        if talk {
            match a.all_tags {
                true => eprintln!("Pulling every tag of {}", reference.name()),
                false => eprintln!("Pulling {reference}"),
            }
        }
        match pull_one(ctx, &a, &store, &reference, routes, platform.as_ref()) {
            Ok(ids) => {
                ids.iter().for_each(|id| println!("{id}"));
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => errors.push((reference, e)),
        }
    }
    Err(combined(&a.reference, errors))
}

/// The names to pull `input` as: the stored image's name when a short
/// name already names one (as podman), else as registries.conf resolves it.
fn resolve(
    ctx: &Ctx,
    conf: &RegistriesConf,
    input: &str,
    all_tags: bool,
) -> Result<shortnames::Resolved> {
    // A store that has no index yet is not made by looking.
    if shortnames::is_short(input) && !all_tags && Store::has_index(&ctx.root) {
        let store = ctx.store(LockMode::Shared)?;
        let index = store.index()?;
        // By name only: a short name made of hex digits is not an id here.
        if let Some(stored) = rless::image::stored_short_name(&index, input, conf) {
            tracing::debug!("{input} names the stored image {stored}");
            return Ok(shortnames::Resolved {
                candidates: vec![stored],
                how: How::Qualified,
            });
        }
    }
    Ok(conf.resolve(input, shortnames::on_terminal())?)
}

/// One error for the names that all failed: the error itself for one
/// name (as before short names were resolved), else each name's, in
/// order, on one line (podman lists them one a line).
fn combined(input: &str, mut errors: Vec<(Reference, anyhow::Error)>) -> anyhow::Error {
    if errors.len() == 1 {
        return errors.pop().expect("one").1;
    }
    let all: Vec<String> = errors
        .iter()
        .map(|(r, e)| {
            let line = super::error_line(e);
            match line.contains(&r.name()) {
                true => line,
                false => format!("{r}: {line}"),
            }
        })
        .collect();
    anyhow::anyhow!(
        "{} errors occurred while pulling {input}: {}",
        errors.len(),
        all.join("; ")
    )
}

/// Pulls `reference` from its routes, in order: the ids pulled.
fn pull_one(
    ctx: &Ctx,
    a: &Args,
    store: &Store,
    reference: &Reference,
    routes: Vec<(Route, Option<Credentials>)>,
    platform: Option<&Platform>,
) -> Result<Vec<String>> {
    let last = routes.len() - 1;
    for (n, (route, credentials)) in routes.into_iter().enumerate() {
        let opts = PullOptions {
            from_repository: Some(route.repository.clone()),
            platform: platform.cloned(),
            quiet: a.quiet,
            extract: super::extract_options(ctx),
        };
        let pulled = (|| -> Result<Vec<String>> {
            let options =
                a.registry
                    .client_options(&route.registry, credentials, route.insecure)?;
            let client = RegistryClient::connect(&route.registry, &route.api_host(), &options)?;
            if !a.all_tags {
                return Ok(vec![pull(store, &client, reference, &opts)?
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
                ids.push(pull(store, &client, &one, &opts)?.id.hex().to_string());
            }
            Ok(ids)
        })();
        match pulled {
            Ok(ids) => return Ok(ids),
            // A mirror that fails gives way to the next place.
            Err(e) if route.mirror && n < last => tracing::info!(
                "mirror {}/{} failed ({}); trying the next",
                route.registry,
                route.repository,
                super::error_line(&e)
            ),
            Err(e) => return Err(e),
        }
    }
    unreachable!("routes are never empty")
}
