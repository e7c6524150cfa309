//! `rless container|image|volume|network exists NAME`, as podman's: exit 0
//! when the object is there, 1 when it is not (nothing printed), 125 when
//! the store cannot be read. A manifest list is an image (podman's).

use super::Ctx;
use anyhow::Result;
use rless::image::store::LockMode;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The name (or id) to look for.
    name: String,
}

/// What `exists` looks for.
#[derive(Clone, Copy)]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
}

pub fn run(ctx: &Ctx, kind: Kind, a: Args) -> Result<ExitCode> {
    let store = ctx.store(LockMode::Shared)?;
    let found = match kind {
        Kind::Container => match rless::container::find(&store, &a.name) {
            Ok(_) => true,
            Err(rless::container::ContainerError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        },
        Kind::Image => match rless::image::find_image(&store.index()?, &a.name) {
            Ok(_) => true,
            // podman's: a manifest list is an image here too.
            Err(rless::image::LookupError::NotFound(_)) => {
                rless::image::lists::read(&store)?.find(&a.name).is_some()
            }
            Err(e) => return Err(e.into()),
        },
        Kind::Volume => match rless::container::volume::read(store.root(), &a.name) {
            Ok(_) => true,
            Err(rless::container::volume::VolumeError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        },
        Kind::Network => rless::network::read(store.root(), &a.name).is_ok(),
    };
    Ok(if found {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
