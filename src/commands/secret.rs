//! `rless secret create|ls|inspect|rm|exists`, podman's secret store
//! (`rless::container::secret`). Every subcommand runs as the user: the
//! store's secrets are the user's own files, of mode 0600.

use super::format::{print_rows, Format, Formatter};
use super::Ctx;
use anyhow::{bail, Context, Result};
use rless::container::secret::{self, SecretError, SecretMeta};
use rless::image::time::{ago, format_rfc3339};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Cmd {
    /// Make a secret from a file, standard input (-) or, with --env, a variable.
    Create(CreateArgs),
    /// List secrets.
    #[command(alias = "list", name = "ls")]
    Ls(LsArgs),
    /// Show secrets' details as JSON.
    Inspect(InspectArgs),
    /// Remove secrets (containers made with them keep their copy).
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Exit 0 if the secret exists, 1 if not.
    Exists(ExistsArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// SOURCE is the name of an environment variable holding the data.
    #[arg(long)]
    env: bool,
    /// Set a label (KEY=VALUE).
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Give an existing secret of this name the new data.
    #[arg(long)]
    replace: bool,
    /// The secret driver: only file.
    #[arg(short, long, default_value = "file")]
    driver: String,
    name: String,
    /// A file, `-` for standard input, or with --env a variable's name.
    source: String,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Print only ids.
    #[arg(short, long)]
    quiet: bool,
    /// Leave out the header line.
    #[arg(short, long)]
    noheading: bool,
    /// table, json, or a Go template such as '{{.Name}}'.
    #[arg(long, default_value = "table")]
    format: String,
    /// Keep only secrets that match: name=PART, id=PREFIX, label=KEY[=VALUE] (repeatable).
    #[arg(short, long)]
    filter: Vec<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// Show the secret's data too (SecretData).
    #[arg(long)]
    showsecret: bool,
    /// json (the default) or a Go template run on each secret.
    #[arg(short, long, default_value = "")]
    format: String,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Remove every secret.
    #[arg(short, long)]
    all: bool,
    /// Ignore secrets that do not exist.
    #[arg(short, long)]
    ignore: bool,
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct ExistsArgs {
    name: String,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> Result<ExitCode> {
    // What a `kube play` that is gone changed is undone before anything
    // reads the store (the commands that change it take the lock, which
    // does the same).
    if matches!(cmd, Cmd::Ls(_) | Cmd::Inspect(_) | Cmd::Exists(_)) {
        rless::container::secret_journal::settle(&ctx.root)?;
    }
    match cmd {
        Cmd::Create(a) => create(ctx, a),
        Cmd::Ls(a) => ls(ctx, a),
        Cmd::Inspect(a) => inspect(ctx, a),
        Cmd::Rm(a) => rm(ctx, a),
        Cmd::Exists(a) => {
            let store = ctx.store(rless::image::store::LockMode::Shared)?;
            Ok(match secret::find(store.root(), &a.name) {
                Ok(_) => ExitCode::SUCCESS,
                Err(SecretError::NotFound(_)) => ExitCode::from(1),
                Err(e) => return Err(e.into()),
            })
        }
    }
}

/// At most [`secret::MAX_SIZE`] bytes of `r` (one more shows it is too big).
fn read_limited(r: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    r.take(secret::MAX_SIZE as u64)
        .read_to_end(&mut data)
        .with_context(|| format!("cannot read {what}"))?;
    Ok(data)
}

fn create(ctx: &Ctx, a: CreateArgs) -> Result<ExitCode> {
    if a.driver != "file" {
        bail!("unsupported secret driver {:?}: only file", a.driver);
    }
    if !secret::valid_name(&a.name) {
        return Err(SecretError::BadName(a.name).into());
    }
    let labels = super::filters::key_values("label", &a.label)?;
    let data = if a.env {
        match std::env::var_os(&a.source) {
            Some(v) => std::os::unix::ffi::OsStringExt::into_vec(v),
            None => bail!("environment variable {} is not set", a.source),
        }
    } else if a.source == "-" {
        read_limited(std::io::stdin().lock(), "standard input")?
    } else {
        let p = Path::new(&a.source);
        if p.is_dir() {
            bail!("cannot read secret data from {}: a directory", p.display());
        }
        let f = std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?;
        read_limited(f, &a.source)?
    };
    let store = ctx.store(rless::image::store::LockMode::Shared)?;
    let _lock = secret::lock(store.root())?;
    let meta = secret::create(store.root(), &a.name, &data, labels, a.replace)?;
    println!("{}", meta.id);
    Ok(ExitCode::SUCCESS)
}

/// podman's `secret inspect` object.
fn describe(root: &Path, s: &SecretMeta, data: Option<&[u8]>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ID": s.id,
        "CreatedAt": format_rfc3339(s.created),
        "UpdatedAt": format_rfc3339(s.updated),
        "Spec": {
            "Name": s.name,
            "Driver": {
                "Name": "file",
                "Options": {"path": secret::secrets_dir(root)},
            },
            "Labels": s.labels,
        },
    });
    if let Some(d) = data {
        v["SecretData"] = String::from_utf8_lossy(d).into_owned().into();
    }
    v
}

fn keeps(filters: &[(String, String)], s: &SecretMeta) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|&key| {
        let mut values = filters.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match key {
            "name" => values.any(|v| s.name.contains(v.as_str())),
            "id" => values.any(|v| s.id.starts_with(v.as_str())),
            _ => values.all(|v| match v.split_once('=') {
                Some((k, want)) => s.labels.get(k).is_some_and(|have| have == want),
                None => s.labels.contains_key(v.as_str()),
            }),
        }
    })
}

fn ls(ctx: &Ctx, a: LsArgs) -> Result<ExitCode> {
    let mut filters = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some((k @ ("name" | "id" | "label"), v)) => {
                filters.push((k.to_string(), v.to_string()))
            }
            _ => bail!("invalid secret filter {f:?}: use name=, id= or label="),
        }
    }
    let store = ctx.store(rless::image::store::LockMode::Shared)?;
    let mut all = secret::list(store.root());
    all.retain(|s| keeps(&filters, s));
    if a.quiet {
        for s in &all {
            println!("{}", s.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let default = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}";
    match Format::parse(&a.format, default) {
        Format::Json => {
            let out: Vec<_> = all
                .iter()
                .map(|s| describe(store.root(), s, None))
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Template { template, table } => {
            let rows: Vec<serde_json::Value> = all
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "ID": s.id, "Name": s.name, "Driver": "file",
                        "CreatedAt": ago(s.created), "UpdatedAt": ago(s.updated),
                        "Labels": super::format::labels_text(&s.labels),
                    })
                })
                .collect();
            let headers = [
                ("ID", "ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("CreatedAt", "CREATED"),
                ("UpdatedAt", "UPDATED"),
                ("Labels", "LABELS"),
            ];
            let headers: &[(&str, &str)] = if a.noheading { &[] } else { &headers };
            print_rows(template, table, headers, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<ExitCode> {
    let formatter = Formatter::for_inspect(&a.format)?;
    let store = ctx.store(rless::image::store::LockMode::Shared)?;
    // As podman: the secrets found are shown, each missing one reported.
    let mut out = Vec::new();
    let mut failed = super::stop::Failures::default();
    for n in &a.names {
        let found = secret::find(store.root(), n).and_then(|s| {
            let data = match a.showsecret {
                true => Some(secret::data(store.root(), &s)?),
                false => None,
            };
            Ok(describe(store.root(), &s, data.as_deref()))
        });
        match found {
            Ok(v) => out.push(v),
            Err(e) => failed.add(e.into()),
        }
    }
    if !out.is_empty() {
        super::container_inspect::print_objects(formatter.as_ref(), &out)?;
    }
    failed.finish(ExitCode::SUCCESS)
}

fn rm(ctx: &Ctx, a: RmArgs) -> Result<ExitCode> {
    match (a.all, a.names.is_empty()) {
        (true, false) => bail!("when using the --all switch, you may not pass any secret names"),
        (false, true) => bail!("rm requires at least 1 argument (or --all)"),
        _ => {}
    }
    let store = ctx.store(rless::image::store::LockMode::Shared)?;
    let _lock = secret::lock(store.root())?;
    let names: Vec<String> = match a.all {
        true => secret::list(store.root())
            .into_iter()
            .map(|s| s.id)
            .collect(),
        false => a.names,
    };
    let mut failed = super::stop::Failures::default();
    for n in &names {
        let r = match secret::find(store.root(), n) {
            Err(SecretError::NotFound(_)) if a.ignore => continue,
            Ok(s) => secret::remove(store.root(), &s).map(|()| s.id),
            Err(e) => Err(e),
        };
        match r {
            Ok(id) => println!("{id}"),
            Err(e) => failed.add(e.into()),
        }
    }
    failed.finish(ExitCode::SUCCESS)
}

/// A container's `--secret`, parsed: podman's
/// `NAME[,type=mount|env][,target=PATH|VAR][,uid=N][,gid=N][,mode=OCTAL]`
/// (`source=NAME` too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRequest {
    pub name: String,
    /// The environment variable (env type); else the file in the container.
    pub env: Option<String>,
    pub target: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl SecretRequest {
    pub fn parse(spec: &str) -> Result<SecretRequest> {
        let bad = |why: &str| anyhow::anyhow!("invalid --secret {spec:?}: {why}");
        let mut name = None;
        let (mut kind, mut target, mut uid, mut gid, mut mode) = (None, None, None, None, None);
        for (i, part) in spec.split(',').enumerate() {
            let num =
                |v: &str, radix| u32::from_str_radix(v, radix).map_err(|_| bad("not a number"));
            match part.split_once('=') {
                None if i == 0 => name = Some(part.to_string()),
                Some(("source", v)) => name = Some(v.to_string()),
                Some(("type", v @ ("mount" | "env"))) => kind = Some(v.to_string()),
                Some(("type", _)) => return Err(bad("type is mount or env")),
                Some(("target" | "dst" | "destination", v)) if !v.is_empty() => target = Some(v),
                Some(("uid", v)) => uid = Some(num(v, 10)?),
                Some(("gid", v)) => gid = Some(num(v, 10)?),
                Some(("mode", v)) => match num(v, 8)? {
                    m if m <= 0o7777 => mode = Some(m),
                    _ => return Err(bad("mode is at most 07777")),
                },
                _ => return Err(bad(&format!("unknown option {part:?}"))),
            }
        }
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("no secret name"))?;
        if kind.as_deref() == Some("env") {
            if uid.is_some() || gid.is_some() || mode.is_some() {
                return Err(bad("uid, gid and mode are for type=mount only"));
            }
            return Ok(SecretRequest {
                env: Some(target.unwrap_or(&name).to_string()),
                name,
                target: PathBuf::new(),
                uid: 0,
                gid: 0,
                mode: 0,
            });
        }
        let target = Path::new("/run/secrets").join(target.unwrap_or(&name));
        if target
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(bad("the target may not contain '..'"));
        }
        Ok(SecretRequest {
            name,
            env: None,
            target,
            uid: uid.unwrap_or(0),
            gid: gid.unwrap_or(0),
            mode: mode.unwrap_or(0o444),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_option() {
        let r = SecretRequest::parse("pw").unwrap();
        assert_eq!(r.target, Path::new("/run/secrets/pw"));
        assert_eq!((r.uid, r.gid, r.mode, r.env), (0, 0, 0o444, None));
        let r = SecretRequest::parse("pw,target=x/y,uid=1,gid=2,mode=0400").unwrap();
        assert_eq!(r.target, Path::new("/run/secrets/x/y"));
        assert_eq!((r.uid, r.gid, r.mode), (1, 2, 0o400));
        let r = SecretRequest::parse("source=pw,target=/etc/pw").unwrap();
        assert_eq!(
            (r.name.as_str(), r.target.as_path()),
            ("pw", Path::new("/etc/pw"))
        );
        let r = SecretRequest::parse("pw,type=env").unwrap();
        assert_eq!(r.env.as_deref(), Some("pw"));
        let r = SecretRequest::parse("pw,type=env,target=PASS").unwrap();
        assert_eq!(r.env.as_deref(), Some("PASS"));
        for bad in [
            "",
            "pw,type=file",
            "pw,type=env,uid=1",
            "pw,mode=9",
            "pw,uid=x",
            "pw,what=1",
            "pw,target=../../etc/x",
        ] {
            assert!(SecretRequest::parse(bad).is_err(), "{bad}");
        }
    }
}
