//! The options of the commands that talk to a registry themselves (pull,
//! push, search): `--tls-verify`, `--creds`, `--authfile`, `--cert-dir`.
//!
//! Theory of operation: each command flattens [`RegistryOpts`] into its
//! arguments, so the four options are declared and documented once.
//! [`RegistryOpts::credentials`] is what goes to one registry (`--creds`,
//! else the auth files' entry; pull, which sends `--creds` to the name's
//! own registry only, uses the parts); [`RegistryOpts::client_options`]
//! turns TLS checks off where podman does (`--tls-verify=false`, a route
//! registries.conf marks insecure, a loopback host, rless's config), the
//! conditions tried in that order. [`RegistryOpts::connect_for`] puts the
//! two together for the commands that talk to the registry a name gives
//! (push, manifest push, manifest inspect), with no registries.conf route.

use anyhow::{Context, Result};
use rless::image::auth::{AuthFiles, Credentials};
use rless::image::reference::{is_loopback_host, Reference};
use rless::image::registry::{ClientOptions, RegistryClient};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RegistryOpts {
    /// Verify the registry's TLS certificate (false also allows plain HTTP).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Credentials, USER:PASSWORD.
    #[arg(long)]
    pub creds: Option<String>,
    /// Credentials file (default: $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// The registry's CA certificates (*.crt) and client certificate
    /// (NAME.cert, NAME.key), in place of the certs.d directories.
    #[arg(long = "cert-dir", value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

impl RegistryOpts {
    /// The options as a command line for a child `rless` (`manifest add`
    /// pulls with `rless pull`).
    pub fn as_args(&self) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> =
            vec![format!("--tls-verify={}", self.tls_verify).into()];
        if let Some(c) = &self.creds {
            v.extend(["--creds".into(), c.into()]);
        }
        if let Some(f) = &self.authfile {
            v.extend(["--authfile".into(), f.into()]);
        }
        if let Some(d) = &self.cert_dir {
            v.extend(["--cert-dir".into(), d.into()]);
        }
        v
    }

    /// `--creds`, parsed.
    pub fn parsed_creds(&self) -> Result<Option<Credentials>> {
        self.creds
            .as_deref()
            .map(|c| Credentials::parse(c).context("--creds must be USER:PASSWORD"))
            .transpose()
    }

    /// The auth files `--authfile` names (or the default ones).
    pub fn auth_files(&self) -> AuthFiles {
        AuthFiles::locate(self.authfile.as_deref())
    }

    /// The credentials for `registry`: `--creds`, else the auth files'.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        match self.parsed_creds()? {
            Some(c) => Ok(Some(c)),
            None => Ok(self.auth_files().lookup(registry)?),
        }
    }

    /// The client's options for `registry`; `conf_insecure` is what
    /// registries.conf says of the route.
    pub fn client_options(
        &self,
        registry: &str,
        credentials: Option<Credentials>,
        conf_insecure: bool,
    ) -> Result<ClientOptions> {
        let insecure = !self.tls_verify
            || conf_insecure
            || is_loopback_host(registry)
            || rless::config::registry_insecure(registry)?;
        Ok(ClientOptions {
            insecure,
            credentials,
            idle_timeout: rless::config::registry_idle_timeout()?,
            cert_dir: self.cert_dir.clone(),
        })
    }

    /// A connection to `dest`'s registry with these options (its
    /// credentials; no registries.conf route: a push goes where it is told).
    pub fn connect_for(&self, dest: &Reference) -> Result<RegistryClient> {
        let credentials = self.credentials(&dest.registry)?;
        let options = self.client_options(&dest.registry, credentials, false)?;
        Ok(RegistryClient::connect(
            &dest.registry,
            dest.api_host(),
            &options,
        )?)
    }
}
