//! `rless login [-u U] [-p P | --password-stdin] REGISTRY`, `rless login
//! --get-login REGISTRY` (the user name stored), and `rless logout
//! (-a | REGISTRY)`.

use anyhow::{bail, Context, Result};
use rless::image::auth::{AuthFiles, Credentials};
use rless::image::reference::{is_loopback_host, DOCKER_HUB};
use rless::image::registry::{ClientOptions, RegistryClient};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LoginArgs {
    #[arg(short, long)]
    username: Option<String>,
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Verify TLS (`--tls-verify=false`: skip it, and allow plain HTTP).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// The registry's CA certificates (*.crt) and client certificate
    /// (NAME.cert, NAME.key), in place of the certs.d directories.
    #[arg(long = "cert-dir", value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Print the user name stored for the registry (podman's), and log
    /// in to nothing.
    #[arg(long, conflicts_with_all = ["username", "password", "password_stdin"])]
    get_login: bool,
    /// Print which auth file the credentials went to (podman's).
    #[arg(short, long)]
    verbose: bool,
    /// Registry host[:port] (default docker.io).
    registry: Option<String>,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Remove the credentials of every registry from rless's auth file
    /// (podman's).
    #[arg(short, long, conflicts_with = "registry")]
    all: bool,
    registry: Option<String>,
}

/// `https://host/v1/` → `host`; `index.docker.io` → `docker.io`.
fn normalise(r: Option<&str>) -> String {
    let r = r.unwrap_or(DOCKER_HUB);
    let r = r
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = r.split('/').next().unwrap_or(r);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        h => h.to_string(),
    }
}

pub fn login(a: LoginArgs) -> Result<ExitCode> {
    let registry = normalise(a.registry.as_deref());
    if a.get_login {
        // podman's message when there is none.
        return match AuthFiles::locate(a.authfile.as_deref()).lookup(&registry)? {
            Some(c) => {
                println!("{}", c.user);
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("not logged into {registry}"),
        };
    }
    let stdin = std::io::stdin();
    let user = match a.username {
        Some(u) => u,
        None if stdin.is_terminal() && !a.password_stdin => prompt("Username: ", true)?,
        None => bail!("login needs --username"),
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut p = String::new();
            stdin
                .lock()
                .read_to_string(&mut p)
                .context("reading the password from stdin")?;
            p.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) if stdin.is_terminal() => prompt("Password: ", false)?,
        (None, false) => bail!("login needs --password or --password-stdin"),
    };
    let creds = Credentials { user, password };
    let api_host = if registry == DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry.as_str()
    };
    let insecure = !a.tls_verify
        || is_loopback_host(&registry)
        || rless::config::registry_insecure(&registry)?;
    let client = RegistryClient::connect(
        &registry,
        api_host,
        &ClientOptions {
            insecure,
            credentials: Some(creds.clone()),
            idle_timeout: rless::config::registry_idle_timeout()?,
            cert_dir: a.cert_dir.clone(),
        },
    )?;
    client.check_login()?;
    let files = AuthFiles::locate(a.authfile.as_deref());
    files.store(&registry, &creds)?;
    if let (true, Some(p)) = (a.verbose, &files.primary) {
        // podman's: which file holds the credentials now.
        println!("Used: {}", p.display());
    }
    println!("Login Succeeded!");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(a: LogoutArgs) -> Result<ExitCode> {
    if a.all {
        AuthFiles::locate(a.authfile.as_deref()).remove_all()?;
        println!("Removed login credentials for all registries");
        return Ok(ExitCode::SUCCESS);
    }
    let registry = normalise(a.registry.as_deref());
    AuthFiles::locate(a.authfile.as_deref()).remove(&registry)?;
    println!("Removed login credentials for {registry}");
    Ok(ExitCode::SUCCESS)
}

/// Reads one line from the terminal, without echo for passwords.
fn prompt(label: &str, echo: bool) -> Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{label}")?;
    err.flush()?;
    let stdin = std::io::stdin();
    let saved = if echo {
        None
    } else {
        rustix::termios::tcgetattr(&stdin).ok()
    };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    read.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
