//! docker's credential helpers: `docker-credential-NAME get`, named in an
//! auth file's `credHelpers` (per registry) or `credsStore` (all).
//!
//! Theory of operation: the helper is a program on PATH. It reads the
//! server's address on stdin and prints `{"ServerURL": …, "Username": …,
//! "Secret": …}`; a registry it has nothing for makes it fail with
//! "credentials not found in native keychain" on stdout, which is "no
//! credentials here", not an error. Docker Hub is asked for by its legacy
//! URL `https://index.docker.io/v1/`, as docker asks. A `Username` of
//! `<token>` is an identity (OAuth refresh) token, which rless cannot use:
//! that is an error naming the helper, never a silent anonymous pull.
//! `login` and `logout` keep writing the auth file.

use super::auth::Credentials;
use std::io::{Seek, Write};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("credential helper docker-credential-{helper} is not installed (named for {registry} in {file})")]
    NotInstalled {
        helper: String,
        registry: String,
        file: String,
    },
    #[error("credential helper docker-credential-{helper} failed for {registry}: {message}")]
    Failed {
        helper: String,
        registry: String,
        message: String,
    },
    #[error("credential helper docker-credential-{helper} gave {registry} an identity token, which rless cannot use; log in with a user name and password (rless login)")]
    IdentityToken { helper: String, registry: String },
}

/// What a helper's `get` prints.
#[derive(serde::Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The text a helper prints for a registry it has no credentials for.
const NOT_FOUND: &str = "credentials not found in native keychain";

/// The address a helper is asked about for `registry`.
pub fn server_url(registry: &str) -> &str {
    if registry == super::reference::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    }
}

/// Asks helper `name` for `registry`'s credentials; `file` is the auth
/// file that names it (for messages). `None`: the helper has none.
pub fn get(name: &str, registry: &str, file: &str) -> Result<Option<Credentials>, HelperError> {
    let program = format!("docker-credential-{name}");
    let failed = |message: String| HelperError::Failed {
        helper: name.to_string(),
        registry: registry.to_string(),
        message,
    };
    // The address goes in a memory file, not a pipe: a helper that exits
    // without reading it must not kill this process with SIGPIPE.
    let input =
        rustix::fs::memfd_create("rless-credential-server", rustix::fs::MemfdFlags::CLOEXEC)
            .map(std::fs::File::from)
            .map_err(std::io::Error::from)
            .and_then(|mut f| {
                f.write_all(server_url(registry).as_bytes())?;
                f.seek(std::io::SeekFrom::Start(0))?;
                Ok(f)
            })
            .map_err(|e| failed(format!("cannot pass it the server: {e}")))?;
    let child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(HelperError::NotInstalled {
                helper: name.to_string(),
                registry: registry.to_string(),
                file: file.to_string(),
            })
        }
        Err(e) => return Err(failed(e.to_string())),
    };
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains(NOT_FOUND) {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let said = [stdout.trim(), stderr.trim()]
            .into_iter()
            .find(|s| !s.is_empty())
            .and_then(|s| s.lines().next())
            .map_or_else(|| out.status.to_string(), str::to_string);
        return Err(failed(crate::message::printable(&said)));
    }
    let answer: Answer = serde_json::from_slice(&out.stdout)
        .map_err(|e| failed(format!("its answer is not the helper protocol's JSON: {e}")))?;
    if answer.username == "<token>" {
        return Err(HelperError::IdentityToken {
            helper: name.to_string(),
            registry: registry.to_string(),
        });
    }
    if answer.username.is_empty() && answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        user: answer.username,
        password: answer.secret,
    }))
}
